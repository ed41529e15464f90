/* Just enough Thumb-2 decoding for the run loop: instruction lengths (to count the instructions of
 * a translated block) and the effective address of loads and stores (Unicorn reports a data bus
 * error with the PC of the block start; the instruction that faulted is the one whose address,
 * computed from the registers as they are now, hits the faulting address). */
#include "chip_internal.h"

unsigned thumb_insn_len(uint16_t hw1)
{
    unsigned top = hw1 >> 11;
    return (top == 0x1D || top == 0x1E || top == 0x1F) ? 4 : 2;
}

uint32_t thumb_next_pc(chip_t *c, uint32_t pc)
{
    uint16_t hw;
    return thumb_read16(c, pc, &hw) ? pc + thumb_insn_len(hw) : pc + 2;
}

bool thumb_read16(chip_t *c, uint32_t addr, uint16_t *hw)
{
    uint8_t *p = ram_ptr(c, addr, 2, NULL);
    if (!p)
        return false;
    *hw = (uint16_t)(p[0] | p[1] << 8);
    return true;
}

unsigned thumb_count_insns(chip_t *c, uint32_t addr, uint32_t size)
{
    struct icount_slot *s = &c->icount[((addr >> 1) ^ (addr >> 13)) & (ICOUNT_SLOTS - 1u)];
    if (s->addr == addr && s->size == size && s->count)
        return s->count;
    unsigned n = 0;
    uint32_t p = addr, end = addr + size;
    while (p < end) {
        uint16_t hw;
        if (!thumb_read16(c, p, &hw)) {
            n += (end - p + 1) / 2;
            break;
        }
        p += thumb_insn_len(hw);
        n++;
    }
    if (n == 0)
        n = 1;
    s->addr = addr;
    s->size = (uint16_t)size;
    s->count = (uint16_t)n;
    return n;
}

/* Address range [ea, ea+len) a load/store at pc accesses given registers r[]; false if the
 * instruction is not a memory access. */
