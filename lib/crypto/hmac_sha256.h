/* HMAC-SHA256 (RFC 2104). Keys of any length. */
#ifndef PV_CRYPTO_HMAC_SHA256_H
#define PV_CRYPTO_HMAC_SHA256_H

#include "crypto/sha256.h"

typedef struct {
    pv_sha256_ctx inner;
    pv_sha256_ctx outer; /* already absorbed key ^ opad */
} pv_hmac_sha256_ctx;

void pv_hmac_sha256_init(pv_hmac_sha256_ctx *ctx, const void *key, size_t key_len);
void pv_hmac_sha256_update(pv_hmac_sha256_ctx *ctx, const void *data, size_t len);
/* Writes the tag and wipes the context. */
void pv_hmac_sha256_final(pv_hmac_sha256_ctx *ctx, uint8_t out[PV_SHA256_LEN]);
void pv_hmac_sha256(uint8_t out[PV_SHA256_LEN], const void *key, size_t key_len, const void *data,
                    size_t len);

#endif
