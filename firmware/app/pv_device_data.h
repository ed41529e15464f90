/* The per-device data record for the application (docs/device-data.md, lib/devdata/devdata.h):
 * where it is and how to trust it. The bootloader checked the key slot (signed by the product's
 * image-signing key, bound to this chip's UID) before it started the application; the record
 * after the slot is signed by the same key, so the application checks it under the slot's
 * signer_pub and this chip's UID before using any value:
 *
 *   int err;
 *   const uint8_t *rec = pv_device_data(&err);
 *   const uint8_t *serial;
 *   size_t len;
 *   if (rec && pv_devdata_find(rec, "serial", NULL, &serial, &len) == PV_DEVDATA_OK) ...
 *
 * Link lib/devdata and lib/crypto (Ed25519) with the application. */
#ifndef PV_FIRMWARE_APP_DEVICE_DATA_H
#define PV_FIRMWARE_APP_DEVICE_DATA_H

#include <stdint.h>

#include "devdata/devdata.h"
#include "image/layout.h"
#include "keyslot/keyslot.h"

#define PV_DEVICE_UID_ADDR 0x1FFF7A10u /* the 96-bit Unique ID */

/* The key slot's address, from the layout table in the bootloader (the recipe's layout). */
static inline uint32_t pv_device_keyslot_addr(void)
{
    const uint8_t *t = (const uint8_t *)(uintptr_t)(PV_LAYOUT_DEFAULT_BOOT_ADDR + PV_LAYOUT_OFFSET);
    pv_layout l;
    return pv_layout_decode(&l, t) == PV_LAYOUT_OK ? l.keyslot_addr
                                                   : PV_LAYOUT_DEFAULT_KEYSLOT_ADDR;
}

/* The record once it checks, else NULL with *err a pv_devdata_err (PV_DEVDATA_ERR_MAGIC: this
 * device was provisioned without per-device data). */
static inline const uint8_t *pv_device_data(int *err)
{
    const uint8_t *slot = (const uint8_t *)(uintptr_t)pv_device_keyslot_addr();
    const uint8_t *rec = slot + PV_DEVDATA_OFFSET;
    *err = pv_devdata_check(rec, PV_DEVDATA_MAX, slot + PV_KEYSLOT_SIGNER_OFF,
                            (const uint8_t *)(uintptr_t)PV_DEVICE_UID_ADDR, 0);
    return *err == PV_DEVDATA_OK ? rec : 0;
}

#endif
