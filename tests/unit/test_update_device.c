/* The bootloader's update mode (firmware/boot_update.c) on the virtual STM32F427, against a peer
 * written here that speaks docs/update-protocol.md as the bridge would: Noise NNpsk0 responder on
 * the OpenSSL provider with the device's PSK (the test builds the key slot, so it knows it),
 * frames over the sim's USART1 socket. Every chip is a build/host/bin/sim process; the
 * bootloader, key slot and application v1 go in over its GDB server, flash is read back the same
 * way. Proofs: v1 -> v2 installs, v2 boots and the floor is v2; an older version, an image signed
 * by another key, load addresses in the bootloader, key slot and counter, tampered, replayed and
 * reordered DATA are refused with their REPORT and nothing is erased where nothing may be; a CRC
 * error is NAKed and the resend goes through; a dropped link and an interrupted session leave the
 * device in update mode for a rerun; the application's request word and the PVUPDATE break
 * sequence each enter update mode; a power cut at flash operations of an update (all of them
 * with PV_UPDATE_SWEEP=all, `make soak`) followed by a rerun ends running v2 at floor v2. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "common/slot_sign.h"
#include "common/test_rng.h"
#include "crypto/sha256.h"
#include "host/noise_provider_openssl.h"
#include "image/image.h"
#include "image/layout.h"
#include "image/rollback.h"
#include "keyslot/keyslot.h"
#include "noise/noise.h"
#include "proto/update_frame.h"
#include "sim_process.h"
#define RSP_FAIL(...) fail_msg(__VA_ARGS__)
#include "rsp_client.h"

#define BOOT_ADDR     PV_LAYOUT_DEFAULT_BOOT_ADDR
#define KEYSLOT_ADDR  PV_LAYOUT_DEFAULT_KEYSLOT_ADDR
#define COUNTER_ADDR  PV_LAYOUT_DEFAULT_COUNTER_ADDR
#define APP_ADDR      PV_LAYOUT_DEFAULT_APP_ADDR
#define APP_SIZE      PV_LAYOUT_DEFAULT_APP_SIZE
#define V1            0x01000000u
#define V2            0x02000000u
#define WAITING       "update: waiting for START on USART1\r\n"
#define USART_LOG_MAX (512 * 1024)

static char tmpdir[64], fw_dir[4200], prov_bin[4200];
static uint8_t line_buf[USART_LOG_MAX]; /* the line of the one chip that is on */

struct blob {
    uint8_t *data;
    size_t len;
};
static struct blob boot_bin, app_v1, app_v2, other_v2; /* other_v2: signed by another key */
static uint8_t test_pub[32];
static struct test_slot_key test_key; /* signs the key slots, as the token does */

/* ---- one virtual chip and the line to it ---- */

struct chip {
    pid_t pid;
    struct rsp gdb;
    int gdb_port, usart, usart_port;
    char state[128], log[128];
    uint8_t uid[12], psk[32];
    uint8_t *line; /* every byte USART1 sent since power-on */
    size_t line_len, mark;
    pv_upd_reader rd;
    size_t rd_pos; /* bytes of line the reader has seen */
};

static const char *line_text(struct chip *c)
{
    static char text[USART_LOG_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; i < c->line_len; i++)
        text[n++] =
            c->line[i] >= 0x20 || c->line[i] == '\r' || c->line[i] == '\n' ? (char)c->line[i] : '.';
    text[n] = 0;
    return text;
}

