/* The ledger's audit chain: appending signed, hash-chained entries, and verifying the chain and
 * the tables against it (docs/ledger.md, "Audit chain").
 *
 * Canonical entry bytes (what is hashed after the previous hash):
 *   "pv-ledger-audit-v1" NUL, seq as 8 bytes big endian, then at, action, batch, uid, state,
 *   station, detail, key_id each as a 4-byte big-endian length and the bytes (NULL: length
 *   0xFFFFFFFF, no bytes). detail is compact JSON with sorted keys, hashed as stored. */
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
    uint8_t prev[32] = {0};
    int64_t seq = 1;
    sqlite3_stmt *st = NULL;
    int rc = PV_LEDGER_OK;
    if (sqlite3_prepare_v2(l->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK)
        rc = pv_ledger_db_error(l, "read audit head");
    else {
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
            seq = sqlite3_column_int64(st, 0) + 1;
            memcpy(prev, sqlite3_column_blob(st, 1), 32);
        } else if (s != SQLITE_DONE)
            rc = s == SQLITE_ROW ? pv_ledger_fail_msg(l, PV_LEDGER_E_CHAIN,
                                                      "ledger: the last audit entry has no "
                                                      "32-byte hash; run provision ledger verify")
                                 : pv_ledger_db_error(l, "read audit head");
    }
    sqlite3_finalize(st);
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
        if (sqlite3_prepare_v2(l->db,
                               "INSERT INTO audit (seq, at, action, batch, uid, state, station, "
                               "detail, prev_hash, hash, key_id, signature) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               -1, &st, NULL) != SQLITE_OK)
            rc = pv_ledger_db_error(l, "prepare audit insert");
        else {
            const char *t[] = {at, action, batch, uid, state, station, text};
            sqlite3_bind_int64(st, 1, seq);
            for (int i = 0; i < 7; i++)
                if (t[i])
                    sqlite3_bind_text(st, 2 + i, t[i], -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 9, prev, 32, SQLITE_STATIC);
            sqlite3_bind_blob(st, 10, hash, 32, SQLITE_STATIC);
            sqlite3_bind_text(st, 11, l->signer.key_id, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 12, sig, (int)sig_len, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = pv_ledger_db_error(l, "append audit entry");
            sqlite3_finalize(st);
        }
    }
    free(text);
    return rc;
}

/* ---- verification ---- */

#define DEV_COLS                                                                                   \
    "batch, uid, state, station, recipe_name, recipe_digest, image_digest, key_id, key_version, "  \
    "reserved_at, keyed_at, written_at, verified_at, locked_at, attempts"
#define BATCH_COLS "batch, quota, created_at"
#define FAIL_COLS  "id, uid, batch, state, phase, reason, station, at"

struct verify {
    pv_ledger *l;
    pv_ledger_verify_report *rep;
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

static int sql(struct verify *v, const char *q)
{
    char *msg = NULL;
    if (sqlite3_exec(v->l->db, q, NULL, NULL, &msg) != SQLITE_OK) {
        pv_ledger_fail_msg(v->l, PV_LEDGER_E_DB, "ledger verify: %s", msg ? msg : q);
        snprintf(v->rep->message, sizeof v->rep->message, "%s", v->l->err);
        sqlite3_free(msg);
        return PV_LEDGER_E_DB;
    }
    return PV_LEDGER_OK;
}

/* Replays one entry into the temp tables (the ledger as the log says it must be). */
static int apply(struct verify *v, sqlite3_stmt *e, int64_t seq)
{
    const char *at = (const char *)sqlite3_column_text(e, 1);
    const char *action = (const char *)sqlite3_column_text(e, 2);
    const char *batch = (const char *)sqlite3_column_text(e, 3);
    const char *uid = (const char *)sqlite3_column_text(e, 4);
    const char *state = (const char *)sqlite3_column_text(e, 5);
    const char *station = (const char *)sqlite3_column_text(e, 6);
    json_error_t jerr;
    json_t *d = json_loads((const char *)sqlite3_column_text(e, 7), 0, &jerr);
    if (!d || !action)
        return broken(v, seq, "audit entry #%lld: detail is not JSON", (long long)seq);
    const char *q = NULL;
    sqlite3_stmt *st = NULL;
    json_t *x;
    int rc = PV_LEDGER_OK;
#define S(k) (json_string_value(json_object_get(d, k)))
#define I(k) ((int64_t)json_integer_value(json_object_get(d, k)))
    if (!strcmp(action, "batch"))
        q = "INSERT INTO temp.x_batches (batch, quota, created_at) VALUES (?1, ?2, ?3)";
    else if (!strcmp(action, "quota"))
        q = "UPDATE temp.x_batches SET quota = ?2 WHERE batch = ?1";
    else if (!strcmp(action, "reserve"))
        q = "INSERT INTO temp.x_devices (batch, uid, state, station, recipe_name, recipe_digest, "
            "reserved_at, attempts, last_seq) VALUES (?1, ?4, 'reserved', ?5, ?6, ?7, ?3, 1, ?8)";
    else if (!strcmp(action, "resume"))
        q = "UPDATE temp.x_devices SET station = ?5, recipe_name = ?6, recipe_digest = ?7, "
            "attempts = attempts + 1, last_seq = ?8 WHERE uid = ?4 AND batch = ?1";
    else if (!strcmp(action, "advance"))
        /* A redo (?10) clears what the rerun will redo; SQLite takes one assignment per
         * column, hence the combined CASEs. */
        q = "UPDATE temp.x_devices SET state = ?9, last_seq = ?8,"
            " keyed_at = CASE WHEN ?9 = 'keyed' THEN ?3 ELSE keyed_at END,"
            " written_at = CASE WHEN ?9 = 'written' THEN ?3 WHEN ?10 THEN NULL"
            "   ELSE written_at END,"
            " verified_at = CASE WHEN ?9 = 'verified' THEN ?3 WHEN ?10 THEN NULL"
            "   ELSE verified_at END,"
            " locked_at = CASE WHEN ?9 = 'locked' THEN ?3 ELSE locked_at END,"
            " image_digest = coalesce(?11, CASE WHEN ?10 THEN NULL ELSE image_digest END),"
            " key_id = coalesce(?12, key_id), key_version = coalesce(?13, key_version)"
            " WHERE uid = ?4 AND batch = ?1";
    else if (!strcmp(action, "fail"))
        q = "INSERT INTO temp.x_failures (id, uid, batch, state, phase, reason, station, at) "
            "VALUES (?14, ?4, ?1, ?9, ?15, ?16, ?5, ?3)";
    else {
        json_decref(d);
        return broken(v, seq, "audit entry #%lld: unknown action '%s'", (long long)seq, action);
    }
    if (sqlite3_prepare_v2(v->l->db, q, -1, &st, NULL) != SQLITE_OK) {
        json_decref(d);
        return broken(v, seq, "audit entry #%lld: %s", (long long)seq, sqlite3_errmsg(v->l->db));
    }
    /* Bind only what the statement uses: SQLite numbers parameters by ?N. */
    int np = sqlite3_bind_parameter_count(st);
#define TXT(i, s)                                                                                  \
    do {                                                                                           \
        if ((i) <= np && (s))                                                                      \
            sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);                                     \
    } while (0)
#define INT(i, val)                                                                                \
    do {                                                                                           \
        if ((i) <= np)                                                                             \
            sqlite3_bind_int64(st, i, val);                                                        \
    } while (0)
    TXT(1, batch);
    INT(2, I("quota"));
    TXT(3, at);
    TXT(4, uid);
    TXT(5, station);
    TXT(6, S("recipe_name"));
    TXT(7, S("recipe_digest"));
    INT(8, seq);
    TXT(9, state);
    INT(10, json_is_true(json_object_get(d, "redo")));
    TXT(11, S("image_digest"));
    if ((x = json_object_get(d, "key_id")))
        INT(12, (int64_t)json_integer_value(x));
    if ((x = json_object_get(d, "key_version")))
        INT(13, (int64_t)json_integer_value(x));
    INT(14, I("failure_id"));
    TXT(15, S("phase"));
    TXT(16, S("reason"));
#undef S
#undef I
#undef TXT
#undef INT
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE || sqlite3_changes(v->l->db) != 1)
        rc = broken(v, seq,
                    "audit entry #%lld (%s %s%s%s) does not follow from the entries before it%s%s",
                    (long long)seq, action, batch ? batch : "", uid ? " " : "", uid ? uid : "",
                    s != SQLITE_DONE ? ": " : "", s != SQLITE_DONE ? sqlite3_errmsg(v->l->db) : "");
    sqlite3_finalize(st);
    json_decref(d);
    return rc;
}

