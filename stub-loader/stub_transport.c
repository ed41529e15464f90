/* The stub's side of the mailbox: publishing its state, finding the frame the host posted in a
 * slot. Frames end at the end of their slot ([body][trailer]); the trailer is written last, so a
 * trailer carrying the expected frame number means the whole frame is there. */
#include "stub.h"

static volatile uint32_t *word(const struct stub *s, unsigned off)
{
    return (volatile uint32_t *)(void *)(s->mbox + off);
}

void stub_publish(struct stub *s, int state, int status, uint32_t detail)
{
    *word(s, PV_MBOX_DETAIL) = detail;
    *word(s, PV_MBOX_DONE) = s->done;
    /* last: the state word tells the host the others are current */
    *word(s, PV_MBOX_STATE) = (uint32_t)state | (uint32_t)status << 8;
}

uint8_t *stub_frame(struct stub *s, uint32_t seq, uint8_t **trailer, int *status)
{
    uint8_t *t = s->slot0 + (seq & 1 ? 2 : 1) * s->slot_size - PV_TRAILER_LEN;
    uint32_t got = *(volatile uint32_t *)(void *)t;
    if (got != seq) {
        /* 0 (cleared at start) or the frame two before (this slot's last one): not posted yet.
         * Anything else is a frame out of order. */
        if (got != 0 && got + 2 != seq)
            *status = PV_ST_SEQ;
        return NULL;
    }
    uint32_t len = pv_ld16(t + PV_TRAILER_LEN16);
    if (len > s->slot_size - PV_TRAILER_LEN) {
        *status = PV_ST_FRAME;
        return NULL;
    }
    *trailer = t;
    return t - len;
}
