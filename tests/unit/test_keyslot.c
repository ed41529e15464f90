/* The key slot format (lib/keyslot): round trip, every bit flip detected, foreign UID refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "crypto/sha256.h"
#include "keyslot/keyslot.h"

static const uint8_t uid_a[12] = {0x30, 0x00, 0x41, 0x00, 0x0f, 0x51,
                                  0x33, 0x38, 0x31, 0x34, 0x37, 0x39};

static void sample(pv_keyslot *ks)
{
    memset(ks, 0, sizeof *ks);
    ks->key_id = 7;
    ks->key_version = 2;
    memcpy(ks->uid, uid_a, 12);
    for (int i = 0; i < 32; i++) {
        ks->psk[i] = (uint8_t)(0xa0 + i);
        ks->signer_pub[i] = (uint8_t)(0x10 + i);
    }
}

static void test_round_trip_and_layout(void **state)
{
    (void)state;
    pv_keyslot ks, back;
    uint8_t raw[PV_KEYSLOT_LEN], digest[32];
    sample(&ks);
    pv_keyslot_encode(raw, &ks);
    /* Layout as documented in keyslot.h. */
    assert_memory_equal(raw, "PVKS", 4);
    assert_int_equal(raw[4], 1);
    assert_int_equal(raw[6] | raw[7] << 8, 128);
    assert_int_equal(raw[8], 7);
    assert_int_equal(raw[12], 2);
    assert_memory_equal(raw + 16, uid_a, 12);
    assert_memory_equal(raw + 32, ks.psk, 32);
    assert_memory_equal(raw + 64, ks.signer_pub, 32);
    pv_sha256(digest, raw, 96);
    assert_memory_equal(raw + 96, digest, 32);

    assert_int_equal(pv_keyslot_decode(&back, raw, uid_a), PV_KEYSLOT_OK);
    assert_int_equal(back.key_id, 7);
    assert_int_equal(back.key_version, 2);
    assert_memory_equal(back.psk, ks.psk, 32);
    assert_memory_equal(back.signer_pub, ks.signer_pub, 32);
    /* Without a UID to compare, any intact slot decodes. */
    assert_int_equal(pv_keyslot_decode(&back, raw, NULL), PV_KEYSLOT_OK);
}

static void test_every_bit_flip_refused(void **state)
{
    (void)state;
    pv_keyslot ks, back;
    uint8_t raw[PV_KEYSLOT_LEN];
    sample(&ks);
    pv_keyslot_encode(raw, &ks);
    int flips = 0;
    for (size_t bit = 0; bit < PV_KEYSLOT_LEN * 8; bit++) {
        raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = pv_keyslot_decode(&back, raw, uid_a);
        assert_int_not_equal(rc, PV_KEYSLOT_OK);
        /* Flips outside magic/format/length must be caught by the digest, never pass. */
        if (bit >= 64)
            assert_int_equal(rc, PV_KEYSLOT_ERR_DIGEST);
        raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        flips++;
    }
    assert_int_equal(flips, 1024);
    assert_int_equal(pv_keyslot_decode(&back, raw, uid_a), PV_KEYSLOT_OK);
}

static void test_other_chip_and_erased_flash(void **state)
{
    (void)state;
    pv_keyslot ks, back;
    uint8_t raw[PV_KEYSLOT_LEN], uid_b[12];
    sample(&ks);
    pv_keyslot_encode(raw, &ks);
    memcpy(uid_b, uid_a, 12);
    uid_b[11] ^= 1;
    assert_int_equal(pv_keyslot_decode(&back, raw, uid_b), PV_KEYSLOT_ERR_UID);
    memset(raw, 0xff, sizeof raw);
    assert_int_equal(pv_keyslot_decode(&back, raw, uid_a), PV_KEYSLOT_ERR_MAGIC);
    assert_string_equal(pv_keyslot_strerror(PV_KEYSLOT_ERR_UID),
                        "key slot belongs to another chip (UID mismatch)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_layout),
        cmocka_unit_test(test_every_bit_flip_refused),
        cmocka_unit_test(test_other_chip_and_erased_flash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
