/* Noise (revision 34, 25519_ChaChaPoly_SHA256): every cacophony vector with both providers (and
 * mixed), cross-provider random sessions, and the failure paths: tampering, replay, wrong keys,
 * small buffers, nonce exhaustion, low-order points, state misuse and wiping. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/test_rng.h"
#include "common/vectors.h"
#include "host/noise_provider_openssl.h"
#include "noise/noise.h"
#include "noise/noise_provider_pv.h"

#define N_VECTORS 59
#define BUF       2048

static const pv_noise_provider *const prov[2] = {&pv_noise_provider_pv, &pv_noise_provider_openssl};

/* The keys for Initialize in the order s, e, rs, re, psk. */
static pv_noise_keys keys_of(const uint8_t *s, const uint8_t *e, const uint8_t *rs,
                             const uint8_t *re, const uint8_t *psk)
{
    pv_noise_keys k = {{[PV_NOISE_KEY_S] = s,
                        [PV_NOISE_KEY_E] = e,
                        [PV_NOISE_KEY_RS] = rs,
                        [PV_NOISE_KEY_RE] = re,
                        [PV_NOISE_KEY_PSK] = psk}};
    return k;
}

/* Asserts a Noise call succeeded (>= 0) and gives the length it returned. */
#define OK(call) ok_len((call), #call, __LINE__)
static size_t ok_len(int rc, const char *what, int line)
{
    if (rc < 0)
        fail_msg("line %d: %s returned %d", line, what, rc);
    return (size_t)rc;
}

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

/* ---- cacophony vectors ----------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n;
} blob;

/* An optional hex member (p == NULL if absent). */
static blob opt_hex(const json_t *v, const char *key)
{
    blob b = {NULL, 0};
    if (json_object_get(v, key))
        b.p = tv_hex_field(v, key, &b.n);
    return b;
}

/* The first element of an optional array of hex strings (the vectors carry at most one PSK). */
static blob opt_psk(const json_t *v, const char *key)
{
    blob b = {NULL, 0};
    const json_t *a = json_object_get(v, key);
    if (a) {
        assert_true(json_is_array(a));
        assert_int_equal(json_array_size(a), 1);
        b.p = tv_hex(json_string_value(json_array_get(a, 0)), &b.n);
        assert_int_equal(b.n, 32);
    }
    return b;
}

static void check_key_len(blob b)
{
    if (b.p)
        assert_int_equal(b.n, 32);
}

static unsigned vectors_run[2][2]; /* [initiator provider][responder provider] */

static void run_vector(const json_t *v, const pv_noise_provider *pi, const pv_noise_provider *pr)
{
    const char *name = json_string_value(json_object_get(v, "protocol_name"));
    assert_non_null(name);
    const pv_noise_pattern *pat = pv_noise_pattern_find(name);
    if (!pat)
        fail_msg("no pattern for %s", name);

    blob ipro = opt_hex(v, "init_prologue"), rpro = opt_hex(v, "resp_prologue");
    blob is = opt_hex(v, "init_static"), ie = opt_hex(v, "init_ephemeral");
    blob irs = opt_hex(v, "init_remote_static"), rs = opt_hex(v, "resp_static");
    blob re = opt_hex(v, "resp_ephemeral"), rrs = opt_hex(v, "resp_remote_static");
    blob ipsk = opt_psk(v, "init_psks"), rpsk = opt_psk(v, "resp_psks");
    blob hh = opt_hex(v, "handshake_hash");
    blob all[] = {is, ie, irs, rs, re, rrs, hh};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        check_key_len(all[i]);
    assert_non_null(ipro.p);
    assert_non_null(rpro.p);
    assert_non_null(hh.p);
    assert_int_equal(ipsk.p != NULL, (pat->flags & PV_NOISE_PSK) != 0);

    pv_noise_keys ki = keys_of(is.p, ie.p, irs.p, NULL, ipsk.p);
    pv_noise_keys kr = keys_of(rs.p, re.p, rrs.p, NULL, rpsk.p);
    pv_noise_handshake hi, hr;
    assert_int_equal(pv_noise_handshake_init(&hi, pi, pat, 1, ipro.p, ipro.n, &ki), PV_NOISE_OK);
    assert_int_equal(pv_noise_handshake_init(&hr, pr, pat, 0, rpro.p, rpro.n, &kr), PV_NOISE_OK);

    const json_t *msgs = json_object_get(v, "messages");
    size_t nmsgs = json_array_size(msgs);
    assert_true(nmsgs > pat->nmsg);
    pv_noise_cipherstate itx, irx, rtx, rrx;
    uint8_t out[BUF], pt[BUF];
    for (size_t i = 0; i < nmsgs; i++) {
        const json_t *m = json_array_get(msgs, i);
        blob pl = opt_hex(m, "payload"), ct = opt_hex(m, "ciphertext");
        assert_non_null(pl.p);
        assert_non_null(ct.p);
        int from_init = pat->nmsg == 1 || i % 2 == 0;
        size_t olen = 0, plen = 0;
        if (i < pat->nmsg) {
            pv_noise_handshake *snd = from_init ? &hi : &hr, *rcv = from_init ? &hr : &hi;
            assert_true(pv_noise_handshake_my_turn(snd));
            assert_false(pv_noise_handshake_my_turn(rcv));
            olen = OK(pv_noise_handshake_write(snd, pl.p, pl.n, out, sizeof out));
            plen = OK(pv_noise_handshake_read(rcv, out, olen, pt, sizeof pt));
        } else {
            if (i == pat->nmsg) {
                uint8_t h1[32], h2[32];
                assert_int_equal(hi.state, PV_NOISE_HS_COMPLETE);
                assert_int_equal(hr.state, PV_NOISE_HS_COMPLETE);
                assert_int_equal(pv_noise_handshake_hash(&hi, h1), PV_NOISE_OK);
                assert_int_equal(pv_noise_handshake_hash(&hr, h2), PV_NOISE_OK);
                assert_memory_equal(h1, hh.p, 32);
                assert_memory_equal(h2, hh.p, 32);
                /* Whoever learnt the other's static key learnt the right one. */
                uint8_t got[32], want[32];
                if (pv_noise_handshake_remote_static(&hr, got) == PV_NOISE_OK) {
                    assert_non_null(is.p);
                    assert_int_equal(pi->dh_public(want, is.p), 0);
                    assert_memory_equal(got, want, 32);
                }
                if (pv_noise_handshake_remote_static(&hi, got) == PV_NOISE_OK) {
                    assert_non_null(rs.p);
                    assert_int_equal(pr->dh_public(want, rs.p), 0);
                    assert_memory_equal(got, want, 32);
                }
                assert_int_equal(pv_noise_handshake_split(&hi, &itx, &irx), PV_NOISE_OK);
                assert_int_equal(pv_noise_handshake_split(&hr, &rtx, &rrx), PV_NOISE_OK);
            }
            pv_noise_cipherstate *tx = from_init ? &itx : &rtx, *rx = from_init ? &rrx : &irx;
            olen = OK(pv_noise_cipher_encrypt(tx, NULL, 0, pl.p, pl.n, out, sizeof out));
            plen = OK(pv_noise_cipher_decrypt(rx, NULL, 0, out, olen, pt, sizeof pt));
        }
        assert_int_equal(olen, ct.n);
        assert_memory_equal(out, ct.p, ct.n);
        assert_int_equal(plen, pl.n);
        if (pl.n)
            assert_memory_equal(pt, pl.p, pl.n);
        free(pl.p);
        free(ct.p);
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i].p);
    free(ipro.p);
    free(rpro.p);
    free(ipsk.p);
    free(rpsk.p);
}

