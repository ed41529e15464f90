/* The CMSIS-DAP backend's insides, shared by its files:
 *   cmsisdap_packets.c  DAP_Transfer / DAP_TransferBlock packets queued, in flight and answered
 *                       (responses checked by cmsisdap_reply.c), plain commands, DAP_Info;
 *   cmsisdap_adiv5.c    the ADIv5 debug port: SWD bring-up, DP/AP registers with cached SELECT,
 *                       CSW and TAR, sticky-error recovery, memory through the AHB-AP;
 *   probe_cmsisdap.c    Cortex-M debug on top (core registers, run control, reset), connecting,
 *                       and the pv_probe_ops. */
#ifndef PV_PROVISIONER_CMSISDAP_H
#define PV_PROVISIONER_CMSISDAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cmsisdap_reply.h"
#include "dap_transport.h"
#include "probe.h"
#include "probe_util.h"
#include "proto/proto.h"

#define MAX_PKT      4096u /* largest packet we use, whatever the probe says */
#define MAX_INFLIGHT 8u
#define MAX_REQ      255u /* DAP_Transfer's count is one byte */

/* Transfer request bits. */
#define REQ_AP  0x01u
#define REQ_RNW 0x02u

/* DP registers (A[3:2] << 2) and bits. */
#define DP_DPIDR    0x0u
#define DP_ABORT    0x0u
#define DP_CTRLSTAT 0x4u
#define DP_SELECT   0x8u
#define DP_RDBUFF   0xCu
#define ABORT_CLEAR 0x1Eu /* STKCMPCLR | STKERRCLR | WDERRCLR | ORUNERRCLR */
#define ABORT_DAP   0x01u
#define PWRUP_REQ   0x50000000u
#define PWRUP_ACK   0xA0000000u
/* AHB-AP registers (bank << 4 | A[3:2] << 2). */
#define AP_CSW   0x00u
#define AP_TAR   0x04u
#define AP_DRW   0x0Cu
#define AP_BD0   0x10u
#define AP_IDR   0xFCu
#define CSW_BASE 0xA2000000u /* DbgSwEnable | MasterType debug | HPROT1 (privileged data) */
#define CSW_INC  0x10u
/* Cortex-M debug registers. */
#define SCS_DHCSR    0xE000EDF0u
#define SCS_AIRCR    0xE000ED0Cu
#define BD_DHCSR     (AP_BD0 + 0x0u)
#define BD_DCRSR     (AP_BD0 + 0x4u)
#define BD_DCRDR     (AP_BD0 + 0x8u)
#define BD_DEMCR     (AP_BD0 + 0xCu)
#define DBGKEY       0xA05F0000u
#define C_DEBUGEN    (1u << 0)
#define C_HALT       (1u << 1)
#define S_REGRDY     (1u << 16)
#define S_HALT       (1u << 17)
#define S_LOCKUP     (1u << 19)
#define S_RESET_ST   (1u << 25)
#define DCRSR_WRITE  (1u << 16)
#define VC_CORERESET (1u << 0)
#define REGSEL_SPEC  0x14u /* CONTROL[31:24] FAULTMASK[23:16] BASEPRI[15:8] PRIMASK[7:0] */

/* What a queued request belongs to, for error messages. */
enum op { OP_SETUP, OP_MEM_READ, OP_MEM_WRITE, OP_REG_READ, OP_REG_WRITE, OP_RUN, OP_RESET };

struct ctx {
    uint8_t op;
    uint8_t reg;
    uint32_t addr;
};

/* Where a read's data goes: n words to raw (bytes, little endian) or to word, or checked only. */
struct slot {
    uint8_t *raw;
    uint32_t *word;
    uint32_t n;
    uint32_t mask, want; /* mask != 0: the value must satisfy (v & mask) == want */
    struct ctx ctx;
};

/* A packet being built or in flight. */
struct packet {
    uint8_t buf[MAX_PKT];
    size_t len, resp_len; /* request bytes, expected response bytes on success */
    unsigned nreq;
    size_t slot0, nslots;
    struct ctx ctx[MAX_REQ];
};

