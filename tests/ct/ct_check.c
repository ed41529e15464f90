/* The constant-time check of the code that handles secrets (docs/crypto.md, "Constant time"):
 * every secret input (private keys, seeds, nonces derived from them, symmetric keys, PSKs,
 * plaintexts, HMAC keys and messages, the key slot's PSK and UID) is marked undefined, each
 * function is called on it, and valgrind (tests/ct/run_ct_check.sh) fails the run on any branch
 * or memory index that depends on it. Outputs are revealed (they must carry the taint, or the
 * case checked nothing) before the results are compared. Public by design, and declassified in
 * lib/ with PV_DECLASSIFY: the verdict of a tag or digest comparison and X25519's all-zero test.
 *
 *   valgrind --error-exitcode=1 --track-origins=yes build/ct/Os/ct_check */
#include <stdio.h>
#include <string.h>

#include "crypto/chacha20.h"
#include "crypto/chacha20poly1305.h"
#include "crypto/ed25519.h"
#include "crypto/hkdf_sha256.h"
#include "crypto/hmac_sha256.h"
#include "crypto/hmac_sha512.h"
#include "crypto/poly1305.h"
#include "crypto/sha256.h"
#include "crypto/sha512.h"
#include "crypto/x25519.h"
#include "ct/ct_taint.h"
#include "keyslot/keyslot.h"
#include "noise/noise.h"
#include "noise/noise_provider_pv.h"

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = 0x9e3779b9u * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* Lengths around the block sizes of SHA-256 (64), SHA-512 (128), Poly1305 (16) and ChaCha20 (64),
 * and over the HMAC block (keys that are hashed first). */
static const size_t lens[] = {1, 15, 16, 17, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 300};
#define NLENS (sizeof lens / sizeof lens[0])

static void check_x25519(void)
{
    uint8_t a[32], b[32], pa[32], pb[32], s1[32], s2[32], zero[32] = {0};
    fill(a, 32, 1);
    fill(b, 32, 2);
    ct_secret(a, 32);
    ct_secret(b, 32);
    pv_x25519_public(pa, a);
    pv_x25519_public(pb, b);
    ct_reveal("X25519 public key", pa, 32);
    ct_reveal("X25519 public key", pb, 32);
    /* The peer's point secret as well: the ladder is constant time in both. */
    ct_secret(pb, 32);
    int r1 = pv_x25519(s1, a, pb);
    int r2 = pv_x25519(s2, b, pa);
    ct_reveal("X25519 shared secret", s1, 32);
    ct_reveal("X25519 shared secret", s2, 32);
    ct_expect(r1 == 0 && r2 == 0 && memcmp(s1, s2, 32) == 0, "X25519 shared secrets agree");
    /* A low-order point: the all-zero verdict is the one declassified value. */
    int r3 = pv_x25519(s1, a, zero);
    (void)VALGRIND_MAKE_MEM_DEFINED(s1, 32);
    ct_expect(r3 == -1, "X25519 refuses the zero point");
}

static void check_ed25519(void)
{
    static const size_t mlen[] = {0, 1, 64, 200};
    uint8_t seed[32], pub[32], sig[64], msg[200];
    for (size_t i = 0; i < sizeof mlen / sizeof mlen[0]; i++) {
        fill(seed, 32, 10 + (unsigned)i);
        fill(msg, sizeof msg, 20 + (unsigned)i);
        ct_secret(seed, 32);
        pv_ed25519_public(pub, seed);
        ct_reveal("Ed25519 public key", pub, 32);
        /* The message too: signing hashes it, nothing else may look at it. */
        ct_secret(msg, mlen[i]);
        pv_ed25519_sign(sig, seed, pub, msg, mlen[i]);
        ct_reveal("Ed25519 signature", sig, 64);
        (void)VALGRIND_MAKE_MEM_DEFINED(msg, sizeof msg);
        ct_expect(pv_ed25519_verify(sig, pub, msg, mlen[i]) == 0, "Ed25519 signature verifies");
    }
}

