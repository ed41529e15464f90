/* SHA-512 (FIPS 180-4). Needed by Ed25519; streaming context plus one-shot helper. */
#ifndef PV_CRYPTO_SHA512_H
#define PV_CRYPTO_SHA512_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hash.h"

#define PV_SHA512_LEN   64
#define PV_SHA512_BLOCK 128

typedef struct {
    uint64_t h[8];
    uint64_t total;   /* bytes absorbed so far (2^64 bytes is plenty) */
    uint8_t buf[128]; /* pending partial block */
    uint32_t fill;    /* bytes in buf */
} pv_sha512_ctx;

/* The three steps on a pv_sha512_ctx passed untyped, so that pv_hash_sha512 (for generic code:
 * HMAC) points at them directly; callers use the typed names below. */
void pv_sha512_init_raw(void *ctx);
void pv_sha512_update_raw(void *ctx, const void *data, size_t len);
void pv_sha512_final_raw(void *ctx, uint8_t *out);
extern const pv_hash_desc pv_hash_sha512;

static inline void pv_sha512_init(pv_sha512_ctx *ctx)
{
    pv_sha512_init_raw(ctx);
}

static inline void pv_sha512_update(pv_sha512_ctx *ctx, const void *data, size_t len)
{
    pv_sha512_update_raw(ctx, data, len);
}

/* Writes the digest and wipes the context. */
static inline void pv_sha512_final(pv_sha512_ctx *ctx, uint8_t out[PV_SHA512_LEN])
{
    pv_sha512_final_raw(ctx, out);
}

void pv_sha512(uint8_t out[PV_SHA512_LEN], const void *data, size_t len);

#endif
