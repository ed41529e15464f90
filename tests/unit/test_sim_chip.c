/* The virtual STM32F427's non-volatile side, driven through sim/chip.h as a debug probe would:
 * identification, the flash interface (keys, PSIZE, NOR AND, error flags, sector/bank/mass erase,
 * BSY on the device clock), option bytes and every RDP transition, write protection, OTP, the
 * state file (round trip, refusal of corrupt or foreign files) and power cuts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_chip_util.h"

#include <fcntl.h>
#include <sys/stat.h>

/* Code snippets (Thumb) loaded into SRAM. */
static const uint16_t prog_str[] = {
    0x6001,         /* str  r1, [r0]          */
    0xF3BF, 0x8F4F, /* dsb                    */
    0x68D3,         /* 1: ldr r3, [r2, #12]   (FLASH_SR) */
    0x03DB,         /* lsls r3, r3, #15       */
    0xD4FC,         /* bmi  1b                (BSY) */
    0x68D3,         /* ldr  r3, [r2, #12]     */
    0xBE00,         /* bkpt #0                */
};
static const uint16_t read_flash[] = {0x6801 /* ldr r1, [r0] */, 0xBE00 /* bkpt #0 */};
static const uint16_t spin[] = {0xE7FE /* b . */};

static void test_identity(void **state)
{
    (void)state;
    struct tchip t, u;
    chip_t *c = tchip_open(&t, 1, false);
    chip_t *d = tchip_open(&u, 2, false);
    assert_int_equal(rd32(c, 0xE0042000u), 0x10036419u); /* DBGMCU_IDCODE */
    assert_int_equal(rd32(c, 0xE000ED00u), 0x410FC241u); /* CPUID */
    assert_int_equal(rd32(c, 0xE000EF40u), 0x10110021u); /* MVFR0 */
    assert_int_equal(rd32(c, 0xE000EF44u), 0x11000011u); /* MVFR1 */
    assert_int_equal(rd32(c, FP_CTRL), 0x260u);
    assert_int_equal(rd32(c, 0xE0001000u), 0x40000000u); /* DWT_CTRL: 4 comparators */
    uint32_t v;
    assert_int_equal(chip_dbg_read(c, 0x1FFF7A22u, 2, &v), CHIP_OK); /* flash size, halfword */
    assert_int_equal(v, 2048);
    /* ROM table and component IDs (FACTS §4.1). */
    assert_int_equal(rd32(c, 0xE00FF000u), 0xFFF0F003u);
    assert_int_equal(rd32(c, 0xE00FF014u), 0xFFF42003u);
    assert_int_equal(rd32(c, 0xE00FF018u), 0);
    assert_int_equal(rd32(c, 0xE00FFFE0u), 0x19u);
    assert_int_equal(rd32(c, 0xE00FFFF4u), 0x10u);
    assert_int_equal(rd32(c, 0xE000EFE0u), 0x0Cu); /* SCS PID0 */
    assert_int_equal(rd32(c, 0xE0001FE8u), 0x3Bu); /* DWT PID2 */
    /* Each chip its own UID, readable at 0x1FFF7A10 and through chip_uid. */
    uint8_t uc[12], ud[12];
    chip_uid(c, uc);
    chip_uid(d, ud);
    assert_memory_not_equal(uc, ud, 12);
    uint32_t w0 = rd32(c, 0x1FFF7A10u), w2 = rd32(c, 0x1FFF7A18u);
    assert_int_equal(w0, (uint32_t)uc[0] | uc[1] << 8 | uc[2] << 16 | (uint32_t)uc[3] << 24);
    assert_int_equal(w2, (uint32_t)uc[8] | uc[9] << 8 | uc[10] << 16 | (uint32_t)uc[11] << 24);
    /* Reset values the probe sees. */
    assert_int_equal(rd32(c, FLASH_CR), 0x80000000u);
    assert_int_equal(rd32(c, FLASH_OPTCR), 0x0FFFAAEDu);
    assert_int_equal(rd32(c, FLASH_OPTCR1), 0x0FFF0000u);
    assert_int_equal(chip_rdp_byte(c), 0xAA);
    /* Nothing there: a bus error, not a crash. */
    assert_int_equal(chip_dbg_read(c, 0x60000000u, 4, &v), CHIP_EBUS);
    assert_int_equal(chip_dbg_write(c, 0xA0000000u, 4, 1), CHIP_EBUS);
    assert_int_equal(chip_dbg_read(c, 0x20000001u, 4, &v), CHIP_EBUS); /* misaligned */
    tchip_cleanup(&t);
    tchip_cleanup(&u);
}

