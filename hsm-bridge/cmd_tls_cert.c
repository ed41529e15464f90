/* hsm-bridge tls-cert: the bridge's own TLS server certificate, issued by the station CA for a
 * CSR, with its subjectAltNames (station_ca.h, PV_STATION_CERT_SERVER). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "station_ca.h"

#define SERVER_DAYS_DEFAULT 825 /* no suffix: also written into the help text */
#define CSR_MAX             (64u * 1024u)

static const struct pv_cli_opt opts[] = {
    {'c', 'c', "config", "FILE", "the bridge's configuration (docs/bridge.md)", NULL},
    {'r', 'r', "csr", "FILE", "the certificate request (PEM or DER): openssl req -new -key KEY",
     NULL},
    {'s', 's', "san", "V", "a DNS name or an IP address (repeatable)", NULL},
    {'n', 'n', "name", "CN", "the certificate's CN (default: the first DNS --san)", NULL},
    {'d', 'd', "days", "N",
     "validity in days (default " PV_CLI_STR(SERVER_DAYS_DEFAULT) ", not past the CA's)", NULL},
    {'o', 'o', "output", "CERT", "where the certificate (PEM) goes", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_BX_OK,  PV_BX_REFUSED, PV_BX_USAGE, PV_BX_IO,
                            PV_BX_KEY, PV_BX_CONFIG,  -1};

static int is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int run(int argc, char **argv)
{
    const char *prog = "hsm-bridge tls-cert";
    const char *config = NULL, *csr_path = NULL, *name = NULL, *outp = NULL;
    const char *dns[PV_STATION_SAN_MAX], *ips[PV_STATION_SAN_MAX];
    size_t n_dns = 0, n_ips = 0;
    unsigned days = SERVER_DAYS_DEFAULT;
    int c;
    struct pv_cli_parser ps;
    pv_bx_begin(&ps, &pv_bx_tls_cert, prog, argc, argv);
    while ((c = pv_cli_next(&ps)) >= 0) {
        const char *v = ps.value;
        switch (c) {
        case 'c':
            config = v;
            break;
        case 'r':
            csr_path = v;
            break;
        case 's':
            if (n_dns + n_ips >= PV_STATION_SAN_MAX) {
                fprintf(stderr, "%s: at most %u --san\n", prog, PV_STATION_SAN_MAX);
                return PV_BX_USAGE;
            }
            if (is_ip(v))
                ips[n_ips++] = v;
            else
                dns[n_dns++] = v;
            break;
        case 'n':
            name = v;
            break;
        case 'd': {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (!*v || *end || v[0] == '-' || n == 0 || n > PV_STATION_DAYS_MAX) {
                fprintf(stderr, "%s: --days takes 1..%u\n", prog, PV_STATION_DAYS_MAX);
                return PV_BX_USAGE;
            }
            days = (unsigned)n;
            break;
        }
        case 'o':
            outp = v;
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
    if (!config || !csr_path || !outp || n_dns + n_ips == 0)
        return pv_cli_usage_error(&ps, "--config, --csr, -o and at least one --san are required",
                                  NULL);
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

const struct pv_cli_cmd pv_bx_tls_cert = {
    .name = "tls-cert",
    .summary = "issue the bridge's own TLS server certificate from the station CA",
    .usage = "tls-cert --config FILE --csr FILE --san NAME|IP... [--name CN] [--days N] -o CERT",
    .about = "Issues the bridge's TLS server certificate from the station CA (hsm-bridge ca "
             "init) for the public key of a CSR (its subject is ignored): CN = --name (default "
             "the first --san), extendedKeyUsage serverAuth, and a subjectAltName per --san (an "
             "IPv4 or IPv6 address, else a DNS name). Stations check it against the CA "
             "certificate, so the station's bridge URL must name one of the SANs. Point "
             "tls.cert at CERT and tls.key at the CSR's key.",
    .opts = opts,
    .exits = exits,
    .run = run,
};
