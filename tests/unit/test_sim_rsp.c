/* The GDB remote serial protocol server against the real chip, without sockets: packet framing,
 * checksums, acks and retransmission, binary escapes, no-ack mode, registers with OpenOCD's
 * numbering, memory, target.xml and memory map, monitor commands, breakpoints, interrupt, and
 * flash programming with vFlash*. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sim/chip.h"
#include "../../sim/gdb_rsp.h"

#define SRAM 0x20000000u

struct fx {
    char dir[64], path[96];
    chip_t *chip;
    struct gdb_server g;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_sim_rsp.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/chip.state", f->dir);
    struct chip_config cfg = {
        .state_path = f->path, .create = true, .uid_seed = 11, .flash_kb = 2048};
    char err[256] = "";
    f->chip = chip_open(&cfg, err, sizeof err);
    if (!f->chip)
        fail_msg("chip_open: %s", err);
    assert_int_equal(gdb_init(&f->g, f->chip), 0);
    gdb_attach(&f->g);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gdb_detach(&f->g);
    gdb_free(&f->g);
    chip_close(f->chip);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- client side helpers ---- */

static void feed(struct fx *f, const void *data, size_t len)
{
    assert_true(gdb_input(&f->g, data, len));
}

/* Frames a payload as a client would (the payload must already be escaped if binary). */
static size_t frame(const void *payload, size_t len, char *out)
{
    out[0] = '$';
    memcpy(out + 1, payload, len);
    snprintf(out + 1 + len, 4, "#%02x", rsp_checksum(payload, len));
    return len + 4;
}

static void send_pkt_len(struct fx *f, const char *payload, size_t len)
{
    static char buf[70000];
    size_t n = frame(payload, len, buf);
    feed(f, buf, n);
}

static void send_pkt(struct fx *f, const char *payload)
{
    send_pkt_len(f, payload, strlen(payload));
}

/* Takes everything the server queued. */
static size_t take_out(struct fx *f, char *buf, size_t cap)
{
    struct outq *q = &f->g.srv.out;
    assert_true(q->len < cap);
    memcpy(buf, q->data, q->len);
    buf[q->len] = 0;
    size_t n = q->len;
    q->len = 0;
    return n;
}

/* Parses one "$payload#cs" from s (skipping acks), checks the checksum, returns the payload in
 * out and a pointer past the packet. */
static const char *parse_reply(const char *s, char *out, size_t cap)
{
    const char *d = strchr(s, '$');
    assert_non_null(d);
    const char *h = strchr(d, '#');
    assert_non_null(h);
    size_t n = (size_t)(h - d - 1);
    assert_true(n < cap);
    memcpy(out, d + 1, n);
    out[n] = 0;
    unsigned cs;
    assert_int_equal(sscanf(h + 1, "%2x", &cs), 1);
    assert_int_equal(cs, rsp_checksum((const uint8_t *)out, n));
    return h + 3;
}

/* Sends a packet and returns the (single) reply payload, checking the '+' ack. */
static char *req_len(struct fx *f, const char *payload, size_t len)
{
    static char raw[80000], reply[80000];
    send_pkt_len(f, payload, len);
    take_out(f, raw, sizeof raw);
    if (!f->g.noack || strcmp(payload, "QStartNoAckMode") == 0)
        assert_int_equal(raw[0], '+');
    else
        assert_int_not_equal(raw[0], '+');
    parse_reply(raw, reply, sizeof reply);
    return reply;
}

static char *req(struct fx *f, const char *payload)
{
    return req_len(f, payload, strlen(payload));
}

static void decode_hex(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
}

/* ---- tests ---- */

static void test_checksum_and_escape(void **state)
{
    (void)state;
    assert_int_equal(rsp_checksum((const uint8_t *)"OK", 2), 0x9a);
    assert_int_equal(rsp_checksum((const uint8_t *)"", 0), 0);
    uint8_t in[256], esc[512], back[512];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    size_t n = rsp_escape(in, sizeof in, esc);
    assert_int_equal(n, 256 + 4); /* '#', '$', '}', '*' take two bytes each */
    for (size_t i = 0; i < n; i++)
        if (esc[i] == '}')
            i++;
        else
            assert_true(esc[i] != '#' && esc[i] != '$' && esc[i] != '*');
    memcpy(back, esc, n);
    assert_int_equal(rsp_unescape(back, n), 256);
    assert_memory_equal(back, in, 256);
}

