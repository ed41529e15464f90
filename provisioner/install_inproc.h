/* One whole install in one process: the trusted side's frames (hsm-bridge/install_frames.h)
 * posted through the relay (relay.h) as they are sealed. For tests and benchmarks of the stub
 * and the relay; `provision run` goes through the trusted-side interface (trusted.h) instead. */
#ifndef PV_PROVISIONER_INSTALL_INPROC_H
#define PV_PROVISIONER_INSTALL_INPROC_H

#include "../hsm-bridge/install_frames.h"
#include "../hsm-bridge/session.h"
#include "relay.h"

/* The phases of one install, in order (pv_install.progress). */
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
    pv_keyslot keyslot;        /* its uid is filled from the stub's message 1 */
    pv_slot_sign_fn sign_slot; /* signs the key slot with the private half of its signer_pub */
    void *sign_ctx;
    uint8_t psize;      /* program/erase parallelism (pv_flash_psize) the board allows */
    uint8_t rdp;        /* PV_RDP_LEVEL*: Level 2 is the final command (its reset follows);
                           below it the final frame also resets the chip */
    uint32_t nwrp;      /* nWRP bits written with the RDP byte */
    uint32_t flags;     /* PV_MBOX_F_* */
    bool live;          /* write frames while the stub runs */
    pv_relay_hook hook; /* test hook, see pv_relay_hook */
    void *hook_ctx;
    pv_relay_observer observe; /* benchmark hook */
    void *observe_ctx;
    /* progress (may be NULL) is called as each phase completes; before_final (may be NULL)
     * after the verify passed and before the final frame is sealed: non-zero aborts the
     * install with nothing locked. */
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
