/* OpenOCD 0.12.0 remote_bitbang server (STM32F4-FACTS §1): a TCP byte stream of write/sample/reset
 * characters driving the JTAG chain of jtag_tap.c, which drives the DAP of adiv5_dap.c. */
#ifndef SIM_REMOTE_BITBANG_H
#define SIM_REMOTE_BITBANG_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adiv5_dap.h"
#include "chip.h"
#include "jtag_tap.h"
#include "tcp_server.h"

struct rbb {
    chip_t *chip;
    struct adiv5_dap dap;
    struct jtag_chain chain;
    struct tcp_server srv;
    bool tck;        /* TCK level of the last write character */
    bool srst, trst; /* reset lines as last driven */
    bool dead;       /* debug port disabled (RDP Level 2): TDO stuck at 1, no TAP */
    bool dead_logged;
    bool unknown_logged;
    uint8_t *inbuf, *ansbuf;
};

/* Session state without a socket (also what the unit tests drive). */
void rbb_init(struct rbb *r, chip_t *chip);
void rbb_free(struct rbb *r);
/* Processes n protocol bytes strictly in order and writes one '0'/'1' per 'R' to out (room for n
 * bytes). Returns the number of answer bytes; *quit is set when a 'Q' was seen (bytes after it are
 * not processed). */
size_t rbb_process(struct rbb *r, const uint8_t *in, size_t n, uint8_t *out, bool *quit);

/* Socket side: listen on addr:port (0 = any free port). */
int rbb_open(struct rbb *r, chip_t *chip, const char *addr, uint16_t port, char *err,
             size_t err_len);
void rbb_close(struct rbb *r);
int rbb_pollfds(const struct rbb *r, struct pollfd *fds);
/* Serves what poll reported on the fds rbb_pollfds filled. Returns true when debugger bytes were
 * processed (the event loop keeps CPU slices short while a debugger is busy). */
bool rbb_handle(struct rbb *r, const struct pollfd *fds, int nfds);

#endif
