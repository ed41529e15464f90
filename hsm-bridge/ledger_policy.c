/* The ledger's rules, for every store: opening (which store a URL names), reservations with the
 * quota, leases, state transitions, failures, the station registry, reads. Every change is one
 * write transaction of the store with its audit entry (ledger_audit.c). docs/ledger.md has the
 * schema and the rules; ledger_store.h the storage primitives. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger_internal.h"
#include "text_safe.h"

_Static_assert(PV_NAME_MAX == PV_LEDGER_TEXT_MAX, "a name fills a ledger text field");

static const char *const state_names[] = {"reserved", "keyed", "written", "verified", "locked"};

const char *pv_ledger_state_name(pv_ledger_state s)
{
    return s >= PV_LEDGER_RESERVED && s <= PV_LEDGER_LOCKED ? state_names[s - 1] : "?";
}

pv_ledger_state pv_ledger_state_from_name(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (name && strcmp(name, state_names[i]) == 0)
            return (pv_ledger_state)(i + 1);
    return (pv_ledger_state)0;
}

const char *pv_ledger_strerror(int rc)
{
    switch (rc) {
    case PV_LEDGER_OK:
        return "ok";
    case PV_LEDGER_RESUMED:
        return "resumed: the device was already reserved in this batch";
    case PV_LEDGER_E_PROVISIONED:
        return "device already provisioned (locked)";
    case PV_LEDGER_E_QUOTA:
        return "batch quota exhausted";
    case PV_LEDGER_E_OTHER_BATCH:
        return "device is in progress in another batch";
    case PV_LEDGER_E_ILLEGAL:
        return "illegal state transition";
    case PV_LEDGER_E_UNKNOWN:
        return "no such device or batch in the ledger";
    case PV_LEDGER_E_SIGN:
        return "audit signature failed";
    case PV_LEDGER_E_DB:
        return "ledger database error";
    case PV_LEDGER_E_ARG:
        return "invalid argument";
    case PV_LEDGER_E_CHAIN:
        return "audit chain broken";
    case PV_LEDGER_E_LEASED:
        return "the device is leased to another station's session";
    case PV_LEDGER_E_REVOKED:
        return "station revoked";
    case PV_LEDGER_E_EXISTS:
        return "station enrolled already";
    case PV_LEDGER_E_EXHAUSTED:
        return "device data pool or counter used up";
    default:
        return "unknown ledger error";
    }
}

int pv_ledger_fail_msg(pv_ledger *l, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof l->err, fmt, ap);
    va_end(ap);
    return rc;
}

const char *pv_ledger_error(const pv_ledger *l)
{
    return l->err;
}

struct sqlite3 *pv_ledger_db(pv_ledger *l)
{
    return pv_store_sqlite_db(l->store);
}

void pv_ledger_set_signer(pv_ledger *l, const pv_ledger_signer *s)
{
    l->has_signer = s && s->sign;
    if (!l->has_signer)
        return;
    l->signer = *s;
    snprintf(l->key_id, sizeof l->key_id, "%s", s->key_id ? s->key_id : "");
    l->signer.key_id = l->key_id;
}

void pv_ledger_set_actor(pv_ledger *l, const pv_ledger_actor *who)
{
    l->has_actor = who != NULL;
    l->actor_station[0] = l->actor_session[0] = 0;
    if (!who)
        return;
    /* Copied as given (too long names are kept too long, so the write refuses them). */
    snprintf(l->actor_station, sizeof l->actor_station, "%s", who->station ? who->station : "");
    snprintf(l->actor_session, sizeof l->actor_session, "%s", who->session ? who->session : "");
    if (who->station && strlen(who->station) >= sizeof l->actor_station)
        l->actor_station[0] = 0;
    if (who->session && strlen(who->session) >= sizeof l->actor_session)
        l->actor_session[0] = 0;
    l->lease_s = who->lease_s ? who->lease_s : PV_LEDGER_LEASE_DEFAULT_S;
}

/* ---- open ---- */

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

pv_ledger *pv_ledger_open(const char *path, unsigned flags, char *err, size_t err_len)
{
    if (!path || !path[0]) {
        snprintf(err, err_len, "ledger: no path or URL given");
        return NULL;
    }
    pv_ledger *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, err_len, "ledger: out of memory");
        return NULL;
    }
    if (has_prefix(path, "postgresql:") || has_prefix(path, "postgres://"))
        l->store = pv_store_pg_open(path, flags, err, err_len);
    else
        l->store = pv_store_sqlite_open(has_prefix(path, "sqlite:") ? path + 7 : path, flags, err,
                                        err_len);
    if (!l->store) {
        free(l);
        return NULL;
    }
    l->store->err = l->err;
    l->store->err_len = sizeof l->err;
    l->err[0] = 0;
    l->read_only = (flags & PV_LEDGER_READ_ONLY) != 0;
    return l;
}

void pv_ledger_close(pv_ledger *l)
{
    if (!l)
        return;
    if (l->store)
        l->store->ops->close(l->store);
    free(l);
}

