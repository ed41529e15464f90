/* Power cut at every flash operation of a whole provisioning run (docs/power-cuts.md).
 *
 * The real path: `hsm-bridge serve` (SQLite ledger, SoftHSM2 token) and `provision run` as an
 * enrolled station driving a virtual STM32F427 over its GDB port (tests/unit/bridge_harness.h).
 * The chips are new but used (sim --used-flash USED_SECTORS: the sectors the run erases hold
 * old contents), so the run erases them (the stub leaves a blank one alone) and the sweep cuts
 * the erases too.
 * A reference run on such a chip logs every flash operation the sim counts (sim
 * --flash-op-log): N operations, each an erase, a programmed word or byte, or an option byte
 * commit. Then, for each chosen k in 1..N, a new chip is powered with --power-cut-flash-op k:
 * the sim dies in the middle of operation k (its cells left half done, RAM lost, the state file
 * written), the station's run fails, the chip is powered on again from its state file and
 * `provision run` is rerun (and `provision ledger confirm-locked` when the tool says the chip is
 * locked but the ledger is not: exit 6 with a dead debug port, or exit 10). Every cut must end
 * with
 *   - the chip at RDP Level 2 (the option byte in its state file, 0xCC),
 *   - exactly one ledger row for its UID, locked at Level 2, no lease left,
 *   - the batch counted once for it (used + 1),
 *   - never a lock without a verified record in between (checked right after the cut),
 *   - the bootloader booting the signed application (its USART says so).
 *
 * Which k: PV_POWER_SWEEP=full (make soak) sweeps 1..N (PV_POWER_SWEEP_FROM / _TO narrow it);
 * otherwise (make test) a sample: the first and last operation of each phase of the reference
 * run (the erases, the bootloader's words, the key slot, the application, the option byte
 * commit, the bootloader's first boot) and RANDOM_CUTS random indices drawn from PV_TEST_SEED
 * (printed). PV_POWER_SWEEP=K,K,... runs those. Each cut prints one line; the end
 * prints the totals. A failing cut does not stop the sweep: the failures are listed at the end.
 * PV_POWER_SWEEP_SHARD=I/N keeps every N-th chosen cut from the I-th (tests/soak_power_sweep.sh
 * runs shards side by side, each with its own token and bridge); PV_POWER_SWEEP_BIN=DIR takes
 * provision, hsm-bridge and sim from DIR (the release build). */
#define _GNU_SOURCE /* memmem (bridge_harness.h) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_harness.h"
#include "common/test_rng.h"

#include "../../provisioner/commands.h"

/* The sectors the demo recipe's run erases (bootloader 0-1, key slot 2, application 4), holding
 * old contents on the sweep's chips; the counter (3) stays blank, as the bootloader expects. */
#define USED_SECTORS "0x17"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); see provisioner/main.c. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define RDP_LEVEL0  0xAA
#define RDP_LEVEL2  0xCC
#define MAX_OPS     20000u
#define MAX_CUTS    MAX_OPS
#define MAX_RERUNS  3
#define SWEEP_QUOTA 1000000u
#define RANDOM_CUTS 2

/* What a flash operation of the reference run did (from the sim's --flash-op-log). */
enum op_class {
    OP_ERASE,
    OP_BOOTLOADER, /* a word of the bootloader region */
    OP_KEYSLOT,
    OP_COUNTER,
    OP_APP,
    OP_OTHER, /* programmed elsewhere */
    OP_OPTION,
    OP_AFTER_LOCK, /* anything after the option byte commit: the bootloader's first boot */
    OP_CLASSES,
};
static const char *const class_name[OP_CLASSES] = {
    "erase",       "bootloader",  "key slot",      "counter",
    "application", "other flash", "option commit", "first boot",
};

static struct bh_env env;
static struct bh_bridge bridge;
static struct bh_station station;
static int next_seed = 31000;          /* every chip its own UID */
static enum op_class ops[MAX_OPS + 1]; /* 1-based */
static unsigned n_ops;                 /* flash operations of the reference run */
static char op_text[MAX_OPS + 1][48];  /* the log line of each, for the summary */

