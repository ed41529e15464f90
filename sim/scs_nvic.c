/* System Control Space registers other than the debug ones: SysTick, NVIC, SCB (CPUID, ICSR, VTOR,
 * AIRCR, SCR, CCR, SHPR, SHCSR, fault status), CPACR and the FP control registers. */
#include "chip_internal.h"

#include <string.h>

/* ---- SysTick, counted on the core clock (CLKSOURCE=1) or HCLK/8 ---- */

#define ST_ENABLE    1u
#define ST_TICKINT   2u
#define ST_CLKSOURCE 4u
#define ST_COUNTFLAG (1u << 16)

static uint32_t st_div(chip_t *c)
{
    return (c->syst_csr & ST_CLKSOURCE) ? 1u : 8u;
}

static void st_fire(chip_t *c)
{
    c->syst_csr |= ST_COUNTFLAG;
    if (c->syst_csr & ST_TICKINT)
        exc_pend(c, 15);
}

void systick_sync(chip_t *c)
{
    time_sync(c);
    if (!(c->syst_csr & ST_ENABLE)) {
        c->syst_last = c->ctr.cycles;
        return;
    }
    uint64_t div = st_div(c);
    uint64_t ticks = (c->ctr.cycles - c->syst_last) / div;
    c->syst_last += ticks * div;
    if (!ticks)
        return;
    uint64_t rvr = c->syst_rvr & 0xFFFFFFu;
    if (c->syst_cvr > 0) {
        if (ticks < c->syst_cvr) {
            c->syst_cvr -= (uint32_t)ticks;
            return;
        }
        ticks -= c->syst_cvr;
        c->syst_cvr = 0;
        st_fire(c);
    }
    if (!ticks || rvr == 0)
        return;
    /* Each further period: one tick reloads RVR, RVR ticks count it down to 0. */
    uint64_t period = rvr + 1;
    uint64_t full = ticks / period, rest = ticks % period;
    if (full)
        st_fire(c);
    if (rest == 0) {
        c->syst_cvr = 0;
    } else {
        c->syst_cvr = (uint32_t)(rvr - (rest - 1));
    }
}

uint64_t systick_cycles_to_event(chip_t *c)
{
    if ((c->syst_csr & (ST_ENABLE | ST_TICKINT)) != (ST_ENABLE | ST_TICKINT))
        return UINT64_MAX;
    uint64_t rvr = c->syst_rvr & 0xFFFFFFu;
    uint64_t ticks = c->syst_cvr ? c->syst_cvr : rvr + 1;
    if (!c->syst_cvr && rvr == 0)
        return UINT64_MAX;
    uint64_t due = ticks * st_div(c), gone = c->ctr.cycles - c->syst_last;
    return due > gone ? due - gone : 1;
}

/* ---- interrupt lines of the modelled peripherals (level sensitive) ---- */

bool irq_line(chip_t *c, int irq)
{
    switch (irq) {
    case 4: /* FLASH */
        return ((c->fl_cr & (1u << 24)) && (c->fl_sr & 1u)) ||
               ((c->fl_cr & (1u << 25)) && (c->fl_sr & 2u));
    case 37:
        return usart_irq(c);
    case 80:
        return rng_irq(c);
    default:
        return false;
    }
}

void nvic_reset(chip_t *c)
{
    memset(c->prio, 0, sizeof c->prio);
    memset(c->nvic_en, 0, sizeof c->nvic_en);
    memset(c->active, 0, sizeof c->active);
    memset(c->pending, 0, sizeof c->pending);
    c->vtor = 0;
    c->prigroup = 0;
    c->scr = 0;
    c->ccr = 0x200; /* STKALIGN */
    c->shcsr_ena = 0;
    c->cfsr = c->hfsr = c->mmfar = c->bfar = 0;
    c->cpacr = 0;
    c->fpccr = 0xC0000000u; /* ASPEN | LSPEN */
    c->fpcar = c->fpdscr = 0;
    c->actlr = 0;
    c->syst_csr = 0;
    c->syst_rvr = 0;
    c->syst_cvr = 0;
    c->syst_last = c->ctr.cycles;
}

