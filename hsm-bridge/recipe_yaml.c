#include "recipe_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <yaml.h>

/* ---- libyaml events -> tree ---- */

struct parse {
    yaml_parser_t parser;
    const char *text;
    size_t len;
    pv_recipe_diags *d;
};

static void offset_to_pos(const char *text, size_t len, size_t off, unsigned *line, unsigned *col)
{
    *line = 1, *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n')
            (*line)++, *col = 1;
        else
            (*col)++;
    }
}

/* libyaml's own words for what is wrong, at its position. */
static void syntax_error(struct parse *ps)
{
    yaml_parser_t *p = &ps->parser;
    unsigned line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_to_pos(ps->text, ps->len, p->problem_offset, &line, &col);
        pv_recipe_diag_add(ps->d, line, col, 0, NULL,
                           "not valid text: %s (save the recipe as UTF-8)",
                           p->problem ? p->problem : "unreadable byte");
        return;
    }
    line = (unsigned)p->problem_mark.line + 1;
    col = (unsigned)p->problem_mark.column + 1;
    if (p->context)
        pv_recipe_diag_add(ps->d, line, col, 0, NULL, "YAML syntax error: %s %s (line %u)",
                           p->problem ? p->problem : "invalid YAML", p->context,
                           (unsigned)p->context_mark.line + 1);
    else
        pv_recipe_diag_add(ps->d, line, col, 0, NULL, "YAML syntax error: %s",
                           p->problem ? p->problem : "invalid YAML");
}

static int next(struct parse *ps, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ps->parser, ev)) {
        syntax_error(ps);
        return -1;
    }
    return 0;
}