/* Reads what is there (waiting up to ms for the first byte); false on timeout or EOF. */
static bool pull(struct chip *c, int ms)
{
    struct pollfd p = {.fd = c->usart, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return false;
    ssize_t n = read(c->usart, c->line + c->line_len, USART_LOG_MAX - c->line_len);
    if (n <= 0)
        return false;
    c->line_len += (size_t)n;
    return true;
}

/* Waits until needle shows up on the line after the mark. */
static bool seen(struct chip *c, const char *needle)
{
    return memmem(c->line + c->mark, c->line_len - c->mark, needle, strlen(needle)) != NULL;
}

static bool wait_text(struct chip *c, const char *needle, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    while (!seen(c, needle)) {
        int left = (int)(end - sp_now_ms());
        if (left <= 0 || !pull(c, left))
            return false;
    }
    return true;
}

static void expect_text(struct chip *c, const char *needle, int ms)
{
    if (!wait_text(c, needle, ms))
        fail_msg("expected \"%s\" on USART1, got:\n%s", needle, line_text(c));
}

/* Everything from here on is new. */
static void mark(struct chip *c)
{
    c->mark = c->line_len;
}

static void start_sim(struct chip *c, bool create, uint64_t seed, char *const *extra)
{
    char seed_s[32];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    char *args[24];
    int n = 0;
    args[n++] = "--state";
    args[n++] = c->state;
    args[n++] = "--gdb-port";
    args[n++] = "0";
    args[n++] = "--usart-port";
    args[n++] = "0";
    if (create) {
        args[n++] = "--create";
        args[n++] = "--uid-seed";
        args[n++] = seed_s;
    }
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char line[256];
    c->pid = sp_start_sim(args, c->log, line, sizeof line);
    if (c->pid <= 0)
        fail_msg("sim did not start");
    c->gdb_port = sp_port(line, "gdb");
    c->usart_port = sp_port(line, "usart");
    assert_true(c->gdb_port > 0 && c->usart_port > 0);
    c->gdb.fd = -1;
    c->line = line_buf;
    c->line_len = c->mark = c->rd_pos = 0;
    pv_upd_reader_init(&c->rd);
    c->usart = sp_connect(c->usart_port, 5000);
    assert_true(c->usart >= 0);
}

static void chip_gdb(struct chip *c)
{
    if (c->gdb.fd < 0)
        c->gdb.fd = sp_connect(c->gdb_port, 5000);
    assert_true(c->gdb.fd >= 0);
}

static void chip_off(struct chip *c)
{
    if (c->gdb.fd >= 0)
        close(c->gdb.fd);
    if (c->usart >= 0)
        close(c->usart);
    c->gdb.fd = c->usart = -1;
    assert_int_equal(sp_stop(c->pid, 10000), 0);
}

static void send_bytes(struct chip *c, const void *p, size_t n)
{
    assert_int_equal(write(c->usart, p, n), (ssize_t)n);
}

/* Sends PVUPDATE every 10 ms until the bootloader says it waits for START (the station's way,
 * while the device resets). */
static void break_in(struct chip *c, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    while (!seen(c, WAITING)) {
        if (sp_now_ms() > end)
            fail_msg("no update mode after PVUPDATE:\n%s", line_text(c));
        send_bytes(c, "PVUPDATE", 8);
        pull(c, 10);
    }
}

/* Powers the chip on with the core held until the USART connects, then breaks into update
 * mode. extra: more sim options (a power cut), or NULL. */
static void power_on_update(struct chip *c, char *const *extra)
{
    char *args[12] = {"--usart-wait"};
    int n = 1;
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    start_sim(c, false, 0, args);
    break_in(c, 30000);
}

/* ---- frames ---- */

static void send_frame(struct chip *c, uint8_t type, const uint8_t *body, size_t len)
{
    static uint8_t wire[PV_UPD_WIRE_MAX];
    int n = pv_upd_frame_encode(wire, sizeof wire, type, body, len);
    assert_true(n > 0);
    send_bytes(c, wire, (size_t)n);
}

/* The next frame from the device within ms (console text skipped); its body copied to body. */
static bool recv_frame(struct chip *c, uint8_t *type, uint8_t *body, size_t *len, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    for (;;) {
        while (c->rd_pos < c->line_len) {
            pv_upd_frame f;
            int rc = pv_upd_reader_push(&c->rd, c->line[c->rd_pos++], &f);
            if (rc == PV_UPD_FRAME) {
                *type = f.type;
                *len = f.body_len;
                memcpy(body, f.body, f.body_len);
                return true;
            }
        }
        int left = (int)(end - sp_now_ms());
        if (left <= 0 || !pull(c, left))
            return false;
    }
}

static void expect_frame(struct chip *c, uint8_t want, uint8_t *body, size_t *len)
{
    uint8_t type;
    if (!recv_frame(c, &type, body, len, 60000))
        fail_msg("no frame from the device (wanted %s):\n%s", pv_upd_type_name(want), line_text(c));
    if (type != want)
        fail_msg("got %s, wanted %s:\n%s", pv_upd_type_name(type), pv_upd_type_name(want),
                 line_text(c));
}

static uint32_t expect_u32(struct chip *c, uint8_t want)
{
    uint8_t b[PV_UPD_FRAME_MAX];
    size_t n;
    expect_frame(c, want, b, &n);
    return pv_upd_get32(b);
}

/* ---- the bridge's side of a session ---- */

struct sess {
    pv_noise_handshake hs;
    pv_noise_cipherstate tx, rx; /* tx: bridge -> device */
    pv_upd_hello hello;
    uint8_t msg1[PV_UPD_MSG1_LEN];
};

static pv_upd_offer offer_for(const struct blob *img, uint32_t chunk)
{
    pv_upd_offer o = {.kind = PV_UPD_OFFER_IMAGE,
                      .chunk_units = (uint8_t)(chunk / 256u),
                      .version = pv_upd_get32(img->data + 16),
                      .size = (uint32_t)img->len,
                      .load_addr = APP_ADDR};
    uint8_t d[32];
    pv_sha256(d, img->data, img->len);
    memcpy(o.digest16, d, 16);
    return o;
}

/* Every ephemeral public key the devices sent: each session's must be new (the chip's RNG). */
static uint8_t seen_e[256][32];
static size_t n_seen_e;

static void check_fresh_ephemeral(const uint8_t e[32])
{
    static const uint8_t zero[32];
    assert_memory_not_equal(e, zero, 32);
    for (size_t i = 0; i < n_seen_e; i++)
        if (memcmp(seen_e[i], e, 32) == 0)
            fail_msg("the device reused an ephemeral key (session %zu of %zu)", i + 1, n_seen_e);
    if (n_seen_e < sizeof seen_e / sizeof seen_e[0])
        memcpy(seen_e[n_seen_e++], e, 32);
}

/* START -> MSG1 (checked against the chip) -> MSG2 with the offer. */
static void begin(struct chip *c, struct sess *s, const pv_upd_offer *offer)
{
    uint8_t body[PV_UPD_FRAME_MAX];
    size_t n;
    send_frame(c, PV_UPD_START, NULL, 0);
    expect_frame(c, PV_UPD_MSG1, body, &n);
    memcpy(s->msg1, body, sizeof s->msg1);
    check_fresh_ephemeral(body + PV_UPD_HELLO_LEN);
    assert_int_equal(pv_upd_hello_decode(&s->hello, body), PV_UPD_OK);
    assert_memory_equal(s->hello.uid, c->uid, 12);
    assert_int_equal(s->hello.key_id, 1);
    assert_int_equal(s->hello.boot_version, 0x01000000u);
    assert_int_equal(s->hello.region_size, APP_SIZE);
    assert_int_equal(s->hello.chunk_max, 2048);
    uint8_t pro[PV_UPD_PROLOGUE_LEN], eph[32], payload[8], m2[PV_UPD_MSG2_LEN],
        off[PV_UPD_OFFER_LEN];
    pv_upd_prologue(pro, body);
    assert_int_equal(RAND_bytes(eph, sizeof eph), 1);
    pv_noise_keys keys = {{[PV_NOISE_KEY_E] = eph, [PV_NOISE_KEY_PSK] = c->psk}};
    assert_int_equal(pv_noise_handshake_init(&s->hs, &pv_noise_provider_openssl,
                                             &pv_noise_pattern_NNpsk0, 0, pro, sizeof pro, &keys),
                     PV_NOISE_OK);
    assert_int_equal(pv_noise_handshake_read(&s->hs, body + PV_UPD_HELLO_LEN, PV_UPD_MSG1_NOISE_LEN,
                                             payload, sizeof payload),
                     0);
    pv_upd_offer_encode(off, offer);
    assert_int_equal(pv_noise_handshake_write(&s->hs, off, sizeof off, m2, sizeof m2),
                     (int)sizeof m2);
    assert_int_equal(pv_noise_handshake_split(&s->hs, &s->tx, &s->rx), PV_NOISE_OK);
    send_frame(c, PV_UPD_MSG2, m2, sizeof m2);
}

/* One DATA transport message: enc(u32 offset || chunk). Returns its length. */
static size_t data_msg(struct sess *s, uint8_t *out, uint32_t off, const uint8_t *chunk, size_t len)
{
    uint8_t pt[4 + PV_UPD_CHUNK_MAX];
    pv_upd_put32(pt, off);
    memcpy(pt + 4, chunk, len);
    int n = pv_noise_cipher_encrypt(&s->tx, NULL, 0, pt, 4 + len, out, PV_UPD_DATA_MAX);
    assert_int_equal(n, (int)(4 + len + 16));
    return (size_t)n;
}

/* The whole stream, as the bridge prepares it: n messages of chunk bytes (the last shorter). */
struct stream {
    size_t count, len[1200];
    uint8_t *msg[1200];
};

static void make_stream(struct sess *s, struct stream *st, const struct blob *img, uint32_t chunk)
{
    st->count = 0;
    for (size_t off = 0; off < img->len; off += chunk) {
        size_t n = img->len - off < chunk ? img->len - off : chunk;
        st->msg[st->count] = malloc(PV_UPD_DATA_MAX);
        st->len[st->count] = data_msg(s, st->msg[st->count], (uint32_t)off, img->data + off, n);
        st->count++;
    }
}

static void free_stream(struct stream *st)
{
    for (size_t i = 0; i < st->count; i++)
        free(st->msg[i]);
    st->count = 0;
}

/* Decrypts the REPORT frame's body. */
static pv_upd_report open_report(struct sess *s, const uint8_t *body, size_t len)
{
    assert_int_equal(len, PV_UPD_REPORT_MSG_LEN);
    uint8_t pt[PV_UPD_REPORT_MSG_LEN];
    assert_int_equal(pv_noise_cipher_decrypt(&s->rx, NULL, 0, body, len, pt, sizeof pt),
                     (int)PV_UPD_REPORT_LEN);
    pv_upd_report r;
    assert_int_equal(pv_upd_report_decode(&r, pt), PV_UPD_OK);
    return r;
}

static pv_upd_report expect_report(struct chip *c, struct sess *s)
{
    uint8_t body[PV_UPD_FRAME_MAX];
    size_t n;
    expect_frame(c, PV_UPD_REPORT, body, &n);
    return open_report(s, body, n);
}

static void expect_result(const pv_upd_report *r, int want, struct chip *c)
{
    if (r->result != want)
        fail_msg("REPORT %s, wanted %s:\n%s", pv_upd_result_name(r->result),
                 pv_upd_result_name(want), line_text(c));
}

/* Sends stream messages [from, to); each must be ACKed with the next offset. */
static void send_acked(struct chip *c, const struct stream *st, size_t from, size_t to,
                       uint32_t chunk, size_t total)
{
    for (size_t i = from; i < to; i++) {
        send_frame(c, PV_UPD_DATA, st->msg[i], st->len[i]);
        uint32_t next = (uint32_t)((i + 1) * chunk < total ? (i + 1) * chunk : total);
        if (next < total)
            assert_int_equal(expect_u32(c, PV_UPD_ACK), next);
    }
}

/* A whole update of img in chunk-byte DATA frames; returns the REPORT. */
static pv_upd_report update(struct chip *c, const struct blob *img, uint32_t chunk)
{
    struct sess s;
    pv_upd_offer o = offer_for(img, chunk);
    begin(c, &s, &o);
    assert_int_equal(expect_u32(c, PV_UPD_READY), 0);
    struct stream st;
    make_stream(&s, &st, img, chunk);
    send_acked(c, &st, 0, st.count, chunk, img->len);
    pv_upd_report r = expect_report(c, &s);
    free_stream(&st);
    return r;
}

/* ---- what goes into flash ---- */

static struct blob load(const char *dir, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct blob b;
    b.data = (uint8_t *)sp_slurp(path, &b.len);
    if (!b.data)
        fail_msg("%s missing: build the firmware first (make all)", path);
    return b;
}

/* Reads flash over GDB: connecting halts the core; an earlier connection resets and halts it. */
static void read_flash(struct chip *c, uint32_t addr, uint8_t *out, size_t len)
{
    if (c->gdb.fd >= 0)
        rsp_monitor(&c->gdb, "reset halt", NULL, 0);
    chip_gdb(c);
    rsp_read(&c->gdb, addr, out, len);
}

static uint32_t floor_of(struct chip *c)
{
    static uint8_t rec[PV_LAYOUT_DEFAULT_COUNTER_SIZE];
    read_flash(c, COUNTER_ADDR, rec, 256);
    uint32_t floor, next;
    pv_rollback_scan(rec, 256, &floor, &next);
    return floor;
}

/* A new chip with the bootloader, a key slot whose PSK the test keeps, and img; booted once
 * (the floor becomes img's version), then powered off. */
static void provision(struct chip *c, const char *name, uint64_t seed, const struct blob *img)
{
    snprintf(c->state, sizeof c->state, "%s/%s.state", tmpdir, name);
    snprintf(c->log, sizeof c->log, "%s/%s.log", tmpdir, name);
    start_sim(c, true, seed, NULL);
    chip_gdb(c);
    char uid_hex[64];
    rsp_monitor(&c->gdb, "uid", uid_hex, sizeof uid_hex);
    for (int i = 0; i < 12; i++) {
        unsigned b;
        assert_int_equal(sscanf(uid_hex + 2 * i, "%2x", &b), 1);
        c->uid[i] = (uint8_t)b;
    }
    pv_keyslot ks = {.key_id = 1, .key_version = 1};
    memcpy(ks.uid, c->uid, 12);
    trng_bytes(ks.psk, 32);
    memcpy(c->psk, ks.psk, 32);
    memcpy(ks.signer_pub, test_pub, 32);
    uint8_t slot[PV_KEYSLOT_LEN];
    test_slot_encode(slot, &ks, &test_key);
    rsp_monitor(&c->gdb, "reset halt", NULL, 0);
    rsp_flash(&c->gdb, BOOT_ADDR, boot_bin.data, boot_bin.len);
    rsp_flash(&c->gdb, KEYSLOT_ADDR, slot, sizeof slot);
    rsp_flash(&c->gdb, APP_ADDR, img->data, img->len);
    mark(c);
    rsp_monitor(&c->gdb, "reset", NULL, 0);
    char want[64];
    snprintf(want, sizeof want, "app: demo %u.0.0 running\r\n", img->data[19]);
    expect_text(c, want, 30000);
    assert_int_equal(floor_of(c), pv_upd_get32(img->data + 16));
    chip_off(c);
}

static void expect_boots(struct chip *c, const char *version)
{
    char want[64];
    snprintf(want, sizeof want, "app: demo %s running\r\n", version);
    expect_text(c, want, 60000);
}

/* ---- the proofs ---- */

static void test_v1_to_v2(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "v1v2", 301, &app_v1);
    power_on_update(&c, NULL);
    expect_text(&c, "boot: update requested on USART1 (PVUPDATE)\r\n", 1000);
    struct sess s;
    pv_upd_offer o = offer_for(&app_v2, 2048);
    begin(&c, &s, &o);
    /* HELLO: the running v1 and its floor */
    assert_int_equal(s.hello.app_version, V1);
    assert_int_equal(s.hello.floor, V1);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    struct stream st;
    make_stream(&s, &st, &app_v2, 2048);
    assert_int_equal(st.count, 1);
    send_acked(&c, &st, 0, st.count, 2048, app_v2.len);
    mark(&c);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    assert_int_equal(r.app_version, V2);
    assert_int_equal(r.floor, V2);
    assert_int_equal(r.written, app_v2.len);
    uint8_t d[32];
    pv_sha256(d, app_v2.data, app_v2.len);
    assert_memory_equal(r.sha256, d, 32);
    free_stream(&st);
    /* it resets into v2, which boots normally */
    expect_text(&c, "update: resetting\r\n", 5000);
    expect_text(&c, "pvboot 1.0.0\r\nboot: key slot ok (key id 1)\r\nboot: image 2.0.0", 30000);
    expect_boots(&c, "2.0.0");
    assert_false(seen(&c, "rollback floor")); /* raised by the update, before the reset */
    assert_int_equal(floor_of(&c), V2);
    uint8_t *app = malloc(app_v2.len);
    read_flash(&c, APP_ADDR, app, app_v2.len);
    assert_memory_equal(app, app_v2.data, app_v2.len);
    free(app);
    chip_off(&c);
}

