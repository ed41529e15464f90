/* `provision run`'s progress lines and results (run_output.h). */
#include "run_output.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pv_run_output_init(struct pv_run_output *o, int quiet, int json, const char *tag)
{
    memset(o, 0, sizeof *o);
    o->quiet = quiet || json; /* stdout is the JSON's, and the progress is in it */
    o->json = json;
    o->tty = isatty(fileno(stderr));
    if (tag) {
        snprintf(o->tag, sizeof o->tag, "[%s] ", tag);
        o->tty = 0; /* several chips' lines interleave: no bar */
    }
}

void pv_run_output_progress(void *ctx, const struct pv_prov_progress *p)
{
    const struct pv_run_output *o = ctx;
    if (o->quiet || p->event == PV_PROV_EV_BYTES)
        return;
    if (p->event == PV_PROV_EV_NOTE) {
        fprintf(stderr, "%sprovision: %s\n", o->tag, p->message);
    } else if (o->tty) {
        /* a bar of the phases done so far, one line per phase */
        char bar[PV_PROV_NPHASES + 1];
        for (int i = 0; i < PV_PROV_NPHASES; i++)
            bar[i] = i <= (int)p->phase ? '#' : '.';
        bar[PV_PROV_NPHASES] = 0;
        fprintf(stderr, "[%s] %-8s %6lld ms  %s\n", bar, pv_prov_phase_name(p->phase),
                (long long)p->phase_ms, p->message);
    } else {
        fprintf(stderr, "%sprovision: %-8s done in %lld ms%s%s\n", o->tag,
                pv_prov_phase_name(p->phase), (long long)p->phase_ms, p->message[0] ? ": " : "",
                p->message);
    }
    fflush(stderr);
}

static void put_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v && v[0] ? json_string(v) : json_null());
}

/* The object documented in docs/json-output.md and docs/schema/run-result.schema.json. */
static void print_json(const struct pv_prov_result *res)
{
    json_t *o = json_object(), *ph = json_object();
    put_str(o, "uid", res->uid);
    put_str(o, "batch", res->batch);
    put_str(o, "station", res->station);
    put_str(o, "recipe", res->recipe);
    put_str(o, "recipe_sha256", res->recipe_sha256);
    put_str(o, "image_sha256", res->image_sha256);
    put_str(o, "probe", res->probe);
    put_str(o, "rdp", res->rdp);
    put_str(o, "ledger_state", res->ledger_state);
    json_object_set_new(o, "resumed", json_boolean(res->resumed));
    for (int i = 0; i < PV_PROV_NPHASES; i++)
        if (res->phase_ms[i] >= 0)
            json_object_set_new(ph, pv_prov_phase_name(i), json_integer(res->phase_ms[i]));
    json_object_set_new(o, "phase_ms", ph);
    json_object_set_new(o, "total_ms", json_integer(res->total_ms));
    if (res->probe_round_trips >= 0)
        json_object_set_new(o, "probe_round_trips", json_integer(res->probe_round_trips));
    if (res->n_values) {
        json_t *v = json_object();
        for (unsigned i = 0; i < res->n_values && i < PV_PROV_VALUES_MAX; i++)
            json_object_set_new(v, res->values[i].name, json_string(res->values[i].value));
        json_object_set_new(o, "values", v);
    }
    json_object_set_new(o, "result", json_string(res->status == PV_PROV_OK ? "ok" : "error"));
    json_object_set_new(o, "exit_code", json_integer(res->status));
    if (res->status != PV_PROV_OK) {
        json_object_set_new(o, "status", json_string(pv_prov_status_name(res->status)));
        put_str(o, "failed_phase", pv_prov_phase_name(res->failed_phase));
        put_str(o, "error", res->error);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        printf("%s\n", s);
        free(s);
    }
    json_decref(o);
}

void pv_run_output_result(const struct pv_run_output *o, const struct pv_prov_result *res)
{
    if (res->status != PV_PROV_OK)
        fprintf(stderr, "%sprovision run: %s\n", o->tag, res->error);
    if (o->json) {
        print_json(res);
    } else if (!o->quiet && res->status == PV_PROV_OK) {
        printf("%suid %s  batch %s  station %s  recipe %s\n", o->tag, res->uid, res->batch,
               res->station, res->recipe);
        printf("%simage sha256 %s\n", o->tag, res->image_sha256);
        printf("%srdp %s  ledger %s  %lld ms\n", o->tag, res->rdp, res->ledger_state,
               (long long)res->total_ms);
    }
    fflush(stdout);
}
