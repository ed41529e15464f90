/* The virtual STM32F427's core and debug logic through sim/chip.h: programs built in tests/arm
 * booting from flash (PLL, USART, SysTick, SVC, PendSV, HardFault through the vector table),
 * lockup, the debug registers exactly as OpenOCD drives them (FACTS §4.2-4.4: pipelined register
 * transfer, step through an FPB breakpoint and C_STEP, reset halt with VC_CORERESET), BKPT, DWT
 * CYCCNT, translation-cache invalidation, the GDB conveniences, a flash loader fed while the core
 * runs, and the instruction throughput. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_chip_util.h"

#include <time.h>

static const uint16_t count_loop[] = {0x3001 /* adds r0,#1 */, 0x3102 /* adds r1,#2 */,
                                      0xE7FC /* b .-4 */};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t reset_vector(chip_t *c)
{
    return rd32(c, 0x08000004u) & ~1u;
}

static void test_hello_usart(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 20, false);
    flash_load_bin(c, ARM_TESTS "hello_usart.bin");
    chip_reset(c, false);
    assert_false(chip_is_halted(c));
    char out[4096] = "";
    assert_non_null(run_until_text(c, "count 0\r\n", 200, out, sizeof out));
    assert_non_null(strstr(out, "hello from the virtual STM32F427\r\n"));
    uint64_t ns0 = chip_counters(c)->device_ns, cyc0 = chip_counters(c)->cycles;
    assert_non_null(run_until_text(c, "count 1\r\n", 2000, out, sizeof out));
    /* 100 SysTick periods of 168000 core cycles: 100 ms only if the PLL runs at 168 MHz. */
    uint64_t dns = chip_counters(c)->device_ns - ns0, dcyc = chip_counters(c)->cycles - cyc0;
    assert_true(dns > 99000000u && dns < 101000000u);
    assert_true(dcyc > 16600000u && dcyc < 17000000u);
    /* Bytes given to RX come back (echo). */
    chip_usart_give_rx(c, (const uint8_t *)"ping", 4);
    assert_non_null(run_until_text(c, "ping", 200, out, sizeof out));
    tchip_cleanup(&t);
}

static void test_hardfault_program(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 21, false);
    flash_load_bin(c, ARM_TESTS "fault.bin");
    chip_reset(c, false);
    char out[4096] = "";
    assert_non_null(run_until_text(c, "\r\n", 100, out, sizeof out));
    if (!run_until_text(c, "at the load", 200, out, sizeof out))
        fail_msg("output: %s", out);
    /* Escalated precise bus error: CFSR PRECISERR|BFARVALID, HFSR FORCED, BFAR the address. */
    assert_non_null(strstr(out, "fault: CFSR=00008200 HFSR=40000000 BFAR=60000000"));
    assert_null(strstr(out, "no fault"));
    /* The handler ends in WFI with nothing to wake it: the core sleeps. */
    assert_int_equal(chip_run(c, 1000), CHIP_RUN_IDLE);
    assert_true(rd32(c, DHCSR) & (1u << 18)); /* S_SLEEP */
    tchip_cleanup(&t);
}

static void test_systick_svc_pendsv(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 22, false);
    flash_load_bin(c, ARM_TESTS "systick.bin");
    chip_reset(c, false);
    char out[4096] = "";
    assert_non_null(run_until_text(c, "\r\n", 500, out, sizeof out));
    unsigned ticks = 0, cycles = 0, svc = 0, pendsv = 0;
    assert_int_equal(sscanf(out, "systick %u ticks, %u cycles, svc %u, pendsv %u", &ticks, &cycles,
                            &svc, &pendsv),
                     4);
    assert_int_equal(ticks, 10);
    assert_int_equal(svc, 1);
    assert_int_equal(pendsv, 1);
    /* 10 periods of 16000 cycles, counted by DWT CYCCNT, WFI sleeping in between. */
    assert_true(cycles >= 159000 && cycles <= 161000);
    tchip_cleanup(&t);
}