static void test_older_version_refused(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "older", 302, &app_v2);
    power_on_update(&c, NULL);
    struct sess s;
    pv_upd_offer o = offer_for(&app_v1, 2048);
    begin(&c, &s, &o);
    assert_int_equal(s.hello.app_version, V2);
    mark(&c);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_REFUSED_VERSION, &c);
    assert_int_equal(r.app_version, V2);
    assert_int_equal(r.floor, V2);
    assert_int_equal(r.written, 0);
    uint8_t d[32];
    pv_sha256(d, app_v2.data, app_v2.len);
    assert_memory_equal(r.sha256, d, 32);
    expect_text(&c, "update: refused: version 1.0.0 is older than 2.0.0\r\n", 1000);
    /* nothing erased: v2 still boots */
    expect_boots(&c, "2.0.0");
    assert_int_equal(floor_of(&c), V2);
    chip_off(&c);
}

static void test_nothing_newer_up_to_date(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "uptodate", 312, &app_v1);
    power_on_update(&c, NULL);
    struct sess s;
    pv_upd_offer o = {.kind = PV_UPD_OFFER_NONE};
    begin(&c, &s, &o);
    mark(&c);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_UP_TO_DATE, &c);
    assert_int_equal(r.app_version, V1);
    assert_int_equal(r.floor, V1);
    assert_int_equal(r.written, 0);
    uint8_t d[32];
    pv_sha256(d, app_v1.data, app_v1.len);
    assert_memory_equal(r.sha256, d, 32);
    expect_text(&c, "update: nothing newer offered\r\n", 1000);
    expect_boots(&c, "1.0.0"); /* reset into the application it had */
    chip_off(&c);
}

