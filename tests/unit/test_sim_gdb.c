/* gdb-multiarch against build/host/bin/sim's GDB server: `gdb -batch` loads a program into SRAM,
 * sets a breakpoint, runs to it and reads a variable; and the chip helper's hello_usart program,
 * loaded into flash with GDB (vFlash*), boots after reset and after a power cycle and prints over
 * the USART socket. Loopback only, free ports, children always killed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sim_process.h"

#define HELLO_TEXT "hello from the virtual STM32F427"

static char tmpdir[64];

/* The SRAM program: sums 1..10 into `counter`, then calls stop_here(). */
static const char sram_prog[] =
    "volatile unsigned counter;\n"
    "volatile unsigned after;\n"
    "__attribute__((noinline)) void stop_here(void) { __asm volatile(\"nop\"); }\n"
    "int main(void)\n"
    "{\n"
    "    counter = 0;\n"
    "    for (unsigned i = 1; i <= 10; i++)\n"
    "        counter += i;\n"
    "    stop_here();\n"
    "    for (;;)\n"
    "        after++;\n"
    "}\n"
    "__attribute__((naked)) void _start(void)\n"
    "{\n"
    "    __asm volatile(\"ldr r0, =0x20010000\\n mov sp, r0\\n bl main\\n b .\\n\");\n"
    "}\n";

static int run_capture(char *const argv[], char *out, size_t cap, int ms)
{
    int fd = -1;
    char err[128];
    snprintf(err, sizeof err, "%s/tool.log", tmpdir);
    pid_t pid = sp_spawn(argv, &fd, err);
    assert_true(pid > 0);
    sp_read_until(fd, out, cap, NULL, ms);
    close(fd);
    int st = sp_wait(pid, 2000);
    if (st < 0)
        st = sp_stop(pid, 1000);
    /* tool stderr follows stdout in the capture, for the failure messages */
    char *e = sp_slurp(err, NULL);
    if (e) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "\n--- stderr ---\n%s", e);
        free(e);
        unlink(err);
    }
    return st;
}

static void build_sram_prog(char *elf, size_t cap)
{
    char src[128];
    snprintf(src, sizeof src, "%s/sram_prog.c", tmpdir);
    snprintf(elf, cap, "%s/sram_prog.elf", tmpdir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs(sram_prog, f);
    fclose(f);
    char *argv[] = {"arm-none-eabi-gcc",
                    "-mcpu=cortex-m4",
                    "-mthumb",
                    "-O1",
                    "-g",
                    "-nostdlib",
                    "-nostartfiles",
                    "-Wl,-Ttext=0x20000000",
                    "-Wl,-e,_start",
                    "-o",
                    elf,
                    src,
                    NULL};
    char out[8192];
    int st = run_capture(argv, out, sizeof out, 30000);
    if (st != 0)
        fail_msg("arm-none-eabi-gcc failed (%d): %s", st, out);
}

static pid_t start_sim(char *state, bool create, int *gdb_port, int *usart_port, const char *log)
{
    char *args[] = {
        "--state", state, "--gdb-port", "0", "--usart-port", "0", create ? "--create" : NULL, NULL};
    char line[256];
    pid_t pid = sp_start_sim(args, log, line, sizeof line);
    assert_true(pid > 0);
    *gdb_port = sp_port(line, "gdb");
    *usart_port = sp_port(line, "usart");
    assert_true(*gdb_port > 0 && *usart_port > 0);
    return pid;
}

/* A new chip <tmpdir>/gdb<n>.state (sim log sim<n>.log) running, with GDB's command to reach it. */
struct chip {
    char state[128], log[128], target[64];
    int gdb_port, usart_port;
    pid_t sim;
};

static void start_new_chip(struct chip *c, int n)
{
    snprintf(c->state, sizeof c->state, "%s/gdb%d.state", tmpdir, n);
    snprintf(c->log, sizeof c->log, "%s/sim%d.log", tmpdir, n);
    c->sim = start_sim(c->state, true, &c->gdb_port, &c->usart_port, c->log);
    snprintf(c->target, sizeof c->target, "target remote 127.0.0.1:%d", c->gdb_port);
}

static void test_gdb_sram_break_and_read(void **state)
{
    (void)state;
    char elf[128];
    build_sram_prog(elf, sizeof elf);
    struct chip c;
    start_new_chip(&c, 1);
    char *argv[] = {"gdb-multiarch",
                    "-batch",
                    "-nx",
                    "-ex",
                    "set pagination off",
                    "-ex",
                    "set remotetimeout 10",
                    "-ex",
                    c.target,
                    "-ex",
                    "load",
                    "-ex",
                    "break stop_here",
                    "-ex",
                    "continue",
                    "-ex",
                    "print counter",
                    "-ex",
                    "print/x $pc == (unsigned)stop_here",
                    "-ex",
                    "stepi",
                    "-ex",
                    "monitor counters",
                    "-ex",
                    "detach",
                    elf,
                    NULL};
    static char out[65536];
    int st = run_capture(argv, out, sizeof out, 60000);
    int sim_st = sp_stop(c.sim, 10000);
    if (st != 0 || !strstr(out, "$1 = 55"))
        fprintf(stderr, "gdb output:\n%s\n", out);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "Breakpoint 1, "));
    assert_non_null(strstr(out, "stop_here"));
    assert_non_null(strstr(out, "$1 = 55"));
    assert_non_null(strstr(out, "$2 = 0x1"));
    assert_non_null(strstr(out, "dbg_transactions="));
    assert_int_equal(sim_st, 0);
}

