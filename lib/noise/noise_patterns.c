/* Handshake patterns of the Noise spec, revision 34: one-way (7.4), fundamental interactive
 * (7.5), deferred (18.1) and the PSK patterns of section 9.4 (pskN: "psk" at the start of the
 * first message for N = 0, else at the end of message N). Each pattern is a separate const object
 * so a --gc-sections link keeps only the ones referenced by name. */
#include "noise/noise.h"

#define e    PV_NOISE_TOK_E
#define s    PV_NOISE_TOK_S
#define ee   PV_NOISE_TOK_EE
#define es   PV_NOISE_TOK_ES
#define se   PV_NOISE_TOK_SE
#define ss   PV_NOISE_TOK_SS
#define psk  PV_NOISE_TOK_PSK
#define _    PV_NOISE_TOK_END /* end of message */
#define I_S  PV_NOISE_PRE_IS  /* pre-message "-> s" */
#define R_S  PV_NOISE_PRE_RS  /* pre-message "<- s" */
#define PSK_ PV_NOISE_PSK

/* Messages alternate -> <- -> ...; each ends with _. */
#define FULL_NAME(id) "Noise_" #id "_25519_ChaChaPoly_SHA256"
#define PATTERN(id, flags, nmsg, ...)                                                              \
    const pv_noise_pattern pv_noise_pattern_##id = {                                               \
        (flags), (nmsg), sizeof FULL_NAME(id) - 1, {__VA_ARGS__}, FULL_NAME(id)}

/* One-way: only initiator -> responder. */
PATTERN(N, R_S, 1, e, es, _);
PATTERN(K, I_S | R_S, 1, e, es, ss, _);
PATTERN(X, R_S, 1, e, es, s, ss, _);

/* Fundamental interactive patterns. */
PATTERN(NN, 0, 2, e, _, e, ee, _);
PATTERN(NK, R_S, 2, e, es, _, e, ee, _);
PATTERN(NX, 0, 2, e, _, e, ee, s, es, _);
PATTERN(KN, I_S, 2, e, _, e, ee, se, _);
PATTERN(KK, I_S | R_S, 2, e, es, ss, _, e, ee, se, _);
PATTERN(KX, I_S, 2, e, _, e, ee, se, s, es, _);
PATTERN(XN, 0, 3, e, _, e, ee, _, s, se, _);
PATTERN(XK, R_S, 3, e, es, _, e, ee, _, s, se, _);
PATTERN(XX, 0, 3, e, _, e, ee, s, es, _, s, se, _);
PATTERN(IN, 0, 2, e, s, _, e, ee, se, _);
PATTERN(IK, R_S, 2, e, es, s, ss, _, e, ee, se, _);
PATTERN(IX, 0, 2, e, s, _, e, ee, se, s, es, _);

/* Deferred patterns (appendix 18.1). */
PATTERN(NK1, R_S, 2, e, _, e, ee, es, _);
PATTERN(NX1, 0, 3, e, _, e, ee, s, _, es, _);
PATTERN(X1N, 0, 4, e, _, e, ee, _, s, _, se, _);
PATTERN(X1K, R_S, 4, e, es, _, e, ee, _, s, _, se, _);
PATTERN(XK1, R_S, 3, e, _, e, ee, es, _, s, se, _);
PATTERN(X1K1, R_S, 4, e, _, e, ee, es, _, s, _, se, _);
PATTERN(X1X, 0, 4, e, _, e, ee, s, es, _, s, _, se, _);
PATTERN(XX1, 0, 3, e, _, e, ee, s, _, es, s, se, _);
PATTERN(X1X1, 0, 4, e, _, e, ee, s, _, es, s, _, se, _);
PATTERN(K1N, I_S, 3, e, _, e, ee, _, se, _);
PATTERN(K1K, I_S | R_S, 3, e, es, _, e, ee, _, se, _);
PATTERN(KK1, I_S | R_S, 2, e, _, e, ee, se, es, _);
PATTERN(K1K1, I_S | R_S, 3, e, _, e, ee, es, _, se, _);
PATTERN(K1X, I_S, 3, e, _, e, ee, s, es, _, se, _);
PATTERN(KX1, I_S, 3, e, _, e, ee, se, s, _, es, _);
PATTERN(K1X1, I_S, 3, e, _, e, ee, s, _, se, es, _);
PATTERN(I1N, 0, 3, e, s, _, e, ee, _, se, _);
PATTERN(I1K, R_S, 3, e, es, s, _, e, ee, _, se, _);
PATTERN(IK1, R_S, 2, e, s, _, e, ee, se, es, _);
PATTERN(I1K1, R_S, 3, e, s, _, e, ee, es, _, se, _);
PATTERN(I1X, 0, 3, e, s, _, e, ee, s, es, _, se, _);
PATTERN(IX1, 0, 3, e, s, _, e, ee, se, s, _, es, _);
PATTERN(I1X1, 0, 3, e, s, _, e, ee, s, _, se, es, _);

