/* X25519 (RFC 7748 section 5): Montgomery ladder over the u-coordinate only, with a masked
 * conditional swap, so the run time and memory accesses do not depend on the scalar or point. */
#include "crypto/x25519.h"

#include "crypto/fe25519.h"
#include "crypto/wipe.h"

int pv_x25519(uint8_t shared[32], const uint8_t scalar[32], const uint8_t point[32])
{
    /* Ladder state (x2, z2 | x3, z3) in one array: one swap of two 16-word halves, one wipe. */
    uint32_t st[32], m, acc = 0, swap = 0;
    uint32_t *x2 = st, *z2 = st + 8, *x3 = st + 16, *z3 = st + 24;
    pv_fe x1, tmp[4];
    uint32_t *a = tmp[0], *b = tmp[1], *c = tmp[2], *d = tmp[3];

    pv_fe_frombytes(x1, point); /* drops bit 255; u >= p is used as u mod p */
    pv_fe_set(x2, 1);
    pv_fe_set(z2, 0);
    pv_fe_copy(x3, x1);
    pv_fe_set(z3, 1);

    for (int t = 254; t >= -1; t--) {
        /* Scalar bit t, clamped on the fly (bits 0-2 and 255 clear, 254 set: a multiple of the
         * cofactor 8, fixed length). t = -1 only performs the final swap back. */
        uint32_t bit = t == 254 ? 1 : t < 3 ? 0 : (uint32_t)(scalar[t >> 3] >> (t & 7)) & 1;
        swap ^= bit;
        m = pv_ct_barrier(0 - swap);
        for (int i = 0; i < 16; i++) {
            uint32_t x = (st[i] ^ st[i + 16]) & m;
            st[i] ^= x;
            st[i + 16] ^= x;
        }
        swap = bit;
        if (t < 0)
            break;

        pv_fe_add(a, x2, z2); /* A */
        pv_fe_sub(b, x2, z2); /* B */
        pv_fe_add(c, x3, z3); /* C */
        pv_fe_sub(d, x3, z3); /* D */
        pv_fe_mul(d, d, a);   /* DA */
        pv_fe_mul(c, c, b);   /* CB */
        pv_fe_sq(a, a);       /* AA */
        pv_fe_sq(b, b);       /* BB */
        pv_fe_add(x3, d, c);
        pv_fe_sq(x3, x3); /* x3 = (DA + CB)^2 */
        pv_fe_sub(z3, d, c);
        pv_fe_sq(z3, z3);
        pv_fe_mul(z3, z3, x1); /* z3 = x1 * (DA - CB)^2 */
        pv_fe_mul(x2, a, b);   /* x2 = AA * BB */
        pv_fe_sub(b, a, b);    /* E = AA - BB */
        pv_fe_mul_small(c, b, 121665);
        pv_fe_add(c, c, a);
        pv_fe_mul(z2, b, c); /* z2 = E * (AA + a24 * E) */
    }

    pv_fe_inv(z2, z2);
    pv_fe_mul(x2, x2, z2);
    pv_fe_tobytes(shared, x2);

    /* An all-zero result (a small-order input point): OR the bytes, no data-dependent branch. */
    for (int i = 0; i < 32; i++)
        acc |= shared[i];

    pv_wipe(st, sizeof st);
    pv_wipe(tmp, sizeof tmp);
    /* Whether the exchange must be aborted is public. */
    int rc = -(int)(((acc - 1) >> 8) & 1);
    PV_DECLASSIFY(&rc, sizeof rc);
    return rc;
}

void pv_x25519_public(uint8_t pub[32], const uint8_t scalar[32])
{
    static const uint8_t nine[32] = {9};
    (void)pv_x25519(pub, scalar, nine); /* a clamped scalar times the base point is never 0 */
}
