/* The bridge's lifetime and its sessions table (bridge.h): open the products and the ledger,
 * check stations against the registry, expire sessions, report health. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge_internal.h"
#include "crypto/wipe.h"
#include "update_bridge.h"

uint64_t pv_bridge_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

pv_ledger *pv_bridge_ledger(pv_bridge *b)
{
    return b->ledger;
}

pv_bridge *pv_bridge_open(const struct pv_bridge_config *cfg, char *err, size_t err_len)
{
    if (!cfg->n_recipes || cfg->n_recipes > PV_BRIDGE_PRODUCTS_MAX) {
        snprintf(err, err_len, "bridge: %u products configured, 1..%u allowed", cfg->n_recipes,
                 PV_BRIDGE_PRODUCTS_MAX);
        return NULL;
    }
    pv_bridge *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, err_len, "bridge: out of memory");
        return NULL;
    }
    b->cfg = *cfg;
    b->ttl_s = cfg->session_ttl_s ? cfg->session_ttl_s : PV_BRIDGE_TTL_DEFAULT_S;
    b->n_sess = cfg->max_sessions ? cfg->max_sessions : PV_BRIDGE_SESSIONS_MAX;
    if (!(b->sess = calloc(b->n_sess, sizeof *b->sess))) {
        snprintf(err, err_len, "bridge: out of memory for %u sessions", b->n_sess);
        free(b);
        return NULL;
    }
    for (unsigned i = 0; i < cfg->n_recipes; i++) {
        struct pv_bridge_product *p = pv_bridge_product_load(cfg, cfg->recipes[i], err, err_len);
        if (!p)
            goto fail;
        if (pv_bridge_releases_load(cfg, p, err, err_len)) {
            pv_bridge_product_free(p);
            goto fail;
        }
        for (unsigned j = 0; j < b->n_prod; j++) {
            const pv_recipe *o = &b->prod[j]->rc;
            if (strcmp(o->product, p->rc.product) == 0 && strcmp(o->batch, p->rc.batch) == 0) {
                snprintf(err, err_len, "recipes %s and %s both define product %s batch %s", o->file,
                         p->rc.file, o->product, o->batch);
                pv_bridge_product_free(p);
                goto fail;
            }
            if (strcmp(b->prod[0]->audit_key_id, p->audit_key_id) != 0) {
                snprintf(err, err_len,
                         "recipes %s and %s name different audit keys: one ledger has one audit "
                         "key (keys.audit_key)",
                         b->prod[0]->rc.file, p->rc.file);
                pv_bridge_product_free(p);
                goto fail;
            }
        }
        b->prod[b->n_prod++] = p;
    }
    char lerr[512];
    const char *url = cfg->ledger && *cfg->ledger ? cfg->ledger : PV_LEDGER_DEFAULT_PATH;
    if (!(b->ledger = pv_ledger_open(url, PV_LEDGER_CREATE, lerr, sizeof lerr))) {
        snprintf(err, err_len, "ledger %s: %s", url, lerr);
        goto fail;
    }
    pv_ledger_signer sig = {
        .key_id = b->prod[0]->audit_key_id, .sign = pv_keystore_audit_sign, .ctx = b->prod[0]->ks};
    pv_ledger_set_signer(b->ledger, &sig);
    return b;
fail:
    pv_bridge_close(b);
    return NULL;
}

static void end_session(struct pv_bridge_sess *s)
{
    pv_install_frames_free(s->f);
    memset(s, 0, sizeof *s);
}

void pv_bridge_close(pv_bridge *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < b->n_sess; i++) {
        struct pv_bridge_sess *s = &b->sess[i];
        if (s->step == STEP_BEGUN || s->step == STEP_VERIFIED) {
            pv_ledger_actor who = {.station = s->station, .session = s->id};
            pv_ledger_set_actor(b->ledger, &who);
            pv_ledger_fail(b->ledger, s->uid, "session", "bridge stopped during the session");
        }
        end_session(s);
    }
    pv_bridge_update_expire(b, 1);
    if (b->ledger)
        pv_ledger_close(b->ledger);
    for (unsigned i = 0; i < b->n_prod; i++)
        pv_bridge_product_free(b->prod[i]);
    free(b->sess);
    pv_wipe(b, sizeof *b);
    free(b);
}

void pv_bridge_expire(pv_bridge *b)
{
    uint64_t now = pv_bridge_now_ms();
    pv_bridge_update_expire(b, 0);
    for (unsigned i = 0; i < b->n_sess; i++) {
        struct pv_bridge_sess *s = &b->sess[i];
        if ((s->step == STEP_BEGUN || s->step == STEP_VERIFIED) &&
            now - s->started_ms > (uint64_t)b->ttl_s * 1000u) {
            char why[96];
            snprintf(why, sizeof why, "session expired after %u s", b->ttl_s);
            pv_ledger_actor who = {.station = s->station, .session = s->id};
            pv_ledger_set_actor(b->ledger, &who);
            pv_ledger_fail(b->ledger, s->uid, "session", why);
            pv_ledger_set_actor(b->ledger, NULL);
            b->stats.outcomes[OUT_EXPIRED]++;
            pv_install_frames_free(s->f);
            s->f = NULL;
            s->step = STEP_EXPIRED;
            s->ended_ms = now;
        } else if ((s->step == STEP_EXPIRED || s->step == STEP_LOCKED) &&
                   now - s->ended_ms > 600000u) {
            end_session(s); /* an ended id answers for ten minutes, then 404 */
        }
    }
}

