/* The ledger (hsm-bridge/ledger.h): one contract suite run twice, on real SQLite files and on a
 * real PostgreSQL server this program starts (tests/common/pg_server.c, a Unix socket in a
 * temporary directory, a schema per case): the state machine, resume without double counting,
 * exact quotas (also with fork()ed processes racing, each with its own connection), refusals that
 * write nothing, failures, leases, the RDP level, the station registry, name restrictions, the
 * signed audit chain and the tampering it catches (edited entries and rows, deleted entries, a
 * rewritten chain without the key), the CSV/JSON export, and `provision ledger` as a user runs
 * it. Per store: SQLite's durability settings and the migration of a version-1 file;
 * PostgreSQL's schema checks, a server restart between two calls, 8 processes racing. */
#define _GNU_SOURCE /* strcasestr */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "../../hsm-bridge/ledger.h"
#include "../../hsm-bridge/ledger_checkpoint.h"
#include "../../hsm-bridge/ledger_ed25519.h"
#include "../../hsm-bridge/ledger_internal.h"
#include "common/pg_server.h"
#include "sim_process.h"

static char dir[64], prov[4096], pub_pem[128];
static EVP_PKEY *key, *other_key;
static char key_id[PV_LEDGER_KEY_ID_LEN], other_id[PV_LEDGER_KEY_ID_LEN];
static int file_no;

static const pv_ledger_recipe recipe = {.name = "demo-stm32f427", .digest = {0xab, 0xcd}};
#define RECIPE_HEX "abcd000000000000000000000000000000000000000000000000000000000000"
#define IMG_HEX    "1111111111111111111111111111111111111111111111111111111111111111"

static void uid_of(unsigned n, uint8_t uid[12])
{
    memset(uid, 0, 12);
    uid[0] = 0x30, uid[1] = 0x00, uid[2] = 0x41;
    uid[8] = (uint8_t)(n >> 24), uid[9] = (uint8_t)(n >> 16);
    uid[10] = (uint8_t)(n >> 8), uid[11] = (uint8_t)n;
}

/* ---- the store under test, and raw SQL on it (a second connection, as an attacker has) ---- */

static int use_pg;        /* 0: SQLite files, 1: PostgreSQL */
static pg_server pgs;     /* started once for the PostgreSQL group */
static char cur[512];     /* the newest ledger's path or URL */
static char raw_for[512]; /* what the raw connection is open on */
static sqlite3 *raw_lite;
static PGconn *raw_pg;

static void raw_close(void)
{
    if (raw_lite)
        sqlite3_close(raw_lite);
    if (raw_pg)
        PQfinish(raw_pg);
    raw_lite = NULL, raw_pg = NULL, raw_for[0] = 0;
}

static PGconn *pg_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", url, PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static void raw_open(void)
{
    if (strcmp(raw_for, cur) == 0 && (raw_lite || raw_pg))
        return;
    raw_close();
    if (use_pg)
        raw_pg = pg_connect(cur);
    else {
        assert_int_equal(sqlite3_open(cur, &raw_lite), SQLITE_OK);
        sqlite3_busy_timeout(raw_lite, 5000);
    }
    snprintf(raw_for, sizeof raw_for, "%s", cur);
}

