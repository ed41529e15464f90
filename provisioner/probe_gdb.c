/* Probe backend over the GDB remote serial protocol (the sim's server, OpenOCD's, pyOCD's...).
 *
 * Round trips are what costs over a tunnel, so: no-ack mode when the server offers it
 * (QStartNoAckMode), the server's PacketSize for every request, binary X writes (only '#', '$'
 * and '}' escaped: the three the protocol requires of a client), and posting: writes and resumes go
 * out without waiting, and their answers are collected, in order, when the station next needs an
 * answer. Reads of many packets are sent back to back and answered together. Registers are numbered
 * as the server's target.xml says (OpenOCD, pyOCD and QEMU differ), with r0-r15 and 'g' as the
 * fallback. Stop replies (S/T) can arrive at any time while the core runs; they are noted, never
 * mistaken for a data answer. Every wait is bounded by the connect timeout. What the server sends
 * is parsed by gdb_reply.c; this file does the I/O and the requests. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gdb_reply.h"
#include "probe.h"
#include "probe_util.h"

#define PKT_MAX      PV_RSP_PKT_MAX
#define DEFAULT_SIZE 400u /* PacketSize when the server does not say (GDB's default) */

struct pv_probe {
    int fd;
    int timeout_ms;
    bool noack;
    size_t pkt_size;
    uint8_t *out;
    size_t out_len, out_cap;
    uint8_t *in;
    size_t in_len;
    char *pkt; /* the last packet received, decoded, NUL-terminated */
    size_t pkt_len;
    unsigned posted; /* answers owed for requests sent without waiting */
    int posted_err;  /* first error among them */
    bool running;    /* resumed; no stop reply yet */
    bool closed;     /* the server closed the connection */
    bool flushed;    /* sent something since the last wait: the next wait is a round trip */
    int stop_signal; /* of the last stop reply */
    int regnum[PV_REG_COUNT];
    uint8_t regbytes[PV_REG_COUNT];
    bool have_p; /* the server answers p/P */
    struct pv_probe_stats st;
    char err[256];
};

static const char hexdig[] = "0123456789abcdef";

/* Formats the message into p->err and returns code. */
#define fail(p, code, ...) pv_probe_errf((p)->err, sizeof(p)->err, (code), __VA_ARGS__)

/* ---- raw I/O ---- */

static int out_reserve(pv_probe *p, size_t n)
{
    if (p->out_len + n <= p->out_cap)
        return 0;
    size_t cap = p->out_cap ? p->out_cap : 4096;
    while (cap < p->out_len + n)
        cap *= 2;
    uint8_t *o = realloc(p->out, cap);
    if (!o)
        return -1;
    p->out = o;
    p->out_cap = cap;
    return 0;
}

static int flush_out(pv_probe *p)
{
    switch (pv_probe_send_all(p->fd, p->out, p->out_len, p->timeout_ms, -1, NULL, NULL)) {
    case PV_PROBE_SEND_OK:
        break;
    case PV_PROBE_SEND_CLOSED:
        return fail(p, PV_PROBE_ERR_DEAD,
                    "gdb: server dropped the connection (debug port disabled, or the server "
                    "went away)");
    case PV_PROBE_SEND_FAILED:
        return fail(p, PV_PROBE_ERR_IO, "gdb: send failed: %s", strerror(errno));
    default:
        return fail(p, PV_PROBE_ERR_TIMEOUT, "gdb: server does not take data (%d ms)",
                    p->timeout_ms);
    }
    p->st.bytes_out += p->out_len;
    if (p->out_len)
        p->flushed = true;
    p->out_len = 0;
    return PV_PROBE_OK;
}

