/* Probe backend for CMSIS-DAP v2 probes: the DAP command layer, and on top of it the ADIv5 and
 * Cortex-M debug logic a probe's host must do itself (no GDB server in between).
 *
 * Transport: "usb" / "usb:<serial>" (dap_transport_usb.c, libusb bulk endpoints) or
 * "tcp:<host>:<port>" (dap_transport_tcp.c, the sim's --dap-port). docs/probes.md has the rest.
 *
 * Round trips: DP/AP accesses are queued into DAP_Transfer packets (many requests each) and memory
 * blocks into DAP_TransferBlock packets, each filled up to the probe's packet size (DAP_Info); up
 * to the probe's packet count of them are in flight before the first response is awaited. Writes
 * (memory, registers, run control) are posted: their responses are checked when the station next
 * needs an answer. After the first failure in flight, nothing more is sent until it has been
 * reported, and the DP's sticky flags are cleared (ABORT) before the next operation.
 *
 * Debug logic: SWJ-DP switched to SWD (line reset, 0xE79E, line reset, DPIDR read), DP powered up
 * (CTRL/STAT CSYSPWRUPREQ|CDBGPWRUPREQ), AP 0 must be an AHB-AP; memory through CSW/TAR/DRW with
 * TAR rewritten only at 4 KB boundaries (the Cortex-M4's auto-increment page); the SCS debug
 * registers (DHCSR, DCRSR, DCRDR, DEMCR) through the banked data registers BD0-BD3 with TAR at
 * 0xE000EDF0; reset-halt = DEMCR.VC_CORERESET + AIRCR.SYSRESETREQ (DAP_ResetTarget as fallback). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dap_transport.h"
#include "probe.h"
#include "probe_util.h"

#define MAX_PKT      4096u /* largest packet we use, whatever the probe says */
#define MAX_INFLIGHT 8u
#define MAX_REQ      255u /* DAP_Transfer's count is one byte */

/* CMSIS-DAP command IDs. */
enum {
    ID_INFO = 0x00,
    ID_CONNECT = 0x02,
    ID_DISCONNECT = 0x03,
    ID_TRANSFER_CONFIGURE = 0x04,
    ID_TRANSFER = 0x05,
    ID_TRANSFER_BLOCK = 0x06,
    ID_RESET_TARGET = 0x0A,
    ID_SWJ_CLOCK = 0x11,
    ID_SWJ_SEQUENCE = 0x12,
    ID_SWD_CONFIGURE = 0x13,
};

/* Transfer request and response bits. */
#define REQ_AP      0x01u
#define REQ_RNW     0x02u
#define ACK_OK      1u
#define ACK_WAIT    2u
#define ACK_FAULT   4u
#define ACK_NONE    7u
#define RESP_PROTO  0x08u
#define RESP_NOMATC 0x10u

/* DP registers (A[3:2] << 2) and bits. */
#define DP_DPIDR    0x0u
#define DP_ABORT    0x0u
#define DP_CTRLSTAT 0x4u
#define DP_SELECT   0x8u
#define DP_RDBUFF   0xCu
#define ABORT_CLEAR 0x1Eu /* STKCMPCLR | STKERRCLR | WDERRCLR | ORUNERRCLR */
#define ABORT_DAP   0x01u
#define PWRUP_REQ   0x50000000u
#define PWRUP_ACK   0xA0000000u
/* AHB-AP registers (bank << 4 | A[3:2] << 2). */
#define AP_CSW   0x00u
#define AP_TAR   0x04u
#define AP_DRW   0x0Cu
#define AP_BD0   0x10u
#define AP_IDR   0xFCu
#define CSW_BASE 0xA2000000u /* DbgSwEnable | MasterType debug | HPROT1 (privileged data) */
#define CSW_INC  0x10u
/* Cortex-M debug registers. */
#define SCS_DHCSR    0xE000EDF0u
#define SCS_AIRCR    0xE000ED0Cu
#define BD_DHCSR     (AP_BD0 + 0x0u)
#define BD_DCRSR     (AP_BD0 + 0x4u)
#define BD_DCRDR     (AP_BD0 + 0x8u)
#define BD_DEMCR     (AP_BD0 + 0xCu)
#define DBGKEY       0xA05F0000u
#define C_DEBUGEN    (1u << 0)
#define C_HALT       (1u << 1)
#define S_REGRDY     (1u << 16)
#define S_HALT       (1u << 17)
#define S_LOCKUP     (1u << 19)
#define S_RESET_ST   (1u << 25)
#define DCRSR_WRITE  (1u << 16)
#define VC_CORERESET (1u << 0)
#define REGSEL_SPEC  0x14u /* CONTROL[31:24] FAULTMASK[23:16] BASEPRI[15:8] PRIMASK[7:0] */

/* What a queued request belongs to, for error messages. */
enum op { OP_SETUP, OP_MEM_READ, OP_MEM_WRITE, OP_REG_READ, OP_REG_WRITE, OP_RUN, OP_RESET };

struct ctx {
    uint8_t op;
    uint8_t reg;
    uint32_t addr;
};

/* Where a read's data goes: n words to raw (bytes, little endian) or to word, or checked only. */
struct slot {
    uint8_t *raw;
    uint32_t *word;
    uint32_t n;
    uint32_t mask, want; /* mask != 0: the value must satisfy (v & mask) == want */
    struct ctx ctx;
};

/* A packet being built or in flight. */
struct packet {
    uint8_t buf[MAX_PKT];
    size_t len, resp_len; /* request bytes, expected response bytes on success */
    unsigned nreq;
    size_t slot0, nslots;
    struct ctx ctx[MAX_REQ];
};