/* The first column of the first row as text (malloc'd), NULL for NULL or no row. */
static char *raw_text(const char *q)
{
    raw_open();
    char *v = NULL;
    if (use_pg) {
        PGresult *r = PQexec(raw_pg, q);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", q, PQresultErrorMessage(r));
        if (PQntuples(r) && !PQgetisnull(r, 0, 0))
            v = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        return v;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(raw_lite, q, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", q, sqlite3_errmsg(raw_lite));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* A new ledger's location: a file, or a fresh PostgreSQL schema (search_path in the URL). */
static void new_path(char *out, size_t len)
{
    ++file_no;
    if (!use_pg)
        snprintf(out, len, "%s/ledger-%d.db", dir, file_no);
    else {
        char admin[512], create[64], opt[64];
        pg_server_url(&pgs, "postgres", NULL, admin, sizeof admin);
        PGconn *c = pg_connect(admin);
        snprintf(create, sizeof create, "CREATE SCHEMA l%d", file_no);
        PGresult *r = PQexec(c, create);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("%s: %s", create, PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        snprintf(opt, sizeof opt, "-csearch_path%%3Dl%d", file_no);
        pg_server_url(&pgs, "postgres", opt, out, len);
    }
    snprintf(cur, sizeof cur, "%s", out);
}

static pv_ledger *open_signed(const char *path)
{
    char err[512];
    pv_ledger *l = pv_ledger_open(path, PV_LEDGER_CREATE, err, sizeof err);
    if (!l)
        fail_msg("open %s: %s", path, err);
    pv_ledger_signer s = {key_id, pv_ledger_ed25519_sign, key};
    pv_ledger_set_signer(l, &s);
    return l;
}

/* A number from raw SQL on the newest ledger (l names it for the reader; the raw connection is
 * on the newest). */
static int64_t count(pv_ledger *l, const char *q)
{
    (void)l;
    char *v = raw_text(q);
    if (!v)
        fail_msg("%s: no value", q);
    int64_t n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

static void sql(pv_ledger *l, const char *q)
{
    (void)l;
    raw_open();
    if (use_pg) {
        PGresult *r = PQexec(raw_pg, q);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", q, PQresultErrorMessage(r));
        PQclear(r);
        return;
    }
    char *msg = NULL;
    if (sqlite3_exec(raw_lite, q, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", q, msg);
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* An audit entry's blob column, decoded. */
static size_t audit_blob(int64_t seq, const char *col, uint8_t *out, size_t cap)
{
    char q[160];
    snprintf(q, sizeof q,
             use_pg ? "SELECT encode(%s, 'hex') FROM audit WHERE seq = %lld"
                    : "SELECT hex(%s) FROM audit WHERE seq = %lld",
             col, (long long)seq);
    char *h = raw_text(q);
    assert_non_null(h);
    size_t n = strlen(h) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
    free(h);
    return n;
}

/* A blob literal of 32 bytes in the store's dialect. */
static void blob_literal(const uint8_t b[32], char out[100])
{
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    snprintf(out, 100, use_pg ? "decode('%s', 'hex')" : "X'%s'", hex);
}

static void expect_rc(int got, int want, pv_ledger *l, const char *needle)
{
    if (got != want || (needle && !strstr(pv_ledger_error(l), needle)))
        fail_msg("rc %d (want %d), message '%s' (want '%s')", got, want, pv_ledger_error(l),
                 needle ? needle : "");
}

/* Takes uid from nothing to state, legally. */
static void drive(pv_ledger *l, const uint8_t uid[12], pv_ledger_state to)
{
    pv_ledger_row row;
    int rc = pv_ledger_reserve(l, "b1", uid, "st-1", &recipe, 1000, &row);
    assert_true(rc == PV_LEDGER_OK || rc == PV_LEDGER_RESUMED);
    pv_ledger_details keyed = {.has_key = 1, .key_id = 7, .key_version = 2};
    pv_ledger_details img = {.image_digest = IMG_HEX};
    for (int s = PV_LEDGER_KEYED; s <= (int)to; s++)
        expect_rc(pv_ledger_advance(l, uid, (pv_ledger_state)s,
                                    s == PV_LEDGER_KEYED ? &keyed
                                                         : (s == PV_LEDGER_WRITTEN ? &img : NULL)),
                  PV_LEDGER_OK, l, NULL);
}

static void verify_ok(pv_ledger *l)
{
    pv_ledger_verify_report rep;
    int rc = pv_ledger_verify_chain(l, pv_ledger_ed25519_verify, key, &rep);
    if (rc != PV_LEDGER_OK)
        fail_msg("verify: %s", rep.message);
}

static void verify_broken(pv_ledger *l, int with_key, int64_t bad, const char *needle)
{
    pv_ledger_verify_report rep;
    int rc = pv_ledger_verify_chain(l, with_key ? pv_ledger_ed25519_verify : NULL, key, &rep);
    if (rc != PV_LEDGER_E_CHAIN || rep.first_bad != bad || !strstr(rep.message, needle))
        fail_msg("verify rc %d, first bad #%lld (want #%lld), message '%s' (want '%s')", rc,
                 (long long)rep.first_bad, (long long)bad, rep.message, needle);
}

/* A token that refuses (PIN locked, key gone). */
static int refuse_to_sign(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t *sig_len)
{
    (void)ctx, (void)hash, (void)sig, (void)sig_len;
    return -1;
}

/* ---- durability and schema ---- */

/* A number from the ledger's own SQLite connection (its PRAGMA settings). */
static int64_t lite_int(pv_ledger *l, const char *q)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(pv_ledger_db(l), q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_durability_settings(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(pv_ledger_db(l), "PRAGMA journal_mode", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(lite_int(l, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(lite_int(l, "PRAGMA busy_timeout"), PV_LEDGER_BUSY_MS);
    assert_int_equal(lite_int(l, "PRAGMA foreign_keys"), 1);
    assert_int_equal(lite_int(l, "PRAGMA user_version"), PV_LEDGER_SCHEMA_VERSION);
    assert_int_equal(lite_int(l, "PRAGMA application_id"), PV_LEDGER_APPLICATION_ID);
    assert_string_equal(sqlite3_db_filename(pv_ledger_db(l), "main"), path);
    pv_ledger_close(l);
    /* "sqlite:PATH" names the same file. */
    char url[600];
    snprintf(url, sizeof url, "sqlite:%s", path);
    l = open_signed(url);
    assert_string_equal(sqlite3_db_filename(pv_ledger_db(l), "main"), path);
    pv_ledger_close(l);

    /* The WAL mode is in the file: a plain SQLite connection sees it too. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* A newer schema is refused, not misread. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char err[512];
    assert_null(pv_ledger_open(path, 0, err, sizeof err));
    assert_non_null(strstr(err, "schema version 9 is newer"));

    /* Another application's SQLite file is not taken over. */
    new_path(path, sizeof path);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(pv_ledger_open(path, PV_LEDGER_CREATE, err, sizeof err));
    assert_non_null(strstr(err, "not a provision ledger"));

    /* Without PV_LEDGER_CREATE a missing file is an error, and none is created. */
    new_path(path, sizeof path);
    assert_null(pv_ledger_open(path, 0, err, sizeof err));
    assert_non_null(strstr(err, "no ledger there"));
    assert_int_not_equal(access(path, F_OK), 0);
}

/* ---- state machine ---- */

static void test_state_machine(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    /* Every (from, to) pair: one step forward; back to keyed from keyed/written/verified;
     * nothing out of locked; locked only from verified. */
    static const int legal[6][6] = {
        /* to:   -  res key wri ver lck */
        [1] = {0, 0, 1, 0, 0, 0}, [2] = {0, 0, 1, 1, 0, 0}, [3] = {0, 0, 1, 0, 1, 0},
        [4] = {0, 0, 1, 0, 0, 1}, [5] = {0, 0, 0, 0, 0, 0},
    };
    unsigned n = 100;
    for (int from = 1; from <= 5; from++)
        for (int to = 1; to <= 5; to++) {
            uint8_t uid[12];
            uid_of(n++, uid);
            drive(l, uid, (pv_ledger_state)from);
            int64_t entries = count(l, "SELECT COUNT(*) FROM audit");
            int rc = pv_ledger_advance(l, uid, (pv_ledger_state)to, NULL);
            pv_ledger_row row;
            assert_int_equal(pv_ledger_get(l, uid, &row), PV_LEDGER_OK);
            if (legal[from][to]) {
                if (rc != PV_LEDGER_OK)
                    fail_msg("%d -> %d refused: %s", from, to, pv_ledger_error(l));
                assert_int_equal(row.state, to);
                assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), entries + 1);
            } else {
                if (rc != PV_LEDGER_E_ILLEGAL)
                    fail_msg("%d -> %d allowed (rc %d)", from, to, rc);
                assert_int_equal(row.state, from); /* nothing written */
                assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), entries);
            }
        }
    /* The message says what the next state would be. */
    uint8_t uid[12];
    uid_of(1, uid);
    drive(l, uid, PV_LEDGER_KEYED);
    expect_rc(pv_ledger_advance(l, uid, PV_LEDGER_LOCKED, NULL), PV_LEDGER_E_ILLEGAL, l,
              "cannot go from keyed to locked; the next state is written");

    /* Several steps in one transaction: keyed -> written -> verified, each audited; refused
     * as a whole when a step on the way is illegal (nothing written). */
    uid_of(3, uid);
    drive(l, uid, PV_LEDGER_KEYED);
    int64_t before = count(l, "SELECT COUNT(*) FROM audit");
    pv_ledger_details dv = {.image_digest = IMG_HEX};
    assert_int_equal(pv_ledger_advance_through(l, uid, PV_LEDGER_VERIFIED, &dv), PV_LEDGER_OK);
    pv_ledger_row through;
    assert_int_equal(pv_ledger_get(l, uid, &through), PV_LEDGER_OK);
    assert_int_equal(through.state, PV_LEDGER_VERIFIED);
    assert_true(through.at[PV_LEDGER_WRITTEN - 1][0] && through.at[PV_LEDGER_VERIFIED - 1][0]);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), before + 2);
    uid_of(4, uid);
    drive(l, uid, PV_LEDGER_LOCKED);
    before = count(l, "SELECT COUNT(*) FROM audit");
    expect_rc(pv_ledger_advance_through(l, uid, PV_LEDGER_LOCKED, &dv), PV_LEDGER_E_ILLEGAL, l,
              "locked");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), before);
    verify_ok(l);

    /* Timestamps and details land in the row; a redo clears what it will redo. */
    uid_of(2, uid);
    drive(l, uid, PV_LEDGER_VERIFIED);
    pv_ledger_row row;
    assert_int_equal(pv_ledger_get(l, uid, &row), PV_LEDGER_OK);
    assert_string_equal(row.image_digest, IMG_HEX);
    assert_true(row.has_key && row.key_id == 7 && row.key_version == 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(strlen(row.at[i]), 24); /* 2024-01-01T00:00:00.000Z */
    assert_string_equal(row.at[4], "");
    assert_int_equal(pv_ledger_advance(l, uid, PV_LEDGER_KEYED, NULL), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_get(l, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_KEYED);
    assert_string_equal(row.at[2], "");
    assert_string_equal(row.at[3], "");
    assert_string_equal(row.image_digest, "");

    /* Unknown devices and bad arguments. */
    uid_of(99999, uid);
    expect_rc(pv_ledger_advance(l, uid, PV_LEDGER_KEYED, NULL), PV_LEDGER_E_UNKNOWN, l,
              "no device with UID");
    pv_ledger_details bad = {.image_digest = "not-a-digest"};
    uid_of(2, uid);
    expect_rc(pv_ledger_advance(l, uid, PV_LEDGER_WRITTEN, &bad), PV_LEDGER_E_ARG, l,
              "64 lowercase hex");
    verify_ok(l);
    pv_ledger_close(l);
}

/* ---- reservations and quota ---- */

static void test_resume_counts_once(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    uint8_t a[12], b[12], c[12];
    uid_of(1, a), uid_of(2, b), uid_of(3, c);
    pv_ledger_row row;
    uint32_t quota, used;
    assert_int_equal(pv_ledger_reserve(l, "b1", a, "st-1", &recipe, 2, &row), PV_LEDGER_OK);
    assert_int_equal(row.attempts, 1);
    assert_string_equal(row.recipe_digest, RECIPE_HEX);
    assert_int_equal(pv_ledger_advance(l, a, PV_LEDGER_KEYED, NULL), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_fail(l, a, "write", "power lost"), PV_LEDGER_OK);
    /* The rerun (another station) resumes the same row: state kept, nothing counted. */
    assert_int_equal(pv_ledger_reserve(l, "b1", a, "st-2", &recipe, 2, &row), PV_LEDGER_RESUMED);
    assert_int_equal(row.state, PV_LEDGER_KEYED);
    assert_int_equal(row.attempts, 2);
    assert_string_equal(row.station, "st-2");
    assert_int_equal(pv_ledger_batch(l, "b1", &quota, &used), PV_LEDGER_OK);
    assert_int_equal(used, 1);
    assert_int_equal(pv_ledger_reserve(l, "b1", b, "st-1", &recipe, 2, NULL), PV_LEDGER_OK);
    /* Quota full: a resume still works, a new device does not. */
    assert_int_equal(pv_ledger_reserve(l, "b1", a, "st-1", &recipe, 2, &row), PV_LEDGER_RESUMED);
    assert_int_equal(row.attempts, 3);
    expect_rc(pv_ledger_reserve(l, "b1", c, "st-1", &recipe, 2, NULL), PV_LEDGER_E_QUOTA, l,
              "batch quota exhausted: batch b1 has provisioned or reserved 2 of 2 devices");
    assert_int_equal(pv_ledger_batch(l, "b1", &quota, &used), PV_LEDGER_OK);
    assert_int_equal(quota, 2);
    assert_int_equal(used, 2);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM devices"), 2);
    verify_ok(l);
    pv_ledger_close(l);
}

static void test_quota_exact_nothing_written(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    const uint32_t n = 5;
    uint8_t uid[12];
    for (unsigned i = 0; i < n; i++) {
        uid_of(i, uid);
        assert_int_equal(pv_ledger_reserve(l, "q", uid, "st", &recipe, n, NULL), PV_LEDGER_OK);
    }
    int64_t audit = count(l, "SELECT COUNT(*) FROM audit");
    uid_of(n, uid);
    expect_rc(pv_ledger_reserve(l, "q", uid, "st", &recipe, n, NULL), PV_LEDGER_E_QUOTA, l,
              "5 of 5");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM devices"), n);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), audit);
    pv_ledger_row row;
    assert_int_equal(pv_ledger_get(l, uid, &row), PV_LEDGER_E_UNKNOWN);

    /* A larger quota from a new recipe is taken (and audited); a smaller one stops at once. */
    assert_int_equal(pv_ledger_reserve(l, "q", uid, "st", &recipe, n + 1, NULL), PV_LEDGER_OK);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'quota'"), 1);
    uid_of(n + 1, uid);
    assert_int_equal(pv_ledger_reserve(l, "q", uid, "st", &recipe, 3, NULL), PV_LEDGER_E_QUOTA);
    uint32_t quota, used;
    assert_int_equal(pv_ledger_batch(l, "q", &quota, &used), PV_LEDGER_OK);
    assert_int_equal(quota, n + 1); /* the refused call's quota change was rolled back */

    /* Quota 0 on a new batch: refused, and not even the batch is created. */
    expect_rc(pv_ledger_reserve(l, "empty", uid, "st", &recipe, 0, NULL), PV_LEDGER_E_QUOTA, l,
              "0 of 0");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM batches WHERE batch = 'empty'"), 0);

    /* No signer, or a failing one: refused, nothing written. */
    audit = count(l, "SELECT COUNT(*) FROM audit");
    pv_ledger_set_signer(l, NULL);
    uid_of(50, uid);
    expect_rc(pv_ledger_reserve(l, "q2", uid, "st", &recipe, 10, NULL), PV_LEDGER_E_SIGN, l,
              "no audit signer");
    pv_ledger_signer failing = {"broken", refuse_to_sign, NULL};
    pv_ledger_set_signer(l, &failing);
    expect_rc(pv_ledger_reserve(l, "q2", uid, "st", &recipe, 10, NULL), PV_LEDGER_E_SIGN, l,
              "signer (key broken) failed");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), audit);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM batches WHERE batch = 'q2'"), 0);
    pv_ledger_close(l);

    l = open_signed(path);
    verify_ok(l);
    pv_ledger_close(l);
}

static void test_locked_and_other_batch_refused(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    uint8_t a[12], b[12];
    uid_of(1, a), uid_of(2, b);
    drive(l, a, PV_LEDGER_LOCKED);
    int64_t audit = count(l, "SELECT COUNT(*) FROM audit");
    expect_rc(pv_ledger_reserve(l, "b1", a, "st-1", &recipe, 1000, NULL), PV_LEDGER_E_PROVISIONED,
              l, "device already provisioned: UID 3000410000000000");
    expect_rc(pv_ledger_reserve(l, "b2", a, "st-1", &recipe, 1000, NULL), PV_LEDGER_E_PROVISIONED,
              l, "device already provisioned");
    drive(l, b, PV_LEDGER_WRITTEN);
    audit = count(l, "SELECT COUNT(*) FROM audit");
    expect_rc(pv_ledger_reserve(l, "b2", b, "st-1", &recipe, 1000, NULL), PV_LEDGER_E_OTHER_BATCH,
              l, "is in progress in batch b1 (state written), not b2");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), audit);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM batches WHERE batch = 'b2'"), 0);
    pv_ledger_row row;
    assert_int_equal(pv_ledger_get(l, a, &row), PV_LEDGER_OK);
    assert_int_equal(row.attempts, 1);
    pv_ledger_close(l);
}

static void test_failures_recorded(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    uint8_t a[12];
    uid_of(1, a);
    drive(l, a, PV_LEDGER_KEYED);
    assert_int_equal(pv_ledger_fail(l, a, "erase", "flash timeout"), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_fail(l, a, "write", "power cut, \"sector 4\""), PV_LEDGER_OK);
    pv_ledger_row row;
    assert_int_equal(pv_ledger_get(l, a, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_KEYED); /* a failure never moves the state */
    assert_int_equal(row.failures, 2);
    assert_string_equal(row.last_failure, "write: power cut, \"sector 4\"");
    assert_int_equal(
        count(l, "SELECT COUNT(*) FROM failures WHERE phase = 'erase' AND state = 'keyed' AND "
                 "reason = 'flash timeout' AND station = 'st-1' AND batch = 'b1'"),
        1);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'fail'"), 2);
    uint8_t unknown[12];
    uid_of(77, unknown);
    expect_rc(pv_ledger_fail(l, unknown, "probe", "x"), PV_LEDGER_E_UNKNOWN, l, "no device");
    expect_rc(pv_ledger_fail(l, a, "", "x"), PV_LEDGER_E_ARG, l, "needs a UID, a phase");
    verify_ok(l);
    pv_ledger_close(l);
}

/* ---- racing processes ---- */

struct race_result {
    int ok, resumed, quota, other;
};

/* K children wait at a barrier, then each tries its UIDs as fast as it can. */
static void race(const char *path, int children, int per_child, uint32_t quota, int same_uid,
                 struct race_result *total)
{
    int go[2], res[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(res), 0);
    pid_t pids[8];
    for (int k = 0; k < children; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            close(go[1]);
            close(res[0]);
            char err[256], station[16];
            pv_ledger *l = pv_ledger_open(path, 0, err, sizeof err);
            if (!l)
                _exit(2);
            pv_ledger_signer s = {key_id, pv_ledger_ed25519_sign, key};
            pv_ledger_set_signer(l, &s);
            snprintf(station, sizeof station, "st-%d", k);
            char c;
            if (read(go[0], &c, 1) < 0) /* EOF when the parent opens the barrier */
                _exit(3);
            struct race_result r = {0};
            for (int i = 0; i < per_child; i++) {
                uint8_t uid[12];
                uid_of(same_uid ? 424242u : (unsigned)(1000 * k + i), uid);
                int rc = pv_ledger_reserve(l, "race", uid, station, &recipe, quota, NULL);
                if (rc == PV_LEDGER_OK)
                    r.ok++;
                else if (rc == PV_LEDGER_RESUMED)
                    r.resumed++;
                else if (rc == PV_LEDGER_E_QUOTA)
                    r.quota++;
                else
                    r.other++;
            }
            pv_ledger_close(l);
            _exit(write(res[1], &r, sizeof r) == sizeof r ? 0 : 4);
        }
    }
    close(go[0]);
    close(res[1]);
    close(go[1]); /* opens the barrier */
    memset(total, 0, sizeof *total);
    for (int k = 0; k < children; k++) {
        struct race_result r;
        assert_int_equal(read(res[0], &r, sizeof r), sizeof r);
        total->ok += r.ok, total->resumed += r.resumed, total->quota += r.quota;
        total->other += r.other;
    }
    close(res[0]);
    for (int k = 0; k < children; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

static void test_racing_processes_never_exceed_quota(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger_close(open_signed(path)); /* created once; the children only open it */
    struct race_result t;
    const uint32_t quota = 13;
    race(path, 4, 10, quota, 0, &t);
    assert_int_equal(t.ok, quota);
    assert_int_equal(t.quota, 40 - (int)quota);
    assert_int_equal(t.other, 0);
    pv_ledger *l = open_signed(path);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM devices WHERE batch = 'race'"), quota);
    verify_ok(l); /* four writers, one unbroken chain */
    pv_ledger_close(l);

    /* Four stations resuming the same device race too: counted exactly once. */
    new_path(path, sizeof path);
    pv_ledger_close(open_signed(path));
    race(path, 4, 5, 1, 1, &t);
    assert_int_equal(t.ok, 1);
    assert_int_equal(t.resumed, 19);
    assert_int_equal(t.quota + t.other, 0);
    l = open_signed(path);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM devices"), 1);
    assert_int_equal(count(l, "SELECT attempts FROM devices"), 20);
    verify_ok(l);
    pv_ledger_close(l);
}

/* ---- audit chain ---- */

/* Two devices: one locked, one failed once; 11 entries:
 * 1 batch, 2 reserve A, 3-6 advance A, 7 reserve B, 8 advance B, 9 fail B, 10 resume B,
 * 11 advance B (keyed again). */
static pv_ledger *history(char *path, size_t len)
{
    new_path(path, len);
    pv_ledger *l = open_signed(path);
    uint8_t a[12], b[12];
    uid_of(1, a), uid_of(2, b);
    drive(l, a, PV_LEDGER_LOCKED);
    drive(l, b, PV_LEDGER_KEYED);
    assert_int_equal(pv_ledger_fail(l, b, "write", "probe lost, retry"), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_reserve(l, "b1", b, "st-2", &recipe, 1000, NULL), PV_LEDGER_RESUMED);
    assert_int_equal(pv_ledger_advance(l, b, PV_LEDGER_KEYED, NULL), PV_LEDGER_OK);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), 11);
    return l;
}

static void test_audit_chain_verifies(void **state)
{
    (void)state;
    char path[512];
    pv_ledger *l = history(path, sizeof path);
    pv_ledger_verify_report rep;
    assert_int_equal(pv_ledger_verify_chain(l, pv_ledger_ed25519_verify, key, &rep), PV_LEDGER_OK);
    assert_int_equal(rep.entries, 11);
    assert_int_equal(rep.signatures, 1);
    assert_string_equal(rep.message, "");
    /* Each entry's signature is a real Ed25519 signature of its stored hash by the key. */
    for (int64_t seq = 1; seq <= 11; seq++) {
        uint8_t hash[64], sig[128];
        assert_int_equal(audit_blob(seq, "hash", hash, sizeof hash), 32);
        assert_int_equal(audit_blob(seq, "signature", sig, sizeof sig), 64);
        char q[80];
        snprintf(q, sizeof q, "SELECT key_id FROM audit WHERE seq = %lld", (long long)seq);
        char *kid = raw_text(q);
        assert_string_equal(kid, key_id);
        free(kid);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit(md, NULL, NULL, NULL, key), 1);
        assert_int_equal(EVP_DigestVerify(md, sig, 64, hash, 32), 1);
        EVP_MD_CTX_free(md);
    }
    /* The wrong public key: the first entry is named. */
    assert_int_equal(pv_ledger_verify_chain(l, pv_ledger_ed25519_verify, other_key, &rep),
                     PV_LEDGER_E_CHAIN);
    assert_int_equal(rep.first_bad, 1);
    assert_non_null(strstr(rep.message, "signature does not verify"));
    pv_ledger_close(l);
}

static void test_tampering_detected(void **state)
{
    (void)state;
    char path[512];
    struct {
        const char *attack;
        int64_t bad; /* entry named, 0 for a table row */
        const char *needle;
    } cases[] = {
        {"UPDATE audit SET detail = replace(detail, 'probe lost', 'nothing') WHERE seq = 9", 9,
         "audit entry #9 (fail 300041000000000000000002): its content does not match its hash"},
        {"UPDATE audit SET key_id = 'ed25519:attacker' WHERE seq = 4", 4,
         "audit entry #4 (advance"},
        {"DELETE FROM audit WHERE seq = 7", 7,
         "audit entry #7 is missing (the log jumps from #6 to #8)"},
        {"UPDATE audit SET signature = (SELECT signature FROM audit WHERE seq = 2) "
         "WHERE seq = 5",
         5, "audit entry #5 (advance 300041000000000000000001): the signature does not verify"},
        {"UPDATE audit SET prev_hash = (SELECT hash FROM audit WHERE seq = 1) WHERE seq = 3", 3,
         "audit entry #3: its previous-hash is not entry #2's hash"},
        {"UPDATE devices SET state = 'reserved', locked_at = NULL WHERE uid = "
         "'300041000000000000000001'",
         0,
         "device UID 300041000000000000000001: state is 'reserved' in the table but 'locked' "
         "per the audit log"},
        {"INSERT INTO devices (batch, uid, state, station, recipe_name, recipe_digest, "
         "reserved_at) VALUES ('b1', '300041000000000000000063', 'locked', 'x', 'r', 'd', 't')",
         0,
         "device UID 300041000000000000000063: in the devices table, but no audit entry records "
         "it"},
        {"UPDATE batches SET quota = 1000000", 0,
         "batch b1: quota is '1000000' in the table but '1000' per the audit log"},
        {"DELETE FROM failures", 0,
         "failure 1: missing from the failures table, but the audit log records it"},
        {"INSERT INTO failures (id, uid, batch, state, phase, reason, station, at) SELECT -2, "
         "uid, batch, state, phase, reason, station, at FROM failures WHERE id = 1",
         0, "failure -2: in the failures table, but no audit entry records it"},
        {"DELETE FROM audit WHERE seq >= 10", 0,
         "device UID 300041000000000000000002: station is 'st-2' in the table but 'st-1' per "
         "the audit log"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pv_ledger *l = history(path, sizeof path);
        verify_ok(l);
        sql(l, cases[i].attack);
        verify_broken(l, 1, cases[i].bad, cases[i].needle);
        pv_ledger_close(l);
    }
}

/* An attacker with write access rewrites history consistently (row and audit entry) and
 * recomputes every later hash. Hashes alone then pass: only the signatures catch it. */
static void test_rewritten_chain_needs_the_key(void **state)
{
    (void)state;
    char path[512];
    pv_ledger *l = history(path, sizeof path);
    sql(l, "UPDATE devices SET station = 'evil' WHERE uid = '300041000000000000000001'");
    sql(l, "UPDATE audit SET station = 'evil' WHERE seq = 2");
    static const char *const cols[8] = {"at",    "action",  "batch",  "uid",
                                        "state", "station", "detail", "key_id"};
    uint8_t prev[32] = {0};
    for (int64_t seq = 1; seq <= 11; seq++) {
        char *c[8], q[300];
        for (int i = 0; i < 8; i++) {
            snprintf(q, sizeof q, "SELECT %s FROM audit WHERE seq = %lld", cols[i], (long long)seq);
            c[i] = raw_text(q);
        }
        pv_audit_entry e = {seq, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]};
        uint8_t h[32];
        pv_ledger_audit_hash(prev, &e, h);
        for (int i = 0; i < 8; i++)
            free(c[i]);
        char lp[100], lh[100];
        blob_literal(prev, lp);
        blob_literal(h, lh);
        snprintf(q, sizeof q, "UPDATE audit SET prev_hash = %s, hash = %s WHERE seq = %lld", lp, lh,
                 (long long)seq);
        sql(l, q);
        memcpy(prev, h, 32);
    }
    pv_ledger_verify_report rep;
    assert_int_equal(pv_ledger_verify_chain(l, NULL, NULL, &rep), PV_LEDGER_OK);
    assert_int_equal(rep.signatures, 0);
    verify_broken(l, 1, 2,
                  "audit entry #2 (reserve 300041000000000000000001): the signature "
                  "does not verify");
    pv_ledger_close(l);
}

/* ---- export ---- */

static char *export_to_string(pv_ledger *l, enum pv_ledger_format fmt, const char *batch)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(pv_ledger_export(l, f, fmt, batch), PV_LEDGER_OK);
    fclose(f);
    return buf;
}

