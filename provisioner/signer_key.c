#include "signer_key.h"

#include "../hsm-bridge/file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../hsm-bridge/p11.h"
#include "../hsm-bridge/pin_source.h"
#include "crypto/wipe.h"

struct pv_signer_key {
    EVP_PKEY *pkey; /* PEM */
    pv_p11 *p11;    /* or token */
    pv_p11_obj priv;
    int has_private;
    uint8_t pub[32];
    char name[160];
};

static const char *key_type_name(int id)
{
    switch (id) {
    case EVP_PKEY_RSA:
        return "an RSA key";
    case EVP_PKEY_EC:
        return "an ECDSA key";
    case EVP_PKEY_ED448:
        return "an Ed448 key";
    case EVP_PKEY_X25519:
        return "an X25519 key";
    default:
        return "not an Ed25519 key";
    }
}

static int open_pem(pv_signer_key *k, const char *path, int need_private, char *err, size_t err_len)
{
    snprintf(k->name, sizeof k->name, "%s", path);
    char why[160];
    FILE *f = pv_file_fopen_regular(path, why, sizeof why);
    if (!f) {
        const char *w = strncmp(why, "cannot open: ", 13) == 0 ? why + 13 : why;
        snprintf(err, err_len, "%s: cannot open the key file: %s", path, w);
        return -1;
    }
    k->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (k->pkey) {
        k->has_private = 1;
    } else if (!need_private) {
        rewind(f);
        k->pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    }
    fclose(f);
    ERR_clear_error();
    if (!k->pkey) {
        snprintf(err, err_len,
                 "%s: no PEM %s found (create one with: openssl genpkey -algorithm ed25519 "
                 "-out KEY.pem)",
                 path, need_private ? "private key" : "private or public key");
        return -1;
    }
    if (EVP_PKEY_id(k->pkey) != EVP_PKEY_ED25519) {
        snprintf(err, err_len, "%s: %s; image signing keys are Ed25519", path,
                 key_type_name(EVP_PKEY_id(k->pkey)));
        return -1;
    }
    size_t n = 32;
    if (EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &n) != 1 || n != 32) {
        snprintf(err, err_len, "%s: cannot read the Ed25519 public key", path);
        return -1;
    }
    return 0;
}

static int open_token(pv_signer_key *k, const struct pv_key_source *src, int need_private,
                      char *err, size_t err_len)
{
    if (!src->token || !src->key_label) {
        snprintf(err, err_len, "--pkcs11 needs --token LABEL and --key-label LABEL");
        return -1;
    }
    snprintf(k->name, sizeof k->name, "pkcs11 token '%s' key '%s'", src->token, src->key_label);
    /* signing logs in; verifying reads only the public key, logging in when a PIN is given */
    char pin[PV_PIN_MAX], why[640];
    int have_pin = pv_pin_read(src->pin_file, PV_PIN_ENV, NULL, "user PIN", pin, sizeof pin, why,
                               sizeof why) == 0;
    if (!have_pin && (need_private || src->pin_file)) {
        snprintf(err, err_len, "%s: %s", k->name, why);
        return -1;
    }
    k->p11 = pv_p11_open(src->module, src->token, have_pin ? pin : NULL, err, err_len);
    pv_wipe(pin, sizeof pin);
    if (!k->p11)
        return -1;
    pv_p11_obj pub;
    if (pv_p11_find_key(k->p11, PV_P11_PUBLIC_KEY, src->key_label, &pub, err, err_len) != 0 ||
        pv_p11_ed25519_public(k->p11, pub, k->pub, err, err_len) != 0)
        return -1;
    if (need_private) {
        if (pv_p11_find_key(k->p11, PV_P11_PRIVATE_KEY, src->key_label, &k->priv, err, err_len) !=
            0)
            return -1;
        k->has_private = 1;
    }
    return 0;
}

pv_signer_key *pv_signer_key_open(const struct pv_key_source *src, int need_private, char *err,
                                  size_t err_len)
{
    pv_signer_key *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    int rc;
    if (src->pkcs11)
        rc = open_token(k, src, need_private, err, err_len);
    else if (src->pem)
        rc = open_pem(k, src->pem, need_private, err, err_len);
    else {
        snprintf(err, err_len, "no key: give --key KEY.pem or --pkcs11 --token T --key-label K");
        rc = -1;
    }
    if (rc != 0) {
        pv_signer_key_close(k);
        return NULL;
    }
    return k;
}

void pv_signer_key_close(pv_signer_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    pv_p11_close(k->p11);
    free(k);
}

void pv_signer_key_public(const pv_signer_key *k, uint8_t pub[32])
{
    memcpy(pub, k->pub, 32);
}

const char *pv_signer_key_name(const pv_signer_key *k)
{
    return k->name;
}

int pv_signer_key_sign(pv_signer_key *k, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                       size_t err_len)
{
    if (!k->has_private) {
        snprintf(err, err_len, "%s: a public key cannot sign", k->name);
        return -1;
    }
    if (k->p11)
        return pv_p11_sign_eddsa(k->p11, k->priv, msg, len, sig, err, err_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 64;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == 64;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        snprintf(err, err_len, "%s: Ed25519 signing failed (OpenSSL)", k->name);
        ERR_clear_error();
        return -1;
    }
    return 0;
}
