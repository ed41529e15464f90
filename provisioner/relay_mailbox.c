/* The station's side of the stub mailbox (relay.h).
 *
 * Round trips: writes are posted, and the stub is resumed once per two frames, so a batch costs
 * one wait (the halt on the idle breakpoint). In live mode a frame is written into the free slot
 * while the stub works on the other one; a frame written that way may land just after the stub
 * looked, so after such a halt the relay reads the stub's frame counter and resumes it again if
 * the stub missed one.
 *
 * In spin mode (PV_MBOX_F_SPIN, for probes that reach memory while the core runs) the stub never
 * halts: it polls its slots, and the relay polls the state word instead of waiting for a halt.
 * That saves the halt and the resume per batch, which through OpenOCD are its debug entry (every
 * core and FPU register read) and the register write-back: ~230 JTAG round trips each. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "relay.h"

#define FAIL(r, code, ...) (snprintf((r)->err, sizeof(r)->err, __VA_ARGS__), (code))
#define XPSR_THUMB         0x01000000u
#define STUB_WAIT_MS       30000 /* the longest a stub may work on a frame: erasing 128 KB sectors */

static int probe_fail(struct pv_relay *r, int rc, const char *what)
{
    return FAIL(r, rc, "relay: %s: %s", what, r->link->ops->error(r->link->p));
}

/* Resumes the stub past its idle breakpoint. */
static int go(struct pv_relay *r)
{
    uint32_t pc = r->img.resume & ~1u;
    int rc = r->link->ops->resume(r->link->p, &pc);
    if (rc)
        return probe_fail(r, rc, "resuming the stub");
    r->running = true;
    r->unstarted = 0;
    return 0;
}

