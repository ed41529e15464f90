/* The station's HTTPS client of hsm-bridge (bridge_client.h): one curl easy handle, TLS 1.3,
 * mutual certificates, JSON with jansson, and an incremental parser for the binary frame
 * answers (application/x-pv-frames: a 4-byte little-endian length, then the frame) that hands
 * each frame to the sink as soon as its last byte arrives. */
#include "bridge_client.h"
#include "image/image.h"
#include "bridge_client_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define FRAMES_TYPE "application/x-pv-frames"

struct pv_bridge_client {
    CURL *curl;
    char *base; /* the URL without a trailing '/' */
    unsigned requests;
    unsigned connections;
    char errbuf[CURL_ERROR_SIZE];
};

static void set_err(struct pv_bridge_err *e, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_err(struct pv_bridge_err *e, int status, const char *error, const char *fmt, ...)
{
    if (!e)
        return;
    e->status = status;
    snprintf(e->error, sizeof e->error, "%s", error);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    va_end(ap);
}

static void clear_err(struct pv_bridge_err *e)
{
    if (e)
        memset(e, 0, sizeof *e);
}

/* ---- setup ---- */

static int readable(const char *what, const char *path, char *err, size_t err_len)
{
    if (!path || !*path) {
        snprintf(err, err_len, "bridge client: no %s file given", what);
        return -1;
    }
    if (access(path, R_OK) != 0) {
        snprintf(err, err_len, "bridge client: %s file %s cannot be read", what, path);
        return -1;
    }
    return 0;
}

pv_bridge_client *pv_bridge_client_new(const struct pv_bridge_client_config *cfg, char *err,
                                       size_t err_len)
{
    if (!cfg->url || strncmp(cfg->url, "https://", 8) != 0 || !cfg->url[8]) {
        snprintf(err, err_len, "bridge client: the bridge URL must be https://HOST:PORT (got %s)",
                 cfg->url ? cfg->url : "none");
        return NULL;
    }
    if (readable("client certificate", cfg->cert, err, err_len) ||
        readable("client key", cfg->key, err, err_len) ||
        readable("bridge CA", cfg->ca, err, err_len))
        return NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, err_len, "bridge client: curl_global_init failed");
        return NULL;
    }
    pv_bridge_client *c = calloc(1, sizeof *c);
    if (!c || !(c->base = strdup(cfg->url)) || !(c->curl = curl_easy_init())) {
        snprintf(err, err_len, "bridge client: out of memory");
        pv_bridge_client_free(c);
        if (!c)
            curl_global_cleanup();
        return NULL;
    }
    size_t n = strlen(c->base);
    while (n > 8 && c->base[n - 1] == '/')
        c->base[--n] = 0;
    long timeout = cfg->timeout_s ? (long)cfg->timeout_s : (long)PV_BRIDGE_CLIENT_TIMEOUT_DEFAULT_S;
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3));
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_CAINFO, cfg->ca);
    SET(CURLOPT_CAPATH, NULL);
    SET(CURLOPT_SSLCERT, cfg->cert);
    SET(CURLOPT_SSLCERTTYPE, "PEM");
    SET(CURLOPT_SSLKEY, cfg->key);
    SET(CURLOPT_SSLKEYTYPE, "PEM");
    SET(CURLOPT_TIMEOUT, timeout);
    SET(CURLOPT_CONNECTTIMEOUT, timeout);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_USERAGENT, "provision-station/1");
#undef SET
    if (rc != CURLE_OK) {
        snprintf(err, err_len, "bridge client: libcurl refused an option: %s (libcurl built %s)",
                 curl_easy_strerror(rc), "without OpenSSL or TLS 1.3?");
        pv_bridge_client_free(c);
        return NULL;
    }
    return c;
}

void pv_bridge_client_free(pv_bridge_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base);
    free(c);
    curl_global_cleanup();
}

unsigned pv_bridge_client_requests(const pv_bridge_client *c)
{
    return c->requests;
}

