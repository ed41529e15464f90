/* The bootloader (build/arm/firmware/) on the virtual STM32F427, end to end: every chip is a
 * build/host/bin/sim process, programmed over its GDB server (vFlashErase/vFlashWrite, as a
 * debugger does), reset with `monitor reset`, and judged by the exact lines on its USART socket.
 * The proof list of the bootloader issue: a valid application boots and prints; flipped bits in
 * header, image and signature are refused; a wrong signing key is refused; version 2 then
 * version 1 is refused; chip A's flash put on chip B (another UID) is refused; a power cut during
 * the counter update leaves the device bootable. Plus: a signed application cannot erase the
 * counter (the bootloader locks the flash interface, and without that lock the same attack
 * works), missing and corrupt key slots, and an image signed on a PKCS#11 token boots. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sanitizer/lsan_interface.h>

#include "../../hsm-bridge/p11.h"
#include "../../hsm-bridge/pin_source.h"
#include "common/slot_sign.h"
#include "common/test_rng.h"
#include "crypto/sha256.h"
#include "image/image.h"
#include "image/layout.h"
#include "image/rollback.h"
#include "keyslot/keyslot.h"
#include "sim_process.h"
#define RSP_FAIL(...) fail_msg(__VA_ARGS__)
#include "rsp_client.h"

#define BOOT_ADDR    PV_LAYOUT_DEFAULT_BOOT_ADDR
#define KEYSLOT_ADDR PV_LAYOUT_DEFAULT_KEYSLOT_ADDR
#define COUNTER_ADDR PV_LAYOUT_DEFAULT_COUNTER_ADDR
#define APP_ADDR     PV_LAYOUT_DEFAULT_APP_ADDR
#define BANNER       "pvboot 1.0.0\r\n"
#define STAY         "boot: staying in the bootloader\r\n"
#define SLOT_FORGED                                                                                \
    "key slot signature does not verify (forged, corrupt, or not signed by its signer key)"

static char tmpdir[64], fw_dir[4200], prov_bin[4200];
/* Who makes a key slot: the signer_pub that goes into it, and the signer of its message (the
 * private half, as the trusted side's token signs it). */
struct owner {
    const uint8_t *pub;
    int (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                size_t err_len);
    void *ctx;
};
static struct test_slot_key test_key; /* the build's test signing key */
static struct owner test_owner = {test_key.pub, test_slot_sign, &test_key};
static const uint8_t *const test_pub = test_key.pub;

struct blob {
    uint8_t *data;
    size_t len;
};
static struct blob boot_bin, app_v1, app_v2, app_attack;

/* ---- one virtual chip ---- */

struct chip {
    pid_t pid;
    struct rsp gdb;
    int usart;
    char state[128], log[128];
    uint8_t uid[12];
    char out[65536]; /* USART text since the last reset */
    size_t out_len;
    int gdb_port;
};

static void chip_gdb(struct chip *c)
{
    if (c->gdb.fd < 0)
        c->gdb.fd = sp_connect(c->gdb_port, 5000);
    assert_true(c->gdb.fd >= 0);
}

/* Powers the chip on (sim process); create: a blank chip with that UID seed. extra: one more
 * option pair (fault injection), or NULL. Does not connect when a power cut is armed. */
static void chip_on(struct chip *c, const char *name, uint64_t seed, bool create, const char *extra,
                    const char *extra_val)
{
    char seed_s[32];
    snprintf(c->state, sizeof c->state, "%s/%s.state", tmpdir, name);
    snprintf(c->log, sizeof c->log, "%s/%s.log", tmpdir, name);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    char *args[16];
    int n = 0;
    args[n++] = "--state";
    args[n++] = c->state;
    args[n++] = "--gdb-port";
    args[n++] = "0";
    args[n++] = "--usart-port";
    args[n++] = "0";
    if (create) {
        args[n++] = "--create";
        args[n++] = "--uid-seed";
        args[n++] = seed_s;
    }
    if (extra) {
        args[n++] = (char *)(uintptr_t)extra;
        args[n++] = (char *)(uintptr_t)extra_val;
    }
    args[n] = NULL;
    char line[256];
    c->pid = sp_start_sim(args, c->log, line, sizeof line);
    if (c->pid <= 0) {
        char *log = sp_slurp(c->log, NULL);
        fail_msg("sim did not start: %s", log ? log : "(no log)");
    }
    int gp = sp_port(line, "gdb"), up = sp_port(line, "usart");
    assert_true(gp > 0 && up > 0);
    c->usart = sp_connect(up, 5000);
    assert_true(c->usart >= 0);
    c->out_len = 0;
    c->out[0] = 0;
    c->gdb_port = gp;
    c->gdb.fd = -1;
    /* A debugger connection halts the core (as OpenOCD's GDB server does), so a chip that is
     * powered on to watch it boot gets its debugger only when a test needs it. */
    if (create) {
        chip_gdb(c);
        char uid_hex[64];
        rsp_monitor(&c->gdb, "uid", uid_hex, sizeof uid_hex);
        for (int i = 0; i < 12; i++) {
            unsigned b;
            assert_int_equal(sscanf(uid_hex + 2 * i, "%2x", &b), 1);
            c->uid[i] = (uint8_t)b;
        }
    }
}

