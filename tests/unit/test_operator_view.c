/* The operator's view (docs/bridge.md, "Operator's view") end to end: a real `hsm-bridge serve`
 * (SoftHSM2, SQLite ledger, mutual TLS) with its operator socket, a station that provisions
 * virtual chips through it, and Debian's Chromium, headless, showing the page.
 *
 *  - who may read what, as attacks: no certificate, a station's certificate on the operator's
 *    endpoints, an operator's certificate on the provisioning and update endpoints, and the
 *    socket asked for anything but the operator's view; a revoked operator; a symlink where the
 *    socket goes (the bridge does not start, the file it points to is untouched);
 *  - the page live: Chromium opens it once (through a loopback forwarder to the Unix socket, as
 *    `ssh -L` would be on a line PC), the station locks a chip, then fails one in the lock
 *    phase; the test reads the rendered DOM through the DevTools protocol (a pipe:
 *    --remote-debugging-pipe) until the numbers have changed without a reload, and the last
 *    state goes to build/operator-view.png. Every wait is for a condition, bounded by a
 *    deadline, never a fixed sleep. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define CHROMIUM   "chromium"
#define WAIT_MS    60000 /* a condition the page must reach; the machine may be loaded */
#define SCREENSHOT "operator-view.png"

static struct bh_env env;
static struct bh_bridge br;
static struct bh_station line1;
static char op_key[240], op_crt[240], op_sock[100];
static int seed = 4100;

/* ---- requests (libcurl): over mutual TLS with a certificate, or over the socket ---- */

struct reply {
    long status;
    CURLcode rc;
    char body[65536];
    size_t len;
    char headers[8192];
    size_t hlen;
    char err[CURL_ERROR_SIZE];
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct reply *r = ctx;
    size_t k = size * n;
    if (r->len + k >= sizeof r->body)
        k = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = 0;
    return size * n;
}

static size_t collect_header(char *p, size_t size, size_t n, void *ctx)
{
    struct reply *r = ctx;
    size_t k = size * n;
    if (r->hlen + k >= sizeof r->headers)
        k = sizeof r->headers - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, k);
    r->hlen += k;
    r->headers[r->hlen] = 0;
    return size * n;
}

/* method path with the client certificate crt/key (NULL: none) on the TLS listener, or over the
 * operator socket when sock. */
static void request(struct reply *r, const char *method, const char *path, const char *crt,
                    const char *key, int sock)
{
    memset(r, 0, sizeof *r);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    char u[256];
    snprintf(u, sizeof u, "%s%s", sock ? "http://operator" : br.url, path);
    curl_easy_setopt(h, CURLOPT_URL, u);
    if (sock)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, op_sock);
    curl_easy_setopt(h, CURLOPT_CAINFO, env.ca_crt);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    if (crt) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, crt);
        curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)2);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
}

/* The reply is status with the JSON error code error. */
static void expect_refusal(const struct reply *r, long status, const char *error)
{
    if (r->rc != CURLE_OK)
        fail_msg("transport: %s", r->err);
    json_t *j = json_loads(r->body, 0, NULL);
    const char *e = json_string_value(json_object_get(j, "error"));
    if (r->status != status || !e || strcmp(e, error) != 0)
        fail_msg("expected %ld %s, got %ld %s", status, error, r->status, r->body);
    json_decref(j);
}

static void expect_ok(const struct reply *r)
{
    if (r->rc != CURLE_OK)
        fail_msg("transport: %s", r->err);
    if (r->status != 200)
        fail_msg("expected 200, got %ld %s", r->status, r->body);
}

static void station_paths(const struct bh_station *s, const char **crt, const char **key)
{
    *crt = s->crt;
    *key = s->key;
}

/* ---- 1: who may read what ---- */

