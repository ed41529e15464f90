/* The protocol's endpoints (docs/bridge-protocol.md) on pv_bridge_*: request bodies checked
 * field by field (a 400 names the field), the bridge's refusals passed on as they are, frames
 * answered as application/x-pv-frames (each a 4-byte little-endian length and the frame). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server.h"
#include "server_parse.h"
#include "image/image.h"
#include "update_bridge.h"

const char *pv_route_name(enum pv_route r)
{
    static const char *const names[PV_ROUTE_COUNT] = {
        "plan",    "begin",        "verified",      "lock",          "fail",     "healthz",
        "metrics", "update_begin", "update_stream", "update_report", "operator", "other"};
    return (unsigned)r < PV_ROUTE_COUNT ? names[r] : "other";
}

static int session_id_ok(const char *s, size_t n)
{
    if (n != PV_BRIDGE_SESSION_ID_LEN - 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

enum pv_route pv_route_of(const char *path, int method, int *method_ok,
                          char session[PV_BRIDGE_SESSION_ID_LEN])
{
    session[0] = 0;
    *method_ok = 1;
    enum pv_route r = PV_ROUTE_OTHER;
    int want = EVHTTP_REQ_POST;
    if (strcmp(path, "/v1/plan") == 0)
        r = PV_ROUTE_PLAN, want = EVHTTP_REQ_GET;
    else if (strcmp(path, "/v1/sessions") == 0)
        r = PV_ROUTE_BEGIN;
    else if (strcmp(path, "/healthz") == 0)
        r = PV_ROUTE_HEALTHZ, want = EVHTTP_REQ_GET;
    else if (strcmp(path, "/metrics") == 0)
        r = PV_ROUTE_METRICS, want = EVHTTP_REQ_GET;
    else if (strcmp(path, "/operator") == 0 || strncmp(path, "/operator/", 10) == 0)
        r = PV_ROUTE_OPERATOR, want = EVHTTP_REQ_GET;
    else if (strcmp(path, "/v1/update/begin") == 0)
        r = PV_ROUTE_UPDATE_BEGIN;
    else if (strncmp(path, "/v1/update/", 11) == 0) {
        const char *id = path + 11, *slash = strchr(id, '/');
        if (!slash)
            return PV_ROUTE_OTHER;
        if (strcmp(slash + 1, "stream") == 0)
            r = PV_ROUTE_UPDATE_STREAM, want = EVHTTP_REQ_GET;
        else if (strcmp(slash + 1, "report") == 0)
            r = PV_ROUTE_UPDATE_REPORT;
        else
            return PV_ROUTE_OTHER;
        size_t n = (size_t)(slash - id);
        if (session_id_ok(id, n)) {
            memcpy(session, id, n);
            session[n] = 0;
        }
    } else if (strncmp(path, "/v1/sessions/", 13) == 0) {
        const char *id = path + 13, *slash = strchr(id, '/');
        if (!slash)
            return PV_ROUTE_OTHER;
        const char *step = slash + 1;
        if (strcmp(step, "verified") == 0)
            r = PV_ROUTE_VERIFIED;
        else if (strcmp(step, "lock") == 0)
            r = PV_ROUTE_LOCK;
        else if (strcmp(step, "fail") == 0)
            r = PV_ROUTE_FAIL;
        else
            return PV_ROUTE_OTHER;
        /* An id that is not 32 hex digits is kept as "" and answered 404 unknown_session. */
        size_t n = (size_t)(slash - id);
        if (session_id_ok(id, n)) {
            memcpy(session, id, n);
            session[n] = 0;
        }
    }
    *method_ok = r == PV_ROUTE_OTHER || method == want;
    return r;
}

/* ---- encodings ---- */

static void tohex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* ---- frames ---- */

static int frame_sink(void *ctx, const uint8_t *frame, size_t len)
{
    struct evbuffer *b = ctx;
    if (len > UINT32_MAX)
        return -1;
    uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                      (uint8_t)(len >> 24)};
    return evbuffer_add(b, hdr, 4) || evbuffer_add(b, frame, len) ? -1 : 0;
}

static unsigned count_frames(struct evbuffer *b)
{
    unsigned n = 0;
    size_t len = evbuffer_get_length(b);
    const uint8_t *p = evbuffer_pullup(b, -1);
    for (size_t off = 0; p && off + 4 <= len; n++)
        off += 4 + ((size_t)p[off] | (size_t)p[off + 1] << 8 | (size_t)p[off + 2] << 16 |
                    (size_t)p[off + 3] << 24);
    return n;
}

/* ---- endpoints ---- */

