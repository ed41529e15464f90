/* The CMSIS-DAP response parser (cmsisdap_reply.h): pure functions over bytes a probe sent. */
#include "cmsisdap_reply.h"

#include "probe.h"

const char *dap_ack_text(uint8_t ack)
{
    if (ack & DAP_RESP_PROTO)
        return "SWD protocol error (parity): check the wiring and lower the clock";
    switch (ack & 7u) {
    case DAP_ACK_FAULT:
        return "bus fault (the AHB-AP set STICKYERR: unmapped address, read protection, or a "
               "wrong access size)";
    case DAP_ACK_WAIT:
        return "the target kept answering WAIT (its bus is stalled)";
    case DAP_ACK_NONE:
        return "no answer from the debug port (SWD ACK 0b111): RDP Level 2 has fused it off, "
               "or the target is unpowered or not wired";
    default:
        return "unexpected SWD acknowledge";
    }
}

int dap_ack_code(uint8_t ack)
{
    if (ack & DAP_RESP_PROTO)
        return PV_PROBE_ERR_PROTOCOL;
    switch (ack & 7u) {
    case DAP_ACK_FAULT:
        return PV_PROBE_ERR_TARGET;
    case DAP_ACK_WAIT:
        return PV_PROBE_ERR_TIMEOUT;
    case DAP_ACK_NONE:
        return PV_PROBE_ERR_DEAD;
    default:
        return PV_PROBE_ERR_PROTOCOL;
    }
}

void dap_parse_transfer(const struct dap_xfer_expect *x, const uint8_t *r, size_t n,
                        struct dap_xfer_result *res)
{
    *res = (struct dap_xfer_result){.code = PV_PROBE_ERR_PROTOCOL};
    if (n < 1 || r[0] != x->cmd) {
        res->why = n && r[0] == DAP_ID_UNKNOWN ? "the probe does not know the command"
                                               : "the probe answered another command";
        return;
    }
    int block = x->cmd == DAP_ID_TRANSFER_BLOCK;
    size_t hdr = block ? 4 : 3;
    if (n < hdr) {
        res->why = "short response from the probe";
        return;
    }
    unsigned done = block ? (unsigned)(r[1] | r[2] << 8) : r[1];
    uint8_t ack = r[hdr - 1];
    if (ack != DAP_ACK_OK || done != x->count) {
        res->ack = ack;
        if (block)
            res->word = done;
        else
            res->at = done < x->count ? done : x->count ? x->count - 1 : 0;
        res->code = ack != DAP_ACK_OK ? dap_ack_code(ack) : PV_PROBE_ERR_PROTOCOL;
        res->why = ack == DAP_ACK_OK ? "the probe did fewer transfers than asked" : NULL;
        return;
    }
    if (n != x->resp_len || n < hdr) {
        res->why = "response length does not match the request";
        return;
    }
    res->code = PV_PROBE_OK;
    res->data = r + hdr;
    res->data_len = n - hdr;
}

int dap_parse_echo(uint8_t id, const uint8_t *r, size_t n)
{
    return n >= 1 && r[0] == id ? 0 : -1;
}

int dap_parse_info(const uint8_t *r, size_t n, const uint8_t **val, size_t *len)
{
    size_t l = n >= 2 ? r[1] : 0;
    if (n >= 2 && l > n - 2)
        return -1;
    *val = n >= 2 ? r + 2 : r + n;
    *len = l;
    return 0;
}

int dap_parse_status(const uint8_t *r, size_t n, uint8_t want)
{
    return n >= 2 && r[1] == want ? 0 : -1;
}