static void test_access(void **state)
{
    (void)state;
    struct reply r;
    const char *scrt, *skey;
    station_paths(&line1, &scrt, &skey);

    /* a station reading /metrics (a scraper) is not a station at work: not online below */
    request(&r, "GET", "/metrics", scrt, skey, 0);
    expect_ok(&r);

    /* no certificate: nothing */
    request(&r, "GET", "/operator/status", NULL, NULL, 0);
    expect_refusal(&r, 401, "no_client_certificate");
    request(&r, "GET", "/operator", NULL, NULL, 0);
    expect_refusal(&r, 401, "no_client_certificate");

    /* a station's certificate does not open the operator's view */
    request(&r, "GET", "/operator/status", scrt, skey, 0);
    expect_refusal(&r, 403, "not_operator");
    request(&r, "GET", "/operator", scrt, skey, 0);
    expect_refusal(&r, 403, "not_operator");
    request(&r, "GET", "/operator/app.js", scrt, skey, 0);
    expect_refusal(&r, 403, "not_operator");

    /* an operator's certificate provisions and updates nothing */
    request(&r, "GET", "/v1/plan?product=" BH_PRODUCT "&batch=" BH_BATCH, op_crt, op_key, 0);
    expect_refusal(&r, 403, "operator_certificate");
    request(&r, "POST", "/v1/sessions", op_crt, op_key, 0);
    expect_refusal(&r, 403, "operator_certificate");
    request(&r, "POST", "/v1/sessions/0123456789abcdef0123456789abcdef/lock", op_crt, op_key, 0);
    expect_refusal(&r, 403, "operator_certificate");
    request(&r, "POST", "/v1/sessions/0123456789abcdef0123456789abcdef/fail", op_crt, op_key, 0);
    expect_refusal(&r, 403, "operator_certificate");
    request(&r, "POST", "/v1/update/begin", op_crt, op_key, 0);
    expect_refusal(&r, 403, "operator_certificate");

    /* it reads the figures, under the page's policy */
    request(&r, "GET", "/operator/status", op_crt, op_key, 0);
    expect_ok(&r);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_array(json_object_get(j, "batches")));
    assert_int_equal(json_array_size(json_object_get(j, "stations")), 0);
    assert_true(json_is_array(json_object_get(j, "recent")));
    json_decref(j);
    assert_non_null(strstr(r.headers, "Content-Security-Policy: default-src 'none'; script-src "
                                      "'self'"));
    assert_non_null(strstr(r.headers, "X-Content-Type-Options: nosniff"));

    /* the socket: the operator's view and nothing else; read-only */
    struct stat st;
    assert_int_equal(lstat(op_sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0660);
    request(&r, "GET", "/v1/plan?product=" BH_PRODUCT "&batch=" BH_BATCH, NULL, NULL, 1);
    expect_refusal(&r, 404, "not_found");
    request(&r, "POST", "/v1/sessions", NULL, NULL, 1);
    expect_refusal(&r, 404, "not_found");
    request(&r, "GET", "/metrics", NULL, NULL, 1);
    expect_refusal(&r, 404, "not_found");
    request(&r, "POST", "/operator/status", NULL, NULL, 1);
    expect_refusal(&r, 405, "method_not_allowed");
    request(&r, "GET", "/operator", NULL, NULL, 1);
    expect_ok(&r);
    assert_non_null(strstr(r.body, "<script src=\"/operator/app.js\""));
    assert_null(strstr(r.body, "<script>")); /* nothing inline: the policy would refuse it */
    assert_non_null(strstr(r.headers, "Content-Type: text/html"));

    /* an operator is enrolled without rights, and never with them */
    char sd[300];
    snprintf(sd, sizeof sd, "%s/both.crt", br.dir);
    assert_int_equal(BH_CMD(&env, env.bridge_bin, "station", "enroll", "op-2", "--operator",
                            "--rights", BH_RIGHTS, "--csr", line1.csr, "--config", br.config, "-o",
                            sd),
                     2);
    assert_non_null(strstr(env.out, "--operator and --rights exclude each other"));
    assert_int_not_equal(access(sd, F_OK), 0);

    /* a revoked operator reads nothing, at its next request */
    assert_true(bh_station_revoke(&br, "op-1", "left the line"));
    request(&r, "GET", "/operator/status", op_crt, op_key, 0);
    expect_refusal(&r, 403, "station_revoked");
}

/* ---- 2: the socket's path is not a way to clobber a file ---- */

