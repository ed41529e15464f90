/* The subcommands of `provision`: one file each (cmd_<name>.c), each exporting one entry of this
 * table; main.c only dispatches. Adding `run`, `info`, `recipe`, `keys` or `ledger` means adding
 * its file and one line in main.c's table. */
#ifndef PV_PROVISIONER_COMMANDS_H
#define PV_PROVISIONER_COMMANDS_H

#include <stdio.h>

/* Exit codes shared by every subcommand (documented in `provision --help`). */
enum pv_exit {
    PV_EXIT_OK = 0,
    PV_EXIT_INVALID = 1, /* the input is not valid: image refused, check failed */
    PV_EXIT_USAGE = 2,   /* bad command line */
    PV_EXIT_IO = 3,      /* a file cannot be read or written */
    PV_EXIT_KEY = 4,     /* a key cannot be loaded or used (PEM, PKCS#11 token, PIN) */
    /* run and info: refusals and failures of one device */
    PV_EXIT_WRONG_CHIP = 5, /* the chip is not the recipe's part (DEV_ID, flash size) */
    PV_EXIT_LOCKED = 6,     /* the chip is locked (RDP != Level 0, debug port dead) or the ledger
                               says it is provisioned already */
    PV_EXIT_QUOTA = 7,      /* the batch's quota is used up */
    PV_EXIT_PROBE = 8,      /* the probe is unreachable or failed */
    PV_EXIT_SESSION = 9,    /* the install session failed; the chip is left unlocked, rerun */
    PV_EXIT_LEDGER = 10,    /* the ledger cannot be opened or refused a step */
    PV_EXIT_BRIDGE = 11,    /* the bridge refused this station (certificate, rights) or cannot
                               be reached */
};

struct pv_command {
    const char *name;
    const char *summary;               /* one line for `provision --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns an exit code */
    void (*help)(FILE *out);
};

extern const struct pv_command pv_cmd_image;
extern const struct pv_command pv_cmd_recipe;
extern const struct pv_command pv_cmd_ledger;
extern const struct pv_command pv_cmd_keys;
extern const struct pv_command pv_cmd_run;
extern const struct pv_command
    pv_cmd_chip_info; /* `provision info` (pv_cmd_info is the stub command encoder in session.h) */

#endif
