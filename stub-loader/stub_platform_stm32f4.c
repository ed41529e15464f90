/* The stub's platform on an STM32F4 (stub_platform.h): clocks (HSI -> PLL, 168 MHz when allowed,
 * always the 48 MHz RNG clock), identity registers, RNG, flash driver, and the system reset that
 * ends every session. The stub starts from a reset chip (the host resets and halts it first). */
#include <string.h>

#include "crypto/sha256.h"
#include "hal/flash.h"
#include "hal/rng.h"
#include "hal/stm32f4_regs.h"
#include "stub_platform.h"

#define FLASH_KB (*(volatile uint16_t *)PV_F4_FLASH_SIZE_KB)

#define CR_PLLON  (1u << 24)
#define CR_PLLRDY (1u << 25)
#define SWS_MASK  (3u << 2)
#define SWS_PLL   (2u << 2)
/* HSI 16 MHz / M 16 * N 336 = 336 MHz VCO; / P 2 = 168 MHz; / Q 7 = 48 MHz for the RNG. */
#define PLLCFG (16u | 336u << 6 | 0u << 16 | 7u << 24)
/* AHB /1, APB1 /4 (42 MHz), APB2 /2 (84 MHz), system clock = PLL. */
#define CFGR_168 (5u << 10 | 4u << 13 | 2u)
/* 5 wait states at 168 MHz and 2.7-3.6 V, prefetch. The data cache stays off: the stub reads
 * back flash it has just changed, and runs from SRAM anyway. */
#define ACR_168 (5u | 1u << 8)

/* RAM every STM32F4 of the family has (112 + 16 KB from 0x20000000). */
#define RAM_END 0x20020000u

extern uint8_t __stub_start[], __stub_image_end[], __stub_ram_end[];

/* Waits until (reg & mask) == want, a bounded number of polls; 0 on success. */
__attribute__((noinline)) static int wait_reg(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    for (uint32_t n = 1000000u; n; n--)
        if ((*reg & mask) == want)
            return 0;
    return -1;
}

int stub_platform_init(uint32_t flags)
{
    /* The PLL may only be configured while off, and the system clock must be HSI: as after a
     * reset. A chip in another state was not reset before the stub was started. */
    if ((RCC_CR & CR_PLLON) || (RCC_CFGR & SWS_MASK))
        return PV_ST_CLOCK;
    RCC_PLLCFGR = PLLCFG;
    RCC_CR |= CR_PLLON;
    if (wait_reg(&RCC_CR, CR_PLLRDY, CR_PLLRDY))
        return PV_ST_CLOCK;
    if (flags & PV_MBOX_F_CLOCK_168) {
        FLASH_ACR = ACR_168; /* wait states before the clock goes up */
        RCC_CFGR = CFGR_168;
        if (wait_reg(&RCC_CFGR, SWS_MASK, SWS_PLL))
            return PV_ST_CLOCK;
    }
    if (pv_flash_init())
        return PV_ST_CHIP;
    int rc = pv_rng_init();
    return rc ? 1 - rc : PV_ST_OK; /* PV_RNG_ERR_* -> PV_ST_RNG_* */
}

void stub_identity(uint8_t id[PV_ID_LEN])
{
    uint32_t nwrp;
    id[PV_ID_VERSION] = PV_PROTO_VERSION;
    pv_flash_options_read(&id[PV_ID_RDP], &nwrp);
    pv_st16(id + PV_ID_FLASH_KB, FLASH_KB);
    pv_st32(id + PV_ID_IDCODE, DBGMCU_ID);
    for (unsigned i = 0; i < 3; i++)
        pv_st32(id + PV_ID_UID + 4 * i, REG(PV_F4_UID + 4 * i));
    pv_st32(id + PV_ID_NWRP, nwrp);
    pv_sha256(id + PV_ID_DIGEST, __stub_start, (size_t)(__stub_image_end - __stub_start));
}

int stub_hw_entropy(uint8_t out[32])
{
    int rc = pv_rng_fill(out, 32);
    return rc ? 1 - rc : PV_ST_OK;
}

int stub_ram_ok(uint32_t addr, uint32_t len)
{
    return addr >= (uint32_t)__stub_ram_end && addr <= RAM_END && len <= RAM_END - addr;
}

void stub_park(void)
{
    pv_flash_lock();
}

void stub_reset(void)
{
    pv_flash_lock();
    SCB_AIRCR = 0x05FA0004u; /* SYSRESETREQ: clocks, RNG, everything back to reset values */
    __asm volatile("dsb" ::: "memory");
    for (;;)
        ;
}
