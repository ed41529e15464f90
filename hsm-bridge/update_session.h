/* One firmware update as the trusted side runs it (docs/update-protocol.md), with no link and no
 * ledger: message 1 in, message 2 with the OFFER and the DATA stream out, the REPORT in. The
 * device is the Noise_NNpsk0 initiator; this is the responder, keyed by the device's PSK (the
 * caller derives it in the token from HELLO's UID and wipes its copy). The session holds the
 * transport keys only until the stream is sealed and the report opened; free wipes everything.
 * Used by the bridge (update_bridge.c) behind its checks (UID, replay, release policy). */
#ifndef PV_HSM_BRIDGE_UPDATE_SESSION_H
#define PV_HSM_BRIDGE_UPDATE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "proto/update_frame.h"

struct pv_update_session;

enum pv_update_rc {
    PV_UPDATE_OK = 0,
    PV_UPDATE_E_MESSAGE = -1, /* malformed: length, HELLO fields, REPORT fields */
    PV_UPDATE_E_AUTH = -2,    /* a Noise tag did not verify: another PSK, or tampered */
    PV_UPDATE_E_STATE = -3,   /* call out of order */
    PV_UPDATE_E_INTERNAL = -4 /* RNG, memory, the Noise library */
};

/* NULL when out of memory. */
struct pv_update_session *pv_update_session_new(void);
/* Wipes every key, the stream and the HELLO; NULL is fine. */
void pv_update_session_free(struct pv_update_session *s);
/* The last failure, one line. */
const char *pv_update_session_error(const struct pv_update_session *s);

/* HELLO from message 1's body (PV_UPD_MSG1_LEN bytes), before any key is known: the caller needs
 * the UID to derive the PSK. Nothing is authenticated yet. */
int pv_update_session_hello(const uint8_t *msg1, size_t len, pv_upd_hello *h, char *why,
                            size_t why_len);

/* Reads message 1 as the responder under psk (copied and wiped here after use) with the prologue
 * "pv-update-v1" || HELLO. eph gets the device's ephemeral public key (for the replay check).
 * PV_UPDATE_E_AUTH when the tag does not verify. */
int pv_update_session_accept(struct pv_update_session *s, const uint8_t psk[32],
                             const uint8_t *msg1, size_t len, uint8_t eph[32]);

/* Writes message 2 (PV_UPD_MSG2_LEN bytes) with the OFFER, then splits. With image NULL the OFFER
 * says nothing newer (kind 0) and no stream follows. Otherwise the image (as `provision image
 * sign` wrote it, version from its header) is sealed at once into the DATA stream: transport
 * messages enc(u32 offset || up to chunk bytes) in nonce order, each prefixed with its u16
 * length (little-endian), the body of GET /v1/update/<id>/stream. chunk: 256..2048, a multiple
 * of 256, at most HELLO's chunk_max. */
int pv_update_session_offer(struct pv_update_session *s, const uint8_t *image, size_t image_len,
                            uint32_t load_addr, size_t chunk, uint8_t msg2[PV_UPD_MSG2_LEN]);
/* The stream (NULL, 0 before an offer with an image) and the OFFER as sent. */
const uint8_t *pv_update_session_stream(const struct pv_update_session *s, size_t *len);
const pv_upd_offer *pv_update_session_offered(const struct pv_update_session *s);
/* Number of DATA messages in the stream. */
uint32_t pv_update_session_chunks(const struct pv_update_session *s);

/* Opens the device's REPORT (PV_UPD_REPORT_MSG_LEN bytes, its first transport message: nonce 0),
 * once. PV_UPDATE_E_AUTH when it does not authenticate. */
int pv_update_session_report(struct pv_update_session *s, const uint8_t *msg, size_t len,
                             pv_upd_report *r);

#endif
