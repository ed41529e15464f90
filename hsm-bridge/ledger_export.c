/* Ledger export for MES systems and people: CSV (RFC 4180, one header line; cells made safe for
 * spreadsheets by text_safe.h) or a JSON array, one record per device with every state's time
 * and the failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "text_safe.h"

static const char *const columns[] = {
    "batch",        "uid",       "state",       "station",     "recipe_name",  "recipe_digest",
    "image_digest", "key_id",    "key_version", "reserved_at", "keyed_at",     "written_at",
    "verified_at",  "locked_at", "attempts",    "failures",    "last_failure", "rdp_level",
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

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
    char e[4 * (PV_LEDGER_TEXT_MAX + PV_LEDGER_REASON_MAX)];
    return json_string(pv_text_escape(s, e, sizeof e));
}

/* The row's values as text, in columns[] order ("" for absent values). */
static void values(const pv_ledger_row *r,
                   char v[NCOLUMNS][PV_LEDGER_TEXT_MAX + PV_LEDGER_REASON_MAX])
{
    const size_t cap = PV_LEDGER_TEXT_MAX + PV_LEDGER_REASON_MAX;
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
}

/* One export's state: the output and the row's values (per call: exports may run at once). */
struct csv {
    FILE *out;
    char v[NCOLUMNS][PV_LEDGER_TEXT_MAX + PV_LEDGER_REASON_MAX];
};

static int csv_row(void *ctx, const pv_ledger_row *r)
{
    struct csv *c = ctx;
    values(r, c->v);
    int rc = 0;
    for (size_t i = 0; i < NCOLUMNS; i++)
        rc |= csv_field(c->out, c->v[i], i + 1 == NCOLUMNS);
    return rc || ferror(c->out) ? -1 : 0;
}

static int json_row(void *ctx, const pv_ledger_row *r)
{
    json_t *o = json_object();
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
    return json_array_append_new(ctx, o);
}

int pv_ledger_export(pv_ledger *l, FILE *out, enum pv_ledger_format fmt, const char *batch)
{
    if (fmt == PV_LEDGER_CSV) {
        for (size_t i = 0; i < NCOLUMNS; i++)
            csv_field(out, columns[i], i + 1 == NCOLUMNS);
        struct csv *c = malloc(sizeof *c);
        if (!c)
            return pv_ledger_fail_msg(l, PV_LEDGER_E_DB, "ledger export: out of memory");
        c->out = out;
        int rc = pv_ledger_list(l, batch, csv_row, c);
        free(c);
        if (rc == -1 || fflush(out) != 0)
            return pv_ledger_fail_msg(l, PV_LEDGER_E_DB, "ledger export: write failed");
        return rc;
    }
    json_t *a = json_array();
    int rc = pv_ledger_list(l, batch, json_row, a);
    if (rc == PV_LEDGER_OK) {
        if (json_dumpf(a, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
            fputc('\n', out) == EOF || fflush(out) != 0)
            rc = pv_ledger_fail_msg(l, PV_LEDGER_E_DB, "ledger export: write failed");
    } else if (rc == -1)
        rc = pv_ledger_fail_msg(l, PV_LEDGER_E_DB, "ledger export: out of memory");
    json_decref(a);
    return rc;
}
