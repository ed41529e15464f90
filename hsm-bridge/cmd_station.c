/* hsm-bridge station enroll|list|revoke: the registry of stations (ledger.h, "stations"), each
 * known by the client certificate the station CA issued it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bridge.h"
#include "cmd.h"
#include "text_safe.h"
#include "station_ca.h"

#define STATION_DAYS_DEFAULT 365 /* no suffix: also written into the help text */
#define CSR_MAX              (64u * 1024u)

static const struct pv_cli_opt opts[] = {
    {'c', 'c', "config", "FILE", "the bridge's configuration (docs/bridge.md)", NULL},
    {'r', 'r', "csr", "FILE", "enroll: the station's certificate request (PEM or DER)", NULL},
    {'R', 'R', "rights", "PRODUCT/BATCH",
     "enroll: what the station may run (repeat; BATCH may be *); none: it may read /metrics "
     "only",
     NULL},
    {'O', 'O', "operator", NULL,
     "enroll: an operator's certificate: it reads the operator's view (/operator) and /metrics "
     "and provisions nothing (not with --rights)",
     NULL},
    {'d', 'd', "days", "N",
     "enroll: validity in days (default " PV_CLI_STR(STATION_DAYS_DEFAULT) ")", NULL},
    {'o', 'o', "output", "CERT", "enroll: where the certificate (PEM) goes (else stdout)", NULL},
    {'j', 'j', "json", NULL, "list: a JSON array", NULL},
    {'e', 'e', "reason", "TEXT", "revoke: why the station is revoked", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_BX_OK,  PV_BX_REFUSED, PV_BX_USAGE,  PV_BX_IO,
                            PV_BX_KEY, PV_BX_CONFIG,  PV_BX_LEDGER, -1};

struct opts {
    const char *config, *csr, *out, *reason, *name;
    char rights[PV_LEDGER_RIGHTS_MAX];
    unsigned days;
    int json, operator_role;
};

static int usage_error(const char *prog, const char *msg, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s (see hsm-bridge station --help)\n", prog, msg, arg ? " " : "",
            arg ? arg : "");
    return PV_BX_USAGE;
}