/* Reads more bytes, waiting until the deadline. */
static int fill_in(pv_probe *p, uint64_t deadline)
{
    if (p->flushed) { /* waiting for an answer to what went out: one round trip */
        p->st.round_trips++;
        p->flushed = false;
    }
    if (p->in_len >= PKT_MAX * 2)
        return fail(p, PV_PROBE_ERR_PROTOCOL, "gdb: server sent an over-long packet");
    for (;;) {
        ssize_t r = recv(p->fd, p->in + p->in_len, PKT_MAX * 2 - p->in_len, 0);
        if (r > 0) {
            p->in_len += (size_t)r;
            p->st.bytes_in += (uint64_t)r;
            return PV_PROBE_OK;
        }
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            p->closed = true;
            return fail(p, PV_PROBE_ERR_DEAD,
                        "gdb: server closed the connection (debug port disabled, or the server "
                        "went away)");
        }
        if (errno != EAGAIN && errno != EINTR)
            return fail(p, PV_PROBE_ERR_IO, "gdb: receive failed: %s", strerror(errno));
        int left = (int)(deadline - pv_probe_now_ms());
        if (left <= 0)
            return fail(p, PV_PROBE_ERR_TIMEOUT, "gdb: no answer within %d ms", p->timeout_ms);
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        poll(&pfd, 1, left);
    }
}

/* ---- packets ---- */

static int put_packet(pv_probe *p, const void *payload, size_t len)
{
    if (out_reserve(p, len + 4))
        return fail(p, PV_PROBE_ERR_IO, "gdb: out of memory");
    const uint8_t *b = payload;
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += b[i];
    p->out[p->out_len++] = '$';
    memcpy(p->out + p->out_len, b, len);
    p->out_len += len;
    p->out[p->out_len++] = '#';
    p->out[p->out_len++] = (uint8_t)hexdig[(sum >> 4) & 15];
    p->out[p->out_len++] = (uint8_t)hexdig[sum & 15];
    p->st.packets++;
    return PV_PROBE_OK;
}

static int put_str(pv_probe *p, const char *s)
{
    return put_packet(p, s, strlen(s));
}

/* Decodes one complete packet from the input into p->pkt (escapes and run-length undone).
 * Returns 1 if one was there, 0 if more bytes are needed, or an error. */
static int take_packet(pv_probe *p)
{
    size_t used = 0;
    int rc = pv_rsp_take_packet(p->in, p->in_len, p->noack, p->pkt, &p->pkt_len, &used);
    switch (rc) {
    case PV_RSP_ERR_NAK:
        return fail(p, PV_PROBE_ERR_PROTOCOL, "gdb: server asked for a retransmission");
    case PV_RSP_ERR_CHECKSUM:
        return fail(p, PV_PROBE_ERR_PROTOCOL, "gdb: packet with a bad checksum");
    case PV_RSP_ERR_RLE:
        return fail(p, PV_PROBE_ERR_PROTOCOL, "gdb: bad run-length encoding");
    case PV_RSP_ERR_TOO_LONG:
        return fail(p, PV_PROBE_ERR_PROTOCOL, "gdb: packet too long");
    default:
        break;
    }
    memmove(p->in, p->in + used, p->in_len - used);
    p->in_len -= used;
    if (rc == 1 && !p->noack) {
        if (out_reserve(p, 1))
            return fail(p, PV_PROBE_ERR_IO, "gdb: out of memory");
        p->out[p->out_len++] = '+';
    }
    return rc;
}

static bool is_stop_reply(const pv_probe *p)
{
    return pv_rsp_is_stop_reply(p->pkt, p->pkt_len, p->running);
}

static bool is_console(const pv_probe *p)
{
    return pv_rsp_is_console(p->pkt, p->pkt_len);
}

/* Next packet of any kind, sending what is queued first. */
static int next_packet(pv_probe *p, uint64_t deadline)
{
    int rc = flush_out(p);
    while (rc == PV_PROBE_OK) {
        rc = take_packet(p);
        if (rc == 1) {
            bool was = p->flushed; /* our '+' in ack mode is no new request */
            rc = flush_out(p);
            p->flushed = was;
            return rc;
        }
        if (rc < 0)
            return rc;
        rc = fill_in(p, deadline);
    }
    return rc;
}

static int note_stop(pv_probe *p)
{
    p->running = false;
    p->stop_signal = pv_rsp_stop_signal(p->pkt);
    if (p->pkt[0] == 'W' || p->pkt[0] == 'X')
        return fail(p, PV_PROBE_ERR_DEAD, "gdb: target exited (%s)", p->pkt);
    return PV_PROBE_OK;
}

