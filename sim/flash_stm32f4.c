/* The embedded flash interface (RM0090 §3, FACTS §5.3-5.4): key unlock, program with PSIZE and NOR
 * semantics (bits only go 1 -> 0), sector / bank / mass erase on the dual-bank sector map, the SR
 * error flags, and BSY held for the datasheet's durations on the device clock. Operations take
 * effect when BSY clears; a power cut in between leaves the cells half done (power_cut.c). */
#include "chip_internal.h"

#include <string.h>
#include <time.h>

#define KEY1      0x45670123u
#define KEY2      0xCDEF89ABu
#define SR_EOP    (1u << 0)
#define SR_OPERR  (1u << 1)
#define SR_WRPERR (1u << 4)
#define SR_PGAERR (1u << 5)
#define SR_PGPERR (1u << 6)
#define SR_PGSERR (1u << 7)
#define SR_RDERR  (1u << 8)
#define SR_BSY    (1u << 16)
#define CR_PG     (1u << 0)
#define CR_SER    (1u << 1)
#define CR_MER    (1u << 2)
#define CR_MER1   (1u << 15)
#define CR_STRT   (1u << 16)
#define CR_EOPIE  (1u << 24)
#define CR_ERRIE  (1u << 25)
#define CR_LOCK   (1u << 31)
#define CR_MASK   0x8301FFFFu
#define OPT_DB1M  (1u << 30)

/* Typical durations from the STM32F427/429 datasheet (DS9405, §6.3 "Memory characteristics",
 * tables "Flash memory programming" and "Flash memory programming with VPP"; the same figures as
 * the F405/407 datasheet DS8626): tPROG is 16 us per program operation at any parallelism (a byte
 * at x8, a half-word at x16, a word at x32, a double word at x64 with VPP); the erase times
 * depend on the PSIZE in FLASH_CR when STRT is set (flash_erase_ns). */
#define T_PROG_NS 16000u

/* ---- sector map ---- */

bool flash_dual_bank(const chip_t *c)
{
    return c->flash_kb == 2048 || (c->opt_nv & OPT_DB1M);
}

static int sectors_per_bank(const chip_t *c)
{
    return (c->flash_kb == 1024 && (c->opt_nv & OPT_DB1M)) ? 8 : 12;
}

static uint32_t bank2_off(const chip_t *c)
{
    return c->flash_kb == 2048 ? 0x100000u : 0x80000u;
}

void flash_sector_range(const chip_t *c, int sector, uint32_t *off, uint32_t *size)
{
    uint32_t base = 0;
    int i = sector;
    if (sector >= 12) {
        base = bank2_off(c);
        i = sector - 12;
    }
    if (i < 4) {
        *off = base + (uint32_t)i * 0x4000u;
        *size = 0x4000u;
    } else if (i == 4) {
        *off = base + 0x10000u;
        *size = 0x10000u;
    } else {
        *off = base + 0x20000u + (uint32_t)(i - 5) * 0x20000u;
        *size = 0x20000u;
    }
}

static bool sector_exists(const chip_t *c, int s)
{
    int n = sectors_per_bank(c);
    if (s >= 0 && s < n)
        return true;
    return flash_dual_bank(c) && s >= 12 && s < 12 + n;
}

int flash_sector_of(const chip_t *c, uint32_t off, uint32_t *size)
{
    for (int s = 0; s < 24; s++) {
        if (!sector_exists(c, s))
            continue;
        uint32_t o, z;
        flash_sector_range(c, s, &o, &z);
        if (off - o < z) {
            if (size)
                *size = z;
            return s;
        }
    }
    return -1;
}

/* CR.SNB -> sector index; bank 2 sectors have bit 4 set, SNB 12-15 do not exist. */
static int snb_to_sector(const chip_t *c, uint32_t snb)
{
    int s = (snb & 0x10u) ? 12 + (int)(snb & 0xFu) : (int)snb;
    if ((snb & 0x10u) && !flash_dual_bank(c))
        return -1;
    if (!(snb & 0x10u) && snb >= 12)
        return -1;
    return sector_exists(c, s) ? s : -1;
}

/* ---- timing: DS9405 typical values in ms, by PSIZE x8, x16, x32, x64 (x64 is the VPP table:
 * 8.5-9 V on VPP) ---- */

