/* What OpenOCD's Tcl RPC port sends the station, parsed without any I/O (probe_openocd.c does the
 * socket; tests/fuzz/fuzz_openocd_reply.c fuzzes this): replies ended by 0x1A, the station's
 * "code stage result" envelope around each, and the numbers and lists in a result (read_memory,
 * get_reg). */
#ifndef PV_PROVISIONER_OPENOCD_REPLY_H
#define PV_PROVISIONER_OPENOCD_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define PV_OCD_EOM       0x1a               /* ends every message, both ways */
#define PV_OCD_REPLY_MAX (64 * 1024 * 1024) /* largest reply accepted */
#define PV_OCD_RX_CHUNK  65536u             /* room pv_ocd_rx_room makes at least */

/* Received bytes and the last reply taken from them. */
struct pv_ocd_rx {
    char *in;
    size_t in_len, in_cap;
    char *reply; /* the last reply, NUL-terminated */
    size_t reply_cap;
};

/* Makes room for at least PV_OCD_RX_CHUNK more bytes: *at and *room say where to receive them.
 * Returns 0, -1 out of memory, or -2 when the buffer already holds PV_OCD_REPLY_MAX bytes without
 * a complete reply. */
int pv_ocd_rx_room(struct pv_ocd_rx *rx, char **at, size_t *room);
/* n bytes were received at what pv_ocd_rx_room gave. */
void pv_ocd_rx_commit(struct pv_ocd_rx *rx, size_t n);
/* Moves the first complete reply into rx->reply (its 0x1A dropped). Returns 1 when there was one,
 * 0 when not, -1 out of memory. */
int pv_ocd_rx_take(struct pv_ocd_rx *rx);
void pv_ocd_rx_free(struct pv_ocd_rx *rx);

/* Splits a reply "code stage result" (decimal code and stage, one space each; result may be empty
 * and the space before it absent). *result points into reply. Returns 0, or -1 when the reply has
 * another shape. */
int pv_ocd_parse_status(char *reply, int *code, int *stage, char **result);

/* Reads up to count numbers (C syntax: 0x.., decimal, octal) from *s, each stored as width/8
 * little-endian bytes at out; *s moves past them. Returns how many there were (< count: the list
 * ended early). */
uint32_t pv_ocd_parse_words(const char **s, unsigned width, uint32_t count, uint8_t *out);

/* get_reg's answer "name 0xVALUE" (a one-entry dict). Returns 0, or -1 when there is no value. */
int pv_ocd_parse_reg(const char *result, uint32_t *val);

#endif
