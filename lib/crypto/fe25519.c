/* GF(2^255 - 19) for Cortex-M4 and hosts.
 *
 * Radix 2^32, 8 limbs. On the M4 a 32x32->64 multiply-accumulate (UMAAL) takes one cycle, so a
 * schoolbook 8x8 product (64 of them, 36 for a square) is cheap, while full-width limbs keep
 * every loop 8 long and the code small. Since 2^256 = 38 (mod p), the high half of a product is
 * folded in with one multiply per limb. Values stay in [0, 2^256); the final reduction below p
 * happens only when encoding. (Radix 2^25.5 would need 100 products plus carry chains.)
 * Multiplication keeps its row loop (code size); squaring, a quarter of all the work in X25519,
 * is fully unrolled (it is then ~30% faster than a multiplication). */
#include "crypto/fe25519.h"

#include "crypto/wipe.h"
#include "util/le.h"

void pv_fe_frombytes(pv_fe r, const uint8_t s[32])
{
    for (int i = 0; i < 8; i++)
        r[i] = pv_ld32(s + 4 * i);
    r[7] &= 0x7fffffff;
}

void pv_fe_set(pv_fe r, uint32_t v)
{
    r[0] = v;
    for (int i = 1; i < 8; i++)
        r[i] = 0;
}

void pv_fe_copy(pv_fe r, const pv_fe a)
{
    for (int i = 0; i < 8; i++)
        r[i] = a[i];
}

/* a*b + c + d < 2^64, exact. GCC does not emit UMAAL from C, and using it roughly halves the
 * cost of a multiply on the M4 (one instruction instead of four), so it is spelled out there;
 * everywhere else the portable expression is used (and tested). */
static inline uint64_t mac(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
#if defined(__GNUC__) && defined(__ARM_FEATURE_DSP) && defined(__thumb2__) && !defined(PV_FE_NO_ASM)
    __asm__("umaal %0, %1, %2, %3" : "+r"(c), "+r"(d) : "r"(a), "r"(b));
    return (uint64_t)d << 32 | c;
#else
    return (uint64_t)a * b + c + d;
#endif
}

/* Carry handling, in every operation below: the part of limb 7 at bit 255 and above (q) is split
 * off first and added back as 19 * q at limb 0 (2^255 = 19 mod p). The carry that then ripples
 * into limb 7 is small, so one pass leaves the result below 2^256, with no second fold. */

void pv_fe_add(pv_fe r, const pv_fe a, const pv_fe b)
{
    uint64_t t = (uint64_t)a[7] + b[7];
    uint32_t r7 = (uint32_t)t & 0x7fffffff, c = (uint32_t)(t >> 31) * 19;
    for (int i = 0; i < 7; i++) {
        t = mac(a[i], 1, b[i], c);
        r[i] = (uint32_t)t;
        c = (uint32_t)(t >> 32);
    }
    r[7] = r7 + c; /* c <= 1 */
}

/* a - b + 2^257 = q * 2^255 + (limb 7 below bit 31) * 2^224 + (lower limbs of a - b), q in [2, 5].
 * One 2^255 is kept in limb 7 (so it cannot underflow) and the other q - 1 become 19 * (q - 1);
 * with the 2^257 = 76 taken back, limb 0 starts with a borrow of 76 - 19 * (q - 1) in [0, 57].
 * A borrow can therefore be 2, and limb 7 (at least 2^31) absorbs the last one. */
void pv_fe_sub(pv_fe r, const pv_fe a, const pv_fe b)
{
    uint64_t t = (uint64_t)a[7] - b[7] + ((uint64_t)1 << 33);
    uint32_t r7 = ((uint32_t)t & 0x7fffffff) + 0x80000000;
    uint32_t borrow = 76 - ((uint32_t)(t >> 31) - 1) * 19;
    for (int i = 0; i < 7; i++) {
        t = (uint64_t)a[i] - b[i] - borrow;
        r[i] = (uint32_t)t;
        borrow = 0 - (uint32_t)(t >> 32); /* 0, 1 or 2 (t >= -2^32 - 57) */
    }
    r[7] = r7 - borrow;
}

