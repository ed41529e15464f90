/* Fuzzing what the bridge's station CA accepts from a station: its certificate signing request
 * (hsm-bridge/station_ca.c, pv_station_csr_check: PEM or DER, the self-signature, the key type),
 * the checks `hsm-bridge station enroll` makes before it issues anything. Aborts when a CSR is
 * accepted that OpenSSL, asked directly, does not parse, whose signature does not verify with
 * its own key, or whose key is not of a type the CA accepts; or when a refusal's message is
 * empty or holds anything but printable ASCII. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../hsm-bridge/station_ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int accepted_type(EVP_PKEY *k)
{
    if (EVP_PKEY_is_a(k, "ED25519") || EVP_PKEY_is_a(k, "ED448"))
        return 1;
    if (EVP_PKEY_is_a(k, "RSA"))
        return EVP_PKEY_get_bits(k) >= 2048;
    char g[64] = "";
    return EVP_PKEY_is_a(k, "EC") &&
           EVP_PKEY_get_utf8_string_param(k, "group", g, sizeof g, NULL) == 1 &&
           (!strcmp(g, "prime256v1") || !strcmp(g, "secp384r1") || !strcmp(g, "secp521r1"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    if (pv_station_csr_check(data, size, err, sizeof err) != 0) {
        if (!err[0])
            abort();
        for (const char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                abort();
        ERR_clear_error();
        return 0;
    }
    BIO *b = BIO_new_mem_buf(data, (int)size);
    X509_REQ *r = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!r) {
        const uint8_t *p = data;
        r = d2i_X509_REQ(NULL, &p, (long)size);
    }
    EVP_PKEY *k = r ? X509_REQ_get0_pubkey(r) : NULL;
    if (!k || X509_REQ_verify(r, k) != 1 || !accepted_type(k))
        abort();
    X509_REQ_free(r);
    ERR_clear_error();
    return 0;
}
