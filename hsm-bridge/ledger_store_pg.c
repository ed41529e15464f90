/* The ledger's PostgreSQL store (ledger_store.h), through libpq, for several bridges sharing one
 * ledger. Every write transaction first takes LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE: the
 * audit chain is one sequence, so writers are serialized as on SQLite (BEGIN IMMEDIATE), and the
 * quota's count and insert (the batch row also SELECT ... FOR UPDATE) see no other writer in
 * between; readers are not blocked. Reads run in REPEATABLE READ READ ONLY (one snapshot).
 * synchronous_commit is on: a COMMIT that returned is durable. A connection that broke (server
 * restart) is reported by lost(); the policy reconnects once (PQreset) and decides whether to
 * retry. The schema version is in the table pv_ledger_meta. docs/ledger.md has the schema. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ledger_store.h"

/* migrations[v] takes a database from version v to v + 1 (the same versions as the SQLite file;
 * times are ISO 8601 text as there, so entries hash the same). */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE pv_ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO pv_ledger_meta VALUES ('application', 'PVLG'), ('schema_version', '1');"
    "CREATE TABLE batches ("
    "  batch TEXT PRIMARY KEY,"
    "  quota BIGINT NOT NULL CHECK (quota >= 0),"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE devices ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  batch TEXT NOT NULL REFERENCES batches(batch),"
    "  uid TEXT NOT NULL UNIQUE CHECK (length(uid) = 24),"
    "  state TEXT NOT NULL"
    "    CHECK (state IN ('reserved', 'keyed', 'written', 'verified', 'locked')),"
    "  station TEXT NOT NULL,"
    "  recipe_name TEXT NOT NULL,"
    "  recipe_digest TEXT NOT NULL,"
    "  image_digest TEXT,"
    "  key_id BIGINT,"
    "  key_version BIGINT,"
    "  reserved_at TEXT NOT NULL,"
    "  keyed_at TEXT, written_at TEXT, verified_at TEXT, locked_at TEXT,"
    "  attempts BIGINT NOT NULL DEFAULT 1);"
    "CREATE INDEX devices_batch ON devices(batch);"
    "CREATE TABLE failures ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  uid TEXT NOT NULL REFERENCES devices(uid),"
    "  batch TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  phase TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  station TEXT NOT NULL,"
    "  at TEXT NOT NULL);"
    "CREATE INDEX failures_uid ON failures(uid);"
    "CREATE TABLE audit ("
    "  seq BIGINT PRIMARY KEY,"
    "  at TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  batch TEXT, uid TEXT, state TEXT, station TEXT,"
    "  detail TEXT NOT NULL,"
    "  prev_hash BYTEA NOT NULL,"
    "  hash BYTEA NOT NULL,"
    "  key_id TEXT NOT NULL,"
    "  signature BYTEA NOT NULL);",
    /* 1 -> 2: the RDP level a locked device reached, leases, the station registry */
    "ALTER TABLE devices ADD COLUMN rdp_level BIGINT,"
    "  ADD COLUMN lease_station TEXT, ADD COLUMN lease_session TEXT,"
    "  ADD COLUMN lease_until TEXT;"
    "CREATE TABLE stations ("
    "  name TEXT PRIMARY KEY,"
    "  cert_sha256 TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  rights TEXT NOT NULL,"
    "  enrolled_at TEXT NOT NULL,"
    "  revoked_at TEXT,"
    "  revoke_reason TEXT);"
    "UPDATE pv_ledger_meta SET value = '2' WHERE key = 'schema_version';",
    /* 2 -> 3: firmware updates, one row per attempt */
    "CREATE TABLE updates ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  uid TEXT NOT NULL CHECK (length(uid) = 24),"
    "  session TEXT, station TEXT NOT NULL, product TEXT, batch TEXT,"
    "  started_at TEXT NOT NULL, ended_at TEXT,"
    "  from_version BIGINT NOT NULL, floor BIGINT NOT NULL,"
    "  offered_version BIGINT NOT NULL, image_sha256 TEXT,"
    "  result TEXT NOT NULL, reason TEXT NOT NULL,"
    "  now_version BIGINT NOT NULL DEFAULT 0, bytes_written BIGINT NOT NULL DEFAULT 0,"
    "  ephemeral TEXT UNIQUE);"
    "CREATE INDEX updates_uid ON updates(uid);"
    "UPDATE pv_ledger_meta SET value = '3' WHERE key = 'schema_version';",
    /* 3 -> 4: per-device data (docs/device-data.md) */
    "CREATE TABLE device_data ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  uid TEXT NOT NULL UNIQUE CHECK (length(uid) = 24),"
    "  batch TEXT NOT NULL,"
    "  at TEXT NOT NULL,"
    "  counter TEXT, counter_value BIGINT, serial TEXT,"
    "  mac BIGINT UNIQUE,"
    "  mes TEXT NOT NULL);"
    "CREATE UNIQUE INDEX device_data_counter ON device_data(counter, counter_value);"
    "CREATE INDEX device_data_batch ON device_data(batch);"
    "UPDATE pv_ledger_meta SET value = '4' WHERE key = 'schema_version';",
};
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])
_Static_assert(NMIGRATIONS == PV_LEDGER_SCHEMA_VERSION, "one migration per schema version");

