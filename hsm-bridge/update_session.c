/* The trusted side's update session (update_session.h): Noise_NNpsk0 responder on OpenSSL, the
 * OFFER in message 2, the DATA stream sealed in nonce order, the REPORT opened at nonce 0. */
#include "update_session.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "host/noise_provider_openssl.h"
#include "image/image.h"
#include "noise/noise.h"

enum step { ST_NEW, ST_ACCEPTED, ST_OFFERED, ST_REPORTED, ST_DEAD };

struct pv_update_session {
    enum step step;
    pv_noise_handshake hs;
    pv_noise_cipherstate tx, rx;
    pv_upd_offer offer;
    uint8_t *stream;
    size_t stream_len;
    uint32_t chunks;
    char err[256];
};

__attribute__((format(printf, 3, 4))) static int fail(struct pv_update_session *s, int rc,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return rc;
}

struct pv_update_session *pv_update_session_new(void)
{
    return calloc(1, sizeof(struct pv_update_session));
}

void pv_update_session_free(struct pv_update_session *s)
{
    if (!s)
        return;
    pv_noise_handshake_wipe(&s->hs);
    pv_noise_cipher_wipe(&s->tx);
    pv_noise_cipher_wipe(&s->rx);
    if (s->stream) {
        pv_wipe(s->stream, s->stream_len);
        free(s->stream);
    }
    pv_wipe(s, sizeof *s);
    free(s);
}

const char *pv_update_session_error(const struct pv_update_session *s)
{
    return s->err;
}

int pv_update_session_hello(const uint8_t *msg1, size_t len, pv_upd_hello *h, char *why,
                            size_t why_len)
{
    if (len != PV_UPD_MSG1_LEN) {
        snprintf(why, why_len, "message 1 is %zu bytes, the protocol's is %u (HELLO %u + Noise %u)",
                 len, PV_UPD_MSG1_LEN, PV_UPD_HELLO_LEN, PV_UPD_MSG1_NOISE_LEN);
        return PV_UPDATE_E_MESSAGE;
    }
    int rc = pv_upd_hello_decode(h, msg1);
    if (rc != PV_UPD_OK) {
        snprintf(why, why_len, "message 1's HELLO: %s", pv_upd_strerror(rc));
        return PV_UPDATE_E_MESSAGE;
    }
    return PV_UPDATE_OK;
}

int pv_update_session_accept(struct pv_update_session *s, const uint8_t psk[32],
                             const uint8_t *msg1, size_t len, uint8_t eph[32])
{
    uint8_t prologue[PV_UPD_PROLOGUE_LEN], e[32], payload[16];
    if (s->step != ST_NEW)
        return fail(s, PV_UPDATE_E_STATE, "update: message 1 was read already");
    if (len != PV_UPD_MSG1_LEN)
        return fail(s, PV_UPDATE_E_MESSAGE, "update: message 1 is %zu bytes, not %u", len,
                    PV_UPD_MSG1_LEN);
    s->step = ST_DEAD;
    if (RAND_bytes(e, sizeof e) != 1)
        return fail(s, PV_UPDATE_E_INTERNAL, "update: no random bytes for the ephemeral key");
    pv_upd_prologue(prologue, msg1);
    pv_noise_keys k = {{[PV_NOISE_KEY_E] = e, [PV_NOISE_KEY_PSK] = psk}};
    int rc = pv_noise_handshake_init(&s->hs, &pv_noise_provider_openssl, &pv_noise_pattern_NNpsk0,
                                     0, prologue, sizeof prologue, &k);
    pv_wipe(e, sizeof e);
    if (rc != PV_NOISE_OK)
        return fail(s, PV_UPDATE_E_INTERNAL, "update: Noise initialisation failed (%d)", rc);
    rc = pv_noise_handshake_read(&s->hs, msg1 + PV_UPD_HELLO_LEN, PV_UPD_MSG1_NOISE_LEN, payload,
                                 sizeof payload);
    if (rc == PV_NOISE_ERR_DECRYPT)
        return fail(s, PV_UPDATE_E_AUTH,
                    "update: message 1 does not authenticate under the PSK of the UID it claims "
                    "(another device's PSK, or a changed HELLO)");
    if (rc != 0)
        return fail(s, PV_UPDATE_E_MESSAGE,
                    "update: message 1 carries a payload or is malformed (Noise %d)", rc);
    memcpy(eph, s->hs.key[PV_NOISE_KEY_RE], 32);
    s->step = ST_ACCEPTED;
    return PV_UPDATE_OK;
}

