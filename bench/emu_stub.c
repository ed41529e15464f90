/* The emulated station and chip (emu_stub.h): the stub's portable core on a fake STM32F427 per
 * thread, the station's bridge client in front. */
#include "emu_stub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "../stub-loader/stub.h"
#include "../stub-loader/stub_platform.h"
#include "crypto/sha256.h"
#include "hal/flash.h"
#include "host/stub_image.h"
#include "keyslot/keyslot.h"

#define FLASH_BASE   STUB_FLASH_BASE
#define FLASH_MAX    (2048u * 1024u)
#define SRAM_BASE    0x20000000u
#define SRAM_SIZE    0x20000u /* 128 KB from 0x20000000: what every STM32F4 has there */
#define SECTORS_MAX  24u
#define CHUNK        0x4000u /* granularity of the record of programmed flash */
#define CHUNKS       (FLASH_MAX / CHUNK)
#define IDCODE_REV   0x10030000u /* revision field of DBGMCU_IDCODE (rev 3) */
#define RESET_POLLS  4           /* stub_poll calls that must see the ack and reset */
#define EMU_MBOX_FLG (PV_MBOX_F_CLOCK_168 | PV_MBOX_F_SPIN)

struct pv_emu_chip {
    uint8_t *flash; /* FLASH_MAX bytes */
    uint8_t *sram;  /* SRAM_SIZE bytes */
    uint32_t flash_size;
    uint8_t dirty[CHUNKS]; /* 16 KB chunks programmed since the last blank */
    uint16_t flash_kb;
    uint32_t idcode;
    uint8_t uid[12];
    uint8_t rdp;   /* option bytes as written (take effect at reset) */
    uint32_t nwrp; /* nWRP bits */
    uint8_t rdp_loaded;
    int unlocked, reset, parked;
    uint32_t stub_base, stub_len, ram_end;
};

/* The chip the stub of this thread runs on (the platform functions are global). */
static _Thread_local pv_emu_chip *cur;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- the stub's platform (stub_platform.h) on the fake chip ---- */

uint8_t *stub_mem(uint32_t addr)
{
    if (addr - FLASH_BASE < cur->flash_size)
        return cur->flash + (addr - FLASH_BASE);
    if (addr - SRAM_BASE < SRAM_SIZE)
        return cur->sram + (addr - SRAM_BASE);
    /* the stub checks every range before it touches memory: this is a bug in it */
    fprintf(stderr, "emu_stub: the stub touched unmapped address 0x%08x\n", (unsigned)addr);
    abort();
}

int stub_platform_init(uint32_t flags)
{
    (void)flags;
    return PV_ST_OK;
}

void stub_identity(uint8_t id[PV_ID_LEN])
{
    memset(id, 0, PV_ID_LEN);
    id[PV_ID_VERSION] = PV_PROTO_VERSION;
    id[PV_ID_RDP] = cur->rdp_loaded;
    pv_st16(id + PV_ID_FLASH_KB, cur->flash_kb);
    pv_st32(id + PV_ID_IDCODE, cur->idcode);
    memcpy(id + PV_ID_UID, cur->uid, 12);
    pv_st32(id + PV_ID_NWRP, cur->nwrp);
    /* as the real stub measures itself: the image as it sits in SRAM */
    pv_sha256(id + PV_ID_DIGEST, stub_mem(cur->stub_base), cur->stub_len);
}

int stub_hw_entropy(uint8_t out[32])
{
    if (getrandom(out, 32, 0) != 32)
        return PV_ST_RNG_TIMEOUT;
    return PV_ST_OK;
}

int stub_ram_ok(uint32_t addr, uint32_t len)
{
    return addr >= cur->ram_end && addr <= SRAM_BASE + SRAM_SIZE &&
           len <= SRAM_BASE + SRAM_SIZE - addr;
}

void stub_park(void)
{
    cur->parked = 1;
    cur->unlocked = 0;
}

void stub_reset(void)
{
    cur->unlocked = 0;
    cur->reset = 1;
    cur->rdp_loaded = cur->rdp; /* the option bytes load at reset */
}

/* ---- the flash HAL (hal/flash.h): STM32F42x sectors, NOR programming ---- */

int pv_flash_init(void)
{
    return PV_FLASH_OK;
}

uint32_t pv_flash_size(void)
{
    return cur->flash_size;
}

