/* What a run records as it goes (libprovision.h): each phase's time, the device as far as it is
 * known, and the progress callback told of every step. Nothing here prints: the caller's
 * callback and result struct do (provisioner/run_output.c for `provision run`). */
#ifndef PV_PROVISIONER_RUN_REPORT_H
#define PV_PROVISIONER_RUN_REPORT_H

#include <stdint.h>

#include "libprovision.h"

enum pv_run_phase {
    PV_RUN_LOAD = PV_PROV_PHASE_LOAD,
    PV_RUN_IDENTIFY = PV_PROV_PHASE_IDENTIFY,
    PV_RUN_STUB = PV_PROV_PHASE_STUB,
    PV_RUN_RESERVE = PV_PROV_PHASE_RESERVE,
    PV_RUN_KEY = PV_PROV_PHASE_KEY,
    PV_RUN_ERASE = PV_PROV_PHASE_ERASE,
    PV_RUN_WRITE = PV_PROV_PHASE_WRITE,
    PV_RUN_VERIFY = PV_PROV_PHASE_VERIFY,
    PV_RUN_LOCK = PV_PROV_PHASE_LOCK,
    PV_RUN_NPHASES = PV_PROV_NPHASES
};

struct pv_run_report {
    pv_prov_progress_fn cb; /* may be NULL */
    void *cb_ctx;
    uint64_t t0, t_phase;
    int64_t ms[PV_RUN_NPHASES]; /* -1: not reached */
    int current;                /* phase under way */
    uint64_t bytes;             /* relayed in the current phase */
    /* the device, as far as known */
    char uid[25], batch[64], station[64], recipe[64], recipe_sha256[65], image_sha256[65];
    char probe[256], rdp[16], ledger_state[16];
    int resumed;
    int64_t probe_round_trips; /* -1: not counted */
};

uint64_t pv_run_now_ms(void);
void pv_run_report_init(struct pv_run_report *r, pv_prov_progress_fn cb, void *cb_ctx);
/* Phase p is done: records its time and tells the callback. */
void pv_run_phase_done(struct pv_run_report *r, enum pv_run_phase p, const char *detail);
/* Information (not a phase) for the callback. */
void pv_run_note(struct pv_run_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* n more bytes relayed in the phase under way (total: 0 when not known in advance). */
void pv_run_bytes(struct pv_run_report *r, uint64_t n, uint64_t total);
/* The end: everything recorded, the status and the error (NULL on success) into res. */
void pv_run_finish(const struct pv_run_report *r, int status, const char *error,
                   struct pv_prov_result *res);

#endif
