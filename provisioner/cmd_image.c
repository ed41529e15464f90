/* provision image sign|verify|info: produce and inspect signed application images
 * (lib/image/image.h, docs/image-format.md). Parsing is lib/image's, the same code the
 * bootloader runs; hashing and Ed25519 are OpenSSL's (or the PKCS#11 token's for signing). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "../hsm-bridge/file_read.h"
#include "../hsm-bridge/p11.h"
#include "../hsm-bridge/pin_source.h"
#include "commands.h"
#include "hal/stm32f4_map.h"
#include "image/image.h"
#include "image/layout.h"
#include "signer_key.h"
#include "util/le.h"

#define DEFAULT_HDR_SIZE  512 /* no suffix: also written into the help text */
#define DEFAULT_LOAD_ADDR (PV_LAYOUT_DEFAULT_APP_ADDR + DEFAULT_HDR_SIZE)
#define VTOR_ALIGN        512u /* vector table alignment of the largest STM32F4 table */
#define MAX_FILE          (16u << 20)
/* Where an application's initial stack pointer may point (SRAM, or CCM on F42x). */
#define SRAM_LO PV_F4_SRAM_BASE
#define SRAM_HI (PV_F4_SRAM_BASE + (192u << 10))
#define CCM_LO  PV_F4_CCM_BASE
#define CCM_HI  (PV_F4_CCM_BASE + (64u << 10))

static const struct pv_cli_opt opts[] = {
    {'i', 0, "in", "APP.bin",
     "sign: the application linked at its load address (its vector table first)", NULL},
    {'o', 0, "out", "APP.img", "sign: where the signed image goes", NULL},
    {'v', 0, "image-version", "X.Y.Z", "sign: the image's version (0-255.0-255.0-65535)", NULL},
    {'a', 0, "load-addr", "ADDR",
     "sign: the load address (default: the default layout's application region plus the "
     "header)",
     NULL},
    {'s', 0, "header-size", "N",
     "sign: the header's size, 32..4096, a multiple of 4 (default " PV_CLI_STR(
         DEFAULT_HDR_SIZE) ")",
     NULL},
    {'r', 0, "region-size", "N",
     "sign: the most the image may take (default: the default layout's application region)", NULL},
    {'g', 0, "region", "ADDR", "verify: also check the load address against the region start",
     NULL},
    {'m', 0, "min-version", "X.Y.Z", "verify: play the device's rollback floor", NULL},
    {'k', 0, "key", "FILE.pem",
     "sign, verify: an Ed25519 key in PEM (private to sign; private or public to verify)", NULL},
    {'P', 0, "pkcs11", NULL,
     "sign, verify: use a key pair on a PKCS#11 token (--token, --key-label) instead", NULL},
    {'T', 0, "token", "LABEL", "with --pkcs11: the token", NULL},
    {'L', 0, "key-label", "LABEL", "with --pkcs11: the key pair's label", NULL},
    {'M', 0, "module", "LIB.so", "with --pkcs11: the module (default " PV_P11_DEFAULT_MODULE ")",
     NULL},
    {'N', 0, "pin-file", "F",
     "with --pkcs11: the user PIN is the first line of F (mode 0600 or 0400, yours), else "
     "$" PV_PIN_ENV " (read once, then removed from the environment); never on the command line",
     NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_EXIT_OK, PV_EXIT_INVALID, PV_EXIT_USAGE,
                            PV_EXIT_IO, PV_EXIT_KEY,     -1};

/* ---- small helpers ---- */

__attribute__((format(printf, 2, 3))) static int usage_error(const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "provision image %s: ", sub);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see provision image --help)\n");
    va_end(ap);
    return PV_EXIT_USAGE;
}

static int parse_u32(const char *s, uint32_t *v)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || *end || x > 0xffffffffull)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

