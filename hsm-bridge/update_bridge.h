/* Firmware updates served by the bridge (docs/update-protocol.md, docs/bridge-protocol.md
 * "Updates"): three calls per update, whatever the image size.
 *
 *   begin  (message 1's body)  -> checks, message 2 with the OFFER, the session's id
 *   stream (the id)            -> every DATA transport message, u16 length || ciphertext
 *   report (the id, REPORT)    -> the device's result, recorded; the session ends
 *
 * begin refuses, each with a ledger row in `updates` and an HTTP status: a UID the ledger does
 * not have (403 unknown_uid) or has not locked (403 not_locked), a batch this bridge does not
 * serve (404 unknown_product), a station without the product's rights (403 no_rights), a message 1
 * that does not authenticate under the PSK the token derives from its UID (403 psk_mismatch), a
 * message 1 whose ephemeral key the ledger has seen (409 replay), no release for the device
 * (404 no_release). A session without a report by the bridge's session TTL is recorded
 * `abandoned`. The station holds no key: it relays message 2, the stream and the report. */
#ifndef PV_HSM_BRIDGE_UPDATE_BRIDGE_H
#define PV_HSM_BRIDGE_UPDATE_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bridge.h"
#include "proto/update_frame.h"

/* What begin decided, for the station's progress lines and the response. */
struct pv_bridge_update_offer {
    char uid_hex[25];
    char product[PV_LEDGER_TEXT_MAX], batch[PV_LEDGER_TEXT_MAX];
    uint32_t running, floor; /* HELLO's */
    uint32_t kind;           /* PV_UPD_OFFER_* */
    uint32_t version, size;  /* the offered image (0 when kind is none) */
    uint32_t chunks;         /* DATA messages in the stream */
    size_t stream_len;       /* bytes of the stream (u16 lengths included) */
};

int pv_bridge_update_begin(pv_bridge *b, const struct pv_bridge_station *st, const uint8_t *msg1,
                           size_t msg1_len, uint8_t msg2[PV_UPD_MSG2_LEN],
                           char session_id[PV_BRIDGE_SESSION_ID_LEN],
                           struct pv_bridge_update_offer *out, struct pv_bridge_err *e);
/* The session's DATA stream (the bridge's memory, valid until the session ends): 409
 * nothing_offered when message 2 offered nothing. */
int pv_bridge_update_stream(pv_bridge *b, const struct pv_bridge_station *st,
                            const char *session_id, const uint8_t **data, size_t *len,
                            struct pv_bridge_err *e);
/* Opens and records the device's REPORT; ends the session. 400 report_auth when it does not
 * authenticate (the session stays for the real one). */
int pv_bridge_update_report(pv_bridge *b, const struct pv_bridge_station *st,
                            const char *session_id, const uint8_t *msg, size_t len,
                            pv_upd_report *r, struct pv_bridge_err *e);

/* bridge_core.c: sessions past the TTL are recorded abandoned (expire); all of them at close. */
void pv_bridge_update_expire(pv_bridge *b, int all);
/* Update sessions in flight. */
unsigned pv_bridge_update_sessions(const pv_bridge *b);
/* Prometheus lines: updates by result. */
void pv_bridge_update_metrics(pv_bridge *b, FILE *out);

#endif