/* ---- the reference run's operations ---- */

static enum op_class classify(const char *line, bool after_option)
{
    unsigned long a = 0;
    if (strstr(line, " option "))
        return OP_OPTION;
    if (after_option)
        return OP_AFTER_LOCK;
    if (strstr(line, " erase "))
        return OP_ERASE;
    const char *p = strstr(line, " program ");
    if (!p || sscanf(p, " program %lx", &a) != 1)
        return OP_OTHER;
    if (a >= 0x08000000u && a < 0x08008000u)
        return OP_BOOTLOADER;
    if (a >= 0x08008000u && a < 0x0800C000u)
        return OP_KEYSLOT;
    if (a >= 0x0800C000u && a < 0x08010000u)
        return OP_COUNTER;
    if (a >= 0x08010000u && a < 0x08100000u)
        return OP_APP;
    return OP_OTHER;
}

/* Reads a --flash-op-log into ops[]/op_text[]; the number of operations. */
static unsigned read_op_log(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[256];
    unsigned n = 0;
    bool after_option = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long k = 0;
        if (sscanf(line, "op %lu", &k) != 1)
            continue;
        if (k != n + 1 || k > MAX_OPS) {
            fprintf(stderr, "power sweep: %s: operation %lu after %u\n", path, k, n);
            fclose(f);
            return 0;
        }
        n = (unsigned)k;
        ops[n] = classify(line, after_option);
        after_option |= ops[n] == OP_OPTION;
        line[strcspn(line, "\n")] = 0;
        snprintf(op_text[n], sizeof op_text[n], "%s", line + strcspn(line, " ") + 1);
    }
    fclose(f);
    return n;
}

/* The last 600 characters of a program's output: where it says why. */
static const char *tail(const char *s)
{
    size_t n = strlen(s);
    return n > 600 ? s + n - 600 : s;
}

/* ---- one chip ---- */

struct dev {
    char name[32];
    struct bh_sim sim;
    uint8_t uid[12];
    char hex[25];
    char op_log[220];
};

static bool dev_on(struct dev *d, int seed, char *const *extra)
{
    return bh_sim_start(&env, &d->sim, d->name, seed, extra);
}

static int run_station(const struct dev *d, struct bh_run *r)
{
    char target[64];
    bh_sim_target(&d->sim, target, sizeof target);
    return bh_station_run(&bridge, &station, target, NULL, NULL, r);
}

static int confirm_locked(const struct dev *d)
{
    return BH_CMD(&env, env.prov, "ledger", "confirm-locked", "--uid", d->hex, "--recipe",
                  env.recipe, "--pin-file", env.pin, "--ledger", bridge.ledger, "--station",
                  "power-sweep", "--reason", "test: power cut sweep; debug port dead");
}

/* The locked chip, powered on with its USART: the bootloader checks the key slot and the
 * application's signature and starts it. */
static bool boots_app(struct dev *d, char *why, size_t cap)
{
    if (!dev_on(d, -1, NULL)) {
        snprintf(why, cap, "the chip does not power on for the boot check");
        return false;
    }
    int fd = sp_connect(d->sim.usart, 5000);
    char con[4096] = "";
    if (fd >= 0) {
        sp_read_until(fd, con, sizeof con, "app: demo 1.0.0 running", 15000);
        close(fd);
    }
    bh_sim_stop(&d->sim);
    if (!strstr(con, "boot: signature ok") || !strstr(con, "app: demo 1.0.0 running")) {
        snprintf(why, cap, "the bootloader does not start the application; console: %.600s", con);
        return false;
    }
    return true;
}

/* The outcome of one cut. */
struct cut_result {
    bool ok;
    int first_exit, sim_exit, last_exit;
    unsigned reruns;
    bool confirmed;
    uint64_t ms, cut_ms, rerun_ms, boot_ms; /* the whole cut, the cut run, the reruns, the boot */
    char why[1024];
};