static void test_cacophony_vectors(void **state)
{
    (void)state;
    json_t *root = tv_load("noise/cacophony_25519_ChaChaPoly_SHA256.json");
    const json_t *vs = json_object_get(root, "vectors");
    assert_int_equal(json_array_size(vs), N_VECTORS);
    /* Every pattern in the table has exactly one vector, and vice versa. */
    assert_int_equal(pv_noise_pattern_count(), N_VECTORS);
    unsigned seen[N_VECTORS] = {0};
    memset(vectors_run, 0, sizeof vectors_run);
    for (size_t i = 0; i < json_array_size(vs); i++) {
        const json_t *v = json_array_get(vs, i);
        const pv_noise_pattern *pat =
            pv_noise_pattern_find(json_string_value(json_object_get(v, "protocol_name")));
        assert_non_null(pat);
        for (size_t j = 0; j < N_VECTORS; j++)
            seen[j] += pv_noise_pattern_at(j) == pat;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                run_vector(v, prov[a], prov[b]);
                vectors_run[a][b]++;
            }
    }
    for (size_t j = 0; j < N_VECTORS; j++)
        assert_int_equal(seen[j], 1);
    /* 59 vectors x 2 providers, plus the two mixed pairings. */
    assert_int_equal(vectors_run[0][0], N_VECTORS);
    assert_int_equal(vectors_run[1][1], N_VECTORS);
    assert_int_equal(vectors_run[0][1], N_VECTORS);
    assert_int_equal(vectors_run[1][0], N_VECTORS);
    fprintf(stderr, "noise: %u cacophony vectors x pv, %u x openssl, %u + %u mixed\n",
            vectors_run[0][0], vectors_run[1][1], vectors_run[0][1], vectors_run[1][0]);
    json_decref(root);
}

static void test_pattern_table(void **state)
{
    (void)state;
    static const char suffix[] = "_25519_ChaChaPoly_SHA256";
    for (size_t i = 0; i < pv_noise_pattern_count(); i++) {
        const pv_noise_pattern *p = pv_noise_pattern_at(i);
        size_t len = strlen(p->name);
        assert_int_equal(len, p->name_len);
        assert_true(len > 6 + sizeof suffix - 1 && len < PV_NOISE_NAME_MAX);
        assert_memory_equal(p->name, "Noise_", 6);
        assert_string_equal(p->name + len - (sizeof suffix - 1), suffix);
        assert_ptr_equal(pv_noise_pattern_find(p->name), p);
        /* PSK flag iff a psk token. */
        int has_psk = memchr(p->tokens, PV_NOISE_TOK_PSK, sizeof p->tokens) != NULL;
        assert_int_equal(has_psk, (p->flags & PV_NOISE_PSK) != 0);
        /* nmsg messages, each closed by END, and only padding after. */
        size_t ends = 0, k = 0;
        while (ends < p->nmsg) {
            assert_true(k < PV_NOISE_PATTERN_MAX_TOKENS);
            assert_true(p->tokens[k] <= PV_NOISE_TOK_SS);
            ends += p->tokens[k++] == PV_NOISE_TOK_END;
        }
        assert_true(all_zero(p->tokens + k, PV_NOISE_PATTERN_MAX_TOKENS - k));
        /* Every message has at least one token. */
        assert_true(k >= 2u * p->nmsg);
    }
    assert_null(pv_noise_pattern_at(pv_noise_pattern_count()));
    assert_ptr_equal(pv_noise_pattern_find("Noise_NK_25519_ChaChaPoly_SHA256"),
                     &pv_noise_pattern_NK);
    assert_ptr_equal(pv_noise_pattern_find("Noise_NKpsk0_25519_ChaChaPoly_SHA256"),
                     &pv_noise_pattern_NKpsk0);
    const char *bad[] = {"Noise_NK_25519_ChaChaPoly_SHA512",
                         "Noise_NK_25519_ChaChaPoly_SHA2566",
                         "Noise_NK_25519_AESGCM_SHA256",
                         "Noise_NK",
                         "Noise_NKpsk_25519_ChaChaPoly_SHA256",
                         "noise_NK_25519_ChaChaPoly_SHA256",
                         "Noise__25519_ChaChaPoly_SHA256",
                         "Noise_XXfallback_25519_ChaChaPoly_SHA256",
                         "",
                         "Noise_"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(pv_noise_pattern_find(bad[i]));
    assert_null(pv_noise_pattern_find(NULL));
}

/* ---- sessions with random keys ----------------------------------------------------------------
 */

typedef struct {
    const pv_noise_pattern *pat;
    uint8_t si[32], sr[32], ei[32], er[32], psk[32], prologue[24];
    uint8_t si_pub[32], sr_pub[32];
    size_t prologue_len;
} keyset;

static void keyset_random(keyset *k, const pv_noise_pattern *pat)
{
    k->pat = pat;
    trng_bytes(k->si, 32);
    trng_bytes(k->sr, 32);
    trng_bytes(k->ei, 32);
    trng_bytes(k->er, 32);
    trng_bytes(k->psk, 32);
    k->prologue_len = trng_len(sizeof k->prologue);
    trng_bytes(k->prologue, k->prologue_len);
    assert_int_equal(pv_noise_provider_openssl.dh_public(k->si_pub, k->si), 0);
    assert_int_equal(pv_noise_provider_openssl.dh_public(k->sr_pub, k->sr), 0);
}

/* Initiator and responder for a keyset; rs only where a pre-message needs it. */
static void setup(pv_noise_handshake *hi, pv_noise_handshake *hr, const keyset *k,
                  const pv_noise_provider *pi, const pv_noise_provider *pr)
{
    int psk = (k->pat->flags & PV_NOISE_PSK) != 0;
    pv_noise_keys ki = keys_of(k->si, k->ei, (k->pat->flags & PV_NOISE_PRE_RS) ? k->sr_pub : NULL,
                               NULL, psk ? k->psk : NULL);
    pv_noise_keys kr = keys_of(k->sr, k->er, (k->pat->flags & PV_NOISE_PRE_IS) ? k->si_pub : NULL,
                               NULL, psk ? k->psk : NULL);
    assert_int_equal(pv_noise_handshake_init(hi, pi, k->pat, 1, k->prologue, k->prologue_len, &ki),
                     PV_NOISE_OK);
    assert_int_equal(pv_noise_handshake_init(hr, pr, k->pat, 0, k->prologue, k->prologue_len, &kr),
                     PV_NOISE_OK);
}

/* A transcript: every message on the wire, handshake then transport. */
#define T_MSGS 8
typedef struct {
    uint8_t msg[T_MSGS][600];
    size_t len[T_MSGS];
    uint8_t hash[32];
} transcript;

static void payload_for(size_t i, uint8_t *p, size_t *n)
{
    /* Deterministic so two runs with the same keys must produce the same bytes. */
    *n = 17 * i % 300;
    for (size_t j = 0; j < *n; j++)
        p[j] = (uint8_t)(i * 31 + j);
}

/* Full honest session; both sides check each other's output. */
static void run_session(const keyset *k, const pv_noise_provider *pi, const pv_noise_provider *pr,
                        transcript *t)
{
    pv_noise_handshake hi, hr;
    pv_noise_cipherstate c[4]; /* itx, irx, rtx, rrx */
    uint8_t pl[600], pt[600];
    size_t pn, ptn;
    setup(&hi, &hr, k, pi, pr);
    for (size_t i = 0; i < T_MSGS; i++) {
        int from_init = k->pat->nmsg == 1 || i % 2 == 0;
        payload_for(i, pl, &pn);
        if (i < k->pat->nmsg) {
            pv_noise_handshake *snd = from_init ? &hi : &hr, *rcv = from_init ? &hr : &hi;
            t->len[i] = OK(pv_noise_handshake_write(snd, pl, pn, t->msg[i], sizeof t->msg[i]));
            ptn = OK(pv_noise_handshake_read(rcv, t->msg[i], t->len[i], pt, sizeof pt));
        } else {
            if (i == k->pat->nmsg) {
                uint8_t h2[32];
                assert_int_equal(pv_noise_handshake_hash(&hi, t->hash), PV_NOISE_OK);
                assert_int_equal(pv_noise_handshake_hash(&hr, h2), PV_NOISE_OK);
                assert_memory_equal(t->hash, h2, 32);
                assert_int_equal(pv_noise_handshake_split(&hi, &c[0], &c[1]), PV_NOISE_OK);
                assert_int_equal(pv_noise_handshake_split(&hr, &c[2], &c[3]), PV_NOISE_OK);
            }
            pv_noise_cipherstate *tx = from_init ? &c[0] : &c[2], *rx = from_init ? &c[3] : &c[1];
            t->len[i] =
                OK(pv_noise_cipher_encrypt(tx, NULL, 0, pl, pn, t->msg[i], sizeof t->msg[i]));
            ptn = OK(pv_noise_cipher_decrypt(rx, NULL, 0, t->msg[i], t->len[i], pt, sizeof pt));
        }
        assert_int_equal(ptn, pn);
        if (pn)
            assert_memory_equal(pt, pl, pn);
    }
}

static void test_cross_provider(void **state)
{
    (void)state;
    const pv_noise_pattern *pats[] = {&pv_noise_pattern_NK, &pv_noise_pattern_NNpsk0,
                                      &pv_noise_pattern_NKpsk0};
    unsigned sessions = 0;
    for (size_t p = 0; p < 3; p++)
        for (int it = 0; it < 6; it++) {
            keyset k;
            transcript t[4];
            keyset_random(&k, pats[p]);
            for (int c = 0; c < 4; c++) {
                run_session(&k, prov[c >> 1], prov[c & 1], &t[c]);
                sessions++;
            }
            /* Same keys: every provider pairing puts the same bytes on the wire. */
            for (int c = 1; c < 4; c++) {
                assert_memory_equal(t[c].hash, t[0].hash, 32);
                for (size_t i = 0; i < T_MSGS; i++) {
                    assert_int_equal(t[c].len[i], t[0].len[i]);
                    assert_memory_equal(t[c].msg[i], t[0].msg[i], t[0].len[i]);
                }
            }
        }
    assert_int_equal(sessions, 3 * 6 * 4);
}

/* An independent check of InitializeSymmetric, MixHash(prologue) (also when empty) and the
 * transcript hashing: for NN, h is a SHA-256 chain over the wire bytes, computed with OpenSSL. */
static void sha256_2(uint8_t out[32], const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int len = 0;
    assert_non_null(c);
    assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(c, a, an), 1);
    assert_int_equal(EVP_DigestUpdate(c, b, bn), 1);
    assert_int_equal(EVP_DigestFinal_ex(c, out, &len), 1);
    EVP_MD_CTX_free(c);
}