static void check_aead(void)
{
    uint8_t key[32], nonce[12], ad[40], pt[300], ct[300], out[300], tag[16];
    for (size_t i = 0; i < NLENS; i++) {
        size_t n = lens[i], adn = i % 3 ? 13 : 0;
        fill(key, 32, 30 + (unsigned)i);
        fill(nonce, 12, 31);
        fill(ad, sizeof ad, 32);
        fill(pt, n, 33);
        ct_secret(key, 32);
        ct_secret(pt, n);
        ct_secret(ad, adn); /* AD is usually public; nothing may look at it either */
        pv_aead_encrypt(ct, tag, key, nonce, ad, adn, pt, n);
        ct_reveal("ChaCha20-Poly1305 ciphertext", ct, n);
        ct_reveal("ChaCha20-Poly1305 tag", tag, 16);
        ct_expect(pv_aead_decrypt(out, key, nonce, ad, adn, ct, n, tag) == 0,
                  "ChaCha20-Poly1305 opens its own message");
        ct_reveal("ChaCha20-Poly1305 plaintext", out, n);
        (void)VALGRIND_MAKE_MEM_DEFINED(pt, n);
        ct_expect(memcmp(out, pt, n) == 0, "ChaCha20-Poly1305 round trip");
        /* A forged tag: the comparison's verdict is public, the key and tag bytes are not. */
        tag[i % 16] ^= 1;
        memset(out, 0xa5, n);
        ct_expect(pv_aead_decrypt(out, key, nonce, ad, adn, ct, n, tag) == -1,
                  "ChaCha20-Poly1305 refuses a forged tag");
        ct_expect(out[0] == 0xa5 && out[n - 1] == 0xa5, "no plaintext after a forged tag");
    }

    /* The primitives on their own. */
    uint8_t msg[300];
    pv_poly1305_ctx pc;
    fill(key, 32, 40);
    fill(msg, sizeof msg, 41);
    ct_secret(key, 32);
    ct_secret(msg, sizeof msg);
    pv_poly1305_init(&pc, key);
    pv_poly1305_update(&pc, msg, 7);
    pv_poly1305_update(&pc, msg + 7, sizeof msg - 7);
    pv_poly1305_final(&pc, tag);
    ct_reveal("Poly1305 tag", tag, 16);
    pv_chacha20_xor(out, msg, sizeof msg, key, nonce, 7);
    ct_reveal("ChaCha20 output", out, sizeof msg);
}

static void check_hashes(void)
{
    uint8_t key[200], msg[300], d256[32], d512[64], okm[100], prk[32];
    for (size_t i = 0; i < NLENS; i++) {
        size_t n = lens[i];
        fill(msg, n, 50 + (unsigned)i);
        ct_secret(msg, n);
        pv_sha256(d256, msg, n);
        ct_reveal("SHA-256 digest", d256, 32);
        pv_sha512(d512, msg, n);
        ct_reveal("SHA-512 digest", d512, 64);

        /* HMAC keys of every length class: below, at and above each block size. */
        size_t kn = n < sizeof key ? n : sizeof key;
        fill(key, kn, 60 + (unsigned)i);
        ct_secret(key, kn);
        pv_hmac_sha256(d256, key, kn, msg, n);
        ct_reveal("HMAC-SHA256", d256, 32);
        pv_hmac_sha512(d512, key, kn, msg, n);
        ct_reveal("HMAC-SHA512", d512, 64);

        /* HKDF: secret input key material and PRK, a public salt and info. */
        pv_hkdf_sha256_extract(prk, "salt", 4, key, kn);
        ct_reveal("HKDF-SHA256 PRK", prk, 32);
        ct_secret(prk, 32);
        size_t on = n < sizeof okm ? n : sizeof okm;
        ct_expect(pv_hkdf_sha256_expand(okm, on, prk, 32, "info", 4) == 0, "HKDF expand");
        ct_reveal("HKDF-SHA256 output", okm, on);
        ct_expect(pv_hkdf_sha256(okm, on, NULL, 0, key, kn, msg, n) == 0, "HKDF");
        ct_reveal("HKDF-SHA256 output", okm, on);
    }
}

