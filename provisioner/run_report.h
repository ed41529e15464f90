/* What `provision run` tells people and MES systems: a line per phase (a bar on a terminal,
 * plain lines otherwise, nothing with --quiet), and with --json one object per device. */
#ifndef PV_PROVISIONER_RUN_REPORT_H
#define PV_PROVISIONER_RUN_REPORT_H

#include <stdint.h>
#include <stdio.h>

enum pv_run_phase {
    PV_RUN_LOAD = 0, /* recipe, token, sealed image */
    PV_RUN_IDENTIFY,
    PV_RUN_STUB, /* stub uploaded and started, its message 1 read */
    PV_RUN_RESERVE,
    PV_RUN_KEY,
    PV_RUN_ERASE,
    PV_RUN_WRITE,
    PV_RUN_VERIFY, /* key slot written, image and key slot verified by the stub */
    PV_RUN_LOCK,
    PV_RUN_NPHASES
};

struct pv_run_report {
    int quiet, json, tty;
    FILE *out;    /* progress: stderr */
    char tag[64]; /* with several probes: "[probe] " before every line (and no bar) */
    uint64_t t0, t_phase;
    int64_t ms[PV_RUN_NPHASES]; /* -1: not reached */
    int current;                /* phase under way */
    /* the device, as far as known */
    char uid[25], batch[64], station[64], recipe[64], recipe_sha256[65], image_sha256[65];
    char probe[256], rdp[16], ledger_state[16];
    int resumed;
};

const char *pv_run_phase_name(enum pv_run_phase p);
uint64_t pv_run_now_ms(void);
void pv_run_report_init(struct pv_run_report *r, int quiet, int json);
/* Phase p is done: records its time and prints its line. */
void pv_run_phase_done(struct pv_run_report *r, enum pv_run_phase p, const char *detail);
/* An informational line (not a phase), unless quiet. */
void pv_run_note(struct pv_run_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The end: the JSON object (--json) on stdout, or a summary line unless quiet; the error on
 * stderr in every mode. */
void pv_run_finish(struct pv_run_report *r, int exit_code, const char *error);

#endif
