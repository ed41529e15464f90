/* STM32F4 implementation of boot_platform.h (RM0090 register addresses). */
#include "boot_platform.h"

#include "image/layout.h"

#include "app/pv_update_request.h"
#include "hal/stm32f4_regs.h"

#define CR_LOCK          (1u << 31)
#define RCC_PLL_RST      0x24003010u /* RCC_PLLCFGR after reset */
#define GPIOA_MODER_RST  0xA8000000u
#define USART_SR_ORE     (1u << 3)
#define USART_SR_RXNE    (1u << 5)
#define USART_CR1_RXNEIE (1u << 5)
#define USART1_IRQ_BIT   (1u << (37 - 32)) /* USART1 is IRQ 37: bit 5 of the second NVIC word */

/* Set while a bus fault is the expected outcome of the next store (see the lock below). */
static volatile uint32_t expect_bus_fault;
static volatile uint32_t bus_faults_taken;

extern const uint8_t _pv_layout_start[]; /* bootloader.ld */
extern uint32_t _sidata, _sdata, _edata, _sram_start, _estack;

void HardFault_Handler(void);

void plat_clock_init(void)
{
    FLASH_ACR = 0x705u; /* 5 wait states (168 MHz at 2.7-3.6 V), prefetch, I and D caches */
    /* HSI 16 MHz / M 16 * N 336 / P 2 = 168 MHz; Q 7 -> 48 MHz for USB and the RNG. */
    RCC_PLLCFGR = 16u | (336u << 6) | (0u << 16) | (7u << 24);
    RCC_CR |= 1u << 24;
    for (uint32_t n = 0; !(RCC_CR & (1u << 25)) && n < 1000000u; n++)
        ;
    /* APB1 /4 (42 MHz), APB2 /2 (84 MHz), SYSCLK from the PLL; stay on the HSI if it never
     * locked (slower, but the boot still completes). */
    RCC_CFGR = (RCC_CFGR & ~0xFCF3u) | (5u << 10) | (4u << 13) | 2u;
    for (uint32_t n = 0; ((RCC_CFGR >> 2) & 3u) != 2u && n < 1000000u; n++)
        ;
}

void plat_console_init(void)
{
    RCC_AHB1ENR |= 1u << 0;
    RCC_APB2ENR |= 1u << 4;
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18); /* PA9, PA10 alternate */
    GPIOA_AFRH = (GPIOA_AFRH & ~0xFF0u) | 0x770u;               /* AF7 = USART1 */
    /* APB2 = SYSCLK (HSI 16 MHz or the PLL's 168 MHz) over PPRE2 (0xx: 1, 1xx: 2 << xx) */
    uint32_t ppre2 = (RCC_CFGR >> 13) & 7u;
    uint32_t pclk2 = (((RCC_CFGR >> 2) & 3u) == 2u ? 168000000u : 16000000u) >>
                     (ppre2 & 4u ? (ppre2 & 3u) + 1u : 0u);
    USART1_BRR = (pclk2 + 57600u) / 115200u;
    USART1_CR1 = (1u << 13) | (1u << 3) | (1u << 2); /* UE TE RE */
}

void plat_console_putc(char c)
{
    for (uint32_t n = 0; !(USART1_SR & (1u << 7)) && n < 100000u; n++)
        ;
    USART1_DR = (uint8_t)c;
}

int plat_console_getc(void)
{
    /* RXNE, or ORE (an overrun: DR still holds the last byte received; reading it clears ORE) */
    if (!(USART1_SR & (USART_SR_RXNE | USART_SR_ORE)))
        return -1;
    return (int)(USART1_DR & 0xFFu);
}

void plat_console_wait_rx(void)
{
    /* WFI wakes on a pending enabled interrupt even while PRIMASK keeps it from being taken, so
     * the USART1 interrupt only wakes the core (the bootloader has no handler for it). */
    __asm volatile("cpsid i" ::: "memory");
    USART1_CR1 |= USART_CR1_RXNEIE;
    NVIC_ICPR1 = USART1_IRQ_BIT; /* the pending bit latched by the last byte */
    NVIC_ISER1 = USART1_IRQ_BIT;
    if (!(USART1_SR & (USART_SR_RXNE | USART_SR_ORE)))
        __asm volatile("wfi");
    NVIC_ICER1 = USART1_IRQ_BIT;
    NVIC_ICPR1 = USART1_IRQ_BIT;
    USART1_CR1 &= ~USART_CR1_RXNEIE;
    __asm volatile("cpsie i" ::: "memory");
}

void plat_console_flush(void)
{
    for (uint32_t n = 0; !(USART1_SR & (1u << 6)) && n < 100000u; n++)
        ; /* TC */
}

static uint32_t timer_ms_left;

