/* The OpenOCD Tcl RPC reply parser (openocd_reply.h): pure functions over bytes OpenOCD sent. */
#include "openocd_reply.h"

#include <stdlib.h>
#include <string.h>

int pv_ocd_rx_room(struct pv_ocd_rx *rx, char **at, size_t *room)
{
    if (rx->in_len + PV_OCD_RX_CHUNK > rx->in_cap) {
        if (rx->in_cap >= PV_OCD_REPLY_MAX)
            return -2;
        size_t cap = rx->in_cap ? rx->in_cap * 2 : 262144;
        char *b = realloc(rx->in, cap);
        if (!b)
            return -1;
        rx->in = b;
        rx->in_cap = cap;
    }
    *at = rx->in + rx->in_len;
    *room = rx->in_cap - rx->in_len;
    return 0;
}

void pv_ocd_rx_commit(struct pv_ocd_rx *rx, size_t n)
{
    rx->in_len += n;
}

int pv_ocd_rx_take(struct pv_ocd_rx *rx)
{
    char *eom = rx->in_len ? memchr(rx->in, PV_OCD_EOM, rx->in_len) : NULL;
    if (!eom)
        return 0;
    size_t n = (size_t)(eom - rx->in);
    if (n + 1 > rx->reply_cap) {
        char *r = realloc(rx->reply, n + 1);
        if (!r)
            return -1;
        rx->reply = r;
        rx->reply_cap = n + 1;
    }
    memcpy(rx->reply, rx->in, n);
    rx->reply[n] = 0;
    memmove(rx->in, eom + 1, rx->in_len - n - 1);
    rx->in_len -= n + 1;
    return 1;
}

void pv_ocd_rx_free(struct pv_ocd_rx *rx)
{
    free(rx->in);
    free(rx->reply);
    *rx = (struct pv_ocd_rx){0};
}

int pv_ocd_parse_status(char *reply, int *code, int *stage, char **result)
{
    char *s = reply, *end;
    long c = strtol(s, &end, 10);
    if (end == s || *end != ' ')
        return -1;
    s = end + 1;
    long st = strtol(s, &end, 10);
    if (end == s || (*end != ' ' && *end != 0))
        return -1;
    *code = (int)c;
    *stage = (int)st;
    *result = *end ? end + 1 : end;
    return 0;
}

uint32_t pv_ocd_parse_words(const char **s, unsigned width, uint32_t count, uint8_t *out)
{
    for (uint32_t k = 0; k < count; k++) {
        char *end;
        unsigned long v = strtoul(*s, &end, 0);
        if (end == *s)
            return k;
        *s = end;
        for (unsigned byte = 0; byte < width / 8; byte++)
            out[(size_t)k * (width / 8) + byte] = (uint8_t)(v >> (8 * byte));
    }
    return count;
}

int pv_ocd_parse_reg(const char *result, uint32_t *val)
{
    const char *sp = strchr(result, ' ');
    if (!sp)
        return -1;
    char *end;
    unsigned long v = strtoul(sp + 1, &end, 0);
    if (end == sp + 1)
        return -1;
    *val = (uint32_t)v;
    return 0;
}
