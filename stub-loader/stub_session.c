/* The stub's session: start-up (parameter block, entropy, Noise_NK message 1 carrying what the
 * stub read itself), message 2 with the regions the trusted side allows, then one transport frame
 * after the other, strictly in order. Any failure is final: the keys are wiped, the chip is left
 * sane, the mailbox says why, and no later frame is looked at. */
#include <string.h>

#include "crypto/wipe.h"
#include "hal/flash.h"
#include "noise/noise_provider_pv.h"
#include "stub.h"
#include "stub_platform.h"

static uint32_t mb32(const struct stub *s, unsigned off)
{
    return *(volatile uint32_t *)(void *)(s->mbox + off);
}

static void fail(struct stub *s, int status, uint32_t detail)
{
    pv_wipe(&s->k, sizeof s->k);
    s->phase = STUB_STOPPED;
    stub_park();
    stub_publish(s, PV_STATE_FAILED, status, detail);
}

/* Parameter block, platform, identity, ephemeral key, message 1. */
static int start(struct stub *s, uint32_t mbox)
{
    uint8_t *m = s->mbox;
    uint32_t slot0 = mb32(s, PV_MBOX_SLOT0), size = mb32(s, PV_MBOX_SLOT_SIZE);
    /* the slots follow the mailbox, in RAM the host may lend, not over the stub */
    if (mb32(s, PV_MBOX_MAGIC_OFF) != PV_MBOX_MAGIC || ((slot0 | size) & 3u) ||
        size < PV_SLOT_MIN || size > PV_SLOT_MAX || slot0 < mbox + PV_MBOX_LEN ||
        !stub_ram_ok(slot0, 2 * size))
        return PV_ST_PARAM;
    s->slot_size = size;
    s->slot0 = stub_mem(slot0);
    int st = stub_platform_init(mb32(s, PV_MBOX_FLAGS));
    if (st)
        return st;
    uint8_t hw[32], e[32];
    stub_identity(s->id);
    st = stub_hw_entropy(hw);
    if (st)
        return st;
    stub_mix_entropy(e, hw, m + PV_MBOX_HOST_ENTROPY);
    pv_wipe(hw, sizeof hw);
    pv_wipe(m + PV_MBOX_HOST_ENTROPY, 32);
    pv_noise_keys k = {{[PV_NOISE_KEY_E] = e, [PV_NOISE_KEY_RS] = m + PV_MBOX_BRIDGE_PUB}};
    int n = pv_noise_handshake_init(&s->k.hs, &pv_noise_provider_pv, &pv_noise_pattern_NK, 1,
                                    (const uint8_t *)PV_PROTO_PROLOGUE, PV_PROTO_PROLOGUE_LEN, &k);
    pv_wipe(e, sizeof e);
    if (n >= 0)
        n = pv_noise_handshake_write(&s->k.hs, s->id, sizeof s->id, m + PV_MBOX_REPLY_BODY,
                                     PV_MBOX_REPLY_MAX);
    if (n < 0)
        return PV_ST_HANDSHAKE;
    pv_trailer_put(m + PV_MBOX_REPLY, 0, (uint16_t)n, PV_FRAME_HANDSHAKE, 0);
    /* No frame posted yet in either slot. */
    *(volatile uint32_t *)(void *)(s->slot0 + size - PV_TRAILER_LEN) = 0;
    *(volatile uint32_t *)(void *)(s->slot0 + 2 * size - PV_TRAILER_LEN) = 0;
    return PV_ST_OK;
}

int stub_start(struct stub *s, uint32_t mbox)
{
    memset(s, 0, sizeof *s);
    if ((mbox & 3u) || !stub_ram_ok(mbox, PV_MBOX_LEN))
        return PV_ST_PARAM; /* nowhere to say so: the host sees no BOOT state */
    s->mbox = stub_mem(mbox);
    stub_publish(s, PV_STATE_BOOT, PV_ST_OK, 0);
    int st = start(s, mbox);
    if (st)
        fail(s, st, 0);
    else
        stub_publish(s, PV_STATE_WAIT, PV_ST_OK, 0);
    return st;
}

