/* The bridge's update service (update_bridge.h): the checks before anything is derived or sent,
 * the PSK from the token, the release policy's pick, a ledger row for every attempt (refusals
 * included), the session table with its TTL. The cryptography is update_session.c's. */
#include "update_bridge.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_internal.h"
#include "crypto/wipe.h"
#include "image/image.h"
#include "update_session.h"

#define RESULTS (PV_UPD_RESULT_MAX + 2) /* the device's results, and abandoned */

struct upd_sess {
    int used;
    char id[PV_BRIDGE_SESSION_ID_LEN];
    char station[PV_LEDGER_TEXT_MAX];
    int64_t row; /* the ledger's attempt */
    uint64_t started_ms;
    struct pv_update_session *s;
    struct pv_bridge_update_offer offer;
};

struct pv_bridge_updates {
    struct upd_sess *sess;
    unsigned n;
    uint64_t results[RESULTS];
};

static void hex(char *out, const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", v[i]);
}

static const char *result_name(unsigned r)
{
    return r <= PV_UPD_RESULT_MAX ? pv_upd_result_name((int)r) : "abandoned";
}

/* The attempt's ledger row; a refusal ends it at once. ephemeral NULL: none. */
static int record(pv_bridge *b, pv_ledger_update *u, const char *station, const char *result,
                  const char *reason)
{
    snprintf(u->station, sizeof u->station, "%s", station);
    snprintf(u->result, sizeof u->result, "%.*s", (int)sizeof u->result - 1, result);
    snprintf(u->reason, sizeof u->reason, "%s", reason);
    return pv_ledger_update_record(b->ledger, u);
}

/* Refuses with status and error code, and records the refusal (when u is given). */
__attribute__((format(printf, 6, 7))) static int refuse(pv_bridge *b, struct pv_bridge_err *e,
                                                        pv_ledger_update *u, const char *station,
                                                        int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pv_bridge_refusev(b, e, status, fmt, ap);
    va_end(ap);
    if (u) {
        u->session[0] = 0;
        if (record(b, u, station, e->error, e->reason) != PV_LEDGER_OK)
            snprintf(e->reason + strlen(e->reason), sizeof e->reason - strlen(e->reason),
                     " (and the ledger did not record it: %s)", pv_ledger_error(b->ledger));
    }
    return -1;
}

static struct pv_bridge_updates *table(pv_bridge *b)
{
    if (!b->upd && (b->upd = calloc(1, sizeof *b->upd)) != NULL) {
        b->upd->n = b->n_sess;
        if (!(b->upd->sess = calloc(b->upd->n, sizeof *b->upd->sess))) {
            free(b->upd);
            b->upd = NULL;
        }
    }
    return b->upd;
}

static void end(struct upd_sess *s)
{
    pv_update_session_free(s->s);
    memset(s, 0, sizeof *s);
}

/* The product this bridge serves the device's batch with (the ledger row's batch). */
static struct pv_bridge_product *product_of(pv_bridge *b, const pv_ledger_row *row)
{
    for (unsigned i = 0; i < b->n_prod; i++)
        if (strcmp(b->prod[i]->rc.batch, row->batch) == 0)
            return b->prod[i];
    return NULL;
}

int pv_bridge_update_begin(pv_bridge *b, const struct pv_bridge_station *st, const uint8_t *msg1,
                           size_t msg1_len, uint8_t msg2[PV_UPD_MSG2_LEN],
                           char session_id[PV_BRIDGE_SESSION_ID_LEN],
                           struct pv_bridge_update_offer *out, struct pv_bridge_err *e)
{
    pv_upd_hello h;
    char why[300], vr[14], vo[14];
    session_id[0] = 0;
    memset(out, 0, sizeof *out);
    pv_bridge_expire(b);
    struct pv_bridge_updates *t = table(b);
    if (!t)
        return refuse(b, e, NULL, st->name, 500, "internal: out of memory");
    if (pv_update_session_hello(msg1, msg1_len, &h, why, sizeof why) != PV_UPDATE_OK)
        return refuse(b, e, NULL, st->name, 400, "bad_message: %s", why);
    pv_ledger_update u;
    memset(&u, 0, sizeof u);
    hex(u.uid_hex, h.uid, 12);
    u.from_version = h.app_version;
    u.floor = h.floor;
    memcpy(out->uid_hex, u.uid_hex, sizeof out->uid_hex);
    out->running = h.app_version;
    out->floor = h.floor;

