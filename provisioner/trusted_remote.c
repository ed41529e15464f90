/* The trusted side behind `hsm-bridge` (trusted.h): every call is one HTTPS request. */
#include <stdio.h>
#include <string.h>

#include "trusted.h"

static int r_plan(void *ctx, const char *product, const char *batch, struct pv_bridge_plan *plan,
                  struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    return pv_bridge_client_plan(t->remote, product, batch, plan, e);
}

static int r_begin(void *ctx, const char *product, const char *batch,
                   const struct pv_bridge_identity *id, uint32_t flags, const uint8_t *msg1,
                   size_t msg1_len, pv_bridge_frame_sink sink, void *sink_ctx,
                   char session_id[PV_BRIDGE_SESSION_ID_LEN], struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    return pv_bridge_client_begin(t->remote, product, batch, id, flags, msg1, msg1_len, sink,
                                  sink_ctx, session_id, e);
}

static int r_verified(void *ctx, const char *sid, const uint8_t *reply, size_t len,
                      pv_bridge_frame_sink sink, void *sink_ctx, struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    return pv_bridge_client_verified(t->remote, sid, reply, len, sink, sink_ctx, e);
}

static int r_lock(void *ctx, const char *sid, const uint8_t *reply, size_t len,
                  const struct pv_bridge_observed *obs, struct pv_bridge_outcome *out,
                  struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    return pv_bridge_client_lock(t->remote, sid, reply, len, obs, out, e);
}

static int r_fail(void *ctx, const char *sid, const char *phase, const char *reason,
                  struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    return pv_bridge_client_fail(t->remote, sid, phase, reason, e);
}

static const struct pv_trusted_ops remote_ops = {
    r_plan, r_begin, r_verified, r_lock, r_fail,
};

int pv_trusted_open_remote(struct pv_trusted *t, const struct pv_bridge_client_config *cfg,
                           char *err, size_t err_len)
{
    memset(t, 0, sizeof *t);
    if (!(t->remote = pv_bridge_client_new(cfg, err, err_len)))
        return -1;
    t->ops = &remote_ops;
    t->ctx = t;
    snprintf(t->where, sizeof t->where, "bridge %s", cfg->url);
    return 0;
}
