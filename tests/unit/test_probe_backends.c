/* The station's three probe backends (provisioner/probe_gdb.c, probe_openocd.c, probe_cmsisdap.c)
 * against fresh build/host/bin/sim processes: GDB RSP on --gdb-port, OpenOCD 0.12.0 started by the
 * backend on --bitbang-port, CMSIS-DAP over --dap-port. For each: connect, identify (DEV_ID,
 * flash size, UID as the sim logged it), halt, a reset vector programmed into flash through the
 * flash interface and caught by reset-halt, a 64 KB random block written and read back (round
 * trips printed), every core register, a Thumb program run to its BKPT, a posted write's bus
 * fault surfacing at the next answer, a bounded wait_halt on a spinning core; then RDP Level 2
 * set through the option bytes and, after a power cycle of the sim on the same state file, a
 * quick PV_PROBE_ERR_DEAD. Also: timeouts against a server that never answers, OpenOCD attach
 * mode and its process handling, the DAP-over-TCP front end at the packet level, bad targets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>

#include "../../provisioner/dap_transport.h"
#include "../../provisioner/probe.h"
#include "sim_process.h"

#define BLOCK_SIZE (64 * 1024)
#define SRAM       0x20000000u
#define CODE       0x20010000u
#define TIMEOUT_MS 10000

static char tmpdir[64];

struct sim {
    pid_t pid;
    int gdb, bitbang, dap;
    char uid[25];
    char state[128], log[128], counters[128];
};

struct backend {
    const char *name;
    const struct pv_probe_ops *ops;
    uint64_t seed;
};

/* Figures for the summary at the end. */
struct figures {
    const char *name;
    uint64_t rt_write, rt_read, pk_write, sim_rt_write, sim_tx_write;
    uint64_t ms_write, ms_read, ms_dead;
};
static struct figures fig[3];
static int nfig;

/* ---- sim processes ---- */

static bool log_contains(const char *path, const char *what)
{
    char *log = sp_slurp(path, NULL);
    bool found = log && strstr(log, what);
    free(log);
    return found;
}

static void start_sim(struct sim *s, const char *name, bool create, uint64_t seed)
{
    snprintf(s->state, sizeof s->state, "%s/%s.state", tmpdir, name);
    snprintf(s->log, sizeof s->log, "%s/%s.log", tmpdir, name);
    snprintf(s->counters, sizeof s->counters, "%s/%s.counters", tmpdir, name);
    char seeds[32];
    snprintf(seeds, sizeof seeds, "%llu", (unsigned long long)seed);
    char *args[20];
    int n = 0;
    args[n++] = "--state";
    args[n++] = s->state;
    if (create) {
        args[n++] = "--create";
        args[n++] = "--uid-seed";
        args[n++] = seeds;
    }
    char *rest[] = {"--gdb-port", "0", "--bitbang-port",  "0",
                    "--dap-port", "0", "--counters-file", s->counters};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        args[n++] = rest[i];
    args[n] = NULL;
    char line[256];
    s->pid = sp_start_sim(args, s->log, line, sizeof line);
    if (s->pid < 0) {
        char *log = sp_slurp(s->log, NULL);
        fail_msg("sim did not start; its log:\n%s", log ? log : "");
    }
    s->gdb = sp_port(line, "gdb");
    s->bitbang = sp_port(line, "bitbang");
    s->dap = sp_port(line, "dap");
    assert_true(s->gdb > 0 && s->bitbang > 0 && s->dap > 0);
    /* "sim: chip PATH: uid HEX, rdp ..." */
    char *log = sp_slurp(s->log, NULL);
    assert_non_null(log);
    const char *u = strstr(log, ": uid ");
    assert_non_null(u);
    snprintf(s->uid, sizeof s->uid, "%.24s", u + 6);
    free(log);
}

static void stop_sim(struct sim *s)
{
    if (s->pid > 0)
        assert_int_equal(sp_stop(s->pid, 10000), 0);
    s->pid = -1;
}

/* The sim's counters (dbg_round_trips, dbg_transactions) as of now. */
static void sim_counters(const struct sim *s, uint64_t *round_trips, uint64_t *transactions)
{
    unlink(s->counters);
    kill(s->pid, SIGUSR1);
    char *json = NULL;
    for (int i = 0; i < 250 && !json; i++) {
        usleep(20000);
        json = sp_slurp(s->counters, NULL);
    }
    assert_non_null(json);
    const char *p = strstr(json, "\"dbg_round_trips\": ");
    const char *q = strstr(json, "\"dbg_transactions\": ");
    assert_non_null(p);
    assert_non_null(q);
    *round_trips = strtoull(p + 19, NULL, 10);
    *transactions = strtoull(q + 20, NULL, 10);
    free(json);
}

