/* HMAC-SHA256/512 and HKDF-SHA256: Wycheproof vectors, RFC known answers, and differential runs
 * against OpenSSL's EVP_MAC "HMAC" and EVP_KDF "HKDF". */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_rng.h"
#include "common/vectors.h"
#include "crypto/hkdf_sha256.h"
#include "crypto/hmac.h"
#include "crypto/hmac_sha256.h"
#include "crypto/hmac_sha512.h"
#include "crypto/wipe.h"

#define HMAC256_CASES 10000
#define HMAC512_CASES 1000
#define HKDF_CASES    10000
#define MAX_MSG       4096

/* OpenSSL's parameter API wants non-const strings. */
static char DIGEST_SHA256[] = "SHA256";
static char DIGEST_SHA512[] = "SHA512";

/* ---- OpenSSL references ---- */

static void ref_hmac(char *digest, uint8_t *out, size_t out_len, const uint8_t *key, size_t key_len,
                     const uint8_t *msg, size_t msg_len)
{
    /* A non-NULL key pointer even for an empty key: EVP_MAC_init treats NULL as "no new key". */
    static const uint8_t empty[1];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    assert_non_null(mac);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    assert_non_null(ctx);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    assert_int_equal(EVP_MAC_init(ctx, key_len ? key : empty, key_len, params), 1);
    assert_int_equal(EVP_MAC_update(ctx, msg, msg_len), 1);
    size_t n = 0;
    assert_int_equal(EVP_MAC_final(ctx, out, &n, out_len), 1);
    assert_int_equal(n, out_len);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}

/* mode: EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND or _EXTRACT_ONLY. */
static void ref_hkdf(int mode, uint8_t *out, size_t out_len, uint8_t *salt, size_t salt_len,
                     uint8_t *ikm, size_t ikm_len, uint8_t *info, size_t info_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    assert_non_null(kdf);
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    assert_non_null(ctx);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, DIGEST_SHA256, 0),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, ikm_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, salt_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len),
        OSSL_PARAM_construct_end(),
    };
    assert_int_equal(EVP_KDF_derive(ctx, out, out_len, params), 1);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
}

/* ---- our HMACs behind one interface ---- */

typedef union {
    pv_hmac_sha256_ctx h256;
    pv_hmac_sha512_ctx h512;
} any_hmac_ctx;

typedef struct {
    size_t out_len;
    size_t block_len;
    size_t ctx_len;
    char *digest;
    void (*init)(any_hmac_ctx *, const void *, size_t);
    void (*update)(any_hmac_ctx *, const void *, size_t);
    void (*final)(any_hmac_ctx *, uint8_t *);
    void (*oneshot)(uint8_t *, const void *, size_t, const void *, size_t);
} hmac_impl;

static void h256_init(any_hmac_ctx *c, const void *k, size_t n)
{
    pv_hmac_sha256_init(&c->h256, k, n);
}
static void h256_update(any_hmac_ctx *c, const void *d, size_t n)
{
    pv_hmac_sha256_update(&c->h256, d, n);
}
static void h256_final(any_hmac_ctx *c, uint8_t *out)
{
    pv_hmac_sha256_final(&c->h256, out);
}
static void h512_init(any_hmac_ctx *c, const void *k, size_t n)
{
    pv_hmac_sha512_init(&c->h512, k, n);
}
static void h512_update(any_hmac_ctx *c, const void *d, size_t n)
{
    pv_hmac_sha512_update(&c->h512, d, n);
}
static void h512_final(any_hmac_ctx *c, uint8_t *out)
{
    pv_hmac_sha512_final(&c->h512, out);
}

static const hmac_impl HMAC256 = {PV_SHA256_LEN, PV_SHA256_BLOCK, sizeof(pv_hmac_sha256_ctx),
                                  DIGEST_SHA256, h256_init,       h256_update,
                                  h256_final,    pv_hmac_sha256};
static const hmac_impl HMAC512 = {PV_SHA512_LEN, PV_SHA512_BLOCK, sizeof(pv_hmac_sha512_ctx),
                                  DIGEST_SHA512, h512_init,       h512_update,
                                  h512_final,    pv_hmac_sha512};

