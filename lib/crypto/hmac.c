/* HMAC per RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), keys longer than a block hashed first.
 * Lengths are public, so branching on them is fine. */
#include "crypto/hmac.h"

#include "crypto/wipe.h"

void pv_hmac_init(const pv_hash_desc *h, void *inner, void *outer, const void *key, size_t key_len)
{
    uint8_t k[PV_HASH_MAX_BLOCK];
    const uint8_t *p = (const uint8_t *)key;
    size_t i, b = h->block_len;
    if (key_len > b) {
        h->digest(k, key, key_len);
        p = k;
        key_len = h->digest_len;
    }
    /* Zero-padded key ^ ipad; p may point into k, so copy before zero-filling the tail. */
    for (i = 0; i < key_len; i++)
        k[i] = p[i] ^ 0x36;
    for (; i < b; i++)
        k[i] = 0x36;
    h->init(inner);
    h->update(inner, k, b);
    /* ipad ^ opad = 0x6a turns the inner pad into the outer one in place. */
    for (i = 0; i < b; i++)
        k[i] ^= 0x36 ^ 0x5c;
    h->init(outer);
    h->update(outer, k, b);
    pv_wipe(k, b);
}

void pv_hmac_final(const pv_hash_desc *h, void *inner, void *outer, uint8_t *out)
{
    uint8_t ih[PV_HASH_MAX_DIGEST];
    /* Both finals wipe their contexts. */
    h->final(inner, ih);
    h->update(outer, ih, h->digest_len);
    h->final(outer, out);
    pv_wipe(ih, h->digest_len);
}
