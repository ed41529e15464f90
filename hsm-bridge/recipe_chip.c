#include "recipe_chip.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hal/stm32f4_map.h"
#include "hal/stm32f4_sectors.h"

/* RM0090 (F405/407/415/417/427/429/437/439), RM0368 (F401), RM0383 (F411), RM0390 (F446). */
static const pv_chip_part parts[] = {
    {"STM32F405", {0x413, 0}, {1024, 0, 0, 0}, 128},
    {"STM32F407", {0x413, 0}, {512, 1024, 0, 0}, 128},
    {"STM32F415", {0x413, 0}, {1024, 0, 0, 0}, 128},
    {"STM32F417", {0x413, 0}, {512, 1024, 0, 0}, 128},
    {"STM32F427", {0x419, 0}, {1024, 2048, 0, 0}, 192},
    {"STM32F429", {0x419, 0}, {512, 1024, 2048, 0}, 192},
    {"STM32F437", {0x419, 0}, {1024, 2048, 0, 0}, 192},
    {"STM32F439", {0x419, 0}, {1024, 2048, 0, 0}, 192},
    {"STM32F401", {0x423, 0x433}, {128, 256, 384, 512}, 64},
    {"STM32F411", {0x431, 0}, {256, 512, 0, 0}, 128},
    {"STM32F446", {0x421, 0}, {256, 512, 0, 0}, 128},
};
#define NPARTS (sizeof parts / sizeof parts[0])

const pv_chip_part *pv_chip_find(const char *part)
{
    for (size_t i = 0; i < NPARTS; i++)
        if (strncasecmp(part, parts[i].name, strlen(parts[i].name)) == 0)
            return &parts[i];
    return NULL;
}

const pv_chip_part *pv_chip_table(size_t *count)
{
    *count = NPARTS;
    return parts;
}

int pv_chip_has_dev_id(const pv_chip_part *p, uint32_t dev_id)
{
    for (int i = 0; i < 2; i++)
        if (p->dev_id[i] && p->dev_id[i] == dev_id)
            return 1;
    return 0;
}

int pv_chip_has_flash(const pv_chip_part *p, uint32_t flash_kb)
{
    for (int i = 0; i < 4; i++)
        if (p->flash_kb[i] && p->flash_kb[i] == flash_kb)
            return 1;
    return 0;
}

/* "a", "a or b", "a, b or c" */
static void join(char *out, size_t len, const uint16_t *v, int n, int hex)
{
    int count = 0;
    for (int i = 0; i < n; i++)
        count += v[i] != 0;
    size_t used = 0;
    out[0] = 0;
    for (int i = 0, k = 0; i < n && used < len; i++) {
        if (!v[i])
            continue;
        const char *sep = k == 0 ? "" : (k == count - 1 ? " or " : ", ");
        int w = snprintf(out + used, len - used, "%s", sep);
        if (w > 0)
            used += (size_t)w;
        if (used >= len)
            break;
        w = hex ? snprintf(out + used, len - used, "0x%03X", (unsigned)v[i])
                : snprintf(out + used, len - used, "%u", (unsigned)v[i]);
        if (w > 0)
            used += (size_t)w;
        k++;
    }
}

void pv_chip_dev_ids_str(const pv_chip_part *p, char *out, size_t len)
{
    join(out, len, p->dev_id, 2, 1);
}

void pv_chip_flash_str(const pv_chip_part *p, char *out, size_t len)
{
    join(out, len, p->flash_kb, 4, 0);
}

unsigned pv_chip_sectors(uint32_t flash_kb, pv_flash_sector out[PV_RECIPE_SECTORS_MAX])
{
    if (flash_kb < 128 || (flash_kb > 1024 && flash_kb != 2048))
        return 0;
    uint32_t bank2 = PV_F4_BANK2_OFFSET(flash_kb, 0), end = PV_F4_FLASH_BASE + (flash_kb << 10);
    unsigned n = 0;
    pv_flash_sector s = {.addr = PV_F4_FLASH_BASE, .size = 0, .index = 0};
    while (s.addr + s.size < end && n < PV_RECIPE_SECTORS_MAX &&
           pv_f4_sector_at(flash_kb, bank2, s.addr + s.size, &s) == 0) {
        out[n++] = s;
    }
    /* a size the map does not end exactly on (192 KB) is not a flash size */
    return s.addr + s.size == end ? n : 0;
}
