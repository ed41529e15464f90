/* Ed25519: every Wycheproof verification vector, RFC 8032 section 7.1 tests 1-3, hand-made edge
 * cases for the encoding checks, and a differential run against OpenSSL (random seeds and
 * messages of 0-4096 bytes: same public key, same signature, each side verifies the other),
 * with tampered signatures, messages and keys that must be rejected. */
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
#include "common/vectors.h"
#include "crypto/ed25519.h"

#define RANDOM_CASES 10000 /* equality with OpenSSL: never fewer */
#define TAMPER_EVERY 10    /* every 10th case is also tampered with: 1,000 cases */
#define MAX_MSG      4096

static void hexn(uint8_t *out, size_t n, const char *hex)
{
    size_t len;
    uint8_t *b = tv_hex(hex, &len);
    assert_int_equal(len, n);
    memcpy(out, b, n);
    free(b);
}

static void test_wycheproof(void **state)
{
    (void)state;
    json_t *root = tv_load("wycheproof/ed25519_test.json");
    size_t expected = (size_t)json_integer_value(json_object_get(root, "numberOfTests"));
    size_t count = 0, valid = 0, invalid = 0;
    size_t gi, ti;
    json_t *group, *test;
    json_array_foreach(json_object_get(root, "testGroups"), gi, group)
    {
        const json_t *key = json_object_get(group, "publicKey");
        assert_string_equal(json_string_value(json_object_get(key, "curve")), "edwards25519");
        size_t pk_len;
        uint8_t *pk = tv_hex_field(key, "pk", &pk_len);
        assert_int_equal(pk_len, 32);
        json_array_foreach(json_object_get(group, "tests"), ti, test)
        {
            size_t msg_len, sig_len;
            uint8_t *msg = tv_hex_field(test, "msg", &msg_len);
            uint8_t *sig = tv_hex_field(test, "sig", &sig_len);
            enum tv_result res = tv_result(test);
            long id = (long)json_integer_value(json_object_get(test, "tcId"));
            assert_true(res == TV_VALID || res == TV_INVALID); /* no "acceptable" in this file */
            /* The API takes exactly 64 signature bytes: any other length is a rejection. */
            int rc = sig_len == 64 ? pv_ed25519_verify(sig, pk, msg, msg_len) : -1;
            if (rc != (res == TV_VALID ? 0 : -1))
                fail_msg("tcId %ld (%s): verify returned %d, expected %s", id,
                         json_string_value(json_object_get(test, "comment")), rc,
                         res == TV_VALID ? "valid" : "invalid");
            valid += res == TV_VALID;
            invalid += res == TV_INVALID;
            count++;
            free(msg);
            free(sig);
        }
        free(pk);
    }
    assert_int_equal(count, expected);
    assert_true(valid > 0 && invalid > 0);
    json_decref(root);
}

