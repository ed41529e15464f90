/* Fuzzing the bridge's request parsing (hsm-bridge/server_parse.c) as the endpoints run it on
 * what a station sends: the first byte picks the endpoint (POST /v1/sessions, .../lock, .../fail
 * or the query of GET /v1/plan), the rest is the body or query. Aborts when an accepted request
 * breaks what the endpoint then relies on (fields present, non-empty, in range, the UID the hex
 * given, base64 decoded within its buffer), or a refusal has no reason. */
#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../hsm-bridge/server_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s)
{
    if (!s || !*s)
        abort();
}

static void check_b64_len(json_t *doc, const char *key, size_t len)
{
    const char *s = json_string_value(json_object_get(doc, key));
    if (!s || len > strlen(s) / 4 * 3)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 20000)
        return 0;
    /* The body as evhttp hands it over: exactly size bytes, not NUL-terminated. */
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    char why[PV_PARSE_WHY_MAX];
    why[0] = 0;
    int rc = -1;
    switch (data[0] % 4) {
    case 0: {
        struct pv_begin_body b;
        rc = pv_parse_begin(text, len, &b, why, sizeof why);
        if (rc == 0) {
            check_str(b.product), check_str(b.batch), check_str(b.uid_hex);
            if (strlen(b.uid_hex) != 24 || b.id.dev_id > 0xfff || b.id.flash_kb > (1u << 20) ||
                !b.msg1)
                abort();
            for (int i = 0; i < 12; i++) {
                char hx[3] = {b.uid_hex[2 * i], b.uid_hex[2 * i + 1], 0};
                if (strtoul(hx, NULL, 16) != b.id.uid[i])
                    abort();
            }
            check_b64_len(b.doc, "message1", b.msg1_len);
            pv_begin_body_free(&b);
        }
        if (b.doc || b.msg1)
            abort();
        break;
    }
    case 1: {
        struct pv_lock_body b;
        rc = pv_parse_lock(text, len, &b, why, sizeof why);
        if (rc == 0) {
            check_str(b.obs.method);
            if (b.obs.rdp_level > 2 || !b.reply)
                abort();
            check_b64_len(b.doc, "reply", b.reply_len);
            pv_lock_body_free(&b);
        }
        if (b.doc || b.reply)
            abort();
        break;
    }
    case 2: {
        struct pv_fail_body b;
        rc = pv_parse_fail(text, len, &b, why, sizeof why);
        if (rc == 0) {
            check_str(b.phase), check_str(b.reason);
            pv_fail_body_free(&b);
        }
        if (b.doc)
            abort();
        break;
    }
    default: {
        /* The query as evhttp_uri_get_query gives it: a C string (NULL when there is none). */
        char *q = malloc(len + 1);
        if (!q)
            break;
        memcpy(q, text, len);
        q[len] = 0;
        struct evkeyvalq kv = {0};
        const char *product, *batch;
        rc = pv_parse_plan_query(len ? q : NULL, &kv, &product, &batch, why, sizeof why);
        if (rc == 0)
            check_str(product), check_str(batch);
        evhttp_clear_headers(&kv);
        free(q);
        break;
    }
    }
    if (rc != 0 && !why[0])
        abort();
    free(text);
    return 0;
}
