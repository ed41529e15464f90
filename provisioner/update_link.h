/* The station's end of a device's USART1 for firmware updates (docs/update-protocol.md, "Link
 * layer"): a serial port (termios: 115200 8N1, raw, no flow control) or a TCP socket (the sim's
 * USART1, `--usart-port`), frames through lib/proto/update_frame.h. Text between frames (the boot
 * console) is handed to a callback line by line. Carries only what the device and the bridge
 * exchange; holds no key. */
#ifndef PV_PROVISIONER_UPDATE_LINK_H
#define PV_PROVISIONER_UPDATE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "proto/update_frame.h"

typedef struct pv_upd_link pv_upd_link;

/* spec: "tcp:HOST:PORT" or a serial device path. NULL with err. */
pv_upd_link *pv_upd_link_open(const char *spec, char *err, size_t err_len);
void pv_upd_link_close(pv_upd_link *l);

/* The console's lines (without CR LF) as they arrive: fn(ctx, line). NULL: dropped. */
void pv_upd_link_on_console(pv_upd_link *l, void (*fn)(void *ctx, const char *line), void *ctx);

/* Writes raw bytes (the PVUPDATE break sequence). 0 or -1 (the link is gone). */
int pv_upd_link_write(pv_upd_link *l, const void *p, size_t n);
/* Encodes and writes one frame. 0 or -1. */
int pv_upd_link_send(pv_upd_link *l, uint8_t type, const uint8_t *body, size_t len);
/* Waits up to timeout_ms for the next frame: 1 with *f (body valid until the next call), 0 on
 * the timeout, -1 when the link is closed or fails (err says why). */
int pv_upd_link_recv(pv_upd_link *l, pv_upd_frame *f, int timeout_ms, char *err, size_t err_len);

/* Bytes written and read so far (frames, delimiters and console text). */
uint64_t pv_upd_link_bytes_out(const pv_upd_link *l);
uint64_t pv_upd_link_bytes_in(const pv_upd_link *l);

#endif