static void target_for(const struct backend *b, const struct sim *s, char *out, size_t cap)
{
    if (b->ops == &pv_probe_gdb_ops)
        snprintf(out, cap, "127.0.0.1:%d", s->gdb);
    else if (b->ops == &pv_probe_cmsisdap_ops)
        snprintf(out, cap, "tcp:127.0.0.1:%d", s->dap);
    else
        snprintf(out, cap,
                 "spawn:-c 'adapter driver remote_bitbang' -c 'remote_bitbang host 127.0.0.1' "
                 "-c 'remote_bitbang port %d' -f target/stm32f4x.cfg "
                 "-c 'stm32f4x.cpu configure -event reset-start {}' "
                 "-c 'stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; "
                 "mww 0x40023C00 0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; "
                 "mmw 0x40023808 0x00001000 0; mmw 0x40023808 0x00000002 0 }'",
                 s->bitbang);
}

/* OpenOCD processes whose parent is `parent` (running or not yet reaped); the first pid in
 * *first if not NULL. */
static int openocd_children_of(pid_t parent, pid_t *first)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *close_paren = strrchr(buf, ')');
        int ppid = 0;
        char state = 0;
        if (close_paren && sscanf(close_paren + 2, "%c %d", &state, &ppid) == 2 &&
            ppid == (int)parent && strstr(buf, "(openocd)")) {
            if (first && !n)
                *first = (pid_t)atoi(e->d_name);
            n++;
        }
    }
    if (d)
        closedir(d);
    return n;
}

static int openocd_children(void)
{
    return openocd_children_of(getpid(), NULL);
}

/* Running (not a zombie, not gone). */
static bool alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *cp = strrchr(buf, ')');
    return cp && cp[1] == ' ' && cp[2] != 'Z' && cp[2] != 'X';
}

/* ---- helpers over a link ---- */

#define CHECK(l, call)                                                                             \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != PV_PROBE_OK)                                                                    \
            fail_msg("%s: %s -> %d: %s", (l)->ops->name, #call, rc_, (l)->ops->error((l)->p));     \
    } while (0)

