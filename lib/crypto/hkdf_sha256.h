/* HKDF-SHA256 (RFC 5869). */
#ifndef PV_CRYPTO_HKDF_SHA256_H
#define PV_CRYPTO_HKDF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define PV_HKDF_SHA256_MAX_OUT (255 * 32)

/* PRK = HMAC(salt, ikm); a NULL/empty salt means 32 zero bytes, as the RFC says. */
void pv_hkdf_sha256_extract(uint8_t prk[32], const void *salt, size_t salt_len, const void *ikm,
                            size_t ikm_len);
/* Returns 0, or -1 (and writes nothing) if out_len > 255*32. */
int pv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
                          const void *info, size_t info_len);
/* Extract then expand; same return convention. */
int pv_hkdf_sha256(uint8_t *out, size_t out_len, const void *salt, size_t salt_len, const void *ikm,
                   size_t ikm_len, const void *info, size_t info_len);

#endif