static void test_vector_catch_hardfault(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 23, false);
    flash_load_bin(c, ARM_TESTS "fault.bin");
    wr32(c, DHCSR, 0xA05F0001u);
    wr32(c, DEMCR, 0x01000400u); /* TRCENA | VC_HARDERR */
    chip_reset(c, false);
    run_until_halt(c, 200);
    assert_true(chip_is_halted(c));
    assert_int_equal(chip_halt_reason(c), CHIP_HALT_VCATCH);
    assert_true(rd32(c, DFSR) & 8u);
    uint32_t handler = rd32(c, 0x0800000Cu) & ~1u;
    assert_int_equal(get_reg(c, 15), handler);
    assert_int_equal(get_reg(c, 16) & 0x1FFu, 3);        /* IPSR: HardFault */
    assert_int_equal(rd32(c, 0xE000ED2Cu), 0x40000000u); /* HFSR: FORCED */
    tchip_cleanup(&t);
}

static void test_lockup(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 24, false);
    /* Erased flash: the reset vector is 0xFFFFFFFF, HardFault's too. */
    enum chip_run_result r = CHIP_RUN_SLICE_DONE;
    for (int i = 0; i < 10 && r == CHIP_RUN_SLICE_DONE; i++)
        r = chip_run(c, 1000);
    assert_int_equal(r, CHIP_RUN_LOCKUP);
    assert_int_equal(chip_run(c, 1000), CHIP_RUN_IDLE);
    assert_true(rd32(c, DHCSR) & (1u << 19)); /* S_LOCKUP */
    /* OpenOCD clears lockup by halting. */
    wr32(c, DHCSR, 0xA05F0003u);
    assert_true(chip_is_halted(c));
    assert_int_equal(rd32(c, DHCSR) & (1u << 19), 0);
    tchip_cleanup(&t);
}

static void test_debug_registers(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 25, false);
    /* Writes without DBGKEY are ignored. */
    wr32(c, DHCSR, 0x00000003u);
    assert_false(chip_is_halted(c));
    wr32(c, DHCSR, 0xA05F0001u);
    uint32_t d = rd32(c, DHCSR);
    assert_int_equal(d & 0x000F0003u, 0x00010001u); /* C_DEBUGEN, S_REGRDY, not halted */
    wr32(c, DHCSR, 0xA05F0003u);
    d = rd32(c, DHCSR);
    assert_int_equal(d & 0x00030003u, 0x00030003u); /* C_HALT reads 1 in Debug state, S_HALT */
    assert_true(rd32(c, DFSR) & 1u);
    wr32(c, DFSR, rd32(c, DFSR));
    assert_int_equal(rd32(c, DFSR), 0);
    /* Set PC and xPSR through DCRDR/DCRSR and run the counter loop from SRAM. */
    load_ram(c, 0x20000000u, count_loop, 3);
    wr32(c, DCRDR, 0x20000000u);
    wr32(c, DCRSR, 0x1000Fu);
    wr32(c, DCRDR, 0x01000000u);
    wr32(c, DCRSR, 0x10010u);
    wr32(c, DCRDR, 0);
    wr32(c, DCRSR, 0x10000u);
    wr32(c, DCRSR, 0x10001u);
    wr32(c, DHCSR, 0xA05F0001u);
    assert_int_equal(chip_run(c, 30000), CHIP_RUN_SLICE_DONE);
    d = rd32(c, DHCSR);
    assert_true(d & (1u << 24));                      /* S_RETIRE_ST: instructions ran */
    assert_int_equal(d & (1u << 17), 0);              /* running */
    assert_int_equal(rd32(c, DHCSR) & (1u << 24), 0); /* clears on read */
    wr32(c, DHCSR, 0xA05F0003u);
    /* Pipelined like OpenOCD's fast path: W DCRSR, R DHCSR, R DCRDR back to back. */
    wr32(c, DCRSR, 0);
    d = rd32(c, DHCSR);
    uint32_t r0 = rd32(c, DCRDR);
    wr32(c, DCRSR, 1);
    assert_true(rd32(c, DHCSR) & (1u << 16));
    uint32_t r1 = rd32(c, DCRDR);
    assert_true(d & (1u << 16));
    assert_true(r0 > 5000);
    assert_true(r1 == 2 * r0 || r1 == 2 * r0 - 2);
    /* Register writes: W DCRDR, W DCRSR|REGWnR. */
    wr32(c, DCRDR, 0xCAFEF00Du);
    wr32(c, DCRSR, 0x10005u);
    wr32(c, DCRSR, 5);
    assert_int_equal(rd32(c, DCRDR), 0xCAFEF00Du);
    assert_int_equal(get_reg(c, 5), 0xCAFEF00Du);
    assert_true(get_reg(c, 16) & (1u << 24)); /* Thumb */
    /* MSP/PSP/special registers and FP registers. */
    set_reg(c, 18, 0x20008000u);
    assert_int_equal(get_reg(c, 18), 0x20008000u);
    set_reg(c, 17, 0x2000F000u);
    assert_int_equal(get_reg(c, 13), 0x2000F000u); /* thread mode on MSP */
    set_reg(c, 0x14, 0x00002001u);                 /* BASEPRI 0x20, PRIMASK 1 */
    assert_int_equal(get_reg(c, 0x14), 0x00002001u);
    set_reg(c, 0x14, 0);
    set_reg(c, 0x45, 0x3F800000u);
    assert_int_equal(get_reg(c, 0x45), 0x3F800000u);
    set_reg(c, 0x21, 0x03000000u);
    assert_int_equal(get_reg(c, 0x21), 0x03000000u);
    /* Not halted: no register access. */
    chip_resume(c);
    uint32_t v;
    assert_int_equal(chip_reg_read(c, 0, &v), -1);
    tchip_cleanup(&t);
}

