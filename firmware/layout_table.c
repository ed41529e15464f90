/* The flash layout table at PV_LAYOUT_OFFSET in the bootloader image, with the STM32F427
 * defaults (lib/image/layout.h). The provisioner rewrites these 40 bytes from the recipe. */
#include "image/layout.h"

/* The encoded form of lib/image/layout.h on a little-endian core, field for field. */
struct layout_words {
    uint32_t magic;
    uint16_t format, length;
    uint32_t region[8];
};
_Static_assert(sizeof(struct layout_words) == PV_LAYOUT_LEN, "layout table is 40 bytes");

extern const struct layout_words pv_layout_table;
__attribute__((section(".pv_layout"), used)) const struct layout_words pv_layout_table = {
    .magic = PV_LAYOUT_MAGIC,
    .format = PV_LAYOUT_FORMAT,
    .length = PV_LAYOUT_LEN,
    .region = {PV_LAYOUT_DEFAULT_BOOT_ADDR, PV_LAYOUT_DEFAULT_BOOT_SIZE,
               PV_LAYOUT_DEFAULT_KEYSLOT_ADDR, PV_LAYOUT_DEFAULT_KEYSLOT_SIZE,
               PV_LAYOUT_DEFAULT_COUNTER_ADDR, PV_LAYOUT_DEFAULT_COUNTER_SIZE,
               PV_LAYOUT_DEFAULT_APP_ADDR, PV_LAYOUT_DEFAULT_APP_SIZE},
};
