/* The peripherals that only need to hold their registers (GPIO, SYSCFG, timers...): reset values
 * where a program may look at them, BSRR acting on ODR, IDR following ODR. */
#include "chip_internal.h"

#include <string.h>

void periph_misc_reset(chip_t *c)
{
    memset(c->apb1, 0, sizeof c->apb1);
    memset(c->apb2, 0, sizeof c->apb2);
    memset(c->ahb1, 0, sizeof c->ahb1);
    memset(c->ahb2, 0, sizeof c->ahb2);
    /* GPIOA/GPIOB: the debug pins come out of reset in their alternate function. */
    st32(c->ahb1 + 0x0000, 0xA8000000u);
    st32(c->ahb1 + 0x0008, 0x0C000000u);
    st32(c->ahb1 + 0x000C, 0x64000000u);
    st32(c->ahb1 + 0x0400, 0x00000280u);
    st32(c->ahb1 + 0x0408, 0x000000C0u);
    st32(c->ahb1 + 0x040C, 0x00000100u);
}

int gpio_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val)
{
    uint8_t *port = c->ahb1 + ((addr - AHB1_BASE) & ~0x3FFu);
    uint32_t off = addr & 0x3FFu;
    if ((off & ~3u) == 0x18) { /* BSRR: set low half, reset high half */
        uint32_t v = val << (8 * (off & 3u));
        if (size == 4 || size == 2 || size == 1) {
            uint32_t odr = ld32(port + 0x14);
            odr |= v & 0xFFFFu;
            odr &= ~(v >> 16);
            st32(port + 0x14, odr & 0xFFFFu);
            st32(port + 0x10, odr & 0xFFFFu);
        }
        return CHIP_OK;
    }
    uint32_t a = off & ~3u, cur = ld32(port + a);
    unsigned sh = 8 * (off & 3u);
    uint32_t mask = size == 4 ? 0xFFFFFFFFu : (((1u << (8 * size)) - 1u) << sh);
    cur = (cur & ~mask) | ((val << sh) & mask);
    if (a == 0x10)
        return CHIP_OK; /* IDR is read-only */
    st32(port + a, cur);
    if (a == 0x14)
        st32(port + 0x10, cur & 0xFFFFu);
    return CHIP_OK;
}
