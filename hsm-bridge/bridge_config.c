/* hsm-bridge's configuration file (bridge_config.h): the libcyaml schema, the positional shape
 * check shared with recipes (recipe_yaml.h), then values: listen address, paths resolved
 * against the file's directory, the PIN file's owner and mode. */
#include "bridge_config.h"

#include <stdbool.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>

#include "file_read.h"
#include "image/image.h"
#include "pin_source.h"
#include "recipe.h"
#include "recipe_yaml.h"
#include "station_ca.h"
#include "text_safe.h"

/* ---- what libcyaml loads into ---- */

struct cy_tls {
    char *cert, *key, *station_ca;
};
struct cy_token {
    char *module, *pin_file;
};
struct cy_rel_image {
    char *version, *image;
};
struct cy_pin {
    char *batch, *version;
};
struct cy_release {
    char *product;
    struct cy_rel_image *images;
    unsigned images_count;
    struct cy_pin *pins;
    unsigned pins_count;
};
struct cy_conf {
    char *listen;
    struct cy_tls tls;
    struct cy_token *token;
    char *ledger;
    char **products;
    unsigned products_count;
    uint32_t *session_ttl_s, *shutdown_grace_s, *max_sessions;
    char *station_ca_key;
    char *operator_socket;
    bool *allow_plain_images;
    struct cy_release *releases;
    unsigned releases_count;
};

#define PTR      CYAML_FLAG_POINTER
#define OPT      CYAML_FLAG_OPTIONAL
#define PATH_LEN 4095

