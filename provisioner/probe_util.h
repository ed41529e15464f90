/* Small helpers the probe backends (probe_*.c) and the DAP transports share: error text into a
 * fixed buffer, a monotonic clock, HOST:PORT parsing, a TCP connect that gives up in time and a
 * send that does. */
#ifndef PV_PROVISIONER_PROBE_UTIL_H
#define PV_PROVISIONER_PROBE_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct addrinfo;

/* Formats the message into err (cap bytes) and returns code, so a failure is one statement:
 * `return pv_probe_errf(p->err, sizeof p->err, PV_PROBE_ERR_IO, "...", ...);`. */
__attribute__((format(printf, 4, 5))) int pv_probe_errf(char *err, size_t cap, int code,
                                                        const char *fmt, ...);

/* Milliseconds on CLOCK_MONOTONIC (deadlines that wall-clock changes do not move). */
uint64_t pv_probe_now_ms(void);

/* Splits "HOST:PORT" at its last colon: HOST into host (host_cap bytes) and a pointer to PORT
 * returned; NULL if either part is empty or HOST does not fit. */
const char *pv_probe_split_hostport(const char *target, char *host, size_t host_cap);

/* A non-blocking, close-on-exec, TCP_NODELAY socket connected to ai within timeout_ms, or -1 with
 * errno saying why (ETIMEDOUT when the time ran out). */
int pv_probe_tcp_connect(const struct addrinfo *ai, int timeout_ms);

/* What pv_probe_send_all ran into; each backend words it for its server. */
enum pv_probe_send {
    PV_PROBE_SEND_OK = 0,
    PV_PROBE_SEND_CLOSED,  /* the peer closed the connection (EPIPE, ECONNRESET) */
    PV_PROBE_SEND_FAILED,  /* send() failed otherwise; errno says why */
    PV_PROBE_SEND_TIMEOUT, /* the peer took no data for timeout_ms */
};

/* Sends n bytes on the non-blocking socket fd, all of them within timeout_ms (no SIGPIPE). While
 * it waits for room, side_fd (when >= 0) is polled too and on_wait(ctx) runs after every wait:
 * a spawned OpenOCD blocks on its full log pipe, which must be read for it to take more. */
enum pv_probe_send pv_probe_send_all(int fd, const void *buf, size_t n, int timeout_ms, int side_fd,
                                     void (*on_wait)(void *ctx), void *ctx);

#endif
