/* Progress and results of `provision run` (run_report.h). */
#include "run_report.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const names[PV_RUN_NPHASES] = {"load",  "identify", "stub",   "reserve", "key",
                                                  "erase", "write",    "verify", "lock"};

const char *pv_run_phase_name(enum pv_run_phase p)
{
    return (unsigned)p < PV_RUN_NPHASES ? names[p] : "?";
}

uint64_t pv_run_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void pv_run_report_init(struct pv_run_report *r, int quiet, int json)
{
    memset(r, 0, sizeof *r);
    r->quiet = quiet;
    r->json = json;
    r->out = stderr;
    r->tty = isatty(fileno(stderr));
    r->t0 = r->t_phase = pv_run_now_ms();
    for (int i = 0; i < PV_RUN_NPHASES; i++)
        r->ms[i] = -1;
    snprintf(r->ledger_state, sizeof r->ledger_state, "none");
}

void pv_run_phase_done(struct pv_run_report *r, enum pv_run_phase p, const char *detail)
{
    uint64_t now = pv_run_now_ms();
    r->ms[p] = (int64_t)(now - r->t_phase);
    r->t_phase = now;
    r->current = (int)p + 1;
    if (r->quiet)
        return;
    if (r->tty) {
        /* a bar of the phases done so far, one line per phase */
        char bar[PV_RUN_NPHASES + 1];
        for (int i = 0; i < PV_RUN_NPHASES; i++)
            bar[i] = i <= (int)p ? '#' : '.';
        bar[PV_RUN_NPHASES] = 0;
        fprintf(r->out, "[%s] %-8s %6lld ms  %s\n", bar, names[p], (long long)r->ms[p],
                detail ? detail : "");
    } else {
        fprintf(r->out, "%sprovision: %-8s done in %lld ms%s%s\n", r->tag, names[p],
                (long long)r->ms[p], detail ? ": " : "", detail ? detail : "");
    }
    fflush(r->out);
}

void pv_run_note(struct pv_run_report *r, const char *fmt, ...)
{
    if (r->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->out, "%sprovision: ", r->tag);
    vfprintf(r->out, fmt, ap);
    fputc('\n', r->out);
    va_end(ap);
    fflush(r->out);
}

static void put_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v && v[0] ? json_string(v) : json_null());
}

void pv_run_finish(struct pv_run_report *r, int exit_code, const char *error)
{
    int64_t total = (int64_t)(pv_run_now_ms() - r->t0);
    if (error)
        fprintf(stderr, "%sprovision run: %s\n", r->tag, error);
    if (r->json) {
        json_t *o = json_object(), *ph = json_object();
        put_str(o, "uid", r->uid);
        put_str(o, "batch", r->batch);
        put_str(o, "station", r->station);
        put_str(o, "recipe", r->recipe);
        put_str(o, "recipe_sha256", r->recipe_sha256);
        put_str(o, "image_sha256", r->image_sha256);
        put_str(o, "probe", r->probe);
        put_str(o, "rdp", r->rdp);
        put_str(o, "ledger_state", r->ledger_state);
        json_object_set_new(o, "resumed", json_boolean(r->resumed));
        for (int i = 0; i < PV_RUN_NPHASES; i++)
            if (r->ms[i] >= 0)
                json_object_set_new(ph, names[i], json_integer(r->ms[i]));
        json_object_set_new(o, "phase_ms", ph);
        json_object_set_new(o, "total_ms", json_integer(total));
        json_object_set_new(o, "result", json_string(exit_code == 0 ? "ok" : "error"));
        json_object_set_new(o, "exit_code", json_integer(exit_code));
        if (exit_code != 0) {
            put_str(o, "failed_phase",
                    r->current < PV_RUN_NPHASES ? names[r->current] : "after lock");
            put_str(o, "error", error);
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) {
            printf("%s\n", s);
            free(s);
        }
        json_decref(o);
    } else if (!r->quiet && exit_code == 0) {
        printf("%suid %s  batch %s  station %s  recipe %s\n", r->tag, r->uid, r->batch, r->station,
               r->recipe);
        printf("%simage sha256 %s\n", r->tag, r->image_sha256);
        printf("%srdp %s  ledger %s  %lld ms\n", r->tag, r->rdp, r->ledger_state, (long long)total);
    }
    fflush(stdout);
}