static void test_export_csv_json(void **state)
{
    (void)state;
    char path[512];
    pv_ledger *l = history(path, sizeof path);
    pv_ledger_row a, b;
    uint8_t ua[12], ub[12];
    uid_of(1, ua), uid_of(2, ub);
    assert_int_equal(pv_ledger_get(l, ua, &a), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_get(l, ub, &b), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_fail(l, ub, "verify", "digest, \"mismatch\""), PV_LEDGER_OK);

    char *csv = export_to_string(l, PV_LEDGER_CSV, NULL);
    char want[4096];
    snprintf(want, sizeof want,
             "batch,uid,state,station,recipe_name,recipe_digest,image_digest,key_id,key_version,"
             "reserved_at,keyed_at,written_at,verified_at,locked_at,attempts,failures,"
             "last_failure,rdp_level,serial,mac,mes\r\n"
             "b1,300041000000000000000001,locked,st-1,demo-stm32f427," RECIPE_HEX "," IMG_HEX
             ",7,2,%s,%s,%s,%s,%s,1,0,,0,,,\r\n"
             "b1,300041000000000000000002,keyed,st-2,demo-stm32f427," RECIPE_HEX
             ",,7,2,%s,%s,,,,2,2,\"verify: digest, \"\"mismatch\"\"\",,,,\r\n",
             a.at[0], a.at[1], a.at[2], a.at[3], a.at[4], b.at[0], b.at[1]);
    assert_string_equal(csv, want);
    free(csv);

    char *js = export_to_string(l, PV_LEDGER_JSON, "b1");
    json_error_t err;
    json_t *arr = json_loads(js, 0, &err);
    free(js);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 2);
    json_t *o = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(o, "uid")), "300041000000000000000001");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "locked");
    assert_string_equal(json_string_value(json_object_get(o, "image_digest")), IMG_HEX);
    assert_string_equal(json_string_value(json_object_get(o, "locked_at")), a.at[4]);
    assert_int_equal(json_integer_value(json_object_get(o, "key_id")), 7);
    assert_true(json_is_null(json_object_get(o, "last_failure")));
    o = json_array_get(arr, 1);
    assert_int_equal(json_integer_value(json_object_get(o, "failures")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "last_failure")),
                        "verify: digest, \"mismatch\"");
    assert_true(json_is_null(json_object_get(o, "written_at")));
    json_decref(arr);

    /* Another batch's filter: an empty array and a header-only CSV. */
    js = export_to_string(l, PV_LEDGER_JSON, "nope");
    assert_string_equal(js, "[]\n");
    free(js);
    csv = export_to_string(l, PV_LEDGER_CSV, "nope");
    assert_int_equal(strchr(csv, '\n')[1], 0);
    free(csv);
    pv_ledger_close(l);
}

