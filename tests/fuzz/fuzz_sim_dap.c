/* Fuzzing the sim's CMSIS-DAP server (sim/cmsis_dap_server.c, with the SWD side of
 * sim/adiv5_dap.c) against a real chip, fed command packets as a host sends them. The input is a
 * list of packets, each a two-byte length (little endian, the low 10 bits count: at most the
 * server's packet size) and that many bytes; every response must fit the packet size the server
 * advertises (DAP_Info 0xFF). DAP_TransferConfigure's WAIT and match retry counts are cut to 15:
 * up to 65535 retries of up to 255 transfers per packet made single inputs take seconds, two
 * thirds of the campaign's time went there, and the retry loops do the same with 15. The chip is
 * put back to a blank one before each input (fuzz_sim_chip.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/cmsis_dap_server.h"
#include "fuzz_sim_chip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chip_t *c = fuzz_chip();
    static struct dap_server d;
    daps_init(&d, c);
    /* Exactly the advertised size, so a response that does not fit is caught. */
    static uint8_t *resp;
    if (!resp && !(resp = malloc(DAPS_PACKET_SIZE)))
        abort();
    size_t i = 0;
    while (i + 2 <= size) {
        size_t n = (size_t)(data[i] | data[i + 1] << 8) & 0x3FFu;
        i += 2;
        if (n > size - i)
            n = size - i;
        if (n == 0 || n > DAPS_PACKET_SIZE)
            continue; /* the framing refuses these before the command layer */
        /* An exact-size copy, so a read past the command is caught too. */
        uint8_t *cmd = malloc(n);
        if (!cmd)
            abort();
        memcpy(cmd, data + i, n);
        i += n;
        if (cmd[0] == 0x04 && n >= 6) /* DAP_TransferConfigure: idle, wait retry, match retry */
            for (size_t k = 2; k < 6; k += 2)
                if ((cmd[k] | cmd[k + 1] << 8) > 15)
                    cmd[k] = 15, cmd[k + 1] = 0;
        size_t r = daps_execute(&d, cmd, n, resp);
        free(cmd);
        if (r > DAPS_PACKET_SIZE)
            abort();
    }
    return 0;
}
