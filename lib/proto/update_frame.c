/* See update_frame.h. */
#include "proto/update_frame.h"

#include <string.h>

const char *pv_upd_strerror(int err)
{
    switch (err) {
    case PV_UPD_OK:
        return "ok";
    case PV_UPD_ERR_COBS:
        return "not a COBS frame (bytes between delimiters do not decode)";
    case PV_UPD_ERR_TOO_LONG:
        return "frame too long (more than 2114 decoded bytes)";
    case PV_UPD_ERR_SHORT:
        return "frame too short (less than type and CRC)";
    case PV_UPD_ERR_CRC:
        return "frame CRC-32 mismatch (line noise or truncation)";
    case PV_UPD_ERR_TYPE:
        return "unknown frame type";
    case PV_UPD_ERR_LENGTH:
        return "frame body length wrong for its type";
    case PV_UPD_ERR_BUFFER:
        return "output buffer too small";
    case PV_UPD_ERR_VERSION:
        return "HELLO protocol version is not 1";
    case PV_UPD_ERR_RESERVED:
        return "reserved field is not zero";
    case PV_UPD_ERR_FIELD:
        return "field value not defined by the protocol";
    default:
        return "unknown update frame error";
    }
}

const char *pv_upd_result_name(int result)
{
    static const char *const names[] = {
        [PV_UPD_INSTALLED] = "installed",
        [PV_UPD_REFUSED_VERSION] = "refused_version",
        [PV_UPD_REFUSED_ADDRESS] = "refused_address",
        [PV_UPD_FRAME_AUTH] = "frame_auth",
        [PV_UPD_BAD_OFFSET] = "bad_offset",
        [PV_UPD_BAD_IMAGE] = "bad_image",
        [PV_UPD_FLASH_ERROR] = "flash_error",
        [PV_UPD_UP_TO_DATE] = "up_to_date",
    };
    return result >= 0 && result <= (int)PV_UPD_RESULT_MAX ? names[result] : "unknown";
}

const char *pv_upd_type_name(int type)
{
    switch (type) {
    case PV_UPD_MSG1:
        return "MSG1";
    case PV_UPD_MSG2:
        return "MSG2";
    case PV_UPD_READY:
        return "READY";
    case PV_UPD_REPORT:
        return "REPORT";
    case PV_UPD_DATA:
        return "DATA";
    case PV_UPD_ACK:
        return "ACK";
    case PV_UPD_NAK:
        return "NAK";
    case PV_UPD_START:
        return "START";
    default:
        return "unknown";
    }
}

/* ---- blocks ---- */

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

void pv_upd_hello_encode(uint8_t out[PV_UPD_HELLO_LEN], const pv_upd_hello *h)
{
    memset(out, 0, PV_UPD_HELLO_LEN);
    out[0] = h->version;
    memcpy(out + 4, h->uid, 12);
    pv_upd_put32(out + 16, h->key_id);
    pv_upd_put32(out + 20, h->boot_version);
    pv_upd_put32(out + 24, h->app_version);
    pv_upd_put32(out + 28, h->floor);
    pv_upd_put32(out + 32, h->region_size);
    out[36] = (uint8_t)h->chunk_max;
    out[37] = (uint8_t)(h->chunk_max >> 8);
}

int pv_upd_hello_decode(pv_upd_hello *h, const uint8_t in[PV_UPD_HELLO_LEN])
{
    memset(h, 0, sizeof *h);
    h->version = in[0];
    memcpy(h->uid, in + 4, 12);
    h->key_id = pv_upd_get32(in + 16);
    h->boot_version = pv_upd_get32(in + 20);
    h->app_version = pv_upd_get32(in + 24);
    h->floor = pv_upd_get32(in + 28);
    h->region_size = pv_upd_get32(in + 32);
    h->chunk_max = (uint16_t)(in[36] | in[37] << 8);
    if (h->version != PV_UPD_VERSION)
        return PV_UPD_ERR_VERSION;
    if (!all_zero(in + 1, 3) || !all_zero(in + 38, 2))
        return PV_UPD_ERR_RESERVED;
    return PV_UPD_OK;
}

void pv_upd_offer_encode(uint8_t out[PV_UPD_OFFER_LEN], const pv_upd_offer *o)
{
    memset(out, 0, PV_UPD_OFFER_LEN);
    out[0] = o->kind;
    out[1] = o->chunk_units;
    pv_upd_put32(out + 4, o->version);
    pv_upd_put32(out + 8, o->size);
    pv_upd_put32(out + 12, o->load_addr);
    memcpy(out + 16, o->digest16, 16);
}

