/* The virtual STM32F427's peripherals and reset paths through sim/chip.h: the RNG (clock gate,
 * PLL48CLK, per-chip reproducible streams), DWT data and PC watchpoints, VECTRESET versus
 * SYSRESETREQ, the SRST line, the USART clock gate and interrupt, and realtime flash timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_chip_util.h"

#include <time.h>

#define RCC_CR      0x40023800u
#define RCC_PLLCFGR 0x40023804u
#define RCC_AHB2ENR 0x40023834u
#define RCC_APB2ENR 0x40023844u
#define RNG_CR      0x50060800u
#define RNG_SR      0x50060804u
#define RNG_DR      0x50060808u

static void rng_start(chip_t *c)
{
    wr32(c, RCC_PLLCFGR, 16u | (336u << 6) | (7u << 24)); /* 48 MHz PLL48CLK from HSI */
    wr32(c, RCC_CR, rd32(c, RCC_CR) | (1u << 24));
    wr32(c, RCC_AHB2ENR, 1u << 6);
    wr32(c, RNG_CR, 4u);
}

static void rng_words(uint64_t seed, uint32_t out[4])
{
    struct tchip t;
    chip_t *c = tchip_open(&t, seed, false);
    chip_halt(c);
    rng_start(c);
    for (int i = 0; i < 4; i++) {
        assert_true(rd32(c, RNG_SR) & 1u);
        out[i] = rd32(c, RNG_DR);
    }
    tchip_cleanup(&t);
}

static void test_rng(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 40, false);
    chip_halt(c);
    /* Not clocked: the registers are dead. */
    wr32(c, RNG_CR, 4u);
    assert_int_equal(rd32(c, RNG_CR), 0);
    assert_int_equal(rd32(c, RNG_DR), 0);
    /* Clocked but no PLL48CLK: clock error, no data. */
    wr32(c, RCC_AHB2ENR, 1u << 6);
    wr32(c, RNG_CR, 4u);
    assert_int_equal(rd32(c, RNG_CR), 4u);
    uint32_t sr = rd32(c, RNG_SR);
    assert_int_equal(sr & 0x23u, 0x22u); /* CECS, CEIS, no DRDY */
    /* With the PLL at 48 MHz the error clears (CEIS is write-0-to-clear) and data flows. */
    rng_start(c);
    wr32(c, RNG_SR, 0);
    sr = rd32(c, RNG_SR);
    assert_int_equal(sr & 0x67u, 0x01u);
    uint32_t a = rd32(c, RNG_DR), b = rd32(c, RNG_DR);
    assert_int_not_equal(a, b);
    tchip_cleanup(&t);
    /* Reproducible per seed, different between chips. */
    uint32_t x[4], y[4], z[4];
    rng_words(41, x);
    rng_words(41, y);
    rng_words(42, z);
    assert_memory_equal(x, y, sizeof x);
    assert_memory_not_equal(x, z, sizeof x);
    /* The CPU sees DRDY drop after each read until 40 RNG clocks later. */
    c = tchip_open(&t, 43, false);
    chip_halt(c);
    rng_start(c);
    static const uint16_t code[] = {
        0x6882, /* ldr r2, [r0, #8]  DR */
        0x6843, /* ldr r3, [r0, #4]  SR right after */
        0x6844, /* 1: ldr r4, [r0, #4] */
        0x07E4, /* lsls r4, r4, #31 */
        0xD5FC, /* bpl 1b */
        0x6885, /* ldr r5, [r0, #8] */
        0xBE00, /* bkpt */
    };
    load_ram(c, 0x20000000u, code, sizeof code / 2);
    set_reg(c, 0, 0x50060800u);
    start_at(c, 0x20000000u);
    run_until_halt(c, 10);
    assert_true(chip_is_halted(c));
    assert_int_equal(get_reg(c, 3) & 1u, 0); /* SR right after a DR read: not ready */
    assert_int_not_equal(get_reg(c, 5), 0);
    assert_int_not_equal(get_reg(c, 2), get_reg(c, 5));
    tchip_cleanup(&t);
}

