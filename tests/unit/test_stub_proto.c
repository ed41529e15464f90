/* The RAM stub's session, framing and command logic (stub-loader/stub_{session,transport,
 * commands}.c, rng_mix.c) built for the host and driven frame by frame, against a fake chip: a
 * fake flash HAL with NOR semantics and error injection, fake SRAM for the mailbox and slots, fake
 * identity and RNG. The other side is the reference trusted side (hsm-bridge/session_trusted.c,
 * OpenSSL provider), so the stub's lib/crypto Noise and OpenSSL meet here too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../../hsm-bridge/install_frames.h"
#include "../../hsm-bridge/session.h"
#include "../../stub-loader/stub.h"
#include "../../stub-loader/stub_platform.h"
#include "common/slot_sign.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"
#include "hal/flash.h"

/* ---- the fake chip ---- */

#define FLASH_BASE 0x08000000u
#define FLASH_SIZE (2048u * 1024u)
#define SRAM_BASE  0x20000000u
#define SRAM_SIZE  0x4000u
#define STUB_END   0x20002000u /* the fake stub occupies SRAM below this */
#define MBOX       STUB_END
#define SLOT0      (MBOX + PV_MBOX_LEN)
#define SLOT_SIZE  2048u

static uint8_t flash[FLASH_SIZE], sram[SRAM_SIZE];
static uint8_t rdp = 0xAA;
static uint32_t nwrp = 0xFFFFFF;
static bool locked = true, reset_called, parked;
static int fail_program_at = -1; /* flash error on the n-th program call */
static int program_calls, erase_calls, options_calls;
static unsigned erase_psize, program_psize; /* the parallelism of the last erase and program */
static int platform_status, entropy_status;
static const uint8_t uid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

uint8_t *stub_mem(uint32_t addr)
{
    if (addr - FLASH_BASE < FLASH_SIZE)
        return flash + (addr - FLASH_BASE);
    if (addr - SRAM_BASE < SRAM_SIZE)
        return sram + (addr - SRAM_BASE);
    fail_msg("stub touched unmapped address 0x%08x", (unsigned)addr);
    return NULL;
}

int stub_platform_init(uint32_t flags)
{
    (void)flags;
    return platform_status;
}

void stub_identity(uint8_t id[PV_ID_LEN])
{
    memset(id, 0, PV_ID_LEN);
    id[PV_ID_VERSION] = PV_PROTO_VERSION;
    id[PV_ID_RDP] = rdp;
    pv_st16(id + PV_ID_FLASH_KB, 2048);
    pv_st32(id + PV_ID_IDCODE, 0x10036419);
    memcpy(id + PV_ID_UID, uid, 12);
    pv_st32(id + PV_ID_NWRP, nwrp);
    memset(id + PV_ID_DIGEST, 0x5D, 32);
}

int stub_hw_entropy(uint8_t out[32])
{
    static uint8_t n;
    memset(out, ++n, 32);
    return entropy_status;
}

int stub_ram_ok(uint32_t addr, uint32_t len)
{
    return addr >= STUB_END && addr <= SRAM_BASE + SRAM_SIZE && len <= SRAM_BASE + SRAM_SIZE - addr;
}

void stub_park(void)
{
    parked = true;
    locked = true;
}

void stub_reset(void)
{
    reset_called = true;
}

/* Fake flash HAL: STM32F427 2 MB dual-bank sector map, NOR programming. */
int pv_flash_init(void)
{
    return PV_FLASH_OK;
}

uint32_t pv_flash_size(void)
{
    return FLASH_SIZE;
}

int pv_flash_sector_at(uint32_t addr, pv_flash_sector *out)
{
    uint32_t off = addr - FLASH_BASE, base = 0, first = 0;
    if (off >= FLASH_SIZE)
        return PV_FLASH_ERR_RANGE;
    if (off >= 0x100000u) {
        base = 0x100000u;
        first = 12;
    }
    uint32_t rel = off - base;
    out->size = rel < 0x10000u ? 0x4000u : rel < 0x20000u ? 0x10000u : 0x20000u;
    out->addr = addr & ~(out->size - 1u);
    out->index = (uint16_t)(first + (rel < 0x10000u   ? rel >> 14
                                     : rel < 0x20000u ? 4
                                                      : 4 + (rel >> 17)));
    return PV_FLASH_OK;
}

int pv_flash_unlock(void)
{
    locked = false;
    return PV_FLASH_OK;
}

void pv_flash_lock(void)
{
    locked = true;
}

int pv_flash_erase_sector(const pv_flash_sector *s, unsigned psize)
{
    assert_false(locked);
    erase_calls++;
    erase_psize = psize;
    memset(flash + (s->addr - FLASH_BASE), 0xFF, s->size);
    return PV_FLASH_OK;
}

int pv_flash_program(uint32_t addr, const void *data, size_t len, unsigned psize)
{
    assert_false(locked);
    if ((addr | len) & 3u)
        return PV_FLASH_ERR_PGA;
    if (addr - FLASH_BASE >= FLASH_SIZE || len > FLASH_SIZE - (addr - FLASH_BASE))
        return PV_FLASH_ERR_RANGE;
    program_psize = psize;
    if (program_calls++ == fail_program_at)
        return PV_FLASH_ERR_WRP;
    const uint8_t *d = data;
    for (size_t i = 0; i < len; i++)
        flash[addr - FLASH_BASE + i] &= d[i];
    return memcmp(flash + (addr - FLASH_BASE), data, len) ? PV_FLASH_ERR_VERIFY : PV_FLASH_OK;
}

int pv_flash_options_read(uint8_t *r, uint32_t *w)
{
    if (r)
        *r = rdp;
    if (w)
        *w = nwrp;
    return PV_FLASH_OK;
}

