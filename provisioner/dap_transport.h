/* How CMSIS-DAP command packets reach a probe: the USB bulk endpoints of a CMSIS-DAP v2 interface
 * (dap_transport_usb.c) or a TCP stream in the framing of docs/probes.md (dap_transport_tcp.c,
 * what the sim serves). The command layer above (cmsisdap_packets.c) is the same for both. A
 * transport moves whole packets; it may have several commands in flight (up to the probe's
 * DAP_Info packet count), answered in order. Return codes are pv_probe_err values. */
#ifndef PV_DAP_TRANSPORT_H
#define PV_DAP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "probe.h"

struct dap_transport {
    const char *name; /* "tcp" or "usb", for messages */
    /* Sends one command packet. */
    int (*send)(struct dap_transport *t, const uint8_t *pkt, size_t len);
    /* Receives the next response packet (at most cap bytes) within timeout_ms; *len gets its
     * size. */
    int (*recv)(struct dap_transport *t, uint8_t *buf, size_t cap, size_t *len, int timeout_ms);
    void (*close)(struct dap_transport *t);
    /* Traffic, kept by the transport: a round trip is counted when it has to wait for a response
     * after sending something since its last wait. */
    struct pv_probe_stats st;
    size_t packet_size; /* the probe's (DAP_Info 0xFF), set by the command layer; 0 = unknown */
    char err[256];      /* the last error, one line */
};

/* "host:port" of a DAP-over-TCP server (the sim's --dap-port). */
int dap_transport_tcp_open(struct dap_transport **out, const char *hostport, int timeout_ms,
                           char *err, size_t err_len);
/* A CMSIS-DAP v2 probe on USB with this serial number, or the only one when serial is NULL or "".
 */
int dap_transport_usb_open(struct dap_transport **out, const char *serial, int timeout_ms,
                           char *err, size_t err_len);

#endif
