/* GDB remote serial protocol server (see gdb_rsp.h). */
#include "gdb_rsp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gdb_flash.h"
#include "sim_log.h"

#define SCRATCH_SIZE (2 * GDB_PACKET_SIZE + 64)
/* DCRSR REGSEL values (chip.h). */
#define REGSEL_XPSR    16
#define REGSEL_SPECIAL 0x14 /* CONTROL 31:24 | FAULTMASK 23:16 | BASEPRI 15:8 | PRIMASK 7:0 */
#define REGSEL_FPSCR   0x21
#define REGSEL_S0      0x40

static const char hexdig[] = "0123456789abcdef";

/* ---- protocol helpers ---- */

uint8_t rsp_checksum(const uint8_t *data, size_t len)
{
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += data[i];
    return (uint8_t)sum;
}

static bool needs_escape(uint8_t c)
{
    return c == '#' || c == '$' || c == '}' || c == '*';
}

size_t rsp_escape(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (needs_escape(in[i])) {
            out[n++] = '}';
            out[n++] = in[i] ^ 0x20;
        } else {
            out[n++] = in[i];
        }
    }
    return n;
}

size_t rsp_unescape(uint8_t *buf, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '}' && i + 1 < len)
            buf[n++] = buf[++i] ^ 0x20;
        else
            buf[n++] = buf[i];
    }
    return n;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses hex digits up to a character not a hex digit; returns the end or NULL if none. */
static const char *parse_hex(const char *p, uint32_t *out)
{
    uint64_t v = 0;
    const char *start = p;
    while (hexval((unsigned char)*p) >= 0) {
        v = (v << 4) | (uint64_t)hexval((unsigned char)*p);
        p++;
    }
    if (p == start || p - start > 8)
        return NULL;
    *out = (uint32_t)v;
    return p;
}

