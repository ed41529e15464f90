/* Hardware random number generator HAL: what the RAM stub (and later the bootloader) needs from
 * a chip's true RNG. One file per family implements it (rng_stm32f4.c). Every wait is bounded;
 * every error condition the reference manual names is checked and reported, never ignored. */
#ifndef PV_HAL_RNG_H
#define PV_HAL_RNG_H

#include <stddef.h>
#include <stdint.h>

enum pv_rng_err {
    PV_RNG_OK = 0,
    PV_RNG_ERR_CLOCK = -1,   /* CECS/CEIS: RNG clock missing or slower than HCLK/16 */
    PV_RNG_ERR_SEED = -2,    /* SECS/SEIS persisted after the manual's recovery (RNGEN toggle) */
    PV_RNG_ERR_TIMEOUT = -3, /* DRDY did not rise within the bound */
    PV_RNG_ERR_REPEAT = -4   /* two consecutive words equal: continuous test failed */
};

/* Clocks the RNG (its kernel clock, PLL48CLK on STM32F4, must already run), enables it and keeps
 * the first word as the reference of the continuous test. */
int pv_rng_init(void);
/* Fills len bytes with fresh words; on any error the buffer is wiped and the error returned. */
int pv_rng_fill(void *buf, size_t len);
/* Disables the RNG and its bus clock. */
void pv_rng_stop(void);

#endif
