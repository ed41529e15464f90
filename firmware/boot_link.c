#include "boot_link.h"

#include "boot_platform.h"

/* The largest frame the device sends is MSG1. */
#define LINK_OUT_MAX (PV_UPD_COBS_MAX(1u + PV_UPD_MSG1_LEN + PV_UPD_CRC_LEN) + 2u)

static struct {
    pv_upd_reader rd;
    uint8_t out[LINK_OUT_MAX]; /* the kept answer, as on the wire */
    uint16_t out_len;          /* 0: none kept */
    uint8_t last_type;         /* the frame it answers */
    uint16_t last_len;
    uint32_t last_crc;
    uint8_t cur_type; /* the frame link_recv returned last */
    uint16_t cur_len;
    uint32_t cur_crc;
} lk;

static void put(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        plat_console_putc((char)p[i]);
}

void link_init(void)
{
    pv_upd_reader_init(&lk.rd);
    lk.out_len = 0;
}

void link_forget(void)
{
    lk.out_len = 0;
}

int link_recv(pv_upd_frame *f, uint8_t **body)
{
    for (;;) {
        int c = plat_console_getc();
        if (c < 0) {
            plat_console_wait_rx();
            continue;
        }
        int rc = pv_upd_reader_push(&lk.rd, (uint8_t)c, f);
        if (rc == PV_UPD_NONE)
            continue;
        if (rc < 0)
            return rc;
        uint32_t crc = pv_upd_get32(f->body + f->body_len);
        if (lk.out_len && f->type != PV_UPD_START && f->type == lk.last_type &&
            f->body_len == lk.last_len && crc == lk.last_crc) {
            put(lk.out, lk.out_len);
            continue;
        }
        lk.cur_type = f->type;
        lk.cur_len = (uint16_t)f->body_len;
        lk.cur_crc = crc;
        /* The body sits in the reader's own buffer, decoded in place. */
        *body = lk.rd.buf + (f->body - lk.rd.buf);
        return PV_UPD_FRAME;
    }
}

void link_answer(uint8_t type, const uint8_t *body, size_t len)
{
    int n = pv_upd_frame_encode(lk.out, sizeof lk.out, type, body, len);
    if (n <= 0) {
        lk.out_len = 0;
        return;
    }
    lk.out_len = (uint16_t)n;
    lk.last_type = lk.cur_type;
    lk.last_len = lk.cur_len;
    lk.last_crc = lk.cur_crc;
    put(lk.out, lk.out_len);
}

void link_send(uint8_t type, const uint8_t *body, size_t len)
{
    uint8_t out[PV_UPD_COBS_MAX(1u + PV_UPD_U32_LEN + PV_UPD_CRC_LEN) + 2u];
    int n = pv_upd_frame_encode(out, sizeof out, type, body, len);
    if (n > 0)
        put(out, (size_t)n);
}