/* ---- the command line ---- */

static char out[65536], errbuf[16384];

static int provision(const char *const *args)
{
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    int st = sp_run_capture(prov, args, err_path, out, sizeof out, errbuf, sizeof errbuf);
    assert_true(st >= 0);
    return st;
}

#define RUN(...) provision((const char *const[]){__VA_ARGS__, NULL})

static void expect(int got, int want, const char *in_out, const char *in_err)
{
    if (got != want || (in_out && !strstr(out, in_out)) || (in_err && !strstr(errbuf, in_err)))
        fail_msg("exit %d (want %d)\nstdout (want '%s'):\n%s\nstderr (want '%s'):\n%s", got, want,
                 in_out ? in_out : "", out, in_err ? in_err : "", errbuf);
}

static void test_cli(void **state)
{
    (void)state;
    char path[512], csv[160];
    pv_ledger *l = history(path, sizeof path);
    pv_ledger_close(l);
    snprintf(csv, sizeof csv, "%s/export.csv", dir);

    expect(RUN("ledger", "--ledger", path, "list"), 0, "300041000000000000000001  b1", NULL);
    assert_non_null(strstr(out, "locked"));
    assert_non_null(strstr(out, "batch b1: 2 of 1000 devices counted"));
    assert_non_null(strstr(out, "  RDP  LEASE\n"));
    assert_non_null(strstr(out, "    0  -\n")); /* the locked row: level 0 (none given), no lease */
    expect(RUN("ledger", "list", "--ledger", path, "--json", "--batch", "b1"), 0,
           "\"state\": \"keyed\"", NULL);
    expect(RUN("ledger", "--ledger", path, "export", "--format", "csv", "-o", csv), 0, NULL, NULL);
    char *text = sp_slurp(csv, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "batch,uid,state,"));
    assert_non_null(strstr(text, "b1,300041000000000000000002,keyed,st-2,"));
    free(text);
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem), 0,
           "audit chain intact: 11 entries, hashes and signatures checked", NULL);
    assert_non_null(strstr(out, key_id));
    expect(RUN("ledger", "--ledger", path, "verify"), 0, "signatures: not checked", NULL);

    /* $PROVISION_LEDGER is the default path. */
    setenv(PV_LEDGER_ENV, path, 1);
    expect(RUN("ledger", "list"), 0, "300041000000000000000002", NULL);
    unsetenv(PV_LEDGER_ENV);

    /* Refusals and their exit codes. */
    expect(RUN("ledger", "--ledger", path, "export", "--format", "xml"), 2, NULL,
           "--format is csv, jsonl, json or updates-csv");
    expect(RUN("ledger", "--ledger", path, "frobnicate"), 2, NULL, "unknown subcommand");
    expect(RUN("ledger", "--ledger", path), 2, NULL, "missing subcommand");
    expect(RUN("ledger", "--ledger", path, "list", "--key", pub_pem), 2, NULL,
           "option not valid with list");
    expect(RUN("ledger", "--ledger", "/nonexistent/ledger.db", "list"), 3, NULL,
           "not a ledger: no such file");
    expect(RUN("ledger", "--ledger", path, "verify", "--key", csv), 4, NULL,
           "not an Ed25519 key in PEM");
    expect(RUN("ledger", "--help"), 0, "provision ledger verify", NULL);

    /* A tampered file: exit 1 naming the entry. */
    sql(NULL, "UPDATE audit SET uid = '300041000000000000000009' WHERE seq = 6");
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem), 1, NULL,
           "audit chain broken: audit entry #6 (advance 300041000000000000000009): its content "
           "does not match its hash");
}

/* ---- readers write nothing ---- */

/* Every file next to path that SQLite could create. */
static void assert_no_side_files(const char *path)
{
    static const char *const ext[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        char side[600];
        snprintf(side, sizeof side, "%s%s", path, ext[i]);
        if (access(side, F_OK) == 0)
            fail_msg("%s was created", side);
    }
}

/* The file's bytes (malloc'd) and size. */
static char *file_bytes(const char *path, size_t *len)
{
    char *b = sp_slurp(path, len);
    assert_non_null(b);
    return b;
}

/* `provision ledger list|verify|export` on what is not a ledger: a missing file, an empty one,
 * a text file, another application's SQLite file. Each is reported as not a ledger, exit 3, and
 * left byte for byte as it was, with no journal or WAL beside it. (SQLite only: PostgreSQL has
 * its own case in test_readers_write_nothing.) */
static void test_reading_commands_on_non_ledgers(void **state)
{
    (void)state;
    char missing[512], empty[512], text[512], foreign[512];
    snprintf(missing, sizeof missing, "%s/missing.db", dir);
    snprintf(empty, sizeof empty, "%s/empty.db", dir);
    snprintf(text, sizeof text, "%s/notes.txt", dir);
    snprintf(foreign, sizeof foreign, "%s/foreign.db", dir);
    FILE *f = fopen(empty, "w");
    assert_non_null(f);
    fclose(f);
    f = fopen(text, "w");
    assert_non_null(f);
    fputs("not a database, just notes\n", f);
    fclose(f);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(foreign, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    const struct {
        const char *path, *says;
    } cases[] = {
        {missing, "not a ledger: no such file"},
        {empty, "not a ledger: the file is empty (0 bytes); left as it was"},
        {text, "not a ledger: not an SQLite database"},
        {foreign, "not a ledger: an SQLite file of another application"},
    };
    const char *const subs[][3] = {{"list", NULL, NULL},
                                   {"verify", NULL, NULL},
                                   {"verify", "--key", pub_pem},
                                   {"export", "--format", "csv"},
                                   {"list", "--json", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t before_len = 0;
        char *before = cases[i].path == missing ? NULL : file_bytes(cases[i].path, &before_len);
        for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++) {
            int rc = subs[k][1] ? RUN("ledger", "--ledger", cases[i].path, subs[k][0], subs[k][1],
                                      subs[k][2])
                                : RUN("ledger", "--ledger", cases[i].path, subs[k][0]);
            expect(rc, 3, NULL, cases[i].says);
            assert_null(strstr(out, "entries"));
            if (cases[i].path == missing)
                assert_int_equal(access(missing, F_OK), -1);
            else {
                size_t after_len = 0;
                char *after = file_bytes(cases[i].path, &after_len);
                assert_int_equal(after_len, before_len);
                assert_memory_equal(after, before, before_len);
                free(after);
            }
            assert_no_side_files(cases[i].path);
        }
        free(before);
    }
    /* the library's reading open says the same and creates nothing either */
    char err[512];
    assert_null(pv_ledger_open(empty, PV_LEDGER_READ_ONLY, err, sizeof err));
    assert_non_null(strstr(err, "the file is empty"));
    assert_null(pv_ledger_open(missing, PV_LEDGER_READ_ONLY | PV_LEDGER_CREATE, err, sizeof err));
    assert_int_equal(access(missing, F_OK), -1);
    assert_no_side_files(empty);
}

/* A ledger opened read-only reads everything and writes nothing: every writing call fails and
 * the log stays as it was; a real ledger's file keeps its bytes under list, export and verify.
 * A place with no ledger yet (a fresh PostgreSQL schema) gets no tables. */
static void test_readers_write_nothing(void **state)
{
    (void)state;
    char path[512], err[512];
    pv_ledger *w = history(path, sizeof path);
    pv_ledger_close(w);
    size_t before_len = 0;
    char *before = use_pg ? NULL : file_bytes(path, &before_len);
    expect(RUN("ledger", "--ledger", path, "list"), 0, "300041000000000000000001", NULL);
    expect(RUN("ledger", "--ledger", path, "export", "--format", "json"), 0, "\"uid\"", NULL);
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem), 0,
           "audit chain intact: 11 entries", NULL);
    if (!use_pg) {
        size_t after_len = 0;
        char *after = file_bytes(path, &after_len);
        assert_int_equal(after_len, before_len);
        assert_memory_equal(after, before, before_len);
        free(after);
        free(before);
    }
    pv_ledger *l = pv_ledger_open(path, PV_LEDGER_READ_ONLY, err, sizeof err);
    if (!l)
        fail_msg("read-only open: %s", err);
    pv_ledger_signer s = {key_id, pv_ledger_ed25519_sign, key};
    pv_ledger_set_signer(l, &s);
    uint8_t c[12];
    uid_of(3, c);
    expect_rc(pv_ledger_reserve(l, "b1", c, "st-1", &recipe, 1000, NULL), PV_LEDGER_E_DB, l,
              "opened read-only");
    uid_of(2, c);
    expect_rc(pv_ledger_fail(l, c, "write", "x"), PV_LEDGER_E_DB, l, "opened read-only");
    pv_ledger_station st = {.name = "ro-station", .serial = "01", .rights = "p/b"};
    memset(st.cert_sha256, 'a', 64);
    expect_rc(pv_ledger_station_enroll(l, &st), PV_LEDGER_E_DB, l, "opened read-only");
    pv_ledger_row row;
    assert_int_equal(pv_ledger_get(l, c, &row), PV_LEDGER_OK);
    verify_ok(l);
    pv_ledger_close(l);
    assert_int_equal(count(NULL, "SELECT COUNT(*) FROM audit"), 11);

    if (use_pg) {
        char fresh[512];
        new_path(fresh, sizeof fresh);
        assert_null(pv_ledger_open(fresh, PV_LEDGER_READ_ONLY | PV_LEDGER_CREATE, err, sizeof err));
        assert_non_null(strstr(err, "no ledger in this database"));
        assert_int_equal(count(NULL, "SELECT COUNT(*) FROM information_schema.tables WHERE "
                                     "table_schema = current_schema()"),
                         0);
        expect(RUN("ledger", "--ledger", fresh, "list"), 3, NULL, "no ledger in this database");
    }
}

/* ---- checkpoints ---- */

static void write_checkpoint(const pv_ledger_checkpoint *cp, const char *file)
{
    char *text = pv_ledger_checkpoint_json(cp);
    assert_non_null(text);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
}

static pv_ledger_checkpoint take_checkpoint(pv_ledger *l, EVP_PKEY *k, const char *kid,
                                            const char *file)
{
    pv_ledger_signer s = {kid, pv_ledger_ed25519_sign, k};
    pv_ledger_checkpoint cp;
    expect_rc(pv_ledger_checkpoint_make(l, &s, &cp), PV_LEDGER_OK, l, NULL);
    write_checkpoint(&cp, file);
    return cp;
}

/* Truncation: the newest entries and the rows they made are deleted together, so the shorter
 * chain and its tables agree and plain verify passes (nothing in the database remembers that
 * there was more); a checkpoint taken before the deletion catches it. A changed checkpoint,
 * and one signed by another key, are refused. */
