/* One device, end to end (ARCHITECTURE.md, "One device on a production line"): the run behind
 * pv_prov_run (libprovision.h) and so `provision run`.
 *
 * The station drives the probe and relays ciphertext; every secret and every decision is the
 * trusted side's (trusted.h): `hsm-bridge` over HTTPS with --bridge, or the bridge library in
 * this process with --recipe (local mode: the engineer's own token; there the station is the
 * trusted side). The same code path runs both: plan (what to drive), identify the chip, start
 * the stub, begin (message 1 -> frames; the trusted side reserves the UID and releases its key),
 * post the frames, verified (the stub's answer -> the final frame), reset and confirm the lock
 * from outside, lock (what was seen -> the ledger's last word). Everything that can refuse
 * without touching the chip comes first; a failure after begin is reported to the trusted side
 * with its phase, and the chip is never locked without a verified record, so a rerun resumes.
 * One gap no station closes alone: dying after the lock and before the trusted side records it
 * leaves a dead debug port and a row at verified (docs/ledger.md "A lock the ledger missed"). */
#include <errno.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../hsm-bridge/recipe.h"
#include "commands.h"
#include "crypto/wipe.h"
#include "relay.h"
#include "run_flow.h"
#include "run_report.h"
#include "station.h"
#include "station_config.h"
#include "trusted.h"

#define LOCK_CONFIRM_MS 5000
/* TEST ONLY, and only in the test build of provision (tests/provision-hooks, built with
 * -DPV_TEST_HOOKS): "after-lock" makes the process die by SIGKILL once the lock is confirmed and
 * before the trusted side records it, as a station crash or power cut of the station there
 * would. The provision that `make` builds has no such hook. */
#define TEST_CRASH_ENV "PROVISION_TEST_CRASH_AT"
#define PENDING_MAX    8 /* rows named in the dead-port message */

/* The exit code for a refusal of the trusted side (docs/bridge-protocol.md "Errors"). */
static int exit_for(const struct pv_bridge_err *e)
{
    static const struct {
        const char *error;
        int code;
    } map[] = {
        {"quota_exhausted", PV_EXIT_QUOTA},
        {"already_provisioned", PV_EXIT_LOCKED},
        {"wrong_chip", PV_EXIT_WRONG_CHIP},
        {"unknown_product", PV_EXIT_INVALID},
        {"leased", PV_EXIT_LEDGER},
        {"other_batch", PV_EXIT_LEDGER},
        {"uid_mismatch", PV_EXIT_SESSION},
        {"stub_not_released", PV_EXIT_SESSION},
        {"stub_failed", PV_EXIT_SESSION},
        {"step_out_of_order", PV_EXIT_SESSION},
        {"lock_not_confirmed", PV_EXIT_SESSION},
        {"session_expired", PV_EXIT_SESSION},
        {"unknown_session", PV_EXIT_SESSION},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(e->error, map[i].error) == 0)
            return map[i].code;
    if (strcmp(e->error, "internal") == 0)
        return strstr(e->reason, "ledger") ? PV_EXIT_LEDGER : PV_EXIT_KEY;
    return PV_EXIT_BRIDGE;
}

/* Takes the trusted side's refusal into r->err and returns its exit code. */
static int refused(struct pv_run *r, const char *step, const struct pv_bridge_err *e)
{
    if (e->status)
        snprintf(r->err, sizeof r->err, "%s refused %s (%d %s): %s",
                 r->t.remote ? "bridge" : "trusted side", step, e->status, e->error, e->reason);
    else
        snprintf(r->err, sizeof r->err, "bridge unreachable at %s: %s", step, e->reason);
    return exit_for(e);
}

