/* The trusted side as one interface (docs/bridge-protocol.md): it owns every secret and every
 * decision of a provisioning session - the product recipes, station rights, reservation and
 * quota, leases, key release, which stub and images are installed, verified-before-lock, and the
 * final record. It never touches a probe: it reads the stub's messages and answers with sealed
 * frames, so the same code runs behind the HTTPS server (`hsm-bridge serve`) and in-process
 * for an engineer's desk (`provision run` without --bridge, where the station is the trusted
 * side).
 *
 * A session is four calls: plan (no state), begin (message 1 -> frames up to the verify),
 * verified (the stub's verify reply -> the final frame), lock (the final reply and what the
 * station observed after the reset -> the ledger's last word); fail ends it early. Every call
 * that refuses fills a pv_bridge_err with the HTTP status and error code of the protocol and
 * a reason naming what and how to fix it, and changes nothing. Not thread-safe: one thread
 * (the server's event loop, or the CLI) drives one pv_bridge. */
#ifndef PV_HSM_BRIDGE_BRIDGE_H
#define PV_HSM_BRIDGE_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image/layout.h"
#include "ledger.h"

#define PV_BRIDGE_SESSION_ID_LEN 33 /* 32 hex digits + NUL */
#define PV_BRIDGE_PRODUCTS_MAX   32u
#define PV_BRIDGE_TTL_DEFAULT_S  120u
#define PV_BRIDGE_SESSIONS_MAX   256u /* default session slots of one bridge */

typedef struct pv_bridge pv_bridge;

/* The release policy (docs/bridge.md, "Releases"): application images a product's devices are
 * updated to. The latest version of a product is served, unless the device's batch is pinned to
 * one of its versions. Images are sealed at rest (`hsm-bridge release add`) and must verify
 * with the product's image-signing key, or the bridge does not open. */
#define PV_BRIDGE_RELEASES_MAX 64u
struct pv_bridge_release {
    const char *product; /* recipe product */
    uint32_t version;    /* must be the signed image header's */
    const char *image;   /* the sealed image file */
};
struct pv_bridge_pin {
    const char *product, *batch;
    uint32_t version; /* one of the product's releases */
};

/* Why a call refused: status and error are the protocol's (docs/bridge-protocol.md, "Errors"). */
struct pv_bridge_err {
    int status;     /* 400, 403, 404, 409, 410, 422, 500 */
    char error[40]; /* "no_rights", "uid_mismatch", ... */
    char reason[512];
};

/* How the bridge is set up. In-process (local) mode fills it from one recipe and the engineer's
 * token; the server from its config file. */
struct pv_bridge_config {
    const char *recipes[PV_BRIDGE_PRODUCTS_MAX]; /* recipe files: the authoritative products */
    unsigned n_recipes;
    const char *module;     /* PKCS#11 module (NULL: SoftHSM2's) */
    const char *pin_file;   /* the token's user PIN (NULL: $PROVISION_PIN) */
    const char *ledger;     /* ledger URL: a path, sqlite:PATH or postgresql://... */
    unsigned session_ttl_s; /* 0: PV_BRIDGE_TTL_DEFAULT_S */
    unsigned max_sessions;  /* session slots (in flight, and ended ones kept to answer a
                               resend); 0: PV_BRIDGE_SESSIONS_MAX */
    int allow_plain_images; /* development only: images not sealed at rest */
    int local;              /* in-process mode: every product open to the (one) station, no
                               registry check */
    int dev_pin;            /* development: the default PIN when none is given */
    const struct pv_bridge_release *releases; /* the release policy (may be empty) */
    unsigned n_releases;
    const struct pv_bridge_pin *pins;
    unsigned n_pins;
};

/* Opens the token (one keystore per product, same token), opens and unseals every product's
 * images into memory, opens the ledger. NULL with err. */
pv_bridge *pv_bridge_open(const struct pv_bridge_config *cfg, char *err, size_t err_len);
/* Ends every session (recorded as failed: "bridge stopped"), wipes keys and images. */
void pv_bridge_close(pv_bridge *b);
pv_ledger *pv_bridge_ledger(pv_bridge *b);

/* ---- stations ---- */

/* Who is asking: the certificate's CN and the SHA-256 of its DER encoding (hex). */
struct pv_bridge_station {
    const char *name;
    const char *cert_sha256; /* NULL in local mode */
};

/* The registry's answer for a station: 0 when enrolled, not revoked, and presenting the
 * certificate enrolled under its name; else 403 station_unknown / station_revoked. Local
 * mode: always 0. */
int pv_bridge_check_station(pv_bridge *b, const struct pv_bridge_station *st,
                            struct pv_bridge_err *e);

/* What an accepted certificate may do. A station provisions and updates devices within its
 * rights. An operator (enrolled with `hsm-bridge station enroll NAME --operator`: its registry
 * rights are exactly PV_BRIDGE_OPERATOR_RIGHTS, which names no product) reads the operator's
 * view and /metrics, and nothing else; no other certificate reads the operator's view. */
enum pv_bridge_role { PV_BRIDGE_ROLE_STATION, PV_BRIDGE_ROLE_OPERATOR };
#define PV_BRIDGE_OPERATOR_RIGHTS "operator"

