/* STM32F4 addresses a debugger and the device code both use (RM0090, DS9405), as plain numbers:
 * the device code reads them through pointers, the station through its probe. Defined once. */
#ifndef PV_HAL_STM32F4_MAP_H
#define PV_HAL_STM32F4_MAP_H

#define PV_F4_FLASH_BASE    0x08000000u /* main flash, bank 1 */
#define PV_F4_UID           0x1FFF7A10u /* 96-bit Unique ID, 12 bytes */
#define PV_F4_FLASH_SIZE_KB 0x1FFF7A22u /* u16: flash size in KB */
#define PV_F4_DBGMCU_IDCODE 0xE0042000u /* DEV_ID in bits 11:0 */
#define PV_F4_FLASH_OPTCR   0x40023C14u /* option control: RDP byte in bits 15:8, nWRP 27:16 */
#define PV_F4_FLASH_OPTCR1  0x40023C18u /* nWRP of sectors 12-23 (2 MB parts) */

#endif
