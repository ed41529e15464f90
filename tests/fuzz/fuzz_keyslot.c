/* Fuzzing the key slot parser (lib/keyslot, pv_keyslot_decode), which the bootloader runs on
 * flash at every boot. The first byte says whether to make the header right (bit 0), whether to
 * sign the slot with the harness's own key, its public key put in as signer_pub and the header
 * made right (bit 1, so the checks behind the signature are reached), whether to require a UID (bit
 * 2) and whether that UID is the slot's own (bit 3) or the next 12 bytes; the rest is the slot.
 * Aborts when a slot is accepted that encoding its fields would not give back byte for byte, one
 * for another UID is accepted, or a properly signed slot is refused for anything but its UID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ed25519.h"
#include "keyslot/keyslot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t seed[32] = {0x5a, 0x17, 0x7e};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pub[32];
    static int have_pub;
    if (!have_pub)
        pv_ed25519_public(pub, seed), have_pub = 1;
    if (size < 1 + 12 + PV_KEYSLOT_LEN)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *uid = data + 1;
    uint8_t in[PV_KEYSLOT_LEN];
    memcpy(in, data + 13, sizeof in);
    if (mode & 1) {
        in[0] = 'P', in[1] = 'V', in[2] = 'K', in[3] = 'S';
        in[4] = PV_KEYSLOT_FORMAT, in[5] = 0;
        in[6] = PV_KEYSLOT_LEN & 0xff, in[7] = PV_KEYSLOT_LEN >> 8;
    }
    if (mode & 2) {
        /* the fields as they stand, signed as the trusted side signs them */
        pv_keyslot f;
        uint8_t tbs[PV_KEYSLOT_TBS_LEN], sig[64];
        f.key_id = (uint32_t)in[8] | (uint32_t)in[9] << 8 | (uint32_t)in[10] << 16 |
                   (uint32_t)in[11] << 24;
        f.key_version = (uint32_t)in[12] | (uint32_t)in[13] << 8 | (uint32_t)in[14] << 16 |
                        (uint32_t)in[15] << 24;
        memcpy(f.uid, in + 16, 12);
        f.flags = (uint32_t)in[28] | (uint32_t)in[29] << 8 | (uint32_t)in[30] << 16 |
                  (uint32_t)in[31] << 24;
        memcpy(f.psk, in + 32, 32);
        memcpy(f.signer_pub, pub, 32);
        pv_keyslot_tbs(tbs, &f);
        pv_ed25519_sign(sig, seed, pub, tbs, sizeof tbs);
        pv_keyslot_encode(in, &f, sig); /* with the right header */
    }
    int want_uid = (mode & 4) != 0;
    const uint8_t *want = (mode & 8) ? in + PV_KEYSLOT_UID_OFF : uid;
    pv_keyslot ks;
    memset(&ks, 0, sizeof ks);
    int rc = pv_keyslot_decode(&ks, in, want_uid ? want : NULL);
    if (pv_keyslot_strerror(rc) == NULL)
        abort();
    if (rc == PV_KEYSLOT_OK) {
        uint8_t again[PV_KEYSLOT_LEN];
        pv_keyslot_encode(again, &ks, in + PV_KEYSLOT_SIG_OFF);
        if (memcmp(again, in, sizeof in) != 0 || (want_uid && memcmp(ks.uid, want, 12) != 0))
            abort();
    } else if ((mode & 2) && (rc != PV_KEYSLOT_ERR_UID || !want_uid ||
                              memcmp(in + PV_KEYSLOT_UID_OFF, want, 12) == 0)) {
        abort(); /* a signed slot refused for anything but another chip's UID */
    }
    return 0;
}
