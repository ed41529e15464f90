/* The recipe's device_data section: schema and value checks (recipe_devdata.h). */
#include "recipe_devdata.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devdata/devdata.h"
#include "devdata_mes.h"

#define PTR CYAML_FLAG_POINTER
#define OPT CYAML_FLAG_OPTIONAL

static const cyaml_schema_field_t serial_fields[] = {
    CYAML_FIELD_STRING_PTR("format", PTR, struct cy_dd_serial, format, 1,
                           PV_DEVDATA_SPEC_FORMAT_MAX - 1),
    CYAML_FIELD_STRING_PTR("counter", PTR | OPT, struct cy_dd_serial, counter, 1, 63),
    CYAML_FIELD_UINT_PTR("first", PTR | OPT, struct cy_dd_serial, first),
    CYAML_FIELD_UINT_PTR("last", PTR | OPT, struct cy_dd_serial, last),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t mac_fields[] = {
    CYAML_FIELD_STRING_PTR("first", PTR, struct cy_dd_mac, first, 1, 17),
    CYAML_FIELD_STRING_PTR("last", PTR, struct cy_dd_mac, last, 1, 17),
    CYAML_FIELD_END,
};
static const cyaml_strval_t type_names[] = {{"text", PV_MES_TEXT}, {"integer", PV_MES_INTEGER}};
static const cyaml_strval_t source_names[] = {{"file", PV_MES_FILE}, {"station", PV_MES_STATION}};
static const cyaml_schema_field_t field_fields[] = {
    CYAML_FIELD_STRING_PTR("name", PTR, struct cy_dd_field, name, 1, PV_DEVDATA_NAME_MAX),
    CYAML_FIELD_ENUM("type", CYAML_FLAG_STRICT, struct cy_dd_field, type, type_names, 2),
    CYAML_FIELD_UINT_PTR("max_length", PTR | OPT, struct cy_dd_field, max_length),
    CYAML_FIELD_INT_PTR("min", PTR | OPT, struct cy_dd_field, min),
    CYAML_FIELD_INT_PTR("max", PTR | OPT, struct cy_dd_field, max),
    CYAML_FIELD_STRING_PTR("pattern", PTR | OPT, struct cy_dd_field, pattern, 1,
                           PV_DEVDATA_SPEC_TEXT_MAX - 1),
    CYAML_FIELD_STRING_PTR("default", PTR | OPT, struct cy_dd_field, def, 0,
                           PV_DEVDATA_SPEC_TEXT_MAX - 1),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t field_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct cy_dd_field, field_fields),
};
static const cyaml_schema_field_t mes_fields[] = {
    CYAML_FIELD_ENUM("source", CYAML_FLAG_STRICT, struct cy_dd_mes, source, source_names, 2),
    CYAML_FIELD_STRING_PTR("file", PTR | OPT, struct cy_dd_mes, file, 1, 1023),
    CYAML_FIELD_SEQUENCE("fields", PTR, struct cy_dd_mes, fields, &field_entry, 1,
                         PV_DEVDATA_SPEC_FIELDS_MAX),
    CYAML_FIELD_END,
};
const cyaml_schema_field_t pv_recipe_devdata_fields[] = {
    CYAML_FIELD_MAPPING_PTR("serial", PTR | OPT, struct cy_devdata, serial, serial_fields),
    CYAML_FIELD_MAPPING_PTR("mac", PTR | OPT, struct cy_devdata, mac, mac_fields),
    CYAML_FIELD_MAPPING_PTR("mes", PTR | OPT, struct cy_devdata, mes, mes_fields),
    CYAML_FIELD_END,
};

struct rep {
    pv_recipe_devdata_err fn;
    void *ctx;
};

__attribute__((format(printf, 3, 4))) static void err(struct rep *r, const char *path,
                                                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->fn(r->ctx, path, msg);
}

static void check_serial(struct rep *r, const struct cy_dd_serial *in, const char *product,
                         const char *batch, pv_devdata_spec *out)
{
    char why[256], sample[PV_DEVDATA_SERIAL_MAX];
    int64_t last = 0;
    out->has_serial = 1;
    snprintf(out->serial_format, sizeof out->serial_format, "%s", in->format);
    snprintf(out->counter, sizeof out->counter, "%s", in->counter ? in->counter : product);
    if (pv_serial_format_check(in->format, &last, why, sizeof why)) {
        err(r, "device_data.serial.format", "%s", why);
        return;
    }
    out->counter_first = in->first ? (int64_t)(*in->first & INT64_MAX) : 1;
    out->counter_last = last;
    if (in->last) {
        if (*in->last > (uint64_t)last)
            err(r, "device_data.serial.last",
                "%llu does not fit the format's counter width (at most %lld)",
                (unsigned long long)*in->last, (long long)last);
        else
            out->counter_last = (int64_t)*in->last;
    }
    if (out->counter_first > out->counter_last)
        err(r, "device_data.serial.first", "%lld is above the last value %lld",
            (long long)out->counter_first, (long long)out->counter_last);
    else if (pv_serial_render(out->serial_format, product, batch, out->counter_last, sample,
                              sizeof sample))
        err(r, "device_data.serial.format",
            "the serial of the last value (%lld) is longer than %u characters",
            (long long)out->counter_last, PV_DEVDATA_SERIAL_MAX - 1);
}

