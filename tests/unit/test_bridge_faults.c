/* Faults between a station and `hsm-bridge serve` (tests/unit/bridge_harness.h), each followed
 * by a rerun of the same chip from its state file. Whatever breaks, the device ends with one
 * ledger row, counted once in the batch, the audit chain (signatures included) intact, no
 * committed row lost, and the chip is never locked without a verified record.
 *
 *  - the bridge killed with SIGKILL at each step of a session (the station stops itself at the
 *    step through tests/provision-hooks' PROVISION_TEST_CRASH_AT=stop-*, the test kills the
 *    bridge and lets the station go on): after the plan, after begin, after verified (the
 *    bridge restarted on another port behind the same URL before the station goes on), and
 *    just before the lock is reported. The station fails naming the step; a bridge restarted on
 *    the same token and ledger resumes the row. Once the final frame is out, the chip locks
 *    and the ledger cannot hear it: the rerun meets a dead debug port (exit 6) and
 *    `provision ledger confirm-locked` closes the row (docs/ledger.md, "A lock the ledger
 *    missed");
 *  - the station killed after begin and after verified: the rerun's begin takes over the
 *    station's own, unexpired lease (same certificate) and locks;
 *  - the network cut by a TCP proxy (tests/unit/tcp_proxy.h) before begin's answer, in the
 *    middle of begin's frame stream, before verified's answer and before lock's answer, on a bridge
 *    whose sessions live a few seconds (net_ttl_s, sized to the machine's pace): the station
 *    fails with the request it was making; the bridge records the failure or expires the session;
 *  - PostgreSQL restarted while a station is stopped after begin (the ledger reconnects and the
 *    session completes), and PostgreSQL down during verified (500, the station exits 10, the
 *    rerun resumes); the devices locked before are still there. */
#define _GNU_SOURCE /* memmem (bridge_harness.h) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_harness.h"
#include "tcp_proxy.h"

#include "../../hsm-bridge/ledger_ed25519.h"
#include "../../provisioner/commands.h"
#include <openssl/pem.h>
#include <sqlite3.h>

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); see provisioner/main.c. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define RDP_LEVEL0 0xAA
#define RDP_LEVEL2 0xCC
/* The least session ttl of the bridge behind the cutting proxies (s); net_up() sizes it to this
 * machine's pace (bh_expiry_ttl_s), so that a whole run fits in it however loaded the machine. */
#define NET_TTL_MIN_S 3
static unsigned net_ttl_s;

static struct bh_env env;
static struct bh_bridge main_b;  /* SQLite, ttl 120 s: the bridge that gets killed */
static struct bh_bridge net_b;   /* SQLite, ttl net_ttl_s: behind the cutting proxies */
static struct bh_station line1;  /* enrolled on main_b */
static struct bh_station line2;  /* enrolled on net_b */
static struct tcp_proxy main_px; /* in front of main_b (no cut): its URL survives restarts */
static char audit_pem[200];      /* the token's audit public key */
static int seed = 9100;          /* every new chip its own UID */
static size_t begin_burst;       /* bytes of begin's answer (measured through a proxy) */

/* ---- devices ---- */

struct dev {
    char name[32];
    struct bh_sim sim;
    uint8_t uid[12];
    char hex[25];
};

static void dev_new(struct dev *d, const char *name)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    assert_true(bh_sim_start(&env, &d->sim, d->name, seed++, NULL));
    assert_true(bh_sim_uid(&d->sim, d->uid));
    bh_hex(d->hex, d->uid, 12);
}

/* Power off: the sim writes its state file. Returns the RDP byte stored there. */
static int dev_off(struct dev *d)
{
    assert_int_equal(bh_sim_stop(&d->sim), 0);
    int rdp = bh_state_rdp(d->sim.state);
    assert_true(rdp >= 0);
    return rdp;
}

/* Power on from the state file (bh_sim_restart with the name kept short). */
static void dev_on(struct dev *d)
{
    assert_true(bh_sim_start(&env, &d->sim, d->name, -1, NULL));
}

/* ---- runs ---- */

static int url_port(const char *url)
{
    const char *c = strrchr(url, ':');
    return c ? atoi(c + 1) : -1;
}

/* `provision run --config station.yaml --json` for chip d through b, or through a proxy on
 * proxy_port (0: b's own URL); hook: PROVISION_TEST_CRASH_AT for tests/provision-hooks (NULL:
 * the provision make builds). Returns the status, or -1 when the run stopped itself. */