/* ---- small helpers ---- */

static void fmt_time(struct timespec ts, char out[32])
{
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

/* UTC now plus secs, ISO 8601 with milliseconds (sorts as text). */
static void now_plus(uint32_t secs, char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)secs;
    fmt_time(ts, out);
}

static void now(char out[32])
{
    now_plus(0, out);
}

static void uid_hex(const uint8_t uid[PV_LEDGER_UID_LEN], char out[2 * PV_LEDGER_UID_LEN + 1])
{
    for (unsigned i = 0; i < PV_LEDGER_UID_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", uid[i]);
}

static int text_ok(const char *s, size_t max)
{
    return s && s[0] && strlen(s) < max;
}

/* No control characters (they would forge lines in logs, CSV readers and terminals). */
static int printable(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* Station and batch names: text_safe.h's rule. */
static int name_ok(const char *s)
{
    return pv_text_name_ok(s);
}

static int bad_name(pv_ledger *l, const char *field, const char *value)
{
    char shown[96];
    return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG, "ledger: %s name '%s' is not " PV_NAME_RULE,
                              field, pv_text_escape(value, shown, sizeof shown));
}

static int hex_ok(const char *s, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int need_signer(pv_ledger *l)
{
    if (!l->has_signer)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_SIGN,
                                  "ledger: no audit signer configured; every change must be "
                                  "signed (pv_ledger_set_signer)");
    return PV_LEDGER_OK;
}

static int actor_ok(pv_ledger *l)
{
    if (!l->has_actor)
        return PV_LEDGER_OK;
    if (!name_ok(l->actor_station))
        return bad_name(l, "actor station", l->actor_station);
    if (!hex_ok(l->actor_session, 1, PV_LEDGER_TEXT_MAX - 1))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: actor session is not 1 to %u lowercase hex digits",
                                  PV_LEDGER_TEXT_MAX - 1);
    return PV_LEDGER_OK;
}

/* The station an audit entry names: the actor's, else the given one. */
static const char *acting(pv_ledger *l, const char *fallback)
{
    return l->has_actor ? l->actor_station : fallback;
}

/* ---- transactions: one call, one transaction; a lost connection is retried once ---- */

#define txn pv_ledger_txn

/* Every change: a signer and a valid actor first, then the write transaction; a success clears
 * the last error. */
static int write_txn(pv_ledger *l, txn_body body, void *arg)
{
    int rc = need_signer(l);
    if (rc || (rc = actor_ok(l)))
        return rc;
    rc = pv_ledger_txn(l, PV_STORE_WRITE, body, arg);
    if (rc >= 0)
        l->err[0] = 0;
    return rc;
}

/* After a connection lost during COMMIT: did the transaction commit? Its last audit entry is the
 * head of the log if and only if it did. 1 yes, 0 no, <0 cannot tell. */
static int committed(pv_ledger *l)
{
    pv_store *s = l->store;
    int64_t seq = 0;
    uint8_t h[32];
    size_t hl = 0;
    if (s->ops->begin(s, PV_STORE_READ))
        return -1;
    int rc = s->ops->audit_head(s, &seq, h, &hl);
    s->ops->rollback(s);
    if (rc)
        return -1;
    if (seq >= l->last_seq)
        return seq == l->last_seq && hl == 32 && memcmp(h, l->last_hash, 32) == 0 ? 1 : 0;
    return 0;
}

int pv_ledger_txn(pv_ledger *l, enum pv_store_txn mode, txn_body body, void *arg)
{
    pv_store *s = l->store;
    if (mode == PV_STORE_WRITE && l->read_only)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_DB,
                                  "ledger: opened read-only (a reading command); nothing written");
    for (int attempt = 0;; attempt++) {
        l->appended = 0;
        int rc = s->ops->begin(s, mode);
        int in_commit = 0, body_rc = PV_LEDGER_OK;
        if (!rc) {
            rc = body_rc = body(l, arg);
            if (rc < 0)
                s->ops->rollback(s);
            else {
                int c = s->ops->commit(s);
                if (c) {
                    in_commit = 1;
                    rc = c;
                }
            }
        }
        if (rc != PV_LEDGER_E_DB || !s->ops->lost(s))
            return rc;
        /* The connection broke (a database restart, a network cut). Nothing is half written:
         * the server rolls back what it did not commit. Reconnect once, then decide. */
        char why[256];
        snprintf(why, sizeof why, "%.250s", l->err);
        if (attempt > 0 || s->ops->reconnect(s) != PV_LEDGER_OK)
            return pv_ledger_fail_msg(
                l, PV_LEDGER_E_DB,
                "ledger: the connection to the %s ledger was lost and %s: "
                "%.300s; nothing more was written",
                s->ops->name, attempt > 0 ? "lost again after reconnecting" : "reconnecting failed",
                why);
        if (in_commit && mode == PV_STORE_WRITE && l->appended) {
            int done = committed(l);
            if (done < 0)
                return pv_ledger_fail_msg(l, PV_LEDGER_E_DB,
                                          "ledger: the connection was lost during COMMIT and the "
                                          "outcome cannot be read (%s); check the row before "
                                          "retrying",
                                          l->err);
            if (done) {
                l->err[0] = 0;
                return body_rc;
            }
        }
        /* Not committed: the whole transaction again, on the new connection. */
    }
}