static uint32_t icsr_read(chip_t *c)
{
    uint32_t v = core_reg(c, UC_ARM_REG_XPSR) & 0x1FFu; /* VECTACTIVE */
    int best = 0, bp = 1000;
    bool isr = false;
    for (int e = 2; e < NUM_EXC; e++) {
        bool pend = e >= 16 ? (c->pending[e] || irq_line(c, e - 16)) : c->pending[e];
        if (!pend)
            continue;
        if (e >= 16)
            isr = true;
        int g = e == 2 ? -2 : c->prio[e];
        if (g < bp)
            bp = g, best = e;
    }
    v |= (uint32_t)best << 12;
    if (isr)
        v |= 1u << 22;
    if (c->pending[2])
        v |= 1u << 31;
    if (c->pending[14])
        v |= 1u << 28;
    if (c->pending[15])
        v |= 1u << 26;
    int nact = 0;
    for (int e = 2; e < NUM_EXC; e++)
        nact += c->active[e];
    if (nact <= 1)
        v |= 1u << 11; /* RETTOBASE */
    return v;
}

static uint32_t shcsr_read(chip_t *c)
{
    uint32_t v = c->shcsr_ena;
    v |= c->active[4] ? 1u << 0 : 0;
    v |= c->active[5] ? 1u << 1 : 0;
    v |= c->active[6] ? 1u << 3 : 0;
    v |= c->active[11] ? 1u << 7 : 0;
    v |= c->active[12] ? 1u << 8 : 0;
    v |= c->active[14] ? 1u << 10 : 0;
    v |= c->active[15] ? 1u << 11 : 0;
    v |= c->pending[6] ? 1u << 12 : 0;
    v |= c->pending[4] ? 1u << 13 : 0;
    v |= c->pending[5] ? 1u << 14 : 0;
    v |= c->pending[11] ? 1u << 15 : 0;
    return v;
}

static uint32_t prio_word(chip_t *c, int first)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        if (first + i < NUM_EXC)
            v |= (uint32_t)c->prio[first + i] << (8 * i);
    return v;
}

/* The NVIC's enable, pending and active banks: one 32-bit word per 32 of the NUM_IRQ lines (ICTR
 * says 96). The words past them (ISER3, ICPR3, ...) read as zero and ignore writes. */
#define NVIC_BYTES (4u * (NUM_IRQ / 32))

