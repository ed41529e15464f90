/* provision recipe check|show: validate product recipes and print them resolved
 * (provisioner/recipe.h, docs/recipes.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "../hsm-bridge/recipe.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: provision recipe check [--files] FILE...\n"
            "       provision recipe show  [--json] [--files] FILE\n"
            "\n"
            "Product recipes (docs/recipes.md): chip, probe, stub, images, flash layout, token\n"
            "key labels, protection and quota of one batch, in YAML.\n"
            "\n"
            "check   validates each FILE and prints every problem on stderr as\n"
            "        FILE:LINE:COLUMN: FIELD: what is wrong and how to fix it\n"
            "show    prints the recipe as provision resolved it: relative paths taken from the\n"
            "        recipe's directory, defaults filled in, the flash sectors of each region\n"
            "\n"
            "  --files   also check the files the recipe names: the stub, bootloader and\n"
            "            application images exist, fit their regions and match their sha256\n"
            "  --json    (show) one JSON object instead of text\n"
            "\n"
            "exit status: 0 valid (warnings allowed); 1 a recipe is not valid; 2 bad command\n"
            "line; 3 a recipe cannot be read.\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "provision recipe: %s%s%s (see provision recipe --help)\n", msg, arg ? " " : "",
            arg ? arg : "");
    return PV_EXIT_USAGE;
}

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

static int run(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing subcommand (check or show)", NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        help(stdout);
        return PV_EXIT_OK;
    }
    if (strcmp(sub, "check") != 0 && strcmp(sub, "show") != 0)
        return usage_error("unknown subcommand", sub);
    static const struct option opts[] = {{"files", no_argument, NULL, 'f'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    unsigned flags = 0;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            flags |= PV_RECIPE_CHECK_FILES;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            help(stdout);
            return PV_EXIT_OK;
        default:
            return usage_error("unknown option", (argv + 1)[optind - 1]);
        }
    }
    int nfiles = argc - 1 - optind;
    char **files = argv + 1 + optind;
    if (strcmp(sub, "check") == 0) {
        if (json)
            return usage_error("--json is for show", NULL);
        if (nfiles < 1)
            return usage_error("check needs at least one FILE", NULL);
        return check(nfiles, files, flags);
    }
    if (nfiles != 1)
        return usage_error("show takes exactly one FILE", NULL);
    return show(files[0], flags, json);
}

const struct pv_command pv_cmd_recipe = {
    .name = "recipe",
    .summary = "check or show a product recipe (YAML)",
    .run = run,
    .help = help,
};
