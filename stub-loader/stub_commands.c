/* The commands a transport frame carries (lib/proto/proto.h): erase, write, verify, key slot,
 * option bytes / RDP, reset. Every address range must lie inside one region the trusted side
 * allowed in message 2. Erases come before the session's first write. RDP Level 2 is accepted
 * only as the last command of the final frame, and only if every byte written in this session
 * (WRITE, KEYSLOT) was covered by one passing VERIFY after it was written. */
#include <string.h>

#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "hal/flash.h"
#include "keyslot/keyslot.h"
#include "stub.h"
#include "stub_platform.h"

#define ANY_LEN 0xFFu

/* Data bytes each operation takes (PV_OP_* order). */
static const uint8_t data_len[] = {0, 0, 0, ANY_LEN, 32, PV_KEYSLOT_LEN, 0, 0};

/* [a, a + len) inside flash and inside one region granted in message 2. */
static int allowed(const struct stub *s, uint32_t a, uint32_t len)
{
    uint32_t off = a - STUB_FLASH_BASE;
    if (off >= pv_flash_size() || len > pv_flash_size() - off)
        return 0;
    for (unsigned i = 0; i < s->nregions; i++) {
        uint32_t ra = s->region[i][0], rl = s->region[i][1];
        if (a >= ra && len <= rl && a - ra <= rl - len)
            return 1;
    }
    return 0;
}

static int flash_status(int rc)
{
    return rc ? PV_ST_FLASH - rc : PV_ST_OK;
}

/* 1 if every byte of the sector reads 0xFF. Reading a sector takes well under a millisecond; an
 * erase 0.25-2 s. A sector whose program or erase was cut short by a power cut holds some bits at
 * 0 (docs/power-cuts.md), so it is not blank and gets erased. */
static int blank(const pv_flash_sector *sec)
{
    const uint32_t *w = (const uint32_t *)(void *)stub_mem(sec->addr);
    uint32_t n = sec->size / 4;
    while (n && *w++ == ~0u)
        n--;
    return !n;
}

/* Whole sectors only: [a, a + len) must start and end on sector bounds. A sector already blank
 * (factory-fresh) is not erased again. */
static int erase(uint32_t a, uint32_t len, unsigned psize, uint32_t *detail)
{
    pv_flash_sector sec, last;
    if (pv_flash_sector_at(a + len - 1, &last) || last.addr + last.size != a + len ||
        pv_flash_sector_at(a, &sec) || sec.addr != a)
        return PV_ST_ALIGN;
    for (;;) {
        *detail = sec.addr;
        int rc = blank(&sec) ? PV_FLASH_OK : pv_flash_erase_sector(&sec, psize);
        if (rc || sec.index == last.index)
            return flash_status(rc);
        pv_flash_sector_at(sec.addr + sec.size, &sec);
    }
}

/* The written-range table (stub.h): a WRITE of [a, e) continues the range that ends at a, or
 * opens one; a passing VERIFY of [a, e) empties every range inside it. */
__attribute__((noinline)) static int track(struct stub *s, int verify, uint32_t a, uint32_t e)
{
    if (!verify && e > s->wtop)
        s->wtop = e;
    for (unsigned i = 0; i < s->nwritten; i++) {
        uint32_t *r = s->written[i];
        if (verify) {
            if (a <= r[0] && r[1] <= e)
                r[0] = r[1];
        } else if (r[1] == a) {
            r[1] = e;
            return PV_ST_OK;
        }
    }
    if (verify)
        return PV_ST_OK;
    if (s->nwritten == STUB_WRITTEN_MAX)
        return PV_ST_RANGES;
    s->written[s->nwritten][0] = a;
    s->written[s->nwritten++][1] = e;
    return PV_ST_OK;
}

