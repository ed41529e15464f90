/* Benchmark: does the debug link work while the flash does? The same 32 KB install (erase,
 * image, key slot, verify, RDP Level 2) runs on a fresh virtual STM32F427 twice per probe: once
 * with the sim's default flash timing (operations take device time only, so the window is
 * almost all link time: frames written, status polled, replies read; plus the stub's own
 * instructions) and once with --realtime (each erase and program also takes the datasheet's
 * wall time). The GDB relay never overlaps (the core is halted while frames go in, and nothing
 * goes in while it runs), so its two runs differ by the flash work's wall time; a probe whose
 * realtime run takes less than its link time plus that work hid the difference under flash time.
 *
 * The window timed is message 1 read to the final frame's reply read (the stub upload and the
 * handshake's first half are the same either way). Each run is repeated and the fastest kept
 * (the machine is shared).
 *
 * Probes, as `provision run` drives them: the sim's GDB server (all-stop: the relay batches two
 * frames per halt), CMSIS-DAP over TCP and OpenOCD 0.12 (JTAG over remote_bitbang), both reaching
 * memory while the core runs (the stub spins: PV_MBOX_F_SPIN).
 * Usage: stub_overlap SIM STUB_BIN [rounds]; STUB_OVERLAP_PROBE=dap|openocd runs GDB and that
 * one; STUB_OVERLAP_TRACE=1 prints when each frame reaches the relay. Loopback only; stops what
 * it starts. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../provisioner/install_inproc.h"
#include "crypto/ed25519.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"
#include "unit/sim_process.h"

#define STUB_BASE  0x20000000u
#define IMAGE_LEN  (32u * 1024u)
#define IMAGE_ADDR 0x08000000u
#define KEYSLOT    0x0800C000u

enum probe_kind { P_GDB, P_DAP, P_OCD };
static const char *const probe_name[] = {"GDB server (batched, halts)", "CMSIS-DAP over TCP (spin)",
                                         "OpenOCD JTAG (spin)"};

static char tmpdir[64];

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stub_overlap: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    sp_kill_all();
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t json_field(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = text ? strstr(text, pat) : NULL;
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static const uint8_t signer_seed[32] = {7};

static int sign_slot(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                     size_t err_len)
{
    (void)ctx, (void)err, (void)err_len;
    uint8_t pub[32];
    pv_ed25519_public(pub, signer_seed);
    pv_ed25519_sign(sig, signer_seed, pub, msg, len);
    return 0;
}

struct window {
    uint64_t t[4]; /* wall clock at each pv_relay_phase */
};

static void observe(void *ctx, enum pv_relay_phase ph)
{
    ((struct window *)ctx)->t[ph] = now_ns();
}

/* STUB_OVERLAP_TRACE=1: the wall clock at each frame handed to the relay, on stderr. */
static uint64_t trace_t0;
static int trace(void *ctx, uint32_t seq, uint8_t *frame, size_t *len, size_t cap)
{
    (void)ctx, (void)frame, (void)cap;
    fprintf(stderr, "  frame %2u, %4zu bytes, at %8.1f ms\n", (unsigned)seq, *len,
            (double)(now_ns() - trace_t0) / 1e6);
    return 0;
}

struct run {
    double window_ms, flash_ms;
    uint64_t flash_ops;
};

static struct pv_stub_image img;
static uint8_t digest[32], priv[32], pub[32];
static uint8_t image[IMAGE_LEN];

/* One install on a fresh sim; returns its timed window and the flash time it charged. */
static struct run one_install(enum probe_kind k, int realtime, int n)
{
    char state[128], log[128], ctr[128], line[256], target[1024], err[256], seed[16];
    snprintf(state, sizeof state, "%s/c%d.state", tmpdir, n);
    snprintf(log, sizeof log, "%s/c%d.log", tmpdir, n);
    snprintf(ctr, sizeof ctr, "%s/c%d.json", tmpdir, n);
    snprintf(seed, sizeof seed, "%d", 100 + n);
    char port_opt[16];
    snprintf(port_opt, sizeof port_opt, "--%s-port",
             k == P_GDB   ? "gdb"
             : k == P_DAP ? "dap"
                          : "bitbang");
    char *args[16] = {"--state", state, "--create",        "--uid-seed", seed,
                      port_opt,  "0",   "--counters-file", ctr};
    int na = 9;
    if (realtime)
        args[na++] = "--realtime";
    args[na] = NULL;
    pid_t pid = sp_start_sim(args, log, line, sizeof line);
    if (pid <= 0)
        die("sim did not start (see %s)", log);
    const struct pv_probe_ops *ops = &pv_probe_gdb_ops;
    if (k == P_GDB) {
        snprintf(target, sizeof target, "127.0.0.1:%d", sp_port(line, "gdb"));
    } else if (k == P_DAP) {
        ops = &pv_probe_cmsisdap_ops;
        snprintf(target, sizeof target, "tcp:127.0.0.1:%d", sp_port(line, "dap"));
    } else {
        ops = &pv_probe_openocd_ops;
        snprintf(target, sizeof target,
                 "spawn:-c 'adapter driver remote_bitbang' -c 'remote_bitbang host 127.0.0.1' "
                 "-c 'remote_bitbang port %d' -f target/stm32f4x.cfg "
                 "-c 'stm32f4x.cpu configure -event reset-start {}'",
                 sp_port(line, "bitbang"));
    }
    pv_probe_link l;
    if (pv_probe_connect(&l, ops, target, 30000, err, sizeof err))
        die("%s: %s", probe_name[k], err);
    struct window w = {{0}};
    uint8_t entropy[32] = {(uint8_t)n};
    struct pv_install in = {
        .stub = &img,
        .bridge_priv = priv,
        .bridge_pub = pub,
        .host_entropy = entropy,
        .expect = {.stub_digest = digest, .dev_id = 0x419},
        .image_addr = IMAGE_ADDR,
        .image = image,
        .image_len = sizeof image,
        .keyslot_addr = KEYSLOT,
        .keyslot = {.key_id = 1, .key_version = 1},
        .sign_slot = sign_slot,
        .rdp = 0xCC,
        .nwrp = 0xFFFFFF,
        .flags = PV_MBOX_F_CLOCK_168 | (ops->mem_while_running ? PV_MBOX_F_SPIN : 0),
        .observe = observe,
        .observe_ctx = &w,
    };
    pv_ed25519_public(in.keyslot.signer_pub, signer_seed);
    if (getenv("STUB_OVERLAP_TRACE")) {
        trace_t0 = now_ns();
        in.hook = trace;
        fprintf(stderr, "%s%s:\n", probe_name[k], realtime ? " (realtime)" : "");
    }
    struct pv_install_result res;
    if (pv_session_install(&l, &in, &res))
        die("%s install%s: %s", probe_name[k], realtime ? " (realtime)" : "", res.err);
    pv_probe_disconnect(&l);
    sp_stop(pid, 5000);
    char *c = sp_slurp(ctr, NULL);
    struct run r = {
        .window_ms = (double)(w.t[PV_PHASE_FINAL] - w.t[PV_PHASE_STARTED]) / 1e6,
        .flash_ms = (double)json_field(c, "flash_ns") / 1e6,
        .flash_ops = json_field(c, "flash_ops"),
    };
    free(c);
    return r;
}

