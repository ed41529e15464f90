/* libprovision (libprovision.h): the handle, its options, and a run around run_flow.c. The
 * option names and the rules between them are `provision run`'s, defined here once; the CLI
 * (cmd_run.c) only passes them on. */
#include "libprovision.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "run_flow.h"

/* The status values are provision's exit codes (commands.h holds those). */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(PV_PROV_OK, PV_EXIT_OK) && SAME(PV_PROV_INVALID, PV_EXIT_INVALID) &&
                   SAME(PV_PROV_USAGE, PV_EXIT_USAGE) && SAME(PV_PROV_IO, PV_EXIT_IO) &&
                   SAME(PV_PROV_KEY, PV_EXIT_KEY) && SAME(PV_PROV_WRONG_CHIP, PV_EXIT_WRONG_CHIP) &&
                   SAME(PV_PROV_LOCKED, PV_EXIT_LOCKED) && SAME(PV_PROV_QUOTA, PV_EXIT_QUOTA) &&
                   SAME(PV_PROV_PROBE, PV_EXIT_PROBE) && SAME(PV_PROV_SESSION, PV_EXIT_SESSION) &&
                   SAME(PV_PROV_LEDGER, PV_EXIT_LEDGER) && SAME(PV_PROV_BRIDGE, PV_EXIT_BRIDGE),
               "pv_prov_status differs from provision's exit codes");

/* The options that take a text, by their `provision run` names. */
enum {
    O_RECIPE,
    O_LEDGER,
    O_STATION,
    O_PIN_FILE,
    O_MODULE,
    O_BRIDGE,
    O_CERT,
    O_KEY,
    O_CA,
    O_PRODUCT,
    O_BATCH,
    O_CONFIG,
    O_PROBE,
    O_ALLOW_PLAIN, /* a flag: set or not */
    O_MES,
    O_COUNT
};
static const char *const opt_names[O_COUNT] = {
    [O_RECIPE] = "recipe",   [O_LEDGER] = "ledger",
    [O_STATION] = "station", [O_PIN_FILE] = "pin-file",
    [O_MODULE] = "module",   [O_BRIDGE] = "bridge",
    [O_CERT] = "cert",       [O_KEY] = "key",
    [O_CA] = "ca",           [O_PRODUCT] = "product",
    [O_BATCH] = "batch",     [O_CONFIG] = "config",
    [O_PROBE] = "probe",     [O_ALLOW_PLAIN] = "allow-plain-image",
    [O_MES] = "mes",
};

struct pv_prov {
    char *opt[O_COUNT];
    char *ocd_cmds[PV_STATION_MAX_OCD_CMDS];
    unsigned n_ocd_cmds;
    int token_turn[2];
    struct pv_station_config sc; /* "config", read by each check and run */
    char host[64];               /* the default station name */
};

unsigned pv_prov_version(void)
{
    return PV_PROV_VERSION;
}

const char *pv_prov_status_name(int status)
{
    static const struct {
        int status;
        const char *name;
    } names[] = {
        {PV_PROV_OK, "ok"},
        {PV_PROV_INVALID, "invalid"},
        {PV_PROV_USAGE, "usage"},
        {PV_PROV_IO, "io"},
        {PV_PROV_KEY, "key"},
        {PV_PROV_WRONG_CHIP, "wrong_chip"},
        {PV_PROV_LOCKED, "locked"},
        {PV_PROV_QUOTA, "quota"},
        {PV_PROV_PROBE, "probe"},
        {PV_PROV_SESSION, "session"},
        {PV_PROV_LEDGER, "ledger"},
        {PV_PROV_BRIDGE, "bridge"},
        {PV_PROV_NO_MEMORY, "no_memory"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].status == status)
            return names[i].name;
    return "unknown";
}

const char *pv_prov_phase_name(int phase)
{
    static const char *const names[PV_PROV_NPHASES + 1] = {"load", "identify",  "stub",  "reserve",
                                                           "key",  "erase",     "write", "verify",
                                                           "lock", "after lock"};
    return phase >= 0 && phase <= PV_PROV_NPHASES ? names[phase] : "?";
}

pv_prov *pv_prov_new(void)
{
    pv_prov *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->token_turn[0] = h->token_turn[1] = -1;
    if (gethostname(h->host, sizeof h->host - 1) != 0 || !h->host[0])
        snprintf(h->host, sizeof h->host, "station");
    return h;
}

static void forget_ocd_cmds(pv_prov *h)
{
    for (unsigned i = 0; i < h->n_ocd_cmds; i++)
        free(h->ocd_cmds[i]);
    h->n_ocd_cmds = 0;
}

void pv_prov_free(pv_prov *h)
{
    if (!h)
        return;
    for (int i = 0; i < O_COUNT; i++)
        free(h->opt[i]);
    forget_ocd_cmds(h);
    free(h);
}

static int say(char *err, size_t err_len, int status, const char *msg, const char *arg)
{
    if (err && err_len)
        snprintf(err, err_len, "%s%s%s", msg, arg ? " " : "", arg ? arg : "");
    return status;
}

