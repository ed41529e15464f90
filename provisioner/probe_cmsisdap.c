/* Probe backend for CMSIS-DAP v2 probes: the Cortex-M debug logic a probe's host must do itself
 * (no GDB server in between), on the ADIv5 debug port of cmsisdap_adiv5.c and the DAP packets of
 * cmsisdap_packets.c (cmsisdap.h says which file does what).
 *
 * Transport: "usb" / "usb:<serial>" (dap_transport_usb.c, libusb bulk endpoints) or
 * "tcp:<host>:<port>" (dap_transport_tcp.c, the sim's --dap-port). docs/probes.md has the rest.
 *
 * The SCS debug registers (DHCSR, DCRSR, DCRDR, DEMCR) are reached through the banked data
 * registers BD0-BD3 with TAR at 0xE000EDF0; reset-halt = DEMCR.VC_CORERESET + AIRCR.SYSRESETREQ
 * (DAP_ResetTarget as fallback). Register writes and run control are posted like memory writes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmsisdap.h"

/* ---- core debug registers (through BD0-BD3 with TAR at DHCSR) ---- */

static int q_scs(pv_probe *p)
{
    int rc = adi_csw(p, 2u);
    return rc ? rc : adi_tar(p, SCS_DHCSR);
}

static int regsel(enum pv_probe_reg r)
{
    if ((unsigned)r <= PV_REG_PSP)
        return (int)r; /* R0-R12, SP, LR, PC (DebugReturnAddress), xPSR, MSP, PSP */
    if (r == PV_REG_PRIMASK || r == PV_REG_CONTROL)
        return REGSEL_SPEC;
    return -1;
}

static int read_regsel(pv_probe *p, unsigned sel, uint32_t *val)
{
    int rc = q_scs(p);
    if (!rc)
        rc = adi_ap_write(p, BD_DCRSR, sel);
    if (!rc)
        rc = adi_ap_read(p, BD_DHCSR, NULL, S_HALT | S_REGRDY, S_HALT | S_REGRDY);
    if (!rc)
        rc = adi_ap_read(p, BD_DCRDR, val, 0, 0);
    return rc ? rc : dap_drain(p);
}

static int cmsisdap_read_reg(pv_probe *p, enum pv_probe_reg r, uint32_t *val)
{
    int sel = regsel(r);
    if (sel < 0)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "cmsis-dap: no register %d", (int)r);
    p->now = (struct ctx){.op = OP_REG_READ, .reg = (uint8_t)r};
    uint32_t v = 0;
    int rc = read_regsel(p, (unsigned)sel, &v);
    if (rc)
        return rc;
    if (r == PV_REG_PRIMASK)
        v &= 1u;
    else if (r == PV_REG_CONTROL)
        v = (v >> 24) & 7u;
    *val = v;
    return PV_PROBE_OK;
}

static int cmsisdap_write_reg(pv_probe *p, enum pv_probe_reg r, uint32_t val)
{
    int sel = regsel(r);
    if (sel < 0)
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "cmsis-dap: no register %d", (int)r);
    p->now = (struct ctx){.op = OP_REG_WRITE, .reg = (uint8_t)r};
    int rc;
    if (sel == REGSEL_SPEC) { /* one word holds four registers: read, modify, write */
        uint32_t v = 0;
        if ((rc = read_regsel(p, REGSEL_SPEC, &v)) != 0)
            return rc;
        if (r == PV_REG_PRIMASK)
            val = (v & ~0xFFu) | (val & 1u);
        else
            val = (v & 0x00FFFFFFu) | (val & 7u) << 24;
        p->now = (struct ctx){.op = OP_REG_WRITE, .reg = (uint8_t)r};
    }
    rc = q_scs(p);
    if (!rc)
        rc = adi_ap_write(p, BD_DCRDR, val);
    if (!rc)
        rc = adi_ap_write(p, BD_DCRSR, (unsigned)sel | DCRSR_WRITE);
    if (!rc) /* the transfer must be done before the next one: checked when the answer comes */
        rc = adi_ap_read(p, BD_DHCSR, NULL, S_HALT | S_REGRDY, S_HALT | S_REGRDY);
    return rc;
}

