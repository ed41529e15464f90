/* Fuzzing the update protocol's wire format (lib/proto/update_frame), which the bootloader runs on
 * every byte that arrives on USART1 in update mode and the station and bridge on every byte from
 * the device. The input is the line: it goes byte by byte through the reader. Aborts when a frame
 * comes out that the encoder would not give back (decode and encode differ, or a body length the
 * type does not allow), when COBS of the input does not round-trip or contains a 0x00, or when a
 * HELLO, OFFER or REPORT accepted from the input's first bytes does not encode back to them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/update_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pv_upd_reader line, echo;
static uint8_t wire[PV_UPD_WIRE_MAX], body[PV_UPD_FRAME_MAX],
    cobs[PV_UPD_COBS_MAX(PV_UPD_FRAME_MAX)], back[PV_UPD_FRAME_MAX];

/* A frame the reader gave: encoding it again and reading that back gives the same frame. */
static void check_frame(const pv_upd_frame *f)
{
    if (!pv_upd_body_len_ok(f->type, f->body_len) || f->body_len > PV_UPD_DATA_MAX)
        abort();
    memcpy(body, f->body, f->body_len);
    uint8_t type = f->type;
    size_t len = f->body_len;
    int n = pv_upd_frame_encode(wire, sizeof wire, type, body, len);
    if (n < 2 || wire[0] != 0 || wire[n - 1] != 0 || memchr(wire + 1, 0, (size_t)n - 2))
        abort();
    pv_upd_reader_init(&echo);
    int frames = 0;
    for (int i = 0; i < n; i++) {
        pv_upd_frame g;
        int rc = pv_upd_reader_push(&echo, wire[i], &g);
        if (rc < 0)
            abort();
        if (rc == PV_UPD_FRAME) {
            frames++;
            if (g.type != type || g.body_len != len || memcmp(g.body, body, len) != 0)
                abort();
        }
    }
    if (frames != 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pv_upd_reader_init(&line);
    for (size_t i = 0; i < size; i++) {
        pv_upd_frame f;
        int rc = pv_upd_reader_push(&line, data[i], &f);
        if (rc == PV_UPD_FRAME)
            check_frame(&f);
        else if (rc != PV_UPD_NONE && rc < PV_UPD_ERR_LENGTH)
            abort(); /* the reader reports only framing errors */
    }

    /* COBS of the raw input */
    if (size <= PV_UPD_FRAME_MAX) {
        int e = pv_upd_cobs_encode(cobs, sizeof cobs, data, size);
        if (e <= 0 || (size_t)e > PV_UPD_COBS_MAX(size) || memchr(cobs, 0, (size_t)e))
            abort();
        int d = pv_upd_cobs_decode(back, sizeof back, cobs, (size_t)e);
        if (d != (int)size || (size && memcmp(back, data, size) != 0))
            abort();
    }

    /* the three blocks on the input's first bytes */
    uint8_t again[PV_UPD_REPORT_LEN];
    if (size >= PV_UPD_HELLO_LEN) {
        pv_upd_hello h;
        if (pv_upd_hello_decode(&h, data) == PV_UPD_OK) {
            pv_upd_hello_encode(again, &h);
            if (memcmp(again, data, PV_UPD_HELLO_LEN) != 0)
                abort();
        }
    }
    if (size >= PV_UPD_OFFER_LEN) {
        pv_upd_offer o;
        if (pv_upd_offer_decode(&o, data) == PV_UPD_OK) {
            pv_upd_offer_encode(again, &o);
            if (memcmp(again, data, PV_UPD_OFFER_LEN) != 0)
                abort();
        }
    }
    if (size >= PV_UPD_REPORT_LEN) {
        pv_upd_report r;
        if (pv_upd_report_decode(&r, data) == PV_UPD_OK) {
            pv_upd_report_encode(again, &r);
            if (memcmp(again, data, PV_UPD_REPORT_LEN) != 0)
                abort();
        }
    }
    return 0;
}
