/* Key slots signed as the trusted side signs them (lib/keyslot, hsm-bridge/install_frames.h),
 * with OpenSSL's Ed25519 standing in for the token: for tests that write slots themselves. */
#ifndef PV_TESTS_SLOT_SIGN_H
#define PV_TESTS_SLOT_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "keyslot/keyslot.h"

struct test_slot_key {
    EVP_PKEY *k;
    uint8_t pub[32];
};

/* From a raw 32-byte private key, or a PEM private key file; 0 or -1. */
int test_slot_key_raw(struct test_slot_key *k, const uint8_t priv[32]);
int test_slot_key_pem(struct test_slot_key *k, const char *path);
void test_slot_key_free(struct test_slot_key *k);

/* A pv_slot_sign_fn: ctx is a struct test_slot_key. */
int test_slot_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                   size_t err_len);

/* ks encoded with its signature by k (ks->signer_pub is left as the caller set it). */
void test_slot_encode(uint8_t out[PV_KEYSLOT_LEN], const pv_keyslot *ks,
                      const struct test_slot_key *k);

#endif