/* The answer to the oldest outstanding request (console output and stop replies skipped). */
static int get_answer(pv_probe *p)
{
    uint64_t deadline = pv_probe_now_ms() + (uint64_t)p->timeout_ms;
    for (;;) {
        int rc = next_packet(p, deadline);
        if (rc)
            return rc;
        if (is_console(p))
            continue;
        if (is_stop_reply(p)) {
            if ((rc = note_stop(p)) != 0)
                return rc;
            continue;
        }
        return PV_PROBE_OK;
    }
}

/* Collects the answers owed for posted requests; keeps the first error. */
static int drain(pv_probe *p)
{
    while (p->posted) {
        int rc = get_answer(p);
        if (rc)
            return rc;
        p->posted--;
        if (strcmp(p->pkt, "OK") != 0 && !p->posted_err)
            p->posted_err = fail(p, p->pkt[0] == 'E' ? PV_PROBE_ERR_TARGET : PV_PROBE_ERR_PROTOCOL,
                                 "gdb: write or reset refused by the target (%s)",
                                 p->pkt_len ? p->pkt : "empty answer: not supported by the server");
    }
    return PV_PROBE_OK;
}

/* Sends a request and returns its answer in p->pkt (after the posted ones). */
static int request(pv_probe *p, const char *payload)
{
    int rc = put_str(p, payload);
    if (!rc)
        rc = drain(p);
    if (!rc)
        rc = get_answer(p);
    return rc;
}

/* A request whose only answer is OK, sent without waiting when the server runs without acks. */
static int post(pv_probe *p, const void *payload, size_t len)
{
    int rc = put_packet(p, payload, len);
    if (rc)
        return rc;
    p->posted++;
    if (p->noack && p->out_len < 64 * 1024)
        return PV_PROBE_OK;
    rc = drain(p);
    return rc ? rc : p->posted_err;
}

/* ---- operations ---- */

static int gdb_flush(pv_probe *p)
{
    int rc = drain(p);
    if (!rc)
        rc = flush_out(p);
    if (!rc)
        rc = p->posted_err;
    p->posted_err = 0;
    return rc;
}

static int gdb_read_many(pv_probe *p, const struct pv_probe_read *v, size_t nv)
{
    size_t chunk = p->pkt_size / 2 - 16, off, n;
    char req[40];
    /* all requests first, then the answers: one round trip for every range */
    for (size_t i = 0; i < nv; i++)
        for (off = 0; off < v[i].len; off += n) {
            n = v[i].len - off < chunk ? v[i].len - off : chunk;
            snprintf(req, sizeof req, "m%x,%zx", (unsigned)(v[i].addr + off), n);
            int rc = put_str(p, req);
            if (rc)
                return rc;
        }
    int rc = drain(p);
    int err = 0;
    for (size_t i = 0; i < nv && !rc; i++)
        for (off = 0; off < v[i].len && !rc; off += n) {
            n = v[i].len - off < chunk ? v[i].len - off : chunk;
            rc = get_answer(p);
            if (rc || err)
                continue;
            if (p->pkt[0] == 'E' ||
                pv_rsp_decode_mem(p->pkt, p->pkt_len, (uint8_t *)v[i].buf + off, n))
                err = fail(p, p->pkt[0] == 'E' ? PV_PROBE_ERR_TARGET : PV_PROBE_ERR_PROTOCOL,
                           "gdb: read of %zu bytes at 0x%08x refused (%s)", n,
                           (unsigned)(v[i].addr + off), p->pkt_len > 16 ? "short answer" : p->pkt);
        }
    return rc ? rc : err;
}

static int gdb_read_mem(pv_probe *p, uint32_t addr, void *buf, size_t len)
{
    const struct pv_probe_read r = {addr, buf, len};
    return gdb_read_many(p, &r, 1);
}

/* What the protocol requires a client to escape in binary data ('*' only in replies). */
static bool needs_escape(uint8_t c)
{
    return c == '#' || c == '$' || c == '}';
}

