/* Internal: the edwards25519 group (RFC 8032 section 5.1), points in extended coordinates
 * (X : Y : Z : T) with x = X/Z, y = Y/Z, x*y = T/Z. Not a public API. */
#ifndef PV_CRYPTO_GE25519_H
#define PV_CRYPTO_GE25519_H

#include <stdint.h>

#include "crypto/fe25519.h"

typedef struct {
    pv_fe X, Y, Z, T;
} pv_ge;

/* Decode an RFC 8032 point encoding: 0, or -1 if y >= p, the point is not on the curve, or x = 0
 * with the sign bit set. Variable time: for public data only. */
int pv_ge_frombytes(pv_ge *p, const uint8_t s[32]);
/* Canonical encoding. Constant time. */
void pv_ge_tobytes(uint8_t s[32], const pv_ge *p);
/* r = s * B for s < 2^255 (a clamped secret scalar, or one reduced mod L). Constant time in s. */
void pv_ge_scalarmult_base(pv_ge *r, const uint8_t s[32]);
/* r = a * A + b * B for a, b < 2^255. Variable time: for public scalars and points only
 * (verification). */
void pv_ge_double_scalarmult_vartime(pv_ge *r, const uint8_t a[32], const pv_ge *A,
                                     const uint8_t b[32]);

#endif
