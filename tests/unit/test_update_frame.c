/* The update protocol's wire format (lib/proto/update_frame): CRC-32/ISO-HDLC against its check
 * value and zlib's crc32; COBS against the published examples (0x00 runs, 254- and 255-byte
 * blocks), round trips up to the largest frame, in place, and every too-small buffer refused
 * without a byte written past it; frames through the byte-at-a-time reader with console text in
 * between; truncated, oversized, corrupted and mistyped frames dropped; the HELLO, OFFER and
 * REPORT blocks at their documented offsets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/test_rng.h"
#include "proto/update_frame.h"

/* ---- CRC ---- */

static void test_crc32_vectors(void **state)
{
    (void)state;
    /* The catalogue's check value of CRC-32/ISO-HDLC. */
    assert_int_equal(pv_upd_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(pv_upd_crc32(0, "", 0), 0u);
    assert_int_equal(pv_upd_crc32(0, "a", 1), 0xE8B7BE43u);
    assert_int_equal(pv_upd_crc32(0, "The quick brown fox jumps over the lazy dog", 43),
                     0x414FA339u);
    /* zlib's crc32 on random data, whole and chained at a random split. */
    static uint8_t buf[5000];
    for (int round = 0; round < 200; round++) {
        size_t n = trng_len(sizeof buf);
        trng_bytes(buf, n);
        uint32_t want = (uint32_t)crc32(0, buf, (uInt)n);
        assert_int_equal(pv_upd_crc32(0, buf, n), want);
        size_t cut = n ? trng_len(n) : 0;
        assert_int_equal(pv_upd_crc32(pv_upd_crc32(0, buf, cut), buf + cut, n - cut), want);
    }
}

/* ---- COBS ---- */

static uint8_t *seq(uint8_t *p, unsigned from, unsigned to)
{
    for (unsigned v = from; v <= to; v++)
        *p++ = (uint8_t)v;
    return p;
}

static void cobs_case(const uint8_t *in, size_t n, const uint8_t *want, size_t want_n)
{
    uint8_t out[600], back[600];
    int e = pv_upd_cobs_encode(out, sizeof out, in, n);
    assert_int_equal(e, (int)want_n);
    assert_memory_equal(out, want, want_n);
    int d = pv_upd_cobs_decode(back, sizeof back, out, (size_t)e);
    assert_int_equal(d, (int)n);
    if (n)
        assert_memory_equal(back, in, n);
}

static void test_cobs_published_examples(void **state)
{
    (void)state;
    cobs_case((const uint8_t[]){0x00}, 1, (const uint8_t[]){0x01, 0x01}, 2);
    cobs_case((const uint8_t[]){0x00, 0x00}, 2, (const uint8_t[]){0x01, 0x01, 0x01}, 3);
    cobs_case((const uint8_t[]){0x00, 0x11, 0x00}, 3, (const uint8_t[]){0x01, 0x02, 0x11, 0x01}, 4);
    cobs_case((const uint8_t[]){0x11, 0x22, 0x00, 0x33}, 4,
              (const uint8_t[]){0x03, 0x11, 0x22, 0x02, 0x33}, 5);
    cobs_case((const uint8_t[]){0x11, 0x22, 0x33, 0x44}, 4,
              (const uint8_t[]){0x05, 0x11, 0x22, 0x33, 0x44}, 5);
    cobs_case((const uint8_t[]){0x11, 0x00, 0x00, 0x00}, 4,
              (const uint8_t[]){0x02, 0x11, 0x01, 0x01, 0x01}, 5);
    cobs_case(NULL, 0, (const uint8_t[]){0x01}, 1);

    uint8_t in[300], want[300], *p;
    /* 01..FE (254 bytes): one full block, no code byte after it */
    seq(in, 0x01, 0xFE);
    want[0] = 0xFF;
    seq(want + 1, 0x01, 0xFE);
    cobs_case(in, 254, want, 255);
    /* 00 01..FE (255 bytes) */
    in[0] = 0;
    seq(in + 1, 0x01, 0xFE);
    want[0] = 0x01;
    want[1] = 0xFF;
    seq(want + 2, 0x01, 0xFE);
    cobs_case(in, 255, want, 256);
    /* 01..FF (255 bytes): a full block, then a block of one */
    seq(in, 0x01, 0xFF);
    want[0] = 0xFF;
    p = seq(want + 1, 0x01, 0xFE);
    p[0] = 0x02;
    p[1] = 0xFF;
    cobs_case(in, 255, want, 257);
    /* 02..FF 00 (255 bytes) */
    p = seq(in, 0x02, 0xFF);
    *p = 0;
    want[0] = 0xFF;
    p = seq(want + 1, 0x02, 0xFF);
    p[0] = 0x01;
    p[1] = 0x01;
    cobs_case(in, 255, want, 257);
    /* 03..FF 00 01 (255 bytes) */
    p = seq(in, 0x03, 0xFF);
    p[0] = 0;
    p[1] = 1;
    want[0] = 0xFE;
    p = seq(want + 1, 0x03, 0xFF);
    p[0] = 0x02;
    p[1] = 0x01;
    cobs_case(in, 255, want, 256);
}

/* Random data of every shape: all zeros, no zeros, runs of zeros, sizes around block edges. */
static void fill_shape(uint8_t *buf, size_t n, int shape)
{
    trng_bytes(buf, n);
    for (size_t i = 0; i < n; i++) {
        if (shape == 0)
            buf[i] = 0;
        else if (shape == 1)
            buf[i] |= 1;
        else if (shape == 2 && (i / 7) % 3 == 0)
            buf[i] = 0;
        else if (shape == 3 && trng_len(300) == 0)
            buf[i] = 0;
    }
}

static void test_cobs_round_trip_and_bounds(void **state)
{
    (void)state;
    static uint8_t in[PV_UPD_FRAME_MAX], enc[PV_UPD_COBS_MAX(PV_UPD_FRAME_MAX)],
        dec[PV_UPD_FRAME_MAX];
    static const size_t sizes[] = {0,   1,   2,   253, 254,  255,  256,  507, 508,
                                   509, 762, 763, 764, 1024, 2047, 2113, 2114};
    for (int shape = 0; shape < 4; shape++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0] + 40; s++) {
            size_t n = s < sizeof sizes / sizeof sizes[0] ? sizes[s] : trng_len(sizeof in);
            fill_shape(in, n, shape);
            int e = pv_upd_cobs_encode(enc, sizeof enc, in, n);
            assert_true(e > 0);
            assert_true((size_t)e <= PV_UPD_COBS_MAX(n));
            assert_null(memchr(enc, 0, (size_t)e));
            int d = pv_upd_cobs_decode(dec, sizeof dec, enc, (size_t)e);
            assert_int_equal(d, (int)n);
            assert_memory_equal(dec, in, n);
            /* in place */
            d = pv_upd_cobs_decode(enc, (size_t)e, enc, (size_t)e);
            assert_int_equal(d, (int)n);
            assert_memory_equal(enc, in, n);
        }
    }
    /* Every output buffer one byte too small is refused and nothing lands past it (ASan
     * watches the exact-size heap blocks). */
    size_t n = 600;
    fill_shape(in, n, 2);
    int full = pv_upd_cobs_encode(enc, sizeof enc, in, n);
    assert_true(full > 0);
    for (size_t cap = 0; cap < (size_t)full; cap++) {
        uint8_t *small = malloc(cap ? cap : 1);
        assert_int_equal(pv_upd_cobs_encode(small, cap, in, n), PV_UPD_ERR_BUFFER);
        free(small);
    }
    for (size_t cap = 0; cap < n; cap += 37) {
        uint8_t *small = malloc(cap ? cap : 1);
        assert_int_equal(pv_upd_cobs_decode(small, cap, enc, (size_t)full), PV_UPD_ERR_BUFFER);
        free(small);
    }
}