/* ---- reserve ---- */

struct reserve {
    const char *batch, *station, *hex;
    const pv_ledger_recipe *recipe;
    char digest[65];
    uint32_t quota;
    pv_ledger_row *row;
};

/* The batch row with this quota: created on first use, updated (and audited) when the recipe's
 * quota changed. Inside the reservation's transaction, so a refused reservation undoes it. */
static int ensure_batch(pv_ledger *l, struct reserve *a, const char *at, pv_store_batch *b)
{
    pv_store *s = l->store;
    int rc = s->ops->batch_get(s, a->batch, b);
    if (rc && rc != PV_LEDGER_E_UNKNOWN)
        return rc;
    const char *who = acting(l, a->station);
    if (rc == PV_LEDGER_E_UNKNOWN) {
        memset(b, 0, sizeof *b);
        snprintf(b->batch, sizeof b->batch, "%s", a->batch);
        b->quota = a->quota;
        snprintf(b->created_at, sizeof b->created_at, "%s", at);
        if ((rc = s->ops->batch_put(s, b, 1)))
            return rc;
        return pv_ledger_audit_append(l, at, "batch", a->batch, NULL, NULL, who,
                                      json_pack("{s:I}", "quota", (json_int_t)a->quota));
    }
    if (b->quota == a->quota)
        return PV_LEDGER_OK;
    uint32_t was = b->quota;
    b->quota = a->quota;
    if ((rc = s->ops->batch_put(s, b, 0)))
        return rc;
    return pv_ledger_audit_append(
        l, at, "quota", a->batch, NULL, NULL, who,
        json_pack("{s:I,s:I}", "quota", (json_int_t)a->quota, "was", (json_int_t)was));
}

/* Reserve with an actor: may it take cur's lease? Adds the lease (and a takeover) to detail and
 * row. PV_LEDGER_E_LEASED if another station holds an unexpired lease. */
static int take_lease(pv_ledger *l, pv_ledger_row *r, const char *at, json_t *detail)
{
    if (r->lease_station[0]) {
        int mine = strcmp(r->lease_station, l->actor_station) == 0;
        int expired = strcmp(r->lease_until, at) <= 0;
        if (!mine && !expired)
            return pv_ledger_fail_msg(l, PV_LEDGER_E_LEASED,
                                      "UID %s is leased to station %s (session %s) until %s; "
                                      "nothing written",
                                      r->uid_hex, r->lease_station, r->lease_session,
                                      r->lease_until);
        if (!mine || strcmp(r->lease_session, l->actor_session) != 0)
            json_object_set_new(detail, "took_over",
                                json_pack("{s:s,s:s,s:s,s:b}", "station", r->lease_station,
                                          "session", r->lease_session, "until", r->lease_until,
                                          "expired", expired));
    }
    snprintf(r->lease_station, sizeof r->lease_station, "%s", l->actor_station);
    snprintf(r->lease_session, sizeof r->lease_session, "%s", l->actor_session);
    now_plus(l->lease_s, r->lease_until);
    json_object_set_new(detail, "session", json_string(l->actor_session));
    json_object_set_new(detail, "lease_until", json_string(r->lease_until));
    return PV_LEDGER_OK;
}

static void end_lease(pv_ledger_row *r)
{
    r->lease_station[0] = r->lease_session[0] = r->lease_until[0] = 0;
}

