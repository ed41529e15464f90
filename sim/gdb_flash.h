/* The STM32F42x flash sector map (RM0090 table 6 / STM32F4-FACTS §5.3) and helpers the GDB server
 * uses to program flash through the flash interface registers, as a debugger does. */
#ifndef SIM_GDB_FLASH_H
#define SIM_GDB_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chip.h"

#define STM32_FLASH_BASE  0x08000000u
#define STM32_FLASH_REGS  0x40023C00u
#define STM32_FLASH_KEYR  (STM32_FLASH_REGS + 0x04)
#define STM32_FLASH_SR    (STM32_FLASH_REGS + 0x0C)
#define STM32_FLASH_CR    (STM32_FLASH_REGS + 0x10)
#define STM32_FLASH_OPTCR (STM32_FLASH_REGS + 0x14)
#define STM32_FLASHSIZE   0x1FFF7A22u

struct flash_sector {
    uint32_t addr, size;
    uint8_t snb; /* value for FLASH_CR.SNB */
};

#define STM32_MAX_SECTORS 24

/* Reads the flash size register and OPTCR.DB1M through the debug port and fills the sector list.
 * Returns the number of sectors (0 if the chip does not answer). */
unsigned stm32_flash_layout(chip_t *chip, struct flash_sector *sectors);

/* Flash operations as a debugger performs them through FLASH_KEYR/CR/SR with chip_dbg_write.
 * Each returns 0, or -1 with a reason in err. */
int stm32_flash_erase_sector(chip_t *chip, const struct flash_sector *s, char *err, size_t len);
int stm32_flash_program(chip_t *chip, uint32_t addr, const uint8_t *data, size_t n, char *err,
                        size_t len);
/* Sets FLASH_CR.LOCK. */
void stm32_flash_lock(chip_t *chip);

#endif