static uint8_t *read_all(const char *path, size_t max, size_t *len, char *err, size_t err_len)
{
    uint8_t *buf;
    char why[192];
    int rc = pv_file_read(path, max, &buf, len, why, sizeof why);
    if (rc == PV_FILE_TOO_LARGE)
        snprintf(err, err_len, "%s: %zu bytes, more than the %zu this command accepts", path, *len,
                 max);
    else if (rc != PV_FILE_OK)
        snprintf(err, err_len, "%s: %s", path, why);
    return rc == PV_FILE_OK ? buf : NULL;
}

/* Writes next to path and renames, so a failed run never leaves half an image. */
static int write_all(const char *path, const uint8_t *data, size_t len, char *err, size_t err_len)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        snprintf(err, err_len, "%s: path too long", path);
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, err_len, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static int sha256(uint8_t out[32], const void *data, size_t len)
{
    unsigned int n = 32;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

static int ed25519_verify(const uint8_t pub[32], const uint8_t sig[64], const uint8_t *msg,
                          size_t len)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = k && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return ok ? 0 : -1;
}

/* The vector table check the bootloader makes, with its SRAM and CCM ranges. */
static int check_vectors(const pv_image *img)
{
    if (img->hdr.load_addr % VTOR_ALIGN)
        return PV_IMAGE_ERR_VECTORS;
    if (pv_image_check_vectors(img, SRAM_LO, SRAM_HI) == PV_IMAGE_OK)
        return PV_IMAGE_OK;
    return pv_image_check_vectors(img, CCM_LO, CCM_HI);
}

/* The field behind a parse error, with its value and what was expected. */
static void explain(char *out, size_t cap, int rc, const uint8_t *b, size_t len,
                    const pv_image *img, uint32_t region)
{
    const pv_image_hdr *h = &img->hdr;
    switch (rc) {
    case PV_IMAGE_ERR_MAGIC:
        if (len >= 4 && pv_ld32(b) == PV_IMAGE_MAGIC)
            snprintf(out, cap,
                     "the magic is right (\"PVIM\") but the file has only %zu bytes, fewer than "
                     "the %u-byte header; truncated? sign the application again",
                     len, PV_IMAGE_HDR_LEN);
        else if (len < 4)
            snprintf(out, cap, "the file has only %zu bytes, fewer than the %u-byte header", len,
                     (unsigned)PV_IMAGE_HDR_LEN);
        else
            snprintf(out, cap,
                     "magic: bytes %02x %02x %02x %02x, expected 50 56 49 4d (\"PVIM\"); is this "
                     "an unsigned .bin? sign it with provision image sign",
                     b[0], b[1], b[2], b[3]);
        break;
    case PV_IMAGE_ERR_FORMAT:
        snprintf(out, cap, "format: %u, this tool and the bootloader know %u", h->format,
                 PV_IMAGE_FORMAT);
        break;
    case PV_IMAGE_ERR_HDR_SIZE:
        snprintf(out, cap, "hdr_size: %u (file has %zu bytes)", h->hdr_size, len);
        break;
    case PV_IMAGE_ERR_IMG_SIZE:
        snprintf(out, cap,
                 "img_size: %u; after the %u-byte header the file has %zu bytes, of which the "
                 "TLV area needs %u",
                 h->img_size, h->hdr_size, len > h->hdr_size ? len - h->hdr_size : 0,
                 PV_IMAGE_TLV_LEN);
        break;
    case PV_IMAGE_ERR_LOAD_ADDR:
        if (region == PV_IMAGE_ANY_ADDR)
            snprintf(out, cap, "load_addr: 0x%08x is below hdr_size %u", h->load_addr, h->hdr_size);
        else
            snprintf(out, cap, "load_addr: 0x%08x, expected region 0x%08x + hdr_size %u = 0x%08x",
                     h->load_addr, region, h->hdr_size, region + h->hdr_size);
        break;
    case PV_IMAGE_ERR_FLAGS:
        snprintf(out, cap, "flags: 0x%08x, no flag is defined in format 1", h->flags);
        break;
    case PV_IMAGE_ERR_RESERVED: {
        size_t i = 24;
        while (i < h->hdr_size && !b[i])
            i++;
        snprintf(out, cap, "header byte at offset %zu is 0x%02x", i, i < len ? b[i] : 0);
        break;
    }
    case PV_IMAGE_ERR_TLV: {
        size_t off = (size_t)h->hdr_size + h->img_size;
        snprintf(out, cap,
                 "TLV area at offset %zu: magic 0x%04x length %u (expected 0x%04x, %u, then "
                 "SHA256, KEYHASH and ED25519 entries once each)",
                 off, off + 4 <= len ? (unsigned)(b[off] | b[off + 1] << 8) : 0,
                 off + 4 <= len ? (unsigned)(b[off + 2] | b[off + 3] << 8) : 0, PV_IMAGE_TLV_MAGIC,
                 PV_IMAGE_TLV_LEN);
        break;
    }
    default:
        out[0] = 0;
        break;
    }
}

