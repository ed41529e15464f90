/* Ledger export for MES systems and people (docs/ledger.md, "Export"): CSV (RFC 4180, one header
 * line; cells made safe for spreadsheets by text_safe.h), a JSON array, or JSON Lines; one record
 * per device with every state's time, the failures and its per-device data, and the firmware
 * update attempts (JSON Lines, or CSV on their own). One read transaction: a consistent
 * snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "text_safe.h"

static const char *const columns[] = {
    "batch",        "uid",       "state",       "station",     "recipe_name",  "recipe_digest",
    "image_digest", "key_id",    "key_version", "reserved_at", "keyed_at",     "written_at",
    "verified_at",  "locked_at", "attempts",    "failures",    "last_failure", "rdp_level",
    "serial",       "mac",       "mes",
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

static const char *const update_columns[] = {
    "id",         "uid",      "session",      "station",       "product",         "batch",
    "started_at", "ended_at", "from_version", "floor",         "offered_version", "image_sha256",
    "result",     "reason",   "now_version",  "bytes_written",
};
#define NUPDATE_COLUMNS (sizeof update_columns / sizeof update_columns[0])

#define CELL_MAX (PV_LEDGER_MES_MAX + PV_LEDGER_REASON_MAX)

/* One cell (text_safe.h: control bytes escaped, formulas neutralised, quoted where needed) and
 * its separator. */
static int csv_field(FILE *out, const char *s, int last)
{
    int rc = pv_text_csv_cell(out, s);
    fputs(last ? "\r\n" : ",", out);
    return rc;
}

/* A JSON string: jansson escapes control characters itself (\u001b) but takes only UTF-8, so
 * text that is not (a crafted row) goes in escaped rather than being dropped. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char e[4 * CELL_MAX];
    return json_string(pv_text_escape(s, e, sizeof e));
}

struct export
{
    pv_ledger *l;
    FILE *out;
    enum pv_ledger_format fmt;
    json_t *array; /* PV_LEDGER_JSON */
    char v[NCOLUMNS][CELL_MAX];
    pv_ledger_devdata dd;
    int has_dd;
};

/* The row's values as text, in columns[] order ("" for absent values). */
static void values(struct export *x, const pv_ledger_row *r)
{
    const size_t cap = CELL_MAX;
    char(*v)[CELL_MAX] = x->v;
    snprintf(v[0], cap, "%s", r->batch);
    snprintf(v[1], cap, "%s", r->uid_hex);
    snprintf(v[2], cap, "%s", pv_ledger_state_name(r->state));
    snprintf(v[3], cap, "%s", r->station);
    snprintf(v[4], cap, "%s", r->recipe_name);
    snprintf(v[5], cap, "%s", r->recipe_digest);
    snprintf(v[6], cap, "%s", r->image_digest);
    if (r->has_key) {
        snprintf(v[7], cap, "%u", r->key_id);
        snprintf(v[8], cap, "%u", r->key_version);
    } else
        v[7][0] = v[8][0] = 0;
    for (int i = 0; i < 5; i++)
        snprintf(v[9 + i], cap, "%s", r->at[i]);
    snprintf(v[14], cap, "%u", r->attempts);
    snprintf(v[15], cap, "%u", r->failures);
    snprintf(v[16], cap, "%s", r->last_failure);
    if (r->state == PV_LEDGER_LOCKED)
        snprintf(v[17], cap, "%u", r->rdp_level);
    else
        v[17][0] = 0;
    snprintf(v[18], cap, "%s", x->has_dd ? x->dd.serial : "");
    snprintf(v[19], cap, "%s", x->has_dd ? x->dd.mac_text : "");
    snprintf(v[20], cap, "%s", x->has_dd ? x->dd.mes : "");
}