static int reserve_body(pv_ledger *l, void *arg)
{
    struct reserve *a = arg;
    pv_store *s = l->store;
    char at[32];
    now(at);
    pv_ledger_row cur;
    int rc = s->ops->device_get(s, a->hex, &cur);
    json_t *detail =
        json_pack("{s:s,s:s}", "recipe_name", a->recipe->name, "recipe_digest", a->digest);
    if (l->has_actor && strcmp(a->station, l->actor_station) != 0)
        json_object_set_new(detail, "station", json_string(a->station));
    if (rc == PV_LEDGER_OK) {
        if (cur.state == PV_LEDGER_LOCKED)
            rc = pv_ledger_fail_msg(l, PV_LEDGER_E_PROVISIONED,
                                    "device already provisioned: UID %s was locked at %s in batch "
                                    "%s (station %s)",
                                    a->hex, cur.at[PV_LEDGER_LOCKED - 1], cur.batch, cur.station);
        else if (strcmp(cur.batch, a->batch) != 0)
            rc = pv_ledger_fail_msg(l, PV_LEDGER_E_OTHER_BATCH,
                                    "UID %s is in progress in batch %s (state %s), not %s; "
                                    "finish it with that batch's recipe",
                                    a->hex, cur.batch, pv_ledger_state_name(cur.state), a->batch);
        else if (l->has_actor)
            rc = take_lease(l, &cur, at, detail);
        if (rc) {
            json_decref(detail);
            return rc;
        }
        /* Resume: same row, not counted again. */
        snprintf(cur.station, sizeof cur.station, "%s", a->station);
        snprintf(cur.recipe_name, sizeof cur.recipe_name, "%s", a->recipe->name);
        snprintf(cur.recipe_digest, sizeof cur.recipe_digest, "%s", a->digest);
        cur.attempts++;
        if ((rc = s->ops->device_update(s, &cur)) ||
            (rc = pv_ledger_audit_append(l, at, "resume", a->batch, a->hex,
                                         pv_ledger_state_name(cur.state), acting(l, a->station),
                                         detail)))
            return rc;
        rc = PV_LEDGER_RESUMED;
    } else if (rc == PV_LEDGER_E_UNKNOWN) {
        pv_store_batch b;
        if ((rc = ensure_batch(l, a, at, &b))) {
            json_decref(detail);
            return rc;
        }
        if (b.used >= (int64_t)a->quota) {
            json_decref(detail);
            return pv_ledger_fail_msg(l, PV_LEDGER_E_QUOTA,
                                      "batch quota exhausted: batch %s has provisioned or "
                                      "reserved %lld of %u devices",
                                      a->batch, (long long)b.used, a->quota);
        }
        memset(&cur, 0, sizeof cur);
        snprintf(cur.batch, sizeof cur.batch, "%s", a->batch);
        snprintf(cur.uid_hex, sizeof cur.uid_hex, "%s", a->hex);
        cur.state = PV_LEDGER_RESERVED;
        snprintf(cur.station, sizeof cur.station, "%s", a->station);
        snprintf(cur.recipe_name, sizeof cur.recipe_name, "%s", a->recipe->name);
        snprintf(cur.recipe_digest, sizeof cur.recipe_digest, "%s", a->digest);
        snprintf(cur.at[0], sizeof cur.at[0], "%s", at);
        cur.attempts = 1;
        if (l->has_actor)
            take_lease(l, &cur, at, detail); /* a new row has no lease to refuse */
        if ((rc = s->ops->device_insert(s, &cur)) ||
            (rc = pv_ledger_audit_append(l, at, "reserve", a->batch, a->hex, "reserved",
                                         acting(l, a->station), detail)))
            return rc;
        rc = PV_LEDGER_OK;
    } else {
        json_decref(detail);
        return rc;
    }
    if (a->row) {
        int g = s->ops->device_get(s, a->hex, a->row);
        if (g)
            return g;
    }
    return rc;
}

int pv_ledger_reserve(pv_ledger *l, const char *batch, const uint8_t uid[PV_LEDGER_UID_LEN],
                      const char *station, const pv_ledger_recipe *recipe, uint32_t quota,
                      pv_ledger_row *row)
{
    if (!uid || !recipe || !text_ok(recipe->name, PV_LEDGER_TEXT_MAX) || !printable(recipe->name))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: reserve needs a UID and a recipe name (1 to %u "
                                  "characters, no control characters)",
                                  PV_LEDGER_TEXT_MAX - 1);
    if (!name_ok(batch))
        return bad_name(l, "batch", batch);
    if (!name_ok(station))
        return bad_name(l, "station", station);
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    uid_hex(uid, hex);
    struct reserve a = {batch, station, hex, recipe, "", quota, row};
    for (int i = 0; i < 32; i++)
        snprintf(a.digest + 2 * i, 3, "%02x", recipe->digest[i]);
    return write_txn(l, reserve_body, &a);
}

/* ---- advance ---- */

/* One step forward; or back to keyed from keyed, written or verified (a rerun redoes the
 * device); locked only from verified and never left. */
static int legal(pv_ledger_state from, pv_ledger_state to)
{
    if (from == PV_LEDGER_LOCKED || to <= PV_LEDGER_RESERVED || to > PV_LEDGER_LOCKED)
        return 0;
    if (to == from + 1)
        return 1;
    return to == PV_LEDGER_KEYED && from >= PV_LEDGER_KEYED;
}

/* With an actor, advance and fail need its session to hold the row's lease. A lease that ran
 * out is still its holder's until someone else takes it. */
int pv_ledger_hold_lease(pv_ledger *l, const pv_ledger_row *r)
{
    if (!l->has_actor)
        return PV_LEDGER_OK;
    if (strcmp(r->lease_station, l->actor_station) == 0 &&
        strcmp(r->lease_session, l->actor_session) == 0)
        return PV_LEDGER_OK;
    if (!r->lease_station[0])
        return pv_ledger_fail_msg(l, PV_LEDGER_E_LEASED,
                                  "UID %s: no lease is held; this session (station %s) must "
                                  "reserve it first; nothing written",
                                  r->uid_hex, l->actor_station);
    return pv_ledger_fail_msg(l, PV_LEDGER_E_LEASED,
                              "UID %s is leased to station %s (session %s) until %s, not to this "
                              "session of station %s; nothing written",
                              r->uid_hex, r->lease_station, r->lease_session, r->lease_until,
                              l->actor_station);
}