static void check_keyslot(void)
{
    pv_keyslot ks, back;
    uint8_t raw[PV_KEYSLOT_LEN], uid[12], seed[32], tbs[PV_KEYSLOT_TBS_LEN], sig[64];
    memset(&ks, 0, sizeof ks);
    ks.key_id = 7;
    ks.key_version = 1;
    fill(ks.uid, 12, 70);
    fill(ks.psk, 32, 71);
    fill(seed, 32, 72);
    pv_ed25519_public(ks.signer_pub, seed);
    /* The PSK is the secret; the UID the slot is compared with is marked too, to check that the
     * comparison does not stop at the first differing byte. (The slot's own UID is signed, and
     * Ed25519 verification is variable time on public data, so it stays public.) */
    ct_secret(ks.psk, 32);
    pv_keyslot_tbs(tbs, &ks); /* the PSK's commitment is declassified inside */
    ct_expect(!ct_tainted(tbs, sizeof tbs), "key slot signed message free of the PSK's taint");
    pv_ed25519_sign(sig, seed, ks.signer_pub, tbs, sizeof tbs);
    pv_keyslot_encode(raw, &ks, sig);
    memcpy(uid, ks.uid, 12);
    ct_secret(uid, 12);
    ct_expect(pv_keyslot_decode(&back, raw, uid) == PV_KEYSLOT_OK, "key slot decodes");
    ct_reveal("key slot PSK", back.psk, 32);
    (void)VALGRIND_MAKE_MEM_DEFINED(ks.psk, 32);
    ct_expect(memcmp(back.psk, ks.psk, 32) == 0, "key slot PSK round trip");

    (void)VALGRIND_MAKE_MEM_DEFINED(uid, 12);
    uid[11] ^= 0x80; /* another chip, differing in the last byte only */
    ct_secret(uid, 12);
    ct_expect(pv_keyslot_decode(&back, raw, uid) == PV_KEYSLOT_ERR_UID, "foreign UID refused");
    (void)VALGRIND_MAKE_MEM_DEFINED(uid, 12);
    uid[11] ^= 0x80;
    raw[40] ^= 1; /* another PSK: its commitment, and so the signature, no longer match */
    ct_expect(pv_keyslot_decode(&back, raw, uid) == PV_KEYSLOT_ERR_SIGNATURE,
              "forged slot refused");
}

/* One handshake of pattern pat with every secret marked, then transport both ways (a forged
 * message refused), rekey, and transport again. */
