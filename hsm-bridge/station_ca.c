/* The station CA (station_ca.h): an Ed25519 key pair in the PKCS#11 token and X.509 certificates
 * built with OpenSSL whose signature the token makes.
 *
 * OpenSSL 3.0 cannot sign with a PKCS#11 key without an engine or provider, so a certificate is
 * signed in three steps: OpenSSL signs it once with a throw-away in-memory Ed25519 key (which
 * sets both AlgorithmIdentifiers to Ed25519 and encodes the TBSCertificate), the token signs the
 * DER TBSCertificate (CKM_EDDSA, pure Ed25519), and the token's 64 bytes replace the signature
 * BIT STRING. The result is encoded, decoded again (so no cached encoding or extension cache of
 * the first signature survives) and verified with the CA's public key before it is used. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "station_ca.h"
#include "text_safe.h"

_Static_assert(PV_STATION_NAME_MAX + 1 == PV_NAME_MAX, "a station name is a name (text_safe.h)");

#define LABEL_MAX   128u
#define CSR_MAX     65536u /* a CSR larger than this is not one a station makes */
#define NOT_BEFORE  300    /* seconds before now: tolerates clocks a few minutes behind */
#define SERIAL_LEN  16u    /* bytes of a serial we issue */
#define SERIAL_MAXB 20u    /* RFC 5280: at most 20 octets */

struct pv_station_ca {
    pv_p11 *p;       /* borrowed */
    pv_p11_obj priv; /* the CA private key in the token */
    X509 *cert;      /* the CA certificate */
    EVP_PKEY *pub;   /* its public key (the token key's) */
    char label[LABEL_MAX + 1];
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int err_unset(const char *err, size_t err_len)
{
    return err && err_len && !err[0];
}

/* The reason of OpenSSL's most recent error (the queue is emptied). */
static const char *ossl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "no reason given by OpenSSL";
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

int pv_station_name_valid(const char *name)
{
    return pv_text_name_ok(name);
}

static int ca_cn_valid(const char *cn)
{
    if (!cn)
        return 0;
    size_t n = strlen(cn);
    if (n < 1 || n > PV_STATION_CA_CN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)cn[i] < 0x20 || (unsigned char)cn[i] > 0x7e)
            return 0;
    return 1;
}

/* A host name for subjectAltName: labels of 1..63 letters, digits and '-' (not at either end),
 * separated by '.', at most 253 characters; no wildcard. */
static int dns_name_valid(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n < 1 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' || c == 0) {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        int ok =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok || (c == '-' && label == 0) || ++label > 63)
            return 0;
    }
    return 1;
}

/* The Ed25519 public key of the token's public key object, as an EVP_PKEY. */
static EVP_PKEY *token_public(pv_p11 *p, pv_p11_obj pub, uint8_t raw[32], char *err, size_t err_len)
{
    char e[384];
    if (pv_p11_ed25519_public(p, pub, raw, e, sizeof e) != 0) {
        fail(err, err_len, "station CA: %s", e);
        return NULL;
    }
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    if (!k)
        fail(err, err_len, "station CA: the token's public key is not a valid Ed25519 key (%s)",
             ossl_reason());
    return k;
}

/* A random positive serial of SERIAL_LEN bytes whose first byte is not zero (so its hex always
 * has 2 * SERIAL_LEN digits). */
static int set_random_serial(X509 *x, char *err, size_t err_len)
{
    uint8_t b[SERIAL_LEN];
    do {
        if (RAND_bytes(b, sizeof b) != 1)
            return fail(err, err_len, "station CA: no random serial (RAND_bytes: %s)",
                        ossl_reason());
        b[0] &= 0x7f; /* positive: DER INTEGER without a leading zero byte */
    } while (b[0] == 0);
    BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = ai && X509_set_serialNumber(x, ai) == 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    if (!ok)
        return fail(err, err_len, "station CA: cannot set the serial number (%s)", ossl_reason());
    return 0;
}

static int set_validity(X509 *x, unsigned days, char *err, size_t err_len)
{
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -NOT_BEFORE) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL))
        return fail(err, err_len, "station CA: cannot set the validity (%s)", ossl_reason());
    return 0;
}

static int set_cn(X509_NAME *n, const char *cn, char *err, size_t err_len)
{
    if (X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC, (const unsigned char *)cn, -1,
                                   -1, 0) != 1)
        return fail(err, err_len, "station CA: cannot set CN '%s' (%s)", cn, ossl_reason());
    return 0;
}

