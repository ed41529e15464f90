/* X25519: every Wycheproof vector, the RFC 7748 known answers (section 5.2, the iterated test,
 * the section 6.1 exchange), and a differential run against OpenSSL with random scalars and
 * random 32-byte u-coordinates (high bit and values >= p included). PV_SLOW=1 adds the
 * 1,000,000-iteration test. */
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
#include "crypto/x25519.h"

#define RANDOM_CASES 10000

static void hex32(uint8_t out[32], const char *hex)
{
    size_t n;
    uint8_t *b = tv_hex(hex, &n);
    assert_int_equal(n, 32);
    memcpy(out, b, 32);
    free(b);
}

static int all_zero(const uint8_t *b, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

static void test_wycheproof(void **state)
{
    (void)state;
    json_t *root = tv_load("wycheproof/x25519_test.json");
    size_t expected = (size_t)json_integer_value(json_object_get(root, "numberOfTests"));
    size_t count = 0, zero = 0, noncanon = 0;
    size_t gi, ti;
    json_t *group, *test;
    json_array_foreach(json_object_get(root, "testGroups"), gi, group)
    {
        assert_string_equal(json_string_value(json_object_get(group, "curve")), "curve25519");
        json_array_foreach(json_object_get(group, "tests"), ti, test)
        {
            size_t pub_len, priv_len, shared_len;
            uint8_t *pub = tv_hex_field(test, "public", &pub_len);
            uint8_t *priv = tv_hex_field(test, "private", &priv_len);
            uint8_t *shared = tv_hex_field(test, "shared", &shared_len);
            enum tv_result res = tv_result(test);
            long id = (long)json_integer_value(json_object_get(test, "tcId"));
            /* This file holds only valid and acceptable cases, all with 32-byte inputs; anything
             * else would need a policy decision, so fail loudly. */
            if (res == TV_INVALID || pub_len != 32 || priv_len != 32 || shared_len != 32)
                fail_msg("tcId %ld: unexpected shape (result %d, lengths %zu/%zu/%zu)", id,
                         (int)res, pub_len, priv_len, shared_len);

            uint8_t out[32];
            memset(out, 0xa5, sizeof out);
            int rc = pv_x25519(out, priv, pub);
            if (memcmp(out, shared, 32) != 0)
                fail_msg("tcId %ld (%s): shared secret differs", id,
                         json_string_value(json_object_get(test, "comment")));
            if (all_zero(shared, 32)) {
                zero++;
                if (rc != -1)
                    fail_msg("tcId %ld: all-zero shared secret not reported (rc %d)", id, rc);
            } else if (rc != 0) {
                fail_msg("tcId %ld: rc %d for a non-zero shared secret", id, rc);
            }
            /* The flag and the value must agree, or the check above tested nothing. */
            assert_int_equal(tv_has_flag(test, "ZeroSharedSecret"), all_zero(shared, 32));
            noncanon += (size_t)tv_has_flag(test, "NonCanonicalPublic");
            count++;
            free(pub);
            free(priv);
            free(shared);
        }
    }
    assert_int_equal(count, expected);
    assert_true(zero > 0);
    assert_true(noncanon > 0);
    json_decref(root);
}

/* RFC 7748 section 5.2, the two single known answers. */
static void test_rfc7748_vectors(void **state)
{
    (void)state;
    static const char *const kv[2][3] = {
        {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
         "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
         "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
        {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
         "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
         "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
    };
    for (int i = 0; i < 2; i++) {
        uint8_t k[32], u[32], want[32], out[32];
        hex32(k, kv[i][0]);
        hex32(u, kv[i][1]);
        hex32(want, kv[i][2]);
        assert_int_equal(pv_x25519(out, k, u), 0);
        assert_memory_equal(out, want, 32);
    }
}

/* RFC 7748 section 5.2, iterated: k = u = 9, then (k, u) = (X25519(k, u), k). */
static void iterate(unsigned long n, const char *want_hex)
{
    uint8_t k[32] = {9}, u[32] = {9}, out[32], want[32];
    hex32(want, want_hex);
    for (unsigned long i = 0; i < n; i++) {
        assert_int_equal(pv_x25519(out, k, u), 0);
        memcpy(u, k, 32);
        memcpy(k, out, 32);
    }
    assert_memory_equal(k, want, 32);
}

static void test_rfc7748_iterated(void **state)
{
    (void)state;
    iterate(1, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    iterate(1000, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
    const char *slow = getenv("PV_SLOW");
    if (slow && strcmp(slow, "1") == 0)
        iterate(1000000, "7c3911e0ab2586fd864497297e575e6f3bc601c0883c30df5f4dd2d24f665424");
    else
        fprintf(stderr, "x25519: 1,000,000-iteration test skipped (set PV_SLOW=1)\n");
}

/* RFC 7748 section 6.1: both public keys and the shared secret, from both sides. */
static void test_rfc7748_dh(void **state)
{
    (void)state;
    uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], k[32], out[32];
    hex32(a_priv, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    hex32(a_pub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    hex32(b_priv, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    hex32(b_pub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    hex32(k, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    pv_x25519_public(out, a_priv);
    assert_memory_equal(out, a_pub, 32);
    pv_x25519_public(out, b_priv);
    assert_memory_equal(out, b_pub, 32);
    assert_int_equal(pv_x25519(out, a_priv, b_pub), 0);
    assert_memory_equal(out, k, 32);
    assert_int_equal(pv_x25519(out, b_priv, a_pub), 0);
    assert_memory_equal(out, k, 32);
}

/* A low-order point (here u = 0 and u = 1) gives all zeros and -1, and the output is written. */
static void test_low_order(void **state)
{
    (void)state;
    uint8_t k[32], u[32] = {0}, out[32];
    trng_bytes(k, 32);
    memset(out, 0x5a, 32);
    assert_int_equal(pv_x25519(out, k, u), -1);
    assert_true(all_zero(out, 32));
    u[0] = 1;
    memset(out, 0x5a, 32);
    assert_int_equal(pv_x25519(out, k, u), -1);
    assert_true(all_zero(out, 32));
}

/* OpenSSL's X25519, or -1 when it refuses (it rejects an all-zero result). */
static int ossl_x25519(uint8_t out[32], const uint8_t k[32], const uint8_t u[32])
{
    EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, k, 32);
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, u, 32);
    assert_non_null(priv);
    assert_non_null(peer);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
    assert_non_null(ctx);
    size_t n = 32;
    int ok = EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
             EVP_PKEY_derive(ctx, out, &n) == 1 && n == 32;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(priv);
    return ok ? 0 : -1;
}

static void test_vs_openssl_derive(void **state)
{
    (void)state;
    size_t high = 0, big = 0;
    for (int i = 0; i < RANDOM_CASES; i++) {
        uint8_t k[32], u[32], ours[32], ref[32];
        trng_bytes(k, 32);
        trng_bytes(u, 32);
        if (i % 16 == 1) {
            /* u = p + x, x in [0, 18]: a non-canonical encoding both sides must reduce mod p
             * (bit 255 stays random). */
            u[0] = (uint8_t)(0xed + u[0] % 19);
            memset(u + 1, 0xff, 30);
            u[31] |= 0x7f;
            big++;
        }
        high += u[31] >> 7;
        int rc = pv_x25519(ours, k, u);
        int rc_ref = ossl_x25519(ref, k, u);
        if (rc_ref != 0) {
            assert_int_equal(rc, -1);
            assert_true(all_zero(ours, 32));
            continue;
        }
        assert_int_equal(rc, 0);
        if (memcmp(ours, ref, 32) != 0)
            fail_msg("case %d: X25519 differs from OpenSSL", i);
    }
    assert_true(high > RANDOM_CASES / 4);
    assert_true(big >= RANDOM_CASES / 16);
}

static void test_vs_openssl_public(void **state)
{
    (void)state;
    for (int i = 0; i < RANDOM_CASES; i++) {
        uint8_t k[32], ours[32], ref[32];
        size_t n = 32;
        trng_bytes(k, 32);
        EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, k, 32);
        assert_non_null(priv);
        assert_int_equal(EVP_PKEY_get_raw_public_key(priv, ref, &n), 1);
        assert_int_equal(n, 32);
        EVP_PKEY_free(priv);
        pv_x25519_public(ours, k);
        if (memcmp(ours, ref, 32) != 0)
            fail_msg("case %d: public key differs from OpenSSL", i);
    }
}

int main(void)
{
    trng_seed_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wycheproof),        cmocka_unit_test(test_rfc7748_vectors),
        cmocka_unit_test(test_rfc7748_iterated),  cmocka_unit_test(test_rfc7748_dh),
        cmocka_unit_test(test_low_order),         cmocka_unit_test(test_vs_openssl_derive),
        cmocka_unit_test(test_vs_openssl_public),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
