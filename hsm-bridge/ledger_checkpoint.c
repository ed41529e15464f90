/* Signed checkpoints of the audit chain's head (ledger_checkpoint.h). */
#include "ledger_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ledger_internal.h"

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Exactly 2 * n lowercase or uppercase hex digits. */
static int from_hex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return 0;
}

void pv_ledger_checkpoint_digest(const pv_ledger_checkpoint *cp, uint8_t out[32])
{
    char head[65], text[256];
    to_hex(cp->head, 32, head);
    int n = snprintf(text, sizeof text, "%s\nentries=%lld\nhead=%s\nat=%s\nkey_id=%s\n",
                     PV_CHECKPOINT_FORMAT, (long long)cp->entries, head, cp->at, cp->key_id);
    unsigned len = 0;
    EVP_Digest(text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1, out, &len, EVP_sha256(),
               NULL);
}

static int head_body(pv_ledger *l, void *arg)
{
    pv_ledger_checkpoint *cp = arg;
    size_t hash_len = 0;
    int64_t seq = 0;
    uint8_t hash[64];
    int rc = l->store->ops->audit_head(l->store, &seq, hash, &hash_len);
    if (rc)
        return rc;
    cp->entries = seq;
    memset(cp->head, 0, sizeof cp->head);
    if (seq > 0) {
        if (hash_len != 32)
            return pv_ledger_fail_msg(l, PV_LEDGER_E_CHAIN,
                                      "ledger: audit entry #%lld has a %zu-byte hash, not 32",
                                      (long long)seq, hash_len);
        memcpy(cp->head, hash, 32);
    }
    return PV_LEDGER_OK;
}

int pv_ledger_checkpoint_make(pv_ledger *l, const pv_ledger_signer *signer,
                              pv_ledger_checkpoint *cp)
{
    memset(cp, 0, sizeof *cp);
    if (!signer || !signer->sign || !signer->key_id || !signer->key_id[0] ||
        strlen(signer->key_id) >= sizeof cp->key_id)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_SIGN,
                                  "ledger: a checkpoint needs the audit key to sign it");
    int rc = pv_ledger_txn(l, PV_STORE_READ, head_body, cp);
    if (rc)
        return rc;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char secs[24];
    strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(cp->at, sizeof cp->at, "%.20s.%03uZ", secs, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
    snprintf(cp->key_id, sizeof cp->key_id, "%s", signer->key_id);
    uint8_t digest[32];
    pv_ledger_checkpoint_digest(cp, digest);
    cp->sig_len = sizeof cp->sig;
    if (signer->sign(signer->ctx, digest, cp->sig, &cp->sig_len) != 0 || cp->sig_len == 0 ||
        cp->sig_len > sizeof cp->sig)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_SIGN,
                                  "ledger: the audit key (%s) did not sign the checkpoint",
                                  cp->key_id);
    return PV_LEDGER_OK;
}

char *pv_ledger_checkpoint_json(const pv_ledger_checkpoint *cp)
{
    char head[65], sig[2 * PV_LEDGER_SIG_MAX + 1];
    to_hex(cp->head, 32, head);
    to_hex(cp->sig, cp->sig_len, sig);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "format", PV_CHECKPOINT_FORMAT,
                          "entries", (json_int_t)cp->entries, "head", head, "at", cp->at, "key_id",
                          cp->key_id, "signature", sig);
    if (!o)
        return NULL;
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (!out) {
        free(text);
        return NULL;
    }
    out[n] = '\n', out[n + 1] = 0;
    return out;
}

static const char *field(json_t *o, const char *name, size_t max, char *err, size_t err_len)
{
    const char *v = json_string_value(json_object_get(o, name));
    if (!v || !v[0] || strlen(v) >= max) {
        snprintf(err, err_len, "checkpoint: \"%s\" is missing or not a string of 1..%zu bytes",
                 name, max - 1);
        return NULL;
    }
    return v;
}

