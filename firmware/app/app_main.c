/* Demo application: proves it runs by printing its version and then a counter every 100 ms of
 * device time on USART1 (115200 8N1 at the HSI's 16 MHz, the clock the bootloader hands over).
 * Built in two versions for the rollback test (APP_VERSION), and once as an attack
 * (APP_ATTACK): a signed application that tries to erase the anti-rollback counter, which the
 * bootloader's flash lock must stop. */
#include <stdint.h>

#ifndef APP_VERSION
#error "build with -DAPP_VERSION=\"major.minor.patch\""
#endif

#define REG(a) (*(volatile uint32_t *)(uintptr_t)(a))

#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB2ENR REG(0x40023844u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRH  REG(0x40020024u)
#define USART1_SR   REG(0x40011000u)
#define USART1_DR   REG(0x40011004u)
#define USART1_BRR  REG(0x40011008u)
#define USART1_CR1  REG(0x4001100Cu)
#define SYST_CSR    REG(0xE000E010u)
#define SYST_RVR    REG(0xE000E014u)
#define SYST_CVR    REG(0xE000E018u)
#define SCB_CFSR    REG(0xE000ED28u)
#define SCB_HFSR    REG(0xE000ED2Cu)
#define FLASH_KEYR  REG(0x40023C04u)
#define FLASH_SR    REG(0x40023C0Cu)
#define FLASH_CR    REG(0x40023C10u)

int main(void);
void HardFault_Handler(void);

static void putc1(char c)
{
    while (!(USART1_SR & (1u << 7)))
        ;
    USART1_DR = (uint8_t)c;
}

static void puts1(const char *s)
{
    while (*s)
        putc1(*s++);
}

static void dec1(uint32_t v)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        putc1(buf[--n]);
}

static volatile uint32_t faults;

void HardFault_Handler(void)
{
#if APP_ATTACK
    /* The refused key sequence ends in an imprecise bus error: count it and go on. */
    faults = faults + 1u;
    SCB_CFSR = SCB_CFSR;
    SCB_HFSR = SCB_HFSR;
#else
    puts1("app: fault\r\n");
    for (;;)
        __asm volatile("wfi");
#endif
}

#if APP_ATTACK
/* Default layout: the counter is sector 3 at 0x0800C000 (lib/image/layout.h). */
#define COUNTER_ADDR   0x0800C000u
#define COUNTER_SECTOR 3u

static void attack_counter(void)
{
    puts1("app: attack: unlocking flash\r\n");
    if (FLASH_CR & (1u << 31)) {
        FLASH_KEYR = 0x45670123u;
        FLASH_KEYR = 0xCDEF89ABu;
        __asm volatile("dsb\n isb" ::: "memory");
        for (int i = 0; i < 100; i++)
            __asm volatile("nop");
    }
    if (FLASH_CR & (1u << 31)) {
        puts1("app: attack: flash unlock refused (");
        dec1(faults);
        puts1(" bus faults)\r\n");
        return;
    }
    puts1("app: attack: flash unlocked, erasing the counter sector\r\n");
    FLASH_CR = (1u << 1) | (2u << 8) | (COUNTER_SECTOR << 3);
    FLASH_CR = (1u << 1) | (2u << 8) | (COUNTER_SECTOR << 3) | (1u << 16);
    while (FLASH_SR & (1u << 16))
        ;
    FLASH_CR = 1u << 31;
    if (REG(COUNTER_ADDR) == 0xFFFFFFFFu)
        puts1("app: attack: counter sector erased\r\n");
    else
        puts1("app: attack: erase failed\r\n");
}
#endif

int main(void)
{
    RCC_AHB1ENR |= 1u << 0;
    RCC_APB2ENR |= 1u << 4;
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);
    GPIOA_AFRH = (GPIOA_AFRH & ~0xFF0u) | 0x770u;
    USART1_BRR = (16000000u + 57600u) / 115200u;
    USART1_CR1 = (1u << 13) | (1u << 3) | (1u << 2);
    puts1("app: demo " APP_VERSION " running\r\n");
#if APP_ATTACK
    attack_counter();
#endif
    SYST_RVR = 16000u - 1u; /* 1 ms at 16 MHz */
    SYST_CVR = 0;
    SYST_CSR = 5u;
    for (uint32_t count = 0;; count++) {
        puts1("app: count ");
        dec1(count);
        puts1("\r\n");
        for (int ms = 0; ms < 100;)
            if (SYST_CSR & (1u << 16))
                ms++;
    }
}
