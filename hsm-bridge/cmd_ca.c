/* hsm-bridge ca init: the station CA's key pair in the products' token and its self-signed
 * certificate in the file tls.station_ca names (station_ca.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "station_ca.h"

#define CA_CN_DEFAULT   "hsm-bridge station CA"
#define CA_DAYS_DEFAULT 3650u

static void help(FILE *out)
{
    fprintf(out,
            "usage: hsm-bridge ca init --config FILE [--cn NAME] [--days N] [--force]\n"
            "\n"
            "Creates the station CA: an Ed25519 key pair generated in the token of the bridge's\n"
            "products (the first product recipe's keys.token), labelled station_ca_key (default\n"
            "\"%s\"), never extractable, and its self-signed CA certificate written to the\n"
            "file tls.station_ca names. Stations and the bridge's own TLS certificate are issued\n"
            "by it (hsm-bridge station enroll, hsm-bridge tls-cert).\n"
            "\n"
            "  --config FILE  the bridge's configuration (docs/bridge.md)\n"
            "  --cn NAME      the CA's common name (default \"%s\")\n"
            "  --days N       validity (default %u)\n"
            "  --force        replace an existing CA key and certificate: every certificate\n"
            "                 issued under the old one stops working\n"
            "\n"
            "exit status: 0 created; 1 refused (a CA exists already); 2 bad command line;\n"
            "3 file error; 4 token or PIN error; 5 configuration not valid.\n",
            PV_STATION_CA_LABEL, CA_CN_DEFAULT, CA_DAYS_DEFAULT);
}

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
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? PV_BX_USAGE : PV_BX_OK;
    }
    if (strcmp(argv[1], "init") != 0) {
        fprintf(stderr, "%s: unknown subcommand '%s' (see hsm-bridge ca --help)\n", prog, argv[1]);
        return PV_BX_USAGE;
    }
    prog = "hsm-bridge ca init";
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"cn", required_argument, NULL, 'n'},
        {"days", required_argument, NULL, 'd'},   {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *cn = CA_CN_DEFAULT;
    unsigned days = CA_DAYS_DEFAULT;
    int force = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, ":c:n:d:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'n':
            cn = optarg;
            break;
        case 'd':
            if (parse_days(optarg, &days) != 0) {
                fprintf(stderr, "%s: --days takes 1..%u\n", prog, PV_STATION_DAYS_MAX);
                return PV_BX_USAGE;
            }
            break;
        case 'f':
            force = 1;
            break;
        case 'h':
            help(stdout);
            return PV_BX_OK;
        default:
            fprintf(stderr, "%s: %s %s (see hsm-bridge ca --help)\n", prog,
                    c == ':' ? "missing value for" : "unknown option", argv[optind]);
            return PV_BX_USAGE;
        }
    }
    if (!config || optind < argc - 1) {
        fprintf(stderr, "%s: %s (see hsm-bridge ca --help)\n", prog,
                config ? "unexpected argument" : "--config FILE is required");
        return PV_BX_USAGE;
    }
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

const struct pv_bx_command pv_bx_ca = {
    .name = "ca",
    .summary = "create the station CA in the token (ca init)",
    .run = run,
    .help = help,
};