int pv_flash_options_write(uint8_t r, uint32_t w)
{
    options_calls++;
    rdp = r;
    nwrp = w;
    return PV_FLASH_OK;
}

/* ---- the host side, in process ---- */

static uint8_t bridge_priv[32], bridge_pub[32];
static struct stub stub;
static struct pv_session ses;

static void reset_chip(void)
{
    memset(flash, 0xFF, sizeof flash);
    memset(sram, 0xA5, sizeof sram);
    rdp = 0xAA;
    nwrp = 0xFFFFFF;
    locked = true;
    reset_called = parked = false;
    fail_program_at = -1;
    program_calls = erase_calls = options_calls = 0;
    erase_psize = program_psize = 99;
    platform_status = entropy_status = PV_ST_OK;
}

static void write_params(void)
{
    uint8_t *m = stub_mem(MBOX);
    memset(m, 0, PV_MBOX_LEN);
    pv_st32(m + PV_MBOX_MAGIC_OFF, PV_MBOX_MAGIC);
    pv_st32(m + PV_MBOX_SLOT0, SLOT0);
    pv_st32(m + PV_MBOX_SLOT_SIZE, SLOT_SIZE);
    memcpy(m + PV_MBOX_BRIDGE_PUB, bridge_pub, 32);
    memset(m + PV_MBOX_HOST_ENTROPY, 0x33, 32);
}

static uint32_t mbox32(unsigned off)
{
    return pv_ld32(stub_mem(MBOX) + off);
}

static int state(void)
{
    return (int)(mbox32(PV_MBOX_STATE) & 0xFF);
}

static int status(void)
{
    return (int)((mbox32(PV_MBOX_STATE) >> 8) & 0xFF);
}

/* Puts a frame (body + trailer) into the slot of frame seq, ending at the slot's end. */
static void post_raw(uint32_t seq, const uint8_t *frame, size_t len, int slot)
{
    assert_true(len <= SLOT_SIZE);
    uint8_t *end = stub_mem(SLOT0 + (uint32_t)(slot + 1) * SLOT_SIZE);
    memcpy(end - len, frame, len);
    (void)seq;
}

static void post(uint32_t seq, const uint8_t *frame, size_t len)
{
    post_raw(seq, frame, len, (int)(seq & 1));
}

/* Starts the stub and accepts message 1; grants regions; the stub then holds message 2. */
static void start_session(const struct pv_region *reg, unsigned nreg)
{
    reset_chip();
    write_params();
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_OK);
    assert_int_equal(state(), PV_STATE_WAIT);
    /* the host entropy is gone from the mailbox */
    uint8_t zero[32] = {0};
    assert_memory_equal(stub_mem(MBOX + PV_MBOX_HOST_ENTROPY), zero, 32);
    const uint8_t *h = stub_mem(MBOX + PV_MBOX_REPLY);
    assert_int_equal(pv_ld32(h + PV_TRAILER_SEQ), 0);
    assert_int_equal(h[PV_TRAILER_TYPE], PV_FRAME_HANDSHAKE);
    assert_int_equal(pv_session_init(&ses, bridge_priv), 0);
    if (pv_session_accept(&ses, h + PV_TRAILER_LEN, pv_ld16(h + PV_TRAILER_LEN16), NULL))
        fail_msg("%s", ses.err);
    assert_memory_equal(ses.id.uid, uid, 12);
    assert_int_equal(ses.id.flash_kb, 2048);
    uint8_t frame[256];
    int n = pv_session_grant(&ses, reg, nreg, frame, sizeof frame);
    assert_true(n > 0);
    post(1, frame, (size_t)n);
    assert_int_equal(stub_poll(&stub), 1);
    assert_int_equal(state(), PV_STATE_WAIT);
    assert_int_equal(mbox32(PV_MBOX_DONE), 1);
    assert_int_equal(stub_poll(&stub), 0); /* nothing more posted: idle */
}

static const struct pv_region whole = {FLASH_BASE, 0x20000}; /* sectors 0-4 */

/* Seals commands as the next frame, posts it, lets the stub run it; returns the reply's status
 * (or -1 without a reply). */
static int run_frame(const uint8_t *cmds, size_t len, uint8_t flags, struct pv_reply *rep)
{
    static uint8_t frame[SLOT_SIZE + 64];
    uint32_t seq = ses.next_seq;
    int n = pv_session_seal(&ses, cmds, len, flags, frame, sizeof frame);
    assert_true(n > 0);
    post(seq, frame, (size_t)n);
    assert_int_equal(stub_poll(&stub), 1);
    assert_int_equal(mbox32(PV_MBOX_DONE), seq);
    const uint8_t *h = stub_mem(MBOX + PV_MBOX_REPLY);
    if (pv_ld32(h + PV_TRAILER_SEQ) != seq)
        return -1;
    struct pv_reply r;
    if (pv_session_open(&ses, h, PV_TRAILER_LEN + pv_ld16(h + PV_TRAILER_LEN16), rep ? rep : &r))
        fail_msg("%s", ses.err);
    return (rep ? rep : &r)->status;
}

static int one(size_t n, const uint8_t *cmd, uint8_t flags)
{
    return run_frame(cmd, n, flags, NULL);
}

static void assert_failed_with(int st)
{
    assert_int_equal(state(), PV_STATE_FAILED);
    assert_int_equal(status(), st);
    assert_true(parked);
    uint8_t zero[sizeof stub.k];
    memset(zero, 0, sizeof zero);
    assert_memory_equal(&stub.k, zero, sizeof zero); /* every key wiped */
    assert_int_equal(stub_poll(&stub), 0);           /* and nothing more happens */
}

