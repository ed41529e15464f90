/* Probe backend over OpenOCD's Tcl RPC port (STM32F4-FACTS §6): the path for ST-Link, J-Link,
 * FTDI, remote_bitbang and anything else OpenOCD drives.
 *
 * Target strings: "HOST:PORT" attaches to a running OpenOCD's Tcl port; "spawn:ARGS" starts
 * OpenOCD with ARGS (its -f/-c arguments, split like a shell would) plus our own server settings:
 * GDB and telnet ports disabled, the Tcl port on a free loopback port. That OpenOCD runs in its
 * own process group (a Ctrl-C at the terminal reaches the station, which then shuts it down), dies
 * with the station (PR_SET_PDEATHSIG), and is stopped at disconnect (openocd_process.c, which also
 * reads its log: "Error:" lines enrich our messages and tell a dead debug port from other
 * failures). This file is the Tcl RPC client; openocd_reply.c parses what OpenOCD answers.
 *
 * Round trips: every message is one Tcl script in one catch, so its reply carries the Tcl return
 * code and result: `format "%d %d %s" code stage result`. Memory travels as write_memory /
 * read_memory lists (words where aligned, 16384 per command). Writes, register writes and resumes
 * are posted: appended to a script that goes out with the next request that needs an answer (one
 * round trip for both), or on its own, unanswered for now, once it grows large. Every wait is
 * bounded by the connect timeout. */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "openocd_process.h"
#include "openocd_reply.h"
#include "probe.h"
#include "probe_util.h"

#define POST_LIMIT    (512 * 1024) /* send a posted script on its own beyond this */
#define WORDS_PER_CMD 16384u

struct pv_probe {
    int fd;
    int timeout_ms;
    struct ocd_process proc; /* the OpenOCD we started (pid 0 when attached) and its log */
    char *script;            /* posted commands not sent yet */
    size_t script_len, script_cap;
    unsigned posted; /* replies owed for posted scripts already sent */
    int posted_err;  /* the first failure among them, and its message */
    char posted_msg[640];
    struct pv_ocd_rx rx; /* received bytes and the last reply */
    bool flushed;
    /* Halted by our own reset (ocd_reset_halt), which OpenOCD did not see: its register cache and
     * run state are stale, so registers go through DCRSR/DCRDR and the resume through DHCSR until
     * the core runs again. */
    bool raw_halted;
    struct pv_probe_stats st;
    char err[640];
};

static const char *const reg_names[PV_REG_COUNT] = {
    "r0",  "r1",  "r2", "r3", "r4", "r5",   "r6",  "r7",  "r8",      "r9",     "r10",
    "r11", "r12", "sp", "lr", "pc", "xPSR", "msp", "psp", "primask", "control"};

/* Formats the message into p->err and returns code. */
#define fail(p, code, ...) pv_probe_errf((p)->err, sizeof(p)->err, (code), __VA_ARGS__)

/* A dead debug port, in text (may be NULL) or in what OpenOCD logged. */
static bool dead_port(const pv_probe *p, const char *text)
{
    return ocd_log_dead_port(&p->proc.log, text);
}

/* ---- socket ---- */

static void read_log(void *ctx)
{
    ocd_log_read(&((pv_probe *)ctx)->proc.log);
}

static int send_all(pv_probe *p, const char *b, size_t n)
{
    switch (pv_probe_send_all(p->fd, b, n, p->timeout_ms, p->proc.log.fd, read_log, p)) {
    case PV_PROBE_SEND_OK:
        break;
    case PV_PROBE_SEND_CLOSED:
        return fail(p, PV_PROBE_ERR_IO, "openocd: the Tcl connection was closed");
    case PV_PROBE_SEND_FAILED:
        return fail(p, PV_PROBE_ERR_IO, "openocd: send failed: %s", strerror(errno));
    default:
        return fail(p, PV_PROBE_ERR_TIMEOUT, "openocd: does not take commands (%d ms)",
                    p->timeout_ms);
    }
    p->st.bytes_out += n;
    p->flushed = true;
    return PV_PROBE_OK;
}

/* Sends one message (script + 0x1A). */
static int send_msg(pv_probe *p, const char *script, size_t len)
{
    int rc = send_all(p, script, len);
    if (!rc)
        rc = send_all(p, "\x1a", 1);
    if (!rc)
        p->st.packets++;
    return rc;
}

