/* Bench program for the virtual chip: one X25519 between two breakpoints, built exactly like the
 * RAM stub's copy (same LTO objects, -Os), linked for SRAM with the stub's linker script. The
 * bench reads the sim's instruction counter at both breakpoints. */
#include <stdint.h>

#include "crypto/x25519.h"

void stub_entry(void) __attribute__((naked, noreturn, section(".text.stub_entry")));
void bench_run(void) __attribute__((noreturn, used));

uint8_t bench_out[32] __attribute__((used)); /* kept: the result must be computed */
static const uint8_t scalar[32] = {0xa5, 0x46, 0xe3, 0x6b, 0xf0, 0x52, 0x7c, 0x9d, 0x3b, 0x16, 0x15,
                                   0x4b, 0x82, 0x46, 0x5e, 0xdd, 0x62, 0x14, 0x4c, 0x0a, 0xc1, 0xfc,
                                   0x5a, 0x18, 0x50, 0x6a, 0x22, 0x44, 0xba, 0x44, 0x9a, 0xc4};
static const uint8_t point[32] = {0xe6, 0xdb, 0x68, 0x67, 0x58, 0x30, 0x30, 0xdb, 0x35, 0x94, 0xc1,
                                  0xa4, 0x24, 0xb1, 0x5f, 0x7c, 0x72, 0x66, 0x24, 0xec, 0x26, 0xb3,
                                  0x35, 0x3b, 0x10, 0xa9, 0x03, 0xa6, 0xd0, 0xab, 0x1c, 0x4c};

void bench_run(void)
{
    __asm volatile("bkpt #1" ::: "memory");
    pv_x25519(bench_out, scalar, point);
    __asm volatile("bkpt #2" ::: "memory");
    for (;;)
        __asm volatile("bkpt #3");
}

void stub_entry(void)
{
    __asm volatile("ldr r0, =__stub_ram_end\n"
                   "mov sp, r0\n"
                   "b bench_run\n");
}