/* Decodes hex pairs; returns the byte count or -1. */
static long hex_decode(const char *hex, size_t hexlen, uint8_t *out)
{
    if (hexlen % 2)
        return -1;
    for (size_t i = 0; i < hexlen / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(hexlen / 2);
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[in[i] >> 4];
        out[2 * i + 1] = hexdig[in[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---- sending ---- */

static void send_raw(struct gdb_server *g, const void *data, size_t len)
{
    if (!outq_append(&g->srv.out, data, len))
        sim_warn("gdb: out of memory queueing a reply");
    chip_counters(g->chip)->dbg_bytes_out += len;
}

/* Frames a payload (already escaped where binary) as $payload#cs. */
static void send_packet(struct gdb_server *g, const void *payload, size_t len)
{
    char tail[4];
    uint8_t cs = rsp_checksum(payload, len);
    snprintf(tail, sizeof tail, "#%02x", cs);
    uint8_t *last = realloc(g->last, len + 4);
    if (last) {
        g->last = last;
        last[0] = '$';
        memcpy(last + 1, payload, len);
        memcpy(last + 1 + len, tail, 3);
        g->last_len = len + 4;
        send_raw(g, last, g->last_len);
    }
}

static void send_str(struct gdb_server *g, const char *s)
{
    send_packet(g, s, strlen(s));
}

/* Console output for the client: an O packet with the text in hex. */
static void send_console(struct gdb_server *g, const char *text)
{
    size_t n = strlen(text);
    while (n) {
        size_t chunk = n > 1000 ? 1000 : n;
        char buf[2 * 1000 + 2];
        buf[0] = 'O';
        hex_encode((const uint8_t *)text, chunk, buf + 1);
        send_str(g, buf);
        text += chunk;
        n -= chunk;
    }
}

static void send_stop_reply(struct gdb_server *g, int signo)
{
    char buf[8];
    snprintf(buf, sizeof buf, "T%02x", signo);
    send_str(g, buf);
}

/* ---- registers (OpenOCD 0.12.0's Cortex-M4F numbering, FACTS §7) ---- */

struct regdesc {
    int regsel;    /* DCRSR REGSEL, or -1 for a hole */
    uint8_t bytes; /* size in the p/P packets */
    uint8_t shift; /* bit offset inside the packed special register */
};

static struct regdesc reg_lookup(unsigned regnum)
{
    if (regnum <= 18)
        return (struct regdesc){(int)regnum, 4, 0};
    if (regnum >= 20 && regnum <= 23) /* primask, basepri, faultmask, control */
        return (struct regdesc){REGSEL_SPECIAL, 1, (uint8_t)(8 * (regnum - 20))};
    if (regnum >= 42 && regnum <= 57)
        return (struct regdesc){REGSEL_S0 + 2 * (int)(regnum - 42), 8, 0};
    if (regnum == 58)
        return (struct regdesc){REGSEL_FPSCR, 4, 0};
    return (struct regdesc){-1, 0, 0};
}

static int reg_get(struct gdb_server *g, unsigned regnum, uint8_t out[8], unsigned *bytes)
{
    struct regdesc d = reg_lookup(regnum);
    if (d.regsel < 0)
        return -1;
    uint32_t lo = 0, hi = 0;
    if (chip_reg_read(g->chip, (unsigned)d.regsel, &lo) != 0)
        return -1;
    if (d.bytes == 8 && chip_reg_read(g->chip, (unsigned)d.regsel + 1, &hi) != 0)
        return -1;
    if (d.bytes == 1)
        lo = (lo >> d.shift) & 0xFFu;
    for (unsigned i = 0; i < 4; i++) {
        out[i] = (uint8_t)(lo >> (8 * i));
        out[4 + i] = (uint8_t)(hi >> (8 * i));
    }
    *bytes = d.bytes;
    return 0;
}

static int reg_set(struct gdb_server *g, unsigned regnum, const uint8_t *val, size_t n)
{
    struct regdesc d = reg_lookup(regnum);
    if (d.regsel < 0 || n != d.bytes)
        return -1;
    uint32_t lo = 0, hi = 0;
    for (unsigned i = 0; i < 4 && i < n; i++)
        lo |= (uint32_t)val[i] << (8 * i);
    for (unsigned i = 4; i < n; i++)
        hi |= (uint32_t)val[i] << (8 * (i - 4));
    if (d.bytes == 1) {
        uint32_t cur = 0;
        if (chip_reg_read(g->chip, REGSEL_SPECIAL, &cur) != 0)
            return -1;
        lo = (cur & ~(0xFFu << d.shift)) | (lo << d.shift);
    }
    if (chip_reg_write(g->chip, (unsigned)d.regsel, lo) != 0)
        return -1;
    if (d.bytes == 8 && chip_reg_write(g->chip, (unsigned)d.regsel + 1, hi) != 0)
        return -1;
    return 0;
}

static const char target_xml_head[] = "<?xml version=\"1.0\"?>\n"
                                      "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
                                      "<target version=\"1.0\">\n"
                                      "<architecture>arm</architecture>\n";

static size_t build_target_xml(char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s<feature name=\"org.gnu.gdb.arm.m-profile\">\n",
                                target_xml_head);
    for (unsigned r = 0; r <= 16; r++) {
        static const char *const special[] = {"sp", "lr", "pc", "xPSR"};
        static const char *const types[] = {"data_ptr", "int", "code_ptr", "int"};
        char name[8];
        snprintf(name, sizeof name, "r%u", r);
        n += (size_t)snprintf(buf + n, cap - n,
                              "<reg name=\"%s\" bitsize=\"32\" regnum=\"%u\" type=\"%s\" "
                              "group=\"general\"/>\n",
                              r < 13 ? name : special[r - 13], r, r < 13 ? "int" : types[r - 13]);
    }
    n += (size_t)snprintf(
        buf + n, cap - n,
        "</feature>\n<feature name=\"org.gnu.gdb.arm.m-system\">\n"
        "<reg name=\"msp\" bitsize=\"32\" regnum=\"17\" type=\"data_ptr\" group=\"system\"/>\n"
        "<reg name=\"psp\" bitsize=\"32\" regnum=\"18\" type=\"data_ptr\" group=\"system\"/>\n"
        "<reg name=\"primask\" bitsize=\"1\" regnum=\"20\" type=\"int8\" group=\"system\"/>\n"
        "<reg name=\"basepri\" bitsize=\"8\" regnum=\"21\" type=\"int8\" group=\"system\"/>\n"
        "<reg name=\"faultmask\" bitsize=\"1\" regnum=\"22\" type=\"int8\" group=\"system\"/>\n"
        "<reg name=\"control\" bitsize=\"3\" regnum=\"23\" type=\"int8\" group=\"system\"/>\n"
        "</feature>\n<feature name=\"org.gnu.gdb.arm.vfp\">\n");
    for (unsigned d = 0; d < 16; d++)
        n += (size_t)snprintf(buf + n, cap - n,
                              "<reg name=\"d%u\" bitsize=\"64\" regnum=\"%u\" type=\"ieee_double\" "
                              "group=\"float\"/>\n",
                              d, 42 + d);
    n += (size_t)snprintf(
        buf + n, cap - n,
        "<reg name=\"fpscr\" bitsize=\"32\" regnum=\"58\" type=\"int\" group=\"float\"/>\n"
        "</feature>\n</target>\n");
    return n;
}

/* Memory map: the flash sectors (merged runs of equal size, as blocksize regions) and RAM for
 * everything else, so GDB can reach every address (it refuses addresses outside the map). */
static size_t build_memory_map(struct gdb_server *g, char *buf, size_t cap)
{
    struct flash_sector sec[STM32_MAX_SECTORS];
    unsigned ns = stm32_flash_layout(g->chip, sec);
    size_t n = (size_t)snprintf(buf, cap,
                                "<?xml version=\"1.0\"?>\n"
                                "<!DOCTYPE memory-map PUBLIC \"+//IDN gnu.org//DTD GDB Memory Map "
                                "V1.0//EN\" \"http://sourceware.org/gdb/gdb-memory-map.dtd\">\n"
                                "<memory-map>\n");
    uint64_t at = 0;
    for (unsigned i = 0; i < ns;) {
        unsigned j = i;
        uint64_t len = 0;
        while (j < ns && sec[j].size == sec[i].size && sec[j].addr == sec[i].addr + len) {
            len += sec[j].size;
            j++;
        }
        if (sec[i].addr > at)
            n += (size_t)snprintf(buf + n, cap - n,
                                  "<memory type=\"ram\" start=\"0x%08llx\" length=\"0x%08llx\"/>\n",
                                  (unsigned long long)at, (unsigned long long)(sec[i].addr - at));
        n +=
            (size_t)snprintf(buf + n, cap - n,
                             "<memory type=\"flash\" start=\"0x%08x\" length=\"0x%08llx\">\n"
                             "<property name=\"blocksize\">0x%x</property>\n</memory>\n",
                             (unsigned)sec[i].addr, (unsigned long long)len, (unsigned)sec[i].size);
        at = sec[i].addr + len;
        i = j;
    }
    n += (size_t)snprintf(buf + n, cap - n,
                          "<memory type=\"ram\" start=\"0x%08llx\" length=\"0x%08llx\"/>\n"
                          "</memory-map>\n",
                          (unsigned long long)at, (unsigned long long)(0x100000000ull - at));
    return n;
}

/* qXfer reply for [offset, offset+length) of a document: 'm' (more) or 'l' (last) + data. */
static void send_xfer(struct gdb_server *g, const char *doc, size_t doclen, const char *args)
{
    uint32_t off, len;
    const char *p = parse_hex(args, &off);
    if (!p || *p != ',' || !parse_hex(p + 1, &len)) {
        send_str(g, "E00");
        return;
    }
    if (off > doclen) {
        send_str(g, "E00");
        return;
    }
    size_t avail = doclen - off;
    size_t max = GDB_PACKET_SIZE / 2 - 8;
    if (len > max)
        len = (uint32_t)max;
    size_t take = avail < len ? avail : len;
    uint8_t *out = g->pkt;
    out[0] = take < avail ? 'm' : 'l';
    size_t n = 1 + rsp_escape((const uint8_t *)doc + off, take, out + 1);
    send_packet(g, out, n);
}

/* ---- memory ---- */

static int mem_read(struct gdb_server *g, uint32_t addr, uint8_t *out, size_t len, size_t *got)
{
    size_t i = 0;
    while (i < len) {
        uint32_t a = addr + (uint32_t)i, v;
        if ((a & 3u) == 0 && len - i >= 4) {
            if (chip_dbg_read(g->chip, a, 4, &v) != CHIP_OK)
                break;
            for (unsigned k = 0; k < 4; k++)
                out[i + k] = (uint8_t)(v >> (8 * k));
            i += 4;
        } else if ((a & 1u) == 0 && len - i >= 2) {
            if (chip_dbg_read(g->chip, a, 2, &v) != CHIP_OK)
                break;
            out[i] = (uint8_t)v;
            out[i + 1] = (uint8_t)(v >> 8);
            i += 2;
        } else {
            if (chip_dbg_read(g->chip, a, 1, &v) != CHIP_OK)
                break;
            out[i++] = (uint8_t)v;
        }
    }
    *got = i;
    return i == len ? 0 : -1;
}

static int mem_write(struct gdb_server *g, uint32_t addr, const uint8_t *in, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t a = addr + (uint32_t)i;
        int rc;
        if ((a & 3u) == 0 && len - i >= 4) {
            uint32_t v = (uint32_t)in[i] | (uint32_t)in[i + 1] << 8 | (uint32_t)in[i + 2] << 16 |
                         (uint32_t)in[i + 3] << 24;
            rc = chip_dbg_write(g->chip, a, 4, v);
            i += 4;
        } else if ((a & 1u) == 0 && len - i >= 2) {
            rc = chip_dbg_write(g->chip, a, 2, (uint32_t)in[i] | (uint32_t)in[i + 1] << 8);
            i += 2;
        } else {
            rc = chip_dbg_write(g->chip, a, 1, in[i]);
            i += 1;
        }
        if (rc != CHIP_OK)
            return -1;
    }
    return 0;
}

/* ---- breakpoints ---- */

static void bkpt_clear_all(struct gdb_server *g)
{
    for (unsigned i = 0; i < g->n_bkpts; i++)
        chip_bkpt_remove(g->chip, g->bkpts[i]);
    g->n_bkpts = 0;
}

static void handle_bkpt(struct gdb_server *g, const char *p, bool insert)
{
    /* Z<type>,<addr>,<kind>: types 0 (software) and 1 (hardware) both become comparators, so a
     * breakpoint works in flash and in RAM without patching memory. Watchpoints: not offered. */
    uint32_t addr, kind;
    if ((p[1] != '0' && p[1] != '1') || p[2] != ',') {
        send_str(g, "");
        return;
    }
    const char *q = parse_hex(p + 3, &addr);
    if (!q || *q != ',' || !parse_hex(q + 1, &kind)) {
        send_str(g, "E01");
        return;
    }
    addr &= ~1u;
    if (insert) {
        for (unsigned i = 0; i < g->n_bkpts; i++)
            if (g->bkpts[i] == addr) {
                send_str(g, "OK");
                return;
            }
        if (g->n_bkpts >= GDB_MAX_BKPTS || chip_bkpt_add(g->chip, addr) != 0) {
            send_str(g, "E01");
            return;
        }
        g->bkpts[g->n_bkpts++] = addr;
        send_str(g, "OK");
        return;
    }
    for (unsigned i = 0; i < g->n_bkpts; i++)
        if (g->bkpts[i] == addr) {
            chip_bkpt_remove(g->chip, addr);
            g->bkpts[i] = g->bkpts[--g->n_bkpts];
            break;
        }
    send_str(g, "OK");
}

/* ---- execution ---- */

/* SIGINT (2) for a debugger request or \x03, SIGTRAP (5) for breakpoints, watchpoints, vector
 * catch. */
static int stop_signal(struct gdb_server *g)
{
    unsigned why = chip_halt_reason(g->chip);
    if (g->interrupted)
        return 2;
    return why & (CHIP_HALT_BKPT | CHIP_HALT_DWT | CHIP_HALT_VCATCH) ? 5 : 2;
}

static void do_continue(struct gdb_server *g, const char *addr_arg)
{
    uint32_t addr;
    if (addr_arg && *addr_arg && parse_hex(addr_arg, &addr))
        chip_reg_write(g->chip, 15, addr);
    g->interrupted = false;
    g->running = true;
    chip_resume(g->chip);
}

static void do_step(struct gdb_server *g, const char *addr_arg)
{
    uint32_t addr;
    if (!chip_is_halted(g->chip)) {
        send_str(g, "E01");
        return;
    }
    if (addr_arg && *addr_arg && parse_hex(addr_arg, &addr))
        chip_reg_write(g->chip, 15, addr);
    g->interrupted = false;
    if (chip_step(g->chip) != 0) {
        send_str(g, "E01");
        return;
    }
    send_stop_reply(g, 5);
}

static void handle_vcont(struct gdb_server *g, const char *p)
{
    if (strcmp(p, "vCont?") == 0) {
        send_str(g, "vCont;c;C;s;S");
        return;
    }
    /* vCont;action[:thread][;action...]: one core, so the first action decides. */
    const char *a = p + 6;
    if (*a == 's' || *a == 'S')
        do_step(g, NULL);
    else if (*a == 'c' || *a == 'C')
        do_continue(g, NULL);
    else
        send_str(g, "");
}

/* ---- monitor commands ---- */

static void monitor(struct gdb_server *g, const char *cmd)
{
    char line[512];
    while (*cmd == ' ')
        cmd++;
    size_t n = strlen(cmd);
    while (n && (cmd[n - 1] == ' ' || cmd[n - 1] == '\n'))
        n--;
    char c[128];
    snprintf(c, sizeof c, "%.*s", (int)(n < 127 ? n : 127), cmd);
    if (strcmp(c, "reset halt") == 0 || strcmp(c, "reset init") == 0) {
        chip_reset(g->chip, true);
        uint32_t pc = 0;
        chip_reg_read(g->chip, 15, &pc);
        snprintf(line, sizeof line, "reset: core halted at pc 0x%08x\n", (unsigned)pc);
        send_console(g, line);
        send_str(g, "OK");
    } else if (strcmp(c, "reset") == 0 || strcmp(c, "reset run") == 0) {
        chip_reset(g->chip, false);
        send_console(g, "reset: core running\n");
        send_str(g, "OK");
    } else if (strcmp(c, "halt") == 0) {
        chip_halt(g->chip);
        uint32_t pc = 0;
        chip_reg_read(g->chip, 15, &pc);
        snprintf(line, sizeof line, "halted at pc 0x%08x\n", (unsigned)pc);
        send_console(g, line);
        send_str(g, "OK");
    } else if (strcmp(c, "counters") == 0) {
        chip_counters_format(g->chip, line, sizeof line - 2);
        strcat(line, "\n");
        send_console(g, line);
        send_str(g, "OK");
    } else if (strcmp(c, "uid") == 0) {
        uint8_t uid[12];
        char hex[25];
        chip_uid(g->chip, uid);
        hex_encode(uid, sizeof uid, hex);
        snprintf(line, sizeof line, "%s\n", hex);
        send_console(g, line);
        send_str(g, "OK");
    } else if (strcmp(c, "rdp") == 0) {
        snprintf(line, sizeof line, "0x%02x\n", (unsigned)chip_rdp_byte(g->chip));
        send_console(g, line);
        send_str(g, "OK");
    } else if (strcmp(c, "help") == 0) {
        send_console(g, "monitor commands: reset halt | reset init | reset [run] | halt | "
                        "counters | uid | rdp | help\n");
        send_str(g, "OK");
    } else {
        snprintf(line, sizeof line,
                 "unknown monitor command '%s' (try: reset halt, reset, halt, counters, uid, "
                 "rdp, help)\n",
                 c);
        send_console(g, line);
        send_str(g, "E01");
    }
}

/* ---- flash (vFlashErase / vFlashWrite / vFlashDone) ---- */

/* Flash is programmed with the core halted, as OpenOCD's flash drivers require ("Target not
 * halted"): a running core could keep the controller busy with its own flash stores, and each
 * busy wait lets it run on (gdb_flash.c). */
static bool flash_refused_running(struct gdb_server *g, const char *what)
{
    if (chip_is_halted(g->chip))
        return false;
    sim_warn("gdb: %s refused: the core is running (halt it first: Ctrl-C or monitor halt)", what);
    send_str(g, "E01");
    return true;
}

static void flash_erase(struct gdb_server *g, const char *args)
{
    uint32_t addr, len;
    const char *p = parse_hex(args, &addr);
    if (!p || *p != ',' || !parse_hex(p + 1, &len)) {
        send_str(g, "E01");
        return;
    }
    if (flash_refused_running(g, "vFlashErase"))
        return;
    struct flash_sector sec[STM32_MAX_SECTORS];
    unsigned ns = stm32_flash_layout(g->chip, sec);
    char err[256];
    g->flash_dirty = true;
    for (unsigned i = 0; i < ns; i++) {
        uint64_t s0 = sec[i].addr, s1 = s0 + sec[i].size;
        if (s1 <= addr || s0 >= (uint64_t)addr + len)
            continue;
        if (stm32_flash_erase_sector(g->chip, &sec[i], err, sizeof err) != 0) {
            sim_warn("gdb: vFlashErase of sector at 0x%08x: %s", (unsigned)sec[i].addr, err);
            stm32_flash_lock(g->chip);
            send_str(g, "E01");
            return;
        }
    }
    send_str(g, "OK");
}

static void flash_write(struct gdb_server *g, const uint8_t *pkt, size_t len)
{
    /* vFlashWrite:addr:binary */
    const char *args = (const char *)pkt + 12;
    uint32_t addr;
    const char *p = parse_hex(args, &addr);
    if (!p || *p != ':') {
        send_str(g, "E01");
        return;
    }
    if (flash_refused_running(g, "vFlashWrite"))
        return;
    size_t off = (size_t)((const uint8_t *)p + 1 - pkt);
    char err[256];
    g->flash_dirty = true;
    if (stm32_flash_program(g->chip, addr, pkt + off, len - off, err, sizeof err) != 0) {
        sim_warn("gdb: vFlashWrite at 0x%08x: %s", (unsigned)addr, err);
        stm32_flash_lock(g->chip);
        send_str(g, "E01");
        return;
    }
    send_str(g, "OK");
}

static void flash_done(struct gdb_server *g)
{
    stm32_flash_lock(g->chip);
    if (g->flash_dirty) /* as OpenOCD's gdb-flash-write-end event: reset halt */
        chip_reset(g->chip, true);
    g->flash_dirty = false;
    send_str(g, "OK");
}

/* ---- packet dispatch ---- */

static void handle_query(struct gdb_server *g, const char *p)
{
    if (strncmp(p, "qSupported", 10) == 0) {
        char buf[160];
        snprintf(buf, sizeof buf,
                 "PacketSize=%x;qXfer:memory-map:read+;qXfer:features:read+;"
                 "QStartNoAckMode+;vContSupported+",
                 GDB_PACKET_SIZE);
        send_str(g, buf);
    } else if (strncmp(p, "qXfer:features:read:target.xml:", 31) == 0) {
        static char xml[8192];
        size_t n = build_target_xml(xml, sizeof xml);
        send_xfer(g, xml, n, p + 31);
    } else if (strncmp(p, "qXfer:features:read:", 20) == 0) {
        send_str(g, "E00");
    } else if (strncmp(p, "qXfer:memory-map:read::", 23) == 0) {
        char map[4096];
        size_t n = build_memory_map(g, map, sizeof map);
        send_xfer(g, map, n, p + 23);
    } else if (strncmp(p, "qRcmd,", 6) == 0) {
        char cmd[512];
        size_t hl = strlen(p + 6);
        long n = hl / 2 < sizeof cmd ? hex_decode(p + 6, hl, (uint8_t *)cmd) : -1;
        if (n < 0) {
            send_str(g, "E01");
            return;
        }
        cmd[n] = 0;
        monitor(g, cmd);
    } else if (strcmp(p, "qC") == 0) {
        send_str(g, "QC0");
    } else if (strcmp(p, "qAttached") == 0) {
        send_str(g, "1");
    } else if (strcmp(p, "qfThreadInfo") == 0 || strcmp(p, "qsThreadInfo") == 0) {
        send_str(g, "l");
    } else if (strcmp(p, "qOffsets") == 0) {
        send_str(g, "Text=0;Data=0;Bss=0");
    } else if (strncmp(p, "qSymbol", 7) == 0) {
        send_str(g, "OK");
    } else {
        send_str(g, ""); /* qTStatus and everything not supported */
    }
}

static void handle_g(struct gdb_server *g)
{
    char buf[17 * 8 + 1];
    for (unsigned r = 0; r <= 16; r++) {
        uint8_t v[8];
        unsigned bytes;
        if (reg_get(g, r, v, &bytes) != 0) {
            send_str(g, "E01");
            return;
        }
        hex_encode(v, 4, buf + 8 * r);
    }
    send_str(g, buf);
}

static void handle_G(struct gdb_server *g, const char *hex)
{
    uint8_t v[17 * 4];
    if (strlen(hex) < sizeof v * 2 || hex_decode(hex, sizeof v * 2, v) < 0) {
        send_str(g, "E01");
        return;
    }
    for (unsigned r = 0; r <= 16; r++)
        if (reg_set(g, r, v + 4 * r, 4) != 0) {
            send_str(g, "E01");
            return;
        }
    send_str(g, "OK");
}

static void handle_p(struct gdb_server *g, const char *args)
{
    uint32_t n;
    uint8_t v[8];
    unsigned bytes;
    char buf[17];
    if (!parse_hex(args, &n) || reg_get(g, n, v, &bytes) != 0) {
        send_str(g, "E01");
        return;
    }
    hex_encode(v, bytes, buf);
    send_str(g, buf);
}

static void handle_P(struct gdb_server *g, const char *args)
{
    uint32_t n;
    uint8_t v[8];
    const char *p = parse_hex(args, &n);
    size_t hl = p && *p == '=' ? strlen(p + 1) : 0;
    long len = hl && hl <= 16 ? hex_decode(p + 1, hl, v) : -1;
    if (len < 0 || reg_set(g, n, v, (size_t)len) != 0) {
        send_str(g, "E01");
        return;
    }
    send_str(g, "OK");
}

static void handle_m(struct gdb_server *g, const char *args)
{
    uint32_t addr, len;
    const char *p = parse_hex(args, &addr);
    if (!p || *p != ',' || !parse_hex(p + 1, &len)) {
        send_str(g, "E01");
        return;
    }
    if (len > GDB_PACKET_SIZE / 2 - 8)
        len = GDB_PACKET_SIZE / 2 - 8;
    uint8_t *data = g->pkt + GDB_PACKET_SIZE + 16;
    size_t got;
    mem_read(g, addr, data, len, &got);
    if (got == 0 && len) {
        send_str(g, "E01");
        return;
    }
    char *hex = (char *)g->pkt;
    hex_encode(data, got, hex);
    send_packet(g, hex, 2 * got);
}

static void handle_M(struct gdb_server *g, const uint8_t *pkt, size_t pktlen, bool binary)
{
    uint32_t addr, len;
    const char *p = parse_hex((const char *)pkt + 1, &addr);
    if (!p || *p != ',' || !(p = parse_hex(p + 1, &len)) || *p != ':') {
        send_str(g, "E01");
        return;
    }
    size_t off = (size_t)((const uint8_t *)p + 1 - pkt);
    const uint8_t *data = pkt + off;
    size_t avail = pktlen - off;
    static uint8_t buf[GDB_INBUF_LIMIT];
    if (!binary) {
        long n = hex_decode((const char *)data, avail, buf);
        if (n < 0) {
            send_str(g, "E01");
            return;
        }
        data = buf;
        avail = (size_t)n;
    }
    if (avail != len || mem_write(g, addr, data, len) != 0) {
        send_str(g, "E01");
        return;
    }
    send_str(g, "OK");
}

/* Handles one complete, unescaped packet (NUL-terminated at pkt[len]). Returns false on 'k'. */
static bool dispatch(struct gdb_server *g, uint8_t *pkt, size_t len)
{
    const char *p = (const char *)pkt;
    struct chip_counters *cnt = chip_counters(g->chip);
    cnt->dbg_round_trips++;
    switch (p[0]) {
    case 'q':
        handle_query(g, p);
        break;
    case 'Q':
        if (strcmp(p, "QStartNoAckMode") == 0) {
            send_str(g, "OK");
            g->noack = true;
        } else {
            send_str(g, "");
        }
        break;
    case '?':
        if (!chip_is_halted(g->chip))
            chip_halt(g->chip);
        g->running = false;
        send_stop_reply(g, stop_signal(g));
        break;
    case 'g':
        cnt->dbg_transactions++;
        handle_g(g);
        break;
    case 'G':
        cnt->dbg_transactions++;
        handle_G(g, p + 1);
        break;
    case 'p':
        cnt->dbg_transactions++;
        handle_p(g, p + 1);
        break;
    case 'P':
        cnt->dbg_transactions++;
        handle_P(g, p + 1);
        break;
    case 'm':
        cnt->dbg_transactions++;
        handle_m(g, p + 1);
        break;
    case 'M':
        cnt->dbg_transactions++;
        handle_M(g, pkt, len, false);
        break;
    case 'X':
        cnt->dbg_transactions++;
        handle_M(g, pkt, len, true);
        break;
    case 'c':
    case 'C':
        /* C sig[;addr]: the signal is meaningless on bare metal */
        do_continue(g, p[0] == 'c' ? p + 1 : (strchr(p, ';') ? strchr(p, ';') + 1 : NULL));
        break;
    case 's':
    case 'S':
        do_step(g, p[0] == 's' ? p + 1 : (strchr(p, ';') ? strchr(p, ';') + 1 : NULL));
        break;
    case 'v':
        if (strncmp(p, "vCont", 5) == 0) {
            handle_vcont(g, p);
        } else if (strncmp(p, "vFlashErase:", 12) == 0) {
            cnt->dbg_transactions++;
            flash_erase(g, p + 12);
        } else if (strncmp(p, "vFlashWrite:", 12) == 0) {
            cnt->dbg_transactions++;
            flash_write(g, pkt, len);
        } else if (strcmp(p, "vFlashDone") == 0) {
            flash_done(g);
        } else if (strncmp(p, "vKill", 5) == 0) {
            send_str(g, "OK");
        } else {
            send_str(g, ""); /* vMustReplyEmpty, vFile, vRun, ... */
        }
        break;
    case 'Z':
    case 'z':
        handle_bkpt(g, p, p[0] == 'Z');
        break;
    case 'H':
    case 'T':
        send_str(g, "OK");
        break;
    case 'D':
        bkpt_clear_all(g);
        send_str(g, "OK");
        break;
    case 'k':
        bkpt_clear_all(g);
        return false;
    default:
        send_str(g, "");
        break;
    }
    return true;
}

/* ---- input parsing ---- */

static void interrupt(struct gdb_server *g)
{
    if (!chip_is_halted(g->chip)) {
        chip_halt(g->chip);
        g->interrupted = true;
    }
    /* The stop reply goes out from gdb_check_stop (also when the core was already halted). */
    if (g->running)
        gdb_check_stop(g, CHIP_RUN_HALTED);
}

/* RDP Level 2: the debug port is a blown fuse; a GDB server on a probe could not reach the core. */
static bool port_alive(struct gdb_server *g)
{
    if (chip_debug_port_alive(g->chip)) {
        g->dead_logged = false;
        return true;
    }
    if (!g->dead_logged)
        sim_warn("gdb: debug port disabled by RDP Level 2: the chip cannot be debugged any more; "
                 "closing the GDB connection");
    g->dead_logged = true;
    return false;
}

bool gdb_input(struct gdb_server *g, const uint8_t *data, size_t len)
{
    chip_counters(g->chip)->dbg_bytes_in += len;
    if (!port_alive(g))
        return false;
    if (g->in_len + len > GDB_INBUF_LIMIT) {
        sim_warn("gdb: packet longer than %u bytes, dropping input", GDB_INBUF_LIMIT);
        g->in_len = 0;
        if (len > GDB_INBUF_LIMIT)
            return true;
    }
    memcpy(g->in + g->in_len, data, len);
    g->in_len += len;
    size_t pos = 0;
    bool keep = true;
    while (pos < g->in_len && keep) {
        uint8_t c = g->in[pos];
        if (c == '+') {
            pos++;
        } else if (c == '-') {
            if (!g->noack && g->last_len)
                send_raw(g, g->last, g->last_len);
            pos++;
        } else if (c == 0x03) {
            interrupt(g);
            pos++;
        } else if (c == '$') {
            uint8_t *hash = memchr(g->in + pos, '#', g->in_len - pos);
            if (!hash || (size_t)(hash - g->in) + 3 > g->in_len)
                break; /* incomplete: wait for more */
            size_t body = pos + 1, blen = (size_t)(hash - g->in) - body;
            int hi = hexval(hash[1]), lo = hexval(hash[2]);
            uint8_t want = rsp_checksum(g->in + body, blen);
            pos = (size_t)(hash - g->in) + 3;
            if (hi < 0 || lo < 0 || (uint8_t)(hi << 4 | lo) != want) {
                if (!g->noack)
                    send_raw(g, "-", 1);
                else
                    sim_warn("gdb: dropped a packet with a bad checksum");
                continue;
            }
            if (!g->noack)
                send_raw(g, "+", 1);
            memcpy(g->pkt, g->in + body, blen);
            size_t n = rsp_unescape(g->pkt, blen);
            g->pkt[n] = 0;
            /* a reset that loaded RDP Level 2 kills the port for the packets behind it too */
            keep = dispatch(g, g->pkt, n) && port_alive(g);
        } else {
            pos++; /* noise between packets */
        }
    }
    memmove(g->in, g->in + pos, g->in_len - pos);
    g->in_len -= pos;
    return keep;
}

void gdb_check_stop(struct gdb_server *g, enum chip_run_result run)
{
    if (!g->running)
        return;
    if (run == CHIP_RUN_LOCKUP && !chip_is_halted(g->chip)) {
        chip_halt(g->chip);
        g->running = false;
        send_console(g, "core locked up (fault while handling a fault); halted\n");
        send_stop_reply(g, 11);
        return;
    }
    if (!chip_is_halted(g->chip))
        return;
    g->running = false;
    send_stop_reply(g, stop_signal(g));
    g->interrupted = false;
}

int gdb_init(struct gdb_server *g, chip_t *chip)
{
    *g =
        (struct gdb_server){.chip = chip, .srv = {.name = "gdb", .listen_fd = -1, .client_fd = -1}};
    g->in = malloc(GDB_INBUF_LIMIT);
    g->pkt = malloc(SCRATCH_SIZE + GDB_INBUF_LIMIT);
    return g->in && g->pkt ? 0 : -1;
}

void gdb_free(struct gdb_server *g)
{
    free(g->in);
    free(g->pkt);
    free(g->last);
    outq_free(&g->srv.out);
    g->in = g->pkt = g->last = NULL;
}

bool gdb_attach(struct gdb_server *g)
{
    g->noack = false;
    g->running = false;
    g->interrupted = false;
    g->in_len = 0;
    g->n_bkpts = 0;
    g->flash_dirty = false;
    if (!port_alive(g))
        return false;
    /* As OpenOCD's default gdb-attach event: the debugger finds the core halted. */
    if (!chip_is_halted(g->chip))
        chip_halt(g->chip);
    return true;
}

void gdb_detach(struct gdb_server *g)
{
    bkpt_clear_all(g);
    if (g->flash_dirty)
        stm32_flash_lock(g->chip);
    g->running = false;
    g->in_len = 0;
}

int gdb_open(struct gdb_server *g, chip_t *chip, const char *addr, uint16_t port, char *err,
             size_t err_len)
{
    if (gdb_init(g, chip) != 0) {
        snprintf(err, err_len, "gdb: out of memory");
        gdb_free(g);
        return -1;
    }
    if (tcp_server_open(&g->srv, "gdb", addr, port, err, err_len) != 0) {
        gdb_free(g);
        return -1;
    }
    return 0;
}

void gdb_close(struct gdb_server *g)
{
    if (g->srv.client_fd >= 0)
        gdb_detach(g);
    tcp_server_close(&g->srv);
    gdb_free(g);
}

int gdb_pollfds(const struct gdb_server *g, struct pollfd *fds)
{
    return tcp_server_pollfds(&g->srv, fds, true);
}

static void drop(struct gdb_server *g, const char *why)
{
    sim_log("gdb: client %s", why);
    gdb_detach(g);
    tcp_server_drop_client(&g->srv);
}

void gdb_flush(struct gdb_server *g)
{
    if (g->srv.client_fd >= 0 && g->srv.out.len && outq_flush(&g->srv.out, g->srv.client_fd) != 0)
        drop(g, "gone");
}

bool gdb_handle(struct gdb_server *g, const struct pollfd *fds, int nfds)
{
    bool busy = false;
    for (int i = 0; i < nfds; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == g->srv.listen_fd) {
            if (tcp_server_accept(&g->srv, false) && !gdb_attach(g))
                drop(g, "refused");
            continue;
        }
        if (fds[i].fd != g->srv.client_fd)
            continue;
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[16384];
            ssize_t n = read(g->srv.client_fd, buf, sizeof buf);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0) {
                drop(g, "disconnected");
                continue;
            }
            busy = true;
            if (!gdb_input(g, buf, (size_t)n)) {
                gdb_flush(g);
                drop(g, chip_debug_port_alive(g->chip) ? "killed the session (k)"
                                                       : "dropped: debug port disabled");
                continue;
            }
        }
        gdb_flush(g);
    }
    return busy;
}
