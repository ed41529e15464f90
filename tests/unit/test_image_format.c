/* lib/image on the host: the signed image format (every header field at and past its bounds,
 * the TLV area's framing, every single-bit flip of a whole image refused, wrong keys, S+L
 * malleability, the signature context), the vector table check, version strings, the flash
 * layout table (every region's bounds and every overlap), and the anti-rollback record log
 * including power cuts at every programming step on a fake NOR flash. Images are signed with
 * OpenSSL, so the device's verification (lib/crypto) is checked against another implementation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_rng.h"
#include "keyslot/keyslot.h"
#include "crypto/sha256.h"
#include "image/image.h"
#include "image/layout.h"
#include "image/rollback.h"
#include "sim_process.h"

#define REGION  0x08010000u
#define HDR     512u
#define PAYLOAD 1024u
#define SP_TOP  0x20030000u
#define MAX_IMG (8192u + 4096u)

struct key {
    EVP_PKEY *pkey;
    uint8_t pub[32];
};

static struct key key_a, key_b;

static void key_new(struct key *k)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_keygen(ctx, &k->pkey), 1);
    EVP_PKEY_CTX_free(ctx);
    size_t n = 32;
    assert_int_equal(EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &n), 1);
}

static void ossl_sign(const struct key *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 64;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &n, msg, len), 1);
    assert_int_equal(n, 64);
    EVP_MD_CTX_free(ctx);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

/* Builds a signed image as `provision image sign` does: header, payload with a vector table
 * (SP, reset vector inside the payload), TLV area. Returns its length. */
static size_t build(uint8_t *buf, uint32_t hdr_size, uint32_t payload, uint32_t version,
                    const struct key *signer)
{
    memset(buf, 0, MAX_IMG);
    pv_image_hdr h = {.format = 1,
                      .hdr_size = (uint16_t)hdr_size,
                      .img_size = payload,
                      .load_addr = REGION + hdr_size,
                      .version = version};
    pv_image_hdr_encode(buf, &h);
    uint8_t *p = buf + hdr_size;
    trng_bytes(p, payload);
    put32(p, SP_TOP);
    put32(p + 4, (REGION + hdr_size + 0x41u) | 1u);
    uint8_t digest[32], keyhash[32], msg[PV_IMAGE_SIG_MSG_LEN], sig[64];
    pv_sha256(digest, buf, hdr_size + payload);
    pv_sha256(keyhash, signer->pub, 32);
    pv_image_sig_message(msg, digest);
    ossl_sign(signer, msg, sizeof msg, sig);
    pv_image_tlv_encode(buf + hdr_size + payload, digest, keyhash, sig);
    return hdr_size + payload + PV_IMAGE_TLV_LEN;
}

/* Parse + verify + vectors, as the bootloader decides. */
static int judge(const uint8_t *buf, size_t avail, const uint8_t pub[32])
{
    pv_image img;
    int rc = pv_image_parse(&img, buf, avail, REGION);
    if (rc == PV_IMAGE_OK)
        rc = pv_image_verify(&img, pub);
    if (rc == PV_IMAGE_OK)
        rc = pv_image_check_vectors(&img, 0x20000000u, SP_TOP);
    return rc;
}

static int parse_only(const uint8_t *buf, size_t avail)
{
    pv_image img;
    return pv_image_parse(&img, buf, avail, REGION);
}

/* Rewrites the signature over whatever header and payload now hold (so a bounds test reaches
 * the check it is about and not the digest). */
static void resign(uint8_t *buf, const struct key *k)
{
    uint32_t hs = (uint32_t)(buf[6] | buf[7] << 8);
    uint32_t is = (uint32_t)(buf[8] | buf[9] << 8 | buf[10] << 16 | (uint32_t)buf[11] << 24);
    uint8_t digest[32], keyhash[32], msg[PV_IMAGE_SIG_MSG_LEN], sig[64];
    pv_sha256(digest, buf, hs + is);
    pv_sha256(keyhash, k->pub, 32);
    pv_image_sig_message(msg, digest);
    ossl_sign(k, msg, sizeof msg, sig);
    pv_image_tlv_encode(buf + hs + is, digest, keyhash, sig);
}

