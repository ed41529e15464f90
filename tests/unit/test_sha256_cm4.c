/* The bootloader's SHA-256: lib/crypto/sha256_cm4.S (Cortex-M4 assembly block function) behind
 * the C front end, run under Unicorn from build/arm/tests/sha256_probe.bin (tests/arm/
 * sha256_probe.c) and compared byte for byte with the host's C pv_sha256_blocks on random states
 * and blocks, with OpenSSL on random messages of every length 0..300 and on long ones, one-shot
 * and streamed, at every alignment; and run on the published HMAC-SHA256 and HKDF-SHA256 vectors
 * (Wycheproof, read from the shared test data). Every call must also keep the AAPCS promises
 * (r4-r11 and sp as they were), stay within its stack frame and leave no message schedule on
 * the stack. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "arm/sha256_probe.h"
#include "common/test_rng.h"
#include "common/vectors.h"
#include "crypto/sha256.h"

#define PROBE_BIN "build/arm/tests/sha256_probe.bin"

/* The probe's RAM: arguments, then the buffers, then the stack at the top. */
#define RAM_BASE   0x20000000u
#define RAM_SIZE   (4u << 20)
#define ARGS_ADDR  RAM_BASE
#define OUT_ADDR   (RAM_BASE + 0x100u)
#define H_ADDR     (RAM_BASE + 0x200u)
#define CHUNK_ADDR (RAM_BASE + 0x1000u) /* up to 1024 chunk lengths */
#define KEY_ADDR   (RAM_BASE + 0x2000u)
#define SALT_ADDR  (RAM_BASE + 0x3000u)
#define INFO_ADDR  (RAM_BASE + 0x4000u)
#define MSG_ADDR   (RAM_BASE + 0x10000u)
#define MSG_MAX    (RAM_SIZE - 0x20000u)
#define STACK_TOP  (RAM_BASE + RAM_SIZE)
#define STACK_SIZE 0x1000u
/* A return address nothing else uses: the run stops when the probe returns there. */
#define RET_ADDR 0x30000000u

/* The assembly's stack (sha256_cm4.S): 36 bytes of saved registers and a 724-byte frame. */
#define BLOCKS_STACK_MAX 760u

static uc_engine *uc;
static uint32_t stack_depth; /* bytes below STACK_TOP the last call wrote */

static void mem_write(uint32_t addr, const void *p, size_t n)
{
    if (n)
        assert_int_equal(uc_mem_write(uc, addr, p, n), UC_ERR_OK);
}

static void mem_read(uint32_t addr, void *p, size_t n)
{
    if (n)
        assert_int_equal(uc_mem_read(uc, addr, p, n), UC_ERR_OK);
}

/* fn(r0, r1, r2) on the Cortex-M4; checks the callee-saved registers and sp afterwards and
 * records how deep the stack went (the stack is painted first). Returns r0. */
static uint32_t call_fn(uint32_t fn, uint32_t r0, uint32_t r1, uint32_t r2)
{
    static uint8_t paint[STACK_SIZE];
    memset(paint, 0xA5, sizeof paint);
    mem_write(STACK_TOP - STACK_SIZE, paint, sizeof paint);

    static const int saved[] = {UC_ARM_REG_R4, UC_ARM_REG_R5, UC_ARM_REG_R6,  UC_ARM_REG_R7,
                                UC_ARM_REG_R8, UC_ARM_REG_R9, UC_ARM_REG_R10, UC_ARM_REG_R11};
    uint32_t before[8];
    for (int i = 0; i < 8; i++) {
        before[i] = 0x1000u * (uint32_t)(i + 4) + 0x5Au;
        uc_reg_write(uc, saved[i], &before[i]);
    }
    uint32_t sp = STACK_TOP, lr = RET_ADDR | 1u;
    uc_reg_write(uc, UC_ARM_REG_R0, &r0);
    uc_reg_write(uc, UC_ARM_REG_R1, &r1);
    uc_reg_write(uc, UC_ARM_REG_R2, &r2);
    uc_reg_write(uc, UC_ARM_REG_SP, &sp);
    uc_reg_write(uc, UC_ARM_REG_LR, &lr);
    uc_err e = uc_emu_start(uc, fn | 1u, RET_ADDR, 60u * 1000u * 1000u, 0);
    if (e != UC_ERR_OK)
        fail_msg("call to 0x%08x stopped: %s", fn, uc_strerror(e));
    uint32_t pc = 0;
    uc_reg_read(uc, UC_ARM_REG_PC, &pc);
    if (pc != RET_ADDR)
        fail_msg("call to 0x%08x did not return (pc 0x%08x; timed out?)", fn, pc);
    uc_reg_read(uc, UC_ARM_REG_SP, &sp);
    assert_int_equal(sp, STACK_TOP);
    for (int i = 0; i < 8; i++) {
        uint32_t v = 0;
        uc_reg_read(uc, saved[i], &v);
        if (v != before[i])
            fail_msg("call to 0x%08x changed callee-saved r%d: 0x%08x -> 0x%08x", fn, i + 4,
                     before[i], v);
    }
    mem_read(STACK_TOP - STACK_SIZE, paint, sizeof paint);
    size_t low = 0;
    while (low < sizeof paint && paint[low] == 0xA5)
        low++;
    stack_depth = (uint32_t)(sizeof paint - low);
    uc_reg_read(uc, UC_ARM_REG_R0, &r0);
    return r0;
}

