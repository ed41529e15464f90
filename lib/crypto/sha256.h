/* SHA-256 (FIPS 180-4). Streaming context plus one-shot helper. */
#ifndef PV_CRYPTO_SHA256_H
#define PV_CRYPTO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define PV_SHA256_LEN   32
#define PV_SHA256_BLOCK 64

typedef struct {
    uint32_t h[8];
    uint64_t total;  /* bytes absorbed so far */
    uint8_t buf[64]; /* pending partial block */
    uint32_t fill;   /* bytes in buf */
} pv_sha256_ctx;

void pv_sha256_init(pv_sha256_ctx *ctx);
void pv_sha256_update(pv_sha256_ctx *ctx, const void *data, size_t len);
/* Writes the digest and wipes the context. */
void pv_sha256_final(pv_sha256_ctx *ctx, uint8_t out[PV_SHA256_LEN]);
void pv_sha256(uint8_t out[PV_SHA256_LEN], const void *data, size_t len);

#endif