struct pv_probe {
    struct dap_transport *t;
    int timeout_ms;
    size_t pkt_size;
    unsigned window;
    struct packet cur;
    struct packet *flight; /* ring of `window` packets */
    unsigned fl_head, fl_n;
    struct slot *slots;
    size_t nslots, slots_cap;
    struct ctx now; /* context of the operation being queued */
    uint8_t rx[MAX_PKT];
    /* first failure among what is in flight */
    int err_code;
    uint8_t err_ack;
    bool broken; /* the transport failed: every call fails */
    /* cached AP state */
    bool sel_ok, csw_ok, tar_ok;
    uint32_t sel, csw, tar;
    uint32_t scratch;
    char desc[400];
    char err[320];
};

static const char *const reg_names[PV_REG_COUNT] = {
    "r0",  "r1",  "r2", "r3", "r4", "r5",   "r6",  "r7",  "r8",      "r9",     "r10",
    "r11", "r12", "sp", "lr", "pc", "xpsr", "msp", "psp", "primask", "control"};

/* Formats the message into p->err and returns code. */
#define fail(p, code, ...) pv_probe_errf((p)->err, sizeof(p)->err, (code), __VA_ARGS__)

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void forget_ap_state(pv_probe *p)
{
    p->sel_ok = p->csw_ok = p->tar_ok = false;
}

/* ---- transport failures ---- */

static int transport_fail(pv_probe *p, int rc)
{
    p->broken = true;
    return fail(p, rc, "cmsis-dap: %s", p->t->err);
}

/* ---- what a failed transfer means ---- */

static const char *ack_text(uint8_t ack)
{
    if (ack & RESP_PROTO)
        return "SWD protocol error (parity): check the wiring and lower the clock";
    switch (ack & 7u) {
    case ACK_FAULT:
        return "bus fault (the AHB-AP set STICKYERR: unmapped address, read protection, or a "
               "wrong access size)";
    case ACK_WAIT:
        return "the target kept answering WAIT (its bus is stalled)";
    case ACK_NONE:
        return "no answer from the debug port (SWD ACK 0b111): RDP Level 2 has fused it off, "
               "or the target is unpowered or not wired";
    default:
        return "unexpected SWD acknowledge";
    }
}

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
    fail(p, code, "cmsis-dap: %s failed: %s", what, why ? why : ack_text(ack));
}

