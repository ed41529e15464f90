/* The ledger's audit chain, for every store: appending signed, hash-chained entries, and
 * verifying the chain and the tables against it by replaying the log in memory (docs/ledger.md,
 * "Audit chain").
 *
 * Canonical entry bytes (what is hashed after the previous hash):
 *   "pv-ledger-audit-v1" NUL, seq as 8 bytes big endian, then at, action, batch, uid, state,
 *   station, detail, key_id each as a 4-byte big-endian length and the bytes (NULL: length
 *   0xFFFFFFFF, no bytes). detail is compact JSON with sorted keys, hashed as stored. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ledger_internal.h"

static const char domain[] = "pv-ledger-audit-v1";

static void put_field(EVP_MD_CTX *md, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : 0xffffffffu;
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    EVP_DigestUpdate(md, len, 4);
    if (s)
        EVP_DigestUpdate(md, s, strlen(s));
}

void pv_ledger_audit_hash(const uint8_t prev[32], const pv_audit_entry *e, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t seq[8];
    for (int i = 0; i < 8; i++)
        seq[i] = (uint8_t)((uint64_t)e->seq >> (56 - 8 * i));
    unsigned len = 32;
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        memset(out, 0, 32); /* cannot hash: matches nothing real, so verify fails loudly */
        EVP_MD_CTX_free(md);
        return;
    }
    EVP_DigestUpdate(md, prev, 32);
    EVP_DigestUpdate(md, domain, sizeof domain); /* with its NUL */
    EVP_DigestUpdate(md, seq, 8);
    const char *f[] = {e->at,    e->action,  e->batch,  e->uid,
                       e->state, e->station, e->detail, e->key_id};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        put_field(md, f[i]);
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

int pv_ledger_audit_append(pv_ledger *l, const char *at, const char *action, const char *batch,
                           const char *uid, const char *state, const char *station, json_t *detail)
{
    if (!detail)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: audit detail could not be encoded (text must be "
                                  "UTF-8)");
    char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(detail);
    if (!text)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG, "ledger: audit detail: out of memory");
    pv_store *s = l->store;
    uint8_t prev[32] = {0};
    size_t prev_len = 32;
    int64_t seq = 0;
    int rc = s->ops->audit_head(s, &seq, prev, &prev_len);
    if (!rc && seq > 0 && prev_len != 32)
        rc = pv_ledger_fail_msg(l, PV_LEDGER_E_CHAIN,
                                "ledger: the last audit entry has no 32-byte hash; run provision "
                                "ledger verify");
    if (!rc && seq == 0)
        memset(prev, 0, 32);
    seq++;
    pv_audit_entry e = {seq, at, action, batch, uid, state, station, text, l->signer.key_id};
    uint8_t hash[32], sig[PV_LEDGER_SIG_MAX];
    size_t sig_len = sizeof sig;
    if (!rc) {
        pv_ledger_audit_hash(prev, &e, hash);
        if (l->signer.sign(l->signer.ctx, hash, sig, &sig_len) != 0 || sig_len == 0 ||
            sig_len > sizeof sig)
            rc = pv_ledger_fail_msg(l, PV_LEDGER_E_SIGN,
                                    "ledger: the audit signer (key %s) failed; nothing was "
                                    "recorded",
                                    l->signer.key_id);
    }
    if (!rc) {
        pv_store_audit a = {seq,      at,   action, batch, uid, state, station, text,
                            e.key_id, prev, hash,   sig,   32,  32,    sig_len};
        rc = s->ops->audit_insert(s, &a);
    }
    if (!rc) {
        l->appended = 1;
        l->last_seq = seq;
        memcpy(l->last_hash, hash, 32);
    }
    free(text);
    return rc;
}

/* ---- verification: the log replayed in memory, then compared with the tables ---- */

typedef struct {
    int64_t id;
    char *uid, *batch, *state, *phase, *reason, *station, *at;
    bool seen; /* its row was found in the failures table */
} x_failure;

struct verify {
    pv_ledger *l;
    pv_ledger_verify_report *rep;
    pv_ledger_verify_fn check;
    void *check_ctx;
    uint8_t prev[32];
    int64_t expect;
    /* the ledger as the log says it must be */
    pv_store_batch *batches;
    size_t nbatches, cbatches;
    pv_ledger_row *devices;
    size_t ndevices, cdevices;
    size_t *index; /* open addressing on the UID: slot -> device + 1 (0: empty) */
    size_t cindex;
    unsigned char *seen;
    x_failure *failures;
    size_t nfailures, cfailures, fcursor;
    pv_ledger_station *stations;
    size_t nstations, cstations;
    struct pv_ledger_xupdates updates;
    struct pv_ledger_xdevdata devdata;
};

