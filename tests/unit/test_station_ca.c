/* The station CA (hsm-bridge/station_ca.h) on a fresh SoftHSM2 token in a temporary directory:
 * the CA certificate is self-signed by the token key, which cannot leave the token; station and
 * bridge certificates are issued from CSRs made here with OpenSSL (Ed25519 and ECDSA P-256 keys)
 * and verify with X509_verify_cert and `openssl verify`; forged CSRs, bad names and bad SANs are
 * refused; a certificate of another CA does not verify; and a real TLS 1.3 handshake with mutual
 * authentication succeeds with certificates of this CA and fails with a client certificate of
 * another CA.
 *
 * The tests' link line has libcrypto but not libssl (tests/tests.mk), so the handshake takes its
 * few libssl functions from libssl.so.3 with dlopen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../../hsm-bridge/p11.h"
#include "../../hsm-bridge/station_ca.h"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); p11_module.c suppresses leaks under
 * libsofthsm2.so, which only the slow unwinder reaches through libcrypto (see test_keystore.c). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define TOKEN     "station-ca-test"
#define PIN       "314159"
#define SO_PIN    "27182818"
#define OTHER_KEY "other-ca"

static char dir[64], ca_path[128], other_path[128];
static pv_p11 *P;
static pv_station_ca *CA, *OTHER;

/* ---- helpers ---- */

static void write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
    fclose(f);
}

static EVP_PKEY *new_key(const char *alg)
{
    EVP_PKEY *k = strcmp(alg, "P-256") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                                            : EVP_PKEY_Q_keygen(NULL, NULL, alg);
    assert_non_null(k);
    return k;
}

/* A PEM CSR for the public key of pub, signed by signer (pub itself for an honest CSR), with
 * subject CN = cn and, if greedy, requested extensions a CA must ignore (CA:TRUE, a SAN). */
static char *make_csr_signed(EVP_PKEY *pub, EVP_PKEY *signer, const char *cn, int greedy)
{
    X509_REQ *r = X509_REQ_new();
    assert_non_null(r);
    X509_NAME *n = X509_REQ_get_subject_name(r);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
                                                (const unsigned char *)"Evil Corp", -1, -1, 0),
                     1);
    assert_int_equal(X509_REQ_set_pubkey(r, pub), 1);
    if (greedy) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *e1 = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "CA:TRUE");
        X509_EXTENSION *e2 = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:evil");
        assert_non_null(e1);
        assert_non_null(e2);
        sk_X509_EXTENSION_push(exts, e1);
        sk_X509_EXTENSION_push(exts, e2);
        assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    const EVP_MD *md = EVP_PKEY_is_a(signer, "ED25519") ? NULL : EVP_sha256();
    assert_true(X509_REQ_sign(r, signer, md) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509_REQ(b, r), 1);
    char *data;
    long len = BIO_get_mem_data(b, &data);
    char *out = malloc((size_t)len + 1);
    assert_non_null(out);
    memcpy(out, data, (size_t)len);
    out[len] = 0;
    BIO_free(b);
    X509_REQ_free(r);
    return out;
}

static char *make_csr(EVP_PKEY *key, const char *cn)
{
    return make_csr_signed(key, key, cn, 0);
}

static X509 *pem_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static X509 *ca_cert(pv_station_ca *ca)
{
    char pem[PV_STATION_CERT_PEM_MAX], err[512];
    if (pv_station_ca_cert_pem(ca, pem, sizeof pem, NULL, err, sizeof err) != 0)
        fail_msg("%s", err);
    return pem_cert(pem);
}

struct issued {
    char pem[PV_STATION_CERT_PEM_MAX];
    struct pv_station_cert_ids ids;
    char err[512];
};

static int issue_kind(pv_station_ca *ca, const char *csr, const char *name,
                      enum pv_station_cert_kind kind, const char *const *dns, size_t n_dns,
                      const char *const *ips, size_t n_ips, struct issued *out)
{
    struct pv_station_issue req = {.name = name,
                                   .days = 30,
                                   .kind = kind,
                                   .dns = dns,
                                   .n_dns = n_dns,
                                   .ips = ips,
                                   .n_ips = n_ips};
    out->err[0] = 0;
    return pv_station_ca_issue(ca, (const uint8_t *)csr, strlen(csr), &req, out->pem,
                               sizeof out->pem, NULL, &out->ids, out->err, sizeof out->err);
}

static void issue_client(pv_station_ca *ca, EVP_PKEY *key, const char *name, struct issued *out)
{
    char *csr = make_csr(key, "whatever-the-station-says");
    if (issue_kind(ca, csr, name, PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, out) != 0)
        fail_msg("issue %s: %s", name, out->err);
    free(csr);
}

static const char *const LOCALHOST[] = {"localhost"};
static const char *const LOOPBACK[] = {"127.0.0.1"};

static void issue_server(pv_station_ca *ca, EVP_PKEY *key, struct issued *out)
{
    char *csr = make_csr(key, "bridge");
    if (issue_kind(ca, csr, "bridge-1", PV_STATION_CERT_SERVER, LOCALHOST, 1, LOOPBACK, 1, out) !=
        0)
        fail_msg("issue server: %s", out->err);
    free(csr);
}

/* X509_verify_cert of cert against the one CA certificate ca alone, for the purpose given:
 * X509_V_OK or OpenSSL's reason. */
