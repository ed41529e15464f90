/* The trusted side's keystore over PKCS#11 (keystore.h): open the token, find the recipe's keys,
 * derive device PSKs in the token, open the sealed Noise static key, sign audit entries. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "keystore_internal.h"

#define INIT_HINT "run `provision keys init --recipe RECIPE` to create the recipe's keys"

int pv_ks_fail(pv_keystore *ks, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ks->err, sizeof ks->err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *pv_keystore_error(const pv_keystore *ks)
{
    return ks ? ks->err : "keystore: not open";
}

static void copy_label(char dst[PV_KS_LABEL_MAX], const char *src)
{
    snprintf(dst, PV_KS_LABEL_MAX, "%s", src ? src : "");
}

/* The one object of class cls labelled label, or an error saying it is missing and what to do. */
static int find_one(pv_keystore *ks, enum pv_p11_class cls, const char *label, const char *what,
                    pv_p11_obj *out)
{
    char err[256];
    unsigned n = 0;
    if (pv_p11_count(ks->p, cls, label, &n, err, sizeof err) != 0)
        return pv_ks_fail(ks, "keystore: token '%s': %s", ks->token, err);
    if (n == 0)
        return pv_ks_fail(ks, "keystore: token '%s' has no %s labelled '%s' (%s)", ks->token, what,
                          label, INIT_HINT);
    if (n > 1)
        return pv_ks_fail(ks,
                          "keystore: token '%s' has %u objects for the %s labelled '%s'; labels "
                          "must be unique (delete the extra ones, or `provision keys init "
                          "--force`)",
                          ks->token, n, what, label);
    if (pv_p11_find_key(ks->p, cls, label, out, err, sizeof err) != 0)
        return pv_ks_fail(ks, "keystore: %s", err);
    if (cls != PV_P11_SECRET_KEY && cls != PV_P11_PRIVATE_KEY)
        return 0;
    /* A key that could leave the token is refused: whoever read it could key or impersonate
     * every device. */
    struct pv_p11_key_flags fl;
    if (pv_p11_key_flags(ks->p, *out, &fl, err, sizeof err) != 0)
        return pv_ks_fail(ks, "keystore: %s '%s' on token '%s': %s", what, label, ks->token, err);
    if (fl.sensitive != 1 || fl.extractable != 0)
        return pv_ks_fail(ks,
                          "keystore: the %s '%s' on token '%s' is %s; refusing to use a key that "
                          "can leave the token (recreate it with `provision keys init --force`, "
                          "or generate it non-extractable on the HSM)",
                          what, label, ks->token,
                          fl.extractable != 0 ? "extractable" : "not sensitive");
    return 0;
}

/* Every key the configuration names, looked up now, so a missing one is refused before any
 * device is touched. */
static int find_keys(pv_keystore *ks)
{
    if (ks->master[0] &&
        find_one(ks, PV_P11_SECRET_KEY, ks->master, "product master key", &ks->master_h) != 0)
        return -1;
    if (ks->noise[0] && (find_one(ks, PV_P11_SECRET_KEY, ks->noise,
                                  "Noise static key's sealing key (AES)", &ks->noise_key_h) != 0 ||
                         find_one(ks, PV_P11_DATA, ks->noise,
                                  "sealed Noise static key (data object)", &ks->noise_data_h) != 0))
        return -1;
    if (ks->signing[0] && (find_one(ks, PV_P11_PUBLIC_KEY, ks->signing, "image-signing public key",
                                    &ks->signing_pub_h) != 0 ||
                           find_one(ks, PV_P11_PRIVATE_KEY, ks->signing,
                                    "image-signing private key", &ks->signing_priv_h) != 0))
        return -1;
    if (ks->at_rest[0] &&
        find_one(ks, PV_P11_SECRET_KEY, ks->at_rest, "at-rest key (AES)", &ks->at_rest_h) != 0)
        return -1;
    if (ks->audit[0] &&
        (find_one(ks, PV_P11_PRIVATE_KEY, ks->audit, "audit private key", &ks->audit_priv_h) != 0 ||
         find_one(ks, PV_P11_PUBLIC_KEY, ks->audit, "audit public key", &ks->audit_pub_h) != 0))
        return -1;
    return 0;
}

