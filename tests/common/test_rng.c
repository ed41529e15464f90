#include "common/test_rng.h"

#include <stdio.h>
#include <stdlib.h>

static uint64_t state = 0x70726f766973696fULL;

void trng_seed_from_env(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    const char *s = getenv("PV_TEST_SEED");
    if (s && *s)
        state = strtoull(s, NULL, 10);
    fprintf(stderr, "test rng: PV_TEST_SEED=%llu\n", (unsigned long long)state);
}

/* splitmix64: tiny, fast, good enough to spread test inputs. */
uint64_t trng_u64(void)
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

size_t trng_len(size_t bound)
{
    return (size_t)(trng_u64() % (bound + 1));
}

void trng_bytes(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        uint64_t r = trng_u64();
        for (int i = 0; i < 8 && n; i++, n--)
            *p++ = (uint8_t)(r >> (8 * i));
    }
}
