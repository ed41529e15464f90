/* The station's HTTPS client of hsm-bridge (bridge_client.h): one curl easy handle, TLS 1.3,
 * mutual certificates, JSON with jansson, and an incremental parser for the binary frame
 * answers (application/x-pv-frames: a 4-byte little-endian length, then the frame) that hands
 * each frame to the sink as soon as its last byte arrives. */
#include "bridge_client.h"

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

/* What one response is turned into while it arrives. */
struct response {
    int mode; /* 0 undecided, 1 frames, 2 body (JSON) */
    pv_bridge_frame_sink sink;
    void *ctx;
    unsigned frames;
    /* frames: the length prefix, then the frame */
    uint8_t hdr[4];
    size_t hdr_have;
    uint8_t *frame;
    size_t frame_len, frame_have;
    int sink_stopped, too_long;
    /* body */
    char *body;
    size_t body_len, body_cap;
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

/* ---- the response parser ---- */

static int body_append(struct response *r, const char *p, size_t n)
{
    if (r->body_len + n > PV_BRIDGE_CLIENT_BODY_MAX) {
        r->too_long = 1;
        return -1;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b)
            return -1;
        r->body = b, r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return 0;
}

/* Consumes frame bytes: completes the length prefix, then the frame, and hands each whole frame
 * to the sink at once. */
static int frames_feed(struct response *r, const uint8_t *p, size_t n)
{
    while (n) {
        if (r->hdr_have < 4) {
            size_t k = 4 - r->hdr_have < n ? 4 - r->hdr_have : n;
            memcpy(r->hdr + r->hdr_have, p, k);
            r->hdr_have += k, p += k, n -= k;
            if (r->hdr_have < 4)
                break;
            r->frame_len = (size_t)r->hdr[0] | (size_t)r->hdr[1] << 8 | (size_t)r->hdr[2] << 16 |
                           (size_t)r->hdr[3] << 24;
            if (r->frame_len == 0 || r->frame_len > PV_BRIDGE_CLIENT_FRAME_MAX) {
                r->too_long = 1;
                return -1;
            }
            r->frame = malloc(r->frame_len);
            if (!r->frame)
                return -1;
            r->frame_have = 0;
        }
        size_t want = r->frame_len - r->frame_have;
        size_t k = want < n ? want : n;
        memcpy(r->frame + r->frame_have, p, k);
        r->frame_have += k, p += k, n -= k;
        if (r->frame_have == r->frame_len) {
            int stop = r->sink ? r->sink(r->ctx, r->frame, r->frame_len) : 0;
            OPENSSL_cleanse(r->frame, r->frame_len);
            free(r->frame);
            r->frame = NULL;
            r->hdr_have = 0, r->frame_len = r->frame_have = 0;
            r->frames++;
            if (stop) {
                r->sink_stopped = 1;
                return -1;
            }
        }
    }
    return 0;
}

struct write_ctx {
    CURL *curl;
    struct response *r;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct write_ctx *w = userdata;
    struct response *r = w->r;
    size_t n = size * nmemb;
    if (r->mode == 0) {
        long status = 0;
        char *type = NULL;
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(w->curl, CURLINFO_CONTENT_TYPE, &type);
        r->mode =
            status == 200 && type && strncmp(type, FRAMES_TYPE, strlen(FRAMES_TYPE)) == 0 ? 1 : 2;
    }
    int rc = r->mode == 1 ? frames_feed(r, (const uint8_t *)data, n) : body_append(r, data, n);
    return rc == 0 ? n : 0; /* 0: curl stops with CURLE_WRITE_ERROR */
}

static void response_free(struct response *r)
{
    if (r->frame) {
        OPENSSL_cleanse(r->frame, r->frame_len);
        free(r->frame);
    }
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* ---- one request ---- */

struct request {
    const char *method; /* "GET" or "POST" */
    const char *path;   /* "/v1/plan?..." */
    const char *type;   /* request body's Content-Type */
    const void *body;
    size_t body_len;
};

/* The error of a refusal: the JSON body's {"error","reason"}, else from the status alone. */
static void refusal(const struct response *r, int status, const char *path, struct pv_bridge_err *e)
{
    json_error_t je;
    json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, &je) : NULL;
    const char *error = j ? json_string_value(json_object_get(j, "error")) : NULL;
    const char *reason = j ? json_string_value(json_object_get(j, "reason")) : NULL;
    if (error) {
        set_err(e, status, error, "%s", reason ? reason : "");
    } else {
        const char *code = status == 400   ? "bad_request"
                           : status == 401 ? "no_client_certificate"
                           : status == 404 ? "not_found"
                           : status == 405 ? "method_not_allowed"
                           : status == 413 ? "too_large"
                           : status == 503 ? "shutting_down"
                           : status >= 500 ? "internal"
                                           : "http_error";
        set_err(e, status, code, "the bridge answered HTTP %d to %s without a JSON error", status,
                path);
    }
    json_decref(j);
}

/* Sends req and reads the answer into r (frames to r->sink). 0 with *status 200, or -1 with e
 * filled: a refusal (e->status the HTTP status) or a transport failure (status 0). */
static int perform(pv_bridge_client *c, const struct request *req, struct response *r,
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
        refusal(r, (int)status, req->path, e);
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

/* Strict base64 (padding as EVP_EncodeBlock writes it). malloc'd bytes, or NULL. */
static uint8_t *b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4)
        return NULL;
    uint8_t *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    int k = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (k < 0) {
        free(out);
        return NULL;
    }
    size_t pad = n >= 1 && s[n - 1] == '=' ? (n >= 2 && s[n - 2] == '=' ? 2 : 1) : 0;
    *len = (size_t)k - pad;
    return out;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        out[2 * i] = digits[p[i] >> 4], out[2 * i + 1] = digits[p[i] & 15];
    out[2 * n] = 0;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = s[2 * i + (size_t)k];
            v <<= 4;
            if (ch >= '0' && ch <= '9')
                v |= (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f')
                v |= (unsigned)(ch - 'a' + 10);
            else if (ch >= 'A' && ch <= 'F')
                v |= (unsigned)(ch - 'A' + 10);
            else
                return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int session_id_ok(const char *id)
{
    if (!id || strlen(id) != PV_BRIDGE_SESSION_ID_LEN - 1)
        return 0;
    for (const char *p = id; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return 0;
    return 1;
}

/* ---- plan ---- */

static int get_u32(json_t *o, const char *key, uint32_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)UINT32_MAX)
        return -1;
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static char *get_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

static int get_region(json_t *layout, const char *name, uint32_t *addr, uint32_t *size)
{
    json_t *r = json_object_get(layout, name);
    return get_u32(r, "address", addr) || get_u32(r, "size", size) ? -1 : 0;
}

/* Fills plan from the JSON; the name of the first missing or wrong field, or NULL. */
static const char *plan_from_json(json_t *j, struct pv_bridge_plan *p)
{
    char *s;
    if (!(s = get_str(j, "product")))
        return "product";
    p->product = s;
    if (!(s = get_str(j, "batch")))
        return "batch";
    p->batch = s;
    if (!(s = get_str(j, "recipe")))
        return "recipe";
    p->recipe = s;
    const char *digest = json_string_value(json_object_get(j, "recipe_sha256"));
    if (!digest || strlen(digest) != 64)
        return "recipe_sha256";
    snprintf(p->recipe_sha256, sizeof p->recipe_sha256, "%s", digest);
    const char *boot = json_string_value(json_object_get(j, "boot_sha256"));
    if (!boot || strlen(boot) != 64)
        return "boot_sha256";
    snprintf(p->boot_sha256, sizeof p->boot_sha256, "%s", boot);
    uint32_t v;
    if (get_u32(j, "rdp_level", &v) || v > 2)
        return "rdp_level";
    p->rdp_level = v;
    json_t *chip = json_object_get(j, "chip");
    if (!(s = get_str(chip, "family")))
        return "chip.family";
    p->chip_family = s;
    if (get_u32(chip, "device_id", &p->device_id))
        return "chip.device_id";
    if (get_u32(chip, "flash_kb", &p->flash_kb))
        return "chip.flash_kb";
    if (get_u32(chip, "sram_kb", &p->sram_kb))
        return "chip.sram_kb";
    json_t *layout = json_object_get(j, "layout");
    pv_layout *l = &p->layout;
    if (get_region(layout, "bootloader", &l->boot_addr, &l->boot_size))
        return "layout.bootloader";
    if (get_region(layout, "key_slot", &l->keyslot_addr, &l->keyslot_size))
        return "layout.key_slot";
    if (get_region(layout, "counter", &l->counter_addr, &l->counter_size))
        return "layout.counter";
    if (get_region(layout, "application", &l->app_addr, &l->app_size))
        return "layout.application";
    json_t *stub = json_object_get(j, "stub");
    if (get_u32(stub, "sram_base", &p->stub_sram_base))
        return "stub.sram_base";
    if (unhex(json_string_value(json_object_get(stub, "sha256")), p->stub_sha256, 32))
        return "stub.sha256";
    const char *img = json_string_value(json_object_get(stub, "image"));
    size_t len = 0;
    uint8_t *bytes = img ? b64_decode(img, &len) : NULL;
    if (!bytes)
        return "stub.image";
    p->stub = bytes;
    p->stub_len = len;
    if (len == 0)
        return "stub.image";
    uint8_t md[32];
    unsigned mdlen = 0;
    if (!EVP_Digest(bytes, len, md, &mdlen, EVP_sha256(), NULL) ||
        CRYPTO_memcmp(md, p->stub_sha256, 32) != 0)
        return "stub.image (its SHA-256 is not stub.sha256)";
    if (unhex(json_string_value(json_object_get(j, "bridge_public_key")), p->bridge_pub, 32))
        return "bridge_public_key";
    if (get_u32(j, "boot_len", &p->boot_len) || p->boot_len == 0)
        return "boot_len";
    if (get_u32(j, "app_len", &p->app_len))
        return "app_len";
    return NULL;
}

void pv_bridge_client_plan_free(struct pv_bridge_plan *p)
{
    /* The strings and stub were allocated here; the struct's const is for its readers. */
    free((void *)(uintptr_t)p->product);
    free((void *)(uintptr_t)p->batch);
    free((void *)(uintptr_t)p->recipe);
    free((void *)(uintptr_t)p->chip_family);
    free((void *)(uintptr_t)p->stub);
    memset(p, 0, sizeof *p);
}

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
    struct response r = {0};
    int rc = perform(c, &req, &r, e);
    if (rc == 0) {
        json_error_t je;
        json_t *j = r.body ? json_loadb(r.body, r.body_len, 0, &je) : NULL;
        const char *bad = j ? plan_from_json(j, plan) : "the body (not JSON)";
        if (bad) {
            set_err(e, 0, "bad_response", "GET /v1/plan: the bridge's plan has no valid %s", bad);
            pv_bridge_client_plan_free(plan);
            rc = -1;
        }
        json_decref(j);
    }
    response_free(&r);
    free(path);
    return rc;
}

/* ---- session steps ---- */

/* POSTs a JSON document; frames (if any) go to sink. */
static int post_json(pv_bridge_client *c, const char *path, json_t *doc, pv_bridge_frame_sink sink,
                     void *ctx, struct response *r, struct pv_bridge_err *e)
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
    struct response r = {0};
    int rc = post_json(c, "/v1/sessions", doc, sink, ctx, &r, e);
    json_decref(doc);
    /* The session id arrives with the headers: a body cut off (network, or the sink stopped
     * it) still names the session, so the station can report the failure to the bridge. */
    struct curl_header *h = NULL;
    if ((rc == 0 || e->status == 0) &&
        curl_easy_header(c->curl, "PV-Session", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
        session_id_ok(h->value))
        snprintf(session_id, PV_BRIDGE_SESSION_ID_LEN, "%s", h->value);
    if (rc == 0 && !session_id[0]) {
        set_err(e, 0, "bad_response", "POST /v1/sessions: no valid PV-Session header");
        rc = -1;
    }
    response_free(&r);
    return rc;
}

static int session_path(const char *session_id, const char *step, char *out, size_t cap,
                        struct pv_bridge_err *e)
{
    if (!session_id_ok(session_id)) {
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
    struct response r = {.sink = sink, .ctx = ctx};
    int rc = perform(c, &req, &r, e);
    response_free(&r);
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
    struct response r = {0};
    int rc = post_json(c, path, doc, NULL, NULL, &r, e);
    json_decref(doc);
    if (rc == 0 && out) {
        json_error_t je;
        json_t *j = r.body ? json_loadb(r.body, r.body_len, 0, &je) : NULL;
        const char *uid = json_string_value(json_object_get(j, "uid"));
        const char *batch = json_string_value(json_object_get(j, "batch"));
        uint32_t level = 0;
        if (!j || !uid || strlen(uid) != 24 || !batch || get_u32(j, "rdp_level", &level) ||
            get_u32(j, "quota", &out->quota) || get_u32(j, "used", &out->used)) {
            set_err(e, 0, "bad_response",
                    "POST %s: the answer lacks uid, batch, rdp_level, "
                    "quota or used",
                    path);
            rc = -1;
        } else {
            snprintf(out->uid_hex, sizeof out->uid_hex, "%s", uid);
            snprintf(out->batch, sizeof out->batch, "%s", batch);
            out->rdp_level = level;
        }
        json_decref(j);
    }
    response_free(&r);
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
    struct response r = {0};
    int rc = post_json(c, path, doc, NULL, NULL, &r, e);
    json_decref(doc);
    response_free(&r);
    return rc;
}
