/* The Noise provider built on lib/crypto (X25519, ChaCha20-Poly1305, SHA-256, HMAC-SHA256): the
 * one the device links. */
#ifndef PV_NOISE_PROVIDER_PV_H
#define PV_NOISE_PROVIDER_PV_H

#include "noise/noise_provider.h"

extern const pv_noise_provider pv_noise_provider_pv;

#endif