/* Key options shared by sign and verify; returns 1 if opt was one of them. */
static int key_option(int opt, const char *value, struct pv_key_source *src)
{
    switch (opt) {
    case 'k':
        src->pem = value;
        return 1;
    case 'P':
        src->pkcs11 = 1;
        return 1;
    case 'M':
        src->module = value;
        return 1;
    case 'T':
        src->token = value;
        return 1;
    case 'L':
        src->key_label = value;
        return 1;
    case 'N':
        src->pin_file = value;
        return 1;
    default:
        return 0;
    }
}

/* The parser of subcommand sub ("provision image sign" in its messages). */
static void begin(struct pv_cli_parser *ps, const char *sub, int argc, char **argv)
{
    static char who[64];
    snprintf(who, sizeof who, "provision image %s", sub);
    pv_cli_begin(ps, &pv_provision_cli, &pv_cmd_image, who, argc, argv);
}

/* An option of another subcommand. */
static int not_here(const char *sub, const struct pv_cli_opt *o)
{
    return usage_error(sub, "--%s is not an option of %s", o->name, sub);
}

static int key_source_check(const char *sub, const struct pv_key_source *src)
{
    if (src->pkcs11 && src->pem)
        return usage_error(sub, "%s", "give either --key or --pkcs11, not both");
    if (!src->pkcs11 && !src->pem)
        return usage_error(sub, "%s",
                           "no key: give --key FILE.pem or --pkcs11 --token --key-label");
    if (!src->pkcs11 && (src->token || src->key_label || src->module || src->pin_file))
        return usage_error(sub, "%s",
                           "--token, --key-label, --module and --pin-file need --pkcs11");
    return 0;
}

/* ---- sign ---- */

