/* sim: the virtual STM32F427 as a process. Parses the command line, opens the chip's state file,
 * opens the front ends (remote_bitbang for OpenOCD, GDB RSP, USART1) and runs a single-threaded
 * poll() loop that interleaves CPU slices with debugger traffic. Stopping the process is power-off.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chip.h"
#include "cmsis_dap_server.h"
#include "gdb_rsp.h"
#include "remote_bitbang.h"
#include "sim_log.h"
#include "usart_socket.h"

#define SIM_VERSION "0.1.0"

/* Exit codes (documented in --help). */
#define EXIT_OK        0
#define EXIT_RUNTIME   1 /* the state file cannot be opened/created/written, or similar */
#define EXIT_USAGE     2 /* bad arguments, port in use */
#define EXIT_POWER_CUT 3 /* the armed power cut fired */

/* Instructions per chip_run slice. A debugger's bytes do not wait for its end: they raise SIGIO,
 * which ends the slice at the next block, so the core runs at full speed while a debugger polls
 * it and requests are still served within a block. */
#define SLICE           200000
#define COUNTERS_PERIOD 1000000000ull

struct options {
    struct chip_config chip;
    const char *bind;
    int bitbang_port, gdb_port, usart_port; /* -1: front end off */
    int dap_port;                           /* CMSIS-DAP over TCP, -1 off */
    bool usart_wait; /* the core starts when the first USART client connects */
    const char *counters_file;
    bool quiet;
    bool uid_seed_given;
};

/* Under LeakSanitizer (the test build): Unicorn keeps allocations of its own past uc_close (a
 * translated page's code bitmap, made when stores hit a page holding code); they are not ours to
 * free, and a sim whose armed power cut fired must exit 3, not LeakSanitizer's 1. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libunicorn.so\n";
}

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t dump_counters;
static chip_t *volatile io_chip; /* the chip SIGIO interrupts */