/* ---- run control ---- */

static int read_dhcsr(pv_probe *p, uint32_t *v)
{
    int rc = q_scs(p);
    if (!rc)
        rc = adi_ap_read(p, BD_DHCSR, v, 0, 0);
    return rc ? rc : dap_drain(p);
}

static int cmsisdap_flush(pv_probe *p)
{
    return dap_drain(p);
}

/* Polls DHCSR until `want` bits are set, at most ms; S_RESET_ST (cleared by reading) counts once
 * seen. *seen ORs every value read. */
static int poll_dhcsr(pv_probe *p, uint32_t want, int ms, uint32_t *last, uint32_t *seen)
{
    uint64_t end = pv_probe_now_ms() + (uint64_t)(ms > 0 ? ms : p->timeout_ms);
    unsigned backoff = 0;
    uint32_t acc = seen ? *seen : 0;
    for (;;) {
        uint32_t v = 0;
        int rc = read_dhcsr(p, &v);
        if (rc)
            return rc;
        *last = v;
        acc |= v;
        if (seen)
            *seen = acc;
        if (((v | (acc & S_RESET_ST)) & want) == want)
            return PV_PROBE_OK;
        if (v & S_LOCKUP)
            return fail(p, PV_PROBE_ERR_TARGET,
                        "cmsis-dap: the core locked up (a fault in a fault handler); DHCSR "
                        "0x%08x",
                        (unsigned)v);
        if (pv_probe_now_ms() >= end)
            return PV_PROBE_ERR_TIMEOUT;
        dap_sleep_ms(backoff);
        backoff = backoff * 2 + 1 < 10 ? backoff * 2 + 1 : 10; /* 0, 1, 3, 7, 10 ms */
    }
}

static int cmsisdap_halt(pv_probe *p)
{
    p->now = (struct ctx){.op = OP_RUN};
    int rc = q_scs(p);
    if (!rc)
        rc = adi_ap_write(p, BD_DHCSR, DBGKEY | C_HALT | C_DEBUGEN);
    if (rc)
        return rc;
    uint32_t v = 0;
    rc = poll_dhcsr(p, S_HALT, p->timeout_ms, &v, NULL);
    if (rc == PV_PROBE_ERR_TIMEOUT)
        return fail(p, rc, "cmsis-dap: the core did not halt within %d ms (DHCSR 0x%08x)",
                    p->timeout_ms, (unsigned)v);
    if (rc == PV_PROBE_ERR_TARGET) { /* locked up: the halt request still holds it */
        uint32_t w = 0;
        if (read_dhcsr(p, &w) == 0 && (w & S_HALT))
            return PV_PROBE_OK;
    }
    return rc;
}

static int cmsisdap_resume(pv_probe *p, const uint32_t *pc)
{
    int rc = PV_PROBE_OK;
    if (pc)
        rc = cmsisdap_write_reg(p, PV_REG_PC, *pc);
    p->now = (struct ctx){.op = OP_RUN};
    if (!rc)
        rc = q_scs(p);
    if (!rc)
        rc = adi_ap_write(p, BD_DHCSR, DBGKEY | C_DEBUGEN);
    return rc ? rc : dap_q_close(p); /* goes out now; its answer is checked later */
}

static int cmsisdap_wait_halt(pv_probe *p, int timeout_ms)
{
    int rc = dap_drain(p);
    if (rc)
        return rc;
    p->now = (struct ctx){.op = OP_RUN};
    uint32_t v = 0;
    rc = poll_dhcsr(p, S_HALT, timeout_ms > 0 ? timeout_ms : p->timeout_ms, &v, NULL);
    if (rc == PV_PROBE_ERR_TIMEOUT)
        return fail(p, rc, "cmsis-dap: the core did not halt within %d ms",
                    timeout_ms > 0 ? timeout_ms : p->timeout_ms);
    if (rc == PV_PROBE_ERR_TARGET) {
        char why[sizeof p->err];
        memcpy(why, p->err, sizeof why);
        cmsisdap_halt(p); /* keep it halted, as a GDB server reports a lockup */
        memcpy(p->err, why, sizeof why);
    }
    return rc;
}

