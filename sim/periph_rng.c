/* RNG (0x50060800, FACTS §5.6): a per-chip seeded generator, so runs are reproducible and chips
 * differ. Clocked through RCC_AHB2ENR.RNGEN; needs PLL48CLK (CECS/CEIS when it is missing or too
 * slow); DRDY drops after each read until 40 RNG clocks later. SECS never happens. */
#include "chip_internal.h"

#include "crypto/sha256.h"

#include <string.h>

#define CR_RNGEN (1u << 2)
#define CR_IE    (1u << 3)
#define SR_DRDY  (1u << 0)
#define SR_CECS  (1u << 1)
#define SR_CEIS  (1u << 5)

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** */
static uint64_t rng_next(chip_t *c)
{
    uint64_t *s = c->rng_state;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static void rng_seed(chip_t *c)
{
    /* Each power-on continues differently, reproducibly from the state file. */
    uint8_t in[40], h[32];
    memcpy(in, c->rng_seed, 32);
    for (int i = 0; i < 8; i++)
        in[32 + i] = (uint8_t)(c->power_on_count >> (8 * i));
    pv_sha256(h, in, sizeof in);
    for (int i = 0; i < 4; i++) {
        c->rng_state[i] = 0;
        for (int j = 0; j < 8; j++)
            c->rng_state[i] |= (uint64_t)h[8 * i + j] << (8 * j);
    }
    if (!(c->rng_state[0] | c->rng_state[1] | c->rng_state[2] | c->rng_state[3]))
        c->rng_state[0] = 1;
}

void rng_reset(chip_t *c)
{
    if (!(c->rng_state[0] | c->rng_state[1] | c->rng_state[2] | c->rng_state[3]))
        rng_seed(c);
    c->rng_cr = 0;
    c->rng_sr = 0;
    c->rng_ready_cycle = 0;
}

static bool clocked(chip_t *c)
{
    return c->rcc[0x34 / 4] & (1u << 6);
}

static bool clock_error(chip_t *c)
{
    uint32_t f = rcc_pll48_hz(c);
    return f == 0 || f < c->hclk_hz / 16u;
}

static uint32_t sr_now(chip_t *c, enum bus_src src)
{
    uint32_t sr = c->rng_sr & (SR_CEIS | (1u << 6));
    if (!(c->rng_cr & CR_RNGEN))
        return sr;
    if (clock_error(c)) {
        c->rng_sr |= SR_CEIS;
        return sr | SR_CECS | SR_CEIS;
    }
    time_sync(c);
    if (c->ctr.cycles >= c->rng_ready_cycle || src == SRC_DBG)
        sr |= SR_DRDY;
    return sr;
}

int rng_read(chip_t *c, uint32_t off, uint32_t *val, enum bus_src src)
{
    *val = 0;
    if (!clocked(c))
        return CHIP_OK;
    if (off == 0x00) {
        *val = c->rng_cr;
    } else if (off == 0x04) {
        *val = sr_now(c, src);
    } else if (off == 0x08) {
        if (sr_now(c, src) & SR_DRDY) {
            c->rng_last = (uint32_t)(rng_next(c) >> 32);
            /* 40 RNG clocks (48 MHz) until the next value. */
            c->rng_ready_cycle = c->ctr.cycles + (uint64_t)c->hclk_hz * 40u / 48000000u + 1;
        }
        *val = c->rng_last;
    }
    return CHIP_OK;
}

int rng_write(chip_t *c, uint32_t off, uint32_t val)
{
    if (!clocked(c))
        return CHIP_OK;
    if (off == 0x00) {
        if ((val & CR_RNGEN) && !(c->rng_cr & CR_RNGEN)) {
            time_sync(c);
            c->rng_ready_cycle = c->ctr.cycles + (uint64_t)c->hclk_hz * 40u / 48000000u + 1;
        }
        c->rng_cr = val & (CR_RNGEN | CR_IE);
    } else if (off == 0x04) {
        c->rng_sr &= val | ~(SR_CEIS | (1u << 6)); /* CEIS, SEIS: write 0 to clear */
    }
    return CHIP_OK;
}

bool rng_irq(chip_t *c)
{
    if (!(c->rng_cr & CR_IE) || !clocked(c))
        return false;
    return (sr_now(c, SRC_CPU) & (SR_DRDY | SR_CEIS)) != 0;
}
