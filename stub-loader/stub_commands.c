/* The commands a transport frame carries (lib/proto/proto.h): info, erase, write, verify, key
 * slot, option bytes / RDP, reset. Every address range must lie inside one region the trusted side
 * allowed in message 2. RDP Level 2 is accepted only as the last command of the final frame, and
 * only if a verify passed after the last change to flash. */
#include <string.h>

#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "hal/flash.h"
#include "keyslot/keyslot.h"
#include "stub.h"
#include "stub_platform.h"

#define ANY_LEN 0xFFFFu

/* Data bytes each operation takes (PV_OP_* order). */
static const uint16_t data_len[] = {0, 0, 0, ANY_LEN, 32, PV_KEYSLOT_LEN, 0, 0};

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

/* Whole sectors only: [a, a + len) must start and end on sector bounds. */
static int erase(uint32_t a, uint32_t len, uint32_t *detail)
{
    pv_flash_sector sec, last;
    if (pv_flash_sector_at(a + len - 1, &last) || last.addr + last.size != a + len ||
        pv_flash_sector_at(a, &sec) || sec.addr != a)
        return PV_ST_ALIGN;
    for (;;) {
        *detail = sec.addr;
        int rc = pv_flash_erase_sector(&sec);
        if (rc || sec.index == last.index)
            return flash_status(rc);
        pv_flash_sector_at(sec.addr + sec.size, &sec);
    }
}

static int options(struct stub *s, uint8_t rdp, uint32_t nwrp, int final_last)
{
    if (rdp == PV_RDP_LEVEL2) {
        if (!final_last)
            return PV_ST_ORDER;
        if (!s->verified)
            return PV_ST_NOT_VERIFIED;
        s->reset_after = 1; /* Level 2 takes effect at the reset */
    }
    return flash_status(pv_flash_options_write(rdp, nwrp));
}

int stub_exec(struct stub *s, const uint8_t *pt, size_t len, uint8_t flags, uint8_t *out,
              size_t *out_len, uint8_t *index, uint32_t *detail)
{
    size_t off = 0, olen = 0;
    for (*index = 0; off < len; ++*index) {
        const uint8_t *c = pt + off, *d = c + PV_CMD_HDR;
        if (len - off < PV_CMD_HDR)
            return PV_ST_CMD;
        uint32_t op = c[PV_CMD_OP], n = pv_ld16(c + PV_CMD_N), a = pv_ld32(c + PV_CMD_A),
                 b = pv_ld32(c + PV_CMD_B);
        if (n > len - off - PV_CMD_HDR || op == 0 || op > PV_OP_RESET ||
            (data_len[op] != ANY_LEN && n != data_len[op]))
            return PV_ST_CMD;
        off += PV_CMD_HDR + n;
        /* RDP Level 2 and reset must be the last command of the final frame. */
        int final_last = off == len && (flags & PV_FLAG_FINAL);
        if (s->reset_after)
            return PV_ST_ORDER;
        *detail = a;
        if (op >= PV_OP_ERASE && op <= PV_OP_KEYSLOT) {
            if (!allowed(s, a, op == PV_OP_WRITE || op == PV_OP_KEYSLOT ? n : b))
                return PV_ST_REGION;
            if (op != PV_OP_VERIFY)
                s->verified = 0;
        }
        int st = PV_ST_OK;
        switch (op) {
        case PV_OP_INFO:
            if (olen + PV_ID_LEN > STUB_REPLY_DATA)
                return PV_ST_CMD;
            memcpy(out + olen, s->id, PV_ID_LEN);
            olen += PV_ID_LEN;
            break;
        case PV_OP_ERASE:
            st = b ? erase(a, b, detail) : PV_ST_CMD;
            break;
        case PV_OP_WRITE:
            st = (a | n) & 3u ? PV_ST_ALIGN : flash_status(pv_flash_program(a, d, n));
            break;
        case PV_OP_VERIFY: {
            uint8_t h[32];
            if (olen + sizeof h > STUB_REPLY_DATA)
                return PV_ST_CMD;
            pv_sha256(h, stub_mem(a), b);
            s->verified = (uint8_t)pv_ct_equal(h, d, sizeof h);
            if (!s->verified) {
                memcpy(out + olen, h, sizeof h); /* what is really there */
                olen += sizeof h;
                st = PV_ST_VERIFY;
            }
            break;
        }
        case PV_OP_KEYSLOT:
            /* Encoded by the trusted side (lib/keyslot); programmed only if it names this chip's
             * UID as the stub read it itself. */
            st = memcmp(d + PV_KEYSLOT_UID_OFF, s->id + PV_ID_UID, 12)
                     ? PV_ST_KEYSLOT
                     : flash_status(pv_flash_program(a, d, n));
            break;
        case PV_OP_OPTIONS:
            st = options(s, c[PV_CMD_ARG], a, final_last);
            break;
        default: /* PV_OP_RESET */
            if (!final_last)
                return PV_ST_ORDER;
            s->reset_after = 1;
            break;
        }
        *out_len = olen;
        if (st)
            return st;
    }
    return PV_ST_OK;
}