/* Adds an extension from a fixed OpenSSL configuration value (never operator text). */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, char *err, size_t err_len)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    if (!ok)
        return fail(err, err_len, "station CA: cannot add extension %s = %s (%s)", OBJ_nid2sn(nid),
                    value, ossl_reason());
    return 0;
}

/* subjectAltName from the server request's DNS names and IP addresses, built as GENERAL_NAMEs
 * (no configuration string, so no text of the operator is parsed as syntax). */
static int add_san(X509 *x, const struct pv_station_issue *req, char *err, size_t err_len)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    if (!gens)
        return fail(err, err_len, "station CA: out of memory");
    int rc = -1;
    for (size_t i = 0; i < req->n_dns; i++) {
        const char *d = req->dns[i];
        if (!d || !dns_name_valid(d)) {
            fail(err, err_len,
                 "station CA: '%s' is not a DNS name for subjectAltName (letters, digits and '-' "
                 "in labels of 1..63 separated by '.', no wildcard)",
                 d ? d : "(null)");
            goto out;
        }
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        if (!g || !s || ASN1_STRING_set(s, d, (int)strlen(d)) != 1) {
            GENERAL_NAME_free(g);
            ASN1_IA5STRING_free(s);
            fail(err, err_len, "station CA: out of memory");
            goto out;
        }
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        if (!sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            fail(err, err_len, "station CA: out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < req->n_ips; i++) {
        const char *ip = req->ips[i];
        ASN1_OCTET_STRING *o = ip ? a2i_IPADDRESS(ip) : NULL;
        if (!o) {
            ERR_clear_error();
            fail(err, err_len,
                 "station CA: '%s' is not an IP address for subjectAltName (give IPv4 like "
                 "127.0.0.1 or IPv6 like ::1)",
                 ip ? ip : "(null)");
            goto out;
        }
        GENERAL_NAME *g = GENERAL_NAME_new();
        if (!g) {
            ASN1_OCTET_STRING_free(o);
            fail(err, err_len, "station CA: out of memory");
            goto out;
        }
        GENERAL_NAME_set0_value(g, GEN_IPADD, o);
        if (!sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            fail(err, err_len, "station CA: out of memory");
            goto out;
        }
    }
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
        fail(err, err_len, "station CA: cannot add subjectAltName (%s)", ossl_reason());
        goto out;
    }
    rc = 0;
out:
    GENERAL_NAMES_free(gens);
    return rc;
}

/* Signs x with the token key priv (see the top of this file) and returns the certificate as
 * decoded again from its final DER, verified with ca_pub; *der and *der_len get that DER
 * (OPENSSL_free it). NULL on failure. */
static X509 *token_sign(pv_p11 *p, pv_p11_obj priv, X509 *x, EVP_PKEY *ca_pub, uint8_t **der,
                        int *der_len, char *err, size_t err_len)
{
    X509 *out = NULL;
    uint8_t *tbs = NULL, *enc = NULL;
    EVP_PKEY *throwaway = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!throwaway || X509_sign(x, throwaway, NULL) <= 0) {
        fail(err, err_len, "station CA: cannot prepare the certificate's Ed25519 signature (%s)",
             ossl_reason());
        goto done;
    }
    int tbs_len = i2d_re_X509_tbs(x, &tbs);
    if (tbs_len <= 0) {
        fail(err, err_len, "station CA: cannot encode the TBSCertificate (%s)", ossl_reason());
        goto done;
    }
    uint8_t sig[64];
    char e[384];
    if (pv_p11_sign_eddsa(p, priv, tbs, (size_t)tbs_len, sig, e, sizeof e) != 0) {
        fail(err, err_len, "station CA: the token did not sign the certificate: %s", e);
        goto done;
    }
    const ASN1_BIT_STRING *psig = NULL;
    X509_get0_signature(&psig, NULL, x);
    /* X509_sign marked the BIT STRING as having no unused bits; ASN1_STRING_set keeps that. */
    if (!psig || ASN1_BIT_STRING_set((ASN1_BIT_STRING *)(uintptr_t)psig, sig, 64) != 1) {
        fail(err, err_len, "station CA: cannot store the token's signature (%s)", ossl_reason());
        goto done;
    }
    int n = i2d_X509(x, &enc);
    const uint8_t *pp = enc;
    X509 *y = n > 0 ? d2i_X509(NULL, &pp, n) : NULL;
    if (!y) {
        fail(err, err_len, "station CA: cannot encode the signed certificate (%s)", ossl_reason());
        goto done;
    }
    if (X509_verify(y, ca_pub) != 1) {
        ERR_clear_error();
        X509_free(y);
        fail(err, err_len,
             "station CA: the token's signature does not verify with the CA certificate's public "
             "key (is the token key the pair of the CA certificate? load the CA again)");
        goto done;
    }
    out = y;
    *der = enc;
    *der_len = n;
    enc = NULL;
