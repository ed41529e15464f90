#include "crypto/wipe.h"

#include <stdint.h>

void pv_wipe(void *p, size_t n)
{
    /* Volatile stores: a dead-store-eliminating compiler must still perform them. */
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--)
        *v++ = 0;
}

int pv_ct_equal(const void *a, const void *b, size_t n)
{
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    uint32_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint32_t)(x[i] ^ y[i]);
    /* (d - 1) >> 8 has bit 0 set only when d == 0 (d < 256). */
    int eq = (int)(((d - 1) >> 8) & 1);
    PV_DECLASSIFY(&eq, sizeof eq);
    return eq;
}