static int read_status(struct pv_relay *r, struct pv_stub_status *st, uint8_t *extra,
                       size_t extra_len)
{
    uint8_t b[12 + PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    size_t n = 12 + extra_len;
    int rc = r->link->ops->read_mem(r->link->p, r->mbox + PV_MBOX_STATE, b, n);
    if (rc)
        return probe_fail(r, rc, "reading the stub's status");
    uint32_t state = pv_ld32(b);
    st->state = (uint8_t)state;
    st->status = (uint8_t)(state >> 8);
    st->done = pv_ld32(b + 4);
    st->detail = pv_ld32(b + 8);
    if (extra_len)
        memcpy(extra, b + 12, extra_len);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Spin mode: polls the state word until the stub has consumed frame `upto` (or has failed), and
 * with `idle` until it also waits for the next one. The done word counts the frames whose commands
 * have run, busy or not, so a slot is free again as soon as it covers the slot's last frame: the
 * next frame goes in while the stub works on the other slot's (an erase of seconds, say). A
 * millisecond between polls keeps the debug link quiet while the stub works. */
static int wait_done(struct pv_relay *r, uint32_t upto, bool idle)
{
    uint64_t end = now_ms() + (uint64_t)r->timeout_ms;
    for (;;) {
        struct pv_stub_status st;
        int rc = read_status(r, &st, NULL, 0);
        if (rc)
            return rc;
        if (st.state == PV_STATE_FAILED ||
            ((!idle || st.state == PV_STATE_WAIT || st.state == PV_STATE_DONE) &&
             st.done >= upto)) {
            r->done = st.done > r->done ? st.done : r->done;
            return 0;
        }
        if (now_ms() > end)
            return FAIL(r, PV_PROBE_ERR_TIMEOUT,
                        "relay: the stub did not finish frame %u within %d ms (state %s)",
                        (unsigned)upto, r->timeout_ms, pv_state_name(st.state));
        struct timespec ms1 = {0, 1000000};
        nanosleep(&ms1, NULL);
    }
}

/* Waits for the idle breakpoint; after frames went in while the stub ran, makes sure it saw
 * them. */
static int wait_idle(struct pv_relay *r)
{
    if (r->spin) {
        int rc = wait_done(r, r->posted, true);
        if (!rc)
            r->done = r->posted;
        return rc;
    }
    while (r->running) {
        int rc = r->link->ops->wait_halt(r->link->p, r->timeout_ms);
        if (rc)
            return probe_fail(r, rc, "waiting for the stub");
        r->running = false;
        if (!r->posted_running)
            break;
        r->posted_running = false;
        struct pv_stub_status st;
        if ((rc = read_status(r, &st, NULL, 0)) != 0)
            return rc;
        if (st.state == PV_STATE_WAIT && st.done < r->posted) {
            r->rescued++;
            if ((rc = go(r)) != 0)
                return rc;
        }
    }
    r->done = r->posted; /* halted: every slot is free (consumed, or abandoned by a failure) */
    return 0;
}

int pv_relay_start(struct pv_relay *r, pv_probe_link *link, const struct pv_stub_image *img,
                   const uint8_t bridge_pub[32], const uint8_t host_entropy[32], uint32_t flags,
                   uint8_t *msg1, size_t cap, size_t *msg1_len)
{
    pv_relay_hook hook = r->hook;
    void *hook_ctx = r->hook_ctx;
    pv_relay_observer observe = r->observe;
    void *observe_ctx = r->observe_ctx;
    bool live = r->live;
    int timeout = r->timeout_ms;
    memset(r, 0, sizeof *r);
    r->spin = (flags & PV_MBOX_F_SPIN) != 0;
    r->hook = hook;
    r->hook_ctx = hook_ctx;
    r->observe = observe;
    r->observe_ctx = observe_ctx;
    r->live = live;
    r->timeout_ms = timeout > 0 ? timeout : STUB_WAIT_MS;
    r->link = link;
    r->img = *img;
    /* SRAM plan (stub_image.h): stub, its bss and stack, the mailbox, two slots. */
    r->mbox = img->mbox;
    r->slot0 = img->slot0;
    r->slot_size = img->slot_size;

    const struct pv_probe_ops *ops = link->ops;
    pv_probe *p = link->p;
    int rc = ops->reset_halt(p);
    if (rc)
        return probe_fail(r, rc, "reset and halt");
    if ((rc = ops->write_mem(p, img->base, img->bin, img->len)) != 0)
        return probe_fail(r, rc, "uploading the stub");
    uint8_t m[PV_MBOX_REPLY_BODY];
    memset(m, 0, sizeof m);
    pv_st32(m + PV_MBOX_MAGIC_OFF, PV_MBOX_MAGIC);
    pv_st32(m + PV_MBOX_FLAGS, flags);
    pv_st32(m + PV_MBOX_SLOT0, r->slot0);
    pv_st32(m + PV_MBOX_SLOT_SIZE, r->slot_size);
    memcpy(m + PV_MBOX_BRIDGE_PUB, bridge_pub, 32);
    memcpy(m + PV_MBOX_HOST_ENTROPY, host_entropy, 32);
    if ((rc = ops->write_mem(p, r->mbox, m, sizeof m)) != 0 ||
        (rc = ops->write_reg(p, PV_REG_R0, r->mbox)) != 0 ||
        (rc = ops->write_reg(p, PV_REG_XPSR, XPSR_THUMB)) != 0)
        return probe_fail(r, rc, "writing the parameter block");
    if (r->observe) {
        if ((rc = ops->flush(p)) != 0)
            return probe_fail(r, rc, "uploading the stub");
        r->observe(r->observe_ctx, PV_PHASE_UPLOADED);
    }
    uint32_t entry = img->entry & ~1u;
    if ((rc = ops->resume(p, &entry)) != 0)
        return probe_fail(r, rc, "starting the stub");
    r->running = true;
    if ((rc = wait_idle(r)) != 0)
        return rc;
    /* status, reply header and message 1 (its size is fixed by the protocol) in one read */
    uint8_t b[PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    size_t want = 32 + PV_ID_LEN + PV_NOISE_TAGLEN;
    struct pv_stub_status st;
    if ((rc = read_status(r, &st, b, PV_TRAILER_LEN + want)) != 0)
        return rc;
    if (st.state != PV_STATE_WAIT)
        return FAIL(r, -1, "relay: stub did not start: state %s, %s (detail 0x%08x)",
                    pv_state_name(st.state), pv_status_name(st.status), (unsigned)st.detail);
    size_t len = pv_ld16(b + PV_TRAILER_LEN16);
    if (pv_ld32(b + PV_TRAILER_SEQ) != 0 || b[PV_TRAILER_TYPE] != PV_FRAME_HANDSHAKE ||
        len != want || len > cap)
        return FAIL(r, -1, "relay: stub's message 1 is malformed (length %zu)", len);
    memcpy(msg1, b + PV_TRAILER_LEN, len);
    *msg1_len = len;
    if (r->observe)
        r->observe(r->observe_ctx, PV_PHASE_STARTED);
    return 0;
}

int pv_relay_post(struct pv_relay *r, uint32_t seq, const uint8_t *frame, size_t len)
{
    uint8_t buf[PV_SLOT_MAX];
    if (len > r->slot_size || len > sizeof buf)
        return FAIL(r, -1, "relay: frame %u is %zu bytes, slots hold %u", (unsigned)seq, len,
                    (unsigned)r->slot_size);
    memcpy(buf, frame, len);
    int slot = (int)(seq & 1u);
    if (r->hook) {
        int h = r->hook(r->hook_ctx, seq, buf, &len, r->slot_size);
        if (h == 1)
            return 0; /* dropped */
        if (h == 2)
            slot ^= 1;
    }
    int rc;
    /* The slot is free once the frame two before is consumed. */
    bool free_now = seq <= r->done + 2;
    if (r->spin && !free_now && (rc = wait_done(r, seq - 2, false)) != 0)
        return rc;
    if (!r->spin && r->running && !(r->live && free_now) && (rc = wait_idle(r)) != 0)
        return rc;
    uint32_t at = r->slot0 + (uint32_t)slot * r->slot_size + r->slot_size - (uint32_t)len;
    if (r->running && len >= PV_TRAILER_LEN) {
        /* The stub may look at the trailer any moment: its frame number goes in last, after the
         * length and flags next to it (0 there means "not posted yet"). */
        uint8_t seq_word[4];
        memcpy(seq_word, buf + len - PV_TRAILER_LEN + PV_TRAILER_SEQ, 4);
        memset(buf + len - PV_TRAILER_LEN + PV_TRAILER_SEQ, 0, 4);
        if ((rc = r->link->ops->write_mem(r->link->p, at, buf, len)) != 0 ||
            (rc = r->link->ops->write_mem(r->link->p, at + (uint32_t)len - PV_TRAILER_LEN, seq_word,
                                          4)) != 0)
            return probe_fail(r, rc, "writing a frame");
    } else if ((rc = r->link->ops->write_mem(r->link->p, at, buf, len)) != 0) {
        return probe_fail(r, rc, "writing a frame");
    }
    if (seq > r->posted)
        r->posted = seq;
    if (r->spin)
        return 0;
    if (r->running) {
        r->posted_running = true;
        r->live_writes++;
        return 0;
    }
    if (++r->unstarted == 2 || r->live)
        return go(r);
    return 0;
}

int pv_relay_sync(struct pv_relay *r, struct pv_stub_status *st, uint8_t *buf, size_t cap,
                  size_t expect, size_t *reply_len)
{
    int rc;
    *reply_len = 0;
    if (!r->spin && r->unstarted && (rc = go(r)) != 0)
        return rc;
    if ((rc = wait_idle(r)) != 0)
        return rc;
    uint8_t b[PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    if (expect > PV_MBOX_REPLY_MAX)
        expect = PV_MBOX_REPLY_MAX;
    if ((rc = read_status(r, st, b, PV_TRAILER_LEN + expect)) != 0)
        return rc;
    size_t len = pv_ld16(b + PV_TRAILER_LEN16);
    if (pv_ld32(b + PV_TRAILER_SEQ) != st->done || len == 0 || st->done == 0)
        return 0; /* no reply for the last frame */
    if (len > PV_MBOX_REPLY_MAX || PV_TRAILER_LEN + len > cap)
        return FAIL(r, -1, "relay: reply of %zu bytes does not fit", len);
    if (len > expect) { /* longer than expected (an error with data): one more read */
        rc = r->link->ops->read_mem(r->link->p, r->mbox + PV_MBOX_REPLY_BODY + expect,
                                    b + PV_TRAILER_LEN + expect, len - expect);
        if (rc)
            return probe_fail(r, rc, "reading the reply");
    }
    memcpy(buf, b, PV_TRAILER_LEN + len);
    *reply_len = PV_TRAILER_LEN + len;
    return 0;
}

int pv_relay_ack(struct pv_relay *r, uint32_t seq)
{
    uint8_t b[4];
    pv_st32(b, seq);
    if (r->observe)
        r->observe(r->observe_ctx, PV_PHASE_FINAL);
    int rc = r->link->ops->write_mem(r->link->p, r->mbox + PV_MBOX_ACK, b, 4);
    if (rc)
        return probe_fail(r, rc, "acknowledging the final frame");
    if (!r->spin)
        return go(r);
    /* A spinning stub resets the chip the moment it sees the ack, possibly before the probe has
     * finished its write (RDP Level 2 then kills the port under it): a failure here does not
     * say the ack was lost. The station confirms the lock from outside in any case (dead port,
     * or option byte and a refused flash read). */
    r->link->ops->flush(r->link->p);
    return 0;
}