struct pv_probe {
    struct dap_transport *t;
    int timeout_ms;
    size_t pkt_size;
    unsigned window;
    struct packet cur;
    struct packet *flight; /* ring of `window` packets */
    unsigned fl_head, fl_n;
    struct slot *slots;
    size_t nslots, slots_cap;
    struct ctx now; /* context of the operation being queued */
    uint8_t rx[MAX_PKT];
    /* first failure among what is in flight */
    int err_code;
    uint8_t err_ack;
    bool broken; /* the transport failed: every call fails */
    /* cached AP state */
    bool sel_ok, csw_ok, tar_ok;
    uint32_t sel, csw, tar;
    uint32_t scratch;
    char desc[400];
    char err[320];
};

/* Formats the message into p->err and returns code. */
#define fail(p, code, ...) pv_probe_errf((p)->err, sizeof(p)->err, (code), __VA_ARGS__)

static inline void dap_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- cmsisdap_packets.c ---- */

/* The transport failed with rc: the link is broken from now on. */
int dap_transport_fail(pv_probe *p, int rc);
/* Starts a packet of command cmd (DAP_Transfer or DAP_TransferBlock) in p->cur. */
void dap_q_open(pv_probe *p, uint8_t cmd);
/* Sends the packet being built, waiting for the oldest in flight when the window is full (after a
 * failure in flight: drops it). */
int dap_q_close(pv_probe *p);
/* Queues one DP/AP transfer. For reads, data goes to *word (may be NULL) and is checked against
 * mask/want when mask != 0. */
int dap_q_xfer(pv_probe *p, uint8_t req, uint32_t wdata, uint32_t *word, uint32_t mask,
               uint32_t want);
/* Queues n word transfers of AP register req (bank selected) as DAP_TransferBlock packets: reads
 * into raw, writes from wraw, little endian. */
int dap_q_block(pv_probe *p, uint8_t req, bool rnw, uint8_t *raw, const uint8_t *wraw, uint32_t n);
/* Waits for the oldest packet in flight and takes its response. */
int dap_receive_one(pv_probe *p);
/* Completes everything queued; returns (and forgets) the first failure, after recovering the DP. */
int dap_drain(pv_probe *p);
/* A plain command (everything queued completed first); its response is in p->rx, *rlen bytes. */
int dap_command(pv_probe *p, const uint8_t *req, size_t len, size_t *rlen);
/* A command whose response is [id, status] with status 0 = OK. */
int dap_command_ok(pv_probe *p, const uint8_t *req, size_t len, const char *what);
/* DAP_Info id: its value into out (at most cap bytes), *n bytes. */
int dap_info(pv_probe *p, uint8_t id, uint8_t *out, size_t cap, size_t *n);
/* DAP_Info id as a string ("" when the probe has none). */
void dap_info_str(pv_probe *p, uint8_t id, char *out, size_t cap);

/* ---- cmsisdap_adiv5.c ---- */

/* Forgets the cached SELECT, CSW and TAR (after a failure or a reset). */
void adi_forget(pv_probe *p);
int adi_dp_write(pv_probe *p, unsigned addr, uint32_t v);
int adi_dp_read(pv_probe *p, unsigned addr, uint32_t *dst);
int adi_ap_write(pv_probe *p, unsigned reg, uint32_t v);
/* AP read into *dst (may be NULL), checked as dap_q_xfer does. */
int adi_ap_read(pv_probe *p, unsigned reg, uint32_t *dst, uint32_t mask, uint32_t want);
/* CSW with auto-increment and these size bits; TAR; both skipped when already so. */
int adi_csw(pv_probe *p, uint32_t size_bits);
int adi_tar(pv_probe *p, uint32_t addr);
/* Clears the DP's sticky flags after a failure with this ack; if the DP stopped answering, tries
 * a line reset once before calling it dead. */
int adi_recover(pv_probe *p, uint8_t ack);
/* Line reset, JTAG-to-SWD switch, line reset, idle; then the DPIDR read the DP insists on. */
int adi_swd_attach(pv_probe *p, uint32_t *dpidr);
/* Powers up the debug and system domains (CTRL/STAT) and waits for their acks. */
int adi_power_up(pv_probe *p);
/* Memory through the AHB-AP: reads answered now, writes posted. */
int adi_read_mem(pv_probe *p, uint32_t addr, void *buf, size_t len);
int adi_write_mem(pv_probe *p, uint32_t addr, const void *buf, size_t len);

#endif
