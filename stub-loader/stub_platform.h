/* What the stub's portable core needs from the chip it runs on. stub_platform_stm32f4.c
 * implements it for the STM32F4 (with lib/hal); tests/unit/test_stub_proto.c and
 * bench/emu_stub.c implement it with fakes. */
#ifndef PV_STUB_PLATFORM_H
#define PV_STUB_PLATFORM_H

#include <stdint.h>

#include "hal/stm32f4_map.h"
#include "proto/proto.h"

/* Clock (PV_MBOX_F_CLOCK_168), RNG and flash driver up. Returns a PV_ST_* status. */
int stub_platform_init(uint32_t flags);
/* The identity block (PV_ID_*) as read from the chip's own registers, with the image digest. */
void stub_identity(uint8_t id[PV_ID_LEN]);
/* 32 bytes from the hardware RNG. Returns a PV_ST_* status (buffer wiped on error). */
int stub_hw_entropy(uint8_t out[32]);
/* 1 if [addr, addr + len) is RAM the host may lend the stub (not the stub itself). */
int stub_ram_ok(uint32_t addr, uint32_t len);
/* After a failure: flash controller locked (the caller then parks on its idle breakpoint; the
 * clock setup stays valid, the host resets the chip). */
void stub_park(void);
/* The end of every session: flash locked, system reset (Level 2 takes effect here). */
#ifdef STUB_DEVICE
void stub_reset(void) __attribute__((noreturn));
#else
void stub_reset(void);
#endif

/* Where flash starts on this chip (the regions granted must lie in flash). */
#define STUB_FLASH_BASE PV_F4_FLASH_BASE

/* Device memory at a bus address. */
#ifdef STUB_DEVICE
static inline uint8_t *stub_mem(uint32_t addr)
{
    return (uint8_t *)(uintptr_t)addr;
}
#else
uint8_t *stub_mem(uint32_t addr);
#endif

#endif
