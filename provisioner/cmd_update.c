/* provision update: relays a provisioned device's firmware update (docs/update-protocol.md)
 * between its USART1 (update_link.h) and the trusted side: a bridge over HTTPS (the station holds
 * no key, no PSK and no plaintext image: it forwards message 1, message 2, the DATA stream and
 * the REPORT), or in local mode the bridge library in this process with the engineer's token and
 * one release image (the desk: this process is then the trusted side, as for `provision run`).
 * Three bridge round trips per update: begin, stream, report. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../hsm-bridge/file_read.h"
#include "../hsm-bridge/ledger.h"
#include "../hsm-bridge/update_bridge.h"
#include "bridge_client.h"
#include "commands.h"
#include "crypto/wipe.h"
#include "image/image.h"
#include "station_config.h"
#include "update_link.h"

#define PROG             "provision update"
#define START_TRIES      5
#define START_WAIT_MS    6000  /* the device draws its key and writes message 1 */
#define ANSWER_WAIT_MS   5000  /* READY, ACK, NAK or REPORT after a frame */
#define REPORT_WAIT_MS   30000 /* the device's checks after the last DATA */
#define DATA_TRIES       5
#define BREAK_DEFAULT_MS 3000 /* no suffix: also written into the help text */

struct opts {
    const char *usart, *serial, *bridge, *cert, *key, *ca, *config;
    const char *recipe, *image, *ledger, *pin_file, *module, *station;
    int json, verbose, brk;
    unsigned break_ms;
};

/* The run's figures and outcome (progress lines, --json). */
struct outcome {
    char uid[25], product[PV_LEDGER_TEXT_MAX], batch[PV_LEDGER_TEXT_MAX];
    char running[14], offered[14], now[14];
    char result[24]; /* the device's REPORT result, or "" */
    char error[40];  /* the bridge's refusal code, or what failed */
    char reason[600];
    uint32_t image_bytes, chunks, resends;
    uint64_t link_out, link_in;
    unsigned round_trips;
    double t_handshake, t_transfer, t_report, t_total; /* seconds */
};

struct run {
    struct opts o;
    pv_upd_link *link;
    pv_bridge *local;         /* local mode */
    pv_bridge_client *remote; /* bridge mode */
    struct pv_bridge_station st;
    struct outcome out;
    char session[PV_BRIDGE_SESSION_ID_LEN];
};

static const struct pv_cli_opt opts[] = {
    {'u', 0, "usart", "tcp:HOST:PORT", "the device's USART1 over TCP (the sim's --usart-port)",
     NULL},
    {'s', 0, "serial", "DEVICE", "a serial port (115200 8N1, raw)", NULL},
    {'b', 0, "break", NULL,
     "send PVUPDATE for --break-ms first, while the device is reset, so the bootloader enters "
     "update mode",
     NULL},
    {'T', 0, "break-ms", "N",
     "how long --break sends (default " PV_CLI_STR(BREAK_DEFAULT_MS) ", 1..60000)", NULL},
    {'B', 0, "bridge", "URL",
     "the bridge, https://HOST:PORT (needs the product's rights on the bridge)", NULL},
    {'C', 0, "cert", "F", "this station's certificate", NULL},
    {'K', 0, "key", "F", "its private key", NULL},
    {'a', 0, "ca", "F", "the CA the bridge's certificate must chain to", NULL},
    {'F', 0, "config", "STATION.yaml", "the station configuration (url, cert, key, ca)", NULL},
    {'r', 0, "recipe", "FILE",
     "local mode: this process is the trusted side, with the recipe's token", NULL},
    {'i', 0, "image", "FILE",
     "local mode: the signed image, the only release (plain image allowed)", NULL},
    {'l', 0, "ledger", "DB", "local mode: as for provision run", NULL},
    {'P', 0, "pin-file", "F", "local mode: as for provision run", NULL},
    {'m', 0, "module", "SO", "local mode: as for provision run", NULL},
    {'S', 0, "station", "ID", "local mode: as for provision run", NULL},
    {'j', 0, "json", NULL, "one JSON object on stdout at the end", NULL},
    {'v', 0, "verbose", NULL, "the device's console lines on stderr", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_EXIT_OK,
                            PV_EXIT_INVALID,
                            PV_EXIT_USAGE,
                            PV_EXIT_IO,
                            PV_EXIT_KEY,
                            PV_EXIT_PROBE,
                            PV_EXIT_SESSION,
                            PV_EXIT_LEDGER,
                            PV_EXIT_BRIDGE,
                            PV_EXIT_REFUSED_UPDATE,
                            -1};

static int usage_error(const char *what)
{
    fprintf(stderr, "%s: %s (see provision update --help)\n", PROG, what);
    return PV_EXIT_USAGE;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

__attribute__((format(printf, 2, 3))) static void progress(const struct run *r, const char *fmt,
                                                           ...)
{
    va_list ap;
    va_start(ap, fmt);
    FILE *f = r->o.json ? stderr : stdout;
    fputs("update: ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
    va_end(ap);
}

__attribute__((format(printf, 4, 5))) static int failed(struct run *r, int code, const char *error,
                                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->out.reason, sizeof r->out.reason, fmt, ap);
    va_end(ap);
    snprintf(r->out.error, sizeof r->out.error, "%s", error);
    return code;
}

static void console_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "device: %s\n", line);
}

