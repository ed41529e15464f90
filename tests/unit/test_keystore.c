/* The trusted side's keystore (hsm-bridge/keystore.h) on a fresh SoftHSM2 token in a temporary
 * directory (SOFTHSM2_CONF points at a config of our own): keys created non-extractable, PSKs
 * derived in the token and equal to OpenSSL's HMAC for a known master, the sealed Noise static
 * key, images sealed at rest and refused after any tampering, audit signatures checked by
 * OpenSSL, the refusals (wrong PIN, missing token, missing key), and `provision keys` as a user
 * runs it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../hsm-bridge/keys_config.h"
#include "../../hsm-bridge/keystore.h"
#include "../../hsm-bridge/p11.h"
#include "crypto/x25519.h"
#include "sim_process.h"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); p11_module.c suppresses leaks under
 * libsofthsm2.so, which only the slow unwinder reaches through libcrypto (see provisioner/main.c).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define TOKEN   "ks-test"
#define PIN     "314159"
#define SO_PIN  "27182818"
#define MASTER  "product-master"
#define NOISE   "noise-static"
#define SIGNING "image-signing"
#define AT_REST "image-at-rest"
#define AUDIT   "ledger-audit"

static char dir[64], prov[4096], recipe[128];
static char out[65536];

static const struct pv_keystore_config base_cfg = {
    .token_label = TOKEN,
    .pin = PIN,
    .master_label = MASTER,
    .noise_label = NOISE,
    .signing_label = SIGNING,
    .at_rest_label = AT_REST,
    .audit_label = AUDIT,
};

static pv_keystore *open_ks(const struct pv_keystore_config *cfg)
{
    char err[640];
    pv_keystore *ks = pv_keystore_open(cfg, err, sizeof err);
    if (!ks)
        fail_msg("pv_keystore_open: %s", err);
    return ks;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static uint8_t *read_file_all(const char *path, size_t *len)
{
    uint8_t *b = (uint8_t *)sp_slurp(path, len);
    if (!b)
        fail_msg("cannot read %s", path);
    return b;
}

/* ---- provision as a child process ---- */

static int provision(const char *const *args)
{
    char *argv[32];
    int n = 0;
    argv[n++] = prov;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    unlink(err_path);
    out[0] = 0;
    int fd = -1;
    pid_t pid = sp_spawn(argv, &fd, err_path);
    assert_true(pid > 0);
    sp_read_until(fd, out, sizeof out / 2, NULL, 30000);
    close(fd);
    int st = sp_wait(pid, 30000);
    if (st < 0)
        st = sp_stop(pid, 1000);
    char *e = sp_slurp(err_path, NULL);
    if (e) {
        size_t len = strlen(out);
        snprintf(out + len, sizeof out - len, "%s", e);
        free(e);
    }
    return st;
}

#define RUN(...) provision((const char *const[]){__VA_ARGS__, NULL})

static void expect(int got, int want, const char *needle)
{
    if (got != want || (needle && !strstr(out, needle)))
        fail_msg("exit %d (want %d), output lacks '%s':\n%s", got, want, needle ? needle : "", out);
}

/* ---- setup: a SoftHSM2 of our own and the token every test uses ---- */

