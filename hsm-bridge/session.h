/* The reference trusted side of a provisioning session with the RAM stub (docs/protocol.md).
 *
 * Three layers, each usable alone:
 *  - pv_session (session_trusted.c): the Noise_NK responder on the OpenSSL provider. It reads the
 *    stub's message 1 and checks what the stub reports about itself, answers with message 2 (the
 *    flash regions this session may touch), seals command frames and opens the stub's replies.
 *    Pure message processing: it never talks to a probe, so the bridge can run it remotely.
 *  - pv_relay (session_relay.c): the station's side of the mailbox: uploads the stub through a
 *    pv_probe, starts it, posts frames into the two slots, waits for the idle breakpoint, reads
 *    status and replies. It only ever sees ciphertext.
 *  - pv_session_install (session_install.c): one whole install (erase, write the image, key slot,
 *    verify, RDP Level 2, reset) driving both; the provisioner issue turns it into the real thing.
 * Every function returns 0 or a negative error and writes one line into the object's err. */
#ifndef PV_HSM_BRIDGE_SESSION_H
#define PV_HSM_BRIDGE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyslot/keyslot.h"
#include "noise/noise.h"
#include "proto/proto.h"
#include "../provisioner/probe.h"

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
    uint8_t data[PV_MBOX_REPLY_MAX];
    size_t data_len;
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
 * (session_trusted.c). */
size_t pv_cmd_info(uint8_t *out);
size_t pv_cmd_erase(uint8_t *out, uint32_t addr, uint32_t len);
size_t pv_cmd_write(uint8_t *out, uint32_t addr, const void *data, uint16_t n);
size_t pv_cmd_verify(uint8_t *out, uint32_t addr, uint32_t len, const uint8_t digest[32]);
size_t pv_cmd_keyslot(uint8_t *out, uint32_t addr, const uint8_t slot[PV_KEYSLOT_LEN]);
size_t pv_cmd_options(uint8_t *out, uint8_t rdp, uint32_t nwrp);
size_t pv_cmd_reset(uint8_t *out);

/* ---- pv_relay: the mailbox through a probe ----------------------------------------------------
 */

/* The stub image's header fields (lib/proto/proto.h PV_STUB_HDR_*). */
struct pv_stub_image {
    const uint8_t *bin;
    size_t len;
    uint32_t base, entry, resume, ram_end;
};

/* Parses stub.bin's header; the image is linked at base. */
int pv_stub_image_parse(struct pv_stub_image *img, const uint8_t *bin, size_t len, uint32_t base,
                        char *err, size_t err_len);

struct pv_stub_status {
    uint8_t state, status;
    uint32_t done, detail;
};

/* Test hook: sees every frame before it is written; may change it (len up to cap), or return 1
 * to drop it, 2 to write it into the other slot. */
typedef int (*pv_relay_hook)(void *ctx, uint32_t seq, uint8_t *frame, size_t *len, size_t cap);

/* Benchmark hook: called at the milestones of a session (the probe is idle at each). */
enum pv_relay_phase {
    PV_PHASE_UPLOADED = 1, /* stub and parameter block written, not started */
    PV_PHASE_STARTED = 2,  /* message 1 read */
    PV_PHASE_FINAL = 3     /* the final frame's reply read, the ack not yet written */
};
typedef void (*pv_relay_observer)(void *ctx, enum pv_relay_phase phase);

struct pv_relay {
    pv_probe_link *link;
    struct pv_stub_image img;
    uint32_t mbox, slot0, slot_size;
    uint32_t posted;      /* highest frame number written */
    uint32_t done;        /* highest frame number known consumed */
    unsigned unstarted;   /* frames written since the last resume */
    bool running;         /* resumed, idle breakpoint not yet seen */
    bool live;            /* write while the stub runs (the probe must allow it) */
    bool spin;            /* PV_MBOX_F_SPIN: the stub never halts; poll its state word */
    bool posted_running;  /* a frame went in while the stub ran */
    uint32_t live_writes; /* frames written while the stub ran (live mode) */
    uint32_t rescued;     /* of those, frames the stub had missed and was resumed for */
    pv_relay_hook hook;
    void *hook_ctx;
    pv_relay_observer observe;
    void *observe_ctx;
    int timeout_ms; /* for each wait on the stub */
    char err[256];
};

