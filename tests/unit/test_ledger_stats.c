/* The operator's figures (hsm-bridge/ledger_stats.h) on both stores: a SQLite file and a real
 * PostgreSQL server this program starts (tests/common/pg_server.c). The same history is written
 * through the ledger's own calls (reserve, advance, fail; signed), and every figure is checked
 * against what that history must give: quota used and left, locked, failed, the lock window,
 * failures by phase (most frequent first), the devices reserved last, a station's last device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "../../hsm-bridge/ledger.h"
#include "../../hsm-bridge/ledger_ed25519.h"
#include "../../hsm-bridge/ledger_internal.h" /* pv_ledger_format_time */
#include "../../hsm-bridge/ledger_stats.h"
#include "common/pg_server.h"
#include "sim_process.h"

static char dir[64];
static EVP_PKEY *key;
static char key_id[PV_LEDGER_KEY_ID_LEN];
static pg_server pgs;
static int pg_started;

static const pv_ledger_recipe recipe = {.name = "demo-stm32f427", .digest = {0xab, 0xcd}};

static void uid_of(unsigned n, uint8_t uid[12], char hex[25])
{
    memset(uid, 0, 12);
    uid[0] = 0x30, uid[2] = 0x41, uid[11] = (uint8_t)n;
    for (int i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", uid[i]);
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

static void ok(pv_ledger *l, int rc)
{
    if (rc != PV_LEDGER_OK && rc != PV_LEDGER_RESUMED)
        fail_msg("ledger: %d %s", rc, pv_ledger_error(l));
}

static void to_locked(pv_ledger *l, const uint8_t uid[12])
{
    pv_ledger_details keyed = {.has_key = 1, .key_id = 1, .key_version = 1};
    ok(l, pv_ledger_advance(l, uid, PV_LEDGER_KEYED, &keyed));
    pv_ledger_details img = {
        .image_digest = "1111111111111111111111111111111111111111111111111111111111111111"};
    ok(l, pv_ledger_advance(l, uid, PV_LEDGER_WRITTEN, &img));
    ok(l, pv_ledger_advance(l, uid, PV_LEDGER_VERIFIED, NULL));
    pv_ledger_details lock = {.rdp_level = 2};
    ok(l, pv_ledger_advance(l, uid, PV_LEDGER_LOCKED, &lock));
}

static const struct pv_stats_batch *batch(const struct pv_ledger_stats *st, const char *name)
{
    for (unsigned i = 0; i < st->n_batches; i++)
        if (strcmp(st->batches[i].batch, name) == 0)
            return &st->batches[i];
    fail_msg("no batch %s among %u", name, st->n_batches);
    return NULL;
}

/* The history: lot-a (quota 10): 1 locked; 2 failed in write twice and in lock once, never
 * locked; 3 failed in keys then locked on a rerun; 4 only reserved. lot-b (quota 5), created
 * after: 5 locked by another station. */
static void figures(const char *path)
{
    pv_ledger *l = open_signed(path);
    uint8_t u[6][12];
    char hex[6][25];
    for (unsigned i = 1; i <= 5; i++)
        uid_of(i, u[i], hex[i]);
    struct pv_ledger_stats *st = malloc(sizeof *st);
    assert_non_null(st);
    char since[32];
    pv_ledger_time_ago(3600, since);

    /* an empty ledger: nothing, and no error */
    assert_int_equal(pv_ledger_stats(l, since, 20, st), PV_LEDGER_OK);
    assert_int_equal(st->n_batches, 0);
    assert_int_equal(st->n_recent, 0);
    struct pv_stats_device d;
    assert_int_equal(pv_ledger_station_last(l, "line-1", &d), PV_LEDGER_E_UNKNOWN);

    ok(l, pv_ledger_reserve(l, "lot-a", u[1], "line-1", &recipe, 10, NULL));
    to_locked(l, u[1]);
    ok(l, pv_ledger_reserve(l, "lot-a", u[2], "line-1", &recipe, 10, NULL));
    ok(l, pv_ledger_fail(l, u[2], "write", "flash verify mismatch"));
    ok(l, pv_ledger_reserve(l, "lot-a", u[2], "line-1", &recipe, 10, NULL));
    ok(l, pv_ledger_fail(l, u[2], "write", "flash verify mismatch"));
    ok(l, pv_ledger_fail(l, u[2], "lock", "RDP Level 0 observed"));
    ok(l, pv_ledger_reserve(l, "lot-a", u[3], "line-1", &recipe, 10, NULL));
    ok(l, pv_ledger_fail(l, u[3], "keys", "token busy"));
    ok(l, pv_ledger_reserve(l, "lot-a", u[3], "line-1", &recipe, 10, NULL));
    to_locked(l, u[3]);
    ok(l, pv_ledger_reserve(l, "lot-a", u[4], "line-1", &recipe, 10, NULL));
    ok(l, pv_ledger_reserve(l, "lot-b", u[5], "line-2", &recipe, 5, NULL));
    to_locked(l, u[5]);

    assert_int_equal(pv_ledger_stats(l, since, 3, st), PV_LEDGER_OK);
    assert_int_equal(st->n_batches, 2);
    assert_string_equal(st->batches[0].batch, "lot-b"); /* created last, first */
    const struct pv_stats_batch *a = batch(st, "lot-a"), *b = batch(st, "lot-b");
    assert_int_equal(a->quota, 10);
    assert_int_equal(a->used, 4);
    assert_int_equal(a->locked, 2);
    assert_int_equal(a->failed, 1); /* 3 failed once but is locked now */
    assert_int_equal(a->locked_window, 2);
    assert_int_equal(a->failures, 4);
    assert_int_equal(a->n_phases, 3);
    assert_string_equal(a->phases[0].phase, "write");
    assert_int_equal(a->phases[0].n, 2);
    assert_string_equal(a->phases[1].phase, "keys"); /* ties by name */
    assert_int_equal(a->phases[1].n, 1);
    assert_string_equal(a->phases[2].phase, "lock");
    assert_int_equal(b->quota, 5);
    assert_int_equal(b->used, 1);
    assert_int_equal(b->locked, 1);
    assert_int_equal(b->failures, 0);
    assert_int_equal(b->n_phases, 0);

    /* the devices reserved last, newest first, as many as asked */
    assert_int_equal(st->n_recent, 3);
    assert_string_equal(st->recent[0].uid_hex, hex[5]);
    assert_string_equal(st->recent[0].state, "locked");
    assert_string_equal(st->recent[0].station, "line-2");
    assert_string_equal(st->recent[0].batch, "lot-b");
    assert_string_equal(st->recent[1].uid_hex, hex[4]);
    assert_string_equal(st->recent[1].state, "reserved");
    assert_string_equal(st->recent[2].uid_hex, hex[3]);
    assert_int_equal(st->recent[2].failures, 1);
    assert_int_equal(strlen(st->recent[2].at), 24); /* 2026-12-07T05:41:12.345Z */

    /* a window that starts after every lock counts none */
    char future[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pv_ledger_format_time(ts, future);
    assert_int_equal(pv_ledger_stats(l, future, 0, st), PV_LEDGER_OK);
    assert_int_equal(batch(st, "lot-a")->locked_window, 0);
    assert_int_equal(st->n_recent, 0);

    /* each station's last device */
    assert_int_equal(pv_ledger_station_last(l, "line-1", &d), PV_LEDGER_OK);
    assert_string_equal(d.uid_hex, hex[4]);
    assert_string_equal(d.state, "reserved");
    assert_int_equal(pv_ledger_station_last(l, "line-2", &d), PV_LEDGER_OK);
    assert_string_equal(d.uid_hex, hex[5]);
    /* a name is a parameter, never SQL */
    assert_int_equal(pv_ledger_station_last(l, "x' OR '1'='1", &d), PV_LEDGER_E_UNKNOWN);
    free(st);
    pv_ledger_close(l);
}

static void test_sqlite(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    figures(path);
}

static void test_postgresql(void **state)
{
    (void)state;
    if (pg_server_start(&pgs) != 0)
        fail_msg("cannot start PostgreSQL: %s", pgs.why);
    pg_started = 1;
    char url[512];
    pg_server_url(&pgs, "postgres", NULL, url, sizeof url);
    figures(url);
}

static int setup(void **state)
{
    (void)state;
    if (!sp_make_tmpdir(dir, sizeof dir, "test_ledger_stats"))
        return -1;
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!key || pv_ledger_ed25519_key_id(key, key_id) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (pg_started)
        pg_server_destroy(&pgs);
    EVP_PKEY_free(key);
    sp_remove_tmpdir(dir);
    return 0;
}

int main(void)
{
    if (!sp_install(120))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_postgresql),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