int scs_nvic_read(chip_t *c, uint32_t addr, uint32_t *val)
{
    uint32_t a = addr & ~3u;
    uint32_t v = 0;
    if (a >= 0xE000E100u && a < 0xE000E100u + NVIC_BYTES) {
        v = c->nvic_en[(a - 0xE000E100u) / 4];
    } else if (a >= 0xE000E180u && a < 0xE000E180u + NVIC_BYTES) {
        v = c->nvic_en[(a - 0xE000E180u) / 4];
    } else if ((a >= 0xE000E200u && a < 0xE000E200u + NVIC_BYTES) ||
               (a >= 0xE000E280u && a < 0xE000E280u + NVIC_BYTES)) {
        unsigned w = ((a - 0xE000E200u) / 4) % 32;
        for (unsigned i = 0; i < 32; i++) {
            int irq = (int)(w * 32 + i);
            if (c->pending[16 + irq] || irq_line(c, irq))
                v |= 1u << i;
        }
    } else if (a >= 0xE000E300u && a < 0xE000E300u + NVIC_BYTES) {
        unsigned w = (a - 0xE000E300u) / 4;
        for (unsigned i = 0; i < 32; i++)
            if (c->active[16 + w * 32 + i])
                v |= 1u << i;
    } else if (a >= 0xE000E400u && a < 0xE000E400u + NUM_IRQ) {
        v = prio_word(c, 16 + (int)(a - 0xE000E400u));
    } else {
        switch (a) {
        case 0xE000E004u:
            v = 2; /* ICTR: 96 interrupt lines */
            break;
        case 0xE000E008u:
            v = c->actlr;
            break;
        case 0xE000E010u:
            systick_sync(c);
            v = c->syst_csr;
            c->syst_csr &= ~ST_COUNTFLAG;
            break;
        case 0xE000E014u:
            v = c->syst_rvr;
            break;
        case 0xE000E018u:
            systick_sync(c);
            v = c->syst_cvr;
            break;
        case 0xE000E01Cu:
            v = 0xC0000000u; /* CALIB: no reference clock, TENMS unknown */
            break;
        case 0xE000ED00u:
            v = 0x410FC241u;
            break;
        case 0xE000ED04u:
            v = icsr_read(c);
            break;
        case 0xE000ED08u:
            v = c->vtor;
            break;
        case 0xE000ED0Cu:
            v = 0xFA050000u | (c->prigroup << 8);
            break;
        case 0xE000ED10u:
            v = c->scr;
            break;
        case 0xE000ED14u:
            v = c->ccr;
            break;
        case 0xE000ED18u:
            v = prio_word(c, 4);
            break;
        case 0xE000ED1Cu:
            v = prio_word(c, 8);
            break;
        case 0xE000ED20u:
            v = prio_word(c, 12);
            break;
        case 0xE000ED24u:
            v = shcsr_read(c);
            break;
        case 0xE000ED28u:
            v = c->cfsr;
            break;
        case 0xE000ED2Cu:
            v = c->hfsr;
            break;
        case 0xE000ED34u:
            v = c->mmfar;
            break;
        case 0xE000ED38u:
            v = c->bfar;
            break;
        case 0xE000ED40u:
            v = 0x00000030u; /* ID_PFR0 */
            break;
        case 0xE000ED44u:
            v = 0x00000200u;
            break;
        case 0xE000ED48u:
            v = 0x00100000u; /* ID_DFR0 */
            break;
        case 0xE000ED50u:
            v = 0x00100030u;
            break;
        case 0xE000ED58u:
            v = 0x01000000u;
            break;
        case 0xE000ED60u:
            v = 0x01101110u;
            break;
        case 0xE000ED64u:
            v = 0x02111000u;
            break;
        case 0xE000ED68u:
            v = 0x21112231u;
            break;
        case 0xE000ED6Cu:
            v = 0x01111110u;
            break;
        case 0xE000ED70u:
            v = 0x01310132u;
            break;
        case 0xE000ED88u:
            v = c->cpacr;
            break;
        case 0xE000ED90u:
            v = 0x00000800u; /* MPU_TYPE: 8 regions (the MPU itself is not modelled) */
            break;
        case 0xE000EF34u:
            v = c->fpccr;
            break;
        case 0xE000EF38u:
            v = c->fpcar;
            break;
        case 0xE000EF3Cu:
            v = c->fpdscr;
            break;
        case 0xE000EF40u:
            v = 0x10110021u;
            break;
        case 0xE000EF44u:
            v = 0x11000011u;
            break;
        default:
            v = 0; /* reserved: RAZ/WI */
            break;
        }
    }
    *val = v;
    return CHIP_OK;
}

static void set_prio_bytes(chip_t *c, int first, uint32_t addr, unsigned size, uint32_t val)
{
    unsigned lane = addr & 3u;
    for (unsigned i = 0; i < size; i++) {
        int e = first + (int)(lane + i);
        if (e < NUM_EXC)
            c->prio[e] = (uint8_t)((val >> (8 * i)) & 0xF0u); /* 4 priority bits implemented */
    }
}

/* AIRCR resets: immediate from the debugger, deferred to the end of the block from the CPU
 * (registers cannot change under Unicorn's feet). */
static void request_reset(chip_t *c, int kind)
{
    if (c->in_emu) {
        c->pending_reset = kind;
        chip_request_stop(c, STOP_REEVAL);
    } else {
        system_reset(c, kind == 2, false);
    }
}

