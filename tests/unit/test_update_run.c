/* Firmware updates end to end on the virtual STM32F427 (tests/unit/bridge_harness.h): a device
 * provisioned with v1 through `hsm-bridge serve` and `provision run`, then `provision update`
 * over the sim's USART1 through the same bridge (the station as a separate process with no
 * token), the bootloader's update mode doing the device's side.
 *
 *  - v1 -> v2 (pinned): installed, three bridge round trips, v2 boots after a power cycle; again:
 *    nothing newer;
 *  - a pin back to v1: offered, refused by the device (exit 12, refused_version in the ledger),
 *    v2 still boots;
 *  - the latest release, 128 KB: the station killed in the middle of the DATA frames leaves the
 *    device in update mode; a replayed message 1 is refused (409 replay); a host-side initiator
 *    claiming the device's UID with its own PSK (403 psk_mismatch) and a UID never provisioned
 *    (403 unknown_uid) are refused; the station's memory in the middle of the transfer holds
 *    no run of the image in clear (the bridge's does); the rerun installs, bytes on the link
 *    within 1.05 of the image; the killed session ends abandoned at the TTL; every attempt is in
 *    the ledger, whose audit chain verifies;
 *  - an image signed by another key: `hsm-bridge release add` refuses it (exit 1);
 *  - local mode (`--recipe --image`, the token in the station's process) installs too, and
 *    `provision ledger history UID` lists every attempt;
 *  - `--serial` on a pty, the test playing the device (its PSK from the token): the image arrives
 *    whole and in order, the report is recorded; /dev/null is refused as not a serial port.
 * The figures of the 128 KB update are printed (make bench-update-bridge runs this program for
 * them). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "../../hsm-bridge/keys_config.h"
#include "../../hsm-bridge/keystore.h"
#include "../../provisioner/bridge_client.h"
#include "../../provisioner/update_link.h"
#include "image/image.h"
#include "noise/noise.h"
#include "noise/noise_provider_pv.h"
#include "proto/update_frame.h"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); see provisioner/main.c. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define TTL_S       30u
#define BIG_IMAGE   (128u * 1024u)
#define RUN_WAIT_MS 180000

static struct bh_env env;
static struct bh_bridge br;
static struct bh_station line1;
static struct bh_sim sim;
static struct bh_run run;
static uint8_t uid[12];
static char uid_hex[25], usart[64];
static char v2_img[200], v3_img[200], v4_img[200], other_img[200];
static char v2_sealed[240], v3_sealed[240], counters_path[200];

/* ---- setup ---- */

static bool sign(const char *bin, const char *out, const char *version, const char *key_pem)
{
    int rc;
    if (key_pem)
        return BH_CMD(&env, env.prov, "image", "sign", "--in", bin, "--out", out, "--image-version",
                      version, "--key", key_pem) == 0;
    setenv("PROVISION_PIN", BH_PIN, 1);
    rc = BH_CMD(&env, env.prov, "image", "sign", "--in", bin, "--out", out, "--image-version",
                version, "--pkcs11", "--token", BH_TOKEN, "--key-label", "image-signing");
    unsetenv("PROVISION_PIN");
    if (rc != 0)
        fprintf(stderr, "image sign %s: %s\n", out, env.out);
    return rc == 0;
}

/* The bridge's configuration with the release policy: v1, v2, v3; pin "" for none. */
static bool write_config(const char *pin)
{
    if (!bh_bridge_init(&env, &br, "upd", NULL, TTL_S))
        return false;
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "releases:\n"
                     "  - product: " BH_PRODUCT "\n"
                     "    images:\n"
                     "      - {version: 1.0.0, image: %s/app.sealed}\n"
                     "      - {version: 2.0.0, image: %s}\n"
                     "      - {version: 3.0.0, image: %s}\n",
                     env.dir, v2_sealed, v3_sealed);
    if (pin[0])
        snprintf(text + n, sizeof text - (size_t)n,
                 "    pins:\n      - {batch: " BH_BATCH ", version: %s}\n", pin);
    FILE *f = fopen(br.config, "a");
    if (!f)
        return false;
    fputs(text, f);
    fclose(f);
    return true;
}

static bool restart_bridge(const char *pin)
{
    if (br.pid > 0)
        bh_bridge_stop(&br, SIGTERM);
    char target[64];
    bh_sim_target(&sim, target, sizeof target);
    return write_config(pin) && bh_bridge_start(&br) && bh_station_config(&br, &line1, target);
}

