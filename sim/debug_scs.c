/* Halting debug as ARMv7-M defines it and OpenOCD drives it (FACTS §4.2-4.4): DHCSR (DBGKEY,
 * C_HALT reads 1 in Debug state, S_REGRDY at once, sticky S_RETIRE_ST/S_RESET_ST), DCRSR/DCRDR
 * register transfer, DEMCR vector catch, DFSR, the FPB and DWT, single step, and the resets. */
#include "chip_internal.h"

#include <stdlib.h>
#include <string.h>

#define DBGKEY       0xA05Fu
#define C_DEBUGEN    (1u << 0)
#define C_HALT       (1u << 1)
#define C_STEP       (1u << 2)
#define C_MASKINTS   (1u << 3)
#define C_SNAPSTALL  (1u << 5)
#define TRCENA       (1u << 24)
#define VC_CORERESET 1u

/* ---- Debug state ---- */

void debug_enter(chip_t *c, unsigned reason)
{
    static const uint32_t dfsr_bit[] = {0, 1u << 0, 1u << 1, 0, 1u << 2, 0, 0, 0, 1u << 3};
    c->halted = true;
    c->halt_reason = reason;
    c->sleeping = false;
    c->lockup = false;
    c->dhcsr_c |= C_HALT;
    for (unsigned b = 1; b <= 8; b <<= 1)
        if (reason & b)
            c->dfsr |= dfsr_bit[b];
}

static void debug_attach(chip_t *c)
{
    if (!c->dbg_attached) {
        c->dbg_attached = true;
        rdp_guard_update(c);
    }
}

static void debug_leave(chip_t *c)
{
    c->halted = false;
    c->halt_reason = CHIP_HALT_NONE;
    c->dhcsr_c &= ~(C_HALT | C_STEP);
}

void debug_power_on(chip_t *c)
{
    c->dhcsr_c = 0;
    c->dfsr = 0;
    c->dcrdr = 0;
    c->demcr = 0;
    c->fp_ctrl = 0;
    c->fp_remap = 0;
    memset(c->fp_comp, 0, sizeof c->fp_comp);
    c->dwt_ctrl = 0;
    memset(c->dwt_comp, 0, sizeof c->dwt_comp);
    memset(c->dwt_mask, 0, sizeof c->dwt_mask);
    memset(c->dwt_func, 0, sizeof c->dwt_func);
    c->dwt_cyccnt_base = 0;
    c->dwt_cyc_since = 0;
    c->dwt_cyc_running = false;
    c->n_sim_bp = 0;
    c->halted = false;
    c->dbg_attached = false;
}

/* ---- DWT cycle counter: runs while DWT_CTRL.CYCCNTENA and DEMCR.TRCENA ---- */

uint32_t dwt_cyccnt(chip_t *c)
{
    if (!c->dwt_cyc_running)
        return c->dwt_cyccnt_base;
    time_sync(c);
    return c->dwt_cyccnt_base + (uint32_t)(c->ctr.cycles - c->dwt_cyc_since);
}

static void dwt_cyc_update(chip_t *c)
{
    time_sync(c);
    uint32_t now = dwt_cyccnt(c);
    c->dwt_cyccnt_base = now;
    c->dwt_cyc_since = c->ctr.cycles;
    c->dwt_cyc_running = (c->dwt_ctrl & 1u) && (c->demcr & TRCENA);
}

/* ---- breakpoints: FPB comparators, DWT PC comparators and the GDB server's list, each a
 * Unicorn code hook bounded to its address (costs nothing elsewhere) ---- */

static void hook_bp(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    chip_t *c = user;
    uint32_t a = (uint32_t)address;
    (void)uc;
    (void)size;
    if (c->step_skip || c->halted)
        return; /* single step: only the step hook decides */
    if (!bp_match(c, a))
        return;
    /* Instructions of this block from the breakpoint on will not run. */
    uint32_t k = 0, p = c->cur_block;
    while (p < a && k < c->cur_block_n) {
        uint16_t hw;
        if (!thumb_read16(c, p, &hw))
            break;
        p += thumb_insn_len(hw);
        k++;
    }
    if (c->cur_block_n > k && c->slice_done >= c->cur_block_n - k)
        c->slice_done -= c->cur_block_n - k;
    c->resume_pc = a;
    c->resume_valid = true;
    c->pend_halt = CHIP_HALT_BKPT;
    for (int i = 0; i < DWT_NCOMP; i++) {
        if ((c->dwt_func[i] & 0xFu) == 4u && ((c->dwt_comp[i] ^ a) & ~1u) == 0) {
            c->dwt_func[i] |= 1u << 24;
            c->pend_halt = CHIP_HALT_DWT;
        }
    }
    chip_stop_now(c, STOP_HALT);
}

