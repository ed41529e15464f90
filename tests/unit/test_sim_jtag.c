/* The JTAG front end of the virtual STM32F427, driven with remote_bitbang characters exactly as
 * OpenOCD 0.12.0 sends them (write with TCK low, sample 'R', write with TCK high): the TAP state
 * machine, IR/DR capture values, the 672-bit IDCODE interrogation, DPACC/APACC with posted reads,
 * TAR auto-increment across 1 KB and 4 KB, byte lanes, STICKYERR on a bus error, and the dead
 * port of RDP Level 2. Runs against the real chip (a fresh state file per test). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sim/adiv5_dap.h"
#include "../../sim/chip.h"
#include "../../sim/jtag_tap.h"
#include "../../sim/remote_bitbang.h"

#define SRAM     0x20000000u
#define UNMAPPED 0x30000000u /* nothing between the end of SRAM3 and the peripherals */

struct fx {
    char dir[64], path[96];
    chip_t *chip;
    struct rbb rbb;
    /* bitbang characters waiting to be processed */
    uint8_t q[1 << 16];
    size_t qn;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_sim_jtag.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/chip.state", f->dir);
    struct chip_config cfg = {
        .state_path = f->path, .create = true, .uid_seed = 7, .flash_kb = 2048};
    char err[256] = "";
    f->chip = chip_open(&cfg, err, sizeof err);
    if (!f->chip)
        fail_msg("chip_open: %s", err);
    rbb_init(&f->rbb, f->chip);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rbb_free(&f->rbb);
    chip_close(f->chip);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- a tiny bitbang probe ---- */

static void put(struct fx *f, char c)
{
    assert_true(f->qn < sizeof f->q);
    f->q[f->qn++] = (uint8_t)c;
}

/* One TCK cycle; sample TDO before the rising edge when asked (as bitbang_scan does). */
static void clk(struct fx *f, int tms, int tdi, bool sample)
{
    put(f, (char)('0' + (tms << 1 | tdi)));
    if (sample)
        put(f, 'R');
    put(f, (char)('4' + (tms << 1 | tdi)));
}

/* Runs the queued characters; returns the answers as bits (LSB first) in out. */
static size_t flush(struct fx *f, uint8_t *bits, size_t cap)
{
    uint8_t ans[sizeof f->q];
    bool quit;
    put(f, '0'); /* every OpenOCD queue ends with TCK low */
    size_t n = rbb_process(&f->rbb, f->q, f->qn, ans, &quit);
    f->qn = 0;
    assert_false(quit);
    assert_true(n <= cap || !bits);
    for (size_t i = 0; i < n; i++) {
        assert_true(ans[i] == '0' || ans[i] == '1');
        if (bits)
            bits[i] = ans[i] == '1';
    }
    return n;
}

static void tlr_idle(struct fx *f)
{
    for (int i = 0; i < 5; i++)
        clk(f, 1, 0, false);
    clk(f, 0, 0, false);
}

/* A scan of n bits from Run-Test/Idle back to Run-Test/Idle (ir: IR scan, else DR). */
static void scan(struct fx *f, bool ir, const uint8_t *in, uint8_t *out, size_t n)
{
    clk(f, 1, 0, false); /* DRSELECT */
    if (ir)
        clk(f, 1, 0, false); /* IRSELECT */
    clk(f, 0, 0, false);     /* CAPTURE */
    clk(f, 0, 0, false);     /* SHIFT */
    for (size_t i = 0; i < n; i++)
        clk(f, i + 1 == n, in[i], true); /* last bit moves to EXIT1 */
    clk(f, 1, 0, false);                 /* UPDATE */
    clk(f, 0, 0, false);                 /* IDLE */
    assert_int_equal(flush(f, out, n), n);
}

static uint64_t bits_to_u64(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << i;
    return v;
}

static void u64_to_bits(uint64_t v, uint8_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        b[i] = (v >> i) & 1u;
}

/* Selects a JTAG-DP instruction with the boundary-scan TAP in BYPASS; returns the IR capture. */
static uint64_t set_ir(struct fx *f, unsigned dp_ir)
{
    uint8_t in[9], out[9];
    u64_to_bits(dp_ir | (JTAG_BS_IR_BYPASS << 4), in, 9);
    scan(f, true, in, out, 9);
    return bits_to_u64(out, 9);
}

/* One 35-bit DPACC/APACC scan (plus the bypass bit); returns the captured 35 bits. */
static uint64_t dap_scan(struct fx *f, unsigned a, bool rnw, uint32_t data)
{
    uint8_t in[36], out[36];
    uint64_t v = ((uint64_t)data << 3) | ((uint64_t)(a >> 2) << 1) | (rnw ? 1u : 0u);
    u64_to_bits(v, in, 35);
    in[35] = 0;
    scan(f, false, in, out, 36);
    assert_int_equal(out[35], 0); /* the BS TAP's bypass bit captures 0 */
    uint64_t cap = bits_to_u64(out, 35);
    assert_int_equal(cap & 7u, JTAG_ACK_OK_FAULT);
    return cap;
}

static unsigned cur_ir = 0xFF;

static void dpacc_w(struct fx *f, unsigned a, uint32_t v)
{
    if (cur_ir != JTAG_DP_IR_DPACC)
        set_ir(f, cur_ir = JTAG_DP_IR_DPACC);
    dap_scan(f, a, false, v);
}

/* A posted read: the value comes out of the following RDBUFF scan. */
static uint32_t dpacc_r(struct fx *f, unsigned a)
{
    if (cur_ir != JTAG_DP_IR_DPACC)
        set_ir(f, cur_ir = JTAG_DP_IR_DPACC);
    dap_scan(f, a, true, 0);
    return (uint32_t)(dap_scan(f, DP_REG_RDBUFF, true, 0) >> 3);
}

static void apacc_w(struct fx *f, unsigned a, uint32_t v)
{
    if (cur_ir != JTAG_DP_IR_APACC)
        set_ir(f, cur_ir = JTAG_DP_IR_APACC);
    dap_scan(f, a, false, v);
}

static uint32_t apacc_r(struct fx *f, unsigned a)
{
    if (cur_ir != JTAG_DP_IR_APACC)
        set_ir(f, cur_ir = JTAG_DP_IR_APACC);
    dap_scan(f, a, true, 0);
    set_ir(f, cur_ir = JTAG_DP_IR_DPACC);
    return (uint32_t)(dap_scan(f, DP_REG_RDBUFF, true, 0) >> 3);
}

/* OpenOCD's DP init (FACTS §3.1). */
static void dp_power_up(struct fx *f)
{
    cur_ir = 0xFF;
    tlr_idle(f);
    flush(f, NULL, 0);
    dpacc_w(f, DP_REG_CTRLSTAT, 0x50000020);
    assert_int_equal(dpacc_r(f, DP_REG_CTRLSTAT), 0xF0000000u);
}

static void ap_select(struct fx *f, uint32_t sel)
{
    dpacc_w(f, DP_REG_SELECT, sel);
}

/* ---- tests ---- */

static void test_tap_state_machine(void **state)
{
    (void)state;
    static const struct {
        enum tap_state from;
        int tms;
        enum tap_state to;
    } path[] = {
        {TAP_RESET, 1, TAP_RESET},        {TAP_RESET, 0, TAP_IDLE},
        {TAP_IDLE, 0, TAP_IDLE},          {TAP_IDLE, 1, TAP_DRSELECT},
        {TAP_DRSELECT, 0, TAP_DRCAPTURE}, {TAP_DRCAPTURE, 0, TAP_DRSHIFT},
        {TAP_DRSHIFT, 0, TAP_DRSHIFT},    {TAP_DRSHIFT, 1, TAP_DREXIT1},
        {TAP_DREXIT1, 0, TAP_DRPAUSE},    {TAP_DRPAUSE, 0, TAP_DRPAUSE},
        {TAP_DRPAUSE, 1, TAP_DREXIT2},    {TAP_DREXIT2, 0, TAP_DRSHIFT},
        {TAP_DREXIT2, 1, TAP_DRUPDATE},   {TAP_DREXIT1, 1, TAP_DRUPDATE},
        {TAP_DRCAPTURE, 1, TAP_DREXIT1},  {TAP_DRUPDATE, 0, TAP_IDLE},
        {TAP_DRUPDATE, 1, TAP_DRSELECT},  {TAP_DRSELECT, 1, TAP_IRSELECT},
        {TAP_IRSELECT, 1, TAP_RESET},     {TAP_IRSELECT, 0, TAP_IRCAPTURE},
        {TAP_IRCAPTURE, 0, TAP_IRSHIFT},  {TAP_IRCAPTURE, 1, TAP_IREXIT1},
        {TAP_IRSHIFT, 0, TAP_IRSHIFT},    {TAP_IRSHIFT, 1, TAP_IREXIT1},
        {TAP_IREXIT1, 0, TAP_IRPAUSE},    {TAP_IREXIT1, 1, TAP_IRUPDATE},
        {TAP_IRPAUSE, 0, TAP_IRPAUSE},    {TAP_IRPAUSE, 1, TAP_IREXIT2},
        {TAP_IREXIT2, 0, TAP_IRSHIFT},    {TAP_IREXIT2, 1, TAP_IRUPDATE},
        {TAP_IRUPDATE, 0, TAP_IDLE},      {TAP_IRUPDATE, 1, TAP_DRSELECT},
    };
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) {
        enum tap_state got = tap_next_state(path[i].from, path[i].tms);
        if (got != path[i].to)
            fail_msg("%s --tms=%d--> %s, want %s", tap_state_name(path[i].from), path[i].tms,
                     tap_state_name(got), tap_state_name(path[i].to));
    }
    /* Five TMS=1 clocks reach Test-Logic-Reset from every state. */
    for (int s = 0; s < TAP_NUM_STATES; s++) {
        enum tap_state t = (enum tap_state)s;
        for (int i = 0; i < 5; i++)
            t = tap_next_state(t, 1);
        assert_int_equal(t, TAP_RESET);
    }
}