static uint32_t rd32(pv_probe_link *l, uint32_t addr)
{
    uint8_t b[4];
    CHECK(l, l->ops->read_mem(l->p, addr, b, 4));
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr32(pv_probe_link *l, uint32_t addr, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    CHECK(l, l->ops->write_mem(l->p, addr, b, 4));
}

static uint32_t reg(pv_probe_link *l, enum pv_probe_reg r)
{
    uint32_t v = 0;
    CHECK(l, l->ops->read_reg(l->p, r, &v));
    return v;
}

static void wait_flash_idle(pv_probe_link *l)
{
    uint64_t end = sp_now_ms() + 10000;
    while (rd32(l, 0x40023C0C) & (1u << 16)) /* FLASH_SR.BSY */
        if (sp_now_ms() > end)
            fail_msg("%s: flash stays busy", l->ops->name);
}

/* Programs words at the start of flash through the flash interface (the reset vector). */
static void program_flash(pv_probe_link *l, const uint32_t *w, unsigned n)
{
    if (rd32(l, 0x40023C10) & (1u << 31)) { /* CR.LOCK: unlock only when locked */
        wr32(l, 0x40023C04, 0x45670123);
        wr32(l, 0x40023C04, 0xCDEF89AB);
    }
    wr32(l, 0x40023C10, 0x201); /* PG, PSIZE x32 */
    for (unsigned i = 0; i < n; i++)
        wr32(l, 0x08000000u + 4 * i, w[i]);
    wait_flash_idle(l);
    assert_int_equal(rd32(l, 0x40023C0C) & 0xF2u, 0); /* no error flags */
    wr32(l, 0x40023C10, 0x80000000u);                 /* LOCK */
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(rd32(l, 0x08000000u + 4 * i), w[i]);
}

/* RDP Level 2 through the option bytes: OPTKEYR, OPTCR with RDP 0xCC, OPTSTRT. */
static void set_level2(pv_probe_link *l)
{
    wr32(l, 0x40023C08, 0x08192A3B);
    wr32(l, 0x40023C08, 0x4C5D6E7F);
    uint32_t optcr = rd32(l, 0x40023C14);
    assert_int_equal(optcr & 1u, 0); /* OPTLOCK cleared by the keys */
    optcr = (optcr & ~0xFF03u) | 0xCC00u;
    wr32(l, 0x40023C14, optcr);
    wr32(l, 0x40023C14, optcr | 2u); /* OPTSTRT */
    wait_flash_idle(l);
    assert_int_equal((rd32(l, 0x40023C14) >> 8) & 0xFF, 0xCC);
}

/* ---- the walk through one backend ---- */

static void exercise(const struct backend *b)
{
    struct figures *F = &fig[nfig++];
    F->name = b->name;
    struct sim s;
    start_sim(&s, b->name, true, b->seed);
    char target[512], err[512] = "";
    target_for(b, &s, target, sizeof target);
    pv_probe_link l;
    int rc = pv_probe_connect(&l, b->ops, target, TIMEOUT_MS, err, sizeof err);
    if (rc)
        fail_msg("%s: connect %s -> %d: %s", b->name, target, rc, err);

    /* identify */
    struct pv_probe_ident id;
    CHECK(&l, pv_probe_identify(&l, &id));
    assert_int_equal(id.cpuid, 0x410FC241u);
    assert_int_equal(id.dbgmcu_idcode & 0xFFFu, 0x419);
    assert_int_equal(id.flash_kb, 2048);
    assert_int_equal(id.rdp, 0xAA);
    char uid[25];
    for (int i = 0; i < 12; i++)
        snprintf(uid + 2 * i, 3, "%02x", id.uid[i]);
    assert_string_equal(uid, s.uid);

    if (b->ops == &pv_probe_gdb_ops) { /* the sim's own word for it */
        char out[128] = "";
        CHECK(&l, l.ops->monitor(l.p, "uid", out, sizeof out));
        assert_int_equal(strncmp(out, uid, 24), 0);
    }
    if (b->ops == &pv_probe_cmsisdap_ops) { /* what the probe said about itself */
        char info[512] = "";
        CHECK(&l, l.ops->monitor(l.p, "info", info, sizeof info));
        assert_non_null(strstr(info, "CMSIS-DAP 2.1.0"));
        assert_non_null(strstr(info, "DPIDR 0x2ba01477"));
        assert_int_equal(l.ops->monitor(l.p, "frobnicate", info, sizeof info),
                         PV_PROBE_ERR_UNSUPPORTED);
    }

    /* halt; a reset vector in flash; reset-halt stops at it */
    CHECK(&l, l.ops->halt(l.p));
    const uint32_t vectors[2] = {0x20020000u, 0x080001C1u};
    program_flash(&l, vectors, 2);
    CHECK(&l, l.ops->reset_halt(l.p));
    assert_int_equal(reg(&l, PV_REG_PC), 0x080001C0u);
    assert_int_equal(reg(&l, PV_REG_MSP), 0x20020000u);
    assert_int_equal(reg(&l, PV_REG_XPSR), 0x01000000u);

    /* 64 KB of random bytes into SRAM and back */
    uint8_t *block = malloc(BLOCK_SIZE), *back = malloc(BLOCK_SIZE);
    assert_non_null(block);
    assert_non_null(back);
    srand((unsigned)b->seed);
    for (int i = 0; i < BLOCK_SIZE; i++)
        block[i] = (uint8_t)(rand() >> 5);
    struct pv_probe_stats s0, s1, s2;
    uint64_t srt0, stx0, srt1, stx1;
    sim_counters(&s, &srt0, &stx0);
    l.ops->stats(l.p, &s0);
    uint64_t t0 = sp_now_ms();
    CHECK(&l, l.ops->write_mem(l.p, SRAM, block, BLOCK_SIZE));
    CHECK(&l, l.ops->flush(l.p));
    uint64_t t1 = sp_now_ms();
    l.ops->stats(l.p, &s1);
    sim_counters(&s, &srt1, &stx1);
    uint64_t t2 = sp_now_ms();
    CHECK(&l, l.ops->read_mem(l.p, SRAM, back, BLOCK_SIZE));
    uint64_t t3 = sp_now_ms();
    l.ops->stats(l.p, &s2);
    assert_memory_equal(back, block, BLOCK_SIZE);
    F->rt_write = s1.round_trips - s0.round_trips;
    F->pk_write = s1.packets - s0.packets;
    F->rt_read = s2.round_trips - s1.round_trips;
    F->sim_rt_write = srt1 - srt0;
    F->sim_tx_write = stx1 - stx0;
    F->ms_write = t1 - t0;
    F->ms_read = t3 - t2;
    assert_true(F->rt_write >= 1 && F->rt_write <= 64);
    assert_true(F->rt_read >= 1 && F->rt_read <= 64);
    /* unaligned ends: 7 bytes at an odd address, read back through a wider window */
    static const uint8_t odd[7] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
    CHECK(&l, l.ops->write_mem(l.p, SRAM + 0x101, odd, sizeof odd));
    uint8_t win[12];
    CHECK(&l, l.ops->read_mem(l.p, SRAM + 0x100, win, sizeof win));
    assert_int_equal(win[0], block[0x100]);
    assert_memory_equal(win + 1, odd, sizeof odd);
    assert_int_equal(win[8], block[0x108]);
    free(block);
    free(back);

    /* core registers */
    for (int r = PV_REG_R0; r <= 12; r++)
        CHECK(&l, l.ops->write_reg(l.p, (enum pv_probe_reg)r, 0x1000u + 0x111u * (unsigned)r));
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_LR, 0x08000123u));
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_PC, 0x20010100u));
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_MSP, 0x20018000u));
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_PSP, 0x2001F000u));
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_PRIMASK, 1));
    for (int r = PV_REG_R0; r <= 12; r++)
        assert_int_equal(reg(&l, (enum pv_probe_reg)r), 0x1000u + 0x111u * (unsigned)r);
    assert_int_equal(reg(&l, PV_REG_LR), 0x08000123u);
    assert_int_equal(reg(&l, PV_REG_PC), 0x20010100u);
    assert_int_equal(reg(&l, PV_REG_MSP), 0x20018000u);
    assert_int_equal(reg(&l, PV_REG_SP), 0x20018000u); /* CONTROL.SPSEL = 0: SP is MSP */
    assert_int_equal(reg(&l, PV_REG_PSP), 0x2001F000u);
    assert_int_equal(reg(&l, PV_REG_PRIMASK), 1);
    assert_int_equal(reg(&l, PV_REG_CONTROL), 0);
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_PRIMASK, 0));
    assert_int_equal(reg(&l, PV_REG_PRIMASK), 0);

    /* a Thumb program: movs r0, #42; bkpt #0 */
    static const uint8_t prog[] = {0x2A, 0x20, 0x00, 0xBE};
    CHECK(&l, l.ops->write_mem(l.p, CODE, prog, sizeof prog));
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_R0, 0));
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_SP, 0x20018000u));
    CHECK(&l, l.ops->write_reg(l.p, PV_REG_XPSR, 0x01000000u));
    uint32_t pc = CODE;
    CHECK(&l, l.ops->resume(l.p, &pc));
    CHECK(&l, l.ops->wait_halt(l.p, 5000));
    assert_int_equal(reg(&l, PV_REG_R0), 42);
    assert_int_equal(reg(&l, PV_REG_PC), CODE + 2);

    /* a posted write into nothing: the bus fault surfaces at the next answer; then all is well */
    static const uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    rc = l.ops->write_mem(l.p, 0x30000000u, junk, sizeof junk);
    if (rc == PV_PROBE_OK)
        rc = l.ops->flush(l.p);
    assert_int_equal(rc, PV_PROBE_ERR_TARGET);
    fprintf(stderr, "    %s: posted write to 0x30000000: %s\n", b->name, l.ops->error(l.p));
    uint8_t tmp[4];
    assert_int_equal(l.ops->read_mem(l.p, 0x30000000u, tmp, 4), PV_PROBE_ERR_TARGET);
    CHECK(&l, l.ops->read_mem(l.p, CODE, tmp, 4));
    assert_memory_equal(tmp, prog, 4);
    CHECK(&l, l.ops->flush(l.p)); /* nothing left over */
    if (b->ops != &pv_probe_gdb_ops) {
        /* a large failed batch (sent on its own, before the station asks for any answer) stops
         * the writes posted behind it: the marker must not land (GDB servers run each packet on
         * its own, so not there) */
        size_t big = 192 * 1024; /* 3 x 16384 words: OpenOCD sends them alone */
        uint8_t *junkbig = malloc(big);
        assert_non_null(junkbig);
        memset(junkbig, 0xA5, big); /* long numbers: > 512 KB of Tcl */
        static const uint8_t marker[4] = {0xAA, 0xBB, 0xCC, 0xDD};
        rc = l.ops->write_mem(l.p, 0x30000000u, junkbig, big);
        if (rc == PV_PROBE_OK)
            rc = l.ops->write_mem(l.p, CODE, marker, sizeof marker);
        if (rc == PV_PROBE_OK)
            rc = l.ops->flush(l.p);
        free(junkbig);
        fprintf(stderr, "    %s: failed 192 KB batch: %s\n", b->name, l.ops->error(l.p));
        assert_int_equal(rc, PV_PROBE_ERR_TARGET);
        assert_non_null(strstr(l.ops->error(l.p), "write"));
        CHECK(&l, l.ops->read_mem(l.p, CODE, tmp, 4));
        assert_memory_equal(tmp, prog, 4);
        CHECK(&l, l.ops->flush(l.p));
    }

    /* a core that never halts: wait_halt gives up in time, halt still works */
    static const uint8_t spin[] = {0xFE, 0xE7}; /* b . */
    CHECK(&l, l.ops->write_mem(l.p, CODE + 0x10, spin, sizeof spin));
    pc = CODE + 0x10;
    CHECK(&l, l.ops->resume(l.p, &pc));
    uint64_t w0 = sp_now_ms();
    rc = l.ops->wait_halt(l.p, 300);
    uint64_t waited = sp_now_ms() - w0;
    assert_int_equal(rc, PV_PROBE_ERR_TIMEOUT);
    assert_true(waited >= 250 && waited < 3000);
    CHECK(&l, l.ops->halt(l.p));
    assert_int_equal(reg(&l, PV_REG_PC), CODE + 0x10);

    /* RDP Level 2; a system reset loads it: the debug port is gone at once */
    set_level2(&l);
    uint64_t r0 = sp_now_ms();
    rc = l.ops->reset_halt(l.p);
    if (rc == PV_PROBE_OK)
        rc = l.ops->read_mem(l.p, SRAM, tmp, 4);
    fprintf(stderr, "    %s: reset after locking: %d after %llu ms: %s\n", b->name, rc,
            (unsigned long long)(sp_now_ms() - r0), l.ops->error(l.p));
    assert_int_equal(rc, PV_PROBE_ERR_DEAD);
    assert_true(sp_now_ms() - r0 < 5000);
    pv_probe_disconnect(&l);
    if (b->ops == &pv_probe_openocd_ops)
        assert_int_equal(openocd_children(), 0); /* the spawned OpenOCD was stopped */
    stop_sim(&s);
    /* and after a power cycle of the sim on the same state file */
    start_sim(&s, b->name, false, 0);
    assert_true(log_contains(s.log, "Level 2"));
    target_for(b, &s, target, sizeof target);
    uint64_t d0 = sp_now_ms();
    rc = pv_probe_connect(&l, b->ops, target, TIMEOUT_MS, err, sizeof err);
    F->ms_dead = sp_now_ms() - d0;
    if (rc == PV_PROBE_OK)
        pv_probe_disconnect(&l);
    fprintf(stderr, "    %s: Level 2 chip: %d after %llu ms: %s\n", b->name, rc,
            (unsigned long long)F->ms_dead, err);
    assert_int_equal(rc, PV_PROBE_ERR_DEAD);
    assert_true(F->ms_dead < 5000);
    assert_true(err[0] != 0);
    if (b->ops == &pv_probe_openocd_ops)
        assert_int_equal(openocd_children(), 0);
    stop_sim(&s);
}