/* System reset with the core caught at its reset vector. */
static int reset(pv_probe *p, bool halt)
{
    int rc = dap_drain(p);
    if (rc)
        return rc;
    p->now = (struct ctx){.op = OP_RESET};
    uint32_t demcr = 0, v = 0;
    if ((rc = q_scs(p)) != 0 || (rc = adi_ap_read(p, BD_DEMCR, &demcr, 0, 0)) != 0 ||
        (rc = dap_drain(p)) != 0)
        return rc;
    uint32_t catch = halt ? demcr | VC_CORERESET : demcr & ~VC_CORERESET;
    if ((rc = adi_ap_write(p, BD_DEMCR, catch)) != 0 ||
        (rc = adi_ap_read(p, BD_DHCSR, NULL, 0, 0)) != 0 || /* reading clears S_RESET_ST */
        (rc = adi_csw(p, 2u)) != 0 || (rc = adi_tar(p, SCS_AIRCR)) != 0 ||
        (rc = adi_ap_write(p, AP_DRW, 0x05FA0004u)) != 0) /* VECTKEY | SYSRESETREQ */
        return rc;
    rc = dap_drain(p);
    adi_forget(p);
    if (rc == PV_PROBE_ERR_DEAD || p->broken)
        return rc;
    /* Some parts drop the AIRCR write's answer as the reset hits: only what follows counts. */
    uint32_t seen = 0;
    rc = poll_dhcsr(p, halt ? S_HALT | S_RESET_ST : S_RESET_ST, p->timeout_ms / 2, &v, &seen);
    if (rc == PV_PROBE_ERR_TIMEOUT && !(seen & S_RESET_ST)) {
        /* SYSRESETREQ did not reset it: the probe's reset line instead */
        static const uint8_t rst[] = {DAP_ID_RESET_TARGET};
        size_t n = 0;
        if ((rc = dap_command(p, rst, 1, &n)) != 0)
            return rc;
        rc = poll_dhcsr(p, halt ? S_HALT | S_RESET_ST : S_RESET_ST, p->timeout_ms / 2, &v, &seen);
    } else if (rc == PV_PROBE_ERR_TIMEOUT && halt) {
        rc = poll_dhcsr(p, S_HALT, p->timeout_ms / 2, &v, &seen);
    }
    if (rc == PV_PROBE_ERR_TIMEOUT)
        return fail(p, rc, "cmsis-dap: the core did not %s after reset (DHCSR 0x%08x)",
                    halt ? "halt" : "restart", (unsigned)v);
    if (rc)
        return rc;
    p->now = (struct ctx){.op = OP_RESET};
    if (halt && !(demcr & VC_CORERESET)) /* no vector catch left behind */
        return adi_ap_write(p, BD_DEMCR, demcr);
    return PV_PROBE_OK;
}

static int cmsisdap_reset_halt(pv_probe *p)
{
    return reset(p, true);
}

static int cmsisdap_monitor(pv_probe *p, const char *cmd, char *out, size_t out_len)
{
    if (out && out_len)
        out[0] = 0;
    if (strcmp(cmd, "reset halt") == 0)
        return reset(p, true);
    if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "reset run") == 0)
        return reset(p, false);
    if (strcmp(cmd, "halt") == 0)
        return cmsisdap_halt(p);
    if (strcmp(cmd, "info") == 0) {
        if (out && out_len)
            snprintf(out, out_len, "%s\n", p->desc);
        return PV_PROBE_OK;
    }
    return fail(p, PV_PROBE_ERR_UNSUPPORTED,
                "cmsis-dap: no monitor command '%s' (there are: info, halt, reset halt, reset)",
                cmd);
}

