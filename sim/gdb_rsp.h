/* GDB remote serial protocol server for the virtual chip (STM32F4-FACTS §7): register numbers,
 * target description and memory map as OpenOCD 0.12.0 presents a Cortex-M4F STM32F427, flash
 * programming with vFlash*, hardware breakpoints, monitor commands. One client at a time. */
#ifndef SIM_GDB_RSP_H
#define SIM_GDB_RSP_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chip.h"
#include "tcp_server.h"

#define GDB_PACKET_SIZE 0x4000 /* what qSupported advertises (PacketSize, hex) */
#define GDB_MAX_BKPTS   64
#define GDB_INBUF_LIMIT (4 * GDB_PACKET_SIZE)

struct gdb_server {
    chip_t *chip;
    struct tcp_server srv;
    uint8_t *in; /* raw bytes received and not yet parsed */
    size_t in_len;
    uint8_t *pkt;  /* scratch for one decoded packet */
    uint8_t *last; /* last packet sent, for a '-' retransmission */
    size_t last_len;
    bool noack;       /* QStartNoAckMode accepted */
    bool running;     /* the client waits for a stop reply */
    bool interrupted; /* \x03 received while running */
    bool flash_dirty; /* vFlashErase/Write since the last vFlashDone */
    bool dead_logged; /* said once that RDP Level 2 disabled the debug port */
    uint32_t bkpts[GDB_MAX_BKPTS];
    unsigned n_bkpts;
};

/* Without a socket (what the unit tests drive): replies accumulate in g->srv.out. */
int gdb_init(struct gdb_server *g, chip_t *chip);
void gdb_free(struct gdb_server *g);
/* The client connected / went away. Attaching halts the core, as OpenOCD's gdb-attach event does;
 * it returns false (the client is to be dropped) when RDP Level 2 has disabled the debug port. */
bool gdb_attach(struct gdb_server *g);
void gdb_detach(struct gdb_server *g);
/* Feeds raw bytes from the client; replies are appended to g->srv.out. Returns false when the
 * connection is to be closed: the client sent k, or the debug port died (RDP Level 2). */
bool gdb_input(struct gdb_server *g, const uint8_t *data, size_t len);
/* After each CPU slice: sends the stop reply when a running core has halted. run is the result of
 * the last chip_run (a lockup is reported as SIGSEGV after halting the core). */
void gdb_check_stop(struct gdb_server *g, enum chip_run_result run);

/* Socket side. */
int gdb_open(struct gdb_server *g, chip_t *chip, const char *addr, uint16_t port, char *err,
             size_t err_len);
void gdb_close(struct gdb_server *g);
int gdb_pollfds(const struct gdb_server *g, struct pollfd *fds);
bool gdb_handle(struct gdb_server *g, const struct pollfd *fds, int nfds);
/* Sends queued replies (call after gdb_check_stop). */
void gdb_flush(struct gdb_server *g);

/* Protocol helpers, exposed for tests. */
uint8_t rsp_checksum(const uint8_t *data, size_t len);
/* Escapes '#', '$', '}' and '*' as '}' byte^0x20; out needs room for 2 * len. */
size_t rsp_escape(const uint8_t *in, size_t len, uint8_t *out);
/* Undoes rsp_escape in place; returns the new length. */
size_t rsp_unescape(uint8_t *buf, size_t len);

#endif