/* After begin: the trusted side records the failure (its phase, r->err) and ends the session. */
static int fail(struct pv_run *r, int code, const char *phase)
{
    if (!r->session[0])
        return code;
    struct pv_bridge_err e = {0};
    if (r->t.ops->fail(r->t.ctx, r->session, phase, r->err, &e) != 0) {
        /* part of the error, so every caller sees it (a note is not shown with --json) */
        size_t n = strlen(r->err);
        snprintf(r->err + n, sizeof r->err - n,
                 "\nthe trusted side did not record this failure: %s", e.reason);
    }
    r->session[0] = 0;
    return code;
}

/* A gang's chips open the token one at a time: SoftHSM2's file store fails opens that overlap
 * in several processes ("no token labelled ...", CKR_GENERAL_ERROR at C_Login). The turn is a
 * byte in a pipe the gang's processes share; a process that does not give it back within 30 s
 * (it died) no longer holds up the others. Outside a gang both are no-ops. */
static void token_turn_take(const struct pv_run *r)
{
    if (r->token_turn[0] < 0)
        return;
    struct pollfd pfd = {.fd = r->token_turn[0], .events = POLLIN};
    char b;
    while (poll(&pfd, 1, 30000) < 0 && errno == EINTR)
        ;
    if (pfd.revents & POLLIN)
        (void)!read(r->token_turn[0], &b, 1);
}

static void token_turn_give(const struct pv_run *r)
{
    if (r->token_turn[1] >= 0)
        (void)!write(r->token_turn[1], "t", 1);
}

