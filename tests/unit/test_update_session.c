/* The bridge's update session (hsm-bridge/update_session.c) against a device-side initiator
 * built here from lib/noise on lib/crypto (the bootloader's provider): an honest session end to
 * end (HELLO, message 2 and its OFFER, every DATA message in nonce order reassembling the image,
 * the REPORT), and the attacks the session itself must refuse: another device's PSK, a changed
 * HELLO, a tampered or reordered DATA message, a forged or replayed REPORT, calls out of order.
 *
 * Then the bridge's update service in-process (update_bridge.c) with its real token (SoftHSM2,
 * bridge_harness.h), release images added by `hsm-bridge release add`, and its ledger: v1 to v2
 * recorded installed; up to date; a pin back to v1 offered and the device's refusal recorded;
 * another device's PSK, a UID never provisioned or not locked, a replayed message 1 (also after
 * the bridge restarts) refused with their status and a ledger row each; a session without a
 * report recorded abandoned; an image signed by another key refused by release add and by the
 * bridge's open; the audit chain verifies over all of it. */
#define _GNU_SOURCE /* memmem (bridge_harness.h) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sha256.h"
#include "image/image.h"
#include "noise/noise.h"
#include "noise/noise_provider_pv.h"
#include "proto/update_frame.h"
#include "../../hsm-bridge/bridge_internal.h"
#include "../../hsm-bridge/update_bridge.h"
#include "../../hsm-bridge/update_session.h"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); see provisioner/main.c. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

/* The device: HELLO, its ephemeral key, its PSK. */
struct device {
    pv_upd_hello hello;
    uint8_t hello_bytes[PV_UPD_HELLO_LEN];
    uint8_t psk[32], e[32];
    pv_noise_handshake hs;
    pv_noise_cipherstate tx, rx;
};

static void device_init(struct device *d, uint8_t psk_byte, uint8_t e_byte)
{
    memset(d, 0, sizeof *d);
    d->hello.version = PV_UPD_VERSION;
    for (int i = 0; i < 12; i++)
        d->hello.uid[i] = (uint8_t)(0x30 + i);
    d->hello.key_id = 7;
    d->hello.boot_version = 0x01000000;
    d->hello.app_version = 0x01000000;
    d->hello.floor = 0x01000000;
    d->hello.region_size = 0x60000;
    d->hello.chunk_max = PV_UPD_CHUNK_MAX;
    memset(d->psk, psk_byte, 32);
    for (int i = 0; i < 32; i++)
        d->e[i] = (uint8_t)(e_byte + i);
}

/* Message 1's body: HELLO || Noise message 1. */
static void device_msg1(struct device *d, uint8_t msg1[PV_UPD_MSG1_LEN])
{
    uint8_t prologue[PV_UPD_PROLOGUE_LEN];
    pv_upd_hello_encode(d->hello_bytes, &d->hello);
    pv_upd_prologue(prologue, d->hello_bytes);
    pv_noise_keys k = {{[PV_NOISE_KEY_E] = d->e, [PV_NOISE_KEY_PSK] = d->psk}};
    assert_int_equal(pv_noise_handshake_init(&d->hs, &pv_noise_provider_pv,
                                             &pv_noise_pattern_NNpsk0, 1, prologue, sizeof prologue,
                                             &k),
                     PV_NOISE_OK);
    memcpy(msg1, d->hello_bytes, PV_UPD_HELLO_LEN);
    assert_int_equal(
        pv_noise_handshake_write(&d->hs, NULL, 0, msg1 + PV_UPD_HELLO_LEN, PV_UPD_MSG1_NOISE_LEN),
        PV_UPD_MSG1_NOISE_LEN);
}

static int device_msg2(struct device *d, const uint8_t *msg2, pv_upd_offer *o)
{
    uint8_t off[PV_UPD_OFFER_LEN];
    int rc = pv_noise_handshake_read(&d->hs, msg2, PV_UPD_MSG2_LEN, off, sizeof off);
    if (rc != (int)PV_UPD_OFFER_LEN)
        return -1;
    assert_int_equal(pv_noise_handshake_split(&d->hs, &d->tx, &d->rx), PV_NOISE_OK);
    assert_int_equal(pv_upd_offer_decode(o, off), PV_UPD_OK);
    return 0;
}

static void device_report(struct device *d, const pv_upd_report *r, uint8_t out[64])
{
    uint8_t pt[PV_UPD_REPORT_LEN];
    pv_upd_report_encode(pt, r);
    assert_int_equal(pv_noise_cipher_encrypt(&d->tx, NULL, 0, pt, sizeof pt, out, 64), 64);
}