/* Streaming in random pieces; also checks that final wipes the context as the header says. */
static void hmac_chunked(const hmac_impl *h, uint8_t *out, const uint8_t *key, size_t key_len,
                         const uint8_t *msg, size_t len)
{
    any_hmac_ctx c;
    memset(&c, 0xa5, sizeof c);
    h->init(&c, key, key_len);
    size_t off = 0;
    while (off < len) {
        size_t cap = trng_len(1) ? 9 : 700;
        size_t n = trng_len(cap < len - off ? cap : len - off);
        h->update(&c, msg + off, n);
        off += n;
    }
    h->final(&c, out);
    const uint8_t *p = (const uint8_t *)&c;
    for (size_t i = 0; i < h->ctx_len; i++)
        assert_int_equal(p[i], 0);
}

/* ---- Wycheproof ---- */

static size_t int_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    assert_true(json_is_integer(v));
    assert_true(json_integer_value(v) >= 0);
    return (size_t)json_integer_value(v);
}

static void wycheproof_hmac(const hmac_impl *h, const char *file)
{
    json_t *root = tv_load(file);
    size_t expected = int_field(root, "numberOfTests");
    size_t run = 0, valid = 0, invalid = 0, truncated = 0;
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        size_t tag_bits = int_field(g, "tagSize");
        assert_true(tag_bits > 0 && tag_bits % 8 == 0 && tag_bits / 8 <= h->out_len);
        size_t tag_bytes = tag_bits / 8;
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            size_t key_len, msg_len, tag_len;
            uint8_t *key = tv_hex_field(t, "key", &key_len);
            uint8_t *msg = tv_hex_field(t, "msg", &msg_len);
            uint8_t *tag = tv_hex_field(t, "tag", &tag_len);
            uint8_t full[PV_SHA512_LEN], streamed[PV_SHA512_LEN];

            /* Full tag, then compare only the prefix the group asks for. */
            h->oneshot(full, key, key_len, msg, msg_len);
            hmac_chunked(h, streamed, key, key_len, msg, msg_len);
            assert_memory_equal(full, streamed, h->out_len);
            int match = tag_len == tag_bytes && pv_ct_equal(full, tag, tag_bytes);

            switch (tv_result(t)) {
            case TV_VALID:
                if (!match)
                    fail_msg("%s tcId %d: valid tag rejected", file, (int)int_field(t, "tcId"));
                valid++;
                break;
            case TV_INVALID:
                if (match)
                    fail_msg("%s tcId %d: invalid tag accepted", file, (int)int_field(t, "tcId"));
                invalid++;
                break;
            default:
                fail_msg("%s tcId %d: unexpected 'acceptable'", file, (int)int_field(t, "tcId"));
            }
            truncated += tag_bytes < h->out_len;
            run++;
            free(key);
            free(msg);
            free(tag);
        }
    }
    json_decref(root);
    assert_int_equal(run, expected);
    assert_true(valid > 0 && invalid > 0 && truncated > 0);
}

static void test_wycheproof_hmac_sha256(void **state)
{
    (void)state;
    wycheproof_hmac(&HMAC256, "wycheproof/hmac_sha256_test.json");
}

static void test_wycheproof_hmac_sha512(void **state)
{
    (void)state;
    wycheproof_hmac(&HMAC512, "wycheproof/hmac_sha512_test.json");
}