static void test_dwt_watchpoints(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 44, false);
    chip_halt(c);
    static const uint16_t code[] = {
        0x3001, /* 1: adds r0, #1 */
        0x2810, /* cmp r0, #16 */
        0xD1FC, /* bne 1b */
        0x6011, /* str r1, [r2] */
        0x2300, /* movs r3, #0 */
        0x2300, /* movs r3, #0 */
        0xE7FE, /* b . */
    };
    load_ram(c, 0x20000000u, code, sizeof code / 2);
    set_reg(c, 0, 0);
    set_reg(c, 1, 0x1234);
    set_reg(c, 2, 0x20001000u);
    wr32(c, DEMCR, 0x01000000u);
    wr32(c, 0xE0001020u, 0x20001000u); /* COMP0 */
    wr32(c, 0xE0001024u, 2);           /* MASK0: 4 bytes */
    wr32(c, 0xE0001028u, 6);           /* FUNCTION0: write watchpoint */
    start_at(c, 0x20000000u);
    run_until_halt(c, 20);
    assert_true(chip_is_halted(c));
    assert_int_equal(chip_halt_reason(c), CHIP_HALT_DWT);
    assert_true(rd32(c, DFSR) & 4u);                /* DWTTRAP */
    assert_int_equal(rd32(c, 0x20001000u), 0x1234); /* halts after the access */
    assert_int_equal(get_reg(c, 0), 16);
    assert_true(rd32(c, 0xE0001028u) & (1u << 24)); /* MATCHED, cleared by the read */
    assert_int_equal(rd32(c, 0xE0001028u) & (1u << 24), 0);
    /* PC comparator (FUNCTION 4): halts before the instruction. */
    wr32(c, 0xE0001028u, 0);
    wr32(c, 0xE0001030u, 0x20000004u);
    wr32(c, 0xE0001038u, 4);
    set_reg(c, 0, 0);
    start_at(c, 0x20000000u);
    run_until_halt(c, 20);
    assert_int_equal(chip_halt_reason(c), CHIP_HALT_DWT);
    assert_int_equal(get_reg(c, 15), 0x20000004u);
    assert_int_equal(get_reg(c, 0), 1);
    tchip_cleanup(&t);
}

static void test_resets(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 45, false);
    flash_load_bin(c, ARM_TESTS "hello_usart.bin");
    wr32(c, RCC_CR, rd32(c, RCC_CR) | (1u << 24));
    flash_unlock(c);
    uint32_t rv = rd32(c, 0x08000004u) & ~1u;
    /* VECTRESET: the core only; RCC and the flash interface keep their state. C_HALT survives
     * a local reset, so the halted core stays halted, now at the reset vector. */
    set_reg(c, 15, 0x20000000u);
    wr32(c, AIRCR, 0x05FA0001u);
    assert_true(chip_is_halted(c));
    assert_int_equal(get_reg(c, 15), rv);
    assert_true(rd32(c, RCC_CR) & (1u << 25));
    assert_int_equal(rd32(c, FLASH_CR), 0);
    /* SYSRESETREQ: peripherals too. */
    wr32(c, AIRCR, 0x05FA0004u);
    assert_true(chip_is_halted(c));
    assert_int_equal(get_reg(c, 15), rv);
    assert_int_equal(rd32(c, RCC_CR) & (1u << 24), 0);
    assert_int_equal(rd32(c, FLASH_CR), 0x80000000u);
    /* SRST held: the core stays in reset, the debug port answers. */
    chip_resume(c);
    chip_set_srst(c, true);
    assert_int_equal(chip_run(c, 1000), CHIP_RUN_IDLE);
    wr32(c, DHCSR, 0xA05F0001u);
    wr32(c, DEMCR, 0x01000001u);
    assert_int_equal(rd32(c, DEMCR), 0x01000001u);
    char out[256] = "";
    assert_int_equal(chip_usart_take_tx(c, (uint8_t *)out, sizeof out), 0);
    chip_set_srst(c, false);
    assert_true(chip_is_halted(c));
    assert_int_equal(chip_halt_reason(c), CHIP_HALT_VCATCH);
    assert_int_equal(get_reg(c, 15), rv);
    tchip_cleanup(&t);
}

static void test_usart_gate_and_irq(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 46, false);
    chip_halt(c);
    /* Unclocked: nothing goes out. */
    wr32(c, 0x4001100Cu, 0x200Cu);
    wr32(c, 0x40011004u, 'x');
    uint8_t buf[16];
    assert_int_equal(chip_usart_take_tx(c, buf, sizeof buf), 0);
    wr32(c, RCC_APB2ENR, 1u << 4);
    wr32(c, 0x4001100Cu, 0x200Cu);
    assert_int_equal(rd32(c, 0x40011000u) & 0xE0u, 0xC0u); /* TXE, TC, no RXNE */
    wr32(c, 0x40011004u, 'y');
    assert_int_equal(chip_usart_take_tx(c, buf, sizeof buf), 1);
    assert_int_equal(buf[0], 'y');
    /* RX with RXNEIE wakes a core sleeping in WFI through NVIC IRQ 37. */
    static const uint16_t code[] = {0xBF30 /* wfi */, 0xE7FD /* b wfi */};
    load_ram(c, 0x20000000u, code, 2);
    wr32(c, 0x20000400u + 4 * (16 + 37), 0x20000101u); /* vector -> handler */
    load_ram(c, 0x20000100u, (const uint16_t[]){0x6845 /* ldr r5,[r0,#4] */, 0xBE00}, 2);
    wr32(c, 0xE000ED08u, 0x20000400u);
    wr32(c, 0xE000E104u, 1u << (37 - 32)); /* NVIC_ISER1 */
    wr32(c, 0x4001100Cu, 0x202Cu);         /* UE TE RE RXNEIE */
    set_reg(c, 0, 0x40011000u);
    start_at(c, 0x20000000u);
    assert_int_equal(chip_run(c, 1000), CHIP_RUN_IDLE);
    assert_true(rd32(c, DHCSR) & (1u << 18)); /* sleeping */
    chip_usart_give_rx(c, (const uint8_t *)"Q", 1);
    run_until_halt(c, 10);
    assert_true(chip_is_halted(c));
    assert_int_equal(get_reg(c, 5), 'Q');
    assert_int_equal(get_reg(c, 16) & 0x1FFu, 16 + 37);
    tchip_cleanup(&t);
}

