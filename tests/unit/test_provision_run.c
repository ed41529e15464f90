/* `provision run` end to end, as a station runs it: the built CLI against virtual STM32F427s
 * (sim processes on loopback), a SoftHSM2 token made for this test (own SOFTHSM2_CONF), a
 * sealed bootloader and a ledger file. After a run the chip's state file must hold the
 * bootloader and a key slot whose PSK is the token's PSK for that UID, RDP Level 2, the debug
 * port dead, the bootloader must boot (its USART says so), and the ledger must say locked.
 * Every refusal leaves flash and ledger as they were; a power cut in each phase, then a rerun,
 * ends locked with one ledger row counted once; a station dying after the lock and before the
 * ledger says so gets the rerun's exit 6 naming the pending row, and confirm-locked closes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_process.h"

#include "../../hsm-bridge/keystore.h"
#include "../../hsm-bridge/ledger.h"
#include "../../hsm-bridge/ledger_ed25519.h"
#include "../../provisioner/commands.h"
#include "../../hsm-bridge/keys_config.h"
#include "../../provisioner/probe.h"
#include <openssl/evp.h>
#include <sqlite3.h>

#include "image/layout.h"
#include "keyslot/keyslot.h"
#include "proto/proto.h"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA, when this process signs audit
 * entries); p11_module.c suppresses leaks under libsofthsm2.so, which only the slow unwinder
 * reaches through libcrypto (as in test_keystore.c). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define FLASH_BASE   0x08000000u
#define FLASH_SIZE   (2048u * 1024u)
#define KEYSLOT_ADDR 0x08008000u
#define STATE_HDR    64u
#define STATE_FIXED  608u /* sim/state_file.c: fields before the flash */
#define TOKEN        "pv-test"
#define PIN          "4711"

static char tmpdir[64], prov_bin[4200], boot_path[4200], stub_path[4200], hooks_bin[4200];
static char sealed[128], recipe_ok[128], ledger_db[128];
static uint8_t *boot_img;
static size_t boot_len;
static int seed = 100;      /* every chip its own UID */
static int seed_again = -1; /* >= 0: the next new chip gets this seed (the same UID as before) */
static const char *next_counters;  /* the next sim start writes its counters (JSON) here */
static unsigned long full_run_ops; /* flash operations of a whole run (test_run_gdb) */
/* The sectors recipe_ok's run erases (bootloader 0-1, key slot 2): on the chips the flash-op
 * cuts start from they hold old contents (sim --used-flash), so the run erases each before its
 * first write; test_run_gdb's factory-fresh chip needs no erase at all. */
#define USED_SECTORS "0x7"
#define USED_ERASES  3u

/* ---- the token, the recipes ---- */

static struct pv_keystore_config key_cfg(const char *token, const char *master)
{
    struct pv_keystore_config c = {
        .token_label = token,
        .pin = PIN,
        .master_label = master,
        .noise_label = "noise-static",
        .signing_label = "image-signing",
        .at_rest_label = "product-master.at-rest", /* keys_config.h */
        .audit_label = "ledger-audit",
    };
    return c;
}

static unsigned recipe_rdp = 2; /* protection.rdp_level of the recipes write_recipe writes */

/* A recipe for the virtual chip; tweak is appended YAML-wise by replacing keys via printf. */
static void write_recipe(const char *path, const char *image, unsigned flash_kb, unsigned quota,
                         const char *token, const char *master)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "format: 1\nproduct: pv-test\nbatch: test-batch\nquota: %u\n"
            "chip:\n  family: stm32f4\n  part: STM32F427VIT6\n  device_id: 0x419\n"
            "  flash_kb: %u\n"
            "probe:\n  backend: gdb\n  gdb:\n    remote: 127.0.0.1:1\n"
            "  openocd:\n    target: target/stm32f4x.cfg\n    commands:\n"
            "      - \"stm32f4x.cpu configure -event reset-start {}\"\n"
            "      - \"stm32f4x.cpu configure -event reset-init {}\"\n"
            "stub:\n  image: %s\n  sram_base: 0x20000000\n"
            "bootloader:\n  image: %s\n"
            "layout:\n"
            "  bootloader:\n    address: 0x08000000\n    size: 0x8000\n"
            "  key_slot:\n    address: 0x08008000\n    size: 0x4000\n"
            "  counter:\n    address: 0x0800C000\n    size: 0x4000\n"
            "  application:\n    address: 0x08010000\n    size: 0xF0000\n"
            "keys:\n  token: %s\n  master_key: %s\n  noise_static_key: noise-static\n"
            "  image_signing_key: image-signing\n  audit_key: ledger-audit\n"
            "  key_id: 7\n  key_version: 2\n"
            "protection:\n  rdp_level: %u\n  write_protect: [0, 1, 2]\n",
            quota, flash_kb, stub_path, image, token, master, recipe_rdp);
    fclose(f);
}

/* ---- chips ---- */

struct sim {
    pid_t pid;
    int gdb, usart, bitbang, dap;
    char state[160], log[160];
};

static void sim_start_args(struct sim *s, const char *state, bool create, char *cut_op)
{
    char sd[16], st[160];
    snprintf(st, sizeof st, "%s", state); /* state may be s->state */
    snprintf(s->state, sizeof s->state, "%s", st);
    snprintf(s->log, sizeof s->log, "%s.log", state);
    snprintf(sd, sizeof sd, "%d", seed_again >= 0 ? seed_again : seed++);
    seed_again = -1;
    char *args[20];
    int n = 0;
    args[n++] = "--state";
    args[n++] = s->state;
    args[n++] = "--gdb-port";
    args[n++] = "0";
    args[n++] = "--bitbang-port";
    args[n++] = "0";
    args[n++] = "--usart-port";
    args[n++] = "0";
    args[n++] = "--dap-port";
    args[n++] = "0";
    args[n++] = "--quiet";
    if (create) {
        args[n++] = "--create";
        args[n++] = "--uid-seed";
        args[n++] = sd;
    }
    if (cut_op && strncmp(cut_op, "cycle:", 6) == 0) {
        args[n++] = "--power-cut-cycle";
        args[n++] = cut_op + 6;
    } else if (cut_op) {
        args[n++] = "--power-cut-flash-op";
        args[n++] = cut_op;
        if (create) { /* a used chip: the run erases its 3 sectors, so a cut can land there */
            args[n++] = "--used-flash";
            args[n++] = USED_SECTORS;
        }
    }
    char counters[200];
    if (next_counters) {
        snprintf(counters, sizeof counters, "%s", next_counters);
        next_counters = NULL;
        args[n++] = "--counters-file";
        args[n++] = counters;
    }
    args[n] = NULL;
    char line[512];
    s->pid = sp_start_sim(args, s->log, line, sizeof line);
    assert_true(s->pid > 0);
    s->gdb = sp_port(line, "gdb");
    s->usart = sp_port(line, "usart");
    s->bitbang = sp_port(line, "bitbang");
    s->dap = sp_port(line, "dap");
    assert_true(s->gdb > 0 && s->usart > 0 && s->bitbang > 0 && s->dap > 0);
}

