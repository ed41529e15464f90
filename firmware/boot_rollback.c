#include "boot_rollback.h"

#include "hal/flash.h"
#include "image/rollback.h"

void boot_rollback_read(const pv_layout *l, uint32_t *floor, uint32_t *next)
{
    pv_rollback_scan((const uint8_t *)(uintptr_t)l->counter_addr, l->counter_size, floor, next);
}

int boot_rollback_raise(const pv_layout *l, uint32_t next, uint32_t value)
{
    /* The only flash write the bootloader makes: one record, inside the counter region. The
     * layout check has already proven that region disjoint from the bootloader, the key slot
     * and the application. */
    if (next > l->counter_size || l->counter_size - next < PV_ROLLBACK_RECORD_LEN)
        return BOOT_ROLLBACK_FULL;
    uint32_t w[2];
    pv_rollback_record(value, w);
    int rc = pv_flash_unlock();
    /* Value first, then its complement: the order the power-cut argument relies on. */
    if (rc == PV_FLASH_OK)
        rc = pv_flash_program(l->counter_addr + next, &w[0], 4, PV_FLASH_X32);
    if (rc == PV_FLASH_OK)
        rc = pv_flash_program(l->counter_addr + next + 4, &w[1], 4, PV_FLASH_X32);
    pv_flash_lock();
    if (rc != PV_FLASH_OK)
        return rc;
    uint32_t floor, after;
    boot_rollback_read(l, &floor, &after);
    return floor == value ? PV_FLASH_OK : PV_FLASH_ERR_VERIFY;
}
