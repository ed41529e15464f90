/* The ADIv5 debug port as the CMSIS-DAP backend drives it (cmsisdap.h): SWJ-DP switched to SWD
 * (line reset, 0xE79E, line reset, DPIDR read), DP powered up (CTRL/STAT CSYSPWRUPREQ |
 * CDBGPWRUPREQ), AP 0 an AHB-AP; memory through CSW/TAR/DRW with TAR rewritten only at 4 KB
 * boundaries (the Cortex-M4's auto-increment page), words as DAP_TransferBlock, bytes and
 * halfwords at the unaligned ends. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "cmsisdap.h"

void adi_forget(pv_probe *p)
{
    p->sel_ok = p->csw_ok = p->tar_ok = false;
}

/* ---- DP and AP registers ---- */

int adi_dp_write(pv_probe *p, unsigned addr, uint32_t v)
{
    return dap_q_xfer(p, (uint8_t)(addr & 0xCu), v, NULL, 0, 0);
}

int adi_dp_read(pv_probe *p, unsigned addr, uint32_t *dst)
{
    return dap_q_xfer(p, (uint8_t)((addr & 0xCu) | REQ_RNW), 0, dst, 0, 0);
}

static int adi_select(pv_probe *p, unsigned apreg)
{
    uint32_t sel = apreg & 0xF0u; /* AP 0, bank of the register */
    if (p->sel_ok && p->sel == sel)
        return PV_PROBE_OK;
    p->sel = sel;
    p->sel_ok = true;
    return adi_dp_write(p, DP_SELECT, sel);
}

int adi_ap_write(pv_probe *p, unsigned reg, uint32_t v)
{
    int rc = adi_select(p, reg);
    return rc ? rc : dap_q_xfer(p, (uint8_t)(REQ_AP | (reg & 0xCu)), v, NULL, 0, 0);
}

int adi_ap_read(pv_probe *p, unsigned reg, uint32_t *dst, uint32_t mask, uint32_t want)
{
    int rc = adi_select(p, reg);
    return rc ? rc : dap_q_xfer(p, (uint8_t)(REQ_AP | REQ_RNW | (reg & 0xCu)), 0, dst, mask, want);
}

int adi_csw(pv_probe *p, uint32_t size_bits)
{
    uint32_t csw = CSW_BASE | CSW_INC | size_bits;
    if (p->csw_ok && p->csw == csw)
        return PV_PROBE_OK;
    p->csw = csw;
    p->csw_ok = true;
    return adi_ap_write(p, AP_CSW, csw);
}

int adi_tar(pv_probe *p, uint32_t addr)
{
    if (p->tar_ok && p->tar == addr)
        return PV_PROBE_OK;
    p->tar = addr;
    p->tar_ok = true;
    return adi_ap_write(p, AP_TAR, addr);
}

/* DRW word transfers as DAP_TransferBlock packets; TAR and CSW must be set up. Reads go to raw
 * (little endian words = memory bytes); writes come from wraw. */
static int adi_block(pv_probe *p, bool rnw, uint8_t *raw, const uint8_t *wraw, uint32_t n)
{
    int rc = adi_select(p, AP_DRW);
    return rc ? rc : dap_q_block(p, (uint8_t)(REQ_AP | AP_DRW), rnw, raw, wraw, n);
}

/* Clears the DP's sticky flags after a failure; if the DP stopped answering, tries a line reset
 * once before calling it dead. */
int adi_recover(pv_probe *p, uint8_t ack)
{
    adi_forget(p);
    if ((ack & 7u) == DAP_ACK_NONE || (ack & DAP_RESP_PROTO)) {
        uint32_t id = 0;
        int rc = adi_swd_attach(p, &id);
        if (rc)
            return rc;
    }
    p->now = (struct ctx){.op = OP_SETUP};
    int rc = adi_dp_write(p, DP_ABORT, ABORT_CLEAR | ((ack & 7u) == DAP_ACK_WAIT ? ABORT_DAP : 0));
    return rc ? rc : dap_drain(p);
}

/* ---- SWD bring-up ---- */

/* Line reset, JTAG-to-SWD switch, line reset, idle; then the DPIDR read the DP insists on. */
int adi_swd_attach(pv_probe *p, uint32_t *dpidr)
{
    /* 56 ones, 0xE79E (LSB first), 56 ones, 8 idle cycles: 136 bits */
    uint8_t seq[2 + 19] = {DAP_ID_SWJ_SEQUENCE, 56 + 16 + 56 + 8};
    memset(seq + 2, 0xFF, 7);
    seq[9] = 0x9E;
    seq[10] = 0xE7;
    memset(seq + 11, 0xFF, 7);
    seq[18] = 0x00;
    int rc = dap_command_ok(p, seq, 19, "DAP_SWJ_Sequence (JTAG-to-SWD switch)");
    if (rc)
        return rc;
    adi_forget(p);
    p->now = (struct ctx){.op = OP_SETUP};
    if ((rc = adi_dp_read(p, DP_DPIDR, dpidr)) != 0)
        return rc;
    rc = dap_q_close(p);
    while (!rc && p->fl_n)
        rc = dap_receive_one(p);
    p->nslots = 0;
    if (rc)
        return rc;
    if (p->err_code) {
        uint8_t ack = p->err_ack;
        p->err_code = 0;
        p->err_ack = 0;
        if ((ack & 7u) == DAP_ACK_NONE)
            return fail(p, PV_PROBE_ERR_DEAD,
                        "cmsis-dap: the target's debug port does not answer (no SWD ACK to the "
                        "DPIDR read): RDP Level 2 has disabled it for good, or the target is "
                        "unpowered or not wired");
        return fail(p, dap_ack_code(ack), "cmsis-dap: reading DPIDR failed: %s", dap_ack_text(ack));
    }
    return PV_PROBE_OK;
}