static int gdb_write_mem(pv_probe *p, uint32_t addr, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    size_t off = 0;
    uint8_t *pk = malloc(p->pkt_size + 8);
    if (!pk)
        return fail(p, PV_PROBE_ERR_IO, "gdb: out of memory");
    int rc = PV_PROBE_OK;
    while (off < len && !rc) {
        /* header, then as much escaped data as fits the server's packet size */
        int h = snprintf((char *)pk, 32, "X%x,", (unsigned)(addr + off));
        size_t room = p->pkt_size - 4 - (size_t)h - 10, cnt = 0, esc = 0;
        while (off + cnt < len && esc + (needs_escape(b[off + cnt]) ? 2 : 1) <= room)
            esc += needs_escape(b[off + cnt++]) ? 2 : 1;
        size_t m = (size_t)h + (size_t)snprintf((char *)pk + h, 16, "%zx:", cnt);
        for (size_t n = 0; n < cnt; n++) {
            uint8_t c = b[off + n];
            if (needs_escape(c)) {
                pk[m++] = '}';
                pk[m++] = c ^ 0x20;
            } else {
                pk[m++] = c;
            }
        }
        rc = post(p, pk, m);
        off += cnt;
    }
    free(pk);
    return rc;
}

static int reg_index(pv_probe *p, enum pv_probe_reg r)
{
    return (unsigned)r < PV_REG_COUNT ? p->regnum[r] : -1;
}

static int gdb_read_reg(pv_probe *p, enum pv_probe_reg r, uint32_t *val)
{
    int num = reg_index(p, r);
    if (num < 0)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "gdb: the server has no register %d", (int)r);
    char req[16];
    int rc;
    if (p->have_p) {
        snprintf(req, sizeof req, "p%x", (unsigned)num);
        if ((rc = request(p, req)) != 0)
            return rc;
        if (p->pkt_len == 0)
            p->have_p = false; /* not supported: fall back to g */
    }
    size_t at = 0;
    if (!p->have_p) {
        if (num > 16)
            return fail(p, PV_PROBE_ERR_UNSUPPORTED, "gdb: register %d needs p packets", num);
        if ((rc = request(p, "g")) != 0)
            return rc;
        at = (size_t)num * 8;
    }
    uint32_t v = 0;
    if (p->pkt[0] == 'E' || pv_rsp_decode_reg(p->pkt, p->pkt_len, at, &v))
        return fail(p, PV_PROBE_ERR_TARGET, "gdb: register %d not readable (%s)", num, p->pkt);
    *val = v;
    return PV_PROBE_OK;
}

static int gdb_write_reg(pv_probe *p, enum pv_probe_reg r, uint32_t val)
{
    int num = reg_index(p, r);
    if (num < 0)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "gdb: the server has no register %d", (int)r);
    char req[40];
    int n = snprintf(req, sizeof req, "P%x=", (unsigned)num);
    for (unsigned i = 0; i < p->regbytes[r]; i++, val >>= 8) {
        req[n++] = hexdig[(val >> 4) & 15];
        req[n++] = hexdig[val & 15];
    }
    return post(p, req, (size_t)n);
}

static int gdb_resume(pv_probe *p, const uint32_t *pc)
{
    char req[16];
    if (pc)
        snprintf(req, sizeof req, "c%x", (unsigned)*pc);
    else
        snprintf(req, sizeof req, "c");
    int rc = put_str(p, req);
    if (!rc)
        rc = flush_out(p);
    if (!rc)
        p->running = true;
    return rc;
}

static int gdb_wait_halt(pv_probe *p, int timeout_ms)
{
    int rc = drain(p);
    if (rc)
        return rc;
    uint64_t deadline = pv_probe_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : p->timeout_ms);
    while (p->running) {
        if ((rc = next_packet(p, deadline)) != 0)
            return rc == PV_PROBE_ERR_TIMEOUT
                       ? fail(p, rc, "gdb: core did not halt within %d ms", timeout_ms)
                       : rc;
        if (is_stop_reply(p)) {
            if ((rc = note_stop(p)) != 0)
                return rc;
        } else if (!is_console(p)) {
            return fail(p, PV_PROBE_ERR_PROTOCOL, "gdb: unexpected packet while running (%s)",
                        p->pkt);
        }
    }
    int err = p->posted_err;
    p->posted_err = 0;
    return err;
}

static int gdb_halt(pv_probe *p)
{
    int rc = drain(p);
    if (rc || !p->running)
        return rc;
    if (out_reserve(p, 1))
        return fail(p, PV_PROBE_ERR_IO, "gdb: out of memory");
    p->out[p->out_len++] = 0x03;
    return gdb_wait_halt(p, p->timeout_ms);
}

