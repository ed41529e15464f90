/* The per-device data record: the values a recipe asks for (a serial number, a MAC address, the
 * line MES's fields), one set per device, written with the key slot and signed like it
 * (docs/device-data.md). The trusted side builds and signs it; the application (and anyone with
 * the product's image-signing public key) reads and checks it. No heap, bounded, for the device
 * and the host.
 *
 * It lives PV_DEVDATA_OFFSET bytes into the key slot's region (same sector, written and
 * write-protected with the slot). Little endian:
 *
 *   off size field
 *     0    4 magic "PVDD"
 *     4    2 format (1)
 *     6    2 length L: the whole record with its signature, a multiple of 4, at most
 *              PV_DEVDATA_MAX
 *     8   12 uid        the chip's Unique ID (the same as the key slot's)
 *    20    1 count      number of fields
 *    21    3 reserved, 0
 *    24    . fields, back to back: type (1), name length n (1), value length v (1), 0 (1),
 *              n bytes of name ([a-z0-9_], 1..PV_DEVDATA_NAME_MAX), v bytes of value
 *     .    . zero bytes up to L - 64
 *   L-64  64 signature  Ed25519 by the key slot's signer_pub over bytes 0 .. L-65
 *
 * Field types: PV_DEVDATA_TEXT (printable ASCII, 0x20..0x7e), PV_DEVDATA_MAC (6 bytes),
 * PV_DEVDATA_INT (8 bytes, two's complement). The signed message starts with "PVDD", a context no
 * other message of the image-signing key has (key slots start "PVKS", images "PV image v1"). */
#ifndef PV_DEVDATA_H
#define PV_DEVDATA_H

#include <stddef.h>
#include <stdint.h>

#define PV_DEVDATA_MAGIC      0x44445650u /* "PVDD" read as a little-endian word */
#define PV_DEVDATA_FORMAT     1u
#define PV_DEVDATA_OFFSET     0x100u /* from the key slot's address */
#define PV_DEVDATA_MAX        1024u  /* the largest record, signature included */
#define PV_DEVDATA_HDR        24u
#define PV_DEVDATA_FIELD_HDR  4u
#define PV_DEVDATA_SIG_LEN    64u
#define PV_DEVDATA_NAME_MAX   31u
#define PV_DEVDATA_VALUE_MAX  255u
#define PV_DEVDATA_FIELDS_MAX 32u

enum pv_devdata_type { PV_DEVDATA_TEXT = 1, PV_DEVDATA_MAC = 2, PV_DEVDATA_INT = 3 };

enum pv_devdata_err {
    PV_DEVDATA_OK = 0,
    PV_DEVDATA_ERR_MAGIC = -1,     /* no record (erased flash reads 0xFF...) */
    PV_DEVDATA_ERR_FORMAT = -2,    /* unknown format, bad length, or fields that do not parse */
    PV_DEVDATA_ERR_SIGNATURE = -3, /* altered, half written, or signed by another key */
    PV_DEVDATA_ERR_UID = -4,       /* genuine, but for another chip */
    PV_DEVDATA_ERR_FULL = -5,      /* building: the field does not fit or is malformed */
    PV_DEVDATA_ERR_ABSENT = -6,    /* find: no field of that name */
};

/* Building a record in a caller's buffer (the trusted side). */
typedef struct pv_devdata_builder {
    uint8_t *buf;
    size_t cap, used;
    unsigned count;
} pv_devdata_builder;

/* Starts a record for uid in buf (cap >= PV_DEVDATA_HDR + PV_DEVDATA_SIG_LEN). */
int pv_devdata_begin(pv_devdata_builder *b, uint8_t *buf, size_t cap, const uint8_t uid[12]);
/* Appends a field; PV_DEVDATA_ERR_FULL if it does not fit, the name is not 1..31 of [a-z0-9_],
 * the name is there already, a TEXT value is not printable ASCII, or a MAC/INT value has the
 * wrong length. Nothing is appended then. */
int pv_devdata_add(pv_devdata_builder *b, enum pv_devdata_type type, const char *name,
                   const uint8_t *value, size_t len);
/* Pads and writes the length; returns the length of the signed message (the signature goes at
 * buf + that, and the record is that + PV_DEVDATA_SIG_LEN bytes), or 0 if it does not fit. */
size_t pv_devdata_finish(pv_devdata_builder *b);

/* Checks the record at rec (avail bytes readable there): header, field structure, then the
 * signature under signer_pub, then (uid non-NULL) that it names that chip. *len gets the
 * record's length. Only after PV_DEVDATA_OK may pv_devdata_find be used on it. */
int pv_devdata_check(const uint8_t *rec, size_t avail, const uint8_t signer_pub[32],
                     const uint8_t uid[12], size_t *len);
/* The field called name in a checked record: its type, value and value length. */
int pv_devdata_find(const uint8_t *rec, const char *name, unsigned *type, const uint8_t **value,
                    size_t *len);
/* Calls fn for every field of a checked record in order; non-zero from fn stops and is returned. */
int pv_devdata_each(const uint8_t *rec,
                    int (*fn)(void *ctx, unsigned type, const char *name, size_t name_len,
                              const uint8_t *value, size_t len),
                    void *ctx);

const char *pv_devdata_strerror(int err);

#endif