static int station_run(struct bh_bridge *b, const struct bh_station *s, int proxy_port,
                       const struct dev *d, const char *hook, struct bh_run *r)
{
    struct bh_bridge via = *b;
    if (proxy_port)
        snprintf(via.url, sizeof via.url, "https://127.0.0.1:%d", proxy_port);
    char target[64], hk[128];
    bh_sim_target(&d->sim, target, sizeof target);
    assert_true(bh_station_config(&via, s, target));
    snprintf(hk, sizeof hk, "PROVISION_TEST_CRASH_AT=%s", hook ? hook : "");
    const char *envs[] = {"-SOFTHSM2_CONF", "-PROVISION_PIN", hook ? hk : NULL, NULL};
    const char *args[] = {"run", "--config", s->config, "--json", NULL};
    assert_true(bh_run_start(&env, r, hook ? env.hooks : env.prov, envs, args));
    int st = bh_run_wait(r, 90000);
    if (st < 0 && !r->stopped) {
        bh_run_kill(r);
        fail_msg("provision did not finish in 90 s:\n%s%s", r->out, r->err);
    }
    bh_note_run(r);
    return st;
}

/* A run that stopped itself at hook: asserts so. */
static void run_to_stop(struct bh_bridge *b, const struct bh_station *s, int proxy_port,
                        const struct dev *d, const char *hook, struct bh_run *r)
{
    int st = station_run(b, s, proxy_port, d, hook, r);
    if (st >= 0 || !r->stopped)
        fail_msg("provision was to stop at %s; it exited %d:\n%s%s", hook, st, r->out, r->err);
}

/* Lets a stopped run go on; its exit status. */
static int run_continue(struct bh_run *r)
{
    r->stopped = false;
    kill(r->pid, SIGCONT);
    int st = bh_run_wait(r, 60000);
    if (st < 0) {
        bh_run_kill(r);
        fail_msg("provision did not finish within 60 s of SIGCONT:\n%s%s", r->out, r->err);
    }
    return st;
}

/* The exit status, and every needle in stderr (NULL-terminated list). */
static void expect_exit(const struct bh_run *r, int status, const char *const *needles)
{
    bool ok = r->status == status;
    for (int i = 0; ok && needles && needles[i]; i++)
        ok = strstr(r->err, needles[i]) != NULL;
    if (!ok)
        fail_msg("provision exited %d (want %d with every needle):\n%s%s", r->status, status,
                 r->out, r->err);
}
#define EXPECT_EXIT(r, status, ...)                                                                \
    expect_exit((r), (status), (const char *const[]){__VA_ARGS__, NULL})

/* The JSON report's failed phase is `phase`. */
static void expect_phase(const struct bh_run *r, const char *phase)
{
    char want[64];
    snprintf(want, sizeof want, "\"failed_phase\":\"%s\"", phase);
    if (!strstr(r->out, want))
        fail_msg("the run's report does not name phase %s:\n%s", phase, r->out);
}

/* ---- the ledger ---- */

static pv_ledger_row row_of(const struct bh_bridge *b, const struct dev *d)
{
    pv_ledger_row row;
    memset(&row, 0, sizeof row);
    int rc = bh_ledger_get(b, d->uid, &row);
    if (rc != PV_LEDGER_OK)
        fail_msg("no ledger row for %s (%d)", d->hex, rc);
    return row;
}

/* Every audit entry, every signature (the token's audit key), and the tables replayed. */
static void assert_chain(const struct bh_bridge *b)
{
    FILE *f = fopen(audit_pem, "r");
    assert_non_null(f);
    EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(key);
    pv_ledger *l = bh_ledger_open(b);
    assert_non_null(l);
    pv_ledger_verify_report rep;
    int rc = pv_ledger_verify_chain(l, pv_ledger_ed25519_verify, key, &rep);
    pv_ledger_close(l);
    EVP_PKEY_free(key);
    if (rc != PV_LEDGER_OK || !rep.signatures)
        fail_msg("audit chain of %s: %s", b->name, rep.message);
}

/* The detail of uid's newest audit entry with `action` (SQLite ledgers). */
static void audit_detail(const struct bh_bridge *b, const struct dev *d, const char *action,
                         char *out, size_t cap)
{
    pv_ledger *l = bh_ledger_open(b);
    assert_non_null(l);
    sqlite3 *db = pv_ledger_db(l);
    assert_non_null(db);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT detail FROM audit WHERE uid = ?1 AND action = ?2 "
                                        "ORDER BY seq DESC LIMIT 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, d->hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
    out[0] = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    pv_ledger_close(l);
}

/* A powered-off chip and its row agree: a chip whose option bytes say locked has a verified
 * (or locked) record; never a lock without one. Returns the row. */