static uint8_t img[MAX_IMG], work[MAX_IMG];

static void test_valid_image(void **state)
{
    (void)state;
    size_t n = build(img, HDR, PAYLOAD, 0x02000001u, &key_a);
    assert_int_equal(n, HDR + PAYLOAD + 144);
    pv_image p;
    assert_int_equal(pv_image_parse(&p, img, n, REGION), PV_IMAGE_OK);
    assert_int_equal(p.hdr.version, 0x02000001u);
    assert_int_equal(p.hdr.load_addr, REGION + HDR);
    assert_int_equal(p.total_size, n);
    assert_ptr_equal(p.payload, img + HDR);
    assert_ptr_equal(p.digest, img + HDR + PAYLOAD + 8);
    assert_int_equal(pv_image_verify(&p, key_a.pub), PV_IMAGE_OK);
    assert_int_equal(judge(img, n, key_a.pub), PV_IMAGE_OK);
    /* In a bigger region (flash after the image) and at any address. */
    assert_int_equal(judge(img, MAX_IMG, key_a.pub), PV_IMAGE_OK);
    assert_int_equal(pv_image_parse(&p, img, n, PV_IMAGE_ANY_ADDR), PV_IMAGE_OK);
    /* Smallest and largest header sizes. */
    n = build(img, 32, 128, 1, &key_a);
    assert_int_equal(judge(img, n, key_a.pub), PV_IMAGE_OK);
    n = build(img, 4096, 128, 1, &key_a);
    assert_int_equal(judge(img, n, key_a.pub), PV_IMAGE_OK);
}

static void test_header_bounds(void **state)
{
    (void)state;
    size_t n = build(img, HDR, PAYLOAD, 1, &key_a);
    /* magic, and too little to hold a header */
    memcpy(work, img, n);
    work[3] ^= 0x20;
    assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_MAGIC);
    assert_int_equal(parse_only(img, 31), PV_IMAGE_ERR_MAGIC);
    memset(work, 0xff, n); /* erased flash */
    assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_MAGIC);
    /* format */
    for (uint16_t f = 0; f < 4; f++) {
        memcpy(work, img, n);
        put16(work + 4, f);
        assert_int_equal(parse_only(work, n), f == 1 ? PV_IMAGE_OK : PV_IMAGE_ERR_FORMAT);
    }
    /* hdr_size: 32..4096, multiple of 4, inside what is readable */
    static const uint16_t hs[] = {0, 4, 28, 30, 33, 34, 4097, 4100, 0xfffc, 0xffff};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        memcpy(work, img, n);
        put16(work + 6, hs[i]);
        assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_HDR_SIZE);
    }
    memcpy(work, img, n);
    assert_int_equal(parse_only(work, HDR - 4), PV_IMAGE_ERR_HDR_SIZE);
    /* img_size: not 0, multiple of 4, header + payload + TLV within avail, no wrap */
    static const uint32_t bad_sizes[] = {
        0, 1, 2, PAYLOAD + 1, PAYLOAD + 4, 0xfffffffcu, 0xffffffffu, 0x80000000u, 0xffffff70u};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        memcpy(work, img, n);
        put32(work + 8, bad_sizes[i]);
        assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_IMG_SIZE);
    }
    assert_int_equal(parse_only(img, n - 1), PV_IMAGE_ERR_IMG_SIZE);
    assert_int_equal(parse_only(img, HDR + PV_IMAGE_TLV_LEN - 1), PV_IMAGE_ERR_IMG_SIZE);
    /* load_addr: exactly region + hdr_size */
    static const uint32_t bad_load[] = {
        0, REGION, REGION + HDR - 4, REGION + HDR + 4, 0xffffffffu, REGION + HDR + 0x10000u};
    for (size_t i = 0; i < sizeof bad_load / sizeof bad_load[0]; i++) {
        memcpy(work, img, n);
        put32(work + 12, bad_load[i]);
        assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_LOAD_ADDR);
    }
    pv_image p;
    memcpy(work, img, n);
    put32(work + 12, HDR - 4); /* no region known: still not below the header */
    assert_int_equal(pv_image_parse(&p, work, n, PV_IMAGE_ANY_ADDR), PV_IMAGE_ERR_LOAD_ADDR);
    /* flags: every bit is unknown in format 1 */
    for (int b = 0; b < 32; b++) {
        memcpy(work, img, n);
        put32(work + 20, 1u << b);
        assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_FLAGS);
    }
    /* reserved: bytes 24..hdr_size-1 must be zero */
    for (uint32_t off = 24; off < HDR; off += 13) {
        memcpy(work, img, n);
        work[off] = 0x01;
        assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_RESERVED);
    }
    memcpy(work, img, n);
    work[HDR - 1] = 0x80;
    assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_RESERVED);
    /* version has no bounds of its own: any value parses (rollback is the device's check) */
    memcpy(work, img, n);
    put32(work + 16, 0xffffffffu);
    assert_int_equal(parse_only(work, n), PV_IMAGE_OK);
}