static void test_framing_acks_and_retransmit(void **state)
{
    struct fx *f = *state;
    char raw[4096], reply[4096];
    /* qSupported: '+' then a correctly checksummed reply with the packet size. */
    send_pkt(f, "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=arm");
    take_out(f, raw, sizeof raw);
    assert_int_equal(raw[0], '+');
    parse_reply(raw, reply, sizeof reply);
    assert_non_null(strstr(reply, "PacketSize=4000"));
    assert_non_null(strstr(reply, "qXfer:features:read+"));
    assert_non_null(strstr(reply, "qXfer:memory-map:read+"));
    assert_non_null(strstr(reply, "QStartNoAckMode+"));
    /* '-' asks for the last reply again, byte for byte. */
    char first[4096];
    strcpy(first, strchr(raw, '$'));
    feed(f, "-", 1);
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, first);
    /* A bad checksum gets '-' and no reply. */
    feed(f, "$qC#00", 6);
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "-");
    /* A packet split across reads, with noise before it, is reassembled. */
    feed(f, "xx$q", 4);
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "");
    feed(f, "C#b", 3);
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "");
    feed(f, "4", 1);
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "+$QC0#c4");
    /* Two packets in one read give two replies. */
    char two[64];
    size_t n = frame("qAttached", 9, two);
    n += frame("qOffsets", 8, two + n);
    feed(f, two, n);
    take_out(f, raw, sizeof raw);
    const char *p = parse_reply(raw, reply, sizeof reply);
    assert_string_equal(reply, "1");
    parse_reply(p, reply, sizeof reply);
    assert_string_equal(reply, "Text=0;Data=0;Bss=0");
    /* Unknown packets get the empty reply. */
    assert_string_equal(req(f, "vMustReplyEmpty"), "");
    assert_string_equal(req(f, "qfThreadInfo"), "l");
}

static void test_noack_mode(void **state)
{
    struct fx *f = *state;
    char raw[4096];
    assert_string_equal(req(f, "QStartNoAckMode"), "OK");
    assert_true(f->g.noack);
    /* From now on: no '+' before replies, no '-' for bad checksums (the packet is dropped). */
    send_pkt(f, "qC");
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "$QC0#c4");
    feed(f, "$qC#00", 6);
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "");
    /* '-' is ignored too. */
    feed(f, "-", 1);
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "");
}

static void test_memory_hex_and_binary(void **state)
{
    struct fx *f = *state;
    assert_string_equal(req(f, "M20000100,6:0102030405ff"), "OK");
    assert_string_equal(req(f, "m20000100,6"), "0102030405ff");
    assert_string_equal(req(f, "m20000101,3"), "020304");
    uint32_t v = 0;
    assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x100, 4, &v), CHIP_OK);
    assert_int_equal(v, 0x04030201u);
    /* X with every byte that needs escaping. */
    const uint8_t bin[] = {'#', '$', '}', '*', 0x00, 0x7d ^ 0x20, 0xff};
    uint8_t esc[32];
    size_t en = rsp_escape(bin, sizeof bin, esc);
    char pkt[64];
    int hl = snprintf(pkt, sizeof pkt, "X20000200,%zx:", sizeof bin);
    memcpy(pkt + hl, esc, en);
    assert_string_equal(req_len(f, pkt, (size_t)hl + en), "OK");
    uint8_t back[sizeof bin];
    for (size_t i = 0; i < sizeof bin; i++) {
        assert_int_equal(chip_dbg_read(f->chip, SRAM + 0x200 + (uint32_t)i, 1, &v), CHIP_OK);
        back[i] = (uint8_t)v;
    }
    assert_memory_equal(back, bin, sizeof bin);
    assert_string_equal(req(f, "X20000200,0:"), "OK"); /* GDB's binary-download probe */
    /* An unmapped address is an error, not a crash. */
    assert_string_equal(req(f, "m30000000,4"), "E01");
    assert_string_equal(req(f, "M30000000,1:00"), "E01");
    /* A length that does not match the data is refused. */
    assert_string_equal(req(f, "M20000100,4:01"), "E01");
    /* A large read is capped to what fits a packet. */
    char *big = req(f, "m20000000,4000");
    assert_true(strlen(big) <= 0x4000 && strlen(big) >= 0x1000);
}

