/* Start-up of the bootloader and of the demo application (both link this object): the 16 system
 * vectors (neither enables an interrupt), .data copy, .bss clear, main. In the bootloader the
 * layout table follows at a fixed offset (bootloader.ld); in the application the vectors sit at
 * the payload start (app.ld), where the bootloader points VTOR. */
#include <stdint.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
int main(void);
void Reset_Handler(void);
void HardFault_Handler(void); /* platform_stm32f4.c, app/app_main.c */
void Default_Handler(void);

typedef void (*vector_t)(void);

__attribute__((section(".isr_vector"), used)) static const vector_t vectors[16] = {
    [0] = (vector_t)(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2] = Default_Handler, /* NMI */
    [3] = HardFault_Handler,
    [4] = Default_Handler,  /* MemManage */
    [5] = Default_Handler,  /* BusFault */
    [6] = Default_Handler,  /* UsageFault */
    [11] = Default_Handler, /* SVC */
    [12] = Default_Handler, /* DebugMon */
    [14] = Default_Handler, /* PendSV */
    [15] = Default_Handler, /* SysTick */
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
    main();
    for (;;)
        __asm volatile("wfi");
}

void Default_Handler(void)
{
    for (;;)
        __asm volatile("wfi");
}
