/* Per-device data end to end (docs/device-data.md, tests/unit/bridge_harness.h): `hsm-bridge
 * serve` with a recipe that asks for a serial, a MAC from a pool of two and an MES field from a
 * CSV file; stations run `provision` against virtual STM32F427s.
 *
 *  - a station that dies after the frames went out: the rerun of that chip gets the same values;
 *  - two chips get consecutive, formatted serials and the pool's two MACs; the record is in
 *    flash after the key slot, its signature verifies under the key slot's signer_pub for that
 *    chip's UID, and a copy with one byte changed does not;
 *  - an MES value failing its pattern is refused naming the field, a UID without an MES row is
 *    refused, an exhausted pool is refused: nothing is written to those chips;
 *  - the ledger rows and the export hold the values, and verify passes;
 *  - with source station, the values `provision run --mes` sends end in the record and ledger;
 *  - the chip powered on runs the demo application built with APP_DEVICE_DATA, which checks the
 *    record under the key slot's signer_pub and its own UID and prints its serial and MAC. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include "devdata/devdata.h"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); see provisioner/main.c. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define KEYSLOT_OFF 0x8000u /* the key slot's offset in flash (demo layout) */

static struct bh_env env;
static struct bh_bridge br;
static struct bh_station line1;
static struct bh_bridge br_station; /* the recipe takes the MES values from the station */
static struct bh_station line2;
static struct bh_run run;
static char mes_csv[200];
static int seed = 8300;

static void expect_run(const struct bh_run *r, int status, const char *needle)
{
    if (r->status != status || (needle && !strstr(r->err, needle)))
        fail_msg("provision exited %d (want %d, stderr with \"%s\"):\n%s%s", r->status, status,
                 needle ? needle : "", r->out, r->err);
}

/* The MES file: one row per "UID,hw_rev" line given. */
static void write_mes(const char *rows)
{
    char text[1024];
    snprintf(text, sizeof text, "uid,hw_rev,unused\r\n%s", rows);
    assert_true(bh_write_file(mes_csv, text, 0644));
}

/* A new chip and its UID. */
static void new_chip(struct bh_sim *s, const char *name, uint8_t uid[12], char hex[25])
{
    assert_true(bh_sim_start(&env, s, name, seed++, NULL));
    assert_true(bh_sim_uid(s, uid));
    bh_hex(hex, uid, 12);
}

static void run_on(const struct bh_sim *s)
{
    char target[64];
    bh_sim_target(s, target, sizeof target);
    bh_station_run(&br, &line1, target, NULL, NULL, &run);
}

/* The chip, powered off, has nothing in flash: the run was refused before any frame. */
static void assert_nothing_written(struct bh_sim *s)
{
    uint32_t optcr = 0;
    uint8_t *flash = NULL;
    assert_int_equal(bh_sim_stop(s), 0);
    assert_true(bh_state_read(s->state, &optcr, &flash));
    assert_true(bh_erased(flash, 0));
    assert_int_equal(optcr >> 8 & 0xFF, 0xAA);
    free(flash);
}