static uint32_t call_probe(uint32_t op, const uint32_t *args, size_t nargs)
{
    mem_write(ARGS_ADDR, args, nargs * 4);
    return call_fn(SHA256_PROBE_BASE, op, ARGS_ADDR, 0);
}

/* pv_sha256_blocks(h, data, nblocks) itself, called directly. */
static void device_blocks(uint32_t h_addr, uint32_t data, uint32_t nblocks)
{
    static uint32_t fn;
    if (!fn)
        fn = call_probe(PROBE_BLOCKS_FN, NULL, 0);
    call_fn(fn, h_addr, data, nblocks);
}

static int setup(void **state)
{
    (void)state;
    trng_seed_from_env();
    FILE *f = fopen(PROBE_BIN, "rb");
    if (!f)
        fail_msg("cannot open %s (make host builds it; run from the repository root)", PROBE_BIN);
    static uint8_t img[64 * 1024];
    size_t n = fread(img, 1, sizeof img, f);
    fclose(f);
    assert_true(n > 0 && n < sizeof img);
    assert_int_equal(uc_open(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS, &uc), UC_ERR_OK);
    assert_int_equal(uc_ctl_set_cpu_model(uc, UC_CPU_ARM_CORTEX_M4), UC_ERR_OK);
    assert_int_equal(uc_mem_map(uc, SHA256_PROBE_BASE, sizeof img, UC_PROT_READ | UC_PROT_EXEC),
                     UC_ERR_OK);
    assert_int_equal(uc_mem_map(uc, RAM_BASE, RAM_SIZE, UC_PROT_READ | UC_PROT_WRITE), UC_ERR_OK);
    assert_int_equal(uc_mem_map(uc, RET_ADDR, 0x1000, UC_PROT_READ | UC_PROT_EXEC), UC_ERR_OK);
    mem_write(SHA256_PROBE_BASE, img, n);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    uc_close(uc);
    return 0;
}

/* ---- the reference: the same bytes through OpenSSL ---- */

static void openssl_sha256(uint8_t out[32], const uint8_t *m, size_t len)
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(m, len, out, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(n, 32);
}

static void assert_digest(const uint8_t *got, const uint8_t *want, size_t n, const char *what,
                          size_t len, unsigned align)
{
    if (memcmp(got, want, n) != 0) {
        char g[65] = "", w[65] = "";
        for (size_t i = 0; i < n && i < 32; i++) {
            sprintf(g + 2 * i, "%02x", got[i]);
            sprintf(w + 2 * i, "%02x", want[i]);
        }
        fail_msg("%s: %zu bytes at alignment %u: got %s, want %s", what, len, align, g, w);
    }
}

/* One-shot pv_sha256 on the device over m, placed at MSG_ADDR + align. */
static void device_sha256(uint8_t out[32], const uint8_t *m, size_t len, unsigned align)
{
    assert_true(len + align <= MSG_MAX);
    mem_write(MSG_ADDR + align, m, len);
    uint32_t a[3] = {OUT_ADDR, MSG_ADDR + align, (uint32_t)len};
    call_probe(PROBE_SHA256, a, 3);
    mem_read(OUT_ADDR, out, 32);
}

/* ---- pv_sha256_blocks: the assembly against the C version ---- */

static void test_blocks_match_c(void **state)
{
    (void)state;
    static uint8_t data[4 * 64 + 3];
    for (int iter = 0; iter < 400; iter++) {
        uint32_t h[8], h_dev[8];
        trng_bytes(h, sizeof h);
        size_t nblocks = 1 + trng_len(3);
        unsigned align = (unsigned)trng_len(3);
        trng_bytes(data, sizeof data);
        mem_write(H_ADDR, h, sizeof h);
        mem_write(MSG_ADDR + align, data, 64 * nblocks);
        device_blocks(H_ADDR, MSG_ADDR + align, (uint32_t)nblocks);
        if (stack_depth > BLOCKS_STACK_MAX)
            fail_msg("pv_sha256_blocks used %u bytes of stack, more than %u", stack_depth,
                     BLOCKS_STACK_MAX);
        mem_read(H_ADDR, h_dev, sizeof h_dev);
        pv_sha256_blocks(h, data, nblocks);
        if (memcmp(h, h_dev, sizeof h) != 0)
            fail_msg("iteration %d: %zu blocks at alignment %u: state differs from the C "
                     "version (word 0: 0x%08x, want 0x%08x)",
                     iter, nblocks, align, h_dev[0], h[0]);
    }
    /* No blocks: nothing written. */
    uint32_t h[8] = {1, 2, 3, 4, 5, 6, 7, 8}, h_dev[8];
    mem_write(H_ADDR, h, sizeof h);
    device_blocks(H_ADDR, MSG_ADDR, 0);
    mem_read(H_ADDR, h_dev, sizeof h_dev);
    assert_memory_equal(h, h_dev, sizeof h);
}

