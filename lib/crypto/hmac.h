/* HMAC (RFC 2104) over any hash with a pv_hash_desc, written once; hmac_sha256.h and
 * hmac_sha512.h give it typed contexts. inner and outer are two contexts of that hash, owned by
 * the caller. */
#ifndef PV_CRYPTO_HMAC_H
#define PV_CRYPTO_HMAC_H

#include "crypto/hash.h"

/* Keys of any length (longer than a block: hashed first, as the RFC says). */
void pv_hmac_init(const pv_hash_desc *h, void *inner, void *outer, const void *key, size_t key_len);
/* Writes h->digest_len bytes to out and wipes both contexts. */
void pv_hmac_final(const pv_hash_desc *h, void *inner, void *outer, uint8_t *out);

#endif
