/* What hsm-bridge's subcommands share: the config, the products' token (station CA key, audit
 * key), the ledger with the audit signer, files in and out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "file_read.h"
#include "keys_config.h"
#include "keystore_internal.h"

int pv_bx_load_config(const char *prog, const char *path, struct pv_bridge_server_config *cfg)
{
    char err[8192];
    if (pv_bridge_config_load(path, cfg, err, sizeof err) != 0) {
        /* One line per problem, each prefixed. */
        for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "%s: %s\n", prog, line);
        pv_bridge_config_free(cfg);
        return PV_BX_CONFIG;
    }
    return PV_BX_OK;
}

int pv_bx_open_token(const char *prog, const struct pv_bridge_server_config *cfg,
                     struct pv_bx_token *t)
{
    memset(t, 0, sizeof *t);
    t->recipe = calloc(1, sizeof *t->recipe);
    if (!t->recipe) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return PV_BX_IO;
    }
    pv_recipe_diags d;
    int rc = pv_recipe_load(cfg->products[0], 0, t->recipe, &d);
    if (rc != PV_RECIPE_OK) {
        pv_recipe_diags_print(stderr, &d);
        pv_recipe_diags_free(&d);
        fprintf(stderr, "%s: the first product recipe (%s) names the token; fix it first\n", prog,
                cfg->products[0]);
        pv_bx_close_token(t);
        return rc == PV_RECIPE_UNREADABLE ? PV_BX_IO : PV_BX_CONFIG;
    }
    pv_recipe_diags_free(&d);
    t->has_audit = t->recipe->keys.audit_key[0] != 0;
    char err[1024];
    int pin_unreadable = 0;
    t->ks = pv_keys_open(t->recipe, cfg->module, cfg->pin_file, 0, t->has_audit ? PV_KEYS_AUDIT : 0,
                         err, sizeof err, &pin_unreadable);
    if (!t->ks) {
        fprintf(stderr, "%s: %s\n", prog, err);
        pv_bx_close_token(t);
        return pin_unreadable ? PV_BX_IO : PV_BX_KEY;
    }
    if (t->has_audit && pv_keys_audit_key_id(t->ks, t->audit_id) != 0) {
        fprintf(stderr, "%s: %s\n", prog, pv_keystore_error(t->ks));
        pv_bx_close_token(t);
        return PV_BX_KEY;
    }
    return PV_BX_OK;
}

pv_p11 *pv_bx_p11(struct pv_bx_token *t)
{
    return t->ks ? t->ks->p : NULL;
}

void pv_bx_close_token(struct pv_bx_token *t)
{
    if (t->ks)
        pv_keystore_close(t->ks);
    free(t->recipe);
    memset(t, 0, sizeof *t);
}

int pv_bx_open_ledger(const char *prog, const struct pv_bridge_server_config *cfg,
                      struct pv_bx_token *t, pv_ledger **out)
{
    char err[1024];
    /* A plain path is what every ledger store accepts; "sqlite:" only says which one. */
    const char *url = strncmp(cfg->ledger, "sqlite:", 7) == 0 ? cfg->ledger + 7 : cfg->ledger;
    pv_ledger *l = pv_ledger_open(url, PV_LEDGER_CREATE, err, sizeof err);
    if (!l) {
        fprintf(stderr, "%s: ledger: %s\n", prog, err);
        return PV_BX_LEDGER;
    }
    if (t && t->has_audit) {
        pv_ledger_signer sig = {
            .key_id = t->audit_id, .sign = pv_keystore_audit_sign, .ctx = t->ks};
        pv_ledger_set_signer(l, &sig);
    }
    *out = l;
    return PV_BX_OK;
}

unsigned char *pv_bx_slurp(const char *prog, const char *path, size_t max, size_t *len)
{
    char why[160];
    FILE *f = pv_file_fopen_regular(path, why, sizeof why);
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, why);
        return NULL;
    }
    unsigned char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > max) {
        fprintf(stderr, "%s: %s: %s\n", prog, path,
                bad ? "cannot read" : "too large for what it should hold");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int pv_bx_write_file(const char *prog, const char *path, const void *data, size_t len,
                     unsigned mode)
{
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    snprintf(tmp, n, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    int ok = fd >= 0;
    const unsigned char *p = data;
    for (size_t off = 0; ok && off < len;) {
        ssize_t k = write(fd, p + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            ok = 0;
        else
            off += (size_t)k;
    }
    if (ok && fsync(fd) != 0)
        ok = 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok)
        ok = 0, e = errno;
    if (ok && rename(tmp, path) != 0)
        ok = 0, e = errno;
    if (!ok) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(e));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}
