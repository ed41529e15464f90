/* provision: the station CLI. Only dispatches to the subcommands (commands.h). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "../hsm-bridge/pin_source.h"

#define PV_VERSION "0.1.0"

/* Sanitized builds only (the test build): PKCS#11 modules leak inside themselves (SoftHSM2 2.6.1
 * in C_SignInit with CKM_EDDSA), and hsm-bridge/p11_module.c suppresses leaks under
 * libsofthsm2.so. Those stacks pass through libcrypto, which has no frame pointers, so only the
 * slow unwinder reaches the module's frames. Unused without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

static const struct pv_command *const commands[] = {
    &pv_cmd_image, &pv_cmd_recipe, &pv_cmd_ledger, &pv_cmd_keys, &pv_cmd_chip_info, &pv_cmd_run,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: provision <command> [options]\n"
                 "       provision <command> --help\n"
                 "       provision --version\n\n"
                 "Secure manufacturing provisioning for STM32.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\nexit status: 0 success; 1 input not valid (image refused, check failed);\n"
                 "2 bad command line; 3 file cannot be read or written; 4 key or token error;\n"
                 "5 wrong chip for the recipe; 6 chip locked or already provisioned; 7 batch\n"
                 "quota used up; 8 probe unreachable; 9 install session failed (chip left\n"
                 "unlocked); 10 ledger error; 11 the bridge refused this station or cannot be\n"
                 "reached. man -l docs/provision.1 has the details.\n");
}

int main(int argc, char **argv)
{
    /* before anything can read the environment or start a child (OpenOCD, a shell) */
    pv_pin_env_take();
    char pin_err[512];
    if (pv_pin_argv_check(argc, argv, pin_err, sizeof pin_err) != 0) {
        fprintf(stderr, "provision: %s\n", pin_err);
        return PV_EXIT_USAGE;
    }
    if (argc < 2) {
        usage(stderr);
        return PV_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2) {
            for (size_t i = 0; i < NCOMMANDS; i++)
                if (strcmp(commands[i]->name, argv[2]) == 0) {
                    commands[i]->help(stdout);
                    return PV_EXIT_OK;
                }
            fprintf(stderr, "provision: no command '%s' (see provision --help)\n", argv[2]);
            return PV_EXIT_USAGE;
        }
        usage(stdout);
        return PV_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("provision %s\n", PV_VERSION);
        return PV_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, cmd) == 0)
            return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "provision: unknown command '%s' (see provision --help)\n", cmd);
    return PV_EXIT_USAGE;
}
