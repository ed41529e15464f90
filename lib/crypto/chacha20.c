/* ChaCha20, IETF variant (RFC 8439 section 2.3/2.4). Rolled loops: code size matters more than
 * speed on the device. */
#include "crypto/chacha20.h"

#include "crypto/wipe.h"
#include "util/le.h"

static uint32_t rotl(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

void pv_chacha20_xor(uint8_t *out, const uint8_t *in, size_t len, const uint8_t key[32],
                     const uint8_t nonce[12], uint32_t counter)
{
    uint32_t st[32], *x = st + 16; /* input block, then working block: one wipe */
    unsigned i;

    st[0] = 0x61707865; /* "expand 32-byte k" */
    st[1] = 0x3320646e;
    st[2] = 0x79622d32;
    st[3] = 0x6b206574;
    for (i = 0; i < 8; i++)
        st[4 + i] = pv_ld32(key + 4 * i);
    st[12] = counter;
    for (i = 0; i < 3; i++)
        st[13 + i] = pv_ld32(nonce + 4 * i);

    while (len) {
        for (i = 0; i < 16; i++)
            x[i] = st[i];
        /* 10 double rounds = 80 quarter rounds: i & 3 picks the column, bit 2 of i switches
         * between column (s = 0) and diagonal (s = 1) rounds. */
        for (i = 0; i < 80; i++) {
            unsigned a = i & 3, s = (i >> 2) & 1;
            unsigned b = 4 + ((a + s) & 3), c = 8 + ((a + 2 * s) & 3), d = 12 + ((a + 3 * s) & 3);
            /* A quarter round is four steps a += b; d = (d ^ a) <<< r, swapping (a, b) with
             * (c, d) after each; r = 16, 12, 8, 7 are the bytes of rot. */
            for (unsigned rot = 0x07080c10u; rot; rot >>= 8) {
                x[a] += x[b];
                x[d] = rotl(x[d] ^ x[a], rot & 31);
                unsigned t = a;
                a = c;
                c = t;
                t = b;
                b = d;
                d = t;
            }
        }
        size_t n = len < 64 ? len : 64;
        for (i = 0; i < n; i++)
            out[i] = in[i] ^ (uint8_t)((x[i >> 2] + st[i >> 2]) >> (8 * (i & 3)));
        /* A 32-bit counter wraps (RFC 8439 leaves > 2^32 blocks to the caller). */
        st[12]++;
        out += n;
        in += n;
        len -= n;
    }
    pv_wipe(st, sizeof st);
}
