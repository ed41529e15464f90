/* The STM32F427 memory map: which host buffer or register model answers each address, for the
 * debugger (AHB-AP), for the core itself (stacking, vector fetch) and, through Unicorn's MMIO
 * callbacks, for the CPU. An address nothing answers is a bus error. */
#include "chip_internal.h"

#include <stdio.h>
#include <string.h>

/* Host pointer for [addr, addr+size) if it lies in one RAM-backed region, else NULL. */
uint8_t *ram_ptr(chip_t *c, uint32_t addr, unsigned size, bool *is_flash)
{
    if (is_flash)
        *is_flash = false;
    if (addr - FLASH_BASE < c->flash_size && addr - FLASH_BASE + size <= c->flash_size) {
        if (is_flash)
            *is_flash = true;
        return c->flash + (addr - FLASH_BASE);
    }
    if (addr < c->flash_size && addr + size <= c->flash_size) {
        if (is_flash)
            *is_flash = true;
        return c->flash + addr;
    }
    if (addr - SRAM_BASE < SRAM_SIZE && addr - SRAM_BASE + size <= SRAM_SIZE)
        return c->sram + (addr - SRAM_BASE);
    if (addr - CCM_BASE < CCM_SIZE && addr - CCM_BASE + size <= CCM_SIZE)
        return c->ccm + (addr - CCM_BASE);
    if (addr - BKPSRAM_BASE < BKPSRAM_SIZE && addr - BKPSRAM_BASE + size <= BKPSRAM_SIZE)
        return c->bkpsram + (addr - BKPSRAM_BASE);
    if (addr - SYSMEM_BASE < SYSMEM_SIZE && addr - SYSMEM_BASE + size <= SYSMEM_SIZE)
        return c->sysmem + (addr - SYSMEM_BASE);
    return NULL;
}

