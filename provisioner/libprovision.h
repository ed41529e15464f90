/* libprovision: `provision run` as a C library, for line test software (docs/libprovision.md).
 *
 * One handle holds the options of a run (the same names as `provision run`'s options); each
 * pv_prov_run provisions the one chip on the probe and fills a result. Progress comes through
 * a callback the caller gives to the run. The library never writes to stdout or stderr, never
 * exits the process, and keeps no state outside the handle: one handle may run any number of
 * devices in a row. Threads: one run at a time per process (the PKCS#11 module and libcurl are
 * initialised per process); chips in parallel are one process each, as `provision run`'s gang
 * does. `provision run` itself is a thin CLI over this API.
 *
 * Versioning: PV_PROV_VERSION is the API this header describes; pv_prov_version() the one the
 * library linked at run time implements. The major number changes when a call or a struct
 * changes incompatibly; pv_prov_run checks the result struct's size, so a caller built against
 * another layout gets PV_PROV_USAGE instead of a corrupted struct. */
#ifndef PV_LIBPROVISION_H
#define PV_LIBPROVISION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PV_PROV_VERSION_MAJOR 1
#define PV_PROV_VERSION_MINOR 0
#define PV_PROV_VERSION       ((PV_PROV_VERSION_MAJOR << 16) | PV_PROV_VERSION_MINOR)

/* The version of the library in use: (major << 16) | minor. */
unsigned pv_prov_version(void);

/* How a run ended. The values are `provision run`'s exit codes (provision(1), EXIT STATUS). */
enum pv_prov_status {
    PV_PROV_OK = 0,          /* provisioned and locked */
    PV_PROV_INVALID = 1,     /* recipe, image or station configuration refused */
    PV_PROV_USAGE = 2,       /* options missing, unknown or contradicting each other */
    PV_PROV_IO = 3,          /* a file cannot be read */
    PV_PROV_KEY = 4,         /* token, PIN or key missing or unusable */
    PV_PROV_WRONG_CHIP = 5,  /* the chip is not the recipe's (DEV_ID, flash size) */
    PV_PROV_LOCKED = 6,      /* the chip is locked, or the ledger has it provisioned already */
    PV_PROV_QUOTA = 7,       /* the batch's quota is used up */
    PV_PROV_PROBE = 8,       /* the probe is unreachable or failed */
    PV_PROV_SESSION = 9,     /* the install session failed; the chip is left unlocked */
    PV_PROV_LEDGER = 10,     /* the ledger cannot be opened or refused a step */
    PV_PROV_BRIDGE = 11,     /* the bridge refused this station or cannot be reached */
    PV_PROV_NO_MEMORY = 127, /* out of memory (never an exit code of provision) */
};

/* "ok", "invalid", ... (the names in docs/json-output.md); "unknown" for any other value. */
const char *pv_prov_status_name(int status);

/* The phases of a run, in order. */
enum pv_prov_phase {
    PV_PROV_PHASE_LOAD = 0, /* recipe or bridge plan, token, sealed images */
    PV_PROV_PHASE_IDENTIFY, /* probe connected, chip identified and matched */
    PV_PROV_PHASE_STUB,     /* RAM stub uploaded and started, its message 1 read */
    PV_PROV_PHASE_RESERVE,  /* the trusted side reserved the chip in the ledger */
    PV_PROV_PHASE_KEY,      /* the chip's key slot sealed into the session */
    PV_PROV_PHASE_ERASE,
    PV_PROV_PHASE_WRITE,  /* the install frames relayed */
    PV_PROV_PHASE_VERIFY, /* the stub verified images and key slot */
    PV_PROV_PHASE_LOCK,   /* the chip locked, seen from outside, and recorded */
    PV_PROV_NPHASES,
};

/* "load", "identify", ...; "after lock" for PV_PROV_NPHASES, "?" for others. */
const char *pv_prov_phase_name(int phase);

