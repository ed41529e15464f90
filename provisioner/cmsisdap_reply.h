/* What a CMSIS-DAP probe answers the station, parsed without any I/O (cmsisdap_packets.c moves the
 * packets; tests/fuzz/fuzz_cmsisdap_reply.c fuzzes this): the command echo, DAP_Info values, the
 * status byte of a plain command, and DAP_Transfer / DAP_TransferBlock responses (count, ack,
 * data length) with what a failed transfer's ack means. */
#ifndef PV_PROVISIONER_CMSISDAP_REPLY_H
#define PV_PROVISIONER_CMSISDAP_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* CMSIS-DAP command IDs. */
enum {
    DAP_ID_INFO = 0x00,
    DAP_ID_CONNECT = 0x02,
    DAP_ID_DISCONNECT = 0x03,
    DAP_ID_TRANSFER_CONFIGURE = 0x04,
    DAP_ID_TRANSFER = 0x05,
    DAP_ID_TRANSFER_BLOCK = 0x06,
    DAP_ID_RESET_TARGET = 0x0A,
    DAP_ID_SWJ_CLOCK = 0x11,
    DAP_ID_SWJ_SEQUENCE = 0x12,
    DAP_ID_SWD_CONFIGURE = 0x13,
    DAP_ID_UNKNOWN = 0xFF, /* the answer to a command the probe does not know */
};

/* A transfer response's ack byte: the SWD ACK in bits 2:0, and two error flags. */
#define DAP_ACK_OK      1u
#define DAP_ACK_WAIT    2u
#define DAP_ACK_FAULT   4u
#define DAP_ACK_NONE    7u
#define DAP_RESP_PROTO  0x08u /* SWD parity error */
#define DAP_RESP_NOMATC 0x10u /* value mismatch */

/* The transfer request a response answers. */
struct dap_xfer_expect {
    uint8_t cmd;     /* DAP_ID_TRANSFER or DAP_ID_TRANSFER_BLOCK */
    unsigned count;  /* transfers asked: DAP_Transfer's requests, DAP_TransferBlock's words */
    size_t resp_len; /* the response's length when all of them are done */
};

struct dap_xfer_result {
    int code;            /* PV_PROBE_OK, or the pv_probe_err of the failure */
    uint8_t ack;         /* the ack byte, when the probe reported one */
    unsigned at;         /* DAP_Transfer: the request the failure belongs to (0 otherwise) */
    unsigned word;       /* DAP_TransferBlock: the words done before the failure (0 otherwise) */
    const char *why;     /* the failure in words; NULL: dap_ack_text(ack) says it */
    const uint8_t *data; /* PV_PROBE_OK: the read data, data_len bytes inside the response */
    size_t data_len;
};

/* Checks the response r[0..n) to the transfer request x. */
void dap_parse_transfer(const struct dap_xfer_expect *x, const uint8_t *r, size_t n,
                        struct dap_xfer_result *res);

/* 0 when r[0..n) answers command id (its first byte echoes it), -1 otherwise. */
int dap_parse_echo(uint8_t id, const uint8_t *r, size_t n);
/* A DAP_Info response [0x00, len, value...]: *val and *len (0 when the probe has no such info).
 * Returns 0, or -1 when len runs past the response. */
int dap_parse_info(const uint8_t *r, size_t n, const uint8_t **val, size_t *len);
/* The status byte of [id, status]: 0 when it is `want`, -1 otherwise (or missing). */
int dap_parse_status(const uint8_t *r, size_t n, uint8_t want);

/* What a failed transfer's ack means, in words and as a pv_probe_err. */
const char *dap_ack_text(uint8_t ack);
int dap_ack_code(uint8_t ack);

#endif
