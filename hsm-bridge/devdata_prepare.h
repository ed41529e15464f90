/* One device's values as the trusted side decides them (docs/device-data.md): its earlier
 * allocation if it has one (a rerun), else the MES's values validated and a serial and a MAC
 * allocated in the ledger; then the record's signed part (lib/devdata) for install_frames to
 * sign with the key slot's signer and write after the key slot. */
#ifndef PV_HSM_BRIDGE_DEVDATA_PREPARE_H
#define PV_HSM_BRIDGE_DEVDATA_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include "devdata/devdata.h"
#include "ledger.h"
#include "recipe.h"

typedef struct pv_devdata_prepared {
    pv_ledger_devdata row;        /* as the ledger has it */
    int resumed;                  /* the UID had its values already */
    uint8_t body[PV_DEVDATA_MAX]; /* the record up to its signature */
    size_t body_len;
} pv_devdata_prepared;

/* For r's device_data (r->devdata.present) and the chip uid (reserved in l, under the ledger's
 * actor): 0, or -1 with why "code: reason" naming what and how to fix it, code one of
 * mes_missing, mes_invalid, mes_unavailable, pool_exhausted, leased, internal. station_mes: the
 * station's MES values (a JSON object text) or NULL. Nothing is allocated on a refusal. */
int pv_devdata_prepare(pv_ledger *l, const pv_recipe *r, const uint8_t uid[12],
                       const char *station_mes, pv_devdata_prepared *out, char *why,
                       size_t why_len);

#endif
