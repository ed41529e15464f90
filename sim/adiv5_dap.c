/* ADIv5 JTAG-DP + AHB-AP model (see adiv5_dap.h). */
#include "adiv5_dap.h"

/* CTRL/STAT bits a write stores: ORUNDETECT, TRNMODE, MASKLANE, TRNCNT and the request bits. */
#define CTRLSTAT_RW_MASK                                                                           \
    (DP_ORUNDETECT | (3u << 2) | (0xFu << 8) | (0x3FFu << 12) | DP_CDBGRSTREQ | DP_CDBGPWRUPREQ |  \
     DP_CSYSPWRUPREQ)
#define CTRLSTAT_STICKY (DP_STICKYORUN | DP_STICKYCMP | DP_STICKYERR)
/* CSW bits a write stores. Packed transfers (AddrInc = 0b10) are not implemented, so bit 5 is
 * not stored: OpenOCD's probe then reads AddrInc back as "off" and disables packing. */
#define CSW_RW_MASK (0xFF000000u | (1u << 4) | CSW_SIZE_MASK)

void dap_init(struct adiv5_dap *dap, chip_t *chip)
{
    *dap = (struct adiv5_dap){.chip = chip, .csw = AHB_AP_CSW_RESET};
}

uint32_t dap_ctrl_stat(const struct adiv5_dap *dap)
{
    uint32_t v = dap->ctrl_stat;
    /* Power and reset requests are acknowledged immediately. */
    if (v & DP_CDBGPWRUPREQ)
        v |= DP_CDBGPWRUPACK;
    if (v & DP_CSYSPWRUPREQ)
        v |= DP_CSYSPWRUPACK;
    if (v & DP_CDBGRSTREQ)
        v |= DP_CDBGRSTACK;
    return v;
}

static void count(struct adiv5_dap *dap)
{
    if (dap->chip)
        chip_counters(dap->chip)->dbg_transactions++;
}

static void dp_access(struct adiv5_dap *dap, unsigned addr, bool rnw, uint32_t wdata)
{
    switch (addr) {
    case DP_REG_CTRLSTAT:
        if (rnw) {
            dap->latch = dap_ctrl_stat(dap);
        } else {
            uint32_t sticky = (dap->ctrl_stat & CTRLSTAT_STICKY) & ~(wdata & CTRLSTAT_STICKY);
            dap->ctrl_stat = (wdata & CTRLSTAT_RW_MASK) | sticky;
        }
        break;
    case DP_REG_SELECT:
        if (rnw)
            dap->latch = dap->select;
        else
            dap->select = wdata;
        break;
    case DP_REG_RDBUFF:
        /* Reading RDBUFF only carries the previous result out: the latch stays as it is. */
        break;
    default: /* DPIDR / reserved: OpenOCD never reads it over JTAG */
        if (rnw)
            dap->latch = 0;
        break;
    }
}

static void bus_error(struct adiv5_dap *dap)
{
    dap->ctrl_stat |= DP_STICKYERR;
}

/* A MEM-AP data access at addr with CSW.Size, moving data in its byte lane of the 32-bit DRW. */
static void mem_access(struct adiv5_dap *dap, uint32_t addr, bool rnw, uint32_t wdata)
{
    unsigned size_field = dap->csw & CSW_SIZE_MASK;
    if (size_field > 2) {
        bus_error(dap);
        if (rnw)
            dap->latch = 0;
        return;
    }
    unsigned size = 1u << size_field;
    unsigned shift = 8u * (addr & 3u & ~(size - 1u));
    if (addr & (size - 1u)) { /* unaligned: the AHB-AP cannot issue it */
        bus_error(dap);
        if (rnw)
            dap->latch = 0;
        return;
    }
    uint32_t lane_mask = size == 4 ? 0xFFFFFFFFu : ((1u << (8u * size)) - 1u);
    int rc;
    if (rnw) {
        uint32_t v = 0;
        rc = chip_dbg_read(dap->chip, addr, size, &v);
        dap->latch = rc == CHIP_OK ? (v & lane_mask) << shift : 0;
    } else {
        rc = chip_dbg_write(dap->chip, addr, size, (wdata >> shift) & lane_mask);
    }
    if (rc != CHIP_OK)
        bus_error(dap);
}

