/* Boots from flash, runs the PLL at 168 MHz from HSI, greets over USART1 (115200 8N1) and then
 * prints a counter every 100 ms of device time, echoing whatever it receives. */
#include "board.h"

static void clock_168mhz(void)
{
    FLASH_ACR = 0x705u; /* 5 wait states, prefetch, I/D caches */
    /* HSI 16 MHz / M 16 * N 336 / P 2 = 168 MHz; Q 7 -> 48 MHz for USB/RNG. */
    RCC_PLLCFGR = 16u | (336u << 6) | (0u << 16) | (7u << 24);
    RCC_CR |= 1u << 24;
    while (!(RCC_CR & (1u << 25)))
        ;
    RCC_CFGR = (RCC_CFGR & ~0xFCF3u) | (5u << 10) | (4u << 13) | 2u; /* APB1 /4, APB2 /2, PLL */
    while (((RCC_CFGR >> 2) & 3u) != 2u)
        ;
}

int main(void)
{
    clock_168mhz();
    usart1_init(84000000u / 115200u);
    usart1_puts("hello from the virtual STM32F427\r\n");
    SYST_RVR = 168000u - 1u; /* 1 ms */
    SYST_CVR = 0;
    SYST_CSR = 5u; /* enable, core clock */
    for (uint32_t count = 0;; count++) {
        usart1_puts("count ");
        usart1_dec(count);
        usart1_puts("\r\n");
        for (int ms = 0; ms < 100;) {
            if (SYST_CSR & (1u << 16))
                ms++;
            if (USART1_SR & (1u << 5))
                usart1_putc((char)USART1_DR);
        }
    }
}