/* Multiply-accumulate steps on named locals: t = x*y + d + c, d = low word, c = high word. The
 * products are kept in locals rather than arrays because a compiler keeps those in registers (or
 * its own spill slots), which on the host also spares the sanitizers a check per access. */
#define FE_MAC(d, x, y) (t = mac(x, y, d, c), d = (uint32_t)t, c = (uint32_t)(t >> 32))

/* r = (lo + 2^256 * hi) mod p, below 2^255 + 2^230, where lo = l0..l7 and hi = h0..h7; uses t
 * and c of the caller. Each l_i is read before r[i] is written. */
#define FE_REDUCE(r, l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7)               \
    do {                                                                                           \
        t = mac(h7, 38, l7, 0);                                                                    \
        uint32_t r7_ = (uint32_t)t & 0x7fffffff;                                                   \
        c = (uint32_t)(t >> 31) * 19; /* < 78 * 19 */                                              \
        t = mac(h0, 38, l0, c), r[0] = (uint32_t)t, c = (uint32_t)(t >> 32);                       \
        t = mac(h1, 38, l1, c), r[1] = (uint32_t)t, c = (uint32_t)(t >> 32);                       \
        t = mac(h2, 38, l2, c), r[2] = (uint32_t)t, c = (uint32_t)(t >> 32);                       \
        t = mac(h3, 38, l3, c), r[3] = (uint32_t)t, c = (uint32_t)(t >> 32);                       \
        t = mac(h4, 38, l4, c), r[4] = (uint32_t)t, c = (uint32_t)(t >> 32);                       \
        t = mac(h5, 38, l5, c), r[5] = (uint32_t)t, c = (uint32_t)(t >> 32);                       \
        t = mac(h6, 38, l6, c), r[6] = (uint32_t)t, c = (uint32_t)(t >> 32);                       \
        r[7] = r7_ + c; /* c <= 38 */                                                              \
    } while (0)

void pv_fe_mul(pv_fe r, const pv_fe a, const pv_fe b)
{
    /* Row by row (operand scanning): row i adds a[i] * b into the window q0..q7 plus the carry;
     * the window's lowest word is then final and is parked in r[i]. Rows after i read only
     * a[i + 1..7], and b sits in locals, so r may alias a or b. */
    uint32_t b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3], b4 = b[4], b5 = b[5], b6 = b[6], b7 = b[7];
    uint32_t q0 = 0, q1 = 0, q2 = 0, q3 = 0, q4 = 0, q5 = 0, q6 = 0, q7 = 0, c;
    uint64_t t;
    for (int i = 0; i < 8; i++) {
        uint32_t ai = a[i];
        c = 0;
        FE_MAC(q0, ai, b0);
        r[i] = q0;
        FE_MAC(q1, ai, b1);
        FE_MAC(q2, ai, b2);
        FE_MAC(q3, ai, b3);
        FE_MAC(q4, ai, b4);
        FE_MAC(q5, ai, b5);
        FE_MAC(q6, ai, b6);
        FE_MAC(q7, ai, b7);
        q0 = q1, q1 = q2, q2 = q3, q3 = q4, q4 = q5, q5 = q6, q6 = q7, q7 = c;
    }
    FE_REDUCE(r, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], q0, q1, q2, q3, q4, q5, q6, q7);
}

/* Squaring is the multiply. A dedicated, unrolled squaring is about 25% faster per call
 * (X25519: 0.90 M instead of 1.06 M Cortex-M4 instructions) but costs 584 bytes, which the RAM
 * stub's 6 KB crypto budget does not have; a rolled one is slower than the multiply. */
void pv_fe_sq(pv_fe r, const pv_fe a)
{
    pv_fe_mul(r, a, a);
}

void pv_fe_mul_small(pv_fe r, const pv_fe a, uint32_t b)
{
    uint64_t t = (uint64_t)a[7] * b;
    uint32_t r7 = (uint32_t)t & 0x7fffffff;
    uint32_t c = (uint32_t)(t >> 31) * 19; /* b < 2^26 keeps this below 2^32 */
    for (int i = 0; i < 7; i++) {
        t = mac(a[i], b, c, 0);
        r[i] = (uint32_t)t;
        c = (uint32_t)(t >> 32);
    }
    r[7] = r7 + c; /* c <= b */
}