/* Receives the next reply into p->rx.reply, waiting at most ms. */
static int recv_reply(pv_probe *p, int ms)
{
    uint64_t end = pv_probe_now_ms() + (uint64_t)ms;
    for (;;) {
        int got = pv_ocd_rx_take(&p->rx);
        if (got == 1)
            return PV_PROBE_OK;
        char *at;
        size_t room;
        int rc = got < 0 ? -1 : pv_ocd_rx_room(&p->rx, &at, &room);
        if (rc == -2)
            return fail(p, PV_PROBE_ERR_PROTOCOL, "openocd: reply longer than %d bytes",
                        PV_OCD_REPLY_MAX);
        if (rc)
            return fail(p, PV_PROBE_ERR_IO, "openocd: out of memory");
        if (p->flushed) { /* waiting for the answer to what went out: one round trip */
            p->st.round_trips++;
            p->flushed = false;
        }
        ssize_t r = recv(p->fd, at, room, 0);
        if (r > 0) {
            pv_ocd_rx_commit(&p->rx, (size_t)r);
            p->st.bytes_in += (uint64_t)r;
            continue;
        }
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            read_log(p);
            if (dead_port(p, NULL))
                return fail(p, PV_PROBE_ERR_DEAD,
                            "openocd: exited, the target's debug port does not answer (RDP "
                            "Level 2, or no power): %s",
                            p->proc.log.errlines);
            return fail(p, PV_PROBE_ERR_IO, "openocd: closed the Tcl connection%s%s",
                        p->proc.log.errlines[0] ? ": " : "", p->proc.log.errlines);
        }
        if (errno != EAGAIN && errno != EINTR)
            return fail(p, PV_PROBE_ERR_IO, "openocd: receive failed: %s", strerror(errno));
        int left = (int)(end - pv_probe_now_ms());
        if (left <= 0)
            return fail(p, PV_PROBE_ERR_TIMEOUT, "openocd: no answer within %d ms", ms);
        struct pollfd pfd[2] = {{.fd = p->fd, .events = POLLIN},
                                {.fd = p->proc.log.fd, .events = POLLIN}};
        poll(pfd, p->proc.log.fd >= 0 ? 2 : 1, left);
        read_log(p);
    }
}

/* ---- scripts ---- */

static int script_add(pv_probe *p, const char *s, size_t n)
{
    if (p->script_len + n + 2 > p->script_cap) {
        size_t cap = p->script_cap ? p->script_cap : 65536;
        while (cap < p->script_len + n + 2)
            cap *= 2;
        char *b = realloc(p->script, cap);
        if (!b)
            return fail(p, PV_PROBE_ERR_IO, "openocd: out of memory");
        p->script = b;
        p->script_cap = cap;
    }
    if (p->script_len)
        p->script[p->script_len++] = '\n';
    memcpy(p->script + p->script_len, s, n);
    p->script_len += n;
    p->script[p->script_len] = 0;
    return PV_PROBE_OK;
}

/* Parses "code stage result" into its parts. */
static int parse_reply(pv_probe *p, int *code, int *stage, char **result)
{
    if (pv_ocd_parse_status(p->rx.reply, code, stage, result))
        return fail(p, PV_PROBE_ERR_PROTOCOL, "openocd: unexpected reply '%.60s'", p->rx.reply);
    return PV_PROBE_OK;
}