static int options(struct stub *s, uint8_t rdp, uint32_t nwrp, int final_last, uint32_t *detail)
{
    if (rdp == PV_RDP_LEVEL2) {
        if (!final_last)
            return PV_ST_ORDER;
        if (!s->nwritten)
            return PV_ST_NOT_VERIFIED;
        for (unsigned i = 0; i < s->nwritten; i++)
            if (s->written[i][0] != s->written[i][1]) {
                *detail = s->written[i][0]; /* the first byte of a range not verified */
                return PV_ST_UNVERIFIED;
            }
        s->reset_after = 1; /* Level 2 takes effect at the reset */
    }
    return flash_status(pv_flash_options_write(rdp, nwrp));
}

int stub_exec(struct stub *s, const uint8_t *pt, size_t len, uint8_t flags, uint8_t *index,
              uint32_t *detail)
{
    size_t off = 0;
    for (*index = 0; off < len; ++*index) {
        const uint8_t *c = pt + off, *d = c + PV_CMD_HDR;
        if (len - off < PV_CMD_HDR)
            return PV_ST_CMD;
        uint32_t op = c[PV_CMD_OP], n = pv_ld16(c + PV_CMD_N), a = pv_ld32(c + PV_CMD_A),
                 b = pv_ld32(c + PV_CMD_B);
        if (n > len - off - PV_CMD_HDR || op < PV_OP_ERASE || op > PV_OP_RESET ||
            (data_len[op] != ANY_LEN && n != data_len[op]))
            return PV_ST_CMD;
        off += PV_CMD_HDR + n;
        /* RDP Level 2 and reset must be the last command of the final frame. */
        int final_last = off == len && (flags & PV_FLAG_FINAL);
        if (s->reset_after)
            return PV_ST_ORDER;
        *detail = a;
        uint32_t rlen = op == PV_OP_WRITE || op == PV_OP_KEYSLOT ? n : b;
        /* ERASE, WRITE, KEYSLOT: arg = the parallelism the trusted side chose for this board
         * (pv_flash_psize); VERIFY: 0 */
        unsigned psize = c[PV_CMD_ARG];
        if (op <= PV_OP_KEYSLOT && psize > PV_FLASH_X64)
            return PV_ST_CMD;
        if (op >= PV_OP_ERASE && op <= PV_OP_KEYSLOT) {
            if (!allowed(s, a, rlen))
                return PV_ST_REGION;
            /* Once written, flash changes only by writes, each tracked, and erases of sectors
             * above every byte written so far, so what the Level 2 gate counts as verified
             * stays as verified (allowed() keeps a + rlen inside flash: no wrap). */
            if (op == PV_OP_ERASE && a < s->wtop)
                return PV_ST_ORDER;
            if (op != PV_OP_ERASE && op != PV_OP_VERIFY && track(s, 0, a, a + rlen))
                return PV_ST_RANGES;
        }
        int st = PV_ST_OK;
        switch (op) {
        case PV_OP_ERASE:
            st = b ? erase(a, b, psize, detail) : PV_ST_CMD;
            break;
        case PV_OP_VERIFY: {
            uint8_t h[32];
            pv_sha256(h, stub_mem(a), b);
            if (pv_ct_equal(h, d, sizeof h))
                track(s, 1, a, a + b);
            else
                st = PV_ST_VERIFY;
            break;
        }
        case PV_OP_KEYSLOT:
            /* Made by the trusted side (lib/keyslot); programmed only if it names this chip's
             * UID as the stub read it itself. */
            if (memcmp(d + PV_KEYSLOT_UID_OFF, s->id + PV_ID_UID, 12))
                return PV_ST_KEYSLOT;
            __attribute__((fallthrough)); /* written as any data */
        case PV_OP_WRITE:
            st = (a | n) & 3u ? PV_ST_ALIGN : flash_status(pv_flash_program(a, d, n, psize));
            break;
        case PV_OP_OPTIONS:
            st = options(s, c[PV_CMD_ARG], a, final_last, detail);
            break;
        default: /* PV_OP_RESET */
            if (!final_last)
                return PV_ST_ORDER;
            s->reset_after = 1;
            break;
        }
        if (st)
            return st;
    }
    return PV_ST_OK;
}