#define CUT_FAIL(res, ...)                                                                         \
    do {                                                                                           \
        snprintf((res)->why, sizeof(res)->why, __VA_ARGS__);                                       \
        return;                                                                                    \
    } while (0)

/* Power cut at flash operation k of a fresh chip's run, then reruns until it is locked. */
static void cut_at(unsigned k, unsigned cut_seed, struct cut_result *res)
{
    memset(res, 0, sizeof *res);
    uint64_t t0 = sp_now_ms();
    struct dev d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "cut-%u-%u", k, cut_seed);
    snprintf(d.op_log, sizeof d.op_log, "%s/cut-%u-%u.ops", env.dir, k, cut_seed);
    char ks[24], seed[24];
    snprintf(ks, sizeof ks, "%u", k);
    snprintf(seed, sizeof seed, "%u", cut_seed);
    char *cut[] = {
        "--power-cut-flash-op", ks,           "--cut-seed", seed, "--flash-op-log", d.op_log,
        "--used-flash",         USED_SECTORS, NULL};
    if (!dev_on(&d, next_seed++, cut))
        CUT_FAIL(res, "the chip does not power on");
    if (!bh_sim_uid(&d.sim, d.uid)) {
        bh_sim_stop(&d.sim);
        CUT_FAIL(res, "the chip's UID cannot be read");
    }
    bh_hex(d.hex, d.uid, 12);
    unsigned rows = bh_ledger_rows(&bridge);
    uint32_t used = bh_ledger_used(&bridge);

    /* the run the cut interrupts */
    struct bh_run r;
    uint64_t t = sp_now_ms();
    res->first_exit = run_station(&d, &r);
    res->sim_exit = sp_wait(d.sim.pid, 10000);
    res->cut_ms = sp_now_ms() - t;
    if (getenv("PV_POWER_SWEEP_VERBOSE"))
        fprintf(stderr, "cut %u: the cut run exited %d:\n%s%s\n", k, res->first_exit, r.out, r.err);
    if (res->sim_exit < 0) {
        bh_sim_stop(&d.sim);
        CUT_FAIL(res, "the cut did not fire: the run exited %d and the chip still runs:\n%s",
                 res->first_exit, tail(r.err));
    }
    sp_forget(d.sim.pid);
    d.sim.pid = 0;
    if (res->sim_exit != 3)
        CUT_FAIL(res, "the sim exited %d, not 3 (the cut)", res->sim_exit);

    /* right after the cut: never a lock without a verified record */
    int rdp = bh_state_rdp(d.sim.state);
    pv_ledger_row row;
    memset(&row, 0, sizeof row);
    int lrc = bh_ledger_get(&bridge, d.uid, &row);
    if (rdp < 0)
        CUT_FAIL(res, "the state file cannot be read after the cut");
    if (rdp != RDP_LEVEL0 && (lrc != PV_LEDGER_OK || row.state < PV_LEDGER_VERIFIED ||
                              !row.at[PV_LEDGER_VERIFIED - 1][0]))
        CUT_FAIL(res, "after the cut the chip has RDP byte 0x%02x but the ledger has %s", rdp,
                 lrc == PV_LEDGER_OK ? pv_ledger_state_name(row.state) : "no row");

    /* where the cut left chip and row (docs/power-cuts.md, "What the cuts do to a run") */
    if (ops[k] == OP_AFTER_LOCK) {
        /* the station saw the lock and the bridge recorded it before the counter write */
        if (rdp != RDP_LEVEL2 || lrc != PV_LEDGER_OK || row.state != PV_LEDGER_LOCKED)
            CUT_FAIL(res, "a cut at the first boot left RDP byte 0x%02x and the row %s", rdp,
                     lrc == PV_LEDGER_OK ? pv_ledger_state_name(row.state) : "missing");
    } else {
        bool option = ops[k] == OP_OPTION;
        int want_rdp = option && (cut_seed & 1u) ? RDP_LEVEL2 : RDP_LEVEL0;
        pv_ledger_state want = option ? PV_LEDGER_VERIFIED : PV_LEDGER_KEYED;
        if (res->first_exit != PV_EXIT_SESSION)
            CUT_FAIL(res, "the cut run exited %d, not %d (the session failed):\n%s",
                     res->first_exit, PV_EXIT_SESSION, tail(r.err));
        /* the final frame went out: the station must not suggest the chip is unlocked */
        if (option && !strstr(r.err, "the chip may be locked"))
            CUT_FAIL(res,
                     "a cut in the option byte commit: the run does not say the chip may be "
                     "locked:\n%s",
                     tail(r.err));
        if (rdp != want_rdp || lrc != PV_LEDGER_OK || row.state != want)
            CUT_FAIL(res, "after the cut: RDP byte 0x%02x (want 0x%02x), row %s (want %s)", rdp,
                     want_rdp, lrc == PV_LEDGER_OK ? pv_ledger_state_name(row.state) : "missing",
                     pv_ledger_state_name(want));
    }

    /* reruns until the tool says it is done */
    t = sp_now_ms();
    for (;;) {
        if (res->reruns == MAX_RERUNS)
            CUT_FAIL(res, "not locked after %u reruns; the last exited %d:\n%s", MAX_RERUNS,
                     res->last_exit, tail(r.err));
        res->reruns++;
        if (!dev_on(&d, -1, NULL))
            CUT_FAIL(res, "the chip does not power on again after the cut");
        res->last_exit = run_station(&d, &r);
        bh_sim_stop(&d.sim);
        if (res->last_exit == PV_EXIT_OK)
            break;
        bool dead_port = res->last_exit == PV_EXIT_LOCKED && strstr(r.err, "debug port is dead");
        if (dead_port || res->last_exit == PV_EXIT_LEDGER) {
            /* the chip is locked and the ledger has not heard: the operator confirms */
            if (bh_state_rdp(d.sim.state) != RDP_LEVEL2)
                CUT_FAIL(res,
                         "rerun exited %d but the chip is not at Level 2 (RDP byte 0x%02x):\n%s",
                         res->last_exit, bh_state_rdp(d.sim.state), tail(r.err));
            memset(&row, 0, sizeof row);
            if (bh_ledger_get(&bridge, d.uid, &row) == PV_LEDGER_OK &&
                row.state == PV_LEDGER_LOCKED)
                break; /* the lock was recorded before the cut (the bootloader's first boot) */
            if (confirm_locked(&d) != 0)
                CUT_FAIL(res, "confirm-locked after rerun exit %d failed:\n%s", res->last_exit,
                         tail(env.out));
            res->confirmed = true;
            break;
        }
        if (res->last_exit != PV_EXIT_SESSION && res->last_exit != PV_EXIT_PROBE)
            CUT_FAIL(res, "rerun %u exited %d:\n%s%s", res->reruns, res->last_exit, tail(r.out),
                     tail(r.err));
    }

    res->rerun_ms = sp_now_ms() - t;

    /* the end every cut must reach */
    rdp = bh_state_rdp(d.sim.state);
    if (rdp != RDP_LEVEL2)
        CUT_FAIL(res, "the chip ends with RDP byte 0x%02x, not 0xCC (Level 2)", rdp);
    memset(&row, 0, sizeof row);
    lrc = bh_ledger_get(&bridge, d.uid, &row);
    if (lrc != PV_LEDGER_OK)
        CUT_FAIL(res, "no ledger row for %s (%d)", d.hex, lrc);
    if (row.state != PV_LEDGER_LOCKED || row.rdp_level != 2 || row.lease_session[0])
        CUT_FAIL(res, "row %s: %s, rdp_level %u, lease '%s'", d.hex,
                 pv_ledger_state_name(row.state), row.rdp_level, row.lease_session);
    unsigned rows_now = bh_ledger_rows(&bridge);
    uint32_t used_now = bh_ledger_used(&bridge);
    if (rows_now != rows + 1)
        CUT_FAIL(res, "%u ledger rows after the cut, %u before (want one more)", rows_now, rows);
    if (used_now != used + 1)
        CUT_FAIL(res, "batch counts %u devices after the cut, %u before (want one more)",
                 (unsigned)used_now, (unsigned)used);
    t = sp_now_ms();
    if (!boots_app(&d, res->why, sizeof res->why))
        return;
    res->boot_ms = sp_now_ms() - t;
    res->ok = true;
    res->ms = sp_now_ms() - t0;
    unlink(d.sim.state);
    unlink(d.sim.log);
    unlink(d.op_log);
}

