/* Unmodified OpenOCD 0.12.0 against build/host/bin/sim over remote_bitbang (JTAG), driven through
 * OpenOCD's TCL RPC port (0x1a framing): examine, reset halt, flash probe/info, a 64 KB
 * `flash write_image erase` + `verify_image`, mdw/mww, load_image + resume + wait_halt, RDP lock /
 * unlock with the mass erase, the counters, a chip at RDP Level 2 making OpenOCD fail fast, and
 * the sim command line's error handling. Everything on loopback, free ports, children always
 * killed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../sim/chip.h"
#include "sim_process.h"

#define IMAGE_SIZE (64 * 1024)

static char tmpdir[64];
static pid_t sim_pid = -1, ocd_pid = -1;
static int tcl_fd = -1;
static char sim_err[128], ocd_err[128], state_path[128], counters_path[128];

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* ---- OpenOCD ---- */

static pid_t start_openocd(int bitbang_port, int tcl_port, const char *err_path)
{
    char tcl[64];
    snprintf(tcl, sizeof tcl, "tcl_port %d", tcl_port);
    char *extra[] = {
        "-c",
        "stm32f4x.cpu configure -event reset-start {}",
        "-c",
        "stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; "
        "mww 0x40023C00 0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; "
        "mmw 0x40023808 0x00001000 0; mmw 0x40023808 0x00000002 0 }",
        "-c",
        "gdb_port disabled",
        "-c",
        "telnet_port disabled",
        "-c",
        tcl,
        "-c",
        "init",
        NULL,
    };
    return sp_start_openocd(bitbang_port, extra, err_path);
}

/* Sends one command over the TCL RPC port and returns its result text (static buffer). */
static char *tcl_raw(const char *cmd, int ms)
{
    static char buf[1 << 20];
    size_t len = strlen(cmd);
    char *msg = malloc(len + 1);
    assert_non_null(msg);
    memcpy(msg, cmd, len);
    msg[len] = 0x1a;
    assert_int_equal(write(tcl_fd, msg, len + 1), (ssize_t)(len + 1));
    free(msg);
    size_t n = sp_read_until(tcl_fd, buf, sizeof buf, "\x1a", ms);
    char *end = memchr(buf, 0x1a, n);
    if (!end)
        fail_msg("no TCL reply to '%s' within %d ms (got %zu bytes)", cmd, ms, n);
    *end = 0;
    return buf;
}

/* Runs cmd inside catch: returns Tcl's return code, the result text in *res. */
static int tcl(const char *cmd, char **res, int ms)
{
    char wrapped[4096];
    snprintf(wrapped, sizeof wrapped, "catch {%s} _sim_test_res", cmd);
    int rc = atoi(tcl_raw(wrapped, ms));
    char *r = tcl_raw("set _sim_test_res", 5000);
    if (res)
        *res = r;
    return rc;
}

static char *tcl_ok(const char *cmd, int ms)
{
    char *res;
    int rc = tcl(cmd, &res, ms);
    if (rc != 0)
        fail_msg("'%s' failed: %s", cmd, res);
    return res;
}

static uint32_t mdw(uint32_t addr)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "mdw 0x%08x", (unsigned)addr);
    char *r = tcl_ok(cmd, 10000);
    char *colon = strchr(r, ':');
    if (!colon)
        fail_msg("mdw 0x%08x: unexpected reply '%s'", (unsigned)addr, r);
    return (uint32_t)strtoul(colon + 1, NULL, 16);
}

static bool log_contains(const char *path, const char *what)
{
    char *log = sp_slurp(path, NULL);
    bool found = log && strstr(log, what);
    free(log);
    return found;
}

/* ---- group: one chip, one sim, one OpenOCD ---- */