/* ---- the trusted side: the bridge over HTTPS, or in this process ---- */

static int t_begin(struct run *r, const uint8_t *msg1, uint8_t msg2[PV_UPD_MSG2_LEN],
                   struct pv_bridge_update_offer *o, struct pv_bridge_err *e)
{
    r->out.round_trips++;
    if (r->remote)
        return pv_bridge_client_update_begin(r->remote, msg1, PV_UPD_MSG1_LEN, msg2, r->session, o,
                                             e);
    return pv_bridge_update_begin(r->local, &r->st, msg1, PV_UPD_MSG1_LEN, msg2, r->session, o, e);
}

static int t_stream(struct run *r, uint8_t **data, size_t *len, struct pv_bridge_err *e)
{
    r->out.round_trips++;
    if (r->remote)
        return pv_bridge_client_update_stream(r->remote, r->session, data, len, e);
    const uint8_t *d;
    if (pv_bridge_update_stream(r->local, &r->st, r->session, &d, len, e))
        return -1;
    if (!(*data = malloc(*len ? *len : 1)))
        return -1;
    memcpy(*data, d, *len);
    return 0;
}

static int t_report(struct run *r, const uint8_t *rep, size_t len, struct pv_bridge_err *e)
{
    r->out.round_trips++;
    if (r->remote) {
        char version[16];
        return pv_bridge_client_update_report(r->remote, r->session, rep, len, r->out.result,
                                              version, e);
    }
    pv_upd_report got;
    if (pv_bridge_update_report(r->local, &r->st, r->session, rep, len, &got, e))
        return -1;
    snprintf(r->out.result, sizeof r->out.result, "%s", pv_upd_result_name(got.result));
    return 0;
}

/* ---- the session on the link ---- */

/* The exit code of the device's result. */
static int result_code(const char *result)
{
    if (!strcmp(result, "installed") || !strcmp(result, "up_to_date"))
        return PV_EXIT_OK;
    if (!strcmp(result, "refused_version") || !strcmp(result, "refused_address") ||
        !strcmp(result, "bad_image"))
        return PV_EXIT_REFUSED_UPDATE;
    return PV_EXIT_SESSION;
}

static int post_report(struct run *r, const pv_upd_frame *f)
{
    struct pv_bridge_err e = {0};
    if (t_report(r, f->body, f->body_len, &e))
        return failed(r, PV_EXIT_BRIDGE, e.error[0] ? e.error : "bridge",
                      "the bridge did not take the device's report: %s%s%s", e.error,
                      e.reason[0] ? ": " : "", e.reason);
    progress(r, "device reports %s (recorded by the bridge)", r->out.result);
    int code = result_code(r->out.result);
    if (code)
        failed(r, code, r->out.result, "the device reports %s%s", r->out.result,
               code == PV_EXIT_SESSION ? ": it stays in update mode, rerun" : "");
    return code;
}

/* Waits for a frame of one of the wanted types (others are ignored, NAK counted as such). */
static int wait_frame(struct run *r, pv_upd_frame *f, int timeout_ms, const uint8_t *want,
                      size_t n_want, char *err, size_t err_len)
{
    double until = now_s() + timeout_ms / 1000.0;
    for (;;) {
        int left = (int)((until - now_s()) * 1000.0);
        if (left <= 0)
            return 0;
        int rc = pv_upd_link_recv(r->link, f, left, err, err_len);
        if (rc <= 0)
            return rc;
        for (size_t i = 0; i < n_want; i++)
            if (f->type == want[i])
                return 1;
    }
}