static int gdb_monitor(pv_probe *p, const char *cmd, char *out, size_t out_len)
{
    size_t n = strlen(cmd), used = 0;
    char *req = malloc(2 * n + 8);
    if (!req)
        return fail(p, PV_PROBE_ERR_IO, "gdb: out of memory");
    memcpy(req, "qRcmd,", 6);
    for (size_t i = 0; i < n; i++) {
        req[6 + 2 * i] = hexdig[(unsigned char)cmd[i] >> 4];
        req[7 + 2 * i] = hexdig[(unsigned char)cmd[i] & 15];
    }
    req[6 + 2 * n] = 0;
    int rc = put_str(p, req);
    free(req);
    if (!rc)
        rc = drain(p);
    if (out && out_len)
        out[0] = 0;
    uint64_t deadline = pv_probe_now_ms() + (uint64_t)p->timeout_ms;
    while (!rc) {
        if ((rc = next_packet(p, deadline)) != 0)
            break;
        if (is_stop_reply(p)) {
            rc = note_stop(p);
            continue;
        }
        bool console = is_console(p);
        if (!console && strcmp(p->pkt, "OK") == 0)
            break;
        if (!console && p->pkt[0] == 'E' && p->pkt_len == 3) {
            rc = fail(p, PV_PROBE_ERR_TARGET, "gdb: monitor '%s' failed: %s", cmd,
                      out ? out : p->pkt);
            break;
        }
        if (p->pkt_len == 0) {
            rc = fail(p, PV_PROBE_ERR_UNSUPPORTED, "gdb: server has no monitor commands");
            break;
        }
        if (out && out_len)
            used = pv_rsp_decode_text(p->pkt + (console ? 1 : 0), p->pkt_len - (console ? 1 : 0),
                                      out, out_len, used);
        if (!console)
            break; /* a result (hex without O) ends the command */
    }
    return rc;
}

/* `monitor reset halt`. Without acks it is posted like a write: its console lines and its OK are
 * collected with the next answer (a dead debug port then shows at the next request). */
static int gdb_reset_halt(pv_probe *p)
{
    int rc;
    if (p->noack && !p->running) {
        static const char req[] = "qRcmd,72657365742068616c74"; /* "reset halt" in hex */
        rc = post(p, req, sizeof req - 1);
    } else {
        rc = gdb_monitor(p, "reset halt", NULL, 0);
    }
    if (!rc)
        p->running = false;
    return rc;
}

static void gdb_stats(pv_probe *p, struct pv_probe_stats *st)
{
    *st = p->st;
}

static const char *gdb_error(pv_probe *p)
{
    return p->err;
}

static void gdb_disconnect(pv_probe *p)
{
    if (!p)
        return;
    if (p->fd >= 0 && !p->closed) { /* nothing to say to a server that hung up */
        if (p->running)
            gdb_halt(p);
        drain(p);
        put_str(p, "D");
        flush_out(p);
    }
    if (p->fd >= 0)
        close(p->fd);
    free(p->out);
    free(p->in);
    free(p->pkt);
    free(p);
}

/* ---- connecting ---- */

/* Reads target.xml; with then_stop, the '?' goes out right behind the first request (no-ack
 * mode only: a server waiting for our ack must not get a packet instead) and its stop reply is
 * noted on the way. */
static int read_target_xml(pv_probe *p, bool then_stop)
{
    size_t cap = 65536, len = 0;
    char *doc = malloc(cap + 1);
    if (!doc)
        return fail(p, PV_PROBE_ERR_IO, "gdb: out of memory");
    for (;;) {
        char req[80];
        snprintf(req, sizeof req, "qXfer:features:read:target.xml:%zx,%zx", len,
                 p->pkt_size / 2 - 16);
        int rc = put_str(p, req);
        if (!rc && then_stop) {
            p->running = true; /* its answer is a stop reply, which get_answer notes */
            rc = put_str(p, "?");
            then_stop = false;
        }
        if (!rc)
            rc = drain(p);
        if (!rc)
            rc = get_answer(p);
        if (rc || (p->pkt[0] != 'm' && p->pkt[0] != 'l') || len + p->pkt_len - 1 > cap) {
            free(doc);
            return rc ? rc : PV_PROBE_ERR_UNSUPPORTED;
        }
        memcpy(doc + len, p->pkt + 1, p->pkt_len - 1);
        len += p->pkt_len - 1;
        if (p->pkt[0] == 'l')
            break;
    }
    doc[len] = 0;
    pv_rsp_target_xml_regs(doc, p->regnum, p->regbytes);
    free(doc);
    return PV_PROBE_OK;
}