static pv_ledger_row assert_no_lock_without_record(const struct bh_bridge *b, const struct dev *d)
{
    int rdp = bh_state_rdp(d->sim.state);
    pv_ledger_row row;
    memset(&row, 0, sizeof row);
    int rc = bh_ledger_get(b, d->uid, &row);
    if (rdp != RDP_LEVEL0 && (rc != PV_LEDGER_OK || row.state < PV_LEDGER_VERIFIED ||
                              !row.at[PV_LEDGER_VERIFIED - 1][0]))
        fail_msg("chip %s has RDP byte 0x%02x but the ledger has %s", d->hex, rdp,
                 rc == PV_LEDGER_OK ? pv_ledger_state_name(row.state) : "no row");
    return row;
}

/* The end every fault must reach: one locked row at Level 2 with `attempts`, no lease, the
 * batch counted once for it (used_before + 1), rows_before + 1 rows, the chip at Level 2 (it is
 * powered off here), the chain intact. */
static void assert_done(const struct bh_bridge *b, const struct dev *d, unsigned rows_before,
                        uint32_t used_before, unsigned attempts)
{
    pv_ledger_row row = row_of(b, d);
    if (row.state != PV_LEDGER_LOCKED || row.rdp_level != 2 || row.attempts != attempts ||
        row.lease_session[0])
        fail_msg("row %s: %s, rdp_level %u, attempts %u (want %u), lease '%s'", d->hex,
                 pv_ledger_state_name(row.state), row.rdp_level, row.attempts, attempts,
                 row.lease_session);
    assert_int_equal(bh_ledger_rows(b), rows_before + 1);
    assert_int_equal(bh_ledger_used(b), used_before + 1);
    assert_int_equal(bh_state_rdp(d->sim.state), RDP_LEVEL2);
    assert_chain(b);
}

/* The rerun of a chip the bridge has at verified while the chip locked itself: a dead debug
 * port (exit 6, nothing written), then the operator's confirm-locked on the bridge's ledger
 * (signed with the token's audit key). */
static void rerun_dead_port_then_confirm(struct bh_bridge *b, const struct bh_station *s,
                                         int proxy_port, struct dev *d)
{
    struct bh_run r;
    dev_on(d);
    station_run(b, s, proxy_port, d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_LOCKED, "debug port is dead", "nothing written");
    assert_int_equal(dev_off(d), RDP_LEVEL2);
    assert_int_equal(row_of(b, d).state, PV_LEDGER_VERIFIED);
    assert_int_equal(BH_CMD(&env, env.prov, "ledger", "confirm-locked", "--uid", d->hex, "--recipe",
                            env.recipe, "--pin-file", env.pin, "--ledger", b->ledger, "--station",
                            "fault-test", "--reason",
                            "test: the bridge lost the lock; debug port dead"),
                     0);
    assert_non_null(strstr(env.out, "verified -> locked"));
}

/* main_b again, on the same token and ledger; the proxy now forwards to its new port. */
static void main_restart(void)
{
    assert_true(bh_bridge_start(&main_b));
    tcp_proxy_target(&main_px, url_port(main_b.url));
}

/* ---- 1. the bridge killed at each step ---- */

/* After the plan: nothing reserved; the station cannot begin (exit 11, naming the request);
 * the chip untouched; the rerun on the restarted bridge locks with one attempt. */
static void test_bridge_killed_after_plan(void **state)
{
    (void)state;
    struct dev d;
    struct bh_run r;
    dev_new(&d, "kill-plan");
    unsigned rows = bh_ledger_rows(&main_b);
    uint32_t used = bh_ledger_used(&main_b);
    run_to_stop(&main_b, &line1, main_px.port, &d, "stop-after-plan", &r);
    assert_int_equal(bh_bridge_stop(&main_b, SIGKILL), 128 + SIGKILL);
    run_continue(&r);
    EXPECT_EXIT(&r, PV_EXIT_BRIDGE, "bridge unreachable", "/v1/sessions");
    expect_phase(&r, "reserve");
    assert_int_equal(dev_off(&d), RDP_LEVEL0);
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(&main_b, d.uid, &row), PV_LEDGER_E_UNKNOWN);
    assert_int_equal(bh_ledger_used(&main_b), used);

    main_restart();
    dev_on(&d);
    station_run(&main_b, &line1, main_px.port, &d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_OK, "");
    dev_off(&d);
    assert_done(&main_b, &d, rows, used, 1);
}

/* After begin (frames posted, verified not yet asked): the station's verified finds no bridge
 * (exit 11, naming verified); the row stays keyed under the dead session's lease, counted; the
 * chip unlocked. The restarted bridge's begin takes the station's own lease over (not expired:
 * ttl 120 s) and resumes the row: locked, attempts 2, counted once. */