unsigned pv_bridge_client_connections(const pv_bridge_client *c)
{
    return c->connections;
}

struct write_ctx {
    CURL *curl;
    struct pv_bc_response *r;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct write_ctx *w = userdata;
    struct pv_bc_response *r = w->r;
    size_t n = size * nmemb;
    if (r->mode == 0) {
        long status = 0;
        char *type = NULL;
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(w->curl, CURLINFO_CONTENT_TYPE, &type);
        r->mode =
            status == 200 && type && strncmp(type, FRAMES_TYPE, strlen(FRAMES_TYPE)) == 0 ? 1 : 2;
    }
    int rc = r->mode == 1 ? pv_bc_frames_feed(r, (const uint8_t *)data, n)
                          : pv_bc_body_append(r, data, n);
    return rc == 0 ? n : 0; /* 0: curl stops with CURLE_WRITE_ERROR */
}

/* ---- one request ---- */

struct request {
    const char *method; /* "GET" or "POST" */
    const char *path;   /* "/v1/plan?..." */
    const char *type;   /* request body's Content-Type */
    const void *body;
    size_t body_len;
};

/* Sends req and reads the answer into r (frames to r->sink). 0 with *status 200, or -1 with e
 * filled: a refusal (e->status the HTTP status) or a transport failure (status 0). */
static int perform(pv_bridge_client *c, const struct request *req, struct pv_bc_response *r,
                   struct pv_bridge_err *e)
{
    CURL *h = c->curl;
    size_t url_len = strlen(c->base) + strlen(req->path) + 1;
    char *url = malloc(url_len);
    if (!url) {
        set_err(e, 0, "transport", "out of memory");
        return -1;
    }
    snprintf(url, url_len, "%s%s", c->base, req->path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:"); /* no 100-continue wait */
    char ctype[96];
    if (req->type) {
        snprintf(ctype, sizeof ctype, "Content-Type: %s", req->type);
        struct curl_slist *h2 = hdrs ? curl_slist_append(hdrs, ctype) : NULL;
        if (!h2) {
            curl_slist_free_all(hdrs);
            hdrs = NULL;
        } else {
            hdrs = h2;
        }
    }
    if (!hdrs) {
        free(url);
        set_err(e, 0, "transport", "out of memory");
        return -1;
    }
    struct write_ctx w = {.curl = h, .r = r};
    int post = strcmp(req->method, "POST") == 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    c->errbuf[0] = 0;
    c->requests++;
    CURLcode rc = curl_easy_perform(h);
    long connects = 0;
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        c->connections += (unsigned)connects;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
    int ret = -1;
    if (rc == CURLE_WRITE_ERROR && r->sink_stopped) {
        set_err(e, 0, "aborted", "%s %s: the frame sink stopped the transfer after %u frame(s)",
                req->method, req->path, r->frames);
    } else if (rc == CURLE_WRITE_ERROR && r->too_long) {
        set_err(e, 0, "bad_response", "%s %s: the answer has a frame or body over the limit",
                req->method, req->path);
    } else if (rc != CURLE_OK) {
        set_err(e, 0, "transport", "%s %s: %s", req->method, url,
                c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    } else if (status != 200) {
        pv_bc_refusal(r, (int)status, req->path, e);
    } else if (r->mode == 1 && r->hdr_have) {
        set_err(e, 0, "transport", "%s %s: the frames end inside a frame (%zu of %zu bytes)",
                req->method, req->path, r->frame_have, r->frame_len);
    } else {
        ret = 0;
    }
    free(url);
    return ret;
}

/* ---- encodings ---- */

static char *b64_encode(const uint8_t *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        out[2 * i] = digits[p[i] >> 4], out[2 * i + 1] = digits[p[i] & 15];
    out[2 * n] = 0;
}

/* ---- plan ---- */

static char *escape(CURL *h, const char *s)
{
    return curl_easy_escape(h, s, 0);
}

int pv_bridge_client_plan(pv_bridge_client *c, const char *product, const char *batch,
                          struct pv_bridge_plan *plan, struct pv_bridge_err *e)
{
    memset(plan, 0, sizeof *plan);
    clear_err(e);
    char *p = escape(c->curl, product), *b = escape(c->curl, batch);
    char *path = NULL;
    if (p && b) {
        size_t n = strlen(p) + strlen(b) + 32;
        path = malloc(n);
        if (path)
            snprintf(path, n, "/v1/plan?product=%s&batch=%s", p, b);
    }
    curl_free(p);
    curl_free(b);
    if (!path) {
        set_err(e, 0, "transport", "out of memory");
        return -1;
    }
    struct request req = {.method = "GET", .path = path};
    struct pv_bc_response r = {0};
    int rc = perform(c, &req, &r, e);
    if (rc == 0) {
        const char *bad = pv_bc_plan_parse(r.body, r.body_len, plan);
        if (bad) {
            set_err(e, 0, "bad_response", "GET /v1/plan: the bridge's plan has no valid %s", bad);
            pv_bridge_client_plan_free(plan);
            rc = -1;
        }
    }
    pv_bc_response_free(&r);
    free(path);
    return rc;
}

/* ---- session steps ---- */

/* POSTs a JSON document; frames (if any) go to sink. */
static int post_json(pv_bridge_client *c, const char *path, json_t *doc, pv_bridge_frame_sink sink,
                     void *ctx, struct pv_bc_response *r, struct pv_bridge_err *e)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!body) {
        set_err(e, 0, "transport", "out of memory");
        return -1;
    }
    struct request req = {.method = "POST",
                          .path = path,
                          .type = "application/json",
                          .body = body,
                          .body_len = strlen(body)};
    r->sink = sink, r->ctx = ctx;
    int rc = perform(c, &req, r, e);
    free(body);
    return rc;
}

