/* The STM32F4 flash sector map (stm32f4_sectors.h). */
#include "hal/stm32f4_sectors.h"

#include "hal/stm32f4_map.h"

int pv_f4_sector_at(uint32_t flash_kb, uint32_t bank2_offset, uint32_t addr, pv_flash_sector *out)
{
    uint32_t off = addr - PV_F4_FLASH_BASE, first = 0;
    if (off >= flash_kb << 10)
        return PV_FLASH_ERR_RANGE;
    if (bank2_offset && off >= bank2_offset) {
        off -= bank2_offset;
        first = PV_F4_BANK2_FIRST;
    }
    /* 4 x 16 KB in the first 64 KB, the 64 KB sector 4, then 128 KB sectors from 128 KB on. */
    uint32_t index =
        off < PV_F4_SECTOR_MEDIUM ? off / PV_F4_SECTOR_SMALL : 4u + off / PV_F4_SECTOR_LARGE;
    uint32_t size = off < PV_F4_SECTOR_MEDIUM  ? PV_F4_SECTOR_SMALL
                    : off < PV_F4_SECTOR_LARGE ? PV_F4_SECTOR_MEDIUM
                                               : PV_F4_SECTOR_LARGE;
    /* the flash base and both bank starts are aligned to 128 KB, so a sector starts at addr
     * rounded down to its size */
    out->addr = addr & ~(size - 1u);
    out->size = size;
    out->index = (uint16_t)(first + index);
    return PV_FLASH_OK;
}
