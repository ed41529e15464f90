/* Proof that the constant-time check can fail: deliberately leaky code, linked only into this
 * program, run under valgrind the same way as ct_check. run_ct_check.sh expects valgrind to
 * report each leak (the run fails) and fails itself if it does not.
 *
 *   ct_selftest memcmp   a Poly1305 tag compared with memcmp (stops at the first difference):
 *                        "Conditional jump or move depends on uninitialised value(s)"
 *   ct_selftest index    a table indexed by a key byte (the address depends on the secret):
 *                        "Use of uninitialised value of size 8"
 *   ct_selftest clean    the same tag check with pv_ct_equal: no report */
#include <stdio.h>
#include <string.h>

#include "crypto/poly1305.h"
#include "crypto/wipe.h"
#include "ct/ct_taint.h"

/* The classic mistake: memcmp returns at the first differing byte. Called through a volatile
 * pointer so that it is the C library's memcmp, as on the device: at -O2 GCC would otherwise
 * inline memcmp(...) == 0 of 16 bytes as one vector compare, without a branch. (noinline: the
 * report names the function, which run_ct_check.sh looks for.) */
static int (*volatile libc_memcmp)(const void *, const void *, size_t) = memcmp;
__attribute__((noinline)) static int leaky_tag_ok(const uint8_t want[16], const uint8_t got[16])
{
    return libc_memcmp(want, got, 16) == 0;
}

/* A lookup table indexed by secret bytes (an S-box, a window of precomputed points). */
__attribute__((noinline)) static uint8_t leaky_lookup(const uint8_t *key, size_t n)
{
    static uint8_t table[256];
    uint8_t acc = 0;
    for (size_t i = 0; i < 256; i++)
        table[i] = (uint8_t)(i * 167 + 13);
    for (size_t i = 0; i < n; i++)
        acc ^= table[key[i]];
    return acc;
}

int main(int argc, char **argv)
{
    uint8_t key[32], msg[64], tag[16], got[16] = {0};
    pv_poly1305_ctx c;
    const char *mode = argc > 1 ? argv[1] : "";
    if (!ct_under_valgrind(argv[0]))
        return 2;
    for (unsigned i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 29 + 1);
    memset(msg, 'm', sizeof msg);
    ct_secret(key, sizeof key);

    if (!strcmp(mode, "memcmp") || !strcmp(mode, "clean")) {
        pv_poly1305_init(&c, key);
        pv_poly1305_update(&c, msg, sizeof msg);
        pv_poly1305_final(&c, tag);
        int ok = mode[0] == 'm' ? leaky_tag_ok(tag, got) : pv_ct_equal(tag, got, 16);
        (void)VALGRIND_MAKE_MEM_DEFINED(&ok, sizeof ok); /* only the compare itself counts */
        printf("ct_selftest %s: tag %s\n", mode, ok ? "accepted" : "refused");
        return 0;
    }
    if (!strcmp(mode, "index")) {
        uint8_t v = leaky_lookup(key, sizeof key);
        (void)VALGRIND_MAKE_MEM_DEFINED(&v, 1);
        printf("ct_selftest index: %u\n", v);
        return 0;
    }
    fprintf(stderr, "usage: %s memcmp|index|clean\n", argv[0]);
    return 2;
}