static void test_prologue_reference(void **state)
{
    (void)state;
    for (int pc = 0; pc < 2; pc++)
        for (size_t plen = 0; plen < 6; plen += 5) {
            keyset k;
            pv_noise_handshake hi, hr;
            uint8_t m0[100], m1[100], pt[100], h[32], want[32];
            size_t n0, n1;
            keyset_random(&k, &pv_noise_pattern_NN);
            pv_noise_keys ki = keys_of(NULL, k.ei, NULL, NULL, NULL),
                          kr = keys_of(NULL, k.er, NULL, NULL, NULL);
            assert_int_equal(pv_noise_handshake_init(&hi, prov[pc], &pv_noise_pattern_NN, 1,
                                                     plen ? k.prologue : NULL, plen, &ki),
                             0);
            assert_int_equal(pv_noise_handshake_init(&hr, prov[!pc], &pv_noise_pattern_NN, 0,
                                                     plen ? k.prologue : NULL, plen, &kr),
                             0);
            n0 = OK(pv_noise_handshake_write(&hi, (const uint8_t *)"abc", 3, m0, sizeof m0));
            assert_int_equal(OK(pv_noise_handshake_read(&hr, m0, n0, pt, sizeof pt)), 3);
            n1 = OK(pv_noise_handshake_write(&hr, (const uint8_t *)"defg", 4, m1, sizeof m1));
            assert_int_equal(OK(pv_noise_handshake_read(&hi, m1, n1, pt, sizeof pt)), 4);
            assert_int_equal(n0, 32 + 3);      /* no key yet: payload in clear */
            assert_int_equal(n1, 32 + 4 + 16); /* after ee: encrypted */
            assert_memory_equal(m0 + 32, "abc", 3);
            memcpy(want, "Noise_NN_25519_ChaChaPoly_SHA256", 32); /* exactly HASHLEN: no hash */
            sha256_2(want, want, 32, k.prologue, plen);
            sha256_2(want, want, 32, m0, 32);
            sha256_2(want, want, 32, m0 + 32, n0 - 32);
            sha256_2(want, want, 32, m1, 32);
            sha256_2(want, want, 32, m1 + 32, n1 - 32);
            assert_int_equal(pv_noise_handshake_hash(&hi, h), 0);
            assert_memory_equal(h, want, 32);
            assert_int_equal(pv_noise_handshake_hash(&hr, h), 0);
            assert_memory_equal(h, want, 32);
        }
}

/* ---- tampering ---------------------------------------------------------------------------------
 */

/* Flip one random bit in every byte of every handshake message, one at a time. The receiver must
 * fail at that message (or, when it carries no authenticated data yet, at the next one), and a
 * failed handshake must refuse the genuine message afterwards. */
