/* Differential fuzzing of X25519 against OpenSSL for arbitrary scalars and u-coordinates. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/x25519.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size != 64)
        return 0;
    uint8_t ours[32], theirs[32];
    size_t n = sizeof theirs;
    int r = pv_x25519(ours, data, data + 32);
    EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, data, 32);
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, data + 32, 32);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(priv, NULL);
    /* OpenSSL refuses an all-zero shared secret, which is exactly when we return -1. */
    int ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, pub) == 1 &&
             EVP_PKEY_derive(c, theirs, &n) == 1;
    if ((r == 0) != ok || (ok && memcmp(ours, theirs, 32) != 0))
        abort();
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
    return 0;
}