static void on_input(int sig)
{
    (void)sig;
    chip_t *c = io_chip;
    if (c)
        chip_interrupt(c);
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        dump_counters = 1;
    else
        stop_signal = sig;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: sim --state FILE [--create] [options]\n"
        "\n"
        "A virtual STM32F427 (Cortex-M4F, 2 MB dual-bank flash). The chip's non-volatile state\n"
        "(flash, option bytes, OTP, UID) lives in FILE: starting sim is power-on, stopping it\n"
        "(SIGINT/SIGTERM) is power-off and writes FILE.\n"
        "\n"
        "Chip:\n"
        "  --state FILE            the chip's state file (required)\n"
        "  --create                create a blank chip in FILE if it does not exist\n"
        "  --uid-seed N            new chip only: seed of its 96-bit UID and RNG (default: a\n"
        "                          random seed, printed, so every new chip differs)\n"
        "  --flash-kb KB           new chip only: flash size, 2048 (default) or 1024\n"
        "  --used-flash MASK       new chip only: the sectors in MASK (bit i = sector i, e.g.\n"
        "                          0xFFFFFF for all 24) hold old contents (a pattern from the\n"
        "                          UID seed), not the factory's 0xFF\n"
        "  --realtime              flash operations also take wall-clock time\n"
        "\n"
        "Front ends (each is off unless its port is given; port 0 picks a free port):\n"
        "  --bitbang-port P        OpenOCD 0.12.0 remote_bitbang (JTAG) server\n"
        "  --gdb-port P            GDB remote serial protocol server\n"
        "  --usart-port P          USART1 as a raw TCP byte stream\n"
        "  --usart-wait            with --usart-port: the core leaves reset only once the first\n"
        "                          USART client has connected, so the client's bytes arrive in\n"
        "                          the first device milliseconds (the bootloader's 100 ms\n"
        "                          PVUPDATE window)\n"
        "  --dap-port P            CMSIS-DAP v2 commands over TCP (SWD; framing in "
        "docs/probes.md)\n"
        "  --bind ADDR             listen address, loopback only (default 127.0.0.1)\n"
        "  Once listening, sim prints one line on stdout, e.g.\n"
        "    sim: listening bitbang=127.0.0.1:40123 gdb=127.0.0.1:40124 usart=127.0.0.1:40125\n"
        "    (with --dap-port also dap=127.0.0.1:40126)\n"
        "\n"
        "Fault injection (at most one trigger):\n"
        "  --power-cut-cycle N     cut power when the device clock reaches cycle N\n"
        "  --power-cut-flash-op K  cut power in the middle of the K-th flash program/erase/option\n"
        "                          operation (1-based); the word or sector is left undefined\n"
        "  --cut-seed N            seed of the undefined state a cut leaves (default 0); a cut\n"
        "                          in an option byte commit keeps the old option bytes for an\n"
        "                          even N and leaves the new ones in force for an odd N\n"
        "  --flash-op-log F        append a line per flash operation to F (\"op K program ADDR\n"
        "                          SIZE\", \"op K erase sectors MASK xN\", \"op K option optcr V\n"
        "                          optcr1 V\") and one for a cut (\"cut op K cycle N ...\");\n"
        "                          K counts from 1 at power-on, as --power-cut-flash-op does\n"
        "  --fault ignore-optstrt  FLASH_OPTCR's OPTSTRT programs nothing: the option bytes\n"
        "                          (RDP) keep their values over the next reset\n"
        "\n"
        "Counters (debug transactions, bytes, round trips, instructions, device cycles, flash "
        "time):\n"
        "  --counters-file F       write them as JSON to F every second, on SIGUSR1 and at exit\n"
        "  --quiet                 no informational log lines, no counters line at exit\n"
        "  The counters line is printed on stderr at exit; GDB: 'monitor counters'.\n"
        "\n"
        "  --help                  this text\n"
        "  --version               print the version\n"
        "\n"
        "Exit status: 0 powered off by a signal; 1 runtime error (state file unusable);\n"
        "2 bad arguments or a port already in use; 3 the armed power cut fired\n"
        "(\"sim: power cut at cycle N (flash op K)\" on stderr).\n"
        "\n"
        "Examples:\n"
        "  sim --state chip1.bin --create --uid-seed 1 --bitbang-port 3335 --gdb-port 3334 \\\n"
        "      --usart-port 3336\n"
        "  openocd -c \"adapter driver remote_bitbang\" \\\n"
        "          -c \"remote_bitbang host 127.0.0.1\" -c \"remote_bitbang port 3335\" \\\n"
        "          -f target/stm32f4x.cfg \\\n"
        "          -c \"stm32f4x.cpu configure -event reset-start {}\" \\\n"
        "          -c \"stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; \\\n"
        "              mww 0x40023C00 0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; \\\n"
        "              mmw 0x40023808 0x00001000 0; mmw 0x40023808 0x00000002 0 }\" \\\n"
        "          -c init\n"
        "  gdb-multiarch -ex 'target extended-remote 127.0.0.1:3334' -ex 'monitor reset halt' "
        "prog.elf\n"
        "  nc 127.0.0.1 3336        # the firmware's USART1 output\n"
        "  sim --state chip1.bin --dap-port 3337   # CMSIS-DAP backend target tcp:127.0.0.1:3337\n"
        "  sim --state chip1.bin --power-cut-flash-op 3 --cut-seed 7 --bitbang-port 0\n");
}