/* ---- which cuts ---- */

/* A cut: the operation and the seed of what it leaves (sim --cut-seed). */
struct cut {
    unsigned k, seed;
};
static struct cut cuts[MAX_CUTS];
static unsigned n_cuts;

static void add_cut_seed(unsigned k, unsigned seed)
{
    if (k < 1 || k > n_ops || n_cuts == MAX_CUTS)
        return;
    for (unsigned i = 0; i < n_cuts; i++)
        if (cuts[i].k == k && cuts[i].seed == seed)
            return;
    cuts[n_cuts++] = (struct cut){k, seed};
}

/* Operation k with seed k; the option byte commit also with the other parity, so both of its
 * outcomes are cut (an even seed keeps the old option bytes, an odd one leaves the new ones in
 * force: sim --help). */
static void add_cut(unsigned k)
{
    add_cut_seed(k, k);
    if (k >= 1 && k <= n_ops && ops[k] == OP_OPTION)
        add_cut_seed(k, k ^ 1u);
}

static int cmp_cut(const void *a, const void *b)
{
    const struct cut *x = a, *y = b;
    if (x->k != y->k)
        return (x->k > y->k) - (x->k < y->k);
    return (x->seed > y->seed) - (x->seed < y->seed);
}

/* make test's sample: the first and last operation of each phase (a run of operations of one
 * class) and RANDOM_CUTS indices from PV_TEST_SEED. */
