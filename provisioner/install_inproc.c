/* One install in one process (install_inproc.h): the trusted side's state machine hands each
 * frame to the relay as it is sealed, and the relay's replies go straight back. */
#include "install_inproc.h"

#include <stdio.h>
#include <string.h>

#include "../hsm-bridge/install_frames.h"
#include "crypto/wipe.h"

struct post_ctx {
    struct pv_relay *r;
    uint32_t last_seq; /* the number of the frame posted last */
};

/* The frame's number is in its trailer. */
static int post(void *ctx, const uint8_t *frame, size_t len)
{
    struct post_ctx *p = ctx;
    uint32_t seq = pv_ld32(frame + len - PV_TRAILER_LEN + PV_TRAILER_SEQ);
    p->last_seq = seq;
    return pv_relay_post(p->r, seq, frame, len);
}

/* Lets the stub answer what was posted; the reply (header + sealed body) goes into buf. */
static int sync_reply(struct pv_relay *r, struct pv_install_result *res, uint8_t *buf, size_t cap,
                      size_t *len)
{
    if (pv_relay_sync(r, &res->status, buf, cap, PV_INSTALL_REPLY_LEN, len)) {
        snprintf(res->err, sizeof res->err, "%s", r->err);
        return -1;
    }
    if (!*len) {
        snprintf(res->err, sizeof res->err,
                 "install: stub stopped at frame %u without a reply: %s (detail 0x%08x)",
                 (unsigned)res->status.done, pv_status_name(res->status.status),
                 (unsigned)res->status.detail);
        return -1;
    }
    return 0;
}

int pv_session_install(pv_probe_link *link, const struct pv_install *in,
                       struct pv_install_result *res)
{
    memset(res, 0, sizeof *res);
    struct pv_install_frames *f = pv_install_frames_new();
    struct pv_relay r;
    memset(&r, 0, sizeof r);
    if (!f) {
        snprintf(res->err, sizeof res->err, "install: out of memory");
        return -1;
    }
    r.live = in->live;
    r.hook = in->hook;
    r.hook_ctx = in->hook_ctx;
    r.observe = in->observe;
    r.observe_ctx = in->observe_ctx;
    struct post_ctx pc = {&r, 0};
    uint8_t msg1[128], buf[PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    size_t msg1_len, len;
    int rc = -1;
    const char *ferr = NULL;

    if (pv_relay_start(&r, link, in->stub, in->bridge_pub, in->host_entropy, in->flags, msg1,
                       sizeof msg1, &msg1_len)) {
        snprintf(res->err, sizeof res->err, "%s", r.err);
        goto out;
    }
    if (pv_install_frames_accept(f, in->bridge_priv, msg1, msg1_len, &in->expect, &res->id)) {
        ferr = pv_install_frames_error(f);
        goto out;
    }
    if (in->progress)
        in->progress(in->station_ctx, PV_INSTALL_STUB);
    struct pv_install_spec spec = {
        .slot_size = r.slot_size,
        .image_addr = in->image_addr,
        .image = in->image,
        .image_len = in->image_len,
        .app_addr = in->app_addr,
        .app = in->app,
        .app_len = in->app_len,
        .keyslot_addr = in->keyslot_addr,
        .keyslot = in->keyslot,
        .sign_slot = in->sign_slot,
        .sign_ctx = in->sign_ctx,
        .psize = in->psize,
        .rdp = in->rdp,
        .nwrp = in->nwrp,
    };
    int brc = pv_install_frames_begin(f, &spec, post, &pc);
    pv_wipe(&spec.keyslot, sizeof spec.keyslot);
    if (brc) {
        /* the relay's own error says more when it stopped the sink */
        if (r.err[0])
            snprintf(res->err, sizeof res->err, "%s", r.err);
        else
            ferr = pv_install_frames_error(f);
        goto out;
    }
    if (in->progress) {
        in->progress(in->station_ctx, PV_INSTALL_ERASE);
        in->progress(in->station_ctx, PV_INSTALL_WRITE);
    }
    if (sync_reply(&r, res, buf, sizeof buf, &len))
        goto out;
    if (pv_install_frames_check_verify(f, buf, len)) {
        res->reply = *pv_install_frames_reply(f);
        ferr = pv_install_frames_error(f);
        goto out;
    }
    if (in->progress)
        in->progress(in->station_ctx, PV_INSTALL_VERIFY);
    if (in->before_final && in->before_final(in->station_ctx)) {
        snprintf(res->err, sizeof res->err,
                 "install: stopped before the final frame by the station (nothing locked)");
        goto out;
    }
    if (pv_install_frames_final(f, post, &pc)) {
        if (r.err[0])
            snprintf(res->err, sizeof res->err, "%s", r.err);
        else
            ferr = pv_install_frames_error(f);
        goto out;
    }
    if (sync_reply(&r, res, buf, sizeof buf, &len))
        goto out;
    if (pv_install_frames_check_final(f, buf, len)) {
        ferr = pv_install_frames_error(f);
        goto out;
    }
    res->reply = *pv_install_frames_reply(f);
    if (res->status.state != PV_STATE_DONE) {
        snprintf(res->err, sizeof res->err, "install: stub is %s after the final frame",
                 pv_state_name(res->status.state));
        goto out;
    }
    if (pv_relay_ack(&r, pc.last_seq)) {
        snprintf(res->err, sizeof res->err, "%s", r.err);
        goto out;
    }
    if (in->progress)
        in->progress(in->station_ctx, PV_INSTALL_LOCK);
    rc = 0;
out:
    res->frames = pv_install_frames_count(f);
    res->live_writes = r.live_writes;
    res->payload_bytes = in->image_len + (in->app ? in->app_len : 0) + PV_KEYSLOT_LEN;
    if (ferr)
        snprintf(res->err, sizeof res->err, "%s", ferr);
    pv_install_frames_free(f);
    return rc;
}