/* Names the first column where row a (the table) and b (the log) differ. */
static void first_difference(sqlite3_stmt *a, sqlite3_stmt *b, char *out, size_t len)
{
    for (int i = 0; i < sqlite3_column_count(a); i++) {
        const char *x = (const char *)sqlite3_column_text(a, i);
        const char *y = (const char *)sqlite3_column_text(b, i);
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0)) {
            snprintf(out, len, "%s is %s%s%s in the table but %s%s%s per the audit log",
                     sqlite3_column_name(a, i), x ? "'" : "", x ? x : "NULL", x ? "'" : "",
                     y ? "'" : "", y ? y : "NULL", y ? "'" : "");
            return;
        }
    }
    snprintf(out, len, "rows differ");
}

/* The first key whose row differs between main.<table> and temp.x_<table>, described. */
static int compare(struct verify *v, const char *table, const char *cols, const char *key,
                   const char *what)
{
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT %s FROM (SELECT %s FROM main.%s EXCEPT SELECT %s FROM temp.x_%s) UNION "
             "SELECT %s FROM (SELECT %s FROM temp.x_%s EXCEPT SELECT %s FROM main.%s) "
             "ORDER BY 1 LIMIT 1",
             key, cols, table, cols, table, key, cols, table, cols, table);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(v->l->db, q, -1, &st, NULL) != SQLITE_OK)
        return broken(v, 0, "ledger verify: %s", sqlite3_errmsg(v->l->db));
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return PV_LEDGER_OK;
    }
    char k[128];
    snprintf(k, sizeof k, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);

    sqlite3_stmt *a = NULL, *b = NULL;
    snprintf(q, sizeof q, "SELECT %s FROM main.%s WHERE %s = ?", cols, table, key);
    sqlite3_prepare_v2(v->l->db, q, -1, &a, NULL);
    snprintf(q, sizeof q, "SELECT %s FROM temp.x_%s WHERE %s = ?", cols, table, key);
    sqlite3_prepare_v2(v->l->db, q, -1, &b, NULL);
    char diff[400] = "";
    int ra = SQLITE_DONE, rb = SQLITE_DONE;
    if (a && b) {
        sqlite3_bind_text(a, 1, k, -1, SQLITE_STATIC);
        sqlite3_bind_text(b, 1, k, -1, SQLITE_STATIC);
        ra = sqlite3_step(a), rb = sqlite3_step(b);
        if (ra == SQLITE_ROW && rb == SQLITE_ROW)
            first_difference(a, b, diff, sizeof diff);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    if (ra != SQLITE_ROW)
        return broken(v, 0, "%s %s: missing from the %s table, but the audit log records it", what,
                      k, table);
    if (rb != SQLITE_ROW)
        return broken(v, 0,
                      "%s %s: in the %s table, but no audit entry records it (row added "
                      "outside provision)",
                      what, k, table);
    return broken(v, 0, "%s %s: %s (row altered outside provision)", what, k, diff);
}

