/* IEEE 1149.1 TAP controllers and the STM32F4 JTAG chain as a probe sees it:
 * TDI -> boundary-scan TAP (IR 5 bits) -> Cortex-M4 JTAG-DP TAP (IR 4 bits) -> TDO.
 * Both TAPs share TCK/TMS, so one state machine drives both. The JTAG-DP's ABORT/DPACC/APACC data
 * registers are handed to the ADIv5 DAP model at Update-DR. */
#ifndef SIM_JTAG_TAP_H
#define SIM_JTAG_TAP_H

#include <stdbool.h>
#include <stdint.h>

struct adiv5_dap;

/* The 16 states, IEEE 1149.1 figure 6-1. */
enum tap_state {
    TAP_RESET = 0, /* Test-Logic-Reset */
    TAP_IDLE,      /* Run-Test/Idle */
    TAP_DRSELECT,
    TAP_DRCAPTURE,
    TAP_DRSHIFT,
    TAP_DREXIT1,
    TAP_DRPAUSE,
    TAP_DREXIT2,
    TAP_DRUPDATE,
    TAP_IRSELECT,
    TAP_IRCAPTURE,
    TAP_IRSHIFT,
    TAP_IREXIT1,
    TAP_IRPAUSE,
    TAP_IREXIT2,
    TAP_IRUPDATE,
    TAP_NUM_STATES
};

/* Identification and instruction codes (STM32F4-FACTS §2). */
#define JTAG_BS_IDCODE     0x06419041u /* STM32F42x/43x boundary scan */
#define JTAG_DP_IDCODE     0x4BA00477u /* Cortex-M4 r0p1 JTAG-DP */
#define JTAG_BS_IRLEN      5
#define JTAG_DP_IRLEN      4
#define JTAG_BS_IR_IDCODE  0x01u
#define JTAG_BS_IR_BYPASS  0x1Fu
#define JTAG_DP_IR_ABORT   0x8u
#define JTAG_DP_IR_DPACC   0xAu
#define JTAG_DP_IR_APACC   0xBu
#define JTAG_DP_IR_IDCODE  0xEu
#define JTAG_DP_IR_BYPASS  0xFu
#define JTAG_DP_IR_CAPTURE 0x1u  /* 0b0001, checked by OpenOCD on every IR scan */
#define JTAG_BS_IR_CAPTURE 0x01u /* 0bxxx01 */
#define JTAG_ACK_OK_FAULT  0x2u  /* JTAG-DP ACK: OK/FAULT (faults show in CTRL/STAT) */

struct jtag_chain {
    enum tap_state state;
    uint8_t bs_ir, dp_ir;    /* current instructions */
    uint64_t bs_sr, dp_sr;   /* shift registers of the selected IR or DR */
    unsigned bs_len, dp_len; /* their lengths in bits */
    struct adiv5_dap *dap;   /* receives ABORT/DPACC/APACC at Update-DR; may be NULL */
    uint64_t last_dr_in;     /* value of the last completed DP DR scan (for tests/logs) */
};

void jtag_chain_init(struct jtag_chain *chain, struct adiv5_dap *dap);
/* Test-Logic-Reset (TRST, or five TMS=1 clocks): both IRs select IDCODE. */
void jtag_chain_reset(struct jtag_chain *chain);
/* One rising edge of TCK with the given TMS and TDI levels. */
void jtag_chain_clock(struct jtag_chain *chain, bool tms, bool tdi);
/* The level on TDO now (before the next rising edge): the bit the next Shift clock moves out. */
static inline bool jtag_chain_tdo(const struct jtag_chain *chain)
{
    return (chain->state == TAP_DRSHIFT || chain->state == TAP_IRSHIFT) && (chain->dp_sr & 1u);
}

enum tap_state tap_next_state(enum tap_state state, bool tms);
const char *tap_state_name(enum tap_state state);

#endif