static int ack_code(uint8_t ack)
{
    if (ack & RESP_PROTO)
        return PV_PROBE_ERR_PROTOCOL;
    switch (ack & 7u) {
    case ACK_FAULT:
        return PV_PROBE_ERR_TARGET;
    case ACK_WAIT:
        return PV_PROBE_ERR_TIMEOUT;
    case ACK_NONE:
        return PV_PROBE_ERR_DEAD;
    default:
        return PV_PROBE_ERR_PROTOCOL;
    }
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

/* Checks one response against the packet it answers and delivers the data. */
static void take_response(pv_probe *p, const struct packet *k, size_t n)
{
    const uint8_t *r = p->rx;
    if (n < 1 || r[0] != k->buf[0]) {
        struct ctx c = k->ctx[0];
        note_failure(p, PV_PROBE_ERR_PROTOCOL, 0, &c, 0,
                     n && r[0] == 0xFF ? "the probe does not know the command"
                                       : "the probe answered another command");
        return;
    }
    bool block = k->buf[0] == ID_TRANSFER_BLOCK;
    size_t hdr = block ? 4 : 3;
    if (n < hdr) {
        note_failure(p, PV_PROBE_ERR_PROTOCOL, 0, &k->ctx[0], 0, "short response from the probe");
        return;
    }
    unsigned done = block ? (unsigned)(r[1] | r[2] << 8) : r[1];
    uint8_t ack = r[hdr - 1];
    unsigned want = block ? (unsigned)(k->buf[2] | k->buf[3] << 8) : k->nreq;
    if (ack != ACK_OK || done != want) {
        struct ctx c = k->ctx[block ? 0 : (done < k->nreq ? done : k->nreq - 1)];
        note_failure(p, ack != ACK_OK ? ack_code(ack) : PV_PROBE_ERR_PROTOCOL, ack, &c,
                     block ? done : 0,
                     ack == ACK_OK ? "the probe did fewer transfers than asked" : NULL);
        return;
    }
    if (n != k->resp_len) {
        note_failure(p, PV_PROBE_ERR_PROTOCOL, 0, &k->ctx[0], 0,
                     "response length does not match the request");
        return;
    }
    if (p->err_code)
        return; /* data after a failure is not delivered */
    const uint8_t *d = r + hdr;
    for (size_t i = 0; i < k->nslots; i++) {
        const struct slot *s = &p->slots[k->slot0 + i];
        if (s->raw)
            memcpy(s->raw, d, 4u * s->n);
        if (s->word)
            *s->word = get32(d);
        if (s->mask && (get32(d) & s->mask) != s->want) {
            note_failure(p, PV_PROBE_ERR_TARGET, 0, &s->ctx, 0,
                         (s->mask & S_HALT) ? "the core is not halted (halt it first)"
                                            : "the debug register did not become ready");
            return;
        }
        d += 4u * s->n;
    }
}

/* Waits for the oldest packet in flight. */
static int receive_one(pv_probe *p)
{
    size_t n = 0;
    int rc = p->t->recv(p->t, p->rx, sizeof p->rx, &n, p->timeout_ms);
    if (rc)
        return transport_fail(p, rc);
    take_response(p, &p->flight[p->fl_head], n);
    p->fl_head = (p->fl_head + 1) % p->window;
    p->fl_n--;
    return PV_PROBE_OK;
}

/* Sends the packet being built (after a failure: drops it). */
static int q_close(pv_probe *p)
{
    struct packet *k = &p->cur;
    if (!k->len)
        return PV_PROBE_OK;
    if (p->broken)
        return fail(p, PV_PROBE_ERR_IO, "cmsis-dap: the connection to the probe is broken");
    int rc;
    while (p->fl_n == p->window)
        if ((rc = receive_one(p)) != 0)
            return rc;
    if (!p->err_code) {
        if (k->buf[0] == ID_TRANSFER)
            k->buf[2] = (uint8_t)k->nreq;
        if ((rc = p->t->send(p->t, k->buf, k->len)) != 0)
            return transport_fail(p, rc);
        struct packet *slot = &p->flight[(p->fl_head + p->fl_n) % p->window];
        memcpy(slot, k, offsetof(struct packet, ctx) + k->nreq * sizeof k->ctx[0]);
        p->fl_n++;
    }
    k->len = 0;
    k->nreq = 0;
    return PV_PROBE_OK;
}

static void q_open(pv_probe *p, uint8_t cmd)
{
    struct packet *k = &p->cur;
    k->buf[0] = cmd;
    k->buf[1] = 0; /* DAP index (SWD: ignored) */
    k->len = cmd == ID_TRANSFER ? 3 : 5;
    k->resp_len = cmd == ID_TRANSFER ? 3 : 4;
    k->nreq = 0;
    k->slot0 = p->nslots;
    k->nslots = 0;
}

/* Queues one DP/AP transfer. For reads, data goes to *word (may be NULL) and is checked against
 * mask/want when mask != 0. */
static int q_xfer(pv_probe *p, uint8_t req, uint32_t wdata, uint32_t *word, uint32_t mask,
                  uint32_t want)
{
    struct packet *k = &p->cur;
    bool rnw = req & REQ_RNW;
    size_t need = rnw ? 1 : 5, rneed = rnw ? 4 : 0;
    int rc;
    if (k->len && (k->buf[0] != ID_TRANSFER || k->nreq == MAX_REQ || k->len + need > p->pkt_size ||
                   k->resp_len + rneed > p->pkt_size))
        if ((rc = q_close(p)) != 0)
            return rc;
    if (!k->len)
        q_open(p, ID_TRANSFER);
    k->buf[k->len++] = req;
    if (!rnw) {
        put32(k->buf + k->len, wdata);
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

static int q_dp_write(pv_probe *p, unsigned addr, uint32_t v)
{
    return q_xfer(p, (uint8_t)(addr & 0xCu), v, NULL, 0, 0);
}

static int q_dp_read(pv_probe *p, unsigned addr, uint32_t *dst)
{
    return q_xfer(p, (uint8_t)((addr & 0xCu) | REQ_RNW), 0, dst, 0, 0);
}

static int q_select(pv_probe *p, unsigned apreg)
{
    uint32_t sel = apreg & 0xF0u; /* AP 0, bank of the register */
    if (p->sel_ok && p->sel == sel)
        return PV_PROBE_OK;
    p->sel = sel;
    p->sel_ok = true;
    return q_dp_write(p, DP_SELECT, sel);
}

static int q_ap_write(pv_probe *p, unsigned reg, uint32_t v)
{
    int rc = q_select(p, reg);
    return rc ? rc : q_xfer(p, (uint8_t)(REQ_AP | (reg & 0xCu)), v, NULL, 0, 0);
}

static int q_ap_read(pv_probe *p, unsigned reg, uint32_t *dst, uint32_t mask, uint32_t want)
{
    int rc = q_select(p, reg);
    return rc ? rc : q_xfer(p, (uint8_t)(REQ_AP | REQ_RNW | (reg & 0xCu)), 0, dst, mask, want);
}

static int q_csw(pv_probe *p, uint32_t size_bits)
{
    uint32_t csw = CSW_BASE | CSW_INC | size_bits;
    if (p->csw_ok && p->csw == csw)
        return PV_PROBE_OK;
    p->csw = csw;
    p->csw_ok = true;
    return q_ap_write(p, AP_CSW, csw);
}

static int q_tar(pv_probe *p, uint32_t addr)
{
    if (p->tar_ok && p->tar == addr)
        return PV_PROBE_OK;
    p->tar = addr;
    p->tar_ok = true;
    return q_ap_write(p, AP_TAR, addr);
}

/* Queues n DRW word transfers as DAP_TransferBlock packets; TAR and CSW must be set up. Reads go
 * to raw (little endian words = memory bytes); writes come from raw. */
static int q_block(pv_probe *p, bool rnw, uint8_t *raw, const uint8_t *wraw, uint32_t n)
{
    int rc = q_select(p, AP_DRW);
    if (rc || (rc = q_close(p)) != 0)
        return rc;
    uint32_t max = (uint32_t)((p->pkt_size - (rnw ? 4 : 5)) / 4);
    while (n) {
        uint32_t m = n < max ? n : max;
        struct packet *k = &p->cur;
        q_open(p, ID_TRANSFER_BLOCK);
        k->buf[2] = (uint8_t)m;
        k->buf[3] = (uint8_t)(m >> 8);
        k->buf[4] = (uint8_t)(REQ_AP | AP_DRW | (rnw ? REQ_RNW : 0));
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
        if ((rc = q_close(p)) != 0)
            return rc;
        p->now.addr += 4u * m;
        n -= m;
    }
    return PV_PROBE_OK;
}

/* Clears the DP's sticky flags after a failure; if the DP stopped answering, tries a line reset
 * once before calling it dead. */
static int swd_attach(pv_probe *p, uint32_t *dpidr);
static int drain(pv_probe *p);

static int recover(pv_probe *p, uint8_t ack)
{
    forget_ap_state(p);
    if ((ack & 7u) == ACK_NONE || (ack & RESP_PROTO)) {
        uint32_t id = 0;
        int rc = swd_attach(p, &id);
        if (rc)
            return rc;
    }
    p->now = (struct ctx){.op = OP_SETUP};
    int rc = q_dp_write(p, DP_ABORT, ABORT_CLEAR | ((ack & 7u) == ACK_WAIT ? ABORT_DAP : 0));
    return rc ? rc : drain(p);
}

/* Completes everything queued; returns (and forgets) the first failure. */
static int drain(pv_probe *p)
{
    int rc = q_close(p);
    while (!rc && p->fl_n)
        rc = receive_one(p);
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
    int rrc = recover(p, ack);
    if (rrc == PV_PROBE_ERR_DEAD || p->broken)
        return rrc; /* recover() said why */
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

static int command(pv_probe *p, const uint8_t *req, size_t len, size_t *rlen)
{
    int rc = drain(p);
    if (rc)
        return rc;
    if ((rc = p->t->send(p->t, req, len)) != 0 ||
        (rc = p->t->recv(p->t, p->rx, sizeof p->rx, rlen, p->timeout_ms)) != 0)
        return transport_fail(p, rc);
    if (*rlen < 1 || p->rx[0] != req[0])
        return fail(p, PV_PROBE_ERR_PROTOCOL,
                    "cmsis-dap: the probe answered command 0x%02x with 0x%02x%s", req[0],
                    *rlen ? p->rx[0] : 0,
                    *rlen && p->rx[0] == 0xFF ? " (command not supported)" : "");
    return PV_PROBE_OK;
}

/* A command whose response is [id, status] with status 0 = OK. */
static int command_ok(pv_probe *p, const uint8_t *req, size_t len, const char *what)
{
    size_t n = 0;
    int rc = command(p, req, len, &n);
    if (rc)
        return rc;
    if (n < 2 || p->rx[1] != 0)
        return fail(p, PV_PROBE_ERR_PROTOCOL, "cmsis-dap: the probe refused %s", what);
    return PV_PROBE_OK;
}

static int info(pv_probe *p, uint8_t id, uint8_t *out, size_t cap, size_t *n)
{
    uint8_t req[2] = {ID_INFO, id};
    size_t rl = 0;
    int rc = command(p, req, 2, &rl);
    if (rc)
        return rc;
    size_t len = rl >= 2 ? p->rx[1] : 0;
    if (len > rl - 2)
        return fail(p, PV_PROBE_ERR_PROTOCOL, "cmsis-dap: malformed DAP_Info 0x%02x answer", id);
    if (len > cap)
        len = cap;
    memcpy(out, p->rx + 2, len);
    *n = len;
    return PV_PROBE_OK;
}

static void info_str(pv_probe *p, uint8_t id, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    if (info(p, id, (uint8_t *)out, cap - 1, &n) == 0)
        out[n] = 0;
}

/* ---- SWD bring-up ---- */

/* Line reset, JTAG-to-SWD switch, line reset, idle; then the DPIDR read the DP insists on. */
static int swd_attach(pv_probe *p, uint32_t *dpidr)
{
    /* 56 ones, 0xE79E (LSB first), 56 ones, 8 idle cycles: 136 bits */
    uint8_t seq[2 + 19] = {ID_SWJ_SEQUENCE, 56 + 16 + 56 + 8};
    memset(seq + 2, 0xFF, 7);
    seq[9] = 0x9E;
    seq[10] = 0xE7;
    memset(seq + 11, 0xFF, 7);
    seq[18] = 0x00;
    int rc = command_ok(p, seq, 19, "DAP_SWJ_Sequence (JTAG-to-SWD switch)");
    if (rc)
        return rc;
    forget_ap_state(p);
    p->now = (struct ctx){.op = OP_SETUP};
    if ((rc = q_dp_read(p, DP_DPIDR, dpidr)) != 0)
        return rc;
    rc = q_close(p);
    while (!rc && p->fl_n)
        rc = receive_one(p);
    p->nslots = 0;
    if (rc)
        return rc;
    if (p->err_code) {
        uint8_t ack = p->err_ack;
        p->err_code = 0;
        p->err_ack = 0;
        if ((ack & 7u) == ACK_NONE)
            return fail(p, PV_PROBE_ERR_DEAD,
                        "cmsis-dap: the target's debug port does not answer (no SWD ACK to the "
                        "DPIDR read): RDP Level 2 has disabled it for good, or the target is "
                        "unpowered or not wired");
        return fail(p, ack_code(ack), "cmsis-dap: reading DPIDR failed: %s", ack_text(ack));
    }
    return PV_PROBE_OK;
}

static int power_up(pv_probe *p)
{
    p->now = (struct ctx){.op = OP_SETUP};
    int rc = q_dp_write(p, DP_ABORT, ABORT_CLEAR);
    if (!rc)
        rc = q_dp_write(p, DP_SELECT, 0);
    if (!rc)
        rc = q_dp_write(p, DP_CTRLSTAT, PWRUP_REQ);
    p->sel = 0;
    p->sel_ok = true;
    uint64_t end = pv_probe_now_ms() + (uint64_t)p->timeout_ms;
    uint32_t cs = 0;
    while (!rc) {
        if ((rc = q_dp_read(p, DP_CTRLSTAT, &cs)) != 0 || (rc = drain(p)) != 0)
            break;
        if ((cs & PWRUP_ACK) == PWRUP_ACK)
            return PV_PROBE_OK;
        if (pv_probe_now_ms() >= end)
            return fail(p, PV_PROBE_ERR_TIMEOUT,
                        "cmsis-dap: the debug domain did not power up (CTRL/STAT 0x%08x)",
                        (unsigned)cs);
        sleep_ms(1);
    }
    return rc;
}

/* ---- memory ---- */

/* Access sizes: bytes and halfwords at the unaligned ends, words (in 4 KB pages) between. */
struct piece {
    uint32_t addr;
    unsigned size; /* 1, 2 or 4 */
    uint32_t words;
    size_t off;
};

static size_t plan(uint32_t addr, size_t len, struct piece *pc)
{
    size_t n = 0, off = 0;
    while (len) {
        unsigned size;
        uint32_t words = 1;
        if ((addr & 3u) == 0 && len >= 4) {
            size = 4;
            uint32_t page_left = (0x1000u - (addr & 0xFFFu)) / 4u;
            words = (uint32_t)(len / 4 < page_left ? len / 4 : page_left);
        } else if ((addr & 1u) == 0 && len >= 2) {
            size = 2;
        } else {
            size = 1;
        }
        pc[n++] = (struct piece){.addr = addr, .size = size, .words = words, .off = off};
        uint32_t bytes = size == 4 ? 4u * words : size;
        addr += bytes;
        off += bytes;
        len -= bytes;
        if (n == 64)
            break; /* caller loops */
    }
    return n;
}

static int csw_for(pv_probe *p, unsigned size)
{
    return q_csw(p, size == 4 ? 2u : size == 2 ? 1u : 0u);
}

static size_t planned_bytes(const struct piece *pc, size_t n)
{
    return n ? pc[n - 1].off + (pc[n - 1].size == 4 ? 4u * pc[n - 1].words : pc[n - 1].size) : 0;
}

static int cmsisdap_read_mem(pv_probe *p, uint32_t addr, void *buf, size_t len)
{
    uint8_t *b = buf;
    struct piece pc[64];
    uint32_t sub[64];
    int rc = PV_PROBE_OK;
    while (len && !rc) {
        size_t n = plan(addr, len, pc);
        for (size_t i = 0; i < n && !rc; i++) {
            p->now = (struct ctx){.op = OP_MEM_READ, .addr = pc[i].addr};
            if (!(rc = csw_for(p, pc[i].size)) && !(rc = q_tar(p, pc[i].addr))) {
                if (pc[i].size == 4) {
                    rc = q_block(p, true, b + pc[i].off, NULL, pc[i].words);
                    p->tar = (pc[i].addr & ~0xFFFu) | ((pc[i].addr + 4u * pc[i].words) & 0xFFFu);
                } else {
                    rc = q_ap_read(p, AP_DRW, &sub[i], 0, 0);
                    p->tar = pc[i].addr + pc[i].size;
                }
            }
        }
        if (!rc)
            rc = drain(p);
        for (size_t i = 0; i < n && !rc; i++) {
            if (pc[i].size == 4)
                continue;
            uint32_t v = sub[i] >> (8u * (pc[i].addr & 3u));
            b[pc[i].off] = (uint8_t)v;
            if (pc[i].size == 2)
                b[pc[i].off + 1] = (uint8_t)(v >> 8);
        }
        size_t done = planned_bytes(pc, n);
        addr += (uint32_t)done;
        b += done;
        len -= done;
    }
    if (rc)
        forget_ap_state(p);
    return rc;
}

static int cmsisdap_write_mem(pv_probe *p, uint32_t addr, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    struct piece pc[64];
    int rc = PV_PROBE_OK;
    while (len && !rc) {
        size_t n = plan(addr, len, pc);
        for (size_t i = 0; i < n && !rc; i++) {
            p->now = (struct ctx){.op = OP_MEM_WRITE, .addr = pc[i].addr};
            if ((rc = csw_for(p, pc[i].size)) != 0 || (rc = q_tar(p, pc[i].addr)) != 0)
                break;
            if (pc[i].size == 4) {
                rc = q_block(p, false, NULL, b + pc[i].off, pc[i].words);
                p->tar = (pc[i].addr & ~0xFFFu) | ((pc[i].addr + 4u * pc[i].words) & 0xFFFu);
            } else {
                uint32_t v = b[pc[i].off];
                if (pc[i].size == 2)
                    v |= (uint32_t)b[pc[i].off + 1] << 8;
                rc = q_ap_write(p, AP_DRW, v << (8u * (pc[i].addr & 3u)));
                p->tar = pc[i].addr + pc[i].size;
            }
        }
        size_t done = planned_bytes(pc, n);
        addr += (uint32_t)done;
        b += done;
        len -= done;
    }
    return rc; /* posted: failures surface at the next call that needs an answer */
}

/* ---- core debug registers (through BD0-BD3 with TAR at DHCSR) ---- */

static int q_scs(pv_probe *p)
{
    int rc = q_csw(p, 2u);
    return rc ? rc : q_tar(p, SCS_DHCSR);
}

static int regsel(enum pv_probe_reg r)
{
    if ((unsigned)r <= PV_REG_PSP)
        return (int)r; /* R0-R12, SP, LR, PC (DebugReturnAddress), xPSR, MSP, PSP */
    if (r == PV_REG_PRIMASK || r == PV_REG_CONTROL)
        return REGSEL_SPEC;
    return -1;
}

static int read_regsel(pv_probe *p, unsigned sel, uint32_t *val)
{
    int rc = q_scs(p);
    if (!rc)
        rc = q_ap_write(p, BD_DCRSR, sel);
    if (!rc)
        rc = q_ap_read(p, BD_DHCSR, NULL, S_HALT | S_REGRDY, S_HALT | S_REGRDY);
    if (!rc)
        rc = q_ap_read(p, BD_DCRDR, val, 0, 0);
    return rc ? rc : drain(p);
}

static int cmsisdap_read_reg(pv_probe *p, enum pv_probe_reg r, uint32_t *val)
{
    int sel = regsel(r);
    if (sel < 0)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "cmsis-dap: no register %d", (int)r);
    p->now = (struct ctx){.op = OP_REG_READ, .reg = (uint8_t)r};
    uint32_t v = 0;
    int rc = read_regsel(p, (unsigned)sel, &v);
    if (rc)
        return rc;
    if (r == PV_REG_PRIMASK)
        v &= 1u;
    else if (r == PV_REG_CONTROL)
        v = (v >> 24) & 7u;
    *val = v;
    return PV_PROBE_OK;
}

static int cmsisdap_write_reg(pv_probe *p, enum pv_probe_reg r, uint32_t val)
{
    int sel = regsel(r);
    if (sel < 0)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "cmsis-dap: no register %d", (int)r);
    p->now = (struct ctx){.op = OP_REG_WRITE, .reg = (uint8_t)r};
    int rc;
    if (sel == REGSEL_SPEC) { /* one word holds four registers: read, modify, write */
        uint32_t v = 0;
        if ((rc = read_regsel(p, REGSEL_SPEC, &v)) != 0)
            return rc;
        if (r == PV_REG_PRIMASK)
            val = (v & ~0xFFu) | (val & 1u);
        else
            val = (v & 0x00FFFFFFu) | (val & 7u) << 24;
        p->now = (struct ctx){.op = OP_REG_WRITE, .reg = (uint8_t)r};
    }
    rc = q_scs(p);
    if (!rc)
        rc = q_ap_write(p, BD_DCRDR, val);
    if (!rc)
        rc = q_ap_write(p, BD_DCRSR, (unsigned)sel | DCRSR_WRITE);
    if (!rc) /* the transfer must be done before the next one: checked when the answer comes */
        rc = q_ap_read(p, BD_DHCSR, NULL, S_HALT | S_REGRDY, S_HALT | S_REGRDY);
    return rc;
}

/* ---- run control ---- */

static int read_dhcsr(pv_probe *p, uint32_t *v)
{
    int rc = q_scs(p);
    if (!rc)
        rc = q_ap_read(p, BD_DHCSR, v, 0, 0);
    return rc ? rc : drain(p);
}

static int cmsisdap_flush(pv_probe *p)
{
    return drain(p);
}

/* Polls DHCSR until `want` bits are set, at most ms; S_RESET_ST (cleared by reading) counts once
 * seen. *seen ORs every value read. */
static int poll_dhcsr(pv_probe *p, uint32_t want, int ms, uint32_t *last, uint32_t *seen)
{
    uint64_t end = pv_probe_now_ms() + (uint64_t)(ms > 0 ? ms : p->timeout_ms);
    unsigned backoff = 0;
    uint32_t acc = seen ? *seen : 0;
    for (;;) {
        uint32_t v = 0;
        int rc = read_dhcsr(p, &v);
        if (rc)
            return rc;
        *last = v;
        acc |= v;
        if (seen)
            *seen = acc;
        if (((v | (acc & S_RESET_ST)) & want) == want)
            return PV_PROBE_OK;
        if (v & S_LOCKUP)
            return fail(p, PV_PROBE_ERR_TARGET,
                        "cmsis-dap: the core locked up (a fault in a fault handler); DHCSR "
                        "0x%08x",
                        (unsigned)v);
        if (pv_probe_now_ms() >= end)
            return PV_PROBE_ERR_TIMEOUT;
        sleep_ms(backoff);
        backoff = backoff * 2 + 1 < 10 ? backoff * 2 + 1 : 10; /* 0, 1, 3, 7, 10 ms */
    }
}

static int cmsisdap_halt(pv_probe *p)
{
    p->now = (struct ctx){.op = OP_RUN};
    int rc = q_scs(p);
    if (!rc)
        rc = q_ap_write(p, BD_DHCSR, DBGKEY | C_HALT | C_DEBUGEN);
    if (rc)
        return rc;
    uint32_t v = 0;
    rc = poll_dhcsr(p, S_HALT, p->timeout_ms, &v, NULL);
    if (rc == PV_PROBE_ERR_TIMEOUT)
        return fail(p, rc, "cmsis-dap: the core did not halt within %d ms (DHCSR 0x%08x)",
                    p->timeout_ms, (unsigned)v);
    if (rc == PV_PROBE_ERR_TARGET) { /* locked up: the halt request still holds it */
        uint32_t w = 0;
        if (read_dhcsr(p, &w) == 0 && (w & S_HALT))
            return PV_PROBE_OK;
    }
    return rc;
}

static int cmsisdap_resume(pv_probe *p, const uint32_t *pc)
{
    int rc = PV_PROBE_OK;
    if (pc)
        rc = cmsisdap_write_reg(p, PV_REG_PC, *pc);
    p->now = (struct ctx){.op = OP_RUN};
    if (!rc)
        rc = q_scs(p);
    if (!rc)
        rc = q_ap_write(p, BD_DHCSR, DBGKEY | C_DEBUGEN);
    return rc ? rc : q_close(p); /* goes out now; its answer is checked later */
}

static int cmsisdap_wait_halt(pv_probe *p, int timeout_ms)
{
    int rc = drain(p);
    if (rc)
        return rc;
    p->now = (struct ctx){.op = OP_RUN};
    uint32_t v = 0;
    rc = poll_dhcsr(p, S_HALT, timeout_ms > 0 ? timeout_ms : p->timeout_ms, &v, NULL);
    if (rc == PV_PROBE_ERR_TIMEOUT)
        return fail(p, rc, "cmsis-dap: the core did not halt within %d ms",
                    timeout_ms > 0 ? timeout_ms : p->timeout_ms);
    if (rc == PV_PROBE_ERR_TARGET) {
        char why[sizeof p->err];
        memcpy(why, p->err, sizeof why);
        cmsisdap_halt(p); /* keep it halted, as a GDB server reports a lockup */
        memcpy(p->err, why, sizeof why);
    }
    return rc;
}

/* System reset with the core caught at its reset vector. */
static int reset(pv_probe *p, bool halt)
{
    int rc = drain(p);
    if (rc)
        return rc;
    p->now = (struct ctx){.op = OP_RESET};
    uint32_t demcr = 0, v = 0;
    if ((rc = q_scs(p)) != 0 || (rc = q_ap_read(p, BD_DEMCR, &demcr, 0, 0)) != 0 ||
        (rc = drain(p)) != 0)
        return rc;
    uint32_t catch = halt ? demcr | VC_CORERESET : demcr & ~VC_CORERESET;
    if ((rc = q_ap_write(p, BD_DEMCR, catch)) != 0 ||
        (rc = q_ap_read(p, BD_DHCSR, NULL, 0, 0)) != 0 || /* reading clears S_RESET_ST */
        (rc = q_csw(p, 2u)) != 0 || (rc = q_tar(p, SCS_AIRCR)) != 0 ||
        (rc = q_ap_write(p, AP_DRW, 0x05FA0004u)) != 0) /* VECTKEY | SYSRESETREQ */
        return rc;
    rc = drain(p);
    forget_ap_state(p);
    if (rc == PV_PROBE_ERR_DEAD || p->broken)
        return rc;
    /* Some parts drop the AIRCR write's answer as the reset hits: only what follows counts. */
    uint32_t seen = 0;
    rc = poll_dhcsr(p, halt ? S_HALT | S_RESET_ST : S_RESET_ST, p->timeout_ms / 2, &v, &seen);
    if (rc == PV_PROBE_ERR_TIMEOUT && !(seen & S_RESET_ST)) {
        /* SYSRESETREQ did not reset it: the probe's reset line instead */
        static const uint8_t rst[] = {ID_RESET_TARGET};
        size_t n = 0;
        if ((rc = command(p, rst, 1, &n)) != 0)
            return rc;
        rc = poll_dhcsr(p, halt ? S_HALT | S_RESET_ST : S_RESET_ST, p->timeout_ms / 2, &v, &seen);
    } else if (rc == PV_PROBE_ERR_TIMEOUT && halt) {
        rc = poll_dhcsr(p, S_HALT, p->timeout_ms / 2, &v, &seen);
    }
    if (rc == PV_PROBE_ERR_TIMEOUT)
        return fail(p, rc, "cmsis-dap: the core did not %s after reset (DHCSR 0x%08x)",
                    halt ? "halt" : "restart", (unsigned)v);
    if (rc)
        return rc;
    p->now = (struct ctx){.op = OP_RESET};
    if (halt && !(demcr & VC_CORERESET)) /* no vector catch left behind */
        return q_ap_write(p, BD_DEMCR, demcr);
    return PV_PROBE_OK;
}

static int cmsisdap_reset_halt(pv_probe *p)
{
    return reset(p, true);
}

static int cmsisdap_monitor(pv_probe *p, const char *cmd, char *out, size_t out_len)
{
    if (out && out_len)
        out[0] = 0;
    if (strcmp(cmd, "reset halt") == 0)
        return reset(p, true);
    if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "reset run") == 0)
        return reset(p, false);
    if (strcmp(cmd, "halt") == 0)
        return cmsisdap_halt(p);
    if (strcmp(cmd, "info") == 0) {
        if (out && out_len)
            snprintf(out, out_len, "%s\n", p->desc);
        return PV_PROBE_OK;
    }
    return fail(p, PV_PROBE_ERR_UNSUPPORTED,
                "cmsis-dap: no monitor command '%s' (there are: info, halt, reset halt, reset)",
                cmd);
}