static int gdb_connect(pv_probe **out, const char *target, int timeout_ms, char *err,
                       size_t err_len)
{
    *out = NULL;
    char host[256];
    const char *port = pv_probe_split_hostport(target, host, sizeof host);
    if (!port) {
        snprintf(err, err_len, "gdb: target '%s' is not HOST:PORT (e.g. 127.0.0.1:3333)", target);
        return PV_PROBE_ERR_IO;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, err_len, "gdb: cannot resolve '%s': %s", target, gai_strerror(gai));
        return PV_PROBE_ERR_IO;
    }
    pv_probe *p = calloc(1, sizeof *p);
    if (!p || !(p->in = malloc(PKT_MAX * 2)) || !(p->pkt = malloc(PKT_MAX + 1))) {
        freeaddrinfo(ai);
        if (p) {
            free(p->in);
            free(p);
        }
        snprintf(err, err_len, "gdb: out of memory");
        return PV_PROBE_ERR_IO;
    }
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    p->fd = pv_probe_tcp_connect(ai, p->timeout_ms);
    int rc = p->fd >= 0 ? PV_PROBE_OK : PV_PROBE_ERR_IO;
    freeaddrinfo(ai);
    if (rc) {
        snprintf(err, err_len, "gdb: cannot connect to %s: %s", target, strerror(errno));
        gdb_disconnect(p);
        return rc;
    }
    p->pkt_size = DEFAULT_SIZE;
    for (int i = 0; i < PV_REG_COUNT; i++)
        p->regnum[i] = i <= PV_REG_PC ? i : -1;
    for (int i = 0; i < PV_REG_COUNT; i++)
        p->regbytes[i] = 4;
    p->regnum[PV_REG_XPSR] = 16; /* the 'g' layout's 17th word */
    p->have_p = true;
    rc = request(p, "qSupported:swbreak+;hwbreak+;xmlRegisters=arm");
    if (!rc) {
        const char *ps = strstr(p->pkt, "PacketSize=");
        if (ps) {
            size_t v = strtoul(ps + 11, NULL, 16);
            p->pkt_size = v < 64 ? 64 : v > PKT_MAX ? PKT_MAX : v;
        }
        bool noack = strstr(p->pkt, "QStartNoAckMode+") != NULL;
        bool xml = strstr(p->pkt, "qXfer:features:read+") != NULL;
        if (noack && request(p, "QStartNoAckMode") == 0 && strcmp(p->pkt, "OK") == 0)
            p->noack = true;
        /* '?' is answered with a stop reply: the core is halted (the usual attach behaviour).
         * Without acks it travels with the first request for target.xml: one round trip. */
        bool stop_sent = xml && p->noack;
        if (xml)
            read_target_xml(p, stop_sent); /* without it the defaults above stay */
        if (!stop_sent) {
            p->running = true;
            rc = put_str(p, "?");
        }
        if (!rc)
            rc = gdb_wait_halt(p, p->timeout_ms);
    }
    if (rc) {
        snprintf(err, err_len, "%s", p->err);
        gdb_disconnect(p);
        return rc;
    }
    *out = p;
    return PV_PROBE_OK;
}

const struct pv_probe_ops pv_probe_gdb_ops = {
    .name = "gdb",
    .connect = gdb_connect,
    .halt = gdb_halt,
    .reset_halt = gdb_reset_halt,
    .read_mem = gdb_read_mem,
    .write_mem = gdb_write_mem,
    .read_reg = gdb_read_reg,
    .write_reg = gdb_write_reg,
    .resume = gdb_resume,
    .wait_halt = gdb_wait_halt,
    .flush = gdb_flush,
    .monitor = gdb_monitor,
    .stats = gdb_stats,
    .error = gdb_error,
    .disconnect = gdb_disconnect,
    .read_many = gdb_read_many,
};
