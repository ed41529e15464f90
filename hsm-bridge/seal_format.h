/* The layout of a file sealed at rest ("PVSEAL1", docs/keystore.md): header, ciphertext, tag.
 * Reading it needs no key, so the parser is kept apart from the token (keystore_seal.c holds the
 * AES-GCM part) and is fuzzed on its own (tests/fuzz/fuzz_sealed.c). */
#ifndef PV_HSM_BRIDGE_SEAL_FORMAT_H
#define PV_HSM_BRIDGE_SEAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* A sealed file starts with these 8 bytes ("PVSEAL1" and its NUL). */
#define PV_SEAL_MAGIC     "PVSEAL1"
#define PV_SEAL_MAGIC_LEN 8
#define PV_SEAL_LABEL_MAX 127 /* bytes of the at-rest key's label, as the keystore allows */
#define PV_SEAL_NONCE_LEN 12
#define PV_SEAL_TAG_LEN   16
#define PV_SEAL_MAX       (64u << 20) /* bytes of plaintext: far more than any flash image */

/* What a parsed file holds; every pointer is into the parsed bytes. */
typedef struct pv_seal_view {
    const uint8_t *label; /* the at-rest key's label, label_len bytes (no terminator) */
    size_t label_len;
    const uint8_t *nonce; /* PV_SEAL_NONCE_LEN bytes */
    size_t header_len;    /* the header (magic .. length) is the AAD: bytes 0 .. header_len */
    const uint8_t *ct;    /* ct_len bytes of ciphertext */
    size_t ct_len;
    const uint8_t *tag; /* PV_SEAL_TAG_LEN bytes */
} pv_seal_view;

/* Header length for a label of label_len bytes. */
size_t pv_seal_header_len(size_t label_len);

/* Writes the header for label (1..PV_SEAL_LABEL_MAX bytes) and plain_len bytes of plaintext into
 * out (pv_seal_header_len bytes), nonce included; returns where the nonce goes in out. */
uint8_t *pv_seal_header(uint8_t *out, const char *label, const uint8_t nonce[PV_SEAL_NONCE_LEN],
                        uint32_t plain_len);

/* 1 if the n bytes at b start like a sealed file (the magic), else 0. */
int pv_seal_is_sealed(const uint8_t *b, size_t n);

/* Parses the n bytes of the sealed file `path` (named in messages) that must be sealed under the
 * key labelled `label` on token `token`. 0 with *v filled, or -1 with err saying what is wrong
 * (printable ASCII only: bytes of the file are shown escaped). */
int pv_seal_parse(const uint8_t *b, size_t n, const char *path, const char *label,
                  const char *token, pv_seal_view *v, char *err, size_t err_len);

#endif
