/* IEEE 1149.1 TAP state machine and the two-TAP STM32F4 chain (see jtag_tap.h). */
#include "jtag_tap.h"

#include "adiv5_dap.h"

/* Next state for TMS = 0 and TMS = 1 (IEEE 1149.1 figure 6-1). */
static const uint8_t next_state[TAP_NUM_STATES][2] = {
    [TAP_RESET] = {TAP_IDLE, TAP_RESET},
    [TAP_IDLE] = {TAP_IDLE, TAP_DRSELECT},
    [TAP_DRSELECT] = {TAP_DRCAPTURE, TAP_IRSELECT},
    [TAP_DRCAPTURE] = {TAP_DRSHIFT, TAP_DREXIT1},
    [TAP_DRSHIFT] = {TAP_DRSHIFT, TAP_DREXIT1},
    [TAP_DREXIT1] = {TAP_DRPAUSE, TAP_DRUPDATE},
    [TAP_DRPAUSE] = {TAP_DRPAUSE, TAP_DREXIT2},
    [TAP_DREXIT2] = {TAP_DRSHIFT, TAP_DRUPDATE},
    [TAP_DRUPDATE] = {TAP_IDLE, TAP_DRSELECT},
    [TAP_IRSELECT] = {TAP_IRCAPTURE, TAP_RESET},
    [TAP_IRCAPTURE] = {TAP_IRSHIFT, TAP_IREXIT1},
    [TAP_IRSHIFT] = {TAP_IRSHIFT, TAP_IREXIT1},
    [TAP_IREXIT1] = {TAP_IRPAUSE, TAP_IRUPDATE},
    [TAP_IRPAUSE] = {TAP_IRPAUSE, TAP_IREXIT2},
    [TAP_IREXIT2] = {TAP_IRSHIFT, TAP_IRUPDATE},
    [TAP_IRUPDATE] = {TAP_IDLE, TAP_DRSELECT},
};

enum tap_state tap_next_state(enum tap_state state, bool tms)
{
    if ((unsigned)state >= TAP_NUM_STATES)
        return TAP_RESET;
    return (enum tap_state)next_state[state][tms ? 1 : 0];
}

const char *tap_state_name(enum tap_state state)
{
    static const char *const names[TAP_NUM_STATES] = {
        "RESET",   "IDLE",    "DRSELECT", "DRCAPTURE", "DRSHIFT",   "DREXIT1",
        "DRPAUSE", "DREXIT2", "DRUPDATE", "IRSELECT",  "IRCAPTURE", "IRSHIFT",
        "IREXIT1", "IRPAUSE", "IREXIT2",  "IRUPDATE",
    };
    return (unsigned)state < TAP_NUM_STATES ? names[state] : "?";
}

void jtag_chain_init(struct jtag_chain *chain, struct adiv5_dap *dap)
{
    *chain = (struct jtag_chain){.dap = dap};
    jtag_chain_reset(chain);
}

void jtag_chain_reset(struct jtag_chain *chain)
{
    chain->state = TAP_RESET;
    chain->bs_ir = JTAG_BS_IR_IDCODE;
    chain->dp_ir = JTAG_DP_IR_IDCODE;
    /* Lengths of the registers a scan would select; the contents are loaded at Capture. */
    chain->bs_len = 32;
    chain->dp_len = 32;
}

static bool dp_ir_is_dap(uint8_t ir)
{
    return ir == JTAG_DP_IR_ABORT || ir == JTAG_DP_IR_DPACC || ir == JTAG_DP_IR_APACC;
}

static void capture_dr(struct jtag_chain *chain)
{
    if (chain->bs_ir == JTAG_BS_IR_IDCODE) {
        chain->bs_sr = JTAG_BS_IDCODE;
        chain->bs_len = 32;
    } else { /* BYPASS and every instruction not modelled (SAMPLE, EXTEST, ...) */
        chain->bs_sr = 0;
        chain->bs_len = 1;
    }
    if (chain->dp_ir == JTAG_DP_IR_IDCODE) {
        chain->dp_sr = JTAG_DP_IDCODE;
        chain->dp_len = 32;
    } else if (dp_ir_is_dap(chain->dp_ir)) {
        /* ACK in bits 2:0, the previous read's result in bits 34:3 (posted reads). */
        uint32_t prev = chain->dap ? dap_read_result(chain->dap) : 0;
        chain->dp_sr = ((uint64_t)prev << 3) | JTAG_ACK_OK_FAULT;
        chain->dp_len = 35;
    } else {
        chain->dp_sr = 0;
        chain->dp_len = 1;
    }
}

static void capture_ir(struct jtag_chain *chain)
{
    chain->bs_sr = JTAG_BS_IR_CAPTURE;
    chain->bs_len = JTAG_BS_IRLEN;
    chain->dp_sr = JTAG_DP_IR_CAPTURE;
    chain->dp_len = JTAG_DP_IRLEN;
}

/* TDI enters the boundary-scan TAP's MSB; its LSB feeds the DP TAP's MSB; the DP TAP's LSB is TDO.
 */
static void shift(struct jtag_chain *chain, bool tdi)
{
    uint64_t bs_out = chain->bs_sr & 1u;
    chain->dp_sr = (chain->dp_sr >> 1) | (bs_out << (chain->dp_len - 1));
    chain->bs_sr = (chain->bs_sr >> 1) | ((uint64_t)(tdi ? 1 : 0) << (chain->bs_len - 1));
}

static void update_dr(struct jtag_chain *chain)
{
    if (!dp_ir_is_dap(chain->dp_ir) || chain->dp_len != 35)
        return;
    uint64_t v = chain->dp_sr & ((UINT64_C(1) << 35) - 1);
    chain->last_dr_in = v;
    if (!chain->dap)
        return;
    bool rnw = v & 1u;
    unsigned addr = (unsigned)((v >> 1) & 3u) << 2;
    uint32_t data = (uint32_t)(v >> 3);
    if (chain->dp_ir == JTAG_DP_IR_ABORT)
        dap_abort(chain->dap, data);
    else
        dap_access(chain->dap, chain->dp_ir == JTAG_DP_IR_APACC, addr, rnw, data);
}

void jtag_chain_clock(struct jtag_chain *chain, bool tms, bool tdi)
{
    /* Work done by the rising edge in the current state, then the transition. */
    switch (chain->state) {
    case TAP_DRCAPTURE:
        capture_dr(chain);
        break;
    case TAP_IRCAPTURE:
        capture_ir(chain);
        break;
    case TAP_DRSHIFT:
    case TAP_IRSHIFT:
        shift(chain, tdi);
        break;
    default:
        break;
    }
    enum tap_state next = tap_next_state(chain->state, tms);
    chain->state = next;
    switch (next) {
    case TAP_RESET:
        jtag_chain_reset(chain);
        break;
    case TAP_IRUPDATE:
        chain->dp_ir = (uint8_t)(chain->dp_sr & 0xFu);
        chain->bs_ir = (uint8_t)(chain->bs_sr & 0x1Fu);
        break;
    case TAP_DRUPDATE:
        update_dr(chain);
        break;
    default:
        break;
    }
}
