/* STM32F4 register addresses (RM0090) the device programs read and write: the HAL drivers, the
 * RAM stub's and the bootloader's platform layers, the demo application and the simulator's test
 * programs. Addresses a debugger also reads are in stm32f4_map.h. */
#ifndef PV_HAL_STM32F4_REGS_H
#define PV_HAL_STM32F4_REGS_H

#include <stdint.h>

#include "stm32f4_map.h"

#define REG(a) (*(volatile uint32_t *)(uintptr_t)(a))

#define RCC_CR      REG(0x40023800u)
#define RCC_PLLCFGR REG(0x40023804u)
#define RCC_CFGR    REG(0x40023808u)
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_AHB2ENR REG(0x40023834u)
#define RCC_APB1ENR REG(0x40023840u)
#define RCC_APB2ENR REG(0x40023844u)
#define PWR_CR      REG(0x40007000u)
#define FLASH_ACR   REG(PV_F4_FLASH_REGS + 0x00u)
#define FLASH_KEYR  REG(PV_F4_FLASH_REGS + 0x04u)
#define FLASH_SR    REG(PV_F4_FLASH_REGS + 0x0Cu)
#define FLASH_CR    REG(PV_F4_FLASH_REGS + 0x10u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRH  REG(0x40020024u)
#define USART1_SR   REG(0x40011000u)
#define USART1_DR   REG(0x40011004u)
#define USART1_BRR  REG(0x40011008u)
#define USART1_CR1  REG(0x4001100Cu)
#define RNG_CR      REG(0x50060800u)
#define RNG_SR      REG(0x50060804u)
#define RNG_DR      REG(0x50060808u)
#define DBGMCU_ID   REG(PV_F4_DBGMCU_IDCODE)
#define SYST_CSR    REG(0xE000E010u)
#define SYST_RVR    REG(0xE000E014u)
#define SYST_CVR    REG(0xE000E018u)
#define NVIC_ISER1  REG(0xE000E104u)
#define NVIC_ICER1  REG(0xE000E184u)
#define NVIC_ICPR1  REG(0xE000E284u)
#define SCB_ICSR    REG(0xE000ED04u)
#define SCB_AIRCR   REG(0xE000ED0Cu)
#define SCB_SHCSR   REG(0xE000ED24u)
#define SCB_CFSR    REG(0xE000ED28u)
#define SCB_HFSR    REG(0xE000ED2Cu)
#define SCB_BFAR    REG(0xE000ED38u)
#define DEMCR       REG(0xE000EDFCu)
#define DWT_CTRL    REG(0xE0001000u)
#define DWT_CYCCNT  REG(0xE0001004u)

#endif
