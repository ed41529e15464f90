/* The per-device data record (lib/devdata, docs/device-data.md): the documented layout, signed by
 * OpenSSL's Ed25519 and checked by the device code; every bit flip, another chip's UID, another
 * key and erased flash refused; malformed fields refused when building. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "common/slot_sign.h"
#include "devdata/devdata.h"

static const uint8_t uid_a[12] = {0x30, 0x00, 0x41, 0x00, 0x0f, 0x51,
                                  0x33, 0x38, 0x31, 0x34, 0x37, 0x39};
static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x10, 0x2a};

static struct test_slot_key owner, other;

/* A record with a serial, a MAC and an integer, signed by k; returns its length. */
static size_t sample(uint8_t rec[PV_DEVDATA_MAX], struct test_slot_key *k)
{
    pv_devdata_builder b;
    uint8_t i8[8] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* -2 */
    char err[128];
    assert_int_equal(pv_devdata_begin(&b, rec, PV_DEVDATA_MAX, uid_a), PV_DEVDATA_OK);
    assert_int_equal(
        pv_devdata_add(&b, PV_DEVDATA_TEXT, "serial", (const uint8_t *)"SN-7-000042", 11),
        PV_DEVDATA_OK);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_MAC, "mac", mac, 6), PV_DEVDATA_OK);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_INT, "trim", i8, 8), PV_DEVDATA_OK);
    size_t body = pv_devdata_finish(&b);
    assert_true(body > 0 && body % 4 == 0);
    assert_int_equal(test_slot_sign(k, rec, body, rec + body, err, sizeof err), 0);
    return body + PV_DEVDATA_SIG_LEN;
}

static void test_layout_as_documented(void **state)
{
    (void)state;
    uint8_t rec[PV_DEVDATA_MAX];
    size_t len = sample(rec, &owner), got = 0;
    assert_memory_equal(rec, "PVDD\x01\x00", 6);
    assert_int_equal(rec[6] | rec[7] << 8, len);
    assert_memory_equal(rec + 8, uid_a, 12);
    assert_int_equal(rec[20], 3);
    /* first field: type 1, name length 6, value length 11, 0, "serial", "SN-7-000042" */
    assert_memory_equal(rec + 24, "\x01\x06\x0b\x00serialSN-7-000042", 4 + 6 + 11);
    assert_memory_equal(rec + 45, "\x02\x03\x06\x00mac", 7);
    assert_memory_equal(rec + 52, mac, 6);
    assert_int_equal(pv_devdata_check(rec, sizeof rec, owner.pub, uid_a, &got), PV_DEVDATA_OK);
    assert_int_equal(got, len);
    unsigned type = 0;
    const uint8_t *v;
    size_t vlen;
    assert_int_equal(pv_devdata_find(rec, "mac", &type, &v, &vlen), PV_DEVDATA_OK);
    assert_int_equal(type, PV_DEVDATA_MAC);
    assert_memory_equal(v, mac, 6);
    assert_int_equal(pv_devdata_find(rec, "serial", &type, &v, &vlen), PV_DEVDATA_OK);
    assert_int_equal(vlen, 11);
    assert_memory_equal(v, "SN-7-000042", 11);
    assert_int_equal(pv_devdata_find(rec, "seria", &type, &v, &vlen), PV_DEVDATA_ERR_ABSENT);
}

