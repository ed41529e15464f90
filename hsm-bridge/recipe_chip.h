/* What the recipe checks know about STM32F4 parts: DEV_ID, flash sizes, SRAM, and the flash
 * sector map (RM0090 Table 6; /work/shared/docs/STM32F4-FACTS.md §5.3). */
#ifndef PV_HSM_BRIDGE_RECIPE_CHIP_H
#define PV_HSM_BRIDGE_RECIPE_CHIP_H

#include <stddef.h>
#include <stdint.h>

#include "recipe.h"

typedef struct pv_chip_part {
    const char *name;     /* "STM32F427": matches any part number starting with it */
    uint16_t dev_id[2];   /* DBGMCU DEV_ID values this part reports (0: unused slot) */
    uint16_t flash_kb[4]; /* the flash sizes it comes in (0: unused slot) */
    uint16_t sram_kb;     /* contiguous SRAM from 0x20000000 (smallest variant) */
} pv_chip_part;

/* The part whose name starts part (case-insensitive), or NULL. */
const pv_chip_part *pv_chip_find(const char *part);
/* The whole table, for messages listing the known parts. */
const pv_chip_part *pv_chip_table(size_t *count);
int pv_chip_has_dev_id(const pv_chip_part *p, uint32_t dev_id);
int pv_chip_has_flash(const pv_chip_part *p, uint32_t flash_kb);
/* "0x419" or "0x423 or 0x433"; "1024 or 2048" */
void pv_chip_dev_ids_str(const pv_chip_part *p, char *out, size_t len);
void pv_chip_flash_str(const pv_chip_part *p, char *out, size_t len);

/* The sector map of an STM32F4 with flash_kb of flash from PV_F4_FLASH_BASE: per bank 4 x 16 KB,
 * 64 KB, then 128 KB sectors; 2048 KB parts have two banks of 1024 KB (sectors 12-23). 1024 KB
 * F42x/43x parts are taken as single bank (option bit DB1M = 0, the factory setting). Returns
 * the number of sectors, 0 if flash_kb is not a size this layout produces. */
unsigned pv_chip_sectors(uint32_t flash_kb, pv_flash_sector out[PV_RECIPE_SECTORS_MAX]);

#endif
