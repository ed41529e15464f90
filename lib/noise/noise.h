/* The Noise Protocol Framework, revision 34, for the suite 25519_ChaChaPoly_SHA256.
 * CipherState, SymmetricState and HandshakeState as in sections 5.1-5.3, with caller-supplied
 * buffers (no heap), bounded lengths and named error codes. The suite's primitives come from a
 * pv_noise_provider (noise_provider.h). See docs/noise.md. */
#ifndef PV_NOISE_H
#define PV_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "noise/noise_provider.h"

#define PV_NOISE_MAX_MSG 65535u /* every Noise message, handshake or transport */

enum pv_noise_err {
    PV_NOISE_OK = 0,
    PV_NOISE_ERR_DECRYPT = -1,  /* authentication tag mismatch */
    PV_NOISE_ERR_SHORT = -2,    /* message shorter than the pattern requires */
    PV_NOISE_ERR_STATE = -3,    /* wrong call for the current state (turn, finished, failed) */
    PV_NOISE_ERR_DH = -4,       /* DH gave an all-zero result (low-order public key) */
    PV_NOISE_ERR_NONCE = -5,    /* nonce exhausted (n == 2^64-1) */
    PV_NOISE_ERR_BUFFER = -6,   /* caller's output buffer too small */
    PV_NOISE_ERR_TOO_LONG = -7, /* message would exceed PV_NOISE_MAX_MSG */
    PV_NOISE_ERR_PARAM = -8,    /* missing key the pattern needs, or a bad argument */
    PV_NOISE_ERR_PROVIDER = -9  /* the provider failed internally (e.g. OpenSSL allocation) */
};

/* ---- Handshake patterns (noise_patterns.c) ---------------------------------------------------
 * Tokens, one byte each; PV_NOISE_TOK_END closes a message. A DH token has bit 2 set, bit 1 set
 * if the initiator's key in it is static, bit 0 set if the responder's key is static. */
enum pv_noise_token {
    PV_NOISE_TOK_END = 0,
    PV_NOISE_TOK_E = 1,
    PV_NOISE_TOK_S = 2,
    PV_NOISE_TOK_PSK = 3,
    PV_NOISE_TOK_EE = 4,
    PV_NOISE_TOK_ES = 5,
    PV_NOISE_TOK_SE = 6,
    PV_NOISE_TOK_SS = 7
};

/* Pre-message and mode flags of a pattern. */
#define PV_NOISE_PRE_IE 0x01u /* -> e ... (initiator's ephemeral known in advance) */
#define PV_NOISE_PRE_IS 0x02u /* -> s ... */
#define PV_NOISE_PRE_RE 0x04u /* <- e ... */
#define PV_NOISE_PRE_RS 0x08u /* <- s ... */
#define PV_NOISE_PSK    0x10u /* a psk token occurs: "e" also does MixKey(e.public_key) */

#define PV_NOISE_PATTERN_MAX_TOKENS 12
#define PV_NOISE_NAME_MAX           40

typedef struct pv_noise_pattern {
    uint8_t flags;                               /* PV_NOISE_PRE_* | PV_NOISE_PSK */
    uint8_t nmsg;                                /* handshake messages; 1 means a one-way pattern */
    uint8_t name_len;                            /* strlen(name) */
    uint8_t tokens[PV_NOISE_PATTERN_MAX_TOKENS]; /* nmsg messages, each ended by TOK_END */
    char name[PV_NOISE_NAME_MAX]; /* full protocol name, "Noise_NK_25519_ChaChaPoly_SHA256" */
} pv_noise_pattern;

/* Each pattern is its own object, so a --gc-sections link keeps only those referenced. */
extern const pv_noise_pattern pv_noise_pattern_N, pv_noise_pattern_K, pv_noise_pattern_X;
extern const pv_noise_pattern pv_noise_pattern_NN, pv_noise_pattern_NK, pv_noise_pattern_NX,
    pv_noise_pattern_KN, pv_noise_pattern_KK, pv_noise_pattern_KX, pv_noise_pattern_XN,
    pv_noise_pattern_XK, pv_noise_pattern_XX, pv_noise_pattern_IN, pv_noise_pattern_IK,
    pv_noise_pattern_IX;