/* A fake image: a PVIM header with a version, then counting bytes (the session does not verify
 * signatures: the release policy did). */
static uint8_t *fake_image(size_t len, uint32_t version)
{
    uint8_t *img = malloc(len);
    assert_non_null(img);
    for (size_t i = 0; i < len; i++)
        img[i] = (uint8_t)(i * 7 + 3);
    pv_upd_put32(img, PV_IMAGE_MAGIC);
    pv_upd_put32(img + 16, version);
    return img;
}

static struct pv_update_session *accepted(struct device *d, uint8_t msg1[PV_UPD_MSG1_LEN])
{
    struct pv_update_session *s = pv_update_session_new();
    uint8_t eph[32], pub[32];
    device_msg1(d, msg1);
    pv_upd_hello h;
    char why[200];
    assert_int_equal(pv_update_session_hello(msg1, PV_UPD_MSG1_LEN, &h, why, sizeof why),
                     PV_UPDATE_OK);
    assert_memory_equal(h.uid, d->hello.uid, 12);
    assert_int_equal(pv_update_session_accept(s, d->psk, msg1, PV_UPD_MSG1_LEN, eph), PV_UPDATE_OK);
    assert_int_equal(pv_noise_provider_pv.dh_public(pub, d->e), 0);
    assert_memory_equal(eph, pub, 32); /* the replay check keys on the device's ephemeral */
    return s;
}

static void test_honest_session(void **state)
{
    (void)state;
    struct device d;
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN], rep[64];
    device_init(&d, 0x11, 0x40);
    struct pv_update_session *s = accepted(&d, msg1);
    size_t len = 5 * 2048 + 300; /* a short last chunk */
    uint8_t *img = fake_image(len, 0x02000000);
    assert_int_equal(pv_update_session_offer(s, img, len, 0x08020000, 2048, msg2), PV_UPDATE_OK);
    pv_upd_offer o;
    assert_int_equal(device_msg2(&d, msg2, &o), 0);
    assert_int_equal(o.kind, PV_UPD_OFFER_IMAGE);
    assert_int_equal(o.chunk_units, 8);
    assert_int_equal(o.version, 0x02000000);
    assert_int_equal(o.size, len);
    assert_int_equal(o.load_addr, 0x08020000);
    uint8_t digest[32];
    pv_sha256(digest, img, len);
    assert_memory_equal(o.digest16, digest, 16);

    /* The stream: u16 length || ciphertext, in nonce order; offsets ascend by the chunk. */
    size_t slen;
    const uint8_t *st = pv_update_session_stream(s, &slen);
    assert_int_equal(pv_update_session_chunks(s), 6);
    uint8_t *back = calloc(1, len), pt[PV_UPD_OFFSET_LEN + PV_UPD_CHUNK_MAX];
    size_t at = 0, got = 0;
    unsigned n = 0;
    while (at < slen) {
        size_t ct = (size_t)st[at] | (size_t)st[at + 1] << 8;
        assert_true(ct >= PV_UPD_DATA_MIN && ct <= PV_UPD_DATA_MAX);
        int m = pv_noise_cipher_decrypt(&d.rx, NULL, 0, st + at + 2, ct, pt, sizeof pt);
        assert_int_equal(m, (int)(ct - PV_UPD_TAG_LEN));
        uint32_t off = pv_upd_get32(pt);
        assert_int_equal(off, got);
        memcpy(back + off, pt + 4, (size_t)m - 4);
        got += (size_t)m - 4;
        at += 2 + ct;
        n++;
    }
    assert_int_equal(n, 6);
    assert_int_equal(got, len);
    assert_memory_equal(back, img, len);
    /* On the link: the ciphertext per byte of image (the DATA frames' framing comes on top). */
    assert_true((double)slen / (double)len < 1.02);

    pv_upd_report r = {.result = PV_UPD_INSTALLED,
                       .app_version = 0x02000000,
                       .floor = 0x02000000,
                       .written = (uint32_t)len};
    memcpy(r.sha256, digest, 32);
    device_report(&d, &r, rep);
    pv_upd_report got_r;
    assert_int_equal(pv_update_session_report(s, rep, sizeof rep, &got_r), PV_UPDATE_OK);
    assert_int_equal(got_r.result, PV_UPD_INSTALLED);
    assert_int_equal(got_r.app_version, 0x02000000);
    assert_int_equal(got_r.written, len);
    assert_memory_equal(got_r.sha256, digest, 32);
    /* Replayed: the session opens one report only. */
    assert_int_equal(pv_update_session_report(s, rep, sizeof rep, &got_r), PV_UPDATE_E_STATE);
    free(back);
    free(img);
    pv_update_session_free(s);
}