static void tamper_pattern(const pv_noise_pattern *pat, const uint8_t *first_fail, unsigned *trials)
{
    for (int pc = 0; pc < 2; pc++) {
        keyset k;
        keyset_random(&k, pat);
        pv_noise_handshake hs[T_MSGS][2]; /* states before message j: [j][0] init, [j][1] resp */
        uint8_t msg[T_MSGS][600], pl[600], pt[600];
        size_t len[T_MSGS], pn, ptn;
        setup(&hs[0][0], &hs[0][1], &k, prov[pc], prov[!pc]);
        for (size_t j = 0; j < pat->nmsg; j++) {
            int s = j % 2; /* 0: initiator sends */
            hs[j + 1][0] = hs[j][0];
            hs[j + 1][1] = hs[j][1];
            payload_for(j, pl, &pn);
            pn %= 40;
            len[j] = OK(pv_noise_handshake_write(&hs[j + 1][s], pl, pn, msg[j], sizeof msg[j]));
            ptn = OK(pv_noise_handshake_read(&hs[j + 1][!s], msg[j], len[j], pt, sizeof pt));
        }
        for (size_t j = 0; j < pat->nmsg; j++)
            for (size_t byte = 0; byte < len[j]; byte++) {
                pv_noise_handshake h[2] = {hs[j][0], hs[j][1]};
                uint8_t bad[600];
                size_t failed_at = SIZE_MAX;
                memcpy(bad, msg[j], len[j]);
                bad[byte] ^= (uint8_t)(1u << (trng_u64() % 8));
                /* The sender's state after writing message j is the honest one. */
                h[j % 2] = hs[j + 1][j % 2];
                int rc = pv_noise_handshake_read(&h[!(j % 2)], bad, len[j], pt, sizeof pt);
                if (rc < 0) {
                    failed_at = j;
                    assert_int_equal(h[!(j % 2)].state, PV_NOISE_HS_DEAD);
                    assert_int_equal(
                        pv_noise_handshake_read(&h[!(j % 2)], msg[j], len[j], pt, sizeof pt),
                        PV_NOISE_ERR_STATE);
                } else {
                    /* Continue honestly: the divergence must surface at a later read. */
                    for (size_t m = j + 1; m < pat->nmsg && failed_at == SIZE_MAX; m++) {
                        int s = m % 2;
                        uint8_t out[600];
                        size_t on;
                        payload_for(m, pl, &pn);
                        pn %= 40;
                        on = OK(pv_noise_handshake_write(&h[s], pl, pn, out, sizeof out));
                        if (pv_noise_handshake_read(&h[!s], out, on, pt, sizeof pt) < 0)
                            failed_at = m;
                    }
                }
                if (failed_at != first_fail[j])
                    fail_msg("%s msg %zu byte %zu: failed at %zu, want %u", pat->name, j, byte,
                             failed_at, first_fail[j]);
                (*trials)++;
            }
        /* The transport messages: any flipped bit is refused and does not advance the nonce. */
        pv_noise_cipherstate ci[2], cr[2];
        pv_noise_handshake hi = hs[pat->nmsg][0], hr = hs[pat->nmsg][1];
        assert_int_equal(pv_noise_handshake_split(&hi, &ci[0], &ci[1]), PV_NOISE_OK);
        assert_int_equal(pv_noise_handshake_split(&hr, &cr[0], &cr[1]), PV_NOISE_OK);
        for (int dir = 0; dir < 2; dir++) {
            pv_noise_cipherstate *tx = dir ? &cr[0] : &ci[0], *rx = dir ? &ci[1] : &cr[1];
            uint8_t ct[64], bad[64], ad[5] = "adata";
            size_t cn;
            payload_for(3, pl, &pn);
            pn %= 48;
            cn = OK(pv_noise_cipher_encrypt(tx, ad, 5, pl, pn, ct, sizeof ct));
            for (size_t byte = 0; byte < cn; byte++) {
                memcpy(bad, ct, cn);
                bad[byte] ^= (uint8_t)(1u << (trng_u64() % 8));
                memset(pt, 0xAA, cn);
                assert_int_equal(pv_noise_cipher_decrypt(rx, ad, 5, bad, cn, pt, sizeof pt),
                                 PV_NOISE_ERR_DECRYPT);
                /* No unauthenticated plaintext released: untouched or zeroed. */
                for (size_t b = 0; b < cn - 16; b++)
                    assert_true(pt[b] == 0xAA || pt[b] == 0);
                (*trials)++;
            }
            /* Wrong associated data fails too. */
            assert_int_equal(pv_noise_cipher_decrypt(rx, ad, 4, ct, cn, pt, sizeof pt),
                             PV_NOISE_ERR_DECRYPT);
            ptn = OK(pv_noise_cipher_decrypt(rx, ad, 5, ct, cn, pt, sizeof pt));
            assert_int_equal(ptn, pn);
            if (pn)
                assert_memory_equal(pt, pl, pn);
        }
    }
}

static void test_tamper(void **state)
{
    (void)state;
    /* Index of the read that must fail when message j is tampered with. A message sent before
     * any key exists (XX, NN, X1K1: "-> e") is caught by the next one, whose AD (h) differs. */
    static const uint8_t now[2] = {0, 1}, xx[3] = {1, 1, 2}, nn[2] = {1, 1}, x1k1[4] = {1, 1, 2, 3};
    unsigned trials = 0;
    tamper_pattern(&pv_noise_pattern_NK, now, &trials);
    tamper_pattern(&pv_noise_pattern_NKpsk0, now, &trials);
    tamper_pattern(&pv_noise_pattern_NNpsk0, now, &trials);
    tamper_pattern(&pv_noise_pattern_IK, now, &trials);
    tamper_pattern(&pv_noise_pattern_XX, xx, &trials);
    tamper_pattern(&pv_noise_pattern_NN, nn, &trials);
    tamper_pattern(&pv_noise_pattern_X1K1, x1k1, &trials);
    assert_true(trials > 1000);
    fprintf(stderr, "noise: %u tampered messages refused\n", trials);
}

/* ---- replay and reorder ---------------------------------------------------------------------- */

static void split_pair(const keyset *k, const pv_noise_provider *pi, const pv_noise_provider *pr,
                       pv_noise_cipherstate c[4])
{
    pv_noise_handshake hi, hr;
    uint8_t m[200], pt[200];
    size_t mn, pn;
    setup(&hi, &hr, k, pi, pr);
    for (size_t i = 0; i < k->pat->nmsg; i++) {
        pv_noise_handshake *snd = i % 2 ? &hr : &hi, *rcv = i % 2 ? &hi : &hr;
        mn = OK(pv_noise_handshake_write(snd, NULL, 0, m, sizeof m));
        pn = OK(pv_noise_handshake_read(rcv, m, mn, pt, sizeof pt));
        assert_int_equal(pn, 0);
    }
    assert_int_equal(pv_noise_handshake_split(&hi, &c[0], &c[1]), 0);
    assert_int_equal(pv_noise_handshake_split(&hr, &c[2], &c[3]), 0);
}

static void test_replay_reorder(void **state)
{
    (void)state;
    for (int pc = 0; pc < 2; pc++) {
        keyset k;
        pv_noise_cipherstate c[4];
        uint8_t a[40], b[40], d[40], pt[40];
        size_t an, bn, dn;
        keyset_random(&k, &pv_noise_pattern_NK);
        split_pair(&k, prov[pc], prov[!pc], c);
        an = OK(pv_noise_cipher_encrypt(&c[0], NULL, 0, (const uint8_t *)"first", 5, a, sizeof a));
        bn = OK(pv_noise_cipher_encrypt(&c[0], NULL, 0, (const uint8_t *)"second", 6, b, sizeof b));
        dn = OK(pv_noise_cipher_encrypt(&c[0], NULL, 0, (const uint8_t *)"third", 5, d, sizeof d));
        /* Reordered: b before a is refused, then a, b arrive in order. */
        assert_int_equal(pv_noise_cipher_decrypt(&c[3], NULL, 0, b, bn, pt, sizeof pt),
                         PV_NOISE_ERR_DECRYPT);
        assert_int_equal(OK(pv_noise_cipher_decrypt(&c[3], NULL, 0, a, an, pt, sizeof pt)), 5);
        assert_memory_equal(pt, "first", 5);
        /* Replayed a is refused. */
        assert_int_equal(pv_noise_cipher_decrypt(&c[3], NULL, 0, a, an, pt, sizeof pt),
                         PV_NOISE_ERR_DECRYPT);
        assert_int_equal(OK(pv_noise_cipher_decrypt(&c[3], NULL, 0, b, bn, pt, sizeof pt)), 6);
        assert_memory_equal(pt, "second", 6);
        assert_int_equal(pv_noise_cipher_decrypt(&c[3], NULL, 0, b, bn, pt, sizeof pt),
                         PV_NOISE_ERR_DECRYPT);
        /* A message sent the other way (other key) is refused too. */
        uint8_t r[40];
        size_t rn;
        rn = OK(pv_noise_cipher_encrypt(&c[2], NULL, 0, (const uint8_t *)"third", 5, r, sizeof r));
        assert_int_equal(pv_noise_cipher_decrypt(&c[3], NULL, 0, r, rn, pt, sizeof pt),
                         PV_NOISE_ERR_DECRYPT);
        assert_int_equal(OK(pv_noise_cipher_decrypt(&c[3], NULL, 0, d, dn, pt, sizeof pt)), 5);
        assert_memory_equal(pt, "third", 5);
        /* SetNonce lets an application with explicit sequence numbers go back. */
        pv_noise_cipher_set_nonce(&c[3], 0);
        assert_int_equal(OK(pv_noise_cipher_decrypt(&c[3], NULL, 0, a, an, pt, sizeof pt)), 5);
    }
}