static int setup(void **state)
{
    (void)state;
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    for (int i = 0; i < 2; i++) /* <BUILD>/host/tests/test_keystore -> <BUILD>/host */
        *strrchr(exe, '/') = 0;
    snprintf(prov, sizeof prov, "%s/bin/provision", exe);
    if (access(prov, X_OK) != 0) {
        fprintf(stderr, "%s is not built: run make first\n", prov);
        return -1;
    }
    snprintf(dir, sizeof dir, "/tmp/pv-keystore-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char tokens[128], conf[128];
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
    mkdir(tokens, 0700);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    unsetenv("PROVISION_PIN");
    unsetenv("PROVISION_SO_PIN");
    char err[640];
    if (pv_keystore_init_keys(&base_cfg, SO_PIN, 0, err, sizeof err) != 0) {
        fprintf(stderr, "init keys: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- keys ---- */

static void assert_protected(pv_p11 *p, enum pv_p11_class cls, const char *label)
{
    char err[384];
    pv_p11_obj h;
    if (pv_p11_find_key(p, cls, label, &h, err, sizeof err) != 0)
        fail_msg("%s", err);
    struct pv_p11_key_flags fl;
    assert_int_equal(pv_p11_key_flags(p, h, &fl, err, sizeof err), 0);
    assert_int_equal(fl.sensitive, 1);
    assert_int_equal(fl.extractable, 0);
    assert_int_equal(fl.never_extractable, 1);
    /* the attack: ask the token for the key's value */
    uint8_t v[256];
    size_t len = 0;
    assert_int_equal(pv_p11_read_value(p, h, v, sizeof v, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "CKR_ATTRIBUTE_SENSITIVE"));
}

static void test_keys_created_protected(void **state)
{
    (void)state;
    char err[640];
    pv_p11 *p = pv_p11_open(NULL, TOKEN, PIN, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    assert_protected(p, PV_P11_SECRET_KEY, MASTER);
    assert_protected(p, PV_P11_SECRET_KEY, NOISE);
    assert_protected(p, PV_P11_SECRET_KEY, AT_REST);
    assert_protected(p, PV_P11_PRIVATE_KEY, SIGNING);
    assert_protected(p, PV_P11_PRIVATE_KEY, AUDIT);
    /* the sealed Noise key is data, but ciphertext: the private key is not in it in clear */
    pv_p11_obj h;
    assert_int_equal(pv_p11_find_key(p, PV_P11_DATA, NOISE, &h, err, sizeof err), 0);
    uint8_t blob[256];
    size_t len;
    assert_int_equal(pv_p11_read_value(p, h, blob, sizeof blob, &len, err, sizeof err), 0);
    assert_int_equal(len, 68);
    assert_memory_equal(blob, "PVNK\x01\x00\x00\x00", 8);
    pv_p11_close(p);

    /* a second init refuses and changes nothing */
    pv_keystore *ks = open_ks(&base_cfg);
    uint8_t s1[32], s2[32];
    assert_int_equal(pv_keystore_signer_public(ks, s1), 0);
    pv_keystore_close(ks);
    assert_int_equal(pv_keystore_init_keys(&base_cfg, SO_PIN, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "already has the product master key 'product-master'"));
    assert_non_null(strstr(err, "--force"));
    ks = open_ks(&base_cfg);
    assert_int_equal(pv_keystore_signer_public(ks, s2), 0);
    pv_keystore_close(ks);
    assert_memory_equal(s1, s2, 32);

    /* one label for two keys is refused before anything is created */
    struct pv_keystore_config dup = base_cfg;
    dup.token_label = "ks-dup";
    dup.at_rest_label = MASTER;
    assert_int_equal(pv_keystore_init_keys(&dup, SO_PIN, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "label 'product-master' is used for both"));
}

static void test_psk_derivation(void **state)
{
    (void)state;
    pv_keystore *ks = open_ks(&base_cfg);
    const uint8_t uid1[12] = {0x31, 0x00, 0x2a, 0x00, 0x0d, 0x51,
                              0x34, 0x38, 0x38, 0x34, 0x37, 0x31};
    uint8_t uid2[12];
    memcpy(uid2, uid1, 12);
    uid2[11] ^= 1;
    uint8_t a[32], b[32], c[32], zero[32] = {0};
    assert_int_equal(pv_keystore_device_psk(ks, uid1, a), 0);
    assert_int_equal(pv_keystore_device_psk(ks, uid1, b), 0);
    assert_int_equal(pv_keystore_device_psk(ks, uid2, c), 0);
    assert_memory_equal(a, b, 32);
    assert_memory_not_equal(a, c, 32);
    assert_memory_not_equal(a, zero, 32);
    pv_keystore_close(ks);
    /* and after reopening the token */
    ks = open_ks(&base_cfg);
    assert_int_equal(pv_keystore_device_psk(ks, uid1, b), 0);
    assert_memory_equal(a, b, 32);
    pv_keystore_close(ks);
}

/* The derivation is exactly HMAC-SHA256(master, "pv-psk-v1" || uid): a known master value
 * imported into a second token (test-only path) gives OpenSSL's result. */
static void test_psk_matches_openssl(void **state)
{
    (void)state;
    char err[640];
    assert_int_equal(pv_p11_init_token(NULL, "ks-known", SO_PIN, PIN, err, sizeof err), 1);
    assert_int_equal(pv_p11_init_token(NULL, "ks-known", SO_PIN, PIN, err, sizeof err), 0);
    uint8_t master[32];
    for (int i = 0; i < 32; i++)
        master[i] = (uint8_t)(0xa0 + i);
    pv_p11 *p = pv_p11_open(NULL, "ks-known", PIN, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    pv_p11_obj h;
    if (pv_p11_import_hmac_key(p, "known-master", master, 32, 1, &h, err, sizeof err) != 0 ||
        pv_p11_import_hmac_key(p, "leaky-master", master, 32, 0, &h, err, sizeof err) != 0)
        fail_msg("%s", err);
    pv_p11_close(p);
    /* a master key that could leave the token is refused */
    struct pv_keystore_config leaky = {
        .token_label = "ks-known", .pin = PIN, .master_label = "leaky-master"};
    assert_null(pv_keystore_open(&leaky, err, sizeof err));
    assert_non_null(strstr(err, "'leaky-master' on token 'ks-known' is extractable"));

    struct pv_keystore_config cfg = {
        .token_label = "ks-known", .pin = PIN, .master_label = "known-master"};
    pv_keystore *ks = open_ks(&cfg);
    for (int t = 0; t < 3; t++) {
        uint8_t uid[12], psk[32], want[32], msg[21];
        for (int i = 0; i < 12; i++)
            uid[i] = (uint8_t)(t * 37 + i * 11);
        memcpy(msg, "pv-psk-v1", 9);
        memcpy(msg + 9, uid, 12);
        unsigned wl = 32;
        assert_non_null(HMAC(EVP_sha256(), master, 32, msg, sizeof msg, want, &wl));
        assert_int_equal(pv_keystore_device_psk(ks, uid, psk), 0);
        assert_memory_equal(psk, want, 32);
    }
    /* functions whose key this configuration does not name say so */
    uint8_t x[32];
    assert_int_equal(pv_keystore_signer_public(ks, x), -1);
    assert_non_null(strstr(pv_keystore_error(ks), "no image-signing key configured"));
    pv_keystore_close(ks);
}

static void test_noise_static(void **state)
{
    (void)state;
    pv_keystore *ks = open_ks(&base_cfg);
    uint8_t priv[32], pub[32], want[32], priv2[32], pub2[32];
    assert_int_equal(pv_keystore_noise_static(ks, priv, pub), 0);
    /* pub = X25519(priv, 9), by lib/crypto (not the OpenSSL the keystore uses) */
    static const uint8_t nine[32] = {9};
    assert_int_equal(pv_x25519(want, priv, nine), 0);
    assert_memory_equal(pub, want, 32);
    pv_keystore_close(ks);
    ks = open_ks(&base_cfg);
    assert_int_equal(pv_keystore_noise_static(ks, priv2, pub2), 0);
    assert_memory_equal(priv, priv2, 32);
    assert_memory_equal(pub, pub2, 32);
    pv_keystore_close(ks);

    /* the attack: a modified blob in the token does not open */
    char err[640];
    pv_p11 *p = pv_p11_open(NULL, TOKEN, PIN, err, sizeof err);
    assert_non_null(p);
    pv_p11_obj h;
    uint8_t blob[68], bad[68];
    size_t len;
    assert_int_equal(pv_p11_find_key(p, PV_P11_DATA, NOISE, &h, err, sizeof err), 0);
    assert_int_equal(pv_p11_read_value(p, h, blob, sizeof blob, &len, err, sizeof err), 0);
    const size_t where[] = {5, 8, 20, 52, 67}; /* header, nonce, ciphertext, tag */
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        memcpy(bad, blob, sizeof bad);
        bad[where[i]] ^= 0x10;
        assert_int_equal(pv_p11_destroy(p, h, err, sizeof err), 0);
        assert_int_equal(pv_p11_create_data(p, NOISE, bad, sizeof bad, &h, err, sizeof err), 0);
        pv_p11_close(p);
        ks = open_ks(&base_cfg);
        assert_int_equal(pv_keystore_noise_static(ks, priv2, pub2), -1);
        assert_non_null(strstr(pv_keystore_error(ks), "'noise-static'"));
        pv_keystore_close(ks);
        p = pv_p11_open(NULL, TOKEN, PIN, err, sizeof err);
        assert_non_null(p);
        assert_int_equal(pv_p11_find_key(p, PV_P11_DATA, NOISE, &h, err, sizeof err), 0);
    }
    assert_int_equal(pv_p11_destroy(p, h, err, sizeof err), 0);
    assert_int_equal(pv_p11_create_data(p, NOISE, blob, sizeof blob, &h, err, sizeof err), 0);
    pv_p11_close(p);
    ks = open_ks(&base_cfg);
    assert_int_equal(pv_keystore_noise_static(ks, priv2, pub2), 0);
    assert_memory_equal(pub, pub2, 32);
    pv_keystore_close(ks);
}

/* ---- images sealed at rest ---- */

static uint8_t image[3001];

static bool contains(const uint8_t *h, size_t hl, const uint8_t *needle, size_t nl)
{
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, needle, nl) == 0)
            return true;
    return false;
}

static void seal_image(pv_keystore *ks, const char *plain, const char *sealed)
{
    for (size_t i = 0; i < sizeof image; i++)
        image[i] = (uint8_t)(i * 7 + (i >> 8));
    write_file(plain, image, sizeof image);
    if (pv_keystore_seal_file(ks, plain, sealed) != 0)
        fail_msg("seal: %s", pv_keystore_error(ks));
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    char plain[128], sealed[128];
    snprintf(plain, sizeof plain, "%s/boot.bin", dir);
    snprintf(sealed, sizeof sealed, "%s/boot.sealed", dir);
    pv_keystore *ks = open_ks(&base_cfg);
    seal_image(ks, plain, sealed);
    size_t n;
    uint8_t *b = read_file_all(sealed, &n);
    size_t hdr = 8 + 1 + strlen(AT_REST) + 12 + 4;
    assert_int_equal(n, hdr + sizeof image + 16);
    assert_memory_equal(b, "PVSEAL1\0", 8);
    assert_int_equal(b[8], strlen(AT_REST));
    assert_memory_equal(b + 9, AT_REST, strlen(AT_REST));
    /* no run of the plaintext is in the file */
    assert_false(contains(b, n, image + 100, 16));
    free(b);
    uint8_t *img = NULL;
    size_t len = 0;
    if (pv_keystore_open_sealed(ks, sealed, &img, &len) != 0)
        fail_msg("%s", pv_keystore_error(ks));
    assert_int_equal(len, sizeof image);
    assert_memory_equal(img, image, sizeof image);
    free(img);
    /* sealing twice gives other bytes (fresh nonce) that open to the same image */
    char sealed2[128];
    snprintf(sealed2, sizeof sealed2, "%s/boot2.sealed", dir);
    seal_image(ks, plain, sealed2);
    size_t n1, n2;
    uint8_t *b1 = read_file_all(sealed, &n1), *b2 = read_file_all(sealed2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_not_equal(b1 + hdr - 16, b2 + hdr - 16, 12);
    free(b1);
    free(b2);
    pv_keystore_close(ks);
}

static void expect_refused(pv_keystore *ks, const char *path, const char *needle)
{
    uint8_t *img = (uint8_t *)1;
    size_t len = 1;
    assert_int_equal(pv_keystore_open_sealed(ks, path, &img, &len), -1);
    assert_null(img);
    assert_int_equal(len, 0);
    if (!strstr(pv_keystore_error(ks), needle) || !strstr(pv_keystore_error(ks), path))
        fail_msg("error lacks '%s' or the path: %s", needle, pv_keystore_error(ks));
}

static void test_seal_tampered(void **state)
{
    (void)state;
    char plain[128], sealed[128], bad[128];
    snprintf(plain, sizeof plain, "%s/t.bin", dir);
    snprintf(sealed, sizeof sealed, "%s/t.sealed", dir);
    snprintf(bad, sizeof bad, "%s/t.bad", dir);
    pv_keystore *ks = open_ks(&base_cfg);
    seal_image(ks, plain, sealed);
    size_t n;
    uint8_t *b = read_file_all(sealed, &n);
    size_t ll = strlen(AT_REST), nonce = 9 + ll, length = nonce + 12, ct = length + 4;
    size_t tag = n - 16;
    static const struct {
        const char *region;
        int which; /* 0 magic, 1 label, 2 nonce, 3 length, 4 ciphertext, 5 tag, 6 label length */
        const char *needle;
    } cases[] = {
        {"magic", 0, "not a sealed image"},
        {"label", 1, "sealed under key"},
        {"label length", 6, "sealed"},
        {"nonce", 2, "authentication failed"},
        {"length", 3, "the header says"},
        {"ciphertext first", 4, "authentication failed"},
        {"ciphertext last", 7, "authentication failed"},
        {"tag", 5, "authentication failed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *c = malloc(n);
        memcpy(c, b, n);
        size_t at = 0;
        switch (cases[i].which) {
        case 0:
            at = 3;
            break;
        case 1:
            at = 9 + 2;
            break;
        case 2:
            at = nonce + 5;
            break;
        case 3:
            at = length;
            break;
        case 4:
            at = ct;
            break;
        case 5:
            at = tag + 15;
            break;
        case 6:
            at = 8;
            break;
        default:
            at = tag - 1;
            break;
        }
        c[at] ^= 0x01;
        write_file(bad, c, n);
        free(c);
        expect_refused(ks, bad, cases[i].needle);
    }
    /* truncated, extended, empty, not a file */
    write_file(bad, b, n - 1);
    expect_refused(ks, bad, "the header says");
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    write_file(bad, longer, n + 1);
    free(longer);
    expect_refused(ks, bad, "the header says");
    write_file(bad, b, 0);
    expect_refused(ks, bad, "not a sealed image");
    write_file(bad, b, 20);
    expect_refused(ks, bad, "damaged sealed header");
    expect_refused(ks, dir, "not a regular file");
    /* the header is authenticated too: a forged length that matches a cut file still fails */
    uint8_t *cut = malloc(n);
    memcpy(cut, b, n);
    uint32_t pl = (uint32_t)(n - ct - 16 - 1);
    cut[length] = (uint8_t)pl, cut[length + 1] = (uint8_t)(pl >> 8);
    memmove(cut + tag - 1, cut + tag, 16); /* drop the last ciphertext byte, keep the tag */
    write_file(bad, cut, n - 1);
    free(cut);
    expect_refused(ks, bad, "authentication failed");
    free(b);
    /* another token's at-rest key with the same label does not open it */
    struct pv_keystore_config other = base_cfg;
    other.token_label = "ks-other";
    char err[640];
    assert_int_equal(pv_keystore_init_keys(&other, SO_PIN, 0, err, sizeof err), 0);
    pv_keystore_close(ks);
    ks = open_ks(&other);
    expect_refused(ks, sealed, "authentication failed");
    pv_keystore_close(ks);
}

/* A sealed header's key label is printed escaped, never as raw bytes; a label longer than any
 * token label is a damaged header; a FIFO or a device is refused at once, sealed or to seal. */
static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static void test_seal_odd_files(void **state)
{
    (void)state;
    pv_keystore *ks = open_ks(&base_cfg);
    char bad[128];
    snprintf(bad, sizeof bad, "%s/odd.sealed", dir);
    /* magic, a label of 255 bytes (escape sequences, 0xff...), nonce, length, a tag */
    uint8_t b[8 + 1 + 255 + 12 + 4 + 16 + 8];
    memset(b, 0, sizeof b);
    memcpy(b, "PVSEAL1", 8);
    b[8] = 255;
    for (size_t i = 0; i < 255; i++)
        b[9 + i] = i % 3 == 0 ? 0x1b : (i % 3 == 1 ? '[' : 0xff);
    write_file(bad, b, sizeof b);
    expect_refused(ks, bad, "damaged sealed header (key label length 255, at most 127");
    assert_true(printable(pv_keystore_error(ks)));

    /* a label of a plausible length with control bytes: shown as \xHH */
    size_t ll = 6;
    uint8_t c[8 + 1 + 6 + 12 + 4 + 16];
    memset(c, 0, sizeof c);
    memcpy(c, "PVSEAL1", 8);
    c[8] = (uint8_t)ll;
    memcpy(c + 9, "a\x1b[2Jb", ll);
    write_file(bad, c, sizeof c);
    expect_refused(ks, bad, "sealed under key 'a\\x1b[2Jb'");
    assert_true(printable(pv_keystore_error(ks)));

    /* a FIFO: nothing would ever write it; refused by type, not waited on */
    char fifo[128], out_path[128];
    snprintf(fifo, sizeof fifo, "%s/sealed.fifo", dir);
    snprintf(out_path, sizeof out_path, "%s/fifo-out.sealed", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    uint64_t t0 = sp_now_ms();
    expect_refused(ks, fifo, "is a FIFO (named pipe), not a regular file");
    assert_int_equal(pv_keystore_seal_file(ks, fifo, out_path), -1);
    assert_non_null(strstr(pv_keystore_error(ks), "is a FIFO (named pipe), not a regular file"));
    assert_int_equal(access(out_path, F_OK), -1);
    assert_true(sp_now_ms() - t0 < 10000);
    expect_refused(ks, "/dev/zero", "is a character device, not a regular file");
    unlink(fifo);
    pv_keystore_close(ks);
}

/* ---- refusals ---- */

static void test_refusals(void **state)
{
    (void)state;
    char err[640];
    struct pv_keystore_config cfg = base_cfg;
    cfg.pin = "000000";
    assert_null(pv_keystore_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "CKR_PIN_INCORRECT"));
    assert_non_null(strstr(err, "'ks-test'"));
    assert_non_null(strstr(err, "wrong user PIN"));
    assert_null(strstr(err, "000000"));

    cfg = base_cfg;
    cfg.pin = NULL;
    assert_null(pv_keystore_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "no user PIN"));

    cfg = base_cfg;
    cfg.token_label = "no-such-token";
    assert_null(pv_keystore_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "no token labelled 'no-such-token'"));
    assert_non_null(strstr(err, "provision keys init"));

    for (int i = 0; i < 5; i++) {
        cfg = base_cfg;
        const char *missing = "missing-label";
        switch (i) {
        case 0:
            cfg.master_label = missing;
            break;
        case 1:
            cfg.noise_label = missing;
            break;
        case 2:
            cfg.signing_label = missing;
            break;
        case 3:
            cfg.at_rest_label = missing;
            break;
        default:
            cfg.audit_label = missing;
            break;
        }
        assert_null(pv_keystore_open(&cfg, err, sizeof err));
        if (!strstr(err, "has no ") || !strstr(err, "labelled 'missing-label'") ||
            !strstr(err, "'ks-test'") || !strstr(err, "provision keys init"))
            fail_msg("label %d: %s", i, err);
    }

    /* a token missing and no SO PIN to create it */
    cfg = base_cfg;
    cfg.token_label = "ks-none";
    assert_int_equal(pv_keystore_init_keys(&cfg, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "token 'ks-none' does not exist"));
    assert_non_null(strstr(err, "--so-pin-file"));
}

/* ---- audit signatures ---- */

static void test_audit_sign(void **state)
{
    (void)state;
    pv_keystore *ks = open_ks(&base_cfg);
    uint8_t pub[32], hash[32], sig[80];
    for (int i = 0; i < 32; i++)
        hash[i] = (uint8_t)(i * 3);
    size_t sl = sizeof sig;
    assert_int_equal(pv_keystore_audit_public(ks, pub), 0);
    assert_int_equal(pv_keystore_audit_sign(ks, hash, sig, &sl), 0);
    assert_int_equal(sl, 64);
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    assert_non_null(k);
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt == 1)
            hash[0] ^= 1; /* another hash */
        if (attempt == 2) {
            hash[0] ^= 1;
            sig[10] ^= 1; /* a modified signature */
        }
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit(md, NULL, NULL, NULL, k), 1);
        int ok = EVP_DigestVerify(md, sig, 64, hash, 32) == 1;
        EVP_MD_CTX_free(md);
        assert_int_equal(ok, attempt == 0);
    }
    EVP_PKEY_free(k);
    /* the signing key is not the audit key */
    uint8_t spub[32];
    assert_int_equal(pv_keystore_signer_public(ks, spub), 0);
    assert_memory_not_equal(spub, pub, 32);
    sl = 63;
    assert_int_equal(pv_keystore_audit_sign(ks, hash, sig, &sl), -1);
    assert_non_null(strstr(pv_keystore_error(ks), "need 64"));
    pv_keystore_close(ks);
}