/* Parses an unsigned number (decimal, or 0x hex) into *out; false if not entirely a number. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static int bad_arg(const char *opt, const char *val, const char *want)
{
    fprintf(stderr, "sim: %s %s: %s (see sim --help)\n", opt, val ? val : "", want);
    return EXIT_USAGE;
}

static int parse_port(const char *opt, const char *val, int *port)
{
    uint64_t v;
    if (!parse_u64(val, &v) || v > 65535)
        return bad_arg(opt, val, "expected a TCP port 0-65535 (0 picks a free port)");
    *port = (int)v;
    return 0;
}

/* Returns 0, or an exit status (EXIT_USAGE) after printing the reason; -1 for --help/--version. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum {
        OPT_STATE = 256,
        OPT_CREATE,
        OPT_UID_SEED,
        OPT_FLASH_KB,
        OPT_BITBANG,
        OPT_GDB,
        OPT_USART,
        OPT_USART_WAIT,
        OPT_DAP,
        OPT_BIND,
        OPT_CUT_CYCLE,
        OPT_CUT_FLASH,
        OPT_CUT_SEED,
        OPT_OP_LOG,
        OPT_FAULT,
        OPT_REALTIME,
        OPT_USED_FLASH,
        OPT_COUNTERS,
        OPT_QUIET,
        OPT_HELP,
        OPT_VERSION,
    };
    static const struct option longopts[] = {
        {"state", required_argument, NULL, OPT_STATE},
        {"create", no_argument, NULL, OPT_CREATE},
        {"uid-seed", required_argument, NULL, OPT_UID_SEED},
        {"flash-kb", required_argument, NULL, OPT_FLASH_KB},
        {"bitbang-port", required_argument, NULL, OPT_BITBANG},
        {"gdb-port", required_argument, NULL, OPT_GDB},
        {"usart-port", required_argument, NULL, OPT_USART},
        {"usart-wait", no_argument, NULL, OPT_USART_WAIT},
        {"dap-port", required_argument, NULL, OPT_DAP},
        {"bind", required_argument, NULL, OPT_BIND},
        {"power-cut-cycle", required_argument, NULL, OPT_CUT_CYCLE},
        {"power-cut-flash-op", required_argument, NULL, OPT_CUT_FLASH},
        {"cut-seed", required_argument, NULL, OPT_CUT_SEED},
        {"flash-op-log", required_argument, NULL, OPT_OP_LOG},
        {"fault", required_argument, NULL, OPT_FAULT},
        {"realtime", no_argument, NULL, OPT_REALTIME},
        {"used-flash", required_argument, NULL, OPT_USED_FLASH},
        {"counters-file", required_argument, NULL, OPT_COUNTERS},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){
        .chip = {.flash_kb = 2048},
        .bind = "127.0.0.1",
        .bitbang_port = -1,
        .gdb_port = -1,
        .usart_port = -1,
        .dap_port = -1,
    };
    opterr = 0;
    int c, rc;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const char *opt = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        switch (c) {
        case OPT_STATE:
            o->chip.state_path = optarg;
            break;
        case OPT_CREATE:
            o->chip.create = true;
            break;
        case OPT_UID_SEED:
            if (!parse_u64(optarg, &o->chip.uid_seed))
                return bad_arg("--uid-seed", optarg, "expected an unsigned number");
            o->uid_seed_given = true;
            break;
        case OPT_FLASH_KB:
            if (!parse_u64(optarg, &v) || (v != 1024 && v != 2048))
                return bad_arg("--flash-kb", optarg, "expected 1024 or 2048");
            o->chip.flash_kb = (uint16_t)v;
            break;
        case OPT_BITBANG:
            if ((rc = parse_port("--bitbang-port", optarg, &o->bitbang_port)) != 0)
                return rc;
            break;
        case OPT_GDB:
            if ((rc = parse_port("--gdb-port", optarg, &o->gdb_port)) != 0)
                return rc;
            break;
        case OPT_USART:
            if ((rc = parse_port("--usart-port", optarg, &o->usart_port)) != 0)
                return rc;
            break;
        case OPT_USART_WAIT:
            o->usart_wait = true;
            break;
        case OPT_DAP:
            if ((rc = parse_port("--dap-port", optarg, &o->dap_port)) != 0)
                return rc;
            break;
        case OPT_BIND:
            if (!tcp_addr_is_loopback(optarg))
                return bad_arg("--bind", optarg,
                               "only loopback addresses (127.0.0.0/8, localhost) are allowed");
            o->bind = optarg;
            break;
        case OPT_CUT_CYCLE:
        case OPT_CUT_FLASH:
            if (o->chip.cut_kind != CHIP_CUT_NONE)
                return bad_arg(opt, optarg,
                               "only one of --power-cut-cycle and --power-cut-flash-op may be "
                               "given");
            if (!parse_u64(optarg, &o->chip.cut_at) || (c == OPT_CUT_FLASH && !o->chip.cut_at))
                return bad_arg(c == OPT_CUT_CYCLE ? "--power-cut-cycle" : "--power-cut-flash-op",
                               optarg,
                               c == OPT_CUT_CYCLE ? "expected a cycle number"
                                                  : "expected a flash operation number >= 1");
            o->chip.cut_kind = c == OPT_CUT_CYCLE ? CHIP_CUT_AT_CYCLE : CHIP_CUT_AT_FLASH_OP;
            break;
        case OPT_CUT_SEED:
            if (!parse_u64(optarg, &o->chip.cut_seed))
                return bad_arg("--cut-seed", optarg, "expected an unsigned number");
            break;
        case OPT_OP_LOG:
            o->chip.flash_op_log = optarg;
            break;
        case OPT_FAULT:
            if (strcmp(optarg, "ignore-optstrt") != 0)
                return bad_arg("--fault", optarg, "expected ignore-optstrt");
            o->chip.fault_ignore_optstrt = true;
            break;
        case OPT_REALTIME:
            o->chip.realtime = true;
            break;
        case OPT_USED_FLASH:
            if (!parse_u64(optarg, &v) || v == 0 || v > 0xFFFFFFu)
                return bad_arg("--used-flash", optarg,
                               "expected a sector mask from 0x1 to 0xFFFFFF (bit i = sector i)");
            o->chip.used_sectors = (uint32_t)v;
            break;
        case OPT_COUNTERS:
            o->counters_file = optarg;
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return -1;
        case OPT_VERSION:
            printf("sim %s (virtual STM32F427 for OpenOCD 0.12.0 remote_bitbang and GDB)\n",
                   SIM_VERSION);
            return -1;
        case ':':
            return bad_arg(opt, NULL, "needs a value");
        default:
            return bad_arg(opt, NULL, "unknown option");
        }
    }
    if (optind < argc)
        return bad_arg(argv[optind], NULL, "unexpected argument");
    if (!o->chip.state_path)
        return bad_arg("--state", NULL, "is required (the chip's state file)");
    if (o->usart_wait && o->usart_port < 0)
        return bad_arg("--usart-wait", NULL, "needs --usart-port (the client it waits for)");
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Machine-readable counters, written to a temporary file and renamed so readers never see half. */
static void write_counters_file(chip_t *chip, const char *path, uint64_t wall_ns, bool powered)
{
    if (!path)
        return;
    const struct chip_counters *c = chip_counters(chip);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        sim_warn("--counters-file %s: %s", path, strerror(errno));
        return;
    }
    fprintf(
        f,
        "{\"instructions\": %" PRIu64 ", \"cycles\": %" PRIu64 ", \"device_ns\": %" PRIu64
        ", \"flash_ns\": %" PRIu64 ", \"flash_ops\": %" PRIu64 ", \"dbg_transactions\": %" PRIu64
        ", \"dbg_bytes_in\": %" PRIu64 ", \"dbg_bytes_out\": %" PRIu64
        ", \"dbg_round_trips\": %" PRIu64 ", \"wall_ns\": %" PRIu64 ", \"powered\": %s}\n",
        c->instructions, c->cycles, c->device_ns, c->flash_ns, c->flash_ops, c->dbg_transactions,
        c->dbg_bytes_in, c->dbg_bytes_out, c->dbg_round_trips, wall_ns, powered ? "true" : "false");
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        sim_warn("--counters-file %s: %s", path, strerror(errno));
}