static int group_setup(void **state)
{
    (void)state;
    path_in_tmp(sim_err, sizeof sim_err, "sim.log");
    path_in_tmp(ocd_err, sizeof ocd_err, "openocd.log");
    path_in_tmp(state_path, sizeof state_path, "chip.state");
    path_in_tmp(counters_path, sizeof counters_path, "counters.json");
    char *args[] = {"--state",        state_path, "--create",        "--uid-seed",  "42",
                    "--bitbang-port", "0",        "--counters-file", counters_path, NULL};
    char line[256];
    sim_pid = sp_start_sim(args, sim_err, line, sizeof line);
    if (sim_pid < 0) {
        fprintf(stderr, "sim did not start; its log:\n%s\n", sp_slurp(sim_err, NULL));
        return -1;
    }
    int bb = sp_port(line, "bitbang");
    if (bb <= 0)
        return -1;
    for (int attempt = 0; attempt < 3 && tcl_fd < 0; attempt++) {
        int tcl_port = sp_free_port();
        ocd_pid = start_openocd(bb, tcl_port, ocd_err);
        tcl_fd = sp_connect(tcl_port, 20000);
        if (tcl_fd < 0) {
            sp_stop(ocd_pid, 2000);
            ocd_pid = -1;
        }
    }
    if (tcl_fd < 0) {
        char *log = sp_slurp(ocd_err, NULL);
        fprintf(stderr, "openocd did not open its TCL port; its log:\n%s\n", log ? log : "");
        free(log);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (tcl_fd >= 0) {
        char msg[] = "shutdown\x1a";
        ssize_t w = write(tcl_fd, msg, sizeof msg - 1);
        (void)w;
        close(tcl_fd);
    }
    if (ocd_pid > 0 && sp_wait(ocd_pid, 5000) < 0)
        sp_stop(ocd_pid, 2000);
    if (sim_pid > 0)
        sp_stop(sim_pid, 10000);
    return 0;
}

static void test_examine(void **state)
{
    (void)state;
    char *t = tcl_ok("targets", 5000);
    assert_non_null(strstr(t, "stm32f4x.cpu"));
    assert_non_null(strstr(t, "cortex_m"));
    assert_true(log_contains(ocd_err, "tap/device found: 0x4ba00477"));
    assert_true(log_contains(ocd_err, "tap/device found: 0x06419041"));
    assert_true(log_contains(ocd_err, "Cortex-M4 r0p1 processor detected"));
    assert_true(log_contains(ocd_err, "target has 6 breakpoints, 4 watchpoints"));
    assert_false(log_contains(ocd_err, "STICKY ERROR"));
    assert_false(log_contains(ocd_err, "Invalid ACK"));
}

static void test_reset_halt(void **state)
{
    (void)state;
    tcl_ok("reset halt", 20000);
    assert_string_equal(tcl_ok("stm32f4x.cpu curstate", 5000), "halted");
    char *x = tcl_ok("reg xPSR", 5000);
    assert_non_null(strstr(x, "0x01000000"));
    /* DBGMCU_IDCODE of an F42x, read through the AHB-AP. */
    assert_int_equal(mdw(0xE0042000) & 0xFFF, 0x419);
}

static void test_flash_probe_info(void **state)
{
    (void)state;
    tcl_ok("flash probe 0", 10000);
    assert_true(log_contains(ocd_err, "Dual Bank 2048 kiB STM32F42x/43x/469/479 found"));
    char *info = tcl_ok("flash info 0", 10000);
    assert_non_null(strstr(info, "0x08000000"));
    assert_non_null(strstr(info, "size 0x00200000"));
    assert_non_null(strstr(info, "#  4: 0x00010000 (0x10000 64kB)"));
    assert_non_null(strstr(info, "# 12: 0x00100000 (0x4000 16kB)"));
    assert_non_null(strstr(info, "# 23: 0x001e0000 (0x20000 128kB)"));
}

static void test_write_image_verify_64k(void **state)
{
    (void)state;
    char img[128], back[128], cmd[512];
    path_in_tmp(img, sizeof img, "image.bin");
    path_in_tmp(back, sizeof back, "dump.bin");
    uint8_t *data = malloc(IMAGE_SIZE);
    assert_non_null(data);
    srand(12345);
    for (int i = 0; i < IMAGE_SIZE; i++)
        data[i] = (uint8_t)(rand() >> 7);
    FILE *f = fopen(img, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, IMAGE_SIZE, f), IMAGE_SIZE);
    fclose(f);
    uint64_t t0 = sp_now_ms();
    snprintf(cmd, sizeof cmd, "flash write_image erase %s 0x08000000 bin", img);
    tcl_ok(cmd, 60000);
    uint64_t t1 = sp_now_ms();
    snprintf(cmd, sizeof cmd, "verify_image %s 0x08000000 bin", img);
    char *v = tcl_ok(cmd, 60000);
    assert_non_null(strstr(v, "verified 65536 bytes"));
    uint64_t t2 = sp_now_ms();
    fprintf(stderr, "    write_image erase 64 KB: %.2f s, verify_image: %.2f s\n",
            (double)(t1 - t0) / 1000, (double)(t2 - t1) / 1000);
    /* The bytes in flash, read back independently of the CRC check. */
    snprintf(cmd, sizeof cmd, "dump_image %s 0x08000000 %d", back, IMAGE_SIZE);
    tcl_ok(cmd, 60000);
    size_t n = 0;
    char *got = sp_slurp(back, &n);
    assert_non_null(got);
    assert_int_equal(n, IMAGE_SIZE);
    assert_memory_equal(got, data, IMAGE_SIZE);
    free(got);
    /* A corrupted image fails verification. */
    data[IMAGE_SIZE / 2] ^= 0x40;
    f = fopen(img, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, IMAGE_SIZE, f), IMAGE_SIZE);
    fclose(f);
    snprintf(cmd, sizeof cmd, "verify_image %s 0x08000000 bin", img);
    char *res;
    int rc = tcl(cmd, &res, 60000);
    assert_true(rc != 0 || strstr(res, "verified 65536 bytes") == NULL);
    free(data);
}

