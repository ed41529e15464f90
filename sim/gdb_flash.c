/* Flash programming for the GDB server: the same register sequences a debugger (OpenOCD's
 * stm32f2x driver) uses, performed with chip_dbg_read/chip_dbg_write so the chip's flash interface
 * applies all its rules (keys, PSIZE, protection, RDP, device-clock timing). */
#include "gdb_flash.h"

#include <stdio.h>

#define CR_PG       (1u << 0)
#define CR_SER      (1u << 1)
#define CR_STRT     (1u << 16)
#define CR_LOCK     (1u << 31)
#define CR_PSIZE_8  (0u << 8)
#define CR_PSIZE_32 (2u << 8)
#define SR_BSY      (1u << 16)
#define SR_ERRORS   0x1F2u /* RDERR, PGSERR, PGPERR, PGAERR, WRPERR, OPERR */
#define KEY1        0x45670123u
#define KEY2        0xCDEF89ABu
#define OPTCR_DB1M  (1u << 30)
/* Polls of FLASH_SR before giving up; each poll lets the chip advance its device clock. */
#define BUSY_POLLS 10000000u

static unsigned add_bank(struct flash_sector *s, unsigned n, uint32_t base, unsigned n128,
                         uint8_t snb0)
{
    static const uint32_t small[] = {0x4000, 0x4000, 0x4000, 0x4000, 0x10000};
    uint32_t a = base;
    for (unsigned i = 0; i < 5; i++) {
        s[n++] = (struct flash_sector){a, small[i], (uint8_t)(snb0 + i)};
        a += small[i];
    }
    for (unsigned i = 0; i < n128; i++) {
        s[n++] = (struct flash_sector){a, 0x20000, (uint8_t)(snb0 + 5 + i)};
        a += 0x20000;
    }
    return n;
}

unsigned stm32_flash_layout(chip_t *chip, struct flash_sector *sectors)
{
    uint32_t kb = 0, optcr = 0;
    if (chip_dbg_read(chip, STM32_FLASHSIZE, 2, &kb) != CHIP_OK || kb == 0 || kb == 0xFFFF)
        kb = 2048;
    chip_dbg_read(chip, STM32_FLASH_OPTCR, 4, &optcr);
    if (kb >= 2048)
        return add_bank(sectors, add_bank(sectors, 0, STM32_FLASH_BASE, 7, 0),
                        STM32_FLASH_BASE + 0x100000, 7, 0x10);
    if (kb == 1024 && (optcr & OPTCR_DB1M))
        return add_bank(sectors, add_bank(sectors, 0, STM32_FLASH_BASE, 3, 0),
                        STM32_FLASH_BASE + 0x80000, 3, 0x10);
    /* single bank: as many 128 KB sectors as the size holds (1 MB: 7) */
    unsigned n128 = kb > 128 ? (kb - 128) / 128 : 0;
    return add_bank(sectors, 0, STM32_FLASH_BASE, n128 > 7 ? 7 : n128, 0);
}

static int wait_idle(chip_t *chip, char *err, size_t len)
{
    for (uint32_t i = 0; i < BUSY_POLLS; i++) {
        uint32_t sr = 0;
        if (chip_dbg_read(chip, STM32_FLASH_SR, 4, &sr) != CHIP_OK) {
            snprintf(err, len, "FLASH_SR not readable");
            return -1;
        }
        if (!(sr & SR_BSY)) {
            if (sr & SR_ERRORS) {
                chip_dbg_write(chip, STM32_FLASH_SR, 4, sr & (SR_ERRORS | 1u));
                snprintf(err, len,
                         "flash error FLASH_SR=0x%08x (bit 4 WRPERR: write protected; bit 1 "
                         "OPERR; 5-7 PGAERR/PGPERR/PGSERR: sequence; read protection blocks "
                         "debugger flash access under RDP Level 1)",
                         (unsigned)sr);
                return -1;
            }
            return 0;
        }
        /* The operation runs on the device clock: let the chip advance it. */
        if (chip_run(chip, 1) == CHIP_RUN_POWER_CUT) {
            snprintf(err, len, "power cut during a flash operation");
            return -1;
        }
    }
    snprintf(err, len, "flash stayed busy (FLASH_SR.BSY) too long");
    return -1;
}