/* A device holding another device's PSK, and a HELLO changed on the way (another UID claimed,
 * a lower floor): message 1 does not authenticate. */
static void test_wrong_psk_and_changed_hello(void **state)
{
    (void)state;
    struct device d;
    uint8_t msg1[PV_UPD_MSG1_LEN], eph[32], other[32];
    device_init(&d, 0x11, 0x40);
    device_msg1(&d, msg1);
    memset(other, 0x22, 32);
    struct pv_update_session *s = pv_update_session_new();
    assert_int_equal(pv_update_session_accept(s, other, msg1, sizeof msg1, eph), PV_UPDATE_E_AUTH);
    assert_non_null(strstr(pv_update_session_error(s), "does not authenticate"));
    /* dead after a failure: no second try on the same session */
    assert_int_equal(pv_update_session_accept(s, d.psk, msg1, sizeof msg1, eph), PV_UPDATE_E_STATE);
    pv_update_session_free(s);

    for (size_t i = 0; i < PV_UPD_MSG1_LEN; i += 5) {
        uint8_t m[PV_UPD_MSG1_LEN];
        memcpy(m, msg1, sizeof m);
        m[i] ^= 0x01;
        s = pv_update_session_new();
        int rc = pv_update_session_accept(s, d.psk, m, sizeof m, eph);
        assert_true(rc == PV_UPDATE_E_AUTH || rc == PV_UPDATE_E_MESSAGE);
        pv_update_session_free(s);
    }
    /* A short message 1 and a HELLO of another protocol version are malformed. */
    pv_upd_hello h;
    char why[200];
    assert_int_equal(pv_update_session_hello(msg1, sizeof msg1 - 1, &h, why, sizeof why),
                     PV_UPDATE_E_MESSAGE);
    assert_non_null(strstr(why, "87 bytes"));
    uint8_t m[PV_UPD_MSG1_LEN];
    memcpy(m, msg1, sizeof m);
    m[0] = 2;
    assert_int_equal(pv_update_session_hello(m, sizeof m, &h, why, sizeof why),
                     PV_UPDATE_E_MESSAGE);
}

/* A relay that flips, reorders or replays DATA messages: the device's decryption refuses each. */
static void test_stream_tampering(void **state)
{
    (void)state;
    struct device d;
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN], pt[PV_UPD_OFFSET_LEN + 2048];
    device_init(&d, 0x33, 0x50);
    struct pv_update_session *s = accepted(&d, msg1);
    uint8_t *img = fake_image(3 * 1024, 0x02000000);
    assert_int_equal(pv_update_session_offer(s, img, 3 * 1024, 0x08020000, 1024, msg2),
                     PV_UPDATE_OK);
    pv_upd_offer o;
    assert_int_equal(device_msg2(&d, msg2, &o), 0);
    assert_int_equal(o.chunk_units, 4);
    size_t slen;
    const uint8_t *st = pv_update_session_stream(s, &slen);
    size_t ct = (size_t)st[0] | (size_t)st[1] << 8;
    const uint8_t *m0 = st + 2, *m1 = st + 2 + ct + 2;
    /* reordered: the second message first */
    assert_int_equal(pv_noise_cipher_decrypt(&d.rx, NULL, 0, m1, ct, pt, sizeof pt),
                     PV_NOISE_ERR_DECRYPT);
    /* flipped */
    uint8_t bad[PV_UPD_DATA_MAX];
    memcpy(bad, m0, ct);
    bad[7] ^= 0x80;
    assert_int_equal(pv_noise_cipher_decrypt(&d.rx, NULL, 0, bad, ct, pt, sizeof pt),
                     PV_NOISE_ERR_DECRYPT);
    /* the real first one still opens (a failed frame consumes no nonce), then replayed it fails */
    assert_int_equal(pv_noise_cipher_decrypt(&d.rx, NULL, 0, m0, ct, pt, sizeof pt), (int)ct - 16);
    assert_int_equal(pv_noise_cipher_decrypt(&d.rx, NULL, 0, m0, ct, pt, sizeof pt),
                     PV_NOISE_ERR_DECRYPT);
    free(img);
    pv_update_session_free(s);
}

/* Nothing newer: OFFER kind 0, no stream; the device's up_to_date report still opens. A forged
 * report (the relay's own bytes) does not. */
