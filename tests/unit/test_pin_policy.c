/* The PIN policy (hsm-bridge/pin_source.h) attacked where it lives and where it shows:
 *
 *  - PIN files: every mode with a group or other bit, another user's file, a FIFO, a directory,
 *    a symbolic link to a loose file are refused by name, mode and owner with the fix; 0600
 *    and 0400 files of this user are read (first line, CR LF, no line end);
 *  - the command line: --pin in every spelling getopt_long would accept is refused without
 *    echoing the PIN, by both tools, before any command runs;
 *  - the environment: the variable is read once, removed, and its bytes overwritten in the
 *    block the kernel shows; a real `hsm-bridge serve` opened its token with $PROVISION_PIN
 *    and /proc/PID/environ no longer holds it (a canary variable set beside it still shows, so
 *    the read is of the real block);
 *  - the bridge's configuration: token.pin_file with mode 0644 stops `serve` with the fix.
 *
 * Tests run as root here: another user's file is made with chown. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include "../../hsm-bridge/pin_source.h"

static struct bh_env env;
static char dir[128];

static void write_pin(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    assert_true(bh_write_file(path, text, mode));
}

static int read_pin(const char *file, char *pin, size_t cap, char *err, size_t err_len)
{
    return pv_pin_read(file, PV_PIN_ENV, NULL, "user PIN", pin, cap, err, err_len);
}

static void test_file_modes(void **state)
{
    (void)state;
    char path[200], pin[PV_PIN_MAX], err[1024];
    snprintf(path, sizeof path, "%s/pin", dir);
    /* every permission bit for group or others, alone */
    for (mode_t bit = 01; bit <= 040; bit <<= 1) {
        mode_t mode = 0600 | bit;
        write_pin(path, "2468\n", mode);
        assert_int_equal(read_pin(path, pin, sizeof pin, err, sizeof err), -1);
        char want[32];
        snprintf(want, sizeof want, "has mode %04o", (unsigned)mode);
        if (!strstr(err, want) || !strstr(err, path) || !strstr(err, "fix: chmod 600") ||
            !strstr(err, "(owner root)"))
            fail_msg("mode %04o: %s", (unsigned)mode, err);
        assert_null(strstr(err, "2468"));
        assert_int_equal(pin[0], 0);
    }
    /* the two modes that pass */
    write_pin(path, "2468\n", 0600);
    assert_int_equal(read_pin(path, pin, sizeof pin, err, sizeof err), 0);
    assert_string_equal(pin, "2468");
    write_pin(path, "13-57\r\nsecond line\n", 0400);
    assert_int_equal(read_pin(path, pin, sizeof pin, err, sizeof err), 0);
    assert_string_equal(pin, "13-57");
    write_pin(path, "no-newline", 0600);
    assert_int_equal(read_pin(path, pin, sizeof pin, err, sizeof err), 0);
    assert_string_equal(pin, "no-newline");
    write_pin(path, "\n", 0600);
    assert_int_equal(read_pin(path, pin, sizeof pin, err, sizeof err), -1);
    assert_non_null(strstr(err, "is empty"));
    char big[PV_PIN_MAX + 8];
    memset(big, '7', sizeof big - 1);
    big[sizeof big - 1] = 0;
    write_pin(path, big, 0600);
    assert_int_equal(read_pin(path, pin, sizeof pin, err, sizeof err), -1);
    assert_non_null(strstr(err, "bytes or longer"));
    assert_null(strstr(err, "7777"));

    /* another user's file, even at 0600 */
    write_pin(path, "2468\n", 0600);
    assert_int_equal(geteuid(), 0);
    assert_int_equal(chown(path, 65534, 65534), 0);
    assert_int_equal(read_pin(path, pin, sizeof pin, err, sizeof err), -1);
    if (!strstr(err, "is owned by nobody") || !strstr(err, "not by the user running") ||
        !strstr(err, "chown 0 "))
        fail_msg("%s", err);
    assert_int_equal(chown(path, 0, 0), 0);

    /* what the policy checks is the file opened: a link to a loose file is refused, a link to
     * a tight one read */
    char loose[200], link[200];
    snprintf(loose, sizeof loose, "%s/loose-pin", dir);
    snprintf(link, sizeof link, "%s/pin-link", dir);
    write_pin(loose, "2468\n", 0644);
    unlink(link);
    assert_int_equal(symlink(loose, link), 0);
    assert_int_equal(read_pin(link, pin, sizeof pin, err, sizeof err), -1);
    assert_non_null(strstr(err, "has mode 0644"));
    assert_int_equal(chmod(loose, 0600), 0);
    assert_int_equal(read_pin(link, pin, sizeof pin, err, sizeof err), 0);

    /* not a regular file: named by type, without blocking on a FIFO */
    char fifo[200];
    snprintf(fifo, sizeof fifo, "%s/pin-fifo", dir);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    uint64_t t0 = sp_now_ms();
    assert_int_equal(read_pin(fifo, pin, sizeof pin, err, sizeof err), -1);
    assert_true(sp_now_ms() - t0 < 2000);
    assert_non_null(strstr(err, "is a FIFO (named pipe), not a regular file"));
    assert_int_equal(read_pin(dir, pin, sizeof pin, err, sizeof err), -1);
    assert_non_null(strstr(err, "is a directory, not a regular file"));
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(read_pin(path, pin, sizeof pin, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    /* the check alone (the bridge's configuration uses it) says the same */
    snprintf(path, sizeof path, "%s/pin", dir);
    write_pin(path, "2468\n", 0640);
    assert_int_equal(pv_pin_file_check(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "has mode 0640"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(pv_pin_file_check(path, err, sizeof err), 0);
}

static void test_argv(void **state)
{
    (void)state;
    char err[1024];
    static const char *const refused[] = {
        "--pin",     "--pin=1234", "--pi",        "--pin-", "--pin-fil",       "--pin-file-x",
        "--pincode", "--so-pin",   "--so-pin=99", "--so-p", "--so-pin-fi=1234"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *argv[] = {"provision", "image", "sign", (char *)(uintptr_t)refused[i], "1234", NULL};
        if (pv_pin_argv_check(5, argv, err, sizeof err) != -1)
            fail_msg("%s was accepted", refused[i]);
        if (!strstr(err, "a PIN is never given on the command line") ||
            !strstr(err, "chmod 600 FILE") || strstr(err, "1234"))
            fail_msg("%s: %s", refused[i], err);
    }
    static const char *const accepted[] = {"--pin-file",
                                           "--pin-file=/etc/pin",
                                           "--so-pin-file",
                                           "--so-pin-file=x",
                                           "--pkcs11",
                                           "--probe",
                                           "--socket",
                                           "--so",
                                           "--p"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        char *argv[] = {"provision", "keys", (char *)(uintptr_t)accepted[i], "f", NULL};
        if (pv_pin_argv_check(4, argv, err, sizeof err) != 0)
            fail_msg("%s was refused: %s", accepted[i], err);
    }
    /* after "--" an argument is an operand, not an option */
    char *after[] = {"provision", "x", "--", "--pin", NULL};
    assert_int_equal(pv_pin_argv_check(4, after, err, sizeof err), 0);

    /* both tools refuse before running anything, without echoing the PIN */
    char errf[200];
    snprintf(errf, sizeof errf, "%s/argv.err", dir);
    char out[8192];
    int rc = sp_run_capture(env.prov, (const char *const[]){"keys", "show", "--pin", "97531", NULL},
                            errf, out, sizeof out, NULL, 0);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--pin: a PIN is never given on the command line"));
    assert_null(strstr(out, "97531"));
    rc = sp_run_capture(env.prov,
                        (const char *const[]){"ledger", "confirm-locked", "--pin=97531", NULL},
                        errf, out, sizeof out, NULL, 0);
    assert_int_equal(rc, 2);
    assert_null(strstr(out, "97531"));
    rc =
        sp_run_capture(env.bridge_bin,
                       (const char *const[]){"serve", "--config", "x.yaml", "--pin", "97531", NULL},
                       errf, out, sizeof out, NULL, 0);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "token.pin_file"));
    assert_null(strstr(out, "97531"));
}

/* In this process: the value is kept, the variable is gone and the bytes it had are zero. */
static void test_env_taken_in_process(void **state)
{
    (void)state;
    char pin[PV_PIN_MAX], err[512];
    setenv(PV_PIN_ENV, "env-pin-1", 1);
    char *bytes = getenv(PV_PIN_ENV);
    assert_non_null(bytes);
    pv_pin_env_take();
    assert_null(getenv(PV_PIN_ENV));
    for (size_t i = 0; i < strlen("env-pin-1"); i++)
        assert_int_equal(bytes[i], 0);
    assert_int_equal(read_pin(NULL, pin, sizeof pin, err, sizeof err), 0);
    assert_string_equal(pin, "env-pin-1");
    /* read again (a bridge opens the token per product): the same value */
    assert_int_equal(read_pin(NULL, pin, sizeof pin, err, sizeof err), 0);
    assert_string_equal(pin, "env-pin-1");
    /* set again: taken again */
    setenv(PV_PIN_ENV, "env-pin-2", 1);
    assert_int_equal(read_pin(NULL, pin, sizeof pin, err, sizeof err), 0);
    assert_string_equal(pin, "env-pin-2");
    assert_null(getenv(PV_PIN_ENV));
    /* the SO PIN is its own variable */
    setenv(PV_SO_PIN_ENV, "so-pin-1", 1);
    assert_int_equal(
        pv_pin_read(NULL, PV_SO_PIN_ENV, NULL, "SO PIN", pin, sizeof pin, err, sizeof err), 0);
    assert_string_equal(pin, "so-pin-1");
    assert_null(getenv(PV_SO_PIN_ENV));
}

static char *read_all_proc(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    ssize_t got;
    while (b && (got = read(fd, b + n, cap - n)) > 0) {
        n += (size_t)got;
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    close(fd);
    *len = n;
    return b;
}

/* A real `hsm-bridge serve` given its PIN in $PROVISION_PIN: it opens the token with it (it
 * listens), and its /proc/PID/environ holds the PIN nowhere; the canary beside it is there. */
static void test_serve_environ(void **state)
{
    (void)state;
    struct bh_bridge b;
    assert_true(bh_bridge_init(&env, &b, "env-pin", NULL, 0));
    char text[4096];
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\n"
             "tls: {cert: %s, key: %s, station_ca: %s}\n"
             "ledger: \"%s\"\n"
             "products: [%s]\n"
             "shutdown_grace_s: 1\n",
             env.tls_crt, env.tls_key, env.ca_crt, b.ledger, env.recipe);
    assert_true(bh_write_file(b.config, text, 0644));
    setenv(PV_PIN_ENV, BH_PIN, 1);
    setenv("PV_TEST_CANARY", "canary-4711", 1);
    bool started = bh_bridge_start(&b);
    unsetenv(PV_PIN_ENV);
    unsetenv("PV_TEST_CANARY");
    assert_true(started);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%d/environ", (int)b.pid);
    size_t len = 0;
    char *e = read_all_proc(proc, &len);
    assert_non_null(e);
    assert_non_null(memmem(e, len, "PV_TEST_CANARY=canary-4711", 26));
    if (memmem(e, len, BH_PIN, strlen(BH_PIN)))
        fail_msg("hsm-bridge serve's /proc/PID/environ still holds the PIN");
    /* nor does the variable's name keep a value */
    for (size_t i = 0; i < len; i += strlen(e + i) + 1)
        if (strncmp(e + i, PV_PIN_ENV "=", strlen(PV_PIN_ENV) + 1) == 0 &&
            e[i + strlen(PV_PIN_ENV) + 1] != 0)
            fail_msg("environ entry %s", e + i);
    free(e);
    assert_int_equal(bh_bridge_stop(&b, SIGTERM), 0);
}

/* token.pin_file readable by others: serve refuses to start, naming the key, mode and fix. */
static void test_serve_loose_pin_file(void **state)
{
    (void)state;
    struct bh_bridge b;
    assert_true(bh_bridge_init(&env, &b, "loose-pin", NULL, 0));
    char loose[200], text[4096];
    snprintf(loose, sizeof loose, "%s/pin", b.dir);
    write_pin(loose, BH_PIN "\n", 0644);
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\n"
             "tls: {cert: %s, key: %s, station_ca: %s}\n"
             "token: {pin_file: pin}\n"
             "ledger: \"%s\"\n"
             "products: [%s]\n",
             env.tls_crt, env.tls_key, env.ca_crt, b.ledger, env.recipe);
    assert_true(bh_write_file(b.config, text, 0644));
    assert_false(bh_bridge_start(&b));
    char *log = bh_bridge_log(&b);
    if (!strstr(log, "token.pin_file") || !strstr(log, "has mode 0644") ||
        !strstr(log, "fix: chmod 600"))
        fail_msg("%s", log);
    assert_null(strstr(log, BH_PIN));
    free(log);
    /* station enrol (a command that opens the token) refuses it the same way */
    int rc = BH_CMD(&env, env.bridge_bin, "station", "list", "--config", b.config);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(env.out, "has mode 0644"));
    /* fixed: the configuration passes; station list reads a ledger that is not there yet and
     * creates nothing (a reading command) */
    assert_int_equal(chmod(loose, 0600), 0);
    assert_int_equal(BH_CMD(&env, env.bridge_bin, "station", "list", "--config", b.config), 10);
    assert_non_null(strstr(env.out, "not a ledger: no such file"));
    assert_int_equal(access(b.ledger, F_OK), -1);
}