/* The failure behind a Tcl error: what OpenOCD said, sorted into our codes. */
static int tcl_failure(pv_probe *p, int code, const char *what, const char *text)
{
    char result[300]; /* one line */
    snprintf(result, sizeof result, "%s", text);
    for (char *c = result; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    for (size_t n = strlen(result); n && result[n - 1] == ' '; n--)
        result[n - 1] = 0;
    read_log(p);
    const char *extra = p->proc.log.errlines[0] ? p->proc.log.errlines : "";
    int rc = PV_PROBE_ERR_TARGET;
    if (dead_port(p, result))
        rc = PV_PROBE_ERR_DEAD;
    else if (code == -4 || strstr(result, "timed out") || strstr(extra, "timed out"))
        rc = PV_PROBE_ERR_TIMEOUT;
    else if (strstr(result, "invalid command name"))
        rc = PV_PROBE_ERR_UNSUPPORTED;
    return fail(p, rc, "openocd: %s failed: %s%s%s%s", what, result[0] ? result : "(no message)",
                extra[0] ? " [" : "", extra, extra[0] ? "]" : "");
}

/* Opens every script: once a posted script failed, the ones behind it do not run. */
#define SKIP_IF_FAILED                                                                             \
    "if {[info exists _pv_failed] && $_pv_failed} {error {not run: an earlier posted write "       \
    "failed}}"

/* Collects the replies owed for posted scripts; keeps the first failure. */
static int drain(pv_probe *p)
{
    while (p->posted) {
        int rc = recv_reply(p, p->timeout_ms);
        if (rc)
            return rc;
        p->posted--;
        int code, stage;
        char *res;
        if ((rc = parse_reply(p, &code, &stage, &res)) != 0)
            return rc;
        if (code != 0 && !p->posted_err) {
            p->posted_err = tcl_failure(p, code, "a posted write", res);
            memcpy(p->posted_msg, p->err, sizeof p->posted_msg);
        }
    }
    return PV_PROBE_OK;
}

/* Reports (and forgets) the first failure among the posted scripts. */
static int take_posted(pv_probe *p)
{
    int rc = p->posted_err;
    if (rc)
        memcpy(p->err, p->posted_msg, sizeof p->err);
    p->posted_err = 0;
    return rc;
}

/* Sends the posted script now, its reply to be collected later. */
static int post_now(pv_probe *p)
{
    if (!p->script_len)
        return PV_PROBE_OK;
    /* After a failure nothing posted behind it runs, until a request has reported it. */
    static const char head[] = "set _pv_c [catch {" SKIP_IF_FAILED "\n";
    static const char tail[] =
        "\n} _pv_r]; if {$_pv_c} {set _pv_failed 1}; format \"%d 0 %s\" $_pv_c $_pv_r";
    p->proc.log.errlines[0] = 0;
    int rc = send_all(p, head, sizeof head - 1);
    if (!rc)
        rc = send_all(p, p->script, p->script_len);
    if (!rc)
        rc = send_msg(p, tail, sizeof tail - 1);
    p->script_len = 0;
    if (!rc)
        p->posted++;
    return rc;
}

static int post(pv_probe *p, const char *cmd, size_t n)
{
    int rc = script_add(p, cmd, n);
    if (!rc && p->script_len >= POST_LIMIT)
        rc = post_now(p);
    return rc;
}

/* Runs cmd after whatever is posted, in one message; on success *result is its Tcl result (valid
 * until the next request). Replies owed for scripts posted earlier come first, in the same wait.
 * wait_ms bounds the wait for the answer. */
static int request_wait(pv_probe *p, const char *cmd, const char *what, char **result, int wait_ms)
{
    read_log(p);
    p->proc.log.errlines[0] = 0;
    int rc;
    static const char head[] = "set _pv_s 0; set _pv_c [catch {" SKIP_IF_FAILED "\n";
    static const char mid[] = "\nset _pv_s 1\n";
    static const char tail[] =
        "\n} _pv_r]; set _pv_failed 0; format \"%d %d %s\" $_pv_c $_pv_s $_pv_r";
    bool had_posted = p->script_len > 0;
    rc = send_all(p, head, sizeof head - 1);
    if (!rc && had_posted)
        rc = send_all(p, p->script, p->script_len);
    p->script_len = 0;
    if (!rc)
        rc = send_all(p, mid, sizeof mid - 1);
    if (!rc)
        rc = send_all(p, cmd, strlen(cmd));
    if (!rc)
        rc = send_msg(p, tail, sizeof tail - 1);
    if (!rc)
        rc = drain(p);
    if (!rc)
        rc = recv_reply(p, wait_ms);
    int code, stage;
    char *res;
    if (!rc)
        rc = parse_reply(p, &code, &stage, &res);
    if (rc)
        return rc;
    if (code != 0) { /* a posted write failed (stage 0): the request itself never ran */
        rc = tcl_failure(p, code, stage ? what : "a posted write", res);
        return p->posted_err ? take_posted(p) : rc; /* an earlier posted failure comes first */
    }
    if (p->posted_err)
        return take_posted(p);
    if (result)
        *result = res;
    return PV_PROBE_OK;
}

static int request(pv_probe *p, const char *cmd, const char *what, char **result)
{
    return request_wait(p, cmd, what, result, p->timeout_ms);
}

/* ---- operations ---- */

static int ocd_flush(pv_probe *p)
{
    if (!p->script_len && !p->posted && !p->posted_err)
        return PV_PROBE_OK;
    /* a request also clears OpenOCD's "a posted script failed" flag once it is reported */
    return request(p, "set _pv_flush 1", "a posted write", NULL);
}

/* Pieces: 8/16-bit at the unaligned ends, 32-bit words between. */
struct piece {
    uint32_t addr;
    unsigned width; /* bits */
    uint32_t count;
    size_t off;
};

static struct piece next_piece(uint32_t addr, size_t len, size_t off)
{
    if ((addr & 3u) == 0 && len >= 4) {
        size_t w = len / 4;
        return (struct piece){addr, 32, (uint32_t)(w < WORDS_PER_CMD ? w : WORDS_PER_CMD), off};
    }
    if ((addr & 1u) == 0 && len >= 2)
        return (struct piece){addr, 16, 1, off};
    return (struct piece){addr, 8, 1, off};
}

static int ocd_read_mem(pv_probe *p, uint32_t addr, void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len) {
        /* up to 256 KB per message: "concat" of read_memory results, parsed in order */
        char *cmd = NULL;
        size_t cap = 0, off = 0, chunk = len < 262144 ? len : 262144;
        struct piece pcs[64];
        size_t np = 0;
        FILE *f = open_memstream(&cmd, &cap);
        if (!f)
            return fail(p, PV_PROBE_ERR_IO, "openocd: out of memory");
        fputs("concat", f);
        while (off < chunk && np < 64) {
            struct piece pc = next_piece(addr + (uint32_t)off, chunk - off, off);
            fprintf(f, " [read_memory 0x%08x %u %u]", (unsigned)pc.addr, pc.width,
                    (unsigned)pc.count);
            pcs[np++] = pc;
            off += (size_t)pc.count * pc.width / 8;
        }
        fclose(f);
        chunk = off;
        char what[64], *res;
        snprintf(what, sizeof what, "reading %zu bytes at 0x%08x", chunk, (unsigned)addr);
        int rc = request(p, cmd, what, &res);
        free(cmd);
        if (rc)
            return rc;
        const char *s = res;
        for (size_t i = 0; i < np; i++) {
            uint32_t k = pv_ocd_parse_words(&s, pcs[i].width, pcs[i].count, b + pcs[i].off);
            if (k < pcs[i].count)
                return fail(p, PV_PROBE_ERR_PROTOCOL,
                            "openocd: read_memory at 0x%08x answered %zu values too few",
                            (unsigned)pcs[i].addr, (size_t)(pcs[i].count - k));
        }
        addr += (uint32_t)chunk;
        b += chunk;
        len -= chunk;
    }
    return PV_PROBE_OK;
}

