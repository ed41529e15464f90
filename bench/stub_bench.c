/* Benchmark of the RAM stub on the virtual STM32F427, from the sim's own counters (instructions,
 * device clock, flash time) and the probe's traffic counts:
 *   - device instructions for one X25519 (bench/x25519_once.c, built like the stub's copy);
 *   - device instructions for the stub's key exchange: start-up to message 1 (RNG, identity and
 *     image digest, ephemeral key, es) and message 2 (ee, split);
 *   - a 32 KB install (image + key slot + RDP Level 2): bytes over the debug port against the
 *     payload bytes, round trips, frames, and the share of device time in flash erase/program.
 * Usage: stub_bench SIM STUB_BIN X25519_BIN. Starts sims on loopback, stops them at the end. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../provisioner/install_inproc.h"
#include "crypto/ed25519.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"
#include "unit/sim_process.h"

#define STUB_BASE  0x20000000u
#define IMAGE_LEN  (32u * 1024u)
#define IMAGE_ADDR 0x08000000u
#define KEYSLOT    0x0800C000u

struct counters {
    uint64_t instructions, cycles, device_ns, flash_ns, flash_ops, packets, bytes_in, bytes_out;
};

static char tmpdir[64];
static int failed;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stub_bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    sp_kill_all();
    exit(1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = (uint8_t *)sp_slurp(path, len);
    if (!b)
        die("cannot read %s (run make first)", path);
    return b;
}

static uint64_t field(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *p = strstr(text, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static void counters(pv_probe_link *l, struct counters *c)
{
    char out[1024];
    if (l->ops->monitor(l->p, "counters", out, sizeof out))
        die("monitor counters: %s", l->ops->error(l->p));
    c->instructions = field(out, "instructions");
    c->cycles = field(out, "cycles");
    c->device_ns = field(out, "device_ns");
    c->flash_ns = field(out, "flash_ns");
    c->flash_ops = field(out, "flash_ops");
    c->packets = field(out, "dbg_round_trips");
    c->bytes_in = field(out, "dbg_bytes_in");
    c->bytes_out = field(out, "dbg_bytes_out");
}

static pid_t start_sim(const char *name, pv_probe_link *l)
{
    char state[128], log[128], line[256], target[64], err[256];
    snprintf(state, sizeof state, "%s/%s.state", tmpdir, name);
    snprintf(log, sizeof log, "%s/%s.log", tmpdir, name);
    char *args[] = {"--state", state, "--create", "--uid-seed", "3", "--gdb-port", "0", NULL};
    pid_t pid = sp_start_sim(args, log, line, sizeof line);
    if (pid <= 0)
        die("sim did not start (see %s)", log);
    snprintf(target, sizeof target, "127.0.0.1:%d", sp_port(line, "gdb"));
    if (pv_probe_connect(l, &pv_probe_gdb_ops, target, 30000, err, sizeof err))
        die("%s", err);
    return pid;
}

/* ---- one X25519 ---- */

static void bench_x25519(const char *bin_path)
{
    pv_probe_link l;
    pid_t pid = start_sim("x25519", &l);
    size_t len;
    uint8_t *bin = slurp(bin_path, &len);
    uint32_t pc = STUB_BASE, r;
    struct counters a, b;
    const struct pv_probe_ops *o = l.ops;
    if (o->reset_halt(l.p) || o->write_mem(l.p, STUB_BASE, bin, len) ||
        o->write_reg(l.p, PV_REG_XPSR, 0x01000000u) || o->resume(l.p, &pc) ||
        o->wait_halt(l.p, 30000) || o->read_reg(l.p, PV_REG_PC, &r))
        die("x25519 program: %s", o->error(l.p));
    counters(&l, &a);
    pc = r + 2; /* past bkpt #1 */
    if (o->resume(l.p, &pc) || o->wait_halt(l.p, 60000))
        die("x25519 program: %s", o->error(l.p));
    counters(&l, &b);
    /* what runs between the breakpoints besides X25519: the call, a few instructions */
    printf("X25519 (one scalar multiplication, RFC 7748):  %8" PRIu64
           " device instructions (goal <= 1500000; best published Cortex-M4 assembly ~900000)\n",
           b.instructions - a.instructions);
    if (b.instructions - a.instructions > 1500000)
        printf("  -> over the 1.5 M goal\n");
    free(bin);
    pv_probe_disconnect(&l);
    sp_stop(pid, 5000);
}

/* ---- the key exchange ---- */

