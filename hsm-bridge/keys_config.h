/* From a recipe and the station's environment to a keystore configuration (hsm-bridge/keystore.h):
 * the key labels of the recipe's `keys:` section, the at-rest key's label, and the user and SO
 * PINs (pin_source.h: a file, the environment, or - only when asked for - the development
 * defaults).
 * `provision keys` and `provision run` share it so they find the same keys. */
#ifndef PV_HSM_BRIDGE_KEYS_CONFIG_H
#define PV_HSM_BRIDGE_KEYS_CONFIG_H

#include <stddef.h>

#include "keystore.h"
#include "ledger_ed25519.h"
#include "pin_source.h"
#include "recipe.h"

#define PV_KEYS_MODULE_ENV                                                                         \
    "PROVISION_PKCS11_MODULE" /* the PKCS#11 module when --module is not given */
/* Development defaults, used only with --dev: never for a production token. */
#define PV_KEYS_DEV_PIN    "1234"
#define PV_KEYS_DEV_SO_PIN "12345678"
/* Without keys.at_rest_key in the recipe, the at-rest key's label is the master key's + this. */
#define PV_KEYS_AT_REST_SUFFIX ".at-rest"

#define PV_KEYS_AT_REST_MAX (PV_RECIPE_LABEL_MAX + sizeof PV_KEYS_AT_REST_SUFFIX)

/* The at-rest key's label: keys.at_rest_key, else the master key's label + ".at-rest". */
void pv_keys_at_rest_label(const pv_recipe *r, char out[PV_KEYS_AT_REST_MAX]);

struct pv_keys_config {
    struct pv_keystore_config cfg; /* points into this struct and into the recipe */
    char at_rest[PV_KEYS_AT_REST_MAX];
    char pin[PV_PIN_MAX];
};

/* Fills k from r (which must outlive k); module NULL: SoftHSM2. The PIN comes from pin_file
 * (its first line, the file checked by pin_source.h's policy), else $PROVISION_PIN, else
 * PV_KEYS_DEV_PIN if dev. 0, or -1 with err saying where a PIN can come from. */
int pv_keys_config_init(struct pv_keys_config *k, const pv_recipe *r, const char *module,
                        const char *pin_file, int dev, char *err, size_t err_len);
/* Wipes the PIN. */
void pv_keys_config_wipe(struct pv_keys_config *k);

/* Keys of a recipe, for pv_keys_open. */
enum {
    PV_KEYS_MASTER = 1u << 0,
    PV_KEYS_NOISE = 1u << 1,
    PV_KEYS_SIGNING = 1u << 2,
    PV_KEYS_AT_REST = 1u << 3,
    PV_KEYS_AUDIT = 1u << 4
};

/* Opens the recipe's token with only the keys in `which` (PV_KEYS_* bits), so a command needs
 * (and checks) only the keys it uses. NULL on failure: err says why, and *pin_unreadable is 1
 * when the PIN file could not be read (else 0). */
pv_keystore *pv_keys_open(const pv_recipe *r, const char *module, const char *pin_file, int dev,
                          unsigned which, char *err, size_t err_len, int *pin_unreadable);

/* The ledger's key id for the token's audit key: the fingerprint of its public half
 * ("ed25519:..."), so that anyone holding the exported PEM (`provision keys export --key audit`)
 * can check the chain with `provision ledger verify --key`. 0, or -1 with the keystore's error. */
int pv_keys_audit_key_id(pv_keystore *ks, char out[PV_LEDGER_KEY_ID_LEN]);

#endif