/* RFC 8032 section 7.1, TEST 1-3: the exact signature, and it verifies. */
static void test_rfc8032(void **state)
{
    (void)state;
    static const char *const v[3][4] = {
        {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
         "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
         "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
        {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
         "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    };
    for (int i = 0; i < 3; i++) {
        uint8_t seed[32], pub[32], sig[64], out[64];
        size_t msg_len;
        uint8_t *msg = tv_hex(v[i][2], &msg_len);
        hexn(seed, 32, v[i][0]);
        hexn(pub, 32, v[i][1]);
        hexn(sig, 64, v[i][3]);
        pv_ed25519_public(out, seed);
        assert_memory_equal(out, pub, 32);
        pv_ed25519_sign(out, seed, pub, msg, msg_len);
        assert_memory_equal(out, sig, 64);
        assert_int_equal(pv_ed25519_verify(sig, pub, msg, msg_len), 0);
        if (msg_len == 0) { /* an empty message may come as NULL */
            pv_ed25519_sign(out, seed, pub, NULL, 0);
            assert_memory_equal(out, sig, 64);
            assert_int_equal(pv_ed25519_verify(sig, pub, NULL, 0), 0);
        }
        sig[0] ^= 1;
        assert_int_equal(pv_ed25519_verify(sig, pub, msg, msg_len), -1);
        free(msg);
    }
}

/* Encodings that only differ from accepted ones by being non-canonical or off the curve.
 * With A = identity (y = 1), [k]A vanishes, so R = identity, S = 0 is a valid signature of
 * anything under the cofactorless equation; every other spelling of the same points must fail. */
static void test_encoding_checks(void **state)
{
    (void)state;
    static const uint8_t msg[3] = {1, 2, 3};
    uint8_t ident[32] = {1}, ident_noncanon[32], ident_neg0[32] = {1}, sig[64] = {1};
    memset(ident_noncanon, 0xff, 32); /* y = p + 1 = 1 (mod p): bytes ee ff .. ff 7f */
    ident_noncanon[0] = 0xee;
    ident_noncanon[31] = 0x7f;
    ident_neg0[31] = 0x80; /* x = 0 with the sign bit set */

    assert_int_equal(pv_ed25519_verify(sig, ident, msg, sizeof msg), 0);
    assert_int_equal(pv_ed25519_verify(sig, ident_noncanon, msg, sizeof msg), -1);
    assert_int_equal(pv_ed25519_verify(sig, ident_neg0, msg, sizeof msg), -1);
    memcpy(sig, ident_noncanon, 32);
    assert_int_equal(pv_ed25519_verify(sig, ident, msg, sizeof msg), -1);
    memcpy(sig, ident_neg0, 32);
    assert_int_equal(pv_ed25519_verify(sig, ident, msg, sizeof msg), -1);

    /* y = 2 is not the y-coordinate of any curve point. */
    uint8_t off[32] = {2};
    memcpy(sig, ident, 32);
    assert_int_equal(pv_ed25519_verify(sig, off, msg, sizeof msg), -1);

    /* S >= L: a valid signature with L added to S must fail (malleability). */
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    uint8_t seed[32], pub[32];
    trng_bytes(seed, 32);
    pv_ed25519_public(pub, seed);
    pv_ed25519_sign(sig, seed, pub, msg, sizeof msg);
    assert_int_equal(pv_ed25519_verify(sig, pub, msg, sizeof msg), 0);
    unsigned c = 0;
    for (int i = 0; i < 32; i++) {
        c += (unsigned)sig[32 + i] + L[i];
        sig[32 + i] = (uint8_t)c;
        c >>= 8;
    }
    assert_int_equal(c, 0); /* S + L < 2^256 since S < L < 2^253 */
    assert_int_equal(pv_ed25519_verify(sig, pub, msg, sizeof msg), -1);
}

/* The signature may be written over the message (it is stored only at the end). */
static void test_sign_in_place(void **state)
{
    (void)state;
    uint8_t seed[32], pub[32], buf[100], msg[100], sig[64];
    trng_bytes(seed, 32);
    trng_bytes(msg, sizeof msg);
    pv_ed25519_public(pub, seed);
    pv_ed25519_sign(sig, seed, pub, msg, sizeof msg);
    memcpy(buf, msg, sizeof msg);
    pv_ed25519_sign(buf, seed, pub, buf, sizeof buf);
    assert_memory_equal(buf, sig, 64);
}

static EVP_PKEY *ossl_key(const uint8_t seed[32])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    assert_non_null(k);
    return k;
}

static int ossl_verify(const uint8_t sig[64], const uint8_t pub[32], const uint8_t *msg, size_t len)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_non_null(k);
    assert_non_null(md);
    int ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(md, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return ok;
}

static void test_vs_openssl(void **state)
{
    (void)state;
    static uint8_t msg[MAX_MSG];
    size_t tampered = 0, lens_zero = 0, lens_max = 0;
    for (int i = 0; i < RANDOM_CASES; i++) {
        uint8_t seed[32], pub[32], ref_pub[32], sig[64], ref_sig[64];
        size_t len = trng_len(MAX_MSG), n;
        if (i == 1)
            len = 0;
        if (i == 2)
            len = MAX_MSG;
        lens_zero += len == 0;
        lens_max += len == MAX_MSG;
        trng_bytes(seed, 32);
        trng_bytes(msg, len);

        EVP_PKEY *k = ossl_key(seed);
        n = 32;
        assert_int_equal(EVP_PKEY_get_raw_public_key(k, ref_pub, &n), 1);
        assert_int_equal(n, 32);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_non_null(md);
        n = 64;
        assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, k), 1);
        assert_int_equal(EVP_DigestSign(md, ref_sig, &n, msg, len), 1);
        assert_int_equal(n, 64);
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(k);

        pv_ed25519_public(pub, seed);
        if (memcmp(pub, ref_pub, 32) != 0)
            fail_msg("case %d: public key differs from OpenSSL", i);
        pv_ed25519_sign(sig, seed, pub, msg, len);
        if (memcmp(sig, ref_sig, 64) != 0)
            fail_msg("case %d (len %zu): signature differs from OpenSSL", i, len);
        if (!ossl_verify(sig, pub, msg, len))
            fail_msg("case %d: OpenSSL rejects our signature", i);
        if (pv_ed25519_verify(ref_sig, ref_pub, msg, len) != 0)
            fail_msg("case %d: we reject OpenSSL's signature", i);

        if (i % TAMPER_EVERY != 0)
            continue;
        /* Flip one random bit of the signature, the message or the public key. */
        uint32_t what = (uint32_t)trng_u64() % 3;
        if (what == 1 && len == 0)
            what = 0;
        uint8_t *buf = what == 0 ? sig : what == 1 ? msg : pub;
        size_t blen = what == 0 ? 64 : what == 1 ? len : 32;
        size_t bit = (size_t)(trng_u64() % (blen * 8));
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (pv_ed25519_verify(sig, pub, msg, len) != -1)
            fail_msg("case %d: tampered %s (bit %zu) accepted", i,
                     what == 0   ? "signature"
                     : what == 1 ? "message"
                                 : "key",
                     bit);
        tampered++;
    }
    assert_int_equal(tampered, RANDOM_CASES / TAMPER_EVERY);
    assert_true(tampered >= 1000);
    assert_true(lens_zero > 0 && lens_max > 0);
}

int main(void)
{
    trng_seed_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wycheproof),      cmocka_unit_test(test_rfc8032),
        cmocka_unit_test(test_encoding_checks), cmocka_unit_test(test_sign_in_place),
        cmocka_unit_test(test_vs_openssl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
