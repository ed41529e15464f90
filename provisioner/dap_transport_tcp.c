/* CMSIS-DAP packets over TCP (docs/probes.md, "DAP over TCP"): each packet in a frame of
 * "PVDA", u16 length (little endian), u8 type (1 command, 2 response), u8 sequence number that
 * the response echoes. Used against the sim's --dap-port; any server speaking the same framing
 * (e.g. a bridge to a USB probe on another machine) works the same. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dap_transport.h"
#include "probe_util.h"

#define HDR     8u
#define MAX_LEN 65535u

struct tcp_transport {
    struct dap_transport t; /* first: the command layer holds a pointer to it */
    int fd;
    int timeout_ms;
    uint8_t tx_seq, rx_seq;
    bool sent; /* sent since the last wait */
    uint8_t *in;
    size_t in_len;
};

/* Formats the message into the transport's err and returns code. */
#define fail(x, code, ...) pv_probe_errf((x)->t.err, sizeof(x)->t.err, (code), __VA_ARGS__)

static int send_all(struct tcp_transport *x, const uint8_t *b, size_t n)
{
    switch (pv_probe_send_all(x->fd, b, n, x->timeout_ms, -1, NULL, NULL)) {
    case PV_PROBE_SEND_OK:
        return PV_PROBE_OK;
    case PV_PROBE_SEND_CLOSED:
        return fail(x, PV_PROBE_ERR_IO, "dap tcp: the server closed the connection");
    case PV_PROBE_SEND_FAILED:
        return fail(x, PV_PROBE_ERR_IO, "dap tcp: send failed: %s", strerror(errno));
    default:
        return fail(x, PV_PROBE_ERR_TIMEOUT, "dap tcp: the server takes no data (%d ms)",
                    x->timeout_ms);
    }
}

static int tcp_send(struct dap_transport *t, const uint8_t *pkt, size_t len)
{
    struct tcp_transport *x = (struct tcp_transport *)t;
    if (len == 0 || len > MAX_LEN)
        return fail(x, PV_PROBE_ERR_PROTOCOL, "dap tcp: packet of %zu bytes", len);
    uint8_t hdr[HDR] = {'P', 'V', 'D', 'A', (uint8_t)len, (uint8_t)(len >> 8), 1, x->tx_seq++};
    int rc = send_all(x, hdr, HDR);
    if (!rc)
        rc = send_all(x, pkt, len);
    if (rc)
        return rc;
    x->sent = true;
    x->t.st.packets++;
    x->t.st.bytes_out += HDR + len;
    return PV_PROBE_OK;
}

static int tcp_recv(struct dap_transport *t, uint8_t *buf, size_t cap, size_t *len, int timeout_ms)
{
    struct tcp_transport *x = (struct tcp_transport *)t;
    uint64_t end = pv_probe_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : x->timeout_ms);
    for (;;) {
        if (x->in_len >= HDR) {
            size_t n = (size_t)(x->in[4] | x->in[5] << 8);
            if (memcmp(x->in, "PVDA", 4) != 0 || x->in[6] != 2 || n == 0)
                return fail(x, PV_PROBE_ERR_PROTOCOL,
                            "dap tcp: the server does not speak DAP-over-TCP (no \"PVDA\" "
                            "response frame; see docs/probes.md)");
            if (x->in[7] != x->rx_seq)
                return fail(x, PV_PROBE_ERR_PROTOCOL,
                            "dap tcp: response %u arrived where %u was due", x->in[7], x->rx_seq);
            if (x->in_len >= HDR + n) {
                if (n > cap)
                    return fail(x, PV_PROBE_ERR_PROTOCOL,
                                "dap tcp: response of %zu bytes exceeds the packet size %zu", n,
                                cap);
                memcpy(buf, x->in + HDR, n);
                *len = n;
                x->rx_seq++;
                memmove(x->in, x->in + HDR + n, x->in_len - HDR - n);
                x->in_len -= HDR + n;
                return PV_PROBE_OK;
            }
        }
        if (x->sent) { /* waiting for an answer to what went out: one round trip */
            x->t.st.round_trips++;
            x->sent = false;
        }
        ssize_t r = recv(x->fd, x->in + x->in_len, HDR + MAX_LEN - x->in_len, 0);
        if (r > 0) {
            x->in_len += (size_t)r;
            x->t.st.bytes_in += (uint64_t)r;
            continue;
        }
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return fail(x, PV_PROBE_ERR_IO, "dap tcp: the server closed the connection");
        if (errno != EAGAIN && errno != EINTR)
            return fail(x, PV_PROBE_ERR_IO, "dap tcp: receive failed: %s", strerror(errno));
        int left = (int)(end - pv_probe_now_ms());
        if (left <= 0)
            return fail(x, PV_PROBE_ERR_TIMEOUT, "dap tcp: no response within %d ms",
                        timeout_ms > 0 ? timeout_ms : x->timeout_ms);
        struct pollfd pfd = {.fd = x->fd, .events = POLLIN};
        poll(&pfd, 1, left);
    }
}

static void tcp_close(struct dap_transport *t)
{
    struct tcp_transport *x = (struct tcp_transport *)t;
    if (!x)
        return;
    if (x->fd >= 0)
        close(x->fd);
    free(x->in);
    free(x);
}

int dap_transport_tcp_open(struct dap_transport **out, const char *hostport, int timeout_ms,
                           char *err, size_t err_len)
{
    *out = NULL;
    char host[256];
    const char *port = pv_probe_split_hostport(hostport, host, sizeof host);
    if (!port) {
        snprintf(err, err_len, "cmsis-dap: '%s' is not HOST:PORT (e.g. tcp:127.0.0.1:3337)",
                 hostport);
        return PV_PROBE_ERR_IO;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, err_len, "cmsis-dap: cannot resolve '%s': %s", hostport, gai_strerror(gai));
        return PV_PROBE_ERR_IO;
    }
    struct tcp_transport *x = calloc(1, sizeof *x);
    if (!x || !(x->in = malloc(HDR + MAX_LEN))) {
        freeaddrinfo(ai);
        free(x);
        snprintf(err, err_len, "cmsis-dap: out of memory");
        return PV_PROBE_ERR_IO;
    }
    x->t = (struct dap_transport){
        .name = "tcp", .send = tcp_send, .recv = tcp_recv, .close = tcp_close};
    x->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    x->fd = pv_probe_tcp_connect(ai, x->timeout_ms);
    int rc = x->fd >= 0 ? PV_PROBE_OK : PV_PROBE_ERR_IO;
    freeaddrinfo(ai);
    if (rc) {
        snprintf(err, err_len, "cmsis-dap: cannot connect to %s: %s", hostport, strerror(errno));
        tcp_close(&x->t);
        return rc;
    }
    *out = &x->t;
    return PV_PROBE_OK;
}
