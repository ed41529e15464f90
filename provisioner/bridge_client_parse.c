/* The bridge client's parsers (bridge_client_parse.h). */
#include "bridge_client_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

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

/* ---- the response parser ---- */

int pv_bc_body_append(struct pv_bc_response *r, const char *p, size_t n)
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

int pv_bc_frames_feed(struct pv_bc_response *r, const uint8_t *p, size_t n)
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

void pv_bc_response_free(struct pv_bc_response *r)
{
    if (r->frame) {
        OPENSSL_cleanse(r->frame, r->frame_len);
        free(r->frame);
    }
    free(r->body);
    memset(r, 0, sizeof *r);
}

void pv_bc_refusal(const struct pv_bc_response *r, int status, const char *path,
                   struct pv_bridge_err *e)
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

/* ---- encodings ---- */

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

int pv_bc_session_id_ok(const char *id)
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

const char *pv_bc_plan_parse(const char *body, size_t len, struct pv_bridge_plan *plan)
{
    json_error_t je;
    json_t *j = body ? json_loadb(body, len, 0, &je) : NULL;
    const char *bad = j ? plan_from_json(j, plan) : "the body (not JSON)";
    json_decref(j);
    return bad;
}

/* ---- lock ---- */

int pv_bc_lock_outcome(const char *body, size_t len, struct pv_bridge_outcome *out)
{
    json_error_t je;
    json_t *j = body ? json_loadb(body, len, 0, &je) : NULL;
    const char *uid = json_string_value(json_object_get(j, "uid"));
    const char *batch = json_string_value(json_object_get(j, "batch"));
    uint32_t level = 0;
    int rc = -1;
    if (!(!j || !uid || strlen(uid) != 24 || !batch || get_u32(j, "rdp_level", &level) ||
          get_u32(j, "quota", &out->quota) || get_u32(j, "used", &out->used))) {
        snprintf(out->uid_hex, sizeof out->uid_hex, "%s", uid);
        snprintf(out->batch, sizeof out->batch, "%s", batch);
        out->rdp_level = level;
        rc = 0;
    }
    json_decref(j);
    return rc;
}
