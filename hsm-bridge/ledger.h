/* The ledger: which devices were provisioned, how far each got, and how many a batch may still
 * have (docs/ledger.md). One set of rules (ledger_policy.c) on two stores (ledger_store.h): a
 * SQLite file in WAL mode with synchronous=FULL, or PostgreSQL shared by several bridges. Every
 * state change is one transaction that takes the ledger's write lock first, so a commit survives
 * power loss and several stations (processes, hosts) count the quota exactly.
 *
 * One row per device UID (in the batch that reserved it) moves through
 *   reserved -> keyed -> written -> verified -> locked
 * one step at a time; a rerun after a failure may go back to keyed from keyed, written or
 * verified (the session redoes the device: erase, key, write, verify); locked is final and only
 * reachable from verified. Failures are recorded with phase and reason and never change state.
 *
 * Every change also appends an audit entry: hash = SHA-256(previous hash || canonical entry
 * bytes), signed by the caller's signer (an Ed25519 key in the token, or an OpenSSL key in
 * tests: ledger_ed25519.h). pv_ledger_verify_chain replays the log, checks every hash and
 * signature, and checks that the tables say exactly what the log says. */
#ifndef PV_HSM_BRIDGE_LEDGER_H
#define PV_HSM_BRIDGE_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PV_LEDGER_SCHEMA_VERSION 4u
#define PV_LEDGER_APPLICATION_ID 0x50564c47 /* "PVLG": PRAGMA application_id of a ledger file */
#define PV_LEDGER_UID_LEN        12u
#define PV_LEDGER_TEXT_MAX       64u  /* batch, station, recipe name, phase, key id (with NUL) */
#define PV_LEDGER_REASON_MAX     512u /* failure reason (with NUL) */
#define PV_LEDGER_SIG_MAX        512u
#define PV_LEDGER_BUSY_MS        15000 /* how long a writer waits for another station's commit */
#define PV_LEDGER_ENV            "PROVISION_LEDGER"
#define PV_LEDGER_DEFAULT_PATH   "provision-ledger.db"

typedef enum pv_ledger_state {
    PV_LEDGER_RESERVED = 1,
    PV_LEDGER_KEYED = 2,
    PV_LEDGER_WRITTEN = 3,
    PV_LEDGER_VERIFIED = 4,
    PV_LEDGER_LOCKED = 5,
} pv_ledger_state;

enum pv_ledger_rc {
    PV_LEDGER_OK = 0,
    PV_LEDGER_RESUMED = 1,        /* reserve: this UID is in progress in this batch; its row is
                                     returned and nothing is counted again */
    PV_LEDGER_E_PROVISIONED = -1, /* reserve: the device is locked already; nothing written */
    PV_LEDGER_E_QUOTA = -2,       /* reserve: the batch's quota is used up; nothing written */
    PV_LEDGER_E_OTHER_BATCH = -3, /* reserve: the UID is in progress in another batch */
    PV_LEDGER_E_ILLEGAL = -4,     /* advance: not a legal transition; nothing written */
    PV_LEDGER_E_UNKNOWN = -5,     /* no row for that UID */
    PV_LEDGER_E_SIGN = -6,        /* no signer, or it failed; nothing written */
    PV_LEDGER_E_DB = -7,          /* SQLite refused (disk, lock timeout, corrupt file) */
    PV_LEDGER_E_ARG = -8,         /* a NULL, empty or too long argument */
    PV_LEDGER_E_CHAIN = -9,       /* verify: the audit log or a table is not what was written */
    PV_LEDGER_E_LEASED = -10,     /* the row is leased to another station's session (not yet
                                     expired); nothing written */
    PV_LEDGER_E_REVOKED = -11,    /* station: revoked; nothing written */
    PV_LEDGER_E_EXISTS = -12,     /* station: the name is enrolled already; nothing written */
    PV_LEDGER_E_EXHAUSTED = -13,  /* device data: the MAC pool or the counter is used up;
                                     nothing written */
};

/* Signs the 32-byte entry hash: writes at most *sig_len bytes to sig and sets *sig_len. 0 on
 * success. */
typedef int (*pv_ledger_sign_fn)(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t *sig_len);
/* 0 if sig is key_id's signature of hash. */
typedef int (*pv_ledger_verify_fn)(void *ctx, const char *key_id, const uint8_t hash[32],
                                   const uint8_t *sig, size_t sig_len);