struct advance {
    const char *hex;
    pv_ledger_state state;
    const pv_ledger_details *d;
};

static int advance_body(pv_ledger *l, void *arg)
{
    struct advance *a = arg;
    pv_store *s = l->store;
    char at[32];
    now(at);
    pv_ledger_row cur;
    int rc = s->ops->device_get(s, a->hex, &cur);
    if (rc)
        return rc;
    if (!legal(cur.state, a->state)) {
        const char *next = cur.state == PV_LEDGER_LOCKED
                               ? "none: locked is final"
                               : pv_ledger_state_name((pv_ledger_state)(cur.state + 1));
        return pv_ledger_fail_msg(
            l, PV_LEDGER_E_ILLEGAL, "UID %s: cannot go from %s to %s; the next state is %s", a->hex,
            pv_ledger_state_name(cur.state), pv_ledger_state_name(a->state), next);
    }
    if ((rc = pv_ledger_hold_lease(l, &cur)))
        return rc;
    json_t *detail = json_object();
    if (a->state <= cur.state) { /* a redo clears what the rerun will redo */
        json_object_set_new(detail, "redo", json_true());
        json_object_set_new(detail, "from", json_string(pv_ledger_state_name(cur.state)));
        cur.at[PV_LEDGER_WRITTEN - 1][0] = cur.at[PV_LEDGER_VERIFIED - 1][0] = 0;
        cur.image_digest[0] = 0;
    }
    cur.state = a->state;
    snprintf(cur.at[a->state - 1], sizeof cur.at[0], "%s", at);
    if (a->d->image_digest) {
        json_object_set_new(detail, "image_digest", json_string(a->d->image_digest));
        snprintf(cur.image_digest, sizeof cur.image_digest, "%s", a->d->image_digest);
    }
    if (a->d->has_key) {
        json_object_set_new(detail, "key_id", json_integer(a->d->key_id));
        json_object_set_new(detail, "key_version", json_integer(a->d->key_version));
        cur.has_key = 1;
        cur.key_id = a->d->key_id;
        cur.key_version = a->d->key_version;
    }
    if (l->has_actor)
        json_object_set_new(detail, "session", json_string(l->actor_session));
    if (a->state == PV_LEDGER_LOCKED) {
        cur.rdp_level = a->d->rdp_level;
        json_object_set_new(detail, "rdp_level", json_integer(a->d->rdp_level));
        end_lease(&cur);
    } else if (l->has_actor) { /* each step renews the lease */
        now_plus(l->lease_s, cur.lease_until);
        json_object_set_new(detail, "lease_until", json_string(cur.lease_until));
    }
    if ((rc = s->ops->device_update(s, &cur))) {
        json_decref(detail);
        return rc;
    }
    return pv_ledger_audit_append(l, at, "advance", cur.batch, a->hex,
                                  pv_ledger_state_name(a->state), acting(l, cur.station), detail);
}

/* Several steps in one transaction: from the row's state one at a time up to a->state (each
 * step checked and audited as advance_body does it alone). */
static int advance_through_body(pv_ledger *l, void *arg)
{
    struct advance *a = arg;
    pv_ledger_row cur;
    int rc = l->store->ops->device_get(l->store, a->hex, &cur);
    if (rc)
        return rc;
    pv_ledger_state next = cur.state < a->state ? (pv_ledger_state)(cur.state + 1) : a->state;
    for (;; next = (pv_ledger_state)(next + 1)) {
        struct advance one = {a->hex, next, a->d};
        if ((rc = advance_body(l, &one)) != 0 || next >= a->state)
            return rc;
    }
}

static int advance(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], pv_ledger_state state,
                   const pv_ledger_details *d, txn_body body)
{
    static const pv_ledger_details none = {0};
    if (!d)
        d = &none;
    if (!uid || (d->image_digest && !hex_ok(d->image_digest, 64, 64)))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: advance needs a UID; an image digest is 64 lowercase "
                                  "hex digits");
    if (d->rdp_level > 2)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG, "ledger: RDP level %u is not 0, 1 or 2",
                                  d->rdp_level);
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    uid_hex(uid, hex);
    struct advance a = {hex, state, d};
    return write_txn(l, body, &a);
}

int pv_ledger_advance(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], pv_ledger_state state,
                      const pv_ledger_details *d)
{
    return advance(l, uid, state, d, advance_body);
}

int pv_ledger_advance_through(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN],
                              pv_ledger_state state, const pv_ledger_details *d)
{
    return advance(l, uid, state, d, advance_through_body);
}

/* ---- failures ---- */

struct failure {
    const char *hex, *phase, *reason;
};