static void test_flash_keys(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 3, false);
    chip_halt(c);
    /* Locked: CR writes are ignored. */
    wr32(c, FLASH_CR, 0x201u);
    assert_int_equal(rd32(c, FLASH_CR), 0x80000000u);
    /* A wrong key is a bus error and locks FLASH_CR until the next reset. */
    wr32(c, FLASH_KEYR, 0x45670123u);
    assert_int_equal(chip_dbg_write(c, FLASH_KEYR, 4, 0x12345678u), CHIP_EBUS);
    assert_int_equal(chip_dbg_write(c, FLASH_KEYR, 4, 0x45670123u), CHIP_EBUS);
    assert_int_equal(chip_dbg_write(c, FLASH_KEYR, 4, 0xCDEF89ABu), CHIP_EBUS);
    assert_int_equal(rd32(c, FLASH_CR), 0x80000000u);
    chip_reset(c, true);
    wr32(c, FLASH_KEYR, 0x45670123u);
    wr32(c, FLASH_KEYR, 0xCDEF89ABu);
    assert_int_equal(rd32(c, FLASH_CR), 0);
    /* Keys while unlocked are a wrong sequence too (HAL checks LOCK first for this reason). */
    assert_int_equal(chip_dbg_write(c, FLASH_KEYR, 4, 0x45670123u), CHIP_EBUS);
    /* Setting LOCK relocks. */
    wr32(c, FLASH_CR, 0x80000000u);
    assert_int_equal(rd32(c, FLASH_CR), 0x80000000u);
    tchip_cleanup(&t);
}

static void test_flash_program_rules(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 4, false);
    chip_halt(c);
    flash_unlock(c);
    uint32_t v;
    /* No PG: a write to flash is a sequence error and an AHB error. */
    assert_int_equal(chip_dbg_write(c, 0x08000000u, 4, 0), CHIP_EBUS);
    assert_int_equal(rd32(c, FLASH_SR) & 0xF0u, 0x80u); /* PGSERR */
    assert_int_equal(rd32(c, 0x08000000u), 0xFFFFFFFFu);
    flash_clear_errors(c);
    assert_int_equal(rd32(c, FLASH_SR), 0);
    /* PSIZE x32 with a halfword write: PGPERR, nothing written. */
    wr32(c, FLASH_CR, 0x201u);
    assert_int_equal(chip_dbg_write(c, 0x08000010u, 2, 0x1234), CHIP_OK);
    flash_wait(c);
    assert_int_equal(rd32(c, FLASH_SR) & 0xF0u, 0x40u);
    assert_int_equal(rd32(c, 0x08000010u), 0xFFFFFFFFu);
    flash_clear_errors(c);
    /* Matching size programs; bits only go 1 -> 0 (the cell is the AND). */
    wr32(c, 0x08000010u, 0x0F0F0F0Fu);
    assert_int_equal(flash_wait(c) & 0xF0u, 0);
    assert_int_equal(rd32(c, 0x08000010u), 0x0F0F0F0Fu);
    wr32(c, 0x08000010u, 0xFFFF00FFu);
    flash_wait(c);
    assert_int_equal(rd32(c, 0x08000010u), 0x0F0F000Fu);
    /* x16 and x8. */
    wr32(c, FLASH_CR, 0x101u);
    assert_int_equal(chip_dbg_write(c, 0x08000022u, 2, 0xBEEF), CHIP_OK);
    flash_wait(c);
    wr32(c, FLASH_CR, 0x001u);
    assert_int_equal(chip_dbg_write(c, 0x08000021u, 1, 0x5A), CHIP_OK);
    flash_wait(c);
    assert_int_equal(rd32(c, 0x08000020u), 0xBEEF5AFFu);
    assert_int_equal(rd32(c, FLASH_SR) & 0xF0u, 0);
    assert_int_equal(chip_dbg_read(c, 0x08000022u, 2, &v), CHIP_OK);
    assert_int_equal(v, 0xBEEF);
    /* The boot alias at 0 shows the same cells. */
    assert_int_equal(rd32(c, 0x00000020u), 0xBEEF5AFFu);
    /* Row crossing needs an unaligned CPU store: str of a word at offset 0xE (PGAERR). */
    wr32(c, FLASH_CR, 0x201u);
    load_ram(c, 0x20000000u, prog_str, sizeof prog_str / 2);
    set_reg(c, 0, 0x0800003Eu);
    set_reg(c, 1, 0);
    set_reg(c, 2, 0x40023C00u);
    start_at(c, 0x20000000u);
    run_until_halt(c, 100);
    assert_true(chip_is_halted(c));
    assert_int_equal(get_reg(c, 3) & 0xF0u, 0x20u); /* PGAERR seen by the code */
    assert_int_equal(rd32(c, 0x0800003Cu), 0xFFFFFFFFu);
    assert_int_equal(rd32(c, 0x08000040u), 0xFFFFFFFFu);
    flash_clear_errors(c);
    /* The same code on an aligned word programs it: the CPU store obeys the flash rules. */
    set_reg(c, 0, 0x08000040u);
    set_reg(c, 1, 0x12345678u);
    start_at(c, 0x20000000u);
    run_until_halt(c, 100);
    assert_int_equal(get_reg(c, 3) & 0xF0u, 0);
    assert_int_equal(rd32(c, 0x08000040u), 0x12345678u);
    set_reg(c, 1, 0xFFFFFF00u); /* AND again through the CPU */
    start_at(c, 0x20000000u);
    run_until_halt(c, 100);
    assert_int_equal(rd32(c, 0x08000040u), 0x12345600u);
    tchip_cleanup(&t);
}

