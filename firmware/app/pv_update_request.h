/* How an application asks the bootloader for update mode (docs/update-protocol.md, "Entering
 * update mode"): the word "PVUP" at the start of backup SRAM, then a system reset. Backup SRAM
 * keeps its contents over a reset (not over a power cycle without VBAT), so the bootloader finds
 * the word at its next start, clears it before anything else and waits for an update session on
 * USART1 instead of starting the application. A reset without a new request boots normally.
 *
 * STM32F4 (RM0090): backup SRAM at 0x40024000 is written only with the PWR clock on, the backup
 * domain write protection off (PWR_CR.DBP) and its own clock on (RCC_AHB1ENR.BKPSRAMEN). The
 * bootloader reads and clears the word with the same helpers. */
#ifndef FIRMWARE_APP_PV_UPDATE_REQUEST_H
#define FIRMWARE_APP_PV_UPDATE_REQUEST_H

#include <stdint.h>

#include "hal/stm32f4_regs.h"

#define PV_UPDATE_REQUEST_ADDR 0x40024000u /* first word of backup SRAM */
#define PV_UPDATE_REQUEST_WORD 0x50555650u /* "PVUP" read as a little-endian word */

#define PV_RCC_APB1ENR_PWREN     (1u << 28)
#define PV_RCC_AHB1ENR_BKPSRAMEN (1u << 18)
#define PV_PWR_CR_DBP            (1u << 8)

/* on = 1: clocks on and write protection off; on = 0: back as after reset. */
static inline void pv_backup_sram_access(int on)
{
    if (on) {
        RCC_APB1ENR |= PV_RCC_APB1ENR_PWREN;
        (void)RCC_APB1ENR; /* the clock runs before the first PWR access */
        PWR_CR |= PV_PWR_CR_DBP;
        RCC_AHB1ENR |= PV_RCC_AHB1ENR_BKPSRAMEN;
        (void)RCC_AHB1ENR;
    } else {
        RCC_AHB1ENR &= ~PV_RCC_AHB1ENR_BKPSRAMEN;
        PWR_CR &= ~PV_PWR_CR_DBP;
        RCC_APB1ENR &= ~PV_RCC_APB1ENR_PWREN;
    }
}

/* Writes the request word and resets the core (AIRCR.SYSRESETREQ); does not return. */
__attribute__((noreturn)) static inline void pv_request_update(void)
{
    pv_backup_sram_access(1);
    REG(PV_UPDATE_REQUEST_ADDR) = PV_UPDATE_REQUEST_WORD;
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    __asm volatile("dsb" ::: "memory");
    for (;;)
        __asm volatile("nop");
}

#endif