static void choose_sample(void)
{
    for (unsigned k = 1; k <= n_ops; k++) {
        if (k == 1 || ops[k] != ops[k - 1])
            add_cut(k);
        if (k == n_ops || ops[k] != ops[k + 1])
            add_cut(k);
    }
    trng_seed_from_env();
    for (int i = 0; i < RANDOM_CUTS; i++)
        add_cut(1 + (unsigned)trng_len(n_ops - 1));
}

static void choose_cuts(void)
{
    const char *mode = getenv("PV_POWER_SWEEP");
    if (mode && strcmp(mode, "full") == 0) {
        const char *from = getenv("PV_POWER_SWEEP_FROM"), *to = getenv("PV_POWER_SWEEP_TO");
        unsigned lo = from ? (unsigned)strtoul(from, NULL, 10) : 1;
        unsigned hi = to ? (unsigned)strtoul(to, NULL, 10) : n_ops;
        for (unsigned k = lo ? lo : 1; k <= hi && k <= n_ops; k++)
            add_cut(k);
    } else if (mode && *mode) {
        for (const char *p = mode; *p;) {
            char *end;
            unsigned long k = strtoul(p, &end, 10), seed = k;
            if (end != p && *end == ':') {
                const char *q = end + 1;
                seed = strtoul(q, &end, 10);
                if (end == q)
                    end = (char *)(uintptr_t)p;
            }
            if (end == p || (*end && *end != ','))
                fail_msg("PV_POWER_SWEEP=%s: expected full or a list of K or K:SEED (operation "
                         "numbers, cut seeds)",
                         mode);
            add_cut_seed((unsigned)k, (unsigned)seed);
            p = *end == ',' ? end + 1 : end;
        }
    } else {
        choose_sample();
    }
    qsort(cuts, n_cuts, sizeof cuts[0], cmp_cut);
    /* PV_POWER_SWEEP_SHARD=I/N: every N-th cut from the I-th (0-based), for runs side by side */
    const char *shard = getenv("PV_POWER_SWEEP_SHARD");
    unsigned si = 0, sn = 1;
    if (shard && (sscanf(shard, "%u/%u", &si, &sn) != 2 || sn == 0 || si >= sn))
        fail_msg("PV_POWER_SWEEP_SHARD=%s: expected I/N with 0 <= I < N", shard);
    unsigned kept = 0;
    for (unsigned i = 0; i < n_cuts; i++)
        if (i % sn == si)
            cuts[kept++] = cuts[i];
    n_cuts = kept;
}

