/* The run of one device (run_flow.c) as libprovision.c drives it: the options resolved, the
 * state of the run, and the call. Internal to the library; callers use libprovision.h. */
#ifndef PV_PROVISIONER_RUN_FLOW_H
#define PV_PROVISIONER_RUN_FLOW_H

#include "../hsm-bridge/recipe.h"
#include "relay.h"
#include "run_report.h"
#include "station.h"
#include "station_config.h"
#include "trusted.h"

struct pv_run {
    /* options (strings owned by the handle) */
    const char *recipe_path, *ledger_path, *station, *pin_file, *module;
    const char *bridge_url, *cert, *key, *ca, *product, *batch;
    int allow_plain;
    const char *mes; /* the MES's values for the chip (a JSON object) the bridge validates, or
                        NULL (docs/device-data.md) */
    struct pv_station_probe sp;
    const struct pv_station_config *sc; /* --config: the station's configuration, or NULL */
    /* A gang's processes open the token one at a time: a byte in this pipe is the turn
     * (`provision run` with several probes); {-1, -1} outside a gang. */
    int token_turn[2];
    /* state */
    struct pv_trusted t;
    pv_recipe rc; /* local: the recipe; remote: built from the bridge's plan */
    struct pv_bridge_plan plan;
    struct pv_run_report rep;
    pv_probe_link link;
    struct pv_probe_ident id;
    struct pv_relay relay;
    char session[PV_BRIDGE_SESSION_ID_LEN]; /* "" until begin answered */
    uint32_t last_seq;                      /* the frame posted last */
    char pending[2048];                     /* rows a dead debug port may be (explain_pending) */
    char err[4096];
};

/* Runs the device with r's options (r->rep initialised): the status (a pv_prov_status), r->err
 * on failure. Everything it opened is closed again. */
int pv_run_device(struct pv_run *r);

/* `provision run` with several probes: the pipe that passes the token's turn between its
 * processes (read end, write end). Not part of the public API. */
void pv_prov_token_turn(pv_prov *h, int read_fd, int write_fd);

#endif