/* ---- tests ---- */

/* The stub checks a key slot's UID only (the bootloader checks its signature), so these slots
 * carry an all-zero signature. */
static const uint8_t unsigned_slot[64];

static void test_full_session(void **state_)
{
    (void)state_;
    struct pv_region reg[2] = {{FLASH_BASE, 0x8000}, {0x0800C000u, 0x4000}};
    uint8_t cmds[SLOT_SIZE], image[4000], slot[PV_KEYSLOT_LEN], h[32];
    for (size_t i = 0; i < sizeof image; i++)
        image[i] = (uint8_t)(i * 7);
    start_session(reg, 2);
    /* sector 0 holds old firmware, sector 1 is factory-fresh, sector 3 has one byte left from a
     * program cut short: only the blank one is not erased */
    memset(flash, 0x5A, 0x4000);
    flash[0xC000 + 0x3FFF] = 0xFE;
    size_t n = pv_cmd_erase(cmds, FLASH_BASE, 0x8000, PV_FLASH_X16);
    n += pv_cmd_erase(cmds + n, 0x0800C000u, 0x4000, PV_FLASH_X16);
    n += pv_cmd_write(cmds + n, FLASH_BASE, image, 1000, PV_FLASH_X16);
    assert_int_equal(run_frame(cmds, n, 0, NULL), -1); /* no reply asked, none written */
    assert_int_equal(erase_calls, 2);
    assert_int_equal(flash[0xC000 + 0x3FFF], 0xFF);
    /* the parallelism the trusted side put in the commands is what the flash driver used */
    assert_int_equal(erase_psize, PV_FLASH_X16);
    assert_int_equal(program_psize, PV_FLASH_X16);
    n = pv_cmd_write(cmds, FLASH_BASE + 1000, image + 1000, 1500, PV_FLASH_X32);
    assert_int_equal(run_frame(cmds, n, 0, NULL), -1);
    n = pv_cmd_write(cmds, FLASH_BASE + 2500, image + 2500, 1500, PV_FLASH_X32);
    struct pv_reply rep;
    assert_int_equal(run_frame(cmds, n, PV_FLAG_REPLY, &rep), PV_ST_OK);
    assert_int_equal(rep.index, 1);
    assert_memory_equal(flash, image, sizeof image);
    pv_keyslot ks = {.key_id = 9, .key_version = 2};
    memcpy(ks.uid, uid, 12);
    memset(ks.psk, 0x42, 32);
    pv_keyslot_encode(slot, &ks, unsigned_slot);
    n = pv_cmd_keyslot(cmds, 0x0800C000u, slot, PV_FLASH_X32);
    pv_sha256(h, image, sizeof image);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, sizeof image, h);
    pv_sha256(h, slot, sizeof slot);
    n += pv_cmd_verify(cmds + n, 0x0800C000u, PV_KEYSLOT_LEN, h);
    assert_int_equal(run_frame(cmds, n, PV_FLAG_REPLY, &rep), PV_ST_OK);
    assert_int_equal(rep.index, 3);
    assert_memory_equal(flash + 0xC000, slot, sizeof slot);
    /* the decrypted frame (with the PSK) does not stay in the slot */
    for (size_t i = 0; i < 2 * SLOT_SIZE; i++)
        if (stub_mem(SLOT0)[i] == 0x42 && !memcmp(stub_mem(SLOT0) + i, ks.psk, 32))
            fail_msg("PSK left in slot memory at %zu", i);
    n = pv_cmd_options(cmds, 0xCC, 0xFFF0FF);
    assert_int_equal(run_frame(cmds, n, PV_FLAG_REPLY | PV_FLAG_FINAL, &rep), PV_ST_OK);
    assert_int_equal(rdp, 0xCC);
    assert_int_equal(nwrp, 0xFFF0FF);
    assert_int_equal(state(), PV_STATE_DONE);
    /* reset only after the host's ack of the final frame */
    assert_int_equal(stub_poll(&stub), 0);
    assert_false(reset_called);
    pv_st32(stub_mem(MBOX + PV_MBOX_ACK), rep.seq);
    assert_int_equal(stub_poll(&stub), 1);
    assert_true(reset_called);
}

static void test_bad_parameter_block(void **state_)
{
    (void)state_;
    reset_chip();
    write_params();
    pv_st32(stub_mem(MBOX + PV_MBOX_MAGIC_OFF), 0x12345678);
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_PARAM);
    assert_int_equal(state(), PV_STATE_FAILED);
    assert_int_equal(status(), PV_ST_PARAM);
    write_params();
    pv_st32(stub_mem(MBOX + PV_MBOX_SLOT_SIZE), 100); /* under PV_SLOT_MIN */
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_PARAM);
    write_params();
    pv_st32(stub_mem(MBOX + PV_MBOX_SLOT0), MBOX + 16); /* over the mailbox */
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_PARAM);
    write_params();
    pv_st32(stub_mem(MBOX + PV_MBOX_SLOT_SIZE), 0x2000); /* beyond RAM */
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_PARAM);
    /* a mailbox over the stub itself: nothing is written anywhere */
    assert_int_equal(stub_start(&stub, STUB_END - 64), PV_ST_PARAM);
    assert_int_equal(stub_start(&stub, MBOX + 2), PV_ST_PARAM);
}

static void test_platform_and_rng_failures(void **state_)
{
    (void)state_;
    reset_chip();
    write_params();
    platform_status = PV_ST_RNG_CLOCK;
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_RNG_CLOCK);
    assert_int_equal(state(), PV_STATE_FAILED);
    reset_chip();
    write_params();
    entropy_status = PV_ST_RNG_SEED;
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_RNG_SEED);
    assert_int_equal(status(), PV_ST_RNG_SEED);
    assert_true(parked);
    assert_string_equal(pv_status_name(PV_ST_RNG_SEED),
                        "RNG_SEED: RNG seed error (SECS) persisted after re-initialisation");
}

