/* Fuzzing the parsers the bootloader runs on untrusted flash: the image header and TLV area
 * (with the magic forced, so every input reaches the field checks), the layout table and the
 * anti-rollback log. Aborts when an accepted image breaks an invariant the bootloader relies
 * on (everything inside the bytes given, sizes as documented). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "image/layout.h"
#include "image/rollback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IN 16384

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[MAX_IN];
    if (size < 4 || size > MAX_IN)
        return 0;
    memcpy(buf, data, size);
    buf[0] = 'P', buf[1] = 'V', buf[2] = 'I', buf[3] = 'M';
    uint32_t region = 0x08010000u;
    pv_image img;
    if (pv_image_parse(&img, buf, size, region) == PV_IMAGE_OK) {
        const pv_image_hdr *h = &img.hdr;
        if (img.total_size > size || h->hdr_size < 32 || h->hdr_size > 4096 || h->hdr_size % 4 ||
            h->img_size == 0 || h->img_size % 4 || h->load_addr != region + h->hdr_size ||
            h->flags != 0 || img.payload != buf + h->hdr_size ||
            img.digest < img.payload + h->img_size || img.signature + 64 > buf + img.total_size ||
            img.keyhash + 32 > buf + img.total_size || img.digest + 32 > buf + img.total_size)
            abort();
        static const uint8_t pub[32] = {1};
        /* A random signature never verifies (and must not crash). */
        if (pv_image_verify(&img, pub) == PV_IMAGE_OK)
            abort();
        (void)pv_image_check_vectors(&img, 0x20000000u, 0x20030000u);
    }
    pv_layout l;
    if (size >= PV_LAYOUT_LEN && pv_layout_decode(&l, data) == PV_LAYOUT_OK &&
        pv_layout_check(&l, 0x08000000u, 0x200000u) == PV_LAYOUT_OK) {
        /* accepted regions are inside flash and disjoint */
        const uint32_t r[4][2] = {{l.boot_addr, l.boot_size},
                                  {l.keyslot_addr, l.keyslot_size},
                                  {l.counter_addr, l.counter_size},
                                  {l.app_addr, l.app_size}};
        for (int i = 0; i < 4; i++) {
            if ((uint64_t)r[i][0] + r[i][1] > 0x08200000u || r[i][0] < 0x08000000u)
                abort();
            for (int j = i + 1; j < 4; j++)
                if ((uint64_t)r[i][0] < (uint64_t)r[j][0] + r[j][1] &&
                    (uint64_t)r[j][0] < (uint64_t)r[i][0] + r[i][1])
                    abort();
        }
    }
    uint32_t floor, next;
    pv_rollback_scan(data, (uint32_t)size, &floor, &next);
    if (next > size || next % 8)
        abort();
    return 0;
}
