/* HKDF-SHA256 per RFC 5869. */
#include "crypto/hkdf_sha256.h"

#include "crypto/hmac_sha256.h"
#include "crypto/wipe.h"

void pv_hkdf_sha256_extract(uint8_t prk[32], const void *salt, size_t salt_len, const void *ikm,
                            size_t ikm_len)
{
    /* An absent salt is HashLen zero bytes, and HMAC zero-pads its key to a block anyway, so an
     * empty key gives the same PRK without a special case. */
    pv_hmac_sha256(prk, salt, salt_len, ikm, ikm_len);
}

int pv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
                          const void *info, size_t info_len)
{
    pv_hmac_sha256_ctx base, c;
    uint8_t t[PV_SHA256_LEN];
    uint8_t ctr = 1;
    if (out_len > PV_HKDF_SHA256_MAX_OUT)
        return -1;
    /* Key the HMAC once and copy it per block: saves two compressions per output block. Keying
     * before any output is written also lets out overlap prk. */
    pv_hmac_sha256_init(&base, prk, prk_len);
    while (out_len > 0) {
        size_t n = out_len < sizeof t ? out_len : sizeof t;
        c = base;
        /* T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty. */
        if (ctr > 1)
            pv_hmac_sha256_update(&c, t, sizeof t);
        pv_hmac_sha256_update(&c, info, info_len);
        pv_hmac_sha256_update(&c, &ctr, 1);
        pv_hmac_sha256_final(&c, t);
        for (size_t i = 0; i < n; i++)
            out[i] = t[i];
        out += n;
        out_len -= n;
        ctr++;
    }
    pv_wipe(&base, sizeof base);
    pv_wipe(t, sizeof t);
    return 0;
}

int pv_hkdf_sha256(uint8_t *out, size_t out_len, const void *salt, size_t salt_len, const void *ikm,
                   size_t ikm_len, const void *info, size_t info_len)
{
    uint8_t prk[PV_SHA256_LEN];
    int r;
    if (out_len > PV_HKDF_SHA256_MAX_OUT)
        return -1; /* before any work, so nothing is written */
    pv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
    r = pv_hkdf_sha256_expand(out, out_len, prk, sizeof prk, info, info_len);
    pv_wipe(prk, sizeof prk);
    return r;
}