/* Power off (SIGTERM: the state file is written). */
static void chip_off(struct chip *c)
{
    if (c->gdb.fd >= 0)
        close(c->gdb.fd);
    if (c->usart >= 0)
        close(c->usart);
    c->gdb.fd = c->usart = -1;
    assert_int_equal(sp_stop(c->pid, 10000), 0);
}

/* Where the bootloader's latest start begins in the USART text (NULL before its banner). */
static const char *since_banner(const struct chip *c)
{
    const char *p = strstr(c->out, BANNER), *q;
    while (p && (q = strstr(p + 1, BANNER)))
        p = q;
    return p;
}

/* Reads USART text until needle shows up (true) or ms pass; after_banner: only text after the
 * bootloader's latest banner counts. */
static bool usart_wait(struct chip *c, const char *needle, int ms, bool after_banner)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    const char *from;
    while (!(from = after_banner ? since_banner(c) : c->out) || !strstr(from, needle)) {
        int left = (int)(end - sp_now_ms());
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = c->usart, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            return false;
        ssize_t n = read(c->usart, c->out + c->out_len, sizeof c->out - 1 - c->out_len);
        if (n <= 0)
            return false;
        c->out_len += (size_t)n;
        c->out[c->out_len] = 0;
    }
    return true;
}

static bool usart_until(struct chip *c, const char *needle, int ms)
{
    return usart_wait(c, needle, ms, true);
}

/* Halts the core at its reset vector and forgets the USART output so far (waiting until the
 * socket has been quiet for 100 ms, so nothing of the last run arrives later). */
static void chip_halt_quiet(struct chip *c)
{
    chip_gdb(c);
    rsp_monitor(&c->gdb, "reset halt", NULL, 0);
    char junk[4096];
    uint64_t end = sp_now_ms() + 3000;
    struct pollfd p = {.fd = c->usart, .events = POLLIN};
    while (sp_now_ms() < end && poll(&p, 1, 100) > 0 && read(c->usart, junk, sizeof junk) > 0)
        ;
    c->out_len = 0;
    c->out[0] = 0;
}

static void chip_reset_run(struct chip *c)
{
    chip_gdb(c);
    c->out_len = 0;
    c->out[0] = 0;
    rsp_monitor(&c->gdb, "reset", NULL, 0);
}

/* ---- what goes into flash ---- */

static struct blob load(const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", fw_dir, name);
    struct blob b;
    b.data = (uint8_t *)sp_slurp(path, &b.len);
    if (!b.data)
        fail_msg("%s missing: build the firmware first (make all)", path);
    return b;
}

/* A slot naming o's key, signed by signer (o itself for a genuine slot). */
static void keyslot_signed(uint8_t out[PV_KEYSLOT_LEN], const uint8_t uid[12],
                           const struct owner *o, const struct owner *signer)
{
    pv_keyslot ks = {.key_id = 1, .key_version = 1};
    uint8_t tbs[PV_KEYSLOT_TBS_LEN], sig[64];
    char err[256];
    memcpy(ks.uid, uid, 12);
    trng_bytes(ks.psk, 32);
    memcpy(ks.signer_pub, o->pub, 32);
    pv_keyslot_tbs(tbs, &ks);
    if (signer->sign(signer->ctx, tbs, sizeof tbs, sig, err, sizeof err))
        fail_msg("%s", err);
    pv_keyslot_encode(out, &ks, sig);
}

static void keyslot_for(uint8_t out[PV_KEYSLOT_LEN], const uint8_t uid[12], const struct owner *o)
{
    keyslot_signed(out, uid, o, o);
}

/* Bootloader, this chip's key slot (for o) and an application image. */
static void install(struct chip *c, const struct owner *o, const struct blob *app)
{
    uint8_t ks[PV_KEYSLOT_LEN];
    keyslot_for(ks, c->uid, o);
    chip_halt_quiet(c);
    rsp_flash(&c->gdb, BOOT_ADDR, boot_bin.data, boot_bin.len);
    rsp_flash(&c->gdb, KEYSLOT_ADDR, ks, sizeof ks);
    if (app)
        rsp_flash(&c->gdb, APP_ADDR, app->data, app->len);
}