static int ocd_write_mem(pv_probe *p, uint32_t addr, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    size_t off = 0;
    char *cmd = malloc(32 + 12 * (size_t)WORDS_PER_CMD);
    if (!cmd)
        return fail(p, PV_PROBE_ERR_IO, "openocd: out of memory");
    int rc = PV_PROBE_OK;
    while (off < len && !rc) {
        struct piece pc = next_piece(addr + (uint32_t)off, len - off, off);
        int n = sprintf(cmd, "write_memory 0x%08x %u {", (unsigned)pc.addr, pc.width);
        for (uint32_t k = 0; k < pc.count; k++) {
            const uint8_t *d = b + off + (size_t)k * pc.width / 8;
            uint32_t v = d[0];
            if (pc.width >= 16)
                v |= (uint32_t)d[1] << 8;
            if (pc.width == 32)
                v |= (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
            n += sprintf(cmd + n, k ? " 0x%x" : "0x%x", (unsigned)v);
        }
        cmd[n++] = '}';
        rc = post(p, cmd, (size_t)n);
        off += (size_t)pc.count * pc.width / 8;
    }
    free(cmd);
    return rc;
}

/* ---- registers and run control after our own reset (raw_halted) ----
 * The core's debug registers directly (STM32F4-FACTS §4.2): DHCSR 0xE000EDF0, DCRSR 0xE000EDF4
 * (REGSEL, bit 16 REGWnR), DCRDR 0xE000EDF8, DEMCR 0xE000EDFC. REGSEL is the probe.h register
 * number up to PSP; PRIMASK and CONTROL share selector 0x14 (CONTROL[31:24], PRIMASK[7:0]). */
#define RAW_REGRDY_CHECK                                                                           \
    "if {!([lindex [read_memory 0xE000EDF0 32 1] 0] & 0x10000)} {error {DHCSR.S_REGRDY clear: "    \
    "the core did not complete the register transfer}}"

static unsigned raw_regsel(enum pv_probe_reg r)
{
    return r <= PV_REG_PSP ? (unsigned)r : 0x14u;
}

static int raw_read_reg(pv_probe *p, enum pv_probe_reg r, uint32_t *val)
{
    char cmd[400], what[48], *res;
    snprintf(cmd, sizeof cmd,
             "write_memory 0xE000EDF4 32 {0x%x}; " RAW_REGRDY_CHECK
             "; format {%s 0x%%08x} [lindex [read_memory 0xE000EDF8 32 1] 0]",
             raw_regsel(r), reg_names[r]);
    snprintf(what, sizeof what, "reading register %s (DCRSR)", reg_names[r]);
    int rc = request(p, cmd, what, &res);
    if (rc)
        return rc;
    uint32_t v;
    if (pv_ocd_parse_reg(res, &v))
        return fail(p, PV_PROBE_ERR_PROTOCOL, "openocd: DCRDR read answered '%.60s'", res);
    *val = r == PV_REG_PRIMASK ? v & 1u : r == PV_REG_CONTROL ? (v >> 24) & 7u : v;
    return PV_PROBE_OK;
}

static int raw_write_reg(pv_probe *p, enum pv_probe_reg r, uint32_t val)
{
    char cmd[600];
    int n;
    if (r == PV_REG_PRIMASK || r == PV_REG_CONTROL) /* one word holds both: read, modify, write */
        n = snprintf(cmd, sizeof cmd,
                     "write_memory 0xE000EDF4 32 {0x14}; " RAW_REGRDY_CHECK
                     "; set _pv_x [lindex [read_memory 0xE000EDF8 32 1] 0]; "
                     "write_memory 0xE000EDF8 32 [list [expr {($_pv_x & 0x%x) | 0x%x}]]; "
                     "write_memory 0xE000EDF4 32 {0x10014}; " RAW_REGRDY_CHECK,
                     r == PV_REG_PRIMASK ? 0xFFFFFF00u : 0x00FFFFFFu,
                     r == PV_REG_PRIMASK ? (unsigned)(val & 1u) : (unsigned)(val & 7u) << 24);
    else
        n = snprintf(cmd, sizeof cmd,
                     "write_memory 0xE000EDF8 32 {0x%x}; write_memory 0xE000EDF4 32 "
                     "{0x%x}; " RAW_REGRDY_CHECK,
                     (unsigned)val, raw_regsel(r) | 0x10000u);
    return post(p, cmd, (size_t)n);
}

/* Lets the core run. If OpenOCD still thinks it halted (it was, before our reset), through
 * OpenOCD's resume at an explicit address (the real PC, read through DCRSR if none is given; its
 * cached one is from before the reset): it writes that PC, drops its stale registers and knows
 * the core runs. Otherwise DHCSR alone: C_DEBUGEN without C_HALT. */
static int raw_resume(pv_probe *p, const uint32_t *pc)
{
    char cmd[700];
    int n;
    if (pc)
        n = snprintf(cmd, sizeof cmd,
                     "if {[[target current] curstate] eq {halted}} {resume 0x%x} else {"
                     "write_memory 0xE000EDF8 32 {0x%x}; write_memory 0xE000EDF4 32 "
                     "{0x1000f}; " RAW_REGRDY_CHECK "; write_memory 0xE000EDF0 32 {0xA05F0001}}",
                     (unsigned)*pc, (unsigned)*pc);
    else
        n = snprintf(cmd, sizeof cmd,
                     "if {[[target current] curstate] eq {halted}} {"
                     "write_memory 0xE000EDF4 32 {0xf}; " RAW_REGRDY_CHECK
                     "; resume [format 0x%%x [lindex [read_memory 0xE000EDF8 32 1] 0]]} else {"
                     "write_memory 0xE000EDF0 32 {0xA05F0001}}");
    int rc = post(p, cmd, (size_t)n);
    if (!rc)
        p->raw_halted = false;
    return rc ? rc : post_now(p); /* the core must start now */
}

static int ocd_read_reg(pv_probe *p, enum pv_probe_reg r, uint32_t *val)
{
    if ((unsigned)r >= PV_REG_COUNT)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "openocd: no register %d", (int)r);
    if (p->raw_halted)
        return raw_read_reg(p, r, val);
    char cmd[64], what[48], *res;
    snprintf(cmd, sizeof cmd, "get_reg {%s}", reg_names[r]);
    snprintf(what, sizeof what, "reading register %s", reg_names[r]);
    int rc = request(p, cmd, what, &res);
    if (rc)
        return rc;
    if (pv_ocd_parse_reg(res, val))
        return fail(p, PV_PROBE_ERR_PROTOCOL, "openocd: get_reg %s answered '%.60s'", reg_names[r],
                    res);
    return PV_PROBE_OK;
}

