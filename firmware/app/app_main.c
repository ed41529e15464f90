/* Demo application: proves it runs by printing its version and then a counter every 100 ms of
 * device time on USART1 (115200 8N1 at the HSI's 16 MHz, the clock the bootloader hands over).
 * The line "update" (ended by CR or LF) on USART1 makes it ask the bootloader for update mode
 * (pv_update_request.h). Built in two versions for the rollback and update tests (APP_VERSION),
 * and once as an attack (APP_ATTACK): a signed application that tries to erase the anti-rollback
 * counter, which the bootloader's flash lock must stop. Built with APP_DEVICE_DATA, it also
 * checks the per-device data record (pv_device_data.h) and prints its serial and MAC. */
#include <stddef.h>
#include <stdint.h>

#ifndef APP_VERSION
#error "build with -DAPP_VERSION=\"major.minor.patch\""
#endif

#include "hal/stm32f4_usart1.h"
#include "image/layout.h"
#include "pv_update_request.h"
#if APP_DEVICE_DATA
#include "pv_device_data.h"
#endif

int main(void);
void HardFault_Handler(void);

static volatile uint32_t faults;

void HardFault_Handler(void)
{
#if APP_ATTACK
    /* The refused key sequence ends in an imprecise bus error: count it and go on. */
    faults = faults + 1u;
    SCB_CFSR = SCB_CFSR;
    SCB_HFSR = SCB_HFSR;
#else
    usart1_puts("app: fault\r\n");
    for (;;)
        __asm volatile("wfi");
#endif
}

#if APP_ATTACK
/* Default layout: the counter is sector 3 (lib/image/layout.h). */
#define COUNTER_ADDR   PV_LAYOUT_DEFAULT_COUNTER_ADDR
#define COUNTER_SECTOR 3u

static void attack_counter(void)
{
    usart1_puts("app: attack: unlocking flash\r\n");
    if (FLASH_CR & (1u << 31)) {
        FLASH_KEYR = 0x45670123u;
        FLASH_KEYR = 0xCDEF89ABu;
        __asm volatile("dsb\n isb" ::: "memory");
        for (int i = 0; i < 100; i++)
            __asm volatile("nop");
    }
    if (FLASH_CR & (1u << 31)) {
        usart1_puts("app: attack: flash unlock refused (");
        usart1_dec(faults);
        usart1_puts(" bus faults)\r\n");
        return;
    }
    usart1_puts("app: attack: flash unlocked, erasing the counter sector\r\n");
    FLASH_CR = (1u << 1) | (2u << 8) | (COUNTER_SECTOR << 3);
    FLASH_CR = (1u << 1) | (2u << 8) | (COUNTER_SECTOR << 3) | (1u << 16);
    while (FLASH_SR & (1u << 16))
        ;
    FLASH_CR = 1u << 31;
    if (REG(COUNTER_ADDR) == 0xFFFFFFFFu)
        usart1_puts("app: attack: counter sector erased\r\n");
    else
        usart1_puts("app: attack: erase failed\r\n");
}
#endif

/* Looks at one received byte, if any: after "update" and CR or LF, requests update mode. */
static void poll_command(void)
{
    static const char cmd[] = "update";
    static unsigned matched;
    if (!(USART1_SR & (1u << 5)))
        return;
    char c = (char)USART1_DR;
    if (matched == sizeof cmd - 1 && (c == '\r' || c == '\n')) {
        usart1_puts("app: update requested, resetting\r\n");
        while (!(USART1_SR & (1u << 6)))
            ; /* TC: the line has left before the reset */
        pv_request_update();
    }
    matched = c == cmd[matched] ? matched + 1u : c == cmd[0] ? 1u : 0u;
}

#if APP_DEVICE_DATA
/* "app: serial S, mac M" from the checked record; nothing on a device without one. */
static void print_device_data(void)
{
    static const char digits[] = "0123456789abcdef";
    int err;
    const uint8_t *rec = pv_device_data(&err), *v;
    size_t len;
    if (!rec) {
        if (err != PV_DEVDATA_ERR_MAGIC) {
            usart1_puts("app: device data refused: ");
            usart1_puts(pv_devdata_strerror(err));
            usart1_puts("\r\n");
        }
        return;
    }
    if (pv_devdata_find(rec, "serial", NULL, &v, &len) == PV_DEVDATA_OK) {
        usart1_puts("app: serial ");
        for (size_t i = 0; i < len; i++)
            usart1_putc((char)v[i]);
    }
    if (pv_devdata_find(rec, "mac", NULL, &v, &len) == PV_DEVDATA_OK) {
        usart1_puts(", mac ");
        for (size_t i = 0; i < len; i++) {
            usart1_putc(digits[v[i] >> 4]);
            usart1_putc(digits[v[i] & 15u]);
            if (i + 1 < len)
                usart1_putc(':');
        }
    }
    usart1_puts("\r\n");
}
#endif

int main(void)
{
    usart1_init((16000000u + 57600u) / 115200u);
    usart1_puts("app: demo " APP_VERSION " running\r\n");
#if APP_DEVICE_DATA
    print_device_data();
#endif
#if APP_ATTACK
    attack_counter();
#endif
    SYST_RVR = 16000u - 1u; /* 1 ms at 16 MHz */
    SYST_CVR = 0;
    SYST_CSR = 5u;
    for (uint32_t count = 0;; count++) {
        usart1_puts("app: count ");
        usart1_dec(count);
        usart1_puts("\r\n");
        for (int ms = 0; ms < 100;) {
            if (SYST_CSR & (1u << 16))
                ms++;
            poll_command();
        }
    }
}