int pv_ledger_verify_chain(pv_ledger *l, pv_ledger_verify_fn verify, void *ctx,
                           pv_ledger_verify_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->signatures = verify != NULL;
    struct verify v = {l, rep};
    int rc;
    /* One read transaction: a consistent snapshot even while stations write. */
    if ((rc = sql(&v, "BEGIN")) ||
        (rc = sql(&v, "DROP TABLE IF EXISTS temp.x_batches; DROP TABLE IF EXISTS temp.x_devices;"
                      "DROP TABLE IF EXISTS temp.x_failures;"
                      "CREATE TEMP TABLE x_batches AS SELECT " BATCH_COLS " FROM main.batches "
                      "WHERE 0;"
                      "CREATE TEMP TABLE x_devices AS SELECT " DEV_COLS ", 0 AS last_seq FROM "
                      "main.devices WHERE 0;"
                      "CREATE UNIQUE INDEX temp.x_devices_uid ON x_devices(uid);"
                      "CREATE TEMP TABLE x_failures AS SELECT " FAIL_COLS " FROM main.failures "
                      "WHERE 0;")))
        goto out;
    sqlite3_stmt *e = NULL;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT seq, at, action, batch, uid, state, station, detail, "
                           "prev_hash, hash, key_id, signature FROM audit ORDER BY seq",
                           -1, &e, NULL) != SQLITE_OK) {
        rc = broken(&v, 0, "ledger verify: %s", sqlite3_errmsg(l->db));
        goto out;
    }
    uint8_t prev[32] = {0};
    int64_t expect = 1;
    int s;
    while ((s = sqlite3_step(e)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(e, 0);
        if (seq != expect) {
            rc = broken(&v, expect,
                        "audit entry #%lld is missing (the log jumps from #%lld to #%lld): "
                        "entries were deleted",
                        (long long)expect, (long long)expect - 1, (long long)seq);
            break;
        }
        if (sqlite3_column_bytes(e, 8) != 32 || memcmp(sqlite3_column_blob(e, 8), prev, 32)) {
            rc = broken(&v, seq,
                        "audit entry #%lld: its previous-hash is not entry #%lld's hash (entry "
                        "replaced or reordered)",
                        (long long)seq, (long long)seq - 1);
            break;
        }
        pv_audit_entry ent = {seq,
                              (const char *)sqlite3_column_text(e, 1),
                              (const char *)sqlite3_column_text(e, 2),
                              (const char *)sqlite3_column_text(e, 3),
                              (const char *)sqlite3_column_text(e, 4),
                              (const char *)sqlite3_column_text(e, 5),
                              (const char *)sqlite3_column_text(e, 6),
                              (const char *)sqlite3_column_text(e, 7),
                              (const char *)sqlite3_column_text(e, 10)};
        uint8_t h[32];
        pv_ledger_audit_hash(prev, &ent, h);
        if (sqlite3_column_bytes(e, 9) != 32 || memcmp(sqlite3_column_blob(e, 9), h, 32)) {
            rc = broken(&v, seq,
                        "audit entry #%lld (%s %s): its content does not match its hash (entry "
                        "altered)",
                        (long long)seq, ent.action ? ent.action : "?", ent.uid ? ent.uid : "");
            break;
        }
        if (verify && verify(ctx, ent.key_id ? ent.key_id : "", h, sqlite3_column_blob(e, 11),
                             (size_t)sqlite3_column_bytes(e, 11)) != 0) {
            rc = broken(&v, seq,
                        "audit entry #%lld (%s %s): the signature does not verify with key %s",
                        (long long)seq, ent.action ? ent.action : "?", ent.uid ? ent.uid : "",
                        ent.key_id ? ent.key_id : "?");
            break;
        }
        if ((rc = apply(&v, e, seq)))
            break;
        memcpy(prev, h, 32);
        rep->entries = seq;
        expect++;
    }
    if (!rc && s != SQLITE_DONE)
        rc = broken(&v, 0, "ledger verify: %s", sqlite3_errmsg(l->db));
    sqlite3_finalize(e);
    if (!rc)
        rc = compare(&v, "batches", BATCH_COLS, "batch", "batch");
    if (!rc)
        rc = compare(&v, "devices", DEV_COLS, "uid", "device UID");
    if (!rc)
        rc = compare(&v, "failures", FAIL_COLS, "id", "failure");
out:
    sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(l->db,
                 "DROP TABLE IF EXISTS temp.x_batches; DROP TABLE IF EXISTS temp.x_devices;"
                 "DROP TABLE IF EXISTS temp.x_failures;",
                 NULL, NULL, NULL);
    if (rc == PV_LEDGER_E_DB)
        return rc;
    return rc ? PV_LEDGER_E_CHAIN : PV_LEDGER_OK;
}