static void test_socket_path_not_a_socket(void **state)
{
    (void)state;
    struct bh_bridge b2;
    assert_true(bh_bridge_init(&env, &b2, "clobber", NULL, 0));
    char victim[200], link_path[200], line[300];
    snprintf(victim, sizeof victim, "%s/victim", b2.dir);
    snprintf(link_path, sizeof link_path, "%s/op.sock", b2.dir);
    assert_true(bh_write_file(victim, "keep me\n", 0600));
    assert_int_equal(symlink(victim, link_path), 0);
    snprintf(line, sizeof line, "operator_socket: %s\n", link_path);
    FILE *f = fopen(b2.config, "a");
    assert_non_null(f);
    assert_true(fputs(line, f) >= 0);
    assert_int_equal(fclose(f), 0);
    char *argv[] = {env.bridge_bin, "serve", "--config", b2.config, NULL};
    pid_t pid = sp_spawn(argv, NULL, b2.log);
    assert_true(pid > 0);
    assert_int_equal(sp_wait(pid, 60000), 6);
    char *log = bh_bridge_log(&b2);
    assert_non_null(strstr(log, "exists and is not a socket"));
    assert_null(strstr(log, "listening on"));
    free(log);
    struct stat st;
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    char *kept = sp_slurp(victim, NULL);
    assert_non_null(kept);
    assert_string_equal(kept, "keep me\n");
    free(kept);
}

/* ---- a loopback forwarder to the socket (what `ssh -L PORT:SOCKET` is on a line PC) ---- */

static void relay(int a, int b)
{
    char buf[16384];
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0)
            return;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0 || !bh_send_all(p[1 - i].fd, (const uint8_t *)buf, (size_t)n))
                return;
        }
    }
}

static pid_t forwarder_start(int *port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 16) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGCHLD, SIG_IGN); /* connections' children are not waited for */
        for (;;) {
            int c = accept(l, NULL, NULL);
            if (c < 0)
                continue;
            if (fork() == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(l);
                struct sockaddr_un u = {.sun_family = AF_UNIX};
                snprintf(u.sun_path, sizeof u.sun_path, "%s", op_sock);
                int s = socket(AF_UNIX, SOCK_STREAM, 0);
                if (s >= 0 && connect(s, (struct sockaddr *)&u, sizeof u) == 0)
                    relay(c, s);
                _exit(0);
            }
            close(c);
        }
    }
    close(l);
    for (int i = 0; pid > 0 && i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] == 0) {
            sp_children[i] = pid;
            break;
        }
    return pid;
}

/* ---- Chromium through the DevTools protocol on a pipe (fd 3: to it, fd 4: from it) ---- */

struct cdp {
    pid_t pid;
    int to, from;
    int next_id;
    char session[128];
    char *buf; /* what was read and not yet consumed */
    size_t len, cap;
};

static bool cdp_start(struct cdp *c, const char *home)
{
    memset(c, 0, sizeof *c);
    int to[2], from[2];
    if (pipe(to) != 0 || pipe(from) != 0)
        return false;
    char udd[300], log[300];
    snprintf(udd, sizeof udd, "--user-data-dir=%s/profile", home);
    snprintf(log, sizeof log, "%s/chromium.log", home);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int in = fcntl(to[0], F_DUPFD, 10), out = fcntl(from[1], F_DUPFD, 10);
        int err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(err, 1);
        dup2(err, 2);
        dup2(in, 3);
        dup2(out, 4);
        for (int fd = 5; fd < 1024; fd++)
            close(fd);
        setenv("HOME", home, 1);
        unsetenv("SOFTHSM2_CONF");
        /* root in a test: no sandbox; the page is ours and the browser reaches only loopback */
        execlp(CHROMIUM, CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--remote-debugging-pipe", udd, "--window-size=1280,1000", "--no-first-run",
               "--no-default-browser-check", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               "--force-device-scale-factor=1", "about:blank", (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    c->pid = pid;
    c->to = to[1];
    c->from = from[0];
    c->next_id = 1;
    for (int i = 0; i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] == 0) {
            sp_children[i] = pid;
            break;
        }
    return true;
}

/* The next message (NUL-terminated JSON) within ms, or NULL. */
static json_t *cdp_read(struct cdp *c, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    for (;;) {
        char *nul = c->len ? memchr(c->buf, 0, c->len) : NULL;
        if (nul) {
            json_t *j = json_loads(c->buf, 0, NULL);
            size_t used = (size_t)(nul - c->buf) + 1;
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return j;
        }
        uint64_t now = sp_now_ms();
        if (now >= end)
            return NULL;
        struct pollfd p = {.fd = c->from, .events = POLLIN};
        if (poll(&p, 1, (int)(end - now)) <= 0)
            continue;
        if (c->cap - c->len < 65536) {
            c->cap = c->cap * 2 + 65536;
            c->buf = realloc(c->buf, c->cap);
            assert_non_null(c->buf);
        }
        ssize_t n = read(c->from, c->buf + c->len, c->cap - c->len);
        if (n <= 0)
            return NULL;
        c->len += (size_t)n;
    }
}

/* Sends method with params (stolen; NULL: none) in the page's session when session, and
 * returns the answer's "result" (the caller decrefs it); fails the test on an error. */
static json_t *cdp_call(struct cdp *c, const char *method, json_t *params, int session)
{
    int id = c->next_id++;
    json_t *m = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params",
                          params ? params : json_object());
    if (session)
        json_object_set_new(m, "sessionId", json_string(c->session));
    char *text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    assert_non_null(text);
    assert_true(bh_send_all(c->to, (const uint8_t *)text, strlen(text) + 1));
    free(text);
    for (;;) {
        json_t *a = cdp_read(c, WAIT_MS);
        if (!a)
            fail_msg("DevTools: no answer to %s (see the profile's chromium.log)", method);
        if (json_integer_value(json_object_get(a, "id")) != id) {
            json_decref(a); /* an event */
            continue;
        }
        json_t *e = json_object_get(a, "error");
        if (e)
            fail_msg("DevTools: %s: %s", method, json_string_value(json_object_get(e, "message")));
        json_t *r = json_incref(json_object_get(a, "result"));
        json_decref(a);
        return r;
    }
}

