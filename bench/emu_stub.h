/* An emulated station and chip for driving `hsm-bridge serve` at scale: the RAM stub's portable
 * core (stub-loader/stub_{session,transport,commands}.c, rng_mix.c) built for the host, running
 * against a fake STM32F427 per session, with the station's bridge client
 * (provisioner/bridge_client.h) in front. One device is one whole session of four requests:
 *
 *   plan      -> the released stub.bin is written into the fake SRAM at the plan's base, the
 *                parameter block after it (the SRAM plan of lib/host/stub_image.h), and the stub
 *                starts: its identity (random UID, the recipe's part, RDP Level 0) carries the
 *                SHA-256 of the stub bytes as they sit in the fake SRAM, so the digest in
 *                message 1 is the released one only if the bridge sent the released stub;
 *   begin     -> each frame goes into its mailbox slot as it arrives and the stub consumes it;
 *   verified  -> the stub's reply to the verify frame in, the final frame out and consumed;
 *   lock      -> the stub's reply to the final frame, the ack, the stub's reset (the option
 *                bytes load), and the level the fake chip's option bytes then say (method
 *                "emulated").
 *
 * The fake flash has NOR semantics (erase to 0xFF by sector, programming only clears bits) and
 * the STM32F42x dual-bank sector map. After the lock the emulation checks what the bridge really
 * installed: the key slot at the layout's address decodes and names this chip's UID, and the
 * bootloader region holds the expected bootloader (or at least is not erased).
 *
 * The stub's platform functions are global, so the chip in use is per thread: one thread runs
 * one device at a time (each thread its own chip and its own client). */
#ifndef PV_BENCH_EMU_STUB_H
#define PV_BENCH_EMU_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "../provisioner/bridge_client.h"

typedef struct pv_emu_chip pv_emu_chip;

/* A blank chip (flash erased, option bytes at Level 0, no write protection); NULL when out of
 * memory. Every pv_emu_device call starts from a blank chip with a new UID. */
pv_emu_chip *pv_emu_chip_new(void);
void pv_emu_chip_free(pv_emu_chip *c);

/* What the bridge is expected to install (each optional). */
struct pv_emu_expect {
    const uint8_t *boot; /* the bootloader, byte for byte at layout.boot_addr */
    size_t boot_len;
    const uint8_t *app; /* the signed application at layout.app_addr */
    size_t app_len;
};

enum pv_emu_step { PV_EMU_PLAN = 0, PV_EMU_BEGIN, PV_EMU_VERIFIED, PV_EMU_LOCK, PV_EMU_STEPS };

enum pv_emu_rc {
    PV_EMU_LOCKED = 0,  /* all four requests answered 200, the chip checked */
    PV_EMU_REFUSED = 1, /* the bridge refused a step (err: status, error, reason) */
    PV_EMU_TRANSPORT = 2 /* the client failed (status 0: connect, TLS, timeout, bad answer) */,
    PV_EMU_BROKEN = 3 /* the emulation found something wrong (why) */
};

struct pv_emu_result {
    int rc;    /* enum pv_emu_rc */
    int step;  /* the step it stopped at (PV_EMU_STEPS when locked) */
    int ended; /* a session was begun and the bridge ended it (lock, refusal, or fail sent) */
    uint8_t uid[12];
    char uid_hex[25];
    struct pv_bridge_err err;
    struct pv_bridge_outcome out;
    unsigned observed_rdp; /* what the fake option bytes said after the reset */
    unsigned frames;       /* frames the bridge sent (begin + verified) */
    char why[256];
    /* Wall time of each request as the client saw it (round trip over TLS), less the time the
     * emulated stub spent on the frames that arrived during it: the bridge's share. */
    double req_ms[PV_EMU_STEPS];
    double stub_ms;  /* time in the emulated stub (message 1, every frame, the ack) */
    double total_ms; /* the whole device, first request to last answer and checks */
};

/* One device through the bridge behind client (one thread, one chip). 0 when locked and checked;
 * else res->rc says what stopped it. A session begun and then broken by the emulation is reported
 * to the bridge with a fail request (phase "emulation"). */
int pv_emu_device(pv_emu_chip *chip, pv_bridge_client *client, const char *product,
                  const char *batch, const struct pv_emu_expect *ex, struct pv_emu_result *res);

/* Bridge time of a result: the sum of its four requests' shares (ms). */
double pv_emu_bridge_ms(const struct pv_emu_result *res);

#endif