static uint32_t load_le(const uint8_t *p, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static void store_le(uint8_t *p, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- peripheral and PPB register dispatch (word granular) ---- */

static int periph_read_word(chip_t *c, uint32_t a, uint32_t *v, enum bus_src src)
{
    if (a >= RCC_BASE && a < RCC_BASE + 0x400)
        return rcc_read(c, a - RCC_BASE, v);
    if (a >= FLASHIF_BASE && a < FLASHIF_BASE + 0x400)
        return flash_if_read(c, a - FLASHIF_BASE, v, src);
    if (a >= USART1_BASE && a < USART1_BASE + 0x400)
        return usart_read(c, a - USART1_BASE, v, src);
    if (a >= RNG_BASE && a < RNG_BASE + 0x400)
        return rng_read(c, a - RNG_BASE, v, src);
    if (a >= PWR_BASE && a < PWR_BASE + 0x400)
        return pwr_read(c, a - PWR_BASE, v);
    /* Everything else in the peripheral windows is a plain register file (GPIO, SYSCFG,
     * timers...): it reads back what was written. */
    if (a - APB1_BASE < APB1_SIZE)
        *v = ld32(c->apb1 + (a - APB1_BASE));
    else if (a - APB2_BASE < APB2_SIZE)
        *v = ld32(c->apb2 + (a - APB2_BASE));
    else if (a - AHB1_BASE < AHB1_SIZE)
        *v = ld32(c->ahb1 + (a - AHB1_BASE));
    else if (a - AHB2_BASE < AHB2_SIZE)
        *v = ld32(c->ahb2 + (a - AHB2_BASE));
    else
        return CHIP_EBUS;
    return CHIP_OK;
}

static int periph_write_word(chip_t *c, uint32_t a, uint32_t v, enum bus_src src)
{
    if (a >= RCC_BASE && a < RCC_BASE + 0x400)
        return rcc_write(c, a - RCC_BASE, v);
    if (a >= FLASHIF_BASE && a < FLASHIF_BASE + 0x400)
        return flash_if_write(c, a - FLASHIF_BASE, v, src);
    if (a >= USART1_BASE && a < USART1_BASE + 0x400)
        return usart_write(c, a - USART1_BASE, v);
    if (a >= RNG_BASE && a < RNG_BASE + 0x400)
        return rng_write(c, a - RNG_BASE, v);
    if (a >= PWR_BASE && a < PWR_BASE + 0x400)
        return pwr_write(c, a - PWR_BASE, v);
    if (a >= GPIO_BASE && a < GPIO_END)
        return gpio_write(c, a, 4, v);
    if (a - APB1_BASE < APB1_SIZE)
        st32(c->apb1 + (a - APB1_BASE), v);
    else if (a - APB2_BASE < APB2_SIZE)
        st32(c->apb2 + (a - APB2_BASE), v);
    else if (a - AHB1_BASE < AHB1_SIZE)
        st32(c->ahb1 + (a - AHB1_BASE), v);
    else if (a - AHB2_BASE < AHB2_SIZE)
        st32(c->ahb2 + (a - AHB2_BASE), v);
    else
        return CHIP_EBUS;
    return CHIP_OK;
}

static int ppb_read_word(chip_t *c, uint32_t a, uint32_t *v, enum bus_src src)
{
    if (a >= 0xE000E000u && a < 0xE000F000u) {
        if ((a >= 0xE000EDF0u && a < 0xE000EE00u) || a == 0xE000ED30u)
            return dbg_scs_read(c, a, v, src);
        if (a >= 0xE000EFD0u)
            return rom_table_read(c, a, v);
        return scs_nvic_read(c, a, v);
    }
    if (a >= 0xE0001000u && a < 0xE0003000u) {
        if ((a & 0xFFFu) >= 0xFD0u)
            return rom_table_read(c, a, v);
        return fpb_dwt_read(c, a, v);
    }
    if (a >= DBGMCU_BASE && a < DBGMCU_BASE + 0x1000u)
        return dbgmcu_read(c, a - DBGMCU_BASE, 4, v);
    if (a >= 0xE00FF000u)
        return rom_table_read(c, a, v);
    return ppb_misc_read(c, a, v);
}

static int ppb_write_word(chip_t *c, uint32_t a, uint32_t v, enum bus_src src)
{
    if (a >= 0xE000E000u && a < 0xE000F000u) {
        if ((a >= 0xE000EDF0u && a < 0xE000EE00u) || a == 0xE000ED30u)
            return dbg_scs_write(c, a, v, src);
        if (a >= 0xE000EFD0u)
            return CHIP_OK; /* ID registers are read-only */
        return scs_nvic_write(c, a, 4, v);
    }
    if (a >= 0xE0001000u && a < 0xE0003000u) {
        if ((a & 0xFFFu) >= 0xFD0u)
            return CHIP_OK;
        return fpb_dwt_write(c, a, v);
    }
    if (a >= DBGMCU_BASE && a < DBGMCU_BASE + 0x1000u)
        return dbgmcu_write(c, a - DBGMCU_BASE, 4, v);
    if (a >= 0xE00FF000u)
        return CHIP_OK;
    return ppb_misc_write(c, a, v);
}

static bool is_periph(uint32_t a)
{
    return a - APB1_BASE < APB1_SIZE || a - APB2_BASE < APB2_SIZE || a - AHB1_BASE < AHB1_SIZE ||
           a - AHB2_BASE < AHB2_SIZE;
}

static int mmio_read(chip_t *c, uint32_t addr, unsigned size, uint32_t *val, enum bus_src src)
{
    uint32_t a = addr & ~3u, w = 0;
    int rc;
    if (is_periph(addr))
        rc = periph_read_word(c, a, &w, src);
    else if (addr >= PPB_BASE)
        rc = ppb_read_word(c, a, &w, src);
    else
        return CHIP_EBUS;
    if (rc != CHIP_OK)
        return rc;
    unsigned sh = 8 * (addr & 3u);
    *val = size == 4 ? w : (w >> sh) & ((1u << (8 * size)) - 1u);
    return CHIP_OK;
}

static int mmio_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val, enum bus_src src)
{
    uint32_t a = addr & ~3u;
    if (size != 4) {
        unsigned sh = 8 * (addr & 3u);
        uint32_t mask = ((1u << (8 * size)) - 1u) << sh;
        /* Data registers take the lane as the whole value; others merge the lane into the
         * current contents. */
        if (a == USART1_BASE + 4)
            return usart_write(c, 4, (val << sh) >> sh);
        if (a >= GPIO_BASE && a < GPIO_END)
            return gpio_write(c, addr, size, val);
        if (a >= 0xE000E000u && a < 0xE000F000u && !(a >= 0xE000EDF0u && a < 0xE000EE00u) &&
            a != 0xE000ED30u)
            return scs_nvic_write(c, addr, size, val);
        uint32_t cur = 0;
        int rc = mmio_read(c, a, 4, &cur, src);
        if (rc != CHIP_OK)
            return rc;
        val = (cur & ~mask) | ((val << sh) & mask);
    }
    if (is_periph(a))
        return periph_write_word(c, a, val, src);
    if (a >= PPB_BASE)
        return ppb_write_word(c, a, val, src);
    return CHIP_EBUS;
}

/* ---- bit-band aliases (SRAM 0x22000000, peripherals 0x42000000) ---- */

static int bitband_read(chip_t *c, uint32_t addr, uint32_t *val, enum bus_src src)
{
    uint32_t base = addr >= PERIPH_BB_BASE ? PERIPH_BB_BASE : SRAM_BB_BASE;
    uint32_t tgt = (base == PERIPH_BB_BASE ? APB1_BASE : SRAM_BASE) + (((addr - base) >> 5) << 2);
    uint32_t bit = ((addr - base) >> 2) & 31u, w = 0;
    int rc = bus_read(c, tgt, 4, &w, src);
    *val = (w >> bit) & 1u;
    return rc;
}

static int bitband_write(chip_t *c, uint32_t addr, uint32_t val, enum bus_src src)
{
    uint32_t base = addr >= PERIPH_BB_BASE ? PERIPH_BB_BASE : SRAM_BB_BASE;
    uint32_t tgt = (base == PERIPH_BB_BASE ? APB1_BASE : SRAM_BASE) + (((addr - base) >> 5) << 2);
    uint32_t bit = ((addr - base) >> 2) & 31u, w = 0;
    int rc = bus_read(c, tgt, 4, &w, src);
    if (rc != CHIP_OK)
        return rc;
    w = (val & 1u) ? (w | (1u << bit)) : (w & ~(1u << bit));
    return bus_write(c, tgt, 4, w, src);
}

static bool in_bitband(uint32_t a)
{
    return a - SRAM_BB_BASE < BB_SIZE || a - PERIPH_BB_BASE < BB_SIZE;
}

/* ---- the two entry points ---- */

int bus_read(chip_t *c, uint32_t addr, unsigned size, uint32_t *val, enum bus_src src)
{
    *val = 0;
    if ((size != 1 && size != 2 && size != 4) || (addr & (size - 1u)))
        return CHIP_EBUS;
    bool is_flash;
    uint8_t *p = ram_ptr(c, addr, size, &is_flash);
    if (p) {
        if (is_flash && !flash_read_allowed(c, src))
            return CHIP_EBUS;
        if (addr - BKPSRAM_BASE < BKPSRAM_SIZE && !flash_read_allowed(c, src))
            return CHIP_EBUS; /* RDP protects backup SRAM like flash */
        *val = load_le(p, size);
        return CHIP_OK;
    }
    if (addr - INFO_BASE < INFO_SIZE)
        return info_read(c, addr, size, val, src);
    if (addr - OPTB1_BASE < OPTB_PAGE || addr - OPTB2_BASE < OPTB_PAGE) {
        uint32_t w;
        int rc = optb_mem_read(c, addr & ~3u, &w);
        *val = size == 4 ? w : (w >> (8 * (addr & 3u))) & ((1u << (8 * size)) - 1u);
        return rc;
    }
    if (in_bitband(addr))
        return bitband_read(c, addr, val, src);
    return mmio_read(c, addr, size, val, src);
}

int bus_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val, enum bus_src src)
{
    if ((size != 1 && size != 2 && size != 4) || (addr & (size - 1u)))
        return CHIP_EBUS;
    bool is_flash;
    uint8_t *p = ram_ptr(c, addr, size, &is_flash);
    if (p) {
        if (is_flash)
            return flash_program(c, addr, size, val, src);
        if (addr - SYSMEM_BASE < SYSMEM_SIZE)
            return CHIP_EBUS; /* ROM */
        if (addr - BKPSRAM_BASE < BKPSRAM_SIZE && !flash_read_allowed(c, src))
            return CHIP_EBUS;
        store_le(p, size, val);
        if (src != SRC_CPU && addr - SRAM_BASE < SRAM_SIZE)
            tb_invalidate(c, addr, size);
        return CHIP_OK;
    }
    if (addr - INFO_BASE < INFO_SIZE)
        return info_write(c, addr, size, val, src);
    if (addr - OPTB1_BASE < OPTB_PAGE || addr - OPTB2_BASE < OPTB_PAGE)
        return CHIP_EBUS; /* option bytes change only through FLASH_OPTCR */
    if (in_bitband(addr))
        return bitband_write(c, addr, val, src);
    return mmio_write(c, addr, size, val, src);
}