static void install_app(struct chip *c, const uint8_t *img, size_t len)
{
    chip_halt_quiet(c);
    rsp_flash(&c->gdb, APP_ADDR, img, len);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The exact transcript of a good boot of img, up to the application's first count. */
static void good_boot_text(char *out, size_t cap, const uint8_t *img, const char *raise_from)
{
    char v[14], line[96] = "";
    pv_image_version_str(v, le32(img + 16));
    if (raise_from)
        snprintf(line, sizeof line, "boot: rollback floor %s -> %s\r\n", raise_from, v);
    snprintf(out, cap,
             BANNER "boot: key slot ok (key id 1)\r\n"
                    "boot: image %s, %u bytes\r\n"
                    "boot: signature ok\r\n"
                    "%s"
                    "boot: starting application at 0x%08X\r\n"
                    "app: demo %s running\r\n",
             v, le32(img + 8), line, le32(img + 12), v);
}

static void expect_boot(struct chip *c, const uint8_t *img, const char *raise_from)
{
    char want[1024];
    good_boot_text(want, sizeof want, img, raise_from);
    bool ok = usart_until(c, "app: count 2\r\n", 30000);
    const char *b = since_banner(c);
    if (!ok || strncmp(b, want, strlen(want)) != 0)
        fail_msg("expected a boot:\n%s(then app: count 0..2)\ngot:\n%s", want, c->out);
    assert_non_null(strstr(b, "app: count 0\r\napp: count 1\r\napp: count 2\r\n"));
}

/* Refused: the reason line, then the recovery line, and no application ever. */
static void expect_refusal(struct chip *c, const char *reason)
{
    char want[512];
    snprintf(want, sizeof want, "boot: refused: %s\r\n" STAY, reason);
    bool ok = usart_until(c, STAY, 30000);
    usart_until(c, "app:", 200); /* give a wrong jump the time to show itself */
    const char *b = since_banner(c);
    if (!ok || !strstr(b, want) || strstr(b, "app:"))
        fail_msg("expected a refusal:\n%sgot:\n%s", want, c->out);
}

/* ---- the proofs ---- */

static void test_valid_app_boots(void **state)
{
    (void)state;
    struct chip c;
    chip_on(&c, "valid", 101, true, NULL, NULL);
    install(&c, &test_owner, &app_v1);
    chip_reset_run(&c);
    expect_boot(&c, app_v1.data, "0.0.0");
    /* the floor record: value then complement */
    uint8_t rec[16];
    chip_halt_quiet(&c);
    rsp_read(&c.gdb, COUNTER_ADDR, rec, sizeof rec);
    assert_int_equal(le32(rec), 0x01000000u);
    assert_int_equal(le32(rec + 4), ~0x01000000u);
    assert_int_equal(le32(rec + 8), 0xffffffffu);
    /* power cycle: boots again from the state file, the floor needs no raise */
    chip_off(&c);
    chip_on(&c, "valid", 0, false, NULL, NULL);
    assert_true(usart_until(&c, "app: count 2\r\n", 30000));
    char want[1024];
    good_boot_text(want, sizeof want, app_v1.data, NULL);
    if (strncmp(since_banner(&c), want, strlen(want)) != 0)
        fail_msg("after power cycle expected:\n%sgot:\n%s", want, c.out);
    chip_off(&c);
}

static void test_flipped_bits_refused(void **state)
{
    (void)state;
    struct chip c;
    chip_on(&c, "flips", 102, true, NULL, NULL);
    install(&c, &test_owner, NULL);
    const size_t len = app_v1.len, hdr = 512, pay = le32(app_v1.data + 8), tlv = hdr + pay;
    static const char *const digest = "image digest mismatch (header or payload corrupted)";
    struct {
        size_t off;
        uint8_t bit;
        const char *why;
    } flips[] = {
        {0, 0x01, "no image (header magic is not PVIM)"},
        {4, 0x04, "image header format is not 1"},
        {7, 0x10, "image header size out of bounds (32..4096, multiple of 4)"},
        {8, 0x01, "image size out of bounds (0, not a multiple of 4, or past the region end)"},
        {13, 0x01, "image load address is not the region start plus the header size"},
        {16, 0x01, digest}, /* version: covered by the digest */
        {19, 0x80, digest},
        {22, 0x02, "image flags has unknown bits"},
        {300, 0x08, "image header reserved bytes are not zero"},
        {hdr, 0x01, digest},           /* initial SP */
        {hdr + 5, 0x02, digest},       /* reset vector */
        {hdr + pay / 2, 0x20, digest}, /* code */
        {tlv - 1, 0x80, digest},       /* last payload byte */
        {tlv, 0x01, "image TLV area malformed (magic, length, or missing/unknown entry)"},
        {tlv + 4, 0x01, "image TLV area malformed (magic, length, or missing/unknown entry)"},
        {tlv + 8 + 31, 0x01, digest}, /* stored SHA-256 */
        {tlv + 44, 0x04, "image signed by another key (key hash differs from the key slot's)"},
        {tlv + 80, 0x01, "image signature invalid"},      /* R */
        {tlv + 80 + 40, 0x10, "image signature invalid"}, /* S */
        {tlv + 80 + 63, 0x80, "image signature invalid"}, /* S, top bit: S >= L */
    };
    uint8_t *img = malloc(len);
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(img, app_v1.data, len);
        img[flips[i].off] ^= flips[i].bit;
        install_app(&c, img, len);
        chip_reset_run(&c);
        expect_refusal(&c, flips[i].why);
    }
    /* a few more anywhere in the image, at random (PV_TEST_SEED replays them) */
    for (int i = 0; i < 6; i++) {
        size_t off = trng_len(len - 1);
        memcpy(img, app_v1.data, len);
        img[off] ^= (uint8_t)(1u << trng_len(7));
        install_app(&c, img, len);
        chip_reset_run(&c);
        if (!usart_until(&c, STAY, 30000) || strstr(c.out, "app:"))
            fail_msg("flip at offset %zu was not refused:\n%s", off, c.out);
    }
    /* and the untouched image still boots on the same chip */
    install_app(&c, app_v1.data, len);
    chip_reset_run(&c);
    expect_boot(&c, app_v1.data, "0.0.0");
    free(img);
    chip_off(&c);
}