/* The locked chip's record: checks, carries serial, mac and hw_rev; a changed copy does not. */
static void assert_record(struct bh_sim *s, const uint8_t uid[12], const char *serial,
                          const uint8_t mac[6], const char *hw_rev)
{
    uint32_t optcr = 0;
    uint8_t *flash = NULL;
    assert_int_equal(bh_sim_stop(s), 0);
    assert_true(bh_state_read(s->state, &optcr, &flash));
    assert_int_equal(optcr >> 8 & 0xFF, 0xCC);
    const uint8_t *slot = flash + KEYSLOT_OFF, *rec = slot + PV_DEVDATA_OFFSET;
    const uint8_t *signer = slot + 64; /* the key slot's signer_pub */
    size_t len = 0, vlen;
    const uint8_t *v;
    unsigned type;
    assert_int_equal(pv_devdata_check(rec, PV_DEVDATA_MAX, signer, uid, &len), PV_DEVDATA_OK);
    assert_int_equal(pv_devdata_find(rec, "serial", &type, &v, &vlen), PV_DEVDATA_OK);
    assert_int_equal(type, PV_DEVDATA_TEXT);
    assert_int_equal(vlen, strlen(serial));
    assert_memory_equal(v, serial, vlen);
    assert_int_equal(pv_devdata_find(rec, "mac", &type, &v, &vlen), PV_DEVDATA_OK);
    assert_int_equal(type, PV_DEVDATA_MAC);
    assert_memory_equal(v, mac, 6);
    assert_int_equal(pv_devdata_find(rec, "hw_rev", &type, &v, &vlen), PV_DEVDATA_OK);
    assert_memory_equal(v, hw_rev, strlen(hw_rev));
    /* the bytes after the record are still erased */
    for (size_t i = len; i < PV_DEVDATA_MAX; i++)
        assert_int_equal(rec[i], 0xFF);
    /* the verifier catches a serial edited in place, and another chip's UID */
    uint8_t copy[PV_DEVDATA_MAX], other[12];
    memcpy(copy, rec, sizeof copy);
    pv_devdata_find(copy, "serial", &type, &v, &vlen);
    copy[v - copy + vlen - 1] ^= 0x01;
    assert_int_equal(pv_devdata_check(copy, sizeof copy, signer, uid, NULL),
                     PV_DEVDATA_ERR_SIGNATURE);
    memcpy(other, uid, 12);
    other[0] ^= 0x80;
    assert_int_equal(pv_devdata_check(rec, PV_DEVDATA_MAX, signer, other, NULL),
                     PV_DEVDATA_ERR_UID);
    free(flash);
}

static void test_values_refusals_and_export(void **state)
{
    (void)state;
    struct bh_sim a, b, c;
    uint8_t ua[12], ub[12], uc[12];
    char ha[25], hb[25], hc[25], rows[512];
    static const uint8_t mac0[6] = {0x02, 0, 0, 0, 0x10, 0x00},
                         mac1[6] = {0x02, 0, 0, 0, 0x10, 0x01};
    new_chip(&a, "dd-a", ua, ha);
    new_chip(&b, "dd-b", ub, hb);
    new_chip(&c, "dd-c", uc, hc);

    /* chip b's value fails the pattern; chip c has no row */
    snprintf(rows, sizeof rows, "%s,B2,x\r\n%s,b2,x\r\n", ha, hb);
    write_mes(rows);
    run_on(&b);
    expect_run(&run, 11, "(409 mes_invalid): field hw_rev for UID");
    assert_non_null(strstr(run.err, "does not match the pattern [A-Z][0-9]"));
    run_on(&c);
    expect_run(&run, 11, "(409 mes_missing): ");
    assert_non_null(strstr(run.err, "has no row for UID"));

    /* chip a: its station dies once the frames are out (the chip half written); the rerun gets
     * the values the first run was given, not new ones */
    char target[64];
    bh_sim_target(&a, target, sizeof target);
    bh_station_run(&br, &line1, target, env.hooks, "stop-after-begin", &run);
    assert_true(run.stopped);
    bh_run_kill(&run);
    pv_ledger *l0 = bh_ledger_open(&br);
    pv_ledger_devdata d0;
    assert_int_equal(pv_ledger_devdata_get(l0, ua, &d0), PV_LEDGER_OK);
    assert_string_equal(d0.serial, "SN-demo-001-000001");
    pv_ledger_close(l0);
    run_on(&a);
    expect_run(&run, 0, NULL);
    assert_record(&a, ua, "SN-demo-001-000001", mac0, "B2");

    /* the application reads them on the chip */
    assert_true(bh_sim_restart(&env, &a, NULL));
    int fd = sp_connect(a.usart, 5000);
    char con[4096] = "";
    assert_true(fd >= 0);
    sp_read_until(fd, con, sizeof con, "\r\napp: count 0", 30000);
    close(fd);
    assert_int_equal(bh_sim_stop(&a), 0);
    if (!strstr(con, "app: demo 1.0.0 running\r\napp: serial SN-demo-001-000001, mac "
                     "02:00:00:00:10:00\r\n"))
        fail_msg("the application did not print its serial and MAC; console:\n%s", con);

    /* chip b once the MES corrected it: the next ones */
    snprintf(rows, sizeof rows, "%s,B2,x\r\n%s,C3,x\r\n%s,D4,x\r\n", ha, hb, hc);
    write_mes(rows);
    run_on(&b);
    expect_run(&run, 0, NULL);
    assert_record(&b, ub, "SN-demo-001-000002", mac1, "C3");

    /* chip c: the pool of two is used up */
    run_on(&c);
    expect_run(&run, 11,
               "(409 pool_exhausted): ledger: MAC pool 02:00:00:00:10:00..02:00:00:00:10:01 "
               "is exhausted");
    assert_nothing_written(&c);

    /* the ledger: two allocations, audited */
    pv_ledger *l = bh_ledger_open(&br);
    pv_ledger_devdata d;
    assert_int_equal(pv_ledger_devdata_get(l, ub, &d), PV_LEDGER_OK);
    assert_string_equal(d.serial, "SN-demo-001-000002");
    assert_string_equal(d.mac_text, "02:00:00:00:10:01");
    assert_string_equal(d.mes, "{\"hw_rev\":\"C3\"}");
    assert_int_equal(pv_ledger_devdata_get(l, uc, &d), PV_LEDGER_E_UNKNOWN);
    pv_ledger_verify_report rep;
    assert_int_equal(pv_ledger_verify_chain(l, NULL, NULL, &rep), PV_LEDGER_OK);
    pv_ledger_close(l);

    /* the export carries them */
    assert_int_equal(
        BH_CMD(&env, env.prov, "ledger", "export", "--format", "csv", "--ledger", br.ledger), 0);
    assert_non_null(strstr(env.out, ",serial,mac,mes"));
    assert_non_null(strstr(env.out, "SN-demo-001-000001,02:00:00:00:10:00,"));
    assert_non_null(strstr(env.out, "SN-demo-001-000002,02:00:00:00:10:01,"));
    assert_int_equal(
        BH_CMD(&env, env.prov, "ledger", "export", "--format", "jsonl", "--ledger", br.ledger), 0);
    assert_non_null(strstr(env.out, "\"serial\":\"SN-demo-001-000002\""));
    assert_non_null(strstr(env.out, "\"hw_rev\":\"C3\""));
}

