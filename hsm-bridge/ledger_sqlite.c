/* The ledger on SQLite: opening (durability settings, schema version), reservations with the
 * quota, state transitions, failures, reads. docs/ledger.md has the schema and the rules. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger_internal.h"

/* Schema migrations: migrations[v] takes a file from version v to v + 1. A new version appends
 * one entry and never edits an old one. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE batches ("
    "  batch TEXT PRIMARY KEY,"
    "  quota INTEGER NOT NULL CHECK (quota >= 0),"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE devices ("
    "  id INTEGER PRIMARY KEY,"
    "  batch TEXT NOT NULL REFERENCES batches(batch),"
    "  uid TEXT NOT NULL UNIQUE CHECK (length(uid) = 24),"
    "  state TEXT NOT NULL"
    "    CHECK (state IN ('reserved', 'keyed', 'written', 'verified', 'locked')),"
    "  station TEXT NOT NULL,"
    "  recipe_name TEXT NOT NULL,"
    "  recipe_digest TEXT NOT NULL,"
    "  image_digest TEXT,"
    "  key_id INTEGER,"
    "  key_version INTEGER,"
    "  reserved_at TEXT NOT NULL,"
    "  keyed_at TEXT, written_at TEXT, verified_at TEXT, locked_at TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX devices_batch ON devices(batch);"
    "CREATE TABLE failures ("
    "  id INTEGER PRIMARY KEY,"
    "  uid TEXT NOT NULL REFERENCES devices(uid),"
    "  batch TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  phase TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  station TEXT NOT NULL,"
    "  at TEXT NOT NULL);"
    "CREATE INDEX failures_uid ON failures(uid);"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  at TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  batch TEXT, uid TEXT, state TEXT, station TEXT,"
    "  detail TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL,"
    "  hash BLOB NOT NULL,"
    "  key_id TEXT NOT NULL,"
    "  signature BLOB NOT NULL);",
};
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])
_Static_assert(NMIGRATIONS == PV_LEDGER_SCHEMA_VERSION, "one migration per schema version");

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

int pv_ledger_db_error(pv_ledger *l, const char *what)
{
    return pv_ledger_fail_msg(l, PV_LEDGER_E_DB, "ledger: %s: %s", what, sqlite3_errmsg(l->db));
}

const char *pv_ledger_error(const pv_ledger *l)
{
    return l->err;
}

struct sqlite3 *pv_ledger_db(pv_ledger *l)
{
    return l->db;
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

/* ---- small helpers ---- */

static void now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
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

static int exec(pv_ledger *l, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(l->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        pv_ledger_fail_msg(l, PV_LEDGER_E_DB, "ledger: %s: %s", sql, msg ? msg : "failed");
        sqlite3_free(msg);
        return PV_LEDGER_E_DB;
    }
    return PV_LEDGER_OK;
}

/* The write lock up front: the quota's count-and-insert must see no other writer in between. */
static int begin(pv_ledger *l)
{
    if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return pv_ledger_db_error(l, "cannot start a write transaction (another station holds "
                                     "the ledger longer than the busy timeout?)");
    return PV_LEDGER_OK;
}

static int commit(pv_ledger *l)
{
    if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = pv_ledger_db_error(l, "commit");
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return PV_LEDGER_OK;
}

/* Ends a failed transaction, keeping the first error's message. */
static int rollback(pv_ledger *l, int rc)
{
    sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static sqlite3_stmt *prepare(pv_ledger *l, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) {
        pv_ledger_db_error(l, "prepare");
        return NULL;
    }
    return st;
}

static int pragma_int(pv_ledger *l, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = prepare(l, sql);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? PV_LEDGER_OK : pv_ledger_db_error(l, sql);
}

/* ---- open ---- */