/* ---- provision keys ---- */

static const char recipe_text[] = "format: 1\n"
                                  "product: ks-test\n"
                                  "batch: ks-001\n"
                                  "quota: 10\n"
                                  "chip:\n"
                                  "  family: stm32f4\n"
                                  "  part: STM32F427VIT6\n"
                                  "  device_id: 0x419\n"
                                  "  flash_kb: 2048\n"
                                  "probe:\n"
                                  "  backend: gdb\n"
                                  "  gdb:\n"
                                  "    remote: 127.0.0.1:3333\n"
                                  "stub:\n"
                                  "  image: stub.bin\n"
                                  "  sram_base: 0x20000000\n"
                                  "bootloader:\n"
                                  "  image: bootloader.bin\n"
                                  "layout:\n"
                                  "  bootloader: {address: 0x08000000, size: 0x8000}\n"
                                  "  key_slot: {address: 0x08008000, size: 0x4000}\n"
                                  "  counter: {address: 0x0800C000, size: 0x4000}\n"
                                  "  application: {address: 0x08010000, size: 0xF0000}\n"
                                  "keys:\n"
                                  "  token: ks-cli\n"
                                  "  master_key: m-key\n"
                                  "  noise_static_key: n-key\n"
                                  "  image_signing_key: s-key\n"
                                  "  audit_key: a-key\n"
                                  "protection:\n"
                                  "  rdp_level: 2\n"
                                  "  write_protect: [0, 1, 2]\n";