typedef struct {
    pv_store base;
    PGconn *conn;
    int write;     /* in a write transaction */
    int read_only; /* PV_LEDGER_READ_ONLY: every transaction of the session is READ ONLY */
} store;

#define CONN(s) (((store *)(s))->conn)

__attribute__((format(printf, 3, 4))) static int fail(pv_store *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, s->err_len, fmt, ap);
    va_end(ap);
    return rc;
}

/* PV_LEDGER_E_DB with "ledger: what: <server message>" (one line). */
static int db_error(pv_store *s, const char *what, const PGresult *res)
{
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    if (!m || !m[0])
        m = PQerrorMessage(CONN(s));
    char msg[512];
    snprintf(msg, sizeof msg, "%s", m && m[0] ? m : "failed");
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = p[1] ? ' ' : 0;
    return fail(s, PV_LEDGER_E_DB, "ledger (PostgreSQL): %s: %s", what, msg);
}

/* Parameters by types: 't' text ("" and NULL as NULL), 'T' text as given, 'i' int64, 'n'
 * nullable int64 (int present, int64 value), 'b' bytea (pointer, size_t length). */
#define MAXPARAMS 24
struct params {
    const char *v[MAXPARAMS];
    int len[MAXPARAMS], fmt[MAXPARAMS];
    char num[MAXPARAMS][24];
    int n;
};

static void bind(struct params *p, const char *types, va_list ap)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; types[i] && i < MAXPARAMS; i++, p->n++) {
        switch (types[i]) {
        case 't':
        case 'T': {
            const char *t = va_arg(ap, const char *);
            p->v[i] = t && (t[0] || types[i] == 'T') ? t : NULL;
            break;
        }
        case 'i':
            snprintf(p->num[i], sizeof p->num[i], "%" PRId64, va_arg(ap, int64_t));
            p->v[i] = p->num[i];
            break;
        case 'n': {
            int present = va_arg(ap, int);
            int64_t v = va_arg(ap, int64_t);
            snprintf(p->num[i], sizeof p->num[i], "%" PRId64, v);
            p->v[i] = present ? p->num[i] : NULL;
            break;
        }
        case 'b':
            p->v[i] = va_arg(ap, const char *);
            p->len[i] = (int)va_arg(ap, size_t);
            p->fmt[i] = 1;
            break;
        }
    }
}