void pv_yaml_free(pv_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        pv_yaml_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

static int add_kid(pv_ynode *n, pv_ynode *kid)
{
    if ((n->n & (n->n - 1)) == 0) { /* grow at powers of two */
        size_t cap = n->n ? n->n * 2 : 4;
        pv_ynode **k = realloc(n->kids, cap * sizeof *k);
        if (!k)
            return -1;
        n->kids = k;
    }
    n->kids[n->n++] = kid;
    return 0;
}

/* Builds the node that starts with ev (consumed here). NULL after adding a diagnostic. */
static pv_ynode *build(struct parse *ps, yaml_event_t *ev, unsigned depth)
{
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    if (ev->type == YAML_ALIAS_EVENT) {
        pv_recipe_diag_add(ps->d, line, col, 0, NULL,
                           "YAML aliases (*%s) are not allowed in recipes; write the value out",
                           (const char *)ev->data.alias.anchor);
        yaml_event_delete(ev);
        return NULL;
    }
    if (depth >= PV_YAML_MAX_DEPTH) {
        pv_recipe_diag_add(ps->d, line, col, 0, NULL,
                           "nested deeper than %u levels; a recipe is never this deep",
                           PV_YAML_MAX_DEPTH);
        yaml_event_delete(ev);
        return NULL;
    }
    pv_ynode *n = calloc(1, sizeof *n);
    if (!n) {
        yaml_event_delete(ev);
        pv_recipe_diag_add(ps->d, 0, 0, 0, NULL, "out of memory");
        return NULL;
    }
    n->line = line, n->column = col;
    if (ev->type == YAML_SCALAR_EVENT) {
        n->kind = PV_Y_SCALAR;
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->text = malloc(n->len + 1);
        if (!n->text) {
            yaml_event_delete(ev);
            free(n);
            pv_recipe_diag_add(ps->d, 0, 0, 0, NULL, "out of memory");
            return NULL;
        }
        memcpy(n->text, ev->data.scalar.value, n->len);
        n->text[n->len] = 0;
        yaml_event_delete(ev);
        return n;
    }
    yaml_event_type_t end;
    if (ev->type == YAML_MAPPING_START_EVENT)
        n->kind = PV_Y_MAPPING, end = YAML_MAPPING_END_EVENT;
    else if (ev->type == YAML_SEQUENCE_START_EVENT)
        n->kind = PV_Y_SEQUENCE, end = YAML_SEQUENCE_END_EVENT;
    else {
        pv_recipe_diag_add(ps->d, line, col, 0, NULL, "unexpected YAML event %d", ev->type);
        yaml_event_delete(ev);
        free(n);
        return NULL;
    }
    yaml_event_delete(ev);
    for (;;) {
        yaml_event_t e;
        if (next(ps, &e) != 0)
            goto fail;
        if (e.type == end) {
            yaml_event_delete(&e);
            return n;
        }
        pv_ynode *kid = build(ps, &e, depth + 1);
        if (!kid)
            goto fail;
        if (add_kid(n, kid) != 0) {
            pv_yaml_free(kid);
            pv_recipe_diag_add(ps->d, 0, 0, 0, NULL, "out of memory");
            goto fail;
        }
    }
fail:
    pv_yaml_free(n);
    return NULL;
}

pv_ynode *pv_yaml_parse(const char *text, size_t len, pv_recipe_diags *d)
{
    struct parse ps = {.text = text, .len = len, .d = d};
    if (!yaml_parser_initialize(&ps.parser)) {
        pv_recipe_diag_add(d, 0, 0, 0, NULL, "cannot initialise libyaml");
        return NULL;
    }
    yaml_parser_set_input_string(&ps.parser, (const unsigned char *)text, len);
    pv_ynode *root = NULL;
    yaml_event_t ev;
    int state = 0; /* 0 before the document, 1 inside, 2 after */
    for (;;) {
        if (next(&ps, &ev) != 0)
            break;
        yaml_event_type_t t = ev.type;
        unsigned line = (unsigned)ev.start_mark.line + 1, col = (unsigned)ev.start_mark.column + 1;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            if (!root)
                pv_recipe_diag_add(d, 1, 1, 0, NULL,
                                   "the recipe is empty; docs/recipes.md shows a complete one");
            yaml_parser_delete(&ps.parser);
            return root;
        }
        if (t == YAML_DOCUMENT_START_EVENT && state == 2) {
            yaml_event_delete(&ev);
            pv_recipe_diag_add(d, line, col, 0, NULL,
                               "a second YAML document; a recipe file holds exactly one");
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT)
            state = 1;
        else if (t == YAML_DOCUMENT_END_EVENT)
            state = 2;
        if (t == YAML_SCALAR_EVENT || t == YAML_MAPPING_START_EVENT ||
            t == YAML_SEQUENCE_START_EVENT || t == YAML_ALIAS_EVENT) {
            root = build(&ps, &ev, 0);
            if (!root)
                break;
            continue;
        }
        yaml_event_delete(&ev);
    }
    pv_yaml_free(root);
    yaml_parser_delete(&ps.parser);
    return NULL;
}

/* ---- the schema walk ---- */

struct walk {
    pv_yindex *idx;
    pv_recipe_diags *d;
    size_t errors;
};

__attribute__((format(printf, 5, 6))) static void fail(struct walk *w, unsigned line, unsigned col,
                                                       const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pv_recipe_diag_add(w->d, line, col, 0, path, "%s", msg);
    w->errors++;
}

static void record(struct walk *w, const char *path, unsigned line, unsigned col,
                   const pv_ynode *value)
{
    pv_yindex *x = w->idx;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        pv_yfield *v = realloc(x->v, cap * sizeof *v);
        if (!v)
            return; /* positions degrade to 0:0; the checks still run */
        x->v = v, x->cap = cap;
    }
    pv_yfield *f = &x->v[x->n++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->line = line, f->column = col, f->value = value;
}

const pv_yfield *pv_yindex_find(const pv_yindex *idx, const char *path)
{
    for (size_t i = 0; i < idx->n; i++)
        if (strcmp(idx->v[i].path, path) == 0)
            return &idx->v[i];
    return NULL;
}

void pv_yindex_free(pv_yindex *idx)
{
    free(idx->v);
    free(idx->taint);
    memset(idx, 0, sizeof *idx);
}