__attribute__((format(printf, 3, 4))) static int broken(struct verify *v, int64_t seq,
                                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->rep->message, sizeof v->rep->message, fmt, ap);
    va_end(ap);
    v->rep->first_bad = seq;
    return PV_LEDGER_E_CHAIN;
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 64;
    void *q = realloc(*p, c * size);
    if (!q)
        return -1;
    memset((char *)q + *cap * size, 0, (c - *cap) * size);
    *p = q, *cap = c;
    return 0;
}

static size_t uid_hash(const char *uid)
{
    size_t h = 1469598103934665603u;
    for (; *uid; uid++)
        h = (h ^ (unsigned char)*uid) * 1099511628211u;
    return h;
}

/* The replayed device with this UID, or NULL. */
static pv_ledger_row *x_device(struct verify *v, const char *uid)
{
    if (!v->cindex || !uid)
        return NULL;
    for (size_t i = uid_hash(uid) & (v->cindex - 1);; i = (i + 1) & (v->cindex - 1)) {
        if (!v->index[i])
            return NULL;
        if (strcmp(v->devices[v->index[i] - 1].uid_hex, uid) == 0)
            return &v->devices[v->index[i] - 1];
    }
}

static void index_put(struct verify *v, size_t k)
{
    size_t i = uid_hash(v->devices[k].uid_hex) & (v->cindex - 1);
    while (v->index[i])
        i = (i + 1) & (v->cindex - 1);
    v->index[i] = k + 1;
}

static pv_ledger_row *x_device_add(struct verify *v, const char *uid)
{
    if (grow((void **)&v->devices, &v->cdevices, v->ndevices, sizeof *v->devices))
        return NULL;
    if (2 * (v->ndevices + 1) > v->cindex) { /* keep the table at most half full */
        size_t c = v->cindex ? 2 * v->cindex : 256;
        free(v->index);
        if (!(v->index = calloc(c, sizeof *v->index)))
            return NULL;
        v->cindex = c;
        for (size_t k = 0; k < v->ndevices; k++)
            index_put(v, k);
    }
    pv_ledger_row *r = &v->devices[v->ndevices];
    memset(r, 0, sizeof *r);
    pv_store_copy(r->uid_hex, sizeof r->uid_hex, uid);
    index_put(v, v->ndevices++);
    return r;
}

static pv_store_batch *x_batch(struct verify *v, const char *batch)
{
    for (size_t i = 0; batch && i < v->nbatches; i++)
        if (strcmp(v->batches[i].batch, batch) == 0)
            return &v->batches[i];
    return NULL;
}