static void test_checkpoint_catches_truncation(void **state)
{
    (void)state;
    char path[512], early[600], late[600], other[600], bad[600];
    snprintf(early, sizeof early, "%s/early-%d.json", dir, file_no + 1);
    snprintf(late, sizeof late, "%s/late-%d.json", dir, file_no + 1);
    snprintf(other, sizeof other, "%s/other-%d.json", dir, file_no + 1);
    snprintf(bad, sizeof bad, "%s/bad-%d.json", dir, file_no + 1);
    pv_ledger *l = history(path, sizeof path);
    pv_ledger_checkpoint cp11 = take_checkpoint(l, key, key_id, early);
    assert_int_equal(cp11.entries, 11);
    uint8_t c[12];
    uid_of(3, c);
    drive(l, c, PV_LEDGER_LOCKED); /* entries 12 (reserve) to 16 (locked) */
    pv_ledger_checkpoint cp16 = take_checkpoint(l, key, key_id, late);
    assert_int_equal(cp16.entries, 16);
    uint8_t h16[32];
    assert_int_equal(audit_blob(16, "hash", h16, sizeof h16), 32);
    assert_memory_equal(cp16.head, h16, 32);
    take_checkpoint(l, other_key, other_id, other);
    pv_ledger_close(l);

    /* intact: both checkpoints hold */
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem, "--head", late), 0,
           "the chain still holds its head, entry #16 (16 entries now)", NULL);
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem, "--head", early), 0,
           "entry #11 (16 entries now)", NULL);

    /* the attack: device C and the five entries that made it, gone */
    sql(NULL, "DELETE FROM audit WHERE seq >= 12");
    sql(NULL, "DELETE FROM devices WHERE uid = '300041000000000000000003'");
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem), 0,
           "audit chain intact: 11 entries, hashes and signatures checked", NULL);
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem, "--head", late), 1, NULL,
           "ledger truncated: the checkpoint of ");
    if (!strstr(errbuf, "records 16 entries") ||
        !strstr(errbuf, "the chain ends at entry #11: the newest 5 entries were deleted"))
        fail_msg("%s", errbuf);
    /* the earlier checkpoint is still a prefix: it passes */
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem, "--head", early), 0,
           "entry #11 (11 entries now)", NULL);

    /* a checkpoint changed to match the truncated chain: its signature no longer verifies */
    pv_ledger_checkpoint forged = cp16;
    forged.entries = 11;
    memcpy(forged.head, cp11.head, 32);
    write_checkpoint(&forged, bad);
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem, "--head", bad), 1, NULL,
           "checkpoint refused: the checkpoint's signature does not verify");
    forged = cp16;
    forged.at[3] = forged.at[3] == '9' ? '8' : '9'; /* another year */
    write_checkpoint(&forged, bad);
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem, "--head", bad), 1, NULL,
           "checkpoint refused");
    /* signed by another key (it names that key) */
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem, "--head", other), 1, NULL,
           "checkpoint refused");
    assert_non_null(strstr(errbuf, other_id));
    /* not a checkpoint; no --key */
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{\"format\": \"pv-ledger-checkpoint/1\", \"entries\": 3}\n", f);
    fclose(f);
    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem, "--head", bad), 1, NULL,
           "\"head\" is missing");
    expect(RUN("ledger", "--ledger", path, "verify", "--head", late), 2, NULL,
           "--head needs --key");
    expect(RUN("ledger", "--ledger", path, "list", "--head", late), 2, NULL,
           "option not valid with list");
}

/* ---- text on output ---- */

/* No byte below 0x20 but a newline (and CR in CSV line ends), no DEL, no C1 control. */
static void assert_no_raw_controls(const char *what, const char *s, int crlf)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n' && !(crlf && *p == '\r')) || *p == 0x7f ||
            (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            fail_msg("%s holds a raw control byte 0x%02x at offset %ld:\n%s", what, *p,
                     (long)(p - (const unsigned char *)s), s);
}

/* Rows written outside provision (raw SQL, as someone with the database would) carry a terminal
 * escape in a station name and a last failure, and a spreadsheet formula as a station name:
 * `ledger list` shows them escaped, the CSV export escapes them and neutralises the formula,
 * the JSON export escapes them as JSON does, and verify's complaint about the row is escaped. */
static void test_control_characters_on_output(void **state)
{
    (void)state;
    char path[512], q[600];
    pv_ledger *l = history(path, sizeof path);
    pv_ledger_close(l);
    const char *chr = use_pg ? "chr" : "char";
    snprintf(q, sizeof q,
             "UPDATE devices SET station = 'ev' || %s(27) || '[31mil' || %s(7) WHERE uid = "
             "'300041000000000000000001'",
             chr, chr);
    sql(NULL, q);
    sql(NULL, "UPDATE devices SET station = '=cmd|'' /C calc''!A0' WHERE uid = "
              "'300041000000000000000002'");
    snprintf(q, sizeof q,
             "UPDATE failures SET reason = 'gone' || %s(27) || ']0;owned' || %s(7) || "
             "%s(13) || %s(10) || 'x'",
             chr, chr, chr, chr);
    sql(NULL, q);

    expect(RUN("ledger", "--ledger", path, "list"), 0, "ev\\x1b[31mil\\x07", NULL);
    assert_no_raw_controls("ledger list", out, 0);
    assert_non_null(strstr(out, "=cmd|' /C calc'!A0")); /* a terminal needs no quote */

    expect(RUN("ledger", "--ledger", path, "export", "--format", "csv"), 0, NULL, NULL);
    assert_no_raw_controls("the CSV export", out, 1);
    assert_non_null(strstr(out, ",ev\\x1b[31mil\\x07,"));
    assert_non_null(strstr(out, ",'=cmd|' /C calc'!A0,"));
    assert_null(strstr(out, ",=cmd"));
    assert_non_null(strstr(out, "gone\\x1b]0;owned\\x07\\x0d\\x0ax"));

    expect(RUN("ledger", "--ledger", path, "export", "--format", "json"), 0, NULL, NULL);
    assert_no_raw_controls("the JSON export", out, 0);
    if (!strcasestr(out, "\"ev\\u001b[31mil\\u0007\""))
        fail_msg("JSON export:\n%s", out);
    expect(RUN("ledger", "--ledger", path, "list", "--json"), 0, NULL, NULL);
    assert_non_null(strcasestr(out, "\\u001b"));
    assert_no_raw_controls("ledger list --json", out, 0);

    expect(RUN("ledger", "--ledger", path, "verify", "--key", pub_pem), 1, NULL,
           "audit chain broken");
    assert_no_raw_controls("ledger verify", errbuf, 0);
    assert_non_null(strstr(errbuf, "\\x1b[31m"));
}

/* ---- leases ---- */

static void set_actor(pv_ledger *l, const char *station, const char *session, uint32_t lease_s)
{
    pv_ledger_actor a = {station, session, lease_s};
    pv_ledger_set_actor(l, &a);
}

static void test_leases(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    uint8_t a[12], b[12];
    uid_of(1, a), uid_of(2, b);
    pv_ledger_row row;
    char now_s[32];
    time_t t = time(NULL);
    strftime(now_s, sizeof now_s, "%Y-%m-%dT%H:%M:%S", gmtime(&t));

    /* Station A's session a1 reserves: the row is leased to it for the default time. */
    set_actor(l, "st-a", "a1", 0);
    assert_int_equal(pv_ledger_reserve(l, "b1", a, "st-a", &recipe, 100, &row), PV_LEDGER_OK);
    assert_string_equal(row.lease_station, "st-a");
    assert_string_equal(row.lease_session, "a1");
    assert_true(strcmp(row.lease_until, now_s) > 0);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'reserve' AND station = "
                              "'st-a' AND detail LIKE '%\"session\":\"a1\"%'"),
                     1);

    /* Station B: refused while A's lease runs, nothing written. */
    int64_t audit = count(l, "SELECT COUNT(*) FROM audit");
    set_actor(l, "st-b", "b1", 0);
    expect_rc(pv_ledger_reserve(l, "b1", a, "st-b", &recipe, 100, NULL), PV_LEDGER_E_LEASED, l,
              "is leased to station st-a (session a1) until");
    expect_rc(pv_ledger_advance(l, a, PV_LEDGER_KEYED, NULL), PV_LEDGER_E_LEASED, l,
              "not to this session of station st-b");
    expect_rc(pv_ledger_fail(l, a, "probe", "lost"), PV_LEDGER_E_LEASED, l, "leased to station");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), audit);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM failures"), 0);
    assert_int_equal(pv_ledger_get(l, a, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_RESERVED);
    assert_int_equal(row.attempts, 1);
    assert_string_equal(row.station, "st-a");

    /* The holder advances (each step renews the lease). */
    set_actor(l, "st-a", "a1", 0);
    assert_int_equal(pv_ledger_advance(l, a, PV_LEDGER_KEYED, NULL), PV_LEDGER_OK);

    /* The same station, a new session (the old one died): advance refused, reserve takes over,
     * audited with the old holder; the old session is then refused. */
    set_actor(l, "st-a", "a2", 0);
    expect_rc(pv_ledger_advance(l, a, PV_LEDGER_WRITTEN, NULL), PV_LEDGER_E_LEASED, l,
              "leased to station st-a (session a1)");
    assert_int_equal(pv_ledger_reserve(l, "b1", a, "st-a", &recipe, 100, &row), PV_LEDGER_RESUMED);
    assert_string_equal(row.lease_session, "a2");
    assert_int_equal(row.state, PV_LEDGER_KEYED);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'resume' AND detail LIKE "
                              "'%\"took_over\":{\"expired\":false,\"session\":\"a1\"%'"),
                     1);
    set_actor(l, "st-a", "a1", 0);
    expect_rc(pv_ledger_advance(l, a, PV_LEDGER_WRITTEN, NULL), PV_LEDGER_E_LEASED, l,
              "session a2");

    /* A failure ends the lease: then another station may resume it. */
    set_actor(l, "st-a", "a2", 0);
    assert_int_equal(pv_ledger_fail(l, a, "write", "probe lost"), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_get(l, a, &row), PV_LEDGER_OK);
    assert_string_equal(row.lease_station, "");
    assert_string_equal(row.lease_until, "");
    assert_int_equal(
        count(l, "SELECT COUNT(*) FROM failures WHERE station = 'st-a' AND phase = 'write'"), 1);
    set_actor(l, "st-b", "b1", 0);
    assert_int_equal(pv_ledger_reserve(l, "b1", a, "st-b", &recipe, 100, &row), PV_LEDGER_RESUMED);
    assert_string_equal(row.lease_station, "st-b");

    /* An expired lease (1 s) is anyone's. */
    set_actor(l, "st-c", "c1", 1);
    assert_int_equal(pv_ledger_reserve(l, "b1", b, "st-c", &recipe, 100, NULL), PV_LEDGER_OK);
    set_actor(l, "st-d", "d1", 0);
    expect_rc(pv_ledger_reserve(l, "b1", b, "st-d", &recipe, 100, NULL), PV_LEDGER_E_LEASED, l,
              "leased to station st-c");
    usleep(1100 * 1000);
    assert_int_equal(pv_ledger_reserve(l, "b1", b, "st-d", &recipe, 100, &row), PV_LEDGER_RESUMED);
    assert_string_equal(row.lease_station, "st-d");
    assert_string_equal(row.station, "st-d");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'resume' AND station = "
                              "'st-d' AND detail LIKE '%\"expired\":true%'"),
                     1);
    /* Reaching locked ends the lease. */
    pv_ledger_details keyed = {.has_key = 1, .key_id = 7, .key_version = 2};
    pv_ledger_details img = {.image_digest = IMG_HEX, .rdp_level = 2};
    assert_int_equal(pv_ledger_advance(l, b, PV_LEDGER_KEYED, &keyed), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_advance(l, b, PV_LEDGER_WRITTEN, &img), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_advance(l, b, PV_LEDGER_VERIFIED, &img), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_get(l, b, &row), PV_LEDGER_OK);
    assert_string_equal(row.lease_session, "d1");
    assert_int_equal(pv_ledger_advance(l, b, PV_LEDGER_LOCKED, &img), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_get(l, b, &row), PV_LEDGER_OK);
    assert_string_equal(row.lease_station, "");
    assert_string_equal(row.lease_session, "");
    /* Every entry written with an actor names its station. */
    assert_int_equal(count(l,
                           "SELECT COUNT(*) FROM audit WHERE uid = '300041000000000000000002' AND "
                           "station = 'st-d'"),
                     5);

    /* Without an actor nothing is checked (local tools): advance the row st-b holds. */
    pv_ledger_set_actor(l, NULL);
    assert_int_equal(pv_ledger_advance(l, a, PV_LEDGER_KEYED, NULL), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_get(l, a, &row), PV_LEDGER_OK);
    assert_string_equal(row.lease_station, "st-b"); /* and nothing is taken */

    /* Actors with bad names are refused before anything is read. */
    set_actor(l, "bad station", "a1", 0);
    expect_rc(pv_ledger_reserve(l, "b1", a, "st-a", &recipe, 100, NULL), PV_LEDGER_E_ARG, l,
              "actor station name 'bad station'");
    set_actor(l, "st-a", "NOT-HEX", 0);
    expect_rc(pv_ledger_advance(l, a, PV_LEDGER_WRITTEN, NULL), PV_LEDGER_E_ARG, l,
              "actor session");
    pv_ledger_set_actor(l, NULL);
    verify_ok(l); /* the log's leases replay into the table's */
    sql(l, "UPDATE devices SET lease_session = 'ff' WHERE uid = '300041000000000000000001'");
    verify_broken(l, 1, 0,
                  "device UID 300041000000000000000001: lease_session is 'ff' in the table but "
                  "'b1' per the audit log");
    pv_ledger_close(l);
}

