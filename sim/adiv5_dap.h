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

#endif