static void test_wycheproof_hkdf_sha256(void **state)
{
    (void)state;
    json_t *root = tv_load("wycheproof/hkdf_sha256_test.json");
    size_t expected = int_field(root, "numberOfTests");
    size_t run = 0, valid = 0, invalid = 0;
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            size_t ikm_len, salt_len, info_len, okm_len;
            uint8_t *ikm = tv_hex_field(t, "ikm", &ikm_len);
            uint8_t *salt = tv_hex_field(t, "salt", &salt_len);
            uint8_t *info = tv_hex_field(t, "info", &info_len);
            uint8_t *okm = tv_hex_field(t, "okm", &okm_len);
            size_t size = int_field(t, "size");
            int tc = (int)int_field(t, "tcId");
            uint8_t *out = malloc(size + 1);
            uint8_t *out2 = malloc(size + 1);
            assert_non_null(out);
            assert_non_null(out2);
            memset(out, 0xa5, size + 1);
            memset(out2, 0xa5, size + 1);
            int r = pv_hkdf_sha256(out, size, salt, salt_len, ikm, ikm_len, info, info_len);
            /* The split API must agree with the one-shot. */
            uint8_t prk[32];
            pv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
            int r2 = pv_hkdf_sha256_expand(out2, size, prk, sizeof prk, info, info_len);

            switch (tv_result(t)) {
            case TV_VALID:
                if (r != 0 || r2 != 0)
                    fail_msg("hkdf tcId %d: valid case returned %d/%d", tc, r, r2);
                assert_int_equal(okm_len, size);
                if (memcmp(out, okm, size) != 0 || memcmp(out2, okm, size) != 0)
                    fail_msg("hkdf tcId %d: okm mismatch", tc);
                assert_int_equal(out[size], 0xa5); /* nothing past out_len */
                valid++;
                break;
            case TV_INVALID:
                /* The only invalid cases in this file are oversize outputs. */
                assert_true(size > PV_HKDF_SHA256_MAX_OUT);
                if (r != -1 || r2 != -1)
                    fail_msg("hkdf tcId %d: size %zu accepted (%d/%d)", tc, size, r, r2);
                for (size_t i = 0; i <= size; i++) {
                    if (out[i] != 0xa5 || out2[i] != 0xa5)
                        fail_msg("hkdf tcId %d: wrote output despite -1", tc);
                }
                invalid++;
                break;
            default:
                fail_msg("hkdf tcId %d: unexpected 'acceptable'", tc);
            }
            run++;
            free(ikm);
            free(salt);
            free(info);
            free(okm);
            free(out);
            free(out2);
        }
    }
    json_decref(root);
    assert_int_equal(run, expected);
    assert_true(valid > 0 && invalid > 0);
}

/* ---- the generic HMAC over each hash descriptor ---- */

/* The descriptors state their hash's sizes, and pv_hmac_init/final over them (the one HMAC the
 * typed functions wrap) give OpenSSL's answers for keys shorter than, as long as and longer than
 * a block, with both contexts wiped afterwards. */
static void test_hmac_over_descriptors(void **state)
{
    (void)state;
    static const struct {
        const pv_hash_desc *h;
        size_t block, len, ctx_len;
        char *digest;
    } hashes[] = {
        {&pv_hash_sha256, PV_SHA256_BLOCK, PV_SHA256_LEN, sizeof(pv_sha256_ctx), DIGEST_SHA256},
        {&pv_hash_sha512, PV_SHA512_BLOCK, PV_SHA512_LEN, sizeof(pv_sha512_ctx), DIGEST_SHA512}};
    uint8_t key[300], msg[200], got[PV_HASH_MAX_DIGEST], want[PV_HASH_MAX_DIGEST];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    memset(msg, 'm', sizeof msg);
    for (size_t k = 0; k < 2; k++) {
        const pv_hash_desc *h = hashes[k].h;
        assert_int_equal(h->block_len, hashes[k].block);
        assert_int_equal(h->digest_len, hashes[k].len);
        assert_true(h->block_len <= PV_HASH_MAX_BLOCK && h->digest_len <= PV_HASH_MAX_DIGEST);
        const size_t b = h->block_len, key_lens[] = {0, 1, b - 1, b, b + 1, 2 * b + 3};
        for (size_t j = 0; j < sizeof key_lens / sizeof key_lens[0]; j++) {
            pv_sha512_ctx ctx[2]; /* large enough for either hash's context */
            memset(ctx, 0xa5, sizeof ctx);
            pv_hmac_init(h, &ctx[0], &ctx[1], key, key_lens[j]);
            h->update(&ctx[0], msg, 3);
            h->update(&ctx[0], msg + 3, sizeof msg - 3);
            pv_hmac_final(h, &ctx[0], &ctx[1], got);
            for (size_t c = 0; c < 2; c++)
                for (size_t i = 0; i < hashes[k].ctx_len; i++)
                    assert_int_equal(((const uint8_t *)&ctx[c])[i], 0);
            ref_hmac(hashes[k].digest, want, h->digest_len, key, key_lens[j], msg, sizeof msg);
            assert_memory_equal(got, want, h->digest_len);
            /* The digest step agrees with the three-step one. */
            h->digest(got, key, key_lens[j]);
            h->init(&ctx[0]);
            h->update(&ctx[0], key, key_lens[j]);
            h->final(&ctx[0], want);
            assert_memory_equal(got, want, h->digest_len);
        }
    }
}

