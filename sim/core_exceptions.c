/* ARMv7-M exception model that Unicorn does not provide: priorities, entry through the vector
 * table (stacking, EXC_RETURN), return, fault escalation to HardFault, lockup, vector catch.
 * Unicorn only reports "something happened" (SVC, BKPT, a branch to EXC_RETURN, a bus error);
 * this file does what the core would do next. */
#include "chip_internal.h"

#include <string.h>

#define XPSR_T (1u << 24)

/* ---- banked stack pointers and modes ---- */

void core_read_mode(chip_t *c, struct core_mode *m)
{
    m->ipsr = core_reg(c, UC_ARM_REG_XPSR) & 0x1FFu;
    m->control = core_reg(c, UC_ARM_REG_CONTROL) & 7u;
    m->msp = core_reg(c, UC_ARM_REG_MSP);
    m->psp = core_reg(c, UC_ARM_REG_PSP);
}

/* Sets IPSR, CONTROL and both stack pointers consistently whatever the current privilege: Unicorn
 * only offers MSR semantics (ignored when unprivileged, SPSEL ignored in Handler mode), so pass
 * through privileged Handler mode, then privileged Thread mode. */
void core_write_mode(chip_t *c, const struct core_mode *m)
{
    uint32_t xpsr = core_reg(c, UC_ARM_REG_XPSR);
    if ((xpsr & 0x1FFu) == 0)
        core_set_reg(c, UC_ARM_REG_IPSR, 1); /* Handler mode: privileged, MSP current */
    core_set_reg(c, UC_ARM_REG_CONTROL, m->control & 4u); /* nPRIV = 0 */
    core_set_reg(c, UC_ARM_REG_MSP, m->msp);
    core_set_reg(c, UC_ARM_REG_PSP, m->psp);
    core_set_reg(c, UC_ARM_REG_IPSR, 0); /* privileged Thread mode, banks swap as needed */
    core_set_reg(c, UC_ARM_REG_CONTROL, m->ipsr ? (m->control & ~2u) : m->control);
    if (m->ipsr)
        core_set_reg(c, UC_ARM_REG_IPSR, m->ipsr);
    /* Handler/Thread mode is cached in Unicorn's translation flags; a flags write rebuilds them. */
    core_set_reg(c, UC_ARM_REG_APSR_NZCV, xpsr);
}

/* Writes NZCVQ, GE, IT, T (and IPSR, which must equal the current one) and rebuilds flags. */
static void core_set_xpsr(chip_t *c, uint32_t xpsr)
{
    core_set_reg(c, UC_ARM_REG_XPSR_NZCVQG, xpsr);
    core_set_reg(c, UC_ARM_REG_APSR_NZCV, xpsr);
}

/* ---- priorities ---- */

static int group_prio(chip_t *c, int exc)
{
    if (exc == 1)
        return -3;
    if (exc == 2)
        return -2;
    if (exc == 3)
        return -1;
    uint32_t mask = ~((2u << c->prigroup) - 1u) & 0xFFu;
    return (int)(c->prio[exc] & mask);
}

int exc_exec_priority(chip_t *c)
{
    int p = 256;
    for (int e = 2; e < NUM_EXC; e++) {
        if (c->active[e]) {
            int g = group_prio(c, e);
            if (g < p)
                p = g;
        }
    }
    uint32_t basepri = core_reg(c, UC_ARM_REG_BASEPRI) & 0xFFu;
    if (basepri) {
        uint32_t mask = ~((2u << c->prigroup) - 1u) & 0xFFu;
        if ((int)(basepri & mask) < p)
            p = (int)(basepri & mask);
    }
    if ((core_reg(c, UC_ARM_REG_PRIMASK) & 1u) && p > 0)
        p = 0;
    if ((core_reg(c, UC_ARM_REG_FAULTMASK) & 1u) && p > -1)
        p = -1;
    return p;
}

void exc_pend(chip_t *c, int exc)
{
    if (exc > 0 && exc < NUM_EXC)
        c->pending[exc] = 1;
}