static const cyaml_schema_field_t tls_fields[] = {
    CYAML_FIELD_STRING_PTR("cert", PTR, struct cy_tls, cert, 1, PATH_LEN),
    CYAML_FIELD_STRING_PTR("key", PTR, struct cy_tls, key, 1, PATH_LEN),
    CYAML_FIELD_STRING_PTR("station_ca", PTR, struct cy_tls, station_ca, 1, PATH_LEN),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t token_fields[] = {
    CYAML_FIELD_STRING_PTR("module", PTR | OPT, struct cy_token, module, 1, PATH_LEN),
    CYAML_FIELD_STRING_PTR("pin_file", PTR | OPT, struct cy_token, pin_file, 1, PATH_LEN),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t product_entry = {
    CYAML_VALUE_STRING(PTR, char, 1, PATH_LEN),
};
static const cyaml_schema_field_t rel_image_fields[] = {
    CYAML_FIELD_STRING_PTR("version", PTR, struct cy_rel_image, version, 1, 13),
    CYAML_FIELD_STRING_PTR("image", PTR, struct cy_rel_image, image, 1, PATH_LEN),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t rel_image_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct cy_rel_image, rel_image_fields),
};
static const cyaml_schema_field_t pin_fields[] = {
    CYAML_FIELD_STRING_PTR("batch", PTR, struct cy_pin, batch, 1, PV_RECIPE_NAME_MAX - 1),
    CYAML_FIELD_STRING_PTR("version", PTR, struct cy_pin, version, 1, 13),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t pin_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct cy_pin, pin_fields),
};
static const cyaml_schema_field_t release_fields[] = {
    CYAML_FIELD_STRING_PTR("product", PTR, struct cy_release, product, 1, PV_RECIPE_NAME_MAX - 1),
    CYAML_FIELD_SEQUENCE("images", PTR, struct cy_release, images, &rel_image_entry, 1,
                         PV_BRIDGE_RELEASES_MAX),
    CYAML_FIELD_SEQUENCE("pins", PTR | OPT, struct cy_release, pins, &pin_entry, 0,
                         PV_BRIDGE_RELEASES_MAX),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t release_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct cy_release, release_fields),
};
static const cyaml_schema_field_t conf_fields[] = {
    CYAML_FIELD_STRING_PTR("listen", PTR, struct cy_conf, listen, 3, PV_BRIDGE_HOST_MAX + 8),
    CYAML_FIELD_MAPPING("tls", CYAML_FLAG_DEFAULT, struct cy_conf, tls, tls_fields),
    CYAML_FIELD_MAPPING_PTR("token", PTR | OPT, struct cy_conf, token, token_fields),
    CYAML_FIELD_STRING_PTR("ledger", PTR, struct cy_conf, ledger, 1, PATH_LEN),
    CYAML_FIELD_SEQUENCE("products", PTR, struct cy_conf, products, &product_entry, 1,
                         PV_BRIDGE_PRODUCTS_MAX),
    CYAML_FIELD_UINT_PTR("session_ttl_s", PTR | OPT, struct cy_conf, session_ttl_s),
    CYAML_FIELD_UINT_PTR("max_sessions", PTR | OPT, struct cy_conf, max_sessions),
    CYAML_FIELD_UINT_PTR("shutdown_grace_s", PTR | OPT, struct cy_conf, shutdown_grace_s),
    CYAML_FIELD_STRING_PTR("station_ca_key", PTR | OPT, struct cy_conf, station_ca_key, 1,
                           PV_RECIPE_LABEL_MAX - 1),
    CYAML_FIELD_BOOL_PTR("allow_plain_images", PTR | OPT, struct cy_conf, allow_plain_images),
    CYAML_FIELD_STRING_PTR("operator_socket", PTR | OPT, struct cy_conf, operator_socket, 1,
                           PV_BRIDGE_SOCKET_PATH_MAX),
    CYAML_FIELD_SEQUENCE("releases", PTR | OPT, struct cy_conf, releases, &release_entry, 0,
                         PV_BRIDGE_PRODUCTS_MAX),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t conf_schema = {
    CYAML_VALUE_MAPPING(PTR, struct cy_conf, conf_fields),
};

/* ---- helpers ---- */

struct ctx {
    pv_recipe_diags *d;
    const pv_yindex *idx;
    char dir[4096]; /* the config file's directory, "" for the working directory */
};

__attribute__((format(printf, 3, 4))) static void report(struct ctx *c, const char *path,
                                                         const char *fmt, ...)
{
    if (path && pv_yindex_tainted(c->idx, path))
        return; /* reported as a shape error already; its value here is a placeholder */
    const pv_yfield *f = path ? pv_yindex_find(c->idx, path) : NULL;
    va_list ap;
    va_start(ap, fmt);
    pv_recipe_diag_vadd(c->d, f ? f->line : 0, f ? f->column : 0, 0, path, fmt, ap);
    va_end(ap);
}

/* A copy of p, made absolute against the config file's directory when it is relative. */
static char *resolve(const struct ctx *c, const char *p)
{
    if (!p)
        return NULL;
    size_t n = strlen(c->dir) + strlen(p) + 2;
    char *out = malloc(n);
    if (!out)
        return NULL;
    if (p[0] == '/' || !c->dir[0])
        snprintf(out, n, "%s", p);
    else
        snprintf(out, n, "%s/%s", c->dir, p);
    return out;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* "host:port", "[v6]:port". */
static void parse_listen(struct ctx *c, const char *s, struct pv_bridge_server_config *cf)
{
    const char *colon;
    const char *host = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            report(c, "listen", "\"%s\" is not [ADDRESS]:PORT (an IPv6 address in brackets)", s);
            return;
        }
        host = s + 1, hlen = (size_t)(close - host), colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon) {
            report(c, "listen", "\"%s\" is not HOST:PORT (e.g. 127.0.0.1:8443; IPv6 as [::1]:8443)",
                   s);
            return;
        }
        hlen = (size_t)(colon - s);
    }
    unsigned long long port;
    if (hlen == 0 || hlen >= sizeof cf->host) {
        report(c, "listen", "\"%s\": the host is empty or too long", s);
        return;
    }
    if (pv_yaml_parse_uint(colon + 1, 65535, &port) != 0) {
        report(c, "listen", "\"%s\": the port must be 0..65535 (0: any free port)", s);
        return;
    }
    memcpy(cf->host, host, hlen);
    cf->host[hlen] = 0;
    cf->port = (unsigned)port;
}

/* The ledger URL (docs/ledger.md): postgresql://..., postgres://... and postgresql:CONNINFO as
 * they are; sqlite:PATH and bare paths resolved. */
static char *resolve_ledger(struct ctx *c, const char *url)
{
    if (strncmp(url, "postgresql:", 11) == 0 || strncmp(url, "postgres://", 11) == 0)
        return strdup(url);
    if (strncmp(url, "sqlite:", 7) == 0) {
        char *p = resolve(c, url + 7);
        if (!p)
            return NULL;
        size_t n = strlen(p) + 8;
        char *out = malloc(n);
        if (out)
            snprintf(out, n, "sqlite:%s", p);
        free(p);
        return out;
    }
    if (strstr(url, "://")) {
        report(c, "ledger",
               "\"%s\": not a ledger URL this bridge knows (a path, sqlite:PATH, "
               "postgresql://USER@HOST/DB or postgresql:CONNINFO)",
               url);
        return NULL;
    }
    return resolve(c, url);
}

