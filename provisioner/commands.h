/* The subcommands of `provision`: one file each (cmd_<name>.c), each exporting its description
 * (lib/host/cli.h: usage, options, exit codes, and the function that runs it); commands.c lists
 * them with the exit codes below, and main.c only dispatches. The same tables give the option
 * parser, `--help` and the manual page's generated parts (docs/provision.1, `make man`). */
#ifndef PV_PROVISIONER_COMMANDS_H
#define PV_PROVISIONER_COMMANDS_H

#include <stdio.h>

#include "host/cli.h"

/* Every exit code of provision: name, value, what it means in `--help` (short), and what the
 * manual page adds. Defined here once: the enum below and the table in commands.c. */
#define PV_EXIT_CODES(X)                                                                           \
    X(PV_EXIT_OK, 0, "success", "For run: the chip is provisioned and locked.")                    \
    X(PV_EXIT_INVALID, 1, "input not valid: recipe or image refused, check failed", NULL)          \
    X(PV_EXIT_USAGE, 2, "bad command line", NULL)                                                  \
    X(PV_EXIT_IO, 3, "a file cannot be read or written", NULL)                                     \
    X(PV_EXIT_KEY, 4, "token, PIN or key missing or unusable", NULL)                               \
    X(PV_EXIT_WRONG_CHIP, 5, "wrong chip for the recipe (DEV_ID or flash size)", NULL)             \
    X(PV_EXIT_LOCKED, 6,                                                                           \
      "the chip is locked (RDP not Level 0, debug port dead), or the ledger says it is "           \
      "provisioned already",                                                                       \
      "On a dead debug port the message also lists the batch's rows at this station left at "      \
      "verified (see RECOVERY AFTER A LOCK THE LEDGER MISSED).")                                   \
    X(PV_EXIT_QUOTA, 7, "the batch's quota is used up", NULL)                                      \
    X(PV_EXIT_PROBE, 8, "the probe is unreachable or failed",                                      \
      "For update: the link cannot be opened, or the device does not answer START (not in update " \
      "mode).")                                                                                    \
    X(PV_EXIT_SESSION, 9, "the install session failed; the chip is left unlocked: run again",      \
      "For update: the session broke off (the link dropped, the device stopped answering, or it "  \
      "reported frame_auth, bad_offset or flash_error); the device stays in update mode: run "     \
      "again.")                                                                                    \
    X(PV_EXIT_LEDGER, 10, "the ledger cannot be opened or refused a step",                         \
      "For ledger confirm-locked: no such UID, or its row is not at verified (nothing written); "  \
      "for run: also a chip locked whose lock the trusted side did not record (the message names " \
      "the UID and the confirmation).")                                                            \
    X(PV_EXIT_BRIDGE, 11, "the bridge refused this station or cannot be reached",                  \
      "For run through a bridge: the station's certificate or rights, or the network; for "        \
      "update: also a UID the bridge never provisioned or not locked, a message 1 under another "  \
      "device's PSK, a replayed message 1, or no release for the device (each recorded in the "    \
      "ledger).")                                                                                  \
    X(PV_EXIT_REFUSED_UPDATE, 12, "update: the device refused the offered image",                  \
      "Older than its floor or running version, another load address, or an image that does not "  \
      "verify; an application that was valid still runs.")

enum pv_exit {
#define PV_EXIT_ENUM(name, value, help, more) name = value,
    PV_EXIT_CODES(PV_EXIT_ENUM)
#undef PV_EXIT_ENUM
};

/* The program: its commands and exit codes (commands.c). */
extern const struct pv_cli_prog pv_provision_cli;

extern const struct pv_cli_cmd pv_cmd_image;
extern const struct pv_cli_cmd pv_cmd_recipe;
extern const struct pv_cli_cmd pv_cmd_ledger;
extern const struct pv_cli_cmd pv_cmd_keys;
extern const struct pv_cli_cmd pv_cmd_run;
extern const struct pv_cli_cmd pv_cmd_update;
/* `provision info` */
extern const struct pv_cli_cmd pv_cmd_chip_info;

/* The parser for a command of provision: "provision NAME" in its messages. */
void pv_cmd_begin(struct pv_cli_parser *ps, const struct pv_cli_cmd *c, int argc, char **argv);

#endif
