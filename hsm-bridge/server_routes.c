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

const char *pv_route_name(enum pv_route r)
{
    static const char *const names[PV_ROUTE_COUNT] = {"plan", "begin",   "verified", "lock",
                                                      "fail", "healthz", "metrics",  "other"};
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
    else if (strncmp(path, "/v1/sessions/", 13) == 0) {
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

/* ---- request bodies ---- */

static json_t *body_json(struct pv_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    const char *text = (const char *)evbuffer_pullup(in, -1);
    json_error_t je;
    json_t *j = len ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!len) {
        pv_refuse(r, 400, "bad_request", "the body is empty; a JSON object is expected");
        return NULL;
    }
    if (!j) {
        pv_refuse(r, 400, "bad_request", "the body is not JSON: %s (line %d, column %d)", je.text,
                  je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        pv_refuse(r, 400, "bad_request", "the body is not a JSON object");
        return NULL;
    }
    return j;
}

/* The string at key of obj, or NULL after a 400 naming field. */
static const char *want_str(struct pv_req *r, json_t *obj, const char *key, const char *field)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        pv_refuse(r, 400, "bad_request", "field '%s' %s", field,
                  v ? "is not a non-empty string" : "is missing");
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        pv_refuse(r, 400, "bad_request", "field '%s' contains a NUL character", field);
        return NULL;
    }
    return json_string_value(v);
}

static int want_uint(struct pv_req *r, json_t *obj, const char *key, const char *field,
                     uint32_t max, uint32_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)max) {
        pv_refuse(r, 400, "bad_request", "field '%s' %s", field,
                  v ? "is not a number in range" : "is missing");
        return -1;
    }
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static json_t *want_obj(struct pv_req *r, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_object(v)) {
        pv_refuse(r, 400, "bad_request", "field '%s' %s", key,
                  v ? "is not an object" : "is missing");
        return NULL;
    }
    return v;
}

/* Strict base64 of field into malloc'd bytes, or NULL after a 400. */
static uint8_t *want_b64(struct pv_req *r, json_t *obj, const char *key, size_t *len)
{
    const char *s = want_str(r, obj, key, key);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    uint8_t *out = n % 4 == 0 ? malloc(n / 4 * 3 + 1) : NULL;
    int k = out ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : -1;
    if (k < 0) {
        free(out);
        pv_refuse(r, 400, "bad_request", "field '%s' is not base64", key);
        return NULL;
    }
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    *len = (size_t)k - pad;
    return out;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return -1;
    for (size_t i = 0; i < n; i++) {
        char b[3] = {s[2 * i], s[2 * i + 1], 0};
        out[i] = (uint8_t)strtoul(b, NULL, 16);
    }
    return 0;
}

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
    if (evhttp_parse_query_str(query ? query : "", &q) != 0) {
        pv_refuse(r, 400, "bad_request", "the query string cannot be parsed");
        return;
    }
    const char *product = evhttp_find_header(&q, "product");
    const char *batch = evhttp_find_header(&q, "batch");
    if (!product || !*product || !batch || !*batch) {
        pv_refuse(r, 400, "bad_request", "query parameter '%s' is missing",
                  !product || !*product ? "product" : "batch");
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
    json_t *j = body_json(r);
    if (!j)
        return;
    const char *product, *batch, *uid_hex;
    json_t *ident;
    struct pv_bridge_identity id = {0};
    uint32_t flags, rdp;
    uint8_t *msg1 = NULL;
    size_t msg1_len = 0;
    if (!(product = want_str(r, j, "product", "product")) ||
        !(batch = want_str(r, j, "batch", "batch")) || !(ident = want_obj(r, j, "identity")) ||
        !(uid_hex = want_str(r, ident, "uid", "identity.uid")))
        goto out;
    if (unhex(uid_hex, id.uid, sizeof id.uid) != 0) {
        pv_refuse(r, 400, "bad_request", "field 'identity.uid' is not 24 hex digits");
        goto out;
    }
    if (want_uint(r, ident, "dev_id", "identity.dev_id", 0xfff, &id.dev_id) ||
        want_uint(r, ident, "flash_kb", "identity.flash_kb", 1u << 20, &id.flash_kb) ||
        want_uint(r, ident, "rdp", "identity.rdp", 255, &rdp) ||
        want_uint(r, j, "mailbox_flags", "mailbox_flags", UINT32_MAX, &flags) ||
        !(msg1 = want_b64(r, j, "message1", &msg1_len)))
        goto out;
    id.rdp = (uint8_t)rdp;
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
    int rc = pv_bridge_begin(r->srv->bridge, &st, product, batch, &id, flags, msg1, msg1_len,
                             frame_sink, frames, sid, &e);
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
    free(msg1);
    json_decref(j);
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
    json_t *j = body_json(r);
    if (!j)
        return;
    uint8_t *reply = NULL;
    size_t reply_len = 0;
    json_t *obs_j;
    struct pv_bridge_observed obs = {0};
    uint32_t level;
    if (!(reply = want_b64(r, j, "reply", &reply_len)) || !(obs_j = want_obj(r, j, "observed")) ||
        want_uint(r, obs_j, "rdp_level", "observed.rdp_level", 2, &level) ||
        !(obs.method = want_str(r, obs_j, "method", "observed.method")))
        goto out;
    obs.rdp_level = level;
    snprintf(r->detail, sizeof r->detail, "lock observed_rdp=%u", level);
    struct pv_bridge_station st;
    station_of(r, &st);
    struct pv_bridge_err e = {0};
    struct pv_bridge_outcome o;
    memset(&o, 0, sizeof o);
    if (pv_bridge_lock(r->srv->bridge, &st, r->session, reply, reply_len, &obs, &o, &e) != 0) {
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
    free(reply);
    json_decref(j);
}

static void do_fail(struct pv_req *r)
{
    snprintf(r->detail, sizeof r->detail, "fail");
    if (need_session(r))
        return;
    json_t *j = body_json(r);
    if (!j)
        return;
    const char *phase, *reason;
    if ((phase = want_str(r, j, "phase", "phase")) &&
        (reason = want_str(r, j, "reason", "reason"))) {
        snprintf(r->detail, sizeof r->detail, "fail phase=%.40s", phase);
        struct pv_bridge_station st;
        station_of(r, &st);
        struct pv_bridge_err e = {0};
        if (pv_bridge_fail(r->srv->bridge, &st, r->session, phase, reason, &e) != 0)
            pv_refuse_err(r, &e);
        else
            pv_reply_json(r, 200,
                          json_pack("{s:s, s:s}", "state", "failed", "session", r->session));
    }
    json_decref(j);
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
    default:
        pv_refuse(r, 404, "not_found", "no such endpoint");
        break;
    }
}
