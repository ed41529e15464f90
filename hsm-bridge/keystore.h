/* The trusted side's keys, behind PKCS#11 (SoftHSM2 by default, any token in production).
 *
 *  - product master key: CKK_GENERIC_SECRET, sensitive, non-extractable; each device's PSK is
 *    HMAC-SHA256(master, "pv-psk-v1" || UID) computed inside the token (CKM_SHA256_HMAC), so the
 *    update service can recompute any device's PSK from its UID and no master key ever leaves.
 *  - Noise static key (X25519): SoftHSM2 has no X25519, so the private key is kept sealed
 *    (AES-GCM under a token AES key, the blob stored as a CKO_DATA object) and opened into the
 *    trusted side's memory only while it runs; the caller wipes it.
 *  - image-signing key (Ed25519 key pair): its public half goes into every key slot, and the
 *    private half signs images and every key slot.
 *  - at-rest key (AES-256, sensitive): images (the bootloader) are stored sealed with AES-GCM and
 *    opened only in the trusted side's memory.
 *  - audit key (Ed25519 key pair): signs the ledger's audit chain.
 * Key labels come from the recipe (`keys:`). Every function returns 0 or -1 and leaves a
 * one-line reason in pv_keystore_error() naming the token, the label and what to do. */
#ifndef PV_HSM_KEYSTORE_H
#define PV_HSM_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pv_keystore pv_keystore;

struct pv_keystore_config {
    const char *module;      /* PKCS#11 module path; NULL: SoftHSM2's */
    const char *token_label; /* recipe keys.token */
    const char *pin;         /* user PIN (from --pin-file / $PROVISION_PIN, never argv in prod) */
    const char *master_label;
    const char *noise_label;   /* the sealed Noise static key (CKO_DATA) and its AES key */
    const char *signing_label; /* Ed25519 image-signing key pair */
    const char *at_rest_label; /* AES key sealing images at rest */
    const char *audit_label;   /* Ed25519 audit key pair (NULL: no audit signatures) */
};

pv_keystore *pv_keystore_open(const struct pv_keystore_config *cfg, char *err, size_t err_len);
void pv_keystore_close(pv_keystore *ks);
const char *pv_keystore_error(const pv_keystore *ks);

/* psk = HMAC-SHA256(master, "pv-psk-v1" || uid), computed by the token. */
int pv_keystore_device_psk(pv_keystore *ks, const uint8_t uid[12], uint8_t psk[32]);
/* The Noise static key pair, opened into memory; wipe priv after use. */
int pv_keystore_noise_static(pv_keystore *ks, uint8_t priv[32], uint8_t pub[32]);
/* Public half of the image-signing key (the key slot's signer_pub). */
int pv_keystore_signer_public(pv_keystore *ks, uint8_t pub[32]);
/* Signs msg with the image-signing private key in the token (CKM_EDDSA): the key slot's
 * signature (lib/keyslot). ctx = the keystore; 0, or -1 with the reason in err. */
int pv_keystore_signer_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                            size_t err_len);
/* Opens an image sealed at rest (file written by pv_keystore_seal_file / `provision keys
 * seal`); *image is malloc'd, the caller wipes and frees it. */
int pv_keystore_open_sealed(pv_keystore *ks, const char *path, uint8_t **image, size_t *len);
/* Writes IN sealed into OUT (the format: seal_format.h). */
int pv_keystore_seal_file(pv_keystore *ks, const char *in_path, const char *out_path);
/* Signs an audit hash with the audit key: matches pv_ledger_sign_fn (ctx = the keystore). */
int pv_keystore_audit_sign(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t *sig_len);
int pv_keystore_audit_public(pv_keystore *ks, uint8_t pub[32]);

/* Development: create every key of cfg in the token (initialising the token with so_pin if it
 * does not exist yet). Refuses to overwrite an existing key unless force. */
int pv_keystore_init_keys(const struct pv_keystore_config *cfg, const char *so_pin, int force,
                          char *err, size_t err_len);

#endif
