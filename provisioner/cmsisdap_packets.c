/* The CMSIS-DAP backend's packets (cmsisdap.h): DP/AP accesses queued into DAP_Transfer packets
 * (many requests each) and memory blocks into DAP_TransferBlock packets, each filled up to the
 * probe's packet size (DAP_Info); up to the probe's packet count of them are in flight before the
 * first response is awaited. Writes are posted: their responses are checked when the station next
 * needs an answer. After the first failure in flight, nothing more is sent until it has been
 * reported, and the DP's sticky flags are cleared (cmsisdap_adiv5.c) before the next operation. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmsisdap.h"

static const char *const reg_names[PV_REG_COUNT] = {
    "r0",  "r1",  "r2", "r3", "r4", "r5",   "r6",  "r7",  "r8",      "r9",     "r10",
    "r11", "r12", "sp", "lr", "pc", "xpsr", "msp", "psp", "primask", "control"};

/* ---- transport failures ---- */

int dap_transport_fail(pv_probe *p, int rc)
{
    p->broken = true;
    return fail(p, rc, "cmsis-dap: %s", p->t->err);
}

/* ---- what a failed transfer means ---- */

static void describe(char *buf, size_t cap, const struct ctx *c)
{
    switch (c->op) {
    case OP_MEM_READ:
        snprintf(buf, cap, "memory read at 0x%08x", (unsigned)c->addr);
        break;
    case OP_MEM_WRITE:
        snprintf(buf, cap, "memory write at 0x%08x", (unsigned)c->addr);
        break;
    case OP_REG_READ:
        snprintf(buf, cap, "read of register %s", c->reg < PV_REG_COUNT ? reg_names[c->reg] : "?");
        break;
    case OP_REG_WRITE:
        snprintf(buf, cap, "write of register %s", c->reg < PV_REG_COUNT ? reg_names[c->reg] : "?");
        break;
    case OP_RUN:
        snprintf(buf, cap, "run control (DHCSR)");
        break;
    case OP_RESET:
        snprintf(buf, cap, "reset");
        break;
    default:
        snprintf(buf, cap, "debug port setup");
        break;
    }
}

/* Records the first failure among the packets in flight. */
static void note_failure(pv_probe *p, int code, uint8_t ack, const struct ctx *c, uint32_t index,
                         const char *why)
{
    if (p->err_code)
        return;
    struct ctx at = *c;
    /* block transfer: the word that failed; a write's bus fault shows at the next access */
    if (at.op == OP_MEM_READ && index)
        at.addr += 4u * index;
    else if (at.op == OP_MEM_WRITE && index)
        at.addr += 4u * (index - 1);
    char what[80];
    describe(what, sizeof what, &at);
    p->err_code = code;
    p->err_ack = ack;
    fail(p, code, "cmsis-dap: %s failed: %s", what, why ? why : dap_ack_text(ack));
}

/* ---- the packet pipeline ---- */

/* Out of memory here leaves packets in flight that point into a caller's buffer: the link is
 * then unusable (no response is ever read again). */
static int add_slot(pv_probe *p, struct slot s)
{
    if (p->nslots == p->slots_cap) {
        size_t cap = p->slots_cap ? 2 * p->slots_cap : 256;
        struct slot *n = realloc(p->slots, cap * sizeof *n);
        if (!n) {
            p->broken = true;
            return -1;
        }
        p->slots = n;
        p->slots_cap = cap;
    }
    p->slots[p->nslots++] = s;
    return 0;
}

/* Checks one response against the packet it answers (cmsisdap_reply.c) and delivers the data. */
static void take_response(pv_probe *p, const struct packet *k, size_t n)
{
    bool block = k->buf[0] == DAP_ID_TRANSFER_BLOCK;
    struct dap_xfer_expect x = {.cmd = k->buf[0],
                                .count = block ? (unsigned)(k->buf[2] | k->buf[3] << 8) : k->nreq,
                                .resp_len = k->resp_len};
    struct dap_xfer_result res;
    dap_parse_transfer(&x, p->rx, n, &res);
    if (res.code) {
        note_failure(p, res.code, res.ack, &k->ctx[res.at], res.word, res.why);
        return;
    }
    if (p->err_code)
        return; /* data after a failure is not delivered */
    const uint8_t *d = res.data;
    for (size_t i = 0; i < k->nslots; i++) {
        const struct slot *s = &p->slots[k->slot0 + i];
        if (s->raw)
            memcpy(s->raw, d, 4u * s->n);
        if (s->word)
            *s->word = pv_ld32(d);
        if (s->mask && (pv_ld32(d) & s->mask) != s->want) {
            note_failure(p, PV_PROBE_ERR_TARGET, 0, &s->ctx, 0,
                         (s->mask & S_HALT) ? "the core is not halted (halt it first)"
                                            : "the debug register did not become ready");
            return;
        }
        d += 4u * s->n;
    }
}