static void run_provision(const char *const *args)
{
    char *argv[24];
    int n = 0;
    argv[n++] = prov_bin;
    for (int i = 0; args[i]; i++)
        argv[n++] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;
    char log[128];
    snprintf(log, sizeof log, "%s/provision.log", tmpdir);
    pid_t pid = sp_spawn(argv, NULL, log);
    assert_true(pid > 0);
    int st = sp_wait(pid, 30000);
    if (st != 0) {
        char *l = sp_slurp(log, NULL);
        fail_msg("provision failed (%d): %s", st, l ? l : "");
    }
}

static void test_wrong_key_refused(void **state)
{
    (void)state;
    char key[128], bin[4400], img_path[128], cmd[256];
    snprintf(key, sizeof key, "%s/other.pem", tmpdir);
    snprintf(bin, sizeof bin, "%s/app_v1.bin", fw_dir);
    snprintf(img_path, sizeof img_path, "%s/other.img", tmpdir);
    snprintf(cmd, sizeof cmd, "openssl genpkey -algorithm ed25519 -out '%s'", key);
    assert_int_equal(system(cmd), 0);
    run_provision((const char *const[]){"image", "sign", "--key", key, "--image-version", "1.0.0",
                                        "--in", bin, "--out", img_path, NULL});
    struct blob other;
    other.data = (uint8_t *)sp_slurp(img_path, &other.len);
    assert_non_null(other.data);

    struct chip c;
    chip_on(&c, "wrongkey", 103, true, NULL, NULL);
    install(&c, &test_owner, &other);
    chip_reset_run(&c);
    expect_refusal(&c, "image signed by another key (key hash differs from the key slot's)");
    /* the key hash forged to the trusted key's: the signature itself fails */
    uint8_t kh[32];
    pv_sha256(kh, test_pub, 32);
    memcpy(other.data + other.len - 144 + 44, kh, 32);
    install_app(&c, other.data, other.len);
    chip_reset_run(&c);
    expect_refusal(&c, "image signature invalid");
    /* the same chip with the other key in its key slot boots that image (so the key, not the
     * image, was the reason) */
    struct test_slot_key other_key;
    assert_int_equal(test_slot_key_pem(&other_key, key), 0);
    struct owner other_owner = {other_key.pub, test_slot_sign, &other_key};
    free(other.data);
    other.data = (uint8_t *)sp_slurp(img_path, &other.len);
    install(&c, &other_owner, &other);
    chip_reset_run(&c);
    expect_boot(&c, other.data, "0.0.0");
    test_slot_key_free(&other_key);
    free(other.data);
    chip_off(&c);
}

