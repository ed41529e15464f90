/* `provision image sign|verify|info` as a user runs it (build/host/bin/provision as a child
 * process): PEM keys and a SoftHSM2 PKCS#11 token (created in a temporary directory, key pair
 * generated through hsm-bridge/p11), the images it writes checked by lib/image (the device's
 * code), and bad inputs each giving its documented exit code and a message naming the file and
 * the field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "../../hsm-bridge/p11.h"
#include "../../hsm-bridge/pin_source.h"
#include "common/test_rng.h"
#include "image/image.h"
#include "sim_process.h"

#define APP_LEN 3000u /* not a multiple of 4: sign pads */

static char dir[64], prov[4096];
static char key_a[128], key_a_pub[128], key_b[128], rsa_key[128], app[128];
static uint8_t pub_a[32], pub_b[32];
static char out[65536];

/* Runs provision with args; stdout and stderr both land in out. Returns the exit status. */
static int provision(const char *const *args)
{
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    int st = sp_run_capture(prov, args, err_path, out, sizeof out, NULL, 0);
    assert_true(st >= 0);
    return st;
}

#define RUN(...) provision((const char *const[]){__VA_ARGS__, NULL})

static void expect(int got, int want, const char *needle)
{
    if (got != want || (needle && !strstr(out, needle)))
        fail_msg("exit %d (want %d), output lacks '%s':\n%s", got, want, needle ? needle : "", out);
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

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static void new_ed25519_pem(const char *priv, const char *pub, uint8_t raw[32])
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
    EVP_PKEY_CTX_free(ctx);
    FILE *f = fopen(priv, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    if (pub) {
        f = fopen(pub, "w");
        assert_non_null(f);
        assert_int_equal(PEM_write_PUBKEY(f, k), 1);
        fclose(f);
    }
    size_t n = 32;
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &n), 1);
    EVP_PKEY_free(k);
}

