/* The firmware update protocol's wire format (docs/update-protocol.md), shared by the bootloader
 * (firmware/boot_update.c), the bridge and the station: frame types and sizes, the HELLO, OFFER
 * and REPORT blocks, the Noise prologue, COBS framing with bounded buffers and the CRC-32 that
 * guards each frame. C11, no heap, no I/O: the caller moves the bytes.
 *
 * On the wire a frame is 0x00 COBS(type || body || crc32) 0x00, crc32 = CRC-32/ISO-HDLC (zlib's
 * crc32) of type || body, little-endian. Bytes between delimiters that do not decode are dropped;
 * the boot console's text lines share the line and are dropped the same way.
 *
 * Typical use:
 *   sender:   n = pv_upd_frame_encode(wire, sizeof wire, PV_UPD_START, NULL, 0); write(wire, n)
 *   receiver: pv_upd_reader_init(&r); for each byte b read:
 *                 rc = pv_upd_reader_push(&r, b, &f);
 *                 rc == PV_UPD_FRAME: f.type, f.body[0..f.body_len) (valid until the next push);
 *                 rc < 0: a segment was dropped (PV_UPD_ERR_*), 0: nothing complete yet. */
#ifndef PV_PROTO_UPDATE_FRAME_H
#define PV_PROTO_UPDATE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PV_UPD_VERSION 1u /* HELLO's protocol version */

/* Noise_NNpsk0_25519_ChaChaPoly_SHA256 prologue: this tag, then the 40-byte HELLO block. */
#define PV_UPD_PROLOGUE_TAG     "pv-update-v1"
#define PV_UPD_PROLOGUE_TAG_LEN 12u

#define PV_UPD_HELLO_LEN    40u
#define PV_UPD_OFFER_LEN    32u
#define PV_UPD_REPORT_LEN   48u
#define PV_UPD_PROLOGUE_LEN (PV_UPD_PROLOGUE_TAG_LEN + PV_UPD_HELLO_LEN)
#define PV_UPD_TAG_LEN      16u   /* ChaChaPoly tag */
#define PV_UPD_CHUNK_MAX    2048u /* largest DATA payload (image bytes) the device takes */
#define PV_UPD_OFFSET_LEN   4u    /* u32 offset in front of a DATA payload */

/* Body lengths per frame type. */
#define PV_UPD_MSG1_NOISE_LEN 48u /* e (32) || tag of the empty payload (16) */
#define PV_UPD_MSG1_LEN       (PV_UPD_HELLO_LEN + PV_UPD_MSG1_NOISE_LEN) /* 88 */
#define PV_UPD_MSG2_LEN       (32u + PV_UPD_OFFER_LEN + PV_UPD_TAG_LEN)  /* 80 */
#define PV_UPD_U32_LEN        4u                                         /* READY/ACK/NAK */
#define PV_UPD_REPORT_MSG_LEN (PV_UPD_REPORT_LEN + PV_UPD_TAG_LEN)       /* 64 */
#define PV_UPD_DATA_MIN       (PV_UPD_OFFSET_LEN + PV_UPD_TAG_LEN)       /* 20 */
#define PV_UPD_DATA_MAX       (PV_UPD_OFFSET_LEN + PV_UPD_CHUNK_MAX + PV_UPD_TAG_LEN) /* 2068 */

#define PV_UPD_CRC_LEN 4u
/* Largest decoded frame (type || body || crc) either side accepts; a bound with room to spare
 * above the largest frame defined (DATA: 1 + 2068 + 4). */
#define PV_UPD_FRAME_MAX (2u + 2048u + 64u)
/* COBS adds one byte per started 254-byte block (at least one). */
#define PV_UPD_COBS_MAX(n) ((n) + (n) / 254u + 1u)
/* A whole frame on the wire, both delimiters included. */
#define PV_UPD_WIRE_MAX (PV_UPD_COBS_MAX(PV_UPD_FRAME_MAX) + 2u)

enum pv_upd_type {
    PV_UPD_MSG1 = 0x01,   /* D->S: HELLO || Noise message 1 */
    PV_UPD_MSG2 = 0x02,   /* S->D: Noise message 2 (its payload is the OFFER) */
    PV_UPD_READY = 0x03,  /* D->S: u32 next offset (0) */
    PV_UPD_REPORT = 0x04, /* D->S: the REPORT as one transport message */
    PV_UPD_DATA = 0x05,   /* S->D: one transport message: u32 offset || image bytes */
    PV_UPD_ACK = 0x06,    /* D->S: u32 next expected offset */
    PV_UPD_NAK = 0x07,    /* D->S: u32 next expected offset; the last frame was dropped */
    PV_UPD_START = 0x10,  /* S->D: empty; starts (or restarts) a session */
};