static pv_ledger_station *x_station(struct verify *v, const char *name)
{
    for (size_t i = 0; name && i < v->nstations; i++)
        if (strcmp(v->stations[i].name, name) == 0)
            return &v->stations[i];
    return NULL;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* Applies one entry to the replayed ledger. 0, or 1 if it does not follow from the entries
 * before it, or -1 out of memory. */
static int apply(struct verify *v, const pv_store_audit *e, json_t *d)
{
#define S(k) (json_string_value(json_object_get(d, k)))
    const char *a = e->action;
    pv_ledger_row *r = x_device(v, e->uid);
    if (!strcmp(a, "batch")) {
        if (!e->batch || x_batch(v, e->batch) ||
            grow((void **)&v->batches, &v->cbatches, v->nbatches, sizeof *v->batches))
            return 1;
        pv_store_batch *b = &v->batches[v->nbatches++];
        pv_store_copy(b->batch, sizeof b->batch, e->batch);
        b->quota = (uint32_t)json_integer_value(json_object_get(d, "quota"));
        pv_store_copy(b->created_at, sizeof b->created_at, e->at);
    } else if (!strcmp(a, "quota")) {
        pv_store_batch *b = x_batch(v, e->batch);
        if (!b)
            return 1;
        b->quota = (uint32_t)json_integer_value(json_object_get(d, "quota"));
    } else if (!strcmp(a, "reserve") || !strcmp(a, "resume")) {
        int resume = !strcmp(a, "resume");
        if (!e->uid || !e->batch || (resume ? !r || strcmp(r->batch, e->batch) != 0 : r != NULL))
            return 1;
        if (!resume) {
            if (!(r = x_device_add(v, e->uid)))
                return -1;
            pv_store_copy(r->batch, sizeof r->batch, e->batch);
            r->state = PV_LEDGER_RESERVED;
            pv_store_copy(r->at[0], sizeof r->at[0], e->at);
        }
        r->attempts++;
        pv_store_copy(r->station, sizeof r->station, S("station") ? S("station") : e->station);
        pv_store_copy(r->recipe_name, sizeof r->recipe_name, S("recipe_name"));
        pv_store_copy(r->recipe_digest, sizeof r->recipe_digest, S("recipe_digest"));
        if (S("lease_until")) {
            pv_store_copy(r->lease_station, sizeof r->lease_station, e->station);
            pv_store_copy(r->lease_session, sizeof r->lease_session, S("session"));
            pv_store_copy(r->lease_until, sizeof r->lease_until, S("lease_until"));
        }
    } else if (!strcmp(a, "advance")) {
        pv_ledger_state to = pv_ledger_state_from_name(e->state);
        if (!r || !e->batch || strcmp(r->batch, e->batch) != 0 || !to)
            return 1;
        if (json_is_true(json_object_get(d, "redo"))) {
            r->at[PV_LEDGER_WRITTEN - 1][0] = r->at[PV_LEDGER_VERIFIED - 1][0] = 0;
            r->image_digest[0] = 0;
        }
        r->state = to;
        pv_store_copy(r->at[to - 1], sizeof r->at[0], e->at);
        if (S("image_digest"))
            pv_store_copy(r->image_digest, sizeof r->image_digest, S("image_digest"));
        json_t *x;
        if ((x = json_object_get(d, "key_id")))
            r->has_key = 1, r->key_id = (uint32_t)json_integer_value(x);
        if ((x = json_object_get(d, "key_version")))
            r->key_version = (uint32_t)json_integer_value(x);
        if (to == PV_LEDGER_LOCKED) {
            r->rdp_level = (unsigned)json_integer_value(json_object_get(d, "rdp_level"));
            r->lease_station[0] = r->lease_session[0] = r->lease_until[0] = 0;
        } else if (S("lease_until"))
            pv_store_copy(r->lease_until, sizeof r->lease_until, S("lease_until"));
    } else if (!strcmp(a, "fail")) {
        if (!r || grow((void **)&v->failures, &v->cfailures, v->nfailures, sizeof *v->failures))
            return 1;
        x_failure *f = &v->failures[v->nfailures++];
        f->id = (int64_t)json_integer_value(json_object_get(d, "failure_id"));
        f->seen = false;
        f->uid = dup_or_empty(e->uid), f->batch = dup_or_empty(e->batch);
        f->state = dup_or_empty(e->state), f->phase = dup_or_empty(S("phase"));
        f->reason = dup_or_empty(S("reason")), f->station = dup_or_empty(e->station);
        f->at = dup_or_empty(e->at);
        if (!f->uid || !f->batch || !f->state || !f->phase || !f->reason || !f->station || !f->at)
            return -1;
        r->lease_station[0] = r->lease_session[0] = r->lease_until[0] = 0;
    } else if (!strcmp(a, "station_enroll")) {
        pv_ledger_station *s = x_station(v, S("name"));
        if (!S("name") || (s && !s->revoked_at[0]))
            return 1;
        if (!s) {
            if (grow((void **)&v->stations, &v->cstations, v->nstations, sizeof *v->stations))
                return -1;
            s = &v->stations[v->nstations++];
        }
        memset(s, 0, sizeof *s);
        pv_store_copy(s->name, sizeof s->name, S("name"));
        pv_store_copy(s->cert_sha256, sizeof s->cert_sha256, S("cert_sha256"));
        pv_store_copy(s->serial, sizeof s->serial, S("serial"));
        pv_store_copy(s->rights, sizeof s->rights, S("rights"));
        pv_store_copy(s->enrolled_at, sizeof s->enrolled_at, e->at);
    } else if (!strcmp(a, "station_revoke")) {
        pv_ledger_station *s = x_station(v, S("name"));
        if (!s || s->revoked_at[0])
            return 1;
        pv_store_copy(s->revoked_at, sizeof s->revoked_at, e->at);
        pv_store_copy(s->revoke_reason, sizeof s->revoke_reason, S("reason"));
    } else if (!strcmp(a, "devdata"))
        return pv_ledger_xdevdata_apply(&v->devdata, e, d);
    else
        return pv_ledger_xupdates_apply(&v->updates, e, d);
#undef S
    return 0;
}

static int entry(void *ctx, const pv_store_audit *e)
{
    struct verify *v = ctx;
    int64_t seq = e->seq;
    if (seq != v->expect)
        return broken(v, v->expect,
                      "audit entry #%lld is missing (the log jumps from #%lld to #%lld): entries "
                      "were deleted",
                      (long long)v->expect, (long long)v->expect - 1, (long long)seq);
    if (e->prev_hash_len != 32 || memcmp(e->prev_hash, v->prev, 32))
        return broken(v, seq,
                      "audit entry #%lld: its previous-hash is not entry #%lld's hash (entry "
                      "replaced or reordered)",
                      (long long)seq, (long long)seq - 1);
    pv_audit_entry ent = {seq,      e->at,      e->action, e->batch, e->uid,
                          e->state, e->station, e->detail, e->key_id};
    uint8_t h[32];
    pv_ledger_audit_hash(v->prev, &ent, h);
    if (e->hash_len != 32 || memcmp(e->hash, h, 32))
        return broken(v, seq,
                      "audit entry #%lld (%s %s): its content does not match its hash (entry "
                      "altered)",
                      (long long)seq, e->action ? e->action : "?", e->uid ? e->uid : "");
    if (v->check &&
        v->check(v->check_ctx, e->key_id ? e->key_id : "", h, e->signature, e->signature_len) != 0)
        return broken(v, seq,
                      "audit entry #%lld (%s %s): the signature does not verify with key %s",
                      (long long)seq, e->action ? e->action : "?", e->uid ? e->uid : "",
                      e->key_id ? e->key_id : "?");
    json_error_t jerr;
    json_t *d = e->detail ? json_loads(e->detail, 0, &jerr) : NULL;
    if (!d || !json_is_object(d) || !e->action || !e->at) {
        json_decref(d);
        return broken(v, seq, "audit entry #%lld: detail is not a JSON object", (long long)seq);
    }
    int rc = apply(v, e, d);
    json_decref(d);
    if (rc == -1)
        return broken(v, seq, "ledger verify: out of memory at entry #%lld", (long long)seq);
    if (rc == 2)
        return broken(v, seq, "audit entry #%lld: unknown action '%s'", (long long)seq, e->action);
    if (rc)
        return broken(v, seq,
                      "audit entry #%lld (%s %s%s%s) does not follow from the entries before it",
                      (long long)seq, e->action, e->batch ? e->batch : "", e->uid ? " " : "",
                      e->uid ? e->uid : "");
    memcpy(v->prev, h, 32);
    v->rep->entries = seq;
    v->expect++;
    return 0;
}

/* Column-by-column comparison of a table row (a) with the replayed one (b): the first column that
 * differs, described in out; 0 if none. Values are text, NULL for absent. */
#define MAXCOLS 20
struct cols {
    const char *name[MAXCOLS];
    const char *val[MAXCOLS];
    char buf[MAXCOLS][32];
    int n;
};

static void col(struct cols *c, const char *name, const char *val)
{
    c->name[c->n] = name;
    c->val[c->n++] = val;
}

static void col_text(struct cols *c, const char *name, const char *val)
{
    col(c, name, val && val[0] ? val : NULL);
}

static void col_int(struct cols *c, const char *name, int present, long long val)
{
    snprintf(c->buf[c->n], sizeof c->buf[0], "%lld", val);
    col(c, name, present ? c->buf[c->n] : NULL);
}

static int differ(const struct cols *a, const struct cols *b, char *out, size_t len)
{
    for (int i = 0; i < a->n; i++) {
        const char *x = a->val[i], *y = b->val[i];
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0)) {
            snprintf(out, len, "%s is %s%s%s in the table but %s%s%s per the audit log", a->name[i],
                     x ? "'" : "", x ? x : "NULL", x ? "'" : "", y ? "'" : "", y ? y : "NULL",
                     y ? "'" : "");
            return 1;
        }
    }
    return 0;
}