static void test_rollback_refused(void **state)
{
    (void)state;
    struct chip c;
    chip_on(&c, "rollback", 104, true, NULL, NULL);
    install(&c, &test_owner, &app_v2);
    chip_reset_run(&c);
    expect_boot(&c, app_v2.data, "0.0.0");
    install_app(&c, app_v1.data, app_v1.len);
    chip_reset_run(&c);
    expect_refusal(&c, "image version 1.0.0 is older than the rollback floor 2.0.0");
    /* also after a power cycle: the floor lives in flash */
    chip_off(&c);
    chip_on(&c, "rollback", 0, false, NULL, NULL);
    expect_refusal(&c, "image version 1.0.0 is older than the rollback floor 2.0.0");
    install_app(&c, app_v2.data, app_v2.len);
    chip_reset_run(&c);
    expect_boot(&c, app_v2.data, NULL);
    chip_off(&c);
}

static void test_chip_a_flash_on_chip_b_refused(void **state)
{
    (void)state;
    struct chip a, b;
    chip_on(&a, "chip-a", 105, true, NULL, NULL);
    install(&a, &test_owner, &app_v1);
    chip_reset_run(&a);
    expect_boot(&a, app_v1.data, "0.0.0");
    /* read A back as an attacker with a debugger would, region by region */
    chip_halt_quiet(&a);
    uint8_t *boot = malloc(boot_bin.len), ks[PV_KEYSLOT_LEN], counter[1024];
    uint8_t *app = malloc(app_v1.len);
    rsp_read(&a.gdb, BOOT_ADDR, boot, boot_bin.len);
    rsp_read(&a.gdb, KEYSLOT_ADDR, ks, sizeof ks);
    rsp_read(&a.gdb, COUNTER_ADDR, counter, sizeof counter);
    rsp_read(&a.gdb, APP_ADDR, app, app_v1.len);
    chip_off(&a);
    assert_memory_equal(boot, boot_bin.data, boot_bin.len);

    chip_on(&b, "chip-b", 106, true, NULL, NULL);
    assert_memory_not_equal(a.uid, b.uid, 12);
    chip_halt_quiet(&b);
    rsp_flash(&b.gdb, BOOT_ADDR, boot, boot_bin.len);
    rsp_flash(&b.gdb, KEYSLOT_ADDR, ks, sizeof ks);
    rsp_flash(&b.gdb, COUNTER_ADDR, counter, sizeof counter);
    rsp_flash(&b.gdb, APP_ADDR, app, app_v1.len);
    chip_reset_run(&b);
    expect_refusal(&b, "key slot belongs to another chip (UID mismatch)");
    /* B's own key slot makes the same flash boot: the UID binding was the reason */
    uint8_t own[PV_KEYSLOT_LEN];
    keyslot_for(own, b.uid, &test_owner);
    chip_halt_quiet(&b);
    rsp_flash(&b.gdb, KEYSLOT_ADDR, own, sizeof own);
    chip_reset_run(&b);
    expect_boot(&b, app_v1.data, NULL); /* A's floor record came along */
    /* no key slot, and a corrupt one */
    uint8_t blank[PV_KEYSLOT_LEN];
    memset(blank, 0xff, sizeof blank);
    chip_halt_quiet(&b);
    rsp_flash(&b.gdb, KEYSLOT_ADDR, blank, sizeof blank);
    chip_reset_run(&b);
    expect_refusal(&b, "no key slot (bad magic: device not provisioned)");
    own[70] ^= 0x01; /* signer key changed, signature not */
    chip_halt_quiet(&b);
    rsp_flash(&b.gdb, KEYSLOT_ADDR, own, sizeof own);
    chip_reset_run(&b);
    expect_refusal(&b, SLOT_FORGED);
    chip_off(&b);
    free(boot);
    free(app);
}

/* Finding 7 of the hardening issue: chip A provisioned, its key slot read back, and a slot for
 * chip B made from it the ways an attacker with a debugger (Level 0) and no access to the token
 * can: B's UID written in with A's signature kept, B's UID re-signed with his own key under the
 * owner's signer_pub, and a byte-for-byte copy. Each is written to B with the bootloader and the
 * owner's signed application: none boots. A slot naming the attacker's own key verifies, and then
 * the owner's image is refused. */
