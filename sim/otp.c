/* The one-time-programmable area and the device information around it (FACTS §5.1): 16 blocks
 * of 32 bytes at 0x1FFF7800, their lock bytes at 0x1FFF7A00 (0xFF unlocked, 0x00 locked), the
 * 96-bit Unique ID at 0x1FFF7A10 and the flash size at 0x1FFF7A22. OTP is programmed like flash
 * (PG, PSIZE, BSY) but each byte only once, and never in a locked block. */
#include "chip_internal.h"

#define OTP_END   (OTP_LOCK_BASE + OTP_BLOCKS)
#define T_PROG_NS 16000u

static uint8_t info_byte(chip_t *c, uint32_t a)
{
    uint32_t off = a - OTP_BASE;
    if (a < OTP_LOCK_BASE)
        return c->otp[off];
    if (a < OTP_END)
        return c->otp_lock[a - OTP_LOCK_BASE];
    if (a >= UID_BASE && a < UID_BASE + 12)
        return c->uid[a - UID_BASE];
    if (a == FLASHSIZE_ADDR)
        return (uint8_t)c->flash_kb;
    if (a == FLASHSIZE_ADDR + 1)
        return (uint8_t)(c->flash_kb >> 8);
    return 0xFF;
}

int info_read(chip_t *c, uint32_t addr, unsigned size, uint32_t *val, enum bus_src src)
{
    if (addr < OTP_END && src == SRC_DBG && rdp_level(c->rdp_in_force) >= 1)
        return CHIP_EBUS; /* OTP is not readable by the debugger under read protection */
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)info_byte(c, addr + i) << (8 * i);
    *val = v;
    return CHIP_OK;
}

static void set_err(chip_t *c, uint32_t bits)
{
    c->fl_sr |= bits;
    if (c->fl_cr & (1u << 25))
        c->fl_sr |= 1u << 1;
}

int info_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val, enum bus_src src)
{
    if (addr < OTP_BASE || addr + size > OTP_END)
        return CHIP_EBUS; /* UID, flash size, reserved: read-only */
    time_sync(c);
    if (c->fop.kind != FOP_NONE)
        flash_poll(c, FLASH_STALL);
    if (c->powered_off)
        return CHIP_OK;
    if ((c->fl_cr & (1u << 31)) || !(c->fl_cr & 1u) || (c->fl_cr & 0x8006u)) {
        set_err(c, 1u << 7); /* PGSERR */
        return src == SRC_DBG ? CHIP_EBUS : CHIP_OK;
    }
    if (size != (1u << ((c->fl_cr >> 8) & 3u))) {
        set_err(c, 1u << 6); /* PGPERR */
        return CHIP_OK;
    }
    if (((addr - OTP_BASE) & 15u) + size > 16u) {
        set_err(c, 1u << 5); /* PGAERR */
        return CHIP_OK;
    }
    bool refuse = !flash_write_allowed(c, src);
    for (unsigned i = 0; i < size; i++) {
        uint32_t a = addr + i;
        if (info_byte(c, a) != 0xFF)
            refuse = true; /* programmed once already */
        if (a < OTP_LOCK_BASE && c->otp_lock[(a - OTP_BASE) / 32] != 0xFF)
            refuse = true; /* block locked */
    }
    if (refuse) {
        set_err(c, 1u << 4); /* WRPERR */
        return CHIP_OK;
    }
    struct flash_op op = {.kind = FOP_PROGRAM, .addr = addr, .size = size};
    for (unsigned i = 0; i < size; i++)
        op.data[i] = (uint8_t)(val >> (8 * i));
    flash_op_start(c, &op, T_PROG_NS);
    return CHIP_OK;
}

void otp_apply(chip_t *c, const struct flash_op *op, bool partial)
{
    for (unsigned i = 0; i < op->size; i++) {
        uint32_t a = op->addr + i;
        uint8_t *p = a < OTP_LOCK_BASE ? &c->otp[a - OTP_BASE] : &c->otp_lock[a - OTP_LOCK_BASE];
        uint8_t want = *p & op->data[i];
        if (partial)
            want = (uint8_t)(*p & (op->data[i] | (uint8_t)cut_rand(c)));
        *p = want;
    }
}
