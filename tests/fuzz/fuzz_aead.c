/* Differential fuzzing of ChaCha20-Poly1305 decryption against OpenSSL: for any key, nonce, AD,
 * ciphertext and tag, both must agree on accept/reject and, on accept, on the plaintext. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/chacha20poly1305.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ossl_open(uint8_t *pt, const uint8_t *key, const uint8_t *nonce, const uint8_t *ad,
                     size_t ad_len, const uint8_t *ct, size_t len, const uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, ok = c && EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce) &&
                       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(uintptr_t)tag) &&
                       EVP_DecryptUpdate(c, NULL, &outl, ad, (int)ad_len) &&
                       EVP_DecryptUpdate(c, pt, &outl, ct, (int)len) &&
                       EVP_DecryptFinal_ex(c, pt + outl, &outl);
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* key(32) nonce(12) tag(16) adlen(1) ad ct */
    if (size < 61)
        return 0;
    const uint8_t *key = data, *nonce = data + 32, *tag = data + 44;
    size_t ad_len = data[60];
    if (size < 61 + ad_len)
        return 0;
    const uint8_t *ad = data + 61, *ct = ad + ad_len;
    size_t len = size - 61 - ad_len;
    uint8_t *a = malloc(len + 1), *b = malloc(len + 1);
    int ra = pv_aead_decrypt(a, key, nonce, ad, ad_len, ct, len, tag);
    int rb = ossl_open(b, key, nonce, ad, ad_len, ct, len, tag);
    if (ra != rb || (ra == 0 && memcmp(a, b, len) != 0))
        abort();
    /* Round trip: what we seal under these inputs, both open. */
    uint8_t t2[16];
    pv_aead_encrypt(a, t2, key, nonce, ad, ad_len, ct, len);
    if (ossl_open(b, key, nonce, ad, ad_len, a, len, t2) != 0 || memcmp(b, ct, len) != 0)
        abort();
    free(a);
    free(b);
    return 0;
}