    pv_ledger_row row;
    int lrc = pv_ledger_get(b->ledger, h.uid, &row);
    if (lrc == PV_LEDGER_E_UNKNOWN)
        return refuse(b, e, &u, st->name, 403,
                      "unknown_uid: UID %s was never provisioned by this bridge's ledger; "
                      "nothing is derived for it",
                      u.uid_hex);
    if (lrc != PV_LEDGER_OK)
        return refuse(b, e, NULL, st->name, 500, "internal: ledger: %s",
                      pv_ledger_error(b->ledger));
    snprintf(u.batch, sizeof u.batch, "%s", row.batch);
    if (row.state != PV_LEDGER_LOCKED)
        return refuse(b, e, &u, st->name, 403,
                      "not_locked: UID %s is %s in the ledger, not locked: finish its "
                      "provisioning first",
                      u.uid_hex, pv_ledger_state_name(row.state));
    struct pv_bridge_product *p = product_of(b, &row);
    if (!p)
        return refuse(b, e, &u, st->name, 404,
                      "unknown_product: UID %s belongs to batch %s, which this bridge does not "
                      "serve (no recipe of that batch in its products)",
                      u.uid_hex, row.batch);
    snprintf(u.product, sizeof u.product, "%s", p->rc.product);
    snprintf(out->product, sizeof out->product, "%s", p->rc.product);
    snprintf(out->batch, sizeof out->batch, "%s", row.batch);
    if (!pv_bridge_may_run(b, st->name, p->rc.product, row.batch))
        return refuse(b, e, &u, st->name, 403,
                      "no_rights: station '%s' may not serve product '%s' batch '%s' (updates "
                      "use the provisioning rights: hsm-bridge station enroll --rights %s/%s)",
                      st->name, p->rc.product, row.batch, p->rc.product, row.batch);

    /* The PSK inside the token, message 1 read under it, the PSK wiped. */
    uint8_t psk[32], eph[32];
    struct pv_update_session *s = pv_update_session_new();
    if (!s)
        return refuse(b, e, NULL, st->name, 500, "internal: out of memory");
    if (pv_keystore_device_psk(p->ks, h.uid, psk)) {
        pv_update_session_free(s);
        return refuse(b, e, NULL, st->name, 500, "internal: token: %s", pv_keystore_error(p->ks));
    }
    int arc = pv_update_session_accept(s, psk, msg1, msg1_len, eph);
    pv_wipe(psk, sizeof psk);
    if (arc != PV_UPDATE_OK) {
        snprintf(why, sizeof why, "%s", pv_update_session_error(s));
        pv_update_session_free(s);
        if (arc == PV_UPDATE_E_AUTH)
            return refuse(b, e, &u, st->name, 403,
                          "psk_mismatch: message 1 claiming UID %s does not authenticate under "
                          "that device's PSK (another device's key, or a changed HELLO); "
                          "nothing offered",
                          u.uid_hex);
        return refuse(b, e, &u, st->name, 400, "bad_message: %s", why);
    }
    hex(u.ephemeral, eph, 32);