/* ---- message lengths, alignments and chunkings against OpenSSL ---- */

static void test_every_length_0_to_300(void **state)
{
    (void)state;
    static uint8_t m[300];
    uint8_t want[32], got[32];
    for (size_t len = 0; len <= 300; len++) {
        for (unsigned align = 0; align < 4; align++) {
            trng_bytes(m, len);
            openssl_sha256(want, m, len);
            device_sha256(got, m, len, align);
            assert_digest(got, want, 32, "pv_sha256", len, align);
        }
    }
}

static void test_streamed_in_random_chunks(void **state)
{
    (void)state;
    static uint8_t m[2048];
    uint32_t chunk[1024];
    uint8_t want[32], got[32];
    for (int iter = 0; iter < 300; iter++) {
        size_t len = trng_len(iter < 200 ? 300 : sizeof m);
        unsigned align = (unsigned)trng_len(3);
        trng_bytes(m, len);
        size_t n = 0, left = len;
        while (left > 0 && n < 1023) {
            size_t c = trng_len(left < 130 ? left : 130);
            chunk[n++] = (uint32_t)c;
            left -= c;
        }
        chunk[n++] = (uint32_t)left;
        mem_write(MSG_ADDR + align, m, len);
        mem_write(CHUNK_ADDR, chunk, 4 * n);
        uint32_t a[4] = {OUT_ADDR, MSG_ADDR + align, CHUNK_ADDR, (uint32_t)n};
        call_probe(PROBE_STREAM, a, 4);
        mem_read(OUT_ADDR, got, 32);
        openssl_sha256(want, m, len);
        assert_digest(got, want, 32, "init/update/final", len, align);
    }
}

static void test_long_messages(void **state)
{
    (void)state;
    /* FIPS 180-4's example inputs (the digests come from OpenSSL), a million 'a's among them,
     * then random ones up to 1 MB. */
    static const char *fips[] = {
        "", "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
        "lmnopqrsmnopqrstnopqrstu"};
    uint8_t want[32], got[32];
    for (size_t i = 0; i < sizeof fips / sizeof fips[0]; i++) {
        size_t len = strlen(fips[i]);
        openssl_sha256(want, (const uint8_t *)fips[i], len);
        device_sha256(got, (const uint8_t *)fips[i], len, 0);
        assert_digest(got, want, 32, fips[i], len, 0);
    }
    size_t max = 1000000;
    uint8_t *m = malloc(1u << 20);
    assert_non_null(m);
    memset(m, 'a', max);
    openssl_sha256(want, m, max);
    device_sha256(got, m, max, 0);
    assert_digest(got, want, 32, "a million 'a'", max, 0);
    const size_t lens[] = {4096, 65536 + 55, 262144 + 700, 1u << 20};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        unsigned align = (unsigned)(i & 3);
        trng_bytes(m, lens[i]);
        openssl_sha256(want, m, lens[i]);
        device_sha256(got, m, lens[i], align);
        assert_digest(got, want, 32, "random", lens[i], align);
    }
    free(m);
}

/* ---- the published vectors: HMAC-SHA256 and HKDF-SHA256 (Wycheproof) ---- */

static void test_wycheproof_hmac_sha256(void **state)
{
    (void)state;
    json_t *root = tv_load("wycheproof/hmac_sha256_test.json");
    size_t gi, ti, count = 0;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        size_t tag_bytes = (size_t)json_integer_value(json_object_get(g, "tagSize")) / 8;
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            size_t kl, ml, tl;
            uint8_t *key = tv_hex_field(t, "key", &kl);
            uint8_t *msg = tv_hex_field(t, "msg", &ml);
            uint8_t *tag = tv_hex_field(t, "tag", &tl);
            unsigned align = (unsigned)(count & 3);
            assert_true(kl <= 0x1000 && ml + align <= MSG_MAX && tl <= 32);
            mem_write(KEY_ADDR, key, kl);
            mem_write(MSG_ADDR + align, msg, ml);
            uint32_t a[5] = {OUT_ADDR, KEY_ADDR, (uint32_t)kl, MSG_ADDR + align, (uint32_t)ml};
            call_probe(PROBE_HMAC, a, 5);
            uint8_t got[32];
            mem_read(OUT_ADDR, got, 32);
            int same = tl == tag_bytes && memcmp(got, tag, tl) == 0;
            int tc = (int)json_integer_value(json_object_get(t, "tcId"));
            if (tv_result(t) == TV_VALID && !same)
                fail_msg("HMAC-SHA256 tcId %d: tag differs", tc);
            if (tv_result(t) == TV_INVALID && same)
                fail_msg("HMAC-SHA256 tcId %d: an invalid tag matched", tc);
            free(key);
            free(msg);
            free(tag);
            count++;
        }
    }
    json_decref(root);
    assert_true(count > 100);
}