static void station_of(const struct pv_req *r, struct pv_bridge_station *st)
{
    st->name = r->station;
    st->cert_sha256 = r->peer.cert_sha256;
}

static void do_plan(struct pv_req *r)
{
    struct evkeyvalq q = {0};
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    const char *product, *batch;
    char why[PV_PARSE_WHY_MAX];
    if (pv_parse_plan_query(query, &q, &product, &batch, why, sizeof why) != 0) {
        pv_refuse(r, 400, "bad_request", "%s", why);
        evhttp_clear_headers(&q);
        return;
    }
    snprintf(r->detail, sizeof r->detail, "plan product=%.64s batch=%.64s", product, batch);
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_plan p;
    struct pv_bridge_err e = {0};
    if (pv_bridge_plan(r->srv->bridge, &st, product, batch, &p, &e) != 0) {
        evhttp_clear_headers(&q);
        pv_refuse_err(r, &e);
        return;
    }
    evhttp_clear_headers(&q);
    char stub_hex[65], pub_hex[65];
    tohex(p.stub_sha256, 32, stub_hex);
    tohex(p.bridge_pub, 32, pub_hex);
    char *img = malloc(4 * ((p.stub_len + 2) / 3) + 1);
    if (!img) {
        pv_refuse(r, 500, "internal", "out of memory");
        return;
    }
    EVP_EncodeBlock((unsigned char *)img, p.stub, (int)p.stub_len);
    const pv_layout *l = &p.layout;
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:{s:s, s:I, s:I, s:I}, "
        "s:{s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}}, s:{s:I, s:s, s:s}, s:s, "
        "s:I, s:I, s:s}",
        "product", p.product, "batch", p.batch, "recipe", p.recipe, "recipe_sha256",
        p.recipe_sha256, "rdp_level", (json_int_t)p.rdp_level, "chip", "family", p.chip_family,
        "device_id", (json_int_t)p.device_id, "flash_kb", (json_int_t)p.flash_kb, "sram_kb",
        (json_int_t)p.sram_kb, "layout", "bootloader", "address", (json_int_t)l->boot_addr, "size",
        (json_int_t)l->boot_size, "key_slot", "address", (json_int_t)l->keyslot_addr, "size",
        (json_int_t)l->keyslot_size, "counter", "address", (json_int_t)l->counter_addr, "size",
        (json_int_t)l->counter_size, "application", "address", (json_int_t)l->app_addr, "size",
        (json_int_t)l->app_size, "stub", "sram_base", (json_int_t)p.stub_sram_base, "sha256",
        stub_hex, "image", img, "bridge_public_key", pub_hex, "boot_len", (json_int_t)p.boot_len,
        "app_len", (json_int_t)p.app_len, "boot_sha256", p.boot_sha256);
    free(img);
    pv_reply_json(r, 200, doc);
}

static void do_begin(struct pv_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    struct pv_begin_body b;
    char why[PV_PARSE_WHY_MAX];
    if (pv_parse_begin((const char *)evbuffer_pullup(in, -1), len, &b, why, sizeof why) != 0) {
        pv_refuse(r, 400, "bad_request", "%s", why);
        return;
    }
    const char *product = b.product, *batch = b.batch, *uid_hex = b.uid_hex;
    snprintf(r->detail, sizeof r->detail, "begin uid=%s product=%.64s batch=%.64s", uid_hex,
             product, batch);
    struct evbuffer *frames = evbuffer_new();
    if (!frames) {
        pv_refuse(r, 500, "internal", "out of memory");
        goto out;
    }
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_err e = {0};
    char sid[PV_BRIDGE_SESSION_ID_LEN] = "";
    int rc = pv_bridge_begin(r->srv->bridge, &st, product, batch, &b.id, b.mailbox_flags, b.msg1,
                             b.msg1_len, frame_sink, frames, sid, &e);
    if (sid[0])
        snprintf(r->session, sizeof r->session, "%s", sid);
    if (rc != 0) {
        pv_refuse_err(r, &e);
    } else {
        size_t n = strlen(r->detail);
        snprintf(r->detail + n, sizeof r->detail - n, " frames=%u", count_frames(frames));
        pv_reply_frames(r, frames, sid);
    }
    evbuffer_free(frames);
out:
    pv_begin_body_free(&b);
}

static int need_session(struct pv_req *r)
{
    if (!r->session[0]) {
        pv_refuse(r, 404, "unknown_session", "the session id in the path is not 32 hex digits");
        return -1;
    }
    return 0;
}

