/* Per-device data in the ledger (docs/device-data.md, docs/ledger.md "Device data"): a serial
 * from a named counter, a MAC address from a pool and the MES's values, allocated once per UID in
 * one transaction with its audit entry ("devdata"), which verify replays. Values only grow: the
 * next serial is one above the highest given from its counter, the next MAC one above the highest
 * given from the pool's range, so nothing given (to a chip that failed, too) is given again, and
 * concurrent stations and bridges are serialized by the ledger's write lock. A rerun of the same
 * UID gets its own values back. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

void pv_ledger_mac_text(uint64_t mac, char out[18])
{
    for (int i = 0; i < 6; i++)
        snprintf(out + 3 * i, 4, i < 5 ? "%02x:" : "%02x", (unsigned)(mac >> (40 - 8 * i)) & 0xffu);
}

static void hex_of(const uint8_t uid[PV_LEDGER_UID_LEN], char out[2 * PV_LEDGER_UID_LEN + 1])
{
    for (unsigned i = 0; i < PV_LEDGER_UID_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", uid[i]);
}

struct alloc {
    const char *hex;
    const pv_ledger_devdata_req *req;
    char *mes; /* canonical JSON */
    pv_ledger_devdata *out;
};

static json_t *opt(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static int alloc_body(pv_ledger *l, void *arg)
{
    struct alloc *a = arg;
    const pv_ledger_devdata_req *q = a->req;
    pv_store *s = l->store;
    pv_ledger_row row;
    pv_ledger_devdata *d = a->out;
    int rc = s->ops->device_get(s, a->hex, &row);
    if (rc == PV_LEDGER_E_UNKNOWN)
        return pv_ledger_fail_msg(l, rc,
                                  "ledger: UID %s is not reserved: device data is allocated "
                                  "after the reservation; nothing written",
                                  a->hex);
    if (rc)
        return rc;
    if ((rc = pv_ledger_hold_lease(l, &row)))
        return rc;
    rc = s->ops->devdata_get(s, a->hex, d);
    if (rc == PV_LEDGER_OK)
        return PV_LEDGER_RESUMED; /* the UID keeps what it was given */
    if (rc != PV_LEDGER_E_UNKNOWN)
        return rc;
    if (row.state == PV_LEDGER_LOCKED)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ILLEGAL,
                                  "ledger: UID %s is locked already: it gets no device data now; "
                                  "nothing written",
                                  a->hex);
    memset(d, 0, sizeof *d);
    pv_store_copy(d->uid_hex, sizeof d->uid_hex, a->hex);
    pv_store_copy(d->batch, sizeof d->batch, row.batch);
    pv_ledger_now(d->at);
    if (q->counter) {
        int found = 0;
        int64_t max = 0, v;
        if ((rc = s->ops->devdata_counter_max(s, q->counter, &found, &max)))
            return rc;
        v = found && max >= q->counter_first ? max + 1 : q->counter_first;
        if (v > q->counter_last)
            return pv_ledger_fail_msg(l, PV_LEDGER_E_EXHAUSTED,
                                      "ledger: serial counter '%s' is used up: its last value "
                                      "%" PRId64 " was given (the format's width); chip %s gets "
                                      "no serial; nothing written",
                                      q->counter, q->counter_last, a->hex);
        pv_store_copy(d->counter, sizeof d->counter, q->counter);
        d->counter_value = v;
        if (!q->render || q->render(q->render_ctx, v, d->serial, sizeof d->serial))
            return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                      "ledger: the serial of counter '%s' value %" PRId64
                                      " cannot be formatted; nothing written",
                                      q->counter, v);
    }
    if (q->has_mac) {
        int found = 0;
        uint64_t max = 0;
        char lo[18], hi[18];
        pv_ledger_mac_text(q->mac_first, lo);
        pv_ledger_mac_text(q->mac_last, hi);
        if ((rc = s->ops->devdata_mac_max(s, q->mac_first, q->mac_last, &found, &max)))
            return rc;
        if (found && max >= q->mac_last)
            return pv_ledger_fail_msg(l, PV_LEDGER_E_EXHAUSTED,
                                      "ledger: MAC pool %s..%s is exhausted: all %" PRIu64
                                      " addresses were given; chip %s gets none (extend the "
                                      "pool in the recipe's device_data.mac); nothing written",
                                      lo, hi, q->mac_last - q->mac_first + 1, a->hex);
        d->has_mac = 1;
        d->mac = found ? max + 1 : q->mac_first;
        pv_ledger_mac_text(d->mac, d->mac_text);
    }
    pv_store_copy(d->mes, sizeof d->mes, a->mes);
    if ((rc = s->ops->devdata_insert(s, d)))
        return rc;
    json_error_t jerr;
    json_t *mes = json_loads(d->mes, 0, &jerr);
    json_t *detail =
        json_pack("{s:o,s:o,s:o,s:o,s:o}", "counter", opt(d->counter), "counter_value",
                  d->counter[0] ? json_integer(d->counter_value) : json_null(), "serial",
                  opt(d->serial), "mac", opt(d->mac_text), "mes", mes ? mes : json_object());
    if (l->has_actor)
        json_object_set_new(detail, "session", json_string(l->actor_session));
    return pv_ledger_audit_append(l, d->at, "devdata", d->batch, d->uid_hex, NULL,
                                  l->has_actor ? l->actor_station : row.station, detail);
}

