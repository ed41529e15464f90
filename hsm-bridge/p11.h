/* PKCS#11 access for the trusted side: load a module (SoftHSM2 by default, any HSM's library in
 * production), open one token by label, log in, find keys by label, and the Ed25519 operations
 * image signing needs. The keystore of the trusted side builds on the same session.
 *
 * The PKCS#11 types stay inside hsm-bridge/p11_*.c (p11_internal.h), so users of this header
 * need no PKCS#11 include path. Every failing call writes one line into err naming the call, the
 * token or key, and the CKR_ code. One pv_p11 per module per process at a time (PKCS#11
 * initialisation is process-wide). */
#ifndef PV_HSM_BRIDGE_P11_H
#define PV_HSM_BRIDGE_P11_H

#include <stddef.h>
#include <stdint.h>

#define PV_P11_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define PV_P11_PIN_ENV        "PV_PKCS11_PIN" /* where tools take the user PIN from */

typedef struct pv_p11 pv_p11;
typedef unsigned long pv_p11_obj; /* a CK_OBJECT_HANDLE */

enum pv_p11_class { PV_P11_PRIVATE_KEY, PV_P11_PUBLIC_KEY };

/* Loads module (NULL: PV_P11_DEFAULT_MODULE), finds the token labelled token_label, opens a
 * read/write session and logs in as the user with pin (NULL: no login). NULL on failure. */
pv_p11 *pv_p11_open(const char *module, const char *token_label, const char *pin, char *err,
                    size_t err_len);
/* Logs out, closes the session, finalizes and unloads the module. NULL is allowed. */
void pv_p11_close(pv_p11 *p);

/* Finds the one key of that class labelled label: 0, or -1 (none, several, or a token error). */
int pv_p11_find_key(pv_p11 *p, enum pv_p11_class cls, const char *label, pv_p11_obj *out, char *err,
                    size_t err_len);

/* Ed25519 (CKM_EDDSA, pure) signature of msg with a private key. 0 or -1. */
int pv_p11_sign_eddsa(pv_p11 *p, pv_p11_obj key, const uint8_t *msg, size_t len, uint8_t sig[64],
                      char *err, size_t err_len);
/* The raw 32-byte Ed25519 public key of a public key object (from CKA_EC_POINT). 0 or -1. */
int pv_p11_ed25519_public(pv_p11 *p, pv_p11_obj key, uint8_t pub[32], char *err, size_t err_len);
/* Generates an Ed25519 key pair on the token, both objects labelled label; the private key is
 * sensitive and never extractable. 0 or -1. */
int pv_p11_generate_ed25519(pv_p11 *p, const char *label, pv_p11_obj *pub, pv_p11_obj *priv,
                            char *err, size_t err_len);

/* "CKR_PIN_INCORRECT" etc. for a CK_RV, or "CKR_0x..." for codes without a name here. */
const char *pv_p11_rv_name(unsigned long rv, char buf[24]);

#endif