/* REPORT results. */
enum pv_upd_result {
    PV_UPD_INSTALLED = 0,
    PV_UPD_REFUSED_VERSION = 1,
    PV_UPD_REFUSED_ADDRESS = 2,
    PV_UPD_FRAME_AUTH = 3,
    PV_UPD_BAD_OFFSET = 4,
    PV_UPD_BAD_IMAGE = 5,
    PV_UPD_FLASH_ERROR = 6,
    PV_UPD_UP_TO_DATE = 7,
};
#define PV_UPD_RESULT_MAX PV_UPD_UP_TO_DATE

/* OFFER kinds. */
#define PV_UPD_OFFER_NONE  0u /* nothing newer for this device */
#define PV_UPD_OFFER_IMAGE 1u /* an image follows */

enum pv_upd_err {
    PV_UPD_OK = 0,
    PV_UPD_ERR_COBS = -1,     /* the bytes between two delimiters are not COBS */
    PV_UPD_ERR_TOO_LONG = -2, /* segment or frame longer than PV_UPD_FRAME_MAX */
    PV_UPD_ERR_SHORT = -3,    /* decoded frame shorter than type + CRC */
    PV_UPD_ERR_CRC = -4,      /* CRC-32 does not match */
    PV_UPD_ERR_TYPE = -5,     /* unknown frame type */
    PV_UPD_ERR_LENGTH = -6,   /* body length wrong for its type */
    PV_UPD_ERR_BUFFER = -7,   /* the caller's output buffer is too small */
    PV_UPD_ERR_VERSION = -8,  /* HELLO protocol version is not 1 */
    PV_UPD_ERR_RESERVED = -9, /* a reserved field is not zero */
    PV_UPD_ERR_FIELD = -10,   /* a field holds a value the format does not define */
};
/* One line naming the error, for logs and messages. */
const char *pv_upd_strerror(int err);
/* "installed", "refused_version", ... ("unknown" outside the table). */
const char *pv_upd_result_name(int result);
/* "START", "MSG1", ... ("unknown" for any other byte). */
const char *pv_upd_type_name(int type);

static inline uint32_t pv_upd_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void pv_upd_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---- Blocks ------------------------------------------------------------------------------- */

/* HELLO: what the device tells about itself, in clear (it is the prologue's tail). */
typedef struct pv_upd_hello {
    uint8_t version;       /* PV_UPD_VERSION */
    uint8_t uid[12];       /* as the bootloader read the chip's UID registers */
    uint32_t key_id;       /* from the key slot */
    uint32_t boot_version; /* major << 24 | minor << 16 | patch */
    uint32_t app_version;  /* running application's version, 0 when none is valid */
    uint32_t floor;        /* anti-rollback floor */
    uint32_t region_size;  /* application region size */
    uint16_t chunk_max;    /* largest DATA payload the device takes */
} pv_upd_hello;

typedef struct pv_upd_offer {
    uint8_t kind;        /* PV_UPD_OFFER_* */
    uint8_t chunk_units; /* chunk size in 256-byte units (8 = 2048) */
    uint32_t version;    /* image version from its signed header */
    uint32_t size;       /* whole image: header, payload, TLV area */
    uint32_t load_addr;  /* where the image goes: the layout's application address */
    uint8_t digest16[16];
} pv_upd_offer;

typedef struct pv_upd_report {
    uint8_t result;       /* enum pv_upd_result */
    uint32_t app_version; /* version now in the application region, 0 when none is valid */
    uint32_t floor;       /* anti-rollback floor after the update */
    uint32_t written;     /* image bytes programmed in this session */
    uint8_t sha256[32];   /* SHA-256 of the region's image as read back, zero if none */
} pv_upd_report;

