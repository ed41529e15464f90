/* Deterministic, seedable randomness for differential tests (not for keys outside tests). */
#ifndef PV_TESTS_TEST_RNG_H
#define PV_TESTS_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Seed from $PV_TEST_SEED (decimal) or a fixed default; prints the seed once so a failure can be
 * replayed with the same value. */
void trng_seed_from_env(void);
uint64_t trng_u64(void);
/* Uniform in [0, bound]. */
size_t trng_len(size_t bound);
void trng_bytes(void *buf, size_t n);

#endif