static void cmsisdap_stats(pv_probe *p, struct pv_probe_stats *st)
{
    *st = p->t->st;
}

static const char *cmsisdap_error(pv_probe *p)
{
    return p->err;
}

static void cmsisdap_disconnect(pv_probe *p)
{
    if (!p)
        return;
    if (p->t) {
        if (!p->broken) {
            drain(p);
            static const uint8_t disc[] = {ID_DISCONNECT};
            size_t n = 0;
            command(p, disc, 1, &n);
        }
        p->t->close(p->t);
    }
    free(p->flight);
    free(p->slots);
    free(p);
}

/* ---- connecting ---- */

static int open_transport(const char *target, int timeout_ms, struct dap_transport **t, char *err,
                          size_t err_len)
{
    if (strncmp(target, "tcp:", 4) == 0)
        return dap_transport_tcp_open(t, target + 4, timeout_ms, err, err_len);
    if (strcmp(target, "usb") == 0)
        return dap_transport_usb_open(t, NULL, timeout_ms, err, err_len);
    if (strncmp(target, "usb:", 4) == 0)
        return dap_transport_usb_open(t, target + 4, timeout_ms, err, err_len);
    snprintf(err, err_len,
             "cmsis-dap: target '%s' is none of: usb (the only probe), usb:<serial>, "
             "tcp:<host>:<port> (DAP over TCP, e.g. the sim's --dap-port)",
             target);
    return PV_PROBE_ERR_IO;
}

