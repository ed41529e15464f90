/* Sealing with AES-GCM under token keys (docs/keystore.md): the Noise static key's blob, and
 * images at rest ("PVSEAL1" files). The AES keys never leave the token; the plaintext exists only
 * in this process's memory and is wiped before it is freed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "file_read.h"
#include "keystore_internal.h"

int pv_ks_noise_seal(pv_p11 *p, pv_p11_obj aes, const char *label, const uint8_t priv[32],
                     uint8_t blob[PV_KS_NOISE_BLOB_LEN], char *err, size_t err_len)
{
    size_t ll = strlen(label);
    if (ll >= PV_KS_LABEL_MAX) {
        snprintf(err, err_len, "keystore: label '%s' is too long", label);
        return -1;
    }
    memset(blob, 0, PV_KS_NOISE_BLOB_LEN);
    memcpy(blob, PV_KS_NOISE_MAGIC, 4);
    blob[4] = PV_KS_NOISE_VERSION;
    uint8_t *nonce = blob + PV_KS_NOISE_HDR_LEN, *ct = nonce + 12, *tag = ct + 32;
    if (RAND_bytes(nonce, 12) != 1) {
        snprintf(err, err_len, "keystore: OpenSSL RAND_bytes failed");
        return -1;
    }
    uint8_t aad[PV_KS_NOISE_HDR_LEN + PV_KS_LABEL_MAX];
    memcpy(aad, blob, PV_KS_NOISE_HDR_LEN);
    memcpy(aad + PV_KS_NOISE_HDR_LEN, label, ll);
    return pv_p11_aes_gcm_encrypt(p, aes, nonce, aad, PV_KS_NOISE_HDR_LEN + ll, priv, 32, ct, tag,
                                  err, err_len);
}

/* ---- files sealed at rest ---- */

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v, b[1] = (uint8_t)(v >> 8), b[2] = (uint8_t)(v >> 16),
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *b)
{
    return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The whole file (a regular file), at most max bytes; *buf malloc'd. 0, or -1 with ks->err
 * set. */
static int read_all(pv_keystore *ks, const char *path, size_t max, uint8_t **buf, size_t *len)
{
    char why[192];
    int rc = pv_file_read(path, max, buf, len, why, sizeof why);
    if (rc == PV_FILE_TOO_LARGE)
        return pv_ks_fail(ks, "%s: %zu bytes; at most %zu can be sealed", path, *len, max);
    if (rc != PV_FILE_OK)
        return pv_ks_fail(ks, "%s: %s", path, why);
    return 0;
}

/* A key label from a file's header, for a message: printable ASCII as is, other bytes as \xHH,
 * cut at 64 bytes. */
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

int pv_keystore_seal_file(pv_keystore *ks, const char *in_path, const char *out_path)
{
    if (!ks->at_rest[0])
        return pv_ks_fail(ks, "keystore: no at-rest key configured for token '%s'", ks->token);
    uint8_t *pt = NULL;
    size_t len = 0;
    if (read_all(ks, in_path, PV_KS_SEAL_MAX, &pt, &len) != 0)
        return -1;
    if (len == 0) {
        free(pt);
        return pv_ks_fail(ks, "%s: empty file: nothing to seal", in_path);
    }
    size_t ll = strlen(ks->at_rest);
    size_t hdr = PV_KS_SEAL_MAGIC_LEN + 1 + ll + 12 + 4;
    size_t total = hdr + len + 16;
    uint8_t *out = malloc(total);
    if (!out) {
        OPENSSL_cleanse(pt, len);
        free(pt);
        return pv_ks_fail(ks, "%s: out of memory", in_path);
    }
    memcpy(out, PV_KS_SEAL_MAGIC, PV_KS_SEAL_MAGIC_LEN); /* with its NUL */
    out[PV_KS_SEAL_MAGIC_LEN] = (uint8_t)ll;
    memcpy(out + PV_KS_SEAL_MAGIC_LEN + 1, ks->at_rest, ll);
    uint8_t *nonce = out + PV_KS_SEAL_MAGIC_LEN + 1 + ll;
    put32(nonce + 12, (uint32_t)len);
    char err[256];
    int rc = 0;
    if (RAND_bytes(nonce, 12) != 1)
        rc = pv_ks_fail(ks, "keystore: OpenSSL RAND_bytes failed");
    else if (pv_p11_aes_gcm_encrypt(ks->p, ks->at_rest_h, nonce, out, hdr, pt, len, out + hdr,
                                    out + hdr + len, err, sizeof err) != 0)
        rc = pv_ks_fail(ks, "keystore: sealing %s under at-rest key '%s' on token '%s': %s",
                        in_path, ks->at_rest, ks->token, err);
    OPENSSL_cleanse(pt, len);
    free(pt);
    if (rc == 0) {
        /* Written beside the target and renamed, so OUT is either whole or absent. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
        FILE *f = fopen(tmp, "wb");
        if (!f)
            rc = pv_ks_fail(ks, "%s: cannot create: %s", tmp, strerror(errno));
        else {
            int bad = fwrite(out, 1, total, f) != total;
            bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
            bad |= fclose(f) != 0;
            if (bad || rename(tmp, out_path) != 0) {
                rc = pv_ks_fail(ks, "%s: cannot write: %s", out_path, strerror(errno));
                unlink(tmp);
            }
        }
    }
    free(out);
    return rc;
}

int pv_keystore_is_sealed(const uint8_t *b, size_t n)
{
    return n >= PV_KS_SEAL_MAGIC_LEN && memcmp(b, PV_KS_SEAL_MAGIC, PV_KS_SEAL_MAGIC_LEN) == 0;
}

int pv_keystore_open_sealed(pv_keystore *ks, const char *path, uint8_t **image, size_t *len)
{
    *image = NULL;
    *len = 0;
    if (!ks->at_rest[0])
        return pv_ks_fail(ks, "keystore: no at-rest key configured for token '%s'", ks->token);
    uint8_t *b = NULL;
    size_t n = 0;
    if (read_all(ks, path, PV_KS_SEAL_MAX + 512, &b, &n) != 0)
        return -1;
    int rc = -1;
    size_t ll = n > PV_KS_SEAL_MAGIC_LEN ? b[PV_KS_SEAL_MAGIC_LEN] : 0;
    size_t hdr = PV_KS_SEAL_MAGIC_LEN + 1 + ll + 12 + 4;
    if (!pv_keystore_is_sealed(b, n)) {
        pv_ks_fail(ks,
                   "%s: not a sealed image (no \"%s\" header); seal images with `provision keys "
                   "seal --recipe RECIPE IN OUT`",
                   path, PV_KS_SEAL_MAGIC);
    } else if (ll == 0 || ll >= PV_KS_LABEL_MAX || n < hdr + 16) {
        pv_ks_fail(ks,
                   "%s: damaged sealed header (key label length %zu, at most %u; file %zu "
                   "bytes)",
                   path, ll, (unsigned)PV_KS_LABEL_MAX - 1, n);
    } else if (ll != strlen(ks->at_rest) ||
               memcmp(b + PV_KS_SEAL_MAGIC_LEN + 1, ks->at_rest, ll) != 0) {
        char label[4 * 64 + 4];
        printable_label(b + PV_KS_SEAL_MAGIC_LEN + 1, ll, label, sizeof label);
        pv_ks_fail(ks,
                   "%s: sealed under key '%s', but the at-rest key here is '%s' on token '%s' "
                   "(reseal the image with this recipe, or the header was modified)",
                   path, label, ks->at_rest, ks->token);
    } else if (get32(b + hdr - 4) != n - hdr - 16) {
        pv_ks_fail(ks,
                   "%s: damaged: the header says %u bytes of ciphertext, the file holds %zu "
                   "(truncated, extended or modified)",
                   path, get32(b + hdr - 4), n - hdr - 16);
    } else {
        size_t pl = n - hdr - 16;
        uint8_t *pt = malloc(pl ? pl : 1);
        char err[256];
        if (!pt)
            pv_ks_fail(ks, "%s: out of memory", path);
        else if (pv_p11_aes_gcm_decrypt(ks->p, ks->at_rest_h, b + hdr - 16, b, hdr, b + hdr, pl,
                                        b + hdr + pl, pt, err, sizeof err) != 0) {
            pv_ks_fail(ks,
                       "%s: authentication failed under at-rest key '%s' on token '%s' (%s): the "
                       "file was modified or damaged, or sealed by another token; nothing was "
                       "opened",
                       path, ks->at_rest, ks->token, err);
            free(pt);
        } else {
            *image = pt;
            *len = pl;
            rc = 0;
        }
    }
    free(b);
    return rc;
}
