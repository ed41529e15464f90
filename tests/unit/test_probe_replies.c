/* The station's probe reply parsers on bytes alone (provisioner/gdb_reply.c, openocd_reply.c,
 * cmsisdap_reply.c): what a well-behaved server sends, and what a broken or hostile one sends,
 * including the target.xml that overflowed a register write's buffer before sizes were bounded.
 * tests/fuzz/ fuzzes the same functions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../provisioner/cmsisdap_reply.h"
#include "../../provisioner/gdb_reply.h"
#include "../../provisioner/openocd_reply.h"

static char pkt[PV_RSP_PKT_MAX + 1];

static int take(const char *in, bool noack, size_t *len, size_t *used)
{
    return pv_rsp_take_packet((const uint8_t *)in, strlen(in), noack, pkt, len, used);
}

static void test_rsp_framing(void **state)
{
    (void)state;
    size_t len = 0, used = 0;
    assert_int_equal(take("+$OK#9a+", false, &len, &used), 1);
    assert_string_equal(pkt, "OK");
    assert_int_equal(len, 2);
    assert_int_equal(used, 7); /* the ack before it, not the one after */
    /* Incomplete: the noise before '$' can go, the rest waits. */
    assert_int_equal(take("++$O", false, &len, &used), 0);
    assert_int_equal(used, 2);
    assert_int_equal(take("$OK#9", false, &len, &used), 0);
    assert_int_equal(used, 0);
    /* Checksum, retransmission request, escapes and run-length. */
    assert_int_equal(take("$OK#9b", false, &len, &used), PV_RSP_ERR_CHECKSUM);
    assert_int_equal(take("$OK#zz", false, &len, &used), PV_RSP_ERR_CHECKSUM);
    assert_int_equal(take("-$OK#9a", false, &len, &used), PV_RSP_ERR_NAK);
    assert_int_equal(take("-$OK#9a", true, &len, &used), 1);
    assert_int_equal(take("$a}]b#9d", false, &len, &used), 1); /* '}' 0x5d -> 0x7d */
    assert_string_equal(pkt, "a}b");
    assert_int_equal(take("$0* #7a", false, &len, &used), 1); /* ' ' = 3 more */
    assert_string_equal(pkt, "0000");
    assert_int_equal(take("$0*\x1c#76", false, &len, &used), PV_RSP_ERR_RLE); /* count -1 */
}

static void test_rsp_kinds_and_payloads(void **state)
{
    (void)state;
    assert_true(pv_rsp_is_stop_reply("T05thread:01;", 13, false));
    assert_int_equal(pv_rsp_stop_signal("T05thread:01;"), 5);
    assert_false(pv_rsp_is_stop_reply("X09", 3, false)); /* X only while running */
    assert_true(pv_rsp_is_stop_reply("X09", 3, true));
    assert_false(pv_rsp_is_stop_reply("\0"
                                      "05",
                                      3, true)); /* a NUL is no stop letter */
    assert_true(pv_rsp_is_console("O6869", 5));
    assert_true(pv_rsp_is_console("O", 1));
    assert_false(pv_rsp_is_console("OK", 2));
    uint8_t mem[3];
    assert_int_equal(pv_rsp_decode_mem("01aBff", 6, mem, 3), 0);
    assert_memory_equal(mem, "\x01\xab\xff", 3);
    assert_int_equal(pv_rsp_decode_mem("01aB", 4, mem, 3), -1); /* short */
    assert_int_equal(pv_rsp_decode_mem("01aBfg", 6, mem, 3), -1);
    uint32_t v = 0;
    assert_int_equal(pv_rsp_decode_reg("78563412", 8, 0, &v), 0);
    assert_int_equal(v, 0x12345678u);
    /* A digit that is not hex ends the value (it used to shift -1 into it). */
    assert_int_equal(pv_rsp_decode_reg("7856zz12", 8, 0, &v), 0);
    assert_int_equal(v, 0x5678u);
    assert_int_equal(pv_rsp_decode_reg("zz", 2, 0, &v), -1);
    assert_int_equal(pv_rsp_decode_reg("78", 2, 4, &v), -1); /* g answer too short */
    char text[8];
    assert_int_equal(pv_rsp_decode_text("6869zz21", 8, text, sizeof text, 0), 2);
    assert_string_equal(text, "hi");
    assert_int_equal(pv_rsp_decode_text("414243444546474849", 18, text, 4, 0), 3);
    assert_string_equal(text, "ABC");
}