static int collect_bps(chip_t *c, uint32_t *out, int cap)
{
    int n = 0;
    if ((c->dhcsr_c & C_DEBUGEN) && (c->fp_ctrl & 1u)) {
        for (int i = 0; i < FPB_CODE; i++) {
            uint32_t v = c->fp_comp[i];
            if (!(v & 1u))
                continue;
            uint32_t base = v & 0x1FFFFFFCu;
            unsigned repl = v >> 30;
            if ((repl & 1u) && n < cap)
                out[n++] = base;
            if ((repl & 2u) && n < cap)
                out[n++] = base + 2;
        }
    }
    if (c->dhcsr_c & C_DEBUGEN) {
        for (int i = 0; i < DWT_NCOMP; i++)
            if ((c->dwt_func[i] & 0xFu) == 4u && n < cap)
                out[n++] = c->dwt_comp[i] & ~1u;
    }
    for (int i = 0; i < c->n_sim_bp && n < cap; i++)
        out[n++] = c->sim_bp[i];
    return n;
}

bool bp_match(chip_t *c, uint32_t pc)
{
    uint32_t list[MAX_HW_BP * 2];
    int n = collect_bps(c, list, MAX_HW_BP * 2);
    for (int i = 0; i < n; i++)
        if (list[i] == pc)
            return true;
    return false;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void hook_watch(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
                       void *user)
{
    chip_t *c = user;
    (void)uc;
    (void)value;
    uint32_t a = (uint32_t)address;
    for (int i = 0; i < DWT_NCOMP; i++) {
        unsigned f = c->dwt_func[i] & 0xFu;
        if (f < 5 || f > 7)
            continue;
        uint32_t mask = (1u << (c->dwt_mask[i] & 31u)) - 1u;
        uint32_t lo = c->dwt_comp[i] & ~mask, hi = c->dwt_comp[i] | mask;
        if (a + (uint32_t)size - 1 < lo || a > hi)
            continue;
        bool rd = type == UC_MEM_READ;
        if ((f == 5 && !rd) || (f == 6 && rd))
            continue;
        c->dwt_func[i] |= 1u << 24;
        c->pend_halt = CHIP_HALT_DWT;
        chip_request_stop(c, STOP_HALT);
    }
}

/* Rebuilds the hooks after any change to FPB, DWT, DHCSR.C_DEBUGEN or the GDB list. */
void bp_rebuild(chip_t *c)
{
    if (defer_in_emu(c)) { /* the CPU wrote FPB or DWT: the hooks change when the run stops */
        c->bp_deferred = true;
        return;
    }
    uint32_t list[MAX_HW_BP * 2];
    int n = collect_bps(c, list, MAX_HW_BP * 2);
    qsort(list, (size_t)n, sizeof list[0], cmp_u32);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || list[m - 1] != list[i])
            list[m++] = list[i];
    bool same = m == c->n_bp_hooks && !memcmp(list, c->bp_addr, (size_t)m * sizeof list[0]);
    if (!same) {
        for (int i = 0; i < c->n_bp_hooks; i++) {
            uc_hook_del(c->uc, c->bp_hook[i]);
            tb_invalidate(c, c->bp_addr[i], 2);
        }
        c->n_bp_hooks = 0;
        for (int i = 0; i < m; i++) {
            if (uc_hook_add(c->uc, &c->bp_hook[c->n_bp_hooks], UC_HOOK_CODE, (void *)hook_bp, c,
                            list[i], list[i]) != UC_ERR_OK)
                continue;
            c->bp_addr[c->n_bp_hooks++] = list[i];
            tb_invalidate(c, list[i], 2);
        }
    }
    /* Data watchpoints need Unicorn's memory hooks, which slow every load and store: only
     * while one is armed. */
    bool want_watch = false;
    if (c->dhcsr_c & C_DEBUGEN)
        for (int i = 0; i < DWT_NCOMP; i++)
            want_watch |= (c->dwt_func[i] & 0xFu) >= 5 && (c->dwt_func[i] & 0xFu) <= 7;
    if (want_watch != (c->n_dwt_hooks > 0)) {
        for (int i = 0; i < c->n_dwt_hooks; i++)
            uc_hook_del(c->uc, c->dwt_hook[i]);
        c->n_dwt_hooks = 0;
        if (want_watch) {
            uc_hook_add(c->uc, &c->dwt_hook[0], UC_HOOK_MEM_READ, (void *)hook_watch, c, 1, 0);
            uc_hook_add(c->uc, &c->dwt_hook[1], UC_HOOK_MEM_WRITE, (void *)hook_watch, c, 1, 0);
            c->n_dwt_hooks = 2;
        }
        tb_drop_all(c);
    }
}

