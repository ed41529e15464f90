/* Differential fuzzing of Ed25519 verification against OpenSSL: any public key, signature and
 * message must get the same verdict from both. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>

#include "crypto/ed25519.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ossl_verify(const uint8_t *sig, const uint8_t *pub, const uint8_t *msg, size_t len)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    if (!k)
        return -1;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestVerifyInit(m, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(m, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 96)
        return 0;
    const uint8_t *pub = data, *sig = data + 32, *msg = data + 96;
    size_t len = size - 96;
    if (pv_ed25519_verify(sig, pub, msg, len) != ossl_verify(sig, pub, msg, len))
        abort();
    return 0;
}