static json_t *device_json(struct export *x, const pv_ledger_row *r)
{
    json_t *o = json_object();
    if (x->fmt == PV_LEDGER_JSONL)
        json_object_set_new(o, "record", json_string("device"));
    json_object_set_new(o, "batch", jstr(r->batch));
    json_object_set_new(o, "uid", jstr(r->uid_hex));
    json_object_set_new(o, "state", json_string(pv_ledger_state_name(r->state)));
    json_object_set_new(o, "station", jstr(r->station));
    json_object_set_new(o, "recipe_name", jstr(r->recipe_name));
    json_object_set_new(o, "recipe_digest", jstr(r->recipe_digest));
    json_object_set_new(o, "image_digest",
                        r->image_digest[0] ? jstr(r->image_digest) : json_null());
    json_object_set_new(o, "key_id", r->has_key ? json_integer(r->key_id) : json_null());
    json_object_set_new(o, "key_version", r->has_key ? json_integer(r->key_version) : json_null());
    for (int i = 0; i < 5; i++)
        json_object_set_new(o, columns[9 + i], r->at[i][0] ? jstr(r->at[i]) : json_null());
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "failures", json_integer(r->failures));
    json_object_set_new(o, "last_failure",
                        r->last_failure[0] ? jstr(r->last_failure) : json_null());
    json_object_set_new(o, "rdp_level",
                        r->state == PV_LEDGER_LOCKED ? json_integer(r->rdp_level) : json_null());
    const pv_ledger_devdata *d = x->has_dd ? &x->dd : NULL;
    json_error_t e;
    json_t *mes = d ? json_loads(d->mes, 0, &e) : NULL;
    json_object_set_new(o, "serial", d && d->serial[0] ? jstr(d->serial) : json_null());
    json_object_set_new(o, "mac", d && d->mac_text[0] ? jstr(d->mac_text) : json_null());
    json_object_set_new(o, "mes", mes ? mes : d ? jstr(d->mes) : json_null());
    return o;
}

/* Writes one JSON Lines record. */
static int line(FILE *out, json_t *o)
{
    int rc = json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 || fputc('\n', out) == EOF;
    json_decref(o);
    return rc ? -1 : 0;
}

static int device_row(void *ctx, const pv_ledger_row *r)
{
    struct export *x = ctx;
    pv_store *s = x->l->store;
    int rc = s->ops->devdata_get(s, r->uid_hex, &x->dd);
    if (rc != PV_LEDGER_OK && rc != PV_LEDGER_E_UNKNOWN)
        return rc;
    x->has_dd = rc == PV_LEDGER_OK;
    switch (x->fmt) {
    case PV_LEDGER_CSV:
        values(x, r);
        rc = 0;
        for (size_t i = 0; i < NCOLUMNS; i++)
            rc |= csv_field(x->out, x->v[i], i + 1 == NCOLUMNS);
        return rc || ferror(x->out) ? -1 : 0;
    case PV_LEDGER_JSON:
        return json_array_append_new(x->array, device_json(x, r)) ? -1 : 0;
    default:
        return line(x->out, device_json(x, r));
    }
}