static void test_bridge_killed_after_begin(void **state)
{
    (void)state;
    struct dev d;
    struct bh_run r;
    dev_new(&d, "kill-begin");
    unsigned rows = bh_ledger_rows(&main_b);
    uint32_t used = bh_ledger_used(&main_b);
    run_to_stop(&main_b, &line1, main_px.port, &d, "stop-after-begin", &r);
    assert_int_equal(bh_bridge_stop(&main_b, SIGKILL), 128 + SIGKILL);
    run_continue(&r);
    EXPECT_EXIT(&r, PV_EXIT_BRIDGE, "bridge unreachable", "/verified");
    expect_phase(&r, "verify");
    assert_int_equal(dev_off(&d), RDP_LEVEL0);
    pv_ledger_row row = assert_no_lock_without_record(&main_b, &d);
    assert_int_equal(row.state, PV_LEDGER_KEYED);
    assert_int_equal(row.attempts, 1);
    assert_int_equal(row.failures, 0); /* the bridge died before it could hear of one */
    assert_string_equal(row.lease_station, "line-1");
    assert_true(row.lease_session[0] != 0);
    assert_int_equal(bh_ledger_used(&main_b), used + 1);

    main_restart();
    dev_on(&d);
    station_run(&main_b, &line1, main_px.port, &d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_OK, "");
    char detail[2048];
    audit_detail(&main_b, &d, "resume", detail, sizeof detail);
    if (!strstr(detail, "\"took_over\"") || !strstr(detail, row.lease_session) ||
        !strstr(detail, "\"expired\":false"))
        fail_msg("the rerun did not take over lease %s: resume detail %s", row.lease_session,
                 detail);
    dev_off(&d);
    assert_done(&main_b, &d, rows, used, 2);
}

/* After verified (the final frame posted, the stub not yet run on it): the bridge is killed and
 * a new one started on the same ledger behind the same URL before the station goes on. The
 * chip locks; the new bridge never heard of the session (404 unknown_session, exit 9); the row
 * stays at verified, the chip at Level 2: the rerun meets a dead port and the operator confirms. */
static void test_bridge_killed_after_verified(void **state)
{
    (void)state;
    struct dev d;
    struct bh_run r;
    dev_new(&d, "kill-verified");
    unsigned rows = bh_ledger_rows(&main_b);
    uint32_t used = bh_ledger_used(&main_b);
    run_to_stop(&main_b, &line1, main_px.port, &d, "stop-after-verified", &r);
    assert_int_equal(bh_bridge_stop(&main_b, SIGKILL), 128 + SIGKILL);
    main_restart();
    run_continue(&r);
    /* the chip is locked and the new bridge does not know the session: the station says so
     * and names the confirmation (exit 10, not "left unlocked") */
    EXPECT_EXIT(&r, PV_EXIT_LEDGER, "404 unknown_session", "IS locked", "confirm-locked");
    expect_phase(&r, "lock");
    assert_int_equal(dev_off(&d), RDP_LEVEL2);
    pv_ledger_row row = assert_no_lock_without_record(&main_b, &d);
    assert_int_equal(row.state, PV_LEDGER_VERIFIED);
    assert_int_equal(bh_ledger_used(&main_b), used + 1);

    rerun_dead_port_then_confirm(&main_b, &line1, main_px.port, &d);
    assert_done(&main_b, &d, rows, used, 1);
}

/* Just before the lock is reported (the lock seen from outside): the bridge is dead when the
 * station reports it (exit 10: the chip is locked, the row is not; naming lock and the
 * confirmation). Row at verified, chip at Level 2; after a restart
 * the rerun meets a dead port and the operator confirms. */
static void test_bridge_killed_before_lock(void **state)
{
    (void)state;
    struct dev d;
    struct bh_run r;
    dev_new(&d, "kill-lock");
    unsigned rows = bh_ledger_rows(&main_b);
    uint32_t used = bh_ledger_used(&main_b);
    run_to_stop(&main_b, &line1, main_px.port, &d, "stop-before-lock", &r);
    assert_int_equal(bh_bridge_stop(&main_b, SIGKILL), 128 + SIGKILL);
    run_continue(&r);
    EXPECT_EXIT(&r, PV_EXIT_LEDGER, "bridge unreachable", "/lock", "IS locked", "confirm-locked");
    expect_phase(&r, "lock");
    assert_int_equal(dev_off(&d), RDP_LEVEL2);
    pv_ledger_row row = assert_no_lock_without_record(&main_b, &d);
    assert_int_equal(row.state, PV_LEDGER_VERIFIED);
    assert_int_equal(bh_ledger_used(&main_b), used + 1);

    main_restart();
    rerun_dead_port_then_confirm(&main_b, &line1, main_px.port, &d);
    assert_done(&main_b, &d, rows, used, 1);
}

/* ---- 2. the station killed ---- */