typedef struct pv_ledger_signer {
    const char *key_id; /* stored with each entry (hashed too): which key signed it */
    pv_ledger_sign_fn sign;
    void *ctx;
} pv_ledger_signer;

typedef struct pv_ledger_recipe {
    const char *name;   /* pv_recipe.name */
    uint8_t digest[32]; /* pv_recipe.digest: SHA-256 of the recipe file */
} pv_ledger_recipe;

/* What a step adds to the row (all optional). */
typedef struct pv_ledger_details {
    const char *image_digest; /* hex SHA-256 of what was written (written, verified) */
    int has_key;              /* keyed: the key slot's key_id / key_version */
    uint32_t key_id, key_version;
    unsigned rdp_level; /* locked: the RDP level reached (1 or 2; 0 for a Level 0 recipe) */
} pv_ledger_details;

/* Who acts, for every write from now on (pv_ledger_set_actor): the station (on the bridge, the
 * name in its client certificate) and the session holding the row's lease. A row in progress is
 * leased to one station and one session: reserve takes the lease (or takes over the same
 * station's earlier, dead session; or an expired lease of anyone's), and advance and fail refuse
 * with PV_LEDGER_E_LEASED a session that does not hold it. Reaching locked, or a failure, ends
 * the lease. Without an actor (local tools) no lease is taken or checked. */
#define PV_LEDGER_LEASE_DEFAULT_S 300u
typedef struct pv_ledger_actor {
    const char *station; /* 1..63 of [A-Za-z0-9._-] */
    const char *session; /* the lease holder: 1..63 of [0-9a-f] */
    uint32_t lease_s;    /* how long a lease taken now lasts; 0: PV_LEDGER_LEASE_DEFAULT_S */
} pv_ledger_actor;

typedef struct pv_ledger_row {
    int64_t id;
    char batch[PV_LEDGER_TEXT_MAX];
    uint8_t uid[PV_LEDGER_UID_LEN];
    char uid_hex[2 * PV_LEDGER_UID_LEN + 1];
    pv_ledger_state state;
    char station[PV_LEDGER_TEXT_MAX];
    char recipe_name[PV_LEDGER_TEXT_MAX];
    char recipe_digest[65];
    char image_digest[65]; /* "" until given */
    int has_key;
    uint32_t key_id, key_version;
    char at[5][32];    /* when each state was reached, UTC ISO 8601; "" if not (index state-1) */
    unsigned attempts; /* reservations: 1 + resumes */
    unsigned failures;
    char last_failure[PV_LEDGER_TEXT_MAX + PV_LEDGER_REASON_MAX]; /* "phase: reason" or "" */
    unsigned rdp_level;                     /* the level reached once locked, else 0 */
    char lease_station[PV_LEDGER_TEXT_MAX]; /* "" when no lease is held */
    char lease_session[PV_LEDGER_TEXT_MAX];
    char lease_until[32]; /* UTC ISO 8601 */
} pv_ledger_row;

/* An enrolled station (the bridge's registry of client certificates). */
#define PV_LEDGER_RIGHTS_MAX 1024u
typedef struct pv_ledger_station {
    char name[PV_LEDGER_TEXT_MAX];     /* the certificate's CN; 1..63 of [A-Za-z0-9._-] */
    char cert_sha256[65];              /* hex SHA-256 of the DER certificate issued */
    char serial[65];                   /* hex serial of that certificate */
    char rights[PV_LEDGER_RIGHTS_MAX]; /* space-separated "PRODUCT/BATCH"; BATCH may be "*" */
    char enrolled_at[32];
    char revoked_at[32]; /* "" while active */
    char revoke_reason[PV_LEDGER_REASON_MAX];
} pv_ledger_station;

typedef struct pv_ledger pv_ledger;

enum pv_ledger_open_flags {
    PV_LEDGER_CREATE = 1u << 0,    /* create the file if it does not exist */
    PV_LEDGER_READ_ONLY = 1u << 1, /* for reading commands: nothing is ever written */
};