/* Message 2: its payload lists the flash regions this session may touch, (address, length)
 * pairs, little endian: decrypted straight into s->region. Parts outside flash grant nothing
 * (stub_commands.c checks every range against flash as well). */
static int handshake2(struct stub *s, const uint8_t *msg, uint32_t len)
{
    int n = pv_noise_handshake_read(&s->k.hs, msg, len, (uint8_t *)s->region, sizeof s->region);
    if (n < 0)
        return PV_ST_HANDSHAKE;
    if (n == 0 || n % 8)
        return PV_ST_CMD;
    s->nregions = (uint8_t)(n / 8);
    pv_noise_handshake_split(&s->k.hs, &s->k.tx, &s->k.rx);
    s->phase = STUB_SESSION;
    int rc = pv_flash_unlock();
    return rc ? PV_ST_FLASH - rc : PV_ST_OK;
}

/* A transport frame: decrypt in place, run its commands, wipe the plaintext, reply if asked (or
 * on failure): [status][index][0][0][detail], encrypted, AD = the reply header. */
static int transport(struct stub *s, uint8_t *body, const uint8_t tr[PV_TRAILER_LEN])
{
    uint8_t *h = s->mbox + PV_MBOX_REPLY, *b = h + PV_TRAILER_LEN, index = 0;
    uint32_t len = pv_ld16(tr + PV_TRAILER_LEN16), detail = 0;
    int st = PV_ST_FRAME;
    if (tr[PV_TRAILER_TYPE] == PV_FRAME_TRANSPORT) {
        int n = pv_noise_cipher_decrypt(&s->k.rx, tr, PV_TRAILER_LEN, body, len, body, len);
        st = n < 0 ? PV_ST_AUTH
                   : stub_exec(s, body, (size_t)n, tr[PV_TRAILER_FLAGS], &index, &detail);
    }
    pv_wipe(body, len); /* the plaintext (a PSK, say) must not linger where the probe reads */
    if ((tr[PV_TRAILER_FLAGS] & PV_FLAG_REPLY) || st) {
        pv_st32(b, (uint32_t)st | (uint32_t)index << 8); /* status, index, two zero bytes */
        pv_st32(b + PV_REPLY_DETAIL, detail);
        pv_trailer_put(h, pv_ld32(tr), PV_REPLY_HDR + PV_NOISE_TAGLEN, PV_FRAME_TRANSPORT, 0);
        pv_noise_cipher_encrypt(&s->k.tx, h, PV_TRAILER_LEN, b, PV_REPLY_HDR, b, PV_MBOX_REPLY_MAX);
    }
    if (st)
        fail(s, st, detail);
    return st;
}

int stub_poll(struct stub *s)
{
    if (s->phase == STUB_STOPPED)
        return 0;
    if (s->phase == STUB_ENDED) {
        if (mb32(s, PV_MBOX_ACK) != s->done)
            return 0;
        stub_reset(); /* the host has read the final reply: end the session (never returns on the
                         chip; a host test's fake does) */
        s->phase = STUB_STOPPED;
        return 1;
    }
    uint8_t *t, tr[PV_TRAILER_LEN];
    int st = PV_ST_OK;
    uint8_t *body = stub_frame(s, s->done + 1, &t, &st);
    if (!body) {
        if (st)
            fail(s, st, s->done + 1);
        return st != PV_ST_OK;
    }
    stub_publish(s, PV_STATE_BUSY, PV_ST_OK, 0);
    memcpy(tr, t, sizeof tr); /* the AD and the flags must not change under us */
    s->done++;
    if (s->phase == STUB_HANDSHAKE) {
        st = tr[PV_TRAILER_TYPE] == PV_FRAME_HANDSHAKE
                 ? handshake2(s, body, pv_ld16(tr + PV_TRAILER_LEN16))
                 : PV_ST_FRAME;
        if (st)
            fail(s, st, 0);
    } else {
        st = transport(s, body, tr);
    }
    if (!st) {
        int final = tr[PV_TRAILER_FLAGS] & PV_FLAG_FINAL;
        s->phase = final ? STUB_ENDED : s->phase;
        stub_publish(s, final ? PV_STATE_DONE : PV_STATE_WAIT, PV_ST_OK, 0);
    }
    return 1;
}