static int migrate(pv_ledger *l, const char *path)
{
    /* Up to date (the usual case): no write lock, so list/export/verify never wait for it. */
    int64_t version = 0, app = 0, tables = 0;
    int rc = pragma_int(l, "PRAGMA user_version", &version);
    if (!rc)
        rc = pragma_int(l, "PRAGMA application_id", &app);
    if (rc)
        return rc;
    if (version == (int64_t)PV_LEDGER_SCHEMA_VERSION && app == PV_LEDGER_APPLICATION_ID)
        return PV_LEDGER_OK;
    /* Otherwise decide again under the write lock: another station may be migrating too. */
    if ((rc = begin(l)))
        return rc;
    if ((rc = pragma_int(l, "PRAGMA user_version", &version)) ||
        (rc = pragma_int(l, "PRAGMA application_id", &app)) ||
        (rc = pragma_int(l, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'", &tables)))
        return rollback(l, rc);
    if (version > (int64_t)PV_LEDGER_SCHEMA_VERSION)
        return rollback(
            l, pv_ledger_fail_msg(l, PV_LEDGER_E_DB,
                                  "%s: ledger schema version %lld is newer than this provision "
                                  "(it knows up to %u); use a newer provision",
                                  path, (long long)version, PV_LEDGER_SCHEMA_VERSION));
    if ((version == 0 && tables > 0) || (version > 0 && app != PV_LEDGER_APPLICATION_ID))
        return rollback(l, pv_ledger_fail_msg(l, PV_LEDGER_E_DB,
                                              "%s: an SQLite file but not a provision ledger; "
                                              "give --ledger another path",
                                              path));
    for (int64_t v = version; v < (int64_t)PV_LEDGER_SCHEMA_VERSION; v++)
        if ((rc = exec(l, migrations[v])))
            return rollback(l, rc);
    if (version < (int64_t)PV_LEDGER_SCHEMA_VERSION) {
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %u",
                 PV_LEDGER_APPLICATION_ID, PV_LEDGER_SCHEMA_VERSION);
        if ((rc = exec(l, sql)))
            return rollback(l, rc);
    }
    return commit(l);
}

pv_ledger *pv_ledger_open(const char *path, unsigned flags, char *err, size_t err_len)
{
    pv_ledger *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, err_len, "ledger: out of memory");
        return NULL;
    }
    int oflags = SQLITE_OPEN_READWRITE | ((flags & PV_LEDGER_CREATE) ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &l->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        if (!(flags & PV_LEDGER_CREATE) && rc == SQLITE_CANTOPEN)
            snprintf(err, err_len,
                     "%s: no ledger there (the first provision run creates it; --ledger PATH or "
                     "$%s names another)",
                     path, PV_LEDGER_ENV);
        else
            snprintf(err, err_len, "%s: cannot open the ledger: %s", path,
                     l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
        pv_ledger_close(l);
        return NULL;
    }
    sqlite3_busy_timeout(l->db, PV_LEDGER_BUSY_MS);
    /* WAL: readers never block the writer; synchronous=FULL: a commit is on disk (WAL synced)
     * before it returns, so a power cut never loses a reservation that a device acted on. */
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(l->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        snprintf(err, err_len,
                 "%s: cannot switch the ledger to WAL mode (%s); put it on a local file system",
                 path, sqlite3_errmsg(l->db));
        pv_ledger_close(l);
        return NULL;
    }
    if (exec(l, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON") ||
        migrate(l, path) != PV_LEDGER_OK) {
        snprintf(err, err_len, "%s", l->err);
        pv_ledger_close(l);
        return NULL;
    }
    l->err[0] = 0;
    return l;
}

void pv_ledger_close(pv_ledger *l)
{
    if (!l)
        return;
    sqlite3_close(l->db);
    free(l);
}

/* ---- rows ---- */

static void col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static int hexval(int ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : (ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : 0);
}

void pv_ledger_row_from(sqlite3_stmt *st, pv_ledger_row *r)
{
    memset(r, 0, sizeof *r);
    char state[16];
    r->id = sqlite3_column_int64(st, 0);
    col_text(st, 1, r->batch, sizeof r->batch);
    col_text(st, 2, r->uid_hex, sizeof r->uid_hex);
    for (unsigned i = 0; i < PV_LEDGER_UID_LEN && r->uid_hex[2 * i]; i++)
        r->uid[i] = (uint8_t)(hexval(r->uid_hex[2 * i]) << 4 | hexval(r->uid_hex[2 * i + 1]));
    col_text(st, 3, state, sizeof state);
    r->state = pv_ledger_state_from_name(state);
    col_text(st, 4, r->station, sizeof r->station);
    col_text(st, 5, r->recipe_name, sizeof r->recipe_name);
    col_text(st, 6, r->recipe_digest, sizeof r->recipe_digest);
    col_text(st, 7, r->image_digest, sizeof r->image_digest);
    r->has_key = sqlite3_column_type(st, 8) != SQLITE_NULL;
    r->key_id = (uint32_t)sqlite3_column_int64(st, 8);
    r->key_version = (uint32_t)sqlite3_column_int64(st, 9);
    for (int i = 0; i < 5; i++)
        col_text(st, 10 + i, r->at[i], sizeof r->at[i]);
    r->attempts = (unsigned)sqlite3_column_int64(st, 15);
    r->failures = (unsigned)sqlite3_column_int64(st, 16);
    col_text(st, 17, r->last_failure, sizeof r->last_failure);
}

/* 0 and *row filled, PV_LEDGER_E_UNKNOWN, or PV_LEDGER_E_DB. */
static int get_row(pv_ledger *l, const char *uid, pv_ledger_row *row)
{
    sqlite3_stmt *st = prepare(l, "SELECT " PV_LEDGER_ROW_COLUMNS " FROM devices d WHERE uid = ?");
    if (!st)
        return PV_LEDGER_E_DB;
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        pv_ledger_row_from(st, row);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return PV_LEDGER_OK;
    if (rc == SQLITE_DONE)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_UNKNOWN, "ledger: no device with UID %s", uid);
    return pv_ledger_db_error(l, "read device");
}

int pv_ledger_get(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], pv_ledger_row *row)
{
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    uid_hex(uid, hex);
    return get_row(l, hex, row);
}