static void test_nothing_newer_and_forged_report(void **state)
{
    (void)state;
    struct device d;
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN], rep[64];
    device_init(&d, 0x44, 0x60);
    struct pv_update_session *s = accepted(&d, msg1);
    assert_int_equal(pv_update_session_report(s, rep, sizeof rep, NULL), PV_UPDATE_E_STATE);
    assert_int_equal(pv_update_session_offer(s, NULL, 0, 0, 0, msg2), PV_UPDATE_OK);
    size_t slen;
    assert_null(pv_update_session_stream(s, &slen));
    assert_int_equal(slen, 0);
    pv_upd_offer o;
    assert_int_equal(device_msg2(&d, msg2, &o), 0);
    assert_int_equal(o.kind, PV_UPD_OFFER_NONE);
    pv_upd_report r = {.result = PV_UPD_UP_TO_DATE, .app_version = 0x01000000, .floor = 0x01000000};
    device_report(&d, &r, rep);
    uint8_t forged[64];
    memcpy(forged, rep, 64);
    forged[0] ^= 1;
    pv_upd_report got;
    assert_int_equal(pv_update_session_report(s, forged, sizeof forged, &got), PV_UPDATE_E_AUTH);
    assert_int_equal(pv_update_session_report(s, rep, sizeof rep, &got), PV_UPDATE_OK);
    assert_int_equal(got.result, PV_UPD_UP_TO_DATE);
    pv_update_session_free(s);
}

/* Offers the session refuses to make: no PV image, a chunk size the protocol has not. */
static void test_bad_offers(void **state)
{
    (void)state;
    struct device d;
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN], junk[64] = {0};
    device_init(&d, 0x55, 0x70);
    struct pv_update_session *s = accepted(&d, msg1);
    assert_int_equal(pv_update_session_offer(s, junk, sizeof junk, 0x08020000, 2048, msg2),
                     PV_UPDATE_E_MESSAGE);
    uint8_t *img = fake_image(4096, 0x02000000);
    assert_int_equal(pv_update_session_offer(s, img, 4096, 0x08020000, 1000, msg2),
                     PV_UPDATE_E_MESSAGE);
    assert_int_equal(pv_update_session_offer(s, img, 4096, 0x08020000, 4096, msg2),
                     PV_UPDATE_E_MESSAGE);
    assert_int_equal(pv_update_session_offer(s, img, 4096, 0x08020000, 2048, msg2), PV_UPDATE_OK);
    assert_int_equal(pv_update_session_offer(s, img, 4096, 0x08020000, 2048, msg2),
                     PV_UPDATE_E_STATE);
    free(img);
    pv_update_session_free(s);
}

/* ---- the bridge's update service, in-process ---- */

static struct bh_env env;
static char v2_sealed[200], other_img[200], v2_img[200], v1_sealed[200];

static int bridge_setup(void **state)
{
    (void)state;
    if (!bh_env_init(&env, "upd"))
        return -1;
    /* v2 signed by the token's key; an image signed by a key of the attacker's */
    char other_key[200];
    snprintf(v2_img, sizeof v2_img, "%s/app_v2.img", env.dir);
    snprintf(other_img, sizeof other_img, "%s/other.img", env.dir);
    snprintf(other_key, sizeof other_key, "%s/other.pem", env.dir);
    snprintf(v1_sealed, sizeof v1_sealed, "%s/app.sealed", env.dir); /* bh_env_init's v1 */
    char v2_bin[4200];
    snprintf(v2_bin, sizeof v2_bin, "%s/firmware/app_v2.bin", sp_arm_dir);
    setenv("PROVISION_PIN", BH_PIN, 1);
    int rc =
        BH_CMD(&env, env.prov, "image", "sign", "--in", v2_bin, "--out", v2_img, "--image-version",
               "2.0.0", "--pkcs11", "--token", BH_TOKEN, "--key-label", "image-signing");
    unsetenv("PROVISION_PIN");
    if (rc != 0 ||
        BH_CMD(&env, "openssl", "genpkey", "-algorithm", "ed25519", "-out", other_key) != 0 ||
        BH_CMD(&env, env.prov, "image", "sign", "--in", v2_bin, "--out", other_img,
               "--image-version", "3.0.0", "--key", other_key) != 0) {
        fprintf(stderr, "image sign: %s\n", env.out);
        return -1;
    }
    return 0;
}

static int bridge_teardown(void **state)
{
    (void)state;
    bh_env_free(&env);
    return 0;
}

