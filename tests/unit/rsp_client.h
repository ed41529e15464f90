/* A small GDB remote serial protocol client for the tests and benchmarks that drive
 * build/host/bin/sim's GDB server: framing with acks, monitor commands, memory reads, flash
 * programming with vFlashErase/vFlashWrite/vFlashDone (as GDB's load does), registers,
 * breakpoints and continue. Define RSP_FAIL(fmt, ...) (must not return) before including;
 * include after sim_process.h. */
#ifndef TESTS_UNIT_RSP_CLIENT_H
#define TESTS_UNIT_RSP_CLIENT_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct rsp {
    int fd;
};

static inline int rsp_getc(struct rsp *r, int ms)
{
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return -1;
    uint8_t c;
    return read(r->fd, &c, 1) == 1 ? c : -1;
}

static inline void rsp_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            RSP_FAIL("socket write failed: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

static inline void rsp_send(struct rsp *r, const void *payload, size_t len)
{
    static uint8_t frame[40000];
    if (len + 4 > sizeof frame)
        RSP_FAIL("packet of %zu bytes is too long", len);
    uint8_t sum = 0;
    frame[0] = '$';
    memcpy(frame + 1, payload, len);
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + ((const uint8_t *)payload)[i]);
    snprintf((char *)frame + 1 + len, 4, "#%02x", sum);
    for (int attempt = 0; attempt < 3; attempt++) {
        rsp_write_all(r->fd, frame, len + 4);
        int c;
        while ((c = rsp_getc(r, 20000)) != '+' && c != '-')
            if (c < 0)
                RSP_FAIL("gdb server: no ack for '%.40s'", (const char *)payload);
        if (c == '+')
            return;
    }
    RSP_FAIL("gdb server: packet refused three times");
}

/* One reply packet's payload (acked), NUL-terminated. */
static inline size_t rsp_recv(struct rsp *r, char *out, size_t cap, int ms)
{
    int c;
    while ((c = rsp_getc(r, ms)) != '$')
        if (c < 0)
            RSP_FAIL("gdb server: no reply");
    size_t n = 0;
    while ((c = rsp_getc(r, ms)) != '#') {
        if (c < 0 || n + 1 >= cap)
            RSP_FAIL("gdb server: reply cut short");
        out[n++] = (char)c;
    }
    rsp_getc(r, ms);
    rsp_getc(r, ms);
    rsp_write_all(r->fd, "+", 1);
    out[n] = 0;
    return n;
}

static inline char *rsp_cmd(struct rsp *r, const char *payload)
{
    static char reply[40000];
    rsp_send(r, payload, strlen(payload));
    rsp_recv(r, reply, sizeof reply, 20000);
    return reply;
}

/* `monitor cmd`: console output ("O" packets, hex) into out, then OK. */
static inline void rsp_monitor(struct rsp *r, const char *cmd, char *out, size_t cap)
{
    char pkt[256] = "qRcmd,";
    for (size_t i = 0; cmd[i]; i++)
        sprintf(pkt + strlen(pkt), "%02x", (uint8_t)cmd[i]);
    rsp_send(r, pkt, strlen(pkt));
    size_t n = 0;
    if (out)
        out[0] = 0;
    for (;;) {
        static char reply[4096];
        rsp_recv(r, reply, sizeof reply, 20000);
        if (reply[0] == 'O' && reply[1] != 'K') {
            for (size_t i = 1; reply[i] && reply[i + 1] && out && n + 1 < cap; i += 2) {
                unsigned b;
                sscanf(reply + i, "%2x", &b);
                out[n++] = (char)b;
                out[n] = 0;
            }
            continue;
        }
        if (strcmp(reply, "OK") != 0)
            RSP_FAIL("monitor %s: %s", cmd, reply);
        return;
    }
}

static inline void rsp_read(struct rsp *r, uint32_t addr, uint8_t *out, size_t len)
{
    while (len) {
        size_t n = len < 4096 ? len : 4096;
        char pkt[64];
        snprintf(pkt, sizeof pkt, "m%x,%zx", addr, n);
        char *reply = rsp_cmd(r, pkt);
        if (strlen(reply) != 2 * n)
            RSP_FAIL("read of 0x%08x: %s", addr, reply);
        for (size_t i = 0; i < n; i++) {
            unsigned b;
            sscanf(reply + 2 * i, "%2x", &b);
            out[i] = (uint8_t)b;
        }
        addr += (uint32_t)n, out += n, len -= n;
    }
}

/* Erases the sectors under [addr, addr + len) and programs data there, as GDB's load does. */
static inline void rsp_flash(struct rsp *r, uint32_t addr, const uint8_t *data, size_t len)
{
    char pkt[64];
    snprintf(pkt, sizeof pkt, "vFlashErase:%x,%zx", addr, len);
    char *reply = rsp_cmd(r, pkt);
    if (strcmp(reply, "OK") != 0)
        RSP_FAIL("vFlashErase at 0x%08x: %s", addr, reply);
    static uint8_t buf[8300];
    for (size_t off = 0; off < len;) {
        size_t chunk = len - off < 4096 ? len - off : 4096;
        int h = snprintf((char *)buf, 40, "vFlashWrite:%x:", addr + (uint32_t)off);
        size_t n = (size_t)h;
        for (size_t i = 0; i < chunk; i++) {
            uint8_t b = data[off + i];
            if (b == '#' || b == '$' || b == '}' || b == '*') {
                buf[n++] = '}';
                b ^= 0x20;
            }
            buf[n++] = b;
        }
        static char rep[256];
        rsp_send(r, buf, n);
        rsp_recv(r, rep, sizeof rep, 20000);
        if (strcmp(rep, "OK") != 0)
            RSP_FAIL("vFlashWrite at 0x%08zx: %s", addr + off, rep);
        off += chunk;
    }
    reply = rsp_cmd(r, "vFlashDone");
    if (strcmp(reply, "OK") != 0)
        RSP_FAIL("vFlashDone: %s", reply);
}

/* Register n (0-15: r0-r15) of a halted core. */
static inline uint32_t rsp_reg(struct rsp *r, unsigned n)
{
    char pkt[16];
    snprintf(pkt, sizeof pkt, "p%x", n);
    char *reply = rsp_cmd(r, pkt);
    unsigned b[4];
    if (sscanf(reply, "%2x%2x%2x%2x", &b[0], &b[1], &b[2], &b[3]) != 4)
        RSP_FAIL("register %u: %s", n, reply);
    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Hardware breakpoint at a Thumb code address (set: 1, remove: 0). */
static inline void rsp_break(struct rsp *r, uint32_t addr, int set)
{
    char pkt[48];
    snprintf(pkt, sizeof pkt, "%c1,%x,2", set ? 'Z' : 'z', addr & ~1u);
    char *reply = rsp_cmd(r, pkt);
    if (strcmp(reply, "OK") != 0)
        RSP_FAIL("breakpoint at 0x%08x: %s", addr, reply);
}

/* Resumes the core and waits (up to ms) for it to stop; returns the stop reply. */
static inline char *rsp_continue(struct rsp *r, int ms)
{
    static char reply[512];
    rsp_send(r, "c", 1);
    rsp_recv(r, reply, sizeof reply, ms);
    if (reply[0] != 'T' && reply[0] != 'S')
        RSP_FAIL("continue: unexpected reply %s", reply);
    return reply;
}

#endif
