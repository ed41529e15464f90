/* HMAC-SHA512 (RFC 2104): the generic HMAC (hmac.h) on SHA-512, with a typed context; exposed
 * because SHA-512 is. */
#ifndef PV_CRYPTO_HMAC_SHA512_H
#define PV_CRYPTO_HMAC_SHA512_H

#include "crypto/hmac.h"
#include "crypto/sha512.h"

typedef struct {
    pv_sha512_ctx inner;
    pv_sha512_ctx outer; /* already absorbed key ^ opad */
} pv_hmac_sha512_ctx;

static inline void pv_hmac_sha512_init(pv_hmac_sha512_ctx *ctx, const void *key, size_t key_len)
{
    pv_hmac_init(&pv_hash_sha512, &ctx->inner, &ctx->outer, key, key_len);
}

static inline void pv_hmac_sha512_update(pv_hmac_sha512_ctx *ctx, const void *data, size_t len)
{
    pv_sha512_update(&ctx->inner, data, len);
}

/* Writes the tag and wipes the context. */
static inline void pv_hmac_sha512_final(pv_hmac_sha512_ctx *ctx, uint8_t out[PV_SHA512_LEN])
{
    pv_hmac_final(&pv_hash_sha512, &ctx->inner, &ctx->outer, out);
}

static inline void pv_hmac_sha512(uint8_t out[PV_SHA512_LEN], const void *key, size_t key_len,
                                  const void *data, size_t len)
{
    pv_hmac_sha512_ctx ctx;
    pv_hmac_sha512_init(&ctx, key, key_len);
    pv_hmac_sha512_update(&ctx, data, len);
    pv_hmac_sha512_final(&ctx, out);
}

#endif
