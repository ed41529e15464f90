/* ADIv5 JTAG-DP and the STM32F4's AHB-AP (AP 0), as OpenOCD 0.12.0 drives them
 * (STM32F4-FACTS §3). Every access completes at once (ACK is always OK); bus errors become
 * CTRL/STAT.STICKYERR; reads are posted: a read's result comes out of the next DPACC/APACC scan. */
#ifndef SIM_ADIV5_DAP_H
#define SIM_ADIV5_DAP_H

#include <stdbool.h>
#include <stdint.h>

#include "chip.h"

/* DP register addresses (A[3:2] << 2). */
#define DP_REG_DPIDR    0x0u
#define DP_REG_CTRLSTAT 0x4u
#define DP_REG_SELECT   0x8u
#define DP_REG_RDBUFF   0xCu

/* CTRL/STAT bits. */
#define DP_ORUNDETECT   (1u << 0)
#define DP_STICKYORUN   (1u << 1)
#define DP_STICKYCMP    (1u << 4)
#define DP_STICKYERR    (1u << 5)
#define DP_CDBGRSTREQ   (1u << 26)
#define DP_CDBGRSTACK   (1u << 27)
#define DP_CDBGPWRUPREQ (1u << 28)
#define DP_CDBGPWRUPACK (1u << 29)
#define DP_CSYSPWRUPREQ (1u << 30)
#define DP_CSYSPWRUPACK (1u << 31)

/* AHB-AP registers (APBANKSEL << 4 | A[3:2] << 2) and identification values. */
#define AP_REG_CSW       0x00u
#define AP_REG_TAR       0x04u
#define AP_REG_DRW       0x0Cu
#define AP_REG_BD0       0x10u
#define AP_REG_BASE64    0xF0u
#define AP_REG_CFG       0xF4u
#define AP_REG_BASE      0xF8u
#define AP_REG_IDR       0xFCu
#define AHB_AP_IDR       0x24770011u
#define AHB_AP_BASE      0xE00FF003u
#define AHB_AP_CSW_RESET 0x23000040u

#define CSW_SIZE_MASK      0x7u
#define CSW_ADDRINC_MASK   (3u << 4)
#define CSW_ADDRINC_SINGLE (1u << 4)
#define CSW_DEVICEEN       (1u << 6)

struct adiv5_dap {
    chip_t *chip;
    uint32_t ctrl_stat; /* stored bits; ACKs are derived from the REQs */
    uint32_t select;
    uint32_t latch; /* result of the last read: captured by the next DPACC/APACC scan */
    uint32_t csw;   /* AP0 CSW: Prot 31:24, AddrInc 5:4 (single or off), Size 2:0 */
    uint32_t tar;
    /* SW-DP state for the CMSIS-DAP front end (zero = JTAG, as at
     * power-on; the JTAG path never touches these). */
    bool swd;            /* the SWJ-DP was switched to SWD (JTAG-to-SWD sequence) */
    bool swd_need_reset; /* switched, but no line reset yet: the DP does not answer */
    bool swd_lockout;    /* after a line reset: only a DPIDR read is answered */
    uint32_t swj_ones;   /* consecutive SWDIOTMS high bits */
    uint16_t swj_sel;    /* selection sequence being captured after >= 50 ones */
    uint8_t swj_sel_n;   /* its bit count; 0 = not capturing */
};

void dap_init(struct adiv5_dap *dap, chip_t *chip);
/* One DPACC (ap = false) or APACC (ap = true) transaction, done at Update-DR. addr is A[3:2] << 2.
 */
void dap_access(struct adiv5_dap *dap, bool ap, unsigned addr, bool rnw, uint32_t wdata);
/* A write to the JTAG-DP ABORT register. */
void dap_abort(struct adiv5_dap *dap, uint32_t value);
static inline uint32_t dap_read_result(const struct adiv5_dap *dap)
{
    return dap->latch;
}
uint32_t dap_ctrl_stat(const struct adiv5_dap *dap); /* CTRL/STAT as a read returns it */

/* ---- the SWD flavour of this DP (SW-DP, DPv1), for the CMSIS-DAP
 * front end (cmsis_dap_server.c). The STM32F4's SWJ-DP starts in JTAG; SWDIOTMS bit sequences
 * (dap_swj_sequence) switch it: >= 50 ones, the JTAG-to-SWD select 0xE79E, a line reset (>= 50
 * ones), after which only a DPIDR read is answered. Then DP and AP accesses get ACKs: AP reads are
 * posted (each returns the previous AP read's data; RDBUFF returns the last), a bus error sets
 * STICKYERR and the next AP access, or DP access other than a DPIDR/CTRL-STAT read or an ABORT
 * write, gets FAULT until ABORT clears it. A debug port fused off by RDP Level 2 never answers. */
#define SWDP_DPIDR          0x2BA01477u /* SW-DP of the Cortex-M4 r0p1 (DPv1, designer ARM) */
#define DP_REG_ABORT_SWD    0x0u        /* write side of address 0x0 */
#define DP_ABORT_DAPABORT   (1u << 0)
#define DP_ABORT_STKCMPCLR  (1u << 1)
#define DP_ABORT_STKERRCLR  (1u << 2)
#define DP_ABORT_WDERRCLR   (1u << 3)
#define DP_ABORT_ORUNERRCLR (1u << 4)
#define DP_WDATAERR         (1u << 7)

enum swd_ack { SWD_ACK_OK = 1, SWD_ACK_WAIT = 2, SWD_ACK_FAULT = 4, SWD_ACK_NONE = 7 };

/* Clocks `nbits` bits (LSB first) on SWDIOTMS: line resets and the JTAG/SWD select sequences. */
void dap_swj_sequence(struct adiv5_dap *dap, const uint8_t *bits, unsigned nbits);
/* One SWD transaction. addr is A[3:2] << 2. Reads return data in *rdata. Returns the ACK. */
enum swd_ack dap_swd_access(struct adiv5_dap *dap, bool ap, unsigned addr, bool rnw, uint32_t wdata,
                            uint32_t *rdata);

#endif
