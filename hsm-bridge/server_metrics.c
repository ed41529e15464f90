/* The HTTP layer's Prometheus series (docs/bridge.md, "Metrics"): requests by route and status,
 * refusals by error code, request duration per route, TLS connections, the drain. The bridge's
 * own series (sessions, devices, quota, HSM latency) come from pv_bridge_metrics. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server.h"

static const double bucket_le[PV_METRICS_BUCKETS] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,   1,    2.5,   5,    10};

void pv_metrics_request(struct pv_server_metrics *m, enum pv_route r, int status, const char *error,
                        double seconds)
{
    if ((unsigned)r >= PV_ROUTE_COUNT)
        r = PV_ROUTE_OTHER;
    for (unsigned i = 0; i < PV_METRICS_STATUSES; i++) {
        if (m->requests[r][i].status == status || m->requests[r][i].status == 0) {
            m->requests[r][i].status = status;
            m->requests[r][i].n++;
            break;
        }
    }
    if (error) {
        for (unsigned i = 0; i < PV_METRICS_ERRORS; i++) {
            if (strcmp(m->errors[i].error, error) == 0 || !m->errors[i].error[0]) {
                snprintf(m->errors[i].error, sizeof m->errors[i].error, "%s", error);
                m->errors[i].n++;
                break;
            }
        }
    }
    for (unsigned b = 0; b < PV_METRICS_BUCKETS; b++)
        if (seconds <= bucket_le[b])
            m->duration_buckets[r][b]++;
    m->duration_sum[r] += seconds;
    m->duration_count[r]++;
}

void pv_metrics_write(const struct pv_server_metrics *m, FILE *out, int shutting_down)
{
    fprintf(out, "# HELP hsm_bridge_http_requests_total HTTP requests answered, by route and "
                 "status.\n# TYPE hsm_bridge_http_requests_total counter\n");
    for (unsigned r = 0; r < PV_ROUTE_COUNT; r++)
        for (unsigned i = 0; i < PV_METRICS_STATUSES && m->requests[r][i].status; i++)
            fprintf(out, "hsm_bridge_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                    pv_route_name((enum pv_route)r), m->requests[r][i].status,
                    (unsigned long long)m->requests[r][i].n);
    fprintf(out, "# HELP hsm_bridge_http_refusals_total Refusals by the protocol's error code.\n"
                 "# TYPE hsm_bridge_http_refusals_total counter\n");
    for (unsigned i = 0; i < PV_METRICS_ERRORS && m->errors[i].error[0]; i++)
        fprintf(out, "hsm_bridge_http_refusals_total{error=\"%s\"} %llu\n", m->errors[i].error,
                (unsigned long long)m->errors[i].n);
    fprintf(out, "# HELP hsm_bridge_http_request_duration_seconds Time from a request's arrival "
                 "to its answer, by route.\n"
                 "# TYPE hsm_bridge_http_request_duration_seconds histogram\n");
    for (unsigned r = 0; r < PV_ROUTE_COUNT; r++) {
        if (!m->duration_count[r])
            continue;
        const char *name = pv_route_name((enum pv_route)r);
        for (unsigned b = 0; b < PV_METRICS_BUCKETS; b++)
            fprintf(out,
                    "hsm_bridge_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                    "%llu\n",
                    name, bucket_le[b], (unsigned long long)m->duration_buckets[r][b]);
        fprintf(out,
                "hsm_bridge_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                "hsm_bridge_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                "hsm_bridge_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                name, (unsigned long long)m->duration_count[r], name, m->duration_sum[r], name,
                (unsigned long long)m->duration_count[r]);
    }
    fprintf(out,
            "# HELP hsm_bridge_tls_connections_total TLS connections accepted.\n"
            "# TYPE hsm_bridge_tls_connections_total counter\n"
            "hsm_bridge_tls_connections_total %llu\n"
            "# HELP hsm_bridge_shutting_down 1 while the bridge drains after SIGTERM.\n"
            "# TYPE hsm_bridge_shutting_down gauge\n"
            "hsm_bridge_shutting_down %d\n"
            "# HELP hsm_bridge_start_time_seconds When this bridge process started (Unix time).\n"
            "# TYPE hsm_bridge_start_time_seconds gauge\n"
            "hsm_bridge_start_time_seconds %lld\n",
            (unsigned long long)m->connections, shutting_down ? 1 : 0, (long long)m->started);
}