/* Runs one statement with text/int parameters: 's' text (NULL allowed), 'i' int64. */
static int run(pv_ledger *l, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st = prepare(l, sql);
    if (!st)
        return PV_LEDGER_E_DB;
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's') {
            const char *s = va_arg(ap, const char *);
            if (s)
                sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
        } else
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? PV_LEDGER_OK : pv_ledger_db_error(l, "write");
}

static int need_signer(pv_ledger *l)
{
    if (!l->has_signer)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_SIGN,
                                  "ledger: no audit signer configured; every change must be "
                                  "signed (pv_ledger_set_signer)");
    return PV_LEDGER_OK;
}

/* ---- reserve ---- */

/* The batch row with this quota: created on first use, updated (and audited) when the recipe's
 * quota changed. Inside the reservation's transaction, so a refused reservation undoes it. */
static int ensure_batch(pv_ledger *l, const char *batch, uint32_t quota, const char *at,
                        const char *station, int64_t *old_quota)
{
    sqlite3_stmt *st = prepare(l, "SELECT quota FROM batches WHERE batch = ?");
    if (!st)
        return PV_LEDGER_E_DB;
    sqlite3_bind_text(st, 1, batch, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *old_quota = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return pv_ledger_db_error(l, "read batch");
    if (*old_quota == (int64_t)quota)
        return PV_LEDGER_OK;
    if (*old_quota < 0) {
        if ((rc = run(l, "INSERT INTO batches (batch, quota, created_at) VALUES (?, ?, ?)", "sis",
                      batch, (int64_t)quota, at)))
            return rc;
        return pv_ledger_audit_append(l, at, "batch", batch, NULL, NULL, station,
                                      json_pack("{s:I}", "quota", (json_int_t)quota));
    }
    if ((rc = run(l, "UPDATE batches SET quota = ? WHERE batch = ?", "is", (int64_t)quota, batch)))
        return rc;
    return pv_ledger_audit_append(
        l, at, "quota", batch, NULL, NULL, station,
        json_pack("{s:I,s:I}", "quota", (json_int_t)quota, "was", (json_int_t)*old_quota));
}

int pv_ledger_reserve(pv_ledger *l, const char *batch, const uint8_t uid[PV_LEDGER_UID_LEN],
                      const char *station, const pv_ledger_recipe *recipe, uint32_t quota,
                      pv_ledger_row *row)
{
    if (!uid || !recipe || !text_ok(batch, PV_LEDGER_TEXT_MAX) ||
        !text_ok(station, PV_LEDGER_TEXT_MAX) || !text_ok(recipe->name, PV_LEDGER_TEXT_MAX))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: reserve needs a batch, a station and a recipe name "
                                  "(1 to %u characters each)",
                                  PV_LEDGER_TEXT_MAX - 1);
    int rc = need_signer(l);
    if (rc)
        return rc;
    char hex[2 * PV_LEDGER_UID_LEN + 1], digest[65], at[32];
    uid_hex(uid, hex);
    for (int i = 0; i < 32; i++)
        snprintf(digest + 2 * i, 3, "%02x", recipe->digest[i]);
    if ((rc = begin(l)))
        return rc;
    now(at);
    pv_ledger_row cur;
    rc = get_row(l, hex, &cur);
    if (rc == PV_LEDGER_OK) {
        if (cur.state == PV_LEDGER_LOCKED)
            return rollback(l, pv_ledger_fail_msg(
                                   l, PV_LEDGER_E_PROVISIONED,
                                   "device already provisioned: UID %s was locked at %s in batch "
                                   "%s (station %s)",
                                   hex, cur.at[PV_LEDGER_LOCKED - 1], cur.batch, cur.station));
        if (strcmp(cur.batch, batch) != 0)
            return rollback(
                l, pv_ledger_fail_msg(l, PV_LEDGER_E_OTHER_BATCH,
                                      "UID %s is in progress in batch %s (state %s), not %s; "
                                      "finish it with that batch's recipe",
                                      hex, cur.batch, pv_ledger_state_name(cur.state), batch));
        /* Resume: same row, not counted again. */
        if ((rc = run(l,
                      "UPDATE devices SET station = ?, recipe_name = ?, recipe_digest = ?, "
                      "attempts = attempts + 1 WHERE uid = ?",
                      "ssss", station, recipe->name, digest, hex)) ||
            (rc = pv_ledger_audit_append(
                 l, at, "resume", batch, hex, pv_ledger_state_name(cur.state), station,
                 json_pack("{s:s,s:s}", "recipe_name", recipe->name, "recipe_digest", digest))))
            return rollback(l, rc);
        if ((rc = commit(l)))
            return rc;
        if (row)
            get_row(l, hex, row);
        l->err[0] = 0;
        return PV_LEDGER_RESUMED;
    }
    if (rc != PV_LEDGER_E_UNKNOWN)
        return rollback(l, rc);

    int64_t old_quota;
    if ((rc = ensure_batch(l, batch, quota, at, station, &old_quota)))
        return rollback(l, rc);
    int64_t used = 0;
    sqlite3_stmt *st = prepare(l, "SELECT COUNT(*) FROM devices WHERE batch = ?");
    if (!st)
        return rollback(l, PV_LEDGER_E_DB);
    sqlite3_bind_text(st, 1, batch, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        used = sqlite3_column_int64(st, 0);
    else
        rc = pv_ledger_db_error(l, "count batch");
    sqlite3_finalize(st);
    if (rc)
        return rollback(l, rc);
    if (used >= (int64_t)quota)
        return rollback(l, pv_ledger_fail_msg(l, PV_LEDGER_E_QUOTA,
                                              "batch quota exhausted: batch %s has provisioned "
                                              "or reserved %lld of %u devices",
                                              batch, (long long)used, quota));
    if ((rc = run(l,
                  "INSERT INTO devices (batch, uid, state, station, recipe_name, recipe_digest, "
                  "reserved_at, attempts) VALUES (?, ?, 'reserved', ?, ?, ?, ?, 1)",
                  "ssssss", batch, hex, station, recipe->name, digest, at)) ||
        (rc = pv_ledger_audit_append(
             l, at, "reserve", batch, hex, "reserved", station,
             json_pack("{s:s,s:s}", "recipe_name", recipe->name, "recipe_digest", digest))))
        return rollback(l, rc);
    if ((rc = commit(l)))
        return rc;
    if (row)
        get_row(l, hex, row);
    l->err[0] = 0;
    return PV_LEDGER_OK;
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

static int hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Opens a write transaction on uid's device row (a signer is required for the audit entry):
 * hex gets the UID, at the time, cur the row. On an error nothing is left open. */
static int begin_row(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN],
                     char hex[2 * PV_LEDGER_UID_LEN + 1], char at[32], pv_ledger_row *cur)
{
    int rc = need_signer(l);
    if (rc)
        return rc;
    uid_hex(uid, hex);
    if ((rc = begin(l)))
        return rc;
    now(at);
    if ((rc = get_row(l, hex, cur)))
        return rollback(l, rc);
    return PV_LEDGER_OK;
}

int pv_ledger_advance(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], pv_ledger_state state,
                      const pv_ledger_details *d)
{
    static const pv_ledger_details none = {0};
    if (!d)
        d = &none;
    if (!uid || (d->image_digest && !hex64(d->image_digest)))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: advance needs a UID; an image digest is 64 lowercase "
                                  "hex digits");
    char hex[2 * PV_LEDGER_UID_LEN + 1], at[32];
    pv_ledger_row cur;
    int rc = begin_row(l, uid, hex, at, &cur);
    if (rc)
        return rc;
    if (!legal(cur.state, state)) {
        const char *next = cur.state == PV_LEDGER_LOCKED
                               ? "none: locked is final"
                               : pv_ledger_state_name((pv_ledger_state)(cur.state + 1));
        return rollback(l, pv_ledger_fail_msg(l, PV_LEDGER_E_ILLEGAL,
                                              "UID %s: cannot go from %s to %s; the next state is "
                                              "%s",
                                              hex, pv_ledger_state_name(cur.state),
                                              pv_ledger_state_name(state), next));
    }
    int redo = state <= cur.state;
    json_t *detail = json_object();
    if (redo) {
        json_object_set_new(detail, "redo", json_true());
        json_object_set_new(detail, "from", json_string(pv_ledger_state_name(cur.state)));
        rc = run(l,
                 "UPDATE devices SET written_at = NULL, verified_at = NULL, image_digest = NULL "
                 "WHERE uid = ?",
                 "s", hex);
    }
    static const char *const at_col[] = {NULL, "keyed_at", "written_at", "verified_at",
                                         "locked_at"};
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE devices SET state = ?, %s = ? WHERE uid = ?",
             at_col[state - 1]);
    if (!rc)
        rc = run(l, sql, "sss", pv_ledger_state_name(state), at, hex);
    if (!rc && d->image_digest) {
        json_object_set_new(detail, "image_digest", json_string(d->image_digest));
        rc =
            run(l, "UPDATE devices SET image_digest = ? WHERE uid = ?", "ss", d->image_digest, hex);
    }
    if (!rc && d->has_key) {
        json_object_set_new(detail, "key_id", json_integer(d->key_id));
        json_object_set_new(detail, "key_version", json_integer(d->key_version));
        rc = run(l, "UPDATE devices SET key_id = ?, key_version = ? WHERE uid = ?", "iis",
                 (int64_t)d->key_id, (int64_t)d->key_version, hex);
    }
    if (rc) {
        json_decref(detail);
        return rollback(l, rc);
    }
    if ((rc = pv_ledger_audit_append(l, at, "advance", cur.batch, hex, pv_ledger_state_name(state),
                                     cur.station, detail)))
        return rollback(l, rc);
    if ((rc = commit(l)))
        return rc;
    l->err[0] = 0;
    return PV_LEDGER_OK;
}

