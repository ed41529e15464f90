/* One line per event on stderr, for journald: "hsm-bridge: station=NAME session=ID what ->
 * STATUS [error: reason]". Lines never carry secrets: no message, frame, reply or PIN, only names,
 * UIDs, products, batches and the protocol's error codes and reasons. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

void pv_log(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write per line, so lines of a busy bridge do not interleave in the journal. */
    fprintf(stderr, "hsm-bridge: %s\n", line);
    fflush(stderr);
}

/* Text from a peer (a CN, a reason) with anything but printable ASCII replaced. */
static void clean(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 1 < cap; in++)
        out[n++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
    out[n] = 0;
}

void pv_log_request(const struct pv_req *r)
{
    char who[160], what[400], reason[520];
    if (r->station)
        snprintf(who, sizeof who, "station=%s", r->station);
    else if (r->peer.name[0])
        snprintf(who, sizeof who, "station=%s? peer=%s", r->peer.name, r->peer.addr);
    else
        snprintf(who, sizeof who, "station=- peer=%s", r->peer.addr[0] ? r->peer.addr : "?");
    clean(r->detail[0] ? r->detail : pv_route_name(r->route), what, sizeof what);
    if (r->error[0]) {
        clean(r->reason, reason, sizeof reason);
        pv_log("%s%s%s %s -> %d %s: %s", who, r->session[0] ? " session=" : "", r->session, what,
               r->status, r->error, reason);
    } else {
        pv_log("%s%s%s %s -> %d", who, r->session[0] ? " session=" : "", r->session, what,
               r->status);
    }
}