/* What a progress callback receives. */
enum pv_prov_event {
    PV_PROV_EV_PHASE = 0, /* phase done, in phase_ms; message: details, may be "" */
    PV_PROV_EV_NOTE,      /* information (trusted side, images, warnings) */
    PV_PROV_EV_BYTES,     /* bytes relayed to the chip within phase */
};

struct pv_prov_progress {
    enum pv_prov_event event;
    enum pv_prov_phase phase; /* PV_PROV_EV_PHASE: the phase done; else the one under way */
    int64_t phase_ms;         /* PV_PROV_EV_PHASE: how long the phase took */
    /* PV_PROV_EV_BYTES: bytes relayed so far in this phase, and the total when it is known in
     * advance (the stub's upload), else 0: the install frames are the trusted side's ciphertext
     * and the station cannot tell how many will follow. */
    uint64_t bytes_done, bytes_total;
    const char *message; /* one line, never NULL; valid during the call only */
};

/* Called on the thread that runs pv_prov_run, between the run's steps; must not call the
 * library with the same handle. */
typedef void (*pv_prov_progress_fn)(void *ctx, const struct pv_prov_progress *p);

#define PV_PROV_VALUES_MAX 16

/* Everything a run found out, filled on success and on failure alike (fields not reached stay
 * empty, times -1). Text fields are NUL-terminated. */
struct pv_prov_result {
    int status;       /* enum pv_prov_status */
    int failed_phase; /* -1 on success; else the phase that failed, PV_PROV_NPHASES after it */
    char uid[25];     /* the chip's 96-bit UID in hex, "" if it was not read */
    char batch[64], station[64], recipe[64];
    char recipe_sha256[65], image_sha256[65]; /* hex */
    char probe[256];                          /* how the probe was reached */
    char rdp[16];                             /* "Level 2" etc. as last seen */
    char ledger_state[16];                    /* "none", "keyed", "verified", "locked" */
    int resumed;
    int64_t phase_ms[PV_PROV_NPHASES]; /* -1: not reached */
    int64_t total_ms;
    int64_t probe_round_trips; /* the times the station waited for its probe; -1: not counted */
    /* On failure: what failed, where (file:line, field, address, HTTP status) and how to fix
     * it, possibly over several lines; "" on success. */
    char error[4096];
    /* Per-device values written with the key slot (serial number, MAC address, ...), as the
     * trusted side reports them. */
    unsigned n_values;
    struct pv_prov_value {
        char name[32];
        char value[128];
    } values[PV_PROV_VALUES_MAX];
};

typedef struct pv_prov pv_prov;

/* A handle with no options set; NULL when out of memory. */
pv_prov *pv_prov_new(void);
/* Frees the handle and everything it holds (nothing of a run outlives pv_prov_run). NULL is
 * fine. */
void pv_prov_free(pv_prov *h);

/* Sets an option by the name `provision run` gives it, without the dashes: "recipe", "ledger",
 * "station", "pin-file", "module", "allow-plain-image", "mes", "bridge", "cert", "key", "ca",
 * "product", "batch", "config", "probe", "openocd-command" (each call adds one). value is
 * copied; NULL unsets the option ("openocd-command": forgets all of them); flags take "1" or
 * NULL. Returns PV_PROV_OK, or PV_PROV_USAGE (PV_PROV_NO_MEMORY) with the reason in err
 * (err_len bytes; err may be NULL). */
int pv_prov_set(pv_prov *h, const char *name, const char *value, char *err, size_t err_len);

/* Checks the options together (and reads the station configuration file, if one is set) without
 * touching token, bridge or chip: PV_PROV_OK, or PV_PROV_USAGE / PV_PROV_INVALID with err. */
int pv_prov_check(pv_prov *h, char *err, size_t err_len);

/* Provisions the chip on the probe. progress may be NULL. result_size must be
 * sizeof(struct pv_prov_result) (the check for a caller built against another version).
 * Returns result->status; every failure, the options' too, is a status with result->error,
 * never an abort. */
int pv_prov_run(pv_prov *h, pv_prov_progress_fn progress, void *progress_ctx,
                struct pv_prov_result *result, size_t result_size);

#ifdef __cplusplus
}
#endif

#endif