int pv_prov_set(pv_prov *h, const char *name, const char *value, char *err, size_t err_len)
{
    if (!h || !name)
        return say(err, err_len, PV_PROV_USAGE, "no handle or no option name", NULL);
    if (strcmp(name, "openocd-command") == 0) {
        if (!value) {
            forget_ocd_cmds(h);
            return PV_PROV_OK;
        }
        if (h->n_ocd_cmds >= PV_STATION_MAX_OCD_CMDS)
            return say(err, err_len, PV_PROV_USAGE, "too many --openocd-command options", NULL);
        if (!(h->ocd_cmds[h->n_ocd_cmds] = strdup(value)))
            return say(err, err_len, PV_PROV_NO_MEMORY, "out of memory", NULL);
        h->n_ocd_cmds++;
        return PV_PROV_OK;
    }
    for (int i = 0; i < O_COUNT; i++) {
        if (strcmp(name, opt_names[i]) != 0)
            continue;
        if (i == O_ALLOW_PLAIN && value && strcmp(value, "1") != 0)
            return say(err, err_len, PV_PROV_USAGE,
                       "allow-plain-image is a flag: give \"1\" to set it, NULL to unset it", NULL);
        char *copy = NULL;
        if (value && !(copy = strdup(value)))
            return say(err, err_len, PV_PROV_NO_MEMORY, "out of memory", NULL);
        free(h->opt[i]);
        h->opt[i] = copy;
        return PV_PROV_OK;
    }
    return say(err, err_len, PV_PROV_USAGE,
               "unknown option (the names of provision run's options):", name);
}

void pv_prov_token_turn(pv_prov *h, int read_fd, int write_fd)
{
    h->token_turn[0] = read_fd;
    h->token_turn[1] = write_fd;
}

/* The options into r, the station configuration read and merged, the rules between them
 * checked: 0, or a status with the reason in err. */
static int resolve(pv_prov *h, struct pv_run *r, char *err, size_t err_len)
{
    r->recipe_path = h->opt[O_RECIPE];
    r->ledger_path = h->opt[O_LEDGER];
    r->station = h->opt[O_STATION];
    r->pin_file = h->opt[O_PIN_FILE];
    r->module = h->opt[O_MODULE];
    r->bridge_url = h->opt[O_BRIDGE];
    r->cert = h->opt[O_CERT];
    r->key = h->opt[O_KEY];
    r->ca = h->opt[O_CA];
    r->product = h->opt[O_PRODUCT];
    r->batch = h->opt[O_BATCH];
    r->allow_plain = h->opt[O_ALLOW_PLAIN] != NULL;
    r->mes = h->opt[O_MES];
    r->sp.target = h->opt[O_PROBE];
    for (unsigned i = 0; i < h->n_ocd_cmds; i++)
        r->sp.ocd_cmds[i] = h->ocd_cmds[i];
    r->sp.n_ocd_cmds = h->n_ocd_cmds;
    r->token_turn[0] = h->token_turn[0];
    r->token_turn[1] = h->token_turn[1];
    if (h->opt[O_CONFIG]) {
        char why[1200];
        const struct pv_station_config *sc = &h->sc;
        if (pv_station_config_load(h->opt[O_CONFIG], &h->sc, why, sizeof why))
            return say(err, err_len, PV_PROV_INVALID, why, NULL);
        r->sc = sc;
        r->bridge_url = r->bridge_url ? r->bridge_url : sc->url;
        r->ca = r->ca ? r->ca : sc->ca;
        r->cert = r->cert ? r->cert : sc->cert;
        r->key = r->key ? r->key : sc->key;
        r->product = r->product ? r->product : sc->product;
        r->batch = r->batch ? r->batch : sc->batch;
        if (!r->sp.target && sc->target[0])
            r->sp.target = sc->target;
    }
    if (r->bridge_url) {
        /* through a bridge the station holds no token, PIN, recipe or ledger */
        if (r->recipe_path || r->ledger_path || r->pin_file || r->module || r->allow_plain ||
            r->station)
            return say(err, err_len, PV_PROV_USAGE,
                       "--bridge takes no --recipe, --ledger, --pin-file, --module, "
                       "--allow-plain-image or --station: the bridge holds them, and names this "
                       "station by its certificate",
                       NULL);
        if (!r->cert || !r->key || !r->ca || !r->product || !r->batch)
            return say(err, err_len, PV_PROV_USAGE,
                       "--bridge needs --cert, --key, --ca, --product and --batch", NULL);
        if (!r->sp.target)
            return say(err, err_len, PV_PROV_USAGE,
                       "--bridge needs --probe TARGET (the probe is this station's)", NULL);
    } else {
        if (!r->recipe_path)
            return say(err, err_len, PV_PROV_USAGE,
                       "--bridge URL (or, in local mode, --recipe FILE) is required", NULL);
        if (r->cert || r->key || r->ca || r->product || r->batch)
            return say(err, err_len, PV_PROV_USAGE,
                       "--cert, --key, --ca, --product and --batch go with --bridge", NULL);
    }
    if (!r->station)
        r->station = h->host;
    return PV_PROV_OK;
}

int pv_prov_check(pv_prov *h, char *err, size_t err_len)
{
    if (!h)
        return say(err, err_len, PV_PROV_USAGE, "no handle", NULL);
    struct pv_run *r = calloc(1, sizeof *r);
    if (!r)
        return say(err, err_len, PV_PROV_NO_MEMORY, "out of memory", NULL);
    int rc = resolve(h, r, err, err_len);
    free(r);
    return rc;
}

int pv_prov_run(pv_prov *h, pv_prov_progress_fn progress, void *progress_ctx,
                struct pv_prov_result *result, size_t result_size)
{
    if (!result || result_size != sizeof *result)
        return PV_PROV_USAGE; /* a result of another layout: not written */
    struct pv_run *r = h ? calloc(1, sizeof *r) : NULL;
    if (!r) {
        memset(result, 0, sizeof *result);
        result->status = h ? PV_PROV_NO_MEMORY : PV_PROV_USAGE;
        snprintf(result->error, sizeof result->error, "%s", h ? "out of memory" : "no handle");
        return result->status;
    }
    pv_run_report_init(&r->rep, progress, progress_ctx);
    int rc = resolve(h, r, r->err, sizeof r->err);
    if (rc == PV_PROV_OK)
        rc = pv_run_device(r);
    pv_run_finish(&r->rep, rc, r->err, result);
    free(r);
    return rc;
}