/* ---- RDP level ---- */

static void test_rdp_level(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    uint8_t a[12], b[12];
    uid_of(1, a), uid_of(2, b);
    drive(l, a, PV_LEDGER_VERIFIED);
    expect_rc(pv_ledger_advance(l, a, PV_LEDGER_LOCKED, &(pv_ledger_details){.rdp_level = 3}),
              PV_LEDGER_E_ARG, l, "RDP level 3");
    assert_int_equal(
        pv_ledger_advance(l, a, PV_LEDGER_LOCKED, &(pv_ledger_details){.rdp_level = 1}),
        PV_LEDGER_OK);
    pv_ledger_row row;
    assert_int_equal(pv_ledger_get(l, a, &row), PV_LEDGER_OK);
    assert_int_equal(row.rdp_level, 1);
    assert_int_equal(count(l, "SELECT rdp_level FROM devices WHERE uid = "
                              "'300041000000000000000001'"),
                     1);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'advance' AND state = "
                              "'locked' AND detail LIKE '%\"rdp_level\":1%'"),
                     1);
    /* A confirmed lock (dead port) is Level 2. */
    drive(l, b, PV_LEDGER_VERIFIED);
    assert_int_equal(pv_ledger_get(l, b, &row), PV_LEDGER_OK);
    assert_int_equal(row.rdp_level, 0);
    assert_int_equal(pv_ledger_confirm_locked(l, b, "op@line-1", "port dead after reset"),
                     PV_LEDGER_OK);
    assert_int_equal(pv_ledger_get(l, b, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    assert_int_equal(row.rdp_level, 2);
    char *d = raw_text("SELECT detail FROM audit ORDER BY seq DESC LIMIT 1");
    assert_non_null(d);
    assert_non_null(strstr(d, "\"manual\":true"));
    assert_non_null(strstr(d, "\"rdp_level\":2"));
    free(d);
    char *js = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&js, &len);
    assert_int_equal(pv_ledger_export(l, f, PV_LEDGER_JSON, NULL), PV_LEDGER_OK);
    fclose(f);
    assert_non_null(strstr(js, "\"rdp_level\": 2"));
    free(js);
    verify_ok(l);
    sql(l, "UPDATE devices SET rdp_level = 0 WHERE uid = '300041000000000000000002'");
    verify_broken(l, 1, 0,
                  "device UID 300041000000000000000002: rdp_level is '0' in the table but '2' "
                  "per the audit log");
    pv_ledger_close(l);
}

/* ---- station registry ---- */

static int collect_station(void *ctx, const pv_ledger_station *s)
{
    char *names = ctx;
    strcat(names, s->name);
    strcat(names, s->revoked_at[0] ? "(revoked) " : " ");
    return 0;
}

static void test_stations(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    pv_ledger_station s1 = {.name = "line-1.station_A", .serial = "1f", .rights = "demo/* x/b1"};
    memset(s1.cert_sha256, 'a', 64);
    pv_ledger_station s2 = s1, got;
    snprintf(s2.name, sizeof s2.name, "line-2");
    assert_int_equal(pv_ledger_station_enroll(l, &s1), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_station_get(l, "line-1.station_A", &got), PV_LEDGER_OK);
    assert_string_equal(got.cert_sha256, s1.cert_sha256);
    assert_string_equal(got.serial, "1f");
    assert_string_equal(got.rights, "demo/* x/b1");
    assert_int_equal(strlen(got.enrolled_at), 24);
    assert_string_equal(got.revoked_at, "");
    int64_t audit = count(l, "SELECT COUNT(*) FROM audit");
    expect_rc(pv_ledger_station_enroll(l, &s1), PV_LEDGER_E_EXISTS, l,
              "station line-1.station_A is enrolled already");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), audit);
    assert_int_equal(pv_ledger_station_enroll(l, &s2), PV_LEDGER_OK);
    char names[256] = "";
    assert_int_equal(pv_ledger_station_list(l, collect_station, names), PV_LEDGER_OK);
    assert_string_equal(names, "line-1.station_A line-2 ");

    /* Revoke: recorded once; again, or an unknown name, is refused with nothing written. */
    assert_int_equal(pv_ledger_station_revoke(l, "line-1.station_A", "admin@hq", "key lost"),
                     PV_LEDGER_OK);
    assert_int_equal(pv_ledger_station_get(l, "line-1.station_A", &got), PV_LEDGER_OK);
    assert_int_equal(strlen(got.revoked_at), 24);
    assert_string_equal(got.revoke_reason, "key lost");
    audit = count(l, "SELECT COUNT(*) FROM audit");
    expect_rc(pv_ledger_station_revoke(l, "line-1.station_A", "admin@hq", "again"),
              PV_LEDGER_E_REVOKED, l, "was revoked already");
    expect_rc(pv_ledger_station_revoke(l, "nobody", "admin@hq", "x"), PV_LEDGER_E_UNKNOWN, l,
              "no station nobody");
    expect_rc(pv_ledger_station_get(l, "nobody", &got), PV_LEDGER_E_UNKNOWN, l, "nobody");
    expect_rc(pv_ledger_station_revoke(l, "line-2", "admin@hq", "bad\x1b[2Jreason"),
              PV_LEDGER_E_ARG, l, "control characters");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), audit);
    names[0] = 0;
    assert_int_equal(pv_ledger_station_list(l, collect_station, names), PV_LEDGER_OK);
    assert_string_equal(names, "line-1.station_A(revoked) line-2 ");

    /* Re-enrolled after the revocation: a new certificate, active again. */
    memset(s1.cert_sha256, 'b', 64);
    snprintf(s1.serial, sizeof s1.serial, "20");
    assert_int_equal(pv_ledger_station_enroll(l, &s1), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_station_get(l, "line-1.station_A", &got), PV_LEDGER_OK);
    assert_string_equal(got.revoked_at, "");
    assert_string_equal(got.revoke_reason, "");
    assert_string_equal(got.serial, "20");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'station_enroll'"), 3);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'station_revoke'"), 1);

    /* Bad input. */
    pv_ledger_station bad = s2;
    snprintf(bad.name, sizeof bad.name, "line 3");
    expect_rc(pv_ledger_station_enroll(l, &bad), PV_LEDGER_E_ARG, l, "station name 'line 3'");
    bad = s2;
    snprintf(bad.name, sizeof bad.name, "line-3");
    snprintf(bad.cert_sha256, sizeof bad.cert_sha256, "xyz");
    expect_rc(pv_ledger_station_enroll(l, &bad), PV_LEDGER_E_ARG, l, "SHA-256");

    /* The registry is in the chain: verify replays it and compares. */
    verify_ok(l);
    sql(l, "UPDATE stations SET rights = 'evil/*' WHERE name = 'line-2'");
    verify_broken(l, 1, 0,
                  "station line-2: rights is 'evil/*' in the table but 'demo/* x/b1' per the "
                  "audit log");
    sql(l, "UPDATE stations SET rights = 'demo/* x/b1' WHERE name = 'line-2'");
    verify_ok(l);
    sql(l, "UPDATE stations SET revoked_at = NULL, revoke_reason = NULL");
    verify_ok(l); /* line-1 is active again per the log too */
    sql(l, "DELETE FROM stations WHERE name = 'line-2'");
    verify_broken(l, 1, 0, "station line-2: missing from the stations table");
    sql(l, "INSERT INTO stations VALUES ('line-2', 'x', '1', '', 't', NULL, NULL), "
           "('rogue', 'x', '1', '*/*', 't', NULL, NULL)");
    verify_broken(l, 1, 0, "station line-2: cert_sha256 is 'x' in the table");
    sql(l, "DELETE FROM stations WHERE name = 'line-2'");
    verify_broken(l, 1, 0, "station rogue: in the stations table, but no audit entry records it");
    pv_ledger_close(l);
}

/* ---- name and text restrictions ---- */