/* releases[i]: versions parse and are unique per product, pins name one of them; at most
 * PV_BRIDGE_RELEASES_MAX images and pins in all. */
static void convert_releases(struct ctx *c, const struct cy_conf *in,
                             struct pv_bridge_server_config *cf)
{
    char path[96];
    for (unsigned i = 0; i < in->releases_count; i++) {
        const struct cy_release *r = &in->releases[i];
        if (!pv_text_name_ok(r->product)) {
            char shown[4 * PV_NAME_MAX + 16];
            snprintf(path, sizeof path, "releases[%u].product", i);
            report(c, path, "\"%s\" is not a product name (" PV_NAME_RULE ")",
                   pv_text_escape(r->product, shown, sizeof shown));
            continue;
        }
        for (unsigned j = 0; j < i; j++)
            if (strcmp(in->releases[j].product, r->product) == 0) {
                snprintf(path, sizeof path, "releases[%u].product", i);
                report(c, path, "product %s has a release list already (releases[%u])", r->product,
                       j);
            }
        unsigned first = cf->n_releases;
        for (unsigned k = 0; k < r->images_count; k++) {
            uint32_t v = 0;
            snprintf(path, sizeof path, "releases[%u].images[%u].version", i, k);
            if (pv_image_version_parse(r->images[k].version, &v) != 0) {
                report(c, path, "\"%s\" is not MAJOR.MINOR.PATCH (e.g. 1.2.0)",
                       r->images[k].version);
                continue;
            }
            for (unsigned j = first; j < cf->n_releases; j++)
                if (cf->releases[j].version == v)
                    report(c, path, "version %s is listed twice for product %s",
                           r->images[k].version, r->product);
            if (cf->n_releases == PV_BRIDGE_RELEASES_MAX) {
                report(c, path, "more than %u release images in all", PV_BRIDGE_RELEASES_MAX);
                return;
            }
            struct pv_bridge_release *o = &cf->releases[cf->n_releases++];
            o->product = strdup(r->product);
            o->version = v;
            o->image = resolve(c, r->images[k].image);
            if (!o->product || !o->image)
                report(c, NULL, "out of memory");
        }
        for (unsigned k = 0; k < r->pins_count; k++) {
            uint32_t v = 0;
            int found = 0;
            snprintf(path, sizeof path, "releases[%u].pins[%u].version", i, k);
            if (pv_image_version_parse(r->pins[k].version, &v) != 0) {
                report(c, path, "\"%s\" is not MAJOR.MINOR.PATCH (e.g. 1.2.0)", r->pins[k].version);
                continue;
            }
            for (unsigned j = first; j < cf->n_releases; j++)
                found |= cf->releases[j].version == v;
            if (!found)
                report(c, path, "batch %s is pinned to %s, which is not one of product %s's images",
                       r->pins[k].batch, r->pins[k].version, r->product);
            for (unsigned j = 0; j < cf->n_pins; j++)
                if (strcmp(cf->pins[j].product, r->product) == 0 &&
                    strcmp(cf->pins[j].batch, r->pins[k].batch) == 0)
                    report(c, path, "batch %s is pinned twice", r->pins[k].batch);
            if (cf->n_pins == PV_BRIDGE_RELEASES_MAX) {
                report(c, path, "more than %u pins in all", PV_BRIDGE_RELEASES_MAX);
                return;
            }
            struct pv_bridge_pin *o = &cf->pins[cf->n_pins++];
            o->product = strdup(r->product);
            o->batch = strdup(r->pins[k].batch);
            o->version = v;
            if (!o->product || !o->batch)
                report(c, NULL, "out of memory");
        }
    }
}