static bool exc_is_pending(chip_t *c, int e)
{
    if (e >= 16) {
        int irq = e - 16;
        if (!(c->nvic_en[irq / 32] & (1u << (irq % 32))))
            return false;
        return c->pending[e] || irq_line(c, irq);
    }
    return c->pending[e] != 0;
}

/* Highest-priority pending exception, 0 if none. */
static int best_pending(chip_t *c)
{
    bool mask_ints = (c->dhcsr_c & 1u) && (c->dhcsr_c & 8u); /* C_DEBUGEN && C_MASKINTS */
    int best = 0, bp = 1000;
    for (int e = 2; e < NUM_EXC; e++) {
        if (!exc_is_pending(c, e))
            continue;
        if (mask_ints && (e == 14 || e == 15 || e >= 16))
            continue;
        if (c->active[e] && e >= 16)
            continue; /* a level interrupt whose handler runs */
        int g = group_prio(c, e);
        if (g < bp) {
            bp = g;
            best = e;
        }
    }
    return best;
}

bool exc_any_pending(chip_t *c)
{
    return best_pending(c) != 0;
}

/* ---- lockup ---- */

static void enter_lockup(chip_t *c)
{
    c->lockup = true;
    c->sleeping = false;
    core_set_reg(c, UC_ARM_REG_PC, 0xFFFFFFFFu); /* reads 0xFFFFFFFE, Thumb */
}

/* ---- entry ---- */

static bool frame_ram(chip_t *c, uint32_t addr, uint32_t len)
{
    bool is_flash;
    uint8_t *p = ram_ptr(c, addr, len, &is_flash);
    return p && !is_flash && !(addr - SYSMEM_BASE < SYSMEM_SIZE);
}

static const int frame_regs[6] = {UC_ARM_REG_R0, UC_ARM_REG_R1,  UC_ARM_REG_R2,
                                  UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_LR};

/* Takes exception exc with the given return address. Returns false if the core locked up. */
static bool exc_enter(chip_t *c, int exc, uint32_t ret_pc)
{
    struct core_mode m;
    core_read_mode(c, &m);
    uint32_t xpsr = core_reg(c, UC_ARM_REG_XPSR);
    bool thread = m.ipsr == 0;
    bool use_psp = thread && (m.control & 2u);
    bool fp = (m.control & 4u) && (c->fpccr & (1u << 31));
    uint32_t sp = use_psp ? m.psp : m.msp;
    uint32_t size = fp ? 0x68u : 0x20u;
    uint32_t frame = (sp - size) & ~7u;
    if (!frame_ram(c, frame, size)) {
        c->cfsr |= 1u << 12; /* STKERR */
        enter_lockup(c);
        return false;
    }
    uint32_t vec;
    if (bus_read(c, c->vtor + 4u * (uint32_t)exc, 4, &vec, SRC_CORE) != CHIP_OK) {
        c->hfsr |= 1u << 1; /* VECTTBL */
        if (exc == 3 || exc_exec_priority(c) <= -1) {
            enter_lockup(c);
            return false;
        }
        return exc_enter(c, 3, ret_pc);
    }
    uint8_t *p = ram_ptr(c, frame, size, NULL);
    for (int i = 0; i < 6; i++)
        st32(p + 4 * i, core_reg(c, frame_regs[i]));
    st32(p + 24, ret_pc & ~1u);
    st32(p + 28, (xpsr & ~(1u << 9)) | ((sp & 4u) ? (1u << 9) : 0));
    if (fp) {
        for (int i = 0; i < 16; i++)
            st32(p + 32 + 4 * i, core_reg(c, UC_ARM_REG_S0 + i));
        st32(p + 96, core_reg(c, UC_ARM_REG_FPSCR));
        st32(p + 100, 0);
    }
    tb_invalidate(c, frame, size);

    uint32_t exc_ret = 0xFFFFFFE1u | (fp ? 0u : 0x10u) | (thread ? 8u : 0u) | (use_psp ? 4u : 0u);
    struct core_mode n = m;
    if (use_psp)
        n.psp = frame;
    else
        n.msp = frame;
    n.ipsr = (uint32_t)exc;
    n.control = m.control & ~6u; /* SPSEL = 0, FPCA = 0 */
    core_write_mode(c, &n);
    core_set_reg(c, UC_ARM_REG_LR, exc_ret);
    core_set_xpsr(c, (xpsr & 0xF80F0000u) | ((vec & 1u) ? XPSR_T : 0) | (uint32_t)exc);
    core_set_reg(c, UC_ARM_REG_PC, vec | 0u);
    c->active[exc] = 1;
    c->pending[exc] = 0;
    c->sleeping = false;
    time_advance_cycles(c, 12);
    return true;
}