static int broken(pv_probe *p)
{
    return fail(p, PV_PROBE_ERR_IO, "cmsis-dap: the connection to the probe is broken");
}

/* Waits for the oldest packet in flight. Once the transport failed, its answer never comes: the
 * packets still counted in flight are not waited for again. */
int dap_receive_one(pv_probe *p)
{
    if (p->broken)
        return broken(p);
    size_t n = 0;
    int rc = p->t->recv(p->t, p->rx, sizeof p->rx, &n, p->timeout_ms);
    if (rc)
        return dap_transport_fail(p, rc);
    take_response(p, &p->flight[p->fl_head], n);
    p->fl_head = (p->fl_head + 1) % p->window;
    p->fl_n--;
    return PV_PROBE_OK;
}

/* Sends the packet being built (after a failure: drops it). */
int dap_q_close(pv_probe *p)
{
    struct packet *k = &p->cur;
    if (!k->len)
        return PV_PROBE_OK;
    if (p->broken)
        return broken(p);
    int rc;
    while (p->fl_n == p->window)
        if ((rc = dap_receive_one(p)) != 0)
            return rc;
    if (!p->err_code) {
        if (k->buf[0] == DAP_ID_TRANSFER)
            k->buf[2] = (uint8_t)k->nreq;
        if ((rc = p->t->send(p->t, k->buf, k->len)) != 0)
            return dap_transport_fail(p, rc);
        struct packet *slot = &p->flight[(p->fl_head + p->fl_n) % p->window];
        memcpy(slot, k, offsetof(struct packet, ctx) + k->nreq * sizeof k->ctx[0]);
        p->fl_n++;
    }
    k->len = 0;
    k->nreq = 0;
    return PV_PROBE_OK;
}

void dap_q_open(pv_probe *p, uint8_t cmd)
{
    struct packet *k = &p->cur;
    k->buf[0] = cmd;
    k->buf[1] = 0; /* DAP index (SWD: ignored) */
    k->len = cmd == DAP_ID_TRANSFER ? 3 : 5;
    k->resp_len = cmd == DAP_ID_TRANSFER ? 3 : 4;
    k->nreq = 0;
    k->slot0 = p->nslots;
    k->nslots = 0;
}

/* Queues one DP/AP transfer. For reads, data goes to *word (may be NULL) and is checked against
 * mask/want when mask != 0. */
int dap_q_xfer(pv_probe *p, uint8_t req, uint32_t wdata, uint32_t *word, uint32_t mask,
               uint32_t want)
{
    struct packet *k = &p->cur;
    bool rnw = req & REQ_RNW;
    size_t need = rnw ? 1 : 5, rneed = rnw ? 4 : 0;
    int rc;
    if (k->len && (k->buf[0] != DAP_ID_TRANSFER || k->nreq == MAX_REQ ||
                   k->len + need > p->pkt_size || k->resp_len + rneed > p->pkt_size))
        if ((rc = dap_q_close(p)) != 0)
            return rc;
    if (!k->len)
        dap_q_open(p, DAP_ID_TRANSFER);
    k->buf[k->len++] = req;
    if (!rnw) {
        pv_st32(k->buf + k->len, wdata);
        k->len += 4;
    } else {
        if (add_slot(
                p, (struct slot){.word = word, .n = 1, .mask = mask, .want = want, .ctx = p->now}))
            return fail(p, PV_PROBE_ERR_IO, "cmsis-dap: out of memory");
        k->nslots++;
        k->resp_len += 4;
    }
    k->ctx[k->nreq++] = p->now;
    return PV_PROBE_OK;
}

