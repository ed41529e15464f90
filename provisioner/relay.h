/* The station's side of the stub mailbox (docs/protocol.md) through any pv_probe: upload and
 * start the stub, post frames into the two slots, wait for the stub, read its status and
 * replies. Nothing here holds a key: frames and replies are ciphertext, sealed and opened by the
 * trusted side (hsm-bridge/bridge.h). Every function returns 0 or a negative error and writes
 * one line into the relay's err. */
#ifndef PV_PROVISIONER_RELAY_H
#define PV_PROVISIONER_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/stub_image.h"
#include "noise/noise.h"
#include "probe.h"
#include "proto/proto.h"

struct pv_stub_status {
    uint8_t state, status;
    uint32_t done, detail;
};

/* Test hook: sees every frame before it is written; may change it (len up to cap), or return 1
 * to drop it, 2 to write it into the other slot. */
typedef int (*pv_relay_hook)(void *ctx, uint32_t seq, uint8_t *frame, size_t *len, size_t cap);

/* Benchmark hook: called at the milestones of a session (the probe is idle at each). */
enum pv_relay_phase {
    PV_PHASE_UPLOADED = 1, /* stub and parameter block written, not started */
    PV_PHASE_STARTED = 2,  /* message 1 read */
    PV_PHASE_FINAL = 3     /* the final frame's reply read, the ack not yet written */
};
typedef void (*pv_relay_observer)(void *ctx, enum pv_relay_phase phase);

struct pv_relay {
    pv_probe_link *link;
    struct pv_stub_image img;
    uint32_t mbox, slot0, slot_size;
    uint32_t posted;      /* highest frame number written */
    uint32_t done;        /* highest frame number known consumed */
    unsigned unstarted;   /* frames written since the last resume */
    bool running;         /* resumed, idle breakpoint not yet seen */
    bool live;            /* write while the stub runs (the probe must allow it) */
    bool spin;            /* PV_MBOX_F_SPIN: the stub never halts; poll its state word */
    bool posted_running;  /* a frame went in while the stub ran */
    uint32_t live_writes; /* frames written while the stub ran (live mode) */
    uint32_t rescued;     /* of those, frames the stub had missed and was resumed for */
    pv_relay_hook hook;
    void *hook_ctx;
    pv_relay_observer observe;
    void *observe_ctx;
    int timeout_ms; /* for each wait on the stub */
    char err[256];
};

/* Resets and halts the chip, uploads the stub, writes the parameter block (bridge_pub,
 * host_entropy, slots sized to the 16 KB budget, flags PV_MBOX_F_*), starts it, and returns
 * message 1 (body) once the stub is idle. */
int pv_relay_start(struct pv_relay *r, pv_probe_link *link, const struct pv_stub_image *img,
                   const uint8_t bridge_pub[32], const uint8_t host_entropy[32], uint32_t flags,
                   uint8_t *msg1, size_t cap, size_t *msg1_len);
/* Writes a frame (body + trailer) into its slot, waiting for the slot to be free. */
int pv_relay_post(struct pv_relay *r, uint32_t seq, const uint8_t *frame, size_t len);
/* Lets the stub work through everything posted, then reads its status and, if the last frame
 * consumed has one, its reply (header + body) into buf; expect = the reply body length the
 * caller expects (read in the same round trip; longer replies cost one more). *reply_len is 0
 * when there is no new reply. */
int pv_relay_sync(struct pv_relay *r, struct pv_stub_status *st, uint8_t *buf, size_t cap,
                  size_t expect, size_t *reply_len);
/* After the final frame's reply: tells the stub to go ahead (reset, or park). */
int pv_relay_ack(struct pv_relay *r, uint32_t seq);

#endif
