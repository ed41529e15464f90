#include "ledger_ed25519.h"

#include <stdio.h>
#include <string.h>

int pv_ledger_ed25519_key_id(EVP_PKEY *key, char out[PV_LEDGER_KEY_ID_LEN])
{
    uint8_t pub[32], h[32];
    size_t len = sizeof pub;
    unsigned hl = sizeof h;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519 ||
        !EVP_PKEY_get_raw_public_key(key, pub, &len) || len != 32 ||
        !EVP_Digest(pub, 32, h, &hl, EVP_sha256(), NULL))
        return -1;
    memcpy(out, "ed25519:", 8);
    for (int i = 0; i < 16; i++)
        snprintf(out + 8 + 2 * i, 3, "%02x", h[i]);
    return 0;
}

int pv_ledger_ed25519_sign(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t *sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && *sig_len >= 64 && EVP_DigestSignInit(md, NULL, NULL, NULL, ctx) == 1 &&
             EVP_DigestSign(md, sig, sig_len, hash, 32) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

int pv_ledger_ed25519_verify(void *ctx, const char *key_id, const uint8_t hash[32],
                             const uint8_t *sig, size_t sig_len)
{
    char mine[PV_LEDGER_KEY_ID_LEN];
    if (pv_ledger_ed25519_key_id(ctx, mine) != 0 || strcmp(mine, key_id) != 0 || sig_len != 64)
        return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, ctx) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, hash, 32) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}
