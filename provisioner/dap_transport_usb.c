/* CMSIS-DAP v2 probes on USB (libusb-1.0): the probe's vendor-class interface whose name contains
 * "CMSIS-DAP", with a bulk OUT endpoint for commands followed by a bulk IN endpoint for responses
 * (a third, SWO, endpoint is ignored). The probe is picked by its USB serial number; without one,
 * there must be exactly one. Thin on purpose: everything else is the command layer's. */
#include <libusb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dap_transport.h"

#define MAX_CANDIDATES 16

struct usb_transport {
    struct dap_transport t; /* first: the command layer holds a pointer to it */
    libusb_context *ctx;
    libusb_device_handle *h;
    int iface;
    uint8_t ep_out, ep_in;
    uint16_t in_max; /* wMaxPacketSize of the IN endpoint */
    int timeout_ms;
    bool sent;
    uint8_t buf[65536];
};

__attribute__((format(printf, 3, 4))) static int fail(struct usb_transport *x, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->t.err, sizeof x->t.err, fmt, ap);
    va_end(ap);
    return code;
}

static int usb_code(int e)
{
    if (e == LIBUSB_ERROR_TIMEOUT)
        return PV_PROBE_ERR_TIMEOUT;
    return PV_PROBE_ERR_IO;
}

static int usb_send(struct dap_transport *t, const uint8_t *pkt, size_t len)
{
    struct usb_transport *x = (struct usb_transport *)t;
    int done = 0;
    int e = libusb_bulk_transfer(x->h, x->ep_out, (unsigned char *)(uintptr_t)pkt, (int)len, &done,
                                 (unsigned)x->timeout_ms);
    if (e || done != (int)len)
        return fail(x, usb_code(e), "cmsis-dap usb: sending a command failed: %s",
                    e ? libusb_strerror((enum libusb_error)e) : "short write");
    x->sent = true;
    x->t.st.packets++;
    x->t.st.bytes_out += len;
    return PV_PROBE_OK;
}

static int usb_recv(struct dap_transport *t, uint8_t *buf, size_t cap, size_t *len, int timeout_ms)
{
    struct usb_transport *x = (struct usb_transport *)t;
    /* Ask for the probe's packet size (a multiple of wMaxPacketSize), so a full-size response
     * completes the transfer even without a zero-length packet. */
    size_t want = t->packet_size ? t->packet_size : x->in_max;
    if (want > sizeof x->buf)
        want = sizeof x->buf;
    if (x->sent) {
        x->t.st.round_trips++;
        x->sent = false;
    }
    int got = 0;
    int e = libusb_bulk_transfer(x->h, x->ep_in, x->buf, (int)want, &got,
                                 (unsigned)(timeout_ms > 0 ? timeout_ms : x->timeout_ms));
    if (e)
        return fail(x, usb_code(e), "cmsis-dap usb: no response: %s",
                    libusb_strerror((enum libusb_error)e));
    if (got <= 0 || (size_t)got > cap)
        return fail(x, PV_PROBE_ERR_PROTOCOL, "cmsis-dap usb: response of %d bytes", got);
    memcpy(buf, x->buf, (size_t)got);
    *len = (size_t)got;
    x->t.st.bytes_in += (uint64_t)got;
    return PV_PROBE_OK;
}

static void usb_close(struct dap_transport *t)
{
    struct usb_transport *x = (struct usb_transport *)t;
    if (!x)
        return;
    if (x->h) {
        libusb_release_interface(x->h, x->iface);
        libusb_close(x->h);
    }
    if (x->ctx)
        libusb_exit(x->ctx);
    free(x);
}

struct candidate {
    libusb_device *dev;
    int iface;
    uint8_t ep_out, ep_in;
    uint16_t in_max;
    char serial[128];
};

/* The CMSIS-DAP v2 interface of an opened device, if it has one. */
static bool find_interface(libusb_device *dev, libusb_device_handle *h, struct candidate *c)
{
    struct libusb_config_descriptor *cfg = NULL;
    if (libusb_get_active_config_descriptor(dev, &cfg) != 0)
        return false;
    bool found = false;
    for (int i = 0; i < cfg->bNumInterfaces && !found; i++) {
        const struct libusb_interface_descriptor *d = &cfg->interface[i].altsetting[0];
        if (d->bInterfaceClass != LIBUSB_CLASS_VENDOR_SPEC || d->bNumEndpoints < 2 ||
            !d->iInterface)
            continue;
        char name[128] = "";
        if (libusb_get_string_descriptor_ascii(h, d->iInterface, (unsigned char *)name,
                                               sizeof name) <= 0 ||
            !strstr(name, "CMSIS-DAP"))
            continue;
        const struct libusb_endpoint_descriptor *o = &d->endpoint[0], *in = &d->endpoint[1];
        if ((o->bmAttributes & 3) != LIBUSB_TRANSFER_TYPE_BULK ||
            (in->bmAttributes & 3) != LIBUSB_TRANSFER_TYPE_BULK ||
            (o->bEndpointAddress & LIBUSB_ENDPOINT_IN) ||
            !(in->bEndpointAddress & LIBUSB_ENDPOINT_IN))
            continue;
        c->iface = d->bInterfaceNumber;
        c->ep_out = o->bEndpointAddress;
        c->ep_in = in->bEndpointAddress;
        c->in_max = in->wMaxPacketSize ? in->wMaxPacketSize : 64;
        found = true;
    }
    libusb_free_config_descriptor(cfg);
    return found;
}

