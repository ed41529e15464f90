/* Update mode (docs/update-protocol.md, "Session"): START -> MSG1 (HELLO and Noise message 1)
 * -> MSG2 (the OFFER) -> READY -> DATA/ACK ... -> REPORT. Sessions repeat until one ends in a
 * reset: an image installed, nothing newer, or an OFFER refused before anything was erased (the
 * other failures wait for the next START); a START abandons whatever session was running. The
 * PSK is read from the key slot for each START and wiped once message 1 is written; the Noise
 * state is wiped when the session ends. */
#include "boot_update.h"

#include "app_writer.h"
#include "boot_check.h"
#include "boot_console.h"
#include "boot_link.h"
#include "boot_platform.h"
#include "boot_rollback.h"
#include "boot_version.h"
#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "hal/flash.h"
#include "hal/rng.h"
#include "keyslot/keyslot.h"
#include "noise/noise.h"
#include "noise/noise_provider_pv.h"
#include "proto/update_frame.h"

enum { ST_IDLE, ST_HANDSHAKE, ST_TRANSFER };

static struct {
    const pv_layout *l;
    uint32_t app_version; /* version of the valid image in the region, 0 when none */
    uint8_t state;
    pv_noise_handshake hs;
    pv_noise_cipherstate tx, rx;
    pv_upd_offer offer;
    uint32_t next; /* next image offset expected */
    app_writer w;
} u;

/* ---- entry ---- */

int boot_update_wanted(void)
{
    if (plat_take_update_request())
        return BOOT_UPDATE_REQUESTED;
    static const char brk[] = BOOT_UPDATE_BREAK;
    unsigned matched = 0;
    plat_console_init();
    plat_timer_start(BOOT_UPDATE_BREAK_MS);
    while (!plat_timer_done() && matched < sizeof brk - 1) {
        int c = plat_console_getc();
        if (c < 0)
            continue;
        if (c == brk[matched])
            matched++;
        else /* "PVUP" then 'V': "PV" is matched again */
            matched = c == 'P' ? 1u : (matched == 4 && c == 'V') ? 2u : 0u;
    }
    plat_timer_stop();
    return matched == sizeof brk - 1 ? BOOT_UPDATE_ON_LINE : BOOT_UPDATE_NO;
}

void boot_update_say_why(int why)
{
    if (why == BOOT_UPDATE_NO)
        return;
    con_puts(why == BOOT_UPDATE_REQUESTED ? "boot: update requested by the application"
                                          : "boot: update requested on USART1 (" BOOT_UPDATE_BREAK
                                            ")");
    con_eol();
}

/* ---- session ---- */

static void session_wipe(void)
{
    pv_noise_handshake_wipe(&u.hs);
    pv_noise_cipher_wipe(&u.tx);
    pv_noise_cipher_wipe(&u.rx);
    u.state = ST_IDLE;
}

static void say(const char *what)
{
    con_puts("update: ");
    con_puts(what);
}

/* SHA-256 of the image in the application region when it is valid, else zeros. */
static void region_digest(uint8_t out[32])
{
    pv_image img;
    const pv_layout *l = u.l;
    if (u.app_version && pv_image_parse(&img, (const uint8_t *)(uintptr_t)l->app_addr, l->app_size,
                                        l->app_addr) == PV_IMAGE_OK) {
        pv_sha256(out, img.base, img.total_size);
        return;
    }
    pv_wipe(out, 32);
}

/* Sends the REPORT inside the session and ends it. digest: the region image's SHA-256 when the
 * caller has it already, else NULL. */
static void report_with(uint8_t result, const uint8_t *digest)
{
    pv_upd_report r;
    uint32_t next;
    r.result = result;
    r.app_version = u.app_version;
    boot_rollback_read(u.l, &r.floor, &next);
    r.written = u.w.written;
    if (digest)
        for (int i = 0; i < 32; i++)
            r.sha256[i] = digest[i];
    else
        region_digest(r.sha256);
    uint8_t msg[PV_UPD_REPORT_MSG_LEN];
    pv_upd_report_encode(msg, &r);
    int n = pv_noise_cipher_encrypt(&u.tx, NULL, 0, msg, PV_UPD_REPORT_LEN, msg, sizeof msg);
    app_writer_close(&u.w);
    session_wipe();
    if (n == (int)PV_UPD_REPORT_MSG_LEN)
        link_answer(PV_UPD_REPORT, msg, sizeof msg);
    pv_wipe(msg, sizeof msg);
    say("report ");
    con_puts(pv_upd_result_name(result));
    con_eol();
}

static void report(uint8_t result)
{
    report_with(result, NULL);
}

/* After a REPORT that left the region as it was (or holding the new image): start again. */
__attribute__((noreturn)) static void reset_now(void)
{
    say("resetting");
    con_eol();
    plat_reset();
}