static int setup(pv_probe *p)
{
    uint8_t b[8];
    size_t n = 0;
    int rc;
    if ((rc = info(p, 0xFF, b, sizeof b, &n)) != 0)
        return rc;
    if (n != 2 || (b[0] | b[1] << 8) < 64)
        return fail(p, PV_PROBE_ERR_PROTOCOL,
                    "cmsis-dap: the probe reports no usable packet "
                    "size (DAP_Info 0xFF)");
    size_t size = (size_t)(b[0] | b[1] << 8);
    if ((rc = info(p, 0xFE, b, sizeof b, &n)) != 0)
        return rc;
    unsigned count = n == 1 && b[0] ? b[0] : 1;
    if ((rc = info(p, 0xF0, b, sizeof b, &n)) != 0)
        return rc;
    if (n < 1 || !(b[0] & 1u))
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "cmsis-dap: the probe cannot do SWD");
    p->t->packet_size = size;
    p->pkt_size = size < MAX_PKT ? size : MAX_PKT;
    p->window = count < MAX_INFLIGHT ? count : MAX_INFLIGHT;
    char vendor[64], product[80], serial[64], version[32];
    info_str(p, 0x01, vendor, sizeof vendor);
    info_str(p, 0x02, product, sizeof product);
    info_str(p, 0x03, serial, sizeof serial);
    info_str(p, 0x04, version, sizeof version);
    snprintf(p->desc, sizeof p->desc, "%s %s, serial %s, CMSIS-DAP %s, packets %zu x %u over %s",
             vendor, product, serial, version, size, count, p->t->name);
    if (!(p->flight = calloc(p->window, sizeof *p->flight)))
        return fail(p, PV_PROBE_ERR_IO, "cmsis-dap: out of memory");

    static const uint8_t clock[] = {ID_SWJ_CLOCK, 0x00, 0x12, 0x7A, 0x00};      /* 8 MHz */
    static const uint8_t xcfg[] = {ID_TRANSFER_CONFIGURE, 0, 0x80, 0x00, 0, 0}; /* WAIT x128 */
    static const uint8_t swdcfg[] = {ID_SWD_CONFIGURE, 0x00}; /* 1 turnaround, no data phase */
    static const uint8_t conn[] = {ID_CONNECT, 1};            /* SWD */
    if ((rc = command_ok(p, clock, sizeof clock, "the SWD clock")) != 0 ||
        (rc = command_ok(p, xcfg, sizeof xcfg, "DAP_TransferConfigure")) != 0 ||
        (rc = command_ok(p, swdcfg, sizeof swdcfg, "DAP_SWD_Configure")) != 0 ||
        (rc = command(p, conn, sizeof conn, &n)) != 0)
        return rc;
    if (n < 2 || p->rx[1] != 1)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "cmsis-dap: the probe refused to connect in SWD");
    uint32_t dpidr = 0, idr = 0, dhcsr = 0;
    if ((rc = swd_attach(p, &dpidr)) != 0)
        return rc;
    if ((rc = power_up(p)) != 0)
        return rc;
    p->now = (struct ctx){.op = OP_SETUP};
    if ((rc = q_ap_read(p, AP_IDR, &idr, 0, 0)) != 0 || (rc = drain(p)) != 0)
        return rc;
    /* a MEM-AP (class 0b1000) on AHB (type 1: AHB3, 8: AHB5) */
    if (((idr >> 13) & 0xFu) != 8u || ((idr & 0xFu) != 1u && (idr & 0xFu) != 8u))
        return fail(p, PV_PROBE_ERR_UNSUPPORTED,
                    "cmsis-dap: AP 0 is not an AHB-AP (IDR 0x%08x, DPIDR 0x%08x)", (unsigned)idr,
                    (unsigned)dpidr);
    if ((rc = read_dhcsr(p, &dhcsr)) != 0)
        return rc;
    if (!(dhcsr & C_DEBUGEN)) { /* enable halting debug without changing the run state */
        p->now = (struct ctx){.op = OP_SETUP};
        if ((rc = q_ap_write(p, BD_DHCSR, DBGKEY | C_DEBUGEN)) != 0 || (rc = drain(p)) != 0)
            return rc;
    }
    size_t dl = strlen(p->desc);
    snprintf(p->desc + dl, sizeof p->desc - dl, "; DPIDR 0x%08x, AHB-AP IDR 0x%08x",
             (unsigned)dpidr, (unsigned)idr);
    return PV_PROBE_OK;
}