/* Resets and halts the chip, uploads the stub, writes the parameter block (bridge_pub,
 * host_entropy, slots sized to the 16 KB budget, flags PV_MBOX_F_*), starts it, and returns
 * message 1 (body) once the stub is idle. */
int pv_relay_start(struct pv_relay *r, pv_probe_link *link, const struct pv_stub_image *img,
                   const uint8_t bridge_pub[32], const uint8_t host_entropy[32], uint32_t flags,
                   uint8_t *msg1, size_t cap, size_t *msg1_len);
/* Writes a frame (body + trailer) into its slot, waiting for the slot to be free. */
int pv_relay_post(struct pv_relay *r, uint32_t seq, const uint8_t *frame, size_t len);
/* Lets the stub work through everything posted, then reads its status and, if the last frame
 * consumed has one, its reply (header + body) into buf; expect = the reply body length the
 * caller expects (read in the same round trip; longer replies cost one more). *reply_len is 0
 * when there is no new reply. */
int pv_relay_sync(struct pv_relay *r, struct pv_stub_status *st, uint8_t *buf, size_t cap,
                  size_t expect, size_t *reply_len);
/* After the final frame's reply: tells the stub to go ahead (reset, or park). */
int pv_relay_ack(struct pv_relay *r, uint32_t seq);

/* ---- pv_session_install: one whole install -----------------------------------------------------
 */

/* added by the station helper: the phases of one install, in order (pv_install.progress). */
enum pv_install_phase {
    PV_INSTALL_STUB = 1,   /* stub uploaded, started, its message 1 accepted */
    PV_INSTALL_ERASE = 2,  /* regions granted, the erase posted */
    PV_INSTALL_WRITE = 3,  /* every image frame posted */
    PV_INSTALL_VERIFY = 4, /* key slot written, image and key slot verified by the stub */
    PV_INSTALL_LOCK = 5    /* final frame (options or reset) acknowledged */
};

struct pv_install {
    const struct pv_stub_image *stub;
    const uint8_t *bridge_priv; /* trusted side's static key */
    const uint8_t *bridge_pub;  /* what the stub is told (normally the public half of priv) */
    const uint8_t *host_entropy;
    struct pv_session_expect expect;
    uint32_t image_addr;
    const uint8_t *image;
    size_t image_len;
    uint32_t app_addr;  /* optional second image (the signed application): */
    const uint8_t *app; /* NULL: none */
    size_t app_len;
    uint32_t keyslot_addr;
    pv_keyslot keyslot; /* its uid is filled from the stub's message 1 */
    uint8_t rdp;        /* PV_RDP_LEVEL*: Level 2 is the final command (its reset follows);
                           below it the final frame also resets the chip */
    uint32_t nwrp;      /* nWRP bits written with the RDP byte */
    uint32_t flags;     /* PV_MBOX_F_* */
    bool live;          /* write frames while the stub runs */
    pv_relay_hook hook; /* test hook, see pv_relay_hook */
    void *hook_ctx;
    pv_relay_observer observe; /* benchmark hook */
    void *observe_ctx;
    /* added by the station helper: the station's ledger must record `written` and `verified`
     * before the lock goes out, and it shows progress per phase. progress (may be NULL) is
     * called as each phase completes; before_final (may be NULL) after the verify passed and
     * before the final frame is sealed: non-zero aborts the install with nothing locked. */
    void (*progress)(void *ctx, enum pv_install_phase phase);
    int (*before_final)(void *ctx);
    void *station_ctx;
};

struct pv_install_result {
    struct pv_stub_identity id;
    struct pv_stub_status status; /* the stub's last status */
    struct pv_reply reply;        /* the last reply read */
    uint32_t frames;              /* transport frames sent */
    uint32_t live_writes;         /* frames written while the stub ran (live mode) */
    size_t payload_bytes;         /* image + key slot bytes */
    char err[256];
};

/* Runs the install; 0 when the final command was acknowledged (the chip resets). */
int pv_session_install(pv_probe_link *link, const struct pv_install *in,
                       struct pv_install_result *res);

#endif