/* PSK patterns (section 9.4). */
PATTERN(NNpsk0, PSK_, 2, psk, e, _, e, ee, _);
PATTERN(NNpsk2, PSK_, 2, e, _, e, ee, psk, _);
PATTERN(NKpsk0, R_S | PSK_, 2, psk, e, es, _, e, ee, _);
PATTERN(NKpsk2, R_S | PSK_, 2, e, es, _, e, ee, psk, _);
PATTERN(NXpsk2, PSK_, 2, e, _, e, ee, s, es, psk, _);
PATTERN(XNpsk3, PSK_, 3, e, _, e, ee, _, s, se, psk, _);
PATTERN(XKpsk3, R_S | PSK_, 3, e, es, _, e, ee, _, s, se, psk, _);
PATTERN(XXpsk3, PSK_, 3, e, _, e, ee, s, es, _, s, se, psk, _);
PATTERN(KNpsk0, I_S | PSK_, 2, psk, e, _, e, ee, se, _);
PATTERN(KNpsk2, I_S | PSK_, 2, e, _, e, ee, se, psk, _);
PATTERN(KKpsk0, I_S | R_S | PSK_, 2, psk, e, es, ss, _, e, ee, se, _);
PATTERN(KKpsk2, I_S | R_S | PSK_, 2, e, es, ss, _, e, ee, se, psk, _);
PATTERN(KXpsk2, I_S | PSK_, 2, e, _, e, ee, se, s, es, psk, _);
PATTERN(INpsk1, PSK_, 2, e, s, psk, _, e, ee, se, _);
PATTERN(INpsk2, PSK_, 2, e, s, _, e, ee, se, psk, _);
PATTERN(IKpsk1, R_S | PSK_, 2, e, es, s, ss, psk, _, e, ee, se, _);
PATTERN(IKpsk2, R_S | PSK_, 2, e, es, s, ss, _, e, ee, se, psk, _);
PATTERN(IXpsk2, PSK_, 2, e, s, _, e, ee, se, s, es, psk, _);
PATTERN(Npsk0, R_S | PSK_, 1, psk, e, es, _);
PATTERN(Kpsk0, I_S | R_S | PSK_, 1, psk, e, es, ss, _);
PATTERN(Xpsk1, R_S | PSK_, 1, e, es, s, ss, psk, _);

static const pv_noise_pattern *const all_patterns[] = {
    &pv_noise_pattern_N,      &pv_noise_pattern_K,      &pv_noise_pattern_X,
    &pv_noise_pattern_NN,     &pv_noise_pattern_NK,     &pv_noise_pattern_NX,
    &pv_noise_pattern_KN,     &pv_noise_pattern_KK,     &pv_noise_pattern_KX,
    &pv_noise_pattern_XN,     &pv_noise_pattern_XK,     &pv_noise_pattern_XX,
    &pv_noise_pattern_IN,     &pv_noise_pattern_IK,     &pv_noise_pattern_IX,
    &pv_noise_pattern_NK1,    &pv_noise_pattern_NX1,    &pv_noise_pattern_X1N,
    &pv_noise_pattern_X1K,    &pv_noise_pattern_XK1,    &pv_noise_pattern_X1K1,
    &pv_noise_pattern_X1X,    &pv_noise_pattern_XX1,    &pv_noise_pattern_X1X1,
    &pv_noise_pattern_K1N,    &pv_noise_pattern_K1K,    &pv_noise_pattern_KK1,
    &pv_noise_pattern_K1K1,   &pv_noise_pattern_K1X,    &pv_noise_pattern_KX1,
    &pv_noise_pattern_K1X1,   &pv_noise_pattern_I1N,    &pv_noise_pattern_I1K,
    &pv_noise_pattern_IK1,    &pv_noise_pattern_I1K1,   &pv_noise_pattern_I1X,
    &pv_noise_pattern_IX1,    &pv_noise_pattern_I1X1,   &pv_noise_pattern_NNpsk0,
    &pv_noise_pattern_NNpsk2, &pv_noise_pattern_NKpsk0, &pv_noise_pattern_NKpsk2,
    &pv_noise_pattern_NXpsk2, &pv_noise_pattern_XNpsk3, &pv_noise_pattern_XKpsk3,
    &pv_noise_pattern_XXpsk3, &pv_noise_pattern_KNpsk0, &pv_noise_pattern_KNpsk2,
    &pv_noise_pattern_KKpsk0, &pv_noise_pattern_KKpsk2, &pv_noise_pattern_KXpsk2,
    &pv_noise_pattern_INpsk1, &pv_noise_pattern_INpsk2, &pv_noise_pattern_IKpsk1,
    &pv_noise_pattern_IKpsk2, &pv_noise_pattern_IXpsk2, &pv_noise_pattern_Npsk0,
    &pv_noise_pattern_Kpsk0,  &pv_noise_pattern_Xpsk1,
};

#define N_PATTERNS (sizeof all_patterns / sizeof all_patterns[0])

size_t pv_noise_pattern_count(void)
{
    return N_PATTERNS;
}

const pv_noise_pattern *pv_noise_pattern_at(size_t i)
{
    return i < N_PATTERNS ? all_patterns[i] : NULL;
}

const pv_noise_pattern *pv_noise_pattern_find(const char *protocol_name)
{
    for (size_t i = 0; protocol_name && i < N_PATTERNS; i++) {
        const char *a = protocol_name, *b = all_patterns[i]->name;
        while (*a && *a == *b)
            a++, b++;
        if (*a == *b)
            return all_patterns[i];
    }
    return NULL;
}