static void test_tlr_selects_idcode_and_trst(void **state)
{
    struct fx *f = *state;
    struct jtag_chain *c = &f->rbb.chain;
    tlr_idle(f);
    flush(f, NULL, 0);
    set_ir(f, JTAG_DP_IR_DPACC);
    assert_int_equal(c->dp_ir, JTAG_DP_IR_DPACC);
    assert_int_equal(c->bs_ir, JTAG_BS_IR_BYPASS);
    assert_int_equal(c->state, TAP_IDLE);
    tlr_idle(f);
    flush(f, NULL, 0);
    assert_int_equal(c->dp_ir, JTAG_DP_IR_IDCODE);
    assert_int_equal(c->bs_ir, JTAG_BS_IR_IDCODE);
    /* TRST ('t') resets too, and TCK edges do nothing while it is held. */
    set_ir(f, JTAG_DP_IR_APACC);
    put(f, 't');
    clk(f, 0, 0, false);
    put(f, 'r');
    flush(f, NULL, 0);
    assert_int_equal(c->state, TAP_RESET); /* TRST held the TAPs in Test-Logic-Reset */
    assert_int_equal(c->dp_ir, JTAG_DP_IR_IDCODE);
}

static void test_idcode_chain_scan_672_ones(void **state)
{
    struct fx *f = *state;
    enum { N = 672 };
    uint8_t in[N], out[N];
    memset(in, 1, sizeof in);
    tlr_idle(f);
    flush(f, NULL, 0);
    scan(f, false, in, out, N);
    assert_int_equal(bits_to_u64(out, 32), JTAG_DP_IDCODE);
    assert_int_equal(bits_to_u64(out + 32, 32), JTAG_BS_IDCODE);
    for (size_t i = 64; i < N; i++)
        if (out[i] != 1)
            fail_msg("bit %zu after the chain is %u, want the ones shifted in", i, out[i]);
}