static void test_cobs_malformed_refused(void **state)
{
    (void)state;
    uint8_t out[16];
    memset(out, 0xAA, sizeof out);
    /* a code byte pointing past the end */
    assert_int_equal(pv_upd_cobs_decode(out, sizeof out, (const uint8_t[]){0x05, 0x11, 0x22}, 3),
                     PV_UPD_ERR_COBS);
    /* a 0x00 inside a segment */
    assert_int_equal(pv_upd_cobs_decode(out, sizeof out, (const uint8_t[]){0x03, 0x11, 0x00}, 3),
                     PV_UPD_ERR_COBS);
    assert_int_equal(pv_upd_cobs_decode(out, sizeof out, (const uint8_t[]){0x00}, 1),
                     PV_UPD_ERR_COBS);
    /* nothing was written by the refusals */
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xAA);
}

/* ---- frames ---- */

/* Feeds bytes to the reader; returns how many frames came out, copying the last into *last. */
static int feed(pv_upd_reader *r, const uint8_t *p, size_t n, uint8_t *type, uint8_t *body,
                size_t *body_len, int *errors)
{
    int frames = 0;
    for (size_t i = 0; i < n; i++) {
        pv_upd_frame f;
        int rc = pv_upd_reader_push(r, p[i], &f);
        if (rc == PV_UPD_FRAME) {
            frames++;
            *type = f.type;
            *body_len = f.body_len;
            memcpy(body, f.body, f.body_len);
        } else if (rc < 0 && errors) {
            (*errors)++;
        }
    }
    return frames;
}