extern const pv_noise_pattern pv_noise_pattern_NK1, pv_noise_pattern_NX1, pv_noise_pattern_X1N,
    pv_noise_pattern_X1K, pv_noise_pattern_XK1, pv_noise_pattern_X1K1, pv_noise_pattern_X1X,
    pv_noise_pattern_XX1, pv_noise_pattern_X1X1, pv_noise_pattern_K1N, pv_noise_pattern_K1K,
    pv_noise_pattern_KK1, pv_noise_pattern_K1K1, pv_noise_pattern_K1X, pv_noise_pattern_KX1,
    pv_noise_pattern_K1X1, pv_noise_pattern_I1N, pv_noise_pattern_I1K, pv_noise_pattern_IK1,
    pv_noise_pattern_I1K1, pv_noise_pattern_I1X, pv_noise_pattern_IX1, pv_noise_pattern_I1X1;
extern const pv_noise_pattern pv_noise_pattern_NNpsk0, pv_noise_pattern_NNpsk2,
    pv_noise_pattern_NKpsk0, pv_noise_pattern_NKpsk2, pv_noise_pattern_NXpsk2,
    pv_noise_pattern_XNpsk3, pv_noise_pattern_XKpsk3, pv_noise_pattern_XXpsk3,
    pv_noise_pattern_KNpsk0, pv_noise_pattern_KNpsk2, pv_noise_pattern_KKpsk0,
    pv_noise_pattern_KKpsk2, pv_noise_pattern_KXpsk2, pv_noise_pattern_INpsk1,
    pv_noise_pattern_INpsk2, pv_noise_pattern_IKpsk1, pv_noise_pattern_IKpsk2,
    pv_noise_pattern_IXpsk2, pv_noise_pattern_Npsk0, pv_noise_pattern_Kpsk0, pv_noise_pattern_Xpsk1;

/* The pattern of a full protocol name ("Noise_XX_25519_ChaChaPoly_SHA256", NUL-terminated), or
 * NULL if the name is unknown or names another suite. Links in every pattern: host use. */
const pv_noise_pattern *pv_noise_pattern_find(const char *protocol_name);
/* Number of patterns in the table, and the i-th (NULL when out of range); for tests/tools. */
size_t pv_noise_pattern_count(void);
const pv_noise_pattern *pv_noise_pattern_at(size_t i);

/* ---- CipherState (5.1) -----------------------------------------------------------------------
 * Functions that produce bytes return how many (>= 0, at most 65535) or a negative error. */
typedef struct pv_noise_cipherstate {
    const pv_noise_provider *prov;
    uint8_t has_key; /* 0 empty (handshake pass-through), 1 keyed, 2 disabled (ERR_STATE) */
    uint64_t n;
    uint8_t k[PV_NOISE_KEYLEN];
} pv_noise_cipherstate;

/* InitializeKey: key NULL means empty. n = 0. */
void pv_noise_cipher_init(pv_noise_cipherstate *cs, const pv_noise_provider *prov,
                          const uint8_t key[32]);
int pv_noise_cipher_has_key(const pv_noise_cipherstate *cs);
void pv_noise_cipher_set_nonce(pv_noise_cipherstate *cs, uint64_t n);
/* EncryptWithAd (enc = 1) or DecryptWithAd (enc = 0): out gets the result, out may equal in (no
 * other overlap). Encrypting, out gets len + 16 bytes (len when the key is empty); decrypting,
 * len - 16. On ERR_DECRYPT n is not advanced and out holds no plaintext. Errors: ERR_SHORT
 * (ciphertext < 16 bytes), ERR_TOO_LONG (> 65535), ERR_BUFFER (out_cap), ERR_NONCE, ERR_STATE,
 * ERR_DECRYPT, ERR_PROVIDER. */
int pv_noise_cipher_crypt(pv_noise_cipherstate *cs, int enc, const uint8_t *ad, size_t ad_len,
                          const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);
/* The two directions by name (inline: no extra code on the device). */
static inline int pv_noise_cipher_encrypt(pv_noise_cipherstate *cs, const uint8_t *ad,
                                          size_t ad_len, const uint8_t *pt, size_t len,
                                          uint8_t *out, size_t out_cap)
{
    return pv_noise_cipher_crypt(cs, 1, ad, ad_len, pt, len, out, out_cap);
}
static inline int pv_noise_cipher_decrypt(pv_noise_cipherstate *cs, const uint8_t *ad,
                                          size_t ad_len, const uint8_t *ct, size_t len,
                                          uint8_t *out, size_t out_cap)
{
    return pv_noise_cipher_crypt(cs, 0, ad, ad_len, ct, len, out, out_cap);
}
/* Rekey (11.3): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", 32 zero bytes). n is unchanged. */
int pv_noise_cipher_rekey(pv_noise_cipherstate *cs);
/* Zero it; a wiped CipherState refuses everything (ERR_STATE), it never passes plaintext. */
void pv_noise_cipher_wipe(pv_noise_cipherstate *cs);