/* Opens (and with PV_LEDGER_CREATE creates) the ledger at path: "postgresql://...",
 * "postgres://..." or any libpq conninfo starting "postgresql:" is PostgreSQL; "sqlite:PATH" or
 * a plain path is a SQLite file (WAL, synchronous=FULL, the busy timeout). Creates or migrates
 * the schema. NULL with a reason in err.
 * PV_LEDGER_READ_ONLY (list, export, verify, checkpoint): SQLite opens the file read-only
 * (SQLITE_OPEN_READONLY, query_only) after checking that it is a non-empty SQLite file, so a
 * missing, empty or foreign file is reported "not a ledger" and left as it was; PostgreSQL runs
 * every transaction READ ONLY. Neither creates nor migrates a schema (an older one is refused
 * with what migrates it), and every writing call fails with PV_LEDGER_E_DB. */
pv_ledger *pv_ledger_open(const char *path, unsigned flags, char *err, size_t err_len);
void pv_ledger_close(pv_ledger *l);
/* The signer for every write from now on; NULL removes it (reads still work). Copied. */
void pv_ledger_set_signer(pv_ledger *l, const pv_ledger_signer *s);
/* The actor for every write from now on (copied); NULL: none (no lease checks). */
void pv_ledger_set_actor(pv_ledger *l, const pv_ledger_actor *who);
/* The last failure's message ("" after a success). */
const char *pv_ledger_error(const pv_ledger *l);
/* The SQLite connection, for diagnostics and tests (PRAGMA checks); NULL on PostgreSQL. */
struct sqlite3 *pv_ledger_db(pv_ledger *l);

/* Reserves uid in batch for a station before anything secret is released. The batch is created
 * with quota on first use; a different quota later replaces it (audited). Returns PV_LEDGER_OK
 * (a new row, counted), PV_LEDGER_RESUMED (existing row of this batch, not counted again; the
 * station and recipe are updated and attempts incremented), or a refusal that writes nothing:
 * PV_LEDGER_E_PROVISIONED, PV_LEDGER_E_QUOTA, PV_LEDGER_E_OTHER_BATCH. row (may be NULL) gets
 * the row after the call. */
int pv_ledger_reserve(pv_ledger *l, const char *batch, const uint8_t uid[PV_LEDGER_UID_LEN],
                      const char *station, const pv_ledger_recipe *recipe, uint32_t quota,
                      pv_ledger_row *row);
/* Moves uid's row to state (legal transitions above). d may be NULL. */
int pv_ledger_advance(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], pv_ledger_state state,
                      const pv_ledger_details *d);
/* Moves uid's row forward one legal step at a time up to state, all in one transaction (all or
 * nothing), each step audited as pv_ledger_advance audits it: one commit where a caller has
 * several steps to record at once (written and verified). d applies to every step. */
int pv_ledger_advance_through(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN],
                              pv_ledger_state state, const pv_ledger_details *d);
/* Records a failed attempt (phase: "probe", "keys", "erase", "write", "verify", "lock"...). The
 * state stays; a rerun resumes. */
int pv_ledger_fail(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], const char *phase,
                   const char *reason);
/* A chip locked before the ledger said so (power cut or
 * station crash between the lock frame and the `locked` step) has a dead debug port, so no
 * station can read its UID again; a person confirms it. Moves uid's row from verified to locked
 * with an audit entry (action "advance", detail {"manual": true, "confirmed_by", "reason"})
 * signed like every other. Refuses any row not in state verified (PV_LEDGER_E_ILLEGAL; unknown
 * UID: PV_LEDGER_E_UNKNOWN) and writes nothing then. by: who confirms (user@host); reason: why
 * (1 to PV_LEDGER_REASON_MAX - 1 characters). */
int pv_ledger_confirm_locked(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], const char *by,
                             const char *reason);

int pv_ledger_get(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN], pv_ledger_row *row);
/* Calls fn for every row (of batch, or all when batch is NULL) in reservation order; a non-zero
 * return from fn stops the walk and is returned. */
int pv_ledger_list(pv_ledger *l, const char *batch, int (*fn)(void *ctx, const pv_ledger_row *r),
                   void *ctx);
/* A batch's quota and how many devices it has counted. PV_LEDGER_E_UNKNOWN if no such batch. */
int pv_ledger_batch(pv_ledger *l, const char *batch, uint32_t *quota, uint32_t *used);

enum pv_ledger_format {
    PV_LEDGER_CSV,         /* devices: RFC 4180, one header line */
    PV_LEDGER_JSON,        /* devices: one JSON array */
    PV_LEDGER_JSONL,       /* JSON Lines: a "device" record per device, then an "update" record
                              per firmware update attempt */
    PV_LEDGER_CSV_UPDATES, /* the update attempts as CSV */
};
/* Every row (of batch, or all), with its per-device data (serial, mac, mes), in one read
 * snapshot (docs/ledger.md, "Export"). */