/* The trusted side (local or remote) and what it says to drive: nothing touches the chip. */
static int load(struct pv_run *r)
{
    char err[1024];
    struct pv_bridge_err e = {0};
    if (r->bridge_url) {
        struct pv_bridge_client_config cc = {
            .url = r->bridge_url, .cert = r->cert, .key = r->key, .ca = r->ca};
        if (pv_trusted_open_remote(&r->t, &cc, err, sizeof err)) {
            snprintf(r->err, sizeof r->err, "%s", err);
            return PV_EXIT_BRIDGE;
        }
    } else {
        /* local mode: the recipe names product and batch, the bridge library opens the token */
        pv_recipe_diags d;
        int st = pv_recipe_load(r->recipe_path, PV_RECIPE_CHECK_FILES, &r->rc, &d);
        if (st != PV_RECIPE_OK) {
            /* the diagnostics (file:line:column, field, fix) go into the error, not to stderr */
            char *txt = NULL;
            size_t tlen = 0;
            FILE *m = open_memstream(&txt, &tlen);
            if (m) {
                pv_recipe_diags_print(m, &d);
                fclose(m);
            }
            while (txt && tlen && txt[tlen - 1] == '\n')
                txt[--tlen] = 0;
            pv_recipe_diags_free(&d);
            snprintf(r->err, sizeof r->err, "recipe %s %s%s%s", r->recipe_path,
                     st == PV_RECIPE_UNREADABLE ? "cannot be read" : "is not valid",
                     tlen ? ":\n" : "", tlen ? txt : "");
            free(txt);
            return st == PV_RECIPE_UNREADABLE ? PV_EXIT_IO : PV_EXIT_INVALID;
        }
        pv_recipe_diags_free(&d);
        r->product = r->rc.product;
        r->batch = r->rc.batch;
        const char *lp = r->ledger_path ? r->ledger_path : getenv(PV_LEDGER_ENV);
        struct pv_bridge_config bc = {
            .recipes = {r->recipe_path},
            .n_recipes = 1,
            .module = r->module,
            .pin_file = r->pin_file,
            .ledger = lp && *lp ? lp : PV_LEDGER_DEFAULT_PATH,
            .allow_plain_images = r->allow_plain,
        };
        token_turn_take(r);
        int rc = pv_trusted_open_local(&r->t, &bc, r->station, err, sizeof err);
        token_turn_give(r);
        if (rc) {
            snprintf(r->err, sizeof r->err, "%s", err);
            return strstr(err, "ledger") == err        ? PV_EXIT_LEDGER
                   : strstr(err, "not sealed")         ? PV_EXIT_INVALID
                   : strstr(err, "would not boot")     ? PV_EXIT_INVALID
                   : strstr(err, "cannot read the")    ? PV_EXIT_IO
                   : strstr(err, "keys.audit_key")     ? PV_EXIT_INVALID
                   : strstr(err, "larger than layout") ? PV_EXIT_INVALID
                                                       : PV_EXIT_KEY;
        }
        if (r->allow_plain)
            pv_run_note(&r->rep, "warning: plain images allowed (--allow-plain-image; "
                                 "development only)");
    }
    pv_run_note(&r->rep, "trusted side: %s", r->t.where);
    if (r->t.ops->plan(r->t.ctx, r->product, r->batch, &r->plan, &e))
        return refused(r, "the plan", &e);
    if (r->t.remote)
        r->t.plan = r->plan; /* freed with the client */
    /* Remote: the chip expectations come from the bridge's plan; the probe is this station's. */
    if (r->bridge_url) {
        memset(&r->rc, 0, sizeof r->rc);
        snprintf(r->rc.name, sizeof r->rc.name, "%s", r->plan.recipe);
        snprintf(r->rc.product, sizeof r->rc.product, "%s", r->plan.product);
        snprintf(r->rc.batch, sizeof r->rc.batch, "%s", r->plan.batch);
        snprintf(r->rc.chip.family, sizeof r->rc.chip.family, "%s", r->plan.chip_family);
        snprintf(r->rc.chip.part, sizeof r->rc.chip.part, "DEV_ID 0x%03x",
                 (unsigned)r->plan.device_id);
        r->rc.chip.device_id = r->plan.device_id;
        r->rc.chip.flash_kb = r->plan.flash_kb;
        r->rc.chip.sram_kb = r->plan.sram_kb;
        r->rc.layout = r->plan.layout;
        r->rc.protection.rdp_level = r->plan.rdp_level;
        r->rc.stub.sram_base = r->plan.stub_sram_base;
        r->rc.probe.backend = PV_PROBE_OPENOCD;
        snprintf(r->rc.probe.openocd.target, sizeof r->rc.probe.openocd.target, "target/%sx.cfg",
                 r->plan.chip_family);
        if (r->sc) { /* the probe is the station's: its configuration says how to reach it */
            const struct pv_station_config *c = r->sc;
            if (c->ocd_target[0])
                snprintf(r->rc.probe.openocd.target, sizeof r->rc.probe.openocd.target, "%s",
                         c->ocd_target);
            snprintf(r->rc.probe.openocd.interface, sizeof r->rc.probe.openocd.interface, "%s",
                     c->ocd_interface);
            r->rc.probe.openocd.n_commands = c->n_ocd_commands;
            memcpy(r->rc.probe.openocd.commands, c->ocd_commands, sizeof c->ocd_commands);
        }
    }
    if (r->plan.app_len)
        pv_run_note(&r->rep,
                    "images: bootloader %u bytes, signed application %u bytes (checked and "
                    "sealed into the session by the trusted side)",
                    (unsigned)r->plan.boot_len, (unsigned)r->plan.app_len);
    else if (r->plan.boot_len)
        pv_run_note(&r->rep,
                    "images: bootloader %u bytes (sealed into the session by the trusted side)",
                    (unsigned)r->plan.boot_len);
    snprintf(r->rep.batch, sizeof r->rep.batch, "%s", r->plan.batch);
    snprintf(r->rep.recipe, sizeof r->rep.recipe, "%s", r->plan.recipe);
    snprintf(r->rep.recipe_sha256, sizeof r->rep.recipe_sha256, "%s", r->plan.recipe_sha256);
    snprintf(r->rep.image_sha256, sizeof r->rep.image_sha256, "%s", r->plan.boot_sha256);
    return 0;
}

