/* Fault injection: power fails at a chosen device cycle or in the middle of the k-th flash
 * operation. The cells being programmed or erased are left as NOR flash leaves them (a seeded
 * mix of done and not done), the state file is written, and the chip is off. */
#include "chip_internal.h"

#include <stdio.h>

/* splitmix64 on the cut seed: reproducible "undefined" states. */
uint64_t cut_rand(chip_t *c)
{
    uint64_t z = (c->cut_prng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

bool power_cut_at_op(chip_t *c, uint64_t op_index)
{
    return c->cfg.cut_kind == CHIP_CUT_AT_FLASH_OP && op_index == c->cfg.cut_at && !c->powered_off;
}

uint64_t power_cut_cycles_left(chip_t *c)
{
    if (c->cfg.cut_kind != CHIP_CUT_AT_CYCLE || c->powered_off)
        return UINT64_MAX;
    return c->cfg.cut_at > c->ctr.cycles ? c->cfg.cut_at - c->ctr.cycles : 0;
}

bool power_cut_check_cycle(chip_t *c)
{
    if (c->powered_off)
        return true;
    if (c->cfg.cut_kind != CHIP_CUT_AT_CYCLE || c->ctr.cycles < c->cfg.cut_at)
        return false;
    power_cut_fire(c);
    return true;
}

void power_cut_fire(chip_t *c)
{
    if (c->powered_off)
        return;
    c->cut_prng = c->cfg.cut_seed ^ (c->fop.index * 0xD1B54A32D192ED03ull);
    if (c->nfix)
        flash_fixups_apply(c);
    c->powered_off = true; /* before flash_op_apply, see
                              tb_invalidate in chip_core.c */
    if (c->fop.kind != FOP_NONE) {
        struct flash_op op = c->fop;
        c->fop.kind = FOP_NONE;
        c->fl_sr &= ~(1u << 16);
        flash_op_apply(c, &op, true);
    }
    char err[512];
    if (state_save(c, err, sizeof err) != 0)
        fprintf(stderr, "sim: power cut: %s\n", err);
    c->powered_off = true;
    c->halted = false;
    chip_request_stop(c, STOP_POWER_CUT);
}