static void device_cols(const pv_ledger_row *r, struct cols *c)
{
    static const char *const at_names[5] = {"reserved_at", "keyed_at", "written_at", "verified_at",
                                            "locked_at"};
    c->n = 0;
    col_text(c, "batch", r->batch);
    col_text(c, "uid", r->uid_hex);
    col_text(c, "state", r->state ? pv_ledger_state_name(r->state) : NULL);
    col_text(c, "station", r->station);
    col_text(c, "recipe_name", r->recipe_name);
    col_text(c, "recipe_digest", r->recipe_digest);
    col_text(c, "image_digest", r->image_digest);
    col_int(c, "key_id", r->has_key, r->key_id);
    col_int(c, "key_version", r->has_key, r->key_version);
    for (int i = 0; i < 5; i++)
        col_text(c, at_names[i], r->at[i]);
    col_int(c, "attempts", 1, r->attempts);
    col_int(c, "rdp_level", r->state == PV_LEDGER_LOCKED, r->rdp_level);
    col_text(c, "lease_station", r->lease_station);
    col_text(c, "lease_session", r->lease_session);
    col_text(c, "lease_until", r->lease_until);
}

static int device_row(void *ctx, const pv_ledger_row *t)
{
    struct verify *v = ctx;
    pv_ledger_row *x = x_device(v, t->uid_hex);
    if (!x)
        return broken(v, 0,
                      "device UID %s: in the devices table, but no audit entry records it (row "
                      "added outside provision)",
                      t->uid_hex);
    v->seen[x - v->devices] = 1;
    struct cols a, b;
    device_cols(t, &a);
    device_cols(x, &b);
    char diff[400];
    if (differ(&a, &b, diff, sizeof diff))
        return broken(v, 0, "device UID %s: %s (row altered outside provision)", t->uid_hex, diff);
    return 0;
}

