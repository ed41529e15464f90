/* hsm-bridge: the trusted side's server and its administration. Only dispatches to the
 * subcommands (cmd.h). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "pin_source.h"

#define PV_BRIDGE_VERSION "0.1.0"

/* Sanitized builds only: SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA) and
 * p11_module.c suppresses leaks under libsofthsm2.so, which only the slow unwinder reaches
 * through libcrypto (the station's CLI does the same). Unused without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

static const struct pv_bx_command *const commands[] = {
    &pv_bx_serve, &pv_bx_station, &pv_bx_ca, &pv_bx_tls_cert, &pv_bx_release, &pv_bx_checkpoint,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: hsm-bridge <command> [options]\n"
                 "       hsm-bridge <command> --help\n"
                 "       hsm-bridge --version\n\n"
                 "The trusted side of provisioning: keys in a PKCS#11 token, product recipes,\n"
                 "quota and ledger, served to stations over mutual TLS.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\nexit status: 0 success; 1 refused (CSR not valid, station enrolled already\n"
                 "or unknown); 2 bad command line; 3 file cannot be read or written; 4 token,\n"
                 "PIN or key error; 5 configuration not valid; 6 serve: TLS or listen failed;\n"
                 "7 serve: the bridge cannot open; 10 ledger error.\n"
                 "man -l docs/hsm-bridge.8 has the details.\n");
}

int main(int argc, char **argv)
{
    /* before anything can read the environment or start a child (OpenOCD, a shell) */
    pv_pin_env_take();
    char pin_err[512];
    if (pv_pin_argv_check(argc, argv, pin_err, sizeof pin_err) != 0) {
        fprintf(stderr, "hsm-bridge: %s\n", pin_err);
        return PV_BX_USAGE;
    }
    if (argc < 2) {
        usage(stderr);
        return PV_BX_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2) {
            for (size_t i = 0; i < NCOMMANDS; i++)
                if (strcmp(commands[i]->name, argv[2]) == 0) {
                    commands[i]->help(stdout);
                    return PV_BX_OK;
                }
            fprintf(stderr, "hsm-bridge: no command '%s' (see hsm-bridge --help)\n", argv[2]);
            return PV_BX_USAGE;
        }
        usage(stdout);
        return PV_BX_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("hsm-bridge %s\n", PV_BRIDGE_VERSION);
        return PV_BX_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, cmd) == 0)
            return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "hsm-bridge: unknown command '%s' (see hsm-bridge --help)\n", cmd);
    return PV_BX_USAGE;
}
