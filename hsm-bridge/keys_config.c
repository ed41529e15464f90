/* Recipe + PINs -> keystore configuration (keys_config.h). */
#include "keys_config.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pin_source.h"

void pv_keys_at_rest_label(const pv_recipe *r, char out[PV_KEYS_AT_REST_MAX])
{
    if (r->keys.at_rest_key[0])
        snprintf(out, PV_KEYS_AT_REST_MAX, "%s", r->keys.at_rest_key);
    else
        snprintf(out, PV_KEYS_AT_REST_MAX, "%s%s", r->keys.master_key, PV_KEYS_AT_REST_SUFFIX);
}

int pv_keys_config_init(struct pv_keys_config *k, const pv_recipe *r, const char *module,
                        const char *pin_file, int dev, char *err, size_t err_len)
{
    memset(k, 0, sizeof *k);
    pv_keys_at_rest_label(r, k->at_rest);
    k->cfg.module = module;
    k->cfg.token_label = r->keys.token;
    k->cfg.master_label = r->keys.master_key;
    k->cfg.noise_label = r->keys.noise_static_key;
    k->cfg.signing_label = r->keys.image_signing_key;
    k->cfg.at_rest_label = k->at_rest;
    k->cfg.audit_label = r->keys.audit_key[0] ? r->keys.audit_key : NULL;
    if (pv_pin_read(pin_file, PV_PIN_ENV, dev ? PV_KEYS_DEV_PIN : NULL, "user PIN", k->pin,
                    sizeof k->pin, err, err_len) != 0)
        return -1;
    k->cfg.pin = k->pin;
    return 0;
}

void pv_keys_config_wipe(struct pv_keys_config *k)
{
    OPENSSL_cleanse(k->pin, sizeof k->pin);
}

int pv_keys_audit_key_id(pv_keystore *ks, char out[PV_LEDGER_KEY_ID_LEN])
{
    uint8_t pub[32];
    if (pv_keystore_audit_public(ks, pub) != 0)
        return -1;
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, sizeof pub);
    int rc = pv_ledger_ed25519_key_id(k, out);
    EVP_PKEY_free(k);
    return rc;
}

pv_keystore *pv_keys_open(const pv_recipe *r, const char *module, const char *pin_file, int dev,
                          unsigned which, char *err, size_t err_len, int *pin_unreadable)
{
    struct pv_keys_config k;
    if (pv_keys_config_init(&k, r, module, pin_file, dev, err, err_len) != 0) {
        *pin_unreadable = pin_file != NULL;
        return NULL;
    }
    struct pv_keystore_config c = {
        .module = k.cfg.module, .token_label = k.cfg.token_label, .pin = k.cfg.pin};
    if (which & PV_KEYS_MASTER)
        c.master_label = k.cfg.master_label;
    if (which & PV_KEYS_NOISE)
        c.noise_label = k.cfg.noise_label;
    if (which & PV_KEYS_SIGNING)
        c.signing_label = k.cfg.signing_label;
    if (which & PV_KEYS_AT_REST)
        c.at_rest_label = k.cfg.at_rest_label;
    if (which & PV_KEYS_AUDIT)
        c.audit_label = k.cfg.audit_label;
    pv_keystore *ks = pv_keystore_open(&c, err, err_len);
    pv_keys_config_wipe(&k);
    *pin_unreadable = 0;
    return ks;
}
