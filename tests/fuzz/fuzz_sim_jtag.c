/* Fuzzing the sim's JTAG front end (sim/remote_bitbang.c driving sim/jtag_tap.c and the JTAG side
 * of sim/adiv5_dap.c) against a real chip, fed remote_bitbang characters as OpenOCD sends them.
 * Random characters rarely make a whole scan, so most records are scans the harness spells out in
 * those characters (TCK low with TMS/TDI, TCK high, 'R' to sample TDO, as OpenOCD 0.12 does); the
 * first byte of each record says which:
 *   t % 4 == 0  raw characters: one length byte, then the bytes as they are;
 *   t % 4 == 1  an IR scan of the 9-bit chain (boundary scan 5 bits, JTAG-DP 4 bits) with the
 *               value of the next two bytes, from Run-Test/Idle back to it;
 *   t % 4 == 2  a DR scan of 36 bits (a DPACC/APACC with the boundary-scan TAP in BYPASS) or, when
 *               t & 4, 32 bits, with the value of the next five bytes;
 *   t % 4 == 3  five TMS=1 clocks and one TMS=0 (Test-Logic-Reset, then Idle), or when t & 4 the
 *               reset lines ('r'..'u', from t / 8).
 * The chip is put back to a blank one before each input (fuzz_sim_chip.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/remote_bitbang.h"
#include "fuzz_sim_chip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct spell {
    uint8_t buf[512];
    size_t n;
};

/* One TCK cycle with these TMS/TDI levels; sample TDO first when asked. */
static void clk(struct spell *s, int tms, int tdi, int sample)
{
    if (s->n + 3 > sizeof s->buf)
        return;
    if (sample)
        s->buf[s->n++] = 'R';
    s->buf[s->n++] = (uint8_t)('0' + (tms << 1 | tdi));
    s->buf[s->n++] = (uint8_t)('4' + (tms << 1 | tdi));
}

/* From Run-Test/Idle: Select-DR (Select-IR), Capture, Shift `bits` bits of v (the last with
 * TMS=1: Exit1), Update, back to Idle. */
static void scan(struct spell *s, int ir, uint64_t v, unsigned bits)
{
    clk(s, 1, 0, 0);
    if (ir)
        clk(s, 1, 0, 0);
    clk(s, 0, 0, 0);
    clk(s, 0, 0, 0);
    for (unsigned b = 0; b < bits; b++)
        clk(s, b + 1 == bits, (int)((v >> b) & 1u), 1);
    clk(s, 1, 0, 0);
    clk(s, 0, 0, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chip_t *c = fuzz_chip();
    static struct rbb r;
    rbb_init(&r, c);
    static uint8_t out[512];
    static struct spell s;
    size_t i = 0;
    bool quit = false;
    while (i < size && !quit) {
        uint8_t t = data[i++];
        s.n = 0;
        switch (t % 4) {
        case 0: {
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            memcpy(s.buf, data + i, n);
            s.n = n;
            i += n;
            break;
        }
        case 1:
        case 2: {
            size_t k = t % 4 == 1 ? 2 : 5;
            uint64_t v = 0;
            for (size_t b = 0; b < k && i < size; b++)
                v |= (uint64_t)data[i++] << (8 * b);
            if (t % 4 == 1)
                scan(&s, 1, v, 9);
            else
                scan(&s, 0, v, t & 4 ? 32 : 36);
            break;
        }
        default:
            if (t & 4) {
                s.buf[s.n++] = (uint8_t)('r' + (t / 8) % 4);
            } else {
                for (int k = 0; k < 5; k++)
                    clk(&s, 1, 0, 0);
                clk(&s, 0, 0, 0);
            }
            break;
        }
        size_t nout = rbb_process(&r, s.buf, s.n, out, &quit);
        if (nout > s.n)
            abort();
        for (size_t k = 0; k < nout; k++)
            if (out[k] != '0' && out[k] != '1')
                abort();
    }
    return 0;
}