struct rig {
    struct bh_bridge bb;
    struct pv_bridge_release rel[3];
    struct pv_bridge_pin pin;
    struct pv_bridge_config cfg;
    pv_bridge *b;
    struct pv_bridge_station st;
};

static pv_bridge *rig_open(struct rig *r, char *err, size_t err_len)
{
    return r->b = pv_bridge_open(&r->cfg, err, err_len);
}

/* A bridge on the environment's token with releases v1 and v2 (and pinned when pin_v1). */
static void rig_init(struct rig *r, const char *name, int pin_v1, unsigned ttl_s)
{
    memset(r, 0, sizeof *r);
    assert_true(bh_bridge_init(&env, &r->bb, name, NULL, ttl_s));
    /* release add: the image checked against the product's key and sealed */
    snprintf(v2_sealed, sizeof v2_sealed, "%s/v2.pvseal", r->bb.dir);
    assert_int_equal(BH_CMD(&env, env.bridge_bin, "release", "add", "--config", r->bb.config,
                            "--product", BH_PRODUCT, "--image", v2_img, "-o", v2_sealed),
                     0);
    assert_non_null(strstr(env.out, "{version: 2.0.0, image: "));
    uint8_t *sealed = NULL;
    size_t len = 0;
    assert_non_null(sealed = (uint8_t *)sp_slurp(v2_sealed, &len));
    assert_memory_equal(sealed, "PVSEAL1", 8);
    free(sealed);
    r->rel[0] = (struct pv_bridge_release){BH_PRODUCT, 0x02000000, v2_sealed};
    r->rel[1] = (struct pv_bridge_release){BH_PRODUCT, 0x01000000, v1_sealed};
    r->pin = (struct pv_bridge_pin){BH_PRODUCT, BH_BATCH, 0x01000000};
    r->cfg.recipes[0] = env.recipe;
    r->cfg.n_recipes = 1;
    r->cfg.pin_file = env.pin;
    r->cfg.ledger = r->bb.ledger;
    r->cfg.session_ttl_s = ttl_s;
    r->cfg.local = 1;
    r->cfg.releases = r->rel;
    r->cfg.n_releases = 2;
    r->cfg.pins = &r->pin;
    r->cfg.n_pins = pin_v1 ? 1 : 0;
    r->st.name = "desk-1";
    char err[1024];
    if (!rig_open(r, err, sizeof err))
        fail_msg("bridge open: %s", err);
}

/* A provisioned device in the bridge's ledger: reserved and locked in the demo batch. */
static void provisioned(pv_bridge *b, const uint8_t uid[12], int lock)
{
    pv_ledger *l = pv_bridge_ledger(b);
    pv_ledger_recipe rc = {.name = "demo-stm32f427"};
    assert_int_equal(pv_ledger_reserve(l, BH_BATCH, uid, "line-1", &rc, 1000, NULL), PV_LEDGER_OK);
    pv_ledger_details d = {.rdp_level = 2};
    assert_int_equal(
        pv_ledger_advance_through(l, uid, lock ? PV_LEDGER_LOCKED : PV_LEDGER_VERIFIED, &d),
        PV_LEDGER_OK);
}

static void device_psk(pv_bridge *b, struct device *d)
{
    assert_int_equal(pv_keystore_device_psk(b->prod[0]->ks, d->hello.uid, d->psk), 0);
}

struct rows {
    int n;
    pv_ledger_update u[16];
};

static int collect(void *ctx, const pv_ledger_update *u)
{
    struct rows *r = ctx;
    if (r->n < 16)
        r->u[r->n++] = *u;
    return 0;
}

static struct rows history(pv_bridge *b, const uint8_t uid[12])
{
    struct rows r = {0};
    assert_int_equal(pv_ledger_update_list(pv_bridge_ledger(b), uid, collect, &r), PV_LEDGER_OK);
    return r;
}

static void chain_ok(pv_bridge *b)
{
    pv_ledger_verify_report rep;
    if (pv_ledger_verify_chain(pv_bridge_ledger(b), NULL, NULL, &rep) != PV_LEDGER_OK)
        fail_msg("ledger verify: %s", rep.message);
}

