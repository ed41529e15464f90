/* The chip as a whole: power on/off, the Unicorn engine and its hooks, the run loop that executes
 * slices of code and turns every way Unicorn stops into what an ARMv7-M core does, and the device
 * clock. */
#include "chip_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------ */
/* Small helpers used everywhere                                                               */

uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint32_t core_reg(chip_t *c, int ucreg)
{
    uint32_t v = 0;
    uc_reg_read(c->uc, ucreg, &v);
    return v;
}

void core_set_reg(chip_t *c, int ucreg, uint32_t v)
{
    uc_reg_write(c->uc, ucreg, &v);
}

uint32_t core_get_pc(chip_t *c)
{
    return core_reg(c, UC_ARM_REG_PC) & ~1u;
}

/* Writing PC through Unicorn also sets the Thumb state from bit 0; keep EPSR.T as it is. */
void core_set_pc(chip_t *c, uint32_t pc)
{
    uint32_t t = (core_reg(c, UC_ARM_REG_XPSR) >> 24) & 1u;
    core_set_reg(c, UC_ARM_REG_PC, (pc & ~1u) | t);
}

bool code_in_flash(const chip_t *c, uint32_t pc)
{
    return (pc - FLASH_BASE) < c->flash_size || pc < c->flash_size;
}

static int stop_rank(enum stop_reason r)
{
    static const int rank[] = {
        [STOP_NONE] = 0,  [STOP_BUDGET] = 1, [STOP_REEVAL] = 2,   [STOP_INTR] = 3,
        [STOP_FAULT] = 4, [STOP_HALT] = 5,   [STOP_POWER_CUT] = 6};
    return rank[r];
}

/* Called from memory hooks and MMIO handlers: end the run at the next block boundary. Stopping
 * Unicorn right away from a memory access would abandon the block after that access while
 * reporting the block's start as PC, so the block hook does it. */
void chip_request_stop(chip_t *c, enum stop_reason why)
{
    if (stop_rank(why) > stop_rank(c->stop_reason))
        c->stop_reason = why;
    if (c->in_emu)
        c->stop_deferred = true;
}