static void test_name_restrictions(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    uint8_t a[12];
    uid_of(1, a);
    char n63[64], n64[65];
    memset(n63, 'b', 63), n63[63] = 0;
    memset(n64, 'b', 64), n64[64] = 0;
    expect_rc(pv_ledger_reserve(l, "bad batch", a, "st", &recipe, 10, NULL), PV_LEDGER_E_ARG, l,
              "batch name 'bad batch' is not 1 to 63 of A-Z a-z 0-9 . _ -");
    expect_rc(pv_ledger_reserve(l, "b1", a, "st/1", &recipe, 10, NULL), PV_LEDGER_E_ARG, l,
              "station name 'st/1'");
    expect_rc(pv_ledger_reserve(l, "", a, "st", &recipe, 10, NULL), PV_LEDGER_E_ARG, l,
              "batch name ''");
    expect_rc(pv_ledger_reserve(l, n64, a, "st", &recipe, 10, NULL), PV_LEDGER_E_ARG, l,
              "batch name");
    expect_rc(pv_ledger_reserve(l, "b1", a, "st\n", &recipe, 10, NULL), PV_LEDGER_E_ARG, l,
              "station name");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), 0);
    assert_int_equal(pv_ledger_reserve(l, n63, a, "A.z_0-9", &recipe, 10, NULL), PV_LEDGER_OK);
    /* a station's reason is its own words: kept, control bytes written as \xNN */
    assert_int_equal(pv_ledger_fail(l, a, "write", "line one\nforged line"), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_fail(l, a, "wr\x1bite",
                                    "tab\there \x1b[2J \xc2\x9b"
                                    "1m \xff"),
                     PV_LEDGER_OK);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM failures"), 2);
    char *r1 = raw_text("SELECT reason FROM failures ORDER BY id LIMIT 1");
    assert_string_equal(r1, "line one\\x0aforged line");
    free(r1);
    r1 = raw_text("SELECT phase || ': ' || reason FROM failures ORDER BY id DESC LIMIT 1");
    assert_string_equal(r1, "wr\\x1bite: tab\\x09here \\x1b[2J \\xc2\\x9b1m \\xff");
    free(r1);
    /* an escape sequence as a station name is refused, and the message shows it escaped */
    expect_rc(pv_ledger_reserve(l, "b1", a, "st\x1b[31m", &recipe, 10, NULL), PV_LEDGER_E_ARG, l,
              "station name 'st\\x1b[31m' is not 1 to 63 of");
    assert_int_equal(pv_ledger_fail(l, a, "write", "UTF-8 is fine: \xc3\xa9t\xc3\xa9"),
                     PV_LEDGER_OK);
    r1 = raw_text("SELECT reason FROM failures ORDER BY id DESC LIMIT 1");
    assert_string_equal(r1, "UTF-8 is fine: \xc3\xa9t\xc3\xa9");
    free(r1);
    verify_ok(l);
    pv_ledger_close(l);
}

/* ---- figures for metrics ---- */

static int collect_batch(void *ctx, const char *batch, uint32_t quota, uint32_t used)
{
    char *text = ctx;
    char one[96];
    snprintf(one, sizeof one, "%s:%u/%u ", batch, used, quota);
    strcat(text, one);
    return 0;
}

static void test_metrics(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    int64_t counts[6];
    assert_int_equal(pv_ledger_state_counts(l, counts), PV_LEDGER_OK);
    for (int i = 0; i < 6; i++)
        assert_int_equal(counts[i], 0);
    uint8_t u[12];
    for (unsigned i = 0; i < 5; i++) {
        uid_of(i, u);
        drive(l, u, (pv_ledger_state)(i + 1));
    }
    uid_of(9, u);
    assert_int_equal(pv_ledger_reserve(l, "a0", u, "st", &recipe, 3, NULL), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_state_counts(l, counts), PV_LEDGER_OK);
    assert_int_equal(counts[PV_LEDGER_RESERVED], 2);
    for (int s = PV_LEDGER_KEYED; s <= PV_LEDGER_LOCKED; s++)
        assert_int_equal(counts[s], 1);
    char text[256] = "";
    assert_int_equal(pv_ledger_batches(l, collect_batch, text), PV_LEDGER_OK);
    assert_string_equal(text, "a0:1/3 b1:5/1000 ");
    pv_ledger_close(l);
}

/* ---- SQLite only: a version-1 file migrates ---- */

static void test_migrate_version1(void **state)
{
    (void)state;
    char path[512];
    pv_ledger *l = history(path, sizeof path);
    pv_ledger_close(l);
    /* Back to the version-1 schema: what an older provision left. */
    sql(NULL, "ALTER TABLE devices DROP COLUMN rdp_level; ALTER TABLE devices DROP COLUMN "
              "lease_station; ALTER TABLE devices DROP COLUMN lease_session; ALTER TABLE "
              "devices DROP COLUMN lease_until; DROP TABLE stations; DROP TABLE updates; "
              "DROP TABLE device_data; PRAGMA "
              "user_version = 1");
    raw_close();
    assert_int_equal(count(NULL, "PRAGMA user_version"), 1);
    assert_int_equal(count(NULL, "SELECT COUNT(*) FROM pragma_table_info('devices') WHERE name "
                                 "= 'rdp_level'"),
                     0);
    raw_close();
    l = open_signed(path);
    assert_int_equal(count(l, "PRAGMA user_version"), PV_LEDGER_SCHEMA_VERSION);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM pragma_table_info('devices') WHERE name "
                              "LIKE 'lease_%' OR name = 'rdp_level'"),
                     4);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'stations'"), 1);
    pv_ledger_row row;
    uint8_t a[12], b[12], c[12];
    uid_of(1, a), uid_of(2, b), uid_of(3, c);
    assert_int_equal(pv_ledger_get(l, a, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    assert_int_equal(pv_ledger_get(l, b, &row), PV_LEDGER_OK);
    assert_int_equal(row.attempts, 2);
    verify_ok(l); /* the old entries replay into the new columns */
    /* And it works on: a lease, a station, a lock with its level. */
    set_actor(l, "st-9", "9a", 0);
    assert_int_equal(pv_ledger_reserve(l, "b1", c, "st-9", &recipe, 1000, &row), PV_LEDGER_OK);
    assert_string_equal(row.lease_station, "st-9");
    pv_ledger_set_actor(l, NULL);
    pv_ledger_station s = {.name = "st-9", .serial = "01", .rights = "demo/*"};
    memset(s.cert_sha256, 'c', 64);
    assert_int_equal(pv_ledger_station_enroll(l, &s), PV_LEDGER_OK);
    verify_ok(l);
    pv_ledger_close(l);
}

/* ---- PostgreSQL only ---- */

static void test_pg_schema(void **state)
{
    (void)state;
    char path[512], err[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    assert_null(pv_ledger_db(l));
    char *v = raw_text("SELECT value FROM pv_ledger_meta WHERE key = 'schema_version'");
    assert_string_equal(v, "4");
    free(v);
    v = raw_text("SELECT value FROM pv_ledger_meta WHERE key = 'application'");
    assert_string_equal(v, "PVLG");
    free(v);
    pv_ledger_close(l);
    /* Opening again (several bridges do) migrates nothing and works. */
    l = open_signed(path);
    pv_ledger_close(l);
    sql(NULL, "UPDATE pv_ledger_meta SET value = '9' WHERE key = 'schema_version'");
    assert_null(pv_ledger_open(path, 0, err, sizeof err));
    assert_non_null(strstr(err, "schema version 9 is newer"));

    /* Someone else's tables in the schema: not taken over. */
    new_path(path, sizeof path);
    sql(NULL, "CREATE TABLE devices (x int)");
    assert_null(pv_ledger_open(path, PV_LEDGER_CREATE, err, sizeof err));
    assert_non_null(strstr(err, "not a provision ledger"));
    /* Without PV_LEDGER_CREATE an empty database is an error, and nothing is created. */
    new_path(path, sizeof path);
    assert_null(pv_ledger_open(path, 0, err, sizeof err));
    assert_non_null(strstr(err, "no ledger in this database"));
    assert_int_equal(count(NULL, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = "
                                 "current_schema()"),
                     0);
    /* No server there. */
    char url[600];
    snprintf(url, sizeof url, "postgresql:///postgres?host=%s/nowhere&user=postgres", dir);
    assert_null(pv_ledger_open(url, PV_LEDGER_CREATE, err, sizeof err));
    assert_non_null(strstr(err, "cannot connect"));
    /* A keyword conninfo after "postgresql:". */
    snprintf(url, sizeof url,
             "postgresql:host=%s port=%d user=postgres dbname=postgres "
             "options=-csearch_path=l%d",
             pgs.dir, pgs.port, file_no);
    l = pv_ledger_open(url, PV_LEDGER_CREATE, err, sizeof err);
    if (!l)
        fail_msg("%s: %s", url, err);
    pv_ledger_close(l);
    assert_int_equal(count(NULL, "SELECT COUNT(*) FROM pv_ledger_meta"), 2);
}

/* 8 processes, each with its own connection, race 40 reservations for 20 places. */
static void test_pg_quota_eight_processes(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger_close(open_signed(path));
    struct race_result t;
    race(path, 8, 5, 20, 0, &t);
    assert_int_equal(t.ok, 20);
    assert_int_equal(t.quota, 20);
    assert_int_equal(t.other, 0);
    pv_ledger *l = open_signed(path);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM devices WHERE batch = 'race'"), 20);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit WHERE action = 'reserve'"), 20);
    verify_ok(l);
    pv_ledger_close(l);
}

/* The server restarts between two calls on one open ledger: the next call reconnects once and
 * works; nothing committed is lost. With the server down the call fails cleanly. */