/* TAR auto-increment: the Cortex-M4 AHB-AP increments TAR[11:0] (wraps inside a 4 KB page);
 * OpenOCD relies on that and rewrites TAR only at 4 KB boundaries. The increment also happens after
 * a failed transfer, as on the Cortex-M4 (OpenOCD reads TAR back to see how far it got). */
static void tar_increment(struct adiv5_dap *dap)
{
    if ((dap->csw & CSW_ADDRINC_MASK) != CSW_ADDRINC_SINGLE)
        return;
    uint32_t step = 1u << (dap->csw & CSW_SIZE_MASK & 3u);
    dap->tar = (dap->tar & ~0xFFFu) | ((dap->tar + step) & 0xFFFu);
}

static void ap_access(struct adiv5_dap *dap, unsigned addr, bool rnw, uint32_t wdata)
{
    unsigned apsel = dap->select >> 24;
    unsigned reg = (dap->select & 0xF0u) | addr;
    /* A sticky error blocks AP transactions until the debugger clears it. */
    if (dap->ctrl_stat & (DP_STICKYERR | DP_STICKYORUN)) {
        if (rnw)
            dap->latch = 0;
        return;
    }
    if (apsel != 0) { /* no such AP: everything reads 0 (OpenOCD's AP search needs IDR = 0) */
        if (rnw)
            dap->latch = 0;
        return;
    }
    switch (reg) {
    case AP_REG_CSW:
        if (rnw)
            dap->latch = (dap->csw & CSW_RW_MASK) | CSW_DEVICEEN;
        else
            dap->csw = wdata & CSW_RW_MASK;
        break;
    case AP_REG_TAR:
        if (rnw)
            dap->latch = dap->tar;
        else
            dap->tar = wdata;
        break;
    case AP_REG_DRW:
        mem_access(dap, dap->tar, rnw, wdata);
        tar_increment(dap);
        break;
    case AP_REG_BD0:
    case AP_REG_BD0 + 4:
    case AP_REG_BD0 + 8:
    case AP_REG_BD0 + 12:
        /* Banked data: TAR[31:4] with the register's offset, no increment. */
        mem_access(dap, (dap->tar & ~0xFu) | (reg & 0xCu), rnw, wdata);
        break;
    case AP_REG_CFG:
        if (rnw)
            dap->latch = 0; /* little endian, 32-bit addresses and data */
        break;
    case AP_REG_BASE:
        if (rnw)
            dap->latch = AHB_AP_BASE;
        break;
    case AP_REG_IDR:
        if (rnw)
            dap->latch = AHB_AP_IDR;
        break;
    default: /* reserved, BASE64: read as zero, writes ignored */
        if (rnw)
            dap->latch = 0;
        break;
    }
}

void dap_access(struct adiv5_dap *dap, bool ap, unsigned addr, bool rnw, uint32_t wdata)
{
    count(dap);
    if (ap)
        ap_access(dap, addr & 0xCu, rnw, wdata);
    else
        dp_access(dap, addr & 0xCu, rnw, wdata);
}

void dap_abort(struct adiv5_dap *dap, uint32_t value)
{
    count(dap);
    /* DAPABORT cancels an AP transaction in progress; none ever is, since every access completes
     * at once. Bits 4:1 are SWD-only and reserved on a JTAG-DP. */
    (void)value;
}

/* ---- SW-DP (see adiv5_dap.h) ---- */

#define SWJ_RESET_ONES 50u
#define SWJ_TO_SWD     0xE79Eu
#define SWJ_TO_JTAG    0xE73Cu

