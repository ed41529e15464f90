/* The request parsing of the bridge's endpoints (server_routes.c), apart from evhttp so that it
 * can be fuzzed (tests/fuzz/fuzz_bridge_request.c): the JSON bodies of POST /v1/sessions,
 * /v1/sessions/ID/lock and /fail, and the query of GET /v1/plan. Each parser returns 0, or -1
 * with why set to the reason of the 400 bad_request it calls for (docs/bridge-protocol.md). */
#ifndef PV_HSM_BRIDGE_SERVER_PARSE_H
#define PV_HSM_BRIDGE_SERVER_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "bridge.h"

struct json_t;
struct evkeyvalq;

/* The reason buffer a parser writes (the size of a request's reason). */
#define PV_PARSE_WHY_MAX 512u

/* POST /v1/sessions. The strings point into doc. */
struct pv_begin_body {
    struct json_t *doc;
    const char *product, *batch, *uid_hex;
    struct pv_bridge_identity id;
    uint32_t mailbox_flags;
    uint8_t *msg1; /* malloc'd */
    size_t msg1_len;
    char *mes; /* the optional "mes" object as JSON text (malloc'd; id.mes points to it) */
};
int pv_parse_begin(const char *text, size_t len, struct pv_begin_body *b, char *why,
                   size_t why_len);
void pv_begin_body_free(struct pv_begin_body *b);

/* POST /v1/sessions/ID/lock. obs.method points into doc. */
struct pv_lock_body {
    struct json_t *doc;
    uint8_t *reply; /* malloc'd */
    size_t reply_len;
    struct pv_bridge_observed obs;
};
int pv_parse_lock(const char *text, size_t len, struct pv_lock_body *b, char *why, size_t why_len);
void pv_lock_body_free(struct pv_lock_body *b);

/* POST /v1/sessions/ID/fail. The strings point into doc. */
struct pv_fail_body {
    struct json_t *doc;
    const char *phase, *reason;
};
int pv_parse_fail(const char *text, size_t len, struct pv_fail_body *b, char *why, size_t why_len);
void pv_fail_body_free(struct pv_fail_body *b);

/* GET /v1/plan?product=P&batch=B: q receives the parameters (evhttp_clear_headers(q) after use,
 * also after a -1 for a missing parameter); product and batch point into q. */
int pv_parse_plan_query(const char *query, struct evkeyvalq *q, const char **product,
                        const char **batch, char *why, size_t why_len);

#endif
