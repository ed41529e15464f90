/* The HTTPS server of `hsm-bridge serve` (docs/bridge-protocol.md, docs/bridge.md): libevent's
 * evhttp over bufferevent_openssl, one thread, one event loop driving one pv_bridge.
 *
 *   server_tls.c      the SSL_CTX (TLS 1.3 only, client certificate requested, verified by the
 *                     bridge) and the peer's identity as a request sees it
 *   server_http.c     evhttp, the listener, one request's life: who asks, route, reply, log line
 *   server_routes.c   the protocol's endpoints on pv_bridge_*
 *   server_metrics.c  the HTTP layer's Prometheus series
 *   server_operator.c the operator's view: its page, and the figures the page polls
 *   server_operator_page.c  the page (hsm-bridge/operator/: HTML, style sheet, script) built in
 *   server_operator_socket.c  the operator's view on a Unix socket (plain HTTP for browsers)
 *   server_log.c      one line per event on stderr (journald)
 *   server_run.c      startup, the once-a-second timer, SIGTERM/SIGINT and the drain
 */
#ifndef PV_HSM_BRIDGE_SERVER_H
#define PV_HSM_BRIDGE_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <openssl/ssl.h>

#include "bridge.h"
#include "bridge_config.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;
struct event;
struct evbuffer;
struct json_t;

#define PV_SERVER_BODY_MAX      (16u * 1024u) /* the protocol's limit: 413 too_large above */
#define PV_SERVER_BODY_HARD_MAX (1u << 20)    /* evhttp stops reading here (its own 413) */
#define PV_SERVER_HEADERS_MAX   8192u

/* ---- routes and metrics ---- */

enum pv_route {
    PV_ROUTE_PLAN,
    PV_ROUTE_BEGIN,
    PV_ROUTE_VERIFIED,
    PV_ROUTE_LOCK,
    PV_ROUTE_FAIL,
    PV_ROUTE_HEALTHZ,
    PV_ROUTE_METRICS,
    PV_ROUTE_UPDATE_BEGIN,  /* POST /v1/update/begin */
    PV_ROUTE_UPDATE_STREAM, /* GET /v1/update/ID/stream */
    PV_ROUTE_UPDATE_REPORT, /* POST /v1/update/ID/report */
    PV_ROUTE_OPERATOR,      /* GET /operator and below: the operator's view */
    PV_ROUTE_OTHER,
    PV_ROUTE_COUNT
};
const char *pv_route_name(enum pv_route r);

#define PV_METRICS_STATUSES 24u
#define PV_METRICS_ERRORS   32u
#define PV_METRICS_BUCKETS  12u

struct pv_server_metrics {
    struct {
        int status;
        uint64_t n;
    } requests[PV_ROUTE_COUNT][PV_METRICS_STATUSES];
    struct {
        char error[40];
        uint64_t n;
    } errors[PV_METRICS_ERRORS];
    uint64_t duration_buckets[PV_ROUTE_COUNT][PV_METRICS_BUCKETS]; /* cumulative at output */
    double duration_sum[PV_ROUTE_COUNT];
    uint64_t duration_count[PV_ROUTE_COUNT];
    uint64_t connections; /* TLS connections accepted */
    time_t started;
};

void pv_metrics_request(struct pv_server_metrics *m, enum pv_route r, int status, const char *error,
                        double seconds);
/* The HTTP layer's series in Prometheus text format. */
void pv_metrics_write(const struct pv_server_metrics *m, FILE *out, int shutting_down);

/* ---- the operator's view: live state (server_operator.c) ---- */

#define PV_OPERATOR_STATIONS_MAX 256u /* stations remembered as seen; the oldest is forgotten */

struct pv_operator_state {
    struct {
        char name[64];
        time_t last_seen; /* the station's last accepted request (CLOCK_REALTIME seconds) */
    } seen[PV_OPERATOR_STATIONS_MAX];
    unsigned n_seen;
    char *status;       /* the figures as last computed (JSON text), shared by every poll */
    struct timespec at; /* when (CLOCK_MONOTONIC) */
    long keep_ms;       /* how long they are served before being computed again */
};

/* ---- the server ---- */

struct pv_server {
    const struct pv_bridge_server_config *cfg;
    pv_bridge *bridge;
    SSL_CTX *ssl;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct event *tick, *drain, *sigterm, *sigint;
    char listen_addr[PV_BRIDGE_HOST_MAX + 16]; /* what we listen on, for the log */
    int shutting_down;
    time_t deadline;
    struct pv_server_metrics metrics;
    struct pv_operator_state op;
    struct evhttp *op_http; /* operator_socket's listener, or NULL */
    char op_path[PV_BRIDGE_SOCKET_PATH_MAX + 1];
};