static size_t nfields(const cyaml_schema_field_t *f)
{
    size_t n = 0;
    while (f[n].key)
        n++;
    return n;
}

static void field_list(const cyaml_schema_field_t *f, char *out, size_t len)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; f[i].key && used < len; i++) {
        int k = snprintf(out + used, len - used, "%s%s", i ? ", " : "", f[i].key);
        if (k > 0)
            used += (size_t)k;
    }
}

static void enum_list(const cyaml_schema_value_t *s, char *out, size_t len)
{
    size_t used = 0;
    out[0] = 0;
    for (uint32_t i = 0; i < s->enumeration.count && used < len; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == s->enumeration.count ? " or " : ", ");
        int k = snprintf(out + used, len - used, "%s%s", sep, s->enumeration.strings[i].str);
        if (k > 0)
            used += (size_t)k;
    }
}

static void describe(const cyaml_schema_value_t *s, char *out, size_t len)
{
    char list[256];
    switch (s->type) {
    case CYAML_MAPPING:
        field_list(s->mapping.fields, list, sizeof list);
        snprintf(out, len, "a mapping with keys %s", list);
        break;
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED:
        snprintf(out, len, "a list");
        break;
    case CYAML_INT:
    case CYAML_UINT:
        snprintf(out, len, "a number");
        break;
    case CYAML_BOOL:
        snprintf(out, len, "true or false");
        break;
    case CYAML_ENUM:
        enum_list(s, list, sizeof list);
        snprintf(out, len, "one of %s", list);
        break;
    default:
        snprintf(out, len, "a string");
        break;
    }
}

/* What was found instead, for messages: "a mapping", "a list", or the scalar quoted. */
static void found(const pv_ynode *n, char *out, size_t len)
{
    if (n->kind == PV_Y_MAPPING)
        snprintf(out, len, "a mapping");
    else if (n->kind == PV_Y_SEQUENCE)
        snprintf(out, len, "a list");
    else if (n->len > 40)
        snprintf(out, len, "\"%.37s...\"", n->text);
    else
        snprintf(out, len, "\"%s\"", n->text);
}

/* Edit distance (insert, delete, substitute, swap neighbours), case-insensitive. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t m[64][64];
    for (size_t i = 0; i <= la; i++)
        m[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        m[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t v = m[i - 1][j - 1] + cost;
            if (m[i - 1][j] + 1 < v)
                v = m[i - 1][j] + 1;
            if (m[i][j - 1] + 1 < v)
                v = m[i][j - 1] + 1;
            if (i > 1 && j > 1 &&
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
                m[i - 2][j - 2] + 1 < v)
                v = m[i - 2][j - 2] + 1;
            m[i][j] = v;
        }
    return m[la][lb];
}

/* The closest candidate if it is close enough to be a likely typo, else NULL. The distance is at
 * least the difference in length, so candidates too far off in length are not scored: an unknown
 * key in a large mapping costs a few comparisons, not a distance table per candidate. */
static const char *closest(const char *word, const char *const *cands, size_t n)
{
    size_t len = strlen(word);
    size_t limit = len <= 4 ? 1 : (len <= 8 ? 2 : 3);
    const char *best = NULL;
    size_t bd = limit + 1;
    for (size_t i = 0; i < n; i++) {
        size_t lc = strlen(cands[i]);
        if ((lc > len ? lc - len : len - lc) > limit)
            continue;
        size_t dd = distance(word, cands[i]);
        if (dd < bd)
            bd = dd, best = cands[i];
    }
    return best;
}

int pv_yaml_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (*s == '-' && s[1])
        return -3;
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    const char *digits = hex ? s + 2 : s;
    if (!*digits)
        return -1;
    for (const char *p = digits; *p; p++)
        if (hex ? !isxdigit((unsigned char)*p) : !isdigit((unsigned char)*p))
            return -1;
    if (!hex && s[0] == '0' && s[1])
        return -1; /* leading zero: strtoull would read octal */
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, hex ? 16 : 10);
    if (errno == ERANGE || v > max)
        return -2;
    *out = v;
    return 0;
}