/* ---- wrong keys ---------------------------------------------------------------------------------
 */

static void test_wrong_keys(void **state)
{
    (void)state;
    for (int pc = 0; pc < 2; pc++) {
        pv_noise_handshake hi, hr;
        uint8_t m[200], pt[200], other[32], other_pub[32];
        size_t mn;
        keyset k;
        int psk_pats;

        /* NK: the initiator believes in the wrong responder key: the first message's payload is
         * encrypted under es, so the responder refuses it at once. */
        keyset_random(&k, &pv_noise_pattern_NK);
        trng_bytes(other, 32);
        assert_int_equal(pv_noise_provider_pv.dh_public(other_pub, other), 0);
        pv_noise_keys ki = keys_of(NULL, k.ei, other_pub, NULL, NULL),
                      kr = keys_of(k.sr, k.er, NULL, NULL, NULL);
        assert_int_equal(
            pv_noise_handshake_init(&hi, prov[pc], &pv_noise_pattern_NK, 1, NULL, 0, &ki), 0);
        assert_int_equal(
            pv_noise_handshake_init(&hr, prov[!pc], &pv_noise_pattern_NK, 0, NULL, 0, &kr), 0);
        mn = OK(pv_noise_handshake_write(&hi, (const uint8_t *)"uid", 3, m, sizeof m));
        assert_int_equal(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt), PV_NOISE_ERR_DECRYPT);
        assert_int_equal(hr.state, PV_NOISE_HS_DEAD);
        assert_true(all_zero(&hr, sizeof hr));

        /* Different prologues: refused at the first encrypted payload. */
        keyset_random(&k, &pv_noise_pattern_NK);
        pv_noise_keys ki2 = keys_of(NULL, k.ei, k.sr_pub, NULL, NULL);
        assert_int_equal(pv_noise_handshake_init(&hi, prov[pc], &pv_noise_pattern_NK, 1,
                                                 (const uint8_t *)"A", 1, &ki2),
                         0);
        assert_int_equal(pv_noise_handshake_init(&hr, prov[!pc], &pv_noise_pattern_NK, 0,
                                                 (const uint8_t *)"B", 1, &kr),
                         0);
        mn = OK(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m));
        assert_int_equal(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt), PV_NOISE_ERR_DECRYPT);

        /* Wrong PSK: refused at the first message the psk protects. */
        const pv_noise_pattern *pp[] = {&pv_noise_pattern_NNpsk0, &pv_noise_pattern_NKpsk0,
                                        &pv_noise_pattern_NNpsk2, &pv_noise_pattern_XXpsk3};
        for (psk_pats = 0; psk_pats < 4; psk_pats++) {
            const pv_noise_pattern *pat = pp[psk_pats];
            uint8_t wrong[32];
            keyset_random(&k, pat);
            memcpy(wrong, k.psk, 32);
            wrong[trng_len(31)] ^= (uint8_t)(1u << (trng_u64() % 8));
            int pre_rs = (pat->flags & PV_NOISE_PRE_RS) != 0;
            pv_noise_keys a = keys_of(k.si, k.ei, pre_rs ? k.sr_pub : NULL, NULL, k.psk);
            pv_noise_keys b = keys_of(k.sr, k.er, NULL, NULL, wrong);
            assert_int_equal(pv_noise_handshake_init(&hi, prov[pc], pat, 1, NULL, 0, &a), 0);
            assert_int_equal(pv_noise_handshake_init(&hr, prov[!pc], pat, 0, NULL, 0, &b), 0);
            int rc = 0;
            size_t i;
            for (i = 0; i < pat->nmsg && rc >= 0; i++) {
                pv_noise_handshake *snd = i % 2 ? &hr : &hi, *rcv = i % 2 ? &hi : &hr;
                mn = OK(pv_noise_handshake_write(snd, NULL, 0, m, sizeof m));
                rc = pv_noise_handshake_read(rcv, m, mn, pt, sizeof pt);
            }
            assert_int_equal(rc, PV_NOISE_ERR_DECRYPT);
            /* psk0 fails at message 0; pskN (N > 0) at the message it closes. */
            size_t want = pat == &pv_noise_pattern_NNpsk2   ? 2
                          : pat == &pv_noise_pattern_XXpsk3 ? 3
                                                            : 1;
            assert_int_equal(i, want);
        }
    }
}

/* ---- buffers and lengths ------------------------------------------------------------------------
 */

#define CANARY 0x5C

