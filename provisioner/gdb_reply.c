/* The GDB RSP reply parser (gdb_reply.h): pure functions over bytes a server sent. */
#include "gdb_reply.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_rsp_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool pv_rsp_is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pv_rsp_hexval((unsigned char)s[i]) < 0)
            return false;
    return true;
}

int pv_rsp_take_packet(const uint8_t *in, size_t in_len, bool noack, char *pkt, size_t *pkt_len,
                       size_t *used)
{
    size_t i = 0;
    *used = 0;
    while (i < in_len && in[i] != '$') {
        if (in[i] == '-' && !noack)
            return PV_RSP_ERR_NAK;
        i++; /* '+' acks and noise */
    }
    const uint8_t *hash = i < in_len ? memchr(in + i, '#', in_len - i) : NULL;
    if (!hash || (size_t)(hash - in) + 3 > in_len) {
        *used = i;
        return 0;
    }
    size_t body = i + 1, blen = (size_t)(hash - in) - body;
    unsigned sum = 0;
    for (size_t k = 0; k < blen; k++)
        sum += in[body + k];
    int hi = pv_rsp_hexval(hash[1]), lo = pv_rsp_hexval(hash[2]);
    if (hi < 0 || lo < 0 || (unsigned)(hi << 4 | lo) != (sum & 0xFF))
        return PV_RSP_ERR_CHECKSUM;
    size_t n = 0;
    for (size_t k = 0; k < blen; k++) {
        uint8_t c = in[body + k];
        if (c == '}' && k + 1 < blen) {
            pkt[n++] = (char)(in[body + ++k] ^ 0x20);
        } else if (c == '*' && n > 0 && k + 1 < blen) {
            int rep = in[body + ++k] - 29; /* run-length: repeat the previous char */
            if (rep < 0 || n + (size_t)rep >= PV_RSP_PKT_MAX)
                return PV_RSP_ERR_RLE;
            memset(pkt + n, pkt[n - 1], (size_t)rep);
            n += (size_t)rep;
        } else {
            pkt[n++] = (char)c;
        }
        if (n >= PV_RSP_PKT_MAX)
            return PV_RSP_ERR_TOO_LONG;
    }
    pkt[n] = 0;
    *pkt_len = n;
    *used = (size_t)(hash - in) + 3;
    return 1;
}

bool pv_rsp_is_stop_reply(const char *pkt, size_t len, bool running)
{
    return len >= 3 && pkt[0] && strchr("STWX", pkt[0]) &&
           pv_rsp_hexval((unsigned char)pkt[1]) >= 0 && pv_rsp_hexval((unsigned char)pkt[2]) >= 0 &&
           (pkt[0] != 'X' || running);
}

bool pv_rsp_is_console(const char *pkt, size_t len)
{
    return len >= 1 && pkt[0] == 'O' && !(len == 2 && pkt[1] == 'K') &&
           pv_rsp_is_hex(pkt + 1, len - 1);
}

int pv_rsp_stop_signal(const char *pkt)
{
    return pv_rsp_hexval((unsigned char)pkt[1]) << 4 | pv_rsp_hexval((unsigned char)pkt[2]);
}

int pv_rsp_decode_mem(const char *pkt, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n || !pv_rsp_is_hex(pkt, len))
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(pv_rsp_hexval((unsigned char)pkt[2 * i]) << 4 |
                           pv_rsp_hexval((unsigned char)pkt[2 * i + 1]));
    return 0;
}

int pv_rsp_decode_reg(const char *pkt, size_t len, size_t at, uint32_t *val)
{
    if (at > len || len - at < 2 || !pv_rsp_is_hex(pkt + at, 2))
        return -1;
    uint32_t v = 0;
    for (unsigned i = 0; i < 4 && at + 2 * i + 1 < len; i++) {
        int hi = pv_rsp_hexval((unsigned char)pkt[at + 2 * i]);
        int lo = pv_rsp_hexval((unsigned char)pkt[at + 2 * i + 1]);
        if (hi < 0 || lo < 0)
            break;
        v |= (uint32_t)(hi << 4 | lo) << (8 * i);
    }
    *val = v;
    return 0;
}

size_t pv_rsp_decode_text(const char *hex, size_t len, char *out, size_t cap, size_t used)
{
    for (size_t i = 0; i + 1 < len && used + 1 < cap; i += 2) {
        int hi = pv_rsp_hexval((unsigned char)hex[i]),
            lo = pv_rsp_hexval((unsigned char)hex[i + 1]);
        if (hi < 0 || lo < 0)
            break;
        out[used++] = (char)(hi << 4 | lo);
    }
    if (cap)
        out[used < cap ? used : cap - 1] = 0;
    return used;
}

/* The decimal number starting at s, or -1 when there is none or it is outside [lo, hi]. */
static long attr_num(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    return end != s && v >= lo && v <= hi ? v : -1;
}

void pv_rsp_target_xml_regs(const char *xml, int regnum[PV_REG_COUNT],
                            uint8_t regbytes[PV_REG_COUNT])
{
    static const char *const names[PV_REG_COUNT] = {
        "r0",  "r1",  "r2", "r3", "r4", "r5",   "r6",  "r7",  "r8",      "r9",     "r10",
        "r11", "r12", "sp", "lr", "pc", "xpsr", "msp", "psp", "primask", "control"};
    long next = 0;
    for (const char *r = strstr(xml, "<reg "); r; r = strstr(r + 5, "<reg ")) {
        const char *end = strchr(r, '>');
        if (!end)
            break;
        char name[32] = "";
        long bits = 32, num = next;
        const char *a;
        if ((a = strstr(r, "name=\"")) && a < end)
            sscanf(a + 6, "%31[^\"]", name);
        if ((a = strstr(r, "bitsize=\"")) && a < end)
            bits = attr_num(a + 9, 1, 64);
        if ((a = strstr(r, "regnum=\"")) && a < end && (num = attr_num(a + 8, 0, 65535)) < 0)
            continue; /* no usable number: this register is left out */
        next = num + 1;
        if (bits < 0)
            continue;
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        for (int i = 0; i < PV_REG_COUNT; i++)
            if (strcmp(name, names[i]) == 0 || (i == PV_REG_XPSR && strcmp(name, "cpsr") == 0)) {
                regnum[i] = (int)num;
                regbytes[i] = (uint8_t)((bits + 7) / 8);
            }
    }
}
