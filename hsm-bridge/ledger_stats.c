/* The operator's figures (ledger_stats.h): a few aggregate queries, one text for both stores
 * (standard SQL, parameters $1..$n, times compared as the ISO 8601 text the ledger writes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger_internal.h"
#include "ledger_stats.h"

/* When a row reached the state it is in: the latest of its times. */
#define DEVICE_COLS                                                                                \
    "d.uid, d.batch, d.state, d.station, "                                                         \
    "COALESCE(d.locked_at, d.verified_at, d.written_at, d.keyed_at, d.reserved_at), "              \
    "(SELECT COUNT(*) FROM failures f WHERE f.uid = d.uid)"

static int64_t num(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

static void copy(char *out, size_t cap, const char *v)
{
    pv_store_copy(out, cap, v);
}

static void device_from(const char *const *c, struct pv_stats_device *d)
{
    memset(d, 0, sizeof *d);
    copy(d->uid_hex, sizeof d->uid_hex, c[0]);
    copy(d->batch, sizeof d->batch, c[1]);
    copy(d->state, sizeof d->state, c[2]);
    copy(d->station, sizeof d->station, c[3]);
    copy(d->at, sizeof d->at, c[4]);
    d->failures = (unsigned)num(c[5]);
}

struct stats_q {
    const char *since;
    unsigned n_recent;
    struct pv_ledger_stats *st;
};

static int batch_row(void *ctx, const char *const *c, unsigned n)
{
    struct pv_ledger_stats *st = ctx;
    if (n != 8 || st->n_batches >= PV_STATS_BATCHES_MAX)
        return 0;
    struct pv_stats_batch *b = &st->batches[st->n_batches++];
    memset(b, 0, sizeof *b);
    copy(b->batch, sizeof b->batch, c[0]);
    b->quota = (uint32_t)num(c[1]);
    copy(b->created_at, sizeof b->created_at, c[2]);
    b->used = num(c[3]);
    b->locked = num(c[4]);
    b->failed = num(c[5]);
    b->locked_window = num(c[6]);
    b->failures = num(c[7]);
    return 0;
}

/* Rows come grouped by batch, most frequent phase first: the first PV_STATS_PHASES_MAX are kept
 * by name, the rest summed as "other". */
static int phase_row(void *ctx, const char *const *c, unsigned n)
{
    struct pv_ledger_stats *st = ctx;
    if (n != 3 || !c[0])
        return 0;
    for (unsigned i = 0; i < st->n_batches; i++) {
        struct pv_stats_batch *b = &st->batches[i];
        if (strcmp(b->batch, c[0]) != 0)
            continue;
        if (b->n_phases < PV_STATS_PHASES_MAX) {
            copy(b->phases[b->n_phases].phase, sizeof b->phases[0].phase, c[1]);
            b->phases[b->n_phases++].n = num(c[2]);
        } else {
            struct pv_stats_phase *o = &b->phases[PV_STATS_PHASES_MAX];
            if (b->n_phases == PV_STATS_PHASES_MAX) {
                copy(o->phase, sizeof o->phase, "other");
                o->n = 0;
                b->n_phases++;
            }
            o->n += num(c[2]);
        }
        break;
    }
    return 0;
}

static int recent_row(void *ctx, const char *const *c, unsigned n)
{
    struct pv_ledger_stats *st = ctx;
    if (n == 6 && st->n_recent < PV_STATS_RECENT_MAX)
        device_from(c, &st->recent[st->n_recent++]);
    return 0;
}

static int stats_body(pv_ledger *l, void *arg)
{
    struct stats_q *q = arg;
    pv_store *s = l->store;
    q->st->n_batches = q->st->n_recent = 0; /* a retried transaction starts again */
    const char *since[1] = {q->since};
    /* one pass over devices and one over failures for every batch (not a scan per batch) */
    char sql[1536];
    snprintf(sql, sizeof sql, "%s%u",
             "SELECT b.batch, b.quota, b.created_at, COALESCE(d.n, 0), COALESCE(d.locked, 0),"
             " COALESCE(d.failed, 0), COALESCE(d.recent, 0), COALESCE(f.n, 0)"
             " FROM batches b"
             " LEFT JOIN (SELECT batch, COUNT(*) AS n,"
             "  SUM(CASE WHEN state = 'locked' THEN 1 ELSE 0 END) AS locked,"
             "  SUM(CASE WHEN state <> 'locked' AND EXISTS"
             "   (SELECT 1 FROM failures x WHERE x.uid = devices.uid) THEN 1 ELSE 0 END) AS failed,"
             "  SUM(CASE WHEN locked_at >= $1 THEN 1 ELSE 0 END) AS recent"
             "  FROM devices GROUP BY batch) d ON d.batch = b.batch"
             " LEFT JOIN (SELECT batch, COUNT(*) AS n FROM failures GROUP BY batch) f"
             "  ON f.batch = b.batch"
             " ORDER BY b.created_at DESC, b.batch LIMIT ",
             PV_STATS_BATCHES_MAX);
    int rc = s->ops->select_rows(s, "operator figures: batches", sql, since, 1, batch_row, q->st);
    if (rc == PV_LEDGER_OK)
        rc = s->ops->select_rows(s, "operator figures: failures by phase",
                                 "SELECT batch, phase, COUNT(*) AS n FROM failures"
                                 " GROUP BY batch, phase ORDER BY batch, n DESC, phase",
                                 NULL, 0, phase_row, q->st);
    if (rc == PV_LEDGER_OK && q->n_recent) {
        snprintf(sql, sizeof sql,
                 "SELECT " DEVICE_COLS " FROM devices d ORDER BY d.id DESC LIMIT %u", q->n_recent);
        rc = s->ops->select_rows(s, "operator figures: recent devices", sql, NULL, 0, recent_row,
                                 q->st);
    }
    return rc;
}

int pv_ledger_stats(pv_ledger *l, const char *since, unsigned n_recent, struct pv_ledger_stats *st)
{
    struct stats_q q = {since, n_recent < PV_STATS_RECENT_MAX ? n_recent : PV_STATS_RECENT_MAX, st};
    memset(st, 0, sizeof *st);
    return pv_ledger_txn(l, PV_STORE_READ, stats_body, &q);
}

struct last_q {
    const char *station;
    struct pv_stats_device *out;
    int found;
};

static int last_row(void *ctx, const char *const *c, unsigned n)
{
    struct last_q *q = ctx;
    if (n == 6) {
        device_from(c, q->out);
        q->found = 1;
    }
    return 0;
}

static int last_body(pv_ledger *l, void *arg)
{
    struct last_q *q = arg;
    const char *p[1] = {q->station};
    q->found = 0;
    return l->store->ops->select_rows(
        l->store, "operator figures: a station's last device",
        "SELECT " DEVICE_COLS " FROM devices d WHERE d.station = $1 ORDER BY d.id DESC LIMIT 1", p,
        1, last_row, q);
}

int pv_ledger_station_last(pv_ledger *l, const char *station, struct pv_stats_device *out)
{
    struct last_q q = {station, out, 0};
    int rc = pv_ledger_txn(l, PV_STORE_READ, last_body, &q);
    if (rc == PV_LEDGER_OK && !q.found)
        return PV_LEDGER_E_UNKNOWN;
    return rc;
}

void pv_ledger_time_ago(unsigned secs, char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec -= (time_t)secs;
    pv_ledger_format_time(ts, out);
}
