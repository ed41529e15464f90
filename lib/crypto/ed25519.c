/* Ed25519 (RFC 8032 section 5.1, pure variant). Verification is cofactorless and compares
 * encodings: it accepts iff encode([S]B - [k]A) equals the 32 bytes of R, with S < L and A a
 * valid, canonical encoding. Since the encoder only ever produces canonical encodings of points
 * on the curve, an R that is non-canonical or not on the curve can never match, so it is
 * rejected without being decoded. */
#include "crypto/ed25519.h"

#include "crypto/ge25519.h"
#include "crypto/sc25519.h"
#include "crypto/sha512.h"
#include "crypto/wipe.h"

#include <string.h>

/* out = SHA-512(a || b || msg) mod L (b may be NULL). */
static void hash_to_scalar(uint8_t out[32], const uint8_t *a, const uint8_t *b, const uint8_t *msg,
                           size_t len)
{
    pv_sha512_ctx ctx;
    uint8_t h[PV_SHA512_LEN];
    pv_sha512_init(&ctx);
    pv_sha512_update(&ctx, a, 32);
    if (b)
        pv_sha512_update(&ctx, b, 32);
    if (len) /* msg may be NULL when empty */
        pv_sha512_update(&ctx, msg, len);
    pv_sha512_final(&ctx, h);
    pv_sc_reduce(out, h);
    pv_wipe(h, sizeof h);
}

/* h = SHA-512(seed), with the secret scalar in h[0..31] clamped. */
static void expand_seed(uint8_t h[64], const uint8_t seed[32])
{
    pv_sha512(h, seed, 32);
    h[0] &= 248;
    h[31] = (uint8_t)((h[31] & 127) | 64);
}

void pv_ed25519_public(uint8_t pub[32], const uint8_t seed[32])
{
    uint8_t h[64];
    pv_ge a;
    expand_seed(h, seed);
    pv_ge_scalarmult_base(&a, h);
    pv_ge_tobytes(pub, &a);
    pv_wipe(h, sizeof h);
    pv_wipe(&a, sizeof a);
}

void pv_ed25519_sign(uint8_t sig[64], const uint8_t seed[32], const uint8_t pub[32],
                     const uint8_t *msg, size_t len)
{
    uint8_t h[64], r[32], k[32], rs[64];
    pv_ge p;
    expand_seed(h, seed);
    hash_to_scalar(r, h + 32, NULL, msg, len); /* r = H(prefix || M) */
    pv_ge_scalarmult_base(&p, r);
    pv_ge_tobytes(rs, &p);                /* R = [r]B */
    hash_to_scalar(k, rs, pub, msg, len); /* k = H(R || A || M) */
    pv_sc_muladd(rs + 32, k, h, r);       /* S = (r + k * a) mod L */
    memcpy(sig, rs, 64);                  /* only now: sig may overlap msg */
    pv_wipe(h, sizeof h);
    pv_wipe(r, sizeof r);
    pv_wipe(&p, sizeof p);
}

int pv_ed25519_verify(const uint8_t sig[64], const uint8_t pub[32], const uint8_t *msg, size_t len)
{
    uint8_t k[32], chk[32];
    pv_ge a, q;
    if (!pv_sc_is_canonical(sig + 32))
        return -1;
    if (pv_ge_frombytes(&a, pub) != 0)
        return -1;
    hash_to_scalar(k, sig, pub, msg, len);
    /* [S]B - [k]A = [k](-A) + [S]B */
    pv_fe zero;
    pv_fe_set(zero, 0);
    pv_fe_sub(a.X, zero, a.X);
    pv_fe_sub(a.T, zero, a.T);
    pv_ge_double_scalarmult_vartime(&q, k, &a, sig + 32);
    pv_ge_tobytes(chk, &q);
    return pv_ct_equal(chk, sig, 32) ? 0 : -1;
}