/* PRODUCT/BATCH, each 1..63 printable characters without spaces or '/'. */
static int right_ok(const char *r)
{
    const char *slash = strchr(r, '/');
    if (!slash || slash == r || !slash[1] || strchr(slash + 1, '/'))
        return 0;
    if ((size_t)(slash - r) >= PV_LEDGER_TEXT_MAX || strlen(slash + 1) >= PV_LEDGER_TEXT_MAX)
        return 0;
    for (const char *p = r; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return 0;
    return 1;
}

static int parse(const char *prog, int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->days = STATION_DAYS_DEFAULT;
    int c;
    struct pv_cli_parser ps;
    pv_bx_begin(&ps, &pv_bx_station, prog, argc, argv);
    while ((c = pv_cli_next(&ps)) >= 0) {
        const char *v = ps.value;
        switch (c) {
        case 'c':
            o->config = v;
            break;
        case 'r':
            o->csr = v;
            break;
        case 'R': {
            if (!right_ok(v))
                return usage_error(prog, "--rights takes PRODUCT/BATCH (BATCH may be *), got", v);
            size_t used = strlen(o->rights);
            if (used + strlen(v) + 2 > sizeof o->rights)
                return usage_error(prog, "too many --rights", NULL);
            snprintf(o->rights + used, sizeof o->rights - used, "%s%s", used ? " " : "", v);
            break;
        }
        case 'd': {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (!*v || *end || v[0] == '-' || n == 0 || n > PV_STATION_DAYS_MAX)
                return usage_error(prog, "--days takes 1..36500, got", v);
            o->days = (unsigned)n;
            break;
        }
        case 'O':
            o->operator_role = 1;
            break;
        case 'o':
            o->out = v;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'e':
            o->reason = v;
            break;
        default:
            return usage_error(prog, "option not handled", ps.opt->name);
        }
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? -1 : PV_BX_USAGE;
    char **rest;
    int n = pv_cli_operands(&ps, &rest);
    if (n > 0)
        o->name = rest[0];
    if (n > 1)
        return usage_error(prog, "unexpected argument", rest[1]);
    if (!o->config)
        return usage_error(prog, "--config FILE is required", NULL);
    if (o->operator_role && o->rights[0])
        return usage_error(prog,
                           "--operator and --rights exclude each other: an operator provisions "
                           "nothing; enrol a station under another name for that",
                           NULL);
    if (o->operator_role)
        snprintf(o->rights, sizeof o->rights, "%s", PV_BRIDGE_OPERATOR_RIGHTS);
    return 0;
}

/* ---- enroll ---- */

static int enroll(const char *prog, struct opts *o)
{
    char shown[4 * PV_NAME_MAX + 16];
    if (!o->name || !pv_station_name_valid(o->name))
        return usage_error(prog,
                           "station name: NAME must be " PV_NAME_RULE " (it becomes the "
                           "certificate's CN and every ledger row's station), got",
                           o->name ? pv_text_escape(o->name, shown, sizeof shown) : "none");
    if (!o->csr)
        return usage_error(prog, "--csr FILE is required", NULL);
    size_t csr_len;
    unsigned char *csr = pv_bx_slurp(prog, o->csr, CSR_MAX, &csr_len);
    if (!csr)
        return PV_BX_IO;
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config(prog, o->config, &cfg);
    if (rc != PV_BX_OK) {
        free(csr);
        return rc;
    }
    struct pv_bx_token t;
    pv_ledger *l = NULL;
    pv_station_ca *ca = NULL;
    rc = pv_bx_open_token(prog, &cfg, &t);
    if (rc != PV_BX_OK)
        goto out_cfg;
    char err[1024];
    ca = pv_station_ca_load(pv_bx_p11(&t), cfg.station_ca_key, cfg.station_ca, err, sizeof err);
    if (!ca) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = PV_BX_KEY;
        goto out;
    }
    /* Refuse a taken name before issuing anything. */
    rc = pv_bx_open_ledger(prog, &cfg, &t, &l);
    if (rc != PV_BX_OK)
        goto out;
    pv_ledger_station old;
    if (pv_ledger_station_get(l, o->name, &old) == PV_LEDGER_OK && !old.revoked_at[0]) {
        fprintf(stderr,
                "%s: station '%s' is enrolled already (since %s); revoke it first to issue a "
                "new certificate\n",
                prog, o->name, old.enrolled_at);
        rc = PV_BX_REFUSED;
        goto out;
    }
    struct pv_station_issue req = {
        .name = o->name, .days = o->days, .kind = PV_STATION_CERT_CLIENT};
    static char pem[PV_STATION_CERT_PEM_MAX];
    size_t pem_len = 0;
    struct pv_station_cert_ids ids;
    if (pv_station_ca_issue(ca, csr, csr_len, &req, pem, sizeof pem, &pem_len, &ids, err,
                            sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = PV_BX_REFUSED;
        goto out;
    }
    pv_ledger_station s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", o->name);
    snprintf(s.cert_sha256, sizeof s.cert_sha256, "%s", ids.sha256);
    snprintf(s.serial, sizeof s.serial, "%s", ids.serial);
    snprintf(s.rights, sizeof s.rights, "%s", o->rights);
    int lr = pv_ledger_station_enroll(l, &s);
    if (lr != PV_LEDGER_OK) {
        fprintf(stderr, "%s: ledger: %s\n", prog, pv_ledger_error(l));
        rc = lr == PV_LEDGER_E_EXISTS ? PV_BX_REFUSED
             : lr == PV_LEDGER_E_SIGN ? PV_BX_KEY
                                      : PV_BX_LEDGER;
        goto out;
    }
    if (o->out) {
        if (pv_bx_write_file(prog, o->out, pem, pem_len, 0644) != 0) {
            fprintf(stderr,
                    "%s: station '%s' is enrolled, but its certificate was not written; revoke "
                    "it and enrol again\n",
                    prog, o->name);
            rc = PV_BX_IO;
            goto out;
        }
    } else {
        fwrite(pem, 1, pem_len, stdout);
    }
    fprintf(o->out ? stdout : stderr,
            "station '%s' enrolled: serial %s, sha256 %s, rights %s, %u days%s%s\n", o->name,
            ids.serial, ids.sha256, o->rights[0] ? o->rights : "(none)", o->days,
            o->out ? ", certificate " : "", o->out ? o->out : "");
    rc = PV_BX_OK;
out:
    pv_station_ca_free(ca);
    if (l)
        pv_ledger_close(l);
    pv_bx_close_token(&t);
out_cfg:
    pv_bridge_config_free(&cfg);
    free(csr);
    return rc;
}

/* ---- list ---- */

static int print_row(void *ctx, const pv_ledger_station *s)
{
    (void)ctx;
    /* the registry's text escaped: a row written outside hsm-bridge may hold terminal escapes */
    char name[4 * PV_LEDGER_TEXT_MAX], at[4 * 32], sha[4 * 65], rights[4 * PV_LEDGER_RIGHTS_MAX];
    printf("%-20s %-8s %-24s %.16s  %s\n", pv_text_escape(s->name, name, sizeof name),
           s->revoked_at[0] ? "revoked" : "active", pv_text_escape(s->enrolled_at, at, sizeof at),
           pv_text_escape(s->cert_sha256, sha, sizeof sha),
           s->rights[0] ? pv_text_escape(s->rights, rights, sizeof rights) : "-");
    return 0;
}

static int json_row(void *ctx, const pv_ledger_station *s)
{
    json_t *arr = ctx;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?}", "name", s->name, "cert_sha256",
                          s->cert_sha256, "serial", s->serial, "rights", s->rights, "enrolled_at",
                          s->enrolled_at, "revoked_at", s->revoked_at[0] ? s->revoked_at : NULL,
                          "revoke_reason", s->revoked_at[0] ? s->revoke_reason : NULL);
    return o ? json_array_append_new(arr, o) : -1;
}

