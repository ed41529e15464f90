#include "keyslot/keyslot.h"

#include <string.h>

#include "crypto/ed25519.h"
#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "util/le.h"

/* Bytes 0..95 of the slot: everything but the signature. */
static void put_fields(uint8_t out[PV_KEYSLOT_SIG_OFF], const pv_keyslot *ks)
{
    pv_st32(out, PV_KEYSLOT_MAGIC);
    out[4] = PV_KEYSLOT_FORMAT, out[5] = 0;
    out[6] = PV_KEYSLOT_LEN & 0xff, out[7] = PV_KEYSLOT_LEN >> 8;
    pv_st32(out + 8, ks->key_id);
    pv_st32(out + 12, ks->key_version);
    memcpy(out + PV_KEYSLOT_UID_OFF, ks->uid, 12);
    pv_st32(out + 28, ks->flags);
    memcpy(out + 32, ks->psk, 32);
    memcpy(out + 64, ks->signer_pub, 32);
}

/* The signed message of the fields f (bytes 0..95 of a slot): the PSK replaced by its
 * commitment. */
static void tbs_of(uint8_t tbs[PV_KEYSLOT_TBS_LEN], const uint8_t f[PV_KEYSLOT_SIG_OFF])
{
    pv_sha256_ctx c;
    memcpy(tbs, f, 32);
    pv_sha256_init(&c);
    pv_sha256_update(&c, PV_KEYSLOT_PSK_CONTEXT, PV_KEYSLOT_PSK_CONTEXT_LEN);
    pv_sha256_update(&c, f + 32, 32);
    pv_sha256_final(&c, tbs + 32);
    /* The commitment is public by design (keyslot.h): the signature check may branch on it. */
    PV_DECLASSIFY(tbs + 32, 32);
    memcpy(tbs + 64, f + 64, 32);
}

void pv_keyslot_tbs(uint8_t tbs[PV_KEYSLOT_TBS_LEN], const pv_keyslot *ks)
{
    uint8_t f[PV_KEYSLOT_SIG_OFF];
    put_fields(f, ks);
    tbs_of(tbs, f);
    pv_wipe(f, sizeof f);
}

void pv_keyslot_encode(uint8_t out[PV_KEYSLOT_LEN], const pv_keyslot *ks, const uint8_t sig[64])
{
    put_fields(out, ks);
    memcpy(out + PV_KEYSLOT_SIG_OFF, sig, 64);
}

int pv_keyslot_decode(pv_keyslot *ks, const uint8_t in[PV_KEYSLOT_LEN], const uint8_t uid[12])
{
    uint8_t tbs[PV_KEYSLOT_TBS_LEN];
    if (pv_ld32(in) != PV_KEYSLOT_MAGIC)
        return PV_KEYSLOT_ERR_MAGIC;
    if (in[4] != PV_KEYSLOT_FORMAT || in[5] != 0 || (in[6] | in[7] << 8) != PV_KEYSLOT_LEN)
        return PV_KEYSLOT_ERR_FORMAT;
    /* Nothing in the slot is trusted before its signature verifies under its own signer key:
     * only that key's owner can have made a slot that carries it. */
    tbs_of(tbs, in);
    if (pv_ed25519_verify(in + PV_KEYSLOT_SIG_OFF, in + 64, tbs, sizeof tbs) != 0)
        return PV_KEYSLOT_ERR_SIGNATURE;
    if (uid && !pv_ct_equal(uid, in + PV_KEYSLOT_UID_OFF, 12))
        return PV_KEYSLOT_ERR_UID;
    ks->key_id = pv_ld32(in + 8);
    ks->key_version = pv_ld32(in + 12);
    memcpy(ks->uid, in + PV_KEYSLOT_UID_OFF, 12);
    ks->flags = pv_ld32(in + 28);
    memcpy(ks->psk, in + 32, 32);
    memcpy(ks->signer_pub, in + 64, 32);
    return PV_KEYSLOT_OK;
}

const char *pv_keyslot_strerror(int err)
{
    switch (err) {
    case PV_KEYSLOT_OK:
        return "key slot valid";
    case PV_KEYSLOT_ERR_MAGIC:
        return "no key slot (bad magic: device not provisioned)";
    case PV_KEYSLOT_ERR_FORMAT:
        return "key slot has an unknown format or length";
    case PV_KEYSLOT_ERR_SIGNATURE:
        return "key slot signature does not verify (forged, corrupt, or not signed by its signer "
               "key)";
    case PV_KEYSLOT_ERR_UID:
        return "key slot belongs to another chip (UID mismatch)";
    default:
        return "unknown key slot error";
    }
}
