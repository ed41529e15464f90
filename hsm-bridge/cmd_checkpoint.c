/* hsm-bridge checkpoint: a signed checkpoint of the ledger's audit chain head
 * (ledger_checkpoint.h), signed by the audit key of the bridge's token, for
 * `provision ledger verify --head` to catch a ledger whose newest entries were deleted. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ledger_checkpoint.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: hsm-bridge checkpoint --config FILE -o CHECKPOINT\n"
            "\n"
            "Reads the ledger (read-only) and writes a checkpoint of its audit chain: the number\n"
            "of entries, the newest entry's hash and the time, signed by the audit key of the\n"
            "first product recipe (keys.audit_key) in the token, as JSON (docs/ledger.md,\n"
            "\"Checkpoints\"). Keep it where the ledger's database users cannot write (another\n"
            "host, a ticket, a mail); run it from cron or a systemd timer as often as entries\n"
            "may not go missing. `provision ledger verify --key AUDIT.pub --head CHECKPOINT`\n"
            "then reports a ledger cut back below it.\n"
            "\n"
            "  --config FILE  the bridge's configuration (docs/bridge.md)\n"
            "  -o CHECKPOINT  where the checkpoint goes (written whole, then renamed)\n"
            "\n"
            "exit status: 0 written; 2 bad command line; 3 file error; 4 token, PIN or audit key\n"
            "error; 5 configuration not valid; 10 the ledger cannot be read.\n");
}

static int run(int argc, char **argv)
{
    const char *prog = "hsm-bridge checkpoint";
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *outp = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'o':
            outp = optarg;
            break;
        case 'h':
            help(stdout);
            return PV_BX_OK;
        case ':':
            fprintf(stderr, "%s: %s needs a value (see --help)\n", prog, argv[optind - 1]);
            return PV_BX_USAGE;
        default:
            fprintf(stderr, "%s: unknown option %s (see --help)\n", prog, argv[optind - 1]);
            return PV_BX_USAGE;
        }
    }
    if (!config || !outp || optind < argc) {
        fprintf(stderr, "%s: needs --config FILE and -o CHECKPOINT, nothing else (see --help)\n",
                prog);
        return PV_BX_USAGE;
    }
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config(prog, config, &cfg);
    if (rc != PV_BX_OK)
        return rc;
    struct pv_bx_token t;
    rc = pv_bx_open_token(prog, &cfg, &t);
    if (rc == PV_BX_OK && !t.has_audit) {
        fprintf(stderr, "%s: the first product recipe names no keys.audit_key to sign with\n",
                prog);
        rc = PV_BX_KEY;
    }
    pv_ledger *l = NULL;
    if (rc == PV_BX_OK) {
        char err[1024];
        if (!(l = pv_ledger_open(cfg.ledger, PV_LEDGER_READ_ONLY, err, sizeof err))) {
            fprintf(stderr, "%s: ledger: %s\n", prog, err);
            rc = PV_BX_LEDGER;
        }
    }
    pv_ledger_checkpoint cp;
    if (rc == PV_BX_OK) {
        pv_ledger_signer sig = {.key_id = t.audit_id, .sign = pv_keystore_audit_sign, .ctx = t.ks};
        int lr = pv_ledger_checkpoint_make(l, &sig, &cp);
        if (lr != PV_LEDGER_OK) {
            fprintf(stderr, "%s: %s\n", prog, pv_ledger_error(l));
            rc = lr == PV_LEDGER_E_SIGN ? PV_BX_KEY : PV_BX_LEDGER;
        }
    }
    if (rc == PV_BX_OK) {
        char *text = pv_ledger_checkpoint_json(&cp);
        if (!text || pv_bx_write_file(prog, outp, text, strlen(text), 0644) != 0)
            rc = PV_BX_IO;
        else
            printf("checkpoint %s: %lld entries, signed by %s at %s\n", outp, (long long)cp.entries,
                   cp.key_id, cp.at);
        free(text);
    }
    pv_ledger_close(l);
    if (t.ks || t.recipe)
        pv_bx_close_token(&t);
    pv_bridge_config_free(&cfg);
    return rc;
}

const struct pv_bx_command pv_bx_checkpoint = {
    .name = "checkpoint",
    .summary = "write a signed checkpoint of the ledger's audit chain head",
    .run = run,
    .help = help,
};