static int ocd_write_reg(pv_probe *p, enum pv_probe_reg r, uint32_t val)
{
    if ((unsigned)r >= PV_REG_COUNT)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "openocd: no register %d", (int)r);
    if (p->raw_halted)
        return raw_write_reg(p, r, val);
    char cmd[256];
    int n;
    /* OpenOCD caches sp, msp and psp apart and writes each back at resume: write the banked one
     * that sp currently is (CONTROL.SPSEL) too, so reads and the core agree. */
    static const char *const also[] = {
        [PV_REG_SP] = "set_reg [list [expr {$_pv_psp ? {psp} : {msp}}] $_pv_v]",
        [PV_REG_MSP] = "if {!$_pv_psp} {set_reg [list sp $_pv_v]}",
        [PV_REG_PSP] = "if {$_pv_psp} {set_reg [list sp $_pv_v]}"};
    if (r == PV_REG_SP || r == PV_REG_MSP || r == PV_REG_PSP)
        n = snprintf(cmd, sizeof cmd,
                     "set _pv_v 0x%x; set_reg [list %s $_pv_v]; set _pv_psp [expr {[dict get "
                     "[get_reg {control}] control] & 2}]; %s",
                     (unsigned)val, reg_names[r], also[r]);
    else
        n = snprintf(cmd, sizeof cmd, "set_reg {%s 0x%x}", reg_names[r], (unsigned)val);
    return post(p, cmd, (size_t)n);
}

