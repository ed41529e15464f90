/* The update session's only way to flash: it programs the application region and nothing else.
 * Every address is checked against the region of the layout (which pv_layout_check proved
 * disjoint from the bootloader, the key slot and the counter); a sector is erased the first time
 * a write reaches it, and only if the whole sector lies inside the region (sector map from the
 * flash driver), so a region that does not end on a sector boundary cannot take a neighbour's
 * bytes with it. */
#ifndef FIRMWARE_APP_WRITER_H
#define FIRMWARE_APP_WRITER_H

#include <stdint.h>

#include "image/layout.h"

typedef struct app_writer {
    uint32_t lo, hi;    /* the application region, [lo, hi) */
    uint32_t erased_to; /* every sector in [lo, erased_to) was erased by this writer */
    uint32_t written;   /* bytes programmed */
    uint8_t unlocked;   /* the flash controller is unlocked for this writer */
} app_writer;

void app_writer_open(app_writer *w, const pv_layout *l);
/* PV_FLASH_OK if [addr, addr + len) lies inside the region and so does every sector it touches;
 * PV_FLASH_ERR_RANGE otherwise. Touches nothing: the session judges an OFFER with it. */
int app_writer_check(const app_writer *w, uint32_t addr, uint32_t len);
/* Erases what the write reaches for the first time, then programs len bytes (addr and len
 * multiples of 4) and reads them back. PV_FLASH_OK, PV_FLASH_ERR_RANGE for any byte outside the
 * region (nothing erased or written), or the flash driver's error. */
int app_writer_write(app_writer *w, uint32_t addr, const uint8_t *data, uint32_t len);
/* Locks the flash controller again. */
void app_writer_close(app_writer *w);

#endif