static void test_openocd_step(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 26, false);
    chip_halt(c);
    /* The counter loop in flash (FPB v1 only matches the code region). */
    const uint32_t words[] = {0x31023001u, 0xBF00E7FCu};
    flash_write_words(c, 0x08000100u, words, 2);
    set_reg(c, 15, 0x08000102u);
    set_reg(c, 16, 0x01000000u);
    set_reg(c, 0, 7);
    /* step = temporary breakpoint on the PC + run: it must fire before the instruction. */
    wr32(c, FP_COMP0, 0x88000101u); /* upper halfword of the word at 0x08000100 */
    wr32(c, FP_CTRL, 3);
    assert_int_equal(rd32(c, FP_CTRL), 0x261u);
    wr32(c, DHCSR, 0xA05F0001u);
    assert_false(chip_is_halted(c));
    chip_run(c, 1000);
    assert_true(chip_is_halted(c));
    assert_int_equal(chip_halt_reason(c), CHIP_HALT_BKPT);
    assert_true(rd32(c, DFSR) & 2u);
    assert_int_equal(get_reg(c, 15), 0x08000102u);
    assert_int_equal(get_reg(c, 0), 7);
    /* C_HALT reads 1 after a breakpoint halt (OpenOCD builds its writes from it). */
    assert_true(rd32(c, DHCSR) & 2u);
    wr32(c, FP_COMP0, 0);
    wr32(c, DFSR, rd32(c, DFSR));
    /* HALT|MASKINTS twice: no step. */
    wr32(c, DHCSR, 0xA05F000Bu);
    wr32(c, DHCSR, 0xA05F000Bu);
    assert_int_equal(get_reg(c, 15), 0x08000102u);
    /* STEP|MASKINTS with HALT=0: exactly one instruction, then halted again. */
    wr32(c, DHCSR, 0xA05F000Du);
    assert_true(chip_is_halted(c));
    assert_int_equal(get_reg(c, 15), 0x08000104u);
    assert_int_equal(get_reg(c, 1), 2);
    assert_int_equal(get_reg(c, 0), 7);
    assert_true(rd32(c, DFSR) & 1u);
    wr32(c, DHCSR, 0xA05F000Fu);
    wr32(c, DHCSR, 0xA05F0007u);
    wr32(c, DHCSR, 0xA05F0003u);
    wr32(c, DHCSR, 0xA05F000Du); /* the branch */
    assert_int_equal(get_reg(c, 15), 0x08000100u);
    wr32(c, DHCSR, 0xA05F000Du);
    assert_int_equal(get_reg(c, 15), 0x08000102u);
    assert_int_equal(get_reg(c, 0), 8);
    assert_int_equal(chip_counters(c)->instructions, 3);
    tchip_cleanup(&t);
}