static void test_mdw_mww(void **state)
{
    (void)state;
    tcl_ok("mww 0x20001000 0xdeadbeef", 5000);
    tcl_ok("mww 0x20001004 0x01234567", 5000);
    assert_int_equal(mdw(0x20001000), 0xDEADBEEFu);
    char *r = tcl_ok("mdw 0x20001000 2", 5000);
    assert_non_null(strstr(r, "0x20001000: deadbeef 01234567"));
    /* An unmapped address is an error (a bus fault through the AHB-AP), not a crash. */
    assert_int_not_equal(tcl("mdw 0x30000000", NULL, 5000), 0);
    assert_int_equal(mdw(0x20001000), 0xDEADBEEFu);
}

static void test_load_image_resume_wait_halt(void **state)
{
    (void)state;
    /* movs r0,#0; 1: adds r0,#3; cmp r0,#30; bne 1b; bkpt #0 */
    static const uint8_t code[] = {0x00, 0x20, 0x03, 0x30, 0x1e, 0x28, 0xfc, 0xd1, 0x00, 0xbe};
    char bin[128], cmd[256];
    path_in_tmp(bin, sizeof bin, "ramcode.bin");
    FILE *f = fopen(bin, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(code, 1, sizeof code, f), sizeof code);
    fclose(f);
    tcl_ok("halt", 5000);
    snprintf(cmd, sizeof cmd, "load_image %s 0x20000000 bin", bin);
    char *r = tcl_ok(cmd, 10000);
    assert_non_null(strstr(r, "10 bytes written at address 0x20000000"));
    tcl_ok("reg r0 0x12345", 5000);
    tcl_ok("resume 0x20000000", 5000);
    tcl_ok("wait_halt 5000", 10000);
    assert_non_null(strstr(tcl_ok("reg r0", 5000), "0x0000001e"));
    assert_non_null(strstr(tcl_ok("reg pc", 5000), "0x20000008"));
}

