/* The MES's values for one device (devdata_mes.h). */
#include "devdata_mes.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "file_read.h"

static int parse_int(const char *v, int64_t *out)
{
    const char *p = v;
    if (*p == '-')
        p++;
    if (!*p || strlen(p) > 19)
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = n;
    return 0;
}

int pv_mes_value_check(const pv_mes_field_spec *f, const char *v, char *why, size_t why_len)
{
    if (f->type == PV_MES_INTEGER) {
        int64_t n;
        if (parse_int(v, &n)) {
            snprintf(why, why_len, "'%.40s' is not an integer", v);
            return -1;
        }
        if (n < f->min || n > f->max) {
            snprintf(why, why_len, "%lld is outside %lld..%lld", (long long)n, (long long)f->min,
                     (long long)f->max);
            return -1;
        }
        return 0;
    }
    size_t len = strlen(v);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e) {
            snprintf(why, why_len,
                     "byte 0x%02x at offset %zu is not printable ASCII (the value is written as "
                     "text into the device)",
                     (unsigned char)v[i], i);
            return -1;
        }
    if (len > f->max_length) {
        snprintf(why, why_len, "%zu characters, more than max_length %u", len, f->max_length);
        return -1;
    }
    if (f->pattern[0]) {
        regex_t re;
        char anchored[PV_DEVDATA_SPEC_TEXT_MAX + 8];
        snprintf(anchored, sizeof anchored, "^(%s)$", f->pattern);
        if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB)) {
            snprintf(why, why_len, "the recipe's pattern does not compile");
            return -1;
        }
        int rc = regexec(&re, v, 0, NULL, 0);
        regfree(&re);
        if (rc) {
            snprintf(why, why_len, "'%.40s' does not match the pattern %.100s", v, f->pattern);
            return -1;
        }
    }
    return 0;
}

/* ---- the sources: a JSON object of name -> string or integer for the UID ---- */

/* One CSV record from *p (RFC 4180: quotes, doubled quotes, CRLF or LF); cells are appended to
 * arr as strings. 0 at the end of the text, 1 for a record, -1 malformed. */
static int csv_record(const char **p, const char *end, json_t *arr)
{
    const char *s = *p;
    if (s >= end)
        return 0;
    char cell[1024];
    for (;;) {
        size_t n = 0;
        int quoted = s < end && *s == '"';
        if (quoted) {
            for (s++;; s++) {
                if (s >= end)
                    return -1;
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"')
                        s++;
                    else {
                        s++;
                        break;
                    }
                }
                if (n + 1 >= sizeof cell)
                    return -1;
                cell[n++] = *s;
            }
        } else
            for (; s < end && *s != ',' && *s != '\n' && *s != '\r'; s++) {
                if (n + 1 >= sizeof cell)
                    return -1;
                cell[n++] = *s;
            }
        cell[n] = 0;
        json_array_append_new(arr, json_string(cell));
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '\r')
            s++;
        if (s < end && *s == '\n')
            s++;
        else if (s < end)
            return -1;
        *p = s;
        return 1;
    }
}

static json_t *from_csv(const char *file, const char *text, size_t len, const char *uid, char *why,
                        size_t why_len)
{
    const char *p = text, *end = text + len;
    json_t *head = json_array(), *row = json_array(), *out = NULL;
    int uid_col = -1;
    unsigned line = 1;
    if (csv_record(&p, end, head) != 1) {
        snprintf(why, why_len, "%s:1: no CSV header line (uid,FIELD,...)", file);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(head); i++)
        if (!strcmp(json_string_value(json_array_get(head, i)), "uid"))
            uid_col = (int)i;
    if (uid_col < 0) {
        snprintf(why, why_len, "%s:1: the header has no column 'uid'", file);
        goto done;
    }
    for (;;) {
        json_array_clear(row);
        line++;
        int rc = csv_record(&p, end, row);
        if (rc == 0)
            break;
        if (rc < 0) {
            snprintf(why, why_len,
                     "%s:%u: not a CSV record (an open quote or a cell over 1023 "
                     "bytes)",
                     file, line);
            goto done;
        }
        const char *u = json_string_value(json_array_get(row, (size_t)uid_col));
        if (!u || strcasecmp(u, uid) != 0)
            continue;
        out = json_object();
        for (size_t i = 0; i < json_array_size(head) && i < json_array_size(row); i++)
            if ((int)i != uid_col && json_string_length(json_array_get(row, i)))
                json_object_set(out, json_string_value(json_array_get(head, i)),
                                json_array_get(row, i));
        json_object_set_new(out, "\x01line", json_integer(line));
        break;
    }
    if (!out)
        out = json_null(); /* no row */
done:
    json_decref(head);
    json_decref(row);
    return out;
}

static json_t *from_json(const char *file, const char *text, size_t len, const char *uid, char *why,
                         size_t why_len)
{
    json_error_t e;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e), *out = NULL;
    if (!root) {
        snprintf(why, why_len, "%s:%d:%d: not JSON: %s", file, e.line, e.column, e.text);
        return NULL;
    }
    if (json_is_object(root)) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) if (!strcasecmp(k, uid)) out = v;
    } else if (json_is_array(root)) {
        size_t i;
        json_t *v;
        json_array_foreach(root, i, v)
        {
            const char *u = json_string_value(json_object_get(v, "uid"));
            if (u && !strcasecmp(u, uid))
                out = v;
        }
    } else {
        snprintf(why, why_len,
                 "%s: neither an object keyed by UID nor an array of objects "
                 "with \"uid\"",
                 file);
        json_decref(root);
        return NULL;
    }
    if (out && !json_is_object(out)) {
        snprintf(why, why_len, "%s: the entry of UID %s is not a JSON object", file, uid);
        json_decref(root);
        return NULL;
    }
    out = out ? json_deep_copy(out) : json_null();
    json_object_del(out, "uid");
    json_decref(root);
    return out;
}

