/* The bridge end to end, as attacks (tests/unit/bridge_harness.h): `hsm-bridge serve` with its
 * own SoftHSM2 token, stations enrolled by its CA and run as separate processes with no token,
 * virtual STM32F427s on their GDB ports.
 *
 *  - a device through the bridge on SQLite and on PostgreSQL: locked, one row under the
 *    certificate's station name, four bridge requests;
 *  - a relay that rewrites the debugger's read of the UID: uid_mismatch, nothing reserved;
 *  - two stations racing for one chip: the second is refused while the first holds the lease,
 *    and succeeds after the first's session outlived its ttl;
 *  - a lock that never happens (the chip ignores OPTSTRT): lock_not_confirmed, the row stays at
 *    verified with a failure in phase lock; a rerun locks it, counted once;
 *  - replayed steps and steps after the session's ttl (an in-process station: relay, probe,
 *    bridge client): the same verify reply gets the same sealed final frame and nothing more,
 *    another one or message 1 again is refused (step_out_of_order), a session past its ttl
 *    answers session_expired on every step;
 *  - the station's memory (a core) and its whole GDB link hold no run of the bootloader or the
 *    application in clear and not the device's PSK; the same scan finds the bootloader in the
 *    core of a local-mode run. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include "../../hsm-bridge/keystore.h"
#include "../../provisioner/bridge_client.h"
#include "../../provisioner/commands.h"
#include "../../provisioner/relay.h"
#include "host/stub_image.h"
#include "image/layout.h"
#include "image/rollback.h"
#include "noise/noise_provider.h"

#include <openssl/rand.h>
#include <sys/mman.h>

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); see provisioner/main.c. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define APP_ADDR_OFF 0x10000u /* the application's offset in flash (demo layout) */
/* The least session_ttl_s of the bridge the stations race on: station B must be refused within
 * it (about 1 s from A's begin to B's on a quiet machine). race_up() sizes it to this machine's
 * pace (bh_expiry_ttl_s). */
#define RACE_TTL_MIN_S 3
static unsigned race_ttl_s;

static struct bh_env env;
static struct bh_bridge main_b;                  /* SQLite ledger, default ttl */
static struct bh_station line1;                  /* enrolled on main_b for the demo batch */
static struct bh_bridge race_b;                  /* SQLite, session_ttl_s race_ttl_s */
static struct bh_station line_a, line_b, line_c; /* enrolled on race_b */
static struct bh_run run;
static int seed = 7100; /* every new chip its own UID */
static uint8_t *boot_img, *app_img;
static size_t boot_len, app_len;

/* ---- helpers ---- */

static void expect_run(const struct bh_run *r, int status, const char *needle)
{
    if (r->status != status || (needle && !strstr(r->err, needle)))
        fail_msg("provision exited %d (want %d, stderr with \"%s\"):\n%s%s", r->status, status,
                 needle ? needle : "", r->out, r->err);
}

static void uid_of(const struct bh_sim *s, uint8_t uid[12], char hex[25])
{
    assert_true(bh_sim_uid(s, uid));
    bh_hex(hex, uid, 12);
}

static bool log_has(const struct bh_bridge *b, const char *a, const char *c)
{
    char *log = bh_bridge_log(b);
    bool ok = false;
    for (char *line = strtok(log, "\n"); line && !ok; line = strtok(NULL, "\n"))
        ok = strstr(line, a) && (!c || strstr(line, c));
    free(log);
    return ok;
}

/* The powered-off chip holds the bootloader and the application, at RDP Level 2. */
static void assert_chip_locked(const struct bh_sim *s)
{
    uint32_t optcr = 0;
    uint8_t *flash = NULL;
    assert_true(bh_state_read(s->state, &optcr, &flash));
    assert_int_equal(optcr >> 8 & 0xFF, 0xCC);
    assert_memory_equal(flash, boot_img, boot_len);
    assert_memory_equal(flash + APP_ADDR_OFF, app_img, app_len);
    free(flash);
}

/* One device through bridge b for station st on a new chip: locked, one new row under the
 * certificate's name, four requests. */