int pv_flash_sector_at(uint32_t addr, pv_flash_sector *out)
{
    uint32_t off = addr - FLASH_BASE, base = 0, first = 0;
    if (off >= cur->flash_size)
        return PV_FLASH_ERR_RANGE;
    if (cur->flash_size == 2048u * 1024u && off >= 0x100000u) { /* bank 2: sectors 12-23 */
        base = 0x100000u;
        first = 12;
    }
    uint32_t rel = off - base;
    out->size = rel < 0x10000u ? 0x4000u : rel < 0x20000u ? 0x10000u : 0x20000u;
    out->addr = FLASH_BASE + base + (rel & ~(out->size - 1u));
    out->index = (uint16_t)(first + (rel < 0x10000u   ? rel >> 14
                                     : rel < 0x20000u ? 4
                                                      : 4 + (rel >> 17)));
    return PV_FLASH_OK;
}

int pv_flash_unlock(void)
{
    cur->unlocked = 1;
    return PV_FLASH_OK;
}

void pv_flash_lock(void)
{
    cur->unlocked = 0;
}

int pv_flash_erase_sector(const pv_flash_sector *s, unsigned psize)
{
    (void)psize; /* the emulation takes no time per operation */
    if (!cur->unlocked)
        return PV_FLASH_ERR_LOCKED;
    if (s->index < SECTORS_MAX && !(cur->nwrp & (1u << s->index)))
        return PV_FLASH_ERR_WRP;
    if (s->addr - FLASH_BASE >= cur->flash_size ||
        s->size > cur->flash_size - (s->addr - FLASH_BASE))
        return PV_FLASH_ERR_RANGE;
    memset(cur->flash + (s->addr - FLASH_BASE), 0xFF, s->size);
    return PV_FLASH_OK;
}

int pv_flash_program(uint32_t addr, const void *data, size_t len, unsigned psize)
{
    (void)psize;
    if (!cur->unlocked)
        return PV_FLASH_ERR_LOCKED;
    if ((addr | len) & 3u)
        return PV_FLASH_ERR_PGA;
    uint32_t off = addr - FLASH_BASE;
    if (off >= cur->flash_size || len > cur->flash_size - off)
        return PV_FLASH_ERR_RANGE;
    for (uint32_t a = addr; len && a < addr + len;) { /* write protection, per sector */
        pv_flash_sector s;
        pv_flash_sector_at(a, &s);
        if (!(cur->nwrp & (1u << s.index)))
            return PV_FLASH_ERR_WRP;
        a = s.addr + s.size;
    }
    for (uint32_t k = off / CHUNK; k <= (off + (uint32_t)len - 1u) / CHUNK && len; k++)
        cur->dirty[k] = 1;
    const uint8_t *d = data;
    uint8_t *f = cur->flash + off;
    for (size_t i = 0; i < len; i++)
        f[i] &= d[i]; /* NOR: programming only clears bits */
    return memcmp(f, data, len) ? PV_FLASH_ERR_VERIFY : PV_FLASH_OK;
}

int pv_flash_options_read(uint8_t *r, uint32_t *w)
{
    if (r)
        *r = cur->rdp;
    if (w)
        *w = cur->nwrp;
    return PV_FLASH_OK;
}

int pv_flash_options_write(uint8_t r, uint32_t w)
{
    if (cur->rdp_loaded == PV_RDP_LEVEL2)
        return PV_FLASH_ERR_OPTLOCK;
    cur->rdp = r;
    cur->nwrp = w & 0xFFFFFFu;
    return PV_FLASH_OK;
}

/* ---- the chip ---- */

pv_emu_chip *pv_emu_chip_new(void)
{
    pv_emu_chip *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->flash = malloc(FLASH_MAX);
    c->sram = malloc(SRAM_SIZE);
    if (!c->flash || !c->sram) {
        pv_emu_chip_free(c);
        return NULL;
    }
    memset(c->flash, 0xFF, FLASH_MAX);
    return c;
}

void pv_emu_chip_free(pv_emu_chip *c)
{
    if (!c)
        return;
    free(c->flash);
    free(c->sram);
    free(c);
}

/* A blank chip of the plan's part with a new UID: only the flash programmed last time is erased
 * again (2 MB of memset per device would dominate the emulation). */