static void test_every_bit_flip_refused(void **state)
{
    (void)state;
    uint8_t rec[PV_DEVDATA_MAX];
    size_t len = sample(rec, &owner);
    for (size_t i = 0; i < len * 8; i++) {
        rec[i / 8] ^= (uint8_t)(1u << (i % 8));
        int rc = pv_devdata_check(rec, sizeof rec, owner.pub, uid_a, NULL);
        if (rc == PV_DEVDATA_OK)
            fail_msg("bit %zu flipped and the record still checks", i);
        rec[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    assert_int_equal(pv_devdata_check(rec, sizeof rec, owner.pub, uid_a, NULL), PV_DEVDATA_OK);
}

static void test_tampered_records_refused(void **state)
{
    (void)state;
    uint8_t rec[PV_DEVDATA_MAX], uid_b[12];
    sample(rec, &owner);
    memcpy(uid_b, uid_a, 12);
    uid_b[11] ^= 1;
    /* another chip's record copied here */
    assert_int_equal(pv_devdata_check(rec, sizeof rec, owner.pub, uid_b, NULL), PV_DEVDATA_ERR_UID);
    /* signed by anyone but the product's image-signing key */
    assert_int_equal(pv_devdata_check(rec, sizeof rec, other.pub, uid_a, NULL),
                     PV_DEVDATA_ERR_SIGNATURE);
    sample(rec, &other);
    assert_int_equal(pv_devdata_check(rec, sizeof rec, owner.pub, uid_a, NULL),
                     PV_DEVDATA_ERR_SIGNATURE);
    /* a serial edited in place (same length): the signature fails */
    sample(rec, &owner);
    rec[24 + 4 + 6 + 10] = '3';
    assert_int_equal(pv_devdata_check(rec, sizeof rec, owner.pub, uid_a, NULL),
                     PV_DEVDATA_ERR_SIGNATURE);
    /* erased flash, a length beyond what is readable, a truncated read */
    memset(rec, 0xff, sizeof rec);
    assert_int_equal(pv_devdata_check(rec, sizeof rec, owner.pub, uid_a, NULL),
                     PV_DEVDATA_ERR_MAGIC);
    size_t len = sample(rec, &owner);
    assert_int_equal(pv_devdata_check(rec, len - 4, owner.pub, uid_a, NULL), PV_DEVDATA_ERR_FORMAT);
    rec[6] = 0xfc, rec[7] = 0xff;
    assert_int_equal(pv_devdata_check(rec, sizeof rec, owner.pub, uid_a, NULL),
                     PV_DEVDATA_ERR_FORMAT);
}

static void test_malformed_fields_refused(void **state)
{
    (void)state;
    uint8_t rec[PV_DEVDATA_MAX], big[PV_DEVDATA_VALUE_MAX];
    pv_devdata_builder b;
    memset(big, 'x', sizeof big);
    assert_int_equal(pv_devdata_begin(&b, rec, sizeof rec, uid_a), PV_DEVDATA_OK);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "Serial", big, 3), PV_DEVDATA_ERR_FULL);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "", big, 3), PV_DEVDATA_ERR_FULL);
    assert_int_equal(
        pv_devdata_add(&b, PV_DEVDATA_TEXT, "a_name_of_thirty_two_characters_", big, 3),
        PV_DEVDATA_ERR_FULL);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "t", (const uint8_t *)"a\nb", 3),
                     PV_DEVDATA_ERR_FULL);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_MAC, "mac", mac, 5), PV_DEVDATA_ERR_FULL);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "t", big, 3), PV_DEVDATA_OK);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "t", big, 3), PV_DEVDATA_ERR_FULL);
    /* fills up: 3 more fields of 255 fit in 1024 - 64 - 24 - 7, the fourth does not */
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "a", big, sizeof big), PV_DEVDATA_OK);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "b", big, sizeof big), PV_DEVDATA_OK);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "c", big, sizeof big), PV_DEVDATA_OK);
    assert_int_equal(pv_devdata_add(&b, PV_DEVDATA_TEXT, "d", big, sizeof big),
                     PV_DEVDATA_ERR_FULL);
    assert_int_equal(rec[20], 4);
    assert_true(pv_devdata_finish(&b) + PV_DEVDATA_SIG_LEN <= PV_DEVDATA_MAX);
}

static int setup(void **state)
{
    (void)state;
    uint8_t a[32], c[32];
    for (int i = 0; i < 32; i++)
        a[i] = (uint8_t)(i + 1), c[i] = (uint8_t)(0x80 + i);
    return test_slot_key_raw(&owner, a) || test_slot_key_raw(&other, c);
}

static int teardown(void **state)
{
    (void)state;
    test_slot_key_free(&owner);
    test_slot_key_free(&other);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_as_documented),
        cmocka_unit_test(test_every_bit_flip_refused),
        cmocka_unit_test(test_tampered_records_refused),
        cmocka_unit_test(test_malformed_fields_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