static int probe_exit(int rc)
{
    return rc == PV_PROBE_ERR_DEAD ? PV_EXIT_LOCKED : PV_EXIT_PROBE;
}

/* A dead debug port may be a chip this station locked in a run that died before the ledger said
 * so (the row stays at verified). The station cannot read a locked chip's UID, so it can only
 * name the candidates: this batch's rows at this station left at verified (local mode only:
 * through a bridge the ledger is the bridge's). */
struct pending {
    const struct pv_run *r;
    unsigned n, others;
    char *out;
    size_t cap, len;
};

static int pending_row(void *ctx, const pv_ledger_row *row, int mine)
{
    struct pending *p = ctx;
    if (!mine) {
        p->others++;
        return 0;
    }
    if (p->n++ < PENDING_MAX && p->len < p->cap) {
        int k = snprintf(p->out + p->len, p->cap - p->len, "\n  %s (verified %s, %u attempt%s)",
                         row->uid_hex, row->at[PV_LEDGER_VERIFIED - 1], row->attempts,
                         row->attempts == 1 ? "" : "s");
        p->len += k > 0 ? (size_t)k : 0;
        if (p->len > p->cap)
            p->len = p->cap;
    }
    return 0;
}

/* Appends to r->err what the ledger says about devices that may be this dead-port chip. */
static void explain_pending(struct pv_run *r)
{
    char *list = r->pending;
    struct pending p = {.r = r, .out = list, .cap = sizeof r->pending};
    list[0] = 0;
    size_t n = strlen(r->err);
    if (!r->t.local) { /* through a bridge the ledger is the bridge's */
        snprintf(r->err + n, sizeof r->err - n,
                 "\nif this station locked the chip in a run that died before the bridge recorded "
                 "it, its row is at verified on the bridge: its operator lists them (provision "
                 "ledger list --state verified) and confirms one (provision ledger "
                 "confirm-locked)");
        return;
    }
    struct pv_bridge_station st = {.name = r->station};
    struct pv_bridge_err e;
    if (pv_bridge_unconfirmed(r->t.local, &st, r->product, r->batch, pending_row, &p, &e))
        return;
    if (p.n)
        snprintf(r->err + n, sizeof r->err - n,
                 "\nthe ledger has %u device%s of batch %s at station %s left at verified (the "
                 "chip may have been locked by a run that died before the ledger recorded it):%s%s"
                 "\nif this chip is one of them, check it (e.g. its bootloader boots) and "
                 "confirm: provision ledger confirm-locked --uid UID --recipe %s --reason TEXT",
                 p.n, p.n == 1 ? "" : "s", r->rc.batch, r->station, list,
                 p.n > PENDING_MAX ? "\n  ... (provision ledger list --state verified)" : "",
                 r->recipe_path);
    else if (p.others)
        snprintf(r->err + n, sizeof r->err - n,
                 "\nthe ledger has %u device%s of batch %s left at verified at other stations: "
                 "provision ledger list --state verified --batch %s",
                 p.others, p.others == 1 ? "" : "s", r->rc.batch, r->rc.batch);
}