static void one_device(struct bh_bridge *b, const struct bh_station *st, const char *name)
{
    struct bh_sim s;
    uint8_t uid[12];
    char hex[25], target[64];
    assert_true(bh_sim_start(&env, &s, name, seed++, NULL));
    uid_of(&s, uid, hex);
    uint32_t used = bh_ledger_used(b);
    unsigned rows = bh_ledger_rows(b);
    bh_sim_target(&s, target, sizeof target);
    bh_station_run(b, st, target, NULL, NULL, &run);
    expect_run(&run, 0, "bridge requests: 4\n");
    assert_non_null(strstr(run.err, "debug port dead"));
    assert_int_equal(bh_sim_stop(&s), 0);
    assert_chip_locked(&s);
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(b, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    assert_int_equal(row.rdp_level, 2);
    assert_string_equal(row.station, st->name); /* the certificate's, not the CSR's CN */
    assert_int_equal(row.attempts, 1);
    assert_int_equal(row.failures, 0);
    assert_string_equal(row.lease_station, "");
    assert_int_equal(bh_ledger_used(b), used + 1);
    assert_int_equal(bh_ledger_rows(b), rows + 1);
    char who[96], lock[96];
    snprintf(who, sizeof who, "station=%s session=", st->name);
    snprintf(lock, sizeof lock, "lock observed_rdp=2 uid=%s rdp=2", hex);
    assert_true(log_has(b, who, lock));
    snprintf(lock, sizeof lock, "begin uid=%s", hex);
    assert_true(log_has(b, who, lock));
}

/* ---- 1, 2: a device through the bridge ---- */

static void test_gdb_sqlite(void **state)
{
    (void)state;
    one_device(&main_b, &line1, "e2e-sqlite");
}

static void test_gdb_postgresql(void **state)
{
    (void)state;
    pg_server pgs;
    memset(&pgs, 0, sizeof pgs);
    if (pg_server_start(&pgs) != 0) {
        pg_server_destroy(&pgs);
        fail_msg("cannot start PostgreSQL: %s", pgs.why);
    }
    char url[512];
    pg_server_url(&pgs, "postgres", NULL, url, sizeof url);
    struct bh_bridge b;
    struct bh_station st;
    assert_true(bh_bridge_init(&env, &b, "pg", url, 0));
    assert_true(bh_station_enroll(&b, &st, "line-pg", BH_RIGHTS));
    assert_true(bh_bridge_start(&b));
    assert_true(log_has(&b, "listening on https://", "ledger postgresql"));
    one_device(&b, &st, "e2e-pg");
    assert_int_equal(bh_bridge_stop(&b, SIGTERM), 0);
    pg_server_destroy(&pgs);
}

/* ---- 3: a relay that rewrites the debugger's read of the UID ---- */

/* The station reads another chip's UID through a proxy on its GDB link; the stub reports the
 * real one inside its authenticated message 1. The bridge refuses before reserving anything:
 * no row for either UID, the quota as it was, the chip's flash untouched. */
static void test_uid_rewritten(void **state)
{
    (void)state;
    struct bh_sim s, other;
    uint8_t uid[12], fake[12];
    char hex[25], fhex[25], target[64];
    assert_true(bh_sim_start(&env, &other, "uid-other", seed++, NULL));
    uid_of(&other, fake, fhex);
    assert_int_equal(bh_sim_stop(&other), 0);
    assert_true(bh_sim_start(&env, &s, "uid-real", seed++, NULL));
    uid_of(&s, uid, hex);
    struct bh_proxy px;
    assert_true(bh_proxy_start(&px, s.gdb, uid, fake, NULL));
    uint32_t used = bh_ledger_used(&main_b);
    unsigned rows = bh_ledger_rows(&main_b);
    snprintf(target, sizeof target, "gdb:127.0.0.1:%d", px.port);
    bh_station_run(&main_b, &line1, target, NULL, NULL, &run);
    bh_proxy_stop(&px);
    expect_run(&run, PV_EXIT_SESSION, "409 uid_mismatch");
    assert_non_null(strstr(run.err, fhex)); /* the station saw the rewritten UID */
    assert_non_null(strstr(run.err, hex));  /* the bridge names the stub's */
    assert_int_equal(bh_sim_stop(&s), 0);
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(&main_b, uid, &row), PV_LEDGER_E_UNKNOWN);
    assert_int_equal(bh_ledger_get(&main_b, fake, &row), PV_LEDGER_E_UNKNOWN);
    assert_int_equal(bh_ledger_used(&main_b), used);
    assert_int_equal(bh_ledger_rows(&main_b), rows);
    uint32_t optcr = 0;
    uint8_t *flash = NULL;
    assert_true(bh_state_read(s.state, &optcr, &flash));
    assert_int_equal(optcr >> 8 & 0xFF, 0xAA);
    assert_true(bh_erased(flash, 0));
    free(flash);
    char begin[64];
    snprintf(begin, sizeof begin, "begin uid=%s", fhex);
    assert_true(log_has(&main_b, begin, "-> 409 uid_mismatch"));
}

/* The race bridge, started by the first test that needs it, once the runs before it have shown
 * this machine's pace: its ttl is sized from them. */
static void race_up(void)
{
    if (race_b.pid > 0)
        return;
    race_ttl_s = bh_expiry_ttl_s(RACE_TTL_MIN_S);
    if (!bh_bridge_init(&env, &race_b, "race", NULL, race_ttl_s) ||
        !bh_station_enroll(&race_b, &line_a, "line-a", BH_RIGHTS) ||
        !bh_station_enroll(&race_b, &line_b, "line-b", BH_RIGHTS) ||
        !bh_station_enroll(&race_b, &line_c, "line-c", BH_RIGHTS) || !bh_bridge_start(&race_b))
        fail_msg("the race bridge (session_ttl_s %u) did not start", race_ttl_s);
}