static void test_reset_halt(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 27, false);
    flash_load_bin(c, ARM_TESTS "hello_usart.bin");
    chip_reset(c, false);
    chip_run(c, 5000);
    assert_false(chip_is_halted(c));
    (void)rd32(c, DHCSR); /* consume S_RESET_ST */
    wr32(c, FP_CTRL, 3);
    wr32(c, FP_COMP0 + 4, 0x48000101u);
    /* cortex_m_assert_reset with reset halt: DCRDR 0, DEMCR, AIRCR SYSRESETREQ. */
    uint32_t d = rd32(c, DHCSR);
    if (!(d & 1u))
        wr32(c, DHCSR, 0xA05F0001u);
    wr32(c, DCRDR, 0);
    wr32(c, DEMCR, 0x01000501u);
    wr32(c, AIRCR, 0x00000004u); /* no VECTKEY: nothing */
    assert_false(chip_is_halted(c));
    wr32(c, AIRCR, 0x05FA0004u);
    assert_int_equal(rd32(c, AIRCR) >> 16, 0xFA05u);
    d = rd32(c, DHCSR);
    assert_true(d & (1u << 25)); /* S_RESET_ST */
    assert_true(d & (1u << 17)); /* halted before the first instruction */
    assert_int_equal(rd32(c, DHCSR) & (1u << 25), 0);
    assert_int_equal(chip_halt_reason(c), CHIP_HALT_VCATCH);
    assert_true(rd32(c, DFSR) & 8u);
    assert_int_equal(get_reg(c, 15), reset_vector(c));
    assert_int_equal(get_reg(c, 16), 0x01000000u);
    assert_int_equal(get_reg(c, 17), rd32(c, 0x08000000u));
    /* Debug logic survives a system reset; the flash interface does not. */
    assert_int_equal(rd32(c, FP_CTRL), 0x261u);
    assert_int_equal(rd32(c, FP_COMP0 + 4), 0x48000101u);
    assert_int_equal(rd32(c, DEMCR), 0x01000501u);
    assert_int_equal(rd32(c, FLASH_CR), 0x80000000u);
    /* reset-init as stm32f4x.cfg does it: PLL from HSI to 64 MHz. */
    wr32(c, 0x40023804u, 0x08012008u);
    wr32(c, 0x40023C00u, 0x00000102u);
    wr32(c, 0x40023800u, rd32(c, 0x40023800u) | 0x01000000u);
    assert_true(rd32(c, 0x40023800u) & 0x02000000u); /* PLLRDY */
    wr32(c, 0x40023808u, rd32(c, 0x40023808u) | 0x1000u);
    wr32(c, 0x40023808u, rd32(c, 0x40023808u) | 0x2u);
    assert_int_equal(rd32(c, 0x40023808u) & 0xCu, 0x8u); /* SWS = PLL */
    /* Without vector catch the core runs from reset (reset run). */
    wr32(c, DEMCR, 0x01000000u);
    wr32(c, DHCSR, 0xA05F0001u);
    wr32(c, AIRCR, 0x05FA0004u);
    assert_false(chip_is_halted(c));
    char out[4096] = "";
    assert_non_null(run_until_text(c, "hello", 200, out, sizeof out));
    tchip_cleanup(&t);
}

static void test_dwt_cyccnt(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 28, false);
    chip_halt(c);
    load_ram(c, 0x20000000u, count_loop, 3);
    wr32(c, DEMCR, 0x01000000u);
    wr32(c, 0xE0001004u, 0);
    wr32(c, 0xE0001000u, 1);
    start_at(c, 0x20000000u);
    for (int i = 0; i < 10; i++)
        chip_run(c, 10000);
    chip_halt(c);
    uint32_t cyc = rd32(c, 0xE0001004u);
    if (cyc < 99900 || cyc > 100000)
        fail_msg("CYCCNT %u after 100000 instructions", cyc);
    assert_int_equal(rd32(c, 0xE0001004u), cyc); /* halted: stands still */
    /* TRCENA off stops it too. */
    chip_resume(c);
    wr32(c, DEMCR, 0);
    chip_run(c, 10000);
    assert_int_equal(rd32(c, 0xE0001004u), cyc);
    tchip_cleanup(&t);
}

