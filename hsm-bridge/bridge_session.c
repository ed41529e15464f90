/* One device through the bridge (bridge.h, docs/bridge-protocol.md): every refusal comes before
 * anything is written, the reservation and lease before any secret, the verified record before
 * the final frame, and the lock recorded only at the level the station saw after the reset. */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bridge_internal.h"
#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "devdata_prepare.h"

__attribute__((format(printf, 4, 5))) static int refuse(pv_bridge *b, struct pv_bridge_err *e,
                                                        int status, const char *fmt, ...)
{
    /* fmt starts with the error code, then ": " and the reason */
    va_list ap;
    va_start(ap, fmt);
    pv_bridge_refusev(b, e, status, fmt, ap);
    va_end(ap);
    return -1;
}

static void hex(char *out, const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", v[i]);
}

static struct pv_bridge_product *find_product(pv_bridge *b, const char *product, const char *batch)
{
    for (unsigned i = 0; i < b->n_prod; i++)
        if (strcmp(b->prod[i]->rc.product, product) == 0 &&
            strcmp(b->prod[i]->rc.batch, batch) == 0)
            return b->prod[i];
    return NULL;
}

/* The station's rights (registry: space-separated PRODUCT/BATCH, BATCH may be "*"). */
static int may_run(pv_bridge *b, const char *station, const char *product, const char *batch)
{
    if (b->cfg.local)
        return 1;
    pv_ledger_station reg;
    if (pv_ledger_station_get(b->ledger, station, &reg) != PV_LEDGER_OK || reg.revoked_at[0])
        return 0;
    size_t pl = strlen(product), bl = strlen(batch);
    for (const char *r = reg.rights; *r;) {
        while (*r == ' ')
            r++;
        size_t n = strcspn(r, " ");
        if (n == pl + 1 + bl && memcmp(r, product, pl) == 0 && r[pl] == '/' &&
            memcmp(r + pl + 1, batch, bl) == 0)
            return 1;
        if (n == pl + 2 && memcmp(r, product, pl) == 0 && r[pl] == '/' && r[pl + 1] == '*')
            return 1;
        r += n;
    }
    return 0;
}

int pv_bridge_may_run(pv_bridge *b, const char *station, const char *product, const char *batch)
{
    return may_run(b, station, product, batch);
}

static int lookup(pv_bridge *b, const struct pv_bridge_station *st, const char *product,
                  const char *batch, struct pv_bridge_product **out, struct pv_bridge_err *e)
{
    if (!product || !batch || !(*out = find_product(b, product, batch)))
        return refuse(b, e, 404,
                      "unknown_product: this bridge has no recipe for product '%s' batch '%s'",
                      product ? product : "", batch ? batch : "");
    if (!may_run(b, st->name, product, batch))
        return refuse(b, e, 403,
                      "no_rights: station '%s' may not run product '%s' batch '%s' (its rights "
                      "are set at enrolment: hsm-bridge station enroll --rights %s/%s)",
                      st->name, product, batch, product, batch);
    return 0;
}

int pv_bridge_plan(pv_bridge *b, const struct pv_bridge_station *st, const char *product,
                   const char *batch, struct pv_bridge_plan *plan, struct pv_bridge_err *e)
{
    struct pv_bridge_product *p;
    memset(plan, 0, sizeof *plan);
    if (lookup(b, st, product, batch, &p, e))
        return -1;
    const pv_recipe *rc = &p->rc;
    plan->product = rc->product;
    plan->batch = rc->batch;
    plan->recipe = rc->name;
    hex(plan->recipe_sha256, rc->digest, 32);
    plan->rdp_level = rc->protection.rdp_level;
    plan->chip_family = rc->chip.family;
    plan->device_id = rc->chip.device_id;
    plan->flash_kb = rc->chip.flash_kb;
    plan->sram_kb = rc->chip.sram_kb;
    plan->layout = rc->layout;
    plan->stub_sram_base = rc->stub.sram_base;
    plan->stub = p->stub;
    plan->stub_len = p->stub_len;
    memcpy(plan->stub_sha256, p->stub_sha256, 32);
    memcpy(plan->bridge_pub, p->noise_pub, 32);
    plan->boot_len = (uint32_t)p->boot_len;
    plan->app_len = (uint32_t)p->app_len;
    memcpy(plan->boot_sha256, p->boot_sha256, sizeof plan->boot_sha256);
    return 0;
}

