/* `provision keys init`: create the token (if missing) and every key a recipe names
 * (keystore.h, pv_keystore_init_keys). All or nothing: existing keys are refused before anything
 * is created, and keys created by a run that then fails are destroyed again. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "keystore_internal.h"
#include "pin_source.h"

/* One object init creates: the class and label it is found by. */
struct planned {
    enum pv_p11_class cls;
    const char *label;
    const char *what;
};

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_config(const struct pv_keystore_config *cfg, char *err, size_t err_len)
{
    const char *names[5] = {cfg->master_label, cfg->noise_label, cfg->signing_label,
                            cfg->at_rest_label, cfg->audit_label};
    const char *fields[5] = {"keys.master_key", "keys.noise_static_key", "keys.image_signing_key",
                             "the at-rest key", "keys.audit_key"};
    if (!cfg->token_label || !cfg->token_label[0])
        return fail(err, err_len, "keystore: no token label (recipe keys.token)");
    if (!cfg->pin || !cfg->pin[0])
        return fail(err, err_len,
                    "keystore: no user PIN for token '%s' (give --pin-file FILE or set "
                    "$" PV_PIN_ENV ")",
                    cfg->token_label);
    for (int i = 0; i < 3; i++)
        if (!names[i] || !names[i][0])
            return fail(err, err_len, "keystore: no label for %s", fields[i]);
    for (int i = 0; i < 5; i++) {
        if (names[i] && strlen(names[i]) >= PV_KS_LABEL_MAX)
            return fail(err, err_len, "keystore: label '%s' (%s) is too long", names[i], fields[i]);
        for (int j = 0; j < i; j++)
            if (names[i] && names[i][0] && names[j] && strcmp(names[i], names[j]) == 0)
                return fail(err, err_len,
                            "keystore: label '%s' is used for both %s and %s; every key needs "
                            "its own label",
                            names[i], fields[j], fields[i]);
    }
    return 0;
}

/* Creates the recipe's objects; created[] collects handles to undo on failure. */
static int create_all(pv_p11 *p, const struct pv_keystore_config *cfg, pv_p11_obj *created,
                      unsigned *ncreated, char *err, size_t err_len)
{
    pv_p11_obj h, h2;
    if (pv_p11_generate_hmac_key(p, cfg->master_label, &h, err, err_len) != 0)
        return -1;
    created[(*ncreated)++] = h;

    if (pv_p11_generate_aes_key(p, cfg->noise_label, &h, err, err_len) != 0)
        return -1;
    created[(*ncreated)++] = h;
    uint8_t priv[32], blob[PV_KS_NOISE_BLOB_LEN];
    int rc = RAND_priv_bytes(priv, sizeof priv) == 1 ? 0 : -1;
    if (rc != 0)
        snprintf(err, err_len, "keystore: OpenSSL RAND_priv_bytes failed");
    else
        rc = pv_ks_noise_seal(p, h, cfg->noise_label, priv, blob, err, err_len);
    OPENSSL_cleanse(priv, sizeof priv);
    if (rc != 0 ||
        pv_p11_create_data(p, cfg->noise_label, blob, sizeof blob, &h, err, err_len) != 0)
        return -1;
    created[(*ncreated)++] = h;

    if (pv_p11_generate_ed25519(p, cfg->signing_label, &h, &h2, err, err_len) != 0)
        return -1;
    created[(*ncreated)++] = h;
    created[(*ncreated)++] = h2;

    if (cfg->at_rest_label && cfg->at_rest_label[0]) {
        if (pv_p11_generate_aes_key(p, cfg->at_rest_label, &h, err, err_len) != 0)
            return -1;
        created[(*ncreated)++] = h;
    }
    if (cfg->audit_label && cfg->audit_label[0]) {
        if (pv_p11_generate_ed25519(p, cfg->audit_label, &h, &h2, err, err_len) != 0)
            return -1;
        created[(*ncreated)++] = h;
        created[(*ncreated)++] = h2;
    }
    return 0;
}