static void sim_start(struct sim *s, const char *name, bool create)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s.state", tmpdir, name);
    sim_start_args(s, path, create, NULL);
}

/* Power off: the sim writes the state file. Returns its exit status (3: the power cut fired). */
static int sim_stop(struct sim *s)
{
    int st = sp_stop(s->pid, 10000);
    s->pid = 0;
    return st;
}

static void read_state(const char *path, uint8_t *flash, uint32_t *optcr, uint8_t uid[12])
{
    size_t len;
    char *b = sp_slurp(path, &len);
    assert_non_null(b);
    assert_true(len == STATE_HDR + STATE_FIXED + FLASH_SIZE);
    const uint8_t *p = (const uint8_t *)b + STATE_HDR;
    *optcr = pv_ld32(p + 4);
    memcpy(flash, p + STATE_FIXED, FLASH_SIZE);
    free(b);
    (void)uid;
}

static bool all_erased(const uint8_t *flash)
{
    for (size_t i = 0; i < FLASH_SIZE; i++)
        if (flash[i] != 0xFF)
            return false;
    return true;
}

/* The chip's UID through its GDB port (before it is locked). */
static void read_uid(const struct sim *s, uint8_t uid[12])
{
    pv_probe_link l;
    char t[64], err[256];
    snprintf(t, sizeof t, "127.0.0.1:%d", s->gdb);
    int rc = pv_probe_connect(&l, &pv_probe_gdb_ops, t, 10000, err, sizeof err);
    if (rc)
        fail_msg("probe: %s", err);
    assert_int_equal(l.ops->read_mem(l.p, 0x1FFF7A10u, uid, 12), 0);
    pv_probe_disconnect(&l);
}

/* ---- running provision ---- */

struct result {
    int status;
    char out[8192], err[16384];
};

/* Runs provision with args (NULL-terminated); if kill_at is given, SIGKILLs it as soon as that
 * text shows up in its stderr. */
static void provision(struct result *res, const char *kill_at, char *const *args)
{
    char *argv[40];
    int n = 0;
    argv[n++] = prov_bin;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char errpath[200];
    snprintf(errpath, sizeof errpath, "%s/provision.err", tmpdir);
    unlink(errpath);
    int out = -1;
    pid_t pid = sp_spawn(argv, &out, errpath);
    assert_true(pid > 0);
    size_t got = 0;
    uint64_t end = sp_now_ms() + 60000;
    res->out[0] = 0;
    res->status = -1;
    bool killed = false;
    while (sp_now_ms() < end) {
        struct pollfd pfd = {.fd = out, .events = POLLIN};
        if (poll(&pfd, 1, 20) > 0) {
            ssize_t r = read(out, res->out + got, sizeof res->out - 1 - got);
            if (r > 0) {
                got += (size_t)r;
                res->out[got] = 0;
            } else if (r == 0)
                pfd.fd = -1;
        }
        if (kill_at && !killed) {
            char *e = sp_slurp(errpath, NULL);
            if (e && strstr(e, kill_at)) {
                kill(pid, SIGKILL);
                killed = true;
            }
            free(e);
        }
        int st = sp_wait(pid, 0);
        if (st >= 0) {
            res->status = st;
            break;
        }
    }
    close(out);
    if (res->status < 0) {
        kill(pid, SIGKILL);
        sp_wait(pid, 5000);
        fail_msg("provision did not finish in 60 s");
    }
    char *e = sp_slurp(errpath, NULL);
    snprintf(res->err, sizeof res->err, "%s", e ? e : "");
    free(e);
}

static void run_gdb(struct result *res, char *recipe, const struct sim *s, const char *kill)
{
    char probe[64];
    snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", s->gdb);
    char *args[] = {"run",      "--recipe", recipe,      "--probe",      probe,
                    "--ledger", ledger_db,  "--station", "test-station", NULL};
    provision(res, kill, args);
}

static void expect_exit(const struct result *res, int code, const char *msg)
{
    if (res->status != code || (msg && !strstr(res->err, msg)))
        fail_msg("provision exited %d (expected %d with '%s'):\n%s%s", res->status, code,
                 msg ? msg : "", res->out, res->err);
}

/* ---- checks on a provisioned chip ---- */

static pv_ledger *ledger(void)
{
    char err[256];
    pv_ledger *l = pv_ledger_open(ledger_db, 0, err, sizeof err);
    if (!l)
        fail_msg("ledger: %s", err);
    return l;
}

static int ledger_state(const uint8_t uid[12], pv_ledger_row *row)
{
    pv_ledger *l = ledger();
    pv_ledger_row r;
    int rc = pv_ledger_get(l, uid, row ? row : &r);
    pv_ledger_close(l);
    return rc;
}

static uint32_t batch_used(void)
{
    pv_ledger *l = ledger();
    uint32_t q = 0, used = 0;
    int rc = pv_ledger_batch(l, "test-batch", &q, &used);
    pv_ledger_close(l);
    return rc == PV_LEDGER_OK ? used : 0;
}

/* Flash = the bootloader, the key slot with the token's PSK for uid, erased elsewhere; RDP
 * Level 2; the debug port dead; the bootloader boots and accepts the key slot; ledger locked. */