static void batch_cols(const pv_store_batch *b, struct cols *c)
{
    c->n = 0;
    col_text(c, "batch", b->batch);
    col_int(c, "quota", 1, b->quota);
    col_text(c, "created_at", b->created_at);
}

static int batch_row(void *ctx, const pv_store_batch *t)
{
    struct verify *v = ctx;
    pv_store_batch *x = x_batch(v, t->batch);
    if (!x)
        return broken(v, 0,
                      "batch %s: in the batches table, but no audit entry records it (row added "
                      "outside provision)",
                      t->batch);
    x->used = 1; /* seen */
    struct cols a, b;
    batch_cols(t, &a);
    batch_cols(x, &b);
    char diff[400];
    if (differ(&a, &b, diff, sizeof diff))
        return broken(v, 0, "batch %s: %s (row altered outside provision)", t->batch, diff);
    return 0;
}

static void failure_cols(int64_t id, const char *const f[7], struct cols *c)
{
    static const char *const names[7] = {"uid",    "batch",   "state", "phase",
                                         "reason", "station", "at"};
    c->n = 0;
    col_int(c, "id", 1, id);
    for (int i = 0; i < 7; i++)
        col_text(c, names[i], f[i]);
}

static int failure_row(void *ctx, const pv_store_failure *t)
{
    struct verify *v = ctx;
    x_failure *x = NULL;
    for (size_t k = 0; k < v->nfailures && !x; k++) { /* usually the same order: from the last */
        size_t i = (v->fcursor + k) % v->nfailures;
        if (!v->failures[i].seen && v->failures[i].id == t->id)
            x = &v->failures[i], v->fcursor = i + 1;
    }
    if (!x)
        return broken(v, 0,
                      "failure %lld: in the failures table, but no audit entry records it (row "
                      "added outside provision)",
                      (long long)t->id);
    const char *ta[7] = {t->uid, t->batch, t->state, t->phase, t->reason, t->station, t->at};
    const char *xa[7] = {x->uid, x->batch, x->state, x->phase, x->reason, x->station, x->at};
    struct cols a, b;
    failure_cols(t->id, ta, &a);
    failure_cols(x->id, xa, &b);
    x->seen = true;
    char diff[400];
    if (differ(&a, &b, diff, sizeof diff))
        return broken(v, 0, "failure %lld: %s (row altered outside provision)", (long long)t->id,
                      diff);
    return 0;
}

static void station_cols(const pv_ledger_station *s, struct cols *c)
{
    c->n = 0;
    col_text(c, "name", s->name);
    col_text(c, "cert_sha256", s->cert_sha256);
    col_text(c, "serial", s->serial);
    col_text(c, "rights", s->rights);
    col_text(c, "enrolled_at", s->enrolled_at);
    col_text(c, "revoked_at", s->revoked_at);
    col_text(c, "revoke_reason", s->revoke_reason);
}