static void convert(struct ctx *c, const struct cy_conf *in, struct pv_bridge_server_config *cf)
{
    parse_listen(c, in->listen, cf);
    cf->tls_cert = resolve(c, in->tls.cert);
    cf->tls_key = resolve(c, in->tls.key);
    cf->station_ca = resolve(c, in->tls.station_ca);
    if (in->token) {
        /* A module given as a bare file name is left to dlopen's search path. */
        cf->module = in->token->module && strchr(in->token->module, '/')
                         ? resolve(c, in->token->module)
                         : dup_or_null(in->token->module);
        cf->pin_file = resolve(c, in->token->pin_file);
    }
    cf->ledger = resolve_ledger(c, in->ledger);
    for (unsigned i = 0; i < in->products_count && i < PV_BRIDGE_PRODUCTS_MAX; i++) {
        cf->products[i] = resolve(c, in->products[i]);
        for (unsigned j = 0; j < i; j++)
            if (cf->products[i] && cf->products[j] &&
                strcmp(cf->products[i], cf->products[j]) == 0) {
                char path[32];
                snprintf(path, sizeof path, "products[%u]", i);
                report(c, path, "%s is listed twice", in->products[i]);
            }
        cf->n_products = i + 1;
    }
    cf->session_ttl_s = in->session_ttl_s ? *in->session_ttl_s : PV_BRIDGE_TTL_DEFAULT_S;
    if (in->session_ttl_s && (*in->session_ttl_s == 0 || *in->session_ttl_s > 86400))
        report(c, "session_ttl_s", "%u: a session lives 1..86400 seconds (default %u)",
               *in->session_ttl_s, PV_BRIDGE_TTL_DEFAULT_S);
    cf->max_sessions = in->max_sessions ? *in->max_sessions : PV_BRIDGE_SESSIONS_MAX;
    if (in->max_sessions && (*in->max_sessions == 0 || *in->max_sessions > 65536))
        report(c, "max_sessions", "%u: 1..65536 session slots (default %u)", *in->max_sessions,
               PV_BRIDGE_SESSIONS_MAX);
    cf->shutdown_grace_s = in->shutdown_grace_s ? *in->shutdown_grace_s : PV_BRIDGE_GRACE_DEFAULT_S;
    if (cf->shutdown_grace_s > 3600)
        report(c, "shutdown_grace_s", "%u: at most 3600 seconds", cf->shutdown_grace_s);
    cf->station_ca_key = strdup(in->station_ca_key ? in->station_ca_key : PV_STATION_CA_LABEL);
    cf->allow_plain_images = in->allow_plain_images ? *in->allow_plain_images : 0;
    convert_releases(c, in, cf);
    if (in->operator_socket) {
        cf->operator_socket = resolve(c, in->operator_socket);
        if (!cf->operator_socket)
            report(c, NULL, "out of memory");
        else if (strlen(cf->operator_socket) > PV_BRIDGE_SOCKET_PATH_MAX)
            report(c, "operator_socket", "%s: a Unix socket's path has at most %u bytes",
                   cf->operator_socket, PV_BRIDGE_SOCKET_PATH_MAX);
    }

    int oom = !cf->tls_cert || !cf->tls_key || !cf->station_ca || !cf->station_ca_key ||
              (in->token && in->token->module && !cf->module) ||
              (in->token && in->token->pin_file && !cf->pin_file);
    for (unsigned i = 0; i < cf->n_products; i++)
        oom |= !cf->products[i];
    if (oom)
        report(c, NULL, "out of memory");
    if (cf->pin_file) {
        char why[1024];
        if (pv_pin_file_check(cf->pin_file, why, sizeof why) != 0)
            report(c, "token.pin_file", "%s", why);
    }
}

static void fill_bridge(struct pv_bridge_server_config *cf)
{
    struct pv_bridge_config *b = &cf->bridge;
    memset(b, 0, sizeof *b);
    for (unsigned i = 0; i < cf->n_products; i++)
        b->recipes[i] = cf->products[i];
    b->n_recipes = cf->n_products;
    b->module = cf->module;
    b->pin_file = cf->pin_file;
    b->ledger = cf->ledger;
    b->session_ttl_s = cf->session_ttl_s;
    b->max_sessions = cf->max_sessions;
    b->allow_plain_images = cf->allow_plain_images;
    b->releases = cf->releases;
    b->n_releases = cf->n_releases;
    b->pins = cf->pins;
    b->n_pins = cf->n_pins;
}