static int ocd_resume(pv_probe *p, const uint32_t *pc)
{
    if (p->raw_halted)
        return raw_resume(p, pc);
    char cmd[40];
    int n = pc ? snprintf(cmd, sizeof cmd, "resume 0x%x", (unsigned)*pc)
               : snprintf(cmd, sizeof cmd, "resume");
    int rc = post(p, cmd, (size_t)n);
    return rc ? rc : post_now(p); /* the core must start now */
}

static int ocd_wait_halt(pv_probe *p, int timeout_ms)
{
    if (p->raw_halted)
        return ocd_flush(p);
    int ms = timeout_ms > 0 ? timeout_ms : p->timeout_ms;
    /* Not `wait_halt`: OpenOCD polls the core back to back there, which keeps a CPU busy and
     * the debug link saturated while the core computes (the stub's X25519, flash writes). Not
     * `arp_poll` in a loop either: a poll of a running core costs ~12 JTAG round trips. With
     * background polling off (ocd_connect), read DHCSR (~5 round trips) a millisecond apart until
     * S_HALT, then one arp_poll takes the debug entry so OpenOCD knows the core is halted. */
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "set _pv_t [target current]; set _pv_end [expr {[ms] + %d}]; "
             "while {[$_pv_t curstate] ne {halted}} {"
             "if {[lindex [read_memory 0xE000EDF0 32 1] 0] & 0x20000} {$_pv_t arp_poll; "
             "if {[$_pv_t curstate] eq {halted}} break}; "
             "if {[ms] > $_pv_end} {error {timed out while waiting for target halted}}; "
             "sleep 1}",
             ms);
    int rc = request_wait(p, cmd, "waiting for the core to halt", NULL, ms + p->timeout_ms);
    if (rc == PV_PROBE_ERR_TIMEOUT)
        return fail(p, rc, "openocd: the core did not halt within %d ms", ms);
    return rc;
}