static void test_tlv_framing(void **state)
{
    (void)state;
    size_t n = build(img, HDR, PAYLOAD, 1, &key_a);
    uint8_t *t = work + HDR + PAYLOAD;
    /* magic and total length */
    memcpy(work, img, n);
    put16(t, 0x6907);
    assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_TLV);
    static const uint16_t lens[] = {0, 4, 143, 145, 148, 0xffff};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(work, img, n);
        put16(t + 2, lens[i]);
        assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_TLV);
    }
    /* entries at offsets 4 (SHA256), 40 (KEYHASH), 76 (ED25519) */
    static const uint32_t at[] = {4, 40, 76};
    for (int e = 0; e < 3; e++) {
        static const uint16_t types[] = {0x0000, 0x0002, 0x0011, 0x0021, 0x00ff, 0xffff};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            memcpy(work, img, n);
            put16(t + at[e], types[i]);
            assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_TLV);
        }
        /* another entry's type: one duplicate, one missing */
        memcpy(work, img, n);
        put16(t + at[e], (uint16_t)(t[at[(e + 1) % 3]] | t[at[(e + 1) % 3] + 1] << 8));
        assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_TLV);
        static const uint16_t bad_len[] = {0, 31, 33, 63, 65, 140, 0xffff};
        for (size_t i = 0; i < sizeof bad_len / sizeof bad_len[0]; i++) {
            memcpy(work, img, n);
            put16(t + at[e] + 2, bad_len[i]);
            assert_int_equal(parse_only(work, n), PV_IMAGE_ERR_TLV);
        }
    }
    /* Entries in another order are still the same image. */
    memcpy(work, img, n);
    memcpy(t + 4, img + HDR + PAYLOAD + 76, 68);
    memcpy(t + 72, img + HDR + PAYLOAD + 4, 36);
    memcpy(t + 108, img + HDR + PAYLOAD + 40, 36);
    assert_int_equal(judge(work, n, key_a.pub), PV_IMAGE_OK);
}

/* The proof's core claim on the host: one flipped bit anywhere in header, payload or TLV area
 * (digest, key hash, signature, framing) and the image is refused. */
static void test_every_bit_flip_refused(void **state)
{
    (void)state;
    size_t n = build(img, 64, 256, 0x01000000u, &key_a);
    size_t flips = 0, by_parse = 0, by_digest = 0, by_key = 0, by_sig = 0;
    for (size_t byte = 0; byte < n; byte++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(work, img, n);
            work[byte] ^= (uint8_t)(1u << bit);
            int rc = judge(work, n, key_a.pub);
            if (rc == PV_IMAGE_OK)
                fail_msg("flipping bit %d of byte %zu (of %zu) was accepted", bit, byte, n);
            flips++;
            by_parse += rc >= PV_IMAGE_ERR_TLV;
            by_digest += rc == PV_IMAGE_ERR_DIGEST;
            by_key += rc == PV_IMAGE_ERR_KEY;
            by_sig += rc == PV_IMAGE_ERR_SIGNATURE;
        }
    assert_int_equal(flips, n * 8);
    /* Every layer caught its share: the signature bits only by the signature, and so on. */
    /* Exactly: signature bits by the signature, key hash bits by the key check, payload,
     * version and digest entry by the digest, every other header and TLV framing bit by the
     * parser. */
    assert_int_equal(by_sig, 64 * 8);
    assert_int_equal(by_key, 32 * 8);
    assert_int_equal(by_digest, (256 + 4 + 32) * 8);
    assert_int_equal(by_parse, (64 - 4 + 16) * 8);
    print_message("%zu single-bit flips of a %zu-byte image: all refused (%zu header/TLV, "
                  "%zu digest, %zu key hash, %zu signature)\n",
                  flips, n, by_parse, by_digest, by_key, by_sig);
}