int pv_ledger_devdata_allocate(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN],
                               const pv_ledger_devdata_req *req, pv_ledger_devdata *out)
{
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    if (!uid || !req || !out)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG, "ledger: device data: missing argument");
    if (req->counter && (!req->counter[0] || strlen(req->counter) >= PV_LEDGER_TEXT_MAX ||
                         req->counter_first < 0 || req->counter_last < req->counter_first))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: device data: the counter needs a name of 1 to 63 "
                                  "characters and first <= last");
    if (req->has_mac && (req->mac_first > req->mac_last || req->mac_last >> 48))
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: device data: the MAC pool's first address is above "
                                  "its last, or an address has more than 48 bits");
    json_error_t jerr;
    json_t *mes = json_loads(req->mes ? req->mes : "{}", 0, &jerr);
    char *canon =
        mes && json_is_object(mes) ? json_dumps(mes, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(mes);
    if (!canon || strlen(canon) >= PV_LEDGER_MES_MAX) {
        free(canon);
        return pv_ledger_fail_msg(l, PV_LEDGER_E_ARG,
                                  "ledger: device data: the MES values are not a JSON object of "
                                  "at most %u bytes",
                                  PV_LEDGER_MES_MAX - 1);
    }
    hex_of(uid, hex);
    struct alloc a = {hex, req, canon, out};
    int rc = pv_ledger_write_txn(l, alloc_body, &a);
    free(canon);
    return rc;
}

struct get {
    const char *hex;
    pv_ledger_devdata *out;
};

static int get_body(pv_ledger *l, void *arg)
{
    struct get *g = arg;
    return l->store->ops->devdata_get(l->store, g->hex, g->out);
}

int pv_ledger_devdata_get(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN],
                          pv_ledger_devdata *out)
{
    char hex[2 * PV_LEDGER_UID_LEN + 1];
    hex_of(uid, hex);
    struct get g = {hex, out};
    return pv_ledger_txn(l, PV_STORE_READ, get_body, &g);
}

struct walk {
    const char *batch;
    int (*fn)(void *, const pv_ledger_devdata *);
    void *ctx;
};

static int list_body(pv_ledger *l, void *arg)
{
    struct walk *w = arg;
    return l->store->ops->devdata_list(l->store, w->batch, w->fn, w->ctx);
}

int pv_ledger_devdata_list(pv_ledger *l, const char *batch,
                           int (*fn)(void *ctx, const pv_ledger_devdata *d), void *ctx)
{
    struct walk w = {batch, fn, ctx};
    return pv_ledger_txn(l, PV_STORE_READ, list_body, &w);
}

/* ---- verify ---- */

