/* USART1 console for simple device programs (the demo application, the simulator's test
 * programs): PA9/PA10 (AF7), 8N1, polled, no timeout. The bootloader has its own (boot_platform.h:
 * a clock-dependent baud rate and a bounded wait). */
#ifndef PV_HAL_STM32F4_USART1_H
#define PV_HAL_STM32F4_USART1_H

#include "stm32f4_regs.h"

/* brr = f_APB2 / baud. */
static inline void usart1_init(uint32_t brr)
{
    RCC_AHB1ENR |= 1u << 0;
    RCC_APB2ENR |= 1u << 4;
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);
    GPIOA_AFRH = (GPIOA_AFRH & ~0xFF0u) | 0x770u;
    USART1_BRR = brr;
    USART1_CR1 = (1u << 13) | (1u << 3) | (1u << 2); /* UE TE RE */
}

static inline void usart1_putc(char ch)
{
    while (!(USART1_SR & (1u << 7)))
        ;
    USART1_DR = (uint8_t)ch;
}

static inline void usart1_puts(const char *s)
{
    while (*s)
        usart1_putc(*s++);
}

static inline void usart1_hex(uint32_t v)
{
    for (int i = 28; i >= 0; i -= 4)
        usart1_putc("0123456789ABCDEF"[(v >> i) & 0xFu]);
}

static inline void usart1_dec(uint32_t v)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        usart1_putc(buf[--n]);
}

#endif
