/* Fault injection: power fails at a chosen device cycle or in the middle of the k-th flash
 * operation. The cells being programmed or erased are left as NOR flash leaves them (a seeded
 * mix of done and not done), the state file is written, and the chip is off. */
#include "chip_internal.h"

#include <inttypes.h>
#include <stdio.h>

/* splitmix64 on the cut seed: reproducible "undefined" states. */
uint64_t cut_rand(chip_t *c)
{
    uint64_t z = (c->cut_prng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The flash operation log (--flash-op-log): appended to, flushed per line, so a sweep can map
 * each operation number to what it did even when the cut ends the process. */
static FILE *op_log(chip_t *c)
{
    if (!c->op_log && c->cfg.flash_op_log) {
        c->op_log = fopen(c->cfg.flash_op_log, "a");
        if (!c->op_log) {
            perror(c->cfg.flash_op_log);
            c->cfg.flash_op_log = NULL; /* one complaint, not one per operation */
        }
    }
    return c->op_log;
}

void power_cut_log_op(chip_t *c, const struct flash_op *op)
{
    FILE *f = op_log(c);
    if (!f)
        return;
    if (op->kind == FOP_PROGRAM)
        fprintf(f, "op %" PRIu64 " program 0x%08" PRIx32 " %u\n", op->index, op->addr, op->size);
    else if (op->kind == FOP_ERASE)
        fprintf(f, "op %" PRIu64 " erase sectors 0x%06" PRIx32 " x%u\n", op->index, op->sectors,
                8u << op->psize);
    else if (op->kind == FOP_OPTION)
        fprintf(f, "op %" PRIu64 " option optcr 0x%08" PRIx32 " optcr1 0x%08" PRIx32 "\n",
                op->index, op->new_optcr, op->new_optcr1);
    fflush(f);
}

void power_cut_log_close(chip_t *c)
{
    if (c->op_log)
        fclose(c->op_log);
    c->op_log = NULL;
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
    bool in_flight = c->fop.kind != FOP_NONE;
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
    FILE *f = op_log(c);
    if (f) {
        fprintf(f, "cut op %" PRIu64 " cycle %" PRIu64 " %s\n", c->fl_op_count, c->ctr.cycles,
                in_flight ? "in flight" : "between operations");
        fflush(f);
    }
    c->powered_off = true;
    c->halted = false;
    chip_request_stop(c, STOP_POWER_CUT);
}
