/* The operator's view (docs/bridge.md, "Operator's view"): a read-only page for the people on the
 * line, for operator certificates only. The page is static (HTML, a style sheet and a script
 * under a strict Content-Security-Policy: nothing inline, nothing from elsewhere); its script
 * polls GET /operator/status, the figures as JSON: per batch from the ledger (ledger_stats.h),
 * the stations seen lately and the sessions in flight from this bridge's memory. Polling keeps
 * every request short: the server is one event loop, and a held stream would be one more
 * connection per open page with nothing to bound it. The figures are computed at most once a
 * second, whatever the number of pages open, and kept 20 times as long as they took, so a large
 * ledger's queries take at most 5 % of the loop that serves the stations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "ledger_stats.h"
#include "server.h"
#include "text_safe.h"

#define STATUS_MAX_AGE_MS 1000  /* figures are kept at least this long */
#define STATUS_COST_SHARE 20    /* and 20 times what they took: at most 5 % of the loop's time */
#define WINDOW_S          3600u /* devices per hour: locks in the last hour */
#define RECENT_N          20u   /* the most recent devices shown */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

void pv_operator_seen(struct pv_server *srv, const char *station)
{
    struct pv_operator_state *op = &srv->op;
    time_t now = time(NULL);
    unsigned i, oldest = 0;
    for (i = 0; i < op->n_seen; i++) {
        if (strcmp(op->seen[i].name, station) == 0)
            break;
        if (op->seen[i].last_seen < op->seen[oldest].last_seen)
            oldest = i;
    }
    if (i == op->n_seen) {
        if (op->n_seen < PV_OPERATOR_STATIONS_MAX)
            op->n_seen++;
        else
            i = oldest;
        snprintf(op->seen[i].name, sizeof op->seen[i].name, "%s", station);
    }
    op->seen[i].last_seen = now;
}

void pv_operator_free(struct pv_server *srv)
{
    free(srv->op.status);
    srv->op.status = NULL;
}

/* Names and other ledger text, escaped for display (text_safe.h): valid UTF-8, no controls. The
 * page puts every value in place as text (textContent), never as markup. */
static json_t *safe(const char *s)
{
    char out[4 * PV_LEDGER_TEXT_MAX];
    return json_string(pv_text_escape(s ? s : "", out, sizeof out));
}

static json_t *device_json(const struct pv_stats_device *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "uid", safe(d->uid_hex));
    json_object_set_new(o, "batch", safe(d->batch));
    json_object_set_new(o, "state", safe(d->state));
    json_object_set_new(o, "station", safe(d->station));
    json_object_set_new(o, "at", safe(d->at));
    json_object_set_new(o, "failures", json_integer(d->failures));
    return o;
}

static json_t *batch_json(const struct pv_stats_batch *b)
{
    json_t *o = json_object(), *phases = json_array();
    json_object_set_new(o, "batch", safe(b->batch));
    json_object_set_new(o, "created_at", safe(b->created_at));
    json_object_set_new(o, "quota", json_integer(b->quota));
    json_object_set_new(o, "used", json_integer(b->used));
    json_object_set_new(o, "left", json_integer(b->used < b->quota ? b->quota - b->used : 0));
    json_object_set_new(o, "locked", json_integer(b->locked));
    json_object_set_new(o, "failed", json_integer(b->failed));
    json_object_set_new(o, "in_progress", json_integer(b->used - b->locked - b->failed));
    json_object_set_new(o, "per_hour", json_integer(b->locked_window));
    /* yield: of the devices that ended (locked, or failed and not locked since), the locked */
    int64_t ended = b->locked + b->failed;
    json_object_set_new(o, "yield",
                        ended ? json_real((double)b->locked / (double)ended) : json_null());
    json_object_set_new(o, "failures", json_integer(b->failures));
    for (unsigned i = 0; i < b->n_phases; i++)
        json_array_append_new(phases, json_pack("{s:o, s:I}", "phase", safe(b->phases[i].phase),
                                                "n", (json_int_t)b->phases[i].n));
    json_object_set_new(o, "phases", phases);
    return o;
}

