/* For the harnesses of the sim's front ends (fuzz_sim_*.c): one virtual chip per process, put back
 * to the chip it was at the start before every input. Opening a chip costs ~150 ms (Unicorn), so it
 * is opened once; each input then gets a power cycle done by hand, in microseconds: the flash, the
 * option bytes and the OTP area as they were (copied back only when an input changed them), SRAM,
 * CCM and backup SRAM zeroed, the debug logic and the system reset as at power-on, and the
 * translated code dropped when the code it came from changed. What the chip keeps beyond that
 * (counters, the device clock) does not change what a front end does. */
#ifndef PV_TESTS_FUZZ_SIM_CHIP_H
#define PV_TESTS_FUZZ_SIM_CHIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../sim/chip_internal.h"
#include "../sim/sim_log.h"

void dbgmcu_power_on(chip_t *c); /* sim/periph_dbgmcu.c */

static struct fuzz_chip_state {
    chip_t *c;
    char dir[64], path[96];
    uint8_t *flash;
    uint32_t opt_nv, opt1_nv;
    uint8_t otp[OTP_SIZE], otp_lock[OTP_BLOCKS];
    uint64_t flash_ops; /* the chip's count when its flash was last as saved here */
} fuzz_chip_state;

static void fuzz_chip_exit(void)
{
    if (fuzz_chip_state.c) {
        fuzz_chip_state.c->powered_off = true; /* nothing to keep */
        chip_close(fuzz_chip_state.c);
    }
    unlink(fuzz_chip_state.path);
    rmdir(fuzz_chip_state.dir);
}

/* The chip, as it was when first opened: a blank STM32F427 (RDP Level 0, flash erased). */
static chip_t *fuzz_chip(void)
{
    struct fuzz_chip_state *s = &fuzz_chip_state;
    chip_t *c = s->c;
    if (!c) {
        sim_log_set_silent(true); /* the inputs are garbage on purpose: no warning per input */
        const char *tmp = getenv("TMPDIR");
        snprintf(s->dir, sizeof s->dir, "%s/pv-fuzz-chip.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(s->dir))
            abort();
        snprintf(s->path, sizeof s->path, "%s/chip.state", s->dir);
        struct chip_config cfg = {.state_path = s->path, .create = true, .uid_seed = 7};
        char err[256];
        c = s->c = chip_open(&cfg, err, sizeof err);
        if (!c) {
            fprintf(stderr, "fuzz: chip_open: %s\n", err);
            abort();
        }
        atexit(fuzz_chip_exit);
        s->flash = malloc(c->flash_size);
        if (!s->flash)
            abort();
        memcpy(s->flash, c->flash, c->flash_size);
        s->opt_nv = c->opt_nv;
        s->opt1_nv = c->opt1_nv;
        memcpy(s->otp, c->otp, sizeof s->otp);
        memcpy(s->otp_lock, c->otp_lock, sizeof s->otp_lock);
        c->nv_dirty = false;
        s->flash_ops = c->ctr.flash_ops;
        return c;
    }
    flash_poll(c, FLASH_STALL); /* an operation still running ends now */
    c->fop.kind = FOP_NONE;
    c->nfix = 0;
    /* Flash, option bytes and OTP change only through flash operations. nv_dirty alone does not
     * say so: an input running over a second has the chip write its state file, which clears it,
     * and the next input would start from this one's flash. */
    bool nv_changed = c->nv_dirty || c->ctr.flash_ops != s->flash_ops;
    /* Code translated from flash stays valid unless the flash changed; SRAM is zeroed below. */
    bool code_changed = nv_changed;
    for (size_t i = 0; i < sizeof c->sram_code_pages && !code_changed; i++)
        code_changed = c->sram_code_pages[i] != 0;
    if (nv_changed) {
        memcpy(c->flash, s->flash, c->flash_size);
        c->opt_nv = s->opt_nv;
        c->opt1_nv = s->opt1_nv;
        memcpy(c->otp, s->otp, sizeof s->otp);
        memcpy(c->otp_lock, s->otp_lock, sizeof s->otp_lock);
        c->nv_dirty = false;
        s->flash_ops = c->ctr.flash_ops;
    }
    memset(c->sram, 0, SRAM_SIZE);
    memset(c->ccm, 0, CCM_SIZE);
    memset(c->bkpsram, 0, BKPSRAM_SIZE);
    c->tx_len = c->tx_head = c->rx_len = c->rx_head = 0;
    c->interrupt = 0;
    c->stop_reason = STOP_NONE;
    c->pending_reset = 0;
    dbgmcu_power_on(c);
    debug_power_on(c);
    bp_rebuild(c);
    system_reset(c, false, false);
    c->s_reset_st = true;
    if (code_changed)
        tb_drop_all(c);
    return c;
}

#endif