void plat_timer_start(uint32_t ms)
{
    uint32_t hclk = ((RCC_CFGR >> 2) & 3u) == 2u ? 168000000u : 16000000u;
    timer_ms_left = ms;
    SYST_CSR = 0;
    SYST_RVR = hclk / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 5u; /* processor clock, enabled, no interrupt */
}

int plat_timer_done(void)
{
    if (timer_ms_left && (SYST_CSR & (1u << 16))) /* COUNTFLAG: a millisecond went by */
        timer_ms_left--;
    return timer_ms_left == 0;
}

void plat_timer_stop(void)
{
    SYST_CSR = 0;
    SYST_RVR = 0;
    SYST_CVR = 0;
    timer_ms_left = 0;
}

int plat_take_update_request(void)
{
    pv_backup_sram_access(1);
    int requested = REG(PV_UPDATE_REQUEST_ADDR) == PV_UPDATE_REQUEST_WORD;
    REG(PV_UPDATE_REQUEST_ADDR) = 0;
    __asm volatile("dsb" ::: "memory");
    pv_backup_sram_access(0);
    return requested;
}

void plat_reset(void)
{
    plat_console_flush();
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    __asm volatile("dsb" ::: "memory");
    for (;;)
        __asm volatile("nop");
}

void plat_uid(uint8_t uid[12])
{
    const volatile uint8_t *p = (const volatile uint8_t *)PV_F4_UID;
    for (int i = 0; i < 12; i++)
        uid[i] = p[i];
}

const uint8_t *plat_layout_table(void)
{
    /* The provisioner patches these bytes after the build: launder the pointer so the compiler
     * cannot fold the build-time values into the code. */
    const uint8_t *p = _pv_layout_start;
    __asm volatile("" : "+r"(p));
    return p;
}

uint32_t plat_image_end(void)
{
    return (uint32_t)(uintptr_t)&_sidata + (uint32_t)((uintptr_t)&_edata - (uintptr_t)&_sdata);
}

int plat_flash_lock_until_reset(void)
{
    FLASH_CR = CR_LOCK;
    uint32_t before = bus_faults_taken;
    expect_bus_fault = 1;
    /* Any key while the controller is locked but not a KEY1 first is a wrong sequence: the
     * interface answers with a bus error and keeps FLASH_CR locked until the next reset. */
    FLASH_KEYR = 0;
    __asm volatile("dsb\n isb" ::: "memory");
    for (uint32_t n = 0; bus_faults_taken == before && n < 1000u; n++)
        __asm volatile("nop");
    expect_bus_fault = 0;
    return bus_faults_taken != before && (FLASH_CR & CR_LOCK) ? 0 : -1;
}

void HardFault_Handler(void)
{
    if (expect_bus_fault) {
        /* The imprecise bus error of the lock above: acknowledge it and carry on. */
        expect_bus_fault = 0;
        bus_faults_taken = bus_faults_taken + 1u;
        SCB_CFSR = SCB_CFSR;
        SCB_HFSR = SCB_HFSR;
        return;
    }
    static const char msg[] = "boot: HALT: unexpected fault\r\n";
    for (const char *p = msg; *p; p++)
        plat_console_putc(*p);
    for (;;)
        __asm volatile("wfi");
}

void plat_deinit(void)
{
    for (uint32_t n = 0; !(USART1_SR & (1u << 6)) && n < 100000u; n++)
        ; /* TC: the last byte has left */
    USART1_CR1 = 0;
    USART1_BRR = 0;
    GPIOA_MODER = GPIOA_MODER_RST;
    GPIOA_AFRH = 0;
    RCC_APB2ENR &= ~(1u << 4);
    RCC_AHB1ENR &= ~(1u << 0);
    RCC_CFGR = 0; /* SYSCLK back to the HSI, prescalers 1 */
    for (uint32_t n = 0; ((RCC_CFGR >> 2) & 3u) != 0u && n < 1000000u; n++)
        ;
    RCC_CR &= ~(1u << 24);
    RCC_PLLCFGR = RCC_PLL_RST;
    FLASH_ACR = 0; /* zero wait states are enough at 16 MHz */
}

__attribute__((naked, noreturn)) void plat_jump(__attribute__((unused)) uint32_t vtor)
{
    /* r0 = vtor. SP and entry are read before the RAM wipe, which also wipes this stack. */
    __asm volatile("ldr r1, [r0]\n"
                   "ldr r2, [r0, #4]\n"
                   "ldr r3, =0xE000ED08\n" /* VTOR */
                   "str r0, [r3]\n"
                   "ldr r3, =_sram_start\n"
                   "ldr r4, =_estack\n"
                   "movs r5, #0\n"
                   "1: cmp r3, r4\n"
                   "bhs 2f\n"
                   "str r5, [r3], #4\n"
                   "b 1b\n"
                   "2: dsb\n"
                   "isb\n"
                   "msr msp, r1\n"
                   "bx r2\n"
                   ".ltorg\n");
}

void plat_halt(void)
{
    for (;;)
        __asm volatile("wfi");
}
