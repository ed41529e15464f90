/* One whole install with the RAM stub, as the reference trusted side runs it: key exchange, the
 * flash regions (whole sectors around the image and the key slot), erase, the image in as few
 * frames as the slots allow, the key slot, verify of both (the stub compares the digests itself),
 * and the final frame: RDP Level 2 (or a plain reset), acknowledged so the stub resets the chip.
 * Commands are packed into frames up to the slot's capacity; only the key-slot-and-verify frame
 * and the final frame ask for a reply, so the image costs one wait per two frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "session.h"

#define FLASH_BASE 0x08000000u

/* STM32F4 sector holding addr (RM0090 Table 6): per bank 4 x 16 KB, 64 KB, 128 KB sectors;
 * 2 MB parts have two banks of 1 MB. */
static int f4_sector(uint16_t flash_kb, uint32_t addr, uint32_t *start, uint32_t *size)
{
    uint32_t off = addr - FLASH_BASE, bank = 0;
    if (off >= (uint32_t)flash_kb * 1024u)
        return -1;
    if (flash_kb == 2048 && off >= 0x100000u)
        bank = 0x100000u;
    uint32_t rel = off - bank;
    *size = rel < 0x10000u ? 0x4000u : rel < 0x20000u ? 0x10000u : 0x20000u;
    *start = FLASH_BASE + bank + (rel & ~(*size - 1u));
    return 0;
}

/* The whole sectors covering [addr, addr + len). */
static int sectors_of(uint16_t flash_kb, uint32_t addr, size_t len, struct pv_region *out)
{
    uint32_t s0, z0, s1, z1;
    if (!len || f4_sector(flash_kb, addr, &s0, &z0) ||
        f4_sector(flash_kb, addr + (uint32_t)len - 1, &s1, &z1))
        return -1;
    out->addr = s0;
    out->len = s1 + z1 - s0;
    return 0;
}

struct packer {
    struct pv_session *s;
    struct pv_relay *r;
    uint8_t cmds[PV_SLOT_MAX];
    size_t n, cap;
    uint32_t frames;
};

static int send_frame(struct packer *k, uint8_t flags, char *err, size_t err_len)
{
    uint8_t frame[PV_SLOT_MAX];
    uint32_t seq = k->s->next_seq;
    int len = pv_session_seal(k->s, k->cmds, k->n, flags, frame, sizeof frame);
    pv_wipe(k->cmds, k->n); /* may hold a PSK */
    k->n = 0;
    if (len < 0) {
        snprintf(err, err_len, "%s", k->s->err);
        return -1;
    }
    k->frames++;
    if (pv_relay_post(k->r, seq, frame, (size_t)len)) {
        snprintf(err, err_len, "%s", k->r->err);
        return -1;
    }
    return 0;
}

/* Appends a command; seals the frame first if it would not fit. */
static int add(struct packer *k, const uint8_t *cmd, size_t len, char *err, size_t err_len)
{
    if (k->n + len > k->cap && send_frame(k, 0, err, err_len))
        return -1;
    memcpy(k->cmds + k->n, cmd, len);
    k->n += len;
    return 0;
}

