/* Reads an unmapped address: the bus fault escalates to HardFault, whose handler prints what the
 * core stacked and recorded, and whether the stacked PC is the faulting load. */
#include "board.h"

void HardFault_Handler(void) __attribute__((naked));
void hardfault_report(const uint32_t *frame);
extern const char fault_insn[];

void HardFault_Handler(void)
{
    __asm volatile("tst lr, #4\n"
                   "ite eq\n"
                   "mrseq r0, msp\n"
                   "mrsne r0, psp\n"
                   "b hardfault_report\n");
}

void hardfault_report(const uint32_t *frame)
{
    uint32_t pc = frame[6];
    usart1_puts("fault: CFSR=");
    usart1_hex(SCB_CFSR);
    usart1_puts(" HFSR=");
    usart1_hex(SCB_HFSR);
    usart1_puts(" BFAR=");
    usart1_hex(SCB_BFAR);
    usart1_puts(" PC=");
    usart1_hex(pc);
    usart1_puts(pc == ((uint32_t)(uintptr_t)fault_insn & ~1u) ? " at the load\r\n"
                                                              : " elsewhere\r\n");
    for (;;)
        __asm volatile("wfi");
}

int main(void)
{
    usart1_init(16000000u / 115200u);
    usart1_puts("fault test\r\n");
    __asm volatile(".global fault_insn\n"
                   ".thumb_func\n"
                   "fault_insn: ldr r0, [%0]\n" ::"r"(0x60000000u)
                   : "r0", "memory");
    usart1_puts("no fault\r\n");
    return 0;
}
