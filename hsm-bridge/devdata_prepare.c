/* One device's values and record (devdata_prepare.h). */
#include "devdata_prepare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "devdata_mes.h"

struct render {
    const pv_recipe *r;
};

static int render(void *ctx, int64_t n, char *out, size_t cap)
{
    const pv_recipe *r = ((struct render *)ctx)->r;
    return pv_serial_render(r->devdata.serial_format, r->product, r->batch, n, out, cap);
}

/* The record's signed part from the ledger's row: serial, mac, then the MES values in their
 * (sorted) order, integers as INT and strings as TEXT. */
static int build(const uint8_t uid[12], pv_devdata_prepared *p, char *why, size_t why_len)
{
    pv_devdata_builder b;
    const pv_ledger_devdata *d = &p->row;
    json_error_t e;
    json_t *mes = json_loads(d->mes, 0, &e);
    int rc = pv_devdata_begin(&b, p->body, sizeof p->body, uid);
    if (!rc && d->serial[0])
        rc = pv_devdata_add(&b, PV_DEVDATA_TEXT, "serial", (const uint8_t *)d->serial,
                            strlen(d->serial));
    if (!rc && d->has_mac) {
        uint8_t m[6];
        for (int i = 0; i < 6; i++)
            m[i] = (uint8_t)(d->mac >> (40 - 8 * i));
        rc = pv_devdata_add(&b, PV_DEVDATA_MAC, "mac", m, 6);
    }
    const char *k;
    json_t *v;
    if (!rc && mes)
        json_object_foreach(mes, k, v)
        {
            if (json_is_integer(v)) {
                uint64_t n = (uint64_t)json_integer_value(v);
                uint8_t le[8];
                for (int i = 0; i < 8; i++)
                    le[i] = (uint8_t)(n >> (8 * i));
                rc = pv_devdata_add(&b, PV_DEVDATA_INT, k, le, 8);
            } else
                rc = pv_devdata_add(&b, PV_DEVDATA_TEXT, k, (const uint8_t *)json_string_value(v),
                                    json_string_length(v));
            if (rc) {
                snprintf(why, why_len,
                         "internal: device data field %s does not fit the %u-byte record; "
                         "shorten the recipe's max_length values",
                         k, PV_DEVDATA_MAX);
                json_decref(mes);
                return -1;
            }
        }
    json_decref(mes);
    if (rc || !(p->body_len = pv_devdata_finish(&b))) {
        snprintf(why, why_len, "internal: the device data does not fit the %u-byte record",
                 PV_DEVDATA_MAX);
        return -1;
    }
    return 0;
}

int pv_devdata_prepare(pv_ledger *l, const pv_recipe *r, const uint8_t uid[12],
                       const char *station_mes, pv_devdata_prepared *out, char *why, size_t why_len)
{
    const pv_devdata_spec *s = &r->devdata;
    char hex[25];
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", uid[i]);
    int rc = pv_ledger_devdata_get(l, uid, &out->row);
    if (rc == PV_LEDGER_OK) {
        out->resumed = 1;
        return build(uid, out, why, why_len);
    }
    if (rc != PV_LEDGER_E_UNKNOWN) {
        snprintf(why, why_len, "internal: ledger: %s", pv_ledger_error(l));
        return -1;
    }
    json_t *mes = NULL;
    if (s->n_fields && pv_mes_values(s, hex, station_mes, &mes, why, why_len))
        return -1;
    char *mes_text = json_dumps(mes ? mes : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(mes);
    struct render rd = {r};
    pv_ledger_devdata_req q = {
        .counter = s->has_serial ? s->counter : NULL,
        .counter_first = s->counter_first,
        .counter_last = s->counter_last,
        .render = render,
        .render_ctx = &rd,
        .has_mac = s->has_mac,
        .mac_first = s->mac_first,
        .mac_last = s->mac_last,
        .mes = mes_text ? mes_text : "{}",
    };
    rc = pv_ledger_devdata_allocate(l, uid, &q, &out->row);
    free(mes_text);
    switch (rc) {
    case PV_LEDGER_OK:
        break;
    case PV_LEDGER_RESUMED:
        out->resumed = 1;
        break;
    case PV_LEDGER_E_EXHAUSTED:
        snprintf(why, why_len, "pool_exhausted: %s", pv_ledger_error(l));
        return -1;
    case PV_LEDGER_E_LEASED:
        snprintf(why, why_len, "leased: %s", pv_ledger_error(l));
        return -1;
    default:
        snprintf(why, why_len, "internal: ledger: cannot allocate device data: %s",
                 pv_ledger_error(l));
        return -1;
    }
    return build(uid, out, why, why_len);
}
