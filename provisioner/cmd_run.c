/* `provision run`: the CLI over libprovision (libprovision.h). It parses the options, hands
 * them to a handle by their names, and prints what the progress callback and the result struct
 * say (run_output.c); the run itself is the library's (run_flow.c). With several --probe
 * options it forks a process per chip (gang programming), each running the same handle on its
 * own probe. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "libprovision.h"
#include "run_flow.h"
#include "run_output.h"

#define GANG_MAX 16 /* chips one run provisions at once (one --probe each) */

enum {
    OPT_RECIPE = 256,
    OPT_CONFIG,
    OPT_BRIDGE,
    OPT_CERT,
    OPT_KEY,
    OPT_CA,
    OPT_PRODUCT,
    OPT_BATCH,
    OPT_PROBE,
    OPT_LEDGER,
    OPT_STATION,
    OPT_PIN_FILE,
    OPT_MODULE,
    OPT_ALLOW_PLAIN,
    OPT_JSON,
    OPT_QUIET,
    OPT_MES,
};
static const struct pv_cli_opt opts[] = {
    {OPT_CONFIG, 0, "config", "FILE",
     "the station's configuration: bridge, certificate, key, probe, product and batch "
     "(docs/bridge.md, \"Stations\"); options given as well take precedence",
     NULL},
    {OPT_BRIDGE, 0, "bridge", "URL", "the bridge, https://HOST:PORT (mutual TLS 1.3)", NULL},
    {OPT_CERT, 0, "cert", "FILE", "this station's certificate (hsm-bridge station enroll)", NULL},
    {OPT_KEY, 0, "key", "FILE", "its private key", NULL},
    {OPT_CA, 0, "ca", "FILE", "the CA the bridge's certificate must chain to", NULL},
    {OPT_PRODUCT, 0, "product", "P", "the product to run (the bridge holds its recipe)", NULL},
    {OPT_BATCH, 0, "batch", "B", "the product's batch to count the chip in", NULL},
    {OPT_RECIPE, 0, "recipe", "FILE", "local mode: the product recipe (docs/recipes.md)", NULL},
    {OPT_PROBE, 0, "probe", "TARGET",
     "where the chip is: gdb:HOST:PORT, openocd (start OpenOCD), openocd:HOST:PORT (attach to "
     "its Tcl port), cmsis-dap:usb[:SERIAL], cmsis-dap:tcp:HOST:PORT, or HOST:PORT for the "
     "recipe's backend; repeat it for a gang of up to 16 chips, each line then tagged [TARGET]",
     "A gang runs a process per chip, the whole sequence on its probe, with its own token "
     "session, ledger connection and probe; with --json each chip prints its own object. The "
     "ledger keeps the quota exact across them (chips racing for the last place: one is "
     "provisioned, the others are refused). The -c commands are the same for every chip: to "
     "gang chips behind OpenOCD, start one OpenOCD per adapter and give each as "
     "openocd:HOST:PORT."},
    {'c', 'c', "openocd-command", "CMD",
     "extra OpenOCD command before the target configuration (e.g. \"remote_bitbang port "
     "3335\"); repeatable",
     NULL},
    {OPT_LEDGER, 0, "ledger", "DB",
     "local mode: the ledger (default $" PV_LEDGER_ENV ", else " PV_LEDGER_DEFAULT_PATH
     "; created if missing)",
     NULL},
    {OPT_STATION, 0, "station", "ID",
     "local mode: this station's name in the ledger (default: host name; through a bridge the "
     "name is the certificate's)",
     NULL},
    {OPT_PIN_FILE, 0, "pin-file", "FILE",
     "local mode: the token's user PIN, first line of FILE (mode 0600 or 0400, yours; default: "
     "$PROVISION_PIN)",
     NULL},
    {OPT_MODULE, 0, "module", "LIB", "local mode: the PKCS#11 module (default: SoftHSM2's)", NULL},
    {OPT_ALLOW_PLAIN, 0, "allow-plain-image", NULL,
     "local mode, development: accept images not sealed at rest", NULL},
    {OPT_JSON, 0, "json", NULL, "one JSON object per device on stdout (for MES systems)",
     "Its fields: uid, batch, station, recipe and its SHA-256, image SHA-256, probe, rdp, "
     "ledger_state, resumed, phase_ms (per phase), total_ms, values (per-device values, if "
     "any), result, exit_code, and on failure status, failed_phase and error; the schema is "
     "docs/schema/run-result.schema.json (docs/json-output.md)."},
    {OPT_QUIET, 0, "quiet", NULL, "no progress lines", NULL},
    {OPT_MES, 0, "mes", "JSON",
     "the line MES's values for this chip, a JSON object ({\"hw_rev\": \"B2\"}), for a recipe "
     "whose device_data.mes.source is station; the trusted side validates and records them "
     "(docs/device-data.md)",
     NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_EXIT_OK,
                            PV_EXIT_INVALID,
                            PV_EXIT_USAGE,
                            PV_EXIT_IO,
                            PV_EXIT_KEY,
                            PV_EXIT_WRONG_CHIP,
                            PV_EXIT_LOCKED,
                            PV_EXIT_QUOTA,
                            PV_EXIT_PROBE,
                            PV_EXIT_SESSION,
                            PV_EXIT_LEDGER,
                            PV_EXIT_BRIDGE,
                            -1};

static int usage_error(const char *msg, const char *arg)
{
    return pv_cli_usage_error_of(&pv_provision_cli, "provision run", msg, arg);
}

/* One chip: the whole run on the handle's probe; tag (may be NULL) goes before every line. */
static int one_device(pv_prov *h, int quiet, int json, const char *tag)
{
    static struct pv_prov_result res;
    struct pv_run_output out;
    pv_run_output_init(&out, quiet, json, tag);
    int rc = pv_prov_run(h, pv_run_output_progress, &out, &res, sizeof res);
    pv_run_output_result(&out, &res);
    return rc;
}

/* Several probes (gang programming): a process per chip runs one_device, so each has its own
 * token session, ledger connection and probe, and a crash stays with its chip. The ledger's
 * transactions keep the quota exact across them. The exit code is 0 when every chip is done,
 * otherwise the first failing chip's (in --probe order). */
static int gang(pv_prov *h, const char **probes, int n, int quiet, int json)
{
    pid_t pid[GANG_MAX];
    int started = 0, failed = 0, first_bad = 0, turn[2];
    if (pipe2(turn, O_CLOEXEC) == 0) {
        pv_prov_token_turn(h, turn[0], turn[1]);
        (void)!write(turn[1], "t", 1);
    }
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < n; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            int rc = pv_prov_set(h, "probe", probes[i], NULL, 0);
            if (rc == 0)
                rc = one_device(h, quiet, json, probes[i]);
            fflush(NULL);
            _exit(rc);
        }
        if (pid[i] < 0) {
            fprintf(stderr, "provision run: cannot start the run for probe %s: %s\n", probes[i],
                    strerror(errno));
            if (!first_bad)
                first_bad = PV_EXIT_IO;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        int st = 0;
        while (waitpid(pid[i], &st, 0) < 0 && errno == EINTR)
            ;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        if (code) {
            failed++;
            if (!first_bad)
                first_bad = code;
            if (!quiet && !json)
                fprintf(stderr, "provision run: [%s] failed (exit %d)\n", probes[i], code);
        }
    }
    if (!quiet && !json)
        fprintf(stderr, "provision run: %d chips: %d done, %d failed%s\n", n, started - failed,
                failed + (n - started), started < n ? " (some not started)" : "");
    return first_bad;
}