/* ---- Unicorn MMIO callbacks: the CPU's view of the same registers ---- */

static uint64_t cpu_mmio_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    struct mmio_region *r = user;
    chip_t *c = r->c;
    uint32_t v = 0;
    (void)uc;
    if (c->nfix)
        flash_fixups_apply(c);
    if (bus_read(c, r->base + (uint32_t)offset, size, &v, SRC_CPU) != CHIP_OK) {
        /* The load has already completed when the callback returns: report an imprecise bus
         * error at the end of the block. */
        if (c->fault == FAULT_NONE) {
            c->fault = FAULT_WRITE;
            c->fault_addr = r->base + (uint32_t)offset;
        }
        chip_request_stop(c, STOP_FAULT);
    }
    return v;
}

static void cpu_mmio_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
                           void *user)
{
    struct mmio_region *r = user;
    chip_t *c = r->c;
    (void)uc;
    if (c->nfix)
        flash_fixups_apply(c);
    if (bus_write(c, r->base + (uint32_t)offset, size, (uint32_t)value, SRC_CPU) != CHIP_OK) {
        if (c->fault == FAULT_NONE) {
            c->fault = FAULT_WRITE;
            c->fault_addr = r->base + (uint32_t)offset;
        }
        chip_request_stop(c, STOP_FAULT);
    }
}

