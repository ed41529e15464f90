/* edwards25519: -x^2 + y^2 = 1 + d x^2 y^2 over GF(2^255 - 19), with the complete addition and
 * doubling formulas of RFC 8032 section 5.1.4 in extended coordinates. Complete formulas need no
 * special cases (identity, doubling), which keeps the code short and the constant-time
 * scalar multiplication simple. */
#include "crypto/ge25519.h"

#include "crypto/wipe.h"
#include "util/le.h"

static const pv_fe ge_d = {0x135978a3, 0x75eb4dca, 0x4141d8ab, 0x00700a4d,
                           0x7779e898, 0x8cc74079, 0x2b6ffe73, 0x52036cee};
static const pv_fe ge_2d = {0x26b2f159, 0xebd69b94, 0x8283b156, 0x00e0149a,
                            0xeef3d130, 0x198e80f2, 0x56dffce7, 0x2406d9dc};
static const pv_fe ge_sqrtm1 = {0x4a0ea0b0, 0xc4ee1b27, 0xad2fe478, 0x2f431806,
                                0x3dfbd7a7, 0x2b4d0099, 0x4fc1df0b, 0x2b832480};
/* The base point B: y = 4/5, x even. */
static const pv_fe ge_bx = {0x8f25d51a, 0xc9562d60, 0x9525a7b2, 0x692cc760,
                            0xfdd6dc5c, 0xc0a4e231, 0xcd6e53fe, 0x216936d3};
static const pv_fe ge_by = {0x66666658, 0x66666666, 0x66666666, 0x66666666,
                            0x66666666, 0x66666666, 0x66666666, 0x66666666};

static void ge_identity(pv_ge *p)
{
    pv_fe_set(p->X, 0);
    pv_fe_set(p->Y, 1);
    pv_fe_set(p->Z, 1);
    pv_fe_set(p->T, 0);
}

static void ge_base(pv_ge *p)
{
    pv_fe_copy(p->X, ge_bx);
    pv_fe_copy(p->Y, ge_by);
    pv_fe_set(p->Z, 1);
    pv_fe_mul(p->T, ge_bx, ge_by);
}

/* The common tail of addition and doubling. T is only read by additions, so a doubling followed
 * by another doubling may skip it (need_t = 0, a public choice); T is then stale. */
static void ge_finish(pv_ge *r, const pv_fe e, const pv_fe f, const pv_fe g, const pv_fe h,
                      int need_t)
{
    pv_fe_mul(r->X, e, f);
    pv_fe_mul(r->Y, g, h);
    if (need_t)
        pv_fe_mul(r->T, e, h);
    pv_fe_mul(r->Z, f, g);
}

/* A point prepared as an addend: (Y + X, Y - X, 2d T, 2 Z), which saves work per addition. */
typedef struct {
    pv_fe v[4];
} ge_cached;
enum { YPX, YMX, T2D, Z2 };

static void ge_to_cached(ge_cached *c, const pv_ge *p)
{
    pv_fe_add(c->v[YPX], p->Y, p->X);
    pv_fe_sub(c->v[YMX], p->Y, p->X);
    pv_fe_mul(c->v[T2D], p->T, ge_2d);
    pv_fe_add(c->v[Z2], p->Z, p->Z);
}

/* r = p + q; r may alias p. */
static void ge_add(pv_ge *r, const pv_ge *p, const ge_cached *q, int neg)
{
    /* neg = 1 adds -q instead (public choice): -(x, y) = (-x, y) swaps Y + X with Y - X and
     * negates 2d T, i.e. C. */
    pv_fe a, b, c, d, t;
    pv_fe_sub(a, p->Y, p->X);
    pv_fe_mul(a, a, q->v[neg ? YPX : YMX]); /* A = (Y1 - X1) * (Y2 - X2) */
    pv_fe_add(b, p->Y, p->X);
    pv_fe_mul(b, b, q->v[neg ? YMX : YPX]); /* B = (Y1 + X1) * (Y2 + X2) */
    pv_fe_mul(c, p->T, q->v[T2D]);          /* C = T1 * 2d * T2 */
    pv_fe_mul(d, p->Z, q->v[Z2]);           /* D = Z1 * 2 * Z2 */
    pv_fe_sub(t, b, a);                     /* E = B - A */
    pv_fe_add(b, b, a);                     /* H = B + A */
    if (neg) {
        pv_fe_add(a, d, c); /* F = D - (-C) */
        pv_fe_sub(c, d, c); /* G = D + (-C) */
    } else {
        pv_fe_sub(a, d, c); /* F = D - C */
        pv_fe_add(c, d, c); /* G = D + C */
    }
    ge_finish(r, t, a, c, b, 1);
}