static void diags_to_err(const pv_recipe_diags *d, char *err, size_t err_len)
{
    size_t used = 0;
    err[0] = 0;
    for (size_t i = 0; i < d->count && used + 1 < err_len; i++) {
        char line[1200];
        pv_recipe_diag_format(d, i, line, sizeof line);
        int k = snprintf(err + used, err_len - used, "%s%s", i ? "\n" : "", line);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    if (!err[0])
        snprintf(err, err_len, "%s: not a valid configuration", d->file);
}

static char *read_text(const char *path, size_t *len, int *e, char *why, size_t why_len)
{
    FILE *f = pv_file_fopen_regular(path, why, why_len);
    if (!f) {
        *e = 0;
        return NULL;
    }
    char *buf = malloc(PV_BRIDGE_CONFIG_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        *e = ENOMEM;
        return NULL;
    }
    size_t n = fread(buf, 1, PV_BRIDGE_CONFIG_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > PV_BRIDGE_CONFIG_MAX_BYTES) {
        free(buf);
        *e = bad ? EIO : EFBIG;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int pv_bridge_config_load(const char *path, struct pv_bridge_server_config *cf, char *err,
                          size_t err_len)
{
    memset(cf, 0, sizeof *cf);
    snprintf(cf->file, sizeof cf->file, "%s", path);
    pv_recipe_diags d;
    pv_recipe_diags_init(&d);
    snprintf(d.file, sizeof d.file, "%s", path);
    struct ctx c = {.d = &d};
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(c.dir, sizeof c.dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);

    size_t len = 0;
    int e = 0;
    char why[160];
    char *text = read_text(path, &len, &e, why, sizeof why);
    if (!text) {
        snprintf(err, err_len, "%s: cannot read: %s", path,
                 e == EFBIG ? "larger than 256 KiB, not a bridge configuration"
                 : e        ? strerror(e)
                            : why);
        return -1;
    }
    pv_yindex idx = {0};
    c.idx = &idx;
    pv_ynode *root = pv_yaml_parse(text, len, &d);
    char *clean = NULL;
    size_t shape = root ? pv_yaml_check(root, &conf_schema, &idx, &d, &clean) : 0;
    int rc = -1;
    if (root && (!shape || clean)) {
        /* With shape errors, libcyaml loads the clean copy (placeholders for what is wrong), so
         * the value checks still report everything else in the same run. */
        const char *src = shape ? clean : text;
        size_t src_len = shape ? strlen(clean) : len;
        struct pv_cy_log log = {{0}};
        const cyaml_config_t cfg = {.log_fn = pv_cy_log_fn,
                                    .log_ctx = &log,
                                    .mem_fn = cyaml_mem,
                                    .log_level = CYAML_LOG_ERROR,
                                    .flags = CYAML_CFG_NO_ALIAS};
        struct cy_conf *in = NULL;
        cyaml_err_t ce = cyaml_load_data((const uint8_t *)src, src_len, &cfg, &conf_schema,
                                         (cyaml_data_t **)&in, NULL);
        if (ce != CYAML_OK || !in) {
            pv_recipe_diag_add(&d, 0, 0, 0, NULL, "libcyaml refused the file: %s%s%s",
                               cyaml_strerror(ce), log.first[0] ? ": " : "", log.first);
        } else {
            convert(&c, in, cf);
            cyaml_free(&cfg, &conf_schema, in, 0);
        }
        if (d.errors == 0) {
            fill_bridge(cf);
            rc = 0;
        }
    }
    if (rc != 0)
        diags_to_err(&d, err, err_len);
    free(clean);
    pv_yaml_free(root);
    pv_yindex_free(&idx);
    pv_recipe_diags_free(&d);
    free(text);
    return rc;
}

void pv_bridge_config_free(struct pv_bridge_server_config *cf)
{
    free(cf->tls_cert);
    free(cf->tls_key);
    free(cf->station_ca);
    free(cf->module);
    free(cf->pin_file);
    free(cf->ledger);
    for (unsigned i = 0; i < cf->n_products; i++)
        free(cf->products[i]);
    free(cf->station_ca_key);
    free(cf->operator_socket);
    for (unsigned i = 0; i < cf->n_releases; i++) {
        free((char *)(uintptr_t)cf->releases[i].product);
        free((char *)(uintptr_t)cf->releases[i].image);
    }
    for (unsigned i = 0; i < cf->n_pins; i++) {
        free((char *)(uintptr_t)cf->pins[i].product);
        free((char *)(uintptr_t)cf->pins[i].batch);
    }
    memset(cf, 0, sizeof *cf);
}