static void test_frames_round_trip_through_reader(void **state)
{
    (void)state;
    static const struct {
        uint8_t type;
        size_t len;
    } kinds[] = {
        {PV_UPD_START, 0},
        {PV_UPD_MSG1, PV_UPD_MSG1_LEN},
        {PV_UPD_MSG2, PV_UPD_MSG2_LEN},
        {PV_UPD_READY, 4},
        {PV_UPD_ACK, 4},
        {PV_UPD_NAK, 4},
        {PV_UPD_REPORT, PV_UPD_REPORT_MSG_LEN},
        {PV_UPD_DATA, PV_UPD_DATA_MIN},
        {PV_UPD_DATA, PV_UPD_DATA_MAX},
        {PV_UPD_DATA, 4 + 256 + 16},
    };
    static uint8_t wire[PV_UPD_WIRE_MAX], body[PV_UPD_DATA_MAX], got[PV_UPD_FRAME_MAX];
    static pv_upd_reader r;
    pv_upd_reader_init(&r);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int shape = 0; shape < 4; shape++) {
            fill_shape(body, kinds[k].len, shape);
            int n = pv_upd_frame_encode(wire, sizeof wire, kinds[k].type, body, kinds[k].len);
            assert_true(n > 0);
            assert_true((size_t)n <= PV_UPD_WIRE_MAX);
            assert_int_equal(wire[0], 0);
            assert_int_equal(wire[n - 1], 0);
            assert_null(memchr(wire + 1, 0, (size_t)n - 2));
            uint8_t type = 0;
            size_t len = 99999;
            int errors = 0;
            assert_int_equal(feed(&r, wire, (size_t)n, &type, got, &len, &errors), 1);
            assert_int_equal(errors, 0);
            assert_int_equal(type, kinds[k].type);
            assert_int_equal(len, kinds[k].len);
            if (len)
                assert_memory_equal(got, body, len);
            /* the decoded frame is type || body || crc32(type || body), little-endian */
            uint8_t raw[PV_UPD_FRAME_MAX];
            int d = pv_upd_cobs_decode(raw, sizeof raw, wire + 1, (size_t)n - 2);
            assert_int_equal(d, (int)(1 + len + 4));
            assert_int_equal(pv_upd_get32(raw + 1 + len), (uint32_t)crc32(0, raw, (uInt)(1 + len)));
        }
    }
    /* exact buffer: enough; one byte less: refused, nothing written past it */
    fill_shape(body, PV_UPD_DATA_MAX, 1);
    int n = pv_upd_frame_encode(wire, sizeof wire, PV_UPD_DATA, body, PV_UPD_DATA_MAX);
    assert_true(n > 0);
    uint8_t *exact = malloc(PV_UPD_COBS_MAX(1 + PV_UPD_DATA_MAX + 4) + 2);
    assert_int_equal(pv_upd_frame_encode(exact, PV_UPD_COBS_MAX(1 + PV_UPD_DATA_MAX + 4) + 2,
                                         PV_UPD_DATA, body, PV_UPD_DATA_MAX),
                     n);
    assert_memory_equal(exact, wire, (size_t)n);
    free(exact);
    uint8_t *tight = malloc(PV_UPD_COBS_MAX(1 + PV_UPD_DATA_MAX + 4) + 1);
    assert_int_equal(pv_upd_frame_encode(tight, PV_UPD_COBS_MAX(1 + PV_UPD_DATA_MAX + 4) + 1,
                                         PV_UPD_DATA, body, PV_UPD_DATA_MAX),
                     PV_UPD_ERR_BUFFER);
    free(tight);
}