static void test_ir_capture(void **state)
{
    struct fx *f = *state;
    uint8_t in[11], out[11];
    memset(in, 1, sizeof in);
    tlr_idle(f);
    flush(f, NULL, 0);
    scan(f, true, in, out, 11);
    uint64_t v = bits_to_u64(out, 11);
    assert_int_equal(v & 0xFu, 0x1u);        /* JTAG-DP: 0b0001 */
    assert_int_equal((v >> 4) & 0x3u, 0x1u); /* boundary scan: 0bxxx01 */
    assert_int_equal((v >> 9) & 0x3u, 0x3u); /* the ones behind the chain */
    /* Every later IR scan captures the same. */
    assert_int_equal(set_ir(f, JTAG_DP_IR_DPACC) & 0x1Fu, 0x11u);
    assert_int_equal(set_ir(f, JTAG_DP_IR_BYPASS) & 0x1Fu, 0x11u);
}

static void test_bypass_both(void **state)
{
    struct fx *f = *state;
    uint8_t in[40], out[40];
    tlr_idle(f);
    flush(f, NULL, 0);
    set_ir(f, JTAG_DP_IR_BYPASS);
    for (int i = 0; i < 40; i++)
        in[i] = (uint8_t)((i * 7 + 3) % 5 < 2);
    scan(f, false, in, out, 40);
    /* Two one-bit registers capturing 0, then the input delayed by two clocks. */
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 0);
    for (int i = 2; i < 40; i++)
        assert_int_equal(out[i], in[i - 2]);
}