/* Attaches to the browser's page and opens url in it. */
static void cdp_open(struct cdp *c, const char *url)
{
    json_t *t = cdp_call(c, "Target.getTargets", NULL, 0);
    const char *target = NULL;
    size_t i;
    json_t *ti;
    json_array_foreach(json_object_get(t, "targetInfos"), i, ti)
    {
        if (strcmp(json_string_value(json_object_get(ti, "type")), "page") == 0)
            target = json_string_value(json_object_get(ti, "targetId"));
    }
    assert_non_null(target);
    json_t *a = cdp_call(c, "Target.attachToTarget",
                         json_pack("{s:s, s:b}", "targetId", target, "flatten", 1), 0);
    snprintf(c->session, sizeof c->session, "%s",
             json_string_value(json_object_get(a, "sessionId")));
    json_decref(a);
    json_decref(t);
    json_decref(cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", url), 1));
}

/* What the page shows, read from its DOM as the operator sees it: a JSON summary. */
static const char dom_summary[] =
    "(function () {"
    " var q = function (s, r) { return Array.prototype.slice.call((r || document)"
    "   .querySelectorAll(s)); };"
    " var t = function (e) { return e ? e.textContent : null; };"
    " return JSON.stringify({"
    "  polls: +(document.body.getAttribute('data-polls') || 0),"
    "  conn: document.getElementById('conn').getAttribute('data-state'),"
    "  marker: window.pvMarker || 0,"
    "  pwned: window.pvPwned || 0,"
    "  injected: q('img').length + q('svg[onload]').length + q('#recent script').length,"
    "  empty: q('#batches .empty').length,"
    "  batches: q('article.batch-card').map(function (a) {"
    "   var f = {batch: a.getAttribute('data-batch'), title: t(a.querySelector('h3')), bars: {}};"
    "   q('dd[data-field]', a).forEach(function (d) { f[d.getAttribute('data-field')] = t(d); });"
    "   q('rect[data-bar]', a).forEach(function (r) {"
    "    f.bars[r.getAttribute('data-bar')] = +r.getAttribute('data-n'); });"
    "   f.svg = q('svg.chart', a).length;"
    "   return f; }),"
    "  stations: q('#stations tbody tr').map(function (r) {"
    "   return {name: t(r.querySelector('td.name')), uid: t(r.querySelector('td.uid')),"
    "    state: t(r.querySelector('td.state'))}; }),"
    "  recent: q('#recent tbody tr').map(function (r) {"
    "   return {uid: t(r.querySelector('td.uid')), state: t(r.querySelector('td.state')),"
    "    station: t(r.querySelector('td.station')),"
    "    failures: t(r.querySelector('td.failures'))}; })"
    " }); })()";

static json_t *dom(struct cdp *c)
{
    json_t *r = cdp_call(c, "Runtime.evaluate",
                         json_pack("{s:s, s:b}", "expression", dom_summary, "returnByValue", 1), 1);
    const char *v = json_string_value(json_object_get(json_object_get(r, "result"), "value"));
    json_t *d = v ? json_loads(v, 0, NULL) : NULL;
    if (!d) /* the page is not there yet (loading): what went wrong, for a timeout's message */
        d = json_pack("{s:O?}", "not_yet", json_object_get(r, "exceptionDetails"));
    json_decref(r);
    return d;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_t *batch_of(json_t *d, const char *name)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(d, "batches"), i, b)
    {
        if (strcmp(str(b, "batch"), name) == 0)
            return b;
    }
    return NULL;
}

