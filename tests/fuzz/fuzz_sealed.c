/* Fuzzing the parser of files sealed at rest (hsm-bridge/seal_format.c, pv_seal_parse), which
 * the bridge runs on the image files a recipe names before the token decrypts them. The first
 * byte picks the input's shape: bit 0 puts a right header in front of the rest (the label the
 * parser expects, the rest's length less the tag), so the checks behind the header are reached;
 * otherwise the bytes are the file as they are.
 * Aborts when a file is accepted whose parts do not tile it exactly (header, ciphertext, tag),
 * whose label or length is not the expected one, when a right header is refused, or when a
 * message is empty or holds anything but printable ASCII (bytes of the file must come out
 * escaped). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../hsm-bridge/seal_format.h"
#include "util/le.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char label[] = "pv-at-rest";

static void check_message(const char *err)
{
    if (!err[0])
        abort();
    for (const char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    static uint8_t file[8192 + 256];
    size_t n = size - 1;
    int made = data[0] & 1;
    if (made) {
        static const uint8_t nonce[PV_SEAL_NONCE_LEN] = {1, 2, 3};
        size_t hdr = pv_seal_header_len(strlen(label));
        uint32_t ct = n >= PV_SEAL_TAG_LEN ? (uint32_t)(n - PV_SEAL_TAG_LEN) : 0;
        pv_seal_header(file, label, nonce, ct);
        memcpy(file + hdr, data + 1, n);
        n += hdr;
        if (n < hdr + PV_SEAL_TAG_LEN)
            made = 0; /* no room for the tag: must be refused */
    } else {
        memcpy(file, data + 1, n);
    }
    pv_seal_view v;
    char err[512] = "";
    int rc = pv_seal_parse(file, n, "/x/image.sealed", label, "token", &v, err, sizeof err);
    if (rc != 0) {
        if (made)
            abort();
        check_message(err);
        return 0;
    }
    size_t ll = strlen(label);
    if (v.label != file + PV_SEAL_MAGIC_LEN + 1 || v.label_len != ll || memcmp(v.label, label, ll))
        abort();
    if (v.header_len != pv_seal_header_len(ll) || v.nonce != v.label + ll ||
        v.nonce + PV_SEAL_NONCE_LEN + 4 != file + v.header_len)
        abort();
    if (v.ct != file + v.header_len || v.tag != v.ct + v.ct_len ||
        v.tag + PV_SEAL_TAG_LEN != file + n || pv_ld32(file + v.header_len - 4) != v.ct_len)
        abort();
    return 0;
}