static void test_handshake_tamper_and_wrong_key(void **state_)
{
    (void)state_;
    uint8_t frame[256];
    reset_chip();
    write_params();
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_OK);
    const uint8_t *h = stub_mem(MBOX + PV_MBOX_REPLY);
    /* a trusted side with another key cannot open message 1 */
    uint8_t other[32];
    memset(other, 0x77, 32);
    assert_int_equal(pv_session_init(&ses, other), 0);
    assert_int_not_equal(pv_session_accept(&ses, h + 8, pv_ld16(h + 4), NULL), 0);
    /* the right one can; its message 2, altered, is refused */
    assert_int_equal(pv_session_init(&ses, bridge_priv), 0);
    assert_int_equal(pv_session_accept(&ses, h + 8, pv_ld16(h + 4), NULL), 0);
    int n = pv_session_grant(&ses, &whole, 1, frame, sizeof frame);
    frame[40] ^= 1;
    post(1, frame, (size_t)n);
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_HANDSHAKE);
    assert_int_equal(erase_calls + program_calls, 0);
}

static void test_grant_malformed(void **state_)
{
    (void)state_;
    /* 12 bytes of regions is not whole pairs */
    uint8_t frame[256], g[12] = {0};
    reset_chip();
    write_params();
    assert_int_equal(stub_start(&stub, MBOX), PV_ST_OK);
    const uint8_t *h = stub_mem(MBOX + PV_MBOX_REPLY);
    assert_int_equal(pv_session_init(&ses, bridge_priv), 0);
    assert_int_equal(pv_session_accept(&ses, h + 8, pv_ld16(h + 4), NULL), 0);
    int n = pv_noise_handshake_write(&ses.hs, g, sizeof g, frame, sizeof frame);
    assert_true(n > 0);
    pv_trailer_put(frame + n, 1, (uint16_t)n, PV_FRAME_HANDSHAKE, 0);
    post(1, frame, (size_t)n + PV_TRAILER_LEN);
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_CMD);
}

static void test_transport_tamper_replay_order(void **state_)
{
    (void)state_;
    uint8_t cmds[64], frame[256], keep[256];
    uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t n = pv_cmd_write(cmds, FLASH_BASE, data, 8, PV_FLASH_X32);
    /* a flipped ciphertext byte */
    start_session(&whole, 1);
    uint32_t seq = ses.next_seq;
    int len = pv_session_seal(&ses, cmds, n, PV_FLAG_REPLY, frame, sizeof frame);
    memcpy(keep, frame, (size_t)len);
    frame[3] ^= 0x80;
    post(seq, frame, (size_t)len);
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_AUTH);
    assert_int_equal(program_calls, 0);
    /* the genuine frame after the failure: ignored */
    post(seq, keep, (size_t)len);
    assert_int_equal(stub_poll(&stub), 0);
    assert_int_equal(program_calls, 0);

    /* a frame from the previous session (same number) */
    start_session(&whole, 1);
    post(ses.next_seq, keep, (size_t)len);
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_AUTH);

    /* the next frame's number in this frame's slot: out of order */
    start_session(&whole, 1);
    seq = ses.next_seq;
    pv_session_seal(&ses, cmds, n, 0, frame, sizeof frame);
    len = pv_session_seal(&ses, cmds, n, 0, frame, sizeof frame); /* frame seq + 1 */
    post_raw(seq, frame, (size_t)len, (int)(seq & 1));
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_SEQ);

    /* frame seq + 1 relabelled as seq: the nonce and the AD no longer match */
    start_session(&whole, 1);
    seq = ses.next_seq;
    pv_session_seal(&ses, cmds, n, 0, frame, sizeof frame);
    len = pv_session_seal(&ses, cmds, n, 0, frame, sizeof frame);
    pv_st32(frame + len - PV_TRAILER_LEN, seq);
    post(seq, frame, (size_t)len);
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_AUTH);

    /* truncated: the body one byte short, trailer fixed up */
    start_session(&whole, 1);
    seq = ses.next_seq;
    len = pv_session_seal(&ses, cmds, n, 0, frame, sizeof frame);
    memmove(frame + len - PV_TRAILER_LEN - 1, frame + len - PV_TRAILER_LEN, PV_TRAILER_LEN);
    len--;
    pv_st16(frame + len - PV_TRAILER_LEN + PV_TRAILER_LEN16, (uint16_t)(len - PV_TRAILER_LEN));
    post(seq, frame, (size_t)len);
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_AUTH);

    /* a length past the slot's start, and a wrong frame type */
    start_session(&whole, 1);
    seq = ses.next_seq;
    len = pv_session_seal(&ses, cmds, n, 0, frame, sizeof frame);
    pv_st16(frame + len - PV_TRAILER_LEN + PV_TRAILER_LEN16, SLOT_SIZE);
    post(seq, frame, (size_t)len);
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_FRAME);
    start_session(&whole, 1);
    seq = ses.next_seq;
    len = pv_session_seal(&ses, cmds, n, 0, frame, sizeof frame);
    frame[len - PV_TRAILER_LEN + PV_TRAILER_TYPE] = PV_FRAME_HANDSHAKE;
    post(seq, frame, (size_t)len);
    assert_int_equal(stub_poll(&stub), 1);
    assert_failed_with(PV_ST_FRAME);
    assert_int_equal(program_calls, 0);
}

