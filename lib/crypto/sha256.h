/* SHA-256 (FIPS 180-4). Streaming context plus one-shot helper. */
#ifndef PV_CRYPTO_SHA256_H
#define PV_CRYPTO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hash.h"

#define PV_SHA256_LEN   32
#define PV_SHA256_BLOCK 64

typedef struct {
    uint32_t h[8];
    uint64_t total;  /* bytes absorbed so far */
    uint8_t buf[64]; /* pending partial block */
    uint32_t fill;   /* bytes in buf */
} pv_sha256_ctx;

/* The three steps on a pv_sha256_ctx passed untyped, so that pv_hash_sha256 (for generic code:
 * HMAC) points at them directly; callers use the typed names below. */
void pv_sha256_init_raw(void *ctx);
void pv_sha256_update_raw(void *ctx, const void *data, size_t len);
void pv_sha256_final_raw(void *ctx, uint8_t *out);
extern const pv_hash_desc pv_hash_sha256;

static inline void pv_sha256_init(pv_sha256_ctx *ctx)
{
    pv_sha256_init_raw(ctx);
}

static inline void pv_sha256_update(pv_sha256_ctx *ctx, const void *data, size_t len)
{
    pv_sha256_update_raw(ctx, data, len);
}

/* Writes the digest and wipes the context. */
static inline void pv_sha256_final(pv_sha256_ctx *ctx, uint8_t out[PV_SHA256_LEN])
{
    pv_sha256_final_raw(ctx, out);
}

void pv_sha256(uint8_t out[PV_SHA256_LEN], const void *data, size_t len);

/* The compression function over nblocks whole 64-byte blocks at data (any alignment): h is the
 * chaining state, updated in place; the message schedule is wiped before returning. Portable C
 * in sha256.c; the bootloader links the Cortex-M4 assembly (sha256_cm4.S) in its place. */
void pv_sha256_blocks(uint32_t h[8], const uint8_t *data, size_t nblocks);

#endif
