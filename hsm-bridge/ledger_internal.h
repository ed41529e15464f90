/* Shared by the ledger's files (ledger_sqlite.c, ledger_audit.c, ledger_export.c); not an API. */
#ifndef PV_HSM_BRIDGE_LEDGER_INTERNAL_H
#define PV_HSM_BRIDGE_LEDGER_INTERNAL_H

#include <sqlite3.h>

#include <jansson.h>

#include "ledger.h"

struct pv_ledger {
    sqlite3 *db;
    int has_signer;
    pv_ledger_signer signer;
    char key_id[PV_LEDGER_TEXT_MAX];
    char err[768];
};

__attribute__((format(printf, 3, 4))) int pv_ledger_fail_msg(pv_ledger *l, int rc, const char *fmt,
                                                             ...);
/* PV_LEDGER_E_DB with "what: <sqlite message>". */
int pv_ledger_db_error(pv_ledger *l, const char *what);

/* One audit entry as stored; NULL fields are allowed except at, action and detail. */
typedef struct pv_audit_entry {
    int64_t seq;
    const char *at, *action, *batch, *uid, *state, *station, *detail, *key_id;
} pv_audit_entry;

/* SHA-256(prev || canonical bytes of e). */
void pv_ledger_audit_hash(const uint8_t prev[32], const pv_audit_entry *e, uint8_t out[32]);
/* Appends an entry inside the caller's transaction: takes the last entry's seq and hash, hashes,
 * signs. detail is consumed. PV_LEDGER_OK or an error (the caller rolls back). */
int pv_ledger_audit_append(pv_ledger *l, const char *at, const char *action, const char *batch,
                           const char *uid, const char *state, const char *station, json_t *detail);

/* Columns of a device row, in pv_ledger_row order, for SELECT ... FROM devices d. */
#define PV_LEDGER_ROW_COLUMNS                                                                      \
    "d.id, d.batch, d.uid, d.state, d.station, d.recipe_name, d.recipe_digest, d.image_digest, "   \
    "d.key_id, d.key_version, d.reserved_at, d.keyed_at, d.written_at, d.verified_at, "            \
    "d.locked_at, d.attempts, "                                                                    \
    "(SELECT COUNT(*) FROM failures f WHERE f.uid = d.uid), "                                      \
    "(SELECT f.phase || ': ' || f.reason FROM failures f WHERE f.uid = d.uid "                     \
    "ORDER BY f.id DESC LIMIT 1)"
void pv_ledger_row_from(sqlite3_stmt *st, pv_ledger_row *r);

#endif