static void test_stale_slot_is_not_a_frame(void **state_)
{
    (void)state_;
    uint8_t cmds[64], data[4] = {0};
    start_session(&whole, 1);
    size_t n = pv_cmd_write(cmds, FLASH_BASE, data, 4, PV_FLASH_X32);
    assert_int_equal(one(n, cmds, 0), -1);
    assert_int_equal(one(n, cmds, 0), -1);
    /* slot 0 now holds frame 2, slot 1 frame 3: waiting for 4, a stale 2 is just "not yet" */
    assert_int_equal(stub_poll(&stub), 0);
    assert_int_equal(state(), PV_STATE_WAIT);
}

static void test_malformed_commands(void **state_)
{
    (void)state_;
    uint8_t cmds[PV_CMD_HDR + PV_KEYSLOT_LEN];
    size_t n;
    /* a header cut short */
    start_session(&whole, 1);
    n = pv_cmd_reset(cmds);
    assert_int_equal(one(n - 1, cmds, PV_FLAG_REPLY), PV_ST_CMD);
    assert_failed_with(PV_ST_CMD);
    /* data length past the frame */
    start_session(&whole, 1);
    n = pv_cmd_write(cmds, FLASH_BASE, cmds, 8, PV_FLASH_X32);
    pv_st16(cmds + PV_CMD_N, 9);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_CMD);
    /* unknown operation, 0, and 1 (INFO once: the identity is in message 1) */
    start_session(&whole, 1);
    n = pv_cmd_reset(cmds);
    cmds[PV_CMD_OP] = 8;
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_CMD);
    start_session(&whole, 1);
    cmds[PV_CMD_OP] = 0;
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_CMD);
    start_session(&whole, 1);
    cmds[PV_CMD_OP] = 1;
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_CMD);
    /* a verify without its 32-byte digest */
    start_session(&whole, 1);
    pv_cmd_put(cmds, PV_OP_VERIFY, 0, 16, FLASH_BASE, 16);
    assert_int_equal(one(PV_CMD_HDR + 16, cmds, PV_FLAG_REPLY), PV_ST_CMD);
    /* an erase of nothing */
    start_session(&whole, 1);
    n = pv_cmd_erase(cmds, FLASH_BASE, 0, PV_FLASH_X32);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_CMD);
    /* a parallelism that is no FLASH_CR.PSIZE value, in an erase, a write and a key slot:
     * refused before the flash driver sees it */
    uint8_t slot[PV_KEYSLOT_LEN] = {0};
    for (int op = 0; op < 3; op++) {
        start_session(&whole, 1);
        memset(flash, 0, 0x4000);
        n = op == 0   ? pv_cmd_erase(cmds, FLASH_BASE, 0x4000, PV_FLASH_X64 + 1)
            : op == 1 ? pv_cmd_write(cmds, FLASH_BASE, cmds, 8, PV_FLASH_X64 + 1)
                      : pv_cmd_keyslot(cmds, FLASH_BASE, slot, PV_FLASH_X64 + 1);
        assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_CMD);
        assert_int_equal(erase_calls + program_calls, 0);
    }
}

static void test_regions_and_alignment(void **state_)
{
    (void)state_;
    uint8_t cmds[64], data[16];
    struct pv_region reg = {FLASH_BASE + 0x4000, 0x8000}; /* sectors 1-2 */
    memset(data, 0, sizeof data);
    struct {
        uint32_t addr;
        size_t len;
        int status;
    } writes[] = {
        {FLASH_BASE + 0x4000 - 4, 8, PV_ST_REGION}, /* straddles the start */
        {FLASH_BASE + 0xC000 - 4, 8, PV_ST_REGION}, /* straddles the end */
        {FLASH_BASE + 0xC000, 4, PV_ST_REGION},     /* just after */
        {0x20000000u, 4, PV_ST_REGION},             /* not flash at all */
        {FLASH_BASE + 0x4002, 4, PV_ST_ALIGN},      /* not word aligned */
        {FLASH_BASE + 0x4000, 6, PV_ST_ALIGN},      /* length not a multiple of 4 */
        {FLASH_BASE + 0xC000 - 4, 4, PV_ST_OK},     /* the last word */
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        start_session(&reg, 1);
        size_t n = pv_cmd_write(cmds, writes[i].addr, data, (uint16_t)writes[i].len, PV_FLASH_X32);
        assert_int_equal(one(n, cmds, PV_FLAG_REPLY), writes[i].status);
        assert_int_equal(program_calls, writes[i].status == PV_ST_OK);
    }
    /* erases: whole sectors inside the region only */
    struct {
        uint32_t addr, len;
        int status;
    } erases[] = {
        {FLASH_BASE + 0x4000, 0x8000, PV_ST_OK},
        {FLASH_BASE + 0x4000, 0x4000, PV_ST_OK},
        {FLASH_BASE + 0x4000, 0x2000, PV_ST_ALIGN}, /* half a sector */
        {FLASH_BASE + 0x6000, 0x2000, PV_ST_ALIGN},
        {FLASH_BASE, 0x8000, PV_ST_REGION}, /* sector 0 not granted */
    };
    for (size_t i = 0; i < sizeof erases / sizeof erases[0]; i++) {
        start_session(&reg, 1);
        memset(flash, 0, 0xC000); /* not blank: every sector needs its erase */
        size_t n = pv_cmd_erase(cmds, erases[i].addr, erases[i].len, PV_FLASH_X32);
        assert_int_equal(one(n, cmds, PV_FLAG_REPLY), erases[i].status);
        assert_int_equal(erase_calls, erases[i].status ? 0 : (int)(erases[i].len / 0x4000));
    }
    /* a region outside flash grants nothing */
    struct pv_region ram = {0x20000000u, 0x1000};
    start_session(&ram, 1);
    uint8_t h[32] = {0};
    size_t n = pv_cmd_verify(cmds, 0x20000000u, 16, h);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_REGION);
}