/* Connect, halt, identify, compare with the recipe. */
static int identify(struct pv_run *r)
{
    char perr[512];
    int rc = pv_station_connect(&r->rc, &r->sp, &r->link, r->rep.probe, sizeof r->rep.probe, perr,
                                sizeof perr);
    if (rc == PV_PROBE_ERR_DEAD) {
        snprintf(r->err, sizeof r->err,
                 "chip locked: its debug port is dead (RDP Level 2, or the chip has no power): %s; "
                 "nothing written",
                 perr);
        explain_pending(r);
        return PV_EXIT_LOCKED;
    }
    if (rc) {
        snprintf(r->err, sizeof r->err, "probe unreachable: %s", perr);
        return PV_EXIT_PROBE;
    }
    /* A probe that reads memory while the core runs identifies it running: the halt would cost
     * OpenOCD a debug entry (every core and FPU register), and the install resets the chip. */
    if ((!r->link.ops->mem_while_running && (rc = r->link.ops->halt(r->link.p)) != 0) ||
        (rc = pv_probe_identify(&r->link, &r->id))) {
        snprintf(r->err, sizeof r->err, "%s: cannot halt and identify the chip: %s", r->rep.probe,
                 r->link.ops->error(r->link.p));
        if (rc == PV_PROBE_ERR_DEAD)
            explain_pending(r);
        return probe_exit(rc);
    }
    pv_station_hex(r->rep.uid, r->id.uid, 12);
    snprintf(r->rep.rdp, sizeof r->rep.rdp, "%s", pv_station_rdp_name(r->id.rdp));
    char why[512];
    if (pv_station_match(&r->rc, &r->id, why, sizeof why)) {
        snprintf(r->err, sizeof r->err, "chip %s refused: %s; nothing written", r->rep.uid, why);
        return PV_EXIT_WRONG_CHIP;
    }
    if (r->id.rdp != PV_RDP_LEVEL0) {
        snprintf(r->err, sizeof r->err,
                 "chip %s refused: it is locked (RDP %s, option byte 0x%02x); nothing written",
                 r->rep.uid, pv_station_rdp_name(r->id.rdp), r->id.rdp);
        return PV_EXIT_LOCKED;
    }
    char detail[160];
    snprintf(detail, sizeof detail, "uid %s, DEV_ID 0x%03x, %u KB, RDP %s", r->rep.uid,
             (unsigned)(r->id.dbgmcu_idcode & 0xFFF), r->id.flash_kb,
             pv_station_rdp_name(r->id.rdp));
    pv_run_phase_done(&r->rep, PV_RUN_IDENTIFY, detail);
    return 0;
}

/* Posts a frame from the trusted side into its mailbox slot (its number is in its trailer). */
static int post(void *ctx, const uint8_t *frame, size_t len)
{
    struct pv_run *r = ctx;
    if (len < PV_TRAILER_LEN)
        return -1;
    r->last_seq = pv_ld32(frame + len - PV_TRAILER_LEN + PV_TRAILER_SEQ);
    if (pv_relay_post(&r->relay, r->last_seq, frame, len))
        return -1;
    pv_run_bytes(&r->rep, len, 0);
    return 0;
}

/* Lets the stub work through what was posted and reads its reply. */
static int sync_reply(struct pv_run *r, struct pv_stub_status *st, uint8_t *buf, size_t cap,
                      size_t *len, const char *what)
{
    if (pv_relay_sync(&r->relay, st, buf, cap, PV_REPLY_HDR + PV_NOISE_TAGLEN, len)) {
        snprintf(r->err, sizeof r->err, "%s", r->relay.err);
        return -1;
    }
    if (!*len) {
        snprintf(r->err, sizeof r->err,
                 "the stub stopped at frame %u without answering the %s frame: %s (detail "
                 "0x%08x)",
                 (unsigned)st->done, what, pv_status_name(st->status), (unsigned)st->detail);
        return -1;
    }
    return 0;
}

/* What the chip shows after the final frame. Level 2: after a reset the debug port no longer
 * answers (a FLASH_OPTCR reading 0xCC proves nothing: a stub can write it without starting
 * the option byte programming, and never reset). The stub resets the chip itself; if the port still
 * answers half-way through the wait, the station resets the chip (the option bytes load at
 * reset) and looks again. Level 1: the option byte says Level 1 and a flash read is refused. */