static int setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "test_update_run"))
        return -1;
    char v2_bin[4200], v1_bin[4200], big_bin[200], other_key[200];
    snprintf(v2_bin, sizeof v2_bin, "%s/firmware/app_v2.bin", sp_arm_dir);
    snprintf(v1_bin, sizeof v1_bin, "%s/firmware/app_v1.bin", sp_arm_dir);
    snprintf(v2_img, sizeof v2_img, "%s/v2.img", env.dir);
    snprintf(v3_img, sizeof v3_img, "%s/v3.img", env.dir);
    snprintf(v4_img, sizeof v4_img, "%s/v4.img", env.dir);
    snprintf(other_img, sizeof other_img, "%s/other.img", env.dir);
    snprintf(big_bin, sizeof big_bin, "%s/big.bin", env.dir);
    snprintf(other_key, sizeof other_key, "%s/other.pem", env.dir);
    /* v3: the v2 program padded to a 128 KB image (header, payload, TLV area) */
    size_t len = 0;
    uint8_t *bin = (uint8_t *)sp_slurp(v2_bin, &len);
    size_t payload = BIG_IMAGE - 512 - PV_IMAGE_TLV_LEN; /* image sign's 512-byte header */
    if (!bin || len > payload)
        return -1;
    uint8_t *big = calloc(1, payload);
    memcpy(big, bin, len);
    FILE *f = fopen(big_bin, "wb");
    bool ok = f && fwrite(big, 1, payload, f) == payload;
    if (f)
        fclose(f);
    free(big);
    free(bin);
    if (!ok || !sign(v2_bin, v2_img, "2.0.0", NULL) || !sign(big_bin, v3_img, "3.0.0", NULL) ||
        !sign(v1_bin, v4_img, "4.0.0", NULL) ||
        BH_CMD(&env, "openssl", "genpkey", "-algorithm", "ed25519", "-out", other_key) != 0 ||
        !sign(v2_bin, other_img, "5.0.0", other_key))
        return -1;

    /* the bridge: releases added (checked against the product's key, sealed) */
    if (!bh_bridge_init(&env, &br, "upd", NULL, TTL_S))
        return -1;
    snprintf(v2_sealed, sizeof v2_sealed, "%s/releases/v2.pvseal", br.dir);
    snprintf(v3_sealed, sizeof v3_sealed, "%s/releases/v3.pvseal", br.dir);
    char rd[200];
    snprintf(rd, sizeof rd, "%s/releases", br.dir);
    mkdir(rd, 0700);
    if (BH_CMD(&env, env.bridge_bin, "release", "add", "--config", br.config, "--product",
               BH_PRODUCT, "--image", v2_img, "-o", v2_sealed) != 0 ||
        BH_CMD(&env, env.bridge_bin, "release", "add", "--config", br.config, "--product",
               BH_PRODUCT, "--image", v3_img, "-o", v3_sealed) != 0) {
        fprintf(stderr, "release add: %s\n", env.out);
        return -1;
    }
    if (!write_config("2.0.0") || !bh_station_enroll(&br, &line1, "line-1", BH_RIGHTS) ||
        !bh_bridge_start(&br))
        return -1;

    /* v1 through the real flow: provision run through the bridge */
    if (!bh_sim_start(&env, &sim, "dev", 7, NULL) || !bh_sim_uid(&sim, uid))
        return -1;
    bh_hex(uid_hex, uid, 12);
    char target[64];
    bh_sim_target(&sim, target, sizeof target);
    int rc = bh_station_run(&br, &line1, target, NULL, NULL, &run);
    if (rc != 0) {
        fprintf(stderr, "provision run: %d\n%s%s\n", rc, run.out, run.err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (br.pid > 0)
        bh_bridge_stop(&br, SIGTERM);
    if (sim.pid > 0)
        bh_sim_stop(&sim);
    bh_env_free(&env);
    return 0;
}

/* ---- the device ---- */

static char line_buf[65536];

/* After a power cycle the application prints its banner: "app: demo VERSION running". */
static void boots(const char *version)
{
    assert_int_equal(bh_sim_stop(&sim), 0);
    snprintf(counters_path, sizeof counters_path, "%s/counters.json", env.dir);
    char *extra[] = {"--counters-file", counters_path, NULL};
    assert_true(bh_sim_restart(&env, &sim, extra));
    int fd = sp_connect(sim.usart, 5000);
    assert_true(fd >= 0);
    char want[64];
    snprintf(want, sizeof want, "app: demo %s running", version);
    sp_read_until(fd, line_buf, sizeof line_buf, want, 10000);
    close(fd);
    usleep(300 * 1000); /* the sim takes one USART client at a time: let it see this one go */
    if (!strstr(line_buf, want))
        fail_msg("after a power cycle, want '%s'; the line says:\n%s", want, line_buf);
    snprintf(usart, sizeof usart, "tcp:127.0.0.1:%d", sim.usart);
    char target[64];
    bh_sim_target(&sim, target, sizeof target);
    assert_true(bh_station_config(&br, &line1, target));
}

/* The sim's counters now (instructions, cycles, device_ns, flash_ns, flash_ops). */
static json_t *counters(void)
{
    unlink(counters_path);
    kill(sim.pid, SIGUSR1);
    json_t *doc = NULL;
    for (int i = 0; i < 100 && !doc; i++) {
        usleep(20 * 1000);
        char *text = sp_slurp(counters_path, NULL);
        doc = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
    }
    assert_non_null(doc);
    return doc;
}

static double delta(json_t *a, json_t *b, const char *k)
{
    return (double)(json_integer_value(json_object_get(b, k)) -
                    json_integer_value(json_object_get(a, k)));
}

/* The application asks for update mode (its line "update"); the bootloader waits for START. */
static void enter_update_mode(void)
{
    int fd = sp_connect(sim.usart, 5000);
    assert_true(fd >= 0);
    sp_read_until(fd, line_buf, sizeof line_buf, "app: count", 5000);
    for (const char *c = "update\r\n"; *c; c++) {
        assert_int_equal(write(fd, c, 1), 1);
        usleep(20 * 1000);
    }
    sp_read_until(fd, line_buf, sizeof line_buf, "update: waiting for START", 10000);
    close(fd);
    if (!strstr(line_buf, "update: waiting for START"))
        fail_msg("the device did not enter update mode:\n%s", line_buf);
    usleep(300 * 1000); /* the sim notices the closed client before the station connects */
    snprintf(usart, sizeof usart, "tcp:127.0.0.1:%d", sim.usart);
}

/* provision update through the bridge, as the station (no token in its environment). */
static int station_update(bool wait)
{
    const char *envs[] = {"-SOFTHSM2_CONF", "-PROVISION_PIN", NULL};
    const char *args[] = {"update", "--usart", usart, "--config", line1.config, "--json", NULL};
    assert_true(bh_run_start(&env, &run, env.prov, envs, args));
    if (!wait)
        return -1;
    int st = bh_run_wait(&run, RUN_WAIT_MS);
    if (st < 0) {
        bh_run_kill(&run);
        fail_msg("provision update did not finish:\n%s%s", run.out, run.err);
    }
    return st;
}

/* The --json line of the last run. */
static json_t *outcome(void)
{
    const char *line = NULL;
    for (const char *p = run.out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (*p == '{')
            line = p;
    json_t *doc = line ? json_loadb(line, strcspn(line, "\n"), 0, NULL) : NULL;
    if (!doc)
        fail_msg("no JSON outcome in:\n%s\n%s", run.out, run.err);
    return doc;
}

static const char *jstr(json_t *d, const char *k)
{
    const char *v = json_string_value(json_object_get(d, k));
    return v ? v : "";
}

static json_int_t jint(json_t *d, const char *k)
{
    return json_integer_value(json_object_get(d, k));
}

/* ---- the ledger ---- */

struct rows {
    int n;
    pv_ledger_update u[32];
};

static int collect(void *ctx, const pv_ledger_update *u)
{
    struct rows *r = ctx;
    if (r->n < 32)
        r->u[r->n++] = *u;
    return 0;
}

static struct rows history(const uint8_t *of)
{
    struct rows r = {0};
    pv_ledger *l = bh_ledger_open(&br);
    assert_non_null(l);
    assert_int_equal(pv_ledger_update_list(l, of, collect, &r), PV_LEDGER_OK);
    pv_ledger_close(l);
    return r;
}

static int count_result(const struct rows *r, const char *result)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += strcmp(r->u[i].result, result) == 0;
    return n;
}

/* ---- a host-side initiator: message 1 with any UID and any PSK ---- */

static void forged_msg1(const uint8_t claim_uid[12], const uint8_t psk[32], uint8_t out[88])
{
    pv_upd_hello h = {.version = PV_UPD_VERSION,
                      .key_id = 1,
                      .boot_version = 0x01000000,
                      .app_version = 0x01000000,
                      .floor = 0x01000000,
                      .region_size = 0x60000,
                      .chunk_max = PV_UPD_CHUNK_MAX};
    memcpy(h.uid, claim_uid, 12);
    uint8_t hello[PV_UPD_HELLO_LEN], prologue[PV_UPD_PROLOGUE_LEN], e[32];
    pv_upd_hello_encode(hello, &h);
    pv_upd_prologue(prologue, hello);
    assert_int_equal(RAND_bytes(e, 32), 1);
    pv_noise_keys k = {{[PV_NOISE_KEY_E] = e, [PV_NOISE_KEY_PSK] = psk}};
    pv_noise_handshake hs;
    assert_int_equal(pv_noise_handshake_init(&hs, &pv_noise_provider_pv, &pv_noise_pattern_NNpsk0,
                                             1, prologue, sizeof prologue, &k),
                     0);
    memcpy(out, hello, PV_UPD_HELLO_LEN);
    assert_int_equal(pv_noise_handshake_write(&hs, NULL, 0, out + PV_UPD_HELLO_LEN, 48), 48);
    pv_noise_handshake_wipe(&hs);
}

static pv_bridge_client *station_client(void)
{
    struct pv_bridge_client_config cc = {
        .url = br.url, .cert = line1.crt, .key = line1.key, .ca = line1.ca};
    char err[512];
    pv_bridge_client *c = pv_bridge_client_new(&cc, err, sizeof err);
    if (!c)
        fail_msg("client: %s", err);
    return c;
}

/* ---- memory ---- */

static uint8_t *map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return NULL;
    *len = (size_t)st.st_size;
    return p;
}

