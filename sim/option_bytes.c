/* Option bytes and read-out protection (RM0090 §3.6-3.7, FACTS §5.5). FLASH_OPTCR/OPTCR1 hold the
 * values being prepared; OPTSTRT programs them (BSY on the device clock). The committed values are
 * non-volatile; RDP takes effect at the next reset (option byte loading). Level 1 -> 0 mass-erases
 * flash and backup SRAM; Level 2 freezes the option bytes and, after the next reset, fuses the
 * debug port off. */
#include "chip_internal.h"

#include <stdio.h>
#include <string.h>

#define OPTLOCK  1u
#define OPTSTRT  2u
#define OPT_MASK 0xCFFFFFFCu /* SPRMOD, DB1M, nWRP, RDP, user bits */

unsigned rdp_level(uint8_t rdp)
{
    return rdp == 0xAA ? 0 : rdp == 0xCC ? 2 : 1;
}

static bool frozen(const chip_t *c)
{
    return rdp_level((uint8_t)(c->opt_nv >> 8)) == 2;
}

bool wrp_protected(const chip_t *c, int sector)
{
    if (sector < 12)
        return !((c->opt_nv >> (16 + sector)) & 1u);
    return !((c->opt1_nv >> (16 + sector - 12)) & 1u);
}

/* Option byte loading, at power-on and system reset. */
void opt_load(chip_t *c)
{
    c->fl_optcr = (c->opt_nv & OPT_MASK) | OPTLOCK;
    c->fl_optcr1 = c->opt1_nv & 0x0FFF0000u;
    c->rdp_in_force = (uint8_t)(c->opt_nv >> 8);
    c->port_dead = rdp_level(c->rdp_in_force) == 2;
}

int opt_read(chip_t *c, uint32_t off, uint32_t *val)
{
    if (off == 0x14)
        *val = c->fl_optcr | (c->fop.kind == FOP_OPTION ? OPTSTRT : 0);
    else if (off == 0x18)
        *val = c->fl_optcr1;
    else
        *val = 0; /* no OPTCR2 on the F42x */
    return CHIP_OK;
}

void opt_write_optcr(chip_t *c, uint32_t val, enum bus_src src)
{
    (void)src;
    if (c->fl_optcr & OPTLOCK)
        return; /* locked: only the OPTKEYR sequence changes anything */
    if (frozen(c)) {
        c->fl_optcr |= val & OPTLOCK; /* Level 2: the option bytes cannot change any more */
        return;
    }
    c->fl_optcr = (val & (OPT_MASK | OPTLOCK));
    if (!(val & OPTSTRT) || (val & OPTLOCK) || c->cfg.fault_ignore_optstrt)
        return; /* (the fault: nothing is programmed, the next reset loads the old bytes) */
    uint8_t old_rdp = (uint8_t)(c->opt_nv >> 8), new_rdp = (uint8_t)(val >> 8);
    struct flash_op op = {.kind = FOP_OPTION,
                          .new_optcr = val & OPT_MASK,
                          .new_optcr1 = c->fl_optcr1 & 0x0FFF0000u,
                          .rdp_regress = rdp_level(old_rdp) == 1 && rdp_level(new_rdp) == 0};
    unsigned psize = (c->fl_cr >> 8) & 3u;
    uint64_t ns =
        op.rdp_regress ? flash_erase_ns(psize, 0x20000u) * 8u : flash_erase_ns(psize, 0x4000u);
    flash_op_start(c, &op, ns);
}

void opt_write_optcr1(chip_t *c, uint32_t val)
{
    if ((c->fl_optcr & OPTLOCK) || frozen(c))
        return;
    c->fl_optcr1 = val & 0x0FFF0000u;
}

void opt_commit(chip_t *c, const struct flash_op *op, bool partial)
{
    if (op->rdp_regress) {
        /* Going back to Level 0 erases everything the protection was guarding. */
        if (!partial) {
            memset(c->flash, 0xFF, c->flash_size);
        } else {
            for (uint32_t w = 0; w < c->flash_size; w += 4)
                if (cut_rand(c) & 1u)
                    memset(c->flash + w, 0xFF, 4);
        }
        memset(c->bkpsram, 0, BKPSRAM_SIZE);
        tb_invalidate(c, FLASH_BASE, c->flash_size);
    }
    /* A cut while the option bytes are being written: the new word lands whole or not at all,
     * chosen by the cut seed's low bit (even: the old values stay; odd: the new ones are in,
     * but the operation never reported its end). docs/power-cuts.md says why no torn value. */
    if (partial && !(c->cfg.cut_seed & 1u))
        return;
    c->opt_nv = op->new_optcr & OPT_MASK;
    c->opt1_nv = op->new_optcr1 & 0x0FFF0000u;
    c->fl_optcr = c->opt_nv | (c->fl_optcr & OPTLOCK);
    c->fl_optcr1 = c->opt1_nv;
    nv_mark_dirty(c);
    /* Protection changes must survive a crash of the simulator: write them now. */
    char err[256];
    if (state_save(c, err, sizeof err) != 0)
        fprintf(stderr, "sim: %s\n", err);
}

/* The option bytes as memory (0x1FFFC000 bank 1, 0x1FFEC000 bank 2), read-only. */
int optb_mem_read(chip_t *c, uint32_t addr, uint32_t *val)
{
    *val = 0xFFFFFFFFu;
    if (addr == OPTB1_BASE)
        *val = c->opt_nv & 0xFFFCu;
    else if (addr == OPTB1_BASE + 8)
        *val = (c->opt_nv >> 16) & 0xCFFFu;
    else if (addr == OPTB2_BASE + 8)
        *val = (c->opt1_nv >> 16) & 0x0FFFu;
    return CHIP_OK;
}
