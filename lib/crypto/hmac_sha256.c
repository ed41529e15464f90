/* HMAC-SHA256 per RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), keys longer than a block
 * hashed first. */
#include "crypto/hmac_sha256.h"

#include "crypto/wipe.h"

void pv_hmac_sha256_init(pv_hmac_sha256_ctx *ctx, const void *key, size_t key_len)
{
    uint8_t k[PV_SHA256_BLOCK];
    const uint8_t *p = (const uint8_t *)key;
    size_t i;
    /* Branching on the key length is fine: lengths are public. */
    if (key_len > PV_SHA256_BLOCK) {
        pv_sha256(k, key, key_len);
        p = k;
        key_len = PV_SHA256_LEN;
    }
    /* Zero-padded key ^ ipad; p may point into k, so copy before zero-filling the tail. */
    for (i = 0; i < key_len; i++)
        k[i] = p[i] ^ 0x36;
    for (; i < PV_SHA256_BLOCK; i++)
        k[i] = 0x36;
    pv_sha256_init(&ctx->inner);
    pv_sha256_update(&ctx->inner, k, sizeof k);
    /* ipad ^ opad = 0x6a turns the inner pad into the outer one in place. */
    for (i = 0; i < PV_SHA256_BLOCK; i++)
        k[i] ^= 0x36 ^ 0x5c;
    pv_sha256_init(&ctx->outer);
    pv_sha256_update(&ctx->outer, k, sizeof k);
    pv_wipe(k, sizeof k);
}

void pv_hmac_sha256_update(pv_hmac_sha256_ctx *ctx, const void *data, size_t len)
{
    pv_sha256_update(&ctx->inner, data, len);
}

void pv_hmac_sha256_final(pv_hmac_sha256_ctx *ctx, uint8_t out[PV_SHA256_LEN])
{
    uint8_t ih[PV_SHA256_LEN];
    /* Both finals wipe their halves of the context. */
    pv_sha256_final(&ctx->inner, ih);
    pv_sha256_update(&ctx->outer, ih, sizeof ih);
    pv_sha256_final(&ctx->outer, out);
    pv_wipe(ih, sizeof ih);
}

void pv_hmac_sha256(uint8_t out[PV_SHA256_LEN], const void *key, size_t key_len, const void *data,
                    size_t len)
{
    pv_hmac_sha256_ctx ctx;
    pv_hmac_sha256_init(&ctx, key, key_len);
    pv_hmac_sha256_update(&ctx, data, len);
    pv_hmac_sha256_final(&ctx, out);
}
