/* Registers and helpers shared by the test programs (RM0090 addresses). */
#ifndef TESTS_ARM_BOARD_H
#define TESTS_ARM_BOARD_H

#include <stdint.h>

#define REG(a) (*(volatile uint32_t *)(uintptr_t)(a))

#define RCC_CR      REG(0x40023800u)
#define RCC_PLLCFGR REG(0x40023804u)
#define RCC_CFGR    REG(0x40023808u)
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB2ENR REG(0x40023844u)
#define FLASH_ACR   REG(0x40023C00u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRH  REG(0x40020024u)
#define USART1_SR   REG(0x40011000u)
#define USART1_DR   REG(0x40011004u)
#define USART1_BRR  REG(0x40011008u)
#define USART1_CR1  REG(0x4001100Cu)
#define SYST_CSR    REG(0xE000E010u)
#define SYST_RVR    REG(0xE000E014u)
#define SYST_CVR    REG(0xE000E018u)
#define SCB_ICSR    REG(0xE000ED04u)
#define SCB_SHCSR   REG(0xE000ED24u)
#define SCB_CFSR    REG(0xE000ED28u)
#define SCB_HFSR    REG(0xE000ED2Cu)
#define SCB_BFAR    REG(0xE000ED38u)
#define DEMCR       REG(0xE000EDFCu)
#define DWT_CTRL    REG(0xE0001000u)
#define DWT_CYCCNT  REG(0xE0001004u)

/* USART1 on PA9/PA10 (AF7), 8N1, brr = f_APB2 / baud. */
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