static void send_u32(uint8_t type, uint32_t v, int answer)
{
    uint8_t b[4];
    pv_upd_put32(b, v);
    if (answer)
        link_answer(type, b, sizeof b);
    else
        link_send(type, b, sizeof b);
}

/* START: a fresh ephemeral key, HELLO, Noise message 1. */
static void on_start(void)
{
    const pv_layout *l = u.l;
    app_writer_close(&u.w); /* a transfer abandoned half way left the controller unlocked */
    session_wipe();
    link_forget();
    pv_keyslot ks;
    uint8_t uid[12], eph[32], body[PV_UPD_MSG1_LEN], pro[PV_UPD_PROLOGUE_LEN];
    plat_uid(uid);
    int rc = pv_keyslot_decode(&ks, (const uint8_t *)(uintptr_t)l->keyslot_addr, uid);
    if (rc != PV_KEYSLOT_OK) {
        say("key slot unusable: ");
        con_puts(pv_keyslot_strerror(rc));
        con_eol();
        return;
    }
    rc = pv_rng_init();
    if (rc == PV_RNG_OK)
        rc = pv_rng_fill(eph, sizeof eph);
    pv_rng_stop();
    if (rc != PV_RNG_OK) {
        pv_wipe(&ks, sizeof ks);
        say("RNG failed (error ");
        con_dec((uint32_t)-rc);
        con_puts("), no session");
        con_eol();
        return;
    }
    pv_upd_hello h = {.version = PV_UPD_VERSION,
                      .key_id = ks.key_id,
                      .boot_version = PVBOOT_VERSION_WORD,
                      .app_version = u.app_version,
                      .region_size = l->app_size,
                      .chunk_max = PV_UPD_CHUNK_MAX};
    for (int i = 0; i < 12; i++)
        h.uid[i] = uid[i];
    uint32_t next;
    boot_rollback_read(l, &h.floor, &next);
    pv_upd_hello_encode(body, &h);
    pv_upd_prologue(pro, body);
    pv_noise_keys keys = {{[PV_NOISE_KEY_E] = eph, [PV_NOISE_KEY_PSK] = ks.psk}};
    rc = pv_noise_handshake_init(&u.hs, &pv_noise_provider_pv, &pv_noise_pattern_NNpsk0, 1, pro,
                                 sizeof pro, &keys);
    pv_wipe(eph, sizeof eph);
    pv_wipe(&ks, sizeof ks);
    if (rc == PV_NOISE_OK)
        rc = pv_noise_handshake_write(&u.hs, NULL, 0, body + PV_UPD_HELLO_LEN,
                                      PV_UPD_MSG1_NOISE_LEN);
    if (rc != (int)PV_UPD_MSG1_NOISE_LEN) {
        session_wipe();
        say("handshake failed");
        con_eol();
        return;
    }
    u.state = ST_HANDSHAKE;
    u.next = 0;
    link_answer(PV_UPD_MSG1, body, sizeof body);
    say("session started");
    con_eol();
}

/* MSG2: the bridge proved it holds the PSK; judge its OFFER. */
static void on_msg2(const uint8_t *body)
{
    const pv_layout *l = u.l;
    uint8_t raw[PV_UPD_OFFER_LEN];
    int rc = pv_noise_handshake_read(&u.hs, body, PV_UPD_MSG2_LEN, raw, sizeof raw);
    if (rc == (int)PV_UPD_OFFER_LEN)
        rc = pv_noise_handshake_split(&u.hs, &u.tx, &u.rx);
    if (rc < 0) {
        session_wipe();
        say("message 2 refused (not from the holder of this device's PSK, or tampered)");
        con_eol();
        return;
    }
    app_writer_open(&u.w, l);
    rc = pv_upd_offer_decode(&u.offer, raw);
    const pv_upd_offer *o = &u.offer;
    if (rc == PV_UPD_OK && o->kind == PV_UPD_OFFER_NONE) {
        say("nothing newer offered");
        con_eol();
        report(PV_UPD_UP_TO_DATE);
        reset_now();
    }
    say("offer ");
    con_version(o->version);
    con_puts(", ");
    con_dec(o->size);
    con_puts(" bytes at ");
    con_hex32(o->load_addr);
    con_eol();
    uint32_t floor, next, least;
    boot_rollback_read(l, &floor, &next);
    least = floor > u.app_version ? floor : u.app_version;
    if (rc == PV_UPD_OK && o->version < least) {
        say("refused: version ");
        con_version(o->version);
        con_puts(" is older than ");
        con_version(least);
        con_eol();
        report(PV_UPD_REFUSED_VERSION);
        reset_now();
    }
    if (rc != PV_UPD_OK || o->load_addr != l->app_addr || (o->size & 3u) ||
        app_writer_check(&u.w, o->load_addr, o->size) != PV_FLASH_OK) {
        say("refused: not the application region ");
        con_hex32(l->app_addr);
        con_puts(" (");
        con_dec(l->app_size);
        con_puts(" bytes, whole sectors)");
        con_eol();
        report(PV_UPD_REFUSED_ADDRESS);
        reset_now();
    }
    u.state = ST_TRANSFER;
    send_u32(PV_UPD_READY, 0, 1);
}