void dap_swj_sequence(struct adiv5_dap *dap, const uint8_t *bits, unsigned nbits)
{
    for (unsigned i = 0; i < nbits; i++) {
        bool one = (bits[i / 8] >> (i % 8)) & 1u;
        if (dap->swj_sel_n) { /* capturing a select sequence that began after a line reset */
            dap->swj_sel |= (uint16_t)((one ? 1u : 0u) << dap->swj_sel_n);
            if (++dap->swj_sel_n == 16) {
                if (dap->swj_sel == SWJ_TO_SWD) {
                    dap->swd = true;
                    dap->swd_need_reset = true;
                } else if (dap->swj_sel == SWJ_TO_JTAG) {
                    dap->swd = false;
                }
                dap->swj_sel_n = 0;
            }
        }
        if (one) {
            if (++dap->swj_ones == SWJ_RESET_ONES && dap->swd) {
                /* line reset: the DP waits for a DPIDR read */
                dap->swd_need_reset = false;
                dap->swd_lockout = true;
            }
            continue;
        }
        /* a 0 after >= 50 ones: the first bit of a possible select sequence (both start with 0) */
        if (dap->swj_ones >= SWJ_RESET_ONES && !dap->swj_sel_n) {
            dap->swj_sel = 0;
            dap->swj_sel_n = 1;
        }
        dap->swj_ones = 0;
    }
}

static bool swd_sticky(const struct adiv5_dap *dap)
{
    return dap->ctrl_stat & (CTRLSTAT_STICKY | DP_WDATAERR);
}

enum swd_ack dap_swd_access(struct adiv5_dap *dap, bool ap, unsigned addr, bool rnw, uint32_t wdata,
                            uint32_t *rdata)
{
    uint32_t dummy;
    if (!rdata)
        rdata = &dummy;
    /* a transaction's header ends any run of ones on SWDIOTMS */
    dap->swj_ones = 0;
    dap->swj_sel_n = 0;
    if ((dap->chip && !chip_debug_port_alive(dap->chip)) || !dap->swd || dap->swd_need_reset)
        return SWD_ACK_NONE; /* nobody drives the line: the host reads ACK 0b111 */
    count(dap);
    addr &= 0xCu;
    if (dap->swd_lockout) {
        if (ap || !rnw || addr != DP_REG_DPIDR)
            return SWD_ACK_NONE;
        dap->swd_lockout = false;
    }
    if (!ap) {
        if (addr == DP_REG_DPIDR) {
            if (rnw) {
                *rdata = SWDP_DPIDR;
            } else { /* ABORT */
                uint32_t clr = 0;
                if (wdata & DP_ABORT_STKCMPCLR)
                    clr |= DP_STICKYCMP;
                if (wdata & DP_ABORT_STKERRCLR)
                    clr |= DP_STICKYERR;
                if (wdata & DP_ABORT_WDERRCLR)
                    clr |= DP_WDATAERR;
                if (wdata & DP_ABORT_ORUNERRCLR)
                    clr |= DP_STICKYORUN;
                dap->ctrl_stat &= ~clr;
            }
            return SWD_ACK_OK;
        }
        if (addr == DP_REG_CTRLSTAT && rnw) {
            *rdata = dap_ctrl_stat(dap);
            return SWD_ACK_OK;
        }
        if (swd_sticky(dap))
            return SWD_ACK_FAULT;
        switch (addr) {
        case DP_REG_CTRLSTAT: /* on SW-DP the sticky flags are read-only: ABORT clears them */
            dap->ctrl_stat = (wdata & CTRLSTAT_RW_MASK) | (dap->ctrl_stat & ~CTRLSTAT_RW_MASK);
            break;
        case DP_REG_SELECT:
            if (rnw)
                *rdata = dap->latch; /* RESEND: the last read data again */
            else
                dap->select = wdata;
            break;
        default: /* RDBUFF: the result of the last AP read; writes are ignored */
            if (rnw)
                *rdata = dap->latch;
            break;
        }
        return SWD_ACK_OK;
    }
    if (swd_sticky(dap))
        return SWD_ACK_FAULT;
    uint32_t previous = dap->latch;
    ap_access(dap, addr, rnw, wdata);
    if (rnw)
        *rdata = previous; /* posted: this read's data comes with the next AP read or RDBUFF */
    return SWD_ACK_OK;
}