unsigned pv_bridge_sessions(const pv_bridge *b)
{
    unsigned n = 0;
    for (unsigned i = 0; i < b->n_sess; i++)
        n += b->sess[i].step == STEP_BEGUN || b->sess[i].step == STEP_VERIFIED;
    return n;
}

int pv_bridge_check_station(pv_bridge *b, const struct pv_bridge_station *st,
                            struct pv_bridge_err *e)
{
    enum pv_bridge_role role;
    return pv_bridge_station_role(b, st, &role, e);
}

int pv_bridge_station_role(pv_bridge *b, const struct pv_bridge_station *st,
                           enum pv_bridge_role *role, struct pv_bridge_err *e)
{
    *role = PV_BRIDGE_ROLE_STATION;
    if (b->cfg.local)
        return 0;
    pv_ledger_station reg;
    int rc = pv_ledger_station_get(b->ledger, st->name, &reg);
    if (rc == PV_LEDGER_OK && reg.revoked_at[0]) {
        e->status = 403;
        snprintf(e->error, sizeof e->error, "station_revoked");
        snprintf(e->reason, sizeof e->reason, "station '%s' was revoked at %s (%.200s)", st->name,
                 reg.revoked_at, reg.revoke_reason);
        pv_bridge_count_refusal(b, e->error);
        return -1;
    }
    if (rc == PV_LEDGER_OK && st->cert_sha256 && strcmp(reg.cert_sha256, st->cert_sha256) == 0) {
        if (strcmp(reg.rights, PV_BRIDGE_OPERATOR_RIGHTS) == 0)
            *role = PV_BRIDGE_ROLE_OPERATOR;
        return 0;
    }
    e->status = rc == PV_LEDGER_OK || rc == PV_LEDGER_E_UNKNOWN ? 403 : 500;
    snprintf(e->error, sizeof e->error, e->status == 403 ? "station_unknown" : "internal");
    if (rc == PV_LEDGER_OK)
        snprintf(e->reason, sizeof e->reason,
                 "station '%s' presents a certificate (sha256 %.16s...) other than the one "
                 "enrolled under that name (%.16s...): enroll it again",
                 st->name, st->cert_sha256 ? st->cert_sha256 : "none", reg.cert_sha256);
    else if (rc == PV_LEDGER_E_UNKNOWN)
        snprintf(e->reason, sizeof e->reason,
                 "station '%s' is not enrolled on this bridge: hsm-bridge station enroll %s "
                 "--csr FILE",
                 st->name, st->name);
    else
        snprintf(e->reason, sizeof e->reason, "ledger: %s", pv_ledger_error(b->ledger));
    pv_bridge_count_refusal(b, e->error);
    return -1;
}

int pv_bridge_refusev(struct pv_bridge *b, struct pv_bridge_err *e, int status, const char *fmt,
                      va_list ap)
{
    char buf[600];
    vsnprintf(buf, sizeof buf, fmt, ap);
    const char *colon = strchr(buf, ':');
    size_t n = colon ? (size_t)(colon - buf) : strlen(buf);
    if (n >= sizeof e->error)
        n = sizeof e->error - 1;
    e->status = status;
    memcpy(e->error, buf, n);
    e->error[n] = 0;
    snprintf(e->reason, sizeof e->reason, "%s", colon ? colon + 2 : "");
    pv_bridge_count_refusal(b, e->error);
    return -1;
}

int pv_bridge_health(pv_bridge *b, char *why, size_t len)
{
    int64_t counts[6];
    if (pv_ledger_state_counts(b->ledger, counts) != PV_LEDGER_OK) {
        snprintf(why, len, "ledger: %s", pv_ledger_error(b->ledger));
        return -1;
    }
    uint8_t pub[32];
    for (unsigned i = 0; i < b->n_prod; i++)
        if (pv_keystore_signer_public(b->prod[i]->ks, pub)) {
            snprintf(why, len, "token: %s", pv_keystore_error(b->prod[i]->ks));
            return -1;
        }
    snprintf(why, len, "ok");
    return 0;
}
