/* The RAM stub's portable core: the session state machine (stub_session.c), the mailbox and slot
 * transport (stub_transport.c) and the commands (stub_commands.c). Built for the device (the real
 * stub, with stub_main.c and the HALs) and for the host (unit tests with a fake flash and fake
 * platform). docs/protocol.md describes what the host sees. */
#ifndef PV_STUB_H
#define PV_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "noise/noise.h"
#include "proto/proto.h"

enum stub_phase {
    STUB_HANDSHAKE = 0, /* message 1 is out, waiting for message 2 */
    STUB_SESSION = 1,   /* transport frames */
    STUB_ENDED = 2,     /* final frame done, waiting for the host's ack to reset the chip */
    STUB_STOPPED = 3    /* failed: nothing more happens */
};

/* Separate written ranges a session may have (PV_ST_RANGES beyond): an install writes its two
 * images and the key slot, each in consecutive pieces that join into one range. */
#define STUB_WRITTEN_MAX 8

struct stub {
    uint8_t *mbox;
    uint8_t *slot0; /* slot 1 follows it */
    uint32_t slot_size;
    uint32_t done; /* last frame consumed */
    uint8_t phase;
    uint8_t reset_after; /* RESET or RDP Level 2 done: no command may follow */
    uint8_t nregions;
    uint8_t nwritten;
    uint32_t region[PV_MAX_REGIONS][2]; /* address, length */
    /* Flash written in this session (WRITE, KEYSLOT) and not covered by a passing VERIFY since,
     * for the Level 2 gate: start and end of each range (a write continuing a range joins it; a
     * verified range is emptied to [end, end)). */
    uint32_t written[STUB_WRITTEN_MAX][2];
    uint32_t wtop;         /* end of the highest range written in this session: no ERASE below it */
    uint8_t id[PV_ID_LEN]; /* identity block, read once at start */
    struct {
        pv_noise_handshake hs;
        pv_noise_cipherstate tx, rx;
    } k; /* every secret the session holds: one wipe clears them */
};

/* Validates the parameter block at address mbox (r0 at entry), brings up the platform, draws the
 * ephemeral key and writes Noise message 1 as the mailbox reply. Returns PV_ST_OK or the status it
 * failed with (also published in the mailbox, state FAILED). */
int stub_start(struct stub *s, uint32_t mbox);
/* Consumes the next frame if the host has posted it: returns 1 if it did something, 0 when idle
 * (nothing posted, or the session is over). */
int stub_poll(struct stub *s);

/* ---- internal, shared by the three files ---- */
void stub_publish(struct stub *s, int state, int status, uint32_t detail);
/* The complete frame the host posted as number `seq`, or NULL; *status gets PV_ST_SEQ or
 * PV_ST_FRAME when the slot holds something that is neither the frame nor a stale one. */
uint8_t *stub_frame(struct stub *s, uint32_t seq, uint8_t **trailer, int *status);
/* Runs the commands of a decrypted transport frame. Returns a status; *index = commands
 * completed before the one that failed, *detail = error detail (an address). */
int stub_exec(struct stub *s, const uint8_t *pt, size_t len, uint8_t flags, uint8_t *index,
              uint32_t *detail);
/* e = SHA-256(hardware RNG || host entropy): rng_mix.c. */
void stub_mix_entropy(uint8_t e[32], const uint8_t hw[32], const uint8_t host[32]);

#endif
