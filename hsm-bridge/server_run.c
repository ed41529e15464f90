/* `hsm-bridge serve`: open the bridge (token, recipes, images, ledger), the TLS context and the
 * listener; then the loop: a once-a-second timer expires sessions, SIGTERM/SIGINT stop
 * accepting (the listener closes, new sessions are refused 503) and drain - sessions in flight
 * may finish until none is left or shutdown_grace_s has passed - then the bridge closes (ending
 * what is left as failed) and the process exits 0. A second signal ends the drain at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/crypto.h>

#include "server.h"

#define DRAIN_POLL_MS 100

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct pv_server *srv = arg;
    pv_bridge_expire(srv->bridge);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct pv_server *srv = arg;
    pv_bridge_expire(srv->bridge);
    unsigned left = pv_bridge_sessions(srv->bridge);
    if (left == 0) {
        pv_log("drained: no session in flight");
        event_base_loopexit(srv->base, NULL);
    } else if (time(NULL) >= srv->deadline) {
        pv_log("grace period over: %u session(s) still in flight are ended as failed", left);
        event_base_loopexit(srv->base, NULL);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct pv_server *srv = arg;
    if (srv->shutting_down) {
        pv_log("%s again: stopping now", sig == SIGINT ? "SIGINT" : "SIGTERM");
        event_base_loopexit(srv->base, NULL);
        return;
    }
    srv->shutting_down = 1;
    srv->deadline = time(NULL) + (time_t)srv->cfg->shutdown_grace_s;
    pv_http_stop_accepting(srv);
    pv_log("%s: stopping; no new connections or sessions, %u session(s) in flight may finish "
           "within %us",
           sig == SIGINT ? "SIGINT" : "SIGTERM", pv_bridge_sessions(srv->bridge),
           srv->cfg->shutdown_grace_s);
    const struct timeval poll = {0, DRAIN_POLL_MS * 1000};
    srv->drain = event_new(srv->base, -1, EV_PERSIST, on_drain, srv);
    if (!srv->drain || event_add(srv->drain, &poll) != 0)
        event_base_loopexit(srv->base, NULL);
}

static void teardown(struct pv_server *srv)
{
    if (srv->tick)
        event_free(srv->tick);
    if (srv->drain)
        event_free(srv->drain);
    if (srv->sigterm)
        event_free(srv->sigterm);
    if (srv->sigint)
        event_free(srv->sigint);
    pv_http_free(srv);
    pv_operator_close(srv);
    pv_operator_free(srv);
    if (srv->bridge)
        pv_bridge_close(srv->bridge);
    if (srv->ssl)
        SSL_CTX_free(srv->ssl);
    if (srv->base)
        event_base_free(srv->base);
    memset(srv, 0, sizeof *srv);
}

int pv_server_run(const struct pv_bridge_server_config *cfg)
{
    static struct pv_server srv; /* one per process; static keeps its size off the stack */
    memset(&srv, 0, sizeof srv);
    srv.cfg = cfg;
    srv.metrics.started = time(NULL);
    signal(SIGPIPE, SIG_IGN); /* a station hanging up mid-answer is an error, not a death */
    char err[2048];
    srv.ssl = pv_tls_server_ctx(cfg->tls_cert, cfg->tls_key, cfg->station_ca, err, sizeof err);
    if (!srv.ssl) {
        pv_log("%s", err);
        teardown(&srv);
        return 6;
    }
    srv.base = event_base_new();
    if (!srv.base) {
        pv_log("event_base_new failed");
        teardown(&srv);
        return 6;
    }
    srv.bridge = pv_bridge_open(&cfg->bridge, err, sizeof err);
    if (!srv.bridge) {
        pv_log("cannot open the bridge: %s", err);
        teardown(&srv);
        return 7;
    }
    if (pv_http_start(&srv, cfg->host, cfg->port, err, sizeof err) != 0) {
        pv_log("%s", err);
        teardown(&srv);
        return 6;
    }
    if (cfg->operator_socket &&
        pv_operator_listen(&srv, cfg->operator_socket, err, sizeof err) != 0) {
        pv_log("%s", err);
        teardown(&srv);
        return 6;
    }
    const struct timeval second = {1, 0};
    srv.tick = event_new(srv.base, -1, EV_PERSIST, on_tick, &srv);
    srv.sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
    srv.sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
    if (!srv.tick || !srv.sigterm || !srv.sigint || event_add(srv.tick, &second) != 0 ||
        event_add(srv.sigterm, NULL) != 0 || event_add(srv.sigint, NULL) != 0) {
        pv_log("cannot set up the timer or the signal handlers");
        teardown(&srv);
        return 6;
    }
    pv_log("listening on https://%s (%u product(s), ledger %s, session ttl %us, grace %us)",
           srv.listen_addr, cfg->n_products,
           strncmp(cfg->ledger, "postgres", 8) == 0 ? "postgresql" : cfg->ledger,
           cfg->session_ttl_s, cfg->shutdown_grace_s);
    if (cfg->operator_socket)
        pv_log("operator's view on unix:%s (http://HOST/operator through ssh -L)",
               cfg->operator_socket);
    int rc = event_base_dispatch(srv.base);
    unsigned left = pv_bridge_sessions(srv.bridge);
    teardown(&srv);
    if (rc < 0) {
        pv_log("the event loop failed");
        return 6;
    }
    pv_log("stopped%s", left ? " (sessions still in flight were recorded as failed)" : "");
    return 0;
}