static void test_rsp_target_xml(void **state)
{
    (void)state;
    int num[PV_REG_COUNT];
    uint8_t bytes[PV_REG_COUNT];
    for (int i = 0; i < PV_REG_COUNT; i++) {
        num[i] = -1;
        bytes[i] = 4;
    }
    pv_rsp_target_xml_regs(
        "<target><reg name=\"r0\" bitsize=\"32\"/><reg name=\"r1\" bitsize=\"32\"/>"
        "<reg name=\"xPSR\" bitsize=\"32\" regnum=\"25\"/>"
        "<reg name=\"msp\" bitsize=\"32\"/>"
        "<reg name=\"primask\" bitsize=\"1\" regnum=\"29\"/></target>",
        num, bytes);
    assert_int_equal(num[PV_REG_R0], 0);
    assert_int_equal(num[PV_REG_R0 + 1], 1);
    assert_int_equal(num[PV_REG_XPSR], 25);
    assert_int_equal(num[PV_REG_MSP], 26); /* numbered on from the previous one */
    assert_int_equal(num[PV_REG_PRIMASK], 29);
    assert_int_equal(bytes[PV_REG_PRIMASK], 1);
    /* The attack: a register 255 bytes wide (gdb_write_reg wrote 2 hex digits per byte into a
     * 40-byte buffer) and numbers that overflow. They are ignored; the defaults stay. */
    pv_rsp_target_xml_regs("<reg name=\"control\" bitsize=\"2040\" regnum=\"40\"/>"
                           "<reg name=\"psp\" bitsize=\"32\" regnum=\"2147483647\"/>"
                           "<reg name=\"sp\" bitsize=\"-8\" regnum=\"13\"/>",
                           num, bytes);
    assert_int_equal(num[PV_REG_CONTROL], -1);
    assert_int_equal(bytes[PV_REG_CONTROL], 4);
    assert_int_equal(num[PV_REG_PSP], -1);
    assert_int_equal(num[PV_REG_SP], -1);
    assert_int_equal(bytes[PV_REG_SP], 4);
}

static void test_openocd_replies(void **state)
{
    (void)state;
    struct pv_ocd_rx rx = {0};
    static const char stream[] = "0 1 0x10 0x20\x1a"
                                 "1 1 invalid command name \"x\"\x1a"
                                 "0 1";
    /* One byte at a time, as a slow link would hand it over. */
    int replies = 0;
    for (size_t i = 0; i < sizeof stream - 1; i++) {
        char *at;
        size_t room;
        assert_int_equal(pv_ocd_rx_room(&rx, &at, &room), 0);
        assert_true(room >= PV_OCD_RX_CHUNK);
        *at = stream[i];
        pv_ocd_rx_commit(&rx, 1);
        while (pv_ocd_rx_take(&rx) == 1) {
            int code = -1, stage = -1;
            char *res = NULL;
            assert_int_equal(pv_ocd_parse_status(rx.reply, &code, &stage, &res), 0);
            assert_int_equal(stage, 1);
            if (replies++ == 0) {
                assert_int_equal(code, 0);
                const char *s = res;
                uint8_t out[8] = {0};
                assert_int_equal(pv_ocd_parse_words(&s, 16, 4, out), 2); /* two of four */
                assert_memory_equal(out, "\x10\0\x20\0", 4);
            } else {
                assert_int_equal(code, 1);
                assert_string_equal(res, "invalid command name \"x\"");
            }
        }
    }
    assert_int_equal(replies, 2);
    assert_int_equal(rx.in_len, 3); /* the unfinished one waits */
    pv_ocd_rx_free(&rx);

    int code, stage;
    char *res;
    char r1[] = "0 1", r2[] = "x 1 y", r3[] = "0 1y", r4[] = "0";
    assert_int_equal(pv_ocd_parse_status(r1, &code, &stage, &res), 0);
    assert_string_equal(res, "");
    assert_int_equal(pv_ocd_parse_status(r2, &code, &stage, &res), -1);
    assert_int_equal(pv_ocd_parse_status(r3, &code, &stage, &res), -1);
    assert_int_equal(pv_ocd_parse_status(r4, &code, &stage, &res), -1);
    uint32_t v = 0;
    assert_int_equal(pv_ocd_parse_reg("pc 0x08000201", &v), 0);
    assert_int_equal(v, 0x08000201u);
    assert_int_equal(pv_ocd_parse_reg("pc", &v), -1);
    assert_int_equal(pv_ocd_parse_reg("pc zz", &v), -1);
}

