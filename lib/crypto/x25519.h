/* X25519 Diffie-Hellman (RFC 7748). Constant time in the scalar and the point. */
#ifndef PV_CRYPTO_X25519_H
#define PV_CRYPTO_X25519_H

#include <stdint.h>

#define PV_X25519_LEN 32

/* shared = X25519(scalar, point). Scalar is clamped internally. Returns 0, or -1 if the result
 * is all zeros (low-order point: the caller must abort the exchange); shared is written anyway. */
int pv_x25519(uint8_t shared[32], const uint8_t scalar[32], const uint8_t point[32]);

/* pub = X25519(scalar, 9). */
void pv_x25519_public(uint8_t pub[32], const uint8_t scalar[32]);

#endif
