/* Noise HandshakeState (revision 34, sections 5.3 and 9) for 25519_ChaChaPoly_SHA256.
 * Reading and writing share one code path (pv_noise_handshake_message) to keep the device image
 * small. */
#include "noise/noise.h"

#include <string.h>

#include "crypto/wipe.h"

#define BIT(slot) (1u << (slot))

/* Any failure after the state has started to change makes the handshake unusable. */
static int fail(pv_noise_handshake *hs, int rc)
{
    pv_wipe(hs, sizeof *hs);
    return rc;
}

/* MixHash(e.public_key), and in PSK handshakes also MixKey(e.public_key) (section 9.2). */
static int mix_ephemeral(pv_noise_handshake *hs, const uint8_t pub[32])
{
    int rc = pv_noise_symmetric_mix_hash(&hs->ss, pub, 32);
    if (!rc && (hs->pat->flags & PV_NOISE_PSK))
        rc = pv_noise_symmetric_mix(&hs->ss, pub, 32, 0);
    return rc;
}

int pv_noise_handshake_init(pv_noise_handshake *hs, const pv_noise_provider *prov,
                            const pv_noise_pattern *pat, int initiator, const uint8_t *prologue,
                            size_t prologue_len, const pv_noise_keys *keys)
{
    int rc = PV_NOISE_ERR_PARAM;
    pv_wipe(hs, sizeof *hs);
    if (!prov || !pat || !keys || (prologue_len && !prologue))
        return rc;
    hs->pat = pat;
    hs->initiator = initiator != 0;
    for (unsigned i = 0; i < PV_NOISE_KEY_INPUTS; i++)
        if (keys->key[i]) {
            memcpy(hs->key[i], keys->key[i], 32);
            hs->have |= BIT(i);
        }
    rc = pv_noise_symmetric_init(&hs->ss, prov, pat->name, pat->name_len);
    if (!rc)
        rc = pv_noise_symmetric_mix_hash(&hs->ss, prologue, prologue_len);
    /* Local public keys (x = 0: e, 1: s). */
    for (unsigned x = 0; x < 2; x++)
        if (!rc && (hs->have & BIT(x)) &&
            prov->dh_public(hs->key[PV_NOISE_KEY_E_PUB + x], hs->key[x]))
            rc = PV_NOISE_ERR_PROVIDER;
    hs->have |= (uint8_t)((hs->have & 3u) << PV_NOISE_KEY_E_PUB);
    /* Pre-messages: the initiator's keys, then the responder's, e before s; flag bit 2*side + x. */
    for (unsigned bit = 0; !rc && bit < 4; bit++) {
        unsigned x = bit & 1u, local = (bit >> 1) != hs->initiator;
        unsigned slot = (local ? PV_NOISE_KEY_E_PUB : PV_NOISE_KEY_RE) + x;
        if (!(pat->flags & BIT(bit)))
            continue;
        if (!(hs->have & BIT(slot)))
            rc = PV_NOISE_ERR_PARAM;
        else
            rc = x ? pv_noise_symmetric_mix_hash(&hs->ss, hs->key[slot], 32)
                   : mix_ephemeral(hs, hs->key[slot]);
    }
    if (rc)
        return fail(hs, rc);
    hs->state = PV_NOISE_HS_ACTIVE;
    return PV_NOISE_OK;
}

int pv_noise_handshake_my_turn(const pv_noise_handshake *hs)
{
    /* Messages alternate, the initiator sending the even ones (one-way: only message 0). */
    return hs->state == PV_NOISE_HS_ACTIVE && (hs->msg & 1u) != hs->initiator;
}

