/* USART1 as a TCP socket: what the firmware transmits goes to the connected client, what the
 * client sends arrives on RX. Output produced while nobody is connected is kept (up to a limit)
 * and delivered on connect, so a client that connects late still sees a boot banner. */
#ifndef SIM_USART_SOCKET_H
#define SIM_USART_SOCKET_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "chip.h"
#include "tcp_server.h"

#define USART_BACKLOG_LIMIT (64 * 1024)   /* kept while nobody is connected */
#define USART_QUEUE_LIMIT   (1024 * 1024) /* queued for a client that does not read */

struct usart_socket {
    chip_t *chip;
    struct tcp_server srv;
};

int usart_socket_open(struct usart_socket *u, chip_t *chip, const char *addr, uint16_t port,
                      char *err, size_t err_len);
void usart_socket_close(struct usart_socket *u);
int usart_socket_pollfds(const struct usart_socket *u, struct pollfd *fds);
/* Moves client bytes to RX; returns true if any arrived. */
bool usart_socket_handle(struct usart_socket *u, const struct pollfd *fds, int nfds);
/* Moves the firmware's TX bytes to the client (or the backlog); call after each CPU slice. */
void usart_socket_pump(struct usart_socket *u);

#endif
