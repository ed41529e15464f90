/* STM32F4 addresses a debugger and the device code both use (RM0090, DS9405), as plain numbers:
 * the device code reads them through pointers, the station through its probe. Defined once. */
#ifndef PV_HAL_STM32F4_MAP_H
#define PV_HAL_STM32F4_MAP_H

#define PV_F4_FLASH_BASE    0x08000000u /* main flash, bank 1 */
#define PV_F4_CCM_BASE      0x10000000u /* core-coupled RAM (F40x/F42x), 64 KB */
#define PV_F4_SRAM_BASE     0x20000000u /* SRAM1, then SRAM2 (and SRAM3 on F42x) */
#define PV_F4_UID           0x1FFF7A10u /* 96-bit Unique ID, 12 bytes */
#define PV_F4_FLASH_SIZE_KB 0x1FFF7A22u /* u16: flash size in KB */
#define PV_F4_DBGMCU_IDCODE 0xE0042000u /* DEV_ID in bits 11:0 */
#define PV_F4_FLASH_REGS    0x40023C00u /* flash interface: ACR, KEYR, OPTKEYR, SR, CR, OPTCR */
#define PV_F4_FLASH_OPTCR                                                                          \
    (PV_F4_FLASH_REGS + 0x14u) /* option control: RDP byte in bits 15:8, nWRP 27:16 */
#define PV_F4_FLASH_OPTCR1 (PV_F4_FLASH_REGS + 0x18u) /* nWRP of sectors 12-23 (2 MB parts) */

#endif
