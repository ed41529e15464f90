#include "common/vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tv_dir(void)
{
    const char *d = getenv("PV_TESTDATA");
    return (d && *d) ? d : "../shared/testdata";
}

json_t *tv_load(const char *relpath)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tv_dir(), relpath);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        fprintf(stderr,
                "test vectors: cannot load %s: %s (line %d)\n"
                "  fix: check out the shared/ folder beside this repository, "
                "or set PV_TESTDATA to its testdata directory\n",
                path, err.text, err.line);
        exit(2);
    }
    return root;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *tv_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2) {
        fprintf(stderr, "test vectors: odd-length hex string \"%.40s\"\n", hex);
        exit(2);
    }
    uint8_t *out = malloc(n / 2 + 1);
    if (!out)
        abort();
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "test vectors: bad hex digit in \"%.40s\"\n", hex);
            exit(2);
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

uint8_t *tv_hex_field(const json_t *obj, const char *key, size_t *len)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        fprintf(stderr, "test vectors: missing string field \"%s\"\n", key);
        exit(2);
    }
    return tv_hex(json_string_value(v), len);
}

int tv_has_flag(const json_t *test, const char *flag)
{
    const json_t *flags = json_object_get(test, "flags");
    size_t i;
    const json_t *f;
    json_array_foreach(flags, i, f)
    {
        if (json_is_string(f) && strcmp(json_string_value(f), flag) == 0)
            return 1;
    }
    return 0;
}

enum tv_result tv_result(const json_t *test)
{
    const char *r = json_string_value(json_object_get(test, "result"));
    if (r && strcmp(r, "valid") == 0)
        return TV_VALID;
    if (r && strcmp(r, "acceptable") == 0)
        return TV_ACCEPTABLE;
    if (r && strcmp(r, "invalid") == 0)
        return TV_INVALID;
    fprintf(stderr, "test vectors: unknown result \"%s\"\n", r ? r : "(none)");
    exit(2);
}