/* The raw values for the UID (an object), json_null() when the source has no row, NULL with why
 * on a broken source. *where names the source for messages. */
static json_t *raw_values(const pv_devdata_spec *spec, const char *uid, const char *station,
                          char *where, size_t where_len, char *why, size_t why_len)
{
    if (spec->mes_source == PV_MES_STATION) {
        snprintf(where, where_len, "the station's request");
        if (!station || !station[0])
            return json_null();
        json_error_t e;
        json_t *o = json_loads(station, JSON_REJECT_DUPLICATES, &e);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            snprintf(why, why_len, "mes_invalid: the station's MES values are not a JSON object");
            return NULL;
        }
        return o;
    }
    uint8_t *text = NULL;
    size_t len = 0;
    char fwhy[192];
    int rc = pv_file_read(spec->mes_file, PV_MES_FILE_MAX, &text, &len, fwhy, sizeof fwhy);
    if (rc != PV_FILE_OK) {
        snprintf(why, why_len, "mes_unavailable: the MES file %s: %s", spec->mes_file, fwhy);
        return NULL;
    }
    size_t fl = strlen(spec->mes_file);
    int json = fl > 5 && !strcasecmp(spec->mes_file + fl - 5, ".json");
    json_t *o = json ? from_json(spec->mes_file, (const char *)text, len, uid, why, why_len)
                     : from_csv(spec->mes_file, (const char *)text, len, uid, why, why_len);
    free(text);
    if (o && json_is_object(o) && json_object_get(o, "\x01line")) {
        snprintf(where, where_len, "%s:%lld", spec->mes_file,
                 (long long)json_integer_value(json_object_get(o, "\x01line")));
        json_object_del(o, "\x01line");
    } else
        snprintf(where, where_len, "%s", spec->mes_file);
    if (!o && !why[0])
        snprintf(why, why_len, "mes_unavailable: cannot read the MES file %s", spec->mes_file);
    else if (!o) {
        char t[512];
        snprintf(t, sizeof t, "mes_unavailable: %s", why);
        snprintf(why, why_len, "%s", t);
    }
    return o;
}

int pv_mes_values(const pv_devdata_spec *spec, const char *uid, const char *station, json_t **out,
                  char *why, size_t why_len)
{
    char where[1100];
    why[0] = 0;
    *out = NULL;
    json_t *raw = raw_values(spec, uid, station, where, sizeof where, why, why_len);
    if (!raw)
        return -1;
    int missing_row = json_is_null(raw);
    json_t *res = json_object();
    int rc = -1;
    if (!missing_row && spec->mes_source == PV_MES_STATION) {
        const char *k;
        json_t *v;
        json_object_foreach(raw, k, v)
        {
            unsigned i;
            for (i = 0; i < spec->n_fields && strcmp(spec->fields[i].name, k); i++)
                ;
            if (i == spec->n_fields) {
                snprintf(why, why_len,
                         "mes_invalid: field '%.40s' from %s is not declared in the recipe "
                         "(device_data.mes.fields); nothing written",
                         k, where);
                goto out;
            }
        }
    }
    for (unsigned i = 0; i < spec->n_fields; i++) {
        const pv_mes_field_spec *f = &spec->fields[i];
        json_t *v = missing_row ? NULL : json_object_get(raw, f->name);
        char text[PV_DEVDATA_SPEC_TEXT_MAX + 1], fwhy[256];
        if (v && json_is_string(v) && json_string_length(v) < sizeof text - 1)
            snprintf(text, sizeof text, "%s", json_string_value(v));
        else if (v && json_is_integer(v))
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
        else if (v && !json_is_null(v)) {
            snprintf(why, why_len,
                     "mes_invalid: field %s from %s for UID %s is neither a string nor an "
                     "integer (or too long); nothing written",
                     f->name, where, uid);
            goto out;
        } else if (f->has_default)
            snprintf(text, sizeof text, "%s", f->default_value);
        else {
            if (missing_row)
                snprintf(why, why_len,
                         "mes_missing: %s has no row for UID %s (field %s has no default in the "
                         "recipe); add the row, or give the field a default; nothing written",
                         where, uid, f->name);
            else
                snprintf(why, why_len,
                         "mes_missing: field %s is missing for UID %s in %s and has no default; "
                         "nothing written",
                         f->name, uid, where);
            goto out;
        }
        if (pv_mes_value_check(f, text, fwhy, sizeof fwhy)) {
            snprintf(why, why_len, "mes_invalid: field %s for UID %s from %s: %s; nothing written",
                     f->name, uid, where, fwhy);
            goto out;
        }
        int64_t n = 0;
        json_object_set_new(res, f->name,
                            f->type == PV_MES_INTEGER && !parse_int(text, &n) ? json_integer(n)
                                                                              : json_string(text));
    }
    rc = 0;
    *out = res;
    res = NULL;
out:
    json_decref(res);
    json_decref(raw);
    return rc;
}