static void put_marks(chip_t *c, const uint32_t *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t w = 0x11110000u + (uint32_t)i;
        assert_int_equal(flash_write_words(c, addrs[i], &w, 1) & 0xF0u, 0);
    }
}

static void test_flash_erase_banks(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 5, false);
    chip_halt(c);
    /* One word in sectors 0, 4, 5, 11, 12, 16, 17 and 23. */
    const uint32_t a[] = {0x08000000u, 0x08010000u, 0x08020000u, 0x080E0000u,
                          0x08100000u, 0x08110000u, 0x08120000u, 0x081E0000u};
    put_marks(c, a, 8);
    /* Sector 5 (SNB 5) and bank-2 sectors 12 and 23 (SNB 0x10, 0x1B). */
    assert_int_equal(flash_erase(c, 5) & 0xF0u, 0);
    assert_int_equal(flash_erase(c, 0x10) & 0xF0u, 0);
    assert_int_equal(flash_erase(c, 0x1B) & 0xF0u, 0);
    const uint32_t erased[] = {0, 0, 1, 0, 1, 0, 0, 1};
    for (int i = 0; i < 8; i++)
        assert_int_equal(rd32(c, a[i]), erased[i] ? 0xFFFFFFFFu : 0x11110000u + (uint32_t)i);
    /* The sector's last word went too, the next sector's first did not. */
    assert_int_equal(rd32(c, 0x0813FFFCu), 0xFFFFFFFFu);
    /* SNB 12..15 do not exist on the dual-bank map. */
    uint32_t sr = flash_erase(c, 12);
    assert_int_equal(sr & 0x10u, 0x10u); /* WRPERR */
    flash_clear_errors(c);
    /* Bank 1 erase (MER) keeps bank 2. */
    put_marks(c, a, 8);
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x00000004u);
    wr32(c, FLASH_CR, 0x00010004u);
    flash_wait(c);
    assert_int_equal(rd32(c, a[0]), 0xFFFFFFFFu);
    assert_int_equal(rd32(c, a[3]), 0xFFFFFFFFu);
    assert_int_equal(rd32(c, a[4]), 0x11110004u);
    assert_int_equal(rd32(c, a[7]), 0x11110007u);
    /* Mass erase as OpenOCD does it: MER|MER1, then STRT. */
    wr32(c, FLASH_CR, 0x00008004u);
    wr32(c, FLASH_CR, 0x00018004u);
    uint64_t ns0 = chip_counters(c)->flash_ns;
    flash_wait(c);
    for (int i = 0; i < 8; i++)
        assert_int_equal(rd32(c, a[i]), 0xFFFFFFFFu);
    /* x8 mass erase takes tME (16 s typ.) on the device clock. */
    assert_true(chip_counters(c)->flash_ns - ns0 >= 15000000000ull);
    tchip_cleanup(&t);
}

