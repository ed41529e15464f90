/* The flash layout table: where the bootloader finds the key slot, the anti-rollback counter and
 * the application. It lives inside the bootloader image at PV_LAYOUT_OFFSET (after room for the
 * largest STM32F4 vector table), is filled at build time with the STM32F427 defaults and is
 * patched by the provisioner from the recipe before installing (then the image digests are
 * recomputed). Shared by the bootloader and the host tools; docs/image-format.md describes it.
 *
 * 40 bytes, little endian:
 *   off size field
 *     0    4 magic "PVLT"
 *     4    2 format (1)
 *     6    2 length (40)
 *     8    8 boot_addr, boot_size        the bootloader's own region (starts at flash base)
 *    16    8 keyslot_addr, keyslot_size  the key slot (lib/keyslot, PV_KEYSLOT_LEN bytes at its
 * start) 24    8 counter_addr, counter_size  the anti-rollback counter (lib/image/rollback.h) 32 8
 * app_addr, app_size          the application region (image header at its start)
 */
#ifndef PV_IMAGE_LAYOUT_H
#define PV_IMAGE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define PV_LAYOUT_MAGIC  0x544c5650u /* "PVLT" read as a little-endian word */
#define PV_LAYOUT_FORMAT 1u
#define PV_LAYOUT_LEN    40u
#define PV_LAYOUT_OFFSET 0x200u /* from the start of the bootloader image */

/* STM32F427 defaults (16 KB sectors 0-3, then the 64 KB sector 4 and 128 KB sectors to the end
 * of bank 1): bootloader sectors 0-1, key slot sector 2, counter sector 3, application sectors
 * 4-11. The application region ends at the end of bank 1 so the same table fits 1 MB parts. */
#define PV_LAYOUT_DEFAULT_BOOT_ADDR    0x08000000u
#define PV_LAYOUT_DEFAULT_BOOT_SIZE    0x00008000u
#define PV_LAYOUT_DEFAULT_KEYSLOT_ADDR 0x08008000u
#define PV_LAYOUT_DEFAULT_KEYSLOT_SIZE 0x00004000u
#define PV_LAYOUT_DEFAULT_COUNTER_ADDR 0x0800c000u
#define PV_LAYOUT_DEFAULT_COUNTER_SIZE 0x00004000u
#define PV_LAYOUT_DEFAULT_APP_ADDR     0x08010000u
#define PV_LAYOUT_DEFAULT_APP_SIZE     0x000f0000u

typedef struct pv_layout {
    uint32_t boot_addr, boot_size;
    uint32_t keyslot_addr, keyslot_size;
    uint32_t counter_addr, counter_size;
    uint32_t app_addr, app_size;
} pv_layout;

enum pv_layout_err {
    PV_LAYOUT_OK = 0,
    PV_LAYOUT_ERR_MAGIC = -1,  /* no table at the offset */
    PV_LAYOUT_ERR_FORMAT = -2, /* unknown format or length */
    PV_LAYOUT_ERR_BOOT = -3,   /* boot region: not at flash base, or too small for the table */
    PV_LAYOUT_ERR_KEYSLOT =
        -4, /* key slot region: empty, < PV_KEYSLOT_LEN, unaligned or off flash */
    PV_LAYOUT_ERR_COUNTER = -5, /* counter region: < 8 bytes, not a multiple of 8, off flash */
    PV_LAYOUT_ERR_APP = -6,     /* app region: too small, not 512-byte aligned, off flash */
    PV_LAYOUT_ERR_OVERLAP = -7, /* two regions share bytes */
};

void pv_layout_default(pv_layout *l);
void pv_layout_encode(uint8_t out[PV_LAYOUT_LEN], const pv_layout *l);
/* Magic, format and length only; pv_layout_check judges the values. */
int pv_layout_decode(pv_layout *l, const uint8_t in[PV_LAYOUT_LEN]);
/* Every region non-empty, 4-byte aligned, inside [flash_base, flash_base + flash_size), pairwise
 * disjoint; the boot region starts at flash_base and holds the table; the application region
 * starts on a 512-byte boundary (the vector table alignment of the largest F4 table). */
int pv_layout_check(const pv_layout *l, uint32_t flash_base, uint32_t flash_size);
const char *pv_layout_strerror(int err);

#endif
