/* The station's client of `hsm-bridge` (docs/bridge-protocol.md): HTTPS with libcurl on OpenSSL,
 * TLS 1.3 only, the station's client certificate, the bridge's certificate checked against the
 * CA file of the station's config. One curl handle serves every request, so the requests of a
 * device (plan, begin, verified, lock) share one TLS connection.
 *
 * The calls mirror hsm-bridge/bridge.h without the station argument: the bridge knows the
 * station by its certificate. A refusal fills the same struct pv_bridge_err from the bridge's
 * JSON answer; a transport failure (connect, TLS, timeout, a truncated or malformed answer)
 * fills status 0 and error "transport" (or "bad_response") with curl's or the parser's reason.
 * Frames of a binary answer go to the sink as they arrive, while the body is still coming in.
 *
 * This client never loads a PKCS#11 module and never reads a PIN: the station holds no secret of
 * the product, only its own TLS key. Not thread-safe: one client per thread (per chip). */
#ifndef PV_PROVISIONER_BRIDGE_CLIENT_H
#define PV_PROVISIONER_BRIDGE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "../hsm-bridge/bridge.h"
#include "../hsm-bridge/update_bridge.h"

#define PV_BRIDGE_CLIENT_TIMEOUT_DEFAULT_S 30u
#define PV_BRIDGE_CLIENT_FRAME_MAX         65536u     /* a frame longer than this is refused */
#define PV_BRIDGE_CLIENT_BODY_MAX          (4u << 20) /* a JSON answer longer than this too */

struct pv_bridge_client_config {
    const char *url;    /* the bridge: https://HOST:PORT (a trailing '/' is allowed) */
    const char *cert;   /* the station's client certificate (PEM file) */
    const char *key;    /* its private key (PEM file) */
    const char *ca;     /* the CA the bridge's certificate must chain to (PEM file) */
    unsigned timeout_s; /* per request; 0: PV_BRIDGE_CLIENT_TIMEOUT_DEFAULT_S */
};

typedef struct pv_bridge_client pv_bridge_client;

/* Checks the configuration (https URL, files readable) and makes the curl handle; connects on
 * the first request. NULL with err. */
pv_bridge_client *pv_bridge_client_new(const struct pv_bridge_client_config *cfg, char *err,
                                       size_t err_len);
/* Closes the connection. NULL is allowed. */
void pv_bridge_client_free(pv_bridge_client *c);
/* HTTP requests sent so far (each call is one), and TLS connections opened for them. */
unsigned pv_bridge_client_requests(const pv_bridge_client *c);
unsigned pv_bridge_client_connections(const pv_bridge_client *c);

/* GET /v1/plan: fills plan with copies the caller owns (strings and stub bytes), freed with
 * pv_bridge_client_plan_free. The stub's SHA-256 is checked against the plan's. */
int pv_bridge_client_plan(pv_bridge_client *c, const char *product, const char *batch,
                          struct pv_bridge_plan *plan, struct pv_bridge_err *e);
/* Frees what pv_bridge_client_plan allocated and zeroes plan. */
void pv_bridge_client_plan_free(struct pv_bridge_plan *plan);

/* POST /v1/sessions: the frames go to sink as they arrive; session_id gets PV-Session. A sink
 * returning non-zero aborts the transfer (status 0, error "aborted"). */
int pv_bridge_client_begin(pv_bridge_client *c, const char *product, const char *batch,
                           const struct pv_bridge_identity *id, uint32_t mbox_flags,
                           const uint8_t *msg1, size_t msg1_len, pv_bridge_frame_sink sink,
                           void *ctx, char session_id[PV_BRIDGE_SESSION_ID_LEN],
                           struct pv_bridge_err *e);
/* POST /v1/sessions/ID/verified: the stub's verify reply in, the final frame out. */
int pv_bridge_client_verified(pv_bridge_client *c, const char *session_id, const uint8_t *reply,
                              size_t reply_len, pv_bridge_frame_sink sink, void *ctx,
                              struct pv_bridge_err *e);
/* POST /v1/sessions/ID/lock. */
int pv_bridge_client_lock(pv_bridge_client *c, const char *session_id, const uint8_t *reply,
                          size_t reply_len, const struct pv_bridge_observed *obs,
                          struct pv_bridge_outcome *out, struct pv_bridge_err *e);
/* POST /v1/sessions/ID/fail. */
int pv_bridge_client_fail(pv_bridge_client *c, const char *session_id, const char *phase,
                          const char *reason, struct pv_bridge_err *e);

/* ---- firmware updates (docs/bridge-protocol.md, "Firmware updates") ---- */

/* POST /v1/update/begin with message 1's body: msg2 gets message 2's body, session_id the
 * session, offer what the bridge decided. */
int pv_bridge_client_update_begin(pv_bridge_client *c, const uint8_t *msg1, size_t msg1_len,
                                  uint8_t msg2[PV_UPD_MSG2_LEN],
                                  char session_id[PV_BRIDGE_SESSION_ID_LEN],
                                  struct pv_bridge_update_offer *offer, struct pv_bridge_err *e);
/* GET /v1/update/ID/stream: *data (malloc'd, the caller frees) gets every DATA message, each a
 * u16 little-endian length and the ciphertext. */
int pv_bridge_client_update_stream(pv_bridge_client *c, const char *session_id, uint8_t **data,
                                   size_t *len, struct pv_bridge_err *e);
/* POST /v1/update/ID/report with the REPORT frame's body: result gets the bridge's reading of it
 * ("installed", ...), version the version now in the application region. */
int pv_bridge_client_update_report(pv_bridge_client *c, const char *session_id,
                                   const uint8_t *report, size_t len, char result[24],
                                   char version[16], struct pv_bridge_err *e);

#endif