static struct pv_bridge_sess *find_session(pv_bridge *b, const struct pv_bridge_station *st,
                                           const char *id, struct pv_bridge_err *e)
{
    pv_bridge_expire(b);
    for (unsigned i = 0; id && i < b->n_sess; i++) {
        struct pv_bridge_sess *s = &b->sess[i];
        if (s->step == STEP_FREE || strcmp(s->id, id) != 0 || strcmp(s->station, st->name) != 0)
            continue;
        if (s->step == STEP_EXPIRED) {
            refuse(b, e, 410,
                   "session_expired: session %s outlived its %u s; its lease is released: run "
                   "the device again",
                   id, b->ttl_s);
            return NULL;
        }
        return s;
    }
    refuse(b, e, 404, "unknown_session: no session %s for station '%s' (never begun, or ended)",
           id ? id : "", st->name);
    return NULL;
}

/* Ends a session after a failure: the ledger records it (phase, reason) and the lease ends. */
static void fail_session(pv_bridge *b, struct pv_bridge_sess *s, const char *phase,
                         const char *reason)
{
    pv_ledger_actor who = {.station = s->station, .session = s->id, .lease_s = b->ttl_s};
    pv_ledger_set_actor(b->ledger, &who);
    pv_ledger_fail(b->ledger, s->uid, phase, reason);
    pv_ledger_set_actor(b->ledger, NULL);
    pv_bridge_count_failure(b, phase);
    b->stats.outcomes[OUT_FAILED]++;
    pv_install_frames_free(s->f);
    memset(s, 0, sizeof *s);
}

static void set_actor(pv_bridge *b, const struct pv_bridge_sess *s)
{
    pv_ledger_actor who = {.station = s->station, .session = s->id, .lease_s = b->ttl_s};
    pv_ledger_set_actor(b->ledger, &who);
}

/* Checks what message 1 says about the chip and the stub against the recipe and the debugger. */
static int check_identity(pv_bridge *b, const struct pv_bridge_product *p,
                          const struct pv_stub_identity *sid, const struct pv_bridge_identity *dbg,
                          struct pv_bridge_err *e)
{
    char a[65], c[65];
    if (memcmp(sid->digest, p->stub_sha256, 32) != 0) {
        hex(a, sid->digest, 32);
        hex(c, p->stub_sha256, 32);
        return refuse(b, e, 409,
                      "stub_not_released: the stub in the chip measures %s, the released stub "
                      "%s: run the stub this bridge serves (GET /v1/plan)",
                      a, c);
    }
    if ((sid->idcode & 0xFFFu) != p->rc.chip.device_id || sid->flash_kb != p->rc.chip.flash_kb)
        return refuse(b, e, 409,
                      "wrong_chip: the stub reports DEV_ID 0x%03x with %u KB of flash, recipe %s "
                      "wants 0x%03x with %u KB",
                      (unsigned)(sid->idcode & 0xFFFu), sid->flash_kb, p->rc.name,
                      (unsigned)p->rc.chip.device_id, (unsigned)p->rc.chip.flash_kb);
    if (sid->rdp != PV_RDP_LEVEL0)
        return refuse(b, e, 409,
                      "wrong_chip: the chip's read protection is on already (RDP 0x%02x): it was "
                      "provisioned or locked before",
                      sid->rdp);
    if (memcmp(sid->uid, dbg->uid, 12) != 0) {
        hex(a, sid->uid, 12);
        hex(c, dbg->uid, 12);
        return refuse(b, e, 409,
                      "uid_mismatch: the stub reports UID %s in its authenticated message 1, the "
                      "debugger read %s: something between the probe and the chip rewrites "
                      "reads; nothing reserved",
                      a, c);
    }
    return 0;
}

