/* The parsers of the station's bridge client (bridge_client.c) for what the bridge sends, apart
 * from libcurl so that they can be fuzzed (tests/fuzz/fuzz_bridge_client.c): the frame stream of
 * application/x-pv-frames answers (a 4-byte little-endian length, then the frame), JSON bodies,
 * the plan, the lock's outcome, refusals and the session id. */
#ifndef PV_PROVISIONER_BRIDGE_CLIENT_PARSE_H
#define PV_PROVISIONER_BRIDGE_CLIENT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "bridge_client.h"

/* What one response is turned into while it arrives. */
struct pv_bc_response {
    int mode; /* 0 undecided, 1 frames, 2 body (JSON) */
    pv_bridge_frame_sink sink;
    void *ctx;
    unsigned frames;
    /* frames: the length prefix, then the frame */
    uint8_t hdr[4];
    size_t hdr_have;
    uint8_t *frame;
    size_t frame_len, frame_have;
    int sink_stopped, too_long;
    /* body */
    char *body;
    size_t body_len, body_cap;
};

/* Appends body bytes; -1 past PV_BRIDGE_CLIENT_BODY_MAX (too_long) or out of memory. */
int pv_bc_body_append(struct pv_bc_response *r, const char *p, size_t n);
/* Consumes frame bytes: completes the length prefix, then the frame, and hands each whole frame
 * to the sink at once. -1 on a length of 0 or over PV_BRIDGE_CLIENT_FRAME_MAX (too_long), out of
 * memory, or the sink stopping (sink_stopped). */
int pv_bc_frames_feed(struct pv_bc_response *r, const uint8_t *p, size_t n);
void pv_bc_response_free(struct pv_bc_response *r);

/* The error of a refusal: the JSON body's {"error","reason"}, else from the status alone. */
void pv_bc_refusal(const struct pv_bc_response *r, int status, const char *path,
                   struct pv_bridge_err *e);

/* Fills plan from the JSON body (NULL: none); the name of the first missing or wrong field, or
 * NULL. pv_bridge_client_plan_free(plan) after either. */
const char *pv_bc_plan_parse(const char *body, size_t len, struct pv_bridge_plan *plan);

/* The lock's answer {uid, batch, rdp_level, quota, used} into out; 0, or -1 when a field lacks. */
int pv_bc_lock_outcome(const char *body, size_t len, struct pv_bridge_outcome *out);

/* 1 when id is a session id (32 hex digits). */
int pv_bc_session_id_ok(const char *id);

#endif
