/* What `provision run` shows of a run (cmd_run.c): a line per phase from libprovision's progress
 * callback (a bar on a terminal, plain lines otherwise, nothing with --quiet or --json), and
 * from the result struct the error on stderr and either a summary or, with --json, one object
 * per device on stdout (docs/json-output.md). */
#ifndef PV_PROVISIONER_RUN_OUTPUT_H
#define PV_PROVISIONER_RUN_OUTPUT_H

#include "libprovision.h"

struct pv_run_output {
    int quiet, json, tty;
    char tag[64]; /* with several probes: "[probe] " before every line (and no bar) */
};

/* tag may be NULL. */
void pv_run_output_init(struct pv_run_output *o, int quiet, int json, const char *tag);
/* The progress callback (ctx: a struct pv_run_output). */
void pv_run_output_progress(void *ctx, const struct pv_prov_progress *p);
/* The end of a run. */
void pv_run_output_result(const struct pv_run_output *o, const struct pv_prov_result *res);

#endif