static int fail_body(pv_ledger *l, void *arg)
{
    struct failure *a = arg;
    pv_store *s = l->store;
    pv_store_failure f;
    memset(&f, 0, sizeof f);
    now(f.at);
    pv_ledger_row cur;
    int rc = s->ops->device_get(s, a->hex, &cur);
    if (rc || (rc = pv_ledger_hold_lease(l, &cur)))
        return rc;
    snprintf(f.uid, sizeof f.uid, "%s", a->hex);
    snprintf(f.batch, sizeof f.batch, "%s", cur.batch);
    snprintf(f.state, sizeof f.state, "%s", pv_ledger_state_name(cur.state));
    snprintf(f.phase, sizeof f.phase, "%s", a->phase);
    snprintf(f.reason, sizeof f.reason, "%s", a->reason);
    snprintf(f.station, sizeof f.station, "%s", acting(l, cur.station));
    if ((rc = s->ops->failure_insert(s, &f)))
        return rc;
    if (cur.lease_station[0]) { /* a recorded failure ends the lease */
        end_lease(&cur);
        if ((rc = s->ops->device_update(s, &cur)))
            return rc;
    }
    json_t *detail = json_pack("{s:I,s:s,s:s}", "failure_id", (json_int_t)f.id, "phase", a->phase,
                               "reason", a->reason);
    if (l->has_actor)
        json_object_set_new(detail, "session", json_string(l->actor_session));
    return pv_ledger_audit_append(l, f.at, "fail", cur.batch, a->hex, f.state, f.station, detail);
}

int pv_ledger_fail(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], const char *phase,
                   const char *reason)
{
    if (!uid || !text_ok(phase, PV_LEDGER_TEXT_MAX) || !text_ok(reason, PV_LEDGER_REASON_MAX))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: a failure needs a UID, a phase (1 to %u characters) "
                                  "and a reason (1 to %u)",
                                  PV_LEDGER_TEXT_MAX - 1, PV_LEDGER_REASON_MAX - 1);
    /* A station's own words: kept, with control bytes and anything that is not UTF-8 written
     * as \xNN (text_safe.h), so the record is never lost and never raw. */
    char safe_phase[PV_LEDGER_TEXT_MAX], safe_reason[PV_LEDGER_REASON_MAX];
    pv_text_escape(phase, safe_phase, sizeof safe_phase);
    pv_text_escape(reason, safe_reason, sizeof safe_reason);
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    uid_hex(uid, hex);
    struct failure a = {hex, safe_phase, safe_reason};
    return write_txn(l, fail_body, &a);
}

/* ---- confirmation of a lock the ledger missed ---- */

struct confirm {
    const char *hex, *by, *reason;
};

static int confirm_body(pv_ledger *l, void *arg)
{
    struct confirm *a = arg;
    pv_store *s = l->store;
    char at[32];
    now(at);
    pv_ledger_row cur;
    int rc = s->ops->device_get(s, a->hex, &cur);
    if (rc)
        return rc;
    if (cur.state == PV_LEDGER_LOCKED)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ILLEGAL,
                                  "UID %s is locked already (at %s): nothing to confirm, nothing "
                                  "written",
                                  a->hex, cur.at[PV_LEDGER_LOCKED - 1]);
    if (cur.state != PV_LEDGER_VERIFIED)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ILLEGAL,
                                  "UID %s is in state %s, not verified: only a verified device "
                                  "can have been locked; rerun provision on the chip instead. "
                                  "Nothing written",
                                  a->hex, pv_ledger_state_name(cur.state));
    /* The same step the station records after a confirmed lock (a dead port: Level 2), so the
     * audit replay needs no new rule; "manual" and the confirmer tell the two apart. The lease
     * of the session that died ends here. */
    cur.state = PV_LEDGER_LOCKED;
    snprintf(cur.at[PV_LEDGER_LOCKED - 1], sizeof cur.at[0], "%s", at);
    cur.rdp_level = 2;
    end_lease(&cur);
    json_t *detail = json_pack("{s:b,s:s,s:s,s:i}", "manual", 1, "confirmed_by", a->by, "reason",
                               a->reason, "rdp_level", 2);
    if (l->has_actor)
        json_object_set_new(detail, "session", json_string(l->actor_session));
    if ((rc = s->ops->device_update(s, &cur))) {
        json_decref(detail);
        return rc;
    }
    return pv_ledger_audit_append(l, at, "advance", cur.batch, a->hex, "locked",
                                  acting(l, cur.station), detail);
}

int pv_ledger_confirm_locked(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], const char *by,
                             const char *reason)
{
    if (!uid || !text_ok(by, PV_LEDGER_TEXT_MAX) || !text_ok(reason, PV_LEDGER_REASON_MAX) ||
        !printable(by) || !printable(reason))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: a confirmation needs a UID, who confirms (1 to %u "
                                  "characters) and a reason (1 to %u), without control "
                                  "characters",
                                  PV_LEDGER_TEXT_MAX - 1, PV_LEDGER_REASON_MAX - 1);
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    uid_hex(uid, hex);
    struct confirm a = {hex, by, reason};
    return write_txn(l, confirm_body, &a);
}