/* The last byte is in: check the image as the boot flow does, raise the floor, report. */
static void finish(void)
{
    const pv_layout *l = u.l;
    const pv_upd_offer *o = &u.offer;
    app_writer_close(&u.w);
    pv_keyslot ks;
    uint8_t uid[12], digest[32];
    plat_uid(uid);
    pv_image img;
    int rc = pv_keyslot_decode(&ks, (const uint8_t *)(uintptr_t)l->keyslot_addr, uid);
    if (rc == PV_KEYSLOT_OK)
        rc = boot_check_image(l, ks.signer_pub, &img);
    pv_wipe(&ks, sizeof ks);
    if (rc != PV_IMAGE_OK) {
        say("refused: ");
        con_puts(pv_image_strerror(rc));
        con_eol();
        report(PV_UPD_BAD_IMAGE);
        return;
    }
    pv_sha256(digest, img.base, img.total_size);
    uint32_t floor, next;
    boot_rollback_read(l, &floor, &next);
    if (img.total_size != o->size || img.hdr.version != o->version ||
        !pv_ct_equal(digest, o->digest16, sizeof o->digest16) || img.hdr.version < floor) {
        say("refused: the image is not the one offered (size, version or digest), or older than "
            "the floor");
        con_eol();
        report(PV_UPD_BAD_IMAGE);
        return;
    }
    u.app_version = img.hdr.version;
    if (img.hdr.version > floor) {
        rc = boot_rollback_raise(l, next, img.hdr.version);
        if (rc != PV_FLASH_OK && rc != BOOT_ROLLBACK_FULL) {
            say("rollback counter update failed: ");
            con_puts(pv_flash_strerror(rc));
            con_eol();
            report(PV_UPD_FLASH_ERROR);
            return;
        }
    }
    say("installed ");
    con_version(img.hdr.version);
    con_eol();
    report_with(PV_UPD_INSTALLED, digest);
    reset_now();
}

/* DATA: one chunk, in order, through the writer. */
static void on_data(uint8_t *body, size_t len)
{
    const pv_upd_offer *o = &u.offer;
    int n = pv_noise_cipher_decrypt(&u.rx, NULL, 0, body, len, body, len);
    if (n < 0) {
        say("DATA frame failed authentication (tampered, replayed or reordered)");
        con_eol();
        report(PV_UPD_FRAME_AUTH);
        return;
    }
    uint32_t off = pv_upd_get32(body), clen = (uint32_t)n - PV_UPD_OFFSET_LEN;
    if (off != u.next || clen == 0 || (clen & 3u) || clen > PV_UPD_CHUNK_MAX ||
        clen > o->size - off) {
        say("DATA at offset ");
        con_dec(off);
        con_puts(" (");
        con_dec(clen);
        con_puts(" bytes), expected offset ");
        con_dec(u.next);
        con_eol();
        report(PV_UPD_BAD_OFFSET);
        return;
    }
    int rc = app_writer_write(&u.w, u.l->app_addr + off, body + PV_UPD_OFFSET_LEN, clen);
    if (u.w.erased_to != u.l->app_addr)
        u.app_version = 0; /* the old image's first sector is gone */
    if (rc != PV_FLASH_OK) {
        say("flash: ");
        con_puts(pv_flash_strerror(rc));
        con_puts(" at ");
        con_hex32(u.l->app_addr + off);
        con_eol();
        report(PV_UPD_FLASH_ERROR);
        return;
    }
    u.next += clen;
    if (u.next < o->size)
        send_u32(PV_UPD_ACK, u.next, 1);
    else
        finish();
}

void boot_update(const pv_layout *l, uint32_t app_version)
{
    u.l = l;
    u.app_version = app_version;
    u.state = ST_IDLE;
    app_writer_open(&u.w, l);
    link_init();
    say("waiting for START on USART1");
    con_eol();
    for (;;) {
        pv_upd_frame f;
        uint8_t *body;
        int rc = link_recv(&f, &body);
        if (rc != PV_UPD_FRAME) {
            /* Line noise while the station waits for an answer: ask for the frame again. */
            if (u.state != ST_IDLE)
                send_u32(PV_UPD_NAK, u.next, 0);
            continue;
        }
        if (f.type == PV_UPD_START)
            on_start();
        else if (u.state == ST_HANDSHAKE && f.type == PV_UPD_MSG2)
            on_msg2(body);
        else if (u.state == ST_TRANSFER && f.type == PV_UPD_DATA)
            on_data(body, f.body_len);
        /* anything else (a frame out of turn) is ignored */
    }
}
