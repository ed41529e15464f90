/* hsm-bridge release add: an application image into the release policy's store. The image must
 * verify with the product's image-signing key (in the token) and boot from the recipe's
 * application region; it is then sealed under the token's at-rest key (PVSEAL1) next to the
 * configuration, and the lines the configuration's `releases:` needs are printed. The bridge
 * checks every release again when it opens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bridge_internal.h"
#include "cmd.h"
#include "crypto/wipe.h"
#include "file_read.h"
#include "image/image.h"
#include "keys_config.h"

#define PROG "hsm-bridge release"

static const struct pv_cli_opt opts[] = {
    {'c', 'c', "config", "FILE", "the bridge's configuration (docs/bridge.md)", NULL},
    {'p', 'p', "product", "P", "the product the image is a release of", NULL},
    {'i', 'i', "image", "FILE", "the signed application image (provision image sign)", NULL},
    {'o', 'o', "out", "OUT",
     "where the sealed image goes (default: releases/P-VERSION.pvseal next to the "
     "configuration)",
     NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_BX_OK,  PV_BX_REFUSED, PV_BX_USAGE, PV_BX_IO,
                            PV_BX_KEY, PV_BX_CONFIG,  -1};

static int usage_error(const char *what)
{
    fprintf(stderr, "%s: %s (see hsm-bridge release --help)\n", PROG, what);
    return PV_BX_USAGE;
}

/* The recipe of product P among the configuration's products. */
static int find_recipe(const struct pv_bridge_server_config *cfg, const char *product,
                       pv_recipe *rc)
{
    for (unsigned i = 0; i < cfg->n_products; i++) {
        pv_recipe_diags d;
        int st = pv_recipe_load(cfg->products[i], PV_RECIPE_CHECK_FILES, rc, &d);
        if (st != PV_RECIPE_OK) {
            pv_recipe_diags_print(stderr, &d);
            pv_recipe_diags_free(&d);
            return st == PV_RECIPE_UNREADABLE ? PV_BX_IO : PV_BX_CONFIG;
        }
        pv_recipe_diags_free(&d);
        if (strcmp(rc->product, product) == 0)
            return PV_BX_OK;
    }
    fprintf(stderr, "%s: no product '%s' among the configuration's products\n", PROG, product);
    return PV_BX_CONFIG;
}

static int add(const char *config, const char *product, const char *image, const char *out_arg)
{
    struct pv_bridge_server_config cfg;
    int rc = pv_bx_load_config(PROG, config, &cfg);
    if (rc)
        return rc;
    pv_recipe *r = calloc(1, sizeof *r);
    uint8_t *img = NULL;
    size_t len = 0;
    pv_keystore *ks = NULL;
    char why[512], out[4200], ver[14];
    if (!r) {
        rc = PV_BX_IO;
        goto done;
    }
    if ((rc = find_recipe(&cfg, product, r)))
        goto done;
    if (pv_file_read(image, 16u << 20, &img, &len, why, sizeof why) != PV_FILE_OK) {
        fprintf(stderr, "%s: %s: cannot read: %s\n", PROG, image, why);
        rc = PV_BX_IO;
        goto done;
    }
    int unreadable = 0;
    ks = pv_keys_open(r, cfg.module, cfg.pin_file, 0, PV_KEYS_SIGNING | PV_KEYS_AT_REST, why,
                      sizeof why, &unreadable);
    if (!ks) {
        fprintf(stderr, "%s: %s\n", PROG, why);
        rc = unreadable ? PV_BX_IO : PV_BX_KEY;
        goto done;
    }
    uint8_t pub[32];
    uint32_t version = 0;
    if (pv_keystore_signer_public(ks, pub)) {
        fprintf(stderr, "%s: %s\n", PROG, pv_keystore_error(ks));
        rc = PV_BX_KEY;
        goto done;
    }
    if (pv_bridge_release_check(r, pub, img, len, &version, why, sizeof why)) {
        fprintf(stderr, "%s: %s refused: %s\n", PROG, image, why);
        rc = PV_BX_REFUSED;
        goto done;
    }
    pv_image_version_str(ver, version);
    if (out_arg)
        snprintf(out, sizeof out, "%s", out_arg);
    else {
        const char *slash = strrchr(config, '/');
        int dir_len = slash ? (int)(slash - config) : 1;
        snprintf(out, sizeof out, "%.*s/releases", dir_len, slash ? config : ".");
        if (mkdir(out, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "%s: cannot create %s: %s\n", PROG, out, strerror(errno));
            rc = PV_BX_IO;
            goto done;
        }
        size_t n = strlen(out);
        snprintf(out + n, sizeof out - n, "/%s-%s.pvseal", product, ver);
    }
    if (pv_keystore_seal_file(ks, image, out) != 0) {
        fprintf(stderr, "%s: %s\n", PROG, pv_keystore_error(ks));
        rc = PV_BX_IO;
        goto done;
    }
    printf("sealed %s (version %s, signed by product %s's key) -> %s\n"
           "add to %s:\n"
           "releases:\n"
           "  - product: %s\n"
           "    images:\n"
           "      - {version: %s, image: %s}\n",
           image, ver, product, out, config, product, ver, out);
    rc = PV_BX_OK;
done:
    if (img) {
        pv_wipe(img, len);
        free(img);
    }
    if (ks)
        pv_keystore_close(ks);
    free(r);
    pv_bridge_config_free(&cfg);
    return rc;
}

static int run(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        pv_cli_cmd_help(stdout, &pv_hsm_bridge_cli, &pv_bx_release);
        return PV_BX_OK;
    }
    if (argc < 2 || strcmp(argv[1], "add") != 0)
        return usage_error("the subcommand is add");
    const char *config = NULL, *product = NULL, *image = NULL, *out = NULL;
    struct pv_cli_parser ps;
    pv_bx_begin(&ps, &pv_bx_release, PROG " add", argc - 1, argv + 1);
    int c;
    while ((c = pv_cli_next(&ps)) >= 0) {
        switch (c) {
        case 'c':
            config = ps.value;
            break;
        case 'p':
            product = ps.value;
            break;
        case 'i':
            image = ps.value;
            break;
        case 'o':
            out = ps.value;
            break;
        default:
            return pv_cli_usage_error(&ps, "option not handled", ps.opt->name);
        }
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_BX_OK : PV_BX_USAGE;
    char **rest;
    if (pv_cli_operands(&ps, &rest) > 0)
        return pv_cli_usage_error(&ps, "unexpected argument", rest[0]);
    if (!config || !product || !image)
        return pv_cli_usage_error(&ps, "add needs --config, --product and --image", NULL);
    return add(config, product, image, out);
}

const struct pv_cli_cmd pv_bx_release = {
    .name = "release",
    .summary = "add a signed application image to the release policy (sealed at rest)",
    .usage = "release add --config FILE --product P --image FILE [-o OUT]",
    .about = "Checks a signed application image against product P's image-signing key and its "
             "recipe's application region, and seals it under the token's at-rest key into OUT. "
             "Prints the lines to add under `releases:` in the configuration; the bridge serves "
             "the latest version of a product unless a batch is pinned (docs/bridge.md, "
             "\"Releases\").",
    .opts = opts,
    .exits = exits,
    .run = run,
};
