#include "image/image.h"

#include <string.h>

#include "crypto/ed25519.h"
#include "crypto/sha256.h"
#include "crypto/wipe.h"

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

void pv_image_hdr_encode(uint8_t out[PV_IMAGE_HDR_LEN], const pv_image_hdr *h)
{
    memset(out, 0, PV_IMAGE_HDR_LEN);
    put32(out, PV_IMAGE_MAGIC);
    put16(out + 4, h->format);
    put16(out + 6, h->hdr_size);
    put32(out + 8, h->img_size);
    put32(out + 12, h->load_addr);
    put32(out + 16, h->version);
    put32(out + 20, h->flags);
}

/* Entries of the TLV area: exactly one of each, fixed lengths. */
static int parse_tlv(pv_image *img, const uint8_t *t)
{
    if (get16(t) != PV_IMAGE_TLV_MAGIC || get16(t + 2) != PV_IMAGE_TLV_LEN)
        return PV_IMAGE_ERR_TLV;
    img->digest = img->keyhash = img->signature = NULL;
    uint32_t off = 4;
    while (off < PV_IMAGE_TLV_LEN) {
        if (PV_IMAGE_TLV_LEN - off < 4)
            return PV_IMAGE_ERR_TLV;
        uint16_t type = get16(t + off), len = get16(t + off + 2);
        const uint8_t **slot;
        uint16_t want;
        switch (type) {
        case PV_IMAGE_TLV_SHA256:
            slot = &img->digest, want = 32;
            break;
        case PV_IMAGE_TLV_KEYHASH:
            slot = &img->keyhash, want = 32;
            break;
        case PV_IMAGE_TLV_ED25519:
            slot = &img->signature, want = 64;
            break;
        default:
            return PV_IMAGE_ERR_TLV;
        }
        if (len != want || *slot || PV_IMAGE_TLV_LEN - off - 4 < len)
            return PV_IMAGE_ERR_TLV;
        *slot = t + off + 4;
        off += 4u + len;
    }
    /* Three entries of fixed sizes filling exactly 144 bytes: all present, or a length lied. */
    if (!img->digest || !img->keyhash || !img->signature)
        return PV_IMAGE_ERR_TLV;
    return PV_IMAGE_OK;
}

int pv_image_parse(pv_image *img, const uint8_t *base, size_t avail, uint32_t base_addr)
{
    pv_image_hdr *h = &img->hdr;
    memset(img, 0, sizeof *img);
    if (avail < PV_IMAGE_HDR_LEN || get32(base) != PV_IMAGE_MAGIC)
        return PV_IMAGE_ERR_MAGIC;
    h->format = get16(base + 4);
    h->hdr_size = get16(base + 6);
    h->img_size = get32(base + 8);
    h->load_addr = get32(base + 12);
    h->version = get32(base + 16);
    h->flags = get32(base + 20);
    if (h->format != PV_IMAGE_FORMAT)
        return PV_IMAGE_ERR_FORMAT;
    if (h->hdr_size < PV_IMAGE_HDR_LEN || h->hdr_size > PV_IMAGE_HDR_MAX || (h->hdr_size & 3u) ||
        h->hdr_size > avail)
        return PV_IMAGE_ERR_HDR_SIZE;
    /* Sizes are compared by subtraction so no sum can wrap. */
    size_t room = avail - h->hdr_size;
    if (h->img_size == 0 || (h->img_size & 3u) || room < PV_IMAGE_TLV_LEN ||
        h->img_size > room - PV_IMAGE_TLV_LEN)
        return PV_IMAGE_ERR_IMG_SIZE;
    if (base_addr != PV_IMAGE_ANY_ADDR ? h->load_addr != base_addr + h->hdr_size
                                       : h->load_addr < h->hdr_size)
        return PV_IMAGE_ERR_LOAD_ADDR;
    if (h->flags & ~PV_IMAGE_FLAGS_KNOWN)
        return PV_IMAGE_ERR_FLAGS;
    uint8_t any = 0;
    for (uint32_t i = 24; i < h->hdr_size; i++)
        any |= base[i];
    if (any)
        return PV_IMAGE_ERR_RESERVED;
    img->base = base;
    img->payload = base + h->hdr_size;
    img->total_size = h->hdr_size + h->img_size + PV_IMAGE_TLV_LEN;
    return parse_tlv(img, img->payload + h->img_size);
}

void pv_image_digest(uint8_t out[32], const pv_image *img)
{
    pv_sha256(out, img->base, (size_t)img->hdr.hdr_size + img->hdr.img_size);
}

void pv_image_sig_message(uint8_t out[PV_IMAGE_SIG_MSG_LEN], const uint8_t digest[32])
{
    memcpy(out, PV_IMAGE_SIG_CONTEXT, PV_IMAGE_SIG_CONTEXT_LEN);
    memcpy(out + PV_IMAGE_SIG_CONTEXT_LEN, digest, 32);
}