/* ---- RFC known answers ---- */

static void test_rfc4231_case1(void **state)
{
    (void)state;
    uint8_t key[20];
    memset(key, 0x0b, sizeof key);
    size_t n;
    uint8_t *w256 = tv_hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", &n);
    assert_int_equal(n, 32);
    uint8_t *w512 = tv_hex("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
                           "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
                           &n);
    assert_int_equal(n, 64);
    uint8_t out[64];
    pv_hmac_sha256(out, key, sizeof key, "Hi There", 8);
    assert_memory_equal(out, w256, 32);
    pv_hmac_sha512(out, key, sizeof key, "Hi There", 8);
    assert_memory_equal(out, w512, 64);
    free(w256);
    free(w512);
}

static void test_rfc5869_case1(void **state)
{
    (void)state;
    size_t ikm_len, salt_len, info_len, prk_len, okm_len;
    uint8_t *ikm = tv_hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", &ikm_len);
    uint8_t *salt = tv_hex("000102030405060708090a0b0c", &salt_len);
    uint8_t *info = tv_hex("f0f1f2f3f4f5f6f7f8f9", &info_len);
    uint8_t *prk_want =
        tv_hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5", &prk_len);
    uint8_t *okm_want = tv_hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                               "34007208d5b887185865",
                               &okm_len);
    assert_int_equal(okm_len, 42);
    uint8_t prk[32], okm[42];
    pv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
    assert_memory_equal(prk, prk_want, 32);
    assert_int_equal(pv_hkdf_sha256_expand(okm, 42, prk, 32, info, info_len), 0);
    assert_memory_equal(okm, okm_want, 42);
    memset(okm, 0, sizeof okm);
    assert_int_equal(pv_hkdf_sha256(okm, 42, salt, salt_len, ikm, ikm_len, info, info_len), 0);
    assert_memory_equal(okm, okm_want, 42);
    free(ikm);
    free(salt);
    free(info);
    free(prk_want);
    free(okm_want);
}

/* ---- HKDF edges ---- */

static void test_hkdf_edges(void **state)
{
    (void)state;
    static uint8_t out[PV_HKDF_SHA256_MAX_OUT + 2], want[PV_HKDF_SHA256_MAX_OUT];
    uint8_t salt[32], ikm[32], info[16], prk[32];
    trng_bytes(salt, sizeof salt);
    trng_bytes(ikm, sizeof ikm);
    trng_bytes(info, sizeof info);

    /* The largest legal output, and one byte more. */
    ref_hkdf(EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, want, sizeof want, salt, sizeof salt, ikm,
             sizeof ikm, info, sizeof info);
    assert_int_equal(pv_hkdf_sha256(out, PV_HKDF_SHA256_MAX_OUT, salt, sizeof salt, ikm, sizeof ikm,
                                    info, sizeof info),
                     0);
    assert_memory_equal(out, want, sizeof want);
    memset(out, 0x5a, sizeof out);
    assert_int_equal(pv_hkdf_sha256(out, PV_HKDF_SHA256_MAX_OUT + 1, salt, sizeof salt, ikm,
                                    sizeof ikm, info, sizeof info),
                     -1);
    pv_hkdf_sha256_extract(prk, salt, sizeof salt, ikm, sizeof ikm);
    assert_int_equal(
        pv_hkdf_sha256_expand(out, PV_HKDF_SHA256_MAX_OUT + 1, prk, sizeof prk, info, sizeof info),
        -1);
    assert_int_equal(pv_hkdf_sha256_expand(out, SIZE_MAX, prk, sizeof prk, info, sizeof info), -1);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0x5a);

    /* Zero-length output is legal and writes nothing. */
    assert_int_equal(pv_hkdf_sha256(out, 0, salt, sizeof salt, ikm, sizeof ikm, info, sizeof info),
                     0);
    assert_int_equal(out[0], 0x5a);

    /* NULL salt / info with zero length; the empty salt equals 32 zero bytes (RFC 5869 2.2). */
    uint8_t zeros[32] = {0}, a[32], b[32];
    pv_hkdf_sha256_extract(a, NULL, 0, ikm, sizeof ikm);
    pv_hkdf_sha256_extract(b, zeros, sizeof zeros, ikm, sizeof ikm);
    assert_memory_equal(a, b, 32);
    assert_int_equal(pv_hkdf_sha256(a, 32, NULL, 0, ikm, sizeof ikm, NULL, 0), 0);
    ref_hkdf(EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, b, 32, zeros, sizeof zeros, ikm, sizeof ikm,
             info, 0);
    assert_memory_equal(a, b, 32);

    /* Output may overlap the PRK (keying happens before any write). */
    uint8_t buf[100];
    memcpy(buf, prk, 32);
    assert_int_equal(pv_hkdf_sha256_expand(buf, sizeof buf, buf, 32, info, sizeof info), 0);
    assert_int_equal(pv_hkdf_sha256_expand(out, sizeof buf, prk, 32, info, sizeof info), 0);
    assert_memory_equal(buf, out, sizeof buf);
}