/* Reads the DOM until pred holds (polling the page's own polling), within WAIT_MS; the last
 * summary (the caller decrefs it). */
static json_t *wait_dom(struct cdp *c, bool (*pred)(json_t *d, const void *arg), const void *arg,
                        const char *what)
{
    uint64_t end = sp_now_ms() + WAIT_MS;
    for (;;) {
        json_t *d = dom(c);
        if (pred(d, arg))
            return d;
        if (sp_now_ms() >= end) {
            char *text = json_dumps(d, JSON_COMPACT);
            fail_msg("the page never showed %s; it shows %s", what, text);
        }
        json_decref(d);
        usleep(200000);
    }
}

static bool shows_empty(json_t *d, const void *arg)
{
    (void)arg;
    return json_integer_value(json_object_get(d, "polls")) >= 1 &&
           strcmp(str(d, "conn"), "live") == 0 && json_integer_value(json_object_get(d, "empty"));
}

struct expect_dev {
    const char *uid, *state, *used, *locked, *failures, *yield;
    int fail_lock;
};

static bool shows_device(json_t *d, const void *arg)
{
    const struct expect_dev *e = arg;
    json_t *b = batch_of(d, BH_BATCH);
    if (!b || strcmp(str(b, "used"), e->used) != 0 || strcmp(str(b, "locked"), e->locked) != 0 ||
        strcmp(str(b, "failures"), e->failures) != 0 || strcmp(str(b, "yield"), e->yield) != 0)
        return false;
    json_t *bars = json_object_get(b, "bars");
    if (json_integer_value(json_object_get(bars, "fail: lock")) != e->fail_lock)
        return false;
    /* the station online, with this device as its last */
    bool station = false, recent = false;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(d, "stations"), i, r)
    {
        station |= strcmp(str(r, "name"), "line-1") == 0 && strcmp(str(r, "uid"), e->uid) == 0 &&
                   strcmp(str(r, "state"), e->state) == 0;
    }
    json_array_foreach(json_object_get(d, "recent"), i, r)
    {
        recent |= strcmp(str(r, "uid"), e->uid) == 0 && strcmp(str(r, "state"), e->state) == 0 &&
                  strcmp(str(r, "station"), "line-1") == 0;
    }
    return station && recent;
}

static bool shows_crafted(json_t *d, const void *arg)
{
    (void)arg;
    json_t *first = json_array_get(json_object_get(d, "recent"), 0);
    return first && strcmp(str(first, "uid"), "ffffffffffffffffffffffff") == 0 &&
           batch_of(d, "<svg onload=window.pvPwned=2>");
}

/* A chip through the station (fault: a sim --fault, or NULL); its UID in hex. */
static int provision_chip(const char *name, const char *fault, char hex[25], struct bh_run *run)
{
    struct bh_sim s;
    uint8_t uid[12];
    char target[64];
    char *extra[] = {"--fault", (char *)(uintptr_t)fault, NULL};
    assert_true(bh_sim_start(&env, &s, name, seed++, fault ? extra : NULL));
    assert_true(bh_sim_uid(&s, uid));
    bh_hex(hex, uid, 12);
    bh_sim_target(&s, target, sizeof target);
    int st = bh_station_run(&br, &line1, target, NULL, NULL, run);
    bh_sim_stop(&s);
    return st;
}