/* ---- failures ---- */

int pv_ledger_fail(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], const char *phase,
                   const char *reason)
{
    if (!uid || !text_ok(phase, PV_LEDGER_TEXT_MAX) || !text_ok(reason, PV_LEDGER_REASON_MAX))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: a failure needs a UID, a phase (1 to %u characters) "
                                  "and a reason (1 to %u)",
                                  PV_LEDGER_TEXT_MAX - 1, PV_LEDGER_REASON_MAX - 1);
    char hex[2 * PV_LEDGER_UID_LEN + 1], at[32];
    pv_ledger_row cur;
    int rc = begin_row(l, uid, hex, at, &cur);
    if (rc)
        return rc;
    const char *state = pv_ledger_state_name(cur.state);
    if ((rc = run(l,
                  "INSERT INTO failures (uid, batch, state, phase, reason, station, at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)",
                  "sssssss", hex, cur.batch, state, phase, reason, cur.station, at)))
        return rollback(l, rc);
    json_int_t id = (json_int_t)sqlite3_last_insert_rowid(l->db);
    if ((rc = pv_ledger_audit_append(
             l, at, "fail", cur.batch, hex, state, cur.station,
             json_pack("{s:I,s:s,s:s}", "failure_id", id, "phase", phase, "reason", reason))))
        return rollback(l, rc);
    if ((rc = commit(l)))
        return rc;
    l->err[0] = 0;
    return PV_LEDGER_OK;
}

