/* SHA-256 and SHA-512: FIPS 180-4 examples, every padding boundary, and a differential run against
 * OpenSSL with random messages fed one-shot and in random-sized chunks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_rng.h"
#include "common/vectors.h"
#include "crypto/sha256.h"
#include "crypto/sha512.h"

#define RANDOM_CASES 10000
#define MAX_MSG      4096

/* The two hashes behind one interface, so every test runs on both. */
typedef union {
    pv_sha256_ctx s256;
    pv_sha512_ctx s512;
} any_ctx;

typedef struct {
    const char *name;
    size_t out_len;
    size_t block_len;
    size_t ctx_len;
    void (*init)(any_ctx *);
    void (*update)(any_ctx *, const void *, size_t);
    void (*final)(any_ctx *, uint8_t *);
    void (*oneshot)(uint8_t *, const void *, size_t);
    const EVP_MD *(*md)(void);
} hash_impl;

static void s256_init(any_ctx *c)
{
    pv_sha256_init(&c->s256);
}
static void s256_update(any_ctx *c, const void *d, size_t n)
{
    pv_sha256_update(&c->s256, d, n);
}
static void s256_final(any_ctx *c, uint8_t *out)
{
    pv_sha256_final(&c->s256, out);
}
static void s512_init(any_ctx *c)
{
    pv_sha512_init(&c->s512);
}
static void s512_update(any_ctx *c, const void *d, size_t n)
{
    pv_sha512_update(&c->s512, d, n);
}
static void s512_final(any_ctx *c, uint8_t *out)
{
    pv_sha512_final(&c->s512, out);
}

static const hash_impl SHA256 = {"SHA-256", PV_SHA256_LEN, PV_SHA256_BLOCK, sizeof(pv_sha256_ctx),
                                 s256_init, s256_update,   s256_final,      pv_sha256,
                                 EVP_sha256};
static const hash_impl SHA512 = {"SHA-512", PV_SHA512_LEN, PV_SHA512_BLOCK, sizeof(pv_sha512_ctx),
                                 s512_init, s512_update,   s512_final,      pv_sha512,
                                 EVP_sha512};

static void ref_digest(const hash_impl *h, uint8_t *out, const uint8_t *msg, size_t len)
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(msg, len, out, &n, h->md(), NULL), 1);
    assert_int_equal(n, h->out_len);
}

/* The header promises final wipes the context. */
static void assert_wiped(const any_ctx *c, size_t len)
{
    const uint8_t *p = (const uint8_t *)c;
    for (size_t i = 0; i < len; i++)
        assert_int_equal(p[i], 0);
}

/* Feeds msg in random-sized pieces (including empty ones), biased so both tiny pieces that
 * straddle block boundaries and multi-block pieces occur. */
static void chunked_digest(const hash_impl *h, uint8_t *out, const uint8_t *msg, size_t len)
{
    static const size_t caps[] = {0, 1, 3, 7, 63, 64, 65, 127, 128, 129, 300, MAX_MSG};
    any_ctx c;
    memset(&c, 0xa5, sizeof c);
    h->init(&c);
    size_t off = 0;
    while (off < len) {
        size_t cap = caps[trng_len(sizeof caps / sizeof caps[0] - 1)];
        size_t n = trng_len(cap < len - off ? cap : len - off);
        h->update(&c, msg + off, n);
        off += n;
    }
    h->final(&c, out);
    assert_wiped(&c, h->ctx_len);
}

static void check_fips(const hash_impl *h, const char *msg, size_t repeat, const char *hex)
{
    size_t want_len;
    uint8_t *want = tv_hex(hex, &want_len);
    assert_int_equal(want_len, h->out_len);
    size_t mlen = strlen(msg);
    uint8_t got[64];
    any_ctx c;
    h->init(&c);
    for (size_t i = 0; i < repeat; i++)
        h->update(&c, msg, mlen);
    h->final(&c, got);
    assert_memory_equal(got, want, h->out_len);
    if (repeat == 1) {
        memset(got, 0, sizeof got);
        h->oneshot(got, msg, mlen);
        assert_memory_equal(got, want, h->out_len);
    }
    free(want);
}

static const char MSG448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char MSG896[] =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmn"
    "opjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