/* ---- differential ---- */

static void hmac_random(const hmac_impl *h, int cases, size_t max_key)
{
    static uint8_t msg[MAX_MSG];
    uint8_t key[300], want[64], got[64];
    assert_true(max_key <= sizeof key);
    size_t done = 0, long_keys = 0;
    for (int i = 0; i < cases; i++) {
        size_t key_len = trng_len(max_key), len = trng_len(MAX_MSG);
        trng_bytes(key, key_len);
        trng_bytes(msg, len);
        ref_hmac(h->digest, want, h->out_len, key, key_len, msg, len);
        memset(got, 0, sizeof got);
        h->oneshot(got, key, key_len, msg, len);
        assert_memory_equal(got, want, h->out_len);
        memset(got, 0, sizeof got);
        hmac_chunked(h, got, key, key_len, msg, len);
        assert_memory_equal(got, want, h->out_len);
        done++;
        long_keys += key_len > h->block_len;
    }
    assert_int_equal(done, (size_t)cases);
    assert_true(long_keys > 0); /* the hash-the-key path ran */
}

static void test_hmac_sha256_random(void **state)
{
    (void)state;
    hmac_random(&HMAC256, HMAC256_CASES, 200);
}

static void test_hmac_sha512_random(void **state)
{
    (void)state;
    hmac_random(&HMAC512, HMAC512_CASES, 300);
}

static void test_hkdf_sha256_random(void **state)
{
    (void)state;
    uint8_t salt[100], ikm[100], info[100], want[1000], got[1000], prk[32], prk_want[32];
    size_t done = 0;
    for (int i = 0; i < HKDF_CASES; i++) {
        size_t salt_len = trng_len(sizeof salt), ikm_len = trng_len(sizeof ikm),
               info_len = trng_len(sizeof info), out_len = 1 + trng_len(sizeof got - 1);
        trng_bytes(salt, salt_len);
        trng_bytes(ikm, ikm_len);
        trng_bytes(info, info_len);
        ref_hkdf(EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, want, out_len, salt, salt_len, ikm, ikm_len,
                 info, info_len);
        memset(got, 0x5a, sizeof got);
        assert_int_equal(pv_hkdf_sha256(got, out_len, salt, salt_len, ikm, ikm_len, info, info_len),
                         0);
        assert_memory_equal(got, want, out_len);
        if (out_len < sizeof got)
            assert_int_equal(got[out_len], 0x5a);

        ref_hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, prk_want, sizeof prk_want, salt, salt_len, ikm,
                 ikm_len, info, 0);
        pv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
        assert_memory_equal(prk, prk_want, sizeof prk);
        memset(got, 0, sizeof got);
        assert_int_equal(pv_hkdf_sha256_expand(got, out_len, prk, sizeof prk, info, info_len), 0);
        assert_memory_equal(got, want, out_len);
        done++;
    }
    assert_int_equal(done, HKDF_CASES);
}

int main(void)
{
    trng_seed_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231_case1),
        cmocka_unit_test(test_hmac_over_descriptors),
        cmocka_unit_test(test_rfc5869_case1),
        cmocka_unit_test(test_wycheproof_hmac_sha256),
        cmocka_unit_test(test_wycheproof_hmac_sha512),
        cmocka_unit_test(test_wycheproof_hkdf_sha256),
        cmocka_unit_test(test_hkdf_edges),
        cmocka_unit_test(test_hmac_sha256_random),
        cmocka_unit_test(test_hmac_sha512_random),
        cmocka_unit_test(test_hkdf_sha256_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