static void test_gdb(void **state)
{
    (void)state;
    static const struct backend b = {"gdb", &pv_probe_gdb_ops, 101};
    exercise(&b);
}

static void test_openocd(void **state)
{
    (void)state;
    static const struct backend b = {"openocd", &pv_probe_openocd_ops, 102};
    exercise(&b);
}

static void test_cmsisdap(void **state)
{
    (void)state;
    static const struct backend b = {"cmsis-dap", &pv_probe_cmsisdap_ops, 103};
    exercise(&b);
}

/* ---- timeouts and refusals ---- */

static int silent_server(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0); /* the kernel accepts; nobody ever answers */
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void expect_connect(const struct pv_probe_ops *ops, const char *target, int want, int max_ms,
                           const char *needle)
{
    pv_probe_link l;
    char err[512] = "";
    uint64_t t0 = sp_now_ms();
    int rc = pv_probe_connect(&l, ops, target, 500, err, sizeof err);
    uint64_t dt = sp_now_ms() - t0;
    if (rc == PV_PROBE_OK)
        pv_probe_disconnect(&l);
    fprintf(stderr, "    %s %s: %d after %llu ms: %s\n", ops->name, target, rc,
            (unsigned long long)dt, err);
    assert_int_equal(rc, want);
    assert_true(dt < (uint64_t)max_ms);
    if (needle && !strstr(err, needle))
        fail_msg("'%s' does not mention '%s'", err, needle);
}

