/* pv_noise_provider on OpenSSL 3 EVP. Every call is self-contained (no cached global state);
 * any OpenSSL failure is reported as -1 and its error queue is cleared. */
#include "host/noise_provider_openssl.h"

#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static int done(int ok)
{
    if (!ok)
        ERR_clear_error();
    return ok ? 0 : -1;
}

static int ossl_dh(uint8_t shared[32], const uint8_t priv[32], const uint8_t pub[32])
{
    EVP_PKEY *sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
    EVP_PKEY_CTX *ctx = sk ? EVP_PKEY_CTX_new(sk, NULL) : NULL;
    size_t len = 32;
    uint8_t acc = 0;
    /* OpenSSL itself refuses an all-zero result; the explicit check below does not rely on it. */
    int ok = ctx && pk && EVP_PKEY_derive_init(ctx) == 1 &&
             EVP_PKEY_derive_set_peer_ex(ctx, pk, 0) == 1 &&
             EVP_PKEY_derive(ctx, shared, &len) == 1 && len == 32;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(sk);
    if (ok)
        for (unsigned i = 0; i < 32; i++)
            acc |= shared[i];
    else
        OPENSSL_cleanse(shared, 32);
    return done(ok && acc != 0);
}

static int ossl_dh_public(uint8_t pub[32], const uint8_t priv[32])
{
    EVP_PKEY *sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    size_t len = 32;
    int ok = sk && EVP_PKEY_get_raw_public_key(sk, pub, &len) == 1 && len == 32;
    EVP_PKEY_free(sk);
    return done(ok);
}

/* ChaChaPoly nonce for Noise (section 12.3): 32 zero bits, then n little-endian. */
static void nonce96(uint8_t out[12], uint64_t n)
{
    memset(out, 0, 4);
    for (unsigned i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(n >> (8 * i));
}

static int ossl_encrypt(uint8_t *ct, const uint8_t key[32], uint64_t n, const uint8_t *ad,
                        size_t ad_len, const uint8_t *pt, size_t len)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t nonce[12], dummy[16];
    int outl;
    nonce96(nonce, n);
    int ok = c && len <= INT_MAX && ad_len <= INT_MAX &&
             EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce) == 1 &&
             (ad_len == 0 || EVP_EncryptUpdate(c, NULL, &outl, ad, (int)ad_len) == 1) &&
             (len == 0 || EVP_EncryptUpdate(c, ct, &outl, pt, (int)len) == 1) &&
             EVP_EncryptFinal_ex(c, dummy, &outl) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, ct + len) == 1;
    EVP_CIPHER_CTX_free(c);
    return done(ok);
}

static int ossl_decrypt(uint8_t *pt, const uint8_t key[32], uint64_t n, const uint8_t *ad,
                        size_t ad_len, const uint8_t *ct, size_t len)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t nonce[12], tag[16], dummy[16];
    int outl;
    nonce96(nonce, n);
    memcpy(tag, ct + len, 16); /* before pt may overwrite ct */
    int ok = c && len <= INT_MAX && ad_len <= INT_MAX &&
             EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1 &&
             (ad_len == 0 || EVP_DecryptUpdate(c, NULL, &outl, ad, (int)ad_len) == 1) &&
             (len == 0 || EVP_DecryptUpdate(c, pt, &outl, ct, (int)len) == 1) &&
             EVP_DecryptFinal_ex(c, dummy, &outl) == 1;
    EVP_CIPHER_CTX_free(c);
    /* EVP writes plaintext before it checks the tag: never release it unauthenticated. */
    if (!ok && len)
        OPENSSL_cleanse(pt, len);
    return done(ok);
}

static int ossl_hash(uint8_t out[32], const void *a, size_t a_len, const void *b, size_t b_len)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int len = 0;
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             (a_len == 0 || EVP_DigestUpdate(c, a, a_len) == 1) &&
             (b_len == 0 || EVP_DigestUpdate(c, b, b_len) == 1) &&
             EVP_DigestFinal_ex(c, out, &len) == 1 && len == 32;
    EVP_MD_CTX_free(c);
    return done(ok);
}

static int ossl_hmac(uint8_t out[32], const uint8_t key[32], const void *a, size_t a_len,
                     const void *b, size_t b_len)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[2];
    size_t len = 0;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    int ok = c && EVP_MAC_init(c, key, 32, params) == 1 &&
             (a_len == 0 || EVP_MAC_update(c, a, a_len) == 1) &&
             (b_len == 0 || EVP_MAC_update(c, b, b_len) == 1) &&
             EVP_MAC_final(c, out, &len, 32) == 1 && len == 32;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    return done(ok);
}

const pv_noise_provider pv_noise_provider_openssl = {
    ossl_dh, ossl_dh_public, ossl_encrypt, ossl_decrypt, ossl_hash, ossl_hmac,
};
