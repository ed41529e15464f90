/* The positional half of recipe loading: libyaml parses the recipe into a small tree that keeps
 * every node's line and column, and pv_yaml_check walks that tree against the same libcyaml
 * schema libcyaml loads with, reporting every shape error (unknown or duplicate keys with the
 * closest valid key, missing required keys, wrong node kinds, numbers, booleans, enums, string
 * lengths) with its position. It also records where each field is, so the semantic checks in
 * recipe.c can point at the field they complain about. libcyaml itself reports only the first
 * error, without a reliable position. */
#ifndef PV_HSM_BRIDGE_RECIPE_YAML_H
#define PV_HSM_BRIDGE_RECIPE_YAML_H

#include <stdarg.h>
#include <stddef.h>

#include <cyaml/cyaml.h>

#include "recipe.h"

#define PV_YAML_MAX_DEPTH 32u

enum pv_ykind { PV_Y_SCALAR, PV_Y_MAPPING, PV_Y_SEQUENCE };

typedef struct pv_ynode {
    enum pv_ykind kind;
    unsigned line, column; /* 1-based start of the node */
    char *text;            /* scalar value (NUL-terminated; may contain NULs: len counts) */
    size_t len;
    int plain;              /* unquoted scalar */
    struct pv_ynode **kids; /* mapping: key, value, key, value...; sequence: the items */
    size_t n;
} pv_ynode;

typedef struct pv_yfield {
    char path[128];        /* "layout.key_slot.address", "protection.write_protect[1]" */
    unsigned line, column; /* the key (for sequence items: the item) */
    const pv_ynode *value;
} pv_yfield;

typedef struct pv_yindex {
    pv_yfield *v;
    size_t n, cap;
    char (*taint)[128]; /* paths whose value was wrong or missing (replaced in the clean copy) */
    size_t ntaint, taint_cap;
} pv_yindex;

/* The document's root node, or NULL after adding the reason to d (syntax error with libyaml's
 * position, alias, more than one document, empty file, nesting deeper than PV_YAML_MAX_DEPTH). */
pv_ynode *pv_yaml_parse(const char *text, size_t len, pv_recipe_diags *d);
void pv_yaml_free(pv_ynode *n);

/* Checks root against schema (a CYAML_MAPPING), adds every problem to d and every field found
 * to idx. Returns the number of errors added. *clean (malloc'd, or NULL) is the document as JSON
 * with unknown keys dropped and every wrong or missing value replaced by a placeholder of the
 * right type, their paths tainted in idx: libcyaml can load it, so the value checks still run
 * and report every other error in the same pass. */
size_t pv_yaml_check(const pv_ynode *root, const cyaml_schema_value_t *schema, pv_yindex *idx,
                     pv_recipe_diags *d, char **clean);

/* Is path, one of its parents or one of its children tainted? Findings there are dropped. */
int pv_yindex_tainted(const pv_yindex *idx, const char *path);

const pv_yfield *pv_yindex_find(const pv_yindex *idx, const char *path);
void pv_yindex_free(pv_yindex *idx);

/* Parses a recipe number the way the checks accept it: decimal without leading zeros, or 0x
 * hex; at most max. 0, or -1 (not a number), -2 (too large), -3 (negative). */
int pv_yaml_parse_uint(const char *s, unsigned long long max, unsigned long long *out);

/* libcyaml's first error line (its log callback), kept for the message when libcyaml refuses
 * what the positional pass accepted. */
struct pv_cy_log {
    char first[256];
};
void pv_cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args);

#endif