static void test_timeouts_and_refusals(void **state)
{
    (void)state;
    int port;
    int fd = silent_server(&port);
    char t[128];
    snprintf(t, sizeof t, "127.0.0.1:%d", port);
    expect_connect(&pv_probe_gdb_ops, t, PV_PROBE_ERR_TIMEOUT, 2500, NULL);
    expect_connect(&pv_probe_openocd_ops, t, PV_PROBE_ERR_TIMEOUT, 2500, NULL);
    snprintf(t, sizeof t, "tcp:127.0.0.1:%d", port);
    expect_connect(&pv_probe_cmsisdap_ops, t, PV_PROBE_ERR_TIMEOUT, 2500, NULL);
    close(fd);
    /* nobody listens */
    int closed = sp_free_port();
    snprintf(t, sizeof t, "127.0.0.1:%d", closed);
    expect_connect(&pv_probe_openocd_ops, t, PV_PROBE_ERR_IO, 2000, "cannot connect");
    snprintf(t, sizeof t, "tcp:127.0.0.1:%d", closed);
    expect_connect(&pv_probe_cmsisdap_ops, t, PV_PROBE_ERR_IO, 2000, "cannot connect");
    /* malformed targets say what they want */
    expect_connect(&pv_probe_cmsisdap_ops, "serial:/dev/ttyACM0", PV_PROBE_ERR_IO, 1000,
                   "tcp:<host>:<port>");
    expect_connect(&pv_probe_openocd_ops, "localhost", PV_PROBE_ERR_IO, 1000, "spawn:");
    expect_connect(&pv_probe_openocd_ops, "spawn:-c 'unbalanced", PV_PROBE_ERR_IO, 1000,
                   "unbalanced quote");
    /* OpenOCD that cannot start: its own error comes through, and it is gone afterwards */
    expect_connect(&pv_probe_openocd_ops, "spawn:-f no/such/config.cfg", PV_PROBE_ERR_IO, 5000,
                   "no/such/config.cfg");
    assert_int_equal(openocd_children(), 0);
    /* no CMSIS-DAP probe on this machine's USB with that serial */
    expect_connect(&pv_probe_cmsisdap_ops, "usb:PV-NO-SUCH-PROBE", PV_PROBE_ERR_IO, 5000,
                   "cmsis-dap usb");
}