static void test_wrong_key_and_forgeries(void **state)
{
    (void)state;
    size_t n = build(img, HDR, PAYLOAD, 1, &key_b);
    /* Signed by B, the device trusts A: the key hash names the problem... */
    assert_int_equal(judge(img, n, key_a.pub), PV_IMAGE_ERR_KEY);
    assert_int_equal(judge(img, n, key_b.pub), PV_IMAGE_OK);
    /* ...and with the key hash forged to A's, the signature still fails. */
    uint8_t kh[32];
    pv_sha256(kh, key_a.pub, 32);
    memcpy(work, img, n);
    memcpy(work + HDR + PAYLOAD + 44, kh, 32);
    assert_int_equal(judge(work, n, key_a.pub), PV_IMAGE_ERR_SIGNATURE);

    /* Malleability: S + L is the same signature to a lax verifier; the device must refuse it. */
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    n = build(img, HDR, PAYLOAD, 1, &key_a);
    memcpy(work, img, n);
    uint8_t *s = work + HDR + PAYLOAD + 80 + 32;
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned v = s[i] + L[i] + carry;
        s[i] = (uint8_t)v;
        carry = v >> 8;
    }
    assert_int_equal(judge(work, n, key_a.pub), PV_IMAGE_ERR_SIGNATURE);

    /* A signature of the bare digest (no "PV image v1" context) is not an image signature. */
    uint8_t digest[32], sig[64];
    pv_sha256(digest, img, HDR + PAYLOAD);
    ossl_sign(&key_a, digest, 32, sig);
    memcpy(work, img, n);
    memcpy(work + HDR + PAYLOAD + 80, sig, 64);
    assert_int_equal(judge(work, n, key_a.pub), PV_IMAGE_ERR_SIGNATURE);

    /* Header changed and digest recomputed, signature kept: refused. */
    memcpy(work, img, n);
    put32(work + 16, 9);
    pv_sha256(work + HDR + PAYLOAD + 8, work, HDR + PAYLOAD);
    assert_int_equal(judge(work, n, key_a.pub), PV_IMAGE_ERR_SIGNATURE);
    /* Resigned by the trusted key it is fine again (the harness is not what refuses). */
    resign(work, &key_a);
    assert_int_equal(judge(work, n, key_a.pub), PV_IMAGE_OK);
}

static void test_vector_table(void **state)
{
    (void)state;
    size_t n = build(img, HDR, PAYLOAD, 1, &key_a);
    pv_image p;
    struct {
        uint32_t sp, reset;
        int ok;
    } c[] = {
        {SP_TOP, REGION + HDR + 0x41, 1},
        {SP_TOP - 8, REGION + HDR + 8 + 1, 1},
        {SP_TOP, REGION + HDR + PAYLOAD - 2 + 1, 1},
        {SP_TOP + 8, REGION + HDR + 0x41, 0},    /* SP above SRAM */
        {0x20000000u, REGION + HDR + 0x41, 0},   /* SP at the bottom: nothing to push */
        {SP_TOP - 4, REGION + HDR + 0x41, 0},    /* SP not 8-byte aligned */
        {0xffffffffu, REGION + HDR + 0x41, 0},   /* erased */
        {SP_TOP, REGION + HDR + 0x40, 0},        /* not Thumb */
        {SP_TOP, REGION + HDR + 1, 0},           /* into the SP word */
        {SP_TOP, REGION + HDR + 5, 0},           /* into the reset vector word */
        {SP_TOP, REGION + HDR + PAYLOAD + 1, 0}, /* past the payload */
        {SP_TOP, REGION + 1, 0},                 /* into the header */
        {SP_TOP, 0x08000001u, 0},                /* into the bootloader */
        {SP_TOP, 0x20000001u, 0},                /* into RAM */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        memcpy(work, img, n);
        put32(work + HDR, c[i].sp);
        put32(work + HDR + 4, c[i].reset);
        assert_int_equal(pv_image_parse(&p, work, n, REGION), PV_IMAGE_OK);
        int rc = pv_image_check_vectors(&p, 0x20000000u, SP_TOP);
        if (rc != (c[i].ok ? PV_IMAGE_OK : PV_IMAGE_ERR_VECTORS))
            fail_msg("case %zu: sp 0x%08x reset 0x%08x gave %d", i, c[i].sp, c[i].reset, rc);
    }
}

