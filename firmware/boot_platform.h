/* What the boot flow needs from the chip, apart from flash (lib/hal/flash.h): clocks, the
 * console on USART1, the Unique ID, locking the flash interface until reset, and the jump into
 * the application. One file per family implements it (platform_stm32f4.c). */
#ifndef FIRMWARE_BOOT_PLATFORM_H
#define FIRMWARE_BOOT_PLATFORM_H

#include <stdint.h>

#include "hal/stm32f4_map.h"

#define PLAT_FLASH_BASE PV_F4_FLASH_BASE
/* Where an application's initial stack pointer may point: SRAM1-3 or the CCM (F42x). */
#define PLAT_SRAM_LO PV_F4_SRAM_BASE
#define PLAT_SRAM_HI (PV_F4_SRAM_BASE + (192u << 10))
#define PLAT_CCM_LO  PV_F4_CCM_BASE
#define PLAT_CCM_HI  (PV_F4_CCM_BASE + (64u << 10))
/* VTOR alignment: the next power of two above the F42x vector table (16 + 91 words). */
#define PLAT_VTOR_ALIGN 512u

/* Core clock 168 MHz from the HSI through the PLL (APB2 84 MHz), flash wait states set. */
void plat_clock_init(void);
/* USART1 on PA9/PA10, 115200 8N1 at the clock in force (again after plat_clock_init). */
void plat_console_init(void);
void plat_console_putc(char c);
/* The next byte received on USART1, or -1 when none is waiting (an overrun only loses bytes:
 * the update link's CRC and resends deal with that). */
int plat_console_getc(void);
/* Sleeps until USART1 has received a byte (returns at once when one is waiting). */
void plat_console_wait_rx(void);
/* Returns once the last byte written has left the transmitter. */
void plat_console_flush(void);
/* A countdown of ms milliseconds on SysTick (core clock); plat_timer_done() turns 1 once it ran
 * out. plat_timer_stop() leaves SysTick as after reset. */
void plat_timer_start(uint32_t ms);
int plat_timer_done(void);
void plat_timer_stop(void);
/* 1 if the application left the update request word in backup SRAM (app/pv_update_request.h);
 * clears it either way, so the request holds for one reset only. */
int plat_take_update_request(void);
/* System reset (AIRCR.SYSRESETREQ). */
__attribute__((noreturn)) void plat_reset(void);
/* The chip's 96-bit Unique ID as the key slot stores it. */
void plat_uid(uint8_t uid[12]);
/* The layout table inside this bootloader image (lib/image/layout.h). */
const uint8_t *plat_layout_table(void);
/* First byte after this bootloader's image in flash (its size is this minus the flash base). */
uint32_t plat_image_end(void);
/* Leaves FLASH_CR locked until the next reset (a deliberately wrong key sequence), so the
 * application can neither program nor erase flash. 0 once locked, -1 if the chip did not react
 * as RM0090 describes. */
int plat_flash_lock_until_reset(void);
/* Back to the reset clock (HSI 16 MHz), USART1 and its pins released. */
void plat_deinit(void);
/* Points VTOR at vtor, clears the bootloader's RAM, loads MSP from the table, jumps to reset. */
__attribute__((noreturn)) void plat_jump(uint32_t vtor);
/* Sleeps forever (the console stays as it is). */
__attribute__((noreturn)) void plat_halt(void);

#endif