static void test_pg_restart(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    uint8_t a[12], b[12], c[12];
    uid_of(1, a), uid_of(2, b), uid_of(3, c);
    assert_int_equal(pv_ledger_reserve(l, "b1", a, "st", &recipe, 10, NULL), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_advance(l, a, PV_LEDGER_KEYED, NULL), PV_LEDGER_OK);
    raw_close();
    assert_int_equal(pg_server_stop(&pgs), 0);
    assert_int_equal(pg_server_restart(&pgs), 0);
    assert_int_equal(pv_ledger_reserve(l, "b1", b, "st", &recipe, 10, NULL), PV_LEDGER_OK);
    pv_ledger_row row;
    assert_int_equal(pv_ledger_get(l, a, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_KEYED);

    /* A read after a restart reconnects too. */
    raw_close();
    assert_int_equal(pg_server_stop(&pgs), 0);
    assert_int_equal(pg_server_restart(&pgs), 0);
    assert_int_equal(pv_ledger_get(l, b, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_RESERVED);

    /* Down: a clear error and nothing written; up again: the next call works. */
    assert_int_equal(pg_server_stop(&pgs), 0);
    expect_rc(pv_ledger_advance(l, b, PV_LEDGER_KEYED, NULL), PV_LEDGER_E_DB, l,
              "connection to the PostgreSQL ledger was lost and reconnecting failed");
    assert_int_equal(pg_server_restart(&pgs), 0);
    assert_int_equal(pv_ledger_advance(l, b, PV_LEDGER_KEYED, NULL), PV_LEDGER_OK);
    assert_int_equal(pv_ledger_reserve(l, "b1", c, "st", &recipe, 10, NULL), PV_LEDGER_OK);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM devices"), 3);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), 6);
    verify_ok(l);
    pv_ledger_close(l);
}

/* ---- fixture ---- */

static int setup_sqlite(void **state)
{
    (void)state;
    use_pg = 0;
    return 0;
}

static int setup_pg(void **state)
{
    (void)state;
    use_pg = 1;
    if (pg_server_start(&pgs) != 0) {
        fprintf(stderr, "cannot start PostgreSQL: %s\n", pgs.why);
        pg_server_destroy(&pgs);
        return -1;
    }
    return 0;
}

static int teardown_store(void **state)
{
    (void)state;
    raw_close();
    if (use_pg)
        pg_server_destroy(&pgs);
    return 0;
}

static void setup_keys(void)
{
    if (!sp_host_bin(prov, sizeof prov, "provision"))
        fail_msg("%s is not built (make all)", prov);
    assert_true(sp_make_tmpdir(dir, sizeof dir, "test_ledger"));
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    other_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(key);
    assert_non_null(other_key);
    assert_int_equal(pv_ledger_ed25519_key_id(key, key_id), 0);
    assert_int_equal(pv_ledger_ed25519_key_id(other_key, other_id), 0);
    snprintf(pub_pem, sizeof pub_pem, "%s/audit.pub.pem", dir);
    FILE *f = fopen(pub_pem, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, key), 1);
    fclose(f);
}

/* The contract: every store passes these. */
static int upd_collect(void *ctx, const pv_ledger_update *u)
{
    struct {
        int n;
        char results[4][24];
    } *h = ctx;
    if (h->n < 4)
        snprintf(h->results[h->n++], sizeof h->results[0], "%s", u->result);
    return 0;
}

/* Firmware updates: one row per attempt, refusals too; a replayed ephemeral key refused with
 * nothing written; an attempt ends once; verify replays them and catches an altered row. */
static void test_updates(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    pv_ledger_update u = {
        .from_version = 0x01000000, .floor = 0x01000000, .offered_version = 0x02000000};
    snprintf(u.uid_hex, sizeof u.uid_hex, "300041000000000000000001");
    snprintf(u.session, sizeof u.session, "0a0b");
    snprintf(u.station, sizeof u.station, "st-1");
    snprintf(u.product, sizeof u.product, "demo");
    snprintf(u.batch, sizeof u.batch, "b1");
    snprintf(u.result, sizeof u.result, "begun");
    snprintf(u.reason, sizeof u.reason, "offered 2.0.0");
    memset(u.image_sha256, 'e', 64);
    memset(u.ephemeral, 'a', 64);
    assert_int_equal(pv_ledger_update_record(l, &u), PV_LEDGER_OK);
    assert_int_equal(u.id, 1);
    assert_string_equal(u.ended_at, "");
    /* the same ephemeral key again: a replay, nothing written */
    pv_ledger_update r = u;
    assert_int_equal(pv_ledger_update_record(l, &r), PV_LEDGER_E_EXISTS);
    assert_non_null(strstr(pv_ledger_error(l), "seen before"));
    assert_int_equal(count(l, "SELECT COUNT(*) FROM updates"), 1);
    r.ephemeral[0] = 0;
    r.session[0] = 0;
    snprintf(r.result, sizeof r.result, "replay");
    snprintf(r.reason, sizeof r.reason, "message 1 replayed");
    assert_int_equal(pv_ledger_update_record(l, &r), PV_LEDGER_OK);
    assert_string_not_equal(r.ended_at, "");
    /* a refusal of a UID the ledger does not know */
    pv_ledger_update x = {0};
    snprintf(x.uid_hex, sizeof x.uid_hex, "300041000000000000000099");
    snprintf(x.station, sizeof x.station, "st-1");
    snprintf(x.result, sizeof x.result, "unknown_uid");
    snprintf(x.reason, sizeof x.reason, "never provisioned");
    assert_int_equal(pv_ledger_update_record(l, &x), PV_LEDGER_OK);
    /* bad input refused */
    snprintf(x.result, sizeof x.result, "Bad Result");
    assert_int_equal(pv_ledger_update_record(l, &x), PV_LEDGER_E_ARG);
    /* the end, once */
    assert_int_equal(pv_ledger_update_finish(l, u.id, "installed", "2.0.0 runs", 0x02000000, 4096),
                     PV_LEDGER_OK);
    assert_int_equal(pv_ledger_update_finish(l, u.id, "abandoned", "ttl", 0, 0),
                     PV_LEDGER_E_ILLEGAL);
    assert_int_equal(pv_ledger_update_finish(l, 99, "abandoned", "ttl", 0, 0), PV_LEDGER_E_UNKNOWN);
    verify_ok(l);
    /* the history of one device, in order */
    struct seen {
        int n;
        char results[4][24];
    } h = {0};
    uint8_t uid[12];
    uid_of(1, uid);
    assert_int_equal(pv_ledger_update_list(l, uid, upd_collect, &h), PV_LEDGER_OK);
    assert_int_equal(h.n, 2);
    assert_string_equal(h.results[0], "installed");
    assert_string_equal(h.results[1], "replay");
    /* an altered row is caught */
    sql(l, "UPDATE updates SET result = 'refused_version' WHERE id = 1");
    verify_broken(l, 1, 0,
                  "update attempt 1: result is 'refused_version' in the table but 'installed' per "
                  "the audit log");
    pv_ledger_close(l);
}

/* ---- per-device data (docs/device-data.md) ---- */

static int dd_render(void *ctx, int64_t n, char *serial, size_t cap)
{
    (void)ctx;
    int len = snprintf(serial, cap, "SN-%06lld", (long long)n);
    return len < 0 || (size_t)len >= cap ? -1 : 0;
}

static const pv_ledger_devdata_req dd_req = {
    .counter = "sn",
    .counter_first = 1,
    .counter_last = 999999,
    .render = dd_render,
    .has_mac = 1,
    .mac_first = 0x020000001000ull,
    .mac_last = 0x020000001002ull, /* three addresses */
    .mes = "{\"lot\":\"L7\",\"hw_rev\":3}",
};

/* Two processes allocate for their own UIDs at once: every serial and MAC given once. */
static void dd_race(const char *path, int per_child)
{
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[2];
    pv_ledger_devdata_req wide = dd_req;
    wide.mac_last = 0x0200000010ffull;
    for (int k = 0; k < 2; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            close(go[1]);
            char err[256], station[16];
            pv_ledger *l = pv_ledger_open(path, 0, err, sizeof err);
            if (!l)
                _exit(2);
            pv_ledger_signer s = {key_id, pv_ledger_ed25519_sign, key};
            pv_ledger_set_signer(l, &s);
            snprintf(station, sizeof station, "st-%d", k);
            char c;
            if (read(go[0], &c, 1) < 0)
                _exit(3);
            for (int i = 0; i < per_child; i++) {
                uint8_t uid[12];
                pv_ledger_devdata d;
                uid_of((unsigned)(5000 + 100 * k + i), uid);
                if (pv_ledger_reserve(l, "b1", uid, station, &recipe, 1000, NULL) != PV_LEDGER_OK ||
                    pv_ledger_devdata_allocate(l, uid, &wide, &d) != PV_LEDGER_OK)
                    _exit(4);
            }
            pv_ledger_close(l);
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int k = 0; k < 2; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

/* Serials consecutive and formatted, MACs from the pool, a rerun of a UID given its own values
 * back, an exhausted pool refused with nothing written, values only after a reservation, verify
 * replaying them and catching an altered row, and two racing processes never sharing a value. */
static void test_device_data(void **state)
{
    (void)state;
    char path[512];
    new_path(path, sizeof path);
    pv_ledger *l = open_signed(path);
    pv_ledger_devdata d;
    uint8_t uid[12];
    uid_of(1, uid);
    expect_rc(pv_ledger_devdata_allocate(l, uid, &dd_req, &d), PV_LEDGER_E_UNKNOWN, l,
              "is not reserved");
    for (unsigned i = 1; i <= 3; i++) {
        char want[32], mac[18];
        uid_of(i, uid);
        drive(l, uid, PV_LEDGER_KEYED);
        expect_rc(pv_ledger_devdata_allocate(l, uid, &dd_req, &d), PV_LEDGER_OK, l, NULL);
        snprintf(want, sizeof want, "SN-%06u", i);
        assert_string_equal(d.serial, want);
        assert_int_equal(d.counter_value, i);
        snprintf(mac, sizeof mac, "02:00:00:00:10:%02x", i - 1);
        assert_string_equal(d.mac_text, mac);
        assert_string_equal(d.mes, "{\"hw_rev\":3,\"lot\":\"L7\"}");
    }
    /* a rerun of chip 2 (a failed run, a power cut): the same values, nothing new */
    uid_of(2, uid);
    assert_int_equal(pv_ledger_fail(l, uid, "write", "power cut"), PV_LEDGER_OK);
    expect_rc(pv_ledger_devdata_allocate(l, uid, &dd_req, &d), PV_LEDGER_RESUMED, l, NULL);
    assert_string_equal(d.serial, "SN-000002");
    assert_string_equal(d.mac_text, "02:00:00:00:10:01");
    /* the pool is used up: refused, nothing written */
    int64_t entries = count(l, "SELECT COUNT(*) FROM audit");
    uid_of(4, uid);
    drive(l, uid, PV_LEDGER_RESERVED);
    entries++;
    expect_rc(pv_ledger_devdata_allocate(l, uid, &dd_req, &d), PV_LEDGER_E_EXHAUSTED, l,
              "MAC pool 02:00:00:00:10:00..02:00:00:00:10:02 is exhausted: all 3 addresses");
    assert_int_equal(count(l, "SELECT COUNT(*) FROM audit"), entries);
    assert_int_equal(count(l, "SELECT COUNT(*) FROM device_data"), 3);
    assert_int_equal(pv_ledger_devdata_get(l, uid, &d), PV_LEDGER_E_UNKNOWN);
    verify_ok(l);
    /* a value changed with SQL: verify names the row and the column */
    sql(l, "UPDATE device_data SET mac = mac + 16 WHERE uid = '300041000000000000000003'");
    verify_broken(l, 1, 0,
                  "device data of UID 300041000000000000000003: mac_text is "
                  "'02:00:00:00:10:12' in the table but '02:00:00:00:10:02' per the audit log");
    pv_ledger_close(l);

    new_path(path, sizeof path);
    l = open_signed(path);
    pv_ledger_close(l);
    dd_race(path, 10);
    l = open_signed(path);
    assert_int_equal(count(l, "SELECT COUNT(DISTINCT mac) FROM device_data"), 20);
    assert_int_equal(count(l, "SELECT MAX(mac) - MIN(mac) FROM device_data"), 19);
    assert_int_equal(count(l, "SELECT COUNT(DISTINCT serial) FROM device_data"), 20);
    assert_int_equal(count(l, "SELECT MAX(counter_value) FROM device_data"), 20);
    verify_ok(l);
    pv_ledger_close(l);
}

#define CONTRACT                                                                                   \
    cmocka_unit_test(test_state_machine), cmocka_unit_test(test_resume_counts_once),               \
        cmocka_unit_test(test_quota_exact_nothing_written),                                        \
        cmocka_unit_test(test_locked_and_other_batch_refused),                                     \
        cmocka_unit_test(test_failures_recorded),                                                  \
        cmocka_unit_test(test_racing_processes_never_exceed_quota),                                \
        cmocka_unit_test(test_audit_chain_verifies), cmocka_unit_test(test_tampering_detected),    \
        cmocka_unit_test(test_rewritten_chain_needs_the_key),                                      \
        cmocka_unit_test(test_export_csv_json), cmocka_unit_test(test_leases),                     \
        cmocka_unit_test(test_rdp_level), cmocka_unit_test(test_stations),                         \
        cmocka_unit_test(test_name_restrictions), cmocka_unit_test(test_metrics),                  \
        cmocka_unit_test(test_cli), cmocka_unit_test(test_readers_write_nothing),                  \
        cmocka_unit_test(test_checkpoint_catches_truncation),                                      \
        cmocka_unit_test(test_control_characters_on_output), cmocka_unit_test(test_updates),       \
        cmocka_unit_test(test_device_data)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(sp_watchdog_seconds(170));
    setup_keys();
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(test_durability_settings),
        cmocka_unit_test(test_migrate_version1),
        cmocka_unit_test(test_reading_commands_on_non_ledgers),
        CONTRACT,
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_pg_schema),
        CONTRACT,
        cmocka_unit_test(test_pg_quota_eight_processes),
        cmocka_unit_test(test_pg_restart),
    };
    int failed =
        cmocka_run_group_tests_name("ledger on SQLite", sqlite_tests, setup_sqlite, teardown_store);
    failed +=
        cmocka_run_group_tests_name("ledger on PostgreSQL", pg_tests, setup_pg, teardown_store);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    sp_remove_tmpdir(dir);
    return failed;
}