int pv_upd_offer_decode(pv_upd_offer *o, const uint8_t in[PV_UPD_OFFER_LEN])
{
    memset(o, 0, sizeof *o);
    o->kind = in[0];
    o->chunk_units = in[1];
    o->version = pv_upd_get32(in + 4);
    o->size = pv_upd_get32(in + 8);
    o->load_addr = pv_upd_get32(in + 12);
    memcpy(o->digest16, in + 16, 16);
    if (o->kind != PV_UPD_OFFER_NONE && o->kind != PV_UPD_OFFER_IMAGE)
        return PV_UPD_ERR_FIELD;
    if (!all_zero(in + 2, 2))
        return PV_UPD_ERR_RESERVED;
    return PV_UPD_OK;
}

void pv_upd_report_encode(uint8_t out[PV_UPD_REPORT_LEN], const pv_upd_report *r)
{
    memset(out, 0, PV_UPD_REPORT_LEN);
    out[0] = r->result;
    pv_upd_put32(out + 4, r->app_version);
    pv_upd_put32(out + 8, r->floor);
    pv_upd_put32(out + 12, r->written);
    memcpy(out + 16, r->sha256, 32);
}

int pv_upd_report_decode(pv_upd_report *r, const uint8_t in[PV_UPD_REPORT_LEN])
{
    memset(r, 0, sizeof *r);
    r->result = in[0];
    r->app_version = pv_upd_get32(in + 4);
    r->floor = pv_upd_get32(in + 8);
    r->written = pv_upd_get32(in + 12);
    memcpy(r->sha256, in + 16, 32);
    if (r->result > PV_UPD_RESULT_MAX)
        return PV_UPD_ERR_FIELD;
    if (!all_zero(in + 1, 3))
        return PV_UPD_ERR_RESERVED;
    return PV_UPD_OK;
}

void pv_upd_prologue(uint8_t out[PV_UPD_PROLOGUE_LEN], const uint8_t hello[PV_UPD_HELLO_LEN])
{
    memcpy(out, PV_UPD_PROLOGUE_TAG, PV_UPD_PROLOGUE_TAG_LEN);
    memcpy(out + PV_UPD_PROLOGUE_TAG_LEN, hello, PV_UPD_HELLO_LEN);
}

/* ---- CRC-32/ISO-HDLC: reflected polynomial 0xEDB88320, four bits per step (a 64-byte table
 * keeps the bootloader small and is still a few cycles per byte) ---- */

uint32_t pv_upd_crc32(uint32_t crc, const void *data, size_t len)
{
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
        0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
        0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
    };
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nibble[crc & 0xFu];
        crc = (crc >> 4) ^ nibble[crc & 0xFu];
    }
    return ~crc;
}

/* ---- COBS ---- */

int pv_upd_cobs_encode(uint8_t *out, size_t out_cap, const uint8_t *in, size_t len)
{
    if (out_cap < 1)
        return PV_UPD_ERR_BUFFER;
    size_t o = 1, code_at = 0;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            if (o >= out_cap)
                return PV_UPD_ERR_BUFFER;
            out[o++] = in[i];
            code++;
            if (code == 0xFF && i + 1 < len) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
        if (o > out_cap) /* a new block's code byte did not fit */
            return PV_UPD_ERR_BUFFER;
    }
    out[code_at] = code;
    return (int)o;
}

int pv_upd_cobs_decode(uint8_t *out, size_t out_cap, const uint8_t *in, size_t len)
{
    /* First pass: structure and decoded length, writing nothing. */
    size_t i = 0, n = 0;
    while (i < len) {
        uint8_t code = in[i++];
        if (code == 0 || (size_t)(code - 1) > len - i)
            return PV_UPD_ERR_COBS;
        for (size_t k = 0; k < (size_t)(code - 1); k++)
            if (in[i + k] == 0)
                return PV_UPD_ERR_COBS;
        i += code - 1u;
        n += code - 1u;
        if (code != 0xFF && i < len)
            n++;
    }
    if (n > out_cap)
        return PV_UPD_ERR_BUFFER;
    /* Second pass: the output never runs ahead of the input, so in place is safe. */
    size_t o = 0;
    i = 0;
    while (i < len) {
        uint8_t code = in[i++];
        for (size_t k = 0; k < (size_t)(code - 1); k++)
            out[o++] = in[i++];
        if (code != 0xFF && i < len)
            out[o++] = 0;
    }
    return (int)o;
}

/* ---- frames ---- */

