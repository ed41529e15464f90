/* The bridge's TLS: an SSL_CTX for TLS 1.3 only that requests a client certificate and verifies
 * it against the station CA, but lets every handshake with a certificate (or none) complete, so
 * the request handler refuses with an HTTP answer naming why (401, 403) instead of a dropped
 * connection. The first verification error of a connection is kept in the SSL's ex_data. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "server.h"

static int verify_idx = -1; /* SSL ex_data: first error + 1, depth in the high bits */

static void ssl_reason(char *err, size_t err_len, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, err_len, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

/* Accepts every chain so the handshake completes; remembers the first error for the handler. */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    if (!ok) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
        if (ssl && !SSL_get_ex_data(ssl, verify_idx)) {
            uintptr_t v = ((uintptr_t)X509_STORE_CTX_get_error_depth(x) << 16) |
                          (uintptr_t)(X509_STORE_CTX_get_error(x) & 0xffff);
            SSL_set_ex_data(ssl, verify_idx, (void *)(v + 1));
        }
    }
    return 1;
}

SSL_CTX *pv_tls_server_ctx(const char *cert, const char *key, const char *station_ca, char *err,
                           size_t err_len)
{
    if (verify_idx < 0)
        verify_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_reason(err, err_len, "TLS: SSL_CTX_new");
        return NULL;
    }
    char what[4200];
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
        ssl_reason(err, err_len, "TLS: this OpenSSL cannot do TLS 1.3");
        goto fail;
    }
    /* No tickets and no session cache: every connection shows its certificate afresh. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(what, sizeof what, "TLS: cannot use the bridge's certificate %s (tls.cert)", cert);
        ssl_reason(err, err_len, what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof what, "TLS: cannot use the bridge's key %s (tls.key)", key);
        ssl_reason(err, err_len, what);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof what, "TLS: the key %s is not the key of the certificate %s", key,
                 cert);
        ssl_reason(err, err_len, what);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, station_ca, NULL) != 1) {
        snprintf(what, sizeof what,
                 "TLS: cannot load the station CA %s (tls.station_ca; hsm-bridge ca init makes "
                 "it)",
                 station_ca);
        ssl_reason(err, err_len, what);
        goto fail;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(station_ca);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    ERR_clear_error();
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_verify_depth(ctx, 2);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static void addr_of(evutil_socket_t fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    out[0] = 0;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%u", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%u", ip, port);
    }
}

static int station_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* The subject CN if it is a station name (else ""). */
static void cn_of(X509 *cert, char *out, size_t cap)
{
    out[0] = 0;
    X509_NAME *subj = X509_get_subject_name(cert);
    int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    if (i < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, i) >= 0)
        return; /* none, or more than one */
    ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, d);
    if (len > 0 && (size_t)len < cap && memchr(utf8, 0, (size_t)len) == NULL) {
        memcpy(out, utf8, (size_t)len);
        out[len] = 0;
        if (!station_name_ok(out))
            out[0] = 0;
    }
    OPENSSL_free(utf8);
}

int pv_tls_peer(struct evhttp_request *req, struct pv_peer *p)
{
    memset(p, 0, sizeof *p);
    struct evhttp_connection *con = evhttp_request_get_connection(req);
    struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (bev)
        addr_of(bufferevent_getfd(bev), p->addr, sizeof p->addr);
    if (!ssl)
        return -1;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return 0;
    p->has_cert = 1;
    uintptr_t v = (uintptr_t)SSL_get_ex_data(ssl, verify_idx);
    long result = SSL_get_verify_result(ssl);
    if (v) {
        v -= 1;
        int code = (int)(v & 0xffff), depth = (int)(v >> 16);
        snprintf(p->why, sizeof p->why, "%s (depth %d)", X509_verify_cert_error_string(code),
                 depth);
    } else if (result != X509_V_OK) {
        snprintf(p->why, sizeof p->why, "%s", X509_verify_cert_error_string(result));
    } else {
        p->trusted = 1;
    }
    cn_of(cert, p->name, sizeof p->name);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32) {
        for (unsigned i = 0; i < 32; i++)
            snprintf(p->cert_sha256 + 2 * i, 3, "%02x", md[i]);
    } else {
        p->trusted = 0;
        snprintf(p->why, sizeof p->why, "cannot hash the certificate");
    }
    X509_free(cert);
    return 0;
}