/* ---- SymmetricState (5.2) -------------------------------------------------------------------- */
typedef struct pv_noise_symmetricstate {
    pv_noise_cipherstate cs;
    uint8_t ck[PV_NOISE_HASHLEN];
    uint8_t h[PV_NOISE_HASHLEN];
} pv_noise_symmetricstate;

int pv_noise_symmetric_init(pv_noise_symmetricstate *ss, const pv_noise_provider *prov,
                            const void *protocol_name, size_t name_len);
int pv_noise_symmetric_mix_hash(pv_noise_symmetricstate *ss, const void *data, size_t len);
/* MixKey (with_hash = 0) or MixKeyAndHash (with_hash = 1). */
int pv_noise_symmetric_mix(pv_noise_symmetricstate *ss, const uint8_t *ikm, size_t len,
                           int with_hash);
static inline int pv_noise_symmetric_mix_key(pv_noise_symmetricstate *ss, const uint8_t *ikm,
                                             size_t len)
{
    return pv_noise_symmetric_mix(ss, ikm, len, 0);
}
static inline int pv_noise_symmetric_mix_key_and_hash(pv_noise_symmetricstate *ss,
                                                      const uint8_t *ikm, size_t len)
{
    return pv_noise_symmetric_mix(ss, ikm, len, 1);
}
void pv_noise_symmetric_handshake_hash(const pv_noise_symmetricstate *ss, uint8_t out[32]);
/* EncryptAndHash (enc = 1) / DecryptAndHash (enc = 0): pv_noise_cipher_crypt with ad = h, then
 * h = HASH(h || ciphertext) (only on success). out may equal in. */
int pv_noise_symmetric_crypt_and_hash(pv_noise_symmetricstate *ss, int enc, const uint8_t *in,
                                      size_t len, uint8_t *out, size_t out_cap);
static inline int pv_noise_symmetric_encrypt_and_hash(pv_noise_symmetricstate *ss,
                                                      const uint8_t *pt, size_t len, uint8_t *out,
                                                      size_t out_cap)
{
    return pv_noise_symmetric_crypt_and_hash(ss, 1, pt, len, out, out_cap);
}
static inline int pv_noise_symmetric_decrypt_and_hash(pv_noise_symmetricstate *ss,
                                                      const uint8_t *ct, size_t len, uint8_t *out,
                                                      size_t out_cap)
{
    return pv_noise_symmetric_crypt_and_hash(ss, 0, ct, len, out, out_cap);
}
/* Split: c1, c2 = the two transport CipherStates; wipes ck and the handshake key. */
int pv_noise_symmetric_split(pv_noise_symmetricstate *ss, pv_noise_cipherstate *c1,
                             pv_noise_cipherstate *c2);

/* ---- HandshakeState (5.3) -------------------------------------------------------------------- */
enum pv_noise_hs_state {
    PV_NOISE_HS_DEAD = 0, /* never initialised, wiped, or failed: every call gives ERR_STATE */
    PV_NOISE_HS_ACTIVE = 1,
    PV_NOISE_HS_COMPLETE = 2, /* all messages done; call pv_noise_handshake_split */
    PV_NOISE_HS_SPLIT = 3     /* secrets wiped; only hash and remote static remain */
};

/* Key slots, both of pv_noise_keys and of pv_noise_handshake.key. Secrets first (one wipe clears
 * them); for X in {E, S} the remote slot is PV_NOISE_KEY_RE + X and the local public one
 * PV_NOISE_KEY_E_PUB + X. */
enum pv_noise_key_slot {
    PV_NOISE_KEY_E = 0,     /* local ephemeral private key */
    PV_NOISE_KEY_S = 1,     /* local static private key */
    PV_NOISE_KEY_PSK = 2,   /* pre-shared symmetric key */
    PV_NOISE_KEY_RE = 3,    /* remote ephemeral public key */
    PV_NOISE_KEY_RS = 4,    /* remote static public key */
    PV_NOISE_KEY_E_PUB = 5, /* local ephemeral public key (derived) */
    PV_NOISE_KEY_S_PUB = 6, /* local static public key (derived) */
    PV_NOISE_KEY_SLOTS = 7
};
#define PV_NOISE_KEY_SECRETS 3 /* slots 0..2 */
#define PV_NOISE_KEY_INPUTS  5 /* slots 0..4 are supplied by the caller */