static bool write_png(const char *b64, const char *path, size_t *out_len)
{
    size_t n = strlen(b64);
    unsigned char *png = malloc(n / 4 * 3 + 3);
    if (!png)
        return false;
    int len = EVP_DecodeBlock(png, (const unsigned char *)b64, (int)n);
    if (len < 0) {
        free(png);
        return false;
    }
    while (n && b64[n - 1] == '=') /* EVP_DecodeBlock counts the padding as bytes */
        n--, len--;
    bool ok = len > 8 && memcmp(png, "\x89PNG", 4) == 0;
    FILE *f = ok ? fopen(path, "wb") : NULL;
    ok = f && fwrite(png, 1, (size_t)len, f) == (size_t)len;
    if (f)
        ok &= fclose(f) == 0;
    free(png);
    *out_len = (size_t)len;
    return ok;
}

/* ---- 3: the page, live ---- */

static void test_live_page(void **state)
{
    (void)state;
    if (system("command -v " CHROMIUM " >/dev/null") != 0)
        fail_msg(CHROMIUM " is not installed: `make deps` installs it (DEB_PACKAGES)");
    int port = 0;
    pid_t fwd = forwarder_start(&port);
    assert_true(fwd > 0);
    char home[200], url[128];
    snprintf(home, sizeof home, "%s/chromium", env.dir);
    assert_int_equal(mkdir(home, 0700), 0);
    struct cdp c;
    assert_true(cdp_start(&c, home));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/operator", port);
    cdp_open(&c, url);

    /* before any device: the page runs (its script passed the policy) and says so */
    json_decref(wait_dom(&c, shows_empty, NULL, "an empty, live page"));
    /* a mark in the page: still there at the end means the numbers changed without a reload */
    json_decref(cdp_call(&c, "Runtime.evaluate",
                         json_pack("{s:s}", "expression", "window.pvMarker = 7"), 1));

    /* a chip locked */
    struct bh_run run;
    char a[25], b[25];
    assert_int_equal(provision_chip("op-view-a", NULL, a, &run), 0);
    struct expect_dev ea = {a, "locked", "1 of 1000", "1", "0", "100.0 %", 0};
    json_t *d = wait_dom(&c, shows_device, &ea, "the first chip locked");
    json_t *bt = batch_of(d, BH_BATCH);
    assert_string_equal(str(bt, "left"), "999");
    assert_string_equal(str(bt, "title"), "batch " BH_BATCH);
    assert_int_equal(json_integer_value(json_object_get(bt, "svg")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(bt, "bars"), "locked")), 1);
    json_int_t polls = json_integer_value(json_object_get(d, "polls"));
    json_decref(d);

    /* a chip that will not lock (it ignores the option bytes' start): a failure in phase lock */
    assert_int_not_equal(provision_chip("op-view-b", "ignore-optstrt", b, &run), 0);
    assert_non_null(strstr(run.err, "409 lock_not_confirmed"));
    struct expect_dev eb = {b, "verified", "2 of 1000", "1", "1", "50.0 %", 1};
    d = wait_dom(&c, shows_device, &eb, "the second chip's failure");
    bt = batch_of(d, BH_BATCH);
    assert_string_equal(str(bt, "left"), "998");
    assert_string_equal(str(bt, "per-hour"), "1");
    assert_true(json_integer_value(json_object_get(d, "polls")) > polls);
    assert_int_equal(json_integer_value(json_object_get(d, "marker")), 7);
    /* both devices among the most recent, the failed one first, its failure counted */
    json_t *recent = json_object_get(d, "recent");
    assert_true(json_array_size(recent) >= 2);
    assert_string_equal(str(json_array_get(recent, 0), "uid"), b);
    assert_string_equal(str(json_array_get(recent, 0), "failures"), "1");
    assert_string_equal(str(json_array_get(recent, 1), "uid"), a);
    assert_string_equal(str(json_array_get(recent, 1), "state"), "locked");
    json_decref(d);

    /* the screenshot, next to the build's other outputs */
    json_decref(cdp_call(&c, "Emulation.setDeviceMetricsOverride",
                         json_pack("{s:i, s:i, s:i, s:b}", "width", 1280, "height", 1000,
                                   "deviceScaleFactor", 1, "mobile", 0),
                         1));
    json_t *shot = cdp_call(&c, "Page.captureScreenshot", json_pack("{s:s}", "format", "png"), 1);
    char dir[4096], path[4200];
    assert_true(sp_host_dir(dir, sizeof dir));
    char *slash = strrchr(dir, '/'); /* build/host -> build */
    assert_non_null(slash);
    *slash = 0;
    snprintf(path, sizeof path, "%s/" SCREENSHOT, dir);
    size_t png_len = 0;
    assert_true(write_png(str(shot, "data"), path, &png_len));
    assert_true(png_len > 10000);
    json_decref(shot);
    fprintf(stderr, "operator view: screenshot %s (%zu bytes)\n", path, png_len);

    /* markup in the ledger's text (a row written behind the bridge's back: names are checked
     * where they enter, so only a hand-edited database holds such text) stays text */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(br.ledger, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(db,
                     "INSERT INTO batches (batch, quota, created_at) VALUES "
                     "('<svg onload=window.pvPwned=2>', 3, '2099-01-01T00:00:00.000Z');"
                     "INSERT INTO devices (batch, uid, state, station, recipe_name, recipe_digest,"
                     " reserved_at) VALUES ('<svg onload=window.pvPwned=2>',"
                     " 'ffffffffffffffffffffffff', 'reserved',"
                     " '<img src=x onerror=\"window.pvPwned=1\">' || char(27) || '[31m', 'r', 'd',"
                     " '2099-01-01T00:00:00.000Z')",
                     NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("crafted rows: %s", msg);
    sqlite3_close(db);
    d = wait_dom(&c, shows_crafted, NULL, "the crafted rows");
    assert_int_equal(json_integer_value(json_object_get(d, "pwned")), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "injected")), 0);
    json_t *first = json_array_get(json_object_get(d, "recent"), 0);
    assert_string_equal(str(first, "station"), "<img src=x onerror=\"window.pvPwned=1\">\\x1b[31m");
    assert_string_equal(str(json_array_get(json_object_get(d, "batches"), 0), "title"),
                        "batch <svg onload=window.pvPwned=2>");
    json_decref(d);

    json_decref(cdp_call(&c, "Browser.close", NULL, 0));
    assert_true(sp_wait(c.pid, 20000) >= 0);
    free(c.buf);
    close(c.to);
    close(c.from);
    kill(fwd, SIGKILL);
    sp_wait(fwd, 5000);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "test_operator_view"))
        return -1;
    if (!bh_bridge_init(&env, &br, "bridge", NULL, 0))
        return -1;
    snprintf(op_sock, sizeof op_sock, "%.80s/operator.sock", br.dir);
    char line[300];
    snprintf(line, sizeof line, "operator_socket: %s\n", op_sock);
    FILE *f = fopen(br.config, "a");
    if (!f || fputs(line, f) < 0 || fclose(f) != 0)
        return -1;
    if (!bh_station_enroll(&br, &line1, "line-1", BH_RIGHTS))
        return -1;
    /* the operator: its own key, a certificate enrolled with --operator */
    snprintf(op_key, sizeof op_key, "%s/operator.key", br.dir);
    snprintf(op_crt, sizeof op_crt, "%s/operator.crt", br.dir);
    char csr[260];
    snprintf(csr, sizeof csr, "%s/operator.csr", br.dir);
    if (BH_CMD(&env, "openssl", "genpkey", "-algorithm", "ed25519", "-out", op_key) != 0 ||
        BH_CMD(&env, "openssl", "req", "-new", "-key", op_key, "-subj", "/CN=op-1", "-out", csr) !=
            0 ||
        BH_CMD(&env, env.bridge_bin, "station", "enroll", "op-1", "--operator", "--csr", csr,
               "--config", br.config, "-o", op_crt) != 0) {
        fprintf(stderr, "operator enrolment: %s\n", env.out);
        return -1;
    }
    if (!bh_bridge_start(&br))
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (br.pid > 0)
        bh_bridge_stop(&br, SIGTERM);
    /* the bridge removes its socket when it stops */
    assert_int_not_equal(access(op_sock, F_OK), 0);
    bh_env_free(&env);
    return 0;
}

int main(void)
{
    if (!sp_install(240))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_socket_path_not_a_socket),
        cmocka_unit_test(test_live_page),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
