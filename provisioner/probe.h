/* The debug probe as the station uses it: only what every probe offers (memory reads and writes,
 * halt, reset-halt, resume, core registers, waiting for a halt). A backend fills a const
 * pv_probe_ops; the context it returns is opaque. probe_gdb.c speaks the GDB remote serial
 * protocol (the sim, OpenOCD's GDB server, pyOCD, J-Link's server; replies parsed by gdb_reply.c),
 * probe_openocd.c OpenOCD's Tcl RPC (replies parsed by openocd_reply.c; a spawned OpenOCD run by
 * openocd_process.c), probe_cmsisdap.c CMSIS-DAP v2 over USB or TCP (Cortex-M debug on
 * cmsisdap_adiv5.c and cmsisdap_packets.c; responses parsed by cmsisdap_reply.c). Each parser works
 * on bytes alone, so tests/fuzz/ fuzzes it without a socket.
 *
 * Writes may be queued ("posted") by a backend to save round trips; their errors surface at the
 * next call that needs an answer (a read, wait_halt, flush). Every call is bounded by the timeout
 * given at connect. All functions return PV_PROBE_OK or a negative pv_probe_err; error() then
 * says what happened in one line. */
#ifndef PV_PROBE_H
#define PV_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/stm32f4_map.h"

enum pv_probe_err {
    PV_PROBE_OK = 0,
    PV_PROBE_ERR_IO = -1,          /* cannot connect, or the connection broke */
    PV_PROBE_ERR_TIMEOUT = -2,     /* no answer, or no halt, in time */
    PV_PROBE_ERR_TARGET = -3,      /* the target refused: memory fault, bad register */
    PV_PROBE_ERR_PROTOCOL = -4,    /* malformed or unexpected answer from the probe */
    PV_PROBE_ERR_UNSUPPORTED = -5, /* the probe or server cannot do this */
    PV_PROBE_ERR_DEAD = -6         /* debug port gone (RDP Level 2, chip off) */
};

/* Core registers by name; each backend maps them to its own numbering. */
enum pv_probe_reg {
    PV_REG_R0 = 0, /* R1..R12 follow */
    PV_REG_SP = 13,
    PV_REG_LR = 14,
    PV_REG_PC = 15,
    PV_REG_XPSR = 16,
    PV_REG_MSP = 17,
    PV_REG_PSP = 18,
    PV_REG_PRIMASK = 19,
    PV_REG_CONTROL = 20,
    PV_REG_COUNT = 21
};

/* Traffic, for benchmarks: round trips are the times the station waited for the probe. */
struct pv_probe_stats {
    uint64_t round_trips;
    uint64_t packets; /* requests sent */
    uint64_t bytes_out, bytes_in;
};

typedef struct pv_probe pv_probe; /* a backend's connection, opaque */

/* One range of a batched read (read_many). */
struct pv_probe_read {
    uint32_t addr;
    void *buf;
    size_t len;
};

struct pv_probe_ops {
    const char *name;
    /* Memory reads and writes work while the core runs (so the stub may idle without halting:
     * PV_MBOX_F_SPIN). GDB's all-stop protocol cannot. */
    bool mem_while_running;
    /* target: backend specific ("127.0.0.1:3333" for GDB). timeout_ms bounds every later call. */
    int (*connect)(pv_probe **out, const char *target, int timeout_ms, char *err, size_t err_len);
    int (*halt)(pv_probe *p);
    int (*reset_halt)(pv_probe *p); /* system reset, core halted before its first instruction */
    int (*read_mem)(pv_probe *p, uint32_t addr, void *buf, size_t len);
    int (*write_mem)(pv_probe *p, uint32_t addr, const void *buf, size_t len); /* may be posted */
    int (*read_reg)(pv_probe *p, enum pv_probe_reg r, uint32_t *val);
    int (*write_reg)(pv_probe *p, enum pv_probe_reg r, uint32_t val); /* may be posted */
    /* Let the core run, from *pc if pc is not NULL. Returns without waiting. */
    int (*resume)(pv_probe *p, const uint32_t *pc);
    /* Wait until the core halts (breakpoint, halt request, fault), at most timeout_ms. */
    int (*wait_halt)(pv_probe *p, int timeout_ms);
    /* Complete every posted request and report the first error among them. */
    int (*flush)(pv_probe *p);
    /* Server-specific command (GDB "monitor"); its text output goes to out (may be NULL). */
    int (*monitor)(pv_probe *p, const char *cmd, char *out, size_t out_len);
    void (*stats)(pv_probe *p, struct pv_probe_stats *st);
    const char *(*error)(pv_probe *p); /* the last error, one line */
    void (*disconnect)(pv_probe *p);
    /* Optional (NULL: read_mem for each range): several reads whose requests all go out before
     * the first answer is awaited, one round trip where the protocol allows it. Returns the
     * first failure; the ranges after a failed one may or may not have been read. */
    int (*read_many)(pv_probe *p, const struct pv_probe_read *r, size_t n);
};