static int session(struct run *r)
{
    char err[300];
    pv_upd_frame f;
    double t0 = now_s();
    if (r->o.brk) {
        progress(r, "sending PVUPDATE for %u ms: reset the device now", r->o.break_ms);
        double until = now_s() + r->o.break_ms / 1000.0;
        while (now_s() < until) {
            if (pv_upd_link_write(r->link, "PVUPDATE", 8))
                return failed(r, PV_EXIT_PROBE, "link", "the link closed during the break");
            usleep(10000);
        }
    }
    /* START until message 1 */
    static const uint8_t want_msg1[] = {PV_UPD_MSG1};
    int got = 0;
    for (int i = 0; i < START_TRIES && got == 0; i++) {
        if (pv_upd_link_send(r->link, PV_UPD_START, NULL, 0))
            return failed(r, PV_EXIT_PROBE, "link", "cannot write to the link");
        got = wait_frame(r, &f, START_WAIT_MS, want_msg1, 1, err, sizeof err);
        if (got < 0)
            return failed(r, PV_EXIT_PROBE, "link", "%s", err);
    }
    if (!got)
        return failed(r, PV_EXIT_PROBE, "no_answer",
                      "the device did not answer START %d times: is it in update mode (no valid "
                      "application, the application's request, or --break at reset)?",
                      START_TRIES);
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN];
    memcpy(msg1, f.body, sizeof msg1);
    pv_upd_hello h;
    if (pv_upd_hello_decode(&h, msg1) == PV_UPD_OK) {
        for (int i = 0; i < 12; i++)
            snprintf(r->out.uid + 2 * i, 3, "%02x", h.uid[i]);
        pv_image_version_str(r->out.running, h.app_version);
        progress(r, "device %s in update mode: runs %s, floor %08x", r->out.uid,
                 h.app_version ? r->out.running : "nothing", (unsigned)h.floor);
    }

    /* round trip 1: begin */
    struct pv_bridge_update_offer o;
    struct pv_bridge_err e = {0};
    if (t_begin(r, msg1, msg2, &o, &e))
        return failed(r, PV_EXIT_BRIDGE, e.error[0] ? e.error : "bridge",
                      "the bridge refused: %s%s%s", e.error, e.reason[0] ? ": " : "", e.reason);
    snprintf(r->out.product, sizeof r->out.product, "%s", o.product);
    snprintf(r->out.batch, sizeof r->out.batch, "%s", o.batch);
    if (o.kind)
        pv_image_version_str(r->out.offered, o.version);
    r->out.image_bytes = o.size;
    r->out.chunks = o.chunks;
    if (o.kind)
        progress(r, "bridge offers %s (%u bytes in %u DATA frames), session %s", r->out.offered,
                 (unsigned)o.size, (unsigned)o.chunks, r->session);
    else
        progress(r, "bridge: nothing newer for this device");

    /* message 2; READY, or at once a REPORT (refused or up to date) */
    static const uint8_t want_ready[] = {PV_UPD_READY, PV_UPD_REPORT, PV_UPD_NAK};
    got = 0;
    for (int i = 0; i < DATA_TRIES && !got; i++) {
        if (pv_upd_link_send(r->link, PV_UPD_MSG2, msg2, sizeof msg2))
            return failed(r, PV_EXIT_SESSION, "link", "cannot write to the link");
        got = wait_frame(r, &f, ANSWER_WAIT_MS, want_ready, 3, err, sizeof err);
        if (got < 0)
            return failed(r, PV_EXIT_SESSION, "link", "%s after message 2", err);
        if (got && f.type == PV_UPD_NAK)
            got = 0, r->out.resends++;
    }
    r->out.t_handshake = now_s() - t0;
    if (!got)
        return failed(r, PV_EXIT_SESSION, "no_answer",
                      "the device did not answer message 2 (it did not authenticate there?)");
    if (f.type == PV_UPD_REPORT)
        return post_report(r, &f);

    /* round trip 2: the stream, then DATA frames one at a time */
    double t1 = now_s();
    uint8_t *stream = NULL;
    size_t slen = 0;
    if (t_stream(r, &stream, &slen, &e))
        return failed(r, PV_EXIT_BRIDGE, e.error[0] ? e.error : "bridge",
                      "the bridge did not give the stream: %s%s%s", e.error,
                      e.reason[0] ? ": " : "", e.reason);
    static const uint8_t want_ack[] = {PV_UPD_ACK, PV_UPD_NAK, PV_UPD_REPORT};
    uint32_t sent = 0, n = 0, step = o.chunks > 10 ? o.chunks / 10 : 1;
    int code = -1;
    double t_last = now_s(); /* the last DATA sent: the device's checks start there */
    for (size_t at = 0; at < slen && code < 0;) {
        size_t ct = (size_t)stream[at] | (size_t)stream[at + 1] << 8;
        if (ct < PV_UPD_DATA_MIN || ct > PV_UPD_DATA_MAX || at + 2 + ct > slen) {
            code = failed(r, PV_EXIT_BRIDGE, "bad_response",
                          "the bridge's stream is malformed at byte %zu", at);
            break;
        }
        got = 0;
        for (int i = 0; i < DATA_TRIES && !got; i++) {
            if (i)
                r->out.resends++;
            t_last = now_s();
            if (pv_upd_link_send(r->link, PV_UPD_DATA, stream + at + 2, ct)) {
                code = failed(r, PV_EXIT_SESSION, "link", "cannot write to the link");
                break;
            }
            got = wait_frame(r, &f, ANSWER_WAIT_MS, want_ack, 3, err, sizeof err);
            if (got < 0)
                code = failed(r, PV_EXIT_SESSION, "link",
                              "%s during DATA %u of %u: the device stays in update mode, rerun",
                              err, (unsigned)n + 1, (unsigned)o.chunks);
            if (got > 0 && f.type == PV_UPD_NAK)
                got = 0;
        }
        if (code >= 0)
            break;
        if (!got) {
            code = failed(r, PV_EXIT_SESSION, "no_answer",
                          "no ACK for DATA %u of %u after %d tries: the device stays in update "
                          "mode, rerun",
                          (unsigned)n + 1, (unsigned)o.chunks, DATA_TRIES);
            break;
        }
        if (f.type == PV_UPD_REPORT) {
            /* the answer to the last DATA is the REPORT after the device's checks */
            r->out.t_report = now_s() - t_last;
            r->out.t_transfer = t_last - t1;
            code = post_report(r, &f);
            break;
        }
        sent = pv_upd_get32(f.body);
        at += 2 + ct;
        if (++n % step == 0 || at >= slen)
            progress(r, "DATA %u/%u, %u of %u bytes", (unsigned)n, (unsigned)o.chunks,
                     (unsigned)sent, (unsigned)o.size);
    }
    free(stream);
    if (code >= 0)
        return code;
    r->out.t_transfer = now_s() - t1;

    /* the device checks the image, raises the floor and reports; round trip 3 */
    double t2 = now_s();
    static const uint8_t want_report[] = {PV_UPD_REPORT};
    got = wait_frame(r, &f, REPORT_WAIT_MS, want_report, 1, err, sizeof err);
    r->out.t_report = now_s() - t2;
    if (got <= 0)
        return failed(r, PV_EXIT_SESSION, got < 0 ? "link" : "no_answer",
                      "no REPORT after the last DATA (%s): the device stays in update mode, rerun",
                      got < 0 ? err : "timeout");
    return post_report(r, &f);
}

