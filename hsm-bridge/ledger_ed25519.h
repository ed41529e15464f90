/* Audit signatures with an Ed25519 key held by OpenSSL: the signer and verifier callbacks of
 * ledger.h for tests and for `provision ledger verify --key PUB.pem`. The keystore passes a
 * PKCS#11 signer instead; both produce the same plain Ed25519 signatures of the entry hash. */
#ifndef PV_HSM_BRIDGE_LEDGER_ED25519_H
#define PV_HSM_BRIDGE_LEDGER_ED25519_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define PV_LEDGER_KEY_ID_LEN 42 /* "ed25519:" + 32 hex digits + NUL, rounded up */

/* "ed25519:" and the first 16 bytes of SHA-256(raw public key), hex. 0 or -1. */
int pv_ledger_ed25519_key_id(EVP_PKEY *key, char out[PV_LEDGER_KEY_ID_LEN]);
/* pv_ledger_sign_fn; ctx is an EVP_PKEY * Ed25519 private key. */
int pv_ledger_ed25519_sign(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t *sig_len);
/* pv_ledger_verify_fn; ctx is an EVP_PKEY * Ed25519 key (public or private). Entries signed by
 * another key id fail. */
int pv_ledger_ed25519_verify(void *ctx, const char *key_id, const uint8_t hash[32],
                             const uint8_t *sig, size_t sig_len);

#endif