static void test_sha256_fips(void **state)
{
    (void)state;
    check_fips(&SHA256, "abc", 1,
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_fips(&SHA256, MSG448, 1,
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check_fips(&SHA256, MSG896, 1,
               "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    check_fips(&SHA256, "a", 1000000,
               "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    check_fips(&SHA256, "", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* One million 'a' in one call too, so the whole-block path sees a long run. */
    char *big = malloc(1000000);
    assert_non_null(big);
    memset(big, 'a', 1000000);
    uint8_t got[PV_SHA256_LEN], want[PV_SHA256_LEN];
    pv_sha256(got, big, 1000000);
    ref_digest(&SHA256, want, (const uint8_t *)big, 1000000);
    assert_memory_equal(got, want, sizeof got);
    free(big);

    /* NULL with length 0 is the empty message. */
    pv_sha256(got, NULL, 0);
    ref_digest(&SHA256, want, (const uint8_t *)"", 0);
    assert_memory_equal(got, want, sizeof got);
}

static void test_sha512_fips(void **state)
{
    (void)state;
    check_fips(&SHA512, "abc", 1,
               "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
               "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    check_fips(&SHA512, MSG448, 1,
               "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
               "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445");
    check_fips(&SHA512, MSG896, 1,
               "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
               "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909");
    check_fips(&SHA512, "a", 1000000,
               "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
               "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");
    check_fips(&SHA512, "", 1,
               "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
               "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");

    char *big = malloc(1000000);
    assert_non_null(big);
    memset(big, 'a', 1000000);
    uint8_t got[PV_SHA512_LEN], want[PV_SHA512_LEN];
    pv_sha512(got, big, 1000000);
    ref_digest(&SHA512, want, (const uint8_t *)big, 1000000);
    assert_memory_equal(got, want, sizeof got);
    free(big);

    pv_sha512(got, NULL, 0);
    ref_digest(&SHA512, want, (const uint8_t *)"", 0);
    assert_memory_equal(got, want, sizeof got);
}

/* Every length across the first few blocks, byte-at-a-time and one-shot: hits each padding case
 * (length field fits / spills into an extra block) deterministically. */
static void every_length(const hash_impl *h)
{
    uint8_t msg[3 * 128 + 1], got[64], want[64];
    trng_bytes(msg, sizeof msg);
    size_t done = 0;
    for (size_t len = 0; len <= sizeof msg; len++) {
        ref_digest(h, want, msg, len);
        h->oneshot(got, msg, len);
        assert_memory_equal(got, want, h->out_len);
        any_ctx c;
        h->init(&c);
        for (size_t i = 0; i < len; i++)
            h->update(&c, msg + i, 1);
        h->final(&c, got);
        assert_memory_equal(got, want, h->out_len);
        done++;
    }
    assert_int_equal(done, sizeof msg + 1);
}

static void test_sha256_every_length(void **state)
{
    (void)state;
    every_length(&SHA256);
}

static void test_sha512_every_length(void **state)
{
    (void)state;
    every_length(&SHA512);
}

static void random_vs_openssl(const hash_impl *h)
{
    static uint8_t msg[MAX_MSG];
    uint8_t want[64], got[64];
    size_t done = 0, multi_block = 0;
    for (int i = 0; i < RANDOM_CASES; i++) {
        size_t len = trng_len(MAX_MSG);
        trng_bytes(msg, len);
        ref_digest(h, want, msg, len);

        memset(got, 0, sizeof got);
        h->oneshot(got, msg, len);
        assert_memory_equal(got, want, h->out_len);

        memset(got, 0, sizeof got);
        chunked_digest(h, got, msg, len);
        assert_memory_equal(got, want, h->out_len);

        done++;
        multi_block += len >= 2 * h->block_len;
    }
    assert_int_equal(done, RANDOM_CASES);
    /* Guards against a broken RNG making every message tiny. */
    assert_true(multi_block > RANDOM_CASES / 2);
}

static void test_sha256_random(void **state)
{
    (void)state;
    random_vs_openssl(&SHA256);
}

static void test_sha512_random(void **state)
{
    (void)state;
    random_vs_openssl(&SHA512);
}

int main(void)
{
    trng_seed_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips),         cmocka_unit_test(test_sha512_fips),
        cmocka_unit_test(test_sha256_every_length), cmocka_unit_test(test_sha512_every_length),
        cmocka_unit_test(test_sha256_random),       cmocka_unit_test(test_sha512_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