static void test_level2_rules(void **state_)
{
    (void)state_;
    uint8_t cmds[128], h[32], data[4] = {0};
    size_t n;
    /* before any verify */
    start_session(&whole, 1);
    n = pv_cmd_options(cmds, 0xCC, 0xFFFFFF);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY | PV_FLAG_FINAL), PV_ST_NOT_VERIFIED);
    assert_failed_with(PV_ST_NOT_VERIFIED);
    assert_int_equal(options_calls, 0);
    assert_int_equal(rdp, 0xAA);

    /* after a verify, but not in a final frame; then not as the last command */
    pv_sha256(h, flash, 64);
    start_session(&whole, 1);
    n = pv_cmd_verify(cmds, FLASH_BASE, 64, h);
    n += pv_cmd_options(cmds + n, 0xCC, 0xFFFFFF);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_ORDER);
    start_session(&whole, 1);
    n = pv_cmd_verify(cmds, FLASH_BASE, 64, h);
    n += pv_cmd_options(cmds + n, 0xCC, 0xFFFFFF);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, 64, h);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY | PV_FLAG_FINAL), PV_ST_ORDER);
    assert_int_equal(options_calls, 0); /* refused before anything was written */
    assert_int_equal(rdp, 0xAA);

    /* a write after the verify is not covered by it */
    start_session(&whole, 1);
    n = pv_cmd_verify(cmds, FLASH_BASE + 64, 64, h);
    n += pv_cmd_write(cmds + n, FLASH_BASE + 128, data, 4, PV_FLASH_X32);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_OK);
    n = pv_cmd_options(cmds, 0xCC, 0xFFFFFF);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY | PV_FLAG_FINAL), PV_ST_UNVERIFIED);

    /* a failed verify: the status and where */
    start_session(&whole, 1);
    memset(flash, 0x11, 64);
    uint8_t bad[32] = {0};
    n = pv_cmd_verify(cmds, FLASH_BASE, 64, bad);
    struct pv_reply rep;
    assert_int_equal(run_frame(cmds, n, PV_FLAG_REPLY, &rep), PV_ST_VERIFY);
    assert_int_equal(rep.detail, FLASH_BASE);

    /* RESET must be last of the final frame; a Level 1 change is fine anywhere */
    start_session(&whole, 1);
    n = pv_cmd_reset(cmds);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_ORDER);
    start_session(&whole, 1);
    n = pv_cmd_options(cmds, 0xBB, 0xFFFFFF);
    n += pv_cmd_reset(cmds + n);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY | PV_FLAG_FINAL), PV_ST_OK);
    assert_int_equal(rdp, 0xBB);
    assert_int_equal(state(), PV_STATE_DONE);
}

/* Finding 8 of the hardening issue: Level 2 needs a passing VERIFY, in this session, over every
 * byte written (WRITE and KEYSLOT) since it was last written or erased. Returns the final frame's
 * status after cmds ran in one frame, with the RDP byte and option calls checked. */
static int lock_after(const uint8_t *cmds, size_t n, struct pv_reply *rep)
{
    uint8_t lock[PV_CMD_HDR];
    if (n)
        assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_OK);
    int st =
        run_frame(lock, pv_cmd_options(lock, 0xCC, 0xFFFFFF), PV_FLAG_REPLY | PV_FLAG_FINAL, rep);
    if (st != PV_ST_OK) {
        assert_failed_with(st);
        assert_int_equal(options_calls, 0);
        assert_int_equal(rdp, 0xAA);
    } else {
        assert_int_equal(rdp, 0xCC);
    }
    return st;
}