/* r = 2p; r may alias p. Reads only X, Y, Z of p. */
static void ge_dbl(pv_ge *r, const pv_ge *p, int need_t)
{
    pv_fe a, b, c, h, t;
    pv_fe_sq(a, p->X); /* A = X1^2 */
    pv_fe_sq(b, p->Y); /* B = Y1^2 */
    pv_fe_sq(c, p->Z);
    pv_fe_add(c, c, c); /* C = 2 * Z1^2 */
    pv_fe_add(h, a, b); /* H = A + B */
    pv_fe_add(t, p->X, p->Y);
    pv_fe_sq(t, t);
    pv_fe_sub(t, h, t); /* E = H - (X1 + Y1)^2 */
    pv_fe_sub(a, a, b); /* G = A - B */
    pv_fe_add(c, c, a); /* F = C + G */
    ge_finish(r, t, c, a, h, need_t);
}

void pv_ge_tobytes(uint8_t s[32], const pv_ge *p)
{
    pv_fe zi, x, y;
    pv_fe_inv(zi, p->Z);
    pv_fe_mul(x, p->X, zi);
    pv_fe_mul(y, p->Y, zi);
    pv_fe_tobytes(s, y);
    s[31] = (uint8_t)(s[31] | pv_fe_isneg(x) << 7);
}

static int fe_equal(const pv_fe a, const pv_fe b)
{
    pv_fe d;
    pv_fe_sub(d, a, b);
    return pv_fe_iszero(d);
}

int pv_ge_frombytes(pv_ge *p, const uint8_t s[32])
{
    uint8_t enc[32];
    pv_fe u, v, v3, x, chk;
    int sign = s[31] >> 7;

    /* y must be canonical: re-encoding it gives back the input (bit 255 aside). */
    pv_fe_frombytes(p->Y, s);
    pv_fe_tobytes(enc, p->Y);
    enc[31] = (uint8_t)(enc[31] | sign << 7);
    if (!pv_ct_equal(enc, s, 32))
        return -1;

    /* x^2 = u / v with u = y^2 - 1, v = d y^2 + 1; candidate x = u v^3 (u v^7)^((p - 5) / 8). */
    pv_fe_set(p->Z, 1);
    pv_fe_sq(u, p->Y);
    pv_fe_mul(v, u, ge_d);
    pv_fe_sub(u, u, p->Z);
    pv_fe_add(v, v, p->Z);
    pv_fe_sq(v3, v);
    pv_fe_mul(v3, v3, v); /* v^3 */
    pv_fe_sq(x, v3);
    pv_fe_mul(x, x, v); /* v^7 */
    pv_fe_mul(x, x, u); /* u v^7 */
    pv_fe_pow22523(x, x);
    pv_fe_mul(x, x, v3);
    pv_fe_mul(x, x, u);

    pv_fe_sq(chk, x);
    pv_fe_mul(chk, chk, v); /* v x^2 */
    if (!fe_equal(chk, u)) {
        pv_fe_add(chk, chk, u);
        if (!pv_fe_iszero(chk))
            return -1; /* u / v is not a square: not on the curve */
        pv_fe_mul(x, x, ge_sqrtm1);
    }
    if (pv_fe_iszero(x) && sign)
        return -1; /* RFC 8032: x = 0 with the sign bit set is invalid */
    if (pv_fe_isneg(x) != sign) {
        pv_fe_set(chk, 0);
        pv_fe_sub(x, chk, x);
    }
    pv_fe_copy(p->X, x);
    pv_fe_mul(p->T, x, p->Y);
    return 0;
}

/* sel = |e| B from tab[k] = (k + 1) B, negated if e < 0, without secret-dependent branches or
 * addresses: every entry is read and combined under a mask. e = 0 gives the identity
 * (1, 1, 0, 2). */
static void ge_select(ge_cached *sel, const ge_cached tab[8], int e)
{
    uint32_t neg = (uint32_t)e >> 31;
    uint32_t abs = (uint32_t)e ^ (0 - neg);
    abs += neg; /* |e| in [0, 8] */
    uint32_t none = ((abs - 1) >> 31) & 1, acc;
    for (int j = 0; j < 4; j++) {
        for (int w = 0; w < 8; w++) {
            acc = w == 0 && j != T2D ? (j == Z2 ? 2 : 1) & (0 - none) : 0;
            for (uint32_t k = 0; k < 8; k++) {
                /* abs == k + 1 */
                uint32_t m = pv_ct_barrier(0 - ((((abs ^ (k + 1)) - 1) >> 31) & 1));
                acc |= tab[k].v[j][w] & m;
            }
            sel->v[j][w] = acc;
        }
    }
    /* -P: swap Y + X with Y - X and negate 2d T. */
    pv_fe nt;
    pv_fe_set(nt, 0);
    pv_fe_sub(nt, nt, sel->v[T2D]);
    pv_fe_cmov(sel->v[T2D], nt, neg);
    pv_wipe(nt, sizeof nt);
    for (int w = 0; w < 8; w++) {
        uint32_t x = (sel->v[YPX][w] ^ sel->v[YMX][w]) & (0 - neg);
        sel->v[YPX][w] ^= x;
        sel->v[YMX][w] ^= x;
    }
}