/* The station passes the MES values in its request (provision run --mes): the bridge validates
 * them, writes them into the record and records them. */
static void test_values_from_the_station(void **state)
{
    (void)state;
    struct bh_sim e;
    uint8_t ue[12];
    char he[25], target[64];
    new_chip(&e, "dd-e", ue, he);
    bh_sim_target(&e, target, sizeof target);
    assert_true(bh_station_config(&br_station, &line2, target));
    const char *envs[] = {"-SOFTHSM2_CONF", "-PROVISION_PIN", NULL};
    const char *args[] = {"run", "--config", line2.config, "--mes", "{\"hw_rev\": \"Q7\"}", NULL};
    assert_true(bh_run_start(&env, &run, env.prov, envs, args));
    assert_true(bh_run_wait(&run, 90000) >= 0);
    expect_run(&run, 0, NULL);
    static const uint8_t mac0[6] = {0x02, 0, 0, 0, 0x10, 0x00};
    assert_record(&e, ue, "SN-demo-001-000001", mac0, "Q7");
    pv_ledger *l = bh_ledger_open(&br_station);
    pv_ledger_devdata d;
    assert_int_equal(pv_ledger_devdata_get(l, ue, &d), PV_LEDGER_OK);
    assert_string_equal(d.mes, "{\"hw_rev\":\"Q7\"}");
    pv_ledger_close(l);
}

