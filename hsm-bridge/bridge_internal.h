/* What the bridge's files share (bridge_*.c); nothing outside hsm-bridge/ includes it. */
#ifndef PV_HSM_BRIDGE_BRIDGE_INTERNAL_H
#define PV_HSM_BRIDGE_BRIDGE_INTERNAL_H

#include <stdarg.h>

#include "bridge.h"
#include "host/stub_image.h"
#include "install_frames.h"
#include "keystore.h"
#include "recipe.h"

/* A release image of the product (bridge.h's release policy), opened into memory. */
struct pv_bridge_release_image {
    uint32_t version;
    uint8_t *image; /* the signed image, unsealed */
    size_t len;
    uint8_t sha256[32];
};

/* One product and batch the bridge serves: its recipe, its keys, its images in memory. */
struct pv_bridge_product {
    pv_recipe rc;
    pv_keystore *ks;
    uint8_t *stub; /* the released stub.bin */
    size_t stub_len;
    uint8_t stub_sha256[32];
    struct pv_stub_image stub_img;
    uint8_t *boot; /* bootloader, unsealed, its layout table the recipe's */
    size_t boot_len;
    char boot_sha256[65];
    uint8_t *app; /* the signed application, or NULL */
    size_t app_len;
    uint8_t noise_priv[32], noise_pub[32];
    uint8_t signer_pub[32];
    char audit_key_id[64];
    struct pv_bridge_release_image *rel; /* the product's releases, ascending version */
    unsigned n_rel;
    uint32_t pinned; /* the version this batch is pinned to; 0: the latest */
};

/* LOCKED and EXPIRED sessions keep their slot for ten minutes, or until a new session needs it
 * (the oldest goes first): a resent lock gets its outcome again, a late step gets 410, not 404. */
enum session_step { STEP_FREE = 0, STEP_BEGUN, STEP_VERIFIED, STEP_LOCKED, STEP_EXPIRED };
#define PV_BRIDGE_FINAL_MAX 128 /* the final frame: one or two commands, tag and trailer */

struct pv_bridge_sess {
    enum session_step step;
    char id[PV_BRIDGE_SESSION_ID_LEN];
    char station[PV_LEDGER_TEXT_MAX];
    struct pv_bridge_product *p;
    uint8_t uid[12];
    uint64_t started_ms, ended_ms;
    struct pv_install_frames *f;
    /* What a resent request is recognised by (libcurl resends a POST whose reused connection
     * died before any answer): the same message 1, the same verify reply, the same lock. */
    uint8_t msg1_sha[32], verify_sha[32], lock_sha[32];
    uint8_t final_frame[PV_BRIDGE_FINAL_MAX];
    size_t final_len;
    struct pv_bridge_outcome outcome;
};

/* Counters behind /metrics. */
#define PV_BRIDGE_PHASES  8
#define PV_BRIDGE_BUCKETS 10
enum pv_bridge_outcome_kind { OUT_LOCKED, OUT_FAILED, OUT_REFUSED, OUT_EXPIRED, OUT_KINDS };
struct pv_bridge_stats {
    uint64_t outcomes[OUT_KINDS];
    uint64_t refusals_by_error[24];
    char refusal_names[24][40];
    uint64_t failures_by_phase[PV_BRIDGE_PHASES];
    uint64_t duration_bucket[PV_BRIDGE_BUCKETS + 1]; /* session seconds, cumulative at print */
    double duration_sum;
    uint64_t duration_count;
    uint64_t hsm_bucket[PV_BRIDGE_BUCKETS + 1]; /* PSK derivation seconds */
    double hsm_sum;
    uint64_t hsm_count;
};

struct pv_bridge {
    struct pv_bridge_config cfg;
    unsigned ttl_s;
    struct pv_bridge_product *prod[PV_BRIDGE_PRODUCTS_MAX];
    unsigned n_prod;
    pv_ledger *ledger;
    struct pv_bridge_sess *sess; /* n_sess slots */
    unsigned n_sess;
    struct pv_bridge_stats stats;
    struct pv_bridge_updates *upd; /* update sessions and their counters (update_bridge.c) */
};

/* bridge_core.c: fills e from "error_code: reason" (fmt) and status, counts the refusal; -1. */
__attribute__((format(printf, 4, 0))) int pv_bridge_refusev(struct pv_bridge *b,
                                                            struct pv_bridge_err *e, int status,
                                                            const char *fmt, va_list ap);

/* bridge_session.c: the station's rights for product/batch (always in local mode). */
int pv_bridge_may_run(pv_bridge *b, const char *station, const char *product, const char *batch);

/* bridge_products.c */
struct pv_bridge_product *pv_bridge_product_load(const struct pv_bridge_config *cfg,
                                                 const char *recipe, char *err, size_t err_len);
void pv_bridge_product_free(struct pv_bridge_product *p);

/* update_releases.c: opens cfg's releases of p's product (sealed at rest; plain only with
 * allow_plain_images), each verified with the product's signing key, its header version the
 * configured one, its load address the layout's application region; then p's pin. 0 or -1. */
int pv_bridge_releases_load(const struct pv_bridge_config *cfg, struct pv_bridge_product *p,
                            char *err, size_t err_len);
void pv_bridge_releases_free(struct pv_bridge_product *p);
/* The release a device of p is offered: the pinned one, else the latest; NULL when none. */
const struct pv_bridge_release_image *pv_bridge_release_pick(const struct pv_bridge_product *p);
/* 0 if img is an image signed by signer_pub that boots from rc's application region (version
 * from its header), else -1 with why. */
int pv_bridge_release_check(const pv_recipe *rc, const uint8_t signer_pub[32], const uint8_t *img,
                            size_t len, uint32_t *version, char *why, size_t why_len);

/* bridge_metrics.c */
extern const char *const pv_bridge_phase_names[PV_BRIDGE_PHASES];
extern const double pv_bridge_buckets[PV_BRIDGE_BUCKETS];
void pv_bridge_count_refusal(struct pv_bridge *b, const char *error);
void pv_bridge_count_failure(struct pv_bridge *b, const char *phase);
void pv_bridge_observe(uint64_t *buckets, double *sum, uint64_t *count, double seconds);

uint64_t pv_bridge_now_ms(void);

#endif