static int blank(pv_emu_chip *c, const struct pv_bridge_plan *p)
{
    c->flash_kb = (uint16_t)p->flash_kb;
    c->flash_size = p->flash_kb * 1024u <= FLASH_MAX ? p->flash_kb * 1024u : FLASH_MAX;
    for (uint32_t k = 0; k < CHUNKS; k++)
        if (c->dirty[k]) {
            memset(c->flash + k * CHUNK, 0xFF, CHUNK);
            c->dirty[k] = 0;
        }
    memset(c->sram, 0, SRAM_SIZE);
    c->idcode = IDCODE_REV | (p->device_id & 0xFFFu);
    c->rdp = c->rdp_loaded = PV_RDP_LEVEL0;
    c->nwrp = 0xFFFFFFu;
    c->unlocked = c->reset = c->parked = 0;
    return getrandom(c->uid, sizeof c->uid, 0) == (ssize_t)sizeof c->uid ? 0 : -1;
}

/* ---- one device ---- */

struct emu_run {
    pv_emu_chip *chip;
    struct stub stub;
    struct pv_stub_image img;
    uint32_t posted; /* last frame number written */
    unsigned frames;
    double stub_ms;
    char why[256];
};

/* The station's sink: the frame goes into its slot, ending at the slot's end, and the stub runs
 * until it is idle again. */
static int post(void *ctx, const uint8_t *frame, size_t len)
{
    struct emu_run *r = ctx;
    double t0 = now_ms();
    if (len < PV_TRAILER_LEN || len > r->img.slot_size) {
        snprintf(r->why, sizeof r->why, "frame of %zu bytes for slots of %u", len,
                 (unsigned)r->img.slot_size);
        return -1;
    }
    uint32_t seq = pv_ld32(frame + len - PV_TRAILER_LEN + PV_TRAILER_SEQ);
    if (seq != r->posted + 1) {
        snprintf(r->why, sizeof r->why, "frame %u after frame %u", (unsigned)seq,
                 (unsigned)r->posted);
        return -1;
    }
    cur = r->chip;
    uint32_t at = r->img.slot0 + (seq & 1u) * r->img.slot_size + r->img.slot_size - (uint32_t)len;
    memcpy(stub_mem(at), frame, len);
    r->posted = seq;
    r->frames++;
    while (stub_poll(&r->stub))
        ;
    const uint8_t *m = stub_mem(r->img.mbox);
    uint32_t state = pv_ld32(m + PV_MBOX_STATE);
    r->stub_ms += now_ms() - t0;
    if ((state & 0xFFu) == PV_STATE_FAILED) {
        snprintf(r->why, sizeof r->why, "the stub failed at frame %u: %s (detail 0x%08x)",
                 (unsigned)seq, pv_status_name((int)((state >> 8) & 0xFFu)),
                 (unsigned)pv_ld32(m + PV_MBOX_DETAIL));
        return -1;
    }
    if (pv_ld32(m + PV_MBOX_DONE) != seq) {
        snprintf(r->why, sizeof r->why, "the stub did not consume frame %u", (unsigned)seq);
        return -1;
    }
    return 0;
}

/* The stub's reply to the last frame posted (header + body), as a station reads it. */
static int reply(struct emu_run *r, uint8_t *buf, size_t cap, size_t *len)
{
    const uint8_t *h = stub_mem(r->img.mbox + PV_MBOX_REPLY);
    size_t n = pv_ld16(h + PV_TRAILER_LEN16);
    if (pv_ld32(h + PV_TRAILER_SEQ) != r->posted || n == 0 || n > PV_MBOX_REPLY_MAX ||
        PV_TRAILER_LEN + n > cap) {
        snprintf(r->why, sizeof r->why, "no reply to frame %u in the mailbox", (unsigned)r->posted);
        return -1;
    }
    memcpy(buf, h, PV_TRAILER_LEN + n);
    *len = PV_TRAILER_LEN + n;
    return 0;
}

static int refused(struct pv_emu_result *res, int step)
{
    res->step = step;
    res->rc = res->err.status ? PV_EMU_REFUSED : PV_EMU_TRANSPORT;
    return -1;
}

/* The emulation found something wrong after a session began: tell the bridge. */
static int broken(pv_bridge_client *client, const char *sid, struct pv_emu_result *res, int step,
                  const char *why)
{
    snprintf(res->why, sizeof res->why, "%s", why);
    res->step = step;
    res->rc = PV_EMU_BROKEN;
    if (sid && sid[0]) {
        struct pv_bridge_err e;
        if (pv_bridge_client_fail(client, sid, "emulation", why, &e) == 0)
            res->ended = 1;
    }
    return -1;
}