/* A station that dies (SIGKILL: no cleanup) takes the OpenOCD it started with it. */
static void test_openocd_dies_with_station(void **state)
{
    (void)state;
    struct sim s;
    start_sim(&s, "orphan", true, 11);
    const struct backend b = {"openocd", &pv_probe_openocd_ops, 11};
    char target[512];
    target_for(&b, &s, target, sizeof target);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t station = fork();
    assert_true(station >= 0);
    if (station == 0) { /* the "station": connect, report OpenOCD's pid, wait to be killed */
        close(p[0]);
        pv_probe_link l;
        char err[512];
        pid_t ocd = 0;
        if (pv_probe_connect(&l, &pv_probe_openocd_ops, target, TIMEOUT_MS, err, sizeof err) ==
            PV_PROBE_OK)
            openocd_children_of(getpid(), &ocd);
        if (write(p[1], &ocd, sizeof ocd) != sizeof ocd)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    pid_t ocd = 0;
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 20000), 1);
    assert_int_equal(read(p[0], &ocd, sizeof ocd), (ssize_t)sizeof ocd);
    close(p[0]);
    assert_true(ocd > 0);
    assert_true(alive(ocd));
    kill(station, SIGKILL);
    waitpid(station, NULL, 0);
    bool gone = false;
    for (int i = 0; i < 300 && !gone; i++) {
        gone = !alive(ocd);
        if (!gone)
            usleep(10000);
    }
    if (!gone)
        kill(ocd, SIGKILL); /* do not leave it behind when this test fails */
    assert_true(gone);
    stop_sim(&s);
}

/* OpenOCD started by someone else: attach to its Tcl port, leave it running at disconnect. */
static void test_openocd_attach(void **state)
{
    (void)state;
    struct sim s;
    start_sim(&s, "attach", true, 7);
    int tcl = sp_free_port();
    char tp[64], ocd_log[128];
    snprintf(tp, sizeof tp, "tcl_port %d", tcl);
    snprintf(ocd_log, sizeof ocd_log, "%s/openocd-attach.log", tmpdir);
    char *extra[] = {"-c", "stm32f4x.cpu configure -event reset-start {}",
                     "-c", "gdb_port disabled",
                     "-c", "telnet_port disabled",
                     "-c", tp,
                     "-c", "init",
                     NULL};
    pid_t ocd = sp_start_openocd(s.bitbang, extra, ocd_log);
    assert_true(ocd > 0);
    int probe_fd = sp_connect(tcl, 20000); /* wait until its Tcl port is up */
    assert_true(probe_fd >= 0);
    close(probe_fd);
    char target[64], err[512] = "";
    snprintf(target, sizeof target, "127.0.0.1:%d", tcl);
    pv_probe_link l;
    int rc = pv_probe_connect(&l, &pv_probe_openocd_ops, target, TIMEOUT_MS, err, sizeof err);
    if (rc)
        fail_msg("attach: %d %s", rc, err);
    struct pv_probe_ident id;
    CHECK(&l, pv_probe_identify(&l, &id));
    assert_int_equal(id.dbgmcu_idcode & 0xFFFu, 0x419);
    char out[256] = "";
    CHECK(&l, l.ops->monitor(l.p, "stm32f4x.cpu curstate", out, sizeof out));
    assert_true(strcmp(out, "halted") == 0 || strcmp(out, "running") == 0);
    /* braces and brackets in a monitor command are data, not script */
    CHECK(&l, l.ops->monitor(l.p, "set x {a]b[c}; string length $x", out, sizeof out));
    assert_string_equal(out, "5");
    assert_int_equal(l.ops->monitor(l.p, "no_such_command", out, sizeof out),
                     PV_PROBE_ERR_UNSUPPORTED);
    pv_probe_disconnect(&l);
    assert_int_equal(sp_wait(ocd, 300), -1); /* still running: not ours to stop */
    assert_int_equal(sp_stop(ocd, 5000) >= 0, 1);
    stop_sim(&s);
}

