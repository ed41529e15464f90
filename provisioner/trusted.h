/* The trusted side as the station sees it: one interface, two implementations, one code path
 * above (run_flow.c). Remote: `hsm-bridge` over HTTPS with mutual TLS (bridge_client.h); the
 * station then holds no key, no PIN, no plaintext image and makes no decision. Local: the same
 * bridge library in this process with the engineer's own token (hsm-bridge/bridge.h); there the
 * station IS the trusted side, and nothing is protected from its operator. */
#ifndef PV_PROVISIONER_TRUSTED_H
#define PV_PROVISIONER_TRUSTED_H

#include "../hsm-bridge/bridge.h"
#include "bridge_client.h"

struct pv_trusted_ops {
    int (*plan)(void *ctx, const char *product, const char *batch, struct pv_bridge_plan *plan,
                struct pv_bridge_err *e);
    int (*begin)(void *ctx, const char *product, const char *batch,
                 const struct pv_bridge_identity *id, uint32_t mbox_flags, const uint8_t *msg1,
                 size_t msg1_len, pv_bridge_frame_sink sink, void *sink_ctx,
                 char session_id[PV_BRIDGE_SESSION_ID_LEN], struct pv_bridge_err *e);
    int (*verified)(void *ctx, const char *session_id, const uint8_t *reply, size_t reply_len,
                    pv_bridge_frame_sink sink, void *sink_ctx, struct pv_bridge_err *e);
    int (*lock)(void *ctx, const char *session_id, const uint8_t *reply, size_t reply_len,
                const struct pv_bridge_observed *obs, struct pv_bridge_outcome *out,
                struct pv_bridge_err *e);
    int (*fail)(void *ctx, const char *session_id, const char *phase, const char *reason,
                struct pv_bridge_err *e);
};

struct pv_trusted {
    const struct pv_trusted_ops *ops;
    void *ctx;
    pv_bridge *local;           /* local mode: the in-process bridge */
    pv_bridge_client *remote;   /* remote mode */
    struct pv_bridge_plan plan; /* the last plan (remote: owned copies) */
    char station[PV_LEDGER_TEXT_MAX];
    char where[300]; /* "bridge https://..." or "local" */
};

/* Local mode: opens the bridge library in-process (cfg->local is set here); station names
 * this station in the ledger. 0, or -1 with err. */
int pv_trusted_open_local(struct pv_trusted *t, const struct pv_bridge_config *cfg,
                          const char *station, char *err, size_t err_len);
/* Remote mode: a client of the bridge at cfg->url. */
int pv_trusted_open_remote(struct pv_trusted *t, const struct pv_bridge_client_config *cfg,
                           char *err, size_t err_len);
void pv_trusted_close(struct pv_trusted *t);
/* HTTP requests sent (remote), 0 in local mode. */
unsigned pv_trusted_round_trips(const struct pv_trusted *t);

#endif