/* Keys for Initialize, indexed by slot: 32 bytes each, NULL means absent. Private keys are X25519
 * scalars, public keys u-coordinates. key[PV_NOISE_KEY_E] is the local ephemeral private key,
 * drawn by the caller from its RNG for this handshake only (the library has no RNG). RE/RS are
 * needed only when the pattern has them in a pre-message, PSK only when it has a psk token, e.g.
 *     pv_noise_keys k = {{[PV_NOISE_KEY_E] = eph, [PV_NOISE_KEY_RS] = server_pub}}; */
typedef struct pv_noise_keys {
    const uint8_t *key[PV_NOISE_KEY_INPUTS];
} pv_noise_keys;

typedef struct pv_noise_handshake {
    const pv_noise_pattern *pat;
    uint8_t initiator; /* 1 initiator, 0 responder */
    uint8_t have;      /* bit (1 << slot) set when key[slot] holds a key */
    uint8_t msg;       /* index of the next handshake message */
    uint8_t pos;       /* index of its first token */
    uint8_t state;     /* enum pv_noise_hs_state */
    pv_noise_symmetricstate ss;
    uint8_t key[PV_NOISE_KEY_SLOTS][32];
} pv_noise_handshake;

/* Initialize: InitializeSymmetric("Noise_<pattern>_25519_ChaChaPoly_SHA256"), MixHash(prologue)
 * (also when empty), then the pre-message keys. Copies the keys it is given; the caller may wipe
 * its own copies afterwards. ERR_PARAM if a pre-message key or an argument is missing; a key
 * that a later token needs and was not given fails that message with ERR_PARAM. On any error
 * hs is left wiped (DEAD). */
int pv_noise_handshake_init(pv_noise_handshake *hs, const pv_noise_provider *prov,
                            const pv_noise_pattern *pat, int initiator, const uint8_t *prologue,
                            size_t prologue_len, const pv_noise_keys *keys);
/* WriteMessage (wr = 1: in = payload, out = message) or ReadMessage (wr = 0: in = message,
 * out = payload); in and out must not overlap. Returns the bytes written to out. Every failure
 * wipes the handshake (state DEAD) so a failed message can be neither retried nor patched, except
 * ERR_STATE for a write out of turn. Nothing is ever written past out_cap (ERR_BUFFER), and no
 * message exceeds 65535 bytes (ERR_TOO_LONG / ERR_BUFFER). */
int pv_noise_handshake_message(pv_noise_handshake *hs, int wr, const uint8_t *in, size_t in_len,
                               uint8_t *out, size_t out_cap);
static inline int pv_noise_handshake_write(pv_noise_handshake *hs, const uint8_t *payload,
                                           size_t payload_len, uint8_t *out, size_t out_cap)
{
    return pv_noise_handshake_message(hs, 1, payload, payload_len, out, out_cap);
}
static inline int pv_noise_handshake_read(pv_noise_handshake *hs, const uint8_t *msg,
                                          size_t msg_len, uint8_t *payload, size_t payload_cap)
{
    return pv_noise_handshake_message(hs, 0, msg, msg_len, payload, payload_cap);
}
/* 1 while it is this side's turn to write, else 0. */
int pv_noise_handshake_my_turn(const pv_noise_handshake *hs);
/* After the last message: tx encrypts what this side sends, rx decrypts what it receives
 * (initiator tx = c1, rx = c2; responder the reverse). In a one-way pattern the unused direction
 * is disabled (ERR_STATE). Wipes every secret in hs; state becomes SPLIT. */
int pv_noise_handshake_split(pv_noise_handshake *hs, pv_noise_cipherstate *tx,
                             pv_noise_cipherstate *rx);
/* The remote party's static public key once known (pre-message or received), else ERR_STATE. */
int pv_noise_handshake_remote_static(const pv_noise_handshake *hs, uint8_t out[32]);
/* GetHandshakeHash: valid in state COMPLETE or SPLIT, else ERR_STATE. */
int pv_noise_handshake_hash(const pv_noise_handshake *hs, uint8_t out[32]);
/* Zero the whole handshake state (use when abandoning it). */
void pv_noise_handshake_wipe(pv_noise_handshake *hs);

#endif
