/* Fuzzing the sim's GDB remote serial protocol server (sim/gdb_rsp.c, with sim/gdb_flash.c)
 * against a real chip, fed as a client would feed it. The input is a list of records; the first
 * byte of each says what it is:
 *   t % 4 == 0  a packet: one length byte, then that many payload bytes, framed as $...#cs with
 *               the right checksum (so the fuzzer reaches the commands, not only the framing);
 *   t % 4 == 1  raw bytes: one length byte, then the bytes as they are (framing, bad checksums,
 *               noise, escapes);
 *   t % 4 == 2  one of the out-of-band bytes: Ctrl-C (0x03), '+' or '-';
 *   t % 4 == 3  the CPU runs (t / 4 * 64 + 1 instructions) and a running core's stop is
 *               reported, as the sim's event loop does between reads.
 * The chip is put back to a blank one before each input (fuzz_sim_chip.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/gdb_rsp.h"
#include "fuzz_sim_chip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chip_t *c = fuzz_chip();
    static struct gdb_server g;
    static bool have;
    if (have) { /* the server's buffers are kept; its session state starts over */
        gdb_detach(&g);
        g.last_len = 0;
        g.interrupted = false;
        g.dead_logged = false;
    } else if (gdb_init(&g, c) != 0) {
        abort();
    }
    have = true;
    if (!gdb_attach(&g))
        abort(); /* a blank chip's debug port answers */
    static uint8_t frame[260 + 4];
    size_t i = 0;
    bool open = true;
    while (i < size && open) {
        uint8_t t = data[i++];
        switch (t % 4) {
        case 0:
        case 1: {
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            const uint8_t *p = data + i;
            i += n;
            if (t % 4 == 1) {
                open = gdb_input(&g, p, n);
                break;
            }
            frame[0] = '$';
            memcpy(frame + 1, p, n);
            static const char hex[] = "0123456789abcdef";
            uint8_t sum = rsp_checksum(p, n);
            frame[n + 1] = '#';
            frame[n + 2] = (uint8_t)hex[sum >> 4];
            frame[n + 3] = (uint8_t)hex[sum & 15];
            open = gdb_input(&g, frame, n + 4);
            break;
        }
        case 2: {
            static const uint8_t oob[] = {0x03, '+', '-'};
            open = gdb_input(&g, &oob[(t / 4) % 3], 1);
            break;
        }
        default:
            gdb_check_stop(&g, chip_run(c, (uint64_t)(t / 4) * 64u + 1u));
            break;
        }
        g.srv.out.len = 0; /* the client took the replies */
    }
    return 0;
}
