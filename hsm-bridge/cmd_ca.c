/* hsm-bridge ca init: the station CA's key pair in the products' token and its self-signed
 * certificate in the file tls.station_ca names (station_ca.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "station_ca.h"

#define CA_CN_DEFAULT   "hsm-bridge station CA"
#define CA_DAYS_DEFAULT 3650 /* no suffix: also written into the help text */

static const struct pv_cli_opt opts[] = {
    {'c', 'c', "config", "FILE", "the bridge's configuration (docs/bridge.md)", NULL},
    {'n', 'n', "cn", "NAME", "the CA's common name (default \"" CA_CN_DEFAULT "\")", NULL},
    {'d', 'd', "days", "N", "validity in days (default " PV_CLI_STR(CA_DAYS_DEFAULT) ")", NULL},
    {'f', 'f', "force", NULL,
     "replace an existing CA key and certificate: every certificate issued under the old one "
     "stops working",
     NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_BX_OK,  PV_BX_REFUSED, PV_BX_USAGE, PV_BX_IO,
                            PV_BX_KEY, PV_BX_CONFIG,  -1};

static int parse_days(const char *s, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || s[0] == '-' || v == 0 || v > PV_STATION_DAYS_MAX)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int run(int argc, char **argv)
{
    const char *prog = "hsm-bridge ca";
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        pv_cli_cmd_help(argc < 2 ? stderr : stdout, &pv_hsm_bridge_cli, &pv_bx_ca);
        return argc < 2 ? PV_BX_USAGE : PV_BX_OK;
    }
    if (strcmp(argv[1], "init") != 0) {
        fprintf(stderr, "%s: unknown subcommand '%s' (see hsm-bridge ca --help)\n", prog, argv[1]);
        return PV_BX_USAGE;
    }
    prog = "hsm-bridge ca init";
    const char *config = NULL, *cn = CA_CN_DEFAULT;
    unsigned days = CA_DAYS_DEFAULT;
    int force = 0, c;
    struct pv_cli_parser ps;
    pv_bx_begin(&ps, &pv_bx_ca, prog, argc - 1, argv + 1);
    while ((c = pv_cli_next(&ps)) >= 0) {
        switch (c) {
        case 'c':
            config = ps.value;
            break;
        case 'n':
            cn = ps.value;
            break;
        case 'd':
            if (parse_days(ps.value, &days) != 0) {
                fprintf(stderr, "%s: --days takes 1..%u\n", prog, PV_STATION_DAYS_MAX);
                return PV_BX_USAGE;
            }
            break;
        case 'f':
            force = 1;
            break;
        default:
            return pv_cli_usage_error(&ps, "option not handled", ps.opt->name);
        }
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_BX_OK : PV_BX_USAGE;
    char **rest;
    if (pv_cli_operands(&ps, &rest) > 0)
        return pv_cli_usage_error(&ps, "unexpected argument", rest[0]);
    if (!config)
        return pv_cli_usage_error(&ps, "--config FILE is required", NULL);
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config(prog, config, &cfg);
    if (rc != PV_BX_OK)
        return rc;
    struct pv_bx_token t;
    rc = pv_bx_open_token(prog, &cfg, &t);
    if (rc == PV_BX_OK) {
        char err[1024];
        pv_station_ca *ca = pv_station_ca_create(pv_bx_p11(&t), cfg.station_ca_key, cn, days, force,
                                                 cfg.station_ca, err, sizeof err);
        if (!ca) {
            fprintf(stderr, "%s: %s\n", prog, err);
            rc = PV_BX_REFUSED;
        } else {
            printf("station CA \"%s\": key \"%s\" in token \"%s\", certificate %s (%u days)\n", cn,
                   cfg.station_ca_key, t.recipe->keys.token, cfg.station_ca, days);
            pv_station_ca_free(ca);
        }
        pv_bx_close_token(&t);
    }
    pv_bridge_config_free(&cfg);
    return rc;
}

const struct pv_cli_cmd pv_bx_ca = {
    .name = "ca",
    .summary = "create the station CA in the token (ca init)",
    .usage = "ca init --config FILE [--cn NAME] [--days N] [--force]",
    .about = "Creates the station CA: an Ed25519 key pair generated in the token of the bridge's "
             "products (the first product recipe's keys.token), labelled station_ca_key "
             "(default \"" PV_STATION_CA_LABEL "\"), never extractable, and its self-signed CA "
             "certificate written to the file tls.station_ca names. Stations and the bridge's "
             "own TLS certificate are issued by it (hsm-bridge station enroll, hsm-bridge "
             "tls-cert).",
    .opts = opts,
    .exits = exits,
    .run = run,
};
