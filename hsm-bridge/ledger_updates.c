/* Firmware updates in the ledger (docs/ledger.md, "Updates"): one row per attempt, written when
 * the bridge answers message 1 (begun, or a refusal) and ended by the device's report or the
 * session's TTL; each write is one transaction with its audit entry ("update", "update_end"),
 * and verify replays both. Message 1's ephemeral key is kept with the attempt, so a replayed
 * message 1 is refused also after a bridge restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

static int hex_len(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* Up to max - 1 characters without control characters (they would forge lines in logs). */
static int text_ok(const char *s, size_t max, int may_be_empty)
{
    size_t n = strnlen(s, max);
    if (n >= max || (!n && !may_be_empty))
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int result_ok(const char *s)
{
    size_t n = strnlen(s, PV_LEDGER_RESULT_MAX);
    if (!n || n >= PV_LEDGER_RESULT_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return 0;
    return 1;
}

static int bad(pv_ledger *l, const char *what)
{
    return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG, "ledger: update attempt: %s", what);
}

static json_t *opt(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static int record_body(pv_ledger *l, void *arg)
{
    pv_ledger_update *u = arg;
    pv_store *s = l->store;
    int seen = 0, rc;
    if (u->ephemeral[0] && (rc = s->ops->update_seen(s, u->ephemeral, &seen)))
        return rc;
    if (seen)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_EXISTS,
                                  "ledger: message 1's ephemeral key %.16s... was seen before "
                                  "(a replayed message 1); nothing written",
                                  u->ephemeral);
    pv_ledger_now(u->started_at);
    if (strcmp(u->result, "begun") != 0)
        memcpy(u->ended_at, u->started_at, sizeof u->ended_at);
    else
        u->ended_at[0] = 0;
    if ((rc = s->ops->update_insert(s, u)))
        return rc;
    json_t *d =
        json_pack("{s:I,s:o,s:o,s:s,s:o,s:I,s:I,s:I,s:o,s:s,s:s,s:o}", "id", (json_int_t)u->id,
                  "session", opt(u->session), "product", opt(u->product), "started_at",
                  u->started_at, "ended_at", opt(u->ended_at), "from_version",
                  (json_int_t)u->from_version, "floor", (json_int_t)u->floor, "offered_version",
                  (json_int_t)u->offered_version, "image_sha256", opt(u->image_sha256), "result",
                  u->result, "reason", u->reason, "ephemeral", opt(u->ephemeral));
    return pv_ledger_audit_append(l, u->started_at, "update", u->batch[0] ? u->batch : NULL,
                                  u->uid_hex, NULL, u->station, d);
}

int pv_ledger_update_record(pv_ledger *l, pv_ledger_update *u)
{
    if (!u)
        return bad(l, "none given");
    if (!hex_len(u->uid_hex, 2 * PV_LEDGER_UID_LEN))
        return bad(l, "the UID is not 24 lowercase hex digits");
    if (!text_ok(u->station, PV_LEDGER_TEXT_MAX, 0) ||
        !text_ok(u->session, PV_LEDGER_TEXT_MAX, 1) ||
        !text_ok(u->product, PV_LEDGER_TEXT_MAX, 1) || !text_ok(u->batch, PV_LEDGER_TEXT_MAX, 1))
        return bad(l, "station (1 to 63 characters), session, product and batch (up to 63) "
                      "without control characters");
    if (!result_ok(u->result) || !text_ok(u->reason, PV_LEDGER_REASON_MAX, 0))
        return bad(l, "the result is 1 to 23 of a-z _ and the reason 1 to 511 printable "
                      "characters");
    if ((u->image_sha256[0] && !hex_len(u->image_sha256, 64)) ||
        (u->ephemeral[0] && !hex_len(u->ephemeral, 64)))
        return bad(l, "the image digest and the ephemeral key are 64 lowercase hex digits");
    return pv_ledger_write_txn(l, record_body, u);
}

struct finish {
    int64_t id;
    const char *result, *reason;
    uint32_t now_version, bytes;
};

static int finish_body(pv_ledger *l, void *arg)
{
    struct finish *a = arg;
    pv_store *s = l->store;
    pv_ledger_update u;
    int rc = s->ops->update_get(s, a->id, &u);
    if (rc)
        return rc;
    if (strcmp(u.result, "begun") != 0)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ILLEGAL,
                                  "ledger: update attempt %lld ended already (%s at %s); nothing "
                                  "written",
                                  (long long)a->id, u.result, u.ended_at);
    pv_ledger_now(u.ended_at);
    snprintf(u.result, sizeof u.result, "%s", a->result);
    snprintf(u.reason, sizeof u.reason, "%s", a->reason);
    u.now_version = a->now_version;
    u.bytes_written = a->bytes;
    if ((rc = s->ops->update_end(s, &u)))
        return rc;
    json_t *d = json_pack("{s:I,s:s,s:s,s:I,s:I}", "id", (json_int_t)u.id, "result", u.result,
                          "reason", u.reason, "now_version", (json_int_t)u.now_version,
                          "bytes_written", (json_int_t)u.bytes_written);
    return pv_ledger_audit_append(l, u.ended_at, "update_end", u.batch[0] ? u.batch : NULL,
                                  u.uid_hex, NULL, u.station, d);
}