static void test_bkpt_instruction(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 29, false);
    chip_halt(c);
    const uint16_t code[] = {0x2005 /* movs r0,#5 */, 0xBE42 /* bkpt #0x42 */, 0xE7FE};
    load_ram(c, 0x20000000u, code, 3);
    start_at(c, 0x20000000u);
    run_until_halt(c, 10);
    assert_int_equal(chip_halt_reason(c), CHIP_HALT_BKPT);
    assert_int_equal(get_reg(c, 15), 0x20000002u);
    assert_int_equal(get_reg(c, 0), 5);
    /* Without a debugger (C_DEBUGEN = 0) BKPT is a HardFault (HFSR.DEBUGEVT). */
    wr32(c, 0x20000400u + 12, 0x20000101u);
    load_ram(c, 0x20000100u, (const uint16_t[]){0xE7FE}, 1);
    wr32(c, 0xE000ED08u, 0x20000400u);
    start_at(c, 0x20000000u);
    wr32(c, DHCSR, 0xA05F0000u);
    for (int i = 0; i < 5; i++)
        chip_run(c, 1000);
    assert_true(rd32(c, 0xE000ED2Cu) & (1u << 31));
    chip_halt(c);
    assert_int_equal(get_reg(c, 15), 0x20000100u);
    tchip_cleanup(&t);
}

static void test_code_invalidation(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 30, false);
    chip_halt(c);
    /* SRAM: run, overwrite through the debugger, run again. */
    load_ram(c, 0x20000100u, (const uint16_t[]){0x2001, 0xBE00}, 2);
    for (int round = 1; round <= 3; round++) {
        load_ram(c, 0x20000100u, (const uint16_t[]){(uint16_t)(0x2000 + round), 0xBE00}, 2);
        start_at(c, 0x20000100u);
        run_until_halt(c, 10);
        assert_int_equal(get_reg(c, 0), (uint32_t)round);
    }
    /* Flash: program, run, erase and program other code, run again. */
    for (uint32_t round = 1; round <= 2; round++) {
        uint32_t w = 0xBE002000u + round;
        assert_int_equal(flash_erase(c, 2) & 0xF0u, 0);
        flash_write_words(c, 0x08008000u, &w, 1);
        start_at(c, 0x08008000u);
        run_until_halt(c, 10);
        assert_int_equal(get_reg(c, 0), round);
    }
    tchip_cleanup(&t);
}

/* A single step runs one instruction even where the code around it has been translated already
 * (a step translates only the block at the PC again), in SRAM and in flash through both of its
 * aliases, also into a block on another page; code changed after a step runs as changed. */
