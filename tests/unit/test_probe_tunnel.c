/* `provision run` through a tunneled GDB server, as a remote customer's station reaches its probe:
 * the sim's GDB RSP front end behind bench/delay_proxy with 50 ms of injected round-trip delay.
 * The proxy counts the turns of the conversation (the station sending after an answer reached
 * it: every wait for the probe, plus any pause longer than the delay between two requests it
 * did not wait for), which must be at most 40 per device, stub upload included, so at most 2 s
 * of latency. The count is the proxy's, not a wall time; the chip must end provisioned and
 * locked as without the tunnel, and the station's own count of its waits must agree with what
 * the proxy saw (it cannot have waited more often than the proxy saw turns). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_process.h"

#include "../../hsm-bridge/keys_config.h"
#include "../../hsm-bridge/keystore.h"

#define TOKEN       "pv-tunnel"
#define PIN         "4711"
#define RTT_MS      "50"
#define TURNS_MAX   40u /* per device: 2 s of latency at 50 ms */
#define STATE_HDR   64u /* sim/state_file.c: header, fixed fields (OPTCR at +4), then flash */
#define STATE_FLASH (STATE_HDR + 608u)
#define STATE_SIZE  (STATE_FLASH + 2048u * 1024u)

static char tmpdir[64], prov_bin[4200], proxy_bin[4300], boot_path[4200], stub_path[4200];
static char recipe[128], ledger_db[128];

/* The token, the sealed bootloader and a recipe for the virtual STM32F427 (RDP Level 2). */
static int setup(void **state)
{
    (void)state;
    char conf[128], tokens[128], sealed[128], err[512];
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", tmpdir);
    snprintf(tokens, sizeof tokens, "%s/tokens", tmpdir);
    mkdir(tokens, 0700);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    setenv("PROVISION_PIN", PIN, 1);
    struct pv_keystore_config c = {.token_label = TOKEN,
                                   .pin = PIN,
                                   .master_label = "product-master",
                                   .noise_label = "noise-static",
                                   .signing_label = "image-signing",
                                   .at_rest_label = "product-master.at-rest",
                                   .audit_label = "ledger-audit"};
    if (pv_keystore_init_keys(&c, "123456", 0, err, sizeof err)) {
        fprintf(stderr, "keys init: %s\n", err);
        return -1;
    }
    pv_keystore *k = pv_keystore_open(&c, err, sizeof err);
    if (!k) {
        fprintf(stderr, "keystore: %s\n", err);
        return -1;
    }
    snprintf(sealed, sizeof sealed, "%s/bootloader.sealed", tmpdir);
    int rc = pv_keystore_seal_file(k, boot_path, sealed);
    if (rc)
        fprintf(stderr, "seal: %s\n", pv_keystore_error(k));
    pv_keystore_close(k);
    snprintf(recipe, sizeof recipe, "%s/tunnel.yaml", tmpdir);
    if (!(f = fopen(recipe, "w")))
        return -1;
    fprintf(f,
            "format: 1\nproduct: pv-tunnel\nbatch: tunnel-batch\nquota: 10\n"
            "chip:\n  family: stm32f4\n  part: STM32F427VIT6\n  device_id: 0x419\n"
            "  flash_kb: 2048\n"
            "probe:\n  backend: gdb\n  gdb:\n    remote: 127.0.0.1:1\n"
            "stub:\n  image: %s\n  sram_base: 0x20000000\n"
            "bootloader:\n  image: %s\n"
            "layout:\n"
            "  bootloader:\n    address: 0x08000000\n    size: 0x8000\n"
            "  key_slot:\n    address: 0x08008000\n    size: 0x4000\n"
            "  counter:\n    address: 0x0800C000\n    size: 0x4000\n"
            "  application:\n    address: 0x08010000\n    size: 0xF0000\n"
            "keys:\n  token: %s\n  master_key: product-master\n  noise_static_key: noise-static\n"
            "  image_signing_key: image-signing\n  audit_key: ledger-audit\n"
            "  key_id: 7\n  key_version: 2\n"
            "protection:\n  rdp_level: 2\n  write_protect: [0, 1, 2]\n",
            stub_path, sealed, TOKEN);
    fclose(f);
    snprintf(ledger_db, sizeof ledger_db, "%s/ledger.db", tmpdir);
    return rc;
}

/* Starts the delay proxy in front of target_port; returns its pid and sets *port. */
static pid_t start_proxy(int target_port, char *turns, int *port)
{
    char target[32], line[256];
    snprintf(target, sizeof target, "127.0.0.1:%d", target_port);
    char *argv[] = {proxy_bin, "--target", target, "--rtt-ms", RTT_MS, "--turns", turns, NULL};
    int out = -1;
    pid_t pid = sp_spawn(argv, &out, NULL);
    assert_true(pid > 0);
    assert_true(sp_read_line(out, line, sizeof line, 20000));
    close(out);
    const char *at = strstr(line, "listening on 127.0.0.1:");
    assert_non_null(at);
    *port = atoi(at + strlen("listening on 127.0.0.1:"));
    assert_true(*port > 0);
    return pid;
}