int pv_ledger_xdevdata_apply(struct pv_ledger_xdevdata *x, const pv_store_audit *e, json_t *d)
{
    if (strcmp(e->action, "devdata") != 0)
        return 2;
    if (!e->uid || !e->batch || strlen(e->uid) != 2 * PV_LEDGER_UID_LEN)
        return 1;
    for (size_t i = 0; i < x->n; i++)
        if (!strcmp(x->d[i].uid_hex, e->uid))
            return 1; /* a UID is given values once */
    if (x->n == x->cap) {
        size_t c = x->cap ? 2 * x->cap : 32;
        pv_ledger_devdata *n = realloc(x->d, c * sizeof *n);
        if (!n)
            return -1;
        x->d = n, x->cap = c;
    }
    pv_ledger_devdata *r = &x->d[x->n++];
    memset(r, 0, sizeof *r);
    pv_store_copy(r->uid_hex, sizeof r->uid_hex, e->uid);
    pv_store_copy(r->batch, sizeof r->batch, e->batch);
    pv_store_copy(r->at, sizeof r->at, e->at);
    pv_store_copy(r->counter, sizeof r->counter, json_string_value(json_object_get(d, "counter")));
    r->counter_value = (int64_t)json_integer_value(json_object_get(d, "counter_value"));
    pv_store_copy(r->serial, sizeof r->serial, json_string_value(json_object_get(d, "serial")));
    pv_store_copy(r->mac_text, sizeof r->mac_text, json_string_value(json_object_get(d, "mac")));
    r->has_mac = r->mac_text[0] != 0;
    char *mes = json_dumps(json_object_get(d, "mes"), JSON_COMPACT | JSON_SORT_KEYS);
    if (!mes)
        return 1;
    pv_store_copy(r->mes, sizeof r->mes, mes);
    free(mes);
    return 0;
}

struct check {
    struct pv_ledger_xdevdata *x;
    size_t next;
    char *msg;
    size_t len;
};

#define CMP_TEXT(f)                                                                                \
    if (strcmp(t->f, r->f) != 0)                                                                   \
    return snprintf(c->msg, c->len,                                                                \
                    "device data of UID %s: " #f " is '%s' in the table but '%s' per the audit "   \
                    "log (row altered outside provision)",                                         \
                    t->uid_hex, t->f, r->f),                                                       \
           PV_LEDGER_E_CHAIN

static int check_row(void *ctx, const pv_ledger_devdata *t)
{
    struct check *c = ctx;
    if (c->next >= c->x->n || strcmp(c->x->d[c->next].uid_hex, t->uid_hex) != 0)
        return snprintf(c->msg, c->len,
                        "device data of UID %s: in the device_data table, but no audit entry "
                        "records it there (row added outside provision)",
                        t->uid_hex),
               PV_LEDGER_E_CHAIN;
    const pv_ledger_devdata *r = &c->x->d[c->next++];
    CMP_TEXT(batch);
    CMP_TEXT(at);
    CMP_TEXT(counter);
    CMP_TEXT(serial);
    CMP_TEXT(mac_text);
    CMP_TEXT(mes);
    if (t->counter[0] && t->counter_value != r->counter_value)
        return snprintf(c->msg, c->len,
                        "device data of UID %s: counter_value is %" PRId64 " in the table but "
                        "%" PRId64 " per the audit log (row altered outside provision)",
                        t->uid_hex, t->counter_value, r->counter_value),
               PV_LEDGER_E_CHAIN;
    return 0;
}

int pv_ledger_xdevdata_check(pv_store *s, struct pv_ledger_xdevdata *x, char *msg, size_t len)
{
    struct check c = {x, 0, msg, len};
    int rc = s->ops->devdata_list(s, NULL, check_row, &c);
    if (rc)
        return rc;
    if (c.next < x->n)
        return snprintf(msg, len,
                        "device data of UID %s: missing from the device_data table, but the "
                        "audit log records it",
                        x->d[c.next].uid_hex),
               PV_LEDGER_E_CHAIN;
    return PV_LEDGER_OK;
}

void pv_ledger_xdevdata_free(struct pv_ledger_xdevdata *x)
{
    free(x->d);
    memset(x, 0, sizeof *x);
}
