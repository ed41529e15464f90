/* `provision info`: what chip is on the probe (DEV_ID, flash size, UID, RDP, nWRP), whether it
 * is the recipe's part, and its ledger row if it has one. Reads only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../hsm-bridge/ledger.h"
#include "commands.h"
#include "../hsm-bridge/recipe.h"
#include "../hsm-bridge/text_safe.h"
#include "station.h"

enum { OPT_RECIPE = 256, OPT_PROBE, OPT_LEDGER, OPT_JSON };
static const struct pv_cli_opt opts[] = {
    {OPT_RECIPE, 0, "recipe", "FILE",
     "compare the chip with this recipe; its probe section is the default", NULL},
    {OPT_PROBE, 0, "probe", "TARGET",
     "gdb:HOST:PORT, openocd[:HOST:PORT], cmsis-dap:usb[:SERIAL], cmsis-dap:tcp:HOST:PORT "
     "(HOST:PORT alone: GDB without a recipe, the recipe's backend with one)",
     NULL},
    {'c', 'c', "openocd-command", "CMD", "extra OpenOCD command (repeatable)", NULL},
    {OPT_LEDGER, 0, "ledger", "DB",
     "the ledger to look the UID up in (default $" PV_LEDGER_ENV ", else " PV_LEDGER_DEFAULT_PATH
     "; not created)",
     NULL},
    {OPT_JSON, 0, "json", NULL, "one JSON object on stdout", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_EXIT_OK,         PV_EXIT_INVALID, PV_EXIT_USAGE, PV_EXIT_IO,
                            PV_EXIT_WRONG_CHIP, PV_EXIT_LOCKED,  PV_EXIT_PROBE, -1};

static int run(int argc, char **argv)
{
    static pv_recipe rc;
    struct pv_station_probe sp;
    memset(&sp, 0, sizeof sp);
    const char *recipe = NULL, *ledger_path = NULL;
    int json = 0;
    struct pv_cli_parser ps;
    pv_cmd_begin(&ps, &pv_cmd_chip_info, argc, argv);
    int c;
    while ((c = pv_cli_next(&ps)) >= 0) {
        switch (c) {
        case OPT_RECIPE:
            recipe = ps.value;
            break;
        case OPT_PROBE:
            sp.target = ps.value;
            break;
        case 'c':
            if (sp.n_ocd_cmds >= PV_STATION_MAX_OCD_CMDS)
                return pv_cli_usage_error(&ps, "too many --openocd-command options", NULL);
            sp.ocd_cmds[sp.n_ocd_cmds++] = ps.value;
            break;
        case OPT_LEDGER:
            ledger_path = ps.value;
            break;
        case OPT_JSON:
            json = 1;
            break;
        default:
            return pv_cli_usage_error(&ps, "option not handled", ps.opt->name);
        }
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_EXIT_OK : PV_EXIT_USAGE;
    char **rest;
    if (pv_cli_operands(&ps, &rest) > 0)
        return pv_cli_usage_error(&ps, "unexpected argument", rest[0]);
    if (!recipe && !sp.target)
        return pv_cli_usage_error(&ps, "give --recipe FILE or --probe TARGET", NULL);
    if (recipe) {
        pv_recipe_diags d;
        int st = pv_recipe_load(recipe, 0, &rc, &d);
        if (st != PV_RECIPE_OK) {
            pv_recipe_diags_print(stderr, &d);
            pv_recipe_diags_free(&d);
            fprintf(stderr, "provision info: recipe %s %s\n", recipe,
                    st == PV_RECIPE_UNREADABLE ? "cannot be read" : "is not valid");
            return st == PV_RECIPE_UNREADABLE ? PV_EXIT_IO : PV_EXIT_INVALID;
        }
        pv_recipe_diags_free(&d);
    }

    pv_probe_link l;
    char desc[256], err[512];
    int prc = pv_station_connect(recipe ? &rc : NULL, &sp, &l, desc, sizeof desc, err, sizeof err);
    if (prc) {
        pv_probe_disconnect(&l);
        if (prc == PV_PROBE_ERR_DEAD) {
            fprintf(stderr,
                    "provision info: debug port dead: the chip is locked (RDP Level 2) or has no "
                    "power (%s)\n",
                    err);
            return PV_EXIT_LOCKED;
        }
        fprintf(stderr, "provision info: probe unreachable: %s\n", err);
        return PV_EXIT_PROBE;
    }
    struct pv_probe_ident id;
    uint32_t nwrp = 0;
    int rrc = l.ops->halt(l.p);
    if (!rrc)
        rrc = pv_probe_identify(&l, &id);
    if (!rrc)
        rrc = pv_station_read_nwrp(&l, id.flash_kb, &nwrp);
    if (rrc) {
        fprintf(stderr, "provision info: %s: cannot halt and identify the chip: %s\n", desc,
                l.ops->error(l.p));
        pv_probe_disconnect(&l);
        return rrc == PV_PROBE_ERR_DEAD ? PV_EXIT_LOCKED : PV_EXIT_PROBE;
    }
    pv_probe_disconnect(&l);

    char uid[25], why[512] = "";
    pv_station_hex(uid, id.uid, 12);
    int match = recipe ? pv_station_match(&rc, &id, why, sizeof why) == 0 : -1;

    /* the ledger row, if there is a ledger file and it knows this UID */
    pv_ledger_row row;
    int have_row = 0;
    const char *lp = ledger_path ? ledger_path : getenv(PV_LEDGER_ENV);
    if (!lp || !*lp)
        lp = PV_LEDGER_DEFAULT_PATH;
    if (access(lp, F_OK) == 0) {
        char lerr[256];
        pv_ledger *led = pv_ledger_open(lp, PV_LEDGER_READ_ONLY, lerr, sizeof lerr);
        if (led) {
            have_row = pv_ledger_get(led, id.uid, &row) == PV_LEDGER_OK;
            pv_ledger_close(led);
        } else
            fprintf(stderr, "provision info: ledger %s: %s\n", lp, lerr);
    }

    uint32_t dev = id.dbgmcu_idcode & 0xFFFu;
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "probe", json_string(desc));
        json_object_set_new(o, "dev_id", json_integer(dev));
        json_object_set_new(o, "part", json_string(pv_station_dev_name(dev)));
        json_object_set_new(o, "rev_id", json_integer(id.dbgmcu_idcode >> 16));
        json_object_set_new(o, "flash_kb", json_integer(id.flash_kb));
        json_object_set_new(o, "uid", json_string(uid));
        json_object_set_new(o, "rdp", json_string(pv_station_rdp_name(id.rdp)));
        json_object_set_new(o, "rdp_byte", json_integer(id.rdp));
        json_object_set_new(o, "nwrp", json_integer(nwrp));
        if (recipe) {
            json_object_set_new(o, "recipe", json_string(rc.name));
            json_object_set_new(o, "matches_recipe", json_boolean(match));
            if (!match)
                json_object_set_new(o, "mismatch", json_string(why));
        }
        if (have_row) {
            json_t *lr = json_object();
            json_object_set_new(lr, "batch", json_string(row.batch));
            json_object_set_new(lr, "state", json_string(pv_ledger_state_name(row.state)));
            json_object_set_new(lr, "station", json_string(row.station));
            json_object_set_new(lr, "recipe", json_string(row.recipe_name));
            json_object_set_new(lr, "image_sha256", json_string(row.image_digest));
            json_object_set_new(lr, "attempts", json_integer(row.attempts));
            json_object_set_new(lr, "failures", json_integer(row.failures));
            json_object_set_new(lr, "last_failure", json_string(row.last_failure));
            json_object_set_new(o, "ledger", lr);
        } else
            json_object_set_new(o, "ledger", json_null());
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("probe     %s\n", desc);
        printf("part      DEV_ID 0x%03x (%s), REV_ID 0x%04x\n", (unsigned)dev,
               pv_station_dev_name(dev), (unsigned)(id.dbgmcu_idcode >> 16));
        printf("flash     %u KB\n", id.flash_kb);
        printf("uid       %s\n", uid);
        printf("rdp       %s (0x%02x)\n", pv_station_rdp_name(id.rdp), id.rdp);
        printf("nwrp      0x%06x%s\n", (unsigned)nwrp,
               nwrp == (id.flash_kb == 2048 ? 0xFFFFFFu : 0xFFFu) ? " (no sector protected)" : "");
        if (recipe)
            printf("recipe    %s: %s\n", rc.name, match ? "matches" : why);
        if (have_row) {
            /* the row's text escaped (hsm-bridge/text_safe.h): it may have been written raw */
            static char b[4 * sizeof row.batch], st[4 * sizeof row.station],
                lf[4 * sizeof row.last_failure];
            printf("ledger    batch %s, %s, station %s, %u attempt(s), %u failure(s)%s%s\n",
                   pv_text_escape(row.batch, b, sizeof b), pv_ledger_state_name(row.state),
                   pv_text_escape(row.station, st, sizeof st), row.attempts, row.failures,
                   row.last_failure[0] ? ", last: " : "",
                   pv_text_escape(row.last_failure, lf, sizeof lf));
        } else
            printf("ledger    no row for this UID in %s\n", lp);
    }
    return match == 0 ? PV_EXIT_WRONG_CHIP : PV_EXIT_OK;
}

const struct pv_cli_cmd pv_cmd_chip_info = {
    .name = "info",
    .summary = "identify the chip on the probe and compare it with a recipe",
    .usage = "info [--recipe FILE] [--probe TARGET] [-c CMD]... [--ledger DB] [--json]",
    .about = "Connects to the chip, halts it and prints its identity: DEV_ID and part, REV_ID, "
             "flash size, 96-bit UID, RDP level and nWRP bits; with a recipe, whether the chip "
             "matches it; and the chip's ledger row if the ledger has one. Writes nothing.",
    .opts = opts,
    .exits = exits,
    .run = run,
};
