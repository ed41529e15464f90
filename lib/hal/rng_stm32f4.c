/* RNG HAL for the STM32F4 (RM0090 "RNG"): DRDY before every read, the clock error (CECS/CEIS)
 * and seed error (SECS/SEIS) checks, the seed-error recovery the manual gives (clear SEIS, toggle
 * RNGEN, discard the data), and the FIPS-style continuous test (no word may equal the one before,
 * the first word after enabling is only a reference). Device only. */
#include "hal/rng.h"

#include "crypto/wipe.h"
#include "hal/stm32f4_regs.h"

#define AHB2_RNGEN (1u << 6)
#define CR_RNGEN   (1u << 2)
#define SR_DRDY    (1u << 0)
#define SR_CECS    (1u << 1)
#define SR_SECS    (1u << 2)
#define SR_CEIS    (1u << 5)
#define SR_SEIS    (1u << 6)

/* A word needs 40 RNG clocks, at most ~150 core cycles at 180 MHz; this bound is far above it. */
#define DRDY_POLLS      100000u
#define SEED_RECOVERIES 3u

static uint32_t last;

static int next_word(uint32_t *out)
{
    unsigned recoveries = 0;
    for (uint32_t polls = 0; polls < DRDY_POLLS; polls++) {
        uint32_t sr = RNG_SR;
        if (sr & (SR_CECS | SR_CEIS)) {
            RNG_SR = ~SR_CEIS; /* rc_w0 */
            return PV_RNG_ERR_CLOCK;
        }
        if (sr & (SR_SECS | SR_SEIS)) {
            if (++recoveries > SEED_RECOVERIES)
                return PV_RNG_ERR_SEED;
            RNG_SR = ~SR_SEIS;
            RNG_CR = 0;
            RNG_CR = CR_RNGEN;
            continue; /* what DR held is discarded */
        }
        if (sr & SR_DRDY) {
            *out = RNG_DR;
            return PV_RNG_OK;
        }
    }
    return PV_RNG_ERR_TIMEOUT;
}

int pv_rng_init(void)
{
    RCC_AHB2ENR |= AHB2_RNGEN;
    (void)RCC_AHB2ENR; /* the clock is on before the first RNG access */
    RNG_CR = CR_RNGEN;
    return next_word(&last); /* only the reference of the continuous test */
}

int pv_rng_fill(void *buf, size_t len)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t w;
        int rc = next_word(&w);
        if (rc == PV_RNG_OK && w == last)
            rc = PV_RNG_ERR_REPEAT;
        if (rc != PV_RNG_OK) {
            pv_wipe(buf, len);
            return rc;
        }
        last = w;
        for (size_t k = 0; k < 4 && i + k < len; k++)
            p[i + k] = (uint8_t)(w >> (8 * k));
    }
    return PV_RNG_OK;
}

void pv_rng_stop(void)
{
    RNG_CR = 0;
    RCC_AHB2ENR &= ~AHB2_RNGEN;
    last = 0;
}
