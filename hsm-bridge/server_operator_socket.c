/* The operator's view on a Unix socket (operator_socket: in the configuration; docs/bridge.md,
 * "Operator's view"): plain HTTP for a browser, which cannot speak to the station listener (its
 * key and the station CA are Ed25519, which browsers do not accept) and cannot be made to present
 * a client certificate unattended. Who may connect is the kernel's decision: the socket is mode
 * 0660 (the bridge's user and group), reached from elsewhere through SSH's forwarding
 * (ssh -L 8444:/run/hsm-bridge/operator.sock), which authenticates and encrypts. Only the
 * operator's pages are served here; every other path is 404 and never reaches the bridge. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "server.h"

#define SOCKET_MODE 0660

static void on_operator_request(struct evhttp_request *req, void *arg)
{
    struct pv_server *srv = arg;
    struct pv_req r = {.srv = srv, .req = req, .role = PV_BRIDGE_ROLE_OPERATOR};
    clock_gettime(CLOCK_MONOTONIC, &r.t0);
    snprintf(r.peer.addr, sizeof r.peer.addr, "unix:operator");
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    int method_ok = 1;
    r.route =
        pv_route_of(path ? path : "", (int)evhttp_request_get_command(req), &method_ok, r.session);
    if (r.route != PV_ROUTE_OPERATOR) {
        r.route = PV_ROUTE_OTHER;
        pv_refuse(&r, 404, "not_found",
                  "this socket serves the operator's view only (/operator); stations use "
                  "https://%s",
                  srv->listen_addr);
    } else if (!method_ok) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        pv_refuse(&r, 405, "method_not_allowed", "the operator's view is read with GET only");
    } else {
        pv_route_handle(&r);
    }
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double secs = (double)(t.tv_sec - r.t0.tv_sec) + (double)(t.tv_nsec - r.t0.tv_nsec) / 1e9;
    pv_metrics_request(&srv->metrics, r.route, r.status, r.error[0] ? r.error : NULL, secs);
    if (r.status != 200)
        pv_log_request(&r);
}

int pv_operator_listen(struct pv_server *srv, const char *path, char *err, size_t err_len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, err_len, "operator_socket %s: the path is too long for a Unix socket", path);
        return -1;
    }
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    /* A socket left by a bridge that did not stop cleanly is replaced; anything else is not
     * ours to remove. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, err_len,
                     "operator_socket %s exists and is not a socket; remove it or choose another "
                     "path",
                     path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, err_len, "operator_socket %s: socket: %s", path, strerror(errno));
        return -1;
    }
    /* Created with no access for others from the start, then opened to the group. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || chmod(path, SOCKET_MODE) != 0 || listen(fd, 16) != 0) {
        snprintf(err, err_len,
                 "operator_socket %s: %s (does its directory exist, writable by the "
                 "bridge's user?)",
                 path, strerror(errno));
        close(fd);
        return -1;
    }
    srv->op_http = evhttp_new(srv->base);
    if (!srv->op_http || !evhttp_accept_socket_with_handle(srv->op_http, fd)) {
        snprintf(err, err_len, "operator_socket %s: evhttp failed", path);
        close(fd);
        return -1;
    }
    evhttp_set_gencb(srv->op_http, on_operator_request, srv);
    evhttp_set_allowed_methods(srv->op_http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(srv->op_http, 1024); /* read, then refused: GET only */
    evhttp_set_max_headers_size(srv->op_http, PV_SERVER_HEADERS_MAX);
    evhttp_set_timeout(srv->op_http, 30);
    snprintf(srv->op_path, sizeof srv->op_path, "%s", path);
    return 0;
}

void pv_operator_close(struct pv_server *srv)
{
    if (srv->op_http)
        evhttp_free(srv->op_http);
    srv->op_http = NULL;
    if (srv->op_path[0])
        unlink(srv->op_path);
    srv->op_path[0] = 0;
}
