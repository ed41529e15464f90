#include "slot_sign.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/pem.h>

static int fill_pub(struct test_slot_key *k)
{
    size_t n = sizeof k->pub;
    if (!k->k || EVP_PKEY_get_raw_public_key(k->k, k->pub, &n) != 1 || n != 32) {
        EVP_PKEY_free(k->k);
        k->k = NULL;
        return -1;
    }
    return 0;
}

int test_slot_key_raw(struct test_slot_key *k, const uint8_t priv[32])
{
    k->k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    return fill_pub(k);
}

int test_slot_key_pem(struct test_slot_key *k, const char *path)
{
    FILE *f = fopen(path, "r");
    k->k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return fill_pub(k);
}

void test_slot_key_free(struct test_slot_key *k)
{
    EVP_PKEY_free(k->k);
    k->k = NULL;
}

int test_slot_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                   size_t err_len)
{
    const struct test_slot_key *k = ctx;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = 64;
    int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k->k) == 1 &&
             EVP_DigestSign(c, sig, &n, msg, len) == 1 && n == 64;
    EVP_MD_CTX_free(c);
    if (!ok)
        snprintf(err, err_len, "test slot key: OpenSSL Ed25519 signing failed");
    return ok ? 0 : -1;
}

void test_slot_encode(uint8_t out[PV_KEYSLOT_LEN], const pv_keyslot *ks,
                      const struct test_slot_key *k)
{
    uint8_t tbs[PV_KEYSLOT_TBS_LEN], sig[64];
    char err[128];
    pv_keyslot_tbs(tbs, ks);
    if (test_slot_sign((void *)(uintptr_t)k, tbs, sizeof tbs, sig, err, sizeof err) != 0)
        abort();
    pv_keyslot_encode(out, ks, sig);
}
