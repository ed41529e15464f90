/* hsm-bridge tls-cert: the bridge's own TLS server certificate, issued by the station CA for a
 * CSR, with its subjectAltNames (station_ca.h, PV_STATION_CERT_SERVER). */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "station_ca.h"

#define SERVER_DAYS_DEFAULT 825u
#define CSR_MAX             (64u * 1024u)

static void help(FILE *out)
{
    fprintf(out,
            "usage: hsm-bridge tls-cert --config FILE --csr FILE --san NAME|IP [--san ...]\n"
            "                           [--name CN] [--days N] -o CERT\n"
            "\n"
            "Issues the bridge's TLS server certificate from the station CA (hsm-bridge ca init)\n"
            "for the public key of a CSR (its subject is ignored): CN = --name (default the\n"
            "first --san), extendedKeyUsage serverAuth, and a subjectAltName per --san (an IPv4\n"
            "or IPv6 address, else a DNS name). Stations check it against the CA certificate,\n"
            "so the station's bridge URL must name one of the SANs. Point tls.cert at CERT and\n"
            "tls.key at the CSR's key.\n"
            "\n"
            "  --config FILE  the bridge's configuration (docs/bridge.md)\n"
            "  --csr FILE     the certificate request (PEM or DER): openssl req -new -key KEY\n"
            "  --san V        a DNS name or an IP address (repeat; at most %u)\n"
            "  --name CN      the certificate's CN\n"
            "  --days N       validity (default %u, not past the CA's)\n"
            "  -o CERT        where the certificate (PEM) goes\n"
            "\n"
            "exit status: 0 issued; 1 refused (CSR or SAN not valid); 2 bad command line;\n"
            "3 file error; 4 token, PIN or CA key error; 5 configuration not valid.\n",
            PV_STATION_SAN_MAX, SERVER_DAYS_DEFAULT);
}

static int is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int run(int argc, char **argv)
{
    const char *prog = "hsm-bridge tls-cert";
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"csr", required_argument, NULL, 'r'},
        {"san", required_argument, NULL, 's'},    {"name", required_argument, NULL, 'n'},
        {"days", required_argument, NULL, 'd'},   {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *csr_path = NULL, *name = NULL, *outp = NULL;
    const char *dns[PV_STATION_SAN_MAX], *ips[PV_STATION_SAN_MAX];
    size_t n_dns = 0, n_ips = 0;
    unsigned days = SERVER_DAYS_DEFAULT;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:r:s:n:d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'r':
            csr_path = optarg;
            break;
        case 's':
            if (n_dns + n_ips >= PV_STATION_SAN_MAX) {
                fprintf(stderr, "%s: at most %u --san\n", prog, PV_STATION_SAN_MAX);
                return PV_BX_USAGE;
            }
            if (is_ip(optarg))
                ips[n_ips++] = optarg;
            else
                dns[n_dns++] = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'd': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-' || v == 0 || v > PV_STATION_DAYS_MAX) {
                fprintf(stderr, "%s: --days takes 1..%u\n", prog, PV_STATION_DAYS_MAX);
                return PV_BX_USAGE;
            }
            days = (unsigned)v;
            break;
        }
        case 'o':
            outp = optarg;
            break;
        case 'h':
            help(stdout);
            return PV_BX_OK;
        default:
            fprintf(stderr, "%s: %s %s (see hsm-bridge tls-cert --help)\n", prog,
                    c == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
            return PV_BX_USAGE;
        }
    }
    if (!config || !csr_path || !outp || n_dns + n_ips == 0 || optind < argc) {
        fprintf(stderr, "%s: %s (see hsm-bridge tls-cert --help)\n", prog,
                optind < argc ? "unexpected argument"
                              : "--config, --csr, -o and at least one --san are required");
        return PV_BX_USAGE;
    }
    if (!name)
        name = n_dns ? dns[0] : "hsm-bridge";
    size_t csr_len;
    unsigned char *csr = pv_bx_slurp(prog, csr_path, CSR_MAX, &csr_len);
    if (!csr)
        return PV_BX_IO;
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config(prog, config, &cfg);
    if (rc != PV_BX_OK) {
        free(csr);
        return rc;
    }
    struct pv_bx_token t;
    rc = pv_bx_open_token(prog, &cfg, &t);
    if (rc == PV_BX_OK) {
        char err[1024];
        pv_station_ca *ca =
            pv_station_ca_load(pv_bx_p11(&t), cfg.station_ca_key, cfg.station_ca, err, sizeof err);
        if (!ca) {
            fprintf(stderr, "%s: %s\n", prog, err);
            rc = PV_BX_KEY;
        } else {
            struct pv_station_issue req = {.name = name,
                                           .days = days,
                                           .kind = PV_STATION_CERT_SERVER,
                                           .dns = dns,
                                           .n_dns = n_dns,
                                           .ips = ips,
                                           .n_ips = n_ips};
            static char pem[PV_STATION_CERT_PEM_MAX];
            size_t pem_len = 0;
            struct pv_station_cert_ids ids;
            if (pv_station_ca_issue(ca, csr, csr_len, &req, pem, sizeof pem, &pem_len, &ids, err,
                                    sizeof err) != 0) {
                fprintf(stderr, "%s: %s\n", prog, err);
                rc = PV_BX_REFUSED;
            } else if (pv_bx_write_file(prog, outp, pem, pem_len, 0644) != 0) {
                rc = PV_BX_IO;
            } else {
                printf("server certificate %s: CN %s, serial %s, sha256 %s\n", outp, name,
                       ids.serial, ids.sha256);
            }
            pv_station_ca_free(ca);
        }
        pv_bx_close_token(&t);
    }
    pv_bridge_config_free(&cfg);
    free(csr);
    return rc;
}

const struct pv_bx_command pv_bx_tls_cert = {
    .name = "tls-cert",
    .summary = "issue the bridge's own TLS server certificate from the station CA",
    .run = run,
    .help = help,
};
