/* hsm-bridge: the trusted side's server and its administration. Only dispatches to the
 * subcommands (cmd.h). */
#include <stdio.h>

#include "cmd.h"
#include "pin_source.h"

/* Sanitized builds only: SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA) and
 * p11_module.c suppresses leaks under libsofthsm2.so, which only the slow unwinder reaches
 * through libcrypto (the station's CLI does the same). Unused without ASan. */
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
        fprintf(stderr, "hsm-bridge: %s\n", pin_err);
        return PV_BX_USAGE;
    }
    return pv_cli_main(&pv_hsm_bridge_cli, argc, argv);
}
