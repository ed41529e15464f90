/* hsm-bridge serve --config FILE: the HTTPS server (server.h). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "server.h"

static const struct pv_cli_opt opts[] = {
    {'c', 'c', "config", "FILE", "the bridge's configuration (docs/bridge.md)", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_BX_OK, PV_BX_USAGE, PV_BX_CONFIG, PV_BX_SERVE, PV_BX_OPEN, -1};

static int run(int argc, char **argv)
{
    const char *config = NULL;
    struct pv_cli_parser ps;
    pv_bx_begin(&ps, &pv_bx_serve, "hsm-bridge serve", argc, argv);
    int c;
    while ((c = pv_cli_next(&ps)) >= 0) {
        if (c == 'c')
            config = ps.value;
        else
            return pv_cli_usage_error(&ps, "option not handled", ps.opt->name);
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_BX_OK : PV_BX_USAGE;
    char **rest;
    if (pv_cli_operands(&ps, &rest) > 0)
        return pv_cli_usage_error(&ps, "unexpected argument", rest[0]);
    if (!config)
        return pv_cli_usage_error(&ps, "--config FILE is required", NULL);
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config("hsm-bridge", config, &cfg);
    if (rc != PV_BX_OK)
        return rc;
    rc = pv_server_run(&cfg);
    pv_bridge_config_free(&cfg);
    return rc;
}

const struct pv_cli_cmd pv_bx_serve = {
    .name = "serve",
    .summary = "serve the bridge protocol over HTTPS (mutual TLS 1.3)",
    .usage = "serve --config FILE",
    .about = "Serves the bridge protocol (docs/bridge-protocol.md) over HTTPS, TLS 1.3 only, to "
             "stations presenting a certificate of the station CA that is enrolled and not "
             "revoked. Opens the token (PIN from token.pin_file, else $PROVISION_PIN), every "
             "product recipe and its images, and the ledger, then listens on `listen:`. Logs "
             "one line per request on stderr. GET /healthz needs no certificate.\n\n"
             "SIGTERM or SIGINT: the listener closes, new sessions are refused (503 "
             "shutting_down), sessions in flight may finish within shutdown_grace_s; then the "
             "rest are recorded as failed and the process exits 0. A second signal stops at "
             "once.",
    .opts = opts,
    .exits = exits,
    .run = run,
};