static void test_flash_bsy_device_clock(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 6, false);
    chip_halt(c);
    load_ram(c, 0x20000000u, spin, 1);
    start_at(c, 0x20000000u);
    /* The core spins while a probe starts a 128 KB sector erase (x8: 2 s typ.). */
    flash_unlock(c);
    uint64_t ns0 = chip_counters(c)->device_ns;
    wr32(c, FLASH_CR, 0x00010002u | (5u << 3));
    for (int i = 0; i < 10; i++)
        assert_int_equal(chip_run(c, 100000), CHIP_RUN_SLICE_DONE);
    /* A million instructions at 16 MHz are 62.5 ms: still busy. */
    assert_true(rd32(c, FLASH_SR) & SR_BSY);
    uint64_t ran = chip_counters(c)->device_ns - ns0;
    assert_true(ran > 60000000u && ran < 70000000u);
    /* Halted, the clock jumps to the end of the operation when polled. */
    chip_halt(c);
    assert_int_equal(rd32(c, FLASH_SR) & SR_BSY, 0);
    uint64_t total = chip_counters(c)->device_ns - ns0;
    assert_true(total >= 2000000000u && total < 2100000000u);
    assert_int_equal(chip_counters(c)->flash_ns, 2000000000u);
    /* A CPU polling BSY after its own program operation sees it clear right away, 16 us later
     * on the device clock. */
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x201u);
    load_ram(c, 0x20000000u, prog_str, sizeof prog_str / 2);
    set_reg(c, 0, 0x08000100u);
    set_reg(c, 1, 0xA5A5A5A5u);
    set_reg(c, 2, 0x40023C00u);
    uint64_t ns1 = chip_counters(c)->device_ns, fl1 = chip_counters(c)->flash_ns;
    start_at(c, 0x20000000u);
    run_until_halt(c, 100);
    assert_true(chip_is_halted(c));
    assert_int_equal(rd32(c, 0x08000100u), 0xA5A5A5A5u);
    assert_int_equal(chip_counters(c)->flash_ns - fl1, 16000u);
    uint64_t dt = chip_counters(c)->device_ns - ns1;
    assert_true(dt >= 16000u && dt < 30000u);
    tchip_cleanup(&t);
}

/* Writes the option bytes the way OpenOCD's stm32x_write_options does. */
static uint32_t write_options(chip_t *c, uint32_t optcr, uint32_t optcr1)
{
    if (rd32(c, FLASH_OPTCR) & 1u) {
        wr32(c, FLASH_OPTKEYR, 0x08192A3Bu);
        wr32(c, FLASH_OPTKEYR, 0x4C5D6E7Fu);
    }
    wr32(c, FLASH_OPTCR1, optcr1);
    wr32(c, FLASH_OPTCR, optcr & ~3u);
    wr32(c, FLASH_OPTCR, (optcr & ~3u) | 2u);
    uint32_t sr = flash_wait(c);
    wr32(c, FLASH_OPTCR, (optcr & ~3u) | 1u);
    return sr;
}

static void test_write_protection(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 7, false);
    chip_halt(c);
    const uint32_t a[] = {0x08004000u, 0x08008000u, 0x08104000u};
    put_marks(c, a, 3);
    /* nWRP bit 1 (sector 1) and OPTCR1 bit 1 (sector 13) cleared: protected. */
    assert_int_equal(write_options(c, 0x0FFDAAECu, 0x0FFD0000u) & 0xF0u, 0);
    assert_int_equal(rd32(c, FLASH_OPTCR), 0x0FFDAAEDu);
    assert_int_equal(flash_erase(c, 1) & 0x10u, 0x10u);
    flash_clear_errors(c);
    assert_int_equal(rd32(c, a[0]), 0x11110000u);
    assert_int_equal(flash_erase(c, 0x11) & 0x10u, 0x10u); /* sector 13 */
    flash_clear_errors(c);
    assert_int_equal(rd32(c, a[2]), 0x11110002u);
    uint32_t w = 0;
    assert_int_equal(flash_write_words(c, a[0] + 4, &w, 1) & 0x10u, 0x10u);
    flash_clear_errors(c);
    assert_int_equal(rd32(c, a[0] + 4), 0xFFFFFFFFu);
    /* Sector 2 is not protected. */
    assert_int_equal(flash_erase(c, 2) & 0xF0u, 0);
    assert_int_equal(rd32(c, a[1]), 0xFFFFFFFFu);
    /* A mass erase with a protected sector erases nothing. */
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x00018004u);
    assert_int_equal(flash_wait(c) & 0x10u, 0x10u);
    assert_int_equal(rd32(c, a[0]), 0x11110000u);
    /* Unprotect. */
    flash_clear_errors(c);
    write_options(c, 0x0FFFAAECu, 0x0FFF0000u);
    assert_int_equal(flash_erase(c, 1) & 0xF0u, 0);
    assert_int_equal(rd32(c, a[0]), 0xFFFFFFFFu);
    tchip_cleanup(&t);
}