struct phase_log {
    pv_probe_link *l;
    struct counters c[4];
    struct pv_probe_stats p[4];
    uint64_t mon_bytes_out, mon_bytes_in, mon_rts; /* the counters queries between phases */
};

/* Snapshots the probe's traffic, then queries the sim's counters; the query's own traffic is
 * summed so that the install's figures can leave out the queries made inside its window (at
 * PV_PHASE_UPLOADED and PV_PHASE_STARTED). */
static void observe(void *ctx, enum pv_relay_phase ph)
{
    struct phase_log *g = ctx;
    struct pv_probe_stats after;
    g->l->ops->stats(g->l->p, &g->p[ph]);
    counters(g->l, &g->c[ph]);
    g->l->ops->stats(g->l->p, &after);
    if (ph != PV_PHASE_FINAL) {
        g->mon_bytes_out += after.bytes_out - g->p[ph].bytes_out;
        g->mon_bytes_in += after.bytes_in - g->p[ph].bytes_in;
        g->mon_rts += after.round_trips - g->p[ph].round_trips;
    }
}

/* The product's image-signing key, as the trusted side's token would sign the key slot. */
static const uint8_t bench_signer_seed[32] = {7};

static int bench_sign_slot(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], char *err,
                           size_t err_len)
{
    (void)ctx, (void)err, (void)err_len;
    uint8_t pub[32];
    pv_ed25519_public(pub, bench_signer_seed);
    pv_ed25519_sign(sig, bench_signer_seed, pub, msg, len);
    return 0;
}
static void bench_handshake(const struct pv_stub_image *img, const uint8_t priv[32],
                            const uint8_t pub[32])
{
    pv_probe_link l;
    pid_t pid = start_sim("handshake", &l);
    static struct pv_session s;
    static struct pv_relay r;
    struct phase_log g = {.l = &l};
    uint8_t msg1[128], entropy[32] = {1}, frame[256], buf[256];
    size_t n, rl;
    memset(&r, 0, sizeof r);
    r.observe = observe;
    r.observe_ctx = &g;
    if (pv_session_init(&s, priv))
        die("%s", s.err);
    if (pv_relay_start(&r, &l, img, pub, entropy, PV_MBOX_F_CLOCK_168, msg1, sizeof msg1, &n))
        die("%s", r.err);
    if (pv_session_accept(&s, msg1, n, NULL))
        die("%s", s.err);
    struct pv_region reg = {IMAGE_ADDR, 0x10000};
    int fl = pv_session_grant(&s, &reg, 1, frame, sizeof frame);
    struct pv_stub_status st;
    if (fl < 0 || pv_relay_post(&r, 1, frame, (size_t)fl) ||
        pv_relay_sync(&r, &st, buf, sizeof buf, 0, &rl))
        die("message 2: %s %s", s.err, r.err);
    if (st.state != PV_STATE_WAIT || st.done != 1)
        die("message 2 refused: %s", pv_status_name(st.status));
    struct counters end;
    counters(&l, &end);
    uint64_t m1 = g.c[PV_PHASE_STARTED].instructions - g.c[PV_PHASE_UPLOADED].instructions;
    uint64_t m2 = end.instructions - g.c[PV_PHASE_STARTED].instructions;
    printf("key exchange on the device (Noise_NK initiator, 3 X25519):\n");
    printf("  start-up to message 1 (RNG, identity + image digest, e, es): %8" PRIu64
           " instructions\n",
           m1);
    printf("  message 2 (ee, split):                                      %8" PRIu64
           " instructions\n",
           m2);
    printf("  whole handshake:                                            %8" PRIu64
           " instructions\n",
           m1 + m2);
    pv_session_end(&s);
    pv_probe_disconnect(&l);
    sp_stop(pid, 5000);
}

/* ---- a 32 KB install ---- */

