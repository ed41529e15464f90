/* The STM32F4 sector map (lib/hal/stm32f4_sectors.c) against the reference manual's tables
 * (RM0090 Tables 5-7), written out here as the manual prints them, and the recipe's sector list
 * built from it (pv_chip_sectors). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "../../hsm-bridge/recipe_chip.h"
#include "hal/stm32f4_sectors.h"

/* RM0090 Table 6 (2 MB, dual bank): sector number, start address, size in KB. */
static const struct {
    uint16_t index;
    uint32_t addr, kb;
} dual_2m[24] = {
    {0, 0x08000000, 16},   {1, 0x08004000, 16},   {2, 0x08008000, 16},   {3, 0x0800C000, 16},
    {4, 0x08010000, 64},   {5, 0x08020000, 128},  {6, 0x08040000, 128},  {7, 0x08060000, 128},
    {8, 0x08080000, 128},  {9, 0x080A0000, 128},  {10, 0x080C0000, 128}, {11, 0x080E0000, 128},
    {12, 0x08100000, 16},  {13, 0x08104000, 16},  {14, 0x08108000, 16},  {15, 0x0810C000, 16},
    {16, 0x08110000, 64},  {17, 0x08120000, 128}, {18, 0x08140000, 128}, {19, 0x08160000, 128},
    {20, 0x08180000, 128}, {21, 0x081A0000, 128}, {22, 0x081C0000, 128}, {23, 0x081E0000, 128},
};

static void expect_sector(uint32_t kb, uint32_t bank2, uint32_t addr, uint16_t index,
                          uint32_t start, uint32_t size)
{
    pv_flash_sector s;
    memset(&s, 0xA5, sizeof s);
    assert_int_equal(pv_f4_sector_at(kb, bank2, addr, &s), PV_FLASH_OK);
    assert_int_equal(s.index, index);
    assert_int_equal(s.addr, start);
    assert_int_equal(s.size, size);
}

static void test_dual_bank_2m_every_sector(void **state)
{
    (void)state;
    uint32_t bank2 = PV_F4_BANK2_OFFSET(2048u, 0);
    assert_int_equal(bank2, 0x100000);
    for (size_t i = 0; i < 24; i++) {
        uint32_t a = dual_2m[i].addr, z = dual_2m[i].kb * 1024u;
        /* first byte, a word in the middle, last byte */
        expect_sector(2048, bank2, a, dual_2m[i].index, a, z);
        expect_sector(2048, bank2, a + z / 2 + 4, dual_2m[i].index, a, z);
        expect_sector(2048, bank2, a + z - 1, dual_2m[i].index, a, z);
    }
    pv_flash_sector s;
    assert_int_equal(pv_f4_sector_at(2048, bank2, 0x08200000, &s), PV_FLASH_ERR_RANGE);
    assert_int_equal(pv_f4_sector_at(2048, bank2, 0x07FFFFFF, &s), PV_FLASH_ERR_RANGE);
    assert_int_equal(pv_f4_sector_at(2048, bank2, 0x20000000, &s), PV_FLASH_ERR_RANGE);
}

static void test_single_bank_sizes(void **state)
{
    (void)state;
    /* 1 MB with DB1M clear (the factory setting): RM0090 Table 5, sectors 0-11 */
    assert_int_equal(PV_F4_BANK2_OFFSET(1024u, 0), 0);
    for (size_t i = 0; i < 12; i++)
        expect_sector(1024, 0, dual_2m[i].addr, dual_2m[i].index, dual_2m[i].addr,
                      dual_2m[i].kb * 1024u);
    pv_flash_sector s;
    assert_int_equal(pv_f4_sector_at(1024, 0, 0x08100000, &s), PV_FLASH_ERR_RANGE);
    /* 128 KB (F401): 4 x 16 KB, 64 KB; 256 KB ends with one 128 KB sector */
    expect_sector(128, 0, 0x0801FFFF, 4, 0x08010000, 0x10000);
    assert_int_equal(pv_f4_sector_at(128, 0, 0x08020000, &s), PV_FLASH_ERR_RANGE);
    expect_sector(256, 0, 0x0803FFFC, 5, 0x08020000, 0x20000);
    /* DB1M is only a 1 MB part's: other sizes stay single bank whatever the bit says */
    assert_int_equal(PV_F4_BANK2_OFFSET(512u, 1), 0);
    assert_int_equal(PV_F4_BANK2_OFFSET(2048u, 1), 0x100000);
}

static void test_1m_db1m_dual_bank(void **state)
{
    (void)state;
    /* RM0090 Table 7: 1 MB with DB1M set, two banks of 512 KB, bank 2 from sector 12 */
    uint32_t bank2 = PV_F4_BANK2_OFFSET(1024u, 1);
    assert_int_equal(bank2, 0x80000);
    expect_sector(1024, bank2, 0x08060000, 7, 0x08060000, 0x20000);
    expect_sector(1024, bank2, 0x0807FFFF, 7, 0x08060000, 0x20000);
    expect_sector(1024, bank2, 0x08080000, 12, 0x08080000, 0x4000);
    expect_sector(1024, bank2, 0x0808C000, 15, 0x0808C000, 0x4000);
    expect_sector(1024, bank2, 0x08090000, 16, 0x08090000, 0x10000);
    expect_sector(1024, bank2, 0x080FFFFF, 19, 0x080E0000, 0x20000);
}

static void test_recipe_sector_list(void **state)
{
    (void)state;
    pv_flash_sector list[PV_RECIPE_SECTORS_MAX];
    assert_int_equal(pv_chip_sectors(2048, list), 24);
    for (size_t i = 0; i < 24; i++) {
        assert_int_equal(list[i].index, dual_2m[i].index);
        assert_int_equal(list[i].addr, dual_2m[i].addr);
        assert_int_equal(list[i].size, dual_2m[i].kb * 1024u);
    }
    assert_int_equal(pv_chip_sectors(1024, list), 12);
    assert_int_equal(list[11].addr + list[11].size, 0x08100000);
    assert_int_equal(pv_chip_sectors(384, list), 7);
    assert_int_equal(list[6].addr + list[6].size, 0x08060000);
    /* sizes no STM32F4 has: the map does not end on them, or they exceed two banks */
    assert_int_equal(pv_chip_sectors(192, list), 0);
    assert_int_equal(pv_chip_sectors(64, list), 0);
    assert_int_equal(pv_chip_sectors(1536, list), 0);
    assert_int_equal(pv_chip_sectors(4096, list), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dual_bank_2m_every_sector),
        cmocka_unit_test(test_single_bank_sizes),
        cmocka_unit_test(test_1m_db1m_dual_bank),
        cmocka_unit_test(test_recipe_sector_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