struct frontends {
    struct rbb rbb;
    struct gdb_server gdb;
    struct usart_socket usart;
    bool has_rbb, has_gdb, has_usart;
    struct dap_server dap;
    bool has_dap;
};

static int open_frontends(struct frontends *fe, chip_t *chip, const struct options *o)
{
    char err[256];
    if (o->bitbang_port >= 0) {
        if (rbb_open(&fe->rbb, chip, o->bind, (uint16_t)o->bitbang_port, err, sizeof err) != 0)
            goto fail;
        fe->has_rbb = true;
    }
    if (o->gdb_port >= 0) {
        if (gdb_open(&fe->gdb, chip, o->bind, (uint16_t)o->gdb_port, err, sizeof err) != 0)
            goto fail;
        fe->has_gdb = true;
    }
    if (o->usart_port >= 0) {
        if (usart_socket_open(&fe->usart, chip, o->bind, (uint16_t)o->usart_port, err,
                              sizeof err) != 0)
            goto fail;
        fe->has_usart = true;
    }
    if (o->dap_port >= 0) {
        if (daps_open(&fe->dap, chip, o->bind, (uint16_t)o->dap_port, err, sizeof err) != 0)
            goto fail;
        fe->has_dap = true;
    }
    return 0;
fail:
    fprintf(stderr, "sim: %s\n", err);
    return -1;
}