static void test_forged_slot_refused(void **state)
{
    (void)state;
    struct chip a, b;
    chip_on(&a, "forge-a", 110, true, NULL, NULL);
    install(&a, &test_owner, &app_v1);
    chip_reset_run(&a);
    expect_boot(&a, app_v1.data, "0.0.0");
    uint8_t genuine[PV_KEYSLOT_LEN], forged[PV_KEYSLOT_LEN];
    chip_halt_quiet(&a);
    rsp_read(&a.gdb, KEYSLOT_ADDR, genuine, sizeof genuine);
    chip_off(&a);
    pv_keyslot ks;
    assert_int_equal(pv_keyslot_decode(&ks, genuine, a.uid), PV_KEYSLOT_OK);

    uint8_t seed[32];
    trng_bytes(seed, sizeof seed);
    struct test_slot_key mine;
    assert_int_equal(test_slot_key_raw(&mine, seed), 0);
    struct owner attacker = {mine.pub, test_slot_sign, &mine};

    chip_on(&b, "forge-b", 111, true, NULL, NULL);
    assert_memory_not_equal(a.uid, b.uid, 12);
    chip_halt_quiet(&b);
    rsp_flash(&b.gdb, BOOT_ADDR, boot_bin.data, boot_bin.len);
    rsp_flash(&b.gdb, APP_ADDR, app_v1.data, app_v1.len);
    /* B's UID in A's slot, A's signature kept */
    memcpy(forged, genuine, sizeof forged);
    memcpy(forged + PV_KEYSLOT_UID_OFF, b.uid, 12);
    rsp_flash(&b.gdb, KEYSLOT_ADDR, forged, sizeof forged);
    chip_reset_run(&b);
    expect_refusal(&b, SLOT_FORGED);
    /* B's UID with the owner's signer_pub (needed for the owner's image), signed by the
     * attacker's key */
    keyslot_signed(forged, b.uid, &test_owner, &attacker);
    chip_halt_quiet(&b);
    rsp_flash(&b.gdb, KEYSLOT_ADDR, forged, sizeof forged);
    chip_reset_run(&b);
    expect_refusal(&b, SLOT_FORGED);
    /* the attacker's own key as the signer: the slot verifies, the owner's image does not */
    keyslot_for(forged, b.uid, &attacker);
    chip_halt_quiet(&b);
    rsp_flash(&b.gdb, KEYSLOT_ADDR, forged, sizeof forged);
    chip_reset_run(&b);
    expect_refusal(&b, "image signed by another key (key hash differs from the key slot's)");
    assert_non_null(strstr(since_banner(&b), "boot: key slot ok (key id 1)\r\n"));
    /* A's slot byte for byte: genuine, but A's */
    chip_halt_quiet(&b);
    rsp_flash(&b.gdb, KEYSLOT_ADDR, genuine, sizeof genuine);
    chip_reset_run(&b);
    expect_refusal(&b, "key slot belongs to another chip (UID mismatch)");
    /* and the flash really holds what was written last */
    chip_halt_quiet(&b);
    rsp_read(&b.gdb, KEYSLOT_ADDR, forged, sizeof forged);
    assert_memory_equal(forged, genuine, sizeof genuine);
    chip_off(&b);
    test_slot_key_free(&mine);
}

/* Power fails in the middle of the op-th flash operation after power-on: with v2 installed over
 * a v1 floor, op 1 programs the record's value word, op 2 its complement. */
static void cut_and_recover(int op, uint64_t seed)
{
    char name[32], op_s[16], seed_s[32];
    snprintf(name, sizeof name, "cut-%d-%llu", op, (unsigned long long)seed);
    snprintf(op_s, sizeof op_s, "%d", op);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    struct chip c;
    chip_on(&c, name, 200 + seed, true, NULL, NULL);
    install(&c, &test_owner, &app_v1);
    chip_reset_run(&c);
    expect_boot(&c, app_v1.data, "0.0.0");
    install_app(&c, app_v2.data, app_v2.len);
    chip_off(&c);

    /* Power on with the cut armed: the bootloader starts raising the floor to 2.0.0. */
    char *args[] = {"--state", c.state,      "--usart-port", "0", "--power-cut-flash-op",
                    op_s,      "--cut-seed", seed_s,         NULL};
    char line[256];
    pid_t pid = sp_start_sim(args, c.log, line, sizeof line);
    assert_true(pid > 0);
    int st = sp_wait(pid, 30000);
    if (st != 3) {
        static char why[4096];
        char *log = sp_slurp(c.log, NULL);
        snprintf(why, sizeof why, "%s", log ? log : "");
        free(log);
        fail_msg("sim should have cut power in flash op %d (exit 3), got %d: %s", op, st, why);
    }
    sp_forget(pid);
    char *log = sp_slurp(c.log, NULL);
    char want[64];
    snprintf(want, sizeof want, "(flash op %d)", op);
    assert_non_null(log);
    assert_non_null(strstr(log, want));
    free(log);

    /* Next power-on: the device boots v2, and the floor ends at 2.0.0. */
    chip_on(&c, name, 0, false, NULL, NULL);
    assert_true(usart_until(&c, "app: count 1\r\n", 30000));
    char v2_boot[1024];
    good_boot_text(v2_boot, sizeof v2_boot, app_v2.data, "1.0.0");
    if (strncmp(since_banner(&c), v2_boot, strlen(v2_boot)) != 0)
        fail_msg("after a cut in flash op %d expected:\n%sgot:\n%s", op, v2_boot, c.out);
    /* slot 0: v1; then the torn record (never valid), then v2 written at this boot */
    uint8_t rec[64];
    uint32_t floor, next;
    chip_halt_quiet(&c);
    rsp_read(&c.gdb, COUNTER_ADDR, rec, sizeof rec);
    assert_int_equal(le32(rec), 0x01000000u);
    pv_rollback_scan(rec, sizeof rec, &floor, &next);
    assert_int_equal(floor, 0x02000000u);
    assert_int_equal(le32(rec + next - 8), 0x02000000u);
    install_app(&c, app_v1.data, app_v1.len);
    chip_reset_run(&c);
    expect_refusal(&c, "image version 1.0.0 is older than the rollback floor 2.0.0");
    chip_off(&c);
}

