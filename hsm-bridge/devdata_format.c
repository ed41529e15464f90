/* The serial format language and MAC address text (devdata_spec.h). The format is interpreted
 * here, never handed to printf: a recipe cannot reach a conversion specifier. */
#include <stdio.h>
#include <string.h>

#include "devdata_spec.h"

#define FIXED_WIDTH_MAX 18

/* One element of the format at *p: a literal character (*lit), or a placeholder. */
enum elem { E_END, E_LIT, E_COUNTER, E_PRODUCT, E_BATCH, E_BAD };

static enum elem next(const char **p, char *lit, int *width, char *why, size_t why_len,
                      const char *start)
{
    const char *s = *p;
    *width = 0;
    if (!*s)
        return E_END;
    if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) {
        *lit = s[0];
        *p = s + 2;
        return E_LIT;
    }
    if (s[0] == '}') {
        snprintf(why, why_len, "a lone '}' at offset %zu; write '}}' for a brace",
                 (size_t)(s - start));
        return E_BAD;
    }
    if (s[0] != '{') {
        if ((unsigned char)s[0] < 0x20 || (unsigned char)s[0] > 0x7e) {
            snprintf(why, why_len,
                     "byte 0x%02x at offset %zu is not printable ASCII (a serial is written as "
                     "text into the device)",
                     (unsigned char)s[0], (size_t)(s - start));
            return E_BAD;
        }
        *lit = s[0];
        *p = s + 1;
        return E_LIT;
    }
    const char *end = strchr(s, '}');
    size_t n = end ? (size_t)(end - s - 1) : 0;
    if (!end) {
        snprintf(why, why_len, "'{' at offset %zu is not closed", (size_t)(s - start));
        return E_BAD;
    }
    *p = end + 1;
    if (n == 7 && !memcmp(s + 1, "counter", 7))
        return E_COUNTER;
    if (n == 7 && !memcmp(s + 1, "product", 7))
        return E_PRODUCT;
    if (n == 5 && !memcmp(s + 1, "batch", 5))
        return E_BATCH;
    if (n >= 10 && n <= 11 && !memcmp(s + 1, "counter:0", 9)) {
        int w = 0;
        for (size_t i = 10; i <= n; i++) {
            if (s[i] < '0' || s[i] > '9')
                w = -1000;
            w = w * 10 + (s[i] - '0');
        }
        if (w >= 1 && w <= FIXED_WIDTH_MAX) {
            *width = w;
            return E_COUNTER;
        }
    }
    snprintf(why, why_len,
             "'%.*s' at offset %zu is not a placeholder; use {counter}, {counter:0N} (N 1..%d), "
             "{product}, {batch}, or {{ and }} for braces",
             (int)(n + 2 > 40 ? 40 : n + 2), s, (size_t)(s - start), FIXED_WIDTH_MAX);
    return E_BAD;
}

int pv_serial_format_check(const char *fmt, int64_t *last, char *why, size_t why_len)
{
    const char *p = fmt;
    char lit;
    int width, counters = 0, minw = FIXED_WIDTH_MAX;
    enum elem e;
    while ((e = next(&p, &lit, &width, why, why_len, fmt)) != E_END) {
        if (e == E_BAD)
            return -1;
        if (e == E_COUNTER) {
            counters++;
            if (width && width < minw)
                minw = width;
        }
    }
    if (!counters) {
        snprintf(why, why_len, "no {counter}: every device would get the same serial");
        return -1;
    }
    int64_t l = 0;
    for (int i = 0; i < minw; i++)
        l = l * 10 + 9;
    *last = l;
    return 0;
}

/* Appends s to out; -1 if it does not fit. */
static int put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + len >= cap)
        return -1;
    memcpy(out + *n, s, len);
    *n += len;
    out[*n] = 0;
    return 0;
}

int pv_serial_render(const char *fmt, const char *product, const char *batch, int64_t value,
                     char *out, size_t cap)
{
    const char *p = fmt;
    char lit, num[24], why[160];
    int width;
    size_t n = 0;
    enum elem e;
    if (!cap || value < 0)
        return -1;
    out[0] = 0;
    while ((e = next(&p, &lit, &width, why, sizeof why, fmt)) != E_END) {
        int rc = 0;
        switch (e) {
        case E_LIT:
            rc = put(out, cap, &n, &lit, 1);
            break;
        case E_COUNTER: {
            int len = snprintf(num, sizeof num, "%0*lld", width ? width : 1, (long long)value);
            if (len < 0 || (width && len > width))
                return -1;
            rc = put(out, cap, &n, num, (size_t)len);
            break;
        }
        case E_PRODUCT:
            rc = put(out, cap, &n, product, strlen(product));
            break;
        case E_BATCH:
            rc = put(out, cap, &n, batch, strlen(batch));
            break;
        default:
            return -1;
        }
        if (rc)
            return -1;
    }
    return 0;
}

int pv_mac_parse(const char *s, uint64_t *mac)
{
    uint64_t v = 0;
    if (strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        const char *o = s + 3 * i;
        int d = 0;
        for (int j = 0; j < 2; j++) {
            char c = o[j];
            int x = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (x < 0)
                return -1;
            d = d * 16 + x;
        }
        if (i < 5 && o[2] != ':' && o[2] != '-')
            return -1;
        v = v << 8 | (uint64_t)d;
    }
    *mac = v;
    return 0;
}