int pv_keystore_init_keys(const struct pv_keystore_config *cfg, const char *so_pin, int force,
                          char *err, size_t err_len)
{
    if (check_config(cfg, err, err_len) != 0)
        return -1;
    char perr[384];
    int made =
        pv_p11_init_token(cfg->module, cfg->token_label, so_pin, cfg->pin, perr, sizeof perr);
    if (made < 0) {
        if (!so_pin && strstr(perr, "does not exist"))
            snprintf(err, err_len,
                     "keystore: token '%s' does not exist; give --so-pin-file FILE (or set "
                     "$" PV_SO_PIN_ENV ") to create it",
                     cfg->token_label);
        else
            snprintf(err, err_len, "keystore: %s", perr);
        return -1;
    }
    pv_p11 *p = pv_p11_open(cfg->module, cfg->token_label, cfg->pin, perr, sizeof perr);
    if (!p) {
        snprintf(err, err_len, "keystore: %s%s", perr,
                 strstr(perr, "CKR_PIN_INCORRECT")
                     ? " (wrong user PIN: check --pin-file / $" PV_PIN_ENV ")"
                     : "");
        return -1;
    }
    const struct planned plan[] = {
        {PV_P11_SECRET_KEY, cfg->master_label, "product master key"},
        {PV_P11_SECRET_KEY, cfg->noise_label, "Noise static key's sealing key"},
        {PV_P11_DATA, cfg->noise_label, "sealed Noise static key"},
        {PV_P11_PUBLIC_KEY, cfg->signing_label, "image-signing public key"},
        {PV_P11_PRIVATE_KEY, cfg->signing_label, "image-signing private key"},
        {PV_P11_SECRET_KEY, cfg->at_rest_label, "at-rest key"},
        {PV_P11_PUBLIC_KEY, cfg->audit_label, "audit public key"},
        {PV_P11_PRIVATE_KEY, cfg->audit_label, "audit private key"},
    };
    int rc = 0;
    /* Nothing exists yet, or --force: then the old objects go first. */
    for (size_t i = 0; rc == 0 && i < sizeof plan / sizeof plan[0]; i++) {
        if (!plan[i].label || !plan[i].label[0])
            continue;
        unsigned n = 0;
        if (pv_p11_count(p, plan[i].cls, plan[i].label, &n, perr, sizeof perr) != 0)
            rc = fail(err, err_len, "keystore: %s", perr);
        else if (n > 0 && !force) {
            snprintf(err, err_len,
                     "keystore: token '%s' already has the %s '%s'; nothing was changed (keys "
                     "are never replaced silently: `provision keys init --force` destroys and "
                     "recreates every key of the recipe, and devices keyed before no longer "
                     "match)",
                     cfg->token_label, plan[i].what, plan[i].label);
            rc = -1;
        }
    }
    for (size_t i = 0; rc == 0 && force && i < sizeof plan / sizeof plan[0]; i++) {
        unsigned n = 0;
        if (plan[i].label && plan[i].label[0] &&
            pv_p11_destroy_all(p, plan[i].cls, plan[i].label, &n, perr, sizeof perr) != 0)
            rc = fail(err, err_len, "keystore: removing the old %s '%s': %s", plan[i].what,
                      plan[i].label, perr);
    }
    if (rc == 0) {
        pv_p11_obj created[16];
        unsigned ncreated = 0;
        if (create_all(p, cfg, created, &ncreated, perr, sizeof perr) != 0) {
            snprintf(err, err_len, "keystore: %s (the keys this run had created were removed)",
                     perr);
            for (unsigned i = 0; i < ncreated; i++)
                pv_p11_destroy(p, created[i], perr, sizeof perr);
            rc = -1;
        }
    }
    pv_p11_close(p);
    return rc;
}