/* Where a 16-byte run of secret occurs in the memory of process pid (stopped for the snapshot,
 * then continued if resume), outside its read-only file mappings; -1 if nowhere. */
static long in_memory(pid_t pid, const char *name, const uint8_t *secret, size_t secret_len,
                      bool resume)
{
    char core[220], pub_path[240];
    snprintf(core, sizeof core, "%s/%s.core", env.dir, name);
    snprintf(pub_path, sizeof pub_path, "%s.public", core);
    kill(pid, SIGSTOP);
    long n = bh_memory_snapshot(pid, core, pub_path);
    if (resume)
        kill(pid, SIGCONT);
    if (n < 1000000)
        fail_msg("memory of %s (%d): %ld bytes", name, (int)pid, n);
    size_t core_len = 0, pub_len = 0;
    uint8_t *mem = map_file(core, &core_len), *pub = map_file(pub_path, &pub_len);
    assert_non_null(mem);
    long at = bh_find_window(mem, core_len, secret, secret_len, pub, pub ? pub_len : 0);
    munmap(mem, core_len);
    if (pub)
        munmap(pub, pub_len);
    unlink(core);
    unlink(pub_path);
    return at;
}

/* ---- the proofs ---- */

static void test_v1_to_v2(void **state)
{
    (void)state;
    boots("1.0.0");
    enter_update_mode();
    int st = station_update(true);
    if (st != 0)
        fail_msg("exit %d:\n%s%s", st, run.out, run.err);
    json_t *o = outcome();
    assert_string_equal(jstr(o, "result"), "installed");
    assert_string_equal(jstr(o, "uid"), uid_hex);
    assert_string_equal(jstr(o, "offered"), "2.0.0");
    assert_int_equal(jint(o, "round_trips"), 3);
    json_decref(o);
    assert_non_null(
        strstr(run.err, "update: device reports installed")); /* --json: progress on stderr */
    boots("2.0.0");
    /* again: nothing newer, the device resets into v2 */
    enter_update_mode();
    assert_int_equal(station_update(true), 0);
    o = outcome();
    assert_string_equal(jstr(o, "result"), "up_to_date");
    assert_int_equal(jint(o, "round_trips"), 2); /* begin and report: no stream */
    json_decref(o);
    struct rows h = history(uid);
    assert_int_equal(h.n, 2);
    assert_string_equal(h.u[0].result, "installed");
    assert_int_equal(h.u[0].from_version, 0x01000000);
    assert_int_equal(h.u[0].now_version, 0x02000000);
    assert_string_equal(h.u[0].station, "line-1");
    assert_string_equal(h.u[1].result, "up_to_date");
}

