/* The recipe's device_data section (docs/device-data.md): its libcyaml schema, and the checks
 * that turn what libcyaml loaded into a pv_devdata_spec. Used by recipe.c only. */
#ifndef PV_HSM_BRIDGE_RECIPE_DEVDATA_H
#define PV_HSM_BRIDGE_RECIPE_DEVDATA_H

#include <stdint.h>

#include <cyaml/cyaml.h>

#include "devdata_spec.h"

struct cy_dd_serial {
    char *format, *counter;
    uint64_t *first, *last;
};
struct cy_dd_mac {
    char *first, *last;
};
struct cy_dd_field {
    char *name;
    int type;
    uint32_t *max_length;
    int64_t *min, *max;
    char *pattern, *def;
};
struct cy_dd_mes {
    int source;
    char *file;
    struct cy_dd_field *fields;
    unsigned fields_count;
};
struct cy_devdata {
    struct cy_dd_serial *serial;
    struct cy_dd_mac *mac;
    struct cy_dd_mes *mes;
};

extern const cyaml_schema_field_t pv_recipe_devdata_fields[];

/* Reports one problem at a field path (recipe.c's diagnostics). */
typedef void (*pv_recipe_devdata_err)(void *ctx, const char *path, const char *msg);

/* Checks in and fills out; product and batch render a sample serial; dir resolves mes.file
 * ("" for the working directory). Every problem goes to err. */
void pv_recipe_devdata_convert(const struct cy_devdata *in, const char *product, const char *batch,
                               const char *dir, pv_devdata_spec *out, pv_recipe_devdata_err err,
                               void *ctx);

#endif