static int verify_x509(X509 *ca, X509 *cert, int purpose)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_add_cert(st, ca), 1);
    X509_STORE_set_flags(st, X509_V_FLAG_X509_STRICT);
    assert_int_equal(X509_STORE_CTX_init(ctx, st, cert, NULL), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
    int ok = X509_verify_cert(ctx);
    int code = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    ERR_clear_error();
    return ok == 1 ? X509_V_OK : (code != X509_V_OK ? code : -1);
}

static void cn_of(X509 *x, char *cn, size_t cap)
{
    cn[0] = 0;
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cap);
}

/* ---- setup: a SoftHSM2 of our own, a token, the CA and another CA ---- */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/pv-station-ca-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char tokens[128], conf[128], err[640];
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
    snprintf(other_path, sizeof other_path, "%s/other-ca.pem", dir);
    mkdir(tokens, 0700);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    if (pv_p11_init_token(NULL, TOKEN, SO_PIN, PIN, err, sizeof err) != 1) {
        fprintf(stderr, "init token: %s\n", err);
        return -1;
    }
    P = pv_p11_open(NULL, TOKEN, PIN, err, sizeof err);
    if (!P) {
        fprintf(stderr, "open token: %s\n", err);
        return -1;
    }
    CA = pv_station_ca_create(P, NULL, "Test Station CA", 3650, 0, ca_path, err, sizeof err);
    if (!CA) {
        fprintf(stderr, "create CA: %s\n", err);
        return -1;
    }
    OTHER =
        pv_station_ca_create(P, OTHER_KEY, "Test Station CA", 3650, 0, other_path, err, sizeof err);
    if (!OTHER) {
        fprintf(stderr, "create other CA: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pv_station_ca_free(CA);
    pv_station_ca_free(OTHER);
    pv_p11_close(P);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the CA ---- */

static void test_ca_self_signed(void **state)
{
    (void)state;
    X509 *c = ca_cert(CA);
    assert_int_equal(X509_verify(c, X509_get0_pubkey(c)), 1);
    assert_int_equal(X509_get_signature_nid(c), NID_ED25519);
    assert_int_equal(X509_check_ca(c), 1);
    assert_int_equal(X509_get_pathlen(c), 0);
    uint32_t ku = X509_get_key_usage(c);
    assert_true(ku & KU_KEY_CERT_SIGN);
    assert_true(ku & KU_CRL_SIGN);
    assert_false(ku & KU_DIGITAL_SIGNATURE);
    assert_non_null(X509_get0_subject_key_id(c));
    char cn[80];
    cn_of(c, cn, sizeof cn);
    assert_string_equal(cn, "Test Station CA");
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)), 0);
    assert_int_equal(verify_x509(c, c, X509_PURPOSE_ANY), X509_V_OK);
    /* the CA's key is the token's: the same certificate is in the file */
    char err[512];
    pv_station_ca *again = pv_station_ca_load(P, NULL, ca_path, err, sizeof err);
    if (!again)
        fail_msg("%s", err);
    X509 *c2 = ca_cert(again);
    assert_int_equal(X509_cmp(c, c2), 0);
    pv_station_ca_free(again);
    X509_free(c2);
    X509_free(c);
}

static void test_ca_load_refusals(void **state)
{
    (void)state;
    char err[512];
    /* the other CA's certificate with this CA's key */
    assert_null(pv_station_ca_load(P, NULL, other_path, err, sizeof err));
    assert_non_null(strstr(err, "is not the token key 'station-ca'"));
    /* a key label the token does not have */
    assert_null(pv_station_ca_load(P, "no-such-ca", ca_path, err, sizeof err));
    assert_non_null(strstr(err, "create the station CA first"));
    /* a missing file */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.pem", dir);
    assert_null(pv_station_ca_load(P, NULL, missing, err, sizeof err));
    assert_non_null(strstr(err, "cannot read the CA certificate"));
    /* an issued (non-CA) certificate as the CA certificate */
    EVP_PKEY *k = new_key("ED25519");
    struct issued *is = malloc(sizeof *is);
    issue_client(CA, k, "leaf", is);
    char leaf[160];
    snprintf(leaf, sizeof leaf, "%s/leaf.pem", dir);
    write_file(leaf, is->pem);
    assert_null(pv_station_ca_load(P, NULL, leaf, err, sizeof err));
    assert_non_null(strstr(err, "is not an Ed25519 CA certificate"));
    /* the CA file with one byte of its signature changed */
    X509 *c = ca_cert(CA);
    uint8_t *der = NULL;
    int n = i2d_X509(c, &der);
    der[n - 1] ^= 1;
    const uint8_t *pp = der;
    X509 *bad = d2i_X509(NULL, &pp, n);
    assert_non_null(bad);
    char altered[160];
    snprintf(altered, sizeof altered, "%s/altered.pem", dir);
    FILE *f = fopen(altered, "w");
    PEM_write_X509(f, bad);
    fclose(f);
    assert_null(pv_station_ca_load(P, NULL, altered, err, sizeof err));
    assert_non_null(strstr(err, "self-signature"));
    X509_free(bad);
    OPENSSL_free(der);
    X509_free(c);
    free(is);
    EVP_PKEY_free(k);
}