static void write_word(struct chip *c, uint32_t addr, uint32_t v)
{
    char pkt[64];
    snprintf(pkt, sizeof pkt, "M%x,4:%02x%02x%02x%02x", addr, v & 0xffu, (v >> 8) & 0xffu,
             (v >> 16) & 0xffu, v >> 24);
    assert_string_equal(rsp_cmd(&c->gdb, pkt), "OK");
}

static void test_write_protected_sector_flash_error(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "wrp", 313, &app_v1);
    /* sector 4 (the application's first) write-protected in the option bytes, by a debugger */
    start_sim(&c, false, 0, NULL);
    chip_gdb(&c);
    uint8_t b[4];
    rsp_read(&c.gdb, 0x40023C14u, b, 4);
    uint32_t optcr = pv_upd_get32(b);
    write_word(&c, 0x40023C08u, 0x08192A3Bu); /* OPTKEYR */
    write_word(&c, 0x40023C08u, 0x4C5D6E7Fu);
    write_word(&c, 0x40023C14u, (optcr & ~(1u << (16 + 4)) & ~1u) | 2u); /* nWRP4 = 0, OPTSTRT */
    usleep(300000);
    chip_off(&c);
    power_on_update(&c, NULL);
    struct sess s;
    pv_upd_offer o = offer_for(&app_v2, 2048);
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    struct stream st;
    make_stream(&s, &st, &app_v2, 2048);
    mark(&c);
    send_frame(&c, PV_UPD_DATA, st.msg[0], st.len[0]);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_FLASH_ERROR, &c);
    assert_int_equal(r.written, 0);
    assert_int_equal(r.floor, V1);
    expect_text(&c, "update: flash: WRPERR", 1000);
    free_stream(&st);
    /* nothing changed: v1 is intact and boots after a power cycle */
    assert_false(wait_text(&c, "pvboot", 300));
    chip_off(&c);
    start_sim(&c, false, 0, NULL);
    expect_boots(&c, "1.0.0");
    chip_off(&c);
}

static void test_other_key_bad_image_then_rerun(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "otherkey", 303, &app_v1);
    power_on_update(&c, NULL);
    mark(&c);
    pv_upd_report r = update(&c, &other_v2, 512);
    expect_result(&r, PV_UPD_BAD_IMAGE, &c);
    assert_int_equal(r.app_version, 0);
    assert_int_equal(r.floor, V1);
    assert_int_equal(r.written, other_v2.len);
    expect_text(&c,
                "update: refused: image signed by another key (key hash differs from the key "
                "slot's)\r\n",
                1000);
    /* still in update mode, no reset: a rerun with the right image completes */
    assert_false(wait_text(&c, "pvboot", 300));
    mark(&c);
    r = update(&c, &app_v2, 512);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    expect_boots(&c, "2.0.0");
    assert_int_equal(floor_of(&c), V2);
    chip_off(&c);
}