static struct run fastest(enum probe_kind k, int realtime, int rounds, int *n)
{
    struct run best = {0};
    for (int i = 0; i < rounds; i++) {
        struct run r = one_install(k, realtime, (*n)++);
        if (!i || r.window_ms < best.window_ms)
            best = r;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: stub_overlap SIM STUB_BIN [rounds]\n");
        return 2;
    }
    snprintf(sp_sim_bin, sizeof sp_sim_bin, "%s", argv[1]);
    int rounds = argc == 4 ? atoi(argv[3]) : 2;
    if (rounds < 1)
        rounds = 1;
    atexit(sp_kill_all);
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/stub_overlap.XXXXXX");
    if (!mkdtemp(tmpdir))
        die("no temporary directory");
    size_t len;
    uint8_t *bin = (uint8_t *)sp_slurp(argv[2], &len);
    char err[256];
    if (!bin)
        die("cannot read %s (run make first)", argv[2]);
    if (pv_stub_image_parse(&img, bin, len, STUB_BASE, err, sizeof err))
        die("%s", err);
    pv_sha256(digest, bin, len);
    for (int i = 0; i < 32; i++)
        priv[i] = (uint8_t)(i * 7 + 3);
    pv_x25519_public(pub, priv);
    uint32_t seed = 42;
    for (size_t i = 0; i < sizeof image; i++) {
        seed = seed * 1103515245u + 12345u;
        image[i] = (uint8_t)(seed >> 16);
    }
    /* The GDB relay never overlaps (the core is halted while frames go in, and nothing goes in
     * while it runs): its realtime run less its other run is the stub's flash work as the sim
     * charges it in wall time (the datasheet's durations plus the sim's own lag per operation). */
    const char *only = getenv("STUB_OVERLAP_PROBE"); /* dap or openocd: that one (and GDB) */
    int n = 0;
    struct run z[3], rt[3];
    for (int k = P_GDB; k <= P_OCD; k++) {
        if (k != P_GDB && only && strcmp(only, k == P_DAP ? "dap" : "openocd") != 0)
            continue;
        z[k] = fastest((enum probe_kind)k, 0, rounds, &n);
        rt[k] = fastest((enum probe_kind)k, 1, rounds, &n);
    }
    double work = rt[P_GDB].window_ms - z[P_GDB].window_ms;
    printf("32 KB install (erase, image, key slot, verify, RDP Level 2), message 1 to the "
           "final reply, fastest of %d runs each:\n",
           rounds);
    printf("  flash time charged: %.1f ms of datasheet time (%" PRIu64
           " operations); in wall time %.1f ms (the GDB relay's realtime run less its other run)\n",
           rt[P_GDB].flash_ms, rt[P_GDB].flash_ops, work);
    printf("  %-30s %9s %9s %9s %9s\n", "probe (relay mode)", "link ms", "serial", "realtime",
           "hidden");
    for (int k = P_GDB; k <= P_OCD; k++) {
        if (k != P_GDB && only && strcmp(only, k == P_DAP ? "dap" : "openocd") != 0)
            continue;
        /* link: the window with flash taking no wall time; serial: link, then the flash work */
        double serial = z[k].window_ms + work, hidden = serial - rt[k].window_ms;
        printf("  %-30s %9.1f %9.1f %9.1f %9.1f = %3.0f %% of the link time hidden under flash\n",
               probe_name[k], z[k].window_ms, serial, rt[k].window_ms, hidden,
               z[k].window_ms > 0 ? 100.0 * hidden / z[k].window_ms : 0.0);
    }
    free(bin);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) != 0;
}
