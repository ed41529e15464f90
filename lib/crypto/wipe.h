/* Wiping secrets and comparing them without leaking timing. */
#ifndef PV_CRYPTO_WIPE_H
#define PV_CRYPTO_WIPE_H

#include <stddef.h>

/* Overwrite n bytes with zeros; the compiler may not elide it. */
void pv_wipe(void *p, size_t n);

/* 1 if the n bytes at a and b are equal, else 0; time depends on n only. */
int pv_ct_equal(const void *a, const void *b, size_t n);

#endif