/* ---- the test ---- */

/* A whole run on a fresh chip with the operation log: what the sweep cuts. */
static void reference_run(void)
{
    struct dev d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "reference");
    snprintf(d.op_log, sizeof d.op_log, "%s/reference.ops", env.dir);
    char *extra[] = {"--flash-op-log", d.op_log, "--used-flash", USED_SECTORS, NULL};
    assert_true(dev_on(&d, next_seed++, extra));
    struct bh_run r;
    uint64_t t0 = sp_now_ms();
    int st = run_station(&d, &r);
    uint64_t ms = sp_now_ms() - t0;
    /* the bootloader's first boot after the lock writes too: power off once the application
     * it starts prints its count */
    char con[4096] = "";
    int fd = sp_connect(d.sim.usart, 5000);
    if (fd >= 0) {
        sp_read_until(fd, con, sizeof con, "app: count", 20000);
        close(fd);
    }
    bh_sim_stop(&d.sim);
    if (!strstr(con, "app: count"))
        fail_msg("the reference chip did not start its application after the run: %s", con);
    if (st != PV_EXIT_OK)
        fail_msg("the reference run exited %d:\n%s%s", st, r.out, r.err);
    n_ops = read_op_log(d.op_log);
    if (n_ops == 0 || n_ops > MAX_OPS)
        fail_msg("the reference run's operation log %s is empty or too long", d.op_log);
    unsigned per[OP_CLASSES] = {0};
    for (unsigned k = 1; k <= n_ops; k++)
        per[ops[k]]++;
    if (!per[OP_ERASE] || !per[OP_BOOTLOADER] || !per[OP_KEYSLOT] || !per[OP_APP] ||
        per[OP_OPTION] != 1)
        fail_msg("the reference run's operations lack a phase (log %s)", d.op_log);
    fprintf(stderr, "power sweep: a run performs %u flash operations (%.1f s):", n_ops,
            (double)ms / 1000.0);
    for (int c = 0; c < OP_CLASSES; c++)
        if (per[c])
            fprintf(stderr, " %s %u", class_name[c], per[c]);
    fprintf(stderr, "\npower sweep: phases:");
    for (unsigned k = 1, first = 1; k <= n_ops; k++)
        if (k == n_ops || ops[k + 1] != ops[k]) {
            fprintf(stderr, " %u-%u %s;", first, k, class_name[ops[k]]);
            first = k + 1;
        }
    fprintf(stderr, "\n");
}