/* pv_bridge_check_station, and on success the certificate's role in *role. Local mode: a
 * station. */
int pv_bridge_station_role(pv_bridge *b, const struct pv_bridge_station *st,
                           enum pv_bridge_role *role, struct pv_bridge_err *e);

/* ---- one device ---- */

/* What a station needs to drive a product's chip: nothing secret. Pointers are the bridge's
 * and live as long as it. */
struct pv_bridge_plan {
    const char *product, *batch, *recipe;
    char recipe_sha256[65];
    unsigned rdp_level;
    const char *chip_family;
    uint32_t device_id, flash_kb, sram_kb;
    pv_layout layout;
    uint32_t stub_sram_base;
    const uint8_t *stub; /* the released stub.bin */
    size_t stub_len;
    uint8_t stub_sha256[32];
    uint8_t bridge_pub[32];     /* the Noise static public key the stub is given */
    uint32_t boot_len, app_len; /* sizes of what will be installed (0: no application) */
    char boot_sha256[65];       /* hex SHA-256 of the bootloader as installed (the ledger's
                                   image digest) */
};

/* What the debugger read from the chip (the station's claim, checked against message 1). */
struct pv_bridge_identity {
    uint8_t uid[12];
    uint32_t dev_id, flash_kb;
    uint8_t rdp;
    const char *mes; /* the line MES's values for this chip as the station has them (a JSON
                        object text, validated by the bridge against the recipe's
                        device_data.mes.fields), or NULL */
};

/* Receives the frames a call produces, in order, each exactly as it goes into a mailbox slot.
 * Non-zero stops the call (recorded as a failure of the session). */
typedef int (*pv_bridge_frame_sink)(void *ctx, const uint8_t *frame, size_t len);

/* What the station saw after the final frame and the reset. */
struct pv_bridge_observed {
    unsigned rdp_level; /* 2: debug port dead after a reset; 1: option byte Level 1 and a
                           refused flash read; 0: neither */
    const char *method; /* how it was seen, for the ledger ("reset: debug port dead") */
};

struct pv_bridge_outcome {
    char uid_hex[25];
    unsigned rdp_level;
    uint32_t quota, used;
    char batch[PV_LEDGER_TEXT_MAX];
};

int pv_bridge_plan(pv_bridge *b, const struct pv_bridge_station *st, const char *product,
                   const char *batch, struct pv_bridge_plan *plan, struct pv_bridge_err *e);

/* Checks rights, message 1, the UID; reserves and leases the row; derives the PSK in the
 * token; emits message 2 and every frame up to the key slot and verify. session_id receives the
 * new session's id. */
int pv_bridge_begin(pv_bridge *b, const struct pv_bridge_station *st, const char *product,
                    const char *batch, const struct pv_bridge_identity *id, uint32_t mbox_flags,
                    const uint8_t *msg1, size_t msg1_len, pv_bridge_frame_sink sink, void *ctx,
                    char session_id[PV_BRIDGE_SESSION_ID_LEN], struct pv_bridge_err *e);
/* The stub's reply to the verify frame: records written and verified, emits the final frame. */
int pv_bridge_verified(pv_bridge *b, const struct pv_bridge_station *st, const char *session_id,
                       const uint8_t *reply, size_t reply_len, pv_bridge_frame_sink sink, void *ctx,
                       struct pv_bridge_err *e);
/* The stub's reply to the final frame and what the station observed after the reset: records
 * locked at the observed level when it is the recipe's, else a failed lock. Ends the session. */
int pv_bridge_lock(pv_bridge *b, const struct pv_bridge_station *st, const char *session_id,
                   const uint8_t *reply, size_t reply_len, const struct pv_bridge_observed *obs,
                   struct pv_bridge_outcome *out, struct pv_bridge_err *e);
/* The station gives up: records the failure (phase, reason), ends the session and its lease. */
int pv_bridge_fail(pv_bridge *b, const struct pv_bridge_station *st, const char *session_id,
                   const char *phase, const char *reason, struct pv_bridge_err *e);

/* The rows of product/batch left at verified: chips a run may have locked before the lock was
 * recorded (the station died in between; docs/ledger.md, "A lock the ledger missed"). fn gets
 * each row, mine = 1 when this station acted on it last; non-zero from fn stops the walk. */
int pv_bridge_unconfirmed(pv_bridge *b, const struct pv_bridge_station *st, const char *product,
                          const char *batch,
                          int (*fn)(void *ctx, const pv_ledger_row *row, int mine), void *ctx,
                          struct pv_bridge_err *e);

/* Ends sessions older than their ttl (their leases lapse with them). The server calls it once a
 * second; every call above also does. */
void pv_bridge_expire(pv_bridge *b);
/* Sessions in flight. */
unsigned pv_bridge_sessions(const pv_bridge *b);

/* Prometheus text format: sessions by outcome, devices by state, quota left per batch, failures
 * by phase, session duration histogram, HSM operation latency. */
int pv_bridge_metrics(pv_bridge *b, FILE *out);
/* 0 when the token and the ledger answer. */
int pv_bridge_health(pv_bridge *b, char *why, size_t len);

#endif