/* ---- setup ---- */

static int open_local(struct run *r)
{
    /* the release: the image's own version, checked against the recipe's key when the bridge
     * opens */
    uint8_t *img = NULL;
    size_t len = 0;
    char why[300];
    if (pv_file_read(r->o.image, 16u << 20, &img, &len, why, sizeof why) != PV_FILE_OK)
        return failed(r, PV_EXIT_IO, "io", "%s: cannot read: %s", r->o.image, why);
    pv_image im;
    int st = pv_image_parse(&im, img, len, PV_IMAGE_ANY_ADDR);
    uint32_t version = im.hdr.version;
    free(img);
    if (st != PV_IMAGE_OK)
        return failed(r, PV_EXIT_INVALID, "bad_image", "%s: not a signed image: %s", r->o.image,
                      pv_image_strerror(st));
    pv_recipe *rc = calloc(1, sizeof *rc);
    pv_recipe_diags d;
    if (!rc)
        return failed(r, PV_EXIT_IO, "io", "out of memory");
    st = pv_recipe_load(r->o.recipe, PV_RECIPE_CHECK_FILES, rc, &d);
    if (st != PV_RECIPE_OK) {
        pv_recipe_diags_print(stderr, &d);
        pv_recipe_diags_free(&d);
        free(rc);
        return failed(r, st == PV_RECIPE_UNREADABLE ? PV_EXIT_IO : PV_EXIT_INVALID, "recipe",
                      "recipe %s is not valid (errors above)", r->o.recipe);
    }
    pv_recipe_diags_free(&d);
    static char product[PV_RECIPE_NAME_MAX];
    snprintf(product, sizeof product, "%s", rc->product);
    free(rc);
    static struct pv_bridge_release rel;
    rel = (struct pv_bridge_release){product, version, r->o.image};
    const char *lp = r->o.ledger ? r->o.ledger : getenv(PV_LEDGER_ENV);
    struct pv_bridge_config bc = {
        .recipes = {r->o.recipe},
        .n_recipes = 1,
        .module = r->o.module,
        .pin_file = r->o.pin_file,
        .ledger = lp && *lp ? lp : PV_LEDGER_DEFAULT_PATH,
        .allow_plain_images = 1,
        .local = 1,
        .releases = &rel,
        .n_releases = 1,
    };
    char err[1024];
    if (!(r->local = pv_bridge_open(&bc, err, sizeof err)))
        return failed(r,
                      strstr(err, "ledger") == err   ? PV_EXIT_LEDGER
                      : strstr(err, "release image") ? PV_EXIT_INVALID
                      : strstr(err, "cannot read")   ? PV_EXIT_IO
                                                     : PV_EXIT_KEY,
                      "trusted_side", "%s", err);
    r->st.name = r->o.station ? r->o.station : "local";
    return 0;
}