static int update_row(void *ctx, const pv_ledger_update *u)
{
    struct export *x = ctx;
    if (x->fmt == PV_LEDGER_CSV_UPDATES) {
        char(*v)[CELL_MAX] = x->v;
        const size_t cap = CELL_MAX;
        snprintf(v[0], cap, "%lld", (long long)u->id);
        snprintf(v[1], cap, "%s", u->uid_hex);
        snprintf(v[2], cap, "%s", u->session);
        snprintf(v[3], cap, "%s", u->station);
        snprintf(v[4], cap, "%s", u->product);
        snprintf(v[5], cap, "%s", u->batch);
        snprintf(v[6], cap, "%s", u->started_at);
        snprintf(v[7], cap, "%s", u->ended_at);
        snprintf(v[8], cap, "%u", u->from_version);
        snprintf(v[9], cap, "%u", u->floor);
        snprintf(v[10], cap, "%u", u->offered_version);
        snprintf(v[11], cap, "%s", u->image_sha256);
        snprintf(v[12], cap, "%s", u->result);
        snprintf(v[13], cap, "%s", u->reason);
        snprintf(v[14], cap, "%u", u->now_version);
        snprintf(v[15], cap, "%u", u->bytes_written);
        int rc = 0;
        for (size_t i = 0; i < NUPDATE_COLUMNS; i++)
            rc |= csv_field(x->out, v[i], i + 1 == NUPDATE_COLUMNS);
        return rc || ferror(x->out) ? -1 : 0;
    }
    json_t *o = json_object();
    json_object_set_new(o, "record", json_string("update"));
    json_object_set_new(o, "id", json_integer(u->id));
    json_object_set_new(o, "uid", jstr(u->uid_hex));
    json_object_set_new(o, "session", u->session[0] ? jstr(u->session) : json_null());
    json_object_set_new(o, "station", jstr(u->station));
    json_object_set_new(o, "product", u->product[0] ? jstr(u->product) : json_null());
    json_object_set_new(o, "batch", u->batch[0] ? jstr(u->batch) : json_null());
    json_object_set_new(o, "started_at", jstr(u->started_at));
    json_object_set_new(o, "ended_at", u->ended_at[0] ? jstr(u->ended_at) : json_null());
    json_object_set_new(o, "from_version", json_integer(u->from_version));
    json_object_set_new(o, "floor", json_integer(u->floor));
    json_object_set_new(o, "offered_version", json_integer(u->offered_version));
    json_object_set_new(o, "image_sha256",
                        u->image_sha256[0] ? jstr(u->image_sha256) : json_null());
    json_object_set_new(o, "result", jstr(u->result));
    json_object_set_new(o, "reason", jstr(u->reason));
    json_object_set_new(o, "now_version", json_integer(u->now_version));
    json_object_set_new(o, "bytes_written", json_integer(u->bytes_written));
    return line(x->out, o);
}

/* Updates of batch only (NULL: all). */
struct batch_filter {
    struct export *x;
    const char *batch;
};

static int update_filtered(void *ctx, const pv_ledger_update *u)
{
    struct batch_filter *f = ctx;
    if (f->batch && strcmp(f->batch, u->batch) != 0)
        return 0;
    return update_row(f->x, u);
}

struct body {
    struct export *x;
    const char *batch;
};

static int export_body(pv_ledger *l, void *arg)
{
    struct body *b = arg;
    struct export *x = b->x;
    pv_store *s = l->store;
    struct batch_filter f = {x, b->batch};
    if (x->fmt == PV_LEDGER_CSV_UPDATES)
        return s->ops->update_list(s, NULL, update_filtered, &f);
    int rc = s->ops->device_list(s, b->batch, device_row, x);
    if (rc == PV_LEDGER_OK && x->fmt == PV_LEDGER_JSONL)
        rc = s->ops->update_list(s, NULL, update_filtered, &f);
    return rc;
}

int pv_ledger_export(pv_ledger *l, FILE *out, enum pv_ledger_format fmt, const char *batch)
{
    struct export *x = calloc(1, sizeof *x);
    if (!x)
        return pv_ledger_fail_msg(l, PV_LEDGER_E_DB, "ledger export: out of memory");
    x->l = l, x->out = out, x->fmt = fmt;
    if (fmt == PV_LEDGER_CSV)
        for (size_t i = 0; i < NCOLUMNS; i++)
            csv_field(out, columns[i], i + 1 == NCOLUMNS);
    if (fmt == PV_LEDGER_CSV_UPDATES)
        for (size_t i = 0; i < NUPDATE_COLUMNS; i++)
            csv_field(out, update_columns[i], i + 1 == NUPDATE_COLUMNS);
    if (fmt == PV_LEDGER_JSON)
        x->array = json_array();
    struct body b = {x, batch};
    int rc = pv_ledger_txn(l, PV_STORE_READ, export_body, &b);
    if (rc == PV_LEDGER_OK && fmt == PV_LEDGER_JSON &&
        (json_dumpf(x->array, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
         fputc('\n', out) == EOF))
        rc = -1;
    if (rc == PV_LEDGER_OK && fflush(out) != 0)
        rc = -1;
    if (rc == -1)
        rc = pv_ledger_fail_msg(l, PV_LEDGER_E_DB, "ledger export: write failed or out of memory");
    json_decref(x->array);
    free(x);
    return rc;
}