static void test_cmsisdap_replies(void **state)
{
    (void)state;
    struct dap_xfer_expect x = {.cmd = DAP_ID_TRANSFER, .count = 3, .resp_len = 3 + 4};
    struct dap_xfer_result r;
    static const uint8_t ok[] = {0x05, 3, DAP_ACK_OK, 0x77, 0x14, 0xA0, 0x2B};
    dap_parse_transfer(&x, ok, sizeof ok, &r);
    assert_int_equal(r.code, PV_PROBE_OK);
    assert_ptr_equal(r.data, ok + 3);
    assert_int_equal(r.data_len, 4);
    /* The second transfer got a FAULT: it is the one blamed. */
    static const uint8_t fault[] = {0x05, 1, DAP_ACK_FAULT};
    dap_parse_transfer(&x, fault, sizeof fault, &r);
    assert_int_equal(r.code, PV_PROBE_ERR_TARGET);
    assert_int_equal(r.at, 1);
    assert_null(r.why);
    /* No ACK at all: RDP Level 2 or no power. */
    static const uint8_t none[] = {0x05, 0, DAP_ACK_NONE};
    dap_parse_transfer(&x, none, sizeof none, &r);
    assert_int_equal(r.code, PV_PROBE_ERR_DEAD);
    /* OK but fewer transfers, or a count past what was asked, or a wrong length. */
    static const uint8_t fewer[] = {0x05, 2, DAP_ACK_OK};
    dap_parse_transfer(&x, fewer, sizeof fewer, &r);
    assert_int_equal(r.code, PV_PROBE_ERR_PROTOCOL);
    assert_string_equal(r.why, "the probe did fewer transfers than asked");
    static const uint8_t more[] = {0x05, 200, DAP_ACK_FAULT};
    dap_parse_transfer(&x, more, sizeof more, &r);
    assert_int_equal(r.at, 2); /* the last request, never past it */
    dap_parse_transfer(&x, ok, sizeof ok - 1, &r);
    assert_string_equal(r.why, "response length does not match the request");
    static const uint8_t unknown[] = {0xFF};
    dap_parse_transfer(&x, unknown, sizeof unknown, &r);
    assert_string_equal(r.why, "the probe does not know the command");
    dap_parse_transfer(&x, ok, 2, &r);
    assert_string_equal(r.why, "short response from the probe");
    /* DAP_TransferBlock: the words done before the failure. */
    struct dap_xfer_expect b = {.cmd = DAP_ID_TRANSFER_BLOCK, .count = 300, .resp_len = 4 + 1200};
    static const uint8_t bfault[] = {0x06, 0x2C, 0x01, DAP_ACK_FAULT};
    dap_parse_transfer(&b, bfault, sizeof bfault, &r);
    assert_int_equal(r.code, PV_PROBE_ERR_TARGET);
    assert_int_equal(r.word, 0x12C);
    /* DAP_Info: a length past the response is refused. */
    const uint8_t *val;
    size_t len;
    static const uint8_t info[] = {0x00, 2, 0x00, 0x04}, bad[] = {0x00, 3, 0x00, 0x04};
    assert_int_equal(dap_parse_info(info, sizeof info, &val, &len), 0);
    assert_int_equal(len, 2);
    assert_ptr_equal(val, info + 2);
    assert_int_equal(dap_parse_info(bad, sizeof bad, &val, &len), -1);
    assert_int_equal(dap_parse_status((const uint8_t *)"\x02\x01", 2, 1), 0);
    assert_int_equal(dap_parse_status((const uint8_t *)"\x02", 1, 0), -1);
    assert_int_equal(dap_parse_echo(0x05, unknown, 1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsp_framing),      cmocka_unit_test(test_rsp_kinds_and_payloads),
        cmocka_unit_test(test_rsp_target_xml),   cmocka_unit_test(test_openocd_replies),
        cmocka_unit_test(test_cmsisdap_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
