/* What a GDB remote-serial-protocol server sends the station, parsed without any I/O
 * (probe_gdb.c does the socket; tests/fuzz/fuzz_gdb_reply.c fuzzes this): packet framing
 * ($...#cs), checksum, '}' escapes and '*' run-length encoding, the kinds of packet (stop reply,
 * console output), hex payloads (memory, registers, monitor output) and the register numbers of
 * a target.xml. */
#ifndef PV_PROVISIONER_GDB_REPLY_H
#define PV_PROVISIONER_GDB_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe.h"

#define PV_RSP_PKT_MAX (256 * 1024) /* largest decoded packet accepted from a server */

/* pv_rsp_take_packet's outcomes besides 1 (a packet) and 0 (more bytes needed). */
enum pv_rsp_err {
    PV_RSP_ERR_NAK = -1,      /* '-': the server asks for a retransmission (ack mode only) */
    PV_RSP_ERR_CHECKSUM = -2, /* the checksum is not two hex digits, or wrong */
    PV_RSP_ERR_RLE = -3,      /* a run-length count below zero or past the size limit */
    PV_RSP_ERR_TOO_LONG = -4, /* decoded, the packet is PV_RSP_PKT_MAX bytes or longer */
};

/* Takes the first complete packet from in[0..in_len): decoded into pkt (room for PV_RSP_PKT_MAX + 1
 * bytes; NUL-terminated, *pkt_len bytes) and returns 1, with *used the bytes it spanned (acks and
 * noise before it included). Returns 0 when no packet is complete yet, *used then being the bytes
 * before its '$' that can be dropped; or a pv_rsp_err (*used 0). In ack mode (noack false) a '-'
 * before the packet is an error; in no-ack mode it is noise like '+'. */
int pv_rsp_take_packet(const uint8_t *in, size_t in_len, bool noack, char *pkt, size_t *pkt_len,
                       size_t *used);

/* A hex digit's value, or -1. */
int pv_rsp_hexval(int c);
/* True when s[0..n) are all hex digits. */
bool pv_rsp_is_hex(const char *s, size_t n);

/* A stop reply: S/T/W/X and a two-digit signal (X only while the core runs: otherwise it is the
 * answer to something else). */
bool pv_rsp_is_stop_reply(const char *pkt, size_t len, bool running);
/* Console output: "O" and hex text (also an empty "O"), never "OK". */
bool pv_rsp_is_console(const char *pkt, size_t len);
/* The signal number of a stop reply (pv_rsp_is_stop_reply true). */
int pv_rsp_stop_signal(const char *pkt);

/* A memory read's answer: exactly 2 * n hex digits into out[0..n). Returns 0, or -1 (nothing
 * written past what was valid). */
int pv_rsp_decode_mem(const char *pkt, size_t len, uint8_t *out, size_t n);
/* A register's value from a p answer or at byte offset `at` of a g answer: up to 4 little-endian
 * bytes, at least one. Returns 0, or -1 when the first byte is not there or not hex (a byte that is
 * not hex ends the value). */
int pv_rsp_decode_reg(const char *pkt, size_t len, size_t at, uint32_t *val);
/* Hex text (monitor output) decoded into out (cap bytes, NUL-terminated when cap > 0), from *used
 * bytes already there; stops at the first pair that is not hex. Returns the new *used. */
size_t pv_rsp_decode_text(const char *hex, size_t len, char *out, size_t cap, size_t used);

/* Register numbers and sizes from a target.xml: <reg name=".." bitsize=".." regnum=".."/>,
 * numbered on from the previous one when regnum is absent. Only registers the station knows
 * (enum pv_probe_reg) are set; a bitsize outside 1-64 or a regnum outside 0-65535 leaves that
 * register as it was. */
void pv_rsp_target_xml_regs(const char *xml, int regnum[PV_REG_COUNT],
                            uint8_t regbytes[PV_REG_COUNT]);

#endif