static void test_dp_power_up_and_sticky(void **state)
{
    struct fx *f = *state;
    dp_power_up(f);
    dpacc_w(f, DP_REG_CTRLSTAT, 0x50000000);
    assert_int_equal(dpacc_r(f, DP_REG_CTRLSTAT), 0xF0000000u);
    dpacc_w(f, DP_REG_CTRLSTAT, 0x50000001);
    assert_int_equal(dpacc_r(f, DP_REG_CTRLSTAT), 0xF0000001u);
    /* SELECT reads back; RDBUFF carries the previous result without changing it. */
    dpacc_w(f, DP_REG_SELECT, 0x000000F0);
    assert_int_equal(dpacc_r(f, DP_REG_SELECT), 0xF0u);
    assert_int_equal((uint32_t)(dap_scan(f, DP_REG_RDBUFF, true, 0) >> 3), 0xF0u);
    /* Dropping the requests drops the ACKs at once. */
    dpacc_w(f, DP_REG_CTRLSTAT, 0);
    assert_int_equal(dpacc_r(f, DP_REG_CTRLSTAT), 0u);
}

static void test_ap_identification_posted(void **state)
{
    struct fx *f = *state;
    dp_power_up(f);
    ap_select(f, 0xF0);
    /* Back-to-back posted reads: each scan carries the previous read's result. */
    set_ir(f, cur_ir = JTAG_DP_IR_APACC);
    dap_scan(f, 0xC, true, 0);                                  /* IDR */
    uint32_t idr = (uint32_t)(dap_scan(f, 0x4, true, 0) >> 3);  /* CFG read, IDR out */
    uint32_t cfg = (uint32_t)(dap_scan(f, 0x8, true, 0) >> 3);  /* BASE read, CFG out */
    uint32_t base = (uint32_t)(dap_scan(f, 0x0, true, 0) >> 3); /* BASE64, BASE out */
    set_ir(f, cur_ir = JTAG_DP_IR_DPACC);
    uint32_t base64 = (uint32_t)(dap_scan(f, DP_REG_RDBUFF, true, 0) >> 3);
    assert_int_equal(idr, AHB_AP_IDR);
    assert_int_equal(cfg, 0);
    assert_int_equal(base, AHB_AP_BASE);
    assert_int_equal(base64, 0);
    /* A DP read in between shares the same latch. */
    set_ir(f, cur_ir = JTAG_DP_IR_APACC);
    dap_scan(f, 0xC, true, 0);
    set_ir(f, cur_ir = JTAG_DP_IR_DPACC);
    assert_int_equal((uint32_t)(dap_scan(f, DP_REG_CTRLSTAT, true, 0) >> 3), AHB_AP_IDR);
    assert_int_equal((uint32_t)(dap_scan(f, DP_REG_RDBUFF, true, 0) >> 3), 0xF0000000u);
    /* APs other than 0 read IDR = 0 (OpenOCD's AP search stops there). */
    ap_select(f, 0x010000F0);
    assert_int_equal(apacc_r(f, 0xC), 0);
    ap_select(f, 0xF0);
    assert_int_equal(apacc_r(f, 0xC), AHB_AP_IDR);
}