static void test_foreign_addresses_refused(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "address", 304, &app_v1);
    /* everything below the application's end, before */
    size_t span = APP_ADDR - BOOT_ADDR + 0x20000u;
    uint8_t *before = malloc(span), *after = malloc(span);
    start_sim(&c, false, 0, NULL);
    read_flash(&c, BOOT_ADDR, before, span);
    chip_off(&c);
    struct {
        uint32_t addr, size;
    } bad[] = {
        {BOOT_ADDR, (uint32_t)app_v2.len},    /* the bootloader */
        {KEYSLOT_ADDR, (uint32_t)app_v2.len}, /* the key slot */
        {COUNTER_ADDR, (uint32_t)app_v2.len}, /* the counter */
        {COUNTER_ADDR + 0x3C00u, 0x800u},     /* straddling counter and application */
        {APP_ADDR + 0x200u, (uint32_t)app_v2.len},
        {APP_ADDR, APP_SIZE + 4u}, /* bigger than the region */
        {APP_ADDR, 0},
    };
    power_on_update(&c, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sess s;
        pv_upd_offer o = offer_for(&app_v2, 2048);
        o.load_addr = bad[i].addr;
        o.size = bad[i].size;
        mark(&c);
        begin(&c, &s, &o);
        pv_upd_report r = expect_report(&c, &s);
        /* it resets into v1; the station breaks in again while it does (from the REPORT on:
         * the sim keeps bytes on the line over the reset, the window reads them) */
        send_bytes(&c, "PVUPDATE", 8);
        expect_result(&r, PV_UPD_REFUSED_ADDRESS, &c);
        assert_int_equal(r.written, 0);
        assert_int_equal(r.app_version, V1);
        expect_text(&c, "update: resetting\r\n", 5000);
        mark(&c);
        break_in(&c, 30000);
        assert_true(seen(&c, "app: demo 1.0.0") || seen(&c, "boot: image 1.0.0"));
    }
    /* DATA cannot go elsewhere either: after a good OFFER, a DATA frame for an offset past the
     * image (the writer would land beyond it) is refused before anything is erased */
    struct sess s;
    pv_upd_offer o = offer_for(&app_v2, 2048);
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    uint8_t msg[PV_UPD_DATA_MAX];
    size_t n = data_msg(&s, msg, 0x8000u, app_v2.data, 256);
    send_frame(&c, PV_UPD_DATA, msg, n);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_BAD_OFFSET, &c);
    assert_int_equal(r.app_version, V1); /* nothing erased */
    read_flash(&c, BOOT_ADDR, after, span);
    assert_memory_equal(after, before, span);
    free(before);
    free(after);
    chip_off(&c);
}

static uint64_t flash_ops(struct chip *c)
{
    char text[1024];
    rsp_monitor(&c->gdb, "counters", text, sizeof text);
    const char *p = strstr(text, "flash_ops=");
    assert_non_null(p);
    return strtoull(p + 10, NULL, 10);
}

/* The writer alone (tests/arm/writer_probe.c in place of the bootloader): every address outside
 * the application region refused with nothing erased or programmed there; the one write inside
 * it costs exactly one sector erase and four word programs. */
static void test_writer_refuses_foreign_addresses(void **state)
{
    (void)state;
    struct chip c;
    snprintf(c.state, sizeof c.state, "%s/writer.state", tmpdir);
    snprintf(c.log, sizeof c.log, "%s/writer.log", tmpdir);
    start_sim(&c, true, 314, NULL);
    chip_gdb(&c);
    rsp_monitor(&c.gdb, "reset halt", NULL, 0);
    struct blob probe = load(fw_dir, "writer_probe.bin");
    rsp_flash(&c.gdb, BOOT_ADDR, probe.data, probe.len);
    uint8_t pattern[PV_KEYSLOT_LEN];
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(0xA5 ^ i);
    rsp_flash(&c.gdb, KEYSLOT_ADDR, pattern, sizeof pattern);
    rsp_flash(&c.gdb, COUNTER_ADDR, pattern, sizeof pattern);
    rsp_flash(&c.gdb, COUNTER_ADDR + 0x4000u - sizeof pattern, pattern, sizeof pattern);
    /* before: everything from the bootloader to past the region's end */
    size_t span = 0x100000u + 0x100u;
    uint8_t *before = malloc(span), *after = malloc(span);
    rsp_read(&c.gdb, BOOT_ADDR, before, span);
    uint64_t ops0 = flash_ops(&c);
    mark(&c);
    rsp_monitor(&c.gdb, "reset", NULL, 0);
    expect_text(&c, "writer: done\r\n", 30000);
    static const char *const lines[] = {
        "writer: bootloader 0x08000000 refused\r\n",
        "writer: key slot 0x08008000 refused\r\n",
        "writer: counter 0x0800C000 refused\r\n",
        "writer: counter end 0x0800FFF8 refused\r\n",
        "writer: region end 0x080FFFF8 refused\r\n",
        "writer: bank 2 0x08100000 refused\r\n",
        "writer: application 0x08010000 written\r\n",
        "writer: unaligned region 0x08011200 refused\r\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!seen(&c, lines[i]))
            fail_msg("expected \"%s\" from the writer probe:\n%s", lines[i], line_text(&c));
    rsp_monitor(&c.gdb, "halt", NULL, 0);
    assert_int_equal(flash_ops(&c) - ops0, 1 + 4); /* sector 4 erased, 16 bytes programmed */
    rsp_read(&c.gdb, BOOT_ADDR, after, span);
    /* the only change: sector 4 erased and its first 16 bytes zero */
    uint32_t app_off = APP_ADDR - BOOT_ADDR;
    assert_memory_equal(after, before, app_off);
    static const uint8_t zero16[16];
    assert_memory_equal(after + app_off, zero16, 16);
    for (size_t i = app_off + 16; i < span; i++)
        if (after[i] != (i < app_off + 0x10000u ? 0xFF : before[i]))
            fail_msg("flash at 0x%08zx changed to 0x%02x", BOOT_ADDR + i, after[i]);
    free(before);
    free(after);
    free(probe.data);
    chip_off(&c);
}

static void test_tampered_data_frame_auth(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "tamper", 305, &app_v1);
    power_on_update(&c, NULL);
    struct sess s;
    pv_upd_offer o = offer_for(&app_v2, 256);
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    struct stream st;
    make_stream(&s, &st, &app_v2, 256);
    send_acked(&c, &st, 0, 2, 256, app_v2.len);
    /* a relay flips one ciphertext byte and fixes the CRC: the frame is well-formed */
    st.msg[2][40] ^= 0x04;
    mark(&c);
    send_frame(&c, PV_UPD_DATA, st.msg[2], st.len[2]);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_FRAME_AUTH, &c);
    assert_int_equal(r.written, 512);
    assert_int_equal(r.app_version, 0); /* the first sector was erased */
    expect_text(&c, "update: DATA frame failed authentication", 1000);
    free_stream(&st);
    /* in update mode: a rerun completes */
    assert_false(wait_text(&c, "pvboot", 300));
    r = update(&c, &app_v2, 256);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    expect_boots(&c, "2.0.0");
    chip_off(&c);
}

