/* The CoreSight identification a debugger walks (FACTS §4.1): the Cortex-M4 ROM table with ST's
 * part number, the component and peripheral ID registers of SCS, DWT, FPB, ITM, TPIU and ETM, and
 * the few ITM/TPIU/ETM registers a probe touches (they do nothing here). */
#include "chip_internal.h"

struct component {
    uint32_t base;
    uint8_t pid[5]; /* PID0..PID4 */
    uint8_t cid1;   /* component class nibble in bits 7:4 */
};

static const struct component components[] = {
    {0xE000E000u, {0x0C, 0xB0, 0x0B, 0x00, 0x04}, 0xE0}, /* SCS */
    {0xE0001000u, {0x02, 0xB0, 0x3B, 0x00, 0x04}, 0xE0}, /* DWT */
    {0xE0002000u, {0x03, 0xB0, 0x2B, 0x00, 0x04}, 0xE0}, /* FPB */
    {0xE0000000u, {0x01, 0xB0, 0x3B, 0x00, 0x04}, 0xE0}, /* ITM */
    {0xE0040000u, {0xA1, 0xB9, 0x0B, 0x00, 0x04}, 0x90}, /* TPIU */
    {0xE0041000u, {0x25, 0xB9, 0x0B, 0x00, 0x04}, 0x90}, /* ETM */
    {0xE00FF000u, {0x19, 0x04, 0x0A, 0x00, 0x00}, 0x10}, /* ROM table: ST, DEV_ID 0x419 */
};

static const uint32_t rom_entries[] = {
    0xFFF0F003u, 0xFFF02003u, 0xFFF03003u, 0xFFF01003u, 0xFFF41003u, 0xFFF42003u, 0};

/* ID registers of any component (offsets 0xFD0-0xFFC) and the ROM table itself. */
int rom_table_read(chip_t *c, uint32_t addr, uint32_t *val)
{
    (void)c;
    uint32_t base = addr & ~0xFFFu, off = addr & 0xFFFu;
    *val = 0;
    for (size_t i = 0; i < sizeof components / sizeof components[0]; i++) {
        const struct component *k = &components[i];
        if (k->base != base)
            continue;
        if (off >= 0xFD0u) {
            switch (off) {
            case 0xFD0:
                *val = k->pid[4];
                break;
            case 0xFE0:
            case 0xFE4:
            case 0xFE8:
            case 0xFEC:
                *val = k->pid[(off - 0xFE0u) / 4];
                break;
            case 0xFF0:
                *val = 0x0D;
                break;
            case 0xFF4:
                *val = k->cid1;
                break;
            case 0xFF8:
                *val = 0x05;
                break;
            case 0xFFC:
                *val = 0xB1;
                break;
            default:
                break;
            }
            return CHIP_OK;
        }
        if (base == 0xE00FF000u) {
            if (off < sizeof rom_entries)
                *val = rom_entries[off / 4];
            else if (off == 0xFCC)
                *val = 1; /* MEMTYPE: system memory present */
            return CHIP_OK;
        }
        return CHIP_OK;
    }
    return base >= 0xE00FF000u ? CHIP_EBUS : CHIP_OK;
}

/* ITM, TPIU, ETM: registers read as zero except the stimulus ports (always ready); anything else
 * in the PPB is reserved and answers with a bus error. */
int ppb_misc_read(chip_t *c, uint32_t addr, uint32_t *val)
{
    *val = 0;
    if (addr < 0xE0001000u) {
        if ((addr & 0xFFFu) >= 0xFD0u)
            return rom_table_read(c, addr, val);
        if (addr < 0xE0000080u)
            *val = 1; /* stimulus port FIFO ready */
        else if (addr == 0xE0000E00u)
            *val = c->itm_regs[0];
        else if (addr == 0xE0000E80u)
            *val = c->itm_regs[1];
        return CHIP_OK;
    }
    if ((addr >= 0xE0040000u && addr < 0xE0042000u)) {
        if ((addr & 0xFFFu) >= 0xFD0u)
            return rom_table_read(c, addr, val);
        if (addr == 0xE0040000u)
            *val = 0xF; /* TPIU_SSPSR: port sizes 1-4 */
        else if (addr == 0xE0040300u)
            *val = 0x8; /* TPIU_FFSR */
        else if (addr == 0xE0040FC8u)
            *val = 0xCA0;
        return CHIP_OK;
    }
    return CHIP_EBUS;
}

int ppb_misc_write(chip_t *c, uint32_t addr, uint32_t val)
{
    if (addr < 0xE0001000u) {
        if (addr == 0xE0000E00u)
            c->itm_regs[0] = val;
        else if (addr == 0xE0000E80u)
            c->itm_regs[1] = val;
        return CHIP_OK;
    }
    if (addr >= 0xE0040000u && addr < 0xE0042000u)
        return CHIP_OK;
    return CHIP_EBUS;
}