static void test_lock_unlock_mass_erase(void **state)
{
    (void)state;
    tcl_ok("reset halt", 20000);
    uint32_t before = mdw(0x08000000);
    assert_int_not_equal(before, 0xFFFFFFFFu); /* the random image is there */
    char *r = tcl_ok("stm32f2x lock 0", 60000);
    assert_non_null(strstr(r, "locked"));
    tcl_ok("reset halt", 20000);
    uint32_t optcr = mdw(0x40023C14);
    assert_int_equal((optcr >> 8) & 0xFF, 0x00); /* RDP Level 1 in force */
    /* Level 1: the debugger cannot read flash (bus error through the AHB-AP). */
    assert_int_not_equal(tcl("mdw 0x08000000", NULL, 10000), 0);
    assert_true(log_contains(ocd_err, "STICKY ERROR") || log_contains(ocd_err, "Failed to read"));
    /* SRAM is still readable in Level 1. */
    tcl_ok("mww 0x20002000 0x5a5a1234", 5000);
    assert_int_equal(mdw(0x20002000), 0x5A5A1234u);
    r = tcl_ok("stm32f2x unlock 0", 60000);
    assert_non_null(strstr(r, "unlocked"));
    tcl_ok("reset halt", 20000);
    optcr = mdw(0x40023C14);
    assert_int_equal((optcr >> 8) & 0xFF, 0xAA);
    /* Level 1 -> 0 mass-erased the flash: the image is gone in both banks. */
    assert_int_equal(mdw(0x08000000), 0xFFFFFFFFu);
    assert_int_equal(mdw(0x0800FFFC), 0xFFFFFFFFu);
    assert_int_equal(mdw(0x08100000), 0xFFFFFFFFu);
}

static void test_counters_file(void **state)
{
    (void)state;
    unlink(counters_path);
    kill(sim_pid, SIGUSR1);
    char *json = NULL;
    for (int i = 0; i < 200 && !json; i++) {
        usleep(20000);
        json = sp_slurp(counters_path, NULL);
    }
    assert_non_null(json);
    const char *p = strstr(json, "\"dbg_transactions\": ");
    assert_non_null(p);
    unsigned long long tx = strtoull(p + 20, NULL, 10);
    p = strstr(json, "\"dbg_bytes_in\": ");
    assert_non_null(p);
    unsigned long long in = strtoull(p + 16, NULL, 10);
    p = strstr(json, "\"flash_ops\": ");
    assert_non_null(p);
    unsigned long long ops = strtoull(p + 13, NULL, 10);
    free(json);
    assert_true(tx > 16384);          /* at least one AP write per word of the image */
    assert_true(in > 37 * 65536 / 2); /* tens of characters per payload byte */
    assert_true(ops > 1000);
}

/* ---- separate processes ---- */

/* Sets RDP Level 2 through the flash interface, in this process, on a fresh chip file. */
static void make_level2_chip(const char *path)
{
    struct chip_config cfg = {.state_path = path, .create = true, .uid_seed = 99, .flash_kb = 2048};
    char err[256] = "";
    chip_t *chip = chip_open(&cfg, err, sizeof err);
    if (!chip)
        fail_msg("chip_open: %s", err);
    uint32_t optcr = 0;
    assert_int_equal(chip_dbg_write(chip, 0x40023C08, 4, 0x08192A3B), CHIP_OK);
    assert_int_equal(chip_dbg_write(chip, 0x40023C08, 4, 0x4C5D6E7F), CHIP_OK);
    assert_int_equal(chip_dbg_read(chip, 0x40023C14, 4, &optcr), CHIP_OK);
    assert_int_equal(optcr & 1u, 0); /* OPTLOCK cleared by the keys */
    optcr = (optcr & ~0xFF00u) | 0xCC00u;
    assert_int_equal(chip_dbg_write(chip, 0x40023C14, 4, optcr), CHIP_OK);
    assert_int_equal(chip_dbg_write(chip, 0x40023C14, 4, optcr | 2u), CHIP_OK);
    for (int i = 0; i < 100000; i++) { /* wait for BSY on the device clock */
        uint32_t sr = 0;
        chip_dbg_read(chip, 0x40023C0C, 4, &sr);
        if (!(sr & (1u << 16)))
            break;
        chip_run(chip, 1000);
    }
    chip_close(chip);
}

