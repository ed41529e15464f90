/* The STM32F4 flash sector map (RM0090 Table 6 and its dual-bank variant, RM0368, RM0383,
 * RM0390): each bank is 4 sectors of 16 KB, one of 64 KB, then sectors of 128 KB, each aligned to
 * its size; a dual-bank part numbers its second bank's sectors from 12. Pure arithmetic on
 * numbers, no register access: the device flash driver, the trusted side's install planning and
 * the recipe checks all ask it, so the map is written once. */
#ifndef PV_HAL_STM32F4_SECTORS_H
#define PV_HAL_STM32F4_SECTORS_H

#include <stdint.h>

#include "hal/flash.h"

#define PV_F4_SECTORS_MAX   24u /* two banks of 12 */
#define PV_F4_BANK2_FIRST   12u /* number of bank 2's first sector */
#define PV_F4_SECTOR_SMALL  0x4000u
#define PV_F4_SECTOR_MEDIUM 0x10000u
#define PV_F4_SECTOR_LARGE  0x20000u

/* Offset of bank 2 from the flash base for a part with flash_kb of flash: 2048 KB parts have two
 * banks of 1 MB; a 1024 KB F42x/43x has two of 512 KB when its option bit DB1M is set (db1m true,
 * evaluated only for such a part, so a register read there costs nothing elsewhere); every other
 * part is single bank (0). */
#define PV_F4_BANK2_OFFSET(flash_kb, db1m)                                                         \
    ((flash_kb) == 2048u || ((flash_kb) == 1024u && (db1m)) ? (uint32_t)(flash_kb) << 9 : 0u)

/* The sector holding addr (absolute) on a part with flash_kb (below 4194304) of flash and bank 2
 * at bank2_offset (0: single bank). PV_FLASH_OK, or PV_FLASH_ERR_RANGE if addr is outside flash. */
int pv_f4_sector_at(uint32_t flash_kb, uint32_t bank2_offset, uint32_t addr, pv_flash_sector *out);

#endif