/* Runs sql; the result (the caller clears it) or NULL with the error set. */
static PGresult *query(pv_store *s, const char *what, const char *sql, const char *types, ...)
{
    struct params p;
    va_list ap;
    va_start(ap, types);
    bind(&p, types, ap);
    va_end(ap);
    PGresult *r = PQexecParams(CONN(s), sql, p.n, NULL, p.v, p.len, p.fmt, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    db_error(s, what, r);
    PQclear(r);
    return NULL;
}

static int exec(pv_store *s, const char *what, const char *sql)
{
    PGresult *r = PQexec(CONN(s), sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? PV_LEDGER_OK : db_error(s, what, r);
    PQclear(r);
    return rc;
}

#define RUN(s, what, sql, ...)                                                                     \
    do {                                                                                           \
        PGresult *r_ = query(s, what, sql, __VA_ARGS__);                                           \
        if (!r_)                                                                                   \
            return PV_LEDGER_E_DB;                                                                 \
        PQclear(r_);                                                                               \
        return PV_LEDGER_OK;                                                                       \
    } while (0)

static const char *val(const PGresult *r, int row, int c)
{
    return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

static void text(const PGresult *r, int row, int c, char *out, size_t cap)
{
    pv_store_copy(out, cap, val(r, row, c));
}

static int64_t num(const PGresult *r, int row, int c)
{
    const char *v = val(r, row, c);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* ---- connection and transactions ---- */

static int session_settings(pv_store *s)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SET synchronous_commit = on; SET lock_timeout = %d; "
             "SET client_min_messages = warning; SET client_encoding = 'UTF8'%s",
             PV_LEDGER_BUSY_MS,
             ((store *)s)->read_only ? "; SET default_transaction_read_only = on" : "");
    return exec(s, "session settings", sql);
}

static int lost(pv_store *s)
{
    return PQstatus(CONN(s)) == CONNECTION_BAD;
}

static int reconnect(pv_store *s)
{
    PQreset(CONN(s));
    if (PQstatus(CONN(s)) != CONNECTION_OK)
        return db_error(s, "reconnect", NULL);
    return session_settings(s);
}

static int begin(pv_store *s, enum pv_store_txn mode)
{
    ((store *)s)->write = mode == PV_STORE_WRITE;
    if (mode == PV_STORE_READ)
        return exec(s, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    int rc = exec(s, "begin", "BEGIN");
    if (!rc && exec(s,
                    "cannot take the ledger's write lock (another bridge holds it longer than the "
                    "lock timeout?)",
                    "LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE")) {
        exec(s, "rollback", "ROLLBACK");
        return PV_LEDGER_E_DB;
    }
    return rc;
}

static int commit(pv_store *s)
{
    ((store *)s)->write = 0;
    PGresult *r = PQexec(CONN(s), "COMMIT");
    /* A COMMIT of a transaction that failed answers ROLLBACK with COMMAND_OK. */
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    int rc = ok ? PV_LEDGER_OK : db_error(s, "commit", r);
    PQclear(r);
    return rc;
}

static void rollback(pv_store *s)
{
    ((store *)s)->write = 0;
    if (PQstatus(CONN(s)) == CONNECTION_OK)
        PQclear(PQexec(CONN(s), "ROLLBACK"));
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

static void row_from(const PGresult *res, int i, pv_ledger_row *r)
{
    memset(r, 0, sizeof *r);
    char state[16];
    r->id = num(res, i, 0);
    text(res, i, 1, r->batch, sizeof r->batch);
    text(res, i, 2, r->uid_hex, sizeof r->uid_hex);
    pv_store_uid_bytes(r->uid_hex, r->uid);
    text(res, i, 3, state, sizeof state);
    r->state = pv_ledger_state_from_name(state);
    text(res, i, 4, r->station, sizeof r->station);
    text(res, i, 5, r->recipe_name, sizeof r->recipe_name);
    text(res, i, 6, r->recipe_digest, sizeof r->recipe_digest);
    text(res, i, 7, r->image_digest, sizeof r->image_digest);
    r->has_key = !PQgetisnull(res, i, 8);
    r->key_id = (uint32_t)num(res, i, 8);
    r->key_version = (uint32_t)num(res, i, 9);
    for (int k = 0; k < 5; k++)
        text(res, i, 10 + k, r->at[k], sizeof r->at[k]);
    r->attempts = (unsigned)num(res, i, 15);
    r->failures = (unsigned)num(res, i, 16);
    text(res, i, 17, r->last_failure, sizeof r->last_failure);
    r->rdp_level = (unsigned)num(res, i, 18);
    text(res, i, 19, r->lease_station, sizeof r->lease_station);
    text(res, i, 20, r->lease_session, sizeof r->lease_session);
    text(res, i, 21, r->lease_until, sizeof r->lease_until);
}

static int device_get(pv_store *s, const char *uid, pv_ledger_row *out)
{
    PGresult *r = query(s, "read device",
                        ((store *)s)->write
                            ? "SELECT " ROW_COLUMNS " FROM devices d WHERE d.uid = $1 FOR UPDATE"
                            : "SELECT " ROW_COLUMNS " FROM devices d WHERE d.uid = $1",
                        "T", uid);
    if (!r)
        return PV_LEDGER_E_DB;
    int n = PQntuples(r);
    if (n)
        row_from(r, 0, out);
    PQclear(r);
    return n ? PV_LEDGER_OK
             : fail(s, PV_LEDGER_E_UNKNOWN, "no device with UID %s in the ledger", uid);
}

#define SET_TYPES "tttttnntttttinttt"
#define SET_ARGS(r)                                                                                \
    pv_ledger_state_name((r)->state), (r)->station, (r)->recipe_name, (r)->recipe_digest,          \
        (r)->image_digest, (r)->has_key, (int64_t)(r)->key_id, (r)->has_key,                       \
        (int64_t)(r)->key_version, (r)->at[0], (r)->at[1], (r)->at[2], (r)->at[3], (r)->at[4],     \
        (int64_t)(r)->attempts, (r)->state == PV_LEDGER_LOCKED, (int64_t)(r)->rdp_level,           \
        (r)->lease_station, (r)->lease_session, (r)->lease_until

static int device_insert(pv_store *s, pv_ledger_row *row)
{
    PGresult *r =
        query(s, "insert device",
              "INSERT INTO devices (state, station, recipe_name, recipe_digest, image_digest, "
              "key_id, key_version, reserved_at, keyed_at, written_at, verified_at, locked_at, "
              "attempts, rdp_level, lease_station, lease_session, lease_until, batch, uid) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
              "$17, $18, $19) RETURNING id",
              SET_TYPES "TT", SET_ARGS(row), row->batch, row->uid_hex);
    if (!r)
        return PV_LEDGER_E_DB;
    row->id = num(r, 0, 0);
    PQclear(r);
    return PV_LEDGER_OK;
}

static int device_update(pv_store *s, const pv_ledger_row *row)
{
    RUN(s, "update device",
        "UPDATE devices SET state = $1, station = $2, recipe_name = $3, recipe_digest = $4, "
        "image_digest = $5, key_id = $6, key_version = $7, reserved_at = $8, keyed_at = $9, "
        "written_at = $10, verified_at = $11, locked_at = $12, attempts = $13, rdp_level = $14, "
        "lease_station = $15, lease_session = $16, lease_until = $17 WHERE uid = $18",
        SET_TYPES "T", SET_ARGS(row), row->uid_hex);
}

static int device_list(pv_store *s, const char *batch, int (*fn)(void *, const pv_ledger_row *),
                       void *ctx)
{
    PGresult *r =
        batch ? query(s, "list devices",
                      "SELECT " ROW_COLUMNS " FROM devices d WHERE d.batch = $1 ORDER BY d.id", "T",
                      batch)
              : query(s, "list devices", "SELECT " ROW_COLUMNS " FROM devices d ORDER BY d.id", "");
    if (!r)
        return PV_LEDGER_E_DB;
    pv_ledger_row *row = malloc(sizeof *row);
    int ret = row ? PV_LEDGER_OK : fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    for (int i = 0; row && i < PQntuples(r) && ret == 0; i++) {
        row_from(r, i, row);
        ret = fn(ctx, row);
    }
    free(row);
    PQclear(r);
    return ret;
}

static int state_counts(pv_store *s, int64_t counts[6])
{
    PGresult *r =
        query(s, "count states", "SELECT state, COUNT(*) FROM devices GROUP BY state", "");
    if (!r)
        return PV_LEDGER_E_DB;
    for (int i = 0; i < PQntuples(r); i++)
        counts[pv_ledger_state_from_name(val(r, i, 0))] += num(r, i, 1);
    PQclear(r);
    return PV_LEDGER_OK;
}

/* ---- batches ---- */

#define BATCH_SELECT                                                                               \
    "SELECT b.batch, b.quota, b.created_at, (SELECT COUNT(*) FROM devices d WHERE d.batch = "      \
    "b.batch) FROM batches b"

static void batch_from(const PGresult *r, int i, pv_store_batch *b)
{
    memset(b, 0, sizeof *b);
    text(r, i, 0, b->batch, sizeof b->batch);
    b->quota = (uint32_t)num(r, i, 1);
    text(r, i, 2, b->created_at, sizeof b->created_at);
    b->used = num(r, i, 3);
}

static int batch_get(pv_store *s, const char *batch, pv_store_batch *out)
{
    /* In a write transaction the batch row is locked too: its count and the insert that
     * follows are one step for every other writer. */
    PGresult *r = query(s, "read batch",
                        ((store *)s)->write ? BATCH_SELECT " WHERE b.batch = $1 FOR UPDATE"
                                            : BATCH_SELECT " WHERE b.batch = $1",
                        "T", batch);
    if (!r)
        return PV_LEDGER_E_DB;
    int n = PQntuples(r);
    if (n)
        batch_from(r, 0, out);
    PQclear(r);
    return n ? PV_LEDGER_OK : fail(s, PV_LEDGER_E_UNKNOWN, "ledger: no batch %s", batch);
}

static int batch_put(pv_store *s, const pv_store_batch *b, int insert)
{
    if (insert)
        RUN(s, "insert batch", "INSERT INTO batches (batch, quota, created_at) VALUES ($1, $2, $3)",
            "TiT", b->batch, (int64_t)b->quota, b->created_at);
    RUN(s, "update batch", "UPDATE batches SET quota = $1 WHERE batch = $2", "iT",
        (int64_t)b->quota, b->batch);
}

static int batch_list(pv_store *s, int (*fn)(void *, const pv_store_batch *), void *ctx)
{
    PGresult *r = query(s, "list batches", BATCH_SELECT " ORDER BY b.batch", "");
    if (!r)
        return PV_LEDGER_E_DB;
    int ret = PV_LEDGER_OK;
    pv_store_batch b;
    for (int i = 0; i < PQntuples(r) && ret == 0; i++) {
        batch_from(r, i, &b);
        ret = fn(ctx, &b);
    }
    PQclear(r);
    return ret;
}

/* ---- failures ---- */

static int failure_insert(pv_store *s, pv_store_failure *f)
{
    PGresult *r =
        query(s, "insert failure",
              "INSERT INTO failures (uid, batch, state, phase, reason, station, at) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
              "TTTTTTT", f->uid, f->batch, f->state, f->phase, f->reason, f->station, f->at);
    if (!r)
        return PV_LEDGER_E_DB;
    f->id = num(r, 0, 0);
    PQclear(r);
    return PV_LEDGER_OK;
}

static int failure_list(pv_store *s, int (*fn)(void *, const pv_store_failure *), void *ctx)
{
    PGresult *r = query(s, "list failures",
                        "SELECT id, uid, batch, state, phase, reason, station, at FROM failures "
                        "ORDER BY id",
                        "");
    if (!r)
        return PV_LEDGER_E_DB;
    pv_store_failure *f = malloc(sizeof *f);
    int ret = f ? PV_LEDGER_OK : fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    for (int i = 0; f && i < PQntuples(r) && ret == 0; i++) {
        f->id = num(r, i, 0);
        text(r, i, 1, f->uid, sizeof f->uid);
        text(r, i, 2, f->batch, sizeof f->batch);
        text(r, i, 3, f->state, sizeof f->state);
        text(r, i, 4, f->phase, sizeof f->phase);
        text(r, i, 5, f->reason, sizeof f->reason);
        text(r, i, 6, f->station, sizeof f->station);
        text(r, i, 7, f->at, sizeof f->at);
        ret = fn(ctx, f);
    }
    free(f);
    PQclear(r);
    return ret;
}

/* ---- audit ---- */

/* A bytea column in text format, decoded (PQfreemem it); NULL and *len 0 if NULL. */
static unsigned char *bytes(const PGresult *r, int i, int c, size_t *len)
{
    *len = 0;
    if (PQgetisnull(r, i, c))
        return NULL;
    return PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, c), len);
}

static int audit_head(pv_store *s, int64_t *seq, uint8_t hash[32], size_t *hash_len)
{
    PGresult *r =
        query(s, "read audit head", "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "");
    if (!r)
        return PV_LEDGER_E_DB;
    *seq = 0;
    *hash_len = 0;
    if (PQntuples(r)) {
        *seq = num(r, 0, 0);
        unsigned char *h = bytes(r, 0, 1, hash_len);
        if (h && *hash_len == 32)
            memcpy(hash, h, 32);
        PQfreemem(h);
    }
    PQclear(r);
    return PV_LEDGER_OK;
}

static int audit_insert(pv_store *s, const pv_store_audit *e)
{
    RUN(s, "append audit entry",
        "INSERT INTO audit (seq, at, action, batch, uid, state, station, detail, prev_hash, hash, "
        "key_id, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        "iTTTTTTTbbTb", e->seq, e->at, e->action, e->batch, e->uid, e->state, e->station, e->detail,
        e->prev_hash, e->prev_hash_len, e->hash, e->hash_len, e->key_id, e->signature,
        e->signature_len);
}

static int audit_list(pv_store *s, int (*fn)(void *, const pv_store_audit *), void *ctx)
{
    PGresult *r = query(s, "read audit log",
                        "SELECT seq, at, action, batch, uid, state, station, detail, prev_hash, "
                        "hash, key_id, signature FROM audit ORDER BY seq",
                        "");
    if (!r)
        return PV_LEDGER_E_DB;
    int ret = PV_LEDGER_OK;
    for (int i = 0; i < PQntuples(r) && ret == 0; i++) {
        size_t pl, hl, sl;
        unsigned char *p = bytes(r, i, 8, &pl), *h = bytes(r, i, 9, &hl),
                      *sg = bytes(r, i, 11, &sl);
        pv_store_audit e = {num(r, i, 0),
                            val(r, i, 1),
                            val(r, i, 2),
                            val(r, i, 3),
                            val(r, i, 4),
                            val(r, i, 5),
                            val(r, i, 6),
                            val(r, i, 7),
                            val(r, i, 10),
                            p,
                            h,
                            sg,
                            pl,
                            hl,
                            sl};
        ret = fn(ctx, &e);
        PQfreemem(p), PQfreemem(h), PQfreemem(sg);
    }
    PQclear(r);
    return ret;
}

/* ---- stations ---- */

#define STATION_SELECT                                                                             \
    "SELECT name, cert_sha256, serial, rights, enrolled_at, revoked_at, revoke_reason FROM "       \
    "stations"

static void station_from(const PGresult *r, int i, pv_ledger_station *o)
{
    memset(o, 0, sizeof *o);
    text(r, i, 0, o->name, sizeof o->name);
    text(r, i, 1, o->cert_sha256, sizeof o->cert_sha256);
    text(r, i, 2, o->serial, sizeof o->serial);
    text(r, i, 3, o->rights, sizeof o->rights);
    text(r, i, 4, o->enrolled_at, sizeof o->enrolled_at);
    text(r, i, 5, o->revoked_at, sizeof o->revoked_at);
    text(r, i, 6, o->revoke_reason, sizeof o->revoke_reason);
}

static int station_get(pv_store *s, const char *name, pv_ledger_station *out)
{
    PGresult *r = query(s, "read station", STATION_SELECT " WHERE name = $1", "T", name);
    if (!r)
        return PV_LEDGER_E_DB;
    int n = PQntuples(r);
    if (n)
        station_from(r, 0, out);
    PQclear(r);
    return n ? PV_LEDGER_OK : fail(s, PV_LEDGER_E_UNKNOWN, "ledger: no station %s", name);
}

static int station_put(pv_store *s, const pv_ledger_station *o, int insert)
{
    RUN(s, insert ? "insert station" : "update station",
        insert ? "INSERT INTO stations (cert_sha256, serial, rights, enrolled_at, revoked_at, "
                 "revoke_reason, name) VALUES ($1, $2, $3, $4, $5, $6, $7)"
               : "UPDATE stations SET cert_sha256 = $1, serial = $2, rights = $3, "
                 "enrolled_at = $4, revoked_at = $5, revoke_reason = $6 WHERE name = $7",
        "TTTTttT", o->cert_sha256, o->serial, o->rights, o->enrolled_at, o->revoked_at,
        o->revoke_reason, o->name);
}

static int station_list(pv_store *s, int (*fn)(void *, const pv_ledger_station *), void *ctx)
{
    PGresult *r = query(s, "list stations", STATION_SELECT " ORDER BY name", "");
    if (!r)
        return PV_LEDGER_E_DB;
    pv_ledger_station *o = malloc(sizeof *o);
    int ret = o ? PV_LEDGER_OK : fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    for (int i = 0; o && i < PQntuples(r) && ret == 0; i++) {
        station_from(r, i, o);
        ret = fn(ctx, o);
    }
    free(o);
    PQclear(r);
    return ret;
}

/* ---- updates ---- */

#define UPDATE_SELECT                                                                              \
    "SELECT id, uid, session, station, product, batch, started_at, ended_at, from_version, "       \
    "floor, offered_version, image_sha256, result, reason, now_version, bytes_written, "           \
    "ephemeral FROM updates"

static void update_from(const PGresult *r, int i, pv_ledger_update *u)
{
    memset(u, 0, sizeof *u);
    u->id = num(r, i, 0);
    text(r, i, 1, u->uid_hex, sizeof u->uid_hex);
    text(r, i, 2, u->session, sizeof u->session);
    text(r, i, 3, u->station, sizeof u->station);
    text(r, i, 4, u->product, sizeof u->product);
    text(r, i, 5, u->batch, sizeof u->batch);
    text(r, i, 6, u->started_at, sizeof u->started_at);
    text(r, i, 7, u->ended_at, sizeof u->ended_at);
    u->from_version = (uint32_t)num(r, i, 8);
    u->floor = (uint32_t)num(r, i, 9);
    u->offered_version = (uint32_t)num(r, i, 10);
    text(r, i, 11, u->image_sha256, sizeof u->image_sha256);
    text(r, i, 12, u->result, sizeof u->result);
    text(r, i, 13, u->reason, sizeof u->reason);
    u->now_version = (uint32_t)num(r, i, 14);
    u->bytes_written = (uint32_t)num(r, i, 15);
    text(r, i, 16, u->ephemeral, sizeof u->ephemeral);
}

static int update_insert(pv_store *s, pv_ledger_update *u)
{
    PGresult *r =
        query(s, "insert update",
              "INSERT INTO updates (uid, session, station, product, batch, started_at, ended_at, "
              "from_version, floor, offered_version, image_sha256, result, reason, now_version, "
              "bytes_written, ephemeral) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
              "$12, $13, $14, $15, $16) RETURNING id",
              "TtTttTtiiitTTiit", u->uid_hex, u->session, u->station, u->product, u->batch,
              u->started_at, u->ended_at, (int64_t)u->from_version, (int64_t)u->floor,
              (int64_t)u->offered_version, u->image_sha256, u->result, u->reason,
              (int64_t)u->now_version, (int64_t)u->bytes_written, u->ephemeral);
    if (!r)
        return PV_LEDGER_E_DB;
    u->id = num(r, 0, 0);
    PQclear(r);
    return PV_LEDGER_OK;
}

static int update_end(pv_store *s, const pv_ledger_update *u)
{
    RUN(s, "end update",
        "UPDATE updates SET ended_at = $1, result = $2, reason = $3, now_version = $4, "
        "bytes_written = $5 WHERE id = $6",
        "TTTiii", u->ended_at, u->result, u->reason, (int64_t)u->now_version,
        (int64_t)u->bytes_written, u->id);
}

static int update_get(pv_store *s, int64_t id, pv_ledger_update *out)
{
    PGresult *r = query(s, "read update", UPDATE_SELECT " WHERE id = $1", "i", id);
    if (!r)
        return PV_LEDGER_E_DB;
    int n = PQntuples(r);
    if (n)
        update_from(r, 0, out);
    PQclear(r);
    return n ? PV_LEDGER_OK
             : fail(s, PV_LEDGER_E_UNKNOWN, "ledger: no update attempt %lld", (long long)id);
}

static int update_seen(pv_store *s, const char *ephemeral, int *found)
{
    PGresult *r =
        query(s, "read update", "SELECT 1 FROM updates WHERE ephemeral = $1", "T", ephemeral);
    if (!r)
        return PV_LEDGER_E_DB;
    *found = PQntuples(r) > 0;
    PQclear(r);
    return PV_LEDGER_OK;
}

static int update_list(pv_store *s, const char *uid, int (*fn)(void *, const pv_ledger_update *),
                       void *ctx)
{
    PGresult *r =
        uid ? query(s, "list updates", UPDATE_SELECT " WHERE uid = $1 ORDER BY id", "T", uid)
            : query(s, "list updates", UPDATE_SELECT " ORDER BY id", "");
    if (!r)
        return PV_LEDGER_E_DB;
    pv_ledger_update *u = malloc(sizeof *u);
    int ret = u ? PV_LEDGER_OK : fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    for (int i = 0; u && i < PQntuples(r) && ret == 0; i++) {
        update_from(r, i, u);
        ret = fn(ctx, u);
    }
    free(u);
    PQclear(r);
    return ret;
}

/* ---- figures ---- */

#define SELECT_COLS_MAX 16u

static int select_rows(pv_store *s, const char *what, const char *sql, const char *const *params,
                       unsigned n_params,
                       int (*fn)(void *ctx, const char *const *cols, unsigned n_cols), void *ctx)
{
    if (n_params > MAXPARAMS)
        return fail(s, PV_LEDGER_E_DB, "ledger: %s: %u parameters, at most %d", what, n_params,
                    MAXPARAMS);
    PGresult *r = PQexecParams(CONN(s), sql, (int)n_params, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = db_error(s, what, r);
        PQclear(r);
        return rc;
    }
    int n = PQnfields(r), ret = PV_LEDGER_OK;
    if ((unsigned)n > SELECT_COLS_MAX) {
        PQclear(r);
        return fail(s, PV_LEDGER_E_DB, "ledger: %s: %d columns, at most %u", what, n,
                    SELECT_COLS_MAX);
    }
    for (int i = 0; i < PQntuples(r) && ret == PV_LEDGER_OK; i++) {
        const char *cols[SELECT_COLS_MAX];
        for (int c = 0; c < n; c++)
            cols[c] = val(r, i, c);
        ret = fn(ctx, cols, (unsigned)n);
    }
    PQclear(r);
    return ret;
}

/* ---- open ---- */

/* Creates or migrates the schema under a transaction-scoped advisory lock (another bridge may be
 * migrating too). */
static int migrate(pv_store *s, unsigned flags)
{
    int read_only = (flags & PV_LEDGER_READ_ONLY) != 0;
    int rc = exec(s, "begin", read_only ? "BEGIN READ ONLY" : "BEGIN");
    if (rc)
        return rc;
    PGresult *r = NULL;
    int64_t version = 0;
    if (!read_only && (rc = exec(s, "migration lock", "SELECT pg_advisory_xact_lock(1347832903)")))
        goto out;
    if (!(r = query(s, "read schema version",
                    "SELECT to_regclass('pv_ledger_meta') IS NOT NULL, "
                    "to_regclass('devices') IS NOT NULL OR to_regclass('audit') IS NOT NULL",
                    ""))) {
        rc = PV_LEDGER_E_DB;
        goto out;
    }
    int has_meta = strcmp(val(r, 0, 0), "t") == 0, has_tables = strcmp(val(r, 0, 1), "t") == 0;
    PQclear(r);
    r = NULL;
    if (!has_meta && has_tables) {
        rc = fail(s, PV_LEDGER_E_DB,
                  "PostgreSQL: this database (schema) has tables but is not a provision ledger; "
                  "name another database");
        goto out;
    }
    if (!has_meta && (read_only || !(flags & PV_LEDGER_CREATE))) {
        rc = fail(s, PV_LEDGER_E_DB,
                  "PostgreSQL: no ledger in this database (the first provision run creates it)");
        goto out;
    }
    if (has_meta) {
        if (!(r = query(s, "read schema version",
                        "SELECT (SELECT value FROM pv_ledger_meta WHERE key = 'application'), "
                        "(SELECT value FROM pv_ledger_meta WHERE key = 'schema_version')",
                        ""))) {
            rc = PV_LEDGER_E_DB;
            goto out;
        }
        const char *app = val(r, 0, 0);
        version = num(r, 0, 1);
        if (!app || strcmp(app, "PVLG") != 0) {
            rc = fail(s, PV_LEDGER_E_DB, "PostgreSQL: not a provision ledger");
            goto out;
        }
        if (version > (int64_t)PV_LEDGER_SCHEMA_VERSION) {
            rc = fail(s, PV_LEDGER_E_DB,
                      "PostgreSQL: ledger schema version %lld is newer than this provision (it "
                      "knows up to %u); use a newer provision",
                      (long long)version, PV_LEDGER_SCHEMA_VERSION);
            goto out;
        }
    }
    if (read_only && version < (int64_t)PV_LEDGER_SCHEMA_VERSION) {
        rc = fail(s, PV_LEDGER_E_DB,
                  "PostgreSQL: ledger schema version %lld is older than this provision's %u, and "
                  "a reading command does not migrate it: the next provision run or hsm-bridge "
                  "serve on it does",
                  (long long)version, PV_LEDGER_SCHEMA_VERSION);
        goto out;
    }
    for (int64_t v = version; v < (int64_t)PV_LEDGER_SCHEMA_VERSION; v++)
        if ((rc = exec(s, "migrate the schema", migrations[v])))
            goto out;
    PQclear(r);
    return commit(s);
out:
    PQclear(r);
    rollback(s);
    return rc;
}

static void close_store(pv_store *s)
{
    if (!s)
        return;
    PQfinish(CONN(s));
    free(s);
}

/* ---- device data ---- */

#define DEVDATA_SELECT                                                                             \
    "SELECT uid, batch, at, counter, counter_value, serial, mac, mes FROM device_data"

static void devdata_from(const PGresult *r, int i, pv_ledger_devdata *d)
{
    memset(d, 0, sizeof *d);
    text(r, i, 0, d->uid_hex, sizeof d->uid_hex);
    text(r, i, 1, d->batch, sizeof d->batch);
    text(r, i, 2, d->at, sizeof d->at);
    text(r, i, 3, d->counter, sizeof d->counter);
    d->counter_value = num(r, i, 4);
    text(r, i, 5, d->serial, sizeof d->serial);
    d->has_mac = val(r, i, 6) != NULL;
    d->mac = (uint64_t)num(r, i, 6);
    if (d->has_mac)
        pv_ledger_mac_text(d->mac, d->mac_text);
    text(r, i, 7, d->mes, sizeof d->mes);
}

static int devdata_get(pv_store *s, const char *uid, pv_ledger_devdata *out)
{
    PGresult *r = query(s, "read device data", DEVDATA_SELECT " WHERE uid = $1", "T", uid);
    if (!r)
        return PV_LEDGER_E_DB;
    int n = PQntuples(r);
    if (n)
        devdata_from(r, 0, out);
    PQclear(r);
    return n ? PV_LEDGER_OK
             : fail(s, PV_LEDGER_E_UNKNOWN, "ledger: UID %s has no device data", uid);
}

static int devdata_insert(pv_store *s, const pv_ledger_devdata *d)
{
    RUN(s, "insert device data",
        "INSERT INTO device_data (uid, batch, at, counter, counter_value, serial, mac, mes) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        "TTTtntnT", d->uid_hex, d->batch, d->at, d->counter, d->counter[0] != 0, d->counter_value,
        d->serial, d->has_mac, (int64_t)d->mac, d->mes);
}

static int devdata_list(pv_store *s, const char *batch,
                        int (*fn)(void *, const pv_ledger_devdata *), void *ctx)
{
    PGresult *r = batch ? query(s, "list device data",
                                DEVDATA_SELECT " WHERE batch = $1 ORDER BY id", "T", batch)
                        : query(s, "list device data", DEVDATA_SELECT " ORDER BY id", "");
    if (!r)
        return PV_LEDGER_E_DB;
    pv_ledger_devdata *d = malloc(sizeof *d);
    int ret = d ? PV_LEDGER_OK : fail(s, PV_LEDGER_E_DB, "ledger: out of memory");
    for (int i = 0; d && i < PQntuples(r) && ret == 0; i++) {
        devdata_from(r, i, d);
        ret = fn(ctx, d);
    }
    free(d);
    PQclear(r);
    return ret;
}

static int max_query(PGresult *r, int *found, int64_t *max)
{
    if (!r)
        return PV_LEDGER_E_DB;
    *found = PQntuples(r) > 0 && val(r, 0, 0) != NULL;
    *max = *found ? num(r, 0, 0) : 0;
    PQclear(r);
    return PV_LEDGER_OK;
}

static int devdata_counter_max(pv_store *s, const char *counter, int *found, int64_t *max)
{
    return max_query(query(s, "read device data",
                           "SELECT MAX(counter_value) FROM device_data WHERE counter = $1", "T",
                           counter),
                     found, max);
}

static int devdata_mac_max(pv_store *s, uint64_t lo, uint64_t hi, int *found, uint64_t *max)
{
    int64_t m = 0;
    int rc = max_query(query(s, "read device data",
                             "SELECT MAX(mac) FROM device_data WHERE mac BETWEEN $1 AND $2", "ii",
                             (int64_t)lo, (int64_t)hi),
                       found, &m);
    *max = (uint64_t)m;
    return rc;
}

static const pv_store_ops ops = {
    .name = "PostgreSQL",
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

pv_store *pv_store_pg_open(const char *conninfo, unsigned flags, char *err, size_t err_len)
{
    store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, err_len, "ledger: out of memory");
        return NULL;
    }
    pv_store *s = &st->base;
    s->ops = &ops;
    s->err = err, s->err_len = err_len;
    st->read_only = (flags & PV_LEDGER_READ_ONLY) != 0;
    /* "postgresql:key=value ..." is a keyword conninfo; URLs go to libpq as they are. */
    if (strncmp(conninfo, "postgresql:", 11) == 0 && strncmp(conninfo + 11, "//", 2) != 0)
        conninfo += 11;
    st->conn = PQconnectdb(conninfo);
    if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
        if (st->conn)
            db_error(s, "cannot connect", NULL);
        else
            snprintf(err, err_len, "ledger (PostgreSQL): out of memory");
        close_store(s);
        return NULL;
    }
    if (session_settings(s) || migrate(s, flags)) {
        close_store(s);
        return NULL;
    }
    return s;
}