/* The device's side of a whole update through the bridge: begin, stream, report. */
static void run_update(struct rig *r, struct device *d, uint8_t result, pv_upd_offer *o,
                       uint8_t **image, size_t *image_len)
{
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN], rep[64];
    char id[PV_BRIDGE_SESSION_ID_LEN];
    struct pv_bridge_update_offer off;
    struct pv_bridge_err e = {0};
    device_msg1(d, msg1);
    if (pv_bridge_update_begin(r->b, &r->st, msg1, sizeof msg1, msg2, id, &off, &e) != 0)
        fail_msg("begin: %d %s: %s", e.status, e.error, e.reason);
    assert_int_equal(device_msg2(d, msg2, o), 0);
    *image = NULL;
    *image_len = 0;
    if (o->kind == PV_UPD_OFFER_IMAGE) {
        const uint8_t *st;
        size_t slen;
        assert_int_equal(pv_bridge_update_stream(r->b, &r->st, id, &st, &slen, &e), 0);
        assert_int_equal(slen, off.stream_len);
        *image = malloc(o->size);
        uint8_t pt[PV_UPD_OFFSET_LEN + PV_UPD_CHUNK_MAX];
        for (size_t at = 0; at < slen;) {
            size_t ct = (size_t)st[at] | (size_t)st[at + 1] << 8;
            int m = pv_noise_cipher_decrypt(&d->rx, NULL, 0, st + at + 2, ct, pt, sizeof pt);
            assert_true(m > 4);
            memcpy(*image + pv_upd_get32(pt), pt + 4, (size_t)m - 4);
            *image_len += (size_t)m - 4;
            at += 2 + ct;
        }
    } else {
        const uint8_t *st;
        size_t slen;
        assert_int_equal(pv_bridge_update_stream(r->b, &r->st, id, &st, &slen, &e), -1);
        assert_int_equal(e.status, 409);
    }
    pv_upd_report rp = {.result = result,
                        .app_version =
                            result == PV_UPD_INSTALLED ? o->version : d->hello.app_version,
                        .floor = d->hello.floor,
                        .written = (uint32_t)*image_len};
    device_report(d, &rp, rep);
    /* a report the relay forged first: refused, the session waits for the real one */
    uint8_t forged[64];
    memcpy(forged, rep, 64);
    forged[40] ^= 4;
    pv_upd_report got;
    assert_int_equal(pv_bridge_update_report(r->b, &r->st, id, forged, 64, &got, &e), -1);
    assert_int_equal(e.status, 400);
    assert_int_equal(pv_bridge_update_report(r->b, &r->st, id, rep, 64, &got, &e), 0);
    assert_int_equal(got.result, result);
    /* once: the session has ended */
    assert_int_equal(pv_bridge_update_report(r->b, &r->st, id, rep, 64, &got, &e), -1);
    assert_int_equal(e.status, 404);
}

static void test_bridge_v1_to_v2(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, "b-up", 0, 60);
    struct device d;
    device_init(&d, 0, 0x10);
    d.hello.uid[11] = 0xA1;
    device_psk(r.b, &d);
    provisioned(r.b, d.hello.uid, 1);
    pv_upd_offer o;
    uint8_t *img;
    size_t len;
    run_update(&r, &d, PV_UPD_INSTALLED, &o, &img, &len);
    assert_int_equal(o.version, 0x02000000);
    assert_int_equal(o.load_addr, r.b->prod[0]->rc.layout.app_addr);
    /* what the device received is the signed v2 image, byte for byte */
    size_t v2_len = 0;
    uint8_t *v2 = (uint8_t *)sp_slurp(v2_img, &v2_len);
    assert_int_equal(len, v2_len);
    assert_memory_equal(img, v2, len);
    free(v2);
    free(img);
    /* now at v2: nothing newer */
    d.hello.app_version = d.hello.floor = 0x02000000;
    d.e[0] ^= 0x55;
    run_update(&r, &d, PV_UPD_UP_TO_DATE, &o, &img, &len);
    assert_int_equal(o.kind, PV_UPD_OFFER_NONE);
    struct rows h = history(r.b, d.hello.uid);
    assert_int_equal(h.n, 2);
    assert_string_equal(h.u[0].result, "installed");
    assert_int_equal(h.u[0].from_version, 0x01000000);
    assert_int_equal(h.u[0].offered_version, 0x02000000);
    assert_int_equal(h.u[0].now_version, 0x02000000);
    assert_int_equal(h.u[0].bytes_written, v2_len);
    assert_string_equal(h.u[0].station, "desk-1");
    assert_string_equal(h.u[0].product, BH_PRODUCT);
    assert_string_equal(h.u[1].result, "up_to_date");
    assert_int_equal(h.u[1].offered_version, 0);
    chain_ok(r.b);
    /* metrics count them */
    char *text = NULL;
    size_t tlen = 0;
    FILE *m = open_memstream(&text, &tlen);
    assert_int_equal(pv_bridge_metrics(r.b, m), 0);
    fclose(m);
    assert_non_null(strstr(text, "hsm_bridge_updates_total{result=\"installed\"} 1"));
    assert_non_null(strstr(text, "hsm_bridge_updates_total{result=\"up_to_date\"} 1"));
    free(text);
    pv_bridge_close(r.b);
}