static void test_power_cut_sweep(void **state)
{
    (void)state;
    reference_run();
    choose_cuts();
    fprintf(stderr, "power sweep: %u cut(s) of %u operations\n", n_cuts, n_ops);
    uint64_t t0 = sp_now_ms();
    unsigned passed = 0, failed = 0, confirmed = 0;
    static struct cut failures[MAX_CUTS];
    for (unsigned i = 0; i < n_cuts; i++) {
        unsigned k = cuts[i].k;
        struct cut_result res;
        cut_at(k, cuts[i].seed, &res);
        if (res.ok) {
            passed++;
            confirmed += res.confirmed;
            fprintf(
                stderr,
                "cut %u/%u seed %u (%s: %s): run exit %d, %u rerun(s) exit %d%s: locked, 1 row, "
                "counted once, boots (%.1f s: cut run %.1f, reruns %.1f, boot %.1f)\n",
                k, n_ops, cuts[i].seed, class_name[ops[k]], op_text[k], res.first_exit, res.reruns,
                res.last_exit, res.confirmed ? " + confirm-locked" : "", (double)res.ms / 1000.0,
                (double)res.cut_ms / 1000.0, (double)res.rerun_ms / 1000.0,
                (double)res.boot_ms / 1000.0);
        } else {
            failures[failed++] = cuts[i];
            fprintf(stderr, "cut %u/%u seed %u (%s: %s): FAILED: %s\n", k, n_ops, cuts[i].seed,
                    class_name[ops[k]], op_text[k], res.why);
        }
    }
    double s = (double)(sp_now_ms() - t0) / 1000.0;
    fprintf(stderr,
            "power sweep: %u flash operations per run; %u cut(s): %u passed, %u failed "
            "(%u needed confirm-locked); %.1f s (%.2f s per cut)\n",
            n_ops, n_cuts, passed, failed, confirmed, s, n_cuts ? s / n_cuts : 0.0);
    if (failed) {
        char list[2048] = "";
        size_t at = 0;
        for (unsigned i = 0; i < failed && at + 16 < sizeof list; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%u:%u", i ? "," : "",
                                   failures[i].k, failures[i].seed);
        fail_msg("%u cut(s) did not end locked with one row counted once: "
                 "PV_POWER_SWEEP=%s replays them",
                 failed, list);
    }
}

/* ---- setup ---- */

/* The demo recipe's quota raised: a sweep provisions thousands of chips in one batch. */
static bool raise_quota(void)
{
    size_t len = 0;
    char *text = sp_slurp(env.recipe, &len);
    if (!text)
        return false;
    char *big = malloc(len + 64);
    if (!big) {
        free(text);
        return false;
    }
    memcpy(big, text, len + 1);
    free(text);
    char quota[32];
    snprintf(quota, sizeof quota, "quota: %u", SWEEP_QUOTA);
    bool ok =
        bh_replace_line(big, len + 64, "quota: ", quota) && bh_write_file(env.recipe, big, 0644);
    free(big);
    return ok;
}

static int setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "test_power_sweep") || !raise_quota())
        return -1;
    /* PV_POWER_SWEEP_BIN=DIR: provision, hsm-bridge and sim from DIR (make soak: the release
     * build, several times faster than the sanitized test build) */
    const char *bin = getenv("PV_POWER_SWEEP_BIN");
    if (bin && *bin) {
        snprintf(env.prov, sizeof env.prov, "%s/provision", bin);
        snprintf(env.bridge_bin, sizeof env.bridge_bin, "%s/hsm-bridge", bin);
        snprintf(sp_sim_bin, sizeof sp_sim_bin, "%s/sim", bin);
        if (access(env.prov, X_OK) || access(env.bridge_bin, X_OK) || access(sp_sim_bin, X_OK)) {
            fprintf(stderr, "PV_POWER_SWEEP_BIN=%s: provision, hsm-bridge or sim missing there\n",
                    bin);
            return -1;
        }
    }
    if (!bh_bridge_init(&env, &bridge, "sweep", NULL, 0) ||
        !bh_station_enroll(&bridge, &station, "sweep-line", BH_RIGHTS) || !bh_bridge_start(&bridge))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (bridge.pid > 0)
        bh_bridge_stop(&bridge, SIGTERM);
    return 0;
}

int main(void)
{
    const char *mode = getenv("PV_POWER_SWEEP");
    /* the full sweep takes hours; the sample about two minutes */
    if (!sp_install(mode && strcmp(mode, "full") == 0 ? 48u * 3600u : 900u))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_cut_sweep),
    };
    int rc = cmocka_run_group_tests_name("power cut sweep", tests, setup, teardown);
    if (rc == 0)
        bh_env_free(&env);
    return rc;
}
