/* Recipe loading: the libcyaml schema, the load, and the checks against the chip's facts
 * (docs/recipes.md). Shape errors come from recipe_yaml.c walking this same schema; what is
 * here judges values: chip part and DEV_ID, the layout against the sector map, probe addresses,
 * protection and quota. */
#include "recipe.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <openssl/evp.h>

#include "file_read.h"
#include "hal/flash.h"
#include "recipe_chip.h"
#include "recipe_devdata.h"
#include "recipe_yaml.h"
#include "devdata/devdata.h"
#include "text_safe.h"

/* ---- what libcyaml loads into (pointers mark optional parts) ---- */

struct cy_region {
    uint32_t address, size;
};
struct cy_chip {
    int family;
    char *part;
    uint32_t device_id, flash_kb;
};
struct cy_openocd {
    char *interface, *target, *attach;
    char **commands;
    unsigned commands_count;
};
struct cy_gdb {
    char *remote;
};
struct cy_dap {
    char *serial;
};
struct cy_probe {
    enum pv_probe_backend backend;
    struct cy_openocd *openocd;
    struct cy_gdb *gdb;
    struct cy_dap *cmsis_dap;
};
struct cy_stub {
    char *image;
    uint32_t sram_base;
};
struct cy_image {
    char *image, *sha256;
};
struct cy_layout {
    struct cy_region bootloader, key_slot, counter, application;
};
struct cy_keys {
    char *token, *master_key, *noise_static_key, *image_signing_key, *audit_key, *at_rest_key;
    uint32_t *key_id, *key_version;
};
struct cy_protection {
    uint32_t rdp_level;
    uint32_t *write_protect;
    unsigned write_protect_count;
};
struct cy_power {
    char *vdd_min, *vdd_max; /* volts as written ("2.7"), parsed by check_power */
    bool *vpp;
};
struct cy_recipe {
    uint32_t format;
    char *product, *batch;
    struct cy_chip chip;
    struct cy_probe probe;
    struct cy_stub stub;
    struct cy_image bootloader;
    struct cy_image *application;
    struct cy_layout layout;
    struct cy_keys keys;
    struct cy_protection protection;
    struct cy_power *power;
    uint32_t quota;
    struct cy_devdata *device_data;
};

#define PTR      CYAML_FLAG_POINTER
#define OPT      CYAML_FLAG_OPTIONAL
#define NAME_LEN (PV_RECIPE_NAME_MAX - 1)
#define LBL_LEN  (PV_RECIPE_LABEL_MAX - 1)
#define PATH_LEN (PV_RECIPE_PATH_MAX - 1)
#define ADDR_LEN (PV_RECIPE_ADDR_MAX - 1)

static const cyaml_strval_t family_names[] = {{"stm32f4", 0}};
static const cyaml_strval_t backend_names[] = {
    {"openocd", PV_PROBE_OPENOCD}, {"gdb", PV_PROBE_GDB}, {"cmsis-dap", PV_PROBE_CMSIS_DAP}};

