/* Small helpers the probe backends (probe_*.c) and the DAP transports share: error text into a
 * fixed buffer, a monotonic clock, HOST:PORT parsing and a TCP connect that gives up in time. */
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

#endif