static void test_step_translated_code(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 32, false);
    chip_halt(c);
    const uint32_t loop_words[] = {0x31023001u /* adds r0,#1; adds r1,#2 */,
                                   0xBF00E7FCu /* b .-4; nop */};
    assert_int_equal(flash_erase(c, 2) & 0xF0u, 0);
    flash_write_words(c, 0x08008000u, loop_words, 2);
    load_ram(c, 0x20000000u, count_loop, 3);
    const uint32_t bases[] = {0x20000000u, 0x08008000u, 0x00008000u};
    for (size_t b = 0; b < 3; b++) {
        uint32_t base = bases[b];
        start_at(c, base);
        assert_int_equal(chip_run(c, 5000), CHIP_RUN_SLICE_DONE); /* every block translated */
        chip_halt(c);
        set_reg(c, 0, 0);
        set_reg(c, 1, 0);
        set_reg(c, 15, base);
        const uint32_t pcs[] = {base + 2, base + 4, base, base + 2, base + 4, base};
        for (size_t i = 0; i < 6; i++) {
            assert_int_equal(chip_step(c), 0);
            assert_int_equal(get_reg(c, 15), pcs[i]);
        }
        assert_int_equal(get_reg(c, 0), 2);
        assert_int_equal(get_reg(c, 1), 4);
    }
    /* A branch to a block on another page, translated earlier: the step ends on its target. */
    load_ram(c, 0x20000000u, (const uint16_t[]){0x3001 /* adds r0,#1 */, 0xE1FD /* b 0x400 */}, 2);
    load_ram(c, 0x20000400u, (const uint16_t[]){0x3102 /* adds r1,#2 */, 0xE5FD /* b 0x000 */}, 2);
    start_at(c, 0x20000000u);
    assert_int_equal(chip_run(c, 5000), CHIP_RUN_SLICE_DONE);
    chip_halt(c);
    set_reg(c, 0, 0);
    set_reg(c, 1, 0);
    set_reg(c, 15, 0x20000000u);
    const uint32_t far_pcs[] = {0x20000002u, 0x20000400u, 0x20000402u, 0x20000000u};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(chip_step(c), 0);
        assert_int_equal(get_reg(c, 15), far_pcs[i]);
    }
    assert_int_equal(get_reg(c, 0), 1);
    assert_int_equal(get_reg(c, 1), 2);
    load_ram(c, 0x20000000u, count_loop, 3);
    /* SRAM code changed between steps runs as changed: adds r0,#1 becomes adds r0,#5. */
    set_reg(c, 0, 0);
    set_reg(c, 15, 0x20000000u);
    assert_int_equal(chip_step(c), 0);
    load_ram(c, 0x20000000u, (const uint16_t[]){0x3005}, 1);
    set_reg(c, 15, 0x20000000u);
    assert_int_equal(chip_step(c), 0);
    assert_int_equal(get_reg(c, 0), 6);
    start_at(c, 0x20000000u);
    assert_int_equal(chip_run(c, 300), CHIP_RUN_SLICE_DONE);
    chip_halt(c);
    assert_int_equal(get_reg(c, 0) % 5, 1);
    tchip_cleanup(&t);
}

/* Code that keeps changing fills Unicorn's translation cache; the sim empties it between runs
 * before Unicorn would (which crashed), and the code runs on correctly: 57k one-branch blocks in
 * SRAM, rewritten and run three times. */
static void test_translation_cache_flush(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 33, false);
    chip_halt(c);
    const uint32_t n = 0x1C000u / 2; /* below the stack start_at sets */
    const struct chip_counters before = *chip_counters(c);
    for (uint32_t pass = 1; pass <= 3; pass++) {
        for (uint32_t i = 0; i + 2 < n; i++)
            assert_int_equal(chip_dbg_write(c, 0x20000000u + 2 * i, 2, 0xE7FF /* b .+2 */),
                             CHIP_OK);
        load_ram(c, 0x20000000u + 2 * (n - 2),
                 (const uint16_t[]){(uint16_t)(0x2000 + pass), 0xBE00}, 2);
        start_at(c, 0x20000000u);
        run_until_halt(c, 10);
        assert_true(chip_is_halted(c));
        assert_int_equal(get_reg(c, 0), pass); /* movs r0,#pass ran: every block did */
    }
    const struct chip_counters *after = chip_counters(c);
    assert_true(after->tb_translated - before.tb_translated >= 3 * (n - 2));
    assert_true(after->tb_flushes - before.tb_flushes >= 1);
    tchip_cleanup(&t);
}

/* Code changed by a store of the block it is in: the sim drops the translated blocks only when the
 * run stops (Unicorn 2.0.1 crashed when they were dropped under it; the GDB input that showed it
 * is tests/fuzz/corpus/fuzz_sim_rsp/regress-flash-store-in-own-block). In flash, run through the
 * alias at 0, the stores program the words; in SRAM, a store rewrites the next instruction of its
 * block: the rest of the block runs as translated, the next run anew. */