static void test_buffers(void **state)
{
    (void)state;
    for (int pc = 0; pc < 2; pc++) {
        keyset k;
        pv_noise_handshake hi, hr;
        uint8_t big[300], pl[20] = "0123456789abcdefghi";
        size_t n, pn;
        keyset_random(&k, &pv_noise_pattern_NK);
        setup(&hi, &hr, &k, prov[pc], prov[!pc]);
        const size_t need = 32 + 20 + 16; /* e, payload, tag */

        /* Write: too small -> ERR_BUFFER, nothing written past cap, that handshake is dead. */
        for (size_t cap = 0; cap < need; cap++) {
            pv_noise_handshake h1 = hi, h2 = hi;
            memset(big, CANARY, sizeof big);
            uint8_t *exact = malloc(cap ? cap : 1); /* ASan would catch a write past cap */
            assert_non_null(exact);
            assert_int_equal(pv_noise_handshake_write(&h1, pl, 20, big, cap), PV_NOISE_ERR_BUFFER);
            assert_int_equal(pv_noise_handshake_write(&h2, pl, 20, exact, cap),
                             PV_NOISE_ERR_BUFFER);
            free(exact);
            for (size_t i = cap; i < sizeof big; i++)
                assert_int_equal(big[i], CANARY);
            assert_int_equal(h1.state, PV_NOISE_HS_DEAD);
            assert_true(all_zero(&h1, sizeof h1));
        }
        /* A payload over the limit on its own. */
        {
            pv_noise_handshake h1 = hi;
            assert_int_equal(
                pv_noise_handshake_write(&h1, pl, PV_NOISE_MAX_MSG + 1, big, sizeof big),
                PV_NOISE_ERR_TOO_LONG);
        }
        uint8_t *msg = malloc(need);
        assert_non_null(msg);
        n = OK(pv_noise_handshake_write(&hi, pl, 20, msg, need));
        assert_int_equal(n, need);

        /* Read: payload buffer too small -> ERR_BUFFER, nothing written, handshake dead. */
        pv_noise_handshake hr2 = hr;
        memset(big, CANARY, sizeof big);
        assert_int_equal(pv_noise_handshake_read(&hr2, msg, n, big, 19), PV_NOISE_ERR_BUFFER);
        assert_true(big[0] == CANARY && big[19] == CANARY);
        assert_int_equal(hr2.state, PV_NOISE_HS_DEAD);
        /* Truncated messages. */
        for (size_t cut = 0; cut < need; cut++) {
            hr2 = hr;
            int rc = pv_noise_handshake_read(&hr2, msg, cut, big, sizeof big);
            assert_true(rc == PV_NOISE_ERR_SHORT || rc == PV_NOISE_ERR_DECRYPT);
            if (cut < 48)
                assert_int_equal(rc, PV_NOISE_ERR_SHORT);
            assert_int_equal(hr2.state, PV_NOISE_HS_DEAD);
        }
        hr2 = hr;
        assert_int_equal(pv_noise_handshake_read(&hr2, msg, PV_NOISE_MAX_MSG + 1, big, sizeof big),
                         PV_NOISE_ERR_TOO_LONG);
        /* Exact payload capacity works. */
        uint8_t *exact_pt = malloc(20);
        assert_non_null(exact_pt);
        pn = OK(pv_noise_handshake_read(&hr, msg, n, exact_pt, 20));
        assert_int_equal(pn, 20);
        assert_memory_equal(exact_pt, pl, 20);
        free(exact_pt);
        free(msg);

        /* Handshake message over the 65535 limit (payload + 48 bytes of e and tag). */
        pv_noise_handshake hr3 = hr, hr4 = hr;
        uint8_t *huge = calloc(1, PV_NOISE_MAX_MSG + 100), *out = malloc(PV_NOISE_MAX_MSG + 100);
        assert_non_null(huge);
        assert_non_null(out);
        assert_int_equal(pv_noise_handshake_write(&hr4, huge, PV_NOISE_MAX_MSG - 48 + 1, out,
                                                  PV_NOISE_MAX_MSG + 100),
                         PV_NOISE_ERR_BUFFER);
        assert_int_equal(hr4.state, PV_NOISE_HS_DEAD);
        n = OK(pv_noise_handshake_write(&hr3, huge, PV_NOISE_MAX_MSG - 48, out, PV_NOISE_MAX_MSG));
        assert_int_equal(n, PV_NOISE_MAX_MSG);
        pn = OK(pv_noise_handshake_read(&hi, out, n, huge, PV_NOISE_MAX_MSG));
        assert_int_equal(pn, PV_NOISE_MAX_MSG - 48);

        /* Transport. */
        pv_noise_cipherstate c[4];
        assert_int_equal(pv_noise_handshake_split(&hi, &c[0], &c[1]), 0);
        assert_int_equal(pv_noise_handshake_split(&hr3, &c[2], &c[3]), 0);
        memset(big, CANARY, sizeof big);
        assert_int_equal(pv_noise_cipher_encrypt(&c[0], NULL, 0, pl, 20, big, 35),
                         PV_NOISE_ERR_BUFFER);
        for (size_t i = 0; i < sizeof big; i++)
            assert_int_equal(big[i], CANARY);
        assert_int_equal(pv_noise_cipher_encrypt(&c[0], NULL, 0, huge, PV_NOISE_MAX_MSG - 15, out,
                                                 PV_NOISE_MAX_MSG + 1),
                         PV_NOISE_ERR_TOO_LONG);
        /* Nothing consumed a nonce: the next message is still n = 0. */
        assert_int_equal(c[0].n, 0);
        n = OK(pv_noise_cipher_encrypt(&c[0], NULL, 0, huge, PV_NOISE_MAX_MSG - 16, out,
                                       PV_NOISE_MAX_MSG));
        assert_int_equal(n, PV_NOISE_MAX_MSG);
        assert_int_equal(pv_noise_cipher_decrypt(&c[3], NULL, 0, out, n, out, n - 17),
                         PV_NOISE_ERR_BUFFER);
        assert_int_equal(pv_noise_cipher_decrypt(&c[3], NULL, 0, out, 15, big, sizeof big),
                         PV_NOISE_ERR_SHORT);
        assert_int_equal(pv_noise_cipher_decrypt(&c[3], NULL, 0, out, PV_NOISE_MAX_MSG + 1, huge,
                                                 PV_NOISE_MAX_MSG + 100),
                         PV_NOISE_ERR_TOO_LONG);
        /* In place, exact capacity. */
        pn = OK(pv_noise_cipher_decrypt(&c[3], NULL, 0, out, n, out, n - 16));
        assert_int_equal(pn, PV_NOISE_MAX_MSG - 16);
        assert_true(all_zero(out, pn));
        /* In-place encrypt then decrypt. */
        memcpy(big, pl, 20);
        n = OK(pv_noise_cipher_encrypt(&c[2], NULL, 0, big, 20, big, 36));
        assert_int_equal(OK(pv_noise_cipher_decrypt(&c[1], NULL, 0, big, n, big, 20)), 20);
        assert_memory_equal(big, pl, 20);
        free(out);
        free(huge);
    }
}

/* ---- nonces and rekey
 * ---------------------------------------------------------------------------- */

/* Reference rekey with OpenSSL directly: first 32 bytes of ChaCha20-Poly1305(k, nonce 2^64-1). */
static void ref_rekey(uint8_t out[32], const uint8_t k[32])
{
    uint8_t nonce[12] = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t zeros[32] = {0};
    int outl;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, k, nonce), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &outl, zeros, 32), 1);
    EVP_CIPHER_CTX_free(c);
}

static void test_nonce_rekey(void **state)
{
    (void)state;
    for (int pc = 0; pc < 2; pc++) {
        pv_noise_cipherstate a, b, e;
        uint8_t key[32], ref[32], ct[64], pt[64];
        size_t n;
        trng_bytes(key, 32);
        pv_noise_cipher_init(&a, prov[pc], key);
        pv_noise_cipher_init(&b, prov[!pc], key);
        assert_true(pv_noise_cipher_has_key(&a));

        pv_noise_cipher_set_nonce(&a, UINT64_MAX);
        assert_int_equal(pv_noise_cipher_encrypt(&a, NULL, 0, key, 8, ct, sizeof ct),
                         PV_NOISE_ERR_NONCE);
        pv_noise_cipher_set_nonce(&b, UINT64_MAX);
        assert_int_equal(pv_noise_cipher_decrypt(&b, NULL, 0, ct, 24, pt, sizeof pt),
                         PV_NOISE_ERR_NONCE);
        pv_noise_cipher_set_nonce(&a, UINT64_MAX - 1);
        pv_noise_cipher_set_nonce(&b, UINT64_MAX - 1);
        n = OK(pv_noise_cipher_encrypt(&a, NULL, 0, key, 8, ct, sizeof ct));
        assert_int_equal(OK(pv_noise_cipher_decrypt(&b, NULL, 0, ct, n, pt, sizeof pt)), 8);
        assert_memory_equal(pt, key, 8);
        assert_int_equal(pv_noise_cipher_encrypt(&a, NULL, 0, key, 8, ct, sizeof ct),
                         PV_NOISE_ERR_NONCE);

        /* Rekey: matches the definition, both sides stay in step, n is kept. */
        pv_noise_cipher_set_nonce(&a, 7);
        pv_noise_cipher_set_nonce(&b, 7);
        assert_int_equal(pv_noise_cipher_rekey(&a), 0);
        assert_int_equal(pv_noise_cipher_rekey(&b), 0);
        ref_rekey(ref, key);
        assert_memory_equal(a.k, ref, 32);
        assert_memory_equal(b.k, ref, 32);
        assert_int_equal(a.n, 7);
        n = OK(pv_noise_cipher_encrypt(&a, NULL, 0, key, 32, ct, sizeof ct));
        assert_int_equal(OK(pv_noise_cipher_decrypt(&b, NULL, 0, ct, n, pt, sizeof pt)), 32);
        assert_memory_equal(pt, key, 32);
        /* A side that did not rekey cannot read it. */
        pv_noise_cipherstate old;
        pv_noise_cipher_init(&old, prov[pc], key);
        pv_noise_cipher_set_nonce(&old, 7);
        assert_int_equal(pv_noise_cipher_decrypt(&old, NULL, 0, ct, n, pt, sizeof pt),
                         PV_NOISE_ERR_DECRYPT);

        /* Empty key: plaintext pass-through (as the spec says), no rekey. */
        pv_noise_cipher_init(&e, prov[pc], NULL);
        assert_false(pv_noise_cipher_has_key(&e));
        n = OK(pv_noise_cipher_encrypt(&e, NULL, 0, key, 32, ct, 32));
        assert_int_equal(n, 32);
        assert_memory_equal(ct, key, 32);
        assert_int_equal(pv_noise_cipher_rekey(&e), PV_NOISE_ERR_STATE);
        /* Wiped: refused, never pass-through. */
        pv_noise_cipher_wipe(&a);
        assert_false(pv_noise_cipher_has_key(&a));
        assert_int_equal(pv_noise_cipher_encrypt(&a, NULL, 0, key, 32, ct, sizeof ct),
                         PV_NOISE_ERR_STATE);
        assert_int_equal(pv_noise_cipher_decrypt(&a, NULL, 0, ct, 48, pt, sizeof pt),
                         PV_NOISE_ERR_STATE);
        assert_true(all_zero(a.k, 32));
    }
}

