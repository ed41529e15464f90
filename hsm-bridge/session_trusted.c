/* The trusted side's half of the stub protocol: Noise_NK responder (OpenSSL provider), checks of
 * the stub's first payload, command encodings, sealing frames and opening replies. */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "crypto/wipe.h"
#include "host/noise_provider_openssl.h"
#include "session.h"

#define FAIL(s, code, ...) (snprintf((s)->err, sizeof(s)->err, __VA_ARGS__), (code))

int pv_session_init(struct pv_session *s, const uint8_t static_priv[32])
{
    uint8_t e[32];
    memset(s, 0, sizeof *s);
    if (RAND_bytes(e, sizeof e) != 1)
        return FAIL(s, -1, "session: no randomness for the ephemeral key (OpenSSL RAND_bytes)");
    pv_noise_keys k = {{[PV_NOISE_KEY_E] = e, [PV_NOISE_KEY_S] = static_priv}};
    int rc = pv_noise_handshake_init(&s->hs, &pv_noise_provider_openssl, &pv_noise_pattern_NK, 0,
                                     (const uint8_t *)PV_PROTO_PROLOGUE, PV_PROTO_PROLOGUE_LEN, &k);
    pv_wipe(e, sizeof e);
    if (rc < 0) {
        pv_session_end(s); /* whatever the handshake state took of the keys */
        return FAIL(s, -1, "session: Noise initialisation failed (%d)", rc);
    }
    s->next_seq = 1;
    return 0;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static int check_identity(struct pv_session *s, const struct pv_session_expect *ex)
{
    const struct pv_stub_identity *id = &s->id;
    char a[65], b[65];
    if (id->version != PV_PROTO_VERSION)
        return FAIL(s, -1, "session: stub speaks protocol %u, this side %u: use matching builds",
                    id->version, PV_PROTO_VERSION);
    if (ex && ex->stub_digest && memcmp(ex->stub_digest, id->digest, 32) != 0) {
        hex(a, id->digest, 32);
        hex(b, ex->stub_digest, 32);
        return FAIL(s, -1,
                    "session: the stub in the chip measures %s, the released stub.bin %s: "
                    "refusing an unknown stub",
                    a, b);
    }
    if (ex && ex->dev_id && (id->idcode & 0xFFFu) != ex->dev_id)
        return FAIL(s, -1, "session: chip reports DEV_ID 0x%03x, the recipe wants 0x%03x",
                    (unsigned)(id->idcode & 0xFFFu), ex->dev_id);
    if (ex && ex->flash_kb && id->flash_kb != ex->flash_kb)
        return FAIL(s, -1, "session: chip has %u KB of flash, the recipe wants %u KB", id->flash_kb,
                    ex->flash_kb);
    if (id->rdp != PV_RDP_LEVEL0 && !(ex && ex->allow_protected))
        return FAIL(s, -1,
                    "session: chip's read protection is already on (RDP 0x%02x): it was "
                    "provisioned or locked before; refusing",
                    id->rdp);
    return 0;
}

int pv_session_accept(struct pv_session *s, const uint8_t *msg1, size_t msg1_len,
                      const struct pv_session_expect *ex)
{
    uint8_t id[PV_ID_LEN + 16];
    int n = pv_noise_handshake_read(&s->hs, msg1, msg1_len, id, sizeof id);
    if (n < 0)
        return FAIL(s, -1,
                    "session: message 1 does not open under this trusted side's key (%d): the "
                    "stub was given another public key, or the message was altered",
                    n);
    if (n != PV_ID_LEN)
        return FAIL(s, -1, "session: stub identity is %d bytes, expected %u", n, PV_ID_LEN);
    struct pv_stub_identity *d = &s->id;
    d->version = id[PV_ID_VERSION];
    d->rdp = id[PV_ID_RDP];
    d->flash_kb = pv_ld16(id + PV_ID_FLASH_KB);
    d->idcode = pv_ld32(id + PV_ID_IDCODE);
    memcpy(d->uid, id + PV_ID_UID, 12);
    d->nwrp = pv_ld32(id + PV_ID_NWRP);
    memcpy(d->digest, id + PV_ID_DIGEST, 32);
    return check_identity(s, ex);
}

int pv_session_grant(struct pv_session *s, const struct pv_region *regions, unsigned nregions,
                     uint8_t *frame, size_t cap)
{
    int n;
    if (pv_noise_handshake_my_turn(&s->hs) != 1)
        return FAIL(s, -1, "session: message 1 not accepted yet");
    if (nregions == 0 || nregions > PV_MAX_REGIONS)
        return FAIL(s, -1, "session: %u regions granted, 1..%u allowed", nregions, PV_MAX_REGIONS);
    uint8_t g[PV_MAX_REGIONS * 8];
    for (unsigned i = 0; i < nregions; i++) {
        pv_st32(g + 8 * i, regions[i].addr);
        pv_st32(g + 8 * i + 4, regions[i].len);
    }
    if (cap < PV_TRAILER_LEN)
        return FAIL(s, -1, "session: no room for message 2");
    n = pv_noise_handshake_write(&s->hs, g, 8 * nregions, frame, cap - PV_TRAILER_LEN);
    if (n < 0)
        return FAIL(s, -1, "session: writing message 2 failed (%d)", n);
    pv_trailer_put(frame + n, s->next_seq++, (uint16_t)n, PV_FRAME_HANDSHAKE, 0);
    if (pv_noise_handshake_split(&s->hs, &s->tx, &s->rx) < 0)
        return FAIL(s, -1, "session: Noise split failed");
    s->established = true;
    return n + PV_TRAILER_LEN;
}

int pv_session_seal(struct pv_session *s, const uint8_t *cmds, size_t len, uint8_t flags,
                    uint8_t *frame, size_t cap)
{
    if (!s->established)
        return FAIL(s, -1, "session: no session (message 1 not accepted)");
    if (len + PV_NOISE_TAGLEN + PV_TRAILER_LEN > cap || len + PV_NOISE_TAGLEN > 0xFFFF)
        return FAIL(s, -1, "session: %zu command bytes do not fit a frame of %zu", len, cap);
    uint8_t tr[PV_TRAILER_LEN];
    pv_trailer_put(tr, s->next_seq, (uint16_t)(len + PV_NOISE_TAGLEN), PV_FRAME_TRANSPORT, flags);
    int n = pv_noise_cipher_encrypt(&s->tx, tr, sizeof tr, cmds, len, frame, cap);
    if (n < 0)
        return FAIL(s, -1, "session: sealing frame %u failed (%d)", s->next_seq, n);
    memcpy(frame + n, tr, sizeof tr);
    s->next_seq++;
    return n + PV_TRAILER_LEN;
}

int pv_session_open(struct pv_session *s, const uint8_t *hdr_body, size_t len, struct pv_reply *r)
{
    uint8_t pt[PV_MBOX_REPLY_MAX];
    memset(r, 0, sizeof *r);
    if (len < PV_TRAILER_LEN)
        return FAIL(s, -1, "session: reply shorter than its header");
    size_t blen = pv_ld16(hdr_body + PV_TRAILER_LEN16);
    if (blen > len - PV_TRAILER_LEN || blen > sizeof pt ||
        hdr_body[PV_TRAILER_TYPE] != PV_FRAME_TRANSPORT)
        return FAIL(s, -1, "session: malformed reply header (length %zu, type %u)", blen,
                    hdr_body[PV_TRAILER_TYPE]);
    int n = pv_noise_cipher_decrypt(&s->rx, hdr_body, PV_TRAILER_LEN, hdr_body + PV_TRAILER_LEN,
                                    blen, pt, sizeof pt);
    if (n < 0)
        return FAIL(s, -1,
                    "session: reply does not authenticate (%d): not from this session's "
                    "stub, or altered",
                    n);
    if (n != PV_REPLY_HDR)
        return FAIL(s, -1, "session: reply of %d bytes, a stub reply has %d", n, PV_REPLY_HDR);
    r->seq = pv_ld32(hdr_body + PV_TRAILER_SEQ);
    r->status = pt[PV_REPLY_STATUS];
    r->index = pt[PV_REPLY_INDEX];
    r->detail = pv_ld32(pt + PV_REPLY_DETAIL);
    pv_wipe(pt, sizeof pt);
    return 0;
}

void pv_session_end(struct pv_session *s)
{
    pv_noise_handshake_wipe(&s->hs);
    pv_noise_cipher_wipe(&s->tx);
    pv_noise_cipher_wipe(&s->rx);
    s->established = false;
}

/* ---- command encodings ---- */

size_t pv_cmd_erase(uint8_t *out, uint32_t addr, uint32_t len, unsigned psize)
{
    pv_cmd_put(out, PV_OP_ERASE, (uint8_t)psize, 0, addr, len);
    return PV_CMD_HDR;
}

size_t pv_cmd_write(uint8_t *out, uint32_t addr, const void *data, uint16_t n, unsigned psize)
{
    pv_cmd_put(out, PV_OP_WRITE, (uint8_t)psize, n, addr, 0);
    memcpy(out + PV_CMD_HDR, data, n);
    return PV_CMD_HDR + n;
}

size_t pv_cmd_verify(uint8_t *out, uint32_t addr, uint32_t len, const uint8_t digest[32])
{
    pv_cmd_put(out, PV_OP_VERIFY, 0, 32, addr, len);
    memcpy(out + PV_CMD_HDR, digest, 32);
    return PV_CMD_HDR + 32;
}

size_t pv_cmd_keyslot(uint8_t *out, uint32_t addr, const uint8_t slot[PV_KEYSLOT_LEN],
                      unsigned psize)
{
    pv_cmd_put(out, PV_OP_KEYSLOT, (uint8_t)psize, PV_KEYSLOT_LEN, addr, 0);
    memcpy(out + PV_CMD_HDR, slot, PV_KEYSLOT_LEN);
    return PV_CMD_HDR + PV_KEYSLOT_LEN;
}

size_t pv_cmd_options(uint8_t *out, uint8_t rdp, uint32_t nwrp)
{
    pv_cmd_put(out, PV_OP_OPTIONS, rdp, 0, nwrp, 0);
    return PV_CMD_HDR;
}

size_t pv_cmd_reset(uint8_t *out)
{
    pv_cmd_put(out, PV_OP_RESET, 0, 0, 0, 0);
    return PV_CMD_HDR;
}