static void test_code_changed_by_its_own_block(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 34, false);
    chip_halt(c);
    assert_int_equal(flash_erase(c, 2) & 0xF0u, 0);
    /* str r0,[r1]; str r0,[r1,#4]; str r0,[r1,#8]; str r0,[r1,#12]; nop x4; bkpt */
    const uint32_t code[] = {0x60486008u, 0x60C86088u, 0xBF00BF00u,
                             0xBF00BF00u, 0xBF00BE00u, 0xFFFFFFFFu};
    flash_write_words(c, 0x08008000u, code, 6);
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x201u); /* PG, PSIZE x32: the store programs */
    set_reg(c, 0, 0xBE00BE00u);
    set_reg(c, 1, 0x00008008u);
    start_at(c, 0x00008000u);
    run_until_halt(c, 10);
    assert_true(chip_is_halted(c));
    flash_wait(c);
    wr32(c, FLASH_CR, 0);
    for (uint32_t a = 0x08008008u; a < 0x08008018u; a += 4)
        assert_int_equal(rd32(c, a), rd32(c, a) & 0xBE00BE00u); /* programmed: bits cleared */
    /* SRAM: str r0,[r1] turns the following adds r2,#1 into adds r2,#4. */
    load_ram(c, 0x20000000u, (const uint16_t[]){0x6008, 0x3201, 0xBE00}, 3);
    set_reg(c, 0, 0xBE003204u);
    set_reg(c, 1, 0x20000002u);
    set_reg(c, 2, 0);
    start_at(c, 0x20000000u);
    run_until_halt(c, 10);
    assert_int_equal(get_reg(c, 2), 1); /* the block ran as translated */
    set_reg(c, 2, 0);
    start_at(c, 0x20000000u);
    run_until_halt(c, 10);
    assert_int_equal(get_reg(c, 2), 4); /* and is translated anew */
    tchip_cleanup(&t);
}

static void test_gdb_conveniences(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 31, false);
    chip_halt(c);
    load_ram(c, 0x20000000u, count_loop, 3);
    set_reg(c, 0, 0);
    set_reg(c, 1, 0);
    assert_int_equal(chip_bkpt_add(c, 0x20000002u), 0);
    start_at(c, 0x20000000u);
    run_until_halt(c, 10);
    assert_int_equal(chip_halt_reason(c), CHIP_HALT_BKPT);
    assert_int_equal(get_reg(c, 15), 0x20000002u);
    assert_int_equal(get_reg(c, 0), 1);
    /* Step over the breakpoint, then run around the loop into it again. */
    assert_int_equal(chip_step(c), 0);
    assert_int_equal(get_reg(c, 15), 0x20000004u);
    assert_int_equal(get_reg(c, 1), 2);
    chip_resume(c);
    run_until_halt(c, 10);
    assert_int_equal(get_reg(c, 15), 0x20000002u);
    assert_int_equal(get_reg(c, 0), 2);
    /* Removed: it runs on. */
    assert_int_equal(chip_bkpt_remove(c, 0x20000002u), 0);
    assert_int_equal(chip_bkpt_remove(c, 0x20000002u), -1);
    chip_resume(c);
    assert_int_equal(chip_run(c, 10000), CHIP_RUN_SLICE_DONE);
    assert_false(chip_is_halted(c));
    chip_halt(c);
    assert_true(get_reg(c, 0) > 1000);
    /* Slots run out. */
    int ok = 0;
    for (uint32_t i = 0; i < 40; i++)
        ok += chip_bkpt_add(c, 0x08000000u + 2 * i) == 0;
    assert_true(ok >= 6 && ok < 40);
    tchip_cleanup(&t);
}

/* Feeds 64 KB to the flash loader through its FIFO while the core runs, the way OpenOCD's
 * asynchronous algorithm does, and checks every byte. */