static void test_wycheproof_hkdf_sha256(void **state)
{
    (void)state;
    json_t *root = tv_load("wycheproof/hkdf_sha256_test.json");
    size_t gi, ti, count = 0;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            size_t il, sl, nl, ol;
            uint8_t *ikm = tv_hex_field(t, "ikm", &il);
            uint8_t *salt = tv_hex_field(t, "salt", &sl);
            uint8_t *info = tv_hex_field(t, "info", &nl);
            uint8_t *okm = tv_hex_field(t, "okm", &ol);
            size_t size = (size_t)json_integer_value(json_object_get(t, "size"));
            int tc = (int)json_integer_value(json_object_get(t, "tcId"));
            assert_true(il <= 0x10000 && sl <= 0x1000 && nl <= 0x1000);
            mem_write(MSG_ADDR, ikm, il);
            mem_write(SALT_ADDR, salt, sl);
            mem_write(INFO_ADDR, info, nl);
            uint32_t out = MSG_ADDR + 0x20000u;
            uint32_t a[8] = {out,      (uint32_t)size, SALT_ADDR, (uint32_t)sl,
                             MSG_ADDR, (uint32_t)il,   INFO_ADDR, (uint32_t)nl};
            uint32_t rc = call_probe(PROBE_HKDF, a, 8);
            if (tv_result(t) == TV_VALID) {
                if (rc != 0)
                    fail_msg("HKDF-SHA256 tcId %d: refused a valid request", tc);
                uint8_t *got = malloc(size + 1);
                assert_non_null(got);
                mem_read(out, got, size);
                if (size != ol || memcmp(got, okm, size) != 0)
                    fail_msg("HKDF-SHA256 tcId %d: output differs", tc);
                free(got);
            } else if (tv_result(t) == TV_INVALID && rc == 0) {
                fail_msg("HKDF-SHA256 tcId %d: accepted an invalid request (size %zu)", tc, size);
            }
            free(ikm);
            free(salt);
            free(info);
            free(okm);
            count++;
        }
    }
    json_decref(root);
    assert_true(count > 50);
}

/* ---- what the assembly leaves behind ---- */

static uint32_t ror32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

/* The block's message schedule must not stay on the stack: an attacker who reads RAM after a
 * PSK derivation or an HMAC must not find the key's words there. */
static void test_schedule_wiped(void **state)
{
    (void)state;
    uint8_t blk[64];
    uint32_t h[8], w[64];
    trng_bytes(blk, sizeof blk);
    trng_bytes(h, sizeof h);
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)blk[4 * t] << 24 | (uint32_t)blk[4 * t + 1] << 16 |
               (uint32_t)blk[4 * t + 2] << 8 | blk[4 * t + 3];
    for (int t = 16; t < 64; t++)
        w[t] = w[t - 16] + (ror32(w[t - 15], 7) ^ ror32(w[t - 15], 18) ^ (w[t - 15] >> 3)) +
               w[t - 7] + (ror32(w[t - 2], 17) ^ ror32(w[t - 2], 19) ^ (w[t - 2] >> 10));
    mem_write(H_ADDR, h, sizeof h);
    mem_write(MSG_ADDR, blk, sizeof blk);
    device_blocks(H_ADDR, MSG_ADDR, 1);
    assert_true(stack_depth > 256); /* the schedule was on this stack */
    uint32_t stack[STACK_SIZE / 4];
    mem_read(STACK_TOP - STACK_SIZE, stack, sizeof stack);
    int found = 0;
    for (size_t i = 0; i < STACK_SIZE / 4; i++)
        for (int t = 0; t < 64; t++)
            if (stack[i] == w[t])
                found++;
    if (found)
        fail_msg("%d words of the message schedule left on the stack", found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_match_c),
        cmocka_unit_test(test_every_length_0_to_300),
        cmocka_unit_test(test_streamed_in_random_chunks),
        cmocka_unit_test(test_long_messages),
        cmocka_unit_test(test_wycheproof_hmac_sha256),
        cmocka_unit_test(test_wycheproof_hkdf_sha256),
        cmocka_unit_test(test_schedule_wiped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