/* The peer's side of message 1 and 2 with a PSK of its choice and a hook on message 2. */
static void begin_with(struct chip *c, struct sess *s, const uint8_t psk[32], int flip_at)
{
    uint8_t body[PV_UPD_FRAME_MAX];
    size_t n;
    send_frame(c, PV_UPD_START, NULL, 0);
    expect_frame(c, PV_UPD_MSG1, body, &n);
    uint8_t pro[PV_UPD_PROLOGUE_LEN], eph[32], payload[8], m2[PV_UPD_MSG2_LEN],
        off[PV_UPD_OFFER_LEN];
    pv_upd_prologue(pro, body);
    assert_int_equal(RAND_bytes(eph, sizeof eph), 1);
    pv_noise_keys keys = {{[PV_NOISE_KEY_E] = eph, [PV_NOISE_KEY_PSK] = psk}};
    assert_int_equal(pv_noise_handshake_init(&s->hs, &pv_noise_provider_openssl,
                                             &pv_noise_pattern_NNpsk0, 0, pro, sizeof pro, &keys),
                     PV_NOISE_OK);
    /* Without this device's PSK message 1 does not verify: a real bridge stops here. This peer
     * goes on and writes message 2 from a state built on its own PSK, to show the device
     * refuses whatever such a party can write. */
    if (pv_noise_handshake_read(&s->hs, body + PV_UPD_HELLO_LEN, PV_UPD_MSG1_NOISE_LEN, payload,
                                sizeof payload) != 0) {
        assert_int_equal(pv_noise_handshake_init(&s->hs, &pv_noise_provider_openssl,
                                                 &pv_noise_pattern_NNpsk0, 1, pro, sizeof pro,
                                                 &keys),
                         PV_NOISE_OK);
        uint8_t m1[PV_UPD_MSG1_NOISE_LEN];
        assert_int_equal(pv_noise_handshake_write(&s->hs, NULL, 0, m1, sizeof m1), (int)sizeof m1);
        pv_noise_handshake_wipe(&s->hs);
        assert_int_equal(pv_noise_handshake_init(&s->hs, &pv_noise_provider_openssl,
                                                 &pv_noise_pattern_NNpsk0, 0, pro, sizeof pro,
                                                 &keys),
                         PV_NOISE_OK);
        assert_int_equal(pv_noise_handshake_read(&s->hs, m1, sizeof m1, payload, sizeof payload),
                         0);
    }
    pv_upd_offer o = offer_for(&app_v2, 256);
    pv_upd_offer_encode(off, &o);
    assert_int_equal(pv_noise_handshake_write(&s->hs, off, sizeof off, m2, sizeof m2),
                     (int)sizeof m2);
    if (flip_at >= 0)
        m2[flip_at] ^= 0x01;
    send_frame(c, PV_UPD_MSG2, m2, sizeof m2);
}

static void test_wrong_psk_and_tampered_handshake_refused(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "psk", 311, &app_v1);
    power_on_update(&c, NULL);
    struct sess s;
    uint8_t other_psk[32];
    memcpy(other_psk, c.psk, 32);
    other_psk[31] ^= 0x80; /* another device's PSK: one bit is enough */
    for (int k = 0; k < 4; k++) {
        mark(&c);
        /* another PSK; the OFFER's ciphertext, tag and the ephemeral key flipped with the right
         * one */
        static const int flips[] = {-1, 40, 79, 3};
        begin_with(&c, &s, k == 0 ? other_psk : c.psk, flips[k]);
        expect_text(&c, "update: message 2 refused", 30000);
        uint8_t type, body[PV_UPD_FRAME_MAX];
        size_t n;
        assert_false(recv_frame(&c, &type, body, &n, 300)); /* no READY, no REPORT */
        pv_noise_handshake_wipe(&s.hs);
    }
    /* a DATA frame cut short (CRC made to match) does not authenticate */
    pv_upd_offer o = offer_for(&app_v2, 256);
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    struct stream st;
    make_stream(&s, &st, &app_v2, 256);
    send_frame(&c, PV_UPD_DATA, st.msg[0], st.len[0] - 4);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_FRAME_AUTH, &c);
    assert_int_equal(r.written, 0);
    assert_int_equal(r.app_version, V1); /* nothing was erased */
    free_stream(&st);
    /* and the device still takes the right session */
    r = update(&c, &app_v2, 256);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    expect_boots(&c, "2.0.0");
    chip_off(&c);
}

static void test_replayed_and_reordered_data(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "replay", 306, &app_v1);
    power_on_update(&c, NULL);
    struct stream st;
    struct sess s;
    pv_upd_offer o = offer_for(&app_v2, 256);

    /* an exact repeat of the last frame (its ACK was lost) is answered again, nothing else */
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    make_stream(&s, &st, &app_v2, 256);
    send_acked(&c, &st, 0, 2, 256, app_v2.len);
    send_frame(&c, PV_UPD_DATA, st.msg[1], st.len[1]);
    assert_int_equal(expect_u32(&c, PV_UPD_ACK), 512);
    /* an older frame replayed: it does not authenticate under the next nonce */
    send_frame(&c, PV_UPD_DATA, st.msg[0], st.len[0]);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_FRAME_AUTH, &c);
    assert_int_equal(r.written, 512);
    free_stream(&st);

    /* reordered: frame 2 before frame 1 */
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    make_stream(&s, &st, &app_v2, 256);
    send_acked(&c, &st, 0, 1, 256, app_v2.len);
    send_frame(&c, PV_UPD_DATA, st.msg[2], st.len[2]);
    r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_FRAME_AUTH, &c);
    free_stream(&st);

    /* a frame from an earlier session replayed into a new one */
    struct sess old;
    begin(&c, &old, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    struct stream old_st;
    make_stream(&old, &old_st, &app_v2, 256);
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    send_frame(&c, PV_UPD_DATA, old_st.msg[0], old_st.len[0]);
    r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_FRAME_AUTH, &c);
    free_stream(&old_st);

    /* authentic but out of order (the bridge skipped a chunk): bad_offset */
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    uint8_t msg[PV_UPD_DATA_MAX];
    size_t n = data_msg(&s, msg, 256, app_v2.data + 256, 256);
    send_frame(&c, PV_UPD_DATA, msg, n);
    r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_BAD_OFFSET, &c);
    expect_text(&c, "update: DATA at offset 256 (256 bytes), expected offset 0\r\n", 1000);

    r = update(&c, &app_v2, 256);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    expect_boots(&c, "2.0.0");
    chip_off(&c);
}

