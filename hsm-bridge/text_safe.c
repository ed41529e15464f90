/* Names checked, text escaped for display and CSV (text_safe.h). */
#include "text_safe.h"

#include <stdlib.h>
#include <string.h>

int pv_text_name_ok(const char *s)
{
    if (!s || !s[0] || strlen(s) >= PV_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* The length of the valid UTF-8 sequence at s that is not a C1 control, else 0 (the byte at s
 * is then escaped). s[0] >= 0x80. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    if (c == 0xc2 && s[1] <= 0x9f)
        return 0; /* U+0080..U+009F: C1 controls (0x9b is CSI) */
    return n;
}

/* How many bytes of in[i..] are kept as they are (0: escape in[i]). */
static size_t kept(const unsigned char *in)
{
    if (in[0] >= 0x20 && in[0] < 0x7f)
        return 1;
    if (in[0] < 0x80)
        return 0;
    return utf8_len(in);
}

int pv_text_needs_escape(const char *in)
{
    const unsigned char *s = (const unsigned char *)in;
    while (s && *s) {
        size_t k = kept(s);
        if (!k)
            return 1;
        s += k;
    }
    return 0;
}

char *pv_text_escape(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t n = 0;
    if (!cap)
        return out;
    while (*s) {
        size_t k = kept(s);
        if (k) {
            if (n + k >= cap)
                break;
            memcpy(out + n, s, k);
            n += k, s += k;
        } else {
            if (n + 4 >= cap)
                break;
            out[n++] = '\\', out[n++] = 'x', out[n++] = hex[*s >> 4], out[n++] = hex[*s & 15];
            s++;
        }
    }
    out[n] = 0;
    return out;
}

int pv_text_csv_cell(FILE *out, const char *in)
{
    size_t cap = 4 * strlen(in ? in : "") + 2;
    char *e = malloc(cap + 1);
    if (!e)
        return -1;
    /* the leading quote goes before the escaped text: "=..." -> "'=...", "\t..." -> "'\x09..." */
    int formula = in && (in[0] == '=' || in[0] == '+' || in[0] == '-' || in[0] == '@' ||
                         in[0] == '\t' || in[0] == '\r');
    e[0] = '\'';
    pv_text_escape(in, e + formula, cap + 1 - (size_t)formula);
    size_t n = strlen(e);
    int quote = strpbrk(e, ",\"") != NULL || (n && (e[0] == ' ' || e[n - 1] == ' '));
    if (quote) {
        fputc('"', out);
        for (const char *p = e; *p; p++) {
            if (*p == '"')
                fputc('"', out);
            fputc(*p, out);
        }
        fputc('"', out);
    } else
        fputs(e, out);
    free(e);
    return 0;
}