static void test_registers_openocd_numbering(void **state)
{
    struct fx *f = *state;
    assert_true(chip_is_halted(f->chip)); /* attach halts the core */
    assert_int_equal(chip_reg_write(f->chip, 0, 0x11223344), 0);
    assert_int_equal(chip_reg_write(f->chip, 15, 0x20000010), 0);
    char *g = req(f, "g");
    assert_int_equal(strlen(g), 17 * 8);
    assert_memory_equal(g, "44332211", 8);
    assert_memory_equal(g + 15 * 8, "10000020", 8);
    /* P/p single registers. */
    assert_string_equal(req(f, "P1=efbeadde"), "OK");
    uint32_t v = 0;
    assert_int_equal(chip_reg_read(f->chip, 1, &v), 0);
    assert_int_equal(v, 0xDEADBEEFu);
    assert_string_equal(req(f, "p1"), "efbeadde");
    /* primask (20) is one byte inside the packed special register; basepri (21) the next. */
    assert_string_equal(req(f, "P14=01"), "OK");
    assert_string_equal(req(f, "P15=a0"), "OK");
    assert_int_equal(chip_reg_read(f->chip, 0x14, &v), 0);
    assert_int_equal(v & 0xFFFFu, 0xA001u);
    assert_string_equal(req(f, "p14"), "01");
    assert_string_equal(req(f, "p15"), "a0");
    /* d0 (42) is 8 bytes from S0/S1; fpscr is 58. */
    assert_int_equal(chip_reg_write(f->chip, 0x40, 0x3ff00000), 0);
    assert_int_equal(chip_reg_write(f->chip, 0x41, 0x00000001), 0);
    assert_string_equal(req(f, "p2a"), "0000f03f01000000");
    assert_string_equal(req(f, "P2b=0000000000000840"), "OK"); /* d1 = 3.0 */
    assert_int_equal(chip_reg_read(f->chip, 0x43, &v), 0);
    assert_int_equal(v, 0x40080000u);
    assert_int_equal(strlen(req(f, "p3a")), 8);
    /* Holes in the numbering are refused. */
    assert_string_equal(req(f, "p13"), "E01");
    assert_string_equal(req(f, "p18"), "E01");
    assert_string_equal(req(f, "p3b"), "E01");
    /* G writes all 17. */
    char G[1 + 17 * 8 + 1] = "G";
    for (int r = 0; r < 17; r++)
        snprintf(G + 1 + 8 * r, 9, "%02x000000", r + 1);
    assert_string_equal(req(f, G), "OK");
    assert_int_equal(chip_reg_read(f->chip, 12, &v), 0);
    assert_int_equal(v, 13);
}

/* Reads a whole qXfer document in small pieces. */
static void read_xfer(struct fx *f, const char *what, char *doc, size_t cap)
{
    size_t off = 0;
    for (;;) {
        char q[128];
        snprintf(q, sizeof q, "%s%zx,80", what, off);
        char *r = req(f, q);
        assert_true(r[0] == 'm' || r[0] == 'l');
        size_t n = strlen(r + 1);
        assert_true(n <= 0x80);
        assert_true(off + n < cap);
        memcpy(doc + off, r + 1, n);
        off += n;
        if (r[0] == 'l')
            break;
    }
    doc[off] = 0;
}