static int cmsisdap_connect(pv_probe **out, const char *target, int timeout_ms, char *err,
                            size_t err_len)
{
    *out = NULL;
    pv_probe *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, err_len, "cmsis-dap: out of memory");
        return PV_PROBE_ERR_IO;
    }
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    p->pkt_size = 64;
    p->window = 1;
    int rc = open_transport(target, p->timeout_ms, &p->t, err, err_len);
    if (rc) {
        free(p);
        return rc;
    }
    rc = setup(p);
    if (rc) {
        snprintf(err, err_len, "%s", p->err);
        p->broken = true; /* no goodbye on a failed connect */
        cmsisdap_disconnect(p);
        return rc;
    }
    *out = p;
    return PV_PROBE_OK;
}

const struct pv_probe_ops pv_probe_cmsisdap_ops = {
    .name = "cmsis-dap",
    .mem_while_running = true,
    .connect = cmsisdap_connect,
    .halt = cmsisdap_halt,
    .reset_halt = cmsisdap_reset_halt,
    .read_mem = cmsisdap_read_mem,
    .write_mem = cmsisdap_write_mem,
    .read_reg = cmsisdap_read_reg,
    .write_reg = cmsisdap_write_reg,
    .resume = cmsisdap_resume,
    .wait_halt = cmsisdap_wait_halt,
    .flush = cmsisdap_flush,
    .monitor = cmsisdap_monitor,
    .stats = cmsisdap_stats,
    .error = cmsisdap_error,
    .disconnect = cmsisdap_disconnect,
};
