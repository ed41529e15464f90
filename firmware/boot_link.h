/* The update protocol's link layer on USART1 (lib/proto/update_frame.h): frames in and out, and
 * the answer to the last frame kept so a station that lost it can have it again. A frame that
 * repeats the last one answered (same type, length and CRC: the station timed out and sent it
 * again) gets the same answer and changes nothing; the session never sees it. */
#ifndef FIRMWARE_BOOT_LINK_H
#define FIRMWARE_BOOT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "proto/update_frame.h"

void link_init(void);
/* Waits (sleeping between bytes) until a segment ends on the line. PV_UPD_FRAME: a new frame,
 * its body writable at *body (valid until the next call); a repeat is answered here and not
 * returned. Negative: a dropped segment (PV_UPD_ERR_*). */
int link_recv(pv_upd_frame *f, uint8_t **body);
/* Sends a frame as the answer to the frame link_recv returned last (kept for repeats). */
void link_answer(uint8_t type, const uint8_t *body, size_t len);
/* Sends a frame that answers nothing in particular (NAK). */
void link_send(uint8_t type, const uint8_t *body, size_t len);
/* Forgets the kept answer (a new session starts). */
void link_forget(void);

#endif