static void test_rdp_level1_and_back(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 8, false);
    chip_halt(c);
    const uint32_t a[] = {0x08000000u, 0x08100000u};
    put_marks(c, a, 2);
    /* OTP keeps its data through the level 1 -> 0 mass erase. */
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x201u);
    wr32(c, 0x1FFF7800u, 0x0BADF00Du);
    flash_wait(c);
    wr32(c, FLASH_CR, 0);
    /* 0 -> 1 (OpenOCD `stm32f2x lock`: RDP = 0x00). In force after the next reset. */
    assert_int_equal(write_options(c, 0x0FFF00ECu, 0x0FFF0000u) & 0xF0u, 0);
    assert_int_equal(rd32(c, FLASH_OPTCR) & 0xFF00u, 0);
    assert_int_equal(chip_rdp_byte(c), 0xAA);
    assert_int_equal(rd32(c, a[0]), 0x11110000u);
    chip_reset(c, true);
    assert_int_equal(chip_rdp_byte(c), 0x00);
    uint32_t v;
    assert_int_equal(chip_dbg_read(c, a[0], 4, &v), CHIP_EBUS);
    assert_int_equal(chip_dbg_read(c, 0x00000000u, 4, &v), CHIP_EBUS); /* alias too */
    assert_int_equal(chip_dbg_read(c, 0x1FFF7800u, 4, &v), CHIP_EBUS); /* OTP under debug */
    /* The rest of the debug connection keeps working. */
    assert_true(chip_debug_port_alive(c));
    wr32(c, 0x20000000u, 0x12345678u);
    assert_int_equal(rd32(c, 0x20000000u), 0x12345678u);
    assert_int_equal(rd32(c, 0xE0042000u), 0x10036419u);
    /* Erase/program by the debugger are refused. */
    assert_int_equal(flash_erase(c, 0) & 0x10u, 0x10u);
    flash_clear_errors(c);
    /* Code running from SRAM with a debugger attached cannot read flash: bus fault. */
    wr32(c, 0x20000400u + 3 * 4, 0x2000001Du); /* VTOR table in SRAM: HardFault -> bkpt */
    load_ram(c, 0x2000001Cu, (const uint16_t[]){0xBE01}, 1);
    wr32(c, 0xE000ED08u, 0x20000400u);
    load_ram(c, 0x20000000u, read_flash, 2);
    set_reg(c, 0, 0x08000000u);
    set_reg(c, 1, 0x55555555u);
    start_at(c, 0x20000000u);
    run_until_halt(c, 100);
    assert_true(chip_is_halted(c));
    assert_int_equal(get_reg(c, 15), 0x2000001Cu);       /* in the HardFault handler */
    assert_int_equal(get_reg(c, 1), 0x55555555u);        /* no data leaked into r1 */
    assert_int_equal(rd32(c, 0xE000ED28u), 0x00008200u); /* CFSR: PRECISERR, BFARVALID */
    assert_int_equal(rd32(c, 0xE000ED38u), 0x08000000u); /* BFAR */
    uint32_t sp = get_reg(c, 13);
    assert_int_equal(rd32(c, sp + 24), 0x20000000u); /* stacked PC: the load */
    /* 1 -> 0: the option change mass-erases flash. */
    assert_int_equal(write_options(c, 0x0FFFAAECu, 0x0FFF0000u) & 0xF0u, 0);
    chip_reset(c, true);
    assert_int_equal(chip_rdp_byte(c), 0xAA);
    assert_int_equal(rd32(c, a[0]), 0xFFFFFFFFu);
    assert_int_equal(rd32(c, a[1]), 0xFFFFFFFFu);
    assert_int_equal(rd32(c, 0x1FFF7800u), 0x0BADF00Du);
    tchip_cleanup(&t);
}