static unsigned observe_lock(struct pv_run *r, const char **method)
{
    uint64_t start = pv_run_now_ms(), end = start + LOCK_CONFIRM_MS;
    int reset_done = 0;
    uint8_t b[4] = {0};
    *method = "after the reset the debug port still answers";
    do {
        /* first a pause: a read sent with the ack would reach the chip before the stub resets
         * it, and cost a round trip for nothing (over a tunnel, the round trip is the cost) */
        usleep(20000);
        int rc = r->link.ops->read_mem(r->link.p, PV_F4_FLASH_OPTCR, b, 4);
        if (rc == PV_PROBE_ERR_DEAD) {
            *method = reset_done ? "reset by the station: debug port dead"
                                 : "reset by the stub: debug port dead";
            return 2;
        }
        if (rc == 0 && b[1] != PV_RDP_LEVEL0 && b[1] != PV_RDP_LEVEL2 &&
            r->link.ops->read_mem(r->link.p, r->rc.layout.boot_addr, b, 4) == PV_PROBE_ERR_TARGET) {
            *method = "option byte Level 1, flash read refused";
            return 1;
        }
        if (!reset_done && pv_run_now_ms() - start > LOCK_CONFIRM_MS / 2) {
            reset_done = 1;
            if (r->link.ops->reset_halt(r->link.p) == PV_PROBE_ERR_DEAD) {
                *method = "reset by the station: debug port dead";
                return 2;
            }
        }
    } while (pv_run_now_ms() < end);
    return 0;
}

#ifdef PV_TEST_HOOKS
/* TEST ONLY (tests/provision-hooks): PROVISION_TEST_CRASH_AT=stop-after-begin stops the process
 * (SIGSTOP) once the trusted side has begun the session and its frames are posted, as a station
 * that hangs holding the chip's lease; stop-after-lock once the trusted side has recorded the
 * lock, before anything is wiped or freed (tests/unit/test_bridge_run.c scans its memory).
 * stop-after-plan (the plan answered, nothing touched yet), stop-after-verified (the verified
 * record answered with the final frame, posted but not yet run by a halting stub) and
 * stop-before-lock (the lock confirmed from outside, not yet reported) let
 * tests/unit/test_bridge_faults.c kill the bridge, or the station, at that step. */
static void test_stop_at(const char *point)
{
    const char *at = getenv(TEST_CRASH_ENV);
    if (at && strcmp(at, point) == 0)
        raise(SIGSTOP);
}
#endif