static int ocd_halt(pv_probe *p)
{
    if (p->raw_halted) /* halted by our reset and still so */
        return ocd_flush(p);
    char cmd[40];
    snprintf(cmd, sizeof cmd, "halt %d", p->timeout_ms);
    return request_wait(p, cmd, "halting the core", NULL, 2 * p->timeout_ms);
}

/* Not OpenOCD's `reset halt`, which re-examines the target, sleeps 50 ms after the reset and
 * takes a debug entry that reads every core and FPU register: ~365 JTAG round trips on the sim
 * against ~18 here (docs/probes.md). The reset as the chip defines it (STM32F4-FACTS §4.4):
 * C_DEBUGEN if it was clear, DEMCR.VC_CORERESET, AIRCR.SYSRESETREQ; the core halts before its
 * first instruction; DFSR cleared and DEMCR restored. A reset that loads RDP Level 2 leaves no
 * debug port to read DHCSR from (DEAD, from OpenOCD's errors); a core that does not halt within
 * a second (e.g. a fault fetching the vectors) fails the reset, as OpenOCD's would. */
static int ocd_reset_halt(pv_probe *p)
{
    static const char cmd[] =
        "set _pv_d [lindex [read_memory 0xE000EDF0 32 1] 0]; "
        "if {!($_pv_d & 1)} {write_memory 0xE000EDF0 32 {0xA05F0001}}; "
        "set _pv_demcr [lindex [read_memory 0xE000EDFC 32 1] 0]; "
        "write_memory 0xE000EDFC 32 [list [expr {$_pv_demcr | 1}]]; "
        "write_memory 0xE000ED0C 32 {0x05FA0004}; "
        "set _pv_end [expr {[ms] + 1000}]; "
        "while {!([set _pv_d [lindex [read_memory 0xE000EDF0 32 1] 0]] & 0x20000)} {"
        "if {[ms] > $_pv_end} {write_memory 0xE000EDFC 32 [list $_pv_demcr]; "
        "error [format {the core did not halt after the reset (DHCSR 0x%08x)} $_pv_d]}; "
        "sleep 1}; "
        "write_memory 0xE000ED30 32 {0x1f}; write_memory 0xE000EDFC 32 [list $_pv_demcr]";
    int rc =
        request_wait(p, cmd, "reset halt (VC_CORERESET, SYSRESETREQ)", NULL, 2 * p->timeout_ms);
    if (!rc)
        p->raw_halted = true;
    return rc;
}

/* Any Tcl command; its result is the output. The text is passed as a backslash-quoted word, so
 * braces or brackets in it cannot break our script. */
static int ocd_monitor(pv_probe *p, const char *cmd, char *out, size_t out_len)
{
    size_t n = strlen(cmd);
    char *q = malloc(4 * n + 64);
    if (!q)
        return fail(p, PV_PROBE_ERR_IO, "openocd: out of memory");
    size_t m = (size_t)sprintf(q, "set _pv_m ");
    if (!n)
        m += (size_t)sprintf(q + m, "{}");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)cmd[i];
        if (c == '\n')
            m += (size_t)sprintf(q + m, "\\n");
        else if (c < 0x20 || c == 0x7f)
            m += (size_t)sprintf(q + m, "\\x%02x", c);
        else if (isalnum(c) || c == '_' || c == '.' || c == '-' || c == '/' || c == ':')
            q[m++] = (char)c;
        else {
            q[m++] = '\\';
            q[m++] = (char)c;
        }
    }
    m += (size_t)sprintf(q + m, "; eval $_pv_m");
    q[m] = 0;
    char what[80], *res = NULL;
    snprintf(what, sizeof what, "'%.60s'", cmd);
    int rc = request_wait(p, q, what, &res, 4 * p->timeout_ms);
    free(q);
    if (out && out_len)
        snprintf(out, out_len, "%s", rc ? "" : res);
    return rc;
}

static void ocd_stats(pv_probe *p, struct pv_probe_stats *st)
{
    *st = p->st;
}

static const char *ocd_error(pv_probe *p)
{
    return p->err;
}

