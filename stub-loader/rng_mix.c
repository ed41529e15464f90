/* The ephemeral key's entropy: the chip's hardware RNG and the host's contribution, mixed through
 * SHA-256 (the Noise provider's HASH, already in the image). Either source alone, if good, makes
 * e unpredictable; the hash keeps a bad one from biasing the result. */
#include "noise/noise_provider_pv.h"
#include "stub.h"

void stub_mix_entropy(uint8_t e[32], const uint8_t hw[32], const uint8_t host[32])
{
    pv_noise_provider_pv.hash(e, hw, 32, host, 32);
}