uint64_t flash_erase_ns(unsigned psize, uint32_t bytes)
{
    static const uint64_t t16[4] = {400, 300, 250, 230}, t64[4] = {1200, 700, 550, 490},
                          t128[4] = {2000, 1300, 1000, 875};
    psize &= 3u;
    uint64_t ms;
    if (bytes <= 0x4000u)
        ms = t16[psize];
    else if (bytes <= 0x10000u)
        ms = t64[psize];
    else
        ms = t128[psize];
    return ms * 1000000u;
}

static uint64_t mass_erase_ns(unsigned psize, bool both)
{
    static const uint64_t tme[4] = {16000, 11000, 8000, 6900};
    return tme[psize & 3u] * 1000000u / (both ? 1u : 2u);
}

/* ---- protection ---- */

bool flash_read_allowed(chip_t *c, enum bus_src src)
{
    if (rdp_level(c->rdp_in_force) == 0 || src == SRC_CORE)
        return true;
    if (src == SRC_DBG)
        return false;
    return !c->dbg_attached || code_in_flash(c, c->cur_block);
}

bool flash_write_allowed(chip_t *c, enum bus_src src)
{
    return flash_read_allowed(c, src);
}

/* ---- operation life cycle ---- */

void flash_op_start(chip_t *c, const struct flash_op *op, uint64_t duration_ns)
{
    c->fl_op_count++;
    c->ctr.flash_ops++;
    c->fop = *op;
    c->fop.index = c->fl_op_count;
    c->fop.start_ns = dev_ns(c);
    c->fop.end_ns = dev_ns(c) + duration_ns;
    c->fop.wall_end_ns = wall_ns() + duration_ns;
    c->fl_sr |= SR_BSY;
    power_cut_log_op(c, &c->fop);
    if (power_cut_at_op(c, c->fl_op_count)) {
        time_advance_ns(c, duration_ns / 2);
        power_cut_fire(c);
    }
}

static uint8_t *flash_cells(chip_t *c, uint32_t addr)
{
    if (addr - FLASH_BASE < c->flash_size)
        return c->flash + (addr - FLASH_BASE);
    return NULL;
}

void flash_op_apply(chip_t *c, const struct flash_op *op, bool partial)
{
    switch (op->kind) {
    case FOP_PROGRAM: {
        uint8_t *p = flash_cells(c, op->addr);
        if (!p) {
            otp_apply(c, op, partial);
            break;
        }
        if (!partial) {
            for (unsigned i = 0; i < op->size; i++)
                p[i] &= op->data[i];
        } else {
            /* Some but not all of the bits that should go 1 -> 0 do. */
            unsigned total = 0;
            for (unsigned i = 0; i < op->size; i++)
                total += (unsigned)__builtin_popcount(p[i] & (uint8_t)~op->data[i]);
            unsigned done = 0;
            for (unsigned i = 0; i < op->size; i++) {
                for (unsigned b = 0; b < 8; b++) {
                    uint8_t m = (uint8_t)(1u << b);
                    if (!(p[i] & m) || (op->data[i] & m))
                        continue;
                    if ((cut_rand(c) & 1u) && done + 1 < total) {
                        p[i] &= (uint8_t)~m;
                        done++;
                    }
                }
            }
        }
        tb_invalidate(c, op->addr, op->size);
        break;
    }
    case FOP_ERASE:
        for (int s = 0; s < 24; s++) {
            if (!(op->sectors & (1u << s)))
                continue;
            uint32_t off, size;
            flash_sector_range(c, s, &off, &size);
            if (!partial) {
                memset(c->flash + off, 0xFF, size);
            } else {
                /* NOR erase interrupted: some words erased, others still old. */
                for (uint32_t w = 0; w < size; w += 4)
                    if (cut_rand(c) & 1u)
                        memset(c->flash + off + w, 0xFF, 4);
            }
            tb_invalidate(c, FLASH_BASE + off, size);
        }
        break;
    case FOP_OPTION:
        opt_commit(c, op, partial);
        break;
    case FOP_NONE:
        break;
    }
    nv_mark_dirty(c);
}

