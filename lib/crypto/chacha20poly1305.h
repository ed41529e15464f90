/* ChaCha20-Poly1305 AEAD (RFC 8439 section 2.8). 96-bit nonce, 128-bit tag. */
#ifndef PV_CRYPTO_CHACHA20POLY1305_H
#define PV_CRYPTO_CHACHA20POLY1305_H

#include <stddef.h>
#include <stdint.h>

#define PV_AEAD_KEY_LEN   32
#define PV_AEAD_NONCE_LEN 12
#define PV_AEAD_TAG_LEN   16

/* ct (len bytes) and tag from pt. ct may equal pt (in place). */
void pv_aead_encrypt(uint8_t *ct, uint8_t tag[16], const uint8_t key[32], const uint8_t nonce[12],
                     const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t len);

/* Checks the tag first (constant time), then decrypts. Returns 0 on success; on a bad tag returns
 * -1 and leaves pt untouched (no unauthenticated plaintext is released). pt may equal ct. */
int pv_aead_decrypt(uint8_t *pt, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *ct, size_t len, const uint8_t tag[16]);

#endif
