/* What both trusted-side modes share (trusted.h). */
#include <string.h>

#include "trusted.h"

void pv_trusted_close(struct pv_trusted *t)
{
    if (t->remote) {
        pv_bridge_client_plan_free(&t->plan);
        pv_bridge_client_free(t->remote);
    }
    if (t->local)
        pv_bridge_close(t->local);
    memset(t, 0, sizeof *t);
}

unsigned pv_trusted_round_trips(const struct pv_trusted *t)
{
    return t->remote ? pv_bridge_client_requests(t->remote) : 0;
}
