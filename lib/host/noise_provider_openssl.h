/* The Noise provider on OpenSSL 3 EVP (host only): X25519 via EVP_PKEY derive, ChaCha20-Poly1305
 * via EVP_CIPHER, SHA-256 via EVP_MD, HMAC via EVP_MAC. */
#ifndef PV_HOST_NOISE_PROVIDER_OPENSSL_H
#define PV_HOST_NOISE_PROVIDER_OPENSSL_H

#include "noise/noise_provider.h"

extern const pv_noise_provider pv_noise_provider_openssl;

#endif