static int cmd_sign(int argc, char **argv)
{
    struct pv_key_source src = {0};
    const char *in = NULL, *out = NULL, *ver = NULL;
    uint32_t load_addr = DEFAULT_LOAD_ADDR, hdr_size = DEFAULT_HDR_SIZE,
             region_size = PV_LAYOUT_DEFAULT_APP_SIZE, version;
    int opt;
    struct pv_cli_parser ps;
    begin(&ps, "sign", argc, argv);
    while ((opt = pv_cli_next(&ps)) >= 0) {
        const char *v = ps.value;
        if (key_option(opt, v, &src))
            continue;
        switch (opt) {
        case 'i':
            in = v;
            break;
        case 'o':
            out = v;
            break;
        case 'v':
            ver = v;
            break;
        case 'a':
            if (parse_u32(v, &load_addr))
                return usage_error("sign", "--load-addr %s: expected a number like 0x08010200", v);
            break;
        case 's':
            if (parse_u32(v, &hdr_size))
                return usage_error("sign", "--header-size %s: expected a number", v);
            break;
        case 'r':
            if (parse_u32(v, &region_size))
                return usage_error("sign", "--region-size %s: expected a number", v);
            break;
        default:
            return not_here("sign", ps.opt);
        }
    }
    if (opt != PV_CLI_END)
        return opt == PV_CLI_HELP ? PV_EXIT_OK : PV_EXIT_USAGE;
    char **rest;
    if (pv_cli_operands(&ps, &rest) > 0)
        return usage_error("sign", "unexpected argument '%s'", rest[0]);
    if (!in || !out || !ver)
        return usage_error("sign", "%s", "--in, --out and --image-version are required");
    if (pv_image_version_parse(ver, &version) != 0)
        return usage_error(
            "sign", "--image-version %s: expected major.minor.patch (0-255.0-255.0-65535)", ver);
    if (hdr_size < PV_IMAGE_HDR_LEN || hdr_size > PV_IMAGE_HDR_MAX || hdr_size % 4)
        return usage_error("sign", "--header-size %u: must be 32..4096 and a multiple of 4",
                           hdr_size);
    if (load_addr % VTOR_ALIGN || load_addr < hdr_size)
        return usage_error("sign",
                           "--load-addr 0x%08x: must be a multiple of 512 (vector table "
                           "alignment) and above the header",
                           load_addr);
    int rc = key_source_check("sign", &src);
    if (rc)
        return rc;

    char err[1024];
    size_t in_len;
    uint8_t *app = read_all(in, MAX_FILE, &in_len, err, sizeof err);
    if (!app) {
        fprintf(stderr, "provision image sign: %s\n", err);
        return PV_EXIT_IO;
    }
    size_t pay = (in_len + 3u) & ~(size_t)3u; /* padded with erased-flash bytes */
    size_t total = hdr_size + pay + PV_IMAGE_TLV_LEN;
    if (in_len == 0 || total > region_size) {
        fprintf(stderr,
                "provision image sign: %s: %zu bytes; header %u + application + TLV %u = %zu "
                "bytes must fit the %u-byte region (--region-size)\n",
                in, in_len, hdr_size, PV_IMAGE_TLV_LEN, total, region_size);
        free(app);
        return PV_EXIT_INVALID;
    }
    uint8_t *img_buf = calloc(1, total);
    if (!img_buf) {
        free(app);
        return PV_EXIT_IO;
    }
    pv_image_hdr h = {.format = PV_IMAGE_FORMAT,
                      .hdr_size = (uint16_t)hdr_size,
                      .img_size = (uint32_t)pay,
                      .load_addr = load_addr,
                      .version = version,
                      .flags = 0};
    pv_image_hdr_encode(img_buf, &h);
    memset(img_buf + hdr_size, 0xff, pay);
    memcpy(img_buf + hdr_size, app, in_len);
    free(app);

    /* The TLV area gets placeholders first so the layout can be checked with the device's own
     * parser before anything is signed. */
    uint8_t zero[64] = {0}, digest[32], keyhash[32], msg[PV_IMAGE_SIG_MSG_LEN], sig[64], pub[32];
    pv_image_tlv_encode(img_buf + hdr_size + pay, zero, zero, zero);
    pv_image img;
    rc = pv_image_parse(&img, img_buf, total, load_addr - hdr_size);
    if (rc == PV_IMAGE_OK)
        rc = check_vectors(&img);
    if (rc != PV_IMAGE_OK) {
        fprintf(stderr,
                "provision image sign: %s: %s: initial SP 0x%08x, reset vector 0x%08x; link the "
                "application at the load address 0x%08x with its vector table first\n",
                in, pv_image_strerror(rc), pay >= 8 ? pv_ld32(img_buf + hdr_size) : 0,
                pay >= 8 ? pv_ld32(img_buf + hdr_size + 4) : 0, load_addr);
        free(img_buf);
        return PV_EXIT_INVALID;
    }

    pv_signer_key *key = pv_signer_key_open(&src, 1, err, sizeof err);
    if (!key) {
        fprintf(stderr, "provision image sign: %s\n", err);
        free(img_buf);
        return PV_EXIT_KEY;
    }
    pv_signer_key_public(key, pub);
    rc = PV_EXIT_OK;
    if (sha256(digest, img_buf, hdr_size + pay) || sha256(keyhash, pub, 32)) {
        fprintf(stderr, "provision image sign: SHA-256 failed (OpenSSL)\n");
        rc = PV_EXIT_KEY;
    } else {
        pv_image_sig_message(msg, digest);
        if (pv_signer_key_sign(key, msg, sizeof msg, sig, err, sizeof err) != 0) {
            fprintf(stderr, "provision image sign: %s\n", err);
            rc = PV_EXIT_KEY;
        } else if (ed25519_verify(pub, sig, msg, sizeof msg) != 0) {
            /* A token that signs with another key than its public half says is caught here. */
            fprintf(stderr,
                    "provision image sign: %s: the signature does not verify with the "
                    "key's own public key\n",
                    pv_signer_key_name(key));
            rc = PV_EXIT_KEY;
        }
    }
    if (rc == PV_EXIT_OK) {
        pv_image_tlv_encode(img_buf + hdr_size + pay, digest, keyhash, sig);
        if (write_all(out, img_buf, total, err, sizeof err) != 0) {
            fprintf(stderr, "provision image sign: %s\n", err);
            rc = PV_EXIT_IO;
        } else {
            char vs[14], kh[17];
            pv_image_version_str(vs, version);
            hex(kh, keyhash, 8);
            printf("%s: signed image version %s, %zu-byte application at 0x%08x, %zu bytes, "
                   "key %s (key hash %s...)\n",
                   out, vs, pay, load_addr, total, pv_signer_key_name(key), kh);
        }
    }
    pv_signer_key_close(key);
    free(img_buf);
    return rc;
}

