/* Noise CipherState (revision 34, section 5.1) over a pv_noise_provider. */
#include "noise/noise.h"

#include <string.h>

#include "crypto/wipe.h"

#define KEY_EMPTY    0
#define KEY_SET      1
#define KEY_DISABLED 2

void pv_noise_cipher_init(pv_noise_cipherstate *cs, const pv_noise_provider *prov,
                          const uint8_t key[32])
{
    cs->prov = prov;
    cs->n = 0;
    cs->has_key = key ? KEY_SET : KEY_EMPTY;
    if (key)
        memcpy(cs->k, key, sizeof cs->k);
    else
        memset(cs->k, 0, sizeof cs->k);
}

int pv_noise_cipher_has_key(const pv_noise_cipherstate *cs)
{
    return cs->has_key == KEY_SET;
}

void pv_noise_cipher_set_nonce(pv_noise_cipherstate *cs, uint64_t n)
{
    cs->n = n;
}

int pv_noise_cipher_crypt(pv_noise_cipherstate *cs, int enc, const uint8_t *ad, size_t ad_len,
                          const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    size_t tag = cs->has_key == KEY_SET ? PV_NOISE_TAGLEN : 0;
    size_t ct_len = enc ? len + tag : len; /* no overflow: len is checked first */
    size_t pt_len = ct_len - tag, out_len = enc ? ct_len : pt_len;
    if (cs->has_key == KEY_DISABLED)
        return PV_NOISE_ERR_STATE;
    if (len > PV_NOISE_MAX_MSG || ct_len > PV_NOISE_MAX_MSG)
        return PV_NOISE_ERR_TOO_LONG;
    if (ct_len < tag)
        return PV_NOISE_ERR_SHORT;
    if (out_len > out_cap)
        return PV_NOISE_ERR_BUFFER;
    if (!tag) {
        if (out != in && len)
            memcpy(out, in, len);
    } else {
        /* 2^64-1 is reserved (rekey); reaching it ends the CipherState. */
        if (cs->n == UINT64_MAX)
            return PV_NOISE_ERR_NONCE;
        /* encrypt and decrypt share a signature; the length passed is the plaintext's. */
        if ((enc ? cs->prov->encrypt : cs->prov->decrypt)(out, cs->k, cs->n, ad, ad_len, in,
                                                          pt_len))
            return enc ? PV_NOISE_ERR_PROVIDER : PV_NOISE_ERR_DECRYPT;
        /* Only on success: a forged message does not desynchronise the channel. */
        cs->n++;
    }
    return (int)out_len;
}

int pv_noise_cipher_rekey(pv_noise_cipherstate *cs)
{
    uint8_t t[PV_NOISE_KEYLEN + PV_NOISE_TAGLEN];
    int rc = PV_NOISE_ERR_STATE;
    if (cs->has_key == KEY_SET) {
        memset(t, 0, PV_NOISE_KEYLEN);
        rc = cs->prov->encrypt(t, cs->k, UINT64_MAX, NULL, 0, t, PV_NOISE_KEYLEN)
                 ? PV_NOISE_ERR_PROVIDER
                 : PV_NOISE_OK;
        if (!rc)
            memcpy(cs->k, t, PV_NOISE_KEYLEN);
        pv_wipe(t, sizeof t);
    }
    return rc;
}

void pv_noise_cipher_wipe(pv_noise_cipherstate *cs)
{
    pv_wipe(cs, sizeof *cs);
    /* A wiped CipherState must not fall back to plaintext pass-through. */
    cs->has_key = KEY_DISABLED;
}