/* Each piece of the message is bounds-checked before it is written or read. */
int pv_noise_handshake_message(pv_noise_handshake *hs, int wr, const uint8_t *in, size_t in_len,
                               uint8_t *out, size_t out_cap)
{
    size_t o = 0;
    const uint8_t *t;
    int rc = PV_NOISE_ERR_STATE;
    if (pv_noise_handshake_my_turn(hs) != wr || hs->state != PV_NOISE_HS_ACTIVE)
        return wr ? rc : fail(hs, rc);
    t = hs->pat->tokens + hs->pos;
    rc = PV_NOISE_ERR_TOO_LONG;
    if (in_len > PV_NOISE_MAX_MSG)
        goto out;
    if (out_cap > PV_NOISE_MAX_MSG)
        out_cap = PV_NOISE_MAX_MSG; /* a message never exceeds it */
    rc = PV_NOISE_OK;

    for (; rc >= 0 && *t != PV_NOISE_TOK_END; t++) {
        unsigned tok = *t;
        if (tok <= PV_NOISE_TOK_S) {
            /* e or s: between a key slot (local public when writing, remote when reading) and
             * the wire. s is encrypted once there is a key. */
            unsigned x = tok - PV_NOISE_TOK_E;
            size_t clen = 32 + (x && hs->ss.cs.has_key ? PV_NOISE_TAGLEN : 0);
            unsigned slot = (wr ? PV_NOISE_KEY_E_PUB : PV_NOISE_KEY_RE) + x;
            if (wr && !(hs->have & BIT(slot)))
                break;
            if ((wr ? out_cap : in_len) - o < clen) {
                rc = wr ? PV_NOISE_ERR_BUFFER : PV_NOISE_ERR_SHORT;
                break;
            }
            const uint8_t *src = wr ? hs->key[slot] : in + o;
            uint8_t *dst = wr ? out + o : hs->key[slot];
            if (x) {
                rc = pv_noise_symmetric_crypt_and_hash(&hs->ss, wr, src, wr ? 32 : clen, dst,
                                                       wr ? clen : 32);
            } else {
                memcpy(dst, src, 32);
                rc = mix_ephemeral(hs, src);
            }
            hs->have |= BIT(slot);
            o += clen;
        } else if (tok == PV_NOISE_TOK_PSK) {
            if (!(hs->have & BIT(PV_NOISE_KEY_PSK)))
                break;
            rc = pv_noise_symmetric_mix(&hs->ss, hs->key[PV_NOISE_KEY_PSK], 32, 1);
        } else {
            /* DH token: bit 1 = initiator's key is static, bit 0 = responder's key is static. */
            unsigned a = (tok >> 1) & 1u, b = tok & 1u;
            unsigned mine = PV_NOISE_KEY_E + (hs->initiator ? a : b);
            unsigned theirs = PV_NOISE_KEY_RE + (hs->initiator ? b : a);
            uint8_t dh[PV_NOISE_DHLEN];
            if (~hs->have & (BIT(mine) | BIT(theirs)))
                break;
            rc = hs->ss.cs.prov->dh(dh, hs->key[mine], hs->key[theirs])
                     ? PV_NOISE_ERR_DH
                     : pv_noise_symmetric_mix(&hs->ss, dh, sizeof dh, 0);
            pv_wipe(dh, sizeof dh);
        }
    }
    /* Stopped early without an error: a key the pattern needs was not supplied. */
    if (rc >= 0 && *t != PV_NOISE_TOK_END)
        rc = PV_NOISE_ERR_PARAM;
    /* The payload; its length checks are the CipherState's. */
    if (rc >= 0)
        rc = pv_noise_symmetric_crypt_and_hash(&hs->ss, wr, wr ? in : in + o, in_len - (wr ? 0 : o),
                                               wr ? out + o : out, out_cap - (wr ? o : 0));
out:
    if (rc < 0)
        return fail(hs, rc);
    hs->pos = (uint8_t)(t - hs->pat->tokens + 1);
    if (++hs->msg == hs->pat->nmsg)
        hs->state = PV_NOISE_HS_COMPLETE;
    return rc + (int)(wr ? o : 0);
}

int pv_noise_handshake_split(pv_noise_handshake *hs, pv_noise_cipherstate *tx,
                             pv_noise_cipherstate *rx)
{
    pv_noise_cipherstate *c2 = hs->initiator ? rx : tx;
    int rc;
    if (hs->state != PV_NOISE_HS_COMPLETE)
        return PV_NOISE_ERR_STATE;
    rc = pv_noise_symmetric_split(&hs->ss, hs->initiator ? tx : rx, c2);
    /* One-way patterns: only c1 (initiator -> responder) exists. */
    if (hs->pat->nmsg == 1)
        pv_noise_cipher_wipe(c2);
    if (rc)
        return fail(hs, rc);
    pv_wipe(hs->key, PV_NOISE_KEY_SECRETS * sizeof hs->key[0]);
    hs->state = PV_NOISE_HS_SPLIT;
    return PV_NOISE_OK;
}

int pv_noise_handshake_remote_static(const pv_noise_handshake *hs, uint8_t out[32])
{
    if (hs->state == PV_NOISE_HS_DEAD || !(hs->have & BIT(PV_NOISE_KEY_RS)))
        return PV_NOISE_ERR_STATE;
    memcpy(out, hs->key[PV_NOISE_KEY_RS], 32);
    return PV_NOISE_OK;
}

int pv_noise_handshake_hash(const pv_noise_handshake *hs, uint8_t out[32])
{
    if (hs->state < PV_NOISE_HS_COMPLETE)
        return PV_NOISE_ERR_STATE;
    pv_noise_symmetric_handshake_hash(&hs->ss, out);
    return PV_NOISE_OK;
}

void pv_noise_handshake_wipe(pv_noise_handshake *hs)
{
    pv_wipe(hs, sizeof *hs);
}
