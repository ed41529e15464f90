/* SysTick interrupts at 1 kHz wake the core from WFI; after 10 ticks it checks SVC and PendSV and
 * reports, with the DWT cycle count for the 10 ms, over USART1. */
#include "board.h"

static volatile uint32_t ticks, svc_seen, pendsv_seen;

void SysTick_Handler(void);
void SVC_Handler(void);
void PendSV_Handler(void);

void SysTick_Handler(void)
{
    ticks++;
}

void SVC_Handler(void)
{
    svc_seen++;
}

void PendSV_Handler(void)
{
    pendsv_seen++;
}

int main(void)
{
    usart1_init(16000000u / 115200u);
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    SYST_RVR = 16000u - 1u; /* 1 ms at 16 MHz */
    SYST_CVR = 0;
    SYST_CSR = 7u; /* enable, interrupt, core clock */
    uint32_t start = DWT_CYCCNT;
    while (ticks < 10)
        __asm volatile("wfi");
    uint32_t cycles = DWT_CYCCNT - start;
    SYST_CSR = 0;
    __asm volatile("svc #1");
    SCB_ICSR = 1u << 28; /* PENDSVSET */
    __asm volatile("dsb\nisb");
    usart1_puts("systick ");
    usart1_dec(ticks);
    usart1_puts(" ticks, ");
    usart1_dec(cycles);
    usart1_puts(" cycles, svc ");
    usart1_dec(svc_seen);
    usart1_puts(", pendsv ");
    usart1_dec(pendsv_seen);
    usart1_puts("\r\n");
    for (;;)
        __asm volatile("wfi");
}