static void do_verified(struct pv_req *r)
{
    snprintf(r->detail, sizeof r->detail, "verified");
    if (need_session(r))
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    if (len == 0) {
        pv_refuse(r, 400, "bad_request", "the body (the stub's verify reply) is empty");
        return;
    }
    const uint8_t *reply = evbuffer_pullup(in, -1);
    struct evbuffer *frames = evbuffer_new();
    if (!frames) {
        pv_refuse(r, 500, "internal", "out of memory");
        return;
    }
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_err e = {0};
    if (pv_bridge_verified(r->srv->bridge, &st, r->session, reply, len, frame_sink, frames, &e))
        pv_refuse_err(r, &e);
    else
        pv_reply_frames(r, frames, NULL);
    evbuffer_free(frames);
}

static void do_lock(struct pv_req *r)
{
    snprintf(r->detail, sizeof r->detail, "lock");
    if (need_session(r))
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    struct pv_lock_body b;
    char why[PV_PARSE_WHY_MAX];
    if (pv_parse_lock((const char *)evbuffer_pullup(in, -1), len, &b, why, sizeof why) != 0) {
        pv_refuse(r, 400, "bad_request", "%s", why);
        return;
    }
    unsigned level = b.obs.rdp_level;
    snprintf(r->detail, sizeof r->detail, "lock observed_rdp=%u", level);
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_err e = {0};
    struct pv_bridge_outcome o;
    memset(&o, 0, sizeof o);
    if (pv_bridge_lock(r->srv->bridge, &st, r->session, b.reply, b.reply_len, &b.obs, &o, &e) !=
        0) {
        pv_refuse_err(r, &e);
        goto out;
    }
    size_t n = strlen(r->detail);
    snprintf(r->detail + n, sizeof r->detail - n, " uid=%s rdp=%u batch=%s used=%u/%u", o.uid_hex,
             o.rdp_level, o.batch, o.used, o.quota);
    pv_reply_json(r, 200,
                  json_pack("{s:s, s:s, s:I, s:s, s:I, s:I}", "state", "locked", "uid", o.uid_hex,
                            "rdp_level", (json_int_t)o.rdp_level, "batch", o.batch, "quota",
                            (json_int_t)o.quota, "used", (json_int_t)o.used));
out:
    pv_lock_body_free(&b);
}

static void do_fail(struct pv_req *r)
{
    snprintf(r->detail, sizeof r->detail, "fail");
    if (need_session(r))
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    struct pv_fail_body b;
    char why[PV_PARSE_WHY_MAX];
    if (pv_parse_fail((const char *)evbuffer_pullup(in, -1), len, &b, why, sizeof why) != 0) {
        pv_refuse(r, 400, "bad_request", "%s", why);
        return;
    }
    snprintf(r->detail, sizeof r->detail, "fail phase=%.40s", b.phase);
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_err e = {0};
    if (pv_bridge_fail(r->srv->bridge, &st, r->session, b.phase, b.reason, &e) != 0)
        pv_refuse_err(r, &e);
    else
        pv_reply_json(r, 200, json_pack("{s:s, s:s}", "state", "failed", "session", r->session));
    pv_fail_body_free(&b);
}

/* ---- firmware updates: bodies are the protocol's bytes (application/octet-stream) ---- */

static void do_update_begin(struct pv_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    snprintf(r->detail, sizeof r->detail, "update begin");
    if (len != PV_UPD_MSG1_LEN) {
        pv_refuse(r, 400, "bad_request",
                  "the body is %zu bytes; it must be message 1's body as the device sent it "
                  "(%u bytes: HELLO and Noise message 1)",
                  len, PV_UPD_MSG1_LEN);
        return;
    }
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_err e = {0};
    struct pv_bridge_update_offer o;
    uint8_t msg2[PV_UPD_MSG2_LEN];
    char sid[PV_BRIDGE_SESSION_ID_LEN] = "", msg2_hex[2 * PV_UPD_MSG2_LEN + 1], v[14], run[14];
    int rc = pv_bridge_update_begin(r->srv->bridge, &st, evbuffer_pullup(in, -1), len, msg2, sid,
                                    &o, &e);
    if (o.uid_hex[0])
        snprintf(r->detail, sizeof r->detail, "update begin uid=%s", o.uid_hex);
    if (rc != 0) {
        pv_refuse_err(r, &e);
        return;
    }
    snprintf(r->session, sizeof r->session, "%s", sid);
    pv_image_version_str(v, o.version);
    pv_image_version_str(run, o.running);
    size_t n = strlen(r->detail);
    snprintf(r->detail + n, sizeof r->detail - n, " runs=%s offer=%s chunks=%u", run,
             o.kind ? v : "none", (unsigned)o.chunks);
    tohex(msg2, sizeof msg2, msg2_hex);
    pv_reply_json(r, 200,
                  json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:I, s:I}", "session",
                            sid, "uid", o.uid_hex, "product", o.product, "batch", o.batch, "msg2",
                            msg2_hex, "running", run, "offer", o.kind ? "image" : "none", "version",
                            o.kind ? v : NULL, "size", (json_int_t)o.size, "chunks",
                            (json_int_t)o.chunks, "stream_len", (json_int_t)o.stream_len));
}