/* ---- stations ---- */

struct enroll {
    const pv_ledger_station *in;
};

static int enroll_body(pv_ledger *l, void *arg)
{
    const pv_ledger_station *in = ((struct enroll *)arg)->in;
    pv_store *s = l->store;
    pv_ledger_station cur, st;
    int rc = s->ops->station_get(s, in->name, &cur);
    if (rc && rc != PV_LEDGER_E_UNKNOWN)
        return rc;
    int exists = rc == PV_LEDGER_OK;
    if (exists && !cur.revoked_at[0])
        return pv_ledger_fail_msg(
            l, PV_LEDGER_E_EXISTS,
            "station %s is enrolled already (since %s, certificate %.16s...); "
            "revoke it first; nothing written",
            in->name, cur.enrolled_at, cur.cert_sha256);
    memset(&st, 0, sizeof st);
    snprintf(st.name, sizeof st.name, "%s", in->name);
    snprintf(st.cert_sha256, sizeof st.cert_sha256, "%s", in->cert_sha256);
    snprintf(st.serial, sizeof st.serial, "%s", in->serial);
    snprintf(st.rights, sizeof st.rights, "%s", in->rights);
    now(st.enrolled_at);
    if ((rc = s->ops->station_put(s, &st, !exists)))
        return rc;
    return pv_ledger_audit_append(
        l, st.enrolled_at, "station_enroll", NULL, NULL, NULL, acting(l, NULL),
        json_pack("{s:s,s:s,s:s,s:s}", "name", st.name, "cert_sha256", st.cert_sha256, "serial",
                  st.serial, "rights", st.rights));
}

int pv_ledger_station_enroll(pv_ledger *l, const pv_ledger_station *s)
{
    if (!s)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG, "ledger: no station given");
    if (!name_ok(s->name))
        return bad_name(l, "station", s->name);
    if (!hex_ok(s->cert_sha256, 64, 64) || !hex_ok(s->serial, 1, 64))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: station %s needs its certificate's SHA-256 (64 "
                                  "lowercase hex digits) and serial (1 to 64 lowercase hex "
                                  "digits)",
                                  s->name);
    if (strnlen(s->rights, sizeof s->rights) >= sizeof s->rights || !printable(s->rights))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: station %s: rights are up to %u characters without "
                                  "control characters",
                                  s->name, PV_LEDGER_RIGHTS_MAX - 1);
    struct enroll a = {s};
    return write_txn(l, enroll_body, &a);
}

struct station_get {
    const char *name;
    pv_ledger_station *out;
};

static int station_get_body(pv_ledger *l, void *arg)
{
    struct station_get *a = arg;
    int rc = l->store->ops->station_get(l->store, a->name, a->out);
    if (rc == PV_LEDGER_E_UNKNOWN)
        return pv_ledger_fail_msg(l, rc, "ledger: no station %s was ever enrolled", a->name);
    return rc;
}

int pv_ledger_station_get(pv_ledger *l, const char *name, pv_ledger_station *out)
{
    if (!name_ok(name))
        return bad_name(l, "station", name);
    struct station_get a = {name, out};
    int rc = txn(l, PV_STORE_READ, station_get_body, &a);
    if (rc >= 0)
        l->err[0] = 0;
    return rc;
}

struct walk {
    void *fn, *ctx;
    const char *batch;
};

static int station_list_body(pv_ledger *l, void *arg)
{
    struct walk *w = arg;
    return l->store->ops->station_list(l->store, (int (*)(void *, const pv_ledger_station *))w->fn,
                                       w->ctx);
}

int pv_ledger_station_list(pv_ledger *l, int (*fn)(void *ctx, const pv_ledger_station *s),
                           void *ctx)
{
    struct walk w = {(void *)fn, ctx, NULL};
    return txn(l, PV_STORE_READ, station_list_body, &w);
}

struct revoke {
    const char *name, *by, *reason;
};

static int revoke_body(pv_ledger *l, void *arg)
{
    struct revoke *a = arg;
    pv_store *s = l->store;
    pv_ledger_station st;
    int rc = s->ops->station_get(s, a->name, &st);
    if (rc == PV_LEDGER_E_UNKNOWN)
        return pv_ledger_fail_msg(l, rc, "ledger: no station %s was ever enrolled", a->name);
    if (rc)
        return rc;
    if (st.revoked_at[0])
        return pv_ledger_fail_msg(l, PV_LEDGER_E_REVOKED,
                                  "station %s was revoked already (at %s: %s); nothing written",
                                  a->name, st.revoked_at, st.revoke_reason);
    now(st.revoked_at);
    snprintf(st.revoke_reason, sizeof st.revoke_reason, "%s", a->reason);
    if ((rc = s->ops->station_put(s, &st, 0)))
        return rc;
    return pv_ledger_audit_append(
        l, st.revoked_at, "station_revoke", NULL, NULL, NULL, acting(l, NULL),
        json_pack("{s:s,s:s,s:s}", "name", a->name, "by", a->by, "reason", a->reason));
}

