/* From a recipe and the station's environment to a keystore configuration (hsm-bridge/keystore.h):
 * the key labels of the recipe's `keys:` section, the at-rest key's label, and the user and SO
 * PINs (from a file, the environment, or - only when asked for - the development defaults).
 * `provision keys` and `provision run` share it so they find the same keys. */
#ifndef PV_PROVISIONER_KEYS_CONFIG_H
#define PV_PROVISIONER_KEYS_CONFIG_H

#include <stddef.h>

#include "../hsm-bridge/keystore.h"
#include "../hsm-bridge/ledger_ed25519.h"
#include "recipe.h"

#define PV_KEYS_PIN_ENV    "PROVISION_PIN"    /* the token's user PIN */
#define PV_KEYS_SO_PIN_ENV "PROVISION_SO_PIN" /* its security officer PIN (keys init only) */
#define PV_KEYS_MODULE_ENV                                                                         \
    "PROVISION_PKCS11_MODULE" /* the PKCS#11 module when --module is not given */
/* Development defaults, used only with --dev: never for a production token. */
#define PV_KEYS_DEV_PIN    "1234"
#define PV_KEYS_DEV_SO_PIN "12345678"
/* The recipe has no label for the at-rest key yet: it is the master key's label + this. */
#define PV_KEYS_AT_REST_SUFFIX ".at-rest"
#define PV_KEYS_PIN_MAX        256

struct pv_keys_config {
    struct pv_keystore_config cfg; /* points into this struct and into the recipe */
    char at_rest[PV_RECIPE_LABEL_MAX + sizeof PV_KEYS_AT_REST_SUFFIX];
    char pin[PV_KEYS_PIN_MAX];
};

/* Fills k from r (which must outlive k); module NULL: SoftHSM2. The PIN comes from pin_file
 * (its first line), else $PROVISION_PIN, else PV_KEYS_DEV_PIN if dev. 0, or -1 with err saying
 * where a PIN can come from. */
int pv_keys_config_init(struct pv_keys_config *k, const pv_recipe *r, const char *module,
                        const char *pin_file, int dev, char *err, size_t err_len);
/* Wipes the PIN. */
void pv_keys_config_wipe(struct pv_keys_config *k);

/* The ledger's key id for the token's audit key: the fingerprint of its public half
 * ("ed25519:..."), so that anyone holding the exported PEM (`provision keys export --key audit`)
 * can check the chain with `provision ledger verify --key`. 0, or -1 with the keystore's error. */
int pv_keys_audit_key_id(pv_keystore *ks, char out[PV_LEDGER_KEY_ID_LEN]);

/* A PIN from file (first line, without its newline), else the environment variable env, else
 * dev_default (NULL: none). 0, or -1 with err naming the file or the options. */
int pv_keys_read_pin(const char *file, const char *env, const char *dev_default, const char *what,
                     char *pin, size_t cap, char *err, size_t err_len);

#endif