static void test_csw_packed_disabled(void **state)
{
    struct fx *f = *state;
    dp_power_up(f);
    ap_select(f, 0);
    assert_int_equal(apacc_r(f, AP_REG_CSW), AHB_AP_CSW_RESET);
    apacc_w(f, AP_REG_CSW, 0xA2000020); /* OpenOCD's packed-transfer probe */
    apacc_w(f, AP_REG_TAR, 0);
    uint32_t csw = apacc_r(f, AP_REG_CSW);
    assert_int_equal(csw & 0x30u, 0);   /* AddrInc does not read back as packed */
    assert_int_equal(csw, 0xA2000040u); /* DeviceEn reads 1 */
    apacc_w(f, AP_REG_CSW, 0xA2000012);
    assert_int_equal(apacc_r(f, AP_REG_CSW), 0xA2000052u);
}

static void write_words(struct fx *f, uint32_t tar, const uint32_t *w, unsigned n)
{
    apacc_w(f, AP_REG_CSW, 0xA2000012);
    apacc_w(f, AP_REG_TAR, tar);
    for (unsigned i = 0; i < n; i++)
        apacc_w(f, AP_REG_DRW, w[i]);
}

static void test_tar_autoincrement_1k_and_4k(void **state)
{
    struct fx *f = *state;
    dp_power_up(f);
    ap_select(f, 0);
    uint32_t w[8];
    for (unsigned i = 0; i < 8; i++)
        w[i] = 0xA5000000u + i * 0x01010101u;
    /* Across a 1 KB boundary: no wrap (OpenOCD only rewrites TAR every 4 KB). */
    write_words(f, SRAM + 0x3F8, w, 4);
    assert_int_equal(apacc_r(f, AP_REG_TAR), SRAM + 0x408);
    for (unsigned i = 0; i < 4; i++) {
        uint32_t v = 0;
        assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x3F8 + 4 * i, 4, &v), CHIP_OK);
        assert_int_equal(v, w[i]);
    }
    /* Block read back through DRW with posted reads, across the same boundary. */
    apacc_w(f, AP_REG_TAR, SRAM + 0x3F8);
    set_ir(f, cur_ir = JTAG_DP_IR_APACC);
    dap_scan(f, AP_REG_DRW, true, 0);
    for (unsigned i = 0; i < 4; i++) {
        uint64_t cap = i < 3 ? dap_scan(f, AP_REG_DRW, true, 0) : 0;
        if (i == 3) {
            set_ir(f, cur_ir = JTAG_DP_IR_DPACC);
            cap = dap_scan(f, DP_REG_RDBUFF, true, 0);
        }
        assert_int_equal((uint32_t)(cap >> 3), w[i]);
    }
    /* Across a 4 KB boundary: TAR[11:0] wraps inside the 4 KB page as on a Cortex-M4. */
    assert_int_equal(chip_dbg_write(f->chip, SRAM + 0x1000, 4, 0x11111111), CHIP_OK);
    assert_int_equal(chip_dbg_write(f->chip, SRAM + 0x0000, 4, 0x22222222), CHIP_OK);
    write_words(f, SRAM + 0xFF8, w + 4, 4);
    assert_int_equal(apacc_r(f, AP_REG_TAR), SRAM + 0x008);
    uint32_t v = 0;
    assert_int_equal(chip_dbg_read(f->chip, SRAM + 0xFFC, 4, &v), CHIP_OK);
    assert_int_equal(v, w[5]);
    assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x0000, 4, &v), CHIP_OK);
    assert_int_equal(v, w[6]);
    assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x1000, 4, &v), CHIP_OK);
    assert_int_equal(v, 0x11111111u);
    /* AddrInc off: TAR stays. */
    apacc_w(f, AP_REG_CSW, 0xA2000002);
    apacc_w(f, AP_REG_TAR, SRAM + 0x100);
    apacc_w(f, AP_REG_DRW, 1);
    apacc_w(f, AP_REG_DRW, 2);
    assert_int_equal(apacc_r(f, AP_REG_TAR), SRAM + 0x100);
    assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x100, 4, &v), CHIP_OK);
    assert_int_equal(v, 2);
}

