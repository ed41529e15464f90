/* A device's USART1 for `provision update` (update_link.h): a serial port or the sim's TCP
 * socket, bytes through the update protocol's frame reader, console text split off line by line. */
#include "update_link.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#define TEXT_MAX 240

struct pv_upd_link {
    int fd;
    pv_upd_reader rd;
    uint8_t in[4096];
    size_t in_len, in_pos;
    char text[TEXT_MAX + 1];
    size_t text_len;
    int text_bad;
    void (*console)(void *ctx, const char *line);
    void *console_ctx;
    uint64_t out_bytes, in_bytes;
};

static int open_tcp(const char *hostport, char *err, size_t err_len)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host || !colon[1]) {
        snprintf(err, err_len, "tcp:%s is not tcp:HOST:PORT (e.g. tcp:127.0.0.1:4445)", hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_len, "tcp:%s: %s", hostport, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            snprintf(err, err_len, "tcp:%s: cannot connect: %s", hostport, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* 115200 8N1, raw, no flow control, reads return what is there. */
static int open_serial(const char *path, char *err, size_t err_len)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        snprintf(err, err_len, "%s: not a serial port: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
    t.c_cflag |= CLOCAL | CREAD | CS8;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, B115200) != 0 || cfsetospeed(&t, B115200) != 0 ||
        tcsetattr(fd, TCSANOW, &t) != 0) {
        snprintf(err, err_len, "%s: cannot set 115200 8N1 raw: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    tcflush(fd, TCIOFLUSH);
    return fd;
}

pv_upd_link *pv_upd_link_open(const char *spec, char *err, size_t err_len)
{
    pv_upd_link *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    l->fd = strncmp(spec, "tcp:", 4) == 0 ? open_tcp(spec + 4, err, err_len)
                                          : open_serial(spec, err, err_len);
    if (l->fd < 0) {
        free(l);
        return NULL;
    }
    pv_upd_reader_init(&l->rd);
    return l;
}

void pv_upd_link_close(pv_upd_link *l)
{
    if (!l)
        return;
    close(l->fd);
    free(l);
}

void pv_upd_link_on_console(pv_upd_link *l, void (*fn)(void *ctx, const char *line), void *ctx)
{
    l->console = fn;
    l->console_ctx = ctx;
}

int pv_upd_link_write(pv_upd_link *l, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(l->fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
        l->out_bytes += (uint64_t)w;
    }
    return 0;
}

int pv_upd_link_send(pv_upd_link *l, uint8_t type, const uint8_t *body, size_t len)
{
    uint8_t wire[PV_UPD_WIRE_MAX];
    int n = pv_upd_frame_encode(wire, sizeof wire, type, body, len);
    return n > 0 ? pv_upd_link_write(l, wire, (size_t)n) : -1;
}

/* Console text: printable bytes up to a line end; a delimiter or a binary byte ends it unseen. */
static void text_byte(pv_upd_link *l, uint8_t c)
{
    if (c == 0) {
        l->text_len = 0;
        l->text_bad = 0;
    } else if (c == '\n') {
        if (!l->text_bad && l->text_len && l->console) {
            l->text[l->text_len] = 0;
            l->console(l->console_ctx, l->text);
        }
        l->text_len = 0;
        l->text_bad = 0;
    } else if (c == '\r') {
    } else if (c < 0x20 || c > 0x7e || l->text_len == TEXT_MAX) {
        l->text_bad = 1;
    } else {
        l->text[l->text_len++] = (char)c;
    }
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

int pv_upd_link_recv(pv_upd_link *l, pv_upd_frame *f, int timeout_ms, char *err, size_t err_len)
{
    uint64_t until = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        while (l->in_pos < l->in_len) {
            uint8_t c = l->in[l->in_pos++];
            text_byte(l, c);
            if (pv_upd_reader_push(&l->rd, c, f) == PV_UPD_FRAME)
                return 1;
        }
        uint64_t now = now_ms();
        if (now >= until)
            return 0;
        struct pollfd p = {.fd = l->fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)(until - now));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            snprintf(err, err_len, "the link failed: %s", strerror(errno));
            return -1;
        }
        if (rc == 0)
            return 0;
        ssize_t n = read(l->fd, l->in, sizeof l->in);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            snprintf(err, err_len, "the link was closed%s%s", n < 0 ? ": " : " by the other end",
                     n < 0 ? strerror(errno) : "");
            return -1;
        }
        l->in_len = (size_t)n;
        l->in_pos = 0;
        l->in_bytes += (uint64_t)n;
    }
}

uint64_t pv_upd_link_bytes_out(const pv_upd_link *l)
{
    return l->out_bytes;
}

uint64_t pv_upd_link_bytes_in(const pv_upd_link *l)
{
    return l->in_bytes;
}
