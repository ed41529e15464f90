/* HMAC-SHA256 (RFC 2104): the generic HMAC (hmac.h) on SHA-256, with a typed context. */
#ifndef PV_CRYPTO_HMAC_SHA256_H
#define PV_CRYPTO_HMAC_SHA256_H

#include "crypto/hmac.h"
#include "crypto/sha256.h"

typedef struct {
    pv_sha256_ctx inner;
    pv_sha256_ctx outer; /* already absorbed key ^ opad */
} pv_hmac_sha256_ctx;

static inline void pv_hmac_sha256_init(pv_hmac_sha256_ctx *ctx, const void *key, size_t key_len)
{
    pv_hmac_init(&pv_hash_sha256, &ctx->inner, &ctx->outer, key, key_len);
}

static inline void pv_hmac_sha256_update(pv_hmac_sha256_ctx *ctx, const void *data, size_t len)
{
    pv_sha256_update(&ctx->inner, data, len);
}

/* Writes the tag and wipes the context. */
static inline void pv_hmac_sha256_final(pv_hmac_sha256_ctx *ctx, uint8_t out[PV_SHA256_LEN])
{
    pv_hmac_final(&pv_hash_sha256, &ctx->inner, &ctx->outer, out);
}

static inline void pv_hmac_sha256(uint8_t out[PV_SHA256_LEN], const void *key, size_t key_len,
                                  const void *data, size_t len)
{
    pv_hmac_sha256_ctx ctx;
    pv_hmac_sha256_init(&ctx, key, key_len);
    pv_hmac_sha256_update(&ctx, data, len);
    pv_hmac_sha256_final(&ctx, out);
}

#endif
