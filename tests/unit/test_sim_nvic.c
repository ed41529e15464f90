/* The sim's NVIC register banks end where its 96 interrupt lines do: the fourth word of ISER, ICER,
 * ISPR, ICPR and IABR reads as zero and ignores writes, as on an STM32F427 (ICTR = 2). A debugger
 * write to ISPR3 used to set bytes past the pending table, i.e. mark system exceptions and the
 * first IRQs active; fuzz_sim_dap found the out-of-bounds read of ISER3 that led here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sim_chip_util.h"

#define ISER0 0xE000E100u
#define ICER0 0xE000E180u
#define ISPR0 0xE000E200u
#define ICPR0 0xE000E280u
#define IABR0 0xE000E300u
#define SHCSR 0xE000ED24u

static void test_fourth_word_is_raz_wi(void **state)
{
    (void)state;
    struct tchip t;
    chip_t *c = tchip_open(&t, 31, false);
    chip_halt(c);
    for (uint32_t bank = ISER0; bank <= IABR0; bank += 0x80u) {
        wr32(c, bank + 12, 0xFFFFFFFFu);
        assert_int_equal(rd32(c, bank + 12), 0);
    }
    /* Nothing else changed: no exception active or pending, no line enabled. */
    for (uint32_t w = 0; w < 3; w++) {
        assert_int_equal(rd32(c, ISER0 + 4 * w), 0);
        assert_int_equal(rd32(c, ISPR0 + 4 * w), 0);
        assert_int_equal(rd32(c, IABR0 + 4 * w), 0);
    }
    assert_int_equal(rd32(c, SHCSR) & 0xFFFu, 0);
    /* The three real words still work. */
    wr32(c, ISER0 + 8, 1u << 5);
    assert_int_equal(rd32(c, ISER0 + 8), 1u << 5);
    assert_int_equal(rd32(c, ICER0 + 8), 1u << 5);
    wr32(c, ICER0 + 8, 1u << 5);
    assert_int_equal(rd32(c, ISER0 + 8), 0);
    wr32(c, ISPR0 + 8, 1u << 5);
    assert_int_equal(rd32(c, ICPR0 + 8), 1u << 5);
    wr32(c, ICPR0 + 8, 1u << 5);
    assert_int_equal(rd32(c, ISPR0 + 8), 0);
    tchip_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fourth_word_is_raz_wi)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