int pv_ledger_checkpoint_parse(const char *text, size_t len, pv_ledger_checkpoint *cp, char *err,
                               size_t err_len)
{
    memset(cp, 0, sizeof *cp);
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        snprintf(err, err_len, "checkpoint: not a JSON object (line %d: %s)", je.line, je.text);
        json_decref(o);
        return -1;
    }
    int rc = -1;
    const char *fmt = json_string_value(json_object_get(o, "format"));
    json_t *entries = json_object_get(o, "entries");
    const char *head, *at, *kid, *sig;
    if (!fmt || strcmp(fmt, PV_CHECKPOINT_FORMAT) != 0)
        snprintf(err, err_len, "checkpoint: \"format\" is not \"%s\"", PV_CHECKPOINT_FORMAT);
    else if (!json_is_integer(entries) || json_integer_value(entries) < 0)
        snprintf(err, err_len, "checkpoint: \"entries\" is not a count (an integer >= 0)");
    else if (!(head = field(o, "head", 65, err, err_len)) ||
             !(at = field(o, "at", sizeof cp->at, err, err_len)) ||
             !(kid = field(o, "key_id", sizeof cp->key_id, err, err_len)) ||
             !(sig = field(o, "signature", 2 * PV_LEDGER_SIG_MAX + 1, err, err_len)))
        ;
    else if (from_hex(head, cp->head, 32) != 0)
        snprintf(err, err_len, "checkpoint: \"head\" is not 64 hex digits");
    else if (strlen(sig) % 2 != 0 || from_hex(sig, cp->sig, strlen(sig) / 2) != 0)
        snprintf(err, err_len, "checkpoint: \"signature\" is not hex");
    else {
        cp->entries = (int64_t)json_integer_value(entries);
        cp->sig_len = strlen(sig) / 2;
        snprintf(cp->at, sizeof cp->at, "%s", at);
        snprintf(cp->key_id, sizeof cp->key_id, "%s", kid);
        rc = 0;
    }
    json_decref(o);
    return rc;
}

struct find {
    int64_t seq;      /* the entry wanted */
    int found;        /* it is there */
    int64_t last;     /* the highest seq seen */
    uint8_t hash[32]; /* its hash */
    size_t hash_len;
};

static int find_entry(void *ctx, const pv_store_audit *e)
{
    struct find *f = ctx;
    if (e->seq > f->last)
        f->last = e->seq;
    if (e->seq != f->seq)
        return 0;
    f->found = 1;
    f->hash_len = e->hash_len;
    memcpy(f->hash, e->hash, e->hash_len < 32 ? e->hash_len : 32);
    return 0;
}

static int find_body(pv_ledger *l, void *arg)
{
    return l->store->ops->audit_list(l->store, find_entry, arg);
}

int pv_ledger_checkpoint_check(pv_ledger *l, const pv_ledger_checkpoint *cp,
                               pv_ledger_verify_fn verify, void *ctx, char *msg, size_t msg_len)
{
    msg[0] = 0;
    uint8_t digest[32];
    pv_ledger_checkpoint_digest(cp, digest);
    if (!verify || verify(ctx, cp->key_id, digest, cp->sig, cp->sig_len) != 0) {
        snprintf(msg, msg_len,
                 "the checkpoint's signature does not verify with the audit key given (it was "
                 "changed after signing, or signed by another key: it names %.60s)",
                 cp->key_id);
        return PV_LEDGER_E_SIGN;
    }
    if (cp->entries == 0)
        return PV_LEDGER_OK; /* an empty chain is a prefix of every chain */
    struct find f = {.seq = cp->entries};
    int rc = pv_ledger_txn(l, PV_STORE_READ, find_body, &f);
    if (rc)
        return rc;
    char want[65], got[65];
    to_hex(cp->head, 32, want);
    if (!f.found) {
        snprintf(msg, msg_len,
                 "ledger truncated: the checkpoint of %s records %lld entries (head %.16s...), "
                 "but the chain ends at entry #%lld: the newest %lld entries were deleted",
                 cp->at, (long long)cp->entries, want, (long long)f.last,
                 (long long)(cp->entries - f.last));
        return PV_LEDGER_E_CHAIN;
    }
    if (f.hash_len != 32 || CRYPTO_memcmp(f.hash, cp->head, 32) != 0) {
        to_hex(f.hash, f.hash_len == 32 ? 32 : 0, got);
        if (f.hash_len != 32)
            got[0] = 0;
        snprintf(msg, msg_len,
                 "ledger rewritten: audit entry #%lld's hash is %.16s... but the checkpoint of %s "
                 "recorded %.16s...: the chain was replaced since",
                 (long long)cp->entries, got, cp->at, want);
        return PV_LEDGER_E_CHAIN;
    }
    return PV_LEDGER_OK;
}
