/* Wiping secrets and comparing them without leaking timing. */
#ifndef PV_CRYPTO_WIPE_H
#define PV_CRYPTO_WIPE_H

#include <stddef.h>
#include <stdint.h>

/* Overwrite n bytes with zeros; the compiler may not elide it. */
void pv_wipe(void *p, size_t n);

/* 1 if the n bytes at a and b are equal, else 0; time depends on n only. The verdict itself is
 * public (a tag or digest check the caller acts on), so it is declassified. */
int pv_ct_equal(const void *a, const void *b, size_t n);

/* Declares n bytes computed from secrets public from here on (a verdict the caller branches on).
 * Nothing on the device. The constant-time check (tests/ct/, built with PV_CT_CHECK) runs under
 * valgrind with the secrets marked undefined; there this marks the bytes defined, so a branch on
 * them is allowed while every other branch or index on secret data is still reported. */
/* Returns x unchanged, hiding its value from the optimiser: a mask made from a secret bit
 * (0 - bit) stays an arithmetic mask. Without it clang turns x ^ ((x ^ y) & m) into a choice of
 * x or y: a conditional move, or a load from a secret-chosen address, as `make ct-check` found in
 * pv_fe_tobytes (clang -Os) and ge_select (clang -O2). No instruction is emitted. */
static inline uint32_t pv_ct_barrier(uint32_t x)
{
#if defined(__GNUC__)
    __asm__("" : "+r"(x));
#endif
    return x;
}

#ifdef PV_CT_CHECK
#include <valgrind/memcheck.h>
#define PV_DECLASSIFY(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define PV_DECLASSIFY(p, n) ((void)(p), (void)(n))
#endif

#endif