/* ---- TLS (server_tls.c) ---- */

/* The SSL_CTX: TLS 1.3 only, server certificate chain and key, client certificates requested
 * and verified against the station CA, every verdict left to the request handler. NULL with
 * err. */
SSL_CTX *pv_tls_server_ctx(const char *cert, const char *key, const char *station_ca, char *err,
                           size_t err_len);

/* Who is at the other end of a request's connection. */
struct pv_peer {
    int has_cert;         /* a client certificate was presented */
    int trusted;          /* it chains to the station CA (and is for a TLS client) */
    char why[256];        /* !trusted: OpenSSL's reason and the depth */
    char name[64];        /* subject CN ("" if none or not a station name) */
    char cert_sha256[65]; /* SHA-256 of its DER, lowercase hex */
    char addr[64];        /* "ip:port" */
};
/* Fills p for req. 0, or -1 when the connection is not TLS (a bug). */
int pv_tls_peer(struct evhttp_request *req, struct pv_peer *p);

/* ---- one request (server_http.c) ---- */

struct pv_req {
    struct pv_server *srv;
    struct evhttp_request *req;
    enum pv_route route;
    struct pv_peer peer;
    const char *station;      /* peer.name once the registry accepted it; else NULL */
    enum pv_bridge_role role; /* what the registry says the accepted certificate may do */
    char session[PV_BRIDGE_SESSION_ID_LEN];
    char detail[384]; /* what the log line says about the request (no secrets) */
    int status;       /* what was answered */
    char error[40];
    char reason[512];
    struct timespec t0;
};

/* Replies with a JSON document (stolen) and status. */
void pv_reply_json(struct pv_req *r, int status, struct json_t *doc);
/* A refusal: status and {"error","reason"}. */
__attribute__((format(printf, 4, 5))) void pv_refuse(struct pv_req *r, int status,
                                                     const char *error, const char *fmt, ...);
void pv_refuse_err(struct pv_req *r, const struct pv_bridge_err *e);
/* 200 application/x-pv-frames with body (the frames, each length-prefixed); PV-Session when
 * session is not NULL. */
void pv_reply_frames(struct pv_req *r, struct evbuffer *body, const char *session);
/* 200 with a text body of content type type. */
void pv_reply_text(struct pv_req *r, const char *type, const char *text, size_t len);

/* Sets up evhttp on srv->base with srv->ssl and binds host:port (port 0: a free one). 0, or -1
 * with err. */
int pv_http_start(struct pv_server *srv, const char *host, unsigned port, char *err,
                  size_t err_len);
/* Stops accepting connections (the listener is closed). */
void pv_http_stop_accepting(struct pv_server *srv);
void pv_http_free(struct pv_server *srv);

/* ---- endpoints (server_routes.c) ---- */

/* Which route path and method name; PV_ROUTE_OTHER for an unknown path. *method_ok is 0 when the
 * path is known and the method is not its method; session receives the path's session id. */
enum pv_route pv_route_of(const char *path, int method, int *method_ok,
                          char session[PV_BRIDGE_SESSION_ID_LEN]);
/* The endpoint's work (the station is accepted already, the body within the limit). */
void pv_route_handle(struct pv_req *r);

/* ---- the operator's view (server_operator.c) ---- */

/* A station's request was accepted: it is online. */
void pv_operator_seen(struct pv_server *srv, const char *station);
/* GET /operator, /operator/app.js, /operator/app.css, /operator/status (the accepted peer is an
 * operator). */
void pv_operator_handle(struct pv_req *r, const char *path);
void pv_operator_free(struct pv_server *srv);
/* Listens on the Unix socket path (server_operator_socket.c): mode 0660, the operator's view
 * only. 0, or -1 with err. */
int pv_operator_listen(struct pv_server *srv, const char *path, char *err, size_t err_len);
/* Stops listening and removes the socket. */
void pv_operator_close(struct pv_server *srv);

/* The page (server_operator_page.c): NUL-terminated texts. */
extern const char pv_operator_html[], pv_operator_css[], pv_operator_js[];

/* ---- log (server_log.c) ---- */

__attribute__((format(printf, 1, 2))) void pv_log(const char *fmt, ...);
/* The request's line: station, session, what, status, error and reason. */
void pv_log_request(const struct pv_req *r);

/* ---- run (server_run.c) ---- */

/* Opens the bridge, listens, serves until SIGTERM/SIGINT and the drain, closes. Exit code of
 * `hsm-bridge serve`. */
int pv_server_run(const struct pv_bridge_server_config *cfg);

#endif
