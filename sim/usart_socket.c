/* See usart_socket.h. */
#include "usart_socket.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sim_log.h"

int usart_socket_open(struct usart_socket *u, chip_t *chip, const char *addr, uint16_t port,
                      char *err, size_t err_len)
{
    u->chip = chip;
    return tcp_server_open(&u->srv, "usart", addr, port, err, err_len);
}

void usart_socket_close(struct usart_socket *u)
{
    tcp_server_close(&u->srv);
}

int usart_socket_pollfds(const struct usart_socket *u, struct pollfd *fds)
{
    return tcp_server_pollfds(&u->srv, fds, true);
}

void usart_socket_pump(struct usart_socket *u)
{
    uint8_t buf[4096];
    size_t n;
    while ((n = chip_usart_take_tx(u->chip, buf, sizeof buf)) > 0) {
        struct outq *q = &u->srv.out;
        size_t limit = u->srv.client_fd < 0 ? USART_BACKLOG_LIMIT : USART_QUEUE_LIMIT;
        if (q->len + n > limit) {
            /* nobody reads: keep the newest output only */
            size_t drop = q->len + n - limit;
            if (drop > q->len)
                drop = q->len;
            memmove(q->data, q->data + drop, q->len - drop);
            q->len -= drop;
        }
        outq_append(q, buf, n);
    }
    if (u->srv.client_fd >= 0 && u->srv.out.len && outq_flush(&u->srv.out, u->srv.client_fd) != 0) {
        sim_log("usart: client gone");
        tcp_server_drop_client(&u->srv);
    }
}

bool usart_socket_handle(struct usart_socket *u, const struct pollfd *fds, int nfds)
{
    bool got = false;
    for (int i = 0; i < nfds; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == u->srv.listen_fd) {
            /* keep the backlog (accepting clears the queue) */
            size_t backlog = u->srv.out.len;
            if (tcp_server_accept(&u->srv, false))
                u->srv.out.len = backlog;
            continue;
        }
        if (fds[i].fd != u->srv.client_fd)
            continue;
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[4096];
            ssize_t n = read(u->srv.client_fd, buf, sizeof buf);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0) {
                sim_log("usart: client disconnected");
                tcp_server_drop_client(&u->srv);
                continue;
            }
            chip_usart_give_rx(u->chip, buf, (size_t)n);
            got = true;
        }
    }
    usart_socket_pump(u);
    return got;
}