pv_keystore *pv_keystore_open(const struct pv_keystore_config *cfg, char *err, size_t err_len)
{
    if (!cfg || !cfg->token_label || !cfg->token_label[0]) {
        snprintf(err, err_len, "keystore: no token label (recipe keys.token)");
        return NULL;
    }
    if (!cfg->pin || !cfg->pin[0]) {
        snprintf(err, err_len,
                 "keystore: no user PIN for token '%s' (give --pin-file FILE or set "
                 "PROVISION_PIN)",
                 cfg->token_label);
        return NULL;
    }
    pv_keystore *ks = calloc(1, sizeof *ks);
    if (!ks) {
        snprintf(err, err_len, "keystore: out of memory");
        return NULL;
    }
    copy_label(ks->token, cfg->token_label);
    copy_label(ks->master, cfg->master_label);
    copy_label(ks->noise, cfg->noise_label);
    copy_label(ks->signing, cfg->signing_label);
    copy_label(ks->at_rest, cfg->at_rest_label);
    copy_label(ks->audit, cfg->audit_label);
    char perr[384];
    ks->p = pv_p11_open(cfg->module, cfg->token_label, cfg->pin, perr, sizeof perr);
    if (!ks->p) {
        const char *hint = "";
        if (strstr(perr, "CKR_PIN_INCORRECT"))
            hint = " (wrong user PIN: check --pin-file / PROVISION_PIN)";
        else if (strstr(perr, "CKR_PIN_LOCKED"))
            hint = " (too many wrong PINs: the token's SO must unlock it)";
        else if (strstr(perr, "no token labelled")) {
            /* p11's own hint (softhsm2-util) gives way to the one for the recipe's keys */
            char *h = strstr(perr, "; create one with");
            if (h)
                strcpy(h, ")");
            hint = "; " INIT_HINT " and its token";
        }
        snprintf(err, err_len, "keystore: %s%s", perr, hint);
        free(ks);
        return NULL;
    }
    if (find_keys(ks) != 0) {
        snprintf(err, err_len, "%s", ks->err);
        pv_keystore_close(ks);
        return NULL;
    }
    return ks;
}

void pv_keystore_close(pv_keystore *ks)
{
    if (!ks)
        return;
    pv_p11_close(ks->p);
    OPENSSL_cleanse(ks, sizeof *ks);
    free(ks);
}

static int need(pv_keystore *ks, const char *label, const char *what, const char *field)
{
    if (label[0])
        return 0;
    return pv_ks_fail(ks, "keystore: no %s configured for token '%s' (recipe %s)", what, ks->token,
                      field);
}

int pv_keystore_device_psk(pv_keystore *ks, const uint8_t uid[12], uint8_t psk[32])
{
    if (need(ks, ks->master, "product master key", "keys.master_key") != 0)
        return -1;
    uint8_t msg[sizeof PV_KS_PSK_PREFIX - 1 + 12];
    memcpy(msg, PV_KS_PSK_PREFIX, sizeof PV_KS_PSK_PREFIX - 1);
    memcpy(msg + sizeof PV_KS_PSK_PREFIX - 1, uid, 12);
    char err[256];
    if (pv_p11_hmac_sha256(ks->p, ks->master_h, msg, sizeof msg, psk, err, sizeof err) != 0)
        return pv_ks_fail(ks, "keystore: PSK from master key '%s' on token '%s': %s", ks->master,
                          ks->token, err);
    return 0;
}

int pv_ks_x25519_public(const uint8_t priv[32], uint8_t pub[32])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    size_t n = 32;
    int ok = k && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32;
    EVP_PKEY_free(k); /* frees (and clears) OpenSSL's copy of the private key */
    return ok ? 0 : -1;
}