static void test_level2_needs_every_write_verified(void **state_)
{
    (void)state_;
    static const struct pv_region two[2] = {{FLASH_BASE, 0x8000}, {0x0800C000u, 0x4000}};
    uint8_t cmds[SLOT_SIZE], data[256], h[32], slot[PV_KEYSLOT_LEN];
    struct pv_reply rep;
    size_t n;
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i ^ 0x5C);
    pv_keyslot ks = {.key_id = 4};
    memcpy(ks.uid, uid, 12);
    pv_keyslot_encode(slot, &ks, unsigned_slot);

    /* a zero-length verify, nothing written: there is nothing verified to lock */
    pv_sha256(h, data, 0);
    start_session(two, 2);
    n = pv_cmd_verify(cmds, FLASH_BASE, 0, h);
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_NOT_VERIFIED);

    /* data written, then a zero-length verify (which passes): refused, naming the first byte */
    start_session(two, 2);
    n = pv_cmd_write(cmds, FLASH_BASE, data, sizeof data, PV_FLASH_X32);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, 0, h);
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_UNVERIFIED);
    assert_int_equal(rep.detail, FLASH_BASE);

    /* a verify over part of what was written */
    start_session(two, 2);
    n = pv_cmd_write(cmds, FLASH_BASE, data, sizeof data, PV_FLASH_X32);
    pv_sha256(h, data, 128);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, 128, h);
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_UNVERIFIED);
    assert_int_equal(rep.detail, FLASH_BASE); /* the start of the range not covered */

    /* the image verified, the key slot written but not verified */
    start_session(two, 2);
    n = pv_cmd_write(cmds, FLASH_BASE, data, sizeof data, PV_FLASH_X32);
    n += pv_cmd_keyslot(cmds + n, 0x0800C000u, slot, PV_FLASH_X32);
    pv_sha256(h, data, sizeof data);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, sizeof data, h);
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_UNVERIFIED);
    assert_int_equal(rep.detail, 0x0800C000u);

    /* verified, then partly written again: no longer covered; and verified, then continued */
    start_session(two, 2);
    n = pv_cmd_write(cmds, FLASH_BASE, data, sizeof data, PV_FLASH_X32);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, sizeof data, h);
    n += pv_cmd_write(cmds + n, FLASH_BASE + 64, data + 64, 8,
                      PV_FLASH_X32); /* the same bytes again */
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_UNVERIFIED);
    assert_int_equal(rep.detail, FLASH_BASE + 64);
    start_session(two, 2);
    n = pv_cmd_write(cmds, FLASH_BASE, data, 128, PV_FLASH_X32);
    pv_sha256(h, data, 128);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, 128, h);
    n += pv_cmd_write(cmds + n, FLASH_BASE + 128, data + 128, 128, PV_FLASH_X32);
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_UNVERIFIED);
    assert_int_equal(rep.detail, FLASH_BASE + 128);
    /* an erase below a byte written in this session (it could undo a verified write): refused,
     * the written sector's own and one lower in another region alike */
    start_session(two, 2);
    n = pv_cmd_write(cmds, 0x0800C000u, data, sizeof data, PV_FLASH_X32);
    pv_sha256(h, data, sizeof data);
    n += pv_cmd_verify(cmds + n, 0x0800C000u, sizeof data, h);
    n += pv_cmd_erase(cmds + n, 0x0800C000u, 0x4000, PV_FLASH_X32);
    assert_int_equal(run_frame(cmds, n, PV_FLAG_REPLY, &rep), PV_ST_ORDER);
    assert_int_equal(rep.index, 2);
    assert_failed_with(PV_ST_ORDER);
    assert_int_equal(erase_calls, 0);
    start_session(two, 2);
    n = pv_cmd_write(cmds, 0x0800C000u, data, sizeof data, PV_FLASH_X32);
    n += pv_cmd_verify(cmds + n, 0x0800C000u, sizeof data, h);
    n += pv_cmd_erase(cmds + n, FLASH_BASE + 0x4000, 0x4000, PV_FLASH_X32);
    assert_int_equal(run_frame(cmds, n, PV_FLAG_REPLY, &rep), PV_ST_ORDER);
    assert_int_equal(rep.index, 2);
    assert_int_equal(erase_calls, 0);
    /* an erase above every byte written so far: done, and Level 2 still needs only the writes
     * verified */
    start_session(two, 2);
    memset(flash + 0x4000, 0x00, 16); /* sector 1 not blank, so really erased */
    n = pv_cmd_write(cmds, FLASH_BASE, data, sizeof data, PV_FLASH_X32);
    pv_sha256(h, data, sizeof data);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, sizeof data, h);
    n += pv_cmd_erase(cmds + n, FLASH_BASE + 0x4000, 0x4000, PV_FLASH_X32);
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_OK);
    assert_int_equal(erase_calls, 1);
    assert_int_equal(flash[0x4000], 0xFF);

    /* a range counts only when one verify covers all of it: two verifies of its halves do not */
    start_session(two, 2);
    n = pv_cmd_write(cmds, FLASH_BASE, data, sizeof data, PV_FLASH_X32);
    pv_sha256(h, data, 200);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, 200, h);
    pv_sha256(h, data + 200, 56);
    n += pv_cmd_verify(cmds + n, FLASH_BASE + 200, 56, h);
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_UNVERIFIED);
    assert_int_equal(rep.detail, FLASH_BASE);

    /* the whole: written in pieces (one range), a verify over it (and more), and the key slot
     * verified: accepted */
    start_session(two, 2);
    n = pv_cmd_erase(cmds, 0x0800C000u, 0x4000, PV_FLASH_X32); /* erases come first */
    n += pv_cmd_write(cmds + n, FLASH_BASE, data, 128, PV_FLASH_X32);
    n += pv_cmd_write(cmds + n, FLASH_BASE + 128, data + 128, 128, PV_FLASH_X32);
    n += pv_cmd_keyslot(cmds + n, 0x0800C000u, slot, PV_FLASH_X32);
    uint8_t more[512];
    memcpy(more, data, sizeof data);
    memset(more + sizeof data, 0xFF, sizeof more - sizeof data);
    pv_sha256(h, more, sizeof more);
    n += pv_cmd_verify(cmds + n, FLASH_BASE, sizeof more, h);
    pv_sha256(h, slot, sizeof slot);
    n += pv_cmd_verify(cmds + n, 0x0800C000u, PV_KEYSLOT_LEN, h);
    assert_int_equal(lock_after(cmds, n, &rep), PV_ST_OK);
    assert_int_equal(state(), PV_STATE_DONE);

    /* more separate written ranges than the stub tracks: refused, not forgotten */
    start_session(two, 2);
    n = 0;
    for (uint32_t i = 0; i <= STUB_WRITTEN_MAX; i++)
        n += pv_cmd_write(cmds + n, FLASH_BASE + 0x400 * i, data, 4, PV_FLASH_X32);
    assert_int_equal(run_frame(cmds, n, PV_FLAG_REPLY, &rep), PV_ST_RANGES);
    assert_int_equal(rep.index, STUB_WRITTEN_MAX);
    assert_int_equal(rep.detail, FLASH_BASE + 0x400 * STUB_WRITTEN_MAX);
    assert_failed_with(PV_ST_RANGES);
}