/* Options into the handle, checked together by the library, then one chip or a gang. */
static int run_with(pv_prov *h, int argc, char **argv)
{
    int quiet = 0, json = 0, n_probes = 0;
    const char *probes[GANG_MAX];
    char err[1400];
    struct pv_cli_parser ps;
    pv_cmd_begin(&ps, &pv_cmd_run, argc, argv);
    int c;
    while ((c = pv_cli_next(&ps)) >= 0) {
        switch (c) {
        case OPT_JSON:
            json = 1;
            break;
        case OPT_QUIET:
            quiet = 1;
            break;
        case OPT_PROBE:
            if (n_probes >= GANG_MAX)
                return usage_error("too many --probe options (at most 16 chips at once)", NULL);
            probes[n_probes++] = ps.value;
            break;
        default: /* the library's option of the same name */
            if (pv_prov_set(h, ps.opt->name, ps.opt->arg ? ps.value : "1", err, sizeof err))
                return usage_error(err, NULL);
        }
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_EXIT_OK : PV_EXIT_USAGE;
    char **rest;
    if (pv_cli_operands(&ps, &rest) > 0)
        return usage_error("unexpected argument", rest[0]);
    if (n_probes == 1 && pv_prov_set(h, "probe", probes[0], err, sizeof err))
        return usage_error(err, NULL);
    if (n_probes > 1) /* checked with the first probe; each child sets its own */
        (void)pv_prov_set(h, "probe", probes[0], NULL, 0);
    int rc = pv_prov_check(h, err, sizeof err);
    if (rc == PV_PROV_USAGE)
        return usage_error(err, NULL);
    if (rc) {
        fprintf(stderr, "provision run: %s\n", err);
        return rc;
    }
    if (n_probes > 1)
        return gang(h, probes, n_probes, quiet, json);
    return one_device(h, quiet, json, NULL);
}

static int run(int argc, char **argv)
{
    pv_prov *h = pv_prov_new();
    if (!h) {
        fprintf(stderr, "provision run: out of memory\n");
        return PV_EXIT_IO;
    }
    int rc = run_with(h, argc, argv);
    pv_prov_free(h);
    return rc;
}

const struct pv_cli_cmd pv_cmd_run = {
    .name = "run",
    .summary = "provision the chip on the probe: check, key, install, verify, lock",
    .usage = "run --bridge URL --cert FILE --key FILE --ca FILE --product P --batch B "
             "--probe TARGET [options]\n"
             "run --config STATION.yaml [options]\n"
             "run --recipe FILE [options]",
    .about = "Provisions the one chip on the probe: identifies it, runs the RAM stub, relays its "
             "encrypted session with the trusted side, which reserves the chip, installs the "
             "bootloader and the chip's key and has it locked; confirms the lock from outside. "
             "With several --probe options, the chips on all of them at once (gang "
             "programming).\n\n"
             "The trusted side is `hsm-bridge` (--bridge: this station then holds no key, no "
             "PIN, no plaintext image and decides nothing), or, with --recipe, the bridge "
             "library in this process with your own token (local mode: this station IS the "
             "trusted side).",
    .opts = opts,
    .exits = exits,
    .exit_note = "A gang exits 0 when every chip is done, otherwise with the first failing "
                 "chip's status (in --probe order).",
    .run = run,
};
