/* Fuzzing the station's CMSIS-DAP response parser (provisioner/cmsisdap_reply.c) on what a probe
 * (or whoever answers in its place) sends. The first four bytes describe the request being
 * answered: DAP_Transfer or DAP_TransferBlock, how many transfers, how many of them read a word
 * (which sets the response length the station expects); the rest is the response. The result must
 * stay inside the response and agree with its header; the same bytes are also read as DAP_Info
 * and status answers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../provisioner/cmsisdap_reply.h"
#include "../provisioner/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    int block = data[0] & 1;
    unsigned count = block ? (unsigned)(data[1] | data[2] << 8) : data[1];
    unsigned reads = block ? (data[0] & 2 ? count : 0) : (data[3] <= count ? data[3] : count);
    size_t hdr = block ? 4 : 3;
    struct dap_xfer_expect x = {.cmd = block ? DAP_ID_TRANSFER_BLOCK : DAP_ID_TRANSFER,
                                .count = count,
                                .resp_len = hdr + 4u * reads};
    const uint8_t *r = data + 4;
    size_t n = size - 4;
    /* A copy of exactly n bytes, so a read past the response is caught. */
    uint8_t *resp = malloc(n ? n : 1);
    if (!resp)
        return 0;
    memcpy(resp, r, n);
    struct dap_xfer_result res;
    dap_parse_transfer(&x, resp, n, &res);
    if (res.code == PV_PROBE_OK) {
        if (n != x.resp_len || res.data != resp + hdr || res.data_len != 4u * reads ||
            resp[0] != x.cmd || resp[hdr - 1] != DAP_ACK_OK)
            abort();
        volatile uint8_t last = res.data_len ? res.data[res.data_len - 1] : 0;
        (void)last;
    } else {
        if (res.code < PV_PROBE_ERR_DEAD || res.code > PV_PROBE_ERR_IO || res.data)
            abort();
        if (count ? res.at >= count : res.at != 0)
            abort();
        if (!res.why && !dap_ack_text(res.ack))
            abort();
    }
    const uint8_t *val;
    size_t len;
    if (dap_parse_info(resp, n, &val, &len) == 0) {
        if (val < resp || val + len > resp + n)
            abort();
        volatile uint8_t last = len ? val[len - 1] : 0;
        (void)last;
    }
    if (dap_parse_status(resp, n, data[3]) == 0 && (n < 2 || resp[1] != data[3]))
        abort();
    if (dap_parse_echo(data[2], resp, n) == 0 && (n < 1 || resp[0] != data[2]))
        abort();
    free(resp);
    return 0;
}
