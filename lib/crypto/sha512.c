/* SHA-512 per FIPS 180-4, the same compact shape as sha256.c: one rolled round loop and a
 * 16-word message-schedule ring. */
#include "crypto/sha512.h"

#include "crypto/wipe.h"

static const uint64_t K[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
    0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
    0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
    0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
    0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
    0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
    0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
    0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
    0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
    0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
    0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
    0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

/* FIPS 180-4 5.3.5: first 64 bits of the fractional parts of the square roots of the first 8
 * primes. */
static const uint64_t IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static uint64_t ror(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

static uint64_t load_be(const uint8_t *p)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < 8; i++)
        x = (x << 8) | p[i];
    return x;
}

/* One block into h. w is caller-owned scratch so update wipes it once per call rather than once
 * per block. The working variables live in an array shifted each round: on a 32-bit core the
 * eight 64-bit values are spilled to the stack anyway, so this costs ~5% speed and saves ~180
 * bytes against named variables. */
static void compress(uint64_t h[8], uint64_t w[16], const uint8_t *blk)
{
    uint64_t s[8]; /* a..h of FIPS 180-4 6.4.2 */
    for (unsigned i = 0; i < 8; i++)
        s[i] = h[i];
    for (unsigned t = 0; t < 80; t++) {
        uint64_t x;
        if (t < 16) {
            x = load_be(blk + 8 * t);
        } else {
            uint64_t w15 = w[(t + 1) & 15], w2 = w[(t + 14) & 15];
            x = w[t & 15] + w[(t + 9) & 15] + (ror(w15, 1) ^ ror(w15, 8) ^ (w15 >> 7)) +
                (ror(w2, 19) ^ ror(w2, 61) ^ (w2 >> 6));
        }
        w[t & 15] = x;
        uint64_t a = s[0], b = s[1], c = s[2], e = s[4], f = s[5], g = s[6];
        uint64_t t1 =
            s[7] + (ror(e, 14) ^ ror(e, 18) ^ ror(e, 41)) + ((e & f) ^ (~e & g)) + K[t] + x;
        uint64_t t2 = (ror(a, 28) ^ ror(a, 34) ^ ror(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
        for (unsigned i = 7; i > 0; i--)
            s[i] = s[i - 1];
        s[4] += t1; /* e = d + t1 */
        s[0] = t1 + t2;
    }
    for (unsigned i = 0; i < 8; i++)
        h[i] += s[i];
    pv_wipe(s, sizeof s);
}

/* Big-endian serialisation of n words; serves both the digest and the length field. */
static void store_be(uint8_t *out, const uint64_t *in, unsigned n)
{
    for (unsigned i = 0; i < 8 * n; i++)
        out[i] = (uint8_t)(in[i >> 3] >> (56 - 8 * (i & 7)));
}

void pv_sha512_init_raw(void *c)
{
    pv_sha512_ctx *ctx = (pv_sha512_ctx *)c;
    /* Kept rolled: unrolled, each word costs literals plus stores instead of one table word. */
#pragma GCC unroll 1
    for (unsigned i = 0; i < 8; i++)
        ctx->h[i] = IV[i];
    ctx->total = 0;
    ctx->fill = 0;
}

void pv_sha512_update_raw(void *c, const void *data, size_t len)
{
    pv_sha512_ctx *ctx = (pv_sha512_ctx *)c;
    const uint8_t *p = (const uint8_t *)data;
    uint64_t w[16];
    if (len == 0)
        return; /* also keeps a NULL data pointer out of the pointer arithmetic */
    ctx->total += len;
    while (len > 0) {
        if (ctx->fill == 0 && len >= 128) {
            /* Whole blocks straight from the input, no copy. */
            compress(ctx->h, w, p);
            p += 128;
            len -= 128;
            continue;
        }
        ctx->buf[ctx->fill++] = *p++;
        len--;
        if (ctx->fill == 128) {
            compress(ctx->h, w, ctx->buf);
            ctx->fill = 0;
        }
    }
    pv_wipe(w, sizeof w);
}

void pv_sha512_final_raw(void *c, uint8_t *out)
{
    pv_sha512_ctx *ctx = (pv_sha512_ctx *)c;
    /* Padding (0x80, zeros to 112 mod 128, the length) goes through update, so the block logic
     * exists once; total is read first and the context is wiped at the end anyway. */
    uint8_t pad[144];
    /* Message length in bits as a 128-bit big-endian number; total counts bytes. */
    uint64_t bits[2] = {ctx->total >> 61, ctx->total << 3};
    unsigned n = 1 + ((239 - ctx->fill) & 127); /* 0x80 and the zeros: 1..128 bytes */
    pad[0] = 0x80;
    for (unsigned i = 1; i < n; i++)
        pad[i] = 0;
    store_be(pad + n, bits, 2);
    pv_sha512_update(ctx, pad, n + sizeof bits);
    store_be(out, ctx->h, 8);
    pv_wipe(ctx, sizeof *ctx);
}

void pv_sha512(uint8_t out[PV_SHA512_LEN], const void *data, size_t len)
{
    pv_sha512_ctx ctx;
    pv_sha512_init(&ctx);
    pv_sha512_update(&ctx, data, len);
    pv_sha512_final(&ctx, out);
}

_Static_assert(PV_SHA512_BLOCK <= PV_HASH_MAX_BLOCK && PV_SHA512_LEN <= PV_HASH_MAX_DIGEST,
               "SHA-512 exceeds the generic hash bounds");

const pv_hash_desc pv_hash_sha512 = {PV_SHA512_BLOCK,      PV_SHA512_LEN,       pv_sha512_init_raw,
                                     pv_sha512_update_raw, pv_sha512_final_raw, pv_sha512};