/* ---- single step ----
 * A code hook on every instruction counts the step's instructions; its second call, or the start
 * of the next block (hook_block: a block chained from this one may have been translated without
 * the hook), ends the step. Only the blocks at the PC are translated again for it, and deleting
 * the hook drops the blocks translated with it, so a step costs a block or two of translation
 * instead of the whole cache (which filled Unicorn's code buffer in long debug sessions). */

static void hook_step(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    chip_t *c = user;
    (void)uc;
    (void)size;
    if (c->stop_pending)
        return;
    if (++c->step_calls >= 2)
        step_end(c, (uint32_t)address);
}

/* Ends a single step before the instruction at pc, with one instruction run. */
void step_end(chip_t *c, uint32_t pc)
{
    c->slice_done = c->slice_accounted > 1 ? c->slice_accounted : 1; /* one instruction */
    c->resume_pc = pc;
    c->resume_valid = true;
    c->stop_reason = STOP_BUDGET;
    c->stop_pending = true;
    uc_emu_stop(c->uc);
}

void core_step(chip_t *c, bool honour_bp_at_pc)
{
    if (!c->halted)
        return;
    debug_leave(c);
    c->sleeping = false;
    /* A pending interrupt is taken first; the step then ends on the handler's first
     * instruction. */
    if (!(c->dhcsr_c & C_MASKINTS) && exc_take_pending(c, false)) {
        if (!c->halted)
            debug_enter(c, CHIP_HALT_REQUEST);
        return;
    }
    uint32_t pc = core_get_pc(c);
    if (honour_bp_at_pc && bp_match(c, pc)) {
        debug_enter(c, CHIP_HALT_BKPT);
        return;
    }
    uc_hook h;
    c->step_calls = 0;
    c->step_skip = true;
    c->step_skip_pc = pc;
    uc_hook_add(c->uc, &h, UC_HOOK_CODE, (void *)hook_step, c, 1, 0);
    tb_invalidate(c, pc, 2); /* its block is translated again, with the hook */
    run_one(c);
    uc_hook_del(c->uc, h); /* drops the blocks translated with it */
    c->step_skip = false;
    c->sleeping = false;
    if (!c->halted && !c->powered_off)
        debug_enter(c, CHIP_HALT_REQUEST);
}

/* ---- resets ---- */

void system_reset(chip_t *c, bool core_only, bool halt_after)
{
    /* C_HALT survives a local reset: a core halted by the debugger stays halted. */
    bool halt_req = (c->dhcsr_c & C_DEBUGEN) && (c->dhcsr_c & C_HALT);
    flash_poll(c, FLASH_STALL);
    if (!core_only) {
        rcc_reset(c);
        flash_if_reset(c);
        usart_reset(c);
        rng_reset(c);
        periph_misc_reset(c);
        opt_load(c);
        set_hclk(c, 16000000u);
        if (c->port_dead) {
            /* RDP Level 2: the debug port is fused off, nothing can be attached. */
            c->dhcsr_c = 0;
            c->n_sim_bp = 0;
        }
        rdp_guard_update(c);
    }
    nvic_reset(c);
    core_reset(c);
    c->pending_reset = 0;
    c->s_reset_st = true;
    c->sleeping = false;
    c->lockup = false;
    c->halted = false;
    c->dhcsr_c &= ~(C_HALT | C_STEP);
    bp_rebuild(c);
    if ((c->dhcsr_c & C_DEBUGEN) && (halt_after || (c->demcr & VC_CORERESET)))
        debug_enter(c, CHIP_HALT_VCATCH);
    else if (halt_req && !c->port_dead)
        debug_enter(c, CHIP_HALT_REQUEST);
}

/* ---- register transfer ---- */

static const int gp_regs[16] = {UC_ARM_REG_R0,  UC_ARM_REG_R1,  UC_ARM_REG_R2,  UC_ARM_REG_R3,
                                UC_ARM_REG_R4,  UC_ARM_REG_R5,  UC_ARM_REG_R6,  UC_ARM_REG_R7,
                                UC_ARM_REG_R8,  UC_ARM_REG_R9,  UC_ARM_REG_R10, UC_ARM_REG_R11,
                                UC_ARM_REG_R12, UC_ARM_REG_R13, UC_ARM_REG_R14, UC_ARM_REG_R15};

