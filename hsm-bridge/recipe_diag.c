/* Diagnostics of recipe loading: collected, sorted by position, printed as
 * "file:line:col: field: message". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe.h"

void pv_recipe_diags_init(pv_recipe_diags *d)
{
    memset(d, 0, sizeof *d);
}

void pv_recipe_diags_free(pv_recipe_diags *d)
{
    free(d->items);
    d->items = NULL;
    d->count = d->cap = 0;
}

void pv_recipe_diag_vadd(pv_recipe_diags *d, unsigned line, unsigned column, int warning,
                         const char *field, const char *fmt, va_list ap)
{
    if (warning)
        d->warnings++;
    else
        d->errors++;
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        pv_recipe_diag *v = realloc(d->items, cap * sizeof *v);
        if (!v)
            return;
        d->items = v, d->cap = cap;
    }
    pv_recipe_diag *g = &d->items[d->count++];
    g->line = line, g->column = column, g->warning = warning;
    snprintf(g->field, sizeof g->field, "%s", field ? field : "");
    vsnprintf(g->message, sizeof g->message, fmt, ap);
}

void pv_recipe_diag_add(pv_recipe_diags *d, unsigned line, unsigned column, int warning,
                        const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pv_recipe_diag_vadd(d, line, column, warning, field, fmt, ap);
    va_end(ap);
}

void pv_recipe_diag_format(const pv_recipe_diags *d, size_t i, char *out, size_t len)
{
    const pv_recipe_diag *g = &d->items[i];
    char pos[64] = "";
    if (g->line)
        snprintf(pos, sizeof pos, ":%u:%u", g->line, g->column);
    snprintf(out, len, "%s%s: %s%s%s%s", d->file, pos, g->warning ? "warning: " : "", g->field,
             g->field[0] ? ": " : "", g->message);
}

void pv_recipe_diags_print(FILE *out, const pv_recipe_diags *d)
{
    char line[1024 + PV_RECIPE_PATH_MAX];
    for (size_t i = 0; i < d->count; i++) {
        pv_recipe_diag_format(d, i, line, sizeof line);
        fprintf(out, "%s\n", line);
    }
}