static void test_rdp1_flash_code_runs(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 9, false);
    flash_load_bin(c, ARM_TESTS "hello_usart.bin");
    write_options(c, 0x0FFF55ECu, 0x0FFF0000u); /* RDP 0x55: level 1 */
    /* Code booted from flash keeps full access to flash under level 1, debugger attached. */
    chip_reset(c, false);
    assert_int_equal(chip_rdp_byte(c), 0x55);
    char out[4096] = "";
    assert_non_null(run_until_text(c, "count 1", 400, out, sizeof out));
    assert_non_null(strstr(out, "hello from the virtual STM32F427"));
    tchip_cleanup(&t);
}

static void test_rdp_level2_permanent(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 10, false);
    chip_halt(c);
    assert_int_equal(write_options(c, 0x0FFFCCECu, 0x0FFF0000u) & 0xF0u, 0);
    /* Frozen at once: going back is ignored. */
    write_options(c, 0x0FFFAAECu, 0x0FFF0000u);
    assert_int_equal(rd32(c, FLASH_OPTCR) & 0xFF00u, 0xCC00u);
    assert_true(chip_debug_port_alive(c));
    /* After the next reset the debug port is gone. */
    chip_reset(c, false);
    assert_false(chip_debug_port_alive(c));
    assert_int_equal(chip_rdp_byte(c), 0xCC);
    uint32_t v;
    assert_int_equal(chip_dbg_read(c, 0x20000000u, 4, &v), CHIP_EPORT_DEAD);
    assert_int_equal(chip_dbg_write(c, DHCSR, 4, 0xA05F0003u), CHIP_EPORT_DEAD);
    chip_halt(c);
    assert_false(chip_is_halted(c));
    /* A power cycle keeps it. */
    tchip_close(&t);
    c = tchip_open(&t, 10, true);
    assert_false(chip_debug_port_alive(c));
    assert_int_equal(chip_rdp_byte(c), 0xCC);
    assert_int_equal(chip_dbg_read(c, FLASH_OPTCR, 4, &v), CHIP_EPORT_DEAD);
    tchip_cleanup(&t);
}

static void test_otp(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 11, false);
    chip_halt(c);
    assert_int_equal(rd32(c, 0x1FFF7800u), 0xFFFFFFFFu);
    assert_int_equal(rd32(c, 0x1FFF7A00u), 0xFFFFFFFFu); /* lock bytes: unlocked */
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x201u);
    wr32(c, 0x1FFF7804u, 0xC0FFEE00u);
    assert_int_equal(flash_wait(c) & 0xF0u, 0);
    assert_int_equal(rd32(c, 0x1FFF7804u), 0xC0FFEE00u);
    /* Once only. */
    wr32(c, 0x1FFF7804u, 0x00000000u);
    assert_int_equal(flash_wait(c) & 0x10u, 0x10u);
    assert_int_equal(rd32(c, 0x1FFF7804u), 0xC0FFEE00u);
    flash_clear_errors(c);
    /* Lock block 0 (lock byte 0x00): the rest of the block cannot be programmed. */
    wr32(c, FLASH_CR, 0x001u);
    assert_int_equal(chip_dbg_write(c, 0x1FFF7A00u, 1, 0x00), CHIP_OK);
    assert_int_equal(flash_wait(c) & 0xF0u, 0);
    assert_int_equal(rd32(c, 0x1FFF7A00u), 0xFFFFFF00u);
    wr32(c, FLASH_CR, 0x201u);
    wr32(c, 0x1FFF7808u, 0x11111111u);
    assert_int_equal(flash_wait(c) & 0x10u, 0x10u);
    assert_int_equal(rd32(c, 0x1FFF7808u), 0xFFFFFFFFu);
    flash_clear_errors(c);
    /* Block 1 still open. */
    wr32(c, 0x1FFF7820u, 0x22222222u);
    assert_int_equal(flash_wait(c) & 0xF0u, 0);
    assert_int_equal(rd32(c, 0x1FFF7820u), 0x22222222u);
    /* UID and beyond are read-only: bus error (OpenOCD's OTP-protect loop relies on it). */
    assert_int_equal(chip_dbg_write(c, 0x1FFF7A10u, 1, 0xFF), CHIP_EBUS);
    assert_int_equal(chip_dbg_write(c, 0x1FFF7A12u, 1, 0xFF), CHIP_EBUS);
    /* Survives a power cycle. */
    tchip_close(&t);
    c = tchip_open(&t, 11, true);
    assert_int_equal(rd32(c, 0x1FFF7804u), 0xC0FFEE00u);
    assert_int_equal(rd32(c, 0x1FFF7A00u), 0xFFFFFF00u);
    tchip_cleanup(&t);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 12, false);
    chip_halt(c);
    const uint32_t a[] = {0x08000000u, 0x081FFFFCu};
    put_marks(c, a, 2);
    write_options(c, 0x0FFEAAECu, 0x0FFF0000u);
    uint8_t uid[12], uid2[12];
    chip_uid(c, uid);
    tchip_close(&t);
    c = tchip_open(&t, 999, true); /* the seed only matters for a new chip */
    chip_uid(c, uid2);
    assert_memory_equal(uid, uid2, 12);
    assert_int_equal(rd32(c, a[0]), 0x11110000u);
    assert_int_equal(rd32(c, a[1]), 0x11110001u);
    assert_int_equal(rd32(c, FLASH_OPTCR), 0x0FFEAAEDu);
    /* A new chip with the same seed has the same UID (reproducible runs). */
    struct tchip u;
    chip_t *d = tchip_open(&u, 12, false);
    chip_uid(d, uid2);
    assert_memory_equal(uid, uid2, 12);
    assert_int_equal(rd32(d, a[0]), 0xFFFFFFFFu);
    tchip_cleanup(&u);
    tchip_cleanup(&t);
}

