/* What the hsm-bridge/keystore_*.c files share: the open keystore and the sealing helpers.
 * Formats are documented in docs/keystore.md. */
#ifndef PV_HSM_BRIDGE_KEYSTORE_INTERNAL_H
#define PV_HSM_BRIDGE_KEYSTORE_INTERNAL_H

#include "keystore.h"
#include "p11.h"

#define PV_KS_LABEL_MAX 128

/* The sealed Noise static key (a CKO_DATA object): header, nonce, ciphertext, tag. */
#define PV_KS_NOISE_MAGIC    "PVNK"
#define PV_KS_NOISE_VERSION  1
#define PV_KS_NOISE_HDR_LEN  8 /* magic 4, version 1, reserved 3 (zero) */
#define PV_KS_NOISE_BLOB_LEN (PV_KS_NOISE_HDR_LEN + 12 + 32 + 16)

/* The domain separation prefix of the PSK derivation. */
#define PV_KS_PSK_PREFIX "pv-psk-v1"

struct pv_keystore {
    pv_p11 *p;
    char token[PV_KS_LABEL_MAX];
    /* "" when the configuration named no such key */
    char master[PV_KS_LABEL_MAX], noise[PV_KS_LABEL_MAX], signing[PV_KS_LABEL_MAX],
        at_rest[PV_KS_LABEL_MAX], audit[PV_KS_LABEL_MAX];
    pv_p11_obj master_h, noise_key_h, noise_data_h, signing_pub_h, signing_priv_h, at_rest_h,
        audit_priv_h, audit_pub_h;
    char err[640];
};

/* ks->err = formatted message; returns -1. */
int pv_ks_fail(pv_keystore *ks, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Seals a fresh 32-byte Noise private key into blob under the AES key aes (label: the AAD binds
 * the blob to it). 0 or -1 (err). */
int pv_ks_noise_seal(pv_p11 *p, pv_p11_obj aes, const char *label, const uint8_t priv[32],
                     uint8_t blob[PV_KS_NOISE_BLOB_LEN], char *err, size_t err_len);
/* X25519 public key of priv (OpenSSL). 0 or -1. */
int pv_ks_x25519_public(const uint8_t priv[32], uint8_t pub[32]);

#endif