/* What a value that is missing or wrong is replaced by in the clean document, so libcyaml can
 * still load everything else and the value checks still run (their findings on these paths are
 * dropped: the path is tainted). */
static json_t *placeholder(const cyaml_schema_value_t *s)
{
    switch (s->type) {
    case CYAML_MAPPING: {
        json_t *o = json_object();
        for (const cyaml_schema_field_t *f = s->mapping.fields; f->key; f++)
            if (!(f->value.flags & CYAML_FLAG_OPTIONAL))
                json_object_set_new(o, f->key, placeholder(&f->value));
        return o;
    }
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < s->sequence.min; i++)
            json_array_append_new(a, placeholder(s->sequence.entry));
        return a;
    }
    case CYAML_BOOL:
        return json_string("false");
    case CYAML_ENUM:
        return json_string(s->enumeration.count ? s->enumeration.strings[0].str : "");
    case CYAML_STRING: {
        char x[8] = "xxxxxxx";
        x[s->string.min < 7 ? s->string.min : 7] = 0;
        return json_string(x);
    }
    default:
        return json_string("0");
    }
}

static void taint(struct walk *w, const char *path)
{
    pv_yindex *x = w->idx;
    if (x->ntaint == x->taint_cap) {
        size_t cap = x->taint_cap ? x->taint_cap * 2 : 16;
        char(*t)[128] = realloc(x->taint, cap * sizeof *t);
        if (!t)
            return;
        x->taint = t, x->taint_cap = cap;
    }
    snprintf(x->taint[x->ntaint++], 128, "%s", path);
}

/* Does a begin path b, as a whole component ("a.b" is in "a.b.c" and "a.b[1]", not "a.bc")? */
static int within(const char *a, const char *b)
{
    size_t n = strlen(b);
    return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '.' || a[n] == '[');
}

int pv_yindex_tainted(const pv_yindex *idx, const char *path)
{
    for (size_t i = 0; i < idx->ntaint; i++)
        if (!path[0] || within(path, idx->taint[i]) || within(idx->taint[i], path))
            return 1;
    return 0;
}

static json_t *check_value(struct walk *w, const cyaml_schema_value_t *s, const pv_ynode *n,
                           const char *path, unsigned kl, unsigned kc);