static int map_mmio(chip_t *c, uint32_t base, uint32_t size)
{
    if (c->n_mmio >= (int)(sizeof c->mmio / sizeof c->mmio[0]))
        return -1;
    struct mmio_region *r = &c->mmio[c->n_mmio++];
    r->c = c;
    r->base = base;
    return uc_mmio_map(c->uc, base, size, cpu_mmio_read, r, cpu_mmio_write, r) == UC_ERR_OK ? 0
                                                                                            : -1;
}

int mem_map_all(chip_t *c, char *err, size_t err_len)
{
    uc_engine *uc = c->uc;
    int bad = 0;
    /* Flash is RAM for Unicorn (MMIO cannot be executed): read+exec only, so CPU stores reach
     * the write-protect hook where the flash rules apply. 0x0 aliases the same cells. */
    bad |= uc_mem_map_ptr(uc, FLASH_BASE, c->flash_size, UC_PROT_READ | UC_PROT_EXEC, c->flash);
    bad |= uc_mem_map_ptr(uc, FLASH_ALIAS, c->flash_size, UC_PROT_READ | UC_PROT_EXEC, c->flash);
    bad |= uc_mem_map_ptr(uc, CCM_BASE, CCM_SIZE, UC_PROT_READ | UC_PROT_WRITE, c->ccm);
    bad |= uc_mem_map_ptr(uc, SYSMEM_BASE, SYSMEM_SIZE, UC_PROT_READ | UC_PROT_EXEC, c->sysmem);
    bad |= uc_mem_map_ptr(uc, SRAM_BASE, SRAM_SIZE, UC_PROT_ALL, c->sram);
    bad |= uc_mem_map_ptr(uc, BKPSRAM_BASE, BKPSRAM_SIZE, UC_PROT_READ | UC_PROT_WRITE, c->bkpsram);
    if (bad) {
        snprintf(err, err_len, "cannot map the chip's memories into the emulator");
        return -1;
    }
    if (map_mmio(c, INFO_BASE, INFO_SIZE) || map_mmio(c, OPTB2_BASE, OPTB_PAGE) ||
        map_mmio(c, OPTB1_BASE, OPTB_PAGE) || map_mmio(c, APB1_BASE, APB1_SIZE) ||
        map_mmio(c, APB2_BASE, APB2_SIZE) || map_mmio(c, AHB1_BASE, AHB1_SIZE) ||
        map_mmio(c, AHB2_BASE, AHB2_SIZE) || map_mmio(c, PPB_BASE, PPB_SIZE) ||
        map_mmio(c, SRAM_BB_BASE, BB_SIZE) || map_mmio(c, PERIPH_BB_BASE, BB_SIZE)) {
        snprintf(err, err_len, "cannot map the chip's registers into the emulator");
        return -1;
    }
    return 0;
}