/* From code and interrupt hooks, where PC is exact: stop before the next instruction. */
void chip_stop_now(chip_t *c, enum stop_reason why)
{
    if (stop_rank(why) > stop_rank(c->stop_reason))
        c->stop_reason = why;
    if (c->in_emu && !c->stop_pending) {
        c->stop_pending = true;
        uc_emu_stop(c->uc);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Device clock                                                                                */

/* The device clock counts core cycles; nanoseconds follow from the HCLK frequency in force
 * since the last change (computed when asked, so the hot path is one addition). */
uint64_t dev_ns(const chip_t *c)
{
    uint64_t d = c->ctr.cycles - c->cyc_base;
    uint32_t hz = c->hclk_hz ? c->hclk_hz : 16000000u;
    if (d < (UINT64_MAX / 1000000000u))
        return c->ns_base + d * 1000000000u / hz;
    return c->ns_base + (uint64_t)((unsigned __int128)d * 1000000000u / hz);
}

static void time_rebase(chip_t *c)
{
    c->ns_base = dev_ns(c);
    c->cyc_base = c->ctr.cycles;
}

void set_hclk(chip_t *c, uint32_t hz)
{
    time_sync(c); /* cycles so far ran at the old frequency */
    time_rebase(c);
    c->hclk_hz = hz;
}

void time_advance_cycles(chip_t *c, uint64_t n)
{
    c->ctr.cycles += n;
}

void time_advance_ns(chip_t *c, uint64_t ns)
{
    uint32_t hz = c->hclk_hz ? c->hclk_hz : 16000000u;
    uint64_t k = (uint64_t)((unsigned __int128)ns * hz / 1000000000u);
    time_rebase(c);
    c->ctr.cycles += k;
    c->cyc_base += k;
    c->ns_base += ns;
}

/* Bring the clock and the instruction counter up to the block being executed, so MMIO handlers
 * see the current device time in the middle of a slice. */
void time_sync(chip_t *c)
{
    if (!c->in_emu)
        return;
    uint64_t n = c->slice_done - c->slice_accounted;
    c->slice_accounted = c->slice_done;
    c->ctr.instructions += n;
    time_advance_cycles(c, n);
    if (n)
        c->s_retire_st = true;
}

/* ------------------------------------------------------------------------------------------ */
/* Translation cache                                                                           */

/* Whether any 1 KB page of [off, off + len) in a region of n pages may hold translated code. */
static bool pages_marked(const uint8_t *marks, size_t n, uint32_t off, uint32_t len)
{
    for (size_t p = off >> 10; p <= (off + len - 1) >> 10 && p < n; p++)
        if (marks[p])
            return true;
    return false;
}

/* Asks for a change to Unicorn's translated code or hooks from inside a hook, while the CPU runs:
 * Unicorn 2.0.1 crashed when blocks were dropped under the block it was running (a CPU store that
 * programs flash in its own block, tests/fuzz: fuzz_sim_rsp). The change is done when the run
 * stops, at the end of this block; the rest of the block runs as it was translated. */
bool defer_in_emu(chip_t *c)
{
    if (!c->in_emu)
        return false;
    chip_request_stop(c, STOP_REEVAL);
    return true;
}

/* Debugger writes and flash operations change code behind Unicorn's back: drop the translated
 * blocks that cover it (both flash aliases share the cells). Where no code ran, nothing was
 * translated, so most writes (data, flash being programmed) cost nothing here. */
void tb_invalidate(chip_t *c, uint32_t addr, uint32_t len)
{
    /* a chip without power runs no more code */
    if (len == 0 || c->powered_off)
        return;
    bool in_flash = addr - FLASH_BASE < c->flash_size;
    if (in_flash && !pages_marked(c->flash_code_pages, c->flash_size >> 10, addr - FLASH_BASE, len))
        return;
    if (addr - SRAM_BASE < SRAM_SIZE &&
        !pages_marked(c->sram_code_pages, sizeof c->sram_code_pages, addr - SRAM_BASE, len))
        return;
    if (defer_in_emu(c)) {
        if (c->n_tb_deferred < TB_DEFERRED_MAX) {
            c->tb_deferred[c->n_tb_deferred][0] = addr;
            c->tb_deferred[c->n_tb_deferred++][1] = len;
        } else {
            c->tb_deferred_all = true;
        }
        return;
    }
    uc_ctl_remove_cache(c->uc, addr, (uint64_t)addr + len);
    if (in_flash) {
        uint32_t off = addr - FLASH_BASE;
        uc_ctl_remove_cache(c->uc, (uint64_t)FLASH_ALIAS + off, (uint64_t)FLASH_ALIAS + off + len);
    }
}

/* Notes that the 1 KB page holding addr may now hold translated code. */
void code_page_mark(chip_t *c, uint32_t addr)
{
    if (addr - SRAM_BASE < SRAM_SIZE)
        c->sram_code_pages[(addr - SRAM_BASE) >> 10] = 1;
    else if (addr - FLASH_BASE < c->flash_size)
        c->flash_code_pages[(addr - FLASH_BASE) >> 10] = 1;
    else if (addr - FLASH_ALIAS < c->flash_size)
        c->flash_code_pages[(addr - FLASH_ALIAS) >> 10] = 1;
    else if (addr - SYSMEM_BASE < SYSMEM_SIZE)
        c->sysmem_code_pages[(addr - SYSMEM_BASE) >> 10] = 1;
}

/* Drops the blocks of each run of marked pages (at base, and at alias unless it is base too) and
 * clears the marks. */
static void drop_marked(chip_t *c, uint8_t *marks, size_t n, uint32_t base, uint32_t alias)
{
    for (size_t i = 0; i < n; i++) {
        if (!marks[i])
            continue;
        size_t j = i;
        while (j < n && marks[j])
            marks[j++] = 0;
        uc_ctl_remove_cache(c->uc, (uint64_t)base + i * 1024u, (uint64_t)base + j * 1024u);
        if (alias != base)
            uc_ctl_remove_cache(c->uc, (uint64_t)alias + i * 1024u, (uint64_t)alias + j * 1024u);
        i = j;
    }
}

/* Drops every translated block, e.g. after hooks changed that code generation depends on. Not
 * with UC_CTL_TB_FLUSH: Unicorn 2.0.1 clears its whole 1 GB code buffer then (page faults):
 * the reset into RDP Level 2 stalled every front end 0.3-0.6 s, a single step took ~0.5 s.
 * Code runs only from flash, system memory and SRAM, and only the pages it ran from hold blocks,
 * so dropping those is the same: a single step costs a few page drops, not a walk over all 2 MB
 * of flash (which was most of a step's time). */
void tb_drop_all(chip_t *c)
{
    if (defer_in_emu(c)) {
        c->tb_deferred_all = true;
        return;
    }
    drop_marked(c, c->flash_code_pages, c->flash_size >> 10, FLASH_BASE, FLASH_ALIAS);
    drop_marked(c, c->sysmem_code_pages, sizeof c->sysmem_code_pages, SYSMEM_BASE, SYSMEM_BASE);
    drop_marked(c, c->sram_code_pages, sizeof c->sram_code_pages, SRAM_BASE, SRAM_BASE);
}

/* Unicorn 2.0.1 never reuses the space of dropped blocks: its 1 GB code buffer fills up and is
 * then flushed from inside the translation of a block, after which it crashed
 * (tb_invalidate_phys_range on a freed block, tests/fuzz: fuzz_sim_rsp every ~10^5 inputs). The
 * sim flushes first, between two runs of the CPU, after TB_FLUSH_EVERY new blocks (~1 KB of host
 * code each; a tenth of the buffer). */
#ifndef TB_FLUSH_EVERY
#define TB_FLUSH_EVERY 100000u
#endif

void tb_flush_if_due(chip_t *c)
{
    if (c->tb_translated < TB_FLUSH_EVERY)
        return;
    uc_ctl_flush_tlb(c->uc); /* UC_CTL_TB_FLUSH, despite the macro's name */
    memset(c->flash_code_pages, 0, sizeof c->flash_code_pages);
    memset(c->sysmem_code_pages, 0, sizeof c->sysmem_code_pages);
    memset(c->sram_code_pages, 0, sizeof c->sram_code_pages);
    c->tb_translated = 0;
    c->ctr.tb_flushes++;
}

/* ------------------------------------------------------------------------------------------ */
/* Non-volatile state                                                                          */

void nv_mark_dirty(chip_t *c)
{
    if (!c->nv_dirty)
        c->nv_dirty_since_ns = wall_ns();
    c->nv_dirty = true;
}

/* Written back on close, on power cut, after option changes, and at most ~1 s after flash
 * contents change while running, so a killed sim loses little. */
static void nv_flush_if_due(chip_t *c)
{
    if (c->nv_dirty && wall_ns() - c->nv_dirty_since_ns > 1000000000u) {
        char err[256];
        if (state_save(c, err, sizeof err) != 0)
            fprintf(stderr, "sim: %s\n", err);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Read-out protection guard: while RDP Level 1 is in force and a debugger has been attached,
 * flash reads by code not running from flash must fail. Flash is then mapped execute-only and a
 * dummy read hook forces every load through Unicorn's checked slow path. */

static void hook_nop_read(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                          int64_t value, void *user)
{
    (void)uc;
    (void)type;
    (void)address;
    (void)size;
    (void)value;
    (void)user;
}

void rdp_guard_update(chip_t *c)
{
    bool want = rdp_level(c->rdp_in_force) >= 1 && c->dbg_attached;
    if (want == c->rdp_guard)
        return;
    if (defer_in_emu(c)) {
        c->rdp_guard_deferred = true;
        return;
    }
    uint32_t perms = want ? UC_PROT_EXEC : (UC_PROT_READ | UC_PROT_EXEC);
    uc_mem_protect(c->uc, FLASH_BASE, c->flash_size, perms);
    uc_mem_protect(c->uc, FLASH_ALIAS, c->flash_size, perms);
    if (want) {
        uc_hook_add(c->uc, &c->h_rdp_dummy, UC_HOOK_MEM_READ, (void *)hook_nop_read, NULL,
                    0xFFFFFFF0u, 0xFFFFFFF0u);
    } else {
        uc_hook_del(c->uc, c->h_rdp_dummy);
    }
    c->rdp_guard = want;
    /* Load code generation depends on whether read hooks exist. */
    tb_drop_all(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Unicorn hooks                                                                               */

static void hook_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    chip_t *c = user;
    uint32_t a = (uint32_t)address;
    (void)uc;
    /* Marked first: the block is translated even when it does not run now. */
    code_page_mark(c, a);
    code_page_mark(c, a + (size ? size - 1 : 0));
    if (c->nfix)
        flash_fixups_apply(c);
    if (c->stop_deferred && !c->stop_pending) {
        c->stop_pending = true;
        c->resume_pc = a;
        c->resume_valid = true;
        uc_emu_stop(uc);
        return;
    }
    if (c->stop_pending) {
        /* This block will not run (the exit check follows this hook): resume here. */
        if (!c->resume_valid) {
            c->resume_pc = a;
            c->resume_valid = true;
        }
        return;
    }
    if (c->step_skip && c->step_calls > 0) {
        step_end(c, a); /* the step's instruction ran: this block is the next one */
        return;
    }
    unsigned n = thumb_count_insns(c, a, size);
    if (c->slice_done > 0 && (c->slice_done + n > c->slice_limit || c->interrupt)) {
        c->stop_reason = c->stop_reason == STOP_NONE ? STOP_BUDGET : c->stop_reason;
        c->stop_pending = true;
        c->resume_pc = a;
        c->resume_valid = true;
        uc_emu_stop(uc);
        return;
    }
    c->slice_done += n;
    c->cur_block = a;
    c->cur_block_n = n;
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
    chip_t *c = user;
    c->intno = (int)intno;
    c->intr_pc = core_reg(c, UC_ARM_REG_PC);
    chip_stop_now(c, STOP_INTR);
    (void)uc;
}

static bool in_flash_map(const chip_t *c, uint32_t a)
{
    return (a - FLASH_BASE) < c->flash_size || a < c->flash_size;
}

static bool hook_wprot(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
                       void *user)
{
    chip_t *c = user;
    uint32_t a = (uint32_t)address;
    (void)uc;
    (void)type;
    if (in_flash_map(c, a)) {
        time_sync(c);
        flash_cpu_store(c, a, (unsigned)size, (uint64_t)value);
        return true; /* the store lands; flash_cpu_store recorded how to undo it */
    }
    /* System memory (ROM): a write is an imprecise bus error. Unicorn ends the run right after
     * the store. */
    if (c->fault == FAULT_NONE) {
        c->fault = FAULT_WRITE;
        c->fault_addr = a;
        c->fault_after_insn = true;
    }
    if (stop_rank(STOP_FAULT) > stop_rank(c->stop_reason))
        c->stop_reason = STOP_FAULT;
    return false;
}

static bool hook_rprot(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
                       void *user)
{
    chip_t *c = user;
    (void)uc;
    (void)type;
    (void)size;
    (void)value;
    if (code_in_flash(c, c->cur_block))
        return true;
    if (c->fault == FAULT_NONE) {
        c->fault = FAULT_READ;
        c->fault_addr = (uint32_t)address;
    }
    if (stop_rank(STOP_FAULT) > stop_rank(c->stop_reason))
        c->stop_reason = STOP_FAULT;
    return false; /* Unicorn leaves the instruction before it writes its target register */
}

static bool hook_unmapped(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                          int64_t value, void *user)
{
    chip_t *c = user;
    uint32_t a = (uint32_t)address;
    (void)uc;
    (void)size;
    (void)value;
    if (c->fault != FAULT_NONE)
        return false;
    switch (type) {
    case UC_MEM_READ_UNMAPPED:
        c->fault = FAULT_READ;
        break;
    case UC_MEM_WRITE_UNMAPPED:
        c->fault = FAULT_WRITE; /* Unicorn ends the run right after the store */
        c->fault_after_insn = true;
        break;
    case UC_MEM_FETCH_UNMAPPED:
    case UC_MEM_FETCH_PROT:
        /* Peripheral, device and system regions are execute-never (MemManage). */
        c->fault = (a - 0x40000000u < 0x20000000u || a >= 0xA0000000u) ? FAULT_XN : FAULT_FETCH;
        break;
    default:
        c->fault = FAULT_READ;
        break;
    }
    c->fault_addr = a;
    if (stop_rank(STOP_FAULT) > stop_rank(c->stop_reason))
        c->stop_reason = STOP_FAULT;
    return false;
}

/* Counts newly translated blocks (Unicorn reports most of them as an edge from the block before).
 */
static void hook_translated(uc_engine *uc, uc_tb *cur, uc_tb *prev, void *user)
{
    chip_t *c = user;
    (void)uc;
    (void)cur;
    (void)prev;
    c->tb_translated++;
    c->ctr.tb_translated++;
}

static int hooks_install(chip_t *c)
{
    uc_err e = UC_ERR_OK;
    e |= uc_hook_add(c->uc, &c->h_block, UC_HOOK_BLOCK, (void *)hook_block, c, 1, 0);
    e |= uc_hook_add(c->uc, &c->h_translated, UC_HOOK_EDGE_GENERATED, (void *)hook_translated, c, 1,
                     0);
    e |= uc_hook_add(c->uc, &c->h_intr, UC_HOOK_INTR, (void *)hook_intr, c, 1, 0);
    e |= uc_hook_add(c->uc, &c->h_wprot, UC_HOOK_MEM_WRITE_PROT, (void *)hook_wprot, c, 1, 0);
    e |= uc_hook_add(c->uc, &c->h_rprot, UC_HOOK_MEM_READ_PROT, (void *)hook_rprot, c, 1, 0);
    e |=
        uc_hook_add(c->uc, &c->h_runmap, UC_HOOK_MEM_READ_UNMAPPED, (void *)hook_unmapped, c, 1, 0);
    e |= uc_hook_add(c->uc, &c->h_wunmap, UC_HOOK_MEM_WRITE_UNMAPPED, (void *)hook_unmapped, c, 1,
                     0);
    e |= uc_hook_add(c->uc, &c->h_funmap, UC_HOOK_MEM_FETCH_UNMAPPED, (void *)hook_unmapped, c, 1,
                     0);
    e |= uc_hook_add(c->uc, &c->h_fprot, UC_HOOK_MEM_FETCH_PROT, (void *)hook_unmapped, c, 1, 0);
    return e == UC_ERR_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Power on / off                                                                              */

chip_t *chip_open(const struct chip_config *cfg, char *err, size_t err_len)
{
    if (err_len)
        err[0] = '\0';
    if (!cfg || !cfg->state_path || !cfg->state_path[0]) {
        snprintf(err, err_len, "no state file given: the chip needs a file to keep its flash in");
        return NULL;
    }
    chip_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_len, "out of memory creating the chip");
        return NULL;
    }
    c->cfg = *cfg;
    c->state_path = strdup(cfg->state_path);
    c->cfg.state_path = c->state_path;
    c->sram = aligned_alloc(4096, SRAM_SIZE);
    c->ccm = aligned_alloc(4096, CCM_SIZE);
    c->bkpsram = aligned_alloc(4096, BKPSRAM_SIZE);
    c->sysmem = aligned_alloc(4096, 0x8000);
    c->tx_buf = malloc(USART_BUF);
    c->rx_buf = malloc(USART_BUF);
    if (!c->state_path || !c->sram || !c->ccm || !c->bkpsram || !c->sysmem || !c->tx_buf ||
        !c->rx_buf) {
        snprintf(err, err_len, "out of memory creating the chip");
        chip_close(c);
        return NULL;
    }
    /* SRAM powers up with garbage on silicon; zero is reproducible. */
    memset(c->sram, 0, SRAM_SIZE);
    memset(c->ccm, 0, CCM_SIZE);
    memset(c->bkpsram, 0, BKPSRAM_SIZE);
    memset(c->sysmem, 0xFF, 0x8000);

    int st = state_load(c, err, err_len);
    if (st < 0) {
        c->powered_off = true;
        chip_close(c);
        return NULL;
    }
    if (st == 1) {
        if (!cfg->create) {
            snprintf(err, err_len,
                     "state file '%s' does not exist: create a new chip (sim --create) or give the "
                     "path of an existing one",
                     cfg->state_path);
            c->powered_off = true;
            chip_close(c);
            return NULL;
        }
        if (cfg->flash_kb != 0 && cfg->flash_kb != 2048 && cfg->flash_kb != 1024) {
            snprintf(err, err_len, "flash size %u KB is not an STM32F427 size: use 2048 or 1024",
                     cfg->flash_kb);
            c->powered_off = true;
            chip_close(c);
            return NULL;
        }
        state_new_chip(c);
        if (!c->flash) {
            snprintf(err, err_len, "out of memory creating the chip's flash");
            c->powered_off = true;
            chip_close(c);
            return NULL;
        }
        if (state_save(c, err, err_len) != 0) {
            c->powered_off = true;
            chip_close(c);
            return NULL;
        }
    }

    if (uc_open(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS, &c->uc) != UC_ERR_OK ||
        uc_ctl_set_cpu_model(c->uc, UC_CPU_ARM_CORTEX_M4) != UC_ERR_OK) {
        snprintf(err, err_len, "cannot start the Cortex-M4 emulator (Unicorn)");
        c->powered_off = true;
        chip_close(c);
        return NULL;
    }
    if (mem_map_all(c, err, err_len) != 0 || hooks_install(c) != 0) {
        if (!err[0])
            snprintf(err, err_len, "cannot set up the emulator's memory map");
        c->powered_off = true;
        chip_close(c);
        return NULL;
    }

    /* Power-on reset: everything, debug logic included. */
    c->power_on_count++;
    nv_mark_dirty(c);
    c->hclk_hz = 16000000u;
    c->ns_base = c->cyc_base = 0;
    dbgmcu_power_on(c);
    debug_power_on(c);
    system_reset(c, false, false);
    c->s_reset_st = true;
    return c;
}

void chip_close(chip_t *c)
{
    if (!c)
        return;
    if (c->uc && !c->powered_off) {
        flash_poll(c, FLASH_STALL);
        char err[512];
        if (state_save(c, err, sizeof err) != 0)
            fprintf(stderr, "sim: %s\n", err);
    }
    power_cut_log_close(c);
    if (c->uc)
        uc_close(c->uc);
    free(c->flash);
    free(c->sram);
    free(c->ccm);
    free(c->bkpsram);
    free(c->sysmem);
    free(c->tx_buf);
    free(c->rx_buf);
    free(c->state_path);
    free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* The run loop                                                                                */

static bool is_wfi_before(chip_t *c, uint32_t pc)
{
    uint16_t hw = 0, hw2 = 0;
    if (thumb_read16(c, pc - 2, &hw) && hw == 0xBF30)
        return true;
    if (thumb_read16(c, pc - 4, &hw) && thumb_read16(c, pc - 2, &hw2) && hw == 0xF3AF &&
        hw2 == 0x8003)
        return true;
    return false;
}

static bool is_hint_before(chip_t *c, uint32_t pc)
{
    uint16_t hw = 0, hw2 = 0;
    if (thumb_read16(c, pc - 2, &hw) && (hw == 0xBF20 || hw == 0xBF10))
        return true; /* WFE, YIELD */
    if (thumb_read16(c, pc - 4, &hw) && thumb_read16(c, pc - 2, &hw2) && hw == 0xF3AF &&
        (hw2 == 0x8002 || hw2 == 0x8001))
        return true;
    return false;
}

/* The next timed event (SysTick wrap, end of a flash operation, power cut) in core cycles. */
static uint64_t cycles_to_event(chip_t *c)
{
    uint64_t n = UINT64_MAX;
    uint64_t s = systick_cycles_to_event(c);
    if (s < n)
        n = s;
    if (c->fop.kind != FOP_NONE && !c->cfg.realtime) {
        uint64_t ns = flash_ns_to_end(c);
        uint64_t cyc = (uint64_t)((unsigned __int128)ns * c->hclk_hz / 1000000000u) + 1;
        if (cyc < n)
            n = cyc;
    }
    uint64_t p = power_cut_cycles_left(c);
    if (p < n)
        n = p;
    return n;
}

/* The changes hooks asked for while the CPU ran (defer_in_emu). */
static void apply_deferred(chip_t *c)
{
    if (c->bp_deferred) {
        c->bp_deferred = false;
        bp_rebuild(c);
    }
    if (c->rdp_guard_deferred) {
        c->rdp_guard_deferred = false;
        rdp_guard_update(c);
    }
    if (c->tb_deferred_all)
        tb_drop_all(c);
    else
        for (unsigned i = 0; i < c->n_tb_deferred; i++)
            tb_invalidate(c, c->tb_deferred[i][0], c->tb_deferred[i][1]);
    c->tb_deferred_all = false;
    c->n_tb_deferred = 0;
}

/* Executes one Unicorn run of at most limit instructions and handles why it stopped. */
static void run_slice(chip_t *c, uint64_t limit)
{
    c->slice_limit = limit;
    c->slice_done = 0;
    c->slice_accounted = 0;
    c->stop_reason = STOP_NONE;
    c->stop_pending = false;
    c->stop_deferred = false;
    c->resume_valid = false;
    c->fault = FAULT_NONE;
    c->fault_after_insn = false;
    c->intno = -1;
    c->cur_block = core_get_pc(c);
    uint32_t xpsr = core_reg(c, UC_ARM_REG_XPSR);
    uint32_t start = core_get_pc(c) | ((xpsr >> 24) & 1u);

    tb_flush_if_due(c);
    c->in_emu = true;
    uc_err e = uc_emu_start(c->uc, start, 0xFFFFFFFFu, 0, 0);
    c->in_emu = false;
    apply_deferred(c);
    /* A block translated where the run stopped may not have started (no block hook yet). */
    uint32_t stop_pc = core_get_pc(c);
    code_page_mark(c, stop_pc);
    code_page_mark(c, stop_pc + 1024u); /* a block ends at most 2 bytes into the next page */
    if (c->nfix)
        flash_fixups_apply(c);

    /* Account what ran. */
    uint64_t n = c->slice_done - c->slice_accounted;
    c->ctr.instructions += n;
    time_advance_cycles(c, n);
    if (c->slice_done)
        c->s_retire_st = true;

    if (c->powered_off || c->stop_reason == STOP_POWER_CUT)
        return;

    /* Where the core really is. */
    uint32_t pc;
    if (c->intno >= 0)
        pc = c->intr_pc;
    else if (c->fault == FAULT_READ)
        pc = thumb_fault_pc(c, c->cur_block, c->fault_addr);
    else if (c->fault_after_insn)
        pc = thumb_next_pc(c, thumb_fault_pc(c, c->cur_block, c->fault_addr));
    else if (c->fault == FAULT_FETCH || c->fault == FAULT_XN)
        pc = c->fault_addr;
    else if (c->resume_valid)
        pc = c->resume_pc;
    else
        pc = core_get_pc(c);
    core_set_pc(c, pc);

    if (c->intno >= 0) {
        int no = c->intno;
        c->intno = -1;
        switch (no) {
        case 2: /* SVC: PC already after the instruction */
            exc_svc(c, pc);
            break;
        case 7: /* BKPT */
            if (c->dhcsr_c & 1u)
                debug_enter(c, CHIP_HALT_BKPT);
            else
                exc_bkpt_no_debug(c, pc);
            break;
        case 8: /* exception return: PC holds EXC_RETURN */
            exc_return(c, pc | 1u);
            break;
        case 17:
            exc_fault(c, FAULT_NOCP, 0, pc);
            break;
        case 22:
            exc_fault(c, FAULT_UNALIGNED, 0, pc);
            break;
        default:
            exc_fault(c, FAULT_FETCH, pc, pc);
            break;
        }
    } else if (c->fault != FAULT_NONE) {
        exc_fault(c, c->fault, c->fault_addr, pc);
    } else if (e == UC_ERR_INSN_INVALID) {
        if (is_hint_before(c, pc) && c->last_stuck_pc != pc) {
            c->last_stuck_pc = pc; /* WFE/YIELD stop Unicorn: they are hints here */
        } else {
            c->last_stuck_pc = UINT64_MAX;
            exc_fault(c, FAULT_UNDEF, 0, pc);
        }
    } else if (e == UC_ERR_EXCEPTION) {
        exc_fault(c, FAULT_INVSTATE, 0, pc);
    } else if (e != UC_ERR_OK) {
        exc_fault(c, FAULT_READ, pc, pc);
    } else if (c->stop_reason == STOP_NONE) {
        /* Unicorn ends a run at WFI with PC after it. */
        if (is_wfi_before(c, pc))
            c->sleeping = !exc_any_pending(c);
    }
    if (c->pend_halt) {
        unsigned r = c->pend_halt;
        c->pend_halt = 0;
        if (!c->halted)
            debug_enter(c, r);
    }
}

/* One unlimited run (single step: the step hook ends it), with the same aftermath as a slice. */
void run_one(chip_t *c)
{
    run_slice(c, UINT64_MAX);
    if (c->powered_off)
        return;
    if (c->pending_reset)
        system_reset(c, c->pending_reset == 2, false);
    systick_sync(c);
    flash_poll(c, FLASH_DUE);
    power_cut_check_cycle(c);
}

static enum chip_run_result run_loop(chip_t *c, uint64_t max_insns)
{
    if (c->powered_off)
        return CHIP_RUN_POWER_CUT;
    flash_poll(c, (c->halted || c->srst || c->lockup) ? FLASH_OBSERVE : FLASH_DUE);
    if (c->powered_off)
        return CHIP_RUN_POWER_CUT;
    nv_flush_if_due(c);
    if (c->srst || c->halted || c->lockup)
        return CHIP_RUN_IDLE;

    uint64_t done = 0;
    uint64_t insn0 = c->ctr.instructions;
    while (done < max_insns) {
        if (exc_take_pending(c, false) || c->halted || c->lockup) {
            if (c->halted)
                return CHIP_RUN_HALTED;
            if (c->lockup)
                return CHIP_RUN_LOCKUP;
        }
        if (c->sleeping) {
            if (exc_any_pending(c)) {
                c->sleeping = false;
                continue;
            }
            uint64_t ev = cycles_to_event(c);
            if (ev == UINT64_MAX) {
                if (c->fop.kind != FOP_NONE && c->cfg.realtime) {
                    flash_poll(c, FLASH_DUE);
                    return CHIP_RUN_IDLE;
                }
                return CHIP_RUN_IDLE;
            }
            time_advance_cycles(c, ev);
            systick_sync(c);
            flash_poll(c, FLASH_DUE);
            if (power_cut_check_cycle(c))
                return CHIP_RUN_POWER_CUT;
            if (exc_any_pending(c))
                c->sleeping = false;
            continue;
        }
        uint64_t slice = max_insns - done;
        uint64_t ev = cycles_to_event(c);
        if (ev < slice)
            slice = ev ? ev : 1;
        /* A pending exception that is masked (PRIMASK, BASEPRI...) may be unmasked by the code
         * any moment: keep slices short so it is taken soon after. */
        if (exc_any_pending(c) && slice > 256)
            slice = 256;
        uint64_t before = c->ctr.instructions;
        bool whole = slice == max_insns - done;
        run_slice(c, slice);
        done += c->ctr.instructions - before;
        if (c->ctr.instructions == before)
            done++; /* a run that executed nothing (fault, WFI) still counts */
        if (c->powered_off)
            return CHIP_RUN_POWER_CUT;
        if (c->pending_reset)
            system_reset(c, c->pending_reset == 2, false);
        systick_sync(c);
        flash_poll(c, FLASH_DUE);
        if (c->powered_off)
            return CHIP_RUN_POWER_CUT;
        if (power_cut_check_cycle(c))
            return CHIP_RUN_POWER_CUT;
        if (c->halted)
            return CHIP_RUN_HALTED;
        if (c->lockup)
            return CHIP_RUN_LOCKUP;
        if (whole && c->stop_reason == STOP_BUDGET)
            break; /* the next block would not fit in this call's budget */
        if (c->interrupt)
            break; /* a front end has work */
    }
    (void)insn0;
    return CHIP_RUN_SLICE_DONE;
}

void chip_interrupt(chip_t *c)
{
    c->interrupt = 1;
}

void chip_interrupt_clear(chip_t *c)
{
    c->interrupt = 0;
}

enum chip_run_result chip_run(chip_t *c, uint64_t max_insns)
{
    enum chip_run_result r = run_loop(c, max_insns);
    c->ctr.device_ns = dev_ns(c);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Simple accessors                                                                            */

bool chip_is_halted(const chip_t *c)
{
    return c->halted;
}

unsigned chip_halt_reason(const chip_t *c)
{
    return c->halted ? c->halt_reason : CHIP_HALT_NONE;
}

bool chip_debug_port_alive(const chip_t *c)
{
    return !c->powered_off && !c->port_dead;
}

struct chip_counters *chip_counters(chip_t *c)
{
    c->ctr.device_ns = dev_ns(c);
    return &c->ctr;
}

int chip_counters_format(const chip_t *c, char *buf, size_t len)
{
    struct chip_counters k0 = c->ctr, *k = &k0;
    k0.device_ns = dev_ns(c);
    return snprintf(buf, len,
                    "instructions=%" PRIu64 " cycles=%" PRIu64 " device_ns=%" PRIu64
                    " flash_ns=%" PRIu64 " flash_ops=%" PRIu64 " dbg_transactions=%" PRIu64
                    " dbg_bytes_in=%" PRIu64 " dbg_bytes_out=%" PRIu64 " dbg_round_trips=%" PRIu64
                    " tb_translated=%" PRIu64 " tb_flushes=%" PRIu64,
                    k->instructions, k->cycles, k->device_ns, k->flash_ns, k->flash_ops,
                    k->dbg_transactions, k->dbg_bytes_in, k->dbg_bytes_out, k->dbg_round_trips,
                    k->tb_translated, k->tb_flushes);
}

void chip_uid(const chip_t *c, uint8_t uid[12])
{
    memcpy(uid, c->uid, 12);
}

uint8_t chip_rdp_byte(const chip_t *c)
{
    return c->rdp_in_force;
}
