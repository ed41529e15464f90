/* /metrics in Prometheus text format (bridge.h): the bridge's own counters, and the ledger's
 * figures read at each scrape (devices by state, quota left per batch). */
#include <stdio.h>
#include <string.h>

#include "bridge_internal.h"
#include "update_bridge.h"

const char *const pv_bridge_phase_names[PV_BRIDGE_PHASES] = {"stub", "key",     "write",   "verify",
                                                             "lock", "session", "station", "other"};
const double pv_bridge_buckets[PV_BRIDGE_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,  1,     2.5,  10};
static const char *const outcome_names[OUT_KINDS] = {"locked", "failed", "refused", "expired"};

void pv_bridge_count_refusal(struct pv_bridge *b, const char *error)
{
    struct pv_bridge_stats *s = &b->stats;
    unsigned n = sizeof s->refusal_names / sizeof s->refusal_names[0];
    for (unsigned i = 0; i < n; i++) {
        if (!s->refusal_names[i][0])
            snprintf(s->refusal_names[i], sizeof s->refusal_names[i], "%s", error);
        if (strcmp(s->refusal_names[i], error) == 0) {
            s->refusals_by_error[i]++;
            return;
        }
    }
}

void pv_bridge_count_failure(struct pv_bridge *b, const char *phase)
{
    unsigned i = 0;
    while (i + 1 < PV_BRIDGE_PHASES && strcmp(pv_bridge_phase_names[i], phase) != 0)
        i++;
    b->stats.failures_by_phase[i]++;
}

void pv_bridge_observe(uint64_t *buckets, double *sum, uint64_t *count, double seconds)
{
    unsigned i = 0;
    while (i < PV_BRIDGE_BUCKETS && seconds > pv_bridge_buckets[i])
        i++;
    buckets[i]++;
    *sum += seconds;
    (*count)++;
}

static void histogram(FILE *out, const char *name, const char *help, const uint64_t *buckets,
                      double sum, uint64_t count)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (unsigned i = 0; i < PV_BRIDGE_BUCKETS; i++) {
        cum += buckets[i];
        fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, pv_bridge_buckets[i],
                (unsigned long long)cum);
    }
    fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
            (unsigned long long)count, name, sum, name, (unsigned long long)count);
}

static int batch_line(void *ctx, const char *batch, uint32_t quota, uint32_t used)
{
    FILE *out = ctx;
    fprintf(out, "hsm_bridge_batch_quota{batch=\"%s\"} %u\n", batch, (unsigned)quota);
    fprintf(out, "hsm_bridge_batch_used{batch=\"%s\"} %u\n", batch, (unsigned)used);
    fprintf(out, "hsm_bridge_batch_quota_left{batch=\"%s\"} %u\n", batch,
            (unsigned)(quota > used ? quota - used : 0));
    return 0;
}

int pv_bridge_metrics(pv_bridge *b, FILE *out)
{
    const struct pv_bridge_stats *s = &b->stats;
    fprintf(out, "# HELP hsm_bridge_sessions_total Sessions by outcome.\n"
                 "# TYPE hsm_bridge_sessions_total counter\n");
    for (unsigned i = 0; i < OUT_KINDS; i++)
        fprintf(out, "hsm_bridge_sessions_total{outcome=\"%s\"} %llu\n", outcome_names[i],
                (unsigned long long)s->outcomes[i]);
    fprintf(out,
            "# HELP hsm_bridge_sessions_in_flight Sessions begun and not ended.\n"
            "# TYPE hsm_bridge_sessions_in_flight gauge\nhsm_bridge_sessions_in_flight %u\n",
            pv_bridge_sessions(b));
    fprintf(out, "# HELP hsm_bridge_refusals_total Requests refused, by error code.\n"
                 "# TYPE hsm_bridge_refusals_total counter\n");
    for (unsigned i = 0; i < sizeof s->refusal_names / sizeof s->refusal_names[0]; i++)
        if (s->refusal_names[i][0])
            fprintf(out, "hsm_bridge_refusals_total{error=\"%s\"} %llu\n", s->refusal_names[i],
                    (unsigned long long)s->refusals_by_error[i]);
    fprintf(out, "# HELP hsm_bridge_failures_total Sessions failed after the reservation, by "
                 "phase.\n# TYPE hsm_bridge_failures_total counter\n");
    for (unsigned i = 0; i < PV_BRIDGE_PHASES; i++)
        fprintf(out, "hsm_bridge_failures_total{phase=\"%s\"} %llu\n", pv_bridge_phase_names[i],
                (unsigned long long)s->failures_by_phase[i]);
    histogram(out, "hsm_bridge_session_duration_seconds",
              "Time from begin to the recorded lock, per device.", s->duration_bucket,
              s->duration_sum, s->duration_count);
    histogram(out, "hsm_bridge_hsm_operation_seconds", "Latency of the token's PSK derivation.",
              s->hsm_bucket, s->hsm_sum, s->hsm_count);
    int64_t counts[6] = {0};
    if (pv_ledger_state_counts(b->ledger, counts) == PV_LEDGER_OK) {
        fprintf(out, "# HELP hsm_bridge_devices Devices in the ledger, by state.\n"
                     "# TYPE hsm_bridge_devices gauge\n");
        for (int st = PV_LEDGER_RESERVED; st <= PV_LEDGER_LOCKED; st++)
            fprintf(out, "hsm_bridge_devices{state=\"%s\"} %lld\n",
                    pv_ledger_state_name((pv_ledger_state)st), (long long)counts[st]);
    }
    fprintf(out, "# HELP hsm_bridge_batch_quota Devices a batch may have.\n"
                 "# TYPE hsm_bridge_batch_quota gauge\n");
    pv_ledger_batches(b->ledger, batch_line, out);
    pv_bridge_update_metrics(b, out);
    return ferror(out) ? -1 : 0;
}