int pv_ledger_export(pv_ledger *l, FILE *out, enum pv_ledger_format fmt, const char *batch);

typedef struct pv_ledger_verify_report {
    int64_t entries;   /* audit entries checked */
    int64_t first_bad; /* seq of the first broken entry, 0 if none (or a table broke) */
    int signatures;    /* 1 if signatures were checked */
    char message[768]; /* what is wrong, naming the entry or row; "" when all is well */
} pv_ledger_verify_report;

/* Checks the audit chain (sequence, hashes, signatures with verify unless it is NULL), then
 * replays it and checks the batches, devices and failures tables against it. PV_LEDGER_OK, or
 * PV_LEDGER_E_CHAIN with rep naming the first problem. */
int pv_ledger_verify_chain(pv_ledger *l, pv_ledger_verify_fn verify, void *ctx,
                           pv_ledger_verify_report *rep);

/* ---- stations (audited like every other change) ---- */
/* Adds s (enrolled_at and revoked_at are set here). PV_LEDGER_E_EXISTS if the name is enrolled
 * and not revoked; a revoked name may be enrolled again (a new certificate). */
int pv_ledger_station_enroll(pv_ledger *l, const pv_ledger_station *s);
/* PV_LEDGER_E_UNKNOWN if never enrolled. */
int pv_ledger_station_get(pv_ledger *l, const char *name, pv_ledger_station *out);
int pv_ledger_station_list(pv_ledger *l, int (*fn)(void *ctx, const pv_ledger_station *s),
                           void *ctx);
/* PV_LEDGER_E_UNKNOWN, or PV_LEDGER_E_REVOKED if revoked already (nothing written). */
int pv_ledger_station_revoke(pv_ledger *l, const char *name, const char *by, const char *reason);

/* ---- figures for the bridge's metrics ---- */
/* Calls fn for every batch with its quota and devices counted. */
int pv_ledger_batches(pv_ledger *l,
                      int (*fn)(void *ctx, const char *batch, uint32_t quota, uint32_t used),
                      void *ctx);
/* counts[state] = rows in each state (index PV_LEDGER_RESERVED..PV_LEDGER_LOCKED; 0 unused). */
int pv_ledger_state_counts(pv_ledger *l, int64_t counts[6]);

/* ---- firmware updates (docs/ledger.md, "Updates"): one row per attempt, refusals included ---- */
#define PV_LEDGER_RESULT_MAX 24u
typedef struct pv_ledger_update {
    int64_t id;                              /* set by pv_ledger_update_record */
    char uid_hex[2 * PV_LEDGER_UID_LEN + 1]; /* the UID message 1 claimed (known or not) */
    char session[PV_LEDGER_TEXT_MAX];        /* the bridge's session id; "" for a refusal */
    char station[PV_LEDGER_TEXT_MAX];
    char product[PV_LEDGER_TEXT_MAX]; /* "" when the UID is not the bridge's */
    char batch[PV_LEDGER_TEXT_MAX];
    char started_at[32], ended_at[32]; /* set by the ledger; ended_at "" while begun */
    uint32_t from_version;             /* HELLO: the running application's version (0: none) */
    uint32_t floor;                    /* HELLO: the anti-rollback floor */
    uint32_t offered_version;          /* OFFER's version; 0 when nothing was offered */
    char image_sha256[65];             /* hex SHA-256 of the offered image; "" if none */
    char result[PV_LEDGER_RESULT_MAX]; /* "begun", then the end: "installed", "refused_version",
                                          ..., or a refusal: "unknown_uid", "psk_mismatch",
                                          "replay", "no_release", "abandoned" */
    char reason[PV_LEDGER_REASON_MAX];
    uint32_t now_version;   /* REPORT: the version now in the application region */
    uint32_t bytes_written; /* REPORT: bytes written */
    char ephemeral[65];     /* hex of message 1's ephemeral key once message 1 authenticated;
                               a key seen before is a replay */
} pv_ledger_update;