static void expect_refusal(const char *path, const char *what)
{
    char err[512] = "";
    struct chip_config cfg = {.state_path = path, .create = true};
    chip_t *c = chip_open(&cfg, err, sizeof err);
    if (c) {
        chip_close(c);
        fail_msg("%s accepted", path);
    }
    if (!strstr(err, path) || !strstr(err, what))
        fail_msg("message for %s does not say '%s': %s", path, what, err);
}

static void test_state_refusals(void **state)
{
    (void)state;
    struct tchip t;
    tchip_open(&t, 13, false);
    tchip_close(&t);
    size_t len;
    uint8_t *buf = read_file(t.path, &len);
    assert_true(len > 2 * 1024 * 1024);
    /* One flipped bit in the flash image. */
    buf[len / 2] ^= 0x10;
    FILE *f = fopen(t.path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    expect_refusal(t.path, "corrupt");
    /* Truncated. */
    buf[len / 2] ^= 0x10;
    f = fopen(t.path, "wb");
    fwrite(buf, 1, len - 100, f);
    fclose(f);
    expect_refusal(t.path, "truncated");
    /* Something else entirely. */
    f = fopen(t.path, "wb");
    for (int i = 0; i < 5000; i++)
        fputs("not a chip ", f);
    fclose(f);
    expect_refusal(t.path, "not a virtual STM32F427 state file");
    /* Missing, and not asked to create. */
    unlink(t.path);
    char err[512] = "";
    struct chip_config cfg = {.state_path = t.path, .create = false};
    assert_null(chip_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, t.path));
    assert_non_null(strstr(err, "does not exist"));
    /* The intact file opens again. */
    f = fopen(t.path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    chip_t *c = tchip_open(&t, 13, true);
    assert_non_null(c);
    free(buf);
    tchip_cleanup(&t);
}

/* Programs three words with a power cut armed at the third program operation; returns what
 * the third word holds after the chip restarts from its file. */
static uint32_t cut_third_program(uint64_t cut_seed)
{
    struct tchip t;
    tchip_open(&t, 14, false);
    tchip_close(&t);
    t.cfg.cut_kind = CHIP_CUT_AT_FLASH_OP;
    t.cfg.cut_at = 3;
    t.cfg.cut_seed = cut_seed;
    chip_t *c = tchip_open(&t, 14, true);
    chip_halt(c);
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x201u);
    wr32(c, 0x08000000u, 0x00000000u);
    flash_wait(c);
    wr32(c, 0x08000004u, 0x00000000u);
    flash_wait(c);
    chip_dbg_write(c, 0x08000008u, 4, 0x00000000u); /* op 3: power fails during it */
    assert_false(chip_debug_port_alive(c));
    assert_int_equal(chip_run(c, 1000), CHIP_RUN_POWER_CUT);
    tchip_close(&t);
    t.cfg.cut_kind = CHIP_CUT_NONE;
    c = tchip_open(&t, 14, true);
    assert_int_equal(rd32(c, 0x08000000u), 0);
    assert_int_equal(rd32(c, 0x08000004u), 0);
    assert_int_equal(rd32(c, 0x0800000Cu), 0xFFFFFFFFu);
    uint32_t w = rd32(c, 0x08000008u);
    tchip_cleanup(&t);
    return w;
}

