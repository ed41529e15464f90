#include "stub_image.h"

#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

static uint32_t align8(uint32_t v)
{
    return (v + 7u) & ~7u;
}

int pv_stub_image_parse(struct pv_stub_image *img, const uint8_t *bin, size_t len, uint32_t base,
                        char *err, size_t err_len)
{
    memset(img, 0, sizeof *img);
    if (len < PV_STUB_HDR_LEN || pv_ld32(bin + PV_STUB_HDR_MAGIC) != PV_STUB_MAGIC) {
        snprintf(err, err_len, "stub image: no stub header (magic) in %zu bytes: not a stub.bin",
                 len);
        return -1;
    }
    if (pv_ld16(bin + PV_STUB_HDR_VERSION) != PV_PROTO_VERSION) {
        snprintf(err, err_len, "stub image: protocol %u, this side speaks %u: rebuild both",
                 pv_ld16(bin + PV_STUB_HDR_VERSION), PV_PROTO_VERSION);
        return -1;
    }
    img->bin = bin;
    img->len = len;
    img->base = base;
    img->entry = pv_ld32(bin + PV_STUB_HDR_ENTRY);
    img->resume = pv_ld32(bin + PV_STUB_HDR_RESUME);
    img->ram_end = pv_ld32(bin + PV_STUB_HDR_RAM_END);
    uint32_t size = pv_ld32(bin + PV_STUB_HDR_IMAGE);
    if (size != len || !(img->entry & 1) || !(img->resume & 1) || img->entry - base >= len ||
        img->resume - base >= len || img->ram_end < base + len ||
        align8(align8(img->ram_end) + PV_MBOX_LEN) + 2 * PV_SLOT_MIN > base + PV_STUB_SRAM_BUDGET) {
        snprintf(err, err_len,
                 "stub image: header inconsistent (size %u for %zu bytes, entry 0x%08x, resume "
                 "0x%08x, RAM end 0x%08x at base 0x%08x)",
                 (unsigned)size, len, (unsigned)img->entry, (unsigned)img->resume,
                 (unsigned)img->ram_end, (unsigned)base);
        return -1;
    }
    /* The mailbox right after the stub's RAM (the idle routine reads its flags at ram_end + 4,
     * docs/protocol.md), then two slots sharing what is left of the budget. */
    img->mbox = align8(img->ram_end);
    img->slot0 = align8(img->mbox + PV_MBOX_LEN);
    img->slot_size = ((base + PV_STUB_SRAM_BUDGET - img->slot0) / 2) & ~7u;
    if (img->slot_size > PV_SLOT_MAX)
        img->slot_size = PV_SLOT_MAX;
    return 0;
}
