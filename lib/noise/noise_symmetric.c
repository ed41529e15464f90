/* Noise SymmetricState (revision 34, section 5.2) with Noise's HKDF (section 4.3). */
#include "noise/noise.h"

#include <string.h>

#include "crypto/wipe.h"

/* ck, t[0], t[1] = HKDF(ck, ikm, 2 + more): output 1 replaces ck. Each output is
 * HMAC(temp_key, previous output || i); the first has no previous output. */
static int hkdf(const pv_noise_provider *p, uint8_t ck[32], const uint8_t *ikm, size_t len,
                uint8_t t[2][32], unsigned more)
{
    uint8_t tk[PV_NOISE_HASHLEN];
    int rc = p->hmac(tk, ck, ikm, len, NULL, 0);
    const uint8_t *prev = ck;
    for (unsigned i = 0; i < 2 + more; i++) {
        uint8_t c = (uint8_t)(i + 1), *o = i ? t[i - 1] : ck;
        rc |= p->hmac(o, tk, prev, i ? PV_NOISE_HASHLEN : 0, &c, 1);
        prev = o;
    }
    pv_wipe(tk, sizeof tk);
    return rc ? PV_NOISE_ERR_PROVIDER : PV_NOISE_OK;
}

int pv_noise_symmetric_init(pv_noise_symmetricstate *ss, const pv_noise_provider *prov,
                            const void *protocol_name, size_t name_len)
{
    int rc = PV_NOISE_OK;
    pv_noise_cipher_init(&ss->cs, prov, NULL);
    memset(ss->h, 0, sizeof ss->h);
    if (name_len <= PV_NOISE_HASHLEN)
        memcpy(ss->h, protocol_name, name_len);
    else if (prov->hash(ss->h, protocol_name, name_len, NULL, 0))
        rc = PV_NOISE_ERR_PROVIDER;
    memcpy(ss->ck, ss->h, sizeof ss->ck);
    return rc;
}

int pv_noise_symmetric_mix_hash(pv_noise_symmetricstate *ss, const void *data, size_t len)
{
    return ss->cs.prov->hash(ss->h, ss->h, sizeof ss->h, data, len) ? PV_NOISE_ERR_PROVIDER
                                                                    : PV_NOISE_OK;
}

int pv_noise_symmetric_mix(pv_noise_symmetricstate *ss, const uint8_t *ikm, size_t len,
                           int with_hash)
{
    uint8_t t[2][32];
    int rc = hkdf(ss->cs.prov, ss->ck, ikm, len, t, with_hash != 0);
    if (!rc && with_hash)
        rc = pv_noise_symmetric_mix_hash(ss, t[0], 32);
    pv_noise_cipher_init(&ss->cs, ss->cs.prov, t[with_hash != 0]);
    pv_wipe(t, sizeof t);
    return rc;
}

void pv_noise_symmetric_handshake_hash(const pv_noise_symmetricstate *ss, uint8_t out[32])
{
    memcpy(out, ss->h, sizeof ss->h);
}

int pv_noise_symmetric_crypt_and_hash(pv_noise_symmetricstate *ss, int enc, const uint8_t *in,
                                      size_t len, uint8_t *out, size_t out_cap)
{
    /* h' = HASH(h || ciphertext). Decrypting, hash before out may overwrite in (in place). */
    const pv_noise_provider *p = ss->cs.prov;
    uint8_t h2[PV_NOISE_HASHLEN];
    int n = !enc && p->hash(h2, ss->h, sizeof ss->h, in, len) ? PV_NOISE_ERR_PROVIDER : 0;
    if (!n)
        n = pv_noise_cipher_crypt(&ss->cs, enc, ss->h, sizeof ss->h, in, len, out, out_cap);
    if (n >= 0 && enc && p->hash(h2, ss->h, sizeof ss->h, out, (size_t)n))
        n = PV_NOISE_ERR_PROVIDER;
    if (n >= 0)
        memcpy(ss->h, h2, sizeof h2);
    return n;
}

int pv_noise_symmetric_split(pv_noise_symmetricstate *ss, pv_noise_cipherstate *c1,
                             pv_noise_cipherstate *c2)
{
    /* temp_k1, temp_k2 = HKDF(ck, "", 2) is what MixKey("") computes: ck = temp_k1 and the
     * handshake key = temp_k2. */
    const pv_noise_provider *p = ss->cs.prov;
    int rc = pv_noise_symmetric_mix(ss, NULL, 0, 0);
    pv_noise_cipher_init(c1, p, ss->ck);
    pv_noise_cipher_init(c2, p, ss->cs.k);
    pv_wipe(ss->ck, sizeof ss->ck);
    pv_noise_cipher_wipe(&ss->cs);
    if (rc) {
        pv_noise_cipher_wipe(c1);
        pv_noise_cipher_wipe(c2);
    }
    return rc;
}