/* ---- low-order points
 * ---------------------------------------------------------------------------- */

static void test_low_order(void **state)
{
    (void)state;
    /* u = 0 and u = 1 give an all-zero X25519 result for every scalar. */
    static const uint8_t u1[32] = {1};
    const uint8_t *bad[2] = {(const uint8_t[32]){0}, u1};
    for (int pc = 0; pc < 2; pc++)
        for (int bi = 0; bi < 2; bi++) {
            keyset k;
            pv_noise_handshake hi, hr;
            uint8_t m[100], pt[100];
            size_t mn;
            /* NN: a forged responder e. */
            keyset_random(&k, &pv_noise_pattern_NN);
            setup(&hi, &hr, &k, prov[pc], prov[pc]);
            mn = OK(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m));
            assert_int_equal(OK(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt)), 0);
            mn = OK(pv_noise_handshake_write(&hr, NULL, 0, m, sizeof m));
            memcpy(m, bad[bi], 32);
            assert_int_equal(pv_noise_handshake_read(&hi, m, mn, pt, sizeof pt), PV_NOISE_ERR_DH);
            assert_true(all_zero(&hi, sizeof hi));
            /* NK: a low-order responder static key makes the initiator's write fail. */
            keyset_random(&k, &pv_noise_pattern_NK);
            pv_noise_keys ki = keys_of(NULL, k.ei, bad[bi], NULL, NULL);
            assert_int_equal(
                pv_noise_handshake_init(&hi, prov[pc], &pv_noise_pattern_NK, 1, NULL, 0, &ki), 0);
            assert_int_equal(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m), PV_NOISE_ERR_DH);
            assert_int_equal(hi.state, PV_NOISE_HS_DEAD);
            /* NK: a low-order initiator e at the responder. */
            keyset_random(&k, &pv_noise_pattern_NK);
            setup(&hi, &hr, &k, prov[pc], prov[pc]);
            mn = OK(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m));
            memcpy(m, bad[bi], 32);
            assert_int_equal(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt), PV_NOISE_ERR_DH);
        }
}

/* ---- ephemeral pre-messages ------------------------------------------------------------------
 * No pattern in the table has one (only the fallback patterns do), so two made-up patterns check
 * that both sides hash "-> e" pre-message keys alike, with and without PSK mode (where it is also
 * MixKey'd), and that a wrong one is caught. */
static const pv_noise_pattern pre_e = {PV_NOISE_PRE_IE | PV_NOISE_PRE_RS,
                                       2,
                                       11,
                                       {PV_NOISE_TOK_ES, 0, PV_NOISE_TOK_E, PV_NOISE_TOK_EE, 0},
                                       "Noise_PreE"};
static const pv_noise_pattern pre_e_psk = {
    PV_NOISE_PRE_IE | PV_NOISE_PRE_RS | PV_NOISE_PSK,
    2,
    14,
    {PV_NOISE_TOK_PSK, PV_NOISE_TOK_ES, 0, PV_NOISE_TOK_E, PV_NOISE_TOK_EE, 0},
    "Noise_PreEpsk0"};

static void test_premessage_e(void **state)
{
    (void)state;
    const pv_noise_pattern *pats[2] = {&pre_e, &pre_e_psk};
    for (int pc = 0; pc < 2; pc++)
        for (int pi = 0; pi < 2; pi++)
            for (int wrong = 0; wrong < 2; wrong++) {
                keyset k;
                pv_noise_handshake hi, hr;
                uint8_t m[100], pt[100], ei_pub[32], h1[32], h2[32];
                size_t mn;
                keyset_random(&k, pats[pi]);
                assert_int_equal(prov[pc]->dh_public(ei_pub, k.ei), 0);
                ei_pub[5] ^= (uint8_t)wrong;
                const uint8_t *psk = pi ? k.psk : NULL;
                pv_noise_keys ki = keys_of(NULL, k.ei, k.sr_pub, NULL, psk);
                pv_noise_keys kr = keys_of(k.sr, k.er, NULL, ei_pub, psk);
                assert_int_equal(pv_noise_handshake_init(&hi, prov[pc], pats[pi], 1, NULL, 0, &ki),
                                 0);
                assert_int_equal(pv_noise_handshake_init(&hr, prov[!pc], pats[pi], 0, NULL, 0, &kr),
                                 0);
                mn = OK(pv_noise_handshake_write(&hi, (const uint8_t *)"hi", 2, m, sizeof m));
                assert_int_equal(mn, 2 + 16); /* es gave a key: payload encrypted, no e sent */
                if (wrong) {
                    assert_int_equal(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt),
                                     PV_NOISE_ERR_DECRYPT);
                    continue;
                }
                assert_int_equal(OK(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt)), 2);
                mn = OK(pv_noise_handshake_write(&hr, NULL, 0, m, sizeof m));
                assert_int_equal(OK(pv_noise_handshake_read(&hi, m, mn, pt, sizeof pt)), 0);
                assert_int_equal(pv_noise_handshake_hash(&hi, h1), 0);
                assert_int_equal(pv_noise_handshake_hash(&hr, h2), 0);
                assert_memory_equal(h1, h2, 32);
            }
    /* The responder must be given the initiator's pre-message e. */
    keyset k;
    pv_noise_handshake hr;
    keyset_random(&k, &pre_e);
    pv_noise_keys kr = keys_of(k.sr, k.er, NULL, NULL, NULL);
    assert_int_equal(pv_noise_handshake_init(&hr, prov[0], &pre_e, 0, NULL, 0, &kr),
                     PV_NOISE_ERR_PARAM);
}

/* ---- state machine misuse, wiping
 * ---------------------------------------------------------------- */