static json_t *check_scalar(struct walk *w, const cyaml_schema_value_t *s, const pv_ynode *n,
                            const char *path, unsigned kl, unsigned kc)
{
    char want[320], got[64];
    describe(s, want, sizeof want);
    if (n->kind != PV_Y_SCALAR) {
        found(n, got, sizeof got);
        fail(w, kl, kc, path, "expected %s, found %s", want, got);
        return NULL;
    }
    if (n->plain && n->len == 0) {
        fail(w, kl, kc, path, "has no value; expected %s", want);
        return NULL;
    }
    if (strlen(n->text) != n->len) {
        fail(w, kl, kc, path, "contains a NUL character; remove the \\0 escape");
        return NULL;
    }
    switch (s->type) {
    case CYAML_UINT:
    case CYAML_INT: {
        unsigned long long max = s->data_size >= 8 ? ~0ull : (1ull << (8 * s->data_size)) - 1;
        unsigned long long v;
        int rc = pv_yaml_parse_uint(n->text, max, &v);
        if (rc == -1)
            fail(w, kl, kc, path,
                 "\"%s\" is not a number; write it in decimal (2048) or hex (0x800), without "
                 "leading zeros or units",
                 n->text);
        else if (rc == -2)
            fail(w, kl, kc, path, "%s is too large; the maximum is %llu (0x%llX)", n->text, max,
                 max);
        else if (rc == -3)
            fail(w, kl, kc, path, "%s is negative; expected a number from 0 to %llu", n->text, max);
        if (rc != 0)
            return NULL;
        break;
    }
    case CYAML_BOOL: {
        static const char *const ok[] = {"true", "false", "yes", "no", "on", "off"};
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
            if (strcasecmp(n->text, ok[i]) == 0)
                return json_string(n->text);
        fail(w, kl, kc, path, "\"%s\" is not a boolean; use true or false", n->text);
        return NULL;
    }
    case CYAML_ENUM: {
        const char *cands[16];
        size_t nc = 0;
        for (uint32_t i = 0; i < s->enumeration.count; i++) {
            const char *e = s->enumeration.strings[i].str;
            if (strcmp(n->text, e) == 0)
                return json_string(n->text);
            if (nc < 16)
                cands[nc++] = e;
        }
        char list[256];
        enum_list(s, list, sizeof list);
        const char *near = closest(n->text, cands, nc);
        found(n, got, sizeof got);
        if (near)
            fail(w, kl, kc, path, "%s is not one of %s; did you mean \"%s\"?", got, list, near);
        else
            fail(w, kl, kc, path, "%s is not one of %s", got, list);
        return NULL;
    }
    case CYAML_STRING:
        if (n->len < s->string.min) {
            fail(w, kl, kc, path, "is %zu characters long; at least %u needed", n->len,
                 (unsigned)s->string.min);
            return NULL;
        }
        if (n->len > s->string.max) {
            fail(w, kl, kc, path, "is %zu characters long; at most %u allowed", n->len,
                 (unsigned)s->string.max);
            return NULL;
        }
        break;
    default:
        break;
    }
    return json_string(n->text);
}

static json_t *check_sequence(struct walk *w, const cyaml_schema_value_t *s, const pv_ynode *n,
                              const char *path, unsigned kl, unsigned kc)
{
    if (n->kind != PV_Y_SEQUENCE) {
        char got[64];
        if (n->kind == PV_Y_SCALAR && n->plain && n->len == 0)
            fail(w, kl, kc, path, "has no value; expected a list (write [] for none)");
        else {
            found(n, got, sizeof got);
            fail(w, kl, kc, path,
                 "expected a list, found %s; write the items as \"- item\" lines or [a, b]", got);
        }
        return NULL;
    }
    if (n->n < s->sequence.min) {
        fail(w, kl, kc, path, "has %zu entries; at least %u needed", n->n,
             (unsigned)s->sequence.min);
        return NULL;
    }
    if (s->sequence.max != CYAML_UNLIMITED && n->n > s->sequence.max) {
        fail(w, kl, kc, path, "has %zu entries; at most %u allowed", n->n,
             (unsigned)s->sequence.max);
        return NULL;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n->n; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        record(w, p, n->kids[i]->line, n->kids[i]->column, n->kids[i]);
        json_t *v =
            check_value(w, s->sequence.entry, n->kids[i], p, n->kids[i]->line, n->kids[i]->column);
        if (!v) {
            taint(w, p);
            v = placeholder(s->sequence.entry); /* keeps the later items' indices */
        }
        json_array_append_new(a, v);
    }
    return a;
}