int pv_ledger_update_finish(pv_ledger *l, int64_t id, const char *result, const char *reason,
                            uint32_t now_version, uint32_t bytes_written)
{
    if (!result || !reason || !result_ok(result) || !strcmp(result, "begun") ||
        !text_ok(reason, PV_LEDGER_REASON_MAX, 0))
        return bad(l, "the result is 1 to 23 of a-z _ (not begun) and the reason 1 to 511 "
                      "printable characters");
    struct finish a = {id, result, reason, now_version, bytes_written};
    return pv_ledger_write_txn(l, finish_body, &a);
}

struct walk {
    const char *uid;
    int (*fn)(void *, const pv_ledger_update *);
    void *ctx;
};

static int list_body(pv_ledger *l, void *arg)
{
    struct walk *w = arg;
    return l->store->ops->update_list(l->store, w->uid, w->fn, w->ctx);
}

int pv_ledger_update_list(pv_ledger *l, const uint8_t *uid,
                          int (*fn)(void *ctx, const pv_ledger_update *u), void *ctx)
{
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    if (uid)
        for (unsigned i = 0; i < PV_LEDGER_UID_LEN; i++)
            snprintf(hex + 2 * i, 3, "%02x", uid[i]);
    struct walk w = {uid ? hex : NULL, fn, ctx};
    return pv_ledger_txn(l, PV_STORE_READ, list_body, &w);
}

/* ---- verify ---- */