done:
    EVP_PKEY_free(throwaway); /* frees the private key with a clearing free */
    OPENSSL_free(tbs);
    OPENSSL_free(enc);
    return out;
}

static int pem_of(X509 *x, char *pem, size_t cap, size_t *len, char *err, size_t err_len)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || PEM_write_bio_X509(b, x) != 1) {
        BIO_free(b);
        return fail(err, err_len, "station CA: cannot write PEM (%s)", ossl_reason());
    }
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || (size_t)n + 1 > cap) {
        BIO_free(b);
        return fail(err, err_len,
                    "station CA: the certificate's PEM needs %ld bytes, the buffer "
                    "has %zu (give PV_STATION_CERT_PEM_MAX)",
                    n + 1, cap);
    }
    memcpy(pem, data, (size_t)n);
    pem[n] = 0;
    if (len)
        *len = (size_t)n;
    BIO_free(b);
    return 0;
}

static int ids_of(X509 *x, const uint8_t *der, size_t der_len, struct pv_station_cert_ids *ids,
                  char *err, size_t err_len)
{
    uint8_t md[32];
    if (EVP_Digest(der, der_len, md, NULL, EVP_sha256(), NULL) != 1)
        return fail(err, err_len, "station CA: SHA-256 failed (%s)", ossl_reason());
    to_hex(md, 32, ids->sha256);
    const ASN1_INTEGER *s = X509_get0_serialNumber(x);
    int sl = s ? ASN1_STRING_length(s) : 0;
    if (!s || ASN1_STRING_type(s) != V_ASN1_INTEGER || sl < 1 || (size_t)sl > SERIAL_MAXB)
        return fail(err, err_len,
                    "station CA: the certificate's serial number is negative, empty or longer "
                    "than %u octets (not a certificate this CA issued)",
                    SERIAL_MAXB);
    to_hex(ASN1_STRING_get0_data(s), (size_t)sl, ids->serial);
    return 0;
}

/* Writes data to path through path.tmp, synced, then renamed: path is whole or absent. */
static int write_file_atomic(const char *path, const char *data, size_t len, char *err,
                             size_t err_len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return fail(err, err_len, "station CA: path '%s' is too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(err, err_len,
                    "station CA: cannot write '%s': %s (is the directory there and "
                    "writable?)",
                    tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int e = errno;
    if (off != len || fsync(fd) != 0) {
        e = off != len ? e : errno;
        close(fd);
        unlink(tmp);
        return fail(err, err_len, "station CA: cannot write '%s': %s", tmp, strerror(e));
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return fail(err, err_len, "station CA: cannot rename '%s' to '%s': %s", tmp, path,
                    strerror(e));
    }
    return 0;
}

/* The key pair labelled label: exactly one of each, the private key protected. */
static int find_pair(pv_p11 *p, const char *label, pv_p11_obj *pub, pv_p11_obj *priv, char *err,
                     size_t err_len)
{
    char e[384];
    static const enum pv_p11_class cls[2] = {PV_P11_PRIVATE_KEY, PV_P11_PUBLIC_KEY};
    pv_p11_obj *h[2] = {priv, pub};
    for (int i = 0; i < 2; i++) {
        unsigned n = 0;
        if (pv_p11_count(p, cls[i], label, &n, e, sizeof e) != 0)
            return fail(err, err_len, "station CA: %s", e);
        if (n != 1)
            return fail(err, err_len,
                        "station CA: the token has %u %s objects labelled '%s', not one (%s)", n,
                        i ? "public key" : "private key", label,
                        n ? "labels must be unique: delete the extra ones or create the CA again "
                            "with force"
                          : "create the station CA first, or give its key label");
        if (pv_p11_find_key(p, cls[i], label, h[i], e, sizeof e) != 0)
            return fail(err, err_len, "station CA: %s", e);
    }
    struct pv_p11_key_flags fl;
    if (pv_p11_key_flags(p, *priv, &fl, e, sizeof e) != 0)
        return fail(err, err_len, "station CA: key '%s': %s", label, e);
    if (fl.sensitive != 1 || fl.extractable != 0)
        return fail(err, err_len,
                    "station CA: the private key '%s' is %s; refusing a CA key that can leave "
                    "the token (create the CA again with force, or generate the key "
                    "non-extractable on the HSM)",
                    label, fl.extractable != 0 ? "extractable" : "not sensitive");
    return 0;
}

static pv_station_ca *ca_new(pv_p11 *p, const char *label, pv_p11_obj priv, X509 *cert,
                             EVP_PKEY *pub, char *err, size_t err_len)
{
    pv_station_ca *ca = calloc(1, sizeof *ca);
    if (!ca) {
        fail(err, err_len, "station CA: out of memory");
        return NULL;
    }
    ca->p = p;
    ca->priv = priv;
    ca->cert = cert;
    ca->pub = pub;
    snprintf(ca->label, sizeof ca->label, "%s", label);
    return ca;
}

void pv_station_ca_free(pv_station_ca *ca)
{
    if (!ca)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->pub);
    free(ca);
}