int pv_bridge_client_begin(pv_bridge_client *c, const char *product, const char *batch,
                           const struct pv_bridge_identity *id, uint32_t mbox_flags,
                           const uint8_t *msg1, size_t msg1_len, pv_bridge_frame_sink sink,
                           void *ctx, char session_id[PV_BRIDGE_SESSION_ID_LEN],
                           struct pv_bridge_err *e)
{
    clear_err(e);
    session_id[0] = 0;
    char uid[25];
    hex(id->uid, 12, uid);
    char *m1 = b64_encode(msg1, msg1_len);
    json_t *doc =
        m1 ? json_pack("{s:s, s:s, s:{s:s, s:I, s:I, s:I}, s:I, s:s}", "product", product, "batch",
                       batch, "identity", "uid", uid, "dev_id", (json_int_t)id->dev_id, "flash_kb",
                       (json_int_t)id->flash_kb, "rdp", (json_int_t)id->rdp, "mailbox_flags",
                       (json_int_t)mbox_flags, "message1", m1)
           : NULL;
    free(m1);
    if (doc && id->mes) {
        json_error_t jerr;
        json_t *mes = json_loads(id->mes, 0, &jerr);
        if (mes)
            json_object_set_new(doc, "mes", mes);
    }
    struct pv_bc_response r = {0};
    int rc = post_json(c, "/v1/sessions", doc, sink, ctx, &r, e);
    json_decref(doc);
    /* The session id arrives with the headers: a body cut off (network, or the sink stopped
     * it) still names the session, so the station can report the failure to the bridge. */
    struct curl_header *h = NULL;
    if ((rc == 0 || e->status == 0) &&
        curl_easy_header(c->curl, "PV-Session", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
        pv_bc_session_id_ok(h->value))
        snprintf(session_id, PV_BRIDGE_SESSION_ID_LEN, "%s", h->value);
    if (rc == 0 && !session_id[0]) {
        set_err(e, 0, "bad_response", "POST /v1/sessions: no valid PV-Session header");
        rc = -1;
    }
    pv_bc_response_free(&r);
    return rc;
}

static int session_path(const char *session_id, const char *step, char *out, size_t cap,
                        struct pv_bridge_err *e)
{
    if (!pv_bc_session_id_ok(session_id)) {
        set_err(e, 404, "unknown_session", "'%s' is not a session id (32 hex digits)",
                session_id ? session_id : "");
        return -1;
    }
    snprintf(out, cap, "/v1/sessions/%s/%s", session_id, step);
    return 0;
}

int pv_bridge_client_verified(pv_bridge_client *c, const char *session_id, const uint8_t *reply,
                              size_t reply_len, pv_bridge_frame_sink sink, void *ctx,
                              struct pv_bridge_err *e)
{
    clear_err(e);
    char path[96];
    if (session_path(session_id, "verified", path, sizeof path, e))
        return -1;
    struct request req = {.method = "POST",
                          .path = path,
                          .type = "application/octet-stream",
                          .body = reply,
                          .body_len = reply_len};
    struct pv_bc_response r = {.sink = sink, .ctx = ctx};
    int rc = perform(c, &req, &r, e);
    pv_bc_response_free(&r);
    return rc;
}

int pv_bridge_client_lock(pv_bridge_client *c, const char *session_id, const uint8_t *reply,
                          size_t reply_len, const struct pv_bridge_observed *obs,
                          struct pv_bridge_outcome *out, struct pv_bridge_err *e)
{
    clear_err(e);
    if (out)
        memset(out, 0, sizeof *out);
    char path[96];
    if (session_path(session_id, "lock", path, sizeof path, e))
        return -1;
    char *rep = b64_encode(reply, reply_len);
    json_t *doc =
        rep ? json_pack("{s:s, s:{s:I, s:s}}", "reply", rep, "observed", "rdp_level",
                        (json_int_t)obs->rdp_level, "method", obs->method ? obs->method : "")
            : NULL;
    free(rep);
    struct pv_bc_response r = {0};
    int rc = post_json(c, path, doc, NULL, NULL, &r, e);
    json_decref(doc);
    if (rc == 0 && out && pv_bc_lock_outcome(r.body, r.body_len, out) != 0) {
        set_err(e, 0, "bad_response",
                "POST %s: the answer lacks uid, batch, rdp_level, "
                "quota or used",
                path);
        rc = -1;
    }
    pv_bc_response_free(&r);
    return rc;
}

int pv_bridge_client_fail(pv_bridge_client *c, const char *session_id, const char *phase,
                          const char *reason, struct pv_bridge_err *e)
{
    clear_err(e);
    char path[96];
    if (session_path(session_id, "fail", path, sizeof path, e))
        return -1;
    json_t *doc =
        json_pack("{s:s, s:s}", "phase", phase ? phase : "", "reason", reason ? reason : "");
    struct pv_bc_response r = {0};
    int rc = post_json(c, path, doc, NULL, NULL, &r, e);
    json_decref(doc);
    pv_bc_response_free(&r);
    return rc;
}

/* ---- firmware updates ---- */

static const char *jstr(json_t *doc, const char *key)
{
    const char *v = json_string_value(json_object_get(doc, key));
    return v ? v : "";
}

int pv_bridge_client_update_begin(pv_bridge_client *c, const uint8_t *msg1, size_t msg1_len,
                                  uint8_t msg2[PV_UPD_MSG2_LEN],
                                  char session_id[PV_BRIDGE_SESSION_ID_LEN],
                                  struct pv_bridge_update_offer *offer, struct pv_bridge_err *e)
{
    clear_err(e);
    session_id[0] = 0;
    memset(offer, 0, sizeof *offer);
    struct request req = {.method = "POST",
                          .path = "/v1/update/begin",
                          .type = "application/octet-stream",
                          .body = msg1,
                          .body_len = msg1_len};
    struct pv_bc_response r = {0};
    int rc = perform(c, &req, &r, e);
    json_t *doc = rc == 0 ? json_loadb(r.body ? r.body : "", r.body_len, 0, NULL) : NULL;
    pv_bc_response_free(&r);
    if (rc != 0)
        return rc;
    const char *hexm = jstr(doc, "msg2"), *sid = jstr(doc, "session");
    uint32_t v = 0;
    int ok = doc && strlen(hexm) == 2 * PV_UPD_MSG2_LEN && pv_bc_session_id_ok(sid);
    for (size_t i = 0; ok && i < PV_UPD_MSG2_LEN; i++) {
        unsigned b;
        ok = sscanf(hexm + 2 * i, "%2x", &b) == 1;
        msg2[i] = (uint8_t)b;
    }
    if (ok) {
        snprintf(session_id, PV_BRIDGE_SESSION_ID_LEN, "%s", sid);
        snprintf(offer->uid_hex, sizeof offer->uid_hex, "%s", jstr(doc, "uid"));
        snprintf(offer->product, sizeof offer->product, "%s", jstr(doc, "product"));
        snprintf(offer->batch, sizeof offer->batch, "%s", jstr(doc, "batch"));
        offer->kind =
            strcmp(jstr(doc, "offer"), "image") == 0 ? PV_UPD_OFFER_IMAGE : PV_UPD_OFFER_NONE;
        if (pv_image_version_parse(jstr(doc, "running"), &v) == 0)
            offer->running = v;
        if (offer->kind && pv_image_version_parse(jstr(doc, "version"), &v) == 0)
            offer->version = v;
        offer->size = (uint32_t)json_integer_value(json_object_get(doc, "size"));
        offer->chunks = (uint32_t)json_integer_value(json_object_get(doc, "chunks"));
        offer->stream_len = (size_t)json_integer_value(json_object_get(doc, "stream_len"));
    }
    json_decref(doc);
    if (!ok) {
        set_err(e, 0, "bad_response",
                "POST /v1/update/begin: the answer lacks session or msg2 (%u hex digits)",
                2 * PV_UPD_MSG2_LEN);
        return -1;
    }
    return 0;
}

static int update_path(const char *session_id, const char *step, char *out, size_t cap,
                       struct pv_bridge_err *e)
{
    if (!pv_bc_session_id_ok(session_id)) {
        set_err(e, 404, "unknown_session", "'%s' is not a session id (32 hex digits)",
                session_id ? session_id : "");
        return -1;
    }
    snprintf(out, cap, "/v1/update/%s/%s", session_id, step);
    return 0;
}

int pv_bridge_client_update_stream(pv_bridge_client *c, const char *session_id, uint8_t **data,
                                   size_t *len, struct pv_bridge_err *e)
{
    clear_err(e);
    *data = NULL;
    *len = 0;
    char path[96];
    if (update_path(session_id, "stream", path, sizeof path, e))
        return -1;
    struct request req = {.method = "GET", .path = path};
    struct pv_bc_response r = {0};
    int rc = perform(c, &req, &r, e);
    if (rc == 0) {
        *data = (uint8_t *)r.body;
        *len = r.body_len;
        r.body = NULL;
    }
    pv_bc_response_free(&r);
    return rc;
}

int pv_bridge_client_update_report(pv_bridge_client *c, const char *session_id,
                                   const uint8_t *report, size_t len, char result[24],
                                   char version[16], struct pv_bridge_err *e)
{
    clear_err(e);
    result[0] = version[0] = 0;
    char path[96];
    if (update_path(session_id, "report", path, sizeof path, e))
        return -1;
    struct request req = {.method = "POST",
                          .path = path,
                          .type = "application/octet-stream",
                          .body = report,
                          .body_len = len};
    struct pv_bc_response r = {0};
    int rc = perform(c, &req, &r, e);
    json_t *doc = rc == 0 ? json_loadb(r.body ? r.body : "", r.body_len, 0, NULL) : NULL;
    pv_bc_response_free(&r);
    if (rc != 0)
        return rc;
    snprintf(result, 24, "%s", jstr(doc, "result"));
    snprintf(version, 16, "%s", jstr(doc, "version"));
    json_decref(doc);
    if (!result[0]) {
        set_err(e, 0, "bad_response", "POST %s: the answer has no result", path);
        return -1;
    }
    return 0;
}
