/* Fuzzing the station's GDB RSP reply parser (provisioner/gdb_reply.c) on what a GDB server (or
 * whoever answers in its place) sends. The first byte sets the mode: bit 0 no-ack mode, bits 1-7
 * the chunk sizes the stream arrives in (as recv hands it over). Every packet taken is then
 * classified and decoded as probe_gdb.c would (stop reply, console output, memory, register,
 * monitor text), and the whole input is read as a target.xml. Each result is checked against
 * what the bytes allow. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../provisioner/gdb_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t in[2 * PV_RSP_PKT_MAX];
static char pkt[PV_RSP_PKT_MAX + 1];

static void check_packet(size_t len, unsigned seed)
{
    if (len >= PV_RSP_PKT_MAX || pkt[len] != 0)
        abort();
    if (pv_rsp_is_stop_reply(pkt, len, seed & 2)) {
        int sig = pv_rsp_stop_signal(pkt);
        if (sig < 0 || sig > 255 || !strchr("STWX", pkt[0]))
            abort();
    }
    if (pv_rsp_is_console(pkt, len) && (pkt[0] != 'O' || !pv_rsp_is_hex(pkt + 1, len - 1)))
        abort();
    static uint8_t mem[PV_RSP_PKT_MAX / 2];
    if (pv_rsp_decode_mem(pkt, len, mem, len / 2) == 0) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < len / 2; i++)
            if (hex[mem[i] >> 4] != (pkt[2 * i] | 0x20) ||
                hex[mem[i] & 15] != (pkt[2 * i + 1] | 0x20))
                abort();
    } else if (len % 2 == 0 && pv_rsp_is_hex(pkt, len)) {
        abort();
    }
    uint32_t v = 0;
    size_t at = seed % (len + 2);
    if (pv_rsp_decode_reg(pkt, len, at, &v) == 0 && (at + 2 > len || !pv_rsp_is_hex(pkt + at, 2)))
        abort();
    char text[40];
    size_t cap = seed % (sizeof text + 1);
    size_t used = pv_rsp_decode_text(pkt, len, text, cap, 0);
    if (used > len / 2 || (cap && (used >= cap || text[used] != 0)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    bool noack = seed & 1;
    data++, size--;
    size_t in_len = 0, off = 0;
    int rc = 0;
    while (off < size && rc >= 0) {
        size_t k = 1 + (seed * 31u + off) % (1u + (seed >> 1) * 13u);
        if (k > size - off)
            k = size - off;
        if (in_len + k > sizeof in)
            break; /* probe_gdb.c refuses an over-long packet here */
        memcpy(in + in_len, data + off, k);
        in_len += k;
        off += k;
        for (;;) {
            size_t len = 0, used = 0;
            rc = pv_rsp_take_packet(in, in_len, noack, pkt, &len, &used);
            if (rc < 0) {
                if (used != 0 || rc < PV_RSP_ERR_TOO_LONG)
                    abort();
                break;
            }
            if (used > in_len)
                abort();
            if (rc == 1 && (used < 4 || in[used - 3] != '#' || !memchr(in, '$', used - 3)))
                abort();
            if (rc == 0 && memchr(in, '$', used))
                abort();
            if (!noack &&
                memchr(in, '-', rc == 1 ? (size_t)((uint8_t *)memchr(in, '$', used) - in) : used))
                abort();
            memmove(in, in + used, in_len - used);
            in_len -= used;
            if (rc == 0)
                break;
            check_packet(len, seed);
        }
    }
    /* The input as a target.xml document. */
    static char xml[65536 + 1];
    size_t n = size < sizeof xml - 1 ? size : sizeof xml - 1;
    memcpy(xml, data, n);
    xml[n] = 0;
    int regnum[PV_REG_COUNT];
    uint8_t regbytes[PV_REG_COUNT];
    for (int i = 0; i < PV_REG_COUNT; i++) {
        regnum[i] = -1;
        regbytes[i] = 4;
    }
    pv_rsp_target_xml_regs(xml, regnum, regbytes);
    for (int i = 0; i < PV_REG_COUNT; i++)
        if (regnum[i] < -1 || regnum[i] > 65535 || regbytes[i] < 1 || regbytes[i] > 8)
            abort();
    return 0;
}
