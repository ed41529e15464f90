/* SHA-256 per FIPS 180-4, sized for the RAM stub: one rolled round loop, the message schedule
 * kept in a 16-word ring (W[t] only ever needs W[t-16..t-1]). Built with PV_SHA256_CM4, the
 * file leaves out its block function (pv_sha256_blocks) and the K table for the Cortex-M4
 * assembly one (sha256_cm4.S), which the bootloader links. */
#include "crypto/sha256.h"

#include "crypto/wipe.h"

#include <string.h>

#ifndef PV_SHA256_CM4
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t load_be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One block into h. w is caller-owned scratch so pv_sha256_blocks wipes it once per call rather
 * than once per block. Not inlined: in the stub's LTO build one copy of the rounds is the
 * smallest. */
__attribute__((noinline)) static void compress(uint32_t h[8], uint32_t w[16], const uint8_t *blk)
{
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (unsigned t = 0; t < 64; t++) {
        uint32_t x;
        if (t < 16) {
            x = load_be(blk + 4 * t);
        } else {
            uint32_t w15 = w[(t + 1) & 15], w2 = w[(t + 14) & 15];
            x = w[t & 15] + w[(t + 9) & 15] + (ror(w15, 7) ^ ror(w15, 18) ^ (w15 >> 3)) +
                (ror(w2, 17) ^ ror(w2, 19) ^ (w2 >> 10));
        }
        w[t & 15] = x;
        uint32_t t1 = k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + x;
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

/* The block function (sha256.h); not inlined into update either, for the same reason. */
__attribute__((noinline)) void pv_sha256_blocks(uint32_t h[8], const uint8_t *data, size_t nblocks)
{
    uint32_t w[16];
    for (; nblocks > 0; nblocks--, data += 64)
        compress(h, w, data);
    pv_wipe(w, sizeof w);
}
#endif

/* Big-endian serialisation of n words; serves both the digest and the length field. */
static void store_be(uint8_t *out, const uint32_t *in, unsigned n)
{
    for (unsigned i = 0; i < 4 * n; i++)
        out[i] = (uint8_t)(in[i >> 2] >> (24 - 8 * (i & 3)));
}

/* FIPS 180-4 5.3.3: first 32 bits of the fractional parts of the square roots of the first 8
 * primes. */
static const uint32_t IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

void pv_sha256_init_raw(void *c)
{
    pv_sha256_ctx *ctx = (pv_sha256_ctx *)c;
    /* A copy of the table: unrolled, each word would cost a literal plus a store. */
    memcpy(ctx->h, IV, sizeof IV);
    ctx->total = 0;
    ctx->fill = 0;
}

void pv_sha256_update_raw(void *c, const void *data, size_t len)
{
    pv_sha256_ctx *ctx = (pv_sha256_ctx *)c;
    const uint8_t *p = (const uint8_t *)data;
    if (len == 0)
        return; /* also keeps a NULL data pointer out of the pointer arithmetic */
    ctx->total += len;
    while (len > 0) {
        const uint8_t *blocks = p;
        size_t n = len / 64;
        if (ctx->fill == 0 && n > 0) {
            /* Whole blocks straight from the input, no copy, in one call. */
            p += 64 * n;
            len -= 64 * n;
        } else {
            ctx->buf[ctx->fill++] = *p++;
            len--;
            if (ctx->fill < 64)
                continue;
            blocks = ctx->buf;
            n = 1;
            ctx->fill = 0;
        }
        pv_sha256_blocks(ctx->h, blocks, n);
    }
}

void pv_sha256_final_raw(void *c, uint8_t *out)
{
    pv_sha256_ctx *ctx = (pv_sha256_ctx *)c;
    /* Padding (0x80, zeros to 56 mod 64, the length) goes through update a byte at a time, so
     * the block logic exists once and the stub stays small; total is read first and the
     * context is wiped at the end anyway. */
    uint8_t b[8];
    /* Message length in bits as two big-endian words (the byte count can exceed 2^29). */
    uint32_t bits[2] = {(uint32_t)(ctx->total >> 29), (uint32_t)ctx->total << 3};
    b[0] = 0x80;
    do {
        pv_sha256_update(ctx, b, 1);
        b[0] = 0;
    } while (ctx->fill != 56);
    store_be(b, bits, 2);
    pv_sha256_update(ctx, b, sizeof b);
    store_be(out, ctx->h, 8);
    pv_wipe(ctx, sizeof *ctx);
}

void pv_sha256(uint8_t out[PV_SHA256_LEN], const void *data, size_t len)
{
    pv_sha256_ctx ctx;
    pv_sha256_init(&ctx);
    pv_sha256_update(&ctx, data, len);
    pv_sha256_final(&ctx, out);
}

_Static_assert(PV_SHA256_BLOCK <= PV_HASH_MAX_BLOCK && PV_SHA256_LEN <= PV_HASH_MAX_DIGEST,
               "SHA-256 exceeds the generic hash bounds");

const pv_hash_desc pv_hash_sha256 = {PV_SHA256_BLOCK,      PV_SHA256_LEN,       pv_sha256_init_raw,
                                     pv_sha256_update_raw, pv_sha256_final_raw, pv_sha256};