static void op_finish(chip_t *c)
{
    struct flash_op op = c->fop;
    c->fop.kind = FOP_NONE;
    c->fl_sr &= ~SR_BSY;
    c->fl_cr &= ~CR_STRT;
    c->ctr.flash_ns += op.end_ns - op.start_ns;
    flash_op_apply(c, &op, false);
    if (op.kind == FOP_OPTION)
        c->fl_optcr &= ~2u; /* OPTSTRT */
    if (c->fl_cr & CR_EOPIE)
        c->fl_sr |= SR_EOP;
}

uint64_t flash_ns_to_end(chip_t *c)
{
    if (c->fop.kind == FOP_NONE)
        return UINT64_MAX;
    return c->fop.end_ns > dev_ns(c) ? c->fop.end_ns - dev_ns(c) : 0;
}

/* Completes the operation in progress if its time has come. mode FLASH_OBSERVE (SR read, core
 * halted): nothing else can happen until BSY clears, so the device clock jumps to the end (in
 * realtime mode BSY just stays set until the wall clock gets there). FLASH_STALL (a bus access
 * that must wait, reset, power off): finish now, sleeping in realtime mode. */
void flash_poll(chip_t *c, int mode)
{
    if (c->fop.kind == FOP_NONE || c->powered_off)
        return;
    if (c->cfg.realtime) {
        uint64_t now = wall_ns();
        if (now < c->fop.wall_end_ns) {
            if (mode != FLASH_STALL)
                return;
            uint64_t left = c->fop.wall_end_ns - now;
            struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u),
                                  .tv_nsec = (long)(left % 1000000000u)};
            nanosleep(&ts, NULL);
        }
        if (dev_ns(c) < c->fop.end_ns)
            time_advance_ns(c, c->fop.end_ns - dev_ns(c));
        op_finish(c);
        return;
    }
    if (dev_ns(c) < c->fop.end_ns) {
        if (mode == FLASH_DUE)
            return;
        uint64_t ns = c->fop.end_ns - dev_ns(c);
        uint64_t cyc = (uint64_t)((unsigned __int128)ns * c->hclk_hz / 1000000000u);
        if (power_cut_cycles_left(c) <= cyc) {
            time_advance_cycles(c, power_cut_cycles_left(c));
            power_cut_fire(c);
            return;
        }
        time_advance_ns(c, ns);
    }
    op_finish(c);
}

/* ---- programming ---- */

static void set_err(chip_t *c, uint32_t bits)
{
    c->fl_sr |= bits;
    if (c->fl_cr & CR_ERRIE)
        c->fl_sr |= SR_OPERR;
}

int flash_program(chip_t *c, uint32_t addr, unsigned size, uint32_t val, enum bus_src src)
{
    if (c->fop.kind != FOP_NONE)
        flash_poll(c, FLASH_STALL); /* the bus stalls until BSY clears */
    if (c->powered_off)
        return CHIP_OK;
    uint32_t off = addr - FLASH_BASE;
    if ((c->fl_cr & CR_LOCK) || !(c->fl_cr & CR_PG) || (c->fl_cr & (CR_SER | CR_MER | CR_MER1))) {
        set_err(c, SR_PGSERR);
        return src == SRC_DBG ? CHIP_EBUS : CHIP_OK;
    }
    unsigned psize = 1u << ((c->fl_cr >> 8) & 3u);
    uint64_t v = val;
    if (psize == 8 && size == 4) {
        /* x64: the 32-bit bus brings a double word as two word writes, the lower address first;
         * the second one starts a single program operation of 8 bytes. */
        if (!c->fl_x64_half) {
            c->fl_x64_half = true;
            c->fl_x64_off = off;
            c->fl_x64_lo = val;
            return CHIP_OK;
        }
        c->fl_x64_half = false;
        if ((c->fl_x64_off & 7u) || off != c->fl_x64_off + 4u) {
            set_err(c, SR_PGAERR);
            return CHIP_OK;
        }
        off = c->fl_x64_off;
        size = 8;
        v = (uint64_t)val << 32 | c->fl_x64_lo;
    }
    if (size != psize) {
        set_err(c, SR_PGPERR);
        return CHIP_OK;
    }
    if ((off & 15u) + size > 16u) {
        set_err(c, SR_PGAERR);
        return CHIP_OK;
    }
    int sector = flash_sector_of(c, off, NULL);
    if (sector < 0 || wrp_protected(c, sector) || !flash_write_allowed(c, src)) {
        set_err(c, SR_WRPERR);
        return CHIP_OK;
    }
    struct flash_op op = {.kind = FOP_PROGRAM, .addr = FLASH_BASE + off, .size = size};
    for (unsigned i = 0; i < size; i++)
        op.data[i] = (uint8_t)(v >> (8 * i));
    /* One tPROG per program operation whatever its size: a byte at x8, a word at x32. */
    flash_op_start(c, &op, T_PROG_NS);
    return CHIP_OK;
}