    /* The release policy: the pinned or latest image; the same version as running: nothing. */
    const struct pv_bridge_release_image *rel = pv_bridge_release_pick(p);
    if (!rel) {
        pv_update_session_free(s);
        snprintf(why, sizeof why,
                 "the release policy has no image for product %s batch %s (releases: in the "
                 "bridge configuration)",
                 p->rc.product, row.batch);
        lrc = record(b, &u, st->name, "no_release", why);
        if (lrc == PV_LEDGER_E_EXISTS)
            goto replay;
        if (lrc != PV_LEDGER_OK)
            return refuse(b, e, NULL, st->name, 500, "internal: ledger: %s",
                          pv_ledger_error(b->ledger));
        return refuse(b, e, NULL, st->name, 404, "no_release: %s", why);
    }
    int none = rel->version == h.app_version;
    u.offered_version = none ? 0 : rel->version;
    if (!none)
        hex(u.image_sha256, rel->sha256, 32);
    pv_image_version_str(vr, h.app_version);
    pv_image_version_str(vo, rel->version);
    if (none)
        snprintf(why, sizeof why, "runs %s, the release policy's: nothing newer", vr);
    else
        snprintf(why, sizeof why, "offered %s (runs %s, floor %08x)", vo,
                 h.app_version ? vr : "nothing", (unsigned)h.floor);

    /* A session slot; then the row with the ephemeral key: a key seen before is a replay. */
    struct upd_sess *slot = NULL;
    for (unsigned i = 0; i < t->n && !slot; i++)
        if (!t->sess[i].used)
            slot = &t->sess[i];
    if (!slot) {
        pv_update_session_free(s);
        return refuse(b, e, NULL, st->name, 503,
                      "busy: all %u session slots are in use; retry in a few seconds", t->n);
    }
    uint8_t idb[16];
    if (RAND_bytes(idb, sizeof idb) != 1) {
        pv_update_session_free(s);
        return refuse(b, e, NULL, st->name, 500, "internal: no random bytes for a session id");
    }
    hex(u.session, idb, 16);
    lrc = record(b, &u, st->name, "begun", why);
    if (lrc == PV_LEDGER_E_EXISTS) {
        pv_update_session_free(s);
        goto replay;
    }
    if (lrc != PV_LEDGER_OK) {
        pv_update_session_free(s);
        return refuse(b, e, NULL, st->name, 500, "internal: ledger: %s",
                      pv_ledger_error(b->ledger));
    }
    if (pv_update_session_offer(s, none ? NULL : rel->image, none ? 0 : rel->len,
                                p->rc.layout.app_addr, PV_UPD_CHUNK_MAX, msg2) != PV_UPDATE_OK) {
        snprintf(why, sizeof why, "%s", pv_update_session_error(s));
        pv_update_session_free(s);
        pv_ledger_update_finish(b->ledger, u.id, "internal", why, 0, 0);
        return refuse(b, e, NULL, st->name, 500, "internal: %s", why);
    }
    slot->used = 1;
    slot->s = s;
    slot->row = u.id;
    slot->started_ms = pv_bridge_now_ms();
    memcpy(slot->id, u.session, sizeof slot->id);
    snprintf(slot->station, sizeof slot->station, "%s", st->name);
    const pv_upd_offer *o = pv_update_session_offered(s);
    out->kind = o->kind;
    out->version = o->version;
    out->size = o->size;
    out->chunks = pv_update_session_chunks(s);
    pv_update_session_stream(s, &out->stream_len);
    slot->offer = *out;
    memcpy(session_id, slot->id, PV_BRIDGE_SESSION_ID_LEN);
    return 0;
replay:
    u.ephemeral[0] = 0;
    u.offered_version = 0;
    u.image_sha256[0] = 0;
    return refuse(b, e, &u, st->name, 409,
                  "replay: message 1 from UID %s reuses an ephemeral key seen before (a replayed "
                  "session); nothing offered",
                  u.uid_hex);
}

static struct upd_sess *find(pv_bridge *b, const struct pv_bridge_station *st, const char *id,
                             struct pv_bridge_err *e)
{
    pv_bridge_expire(b);
    for (unsigned i = 0; b->upd && id && i < b->upd->n; i++) {
        struct upd_sess *s = &b->upd->sess[i];
        if (s->used && strcmp(s->id, id) == 0 && strcmp(s->station, st->name) == 0)
            return s;
    }
    refuse(b, e, NULL, st->name, 404,
           "unknown_session: no update session %s for station '%s' (never begun, reported, or "
           "abandoned after %u s)",
           id ? id : "", st->name, b->ttl_s);
    return NULL;
}

