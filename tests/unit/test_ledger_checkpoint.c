/* Checkpoints with the real token (hsm-bridge/ledger_checkpoint.h): `hsm-bridge checkpoint` and
 * `provision ledger checkpoint` sign the bridge's ledger head with the recipe's audit key in
 * SoftHSM2; `provision ledger verify --key AUDIT.pub --head` accepts them while the chain holds
 * their head, and reports the ledger truncated once the newest station enrolment, its audit
 * entry and its row are deleted with SQL (which plain verify cannot see). The checkpoint
 * commands only read the ledger: its bytes are the same after them. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "bridge_harness.h"

static struct bh_env env;

static void sql(const char *path, const char *q)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", q, msg);
    sqlite3_close(db);
}

static void expect(int got, int want, const char *needle)
{
    if (got != want || (needle && !strstr(env.out, needle)))
        fail_msg("exit %d (want %d), output lacks '%s':\n%s", got, want, needle ? needle : "",
                 env.out);
}

static void test_checkpoints_from_the_token(void **state)
{
    (void)state;
    struct bh_bridge b;
    struct bh_station s1, s2, s3;
    assert_true(bh_bridge_init(&env, &b, "cp", NULL, 0));
    assert_true(bh_station_enroll(&b, &s1, "line-1", BH_RIGHTS));
    assert_true(bh_station_enroll(&b, &s2, "line-2", BH_RIGHTS));
    char pub[200], cp1[200], cp2[200], loose[200];
    snprintf(pub, sizeof pub, "%s/audit.pub", b.dir);
    snprintf(cp1, sizeof cp1, "%s/cp1.json", b.dir);
    snprintf(cp2, sizeof cp2, "%s/cp2.json", b.dir);
    snprintf(loose, sizeof loose, "%s/loose-pin", b.dir);
    expect(BH_CMD(&env, env.prov, "keys", "export", "--recipe", env.recipe, "--pin-file", env.pin,
                  "--key", "audit", "-o", pub),
           0, NULL);

    /* the bridge's command: reads the ledger only */
    size_t len0 = 0, len1 = 0;
    char *before = sp_slurp(b.ledger, &len0);
    assert_non_null(before);
    expect(BH_CMD(&env, env.bridge_bin, "checkpoint", "--config", b.config, "-o", cp1), 0,
           "checkpoint ");
    char *after = sp_slurp(b.ledger, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);
    char *text = sp_slurp(cp1, NULL);
    assert_non_null(strstr(text, "\"format\": \"pv-ledger-checkpoint/1\""));
    assert_non_null(strstr(text, "\"entries\": 2"));
    free(text);
    expect(BH_CMD(&env, env.prov, "ledger", "--ledger", b.ledger, "verify", "--key", pub, "--head",
                  cp1),
           0, "the chain still holds its head, entry #2 (2 entries now)");

    /* the station tool's command, PIN from the environment; a loose PIN file is refused */
    assert_true(bh_station_enroll(&b, &s3, "line-3", BH_RIGHTS));
    assert_true(bh_write_file(loose, BH_PIN "\n", 0644));
    expect(BH_CMD(&env, env.prov, "ledger", "--ledger", b.ledger, "checkpoint", "--recipe",
                  env.recipe, "--pin-file", loose, "-o", cp2),
           3, "has mode 0644");
    assert_int_equal(access(cp2, F_OK), -1);
    setenv("PROVISION_PIN", BH_PIN, 1);
    int rc = BH_CMD(&env, env.prov, "ledger", "--ledger", b.ledger, "checkpoint", "--recipe",
                    env.recipe, "-o", cp2);
    unsetenv("PROVISION_PIN");
    expect(rc, 0, "3 entries");
    expect(BH_CMD(&env, env.prov, "ledger", "--ledger", b.ledger, "verify", "--key", pub, "--head",
                  cp2),
           0, "entry #3 (3 entries now)");

    /* truncation: line-3's enrolment, its audit entry and its row, gone */
    sql(b.ledger, "DELETE FROM audit WHERE seq = 3; DELETE FROM stations WHERE name = 'line-3'");
    expect(BH_CMD(&env, env.prov, "ledger", "--ledger", b.ledger, "verify", "--key", pub), 0,
           "audit chain intact: 2 entries");
    expect(BH_CMD(&env, env.prov, "ledger", "--ledger", b.ledger, "verify", "--key", pub, "--head",
                  cp2),
           1, "ledger truncated");
    assert_non_null(strstr(env.out, "the newest 1 entries were deleted"));
    expect(BH_CMD(&env, env.prov, "ledger", "--ledger", b.ledger, "verify", "--key", pub, "--head",
                  cp1),
           0, "entry #2 (2 entries now)");
}

static int setup(void **state)
{
    (void)state;
    return bh_env_init(&env, "test_ledger_checkpoint") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return 0;
}

int main(void)
{
    if (!sp_install(120))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints_from_the_token),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    if (rc == 0)
        bh_env_free(&env);
    return rc;
}
