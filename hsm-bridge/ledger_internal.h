/* Shared by the ledger's files (ledger_policy.c, ledger_audit.c, ledger_export.c and the stores);
 * not an API. */
#ifndef PV_HSM_BRIDGE_LEDGER_INTERNAL_H
#define PV_HSM_BRIDGE_LEDGER_INTERNAL_H

#include <time.h>

#include <jansson.h>

#include "ledger.h"
#include "ledger_store.h"

struct pv_ledger {
    pv_store *store;
    int read_only; /* opened with PV_LEDGER_READ_ONLY: write transactions are refused */
    int has_signer;
    pv_ledger_signer signer;
    char key_id[PV_LEDGER_TEXT_MAX];
    int has_actor;
    char actor_station[PV_LEDGER_TEXT_MAX];
    char actor_session[PV_LEDGER_TEXT_MAX];
    uint32_t lease_s;
    /* The last entry this transaction appended: after a connection lost during COMMIT, the
     * audit head tells whether the transaction was committed. */
    int appended;
    int64_t last_seq;
    uint8_t last_hash[32];
    char err[768];
};

__attribute__((format(printf, 3, 4))) int pv_ledger_fail_msg(pv_ledger *l, int rc, const char *fmt,
                                                             ...);

/* Runs body in one store transaction (write: the ledger's write lock first): commits when body
 * returns >= 0 (its return), else rolls back. A connection lost on the way is reconnected once
 * and the whole transaction retried unless it committed. */
typedef int (*txn_body)(pv_ledger *l, void *arg);
int pv_ledger_txn(pv_ledger *l, enum pv_store_txn mode, txn_body body, void *arg);

/* A change: a signer and a valid actor first, then pv_ledger_txn in write mode; a success clears
 * the last error (ledger_policy.c). */
int pv_ledger_write_txn(pv_ledger *l, txn_body body, void *arg);
/* With an actor, a change to row r needs the actor's session to hold its lease: PV_LEDGER_OK, or
 * PV_LEDGER_E_LEASED with the message set. */
int pv_ledger_hold_lease(pv_ledger *l, const pv_ledger_row *r);
/* UTC now, ISO 8601 with milliseconds (sorts as text). */
void pv_ledger_now(char out[32]);
/* ts as the ledger writes times (UTC ISO 8601 with milliseconds). */
void pv_ledger_format_time(struct timespec ts, char out[32]);

/* One audit entry as hashed; NULL fields are allowed except at, action and detail. */
typedef struct pv_audit_entry {
    int64_t seq;
    const char *at, *action, *batch, *uid, *state, *station, *detail, *key_id;
} pv_audit_entry;

/* SHA-256(prev || canonical bytes of e). */
void pv_ledger_audit_hash(const uint8_t prev[32], const pv_audit_entry *e, uint8_t out[32]);
/* Appends an entry inside the caller's write transaction: takes the last entry's seq and hash,
 * hashes, signs. detail is consumed. PV_LEDGER_OK or an error (the caller rolls back). */
int pv_ledger_audit_append(pv_ledger *l, const char *at, const char *action, const char *batch,
                           const char *uid, const char *state, const char *station, json_t *detail);

/* The updates table as the audit log says it must be (ledger_updates.c, for verify). */
struct pv_ledger_xupdates {
    pv_ledger_update *u;
    size_t n, cap;
};
/* Applies an "update" or "update_end" entry: 0, 1 if it does not follow from the entries before
 * it, -1 out of memory, 2 if action is not an update action. */
int pv_ledger_xupdates_apply(struct pv_ledger_xupdates *x, const pv_store_audit *e, json_t *d);
/* Compares the updates table with x: PV_LEDGER_OK, PV_LEDGER_E_CHAIN with msg naming the first
 * difference, or the store's error. */
int pv_ledger_xupdates_check(pv_store *s, struct pv_ledger_xupdates *x, char *msg, size_t len);
void pv_ledger_xupdates_free(struct pv_ledger_xupdates *x);

/* The device_data table as the audit log says it must be (ledger_devdata.c, for verify). */
struct pv_ledger_xdevdata {
    pv_ledger_devdata *d;
    size_t n, cap;
};
/* Applies a "devdata" entry: 0, 1 if it does not follow, -1 out of memory, 2 if action is not
 * "devdata". */
int pv_ledger_xdevdata_apply(struct pv_ledger_xdevdata *x, const pv_store_audit *e, json_t *d);
int pv_ledger_xdevdata_check(pv_store *s, struct pv_ledger_xdevdata *x, char *msg, size_t len);
void pv_ledger_xdevdata_free(struct pv_ledger_xdevdata *x);

#endif
