#include "probe_util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int pv_probe_errf(char *err, size_t cap, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return code;
}

uint64_t pv_probe_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *pv_probe_split_hostport(const char *target, char *host, size_t host_cap)
{
    const char *colon = strrchr(target, ':');
    if (!colon || colon == target || (size_t)(colon - target) >= host_cap || !colon[1])
        return NULL;
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = 0;
    return colon + 1;
}

int pv_probe_tcp_connect(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int ok = -1;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (poll(&pfd, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                ok = 0;
            else
                errno = soerr ? soerr : ETIMEDOUT;
        }
    }
    if (ok != 0 && fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
        fd = -1;
    }
    return fd;
}

enum pv_probe_send pv_probe_send_all(int fd, const void *buf, size_t n, int timeout_ms, int side_fd,
                                     void (*on_wait)(void *ctx), void *ctx)
{
    const uint8_t *b = buf;
    size_t done = 0;
    uint64_t end = pv_probe_now_ms() + (uint64_t)timeout_ms;
    while (done < n) {
        ssize_t w = send(fd, b + done, n - done, MSG_NOSIGNAL);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return PV_PROBE_SEND_CLOSED;
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return PV_PROBE_SEND_FAILED;
        int left = (int)(end - pv_probe_now_ms());
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLOUT}, {.fd = side_fd, .events = POLLIN}};
        if (left <= 0 || poll(pfd, side_fd >= 0 ? 2 : 1, left) <= 0)
            return PV_PROBE_SEND_TIMEOUT;
        if (on_wait)
            on_wait(ctx);
    }
    return PV_PROBE_SEND_OK;
}
