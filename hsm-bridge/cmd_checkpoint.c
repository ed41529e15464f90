/* hsm-bridge checkpoint: a signed checkpoint of the ledger's audit chain head
 * (ledger_checkpoint.h), signed by the audit key of the bridge's token, for
 * `provision ledger verify --head` to catch a ledger whose newest entries were deleted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ledger_checkpoint.h"

enum { OPT_CONFIG = 256 };
static const struct pv_cli_opt opts[] = {
    {OPT_CONFIG, 0, "config", "FILE", "the bridge's configuration (docs/bridge.md)", NULL},
    {'o', 'o', "output", "CHECKPOINT", "where the checkpoint goes (written whole, then renamed)",
     NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_BX_OK,     PV_BX_USAGE,  PV_BX_IO, PV_BX_KEY,
                            PV_BX_CONFIG, PV_BX_LEDGER, -1};

static int run(int argc, char **argv)
{
    const char *prog = "hsm-bridge checkpoint";
    const char *config = NULL, *outp = NULL;
    struct pv_cli_parser ps;
    pv_bx_begin(&ps, &pv_bx_checkpoint, prog, argc, argv);
    int c;
    while ((c = pv_cli_next(&ps)) >= 0) {
        if (c == OPT_CONFIG)
            config = ps.value;
        else if (c == 'o')
            outp = ps.value;
        else
            return pv_cli_usage_error(&ps, "option not handled", ps.opt->name);
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_BX_OK : PV_BX_USAGE;
    char **rest;
    if (!config || !outp || pv_cli_operands(&ps, &rest) > 0)
        return pv_cli_usage_error(&ps, "needs --config FILE and -o CHECKPOINT, nothing else", NULL);
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

const struct pv_cli_cmd pv_bx_checkpoint = {
    .name = "checkpoint",
    .summary = "write a signed checkpoint of the ledger's audit chain head",
    .usage = "checkpoint --config FILE -o CHECKPOINT",
    .about = "Reads the ledger (read-only) and writes a checkpoint of its audit chain: the number "
             "of entries, the newest entry's hash and the time, signed by the audit key of the "
             "first product recipe (keys.audit_key) in the token, as JSON (docs/ledger.md, "
             "\"Checkpoints\"). Keep it where the ledger's database users cannot write (another "
             "host, a ticket, a mail); run it from cron or a systemd timer as often as entries "
             "may not go missing. `provision ledger verify --key AUDIT.pub --head CHECKPOINT` "
             "then reports a ledger cut back below it.",
    .opts = opts,
    .exits = exits,
    .exit_note = "10 here: the ledger cannot be read.",
    .run = run,
};