static int check_label(const char **label, char *err, size_t err_len)
{
    if (!*label)
        *label = PV_STATION_CA_LABEL;
    size_t n = strlen(*label);
    if (n < 1 || n > LABEL_MAX)
        return fail(err, err_len, "station CA: a key label has 1..%u characters", LABEL_MAX);
    return 0;
}

static int check_days(unsigned days, char *err, size_t err_len)
{
    if (days < 1 || days > PV_STATION_DAYS_MAX)
        return fail(err, err_len, "station CA: validity of %u days: give 1..%u days", days,
                    PV_STATION_DAYS_MAX);
    return 0;
}

pv_station_ca *pv_station_ca_create(pv_p11 *p, const char *key_label, const char *cn, unsigned days,
                                    int force, const char *cert_path, char *err, size_t err_len)
{
    char e[384];
    if (err && err_len)
        err[0] = 0;
    if (!p || !cert_path || !*cert_path) {
        fail(err, err_len, "station CA: no token session or no certificate path given");
        return NULL;
    }
    if (check_label(&key_label, err, err_len) != 0 || check_days(days, err, err_len) != 0)
        return NULL;
    if (!ca_cn_valid(cn)) {
        fail(err, err_len,
             "station CA: the CA's common name must be 1..%u printable ASCII characters",
             PV_STATION_CA_CN_MAX);
        return NULL;
    }
    if (!force && access(cert_path, F_OK) == 0) {
        fail(err, err_len,
             "station CA: '%s' exists; refusing to overwrite a CA certificate (remove it, or "
             "force: the old CA's key is then destroyed)",
             cert_path);
        return NULL;
    }
    unsigned n_priv = 0, n_pub = 0;
    if (pv_p11_count(p, PV_P11_PRIVATE_KEY, key_label, &n_priv, e, sizeof e) != 0 ||
        pv_p11_count(p, PV_P11_PUBLIC_KEY, key_label, &n_pub, e, sizeof e) != 0) {
        fail(err, err_len, "station CA: %s", e);
        return NULL;
    }
    if ((n_priv || n_pub) && !force) {
        fail(err, err_len,
             "station CA: the token already has a key labelled '%s'; refusing to replace it "
             "(force replaces it, and every certificate issued under it stops verifying)",
             key_label);
        return NULL;
    }
    unsigned gone;
    if ((n_priv && pv_p11_destroy_all(p, PV_P11_PRIVATE_KEY, key_label, &gone, e, sizeof e)) ||
        (n_pub && pv_p11_destroy_all(p, PV_P11_PUBLIC_KEY, key_label, &gone, e, sizeof e))) {
        fail(err, err_len, "station CA: cannot destroy the old key '%s': %s", key_label, e);
        return NULL;
    }
    pv_p11_obj hpub, hpriv;
    if (pv_p11_generate_ed25519(p, key_label, &hpub, &hpriv, e, sizeof e) != 0) {
        fail(err, err_len, "station CA: %s", e);
        return NULL;
    }

    pv_station_ca *ca = NULL;
    X509 *x = NULL, *signed_cert = NULL;
    uint8_t raw[32], *der = NULL;
    int der_len = 0;
    char *pem = NULL;
    EVP_PKEY *pub = token_public(p, hpub, raw, err, err_len);
    if (!pub)
        goto done;
    x = X509_new();
    if (!x) {
        fail(err, err_len, "station CA: out of memory");
        goto done;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x, err, err_len) != 0 ||
        set_cn(X509_get_subject_name(x), cn, err, err_len) != 0 ||
        X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
        set_validity(x, days, err, err_len) != 0 || X509_set_pubkey(x, pub) != 1 ||
        add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err, err_len) ||
        add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err, err_len) ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash", err, err_len)) {
        if (err_unset(err, err_len))
            fail(err, err_len, "station CA: cannot build the CA certificate (%s)", ossl_reason());
        goto done;
    }
    signed_cert = token_sign(p, hpriv, x, pub, &der, &der_len, err, err_len);
    if (!signed_cert)
        goto done;
    pem = malloc(PV_STATION_CERT_PEM_MAX);
    size_t pem_len = 0;
    if (!pem) {
        fail(err, err_len, "station CA: out of memory");
        goto done;
    }
    if (pem_of(signed_cert, pem, PV_STATION_CERT_PEM_MAX, &pem_len, err, err_len) != 0 ||
        write_file_atomic(cert_path, pem, pem_len, err, err_len) != 0)
        goto done;
    ca = ca_new(p, key_label, hpriv, signed_cert, pub, err, err_len);
    if (ca) {
        signed_cert = NULL;
        pub = NULL;
    }
