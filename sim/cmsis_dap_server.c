/* CMSIS-DAP v2 command set over TCP (see cmsis_dap_server.h). The transfer commands behave as a
 * probe's firmware does on a SW-DP: AP reads are posted on the wire, so a run of AP reads is
 * pipelined and finished with an RDBUFF read, and the host sees each read's own data; WAIT is
 * retried as DAP_TransferConfigure says; the first ACK other than OK ends the command, and the
 * response counts the transfers that completed. */
#include "cmsis_dap_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_log.h"

#define IN_CAP (64u * 1024u)

/* Command IDs (CMSIS-DAP v2). */
enum {
    ID_INFO = 0x00,
    ID_HOST_STATUS = 0x01,
    ID_CONNECT = 0x02,
    ID_DISCONNECT = 0x03,
    ID_TRANSFER_CONFIGURE = 0x04,
    ID_TRANSFER = 0x05,
    ID_TRANSFER_BLOCK = 0x06,
    ID_TRANSFER_ABORT = 0x07,
    ID_WRITE_ABORT = 0x08,
    ID_DELAY = 0x09,
    ID_RESET_TARGET = 0x0A,
    ID_SWJ_PINS = 0x10,
    ID_SWJ_CLOCK = 0x11,
    ID_SWJ_SEQUENCE = 0x12,
    ID_SWD_CONFIGURE = 0x13,
    ID_INVALID = 0xFF,
};

#define DAP_OK    0x00
#define DAP_ERROR 0xFF

/* Transfer request bits. */
#define REQ_APNDP       (1u << 0)
#define REQ_RNW         (1u << 1)
#define REQ_ADDR        0x0Cu
#define REQ_MATCH_VALUE (1u << 4)
#define REQ_MATCH_MASK  (1u << 5)
/* Transfer response bits besides the ACK. */
#define RESP_PROTOCOL_ERROR (1u << 3)
#define RESP_MISMATCH       (1u << 4)

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void daps_init(struct dap_server *d, chip_t *chip)
{
    *d = (struct dap_server){.chip = chip,
                             .srv = {.name = "dap", .listen_fd = -1, .client_fd = -1},
                             .wait_retry = 100,
                             .swj_clock = 1000000};
    dap_init(&d->dap, chip);
}

static void check_port(struct dap_server *d)
{
    bool dead = d->chip && !chip_debug_port_alive(d->chip);
    if (dead && !d->dead_logged)
        sim_warn("dap: debug port disabled by RDP Level 2: SWD transfers get no ACK; the chip "
                 "cannot be debugged any more");
    d->dead_logged = dead;
}

/* One SWD transaction with the WAIT retries the host configured. */
static enum swd_ack xfer(struct dap_server *d, bool ap, unsigned addr, bool rnw, uint32_t wdata,
                         uint32_t *rdata)
{
    enum swd_ack ack;
    unsigned tries = 0;
    do {
        ack = dap_swd_access(&d->dap, ap, addr, rnw, wdata, rdata);
    } while (ack == SWD_ACK_WAIT && tries++ < d->wait_retry);
    return ack;
}

/* A read whose value must match (value & match_mask) == want, retried match_retry times. */
static uint8_t match_read(struct dap_server *d, bool ap, unsigned addr, uint32_t want)
{
    unsigned tries = 0;
    for (;;) {
        uint32_t v = 0;
        enum swd_ack ack = xfer(d, ap, addr, true, 0, &v);
        if (ack == SWD_ACK_OK && ap)
            ack = xfer(d, false, DP_REG_RDBUFF, true, 0, &v);
        if (ack != SWD_ACK_OK)
            return (uint8_t)ack;
        if ((v & d->match_mask) == want)
            return SWD_ACK_OK;
        if (tries++ >= d->match_retry)
            return SWD_ACK_OK | RESP_MISMATCH;
    }
}