static void cmsisdap_stats(pv_probe *p, struct pv_probe_stats *st)
{
    *st = p->t->st;
}

static const char *cmsisdap_error(pv_probe *p)
{
    return p->err;
}

static void cmsisdap_disconnect(pv_probe *p)
{
    if (!p)
        return;
    if (p->t) {
        if (!p->broken) {
            dap_drain(p);
            static const uint8_t disc[] = {DAP_ID_DISCONNECT};
            size_t n = 0;
            dap_command(p, disc, 1, &n);
        }
        p->t->close(p->t);
    }
    free(p->flight);
    free(p->slots);
    free(p);
}

/* ---- connecting ---- */

static int open_transport(const char *target, int timeout_ms, struct dap_transport **t, char *err,
                          size_t err_len)
{
    if (strncmp(target, "tcp:", 4) == 0)
        return dap_transport_tcp_open(t, target + 4, timeout_ms, err, err_len);
    if (strcmp(target, "usb") == 0)
        return dap_transport_usb_open(t, NULL, timeout_ms, err, err_len);
    if (strncmp(target, "usb:", 4) == 0)
        return dap_transport_usb_open(t, target + 4, timeout_ms, err, err_len);
    snprintf(err, err_len,
             "cmsis-dap: target '%s' is none of: usb (the only probe), usb:<serial>, "
             "tcp:<host>:<port> (DAP over TCP, e.g. the sim's --dap-port)",
             target);
    return PV_PROBE_ERR_IO;
}