int chip_reg_read(chip_t *c, unsigned regsel, uint32_t *val)
{
    if (!c->halted || c->powered_off)
        return -1;
    if (regsel <= 14) {
        *val = core_reg(c, gp_regs[regsel]);
    } else if (regsel == 15) {
        *val = core_get_pc(c);
    } else if (regsel == 16) {
        *val = core_reg(c, UC_ARM_REG_XPSR);
    } else if (regsel == 17) {
        *val = core_reg(c, UC_ARM_REG_MSP);
    } else if (regsel == 18) {
        *val = core_reg(c, UC_ARM_REG_PSP);
    } else if (regsel == 0x14) {
        *val = (core_reg(c, UC_ARM_REG_CONTROL) & 7u) << 24 |
               (core_reg(c, UC_ARM_REG_FAULTMASK) & 1u) << 16 |
               (core_reg(c, UC_ARM_REG_BASEPRI) & 0xFFu) << 8 |
               (core_reg(c, UC_ARM_REG_PRIMASK) & 1u);
    } else if (regsel == 0x21) {
        *val = core_reg(c, UC_ARM_REG_FPSCR);
    } else if (regsel >= 0x40 && regsel <= 0x5F) {
        *val = core_reg(c, UC_ARM_REG_S0 + (int)(regsel - 0x40));
    } else {
        return -1;
    }
    return 0;
}

int chip_reg_write(chip_t *c, unsigned regsel, uint32_t val)
{
    if (!c->halted || c->powered_off)
        return -1;
    struct core_mode m;
    if (regsel <= 12 || regsel == 14) {
        core_set_reg(c, gp_regs[regsel], val);
    } else if (regsel == 13) {
        core_set_reg(c, UC_ARM_REG_R13, val);
    } else if (regsel == 15) {
        core_set_pc(c, val);
    } else if (regsel == 16) {
        core_read_mode(c, &m);
        if ((val & 0x1FFu) != m.ipsr) {
            m.ipsr = val & 0x1FFu;
            core_write_mode(c, &m);
        }
        uint32_t pc = core_get_pc(c);
        core_set_reg(c, UC_ARM_REG_XPSR_NZCVQG, val);
        core_set_reg(c, UC_ARM_REG_APSR_NZCV, val);
        core_set_reg(c, UC_ARM_REG_PC, pc | ((val >> 24) & 1u));
    } else if (regsel == 17 || regsel == 18) {
        core_read_mode(c, &m);
        if (regsel == 17)
            m.msp = val & ~3u;
        else
            m.psp = val & ~3u;
        core_write_mode(c, &m);
    } else if (regsel == 0x14) {
        core_read_mode(c, &m);
        struct core_mode priv = m;
        priv.control &= ~1u; /* privileged while the masks are written */
        core_write_mode(c, &priv);
        core_set_reg(c, UC_ARM_REG_PRIMASK, val & 1u);
        core_set_reg(c, UC_ARM_REG_BASEPRI, (val >> 8) & 0xFFu);
        core_set_reg(c, UC_ARM_REG_FAULTMASK, (val >> 16) & 1u);
        m.control = (val >> 24) & 7u;
        core_write_mode(c, &m);
    } else if (regsel == 0x21) {
        core_set_reg(c, UC_ARM_REG_FPSCR, val);
    } else if (regsel >= 0x40 && regsel <= 0x5F) {
        core_set_reg(c, UC_ARM_REG_S0 + (int)(regsel - 0x40), val);
    } else {
        return -1;
    }
    return 0;
}

/* ---- DHCSR/DCRSR/DCRDR/DEMCR/DFSR ---- */

static void dhcsr_write(chip_t *c, uint32_t val)
{
    if ((val >> 16) != DBGKEY)
        return;
    uint32_t nv = val & (C_DEBUGEN | C_HALT | C_STEP | C_MASKINTS | C_SNAPSTALL);
    if (!(nv & C_DEBUGEN)) {
        c->dhcsr_c = 0;
        if (c->halted)
            debug_leave(c);
        bp_rebuild(c);
        return;
    }
    bool was_enabled = c->dhcsr_c & C_DEBUGEN;
    debug_attach(c);
    c->dhcsr_c = nv | (c->halted ? C_HALT : 0);
    if (!was_enabled)
        bp_rebuild(c);
    if (nv & C_HALT) {
        if (!c->halted)
            debug_enter(c, CHIP_HALT_REQUEST);
        c->dhcsr_c = nv;
        return;
    }
    if (!c->halted)
        return;
    if (nv & C_STEP) {
        c->dhcsr_c = nv & ~C_STEP;
        core_step(c, true);
        c->dhcsr_c |= nv & C_STEP;
        return;
    }
    debug_leave(c);
}