static int reserve(pv_bridge *b, struct pv_bridge_product *p, struct pv_bridge_sess *s,
                   struct pv_bridge_err *e)
{
    pv_ledger_recipe lr = {.name = p->rc.name};
    memcpy(lr.digest, p->rc.digest, 32);
    pv_ledger_row row;
    char u[25];
    hex(u, s->uid, 12);
    set_actor(b, s);
    int rc = pv_ledger_reserve(b->ledger, p->rc.batch, s->uid, s->station, &lr, p->rc.quota, &row);
    switch (rc) {
    case PV_LEDGER_OK:
    case PV_LEDGER_RESUMED:
        return 0;
    case PV_LEDGER_E_QUOTA: {
        uint32_t q = 0, used = 0;
        pv_ledger_batch(b->ledger, p->rc.batch, &q, &used);
        return refuse(b, e, 409,
                      "quota_exhausted: batch %s has used its quota (%u of %u devices); chip %s "
                      "not reserved",
                      p->rc.batch, (unsigned)used, (unsigned)q, u);
    }
    case PV_LEDGER_E_PROVISIONED:
        return refuse(b, e, 409, "already_provisioned: chip %s is locked already (ledger)", u);
    case PV_LEDGER_E_OTHER_BATCH:
        return refuse(b, e, 409,
                      "other_batch: chip %s is in progress in another batch (see the ledger)", u);
    case PV_LEDGER_E_LEASED:
        return refuse(b, e, 409, "leased: chip %s is in progress at another station: %s", u,
                      pv_ledger_error(b->ledger));
    default:
        return refuse(b, e, 500, "internal: ledger: cannot reserve %s: %s", u,
                      pv_ledger_error(b->ledger));
    }
}

/* The recipe's per-device data for the reserved chip (docs/device-data.md): its earlier values on
 * a rerun, else validated MES values and a fresh serial and MAC from the ledger. A refusal ends
 * the session before anything secret leaves the token or any frame is sealed. */
static int device_data(pv_bridge *b, struct pv_bridge_sess *s, const char *mes,
                       pv_devdata_prepared *dd, struct pv_bridge_err *e)
{
    char why[1024];
    set_actor(b, s);
    int rc = pv_devdata_prepare(b->ledger, &s->p->rc, s->uid, mes, dd, why, sizeof why);
    pv_ledger_set_actor(b->ledger, NULL);
    if (!rc)
        return 0;
    refuse(b, e, strncmp(why, "internal:", 9) ? 409 : 500, "%s", why);
    fail_session(b, s, "devdata", e->reason);
    return -1;
}

/* The PSK from the token (only after the reservation), keyed in the ledger (first=1; a resent
 * begin was keyed already), then message 2 and every frame through the verify. mes: the
 * station's MES values (JSON object text) or NULL. */