static bool mem_access(const uint32_t r[16], uint32_t pc, uint16_t h1, uint16_t h2, bool wide,
                       uint32_t *ea, uint32_t *len)
{
    uint32_t lit = (pc + 4) & ~3u;
    if (!wide) {
        if ((h1 & 0xF800) == 0x4800) { /* LDR literal */
            *ea = lit + (h1 & 0xFFu) * 4;
            *len = 4;
            return true;
        }
        if ((h1 & 0xF000) == 0x5000) { /* register offset */
            static const uint8_t sz[8] = {4, 2, 1, 1, 4, 2, 1, 2};
            *ea = r[(h1 >> 3) & 7] + r[(h1 >> 6) & 7];
            *len = sz[(h1 >> 9) & 7];
            return true;
        }
        if ((h1 & 0xE000) == 0x6000) { /* LDR/STR(B) imm5 */
            bool byte = h1 & 0x1000;
            *ea = r[(h1 >> 3) & 7] + ((h1 >> 6) & 31u) * (byte ? 1 : 4);
            *len = byte ? 1 : 4;
            return true;
        }
        if ((h1 & 0xF000) == 0x8000) { /* LDRH/STRH imm5 */
            *ea = r[(h1 >> 3) & 7] + ((h1 >> 6) & 31u) * 2;
            *len = 2;
            return true;
        }
        if ((h1 & 0xF000) == 0x9000) { /* SP relative */
            *ea = r[13] + (h1 & 0xFFu) * 4;
            *len = 4;
            return true;
        }
        if ((h1 & 0xFE00) == 0xB400) { /* PUSH */
            uint32_t n = (uint32_t)__builtin_popcount(h1 & 0x1FFu);
            *ea = r[13] - 4 * n;
            *len = 4 * n;
            return true;
        }
        if ((h1 & 0xFE00) == 0xBC00) { /* POP */
            *ea = r[13];
            *len = 4 * (uint32_t)__builtin_popcount(h1 & 0x1FFu);
            return true;
        }
        if ((h1 & 0xF000) == 0xC000) { /* LDM/STM */
            *ea = r[(h1 >> 8) & 7];
            *len = 4 * (uint32_t)__builtin_popcount(h1 & 0xFFu);
            return true;
        }
        return false;
    }
    unsigned rn = h1 & 15u;
    uint32_t base = rn == 15 ? lit : r[rn];
    if ((h1 & 0xFFD0) == 0xE880 || (h1 & 0xFFD0) == 0xE900) { /* LDM/STM IA / DB */
        uint32_t n = 4 * (uint32_t)__builtin_popcount(h2);
        *ea = (h1 & 0xFFD0) == 0xE900 ? base - n : base;
        *len = n;
        return true;
    }
    if ((h1 & 0xFFF0) == 0xE8D0) { /* TBB/TBH/LDREXB/H */
        unsigned op = (h2 >> 4) & 15u;
        if (op == 0)
            *ea = base + r[h2 & 15u], *len = 1;
        else if (op == 1)
            *ea = base + 2 * r[h2 & 15u], *len = 2;
        else
            *ea = base, *len = op == 4 ? 1 : op == 5 ? 2 : 8;
        return true;
    }
    if ((h1 & 0xFFE0) == 0xE840) { /* LDREX/STREX */
        *ea = base + (h2 & 0xFFu) * 4;
        *len = 4;
        return true;
    }
    if ((h1 & 0xFE40) == 0xE840 && (h1 & 0x0120)) { /* LDRD/STRD imm */
        uint32_t off = (h2 & 0xFFu) * 4;
        bool p = h1 & 0x0100, u = h1 & 0x0080;
        *ea = p ? (u ? base + off : base - off) : base;
        *len = 8;
        return true;
    }
    if ((h1 & 0xFE00) == 0xF800) { /* single load/store */
        unsigned size = 1u << ((h1 >> 5) & 3u);
        bool load = h1 & 0x10;
        if (size == 8)
            return false;
        if (load && ((h2 >> 12) & 15u) == 15 && size < 4)
            return false; /* PLD/PLI hints */
        if (rn == 15) {
            uint32_t off = h2 & 0xFFFu;
            *ea = (h1 & 0x80) ? lit + off : lit - off;
        } else if (h1 & 0x80) {
            *ea = base + (h2 & 0xFFFu);
        } else if (h2 & 0x800) {
            uint32_t off = h2 & 0xFFu;
            bool p = h2 & 0x400, u = h2 & 0x200;
            *ea = p ? (u ? base + off : base - off) : base;
        } else {
            *ea = base + (r[h2 & 15u] << ((h2 >> 4) & 3u));
        }
        *len = size;
        return true;
    }
    if ((h1 & 0xFE00) == 0xEC00 || (h1 & 0xFE00) == 0xEE00) {
        if ((h2 & 0x0E00) != 0x0A00 || (h1 & 0xFE00) == 0xEE00)
            return false;              /* not a VFP load/store */
        if ((h1 & 0xFF20) == 0xED00) { /* VLDR/VSTR */
            uint32_t off = (h2 & 0xFFu) * 4;
            *ea = (h1 & 0x80) ? base + off : base - off;
            *len = (h2 & 0x100) ? 8 : 4;
            return true;
        }
        if ((h1 & 0xFE00) == 0xEC00 && (h1 & 0x01A0)) { /* VLDM/VSTM/VPUSH/VPOP */
            uint32_t n = (h2 & 0xFFu) * 4;
            bool p = h1 & 0x0100, u = h1 & 0x0080;
            *ea = (p && !u) ? base - n : base;
            *len = n;
            return true;
        }
    }
    return false;
}

uint32_t thumb_fault_pc(chip_t *c, uint32_t block, uint32_t fault_addr)
{
    static const int regs[16] = {UC_ARM_REG_R0,  UC_ARM_REG_R1,  UC_ARM_REG_R2,  UC_ARM_REG_R3,
                                 UC_ARM_REG_R4,  UC_ARM_REG_R5,  UC_ARM_REG_R6,  UC_ARM_REG_R7,
                                 UC_ARM_REG_R8,  UC_ARM_REG_R9,  UC_ARM_REG_R10, UC_ARM_REG_R11,
                                 UC_ARM_REG_R12, UC_ARM_REG_R13, UC_ARM_REG_R14, UC_ARM_REG_R15};
    uint32_t r[16];
    for (int i = 0; i < 16; i++)
        r[i] = core_reg(c, regs[i]);
    uint32_t pc = block;
    for (int i = 0; i < 512; i++) {
        uint16_t h1, h2 = 0;
        if (!thumb_read16(c, pc, &h1))
            break;
        bool wide = thumb_insn_len(h1) == 4;
        if (wide && !thumb_read16(c, pc + 2, &h2))
            break;
        uint32_t ea, len;
        if (mem_access(r, pc, h1, h2, wide, &ea, &len) && fault_addr - ea < len)
            return pc;
        pc += wide ? 4 : 2;
    }
    return block;
}