/* ---- the DAP-over-TCP front end at the packet level ---- */

static size_t dap_cmd(struct dap_transport *t, const uint8_t *req, size_t len, uint8_t *resp)
{
    size_t n = 0;
    assert_int_equal(t->send(t, req, len), PV_PROBE_OK);
    int rc = t->recv(t, resp, 2048, &n, 5000);
    if (rc)
        fail_msg("dap: %s", t->err);
    assert_int_equal(resp[0], req[0]);
    return n;
}

/* One DAP_Transfer with a single request; returns the ACK, read data in *v. */
static uint8_t dap_xfer(struct dap_transport *t, uint8_t req, uint32_t w, uint32_t *v)
{
    uint8_t cmd[8] = {0x05, 0, 1, req}, resp[2048];
    size_t len = 4;
    if (!(req & 2)) {
        memcpy(cmd + 4, &w, 4);
        len = 8;
    }
    size_t n = dap_cmd(t, cmd, len, resp);
    if ((req & 2) && resp[2] == 1) {
        assert_int_equal(n, 7);
        memcpy(v, resp + 3, 4);
    }
    return resp[2];
}

static void test_dap_front_end(void **state)
{
    (void)state;
    struct sim s;
    start_sim(&s, "dapraw", true, 9);
    char hp[64], err[256];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", s.dap);
    struct dap_transport *t = NULL;
    assert_int_equal(dap_transport_tcp_open(&t, hp, 5000, err, sizeof err), PV_PROBE_OK);
    uint8_t resp[2048];
    uint8_t info_size[] = {0x00, 0xFF}, info_count[] = {0x00, 0xFE}, info_caps[] = {0x00, 0xF0};
    assert_int_equal(dap_cmd(t, info_size, 2, resp), 4);
    assert_int_equal(resp[2] | resp[3] << 8, 1024);
    dap_cmd(t, info_count, 2, resp);
    assert_int_equal(resp[2], 8);
    dap_cmd(t, info_caps, 2, resp);
    assert_int_equal(resp[2] & 1, 1);
    uint8_t connect[] = {0x02, 1};
    dap_cmd(t, connect, 2, resp);
    assert_int_equal(resp[1], 1);
    uint32_t v = 0;
    /* still in JTAG: nobody answers SWD */
    assert_int_equal(dap_xfer(t, 0x02, 0, &v), 7);
    /* line reset only (no JTAG-to-SWD select): still nothing */
    uint8_t reset_only[] = {0x12, 56, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    dap_cmd(t, reset_only, sizeof reset_only, resp);
    assert_int_equal(dap_xfer(t, 0x02, 0, &v), 7);
    uint8_t sw[] = {0x12, 136,  0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x9E,
                    0xE7, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00};
    dap_cmd(t, sw, sizeof sw, resp);
    /* after the line reset only a DPIDR read is answered */
    assert_int_equal(dap_xfer(t, 0x06, 0, &v), 7); /* CTRL/STAT read: locked out */
    dap_cmd(t, sw, sizeof sw, resp);
    assert_int_equal(dap_xfer(t, 0x02, 0, &v), 1);
    assert_int_equal(v, 0x2BA01477u);
    assert_int_equal(dap_xfer(t, 0x04, 0x50000000u, NULL), 1); /* power up */
    assert_int_equal(dap_xfer(t, 0x06, 0, &v), 1);
    assert_int_equal(v & 0xA0000000u, 0xA0000000u);
    /* AP 0 IDR (bank 0xF) */
    assert_int_equal(dap_xfer(t, 0x08, 0xF0, NULL), 1);
    assert_int_equal(dap_xfer(t, 0x0F, 0, &v), 1);
    assert_int_equal(v, 0x24770011u);
    /* a write to nothing: OK (posted on the AHB), then STICKYERR makes the next AP access FAULT */
    assert_int_equal(dap_xfer(t, 0x08, 0x00, NULL), 1);
    assert_int_equal(dap_xfer(t, 0x01, 0xA2000012u, NULL), 1); /* CSW word, increment */
    assert_int_equal(dap_xfer(t, 0x05, 0x30000000u, NULL), 1); /* TAR */
    assert_int_equal(dap_xfer(t, 0x0D, 0x1234, NULL), 1);      /* DRW */
    assert_int_equal(dap_xfer(t, 0x05, 0x20000000u, NULL), 4); /* FAULT */
    assert_int_equal(dap_xfer(t, 0x06, 0, &v), 1);             /* CTRL/STAT still readable */
    assert_int_equal(v & 0x20u, 0x20u);                        /* STICKYERR */
    assert_int_equal(dap_xfer(t, 0x00, 0x04, NULL), 1);        /* ABORT.STKERRCLR */
    assert_int_equal(dap_xfer(t, 0x06, 0, &v), 1);
    assert_int_equal(v & 0x20u, 0);
    /* a batch: TAR, two DRW writes, TAR, two DRW reads, then RDBUFF repeats the last read */
    uint8_t batch[] = {0x05, 0,    7,    0x05, 0x00, 0x10, 0x00, 0x20, 0x0D,
                       0xEF, 0xBE, 0xAD, 0xDE, 0x0D, 0x78, 0x56, 0x34, 0x12,
                       0x05, 0x00, 0x10, 0x00, 0x20, 0x0F, 0x0F, 0x0E};
    size_t n = dap_cmd(t, batch, sizeof batch, resp);
    assert_int_equal(resp[1], 7);
    assert_int_equal(resp[2], 1);
    assert_int_equal(n, 3 + 12);
    uint32_t r0, r1, r2;
    memcpy(&r0, resp + 3, 4);
    memcpy(&r1, resp + 7, 4);
    memcpy(&r2, resp + 11, 4);
    assert_int_equal(r0, 0xDEADBEEFu);
    assert_int_equal(r1, 0x12345678u);
    assert_int_equal(r2, 0x12345678u);
    /* DAP_TransferBlock reads of the same words */
    assert_int_equal(dap_xfer(t, 0x05, 0x20001000u, NULL), 1);
    uint8_t blk[] = {0x06, 0, 2, 0, 0x0F};
    n = dap_cmd(t, blk, sizeof blk, resp);
    assert_int_equal(n, 4 + 8);
    assert_int_equal(resp[1] | resp[2] << 8, 2);
    assert_int_equal(resp[3], 1);
    memcpy(&r0, resp + 4, 4);
    assert_int_equal(r0, 0xDEADBEEFu);
    /* an unknown command is answered 0xFF */
    uint8_t unknown[] = {0x42};
    assert_int_equal(t->send(t, unknown, 1), PV_PROBE_OK);
    assert_int_equal(t->recv(t, resp, sizeof resp, &n, 5000), PV_PROBE_OK);
    assert_int_equal(resp[0], 0xFF);
    /* the sim counted the SWD transactions */
    uint64_t rt, tx;
    sim_counters(&s, &rt, &tx);
    assert_true(tx >= 20);
    assert_true(rt >= 20);
    t->close(t);
    for (int i = 0; i < 100 && !log_contains(s.log, "dap: client disconnected"); i++)
        usleep(20000); /* one client at a time: let the sim see this one go */
    /* a stream that is not this framing is refused, and the server keeps serving */
    int fd = sp_connect(s.dap, 2000);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "$qSupported#37", 14), 14);
    char junk[16];
    assert_int_equal(sp_read_until(fd, junk, sizeof junk, NULL, 2000), 0); /* closed */
    close(fd);
    assert_true(log_contains(s.log, "malformed frame"));
    usleep(100000);
    assert_int_equal(dap_transport_tcp_open(&t, hp, 5000, err, sizeof err), PV_PROBE_OK);
    dap_cmd(t, info_size, 2, resp);
    t->close(t);
    stop_sim(&s);
}

