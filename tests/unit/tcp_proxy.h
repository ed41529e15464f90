/* A TCP proxy for fault tests (tests/unit/test_bridge_faults.c): listens on 127.0.0.1 and
 * forwards every connection, byte for byte, to 127.0.0.1:PORT, where PORT is read from a file
 * at each new connection (so a restarted server on another port is reached through the same
 * URL). A TLS stream passes untouched: the proxy sees only how many bytes go which way.
 *
 * It can cut one connection at a chosen point of the server's answers. The server's bytes come
 * in bursts: a burst starts when the server sends after the client did (HTTP/1.1 without
 * pipelining: one burst per answer). On a TLS 1.3 connection to hsm-bridge, burst 1 is the
 * server's handshake flight and burst N+1 the answer to the N-th request. The cut forwards
 * `after` bytes of burst `burst` and then resets both sides (RST, as a middlebox that drops the
 * flow); later connections are forwarded whole. Everything it does goes into its log, one line
 * per event ("conn 1 open", "conn 1 burst 3 s2c 27431", "conn 1 cut burst 3 after 8000",
 * "conn 1 closed c2s 1234 s2c 40000").
 *
 * The proxy is a child process (forked, dies with the test: PR_SET_PDEATHSIG, and sim_process.h's
 * watchdog and exit hook kill it). */
#ifndef TESTS_UNIT_TCP_PROXY_H
#define TESTS_UNIT_TCP_PROXY_H

#include <netinet/tcp.h>
#include <stdarg.h>

#include "sim_process.h"

#define TP_CONNS_MAX 8

struct tcp_proxy {
    pid_t pid;
    int port;              /* where it listens */
    char target_file[256]; /* the server's port, as text */
    char log[256];
};

/* Where the proxy forwards new connections from now on. */
static inline void tcp_proxy_target(const struct tcp_proxy *p, int port)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", p->target_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%d\n", port);
    fclose(f);
    rename(tmp, p->target_file);
}

static inline int tp_read_target(const char *path)
{
    FILE *f = fopen(path, "r");
    int port = -1;
    if (f) {
        if (fscanf(f, "%d", &port) != 1)
            port = -1;
        fclose(f);
    }
    return port;
}

static inline void tp_log(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void tp_log(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static inline bool tp_write_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        b += w, n -= (size_t)w;
    }
    return true;
}