static int emit_begin(pv_bridge *b, struct pv_bridge_sess *s, pv_bridge_frame_sink sink, void *ctx,
                      int first, const char *mes, struct pv_bridge_err *e)
{
    const struct pv_bridge_product *p = s->p;
    pv_devdata_prepared dd;
    if (p->rc.devdata.present && device_data(b, s, mes, &dd, e))
        return -1;
    struct pv_install_spec spec = {
        .slot_size = p->stub_img.slot_size,
        .image_addr = p->rc.layout.boot_addr,
        .image = p->boot,
        .image_len = p->boot_len,
        .app_addr = p->rc.layout.app_addr,
        .app = p->app,
        .app_len = p->app_len,
        .keyslot_addr = p->rc.layout.keyslot_addr,
        .psize = (uint8_t)p->rc.power.psize, /* the recipe's supply range decides */
        .rdp = p->rc.protection.rdp_level == 2   ? PV_RDP_LEVEL2
               : p->rc.protection.rdp_level == 1 ? PV_RDP_LEVEL1
                                                 : PV_RDP_LEVEL0,
        .nwrp = ~p->rc.protection.write_protect & 0xFFFFFFu,
    };
    spec.keyslot.key_id = p->rc.keys.key_id;
    spec.keyslot.key_version = p->rc.keys.key_version;
    memcpy(spec.keyslot.signer_pub, p->signer_pub, 32);
    spec.sign_slot = pv_keystore_signer_sign; /* the slot is signed in the token */
    spec.sign_ctx = p->ks;
    if (p->rc.devdata.present) {
        spec.devdata = dd.body; /* signed in the token with the slot's key */
        spec.devdata_len = dd.body_len;
    }
    uint64_t t0 = pv_bridge_now_ms();
    if (pv_keystore_device_psk(p->ks, s->uid, spec.keyslot.psk)) {
        refuse(b, e, 500, "internal: token: %s", pv_keystore_error(p->ks));
        fail_session(b, s, "key", e->reason);
        return -1;
    }
    pv_bridge_observe(b->stats.hsm_bucket, &b->stats.hsm_sum, &b->stats.hsm_count,
                      (double)(pv_bridge_now_ms() - t0) / 1000.0);
    if (first) {
        pv_ledger_details kd = {
            .has_key = 1, .key_id = p->rc.keys.key_id, .key_version = p->rc.keys.key_version};
        set_actor(b, s);
        int lrc = pv_ledger_advance(b->ledger, s->uid, PV_LEDGER_KEYED, &kd);
        pv_ledger_set_actor(b->ledger, NULL);
        if (lrc != PV_LEDGER_OK) {
            pv_wipe(&spec.keyslot, sizeof spec.keyslot);
            refuse(b, e, lrc == PV_LEDGER_E_LEASED ? 409 : 500,
                   "%s: ledger: cannot record keyed: %s",
                   lrc == PV_LEDGER_E_LEASED ? "leased" : "internal", pv_ledger_error(b->ledger));
            fail_session(b, s, "key", e->reason);
            return -1;
        }
    }
    int frc = pv_install_frames_begin(s->f, &spec, sink, ctx);
    pv_wipe(&spec.keyslot, sizeof spec.keyslot);
    if (frc) {
        refuse(b, e, 500, "internal: %s", pv_install_frames_error(s->f));
        fail_session(b, s, "write", e->reason);
        return -1;
    }
    return 0;
}

/* A begin resent on the same message 1 (its first answer was lost on the way: nothing reached
 * the chip) is answered again, under a fresh responder key, in the same session, without a
 * second reservation. Once the session is past begin it is refused. */
static int begin_again(pv_bridge *b, struct pv_bridge_sess *s, const uint8_t *msg1, size_t msg1_len,
                       pv_bridge_frame_sink sink, void *ctx,
                       char session_id[PV_BRIDGE_SESSION_ID_LEN], struct pv_bridge_err *e)
{
    if (s->step != STEP_BEGUN)
        return refuse(b, e, 409,
                      "step_out_of_order: message 1 began session %s already, which is past its "
                      "first step (a replayed request)",
                      s->id);
    struct pv_stub_identity sid;
    struct pv_session_expect ex = {.allow_protected = true};
    pv_install_frames_free(s->f);
    if (!(s->f = pv_install_frames_new()) ||
        pv_install_frames_accept(s->f, s->p->noise_priv, msg1, msg1_len, &ex, &sid) ||
        memcmp(sid.uid, s->uid, 12) != 0) {
        refuse(b, e, 500, "internal: message 1 of session %s does not open again", s->id);
        fail_session(b, s, "stub", e->reason);
        return -1;
    }
    if (emit_begin(b, s, sink, ctx, 0, NULL, e))
        return -1;
    memcpy(session_id, s->id, PV_BRIDGE_SESSION_ID_LEN);
    return 0;
}