static json_t *check_mapping(struct walk *w, const cyaml_schema_value_t *s, const pv_ynode *n,
                             const char *path, unsigned kl, unsigned kc)
{
    const cyaml_schema_field_t *fields = s->mapping.fields;
    size_t nf = nfields(fields);
    if (n->kind != PV_Y_MAPPING) {
        char want[320], got[64];
        describe(s, want, sizeof want);
        if (n->kind == PV_Y_SCALAR && n->plain && n->len == 0)
            fail(w, kl, kc, path, "has no value; expected %s", want);
        else {
            found(n, got, sizeof got);
            fail(w, kl, kc, path, "expected %s, found %s", want, got);
        }
        return NULL;
    }
    json_t *o = json_object();
    unsigned first_line[64] = {0};
    const char *cands[64];
    for (size_t i = 0; i < nf && i < 64; i++)
        cands[i] = fields[i].key;
    for (size_t k = 0; k + 1 < n->n; k += 2) {
        const pv_ynode *key = n->kids[k], *val = n->kids[k + 1];
        char p[128];
        if (key->kind != PV_Y_SCALAR) {
            fail(w, key->line, key->column, path[0] ? path : NULL,
                 "a key must be a plain name, found %s",
                 key->kind == PV_Y_MAPPING ? "a mapping" : "a list");
            continue;
        }
        snprintf(p, sizeof p, "%s%s%s", path, path[0] ? "." : "", key->text);
        size_t i = 0;
        while (i < nf && strcmp(fields[i].key, key->text) != 0)
            i++;
        if (i == nf) {
            const char *near = closest(key->text, cands, nf < 64 ? nf : 64);
            char list[320];
            field_list(fields, list, sizeof list);
            if (near)
                fail(w, key->line, key->column, p, "unknown key; did you mean \"%s\"?", near);
            else if (path[0])
                fail(w, key->line, key->column, p, "unknown key; the keys of %s are %s", path,
                     list);
            else
                fail(w, key->line, key->column, p, "unknown key; the top-level keys are %s", list);
            continue;
        }
        if (i < 64 && first_line[i]) {
            fail(w, key->line, key->column, p, "appears twice (first on line %u); keep one",
                 first_line[i]);
            taint(w, p);
            continue;
        }
        if (i < 64)
            first_line[i] = key->line;
        record(w, p, key->line, key->column, val);
        json_t *v = check_value(w, &fields[i].value, val, p, key->line, key->column);
        if (!v) {
            taint(w, p);
            if (fields[i].value.flags & CYAML_FLAG_OPTIONAL)
                continue;
            v = placeholder(&fields[i].value);
        }
        json_object_set_new(o, fields[i].key, v);
    }
    for (size_t i = 0; i < nf && i < 64; i++) {
        if (first_line[i] || (fields[i].value.flags & CYAML_FLAG_OPTIONAL))
            continue;
        char p[128];
        snprintf(p, sizeof p, "%s%s%s", path, path[0] ? "." : "", fields[i].key);
        if (path[0])
            fail(w, kl, kc, p, "required but missing; add \"%s:\" under %s", fields[i].key, path);
        else
            fail(w, kl, kc, p, "required but missing; add a top-level \"%s:\"", fields[i].key);
        taint(w, p);
        json_object_set_new(o, fields[i].key, placeholder(&fields[i].value));
    }
    return o;
}

static json_t *check_value(struct walk *w, const cyaml_schema_value_t *s, const pv_ynode *n,
                           const char *path, unsigned kl, unsigned kc)
{
    switch (s->type) {
    case CYAML_MAPPING:
        return check_mapping(w, s, n, path, kl, kc);
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED:
        return check_sequence(w, s, n, path, kl, kc);
    case CYAML_IGNORE:
        return json_null();
    default:
        return check_scalar(w, s, n, path, kl, kc);
    }
}

size_t pv_yaml_check(const pv_ynode *root, const cyaml_schema_value_t *schema, pv_yindex *idx,
                     pv_recipe_diags *d, char **clean)
{
    struct walk w = {.idx = idx, .d = d};
    *clean = NULL;
    if (root->kind != PV_Y_MAPPING) {
        char got[64];
        found(root, got, sizeof got);
        fail(&w, root->line, root->column, NULL,
             "a recipe is a mapping of keys (product:, batch:, chip: ...), found %s", got);
        return w.errors;
    }
    json_t *o = check_mapping(&w, schema, root, "", root->line, root->column);
    if (o) {
        /* JSON is YAML: libcyaml reads the clean document like the original. */
        *clean = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
    }
    return w.errors;
}

void pv_cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    struct pv_cy_log *l = ctx;
    if (level < CYAML_LOG_ERROR || l->first[0])
        return;
    vsnprintf(l->first, sizeof l->first, fmt, args);
    l->first[strcspn(l->first, "\n")] = 0;
}