static void test_states_and_wipe(void **state)
{
    (void)state;
    for (int pc = 0; pc < 2; pc++) {
        const pv_noise_provider *p = prov[pc];
        keyset k;
        pv_noise_handshake hi, hr, tmp;
        pv_noise_cipherstate c[4];
        uint8_t m[200], pt[200], h[32];
        size_t mn;

        /* Missing keys. */
        keyset_random(&k, &pv_noise_pattern_NK);
        pv_noise_keys none = keys_of(NULL, NULL, NULL, NULL, NULL);
        assert_int_equal(pv_noise_handshake_init(&hi, p, &pv_noise_pattern_NK, 1, NULL, 0, &none),
                         PV_NOISE_ERR_PARAM);
        assert_int_equal(hi.state, PV_NOISE_HS_DEAD);
        assert_int_equal(
            pv_noise_handshake_init(&hi, NULL, &pv_noise_pattern_NK, 1, NULL, 0, &none),
            PV_NOISE_ERR_PARAM);
        assert_int_equal(pv_noise_handshake_init(&hi, p, NULL, 1, NULL, 0, &none),
                         PV_NOISE_ERR_PARAM);
        assert_int_equal(pv_noise_handshake_init(&hi, p, &pv_noise_pattern_NK, 1, NULL, 3, &none),
                         PV_NOISE_ERR_PARAM);
        pv_noise_keys no_e = keys_of(NULL, NULL, k.sr_pub, NULL, NULL);
        assert_int_equal(pv_noise_handshake_init(&hi, p, &pv_noise_pattern_NK, 1, NULL, 0, &no_e),
                         0);
        assert_int_equal(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m), PV_NOISE_ERR_PARAM);
        assert_int_equal(hi.state, PV_NOISE_HS_DEAD);
        pv_noise_keys no_psk = keys_of(NULL, k.ei, k.sr_pub, NULL, NULL);
        assert_int_equal(
            pv_noise_handshake_init(&hi, p, &pv_noise_pattern_NKpsk0, 1, NULL, 0, &no_psk), 0);
        assert_int_equal(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m), PV_NOISE_ERR_PARAM);
        pv_noise_keys no_s = keys_of(NULL, k.ei, NULL, NULL, NULL);
        assert_int_equal(pv_noise_handshake_init(&hi, p, &pv_noise_pattern_XX, 1, NULL, 0, &no_s),
                         0);
        assert_int_equal(pv_noise_handshake_init(&hr, p, &pv_noise_pattern_XX, 0, NULL, 0, &no_s),
                         0);
        mn = OK(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m));
        assert_int_equal(OK(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt)), 0);
        assert_int_equal(pv_noise_handshake_write(&hr, NULL, 0, m, sizeof m), PV_NOISE_ERR_PARAM);

        /* Turns, split and hash before the end. */
        setup(&hi, &hr, &k, p, p);
        assert_int_equal(pv_noise_handshake_hash(&hi, h), PV_NOISE_ERR_STATE);
        assert_int_equal(pv_noise_handshake_split(&hi, &c[0], &c[1]), PV_NOISE_ERR_STATE);
        assert_int_equal(pv_noise_handshake_write(&hr, NULL, 0, m, sizeof m), PV_NOISE_ERR_STATE);
        assert_int_equal(hr.state, PV_NOISE_HS_ACTIVE); /* a refused write changes nothing */
        tmp = hi;
        assert_int_equal(pv_noise_handshake_read(&tmp, m, 48, pt, sizeof pt), PV_NOISE_ERR_STATE);
        assert_int_equal(tmp.state, PV_NOISE_HS_DEAD); /* any read error is final */
        mn = OK(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m));
        assert_int_equal(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m), PV_NOISE_ERR_STATE);
        assert_int_equal(OK(pv_noise_handshake_read(&hr, m, 48, pt, sizeof pt)), 0);
        mn = OK(pv_noise_handshake_write(&hr, NULL, 0, m, sizeof m));
        assert_int_equal(OK(pv_noise_handshake_read(&hi, m, mn, pt, sizeof pt)), 0);
        assert_int_equal(hi.state, PV_NOISE_HS_COMPLETE);
        assert_int_equal(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m), PV_NOISE_ERR_STATE);
        assert_int_equal(pv_noise_handshake_hash(&hi, h), 0);
        assert_false(all_zero(hi.key[PV_NOISE_KEY_E], 32)); /* so the checks below can fail */
        assert_false(all_zero(hi.ss.ck, 32));

        /* Split wipes every secret but keeps the hash and the remote static key. */
        assert_int_equal(pv_noise_handshake_split(&hi, &c[0], &c[1]), 0);
        assert_int_equal(pv_noise_handshake_split(&hr, &c[2], &c[3]), 0);
        assert_int_equal(hi.state, PV_NOISE_HS_SPLIT);
        assert_true(all_zero(hi.key, PV_NOISE_KEY_SECRETS * 32));
        assert_true(all_zero(hi.ss.ck, 32) && all_zero(hi.ss.cs.k, 32));
        assert_true(all_zero(hr.key, PV_NOISE_KEY_SECRETS * 32) && all_zero(hr.ss.ck, 32));
        assert_false(pv_noise_cipher_has_key(&hi.ss.cs));
        uint8_t h2[32], rs[32];
        assert_int_equal(pv_noise_handshake_hash(&hi, h2), 0);
        assert_memory_equal(h, h2, 32);
        assert_int_equal(pv_noise_handshake_remote_static(&hi, rs), 0);
        assert_memory_equal(rs, k.sr_pub, 32);
        assert_int_equal(pv_noise_handshake_remote_static(&hr, rs), PV_NOISE_ERR_STATE);
        assert_int_equal(pv_noise_handshake_split(&hi, &c[0], &c[1]), PV_NOISE_ERR_STATE);
        pv_noise_handshake_wipe(&hi);
        assert_true(all_zero(&hi, sizeof hi));
        assert_int_equal(pv_noise_handshake_hash(&hi, h2), PV_NOISE_ERR_STATE);
        assert_int_equal(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m), PV_NOISE_ERR_STATE);

        /* NN without e: its first message is just e, so the missing key is caught there. */
        pv_noise_keys nn_no_e = keys_of(k.si, NULL, NULL, NULL, NULL);
        assert_int_equal(
            pv_noise_handshake_init(&hi, p, &pv_noise_pattern_NN, 1, NULL, 0, &nn_no_e), 0);
        assert_int_equal(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m), PV_NOISE_ERR_PARAM);
        assert_int_equal(hi.state, PV_NOISE_HS_DEAD);

        /* The psk is a secret too: wiped at the split. */
        keyset_random(&k, &pv_noise_pattern_NKpsk0);
        setup(&hi, &hr, &k, p, p);
        mn = OK(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m));
        assert_int_equal(OK(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt)), 0);
        mn = OK(pv_noise_handshake_write(&hr, NULL, 0, m, sizeof m));
        assert_int_equal(OK(pv_noise_handshake_read(&hi, m, mn, pt, sizeof pt)), 0);
        assert_memory_equal(hi.key[PV_NOISE_KEY_PSK], k.psk, 32);
        assert_int_equal(pv_noise_handshake_split(&hi, &c[0], &c[1]), 0);
        assert_int_equal(pv_noise_handshake_split(&hr, &c[2], &c[3]), 0);
        assert_true(all_zero(hi.key, PV_NOISE_KEY_SECRETS * 32));
        assert_true(all_zero(hr.key, PV_NOISE_KEY_SECRETS * 32));

        /* One-way: only initiator -> responder exists after the split. */
        keyset_random(&k, &pv_noise_pattern_X);
        setup(&hi, &hr, &k, p, p);
        mn = OK(pv_noise_handshake_write(&hi, NULL, 0, m, sizeof m));
        assert_int_equal(OK(pv_noise_handshake_read(&hr, m, mn, pt, sizeof pt)), 0);
        assert_int_equal(pv_noise_handshake_split(&hi, &c[0], &c[1]), 0);
        assert_int_equal(pv_noise_handshake_split(&hr, &c[2], &c[3]), 0);
        assert_int_equal(pv_noise_cipher_encrypt(&c[2], NULL, 0, m, 4, pt, sizeof pt),
                         PV_NOISE_ERR_STATE);
        assert_int_equal(pv_noise_cipher_decrypt(&c[1], NULL, 0, m, 20, pt, sizeof pt),
                         PV_NOISE_ERR_STATE);
        mn = OK(pv_noise_cipher_encrypt(&c[0], NULL, 0, m, 4, m, sizeof m));
        assert_int_equal(OK(pv_noise_cipher_decrypt(&c[3], NULL, 0, m, mn, pt, sizeof pt)), 4);
        assert_int_equal(pv_noise_handshake_remote_static(&hr, m), 0);
        assert_memory_equal(m, k.si_pub, 32);
    }
}

int main(void)
{
    trng_seed_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_table),  cmocka_unit_test(test_cacophony_vectors),
        cmocka_unit_test(test_cross_provider), cmocka_unit_test(test_prologue_reference),
        cmocka_unit_test(test_tamper),         cmocka_unit_test(test_replay_reorder),
        cmocka_unit_test(test_wrong_keys),     cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_nonce_rekey),    cmocka_unit_test(test_low_order),
        cmocka_unit_test(test_premessage_e),   cmocka_unit_test(test_states_and_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
