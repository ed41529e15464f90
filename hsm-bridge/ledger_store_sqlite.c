/* The ledger's SQLite store (ledger_store.h): one file in WAL mode with synchronous=FULL, every
 * write one BEGIN IMMEDIATE transaction (the write lock before anything is read), a busy timeout
 * for other stations' commits, the schema version in PRAGMA user_version with one migration per
 * version. docs/ledger.md has the schema. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "file_read.h"
#include "ledger_store.h"

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
    /* 1 -> 2: the RDP level a locked device reached, leases, the station registry */
    "ALTER TABLE devices ADD COLUMN rdp_level INTEGER;"
    "ALTER TABLE devices ADD COLUMN lease_station TEXT;"
    "ALTER TABLE devices ADD COLUMN lease_session TEXT;"
    "ALTER TABLE devices ADD COLUMN lease_until TEXT;"
    "CREATE TABLE stations ("
    "  name TEXT PRIMARY KEY,"
    "  cert_sha256 TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  rights TEXT NOT NULL,"
    "  enrolled_at TEXT NOT NULL,"
    "  revoked_at TEXT,"
    "  revoke_reason TEXT);",
    /* 2 -> 3: firmware updates, one row per attempt */
    "CREATE TABLE updates ("
    "  id INTEGER PRIMARY KEY,"
    "  uid TEXT NOT NULL CHECK (length(uid) = 24),"
    "  session TEXT, station TEXT NOT NULL, product TEXT, batch TEXT,"
    "  started_at TEXT NOT NULL, ended_at TEXT,"
    "  from_version INTEGER NOT NULL, floor INTEGER NOT NULL,"
    "  offered_version INTEGER NOT NULL, image_sha256 TEXT,"
    "  result TEXT NOT NULL, reason TEXT NOT NULL,"
    "  now_version INTEGER NOT NULL DEFAULT 0, bytes_written INTEGER NOT NULL DEFAULT 0,"
    "  ephemeral TEXT);"
    "CREATE INDEX updates_uid ON updates(uid);"
    "CREATE UNIQUE INDEX updates_ephemeral ON updates(ephemeral);",
    /* 3 -> 4: per-device data (docs/device-data.md) */
    "CREATE TABLE device_data ("
    "  id INTEGER PRIMARY KEY,"
    "  uid TEXT NOT NULL UNIQUE CHECK (length(uid) = 24),"
    "  batch TEXT NOT NULL,"
    "  at TEXT NOT NULL,"
    "  counter TEXT, counter_value INTEGER, serial TEXT,"
    "  mac INTEGER UNIQUE,"
    "  mes TEXT NOT NULL);"
    "CREATE UNIQUE INDEX device_data_counter ON device_data(counter, counter_value);"
    "CREATE INDEX device_data_batch ON device_data(batch);",
};
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])
_Static_assert(NMIGRATIONS == PV_LEDGER_SCHEMA_VERSION, "one migration per schema version");

typedef struct {
    pv_store base;
    sqlite3 *db;
} store;

#define DB(s) (((store *)(s))->db)

__attribute__((format(printf, 3, 4))) static int fail(pv_store *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, s->err_len, fmt, ap);
    va_end(ap);
    return rc;
}

static int db_error(pv_store *s, const char *what)
{
    return fail(s, PV_LEDGER_E_DB, "ledger: %s: %s", what, sqlite3_errmsg(DB(s)));
}

static int exec(pv_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(DB(s), sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail(s, PV_LEDGER_E_DB, "ledger: %.200s: %s", sql, msg ? msg : "failed");
        sqlite3_free(msg);
        return PV_LEDGER_E_DB;
    }
    return PV_LEDGER_OK;
}

static sqlite3_stmt *prepare(pv_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(s), sql, -1, &st, NULL) != SQLITE_OK) {
        db_error(s, "prepare");
        return NULL;
    }
    return st;
}

/* Binds parameters by types: 't' text ("" and NULL as NULL), 'T' text as given, 'i' int64,
 * 'n' nullable int64 (int present, int64 value), 'b' blob (pointer, size_t length). */
static sqlite3_stmt *vprep(pv_store *s, const char *sql, const char *types, va_list ap)
{
    sqlite3_stmt *st = prepare(s, sql);
    if (!st)
        return NULL;
    for (int i = 0; types[i]; i++) {
        switch (types[i]) {
        case 't':
        case 'T': {
            const char *t = va_arg(ap, const char *);
            if (t && (t[0] || types[i] == 'T'))
                sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
            break;
        }
        case 'i':
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        case 'n': {
            int present = va_arg(ap, int);
            int64_t v = va_arg(ap, int64_t);
            if (present)
                sqlite3_bind_int64(st, i + 1, v);
            else
                sqlite3_bind_null(st, i + 1);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            sqlite3_bind_blob(st, i + 1, p, (int)n, SQLITE_TRANSIENT);
            break;
        }
        }
    }
    return st;
}