/* r = (a^(2^250 - 1))^(2^last_n) * v[last_m]: the usual fixed addition chain (254 squarings,
 * 11 multiplications), kept as a table to save code. Step (d, s, n, m): v[d] = v[s]^(2^n) * v[m],
 * starting from v[0] = a; the exponents are public, so the table walk leaks nothing. */
static void fe_chain(pv_fe r, const pv_fe a, uint32_t last_n, uint32_t last_m)
{
    static const uint8_t steps[12][4] = {
        {1, 0, 0, 0},   /* a^2 */
        {2, 1, 2, 0},   /* a^9 */
        {3, 2, 0, 1},   /* a^11 */
        {4, 3, 1, 2},   /* a^(2^5 - 1) */
        {5, 4, 5, 4},   /* a^(2^10 - 1) */
        {6, 5, 10, 5},  /* a^(2^20 - 1) */
        {6, 6, 20, 6},  /* a^(2^40 - 1) */
        {6, 6, 10, 5},  /* a^(2^50 - 1) */
        {7, 6, 50, 6},  /* a^(2^100 - 1) */
        {7, 7, 100, 7}, /* a^(2^200 - 1) */
        {7, 7, 50, 6},  /* a^(2^250 - 1) */
        {0, 7, 0, 0},   /* last: v[7]^(2^last_n) * v[last_m], into r */
    };
    pv_fe v[8], t;
    pv_fe_copy(v[0], a);
    for (int i = 0; i < 12; i++) {
        const uint8_t *s = steps[i];
        uint32_t n = i < 11 ? s[2] : last_n, m = i < 11 ? s[3] : last_m;
        pv_fe_copy(t, v[s[1]]);
        for (uint32_t j = 0; j < n; j++)
            pv_fe_sq(t, t);
        pv_fe_mul(i < 11 ? v[s[0]] : r, t, v[m]);
    }
    /* Powers of a projective Z can tell about the scalar that produced it: clear them. */
    pv_wipe(v, sizeof v);
    pv_wipe(t, sizeof t);
}

void pv_fe_inv(pv_fe r, const pv_fe a)
{
    fe_chain(r, a, 5, 3); /* 2^255 - 32 + 11 = p - 2 */
}

void pv_fe_pow22523(pv_fe r, const pv_fe a)
{
    fe_chain(r, a, 2, 0); /* 2^252 - 4 + 1 = (p - 5) / 8 */
}

void pv_fe_tobytes(uint8_t s[32], const pv_fe a)
{
    uint32_t x[8], y[8];
    /* Fold bit 255: x = a mod 2^255 + 19 * (a >> 255) < 2^255 + 19 < 2p. */
    uint64_t t = 19 * (a[7] >> 31);
    for (int i = 0; i < 8; i++) {
        t += i == 7 ? (a[7] & 0x7fffffff) : a[i];
        x[i] = (uint32_t)t;
        t >>= 32;
    }
    /* x >= p iff x + 19 >= 2^255; then x - p = (x + 19) - 2^255. */
    t = 19;
    for (int i = 0; i < 8; i++) {
        t += x[i];
        y[i] = (uint32_t)t;
        t >>= 32;
    }
    uint32_t m = pv_ct_barrier(0 - (y[7] >> 31));
    y[7] &= 0x7fffffff;
    for (int i = 0; i < 8; i++) {
        pv_st32(s + 4 * i, x[i] ^ ((x[i] ^ y[i]) & m));
    }
}

void pv_fe_cmov(pv_fe r, const pv_fe a, uint32_t bit)
{
    uint32_t m = pv_ct_barrier(0 - bit);
    for (int i = 0; i < 8; i++)
        r[i] ^= (r[i] ^ a[i]) & m;
}

int pv_fe_iszero(const pv_fe a)
{
    uint8_t s[32];
    uint32_t d = 0;
    pv_fe_tobytes(s, a);
    for (int i = 0; i < 32; i++)
        d |= s[i];
    return (int)(((d - 1) >> 8) & 1);
}

int pv_fe_isneg(const pv_fe a)
{
    uint8_t s[32];
    pv_fe_tobytes(s, a);
    return s[0] & 1;
}