static void ocd_disconnect(pv_probe *p)
{
    if (!p)
        return;
    if (p->fd >= 0) {
        if (p->script_len || p->posted) {
            int saved = p->timeout_ms; /* a last chance for posted writes, briefly */
            p->timeout_ms = saved < 2000 ? saved : 2000;
            post_now(p);
            drain(p);
            p->timeout_ms = saved;
        }
        if (p->proc.pid > 0) {
            send_msg(p, "shutdown", 8);
        } else {
            int saved = p->timeout_ms;
            p->timeout_ms = saved < 2000 ? saved : 2000;
            request(p, "if {[info exists _pv_bg0] && $_pv_bg0} {poll on}",
                    "turning background polling back on", NULL);
            p->timeout_ms = saved;
        }
        close(p->fd);
        p->fd = -1;
    }
    ocd_reap(&p->proc);
    if (p->proc.log.fd >= 0)
        close(p->proc.log.fd);
    free(p->script);
    pv_ocd_rx_free(&p->rx);
    free(p);
}

/* ---- connecting ---- */

static int ocd_connect(pv_probe **out, const char *target, int timeout_ms, char *err,
                       size_t err_len)
{
    *out = NULL;
    pv_probe *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, err_len, "openocd: out of memory");
        return PV_PROBE_ERR_IO;
    }
    p->fd = -1;
    p->proc.log.fd = -1;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    int rc;
    if (strncmp(target, "spawn:", 6) == 0) {
        rc = ocd_spawn(&p->proc, target + 6, p->timeout_ms, &p->fd, err, err_len);
    } else {
        char host[256];
        const char *port = pv_probe_split_hostport(target, host, sizeof host);
        if (!port) {
            snprintf(err, err_len,
                     "openocd: target '%s' is neither HOST:PORT of a running OpenOCD's Tcl port "
                     "(e.g. 127.0.0.1:6666) nor spawn:ARGS (OpenOCD's -f/-c arguments)",
                     target);
            free(p);
            return PV_PROBE_ERR_IO;
        }
        rc =
            ocd_tcp_connect(host, port, p->timeout_ms, &p->fd) == 0 ? PV_PROBE_OK : PV_PROBE_ERR_IO;
        if (rc)
            snprintf(err, err_len, "openocd: cannot connect to the Tcl port %s: %s", target,
                     strerror(errno));
    }
    if (!rc) {
        /* The current target must have been examined: otherwise its debug port is dead. */
        char *res = NULL;
        rc = request(p,
                     "set _pv_t [target current]; format \"%d %s\" [$_pv_t was_examined] "
                     "[$_pv_t curstate]",
                     "checking the target", &res);
        if (!rc && res[0] != '1') {
            read_log(p);
            rc = fail(p, PV_PROBE_ERR_DEAD,
                      "openocd: the target was not examined (state '%s'): its debug port does "
                      "not answer (RDP Level 2, no power, wrong configuration)%s%s",
                      strlen(res) > 2 ? res + 2 : "?", p->proc.log.errlines[0] ? ": " : "",
                      p->proc.log.errlines);
        }
        /* Background polling off for the session: with it on, every memory command costs ~7
         * more JTAG round trips. Halts are noticed by ocd_wait_halt's explicit arp_poll; reset
         * halt and halt poll by themselves. An attached OpenOCD gets it back at disconnect. */
        if (!rc)
            rc = request(p, "set _pv_bg0 [string match {*polling: on*} [poll]]; poll off",
                         "turning background polling off", NULL);
        if (rc)
            snprintf(err, err_len, "%s", p->err);
    }
    if (rc) {
        ocd_disconnect(p);
        return rc;
    }
    *out = p;
    return PV_PROBE_OK;
}

const struct pv_probe_ops pv_probe_openocd_ops = {
    .name = "openocd",
    .mem_while_running = true,
    .connect = ocd_connect,
    .halt = ocd_halt,
    .reset_halt = ocd_reset_halt,
    .read_mem = ocd_read_mem,
    .write_mem = ocd_write_mem,
    .read_reg = ocd_read_reg,
    .write_reg = ocd_write_reg,
    .resume = ocd_resume,
    .wait_halt = ocd_wait_halt,
    .flush = ocd_flush,
    .monitor = ocd_monitor,
    .stats = ocd_stats,
    .error = ocd_error,
    .disconnect = ocd_disconnect,
};