int dbg_scs_read(chip_t *c, uint32_t addr, uint32_t *val, enum bus_src src)
{
    (void)src;
    switch (addr) {
    case 0xE000EDF0u: {
        uint32_t v = (c->dhcsr_c & (C_DEBUGEN | C_STEP | C_MASKINTS | C_SNAPSTALL)) |
                     (c->halted ? C_HALT : 0) | (1u << 16);
        if (c->halted)
            v |= 1u << 17;
        if (c->sleeping && !c->halted)
            v |= 1u << 18;
        if (c->lockup)
            v |= 1u << 19;
        if (c->s_retire_st)
            v |= 1u << 24;
        if (c->s_reset_st)
            v |= 1u << 25;
        c->s_retire_st = false;
        c->s_reset_st = false;
        *val = v;
        return CHIP_OK;
    }
    case 0xE000EDF4u:
        *val = 0; /* DCRSR is write-only */
        return CHIP_OK;
    case 0xE000EDF8u:
        *val = c->dcrdr;
        return CHIP_OK;
    case 0xE000EDFCu:
        *val = c->demcr;
        return CHIP_OK;
    case 0xE000ED30u:
        *val = c->dfsr;
        return CHIP_OK;
    default:
        *val = 0;
        return CHIP_OK;
    }
}

int dbg_scs_write(chip_t *c, uint32_t addr, uint32_t val, enum bus_src src)
{
    switch (addr) {
    case 0xE000EDF0u:
        if (src == SRC_DBG)
            dhcsr_write(c, val);
        return CHIP_OK;
    case 0xE000EDF4u:
        if (c->halted) {
            unsigned sel = val & 0x7Fu;
            if (val & (1u << 16))
                chip_reg_write(c, sel, c->dcrdr);
            else if (chip_reg_read(c, sel, &c->dcrdr) != 0)
                c->dcrdr = 0;
        }
        return CHIP_OK;
    case 0xE000EDF8u:
        c->dcrdr = val;
        return CHIP_OK;
    case 0xE000EDFCu: {
        uint32_t old = c->demcr;
        c->demcr = val & 0x010F07F1u;
        if ((old ^ c->demcr) & TRCENA) {
            c->demcr = old;
            dwt_cyc_update(c);
            c->demcr = val & 0x010F07F1u;
            dwt_cyc_update(c);
        }
        return CHIP_OK;
    }
    case 0xE000ED30u:
        c->dfsr &= ~val;
        return CHIP_OK;
    default:
        return CHIP_OK;
    }
}

/* ---- FPB and DWT ---- */

int fpb_dwt_read(chip_t *c, uint32_t addr, uint32_t *val)
{
    uint32_t v = 0;
    if (addr >= 0xE0002000u && addr < 0xE0003000u) {
        uint32_t off = addr - 0xE0002000u;
        if (off == 0)
            v = 0x00000260u | (c->fp_ctrl & 1u);
        else if (off == 4)
            v = c->fp_remap;
        else if (off >= 8 && off < 8 + 4 * (FPB_CODE + FPB_LIT))
            v = c->fp_comp[(off - 8) / 4];
        *val = v;
        return CHIP_OK;
    }
    uint32_t off = addr - 0xE0001000u;
    if (off == 0) {
        v = 0x40000000u | (c->dwt_ctrl & 0x1FFFFFFu);
    } else if (off == 4) {
        v = dwt_cyccnt(c);
    } else if (off == 0x1C) {
        v = c->halted ? 0xFFFFFFFFu : core_get_pc(c);
    } else if (off >= 0x20 && off < 0x20 + 16 * DWT_NCOMP) {
        int n = (int)((off - 0x20) / 16);
        switch ((off - 0x20) % 16) {
        case 0:
            v = c->dwt_comp[n];
            break;
        case 4:
            v = c->dwt_mask[n];
            break;
        case 8:
            v = c->dwt_func[n];
            c->dwt_func[n] &= ~(1u << 24); /* MATCHED clears on read */
            break;
        default:
            break;
        }
    } else if (off == 0xFBC) {
        v = 0; /* DWT_DEVARCH: RAZ on ARMv7-M */
    }
    *val = v;
    return CHIP_OK;
}