/* DAP_Transfer: [0x05, index, count, {request, [data]}*] -> [0x05, count, response, data*]. */
static size_t do_transfer(struct dap_server *d, const uint8_t *cmd, size_t len, uint8_t *resp)
{
    size_t out = 3;
    unsigned done = 0, count = len >= 3 ? cmd[2] : 0;
    uint8_t ack = SWD_ACK_OK;
    bool posted = false; /* an AP read was issued whose data has not come back yet */
    const uint8_t *p = cmd + 3, *end = cmd + len;
    check_port(d);
    if (!d->connected || len < 3) {
        ack = len < 3 ? SWD_ACK_NONE | RESP_PROTOCOL_ERROR : SWD_ACK_NONE;
        count = 0;
    }
    for (unsigned i = 0; i < count; i++) {
        if (p >= end) {
            ack = SWD_ACK_NONE | RESP_PROTOCOL_ERROR;
            break;
        }
        uint8_t req = *p++;
        bool ap = req & REQ_APNDP, rnw = req & REQ_RNW;
        unsigned addr = req & REQ_ADDR;
        uint32_t v = 0;
        bool need_data = !rnw || (req & REQ_MATCH_VALUE);
        if (need_data && end - p < 4) {
            ack = SWD_ACK_NONE | RESP_PROTOCOL_ERROR;
            break;
        }
        uint32_t data = need_data ? get32(p) : 0;
        p += need_data ? 4 : 0;
        if (posted && !(rnw && ap && !(req & REQ_MATCH_VALUE))) {
            /* anything but another plain AP read: collect the posted read from RDBUFF first */
            ack = (uint8_t)xfer(d, false, DP_REG_RDBUFF, true, 0, &v);
            if (ack != SWD_ACK_OK)
                break;
            put32(resp + out, v);
            out += 4;
            done++;
            posted = false;
        }
        if (rnw && (req & REQ_MATCH_VALUE)) {
            ack = match_read(d, ap, addr, data);
            if (ack != SWD_ACK_OK)
                break;
            done++;
        } else if (rnw && ap) {
            ack = (uint8_t)xfer(d, true, addr, true, 0, &v);
            if (ack != SWD_ACK_OK)
                break;
            if (posted) { /* this read carried the previous one's data */
                put32(resp + out, v);
                out += 4;
                done++;
            }
            posted = true;
        } else if (rnw) {
            ack = (uint8_t)xfer(d, false, addr, true, 0, &v);
            if (ack != SWD_ACK_OK)
                break;
            put32(resp + out, v);
            out += 4;
            done++;
        } else if (req & REQ_MATCH_MASK) {
            d->match_mask = data;
            done++;
        } else {
            ack = (uint8_t)xfer(d, ap, addr, false, data, NULL);
            if (ack != SWD_ACK_OK)
                break;
            done++;
        }
    }
    if (posted && ack == SWD_ACK_OK) {
        uint32_t v = 0;
        ack = (uint8_t)xfer(d, false, DP_REG_RDBUFF, true, 0, &v);
        if (ack == SWD_ACK_OK) {
            put32(resp + out, v);
            out += 4;
            done++;
        }
    }
    resp[0] = ID_TRANSFER;
    resp[1] = (uint8_t)done;
    resp[2] = ack;
    return out;
}

/* DAP_TransferBlock: [0x06, index, count u16, request, data*] -> [0x06, count u16, response,
 * data*]. One register, many transfers: the fast path for DRW. */
static size_t do_transfer_block(struct dap_server *d, const uint8_t *cmd, size_t len, uint8_t *resp)
{
    size_t out = 4;
    unsigned done = 0, count = len >= 5 ? (unsigned)(cmd[2] | cmd[3] << 8) : 0;
    uint8_t ack = SWD_ACK_OK;
    uint8_t req = len >= 5 ? cmd[4] : 0;
    bool ap = req & REQ_APNDP, rnw = req & REQ_RNW;
    unsigned addr = req & REQ_ADDR;
    check_port(d);
    if (len < 5 || (req & (REQ_MATCH_VALUE | REQ_MATCH_MASK)) ||
        (rnw && count > (DAPS_PACKET_SIZE - 4) / 4) || (!rnw && len - 5 < 4u * count)) {
        ack = SWD_ACK_NONE | RESP_PROTOCOL_ERROR;
        count = 0;
    } else if (!d->connected) {
        ack = SWD_ACK_NONE;
        count = 0;
    }
    if (rnw && ap && count) {
        uint32_t v = 0;
        ack = (uint8_t)xfer(d, true, addr, true, 0, &v); /* posts the first read */
        for (unsigned i = 1; i < count && ack == SWD_ACK_OK; i++) {
            ack = (uint8_t)xfer(d, true, addr, true, 0, &v);
            if (ack == SWD_ACK_OK) {
                put32(resp + out, v);
                out += 4;
                done++;
            }
        }
        if (ack == SWD_ACK_OK) {
            ack = (uint8_t)xfer(d, false, DP_REG_RDBUFF, true, 0, &v);
            if (ack == SWD_ACK_OK) {
                put32(resp + out, v);
                out += 4;
                done++;
            }
        }
    } else {
        for (unsigned i = 0; i < count && ack == SWD_ACK_OK; i++) {
            uint32_t v = 0;
            ack = (uint8_t)xfer(d, ap, addr, rnw, rnw ? 0 : get32(cmd + 5 + 4 * i), &v);
            if (ack != SWD_ACK_OK)
                break;
            if (rnw) {
                put32(resp + out, v);
                out += 4;
            }
            done++;
        }
    }
    resp[0] = ID_TRANSFER_BLOCK;
    resp[1] = (uint8_t)done;
    resp[2] = (uint8_t)(done >> 8);
    resp[3] = ack;
    return out;
}

