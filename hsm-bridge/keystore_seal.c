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
#include "seal_format.h"

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

/* ---- files sealed at rest (the format: seal_format.h) ---- */

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

int pv_keystore_seal_file(pv_keystore *ks, const char *in_path, const char *out_path)
{
    if (!ks->at_rest[0])
        return pv_ks_fail(ks, "keystore: no at-rest key configured for token '%s'", ks->token);
    uint8_t *pt = NULL;
    size_t len = 0;
    if (read_all(ks, in_path, PV_SEAL_MAX, &pt, &len) != 0)
        return -1;
    if (len == 0) {
        free(pt);
        return pv_ks_fail(ks, "%s: empty file: nothing to seal", in_path);
    }
    size_t hdr = pv_seal_header_len(strlen(ks->at_rest));
    size_t total = hdr + len + PV_SEAL_TAG_LEN;
    uint8_t *out = malloc(total);
    if (!out) {
        OPENSSL_cleanse(pt, len);
        free(pt);
        return pv_ks_fail(ks, "%s: out of memory", in_path);
    }
    uint8_t nonce[PV_SEAL_NONCE_LEN];
    char err[256];
    int rc = 0;
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        rc = pv_ks_fail(ks, "keystore: OpenSSL RAND_bytes failed");
    else if (pv_p11_aes_gcm_encrypt(ks->p, ks->at_rest_h,
                                    pv_seal_header(out, ks->at_rest, nonce, (uint32_t)len), out,
                                    hdr, pt, len, out + hdr, out + hdr + len, err, sizeof err) != 0)
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

int pv_keystore_open_sealed(pv_keystore *ks, const char *path, uint8_t **image, size_t *len)
{
    *image = NULL;
    *len = 0;
    if (!ks->at_rest[0])
        return pv_ks_fail(ks, "keystore: no at-rest key configured for token '%s'", ks->token);
    uint8_t *b = NULL;
    size_t n = 0;
    if (read_all(ks, path, PV_SEAL_MAX + 512, &b, &n) != 0)
        return -1;
    pv_seal_view v;
    int rc = -1;
    if (pv_seal_parse(b, n, path, ks->at_rest, ks->token, &v, ks->err, sizeof ks->err) == 0) {
        uint8_t *pt = malloc(v.ct_len ? v.ct_len : 1);
        char err[256];
        if (!pt)
            pv_ks_fail(ks, "%s: out of memory", path);
        else if (pv_p11_aes_gcm_decrypt(ks->p, ks->at_rest_h, v.nonce, b, v.header_len, v.ct,
                                        v.ct_len, v.tag, pt, err, sizeof err) != 0) {
            pv_ks_fail(ks,
                       "%s: authentication failed under at-rest key '%s' on token '%s' (%s): the "
                       "file was modified or damaged, or sealed by another token; nothing was "
                       "opened",
                       path, ks->at_rest, ks->token, err);
            free(pt);
        } else {
            *image = pt;
            *len = v.ct_len;
            rc = 0;
        }
    }
    free(b);
    return rc;
}