static void station_killed(const char *hook, pv_ledger_state at)
{
    struct dev d;
    struct bh_run r;
    dev_new(&d, hook);
    unsigned rows = bh_ledger_rows(&main_b);
    uint32_t used = bh_ledger_used(&main_b);
    run_to_stop(&main_b, &line1, main_px.port, &d, hook, &r);
    assert_int_equal(bh_run_kill(&r), 128 + SIGKILL);
    /* a halting stub (GDB probe) has not run the final frame: the chip stays at Level 0 */
    assert_int_equal(dev_off(&d), RDP_LEVEL0);
    pv_ledger_row row = assert_no_lock_without_record(&main_b, &d);
    assert_int_equal(row.state, at);
    assert_string_equal(row.lease_station, "line-1");
    assert_int_equal(bh_ledger_used(&main_b), used + 1);

    dev_on(&d);
    station_run(&main_b, &line1, main_px.port, &d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_OK, "");
    char detail[2048];
    audit_detail(&main_b, &d, "resume", detail, sizeof detail);
    if (!strstr(detail, "\"took_over\"") || !strstr(detail, row.lease_session) ||
        !strstr(detail, "\"expired\":false") || !strstr(detail, "\"station\":\"line-1\""))
        fail_msg("the rerun did not take over the killed station's lease %s: %s", row.lease_session,
                 detail);
    dev_off(&d);
    assert_done(&main_b, &d, rows, used, 2);
}

static void test_station_killed_after_begin(void **state)
{
    (void)state;
    station_killed("stop-after-begin", PV_LEDGER_KEYED);
}

static void test_station_killed_after_verified(void **state)
{
    (void)state;
    station_killed("stop-after-verified", PV_LEDGER_VERIFIED);
}

/* ---- 3. the network cut ---- */

/* Waits up to ms for uid's row to record a failure containing `what`. */
static pv_ledger_row wait_failure(const struct bh_bridge *b, const struct dev *d, unsigned failures,
                                  const char *what, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    pv_ledger_row row;
    do {
        row = row_of(b, d);
        if (row.failures >= failures && strstr(row.last_failure, what))
            return row;
        usleep(100000);
    } while (sp_now_ms() < end);
    fail_msg("row %s: %u failure(s), last '%s'; want %u with '%s'", d->hex, row.failures,
             row.last_failure, failures, what);
    return row;
}

/* The bridge behind the cutting proxies, started by the first test that needs it, once the runs
 * before it have shown this machine's pace: its session ttl is sized from them. */
static void net_up(void)
{
    if (net_b.pid > 0)
        return;
    net_ttl_s = bh_expiry_ttl_s(NET_TTL_MIN_S);
    if (!bh_bridge_init(&env, &net_b, "net", NULL, net_ttl_s) ||
        !bh_station_enroll(&net_b, &line2, "line-2", BH_RIGHTS) || !bh_bridge_start(&net_b))
        fail_msg("the bridge behind the proxies (session_ttl_s %u) did not start", net_ttl_s);
}

/* One device through a proxy that cuts its connection in the server's burst `burst` after
 * `after` bytes; returns the run (finished) and leaves the chip powered off. */
static void cut_run(struct dev *d, const char *name, unsigned burst, size_t after, struct bh_run *r)
{
    struct tcp_proxy px;
    assert_true(tcp_proxy_start(&px, env.dir, name, url_port(net_b.url), burst, after));
    dev_new(d, name);
    station_run(&net_b, &line2, px.port, d, NULL, r);
    char *log = tcp_proxy_log(&px);
    char want[64];
    snprintf(want, sizeof want, "cut burst %u after %zu", burst, after);
    bool cut = strstr(log, want) != NULL;
    if (!cut)
        fprintf(stderr, "the proxy's log:\n%s\n", log);
    free(log);
    tcp_proxy_stop(&px);
    if (!cut)
        fail_msg("the proxy did not cut where asked (%s):\n%s", want, r->err);
    dev_off(d);
}

/* The rerun of a cut device, straight to the bridge: locked, counted once. */
static void rerun_locks(struct dev *d, unsigned rows, uint32_t used, unsigned attempts)
{
    struct bh_run r;
    dev_on(d);
    station_run(&net_b, &line2, 0, d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_OK, "");
    dev_off(d);
    assert_done(&net_b, d, rows, used, attempts);
}

/* A whole run through a proxy that cuts nothing: the server's bursts are the handshake, then
 * one per answer; begin's (the third) is the frames, and its size is measured for the cut. */