done:
    if (!ca) { /* all or nothing: the new key pair goes again */
        pv_p11_destroy(p, hpriv, e, sizeof e);
        pv_p11_destroy(p, hpub, e, sizeof e);
    }
    free(pem);
    OPENSSL_free(der);
    X509_free(x);
    X509_free(signed_cert);
    EVP_PKEY_free(pub);
    return ca;
}

pv_station_ca *pv_station_ca_load(pv_p11 *p, const char *key_label, const char *cert_path,
                                  char *err, size_t err_len)
{
    char e[384];
    if (!p || !cert_path) {
        fail(err, err_len, "station CA: no token session or no certificate path given");
        return NULL;
    }
    if (check_label(&key_label, err, err_len) != 0)
        return NULL;
    BIO *b = BIO_new_file(cert_path, "r");
    if (!b) {
        ERR_clear_error();
        fail(err, err_len,
             "station CA: cannot read the CA certificate '%s': %s (create the station CA first, "
             "or give its certificate file)",
             cert_path, strerror(errno));
        return NULL;
    }
    X509 *cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    pv_station_ca *ca = NULL;
    EVP_PKEY *tok = NULL;
    if (!cert) {
        fail(err, err_len, "station CA: '%s' holds no PEM certificate (%s)", cert_path,
             ossl_reason());
        goto done;
    }
    EVP_PKEY *cpub = X509_get0_pubkey(cert);
    if (X509_check_ca(cert) != 1 || !cpub || !EVP_PKEY_is_a(cpub, "ED25519")) {
        ERR_clear_error();
        fail(err, err_len,
             "station CA: '%s' is not an Ed25519 CA certificate (basicConstraints CA:TRUE); give "
             "the certificate the station CA was created with",
             cert_path);
        goto done;
    }
    if (X509_verify(cert, cpub) != 1) {
        ERR_clear_error();
        fail(err, err_len,
             "station CA: the self-signature of '%s' does not verify (the file was altered; "
             "restore it from a copy)",
             cert_path);
        goto done;
    }
    pv_p11_obj hpub, hpriv;
    if (find_pair(p, key_label, &hpub, &hpriv, err, err_len) != 0)
        goto done;
    uint8_t raw[32], craw[32];
    size_t clen = sizeof craw;
    tok = token_public(p, hpub, raw, err, err_len);
    if (!tok)
        goto done;
    if (EVP_PKEY_get_raw_public_key(cpub, craw, &clen) != 1 || clen != 32 ||
        CRYPTO_memcmp(raw, craw, 32) != 0) {
        ERR_clear_error();
        fail(err, err_len,
             "station CA: the public key of '%s' is not the token key '%s' (a certificate of "
             "another CA, or the key was replaced; give the matching certificate or key label)",
             cert_path, key_label);
        goto done;
    }
    /* The private key object must be the pair of the public one: sign a challenge with it. */
    uint8_t chal[32], sig[64];
    if (RAND_bytes(chal, sizeof chal) != 1 ||
        pv_p11_sign_eddsa(p, hpriv, chal, sizeof chal, sig, e, sizeof e) != 0) {
        fail(err, err_len, "station CA: cannot sign with the token key '%s': %s", key_label, e);
        goto done;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, cpub) == 1 &&
             EVP_DigestVerify(md, sig, sizeof sig, chal, sizeof chal) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        ERR_clear_error();
        fail(err, err_len,
             "station CA: the token's private key '%s' is not the pair of its public key and "
             "the certificate's (the token objects were mixed up: create the CA again)",
             key_label);
        goto done;
    }
    if (EVP_PKEY_up_ref(cpub) != 1) {
        fail(err, err_len, "station CA: out of memory");
        goto done;
    }
    ca = ca_new(p, key_label, hpriv, cert, cpub, err, err_len);
    if (ca)
        cert = NULL;
    else
        EVP_PKEY_free(cpub);