/* Records one attempt (its started_at, and ended_at unless result is "begun", are set here;
 * u->id gets the row's id). A non-empty ephemeral that any earlier row carries is refused with
 * PV_LEDGER_E_EXISTS and nothing is written: the caller records the replay as a refusal without
 * it. result and reason: 1.. characters, printable. */
int pv_ledger_update_record(pv_ledger *l, pv_ledger_update *u);
/* Ends the begun attempt id with its result (REPORT's, or "abandoned"); PV_LEDGER_E_ILLEGAL if
 * it has ended already, PV_LEDGER_E_UNKNOWN if there is no such row; nothing written then. */
int pv_ledger_update_finish(pv_ledger *l, int64_t id, const char *result, const char *reason,
                            uint32_t now_version, uint32_t bytes_written);
/* Every attempt (of one UID, or all when uid is NULL) in the order they began; non-zero from fn
 * stops the walk and is returned. */
int pv_ledger_update_list(pv_ledger *l, const uint8_t *uid,
                          int (*fn)(void *ctx, const pv_ledger_update *u), void *ctx);

/* ---- per-device data (docs/device-data.md): a serial from a counter, a MAC from a pool, the
 * MES's values; allocated once per UID, bound to it for good ---- */
#define PV_LEDGER_MES_MAX 2048u /* the MES values as one JSON object (with the NUL) */
typedef struct pv_ledger_devdata {
    char uid_hex[2 * PV_LEDGER_UID_LEN + 1];
    char batch[PV_LEDGER_TEXT_MAX];
    char at[32];                      /* when it was allocated */
    char counter[PV_LEDGER_TEXT_MAX]; /* the serial's counter; "" when the recipe has no serial */
    int64_t counter_value;            /* its value for this device (with counter) */
    char serial[PV_LEDGER_TEXT_MAX];  /* the serial as formatted */
    int has_mac;
    uint64_t mac;                /* 48 bits */
    char mac_text[18];           /* "02:00:00:00:10:2a"; "" without */
    char mes[PV_LEDGER_MES_MAX]; /* JSON object, sorted keys; "{}" without */
} pv_ledger_devdata;

/* What a device is to get; the caller (the trusted side) has validated the MES values. */
typedef struct pv_ledger_devdata_req {
    const char *counter;   /* NULL: no serial */
    int64_t counter_first; /* the counter's first value */
    int64_t counter_last;  /* its last (the format's width); beyond it: PV_LEDGER_E_EXHAUSTED */
    /* The serial of value n (a pure function of n); 0, or -1 if it cannot be made. */
    int (*render)(void *ctx, int64_t n, char *out, size_t cap);
    void *render_ctx;
    int has_mac;
    uint64_t mac_first, mac_last; /* the pool, inclusive */
    const char *mes;              /* a JSON object; NULL: "{}" */
} pv_ledger_devdata_req;

/* The UID's values: if it has some already (a rerun, also after a failed run or a power cut),
 * those unchanged (PV_LEDGER_RESUMED); else the counter's next value and the pool's next free
 * address above every address ever given from it, recorded with the MES values and audited
 * ("devdata") in one transaction (PV_LEDGER_OK). A value once given is never given to another
 * UID, also when the run fails. The UID must be reserved and not locked (PV_LEDGER_E_UNKNOWN,
 * PV_LEDGER_E_ILLEGAL), leased to the actor if there is one; PV_LEDGER_E_EXHAUSTED when the pool
 * or the counter is used up. Refusals write nothing. */
int pv_ledger_devdata_allocate(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN],
                               const pv_ledger_devdata_req *req, pv_ledger_devdata *out);
/* PV_LEDGER_E_UNKNOWN when the UID has none. */
int pv_ledger_devdata_get(pv_ledger *l, const uint8_t uid[PV_LEDGER_UID_LEN],
                          pv_ledger_devdata *out);
/* Every allocation (of batch, or all) in the order they were made. */
int pv_ledger_devdata_list(pv_ledger *l, const char *batch,
                           int (*fn)(void *ctx, const pv_ledger_devdata *d), void *ctx);
/* "02:00:00:00:10:2a" for the 48-bit value mac. */
void pv_ledger_mac_text(uint64_t mac, char out[18]);

const char *pv_ledger_state_name(pv_ledger_state s);
/* "reserved" -> PV_LEDGER_RESERVED; 0 if not a state name. */
pv_ledger_state pv_ledger_state_from_name(const char *name);
const char *pv_ledger_strerror(int rc);

#endif
