/* Fuzzing the key slot parser (lib/keyslot, pv_keyslot_decode), which the bootloader runs on
 * flash at every boot. The first byte says whether to make the header and digest right (so the
 * field checks are reached) and whether to require a UID (the next 12 bytes); the rest is the
 * slot. Aborts when a slot is accepted that encoding its fields would not give back byte for
 * byte, one for another UID is accepted, or a slot with a good digest is refused for anything
 * but its header or UID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sha256.h"
#include "keyslot/keyslot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 + 12 + PV_KEYSLOT_LEN)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *uid = data + 1;
    uint8_t in[PV_KEYSLOT_LEN];
    memcpy(in, data + 13, sizeof in);
    if (mode & 1) {
        if (mode & 2) {
            in[0] = 'P', in[1] = 'V', in[2] = 'K', in[3] = 'S';
            in[4] = PV_KEYSLOT_FORMAT, in[5] = 0;
            in[6] = PV_KEYSLOT_LEN & 0xff, in[7] = PV_KEYSLOT_LEN >> 8;
        }
        pv_sha256(in + 96, in, 96);
    }
    pv_keyslot ks;
    memset(&ks, 0, sizeof ks);
    int want_uid = (mode & 4) != 0;
    int rc = pv_keyslot_decode(&ks, in, want_uid ? uid : NULL);
    if (pv_keyslot_strerror(rc) == NULL)
        abort();
    if (rc == PV_KEYSLOT_OK) {
        uint8_t again[PV_KEYSLOT_LEN];
        pv_keyslot_encode(again, &ks);
        if (memcmp(again, in, sizeof in) != 0 || (want_uid && memcmp(ks.uid, uid, 12) != 0))
            abort();
    } else if ((mode & 3) == 3 && rc != PV_KEYSLOT_ERR_UID) {
        abort();
    }
    return 0;
}