static void test_power_cut_during_counter_update(void **state)
{
    (void)state;
    cut_and_recover(1, 1);
    cut_and_recover(2, 2);
    cut_and_recover(2, 3);
}

static void test_app_cannot_erase_counter(void **state)
{
    (void)state;
    struct chip c;
    chip_on(&c, "attack", 107, true, NULL, NULL);
    install(&c, &test_owner, &app_attack);
    chip_reset_run(&c);
    assert_true(usart_until(&c, "app: count 1\r\n", 30000));
    if (!strstr(c.out, "app: attack: flash unlock refused") || strstr(c.out, "erased"))
        fail_msg("the attack application got through:\n%s", c.out);
    uint8_t rec[8];
    chip_halt_quiet(&c);
    rsp_read(&c.gdb, COUNTER_ADDR, rec, sizeof rec);
    assert_int_equal(le32(rec), 0x03000000u);
    install_app(&c, app_v2.data, app_v2.len);
    chip_reset_run(&c);
    expect_refusal(&c, "image version 2.0.0 is older than the rollback floor 3.0.0");

    /* Control: the same application started by a debugger, without the bootloader's lock,
     * does erase the counter; so the refusal above is the lock's doing. */
    install_app(&c, app_attack.data, app_attack.len);
    chip_halt_quiet(&c);
    uint32_t vt = APP_ADDR + 512;
    uint8_t vec[8];
    rsp_read(&c.gdb, vt, vec, sizeof vec);
    char pkt[64];
    snprintf(pkt, sizeof pkt, "Me000ed08,4:%02x%02x%02x%02x", vt & 0xff, (vt >> 8) & 0xff,
             (vt >> 16) & 0xff, vt >> 24);
    assert_string_equal(rsp_cmd(&c.gdb, pkt), "OK");
    snprintf(pkt, sizeof pkt, "Pd=%02x%02x%02x%02x", vec[0], vec[1], vec[2], vec[3]);
    assert_string_equal(rsp_cmd(&c.gdb, pkt), "OK");
    snprintf(pkt, sizeof pkt, "Pf=%02x%02x%02x%02x", vec[4] & 0xfe, vec[5], vec[6], vec[7]);
    assert_string_equal(rsp_cmd(&c.gdb, pkt), "OK");
    c.out_len = 0;
    c.out[0] = 0;
    rsp_send(&c.gdb, "c", 1);
    assert_true(usart_wait(&c, "app: count 0\r\n", 30000, false));
    if (!strstr(c.out, "app: attack: counter sector erased"))
        fail_msg("without the lock the attack should work:\n%s", c.out);
    rsp_write_all(c.gdb.fd, "\x03", 1); /* interrupt, then read the counter back */
    char stop[64];
    rsp_recv(&c.gdb, stop, sizeof stop, 20000);
    rsp_read(&c.gdb, COUNTER_ADDR, rec, sizeof rec);
    assert_int_equal(le32(rec), 0xffffffffu);
    chip_off(&c);
}

struct p11_signer {
    pv_p11 *p;
    pv_p11_obj priv;
};

static int p11_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                    size_t err_len)
{
    struct p11_signer *t = ctx;
    /* SoftHSM2 keeps an OpenSSL allocation from the signature until the process ends; the
     * suppression for it (p11_module.c) needs a full stack, which the default fast unwinder does
     * not get through libcrypto, so LeakSanitizer is told here. */
    __lsan_disable();
    int rc = pv_p11_sign_eddsa(t->p, t->priv, msg, len, sig, err, err_len);
    __lsan_enable();
    return rc;
}

