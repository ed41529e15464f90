/* Registers and helpers shared by the test programs (RM0090 addresses): the device programs'
 * register list and USART1 console in lib/hal. */
#ifndef TESTS_ARM_BOARD_H
#define TESTS_ARM_BOARD_H

#include "../../lib/hal/stm32f4_regs.h"
#include "../../lib/hal/stm32f4_usart1.h"

#endif
