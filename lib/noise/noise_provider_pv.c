/* pv_noise_provider on lib/crypto. */
#include "noise/noise_provider_pv.h"

#include <string.h>

#include "crypto/chacha20poly1305.h"
#include "crypto/hmac_sha256.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"

static int pv_dh_public(uint8_t pub[32], const uint8_t priv[32])
{
    pv_x25519_public(pub, priv);
    return 0;
}

/* ChaChaPoly nonce for Noise (section 12.3): 32 zero bits, then n little-endian. */
static void nonce96(uint8_t out[12], uint64_t n)
{
    memset(out, 0, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(out + 4, &n, 8); /* the little-endian bytes of n as they are */
#else
    for (unsigned i = 0; i < 8; i++, n >>= 8)
        out[4 + i] = (uint8_t)n;
#endif
}

static int pv_encrypt(uint8_t *ct, const uint8_t key[32], uint64_t n, const uint8_t *ad,
                      size_t ad_len, const uint8_t *pt, size_t len)
{
    uint8_t nonce[12];
    nonce96(nonce, n);
    pv_aead_encrypt(ct, ct + len, key, nonce, ad, ad_len, pt, len);
    return 0;
}

static int pv_decrypt(uint8_t *pt, const uint8_t key[32], uint64_t n, const uint8_t *ad,
                      size_t ad_len, const uint8_t *ct, size_t len)
{
    uint8_t nonce[12];
    nonce96(nonce, n);
    return pv_aead_decrypt(pt, key, nonce, ad, ad_len, ct, len, ct + len);
}

/* pv_sha256_update accepts (NULL, 0), so empty parts need no special case. */
static int pv_hash(uint8_t out[32], const void *a, size_t a_len, const void *b, size_t b_len)
{
    pv_sha256_ctx c;
    pv_sha256_init(&c);
    pv_sha256_update(&c, a, a_len);
    pv_sha256_update(&c, b, b_len);
    pv_sha256_final(&c, out); /* also wipes c */
    return 0;
}

static int pv_hmac(uint8_t out[32], const uint8_t key[32], const void *a, size_t a_len,
                   const void *b, size_t b_len)
{
    pv_hmac_sha256_ctx c;
    pv_hmac_sha256_init(&c, key, 32);
    pv_hmac_sha256_update(&c, a, a_len);
    pv_hmac_sha256_update(&c, b, b_len);
    pv_hmac_sha256_final(&c, out); /* also wipes c */
    return 0;
}

const pv_noise_provider pv_noise_provider_pv = {
    pv_x25519, /* already 0 / -1 on an all-zero result */
    pv_dh_public, pv_encrypt, pv_decrypt, pv_hash, pv_hmac,
};