done:
    EVP_PKEY_free(tok);
    X509_free(cert);
    return ca;
}

int pv_station_ca_cert_pem(const pv_station_ca *ca, char *pem, size_t cap, size_t *len, char *err,
                           size_t err_len)
{
    if (!ca || !pem)
        return fail(err, err_len, "station CA: no CA or no buffer given");
    return pem_of(ca->cert, pem, cap, len, err, err_len);
}

/* The CSR in csr (PEM, else DER), its self-signature verified. */
static X509_REQ *read_csr(const uint8_t *csr, size_t len, char *err, size_t err_len)
{
    if (!csr || len == 0 || len > CSR_MAX) {
        fail(err, err_len, "station CA: a CSR of %zu bytes; give one of 1..%u bytes", len, CSR_MAX);
        return NULL;
    }
    BIO *b = BIO_new_mem_buf(csr, (int)len);
    X509_REQ *req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!req) {
        const uint8_t *pp = csr;
        req = d2i_X509_REQ(NULL, &pp, (long)len);
    }
    if (!req) {
        fail(err, err_len,
             "station CA: not a certificate signing request (%s); give the PEM the station "
             "made with `openssl req -new -key KEY -out station.csr`",
             ossl_reason());
        return NULL;
    }
    EVP_PKEY *k = X509_REQ_get0_pubkey(req);
    if (!k) {
        fail(err, err_len, "station CA: the CSR's public key cannot be read (%s)", ossl_reason());
        X509_REQ_free(req);
        return NULL;
    }
    if (X509_REQ_verify(req, k) != 1) {
        ERR_clear_error();
        fail(err, err_len,
             "station CA: the CSR's signature does not verify with the public key it carries "
             "(altered, or signed with another key); refusing it: have the station make a new "
             "CSR with its own key");
        X509_REQ_free(req);
        return NULL;
    }
    return req;
}

/* The station key types a TLS 1.3 peer can use and this CA accepts. */
static int key_type_ok(EVP_PKEY *k, char *err, size_t err_len)
{
    if (EVP_PKEY_is_a(k, "ED25519") || EVP_PKEY_is_a(k, "ED448"))
        return 0;
    if (EVP_PKEY_is_a(k, "EC")) {
        char group[64] = "";
        if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           NULL) == 1 &&
            (!strcmp(group, "prime256v1") || !strcmp(group, "secp384r1") ||
             !strcmp(group, "secp521r1")))
            return 0;
        ERR_clear_error();
        return fail(err, err_len,
                    "station CA: the CSR's EC key is on curve '%s'; give a key on P-256, P-384 "
                    "or P-521 (or Ed25519)",
                    group[0] ? group : "unknown");
    }
    if (EVP_PKEY_is_a(k, "RSA")) {
        if (EVP_PKEY_get_bits(k) >= 2048)
            return 0;
        return fail(err, err_len,
                    "station CA: the CSR's RSA key has %d bits; give one of 2048 bits or more "
                    "(or Ed25519)",
                    EVP_PKEY_get_bits(k));
    }
    return fail(err, err_len,
                "station CA: the CSR's key type '%s' is not accepted; give an Ed25519, ECDSA "
                "(P-256, P-384, P-521) or RSA (2048 bits or more) key",
                EVP_PKEY_get0_type_name(k) ? EVP_PKEY_get0_type_name(k) : "unknown");
}