static int open_remote(struct run *r)
{
    struct pv_bridge_client_config cc = {
        .url = r->o.bridge, .cert = r->o.cert, .key = r->o.key, .ca = r->o.ca};
    char err[1024];
    if (!(r->remote = pv_bridge_client_new(&cc, err, sizeof err)))
        return failed(r, PV_EXIT_BRIDGE, "transport", "%s", err);
    return 0;
}

static void print_json(const struct run *r, int code)
{
    const struct outcome *o = &r->out;
    json_t *doc = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:{s:f, s:f, s:f, s:f}}",
        "exit", code, "uid", o->uid, "product", o->product, "batch", o->batch, "running",
        o->running, "offered", o->offered, "result", o->result, "error", o->error, "reason",
        o->reason, "session", r->session, "image_bytes", (json_int_t)o->image_bytes, "chunks",
        (json_int_t)o->chunks, "resends", (json_int_t)o->resends, "link_bytes_out",
        (json_int_t)o->link_out, "link_bytes_in", (json_int_t)o->link_in, "round_trips",
        (json_int_t)o->round_trips, "seconds", "handshake", o->t_handshake, "transfer",
        o->t_transfer, "device_checks", o->t_report, "total", o->t_total);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(doc);
}

static int run_update(struct run *r)
{
    double t0 = now_s();
    int code = r->o.bridge ? open_remote(r) : open_local(r);
    char err[300];
    if (!code) {
        if (!(r->link = pv_upd_link_open(r->o.usart ? r->o.usart : r->o.serial, err, sizeof err)))
            code = failed(r, PV_EXIT_PROBE, "link", "%s", err);
    }
    if (!code) {
        if (r->o.verbose)
            pv_upd_link_on_console(r->link, console_line, NULL);
        code = session(r);
        r->out.link_out = pv_upd_link_bytes_out(r->link);
        r->out.link_in = pv_upd_link_bytes_in(r->link);
    }
    r->out.t_total = now_s() - t0;
    if (code)
        fprintf(stderr, "%s: %s\n", PROG, r->out.reason);
    else
        progress(r,
                 "done: %s in %.2f s (handshake %.2f, transfer %.2f, device checks %.2f), %u "
                 "bridge round trips, %llu bytes to the device for %u image bytes",
                 r->out.result, r->out.t_total, r->out.t_handshake, r->out.t_transfer,
                 r->out.t_report, r->out.round_trips, (unsigned long long)r->out.link_out,
                 (unsigned)r->out.image_bytes);
    if (r->o.json)
        print_json(r, code);
    pv_upd_link_close(r->link);
    pv_bridge_client_free(r->remote);
    if (r->local)
        pv_bridge_close(r->local);
    return code;
}

