/* ChaCha20 stream cipher, IETF variant (RFC 8439): 256-bit key, 96-bit nonce, 32-bit counter. */
#ifndef PV_CRYPTO_CHACHA20_H
#define PV_CRYPTO_CHACHA20_H

#include <stddef.h>
#include <stdint.h>

/* out = in XOR keystream(key, nonce) starting at block `counter`. out may equal in. */
void pv_chacha20_xor(uint8_t *out, const uint8_t *in, size_t len, const uint8_t key[32],
                     const uint8_t nonce[12], uint32_t counter);

#endif