/* A CPU store hit flash: Unicorn applies it after this returns, so remember the cells' contents
 * to put back, then let the flash rules decide. An unaligned store comes back once per byte. */
static struct {
    bool active;
    uint32_t addr, size;
} sub_store;

void flash_cpu_store(chip_t *c, uint32_t addr, unsigned size, uint64_t val)
{
    uint32_t off = addr - FLASH_BASE < c->flash_size ? addr - FLASH_BASE : addr;
    if (size > 8 || off + size > c->flash_size)
        return;
    bool sub = sub_store.active && addr >= sub_store.addr &&
               addr + size <= sub_store.addr + sub_store.size;
    if (!sub)
        flash_fixups_apply(c);
    if (c->nfix < (int)(sizeof c->fix / sizeof c->fix[0])) {
        struct flash_fixup *f = &c->fix[c->nfix++];
        f->off = off;
        f->size = size;
        memcpy(f->old, c->flash + off, size);
    }
    if (sub)
        return;
    if (addr & (size - 1u)) {
        sub_store.active = true;
        sub_store.addr = addr;
        sub_store.size = size;
    }
    if (size == 8) {
        flash_program(c, FLASH_BASE + off, 4, (uint32_t)val, SRC_CPU);
        flash_program(c, FLASH_BASE + off + 4, 4, (uint32_t)(val >> 32), SRC_CPU);
    } else {
        flash_program(c, FLASH_BASE + off, size, (uint32_t)val, SRC_CPU);
    }
}

void flash_fixups_apply(chip_t *c)
{
    for (int i = c->nfix - 1; i >= 0; i--)
        memcpy(c->flash + c->fix[i].off, c->fix[i].old, c->fix[i].size);
    c->nfix = 0;
    sub_store.active = false;
}

/* ---- erase ---- */

static void start_erase(chip_t *c, enum bus_src src)
{
    uint32_t cr = c->fl_cr;
    bool ser = cr & CR_SER, mer = cr & CR_MER, mer1 = cr & CR_MER1;
    unsigned psize = (cr >> 8) & 3u;
    if (ser && (mer || mer1)) {
        set_err(c, SR_PGSERR);
        return;
    }
    if (!flash_write_allowed(c, src)) {
        set_err(c, SR_WRPERR);
        return;
    }
    struct flash_op op = {.kind = FOP_ERASE, .psize = psize};
    uint64_t ns;
    if (ser) {
        int s = snb_to_sector(c, (cr >> 3) & 0x1Fu);
        if (s < 0 || wrp_protected(c, s)) {
            set_err(c, SR_WRPERR);
            return;
        }
        uint32_t off, size;
        flash_sector_range(c, s, &off, &size);
        op.sectors = 1u << s;
        ns = flash_erase_ns(psize, size);
    } else {
        int n = sectors_per_bank(c);
        for (int i = 0; i < n; i++) {
            if (mer)
                op.sectors |= 1u << i;
            if (mer1 && flash_dual_bank(c))
                op.sectors |= 1u << (12 + i);
            if (!flash_dual_bank(c) && mer1 && !mer)
                op.sectors |= 1u << i;
        }
        for (int s = 0; s < 24; s++) {
            if ((op.sectors & (1u << s)) && wrp_protected(c, s)) {
                set_err(c, SR_WRPERR);
                return;
            }
        }
        ns = mass_erase_ns(psize, mer && mer1);
    }
    flash_op_start(c, &op, ns);
}

/* ---- registers ---- */