static int run(int argc, char **argv)
{
    static struct run r;
    memset(&r, 0, sizeof r);
    r.o.break_ms = BREAK_DEFAULT_MS;
    int c;
    char *end;
    struct pv_cli_parser ps;
    pv_cmd_begin(&ps, &pv_cmd_update, argc, argv);
    while ((c = pv_cli_next(&ps)) >= 0) {
        const char *v = ps.value;
        switch (c) {
        case 'u':
            r.o.usart = v;
            break;
        case 's':
            r.o.serial = v;
            break;
        case 'B':
            r.o.bridge = v;
            break;
        case 'C':
            r.o.cert = v;
            break;
        case 'K':
            r.o.key = v;
            break;
        case 'a':
            r.o.ca = v;
            break;
        case 'F':
            r.o.config = v;
            break;
        case 'r':
            r.o.recipe = v;
            break;
        case 'i':
            r.o.image = v;
            break;
        case 'l':
            r.o.ledger = v;
            break;
        case 'P':
            r.o.pin_file = v;
            break;
        case 'm':
            r.o.module = v;
            break;
        case 'S':
            r.o.station = v;
            break;
        case 'b':
            r.o.brk = 1;
            break;
        case 'T':
            r.o.break_ms = (unsigned)strtoul(v, &end, 10);
            if (*end || !r.o.break_ms || r.o.break_ms > 60000)
                return usage_error("--break-ms takes 1..60000");
            break;
        case 'j':
            r.o.json = 1;
            break;
        case 'v':
            r.o.verbose = 1;
            break;
        default:
            return usage_error("option not handled");
        }
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_EXIT_OK : PV_EXIT_USAGE;
    char **rest;
    if (pv_cli_operands(&ps, &rest) > 0)
        return usage_error("unexpected argument");
    if (!r.o.usart == !r.o.serial)
        return usage_error("give the device's link: --usart tcp:HOST:PORT or --serial DEVICE");
    if (r.o.usart && strncmp(r.o.usart, "tcp:", 4) != 0)
        return usage_error("--usart takes tcp:HOST:PORT (a serial port: --serial DEVICE)");
    static struct pv_station_config sc;
    if (r.o.config) {
        char err[1200];
        if (pv_station_config_load(r.o.config, &sc, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", PROG, err);
            return PV_EXIT_INVALID;
        }
        r.o.bridge = r.o.bridge ? r.o.bridge : sc.url;
        r.o.cert = r.o.cert ? r.o.cert : sc.cert;
        r.o.key = r.o.key ? r.o.key : sc.key;
        r.o.ca = r.o.ca ? r.o.ca : sc.ca;
    }
    if (r.o.bridge) {
        if (r.o.recipe || r.o.image || r.o.ledger || r.o.pin_file || r.o.module || r.o.station)
            return usage_error("--bridge takes no --recipe, --image, --ledger, --pin-file, "
                               "--module or --station: the bridge holds them");
        if (!r.o.cert || !r.o.key || !r.o.ca)
            return usage_error("--bridge needs --cert, --key and --ca");
    } else if (!r.o.recipe || !r.o.image) {
        return usage_error("give --bridge URL (or --config), or for local mode --recipe and "
                           "--image");
    }
    return run_update(&r);
}

const struct pv_cli_cmd pv_cmd_update = {
    .name = "update",
    .summary = "update a provisioned device's application over its USART1 (through the bridge)",
    .usage = "update --usart tcp:HOST:PORT|--serial DEVICE --bridge URL --cert F --key F --ca F "
             "[--break [--break-ms N]] [--json] [--verbose]\n"
             "update --usart tcp:HOST:PORT|--serial DEVICE --config STATION.yaml [options]\n"
             "update --usart tcp:HOST:PORT|--serial DEVICE --recipe FILE --image FILE [--ledger "
             "DB] [--pin-file F] [--module SO] [--station ID] [options]",
    .about = "Updates a provisioned device's application over its USART1: the device (in update "
             "mode) and the trusted side authenticate each other with the device's PSK and the "
             "image arrives encrypted under a fresh session key (docs/update-protocol.md). This "
             "command only relays: START, message 1 to the bridge, message 2 and the DATA frames "
             "to the device, its REPORT back. Three bridge round trips, whatever the image size.",
    .opts = opts,
    .exits = exits,
    .exit_note = "0 here also means nothing newer was offered.",
    .run = run,
};