static void test_net_bursts(void **state)
{
    (void)state;
    net_up();
    struct tcp_proxy px;
    struct dev d;
    struct bh_run r;
    assert_true(tcp_proxy_start(&px, env.dir, "px-whole", url_port(net_b.url), 0, 0));
    unsigned rows = bh_ledger_rows(&net_b);
    uint32_t used = bh_ledger_used(&net_b);
    dev_new(&d, "net-whole");
    station_run(&net_b, &line2, px.port, &d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_OK, "");
    begin_burst = tcp_proxy_burst(&px, 1, 3);
    char *log = tcp_proxy_log(&px);
    if (begin_burst < 8000 || tcp_proxy_burst(&px, 1, 5) == 0 || tcp_proxy_burst(&px, 1, 6) != 0 ||
        strstr(log, "conn 2 "))
        fail_msg("one connection, a handshake and four answers expected (begin's the largest):\n%s",
                 log);
    free(log);
    tcp_proxy_stop(&px);
    dev_off(&d);
    assert_done(&net_b, &d, rows, used, 1);
}

/* Cut halfway through begin's frames: the station has posted some of them, names the request
 * and exits 9; the bridge records the failure in phase write (the station reports it on a new
 * connection, or the short session expires: either way a failure is recorded and the lease
 * ends). The chip is unlocked; the rerun resumes the row: attempts 2, counted once. */
static void test_net_cut_in_begin_frames(void **state)
{
    (void)state;
    net_up();
    if (!begin_burst)
        fail_msg("test_net_bursts did not measure begin's answer");
    struct dev d;
    struct bh_run r;
    unsigned rows = bh_ledger_rows(&net_b);
    uint32_t used = bh_ledger_used(&net_b);
    cut_run(&d, "cut-begin", 3, begin_burst / 2, &r);
    if (r.status != PV_EXIT_SESSION && r.status != PV_EXIT_BRIDGE)
        fail_msg("provision exited %d after a cut in begin's frames:\n%s%s", r.status, r.out,
                 r.err);
    EXPECT_EXIT(&r, r.status, "bridge unreachable", "POST https://127.0.0.1:", "/v1/sessions:");
    expect_phase(&r, "reserve");
    assert_int_equal(bh_state_rdp(d.sim.state), RDP_LEVEL0);
    pv_ledger_row row = wait_failure(
        &net_b, &d, 1, r.status == PV_EXIT_SESSION ? "write" : "session", (net_ttl_s + 3) * 1000);
    assert_no_lock_without_record(&net_b, &d);
    assert_int_equal(row.state, PV_LEDGER_KEYED);
    assert_string_equal(row.lease_session, "");
    assert_int_equal(bh_ledger_used(&net_b), used + 1);
    rerun_locks(&d, rows, used, 2);
}

/* Cut as begin's answer starts (the bridge has reserved, keyed and sealed the frames; none
 * reaches the station). libcurl sends the request again on a new connection, and the bridge
 * begins a second session on the same message 1, taking the first one's lease over: the run
 * goes on to the lock (attempts 2 for one run). Whichever way it ends, the device is locked
 * once, in one row, counted once; a failed run is rerun. */
static void test_net_cut_before_begin_answer(void **state)
{
    (void)state;
    net_up();
    struct dev d;
    struct bh_run r;
    unsigned rows = bh_ledger_rows(&net_b);
    uint32_t used = bh_ledger_used(&net_b);
    cut_run(&d, "cut-begin0", 3, 0, &r);
    assert_no_lock_without_record(&net_b, &d);
    pv_ledger_row row = row_of(&net_b, &d);
    assert_int_equal(bh_ledger_used(&net_b), used + 1);
    if (r.status == PV_EXIT_OK) {
        assert_done(&net_b, &d, rows, used, row.attempts);
        assert_true(row.attempts == 1 || row.attempts == 2);
        return;
    }
    expect_phase(&r, "reserve");
    assert_int_equal(bh_state_rdp(d.sim.state), RDP_LEVEL0);
    wait_failure(&net_b, &d, 1, "", (net_ttl_s + 3) * 1000);
    rerun_locks(&d, rows, used, row.attempts + 1);
}

/* Cut as verified's answer (the final frame) starts. libcurl sends the request again on a new
 * connection when the one it reused dies before an answer, and the bridge answers a resent
 * verified with the same final frame: the run completes with one attempt. Without the resend
 * the station sees the cut (exit 11), the session expires within its short ttl with the failure
 * recorded, the chip stays unlocked, and the rerun redoes it: attempts 2. */