/* A pin back to v1 for a device at v2: offered, refused by the device (its floor), recorded. */
static void test_bridge_downgrade_refused(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, "b-pin", 1, 60);
    struct device d;
    device_init(&d, 0, 0x20);
    d.hello.uid[11] = 0xB2;
    d.hello.app_version = d.hello.floor = 0x02000000;
    device_psk(r.b, &d);
    provisioned(r.b, d.hello.uid, 1);
    pv_upd_offer o;
    uint8_t *img;
    size_t len;
    run_update(&r, &d, PV_UPD_REFUSED_VERSION, &o, &img, &len);
    free(img);
    assert_int_equal(o.version, 0x01000000);
    struct rows h = history(r.b, d.hello.uid);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.u[0].result, "refused_version");
    assert_int_equal(h.u[0].now_version, 0x02000000);
    assert_non_null(strstr(h.u[0].reason, "2.0.0 runs"));
    chain_ok(r.b);
    pv_bridge_close(r.b);
}

static void expect_refusal(struct rig *r, struct device *d, int status, const char *error)
{
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN];
    char id[PV_BRIDGE_SESSION_ID_LEN];
    struct pv_bridge_update_offer off;
    struct pv_bridge_err e = {0};
    device_msg1(d, msg1);
    assert_int_equal(pv_bridge_update_begin(r->b, &r->st, msg1, sizeof msg1, msg2, id, &off, &e),
                     -1);
    if (e.status != status || strcmp(e.error, error) != 0)
        fail_msg("want %d %s, got %d %s: %s", status, error, e.status, e.error, e.reason);
    assert_string_equal(id, "");
}

/* Refusals at begin, each recorded: another device's PSK, unknown and unlocked UIDs, replays. */
static void test_bridge_refusals(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, "b-refuse", 0, 60);
    struct device victim, attacker;
    device_init(&victim, 0, 0x30);
    victim.hello.uid[11] = 0xC3;
    device_psk(r.b, &victim);
    provisioned(r.b, victim.hello.uid, 1);
    device_init(&attacker, 0, 0x31);
    attacker.hello.uid[11] = 0xC4;
    device_psk(r.b, &attacker);
    provisioned(r.b, attacker.hello.uid, 1);
    /* the attacker claims the victim's UID with its own PSK */
    struct device forged = attacker;
    memcpy(forged.hello.uid, victim.hello.uid, 12);
    expect_refusal(&r, &forged, 403, "psk_mismatch");
    /* a UID never provisioned; one not locked yet */
    struct device stranger, fresh;
    device_init(&stranger, 0x77, 0x32);
    stranger.hello.uid[11] = 0xC5;
    expect_refusal(&r, &stranger, 403, "unknown_uid");
    device_init(&fresh, 0, 0x33);
    fresh.hello.uid[11] = 0xC6;
    device_psk(r.b, &fresh);
    provisioned(r.b, fresh.hello.uid, 0);
    expect_refusal(&r, &fresh, 403, "not_locked");
    /* a replayed message 1: the same ephemeral key; after a restart too */
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN];
    char id[PV_BRIDGE_SESSION_ID_LEN];
    struct pv_bridge_update_offer off;
    struct pv_bridge_err e = {0};
    device_msg1(&victim, msg1);
    assert_int_equal(pv_bridge_update_begin(r.b, &r.st, msg1, sizeof msg1, msg2, id, &off, &e), 0);
    assert_int_equal(pv_bridge_update_begin(r.b, &r.st, msg1, sizeof msg1, msg2, id, &off, &e), -1);
    assert_int_equal(e.status, 409);
    assert_string_equal(e.error, "replay");
    pv_bridge_close(r.b); /* the session open: recorded abandoned */
    char err[1024];
    if (!rig_open(&r, err, sizeof err))
        fail_msg("reopen: %s", err);
    assert_int_equal(pv_bridge_update_begin(r.b, &r.st, msg1, sizeof msg1, msg2, id, &off, &e), -1);
    assert_string_equal(e.error, "replay");

    struct rows h = history(r.b, victim.hello.uid);
    assert_int_equal(h.n, 4);
    assert_string_equal(h.u[0].result, "psk_mismatch");
    assert_string_equal(h.u[0].ephemeral, ""); /* not authenticated: not remembered */
    assert_string_equal(h.u[1].result, "abandoned");
    assert_non_null(strstr(h.u[1].reason, "bridge stopped"));
    assert_string_equal(h.u[2].result, "replay");
    assert_string_equal(h.u[3].result, "replay");
    h = history(r.b, stranger.hello.uid);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.u[0].result, "unknown_uid");
    h = history(r.b, fresh.hello.uid);
    assert_string_equal(h.u[0].result, "not_locked");
    chain_ok(r.b);
    pv_bridge_close(r.b);
}