static int setup(pv_probe *p)
{
    uint8_t b[8];
    size_t n = 0;
    int rc;
    if ((rc = dap_info(p, 0xFF, b, sizeof b, &n)) != 0)
        return rc;
    if (n != 2 || (b[0] | b[1] << 8) < 64)
        return fail(p, PV_PROBE_ERR_PROTOCOL,
                    "cmsis-dap: the probe reports no usable packet "
                    "size (DAP_Info 0xFF)");
    size_t size = (size_t)(b[0] | b[1] << 8);
    if ((rc = dap_info(p, 0xFE, b, sizeof b, &n)) != 0)
        return rc;
    unsigned count = n == 1 && b[0] ? b[0] : 1;
    if ((rc = dap_info(p, 0xF0, b, sizeof b, &n)) != 0)
        return rc;
    if (n < 1 || !(b[0] & 1u))
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "cmsis-dap: the probe cannot do SWD");
    p->t->packet_size = size;
    p->pkt_size = size < MAX_PKT ? size : MAX_PKT;
    p->window = count < MAX_INFLIGHT ? count : MAX_INFLIGHT;
    char vendor[64], product[80], serial[64], version[32];
    dap_info_str(p, 0x01, vendor, sizeof vendor);
    dap_info_str(p, 0x02, product, sizeof product);
    dap_info_str(p, 0x03, serial, sizeof serial);
    dap_info_str(p, 0x04, version, sizeof version);
    snprintf(p->desc, sizeof p->desc, "%s %s, serial %s, CMSIS-DAP %s, packets %zu x %u over %s",
             vendor, product, serial, version, size, count, p->t->name);
    if (!(p->flight = calloc(p->window, sizeof *p->flight)))
        return fail(p, PV_PROBE_ERR_IO, "cmsis-dap: out of memory");

    static const uint8_t clock[] = {DAP_ID_SWJ_CLOCK, 0x00, 0x12, 0x7A, 0x00};      /* 8 MHz */
    static const uint8_t xcfg[] = {DAP_ID_TRANSFER_CONFIGURE, 0, 0x80, 0x00, 0, 0}; /* WAIT x128 */
    static const uint8_t swdcfg[] = {DAP_ID_SWD_CONFIGURE, 0x00}; /* 1 turnaround, no data phase */
    static const uint8_t conn[] = {DAP_ID_CONNECT, 1};            /* SWD */
    if ((rc = dap_command_ok(p, clock, sizeof clock, "the SWD clock")) != 0 ||
        (rc = dap_command_ok(p, xcfg, sizeof xcfg, "DAP_TransferConfigure")) != 0 ||
        (rc = dap_command_ok(p, swdcfg, sizeof swdcfg, "DAP_SWD_Configure")) != 0 ||
        (rc = dap_command(p, conn, sizeof conn, &n)) != 0)
        return rc;
    if (dap_parse_status(p->rx, n, 1))
        return fail(p, PV_PROBE_ERR_UNSUPPORTED, "cmsis-dap: the probe refused to connect in SWD");
    uint32_t dpidr = 0, idr = 0, dhcsr = 0;
    if ((rc = adi_swd_attach(p, &dpidr)) != 0)
        return rc;
    if ((rc = adi_power_up(p)) != 0)
        return rc;
    p->now = (struct ctx){.op = OP_SETUP};
    if ((rc = adi_ap_read(p, AP_IDR, &idr, 0, 0)) != 0 || (rc = dap_drain(p)) != 0)
        return rc;
    /* a MEM-AP (class 0b1000) on AHB (type 1: AHB3, 8: AHB5) */
    if (((idr >> 13) & 0xFu) != 8u || ((idr & 0xFu) != 1u && (idr & 0xFu) != 8u))
        return fail(p, PV_PROBE_ERR_UNSUPPORTED,
                    "cmsis-dap: AP 0 is not an AHB-AP (IDR 0x%08x, DPIDR 0x%08x)", (unsigned)idr,
                    (unsigned)dpidr);
    if ((rc = read_dhcsr(p, &dhcsr)) != 0)
        return rc;
    if (!(dhcsr & C_DEBUGEN)) { /* enable halting debug without changing the run state */
        p->now = (struct ctx){.op = OP_SETUP};
        if ((rc = adi_ap_write(p, BD_DHCSR, DBGKEY | C_DEBUGEN)) != 0 || (rc = dap_drain(p)) != 0)
            return rc;
    }
    size_t dl = strlen(p->desc);
    snprintf(p->desc + dl, sizeof p->desc - dl, "; DPIDR 0x%08x, AHB-AP IDR 0x%08x",
             (unsigned)dpidr, (unsigned)idr);
    return PV_PROBE_OK;
}

static int cmsisdap_connect(pv_probe **out, const char *target, int timeout_ms, char *err,
                            size_t err_len)
{
    *out = NULL;
    pv_probe *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, err_len, "cmsis-dap: out of memory");
        return PV_PROBE_ERR_IO;
    }
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    p->pkt_size = 64;
    p->window = 1;
    int rc = open_transport(target, p->timeout_ms, &p->t, err, err_len);
    if (rc) {
        free(p);
        return rc;
    }
    rc = setup(p);
    if (rc) {
        snprintf(err, err_len, "%s", p->err);
        p->broken = true; /* no goodbye on a failed connect */
        cmsisdap_disconnect(p);
        return rc;
    }
    *out = p;
    return PV_PROBE_OK;
}

const struct pv_probe_ops pv_probe_cmsisdap_ops = {
    .name = "cmsis-dap",
    .mem_while_running = true,
    .connect = cmsisdap_connect,
    .halt = cmsisdap_halt,
    .reset_halt = cmsisdap_reset_halt,
    .read_mem = adi_read_mem,
    .write_mem = adi_write_mem,
    .read_reg = cmsisdap_read_reg,
    .write_reg = cmsisdap_write_reg,
    .resume = cmsisdap_resume,
    .wait_halt = cmsisdap_wait_halt,
    .flush = cmsisdap_flush,
    .monitor = cmsisdap_monitor,
    .stats = cmsisdap_stats,
    .error = cmsisdap_error,
    .disconnect = cmsisdap_disconnect,
};