static void assert_locked_chip(struct sim *s, const uint8_t uid[12])
{
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    read_state(s->state, flash, &optcr, NULL);
    assert_int_equal((optcr >> 8) & 0xFF, 0xCC);
    assert_int_equal((optcr >> 16) & 0x7, 0); /* nWRP: sectors 0-2 write-protected */
    assert_memory_equal(flash, boot_img, boot_len);
    pv_keyslot ks;
    assert_int_equal(pv_keyslot_decode(&ks, flash + (KEYSLOT_ADDR - FLASH_BASE), uid),
                     PV_KEYSLOT_OK);
    assert_int_equal(ks.key_id, 7);
    assert_int_equal(ks.key_version, 2);
    struct pv_keystore_config c = key_cfg(TOKEN, "product-master");
    char err[512];
    pv_keystore *k = pv_keystore_open(&c, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    uint8_t psk[32], spub[32];
    assert_int_equal(pv_keystore_device_psk(k, uid, psk), 0);
    assert_int_equal(pv_keystore_signer_public(k, spub), 0);
    pv_keystore_close(k);
    assert_memory_equal(ks.psk, psk, 32);
    assert_memory_equal(ks.signer_pub, spub, 32);
    for (size_t i = 0; i < FLASH_SIZE; i++) {
        uint32_t a = FLASH_BASE + (uint32_t)i;
        if (i < boot_len || (a >= KEYSLOT_ADDR && a < KEYSLOT_ADDR + PV_KEYSLOT_LEN))
            continue;
        if (flash[i] != 0xFF)
            fail_msg("flash at 0x%08x is 0x%02x, expected erased", (unsigned)a, flash[i]);
    }
    pv_ledger_row row;
    assert_int_equal(ledger_state(uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);

    /* power on: the debug port is dead, the bootloader runs and accepts its key slot */
    sim_start_args(s, s->state, false, NULL);
    int fd = sp_connect(s->usart, 5000);
    assert_true(fd >= 0);
    char con[2048];
    sp_read_until(fd, con, sizeof con, "boot: refused", 10000);
    close(fd);
    if (!strstr(con, "pvboot ") || !strstr(con, "boot: key slot ok (key id 7)") ||
        !strstr(con, "boot: refused"))
        fail_msg("bootloader console: %s", con);
    pv_probe_link l;
    char t[64];
    snprintf(t, sizeof t, "127.0.0.1:%d", s->gdb);
    assert_int_equal(pv_probe_connect(&l, &pv_probe_gdb_ops, t, 5000, err, sizeof err),
                     PV_PROBE_ERR_DEAD);
    pv_probe_disconnect(&l);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- tests ---- */

static char locked_state[160]; /* a chip provisioned by the first test */
static int locked_seed;        /* its UID seed */

static void test_run_gdb(void **state)
{
    (void)state;
    struct sim s;
    uint8_t uid[12];
    char counters[160];
    snprintf(counters, sizeof counters, "%s/gdb.counters.json", tmpdir);
    next_counters = counters;
    locked_seed = seed;
    sim_start(&s, "gdb", true);
    read_uid(&s, uid);
    struct result res;
    char probe[64];
    snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", s.gdb);
    char *args[] = {"run",     "--recipe",  recipe_ok,      "--probe", probe, "--ledger",
                    ledger_db, "--station", "test-station", "--json",  NULL};
    provision(&res, NULL, args);
    expect_exit(&res, 0, NULL);
    char hex[25];
    for (int i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", uid[i]);
    assert_non_null(strstr(res.out, hex));
    assert_non_null(strstr(res.out, "\"ledger_state\":\"locked\""));
    assert_non_null(strstr(res.out, "\"rdp\":\"Level 2\""));
    assert_non_null(strstr(res.out, "\"result\":\"ok\""));
    assert_int_equal(sim_stop(&s), 0);
    /* Anyone with the exported audit public key can check every signature of the chain. */
    char pem[200];
    snprintf(pem, sizeof pem, "%s/audit.pem", tmpdir);
    char *ex[] = {"keys", "export", "--recipe", recipe_ok, "--key", "audit", "-o", pem, NULL};
    provision(&res, NULL, ex);
    expect_exit(&res, 0, NULL);
    assert_non_null(strstr(res.out, "exported the audit public key"));
    char *ve[] = {"ledger", "verify", "--ledger", ledger_db, "--key", pem, NULL};
    provision(&res, NULL, ve);
    expect_exit(&res, 0, NULL);
    assert_non_null(strstr(res.out, "signatures: every entry signed by ed25519:"));
    /* how many flash operations a whole run takes: the last one writes the option bytes */
    char *c = sp_slurp(counters, NULL), *ops = c ? strstr(c, "\"flash_ops\":") : NULL;
    if (!ops)
        fail_msg("no flash_ops in the sim's counters file %s", counters);
    full_run_ops = strtoul(ops + strlen("\"flash_ops\":"), NULL, 10);
    free(c);
    /* a factory-fresh chip is not erased: the bootloader's and key slot's words and the option
     * bytes are every operation (the stub's blank check) */
    assert_int_equal(full_run_ops, (boot_len + 3) / 4 + PV_KEYSLOT_LEN / 4 + 1);
    assert_locked_chip(&s, uid);
    assert_int_equal(batch_used(), 1);
    snprintf(locked_state, sizeof locked_state, "%s", s.state);
}

/* The same through unmodified OpenOCD (spawned by provision from the recipe) and through the
 * CMSIS-DAP backend (the sim's DAP-over-TCP front end). */
static void run_backend(const char *name, bool openocd)
{
    struct sim s;
    uint8_t uid[12];
    sim_start(&s, name, true);
    read_uid(&s, uid);
    uint32_t used = batch_used();
    struct result res;
    char probe[64], port[64];
    if (openocd) {
        snprintf(port, sizeof port, "remote_bitbang port %d", s.bitbang);
        char *args[] = {"run",
                        "--recipe",
                        recipe_ok,
                        "--probe",
                        "openocd",
                        "-c",
                        "adapter driver remote_bitbang",
                        "-c",
                        "remote_bitbang host 127.0.0.1",
                        "-c",
                        port,
                        "--ledger",
                        ledger_db,
                        "--quiet",
                        NULL};
        provision(&res, NULL, args);
    } else {
        snprintf(probe, sizeof probe, "cmsis-dap:tcp:127.0.0.1:%d", s.dap);
        char *args[] = {"run",      "--recipe", recipe_ok, "--probe", probe,
                        "--ledger", ledger_db,  "--quiet", NULL};
        provision(&res, NULL, args);
    }
    expect_exit(&res, 0, NULL);
    assert_string_equal(res.out, ""); /* --quiet */
    assert_int_equal(sim_stop(&s), 0);
    assert_locked_chip(&s, uid);
    assert_int_equal(batch_used(), used + 1);
}

static void test_run_openocd(void **state)
{
    (void)state;
    run_backend("openocd", true);
}

static void test_run_cmsisdap(void **state)
{
    (void)state;
    run_backend("cmsisdap", false);
}

/* `provision info`: the identity of a fresh chip, matching the recipe or not; a locked chip. */
static void test_info(void **state)
{
    (void)state;
    struct sim s;
    uint8_t uid[12];
    sim_start(&s, "info", true);
    read_uid(&s, uid);
    char probe[64], hex[25], wrong[128];
    for (int i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", uid[i]);
    snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", s.gdb);
    struct result res;
    char *a1[] = {"info", "--recipe", recipe_ok, "--probe", probe, "--ledger", ledger_db, NULL};
    provision(&res, NULL, a1);
    expect_exit(&res, 0, NULL);
    assert_non_null(strstr(res.out, hex));
    assert_non_null(strstr(res.out, "DEV_ID 0x419"));
    assert_non_null(strstr(res.out, "2048 KB"));
    assert_non_null(strstr(res.out, "Level 0"));
    assert_non_null(strstr(res.out, "matches"));
    snprintf(wrong, sizeof wrong, "%s/info-wrong.yaml", tmpdir);
    write_recipe(wrong, sealed, 1024, 100, TOKEN, "product-master");
    char *a2[] = {"info", "--recipe", wrong, "--probe", probe, "--json", NULL};
    provision(&res, NULL, a2);
    expect_exit(&res, PV_EXIT_WRONG_CHIP, NULL);
    assert_non_null(strstr(res.out, "\"matches_recipe\":false"));
    assert_int_equal(sim_stop(&s), 0);
    /* the chip of test_run_gdb: locked, its ledger row shown by run, dead port for info */
    if (!locked_state[0])
        fail_msg("test_run_gdb did not leave a locked chip to inspect");
    sim_start_args(&s, locked_state, false, NULL);
    snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", s.gdb);
    char *a3[] = {"info", "--probe", probe, NULL};
    provision(&res, NULL, a3);
    expect_exit(&res, PV_EXIT_LOCKED, "debug port dead");
    assert_int_equal(sim_stop(&s), 0);
}

/* A refusal: the exit code and message, flash untouched (still erased), no ledger row. */
static void refused(char *recipe, int code, const char *msg, bool probe_down)
{
    struct sim s;
    uint8_t uid[12];
    sim_start(&s, "refuse", true);
    read_uid(&s, uid);
    uint32_t used = batch_used();
    struct result res;
    if (probe_down) {
        char probe[64];
        snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", sp_free_port());
        char *args[] = {"run", "--recipe", recipe, "--probe", probe, "--ledger", ledger_db, NULL};
        provision(&res, NULL, args);
    } else
        run_gdb(&res, recipe, &s, NULL);
    expect_exit(&res, code, msg);
    assert_int_equal(sim_stop(&s), 0);
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    read_state(s.state, flash, &optcr, NULL);
    assert_true(all_erased(flash));
    assert_int_equal((optcr >> 8) & 0xFF, 0xAA);
    assert_int_equal(ledger_state(uid, NULL), PV_LEDGER_E_UNKNOWN);
    assert_int_equal(batch_used(), used);
    unlink(s.state);
}

static void test_refuse_wrong_chip(void **state)
{
    (void)state;
    char r[128];
    snprintf(r, sizeof r, "%s/wrong-flash.yaml", tmpdir);
    write_recipe(r, sealed, 1024, 100, TOKEN, "product-master");
    refused(r, PV_EXIT_WRONG_CHIP, "wrong chip: it has 2048 KB of flash", false);
}

static void test_refuse_token_missing(void **state)
{
    (void)state;
    char r[128];
    snprintf(r, sizeof r, "%s/no-token.yaml", tmpdir);
    write_recipe(r, sealed, 2048, 100, "no-such-token", "product-master");
    refused(r, PV_EXIT_KEY, "no-such-token", false);
}

static void test_refuse_key_missing(void **state)
{
    (void)state;
    char r[128];
    snprintf(r, sizeof r, "%s/no-key.yaml", tmpdir);
    write_recipe(r, sealed, 2048, 100, TOKEN, "no-such-master");
    refused(r, PV_EXIT_KEY, "no-such-master", false);
}

static void test_refuse_probe_unreachable(void **state)
{
    (void)state;
    refused(recipe_ok, PV_EXIT_PROBE, "probe unreachable", true);
}

static void test_refuse_quota(void **state)
{
    (void)state;
    char r[128];
    snprintf(r, sizeof r, "%s/quota.yaml", tmpdir);
    /* the batch has counted the chip of test_run_gdb (and perhaps more): quota = used */
    uint32_t used = batch_used();
    assert_true(used >= 1);
    write_recipe(r, sealed, 2048, used, TOKEN, "product-master");
    refused(r, PV_EXIT_QUOTA, "quota", false);
}

static void test_refuse_locked_chip(void **state)
{
    (void)state;
    struct sim s;
    if (!locked_state[0])
        fail_msg("test_run_gdb did not leave a locked chip to refuse");
    sim_start_args(&s, locked_state, false, NULL);
    struct result res;
    run_gdb(&res, recipe_ok, &s, NULL);
    expect_exit(&res, PV_EXIT_LOCKED, "chip locked");
    assert_int_equal(sim_stop(&s), 0);
}

/* A blank chip with the UID of a chip the ledger has locked (a clone, or a chip swapped back on
 * the fixture): refused by the ledger, nothing written. */
static void test_refuse_already_provisioned(void **state)
{
    (void)state;
    seed_again = locked_seed;
    struct sim s;
    uint8_t uid[12];
    sim_start(&s, "clone", true);
    read_uid(&s, uid);
    pv_ledger_row row;
    assert_int_equal(ledger_state(uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    uint32_t used = batch_used();
    struct result res;
    char probe[64];
    snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", s.gdb);
    char *args[] = {"run",      "--recipe", recipe_ok, "--probe", probe,
                    "--ledger", ledger_db,  "--json",  NULL};
    provision(&res, NULL, args);
    expect_exit(&res, PV_EXIT_LOCKED, "locked already");
    assert_non_null(strstr(res.out, "\"result\":\"error\""));
    assert_non_null(strstr(res.out, "\"failed_phase\":\"reserve\""));
    assert_int_equal(sim_stop(&s), 0);
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    read_state(s.state, flash, &optcr, NULL);
    assert_true(all_erased(flash));
    assert_int_equal(batch_used(), used);
    pv_ledger_row after;
    assert_int_equal(ledger_state(uid, &after), PV_LEDGER_OK);
    assert_int_equal(after.attempts, row.attempts);
    assert_int_equal(after.failures, row.failures);
}

static void test_refuse_plain_image(void **state)
{
    (void)state;
    char r[128];
    snprintf(r, sizeof r, "%s/plain.yaml", tmpdir);
    write_recipe(r, boot_path, 2048, 100, TOKEN, "product-master");
    refused(r, PV_EXIT_INVALID, "not sealed at rest", false);
}

/* ---- the recipe's application ---- */

/* A recipe with an application: seals `img` and appends it to a copy of the good recipe. */
static void recipe_with_app(char *recipe, size_t cap, const char *name, const char *img)
{
    char sealed_app[200];
    snprintf(sealed_app, sizeof sealed_app, "%s/%s.sealed", tmpdir, name);
    struct pv_keystore_config c = key_cfg(TOKEN, "product-master");
    char err[512];
    pv_keystore *k = pv_keystore_open(&c, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    if (pv_keystore_seal_file(k, img, sealed_app))
        fail_msg("seal %s: %s", img, pv_keystore_error(k));
    pv_keystore_close(k);
    snprintf(recipe, cap, "%s/%s.yaml", tmpdir, name);
    write_recipe(recipe, sealed, 2048, 100, TOKEN, "product-master");
    FILE *f = fopen(recipe, "a");
    assert_non_null(f);
    fprintf(f, "application:\n  image: %s\n", sealed_app);
    fclose(f);
}

/* run installs the application signed by the token's key; after the lock the bootloader checks
 * it and boots it. */
static void test_run_with_application(void **state)
{
    (void)state;
    char app_img[200], bin[4200], r[200];
    snprintf(app_img, sizeof app_img, "%s/app.img", tmpdir);
    snprintf(bin, sizeof bin, "%s/firmware/app_v1.bin", sp_arm_dir);
    setenv("PROVISION_PIN", PIN, 1);
    struct result res;
    char *sign[] = {"image",           "sign",  "--in",     bin,       "--out", app_img,
                    "--image-version", "1.4.2", "--pkcs11", "--token", TOKEN,   "--key-label",
                    "image-signing",   NULL};
    provision(&res, NULL, sign);
    expect_exit(&res, 0, NULL);
    recipe_with_app(r, sizeof r, "with-app", app_img);

    struct sim s;
    sim_start(&s, "app", true);
    run_gdb(&res, r, &s, NULL);
    expect_exit(&res, 0, NULL);
    assert_non_null(strstr(res.err, "application"));
    assert_int_equal(sim_stop(&s), 0);
    sim_start_args(&s, s.state, false, NULL);
    int fd = sp_connect(s.usart, 5000);
    assert_true(fd >= 0);
    char con[4096];
    sp_read_until(fd, con, sizeof con, "app: count 1", 15000);
    close(fd);
    if (!strstr(con, "boot: image 1.4.2") || !strstr(con, "boot: signature ok") ||
        !strstr(con, "app: count 1"))
        fail_msg("console after provisioning with an application: %s", con);
    assert_int_equal(sim_stop(&s), 0);
    unlink(s.state);
}

/* An application the chip would refuse (signed by another key) is refused before anything is
 * touched: flash erased, no ledger row, quota unchanged. */
static void test_refuse_foreign_application(void **state)
{
    (void)state;
    char img[4200], r[200];
    snprintf(img, sizeof img, "%s/firmware/app_v1.img", sp_arm_dir); /* the build's test key */
    recipe_with_app(r, sizeof r, "foreign-app", img);
    refused(r, PV_EXIT_INVALID, "would not boot", false);
}

/* ---- power cuts and interrupted sessions, then a rerun ---- */

enum cut_at { CUT_HANDSHAKE, CUT_ERASE, CUT_WRITE, CUT_KEYSLOT, CUT_OPTIONS, CUT_KILL };

/* The chip after the interruption is where the test meant to interrupt it. */
static void assert_cut_where(const uint8_t *flash, enum cut_at at)
{
    const uint8_t *slot = flash + (KEYSLOT_ADDR - FLASH_BASE);
    bool slot_erased = true, boot_done = memcmp(flash, boot_img, boot_len) == 0;
    for (size_t i = 0; i < PV_KEYSLOT_LEN; i++)
        slot_erased &= slot[i] == 0xFF;
    switch (at) {
    case CUT_HANDSHAKE: /* the stub was still computing its key exchange: flash untouched */
        assert_true(all_erased(flash));
        break;
    case CUT_ERASE: /* in the erase of the bootloader's second sector: its first one written,
                       the key slot's sector old */
        assert_false(boot_done);
        assert_memory_equal(flash, boot_img, 0x4000);
        assert_false(slot_erased);
        break;
    case CUT_WRITE: /* part of the bootloader; the key slot's sector old (erased after the
                       bootloader, next to the slot's write), no key slot */
        assert_false(boot_done);
        assert_memory_equal(flash, boot_img, 1024);
        assert_false(slot_erased);
        assert_false(memcmp(slot, "PVKS", 4) == 0);
        break;
    case CUT_KEYSLOT: /* the whole bootloader, part of the key slot */
        assert_true(boot_done);
        assert_false(slot_erased);
        break;
    case CUT_OPTIONS: /* everything written, the option bytes as they were (sim keeps them) */
        assert_true(boot_done);
        assert_false(slot_erased);
        break;
    case CUT_KILL:
        break;
    }
}

static void cut_then_rerun(char *cut_op, const char *kill_at, enum cut_at at)
{
    struct sim s;
    uint8_t uid[12];
    char path[160];
    snprintf(path, sizeof path, "%s/cut-%s.state", tmpdir,
             !cut_op               ? "kill"
             : strchr(cut_op, ':') ? strchr(cut_op, ':') + 1
                                   : cut_op);
    sim_start_args(&s, path, true, cut_op);
    read_uid(&s, uid);
    uint32_t used = batch_used();
    struct result res;
    run_gdb(&res, recipe_ok, &s, kill_at);
    if (cut_op) {
        expect_exit(&res, PV_EXIT_SESSION, NULL);
        assert_int_equal(sp_wait(s.pid, 10000), 3); /* the cut fired: the sim is off */
        s.pid = 0;
    } else {
        assert_int_equal(res.status, 128 + SIGKILL);
        assert_int_equal(sim_stop(&s), 0);
    }
    pv_ledger_row row;
    if (at == CUT_HANDSHAKE) {
        /* message 1 never reached the trusted side: nothing reserved, nothing counted */
        assert_int_equal(ledger_state(uid, &row), PV_LEDGER_E_UNKNOWN);
        assert_int_equal(batch_used(), used);
        assert_non_null(strstr(res.err, "stub"));
        static uint8_t blank[FLASH_SIZE];
        uint32_t opt;
        read_state(path, blank, &opt, NULL);
        assert_int_equal((opt >> 8) & 0xFF, 0xAA);
        assert_cut_where(blank, at);
        sim_start_args(&s, path, false, NULL);
        run_gdb(&res, recipe_ok, &s, NULL);
        expect_exit(&res, 0, NULL);
        assert_int_equal(sim_stop(&s), 0);
        assert_locked_chip(&s, uid);
        assert_int_equal(ledger_state(uid, &row), PV_LEDGER_OK);
        assert_int_equal(row.attempts, 1);
        assert_int_equal(batch_used(), used + 1);
        return;
    }
    assert_int_equal(ledger_state(uid, &row), PV_LEDGER_OK);
    assert_true(row.state < PV_LEDGER_LOCKED);
    if (cut_op) { /* provision saw the chip die: the failure is in the ledger with its phase */
        assert_int_equal(row.failures, 1);
        assert_true(row.last_failure[0] != 0);
        if (at == CUT_HANDSHAKE && !strstr(row.last_failure, "stub"))
            fail_msg("the cut was meant to hit the stub's key exchange; the ledger says: %s",
                     row.last_failure);
    }
    assert_int_equal(batch_used(), used + 1);
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    read_state(path, flash, &optcr, NULL);
    assert_int_equal((optcr >> 8) & 0xFF, 0xAA); /* never locked without a verified record */
    assert_cut_where(flash, at);
    if (at == CUT_OPTIONS) {
        assert_int_equal((optcr >> 16) & 0x7, 0x7); /* no sector write-protected yet */
        assert_int_equal(row.state, PV_LEDGER_VERIFIED);
        pv_keyslot ks;
        assert_int_equal(pv_keyslot_decode(&ks, flash + (KEYSLOT_ADDR - FLASH_BASE), uid),
                         PV_KEYSLOT_OK);
        assert_non_null(strstr(row.last_failure, "lock"));
    }

    sim_start_args(&s, path, false, NULL);
    run_gdb(&res, recipe_ok, &s, NULL);
    expect_exit(&res, 0, NULL);
    assert_int_equal(sim_stop(&s), 0);
    assert_locked_chip(&s, uid);
    assert_int_equal(ledger_state(uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.attempts, 2);
    assert_int_equal(batch_used(), used + 1);
}

/* The cut hits while the stub computes message 1 (its X25519s, about 2.8 M cycles after it
 * starts; a blank chip has run nothing before): the trusted side never saw message 1, so nothing
 * is reserved or written; the rerun locks with one attempt. */
static void test_cut_in_handshake(void **state)
{
    (void)state;
    cut_then_rerun("cycle:1500000", NULL, CUT_HANDSHAKE);
}

static void test_cut_in_erase(void **state)
{
    (void)state;
    char k[32];
    /* a sector is erased next to its first write: sector 0's erase (operation 1) and its 4096
     * words, then sector 1's erase */
    snprintf(k, sizeof k, "%u", 2u + 0x4000u / 4u);
    cut_then_rerun(k, NULL, CUT_ERASE);
}

static void test_cut_in_bootloader_write(void **state)
{
    (void)state;
    cut_then_rerun("1000", NULL, CUT_WRITE);
}

static void test_cut_in_keyslot_write(void **state)
{
    (void)state;
    char k[32];
    /* erases (3 sectors, each before its first write) + the bootloader's words, then the key
     * slot's */
    snprintf(k, sizeof k, "%zu", USED_ERASES + (boot_len + 3) / 4 + 8);
    cut_then_rerun(k, NULL, CUT_KEYSLOT);
}

/* The final frame: the cut hits while the stub writes RDP Level 2 and nWRP. The row is at
 * verified, the chip at Level 0 with everything written; the rerun resumes the row (not counted
 * again), redoes the session and locks. */
static void test_cut_in_option_write(void **state)
{
    (void)state;
    /* at least: the bootloader's words + a key slot write + the option write */
    unsigned long min = (boot_len + 3) / 4 + 1 + 1;
    if (full_run_ops < min)
        fail_msg("test_run_gdb counted %lu flash operations, fewer than the %lu a run needs",
                 full_run_ops, min);
    char k[32];
    /* the used chip's run erases first: the option write comes that many operations later */
    snprintf(k, sizeof k, "%lu", full_run_ops + USED_ERASES);
    cut_then_rerun(k, NULL, CUT_OPTIONS);
}

static void test_killed_mid_session(void **state)
{
    (void)state;
    cut_then_rerun(NULL, "erase", CUT_KILL);
}

/* ---- a lock the ledger missed: the station dies after the lock, before `locked` ---- */

/* The audit chain with every signature checked against the token's audit key; its entries. */
static int64_t assert_chain_ok(void)
{
    struct pv_keystore_config c = key_cfg(TOKEN, "product-master");
    char err[512];
    pv_keystore *k = pv_keystore_open(&c, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    uint8_t pub[32];
    assert_int_equal(pv_keystore_audit_public(k, pub), 0);
    pv_keystore_close(k);
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    assert_non_null(key);
    pv_ledger *l = ledger();
    pv_ledger_verify_report rep;
    /* The production verifier: entries must name the audit key by its fingerprint. */
    int rc = pv_ledger_verify_chain(l, pv_ledger_ed25519_verify, key, &rep);
    pv_ledger_close(l);
    EVP_PKEY_free(key);
    if (rc != PV_LEDGER_OK || !rep.signatures)
        fail_msg("audit chain: %s", rep.message);
    return rep.entries;
}

static void confirm(struct result *res, char *uid_hex, char *reason)
{
    char *args[] = {"ledger",   "confirm-locked", "--uid",   uid_hex,     "--recipe",
                    recipe_ok,  "--ledger",       ledger_db, "--station", "test-station",
                    "--reason", reason,           NULL};
    provision(res, NULL, args);
}

static char crashed_uid[25]; /* the device of test_crash_after_lock, locked and confirmed */

static void test_crash_after_lock(void **state)
{
    (void)state;
    struct sim s;
    uint8_t uid[12];
    sim_start(&s, "after-lock", true);
    read_uid(&s, uid);
    char hex[25];
    for (int i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", uid[i]);
    uint32_t used = batch_used();
    struct result res;
    /* the test build of provision (tests/provision-hooks): the one make builds has no hook */
    char plain[sizeof prov_bin];
    snprintf(plain, sizeof plain, "%s", prov_bin);
    snprintf(prov_bin, sizeof prov_bin, "%s", hooks_bin);
    setenv("PROVISION_TEST_CRASH_AT", "after-lock", 1);
    run_gdb(&res, recipe_ok, &s, NULL);
    unsetenv("PROVISION_TEST_CRASH_AT");
    snprintf(prov_bin, sizeof prov_bin, "%s", plain);
    if (res.status != 128 + SIGKILL)
        fail_msg("provision exited %d, expected to die after the lock:\n%s", res.status, res.err);
    assert_int_equal(sim_stop(&s), 0);
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    read_state(s.state, flash, &optcr, NULL);
    assert_int_equal((optcr >> 8) & 0xFF, 0xCC); /* the chip is locked */
    pv_ledger_row row;
    assert_int_equal(ledger_state(uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_VERIFIED); /* ... the ledger does not know */
    assert_int_equal(batch_used(), used + 1);

    /* the rerun: a dead port, exit 6, naming the device left at verified and the way out */
    sim_start_args(&s, s.state, false, NULL);
    run_gdb(&res, recipe_ok, &s, NULL);
    expect_exit(&res, PV_EXIT_LOCKED, "debug port is dead");
    if (!strstr(res.err, hex) || !strstr(res.err, "left at verified") ||
        !strstr(res.err, "provision ledger confirm-locked --uid"))
        fail_msg("the dead-port message does not name %s and the recovery:\n%s", hex, res.err);
    assert_int_equal(sim_stop(&s), 0);
    pv_ledger_row again;
    assert_int_equal(ledger_state(uid, &again), PV_LEDGER_OK);
    assert_int_equal(again.state, PV_LEDGER_VERIFIED);
    assert_int_equal(again.attempts, row.attempts);

    /* `ledger list --state verified` shows it */
    char *la[] = {"ledger", "list", "--state", "verified", "--ledger", ledger_db, NULL};
    provision(&res, NULL, la);
    expect_exit(&res, 0, NULL);
    assert_non_null(strstr(res.out, hex));
    assert_null(strstr(res.out, " locked "));

    /* the operator confirms: locked, signed, counted once, attempts unchanged */
    int64_t before = assert_chain_ok();
    confirm(&res, hex, "test: debug port dead after a station crash");
    expect_exit(&res, 0, NULL);
    assert_non_null(strstr(res.out, "verified -> locked"));
    assert_int_equal(assert_chain_ok(), before + 1);
    assert_int_equal(ledger_state(uid, &again), PV_LEDGER_OK);
    assert_int_equal(again.state, PV_LEDGER_LOCKED);
    assert_int_equal(again.attempts, row.attempts);
    assert_int_equal(batch_used(), used + 1);
    pv_ledger *l = ledger();
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(pv_ledger_db(l),
                                        "SELECT action, state, detail FROM audit ORDER BY seq "
                                        "DESC LIMIT 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "advance");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "locked");
    const char *detail = (const char *)sqlite3_column_text(st, 2);
    if (!strstr(detail, "\"manual\":true") || !strstr(detail, "@test-station") ||
        !strstr(detail, "station crash"))
        fail_msg("audit entry of the confirmation: %s", detail);
    sqlite3_finalize(st);
    pv_ledger_close(l);
    assert_locked_chip(&s, uid); /* and the chip is what a locked row promises; it boots */

    /* now a rerun on the dead port names nothing */
    sim_start_args(&s, s.state, false, NULL);
    run_gdb(&res, recipe_ok, &s, NULL);
    expect_exit(&res, PV_EXIT_LOCKED, "debug port is dead");
    assert_null(strstr(res.err, hex));
    assert_int_equal(sim_stop(&s), 0);
    snprintf(crashed_uid, sizeof crashed_uid, "%s", hex);
}

/* confirm-locked moves only a verified row: locked, reserved or unknown rows are refused with
 * a clear error and nothing is written. */
static void test_confirm_refused(void **state)
{
    (void)state;
    if (!crashed_uid[0])
        fail_msg("test_crash_after_lock did not leave a confirmed device");
    struct result res;
    int64_t before = assert_chain_ok();
    confirm(&res, crashed_uid, "again");
    expect_exit(&res, PV_EXIT_LEDGER, "locked already");
    assert_non_null(strstr(res.err, "nothing written"));

    /* a row at reserved (as a station leaves it before the key) */
    uint8_t uid[12];
    memset(uid, 0x5A, sizeof uid);
    struct pv_keystore_config c = key_cfg(TOKEN, "product-master");
    char err[512];
    pv_keystore *k = pv_keystore_open(&c, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    pv_ledger *l = ledger();
    char kid[PV_LEDGER_KEY_ID_LEN];
    assert_int_equal(pv_keys_audit_key_id(k, kid), 0); /* as provision names the audit key */
    pv_ledger_signer sig = {.key_id = kid, .sign = pv_keystore_audit_sign, .ctx = k};
    pv_ledger_set_signer(l, &sig);
    pv_ledger_recipe rec = {.name = "ok"};
    assert_int_equal(pv_ledger_reserve(l, "test-batch", uid, "test-station", &rec, 100, NULL),
                     PV_LEDGER_OK);
    pv_ledger_close(l);
    pv_keystore_close(k);
    before = assert_chain_ok();
    pv_ledger_row row, after;
    assert_int_equal(ledger_state(uid, &row), PV_LEDGER_OK);
    confirm(&res, "5a5a5a5a5a5a5a5a5a5a5a5a", "a guess");
    expect_exit(&res, PV_EXIT_LEDGER, "in state reserved, not verified");
    assert_non_null(strstr(res.err, "Nothing written"));
    assert_int_equal(ledger_state(uid, &after), PV_LEDGER_OK);
    assert_int_equal(after.state, PV_LEDGER_RESERVED);
    assert_string_equal(after.at[PV_LEDGER_LOCKED - 1], "");

    /* a UID the ledger never saw, and one that is not a UID */
    confirm(&res, "0123456789abcdef01234567", "unknown");
    expect_exit(&res, PV_EXIT_LEDGER, "no device with UID 0123456789abcdef01234567");
    confirm(&res, "0123", "short");
    expect_exit(&res, PV_EXIT_USAGE, "24 hex digits");
    assert_int_equal(assert_chain_ok(), before);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    char conf[128], tokens[128];
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
    struct pv_keystore_config c = key_cfg(TOKEN, "product-master");
    char err[512];
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
    snprintf(recipe_ok, sizeof recipe_ok, "%s/ok.yaml", tmpdir);
    write_recipe(recipe_ok, sealed, 2048, 100, TOKEN, "product-master");
    snprintf(ledger_db, sizeof ledger_db, "%s/ledger.db", tmpdir);
    return rc;
}

/* RDP Level 1: the chip keeps a working debug port, but the debugger can no longer read flash;
 * the option bytes say 0xBB with sectors 0-2 write-protected; the bootloader boots; the ledger
 * says locked; a rerun is refused as a locked chip. */
static void test_run_level1(void **state)
{
    (void)state;
    struct sim s;
    uint8_t uid[12];
    char r1[160];
    snprintf(r1, sizeof r1, "%s/level1.yaml", tmpdir);
    recipe_rdp = 1;
    write_recipe(r1, sealed, 2048, 100, TOKEN, "product-master");
    recipe_rdp = 2;
    sim_start(&s, "level1", true);
    read_uid(&s, uid);
    uint32_t used = batch_used();
    struct result res;
    char probe[64];
    snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", s.gdb);
    char *args[] = {"run", "--recipe", r1, "--probe", probe, "--ledger", ledger_db, "--json", NULL};
    provision(&res, NULL, args);
    expect_exit(&res, 0, NULL);
    assert_non_null(strstr(res.out, "\"rdp\":\"Level 1\""));
    assert_non_null(strstr(res.out, "\"ledger_state\":\"locked\""));
    /* the debugger still reaches the chip but not its flash */
    pv_probe_link l;
    char t[64], err[256];
    snprintf(t, sizeof t, "127.0.0.1:%d", s.gdb);
    assert_int_equal(pv_probe_connect(&l, &pv_probe_gdb_ops, t, 5000, err, sizeof err), 0);
    uint8_t b[4];
    assert_int_equal(l.ops->halt(l.p), 0);
    assert_int_equal(l.ops->read_mem(l.p, 0x40023C14u, b, 4), 0);
    assert_int_equal(b[1], 0xBB);
    assert_int_equal(l.ops->read_mem(l.p, 0x08000000u, b, 4), PV_PROBE_ERR_TARGET);
    pv_probe_disconnect(&l);
    assert_int_equal(sim_stop(&s), 0);
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    read_state(s.state, flash, &optcr, NULL);
    assert_int_equal((optcr >> 8) & 0xFF, 0xBB);
    assert_int_equal((optcr >> 16) & 0x7, 0);
    assert_memory_equal(flash, boot_img, boot_len);
    pv_ledger_row row;
    assert_int_equal(ledger_state(uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    assert_int_equal(batch_used(), used + 1);
    /* power on: the bootloader runs and accepts its key slot; a rerun is refused */
    sim_start_args(&s, s.state, false, NULL);
    int fd = sp_connect(s.usart, 5000);
    assert_true(fd >= 0);
    char con[2048];
    sp_read_until(fd, con, sizeof con, "boot: refused", 10000);
    close(fd);
    if (!strstr(con, "boot: key slot ok (key id 7)"))
        fail_msg("bootloader console: %s", con);
    snprintf(probe, sizeof probe, "gdb:127.0.0.1:%d", s.gdb);
    provision(&res, NULL, args);
    expect_exit(&res, PV_EXIT_LOCKED, "RDP Level 1");
    assert_int_equal(sim_stop(&s), 0);
}

/* ---- gang programming: one run, several probes, a process per chip ---- */

static void uid_hex(const uint8_t uid[12], char hex[25])
{
    for (int i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", uid[i]);
}

/* Three chips at once, on the GDB and CMSIS-DAP backends: each ends locked with its own row,
 * one JSON object each, the quota counted three times. */
static void test_gang_run(void **state)
{
    (void)state;
    struct sim s[3];
    uint8_t uid[3][12];
    char probe[3][64];
    const char *names[3] = {"gang0", "gang1", "gang2"};
    for (int i = 0; i < 3; i++) {
        sim_start(&s[i], names[i], true);
        read_uid(&s[i], uid[i]);
        if (i < 2)
            snprintf(probe[i], sizeof probe[i], "gdb:127.0.0.1:%d", s[i].gdb);
        else
            snprintf(probe[i], sizeof probe[i], "cmsis-dap:tcp:127.0.0.1:%d", s[i].dap);
    }
    uint32_t used = batch_used();
    struct result res;
    char *args[] = {"run",     "--recipe", recipe_ok,  "--probe", probe[0], "--probe", probe[1],
                    "--probe", probe[2],   "--ledger", ledger_db, "--json", NULL};
    provision(&res, NULL, args);
    expect_exit(&res, 0, NULL);
    int objects = 0;
    for (const char *p = res.out; (p = strstr(p, "\"result\":\"ok\"")) != NULL; p++)
        objects++;
    assert_int_equal(objects, 3);
    for (int i = 0; i < 3; i++) {
        char hex[25];
        uid_hex(uid[i], hex);
        assert_non_null(strstr(res.out, hex));
        assert_int_equal(sim_stop(&s[i]), 0);
        assert_locked_chip(&s[i], uid[i]);
    }
    assert_int_equal(batch_used(), used + 3);
}

/* Two chips racing for the batch's last place: exactly one is provisioned and locked, the other
 * is refused (quota) with its flash untouched; the run exits with the quota status. */
static void test_gang_quota(void **state)
{
    (void)state;
    struct sim s[2];
    uint8_t uid[2][12];
    char probe[2][64], r[160];
    for (int i = 0; i < 2; i++) {
        sim_start(&s[i], i ? "race1" : "race0", true);
        read_uid(&s[i], uid[i]);
        snprintf(probe[i], sizeof probe[i], "gdb:127.0.0.1:%d", s[i].gdb);
    }
    uint32_t used = batch_used();
    snprintf(r, sizeof r, "%s/last-place.yaml", tmpdir);
    write_recipe(r, sealed, 2048, used + 1, TOKEN, "product-master");
    struct result res;
    char *args[] = {"run",     "--recipe", r,          "--probe", probe[0],
                    "--probe", probe[1],   "--ledger", ledger_db, NULL};
    provision(&res, NULL, args);
    expect_exit(&res, PV_EXIT_QUOTA, "quota");
    assert_non_null(strstr(res.err, "2 chips: 1 done, 1 failed"));
    int locked = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sim_stop(&s[i]), 0);
        static uint8_t flash[FLASH_SIZE];
        uint32_t optcr;
        read_state(s[i].state, flash, &optcr, NULL);
        pv_ledger_row row;
        if ((optcr >> 8 & 0xFF) == 0xCC) {
            locked++;
            assert_int_equal(ledger_state(uid[i], &row), PV_LEDGER_OK);
            assert_int_equal(row.state, PV_LEDGER_LOCKED);
        } else {
            assert_true(all_erased(flash));
            assert_int_not_equal(ledger_state(uid[i], &row), PV_LEDGER_OK);
        }
    }
    assert_int_equal(locked, 1);
    assert_int_equal(batch_used(), used + 1);
}

int main(void)
{
    if (!sp_install(170))
        return 1;
    snprintf(prov_bin, sizeof prov_bin, "%s", sp_sim_bin);
    *strrchr(prov_bin, '/') = 0;
    strcat(prov_bin, "/provision");
    snprintf(hooks_bin, sizeof hooks_bin, "%s", prov_bin);
    *strrchr(hooks_bin, '/') = 0;
    *strrchr(hooks_bin, '/') = 0;
    strcat(hooks_bin, "/tests/provision-hooks");
    snprintf(boot_path, sizeof boot_path, "%s/firmware/bootloader.bin", sp_arm_dir);
    snprintf(stub_path, sizeof stub_path, "%s/stub-loader/stub.bin", sp_arm_dir);
    boot_img = (uint8_t *)sp_slurp(boot_path, &boot_len);
    if (!boot_img || access(prov_bin, X_OK) != 0 || access(hooks_bin, X_OK) != 0) {
        fprintf(stderr, "%s, %s or %s missing: run make first\n", boot_path, prov_bin, hooks_bin);
        return 1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_provision_run.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_gdb),
        cmocka_unit_test(test_run_openocd),
        cmocka_unit_test(test_run_cmsisdap),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_refuse_wrong_chip),
        cmocka_unit_test(test_refuse_token_missing),
        cmocka_unit_test(test_refuse_key_missing),
        cmocka_unit_test(test_refuse_probe_unreachable),
        cmocka_unit_test(test_refuse_quota),
        cmocka_unit_test(test_refuse_locked_chip),
        cmocka_unit_test(test_refuse_already_provisioned),
        cmocka_unit_test(test_refuse_plain_image),
        cmocka_unit_test(test_run_with_application),
        cmocka_unit_test(test_run_level1),
        cmocka_unit_test(test_gang_run),
        cmocka_unit_test(test_gang_quota),
        cmocka_unit_test(test_refuse_foreign_application),
        cmocka_unit_test(test_cut_in_handshake),
        cmocka_unit_test(test_cut_in_erase),
        cmocka_unit_test(test_cut_in_bootloader_write),
        cmocka_unit_test(test_cut_in_keyslot_write),
        cmocka_unit_test(test_cut_in_option_write),
        cmocka_unit_test(test_killed_mid_session),
        cmocka_unit_test(test_crash_after_lock),
        cmocka_unit_test(test_confirm_refused),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (rc == 0 && system(cmd) != 0)
        rc = 1;
    free(boot_img);
    return rc;
}