static int setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "test_device_data_run"))
        return -1;
    /* the demo recipe with a device_data section */
    size_t len = 0;
    char *text = sp_slurp(env.recipe, &len);
    if (!text)
        return -1;
    char recipe[160], full[16384];
    snprintf(mes_csv, sizeof mes_csv, "%s/mes.csv", env.dir);
    snprintf(recipe, sizeof recipe, "%.100s/devdata.yaml", env.dir);
    snprintf(full, sizeof full,
             "%s\n"
             "device_data:\n"
             "  serial:\n"
             "    format: \"SN-{batch}-{counter:06}\"\n"
             "  mac:\n"
             "    first: 02:00:00:00:10:00\n"
             "    last: 02:00:00:00:10:01\n"
             "  mes:\n"
             "    source: file\n"
             "    file: %s\n"
             "    fields:\n"
             "      - {name: hw_rev, type: text, max_length: 2, pattern: \"[A-Z][0-9]\"}\n",
             text, mes_csv);
    free(text);
    /* with the demo application that prints the record, signed in the token and sealed */
    char dd_bin[4300], dd_img[160], dd_sealed[160], from[200], to[200];
    snprintf(dd_bin, sizeof dd_bin, "%s", env.app_bin);
    char *base = strstr(dd_bin, "app_v1.bin");
    if (!base)
        return -1;
    snprintf(base, sizeof dd_bin - (size_t)(base - dd_bin), "app_devdata.bin");
    snprintf(dd_img, sizeof dd_img, "%.100s/app_devdata.img", env.dir);
    snprintf(dd_sealed, sizeof dd_sealed, "%.100s/app_devdata.sealed", env.dir);
    setenv("PROVISION_PIN", BH_PIN, 1);
    int rc =
        BH_CMD(&env, env.prov, "image", "sign", "--in", dd_bin, "--out", dd_img, "--image-version",
               "1.0.0", "--pkcs11", "--token", BH_TOKEN, "--key-label", "image-signing");
    unsetenv("PROVISION_PIN");
    if (rc != 0 || BH_CMD(&env, env.prov, "keys", "seal", "--recipe", env.recipe, "--pin-file",
                          env.pin, dd_img, dd_sealed) != 0) {
        fprintf(stderr, "app_devdata sign/seal: %s\n", env.out);
        return -1;
    }
    snprintf(from, sizeof from, "image: %.100s/app.sealed", env.dir);
    snprintf(to, sizeof to, "  image: %.100s", dd_sealed);
    if (!bh_replace_line(full, sizeof full, from, to) || !bh_write_file(recipe, full, 0644))
        return -1;
    /* the same with the MES values from the station's request */
    char station_recipe[160], *src = strstr(full, "    source: file\n");
    if (!src)
        return -1;
    memcpy(src, "    source: station\n", 20); /* over "source: file\n    f" */
    char *file_line = strstr(src, "ile: ");
    if (!file_line)
        return -1;
    memmove(src + 20, strchr(file_line, '\n') + 1, strlen(strchr(file_line, '\n') + 1) + 1);
    snprintf(station_recipe, sizeof station_recipe, "%.100s/devdata-station.yaml", env.dir);
    if (!bh_write_file(station_recipe, full, 0644))
        return -1;
    snprintf(env.recipe, sizeof env.recipe, "%s", station_recipe);
    if (!bh_bridge_init(&env, &br_station, "dd-station", NULL, 0) ||
        !bh_station_enroll(&br_station, &line2, "line-2", BH_RIGHTS) ||
        !bh_bridge_start(&br_station))
        return -1;
    snprintf(env.recipe, sizeof env.recipe, "%s", recipe);
    if (!bh_bridge_init(&env, &br, "dd", NULL, 0) ||
        !bh_station_enroll(&br, &line1, "line-1", BH_RIGHTS) || !bh_bridge_start(&br))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (br.pid > 0)
        bh_bridge_stop(&br, SIGTERM);
    if (br_station.pid > 0)
        bh_bridge_stop(&br_station, SIGTERM);
    return 0;
}

int main(void)
{
    if (!sp_install(240))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_refusals_and_export),
        cmocka_unit_test(test_values_from_the_station),
    };
    uint64_t t0 = sp_now_ms();
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    fprintf(stderr, "test_device_data_run: %.1f s\n", (double)(sp_now_ms() - t0) / 1000.0);
    if (rc == 0)
        bh_env_free(&env);
    return rc;
}