int fpb_dwt_write(chip_t *c, uint32_t addr, uint32_t val)
{
    if (addr >= 0xE0002000u && addr < 0xE0003000u) {
        uint32_t off = addr - 0xE0002000u;
        if (off == 0) {
            if (val & 2u) /* KEY */
                c->fp_ctrl = val & 1u;
        } else if (off >= 8 && off < 8 + 4 * (FPB_CODE + FPB_LIT)) {
            c->fp_comp[(off - 8) / 4] = val & 0xDFFFFFFDu;
        }
        bp_rebuild(c);
        return CHIP_OK;
    }
    uint32_t off = addr - 0xE0001000u;
    if (off == 0) {
        c->dwt_ctrl = val & 0x017F1FFFu;
        dwt_cyc_update(c);
    } else if (off == 4) {
        time_sync(c);
        c->dwt_cyccnt_base = val;
        c->dwt_cyc_since = c->ctr.cycles;
    } else if (off >= 0x20 && off < 0x20 + 16 * DWT_NCOMP) {
        int n = (int)((off - 0x20) / 16);
        switch ((off - 0x20) % 16) {
        case 0:
            c->dwt_comp[n] = val;
            break;
        case 4:
            c->dwt_mask[n] = val & 31u;
            break;
        case 8:
            c->dwt_func[n] = val & 0x000FFF2Fu;
            break;
        default:
            break;
        }
        bp_rebuild(c);
    }
    return CHIP_OK;
}

/* ---- public debugger conveniences (chip.h) ---- */

static bool dead(chip_t *c)
{
    return c->powered_off || c->port_dead;
}

int chip_dbg_read(chip_t *c, uint32_t addr, unsigned size, uint32_t *val)
{
    *val = 0;
    if (dead(c))
        return CHIP_EPORT_DEAD;
    return bus_read(c, addr, size, val, SRC_DBG);
}

int chip_dbg_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val)
{
    if (dead(c))
        return CHIP_EPORT_DEAD;
    return bus_write(c, addr, size, val, SRC_DBG);
}

void chip_halt(chip_t *c)
{
    if (dead(c))
        return;
    debug_attach(c);
    if (!(c->dhcsr_c & C_DEBUGEN)) {
        c->dhcsr_c |= C_DEBUGEN;
        bp_rebuild(c);
    }
    if (!c->halted)
        debug_enter(c, CHIP_HALT_REQUEST);
}

void chip_resume(chip_t *c)
{
    if (dead(c) || !c->halted)
        return;
    debug_leave(c);
}

int chip_step(chip_t *c)
{
    if (dead(c) || !c->halted)
        return -1;
    core_step(c, false);
    return 0;
}

void chip_reset(chip_t *c, bool halt_after)
{
    if (c->powered_off)
        return;
    if (halt_after && !c->port_dead) {
        debug_attach(c);
        c->dhcsr_c |= C_DEBUGEN;
    }
    if (!halt_after)
        c->dhcsr_c &= ~C_HALT; /* "reset and run" */
    system_reset(c, false, halt_after);
}

void chip_set_srst(chip_t *c, bool asserted)
{
    if (c->powered_off)
        return;
    if (c->srst && !asserted) {
        c->srst = false;
        system_reset(c, false, false);
        return;
    }
    if (asserted && !c->srst) {
        flash_poll(c, FLASH_STALL);
        c->halted = false;
        c->sleeping = false;
    }
    c->srst = asserted;
}

int chip_bkpt_add(chip_t *c, uint32_t addr)
{
    if (dead(c))
        return -1;
    addr &= ~1u;
    for (int i = 0; i < c->n_sim_bp; i++)
        if (c->sim_bp[i] == addr)
            return 0;
    if (c->n_sim_bp >= MAX_HW_BP)
        return -1;
    c->sim_bp[c->n_sim_bp++] = addr;
    debug_attach(c);
    c->dhcsr_c |= C_DEBUGEN;
    bp_rebuild(c);
    return 0;
}

int chip_bkpt_remove(chip_t *c, uint32_t addr)
{
    addr &= ~1u;
    for (int i = 0; i < c->n_sim_bp; i++) {
        if (c->sim_bp[i] == addr) {
            c->sim_bp[i] = c->sim_bp[--c->n_sim_bp];
            bp_rebuild(c);
            return 0;
        }
    }
    return -1;
}