static bool usart_read(int port, const char *want, char *buf, size_t cap)
{
    int fd = sp_connect(port, 5000);
    assert_true(fd >= 0);
    sp_read_until(fd, buf, cap, want, 15000);
    close(fd);
    return strstr(buf, want) != NULL;
}

static void test_hello_usart_boots_from_flash(void **state)
{
    (void)state;
    char hello_elf[4200];
    snprintf(hello_elf, sizeof hello_elf, "%s/tests/hello_usart.elf", sp_arm_dir);
    if (access(hello_elf, R_OK) != 0)
        fail_msg("%s missing: build the ARM test programs first (make all)", hello_elf);
    struct chip c;
    start_new_chip(&c, 2);
    /* GDB programs flash (the memory map makes `load` use vFlashErase/vFlashWrite), resets the
     * chip to run from flash, and detaches. */
    char *argv[] = {"gdb-multiarch",
                    "-batch",
                    "-nx",
                    "-ex",
                    "set pagination off",
                    "-ex",
                    "set remotetimeout 20",
                    "-ex",
                    c.target,
                    "-ex",
                    "load",
                    "-ex",
                    "compare-sections",
                    "-ex",
                    "monitor reset",
                    "-ex",
                    "detach",
                    hello_elf,
                    NULL};
    static char out[65536];
    int st = run_capture(argv, out, sizeof out, 60000);
    if (st != 0 || strstr(out, "MIS-MATCHED"))
        fprintf(stderr, "gdb output:\n%s\n", out);
    assert_int_equal(st, 0);
    assert_null(strstr(out, "MIS-MATCHED"));
    assert_non_null(strstr(out, "matched"));
    static char text[8192];
    bool ok = usart_read(c.usart_port, HELLO_TEXT, text, sizeof text);
    if (!ok)
        fprintf(stderr, "usart output: '%s'\n", text);
    assert_true(ok);
    /* Power cycle: the program is in the state file's flash and boots again. */
    assert_int_equal(sp_stop(c.sim, 10000), 0);
    c.sim = start_sim(c.state, false, &c.gdb_port, &c.usart_port, c.log);
    ok = usart_read(c.usart_port, HELLO_TEXT, text, sizeof text);
    sp_stop(c.sim, 10000);
    if (!ok)
        fprintf(stderr, "usart output after power cycle: '%s'\n", text);
    assert_true(ok);
}

int main(void)
{
    if (!sp_install(240))
        return 1;
    if (!sp_make_tmpdir(tmpdir, sizeof tmpdir, "test_sim_gdb"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gdb_sram_break_and_read),
        cmocka_unit_test(test_hello_usart_boots_from_flash),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    sp_kill_all();
    if (failed == 0 && sp_remove_tmpdir(tmpdir) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
