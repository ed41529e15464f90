/* The subcommands of `hsm-bridge`: one file each (cmd_<name>.c), each exporting one entry of
 * main.c's table, and the helpers they share (cmd_common.c). */
#ifndef PV_HSM_BRIDGE_CMD_H
#define PV_HSM_BRIDGE_CMD_H

#include <stdio.h>

#include "bridge_config.h"
#include "keystore.h"
#include "ledger.h"
#include "ledger_ed25519.h"
#include "p11.h"
#include "recipe.h"

/* Exit codes shared by every subcommand (`hsm-bridge --help`, docs/hsm-bridge.8). */
enum pv_bx_exit {
    PV_BX_OK = 0,
    PV_BX_REFUSED = 1, /* refused: CSR not valid, name enrolled already, unknown station */
    PV_BX_USAGE = 2,   /* bad command line */
    PV_BX_IO = 3,      /* a file cannot be read or written */
    PV_BX_KEY = 4,     /* token, PIN or key error (the station CA's key, the audit key) */
    PV_BX_CONFIG = 5,  /* the configuration file is not valid */
    PV_BX_SERVE = 6,   /* serve: TLS setup, listen address or event loop failed */
    PV_BX_OPEN = 7,    /* serve: the bridge cannot open (token, recipes, images, ledger) */
    PV_BX_LEDGER = 10, /* the ledger cannot be opened or refused a change */
};

struct pv_bx_command {
    const char *name;
    const char *summary;               /* one line for `hsm-bridge --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns an exit code */
    void (*help)(FILE *out);
};

extern const struct pv_bx_command pv_bx_serve;
extern const struct pv_bx_command pv_bx_station;
extern const struct pv_bx_command pv_bx_ca;
extern const struct pv_bx_command pv_bx_tls_cert;
extern const struct pv_bx_command pv_bx_checkpoint;
extern const struct pv_bx_command pv_bx_release;

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
