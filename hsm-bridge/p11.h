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

typedef struct pv_p11 pv_p11;
typedef unsigned long pv_p11_obj; /* a CK_OBJECT_HANDLE */

/* SECRET_KEY and DATA: the keystore's HMAC/AES keys and sealed
 * blobs. */
enum pv_p11_class { PV_P11_PRIVATE_KEY, PV_P11_PUBLIC_KEY, PV_P11_SECRET_KEY, PV_P11_DATA };

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

/* ---- what hsm-bridge/keystore_*.c needs ---- */

/* Token creation (p11_token.c). Loads module, and if no token is labelled token_label, initialises
 * the first free token with so_pin and that label (C_InitToken), then sets its user PIN
 * (C_InitPIN). Returns 1 if the token was created, 0 if it existed already (nothing changed), -1
 * on error. Finalizes the module before returning, so call it with no pv_p11 open. */
int pv_p11_init_token(const char *module, const char *token_label, const char *so_pin,
                      const char *user_pin, char *err, size_t err_len);

/* Objects (p11_object.c). How many objects of class cls are labelled label (0, 1, ...). */
int pv_p11_count(pv_p11 *p, enum pv_p11_class cls, const char *label, unsigned *n, char *err,
                 size_t err_len);
/* Destroys an object. 0 or -1. */
int pv_p11_destroy(pv_p11 *p, pv_p11_obj obj, char *err, size_t err_len);
/* Destroys every object of class cls labelled label; *n says how many. 0 or -1. */
int pv_p11_destroy_all(pv_p11 *p, enum pv_p11_class cls, const char *label, unsigned *n, char *err,
                       size_t err_len);
/* Stores value as a private token CKO_DATA object labelled label. 0 or -1. */
int pv_p11_create_data(pv_p11 *p, const char *label, const uint8_t *value, size_t len,
                       pv_p11_obj *out, char *err, size_t err_len);
/* Reads CKA_VALUE of an object (a data object; a secret key only if it is not sensitive: for a
 * sensitive key this fails with CKR_ATTRIBUTE_SENSITIVE, which the tests rely on) into buf of cap
 * bytes; *len is set to its length. 0 or -1. */
int pv_p11_read_value(pv_p11 *p, pv_p11_obj obj, uint8_t *buf, size_t cap, size_t *len, char *err,
                      size_t err_len);
/* The protection attributes of a key object (1 true, 0 false, -1 not applicable). */
struct pv_p11_key_flags {
    int sensitive, extractable, always_sensitive, never_extractable;
};
int pv_p11_key_flags(pv_p11 *p, pv_p11_obj obj, struct pv_p11_key_flags *fl, char *err,
                     size_t err_len);

/* Secret keys (p11_secret.c). Every generated key is a token object, private, sensitive and never
 * extractable. A 32-byte CKK_GENERIC_SECRET key for CKM_SHA256_HMAC (sign only). */
int pv_p11_generate_hmac_key(pv_p11 *p, const char *label, pv_p11_obj *out, char *err,
                             size_t err_len);
/* An AES-256 key for encrypt/decrypt (AES-GCM). */
int pv_p11_generate_aes_key(pv_p11 *p, const char *label, pv_p11_obj *out, char *err,
                            size_t err_len);
/* TESTS ONLY: imports a known CKK_GENERIC_SECRET value so a test can check the token's HMAC
 * against OpenSSL; protect: sensitive and non-extractable from then on (0: neither, to test that
 * the keystore refuses such a key). Production keys are generated. */
int pv_p11_import_hmac_key(pv_p11 *p, const char *label, const uint8_t *value, size_t len,
                           int protect, pv_p11_obj *out, char *err, size_t err_len);
/* mac = HMAC-SHA256(key, msg), computed by the token (CKM_SHA256_HMAC). 0 or -1. */
int pv_p11_hmac_sha256(pv_p11 *p, pv_p11_obj key, const uint8_t *msg, size_t len, uint8_t mac[32],
                       char *err, size_t err_len);
/* AES-GCM with a 12-byte IV and a 16-byte tag (CKM_AES_GCM). ct has len bytes. 0 or -1. */
int pv_p11_aes_gcm_encrypt(pv_p11 *p, pv_p11_obj key, const uint8_t iv[12], const uint8_t *aad,
                           size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct,
                           uint8_t tag[16], char *err, size_t err_len);
/* Decrypts and authenticates; fails (CKR_ENCRYPTED_DATA_INVALID on SoftHSM2) when anything
 * covered (iv, aad, ct, tag, key) differs. pt has len bytes, written only on success. */
int pv_p11_aes_gcm_decrypt(pv_p11 *p, pv_p11_obj key, const uint8_t iv[12], const uint8_t *aad,
                           size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[16],
                           uint8_t *pt, char *err, size_t err_len);

/* "CKR_PIN_INCORRECT" etc. for a CK_RV, or "CKR_0x..." for codes without a name here. */
const char *pv_p11_rv_name(unsigned long rv, char buf[24]);

#endif