static void bench_install(const struct pv_stub_image *img, const uint8_t priv[32],
                          const uint8_t pub[32], const uint8_t digest[32])
{
    pv_probe_link l;
    pid_t pid = start_sim("install", &l);
    static uint8_t image[IMAGE_LEN];
    uint8_t entropy[32] = {2};
    uint32_t seed = 42;
    for (size_t i = 0; i < sizeof image; i++) {
        seed = seed * 1103515245u + 12345u;
        image[i] = (uint8_t)(seed >> 16);
    }
    struct phase_log g = {.l = &l};
    struct pv_install in = {
        .stub = img,
        .bridge_priv = priv,
        .bridge_pub = pub,
        .host_entropy = entropy,
        .expect = {.stub_digest = digest, .dev_id = 0x419},
        .image_addr = IMAGE_ADDR,
        .image = image,
        .image_len = sizeof image,
        .keyslot_addr = KEYSLOT,
        .keyslot = {.key_id = 1, .key_version = 1},
        .sign_slot = bench_sign_slot,
        .rdp = 0xCC,
        .nwrp = 0xFFFFFF,
        .flags = PV_MBOX_F_CLOCK_168,
        .observe = observe,
        .observe_ctx = &g,
    };
    pv_ed25519_public(in.keyslot.signer_pub, bench_signer_seed);
    struct pv_install_result res;
    if (pv_session_install(&l, &in, &res))
        die("install: %s", res.err);
    const struct pv_probe_stats *u = &g.p[PV_PHASE_UPLOADED], *f = &g.p[PV_PHASE_FINAL];
    /* the bench's own counters queries inside the window are not the install's traffic */
    uint64_t out = f->bytes_out - u->bytes_out - g.mon_bytes_out;
    uint64_t inb = f->bytes_in - u->bytes_in - g.mon_bytes_in;
    uint64_t bytes = out + inb;
    uint64_t rts = f->round_trips - u->round_trips - g.mon_rts;
    const struct counters *cu = &g.c[PV_PHASE_UPLOADED], *cf = &g.c[PV_PHASE_FINAL];
    uint64_t payload = res.payload_bytes;
    uint64_t dev = cf->device_ns - cu->device_ns, fl = cf->flash_ns - cu->flash_ns;
    printf("32 KB install (erase, image, key slot, verify, RDP Level 2), after the stub upload:\n");
    printf("  payload (image + key slot):        %8" PRIu64 " bytes\n", payload);
    printf("  over the debug port (both ways):   %8" PRIu64 " bytes  -> overhead %.2f %% "
           "(goal <= 5 %%)\n",
           bytes, 100.0 * (double)(bytes - payload) / (double)payload);
    printf("    to the chip %" PRIu64 ", from the chip %" PRIu64 "\n", out, inb);
    /* the sim's packet count includes two of the bench's counters queries */
    printf("  debug round trips (station waits): %8" PRIu64 "   (RSP packets: %" PRIu64 ")\n", rts,
           (cf->packets - cu->packets) - 2);
    printf("  frames: %u transport + message 2, slots of %u bytes\n", res.frames,
           (unsigned)(((STUB_BASE + PV_STUB_SRAM_BUDGET) -
                       ((((img->ram_end + 7u) & ~7u) + PV_MBOX_LEN + 7u) & ~7u)) /
                          2 &
                      ~7u));
    printf("  device time: %.1f ms, of which flash erase/program %.1f ms = %.1f %% "
           "(goal >= 90 %%); %" PRIu64 " flash operations\n",
           (double)dev / 1e6, (double)fl / 1e6, 100.0 * (double)fl / (double)dev,
           cf->flash_ops - cu->flash_ops);
    printf("  device instructions in the session: %" PRIu64 " (%.1f ms at 168 MHz)\n",
           cf->instructions - cu->instructions,
           (double)(cf->instructions - cu->instructions) / 168e3);
    printf("  stub upload (not in the figures above): %zu bytes of image\n", img->len);
    if (100.0 * (double)(bytes - payload) / (double)payload > 5.0)
        printf("  -> overhead over the 5 %% goal\n");
    if (100.0 * (double)fl / (double)dev < 90.0)
        printf("  -> flash share under the 90 %% goal\n");
    pv_probe_disconnect(&l);
    sp_stop(pid, 5000);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: stub_bench SIM STUB_BIN X25519_BIN\n");
        return 2;
    }
    snprintf(sp_sim_bin, sizeof sp_sim_bin, "%s", argv[1]);
    atexit(sp_kill_all);
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/stub_bench.XXXXXX");
    if (!mkdtemp(tmpdir))
        die("no temporary directory");
    size_t len;
    uint8_t *bin = slurp(argv[2], &len), digest[32], priv[32], pub[32];
    struct pv_stub_image img;
    char err[256];
    if (pv_stub_image_parse(&img, bin, len, STUB_BASE, err, sizeof err))
        die("%s", err);
    pv_sha256(digest, bin, len);
    for (int i = 0; i < 32; i++)
        priv[i] = (uint8_t)(i * 7 + 3);
    pv_x25519_public(pub, priv);
    bench_x25519(argv[3]);
    bench_handshake(&img, priv, pub);
    bench_install(&img, priv, pub, digest);
    free(bin);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        failed = 1;
    return failed;
}
