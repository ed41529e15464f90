/* ChaCha20-Poly1305 AEAD (RFC 8439 section 2.8). */
#include "crypto/chacha20poly1305.h"

#include "crypto/chacha20.h"
#include "crypto/poly1305.h"
#include "crypto/wipe.h"

/* Tag over ad || pad16 || ct || pad16 || le64(ad_len) || le64(len), one-time key from block 0. */
static void aead_tag(uint8_t tag[16], const uint8_t key[32], const uint8_t nonce[12],
                     const uint8_t *ad, size_t ad_len, const uint8_t *ct, size_t len)
{
    pv_poly1305_ctx ctx;
    uint8_t blk[32];

    pv_wipe(blk, sizeof blk); /* zeros in, so the xor yields the bare keystream */
    pv_chacha20_xor(blk, blk, 32, key, nonce, 0);
    pv_poly1305_init(&ctx, blk);
    pv_wipe(blk, sizeof blk); /* also the zeros used for padding below */
    pv_poly1305_update(&ctx, ad, ad_len);
    pv_poly1305_update(&ctx, blk, (0 - ad_len) & 15);
    pv_poly1305_update(&ctx, ct, len);
    pv_poly1305_update(&ctx, blk, (0 - len) & 15);
    for (unsigned i = 0; i < 8; i++) {
        blk[i] = (uint8_t)((uint64_t)ad_len >> (8 * i));
        blk[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    pv_poly1305_update(&ctx, blk, 16);
    pv_poly1305_final(&ctx, tag); /* wipes ctx */
}

void pv_aead_encrypt(uint8_t *ct, uint8_t tag[16], const uint8_t key[32], const uint8_t nonce[12],
                     const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t len)
{
    pv_chacha20_xor(ct, pt, len, key, nonce, 1);
    aead_tag(tag, key, nonce, ad, ad_len, ct, len);
}

int pv_aead_decrypt(uint8_t *pt, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *ct, size_t len, const uint8_t tag[16])
{
    uint8_t want[16];
    aead_tag(want, key, nonce, ad, ad_len, ct, len);
    int ok = pv_ct_equal(want, tag, 16);
    pv_wipe(want, sizeof want);
    if (!ok)
        return -1;
    pv_chacha20_xor(pt, ct, len, key, nonce, 1);
    return 0;
}