static void test_pkcs11_signed_image_boots(void **state)
{
    (void)state;
    char tokens[160], conf[160], cmd[512], bin[4400], img_path[160];
    snprintf(tokens, sizeof tokens, "%s/tokens", tmpdir);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", tmpdir);
    mkdir(tokens, 0700);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label boot-owner --so-pin 11223344 --pin 5566 "
             ">/dev/null");
    assert_int_equal(system(cmd), 0);
    char err[512];
    pv_p11 *p = pv_p11_open(NULL, "boot-owner", "5566", err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    pv_p11_obj pub_h, priv_h;
    uint8_t pub[32];
    if (pv_p11_generate_ed25519(p, "fw-signer", &pub_h, &priv_h, err, sizeof err) != 0 ||
        pv_p11_ed25519_public(p, pub_h, pub, err, sizeof err) != 0)
        fail_msg("%s", err);
    pv_p11_close(p); /* the token is the image signer's while it runs */
    snprintf(bin, sizeof bin, "%s/app_v2.bin", fw_dir);
    snprintf(img_path, sizeof img_path, "%s/hsm.img", tmpdir);
    setenv(PV_PIN_ENV, "5566", 1);
    run_provision((const char *const[]){"image", "sign", "--pkcs11", "--token", "boot-owner",
                                        "--key-label", "fw-signer", "--image-version", "2.0.0",
                                        "--in", bin, "--out", img_path, NULL});
    unsetenv(PV_PIN_ENV);
    struct blob img;
    img.data = (uint8_t *)sp_slurp(img_path, &img.len);
    assert_non_null(img.data);
    /* the key slot is signed in the token too, by the same key */
    struct p11_signer tok = {pv_p11_open(NULL, "boot-owner", "5566", err, sizeof err), 0};
    if (!tok.p ||
        pv_p11_find_key(tok.p, PV_P11_PRIVATE_KEY, "fw-signer", &tok.priv, err, sizeof err) != 0)
        fail_msg("%s", err);
    struct owner token_owner = {pub, p11_sign, &tok};
    struct chip c;
    chip_on(&c, "pkcs11", 108, true, NULL, NULL);
    install(&c, &token_owner, &img);
    pv_p11_close(tok.p);
    chip_reset_run(&c);
    expect_boot(&c, img.data, "0.0.0");
    /* with the build's test key in the key slot instead, the token's image is refused */
    install(&c, &test_owner, NULL);
    chip_reset_run(&c);
    expect_refusal(&c, "image signed by another key (key hash differs from the key slot's)");
    free(img.data);
    chip_off(&c);
}

static int setup(void **state)
{
    (void)state;
    snprintf(fw_dir, sizeof fw_dir, "%s/firmware", sp_arm_dir);
    snprintf(prov_bin, sizeof prov_bin, "%s/../host/bin/provision", sp_arm_dir);
    assert_true(sp_make_tmpdir(tmpdir, sizeof tmpdir, "test_boot_sim"));
    boot_bin = load("bootloader.bin");
    app_v1 = load("app_v1.img");
    app_v2 = load("app_v2.img");
    app_attack = load("app_attack.img");
    char key[4400];
    snprintf(key, sizeof key, "%s/keys/test-signer.pem", fw_dir);
    if (test_slot_key_pem(&test_key, key))
        fail_msg("cannot read the test signing key %s", key);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sp_kill_all();
    char cmd[160];
    /* PV_KEEP_TMP=1 keeps the chips' state files and sim logs for a look after a failure. */
    snprintf(cmd, sizeof cmd, getenv("PV_KEEP_TMP") ? "echo kept %s" : "rm -rf '%s'", tmpdir);
    free(boot_bin.data);
    free(app_v1.data);
    free(app_v2.data);
    free(app_attack.data);
    test_slot_key_free(&test_key);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    if (!sp_install(300))
        return 1;
    trng_seed_from_env();
    if (getenv("PV_TEST_FILTER")) /* e.g. PV_TEST_FILTER='*rollback*' */
        cmocka_set_test_filter(getenv("PV_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_app_boots),
        cmocka_unit_test(test_flipped_bits_refused),
        cmocka_unit_test(test_wrong_key_refused),
        cmocka_unit_test(test_rollback_refused),
        cmocka_unit_test(test_chip_a_flash_on_chip_b_refused),
        cmocka_unit_test(test_forged_slot_refused),
        cmocka_unit_test(test_power_cut_during_counter_update),
        cmocka_unit_test(test_app_cannot_erase_counter),
        cmocka_unit_test(test_pkcs11_signed_image_boots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
