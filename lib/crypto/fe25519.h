/* Internal: arithmetic in GF(2^255 - 19), shared by X25519 and Ed25519. Not a public API.
 * An element is 8 little-endian 32-bit limbs holding any value in [0, 2^256) (lazily reduced);
 * only pv_fe_tobytes produces the canonical representative. Outputs may alias inputs. Every
 * function runs in time independent of the values. */
#ifndef PV_CRYPTO_FE25519_H
#define PV_CRYPTO_FE25519_H

#include <stdint.h>

typedef uint32_t pv_fe[8];

void pv_fe_frombytes(pv_fe r, const uint8_t s[32]); /* ignores bit 255, as RFC 7748 asks */
void pv_fe_tobytes(uint8_t s[32], const pv_fe a);   /* canonical: a mod p */
void pv_fe_set(pv_fe r, uint32_t v);
void pv_fe_copy(pv_fe r, const pv_fe a);
void pv_fe_add(pv_fe r, const pv_fe a, const pv_fe b);
void pv_fe_sub(pv_fe r, const pv_fe a, const pv_fe b);
void pv_fe_mul(pv_fe r, const pv_fe a, const pv_fe b);
void pv_fe_sq(pv_fe r, const pv_fe a);
void pv_fe_mul_small(pv_fe r, const pv_fe a, uint32_t b);
void pv_fe_inv(pv_fe r, const pv_fe a);                /* a^(p-2); 0 maps to 0 */
void pv_fe_pow22523(pv_fe r, const pv_fe a);           /* a^((p-5)/8), for square roots */
void pv_fe_cmov(pv_fe r, const pv_fe a, uint32_t bit); /* r = a iff bit == 1 */
int pv_fe_iszero(const pv_fe a);                       /* 1 if a == 0 (mod p) */
int pv_fe_isneg(const pv_fe a); /* low bit of the canonical value (RFC 8032 "sign") */

#endif