int pv_station_csr_check(const uint8_t *csr, size_t csr_len, char *err, size_t err_len)
{
    if (err && err_len)
        err[0] = 0;
    X509_REQ *r = read_csr(csr, csr_len, err, err_len);
    if (!r)
        return -1;
    int rc = key_type_ok(X509_REQ_get0_pubkey(r), err, err_len);
    X509_REQ_free(r);
    return rc;
}

int pv_station_ca_issue(pv_station_ca *ca, const uint8_t *csr, size_t csr_len,
                        const struct pv_station_issue *req, char *pem, size_t cap, size_t *pem_len,
                        struct pv_station_cert_ids *ids, char *err, size_t err_len)
{
    if (err && err_len)
        err[0] = 0;
    if (!ca || !req || !pem || !ids)
        return fail(err, err_len, "station CA: no CA, request, output buffer or ids given");
    if (!pv_station_name_valid(req->name))
        return fail(err, err_len,
                    "station CA: '%s' is not a station name; give 1..%u characters of "
                    "A-Z a-z 0-9 . _ -",
                    req->name ? req->name : "(null)", PV_STATION_NAME_MAX);
    if (check_days(req->days, err, err_len) != 0)
        return -1;
    size_t n_san = req->n_dns + req->n_ips;
    if (req->kind == PV_STATION_CERT_SERVER && (n_san < 1 || n_san > PV_STATION_SAN_MAX))
        return fail(err, err_len,
                    "station CA: a server certificate needs 1..%u DNS names and IP addresses "
                    "(subjectAltName), %zu given",
                    PV_STATION_SAN_MAX, n_san);
    if (req->kind != PV_STATION_CERT_SERVER && n_san)
        return fail(err, err_len,
                    "station CA: DNS names and IP addresses are for a server "
                    "certificate only; a station is known by its CN");
    if (req->kind != PV_STATION_CERT_SERVER && req->kind != PV_STATION_CERT_CLIENT)
        return fail(err, err_len, "station CA: unknown certificate kind %d", (int)req->kind);

    X509_REQ *r = read_csr(csr, csr_len, err, err_len);
    if (!r)
        return -1;
    int rc = -1;
    X509 *x = NULL, *y = NULL;
    uint8_t *der = NULL;
    int der_len = 0;
    ASN1_TIME *end = NULL;
    EVP_PKEY *k = X509_REQ_get0_pubkey(r);
    if (key_type_ok(k, err, err_len) != 0)
        goto done;

    /* not past the CA's own end */
    end = X509_time_adj_ex(NULL, (int)req->days, 0, NULL);
    if (!end) {
        fail(err, err_len, "station CA: cannot compute the validity (%s)", ossl_reason());
        goto done;
    }
    if (ASN1_TIME_compare(end, X509_get0_notAfter(ca->cert)) > 0) {
        char until[64] = "?";
        BIO *tb = BIO_new(BIO_s_mem());
        if (tb && ASN1_TIME_print(tb, X509_get0_notAfter(ca->cert)) == 1) {
            int n = BIO_read(tb, until, sizeof until - 1);
            until[n > 0 ? n : 0] = 0;
        }
        BIO_free(tb);
        fail(err, err_len,
             "station CA: %u days would end after the station CA itself (%s); give fewer days "
             "or renew the CA",
             req->days, until);
        goto done;
    }

    x = X509_new();
    if (!x) {
        fail(err, err_len, "station CA: out of memory");
        goto done;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
    int server = req->kind == PV_STATION_CERT_SERVER;
    /* Only the public key comes from the CSR: subject, extensions and everything else are the
     * CA's. */
    if (X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x, err, err_len) != 0 ||
        set_cn(X509_get_subject_name(x), req->name, err, err_len) != 0 ||
        X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
        set_validity(x, req->days, err, err_len) != 0 || X509_set_pubkey(x, k) != 1 ||
        add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err, err_len) ||
        add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature", err, err_len) ||
        add_ext(x, &ctx, NID_ext_key_usage, server ? "serverAuth" : "clientAuth", err, err_len) ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash", err, err_len) ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err, err_len) ||
        (server && add_san(x, req, err, err_len) != 0)) {
        if (err_unset(err, err_len))
            fail(err, err_len, "station CA: cannot build the certificate (%s)", ossl_reason());
        goto done;
    }
    y = token_sign(ca->p, ca->priv, x, ca->pub, &der, &der_len, err, err_len);
    if (!y)
        goto done;
    struct pv_station_cert_ids out_ids;
    if (ids_of(y, der, (size_t)der_len, &out_ids, err, err_len) != 0 ||
        pem_of(y, pem, cap, pem_len, err, err_len) != 0)
        goto done;
    *ids = out_ids;
    rc = 0;