bool exc_take_pending(chip_t *c, bool for_wake_only)
{
    int e = best_pending(c);
    if (!e)
        return false;
    if (group_prio(c, e) >= exc_exec_priority(c))
        return false;
    if (for_wake_only)
        return true;
    exc_enter(c, e, core_get_pc(c));
    return true;
}

/* ---- faults ---- */

void exc_fault(chip_t *c, enum fault_kind kind, uint32_t addr, uint32_t return_pc)
{
    int exc = 5;
    uint32_t bits = 0, vc = 0;
    switch (kind) {
    case FAULT_READ:
        bits = (1u << 9) | (1u << 15); /* PRECISERR, BFARVALID */
        c->bfar = addr;
        vc = 1u << 8;
        break;
    case FAULT_WRITE:
        bits = 1u << 10; /* IMPRECISERR */
        vc = 1u << 8;
        break;
    case FAULT_FETCH:
        bits = 1u << 8; /* IBUSERR */
        vc = 1u << 8;
        break;
    case FAULT_XN:
        exc = 4;
        bits = 1u << 0; /* IACCVIOL */
        vc = 1u << 4;
        break;
    case FAULT_UNDEF:
        exc = 6;
        bits = 1u << 16;
        vc = 1u << 7;
        break;
    case FAULT_INVSTATE:
        exc = 6;
        bits = 1u << 17;
        vc = 1u << 7;
        break;
    case FAULT_NOCP:
        exc = 6;
        bits = 1u << 19;
        vc = 1u << 5;
        break;
    case FAULT_UNALIGNED:
        exc = 6;
        bits = 1u << 24;
        vc = 1u << 6;
        break;
    case FAULT_DIVZERO:
        exc = 6;
        bits = 1u << 25;
        vc = 1u << 6;
        break;
    case FAULT_NONE:
        return;
    }
    c->cfsr |= bits;
    int cur = exc_exec_priority(c);
    bool enabled = c->shcsr_ena & (1u << (16 + (exc - 4)));
    if (!enabled || group_prio(c, exc) >= cur) {
        if (cur <= -1) {
            enter_lockup(c);
            return;
        }
        exc = 3;
        c->hfsr |= 1u << 30; /* FORCED */
        vc = 1u << 10;
    }
    if (!exc_enter(c, exc, return_pc))
        return;
    if ((c->dhcsr_c & 1u) && (c->demcr & vc))
        debug_enter(c, CHIP_HALT_VCATCH);
}

void exc_svc(chip_t *c, uint32_t return_pc)
{
    int cur = exc_exec_priority(c);
    if (group_prio(c, 11) >= cur) {
        if (cur <= -1) {
            enter_lockup(c);
            return;
        }
        c->hfsr |= 1u << 30;
        if (exc_enter(c, 3, return_pc) && (c->dhcsr_c & 1u) && (c->demcr & (1u << 10)))
            debug_enter(c, CHIP_HALT_VCATCH);
        return;
    }
    exc_enter(c, 11, return_pc);
}

void exc_bkpt_no_debug(chip_t *c, uint32_t pc)
{
    if (exc_exec_priority(c) <= -1) {
        enter_lockup(c);
        return;
    }
    c->hfsr |= 1u << 31; /* DEBUGEVT */
    exc_enter(c, 3, pc);
}

/* ---- return ---- */

static void invpc(chip_t *c)
{
    exc_fault(c, FAULT_UNDEF, 0, c->cur_block);
    c->cfsr = (c->cfsr & ~(1u << 16)) | (1u << 18); /* INVPC rather than UNDEFINSTR */
}

