/* Poly1305 (RFC 8439 section 2.5) with five 26-bit limbs: every product is a 32x32->64 multiply,
 * which the Cortex-M4 does in one UMLAL, and no secret-dependent branch or index. */
#include "crypto/poly1305.h"

#include "crypto/wipe.h"
#include "util/le.h"

#define M26 0x3ffffffu

/* Split the 130-bit little-endian number in words t[0..4] (t[4] holds bits 128..) into limbs. */
static void to_limbs(uint32_t l[5], const uint32_t t[5])
{
    for (unsigned i = 0; i < 5; i++) {
        unsigned w = 26 * i / 32, sh = 26 * i % 32;
        /* << 1 << (31 - sh) instead of << (32 - sh): defined when sh == 0. */
        l[i] = ((t[w] >> sh) | (t[w + 1] << 1 << (31 - sh))) & M26;
    }
}

/* h = (h + m + hibit * 2^128) * r mod 2^130 - 5 (partially reduced). */
static void block(pv_poly1305_ctx *ctx, const uint8_t m[16], uint32_t hibit)
{
    uint32_t w[10], *t = w + 5, *h = ctx->h; /* message words, then limbs */
    const uint32_t *r = ctx->r;
    unsigned i, j;

    for (i = 0; i < 4; i++)
        w[i] = pv_ld32(m + 4 * i);
    w[4] = hibit;
    to_limbs(t, w);
    for (i = 0; i < 5; i++)
        h[i] += t[i];

    /* Schoolbook product; limbs past 2^130 fold back times 5 since 2^130 = 5 mod p. With h < 2^27
     * and 5r < 2^29 each column stays below 2^58. */
    uint64_t c = 0;
    for (i = 0; i < 5; i++) {
        uint64_t d = c;
        for (j = 0; j < 5; j++)
            d += (uint64_t)h[j] * (j <= i ? r[i - j] : 5 * r[i + 5 - j]);
        t[i] = (uint32_t)d & M26;
        c = d >> 26;
    }
    /* c < 2^29 here (column 4 has no factor 5 and r4 < 2^20), so 5c fits in 32 bits. */
    t[0] += 5 * (uint32_t)c;
    t[1] += t[0] >> 26;
    t[0] &= M26;
    for (i = 0; i < 5; i++)
        h[i] = t[i];
    pv_wipe(w, sizeof w);
}

void pv_poly1305_init(pv_poly1305_ctx *ctx, const uint8_t key[32])
{
    uint32_t *t = ctx->h; /* scratch for r's words; h must end up zero anyway */
    pv_wipe(ctx, sizeof *ctx);
    for (unsigned i = 0; i < 4; i++) {
        /* Clamp r (RFC 8439 2.5.1): top 4 bits of every word, low 2 bits of words 1..3. */
        t[i] = pv_ld32(key + 4 * i) & (i ? 0x0ffffffcu : 0x0fffffffu);
        ctx->pad[i] = pv_ld32(key + 16 + 4 * i);
    }
    to_limbs(ctx->r, t);
    pv_wipe(t, 5 * sizeof *t);
}

void pv_poly1305_update(pv_poly1305_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    while (len--) {
        ctx->buf[ctx->fill++] = *p++;
        if (ctx->fill == 16) {
            block(ctx, ctx->buf, 1);
            ctx->fill = 0;
        }
    }
}

void pv_poly1305_final(pv_poly1305_ctx *ctx, uint8_t tag[16])
{
    uint32_t *h = ctx->h, c;
    unsigned i;

    if (ctx->fill) {
        /* Last partial block: append 0x01 and zero-fill; no 2^128 bit. */
        ctx->buf[ctx->fill] = 1;
        for (i = ctx->fill + 1; i < 16; i++)
            ctx->buf[i] = 0;
        block(ctx, ctx->buf, 0);
    }
    /* h < 2^130 + 2^32 with limbs below 2^27, so h mod p is h or h - p. c = 1 iff h + 5 reaches
     * 2^130, i.e. h >= p; then h - p = (h + 5) mod 2^130. Adding 5c with full carries and
     * dropping bit 130 gives the result with every limb below 2^26. No branch on c. */
    for (c = 5, i = 0; i < 5; i++)
        c = (h[i] + c) >> 26;
    for (c *= 5, i = 0; i < 5; i++) {
        h[i] += c;
        c = h[i] >> 26;
        h[i] &= M26;
    }

    /* tag = (h mod 2^128) + s mod 2^128; 32-bit word k starts at bit 32k = limb k + 6k bits. */
    uint64_t f = 0;
    for (i = 0; i < 4; i++) {
        unsigned sh = 6 * i;
        f += (uint64_t)((h[i] >> sh) | (h[i + 1] << (26 - sh))) + ctx->pad[i];
        pv_st32(tag + 4 * i, (uint32_t)f);
        f >>= 32;
    }
    pv_wipe(ctx, sizeof *ctx);
}