static void test_level2_openocd_fails_fast(void **state)
{
    (void)state;
    char path[128], serr[128], oerr[128], line[256];
    path_in_tmp(path, sizeof path, "level2.state");
    path_in_tmp(serr, sizeof serr, "sim-l2.log");
    path_in_tmp(oerr, sizeof oerr, "openocd-l2.log");
    make_level2_chip(path);
    char *args[] = {"--state", path, "--bitbang-port", "0", NULL};
    pid_t sim = sp_start_sim(args, serr, line, sizeof line);
    assert_true(sim > 0);
    int bb = sp_port(line, "bitbang");
    uint64_t t0 = sp_now_ms();
    pid_t ocd = start_openocd(bb, sp_free_port(), oerr);
    int st = sp_wait(ocd, 15000);
    uint64_t dt = sp_now_ms() - t0;
    if (st < 0)
        sp_stop(ocd, 2000);
    sp_stop(sim, 10000);
    assert_true(st > 0);     /* OpenOCD gave up with an error */
    assert_true(dt < 10000); /* fast, not after timeouts */
    assert_true(log_contains(oerr, "JTAG scan chain interrogation failed"));
    assert_true(log_contains(serr, "debug port disabled by RDP Level 2"));
    fprintf(stderr, "    OpenOCD gave up on the Level 2 chip after %.2f s\n", (double)dt / 1000);
}

/* --power-cut-flash-op: the cut fires during the 2nd flash operation (the erase of sector 1),
 * sim reports it and exits with status 3; the chip then powers on again from its file. */
static void test_power_cut_exit_and_restart(void **state)
{
    (void)state;
    char path[128], serr[128], oerr[128], line[256];
    path_in_tmp(path, sizeof path, "cut.state");
    path_in_tmp(serr, sizeof serr, "sim-cut.log");
    path_in_tmp(oerr, sizeof oerr, "openocd-cut.log");
    char *args[] = {"--state",  path,
                    "--create", "--uid-seed",
                    "5",        "--bitbang-port",
                    "0",        "--power-cut-flash-op",
                    "2",        "--cut-seed",
                    "9",        NULL};
    pid_t sim = sp_start_sim(args, serr, line, sizeof line);
    assert_true(sim > 0);
    int bb = sp_port(line, "bitbang");
    char *extra[] = {"-c", "stm32f4x.cpu configure -event reset-start {}",
                     "-c", "gdb_port disabled",
                     "-c", "telnet_port disabled",
                     "-c", "tcl_port disabled",
                     "-c", "init",
                     "-c", "reset halt",
                     "-c", "flash erase_sector 0 0 3",
                     "-c", "shutdown",
                     NULL};
    pid_t ocd = sp_start_openocd(bb, extra, oerr);
    int sim_st = sp_wait(sim, 30000);
    if (sim_st < 0)
        sp_stop(sim, 2000);
    if (sp_wait(ocd, 10000) < 0)
        sp_stop(ocd, 2000);
    assert_int_equal(sim_st, 3);
    assert_true(log_contains(serr, "sim: power cut at cycle "));
    assert_true(log_contains(serr, " (flash op 2)"));
    /* Power on again from the same file (no --create): OpenOCD examines it. */
    char *args2[] = {"--state", path, "--bitbang-port", "0", NULL};
    sim = sp_start_sim(args2, serr, line, sizeof line);
    assert_true(sim > 0);
    char *extra2[] = {"-c", "gdb_port disabled",
                      "-c", "telnet_port disabled",
                      "-c", "tcl_port disabled",
                      "-c", "init",
                      "-c", "halt",
                      "-c", "shutdown",
                      NULL};
    unlink(oerr);
    ocd = sp_start_openocd(sp_port(line, "bitbang"), extra2, oerr);
    int ocd_st = sp_wait(ocd, 20000);
    if (ocd_st < 0)
        sp_stop(ocd, 2000);
    assert_int_equal(sp_stop(sim, 10000), 0);
    assert_int_equal(ocd_st, 0);
    assert_true(log_contains(oerr, "Cortex-M4 r0p1 processor detected"));
}

