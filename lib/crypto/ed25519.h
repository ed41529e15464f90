/* Ed25519 signatures (RFC 8032, pure Ed25519). Verify is what devices need; sign serves the host
 * tools and the tests. */
#ifndef PV_CRYPTO_ED25519_H
#define PV_CRYPTO_ED25519_H

#include <stddef.h>
#include <stdint.h>

#define PV_ED25519_SEED_LEN 32
#define PV_ED25519_PUB_LEN  32
#define PV_ED25519_SIG_LEN  64

void pv_ed25519_public(uint8_t pub[32], const uint8_t seed[32]);
void pv_ed25519_sign(uint8_t sig[64], const uint8_t seed[32], const uint8_t pub[32],
                     const uint8_t *msg, size_t len);
/* Returns 0 if sig is a valid signature of msg under pub, else -1. Rejects S >= L and
 * non-canonical or undecodable encodings of A and R. */
int pv_ed25519_verify(const uint8_t sig[64], const uint8_t pub[32], const uint8_t *msg, size_t len);

#endif