int pv_bridge_begin(pv_bridge *b, const struct pv_bridge_station *st, const char *product,
                    const char *batch, const struct pv_bridge_identity *id, uint32_t mbox_flags,
                    const uint8_t *msg1, size_t msg1_len, pv_bridge_frame_sink sink, void *ctx,
                    char session_id[PV_BRIDGE_SESSION_ID_LEN], struct pv_bridge_err *e)
{
    struct pv_bridge_product *p;
    (void)mbox_flags;
    session_id[0] = 0;
    if (lookup(b, st, product, batch, &p, e))
        return -1;
    pv_bridge_expire(b);
    uint8_t m1sha[32];
    pv_sha256(m1sha, msg1, msg1_len);
    for (unsigned i = 0; i < b->n_sess; i++) {
        struct pv_bridge_sess *o = &b->sess[i];
        if (o->step != STEP_FREE && strcmp(o->station, st->name) == 0 &&
            memcmp(o->msg1_sha, m1sha, 32) == 0)
            return begin_again(b, o, msg1, msg1_len, sink, ctx, session_id, e);
    }
    /* a free slot, else the one that ended longest ago (kept only to answer a resend) */
    struct pv_bridge_sess *s = NULL;
    for (unsigned i = 0; i < b->n_sess; i++) {
        struct pv_bridge_sess *o = &b->sess[i];
        if (o->step == STEP_FREE) {
            s = o;
            break;
        }
        if ((o->step == STEP_LOCKED || o->step == STEP_EXPIRED) &&
            (!s || o->ended_ms < s->ended_ms))
            s = o;
    }
    if (s && s->step != STEP_FREE) {
        pv_install_frames_free(s->f);
        memset(s, 0, sizeof *s);
    }
    if (!s)
        return refuse(b, e, 503, "busy: %u sessions in flight: retry in a few seconds", b->n_sess);
    uint8_t rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1 || !(s->f = pv_install_frames_new()))
        return refuse(b, e, 500, "internal: no randomness or memory for a session");
    hex(s->id, rnd, sizeof rnd);
    snprintf(s->station, sizeof s->station, "%s", st->name);
    s->p = p;
    s->started_ms = pv_bridge_now_ms();
    memcpy(s->msg1_sha, m1sha, 32);

    /* Message 1 opens only under the bridge's key; what it says is checked before anything. */
    struct pv_stub_identity sid;
    struct pv_session_expect ex = {.allow_protected = true};
    if (pv_install_frames_accept(s->f, p->noise_priv, msg1, msg1_len, &ex, &sid)) {
        refuse(b, e, 422, "stub_failed: %s", pv_install_frames_error(s->f));
        goto drop;
    }
    if (check_identity(b, p, &sid, id, e))
        goto drop;
    memcpy(s->uid, sid.uid, 12);
    if (reserve(b, p, s, e))
        goto drop;

    /* Reserved and leased: the PSK may now come out of the token. */
    if (emit_begin(b, s, sink, ctx, 1, id->mes, e))
        return -1;
    s->step = STEP_BEGUN;
    memcpy(session_id, s->id, PV_BRIDGE_SESSION_ID_LEN);
    return 0;
drop:
    /* refused before the reservation: nothing was written */
    pv_ledger_set_actor(b->ledger, NULL);
    b->stats.outcomes[OUT_REFUSED]++;
    pv_install_frames_free(s->f);
    memset(s, 0, sizeof *s);
    return -1;
}

struct keep_ctx {
    struct pv_bridge_sess *s;
    pv_bridge_frame_sink sink;
    void *ctx;
};

/* Keeps a copy of the final frame (sealed, so nothing secret) and passes it on. */
static int keep_final(void *ctx, const uint8_t *frame, size_t len)
{
    struct keep_ctx *k = ctx;
    if (len > sizeof k->s->final_frame)
        return -1;
    memcpy(k->s->final_frame, frame, len);
    k->s->final_len = len;
    return k->sink(k->ctx, frame, len);
}

