/* The HTTP layer: evhttp on TLS bufferevents, and one request's life - the route, who asks
 * (certificate, registry), the body limit, the endpoint, then one log line and the metrics. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "server.h"

static const char *phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void send_reply(struct pv_req *r, int status, const char *type, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    /* While draining, a station's connection stays open for the steps of its session in flight;
     * a refused one is closed (the listener is gone, it must go to another bridge). */
    if (r->srv->shutting_down && status == 503)
        evhttp_add_header(h, "Connection", "close");
    r->status = status;
    evhttp_send_reply(r->req, status, phrase(status), body);
}

void pv_reply_json(struct pv_req *r, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    struct evbuffer *b = evbuffer_new();
    if (!text || !b) {
        free(text);
        if (b)
            evbuffer_free(b);
        r->status = 500;
        snprintf(r->error, sizeof r->error, "internal");
        snprintf(r->reason, sizeof r->reason, "out of memory");
        evhttp_send_error(r->req, 500, NULL);
        return;
    }
    evbuffer_add(b, text, strlen(text));
    evbuffer_add(b, "\n", 1);
    free(text);
    send_reply(r, status, "application/json", b);
    evbuffer_free(b);
}

void pv_refuse(struct pv_req *r, int status, const char *error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    snprintf(r->error, sizeof r->error, "%s", error);
    pv_reply_json(r, status, json_pack("{s:s, s:s}", "error", r->error, "reason", r->reason));
}

void pv_refuse_err(struct pv_req *r, const struct pv_bridge_err *e)
{
    int status = e->status >= 400 && e->status <= 599 ? e->status : 500;
    pv_refuse(r, status, e->error[0] ? e->error : "internal", "%s", e->reason);
}

void pv_reply_frames(struct pv_req *r, struct evbuffer *body, const char *session)
{
    if (session)
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "PV-Session", session);
    send_reply(r, 200, "application/x-pv-frames", body);
}

void pv_reply_text(struct pv_req *r, const char *type, const char *text, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        pv_refuse(r, 500, "internal", "out of memory");
        return;
    }
    evbuffer_add(b, text, len);
    send_reply(r, 200, type, b);
    evbuffer_free(b);
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Accepts the peer as a station (401/403 otherwise). 0 if it may go on. */
static int admit(struct pv_req *r)
{
    if (pv_tls_peer(r->req, &r->peer) != 0) {
        pv_refuse(r, 500, "internal", "the connection has no TLS session");
        return -1;
    }
    if (!r->peer.has_cert) {
        pv_refuse(r, 401, "no_client_certificate",
                  "the TLS connection carries no client certificate; a station presents the "
                  "certificate hsm-bridge station enroll issued");
        return -1;
    }
    if (!r->peer.trusted) {
        pv_refuse(r, 403, "certificate_not_trusted",
                  "the client certificate does not chain to this bridge's station CA: %s",
                  r->peer.why);
        return -1;
    }
    if (!r->peer.name[0]) {
        pv_refuse(r, 403, "station_unknown",
                  "the client certificate's subject has no single CN that is a station name");
        return -1;
    }
    struct pv_bridge_station st = {.name = r->peer.name, .cert_sha256 = r->peer.cert_sha256};
    struct pv_bridge_err e = {0};
    if (pv_bridge_station_role(r->srv->bridge, &st, &r->role, &e) != 0) {
        pv_refuse_err(r, &e);
        return -1;
    }
    r->station = r->peer.name;
    return 0;
}

/* The role's routes: an operator reads the operator's view and /metrics; a station everything
 * but the operator's view. 0 if r may go on, else refused (403). */