/* The figures as JSON text (malloc'd), or NULL with why. */
static char *status_text(struct pv_server *srv, char *why, size_t why_len)
{
    pv_ledger *l = pv_bridge_ledger(srv->bridge);
    struct pv_ledger_stats *st = malloc(sizeof *st);
    if (!st) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    char since[32], now_s[32];
    pv_ledger_time_ago(WINDOW_S, since);
    pv_ledger_time_ago(0, now_s);
    if (pv_ledger_stats(l, since, RECENT_N, st) != PV_LEDGER_OK) {
        snprintf(why, why_len, "%s", pv_ledger_error(l));
        free(st);
        return NULL;
    }
    json_t *doc = json_object(), *batches = json_array(), *stations = json_array(),
           *recent = json_array();
    json_object_set_new(doc, "now", json_string(now_s));
    json_object_set_new(doc, "window_s", json_integer(WINDOW_S));
    json_object_set_new(doc, "sessions_in_flight", json_integer(pv_bridge_sessions(srv->bridge)));
    json_object_set_new(doc, "shutting_down", json_boolean(srv->shutting_down));
    for (unsigned i = 0; i < st->n_batches; i++)
        json_array_append_new(batches, batch_json(&st->batches[i]));
    for (unsigned i = 0; i < st->n_recent; i++)
        json_array_append_new(recent, device_json(&st->recent[i]));
    /* online: a request within the session ttl (a station idles that long between steps) */
    unsigned ttl = srv->cfg->session_ttl_s ? srv->cfg->session_ttl_s : PV_BRIDGE_TTL_DEFAULT_S;
    time_t now = time(NULL);
    int rc = PV_LEDGER_OK;
    for (unsigned i = 0; i < srv->op.n_seen && (rc == PV_LEDGER_OK || rc == PV_LEDGER_E_UNKNOWN);
         i++) {
        if (now - srv->op.seen[i].last_seen > (time_t)ttl)
            continue;
        struct pv_stats_device d;
        json_t *s = json_object();
        json_object_set_new(s, "name", safe(srv->op.seen[i].name));
        json_object_set_new(s, "seen_s_ago", json_integer(now - srv->op.seen[i].last_seen));
        rc = pv_ledger_station_last(l, srv->op.seen[i].name, &d);
        json_object_set_new(s, "last", rc == PV_LEDGER_OK ? device_json(&d) : json_null());
        json_array_append_new(stations, s);
    }
    json_object_set_new(doc, "online_s", json_integer(ttl));
    json_object_set_new(doc, "batches", batches);
    json_object_set_new(doc, "stations", stations);
    json_object_set_new(doc, "recent", recent);
    free(st);
    if (rc != PV_LEDGER_OK && rc != PV_LEDGER_E_UNKNOWN) {
        snprintf(why, why_len, "%s", pv_ledger_error(l));
        json_decref(doc);
        return NULL;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        snprintf(why, why_len, "out of memory");
    return text;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void headers(struct pv_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Security-Policy", CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

static void do_status(struct pv_req *r)
{
    struct pv_operator_state *op = &r->srv->op;
    if (!op->status || ms_since(&op->at) >= op->keep_ms) {
        char why[512];
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char *text = status_text(r->srv, why, sizeof why);
        long took = ms_since(&t0);
        op->keep_ms = took * STATUS_COST_SHARE > STATUS_MAX_AGE_MS ? took * STATUS_COST_SHARE
                                                                   : STATUS_MAX_AGE_MS;
        if (!text) {
            pv_refuse(r, 500, "internal", "the operator's figures: %s", why);
            return;
        }
        free(op->status);
        op->status = text;
        clock_gettime(CLOCK_MONOTONIC, &op->at);
    }
    headers(r);
    pv_reply_text(r, "application/json", op->status, strlen(op->status));
}

void pv_operator_handle(struct pv_req *r, const char *path)
{
    snprintf(r->detail, sizeof r->detail, "operator %.64s", path);
    if (strcmp(path, "/operator/status") == 0) {
        do_status(r);
        return;
    }
    const char *type = NULL, *body = NULL;
    if (strcmp(path, "/operator") == 0 || strcmp(path, "/operator/") == 0)
        type = "text/html; charset=utf-8", body = pv_operator_html;
    else if (strcmp(path, "/operator/app.css") == 0)
        type = "text/css; charset=utf-8", body = pv_operator_css;
    else if (strcmp(path, "/operator/app.js") == 0)
        type = "text/javascript; charset=utf-8", body = pv_operator_js;
    if (!body) {
        pv_refuse(r, 404, "not_found",
                  "no page %.64s; the operator's view is /operator (docs/bridge.md)", path);
        return;
    }
    headers(r);
    pv_reply_text(r, type, body, strlen(body));
}