int dap_transport_usb_open(struct dap_transport **out, const char *serial, int timeout_ms,
                           char *err, size_t err_len)
{
    *out = NULL;
    struct usb_transport *x = calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, err_len, "cmsis-dap usb: out of memory");
        return PV_PROBE_ERR_IO;
    }
    x->t = (struct dap_transport){
        .name = "usb", .send = usb_send, .recv = usb_recv, .close = usb_close};
    x->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    int e = libusb_init(&x->ctx);
    if (e) {
        snprintf(err, err_len, "cmsis-dap usb: libusb_init: %s",
                 libusb_strerror((enum libusb_error)e));
        x->ctx = NULL;
        usb_close(&x->t);
        return PV_PROBE_ERR_IO;
    }
    libusb_device **list = NULL;
    ssize_t n = libusb_get_device_list(x->ctx, &list);
    struct candidate cand[MAX_CANDIDATES];
    int nc = 0, denied = 0;
    for (ssize_t i = 0; i < n && nc < MAX_CANDIDATES; i++) {
        libusb_device_handle *h = NULL;
        struct libusb_device_descriptor dd;
        if (libusb_get_device_descriptor(list[i], &dd) != 0)
            continue;
        if (libusb_open(list[i], &h) != 0) {
            denied++; /* cannot read its strings: possibly a probe we may not use */
            continue;
        }
        struct candidate c = {.dev = list[i]};
        if (find_interface(list[i], h, &c)) {
            if (!dd.iSerialNumber ||
                libusb_get_string_descriptor_ascii(h, dd.iSerialNumber, (unsigned char *)c.serial,
                                                   sizeof c.serial) <= 0)
                c.serial[0] = 0;
            if (!serial || !*serial || strcmp(serial, c.serial) == 0)
                cand[nc++] = c;
        }
        libusb_close(h);
    }
    int rc = PV_PROBE_OK;
    if (nc == 0) {
        snprintf(err, err_len,
                 "cmsis-dap usb: no CMSIS-DAP v2 probe%s%s%s found (%zd USB devices looked at%s); "
                 "plug it in, check the serial number, or give access with a udev rule",
                 serial && *serial ? " with serial '" : "", serial && *serial ? serial : "",
                 serial && *serial ? "'" : "", n < 0 ? (ssize_t)0 : n,
                 denied ? ", some could not be opened: permissions?" : "");
        rc = PV_PROBE_ERR_IO;
    } else if (nc > 1) {
        int m = snprintf(err, err_len, "cmsis-dap usb: %d CMSIS-DAP v2 probes found (serials", nc);
        for (int i = 0; i < nc && m > 0 && (size_t)m < err_len; i++)
            m += snprintf(err + m, err_len - (size_t)m, "%s %s", i ? "," : "",
                          cand[i].serial[0] ? cand[i].serial : "(none)");
        if (m > 0 && (size_t)m < err_len)
            snprintf(err + m, err_len - (size_t)m, "): choose one with usb:<serial>");
        rc = PV_PROBE_ERR_IO;
    } else if ((e = libusb_open(cand[0].dev, &x->h)) != 0) {
        snprintf(err, err_len, "cmsis-dap usb: cannot open the probe: %s",
                 libusb_strerror((enum libusb_error)e));
        x->h = NULL;
        rc = PV_PROBE_ERR_IO;
    } else {
        libusb_set_auto_detach_kernel_driver(x->h, 1);
        x->iface = cand[0].iface;
        x->ep_out = cand[0].ep_out;
        x->ep_in = cand[0].ep_in;
        x->in_max = cand[0].in_max;
        if ((e = libusb_claim_interface(x->h, x->iface)) != 0) {
            snprintf(err, err_len,
                     "cmsis-dap usb: cannot claim interface %d of probe %s: %s (another program "
                     "uses it?)",
                     x->iface, cand[0].serial, libusb_strerror((enum libusb_error)e));
            libusb_close(x->h);
            x->h = NULL;
            rc = PV_PROBE_ERR_IO;
        }
    }
    if (list)
        libusb_free_device_list(list, 1);
    if (rc) {
        usb_close(&x->t);
        return rc;
    }
    *out = &x->t;
    return PV_PROBE_OK;
}