int pv_ledger_station_revoke(pv_ledger *l, const char *name, const char *by, const char *reason)
{
    if (!name_ok(name))
        return bad_name(l, "station", name);
    if (!text_ok(by, PV_LEDGER_TEXT_MAX) || !text_ok(reason, PV_LEDGER_REASON_MAX) ||
        !printable(by) || !printable(reason))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: a revocation needs who revokes (1 to %u characters) "
                                  "and a reason (1 to %u), without control characters",
                                  PV_LEDGER_TEXT_MAX - 1, PV_LEDGER_REASON_MAX - 1);
    struct revoke a = {name, by, reason};
    return write_txn(l, revoke_body, &a);
}

/* ---- reads ---- */

struct get {
    const char *hex;
    pv_ledger_row *row;
};

static int get_body(pv_ledger *l, void *arg)
{
    struct get *a = arg;
    int rc = l->store->ops->device_get(l->store, a->hex, a->row);
    if (rc == PV_LEDGER_E_UNKNOWN)
        return pv_ledger_fail_msg(l, rc, "no device with UID %s in the ledger", a->hex);
    return rc;
}

int pv_ledger_get(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], pv_ledger_row *row)
{
    if (!uid || !row)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG, "ledger: get needs a UID and a row");
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    uid_hex(uid, hex);
    struct get a = {hex, row};
    int rc = txn(l, PV_STORE_READ, get_body, &a);
    if (rc >= 0)
        l->err[0] = 0;
    return rc;
}

static int list_body(pv_ledger *l, void *arg)
{
    struct walk *w = arg;
    return l->store->ops->device_list(l->store, w->batch,
                                      (int (*)(void *, const pv_ledger_row *))w->fn, w->ctx);
}

int pv_ledger_list(pv_ledger *l, const char *batch, int (*fn)(void *ctx, const pv_ledger_row *r),
                   void *ctx)
{
    struct walk w = {(void *)fn, ctx, batch};
    return txn(l, PV_STORE_READ, list_body, &w);
}

struct batch_get {
    const char *batch;
    pv_store_batch b;
};

static int batch_body(pv_ledger *l, void *arg)
{
    struct batch_get *a = arg;
    int rc = l->store->ops->batch_get(l->store, a->batch, &a->b);
    if (rc == PV_LEDGER_E_UNKNOWN)
        return pv_ledger_fail_msg(l, rc, "ledger: no batch %s", a->batch);
    return rc;
}

int pv_ledger_batch(pv_ledger *l, const char *batch, uint32_t *quota, uint32_t *used)
{
    if (!batch)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG, "ledger: no batch given");
    struct batch_get a = {batch, {{0}, 0, {0}, 0}};
    int rc = txn(l, PV_STORE_READ, batch_body, &a);
    if (rc == PV_LEDGER_OK) {
        *quota = a.b.quota;
        *used = (uint32_t)a.b.used;
    }
    return rc;
}

struct batches {
    int (*fn)(void *ctx, const char *batch, uint32_t quota, uint32_t used);
    void *ctx;
};

static int batch_row(void *ctx, const pv_store_batch *b)
{
    struct batches *w = ctx;
    return w->fn(w->ctx, b->batch, b->quota, (uint32_t)b->used);
}

static int batches_body(pv_ledger *l, void *arg)
{
    return l->store->ops->batch_list(l->store, batch_row, arg);
}

int pv_ledger_batches(pv_ledger *l,
                      int (*fn)(void *ctx, const char *batch, uint32_t quota, uint32_t used),
                      void *ctx)
{
    struct batches w = {fn, ctx};
    return txn(l, PV_STORE_READ, batches_body, &w);
}

static int counts_body(pv_ledger *l, void *arg)
{
    return l->store->ops->state_counts(l->store, arg);
}

int pv_ledger_state_counts(pv_ledger *l, int64_t counts[6])
{
    memset(counts, 0, 6 * sizeof counts[0]);
    return txn(l, PV_STORE_READ, counts_body, counts);
}

/* ---- shared by the stores ---- */

void pv_store_copy(char *out, size_t cap, const char *s)
{
    snprintf(out, cap, "%s", s ? s : "");
}

static int hexval(int ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : (ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : 0);
}

void pv_store_uid_bytes(const char *hex, uint8_t uid[PV_LEDGER_UID_LEN])
{
    memset(uid, 0, PV_LEDGER_UID_LEN);
    for (unsigned i = 0; i < PV_LEDGER_UID_LEN && hex[2 * i] && hex[2 * i + 1]; i++)
        uid[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
}

/* ---- for the other ledger files (ledger_internal.h) ---- */

int pv_ledger_write_txn(pv_ledger *l, txn_body body, void *arg)
{
    return write_txn(l, body, arg);
}

void pv_ledger_now(char out[32])
{
    now(out);
}

void pv_ledger_format_time(struct timespec ts, char out[32])
{
    fmt_time(ts, out);
}