done:
    ASN1_TIME_free(end);
    OPENSSL_free(der);
    X509_free(x);
    X509_free(y);
    X509_REQ_free(r);
    return rc;
}

int pv_station_cert_ids_der(const uint8_t *der, size_t len, struct pv_station_cert_ids *ids,
                            char *cn, size_t cn_cap, char *err, size_t err_len)
{
    if (!der || !ids || len == 0 || len > CSR_MAX)
        return fail(err, err_len, "station CA: no certificate given (or over %u bytes)", CSR_MAX);
    const uint8_t *pp = der;
    X509 *x = d2i_X509(NULL, &pp, (long)len);
    if (!x || pp != der + len) {
        X509_free(x);
        return fail(err, err_len, "station CA: not one DER certificate (%s)", ossl_reason());
    }
    int rc = ids_of(x, der, len, ids, err, err_len);
    if (rc == 0 && cn && cn_cap) {
        cn[0] = 0;
        int n =
            X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cn_cap);
        if (n < 0)
            cn[0] = 0;
        ERR_clear_error();
    }
    X509_free(x);
    return rc;
}

/* Every certificate in pem, in order; NULL if there is none. */
static STACK_OF(X509) * read_certs(const uint8_t *pem, size_t len)
{
    if (!pem || len == 0 || len > INT32_MAX)
        return NULL;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (!b || !sk) {
        BIO_free(b);
        sk_X509_free(sk);
        return NULL;
    }
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    ERR_clear_error(); /* the end of the input */
    BIO_free(b);
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return NULL;
    }
    return sk;
}

int pv_station_verify_chain(const uint8_t *ca_pem, size_t ca_len, const uint8_t *chain,
                            size_t chain_len, enum pv_station_cert_kind kind, char *err,
                            size_t err_len)
{
    STACK_OF(X509) *cas = read_certs(ca_pem, ca_len);
    STACK_OF(X509) *certs = read_certs(chain, chain_len);
    X509_STORE *st = NULL;
    X509_STORE_CTX *ctx = NULL;
    int rc = -1;
    if (!cas || !certs) {
        fail(err, err_len, "station CA: no PEM certificate in the %s given",
             cas ? "chain" : "CA certificate");
        goto done;
    }
    st = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    if (!st || !ctx) {
        fail(err, err_len, "station CA: out of memory");
        goto done;
    }
    for (int i = 0; i < sk_X509_num(cas); i++)
        if (X509_STORE_add_cert(st, sk_X509_value(cas, i)) != 1) {
            fail(err, err_len, "station CA: cannot use the CA certificate (%s)", ossl_reason());
            goto done;
        }
    X509_STORE_set_flags(st, X509_V_FLAG_X509_STRICT);
    X509 *leaf = sk_X509_shift(certs);
    int ok = X509_STORE_CTX_init(ctx, st, leaf, certs) == 1 &&
             X509_STORE_CTX_set_purpose(ctx, kind == PV_STATION_CERT_SERVER
                                                 ? X509_PURPOSE_SSL_SERVER
                                                 : X509_PURPOSE_SSL_CLIENT) == 1;
    if (ok && X509_verify_cert(ctx) == 1) {
        rc = 0;
    } else {
        int code = X509_STORE_CTX_get_error(ctx);
        char cn[80] = "?";
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
        X509_NAME_get_text_by_NID(X509_get_subject_name(bad ? bad : leaf), NID_commonName, cn,
                                  sizeof cn);
        fail(err, err_len,
             "station CA: the certificate chain does not verify against the station CA: %s "
             "(certificate CN=%s, depth %d)",
             ok ? X509_verify_cert_error_string(code) : ossl_reason(), cn,
             X509_STORE_CTX_get_error_depth(ctx));
    }
    ERR_clear_error();
    X509_free(leaf);
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    sk_X509_pop_free(cas, X509_free);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}
