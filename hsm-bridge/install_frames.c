/* The trusted side's install, message by message (install_frames.h). Commands are packed into
 * frames up to the slot's capacity; only the key-slot-and-verify frame and the final frame ask
 * for a reply. */
#include "install_frames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "devdata/devdata.h"
#include "hal/stm32f4_sectors.h"

/* The whole sectors covering [addr, addr + len). A 1 MB part counts as single bank (DB1M clear,
 * the factory setting), as in the recipe checks (pv_chip_sectors). */
static int sectors_of(uint16_t flash_kb, uint32_t addr, size_t len, struct pv_region *out)
{
    uint32_t bank2 = PV_F4_BANK2_OFFSET(flash_kb, 0);
    pv_flash_sector first, last;
    if (!len || pv_f4_sector_at(flash_kb, bank2, addr, &first) ||
        pv_f4_sector_at(flash_kb, bank2, addr + (uint32_t)len - 1, &last))
        return -1;
    out->addr = first.addr;
    out->len = last.addr + last.size - first.addr;
    return 0;
}

/* The sectors to erase, ascending, and the next one not erased yet. Each is erased just before the
 * first write into it or above it: the stub refuses an erase below what the session wrote, and an
 * erase next to the writes lets the link carry the next frame while the sector erases, where
 * erasing everything first (2.3 s for a 128 KB application on a used chip) leaves the link idle
 * for most of it. */
struct erase_plan {
    pv_flash_sector sec[PV_F4_SECTORS_MAX];
    unsigned n, next;
    unsigned psize;
};

struct packer {
    struct pv_session *s;
    pv_frame_sink sink;
    void *ctx;
    uint8_t cmds[PV_SLOT_MAX];
    size_t n, cap;
    uint32_t frames;
    struct erase_plan plan;
};