/* No report by the TTL: abandoned; the device stays in update mode and a new session works. */
static void test_bridge_abandoned(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, "b-ttl", 0, 1);
    struct device d;
    device_init(&d, 0, 0x40);
    d.hello.uid[11] = 0xD4;
    device_psk(r.b, &d);
    provisioned(r.b, d.hello.uid, 1);
    uint8_t msg1[PV_UPD_MSG1_LEN], msg2[PV_UPD_MSG2_LEN];
    char id[PV_BRIDGE_SESSION_ID_LEN];
    struct pv_bridge_update_offer off;
    struct pv_bridge_err e = {0};
    device_msg1(&d, msg1);
    assert_int_equal(pv_bridge_update_begin(r.b, &r.st, msg1, sizeof msg1, msg2, id, &off, &e), 0);
    usleep(2100 * 1000);
    const uint8_t *st;
    size_t slen;
    assert_int_equal(pv_bridge_update_stream(r.b, &r.st, id, &st, &slen, &e), -1);
    assert_int_equal(e.status, 404);
    struct rows h = history(r.b, d.hello.uid);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.u[0].result, "abandoned");
    assert_non_null(strstr(h.u[0].reason, "no report within"));
    /* the rerun completes */
    d.e[0] ^= 0x33;
    pv_upd_offer o;
    uint8_t *img;
    size_t len;
    run_update(&r, &d, PV_UPD_INSTALLED, &o, &img, &len);
    free(img);
    h = history(r.b, d.hello.uid);
    assert_int_equal(h.n, 2);
    assert_string_equal(h.u[1].result, "installed");
    chain_ok(r.b);
    pv_bridge_close(r.b);
}

/* An image signed by another key: release add refuses it (exit 1, nothing written) and so does
 * the bridge's open when a configuration names it. */
static void test_bridge_foreign_image(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, "b-foreign", 0, 60);
    pv_bridge_close(r.b);
    char out[240], err[1024];
    snprintf(out, sizeof out, "%s/other.pvseal", r.bb.dir);
    assert_int_equal(BH_CMD(&env, env.bridge_bin, "release", "add", "--config", r.bb.config,
                            "--product", BH_PRODUCT, "--image", other_img, "-o", out),
                     1);
    assert_non_null(strstr(env.out, "refused"));
    assert_non_null(strstr(env.out, "key"));
    assert_int_equal(access(out, F_OK), -1);
    /* sealed anyway (with the generic seal) and configured: the bridge does not open */
    assert_int_equal(BH_CMD(&env, env.prov, "keys", "seal", "--recipe", env.recipe, "--pin-file",
                            env.pin, other_img, out),
                     0);
    r.rel[2] = (struct pv_bridge_release){BH_PRODUCT, 0x03000000, out};
    r.cfg.n_releases = 3;
    assert_null(rig_open(&r, err, sizeof err));
    assert_non_null(strstr(err, "other.pvseal refused"));
    /* a configured version that is not the image's */
    r.rel[2] = (struct pv_bridge_release){BH_PRODUCT, 0x02010000, v2_sealed};
    assert_null(rig_open(&r, err, sizeof err));
    assert_non_null(strstr(err, "is version 2.0.0 by its signed header"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_session),
        cmocka_unit_test(test_wrong_psk_and_changed_hello),
        cmocka_unit_test(test_stream_tampering),
        cmocka_unit_test(test_nothing_newer_and_forged_report),
        cmocka_unit_test(test_bad_offers),
    };
    const struct CMUnitTest bridge_tests[] = {
        cmocka_unit_test(test_bridge_v1_to_v2),
        cmocka_unit_test(test_bridge_downgrade_refused),
        cmocka_unit_test(test_bridge_refusals),
        cmocka_unit_test(test_bridge_abandoned),
        cmocka_unit_test(test_bridge_foreign_image),
    };
    if (!sp_install(170))
        return 1;
    int failed = cmocka_run_group_tests_name("update session", tests, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("update service", bridge_tests, bridge_setup, bridge_teardown);
    return failed;
}
