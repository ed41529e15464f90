/* Scalars modulo L with Montgomery reduction (R = 2^256, 32-bit words): it needs nothing but
 * word-by-word multiply-accumulate, fixed loop counts and one masked final subtraction, so it is
 * small and constant time. A 512-bit x becomes x * R^-2 after 16 reduction steps; one Montgomery
 * multiplication by R^3 mod L then restores x mod L. */
#include "crypto/sc25519.h"

#include "crypto/wipe.h"
#include "util/le.h"

static const uint32_t sc_L[8] = {0x5cf5d3ed, 0x5812631a, 0xa2f79cd6, 0x14def9de,
                                 0x00000000, 0x00000000, 0x00000000, 0x10000000};
/* 2^768 mod L */
static const uint32_t sc_R3[8] = {0x7b83a2db, 0x2a9e4968, 0xaef7f3ec, 0x278324e6,
                                  0x04ec5b65, 0x8065dc6c, 0x3599cec7, 0x0e530b77};
#define SC_LINV 0x12547e1bu /* -L^-1 mod 2^32 */

static void sc_load(uint32_t *w, const uint8_t *s, int n)
{
    for (int i = 0; i < n; i++, s += 4)
        w[i] = pv_ld32(s);
}

/* t[0..15] = a * b, t[16] = 0. */
static void sc_mul(uint32_t t[17], const uint32_t a[8], const uint32_t b[8])
{
    for (int i = 0; i < 17; i++)
        t[i] = 0;
    for (int i = 0; i < 8; i++) {
        uint32_t c = 0;
        for (int j = 0; j < 8; j++) {
            uint64_t x = (uint64_t)a[i] * b[j] + t[i + j] + c;
            t[i + j] = (uint32_t)x;
            c = (uint32_t)(x >> 32);
        }
        t[i + 8] = c;
    }
}

/* n Montgomery steps on t (< 2^512): t = t * 2^(-32 n) mod L, then r = t fully reduced. Each
 * step adds the multiple of L that clears the low word, then drops that word. The bound
 * t * 2^(-32 n) + L < 2L leaves one conditional subtraction. t is clobbered. */
static void sc_redc(uint8_t out[32], uint32_t t[17], int n)
{
    for (int s = 0; s < n; s++) {
        uint32_t m = t[0] * SC_LINV, c = 0;
        for (int j = 0; j < 17; j++) {
            uint64_t x = (uint64_t)m * (j < 8 ? sc_L[j] : 0) + t[j] + c;
            if (j > 0)
                t[j - 1] = (uint32_t)x;
            c = (uint32_t)(x >> 32);
        }
        t[16] = c;
    }
    /* out = t - L if that does not borrow, else t (t < 2L < 2^254 fits in t[0..7]). */
    uint32_t d[8], borrow = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t x = (uint64_t)t[i] - sc_L[i] - borrow;
        d[i] = (uint32_t)x;
        borrow = (uint32_t)(x >> 63);
    }
    uint32_t keep = 0 - borrow; /* all ones: t < L, keep t */
    for (int i = 0; i < 8; i++) {
        pv_st32(out + 4 * i, d[i] ^ ((d[i] ^ t[i]) & keep));
    }
    pv_wipe(d, sizeof d);
}

/* out = t mod L for t < 2^512 in t[0..15] (t[16] = 0); wipes t. */
static void sc_reduce512(uint8_t out[32], uint32_t t[17])
{
    uint8_t x[32];
    uint32_t w[8];
    sc_redc(x, t, 16); /* t * R^-2 */
    sc_load(w, x, 8);
    sc_mul(t, w, sc_R3);
    sc_redc(out, t, 8); /* t * R^-2 * R^3 * R^-1 = t */
    pv_wipe(x, sizeof x);
    pv_wipe(w, sizeof w);
    pv_wipe(t, 17 * sizeof t[0]);
}

void pv_sc_reduce(uint8_t r[32], const uint8_t h[64])
{
    uint32_t t[17];
    sc_load(t, h, 16);
    t[16] = 0;
    sc_reduce512(r, t);
}

void pv_sc_muladd(uint8_t s[32], const uint8_t a[32], const uint8_t b[32], const uint8_t c[32])
{
    uint32_t t[17], wa[8], wb[8], wc[8];
    sc_load(wa, a, 8);
    sc_load(wb, b, 8);
    sc_load(wc, c, 8);
    sc_mul(t, wa, wb);
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        x += (uint64_t)t[i] + (i < 8 ? wc[i] : 0);
        t[i] = (uint32_t)x;
        x >>= 32;
    }
    sc_reduce512(s, t); /* a * b + c < 2^512: no carry out of t[15] */
    pv_wipe(wa, sizeof wa);
    pv_wipe(wb, sizeof wb);
    pv_wipe(wc, sizeof wc);
}

int pv_sc_is_canonical(const uint8_t s[32])
{
    uint32_t w[8], borrow = 0;
    sc_load(w, s, 8);
    for (int i = 0; i < 8; i++)
        borrow = (uint32_t)(((uint64_t)w[i] - sc_L[i] - borrow) >> 63);
    return (int)borrow; /* s - L borrows iff s < L */
}