static void test_frames_wrong_type_or_length_refused(void **state)
{
    (void)state;
    uint8_t wire[PV_UPD_WIRE_MAX], body[PV_UPD_DATA_MAX + 8] = {0};
    /* the encoder refuses them */
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, 0x08, body, 4), PV_UPD_ERR_TYPE);
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, 0x00, body, 0), PV_UPD_ERR_TYPE);
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, PV_UPD_START, body, 1),
                     PV_UPD_ERR_LENGTH);
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, PV_UPD_MSG1, body, 87),
                     PV_UPD_ERR_LENGTH);
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, PV_UPD_MSG2, body, 81),
                     PV_UPD_ERR_LENGTH);
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, PV_UPD_ACK, body, 3),
                     PV_UPD_ERR_LENGTH);
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, PV_UPD_REPORT, body, 48),
                     PV_UPD_ERR_LENGTH);
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, PV_UPD_DATA, body, 19),
                     PV_UPD_ERR_LENGTH);
    assert_int_equal(pv_upd_frame_encode(wire, sizeof wire, PV_UPD_DATA, body, PV_UPD_DATA_MAX + 1),
                     PV_UPD_ERR_LENGTH);

    /* and the decoder refuses hand-made ones with a correct CRC */
    struct {
        uint8_t type;
        size_t len;
        int err;
    } bad[] = {
        {0x08, 4, PV_UPD_ERR_TYPE},
        {0xFF, 0, PV_UPD_ERR_TYPE},
        {PV_UPD_START, 4, PV_UPD_ERR_LENGTH},
        {PV_UPD_MSG1, 89, PV_UPD_ERR_LENGTH},
        {PV_UPD_READY, 0, PV_UPD_ERR_LENGTH},
        {PV_UPD_DATA, 8, PV_UPD_ERR_LENGTH},
        {PV_UPD_DATA, PV_UPD_DATA_MAX + 1, PV_UPD_ERR_LENGTH},
    };
    static uint8_t raw[PV_UPD_FRAME_MAX + 8], seg[PV_UPD_WIRE_MAX + 16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        raw[0] = bad[i].type;
        memset(raw + 1, 0x5A, bad[i].len);
        pv_upd_put32(raw + 1 + bad[i].len, pv_upd_crc32(0, raw, 1 + bad[i].len));
        int e = pv_upd_cobs_encode(seg, sizeof seg, raw, 1 + bad[i].len + 4);
        assert_true(e > 0);
        pv_upd_frame f;
        assert_int_equal(pv_upd_frame_decode(&f, seg, (size_t)e), bad[i].err);
        assert_null(f.body);
    }
    /* shorter than type + CRC */
    seg[0] = 0x04;
    seg[1] = 0x10;
    seg[2] = 0x11;
    seg[3] = 0x12;
    pv_upd_frame f;
    assert_int_equal(pv_upd_frame_decode(&f, seg, 4), PV_UPD_ERR_SHORT);
    /* oversized: a well-formed frame one byte over PV_UPD_FRAME_MAX */
    size_t over = PV_UPD_FRAME_MAX + 1;
    raw[0] = PV_UPD_DATA;
    memset(raw + 1, 0x33, over - 5);
    pv_upd_put32(raw + over - 4, pv_upd_crc32(0, raw, over - 4));
    int e = pv_upd_cobs_encode(seg, sizeof seg, raw, over);
    assert_true(e > 0);
    assert_int_equal(pv_upd_frame_decode(&f, seg, (size_t)e), PV_UPD_ERR_TOO_LONG);
}