static int list(const char *prog, struct opts *o)
{
    if (o->name)
        return usage_error(prog, "unexpected argument", o->name);
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config(prog, o->config, &cfg);
    if (rc != PV_BX_OK)
        return rc;
    /* a reading command: the ledger read-only, never created */
    char err[1024];
    pv_ledger *l = pv_ledger_open(cfg.ledger, PV_LEDGER_READ_ONLY, err, sizeof err);
    if (!l) {
        fprintf(stderr, "%s: ledger: %s\n", prog, err);
        rc = PV_BX_LEDGER;
    }
    if (rc == PV_BX_OK) {
        json_t *arr = o->json ? json_array() : NULL;
        if (!o->json)
            printf("%-20s %-8s %-24s %.16s  %s\n", "NAME", "STATE", "ENROLLED", "CERT SHA-256",
                   "RIGHTS");
        int lr = o->json ? pv_ledger_station_list(l, json_row, arr)
                         : pv_ledger_station_list(l, print_row, NULL);
        if (lr != PV_LEDGER_OK) {
            fprintf(stderr, "%s: ledger: %s\n", prog, pv_ledger_error(l));
            rc = PV_BX_LEDGER;
        } else if (arr) {
            char *text = json_dumps(arr, JSON_INDENT(2));
            if (text)
                printf("%s\n", text);
            free(text);
        }
        json_decref(arr);
        pv_ledger_close(l);
    }
    pv_bridge_config_free(&cfg);
    return rc;
}

/* ---- revoke ---- */

