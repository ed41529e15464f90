/* See tcp_server.h. */
#include "tcp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim_log.h"

static bool parse_addr(const char *addr, struct in_addr *out)
{
    if (strcmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    return inet_pton(AF_INET, addr, out) == 1;
}

bool tcp_addr_is_loopback(const char *addr)
{
    struct in_addr a;
    return parse_addr(addr, &a) && (ntohl(a.s_addr) >> 24) == 127;
}

static bool signal_input;

void tcp_server_signal_input(void)
{
    signal_input = true;
}

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0)
        return -1;
    if (signal_input && fcntl(fd, F_SETOWN, getpid()) == 0)
        fl |= O_ASYNC;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int tcp_server_open(struct tcp_server *srv, const char *name, const char *addr, uint16_t port,
                    char *err, size_t err_len)
{
    *srv = (struct tcp_server){.name = name, .listen_fd = -1, .client_fd = -1};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (!parse_addr(addr, &sa.sin_addr)) {
        snprintf(err, err_len, "--bind %s: not an IPv4 address", addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_len, "%s: socket: %s", name, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        snprintf(err, err_len, "%s port %s:%u: %s%s", name, addr, (unsigned)port, strerror(e),
                 e == EADDRINUSE ? " (another program, or another sim, uses it: pick another "
                                   "port, or 0 for a free one)"
                                 : "");
        close(fd);
        return -1;
    }
    if (listen(fd, 4) != 0 || set_nonblocking(fd) != 0) {
        snprintf(err, err_len, "%s: listen: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    srv->port = ntohs(sa.sin_port);
    srv->listen_fd = fd;
    return 0;
}

void tcp_server_drop_client(struct tcp_server *srv)
{
    if (srv->client_fd >= 0)
        close(srv->client_fd);
    srv->client_fd = -1;
    srv->out.len = 0;
}

void tcp_server_close(struct tcp_server *srv)
{
    tcp_server_drop_client(srv);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    srv->listen_fd = -1;
    outq_free(&srv->out);
}

int tcp_server_accept(struct tcp_server *srv, bool quiet)
{
    if (srv->listen_fd < 0)
        return 0;
    int fd = accept(srv->listen_fd, NULL, NULL);
    if (fd < 0)
        return 0;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    set_nonblocking(fd);
    if (srv->client_fd >= 0) {
        sim_warn("%s: refused a second connection (one client at a time)", srv->name);
        close(fd);
        return 0;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    srv->client_fd = fd;
    srv->out.len = 0;
    if (!quiet)
        sim_log("%s: client connected", srv->name);
    return 1;
}

int tcp_server_pollfds(const struct tcp_server *srv, struct pollfd *fds, bool want_input)
{
    int n = 0;
    if (srv->listen_fd >= 0)
        fds[n++] = (struct pollfd){.fd = srv->listen_fd, .events = POLLIN};
    if (srv->client_fd >= 0) {
        short ev = want_input ? POLLIN : 0;
        if (srv->out.len)
            ev |= POLLOUT;
        fds[n++] = (struct pollfd){.fd = srv->client_fd, .events = ev};
    }
    return n;
}

bool outq_append(struct outq *q, const void *data, size_t len)
{
    if (q->len + len > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + len)
            cap *= 2;
        uint8_t *p = realloc(q->data, cap);
        if (!p)
            return false;
        q->data = p;
        q->cap = cap;
    }
    memcpy(q->data + q->len, data, len);
    q->len += len;
    return true;
}

int outq_flush(struct outq *q, int fd)
{
    size_t off = 0;
    while (off < q->len) {
        ssize_t n = send(fd, q->data + off, q->len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        q->len = 0;
        return -1;
    }
    if (off) {
        memmove(q->data, q->data + off, q->len - off);
        q->len -= off;
    }
    return 0;
}

void outq_free(struct outq *q)
{
    free(q->data);
    *q = (struct outq){0};
}