static void test_realtime_flash(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 47, false);
    tchip_close(&t);
    t.cfg.realtime = true;
    c = tchip_open(&t, 47, true);
    chip_halt(c);
    flash_unlock(c);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    wr32(c, FLASH_CR, 0x00010202u); /* sector 0, x32: 250 ms */
    assert_true(rd32(c, FLASH_SR) & SR_BSY);
    for (int i = 0; i < 2000 && (rd32(c, FLASH_SR) & SR_BSY); i++)
        usleep(1000);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(rd32(c, FLASH_SR) & SR_BSY, 0);
    double dt = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(dt >= 0.24);
    assert_int_equal(chip_counters(c)->flash_ns, 250000000u);
    tchip_cleanup(&t);
}

/* The flash charges what is asked: a sector erase the DS9405 typical time of the PSIZE in CR at
 * STRT (16 KB: 400/300/250 ms at x8/x16/x32, 230 ms at x64 with VPP), and one tPROG (16 us) per
 * program operation of the PSIZE's width, a double word at x64 being two word writes. */
static void test_flash_parallelism_timing(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 48, false);
    chip_halt(c);
    flash_unlock(c);
    static const uint64_t erase_ms[4] = {400, 300, 250, 230};
    for (uint32_t ps = 0; ps < 4; ps++) {
        uint64_t ns = chip_counters(c)->flash_ns, ops = chip_counters(c)->flash_ops;
        wr32(c, FLASH_CR, 0x00010002u | ps << 8 | ps << 3); /* 16 KB sector ps */
        flash_wait(c);
        wr32(c, FLASH_CR, 0);
        assert_int_equal(chip_counters(c)->flash_ns - ns, erase_ms[ps] * 1000000u);
        assert_int_equal(chip_counters(c)->flash_ops - ops, 1);
    }
    /* x8: a byte per operation; x16: a half-word; x64: two words make one operation */
    static const struct {
        uint32_t cr;
        unsigned size, writes, ops;
    } prog[] = {{0x001u, 1, 4, 4}, {0x101u, 2, 2, 2}, {0x201u, 4, 1, 1}, {0x301u, 4, 2, 1}};
    for (size_t i = 0; i < sizeof prog / sizeof prog[0]; i++) {
        uint32_t a = 0x08004000u + 8 * (uint32_t)i;
        uint64_t ns = chip_counters(c)->flash_ns, ops = chip_counters(c)->flash_ops;
        wr32(c, FLASH_CR, prog[i].cr);
        for (unsigned k = 0; k < prog[i].writes; k++) {
            uint32_t v = prog[i].size == 4 ? 0x03020100u + 0x04040404u * k
                                           : (0x03020100u >> (8 * prog[i].size * k)) &
                                                 (prog[i].size == 1 ? 0xFFu : 0xFFFFu);
            assert_int_equal(chip_dbg_write(c, a + prog[i].size * k, prog[i].size, v), CHIP_OK);
            flash_wait(c);
        }
        wr32(c, FLASH_CR, 0);
        assert_int_equal(rd32(c, FLASH_SR) & 0xF0u, 0);
        assert_int_equal(rd32(c, a), 0x03020100u);
        if (prog[i].writes == 2 && prog[i].size == 4)
            assert_int_equal(rd32(c, a + 4), 0x07060504u);
        assert_int_equal(chip_counters(c)->flash_ops - ops, prog[i].ops);
        assert_int_equal(chip_counters(c)->flash_ns - ns, prog[i].ops * 16000u);
    }
    /* a word at x8 is the wrong width: PGPERR, nothing written */
    wr32(c, FLASH_CR, 0x001u);
    assert_int_equal(chip_dbg_write(c, 0x08004100u, 4, 0), CHIP_OK);
    wr32(c, FLASH_CR, 0);
    assert_true(rd32(c, FLASH_SR) & (1u << 6));
    assert_int_equal(rd32(c, 0x08004100u), 0xFFFFFFFFu);
    tchip_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_dwt_watchpoints),
        cmocka_unit_test(test_resets),
        cmocka_unit_test(test_usart_gate_and_irq),
        cmocka_unit_test(test_realtime_flash),
        cmocka_unit_test(test_flash_parallelism_timing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