static const struct pv_keystore_config cli_cfg = {
    .token_label = "ks-cli",
    .pin = "5551212",
    .master_label = "m-key",
    .noise_label = "n-key",
    .signing_label = "s-key",
    .at_rest_label = "m-key.at-rest",
    .audit_label = "a-key",
};

/* The hex after "what" in out, as 32 bytes. */
static void hex_after(const char *what, uint8_t b[32])
{
    const char *p = strstr(out, what);
    if (!p)
        fail_msg("no '%s' in:\n%s", what, out);
    p += strlen(what);
    while (*p == ' ')
        p++;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(p + 2 * i, "%2x", &v) != 1)
            fail_msg("bad hex after '%s'", what);
        b[i] = (uint8_t)v;
    }
}

static void test_cli(void **state)
{
    (void)state;
    snprintf(recipe, sizeof recipe, "%s/ks.yaml", dir);
    write_file(recipe, recipe_text, strlen(recipe_text));
    char pin_file[128], so_file[128], wrong_file[128];
    snprintf(pin_file, sizeof pin_file, "%s/pin", dir);
    snprintf(so_file, sizeof so_file, "%s/so-pin", dir);
    snprintf(wrong_file, sizeof wrong_file, "%s/wrong-pin", dir);
    write_file(pin_file, "5551212\n", 8);
    write_file(so_file, "99887766\n", 9);
    write_file(wrong_file, "1111\n", 5);
    /* PIN files others may read are refused by name, mode and fix, before the token is touched */
    expect(
        RUN("keys", "init", "--recipe", recipe, "--pin-file", pin_file, "--so-pin-file", so_file),
        3, "has mode 0644");
    assert_non_null(strstr(out, "chmod 600 "));
    assert_non_null(strstr(out, pin_file));
    assert_null(strstr(out, "5551212"));
    assert_int_equal(chmod(pin_file, 0600), 0);
    expect(
        RUN("keys", "init", "--recipe", recipe, "--pin-file", pin_file, "--so-pin-file", so_file),
        3, "group or others may read it; fix: chmod 600");
    assert_non_null(strstr(out, so_file));
    assert_null(strstr(out, "99887766"));
    assert_int_equal(chmod(so_file, 0400), 0);
    assert_int_equal(chmod(wrong_file, 0600), 0);

    expect(RUN("keys", "--help"), 0, "provision keys init");
    expect(RUN("keys"), 2, "missing subcommand");
    expect(RUN("keys", "frob", "--recipe", recipe), 2, "unknown subcommand");
    expect(RUN("keys", "init"), 2, "--recipe R is required");
    expect(RUN("keys", "init", "--recipe", recipe, "--pin", "5551212"), 2, "never given on");
    expect(RUN("keys", "init", "--recipe", recipe, "--so-pin=5551212"), 2, "never given on");
    expect(RUN("keys", "init", "--recipe", recipe, "--frob"), 2, "unknown option");
    expect(RUN("keys", "show", "--recipe", recipe, "--force"), 2, "init only");
    expect(RUN("keys", "seal", "--recipe", recipe, "x"), 2, "seal needs IN and OUT");
    expect(RUN("keys", "init", "--recipe", "/nonexistent.yaml"), 3, NULL);
    /* no PIN anywhere: refused, with where a PIN can come from */
    expect(RUN("keys", "init", "--recipe", recipe), 4, "PROVISION_PIN");
    /* token missing and no SO PIN */
    expect(RUN("keys", "init", "--recipe", recipe, "--pin-file", pin_file), 4,
           "token 'ks-cli' does not exist");
    expect(RUN("keys", "show", "--recipe", recipe, "--pin-file", pin_file), 4,
           "provision keys init");

    expect(
        RUN("keys", "init", "--recipe", recipe, "--pin-file", pin_file, "--so-pin-file", so_file),
        0, "noise static public key:");
    assert_null(strstr(out, "5551212"));
    assert_null(strstr(out, "99887766"));
    uint8_t noise_pub[32], sign_pub[32], priv[32], pub[32];
    hex_after("noise static public key:", noise_pub);
    hex_after("image signing public key:", sign_pub);
    pv_keystore *ks = open_ks(&cli_cfg);
    assert_int_equal(pv_keystore_noise_static(ks, priv, pub), 0);
    assert_memory_equal(pub, noise_pub, 32);
    assert_int_equal(pv_keystore_signer_public(ks, pub), 0);
    assert_memory_equal(pub, sign_pub, 32);
    pv_keystore_close(ks);

    expect(RUN("keys", "init", "--recipe", recipe, "--pin-file", pin_file), 4, "already has");
    expect(RUN("keys", "show", "--recipe", recipe, "--pin-file", pin_file), 0, "non-extractable");
    assert_non_null(strstr(out, "m-key.at-rest"));
    hex_after("noise static public key:", pub);
    assert_memory_equal(pub, noise_pub, 32);
    expect(RUN("keys", "show", "--recipe", recipe, "--pin-file", wrong_file), 4,
           "CKR_PIN_INCORRECT");
    assert_non_null(strstr(out, "wrong user PIN"));
    assert_null(strstr(out, "1111"));
    /* --dev falls back to the development PIN, which is not this token's */
    expect(RUN("keys", "show", "--recipe", recipe, "--dev"), 4, "CKR_PIN_INCORRECT");
    setenv("PROVISION_PIN", "5551212", 1);
    expect(RUN("keys", "show", "--recipe", recipe), 0, "sensitive");
    unsetenv("PROVISION_PIN");

    /* seal through the CLI, open through the library */
    char plain[128], sealed[128];
    snprintf(plain, sizeof plain, "%s/cli.bin", dir);
    snprintf(sealed, sizeof sealed, "%s/cli.sealed", dir);
    write_file(plain, recipe_text, sizeof recipe_text);
    expect(RUN("keys", "seal", "--recipe", recipe, "--pin-file", pin_file, plain, sealed), 0,
           "sealed");
    ks = open_ks(&cli_cfg);
    uint8_t *img;
    size_t len;
    assert_int_equal(pv_keystore_open_sealed(ks, sealed, &img, &len), 0);
    assert_int_equal(len, sizeof recipe_text);
    assert_memory_equal(img, recipe_text, len);
    free(img);
    pv_keystore_close(ks);
    expect(RUN("keys", "seal", "--recipe", recipe, "--pin-file", pin_file, "/nonexistent", sealed),
           3, "/nonexistent");

    /* a key deleted from the token: show names it, exit 4 */
    char err[640];
    pv_p11 *p = pv_p11_open(NULL, "ks-cli", "5551212", err, sizeof err);
    assert_non_null(p);
    unsigned n = 0;
    assert_int_equal(pv_p11_destroy_all(p, PV_P11_SECRET_KEY, "m-key.at-rest", &n, err, sizeof err),
                     0);
    assert_int_equal(n, 1);
    pv_p11_close(p);
    expect(RUN("keys", "show", "--recipe", recipe, "--pin-file", pin_file), 4, "MISSING");
    expect(RUN("keys", "seal", "--recipe", recipe, "--pin-file", pin_file, plain, sealed), 4,
           "no at-rest key (AES) labelled 'm-key.at-rest'");

    /* --force recreates every key: new public keys */
    expect(RUN("keys", "init", "--recipe", recipe, "--pin-file", pin_file, "--force"), 0,
           "image signing public key:");
    hex_after("noise static public key:", pub);
    assert_memory_not_equal(pub, noise_pub, 32);
    expect(RUN("keys", "show", "--recipe", recipe, "--pin-file", pin_file), 0, NULL);
    /* the image sealed before --force no longer opens */
    ks = open_ks(&cli_cfg);
    expect_refused(ks, sealed, "authentication failed");
    pv_keystore_close(ks);
}