/* ---- verify ---- */

/* Parses and checks like the device; returns a pv_image_err or 1 for trailing bytes. */
static int load_image(const char *sub, const char *path, uint32_t region, uint8_t **buf,
                      size_t *len, pv_image *img, int *exit_code)
{
    char err[1024];
    *buf = read_all(path, MAX_FILE, len, err, sizeof err);
    if (!*buf) {
        fprintf(stderr, "provision image %s: %s\n", sub, err);
        *exit_code = PV_EXIT_IO;
        return -1;
    }
    int rc = pv_image_parse(img, *buf, *len, region);
    if (rc != PV_IMAGE_OK) {
        char why[512];
        explain(why, sizeof why, rc, *buf, *len, img, region);
        fprintf(stderr, "provision image %s: %s: %s%s%s\n", sub, path, pv_image_strerror(rc),
                why[0] ? ": " : "", why);
        *exit_code = PV_EXIT_INVALID;
        return -1;
    }
    if (*len != img->total_size) {
        fprintf(stderr,
                "provision image %s: %s: %zu bytes after the TLV area (the image ends at %u "
                "bytes; not a file written by provision image sign)\n",
                sub, path, *len - img->total_size, img->total_size);
        *exit_code = PV_EXIT_INVALID;
        return -1;
    }
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    struct pv_key_source src = {0};
    uint32_t region = PV_IMAGE_ANY_ADDR, floor = 0;
    int opt;
    struct pv_cli_parser ps;
    begin(&ps, "verify", argc, argv);
    while ((opt = pv_cli_next(&ps)) >= 0) {
        const char *v = ps.value;
        if (key_option(opt, v, &src))
            continue;
        switch (opt) {
        case 'g':
            if (parse_u32(v, &region) || region == PV_IMAGE_ANY_ADDR)
                return usage_error("verify", "--region %s: expected an address like 0x08010000", v);
            break;
        case 'm':
            if (pv_image_version_parse(v, &floor) != 0)
                return usage_error("verify", "--min-version %s: expected major.minor.patch", v);
            break;
        default:
            return not_here("verify", ps.opt);
        }
    }
    if (opt != PV_CLI_END)
        return opt == PV_CLI_HELP ? PV_EXIT_OK : PV_EXIT_USAGE;
    char **files;
    if (pv_cli_operands(&ps, &files) != 1)
        return usage_error("verify", "%s", "expected exactly one IMAGE file");
    const char *path = files[0];
    int rc = key_source_check("verify", &src);
    if (rc)
        return rc;

    uint8_t *buf;
    size_t len;
    pv_image img;
    int exit_code = PV_EXIT_OK;
    if (load_image("verify", path, region, &buf, &len, &img, &exit_code) != 0) {
        free(buf);
        return exit_code;
    }
    char err[1024];
    pv_signer_key *key = pv_signer_key_open(&src, 0, err, sizeof err);
    if (!key) {
        fprintf(stderr, "provision image verify: %s\n", err);
        free(buf);
        return PV_EXIT_KEY;
    }
    uint8_t pub[32], digest[32], keyhash[32], msg[PV_IMAGE_SIG_MSG_LEN];
    char a[65], b[65], vs[14], fs[14];
    pv_signer_key_public(key, pub);
    pv_image_version_str(vs, img.hdr.version);
    const char *fail = NULL;
    char detail[512] = "";
    if (sha256(digest, buf, (size_t)img.hdr.hdr_size + img.hdr.img_size) ||
        sha256(keyhash, pub, 32)) {
        fail = "SHA-256 failed (OpenSSL)";
    } else if (memcmp(digest, img.digest, 32) != 0) {
        fail = pv_image_strerror(PV_IMAGE_ERR_DIGEST);
        hex(a, img.digest, 32);
        hex(b, digest, 32);
        snprintf(detail, sizeof detail, "SHA256 entry %s, header and payload hash to %s", a, b);
    } else if (memcmp(keyhash, img.keyhash, 32) != 0) {
        fail = pv_image_strerror(PV_IMAGE_ERR_KEY);
        hex(a, img.keyhash, 32);
        hex(b, keyhash, 32);
        snprintf(detail, sizeof detail, "KEYHASH entry %s, %s hashes to %s", a,
                 pv_signer_key_name(key), b);
    } else {
        pv_image_sig_message(msg, digest);
        if (ed25519_verify(pub, img.signature, msg, sizeof msg) != 0) {
            fail = pv_image_strerror(PV_IMAGE_ERR_SIGNATURE);
            snprintf(detail, sizeof detail, "ED25519 entry does not verify with %s",
                     pv_signer_key_name(key));
        } else if (check_vectors(&img) != PV_IMAGE_OK) {
            fail = pv_image_strerror(PV_IMAGE_ERR_VECTORS);
            snprintf(detail, sizeof detail, "initial SP 0x%08x, reset vector 0x%08x",
                     pv_ld32(img.payload), pv_ld32(img.payload + 4));
        } else if (img.hdr.version < floor) {
            fail = "image version is older than the rollback floor";
            pv_image_version_str(fs, floor);
            snprintf(detail, sizeof detail, "version %s < --min-version %s", vs, fs);
        }
    }
    if (fail) {
        fprintf(stderr, "provision image verify: %s: %s%s%s\n", path, fail, detail[0] ? ": " : "",
                detail);
        rc = PV_EXIT_INVALID;
    } else {
        printf("%s: valid: version %s, %u-byte application at 0x%08x, signed by %s\n", path, vs,
               img.hdr.img_size, img.hdr.load_addr, pv_signer_key_name(key));
        rc = PV_EXIT_OK;
    }
    pv_signer_key_close(key);
    free(buf);
    return rc;
}

