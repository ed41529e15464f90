/* Request bodies and the plan's query (server_parse.h): checked field by field, in the order
 * the endpoints need them, the first bad one named in the reason. */
#include "server_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t why_len, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static json_t *body_json(const char *text, size_t len, char *why, size_t why_len)
{
    json_error_t je;
    json_t *j = len ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!len) {
        say(why, why_len, "the body is empty; a JSON object is expected");
        return NULL;
    }
    if (!j) {
        say(why, why_len, "the body is not JSON: %s (line %d, column %d)", je.text, je.line,
            je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        say(why, why_len, "the body is not a JSON object");
        return NULL;
    }
    return j;
}

/* The string at key of obj, or NULL with why naming field. */
static const char *want_str(json_t *obj, const char *key, const char *field, char *why,
                            size_t why_len)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        say(why, why_len, "field '%s' %s", field, v ? "is not a non-empty string" : "is missing");
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        say(why, why_len, "field '%s' contains a NUL character", field);
        return NULL;
    }
    return json_string_value(v);
}

static int want_uint(json_t *obj, const char *key, const char *field, uint32_t max, uint32_t *out,
                     char *why, size_t why_len)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)max) {
        say(why, why_len, "field '%s' %s", field, v ? "is not a number in range" : "is missing");
        return -1;
    }
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static json_t *want_obj(json_t *obj, const char *key, char *why, size_t why_len)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_object(v)) {
        say(why, why_len, "field '%s' %s", key, v ? "is not an object" : "is missing");
        return NULL;
    }
    return v;
}

/* Strict base64 of field into malloc'd bytes, or NULL with why. */
static uint8_t *want_b64(json_t *obj, const char *key, size_t *len, char *why, size_t why_len)
{
    const char *s = want_str(obj, key, key, why, why_len);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    uint8_t *out = n % 4 == 0 ? malloc(n / 4 * 3 + 1) : NULL;
    int k = out ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : -1;
    if (k < 0) {
        free(out);
        say(why, why_len, "field '%s' is not base64", key);
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

int pv_parse_begin(const char *text, size_t len, struct pv_begin_body *b, char *why, size_t why_len)
{
    memset(b, 0, sizeof *b);
    json_t *j = body_json(text, len, why, why_len);
    if (!j)
        return -1;
    b->doc = j;
    json_t *ident;
    uint32_t rdp;
    if (!(b->product = want_str(j, "product", "product", why, why_len)) ||
        !(b->batch = want_str(j, "batch", "batch", why, why_len)) ||
        !(ident = want_obj(j, "identity", why, why_len)) ||
        !(b->uid_hex = want_str(ident, "uid", "identity.uid", why, why_len)))
        goto bad;
    if (unhex(b->uid_hex, b->id.uid, sizeof b->id.uid) != 0) {
        say(why, why_len, "field 'identity.uid' is not 24 hex digits");
        goto bad;
    }
    if (want_uint(ident, "dev_id", "identity.dev_id", 0xfff, &b->id.dev_id, why, why_len) ||
        want_uint(ident, "flash_kb", "identity.flash_kb", 1u << 20, &b->id.flash_kb, why,
                  why_len) ||
        want_uint(ident, "rdp", "identity.rdp", 255, &rdp, why, why_len) ||
        want_uint(j, "mailbox_flags", "mailbox_flags", UINT32_MAX, &b->mailbox_flags, why,
                  why_len) ||
        !(b->msg1 = want_b64(j, "message1", &b->msg1_len, why, why_len)))
        goto bad;
    b->id.rdp = (uint8_t)rdp;
    /* The line MES's values as the station has them: data the bridge validates against the
     * recipe (docs/device-data.md), so only the shape is checked here. */
    json_t *mes = json_object_get(j, "mes");
    if (mes && !json_is_null(mes)) {
        if (!json_is_object(mes) || json_object_size(mes) > 64) {
            say(why, why_len, "field 'mes' is not a JSON object of at most 64 members");
            goto bad;
        }
        if (!(b->mes = json_dumps(mes, JSON_COMPACT | JSON_SORT_KEYS))) {
            say(why, why_len, "field 'mes' cannot be read");
            goto bad;
        }
        b->id.mes = b->mes;
    }
    return 0;
bad:
    pv_begin_body_free(b);
    return -1;
}

void pv_begin_body_free(struct pv_begin_body *b)
{
    free(b->msg1);
    free(b->mes);
    json_decref(b->doc);
    memset(b, 0, sizeof *b);
}

int pv_parse_lock(const char *text, size_t len, struct pv_lock_body *b, char *why, size_t why_len)
{
    memset(b, 0, sizeof *b);
    json_t *j = body_json(text, len, why, why_len);
    if (!j)
        return -1;
    b->doc = j;
    json_t *obs_j;
    uint32_t level;
    if (!(b->reply = want_b64(j, "reply", &b->reply_len, why, why_len)) ||
        !(obs_j = want_obj(j, "observed", why, why_len)) ||
        want_uint(obs_j, "rdp_level", "observed.rdp_level", 2, &level, why, why_len) ||
        !(b->obs.method = want_str(obs_j, "method", "observed.method", why, why_len))) {
        pv_lock_body_free(b);
        return -1;
    }
    b->obs.rdp_level = level;
    return 0;
}

void pv_lock_body_free(struct pv_lock_body *b)
{
    free(b->reply);
    json_decref(b->doc);
    memset(b, 0, sizeof *b);
}

int pv_parse_fail(const char *text, size_t len, struct pv_fail_body *b, char *why, size_t why_len)
{
    memset(b, 0, sizeof *b);
    json_t *j = body_json(text, len, why, why_len);
    if (!j)
        return -1;
    b->doc = j;
    if (!(b->phase = want_str(j, "phase", "phase", why, why_len)) ||
        !(b->reason = want_str(j, "reason", "reason", why, why_len))) {
        pv_fail_body_free(b);
        return -1;
    }
    return 0;
}

void pv_fail_body_free(struct pv_fail_body *b)
{
    json_decref(b->doc);
    memset(b, 0, sizeof *b);
}

int pv_parse_plan_query(const char *query, struct evkeyvalq *q, const char **product,
                        const char **batch, char *why, size_t why_len)
{
    *product = *batch = NULL;
    if (evhttp_parse_query_str(query ? query : "", q) != 0) {
        say(why, why_len, "the query string cannot be parsed");
        return -1;
    }
    *product = evhttp_find_header(q, "product");
    *batch = evhttp_find_header(q, "batch");
    if (!*product || !**product || !*batch || !**batch) {
        say(why, why_len, "query parameter '%s' is missing",
            !*product || !**product ? "product" : "batch");
        return -1;
    }
    return 0;
}
