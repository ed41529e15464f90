/* The RAM stub's image header (lib/proto/proto.h PV_STUB_HDR_*) and the SRAM plan that follows
 * from it: the stub, its bss and stack, the mailbox, then two frame slots, in the 16 KB budget.
 * The station needs the plan to place frames; the trusted side to size them. Host only. */
#ifndef PV_HOST_STUB_IMAGE_H
#define PV_HOST_STUB_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct pv_stub_image {
    const uint8_t *bin;
    size_t len;
    uint32_t base, entry, resume, ram_end;
    /* the SRAM plan */
    uint32_t mbox, slot0, slot_size;
};

/* Parses stub.bin's header (the image is linked at base) and computes the SRAM plan. 0, or -1
 * with err naming what is wrong. */
int pv_stub_image_parse(struct pv_stub_image *img, const uint8_t *bin, size_t len, uint32_t base,
                        char *err, size_t err_len);

#endif