static void do_update_stream(struct pv_req *r)
{
    snprintf(r->detail, sizeof r->detail, "update stream");
    if (need_session(r))
        return;
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_err e = {0};
    const uint8_t *data = NULL;
    size_t len = 0;
    if (pv_bridge_update_stream(r->srv->bridge, &st, r->session, &data, &len, &e) != 0) {
        pv_refuse_err(r, &e);
        return;
    }
    snprintf(r->detail, sizeof r->detail, "update stream bytes=%zu", len);
    pv_reply_text(r, "application/octet-stream", (const char *)data, len);
}

static void do_update_report(struct pv_req *r)
{
    snprintf(r->detail, sizeof r->detail, "update report");
    if (need_session(r))
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    if (len != PV_UPD_REPORT_MSG_LEN) {
        pv_refuse(r, 400, "bad_request",
                  "the body is %zu bytes; it must be the device's REPORT frame body (%u bytes)",
                  len, PV_UPD_REPORT_MSG_LEN);
        return;
    }
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_err e = {0};
    pv_upd_report rep;
    if (pv_bridge_update_report(r->srv->bridge, &st, r->session, evbuffer_pullup(in, -1), len, &rep,
                                &e) != 0) {
        pv_refuse_err(r, &e);
        return;
    }
    char v[14], fl[14];
    pv_image_version_str(v, rep.app_version);
    pv_image_version_str(fl, rep.floor);
    snprintf(r->detail, sizeof r->detail, "update report result=%s version=%s",
             pv_upd_result_name(rep.result), v);
    pv_reply_json(r, 200,
                  json_pack("{s:s, s:s, s:s, s:I}", "result", pv_upd_result_name(rep.result),
                            "version", v, "floor", fl, "written", (json_int_t)rep.written));
}

static void do_healthz(struct pv_req *r)
{
    if (r->srv->shutting_down) {
        pv_refuse(r, 503, "shutting_down", "the bridge is stopping");
        return;
    }
    char why[512] = "";
    if (pv_bridge_health(r->srv->bridge, why, sizeof why) != 0) {
        snprintf(r->error, sizeof r->error, "unhealthy");
        snprintf(r->reason, sizeof r->reason, "%s", why);
        pv_reply_json(r, 503,
                      json_pack("{s:s, s:s, s:s}", "status", "unhealthy", "error", "unhealthy",
                                "reason", why));
        return;
    }
    pv_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void do_metrics(struct pv_req *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        pv_refuse(r, 500, "internal", "out of memory");
        return;
    }
    int rc = pv_bridge_metrics(r->srv->bridge, f);
    pv_metrics_write(&r->srv->metrics, f, r->srv->shutting_down);
    if (fclose(f) != 0 || rc != 0)
        pv_refuse(r, 500, "internal", "the metrics could not be gathered (the ledger?)");
    else
        pv_reply_text(r, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

void pv_route_handle(struct pv_req *r)
{
    switch (r->route) {
    case PV_ROUTE_PLAN:
        do_plan(r);
        break;
    case PV_ROUTE_BEGIN:
        do_begin(r);
        break;
    case PV_ROUTE_VERIFIED:
        do_verified(r);
        break;
    case PV_ROUTE_LOCK:
        do_lock(r);
        break;
    case PV_ROUTE_FAIL:
        do_fail(r);
        break;
    case PV_ROUTE_HEALTHZ:
        do_healthz(r);
        break;
    case PV_ROUTE_METRICS:
        do_metrics(r);
        break;
    case PV_ROUTE_UPDATE_BEGIN:
        do_update_begin(r);
        break;
    case PV_ROUTE_UPDATE_STREAM:
        do_update_stream(r);
        break;
    case PV_ROUTE_UPDATE_REPORT:
        do_update_report(r);
        break;
    case PV_ROUTE_OPERATOR: {
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
        const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
        pv_operator_handle(r, path ? path : "");
        break;
    }
    default:
        pv_refuse(r, 404, "not_found", "no such endpoint");
        break;
    }
}