static int send_frame(struct packer *k, uint8_t flags, char *err, size_t err_len)
{
    uint8_t frame[PV_SLOT_MAX];
    int len = pv_session_seal(k->s, k->cmds, k->n, flags, frame, sizeof frame);
    pv_wipe(k->cmds, k->n); /* may hold a PSK */
    k->n = 0;
    if (len < 0) {
        snprintf(err, err_len, "%s", k->s->err);
        return -1;
    }
    k->frames++;
    int rc = k->sink(k->ctx, frame, (size_t)len);
    pv_wipe(frame, (size_t)len);
    if (rc) {
        snprintf(err, err_len, "install: the frame sink stopped at frame %u",
                 (unsigned)(k->s->next_seq - 1));
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

/* The plan: every sector of the regions reg[0..n) (sorted, apart). */
static int plan_erases(struct erase_plan *p, uint16_t flash_kb, const struct pv_region *reg,
                       unsigned n, unsigned psize)
{
    uint32_t bank2 = PV_F4_BANK2_OFFSET(flash_kb, 0);
    p->n = p->next = 0;
    p->psize = psize;
    for (unsigned i = 0; i < n; i++)
        for (uint32_t a = reg[i].addr; a < reg[i].addr + reg[i].len; a += p->sec[p->n++].size)
            if (p->n == PV_F4_SECTORS_MAX || pv_f4_sector_at(flash_kb, bank2, a, &p->sec[p->n]))
                return -1;
    return 0;
}

/* ERASE commands for the planned sectors that start at or below addr (all of them for
 * UINT32_MAX). */
static int erase_through(struct packer *k, uint32_t addr, char *err, size_t err_len)
{
    struct erase_plan *p = &k->plan;
    uint8_t cmd[PV_CMD_HDR];
    for (; p->next < p->n && p->sec[p->next].addr <= addr; p->next++)
        if (add(k, cmd, pv_cmd_erase(cmd, p->sec[p->next].addr, p->sec[p->next].size, p->psize),
                err, err_len))
            return -1;
    return 0;
}

/* The end of the planned sector holding addr (UINT32_MAX outside the plan). */
static uint32_t sector_end(const struct erase_plan *p, uint32_t addr)
{
    for (unsigned i = 0; i < p->n; i++)
        if (addr >= p->sec[i].addr && addr - p->sec[i].addr < p->sec[i].size)
            return p->sec[i].addr + p->sec[i].size;
    return UINT32_MAX;
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

/* What a WRITE's address and length are multiples of at parallelism psize: a word, and a
 * double word at x64 (one program operation). */
static size_t write_unit(unsigned psize)
{
    return psize == PV_FLASH_X64 ? 8u : 4u;
}

/* WRITE commands for an image, padded with 0xFF to the write unit (padding reads back as
 * erased). */
static int add_image(struct packer *k, uint32_t addr, const uint8_t *img, size_t len,
                     unsigned psize, char *err, size_t err_len)
{
    size_t unit = write_unit(psize), padded = (len + unit - 1u) & ~(unit - 1u);
    for (size_t off = 0; off < padded;) {
        uint32_t at = addr + (uint32_t)off, left = sector_end(&k->plan, at) - at;
        if (erase_through(k, at, err, err_len) ||
            (k->cap - k->n < PV_CMD_HDR + 64 && send_frame(k, 0, err, err_len)))
            return -1;
        size_t room = (k->cap - k->n - PV_CMD_HDR) & ~(unit - 1u), chunk = padded - off;
        if (chunk > room)
            chunk = room;
        if (chunk > left) /* a WRITE stays in one sector, erased before it */
            chunk = left;
        pv_cmd_put(k->cmds + k->n, PV_OP_WRITE, (uint8_t)psize, (uint16_t)chunk,
                   addr + (uint32_t)off, 0);
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
                      unsigned psize, char *err, size_t err_len)
{
    size_t unit = write_unit(psize), padded = (len + unit - 1u) & ~(unit - 1u);
    uint8_t digest[32];
    pv_sha256_ctx h;
    pv_sha256_init(&h);
    pv_sha256_update(&h, img, len);
    for (size_t i = len; i < padded; i++)
        pv_sha256_update(&h, "\xff", 1);
    pv_sha256_final(&h, digest);
    return add(k, cmd, pv_cmd_verify(cmd, addr, (uint32_t)padded, digest), err, err_len);
}

struct pv_install_frames {
    struct pv_session s;
    struct packer k;
    struct pv_reply reply;
    uint32_t verify_seq, final_seq; /* the frames whose replies are awaited; 0: none */
    int verified;
    uint8_t rdp;
    uint32_t nwrp;
    char err[256];
};

#define FAIL(f, ...) (snprintf((f)->err, sizeof(f)->err, __VA_ARGS__), -1)

struct pv_install_frames *pv_install_frames_new(void)
{
    return calloc(1, sizeof(struct pv_install_frames));
}

void pv_install_frames_free(struct pv_install_frames *f)
{
    if (!f)
        return;
    pv_session_end(&f->s);
    pv_wipe(f, sizeof *f);
    free(f);
}

const char *pv_install_frames_error(const struct pv_install_frames *f)
{
    return f->err;
}

uint32_t pv_install_frames_count(const struct pv_install_frames *f)
{
    return f->k.frames;
}

const struct pv_reply *pv_install_frames_reply(const struct pv_install_frames *f)
{
    return &f->reply;
}

int pv_install_frames_accept(struct pv_install_frames *f, const uint8_t static_priv[32],
                             const uint8_t *msg1, size_t msg1_len,
                             const struct pv_session_expect *ex, struct pv_stub_identity *id)
{
    if (pv_session_init(&f->s, static_priv) || pv_session_accept(&f->s, msg1, msg1_len, ex))
        return FAIL(f, "%s", f->s.err);
    *id = f->s.id;
    return 0;
}

/* OpenSSL's verdict on an Ed25519 signature. */
static int ed25519_ok(const uint8_t pub[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = k && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(c, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return ok;
}

/* The key slot for the chip message 1 named, signed by the product's key through in's signer.
 * slot holds the PSK: the caller wipes it. */
static int build_slot(struct pv_install_frames *f, const struct pv_install_spec *in,
                      uint8_t slot[PV_KEYSLOT_LEN])
{
    uint8_t tbs[PV_KEYSLOT_TBS_LEN], sig[64];
    char err[192] = "";
    if (!in->sign_slot)
        return FAIL(f, "install: no key slot signer given (the product's image-signing key)");
    pv_keyslot ks = in->keyslot;
    memcpy(ks.uid, f->s.id.uid, sizeof ks.uid);
    pv_keyslot_tbs(tbs, &ks);
    if (in->sign_slot(in->sign_ctx, tbs, sizeof tbs, sig, err, sizeof err)) {
        pv_wipe(&ks, sizeof ks);
        return FAIL(f, "install: cannot sign the key slot: %s", err);
    }
    /* A token whose signing key is not the slot's signer_pub makes a slot no chip boots. */
    int ok = ed25519_ok(ks.signer_pub, tbs, sizeof tbs, sig);
    pv_keyslot_encode(slot, &ks, sig);
    pv_wipe(&ks, sizeof ks);
    if (!ok)
        return FAIL(f, "install: the key slot's signature does not verify under its signer_pub: "
                       "the signer is not that key's private half (recipe "
                       "keys.image_signing_key)");
    return 0;
}

/* The device data record: in's signed part with its signature by the slot's signer, for the chip
 * message 1 named. rec gets PV_DEVDATA_MAX bytes at most; *len its length. */
static int build_devdata(struct pv_install_frames *f, const struct pv_install_spec *in,
                         uint8_t rec[PV_DEVDATA_MAX], size_t *len)
{
    char err[192] = "";
    size_t n = in->devdata_len;
    if (n < PV_DEVDATA_HDR || n % 4 || n + PV_DEVDATA_SIG_LEN > PV_DEVDATA_MAX ||
        (size_t)(in->devdata[6] | in->devdata[7] << 8) != n + PV_DEVDATA_SIG_LEN)
        return FAIL(f, "install: the device data record (%zu bytes) is malformed", n);
    if (memcmp(in->devdata + 8, f->s.id.uid, 12) != 0)
        return FAIL(f, "install: the device data record names another chip's UID than message 1");
    memcpy(rec, in->devdata, n);
    if (in->sign_slot(in->sign_ctx, rec, n, rec + n, err, sizeof err))
        return FAIL(f, "install: cannot sign the device data record: %s", err);
    if (pv_devdata_check(rec, n + PV_DEVDATA_SIG_LEN, in->keyslot.signer_pub, f->s.id.uid, len))
        return FAIL(f, "install: the device data record does not check under the key slot's "
                       "signer_pub (recipe keys.image_signing_key)");
    return 0;
}

/* begin's body; slot (the signed key slot, with the PSK) is wiped by the caller on every path. */
static int begin(struct pv_install_frames *f, const struct pv_install_spec *in, pv_frame_sink sink,
                 void *ctx, uint8_t slot[PV_KEYSLOT_LEN])
{
    struct pv_session *s = &f->s;
    struct packer *k = &f->k;
    uint8_t frame[512], cmd[PV_CMD_HDR + PV_KEYSLOT_LEN], digest[32], rec[PV_DEVDATA_MAX];
    size_t rec_len = 0;
    if (!s->id.version || s->established || f->verify_seq)
        return FAIL(f, "install: begin out of order (message 1 not accepted, or begun already)");
    if (in->slot_size < PV_SLOT_MIN || in->slot_size > PV_SLOT_MAX)
        return FAIL(f, "install: slot size %u outside %u..%u", (unsigned)in->slot_size, PV_SLOT_MIN,
                    PV_SLOT_MAX);
    if (in->psize > PV_FLASH_X64)
        return FAIL(f, "install: parallelism %u is not a FLASH_CR.PSIZE value (0-3)",
                    (unsigned)in->psize);
    if (build_slot(f, in, slot) || (in->devdata && build_devdata(f, in, rec, &rec_len)))
        return -1;
    f->rdp = in->rdp;
    f->nwrp = in->nwrp;
    k->s = s;
    k->sink = sink;
    k->ctx = ctx;
    k->n = 0;
    k->frames = 0;
    k->cap = pv_frame_capacity(in->slot_size);

    /* Regions: the sectors of the images and of the key slot, merged where they touch. */
    struct pv_region reg[3], one;
    unsigned nreg = 0;
    if (sectors_of(s->id.flash_kb, in->image_addr, in->image_len, &one) == 0)
        region_add(reg, &nreg, one);
    else
        nreg = 99;
    if (nreg < 3 && sectors_of(s->id.flash_kb, in->keyslot_addr,
                               rec_len ? PV_DEVDATA_OFFSET + rec_len : PV_KEYSLOT_LEN, &one) == 0)
        region_add(reg, &nreg, one);
    else
        nreg = 99;
    if (in->app && nreg < 3) {
        if (sectors_of(s->id.flash_kb, in->app_addr, in->app_len, &one) == 0)
            region_add(reg, &nreg, one);
        else
            nreg = 99;
    }
    if (nreg > 3)
        return FAIL(f,
                    "install: an image (0x%08x, %zu bytes; application 0x%08x, %zu bytes) or the "
                    "key slot (0x%08x) is outside the chip's %u KB of flash",
                    (unsigned)in->image_addr, in->image_len, (unsigned)in->app_addr,
                    in->app ? in->app_len : 0, (unsigned)in->keyslot_addr, s->id.flash_kb);
    int n = pv_session_grant(s, reg, nreg, frame, sizeof frame);
    if (n < 0)
        return FAIL(f, "%s", s->err);
    if (sink(ctx, frame, (size_t)n))
        return FAIL(f, "install: the frame sink stopped at message 2");

    /* Images in address order, each sector erased before the first write into it or above it,
     * the sectors left (the key slot's, when it lies above the images) after them; then the key
     * slot and the verifies: as few frames as the slots allow. */
    if (plan_erases(&k->plan, s->id.flash_kb, reg, nreg, in->psize))
        return FAIL(f, "install: more than %u sectors to erase", PV_F4_SECTORS_MAX);
    int app_first = in->app && in->app_addr < in->image_addr;
    if ((app_first &&
         add_image(k, in->app_addr, in->app, in->app_len, in->psize, f->err, sizeof f->err)) ||
        add_image(k, in->image_addr, in->image, in->image_len, in->psize, f->err, sizeof f->err) ||
        (in->app && !app_first &&
         add_image(k, in->app_addr, in->app, in->app_len, in->psize, f->err, sizeof f->err)) ||
        erase_through(k, UINT32_MAX, f->err, sizeof f->err))
        return -1;
    /* The key slot and the verifies get a frame of their own: the one the stub answers. */
    if (k->n && send_frame(k, 0, f->err, sizeof f->err))
        return -1;
    int rc =
        add(k, cmd, pv_cmd_keyslot(cmd, in->keyslot_addr, slot, in->psize), f->err, sizeof f->err);
    pv_wipe(cmd, sizeof cmd);
    pv_sha256(digest, slot, PV_KEYSLOT_LEN);
    pv_wipe(slot, PV_KEYSLOT_LEN);
    if (!rc && rec_len)
        rc = add_image(k, in->keyslot_addr + PV_DEVDATA_OFFSET, rec, rec_len, in->psize, f->err,
                       sizeof f->err);
    if (rc ||
        add_verify(k, cmd, in->image_addr, in->image, in->image_len, in->psize, f->err,
                   sizeof f->err) ||
        (rec_len && add_verify(k, cmd, in->keyslot_addr + PV_DEVDATA_OFFSET, rec, rec_len,
                               in->psize, f->err, sizeof f->err)) ||
        (in->app && add_verify(k, cmd, in->app_addr, in->app, in->app_len, in->psize, f->err,
                               sizeof f->err)) ||
        add(k, cmd, pv_cmd_verify(cmd, in->keyslot_addr, PV_KEYSLOT_LEN, digest), f->err,
            sizeof f->err))
        return -1;
    f->verify_seq = s->next_seq;
    return send_frame(k, PV_FLAG_REPLY, f->err, sizeof f->err);
}

int pv_install_frames_begin(struct pv_install_frames *f, const struct pv_install_spec *in,
                            pv_frame_sink sink, void *ctx)
{
    uint8_t slot[PV_KEYSLOT_LEN];
    int rc = begin(f, in, sink, ctx, slot);
    pv_wipe(slot, sizeof slot);
    return rc;
}

/* Opens a reply to frame seq and requires success. */
static int check_reply(struct pv_install_frames *f, uint32_t seq, const uint8_t *reply, size_t len,
                       const char *what)
{
    if (!seq)
        return FAIL(f, "install: no %s frame is awaiting a reply", what);
    if (pv_session_open(&f->s, reply, len, &f->reply))
        return FAIL(f, "%s", f->s.err);
    if (f->reply.seq != seq)
        return FAIL(f, "install: the reply answers frame %u, the %s frame is %u",
                    (unsigned)f->reply.seq, what, (unsigned)seq);
    if (f->reply.status != PV_ST_OK)
        return FAIL(f, "install: stub refused the %s frame %u, command %u: %s (detail 0x%08x)",
                    what, (unsigned)seq, f->reply.index, pv_status_name(f->reply.status),
                    (unsigned)f->reply.detail);
    return 0;
}

int pv_install_frames_check_verify(struct pv_install_frames *f, const uint8_t *reply, size_t len)
{
    if (f->verified)
        return FAIL(f, "install: the verify was answered already");
    if (check_reply(f, f->verify_seq, reply, len, "verify"))
        return -1;
    f->verified = 1;
    return 0;
}

int pv_install_frames_final(struct pv_install_frames *f, pv_frame_sink sink, void *ctx)
{
    struct packer *k = &f->k;
    if (!f->verified || f->final_seq)
        return FAIL(f, "install: the final frame needs a passed verify, once");
    /* Level 2 is the last command (its reset follows in the stub); below it, the option bytes
     * at Level 1 or 0 (with the write protection) and a reset. */
    k->sink = sink;
    k->ctx = ctx;
    k->n = pv_cmd_options(k->cmds, f->rdp, f->nwrp);
    if (f->rdp != PV_RDP_LEVEL2)
        k->n += pv_cmd_reset(k->cmds + k->n);
    f->final_seq = f->s.next_seq;
    return send_frame(k, PV_FLAG_REPLY | PV_FLAG_FINAL, f->err, sizeof f->err);
}

int pv_install_frames_check_final(struct pv_install_frames *f, const uint8_t *reply, size_t len)
{
    return check_reply(f, f->final_seq, reply, len, "final");
}