/* Seals the image into the stream: u16 length || enc(u32 offset || chunk) per message. */
static int seal_stream(struct pv_update_session *s, const uint8_t *image, size_t len, size_t chunk)
{
    size_t n = (len + chunk - 1) / chunk;
    size_t cap = n * (2 + PV_UPD_OFFSET_LEN + PV_UPD_TAG_LEN) + len;
    uint8_t *out = malloc(cap), pt[PV_UPD_OFFSET_LEN + PV_UPD_CHUNK_MAX];
    if (!out)
        return fail(s, PV_UPDATE_E_INTERNAL, "update: out of memory for a %zu-byte stream", cap);
    size_t at = 0;
    for (size_t off = 0; off < len; off += chunk) {
        size_t m = len - off < chunk ? len - off : chunk;
        pv_upd_put32(pt, (uint32_t)off);
        memcpy(pt + PV_UPD_OFFSET_LEN, image + off, m);
        size_t ct = PV_UPD_OFFSET_LEN + m + PV_UPD_TAG_LEN;
        out[at] = (uint8_t)ct;
        out[at + 1] = (uint8_t)(ct >> 8);
        int rc = pv_noise_cipher_encrypt(&s->tx, NULL, 0, pt, PV_UPD_OFFSET_LEN + m, out + at + 2,
                                         cap - at - 2);
        if (rc != (int)ct) {
            pv_wipe(pt, sizeof pt);
            pv_wipe(out, cap);
            free(out);
            return fail(s, PV_UPDATE_E_INTERNAL, "update: sealing DATA at offset %zu failed (%d)",
                        off, rc);
        }
        at += 2 + ct;
    }
    pv_wipe(pt, sizeof pt);
    s->stream = out;
    s->stream_len = at;
    s->chunks = (uint32_t)n;
    return PV_UPDATE_OK;
}

int pv_update_session_offer(struct pv_update_session *s, const uint8_t *image, size_t image_len,
                            uint32_t load_addr, size_t chunk, uint8_t msg2[PV_UPD_MSG2_LEN])
{
    uint8_t off[PV_UPD_OFFER_LEN], digest[32];
    if (s->step != ST_ACCEPTED)
        return fail(s, PV_UPDATE_E_STATE, "update: an offer needs message 1 read, once");
    memset(&s->offer, 0, sizeof s->offer);
    if (image) {
        if (image_len < PV_IMAGE_HDR_LEN || pv_upd_get32(image) != PV_IMAGE_MAGIC ||
            image_len > UINT32_MAX)
            return fail(s, PV_UPDATE_E_MESSAGE, "update: the image to offer is not a PV image");
        if (chunk < 256 || chunk > PV_UPD_CHUNK_MAX || chunk % 256)
            return fail(s, PV_UPDATE_E_MESSAGE,
                        "update: chunk size %zu is not a multiple of 256 in 256..%u", chunk,
                        PV_UPD_CHUNK_MAX);
        pv_sha256(digest, image, image_len);
        s->offer.kind = PV_UPD_OFFER_IMAGE;
        s->offer.chunk_units = (uint8_t)(chunk / 256);
        s->offer.version = pv_upd_get32(image + 16); /* the header's version field */
        s->offer.size = (uint32_t)image_len;
        s->offer.load_addr = load_addr;
        memcpy(s->offer.digest16, digest, 16);
    } else {
        s->offer.kind = PV_UPD_OFFER_NONE;
    }
    pv_upd_offer_encode(off, &s->offer);
    s->step = ST_DEAD;
    int rc = pv_noise_handshake_write(&s->hs, off, sizeof off, msg2, PV_UPD_MSG2_LEN);
    if (rc != (int)PV_UPD_MSG2_LEN)
        return fail(s, PV_UPDATE_E_INTERNAL, "update: writing message 2 failed (%d)", rc);
    if ((rc = pv_noise_handshake_split(&s->hs, &s->tx, &s->rx)) != PV_NOISE_OK)
        return fail(s, PV_UPDATE_E_INTERNAL, "update: Noise split failed (%d)", rc);
    if (image && (rc = seal_stream(s, image, image_len, chunk)) != PV_UPDATE_OK)
        return rc;
    pv_noise_cipher_wipe(&s->tx); /* nothing more goes to the device */
    s->step = ST_OFFERED;
    return PV_UPDATE_OK;
}

const uint8_t *pv_update_session_stream(const struct pv_update_session *s, size_t *len)
{
    *len = s->stream_len;
    return s->stream;
}

const pv_upd_offer *pv_update_session_offered(const struct pv_update_session *s)
{
    return &s->offer;
}

uint32_t pv_update_session_chunks(const struct pv_update_session *s)
{
    return s->chunks;
}

int pv_update_session_report(struct pv_update_session *s, const uint8_t *msg, size_t len,
                             pv_upd_report *r)
{
    uint8_t pt[PV_UPD_REPORT_LEN];
    if (s->step != ST_OFFERED)
        return fail(s, PV_UPDATE_E_STATE,
                    s->step == ST_REPORTED ? "update: the report was opened already"
                                           : "update: a report needs message 2 sent");
    if (len != PV_UPD_REPORT_MSG_LEN)
        return fail(s, PV_UPDATE_E_MESSAGE, "update: the report is %zu bytes, not %u", len,
                    PV_UPD_REPORT_MSG_LEN);
    int rc = pv_noise_cipher_decrypt(&s->rx, NULL, 0, msg, len, pt, sizeof pt);
    if (rc == PV_NOISE_ERR_DECRYPT)
        return fail(s, PV_UPDATE_E_AUTH,
                    "update: the report does not authenticate (not this session's device, or "
                    "changed on the way)");
    if (rc != (int)PV_UPD_REPORT_LEN)
        return fail(s, PV_UPDATE_E_INTERNAL, "update: opening the report failed (%d)", rc);
    rc = pv_upd_report_decode(r, pt);
    pv_wipe(pt, sizeof pt);
    if (rc != PV_UPD_OK)
        return fail(s, PV_UPDATE_E_MESSAGE, "update: the report: %s", pv_upd_strerror(rc));
    pv_noise_cipher_wipe(&s->rx);
    s->step = ST_REPORTED;
    return PV_UPDATE_OK;
}