static pv_ledger_update *x_find(struct pv_ledger_xupdates *x, int64_t id)
{
    /* ids grow with the log: a binary search over the replayed rows */
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x->u[mid].id == id)
            return &x->u[mid];
        if (x->u[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void copy(char *out, size_t cap, json_t *d, const char *key)
{
    pv_store_copy(out, cap, json_string_value(json_object_get(d, key)));
}

static uint32_t u32(json_t *d, const char *key)
{
    return (uint32_t)json_integer_value(json_object_get(d, key));
}

int pv_ledger_xupdates_apply(struct pv_ledger_xupdates *x, const pv_store_audit *e, json_t *d)
{
    int64_t id = (int64_t)json_integer_value(json_object_get(d, "id"));
    if (!strcmp(e->action, "update")) {
        if (!e->uid || !e->station || (x->n && x->u[x->n - 1].id >= id))
            return 1;
        if (x->n == x->cap) {
            size_t c = x->cap ? 2 * x->cap : 64;
            pv_ledger_update *u = realloc(x->u, c * sizeof *u);
            if (!u)
                return -1;
            x->u = u, x->cap = c;
        }
        pv_ledger_update *u = &x->u[x->n++];
        memset(u, 0, sizeof *u);
        u->id = id;
        pv_store_copy(u->uid_hex, sizeof u->uid_hex, e->uid);
        pv_store_copy(u->station, sizeof u->station, e->station);
        pv_store_copy(u->batch, sizeof u->batch, e->batch);
        copy(u->session, sizeof u->session, d, "session");
        copy(u->product, sizeof u->product, d, "product");
        copy(u->started_at, sizeof u->started_at, d, "started_at");
        copy(u->ended_at, sizeof u->ended_at, d, "ended_at");
        u->from_version = u32(d, "from_version");
        u->floor = u32(d, "floor");
        u->offered_version = u32(d, "offered_version");
        copy(u->image_sha256, sizeof u->image_sha256, d, "image_sha256");
        copy(u->result, sizeof u->result, d, "result");
        copy(u->reason, sizeof u->reason, d, "reason");
        copy(u->ephemeral, sizeof u->ephemeral, d, "ephemeral");
        return 0;
    }
    if (!strcmp(e->action, "update_end")) {
        pv_ledger_update *u = x_find(x, id);
        if (!u || strcmp(u->result, "begun") != 0 || !e->uid || strcmp(u->uid_hex, e->uid) != 0)
            return 1;
        pv_store_copy(u->ended_at, sizeof u->ended_at, e->at);
        copy(u->result, sizeof u->result, d, "result");
        copy(u->reason, sizeof u->reason, d, "reason");
        u->now_version = u32(d, "now_version");
        u->bytes_written = u32(d, "bytes_written");
        return 0;
    }
    return 2;
}

struct check {
    struct pv_ledger_xupdates *x;
    size_t next;
    char *msg;
    size_t len;
};

#define CMP_TEXT(f)                                                                                \
    if (strcmp(t->f, r->f) != 0)                                                                   \
    return snprintf(c->msg, c->len,                                                                \
                    "update attempt %lld: " #f " is '%s' in the table but '%s' per the audit "     \
                    "log (row altered outside provision)",                                         \
                    (long long)t->id, t->f, r->f),                                                 \
           PV_LEDGER_E_CHAIN
#define CMP_NUM(f)                                                                                 \
    if (t->f != r->f)                                                                              \
    return snprintf(c->msg, c->len,                                                                \
                    "update attempt %lld: " #f " is %u in the table but %u per the audit log "     \
                    "(row altered outside provision)",                                             \
                    (long long)t->id, (unsigned)t->f, (unsigned)r->f),                             \
           PV_LEDGER_E_CHAIN

static int check_row(void *ctx, const pv_ledger_update *t)
{
    struct check *c = ctx;
    if (c->next >= c->x->n || c->x->u[c->next].id != t->id)
        return snprintf(c->msg, c->len,
                        "update attempt %lld: in the updates table, but no audit entry records it "
                        "(row added outside provision)",
                        (long long)t->id),
               PV_LEDGER_E_CHAIN;
    const pv_ledger_update *r = &c->x->u[c->next++];
    CMP_TEXT(uid_hex);
    CMP_TEXT(session);
    CMP_TEXT(station);
    CMP_TEXT(product);
    CMP_TEXT(batch);
    CMP_TEXT(started_at);
    CMP_TEXT(ended_at);
    CMP_NUM(from_version);
    CMP_NUM(floor);
    CMP_NUM(offered_version);
    CMP_TEXT(image_sha256);
    CMP_TEXT(result);
    CMP_TEXT(reason);
    CMP_NUM(now_version);
    CMP_NUM(bytes_written);
    CMP_TEXT(ephemeral);
    return 0;
}

int pv_ledger_xupdates_check(pv_store *s, struct pv_ledger_xupdates *x, char *msg, size_t len)
{
    struct check c = {x, 0, msg, len};
    int rc = s->ops->update_list(s, NULL, check_row, &c);
    if (rc)
        return rc;
    if (c.next < x->n)
        return snprintf(msg, len,
                        "update attempt %lld: missing from the updates table, but the audit log "
                        "records it",
                        (long long)x->u[c.next].id),
               PV_LEDGER_E_CHAIN;
    return PV_LEDGER_OK;
}

void pv_ledger_xupdates_free(struct pv_ledger_xupdates *x)
{
    free(x->u);
    memset(x, 0, sizeof *x);
}
