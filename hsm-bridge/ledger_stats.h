/* Figures for the operator's view (docs/bridge.md, "Operator's view"): per batch, the quota and
 * its use, devices locked in a recent window, yield and failures by phase; the devices reserved
 * last; a station's last device. Read-only queries on either store (one consistent snapshot
 * each), the same SQL for SQLite and PostgreSQL. */
#ifndef PV_HSM_BRIDGE_LEDGER_STATS_H
#define PV_HSM_BRIDGE_LEDGER_STATS_H

#include <stdint.h>

#include "ledger.h"

#define PV_STATS_BATCHES_MAX 32u /* the batches created last */
#define PV_STATS_PHASES_MAX  16u /* the most frequent phases of a batch; the rest are "other" */
#define PV_STATS_RECENT_MAX  50u

struct pv_stats_phase {
    char phase[PV_LEDGER_TEXT_MAX];
    int64_t n;
};

struct pv_stats_batch {
    char batch[PV_LEDGER_TEXT_MAX];
    char created_at[32];
    uint32_t quota;
    int64_t used;          /* devices counted against the quota (rows of the batch) */
    int64_t locked;        /* rows in state locked */
    int64_t failed;        /* rows not locked with at least one failure */
    int64_t locked_window; /* rows locked at or after the window's start */
    int64_t failures;      /* failures recorded (a device may fail several times) */
    struct pv_stats_phase phases[PV_STATS_PHASES_MAX + 1]; /* most frequent first */
    unsigned n_phases;
};

struct pv_stats_device {
    char uid_hex[2 * PV_LEDGER_UID_LEN + 1];
    char batch[PV_LEDGER_TEXT_MAX];
    char state[16];
    char station[PV_LEDGER_TEXT_MAX];
    char at[32]; /* when it reached its state */
    unsigned failures;
};

struct pv_ledger_stats {
    struct pv_stats_batch batches[PV_STATS_BATCHES_MAX]; /* created last first */
    unsigned n_batches;
    struct pv_stats_device recent[PV_STATS_RECENT_MAX]; /* reserved last first */
    unsigned n_recent;
};

/* Fills st: every figure above, batches' locked_window counting locks at or after since (UTC
 * ISO 8601, as the ledger writes times), up to n_recent (<= PV_STATS_RECENT_MAX) devices.
 * PV_LEDGER_OK or the store's error (pv_ledger_error says it). */
int pv_ledger_stats(pv_ledger *l, const char *since, unsigned n_recent, struct pv_ledger_stats *st);

/* The device station acted on last (the highest row id it holds): PV_LEDGER_OK,
 * PV_LEDGER_E_UNKNOWN when it holds none, or the store's error. */
int pv_ledger_station_last(pv_ledger *l, const char *station, struct pv_stats_device *out);

/* now - secs as the ledger writes times (UTC ISO 8601 with milliseconds). */
void pv_ledger_time_ago(unsigned secs, char out[32]);

#endif
