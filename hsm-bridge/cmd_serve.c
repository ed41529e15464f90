/* hsm-bridge serve --config FILE: the HTTPS server (server.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "server.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: hsm-bridge serve --config FILE\n"
            "\n"
            "Serves the bridge protocol (docs/bridge-protocol.md) over HTTPS, TLS 1.3 only, to\n"
            "stations presenting a certificate of the station CA that is enrolled and not\n"
            "revoked. Opens the token (PIN from token.pin_file, mode 0600 or 0400 and owned by\n"
            "this user, else $PROVISION_PIN, which is then removed from the environment; never\n"
            "from the command line), every product recipe and its images, and the ledger,\n"
            "then listens on `listen:`.\n"
            "Logs one line per request on stderr. GET /healthz needs no certificate.\n"
            "\n"
            "SIGTERM or SIGINT: the listener closes, new sessions are refused (503\n"
            "shutting_down), sessions in flight may finish within shutdown_grace_s; then the\n"
            "rest are recorded as failed and the process exits 0. A second signal stops at once.\n"
            "\n"
            "  --config FILE   the bridge's configuration (docs/bridge.md)\n"
            "\n"
            "exit status: 0 stopped by a signal; 2 bad command line; 5 configuration not valid;\n"
            "6 TLS setup or listen address failed; 7 the bridge cannot open (token, PIN,\n"
            "recipes, images or ledger).\n");
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        if (c == 'c') {
            config = optarg;
        } else if (c == 'h') {
            help(stdout);
            return PV_BX_OK;
        } else {
            fprintf(stderr, "hsm-bridge serve: %s %s (see hsm-bridge serve --help)\n",
                    c == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
            return PV_BX_USAGE;
        }
    }
    if (!config || optind < argc) {
        fprintf(stderr, "hsm-bridge serve: %s (see hsm-bridge serve --help)\n",
                config ? "unexpected argument" : "--config FILE is required");
        return PV_BX_USAGE;
    }
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config("hsm-bridge", config, &cfg);
    if (rc != PV_BX_OK)
        return rc;
    rc = pv_server_run(&cfg);
    pv_bridge_config_free(&cfg);
    return rc;
}

const struct pv_bx_command pv_bx_serve = {
    .name = "serve",
    .summary = "serve the bridge protocol over HTTPS (mutual TLS 1.3)",
    .run = run,
    .help = help,
};