static int revoke_station(const char *prog, struct opts *o)
{
    if (!o->name)
        return usage_error(prog, "NAME is required", NULL);
    if (!o->reason || !o->reason[0] || strlen(o->reason) >= PV_LEDGER_REASON_MAX)
        return usage_error(prog, "--reason TEXT (1..511 characters) is required", NULL);
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config(prog, o->config, &cfg);
    if (rc != PV_BX_OK)
        return rc;
    struct pv_bx_token t;
    pv_ledger *l = NULL;
    rc = pv_bx_open_token(prog, &cfg, &t);
    if (rc == PV_BX_OK)
        rc = pv_bx_open_ledger(prog, &cfg, &t, &l);
    if (rc == PV_BX_OK) {
        char by[160], host[64] = "?";
        const char *user = getenv("USER");
        gethostname(host, sizeof host - 1);
        snprintf(by, sizeof by, "%s@%s", user && *user ? user : "?", host);
        int lr = pv_ledger_station_revoke(l, o->name, by, o->reason);
        if (lr == PV_LEDGER_OK) {
            printf("station '%s' revoked: %s\n", o->name, o->reason);
        } else {
            fprintf(stderr, "%s: %s\n", prog,
                    lr == PV_LEDGER_E_UNKNOWN   ? "no station of that name was ever enrolled"
                    : lr == PV_LEDGER_E_REVOKED ? "the station is revoked already"
                                                : pv_ledger_error(l));
            rc = lr == PV_LEDGER_E_UNKNOWN || lr == PV_LEDGER_E_REVOKED ? PV_BX_REFUSED
                 : lr == PV_LEDGER_E_SIGN                               ? PV_BX_KEY
                                                                        : PV_BX_LEDGER;
        }
    }
    if (l)
        pv_ledger_close(l);
    if (t.ks || t.recipe)
        pv_bx_close_token(&t);
    pv_bridge_config_free(&cfg);
    return rc;
}

static int run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        pv_cli_cmd_help(argc < 2 ? stderr : stdout, &pv_hsm_bridge_cli, &pv_bx_station);
        return argc < 2 ? PV_BX_USAGE : PV_BX_OK;
    }
    static const struct {
        const char *name, *prog;
        int (*fn)(const char *prog, struct opts *o);
    } subs[] = {
        {"enroll", "hsm-bridge station enroll", enroll},
        {"list", "hsm-bridge station list", list},
        {"revoke", "hsm-bridge station revoke", revoke_station},
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(argv[1], subs[i].name) != 0)
            continue;
        struct opts o;
        int rc = parse(subs[i].prog, argc - 1, argv + 1, &o);
        if (rc != 0)
            return rc < 0 ? PV_BX_OK : rc;
        return subs[i].fn(subs[i].prog, &o);
    }
    fprintf(stderr, "hsm-bridge station: unknown subcommand '%s' (see hsm-bridge station --help)\n",
            argv[1]);
    return PV_BX_USAGE;
}

const struct pv_cli_cmd pv_bx_station = {
    .name = "station",
    .summary = "enrol, list and revoke stations (client certificates and rights)",
    .usage = "station enroll NAME --csr FILE [--rights PRODUCT/BATCH]... [--days N] --config "
             "FILE [-o CERT]\n"
             "station enroll NAME --operator --csr FILE [--days N] --config FILE [-o CERT]\n"
             "station list [--json] --config FILE\n"
             "station revoke NAME --reason TEXT --config FILE",
    .about = "enroll issues a client certificate for the CSR's public key with CN = NAME from the "
             "station CA in the token, and records the station, its certificate's SHA-256 and "
             "serial and its rights in the ledger (an audited change). The certificate goes to "
             "CERT (else stdout). NAME: letters, digits and ._- (the refusal of a longer one "
             "says how long it may be). A revoked name may be enrolled again (with a new "
             "certificate). With --operator the certificate is an operator's: it reads the "
             "operator's view (https://BRIDGE/operator) and /metrics, and every provisioning "
             "or update request is refused (403).\n\n"
             "list: every station, name, active or revoked, rights, enrolment date.\n\n"
             "revoke: the station's certificate stops working at its next request (403 "
             "station_revoked); the reason is recorded.",
    .opts = opts,
    .exits = exits,
    .run = run,
};
