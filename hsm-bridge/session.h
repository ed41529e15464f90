/* The reference trusted side of a provisioning session with the RAM stub (docs/protocol.md).
 *
 * pv_session (session_trusted.c) is the Noise_NK responder on the OpenSSL provider. It reads the
 * stub's message 1 and checks what the stub reports about itself, answers with message 2 (the
 * flash regions this session may touch), seals command frames and opens the stub's replies.
 * Pure message processing: it never talks to a probe (the station's mailbox relay does
 * that). install_frames.h builds a whole install on it. Every function returns 0
 * or a negative error and writes one line into the object's err. */
#ifndef PV_HSM_BRIDGE_SESSION_H
#define PV_HSM_BRIDGE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/flash.h" /* enum pv_flash_psize */
#include "keyslot/keyslot.h"
#include "noise/noise.h"
#include "proto/proto.h"

/* ---- the stub as the trusted side sees it ---------------------------------------------------- */

/* The first payload, decoded. */
struct pv_stub_identity {
    uint8_t version, rdp;
    uint16_t flash_kb;
    uint32_t idcode; /* DBGMCU_IDCODE: DEV_ID in bits 11:0 */
    uint8_t uid[12];
    uint32_t nwrp;
    uint8_t digest[32]; /* SHA-256 of the stub image the stub measured */
};

/* What the trusted side insists on before it answers (zero / NULL fields are not checked). */
struct pv_session_expect {
    const uint8_t *stub_digest; /* SHA-256 of the released stub.bin */
    uint16_t dev_id;            /* e.g. 0x419 */
    uint16_t flash_kb;
    bool allow_protected; /* default false: a chip whose RDP is not Level 0 is refused */
};

struct pv_region {
    uint32_t addr, len;
};

/* A decoded reply. */
struct pv_reply {
    uint32_t seq; /* the frame it answers */
    int status;   /* PV_ST_* */
    unsigned index;
    uint32_t detail;
};

/* ---- pv_session: the Noise responder and the commands ---------------------------------------- */

struct pv_session {
    pv_noise_handshake hs;
    pv_noise_cipherstate tx, rx;
    uint32_t next_seq; /* number of the next frame this side seals */
    bool established;
    struct pv_stub_identity id;
    char err[256];
};

/* static_priv: the trusted side's X25519 static key (the stub holds its public half). */
int pv_session_init(struct pv_session *s, const uint8_t static_priv[32]);
/* Reads message 1 (body only) and checks the identity (s->id) against ex (NULL: no checks). */
int pv_session_accept(struct pv_session *s, const uint8_t *msg1, size_t msg1_len,
                      const struct pv_session_expect *ex);
/* Writes message 2 as a frame (body + trailer, frame number 1) granting 1..PV_MAX_REGIONS
 * regions; the session is then established. Returns the frame's length. */
int pv_session_grant(struct pv_session *s, const struct pv_region *regions, unsigned nregions,
                     uint8_t *frame, size_t cap);
/* Seals commands (pv_cmd_* encodings) into the next transport frame (body + trailer). flags:
 * PV_FLAG_REPLY, PV_FLAG_FINAL. Returns the frame's length. */
int pv_session_seal(struct pv_session *s, const uint8_t *cmds, size_t len, uint8_t flags,
                    uint8_t *frame, size_t cap);
/* Opens a reply read from the mailbox (header + body) and decodes it. */
int pv_session_open(struct pv_session *s, const uint8_t *hdr_body, size_t len, struct pv_reply *r);
/* Wipes every key. */
void pv_session_end(struct pv_session *s);

/* Largest command bytes a frame can carry in a slot of slot_size bytes. */
static inline size_t pv_frame_capacity(uint32_t slot_size)
{
    return slot_size - PV_TRAILER_LEN - PV_NOISE_TAGLEN;
}

/* Command encoders: write the command at out (room for PV_CMD_HDR + data) and return its length
 * (session_trusted.c). psize: the program/erase parallelism (pv_flash_psize) the board's supply
 * allows, from the recipe. */
size_t pv_cmd_erase(uint8_t *out, uint32_t addr, uint32_t len, unsigned psize);
size_t pv_cmd_write(uint8_t *out, uint32_t addr, const void *data, uint16_t n, unsigned psize);
size_t pv_cmd_verify(uint8_t *out, uint32_t addr, uint32_t len, const uint8_t digest[32]);
size_t pv_cmd_keyslot(uint8_t *out, uint32_t addr, const uint8_t slot[PV_KEYSLOT_LEN],
                      unsigned psize);
size_t pv_cmd_options(uint8_t *out, uint8_t rdp, uint32_t nwrp);
size_t pv_cmd_reset(uint8_t *out);

#endif
