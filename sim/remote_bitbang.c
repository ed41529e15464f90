/* remote_bitbang protocol (see remote_bitbang.h). The hot path of OpenOCD programming: about 37
 * characters per payload byte, so input is read in big chunks and all answers to a chunk leave
 * in one send. */
#include "remote_bitbang.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "sim_log.h"

#define RBB_CHUNK 65536

void rbb_init(struct rbb *r, chip_t *chip)
{
    *r = (struct rbb){.chip = chip, .srv = {.listen_fd = -1, .client_fd = -1}};
    dap_init(&r->dap, chip);
    jtag_chain_init(&r->chain, &r->dap);
}

void rbb_free(struct rbb *r)
{
    free(r->inbuf);
    free(r->ansbuf);
    r->inbuf = r->ansbuf = NULL;
}

/* RDP Level 2 turns the JTAG port into a fuse: nothing answers, TDO floats high. */
static void check_port(struct rbb *r)
{
    bool dead = r->chip && !chip_debug_port_alive(r->chip);
    if (dead && !r->dead_logged) {
        sim_warn("bitbang: debug port disabled by RDP Level 2: JTAG does not respond (TDO stuck "
                 "high); the chip cannot be debugged any more");
        r->dead_logged = true;
    }
    if (!dead)
        r->dead_logged = false;
    r->dead = dead;
}

static void set_reset_lines(struct rbb *r, bool trst, bool srst)
{
    if (trst)
        jtag_chain_reset(&r->chain); /* TRST holds the TAPs in Test-Logic-Reset */
    r->trst = trst;
    if (srst != r->srst && r->chip)
        chip_set_srst(r->chip, srst);
    r->srst = srst;
}

size_t rbb_process(struct rbb *r, const uint8_t *in, size_t n, uint8_t *out, bool *quit)
{
    size_t nout = 0;
    *quit = false;
    check_port(r);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (c >= '0' && c <= '7') {
            unsigned v = c - '0';
            bool tck = v & 4u;
            /* All TAP work happens on the rising edge of TCK. */
            if (tck && !r->tck && !r->dead && !r->trst)
                jtag_chain_clock(&r->chain, v & 2u, v & 1u);
            r->tck = tck;
        } else if (c == 'R') {
            bool tdo = r->dead ? true : jtag_chain_tdo(&r->chain);
            out[nout++] = tdo ? '1' : '0';
        } else if (c >= 'r' && c <= 'u') {
            unsigned v = c - 'r';
            set_reset_lines(r, v & 2u, v & 1u);
        } else if (c == 'B' || c == 'b') {
            /* LED: nothing to show */
        } else if (c == 'Q') {
            *quit = true;
            break;
        } else if (!r->unknown_logged) {
            /* e.g. SWD or sleep characters of OpenOCD versions after 0.12.0 */
            sim_warn("bitbang: ignoring unknown character 0x%02x (this server speaks OpenOCD "
                     "0.12.0's remote_bitbang: JTAG only)",
                     c);
            r->unknown_logged = true;
        }
    }
    if (r->chip) {
        struct chip_counters *cnt = chip_counters(r->chip);
        cnt->dbg_bytes_in += n;
        cnt->dbg_bytes_out += nout;
        if (nout)
            cnt->dbg_round_trips++;
    }
    return nout;
}

int rbb_open(struct rbb *r, chip_t *chip, const char *addr, uint16_t port, char *err,
             size_t err_len)
{
    rbb_init(r, chip);
    r->inbuf = malloc(RBB_CHUNK);
    r->ansbuf = malloc(RBB_CHUNK);
    if (!r->inbuf || !r->ansbuf) {
        rbb_free(r);
        return -1;
    }
    if (tcp_server_open(&r->srv, "bitbang", addr, port, err, err_len) != 0) {
        rbb_free(r);
        return -1;
    }
    return 0;
}

void rbb_close(struct rbb *r)
{
    tcp_server_close(&r->srv);
    rbb_free(r);
}

int rbb_pollfds(const struct rbb *r, struct pollfd *fds)
{
    /* While answers are still queued, read nothing more: the probe must take them first. */
    return tcp_server_pollfds(&r->srv, fds, r->srv.out.len == 0);
}

static void disconnect(struct rbb *r, const char *why)
{
    sim_log("bitbang: client %s", why);
    tcp_server_drop_client(&r->srv);
    set_reset_lines(r, false, false); /* a probe that went away drives nothing */
    r->unknown_logged = false;
}

bool rbb_handle(struct rbb *r, const struct pollfd *fds, int nfds)
{
    bool busy = false;
    for (int i = 0; i < nfds; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == r->srv.listen_fd) {
            if (tcp_server_accept(&r->srv, false))
                check_port(r);
            continue;
        }
        if (fds[i].fd != r->srv.client_fd)
            continue;
        if ((fds[i].revents & POLLOUT) && outq_flush(&r->srv.out, r->srv.client_fd) != 0) {
            disconnect(r, "gone");
            continue;
        }
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)) || r->srv.out.len)
            continue;
        ssize_t n = read(r->srv.client_fd, r->inbuf, RBB_CHUNK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            disconnect(r, "disconnected");
            continue;
        }
        busy = true;
        bool quit;
        size_t nout = rbb_process(r, r->inbuf, (size_t)n, r->ansbuf, &quit);
        if (nout && (!outq_append(&r->srv.out, r->ansbuf, nout) ||
                     outq_flush(&r->srv.out, r->srv.client_fd) != 0)) {
            disconnect(r, "gone");
            continue;
        }
        if (quit)
            disconnect(r, "quit");
    }
    return busy;
}