static int run_sim_args(char *const *args, const char *err_path)
{
    char *argv[20];
    int n = 0;
    argv[n++] = SIM_BIN;
    for (int i = 0; args[i] && n < 19; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    unlink(err_path);
    pid_t pid = sp_spawn(argv, NULL, err_path);
    assert_true(pid > 0);
    int st = sp_wait(pid, 10000);
    if (st < 0)
        sp_stop(pid, 1000);
    return st;
}

static void test_cli_errors(void **state)
{
    (void)state;
    char err[128], path[128];
    path_in_tmp(err, sizeof err, "cli.log");
    path_in_tmp(path, sizeof path, "cli.state");
    char *no_state[] = {"--bitbang-port", "0", NULL};
    assert_int_equal(run_sim_args(no_state, err), 2);
    assert_true(log_contains(err, "--state"));
    char *unknown[] = {"--state", path, "--frobnicate", NULL};
    assert_int_equal(run_sim_args(unknown, err), 2);
    assert_true(log_contains(err, "--frobnicate"));
    char *bad_port[] = {"--state", path, "--create", "--gdb-port", "70000", NULL};
    assert_int_equal(run_sim_args(bad_port, err), 2);
    assert_true(log_contains(err, "--gdb-port 70000"));
    char *bad_kb[] = {"--state", path, "--create", "--flash-kb", "512", NULL};
    assert_int_equal(run_sim_args(bad_kb, err), 2);
    char *not_loopback[] = {"--state", path, "--create", "--bind", "0.0.0.0", NULL};
    assert_int_equal(run_sim_args(not_loopback, err), 2);
    assert_true(log_contains(err, "loopback"));
    char *two_cuts[] = {
        "--state", path, "--create", "--power-cut-cycle", "5", "--power-cut-flash-op", "2", NULL};
    assert_int_equal(run_sim_args(two_cuts, err), 2);
    /* A port already in use. */
    int port = sp_free_port();
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 1), 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *in_use[] = {"--state", path, "--create", "--bitbang-port", ps, NULL};
    int st = run_sim_args(in_use, err);
    close(lfd);
    assert_int_equal(st, 2);
    assert_true(log_contains(err, "Address already in use"));
    /* --help explains the options and shows the OpenOCD command line; --version works. */
    char *argv[] = {SIM_BIN, "--help", NULL};
    int out = -1;
    pid_t pid = sp_spawn(argv, &out, err);
    static char text[16384];
    sp_read_until(out, text, sizeof text, NULL, 5000);
    close(out);
    assert_int_equal(sp_wait(pid, 5000), 0);
    char *opts[] = {"--state",
                    "--create",
                    "--uid-seed",
                    "--flash-kb",
                    "--bitbang-port",
                    "--gdb-port",
                    "--usart-port",
                    "--bind",
                    "--power-cut-cycle",
                    "--power-cut-flash-op",
                    "--cut-seed",
                    "--realtime",
                    "--counters-file",
                    "--quiet",
                    "--version",
                    "remote_bitbang port",
                    "target/stm32f4x.cfg"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strstr(text, opts[i]))
            fail_msg("--help does not mention %s", opts[i]);
    char *version[] = {"--version", NULL};
    assert_int_equal(run_sim_args(version, err), 0);
}

int main(void)
{
    if (!sp_install(300))
        return 1;
    if (!sp_make_tmpdir(tmpdir, sizeof tmpdir, "test_sim_openocd"))
        return 1;
    const struct CMUnitTest session[] = {
        cmocka_unit_test(test_examine),
        cmocka_unit_test(test_reset_halt),
        cmocka_unit_test(test_flash_probe_info),
        cmocka_unit_test(test_write_image_verify_64k),
        cmocka_unit_test(test_mdw_mww),
        cmocka_unit_test(test_load_image_resume_wait_halt),
        cmocka_unit_test(test_lock_unlock_mass_erase),
        cmocka_unit_test(test_counters_file),
    };
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_level2_openocd_fails_fast),
        cmocka_unit_test(test_power_cut_exit_and_restart),
        cmocka_unit_test(test_cli_errors),
    };
    int failed =
        cmocka_run_group_tests_name("openocd_session", session, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("standalone", alone, NULL, NULL);
    sp_kill_all();
    if (failed == 0 && sp_remove_tmpdir(tmpdir) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