int pv_image_verify(const pv_image *img, const uint8_t signer_pub[32])
{
    uint8_t digest[32], keyhash[32], msg[PV_IMAGE_SIG_MSG_LEN];
    pv_image_digest(digest, img);
    if (!pv_ct_equal(digest, img->digest, 32))
        return PV_IMAGE_ERR_DIGEST;
    pv_sha256(keyhash, signer_pub, 32);
    if (!pv_ct_equal(keyhash, img->keyhash, 32))
        return PV_IMAGE_ERR_KEY;
    /* The signature is checked over the recomputed digest: the same bytes as the stored copy
     * here, but the decision then rests only on what was hashed from the image itself. */
    pv_image_sig_message(msg, digest);
    if (pv_ed25519_verify(img->signature, signer_pub, msg, sizeof msg) != 0)
        return PV_IMAGE_ERR_SIGNATURE;
    return PV_IMAGE_OK;
}

int pv_image_check_vectors(const pv_image *img, uint32_t sp_lo, uint32_t sp_hi)
{
    if (img->hdr.img_size < 8)
        return PV_IMAGE_ERR_VECTORS;
    uint32_t sp = get32(img->payload), reset = get32(img->payload + 4);
    uint32_t entry = reset & ~1u;
    if (sp <= sp_lo || sp > sp_hi || (sp & 7u))
        return PV_IMAGE_ERR_VECTORS;
    uint32_t off = entry - img->hdr.load_addr; /* wraps to a huge value below the payload */
    if (!(reset & 1u) || off < 8u || off >= img->hdr.img_size)
        return PV_IMAGE_ERR_VECTORS;
    return PV_IMAGE_OK;
}

void pv_image_tlv_encode(uint8_t out[PV_IMAGE_TLV_LEN], const uint8_t digest[32],
                         const uint8_t keyhash[32], const uint8_t signature[64])
{
    put16(out, PV_IMAGE_TLV_MAGIC);
    put16(out + 2, PV_IMAGE_TLV_LEN);
    put16(out + 4, PV_IMAGE_TLV_SHA256);
    put16(out + 6, 32);
    memcpy(out + 8, digest, 32);
    put16(out + 40, PV_IMAGE_TLV_KEYHASH);
    put16(out + 42, 32);
    memcpy(out + 44, keyhash, 32);
    put16(out + 76, PV_IMAGE_TLV_ED25519);
    put16(out + 78, 64);
    memcpy(out + 80, signature, 64);
}

static size_t put_dec(char *out, uint32_t v)
{
    char tmp[10];
    size_t n = 0, i = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        out[i++] = tmp[--n];
    return i;
}

size_t pv_image_version_str(char out[14], uint32_t version)
{
    size_t n = put_dec(out, version >> 24);
    out[n++] = '.';
    n += put_dec(out + n, (version >> 16) & 0xffu);
    out[n++] = '.';
    n += put_dec(out + n, version & 0xffffu);
    out[n] = 0;
    return n;
}

int pv_image_version_parse(const char *s, uint32_t *version)
{
    static const uint32_t max[3] = {255, 255, 65535};
    uint32_t part[3];
    for (int i = 0; i < 3; i++) {
        uint32_t v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            v = v * 10u + (uint32_t)(*s++ - '0');
            if (++digits > 5 || v > max[i])
                return -1;
        }
        if (!digits || *s != (i < 2 ? '.' : '\0'))
            return -1;
        if (i < 2)
            s++;
        part[i] = v;
    }
    *version = part[0] << 24 | part[1] << 16 | part[2];
    return 0;
}

const char *pv_image_strerror(int err)
{
    switch (err) {
    case PV_IMAGE_OK:
        return "image valid";
    case PV_IMAGE_ERR_MAGIC:
        return "no image (header magic is not PVIM)";
    case PV_IMAGE_ERR_FORMAT:
        return "image header format is not 1";
    case PV_IMAGE_ERR_HDR_SIZE:
        return "image header size out of bounds (32..4096, multiple of 4)";
    case PV_IMAGE_ERR_IMG_SIZE:
        return "image size out of bounds (0, not a multiple of 4, or past the region end)";
    case PV_IMAGE_ERR_LOAD_ADDR:
        return "image load address is not the region start plus the header size";
    case PV_IMAGE_ERR_FLAGS:
        return "image flags has unknown bits";
    case PV_IMAGE_ERR_RESERVED:
        return "image header reserved bytes are not zero";
    case PV_IMAGE_ERR_TLV:
        return "image TLV area malformed (magic, length, or missing/unknown entry)";
    case PV_IMAGE_ERR_DIGEST:
        return "image digest mismatch (header or payload corrupted)";
    case PV_IMAGE_ERR_KEY:
        return "image signed by another key (key hash differs from the key slot's)";
    case PV_IMAGE_ERR_SIGNATURE:
        return "image signature invalid";
    case PV_IMAGE_ERR_VECTORS:
        return "image vector table invalid (stack pointer or reset vector)";
    default:
        return "unknown image error";
    }
}