static void test_versions(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t v;
    } ok[] = {{"0.0.0", 0},
              {"1.0.0", 0x01000000u},
              {"1.2.3", 0x01020003u},
              {"255.255.65535", 0xffffffffu},
              {"2.10.300", 0x020a012cu}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint32_t v = 0;
        char s[14];
        assert_int_equal(pv_image_version_parse(ok[i].s, &v), 0);
        assert_int_equal(v, ok[i].v);
        pv_image_version_str(s, v);
        assert_string_equal(s, ok[i].s);
    }
    static const char *bad[] = {
        "",     "1",    "1.2",  "1.2.3.4", "256.0.0", "0.256.0", "0.0.65536",  "a.b.c",
        "1..3", ".1.2", "1.2.", "-1.0.0",  "1.2.3 ",  " 1.2.3",  "999999.0.0", "1.0.0x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t v;
        if (pv_image_version_parse(bad[i], &v) == 0)
            fail_msg("version '%s' was accepted", bad[i]);
    }
    /* Rollback compares whole words: 1.0.10 < 1.1.0 < 2.0.0. */
    uint32_t a, b, c;
    pv_image_version_parse("1.0.10", &a);
    pv_image_version_parse("1.1.0", &b);
    pv_image_version_parse("2.0.0", &c);
    assert_true(a < b && b < c);
    for (int e = PV_IMAGE_ERR_VECTORS; e <= 0; e++)
        assert_string_not_equal(pv_image_strerror(e), pv_image_strerror(-99));
}

/* ---- layout table ---- */

#define FLASH_BASE 0x08000000u
#define FLASH_2M   0x200000u
#define FLASH_1M   0x100000u