static int role_allows(struct pv_req *r)
{
    int operator_route = r->route == PV_ROUTE_OPERATOR;
    int shared = r->route == PV_ROUTE_METRICS || r->route == PV_ROUTE_OTHER;
    if (r->role == PV_BRIDGE_ROLE_OPERATOR && !operator_route && !shared) {
        pv_refuse(r, 403, "operator_certificate",
                  "'%s' is an operator's certificate: it reads /operator and /metrics and may "
                  "not provision or update devices; a station uses its own certificate",
                  r->station);
        return -1;
    }
    if (r->role != PV_BRIDGE_ROLE_OPERATOR && operator_route) {
        pv_refuse(r, 403, "not_operator",
                  "station '%s' may not read the operator's view; an operator's certificate "
                  "does (hsm-bridge station enroll NAME --operator)",
                  r->station);
        return -1;
    }
    /* online: a station at work (a Prometheus scraper's /metrics is not a station online) */
    if (r->role == PV_BRIDGE_ROLE_STATION && !shared)
        pv_operator_seen(r->srv, r->station);
    return 0;
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct pv_server *srv = arg;
    struct pv_req r = {.srv = srv, .req = req};
    clock_gettime(CLOCK_MONOTONIC, &r.t0);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int method_ok = 1;
    r.route = pv_route_of(path ? path : "", (int)m, &method_ok, r.session);

    if (r.route == PV_ROUTE_HEALTHZ && method_ok) {
        pv_tls_peer(req, &r.peer); /* for the log line only: no certificate needed */
        pv_route_handle(&r);
    } else if (srv->shutting_down &&
               (r.route == PV_ROUTE_PLAN || r.route == PV_ROUTE_BEGIN ||
                r.route == PV_ROUTE_UPDATE_BEGIN || !method_ok || r.route == PV_ROUTE_OTHER)) {
        pv_tls_peer(req, &r.peer);
        pv_refuse(&r, 503, "shutting_down",
                  "the bridge is stopping and begins no new session; retry on another bridge "
                  "or after the restart");
    } else if (admit(&r) != 0 || role_allows(&r) != 0) {
        /* refused: 401 or 403 */
    } else if (r.route == PV_ROUTE_OTHER) {
        pv_refuse(&r, 404, "not_found", "no endpoint %s (docs/bridge-protocol.md)",
                  path ? path : "?");
    } else if (!method_ok) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          r.route == PV_ROUTE_PLAN || r.route == PV_ROUTE_HEALTHZ ||
                                  r.route == PV_ROUTE_METRICS ||
                                  r.route == PV_ROUTE_UPDATE_STREAM || r.route == PV_ROUTE_OPERATOR
                              ? "GET"
                              : "POST");
        pv_refuse(&r, 405, "method_not_allowed", "%s is not a method of %s", method_name(m), path);
    } else if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > PV_SERVER_BODY_MAX) {
        pv_refuse(&r, 413, "too_large", "the request body has %zu bytes; at most %u are accepted",
                  evbuffer_get_length(evhttp_request_get_input_buffer(req)), PV_SERVER_BODY_MAX);
    } else {
        pv_route_handle(&r);
    }
    double secs = since(&r.t0);
    pv_metrics_request(&srv->metrics, r.route, r.status, r.error[0] ? r.error : NULL, secs);
    /* probes every few seconds, and the operator's page polls: their successes are not logged */
    if (!((r.route == PV_ROUTE_HEALTHZ || r.route == PV_ROUTE_OPERATOR) && r.status == 200))
        pv_log_request(&r);
}

static struct bufferevent *on_connection(struct event_base *base, void *arg)
{
    struct pv_server *srv = arg;
    SSL *ssl = SSL_new(srv->ssl);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    srv->metrics.connections++;
    return bev;
}

int pv_http_start(struct pv_server *srv, const char *host, unsigned port, char *err, size_t err_len)
{
    srv->http = evhttp_new(srv->base);
    if (!srv->http) {
        snprintf(err, err_len, "evhttp_new failed");
        return -1;
    }
    evhttp_set_bevcb(srv->http, on_connection, srv);
    evhttp_set_gencb(srv->http, on_request, srv);
    /* Every method reaches on_request, which answers 405 itself (JSON, Allow header). */
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                              EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    /* Bodies up to the hard limit are read and refused as JSON 413 above 16 KiB; beyond it
     * evhttp refuses before reading (its own 413), so a request never holds more memory. */
    evhttp_set_max_body_size(srv->http, PV_SERVER_BODY_HARD_MAX);
    evhttp_set_max_headers_size(srv->http, PV_SERVER_HEADERS_MAX);
    unsigned ttl = srv->cfg->session_ttl_s ? srv->cfg->session_ttl_s : PV_BRIDGE_TTL_DEFAULT_S;
    evhttp_set_timeout(srv->http, (int)ttl + 10); /* a station's connection idles between steps */
    srv->bound = evhttp_bind_socket_with_handle(srv->http, host, (ev_uint16_t)port);
    if (!srv->bound) {
        snprintf(err, err_len, "cannot listen on %s:%u: %s (listen: in the config)", host, port,
                 strerror(errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(srv->bound);
    /* Each answer leaves in two writes (headers, body): without TCP_NODELAY the body waits for
     * the client's delayed ACK, ~40 ms a request (docs/bridge.md, "Benchmarks"). Accepted
     * sockets inherit it from the listening one on Linux. */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        snprintf(err, err_len, "cannot set TCP_NODELAY on %s:%u: %s", host, port, strerror(errno));
        return -1;
    }
    unsigned real = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        real = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(srv->listen_addr, sizeof srv->listen_addr, strchr(host, ':') ? "[%s]:%u" : "%s:%u",
             host, real);
    return 0;
}

void pv_http_stop_accepting(struct pv_server *srv)
{
    if (srv->bound) {
        evhttp_del_accept_socket(srv->http, srv->bound);
        srv->bound = NULL;
    }
}

void pv_http_free(struct pv_server *srv)
{
    if (srv->http)
        evhttp_free(srv->http);
    srv->http = NULL;
    srv->bound = NULL;
}
