/* provision's commands and exit codes (commands.h), the tables main.c dispatches with and
 * tools/gen_man.c writes the manual page's generated parts from. */
#include "commands.h"

/* PV_VERSION: the Makefile passes it from debian/changelog, the one place the version is set. */
#ifndef PV_VERSION
#error "PV_VERSION is set by the Makefile (from debian/changelog)"
#endif

static const struct pv_cli_cmd *const commands[] = {
    &pv_cmd_image,     &pv_cmd_recipe, &pv_cmd_ledger, &pv_cmd_keys,
    &pv_cmd_chip_info, &pv_cmd_run,    &pv_cmd_update,
};

static const struct pv_cli_exit exits[] = {
#define PV_EXIT_ROW(name, value, help, more) {value, help, more},
    PV_EXIT_CODES(PV_EXIT_ROW)
#undef PV_EXIT_ROW
};

const struct pv_cli_prog pv_provision_cli = {
    .name = "provision",
    .version = PV_VERSION,
    .about = "Secure manufacturing provisioning for STM32.",
    .manual = "man -l docs/provision.1",
    .cmds = commands,
    .n_cmds = sizeof commands / sizeof commands[0],
    .exits = exits,
    .n_exits = sizeof exits / sizeof exits[0],
    .usage_code = PV_EXIT_USAGE,
};

void pv_cmd_begin(struct pv_cli_parser *ps, const struct pv_cli_cmd *c, int argc, char **argv)
{
    static char who[64];
    snprintf(who, sizeof who, "provision %s", c->name);
    pv_cli_begin(ps, &pv_provision_cli, c, who, argc, argv);
}