static void test_flash_loader_streaming(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 32, false);
    size_t stub_len;
    uint8_t *stub = read_file(ARM_TESTS "flash_stub.bin", &stub_len);
    chip_halt(c);
    for (size_t i = 0; i < stub_len; i += 2)
        assert_int_equal(
            chip_dbg_write(c, 0x20000000u + (uint32_t)i, 2, stub[i] | stub[i + 1] << 8), CHIP_OK);
    free(stub);
    const uint32_t fifo = 0x20000100u, fifo_end = fifo + 8 + 16384, total = 65536;
    uint8_t *img = malloc(total);
    assert_non_null(img);
    for (uint32_t i = 0; i < total; i++)
        img[i] = (uint8_t)(i * 7 + (i >> 8));
    /* Erase sectors 0-3 (64 KB). */
    for (uint32_t s = 0; s < 4; s++)
        assert_int_equal(flash_erase(c, s) & 0xF0u, 0);
    flash_unlock(c);
    wr32(c, fifo, fifo + 8);
    wr32(c, fifo + 4, fifo + 8);
    set_reg(c, 0, fifo);
    set_reg(c, 1, fifo_end);
    set_reg(c, 2, 0x08000000u);
    set_reg(c, 3, total / 2);
    set_reg(c, 4, 0x40023C00u);
    set_reg(c, 0x14, 1); /* PRIMASK, as OpenOCD starts algorithms */
    double t0 = now_s();
    uint64_t i0 = chip_counters(c)->instructions;
    start_at(c, 0x20000000u);
    uint32_t sent = 0, wp = fifo + 8;
    int guard = 0;
    while (!chip_is_halted(c) && guard++ < 1000000) {
        uint32_t rp = rd32(c, fifo + 4);
        /* Free space in the ring, one word short of full. */
        uint32_t used = wp >= rp ? wp - rp : (fifo_end - fifo - 8) - (rp - wp);
        uint32_t room = (fifo_end - fifo - 8) - used - 4;
        uint32_t n = total - sent < room ? total - sent : room;
        n &= ~3u;
        for (uint32_t k = 0; k < n; k += 4) {
            uint32_t w;
            memcpy(&w, img + sent + k, 4);
            wr32(c, wp, w);
            wp += 4;
            if (wp >= fifo_end)
                wp = fifo + 8;
        }
        sent += n;
        if (n)
            wr32(c, fifo, wp);
        chip_run(c, 20000);
    }
    double dt = now_s() - t0;
    assert_true(chip_is_halted(c));
    assert_int_equal(get_reg(c, 0), 0);
    assert_int_equal(sent, total);
    for (uint32_t a = 0; a < total; a += 4) {
        uint32_t w;
        memcpy(&w, img + a, 4);
        if (rd32(c, 0x08000000u + a) != w)
            fail_msg("flash word at 0x%08X differs", 0x08000000u + a);
    }
    print_message("flash loader: 64 KB in %.3f s wall, %llu instructions, device %.1f ms of "
                  "flash time\n",
                  dt, (unsigned long long)(chip_counters(c)->instructions - i0),
                  (double)chip_counters(c)->flash_ns / 1e6);
    free(img);
    tchip_cleanup(&t);
}

static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void test_crc_bench(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 33, false);
    flash_load_bin(c, ARM_TESTS "crc_bench.bin");
    chip_reset(c, false);
    uint8_t *data = malloc(65536);
    assert_non_null(data);
    uint32_t x = 12345u;
    for (unsigned i = 0; i < 65536; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    char expect[32];
    snprintf(expect, sizeof expect, "crc=%08X", crc32_ref(data, 65536));
    free(data);
    char out[4096] = "";
    uint64_t i0 = chip_counters(c)->instructions;
    double t0 = now_s();
    assert_non_null(run_until_text(c, "\r\n", 2000, out, sizeof out));
    double dt = now_s() - t0;
    uint64_t n = chip_counters(c)->instructions - i0;
    if (!strstr(out, expect))
        fail_msg("expected %s, got %s", expect, out);
    print_message("crc_bench: %llu instructions in %.3f s wall: %.1f MIPS (test build)\n",
                  (unsigned long long)n, dt, (double)n / dt / 1e6);
    tchip_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_usart),
        cmocka_unit_test(test_hardfault_program),
        cmocka_unit_test(test_systick_svc_pendsv),
        cmocka_unit_test(test_vector_catch_hardfault),
        cmocka_unit_test(test_lockup),
        cmocka_unit_test(test_debug_registers),
        cmocka_unit_test(test_openocd_step),
        cmocka_unit_test(test_reset_halt),
        cmocka_unit_test(test_dwt_cyccnt),
        cmocka_unit_test(test_bkpt_instruction),
        cmocka_unit_test(test_code_invalidation),
        cmocka_unit_test(test_step_translated_code),
        cmocka_unit_test(test_translation_cache_flush),
        cmocka_unit_test(test_code_changed_by_its_own_block),
        cmocka_unit_test(test_gdb_conveniences),
        cmocka_unit_test(test_flash_loader_streaming),
        cmocka_unit_test(test_crc_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