/* What the bridge installed: the key slot for this UID, the bootloader (and application). */
static int check_flash(pv_emu_chip *c, const struct pv_bridge_plan *p,
                       const struct pv_emu_expect *ex, char *why, size_t len)
{
    cur = c;
    pv_keyslot ks;
    int rc = pv_keyslot_decode(&ks, stub_mem(p->layout.keyslot_addr), c->uid);
    memset(&ks, 0, sizeof ks);
    if (rc) {
        snprintf(why, len, "no key slot for this UID at 0x%08x: %s",
                 (unsigned)p->layout.keyslot_addr, pv_keyslot_strerror(rc));
        return -1;
    }
    const uint8_t *boot = stub_mem(p->layout.boot_addr);
    if (ex && ex->boot) {
        if (ex->boot_len > p->layout.boot_size || memcmp(boot, ex->boot, ex->boot_len)) {
            snprintf(why, len, "the bootloader region does not hold the expected %zu bytes",
                     ex->boot_len);
            return -1;
        }
    } else {
        size_t n = p->boot_len ? p->boot_len : 4096u;
        size_t blank_bytes = 0;
        for (size_t i = 0; i < n; i++)
            blank_bytes += boot[i] == 0xFF;
        if (blank_bytes == n) {
            snprintf(why, len, "the bootloader region is erased");
            return -1;
        }
    }
    if (ex && ex->app &&
        (ex->app_len > p->layout.app_size ||
         memcmp(stub_mem(p->layout.app_addr), ex->app, ex->app_len))) {
        snprintf(why, len, "the application region does not hold the expected %zu bytes",
                 ex->app_len);
        return -1;
    }
    return 0;
}

static unsigned rdp_level(uint8_t rdp)
{
    return rdp == PV_RDP_LEVEL0 ? 0u : rdp == PV_RDP_LEVEL2 ? 2u : 1u;
}

