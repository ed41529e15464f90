/* The trusted side in this process (trusted.h): the bridge library with the engineer's token. */
#include <stdio.h>
#include <string.h>

#include "trusted.h"

static struct pv_bridge_station who(struct pv_trusted *t)
{
    return (struct pv_bridge_station){.name = t->station, .cert_sha256 = NULL};
}

static int l_plan(void *ctx, const char *product, const char *batch, struct pv_bridge_plan *plan,
                  struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    struct pv_bridge_station st = who(t);
    return pv_bridge_plan(t->local, &st, product, batch, plan, e);
}

static int l_begin(void *ctx, const char *product, const char *batch,
                   const struct pv_bridge_identity *id, uint32_t flags, const uint8_t *msg1,
                   size_t msg1_len, pv_bridge_frame_sink sink, void *sink_ctx,
                   char session_id[PV_BRIDGE_SESSION_ID_LEN], struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    struct pv_bridge_station st = who(t);
    return pv_bridge_begin(t->local, &st, product, batch, id, flags, msg1, msg1_len, sink, sink_ctx,
                           session_id, e);
}

static int l_verified(void *ctx, const char *sid, const uint8_t *reply, size_t len,
                      pv_bridge_frame_sink sink, void *sink_ctx, struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    struct pv_bridge_station st = who(t);
    return pv_bridge_verified(t->local, &st, sid, reply, len, sink, sink_ctx, e);
}

static int l_lock(void *ctx, const char *sid, const uint8_t *reply, size_t len,
                  const struct pv_bridge_observed *obs, struct pv_bridge_outcome *out,
                  struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    struct pv_bridge_station st = who(t);
    return pv_bridge_lock(t->local, &st, sid, reply, len, obs, out, e);
}

static int l_fail(void *ctx, const char *sid, const char *phase, const char *reason,
                  struct pv_bridge_err *e)
{
    struct pv_trusted *t = ctx;
    struct pv_bridge_station st = who(t);
    return pv_bridge_fail(t->local, &st, sid, phase, reason, e);
}

static const struct pv_trusted_ops local_ops = {
    l_plan, l_begin, l_verified, l_lock, l_fail,
};

int pv_trusted_open_local(struct pv_trusted *t, const struct pv_bridge_config *cfg,
                          const char *station, char *err, size_t err_len)
{
    memset(t, 0, sizeof *t);
    struct pv_bridge_config c = *cfg;
    c.local = 1;
    if (!(t->local = pv_bridge_open(&c, err, err_len)))
        return -1;
    t->ops = &local_ops;
    t->ctx = t;
    snprintf(t->station, sizeof t->station, "%s", station);
    snprintf(t->where, sizeof t->where, "local (this station is the trusted side)");
    return 0;
}