int adi_power_up(pv_probe *p)
{
    p->now = (struct ctx){.op = OP_SETUP};
    int rc = adi_dp_write(p, DP_ABORT, ABORT_CLEAR);
    if (!rc)
        rc = adi_dp_write(p, DP_SELECT, 0);
    if (!rc)
        rc = adi_dp_write(p, DP_CTRLSTAT, PWRUP_REQ);
    p->sel = 0;
    p->sel_ok = true;
    uint64_t end = pv_probe_now_ms() + (uint64_t)p->timeout_ms;
    uint32_t cs = 0;
    while (!rc) {
        if ((rc = adi_dp_read(p, DP_CTRLSTAT, &cs)) != 0 || (rc = dap_drain(p)) != 0)
            break;
        if ((cs & PWRUP_ACK) == PWRUP_ACK)
            return PV_PROBE_OK;
        if (pv_probe_now_ms() >= end)
            return fail(p, PV_PROBE_ERR_TIMEOUT,
                        "cmsis-dap: the debug domain did not power up (CTRL/STAT 0x%08x)",
                        (unsigned)cs);
        dap_sleep_ms(1);
    }
    return rc;
}

/* ---- memory ---- */

/* Access sizes: bytes and halfwords at the unaligned ends, words (in 4 KB pages) between. */
struct piece {
    uint32_t addr;
    unsigned size; /* 1, 2 or 4 */
    uint32_t words;
    size_t off;
};

static size_t plan(uint32_t addr, size_t len, struct piece *pc)
{
    size_t n = 0, off = 0;
    while (len) {
        unsigned size;
        uint32_t words = 1;
        if ((addr & 3u) == 0 && len >= 4) {
            size = 4;
            uint32_t page_left = (0x1000u - (addr & 0xFFFu)) / 4u;
            words = (uint32_t)(len / 4 < page_left ? len / 4 : page_left);
        } else if ((addr & 1u) == 0 && len >= 2) {
            size = 2;
        } else {
            size = 1;
        }
        pc[n++] = (struct piece){.addr = addr, .size = size, .words = words, .off = off};
        uint32_t bytes = size == 4 ? 4u * words : size;
        addr += bytes;
        off += bytes;
        len -= bytes;
        if (n == 64)
            break; /* caller loops */
    }
    return n;
}

static int csw_for(pv_probe *p, unsigned size)
{
    return adi_csw(p, size == 4 ? 2u : size == 2 ? 1u : 0u);
}

static size_t planned_bytes(const struct piece *pc, size_t n)
{
    return n ? pc[n - 1].off + (pc[n - 1].size == 4 ? 4u * pc[n - 1].words : pc[n - 1].size) : 0;
}

int adi_read_mem(pv_probe *p, uint32_t addr, void *buf, size_t len)
{
    uint8_t *b = buf;
    struct piece pc[64];
    uint32_t sub[64];
    int rc = PV_PROBE_OK;
    while (len && !rc) {
        size_t n = plan(addr, len, pc);
        for (size_t i = 0; i < n && !rc; i++) {
            p->now = (struct ctx){.op = OP_MEM_READ, .addr = pc[i].addr};
            if (!(rc = csw_for(p, pc[i].size)) && !(rc = adi_tar(p, pc[i].addr))) {
                if (pc[i].size == 4) {
                    rc = adi_block(p, true, b + pc[i].off, NULL, pc[i].words);
                    p->tar = (pc[i].addr & ~0xFFFu) | ((pc[i].addr + 4u * pc[i].words) & 0xFFFu);
                } else {
                    rc = adi_ap_read(p, AP_DRW, &sub[i], 0, 0);
                    p->tar = pc[i].addr + pc[i].size;
                }
            }
        }
        if (!rc)
            rc = dap_drain(p);
        for (size_t i = 0; i < n && !rc; i++) {
            if (pc[i].size == 4)
                continue;
            uint32_t v = sub[i] >> (8u * (pc[i].addr & 3u));
            b[pc[i].off] = (uint8_t)v;
            if (pc[i].size == 2)
                b[pc[i].off + 1] = (uint8_t)(v >> 8);
        }
        size_t done = planned_bytes(pc, n);
        addr += (uint32_t)done;
        b += done;
        len -= done;
    }
    if (rc)
        adi_forget(p);
    return rc;
}

int adi_write_mem(pv_probe *p, uint32_t addr, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    struct piece pc[64];
    int rc = PV_PROBE_OK;
    while (len && !rc) {
        size_t n = plan(addr, len, pc);
        for (size_t i = 0; i < n && !rc; i++) {
            p->now = (struct ctx){.op = OP_MEM_WRITE, .addr = pc[i].addr};
            if ((rc = csw_for(p, pc[i].size)) != 0 || (rc = adi_tar(p, pc[i].addr)) != 0)
                break;
            if (pc[i].size == 4) {
                rc = adi_block(p, false, NULL, b + pc[i].off, pc[i].words);
                p->tar = (pc[i].addr & ~0xFFFu) | ((pc[i].addr + 4u * pc[i].words) & 0xFFFu);
            } else {
                uint32_t v = b[pc[i].off];
                if (pc[i].size == 2)
                    v |= (uint32_t)b[pc[i].off + 1] << 8;
                rc = adi_ap_write(p, AP_DRW, v << (8u * (pc[i].addr & 3u)));
                p->tar = pc[i].addr + pc[i].size;
            }
        }
        size_t done = planned_bytes(pc, n);
        addr += (uint32_t)done;
        b += done;
        len -= done;
    }
    return rc; /* posted: failures surface at the next call that needs an answer */
}
