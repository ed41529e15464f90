/* Fuzzing Noise message reads (lib/noise, pv_noise_handshake_read) on the provider the stub runs
 * (lib/crypto): for a pattern picked by the first byte (every pattern of the table, NK and its
 * PSK variant the protocol's), both parties are initialised with fixed keys and run the
 * handshake honestly up to the message picked by the second byte; the reader then gets the
 * rest of the input instead of that message (or, when the third byte's low bit is set, the real
 * message with the input XORed over it). Aborts when a read claims more payload than the
 * message could carry or the buffer hold, or a failed read leaves the handshake usable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/x25519.h"
#include "noise/noise.h"
#include "noise/noise_provider_pv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MSG_MAX 2048

static uint8_t priv[4][32], pub[4][32], psk[32];
enum { IE, IS, RE, RS };

static void keys_once(void)
{
    static int done;
    if (done)
        return;
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 32; i++)
            priv[k][i] = (uint8_t)(17 * k + 3 * i + 1);
        pv_x25519_public(pub[k], priv[k]);
    }
    memset(psk, 0x5a, sizeof psk);
    done = 1;
}

static int init(pv_noise_handshake *hs, const pv_noise_pattern *p, int initiator)
{
    pv_noise_keys k = {{NULL}};
    k.key[PV_NOISE_KEY_E] = priv[initiator ? IE : RE];
    k.key[PV_NOISE_KEY_S] = priv[initiator ? IS : RS];
    if (p->flags & PV_NOISE_PSK)
        k.key[PV_NOISE_KEY_PSK] = psk;
    if (initiator ? p->flags & PV_NOISE_PRE_RE : p->flags & PV_NOISE_PRE_IE)
        k.key[PV_NOISE_KEY_RE] = pub[initiator ? RE : IE];
    if (initiator ? p->flags & PV_NOISE_PRE_RS : p->flags & PV_NOISE_PRE_IS)
        k.key[PV_NOISE_KEY_RS] = pub[initiator ? RS : IS];
    static const uint8_t prologue[] = "pv fuzz";
    return pv_noise_handshake_init(hs, &pv_noise_provider_pv, p, initiator, prologue,
                                   sizeof prologue - 1, &k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size - 3 > MSG_MAX)
        return 0;
    keys_once();
    const pv_noise_pattern *p = pv_noise_pattern_at(data[0] % pv_noise_pattern_count());
    if (!p)
        abort();
    unsigned target = data[1] % p->nmsg;
    int xor = data[2] & 1;
    data += 3, size -= 3;
    /* The honest prefix depends on pattern and target only: computed once, then copied. */
    static struct {
        int ready, honest;
        pv_noise_handshake hs[2];
        uint8_t msg[MSG_MAX];
    } cache[64][4];
    size_t pi = data[-3] % pv_noise_pattern_count();
    if (pi >= 64 || target >= 4)
        abort();
    static uint8_t msg[MSG_MAX + 64], out[MSG_MAX + 64];
    static const uint8_t payload[] = "payload";
    if (!cache[pi][target].ready) {
        pv_noise_handshake *hs = cache[pi][target].hs;
        if (init(&hs[0], p, 1) != PV_NOISE_OK || init(&hs[1], p, 0) != PV_NOISE_OK)
            abort();
        for (unsigned m = 0; m < target; m++) {
            pv_noise_handshake *w = &hs[m & 1], *r = &hs[!(m & 1)];
            int n = pv_noise_handshake_write(w, payload, sizeof payload, msg, sizeof msg);
            if (n < 0 || pv_noise_handshake_read(r, msg, (size_t)n, out, sizeof out) < 0)
                abort();
        }
        int honest = pv_noise_handshake_write(&hs[target & 1], payload, sizeof payload,
                                              cache[pi][target].msg, MSG_MAX);
        if (honest < 0)
            abort();
        cache[pi][target].honest = honest;
        cache[pi][target].ready = 1;
    }
    static pv_noise_handshake reader;
    reader = cache[pi][target].hs[!(target & 1)];
    pv_noise_handshake *r = &reader;
    int honest = cache[pi][target].honest;
    memcpy(msg, cache[pi][target].msg, (size_t)honest);
    size_t len = size;
    if (xor) {
        len = (size_t)honest;
        for (size_t i = 0; i < size && i < len; i++)
            msg[i] ^= data[i];
    } else {
        memcpy(msg, data, size);
    }
    size_t cap = size && data[0] % 2 ? (size_t)(size % 64) : sizeof out;
    int n = pv_noise_handshake_read(r, msg, len, out, cap);
    if (n >= 0) {
        if ((size_t)n > len || (size_t)n > cap)
            abort();
    } else {
        /* A failed read kills the handshake: nothing more may be read or written. */
        if (pv_noise_handshake_read(r, msg, len, out, sizeof out) >= 0 ||
            pv_noise_handshake_write(r, payload, sizeof payload, out, sizeof out) >= 0)
            abort();
    }
    return 0;
}
