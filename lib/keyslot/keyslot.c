#include "keyslot/keyslot.h"

#include <string.h>

#include "crypto/sha256.h"
#include "crypto/wipe.h"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void pv_keyslot_encode(uint8_t out[PV_KEYSLOT_LEN], const pv_keyslot *ks)
{
    put32(out, PV_KEYSLOT_MAGIC);
    out[4] = PV_KEYSLOT_FORMAT, out[5] = 0;
    out[6] = PV_KEYSLOT_LEN & 0xff, out[7] = PV_KEYSLOT_LEN >> 8;
    put32(out + 8, ks->key_id);
    put32(out + 12, ks->key_version);
    memcpy(out + 16, ks->uid, 12);
    put32(out + 28, ks->flags);
    memcpy(out + 32, ks->psk, 32);
    memcpy(out + 64, ks->signer_pub, 32);
    pv_sha256(out + 96, out, 96);
}

int pv_keyslot_decode(pv_keyslot *ks, const uint8_t in[PV_KEYSLOT_LEN], const uint8_t uid[12])
{
    uint8_t digest[32];
    if (get32(in) != PV_KEYSLOT_MAGIC)
        return PV_KEYSLOT_ERR_MAGIC;
    if (in[4] != PV_KEYSLOT_FORMAT || in[5] != 0 || (in[6] | in[7] << 8) != PV_KEYSLOT_LEN)
        return PV_KEYSLOT_ERR_FORMAT;
    pv_sha256(digest, in, 96);
    int ok = pv_ct_equal(digest, in + 96, 32);
    pv_wipe(digest, sizeof digest);
    if (!ok)
        return PV_KEYSLOT_ERR_DIGEST;
    if (uid && !pv_ct_equal(uid, in + 16, 12))
        return PV_KEYSLOT_ERR_UID;
    ks->key_id = get32(in + 8);
    ks->key_version = get32(in + 12);
    memcpy(ks->uid, in + 16, 12);
    ks->flags = get32(in + 28);
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
    case PV_KEYSLOT_ERR_DIGEST:
        return "key slot is corrupt (digest mismatch)";
    case PV_KEYSLOT_ERR_UID:
        return "key slot belongs to another chip (UID mismatch)";
    default:
        return "unknown key slot error";
    }
}