/* ---- confirmation of a lock the ledger missed (added by the lock-recovery helper) ---- */

int pv_ledger_confirm_locked(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], const char *by,
                             const char *reason)
{
    if (!uid || !text_ok(by, PV_LEDGER_TEXT_MAX) || !text_ok(reason, PV_LEDGER_REASON_MAX))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: a confirmation needs a UID, who confirms (1 to %u "
                                  "characters) and a reason (1 to %u)",
                                  PV_LEDGER_TEXT_MAX - 1, PV_LEDGER_REASON_MAX - 1);
    char hex[2 * PV_LEDGER_UID_LEN + 1], at[32];
    pv_ledger_row cur;
    int rc = begin_row(l, uid, hex, at, &cur);
    if (rc)
        return rc;
    if (cur.state != PV_LEDGER_VERIFIED)
        return rollback(
            l, pv_ledger_fail_msg(
                   l, PV_LEDGER_E_ILLEGAL,
                   cur.state == PV_LEDGER_LOCKED
                       ? "UID %s is locked already (at %s): nothing to confirm, nothing written"
                       : "UID %s is in state %s, not verified: only a verified device can have "
                         "been locked; rerun provision on the chip instead. Nothing written",
                   hex,
                   cur.state == PV_LEDGER_LOCKED ? cur.at[PV_LEDGER_LOCKED - 1]
                                                 : pv_ledger_state_name(cur.state)));
    /* The same step the station records after a confirmed lock, so the audit replay needs no
     * new rule; "manual" and the confirmer tell the two apart. */
    if ((rc = run(l, "UPDATE devices SET state = 'locked', locked_at = ? WHERE uid = ?", "ss", at,
                  hex)) ||
        (rc = pv_ledger_audit_append(
             l, at, "advance", cur.batch, hex, "locked", cur.station,
             json_pack("{s:b,s:s,s:s}", "manual", 1, "confirmed_by", by, "reason", reason))))
        return rollback(l, rc);
    if ((rc = commit(l)))
        return rc;
    l->err[0] = 0;
    return PV_LEDGER_OK;
}