void flash_if_reset(chip_t *c)
{
    c->fl_acr = 0;
    c->fl_sr = 0;
    c->fl_cr = CR_LOCK;
    c->fl_key_step = c->fl_optkey_step = 0;
    c->fl_x64_half = false;
    c->fl_key_dead = c->fl_optkey_dead = false;
    c->nfix = 0;
}

int flash_if_read(chip_t *c, uint32_t off, uint32_t *val, enum bus_src src)
{
    time_sync(c);
    switch (off) {
    case 0x00:
        *val = c->fl_acr;
        return CHIP_OK;
    case 0x04:
    case 0x08:
        *val = 0;
        return CHIP_OK;
    case 0x0C:
        /* The core polling BSY (or a halted core) can do nothing else until it clears, so the
         * device clock jumps; a debugger peeking at a running core sees BSY as it is. */
        flash_poll(c, (src != SRC_DBG || c->halted || c->srst) ? FLASH_OBSERVE : FLASH_DUE);
        *val = c->fl_sr | (c->fop.kind != FOP_NONE ? SR_BSY : 0);
        return CHIP_OK;
    case 0x10:
        *val = c->fl_cr;
        return CHIP_OK;
    case 0x14:
    case 0x18:
    case 0x1C:
        return opt_read(c, off, val);
    default:
        *val = 0;
        return CHIP_OK;
    }
}

int flash_if_write(chip_t *c, uint32_t off, uint32_t val, enum bus_src src)
{
    time_sync(c);
    switch (off) {
    case 0x00:
        c->fl_acr = val & 0x1F0Fu;
        return CHIP_OK;
    case 0x04:
        if (c->fl_key_dead || !(c->fl_cr & CR_LOCK)) {
            c->fl_key_dead = true;
            return CHIP_EBUS;
        }
        if (c->fl_key_step == 0 && val == KEY1) {
            c->fl_key_step = 1;
        } else if (c->fl_key_step == 1 && val == KEY2) {
            c->fl_key_step = 0;
            c->fl_cr &= ~CR_LOCK;
        } else {
            c->fl_key_dead = true; /* wrong sequence: locked until the next reset */
            c->fl_key_step = 0;
            return CHIP_EBUS;
        }
        return CHIP_OK;
    case 0x08:
        if (c->fl_optkey_dead || !(c->fl_optcr & 1u)) {
            c->fl_optkey_dead = true;
            return CHIP_EBUS;
        }
        if (c->fl_optkey_step == 0 && val == 0x08192A3Bu) {
            c->fl_optkey_step = 1;
        } else if (c->fl_optkey_step == 1 && val == 0x4C5D6E7Fu) {
            c->fl_optkey_step = 0;
            c->fl_optcr &= ~1u;
        } else {
            c->fl_optkey_dead = true;
            c->fl_optkey_step = 0;
            return CHIP_EBUS;
        }
        return CHIP_OK;
    case 0x0C:
        c->fl_sr &=
            ~(val & (SR_EOP | SR_OPERR | SR_WRPERR | SR_PGAERR | SR_PGPERR | SR_PGSERR | SR_RDERR));
        return CHIP_OK;
    case 0x10:
        if (c->fop.kind != FOP_NONE)
            flash_poll(c, FLASH_STALL); /* CR is not writable while BSY: the bus stalls */
        if (c->powered_off)
            return CHIP_OK;
        if (c->fl_cr & CR_LOCK)
            return CHIP_OK;     /* locked: writes ignored */
        c->fl_x64_half = false; /* a new setup drops a lone first word of a double word */
        c->fl_cr = val & CR_MASK & ~CR_STRT;
        if ((val & CR_STRT) && !(val & CR_LOCK)) {
            c->fl_cr |= CR_STRT;
            start_erase(c, src);
            if (c->fop.kind == FOP_NONE)
                c->fl_cr &= ~CR_STRT;
        }
        return CHIP_OK;
    case 0x14:
        if (c->fop.kind != FOP_NONE)
            flash_poll(c, FLASH_STALL);
        if (!c->powered_off)
            opt_write_optcr(c, val, src);
        return CHIP_OK;
    case 0x18:
        opt_write_optcr1(c, val);
        return CHIP_OK;
    default:
        return CHIP_OK;
    }
}
