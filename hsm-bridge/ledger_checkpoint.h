/* Signed checkpoints of the ledger's audit chain (docs/ledger.md, "Checkpoints").
 *
 * The chain proves that no entry was changed, inserted or removed in the middle, but not that
 * the newest entries are all there: someone with write access to the database who deletes the
 * last N entries and the rows they created leaves a shorter chain that verifies. A checkpoint
 * is the trusted side's signed statement "the chain had N entries and entry N's hash was H at
 * time T", published outside the database (a small JSON file):
 *
 *   {"format": "pv-ledger-checkpoint/1", "entries": 12, "head": "<64 hex>",
 *    "at": "2026-12-07T03:00:00.000Z", "key_id": "ed25519:...", "signature": "<128 hex>"}
 *
 * The signature is the audit key's Ed25519 signature of SHA-256 of the text
 * "pv-ledger-checkpoint/1\nentries=N\nhead=HEX\nat=T\nkey_id=K\n". A later chain is consistent
 * with the checkpoint when it still has entry N with hash H (the chain itself proves everything
 * before N and links everything after it). */
#ifndef PV_HSM_BRIDGE_LEDGER_CHECKPOINT_H
#define PV_HSM_BRIDGE_LEDGER_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

#define PV_CHECKPOINT_FORMAT   "pv-ledger-checkpoint/1"
#define PV_CHECKPOINT_FILE_MAX 4096u /* bytes of a checkpoint file */

typedef struct pv_ledger_checkpoint {
    int64_t entries;  /* audit entries at the time: the head's seq (0: an empty chain) */
    uint8_t head[32]; /* entry `entries`'s hash (zero for an empty chain) */
    char at[32];      /* when it was taken, UTC ISO 8601 */
    char key_id[PV_LEDGER_TEXT_MAX];
    uint8_t sig[PV_LEDGER_SIG_MAX];
    size_t sig_len;
} pv_ledger_checkpoint;

/* The 32 bytes that are signed. */
void pv_ledger_checkpoint_digest(const pv_ledger_checkpoint *cp, uint8_t out[32]);

/* Reads the chain's head in one read transaction and signs it with signer (the audit key).
 * PV_LEDGER_OK, or an error with pv_ledger_error(l) saying why; writes nothing to the ledger. */
int pv_ledger_checkpoint_make(pv_ledger *l, const pv_ledger_signer *signer,
                              pv_ledger_checkpoint *cp);

/* The JSON text of cp (malloc'd, ending in a newline), NULL when out of memory. */
char *pv_ledger_checkpoint_json(const pv_ledger_checkpoint *cp);

/* Parses a checkpoint file's text. 0, or -1 with err naming the field that is missing or
 * malformed. The signature is not checked here. */
int pv_ledger_checkpoint_parse(const char *text, size_t len, pv_ledger_checkpoint *cp, char *err,
                               size_t err_len);

/* Checks cp against the ledger: its signature with verify (key_id must be the key's; a
 * checkpoint from another key or with any field changed fails), then that the chain still holds
 * entry cp->entries with hash cp->head. Run pv_ledger_verify_chain too: together they prove the
 * chain has every entry the checkpoint covers, unchanged. PV_LEDGER_OK, PV_LEDGER_E_SIGN (the
 * checkpoint's signature) or PV_LEDGER_E_CHAIN (truncated or rewritten) with msg saying which
 * and naming the entries; PV_LEDGER_E_DB with pv_ledger_error(l). */
int pv_ledger_checkpoint_check(pv_ledger *l, const pv_ledger_checkpoint *cp,
                               pv_ledger_verify_fn verify, void *ctx, char *msg, size_t msg_len);

#endif