static void close_frontends(struct frontends *fe)
{
    if (fe->has_rbb)
        rbb_close(&fe->rbb);
    if (fe->has_gdb)
        gdb_close(&fe->gdb);
    if (fe->has_usart)
        usart_socket_close(&fe->usart);
    if (fe->has_dap)
        daps_close(&fe->dap);
}

static void print_listening(const struct frontends *fe, const char *bind)
{
    char line[256];
    int n = snprintf(line, sizeof line, "sim: listening");
    if (fe->has_rbb)
        n += snprintf(line + n, sizeof line - (size_t)n, " bitbang=%s:%u", bind,
                      (unsigned)fe->rbb.srv.port);
    if (fe->has_gdb)
        n += snprintf(line + n, sizeof line - (size_t)n, " gdb=%s:%u", bind,
                      (unsigned)fe->gdb.srv.port);
    if (fe->has_usart)
        n += snprintf(line + n, sizeof line - (size_t)n, " usart=%s:%u", bind,
                      (unsigned)fe->usart.srv.port);
    if (fe->has_dap)
        n += snprintf(line + n, sizeof line - (size_t)n, " dap=%s:%u", bind,
                      (unsigned)fe->dap.srv.port);
    if (!fe->has_rbb && !fe->has_gdb && !fe->has_usart && !fe->has_dap)
        snprintf(line + n, sizeof line - (size_t)n,
                 " (no front end: give --bitbang-port, "
                 "--gdb-port, --usart-port or --dap-port)");
    printf("%s\n", line);
    fflush(stdout);
}