static size_t info_string(uint8_t *resp, const char *s)
{
    size_t n = strlen(s) + 1;
    resp[1] = (uint8_t)n;
    memcpy(resp + 2, s, n);
    return 2 + n;
}

static size_t do_info(struct dap_server *d, uint8_t id, uint8_t *resp)
{
    resp[0] = ID_INFO;
    resp[1] = 0;
    switch (id) {
    case 0x01:
        return info_string(resp, "pv-sim");
    case 0x02:
        return info_string(resp, "pv-sim CMSIS-DAP (virtual STM32F427)");
    case 0x03: { /* serial: the chip's UID, so several sims are told apart */
        char serial[32] = "sim";
        if (d->chip) {
            uint8_t uid[12];
            chip_uid(d->chip, uid);
            for (int i = 0; i < 12; i++)
                snprintf(serial + 2 * i, 3, "%02X", uid[i]);
        }
        return info_string(resp, serial);
    }
    case 0x04:
        return info_string(resp, "2.1.0");
    case 0x05:
        return info_string(resp, "STMicroelectronics");
    case 0x06:
        return info_string(resp, "STM32F427");
    case 0x09:
        return info_string(resp, "0.1.0");
    case 0xF0: /* capabilities: SWD only */
        resp[1] = 1;
        resp[2] = 0x01;
        return 3;
    case 0xFE:
        resp[1] = 1;
        resp[2] = DAPS_PACKET_COUNT;
        return 3;
    case 0xFF:
        resp[1] = 2;
        resp[2] = (uint8_t)DAPS_PACKET_SIZE;
        resp[3] = (uint8_t)(DAPS_PACKET_SIZE >> 8);
        return 4;
    default: /* not provided */
        return 2;
    }
}

static void set_srst(struct dap_server *d, bool asserted)
{
    if (d->chip && asserted != d->srst)
        chip_set_srst(d->chip, asserted);
    d->srst = asserted;
}

size_t daps_execute(struct dap_server *d, const uint8_t *cmd, size_t len, uint8_t *resp)
{
    if (len == 0) {
        resp[0] = ID_INVALID;
        return 1;
    }
    resp[0] = cmd[0];
    resp[1] = DAP_OK;
    switch (cmd[0]) {
    case ID_INFO:
        return len >= 2 ? do_info(d, cmd[1], resp) : (resp[1] = 0, 2);
    case ID_HOST_STATUS:
    case ID_DELAY: /* the sim has no wall-clock waits inside a command */
    case ID_SWD_CONFIGURE:
    case ID_TRANSFER_CONFIGURE:
        if (cmd[0] == ID_TRANSFER_CONFIGURE) {
            if (len < 6) {
                resp[1] = DAP_ERROR;
                return 2;
            }
            d->idle_cycles = cmd[1];
            d->wait_retry = (uint16_t)(cmd[2] | cmd[3] << 8);
            d->match_retry = (uint16_t)(cmd[4] | cmd[5] << 8);
        }
        return 2;
    case ID_CONNECT: {
        uint8_t port = len >= 2 ? cmd[1] : 0;
        /* Like a probe: configures its own pins only; the target is reached by the transfers. */
        d->connected = port == 0 || port == 1;
        resp[1] = d->connected ? 1 : 0;
        return 2;
    }
    case ID_DISCONNECT:
        d->connected = false;
        return 2;
    case ID_TRANSFER:
        return do_transfer(d, cmd, len, resp);
    case ID_TRANSFER_BLOCK:
        return do_transfer_block(d, cmd, len, resp);
    case ID_TRANSFER_ABORT:
        return 0; /* no response, by the specification */
    case ID_WRITE_ABORT:
        if (len < 6 || !d->connected ||
            xfer(d, false, DP_REG_ABORT_SWD, false, get32(cmd + 2), NULL) != SWD_ACK_OK)
            resp[1] = DAP_ERROR;
        return 2;
    case ID_RESET_TARGET: /* the board's reset: a pulse on nRESET */
        set_srst(d, true);
        set_srst(d, false);
        resp[2] = 1; /* executed */
        return 3;
    case ID_SWJ_PINS: {
        if (len < 7) {
            resp[0] = ID_INVALID;
            return 1;
        }
        if (cmd[2] & 0x80u) /* nRESET selected: bit 7 of the output is the (active-low) level */
            set_srst(d, !(cmd[1] & 0x80u));
        resp[1] = (uint8_t)(0x23u | (d->srst ? 0 : 0x80u)); /* SWCLK, SWDIO, nTRST high */
        return 2;
    }
    case ID_SWJ_CLOCK:
        if (len < 5 || get32(cmd + 1) == 0) {
            resp[1] = DAP_ERROR;
            return 2;
        }
        d->swj_clock = get32(cmd + 1);
        return 2;
    case ID_SWJ_SEQUENCE: {
        unsigned nbits = len >= 2 ? (cmd[1] ? cmd[1] : 256u) : 0;
        if (len < 2 || len - 2 < (nbits + 7) / 8) {
            resp[1] = DAP_ERROR;
            return 2;
        }
        dap_swj_sequence(&d->dap, cmd + 2, nbits);
        return 2;
    }
    default:
        resp[0] = ID_INVALID;
        return 1;
    }
}