static void test_ca_create_refusals_and_force(void **state)
{
    (void)state;
    char err[512], path[160];
    snprintf(path, sizeof path, "%s/tmp-ca.pem", dir);
    unsigned n = 0;
    /* an existing key or an existing file is not overwritten */
    assert_null(pv_station_ca_create(P, NULL, "Again", 365, 0, path, err, sizeof err));
    assert_non_null(strstr(err, "already has a key labelled 'station-ca'"));
    assert_int_equal(access(path, F_OK), -1);
    assert_null(pv_station_ca_create(P, "fresh-ca", "Again", 365, 0, ca_path, err, sizeof err));
    assert_non_null(strstr(err, "refusing to overwrite"));
    assert_int_equal(pv_p11_count(P, PV_P11_PRIVATE_KEY, "fresh-ca", &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    /* all or nothing: a file that cannot be written leaves no key behind */
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/ca.pem", dir);
    assert_null(pv_station_ca_create(P, "lost-ca", "Lost", 365, 0, nodir, err, sizeof err));
    assert_non_null(strstr(err, "cannot write"));
    assert_int_equal(pv_p11_count(P, PV_P11_PRIVATE_KEY, "lost-ca", &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pv_p11_count(P, PV_P11_PUBLIC_KEY, "lost-ca", &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    /* bad parameters */
    assert_null(pv_station_ca_create(P, "x-ca", "", 365, 0, path, err, sizeof err));
    assert_non_null(strstr(err, "common name"));
    assert_null(pv_station_ca_create(P, "x-ca", "CA\n", 365, 0, path, err, sizeof err));
    assert_null(pv_station_ca_create(P, "x-ca", "CA", 0, 0, path, err, sizeof err));
    assert_non_null(strstr(err, "give 1..36500 days"));

    /* force replaces a CA: what the old one issued no longer verifies against the new one */
    pv_station_ca *t1 = pv_station_ca_create(P, "tmp-ca", "Tmp", 365, 0, path, err, sizeof err);
    if (!t1)
        fail_msg("%s", err);
    EVP_PKEY *k = new_key("ED25519");
    struct issued *is = malloc(sizeof *is);
    issue_client(t1, k, "old-station", is);
    X509 *old_ca = ca_cert(t1);
    pv_station_ca_free(t1);
    assert_null(pv_station_ca_create(P, "tmp-ca", "Tmp", 365, 0, path, err, sizeof err));
    pv_station_ca *t2 = pv_station_ca_create(P, "tmp-ca", "Tmp", 365, 1, path, err, sizeof err);
    if (!t2)
        fail_msg("%s", err);
    assert_int_equal(pv_p11_count(P, PV_P11_PRIVATE_KEY, "tmp-ca", &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    X509 *new_ca = ca_cert(t2);
    X509 *leaf = pem_cert(is->pem);
    assert_int_equal(verify_x509(old_ca, leaf, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    assert_int_equal(verify_x509(new_ca, leaf, X509_PURPOSE_SSL_CLIENT),
                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    /* and the old certificate file no longer loads with the token key */
    char old_path[160];
    snprintf(old_path, sizeof old_path, "%s/old-ca.pem", dir);
    FILE *f = fopen(old_path, "w");
    PEM_write_X509(f, old_ca);
    fclose(f);
    assert_null(pv_station_ca_load(P, "tmp-ca", old_path, err, sizeof err));
    assert_non_null(strstr(err, "is not the token key"));
    pv_station_ca_free(t2);
    X509_free(leaf);
    X509_free(old_ca);
    X509_free(new_ca);
    free(is);
    EVP_PKEY_free(k);
}

static void test_ca_key_not_extractable(void **state)
{
    (void)state;
    char err[512];
    pv_p11_obj h;
    assert_int_equal(
        pv_p11_find_key(P, PV_P11_PRIVATE_KEY, PV_STATION_CA_LABEL, &h, err, sizeof err), 0);
    struct pv_p11_key_flags fl;
    assert_int_equal(pv_p11_key_flags(P, h, &fl, err, sizeof err), 0);
    assert_int_equal(fl.sensitive, 1);
    assert_int_equal(fl.extractable, 0);
    assert_int_equal(fl.always_sensitive, 1);
    assert_int_equal(fl.never_extractable, 1);
    /* the attack: ask the token for the private key's value */
    uint8_t v[256];
    size_t len = 0;
    assert_int_equal(pv_p11_read_value(P, h, v, sizeof v, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "CKR_ATTRIBUTE_SENSITIVE"));
}

/* ---- station certificates ---- */

static void check_client_cert(const char *alg)
{
    EVP_PKEY *k = new_key(alg);
    char *csr = make_csr_signed(k, k, "evil-admin", 1); /* asks for CA:TRUE and a SAN */
    struct issued *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    if (issue_kind(CA, csr, "line-3.pc_A", PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, a) != 0)
        fail_msg("%s: %s", alg, a->err);
    if (issue_kind(CA, csr, "line-3.pc_A", PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, b) != 0)
        fail_msg("%s: %s", alg, b->err);
    X509 *ca = ca_cert(CA), *x = pem_cert(a->pem), *y = pem_cert(b->pem);

    /* the chain verifies, for a TLS client */
    assert_int_equal(verify_x509(ca, x, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    char err[512];
    if (pv_station_verify_chain((const uint8_t *)a->pem, 0, NULL, 0, PV_STATION_CERT_CLIENT, err,
                                sizeof err) == 0)
        fail_msg("an empty CA verified");
    char ca_pem[PV_STATION_CERT_PEM_MAX];
    assert_int_equal(pv_station_ca_cert_pem(CA, ca_pem, sizeof ca_pem, NULL, err, sizeof err), 0);
    if (pv_station_verify_chain((const uint8_t *)ca_pem, strlen(ca_pem), (const uint8_t *)a->pem,
                                strlen(a->pem), PV_STATION_CERT_CLIENT, err, sizeof err) != 0)
        fail_msg("%s", err);
    /* but not as a server */
    assert_int_equal(pv_station_verify_chain((const uint8_t *)ca_pem, strlen(ca_pem),
                                             (const uint8_t *)a->pem, strlen(a->pem),
                                             PV_STATION_CERT_SERVER, err, sizeof err),
                     -1);
    if (!strstr(err, "unsuitable certificate purpose"))
        fail_msg("%s", err);

    /* the subject is the operator's name, nothing of the CSR's; the key is the CSR's */
    char cn[80];
    cn_of(x, cn, sizeof cn);
    assert_string_equal(cn, "line-3.pc_A");
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
    assert_int_equal(X509_get_signature_nid(x), NID_ED25519);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    /* the extensions are the CA's: not a CA, digitalSignature, clientAuth, no SAN */
    assert_int_equal(X509_check_ca(x), 0);
    assert_true(X509_get_extension_flags(x) & EXFLAG_BCONS);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
    assert_int_equal(X509_get_ext_by_NID(x, NID_subject_alt_name, -1), -1);
    assert_non_null(X509_get0_subject_key_id(x));
    assert_non_null(X509_get0_authority_key_id(x));
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(ca)), 0);
    /* about 30 days */
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
    assert_true(days == 29 || days == 30);

    /* serial: 128 bits, positive, in the ids; two issues differ */
    const ASN1_INTEGER *s = X509_get0_serialNumber(x);
    BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);
    assert_false(BN_is_negative(bn));
    assert_true(BN_num_bits(bn) > 96 && BN_num_bits(bn) <= 127);
    char *hex = BN_bn2hex(bn);
    for (char *q = hex; *q; q++)
        *q = (char)(*q >= 'A' && *q <= 'F' ? *q - 'A' + 'a' : *q);
    assert_string_equal(hex, a->ids.serial);
    assert_int_equal(strlen(a->ids.serial), 32);
    OPENSSL_free(hex);
    BN_free(bn);
    assert_string_not_equal(a->ids.serial, b->ids.serial);
    assert_string_not_equal(a->ids.sha256, b->ids.sha256);

    /* fingerprint = SHA-256 of the DER */
    uint8_t *der = NULL, md[32];
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    assert_int_equal(EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL), 1);
    char fp[65];
    for (int i = 0; i < 32; i++)
        snprintf(fp + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(fp, a->ids.sha256);
    /* and what the bridge computes from a peer's DER is the same */
    struct pv_station_cert_ids ids;
    char peer_cn[PV_STATION_NAME_MAX + 1];
    assert_int_equal(
        pv_station_cert_ids_der(der, (size_t)n, &ids, peer_cn, sizeof peer_cn, err, sizeof err), 0);
    assert_string_equal(ids.sha256, a->ids.sha256);
    assert_string_equal(ids.serial, a->ids.serial);
    assert_string_equal(peer_cn, "line-3.pc_A");
    assert_int_equal(pv_station_cert_ids_der(der, (size_t)n - 1, &ids, NULL, 0, err, sizeof err),
                     -1);
    OPENSSL_free(der);

    X509_free(x);
    X509_free(y);
    X509_free(ca);
    free(a);
    free(b);
    free(csr);
    EVP_PKEY_free(k);
}

static void test_issue_client_ed25519(void **state)
{
    (void)state;
    check_client_cert("ED25519");
}

static void test_issue_client_p256(void **state)
{
    (void)state;
    check_client_cert("P-256");
}

static void test_forged_csr_refused(void **state)
{
    (void)state;
    EVP_PKEY *k = new_key("P-256"), *other = new_key("ED25519");
    struct issued *is = malloc(sizeof *is);

    /* a CSR whose signature was altered (last byte of the DER, inside the signature) */
    char *csr = make_csr(other, "station");
    BIO *b = BIO_new_mem_buf(csr, -1);
    X509_REQ *r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    BIO_free(b);
    uint8_t *der = NULL;
    int n = i2d_X509_REQ(r, &der);
    der[n - 1] ^= 0x01;
    const uint8_t *pp = der;
    X509_REQ *forged = d2i_X509_REQ(NULL, &pp, n);
    assert_non_null(forged);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(b, forged);
    char *data;
    long len = BIO_get_mem_data(b, &data);
    char *forged_pem = strndup(data, (size_t)len);
    BIO_free(b);
    assert_int_equal(
        issue_kind(CA, forged_pem, "station", PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, is), -1);
    assert_non_null(strstr(is->err, "CSR's signature does not verify"));
    /* the same CSR as DER bytes is refused the same way */
    struct pv_station_issue req = {.name = "station", .days = 30};
    char pem[PV_STATION_CERT_PEM_MAX];
    struct pv_station_cert_ids ids;
    assert_int_equal(pv_station_ca_issue(CA, der, (size_t)n, &req, pem, sizeof pem, NULL, &ids,
                                         is->err, sizeof is->err),
                     -1);
    assert_non_null(strstr(is->err, "CSR's signature does not verify"));
    /* the honest CSR as DER is accepted */
    der[n - 1] ^= 0x01;
    assert_int_equal(pv_station_ca_issue(CA, der, (size_t)n, &req, pem, sizeof pem, NULL, &ids,
                                         is->err, sizeof is->err),
                     0);

    /* a CSR carrying k's public key but signed by another key */
    char *mismatched = make_csr_signed(k, other, "station", 0);
    assert_int_equal(
        issue_kind(CA, mismatched, "station", PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, is), -1);
    assert_non_null(strstr(is->err, "CSR's signature does not verify"));

    /* not a CSR at all */
    assert_int_equal(issue_kind(CA, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "station",
                                PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, is),
                     -1);
    assert_non_null(strstr(is->err, "not a certificate signing request"));

    /* a key type the CA does not accept: EC on a curve other than the NIST ones it takes */
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    assert_non_null(k1);
    char *k1csr = make_csr(k1, "station");
    assert_int_equal(issue_kind(CA, k1csr, "station", PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, is),
                     -1);
    assert_non_null(strstr(is->err, "curve 'secp256k1'"));

    free(k1csr);
    EVP_PKEY_free(k1);
    free(mismatched);
    free(forged_pem);
    X509_REQ_free(forged);
    X509_REQ_free(r);
    OPENSSL_free(der);
    free(csr);
    free(is);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static void test_bad_names_refused(void **state)
{
    (void)state;
    EVP_PKEY *k = new_key("ED25519");
    char *csr = make_csr(k, "station");
    struct issued *is = malloc(sizeof *is);
    char long64[65], long63[64];
    memset(long64, 'a', 64);
    long64[64] = 0;
    memset(long63, 'b', 63);
    long63[63] = 0;
    const char *bad[] = {"a b",  "",         long64,  "../x", "a/b",    "a\tb", "a\nb",
                         "a\rb", "\x1b[31m", "a\x7f", "é",    "a,CN=x", "a*",   "a@b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pv_station_name_valid(bad[i]), 0);
        assert_int_equal(issue_kind(CA, csr, bad[i], PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, is),
                         -1);
        assert_non_null(strstr(is->err, "is not a station name"));
    }
    assert_int_equal(pv_station_name_valid(NULL), 0);
    assert_int_equal(issue_kind(CA, csr, NULL, PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, is), -1);
    const char *good[] = {"a", long63, "Line-3.PC_07", "0"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(pv_station_name_valid(good[i]), 1);
        if (issue_kind(CA, csr, good[i], PV_STATION_CERT_CLIENT, NULL, 0, NULL, 0, is) != 0)
            fail_msg("%s: %s", good[i], is->err);
    }
    /* validity: 0 days, and past the CA's own end */
    struct pv_station_issue req = {.name = "s", .days = 0};
    char pem[PV_STATION_CERT_PEM_MAX];
    struct pv_station_cert_ids ids;
    assert_int_equal(pv_station_ca_issue(CA, (const uint8_t *)csr, strlen(csr), &req, pem,
                                         sizeof pem, NULL, &ids, is->err, sizeof is->err),
                     -1);
    req.days = 3651;
    assert_int_equal(pv_station_ca_issue(CA, (const uint8_t *)csr, strlen(csr), &req, pem,
                                         sizeof pem, NULL, &ids, is->err, sizeof is->err),
                     -1);
    assert_non_null(strstr(is->err, "would end after the station CA itself"));
    /* a buffer too small says how much it needs */
    req.days = 30;
    assert_int_equal(pv_station_ca_issue(CA, (const uint8_t *)csr, strlen(csr), &req, pem, 100,
                                         NULL, &ids, is->err, sizeof is->err),
                     -1);
    assert_non_null(strstr(is->err, "the buffer has 100"));
    free(is);
    free(csr);
    EVP_PKEY_free(k);
}

static void test_server_cert(void **state)
{
    (void)state;
    EVP_PKEY *k = new_key("ED25519");
    struct issued *is = malloc(sizeof *is);
    issue_server(CA, k, is);
    X509 *x = pem_cert(is->pem), *ca = ca_cert(CA);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "evil.example", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "10.0.0.1", 0), 0);
    assert_int_equal(verify_x509(ca, x, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    assert_int_equal(verify_x509(ca, x, X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
    char cn[80];
    cn_of(x, cn, sizeof cn);
    assert_string_equal(cn, "bridge-1");

    /* several SANs, IPv6 */
    char *csr = make_csr(k, "bridge");
    const char *const dns[] = {"bridge.factory.example", "localhost"};
    const char *const ips[] = {"127.0.0.1", "::1", "192.168.10.2"};
    if (issue_kind(CA, csr, "bridge-1", PV_STATION_CERT_SERVER, dns, 2, ips, 3, is) != 0)
        fail_msg("%s", is->err);
    X509 *x2 = pem_cert(is->pem);
    assert_int_equal(X509_check_host(x2, "bridge.factory.example", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x2, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x2, "192.168.10.2", 0), 1);

    /* refusals: bad DNS names and IPs, no SAN for a server, SANs for a client */
    const char *const bad_dns[] = {"*.example", "a..b", "-a.b", "a b", "", "a,DNS:evil", "x."};
    for (size_t i = 0; i < sizeof bad_dns / sizeof bad_dns[0]; i++) {
        assert_int_equal(
            issue_kind(CA, csr, "bridge-1", PV_STATION_CERT_SERVER, &bad_dns[i], 1, NULL, 0, is),
            -1);
        assert_non_null(strstr(is->err, "is not a DNS name"));
    }
    const char *const bad_ip[] = {"1.2.3.999", "localhost", "1.2.3", "::g"};
    for (size_t i = 0; i < sizeof bad_ip / sizeof bad_ip[0]; i++) {
        assert_int_equal(
            issue_kind(CA, csr, "bridge-1", PV_STATION_CERT_SERVER, NULL, 0, &bad_ip[i], 1, is),
            -1);
        assert_non_null(strstr(is->err, "is not an IP address"));
    }
    assert_int_equal(issue_kind(CA, csr, "bridge-1", PV_STATION_CERT_SERVER, NULL, 0, NULL, 0, is),
                     -1);
    assert_non_null(strstr(is->err, "needs 1..16"));
    assert_int_equal(
        issue_kind(CA, csr, "station", PV_STATION_CERT_CLIENT, LOCALHOST, 1, NULL, 0, is), -1);
    assert_non_null(strstr(is->err, "server certificate only"));

    X509_free(x2);
    X509_free(x);
    X509_free(ca);
    free(csr);
    free(is);
    EVP_PKEY_free(k);
}

static void test_other_ca_does_not_verify(void **state)
{
    (void)state;
    EVP_PKEY *k = new_key("ED25519");
    struct issued *is = malloc(sizeof *is);
    issue_client(OTHER, k, "intruder", is);
    X509 *ca = ca_cert(CA), *other = ca_cert(OTHER), *x = pem_cert(is->pem);
    /* same CA name, different key: only the signature tells them apart */
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_subject_name(other)), 0);
    assert_int_equal(verify_x509(other, x, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    assert_int_equal(verify_x509(ca, x, X509_PURPOSE_SSL_CLIENT),
                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    assert_int_not_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
    ERR_clear_error();
    char ca_pem[PV_STATION_CERT_PEM_MAX], err[512];
    assert_int_equal(pv_station_ca_cert_pem(CA, ca_pem, sizeof ca_pem, NULL, err, sizeof err), 0);
    assert_int_equal(pv_station_verify_chain((const uint8_t *)ca_pem, strlen(ca_pem),
                                             (const uint8_t *)is->pem, strlen(is->pem),
                                             PV_STATION_CERT_CLIENT, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "does not verify against the station CA"));
    assert_non_null(strstr(err, "CN=intruder"));
    X509_free(x);
    X509_free(ca);
    X509_free(other);
    free(is);
    EVP_PKEY_free(k);
}

/* ---- `openssl verify`, a peer that is not this code ---- */

static int run_openssl_verify(const char *args, char *out, size_t cap)
{
    char cmd[768];
    snprintf(cmd, sizeof cmd, "openssl verify %s 2>&1", args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    return pclose(f);
}

static void test_openssl_verify_cli(void **state)
{
    (void)state;
    EVP_PKEY *k = new_key("P-256");
    struct issued *is = malloc(sizeof *is);
    issue_client(CA, k, "line-1", is);
    char cert[160], srv[160], intr[160], args[640], out[2048];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    write_file(cert, is->pem);
    issue_server(CA, k, is);
    snprintf(srv, sizeof srv, "%s/server.pem", dir);
    write_file(srv, is->pem);
    issue_client(OTHER, k, "intruder", is);
    snprintf(intr, sizeof intr, "%s/intruder.pem", dir);
    write_file(intr, is->pem);

    snprintf(args, sizeof args, "-x509_strict -purpose sslclient -CAfile %s %s", ca_path, cert);
    int st = run_openssl_verify(args, out, sizeof out);
    char want[200];
    snprintf(want, sizeof want, "%s: OK", cert);
    if (st != 0 || !strstr(out, want))
        fail_msg("openssl verify %s: exit %d\n%s", args, st, out);
    snprintf(args, sizeof args, "-x509_strict -purpose sslserver -CAfile %s %s", ca_path, srv);
    st = run_openssl_verify(args, out, sizeof out);
    if (st != 0 || !strstr(out, ": OK"))
        fail_msg("openssl verify %s: exit %d\n%s", args, st, out);
    /* the other CA's certificate does not verify, nor a client certificate for a server */
    snprintf(args, sizeof args, "-CAfile %s %s", ca_path, intr);
    st = run_openssl_verify(args, out, sizeof out);
    if (st == 0 || strstr(out, ": OK"))
        fail_msg("openssl verify accepted another CA's certificate:\n%s", out);
    snprintf(args, sizeof args, "-purpose sslserver -CAfile %s %s", ca_path, cert);
    st = run_openssl_verify(args, out, sizeof out);
    if (st == 0 || strstr(out, ": OK"))
        fail_msg("openssl verify accepted a client certificate as a server's:\n%s", out);
    free(is);
    EVP_PKEY_free(k);
}

/* ---- a TLS 1.3 handshake with mutual authentication (libssl through dlopen) ---- */

static struct {
    void *h;
    __typeof__(TLS_method) *TLS_method;
    __typeof__(SSL_CTX_new) *SSL_CTX_new;
    __typeof__(SSL_CTX_free) *SSL_CTX_free;
    __typeof__(SSL_CTX_ctrl) *SSL_CTX_ctrl;
    __typeof__(SSL_CTX_use_certificate) *SSL_CTX_use_certificate;
    __typeof__(SSL_CTX_use_PrivateKey) *SSL_CTX_use_PrivateKey;
    __typeof__(SSL_CTX_check_private_key) *SSL_CTX_check_private_key;
    __typeof__(SSL_CTX_get_cert_store) *SSL_CTX_get_cert_store;
    __typeof__(SSL_CTX_set_verify) *SSL_CTX_set_verify;
    __typeof__(SSL_new) *SSL_new;
    __typeof__(SSL_free) *SSL_free;
    __typeof__(SSL_set_bio) *SSL_set_bio;
    __typeof__(SSL_set_connect_state) *SSL_set_connect_state;
    __typeof__(SSL_set_accept_state) *SSL_set_accept_state;
    __typeof__(SSL_set1_host) *SSL_set1_host;
    __typeof__(SSL_do_handshake) *SSL_do_handshake;
    __typeof__(SSL_get_error) *SSL_get_error;
    __typeof__(SSL_get_verify_result) *SSL_get_verify_result;
    __typeof__(SSL_version) *SSL_version;
    __typeof__(SSL_get1_peer_certificate) *SSL_get1_peer_certificate;
    __typeof__(SSL_read) *SSL_read;
    __typeof__(SSL_write) *SSL_write;
} ssl;

#define SSL_LOAD(name)                                                                             \
    do {                                                                                           \
        void *sym = dlsym(ssl.h, #name);                                                           \
        if (!sym)                                                                                  \
            fail_msg("libssl.so.3 has no %s", #name);                                              \
        memcpy(&ssl.name, &sym, sizeof sym);                                                       \
    } while (0)

static void load_libssl(void)
{
    if (ssl.h)
        return;
    ssl.h = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!ssl.h)
        fail_msg("dlopen libssl.so.3: %s (Debian package libssl3)", dlerror());
    SSL_LOAD(TLS_method);
    SSL_LOAD(SSL_CTX_new);
    SSL_LOAD(SSL_CTX_free);
    SSL_LOAD(SSL_CTX_ctrl);
    SSL_LOAD(SSL_CTX_use_certificate);
    SSL_LOAD(SSL_CTX_use_PrivateKey);
    SSL_LOAD(SSL_CTX_check_private_key);
    SSL_LOAD(SSL_CTX_get_cert_store);
    SSL_LOAD(SSL_CTX_set_verify);
    SSL_LOAD(SSL_new);
    SSL_LOAD(SSL_free);
    SSL_LOAD(SSL_set_bio);
    SSL_LOAD(SSL_set_connect_state);
    SSL_LOAD(SSL_set_accept_state);
    SSL_LOAD(SSL_set1_host);
    SSL_LOAD(SSL_do_handshake);
    SSL_LOAD(SSL_get_error);
    SSL_LOAD(SSL_get_verify_result);
    SSL_LOAD(SSL_version);
    SSL_LOAD(SSL_get1_peer_certificate);
    SSL_LOAD(SSL_read);
    SSL_LOAD(SSL_write);
}

/* A TLS 1.3-only context with its certificate and key, trusting only ca, verifying the peer
 * (and requiring its certificate on the server). */
static SSL_CTX *tls_ctx(int server, X509 *cert, EVP_PKEY *key, X509 *ca)
{
    SSL_CTX *c = ssl.SSL_CTX_new(ssl.TLS_method());
    assert_non_null(c);
    assert_int_equal(ssl.SSL_CTX_ctrl(c, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_3_VERSION, NULL), 1);
    assert_int_equal(ssl.SSL_CTX_use_certificate(c, cert), 1);
    assert_int_equal(ssl.SSL_CTX_use_PrivateKey(c, key), 1);
    assert_int_equal(ssl.SSL_CTX_check_private_key(c), 1);
    assert_int_equal(X509_STORE_add_cert(ssl.SSL_CTX_get_cert_store(c), ca), 1);
    ssl.SSL_CTX_set_verify(
        c, server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER, NULL);
    return c;
}

struct tls_result {
    int client_ok, server_ok; /* handshakes completed */
    long server_verify;       /* the server's verdict on the client certificate */
    int version;
    char peer_cn[80]; /* the client's CN as the server sees it */
    int data_ok;      /* application data both ways */
};

/* One handshake between a client (cert ccert/ckey) and the bridge (cert scert/skey), both
 * trusting ca, through a BIO pair in this process. */
static void tls_run(X509 *ca, X509 *scert, EVP_PKEY *skey, X509 *ccert, EVP_PKEY *ckey,
                    struct tls_result *res)
{
    load_libssl();
    memset(res, 0, sizeof *res);
    SSL_CTX *sctx = tls_ctx(1, scert, skey, ca), *cctx = tls_ctx(0, ccert, ckey, ca);
    SSL *s = ssl.SSL_new(sctx), *c = ssl.SSL_new(cctx);
    assert_non_null(s);
    assert_non_null(c);
    BIO *bc = NULL, *bs = NULL;
    assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    ssl.SSL_set_bio(c, bc, bc);
    ssl.SSL_set_bio(s, bs, bs);
    ssl.SSL_set_connect_state(c);
    ssl.SSL_set_accept_state(s);
    assert_int_equal(ssl.SSL_set1_host(c, "localhost"), 1); /* the bridge's SAN */
    int cfail = 0, sfail = 0;
    for (int i = 0; i < 64 && !(res->client_ok && res->server_ok) && !(cfail || sfail); i++) {
        if (!res->client_ok && !cfail) {
            int r = ssl.SSL_do_handshake(c);
            int e = r == 1 ? 0 : ssl.SSL_get_error(c, r);
            res->client_ok = r == 1;
            cfail = r != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
        }
        if (!res->server_ok && !sfail) {
            int r = ssl.SSL_do_handshake(s);
            int e = r == 1 ? 0 : ssl.SSL_get_error(s, r);
            res->server_ok = r == 1;
            sfail = r != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
        }
    }
    res->server_verify = ssl.SSL_get_verify_result(s);
    if (res->client_ok && res->server_ok) {
        res->version = ssl.SSL_version(s);
        X509 *peer = ssl.SSL_get1_peer_certificate(s);
        if (peer)
            cn_of(peer, res->peer_cn, sizeof res->peer_cn);
        X509_free(peer);
        char buf[16] = "";
        int ok = ssl.SSL_write(c, "ping", 4) == 4 && ssl.SSL_read(s, buf, sizeof buf) == 4 &&
                 memcmp(buf, "ping", 4) == 0 && ssl.SSL_write(s, "pong", 4) == 4 &&
                 ssl.SSL_read(c, buf, sizeof buf) == 4 && memcmp(buf, "pong", 4) == 0;
        res->data_ok = ok;
    } else if (res->client_ok) {
        /* TLS 1.3: the client finishes before the server has judged its certificate; the
         * server's alert then ends the client's first read */
        char buf[16];
        assert_true(ssl.SSL_read(c, buf, sizeof buf) <= 0);
    }
    ERR_clear_error();
    ssl.SSL_free(c);
    ssl.SSL_free(s);
    ssl.SSL_CTX_free(cctx);
    ssl.SSL_CTX_free(sctx);
}

static void test_tls13_mutual_handshake(void **state)
{
    (void)state;
    EVP_PKEY *skey = new_key("ED25519"), *ckey = new_key("P-256"), *ekey = new_key("ED25519");
    struct issued *is = malloc(sizeof *is);
    issue_server(CA, skey, is);
    X509 *scert = pem_cert(is->pem);
    issue_client(CA, ckey, "line-7", is);
    X509 *ccert = pem_cert(is->pem);
    issue_client(CA, ekey, "line-8", is);
    X509 *ecert = pem_cert(is->pem);
    issue_client(OTHER, ckey, "line-7", is); /* the same name and key, from another CA */
    X509 *intruder = pem_cert(is->pem);
    X509 *ca = ca_cert(CA);
    struct tls_result r;

    /* stations with a P-256 and an Ed25519 key */
    tls_run(ca, scert, skey, ccert, ckey, &r);
    assert_true(r.client_ok);
    assert_true(r.server_ok);
    assert_int_equal(r.server_verify, X509_V_OK);
    assert_int_equal(r.version, TLS1_3_VERSION);
    assert_string_equal(r.peer_cn, "line-7");
    assert_true(r.data_ok);
    tls_run(ca, scert, skey, ecert, ekey, &r);
    assert_true(r.client_ok && r.server_ok && r.data_ok);
    assert_string_equal(r.peer_cn, "line-8");

    /* a client certificate of another CA fails the handshake */
    tls_run(ca, scert, skey, intruder, ckey, &r);
    assert_false(r.server_ok);
    assert_int_not_equal(r.server_verify, X509_V_OK);
    /* so does the bridge's own (serverAuth) certificate used as a client's */
    tls_run(ca, scert, skey, scert, skey, &r);
    assert_false(r.server_ok);
    assert_int_equal(r.server_verify, X509_V_ERR_INVALID_PURPOSE);

    X509_free(ca);
    X509_free(intruder);
    X509_free(ecert);
    X509_free(ccert);
    X509_free(scert);
    free(is);
    EVP_PKEY_free(skey);
    EVP_PKEY_free(ckey);
    EVP_PKEY_free(ekey);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_self_signed),
        cmocka_unit_test(test_ca_load_refusals),
        cmocka_unit_test(test_ca_create_refusals_and_force),
        cmocka_unit_test(test_ca_key_not_extractable),
        cmocka_unit_test(test_issue_client_ed25519),
        cmocka_unit_test(test_issue_client_p256),
        cmocka_unit_test(test_forged_csr_refused),
        cmocka_unit_test(test_bad_names_refused),
        cmocka_unit_test(test_server_cert),
        cmocka_unit_test(test_other_ca_does_not_verify),
        cmocka_unit_test(test_openssl_verify_cli),
        cmocka_unit_test(test_tls13_mutual_handshake),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