static int station_row(void *ctx, const pv_ledger_station *t)
{
    struct verify *v = ctx;
    pv_ledger_station *x = x_station(v, t->name);
    if (!x || !x->name[0])
        return broken(v, 0,
                      "station %s: in the stations table, but no audit entry records it (row "
                      "added outside provision)",
                      t->name);
    struct cols a, b;
    station_cols(t, &a);
    station_cols(x, &b);
    char diff[400];
    if (differ(&a, &b, diff, sizeof diff))
        return broken(v, 0, "station %s: %s (row altered outside provision)", t->name, diff);
    x->name[0] = 0; /* seen */
    return 0;
}

static void reset(struct verify *v)
{
    for (size_t i = 0; i < v->nfailures; i++) {
        x_failure *f = &v->failures[i];
        free(f->uid), free(f->batch), free(f->state), free(f->phase), free(f->reason);
        free(f->station), free(f->at);
    }
    free(v->batches), free(v->devices), free(v->index), free(v->seen), free(v->failures);
    free(v->stations);
    pv_ledger_xupdates_free(&v->updates);
    pv_ledger_xdevdata_free(&v->devdata);
    pv_ledger *l = v->l;
    pv_ledger_verify_report *rep = v->rep;
    pv_ledger_verify_fn check = v->check;
    void *check_ctx = v->check_ctx;
    memset(v, 0, sizeof *v);
    v->l = l, v->rep = rep, v->check = check, v->check_ctx = check_ctx;
    v->expect = 1;
}

static int verify_body(pv_ledger *l, void *arg)
{
    struct verify *v = arg;
    pv_store *s = l->store;
    reset(v); /* a retried transaction starts over */
    int sig = v->rep->signatures;
    memset(v->rep, 0, sizeof *v->rep);
    v->rep->signatures = sig;
    int rc = s->ops->audit_list(s, entry, v);
    if (rc)
        return rc;
    if ((rc = s->ops->batch_list(s, batch_row, v)))
        return rc;
    for (size_t i = 0; i < v->nbatches; i++)
        if (!v->batches[i].used)
            return broken(v, 0,
                          "batch %s: missing from the batches table, but the audit log "
                          "records it",
                          v->batches[i].batch);
    if (!(v->seen = calloc(v->ndevices + 1, 1)))
        return broken(v, 0, "ledger verify: out of memory");
    if ((rc = s->ops->device_list(s, NULL, device_row, v)))
        return rc;
    for (size_t i = 0; i < v->ndevices; i++)
        if (!v->seen[i])
            return broken(v, 0,
                          "device UID %s: missing from the devices table, but the audit log "
                          "records it",
                          v->devices[i].uid_hex);
    if ((rc = s->ops->failure_list(s, failure_row, v)))
        return rc;
    for (size_t i = 0; i < v->nfailures; i++)
        if (!v->failures[i].seen)
            return broken(v, 0,
                          "failure %lld: missing from the failures table, but the audit log "
                          "records it",
                          (long long)v->failures[i].id);
    if ((rc = s->ops->station_list(s, station_row, v)))
        return rc;
    for (size_t i = 0; i < v->nstations; i++)
        if (v->stations[i].name[0])
            return broken(v, 0,
                          "station %s: missing from the stations table, but the audit log "
                          "records it",
                          v->stations[i].name);
    if ((rc = pv_ledger_xupdates_check(s, &v->updates, v->rep->message, sizeof v->rep->message)))
        return rc;
    if ((rc = pv_ledger_xdevdata_check(s, &v->devdata, v->rep->message, sizeof v->rep->message)))
        return rc;
    return PV_LEDGER_OK;
}

int pv_ledger_verify_chain(pv_ledger *l, pv_ledger_verify_fn verify, void *ctx,
                           pv_ledger_verify_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->signatures = verify != NULL;
    struct verify v;
    memset(&v, 0, sizeof v);
    v.l = l, v.rep = rep, v.check = verify, v.check_ctx = ctx;
    /* One read transaction: a consistent snapshot even while stations write. */
    int rc = pv_ledger_txn(l, PV_STORE_READ, verify_body, &v);
    reset(&v);
    if (rc == PV_LEDGER_OK || rc == PV_LEDGER_E_CHAIN)
        return rc;
    if (!rep->message[0])
        snprintf(rep->message, sizeof rep->message, "%s", l->err);
    return rc == PV_LEDGER_E_DB ? rc : PV_LEDGER_E_CHAIN;
}