static void test_layout(void **state)
{
    (void)state;
    pv_layout l, d;
    uint8_t enc[PV_LAYOUT_LEN];
    pv_layout_default(&l);
    assert_int_equal(pv_layout_check(&l, FLASH_BASE, FLASH_2M), PV_LAYOUT_OK);
    assert_int_equal(pv_layout_check(&l, FLASH_BASE, FLASH_1M), PV_LAYOUT_OK);
    assert_int_equal(pv_layout_check(&l, FLASH_BASE, 512u * 1024u), PV_LAYOUT_ERR_APP);
    pv_layout_encode(enc, &l);
    assert_memory_equal(enc, "PVLT\x01\x00\x28\x00", 8);
    assert_int_equal(pv_layout_decode(&d, enc), PV_LAYOUT_OK);
    assert_memory_equal(&d, &l, sizeof l);
    /* framing */
    enc[0] ^= 1;
    assert_int_equal(pv_layout_decode(&d, enc), PV_LAYOUT_ERR_MAGIC);
    enc[0] ^= 1;
    for (int i = 4; i < 8; i++) {
        enc[i] ^= 0x10;
        assert_int_equal(pv_layout_decode(&d, enc), PV_LAYOUT_ERR_FORMAT);
        enc[i] ^= 0x10;
    }
    struct {
        int field; /* index into the 8 words */
        uint32_t value;
        int err;
    } c[] = {
        {0, 0x08004000u, PV_LAYOUT_ERR_BOOT},           /* boot not at flash base */
        {1, 0x200u, PV_LAYOUT_ERR_BOOT},                /* too small for the table */
        {1, 0x224u, PV_LAYOUT_ERR_BOOT},                /* table would end past the region */
        {1, 0x228u, PV_LAYOUT_OK},                      /* just the vectors and the table */
        {1, 0x300000u, PV_LAYOUT_ERR_BOOT},             /* past flash */
        {2, 0x07ff0000u, PV_LAYOUT_ERR_KEYSLOT},        /* below flash */
        {2, 0x08008002u, PV_LAYOUT_ERR_KEYSLOT},        /* unaligned */
        {3, PV_KEYSLOT_LEN - 4, PV_LAYOUT_ERR_KEYSLOT}, /* smaller than a key slot */
        {3, 0u, PV_LAYOUT_ERR_KEYSLOT},
        {2, 0x081fffc0u, PV_LAYOUT_ERR_KEYSLOT}, /* runs off the end */
        {2, 0xffffff80u, PV_LAYOUT_ERR_KEYSLOT}, /* would wrap */
        {4, 0x0800c004u, PV_LAYOUT_ERR_COUNTER}, /* not 8-aligned */
        {5, 4u, PV_LAYOUT_ERR_COUNTER},          /* not one record */
        {5, 12u, PV_LAYOUT_ERR_COUNTER},         /* not whole records */
        {5, 8u, PV_LAYOUT_OK},
        {6, 0x08010100u, PV_LAYOUT_ERR_APP},     /* not 512-aligned */
        {7, 512u, PV_LAYOUT_ERR_APP},            /* too small */
        {7, 0x1f0004u, PV_LAYOUT_ERR_APP},       /* past flash */
        {6, 0x08004000u, PV_LAYOUT_ERR_OVERLAP}, /* app over the bootloader */
        {2, 0x08007f80u, PV_LAYOUT_ERR_OVERLAP}, /* key slot into the bootloader's end */
        {2, 0x0800c000u, PV_LAYOUT_ERR_OVERLAP}, /* key slot on the counter */
        {4, 0x08008078u, PV_LAYOUT_ERR_OVERLAP}, /* counter into the key slot */
        {4, 0x08100000u, PV_LAYOUT_OK},          /* counter after the app region */
        {4, 0x080ffff8u, PV_LAYOUT_ERR_OVERLAP}, /* counter at the app region's end */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        pv_layout_default(&l);
        uint32_t *w = &l.boot_addr;
        w[c[i].field] = c[i].value;
        int rc = pv_layout_check(&l, FLASH_BASE, FLASH_2M);
        if (rc != c[i].err)
            fail_msg("case %zu: field %d = 0x%08x gave %d (%s), expected %d", i, c[i].field,
                     c[i].value, rc, pv_layout_strerror(rc), c[i].err);
    }
    /* Two-field cases: the last PV_KEYSLOT_LEN bytes of flash hold a key slot; a counter of two
     * records ending 8 bytes into the application region overlaps it. */
    pv_layout_default(&l);
    l.keyslot_addr = 0x08200000u - PV_KEYSLOT_LEN;
    l.keyslot_size = PV_KEYSLOT_LEN;
    assert_int_equal(pv_layout_check(&l, FLASH_BASE, FLASH_2M), PV_LAYOUT_OK);
    l.keyslot_size = PV_KEYSLOT_LEN + 8;
    assert_int_equal(pv_layout_check(&l, FLASH_BASE, FLASH_2M), PV_LAYOUT_ERR_KEYSLOT);
    pv_layout_default(&l);
    l.counter_addr = 0x0800fff8u;
    l.counter_size = 16;
    assert_int_equal(pv_layout_check(&l, FLASH_BASE, FLASH_2M), PV_LAYOUT_ERR_OVERLAP);
    l.counter_size = 8;
    assert_int_equal(pv_layout_check(&l, FLASH_BASE, FLASH_2M), PV_LAYOUT_OK);
    for (int e = PV_LAYOUT_ERR_OVERLAP; e <= 0; e++)
        assert_string_not_equal(pv_layout_strerror(e), pv_layout_strerror(-99));
}

/* ---- anti-rollback record log ---- */

