/* The key slot: what provisioning writes for one device and the bootloader checks at every boot.
 *
 * 128 bytes, little endian, at the address the recipe's layout gives (its own flash sector,
 * write-protected after provisioning). It binds a per-device PSK to one chip's 96-bit Unique ID
 * and carries the product owner's Ed25519 image-signing public key, so one bootloader binary
 * serves every product. The trailing SHA-256 detects corruption and half-written slots; it is not
 * a secret check (the PSK's secrecy rests on RDP Level 2, the binding on the UID comparison).
 *
 *   off size field
 *     0    4 magic "PVKS"
 *     4    2 format (1)
 *     6    2 length (128)
 *     8    4 key_id      which product master key derived the PSK (recipe key label id)
 *    12    4 key_version generation of that key; lets a product rotate master keys
 *    16   12 uid         the chip's Unique ID (0x1FFF7A10..1B) as read by the stub itself
 *    28    4 flags       reserved, 0
 *    32   32 psk         HMAC-SHA256(master, uid) computed inside the HSM
 *    64   32 signer_pub  Ed25519 public key that must sign application images
 *    96   32 digest      SHA-256 of bytes 0..95
 */
#ifndef PV_KEYSLOT_H
#define PV_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

#define PV_KEYSLOT_LEN    128u
#define PV_KEYSLOT_FORMAT 1u
#define PV_KEYSLOT_MAGIC  0x534b5650u /* "PVKS" read as a little-endian word */

typedef struct pv_keyslot {
    uint32_t key_id;
    uint32_t key_version;
    uint8_t uid[12];
    uint32_t flags;
    uint8_t psk[32];
    uint8_t signer_pub[32];
} pv_keyslot;

enum pv_keyslot_err {
    PV_KEYSLOT_OK = 0,
    PV_KEYSLOT_ERR_MAGIC = -1,  /* not a key slot (erased flash reads 0xFF...) */
    PV_KEYSLOT_ERR_FORMAT = -2, /* unknown format or length */
    PV_KEYSLOT_ERR_DIGEST = -3, /* corrupt or half written */
    PV_KEYSLOT_ERR_UID = -4,    /* valid slot, but for another chip */
};

/* Serialise ks into out (PV_KEYSLOT_LEN bytes) with its digest. */
void pv_keyslot_encode(uint8_t out[PV_KEYSLOT_LEN], const pv_keyslot *ks);

/* Parse and check a slot; with uid non-NULL also require it to belong to that chip (compared in
 * constant time). On success fills ks (which then holds the PSK: wipe it after use). */
int pv_keyslot_decode(pv_keyslot *ks, const uint8_t in[PV_KEYSLOT_LEN], const uint8_t uid[12]);

/* Human-readable name of an error code, for logs and the USART. */
const char *pv_keyslot_strerror(int err);

#endif