/* The event loop. Returns the exit status. */
static int run(chip_t *chip, struct frontends *fe, const struct options *o, uint64_t t0)
{
    uint64_t last_dump = now_ns();
    /* SIGTERM, SIGINT and SIGUSR1 are blocked except inside ppoll, which unblocks them
     * atomically: one that arrives while a slice runs cannot slip in between the check of its
     * flag and a wait with no timeout (the sim would then ignore it until the next byte). */
    sigset_t sigio, blocked, in_wait;
    sigemptyset(&sigio);
    sigaddset(&sigio, SIGIO);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGIO);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGUSR1);
    sigprocmask(SIG_BLOCK, &blocked, &in_wait);
    sigaddset(&in_wait, SIGIO);
    io_chip = chip;
    bool held = o->usart_wait; /* in reset until the first USART client connects */
    for (;;) {
        if (stop_signal)
            return EXIT_OK;
        if (dump_counters) {
            dump_counters = 0;
            write_counters_file(chip, o->counters_file, now_ns() - t0, true);
        }
        /* SIGIO is blocked except while the core runs: a debugger talking to a halted core
         * costs no signals, and input that came while blocked ends the slice at once. */
        if (held && fe->usart.srv.client_fd >= 0)
            held = false;
        bool running = !held && !chip_is_halted(chip);
        if (running)
            sigprocmask(SIG_UNBLOCK, &sigio, NULL);
        enum chip_run_result res = held ? CHIP_RUN_IDLE : chip_run(chip, SLICE);
        if (running)
            sigprocmask(SIG_BLOCK, &sigio, NULL);
        if (res == CHIP_RUN_POWER_CUT) {
            const struct chip_counters *c = chip_counters(chip);
            fprintf(stderr, "sim: power cut at cycle %" PRIu64 " (flash op %" PRIu64 ")\n",
                    c->cycles, c->flash_ops);
            return EXIT_POWER_CUT;
        }
        if (fe->has_gdb) {
            gdb_check_stop(&fe->gdb, res);
            gdb_flush(&fe->gdb);
        }
        if (fe->has_usart)
            usart_socket_pump(&fe->usart);

        struct pollfd fds[10];
        int n_rbb = 0, n_gdb = 0, n_usart = 0, n_dap = 0;
        if (fe->has_rbb)
            n_rbb = rbb_pollfds(&fe->rbb, fds);
        if (fe->has_gdb)
            n_gdb = gdb_pollfds(&fe->gdb, fds + n_rbb);
        if (fe->has_usart)
            n_usart = usart_socket_pollfds(&fe->usart, fds + n_rbb + n_gdb);
        if (fe->has_dap)
            n_dap = daps_pollfds(&fe->dap, fds + n_rbb + n_gdb + n_usart);
        int timeout;
        if (res == CHIP_RUN_SLICE_DONE)
            timeout = 0; /* the core runs: only look at sockets between slices */
        else if (!held && !chip_is_halted(chip) && res != CHIP_RUN_LOCKUP)
            timeout = 1; /* sleeping (WFI): the device clock still moves */
        else
            timeout = o->counters_file ? 1000 : -1;
        /* Input that arrives from here on interrupts the next slice; earlier input is seen by
         * this poll. */
        chip_interrupt_clear(chip);
        struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
        int nready = ppoll(fds, (nfds_t)(n_rbb + n_gdb + n_usart + n_dap), timeout < 0 ? NULL : &ts,
                           &in_wait);
        if (nready < 0 && errno != EINTR) {
            sim_warn("poll: %s", strerror(errno));
            return EXIT_RUNTIME;
        }
        if (nready > 0) {
            if (fe->has_rbb)
                rbb_handle(&fe->rbb, fds, n_rbb);
            if (fe->has_gdb)
                gdb_handle(&fe->gdb, fds + n_rbb, n_gdb);
            if (fe->has_usart)
                usart_socket_handle(&fe->usart, fds + n_rbb + n_gdb, n_usart);
            if (fe->has_dap)
                daps_handle(&fe->dap, fds + n_rbb + n_gdb + n_usart, n_dap);
        }
        uint64_t t = now_ns();
        if (o->counters_file && t - last_dump >= COUNTERS_PERIOD) {
            last_dump = t;
            write_counters_file(chip, o->counters_file, t - t0, true);
        }
    }
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    sim_log_set_quiet(o.quiet);
    uint64_t t0 = now_ns();

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction si = {.sa_handler = on_input, .sa_flags = SA_RESTART};
    sigemptyset(&si.sa_mask);
    if (sigaction(SIGIO, &si, NULL) == 0)
        tcp_server_signal_input();

    bool fresh = o.chip.create && access(o.chip.state_path, F_OK) != 0;
    if (fresh && !o.uid_seed_given) {
        /* Chips differ unless asked otherwise; the seed is logged so a run can be repeated. */
        FILE *r = fopen("/dev/urandom", "rb");
        if (!r || fread(&o.chip.uid_seed, sizeof o.chip.uid_seed, 1, r) != 1)
            o.chip.uid_seed = now_ns() ^ ((uint64_t)getpid() << 32);
        if (r)
            fclose(r);
    }
    char err[512];
    chip_t *chip = chip_open(&o.chip, err, sizeof err);
    if (!chip) {
        fprintf(stderr, "sim: %s\n", err);
        return EXIT_RUNTIME;
    }
    struct frontends fe = {0};
    if (open_frontends(&fe, chip, &o) != 0) {
        close_frontends(&fe);
        chip_close(chip);
        return EXIT_USAGE;
    }
    {
        uint8_t uid[12];
        chip_uid(chip, uid);
        char seed[64] = "";
        if (fresh)
            snprintf(seed, sizeof seed, " (new chip, --uid-seed %" PRIu64 ")", o.chip.uid_seed);
        sim_log("chip %s: uid %02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x, rdp 0x%02x%s%s",
                o.chip.state_path, uid[0], uid[1], uid[2], uid[3], uid[4], uid[5], uid[6], uid[7],
                uid[8], uid[9], uid[10], uid[11], (unsigned)chip_rdp_byte(chip),
                chip_debug_port_alive(chip) ? "" : " (Level 2: debug port disabled)", seed);
    }
    print_listening(&fe, o.bind);

    rc = run(chip, &fe, &o, t0);
    if (rc == EXIT_OK && stop_signal)
        sim_log("%s: powering off", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    write_counters_file(chip, o.counters_file, now_ns() - t0, false);
    if (!o.quiet) {
        char line[512];
        chip_counters_format(chip, line, sizeof line);
        fprintf(stderr, "sim: counters %s\n", line);
    }
    close_frontends(&fe);
    chip_close(chip);
    return rc;
}