/* The device's verdict on an image file (lib/image, as the bootloader runs it). */
static int device_verdict(const char *path, const uint8_t pub[32], uint32_t *version)
{
    size_t len;
    uint8_t *b = read_file_all(path, &len);
    pv_image img;
    int rc = pv_image_parse(&img, b, len, 0x08010000u);
    if (rc == PV_IMAGE_OK)
        rc = pv_image_verify(&img, pub);
    if (rc == PV_IMAGE_OK)
        rc = pv_image_check_vectors(&img, 0x20000000u, 0x20030000u);
    if (version)
        *version = img.hdr.version;
    free(b);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    if (!sp_host_bin(prov, sizeof prov, "provision"))
        fail_msg("%s is not built (make all)", prov);
    assert_true(sp_make_tmpdir(dir, sizeof dir, "test_prov_image"));
    snprintf(key_a, sizeof key_a, "%s/a.pem", dir);
    snprintf(key_a_pub, sizeof key_a_pub, "%s/a.pub.pem", dir);
    snprintf(key_b, sizeof key_b, "%s/b.pem", dir);
    snprintf(rsa_key, sizeof rsa_key, "%s/rsa.pem", dir);
    snprintf(app, sizeof app, "%s/app.bin", dir);
    new_ed25519_pem(key_a, key_a_pub, pub_a);
    new_ed25519_pem(key_b, NULL, pub_b);
    EVP_PKEY *r = EVP_RSA_gen(1024);
    assert_non_null(r);
    FILE *f = fopen(rsa_key, "w");
    PEM_write_PrivateKey(f, r, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    EVP_PKEY_free(r);
    /* An application linked at 0x08010200: SP at the top of SRAM, reset handler inside. */
    uint8_t bin[APP_LEN];
    trng_bytes(bin, sizeof bin);
    put32(bin, 0x20030000u);
    put32(bin + 4, 0x08010200u + 0x101u);
    write_file(app, bin, sizeof bin);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return sp_remove_tmpdir(dir);
}

static void test_cli_help_and_usage(void **state)
{
    (void)state;
    expect(RUN("--version"), 0, "provision ");
    expect(RUN("--help"), 0, "image");
    expect(RUN("--help"), 0, "exit status");
    expect(RUN("help", "image"), 0, "provision image sign");
    expect(RUN("image", "--help"), 0, "--pkcs11");
    expect(RUN("image", "sign", "--help"), 0, "--image-version");
    expect(RUN("image", "verify", "--help"), 0, "--min-version");
    expect(RUN("image", "info", "--help"), 0, "info");
    expect(RUN("frobnicate"), 2, "unknown command 'frobnicate'");
    expect(RUN("image"), 2, "usage");
    expect(RUN("image", "stamp"), 2, "unknown subcommand 'stamp'");
    expect(RUN("image", "sign", "--bogus"), 2, "unknown option --bogus");
    expect(RUN("image", "sign", "--in", app, "--out", "x.img"), 2, "--image-version");
    expect(RUN("image", "sign", "--in"), 2, "missing value for --in");
    expect(RUN("image", "sign", "--in", app, "--out", "x", "--image-version", "1.2"), 2,
           "--image-version 1.2: expected major.minor.patch");
    expect(RUN("image", "sign", "--in", app, "--out", "x", "--image-version", "256.0.0", "--key",
               key_a),
           2, "256.0.0");
    expect(RUN("image", "sign", "--in", app, "--out", "x", "--image-version", "1.0.0"), 2,
           "no key");
    expect(RUN("image", "sign", "--in", app, "--out", "x", "--image-version", "1.0.0", "--key",
               key_a, "--pkcs11"),
           2, "either --key or --pkcs11");
    expect(RUN("image", "sign", "--in", app, "--out", "x", "--image-version", "1.0.0", "--key",
               key_a, "--load-addr", "0x08010100"),
           2, "--load-addr 0x08010100: must be a multiple of 512");
    expect(RUN("image", "sign", "--in", app, "--out", "x", "--image-version", "1.0.0", "--key",
               key_a, "--header-size", "30"),
           2, "--header-size 30");
    expect(RUN("image", "verify"), 2, "exactly one IMAGE");
    expect(RUN("image", "info", "a", "b"), 2, "exactly one IMAGE");
}

static void test_pem_sign_verify_info(void **state)
{
    (void)state;
    char img[160], pub_copy[160];
    snprintf(img, sizeof img, "%s/app.img", dir);
    expect(
        RUN("image", "sign", "--key", key_a, "--image-version", "1.2.3", "--in", app, "--out", img),
        0, "signed image version 1.2.3");
    uint32_t v = 0;
    assert_int_equal(device_verdict(img, pub_a, &v), PV_IMAGE_OK);
    assert_int_equal(v, 0x01020003u);
    assert_int_equal(device_verdict(img, pub_b, NULL), PV_IMAGE_ERR_KEY);
    size_t len;
    uint8_t *b = read_file_all(img, &len);
    assert_int_equal(len, 512 + ((APP_LEN + 3) & ~3u) + 144);
    free(b);

    expect(RUN("image", "info", img), 0, "version:      1.2.3 (0x01020003)");
    assert_non_null(strstr(out, "load_addr:    0x08010200"));
    assert_non_null(strstr(out, "img_size:     3000"));
    assert_non_null(strstr(out, "(matches header and payload)"));
    expect(RUN("image", "verify", "--key", key_a, img), 0, "valid: version 1.2.3");
    snprintf(pub_copy, sizeof pub_copy, "%s", key_a_pub);
    expect(RUN("image", "verify", "--key", pub_copy, img), 0, "valid");
    expect(RUN("image", "verify", "--key", key_a, "--region", "0x08010000", img), 0, "valid");
    expect(RUN("image", "verify", "--key", key_a, "--min-version", "1.2.3", img), 0, "valid");
    /* what the device would refuse, verify refuses the same way */
    expect(RUN("image", "verify", "--key", key_b, img), 1, "signed by another key");
    expect(RUN("image", "verify", "--key", key_a, "--region", "0x08020000", img), 1,
           "load_addr: 0x08010200, expected region 0x08020000");
    expect(RUN("image", "verify", "--key", key_a, "--min-version", "1.2.4", img), 1,
           "version 1.2.3 < --min-version 1.2.4");
    /* a public key cannot sign */
    expect(RUN("image", "sign", "--key", key_a_pub, "--image-version", "1.0.0", "--in", app,
               "--out", img),
           4, "no PEM private key");
}

static void test_tampered_images(void **state)
{
    (void)state;
    char img[160], bad[160];
    snprintf(img, sizeof img, "%s/t.img", dir);
    snprintf(bad, sizeof bad, "%s/bad.img", dir);
    expect(
        RUN("image", "sign", "--key", key_a, "--image-version", "2.0.0", "--in", app, "--out", img),
        0, "signed");
    size_t len;
    uint8_t *b = read_file_all(img, &len);
    static const struct {
        size_t off;
        uint8_t xor_;
        const char *verify_msg;
    } flips[] = {
        {600, 0x01, "digest mismatch"},           /* payload */
        {16, 0x01, "digest mismatch"},            /* version */
        {0, 0x01, "magic: bytes 51 56 49 4d"},    /* magic */
        {4, 0x02, "format: 3"},                   /* format */
        {8, 0x04, "img_size: 3004"},              /* image size */
        {12, 0x01, "load_addr: 0x08010201"},      /* load address */
        {20, 0x80, "flags: 0x00000080"},          /* flags */
        {100, 0x10, "header byte at offset 100"}, /* reserved */
    };
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        b[flips[i].off] ^= flips[i].xor_;
        write_file(bad, b, len);
        b[flips[i].off] ^= flips[i].xor_;
        expect(RUN("image", "verify", "--key", key_a, "--region", "0x08010000", bad), 1,
               flips[i].verify_msg);
        assert_non_null(strstr(out, bad)); /* the message names the file */
    }
    size_t tlv = len - 144;
    b[tlv + 8] ^= 1; /* stored digest */
    write_file(bad, b, len);
    expect(RUN("image", "info", bad), 1, "MISMATCH");
    expect(RUN("image", "verify", "--key", key_a, bad), 1, "SHA256 entry");
    b[tlv + 8] ^= 1;
    b[tlv + 80 + 5] ^= 0x40; /* signature */
    write_file(bad, b, len);
    expect(RUN("image", "verify", "--key", key_a, bad), 1, "signature invalid");
    expect(RUN("image", "info", bad), 0, "matches"); /* info has no key: structure only */
    b[tlv + 80 + 5] ^= 0x40;
    b[tlv] ^= 1; /* TLV magic */
    write_file(bad, b, len);
    expect(RUN("image", "verify", "--key", key_a, bad), 1, "TLV area at offset");
    b[tlv] ^= 1;
    write_file(bad, b, len - 1); /* truncated */
    expect(RUN("image", "verify", "--key", key_a, bad), 1, "img_size: 3000");
    uint8_t *longer = malloc(len + 16);
    memcpy(longer, b, len);
    memset(longer + len, 0xff, 16); /* trailing bytes */
    write_file(bad, longer, len + 16);
    free(longer);
    expect(RUN("image", "verify", "--key", key_a, bad), 1, "16 bytes after the TLV area");
    expect(RUN("image", "verify", "--key", key_a, app), 1, "is this an unsigned .bin?");
    free(b);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char img[160], missing[160], garbage[160], noperm[192];
    snprintf(img, sizeof img, "%s/x.img", dir);
    snprintf(missing, sizeof missing, "%s/missing.bin", dir);
    snprintf(garbage, sizeof garbage, "%s/garbage.bin", dir);
    snprintf(noperm, sizeof noperm, "%s/no/such/dir/x.img", dir);
    expect(RUN("image", "sign", "--key", key_a, "--image-version", "1.0.0", "--in", missing,
               "--out", img),
           3, "missing.bin: cannot open");
    expect(RUN("image", "sign", "--key", missing, "--image-version", "1.0.0", "--in", app, "--out",
               img),
           4, "missing.bin: cannot open the key file");
    expect(
        RUN("image", "sign", "--key", app, "--image-version", "1.0.0", "--in", app, "--out", img),
        4, "app.bin: no PEM private key found");
    expect(RUN("image", "sign", "--key", rsa_key, "--image-version", "1.0.0", "--in", app, "--out",
               img),
           4, "rsa.pem: an RSA key; image signing keys are Ed25519");
    expect(RUN("image", "sign", "--key", key_a, "--image-version", "1.0.0", "--in", app, "--out",
               noperm),
           3, "cannot create");
    /* not linked at the load address: its reset vector points elsewhere */
    uint8_t g[256];
    memset(g, 0x5a, sizeof g);
    write_file(garbage, g, sizeof g);
    expect(RUN("image", "sign", "--key", key_a, "--image-version", "1.0.0", "--in", garbage,
               "--out", img),
           1, "vector table invalid (stack pointer or reset vector): initial SP 0x5a5a5a5a");
    write_file(garbage, g, 0);
    expect(RUN("image", "sign", "--key", key_a, "--image-version", "1.0.0", "--in", garbage,
               "--out", img),
           1, "0 bytes");
    /* bigger than the region */
    expect(RUN("image", "sign", "--key", key_a, "--image-version", "1.0.0", "--in", app, "--out",
               img, "--region-size", "2048"),
           1, "must fit the 2048-byte region");
    expect(RUN("image", "sign", "--key", key_a, "--image-version", "1.0.0", "--in", app, "--out",
               img, "--region-size", "3500"),
           1, "must fit the 3500-byte region");
    /* nothing half written was left behind by the failures */
    assert_int_equal(access(img, F_OK), -1);
}

