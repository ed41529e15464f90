/* The anti-rollback floor on the device: reads and raises the counter region of the layout with
 * the flash HAL (record format in lib/image/rollback.h). Writes nowhere else. */
#ifndef FIRMWARE_BOOT_ROLLBACK_H
#define FIRMWARE_BOOT_ROLLBACK_H

#include <stdint.h>

#include "image/layout.h"

#define BOOT_ROLLBACK_FULL (-100) /* no erased slot left: the floor stays where it is */

/* The current floor and the offset of the next free slot. */
void boot_rollback_read(const pv_layout *l, uint32_t *floor, uint32_t *next);
/* Appends a record for value at offset next. PV_FLASH_OK, a PV_FLASH_ERR_* code, or
 * BOOT_ROLLBACK_FULL. Reads the region back: the floor must now be value. */
int boot_rollback_raise(const pv_layout *l, uint32_t next, uint32_t value);

#endif