/* ---- info ---- */

static int cmd_info(int argc, char **argv)
{
    int opt;
    struct pv_cli_parser ps;
    begin(&ps, "info", argc, argv);
    if ((opt = pv_cli_next(&ps)) >= 0)
        return not_here("info", ps.opt);
    if (opt != PV_CLI_END)
        return opt == PV_CLI_HELP ? PV_EXIT_OK : PV_EXIT_USAGE;
    char **files;
    if (pv_cli_operands(&ps, &files) != 1)
        return usage_error("info", "%s", "expected exactly one IMAGE file");
    const char *path = files[0];
    uint8_t *buf;
    size_t len;
    pv_image img;
    int exit_code = PV_EXIT_OK;
    if (load_image("info", path, PV_IMAGE_ANY_ADDR, &buf, &len, &img, &exit_code) != 0) {
        free(buf);
        return exit_code;
    }
    uint8_t digest[32];
    char d[129], vs[14];
    pv_image_version_str(vs, img.hdr.version);
    int match = sha256(digest, buf, (size_t)img.hdr.hdr_size + img.hdr.img_size) == 0 &&
                memcmp(digest, img.digest, 32) == 0;
    printf("file:         %s (%zu bytes)\n", path, len);
    printf("magic:        PVIM\n");
    printf("format:       %u\n", img.hdr.format);
    printf("hdr_size:     %u\n", img.hdr.hdr_size);
    printf("img_size:     %u\n", img.hdr.img_size);
    printf("load_addr:    0x%08x\n", img.hdr.load_addr);
    printf("version:      %s (0x%08x)\n", vs, img.hdr.version);
    printf("flags:        0x%08x\n", img.hdr.flags);
    printf("initial_sp:   0x%08x\n", pv_ld32(img.payload));
    printf("reset_vector: 0x%08x\n", pv_ld32(img.payload + 4));
    hex(d, img.digest, 32);
    printf("sha256:       %s (%s)\n", d, match ? "matches header and payload" : "MISMATCH");
    hex(d, img.keyhash, 32);
    printf("keyhash:      %s\n", d);
    hex(d, img.signature, 64);
    printf("ed25519:      %s\n", d);
    free(buf);
    if (!match) {
        fprintf(stderr, "provision image info: %s: %s\n", path,
                pv_image_strerror(PV_IMAGE_ERR_DIGEST));
        return PV_EXIT_INVALID;
    }
    return PV_EXIT_OK;
}

