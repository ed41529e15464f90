/* Progress and results of a run (run_report.h). */
#include "run_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t pv_run_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void pv_run_report_init(struct pv_run_report *r, pv_prov_progress_fn cb, void *cb_ctx)
{
    memset(r, 0, sizeof *r);
    r->cb = cb;
    r->cb_ctx = cb_ctx;
    r->t0 = r->t_phase = pv_run_now_ms();
    for (int i = 0; i < PV_RUN_NPHASES; i++)
        r->ms[i] = -1;
    r->probe_round_trips = -1;
    snprintf(r->ledger_state, sizeof r->ledger_state, "none");
}

static void tell(const struct pv_run_report *r, enum pv_prov_event ev, int phase, int64_t ms,
                 uint64_t done, uint64_t total, const char *msg)
{
    if (!r->cb)
        return;
    struct pv_prov_progress p = {.event = ev,
                                 .phase = (enum pv_prov_phase)phase,
                                 .phase_ms = ms,
                                 .bytes_done = done,
                                 .bytes_total = total,
                                 .message = msg ? msg : ""};
    r->cb(r->cb_ctx, &p);
}

void pv_run_phase_done(struct pv_run_report *r, enum pv_run_phase p, const char *detail)
{
    uint64_t now = pv_run_now_ms();
    r->ms[p] = (int64_t)(now - r->t_phase);
    r->t_phase = now;
    r->current = (int)p + 1;
    r->bytes = 0;
    tell(r, PV_PROV_EV_PHASE, p, r->ms[p], 0, 0, detail);
}

void pv_run_note(struct pv_run_report *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    tell(r, PV_PROV_EV_NOTE, r->current < PV_RUN_NPHASES ? r->current : PV_RUN_LOCK, -1, 0, 0,
         line);
}

void pv_run_bytes(struct pv_run_report *r, uint64_t n, uint64_t total)
{
    r->bytes += n;
    tell(r, PV_PROV_EV_BYTES, r->current < PV_RUN_NPHASES ? r->current : PV_RUN_LOCK, -1, r->bytes,
         total, "");
}

#define COPY(f) snprintf(res->f, sizeof res->f, "%s", r->f)

void pv_run_finish(const struct pv_run_report *r, int status, const char *error,
                   struct pv_prov_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = status;
    res->failed_phase = status == PV_PROV_OK ? -1 : r->current;
    COPY(uid);
    COPY(batch);
    COPY(station);
    COPY(recipe);
    COPY(recipe_sha256);
    COPY(image_sha256);
    COPY(probe);
    COPY(rdp);
    COPY(ledger_state);
    res->resumed = r->resumed;
    memcpy(res->phase_ms, r->ms, sizeof res->phase_ms);
    res->total_ms = (int64_t)(pv_run_now_ms() - r->t0);
    res->probe_round_trips = r->probe_round_trips;
    if (error && status != PV_PROV_OK)
        snprintf(res->error, sizeof res->error, "%s", error);
}
