/* The key slot: what provisioning writes for one device and the bootloader checks at every boot.
 *
 * 160 bytes, little endian, at the address the recipe's layout gives (its own flash sector,
 * write-protected after provisioning). It binds a per-device PSK to one chip's 96-bit Unique ID
 * and carries the product owner's Ed25519 image-signing public key, so one bootloader binary
 * serves every product. The slot is signed by that same key (inside the trusted side's PKCS#11
 * token), so only the product owner can make a slot that names a given UID and signer key:
 * a slot edited for another chip, or signed by any other key, does not verify.
 *
 *   off size field
 *     0    4 magic "PVKS"
 *     4    2 format (2)
 *     6    2 length (160)
 *     8    4 key_id      which product master key derived the PSK (recipe key label id)
 *    12    4 key_version generation of that key; lets a product rotate master keys
 *    16   12 uid         the chip's Unique ID (0x1FFF7A10..1B) as read by the stub itself
 *    28    4 flags       reserved, 0
 *    32   32 psk         HMAC-SHA256(master, "pv-psk-v1" || uid) computed inside the HSM
 *    64   32 signer_pub  Ed25519 public key that must sign application images and this slot
 *    96   64 signature   Ed25519 (signer_pub's private key) over the 96-byte message
 *                        bytes 0..31 || SHA-256("pv-slot-psk" || psk) || signer_pub
 *
 * The signed message carries a commitment to the PSK, not the PSK: the message goes through the
 * token's C_Sign (and may be logged or audited) without the secret, and neither the message nor
 * the signature (deterministic, a function of the private key and the message only) tells
 * anything about a 256-bit PSK. The PSK is still bound: another PSK gives another commitment.
 * The message starts with the slot's magic and format, a context no other message signed by the
 * image-signing key has (images sign "PV image v1" || digest, lib/image). */
#ifndef PV_KEYSLOT_H
#define PV_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

#define PV_KEYSLOT_LEN             160u
#define PV_KEYSLOT_FORMAT          2u
#define PV_KEYSLOT_MAGIC           0x534b5650u /* "PVKS" read as a little-endian word */
#define PV_KEYSLOT_UID_OFF         16u /* the UID in an encoded slot (the stub compares it) */
#define PV_KEYSLOT_SIG_OFF         96u /* the signature: the slot's last 64 bytes */
#define PV_KEYSLOT_SIGNER_OFF      64u /* signer_pub: the key the record after the slot checks under */
#define PV_KEYSLOT_TBS_LEN         96u /* the message the signature covers */
#define PV_KEYSLOT_PSK_CONTEXT     "pv-slot-psk"
#define PV_KEYSLOT_PSK_CONTEXT_LEN 11u

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
    PV_KEYSLOT_ERR_MAGIC = -1,     /* not a key slot (erased flash reads 0xFF...) */
    PV_KEYSLOT_ERR_FORMAT = -2,    /* unknown format or length */
    PV_KEYSLOT_ERR_SIGNATURE = -3, /* forged, corrupt, half written, or signed by another key */
    PV_KEYSLOT_ERR_UID = -4,       /* genuine slot, but for another chip */
};

/* The message the product's image-signing key signs for ks (it holds no secret). */
void pv_keyslot_tbs(uint8_t tbs[PV_KEYSLOT_TBS_LEN], const pv_keyslot *ks);

/* Serialise ks with sig, its signature over pv_keyslot_tbs(ks), into out. */
void pv_keyslot_encode(uint8_t out[PV_KEYSLOT_LEN], const pv_keyslot *ks, const uint8_t sig[64]);

/* Parse and check a slot: header, then the signature under the slot's own signer_pub, then,
 * with uid non-NULL, that it belongs to that chip (compared in constant time). On success
 * fills ks (which then holds the PSK: wipe it after use). */
int pv_keyslot_decode(pv_keyslot *ks, const uint8_t in[PV_KEYSLOT_LEN], const uint8_t uid[12]);

/* Human-readable name of an error code, for logs and the USART. */
const char *pv_keyslot_strerror(int err);

#endif