static void test_truncated_corrupted_and_text_dropped(void **state)
{
    (void)state;
    static uint8_t wire[PV_UPD_WIRE_MAX], body[PV_UPD_DATA_MAX], got[PV_UPD_FRAME_MAX],
        bad[PV_UPD_WIRE_MAX];
    static pv_upd_reader r;
    uint8_t type;
    size_t len;
    int errors;
    fill_shape(body, 4 + 512 + 16, 3);
    int n = pv_upd_frame_encode(wire, sizeof wire, PV_UPD_DATA, body, 4 + 512 + 16);
    assert_true(n > 0);

    /* truncated: every shorter prefix, closed by a delimiter, is dropped */
    for (int cut = 2; cut < n - 1; cut++) {
        pv_upd_reader_init(&r);
        memcpy(bad, wire, (size_t)cut);
        bad[cut] = 0;
        errors = 0;
        assert_int_equal(feed(&r, bad, (size_t)cut + 1, &type, got, &len, &errors), 0);
        assert_int_equal(errors, 1);
    }
    /* every single bit flipped inside the frame: never a frame */
    for (int i = 1; i < n - 1; i++) {
        for (int bit = 0; bit < 8; bit++) {
            pv_upd_reader_init(&r);
            memcpy(bad, wire, (size_t)n);
            bad[i] ^= (uint8_t)(1u << bit);
            errors = 0;
            assert_int_equal(feed(&r, bad, (size_t)n, &type, got, &len, &errors), 0);
            assert_true(errors >= 1);
        }
    }
    /* console text around frames, as the station reads the line */
    pv_upd_reader_init(&r);
    static const char text1[] = "pvboot 1.0.0\r\nboot: key slot ok (key id 1)\r\n";
    static const char text2[] = "update: waiting for START\r\n";
    errors = 0;
    assert_int_equal(feed(&r, (const uint8_t *)text1, strlen(text1), &type, got, &len, &errors), 0);
    assert_int_equal(feed(&r, wire, (size_t)n, &type, got, &len, &errors), 1);
    assert_int_equal(errors, 1); /* the text segment, ended by the frame's leading delimiter */
    assert_int_equal(type, PV_UPD_DATA);
    assert_memory_equal(got, body, len);
    assert_int_equal(feed(&r, (const uint8_t *)text2, strlen(text2), &type, got, &len, &errors), 0);
    assert_int_equal(feed(&r, wire, (size_t)n, &type, got, &len, &errors), 1);
    assert_int_equal(errors, 2);
    /* the text of a segment that is not COBS stays readable for the station's log */
    pv_upd_reader_init(&r);
    pv_upd_frame f;
    for (size_t i = 0; i < strlen(text2); i++)
        assert_int_equal(pv_upd_reader_push(&r, (uint8_t)text2[i], &f), PV_UPD_NONE);
    assert_int_equal(pv_upd_reader_push(&r, 0, &f), PV_UPD_ERR_COBS);
    assert_int_equal(r.len, strlen(text2));
    assert_memory_equal(r.buf, text2, r.len);

    /* a segment longer than any frame: dropped at its delimiter, the next frame still arrives */
    pv_upd_reader_init(&r);
    errors = 0;
    memset(bad, 'x', sizeof bad);
    assert_int_equal(feed(&r, bad, sizeof bad, &type, got, &len, &errors), 0);
    assert_int_equal(pv_upd_reader_push(&r, 0, &f), PV_UPD_ERR_TOO_LONG);
    assert_int_equal(feed(&r, wire, (size_t)n, &type, got, &len, &errors), 1);
    assert_memory_equal(got, body, len);
    /* empty segments (delimiter runs) are no frames and no errors */
    uint8_t zeros[8] = {0};
    errors = 0;
    assert_int_equal(feed(&r, zeros, sizeof zeros, &type, got, &len, &errors), 0);
    assert_int_equal(errors, 0);
}

/* ---- blocks ---- */

static void test_hello_layout(void **state)
{
    (void)state;
    pv_upd_hello h = {.version = 1,
                      .key_id = 0x11223344u,
                      .boot_version = 0x01020003u,
                      .app_version = 0x02000000u,
                      .floor = 0x01000000u,
                      .region_size = 0x000F0000u,
                      .chunk_max = 2048};
    for (int i = 0; i < 12; i++)
        h.uid[i] = (uint8_t)(0xC0 + i);
    uint8_t raw[PV_UPD_HELLO_LEN];
    pv_upd_hello_encode(raw, &h);
    static const uint8_t want[PV_UPD_HELLO_LEN] = {
        1,    0,    0,    0,    0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9,
        0xCA, 0xCB, 0x44, 0x33, 0x22, 0x11, 0x03, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x0F, 0x00, 0x00, 0x08, 0,    0};
    assert_memory_equal(raw, want, sizeof want);
    pv_upd_hello back;
    assert_int_equal(pv_upd_hello_decode(&back, raw), PV_UPD_OK);
    assert_memory_equal(back.uid, h.uid, 12);
    assert_int_equal(back.key_id, h.key_id);
    assert_int_equal(back.boot_version, h.boot_version);
    assert_int_equal(back.app_version, h.app_version);
    assert_int_equal(back.floor, h.floor);
    assert_int_equal(back.region_size, h.region_size);
    assert_int_equal(back.chunk_max, 2048);
    raw[0] = 2;
    assert_int_equal(pv_upd_hello_decode(&back, raw), PV_UPD_ERR_VERSION);
    raw[0] = 1;
    for (int off = 1; off < 40; off++) {
        if (off == 4)
            off = 38; /* only the reserved bytes 1..3 and 38..39 */
        raw[off] ^= 0x01;
        assert_int_equal(pv_upd_hello_decode(&back, raw), PV_UPD_ERR_RESERVED);
        raw[off] ^= 0x01;
    }
    uint8_t pro[PV_UPD_PROLOGUE_LEN];
    pv_upd_prologue(pro, raw);
    assert_int_equal(sizeof pro, 52);
    assert_memory_equal(pro, "pv-update-v1", 12);
    assert_memory_equal(pro + 12, raw, 40);
}