static const cyaml_schema_field_t region_fields[] = {
    CYAML_FIELD_UINT("address", CYAML_FLAG_DEFAULT, struct cy_region, address),
    CYAML_FIELD_UINT("size", CYAML_FLAG_DEFAULT, struct cy_region, size),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t chip_fields[] = {
    CYAML_FIELD_ENUM("family", CYAML_FLAG_STRICT, struct cy_chip, family, family_names, 1),
    CYAML_FIELD_STRING_PTR("part", PTR, struct cy_chip, part, 1, NAME_LEN),
    CYAML_FIELD_UINT("device_id", CYAML_FLAG_DEFAULT, struct cy_chip, device_id),
    CYAML_FIELD_UINT("flash_kb", CYAML_FLAG_DEFAULT, struct cy_chip, flash_kb),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t command_entry = {
    CYAML_VALUE_STRING(PTR, char, 1, PV_RECIPE_CMD_MAX - 1),
};
static const cyaml_schema_field_t openocd_fields[] = {
    CYAML_FIELD_STRING_PTR("interface", PTR | OPT, struct cy_openocd, interface, 1, PATH_LEN),
    CYAML_FIELD_STRING_PTR("target", PTR, struct cy_openocd, target, 1, PATH_LEN),
    CYAML_FIELD_SEQUENCE("commands", PTR | OPT, struct cy_openocd, commands, &command_entry, 0,
                         PV_RECIPE_CMDS_MAX),
    CYAML_FIELD_STRING_PTR("attach", PTR | OPT, struct cy_openocd, attach, 1, ADDR_LEN),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t gdb_fields[] = {
    CYAML_FIELD_STRING_PTR("remote", PTR, struct cy_gdb, remote, 1, ADDR_LEN),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t dap_fields[] = {
    CYAML_FIELD_STRING_PTR("serial", PTR | OPT, struct cy_dap, serial, 1, NAME_LEN),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t probe_fields[] = {
    CYAML_FIELD_ENUM("backend", CYAML_FLAG_STRICT, struct cy_probe, backend, backend_names, 3),
    CYAML_FIELD_MAPPING_PTR("openocd", PTR | OPT, struct cy_probe, openocd, openocd_fields),
    CYAML_FIELD_MAPPING_PTR("gdb", PTR | OPT, struct cy_probe, gdb, gdb_fields),
    CYAML_FIELD_MAPPING_PTR("cmsis_dap", PTR | OPT, struct cy_probe, cmsis_dap, dap_fields),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t stub_fields[] = {
    CYAML_FIELD_STRING_PTR("image", PTR, struct cy_stub, image, 1, PATH_LEN),
    CYAML_FIELD_UINT("sram_base", CYAML_FLAG_DEFAULT, struct cy_stub, sram_base),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t image_fields[] = {
    CYAML_FIELD_STRING_PTR("image", PTR, struct cy_image, image, 1, PATH_LEN),
    CYAML_FIELD_STRING_PTR("sha256", PTR | OPT, struct cy_image, sha256, 1, 64 + 7),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t layout_fields[] = {
    CYAML_FIELD_MAPPING("bootloader", CYAML_FLAG_DEFAULT, struct cy_layout, bootloader,
                        region_fields),
    CYAML_FIELD_MAPPING("key_slot", CYAML_FLAG_DEFAULT, struct cy_layout, key_slot, region_fields),
    CYAML_FIELD_MAPPING("counter", CYAML_FLAG_DEFAULT, struct cy_layout, counter, region_fields),
    CYAML_FIELD_MAPPING("application", CYAML_FLAG_DEFAULT, struct cy_layout, application,
                        region_fields),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t keys_fields[] = {
    CYAML_FIELD_STRING_PTR("token", PTR, struct cy_keys, token, 1, LBL_LEN),
    CYAML_FIELD_STRING_PTR("master_key", PTR, struct cy_keys, master_key, 1, LBL_LEN),
    CYAML_FIELD_STRING_PTR("noise_static_key", PTR, struct cy_keys, noise_static_key, 1, LBL_LEN),
    CYAML_FIELD_STRING_PTR("image_signing_key", PTR, struct cy_keys, image_signing_key, 1, LBL_LEN),
    CYAML_FIELD_STRING_PTR("audit_key", PTR | OPT, struct cy_keys, audit_key, 1, LBL_LEN),
    CYAML_FIELD_STRING_PTR("at_rest_key", PTR | OPT, struct cy_keys, at_rest_key, 1, LBL_LEN),
    CYAML_FIELD_UINT_PTR("key_id", PTR | OPT, struct cy_keys, key_id),
    CYAML_FIELD_UINT_PTR("key_version", PTR | OPT, struct cy_keys, key_version),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t sector_entry = {
    CYAML_VALUE_UINT(CYAML_FLAG_DEFAULT, uint32_t),
};
static const cyaml_schema_field_t protection_fields[] = {
    CYAML_FIELD_UINT("rdp_level", CYAML_FLAG_DEFAULT, struct cy_protection, rdp_level),
    CYAML_FIELD_SEQUENCE("write_protect", PTR | OPT, struct cy_protection, write_protect,
                         &sector_entry, 0, PV_RECIPE_SECTORS_MAX),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t power_fields[] = {
    CYAML_FIELD_STRING_PTR("vdd_min", PTR, struct cy_power, vdd_min, 1, 16),
    CYAML_FIELD_STRING_PTR("vdd_max", PTR, struct cy_power, vdd_max, 1, 16),
    CYAML_FIELD_BOOL_PTR("vpp", PTR | OPT, struct cy_power, vpp),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t recipe_fields[] = {
    CYAML_FIELD_UINT("format", CYAML_FLAG_DEFAULT, struct cy_recipe, format),
    CYAML_FIELD_STRING_PTR("product", PTR, struct cy_recipe, product, 1, NAME_LEN),
    CYAML_FIELD_STRING_PTR("batch", PTR, struct cy_recipe, batch, 1, NAME_LEN),
    CYAML_FIELD_MAPPING("chip", CYAML_FLAG_DEFAULT, struct cy_recipe, chip, chip_fields),
    CYAML_FIELD_MAPPING("probe", CYAML_FLAG_DEFAULT, struct cy_recipe, probe, probe_fields),
    CYAML_FIELD_MAPPING("stub", CYAML_FLAG_DEFAULT, struct cy_recipe, stub, stub_fields),
    CYAML_FIELD_MAPPING("bootloader", CYAML_FLAG_DEFAULT, struct cy_recipe, bootloader,
                        image_fields),
    CYAML_FIELD_MAPPING_PTR("application", PTR | OPT, struct cy_recipe, application, image_fields),
    CYAML_FIELD_MAPPING("layout", CYAML_FLAG_DEFAULT, struct cy_recipe, layout, layout_fields),
    CYAML_FIELD_MAPPING("keys", CYAML_FLAG_DEFAULT, struct cy_recipe, keys, keys_fields),
    CYAML_FIELD_MAPPING("protection", CYAML_FLAG_DEFAULT, struct cy_recipe, protection,
                        protection_fields),
    CYAML_FIELD_MAPPING_PTR("power", PTR | OPT, struct cy_recipe, power, power_fields),
    CYAML_FIELD_UINT("quota", CYAML_FLAG_DEFAULT, struct cy_recipe, quota),
    CYAML_FIELD_MAPPING_PTR("device_data", PTR | OPT, struct cy_recipe, device_data,
                            pv_recipe_devdata_fields),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t recipe_schema = {
    CYAML_VALUE_MAPPING(PTR, struct cy_recipe, recipe_fields),
};

/* ---- checking values ---- */

struct ctx {
    pv_recipe *r;
    pv_recipe_diags *d;
    const pv_yindex *idx;
    const pv_chip_part *part;
    char dir[PV_RECIPE_PATH_MAX]; /* the recipe's directory, "" for the working directory */
    const char *text;             /* the file's bytes, for positions inside a value */
    size_t len;
};

/* Reports at the field's key; a field not in the file (a default) is reported at the closest
 * parent that is. */
__attribute__((format(printf, 4, 5))) static void report(struct ctx *c, int warning,
                                                         const char *path, const char *fmt, ...)
{
    if (pv_yindex_tainted(c->idx, path))
        return; /* already reported as a shape error; its value here is a placeholder */
    char p[128];
    snprintf(p, sizeof p, "%s", path);
    const pv_yfield *f = NULL;
    for (;;) {
        f = pv_yindex_find(c->idx, p);
        char *cut = strrchr(p, '.');
        if (f || !cut)
            break;
        *cut = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    pv_recipe_diag_vadd(c->d, f ? f->line : 1, f ? f->column : 1, warning, path, fmt, ap);
    va_end(ap);
}

#define ERR(c, path, ...) report(c, 0, path, __VA_ARGS__)
/* A value that failed the shape checks (a placeholder now): checks that combine it with other
 * values skip it rather than report nonsense about the others. */
#define TAINTED(c, path)   pv_yindex_tainted((c)->idx, path)
#define WARN(c, path, ...) report(c, 1, path, __VA_ARGS__)

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void resolve(struct ctx *c, const char *path, const char *value, char *out, size_t cap)
{
    int n;
    while (strncmp(value, "./", 2) == 0 && value[2])
        value += 2;
    if (value[0] == '/' || !c->dir[0])
        n = snprintf(out, cap, "%s", value);
    else
        n = snprintf(out, cap, "%s/%s", c->dir, value);
    if (n < 0 || (size_t)n >= cap)
        ERR(c, path,
            "the path, taken from the recipe's directory, is longer than %zu bytes; move "
            "the file closer or use an absolute path",
            cap - 1);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* 64 hex digits (an optional "sha256:" prefix is allowed, as `provision` prints it). */
static int parse_sha256(struct ctx *c, const char *path, const char *s, uint8_t out[32])
{
    if (strncmp(s, "sha256:", 7) == 0)
        s += 7;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (hexval((unsigned char)s[i]) < 0) {
            ERR(c, path, "'%c' is not a hex digit; expected the 64 hex digits of a SHA-256", s[i]);
            return -1;
        }
    if (n != 64) {
        ERR(c, path, "has %zu hex digits; a SHA-256 has 64 (sha256sum prints it)", n);
        return -1;
    }
    for (size_t i = 0; i < 32; i++)
        out[i] =
            (uint8_t)(hexval((unsigned char)s[2 * i]) << 4 | hexval((unsigned char)s[2 * i + 1]));
    return 0;
}

/* HOST:PORT ("[::1]:PORT" for IPv6), or with serial_ok a device path. */
static void check_endpoint(struct ctx *c, const char *path, const char *v, int serial_ok)
{
    if (serial_ok && v[0] == '/')
        return;
    const char *colon = strrchr(v, ':');
    const char *example = serial_ok ? "write HOST:PORT (127.0.0.1:3333) or a serial device "
                                      "(/dev/ttyACM0)"
                                    : "write HOST:PORT (127.0.0.1:6666)";
    if (!colon || colon == v) {
        ERR(c, path, "\"%s\" has no %s; %s", v, colon ? "host" : "port", example);
        return;
    }
    unsigned long long port;
    if (pv_yaml_parse_uint(colon + 1, 65535, &port) != 0 || port == 0) {
        ERR(c, path, "\"%s\": port \"%s\" is not a number from 1 to 65535; %s", v, colon + 1,
            example);
        return;
    }
    for (const char *p = v; p < colon; p++)
        if (isspace((unsigned char)*p)) {
            ERR(c, path, "\"%s\": the host contains a space; %s", v, example);
            return;
        }
}

/* batch and product: names (text_safe.h) - they name ledger rows, files, rights and log lines,
 * and reach terminals and spreadsheets; the value is shown escaped. */
static void check_name(struct ctx *c, const char *field, const char *v)
{
    if (!v || pv_text_name_ok(v))
        return;
    char shown[4 * PV_NAME_MAX + 16];
    const char *bad = v;
    while (*bad && (isalnum((unsigned char)*bad) || *bad == '.' || *bad == '_' || *bad == '-'))
        bad++;
    char what[8];
    if (*bad >= 0x20 && *bad < 0x7f)
        snprintf(what, sizeof what, "'%c'", *bad);
    else
        snprintf(what, sizeof what, "\\x%02x", (unsigned char)*bad);
    if (*bad)
        ERR(c, field,
            "\"%s\" contains %s; a %s name is " PV_NAME_RULE " (it names ledger rows and files)",
            pv_text_escape(v, shown, sizeof shown), what, field);
    else
        ERR(c, field, "\"%s\" is longer than %u characters; a %s name is " PV_NAME_RULE,
            pv_text_escape(v, shown, sizeof shown), PV_NAME_MAX - 1, field);
}

static void check_chip(struct ctx *c, const struct cy_chip *in)
{
    pv_recipe *r = c->r;
    copy(r->chip.family, sizeof r->chip.family, family_names[in->family].str);
    copy(r->chip.part, sizeof r->chip.part, in->part);
    r->chip.device_id = in->device_id;
    r->chip.flash_kb = in->flash_kb;
    c->part = pv_chip_find(in->part);
    if (!c->part) {
        size_t n;
        const pv_chip_part *t = pv_chip_table(&n);
        char list[512];
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof list; i++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", t[i].name);
            if (w > 0)
                used += (size_t)w;
        }
        ERR(c, "chip.part", "\"%s\" is not a known STM32F4 part; known parts: %s", in->part, list);
    } else {
        r->chip.sram_kb = c->part->sram_kb;
        char want[64];
        if (!pv_chip_has_dev_id(c->part, in->device_id)) {
            pv_chip_dev_ids_str(c->part, want, sizeof want);
            ERR(c, "chip.device_id", "0x%03X is not the DEV_ID of %s (%s)", in->device_id,
                c->part->name, want);
        }
        if (!pv_chip_has_flash(c->part, in->flash_kb)) {
            pv_chip_flash_str(c->part, want, sizeof want);
            ERR(c, "chip.flash_kb", "%s comes with %s KB of flash, not %u", c->part->name, want,
                in->flash_kb);
        }
    }
    r->chip.n_sectors = pv_chip_sectors(in->flash_kb, r->chip.sectors);
    if (!r->chip.n_sectors && (!c->part || pv_chip_has_flash(c->part, in->flash_kb)))
        ERR(c, "chip.flash_kb",
            "%u KB is not an STM32F4 flash size (128, 256, 384, 512, 768, 1024 or 2048)",
            in->flash_kb);
}

/* A configuration file the recipe ships for OpenOCD is Tcl that OpenOCD runs: it is held to
 * the same allow-list as probe.openocd.commands (full-line comments allowed), or a recipe
 * could run host commands through a file of its own. */
static void check_config_file(struct ctx *c, const char *path, const char *file)
{
    uint8_t *b = NULL;
    size_t n = 0;
    char why[512];
    if (pv_file_read(file, 64u << 10, &b, &n, why, sizeof why) != PV_FILE_OK) {
        ERR(c, path, "OpenOCD configuration %s: %s", file, why);
        return;
    }
    char *t = malloc(n + 1);
    if (!t) {
        free(b);
        ERR(c, path, "OpenOCD configuration %s: out of memory", file);
        return;
    }
    memcpy(t, b, n);
    t[n] = 0;
    if (memchr(b, 0, n))
        ERR(c, path, "OpenOCD configuration %s: holds a NUL byte: not a Tcl file", file);
    else {
        for (char *line = t; *line;) { /* blank out full-line comments */
            char *q = line;
            while (*q == ' ' || *q == '\t')
                q++;
            char *eol = strchr(line, '\n');
            if (*q == '#')
                memset(q, ' ', eol ? (size_t)(eol - q) : strlen(q));
            line = eol ? eol + 1 : line + strlen(line);
        }
        size_t at = 0;
        if (pv_recipe_openocd_command_check(t, &at, why, sizeof why) != 0) {
            unsigned ln = 1;
            for (size_t i = 0; i < at && t[i]; i++)
                ln += t[i] == '\n';
            ERR(c, path, "OpenOCD configuration %s:%u: %s", file, ln, why);
        }
    }
    free(t);
    free(b);
}

/* OpenOCD configuration: "interface/stlink.cfg" is a name in OpenOCD's script path and stays as
 * written (no ".." in it: it could name any file); "./x.cfg", "../x.cfg" and "/x.cfg" are files,
 * taken from the recipe's directory, and checked like the recipe's commands. */
static void config_file(struct ctx *c, const char *path, const char *value, char *out, size_t cap)
{
    if (!value)
        out[0] = 0;
    else if (value[0] == '/' || strncmp(value, "./", 2) == 0 || strncmp(value, "../", 3) == 0) {
        resolve(c, path, value, out, cap);
        check_config_file(c, path, out);
    } else if (strstr(value, "..") || strchr(value, '\\'))
        ERR(c, path,
            "\"%s\": a name in OpenOCD's scripts may not contain \"..\" (it would reach any "
            "file); ship the file with the recipe and name it ./FILE",
            value);
    else
        copy(out, cap, value);
}

/* Where byte off of a scalar's value is in the file: exact when the value is written there as
 * it is (plain or quoted, without escapes or line folding up to off); else the scalar's start. */
static void value_pos(const struct ctx *c, const pv_yfield *f, size_t off, unsigned *line,
                      unsigned *col)
{
    *line = f->line, *col = f->column;
    const pv_ynode *n = f->value;
    if (!c->text || !n || n->kind != PV_Y_SCALAR || off > n->len || memchr(n->text, '\n', off))
        return;
    size_t i = 0;
    for (unsigned l = 1; i < c->len && l < n->line; i++)
        l += c->text[i] == '\n';
    for (unsigned k = 1; i < c->len && k < n->column; k++) /* libyaml counts characters */
        for (i++; i < c->len && ((unsigned char)c->text[i] & 0xC0) == 0x80; i++)
            ;
    size_t q = !n->plain && i < c->len && (c->text[i] == '"' || c->text[i] == '\'');
    if (i + q + off > c->len || memcmp(c->text + i + q, n->text, off) != 0)
        return;
    unsigned chars = 0;
    for (size_t j = 0; j < off; j++)
        chars += ((unsigned char)n->text[j] & 0xC0) != 0x80;
    *line = n->line, *col = n->column + (unsigned)q + chars;
}

/* probe.openocd.commands: OpenOCD runs them as root, so only the allow-list may pass. */
static void check_openocd_commands(struct ctx *c, const struct cy_openocd *in)
{
    for (unsigned i = 0; i < in->commands_count && i < PV_RECIPE_CMDS_MAX; i++) {
        char path[64], why[448];
        snprintf(path, sizeof path, "probe.openocd.commands[%u]", i);
        size_t at;
        if (TAINTED(c, path) ||
            pv_recipe_openocd_command_check(in->commands[i], &at, why, sizeof why) == 0)
            continue;
        const pv_yfield *f = pv_yindex_find(c->idx, path);
        unsigned line = 1, col = 1;
        if (f)
            value_pos(c, f, at, &line, &col);
        pv_recipe_diag_add(c->d, line, col, 0, path, "%s", why);
    }
}

static void check_probe(struct ctx *c, const struct cy_probe *in)
{
    pv_recipe *r = c->r;
    r->probe.backend = in->backend;
    if (in->openocd) {
        config_file(c, "probe.openocd.interface", in->openocd->interface,
                    r->probe.openocd.interface, sizeof r->probe.openocd.interface);
        config_file(c, "probe.openocd.target", in->openocd->target, r->probe.openocd.target,
                    sizeof r->probe.openocd.target);
        r->probe.openocd.n_commands = in->openocd->commands_count;
        for (unsigned i = 0; i < in->openocd->commands_count && i < PV_RECIPE_CMDS_MAX; i++)
            copy(r->probe.openocd.commands[i], PV_RECIPE_CMD_MAX, in->openocd->commands[i]);
        check_openocd_commands(c, in->openocd);
        if (in->openocd->attach) {
            copy(r->probe.openocd.attach, sizeof r->probe.openocd.attach, in->openocd->attach);
            check_endpoint(c, "probe.openocd.attach", in->openocd->attach, 0);
        }
    }
    if (in->gdb) {
        copy(r->probe.gdb.remote, sizeof r->probe.gdb.remote, in->gdb->remote);
        check_endpoint(c, "probe.gdb.remote", in->gdb->remote, 1);
    }
    if (in->cmsis_dap)
        copy(r->probe.cmsis_dap.serial, sizeof r->probe.cmsis_dap.serial, in->cmsis_dap->serial);
    if (in->backend == PV_PROBE_OPENOCD && !in->openocd)
        ERR(c, "probe.backend",
            "openocd needs a probe.openocd section; add probe.openocd.target (e.g. "
            "target/stm32f4x.cfg) and the interface or adapter commands");
    if (in->backend == PV_PROBE_GDB && !in->gdb)
        ERR(c, "probe.backend",
            "gdb needs a probe.gdb section; add probe.gdb.remote (HOST:PORT or a serial device)");
    if (in->backend == PV_PROBE_OPENOCD && in->openocd && !in->openocd->interface &&
        !in->openocd->commands_count && !in->openocd->attach)
        ERR(c, "probe.openocd",
            "says nothing about the adapter; add interface (e.g. interface/stlink.cfg), "
            "commands that select one, or attach (HOST:PORT of a running OpenOCD)");
}

static void check_stub(struct ctx *c, const struct cy_stub *in)
{
    pv_recipe *r = c->r;
    resolve(c, "stub.image", in->image, r->stub.image, sizeof r->stub.image);
    r->stub.sram_base = in->sram_base;
    if (!c->part)
        return;
    uint32_t end = PV_F4_SRAM_BASE + r->chip.sram_kb * 1024u;
    if (in->sram_base < PV_F4_SRAM_BASE || in->sram_base >= end)
        ERR(c, "stub.sram_base", "0x%08X is not in SRAM (0x%08X..0x%08X on %s)", in->sram_base,
            PV_F4_SRAM_BASE, end - 1, c->part->name);
    else if (in->sram_base & 3u)
        ERR(c, "stub.sram_base", "0x%08X is not 4-byte aligned; use 0x%08X", in->sram_base,
            in->sram_base & ~3u);
    else if (end - in->sram_base < PV_RECIPE_STUB_SRAM)
        ERR(c, "stub.sram_base",
            "0x%08X leaves %u bytes of SRAM; the stub needs %u (highest base 0x%08X)",
            in->sram_base, end - in->sram_base, PV_RECIPE_STUB_SRAM, end - PV_RECIPE_STUB_SRAM);
}

static void check_image(struct ctx *c, const char *name, const struct cy_image *in, char *image,
                        size_t cap, int *has_sha, uint8_t sha[32])
{
    char path[64];
    snprintf(path, sizeof path, "%s.image", name);
    resolve(c, path, in->image, image, cap);
    if (in->sha256) {
        snprintf(path, sizeof path, "%s.sha256", name);
        *has_sha = parse_sha256(c, path, in->sha256, sha) == 0;
    }
}

struct region {
    const char *name; /* "key_slot" */
    const struct cy_region *v;
};

/* Inside flash, starting and ending on sector boundaries (each region is erased by sectors, so a
 * shared sector would erase a neighbour). Returns 0 if the region is usable. */
static int check_region(struct ctx *c, const struct region *g)
{
    const pv_recipe *r = c->r;
    char pa[64], ps[64];
    snprintf(pa, sizeof pa, "layout.%s.address", g->name);
    snprintf(ps, sizeof ps, "layout.%s.size", g->name);
    uint64_t flash_end = PV_F4_FLASH_BASE + (uint64_t)r->chip.flash_kb * 1024u;
    uint32_t a = g->v->address, s = g->v->size;
    if (a < PV_F4_FLASH_BASE || a >= flash_end) {
        ERR(c, pa, "0x%08X is outside flash (0x%08X..0x%08llX on this %u KB chip)", a,
            PV_F4_FLASH_BASE, (unsigned long long)flash_end - 1, r->chip.flash_kb);
        return -1;
    }
    if (s == 0) {
        ERR(c, ps, "is 0; a region needs at least one sector");
        return -1;
    }
    if ((uint64_t)a + s > flash_end) {
        ERR(c, ps,
            "0x%X makes the region end at 0x%08llX, past the end of flash (0x%08llX); "
            "at most 0x%llX fits",
            s, (unsigned long long)a + s - 1, (unsigned long long)flash_end - 1,
            (unsigned long long)(flash_end - a));
        return -1;
    }
    if (!r->chip.n_sectors)
        return 0; /* flash size already reported: no sector map to judge alignment by */
    int bad = 0;
    int si = pv_recipe_sector_of(r, a);
    const pv_flash_sector *sec = &r->chip.sectors[si];
    if (sec->addr != a) {
        ERR(c, pa, "0x%08X is not the start of a flash sector (sector %d starts at 0x%08X)", a, si,
            sec->addr);
        bad = 1;
    }
    uint32_t last = a + s - 1;
    int ei = pv_recipe_sector_of(r, last);
    const pv_flash_sector *es = &r->chip.sectors[ei];
    if (es->addr + es->size - 1 != last) {
        ERR(c, ps,
            "0x%X ends the region at 0x%08X, inside sector %d (0x%08X..0x%08X); use 0x%X to end "
            "with that sector",
            s, last, ei, es->addr, es->addr + es->size - 1, es->addr + es->size - a);
        bad = 1;
    }
    return bad ? -1 : 0;
}

static void check_layout(struct ctx *c, const struct cy_layout *in)
{
    pv_recipe *r = c->r;
    r->layout.boot_addr = in->bootloader.address;
    r->layout.boot_size = in->bootloader.size;
    r->layout.keyslot_addr = in->key_slot.address;
    r->layout.keyslot_size = in->key_slot.size;
    r->layout.counter_addr = in->counter.address;
    r->layout.counter_size = in->counter.size;
    r->layout.app_addr = in->application.address;
    r->layout.app_size = in->application.size;
    const struct region g[4] = {{"bootloader", &in->bootloader},
                                {"key_slot", &in->key_slot},
                                {"counter", &in->counter},
                                {"application", &in->application}};
    if (TAINTED(c, "chip.flash_kb"))
        return;
    size_t before = c->d->errors;
    int skip[4];
    for (int i = 0; i < 4; i++) {
        char p[64];
        snprintf(p, sizeof p, "layout.%s", g[i].name);
        skip[i] = TAINTED(c, p);
        if (!skip[i])
            check_region(c, &g[i]);
    }
    if (in->bootloader.address != PV_F4_FLASH_BASE)
        ERR(c, "layout.bootloader.address",
            "0x%08X; the bootloader must start at the flash base 0x%08X, where the chip boots",
            in->bootloader.address, PV_F4_FLASH_BASE);
    for (int j = 1; j < 4; j++)
        for (int i = 0; i < j; i++) {
            uint64_t a0 = g[i].v->address, a1 = a0 + g[i].v->size;
            uint64_t b0 = g[j].v->address, b1 = b0 + g[j].v->size;
            if (skip[i] || skip[j] || !g[i].v->size || !g[j].v->size || a1 <= b0 || b1 <= a0)
                continue;
            char p[64];
            snprintf(p, sizeof p, "layout.%s", g[j].name);
            ERR(c, p, "overlaps layout.%s (0x%08llX..0x%08llX); regions must not share bytes",
                g[i].name, (unsigned long long)a0, (unsigned long long)a1 - 1);
        }
    /* The bootloader's own check (lib/image/layout.c) is the last word; say so if only it
     * objects, which would mean the checks above missed a rule. */
    int lc = pv_layout_check(&r->layout, PV_F4_FLASH_BASE, r->chip.flash_kb * 1024u);
    if (lc != PV_LAYOUT_OK && c->d->errors == before)
        ERR(c, "layout", "%s", pv_layout_strerror(lc));
}

static void sector_range(const pv_recipe *r, uint32_t a, uint32_t s, char *out, size_t len)
{
    unsigned f, l;
    if (pv_recipe_region_sectors(r, a, s, &f, &l) != 0)
        snprintf(out, len, "?");
    else if (f == l)
        snprintf(out, len, "%u", f);
    else
        snprintf(out, len, "%u-%u", f, l);
}

static void check_protection(struct ctx *c, const struct cy_protection *in)
{
    pv_recipe *r = c->r;
    r->protection.rdp_level = in->rdp_level;
    if (in->rdp_level > 2)
        ERR(c, "protection.rdp_level",
            "%u is not a readout protection level; use 0 (none), 1 (debugger cannot read flash) "
            "or 2 (debug port closed for good)",
            in->rdp_level);
    else if (in->rdp_level < 2)
        WARN(c, "protection.rdp_level",
             "level %u leaves the debug port open, so the key slot can be attacked; production "
             "recipes use 2",
             in->rdp_level);
    unsigned n = r->chip.n_sectors;
    for (unsigned i = 0; i < in->write_protect_count; i++) {
        char p[64];
        snprintf(p, sizeof p, "protection.write_protect[%u]", i);
        uint32_t s = in->write_protect[i];
        if (!n || TAINTED(c, p))
            continue;
        if (s >= n) {
            ERR(c, p, "sector %u does not exist; this %u KB chip has sectors 0 to %u", s,
                r->chip.flash_kb, n - 1);
            continue;
        }
        if (r->protection.write_protect & (1u << s)) {
            ERR(c, p, "sector %u is listed twice", s);
            continue;
        }
        r->protection.write_protect |= 1u << s;
        const pv_flash_sector *sec = &r->chip.sectors[s];
        static const struct {
            const char *name, *path;
            size_t a, s;
        } rw[] = {
            {"counter", "layout.counter", offsetof(pv_layout, counter_addr),
             offsetof(pv_layout, counter_size)},
            {"application", "layout.application", offsetof(pv_layout, app_addr),
             offsetof(pv_layout, app_size)},
        };
        for (size_t k = 0; k < 2; k++) {
            if (TAINTED(c, rw[k].path))
                continue;
            uint32_t ra, rs;
            memcpy(&ra, (const char *)&r->layout + rw[k].a, 4);
            memcpy(&rs, (const char *)&r->layout + rw[k].s, 4);
            if ((uint64_t)sec->addr < (uint64_t)ra + rs && ra < sec->addr + sec->size)
                ERR(c, p,
                    "sector %u holds layout.%s, which the bootloader rewrites on updates; remove "
                    "it",
                    s, rw[k].name);
        }
    }
    if (!n || c->d->errors)
        return;
    static const struct {
        const char *name;
        size_t a, s;
    } ro[] = {
        {"bootloader", offsetof(pv_layout, boot_addr), offsetof(pv_layout, boot_size)},
        {"key_slot", offsetof(pv_layout, keyslot_addr), offsetof(pv_layout, keyslot_size)},
    };
    for (size_t k = 0; k < 2; k++) {
        uint32_t ra, rs;
        memcpy(&ra, (const char *)&r->layout + ro[k].a, 4);
        memcpy(&rs, (const char *)&r->layout + ro[k].s, 4);
        unsigned f, l;
        if (pv_recipe_region_sectors(r, ra, rs, &f, &l) != 0)
            continue;
        int covered = 1;
        for (unsigned s = f; s <= l; s++)
            covered &= (r->protection.write_protect >> s) & 1u;
        if (!covered) {
            char range[16];
            sector_range(r, ra, rs, range, sizeof range);
            WARN(c, "protection.write_protect",
                 "sectors %s (layout.%s) are not all write-protected; add them so the "
                 "application cannot overwrite them",
                 range, ro[k].name);
        }
    }
}

/* ---- referenced files ---- */

/* The STM32F4's supply range (DS9405, VDD) and the thresholds of RM0090's "Program/erase
 * parallelism" table, in mV. */
#define VDD_LOWEST_MV  1700u
#define VDD_HIGHEST_MV 3600u
#define VDD_X16_MV     2100u
#define VDD_X32_MV     2700u

unsigned pv_recipe_psize(unsigned vdd_min_mv, int vpp)
{
    if (vdd_min_mv >= VDD_X32_MV)
        return vpp ? PV_FLASH_X64 : PV_FLASH_X32;
    return vdd_min_mv >= VDD_X16_MV ? PV_FLASH_X16 : PV_FLASH_X8;
}

/* Volts as a decimal number ("3.3", "2.70", "3"), into mV; -1 if it is not one. */
static int parse_volts(const char *v, unsigned *mv)
{
    unsigned whole = 0, frac = 0, scale = 1000;
    const char *p = v;
    if (!isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p) && whole < 100)
        whole = whole * 10 + (unsigned)(*p++ - '0');
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p) && scale > 1) {
            scale /= 10;
            frac += (unsigned)(*p++ - '0') * scale;
        }
    }
    if (*p || whole >= 100)
        return -1;
    *mv = whole * 1000 + frac;
    return 0;
}

static void check_power(struct ctx *c, const struct cy_power *in)
{
    pv_recipe *r = c->r;
    r->power.vdd_min_mv = VDD_X32_MV; /* no section: the demo board's 2.7-3.6 V */
    r->power.vdd_max_mv = VDD_HIGHEST_MV;
    r->power.declared = in != NULL;
    r->power.vpp = in && in->vpp && *in->vpp;
    int ok = 1;
    if (in) {
        static const struct {
            const char *path;
            size_t at, out;
        } f[] = {{"power.vdd_min", offsetof(struct cy_power, vdd_min),
                  offsetof(pv_recipe, power.vdd_min_mv)},
                 {"power.vdd_max", offsetof(struct cy_power, vdd_max),
                  offsetof(pv_recipe, power.vdd_max_mv)}};
        for (size_t i = 0; i < 2; i++) {
            const char *v = *(char *const *)(const void *)((const char *)in + f[i].at);
            unsigned *mv = (unsigned *)(void *)((char *)r + f[i].out);
            if (TAINTED(c, f[i].path) || !v) {
                ok = 0;
            } else if (parse_volts(v, mv)) {
                ERR(c, f[i].path,
                    "\"%s\" is not a voltage; write volts as a decimal number, e.g. 3.3", v);
                ok = 0;
            } else if (*mv < VDD_LOWEST_MV || *mv > VDD_HIGHEST_MV) {
                ERR(c, f[i].path,
                    "%u.%02u V is outside the STM32F4's supply range of 1.7 to 3.6 V (DS9405); "
                    "give the board's supply range while it is provisioned",
                    *mv / 1000, *mv % 1000 / 10);
                ok = 0;
            }
        }
        if (ok && r->power.vdd_min_mv > r->power.vdd_max_mv) {
            ERR(c, "power.vdd_min",
                "%u.%02u V is above power.vdd_max (%u.%02u V); the range is vdd_min to vdd_max",
                r->power.vdd_min_mv / 1000, r->power.vdd_min_mv % 1000 / 10,
                r->power.vdd_max_mv / 1000, r->power.vdd_max_mv % 1000 / 10);
            ok = 0;
        }
        if (ok && r->power.vpp && r->power.vdd_min_mv < VDD_X32_MV)
            ERR(c, "power.vpp",
                "x64 programming with VPP needs a supply of 2.7 to 3.6 V (RM0090, \"Program/erase "
                "parallelism\"), but power.vdd_min is %u.%02u V; raise vdd_min or remove vpp",
                r->power.vdd_min_mv / 1000, r->power.vdd_min_mv % 1000 / 10);
    }
    r->power.psize = pv_recipe_psize(r->power.vdd_min_mv, r->power.vpp);
}

static void sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned len = 32;
    if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL))
        memset(out, 0, 32);
}

static void check_file(struct ctx *c, const char *field, const char *path, uint32_t room,
                       const char *room_name, int has_sha, const uint8_t want[32])
{
    char fp[64];
    snprintf(fp, sizeof fp, "%s.image", field);
    size_t len;
    uint8_t *b;
    char why[192];
    int rc = pv_file_read(path, 64u << 20, &b, &len, why, sizeof why);
    if (rc == PV_FILE_CANNOT_OPEN) {
        ERR(c, fp,
            "%s: %s (build it, or fix the path: relative paths start at the recipe's "
            "directory)",
            path, strerror(errno));
        return;
    }
    if (rc == PV_FILE_NOT_REGULAR) {
        ERR(c, fp, "%s: %s; name the image file itself", path, why);
        return;
    }
    if (rc == PV_FILE_TOO_LARGE) {
        ERR(c, fp, "%s is %zu bytes; no image is larger than 64 MB", path, len);
        return;
    }
    if (rc != PV_FILE_OK) {
        ERR(c, fp, "%s: %s", path, why);
        return;
    }
    if (len == 0)
        ERR(c, fp, "%s is empty", path);
    else if (len > room)
        ERR(c, fp, "%s is %zu bytes; %s holds %u", path, len, room_name, room);
    if (has_sha) {
        uint8_t got[32];
        sha256(b, len, got);
        if (memcmp(got, want, 32) != 0) {
            char hex[65];
            for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", got[i]);
            snprintf(fp, sizeof fp, "%s.sha256", field);
            ERR(c, fp, "does not match %s (its SHA-256 is %s)", path, hex);
        }
    }
    free(b);
}

static void check_files(struct ctx *c)
{
    const pv_recipe *r = c->r;
    uint32_t sram_room = 0;
    if (r->chip.sram_kb && r->stub.sram_base >= PV_F4_SRAM_BASE &&
        r->stub.sram_base - PV_F4_SRAM_BASE < r->chip.sram_kb * 1024u)
        sram_room = r->chip.sram_kb * 1024u - (r->stub.sram_base - PV_F4_SRAM_BASE);
    check_file(c, "stub", r->stub.image, sram_room ? sram_room : UINT32_MAX,
               "SRAM above stub.sram_base", 0, NULL);
    check_file(c, "bootloader", r->bootloader.image, r->layout.boot_size, "layout.bootloader",
               r->bootloader.has_sha256, r->bootloader.sha256);
    if (r->application.present)
        check_file(c, "application", r->application.image, r->layout.app_size, "layout.application",
                   r->application.has_sha256, r->application.sha256);
}

/* ---- load ---- */

static void set_names(pv_recipe *r, struct ctx *c, const char *file)
{
    copy(r->file, sizeof r->file, file);
    const char *slash = strrchr(file, '/');
    if (slash && (size_t)(slash - file) < sizeof c->dir)
        snprintf(c->dir, sizeof c->dir, "%.*s", slash == file ? 1 : (int)(slash - file), file);
    const char *base = slash ? slash + 1 : file;
    size_t n = strlen(base);
    static const char *const ext[] = {".yaml", ".yml"};
    for (int i = 0; i < 2; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcmp(base + n - e, ext[i]) == 0) {
            n -= e;
            break;
        }
    }
    if (n >= sizeof r->name)
        n = sizeof r->name - 1;
    memcpy(r->name, base, n);
    r->name[n] = 0;
}

/* Stable, by position; file-wide diagnostics (line 0) first. */
static void sort_diags(pv_recipe_diags *d)
{
    for (size_t i = 1; i < d->count; i++) {
        pv_recipe_diag t = d->items[i];
        size_t j = i;
        while (j > 0 && (d->items[j - 1].line > t.line ||
                         (d->items[j - 1].line == t.line && d->items[j - 1].column > t.column))) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = t;
    }
}

static void devdata_err(void *ctx, const char *path, const char *msg)
{
    ERR((struct ctx *)ctx, path, "%s", msg);
}

/* The device_data section; its record goes PV_DEVDATA_OFFSET into the key slot's region. */
static void check_devdata(struct ctx *c, const struct cy_devdata *in)
{
    pv_recipe *r = c->r;
    pv_recipe_devdata_convert(in, r->product, r->batch, c->dir, &r->devdata, devdata_err, c);
    if (r->layout.keyslot_size < PV_DEVDATA_OFFSET + PV_DEVDATA_MAX)
        ERR(c, "layout.key_slot.size",
            "0x%x is too small for the device data record (device_data): it needs 0x%x bytes "
            "(the record at offset 0x%x after the key slot, up to %u bytes)",
            (unsigned)r->layout.keyslot_size, PV_DEVDATA_OFFSET + PV_DEVDATA_MAX, PV_DEVDATA_OFFSET,
            PV_DEVDATA_MAX);
}

static void convert(struct ctx *c, const struct cy_recipe *in, unsigned flags)
{
    pv_recipe *r = c->r;
    r->format = in->format;
    if (in->format != PV_RECIPE_FORMAT)
        ERR(c, "format", "%u is not a recipe format this provision reads; it reads format %u",
            in->format, PV_RECIPE_FORMAT);
    copy(r->product, sizeof r->product, in->product);
    copy(r->batch, sizeof r->batch, in->batch);
    check_name(c, "batch", in->batch);
    check_name(c, "product", in->product);
    check_chip(c, &in->chip);
    check_probe(c, &in->probe);
    check_stub(c, &in->stub);
    check_image(c, "bootloader", &in->bootloader, r->bootloader.image, sizeof r->bootloader.image,
                &r->bootloader.has_sha256, r->bootloader.sha256);
    if (in->application) {
        r->application.present = 1;
        check_image(c, "application", in->application, r->application.image,
                    sizeof r->application.image, &r->application.has_sha256, r->application.sha256);
    }
    check_layout(c, &in->layout);
    copy(r->keys.token, sizeof r->keys.token, in->keys.token);
    copy(r->keys.master_key, sizeof r->keys.master_key, in->keys.master_key);
    copy(r->keys.noise_static_key, sizeof r->keys.noise_static_key, in->keys.noise_static_key);
    copy(r->keys.image_signing_key, sizeof r->keys.image_signing_key, in->keys.image_signing_key);
    copy(r->keys.audit_key, sizeof r->keys.audit_key, in->keys.audit_key);
    copy(r->keys.at_rest_key, sizeof r->keys.at_rest_key, in->keys.at_rest_key);
    r->keys.key_id = in->keys.key_id ? *in->keys.key_id : 1;
    r->keys.key_version = in->keys.key_version ? *in->keys.key_version : 1;
    check_protection(c, &in->protection);
    check_power(c, in->power);
    r->quota = in->quota;
    if (in->quota == 0)
        ERR(c, "quota", "0 allows no device; set how many devices this batch may provision");
    if (in->device_data)
        check_devdata(c, in->device_data);
    if ((flags & PV_RECIPE_CHECK_FILES) && c->d->errors == 0)
        check_files(c);
}

int pv_recipe_parse(const char *file, const char *text, size_t len, unsigned flags, pv_recipe *r,
                    pv_recipe_diags *d)
{
    memset(r, 0, sizeof *r);
    pv_recipe_diags_init(d);
    struct ctx c = {.r = r, .d = d, .text = text, .len = len};
    snprintf(d->file, sizeof d->file, "%s", file);
    set_names(r, &c, file);
    sha256((const uint8_t *)text, len, r->digest);

    pv_yindex idx = {0};
    c.idx = &idx;
    pv_ynode *root = pv_yaml_parse(text, len, d);
    char *clean = NULL;
    size_t shape = root ? pv_yaml_check(root, &recipe_schema, &idx, d, &clean) : 0;
    if (!root || (shape && !clean)) {
        pv_yaml_free(root);
        pv_yindex_free(&idx);
        free(clean);
        sort_diags(d);
        return PV_RECIPE_INVALID;
    }
    /* With shape errors, libcyaml loads the clean copy instead, so the value checks below still
     * report everything else in this same run. */
    const uint8_t *src = shape ? (const uint8_t *)clean : (const uint8_t *)text;
    size_t src_len = shape ? strlen(clean) : len;
    struct pv_cy_log log = {{0}};
    const cyaml_config_t cfg = {.log_fn = pv_cy_log_fn,
                                .log_ctx = &log,
                                .mem_fn = cyaml_mem,
                                .log_level = CYAML_LOG_ERROR,
                                .flags = CYAML_CFG_NO_ALIAS};
    struct cy_recipe *in = NULL;
    cyaml_err_t ce =
        cyaml_load_data(src, src_len, &cfg, &recipe_schema, (cyaml_data_t **)&in, NULL);
    if (ce != CYAML_OK || !in) {
        /* The positional pass should have caught anything libcyaml refuses. */
        pv_recipe_diag_add(d, 0, 0, 0, NULL, "libcyaml refused the recipe: %s%s%s",
                           cyaml_strerror(ce), log.first[0] ? ": " : "", log.first);
    } else {
        convert(&c, in, flags);
        cyaml_free(&cfg, &recipe_schema, in, 0);
    }
    free(clean);
    pv_yaml_free(root);
    pv_yindex_free(&idx);
    sort_diags(d);
    return d->errors ? PV_RECIPE_INVALID : PV_RECIPE_OK;
}

int pv_recipe_load(const char *path, unsigned flags, pv_recipe *r, pv_recipe_diags *d)
{
    pv_recipe_diags_init(d);
    snprintf(d->file, sizeof d->file, "%s", path);
    size_t len;
    uint8_t *text;
    char why[192];
    int e = pv_file_read(path, PV_RECIPE_MAX_BYTES, &text, &len, why, sizeof why);
    if (e == PV_FILE_TOO_LARGE) {
        pv_recipe_diag_add(d, 0, 0, 0, NULL,
                           "cannot read: %zu bytes, larger than 1 MB, not a recipe", len);
        return PV_RECIPE_UNREADABLE;
    }
    if (e == PV_FILE_NOT_REGULAR) {
        pv_recipe_diag_add(d, 0, 0, 0, NULL, "cannot read: %s; a recipe is a YAML file", why);
        return PV_RECIPE_UNREADABLE;
    }
    if (e == PV_FILE_CANNOT_OPEN) {
        pv_recipe_diag_add(d, 0, 0, 0, NULL, "cannot read: %s", strerror(errno));
        return PV_RECIPE_UNREADABLE;
    }
    if (e != PV_FILE_OK) {
        pv_recipe_diag_add(d, 0, 0, 0, NULL, "cannot read: %s", why);
        return PV_RECIPE_UNREADABLE;
    }
    int rc = pv_recipe_parse(path, (const char *)text, len, flags, r, d);
    free(text);
    return rc;
}

int pv_recipe_sector_of(const pv_recipe *r, uint32_t addr)
{
    for (unsigned i = 0; i < r->chip.n_sectors; i++)
        if (addr - r->chip.sectors[i].addr < r->chip.sectors[i].size)
            return (int)i;
    return -1;
}

int pv_recipe_region_sectors(const pv_recipe *r, uint32_t addr, uint32_t size, unsigned *first,
                             unsigned *last)
{
    if (size == 0 || (uint64_t)addr + size - 1 > UINT32_MAX)
        return -1;
    int f = pv_recipe_sector_of(r, addr), l = pv_recipe_sector_of(r, addr + size - 1);
    if (f < 0 || l < 0)
        return -1;
    *first = (unsigned)f, *last = (unsigned)l;
    return 0;
}

const char *pv_probe_backend_name(enum pv_probe_backend b)
{
    for (size_t i = 0; i < sizeof backend_names / sizeof backend_names[0]; i++)
        if (backend_names[i].val == (int64_t)b)
            return backend_names[i].str;
    return "?";
}