static void test_crc_error_nak_then_resend(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "nak", 307, &app_v1);
    power_on_update(&c, NULL);
    struct sess s;
    pv_upd_offer o = offer_for(&app_v2, 256);
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    struct stream st;
    make_stream(&s, &st, &app_v2, 256);
    send_acked(&c, &st, 0, 1, 256, app_v2.len);
    /* line noise: one byte of the wire frame changed, the CRC no longer matches */
    static uint8_t wire[PV_UPD_WIRE_MAX];
    int n = pv_upd_frame_encode(wire, sizeof wire, PV_UPD_DATA, st.msg[1], st.len[1]);
    assert_true(n > 0);
    wire[100] = wire[100] == 0x55 ? 0x56 : 0x55;
    send_bytes(&c, wire, (size_t)n);
    assert_int_equal(expect_u32(&c, PV_UPD_NAK), 256);
    /* the same frame again, intact */
    send_acked(&c, &st, 1, st.count, 256, app_v2.len);
    pv_upd_report r = expect_report(&c, &s);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    free_stream(&st);
    expect_boots(&c, "2.0.0");
    chip_off(&c);
}

static void test_link_dropped_then_rerun(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "drop", 308, &app_v1);
    power_on_update(&c, NULL);
    struct sess s;
    pv_upd_offer o = offer_for(&app_v2, 256);
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    struct stream st;
    make_stream(&s, &st, &app_v2, 256);
    send_acked(&c, &st, 0, 3, 256, app_v2.len);
    free_stream(&st);
    /* the relay goes away in the middle and another one connects */
    close(c.usart);
    usleep(200000);
    c.usart = sp_connect(c.usart_port, 5000);
    assert_true(c.usart >= 0);
    c.line_len = c.mark = c.rd_pos = 0;
    pv_upd_reader_init(&c.rd);
    assert_false(wait_text(&c, "pvboot", 300)); /* no reset: still in update mode */
    o = offer_for(&app_v2, 256);
    struct sess s2;
    begin(&c, &s2, &o);
    assert_int_equal(s2.hello.app_version, 0); /* v1 is gone, v2 incomplete */
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    make_stream(&s2, &st, &app_v2, 256);
    send_acked(&c, &st, 0, st.count, 256, app_v2.len);
    pv_upd_report r = expect_report(&c, &s2);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    free_stream(&st);
    expect_boots(&c, "2.0.0");
    /* also across a power cycle: an incomplete image means update mode by itself */
    chip_off(&c);
    start_sim(&c, false, 0, NULL);
    expect_boots(&c, "2.0.0");
    assert_int_equal(floor_of(&c), V2);
    chip_off(&c);
}

static void test_request_word_enters_update_mode(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "request", 309, &app_v1);
    start_sim(&c, false, 0, NULL);
    expect_boots(&c, "1.0.0");
    /* the application's command writes the word and resets the core */
    mark(&c);
    send_bytes(&c, "update\r", 7);
    expect_text(&c, "app: update requested, resetting\r\n", 5000);
    expect_text(&c, "pvboot 1.0.0\r\nboot: update requested by the application\r\n", 5000);
    expect_text(&c, WAITING, 30000);
    /* the bootloader cleared the word first: a reset without a new request boots v1 */
    chip_gdb(&c);
    uint8_t word[4];
    rsp_read(&c.gdb, 0x40024000u, word, 4);
    assert_int_equal(pv_upd_get32(word), 0);
    mark(&c);
    rsp_monitor(&c.gdb, "reset", NULL, 0);
    close(c.gdb.fd);
    c.gdb.fd = -1;
    expect_boots(&c, "1.0.0");
    assert_false(seen(&c, "update requested"));
    /* backup SRAM survives a core reset: the word written by a debugger enters update mode */
    chip_gdb(&c);
    uint8_t req[4];
    pv_upd_put32(req, 0x50555650u);
    char pkt[64];
    snprintf(pkt, sizeof pkt, "M40024000,4:%02x%02x%02x%02x", req[0], req[1], req[2], req[3]);
    assert_string_equal(rsp_cmd(&c.gdb, pkt), "OK");
    mark(&c);
    rsp_monitor(&c.gdb, "reset", NULL, 0);
    close(c.gdb.fd);
    c.gdb.fd = -1;
    expect_text(&c, "boot: update requested by the application\r\n", 30000);
    expect_text(&c, WAITING, 30000);
    /* ... but not a power cycle */
    chip_gdb(&c);
    assert_string_equal(rsp_cmd(&c.gdb, pkt), "OK");
    chip_off(&c);
    start_sim(&c, false, 0, NULL);
    expect_boots(&c, "1.0.0");
    assert_false(seen(&c, "update requested"));
    /* and the update through the request path completes */
    mark(&c);
    send_bytes(&c, "update\n", 7);
    expect_text(&c, WAITING, 30000);
    pv_upd_report r = update(&c, &app_v2, 2048);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    expect_boots(&c, "2.0.0");
    chip_off(&c);
}

static void test_break_sequence_window(void **state)
{
    (void)state;
    struct chip c;
    provision(&c, "break", 310, &app_v1);
    /* in the window, even after a partial match ("PVUP" then "VUPDATE") */
    char *wait[] = {"--usart-wait", NULL};
    start_sim(&c, false, 0, wait);
    send_bytes(&c, "xxPVUPVUPDATE", 13);
    expect_text(&c, "boot: update requested on USART1 (PVUPDATE)\r\n", 30000);
    expect_text(&c, WAITING, 30000);
    assert_false(seen(&c, "app:"));
    chip_off(&c);
    /* after the window it is just bytes for the application */
    start_sim(&c, false, 0, NULL);
    expect_boots(&c, "1.0.0");
    mark(&c);
    send_bytes(&c, "PVUPDATEPVUPDATE", 16);
    expect_text(&c, "app: count 3\r\n", 30000);
    assert_false(seen(&c, "pvboot"));
    chip_off(&c);
}

/* ---- power cuts ---- */

/* Flash operations of the v1 -> v2 update on a chip at floor v1: one sector erase, one program
 * per word of the image, then the floor record's two words. */
static uint64_t update_flash_ops(void)
{
    return 1 + app_v2.len / 4 + 2;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *b = sp_slurp(from, &n);
    assert_non_null(b);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(b);
}

/* A copy of the golden chip (v1 at floor v1) has its power cut in flash operation op of an
 * update to v2; the rerun must end with v2 running at floor v2. */
