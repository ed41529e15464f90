#include "image/layout.h"

#include "image/rollback.h"
#include "keyslot/keyslot.h"

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

void pv_layout_default(pv_layout *l)
{
    l->boot_addr = PV_LAYOUT_DEFAULT_BOOT_ADDR;
    l->boot_size = PV_LAYOUT_DEFAULT_BOOT_SIZE;
    l->keyslot_addr = PV_LAYOUT_DEFAULT_KEYSLOT_ADDR;
    l->keyslot_size = PV_LAYOUT_DEFAULT_KEYSLOT_SIZE;
    l->counter_addr = PV_LAYOUT_DEFAULT_COUNTER_ADDR;
    l->counter_size = PV_LAYOUT_DEFAULT_COUNTER_SIZE;
    l->app_addr = PV_LAYOUT_DEFAULT_APP_ADDR;
    l->app_size = PV_LAYOUT_DEFAULT_APP_SIZE;
}

void pv_layout_encode(uint8_t out[PV_LAYOUT_LEN], const pv_layout *l)
{
    const uint32_t v[8] = {l->boot_addr,    l->boot_size,    l->keyslot_addr, l->keyslot_size,
                           l->counter_addr, l->counter_size, l->app_addr,     l->app_size};
    put32(out, PV_LAYOUT_MAGIC);
    out[4] = PV_LAYOUT_FORMAT, out[5] = 0;
    out[6] = PV_LAYOUT_LEN, out[7] = 0;
    for (int i = 0; i < 8; i++)
        put32(out + 8 + 4 * i, v[i]);
}

int pv_layout_decode(pv_layout *l, const uint8_t in[PV_LAYOUT_LEN])
{
    if (get32(in) != PV_LAYOUT_MAGIC)
        return PV_LAYOUT_ERR_MAGIC;
    if (in[4] != PV_LAYOUT_FORMAT || in[5] != 0 || in[6] != PV_LAYOUT_LEN || in[7] != 0)
        return PV_LAYOUT_ERR_FORMAT;
    l->boot_addr = get32(in + 8);
    l->boot_size = get32(in + 12);
    l->keyslot_addr = get32(in + 16);
    l->keyslot_size = get32(in + 20);
    l->counter_addr = get32(in + 24);
    l->counter_size = get32(in + 28);
    l->app_addr = get32(in + 32);
    l->app_size = get32(in + 36);
    return PV_LAYOUT_OK;
}

/* Inside flash, aligned, at least min bytes; written so no sum can wrap. */
static int region_ok(uint32_t addr, uint32_t size, uint32_t min, uint32_t align, uint32_t base,
                     uint32_t flash_size)
{
    return size >= min && addr >= base && addr - base <= flash_size &&
           size <= flash_size - (addr - base) && (addr & (align - 1u)) == 0 && (size & 3u) == 0;
}

static int disjoint(uint32_t a, uint32_t as, uint32_t b, uint32_t bs)
{
    return a - b >= bs && b - a >= as; /* unsigned: true when neither start lies in the other */
}

int pv_layout_check(const pv_layout *l, uint32_t flash_base, uint32_t flash_size)
{
    if (l->boot_addr != flash_base ||
        !region_ok(l->boot_addr, l->boot_size, PV_LAYOUT_OFFSET + PV_LAYOUT_LEN, 4, flash_base,
                   flash_size))
        return PV_LAYOUT_ERR_BOOT;
    if (!region_ok(l->keyslot_addr, l->keyslot_size, PV_KEYSLOT_LEN, 4, flash_base, flash_size))
        return PV_LAYOUT_ERR_KEYSLOT;
    if (!region_ok(l->counter_addr, l->counter_size, PV_ROLLBACK_RECORD_LEN, 8, flash_base,
                   flash_size) ||
        (l->counter_size % PV_ROLLBACK_RECORD_LEN) != 0)
        return PV_LAYOUT_ERR_COUNTER;
    if (!region_ok(l->app_addr, l->app_size, 1024, 512, flash_base, flash_size))
        return PV_LAYOUT_ERR_APP;
    const uint32_t r[4][2] = {{l->boot_addr, l->boot_size},
                              {l->keyslot_addr, l->keyslot_size},
                              {l->counter_addr, l->counter_size},
                              {l->app_addr, l->app_size}};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (!disjoint(r[i][0], r[i][1], r[j][0], r[j][1]))
                return PV_LAYOUT_ERR_OVERLAP;
    return PV_LAYOUT_OK;
}

const char *pv_layout_strerror(int err)
{
    switch (err) {
    case PV_LAYOUT_OK:
        return "layout valid";
    case PV_LAYOUT_ERR_MAGIC:
        return "no layout table (magic is not PVLT)";
    case PV_LAYOUT_ERR_FORMAT:
        return "layout table has an unknown format or length";
    case PV_LAYOUT_ERR_BOOT:
        return "layout boot region must start at the flash base and hold the table";
    case PV_LAYOUT_ERR_KEYSLOT:
        return "layout key slot region too small, unaligned or outside flash";
    case PV_LAYOUT_ERR_COUNTER:
        return "layout counter region too small, not a multiple of 8 bytes or outside flash";
    case PV_LAYOUT_ERR_APP:
        return "layout app region too small, not 512-byte aligned or outside flash";
    case PV_LAYOUT_ERR_OVERLAP:
        return "layout regions overlap";
    default:
        return "unknown layout error";
    }
}
