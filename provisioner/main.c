/* provision: the station CLI. Only dispatches to the subcommands (commands.h). */
#include <stdio.h>

#include "commands.h"
#include "../hsm-bridge/pin_source.h"

/* Sanitized builds only (the test build): PKCS#11 modules leak inside themselves (SoftHSM2 2.6.1
 * in C_SignInit with CKM_EDDSA), and hsm-bridge/p11_module.c suppresses leaks under
 * libsofthsm2.so. Those stacks pass through libcrypto, which has no frame pointers, so only the
 * slow unwinder reaches the module's frames. Unused without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
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
    return pv_cli_main(&pv_provision_cli, argc, argv);
}