int scs_nvic_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val)
{
    uint32_t a = addr & ~3u;
    if (a >= 0xE000E400u && a < 0xE000E400u + NUM_IRQ) {
        set_prio_bytes(c, 16 + (int)(a - 0xE000E400u), addr, size, val);
        return CHIP_OK;
    }
    if (a >= 0xE000ED18u && a <= 0xE000ED20u) {
        set_prio_bytes(c, 4 + (int)(a - 0xE000ED18u), addr, size, val);
        return CHIP_OK;
    }
    if (size != 4) {
        uint32_t cur = 0;
        unsigned sh = 8 * (addr & 3u);
        uint32_t mask = ((1u << (8 * size)) - 1u) << sh;
        scs_nvic_read(c, a, &cur);
        val = (cur & ~mask) | ((val << sh) & mask);
    }
    if (a >= 0xE000E100u && a < 0xE000E100u + NVIC_BYTES) {
        c->nvic_en[(a - 0xE000E100u) / 4] |= val;
        chip_request_stop(c, STOP_REEVAL);
        return CHIP_OK;
    }
    if (a >= 0xE000E180u && a < 0xE000E180u + NVIC_BYTES) {
        c->nvic_en[(a - 0xE000E180u) / 4] &= ~val;
        return CHIP_OK;
    }
    if (a >= 0xE000E200u && a < 0xE000E200u + NVIC_BYTES) {
        unsigned w = (a - 0xE000E200u) / 4;
        for (unsigned i = 0; i < 32; i++)
            if (val & (1u << i))
                c->pending[16 + w * 32 + i] = 1;
        chip_request_stop(c, STOP_REEVAL);
        return CHIP_OK;
    }
    if (a >= 0xE000E280u && a < 0xE000E280u + NVIC_BYTES) {
        unsigned w = (a - 0xE000E280u) / 4;
        for (unsigned i = 0; i < 32; i++)
            if (val & (1u << i))
                c->pending[16 + w * 32 + i] = 0;
        return CHIP_OK;
    }
    switch (a) {
    case 0xE000E008u:
        c->actlr = val & 0x307u;
        break;
    case 0xE000E010u:
        systick_sync(c);
        c->syst_csr = (c->syst_csr & ST_COUNTFLAG) | (val & 7u);
        c->syst_last = c->ctr.cycles;
        chip_request_stop(c, STOP_REEVAL);
        break;
    case 0xE000E014u:
        c->syst_rvr = val & 0xFFFFFFu;
        break;
    case 0xE000E018u:
        systick_sync(c);
        c->syst_cvr = 0;
        c->syst_csr &= ~ST_COUNTFLAG;
        break;
    case 0xE000ED04u:
        if (val & (1u << 31))
            exc_pend(c, 2);
        if (val & (1u << 28))
            exc_pend(c, 14);
        if (val & (1u << 27))
            c->pending[14] = 0;
        if (val & (1u << 26))
            exc_pend(c, 15);
        if (val & (1u << 25))
            c->pending[15] = 0;
        chip_request_stop(c, STOP_REEVAL);
        break;
    case 0xE000ED08u:
        c->vtor = val & 0x3FFFFF80u;
        break;
    case 0xE000ED0Cu:
        if ((val >> 16) != 0x05FAu)
            break; /* VECTKEY required */
        c->prigroup = (val >> 8) & 7u;
        if (val & 2u) /* VECTCLRACTIVE */
            memset(c->active, 0, sizeof c->active);
        if (val & 4u)
            request_reset(c, 1);
        else if (val & 1u)
            request_reset(c, 2);
        break;
    case 0xE000ED10u:
        c->scr = val & 0x16u;
        break;
    case 0xE000ED14u:
        c->ccr = (val & 0x31Bu) | 0x200u;
        break;
    case 0xE000ED24u:
        c->shcsr_ena = val & (7u << 16);
        break;
    case 0xE000ED28u:
        c->cfsr &= ~val;
        break;
    case 0xE000ED2Cu:
        c->hfsr &= ~val;
        break;
    case 0xE000ED34u:
        c->mmfar = val;
        break;
    case 0xE000ED38u:
        c->bfar = val;
        break;
    case 0xE000ED88u:
        c->cpacr = val & (0xFu << 20);
        break;
    case 0xE000EF00u: /* STIR */
        if ((val & 0x1FFu) < NUM_IRQ)
            c->pending[16 + (val & 0x1FFu)] = 1;
        chip_request_stop(c, STOP_REEVAL);
        break;
    case 0xE000EF34u:
        c->fpccr = (c->fpccr & ~0xC0000000u) | (val & 0xC0000000u);
        break;
    case 0xE000EF38u:
        c->fpcar = val & ~7u;
        break;
    case 0xE000EF3Cu:
        c->fpdscr = val & 0x07C00000u;
        break;
    default:
        break;
    }
    return CHIP_OK;
}