static void test_net_cut_before_verified_answer(void **state)
{
    (void)state;
    net_up();
    struct dev d;
    struct bh_run r;
    unsigned rows = bh_ledger_rows(&net_b);
    uint32_t used = bh_ledger_used(&net_b);
    cut_run(&d, "cut-verified", 4, 0, &r);
    if (r.status == PV_EXIT_OK) {
        assert_no_lock_without_record(&net_b, &d);
        assert_done(&net_b, &d, rows, used, 1);
        return;
    }
    if (r.status != PV_EXIT_BRIDGE)
        fail_msg("provision exited %d after a cut before verified's answer:\n%s%s", r.status, r.out,
                 r.err);
    expect_phase(&r, "verify");
    assert_int_equal(bh_state_rdp(d.sim.state), RDP_LEVEL0);
    pv_ledger_row row = wait_failure(&net_b, &d, 1, "session expired", (net_ttl_s + 3) * 1000);
    assert_int_equal(row.state, PV_LEDGER_VERIFIED);
    assert_string_equal(row.lease_session, "");
    assert_int_equal(bh_ledger_used(&net_b), used + 1);
    rerun_locks(&d, rows, used, 2);
}

/* Cut as lock's answer starts: the bridge got the lock and recorded it. libcurl's resend of the
 * lock gets the recorded outcome again (exit 0); without a resend the station reports a locked
 * chip it could not confirm (exit 10). Either way the row is locked at Level 2 with one attempt,
 * the chip at Level 2; a rerun meets the dead port and writes nothing. */
static void test_net_cut_before_lock_answer(void **state)
{
    (void)state;
    net_up();
    struct dev d;
    struct bh_run r;
    unsigned rows = bh_ledger_rows(&net_b);
    uint32_t used = bh_ledger_used(&net_b);
    cut_run(&d, "cut-lock", 5, 0, &r);
    if (r.status != PV_EXIT_OK) {
        EXPECT_EXIT(&r, PV_EXIT_LEDGER, "IS locked");
        expect_phase(&r, "lock");
    }
    assert_no_lock_without_record(&net_b, &d);
    assert_done(&net_b, &d, rows, used, 1);

    dev_on(&d);
    station_run(&net_b, &line2, 0, &d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_LOCKED, "debug port is dead", "nothing written");
    dev_off(&d);
    assert_done(&net_b, &d, rows, used, 1);
}

/* ---- 4. PostgreSQL restarted ---- */

static pg_server pgs;
static struct bh_bridge pg_b;
static struct bh_station line3;

/* A device through the PostgreSQL bridge, straight: locked, counted. */
static void pg_device(struct dev *d, const char *name)
{
    struct bh_run r;
    unsigned rows = bh_ledger_rows(&pg_b);
    uint32_t used = bh_ledger_used(&pg_b);
    dev_new(d, name);
    station_run(&pg_b, &line3, 0, d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_OK, "");
    dev_off(d);
    assert_done(&pg_b, d, rows, used, 1);
}

static void assert_still_locked(const struct dev *d)
{
    pv_ledger_row row = row_of(&pg_b, d);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    assert_int_equal(row.rdp_level, 2);
    assert_int_equal(row.attempts, 1);
}

/* A device locked, then a second one whose station stops after begin while PostgreSQL restarts
 * (fast shutdown: the bridge's connection is cut): the bridge's next ledger call reconnects and
 * the session completes (exit 0, one attempt). Or, if it fails, it fails cleanly and the rerun
 * locks it. Both rows are there, counted once each. */
static void test_pg_restart_mid_run(void **state)
{
    (void)state;
    struct dev a, d;
    struct bh_run r;
    pg_device(&a, "pg-before");
    unsigned rows = bh_ledger_rows(&pg_b);
    uint32_t used = bh_ledger_used(&pg_b);
    dev_new(&d, "pg-restart");
    run_to_stop(&pg_b, &line3, 0, &d, "stop-after-begin", &r);
    if (pg_server_stop(&pgs) != 0 || pg_server_restart(&pgs) != 0)
        fail_msg("PostgreSQL restart: %s", pgs.why);
    int st = run_continue(&r);
    dev_off(&d);
    assert_no_lock_without_record(&pg_b, &d);
    unsigned attempts = 1;
    if (st != 0) {
        /* failed cleanly: named, the chip unlocked, the rerun resumes */
        if (st != PV_EXIT_LEDGER && st != PV_EXIT_SESSION)
            fail_msg("after a PostgreSQL restart provision exited %d:\n%s%s", st, r.out, r.err);
        assert_int_equal(bh_state_rdp(d.sim.state), RDP_LEVEL0);
        dev_on(&d);
        station_run(&pg_b, &line3, 0, &d, NULL, &r);
        EXPECT_EXIT(&r, PV_EXIT_OK, "");
        dev_off(&d);
        attempts = 2;
    }
    assert_done(&pg_b, &d, rows, used, attempts);
    assert_still_locked(&a);
}

/* PostgreSQL down while the station asks verified: the bridge cannot record it (500, the ledger
 * named; the station exits 10 in phase verify, the chip unlocked: no final frame without a
 * verified record). PostgreSQL back, the rerun resumes the row (the station's own lease) and
 * locks it; every row locked before is still there. */