void exc_return(chip_t *c, uint32_t excret)
{
    struct core_mode m;
    core_read_mode(c, &m);
    unsigned low = excret & 0xFu;
    bool valid = (excret & 0xFFFFFFE0u) == 0xFFFFFFE0u && (low == 1 || low == 9 || low == 0xD);
    if (!valid || m.ipsr == 0 || !c->active[m.ipsr]) {
        invpc(c);
        return;
    }
    bool to_thread = excret & 8u, use_psp = excret & 4u, fp = !(excret & 0x10u);
    uint32_t sp = use_psp ? m.psp : m.msp;
    uint32_t size = fp ? 0x68u : 0x20u;
    if (!frame_ram(c, sp, size)) {
        c->active[m.ipsr] = 0;
        c->cfsr |= 1u << 11; /* UNSTKERR */
        if (exc_exec_priority(c) <= -1) {
            enter_lockup(c);
            return;
        }
        c->hfsr |= 1u << 30;
        exc_enter(c, 3, 0xFFFFFFFEu);
        return;
    }
    c->active[m.ipsr] = 0;
    if (m.ipsr != 2)
        core_set_reg(c, UC_ARM_REG_FAULTMASK, 0);
    uint8_t *p = ram_ptr(c, sp, size, NULL);
    uint32_t regs[8];
    for (int i = 0; i < 8; i++)
        regs[i] = ld32(p + 4 * i);
    for (int i = 0; i < 6; i++)
        core_set_reg(c, frame_regs[i], regs[i]);
    if (fp) {
        for (int i = 0; i < 16; i++)
            core_set_reg(c, UC_ARM_REG_S0 + i, ld32(p + 32 + 4 * i));
        core_set_reg(c, UC_ARM_REG_FPSCR, ld32(p + 96));
    }
    uint32_t xpsr = regs[7];
    sp += size;
    if (xpsr & (1u << 9))
        sp |= 4u;
    struct core_mode n = m;
    if (use_psp)
        n.psp = sp;
    else
        n.msp = sp;
    n.ipsr = to_thread ? 0 : (xpsr & 0x1FFu);
    if (!to_thread && n.ipsr == 0)
        n.ipsr = 1; /* malformed frame: stay in Handler mode */
    n.control = (m.control & 1u) | ((to_thread && use_psp) ? 2u : 0u) | (fp ? 4u : 0u);
    core_write_mode(c, &n);
    core_set_xpsr(c, (xpsr & 0xFF0FFC00u) | n.ipsr);
    core_set_reg(c, UC_ARM_REG_PC, (regs[6] & ~1u) | ((xpsr & XPSR_T) ? 1u : 0u));
    time_advance_cycles(c, 10);
    if (to_thread && (c->scr & 2u)) /* SLEEPONEXIT */
        c->sleeping = !exc_any_pending(c);
}

/* ---- reset of the core and its exception state ---- */

void core_reset(chip_t *c)
{
    memset(c->active, 0, sizeof c->active);
    memset(c->pending, 0, sizeof c->pending);
    c->lockup = false;
    c->sleeping = false;
    uint32_t msp = 0, pc = 0;
    bus_read(c, 0, 4, &msp, SRC_CORE);
    bus_read(c, 4, 4, &pc, SRC_CORE);
    struct core_mode m = {.ipsr = 0, .control = 0, .msp = msp & ~3u, .psp = 0};
    core_write_mode(c, &m);
    for (int r = UC_ARM_REG_R0; r <= UC_ARM_REG_R12; r++)
        core_set_reg(c, r, 0);
    core_set_reg(c, UC_ARM_REG_LR, 0xFFFFFFFFu);
    core_set_reg(c, UC_ARM_REG_PRIMASK, 0);
    core_set_reg(c, UC_ARM_REG_FAULTMASK, 0);
    core_set_reg(c, UC_ARM_REG_BASEPRI, 0);
    for (int i = 0; i < 32; i++)
        core_set_reg(c, UC_ARM_REG_S0 + i, 0);
    core_set_reg(c, UC_ARM_REG_FPSCR, 0);
    core_set_reg(c, UC_ARM_REG_CONTROL, 0);
    core_set_xpsr(c, (pc & 1u) ? XPSR_T : 0);
    core_set_reg(c, UC_ARM_REG_PC, pc);
}