/* Reads the reply to the frame just sent and requires success. */
static int expect_ok(struct pv_session *s, struct pv_relay *r, size_t expect,
                     struct pv_install_result *res)
{
    uint8_t buf[PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    size_t len;
    if (pv_relay_sync(r, &res->status, buf, sizeof buf, expect, &len)) {
        snprintf(res->err, sizeof res->err, "%s", r->err);
        return -1;
    }
    if (len && pv_session_open(s, buf, len, &res->reply)) {
        snprintf(res->err, sizeof res->err, "%s", s->err);
        return -1;
    }
    if (res->status.state == PV_STATE_FAILED || !len || res->reply.status != PV_ST_OK) {
        int st = len ? res->reply.status : res->status.status;
        snprintf(res->err, sizeof res->err,
                 "install: stub stopped at frame %u, command %u: %s (detail 0x%08x)",
                 (unsigned)res->status.done, len ? res->reply.index : 0, pv_status_name(st),
                 (unsigned)(len ? res->reply.detail : res->status.detail));
        return -1;
    }
    return 0;
}

/* Adds region a to the sorted, merged list reg[0..*n); touching or overlapping ones merge. */
static void region_add(struct pv_region *reg, unsigned *n, struct pv_region a)
{
    unsigned i = 0;
    while (i < *n && reg[i].addr + reg[i].len < a.addr)
        i++;
    if (i < *n && reg[i].addr <= a.addr + a.len) {
        uint32_t lo = reg[i].addr < a.addr ? reg[i].addr : a.addr;
        uint32_t hi =
            reg[i].addr + reg[i].len > a.addr + a.len ? reg[i].addr + reg[i].len : a.addr + a.len;
        reg[i] = (struct pv_region){lo, hi - lo};
        /* the grown region may now reach the next one */
        while (i + 1 < *n && reg[i + 1].addr <= reg[i].addr + reg[i].len) {
            uint32_t end = reg[i + 1].addr + reg[i + 1].len;
            if (end > reg[i].addr + reg[i].len)
                reg[i].len = end - reg[i].addr;
            for (unsigned j = i + 1; j + 1 < *n; j++)
                reg[j] = reg[j + 1];
            (*n)--;
        }
        return;
    }
    for (unsigned j = *n; j > i; j--)
        reg[j] = reg[j - 1];
    reg[i] = a;
    (*n)++;
}

/* WRITE commands for an image, padded with 0xFF to a word (padding reads back as erased). */
static int add_image(struct packer *k, uint32_t addr, const uint8_t *img, size_t len, char *err,
                     size_t err_len)
{
    size_t padded = (len + 3u) & ~(size_t)3u;
    for (size_t off = 0; off < padded;) {
        if (k->cap - k->n < PV_CMD_HDR + 64 && send_frame(k, 0, err, err_len))
            return -1;
        size_t room = (k->cap - k->n - PV_CMD_HDR) & ~(size_t)3u, chunk = padded - off;
        if (chunk > room)
            chunk = room;
        pv_cmd_put(k->cmds + k->n, PV_OP_WRITE, 0, (uint16_t)chunk, addr + (uint32_t)off, 0);
        uint8_t *d = k->cmds + k->n + PV_CMD_HDR;
        size_t have = off < len ? len - off : 0;
        memcpy(d, img + off, have < chunk ? have : chunk);
        if (have < chunk)
            memset(d + have, 0xFF, chunk - have);
        k->n += PV_CMD_HDR + chunk;
        off += chunk;
    }
    return 0;
}

/* The VERIFY command of an image as add_image wrote it (digest over the padded length). */
static int add_verify(struct packer *k, uint8_t *cmd, uint32_t addr, const uint8_t *img, size_t len,
                      char *err, size_t err_len)
{
    size_t padded = (len + 3u) & ~(size_t)3u;
    uint8_t digest[32];
    pv_sha256_ctx h;
    pv_sha256_init(&h);
    pv_sha256_update(&h, img, len);
    for (size_t i = len; i < padded; i++)
        pv_sha256_update(&h, "\xff", 1);
    pv_sha256_final(&h, digest);
    return add(k, cmd, pv_cmd_verify(cmd, addr, (uint32_t)padded, digest), err, err_len);
}

/* Everything one install holds: the session keys, the relay, the frame being packed. */
struct install_ctx {
    struct pv_session s;
    struct pv_relay r;
    struct packer k;
};

int pv_session_install(pv_probe_link *link, const struct pv_install *in,
                       struct pv_install_result *res)
{
    /* On the heap, not static: installs on several probes may run at once (gang programming). */
    struct install_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        memset(res, 0, sizeof *res);
        snprintf(res->err, sizeof res->err, "install: out of memory");
        return -1;
    }
    struct pv_session *s = &c->s;
    struct pv_relay *r = &c->r;
    struct packer *k = &c->k;
    uint8_t msg1[128], frame[512], cmd[PV_CMD_HDR + PV_KEYSLOT_LEN], digest[32];
    uint8_t slot[PV_KEYSLOT_LEN];
    size_t msg1_len;
    int rc = -1;
    memset(res, 0, sizeof *res);
    r->live = in->live;
    r->hook = in->hook;
    r->hook_ctx = in->hook_ctx;
    r->observe = in->observe;
    r->observe_ctx = in->observe_ctx;
    if (pv_session_init(s, in->bridge_priv)) {
        snprintf(res->err, sizeof res->err, "%s", s->err);
        return -1;
    }
    if (pv_relay_start(r, link, in->stub, in->bridge_pub, in->host_entropy, in->flags, msg1,
                       sizeof msg1, &msg1_len)) {
        snprintf(res->err, sizeof res->err, "%s", r->err);
        goto out;
    }
    if (pv_session_accept(s, msg1, msg1_len, &in->expect)) {
        snprintf(res->err, sizeof res->err, "%s", s->err);
        goto out;
    }
    res->id = s->id;
    if (in->progress)
        in->progress(in->station_ctx, PV_INSTALL_STUB);