int pv_bridge_verified(pv_bridge *b, const struct pv_bridge_station *st, const char *session_id,
                       const uint8_t *reply, size_t reply_len, pv_bridge_frame_sink sink, void *ctx,
                       struct pv_bridge_err *e)
{
    struct pv_bridge_sess *s = find_session(b, st, session_id, e);
    if (!s)
        return -1;
    uint8_t sha[32];
    pv_sha256(sha, reply, reply_len);
    if (s->step == STEP_VERIFIED && memcmp(sha, s->verify_sha, 32) == 0 && s->final_len)
        return sink(ctx, s->final_frame, s->final_len) ? -1 : 0; /* resent: its answer again */
    if (s->step != STEP_BEGUN)
        return refuse(b, e, 409,
                      "step_out_of_order: session %s has answered its verify already (a "
                      "replayed request)",
                      s->id);
    if (pv_install_frames_check_verify(s->f, reply, reply_len)) {
        refuse(b, e, 422, "stub_failed: %s", pv_install_frames_error(s->f));
        fail_session(b, s, "verify", e->reason);
        return -1;
    }
    pv_ledger_details d = {.image_digest = s->p->boot_sha256};
    set_actor(b, s);
    /* written and verified in one transaction: one commit */
    int rc = pv_ledger_advance_through(b->ledger, s->uid, PV_LEDGER_VERIFIED, &d);
    if (rc != PV_LEDGER_OK) {
        refuse(b, e, rc == PV_LEDGER_E_LEASED ? 409 : 500,
               "%s: ledger: cannot record written and verified: %s",
               rc == PV_LEDGER_E_LEASED ? "leased" : "internal", pv_ledger_error(b->ledger));
        fail_session(b, s, "verify", e->reason);
        return -1;
    }
    pv_ledger_set_actor(b->ledger, NULL);
    /* Recorded verified: only now the final frame (the lock), kept for a resent request. */
    memcpy(s->verify_sha, sha, 32);
    struct keep_ctx kc = {s, sink, ctx};
    if (pv_install_frames_final(s->f, keep_final, &kc)) {
        refuse(b, e, 500, "internal: %s", pv_install_frames_error(s->f));
        fail_session(b, s, "lock", e->reason);
        return -1;
    }
    s->step = STEP_VERIFIED;
    return 0;
}