static void test_pg_down_during_verified(void **state)
{
    (void)state;
    struct dev a, d;
    struct bh_run r;
    pg_device(&a, "pg-before-2");
    unsigned rows = bh_ledger_rows(&pg_b);
    uint32_t used = bh_ledger_used(&pg_b);
    dev_new(&d, "pg-down");
    run_to_stop(&pg_b, &line3, 0, &d, "stop-after-begin", &r);
    if (pg_server_stop(&pgs) != 0)
        fail_msg("PostgreSQL stop: %s", pgs.why);
    run_continue(&r);
    int pg_up = pg_server_restart(&pgs);
    EXPECT_EXIT(&r, PV_EXIT_LEDGER, "500 internal", "ledger");
    expect_phase(&r, "verify");
    if (pg_up != 0)
        fail_msg("PostgreSQL start: %s", pgs.why);
    assert_int_equal(dev_off(&d), RDP_LEVEL0);
    pv_ledger_row row = assert_no_lock_without_record(&pg_b, &d);
    assert_int_equal(row.state, PV_LEDGER_KEYED);
    assert_int_equal(bh_ledger_used(&pg_b), used + 1);

    dev_on(&d);
    station_run(&pg_b, &line3, 0, &d, NULL, &r);
    EXPECT_EXIT(&r, PV_EXIT_OK, "");
    dev_off(&d);
    assert_done(&pg_b, &d, rows, used, 2);
    assert_still_locked(&a);
}

static int pg_setup(void **state)
{
    (void)state;
    memset(&pgs, 0, sizeof pgs);
    if (pg_server_start(&pgs) != 0) {
        fprintf(stderr, "cannot start PostgreSQL: %s\n", pgs.why);
        return -1;
    }
    char url[512];
    pg_server_url(&pgs, "postgres", NULL, url, sizeof url);
    if (!bh_bridge_init(&env, &pg_b, "pg", url, 0) ||
        !bh_station_enroll(&pg_b, &line3, "line-3", BH_RIGHTS) || !bh_bridge_start(&pg_b))
        return -1;
    return 0;
}

static int pg_teardown(void **state)
{
    (void)state;
    if (pg_b.pid > 0)
        bh_bridge_stop(&pg_b, SIGTERM);
    pg_server_destroy(&pgs);
    return 0;
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "test_bridge_faults"))
        return -1;
    snprintf(audit_pem, sizeof audit_pem, "%s/audit.pem", env.dir);
    if (BH_CMD(&env, env.prov, "keys", "export", "--recipe", env.recipe, "--pin-file", env.pin,
               "--key", "audit", "-o", audit_pem) != 0) {
        fprintf(stderr, "keys export: %s\n", env.out);
        return -1;
    }
    if (!bh_bridge_init(&env, &main_b, "main", NULL, 0) ||
        !bh_station_enroll(&main_b, &line1, "line-1", BH_RIGHTS) || !bh_bridge_start(&main_b))
        return -1;
    if (!tcp_proxy_start(&main_px, env.dir, "px-main", url_port(main_b.url), 0, 0))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tcp_proxy_stop(&main_px);
    if (main_b.pid > 0)
        bh_bridge_stop(&main_b, SIGTERM);
    if (net_b.pid > 0)
        bh_bridge_stop(&net_b, SIGTERM);
    return 0;
}

int main(void)
{
    if (!sp_install(175))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bridge_killed_after_plan),
        cmocka_unit_test(test_bridge_killed_after_begin),
        cmocka_unit_test(test_bridge_killed_after_verified),
        cmocka_unit_test(test_bridge_killed_before_lock),
        cmocka_unit_test(test_station_killed_after_begin),
        cmocka_unit_test(test_station_killed_after_verified),
        cmocka_unit_test(test_net_bursts),
        cmocka_unit_test(test_net_cut_in_begin_frames),
        cmocka_unit_test(test_net_cut_before_begin_answer),
        cmocka_unit_test(test_net_cut_before_verified_answer),
        cmocka_unit_test(test_net_cut_before_lock_answer),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_pg_restart_mid_run),
        cmocka_unit_test(test_pg_down_during_verified),
    };
    uint64_t t0 = sp_now_ms();
    int rc = cmocka_run_group_tests_name("bridge faults", tests, setup, teardown);
    if (env.dir[0])
        rc |= cmocka_run_group_tests_name("PostgreSQL ledger", pg_tests, pg_setup, pg_teardown);
    fprintf(stderr, "test_bridge_faults: %.1f s\n", (double)(sp_now_ms() - t0) / 1000.0);
    if (rc == 0)
        bh_env_free(&env);
    return rc;
}