static void test_byte_and_halfword_lanes(void **state)
{
    struct fx *f = *state;
    dp_power_up(f);
    ap_select(f, 0);
    assert_int_equal(chip_dbg_write(f->chip, SRAM + 0x200, 4, 0x44332211), CHIP_OK);
    assert_int_equal(chip_dbg_write(f->chip, SRAM + 0x204, 4, 0x88776655), CHIP_OK);
    /* Byte reads: byte at A arrives in bits 8*(A&3)+7:8*(A&3); TAR steps by 1. */
    apacc_w(f, AP_REG_CSW, 0xA2000010);
    apacc_w(f, AP_REG_TAR, SRAM + 0x201);
    assert_int_equal(apacc_r(f, AP_REG_DRW), 0x00002200u);
    assert_int_equal(apacc_r(f, AP_REG_DRW), 0x00330000u);
    assert_int_equal(apacc_r(f, AP_REG_DRW), 0x44000000u);
    assert_int_equal(apacc_r(f, AP_REG_TAR), SRAM + 0x204);
    /* Byte write takes its lane only. */
    apacc_w(f, AP_REG_TAR, SRAM + 0x202);
    apacc_w(f, AP_REG_DRW, 0x11AB2233u);
    uint32_t v = 0;
    assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x200, 4, &v), CHIP_OK);
    assert_int_equal(v, 0x44AB2211u);
    /* Halfwords: bits 15:0 or 31:16. */
    apacc_w(f, AP_REG_CSW, 0xA2000011);
    apacc_w(f, AP_REG_TAR, SRAM + 0x206);
    assert_int_equal(apacc_r(f, AP_REG_DRW), 0x88770000u);
    apacc_w(f, AP_REG_TAR, SRAM + 0x204);
    apacc_w(f, AP_REG_DRW, 0xFFFFBEEFu);
    apacc_w(f, AP_REG_DRW, 0xCAFE0000u);
    assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x204, 4, &v), CHIP_OK);
    assert_int_equal(v, 0xCAFEBEEFu);
    /* Banked data registers: (TAR & ~0xF) + offset, word size, no increment. */
    apacc_w(f, AP_REG_CSW, 0xA2000002);
    apacc_w(f, AP_REG_TAR, SRAM + 0x200);
    ap_select(f, 0x10); /* bank 1: BD0-BD3 */
    assert_int_equal(apacc_r(f, 0x4), 0xCAFEBEEFu);
    apacc_w(f, 0x8, 0x5A5A5A5A);
    assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x208, 4, &v), CHIP_OK);
    assert_int_equal(v, 0x5A5A5A5Au);
    ap_select(f, 0);
    assert_int_equal(apacc_r(f, AP_REG_TAR), SRAM + 0x200);
}