static void test_downgrade_refused(void **state)
{
    (void)state;
    assert_true(restart_bridge("1.0.0"));
    boots("2.0.0");
    enter_update_mode();
    int st = station_update(true);
    if (st != 12)
        fail_msg("want exit 12, got %d:\n%s%s", st, run.out, run.err);
    json_t *o = outcome();
    assert_string_equal(jstr(o, "result"), "refused_version");
    assert_string_equal(jstr(o, "offered"), "1.0.0");
    json_decref(o);
    struct rows h = history(uid);
    assert_string_equal(h.u[h.n - 1].result, "refused_version");
    assert_int_equal(h.u[h.n - 1].offered_version, 0x01000000);
    assert_int_equal(h.u[h.n - 1].now_version, 0x02000000);
    boots("2.0.0"); /* nothing was erased */
}

static void test_drop_attacks_rerun(void **state)
{
    (void)state;
    assert_true(restart_bridge("")); /* the latest: 3.0.0, 128 KB */
    boots("2.0.0");
    enter_update_mode();
    /* the station dies in the middle of the DATA frames */
    station_update(false);
    uint64_t end = sp_now_ms() + 60000;
    while (!strstr(run.err, "DATA 12/") && sp_now_ms() < end && run.status < 0)
        bh_run_wait(&run, 50);
    if (!strstr(run.err, "DATA 12/"))
        fail_msg("no progress line DATA 12/:\n%s%s", run.out, run.err);
    /* the station, in the middle of the transfer with the whole stream fetched, holds no run
     * of the image in clear; the bridge, which unsealed it, does (the scan finds it) */
    size_t v3_len = 0;
    uint8_t *v3 = (uint8_t *)sp_slurp(v3_img, &v3_len);
    assert_non_null(v3);
    long at = in_memory(run.pid, "station", v3, v3_len, false); /* stays stopped, then dies */
    if (at >= 0)
        fail_msg("the station's memory holds the image in clear (offset %ld)", at);
    assert_true(in_memory(br.pid, "bridge", v3, v3_len, true) >= 0);
    free(v3);
    bh_run_kill(&run);
    usleep(300 * 1000);

    /* the device stays in update mode: a relay's START gets a fresh message 1 */
    char err[256];
    pv_upd_link *link = pv_upd_link_open(usart, err, sizeof err);
    if (!link)
        fail_msg("%s", err);
    pv_upd_frame f;
    int got = 0;
    for (int i = 0; i < 5 && got != 1; i++) {
        assert_int_equal(pv_upd_link_send(link, PV_UPD_START, NULL, 0), 0);
        do
            got = pv_upd_link_recv(link, &f, 8000, err, sizeof err);
        while (got == 1 && f.type != PV_UPD_MSG1);
    }
    assert_int_equal(got, 1);
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN];
    memcpy(msg1, f.body, sizeof msg1);
    pv_upd_hello hello;
    assert_int_equal(pv_upd_hello_decode(&hello, msg1), PV_UPD_OK);
    assert_int_equal(hello.app_version, 0); /* the first sector was erased */
    pv_upd_link_close(link);

    /* a replayed message 1 */
    pv_bridge_client *c = station_client();
    char sid[PV_BRIDGE_SESSION_ID_LEN];
    struct pv_bridge_update_offer off;
    struct pv_bridge_err e = {0};
    assert_int_equal(pv_bridge_client_update_begin(c, msg1, sizeof msg1, msg2, sid, &off, &e), 0);
    uint64_t last_begun = sp_now_ms();
    assert_int_equal(pv_bridge_client_update_begin(c, msg1, sizeof msg1, msg2, sid, &off, &e), -1);
    assert_int_equal(e.status, 409);
    assert_string_equal(e.error, "replay");
    /* another device's PSK claiming this UID; a UID never provisioned */
    uint8_t psk[32], forged[88], stranger[12];
    assert_int_equal(RAND_bytes(psk, 32), 1);
    forged_msg1(uid, psk, forged);
    assert_int_equal(pv_bridge_client_update_begin(c, forged, 88, msg2, sid, &off, &e), -1);
    assert_int_equal(e.status, 403);
    assert_string_equal(e.error, "psk_mismatch");
    memcpy(stranger, uid, 12);
    stranger[11] ^= 0x5a;
    forged_msg1(stranger, psk, forged);
    assert_int_equal(pv_bridge_client_update_begin(c, forged, 88, msg2, sid, &off, &e), -1);
    assert_int_equal(e.status, 403);
    assert_string_equal(e.error, "unknown_uid");
    pv_bridge_client_free(c);

    /* the rerun installs 3.0.0 */
    json_t *c0 = counters();
    int st = station_update(true);
    json_t *c1 = counters();
    if (st != 0)
        fail_msg("rerun: exit %d:\n%s%s", st, run.out, run.err);
    json_t *o = outcome();
    assert_string_equal(jstr(o, "result"), "installed");
    assert_string_equal(jstr(o, "offered"), "3.0.0");
    assert_int_equal(jint(o, "round_trips"), 3);
    json_int_t img = jint(o, "image_bytes"), out = jint(o, "link_bytes_out");
    assert_int_equal(img, BIG_IMAGE);
    double ratio = (double)out / (double)img;
    assert_true(ratio <= 1.05);
    json_t *sec = json_object_get(o, "seconds");
    fprintf(stderr,
            "update of a %lld-byte image through the bridge: handshake %.3f s, transfer %.3f s, "
            "device checks %.3f s, total %.3f s; %lld bytes to the device (%.4f of the image), "
            "%lld from it; %lld bridge round trips; %lld resends\n",
            (long long)img, json_real_value(json_object_get(sec, "handshake")),
            json_real_value(json_object_get(sec, "transfer")),
            json_real_value(json_object_get(sec, "device_checks")),
            json_real_value(json_object_get(sec, "total")), (long long)out, ratio,
            (long long)jint(o, "link_bytes_in"), (long long)jint(o, "round_trips"),
            (long long)jint(o, "resends"));
    fprintf(stderr,
            "device (the sim's counters over the whole session, handshake included): %.0f "
            "instructions (%.1f per image byte decrypted, hashed and written), %.0f cycles, "
            "device time %.3f s of which flash %.3f s (%.0f flash operations)\n",
            delta(c0, c1, "instructions"), delta(c0, c1, "instructions") / (double)img,
            delta(c0, c1, "cycles"), delta(c0, c1, "device_ns") / 1e9,
            delta(c0, c1, "flash_ns") / 1e9, delta(c0, c1, "flash_ops"));
    json_decref(c0);
    json_decref(c1);
    json_decref(o);
    boots("2.0.0"); /* the 3.0.0 image is the v2 program, padded */

    /* the killed session and the replay test's: abandoned at the TTL */
    while (sp_now_ms() < last_begun + (TTL_S + 3) * 1000u)
        usleep(200 * 1000);
    struct rows h = history(uid);
    assert_int_equal(count_result(&h, "abandoned"), 2);
    assert_int_equal(count_result(&h, "replay"), 1);
    assert_int_equal(count_result(&h, "psk_mismatch"), 1);
    assert_string_equal(h.u[h.n - 1].result, "installed");
    assert_int_equal(h.u[h.n - 1].bytes_written, BIG_IMAGE);
    struct rows s = history(stranger);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.u[0].result, "unknown_uid");
    /* the audit chain holds every attempt */
    pv_ledger *l = bh_ledger_open(&br);
    pv_ledger_verify_report rep;
    if (pv_ledger_verify_chain(l, NULL, NULL, &rep) != PV_LEDGER_OK)
        fail_msg("verify: %s", rep.message);
    pv_ledger_close(l);
}

