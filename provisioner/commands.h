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

#endif
