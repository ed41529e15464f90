/* Internal: arithmetic modulo the edwards25519 group order L = 2^252 +
 * 27742317777372353535851937790883648493, on 32-byte little-endian scalars. Not a public API.
 * Constant time. */
#ifndef PV_CRYPTO_SC25519_H
#define PV_CRYPTO_SC25519_H

#include <stdint.h>

/* r = h mod L, for a 64-byte h (a SHA-512 digest). */
void pv_sc_reduce(uint8_t r[32], const uint8_t h[64]);
/* s = (a * b + c) mod L, for any 256-bit a, b, c. s may alias the inputs. */
void pv_sc_muladd(uint8_t s[32], const uint8_t a[32], const uint8_t b[32], const uint8_t c[32]);
/* 1 if s < L (the only encoding RFC 8032 accepts for S), else 0. */
int pv_sc_is_canonical(const uint8_t s[32]);

#endif