/* ---- 4: two stations, one chip ---- */

/* Station A begins and hangs (SIGSTOP after begin) holding the chip's lease. Station B on the
 * same chip (powered up again) is refused with 409 leased and writes nothing; after A's session
 * outlived its ttl, B provisions the chip: one locked row under B, two attempts, counted once. */
static void test_two_stations_one_chip(void **state)
{
    (void)state;
    static struct bh_run run_a;
    race_up();
    struct bh_sim s;
    uint8_t uid[12];
    char hex[25], target[64];
    assert_true(bh_sim_start(&env, &s, "race", seed++, NULL));
    uid_of(&s, uid, hex);
    uint32_t used = bh_ledger_used(&race_b);
    bh_sim_target(&s, target, sizeof target);
    assert_int_equal(
        bh_station_run(&race_b, &line_a, target, env.hooks, "stop-after-begin", &run_a), -1);
    uint64_t begun = sp_now_ms();
    if (!run_a.stopped)
        fail_msg("station A did not stop after begin:\n%s", run_a.err);
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(&race_b, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_KEYED);
    assert_string_equal(row.station, "line-a");
    assert_string_equal(row.lease_station, "line-a");

    /* B, while A's lease holds */
    assert_int_equal(bh_sim_stop(&s), 0);
    uint32_t optcr = 0;
    uint8_t *before = NULL, *after = NULL;
    assert_true(bh_state_read(s.state, &optcr, &before));
    assert_true(bh_sim_restart(&env, &s, NULL));
    bh_sim_target(&s, target, sizeof target);
    bh_station_run(&race_b, &line_b, target, NULL, NULL, &run);
    uint64_t took = sp_now_ms() - begun;
    if (took >= race_ttl_s * 1000u)
        fail_msg("station B answered %llu ms after A's begin, not within the ttl (%u s)",
                 (unsigned long long)took, race_ttl_s);
    expect_run(&run, PV_EXIT_LEDGER, "409 leased");
    assert_int_equal(bh_sim_stop(&s), 0);
    assert_true(bh_state_read(s.state, &optcr, &after));
    /* B wrote nothing. The chip itself may have: A's frames had installed the bootloader, the
     * application and the key slot, so the powered-up bootloader can boot the application and
     * raise the rollback floor (one record in the counter sector) before B's debugger halts it. */
    const uint32_t coff = PV_LAYOUT_DEFAULT_COUNTER_ADDR - PV_LAYOUT_DEFAULT_BOOT_ADDR;
    const uint32_t csz = PV_LAYOUT_DEFAULT_COUNTER_SIZE;
    assert_memory_equal(before, after, coff);
    assert_memory_equal(before + coff + PV_ROLLBACK_RECORD_LEN,
                        after + coff + PV_ROLLBACK_RECORD_LEN,
                        BH_FLASH - coff - PV_ROLLBACK_RECORD_LEN);
    uint32_t floor_before, floor_after, next;
    pv_rollback_scan(before + coff, csz, &floor_before, &next);
    pv_rollback_scan(after + coff, csz, &floor_after, &next);
    if (floor_after != floor_before && floor_after != 0x01000000u) /* the application's 1.0.0 */
        fail_msg("counter floor %08x after B's refused run (before: %08x)", floor_after,
                 floor_before);
    assert_int_equal(optcr >> 8 & 0xFF, 0xAA);
    free(before);
    free(after);
    pv_ledger_row same;
    assert_int_equal(bh_ledger_get(&race_b, uid, &same), PV_LEDGER_OK);
    assert_int_equal(same.state, PV_LEDGER_KEYED);
    assert_string_equal(same.station, "line-a");
    assert_int_equal(same.attempts, 1);
    assert_int_equal(same.failures, 0);
    assert_true(log_has(&race_b, "station=line-b", "-> 409 leased"));

    /* after A's ttl: B again, to the end */
    while (sp_now_ms() < begun + race_ttl_s * 1000u + 1200u)
        usleep(50000);
    assert_true(bh_sim_restart(&env, &s, NULL));
    bh_sim_target(&s, target, sizeof target);
    bh_station_run(&race_b, &line_b, target, NULL, NULL, &run);
    expect_run(&run, 0, "bridge requests: 4\n");
    assert_int_equal(bh_run_kill(&run_a), 128 + SIGKILL);
    assert_int_equal(bh_sim_stop(&s), 0);
    assert_chip_locked(&s);
    assert_int_equal(bh_ledger_get(&race_b, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    assert_string_equal(row.station, "line-b");
    assert_int_equal(row.attempts, 2);
    assert_int_equal(row.failures, 1); /* A's session, expired */
    assert_non_null(strstr(row.last_failure, "expired"));
    assert_int_equal(bh_ledger_used(&race_b), used + 1);
}

/* ---- 5: a lock that never happens ---- */

/* The chip ignores OPTSTRT (sim --fault ignore-optstrt): the stub says it wrote the option
 * bytes, but after the reset the debug port still answers. The station reports Level 0, the
 * bridge refuses to record a lock (409 lock_not_confirmed): the row stays at verified with a
 * failure in phase lock. A rerun on a sound chip locks it, counted once. */
static void test_lock_not_happening(void **state)
{
    (void)state;
    struct bh_sim s;
    uint8_t uid[12];
    char hex[25], target[64];
    char *fault[] = {"--fault", "ignore-optstrt", NULL};
    assert_true(bh_sim_start(&env, &s, "fake-lock", seed++, fault));
    uid_of(&s, uid, hex);
    uint32_t used = bh_ledger_used(&main_b);
    bh_sim_target(&s, target, sizeof target);
    bh_station_run(&main_b, &line1, target, NULL, NULL, &run);
    expect_run(&run, PV_EXIT_SESSION, "409 lock_not_confirmed");
    assert_int_equal(bh_sim_stop(&s), 0);
    uint32_t optcr = 0;
    uint8_t *flash = NULL;
    assert_true(bh_state_read(s.state, &optcr, &flash));
    assert_int_equal(optcr >> 8 & 0xFF, 0xAA); /* not locked */
    assert_memory_equal(flash, boot_img, boot_len);
    free(flash);
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(&main_b, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_VERIFIED);
    assert_int_equal(row.rdp_level, 0);
    assert_int_equal(row.failures, 1);
    if (strncmp(row.last_failure, "lock: ", 6) != 0 || !strstr(row.last_failure, "RDP Level 0"))
        fail_msg("last failure: %s", row.last_failure);
    assert_string_equal(row.lease_station, "");
    assert_int_equal(bh_ledger_used(&main_b), used + 1);
    assert_true(log_has(&main_b, "lock observed_rdp=0", "-> 409 lock_not_confirmed"));

    /* the rerun on a chip that does lock */
    assert_true(bh_sim_restart(&env, &s, NULL));
    bh_sim_target(&s, target, sizeof target);
    bh_station_run(&main_b, &line1, target, NULL, NULL, &run);
    expect_run(&run, 0, "bridge requests: 4\n");
    assert_int_equal(bh_sim_stop(&s), 0);
    assert_chip_locked(&s);
    assert_int_equal(bh_ledger_get(&main_b, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
    assert_int_equal(row.rdp_level, 2);
    assert_int_equal(row.attempts, 2);
    assert_int_equal(bh_ledger_used(&main_b), used + 1);
}

/* ---- 6: a replayed step, a step too late (an in-process station) ---- */

struct inproc {
    pv_bridge_client *c;
    struct pv_bridge_plan plan;
    pv_probe_link link;
    struct pv_stub_image img;
    struct pv_relay relay;
    char session[PV_BRIDGE_SESSION_ID_LEN];
    uint8_t msg1[128];
    size_t msg1_len;
    struct pv_bridge_identity id;
    uint32_t flags;
    uint8_t reply[PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    size_t reply_len;
    unsigned kept;       /* frames of verified, kept back from the chip */
    uint8_t final[1024]; /* the first of them */
    size_t final_len;
    bool same; /* every later one equals the first */
};

static int post_frame(void *ctx, const uint8_t *frame, size_t len)
{
    struct inproc *ip = ctx;
    if (len < PV_TRAILER_LEN)
        return -1;
    return pv_relay_post(&ip->relay, pv_ld32(frame + len - PV_TRAILER_LEN + PV_TRAILER_SEQ), frame,
                         len);
}

static int keep_frame(void *ctx, const uint8_t *frame, size_t len)
{
    struct inproc *ip = ctx;
    if (!ip->kept++) {
        if (len > sizeof ip->final)
            return -1;
        memcpy(ip->final, frame, len);
        ip->final_len = len;
        ip->same = true;
    } else {
        ip->same = ip->same && len == ip->final_len && memcmp(frame, ip->final, len) == 0;
    }
    return 0;
}

static int drop_frame(void *ctx, const uint8_t *frame, size_t len)
{
    (void)frame;
    (void)len;
    (*(unsigned *)ctx)++;
    return 0;
}

/* The station's steps up to the verify reply, driven from here: plan, stub, begin, frames
 * posted, the stub's reply to the verify frame read. */
static void inproc_begin(struct inproc *ip, const struct bh_sim *s, const struct bh_station *st)
{
    memset(ip, 0, sizeof *ip);
    char err[512], t[64];
    struct pv_bridge_client_config cc = {
        .url = race_b.url, .cert = st->crt, .key = st->key, .ca = st->ca, .timeout_s = 20};
    ip->c = pv_bridge_client_new(&cc, err, sizeof err);
    if (!ip->c)
        fail_msg("client: %s", err);
    struct pv_bridge_err e = {0};
    if (pv_bridge_client_plan(ip->c, BH_PRODUCT, BH_BATCH, &ip->plan, &e))
        fail_msg("plan: %d %s: %s", e.status, e.error, e.reason);
    snprintf(t, sizeof t, "127.0.0.1:%d", s->gdb);
    if (pv_probe_connect(&ip->link, &pv_probe_gdb_ops, t, 10000, err, sizeof err))
        fail_msg("probe: %s", err);
    struct pv_probe_ident id;
    assert_int_equal(ip->link.ops->halt(ip->link.p), 0);
    assert_int_equal(pv_probe_identify(&ip->link, &id), 0);
    assert_int_equal(pv_stub_image_parse(&ip->img, ip->plan.stub, ip->plan.stub_len,
                                         ip->plan.stub_sram_base, err, sizeof err),
                     0);
    uint8_t entropy[32];
    assert_int_equal(RAND_bytes(entropy, sizeof entropy), 1);
    ip->flags = PV_MBOX_F_CLOCK_168 | (ip->link.ops->mem_while_running ? PV_MBOX_F_SPIN : 0);
    if (pv_relay_start(&ip->relay, &ip->link, &ip->img, ip->plan.bridge_pub, entropy, ip->flags,
                       ip->msg1, sizeof ip->msg1, &ip->msg1_len))
        fail_msg("relay: %s", ip->relay.err);
    ip->id = (struct pv_bridge_identity){
        .dev_id = id.dbgmcu_idcode & 0xFFFu, .flash_kb = id.flash_kb, .rdp = id.rdp};
    memcpy(ip->id.uid, id.uid, 12);
    if (pv_bridge_client_begin(ip->c, BH_PRODUCT, BH_BATCH, &ip->id, ip->flags, ip->msg1,
                               ip->msg1_len, post_frame, ip, ip->session, &e))
        fail_msg("begin: %d %s: %s", e.status, e.error, e.reason);
    struct pv_stub_status sst;
    if (pv_relay_sync(&ip->relay, &sst, ip->reply, sizeof ip->reply, PV_REPLY_HDR + PV_NOISE_TAGLEN,
                      &ip->reply_len) ||
        !ip->reply_len)
        fail_msg("no verify reply: %s", ip->relay.err);
}

static void inproc_end(struct inproc *ip)
{
    pv_probe_disconnect(&ip->link);
    pv_bridge_client_plan_free(&ip->plan);
    pv_bridge_client_free(ip->c);
}

/* Replays from a station that holds a real session: the same verify reply again, another verify
 * reply, message 1 again once past begin; then a session used after its ttl. */
static void test_replay_and_expiry(void **state)
{
    (void)state;
    race_up();
    struct bh_sim s;
    uint8_t uid[12];
    char hex[25];
    assert_true(bh_sim_start(&env, &s, "replay", seed++, NULL));
    uid_of(&s, uid, hex);
    struct inproc ip;
    struct pv_bridge_err e;

    /* verified, then the same request again (docs/bridge-protocol.md, "Resent requests"): it
     * yields nothing new - the same sealed final frame, byte for byte, and no second record */
    inproc_begin(&ip, &s, &line_c);
    memset(&e, 0, sizeof e);
    if (pv_bridge_client_verified(ip.c, ip.session, ip.reply, ip.reply_len, keep_frame, &ip, &e))
        fail_msg("verified: %d %s: %s", e.status, e.error, e.reason);
    assert_int_equal(ip.kept, 1); /* the final frame (kept back: the chip is not locked) */
    memset(&e, 0, sizeof e);
    if (pv_bridge_client_verified(ip.c, ip.session, ip.reply, ip.reply_len, keep_frame, &ip, &e))
        fail_msg("verified again: %d %s: %s", e.status, e.error, e.reason);
    assert_int_equal(ip.kept, 2);
    assert_true(ip.same);
    /* another verify reply for the same session (one bit changed): refused, no frame */
    unsigned other = 0;
    ip.reply[ip.reply_len - 1] ^= 1;
    memset(&e, 0, sizeof e);
    assert_int_equal(
        pv_bridge_client_verified(ip.c, ip.session, ip.reply, ip.reply_len, drop_frame, &other, &e),
        -1);
    ip.reply[ip.reply_len - 1] ^= 1;
    assert_int_equal(e.status, 409);
    assert_string_equal(e.error, "step_out_of_order");
    assert_int_equal(other, 0);
    /* message 1 replayed once the session is past begin: refused, no frame */
    memset(&e, 0, sizeof e);
    char again[PV_BRIDGE_SESSION_ID_LEN];
    int brc = pv_bridge_client_begin(ip.c, BH_PRODUCT, BH_BATCH, &ip.id, ip.flags, ip.msg1,
                                     ip.msg1_len, drop_frame, &other, again, &e);
    if (brc == 0)
        fail_msg("a replayed message 1 began session %s (%u frames)", again, other);
    assert_int_equal(e.status, 409);
    assert_string_equal(e.error, "step_out_of_order");
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(&race_b, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_VERIFIED);
    assert_int_equal(row.attempts, 1);
    assert_int_equal(row.failures, 0);
    assert_int_equal(pv_bridge_client_fail(ip.c, ip.session, "test", "replay refused", &e), 0);
    inproc_end(&ip);
    assert_true(log_has(&race_b, "station=line-c", "verified -> 409 step_out_of_order"));

    /* a session used after its ttl: 410, on every step */
    inproc_begin(&ip, &s, &line_c);
    usleep((race_ttl_s * 1000u + 1200u) * 1000u);
    memset(&e, 0, sizeof e);
    assert_int_equal(
        pv_bridge_client_verified(ip.c, ip.session, ip.reply, ip.reply_len, keep_frame, &ip, &e),
        -1);
    assert_int_equal(e.status, 410);
    assert_string_equal(e.error, "session_expired");
    assert_int_equal(ip.kept, 0);
    struct pv_bridge_observed obs = {.rdp_level = 2, .method = "test: a lie"};
    struct pv_bridge_outcome out;
    memset(&e, 0, sizeof e);
    assert_int_equal(
        pv_bridge_client_lock(ip.c, ip.session, ip.reply, ip.reply_len, &obs, &out, &e), -1);
    assert_int_equal(e.status, 410);
    assert_string_equal(e.error, "session_expired");
    inproc_end(&ip);
    assert_int_equal(bh_ledger_get(&race_b, uid, &row), PV_LEDGER_OK);
    assert_int_not_equal(row.state, PV_LEDGER_LOCKED);
    assert_int_equal(row.attempts, 2);
    assert_int_equal(row.failures, 2); /* the test's fail, then the expiry */
    assert_non_null(strstr(row.last_failure, "expired"));
    assert_string_equal(row.lease_station, "");
    assert_int_equal(bh_sim_stop(&s), 0);
    assert_int_equal(bh_state_rdp(s.state), 0xAA);
}

/* ---- 7: what the station holds: its memory, its wire ---- */

static uint8_t *map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return NULL;
    *len = (size_t)st.st_size;
    return p;
}

/* The memory of the stopped run as a core holds it (bh_memory_snapshot), then the run killed.
 * core gets the snapshot's path; *pub (malloc'd, *pub_len bytes) what is public: stub.bin, the
 * flash layout of the plan (the bootloader embeds it as a table) and the process's read-only
 * file mappings (its program and libraries: their strings and constants). */
static void core_of(struct bh_run *r, const char *name, char *core, size_t cap, uint8_t **pub,
                    size_t *pub_len)
{
    char pub_path[220];
    snprintf(core, cap, "%s/%s.%d", env.dir, name, (int)r->pid);
    snprintf(pub_path, sizeof pub_path, "%s.public", core);
    long n = bh_memory_snapshot(r->pid, core, pub_path);
    bh_run_kill(r);
    if (n < 1000000)
        fail_msg("memory of %d: %ld bytes", (int)r->pid, n);
    size_t stub_len = 0, files_len = 0;
    uint8_t *stub = (uint8_t *)sp_slurp(env.stub, &stub_len);
    uint8_t *files = (uint8_t *)sp_slurp(pub_path, &files_len);
    assert_non_null(stub);
    assert_non_null(files);
    pv_layout lay;
    uint8_t table[PV_LAYOUT_LEN];
    pv_layout_default(&lay);
    pv_layout_encode(table, &lay);
    *pub_len = stub_len + files_len + sizeof table + sizeof lay;
    *pub = malloc(*pub_len);
    assert_non_null(*pub);
    memcpy(*pub, stub, stub_len);
    memcpy(*pub + stub_len, files, files_len);
    memcpy(*pub + stub_len + files_len, table, sizeof table);
    memcpy(*pub + stub_len + files_len + sizeof table, &lay, sizeof lay);
    free(stub);
    free(files);
    unlink(pub_path);
}

/* The device PSK, from the token as the bridge derives it. */
static void device_psk(const uint8_t uid[12], uint8_t psk[32])
{
    struct pv_keystore_config kc = {
        .token_label = BH_TOKEN,
        .pin = BH_PIN,
        .master_label = "product-master",
        .noise_label = "noise-static",
        .signing_label = "image-signing",
        .at_rest_label = "product-master.at-rest",
        .audit_label = "ledger-audit",
    };
    char err[512];
    pv_keystore *ks = pv_keystore_open(&kc, err, sizeof err);
    if (!ks)
        fail_msg("keystore: %s", err);
    assert_int_equal(pv_keystore_device_psk(ks, uid, psk), 0);
    pv_keystore_close(ks);
}

/* A /proc file (its size reads as 0, so it is read to its end). */
static char *read_proc(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *b = malloc(cap + 1);
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
            cap *= 2;
        }
    fclose(f);
    if (b) {
        b[n] = 0;
        *len = n;
    }
    return b;
}

static void test_station_holds_nothing(void **state)
{
    (void)state;
    size_t stub_len = 0, pub_len = 0;
    uint8_t *stub = (uint8_t *)sp_slurp(env.stub, &stub_len), *pub = NULL;
    assert_non_null(stub);
    struct bh_sim s;
    uint8_t uid[12], psk[32];
    char hex[25], target[64], rec[128], core[200];
    assert_true(bh_sim_start(&env, &s, "scan", seed++, NULL));
    uid_of(&s, uid, hex);
    device_psk(uid, psk);
    struct bh_proxy px;
    snprintf(rec, sizeof rec, "%s/gdb-link", env.dir);
    assert_true(bh_proxy_start(&px, s.gdb, NULL, NULL, rec));
    snprintf(target, sizeof target, "gdb:127.0.0.1:%d", px.port);
    assert_int_equal(bh_station_run(&main_b, &line1, target, env.hooks, "stop-after-lock", &run),
                     -1);
    if (!run.stopped)
        fail_msg("the station did not stop after the lock:\n%s", run.err);
    /* the station never loaded a PKCS#11 module, and has no token or PIN in its environment */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%d/maps", (int)run.pid);
    size_t maps_len = 0;
    char *maps = read_proc(proc, &maps_len);
    assert_non_null(maps);
    assert_non_null(strstr(maps, "libcrypto")); /* the scan reads the real map */
    /* a module is a library loaded from a PKCS#11 module path (libp11-kit.so itself comes in
     * with libcurl's GnuTLS dependency and loads none unless asked) */
    if (strstr(maps, "softhsm") || strstr(maps, "/pkcs11/") || strstr(maps, "p11-kit-proxy") ||
        strstr(maps, "p11-kit-trust"))
        fail_msg("the station mapped a PKCS#11 module:\n%s", maps);
    free(maps);
    snprintf(proc, sizeof proc, "/proc/%d/environ", (int)run.pid);
    size_t env_len = 0;
    char *environ_ = read_proc(proc, &env_len);
    assert_non_null(environ_);
    for (size_t i = 0; i < env_len; i += strlen(environ_ + i) + 1)
        if (strncmp(environ_ + i, "SOFTHSM2_CONF=", 14) == 0 ||
            strncmp(environ_ + i, "PROVISION_PIN=", 14) == 0)
            fail_msg("the station runs with %s", environ_ + i);
    free(environ_);
    core_of(&run, "station-core", core, sizeof core, &pub, &pub_len);
    bh_proxy_stop(&px);
    assert_int_equal(bh_sim_stop(&s), 0);
    assert_chip_locked(&s);
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(&main_b, uid, &row), PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);

    /* the station's memory */
    size_t core_len = 0;
    uint8_t *mem = map_file(core, &core_len);
    assert_non_null(mem);
    long at;
    if ((at = bh_find_window(mem, core_len, boot_img, boot_len, pub, pub_len)) >= 0)
        fail_msg("the station's core holds the bootloader in clear (offset %ld)", at);
    if ((at = bh_find_window(mem, core_len, app_img, app_len, pub, pub_len)) >= 0)
        fail_msg("the station's core holds the application in clear (offset %ld)", at);
    if ((at = bh_find_window(mem, core_len, psk, sizeof psk, NULL, 0)) >= 0)
        fail_msg("the station's core holds the device PSK (offset %ld)", at);
    /* ... but it does hold the stub it uploaded (the scan can find what is there) */
    assert_true(bh_find_window(mem, core_len, stub, stub_len, NULL, 0) >= 0);
    munmap(mem, core_len);
    unlink(core);

    /* the wire, both ways */
    const char *dirs[] = {"to", "from"};
    for (int d = 0; d < 2; d++) {
        char path[160];
        size_t len = 0;
        snprintf(path, sizeof path, "%s.%s", rec, dirs[d]);
        uint8_t *w = (uint8_t *)sp_slurp(path, &len);
        assert_non_null(w);
        /* to the chip: at least the stub and the sealed images; from it: the replies */
        assert_true(d ? len > 1000 : len > stub_len + boot_len + app_len);
        if ((at = bh_find_window(w, len, boot_img, boot_len, pub, pub_len)) >= 0)
            fail_msg("the GDB link (%s the chip) carries the bootloader in clear (offset %ld)",
                     dirs[d], at);
        if ((at = bh_find_window(w, len, app_img, app_len, pub, pub_len)) >= 0)
            fail_msg("the GDB link (%s the chip) carries the application in clear (offset %ld)",
                     dirs[d], at);
        if ((at = bh_find_window(w, len, psk, sizeof psk, NULL, 0)) >= 0)
            fail_msg("the GDB link (%s the chip) carries the device PSK", dirs[d]);
        if (d == 0) /* the stub goes to the chip in clear: the recording has it */
            assert_true(bh_find_window(w, len, stub, stub_len, NULL, 0) >= 0);
        free(w);
    }

    /* the control: in local mode the station is the trusted side, and the scan finds the
     * bootloader in its core */
    struct bh_sim s2;
    char ledger[128];
    assert_true(bh_sim_start(&env, &s2, "scan-local", seed++, NULL));
    bh_sim_target(&s2, target, sizeof target);
    snprintf(ledger, sizeof ledger, "%s/local-ledger.db", env.dir);
    const char *envs[] = {"PROVISION_TEST_CRASH_AT=stop-after-lock", NULL};
    const char *args[] = {"run",  "--recipe",  env.recipe, "--probe",    target,  "--ledger",
                          ledger, "--station", "desk",     "--pin-file", env.pin, NULL};
    assert_true(bh_run_start(&env, &run, env.hooks, envs, args));
    assert_int_equal(bh_run_wait(&run, 90000), -1);
    if (!run.stopped)
        fail_msg("the local run did not stop after the lock:\n%s", run.err);
    /* ... and it has the token's module mapped: the maps check above can fail */
    snprintf(proc, sizeof proc, "/proc/%d/maps", (int)run.pid);
    maps = read_proc(proc, &maps_len);
    assert_non_null(maps);
    assert_non_null(strstr(maps, "softhsm"));
    free(maps);
    free(pub);
    core_of(&run, "local-core", core, sizeof core, &pub, &pub_len);
    assert_int_equal(bh_sim_stop(&s2), 0);
    mem = map_file(core, &core_len);
    assert_non_null(mem);
    at = bh_find_window(mem, core_len, boot_img, boot_len, pub, pub_len);
    munmap(mem, core_len);
    unlink(core);
    if (at < 0)
        fail_msg("the scan does not find the bootloader in a local-mode core: it proves nothing");
    free(stub);
    free(pub);
}

/* A station running a stub of its own (one byte of the released stub.bin changed, in a header
 * field the stub never reads, so it runs and answers): the digest it measures into its message
 * 1 is not the released one, and the bridge refuses before any reservation (409
 * stub_not_released): no row, quota unchanged, flash untouched. */
static void test_stub_not_released(void **state)
{
    (void)state;
    struct bh_sim s;
    uint8_t uid[12];
    char hex[25], target[64];
    assert_true(bh_sim_start(&env, &s, "own-stub", seed++, NULL));
    uid_of(&s, uid, hex);
    bh_sim_target(&s, target, sizeof target);
    unsigned rows = bh_ledger_rows(&main_b);
    uint32_t used = bh_ledger_used(&main_b);
    assert_true(bh_station_config(&main_b, &line1, target));
    const char *envs[] = {"-SOFTHSM2_CONF", "-PROVISION_PIN", "PROVISION_TEST_STUB_BYTE=7", NULL};
    const char *args[] = {"run", "--config", line1.config, NULL};
    assert_true(bh_run_start(&env, &run, env.hooks, envs, args));
    int st = bh_run_wait(&run, 90000);
    if (st != PV_EXIT_SESSION || !strstr(run.err, "409 stub_not_released"))
        fail_msg("a station's own stub: exit %d (want %d, 409 stub_not_released):\n%s%s", st,
                 PV_EXIT_SESSION, run.out, run.err);
    assert_int_equal(bh_sim_stop(&s), 0);
    pv_ledger_row row;
    assert_int_equal(bh_ledger_get(&main_b, uid, &row), PV_LEDGER_E_UNKNOWN);
    assert_int_equal(bh_ledger_rows(&main_b), rows);
    assert_int_equal(bh_ledger_used(&main_b), used);
    uint32_t optcr = 0;
    uint8_t *flash = NULL;
    assert_true(bh_state_read(s.state, &optcr, &flash));
    assert_int_equal(optcr >> 8 & 0xFF, 0xAA);
    assert_true(bh_erased(flash, 0));
    free(flash);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "test_bridge_run"))
        return -1;
    boot_img = (uint8_t *)sp_slurp(env.boot, &boot_len);
    app_img = (uint8_t *)sp_slurp(env.app_img, &app_len);
    if (!boot_img || !app_img)
        return -1;
    if (!bh_bridge_init(&env, &main_b, "main", NULL, 0) ||
        !bh_station_enroll(&main_b, &line1, "line-1", BH_RIGHTS) || !bh_bridge_start(&main_b))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (main_b.pid > 0)
        bh_bridge_stop(&main_b, SIGTERM);
    if (race_b.pid > 0)
        bh_bridge_stop(&race_b, SIGTERM);
    return 0;
}

int main(void)
{
    if (!sp_install(240))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gdb_sqlite),
        cmocka_unit_test(test_gdb_postgresql),
        cmocka_unit_test(test_uid_rewritten),
        cmocka_unit_test(test_two_stations_one_chip),
        cmocka_unit_test(test_lock_not_happening),
        cmocka_unit_test(test_replay_and_expiry),
        cmocka_unit_test(test_station_holds_nothing),
        cmocka_unit_test(test_stub_not_released),
    };
    uint64_t t0 = sp_now_ms();
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    fprintf(stderr, "test_bridge_run: %.1f s\n", (double)(sp_now_ms() - t0) / 1000.0);
    if (rc == 0)
        bh_env_free(&env);
    free(boot_img);
    free(app_img);
    return rc;
}