static void test_target_xml_and_memory_map(void **state)
{
    struct fx *f = *state;
    static char doc[16384];
    read_xfer(f, "qXfer:features:read:target.xml:", doc, sizeof doc);
    assert_non_null(strstr(doc, "<feature name=\"org.gnu.gdb.arm.m-profile\">"));
    assert_non_null(strstr(doc, "<feature name=\"org.gnu.gdb.arm.m-system\">"));
    assert_non_null(strstr(doc, "<feature name=\"org.gnu.gdb.arm.vfp\">"));
    assert_non_null(strstr(doc, "name=\"xPSR\" bitsize=\"32\" regnum=\"16\""));
    assert_non_null(strstr(doc, "name=\"control\" bitsize=\"3\" regnum=\"23\""));
    assert_non_null(strstr(doc, "name=\"d0\" bitsize=\"64\" regnum=\"42\""));
    assert_non_null(strstr(doc, "name=\"fpscr\" bitsize=\"32\" regnum=\"58\""));
    assert_non_null(strstr(doc, "</target>"));
    read_xfer(f, "qXfer:memory-map:read::", doc, sizeof doc);
    assert_non_null(strstr(doc,
                           "<memory type=\"flash\" start=\"0x08000000\" length=\"0x00010000\">\n"
                           "<property name=\"blocksize\">0x4000</property>"));
    assert_non_null(strstr(doc, "start=\"0x08010000\" length=\"0x00010000\">\n"
                                "<property name=\"blocksize\">0x10000</property>"));
    assert_non_null(strstr(doc, "start=\"0x08020000\" length=\"0x000e0000\">\n"
                                "<property name=\"blocksize\">0x20000</property>"));
    assert_non_null(strstr(doc, "start=\"0x08100000\" length=\"0x00010000\">"));
    assert_non_null(strstr(doc, "start=\"0x08120000\" length=\"0x000e0000\">"));
    assert_non_null(
        strstr(doc, "<memory type=\"ram\" start=\"0x00000000\" length=\"0x08000000\"/>"));
    assert_non_null(
        strstr(doc, "<memory type=\"ram\" start=\"0x08200000\" length=\"0xf7e00000\"/>"));
    /* Offsets past the end are an error. */
    assert_string_equal(req(f, "qXfer:features:read:target.xml:ffff,10"), "E00");
    assert_string_equal(req(f, "qXfer:features:read:other.xml:0,10"), "E00");
}

/* Runs qRcmd and returns the console text (O packets) and the final reply. */
static void monitor(struct fx *f, const char *cmd, char *text, size_t cap, char *final)
{
    char pkt[512] = "qRcmd,";
    for (size_t i = 0; cmd[i]; i++)
        snprintf(pkt + 6 + 2 * i, 3, "%02x", (unsigned char)cmd[i]);
    static char raw[16384];
    send_pkt(f, pkt);
    take_out(f, raw, sizeof raw);
    const char *p = raw;
    text[0] = 0;
    char reply[4096];
    for (;;) {
        p = parse_reply(p, reply, sizeof reply);
        if (reply[0] != 'O' || reply[1] == 'K') {
            strcpy(final, reply);
            return;
        }
        size_t n = strlen(text), m = strlen(reply + 1) / 2;
        assert_true(n + m < cap);
        decode_hex(reply + 1, (uint8_t *)text + n, m);
        text[n + m] = 0;
    }
}

static void test_monitor_commands(void **state)
{
    struct fx *f = *state;
    char text[1024], final[64];
    monitor(f, "counters", text, sizeof text, final);
    assert_string_equal(final, "OK");
    assert_non_null(strstr(text, "dbg_transactions="));
    uint8_t uid[12];
    chip_uid(f->chip, uid);
    char want[32];
    for (int i = 0; i < 12; i++)
        snprintf(want + 2 * i, 3, "%02x", uid[i]);
    monitor(f, "uid", text, sizeof text, final);
    assert_string_equal(final, "OK");
    assert_memory_equal(text, want, 24);
    monitor(f, "reset halt", text, sizeof text, final);
    assert_string_equal(final, "OK");
    assert_true(chip_is_halted(f->chip));
    assert_non_null(strstr(text, "halted"));
    monitor(f, "no such thing", text, sizeof text, final);
    assert_string_equal(final, "E01");
    assert_non_null(strstr(text, "unknown monitor command"));
}

/* A loop in SRAM: r0 counts up forever (adds r0, #1; b .-2). */
static void load_loop(struct fx *f)
{
    assert_string_equal(req(f, "M20000000,4:0130fde7"), "OK");
    assert_int_equal(chip_reg_write(f->chip, 15, SRAM), 0);
    assert_int_equal(chip_reg_write(f->chip, 16, 0x01000000), 0);
    assert_int_equal(chip_reg_write(f->chip, 0, 0), 0);
}

static void run_slices(struct fx *f, int n)
{
    for (int i = 0; i < n; i++) {
        enum chip_run_result r = chip_run(f->chip, 1000);
        gdb_check_stop(&f->g, r);
        if (f->g.srv.out.len)
            return;
    }
}

/* Loads the loop and continues: no reply while it runs. */
static void continue_loop(struct fx *f)
{
    char raw[64];
    load_loop(f);
    send_pkt(f, "c");
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "+");
    run_slices(f, 5);
    take_out(f, raw, sizeof raw);
    assert_string_equal(raw, "");
    assert_false(chip_is_halted(f->chip));
}