static int unlock(chip_t *chip, char *err, size_t len)
{
    uint32_t cr = 0;
    if (chip_dbg_read(chip, STM32_FLASH_CR, 4, &cr) != CHIP_OK) {
        snprintf(err, len, "FLASH_CR not readable");
        return -1;
    }
    if (!(cr & CR_LOCK))
        return 0;
    chip_dbg_write(chip, STM32_FLASH_KEYR, 4, KEY1);
    chip_dbg_write(chip, STM32_FLASH_KEYR, 4, KEY2);
    if (chip_dbg_read(chip, STM32_FLASH_CR, 4, &cr) != CHIP_OK || (cr & CR_LOCK)) {
        snprintf(err, len, "flash controller stays locked (a wrong key locks it until reset)");
        return -1;
    }
    return 0;
}

int stm32_flash_erase_sector(chip_t *chip, const struct flash_sector *s, char *err, size_t len)
{
    if (unlock(chip, err, len) != 0 || wait_idle(chip, err, len) != 0)
        return -1;
    uint32_t cr = CR_SER | ((uint32_t)s->snb << 3) | CR_PSIZE_32;
    if (chip_dbg_write(chip, STM32_FLASH_CR, 4, cr) != CHIP_OK ||
        chip_dbg_write(chip, STM32_FLASH_CR, 4, cr | CR_STRT) != CHIP_OK) {
        snprintf(err, len, "FLASH_CR write refused");
        return -1;
    }
    int rc = wait_idle(chip, err, len);
    chip_dbg_write(chip, STM32_FLASH_CR, 4, 0);
    return rc;
}

static int program_unit(chip_t *chip, uint32_t addr, unsigned size, uint32_t val, char *err,
                        size_t len)
{
    if (chip_dbg_write(chip, addr, size, val) != CHIP_OK) {
        char why[200];
        if (wait_idle(chip, why, sizeof why) != 0)
            snprintf(err, len, "flash write at 0x%08x refused: %s", (unsigned)addr, why);
        else
            snprintf(err, len, "flash write at 0x%08x refused (read-protected or not flash)",
                     (unsigned)addr);
        return -1;
    }
    return wait_idle(chip, err, len);
}

int stm32_flash_program(chip_t *chip, uint32_t addr, const uint8_t *data, size_t n, char *err,
                        size_t len)
{
    if (unlock(chip, err, len) != 0 || wait_idle(chip, err, len) != 0)
        return -1;
    uint32_t psize = ~0u;
    size_t i = 0;
    while (i < n) {
        uint32_t a = addr + (uint32_t)i;
        bool word = (a & 3u) == 0 && n - i >= 4;
        uint32_t want = CR_PG | (word ? CR_PSIZE_32 : CR_PSIZE_8);
        if (want != psize) {
            if (chip_dbg_write(chip, STM32_FLASH_CR, 4, want) != CHIP_OK) {
                snprintf(err, len, "FLASH_CR write refused");
                return -1;
            }
            psize = want;
        }
        if (word) {
            uint32_t v = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
                         (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 24;
            if (program_unit(chip, a, 4, v, err, len) != 0)
                break;
            i += 4;
        } else {
            if (program_unit(chip, a, 1, data[i], err, len) != 0)
                break;
            i += 1;
        }
    }
    chip_dbg_write(chip, STM32_FLASH_CR, 4, 0);
    return i == n ? 0 : -1;
}

void stm32_flash_lock(chip_t *chip)
{
    chip_dbg_write(chip, STM32_FLASH_CR, 4, CR_LOCK);
}