static void cut_and_rerun(const struct chip *golden, uint64_t op, uint64_t seed)
{
    char op_s[24], seed_s[24];
    snprintf(op_s, sizeof op_s, "%llu", (unsigned long long)op);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    struct chip c = *golden;
    snprintf(c.state, sizeof c.state, "%s/cut-%llu.state", tmpdir, (unsigned long long)op);
    snprintf(c.log, sizeof c.log, "%s/cut-%llu.log", tmpdir, (unsigned long long)op);
    copy_file(golden->state, c.state);
    fprintf(stderr, "power cut in flash operation %llu of the update (cut seed %llu)\n",
            (unsigned long long)op, (unsigned long long)seed);
    /* A copy of a state file is the same chip, RNG seed and power-on count included, so each
     * copy repeats the first one's random numbers: ephemeral keys are checked per copy. */
    n_seen_e = 0;
    char *cut[] = {"--power-cut-flash-op", op_s, "--cut-seed", seed_s, NULL};
    power_on_update(&c, cut);
    struct sess s;
    pv_upd_offer o = offer_for(&app_v2, 512);
    begin(&c, &s, &o);
    assert_int_equal(expect_u32(&c, PV_UPD_READY), 0);
    struct stream st;
    make_stream(&s, &st, &app_v2, 512);
    /* send everything; the chip goes dark somewhere on the way */
    for (size_t i = 0; i < st.count; i++) {
        send_frame(&c, PV_UPD_DATA, st.msg[i], st.len[i]);
        uint8_t type, body[PV_UPD_FRAME_MAX];
        size_t n;
        if (!recv_frame(&c, &type, body, &n, 30000))
            break;
    }
    free_stream(&st);
    int status = sp_wait(c.pid, 30000);
    if (status != 3) {
        char *log = sp_slurp(c.log, NULL);
        fail_msg("flash op %llu: the sim should have cut power (exit 3), got %d: %s",
                 (unsigned long long)op, status, log ? log : "");
    }
    sp_forget(c.pid);
    close(c.usart);
    c.gdb.fd = c.usart = -1;
    /* the rerun: update mode by itself or by the break sequence, then v2 */
    power_on_update(&c, NULL);
    pv_upd_report r = update(&c, &app_v2, 512);
    expect_result(&r, PV_UPD_INSTALLED, &c);
    assert_int_equal(r.floor, V2);
    expect_boots(&c, "2.0.0");
    assert_int_equal(floor_of(&c), V2);
    chip_off(&c);
    if (!getenv("PV_KEEP_TMP"))
        unlink(c.state);
}

static void test_power_cut_at_flash_ops(void **state)
{
    (void)state;
    struct chip golden;
    provision(&golden, "golden", 400, &app_v1);
    uint64_t total = update_flash_ops();
    /* PV_UPDATE_SWEEP=all: every operation (make soak); =FROM-TO: those operations only */
    const char *sweep = getenv("PV_UPDATE_SWEEP");
    unsigned long long from = 1, to = total;
    if (sweep && (strcmp(sweep, "all") == 0 || sscanf(sweep, "%llu-%llu", &from, &to) == 2)) {
        for (uint64_t op = from ? from : 1; op <= to && op <= total; op++)
            cut_and_rerun(&golden, op, op);
        return;
    }
    /* the erase, the first words (the header), one in the middle, the last word, the floor's
     * value and complement, plus two at random (PV_TEST_SEED replays them) */
    uint64_t ops[] = {1,
                      2,
                      3,
                      total / 2,
                      total - 2,
                      total - 1,
                      total,
                      2 + trng_len(total - 4),
                      2 + trng_len(total - 4)};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        cut_and_rerun(&golden, ops[i], i + 1);
}

static void sign_other(void)
{
    char key[160], bin[4400], img[160], cmd[9400];
    snprintf(key, sizeof key, "%s/other.pem", tmpdir);
    snprintf(bin, sizeof bin, "%s/app_v2.bin", fw_dir);
    snprintf(img, sizeof img, "%s/other_v2.img", tmpdir);
    snprintf(cmd, sizeof cmd, "openssl genpkey -algorithm ed25519 -out '%s'", key);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "'%s' image sign --key '%s' --image-version 2.0.0 --in '%s' --out '%s' >/dev/null",
             prov_bin, key, bin, img);
    assert_int_equal(system(cmd), 0);
    other_v2 = load(tmpdir, "other_v2.img");
}

static int setup(void **state)
{
    (void)state;
    snprintf(fw_dir, sizeof fw_dir, "%s/firmware", sp_arm_dir);
    snprintf(prov_bin, sizeof prov_bin, "%s/../host/bin/provision", sp_arm_dir);
    assert_true(sp_make_tmpdir(tmpdir, sizeof tmpdir, "test_update_device"));
    boot_bin = load(fw_dir, "bootloader.bin");
    app_v1 = load(fw_dir, "app_v1.img");
    app_v2 = load(fw_dir, "app_v2.img");
    char key[4400];
    snprintf(key, sizeof key, "%s/keys/test-signer.pem", fw_dir);
    assert_int_equal(test_slot_key_pem(&test_key, key), 0);
    memcpy(test_pub, test_key.pub, 32);
    sign_other();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sp_kill_all();
    test_slot_key_free(&test_key);
    free(boot_bin.data);
    free(app_v1.data);
    free(app_v2.data);
    free(other_v2.data);
    char cmd[160];
    snprintf(cmd, sizeof cmd, getenv("PV_KEEP_TMP") ? "echo kept %s" : "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    if (!sp_install(getenv("PV_UPDATE_SWEEP") ? 7200 : 600))
        return 1;
    trng_seed_from_env();
    if (getenv("PV_TEST_FILTER"))
        cmocka_set_test_filter(getenv("PV_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_to_v2),
        cmocka_unit_test(test_older_version_refused),
        cmocka_unit_test(test_nothing_newer_up_to_date),
        cmocka_unit_test(test_write_protected_sector_flash_error),
        cmocka_unit_test(test_other_key_bad_image_then_rerun),
        cmocka_unit_test(test_foreign_addresses_refused),
        cmocka_unit_test(test_writer_refuses_foreign_addresses),
        cmocka_unit_test(test_tampered_data_frame_auth),
        cmocka_unit_test(test_wrong_psk_and_tampered_handshake_refused),
        cmocka_unit_test(test_replayed_and_reordered_data),
        cmocka_unit_test(test_crc_error_nak_then_resend),
        cmocka_unit_test(test_link_dropped_then_rerun),
        cmocka_unit_test(test_request_word_enters_update_mode),
        cmocka_unit_test(test_break_sequence_window),
        cmocka_unit_test(test_power_cut_at_flash_ops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