#define CSIZE 256u

static uint8_t region[CSIZE];

static void rec(uint32_t off, uint32_t w0, uint32_t w1)
{
    put32(region + off, w0);
    put32(region + off + 4, w1);
}

static void scan(uint32_t *floor, uint32_t *next)
{
    pv_rollback_scan(region, CSIZE, floor, next);
}

static void test_rollback_scan(void **state)
{
    (void)state;
    uint32_t floor, next, w[2];
    memset(region, 0xff, CSIZE);
    scan(&floor, &next);
    assert_int_equal(floor, 0);
    assert_int_equal(next, 0);
    pv_rollback_record(0x02000000u, w);
    assert_int_equal(w[0], 0x02000000u);
    assert_int_equal(w[1], 0xfdffffffu);
    rec(0, w[0], w[1]);
    scan(&floor, &next);
    assert_int_equal(floor, 0x02000000u);
    assert_int_equal(next, 8);
    /* the floor is the largest valid record, not the last */
    rec(8, 0x03000000u, ~0x03000000u);
    rec(16, 0x01000000u, ~0x01000000u);
    scan(&floor, &next);
    assert_int_equal(floor, 0x03000000u);
    assert_int_equal(next, 24);
    /* torn: value half programmed, complement still erased -> ignored, slot used */
    rec(24, 0x7f7fffffu, 0xffffffffu);
    scan(&floor, &next);
    assert_int_equal(floor, 0x03000000u);
    assert_int_equal(next, 32);
    /* torn complement -> ignored */
    rec(32, 0x09000000u, 0xf6ffff00u);
    scan(&floor, &next);
    assert_int_equal(floor, 0x03000000u);
    assert_int_equal(next, 40);
    /* a value torn to 0 with an erased complement reads as a valid 0: cannot raise anything */
    rec(40, 0, 0xffffffffu);
    scan(&floor, &next);
    assert_int_equal(floor, 0x03000000u);
    /* a used slot far out: the next record goes after it, never before */
    rec(200, 0x12345678u, 0xffffffffu);
    scan(&floor, &next);
    assert_int_equal(next, 208);
    /* the largest version */
    rec(208, 0xffffffffu, 0);
    scan(&floor, &next);
    assert_int_equal(floor, 0xffffffffu);
    /* full */
    memset(region, 0, CSIZE);
    scan(&floor, &next);
    assert_int_equal(next, CSIZE);
    assert_int_equal(floor, 0);
    /* a size that is not whole records: the tail is ignored */
    memset(region, 0xff, CSIZE);
    rec(0, 5, ~5u);
    pv_rollback_scan(region, 12, &floor, &next);
    assert_int_equal(floor, 5);
    assert_int_equal(next, 8);
}

/* The fake NOR flash: programming only clears bits; a cut leaves a random subset of the bits
 * that were to clear. Mirrors boot_rollback_raise: value word, then complement word. */
static int raise_with_cut(uint32_t value, int cut_step)
{
    uint32_t floor, next, w[2];
    scan(&floor, &next);
    if (next + 8 > CSIZE)
        return -1;
    pv_rollback_record(value, w);
    for (int s = 0; s < 2; s++) {
        uint8_t *cell = region + next + 4 * s;
        uint32_t old = (uint32_t)(cell[0] | cell[1] << 8 | cell[2] << 16 | (uint32_t)cell[3] << 24);
        uint32_t target = old & w[s];
        if (s == cut_step) {
            uint32_t clear = old & ~target;
            uint32_t done = clear & (uint32_t)trng_u64();
            put32(cell, old & ~done);
            return 1; /* power gone */
        }
        put32(cell, target);
    }
    return 0;
}

