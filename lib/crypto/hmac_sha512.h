/* HMAC-SHA512 (RFC 2104); exposed because SHA-512 is, and proven by the same vectors. */
#ifndef PV_CRYPTO_HMAC_SHA512_H
#define PV_CRYPTO_HMAC_SHA512_H

#include "crypto/sha512.h"

typedef struct {
    pv_sha512_ctx inner;
    pv_sha512_ctx outer;
} pv_hmac_sha512_ctx;

void pv_hmac_sha512_init(pv_hmac_sha512_ctx *ctx, const void *key, size_t key_len);
void pv_hmac_sha512_update(pv_hmac_sha512_ctx *ctx, const void *data, size_t len);
void pv_hmac_sha512_final(pv_hmac_sha512_ctx *ctx, uint8_t out[PV_SHA512_LEN]);
void pv_hmac_sha512(uint8_t out[PV_SHA512_LEN], const void *key, size_t key_len, const void *data,
                    size_t len);

#endif
