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
