/* Signed application images: the format the bootloader checks at every reset and `provision
 * image` produces. Shared by the device (firmware/) and the host tools; docs/image-format.md is
 * the normative description. Little endian throughout.
 *
 *   [ header: hdr_size bytes ][ payload: img_size bytes ][ TLV area: PV_IMAGE_TLV_LEN bytes ]
 *   ^ region start             ^ load_addr (vector table)
 *
 * Header (the first 32 bytes; the rest of hdr_size is reserved and must be zero):
 *   off size field
 *     0    4 magic      "PVIM"
 *     4    2 format     1
 *     6    2 hdr_size   bytes before the payload (32..4096, multiple of 4)
 *     8    4 img_size   payload bytes (multiple of 4, not 0)
 *    12    4 load_addr  address of the payload when installed (region start + hdr_size)
 *    16    4 version    major << 24 | minor << 16 | patch; the anti-rollback value
 *    20    4 flags      no flag is defined yet: every bit must be 0
 *    24    8 reserved   0
 *
 * TLV area (right after the payload, not covered by the digest; every entry is checked):
 *   "PT" magic (u16), total length (u16) = 144, then exactly these three entries, any order,
 *   each type (u16), length (u16), value:
 *     0x0010 SHA256   32  SHA-256 of header (all hdr_size bytes) and payload
 *     0x0001 KEYHASH  32  SHA-256 of the signer's Ed25519 public key (diagnostics only)
 *     0x0020 ED25519  64  Ed25519 signature of "PV image v1" || the SHA256 value
 * Unknown, duplicate or missing entries make the image invalid, so no byte of an image can
 * change without it being refused. */
#ifndef PV_IMAGE_IMAGE_H
#define PV_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define PV_IMAGE_MAGIC       0x4d495650u /* "PVIM" read as a little-endian word */
#define PV_IMAGE_FORMAT      1u
#define PV_IMAGE_HDR_LEN     32u   /* defined header fields */
#define PV_IMAGE_HDR_MAX     4096u /* largest hdr_size accepted */
#define PV_IMAGE_FLAGS_KNOWN 0u    /* flag bits this format version defines */

#define PV_IMAGE_TLV_MAGIC   0x5450u /* "PT" */
#define PV_IMAGE_TLV_SHA256  0x0010u
#define PV_IMAGE_TLV_KEYHASH 0x0001u
#define PV_IMAGE_TLV_ED25519 0x0020u
#define PV_IMAGE_TLV_LEN     144u /* 4 + (4 + 32) + (4 + 32) + (4 + 64) */

/* What the Ed25519 signature signs: a fixed context string, then the image digest. The context
 * keeps a signature made by the same key for anything else from passing as an image signature. */
#define PV_IMAGE_SIG_CONTEXT     "PV image v1"
#define PV_IMAGE_SIG_CONTEXT_LEN 11u
#define PV_IMAGE_SIG_MSG_LEN     (PV_IMAGE_SIG_CONTEXT_LEN + 32u)

/* Pass as base_addr when the install address is not known (host tools without --region). */
#define PV_IMAGE_ANY_ADDR 0xffffffffu

typedef struct pv_image_hdr {
    uint16_t format;
    uint16_t hdr_size;
    uint32_t img_size;
    uint32_t load_addr;
    uint32_t version;
    uint32_t flags;
} pv_image_hdr;

/* A parsed image: header fields and where the pieces are (pointers into the caller's bytes). */
typedef struct pv_image {
    pv_image_hdr hdr;
    uint32_t total_size;      /* hdr_size + img_size + PV_IMAGE_TLV_LEN */
    const uint8_t *base;      /* first header byte */
    const uint8_t *payload;   /* img_size bytes, the application's vector table first */
    const uint8_t *digest;    /* 32 bytes in the TLV area */
    const uint8_t *keyhash;   /* 32 bytes */
    const uint8_t *signature; /* 64 bytes */
} pv_image;

enum pv_image_err {
    PV_IMAGE_OK = 0,
    PV_IMAGE_ERR_MAGIC = -1,      /* no image here (erased flash reads 0xFF...) */
    PV_IMAGE_ERR_FORMAT = -2,     /* header format is not 1 */
    PV_IMAGE_ERR_HDR_SIZE = -3,   /* hdr_size below 32, above 4096, not a multiple of 4 */
    PV_IMAGE_ERR_IMG_SIZE = -4,   /* img_size 0, not a multiple of 4, or beyond the region */
    PV_IMAGE_ERR_LOAD_ADDR = -5,  /* load_addr is not region start + hdr_size */
    PV_IMAGE_ERR_FLAGS = -6,      /* a flag bit this bootloader does not know */
    PV_IMAGE_ERR_RESERVED = -7,   /* reserved header bytes are not zero */
    PV_IMAGE_ERR_TLV = -8,        /* TLV area malformed: magic, length, unknown/missing entry */
    PV_IMAGE_ERR_DIGEST = -9,     /* header or payload changed since signing */
    PV_IMAGE_ERR_KEY = -10,       /* signed by another key than this device trusts */
    PV_IMAGE_ERR_SIGNATURE = -11, /* Ed25519 signature does not verify */
    PV_IMAGE_ERR_VECTORS = -12,   /* initial stack pointer or reset vector implausible */
};

/* Header fields to bytes (the first PV_IMAGE_HDR_LEN bytes; magic included). */
void pv_image_hdr_encode(uint8_t out[PV_IMAGE_HDR_LEN], const pv_image_hdr *h);

/* Structural check of the image at base. avail: bytes readable from base (the region size on
 * the device, the file size on the host). base_addr: the address base is installed at, or
 * PV_IMAGE_ANY_ADDR. Checks every header field and the TLV framing, not the digest or the
 * signature. On PV_IMAGE_OK fills img; on an error img->hdr holds what was decoded. */
int pv_image_parse(pv_image *img, const uint8_t *base, size_t avail, uint32_t base_addr);

/* SHA-256 over the header (hdr_size bytes) and the payload of a parsed image. */
void pv_image_digest(uint8_t out[32], const pv_image *img);

/* The message the Ed25519 signature covers, for a digest. */
void pv_image_sig_message(uint8_t out[PV_IMAGE_SIG_MSG_LEN], const uint8_t digest[32]);

/* Full check of a parsed image against the trusted public key: digest, key hash, signature
 * (in that order, so the expensive step runs last). */
int pv_image_verify(const pv_image *img, const uint8_t signer_pub[32]);

/* The application's vector table is usable: initial SP 8-byte aligned in (sp_lo, sp_hi], reset
 * vector a Thumb address inside the payload past the vector table's first two words. */
int pv_image_check_vectors(const pv_image *img, uint32_t sp_lo, uint32_t sp_hi);

/* Writes the TLV area (PV_IMAGE_TLV_LEN bytes) in the canonical order. */
void pv_image_tlv_encode(uint8_t out[PV_IMAGE_TLV_LEN], const uint8_t digest[32],
                         const uint8_t keyhash[32], const uint8_t signature[64]);

/* "major.minor.patch" of a version word; out needs 14 bytes. Returns the length. */
size_t pv_image_version_str(char out[14], uint32_t version);
/* Parses "major.minor.patch" (each part decimal, 0..255 / 0..255 / 0..65535). 0 or -1. */
int pv_image_version_parse(const char *s, uint32_t *version);

/* One line naming the field or the check that failed, for the USART and the CLI. */
const char *pv_image_strerror(int err);

#endif