/* A connected probe: backend + its context. */
typedef struct pv_probe_link {
    const struct pv_probe_ops *ops;
    pv_probe *p;
} pv_probe_link;

extern const struct pv_probe_ops pv_probe_gdb_ops;      /* probe_gdb.c */
extern const struct pv_probe_ops pv_probe_openocd_ops;  /* probe_openocd.c */
extern const struct pv_probe_ops pv_probe_cmsisdap_ops; /* probe_cmsisdap.c */

static inline int pv_probe_connect(pv_probe_link *l, const struct pv_probe_ops *ops,
                                   const char *target, int timeout_ms, char *err, size_t err_len)
{
    l->ops = ops;
    l->p = NULL;
    return ops->connect(&l->p, target, timeout_ms, err, err_len);
}

static inline void pv_probe_disconnect(pv_probe_link *l)
{
    if (l->p)
        l->ops->disconnect(l->p);
    l->p = NULL;
}

/* The chip's identity as the debugger reads it (STM32F4 addresses). */
struct pv_probe_ident {
    uint32_t cpuid;         /* 0xE000ED00 */
    uint32_t dbgmcu_idcode; /* PV_F4_DBGMCU_IDCODE */
    uint8_t uid[12];        /* PV_F4_UID */
    uint16_t flash_kb;      /* PV_F4_FLASH_SIZE_KB */
    uint8_t rdp;            /* FLASH_OPTCR[15:8] */
};

/* Several reads: in one round trip if the backend has read_many, else one read_mem each. */
static inline int pv_probe_read_many(const pv_probe_link *l, const struct pv_probe_read *r,
                                     size_t n)
{
    if (l->ops->read_many)
        return l->ops->read_many(l->p, r, n);
    for (size_t i = 0; i < n; i++) {
        int rc = l->ops->read_mem(l->p, r[i].addr, r[i].buf, r[i].len);
        if (rc)
            return rc;
    }
    return PV_PROBE_OK;
}

static inline int pv_probe_identify(const pv_probe_link *l, struct pv_probe_ident *id)
{
    uint8_t cpuid[4], idcode[4], fsize[2], optcr[4];
    const struct pv_probe_read r[] = {{0xE000ED00u, cpuid, 4},
                                      {PV_F4_DBGMCU_IDCODE, idcode, 4},
                                      {PV_F4_UID, id->uid, 12},
                                      {PV_F4_FLASH_SIZE_KB, fsize, 2},
                                      {PV_F4_FLASH_OPTCR, optcr, 4}};
    int rc = pv_probe_read_many(l, r, sizeof r / sizeof r[0]);
    if (rc)
        return rc;
    id->cpuid = (uint32_t)cpuid[0] | (uint32_t)cpuid[1] << 8 | (uint32_t)cpuid[2] << 16 |
                (uint32_t)cpuid[3] << 24;
    id->dbgmcu_idcode = (uint32_t)idcode[0] | (uint32_t)idcode[1] << 8 | (uint32_t)idcode[2] << 16 |
                        (uint32_t)idcode[3] << 24;
    id->flash_kb = (uint16_t)(fsize[0] | fsize[1] << 8);
    id->rdp = optcr[1];
    return PV_PROBE_OK;
}

/* Name of an error code. */
static inline const char *pv_probe_strerror(int err)
{
    switch (err) {
    case PV_PROBE_OK:
        return "OK";
    case PV_PROBE_ERR_IO:
        return "connection to the probe failed or broke";
    case PV_PROBE_ERR_TIMEOUT:
        return "the probe did not answer in time";
    case PV_PROBE_ERR_TARGET:
        return "the target refused the access";
    case PV_PROBE_ERR_PROTOCOL:
        return "malformed answer from the probe";
    case PV_PROBE_ERR_UNSUPPORTED:
        return "not supported by this probe";
    case PV_PROBE_ERR_DEAD:
        return "debug port disabled (RDP Level 2) or chip off";
    default:
        return "unknown probe error";
    }
}

#endif