int pv_upd_body_len_ok(uint8_t type, size_t body_len)
{
    switch (type) {
    case PV_UPD_START:
        return body_len == 0;
    case PV_UPD_MSG1:
        return body_len == PV_UPD_MSG1_LEN;
    case PV_UPD_MSG2:
        return body_len == PV_UPD_MSG2_LEN;
    case PV_UPD_READY:
    case PV_UPD_ACK:
    case PV_UPD_NAK:
        return body_len == PV_UPD_U32_LEN;
    case PV_UPD_REPORT:
        return body_len == PV_UPD_REPORT_MSG_LEN;
    case PV_UPD_DATA:
        return body_len >= PV_UPD_DATA_MIN && body_len <= PV_UPD_DATA_MAX;
    default:
        return 0;
    }
}

static int type_known(uint8_t type)
{
    return type == PV_UPD_START || (type >= PV_UPD_MSG1 && type <= PV_UPD_NAK);
}

int pv_upd_frame_encode(uint8_t *out, size_t out_cap, uint8_t type, const uint8_t *body,
                        size_t body_len)
{
    if (!type_known(type))
        return PV_UPD_ERR_TYPE;
    if (!pv_upd_body_len_ok(type, body_len))
        return PV_UPD_ERR_LENGTH;
    /* COBS works on blocks of at most 254 bytes: encode type || body || crc through a small
     * staging buffer would need the whole frame, so build it in the output's tail instead. */
    size_t raw_len = 1 + body_len + PV_UPD_CRC_LEN;
    size_t need = PV_UPD_COBS_MAX(raw_len) + 2;
    if (out_cap < need)
        return PV_UPD_ERR_BUFFER;
    uint8_t *raw = out + out_cap - raw_len; /* the raw frame, at the very end of out */
    raw[0] = type;
    if (body_len)
        memmove(raw + 1, body, body_len);
    pv_upd_put32(raw + 1 + body_len, pv_upd_crc32(0, raw, 1 + body_len));
    /* The encoder writes at most one byte more than it has read (plus the leading code byte),
     * so with the raw frame at the end of out and the encoding growing from out + 1, the write
     * position stays below the read position: out_cap >= COBS_MAX(raw_len) + 2 guarantees it. */
    out[0] = 0;
    size_t o = 2, code_at = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < raw_len; i++) {
        uint8_t b = raw[i];
        if (b == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = b;
            code++;
            if (code == 0xFF && i + 1 < raw_len) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out[o++] = 0;
    return (int)o;
}

int pv_upd_frame_decode(pv_upd_frame *f, uint8_t *seg, size_t seg_len)
{
    f->type = 0;
    f->body = NULL;
    f->body_len = 0;
    if (seg_len > PV_UPD_COBS_MAX(PV_UPD_FRAME_MAX))
        return PV_UPD_ERR_TOO_LONG;
    int n = pv_upd_cobs_decode(seg, seg_len, seg, seg_len);
    if (n < 0)
        return n;
    if ((size_t)n > PV_UPD_FRAME_MAX)
        return PV_UPD_ERR_TOO_LONG;
    if ((size_t)n < 1 + PV_UPD_CRC_LEN)
        return PV_UPD_ERR_SHORT;
    size_t body_len = (size_t)n - 1 - PV_UPD_CRC_LEN;
    if (pv_upd_crc32(0, seg, 1 + body_len) != pv_upd_get32(seg + 1 + body_len))
        return PV_UPD_ERR_CRC;
    if (!type_known(seg[0]))
        return PV_UPD_ERR_TYPE;
    if (!pv_upd_body_len_ok(seg[0], body_len))
        return PV_UPD_ERR_LENGTH;
    f->type = seg[0];
    f->body = seg + 1;
    f->body_len = body_len;
    return PV_UPD_OK;
}

void pv_upd_reader_init(pv_upd_reader *r)
{
    r->len = 0;
    r->overlong = 0;
    r->ended = 0;
}

int pv_upd_reader_push(pv_upd_reader *r, uint8_t byte, pv_upd_frame *f)
{
    if (r->ended) {
        r->len = 0;
        r->overlong = 0;
        r->ended = 0;
    }
    if (byte != 0) {
        if (r->len < sizeof r->buf)
            r->buf[r->len++] = byte;
        else
            r->overlong = 1;
        return PV_UPD_NONE;
    }
    r->ended = 1;
    if (r->overlong)
        return PV_UPD_ERR_TOO_LONG;
    if (r->len == 0)
        return PV_UPD_NONE;
    int rc = pv_upd_frame_decode(f, r->buf, r->len);
    return rc == PV_UPD_OK ? PV_UPD_FRAME : rc;
}