/* The turns of every connection the proxy logged as ended; waits up to 20 s for `conns`. */
static unsigned proxy_turns(const char *path, unsigned conns, unsigned *seen)
{
    uint64_t end = sp_now_ms() + 20000;
    unsigned turns = 0;
    do {
        char *log = sp_slurp(path, NULL);
        turns = 0;
        *seen = 0;
        for (char *l = log; l && (l = strstr(l, " turns ")) != NULL; l++) {
            turns += (unsigned)strtoul(l + 7, NULL, 10);
            (*seen)++;
        }
        free(log);
        if (*seen >= conns)
            break;
        usleep(20000);
    } while (sp_now_ms() < end);
    return turns;
}

static void test_run_through_tunnel(void **state)
{
    (void)state;
    char st[128], log[128], turns[128];
    snprintf(st, sizeof st, "%s/chip.state", tmpdir);
    snprintf(log, sizeof log, "%s/chip.log", tmpdir);
    snprintf(turns, sizeof turns, "%s/proxy.turns", tmpdir);
    char *sargs[] = {"--state",  st,           "--gdb-port", "0", "--quiet",
                     "--create", "--uid-seed", "4242",       NULL};
    char line[512];
    pid_t sim = sp_start_sim(sargs, log, line, sizeof line);
    assert_true(sim > 0);
    int gdb = sp_port(line, "gdb"), port;
    assert_true(gdb > 0);
    pid_t proxy = start_proxy(gdb, turns, &port);

    char probe[64], out_path[128];
    snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", port);
    snprintf(out_path, sizeof out_path, "%s/run.err", tmpdir);
    const char *args[] = {"run",      "--recipe", recipe,      "--probe",        probe,
                          "--ledger", ledger_db,  "--station", "remote-station", NULL};
    static char out[8192], err[16384];
    int status = sp_run_capture(prov_bin, args, out_path, out, sizeof out, err, sizeof err);
    if (status != 0 || !strstr(out, "rdp Level 2  ledger locked"))
        fail_msg("provision run through the tunnel exited %d:\n%s\n%s", status, out, err);

    unsigned conns = 0, t = proxy_turns(turns, 1, &conns);
    const char *rt = strstr(err, "provision: probe round trips: ");
    assert_non_null(rt);
    unsigned waits = (unsigned)strtoul(rt + strlen("provision: probe round trips: "), NULL, 10);
    fprintf(stderr,
            "    tunnel (%s ms round trip): %u turns seen by the proxy on %u connection(s), %u "
            "waits counted by the station (goal <= %u per device)\n",
            RTT_MS, t, conns, waits, TURNS_MAX);
    assert_int_equal(conns, 1);
    /* every wait of the station is a turn the proxy saw; a run needs more than a handful */
    assert_true(waits >= 8);
    assert_true(t >= waits);
    assert_true(t <= TURNS_MAX);
    kill(proxy, SIGKILL);
    sp_wait(proxy, 5000);

    /* the chip holds the bootloader and is locked: the sim's state file says RDP Level 2 */
    assert_int_equal(sp_stop(sim, 10000), 0);
    size_t len = 0, boot_len = 0;
    char *s = sp_slurp(st, &len), *boot = sp_slurp(boot_path, &boot_len);
    assert_non_null(s);
    assert_non_null(boot);
    assert_int_equal(len, STATE_SIZE);
    assert_memory_equal(s + STATE_FLASH, boot, boot_len);
    unsigned rdp = (uint8_t)s[STATE_HDR + 5]; /* OPTCR[15:8] */
    free(s);
    free(boot);
    assert_int_equal(rdp, 0xCC);
}

int main(void)
{
    if (!sp_install(120))
        return 1;
    snprintf(prov_bin, sizeof prov_bin, "%s", sp_sim_bin);
    *strrchr(prov_bin, '/') = 0;
    snprintf(proxy_bin, sizeof proxy_bin, "%s/delay_proxy", prov_bin);
    strcat(prov_bin, "/provision");
    snprintf(boot_path, sizeof boot_path, "%s/firmware/bootloader.bin", sp_arm_dir);
    snprintf(stub_path, sizeof stub_path, "%s/stub-loader/stub.bin", sp_arm_dir);
    if (access(prov_bin, X_OK) != 0 || access(proxy_bin, X_OK) != 0 ||
        access(boot_path, R_OK) != 0 || access(stub_path, R_OK) != 0) {
        fprintf(stderr, "%s, %s, %s or %s missing: run make first\n", prov_bin, proxy_bin,
                boot_path, stub_path);
        return 1;
    }
    if (!sp_make_tmpdir(tmpdir, sizeof tmpdir, "test_probe_tunnel"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_through_tunnel),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    if (sp_remove_tmpdir(tmpdir) != 0 && rc == 0)
        rc = 1;
    return rc;
}