/* A PIN file that is a FIFO or a device is refused by name at once (a FIFO would block the
 * reader for good); a regular one is read. */
static void test_pin_file_not_regular(void **state)
{
    (void)state;
    char fifo[128], regular[128], pin[64], err[512];
    snprintf(fifo, sizeof fifo, "%s/pin.fifo", dir);
    snprintf(regular, sizeof regular, "%s/pin.txt", dir);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    uint64_t t0 = sp_now_ms();
    unsetenv(PV_PIN_ENV);
    assert_int_equal(pv_pin_read(fifo, PV_PIN_ENV, NULL, "PIN", pin, sizeof pin, err, sizeof err),
                     -1);
    assert_true(sp_now_ms() - t0 < 2000);
    assert_non_null(strstr(err, "FIFO"));
    assert_int_equal(
        pv_pin_read("/dev/zero", PV_PIN_ENV, NULL, "PIN", pin, sizeof pin, err, sizeof err), -1);
    assert_non_null(strstr(err, "character device"));
    FILE *f = fopen(regular, "w");
    assert_non_null(f);
    fputs("4321\n", f);
    fclose(f);
    assert_int_equal(chmod(regular, 0600), 0);
    assert_int_equal(
        pv_pin_read(regular, PV_PIN_ENV, NULL, "PIN", pin, sizeof pin, err, sizeof err), 0);
    assert_string_equal(pin, "4321");
    unlink(fifo);
    unlink(regular);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(sp_watchdog_seconds(85));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_created_protected),
        cmocka_unit_test(test_psk_derivation),
        cmocka_unit_test(test_psk_matches_openssl),
        cmocka_unit_test(test_noise_static),
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_seal_tampered),
        cmocka_unit_test(test_seal_odd_files),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_audit_sign),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_pin_file_not_regular),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