/* Ctrl-C stops a running core with SIGINT. */
static void interrupt_running(struct fx *f)
{
    char raw[256], reply[64];
    feed(f, "\x03", 1);
    run_slices(f, 1);
    take_out(f, raw, sizeof raw);
    parse_reply(raw, reply, sizeof reply);
    assert_string_equal(reply, "T02");
}

static void test_continue_interrupt_step_breakpoint(void **state)
{
    struct fx *f = *state;
    char raw[4096], reply[256];
    continue_loop(f);
    interrupt_running(f);
    uint32_t r0 = 0;
    assert_int_equal(chip_reg_read(f->chip, 0, &r0), 0);
    assert_true(r0 > 0);
    /* s: one instruction, T05 at once. */
    uint32_t pc0 = 0, pc1 = 0;
    chip_reg_read(f->chip, 15, &pc0);
    assert_string_equal(req(f, "s"), "T05");
    chip_reg_read(f->chip, 15, &pc1);
    assert_int_not_equal(pc0, pc1);
    /* Z1 at the branch, vCont;c: stops with SIGTRAP at the breakpoint. */
    assert_string_equal(req(f, "Z1,20000002,2"), "OK");
    assert_int_equal(chip_reg_write(f->chip, 15, SRAM), 0);
    send_pkt(f, "vCont;c");
    take_out(f, raw, sizeof raw);
    run_slices(f, 100);
    take_out(f, raw, sizeof raw);
    parse_reply(raw, reply, sizeof reply);
    assert_string_equal(reply, "T05");
    chip_reg_read(f->chip, 15, &pc1);
    assert_int_equal(pc1, SRAM + 2);
    /* z1 removes it: the loop runs on until interrupted. */
    assert_string_equal(req(f, "z1,20000002,2"), "OK");
    assert_string_equal(req(f, "vCont?"), "vCont;c;C;s;S");
    send_pkt(f, "c");
    take_out(f, raw, sizeof raw);
    run_slices(f, 5);
    assert_int_equal(f->g.srv.out.len, 0);
    feed(f, "\x03", 1);
    run_slices(f, 1);
    take_out(f, raw, sizeof raw);
    parse_reply(raw, reply, sizeof reply);
    assert_string_equal(reply, "T02");
    /* '?' reports the stop. */
    assert_string_equal(req(f, "?"), "T02");
}

static void test_flash_programming(void **state)
{
    struct fx *f = *state;
    /* Program 16 bytes at the start of sector 1 and 5 bytes at an odd address of sector 12. */
    assert_string_equal(req(f, "vFlashErase:08004000,4000"), "OK");
    assert_string_equal(req(f, "vFlashErase:08100000,4000"), "OK");
    const uint8_t data[16] = {0x10, 0x32, 0x54, 0x76, '#', '$', '}', '*', 0, 1, 2, 3, 4, 5, 6, 7};
    uint8_t esc[64];
    size_t en = rsp_escape(data, sizeof data, esc);
    char pkt[128];
    int hl = snprintf(pkt, sizeof pkt, "vFlashWrite:08004000:");
    memcpy(pkt + hl, esc, en);
    assert_string_equal(req_len(f, pkt, (size_t)hl + en), "OK");
    assert_string_equal(req(f, "vFlashWrite:08100003:abcde"), "OK");
    assert_string_equal(req(f, "vFlashDone"), "OK");
    for (unsigned i = 0; i < sizeof data; i++) {
        uint32_t v = 0;
        assert_int_equal(chip_dbg_read(f->chip, 0x08004000 + i, 1, &v), CHIP_OK);
        assert_int_equal(v, data[i]);
    }
    assert_string_equal(req(f, "m08100000,9"), "ffffff6162636465ff");
    /* A second erase brings the bytes back to 0xFF. */
    assert_string_equal(req(f, "vFlashErase:08004000,4000"), "OK");
    assert_string_equal(req(f, "vFlashDone"), "OK");
    assert_string_equal(req(f, "m08004000,4"), "ffffffff");
    /* Plain memory writes do not program flash. */
    req(f, "M08004000,4:00000000");
    assert_string_equal(req(f, "m08004000,4"), "ffffffff");
    /* The flash controller is locked again afterwards. */
    uint32_t cr = 0;
    assert_int_equal(chip_dbg_read(f->chip, 0x40023C10, 4, &cr), CHIP_OK);
    assert_int_equal(cr & 0x80000000u, 0x80000000u);
}