    /* Regions: the sectors of the images and of the key slot, merged where they touch. */
    struct pv_region reg[3], one;
    unsigned nreg = 0;
    if (sectors_of(s->id.flash_kb, in->image_addr, in->image_len, &one) == 0)
        region_add(reg, &nreg, one);
    else
        nreg = 99;
    if (nreg < 3 && sectors_of(s->id.flash_kb, in->keyslot_addr, PV_KEYSLOT_LEN, &one) == 0)
        region_add(reg, &nreg, one);
    else
        nreg = 99;
    if (in->app && nreg < 3) {
        if (sectors_of(s->id.flash_kb, in->app_addr, in->app_len, &one) == 0)
            region_add(reg, &nreg, one);
        else
            nreg = 99;
    }
    if (nreg > 3) {
        snprintf(res->err, sizeof res->err,
                 "install: an image (0x%08x, %zu bytes; application 0x%08x, %zu bytes) or the key "
                 "slot (0x%08x) is outside the chip's %u KB of flash",
                 (unsigned)in->image_addr, in->image_len, (unsigned)in->app_addr,
                 in->app ? in->app_len : 0, (unsigned)in->keyslot_addr, s->id.flash_kb);
        goto out;
    }
    int n = pv_session_grant(s, reg, nreg, frame, sizeof frame);
    if (n < 0 || pv_relay_post(r, 1, frame, (size_t)n)) {
        snprintf(res->err, sizeof res->err, "%s", n < 0 ? s->err : r->err);
        goto out;
    }

    /* Erase, image, key slot, verify: as few frames as the slots allow. */
    k->s = s;
    k->r = r;
    k->n = 0;
    k->frames = 0;
    k->cap = pv_frame_capacity(r->slot_size);
    for (unsigned i = 0; i < nreg; i++)
        if (add(k, cmd, pv_cmd_erase(cmd, reg[i].addr, reg[i].len), res->err, sizeof res->err))
            goto out;
    if (in->progress)
        in->progress(in->station_ctx, PV_INSTALL_ERASE);
    if (add_image(k, in->image_addr, in->image, in->image_len, res->err, sizeof res->err) ||
        (in->app && add_image(k, in->app_addr, in->app, in->app_len, res->err, sizeof res->err)))
        goto out;
    /* The key slot and the verifies get a frame of their own: the one the stub answers. */
    if (k->n && send_frame(k, 0, res->err, sizeof res->err))
        goto out;
    if (in->progress)
        in->progress(in->station_ctx, PV_INSTALL_WRITE);
    pv_keyslot ks = in->keyslot;
    memcpy(ks.uid, s->id.uid, sizeof ks.uid);
    pv_keyslot_encode(slot, &ks);
    pv_wipe(&ks, sizeof ks);
    if (add(k, cmd, pv_cmd_keyslot(cmd, in->keyslot_addr, slot), res->err, sizeof res->err))
        goto out;
    pv_wipe(cmd, sizeof cmd);
    if (add_verify(k, cmd, in->image_addr, in->image, in->image_len, res->err, sizeof res->err) ||
        (in->app &&
         add_verify(k, cmd, in->app_addr, in->app, in->app_len, res->err, sizeof res->err)))
        goto out;
    pv_sha256(digest, slot, sizeof slot);
    pv_wipe(slot, sizeof slot);
    if (add(k, cmd, pv_cmd_verify(cmd, in->keyslot_addr, PV_KEYSLOT_LEN, digest), res->err,
            sizeof res->err) ||
        send_frame(k, PV_FLAG_REPLY, res->err, sizeof res->err) ||
        expect_ok(s, r, PV_REPLY_HDR + PV_NOISE_TAGLEN, res))
        goto out;
    if (in->progress)
        in->progress(in->station_ctx, PV_INSTALL_VERIFY);
    if (in->before_final && in->before_final(in->station_ctx)) {
        snprintf(res->err, sizeof res->err,
                 "install: stopped before the final frame by the station (nothing locked)");
        goto out;
    }

    /* The final frame: RDP Level 2 (last command, after a passed verify; it resets the chip),
     * or the option bytes at Level 1 or 0 (with the write protection) and a reset. */
    k->n = pv_cmd_options(k->cmds, in->rdp, in->nwrp);
    if (in->rdp != PV_RDP_LEVEL2)
        k->n += pv_cmd_reset(k->cmds + k->n);
    uint32_t final_seq = s->next_seq;
    if (send_frame(k, PV_FLAG_REPLY | PV_FLAG_FINAL, res->err, sizeof res->err) ||
        expect_ok(s, r, PV_REPLY_HDR + PV_NOISE_TAGLEN, res))
        goto out;
    if (res->status.state != PV_STATE_DONE) {
        snprintf(res->err, sizeof res->err, "install: stub is %s after the final frame",
                 pv_state_name(res->status.state));
        goto out;
    }
    if (pv_relay_ack(r, final_seq)) {
        snprintf(res->err, sizeof res->err, "%s", r->err);
        goto out;
    }
    if (in->progress)
        in->progress(in->station_ctx, PV_INSTALL_LOCK);
    rc = 0;
out:
    res->frames = k->frames;
    res->live_writes = r->live_writes;
    res->payload_bytes = in->image_len + (in->app ? in->app_len : 0) + PV_KEYSLOT_LEN;
    pv_session_end(s);
    pv_wipe(c, sizeof *c);
    free(c);
    return rc;
}
