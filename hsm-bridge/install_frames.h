/* One whole install as the trusted side writes it, with no probe: message 1 in, sealed frames
 * out, the stub's replies in. The grant covers the whole sectors of the images and the key slot;
 * then the images in address order in as few frames as a slot holds, each sector erased next to
 * its first bytes, the key slot, and a verify of each (the stub compares the digests itself) in
 * the one frame the stub answers; after the caller
 * has recorded that answer, the final frame: the option bytes at the RDP level (Level 2 is the
 * stub's last command and resets the chip; below it a reset follows). Used by the bridge
 * (bridge_session.c) and, around a relay, by provision's in-process install. */
#ifndef PV_HSM_BRIDGE_INSTALL_FRAMES_H
#define PV_HSM_BRIDGE_INSTALL_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "keyslot/keyslot.h"
#include "session.h"

/* Receives each frame in order, exactly as it goes into a mailbox slot (its number is in its
 * trailer). Non-zero stops the install. */
typedef int (*pv_frame_sink)(void *ctx, const uint8_t *frame, size_t len);

/* Signs msg (a key slot's pv_keyslot_tbs) with the product's image-signing key, the private half
 * of the slot's signer_pub, inside the token; 0, or -1 with a reason in err. */
typedef int (*pv_slot_sign_fn)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64],
                               char *err, size_t err_len);

/* What goes into the chip. Pointers are read during the call they are passed to only. */
struct pv_install_spec {
    uint32_t slot_size; /* the stub's slot size (stub_image.h's SRAM plan) */
    uint32_t image_addr;
    const uint8_t *image;
    size_t image_len;
    uint32_t app_addr;  /* optional second image (the signed application): */
    const uint8_t *app; /* NULL: none */
    size_t app_len;
    uint32_t keyslot_addr;
    pv_keyslot keyslot;        /* its uid is the one message 1 carried */
    pv_slot_sign_fn sign_slot; /* signs the key slot (required) */
    void *sign_ctx;
    /* optional per-device data record (lib/devdata, docs/device-data.md): its signed part for
     * the chip message 1 named (its UID must be that chip's), signed here by sign_slot and written
     * and verified with the key slot at keyslot_addr + PV_DEVDATA_OFFSET; NULL: none */
    const uint8_t *devdata;
    size_t devdata_len;
    /* Program/erase parallelism (pv_flash_psize) for every erase and write: what the board's
     * supply allows (recipe power:, pv_recipe_psize). The trusted side sets it, never the
     * station. */
    uint8_t psize;
    uint8_t rdp;   /* PV_RDP_LEVEL* */
    uint32_t nwrp; /* nWRP bits written with the RDP byte */
};

struct pv_install_frames;

/* NULL when out of memory. */
struct pv_install_frames *pv_install_frames_new(void);
/* Wipes every key and frees. NULL is fine. */
void pv_install_frames_free(struct pv_install_frames *f);
const char *pv_install_frames_error(const struct pv_install_frames *f);

/* Reads message 1 under static_priv and checks the stub's identity against ex; *id gets it. */
int pv_install_frames_accept(struct pv_install_frames *f, const uint8_t static_priv[32],
                             const uint8_t *msg1, size_t msg1_len,
                             const struct pv_session_expect *ex, struct pv_stub_identity *id);
/* Message 2 (the grant) and every frame through the key slot and verify. The key slot is
 * signed first: if that fails, no frame is sent. */
int pv_install_frames_begin(struct pv_install_frames *f, const struct pv_install_spec *spec,
                            pv_frame_sink sink, void *ctx);
/* Opens the stub's reply to the verify frame; 0 only if it is that frame's and says OK. */
int pv_install_frames_check_verify(struct pv_install_frames *f, const uint8_t *reply, size_t len);
/* The final frame (after check_verify passed). */
int pv_install_frames_final(struct pv_install_frames *f, pv_frame_sink sink, void *ctx);
/* Opens the stub's reply to the final frame; 0 only if it says OK. */
int pv_install_frames_check_final(struct pv_install_frames *f, const uint8_t *reply, size_t len);
/* Transport frames sealed so far, and the reply last opened. */
uint32_t pv_install_frames_count(const struct pv_install_frames *f);
const struct pv_reply *pv_install_frames_reply(const struct pv_install_frames *f);

/* The length of a reply without data (what the station reads for the verify and final frames). */
#define PV_INSTALL_REPLY_LEN (PV_REPLY_HDR + PV_NOISE_TAGLEN)

#endif