/* ---- reads ---- */

int pv_ledger_list(pv_ledger *l, const char *batch, int (*fn)(void *ctx, const pv_ledger_row *r),
                   void *ctx)
{
    sqlite3_stmt *st = prepare(
        l, batch ? "SELECT " PV_LEDGER_ROW_COLUMNS " FROM devices d WHERE batch = ? ORDER BY d.id"
                 : "SELECT " PV_LEDGER_ROW_COLUMNS " FROM devices d ORDER BY d.id");
    if (!st)
        return PV_LEDGER_E_DB;
    if (batch)
        sqlite3_bind_text(st, 1, batch, -1, SQLITE_STATIC);
    int rc, ret = PV_LEDGER_OK;
    pv_ledger_row row;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        pv_ledger_row_from(st, &row);
        if ((ret = fn(ctx, &row)) != 0)
            break;
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = pv_ledger_db_error(l, "list");
    sqlite3_finalize(st);
    return ret;
}

int pv_ledger_batch(pv_ledger *l, const char *batch, uint32_t *quota, uint32_t *used)
{
    sqlite3_stmt *st = prepare(l, "SELECT b.quota, (SELECT COUNT(*) FROM devices d WHERE "
                                  "d.batch = b.batch) FROM batches b WHERE b.batch = ?");
    if (!st)
        return PV_LEDGER_E_DB;
    sqlite3_bind_text(st, 1, batch, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *quota = (uint32_t)sqlite3_column_int64(st, 0);
        *used = (uint32_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return PV_LEDGER_OK;
    if (rc == SQLITE_DONE)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_UNKNOWN, "ledger: no batch %s", batch);
    return pv_ledger_db_error(l, "read batch");
}