static void test_stickyerr_on_bus_error(void **state)
{
    struct fx *f = *state;
    dp_power_up(f);
    ap_select(f, 0);
    apacc_w(f, AP_REG_CSW, 0xA2000012);
    apacc_w(f, AP_REG_TAR, UNMAPPED);
    apacc_r(f, AP_REG_DRW);
    uint32_t cs = dpacc_r(f, DP_REG_CTRLSTAT);
    assert_int_equal(cs & DP_STICKYERR, DP_STICKYERR);
    /* While the sticky flag is set, AP transactions are dropped. */
    apacc_w(f, AP_REG_TAR, SRAM);
    ap_select(f, 0xF0);
    assert_int_equal(apacc_r(f, 0xC), 0);
    /* OpenOCD clears it by writing 1 (w1c) with the power requests kept. */
    dpacc_w(f, DP_REG_CTRLSTAT, 0x50000020);
    cs = dpacc_r(f, DP_REG_CTRLSTAT);
    assert_int_equal(cs & DP_STICKYERR, 0);
    assert_int_equal(cs, 0xF0000000u);
    assert_int_equal(apacc_r(f, 0xC), AHB_AP_IDR);
    /* The TAR write made while sticky was dropped; the failed read still incremented TAR. */
    ap_select(f, 0);
    assert_int_equal(apacc_r(f, AP_REG_TAR), UNMAPPED + 4);
    /* Writes fault too; unaligned word accesses fault without touching memory. */
    apacc_w(f, AP_REG_DRW, 0x1234);
    assert_int_equal(dpacc_r(f, DP_REG_CTRLSTAT) & DP_STICKYERR, DP_STICKYERR);
    dpacc_w(f, DP_REG_CTRLSTAT, 0x50000020);
    apacc_w(f, AP_REG_TAR, SRAM + 0x302);
    apacc_w(f, AP_REG_DRW, 0x1234);
    assert_int_equal(dpacc_r(f, DP_REG_CTRLSTAT) & DP_STICKYERR, DP_STICKYERR);
}

static void test_counters_and_protocol(void **state)
{
    struct fx *f = *state;
    struct chip_counters *c = chip_counters(f->chip);
    dp_power_up(f);
    uint64_t t0 = c->dbg_transactions, in0 = c->dbg_bytes_in, out0 = c->dbg_bytes_out;
    uint64_t rt0 = c->dbg_round_trips;
    dpacc_w(f, DP_REG_SELECT, 0); /* 1 transaction */
    dpacc_r(f, DP_REG_CTRLSTAT);  /* 2 transactions */
    assert_int_equal(c->dbg_transactions - t0, 3);
    assert_true(c->dbg_bytes_in > in0);
    assert_true(c->dbg_round_trips > rt0);
    /* Blink and reset-line characters need no answer; each 'R' gets exactly one byte; 'Q' stops
     * processing. */
    const char *s = "BbrRRBbRQRRR";
    uint8_t ans[16];
    bool quit;
    size_t n = rbb_process(&f->rbb, (const uint8_t *)s, strlen(s), ans, &quit);
    assert_true(quit);
    assert_int_equal(n, 3);
    assert_int_equal(c->dbg_bytes_out - out0 >= 3, 1);
}

/* SRST ('s' then 'r') resets the system: with reset vector catch armed the core halts. */
static void test_srst_resets_chip(void **state)
{
    struct fx *f = *state;
    /* A vector table in flash is not needed: the core halts before the first instruction. */
    assert_int_equal(chip_dbg_write(f->chip, 0xE000EDF0, 4, 0xA05F0003), CHIP_OK);
    assert_true(chip_is_halted(f->chip));
    assert_int_equal(chip_dbg_write(f->chip, 0xE000EDFC, 4, 0x01000001), CHIP_OK);
    assert_int_equal(chip_dbg_write(f->chip, 0xE000EDF0, 4, 0xA05F0001), CHIP_OK);
    bool quit;
    uint8_t ans[4];
    rbb_process(&f->rbb, (const uint8_t *)"s", 1, ans, &quit);
    rbb_process(&f->rbb, (const uint8_t *)"r", 1, ans, &quit);
    chip_run(f->chip, 1000);
    assert_true(chip_is_halted(f->chip));
    assert_true(chip_halt_reason(f->chip) & CHIP_HALT_VCATCH);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tap_state_machine),
        T(test_tlr_selects_idcode_and_trst),
        T(test_idcode_chain_scan_672_ones),
        T(test_ir_capture),
        T(test_bypass_both),
        T(test_dp_power_up_and_sticky),
        T(test_ap_identification_posted),
        T(test_csw_packed_disabled),
        T(test_tar_autoincrement_1k_and_4k),
        T(test_byte_and_halfword_lanes),
        T(test_stickyerr_on_bus_error),
        T(test_counters_and_protocol),
        T(test_srst_resets_chip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