/* ---- dispatch ---- */

static int run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        pv_cli_cmd_help(argc < 2 ? stderr : stdout, &pv_provision_cli, &pv_cmd_image);
        return argc < 2 ? PV_EXIT_USAGE : PV_EXIT_OK;
    }
    if (strcmp(argv[1], "sign") == 0)
        return cmd_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    fprintf(stderr, "provision image: unknown subcommand '%s' (sign, verify or info)\n", argv[1]);
    return PV_EXIT_USAGE;
}

const struct pv_cli_cmd pv_cmd_image = {
    .name = "image",
    .summary = "sign, verify and inspect application images for the bootloader",
    .usage = "image sign --in APP.bin --out APP.img --image-version X.Y.Z KEY [--load-addr ADDR] "
             "[--header-size N] [--region-size N]\n"
             "image verify IMAGE KEY [--region ADDR] [--min-version X.Y.Z]\n"
             "image info IMAGE",
    .about = "Signed application images for the bootloader (docs/image-format.md): a header "
             "(magic, sizes, load address, version, flags), the application, and a TLV area with "
             "the SHA-256 of header and application and an Ed25519 signature of it by the "
             "product owner's key.\n\n"
             "sign: APP.bin is the application linked at its load address (its vector table "
             "first); the region size bounds the image.\n"
             "verify: checks what the bootloader checks: header fields, TLV area, digest, key, "
             "signature, vector table.\n"
             "info: prints the header and TLV fields and whether the digest matches.\n\n"
             "KEY is --key FILE.pem, or --pkcs11 --token LABEL --key-label LABEL [--module "
             "LIB.so] [--pin-file F].",
    .opts = opts,
    .exits = exits,
    .run = run,
};
