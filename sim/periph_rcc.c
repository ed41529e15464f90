/* RCC and PWR, enough for the clock tree an STM32F4 program sets up: HSI 16 MHz after reset,
 * HSE (8 MHz assumed), the main PLL (M, N, P, Q) up to 168/180 MHz, the AHB prescaler. The core
 * clock (HCLK) sets how fast the device clock advances per instruction. Ready flags follow their
 * enable bits at once. */
#include "chip_internal.h"

#include <string.h>

#define HSI_HZ 16000000u
#define HSE_HZ 8000000u

#define R_CR      (0x00 / 4)
#define R_PLLCFGR (0x04 / 4)
#define R_CFGR    (0x08 / 4)
#define R_AHB1ENR (0x30 / 4)
#define R_CSR     (0x74 / 4)

void rcc_reset(chip_t *c)
{
    memset(c->rcc, 0, sizeof c->rcc);
    c->rcc[R_CR] = 0x00000083u;
    c->rcc[R_PLLCFGR] = 0x24003010u;
    c->rcc[R_AHB1ENR] = 0x00100000u;
    c->rcc[0x50 / 4] = 0x7E6791FFu;
    c->rcc[0x54 / 4] = 0x000000F1u;
    c->rcc[0x58 / 4] = 0x00000001u;
    c->rcc[0x60 / 4] = 0x36FEC9FFu;
    c->rcc[0x64 / 4] = 0x00075F33u;
    c->rcc[R_CSR] = 0x0E000000u;
    c->rcc[0x84 / 4] = 0x20003000u;
    c->rcc[0x88 / 4] = 0x24003000u;
    c->pwr_cr = 0x0000C000u;
}

static uint64_t pll_vco_hz(chip_t *c)
{
    uint32_t cfg = c->rcc[R_PLLCFGR];
    uint32_t m = cfg & 0x3Fu, n = (cfg >> 6) & 0x1FFu;
    uint64_t src = (cfg & (1u << 22)) ? HSE_HZ : HSI_HZ;
    if (m < 2 || n < 2)
        return 0;
    return src * n / m;
}

uint32_t rcc_pll48_hz(chip_t *c)
{
    if (!(c->rcc[R_CR] & (1u << 25)))
        return 0;
    uint32_t q = (c->rcc[R_PLLCFGR] >> 24) & 0xFu;
    return q >= 2 ? (uint32_t)(pll_vco_hz(c) / q) : 0;
}

static void update_hclk(chip_t *c)
{
    uint32_t cfgr = c->rcc[R_CFGR];
    uint64_t sys;
    switch ((cfgr >> 2) & 3u) {
    case 1:
        sys = HSE_HZ;
        break;
    case 2: {
        uint32_t p = 2u * (((c->rcc[R_PLLCFGR] >> 16) & 3u) + 1u);
        sys = pll_vco_hz(c) / p;
        break;
    }
    default:
        sys = HSI_HZ;
        break;
    }
    static const uint16_t hpre[8] = {2, 4, 8, 16, 64, 128, 256, 512};
    uint32_t h = (cfgr >> 4) & 0xFu;
    if (h & 8u)
        sys /= hpre[h & 7u];
    if (sys == 0)
        sys = HSI_HZ;
    if (c->hclk_hz != (uint32_t)sys)
        set_hclk(c, (uint32_t)sys);
}

int rcc_read(chip_t *c, uint32_t off, uint32_t *val)
{
    *val = off < sizeof c->rcc ? c->rcc[off / 4] : 0;
    return CHIP_OK;
}

int rcc_write(chip_t *c, uint32_t off, uint32_t val)
{
    if (off >= sizeof c->rcc)
        return CHIP_OK;
    switch (off / 4) {
    case R_CR: {
        uint32_t v = val & 0x1509FFF9u;
        /* Each oscillator/PLL is ready as soon as it is switched on. */
        if (v & (1u << 0))
            v |= 1u << 1;
        if (v & (1u << 16))
            v |= 1u << 17;
        if (v & (1u << 24))
            v |= 1u << 25;
        if (v & (1u << 26))
            v |= 1u << 27;
        if (v & (1u << 28))
            v |= 1u << 29;
        c->rcc[R_CR] = v;
        update_hclk(c);
        break;
    }
    case R_PLLCFGR:
        c->rcc[R_PLLCFGR] = val & 0x0F437FFFu;
        update_hclk(c);
        break;
    case R_CFGR: {
        uint32_t sw = val & 3u, sws = (c->rcc[R_CFGR] >> 2) & 3u;
        bool ready = sw == 0   ? (c->rcc[R_CR] & 2u)
                     : sw == 1 ? (c->rcc[R_CR] & (1u << 17))
                               : (c->rcc[R_CR] & (1u << 25));
        if (ready && sw != 3)
            sws = sw;
        c->rcc[R_CFGR] = (val & ~0xCu) | (sws << 2);
        update_hclk(c);
        break;
    }
    case R_CSR: {
        uint32_t v = (c->rcc[R_CSR] & 0xFE000000u) | (val & 1u) | ((val & 1u) ? 2u : 0u);
        if (val & (1u << 24))
            v &= 0x00FFFFFFu; /* RMVF clears the reset flags */
        c->rcc[R_CSR] = v;
        break;
    }
    default:
        c->rcc[off / 4] = val;
        break;
    }
    return CHIP_OK;
}

/* PWR: voltage scaling and over-drive are ready immediately. */
int pwr_read(chip_t *c, uint32_t off, uint32_t *val)
{
    if (off == 0x00)
        *val = c->pwr_cr;
    else if (off == 0x04)
        *val = (1u << 14) | (c->pwr_cr & (3u << 16)); /* VOSRDY, ODRDY, ODSWRDY */
    else
        *val = 0;
    return CHIP_OK;
}

int pwr_write(chip_t *c, uint32_t off, uint32_t val)
{
    if (off == 0x00)
        c->pwr_cr = val & 0x000FFFFFu;
    return CHIP_OK;
}