static void check_mac(struct rep *r, const struct cy_dd_mac *in, pv_devdata_spec *out)
{
    out->has_mac = 1;
    int bad = 0;
    if (pv_mac_parse(in->first, &out->mac_first))
        err(r, "device_data.mac.first",
            "'%s' is not a MAC address (six hex octets, 02:00:00:00:10:00)", in->first),
            bad = 1;
    if (pv_mac_parse(in->last, &out->mac_last))
        err(r, "device_data.mac.last",
            "'%s' is not a MAC address (six hex octets, 02:00:00:00:1f:ff)", in->last),
            bad = 1;
    if (bad)
        return;
    if (out->mac_first > out->mac_last)
        err(r, "device_data.mac.last", "%s is below the first address %s", in->last, in->first);
    else if (((out->mac_first >> 40) & 1) || ((out->mac_last >> 40) & 1) ||
             (out->mac_first >> 40) != (out->mac_last >> 40))
        err(r, "device_data.mac",
            "the pool %s..%s holds group (multicast) addresses or spans first octets; a device "
            "address is unicast: keep the first octet's lowest bit clear and the same over the "
            "pool",
            in->first, in->last);
}

static void check_field(struct rep *r, unsigned i, const struct cy_dd_field *in,
                        pv_mes_field_spec *f)
{
    char path[96], why[256];
    snprintf(path, sizeof path, "device_data.mes.fields[%u]", i);
    snprintf(f->name, sizeof f->name, "%s", in->name);
    size_t n = strlen(in->name);
    int ok = n >= 1 && n <= PV_DEVDATA_NAME_MAX;
    for (size_t k = 0; k < n; k++)
        ok &= (in->name[k] >= 'a' && in->name[k] <= 'z') ||
              (in->name[k] >= '0' && in->name[k] <= '9') || in->name[k] == '_';
    if (!ok || !strcmp(in->name, "serial") || !strcmp(in->name, "mac"))
        err(r, path, "name '%s' is not 1 to %u of a-z 0-9 _ (and not serial or mac)", in->name,
            PV_DEVDATA_NAME_MAX);
    f->type = (enum pv_mes_type)in->type;
    f->max_length = in->max_length ? *in->max_length : 64;
    if (f->type == PV_MES_TEXT && (f->max_length < 1 || f->max_length > PV_DEVDATA_VALUE_MAX))
        err(r, path, "max_length %u is outside 1..%u", f->max_length, PV_DEVDATA_VALUE_MAX);
    f->min = in->min ? *in->min : INT64_MIN;
    f->max = in->max ? *in->max : INT64_MAX;
    if (f->min > f->max)
        err(r, path, "min %lld is above max %lld", (long long)f->min, (long long)f->max);
    if (in->pattern) {
        regex_t re;
        char anchored[PV_DEVDATA_SPEC_TEXT_MAX + 8];
        snprintf(anchored, sizeof anchored, "^(%s)$", in->pattern);
        int rc = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char m[128];
            regerror(rc, &re, m, sizeof m);
            err(r, path, "pattern '%s' is not a POSIX extended regular expression: %s", in->pattern,
                m);
        } else
            regfree(&re);
        snprintf(f->pattern, sizeof f->pattern, "%s", in->pattern);
    }
    if (in->def) {
        f->has_default = 1;
        snprintf(f->default_value, sizeof f->default_value, "%s", in->def);
        if (pv_mes_value_check(f, in->def, why, sizeof why))
            err(r, path, "default '%s': %s", in->def, why);
    }
}

void pv_recipe_devdata_convert(const struct cy_devdata *in, const char *product, const char *batch,
                               const char *dir, pv_devdata_spec *out, pv_recipe_devdata_err fn,
                               void *ctx)
{
    struct rep r = {fn, ctx};
    memset(out, 0, sizeof *out);
    out->present = 1;
    if (!in->serial && !in->mac && !in->mes)
        err(&r, "device_data", "empty: give serial, mac or mes (or leave the section out)");
    if (in->serial)
        check_serial(&r, in->serial, product, batch, out);
    if (in->mac)
        check_mac(&r, in->mac, out);
    if (!in->mes)
        return;
    out->mes_source = (enum pv_mes_source)in->mes->source;
    if (out->mes_source == PV_MES_FILE && !in->mes->file)
        err(&r, "device_data.mes.file", "source file needs a file (CSV or JSON, by UID)");
    if (out->mes_source == PV_MES_STATION && in->mes->file)
        err(&r, "device_data.mes.file",
            "given with source station; leave it out, or use source file");
    if (in->mes->file) {
        const char *v = in->mes->file;
        while (strncmp(v, "./", 2) == 0 && v[2])
            v += 2;
        int n = v[0] == '/' || !dir[0]
                    ? snprintf(out->mes_file, sizeof out->mes_file, "%s", v)
                    : snprintf(out->mes_file, sizeof out->mes_file, "%s/%s", dir, v);
        if (n < 0 || (size_t)n >= sizeof out->mes_file)
            err(&r, "device_data.mes.file", "the path is too long");
    }
    out->n_fields = in->mes->fields_count;
    for (unsigned i = 0; i < in->mes->fields_count && i < PV_DEVDATA_SPEC_FIELDS_MAX; i++) {
        check_field(&r, i, &in->mes->fields[i], &out->fields[i]);
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(out->fields[i].name, out->fields[j].name)) {
                char path[96];
                snprintf(path, sizeof path, "device_data.mes.fields[%u]", i);
                err(&r, path, "name '%s' is declared twice", out->fields[i].name);
            }
    }
}