/* ---- PKCS#11 (SoftHSM2) ---- */

static char hsm_conf[160];

static void softhsm_token(const char *label)
{
    char tokens[160], cmd[512];
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    mkdir(tokens, 0700);
    snprintf(hsm_conf, sizeof hsm_conf, "%s/softhsm2.conf", dir);
    FILE *f = fopen(hsm_conf, "w");
    assert_non_null(f);
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    fclose(f);
    setenv("SOFTHSM2_CONF", hsm_conf, 1);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label %s --so-pin 87654321 --pin 246810 "
             ">/dev/null",
             label);
    assert_int_equal(system(cmd), 0);
}

static void test_pkcs11_sign(void **state)
{
    (void)state;
    softhsm_token("pv-signing");
    char err[512];
    pv_p11 *p = pv_p11_open(NULL, "pv-signing", "246810", err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    pv_p11_obj pub_h, priv_h;
    uint8_t pub[32];
    if (pv_p11_generate_ed25519(p, "owner-2024", &pub_h, &priv_h, err, sizeof err) != 0 ||
        pv_p11_ed25519_public(p, pub_h, pub, err, sizeof err) != 0)
        fail_msg("%s", err);
    pv_p11_close(p);

    char img[160];
    snprintf(img, sizeof img, "%s/hsm.img", dir);
    setenv(PV_PIN_ENV, "246810", 1);
    expect(RUN("image", "sign", "--pkcs11", "--token", "pv-signing", "--key-label", "owner-2024",
               "--image-version", "4.5.6", "--in", app, "--out", img),
           0, "pkcs11 token 'pv-signing' key 'owner-2024'");
    assert_null(strstr(out, "246810")); /* the PIN is never echoed */
    uint32_t v;
    assert_int_equal(device_verdict(img, pub, &v), PV_IMAGE_OK);
    assert_int_equal(v, 0x04050006u);
    assert_int_equal(device_verdict(img, pub_a, NULL), PV_IMAGE_ERR_KEY);
    expect(RUN("image", "verify", "--pkcs11", "--token", "pv-signing", "--key-label", "owner-2024",
               img),
           0, "valid: version 4.5.6");
    expect(RUN("image", "verify", "--key", key_a, img), 1, "signed by another key");

    /* token errors: exit 4, named, PIN never shown */
    char wrong[160];
    snprintf(wrong, sizeof wrong, "%s/wrong-pin", dir);
    write_file(wrong, "999999\n", 7);
    assert_int_equal(chmod(wrong, 0600), 0);
    expect(RUN("image", "sign", "--pkcs11", "--token", "pv-signing", "--key-label", "owner-2024",
               "--pin-file", wrong, "--image-version", "1.0.0", "--in", app, "--out", img),
           4, "C_Login (user PIN) on token 'pv-signing': CKR_PIN_INCORRECT");
    assert_null(strstr(out, "999999"));
    expect(RUN("image", "sign", "--pkcs11", "--token", "nope", "--key-label", "owner-2024",
               "--image-version", "1.0.0", "--in", app, "--out", img),
           4, "no token labelled 'nope' (tokens present: 'pv-signing'");
    expect(RUN("image", "sign", "--pkcs11", "--token", "pv-signing", "--key-label", "other",
               "--image-version", "1.0.0", "--in", app, "--out", img),
           4, "no public key labelled 'other' on token 'pv-signing'");
    expect(RUN("image", "sign", "--pkcs11", "--token", "pv-signing", "--key-label", "owner-2024",
               "--module", "/nonexistent/libpkcs11.so", "--image-version", "1.0.0", "--in", app,
               "--out", img),
           4, "cannot load module /nonexistent/libpkcs11.so");
    expect(RUN("image", "sign", "--pkcs11", "--key-label", "owner-2024", "--image-version", "1.0.0",
               "--in", app, "--out", img),
           4, "--pkcs11 needs --token");
    unsetenv(PV_PIN_ENV);
    expect(RUN("image", "sign", "--pkcs11", "--token", "pv-signing", "--key-label", "owner-2024",
               "--image-version", "1.0.0", "--in", app, "--out", img),
           4, "no user PIN: put it on the first line of a file only you can read (chmod 600 FILE)");
    assert_non_null(strstr(out, "--pin-file FILE, or set $PROVISION_PIN"));
    /* the variable image sign once read is not read any more: one name for every command */
    setenv("PV_PKCS11_PIN", "246810", 1);
    expect(RUN("image", "sign", "--pkcs11", "--token", "pv-signing", "--key-label", "owner-2024",
               "--image-version", "1.0.0", "--in", app, "--out", img),
           4, "no user PIN");
    unsetenv("PV_PKCS11_PIN");
    /* the image signed earlier is untouched by the failed runs */
    assert_int_equal(device_verdict(img, pub, NULL), PV_IMAGE_OK);
}

/* The PIN policy (hsm-bridge/pin_source.h) as image sign applies it: a PIN on the command line
 * is refused without echoing it; a PIN file is read only when it is a regular file of this user
 * that nobody else may read. Runs after test_pkcs11_sign (its token and key). */
static void test_pkcs11_pin_policy(void **state)
{
    (void)state;
    char img[160], pin[160], cmd[400];
    snprintf(img, sizeof img, "%s/policy.img", dir);
    snprintf(pin, sizeof pin, "%s/policy-pin", dir);
    unlink(img);
#define SIGN_WITH(...)                                                                             \
    RUN("image", "sign", "--pkcs11", "--token", "pv-signing", "--key-label", "owner-2024",         \
        "--image-version", "1.0.0", "--in", app, "--out", img, __VA_ARGS__)

    /* on the command line, in every spelling getopt_long would take */
    const char *argv_pins[][2] = {{"--pin", "246810"},    {"--pin=246810", NULL},
                                  {"--so-pin", "246810"}, {"--pi", "246810"},
                                  {"--pin-f", "246810"},  {"--so-pin-fil=246810", NULL},
                                  {"--pincode", "246810"}};
    for (size_t i = 0; i < sizeof argv_pins / sizeof argv_pins[0]; i++) {
        int rc = argv_pins[i][1] ? SIGN_WITH(argv_pins[i][0], argv_pins[i][1])
                                 : SIGN_WITH(argv_pins[i][0]);
        expect(rc, 2, "a PIN is never given on the command line");
        assert_non_null(strstr(out, "chmod 600 FILE"));
        assert_non_null(strstr(out, "$PROVISION"));
        assert_null(strstr(out, "246810"));
        assert_int_equal(access(img, F_OK), -1);
    }

    /* a PIN file group or others may read */
    write_file(pin, "246810\n", 7);
    const mode_t loose[] = {0644, 0640, 0604, 0660, 0601, 0610};
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        assert_int_equal(chmod(pin, loose[i]), 0);
        expect(SIGN_WITH("--pin-file", pin), 4, "group or others may read it; fix: chmod 600");
        char mode[16];
        snprintf(mode, sizeof mode, "mode %04o", (unsigned)loose[i]);
        assert_non_null(strstr(out, mode));
        assert_non_null(strstr(out, pin));
        assert_null(strstr(out, "246810"));
        assert_int_equal(access(img, F_OK), -1);
    }
    /* another user's file, even with mode 0600 (the tests run as root: chown works) */
    assert_int_equal(chmod(pin, 0600), 0);
    if (geteuid() == 0) {
        assert_int_equal(chown(pin, 65534, 65534), 0);
        expect(SIGN_WITH("--pin-file", pin), 4, "not by the user running this command");
        assert_non_null(strstr(out, "chown 0"));
        assert_int_equal(access(img, F_OK), -1);
        assert_int_equal(chown(pin, 0, 0), 0);
    }
    /* not a regular file: named by type, and a FIFO does not hang the reader */
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/pin-fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect(SIGN_WITH("--pin-file", fifo), 4, "is a FIFO (named pipe), not a regular file");
    expect(SIGN_WITH("--pin-file", dir), 4, "is a directory, not a regular file");
    unlink(fifo);
    /* 0600 and 0400 are accepted, and the file wins over the variable */
    setenv(PV_PIN_ENV, "wrong", 1);
    expect(SIGN_WITH("--pin-file", pin), 0, "pkcs11 token 'pv-signing'");
    unsetenv(PV_PIN_ENV);
    unlink(img);
    assert_int_equal(chmod(pin, 0400), 0);
    expect(SIGN_WITH("--pin-file", pin), 0, "pkcs11 token 'pv-signing'");
    assert_int_equal(access(img, R_OK), 0);
    snprintf(cmd, sizeof cmd, "rm -f '%s' '%s'", pin, img);
    assert_int_equal(system(cmd), 0);
#undef SIGN_WITH
}

int main(void)
{
    trng_seed_from_env();
    signal(SIGPIPE, SIG_IGN);
    alarm(sp_watchdog_seconds(85));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_help_and_usage), cmocka_unit_test(test_pem_sign_verify_info),
        cmocka_unit_test(test_tampered_images),    cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_pkcs11_sign),        cmocka_unit_test(test_pkcs11_pin_policy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