int pv_keystore_noise_static(pv_keystore *ks, uint8_t priv[32], uint8_t pub[32])
{
    if (need(ks, ks->noise, "Noise static key", "keys.noise_static_key") != 0)
        return -1;
    uint8_t blob[PV_KS_NOISE_BLOB_LEN + 1];
    size_t len = 0;
    char err[256];
    if (pv_p11_read_value(ks->p, ks->noise_data_h, blob, sizeof blob, &len, err, sizeof err) != 0)
        return pv_ks_fail(ks, "keystore: sealed Noise static key '%s' on token '%s': %s", ks->noise,
                          ks->token, err);
    if (len != PV_KS_NOISE_BLOB_LEN || memcmp(blob, PV_KS_NOISE_MAGIC, 4) != 0 ||
        blob[4] != PV_KS_NOISE_VERSION)
        return pv_ks_fail(ks,
                          "keystore: data object '%s' on token '%s' is not a sealed Noise static "
                          "key (%zu bytes, version %u; want %u bytes starting \"%s\" version %u)",
                          ks->noise, ks->token, len, len > 4 ? blob[4] : 0,
                          (unsigned)PV_KS_NOISE_BLOB_LEN, PV_KS_NOISE_MAGIC, PV_KS_NOISE_VERSION);
    /* AAD = header || label: the blob only opens as the key it was sealed for. */
    uint8_t aad[PV_KS_NOISE_HDR_LEN + PV_KS_LABEL_MAX];
    size_t ll = strlen(ks->noise);
    memcpy(aad, blob, PV_KS_NOISE_HDR_LEN);
    memcpy(aad + PV_KS_NOISE_HDR_LEN, ks->noise, ll);
    const uint8_t *nonce = blob + PV_KS_NOISE_HDR_LEN, *ct = nonce + 12, *tag = ct + 32;
    if (pv_p11_aes_gcm_decrypt(ks->p, ks->noise_key_h, nonce, aad, PV_KS_NOISE_HDR_LEN + ll, ct, 32,
                               tag, priv, err, sizeof err) != 0)
        return pv_ks_fail(ks,
                          "keystore: cannot open the sealed Noise static key '%s' on token '%s' "
                          "(%s): the data object or its AES key was replaced; recreate both with "
                          "`provision keys init --force`",
                          ks->noise, ks->token, err);
    if (pv_ks_x25519_public(priv, pub) != 0) {
        OPENSSL_cleanse(priv, 32);
        return pv_ks_fail(ks, "keystore: OpenSSL X25519 refused the Noise static key");
    }
    return 0;
}

int pv_keystore_signer_public(pv_keystore *ks, uint8_t pub[32])
{
    if (need(ks, ks->signing, "image-signing key", "keys.image_signing_key") != 0)
        return -1;
    char err[256];
    if (pv_p11_ed25519_public(ks->p, ks->signing_pub_h, pub, err, sizeof err) != 0)
        return pv_ks_fail(ks, "keystore: image-signing key '%s' on token '%s': %s", ks->signing,
                          ks->token, err);
    return 0;
}

int pv_keystore_signer_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                            size_t err_len)
{
    pv_keystore *ks = ctx;
    if (need(ks, ks->signing, "image-signing key", "keys.image_signing_key") != 0) {
        snprintf(err, err_len, "%s", ks->err);
        return -1;
    }
    char e[256];
    if (pv_p11_sign_eddsa(ks->p, ks->signing_priv_h, msg, len, sig, e, sizeof e) != 0) {
        pv_ks_fail(ks, "keystore: image-signing key '%s' on token '%s': %s", ks->signing, ks->token,
                   e);
        snprintf(err, err_len, "%s", ks->err);
        return -1;
    }
    return 0;
}

int pv_keystore_audit_sign(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t *sig_len)
{
    pv_keystore *ks = ctx;
    if (need(ks, ks->audit, "audit key", "keys.audit_key") != 0)
        return -1;
    if (*sig_len < 64)
        return pv_ks_fail(ks, "keystore: audit signature buffer of %zu bytes; need 64", *sig_len);
    char err[256];
    if (pv_p11_sign_eddsa(ks->p, ks->audit_priv_h, hash, 32, sig, err, sizeof err) != 0)
        return pv_ks_fail(ks, "keystore: audit key '%s' on token '%s': %s", ks->audit, ks->token,
                          err);
    *sig_len = 64;
    return 0;
}

int pv_keystore_audit_public(pv_keystore *ks, uint8_t pub[32])
{
    if (need(ks, ks->audit, "audit key", "keys.audit_key") != 0)
        return -1;
    char err[256];
    if (pv_p11_ed25519_public(ks->p, ks->audit_pub_h, pub, err, sizeof err) != 0)
        return pv_ks_fail(ks, "keystore: audit key '%s' on token '%s': %s", ks->audit, ks->token,
                          err);
    return 0;
}