static void check_noise_pattern(const pv_noise_pattern *pat, unsigned seed)
{
    const pv_noise_provider *p = &pv_noise_provider_pv;
    uint8_t si[32], ei[32], sr[32], er[32], psk[32], si_pub[32], sr_pub[32];
    uint8_t payload[40], msg[200], out[200];
    pv_noise_handshake hi, hr;
    fill(si, 32, seed), fill(ei, 32, seed + 1), fill(sr, 32, seed + 2);
    fill(er, 32, seed + 3), fill(psk, 32, seed + 4), fill(payload, sizeof payload, seed + 5);
    ct_secret(si, 32), ct_secret(ei, 32), ct_secret(sr, 32), ct_secret(er, 32);
    ct_secret(psk, 32);
    pv_x25519_public(si_pub, si);
    pv_x25519_public(sr_pub, sr);
    ct_reveal("Noise static public key", si_pub, 32);
    ct_reveal("Noise static public key", sr_pub, 32);

    pv_noise_keys ki = {{[PV_NOISE_KEY_S] = si,
                         [PV_NOISE_KEY_E] = ei,
                         [PV_NOISE_KEY_PSK] = psk,
                         [PV_NOISE_KEY_RS] = (pat->flags & PV_NOISE_PRE_RS) ? sr_pub : NULL}};
    pv_noise_keys kr = {{[PV_NOISE_KEY_S] = sr,
                         [PV_NOISE_KEY_E] = er,
                         [PV_NOISE_KEY_PSK] = psk,
                         [PV_NOISE_KEY_RS] = (pat->flags & PV_NOISE_PRE_IS) ? si_pub : NULL}};
    ct_expect(pv_noise_handshake_init(&hi, p, pat, 1, (const uint8_t *)"pro", 3, &ki) == 0,
              pat->name);
    ct_expect(pv_noise_handshake_init(&hr, p, pat, 0, (const uint8_t *)"pro", 3, &kr) == 0,
              pat->name);
    for (unsigned m = 0; m < pat->nmsg; m++) {
        pv_noise_handshake *w = m & 1 ? &hr : &hi, *r = m & 1 ? &hi : &hr;
        ct_secret(payload, sizeof payload);
        int n = pv_noise_handshake_write(w, payload, sizeof payload, msg, sizeof msg);
        ct_expect(n > 0, "Noise handshake write");
        if (n <= 0)
            return;
        ct_reveal("Noise handshake message", msg, (size_t)n);
        int k = pv_noise_handshake_read(r, msg, (size_t)n, out, sizeof out);
        ct_expect(k == (int)sizeof payload, "Noise handshake read");
        (void)VALGRIND_MAKE_MEM_DEFINED(out, sizeof payload);
        (void)VALGRIND_MAKE_MEM_DEFINED(payload, sizeof payload);
        ct_expect(k == (int)sizeof payload && memcmp(out, payload, sizeof payload) == 0,
                  "Noise handshake payload");
    }
    uint8_t hash_i[32], hash_r[32];
    pv_noise_cipherstate ti, ri, tr, rr;
    ct_expect(pv_noise_handshake_hash(&hi, hash_i) == 0 &&
                  pv_noise_handshake_hash(&hr, hash_r) == 0,
              "Noise handshake hash");
    (void)VALGRIND_MAKE_MEM_DEFINED(hash_i, 32);
    (void)VALGRIND_MAKE_MEM_DEFINED(hash_r, 32);
    ct_expect(memcmp(hash_i, hash_r, 32) == 0, "Noise handshake hashes agree");
    ct_expect(pv_noise_handshake_split(&hi, &ti, &ri) == 0, "Noise split");
    ct_expect(pv_noise_handshake_split(&hr, &tr, &rr) == 0, "Noise split");

    for (int round = 0; round < 2; round++) {
        /* Initiator to responder; the other way too unless the pattern is one-way. */
        for (int dir = 0; dir < (pat->nmsg == 1 ? 1 : 2); dir++) {
            pv_noise_cipherstate *tx = dir ? &tr : &ti, *rx = dir ? &ri : &rr;
            ct_secret(payload, sizeof payload);
            int n = pv_noise_cipher_encrypt(tx, NULL, 0, payload, sizeof payload, msg, sizeof msg);
            ct_expect(n == (int)sizeof payload + 16, "Noise transport encrypt");
            ct_reveal("Noise transport message", msg, sizeof payload + 16);
            msg[3] ^= 4;
            ct_expect(pv_noise_cipher_decrypt(rx, NULL, 0, msg, sizeof payload + 16, out,
                                              sizeof out) == PV_NOISE_ERR_DECRYPT,
                      "Noise refuses a forged transport message");
            msg[3] ^= 4;
            int k = pv_noise_cipher_decrypt(rx, NULL, 0, msg, sizeof payload + 16, out, sizeof out);
            ct_expect(k == (int)sizeof payload, "Noise transport decrypt");
            ct_reveal("Noise transport plaintext", out, sizeof payload);
            (void)VALGRIND_MAKE_MEM_DEFINED(payload, sizeof payload);
            ct_expect(memcmp(out, payload, sizeof payload) == 0, "Noise transport round trip");
        }
        ct_expect(pv_noise_cipher_rekey(&ti) == 0 && pv_noise_cipher_rekey(&rr) == 0,
                  "Noise rekey");
        if (pat->nmsg > 1)
            ct_expect(pv_noise_cipher_rekey(&tr) == 0 && pv_noise_cipher_rekey(&ri) == 0,
                      "Noise rekey");
    }
    pv_noise_cipher_wipe(&ti), pv_noise_cipher_wipe(&ri);
    pv_noise_cipher_wipe(&tr), pv_noise_cipher_wipe(&rr);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (!ct_under_valgrind(argv[0]))
        return 2;
    check_x25519();
    check_ed25519();
    check_aead();
    check_hashes();
    check_keyslot();
    size_t np = pv_noise_pattern_count();
    for (size_t i = 0; i < np; i++)
        check_noise_pattern(pv_noise_pattern_at(i), 100 + 10 * (unsigned)i);
    printf("ct_check: X25519, Ed25519 signing, ChaCha20-Poly1305, Poly1305, ChaCha20, SHA-256, "
           "SHA-512, HMAC-SHA256/512, HKDF-SHA256, key slot, Noise (%zu patterns): %s\n",
           np, ct_failures ? "FAILED" : "done");
    return ct_failures ? 1 : 0;
}
