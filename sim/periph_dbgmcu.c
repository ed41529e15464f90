/* DBGMCU (0xE0042000): the device ID OpenOCD probes (FACTS §5.1, 0x10036419 as read on real
 * STM32F42x parts) and the debug freeze controls. Reset only by power-on. */
#include "chip_internal.h"

void dbgmcu_power_on(chip_t *c)
{
    c->dbgmcu_cr = 0;
    c->dbgmcu_apb1 = 0;
    c->dbgmcu_apb2 = 0;
}

int dbgmcu_read(chip_t *c, uint32_t off, unsigned size, uint32_t *val)
{
    (void)size;
    switch (off & ~3u) {
    case 0x0:
        *val = 0x10036419u;
        break;
    case 0x4:
        *val = c->dbgmcu_cr;
        break;
    case 0x8:
        *val = c->dbgmcu_apb1;
        break;
    case 0xC:
        *val = c->dbgmcu_apb2;
        break;
    default:
        *val = 0;
        return CHIP_EBUS;
    }
    return CHIP_OK;
}

int dbgmcu_write(chip_t *c, uint32_t off, unsigned size, uint32_t val)
{
    (void)size;
    switch (off & ~3u) {
    case 0x0:
        break; /* IDCODE is read-only */
    case 0x4:
        c->dbgmcu_cr = val & 0xE7u;
        break;
    case 0x8:
        c->dbgmcu_apb1 = val & 0x06E01DFFu;
        break;
    case 0xC:
        c->dbgmcu_apb2 = val & 0x00070003u;
        break;
    default:
        return CHIP_EBUS;
    }
    return CHIP_OK;
}