static void test_keyslot_bound_to_uid(void **state_)
{
    (void)state_;
    uint8_t cmds[256], slot[PV_KEYSLOT_LEN];
    pv_keyslot ks = {.key_id = 1};
    memcpy(ks.uid, uid, 12);
    ks.uid[11] ^= 1; /* another chip's */
    pv_keyslot_encode(slot, &ks, unsigned_slot);
    start_session(&whole, 1);
    size_t n = pv_cmd_keyslot(cmds, FLASH_BASE + 0x4000, slot, PV_FLASH_X32);
    assert_int_equal(one(n, cmds, PV_FLAG_REPLY), PV_ST_KEYSLOT);
    assert_int_equal(program_calls, 0);
}

static void test_flash_error_reported(void **state_)
{
    (void)state_;
    uint8_t cmds[64], data[8] = {0};
    start_session(&whole, 1);
    fail_program_at = 1;
    size_t n = pv_cmd_write(cmds, FLASH_BASE, data, 8, PV_FLASH_X32);
    n += pv_cmd_write(cmds + n, FLASH_BASE + 0x100, data, 8, PV_FLASH_X32);
    struct pv_reply rep;
    assert_int_equal(run_frame(cmds, n, 0, &rep), PV_ST_FLASH - PV_FLASH_ERR_WRP);
    assert_int_equal(rep.index, 1);
    assert_int_equal(rep.detail, FLASH_BASE + 0x100);
    assert_int_equal(mbox32(PV_MBOX_DETAIL), FLASH_BASE + 0x100);
    assert_failed_with(PV_ST_FLASH - PV_FLASH_ERR_WRP);
    assert_string_equal(pv_status_name(status()),
                        "flash WRPERR: sector is write-protected (nWRP option bit)");
}

static void test_entropy_mix(void **state_)
{
    (void)state_;
    uint8_t a[32], b[32], hw[32], host[32];
    memset(hw, 1, 32);
    memset(host, 2, 32);
    stub_mix_entropy(a, hw, host);
    host[31] ^= 1;
    stub_mix_entropy(b, hw, host);
    assert_memory_not_equal(a, b, 32);
    hw[0] ^= 1;
    stub_mix_entropy(a, hw, host);
    assert_memory_not_equal(a, b, 32);
}

static int count_frames(void *ctx, const uint8_t *frame, size_t len)
{
    (void)frame, (void)len;
    ++*(int *)ctx;
    return 0;
}

/* The trusted side signs the key slot after message 1 and checks the signature under the slot's
 * signer_pub before it sends anything: a token whose key is not that one, or no signer, stops
 * the install with no frame out (a slot no chip would boot is never written). */
static void test_slot_signed_before_any_frame(void **state_)
{
    (void)state_;
    static uint8_t image[1024];
    uint8_t a[32], b[32];
    memset(a, 0x31, sizeof a);
    memset(b, 0x32, sizeof b);
    struct test_slot_key owner, other;
    assert_int_equal(test_slot_key_raw(&owner, a), 0);
    assert_int_equal(test_slot_key_raw(&other, b), 0);
    for (int round = 0; round < 3; round++) {
        reset_chip();
        write_params();
        assert_int_equal(stub_start(&stub, MBOX), PV_ST_OK);
        const uint8_t *h = stub_mem(MBOX + PV_MBOX_REPLY);
        struct pv_install_frames *f = pv_install_frames_new();
        struct pv_stub_identity id;
        assert_non_null(f);
        assert_int_equal(pv_install_frames_accept(f, bridge_priv, h + PV_TRAILER_LEN,
                                                  pv_ld16(h + PV_TRAILER_LEN16), NULL, &id),
                         0);
        struct pv_install_spec spec = {
            .slot_size = SLOT_SIZE,
            .image_addr = FLASH_BASE,
            .image = image,
            .image_len = sizeof image,
            .keyslot_addr = FLASH_BASE + 0x8000,
            .keyslot = {.key_id = 1},
            .sign_slot = round == 2 ? NULL : test_slot_sign,
            .sign_ctx = round == 0 ? &owner : &other,
            .rdp = PV_RDP_LEVEL2,
            .nwrp = 0xFFFFFF,
        };
        memcpy(spec.keyslot.signer_pub, owner.pub, 32);
        int frames = 0;
        int rc = pv_install_frames_begin(f, &spec, count_frames, &frames);
        if (round == 0) {
            assert_int_equal(rc, 0);
            assert_true(frames >= 2); /* message 2, then the install */
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(frames, 0);
            const char *want =
                round == 1 ? "does not verify under its signer_pub" : "no key slot signer";
            if (!strstr(pv_install_frames_error(f), want))
                fail_msg("round %d: expected '%s' in: %s", round, want, pv_install_frames_error(f));
        }
        pv_install_frames_free(f);
    }
    test_slot_key_free(&owner);
    test_slot_key_free(&other);
}

int main(void)
{
    for (int i = 0; i < 32; i++)
        bridge_priv[i] = (uint8_t)(0x40 + i);
    pv_x25519_public(bridge_pub, bridge_priv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_session),
        cmocka_unit_test(test_bad_parameter_block),
        cmocka_unit_test(test_platform_and_rng_failures),
        cmocka_unit_test(test_handshake_tamper_and_wrong_key),
        cmocka_unit_test(test_grant_malformed),
        cmocka_unit_test(test_transport_tamper_replay_order),
        cmocka_unit_test(test_stale_slot_is_not_a_frame),
        cmocka_unit_test(test_malformed_commands),
        cmocka_unit_test(test_regions_and_alignment),
        cmocka_unit_test(test_level2_rules),
        cmocka_unit_test(test_level2_needs_every_write_verified),
        cmocka_unit_test(test_keyslot_bound_to_uid),
        cmocka_unit_test(test_flash_error_reported),
        cmocka_unit_test(test_entropy_mix),
        cmocka_unit_test(test_slot_signed_before_any_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