/* ---- socket side ---- */

int daps_open(struct dap_server *d, chip_t *chip, const char *addr, uint16_t port, char *err,
              size_t err_len)
{
    daps_init(d, chip);
    d->in = malloc(IN_CAP);
    if (!d->in) {
        snprintf(err, err_len, "dap: out of memory");
        return -1;
    }
    if (tcp_server_open(&d->srv, "dap", addr, port, err, err_len) != 0) {
        free(d->in);
        d->in = NULL;
        return -1;
    }
    return 0;
}

void daps_close(struct dap_server *d)
{
    tcp_server_close(&d->srv);
    free(d->in);
    d->in = NULL;
}

int daps_pollfds(const struct dap_server *d, struct pollfd *fds)
{
    /* While responses are still queued, read nothing more: the host must take them first. */
    return tcp_server_pollfds(&d->srv, fds, d->srv.out.len == 0);
}

static void drop(struct dap_server *d, const char *why)
{
    sim_log("dap: client %s", why);
    tcp_server_drop_client(&d->srv);
    set_srst(d, false); /* a probe that went away drives nothing */
    d->in_len = 0;
    d->connected = false;
}

/* Executes every complete frame in the input; false if the stream is not this protocol. */
static bool process_frames(struct dap_server *d, size_t *nresp)
{
    uint8_t resp[DAPS_HEADER + DAPS_PACKET_SIZE];
    size_t pos = 0;
    bool ok = true;
    while (d->in_len - pos >= DAPS_HEADER) {
        const uint8_t *h = d->in + pos;
        size_t len = (size_t)(h[4] | h[5] << 8);
        if (memcmp(h, "PVDA", 4) != 0 || h[6] != 1 || len == 0 || len > DAPS_PACKET_SIZE) {
            sim_warn("dap: malformed frame (expected \"PVDA\", length 1-%u, type 1: see "
                     "docs/probes.md); closing the connection",
                     DAPS_PACKET_SIZE);
            ok = false;
            break;
        }
        if (d->in_len - pos < DAPS_HEADER + len)
            break;
        size_t n = daps_execute(d, h + DAPS_HEADER, len, resp + DAPS_HEADER);
        if (n) {
            memcpy(resp, "PVDA", 4);
            resp[4] = (uint8_t)n;
            resp[5] = (uint8_t)(n >> 8);
            resp[6] = 2;
            resp[7] = h[7];
            if (!outq_append(&d->srv.out, resp, DAPS_HEADER + n)) {
                ok = false;
                break;
            }
            (*nresp)++;
            if (d->chip)
                chip_counters(d->chip)->dbg_bytes_out += DAPS_HEADER + n;
        }
        pos += DAPS_HEADER + len;
    }
    memmove(d->in, d->in + pos, d->in_len - pos);
    d->in_len -= pos;
    return ok;
}

bool daps_handle(struct dap_server *d, const struct pollfd *fds, int nfds)
{
    bool busy = false;
    for (int i = 0; i < nfds; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == d->srv.listen_fd) {
            if (tcp_server_accept(&d->srv, false)) {
                d->in_len = 0;
                d->connected = false;
                check_port(d);
            }
            continue;
        }
        if (fds[i].fd != d->srv.client_fd)
            continue;
        if ((fds[i].revents & POLLOUT) && outq_flush(&d->srv.out, d->srv.client_fd) != 0) {
            drop(d, "gone");
            continue;
        }
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)) || d->srv.out.len)
            continue;
        ssize_t n = read(d->srv.client_fd, d->in + d->in_len, IN_CAP - d->in_len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            drop(d, "disconnected");
            continue;
        }
        busy = true;
        d->in_len += (size_t)n;
        size_t nresp = 0;
        bool ok = process_frames(d, &nresp);
        if (d->chip) {
            struct chip_counters *c = chip_counters(d->chip);
            c->dbg_bytes_in += (uint64_t)n;
            if (nresp)
                c->dbg_round_trips++;
        }
        if (!ok || outq_flush(&d->srv.out, d->srv.client_fd) != 0) {
            drop(d, ok ? "gone" : "sent a malformed frame");
            continue;
        }
    }
    return busy;
}
