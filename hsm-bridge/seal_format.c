/* Files sealed at rest: header layout and parser (seal_format.h, docs/keystore.md). */
#include "seal_format.h"

#include <stdio.h>
#include <string.h>

#include "util/le.h"

size_t pv_seal_header_len(size_t label_len)
{
    return PV_SEAL_MAGIC_LEN + 1 + label_len + PV_SEAL_NONCE_LEN + 4;
}

uint8_t *pv_seal_header(uint8_t *out, const char *label, const uint8_t nonce[PV_SEAL_NONCE_LEN],
                        uint32_t plain_len)
{
    size_t ll = strlen(label);
    memcpy(out, PV_SEAL_MAGIC, PV_SEAL_MAGIC_LEN); /* with its NUL */
    out[PV_SEAL_MAGIC_LEN] = (uint8_t)ll;
    memcpy(out + PV_SEAL_MAGIC_LEN + 1, label, ll);
    uint8_t *n = out + PV_SEAL_MAGIC_LEN + 1 + ll;
    memcpy(n, nonce, PV_SEAL_NONCE_LEN);
    pv_st32(n + PV_SEAL_NONCE_LEN, plain_len);
    return n;
}

int pv_seal_is_sealed(const uint8_t *b, size_t n)
{
    return n >= PV_SEAL_MAGIC_LEN && memcmp(b, PV_SEAL_MAGIC, PV_SEAL_MAGIC_LEN) == 0;
}

/* A label from a file's header, for a message: printable ASCII as is, other bytes (and the
 * quote and backslash) as \xHH, cut at 64 bytes. */
static void printable_label(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && i < 64 && o + 5 < cap; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '\'')
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
    }
    if (n > 64 && o + 4 < cap)
        o += (size_t)snprintf(out + o, cap - o, "...");
    out[o < cap ? o : cap - 1] = 0;
}

int pv_seal_parse(const uint8_t *b, size_t n, const char *path, const char *label,
                  const char *token, pv_seal_view *v, char *err, size_t err_len)
{
    memset(v, 0, sizeof *v);
    if (!pv_seal_is_sealed(b, n)) {
        snprintf(err, err_len,
                 "%s: not a sealed image (no \"%s\" header); seal images with `provision keys "
                 "seal --recipe RECIPE IN OUT`",
                 path, PV_SEAL_MAGIC);
        return -1;
    }
    size_t ll = n > PV_SEAL_MAGIC_LEN ? b[PV_SEAL_MAGIC_LEN] : 0;
    size_t hdr = pv_seal_header_len(ll);
    if (ll == 0 || ll > PV_SEAL_LABEL_MAX || n < hdr + PV_SEAL_TAG_LEN) {
        snprintf(err, err_len,
                 "%s: damaged sealed header (key label length %zu, at most %u; file %zu bytes, "
                 "header and tag need %zu)",
                 path, ll, (unsigned)PV_SEAL_LABEL_MAX, n, hdr + PV_SEAL_TAG_LEN);
        return -1;
    }
    const uint8_t *lp = b + PV_SEAL_MAGIC_LEN + 1;
    if (ll != strlen(label) || memcmp(lp, label, ll) != 0) {
        char shown[4 * 64 + 4];
        printable_label(lp, ll, shown, sizeof shown);
        snprintf(err, err_len,
                 "%s: sealed under key '%s', but the at-rest key here is '%s' on token '%s' "
                 "(reseal the image with this recipe, or the header was modified)",
                 path, shown, label, token);
        return -1;
    }
    uint32_t declared = pv_ld32(b + hdr - 4);
    size_t held = n - hdr - PV_SEAL_TAG_LEN;
    if (declared != held || held > PV_SEAL_MAX) {
        snprintf(err, err_len,
                 "%s: damaged: the header says %lu bytes of ciphertext, the file holds %zu (at "
                 "most %u; truncated, extended or modified)",
                 path, (unsigned long)declared, held, (unsigned)PV_SEAL_MAX);
        return -1;
    }
    v->label = lp;
    v->label_len = ll;
    v->nonce = lp + ll;
    v->header_len = hdr;
    v->ct = b + hdr;
    v->ct_len = held;
    v->tag = b + hdr + held;
    return 0;
}
