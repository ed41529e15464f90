/* What the Noise layer needs from its cipher suite (25519_ChaChaPoly_SHA256): a constant table of
 * functions with no context, so the same handshake code runs on lib/crypto (device) and on OpenSSL
 * (host). Lengths are the suite's: DHLEN = HASHLEN = key = 32, tag = 16.
 * Every function returns 0 on success and -1 on failure. */
#ifndef PV_NOISE_PROVIDER_H
#define PV_NOISE_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#define PV_NOISE_DHLEN   32
#define PV_NOISE_HASHLEN 32
#define PV_NOISE_KEYLEN  32
#define PV_NOISE_TAGLEN  16

typedef struct pv_noise_provider {
    /* shared = X25519(priv, pub). -1 if the result is all zeros (low-order point) or on internal
     * failure; the caller must then abort the handshake. */
    int (*dh)(uint8_t shared[32], const uint8_t priv[32], const uint8_t pub[32]);
    /* pub = X25519(priv, 9). */
    int (*dh_public)(uint8_t pub[32], const uint8_t priv[32]);
    /* ChaCha20-Poly1305 under the Noise nonce n (96-bit nonce = 4 zero bytes || LE64(n)).
     * Writes len bytes of ciphertext then the 16-byte tag to ct; ct may equal pt (in place),
     * no other overlap. */
    int (*encrypt)(uint8_t *ct, const uint8_t key[32], uint64_t n, const uint8_t *ad, size_t ad_len,
                   const uint8_t *pt, size_t len);
    /* ct holds len bytes of ciphertext followed by the 16-byte tag. Writes len bytes of plaintext
     * only if the tag verifies; on -1 pt holds no plaintext (untouched or zeroed). pt may equal
     * ct. */
    int (*decrypt)(uint8_t *pt, const uint8_t key[32], uint64_t n, const uint8_t *ad, size_t ad_len,
                   const uint8_t *ct, size_t len);
    /* out = SHA256(a || b); either part may be empty (NULL, 0). out may alias a or b. */
    int (*hash)(uint8_t out[32], const void *a, size_t a_len, const void *b, size_t b_len);
    /* out = HMAC-SHA256(key, a || b), key of HASHLEN bytes (all Noise needs); out may alias key,
     * a or b. */
    int (*hmac)(uint8_t out[32], const uint8_t key[32], const void *a, size_t a_len, const void *b,
                size_t b_len);
} pv_noise_provider;

#endif