/* Queues n word transfers as DAP_TransferBlock packets. */
int dap_q_block(pv_probe *p, uint8_t req, bool rnw, uint8_t *raw, const uint8_t *wraw, uint32_t n)
{
    int rc = dap_q_close(p);
    if (rc)
        return rc;
    uint32_t max = (uint32_t)((p->pkt_size - (rnw ? 4 : 5)) / 4);
    while (n) {
        uint32_t m = n < max ? n : max;
        struct packet *k = &p->cur;
        dap_q_open(p, DAP_ID_TRANSFER_BLOCK);
        k->buf[2] = (uint8_t)m;
        k->buf[3] = (uint8_t)(m >> 8);
        k->buf[4] = (uint8_t)(req | (rnw ? REQ_RNW : 0));
        if (rnw) {
            if (add_slot(p, (struct slot){.raw = raw, .n = m, .ctx = p->now}))
                return fail(p, PV_PROBE_ERR_IO, "cmsis-dap: out of memory");
            k->nslots = 1;
            k->resp_len += 4u * m;
            raw += 4u * m;
        } else {
            memcpy(k->buf + k->len, wraw, 4u * m);
            k->len += 4u * m;
            wraw += 4u * m;
        }
        k->ctx[0] = p->now;
        k->nreq = 1;
        if ((rc = dap_q_close(p)) != 0)
            return rc;
        p->now.addr += 4u * m;
        n -= m;
    }
    return PV_PROBE_OK;
}

/* Completes everything queued; returns (and forgets) the first failure. */
int dap_drain(pv_probe *p)
{
    int rc = dap_q_close(p);
    while (!rc && p->fl_n)
        rc = dap_receive_one(p);
    if (rc)
        return rc;
    p->nslots = 0;
    if (!p->err_code)
        return PV_PROBE_OK;
    int code = p->err_code;
    uint8_t ack = p->err_ack;
    char msg[sizeof p->err];
    memcpy(msg, p->err, sizeof msg);
    p->err_code = 0;
    p->err_ack = 0;
    int rrc = adi_recover(p, ack);
    if (rrc == PV_PROBE_ERR_DEAD || p->broken)
        return rrc; /* adi_recover() said why */
    memcpy(p->err, msg, sizeof msg);
    if (code == PV_PROBE_ERR_DEAD) { /* no ACK, but after a line reset the DP answers again */
        size_t l = strlen(p->err);
        snprintf(p->err + l, sizeof p->err - l,
                 "; after a line reset the debug port answers "
                 "again: retry");
        return PV_PROBE_ERR_IO;
    }
    return code;
}

/* ---- plain commands (not transfers) ---- */

int dap_command(pv_probe *p, const uint8_t *req, size_t len, size_t *rlen)
{
    int rc = dap_drain(p);
    if (rc)
        return rc;
    if (p->broken)
        return broken(p);
    if ((rc = p->t->send(p->t, req, len)) != 0 ||
        (rc = p->t->recv(p->t, p->rx, sizeof p->rx, rlen, p->timeout_ms)) != 0)
        return dap_transport_fail(p, rc);
    if (dap_parse_echo(req[0], p->rx, *rlen))
        return fail(p, PV_PROBE_ERR_PROTOCOL,
                    "cmsis-dap: the probe answered command 0x%02x with 0x%02x%s", req[0],
                    *rlen ? p->rx[0] : 0,
                    *rlen && p->rx[0] == 0xFF ? " (command not supported)" : "");
    return PV_PROBE_OK;
}

/* A command whose response is [id, status] with status 0 = OK. */
int dap_command_ok(pv_probe *p, const uint8_t *req, size_t len, const char *what)
{
    size_t n = 0;
    int rc = dap_command(p, req, len, &n);
    if (rc)
        return rc;
    if (dap_parse_status(p->rx, n, 0))
        return fail(p, PV_PROBE_ERR_PROTOCOL, "cmsis-dap: the probe refused %s", what);
    return PV_PROBE_OK;
}

int dap_info(pv_probe *p, uint8_t id, uint8_t *out, size_t cap, size_t *n)
{
    uint8_t req[2] = {DAP_ID_INFO, id};
    size_t rl = 0;
    int rc = dap_command(p, req, 2, &rl);
    if (rc)
        return rc;
    const uint8_t *val;
    size_t len;
    if (dap_parse_info(p->rx, rl, &val, &len))
        return fail(p, PV_PROBE_ERR_PROTOCOL, "cmsis-dap: malformed DAP_Info 0x%02x answer", id);
    if (len > cap)
        len = cap;
    memcpy(out, val, len);
    *n = len;
    return PV_PROBE_OK;
}

void dap_info_str(pv_probe *p, uint8_t id, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    if (dap_info(p, id, (uint8_t *)out, cap - 1, &n) == 0)
        out[n] = 0;
}
