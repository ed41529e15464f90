/* A hash function as generic code (HMAC) sees it: its sizes, its three steps on a context the
 * caller owns, and the three at once. Each hash defines one constant descriptor next to its code
 * (pv_hash_sha256, pv_hash_sha512). */
#ifndef PV_CRYPTO_HASH_H
#define PV_CRYPTO_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The largest block and digest of any described hash (SHA-512's): bounds for the buffers of
 * generic code, which the hashes check at compile time. */
#define PV_HASH_MAX_BLOCK  128
#define PV_HASH_MAX_DIGEST 64

typedef struct pv_hash_desc {
    uint8_t block_len;  /* bytes per compression block, at most PV_HASH_MAX_BLOCK */
    uint8_t digest_len; /* bytes of digest, at most PV_HASH_MAX_DIGEST */
    void (*init)(void *ctx);
    void (*update)(void *ctx, const void *data, size_t len);
    void (*final)(void *ctx, uint8_t *out); /* writes digest_len bytes and wipes ctx */
    void (*digest)(uint8_t *out, const void *data, size_t len); /* all three at once */
} pv_hash_desc;

#endif
