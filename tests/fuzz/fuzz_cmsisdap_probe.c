/* Fuzzing the station's whole CMSIS-DAP backend above the transport (provisioner/probe_cmsisdap.c,
 * cmsisdap_adiv5.c, cmsisdap_packets.c, cmsisdap_reply.c) on what a probe answers: the harness is
 * the transport, so queued packets, responses in flight, posted writes, failure recovery and the
 * data delivered to the caller's buffers all run as in a session. The input starts with the probe's
 * packet size and window and a list of operations (memory reads and writes, registers, halt,
 * resume, wait, reset); what follows decides each response in turn:
 *   r % 4 == 0  the right answer: command echoed, every transfer done with ACK OK, the read data
 *               taken from the input;
 *   r % 4 == 1  the right header with the count and ack byte from the input, then data;
 *   r % 4 == 2  raw bytes: one length byte, then that many;
 *   r % 4 == 3  the transport fails (as a USB error or a dropped TCP connection).
 * When the input runs out, every further receive fails. Reads must fill exactly the bytes asked. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../provisioner/cmsisdap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fake {
    struct dap_transport t;
    const uint8_t *in;
    size_t len, pos;
    uint8_t sent[MAX_INFLIGHT + 2][MAX_PKT]; /* requests not answered yet, oldest first */
    size_t sent_len[MAX_INFLIGHT + 2];
    unsigned head, n;
};

static int next_byte(struct fake *f)
{
    return f->pos < f->len ? f->in[f->pos++] : -1;
}

static int fake_send(struct dap_transport *t, const uint8_t *pkt, size_t len)
{
    struct fake *f = (struct fake *)t;
    if (len == 0 || len > MAX_PKT || f->n == MAX_INFLIGHT + 2)
        abort(); /* more in flight than the window, or a packet past the size */
    unsigned i = (f->head + f->n++) % (MAX_INFLIGHT + 2);
    memcpy(f->sent[i], pkt, len);
    f->sent_len[i] = len;
    return PV_PROBE_OK;
}

/* Words a DAP_Transfer request reads, and how many requests it holds. */
static size_t transfer_reads(const uint8_t *q, size_t len, unsigned *count)
{
    size_t reads = 0, i = 3;
    *count = len >= 3 ? q[2] : 0;
    for (unsigned k = 0; k < *count && i < len; k++) {
        uint8_t req = q[i++];
        if (req & 0x02u)
            reads++;
        else
            i += 4;
    }
    return reads;
}

static int fake_recv(struct dap_transport *t, uint8_t *buf, size_t cap, size_t *rlen,
                     int timeout_ms)
{
    (void)timeout_ms;
    struct fake *f = (struct fake *)t;
    if (f->n == 0)
        abort(); /* waiting for an answer to nothing */
    const uint8_t *q = f->sent[f->head];
    size_t qlen = f->sent_len[f->head];
    f->head = (f->head + 1) % (MAX_INFLIGHT + 2);
    f->n--;
    int r = next_byte(f);
    if (r < 0 || r % 4 == 3) {
        snprintf(t->err, sizeof t->err, "fake transport: no answer");
        return PV_PROBE_ERR_IO;
    }
    size_t n = 0;
    if (r % 4 == 2) {
        int l = next_byte(f);
        for (int k = 0; k < l && n < cap; k++) {
            int b = next_byte(f);
            buf[n++] = (uint8_t)(b < 0 ? 0 : b);
        }
    } else {
        size_t words = 0, hdr = 2;
        unsigned count = 1;
        buf[0] = q[0];
        if (q[0] == DAP_ID_TRANSFER) {
            words = transfer_reads(q, qlen, &count);
            hdr = 3;
        } else if (q[0] == DAP_ID_TRANSFER_BLOCK && qlen >= 5) {
            count = (unsigned)(q[2] | q[3] << 8);
            words = (q[4] & 0x02u) ? count : 0;
            hdr = 4;
        }
        if (r % 4 == 1) { /* count and ack from the input */
            int c = next_byte(f), a = next_byte(f);
            count = c < 0 ? 0 : (unsigned)c;
            if (hdr > 2)
                buf[hdr - 1] = (uint8_t)(a < 0 ? 0 : a);
            words = count < words ? count : words;
        } else if (hdr > 2) {
            buf[hdr - 1] = DAP_ACK_OK;
        }
        if (hdr == 2) {
            buf[1] = 0; /* status OK */
        } else if (hdr == 3) {
            buf[1] = (uint8_t)count;
        } else {
            buf[1] = (uint8_t)count;
            buf[2] = (uint8_t)(count >> 8);
        }
        n = hdr;
        for (size_t k = 0; k < 4 * words && n < cap; k++) {
            int b = next_byte(f);
            buf[n++] = (uint8_t)(b < 0 ? 0xA5 : b);
        }
    }
    *rlen = n;
    return PV_PROBE_OK;
}

static void fake_close(struct dap_transport *t)
{
    (void)t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    static struct fake f;
    memset(&f, 0, offsetof(struct fake, sent)); /* the packet copies need no clearing */
    f.head = f.n = 0;
    f.t = (struct dap_transport){
        .name = "fake", .send = fake_send, .recv = fake_recv, .close = fake_close};
    static const size_t sizes[] = {64, 512, 1024, MAX_PKT};
    pv_probe *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->t = &f.t;
    p->timeout_ms = 0; /* a DHCSR poll gives up after one read: no real sleeping between reads */
    p->pkt_size = sizes[data[0] % 4];
    p->window = 1u + (data[0] >> 2) % MAX_INFLIGHT;
    p->flight = calloc(p->window, sizeof *p->flight);
    if (!p->flight)
        abort();
    unsigned nops = 1u + data[1] % 16u;
    const uint8_t *ops = data + 2;
    if (nops > size - 2)
        nops = (unsigned)(size - 2);
    f.in = ops + nops;
    f.len = size - 2 - nops;
    const struct pv_probe_ops *o = &pv_probe_cmsisdap_ops;
    static uint8_t buf[1100], canary[1100];
    for (unsigned i = 0; i < nops; i++) {
        uint8_t op = ops[i];
        uint32_t addr = 0x20000000u + (uint32_t)(op >> 3) * 0x3FDu;
        size_t len = 1u + (size_t)(op >> 3) * 37u % 1024u;
        enum pv_probe_reg reg = (enum pv_probe_reg)((op >> 3) % (PV_REG_COUNT + 1));
        uint32_t v = 0;
        switch (op % 8) {
        case 0:
            memset(buf, 0x5A, sizeof buf);
            memset(canary, 0x5A, sizeof canary);
            o->read_mem(p, addr, buf, len);
            if (memcmp(buf + len, canary, sizeof buf - len) != 0)
                abort(); /* written past what was asked */
            break;
        case 1:
            memset(buf, op, len);
            o->write_mem(p, addr, buf, len);
            break;
        case 2:
            o->read_reg(p, reg, &v);
            break;
        case 3:
            o->write_reg(p, reg, addr);
            break;
        case 4:
            o->halt(p);
            break;
        case 5:
            o->resume(p, op & 8 ? &addr : NULL);
            break;
        case 6:
            o->wait_halt(p, 1);
            break;
        default:
            if (op & 8)
                o->reset_halt(p);
            else
                o->flush(p);
            break;
        }
        if (strnlen(o->error(p), sizeof p->err) == sizeof p->err)
            abort();
    }
    o->disconnect(p);
    return 0;
}