static void test_summary(void **state)
{
    (void)state;
    fprintf(stderr, "\n    64 KB to SRAM          | station round trips | requests | sim round "
                    "trips | sim DP/AP or RSP transactions | write ms | read ms (round trips)\n");
    for (int i = 0; i < nfig; i++)
        fprintf(stderr, "    %-22s | %19llu | %8llu | %15llu | %29llu | %8llu | %llu (%llu)\n",
                fig[i].name, (unsigned long long)fig[i].rt_write,
                (unsigned long long)fig[i].pk_write, (unsigned long long)fig[i].sim_rt_write,
                (unsigned long long)fig[i].sim_tx_write, (unsigned long long)fig[i].ms_write,
                (unsigned long long)fig[i].ms_read, (unsigned long long)fig[i].rt_read);
    assert_int_equal(nfig, 3);
}

int main(void)
{
    if (!sp_install(240))
        return 1;
    if (!sp_make_tmpdir(tmpdir, sizeof tmpdir, "test_probe_backends"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gdb),
        cmocka_unit_test(test_openocd),
        cmocka_unit_test(test_cmsisdap),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_timeouts_and_refusals),
        cmocka_unit_test(test_openocd_attach),
        cmocka_unit_test(test_openocd_dies_with_station),
        cmocka_unit_test(test_dap_front_end),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!failed && sp_remove_tmpdir(tmpdir) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
