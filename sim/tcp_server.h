/* Small TCP helpers shared by the front ends: a loopback listener with one client at a time, and an
 * output queue that never blocks the single-threaded event loop. */
#ifndef SIM_TCP_SERVER_H
#define SIM_TCP_SERVER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes waiting to be sent to a non-blocking socket. */
struct outq {
    uint8_t *data;
    size_t len, cap;
};

/* A listening socket and its (single) client. */
struct tcp_server {
    const char *name; /* "bitbang", "gdb", "usart": used in log lines */
    int listen_fd;
    int client_fd; /* -1 when nobody is connected */
    uint16_t port; /* the bound port (the chosen one when asked for port 0) */
    struct outq out;
};

/* From now on, sockets opened or accepted here raise SIGIO when input arrives (O_ASYNC), so the
 * event loop can cut a CPU slice short. The caller must handle SIGIO first: its default action
 * ends the process. */
void tcp_server_signal_input(void);
/* True when addr is an IPv4 loopback address (127.0.0.0/8) or "localhost". */
bool tcp_addr_is_loopback(const char *addr);
/* Listens on addr:port (port 0 picks a free port). On failure writes a reason and returns -1. */
int tcp_server_open(struct tcp_server *srv, const char *name, const char *addr, uint16_t port,
                    char *err, size_t err_len);
void tcp_server_close(struct tcp_server *srv);
/* Accepts a pending connection. Returns 1 when a new client was accepted, 0 when nothing was
 * pending, and refuses (closes) a second client while one is connected. */
int tcp_server_accept(struct tcp_server *srv, bool quiet);
void tcp_server_drop_client(struct tcp_server *srv);
/* Fills pollfds for the listener and the client (POLLOUT while output is queued); returns the
 * count. */
int tcp_server_pollfds(const struct tcp_server *srv, struct pollfd *fds, bool want_input);

bool outq_append(struct outq *q, const void *data, size_t len);
/* Sends as much as the socket takes. Returns 0, or -1 when the peer is gone. */
int outq_flush(struct outq *q, int fd);
void outq_free(struct outq *q);

#endif