int pv_emu_device(pv_emu_chip *chip, pv_bridge_client *client, const char *product,
                  const char *batch, const struct pv_emu_expect *ex, struct pv_emu_result *res)
{
    memset(res, 0, sizeof *res);
    static _Thread_local struct emu_run r;
    memset(&r, 0, sizeof r);
    r.chip = chip;
    struct pv_bridge_plan plan;
    memset(&plan, 0, sizeof plan);
    double t_start = now_ms(), t0;
    char sid[PV_BRIDGE_SESSION_ID_LEN] = "";
    int ret = -1;

    /* plan */
    t0 = now_ms();
    if (pv_bridge_client_plan(client, product, batch, &plan, &res->err))
        return refused(res, PV_EMU_PLAN);
    res->req_ms[PV_EMU_PLAN] = now_ms() - t0;

    /* the chip, the stub in its SRAM, the parameter block, message 1 */
    t0 = now_ms();
    char err[256];
    if (pv_stub_image_parse(&r.img, plan.stub, plan.stub_len, plan.stub_sram_base, err,
                            sizeof err)) {
        broken(client, NULL, res, PV_EMU_PLAN, err);
        goto out;
    }
    if (blank(chip, &plan)) {
        broken(client, NULL, res, PV_EMU_PLAN, "no randomness for the UID");
        goto out;
    }
    cur = chip;
    memcpy(res->uid, chip->uid, 12);
    for (int i = 0; i < 12; i++)
        snprintf(res->uid_hex + 2 * i, 3, "%02x", chip->uid[i]);
    if (r.img.base < SRAM_BASE || r.img.base + r.img.len > SRAM_BASE + SRAM_SIZE ||
        r.img.slot0 + 2 * r.img.slot_size > SRAM_BASE + SRAM_SIZE) {
        broken(client, NULL, res, PV_EMU_PLAN, "the stub's SRAM plan is outside the fake SRAM");
        goto out;
    }
    chip->stub_base = r.img.base;
    chip->stub_len = (uint32_t)r.img.len;
    chip->ram_end = r.img.ram_end;
    memcpy(stub_mem(r.img.base), r.img.bin, r.img.len);
    uint8_t *m = stub_mem(r.img.mbox);
    memset(m, 0, PV_MBOX_LEN);
    pv_st32(m + PV_MBOX_MAGIC_OFF, PV_MBOX_MAGIC);
    pv_st32(m + PV_MBOX_FLAGS, EMU_MBOX_FLG);
    pv_st32(m + PV_MBOX_SLOT0, r.img.slot0);
    pv_st32(m + PV_MBOX_SLOT_SIZE, r.img.slot_size);
    memcpy(m + PV_MBOX_BRIDGE_PUB, plan.bridge_pub, 32);
    if (getrandom(m + PV_MBOX_HOST_ENTROPY, 32, 0) != 32) {
        broken(client, NULL, res, PV_EMU_PLAN, "no randomness for the host entropy");
        goto out;
    }
    int st = stub_start(&r.stub, r.img.mbox);
    uint8_t msg1[PV_MBOX_REPLY_MAX];
    size_t msg1_len = pv_ld16(m + PV_MBOX_REPLY + PV_TRAILER_LEN16);
    if (st != PV_ST_OK || msg1_len == 0 || msg1_len > sizeof msg1) {
        snprintf(err, sizeof err, "the stub did not start: %s", pv_status_name(st));
        broken(client, NULL, res, PV_EMU_PLAN, err);
        goto out;
    }
    memcpy(msg1, m + PV_MBOX_REPLY_BODY, msg1_len);
    r.stub_ms += now_ms() - t0;

    /* begin: identity as a debugger would read it, message 1; frames into the slots */
    struct pv_bridge_identity id = {
        .dev_id = chip->idcode & 0xFFFu, .flash_kb = chip->flash_kb, .rdp = chip->rdp_loaded};
    memcpy(id.uid, chip->uid, 12);
    t0 = now_ms();
    double s0 = r.stub_ms;
    if (pv_bridge_client_begin(client, product, batch, &id, EMU_MBOX_FLG, msg1, msg1_len, post, &r,
                               sid, &res->err)) {
        if (r.why[0]) { /* the sink stopped the transfer */
            broken(client, sid, res, PV_EMU_BEGIN, r.why);
            goto out;
        }
        refused(res, PV_EMU_BEGIN);
        res->ended = sid[0] != 0;
        goto out;
    }
    res->req_ms[PV_EMU_BEGIN] = now_ms() - t0 - (r.stub_ms - s0);

    /* verified: the reply to the verify frame; the final frame */
    uint8_t buf[PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    size_t len;
    if (reply(&r, buf, sizeof buf, &len)) {
        broken(client, sid, res, PV_EMU_VERIFIED, r.why);
        goto out;
    }
    t0 = now_ms();
    s0 = r.stub_ms;
    if (pv_bridge_client_verified(client, sid, buf, len, post, &r, &res->err)) {
        if (r.why[0]) {
            broken(client, sid, res, PV_EMU_VERIFIED, r.why);
            goto out;
        }
        refused(res, PV_EMU_VERIFIED);
        res->ended = 1;
        goto out;
    }
    res->req_ms[PV_EMU_VERIFIED] = now_ms() - t0 - (r.stub_ms - s0);

    /* lock: the final reply, the ack, the reset, the option bytes seen after it */
    t0 = now_ms();
    cur = chip;
    if (reply(&r, buf, sizeof buf, &len)) {
        broken(client, sid, res, PV_EMU_LOCK, r.why);
        goto out;
    }
    if ((pv_ld32(m + PV_MBOX_STATE) & 0xFFu) != PV_STATE_DONE) {
        broken(client, sid, res, PV_EMU_LOCK, "the stub is not done after the final frame");
        goto out;
    }
    pv_st32(m + PV_MBOX_ACK, r.posted);
    for (int i = 0; i < RESET_POLLS && !chip->reset; i++)
        stub_poll(&r.stub);
    r.stub_ms += now_ms() - t0;
    res->observed_rdp = chip->reset ? rdp_level(chip->rdp_loaded) : 0;
    struct pv_bridge_observed obs = {.rdp_level = res->observed_rdp, .method = "emulated"};
    t0 = now_ms();
    if (pv_bridge_client_lock(client, sid, buf, len, &obs, &res->out, &res->err)) {
        refused(res, PV_EMU_LOCK);
        res->ended = 1;
        goto out;
    }
    res->req_ms[PV_EMU_LOCK] = now_ms() - t0;
    res->ended = 1;
    if (!chip->reset) {
        broken(client, NULL, res, PV_EMU_LOCK, "the stub did not reset the chip after the ack");
        goto out;
    }
    if (check_flash(chip, &plan, ex, err, sizeof err)) {
        broken(client, NULL, res, PV_EMU_LOCK, err);
        goto out;
    }
    res->rc = PV_EMU_LOCKED;
    res->step = PV_EMU_STEPS;
    ret = 0;
out:
    res->frames = r.frames;
    res->stub_ms = r.stub_ms;
    res->total_ms = now_ms() - t_start;
    memset(&r, 0, sizeof r); /* the stub's keys */
    pv_bridge_client_plan_free(&plan);
    cur = NULL;
    return ret;
}

double pv_emu_bridge_ms(const struct pv_emu_result *res)
{
    double s = 0;
    for (int i = 0; i < PV_EMU_STEPS; i++)
        s += res->req_ms[i];
    return s;
}