static void test_rollback_power_cuts(void **state)
{
    (void)state;
    size_t cases = 0;
    for (int round = 0; round < 200; round++) {
        memset(region, 0xff, CSIZE);
        uint32_t floor, next, old = 0;
        /* a history of a few raises */
        int hist = (int)trng_len(5);
        for (int i = 0; i < hist; i++) {
            old += 1u + (uint32_t)trng_len(0x00ffffffu);
            assert_int_equal(raise_with_cut(old, -1), 0);
        }
        uint32_t new_v = old + 1u + (uint32_t)trng_len(0x00ffffffu);
        int cut = (int)trng_len(1);
        assert_int_equal(raise_with_cut(new_v, cut), 1);
        scan(&floor, &next);
        if (floor != old && floor != new_v)
            fail_msg("round %d: cut in step %d left floor 0x%08x (old 0x%08x new 0x%08x)", round,
                     cut, floor, old, new_v);
        /* the next boot raises again when needed, and ends at the new floor */
        if (floor < new_v)
            assert_int_equal(raise_with_cut(new_v, -1), 0);
        scan(&floor, &next);
        assert_int_equal(floor, new_v);
        cases++;
    }
    print_message("%zu power cuts in a floor raise: the floor was always old or new\n", cases);
}

/* `provision image info|verify` on files that are not images: a file cut inside the header
 * says so (not "bytes 50 56 49 4d, expected 50 56 49 4d"), a FIFO or a device is refused at once
 * by type. */
static void test_cli_short_and_odd_files(void **state)
{
    (void)state;
    char prov[4096], tmp[64], path[128], fifo[128], err_path[128];
    if (!sp_host_bin(prov, sizeof prov, "provision"))
        skip();
    assert_true(sp_make_tmpdir(tmp, sizeof tmp, "test_image_format"));
    snprintf(path, sizeof path, "%s/short.img", tmp);
    snprintf(fifo, sizeof fifo, "%s/image.fifo", tmp);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmp);
    size_t n = build(img, HDR, PAYLOAD, 0x01000000u, &key_a);
    assert_true(n > 20);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(img, 1, 20, f), 20); /* "PVIM" and 16 bytes: less than a header */
    fclose(f);
    static char o[8192], e[8192];
    static const char *const subs[] = {"info", "verify"};
    for (size_t i = 0; i < 2; i++) {
        const char *args[] = {"image", subs[i], path, NULL, NULL, NULL};
        if (i == 1)
            args[3] = "--key", args[4] = "/nonexistent.pem";
        int st = sp_run_capture(prov, args, err_path, o, sizeof o, e, sizeof e);
        if (!strstr(e, "the magic is right (\"PVIM\") but the file has only 20 bytes, fewer "
                       "than the 32-byte header") ||
            strstr(e, "expected 50 56 49 4d"))
            fail_msg("image %s on a 20-byte file: exit %d:\n%s", subs[i], st, e);
    }
    assert_int_equal(mkfifo(fifo, 0600), 0);
    uint64_t t0 = sp_now_ms();
    int st = sp_run_capture(prov, (const char *const[]){"image", "info", fifo, NULL}, err_path, o,
                            sizeof o, e, sizeof e);
    char want[256];
    snprintf(want, sizeof want, "%s: is a FIFO (named pipe), not a regular file", fifo);
    if (st != 3 || !strstr(e, want))
        fail_msg("image info on a FIFO: exit %d (want 3):\n%s", st, e);
    st = sp_run_capture(prov, (const char *const[]){"image", "info", "/dev/zero", NULL}, err_path,
                        o, sizeof o, e, sizeof e);
    if (st != 3 || !strstr(e, "/dev/zero: is a character device, not a regular file"))
        fail_msg("image info on /dev/zero: exit %d (want 3):\n%s", st, e);
    assert_true(sp_now_ms() - t0 < 10000);
    assert_int_equal(sp_remove_tmpdir(tmp), 0);
}

int main(void)
{
    trng_seed_from_env();
    key_new(&key_a);
    key_new(&key_b);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_image),
        cmocka_unit_test(test_header_bounds),
        cmocka_unit_test(test_tlv_framing),
        cmocka_unit_test(test_every_bit_flip_refused),
        cmocka_unit_test(test_wrong_key_and_forgeries),
        cmocka_unit_test(test_vector_table),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_rollback_scan),
        cmocka_unit_test(test_rollback_power_cuts),
        cmocka_unit_test(test_cli_short_and_odd_files),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(key_a.pkey);
    EVP_PKEY_free(key_b.pkey);
    return rc;
}