/* Flash is programmed with the core halted, as OpenOCD does: a running core's own flash stores
 * could keep the controller busy through every poll (fuzz_sim_rsp: a vFlashWrite took minutes). */
static void test_flash_refused_while_running(void **state)
{
    struct fx *f = *state;
    continue_loop(f);
    assert_string_equal(req(f, "vFlashErase:08004000,4000"), "E01");
    assert_string_equal(req(f, "vFlashWrite:08004000:abcd"), "E01");
    assert_false(chip_is_halted(f->chip));
    assert_string_equal(req(f, "m08004000,4"), "ffffffff");
    uint32_t cr = 0;
    assert_int_equal(chip_dbg_read(f->chip, 0x40023C10, 4, &cr), CHIP_OK);
    assert_int_equal(cr & 0x80000000u, 0x80000000u); /* never unlocked */
    /* Halted, the same write goes in. */
    interrupt_running(f);
    assert_string_equal(req(f, "vFlashWrite:08004000:abcd"), "OK");
    assert_string_equal(req(f, "vFlashDone"), "OK");
    assert_string_equal(req(f, "m08004000,4"), "61626364");
}

static void test_detach_and_kill(void **state)
{
    struct fx *f = *state;
    assert_string_equal(req(f, "Z1,08000100,2"), "OK");
    assert_int_equal(f->g.n_bkpts, 1);
    assert_string_equal(req(f, "D"), "OK");
    assert_int_equal(f->g.n_bkpts, 0);
    /* k closes the session: gdb_input reports it. */
    char buf[16];
    size_t n = frame("k", 1, buf);
    assert_false(gdb_input(&f->g, (const uint8_t *)buf, n));
}

/* RDP Level 2 (after a power cycle): the debug port is gone, the GDB server refuses the client. */
static void test_level2_refuses_debugger(void **state)
{
    struct fx *f = *state;
    uint32_t optcr = 0;
    assert_int_equal(chip_dbg_write(f->chip, 0x40023C08, 4, 0x08192A3B), CHIP_OK);
    assert_int_equal(chip_dbg_write(f->chip, 0x40023C08, 4, 0x4C5D6E7F), CHIP_OK);
    assert_int_equal(chip_dbg_read(f->chip, 0x40023C14, 4, &optcr), CHIP_OK);
    optcr = (optcr & ~0xFF00u) | 0xCC00u;
    assert_int_equal(chip_dbg_write(f->chip, 0x40023C14, 4, optcr), CHIP_OK);
    assert_int_equal(chip_dbg_write(f->chip, 0x40023C14, 4, optcr | 2u), CHIP_OK);
    for (int i = 0; i < 100000; i++) {
        uint32_t sr = 0;
        chip_dbg_read(f->chip, 0x40023C0C, 4, &sr);
        if (!(sr & (1u << 16)))
            break;
        chip_run(f->chip, 1000);
    }
    /* Still alive until the option bytes are reloaded. */
    assert_int_not_equal(req(f, "m20000000,4")[0], 'E');
    gdb_detach(&f->g);
    gdb_free(&f->g);
    chip_close(f->chip);
    struct chip_config cfg = {.state_path = f->path};
    char err[256] = "";
    f->chip = chip_open(&cfg, err, sizeof err);
    if (!f->chip)
        fail_msg("chip_open: %s", err);
    assert_int_equal(chip_rdp_byte(f->chip), 0xCC);
    assert_false(chip_debug_port_alive(f->chip));
    assert_int_equal(gdb_init(&f->g, f->chip), 0);
    assert_false(gdb_attach(&f->g));
    char buf[16];
    size_t n = frame("g", 1, buf);
    assert_false(gdb_input(&f->g, (const uint8_t *)buf, n));
    assert_int_equal(f->g.srv.out.len, 0); /* not a byte back */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_and_escape),
        T(test_framing_acks_and_retransmit),
        T(test_noack_mode),
        T(test_memory_hex_and_binary),
        T(test_registers_openocd_numbering),
        T(test_target_xml_and_memory_map),
        T(test_monitor_commands),
        T(test_continue_interrupt_step_breakpoint),
        T(test_flash_programming),
        T(test_flash_refused_while_running),
        T(test_detach_and_kill),
        T(test_level2_refuses_debugger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