static int provision(struct pv_run *r)
{
    int rc;
    struct pv_bridge_err e = {0};
#ifdef PV_TEST_HOOKS
    test_stop_at("stop-after-plan");
#endif
    if ((rc = identify(r)) != 0)
        return rc;

    /* The stub, from the trusted side, with its public key; host entropy mixes with the RNG. */
    struct pv_stub_image img;
    char perr[256];
    uint8_t entropy[32], msg1[128], buf[PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    size_t msg1_len, len;
    const uint8_t *stub = r->plan.stub;
#ifdef PV_TEST_HOOKS
    /* TEST ONLY: PROVISION_TEST_STUB_BYTE=N flips byte N of the stub before the upload, as a
     * station running a stub of its own would (byte 7, the header size's high byte, is never
     * read, so the stub still runs and only its measured digest changes). */
    static uint8_t patched[PV_STUB_SRAM_BUDGET];
    const char *flip = getenv("PROVISION_TEST_STUB_BYTE");
    if (flip && r->plan.stub_len <= sizeof patched && (size_t)atoi(flip) < r->plan.stub_len) {
        memcpy(patched, r->plan.stub, r->plan.stub_len);
        patched[atoi(flip)] ^= 0x80;
        stub = patched;
    }
#endif
    if (pv_stub_image_parse(&img, stub, r->plan.stub_len, r->plan.stub_sram_base, perr,
                            sizeof perr)) {
        snprintf(r->err, sizeof r->err, "stub from the trusted side: %s", perr);
        return PV_EXIT_INVALID;
    }
    if (RAND_bytes(entropy, sizeof entropy) != 1) {
        snprintf(r->err, sizeof r->err, "no randomness for the stub's host entropy (OpenSSL)");
        return PV_EXIT_SESSION;
    }
    uint32_t flags = PV_MBOX_F_CLOCK_168;
    if (r->link.ops->mem_while_running)
        flags |= PV_MBOX_F_SPIN; /* no halt and resume per batch of frames */
    if (pv_relay_start(&r->relay, &r->link, &img, r->plan.bridge_pub, entropy, flags, msg1,
                       sizeof msg1, &msg1_len)) {
        snprintf(r->err, sizeof r->err, "%s", r->relay.err);
        return PV_EXIT_SESSION;
    }
    pv_run_bytes(&r->rep, r->plan.stub_len, r->plan.stub_len);
    pv_run_phase_done(&r->rep, PV_RUN_STUB, "stub running, message 1 read");

    /* begin: the trusted side checks message 1, reserves the chip and releases the frames */
    struct pv_bridge_identity bid = {
        .dev_id = r->id.dbgmcu_idcode & 0xFFFu, .flash_kb = r->id.flash_kb, .rdp = r->id.rdp};
    memcpy(bid.uid, r->id.uid, 12);
    bid.mes = r->mes;
    if (r->t.ops->begin(r->t.ctx, r->product, r->batch, &bid, flags, msg1, msg1_len, post, r,
                        r->session, &e)) {
        rc = refused(r, "begin", &e);
        if (r->relay.err[0]) {
            size_t n = strlen(r->err);
            snprintf(r->err + n, sizeof r->err - n, " (%s)", r->relay.err);
            return fail(r, PV_EXIT_SESSION, "write");
        }
        /* a session begun and cut off on the way: the bridge hears why (else it expires) */
        return r->session[0] ? fail(r, PV_EXIT_SESSION, "write") : rc;
    }
    snprintf(r->rep.ledger_state, sizeof r->rep.ledger_state, "keyed");
#ifdef PV_TEST_HOOKS
    test_stop_at("stop-after-begin");
#endif
    pv_run_phase_done(&r->rep, PV_RUN_RESERVE, "reserved and leased by the trusted side");
    pv_run_phase_done(&r->rep, PV_RUN_KEY, "key slot sealed into the session");
    pv_run_phase_done(&r->rep, PV_RUN_ERASE, NULL);
    char d[96];
    snprintf(d, sizeof d, "%u frames relayed", (unsigned)r->last_seq);
    pv_run_phase_done(&r->rep, PV_RUN_WRITE, d);

    struct pv_stub_status st;
    if (sync_reply(r, &st, buf, sizeof buf, &len, "verify"))
        return fail(r, PV_EXIT_SESSION, "verify");
    if (r->t.ops->verified(r->t.ctx, r->session, buf, len, post, r, &e)) {
        rc = refused(r, "verified", &e);
        r->session[0] = 0; /* the trusted side ended the session */
        return rc;
    }
    snprintf(r->rep.ledger_state, sizeof r->rep.ledger_state, "verified");
    snprintf(d, sizeof d, "key slot at 0x%08x; stub's digests match",
             (unsigned)r->rc.layout.keyslot_addr);
    pv_run_phase_done(&r->rep, PV_RUN_VERIFY, d);
#ifdef PV_TEST_HOOKS
    test_stop_at("stop-after-verified");
#endif

    /* the final frame: its reply, the ack, then the lock seen from outside. A chip that dies
     * before answering may have committed the option bytes already (docs/power-cuts.md). */
    if (sync_reply(r, &st, buf, sizeof buf, &len, "final")) {
        size_t n = strlen(r->err);
        snprintf(r->err + n, sizeof r->err - n,
                 "; the final frame (RDP Level %u) was sent, so the chip may be locked: run "
                 "again, and if the rerun finds its debug port dead, confirm the row (provision "
                 "ledger confirm-locked)",
                 (unsigned)r->plan.rdp_level);
        return fail(r, PV_EXIT_SESSION, "lock");
    }
    if (st.state != PV_STATE_DONE) {
        snprintf(r->err, sizeof r->err, "the stub is %s after the final frame",
                 pv_state_name(st.state));
        return fail(r, PV_EXIT_SESSION, "lock");
    }
    if (pv_relay_ack(&r->relay, r->last_seq)) {
        snprintf(r->err, sizeof r->err, "%s", r->relay.err);
        return fail(r, PV_EXIT_SESSION, "lock");
    }
    struct pv_bridge_observed obs = {0};
    if (r->plan.rdp_level > 0)
        obs.rdp_level = observe_lock(r, &obs.method);
    else
        obs.method = "recipe asks for RDP Level 0";
#ifdef PV_TEST_HOOKS
    const char *crash = getenv(TEST_CRASH_ENV);
    if (crash && strcmp(crash, "after-lock") == 0 && obs.rdp_level == r->plan.rdp_level)
        raise(SIGKILL); /* test only, see TEST_CRASH_ENV */
    test_stop_at("stop-before-lock");
#endif
    struct pv_bridge_outcome out;
    if (r->t.ops->lock(r->t.ctx, r->session, buf, len, &obs, &out, &e)) {
        rc = refused(r, "the lock report", &e);
        r->session[0] = 0;
        if (obs.rdp_level == 0 || obs.rdp_level != r->plan.rdp_level)
            return rc;
        /* The chip IS locked (seen after the reset) and the trusted side did not record it: a
         * rerun cannot read a locked chip, so a person confirms the row. */
        snprintf(r->rep.rdp, sizeof r->rep.rdp, "Level %u", obs.rdp_level & 3u);
        size_t n = strlen(r->err);
        snprintf(
            r->err + n, sizeof r->err - n,
            "\nchip %s IS locked (RDP Level %u, %s) but its row stays at verified: on the "
            "bridge, confirm it with provision ledger confirm-locked --uid %s (docs/ledger.md, "
            "\"A lock the ledger missed\")",
            r->rep.uid, obs.rdp_level, obs.method, r->rep.uid);
        return PV_EXIT_LEDGER;
    }
    r->session[0] = 0;
#ifdef PV_TEST_HOOKS
    test_stop_at("stop-after-lock");
#endif
    if (r->plan.rdp_level == 0) {
        pv_run_phase_done(&r->rep, PV_RUN_LOCK, "not locked: recipe asks for RDP Level 0");
        return 0;
    }
    snprintf(r->rep.ledger_state, sizeof r->rep.ledger_state, "locked");
    snprintf(r->rep.rdp, sizeof r->rep.rdp, "Level %u", out.rdp_level);
    snprintf(d, sizeof d, "RDP Level %u, %s; batch %s: %u of %u", out.rdp_level, obs.method,
             out.batch, (unsigned)out.used, (unsigned)out.quota);
    pv_run_phase_done(&r->rep, PV_RUN_LOCK, d);
    return 0;
}

int pv_run_device(struct pv_run *r)
{
    /* through a bridge the station's name is the one in its certificate */
    snprintf(r->rep.station, sizeof r->rep.station, "%s",
             r->bridge_url ? "(certificate)" : r->station);
    int rc = load(r);
    if (rc == 0) {
        pv_run_phase_done(&r->rep, PV_RUN_LOAD, NULL);
        rc = provision(r);
    }
    if (r->t.remote)
        pv_run_note(&r->rep, "bridge requests: %u", pv_trusted_round_trips(&r->t));
    if (r->link.p) {
        struct pv_probe_stats ps;
        r->link.ops->stats(r->link.p, &ps);
        r->rep.probe_round_trips = (int64_t)ps.round_trips;
        pv_run_note(&r->rep, "probe round trips: %llu", (unsigned long long)ps.round_trips);
    }
    pv_probe_disconnect(&r->link);
    if (r->t.ops)
        pv_trusted_close(&r->t);
    return rc;
}
