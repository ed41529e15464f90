/* The key slot format (lib/keyslot): layout and signed message checked against OpenSSL, every bit
 * flip refused, forged slots (another UID, another PSK, another key) refused, foreign UID
 * refused, and the signed message free of the PSK. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/slot_sign.h"
#include "crypto/ed25519.h"
#include "keyslot/keyslot.h"

static const uint8_t uid_a[12] = {0x30, 0x00, 0x41, 0x00, 0x0f, 0x51,
                                  0x33, 0x38, 0x31, 0x34, 0x37, 0x39};

static struct test_slot_key owner, other;

static void sample(pv_keyslot *ks)
{
    memset(ks, 0, sizeof *ks);
    ks->key_id = 7;
    ks->key_version = 2;
    memcpy(ks->uid, uid_a, 12);
    for (int i = 0; i < 32; i++)
        ks->psk[i] = (uint8_t)(0xa0 + i);
    memcpy(ks->signer_pub, owner.pub, 32);
}

/* The signed message as docs/image-format.md gives it, built with OpenSSL's SHA-256. */
static void documented_tbs(uint8_t tbs[96], const uint8_t raw[PV_KEYSLOT_LEN])
{
    uint8_t m[11 + 32];
    unsigned n = 0;
    memcpy(m, "pv-slot-psk", 11);
    memcpy(m + 11, raw + 32, 32);
    memcpy(tbs, raw, 32);
    assert_int_equal(EVP_Digest(m, sizeof m, tbs + 32, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(n, 32);
    memcpy(tbs + 64, raw + 64, 32);
}

static int openssl_verify(const uint8_t sig[64], const uint8_t pub[32], const uint8_t *msg,
                          size_t len)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = k && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(c, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return ok;
}

static void test_round_trip_and_layout(void **state)
{
    (void)state;
    pv_keyslot ks, back;
    uint8_t raw[PV_KEYSLOT_LEN], tbs[96], doc[96];
    sample(&ks);
    test_slot_encode(raw, &ks, &owner);
    /* Layout as documented in keyslot.h. */
    assert_int_equal(PV_KEYSLOT_LEN, 160);
    assert_memory_equal(raw, "PVKS", 4);
    assert_int_equal(raw[4], 2);
    assert_int_equal(raw[6] | raw[7] << 8, 160);
    assert_int_equal(raw[8], 7);
    assert_int_equal(raw[12], 2);
    assert_memory_equal(raw + 16, uid_a, 12);
    assert_memory_equal(raw + 32, ks.psk, 32);
    assert_memory_equal(raw + 64, owner.pub, 32);
    /* The signed message: as documented, verified by OpenSSL under signer_pub. */
    pv_keyslot_tbs(tbs, &ks);
    documented_tbs(doc, raw);
    assert_memory_equal(tbs, doc, 96);
    assert_true(openssl_verify(raw + 96, owner.pub, doc, sizeof doc));
    /* Ed25519 is deterministic: lib/crypto's signer gives OpenSSL's signature. */
    uint8_t seed[32], sig[64];
    size_t n = sizeof seed;
    assert_int_equal(EVP_PKEY_get_raw_private_key(owner.k, seed, &n), 1);
    pv_ed25519_sign(sig, seed, owner.pub, tbs, sizeof tbs);
    assert_memory_equal(sig, raw + 96, 64);

    assert_int_equal(pv_keyslot_decode(&back, raw, uid_a), PV_KEYSLOT_OK);
    assert_int_equal(back.key_id, 7);
    assert_int_equal(back.key_version, 2);
    assert_memory_equal(back.psk, ks.psk, 32);
    assert_memory_equal(back.signer_pub, owner.pub, 32);
    /* Without a UID to compare, any genuine slot decodes. */
    assert_int_equal(pv_keyslot_decode(&back, raw, NULL), PV_KEYSLOT_OK);
}

static void test_signed_message_holds_no_psk(void **state)
{
    (void)state;
    pv_keyslot ks;
    uint8_t tbs[96], tbs2[96];
    sample(&ks);
    pv_keyslot_tbs(tbs, &ks);
    /* No 4-byte run of the PSK appears in what goes to the token and into the signature. */
    for (size_t i = 0; i + 4 <= 32; i++)
        for (size_t j = 0; j + 4 <= sizeof tbs; j++)
            assert_memory_not_equal(tbs + j, ks.psk + i, 4);
    /* ...yet the PSK is bound: another PSK, another message. */
    ks.psk[31] ^= 1;
    pv_keyslot_tbs(tbs2, &ks);
    assert_memory_not_equal(tbs, tbs2, 96);
    assert_memory_equal(tbs, tbs2, 32);
}

static void test_every_bit_flip_refused(void **state)
{
    (void)state;
    pv_keyslot ks, back;
    uint8_t raw[PV_KEYSLOT_LEN];
    sample(&ks);
    test_slot_encode(raw, &ks, &owner);
    int flips = 0;
    for (size_t bit = 0; bit < PV_KEYSLOT_LEN * 8; bit++) {
        raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = pv_keyslot_decode(&back, raw, uid_a);
        assert_int_not_equal(rc, PV_KEYSLOT_OK);
        /* Flips outside magic/format/length must be caught by the signature, never pass. */
        if (bit >= 64)
            assert_int_equal(rc, PV_KEYSLOT_ERR_SIGNATURE);
        raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        flips++;
    }
    assert_int_equal(flips, 1280);
    assert_int_equal(pv_keyslot_decode(&back, raw, uid_a), PV_KEYSLOT_OK);
}

/* What an attacker with a genuine slot and a debugger can make of it for chip B. */
static void test_forged_slots_refused(void **state)
{
    (void)state;
    pv_keyslot ks, back;
    uint8_t raw[PV_KEYSLOT_LEN], forged[PV_KEYSLOT_LEN], uid_b[12];
    sample(&ks);
    test_slot_encode(raw, &ks, &owner);
    memcpy(uid_b, uid_a, 12);
    uid_b[0] ^= 0x80;
    /* B's UID written in, the owner's signature kept */
    memcpy(forged, raw, sizeof forged);
    memcpy(forged + PV_KEYSLOT_UID_OFF, uid_b, 12);
    assert_int_equal(pv_keyslot_decode(&back, forged, uid_b), PV_KEYSLOT_ERR_SIGNATURE);
    /* B's UID, re-signed with the attacker's key, the owner's signer_pub kept */
    pv_keyslot fk = ks;
    memcpy(fk.uid, uid_b, 12);
    test_slot_encode(forged, &fk, &other);
    assert_int_equal(pv_keyslot_decode(&back, forged, uid_b), PV_KEYSLOT_ERR_SIGNATURE);
    /* another PSK in the owner's slot */
    memcpy(forged, raw, sizeof forged);
    forged[40] ^= 0x55;
    assert_int_equal(pv_keyslot_decode(&back, forged, uid_a), PV_KEYSLOT_ERR_SIGNATURE);
    /* A slot the attacker signs for his own key decodes, but names his key as the signer:
     * the owner's images (hash of the owner's key) are then refused by the bootloader. */
    memcpy(fk.signer_pub, other.pub, 32);
    test_slot_encode(forged, &fk, &other);
    assert_int_equal(pv_keyslot_decode(&back, forged, uid_b), PV_KEYSLOT_OK);
    assert_memory_equal(back.signer_pub, other.pub, 32);
    assert_memory_not_equal(back.signer_pub, owner.pub, 32);
    assert_string_equal(pv_keyslot_strerror(PV_KEYSLOT_ERR_SIGNATURE),
                        "key slot signature does not verify (forged, corrupt, or not signed by "
                        "its signer key)");
}

static void test_other_chip_and_erased_flash(void **state)
{
    (void)state;
    pv_keyslot ks, back;
    uint8_t raw[PV_KEYSLOT_LEN], uid_b[12];
    sample(&ks);
    test_slot_encode(raw, &ks, &owner);
    memcpy(uid_b, uid_a, 12);
    uid_b[11] ^= 1;
    /* a byte-for-byte copy on another chip: genuine, but not that chip's */
    assert_int_equal(pv_keyslot_decode(&back, raw, uid_b), PV_KEYSLOT_ERR_UID);
    memset(raw, 0xff, sizeof raw);
    assert_int_equal(pv_keyslot_decode(&back, raw, uid_a), PV_KEYSLOT_ERR_MAGIC);
    assert_string_equal(pv_keyslot_strerror(PV_KEYSLOT_ERR_UID),
                        "key slot belongs to another chip (UID mismatch)");
    /* the format-1 slot (a bare SHA-256, no signature) is no longer accepted */
    sample(&ks);
    test_slot_encode(raw, &ks, &owner);
    raw[4] = 1;
    raw[6] = 128;
    assert_int_equal(pv_keyslot_decode(&back, raw, uid_a), PV_KEYSLOT_ERR_FORMAT);
}

static int setup(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    for (int i = 0; i < 32; i++)
        a[i] = (uint8_t)(0x42 + 3 * i), b[i] = (uint8_t)(0x99 ^ i);
    return test_slot_key_raw(&owner, a) || test_slot_key_raw(&other, b);
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
        cmocka_unit_test(test_round_trip_and_layout),
        cmocka_unit_test(test_signed_message_holds_no_psk),
        cmocka_unit_test(test_every_bit_flip_refused),
        cmocka_unit_test(test_forged_slots_refused),
        cmocka_unit_test(test_other_chip_and_erased_flash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
