#include "image/rollback.h"

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void pv_rollback_scan(const uint8_t *region, uint32_t size, uint32_t *floor, uint32_t *next)
{
    uint32_t best = 0, used_end = 0;
    size -= size % PV_ROLLBACK_RECORD_LEN;
    for (uint32_t off = 0; off < size; off += PV_ROLLBACK_RECORD_LEN) {
        uint32_t v = get32(region + off), c = get32(region + off + 4);
        if (v != 0xffffffffu || c != 0xffffffffu)
            used_end = off + PV_ROLLBACK_RECORD_LEN;
        if (c == ~v && v > best)
            best = v;
    }
    *floor = best;
    *next = used_end;
}

void pv_rollback_record(uint32_t value, uint32_t words[2])
{
    words[0] = value;
    words[1] = ~value;
}