static void test_foreign_image_refused(void **state)
{
    (void)state;
    char out[240];
    snprintf(out, sizeof out, "%s/releases/other.pvseal", br.dir);
    assert_int_equal(BH_CMD(&env, env.bridge_bin, "release", "add", "--config", br.config,
                            "--product", BH_PRODUCT, "--image", other_img, "-o", out),
                     1);
    assert_non_null(strstr(env.out, "refused"));
    assert_int_equal(access(out, F_OK), -1);
}

static void test_local_mode(void **state)
{
    (void)state;
    bh_bridge_stop(&br, SIGTERM); /* the desk uses the same token and ledger file */
    enter_update_mode();
    const char *envs[] = {"-PROVISION_PIN", NULL};
    const char *args[] = {"update",  "--usart",   usart,      "--recipe", env.recipe,
                          "--image", v4_img,      "--ledger", br.ledger,  "--pin-file",
                          env.pin,   "--station", "desk-1",   "--json",   NULL};
    assert_true(bh_run_start(&env, &run, env.prov, envs, args));
    int st = bh_run_wait(&run, RUN_WAIT_MS);
    if (st != 0)
        fail_msg("local mode: exit %d:\n%s%s", st, run.out, run.err);
    json_t *o = outcome();
    assert_string_equal(jstr(o, "result"), "installed");
    assert_string_equal(jstr(o, "offered"), "4.0.0");
    json_decref(o);
    boots("1.0.0"); /* 4.0.0 is the v1 program */
    struct rows h = history(uid);
    assert_string_equal(h.u[h.n - 1].result, "installed");
    assert_string_equal(h.u[h.n - 1].station, "desk-1");
    /* the device's firmware history, as an operator reads it */
    assert_int_equal(BH_CMD(&env, env.prov, "ledger", "history", uid_hex, "--ledger", br.ledger),
                     0);
    const char *want[] = {"installed",    "up_to_date", "refused_version", "abandoned",
                          "psk_mismatch", "replay",     "desk-1",          "line-1"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(env.out, want[i]))
            fail_msg("ledger history lacks %s:\n%s", want[i], env.out);
    assert_int_equal(BH_CMD(&env, env.prov, "ledger", "history", "xyz", "--ledger", br.ledger), 2);
}