static sqlite3_stmt *prep(pv_store *s, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = vprep(s, sql, types, ap);
    va_end(ap);
    return st;
}

/* Runs one statement that returns no rows. */
static int run(pv_store *s, const char *what, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = vprep(s, sql, types, ap);
    va_end(ap);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? PV_LEDGER_OK : db_error(s, what);
}

static int int_query(pv_store *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = prepare(s, sql);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? PV_LEDGER_OK : db_error(s, sql);
}

static void text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    pv_store_copy(out, cap, (const char *)sqlite3_column_text(st, i));
}

/* ---- transactions ---- */

static int begin(pv_store *s, enum pv_store_txn mode)
{
    /* Write: the write lock up front, so the quota's count-and-insert and the audit head see no
     * other writer in between. Read: a snapshot from the first read on. */
    if (sqlite3_exec(DB(s), mode == PV_STORE_WRITE ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL,
                     NULL) != SQLITE_OK)
        return db_error(s, "cannot start a transaction (another station holds the ledger longer "
                           "than the busy timeout?)");
    return PV_LEDGER_OK;
}

static int commit(pv_store *s)
{
    if (sqlite3_exec(DB(s), "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = db_error(s, "commit");
        sqlite3_exec(DB(s), "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return PV_LEDGER_OK;
}

static void rollback(pv_store *s)
{
    sqlite3_exec(DB(s), "ROLLBACK", NULL, NULL, NULL);
}

static int lost(pv_store *s)
{
    (void)s;
    return 0; /* a file does not go away between calls */
}

static int reconnect(pv_store *s)
{
    return fail(s, PV_LEDGER_E_DB, "ledger: SQLite does not reconnect");
}

/* ---- devices ---- */

#define ROW_COLUMNS                                                                                \
    "d.id, d.batch, d.uid, d.state, d.station, d.recipe_name, d.recipe_digest, d.image_digest, "   \
    "d.key_id, d.key_version, d.reserved_at, d.keyed_at, d.written_at, d.verified_at, "            \
    "d.locked_at, d.attempts, "                                                                    \
    "(SELECT COUNT(*) FROM failures f WHERE f.uid = d.uid), "                                      \
    "(SELECT f.phase || ': ' || f.reason FROM failures f WHERE f.uid = d.uid "                     \
    "ORDER BY f.id DESC LIMIT 1), "                                                                \
    "d.rdp_level, d.lease_station, d.lease_session, d.lease_until"

static void row_from(sqlite3_stmt *st, pv_ledger_row *r)
{
    memset(r, 0, sizeof *r);
    char state[16];
    r->id = sqlite3_column_int64(st, 0);
    text(st, 1, r->batch, sizeof r->batch);
    text(st, 2, r->uid_hex, sizeof r->uid_hex);
    pv_store_uid_bytes(r->uid_hex, r->uid);
    text(st, 3, state, sizeof state);
    r->state = pv_ledger_state_from_name(state);
    text(st, 4, r->station, sizeof r->station);
    text(st, 5, r->recipe_name, sizeof r->recipe_name);
    text(st, 6, r->recipe_digest, sizeof r->recipe_digest);
    text(st, 7, r->image_digest, sizeof r->image_digest);
    r->has_key = sqlite3_column_type(st, 8) != SQLITE_NULL;
    r->key_id = (uint32_t)sqlite3_column_int64(st, 8);
    r->key_version = (uint32_t)sqlite3_column_int64(st, 9);
    for (int i = 0; i < 5; i++)
        text(st, 10 + i, r->at[i], sizeof r->at[i]);
    r->attempts = (unsigned)sqlite3_column_int64(st, 15);
    r->failures = (unsigned)sqlite3_column_int64(st, 16);
    text(st, 17, r->last_failure, sizeof r->last_failure);
    r->rdp_level = (unsigned)sqlite3_column_int64(st, 18);
    text(st, 19, r->lease_station, sizeof r->lease_station);
    text(st, 20, r->lease_session, sizeof r->lease_session);
    text(st, 21, r->lease_until, sizeof r->lease_until);
}

static int device_get(pv_store *s, const char *uid, pv_ledger_row *out)
{
    sqlite3_stmt *st = prep(s, "SELECT " ROW_COLUMNS " FROM devices d WHERE d.uid = ?", "T", uid);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        row_from(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return PV_LEDGER_OK;
    if (rc == SQLITE_DONE)
        return fail(s, PV_LEDGER_E_UNKNOWN, "no device with UID %s in the ledger", uid);
    return db_error(s, "read device");
}

/* The columns a step changes, in this order, for insert and update. */
#define SET_TYPES "tttttnntttttinttt"
#define SET_ARGS(r)                                                                                \
    pv_ledger_state_name((r)->state), (r)->station, (r)->recipe_name, (r)->recipe_digest,          \
        (r)->image_digest, (r)->has_key, (int64_t)(r)->key_id, (r)->has_key,                       \
        (int64_t)(r)->key_version, (r)->at[0], (r)->at[1], (r)->at[2], (r)->at[3], (r)->at[4],     \
        (int64_t)(r)->attempts, (r)->state == PV_LEDGER_LOCKED, (int64_t)(r)->rdp_level,           \
        (r)->lease_station, (r)->lease_session, (r)->lease_until

static int device_insert(pv_store *s, pv_ledger_row *r)
{
    int rc = run(s, "insert device",
                 "INSERT INTO devices (state, station, recipe_name, recipe_digest, image_digest, "
                 "key_id, key_version, reserved_at, keyed_at, written_at, verified_at, locked_at, "
                 "attempts, rdp_level, lease_station, lease_session, lease_until, batch, uid) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 SET_TYPES "TT", SET_ARGS(r), r->batch, r->uid_hex);
    if (!rc)
        r->id = sqlite3_last_insert_rowid(DB(s));
    return rc;
}

static int device_update(pv_store *s, const pv_ledger_row *r)
{
    return run(s, "update device",
               "UPDATE devices SET state = ?, station = ?, recipe_name = ?, recipe_digest = ?, "
               "image_digest = ?, key_id = ?, key_version = ?, reserved_at = ?, keyed_at = ?, "
               "written_at = ?, verified_at = ?, locked_at = ?, attempts = ?, rdp_level = ?, "
               "lease_station = ?, lease_session = ?, lease_until = ? WHERE uid = ?",
               SET_TYPES "T", SET_ARGS(r), r->uid_hex);
}

static int device_list(pv_store *s, const char *batch, int (*fn)(void *, const pv_ledger_row *),
                       void *ctx)
{
    sqlite3_stmt *st =
        batch ? prep(s, "SELECT " ROW_COLUMNS " FROM devices d WHERE d.batch = ? ORDER BY d.id",
                     "T", batch)
              : prepare(s, "SELECT " ROW_COLUMNS " FROM devices d ORDER BY d.id");
    if (!st)
        return PV_LEDGER_E_DB;
    int rc, ret = PV_LEDGER_OK;
    pv_ledger_row *row = malloc(sizeof *row);
    if (!row) {
        sqlite3_finalize(st);
        return fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        row_from(st, row);
        if ((ret = fn(ctx, row)) != 0)
            break;
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = db_error(s, "list");
    sqlite3_finalize(st);
    free(row);
    return ret;
}

static int state_counts(pv_store *s, int64_t counts[6])
{
    sqlite3_stmt *st = prepare(s, "SELECT state, COUNT(*) FROM devices GROUP BY state");
    if (!st)
        return PV_LEDGER_E_DB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        counts[pv_ledger_state_from_name((const char *)sqlite3_column_text(st, 0))] +=
            sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? PV_LEDGER_OK : db_error(s, "count states");
}

/* ---- batches ---- */

#define BATCH_SELECT                                                                               \
    "SELECT b.batch, b.quota, b.created_at, (SELECT COUNT(*) FROM devices d WHERE d.batch = "      \
    "b.batch) FROM batches b"

static void batch_from(sqlite3_stmt *st, pv_store_batch *b)
{
    memset(b, 0, sizeof *b);
    text(st, 0, b->batch, sizeof b->batch);
    b->quota = (uint32_t)sqlite3_column_int64(st, 1);
    text(st, 2, b->created_at, sizeof b->created_at);
    b->used = sqlite3_column_int64(st, 3);
}

static int batch_get(pv_store *s, const char *batch, pv_store_batch *out)
{
    sqlite3_stmt *st = prep(s, BATCH_SELECT " WHERE b.batch = ?", "T", batch);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        batch_from(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return PV_LEDGER_OK;
    if (rc == SQLITE_DONE)
        return fail(s, PV_LEDGER_E_UNKNOWN, "ledger: no batch %s", batch);
    return db_error(s, "read batch");
}

static int batch_put(pv_store *s, const pv_store_batch *b, int insert)
{
    if (insert)
        return run(s, "insert batch",
                   "INSERT INTO batches (batch, quota, created_at) VALUES (?, ?, ?)", "TiT",
                   b->batch, (int64_t)b->quota, b->created_at);
    return run(s, "update batch", "UPDATE batches SET quota = ? WHERE batch = ?", "iT",
               (int64_t)b->quota, b->batch);
}

static int batch_list(pv_store *s, int (*fn)(void *, const pv_store_batch *), void *ctx)
{
    sqlite3_stmt *st = prepare(s, BATCH_SELECT " ORDER BY b.batch");
    if (!st)
        return PV_LEDGER_E_DB;
    int rc, ret = PV_LEDGER_OK;
    pv_store_batch b;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        batch_from(st, &b);
        if ((ret = fn(ctx, &b)) != 0)
            break;
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = db_error(s, "list batches");
    sqlite3_finalize(st);
    return ret;
}

/* ---- failures ---- */

static int failure_insert(pv_store *s, pv_store_failure *f)
{
    int rc = run(s, "insert failure",
                 "INSERT INTO failures (uid, batch, state, phase, reason, station, at) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 "TTTTTTT", f->uid, f->batch, f->state, f->phase, f->reason, f->station, f->at);
    if (!rc)
        f->id = sqlite3_last_insert_rowid(DB(s));
    return rc;
}

static int failure_list(pv_store *s, int (*fn)(void *, const pv_store_failure *), void *ctx)
{
    sqlite3_stmt *st = prepare(s, "SELECT id, uid, batch, state, phase, reason, station, at "
                                  "FROM failures ORDER BY id");
    if (!st)
        return PV_LEDGER_E_DB;
    int rc, ret = PV_LEDGER_OK;
    pv_store_failure *f = malloc(sizeof *f);
    if (!f) {
        sqlite3_finalize(st);
        return fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        f->id = sqlite3_column_int64(st, 0);
        text(st, 1, f->uid, sizeof f->uid);
        text(st, 2, f->batch, sizeof f->batch);
        text(st, 3, f->state, sizeof f->state);
        text(st, 4, f->phase, sizeof f->phase);
        text(st, 5, f->reason, sizeof f->reason);
        text(st, 6, f->station, sizeof f->station);
        text(st, 7, f->at, sizeof f->at);
        if ((ret = fn(ctx, f)) != 0)
            break;
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = db_error(s, "list failures");
    sqlite3_finalize(st);
    free(f);
    return ret;
}

/* ---- audit ---- */

static int audit_head(pv_store *s, int64_t *seq, uint8_t hash[32], size_t *hash_len)
{
    sqlite3_stmt *st = prepare(s, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    *seq = 0;
    *hash_len = 0;
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        *hash_len = (size_t)sqlite3_column_bytes(st, 1);
        if (*hash_len == 32)
            memcpy(hash, sqlite3_column_blob(st, 1), 32);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? PV_LEDGER_OK : db_error(s, "read audit head");
}

static int audit_insert(pv_store *s, const pv_store_audit *e)
{
    return run(s, "append audit entry",
               "INSERT INTO audit (seq, at, action, batch, uid, state, station, detail, "
               "prev_hash, hash, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               "iTTTTTTTbbTb", e->seq, e->at, e->action, e->batch, e->uid, e->state, e->station,
               e->detail, e->prev_hash, e->prev_hash_len, e->hash, e->hash_len, e->key_id,
               e->signature, e->signature_len);
}

static int audit_list(pv_store *s, int (*fn)(void *, const pv_store_audit *), void *ctx)
{
    sqlite3_stmt *st = prepare(s, "SELECT seq, at, action, batch, uid, state, station, detail, "
                                  "prev_hash, hash, key_id, signature FROM audit ORDER BY seq");
    if (!st)
        return PV_LEDGER_E_DB;
    int rc, ret = PV_LEDGER_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
#define T(i) ((const char *)sqlite3_column_text(st, i))
        pv_store_audit e = {sqlite3_column_int64(st, 0),
                            T(1),
                            T(2),
                            T(3),
                            T(4),
                            T(5),
                            T(6),
                            T(7),
                            T(10),
                            sqlite3_column_blob(st, 8),
                            sqlite3_column_blob(st, 9),
                            sqlite3_column_blob(st, 11),
                            (size_t)sqlite3_column_bytes(st, 8),
                            (size_t)sqlite3_column_bytes(st, 9),
                            (size_t)sqlite3_column_bytes(st, 11)};
#undef T
        if ((ret = fn(ctx, &e)) != 0)
            break;
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = db_error(s, "read audit log");
    sqlite3_finalize(st);
    return ret;
}

/* ---- stations ---- */

#define STATION_SELECT                                                                             \
    "SELECT name, cert_sha256, serial, rights, enrolled_at, revoked_at, revoke_reason FROM "       \
    "stations"

static void station_from(sqlite3_stmt *st, pv_ledger_station *o)
{
    memset(o, 0, sizeof *o);
    text(st, 0, o->name, sizeof o->name);
    text(st, 1, o->cert_sha256, sizeof o->cert_sha256);
    text(st, 2, o->serial, sizeof o->serial);
    text(st, 3, o->rights, sizeof o->rights);
    text(st, 4, o->enrolled_at, sizeof o->enrolled_at);
    text(st, 5, o->revoked_at, sizeof o->revoked_at);
    text(st, 6, o->revoke_reason, sizeof o->revoke_reason);
}

static int station_get(pv_store *s, const char *name, pv_ledger_station *out)
{
    sqlite3_stmt *st = prep(s, STATION_SELECT " WHERE name = ?", "T", name);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        station_from(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return PV_LEDGER_OK;
    if (rc == SQLITE_DONE)
        return fail(s, PV_LEDGER_E_UNKNOWN, "ledger: no station %s", name);
    return db_error(s, "read station");
}

static int station_put(pv_store *s, const pv_ledger_station *o, int insert)
{
    return run(s, insert ? "insert station" : "update station",
               insert ? "INSERT INTO stations (cert_sha256, serial, rights, enrolled_at, "
                        "revoked_at, revoke_reason, name) VALUES (?, ?, ?, ?, ?, ?, ?)"
                      : "UPDATE stations SET cert_sha256 = ?, serial = ?, rights = ?, "
                        "enrolled_at = ?, revoked_at = ?, revoke_reason = ? WHERE name = ?",
               "TTTTttT", o->cert_sha256, o->serial, o->rights, o->enrolled_at, o->revoked_at,
               o->revoke_reason, o->name);
}

static int station_list(pv_store *s, int (*fn)(void *, const pv_ledger_station *), void *ctx)
{
    sqlite3_stmt *st = prepare(s, STATION_SELECT " ORDER BY name");
    if (!st)
        return PV_LEDGER_E_DB;
    pv_ledger_station *o = malloc(sizeof *o);
    int rc, ret = PV_LEDGER_OK;
    if (!o) {
        sqlite3_finalize(st);
        return fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        station_from(st, o);
        if ((ret = fn(ctx, o)) != 0)
            break;
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = db_error(s, "list stations");
    sqlite3_finalize(st);
    free(o);
    return ret;
}

/* ---- updates ---- */

#define UPDATE_SELECT                                                                              \
    "SELECT id, uid, session, station, product, batch, started_at, ended_at, from_version, "       \
    "floor, offered_version, image_sha256, result, reason, now_version, bytes_written, "           \
    "ephemeral FROM updates"

static void update_from(sqlite3_stmt *st, pv_ledger_update *u)
{
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(st, 0);
    text(st, 1, u->uid_hex, sizeof u->uid_hex);
    text(st, 2, u->session, sizeof u->session);
    text(st, 3, u->station, sizeof u->station);
    text(st, 4, u->product, sizeof u->product);
    text(st, 5, u->batch, sizeof u->batch);
    text(st, 6, u->started_at, sizeof u->started_at);
    text(st, 7, u->ended_at, sizeof u->ended_at);
    u->from_version = (uint32_t)sqlite3_column_int64(st, 8);
    u->floor = (uint32_t)sqlite3_column_int64(st, 9);
    u->offered_version = (uint32_t)sqlite3_column_int64(st, 10);
    text(st, 11, u->image_sha256, sizeof u->image_sha256);
    text(st, 12, u->result, sizeof u->result);
    text(st, 13, u->reason, sizeof u->reason);
    u->now_version = (uint32_t)sqlite3_column_int64(st, 14);
    u->bytes_written = (uint32_t)sqlite3_column_int64(st, 15);
    text(st, 16, u->ephemeral, sizeof u->ephemeral);
}

static int update_insert(pv_store *s, pv_ledger_update *u)
{
    int rc = run(s, "insert update",
                 "INSERT INTO updates (uid, session, station, product, batch, started_at, "
                 "ended_at, from_version, floor, offered_version, image_sha256, result, reason, "
                 "now_version, bytes_written, ephemeral) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 "TtTttTtiiitTTiit", u->uid_hex, u->session, u->station, u->product, u->batch,
                 u->started_at, u->ended_at, (int64_t)u->from_version, (int64_t)u->floor,
                 (int64_t)u->offered_version, u->image_sha256, u->result, u->reason,
                 (int64_t)u->now_version, (int64_t)u->bytes_written, u->ephemeral);
    if (!rc)
        u->id = sqlite3_last_insert_rowid(DB(s));
    return rc;
}

static int update_end(pv_store *s, const pv_ledger_update *u)
{
    return run(s, "end update",
               "UPDATE updates SET ended_at = ?, result = ?, reason = ?, now_version = ?, "
               "bytes_written = ? WHERE id = ?",
               "TTTiii", u->ended_at, u->result, u->reason, (int64_t)u->now_version,
               (int64_t)u->bytes_written, u->id);
}

static int update_get(pv_store *s, int64_t id, pv_ledger_update *out)
{
    sqlite3_stmt *st = prep(s, UPDATE_SELECT " WHERE id = ?", "i", id);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        update_from(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return PV_LEDGER_OK;
    if (rc == SQLITE_DONE)
        return fail(s, PV_LEDGER_E_UNKNOWN, "ledger: no update attempt %lld", (long long)id);
    return db_error(s, "read update");
}

static int update_seen(pv_store *s, const char *ephemeral, int *found)
{
    sqlite3_stmt *st = prep(s, "SELECT 1 FROM updates WHERE ephemeral = ?", "T", ephemeral);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    *found = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? PV_LEDGER_OK : db_error(s, "read update");
}

static int update_list(pv_store *s, const char *uid, int (*fn)(void *, const pv_ledger_update *),
                       void *ctx)
{
    sqlite3_stmt *st = uid ? prep(s, UPDATE_SELECT " WHERE uid = ? ORDER BY id", "T", uid)
                           : prepare(s, UPDATE_SELECT " ORDER BY id");
    if (!st)
        return PV_LEDGER_E_DB;
    pv_ledger_update *u = malloc(sizeof *u);
    int rc, ret = PV_LEDGER_OK;
    if (!u) {
        sqlite3_finalize(st);
        return fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        update_from(st, u);
        if ((ret = fn(ctx, u)) != 0)
            break;
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = db_error(s, "list updates");
    sqlite3_finalize(st);
    free(u);
    return ret;
}

/* ---- figures ---- */

#define SELECT_COLS_MAX 16u

static int select_rows(pv_store *s, const char *what, const char *sql, const char *const *params,
                       unsigned n_params,
                       int (*fn)(void *ctx, const char *const *cols, unsigned n_cols), void *ctx)
{
    sqlite3_stmt *st = prepare(s, sql);
    if (!st)
        return PV_LEDGER_E_DB;
    /* "$N" is a named parameter to SQLite: bound by name, whatever order the text uses. */
    for (unsigned i = 0; i < n_params; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%u", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (idx > 0 && sqlite3_bind_text(st, idx, params[i], -1, SQLITE_TRANSIENT) != SQLITE_OK) {
            sqlite3_finalize(st);
            return db_error(s, what);
        }
    }
    int n = sqlite3_column_count(st), rc, ret = PV_LEDGER_OK;
    if (n < 0 || (unsigned)n > SELECT_COLS_MAX) {
        sqlite3_finalize(st);
        return fail(s, PV_LEDGER_E_DB, "ledger: %s: %d columns, at most %u", what, n,
                    SELECT_COLS_MAX);
    }
    while (ret == PV_LEDGER_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cols[SELECT_COLS_MAX];
        for (int c = 0; c < n; c++)
            cols[c] = (const char *)sqlite3_column_text(st, c);
        ret = fn(ctx, cols, (unsigned)n);
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = db_error(s, what);
    sqlite3_finalize(st);
    return ret;
}

/* ---- open ---- */

static int migrate(pv_store *s, const char *path)
{
    /* Up to date (the usual case): no write lock, so list/export/verify never wait for it. */
    int64_t version = 0, app = 0, tables = 0;
    int rc = int_query(s, "PRAGMA user_version", &version);
    if (!rc)
        rc = int_query(s, "PRAGMA application_id", &app);
    if (rc)
        return rc;
    if (version == (int64_t)PV_LEDGER_SCHEMA_VERSION && app == PV_LEDGER_APPLICATION_ID)
        return PV_LEDGER_OK;
    /* Otherwise decide again under the write lock: another station may be migrating too. */
    if ((rc = begin(s, PV_STORE_WRITE)))
        return rc;
    if ((rc = int_query(s, "PRAGMA user_version", &version)) ||
        (rc = int_query(s, "PRAGMA application_id", &app)) ||
        (rc = int_query(s, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'", &tables)))
        goto out;
    if (version > (int64_t)PV_LEDGER_SCHEMA_VERSION) {
        rc = fail(s, PV_LEDGER_E_DB,
                  "%s: ledger schema version %lld is newer than this provision (it knows up to "
                  "%u); use a newer provision",
                  path, (long long)version, PV_LEDGER_SCHEMA_VERSION);
        goto out;
    }
    if ((version == 0 && tables > 0) || (version > 0 && app != PV_LEDGER_APPLICATION_ID)) {
        rc =
            fail(s, PV_LEDGER_E_DB,
                 "%s: an SQLite file but not a provision ledger; give --ledger another path", path);
        goto out;
    }
    for (int64_t v = version; v < (int64_t)PV_LEDGER_SCHEMA_VERSION; v++)
        if ((rc = exec(s, migrations[v])))
            goto out;
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %u",
             PV_LEDGER_APPLICATION_ID, PV_LEDGER_SCHEMA_VERSION);
    if ((rc = exec(s, sql)))
        goto out;
    return commit(s);
out:
    rollback(s);
    return rc;
}

static void close_store(pv_store *s)
{
    if (!s)
        return;
    sqlite3_close(DB(s));
    free(s);
}

/* ---- device data ---- */

#define DEVDATA_SELECT                                                                             \
    "SELECT uid, batch, at, counter, counter_value, serial, mac, mes FROM device_data"

static void devdata_from(sqlite3_stmt *st, pv_ledger_devdata *d)
{
    memset(d, 0, sizeof *d);
    text(st, 0, d->uid_hex, sizeof d->uid_hex);
    text(st, 1, d->batch, sizeof d->batch);
    text(st, 2, d->at, sizeof d->at);
    text(st, 3, d->counter, sizeof d->counter);
    d->counter_value = sqlite3_column_int64(st, 4);
    text(st, 5, d->serial, sizeof d->serial);
    d->has_mac = sqlite3_column_type(st, 6) != SQLITE_NULL;
    d->mac = (uint64_t)sqlite3_column_int64(st, 6);
    if (d->has_mac)
        pv_ledger_mac_text(d->mac, d->mac_text);
    text(st, 7, d->mes, sizeof d->mes);
}

static int devdata_get(pv_store *s, const char *uid, pv_ledger_devdata *out)
{
    sqlite3_stmt *st = prep(s, DEVDATA_SELECT " WHERE uid = ?", "T", uid);
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        devdata_from(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return PV_LEDGER_OK;
    if (rc == SQLITE_DONE)
        return fail(s, PV_LEDGER_E_UNKNOWN, "ledger: UID %s has no device data", uid);
    return db_error(s, "read device data");
}

static int devdata_insert(pv_store *s, const pv_ledger_devdata *d)
{
    return run(s, "insert device data",
               "INSERT INTO device_data (uid, batch, at, counter, counter_value, serial, mac, "
               "mes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               "TTTtntnT", d->uid_hex, d->batch, d->at, d->counter, d->counter[0] != 0,
               d->counter_value, d->serial, d->has_mac, (int64_t)d->mac, d->mes);
}

static int devdata_list(pv_store *s, const char *batch,
                        int (*fn)(void *, const pv_ledger_devdata *), void *ctx)
{
    sqlite3_stmt *st = batch ? prep(s, DEVDATA_SELECT " WHERE batch = ? ORDER BY id", "T", batch)
                             : prepare(s, DEVDATA_SELECT " ORDER BY id");
    if (!st)
        return PV_LEDGER_E_DB;
    pv_ledger_devdata *d = malloc(sizeof *d);
    int rc, ret = PV_LEDGER_OK;
    if (!d) {
        sqlite3_finalize(st);
        return fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        devdata_from(st, d);
        if ((ret = fn(ctx, d)) != 0)
            break;
    }
    if (ret == PV_LEDGER_OK && rc != SQLITE_DONE)
        ret = db_error(s, "list device data");
    sqlite3_finalize(st);
    free(d);
    return ret;
}

/* One MAX() row: *found when it is not NULL. */
static int max_query(pv_store *s, sqlite3_stmt *st, int *found, int64_t *max)
{
    if (!st)
        return PV_LEDGER_E_DB;
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    *max = *found ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? PV_LEDGER_OK : db_error(s, "read device data");
}

static int devdata_counter_max(pv_store *s, const char *counter, int *found, int64_t *max)
{
    return max_query(
        s, prep(s, "SELECT MAX(counter_value) FROM device_data WHERE counter = ?", "T", counter),
        found, max);
}

static int devdata_mac_max(pv_store *s, uint64_t lo, uint64_t hi, int *found, uint64_t *max)
{
    int64_t m = 0;
    int rc = max_query(s,
                       prep(s, "SELECT MAX(mac) FROM device_data WHERE mac BETWEEN ? AND ?", "ii",
                            (int64_t)lo, (int64_t)hi),
                       found, &m);
    *max = (uint64_t)m;
    return rc;
}

static const pv_store_ops ops = {
    .name = "SQLite",
    .close = close_store,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .lost = lost,
    .reconnect = reconnect,
    .device_get = device_get,
    .device_insert = device_insert,
    .device_update = device_update,
    .device_list = device_list,
    .state_counts = state_counts,
    .batch_get = batch_get,
    .batch_put = batch_put,
    .batch_list = batch_list,
    .failure_insert = failure_insert,
    .failure_list = failure_list,
    .audit_head = audit_head,
    .audit_insert = audit_insert,
    .audit_list = audit_list,
    .station_get = station_get,
    .station_put = station_put,
    .station_list = station_list,
    .update_insert = update_insert,
    .update_end = update_end,
    .update_get = update_get,
    .update_seen = update_seen,
    .update_list = update_list,
    .select_rows = select_rows,
    .devdata_get = devdata_get,
    .devdata_insert = devdata_insert,
    .devdata_list = devdata_list,
    .devdata_counter_max = devdata_counter_max,
    .devdata_mac_max = devdata_mac_max,
};

/* Before a read-only open: the file is there, regular, not empty and an SQLite database, so
 * nothing about it is created or changed when it is not a ledger. */
static int check_ledger_file(const char *path, char *err, size_t err_len)
{
    int fd;
    uint64_t size;
    char why[192];
    int rc = pv_file_open_regular(path, &fd, &size, why, sizeof why);
    if (rc == PV_FILE_CANNOT_OPEN && errno == ENOENT) {
        snprintf(err, err_len,
                 "%s: not a ledger: no such file (the first provision run or hsm-bridge serve "
                 "creates it; --ledger PATH or $%s names another)",
                 path, PV_LEDGER_ENV);
        return -1;
    }
    if (rc != PV_FILE_OK) {
        snprintf(err, err_len, "%s: not a ledger: %s", path, why);
        return -1;
    }
    static const char magic[16] = "SQLite format 3";
    char head[16];
    ssize_t got = size >= sizeof head ? read(fd, head, sizeof head) : 0;
    close(fd);
    if (size == 0) {
        snprintf(err, err_len, "%s: not a ledger: the file is empty (0 bytes); left as it was",
                 path);
        return -1;
    }
    if (got != (ssize_t)sizeof head || memcmp(head, magic, sizeof head) != 0) {
        snprintf(err, err_len,
                 "%s: not a ledger: not an SQLite database (%llu bytes); left as it was", path,
                 (unsigned long long)size);
        return -1;
    }
    return 0;
}

/* A read-only open checks what migrate() would otherwise fix. */
static int check_schema(pv_store *s, const char *path)
{
    int64_t version = 0, app = 0;
    int rc = int_query(s, "PRAGMA user_version", &version);
    if (!rc)
        rc = int_query(s, "PRAGMA application_id", &app);
    if (rc)
        return rc;
    if (app != PV_LEDGER_APPLICATION_ID)
        return fail(s, PV_LEDGER_E_DB,
                    "%s: not a ledger: an SQLite file of another application; left as it was",
                    path);
    if (version > (int64_t)PV_LEDGER_SCHEMA_VERSION)
        return fail(s, PV_LEDGER_E_DB,
                    "%s: ledger schema version %lld is newer than this provision (it knows up to "
                    "%u); use a newer provision",
                    path, (long long)version, PV_LEDGER_SCHEMA_VERSION);
    if (version < (int64_t)PV_LEDGER_SCHEMA_VERSION)
        return fail(s, PV_LEDGER_E_DB,
                    "%s: ledger schema version %lld is older than this provision's %u, and a "
                    "reading command does not migrate it: the next provision run or hsm-bridge "
                    "serve on it does",
                    path, (long long)version, PV_LEDGER_SCHEMA_VERSION);
    return PV_LEDGER_OK;
}

pv_store *pv_store_sqlite_open(const char *path, unsigned flags, char *err, size_t err_len)
{
    int read_only = (flags & PV_LEDGER_READ_ONLY) != 0;
    if (read_only && check_ledger_file(path, err, err_len) != 0)
        return NULL;
    store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, err_len, "ledger: out of memory");
        return NULL;
    }
    pv_store *s = &st->base;
    s->ops = &ops;
    s->err = err, s->err_len = err_len;
    int oflags =
        read_only ? SQLITE_OPEN_READONLY
                  : SQLITE_OPEN_READWRITE | ((flags & PV_LEDGER_CREATE) ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &st->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        if (!(flags & PV_LEDGER_CREATE) && rc == SQLITE_CANTOPEN)
            snprintf(err, err_len,
                     "%s: no ledger there (the first provision run creates it; --ledger PATH or "
                     "$%s names another)",
                     path, PV_LEDGER_ENV);
        else
            snprintf(err, err_len, "%s: cannot open the ledger: %s", path,
                     st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        close_store(s);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, PV_LEDGER_BUSY_MS);
    if (read_only) {
        /* The journal mode is the writers' business (WAL, set by them); readers only read. */
        if (exec(s, "PRAGMA query_only = ON") || check_schema(s, path)) {
            close_store(s);
            return NULL;
        }
        return s;
    }
    /* WAL: readers never block the writer; synchronous=FULL: a commit is on disk (WAL synced)
     * before it returns, so a power cut never loses a reservation that a device acted on. */
    sqlite3_stmt *q = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(q, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(q);
    if (!wal) {
        snprintf(err, err_len,
                 "%s: cannot switch the ledger to WAL mode (%s); put it on a local file system",
                 path, sqlite3_errmsg(st->db));
        close_store(s);
        return NULL;
    }
    if (exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON") || migrate(s, path)) {
        close_store(s);
        return NULL;
    }
    return s;
}

struct sqlite3 *pv_store_sqlite_db(pv_store *s)
{
    return s && s->ops == &ops ? DB(s) : NULL;
}