int pv_bridge_update_stream(pv_bridge *b, const struct pv_bridge_station *st,
                            const char *session_id, const uint8_t **data, size_t *len,
                            struct pv_bridge_err *e)
{
    struct upd_sess *s = find(b, st, session_id, e);
    if (!s)
        return -1;
    *data = pv_update_session_stream(s->s, len);
    if (!*data)
        return refuse(b, e, NULL, st->name, 409,
                      "nothing_offered: session %s offered nothing newer; there is no stream",
                      session_id);
    return 0;
}

int pv_bridge_update_report(pv_bridge *b, const struct pv_bridge_station *st,
                            const char *session_id, const uint8_t *msg, size_t len,
                            pv_upd_report *r, struct pv_bridge_err *e)
{
    struct upd_sess *s = find(b, st, session_id, e);
    if (!s)
        return -1;
    int rc = pv_update_session_report(s->s, msg, len, r);
    if (rc != PV_UPDATE_OK)
        return refuse(b, e, NULL, st->name, 400, "report_auth: %s", pv_update_session_error(s->s));
    char reason[200], v[14];
    pv_image_version_str(v, r->app_version);
    snprintf(reason, sizeof reason, "device reports %s: %s runs, %u bytes written",
             pv_upd_result_name(r->result), r->app_version ? v : "no application",
             (unsigned)r->written);
    int lrc = pv_ledger_update_finish(b->ledger, s->row, pv_upd_result_name(r->result), reason,
                                      r->app_version, r->written);
    b->upd->results[r->result <= PV_UPD_RESULT_MAX ? r->result : RESULTS - 1]++;
    end(s);
    if (lrc != PV_LEDGER_OK)
        return refuse(b, e, NULL, st->name, 500, "internal: ledger: %s",
                      pv_ledger_error(b->ledger));
    return 0;
}

void pv_bridge_update_expire(pv_bridge *b, int all)
{
    if (!b->upd)
        return;
    uint64_t now = pv_bridge_now_ms();
    for (unsigned i = 0; i < b->upd->n; i++) {
        struct upd_sess *s = &b->upd->sess[i];
        if (!s->used || (!all && now - s->started_ms <= (uint64_t)b->ttl_s * 1000u))
            continue;
        char why[96];
        snprintf(why, sizeof why,
                 all ? "bridge stopped before the device's report"
                     : "no report within the session's %u s: the device stays in update mode",
                 b->ttl_s);
        if (b->ledger)
            pv_ledger_update_finish(b->ledger, s->row, "abandoned", why, 0, 0);
        b->upd->results[RESULTS - 1]++;
        end(s);
    }
    if (all) {
        free(b->upd->sess);
        free(b->upd);
        b->upd = NULL;
    }
}

unsigned pv_bridge_update_sessions(const pv_bridge *b)
{
    unsigned n = 0;
    for (unsigned i = 0; b->upd && i < b->upd->n; i++)
        n += b->upd->sess[i].used != 0;
    return n;
}

void pv_bridge_update_metrics(pv_bridge *b, FILE *out)
{
    fprintf(out, "# HELP hsm_bridge_updates_total Firmware updates ended, by the device's result "
                 "(abandoned: no report by the TTL).\n# TYPE hsm_bridge_updates_total counter\n");
    for (unsigned i = 0; i < RESULTS; i++)
        fprintf(out, "hsm_bridge_updates_total{result=\"%s\"} %llu\n", result_name(i),
                (unsigned long long)(b->upd ? b->upd->results[i] : 0));
    fprintf(out,
            "# HELP hsm_bridge_updates_in_flight Update sessions waiting for a report.\n"
            "# TYPE hsm_bridge_updates_in_flight gauge\nhsm_bridge_updates_in_flight %u\n",
            pv_bridge_update_sessions(b));
}