int pv_bridge_lock(pv_bridge *b, const struct pv_bridge_station *st, const char *session_id,
                   const uint8_t *reply, size_t reply_len, const struct pv_bridge_observed *obs,
                   struct pv_bridge_outcome *out, struct pv_bridge_err *e)
{
    memset(out, 0, sizeof *out);
    struct pv_bridge_sess *s = find_session(b, st, session_id, e);
    if (!s)
        return -1;
    /* what the lock says: the stub's reply and the level observed */
    uint8_t sha[32];
    pv_sha256_ctx h;
    uint8_t lvl = (uint8_t)obs->rdp_level;
    pv_sha256_init(&h);
    pv_sha256_update(&h, reply, reply_len);
    pv_sha256_update(&h, &lvl, 1);
    pv_sha256_final(&h, sha);
    if (s->step == STEP_LOCKED && memcmp(sha, s->lock_sha, 32) == 0) {
        *out = s->outcome; /* resent: the outcome recorded the first time */
        return 0;
    }
    if (s->step != STEP_VERIFIED)
        return refuse(b, e, 409, "step_out_of_order: session %s has %s", s->id,
                      s->step == STEP_LOCKED ? "ended with its lock recorded"
                                             : "no final frame out yet (verify first)");
    if (pv_install_frames_check_final(s->f, reply, reply_len)) {
        refuse(b, e, 422, "stub_failed: %s", pv_install_frames_error(s->f));
        fail_session(b, s, "lock", e->reason);
        return -1;
    }
    const pv_recipe *rc = &s->p->rc;
    if (obs->rdp_level != rc->protection.rdp_level) {
        refuse(b, e, 409,
               "lock_not_confirmed: after the reset the station saw RDP Level %u (%s), recipe "
               "%s asks for Level %u; the chip is not recorded locked",
               obs->rdp_level, obs->method ? obs->method : "no method given", rc->name,
               rc->protection.rdp_level);
        fail_session(b, s, "lock", e->reason);
        return -1;
    }
    hex(out->uid_hex, s->uid, 12);
    out->rdp_level = obs->rdp_level;
    snprintf(out->batch, sizeof out->batch, "%s", rc->batch);
    if (rc->protection.rdp_level > 0) {
        pv_ledger_details d = {.image_digest = s->p->boot_sha256, .rdp_level = obs->rdp_level};
        set_actor(b, s);
        int lrc = pv_ledger_advance(b->ledger, s->uid, PV_LEDGER_LOCKED, &d);
        pv_ledger_set_actor(b->ledger, NULL);
        if (lrc != PV_LEDGER_OK) {
            refuse(b, e, 500, "internal: ledger: the chip is locked but the ledger refused: %s",
                   pv_ledger_error(b->ledger));
            fail_session(b, s, "lock", e->reason);
            return -1;
        }
    }
    pv_ledger_batch(b->ledger, rc->batch, &out->quota, &out->used);
    pv_bridge_observe(b->stats.duration_bucket, &b->stats.duration_sum, &b->stats.duration_count,
                      (double)(pv_bridge_now_ms() - s->started_ms) / 1000.0);
    b->stats.outcomes[OUT_LOCKED]++;
    pv_install_frames_free(s->f);
    s->f = NULL;
    s->outcome = *out;
    memcpy(s->lock_sha, sha, 32);
    s->step = STEP_LOCKED;
    s->ended_ms = pv_bridge_now_ms();
    return 0;
}

int pv_bridge_fail(pv_bridge *b, const struct pv_bridge_station *st, const char *session_id,
                   const char *phase, const char *reason, struct pv_bridge_err *e)
{
    struct pv_bridge_sess *s = find_session(b, st, session_id, e);
    if (!s)
        return -1;
    if (s->step == STEP_LOCKED)
        return refuse(b, e, 409, "step_out_of_order: session %s has ended with its lock recorded",
                      s->id);
    char r[PV_LEDGER_REASON_MAX];
    snprintf(r, sizeof r, "station: %s", reason && *reason ? reason : "(no reason given)");
    /* control characters never reach the ledger */
    for (char *c = r; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    /* the phase is one of the known names, or "station" */
    const char *ph = "station";
    for (unsigned i = 0; phase && i < PV_BRIDGE_PHASES; i++)
        if (strcmp(phase, pv_bridge_phase_names[i]) == 0)
            ph = pv_bridge_phase_names[i];
    fail_session(b, s, ph, r);
    return 0;
}

struct unconfirmed_walk {
    const char *station;
    int (*fn)(void *ctx, const pv_ledger_row *row, int mine);
    void *ctx;
};

static int unconfirmed_row(void *ctx, const pv_ledger_row *row)
{
    struct unconfirmed_walk *w = ctx;
    if (row->state != PV_LEDGER_VERIFIED)
        return 0;
    return w->fn(w->ctx, row, strcmp(row->station, w->station) == 0);
}

int pv_bridge_unconfirmed(pv_bridge *b, const struct pv_bridge_station *st, const char *product,
                          const char *batch,
                          int (*fn)(void *ctx, const pv_ledger_row *row, int mine), void *ctx,
                          struct pv_bridge_err *e)
{
    struct pv_bridge_product *p;
    if (lookup(b, st, product, batch, &p, e))
        return -1;
    struct unconfirmed_walk w = {st->name, fn, ctx};
    int rc = pv_ledger_list(b->ledger, p->rc.batch, unconfirmed_row, &w);
    if (rc < 0)
        return refuse(b, e, 500, "internal: ledger: %s", pv_ledger_error(b->ledger));
    return 0;
}
