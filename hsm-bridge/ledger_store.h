/* The ledger's storage interface: what a database must do for the ledger's policy
 * (ledger_policy.c: states, transitions, quota, leases, audit chain). A store knows tables and
 * transactions, nothing about the rules. Two stores: ledger_store_sqlite.c (one file) and
 * ledger_store_pg.c (PostgreSQL through libpq). Not an API outside hsm-bridge/ledger*.c.
 *
 * Every function returns PV_LEDGER_OK or an error code (PV_LEDGER_E_UNKNOWN for a get of a
 * missing key, PV_LEDGER_E_DB for the database) with a message in the store's err buffer.
 * Text that is NULL in a table is "" in the structs below (except audit fields, where NULL and
 * "" hash differently). */
#ifndef PV_HSM_BRIDGE_LEDGER_STORE_H
#define PV_HSM_BRIDGE_LEDGER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

typedef struct pv_store pv_store;

typedef struct pv_store_batch {
    char batch[PV_LEDGER_TEXT_MAX];
    uint32_t quota;
    char created_at[32];
    int64_t used; /* devices counted (rows of the batch); filled by get and list */
} pv_store_batch;

typedef struct pv_store_failure {
    int64_t id; /* set by insert */
    char uid[2 * PV_LEDGER_UID_LEN + 1];
    char batch[PV_LEDGER_TEXT_MAX];
    char state[16];
    char phase[PV_LEDGER_TEXT_MAX];
    char reason[PV_LEDGER_REASON_MAX];
    char station[PV_LEDGER_TEXT_MAX];
    char at[32];
} pv_store_failure;

/* One audit entry as stored. Pointers are valid during the call (list: during the callback). */
typedef struct pv_store_audit {
    int64_t seq;
    const char *at, *action, *batch, *uid, *state, *station, *detail, *key_id;
    const uint8_t *prev_hash, *hash, *signature;
    size_t prev_hash_len, hash_len, signature_len;
} pv_store_audit;

enum pv_store_txn {
    PV_STORE_READ = 0,  /* one consistent snapshot */
    PV_STORE_WRITE = 1, /* the ledger's write lock first: writers are serialized (the audit chain
                           is one sequence; the quota's count and insert see no other writer) */
};

typedef struct pv_store_ops {
    const char *name; /* "sqlite", "postgresql" */
    void (*close)(pv_store *s);
    int (*begin)(pv_store *s, enum pv_store_txn mode);
    int (*commit)(pv_store *s);
    void (*rollback)(pv_store *s);
    /* 1 if the connection is gone (a server restart): the caller may reconnect and retry. */
    int (*lost)(pv_store *s);
    /* Reconnects once; PV_LEDGER_OK or PV_LEDGER_E_DB. */
    int (*reconnect)(pv_store *s);

    /* devices: the row's failures and last_failure are computed from the failures table */
    int (*device_get)(pv_store *s, const char *uid_hex, pv_ledger_row *out);
    int (*device_insert)(pv_store *s, pv_ledger_row *r);       /* sets r->id */
    int (*device_update)(pv_store *s, const pv_ledger_row *r); /* every column, by uid */
    int (*device_list)(pv_store *s, const char *batch /* NULL: all */,
                       int (*fn)(void *ctx, const pv_ledger_row *r), void *ctx);
    int (*state_counts)(pv_store *s, int64_t counts[6]);

    /* batches: get inside a write transaction also locks the batch row */
    int (*batch_get)(pv_store *s, const char *batch, pv_store_batch *out);
    int (*batch_put)(pv_store *s, const pv_store_batch *b, int insert);
    int (*batch_list)(pv_store *s, int (*fn)(void *ctx, const pv_store_batch *b), void *ctx);

    int (*failure_insert)(pv_store *s, pv_store_failure *f); /* sets f->id */
    int (*failure_list)(pv_store *s, int (*fn)(void *ctx, const pv_store_failure *f), void *ctx);

    /* The last entry: *seq 0 when the log is empty. */
    int (*audit_head)(pv_store *s, int64_t *seq, uint8_t hash[32], size_t *hash_len);
    int (*audit_insert)(pv_store *s, const pv_store_audit *e);
    int (*audit_list)(pv_store *s, int (*fn)(void *ctx, const pv_store_audit *e), void *ctx);

    int (*station_get)(pv_store *s, const char *name, pv_ledger_station *out);
    int (*station_put)(pv_store *s, const pv_ledger_station *st, int insert);
    int (*station_list)(pv_store *s, int (*fn)(void *ctx, const pv_ledger_station *st), void *ctx);

    /* updates: insert sets u->id; end writes ended_at, result, reason, now_version,
     * bytes_written by id; get PV_LEDGER_E_UNKNOWN for no such id; seen sets *found when a row
     * carries that ephemeral key */
    int (*update_insert)(pv_store *s, pv_ledger_update *u);
    int (*update_end)(pv_store *s, const pv_ledger_update *u);
    int (*update_get)(pv_store *s, int64_t id, pv_ledger_update *out);
    int (*update_seen)(pv_store *s, const char *ephemeral, int *found);
    int (*update_list)(pv_store *s, const char *uid_hex /* NULL: all */,
                       int (*fn)(void *ctx, const pv_ledger_update *u), void *ctx);

    /* A read-only query for figures (ledger_stats.c): sql's parameters are $1..$n, text, both
     * stores read them; fn gets each row's n_cols columns as text (NULL for an SQL NULL);
     * non-zero from fn stops the walk and is returned. what names the query in an error. */
    int (*select_rows)(pv_store *s, const char *what, const char *sql, const char *const *params,
                       unsigned n_params,
                       int (*fn)(void *ctx, const char *const *cols, unsigned n_cols), void *ctx);
    /* device data: insert one allocation; get PV_LEDGER_E_UNKNOWN when the UID has none; list in
     * allocation order; counter_max and mac_max set *found and *max to the highest value given
     * from that counter, resp. the highest address given in [lo, hi] */
    int (*devdata_get)(pv_store *s, const char *uid_hex, pv_ledger_devdata *out);
    int (*devdata_insert)(pv_store *s, const pv_ledger_devdata *d);
    int (*devdata_list)(pv_store *s, const char *batch /* NULL: all */,
                        int (*fn)(void *ctx, const pv_ledger_devdata *d), void *ctx);
    int (*devdata_counter_max)(pv_store *s, const char *counter, int *found, int64_t *max);
    int (*devdata_mac_max)(pv_store *s, uint64_t lo, uint64_t hi, int *found, uint64_t *max);
} pv_store_ops;

struct pv_store {
    const pv_store_ops *ops;
    char *err; /* the ledger's message buffer */
    size_t err_len;
};

/* Open a store, create or migrate its schema. NULL with the reason in err. */
pv_store *pv_store_sqlite_open(const char *path, unsigned flags, char *err, size_t err_len);
pv_store *pv_store_pg_open(const char *conninfo, unsigned flags, char *err, size_t err_len);
/* The SQLite connection of a SQLite store, NULL for any other. */
struct sqlite3 *pv_store_sqlite_db(pv_store *s);

/* Shared by the stores: "" for NULL. */
void pv_store_copy(char *out, size_t cap, const char *s);
/* uid_hex -> uid bytes. */
void pv_store_uid_bytes(const char *hex, uint8_t uid[PV_LEDGER_UID_LEN]);

#endif
