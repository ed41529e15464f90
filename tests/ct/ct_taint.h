/* Secrets as valgrind memcheck sees them (the ctgrind method): a secret input is marked
 * undefined, so memcheck reports every conditional jump, conditional move or memory address that
 * depends on it ("Conditional jump or move depends on uninitialised value(s)", "Use of
 * uninitialised value of size N"). What a computation on secrets hands out in the open (a public
 * key, a ciphertext, a signature, a value the test compares) is marked defined again first. */
#ifndef PV_CT_TAINT_H
#define PV_CT_TAINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <valgrind/memcheck.h>

static int ct_failures;

/* n bytes at p are secret from here on. */
static inline void ct_secret(void *p, size_t n)
{
    (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}

/* 1 if some bit of the n bytes at p is undefined, i.e. derived from a secret. */
static inline int ct_tainted(const void *p, size_t n)
{
    static uint8_t vbits[4096];
    int tainted = 0;
    for (size_t off = 0; off < n; off += sizeof vbits) {
        size_t k = n - off < sizeof vbits ? n - off : sizeof vbits;
        if (VALGRIND_GET_VBITS((const uint8_t *)p + off, vbits, k) != 1)
            return 0;
        for (size_t i = 0; i < k; i++)
            tainted |= vbits[i] != 0;
    }
    return tainted;
}

/* The n bytes at p, computed from secrets, become public: they must carry the secrets' taint
 * (otherwise the secret was not followed through the function and the check proved nothing),
 * and are then marked defined, so that the test's own comparisons are not reported. */
static inline void ct_reveal(const char *what, void *p, size_t n)
{
    if (!ct_tainted(p, n)) {
        fprintf(stderr, "ct: %s does not depend on the secrets marked: nothing was checked\n",
                what);
        ct_failures++;
    }
    (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
}

/* A check of the result itself (on revealed values). */
static inline void ct_expect(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "ct: wrong result: %s\n", what);
        ct_failures++;
    }
}

/* Refuses to run outside valgrind, where every check would pass without looking. */
static inline int ct_under_valgrind(const char *prog)
{
    if (RUNNING_ON_VALGRIND)
        return 1;
    fprintf(stderr,
            "%s: must run under valgrind (valgrind --error-exitcode=1 %s); natively it checks "
            "nothing\n",
            prog, prog);
    return 0;
}

#endif
