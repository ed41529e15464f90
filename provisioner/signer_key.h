/* Where an Ed25519 image-signing key comes from: a PEM file (OpenSSL) or a PKCS#11 token
 * (hsm-bridge/p11.h). One handle gives the public key and, for private keys, signatures. */
#ifndef PV_PROVISIONER_SIGNER_KEY_H
#define PV_PROVISIONER_SIGNER_KEY_H

#include <stddef.h>
#include <stdint.h>

struct pv_key_source {
    const char *pem;       /* PEM file: private key (PKCS#8) or, for verifying, public key */
    int pkcs11;            /* use a token instead */
    const char *module;    /* PKCS#11 module; NULL: SoftHSM2 */
    const char *token;     /* token label */
    const char *key_label; /* CKA_LABEL of the key (pair) */
    const char *pin_file;  /* user PIN file (hsm-bridge/pin_source.h); NULL: $PROVISION_PIN */
};

typedef struct pv_signer_key pv_signer_key;

/* Opens the key. need_private: signing (a PEM public key is then refused). Returns NULL with a
 * one-line reason naming the file or token and the fix. */
pv_signer_key *pv_signer_key_open(const struct pv_key_source *src, int need_private, char *err,
                                  size_t err_len);
void pv_signer_key_close(pv_signer_key *k);
void pv_signer_key_public(const pv_signer_key *k, uint8_t pub[32]);
/* Ed25519 signature of msg. 0 or -1 with a reason. */
int pv_signer_key_sign(pv_signer_key *k, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                       size_t err_len);
/* What the key is, for messages: "key.pem" or "pkcs11 token 'x' key 'y'". */
const char *pv_signer_key_name(const pv_signer_key *k);

#endif
