/* Fuzzing the station's bridge client parsers (provisioner/bridge_client_parse.c) on what a
 * bridge (or whoever answers in its place) sends: the first byte picks the parser.
 *   0  the application/x-pv-frames stream, fed in chunks whose sizes come from the second byte
 *      (as libcurl hands the body over); every frame the sink gets must be the one a plain
 *      reading of the stream finds at that place, and the parser must stop where it does;
 *   1  the plan (GET /v1/plan's JSON), through the body buffer;
 *   2  the lock's outcome;
 *   3  a refusal's JSON body with the HTTP status from the second byte;
 *   4  the PV-Session header's value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../provisioner/bridge_client_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct expect {
    const uint8_t *stream;
    size_t len, off; /* where the next frame's length prefix is */
    unsigned frames, stop_at;
};

static int sink(void *ctx, const uint8_t *frame, size_t len)
{
    struct expect *x = ctx;
    const uint8_t *p = x->stream + x->off;
    size_t want = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    if (x->off + 4 + want > x->len || len != want || memcmp(frame, p + 4, len) != 0)
        abort();
    x->off += 4 + len;
    return ++x->frames == x->stop_at;
}

static void frames(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    unsigned seed = data[0];
    struct expect x = {.stream = data + 1, .len = size - 1, .stop_at = (seed >> 4) & 7};
    struct pv_bc_response r = {.mode = 1, .sink = sink, .ctx = &x};
    size_t off = 0;
    int rc = 0;
    while (off < x.len && rc == 0) {
        size_t k = 1 + (seed * 37u + off) % (1u + (seed & 15) * 97u);
        if (k > x.len - off)
            k = x.len - off;
        rc = pv_bc_frames_feed(&r, x.stream + off, k);
        off += k;
    }
    if (r.frames != x.frames)
        abort();
    /* Where a plain reading stops: a bad length, or the sink asking to stop. */
    size_t o = x.off;
    if (rc == 0) {
        if (r.sink_stopped || r.too_long || off != x.len)
            abort();
        /* What is left is an incomplete frame held back. */
        if ((o == x.len) != (r.hdr_have == 0))
            abort();
    } else if (r.sink_stopped) {
        if (x.stop_at == 0 || x.frames != x.stop_at)
            abort();
    } else {
        const uint8_t *p = x.stream + o;
        size_t want = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
        if (!r.too_long || o + 4 > x.len || (want != 0 && want <= PV_BRIDGE_CLIENT_FRAME_MAX))
            abort();
    }
    pv_bc_response_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 70000)
        return 0;
    unsigned mode = data[0] % 5;
    data++, size--;
    if (mode == 0) {
        frames(data, size);
        return 0;
    }
    /* The JSON answers arrive through the body buffer, as on the wire. */
    struct pv_bc_response r = {.mode = 2};
    size_t half = size / 2;
    if ((half && pv_bc_body_append(&r, (const char *)data, half) != 0) ||
        (size - half && pv_bc_body_append(&r, (const char *)data + half, size - half) != 0))
        abort();
    if (size && (r.body_len != size || memcmp(r.body, data, size) != 0 || r.body[size] != 0))
        abort();
    switch (mode) {
    case 1: {
        struct pv_bridge_plan plan;
        memset(&plan, 0, sizeof plan);
        const char *bad = pv_bc_plan_parse(r.body, r.body_len, &plan);
        if (!bad) {
            if (!plan.product || !plan.batch || !plan.recipe || !plan.chip_family || !plan.stub ||
                plan.stub_len == 0 || plan.rdp_level > 2 || plan.boot_len == 0 ||
                strlen(plan.recipe_sha256) != 64 || strlen(plan.boot_sha256) != 64)
                abort();
            volatile uint8_t last = plan.stub[plan.stub_len - 1];
            (void)last;
        }
        pv_bridge_client_plan_free(&plan);
        break;
    }
    case 2: {
        struct pv_bridge_outcome o;
        memset(&o, 0, sizeof o);
        if (pv_bc_lock_outcome(r.body, r.body_len, &o) == 0 && strlen(o.uid_hex) != 24)
            abort();
        break;
    }
    case 3: {
        struct pv_bridge_err e;
        memset(&e, 0, sizeof e);
        int status = 100 + (size ? data[size - 1] : 0) * 2;
        pv_bc_refusal(&r, status, "/v1/sessions", &e);
        if (e.status != status || !e.error[0] ||
            strnlen(e.error, sizeof e.error) == sizeof e.error ||
            strnlen(e.reason, sizeof e.reason) == sizeof e.reason)
            abort();
        break;
    }
    default: {
        char id[64];
        size_t n = size < sizeof id - 1 ? size : sizeof id - 1;
        memcpy(id, data, n);
        id[n] = 0;
        if (pv_bc_session_id_ok(id) && strlen(id) != PV_BRIDGE_SESSION_ID_LEN - 1)
            abort();
        break;
    }
    }
    pv_bc_response_free(&r);
    return 0;
}
