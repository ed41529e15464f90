/* The station's configuration file (station_config.h), read with libcyaml. */
#include "station_config.h"

#include "../hsm-bridge/file_read.h"
#include "../hsm-bridge/recipe_yaml.h"

#include <cyaml/cyaml.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cy_bridge {
    char *url, *ca;
};
struct cy_ocd {
    char *interface, *target;
    char **commands;
    unsigned commands_count;
};
struct cy_probe {
    char *target;
    struct cy_ocd *openocd;
};
struct cy_station {
    struct cy_bridge bridge;
    char *cert, *key, *product, *batch;
    struct cy_probe *probe;
};

#define PTR CYAML_FLAG_POINTER
#define OPT CYAML_FLAG_OPTIONAL
static const cyaml_schema_field_t bridge_fields[] = {
    CYAML_FIELD_STRING_PTR("url", PTR, struct cy_bridge, url, 8, PV_RECIPE_PATH_MAX - 1),
    CYAML_FIELD_STRING_PTR("ca", PTR, struct cy_bridge, ca, 1, PV_RECIPE_PATH_MAX - 1),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t command_entry = {
    CYAML_VALUE_STRING(PTR, char, 1, PV_RECIPE_CMD_MAX - 1),
};
static const cyaml_schema_field_t ocd_fields[] = {
    CYAML_FIELD_STRING_PTR("interface", PTR | OPT, struct cy_ocd, interface, 1,
                           PV_RECIPE_PATH_MAX - 1),
    CYAML_FIELD_STRING_PTR("target", PTR | OPT, struct cy_ocd, target, 1, PV_RECIPE_PATH_MAX - 1),
    CYAML_FIELD_SEQUENCE("commands", PTR | OPT, struct cy_ocd, commands, &command_entry, 0,
                         PV_RECIPE_CMDS_MAX),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t probe_fields[] = {
    CYAML_FIELD_STRING_PTR("target", PTR | OPT, struct cy_probe, target, 1, PV_RECIPE_ADDR_MAX - 1),
    CYAML_FIELD_MAPPING_PTR("openocd", PTR | OPT, struct cy_probe, openocd, ocd_fields),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t station_fields[] = {
    CYAML_FIELD_MAPPING("bridge", CYAML_FLAG_DEFAULT, struct cy_station, bridge, bridge_fields),
    CYAML_FIELD_STRING_PTR("cert", PTR, struct cy_station, cert, 1, PV_RECIPE_PATH_MAX - 1),
    CYAML_FIELD_STRING_PTR("key", PTR, struct cy_station, key, 1, PV_RECIPE_PATH_MAX - 1),
    CYAML_FIELD_STRING_PTR("product", PTR, struct cy_station, product, 1, PV_RECIPE_NAME_MAX - 1),
    CYAML_FIELD_STRING_PTR("batch", PTR, struct cy_station, batch, 1, PV_RECIPE_NAME_MAX - 1),
    CYAML_FIELD_MAPPING_PTR("probe", PTR | OPT, struct cy_station, probe, probe_fields),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t station_schema = {
    CYAML_VALUE_MAPPING(PTR, struct cy_station, station_fields),
};

/* A path from the file, resolved against its directory. */
static int put_path(char *out, size_t cap, const char *dir, const char *p)
{
    int n = p[0] == '/' ? snprintf(out, cap, "%s", p) : snprintf(out, cap, "%s/%s", dir, p);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The value under key in a YAML mapping node, or NULL. */
static const pv_ynode *map_get(const pv_ynode *m, const char *key)
{
    if (!m || m->kind != PV_Y_MAPPING)
        return NULL;
    for (size_t i = 0; i + 1 < m->n; i += 2)
        if (m->kids[i]->kind == PV_Y_SCALAR && strcmp(m->kids[i]->text, key) == 0)
            return m->kids[i + 1];
    return NULL;
}

/* Where probe.openocd.commands[i] is in the file (libcyaml keeps no positions): the item's
 * line and column, or 0, 0. */
static void command_pos(const char *text, size_t len, unsigned i, unsigned *line, unsigned *col)
{
    *line = *col = 0;
    pv_recipe_diags d;
    pv_recipe_diags_init(&d);
    pv_ynode *root = pv_yaml_parse(text, len, &d);
    const pv_ynode *seq = map_get(map_get(map_get(root, "probe"), "openocd"), "commands");
    if (seq && seq->kind == PV_Y_SEQUENCE && i < seq->n)
        *line = seq->kids[i]->line, *col = seq->kids[i]->column;
    pv_yaml_free(root);
    pv_recipe_diags_free(&d);
}

/* probe.openocd.commands run in OpenOCD as root: the same allow-list as a recipe's
 * (pv_recipe_openocd_command_check). 0, or -1 with err naming the file, place and command. */
static int check_commands(const char *path, const char *text, size_t len, const struct cy_ocd *o,
                          char *err, size_t err_len)
{
    for (unsigned i = 0; o && i < o->commands_count; i++) {
        char why[448];
        size_t at;
        if (pv_recipe_openocd_command_check(o->commands[i], &at, why, sizeof why) == 0)
            continue;
        unsigned line, col;
        command_pos(text, len, i, &line, &col);
        if (line)
            snprintf(err, err_len, "station config %s:%u:%u: probe.openocd.commands[%u]: %s", path,
                     line, col, i, why);
        else
            snprintf(err, err_len, "station config %s: probe.openocd.commands[%u]: %s", path, i,
                     why);
        return -1;
    }
    return 0;
}

int pv_station_config_load(const char *path, struct pv_station_config *c, char *err, size_t err_len)
{
    memset(c, 0, sizeof *c);
    struct pv_cy_log log = {{0}};
    const cyaml_config_t cfg = {.log_fn = pv_cy_log_fn,
                                .log_ctx = &log,
                                .mem_fn = cyaml_mem,
                                .log_level = CYAML_LOG_ERROR,
                                .flags = CYAML_CFG_NO_ALIAS};
    uint8_t *text;
    size_t len;
    char why[192];
    int fr = pv_file_read(path, PV_RECIPE_MAX_BYTES, &text, &len, why, sizeof why);
    if (fr != PV_FILE_OK) {
        if (fr == PV_FILE_TOO_LARGE)
            snprintf(err, err_len,
                     "station config %s: %zu bytes, larger than 1 MB: not a station "
                     "config",
                     path, len);
        else
            snprintf(err, err_len, "station config %s: %s", path, why);
        return -1;
    }
    struct cy_station *in = NULL;
    cyaml_err_t ce = cyaml_load_data(text, len, &cfg, &station_schema, (cyaml_data_t **)&in, NULL);
    if (ce != CYAML_OK || !in) {
        snprintf(err, err_len, "station config %s: %s%s%s (docs/bridge.md, \"Stations\")", path,
                 cyaml_strerror(ce), log.first[0] ? ": " : "", log.first);
        free(text);
        return -1;
    }
    if (check_commands(path, (const char *)text, len, in->probe ? in->probe->openocd : NULL, err,
                       err_len) != 0) {
        cyaml_free(&cfg, &station_schema, in, 0);
        free(text);
        return -1;
    }
    free(text);
    char buf[PV_RECIPE_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    const char *dir = dirname(buf);
    int bad = 0;
    snprintf(c->url, sizeof c->url, "%s", in->bridge.url);
    bad |= put_path(c->ca, sizeof c->ca, dir, in->bridge.ca);
    bad |= put_path(c->cert, sizeof c->cert, dir, in->cert);
    bad |= put_path(c->key, sizeof c->key, dir, in->key);
    snprintf(c->product, sizeof c->product, "%s", in->product);
    snprintf(c->batch, sizeof c->batch, "%s", in->batch);
    if (in->probe) {
        if (in->probe->target)
            snprintf(c->target, sizeof c->target, "%s", in->probe->target);
        const struct cy_ocd *o = in->probe->openocd;
        if (o && o->interface)
            bad |= put_path(c->ocd_interface, sizeof c->ocd_interface, dir, o->interface);
        if (o && o->target)
            snprintf(c->ocd_target, sizeof c->ocd_target, "%s", o->target);
        for (unsigned i = 0; o && i < o->commands_count; i++)
            snprintf(c->ocd_commands[c->n_ocd_commands++], PV_RECIPE_CMD_MAX, "%s", o->commands[i]);
    }
    cyaml_free(&cfg, &station_schema, in, 0);
    if (bad) {
        snprintf(err, err_len, "station config %s: a path is longer than %u bytes", path,
                 PV_RECIPE_PATH_MAX - 1);
        return -1;
    }
    return 0;
}