void pv_ge_scalarmult_base(pv_ge *r, const uint8_t s[32])
{
    /* Fixed 4-bit window with signed digits e[i] in [-8, 8): s = sum e[i] 16^i. Per digit: four
     * doublings and one addition of |e[i]| B, from a table of 1B..8B built here (see ge_select).
     * Neither the operations nor the memory accesses depend on s. */
    int8_t e[64];
    ge_cached tab[8], sel;
    pv_ge q;
    int carry = 0;
    for (int i = 0; i < 32; i++) {
        e[2 * i] = (int8_t)(s[i] & 15);
        e[2 * i + 1] = (int8_t)(s[i] >> 4);
    }
    for (int i = 0; i < 63; i++) {
        e[i] = (int8_t)(e[i] + carry);
        carry = (e[i] + 8) >> 4; /* e[i] + 8 >= 0 */
        e[i] = (int8_t)(e[i] - carry * 16);
    }
    e[63] = (int8_t)(e[63] + carry); /* <= 8 as s < 2^255 */

    ge_base(&q);
    ge_to_cached(&tab[0], &q);
    for (int k = 1; k < 8; k++) {
        ge_add(&q, &q, &tab[0], 0);
        ge_to_cached(&tab[k], &q);
    }

    ge_identity(&q);
    for (int i = 63; i >= 0; i--) {
        for (int j = 0; j < 4; j++)
            ge_dbl(&q, &q, j == 3);
        ge_select(&sel, tab, e[i]);
        ge_add(&q, &q, &sel, 0);
    }
    *r = q;
    /* The temporaries of the last ge_dbl and ge_add (and of the field operations below them)
     * hold projective coordinates of secret multiples of B. Running both once more on public
     * data from this same frame overwrites those stack slots: a wipe for locals out of reach. */
    ge_identity(&q);
    ge_dbl(&q, &q, 1);
    ge_to_cached(&sel, &q);
    ge_add(&q, &q, &sel, 0);
    pv_wipe(e, sizeof e);
    pv_wipe(tab, sizeof tab);
    pv_wipe(&sel, sizeof sel);
    pv_wipe(&q, sizeof q);
}

/* Width-4 NAF of s < 2^255: s = sum d[i] 2^i with every d[i] odd in [-7, 7] or 0, and at most
 * one nonzero digit in any 4 consecutive ones. Variable time. */
static void ge_wnaf(int8_t d[256], const uint8_t s[32])
{
    uint32_t k[8];
    for (int i = 0; i < 8; i++)
        k[i] = pv_ld32(s + 4 * i);
    for (int i = 0; i < 256; i++) {
        int v = 0;
        if (k[0] & 1) {
            v = (int)(k[0] & 15);
            if (v > 8)
                v -= 16;
            /* k -= v clears the low 4 bits (for v < 0 it adds |v|, which may carry upwards). */
            uint64_t t = v > 0 ? (uint64_t)k[0] - (uint32_t)v : (uint64_t)k[0] + (uint32_t)-v;
            k[0] = (uint32_t)t;
            for (int j = 1; j < 8 && v < 0; j++) {
                t = (uint64_t)k[j] + (t >> 32);
                k[j] = (uint32_t)t;
            }
        }
        d[i] = (int8_t)v;
        for (int j = 0; j < 7; j++)
            k[j] = k[j] >> 1 | k[j + 1] << 31;
        k[7] >>= 1;
    }
}

/* tab[j] = (2j + 1) P for j < 4. */
static void ge_odd_multiples(ge_cached tab[4], const pv_ge *p)
{
    pv_ge q;
    ge_cached p2;
    ge_dbl(&q, p, 1);
    ge_to_cached(&p2, &q);
    ge_to_cached(&tab[0], p);
    q = *p;
    for (int j = 1; j < 4; j++) {
        ge_add(&q, &q, &p2, 0);
        ge_to_cached(&tab[j], &q);
    }
}

void pv_ge_double_scalarmult_vartime(pv_ge *r, const uint8_t a[32], const pv_ge *A,
                                     const uint8_t b[32])
{
    /* Straus with width-4 NAFs: one shared chain of doublings, and about one addition per five
     * bits of each scalar, from small tables of odd multiples of A and B. */
    int8_t da[256], db[256];
    ge_cached ta[4], tb[4];
    pv_ge q;
    ge_wnaf(da, a);
    ge_wnaf(db, b);
    ge_odd_multiples(ta, A);
    ge_base(&q);
    ge_odd_multiples(tb, &q);
    ge_identity(&q);
    int i = 255;
    while (i > 0 && da[i] == 0 && db[i] == 0)
        i--;
    for (; i >= 0; i--) {
        ge_dbl(&q, &q, da[i] != 0 || db[i] != 0 || i == 0);
        if (da[i])
            ge_add(&q, &q, &ta[(da[i] < 0 ? -da[i] : da[i]) / 2], da[i] < 0);
        if (db[i])
            ge_add(&q, &q, &tb[(db[i] < 0 ? -db[i] : db[i]) / 2], db[i] < 0);
    }
    *r = q;
}