/* provision run in local mode: a loose PIN file stops it before a probe, a ledger or the token
 * is touched (ledger checkpoint: test_ledger_checkpoint.c). */
static void test_station_commands_loose_pin_file(void **state)
{
    (void)state;
    char loose[200], ledger[200], errf[200], out[16384];
    snprintf(loose, sizeof loose, "%s/run-pin", dir);
    snprintf(ledger, sizeof ledger, "%s/run-ledger.db", dir);
    snprintf(errf, sizeof errf, "%s/run.err", dir);
    write_pin(loose, BH_PIN "\n", 0640);
    int rc = sp_run_capture(env.prov,
                            (const char *const[]){"run", "--recipe", env.recipe, "--pin-file",
                                                  loose, "--ledger", ledger, "--probe",
                                                  "gdb:127.0.0.1:1", NULL},
                            errf, out, sizeof out, NULL, 0);
    assert_int_equal(rc, 4);
    if (!strstr(out, "has mode 0640") || !strstr(out, "fix: chmod 600"))
        fail_msg("%s", out);
    assert_null(strstr(out, BH_PIN));
    assert_int_equal(access(ledger, F_OK), -1);
}

static int setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "test_pin_policy"))
        return -1;
    snprintf(dir, sizeof dir, "%s/policy", env.dir);
    return mkdir(dir, 0700);
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
        cmocka_unit_test(test_file_modes),
        cmocka_unit_test(test_argv),
        cmocka_unit_test(test_env_taken_in_process),
        cmocka_unit_test(test_serve_environ),
        cmocka_unit_test(test_serve_loose_pin_file),
        cmocka_unit_test(test_station_commands_loose_pin_file),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    if (rc == 0)
        bh_env_free(&env);
    return rc;
}
