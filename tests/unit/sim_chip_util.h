/* Helpers for the tests that drive the virtual chip directly through sim/chip.h: a chip on a
 * temporary state file, debugger-style register access, flash programming through the flash
 * interface the way a probe does it, and running code until something shows up. Include after
 * <cmocka.h>. */
#ifndef TESTS_SIM_CHIP_UTIL_H
#define TESTS_SIM_CHIP_UTIL_H

#include "../../sim/chip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLASH_KEYR    0x40023C04u
#define FLASH_OPTKEYR 0x40023C08u
#define FLASH_SR      0x40023C0Cu
#define FLASH_CR      0x40023C10u
#define FLASH_OPTCR   0x40023C14u
#define FLASH_OPTCR1  0x40023C18u
#define DHCSR         0xE000EDF0u
#define DCRSR         0xE000EDF4u
#define DCRDR         0xE000EDF8u
#define DEMCR         0xE000EDFCu
#define DFSR          0xE000ED30u
#define AIRCR         0xE000ED0Cu
#define FP_CTRL       0xE0002000u
#define FP_COMP0      0xE0002008u
#define SR_BSY        (1u << 16)
#define ARM_TESTS     "build/arm/tests/"

struct tchip {
    chip_t *c;
    char dir[64];
    char path[128];
    struct chip_config cfg;
};

/* A new chip (or the one already in t->path when reopen) on a private temporary directory. */
static inline chip_t *tchip_open(struct tchip *t, uint64_t seed, bool reopen)
{
    char err[512];
    if (!reopen) {
        strcpy(t->dir, "/tmp/simchip-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        snprintf(t->path, sizeof t->path, "%s/chip.state", t->dir);
        memset(&t->cfg, 0, sizeof t->cfg);
        t->cfg.create = true;
        t->cfg.uid_seed = seed;
    }
    t->cfg.state_path = t->path;
    t->c = chip_open(&t->cfg, err, sizeof err);
    if (!t->c)
        fail_msg("chip_open(%s): %s", t->path, err);
    return t->c;
}

static inline void tchip_close(struct tchip *t)
{
    if (t->c)
        chip_close(t->c);
    t->c = NULL;
}

static inline void tchip_cleanup(struct tchip *t)
{
    tchip_close(t);
    unlink(t->path);
    rmdir(t->dir);
}

static inline uint32_t rd32(chip_t *c, uint32_t a)
{
    uint32_t v = 0;
    int rc = chip_dbg_read(c, a, 4, &v);
    if (rc != CHIP_OK)
        fail_msg("debug read of 0x%08X failed (%d)", a, rc);
    return v;
}

static inline void wr32(chip_t *c, uint32_t a, uint32_t v)
{
    int rc = chip_dbg_write(c, a, 4, v);
    if (rc != CHIP_OK)
        fail_msg("debug write of 0x%08X to 0x%08X failed (%d)", v, a, rc);
}

/* Waits for BSY to clear the way a probe does (the device clock jumps when the core is halted). */
static inline uint32_t flash_wait(chip_t *c)
{
    for (int i = 0; i < 1000; i++) {
        uint32_t sr = rd32(c, FLASH_SR);
        if (!(sr & SR_BSY))
            return sr;
        chip_run(c, 10000);
    }
    fail_msg("flash stayed busy");
    return 0;
}

static inline void flash_unlock(chip_t *c)
{
    if (rd32(c, FLASH_CR) & 0x80000000u) {
        wr32(c, FLASH_KEYR, 0x45670123u);
        wr32(c, FLASH_KEYR, 0xCDEF89ABu);
    }
    assert_int_equal(rd32(c, FLASH_CR) & 0x80000000u, 0);
}

static inline void flash_clear_errors(chip_t *c)
{
    wr32(c, FLASH_SR, 0x1F3u);
}

/* Sector erase as OpenOCD writes it: SER | SNB | STRT in one go, PSIZE x8. */
static inline uint32_t flash_erase(chip_t *c, uint32_t snb)
{
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x00010002u | (snb << 3));
    uint32_t sr = flash_wait(c);
    wr32(c, FLASH_CR, 0);
    return sr;
}

static inline uint32_t flash_write_words(chip_t *c, uint32_t addr, const uint32_t *w, size_t n)
{
    flash_unlock(c);
    wr32(c, FLASH_CR, 0x201u); /* PG, PSIZE x32 */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(chip_dbg_write(c, addr + 4 * (uint32_t)i, 4, w[i]), CHIP_OK);
        flash_wait(c);
    }
    uint32_t sr = rd32(c, FLASH_SR);
    wr32(c, FLASH_CR, 0);
    return sr;
}

static inline uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (build the ARM test programs: make host)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 4);
    assert_non_null(buf);
    memset(buf, 0xFF, (size_t)n + 4);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Erases sector 0 (and 1-3 if needed) and programs a binary at 0x08000000. */
static inline void flash_load_bin(chip_t *c, const char *path)
{
    size_t len;
    uint8_t *buf = read_file(path, &len);
    chip_halt(c);
    for (uint32_t s = 0; s * 0x4000u < len && s < 4; s++)
        assert_int_equal(flash_erase(c, s) & 0xF2u, 0);
    size_t nw = (len + 3) / 4;
    uint32_t *w = malloc(nw * 4);
    assert_non_null(w);
    memcpy(w, buf, nw * 4);
    assert_int_equal(flash_write_words(c, 0x08000000u, w, nw) & 0xF2u, 0);
    free(w);
    free(buf);
}

static inline void load_ram(chip_t *c, uint32_t addr, const uint16_t *code, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(chip_dbg_write(c, addr + 2 * (uint32_t)i, 2, code[i]), CHIP_OK);
}

/* Runs until the USART output contains needle (or the budget is spent); returns the output. */
static inline char *run_until_text(chip_t *c, const char *needle, int slices, char *out, size_t cap)
{
    size_t n = strlen(out);
    for (int i = 0; i < slices; i++) {
        enum chip_run_result r = chip_run(c, 200000);
        n += chip_usart_take_tx(c, (uint8_t *)out + n, cap - 1 - n);
        out[n] = '\0';
        if (strstr(out, needle))
            return out;
        if (r == CHIP_RUN_HALTED || r == CHIP_RUN_LOCKUP || r == CHIP_RUN_POWER_CUT)
            break;
    }
    return NULL;
}

/* Runs until the core halts; returns the last run result. */
static inline enum chip_run_result run_until_halt(chip_t *c, int slices)
{
    enum chip_run_result r = CHIP_RUN_SLICE_DONE;
    for (int i = 0; i < slices && !chip_is_halted(c); i++) {
        r = chip_run(c, 100000);
        if (r == CHIP_RUN_LOCKUP || r == CHIP_RUN_POWER_CUT)
            break;
    }
    return r;
}

static inline void set_reg(chip_t *c, unsigned sel, uint32_t v)
{
    assert_int_equal(chip_reg_write(c, sel, v), 0);
}

static inline uint32_t get_reg(chip_t *c, unsigned sel)
{
    uint32_t v = 0;
    assert_int_equal(chip_reg_read(c, sel, &v), 0);
    return v;
}

/* Starts code at pc (Thumb) on a halted core with a stack in SRAM2. */
static inline void start_at(chip_t *c, uint32_t pc)
{
    set_reg(c, 15, pc);
    set_reg(c, 16, 0x01000000u);
    set_reg(c, 13, 0x2001F000u);
    chip_resume(c);
}

#endif