static void test_offer_and_report_layout(void **state)
{
    (void)state;
    pv_upd_offer o = {.kind = 1,
                      .chunk_units = 8,
                      .version = 0x02000000u,
                      .size = 1104,
                      .load_addr = 0x08010000u};
    for (int i = 0; i < 16; i++)
        o.digest16[i] = (uint8_t)(0xD0 + i);
    uint8_t raw[PV_UPD_OFFER_LEN];
    pv_upd_offer_encode(raw, &o);
    assert_int_equal(raw[0], 1);
    assert_int_equal(raw[1], 8);
    assert_int_equal(raw[2] | raw[3], 0);
    assert_int_equal(pv_upd_get32(raw + 4), 0x02000000u);
    assert_int_equal(pv_upd_get32(raw + 8), 1104u);
    assert_int_equal(pv_upd_get32(raw + 12), 0x08010000u);
    assert_memory_equal(raw + 16, o.digest16, 16);
    pv_upd_offer ob;
    assert_int_equal(pv_upd_offer_decode(&ob, raw), PV_UPD_OK);
    assert_int_equal(ob.kind, 1);
    assert_int_equal(ob.chunk_units, 8);
    assert_int_equal(ob.size, 1104u);
    assert_int_equal(ob.load_addr, 0x08010000u);
    raw[0] = 2;
    assert_int_equal(pv_upd_offer_decode(&ob, raw), PV_UPD_ERR_FIELD);
    raw[0] = 0;
    raw[3] = 1;
    assert_int_equal(pv_upd_offer_decode(&ob, raw), PV_UPD_ERR_RESERVED);

    pv_upd_report r = {.result = PV_UPD_INSTALLED,
                       .app_version = 0x02000000u,
                       .floor = 0x02000000u,
                       .written = 1104};
    for (int i = 0; i < 32; i++)
        r.sha256[i] = (uint8_t)i;
    uint8_t rr[PV_UPD_REPORT_LEN];
    pv_upd_report_encode(rr, &r);
    assert_int_equal(rr[0], 0);
    assert_int_equal(pv_upd_get32(rr + 4), 0x02000000u);
    assert_int_equal(pv_upd_get32(rr + 8), 0x02000000u);
    assert_int_equal(pv_upd_get32(rr + 12), 1104u);
    assert_memory_equal(rr + 16, r.sha256, 32);
    pv_upd_report rb;
    assert_int_equal(pv_upd_report_decode(&rb, rr), PV_UPD_OK);
    assert_int_equal(rb.written, 1104u);
    for (int res = 0; res <= 7; res++) {
        rr[0] = (uint8_t)res;
        assert_int_equal(pv_upd_report_decode(&rb, rr), PV_UPD_OK);
        assert_string_not_equal(pv_upd_result_name(res), "unknown");
    }
    rr[0] = 8;
    assert_int_equal(pv_upd_report_decode(&rb, rr), PV_UPD_ERR_FIELD);
    assert_string_equal(pv_upd_result_name(8), "unknown");
    rr[0] = 0;
    rr[2] = 0x40;
    assert_int_equal(pv_upd_report_decode(&rb, rr), PV_UPD_ERR_RESERVED);
    assert_string_equal(pv_upd_result_name(PV_UPD_REFUSED_ADDRESS), "refused_address");
    assert_string_equal(pv_upd_type_name(PV_UPD_START), "START");
    assert_string_equal(pv_upd_strerror(PV_UPD_ERR_CRC),
                        "frame CRC-32 mismatch (line noise or truncation)");
}

int main(void)
{
    trng_seed_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_vectors),
        cmocka_unit_test(test_cobs_published_examples),
        cmocka_unit_test(test_cobs_round_trip_and_bounds),
        cmocka_unit_test(test_cobs_malformed_refused),
        cmocka_unit_test(test_frames_round_trip_through_reader),
        cmocka_unit_test(test_frames_wrong_type_or_length_refused),
        cmocka_unit_test(test_truncated_corrupted_and_text_dropped),
        cmocka_unit_test(test_hello_layout),
        cmocka_unit_test(test_offer_and_report_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
