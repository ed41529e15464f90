/* provision recipe check|show: validate product recipes and print them resolved
 * (provisioner/recipe.h, docs/recipes.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "../hsm-bridge/recipe.h"

static int check(int argc, char **argv, unsigned flags)
{
    int worst = PV_EXIT_OK;
    pv_recipe *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "provision recipe check: out of memory\n");
        return PV_EXIT_IO;
    }
    for (int i = 0; i < argc; i++) {
        pv_recipe_diags d;
        int rc = pv_recipe_load(argv[i], flags, r, &d);
        pv_recipe_diags_print(stderr, &d);
        if (rc == PV_RECIPE_OK && d.warnings)
            printf("%s: valid, %zu warning%s\n", argv[i], d.warnings, d.warnings == 1 ? "" : "s");
        else if (rc == PV_RECIPE_OK)
            printf("%s: valid\n", argv[i]);
        else if (rc == PV_RECIPE_INVALID)
            fprintf(stderr, "%s: not valid: %zu error%s\n", argv[i], d.errors,
                    d.errors == 1 ? "" : "s");
        pv_recipe_diags_free(&d);
        int ex = rc == PV_RECIPE_OK ? PV_EXIT_OK
                                    : (rc == PV_RECIPE_INVALID ? PV_EXIT_INVALID : PV_EXIT_IO);
        if (ex > worst)
            worst = ex; /* unreadable (3) outranks invalid (1) */
    }
    free(r);
    return worst;
}

static int show(const char *file, unsigned flags, int json)
{
    pv_recipe *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "provision recipe show: out of memory\n");
        return PV_EXIT_IO;
    }
    pv_recipe_diags d;
    int rc = pv_recipe_load(file, flags, r, &d);
    pv_recipe_diags_print(stderr, &d);
    pv_recipe_diags_free(&d);
    int ex = PV_EXIT_OK;
    if (rc == PV_RECIPE_INVALID)
        ex = PV_EXIT_INVALID;
    else if (rc != PV_RECIPE_OK)
        ex = PV_EXIT_IO;
    else if (json) {
        if (pv_recipe_print_json(stdout, r) != 0) {
            fprintf(stderr, "provision recipe show: cannot write JSON\n");
            ex = PV_EXIT_IO;
        }
    } else
        pv_recipe_print(stdout, r);
    free(r);
    return ex;
}

enum { OPT_FILES = 256, OPT_JSON };
static const struct pv_cli_opt opts[] = {
    {OPT_FILES, 0, "files", NULL,
     "also check the files the recipe names: the stub, bootloader and application images exist, "
     "fit their regions and match their sha256",
     NULL},
    {OPT_JSON, 0, "json", NULL, "(show) one JSON object instead of text", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_EXIT_OK, PV_EXIT_INVALID, PV_EXIT_USAGE, PV_EXIT_IO, -1};

static int run(int argc, char **argv)
{
    struct pv_cli_parser ps;
    pv_cmd_begin(&ps, &pv_cmd_recipe, argc, argv);
    if (argc < 2)
        return pv_cli_usage_error(&ps, "missing subcommand (check or show)", NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        pv_cli_cmd_help(stdout, &pv_provision_cli, &pv_cmd_recipe);
        return PV_EXIT_OK;
    }
    if (strcmp(sub, "check") != 0 && strcmp(sub, "show") != 0)
        return pv_cli_usage_error(&ps, "unknown subcommand", sub);
    pv_cmd_begin(&ps, &pv_cmd_recipe, argc - 1, argv + 1);
    unsigned flags = 0;
    int json = 0, c;
    while ((c = pv_cli_next(&ps)) >= 0) {
        switch (c) {
        case OPT_FILES:
            flags |= PV_RECIPE_CHECK_FILES;
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
    char **files;
    int nfiles = pv_cli_operands(&ps, &files);
    if (strcmp(sub, "check") == 0) {
        if (json)
            return pv_cli_usage_error(&ps, "--json is for show", NULL);
        if (nfiles < 1)
            return pv_cli_usage_error(&ps, "check needs at least one FILE", NULL);
        return check(nfiles, files, flags);
    }
    if (nfiles != 1)
        return pv_cli_usage_error(&ps, "show takes exactly one FILE", NULL);
    return show(files[0], flags, json);
}

const struct pv_cli_cmd pv_cmd_recipe = {
    .name = "recipe",
    .summary = "check or show a product recipe (YAML)",
    .usage = "recipe check [--files] FILE...\n"
             "recipe show [--json] [--files] FILE",
    .about = "Product recipes (docs/recipes.md): chip, probe, stub, images, flash layout, token "
             "key labels, protection and quota of one batch, in YAML.\n\n"
             "check validates each FILE and prints every problem on stderr as "
             "FILE:LINE:COLUMN: FIELD: what is wrong and how to fix it.\n"
             "show prints the recipe as provision resolved it: relative paths taken from the "
             "recipe's directory, defaults filled in, the flash sectors of each region.",
    .opts = opts,
    .exits = exits,
    .exit_note = "check: 0 when every recipe is valid (warnings allowed), otherwise the worst "
                 "status of its FILEs (3 outranks 1).",
    .run = run,
};