static void test_power_cut_program(void **state)
{
    (void)state;
    uint32_t w = cut_third_program(77);
    /* Some but not all of the bits went to 0. */
    assert_int_not_equal(w, 0);
    assert_int_not_equal(w, 0xFFFFFFFFu);
    /* The cut seed decides which: same seed, same cells; another seed, others. */
    assert_int_equal(cut_third_program(77), w);
    assert_int_not_equal(cut_third_program(78), w);
}

static void test_power_cut_erase(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 16, false);
    chip_halt(c);
    /* Fill sector 1 with zeros through the flash interface (x32). */
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x201u);
    for (uint32_t a = 0x08004000u; a < 0x08008000u; a += 4) {
        wr32(c, a, 0);
        flash_wait(c);
    }
    wr32(c, FLASH_CR, 0);
    tchip_close(&t);
    t.cfg.cut_kind = CHIP_CUT_AT_FLASH_OP;
    t.cfg.cut_at = 1;
    t.cfg.cut_seed = 5;
    c = tchip_open(&t, 16, true);
    chip_halt(c);
    flash_unlock(c);
    chip_dbg_write(c, FLASH_CR, 4, 0x00010002u | (1u << 3));
    assert_int_equal(chip_run(c, 10), CHIP_RUN_POWER_CUT);
    tchip_close(&t);
    t.cfg.cut_kind = CHIP_CUT_NONE;
    c = tchip_open(&t, 16, true);
    unsigned erased = 0, old = 0, other = 0;
    for (uint32_t a = 0x08004000u; a < 0x08008000u; a += 4) {
        uint32_t w = rd32(c, a);
        if (w == 0xFFFFFFFFu)
            erased++;
        else if (w == 0)
            old++;
        else
            other++;
    }
    assert_true(erased > 0 && old > 0);
    assert_int_equal(other, 0);
    /* Neighbours untouched. */
    assert_int_equal(rd32(c, 0x08003FFCu), 0xFFFFFFFFu);
    assert_int_equal(rd32(c, 0x08008000u), 0xFFFFFFFFu);
    /* The chip works normally after the power cycle: erase again. */
    assert_int_equal(flash_erase(c, 1) & 0xF0u, 0);
    assert_int_equal(rd32(c, 0x08004000u), 0xFFFFFFFFu);
    tchip_cleanup(&t);
}

static void test_power_cut_cycle(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 17, false);
    flash_load_bin(c, ARM_TESTS "hello_usart.bin");
    tchip_close(&t);
    t.cfg.cut_kind = CHIP_CUT_AT_CYCLE;
    t.cfg.cut_at = 2000000;
    c = tchip_open(&t, 17, true);
    enum chip_run_result r = CHIP_RUN_SLICE_DONE;
    for (int i = 0; i < 100 && r != CHIP_RUN_POWER_CUT; i++)
        r = chip_run(c, 100000);
    assert_int_equal(r, CHIP_RUN_POWER_CUT);
    uint64_t cyc = chip_counters(c)->cycles;
    assert_true(cyc >= 2000000u && cyc < 2000000u + 100000u);
    tchip_close(&t);
    t.cfg.cut_kind = CHIP_CUT_NONE;
    c = tchip_open(&t, 17, true);
    char out[4096] = "";
    assert_non_null(run_until_text(c, "hello from the virtual STM32F427", 200, out, sizeof out));
    tchip_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_flash_keys),
        cmocka_unit_test(test_flash_program_rules),
        cmocka_unit_test(test_flash_erase_banks),
        cmocka_unit_test(test_flash_bsy_device_clock),
        cmocka_unit_test(test_write_protection),
        cmocka_unit_test(test_rdp_level1_and_back),
        cmocka_unit_test(test_rdp1_flash_code_runs),
        cmocka_unit_test(test_rdp_level2_permanent),
        cmocka_unit_test(test_otp),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_refusals),
        cmocka_unit_test(test_power_cut_program),
        cmocka_unit_test(test_power_cut_erase),
        cmocka_unit_test(test_power_cut_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