void pv_upd_hello_encode(uint8_t out[PV_UPD_HELLO_LEN], const pv_upd_hello *h);
/* PV_UPD_OK, ERR_VERSION or ERR_RESERVED. */
int pv_upd_hello_decode(pv_upd_hello *h, const uint8_t in[PV_UPD_HELLO_LEN]);
void pv_upd_offer_encode(uint8_t out[PV_UPD_OFFER_LEN], const pv_upd_offer *o);
/* PV_UPD_OK, ERR_FIELD (kind not 0 or 1) or ERR_RESERVED. */
int pv_upd_offer_decode(pv_upd_offer *o, const uint8_t in[PV_UPD_OFFER_LEN]);
void pv_upd_report_encode(uint8_t out[PV_UPD_REPORT_LEN], const pv_upd_report *r);
/* PV_UPD_OK, ERR_FIELD (unknown result) or ERR_RESERVED. */
int pv_upd_report_decode(pv_upd_report *r, const uint8_t in[PV_UPD_REPORT_LEN]);

/* The Noise prologue: PV_UPD_PROLOGUE_TAG then the encoded HELLO, both sides. */
void pv_upd_prologue(uint8_t out[PV_UPD_PROLOGUE_LEN], const uint8_t hello[PV_UPD_HELLO_LEN]);

/* ---- CRC-32/ISO-HDLC ---------------------------------------------------------------------- */
/* zlib's convention: crc = pv_upd_crc32(0, a, n) gives the CRC of a, and
 * pv_upd_crc32(pv_upd_crc32(0, a, n), b, m) the CRC of a || b. */
uint32_t pv_upd_crc32(uint32_t crc, const void *data, size_t len);

/* ---- COBS --------------------------------------------------------------------------------- */
/* Encodes len bytes (canonical COBS: no code byte after a final full 254-byte block) into out;
 * the result holds no 0x00. Returns the length, or PV_UPD_ERR_BUFFER if it would exceed out_cap
 * (PV_UPD_COBS_MAX(len) is always enough). in and out must not overlap. */
int pv_upd_cobs_encode(uint8_t *out, size_t out_cap, const uint8_t *in, size_t len);
/* Decodes one segment (the bytes between two delimiters; a 0x00 inside is an error). out may
 * equal in (decoding in place); no other overlap. Checks the whole segment before writing, so on
 * PV_UPD_ERR_COBS out is untouched. Returns the length, ERR_COBS or ERR_BUFFER. */
int pv_upd_cobs_decode(uint8_t *out, size_t out_cap, const uint8_t *in, size_t len);

/* ---- Frames ------------------------------------------------------------------------------- */
/* 1 if body_len is right for type (DATA: PV_UPD_DATA_MIN..PV_UPD_DATA_MAX), else 0. */
int pv_upd_body_len_ok(uint8_t type, size_t body_len);
/* Writes 0x00 COBS(type || body || crc32) 0x00 to out. Returns the bytes written, or
 * ERR_TYPE / ERR_LENGTH (body length wrong for the type) / ERR_BUFFER. body may be NULL when
 * body_len is 0. */
int pv_upd_frame_encode(uint8_t *out, size_t out_cap, uint8_t type, const uint8_t *body,
                        size_t body_len);

typedef struct pv_upd_frame {
    uint8_t type;
    const uint8_t *body; /* points into the decoder's buffer */
    size_t body_len;
} pv_upd_frame;

/* Decodes one segment in place (seg: the bytes between two delimiters, seg_len of them): COBS,
 * length, CRC, type, body length. On PV_UPD_OK f->body points into seg. */
int pv_upd_frame_decode(pv_upd_frame *f, uint8_t *seg, size_t seg_len);

/* A receiver that collects bytes up to each 0x00 delimiter in a bounded buffer. */
typedef struct pv_upd_reader {
    size_t len;       /* bytes of the current segment held in buf */
    uint8_t overlong; /* the current segment outgrew buf: it is dropped at its delimiter */
    uint8_t ended;    /* the last push ended a segment: the next one starts afresh */
    uint8_t buf[PV_UPD_COBS_MAX(PV_UPD_FRAME_MAX)];
} pv_upd_reader;

#define PV_UPD_NONE  0 /* nothing complete (or an empty segment between two delimiters) */
#define PV_UPD_FRAME 1 /* a frame: see f */

void pv_upd_reader_init(pv_upd_reader *r);
/* Takes one byte from the line. At a delimiter that ends a non-empty segment, decodes it:
 * PV_UPD_FRAME (f filled, f->body valid until the next push) or the PV_UPD_ERR_* that dropped
 * it (ERR_TOO_LONG for a segment that outgrew the buffer). After ERR_COBS the segment's raw bytes
 * are still in buf[0..len) (text from the console, for a caller that shows it). Otherwise
 * PV_UPD_NONE. */
int pv_upd_reader_push(pv_upd_reader *r, uint8_t byte, pv_upd_frame *f);

#endif