/* ---- a serial port: provision update on a pty, the test playing the device ---- */

static int dev_frame(int fd, pv_upd_reader *rd, pv_upd_frame *f, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    while (sp_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        uint8_t c;
        if (read(fd, &c, 1) != 1)
            return -1;
        if (pv_upd_reader_push(rd, c, f) == PV_UPD_FRAME)
            return 1;
    }
    return 0;
}

static void dev_send(int fd, uint8_t type, const uint8_t *body, size_t len)
{
    uint8_t wire[PV_UPD_WIRE_MAX];
    int n = pv_upd_frame_encode(wire, sizeof wire, type, body, len);
    assert_true(n > 0);
    assert_int_equal(write(fd, wire, (size_t)n), n);
}

static void test_serial_port(void **state)
{
    (void)state;
    /* the device's PSK, as the token derives it (this test is the trusted side's owner) */
    pv_recipe *rc = calloc(1, sizeof *rc);
    pv_recipe_diags d;
    assert_int_equal(pv_recipe_load(env.recipe, 0, rc, &d), PV_RECIPE_OK);
    pv_recipe_diags_free(&d);
    char err[512];
    int unreadable = 0;
    pv_keystore *ks =
        pv_keys_open(rc, NULL, env.pin, 0, PV_KEYS_MASTER, err, sizeof err, &unreadable);
    if (!ks)
        fail_msg("keystore: %s", err);
    uint8_t psk[32];
    assert_int_equal(pv_keystore_device_psk(ks, uid, psk), 0);
    pv_keystore_close(ks);
    free(rc);

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    char pts[64];
    snprintf(pts, sizeof pts, "%s", ptsname(master));
    const char *envs[] = {"-PROVISION_PIN", NULL};
    const char *args[] = {"update",  "--serial",  pts,           "--recipe", env.recipe,
                          "--image", v2_img,      "--ledger",    br.ledger,  "--pin-file",
                          env.pin,   "--station", "desk-serial", "--json",   NULL};
    assert_true(bh_run_start(&env, &run, env.prov, envs, args));

    /* the device: START -> message 1 (it claims to run 1.0.0) */
    pv_upd_reader rd;
    pv_upd_reader_init(&rd);
    pv_upd_frame f;
    assert_int_equal(dev_frame(master, &rd, &f, 20000), 1);
    assert_int_equal(f.type, PV_UPD_START);
    pv_upd_hello h = {.version = PV_UPD_VERSION,
                      .key_id = 1,
                      .boot_version = 0x01000000,
                      .app_version = 0x01000000,
                      .floor = 0x01000000,
                      .region_size = 0x60000,
                      .chunk_max = PV_UPD_CHUNK_MAX};
    memcpy(h.uid, uid, 12);
    uint8_t msg1[PV_UPD_MSG1_LEN], prologue[PV_UPD_PROLOGUE_LEN], e[32], offer[PV_UPD_OFFER_LEN];
    pv_upd_hello_encode(msg1, &h);
    pv_upd_prologue(prologue, msg1);
    assert_int_equal(RAND_bytes(e, 32), 1);
    pv_noise_keys k = {{[PV_NOISE_KEY_E] = e, [PV_NOISE_KEY_PSK] = psk}};
    pv_noise_handshake hs;
    pv_noise_cipherstate tx, rx;
    assert_int_equal(pv_noise_handshake_init(&hs, &pv_noise_provider_pv, &pv_noise_pattern_NNpsk0,
                                             1, prologue, sizeof prologue, &k),
                     0);
    assert_int_equal(pv_noise_handshake_write(&hs, NULL, 0, msg1 + PV_UPD_HELLO_LEN, 48), 48);
    dev_send(master, PV_UPD_MSG1, msg1, sizeof msg1);
    assert_int_equal(dev_frame(master, &rd, &f, 20000), 1);
    assert_int_equal(f.type, PV_UPD_MSG2);
    assert_int_equal(pv_noise_handshake_read(&hs, f.body, f.body_len, offer, sizeof offer),
                     PV_UPD_OFFER_LEN);
    assert_int_equal(pv_noise_handshake_split(&hs, &tx, &rx), 0);
    pv_upd_offer o;
    assert_int_equal(pv_upd_offer_decode(&o, offer), PV_UPD_OK);
    assert_int_equal(o.version, 0x02000000);
    uint8_t u32[4];
    pv_upd_put32(u32, 0);
    dev_send(master, PV_UPD_READY, u32, 4);
    /* DATA until the image is whole, each ACKed */
    size_t v2_len = 0;
    uint8_t *v2 = (uint8_t *)sp_slurp(v2_img, &v2_len), *got = calloc(1, o.size);
    uint32_t have = 0;
    while (have < o.size) {
        assert_int_equal(dev_frame(master, &rd, &f, 20000), 1);
        assert_int_equal(f.type, PV_UPD_DATA);
        uint8_t pt[PV_UPD_OFFSET_LEN + PV_UPD_CHUNK_MAX];
        int m = pv_noise_cipher_decrypt(&rx, NULL, 0, f.body, f.body_len, pt, sizeof pt);
        assert_true(m > 4);
        assert_int_equal(pv_upd_get32(pt), have);
        memcpy(got + have, pt + 4, (size_t)m - 4);
        have += (uint32_t)m - 4;
        if (have < o.size) {
            pv_upd_put32(u32, have);
            dev_send(master, PV_UPD_ACK, u32, 4);
        }
    }
    assert_int_equal(o.size, v2_len);
    assert_memory_equal(got, v2, v2_len); /* the line carried the image, in order, intact */
    pv_upd_report rep = {.result = PV_UPD_INSTALLED,
                         .app_version = 0x02000000,
                         .floor = 0x02000000,
                         .written = have};
    uint8_t pt[PV_UPD_REPORT_LEN], ct[PV_UPD_REPORT_MSG_LEN];
    pv_upd_report_encode(pt, &rep);
    assert_int_equal(pv_noise_cipher_encrypt(&tx, NULL, 0, pt, sizeof pt, ct, sizeof ct),
                     PV_UPD_REPORT_MSG_LEN);
    dev_send(master, PV_UPD_REPORT, ct, sizeof ct);
    int st = bh_run_wait(&run, RUN_WAIT_MS);
    close(master);
    free(v2);
    free(got);
    if (st != 0)
        fail_msg("serial: exit %d:\n%s%s", st, run.out, run.err);
    json_t *out = outcome();
    assert_string_equal(jstr(out, "result"), "installed");
    json_decref(out);
    struct rows hist = history(uid);
    assert_string_equal(hist.u[hist.n - 1].station, "desk-serial");
    assert_string_equal(hist.u[hist.n - 1].result, "installed");
    /* not a serial port: refused at once */
    const char *bad[] = {"update", "--serial", "/dev/null", "--recipe",   env.recipe, "--image",
                         v2_img,   "--ledger", br.ledger,   "--pin-file", env.pin,    NULL};
    assert_true(bh_run_start(&env, &run, env.prov, envs, bad));
    assert_int_equal(bh_run_wait(&run, RUN_WAIT_MS), 8);
    assert_non_null(strstr(run.err, "not a serial port"));
}

int main(void)
{
    if (!sp_install(600))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_to_v2),           cmocka_unit_test(test_downgrade_refused),
        cmocka_unit_test(test_drop_attacks_rerun), cmocka_unit_test(test_foreign_image_refused),
        cmocka_unit_test(test_local_mode),         cmocka_unit_test(test_serial_port),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