static inline void tp_reset(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

struct tp_conn {
    int c, s; /* client, server; -1: free */
    unsigned id, burst;
    int last;        /* 0 none, 1 client spoke last, 2 server spoke last */
    size_t in_burst; /* server bytes in the current burst */
    size_t c2s, s2c;
};

static inline void tp_close(const char *log, struct tp_conn *k, bool reset)
{
    if (k->last == 2)
        tp_log(log, "conn %u burst %u s2c %zu", k->id, k->burst, k->in_burst);
    tp_log(log, "conn %u %s c2s %zu s2c %zu", k->id, reset ? "cut" : "closed", k->c2s, k->s2c);
    if (reset) {
        tp_reset(k->c);
        tp_reset(k->s);
    } else {
        close(k->c);
        close(k->s);
    }
    k->c = k->s = -1;
}

static inline void tp_serve(int lfd, const char *target_file, const char *log, unsigned cut_burst,
                            size_t cut_after)
{
    struct tp_conn k[TP_CONNS_MAX];
    for (int i = 0; i < TP_CONNS_MAX; i++)
        k[i].c = k[i].s = -1;
    unsigned next_id = 1;
    bool cut_done = cut_burst == 0;
    static char buf[65536];
    for (;;) {
        struct pollfd pfd[1 + 2 * TP_CONNS_MAX];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < TP_CONNS_MAX; i++) {
            pfd[n++] = (struct pollfd){.fd = k[i].c, .events = POLLIN};
            pfd[n++] = (struct pollfd){.fd = k[i].s, .events = POLLIN};
        }
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (pfd[0].revents & POLLIN) {
            int c = accept(lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < TP_CONNS_MAX && slot < 0; i++)
                if (k[i].c < 0)
                    slot = i;
            int port = tp_read_target(target_file);
            int s = c >= 0 && slot >= 0 && port > 0 ? sp_connect(port, 0) : -1;
            if (s < 0) {
                tp_log(log, "conn %u refused (target port %d)", next_id++, port);
                if (c >= 0)
                    tp_reset(c);
            } else {
                int one = 1;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                k[slot] = (struct tp_conn){.c = c, .s = s, .id = next_id++};
                tp_log(log, "conn %u open to %d", k[slot].id, port);
            }
        }
        for (int i = 0; i < TP_CONNS_MAX; i++) {
            struct tp_conn *t = &k[i];
            for (int dir = 0; dir < 2 && t->c >= 0; dir++) {
                short ev = pfd[1 + 2 * i + dir].revents;
                if (!(ev & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                int from = dir ? t->s : t->c, to = dir ? t->c : t->s;
                ssize_t r = read(from, buf, sizeof buf);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    tp_close(log, t, false);
                    break;
                }
                size_t len = (size_t)r;
                if (dir == 0) { /* client -> server */
                    if (t->last == 2)
                        tp_log(log, "conn %u burst %u s2c %zu", t->id, t->burst, t->in_burst);
                    t->last = 1;
                    t->c2s += len;
                } else { /* server -> client */
                    if (t->last != 2) {
                        t->burst++;
                        t->in_burst = 0;
                    }
                    t->last = 2;
                    if (!cut_done && t->burst == cut_burst && t->in_burst + len >= cut_after) {
                        size_t k2 = cut_after - t->in_burst;
                        tp_write_all(to, buf, k2);
                        t->in_burst += k2;
                        t->s2c += k2;
                        tp_log(log, "conn %u cut burst %u after %zu", t->id, t->burst, t->in_burst);
                        cut_done = true;
                        t->last = 0;
                        tp_close(log, t, true);
                        break;
                    }
                    t->in_burst += len;
                    t->s2c += len;
                }
                if (!tp_write_all(to, buf, len)) {
                    tp_close(log, t, false);
                    break;
                }
            }
        }
    }
}

/* Starts a proxy in dir (its target file and log go there) forwarding to target_port; cut_burst
 * 0: never cut. False with a message if it cannot listen. */
static inline bool tcp_proxy_start(struct tcp_proxy *p, const char *dir, const char *name,
                                   int target_port, unsigned cut_burst, size_t cut_after)
{
    memset(p, 0, sizeof *p);
    snprintf(p->target_file, sizeof p->target_file, "%s/%s.target", dir, name);
    snprintf(p->log, sizeof p->log, "%s/%s.log", dir, name);
    unlink(p->log);
    tcp_proxy_target(p, target_port);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("tcp_proxy: listen");
        if (lfd >= 0)
            close(lfd);
        return false;
    }
    p->port = ntohs(sa.sin_port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(lfd);
        return false;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGALRM, SIG_DFL);
        alarm(0);
        tp_serve(lfd, p->target_file, p->log, cut_burst, cut_after);
        _exit(0);
    }
    close(lfd);
    p->pid = pid;
    for (int i = 0; i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] == 0) {
            sp_children[i] = pid;
            break;
        }
    return true;
}

static inline void tcp_proxy_stop(struct tcp_proxy *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        sp_wait(p->pid, 5000);
    }
    p->pid = 0;
}

/* The proxy's log so far (malloc'd, "" if none). */
static inline char *tcp_proxy_log(const struct tcp_proxy *p)
{
    char *s = sp_slurp(p->log, NULL);
    return s ? s : calloc(1, 1);
}

/* The size of the server's burst `burst` on connection `conn` as logged, or 0. */
static inline size_t tcp_proxy_burst(const struct tcp_proxy *p, unsigned conn, unsigned burst)
{
    char *s = tcp_proxy_log(p), pat[64];
    snprintf(pat, sizeof pat, "conn %u burst %u s2c ", conn, burst);
    char *at = s ? strstr(s, pat) : NULL;
    size_t n = at ? (size_t)strtoull(at + strlen(pat), NULL, 10) : 0;
    free(s);
    return n;
}

#endif
