#include "app_writer.h"

#include "hal/flash.h"

void app_writer_open(app_writer *w, const pv_layout *l)
{
    w->lo = l->app_addr;
    w->hi = l->app_addr + l->app_size;
    w->erased_to = w->lo;
    w->written = 0;
    w->unlocked = 0;
}

int app_writer_check(const app_writer *w, uint32_t addr, uint32_t len)
{
    if (len == 0 || addr < w->lo || addr >= w->hi || len > w->hi - addr)
        return PV_FLASH_ERR_RANGE;
    pv_flash_sector first, last;
    if (pv_flash_sector_at(addr, &first) != PV_FLASH_OK ||
        pv_flash_sector_at(addr + len - 1u, &last) != PV_FLASH_OK)
        return PV_FLASH_ERR_RANGE;
    /* Sectors are contiguous: the first must start and the last end inside the region. */
    if (first.addr < w->lo || last.addr + last.size > w->hi || last.addr + last.size < last.addr)
        return PV_FLASH_ERR_RANGE;
    return PV_FLASH_OK;
}

int app_writer_write(app_writer *w, uint32_t addr, const uint8_t *data, uint32_t len)
{
    int rc = app_writer_check(w, addr, len);
    if (rc != PV_FLASH_OK)
        return rc;
    if (!w->unlocked) {
        rc = pv_flash_unlock();
        if (rc != PV_FLASH_OK)
            return rc;
        w->unlocked = 1;
    }
    while (w->erased_to < addr + len) {
        pv_flash_sector s;
        rc = pv_flash_sector_at(w->erased_to, &s);
        if (rc != PV_FLASH_OK)
            return rc;
        if (s.addr < w->lo || s.addr + s.size > w->hi) /* app_writer_check makes this unreachable */
            return PV_FLASH_ERR_RANGE;
        rc = pv_flash_erase_sector(&s, PV_FLASH_X32);
        if (rc != PV_FLASH_OK)
            return rc;
        w->erased_to = s.addr + s.size;
    }
    rc = pv_flash_program(addr, data, len, PV_FLASH_X32);
    if (rc == PV_FLASH_OK)
        w->written += len;
    return rc;
}

void app_writer_close(app_writer *w)
{
    if (w->unlocked)
        pv_flash_lock();
    w->unlocked = 0;
}
