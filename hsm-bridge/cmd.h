/* The subcommands of `hsm-bridge`: one file each (cmd_<name>.c), each exporting its description
 * (lib/host/cli.h), listed in cmd_table.c; the helpers they share (cmd_common.c). The tables give
 * the option parser, `--help` and the manual page's generated parts (docs/hsm-bridge.8). */
#ifndef PV_HSM_BRIDGE_CMD_H
#define PV_HSM_BRIDGE_CMD_H

#include <stdio.h>

#include "bridge_config.h"
#include "host/cli.h"
#include "keystore.h"
#include "ledger.h"
#include "ledger_ed25519.h"
#include "p11.h"
#include "recipe.h"

/* Every exit code of hsm-bridge: name, value, what it means in `--help` (short), and what the
 * manual page adds. Defined here once: the enum below and the table in cmd_table.c. */
#define PV_BX_EXIT_CODES(X)                                                                        \
    X(PV_BX_OK, 0, "success", "For serve: stopped by SIGTERM or SIGINT.")                          \
    X(PV_BX_REFUSED, 1,                                                                            \
      "refused: a CSR or SAN not valid, a station name enrolled already, an unknown or revoked "   \
      "station, a CA that exists already",                                                         \
      NULL)                                                                                        \
    X(PV_BX_USAGE, 2, "bad command line", NULL)                                                    \
    X(PV_BX_IO, 3, "a file cannot be read or written", NULL)                                       \
    X(PV_BX_KEY, 4, "token, PIN or key error (the station CA's key, the audit key)", NULL)         \
    X(PV_BX_CONFIG, 5,                                                                             \
      "the configuration file is not valid (or the PIN file is readable by "                       \
      "others)",                                                                                   \
      NULL)                                                                                        \
    X(PV_BX_SERVE, 6, "serve: TLS setup, the listen address or the event loop failed",             \
      "TLS setup covers the certificate, the key and the CA file.")                                \
    X(PV_BX_OPEN, 7, "serve: the bridge cannot open (token, PIN, recipes, images or ledger)",      \
      NULL)                                                                                        \
    X(PV_BX_LEDGER, 10, "the ledger cannot be opened or refused a change", NULL)

enum pv_bx_exit {
#define PV_BX_EXIT_ENUM(name, value, help, more) name = value,
    PV_BX_EXIT_CODES(PV_BX_EXIT_ENUM)
#undef PV_BX_EXIT_ENUM
};

/* The program: its commands (each cmd_<name>.c exports one, lib/host/cli.h) and exit codes
 * (cmd_table.c). */
extern const struct pv_cli_prog pv_hsm_bridge_cli;

extern const struct pv_cli_cmd pv_bx_serve;
extern const struct pv_cli_cmd pv_bx_station;
extern const struct pv_cli_cmd pv_bx_ca;
extern const struct pv_cli_cmd pv_bx_tls_cert;
extern const struct pv_cli_cmd pv_bx_release;
extern const struct pv_cli_cmd pv_bx_checkpoint;

/* The parser for a command of hsm-bridge: who names it in messages ("hsm-bridge ca init"). */
void pv_bx_begin(struct pv_cli_parser *ps, const struct pv_cli_cmd *c, const char *who, int argc,
                 char **argv);

/* ---- shared (cmd_common.c) ---- */

/* Loads the config (errors printed as "PROG: file:line:col: ..."). PV_BX_OK or PV_BX_CONFIG. */
int pv_bx_load_config(const char *prog, const char *path, struct pv_bridge_server_config *cfg);

/* The token of the bridge's products (the first product recipe's keys.token) with its audit key
 * when the recipe names one: the station CA's key lives there too. */
struct pv_bx_token {
    pv_recipe *recipe;
    pv_keystore *ks;
    int has_audit;
    char audit_id[PV_LEDGER_KEY_ID_LEN];
};
/* PV_BX_OK, or an exit code after printing why. */
int pv_bx_open_token(const char *prog, const struct pv_bridge_server_config *cfg,
                     struct pv_bx_token *t);
pv_p11 *pv_bx_p11(struct pv_bx_token *t);
void pv_bx_close_token(struct pv_bx_token *t);

/* Opens the config's ledger; with t, its audit key signs every change. PV_BX_OK or
 * PV_BX_LEDGER / PV_BX_KEY after printing why. */
int pv_bx_open_ledger(const char *prog, const struct pv_bridge_server_config *cfg,
                      struct pv_bx_token *t, pv_ledger **out);

/* Reads a whole file (at most max bytes) into a malloc'd buffer. NULL after printing why. */
unsigned char *pv_bx_slurp(const char *prog, const char *path, size_t max, size_t *len);
/* Writes data to path through path.tmp, fsync and rename; mode for a new file. 0 or -1 (printed).
 */
int pv_bx_write_file(const char *prog, const char *path, const void *data, size_t len,
                     unsigned mode);

#endif
