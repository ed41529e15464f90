/* hsm-bridge's commands and exit codes (cmd.h), the tables main.c dispatches with and
 * tools/gen_man.c writes the manual page's generated parts from. */
#include "cmd.h"

/* PV_VERSION: the Makefile passes it from debian/changelog, the one place the version is set. */
#ifndef PV_VERSION
#error "PV_VERSION is set by the Makefile (from debian/changelog)"
#endif

static const struct pv_cli_cmd *const commands[] = {
    &pv_bx_serve, &pv_bx_station, &pv_bx_ca, &pv_bx_tls_cert, &pv_bx_release, &pv_bx_checkpoint,
};

static const struct pv_cli_exit exits[] = {
#define PV_BX_EXIT_ROW(name, value, help, more) {value, help, more},
    PV_BX_EXIT_CODES(PV_BX_EXIT_ROW)
#undef PV_BX_EXIT_ROW
};

const struct pv_cli_prog pv_hsm_bridge_cli = {
    .name = "hsm-bridge",
    .version = PV_VERSION,
    .about = "The trusted side of provisioning: keys in a PKCS#11 token, product recipes, quota "
             "and ledger, served to stations over mutual TLS.",
    .manual = "man -l docs/hsm-bridge.8",
    .cmds = commands,
    .n_cmds = sizeof commands / sizeof commands[0],
    .exits = exits,
    .n_exits = sizeof exits / sizeof exits[0],
    .usage_code = PV_BX_USAGE,
};

void pv_bx_begin(struct pv_cli_parser *ps, const struct pv_cli_cmd *c, const char *who, int argc,
                 char **argv)
{
    pv_cli_begin(ps, &pv_hsm_bridge_cli, c, who, argc, argv);
}
