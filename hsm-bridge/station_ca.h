/* The station CA: the certificate authority that identifies stations (line PCs) to the bridge over
 * mutual TLS, and the bridge to the stations. Its Ed25519 private key is generated in the PKCS#11
 * token and never leaves it; certificates are built with OpenSSL and their TBSCertificate is
 * signed in the token (CKM_EDDSA), and every certificate is verified against the CA's public key
 * before it is returned. See docs/keystore.md, "Station CA".
 *
 * A station certificate carries only the public key of the station's CSR (whose self-signature
 * must verify); its subject is CN = the station name the operator gave, nothing of the CSR's
 * subject or extensions. The bridge knows a station by the SHA-256 of its certificate's DER
 * (pv_ledger_station.cert_sha256) and by its serial.
 *
 * Every failing call writes one line into err naming what failed and how to fix it, and returns
 * -1 (or NULL). */
#ifndef PV_HSM_BRIDGE_STATION_CA_H
#define PV_HSM_BRIDGE_STATION_CA_H

#include <stddef.h>
#include <stdint.h>

#include "p11.h"

#define PV_STATION_CA_LABEL     "station-ca" /* the token key pair's label, by default */
#define PV_STATION_NAME_MAX     63u          /* a station name: 1..63 of [A-Za-z0-9._-] */
#define PV_STATION_CA_CN_MAX    64u          /* the CA's CN: 1..64 printable ASCII */
#define PV_STATION_DAYS_MAX     36500u       /* validity: 1..36500 days */
#define PV_STATION_SERIAL_HEX   41u          /* hex of up to 20 octets and a NUL (ours: 32) */
#define PV_STATION_SHA256_HEX   65u          /* 64 lowercase hex digits and a NUL */
#define PV_STATION_CERT_PEM_MAX 8192u        /* enough for any certificate issued here */
#define PV_STATION_SAN_MAX      16u          /* DNS names plus IP addresses (server) */

typedef struct pv_station_ca pv_station_ca;

/* Creates the station CA: generates an Ed25519 key pair in the token p is logged in to, both
 * objects labelled key_label (NULL: PV_STATION_CA_LABEL; private key sensitive, never
 * extractable), and writes a self-signed CA certificate to cert_path as PEM (CN = cn,
 * basicConstraints critical CA:TRUE pathlen:0, keyUsage critical keyCertSign cRLSign, subject key
 * identifier, valid from now for days). Refuses when the token already has a key with that label
 * or cert_path exists, unless force (which destroys the old key pair: every certificate issued
 * under it stops verifying). All or nothing: on failure no new key stays in the token and
 * cert_path is not written (the file is written to cert_path.tmp, synced and renamed). p is
 * borrowed and must stay open while the returned CA is used. NULL on failure. */
pv_station_ca *pv_station_ca_create(pv_p11 *p, const char *key_label, const char *cn, unsigned days,
                                    int force, const char *cert_path, char *err, size_t err_len);

/* Loads an existing CA: its certificate (PEM file cert_path) and the token key pair labelled
 * key_label (NULL: PV_STATION_CA_LABEL). Refuses a certificate that is not a CA certificate or
 * whose self-signature does not verify, a key that is extractable or not sensitive, and a
 * certificate whose public key is not the token key's (checked with a signature made by the
 * token's private key). p is borrowed. NULL on failure. */
pv_station_ca *pv_station_ca_load(pv_p11 *p, const char *key_label, const char *cert_path,
                                  char *err, size_t err_len);

/* Frees the CA (not the token session). NULL is allowed. */
void pv_station_ca_free(pv_station_ca *ca);

/* The CA certificate as PEM, NUL-terminated, in pem[cap]; *len (may be NULL) gets its length
 * without the NUL. 0 or -1 (cap too small: err says how many bytes it needs). */
int pv_station_ca_cert_pem(const pv_station_ca *ca, char *pem, size_t cap, size_t *len, char *err,
                           size_t err_len);

/* 1 if name is a valid station name (1..PV_STATION_NAME_MAX characters of [A-Za-z0-9._-]),
 * else 0. */
int pv_station_name_valid(const char *name);

enum pv_station_cert_kind {
    PV_STATION_CERT_CLIENT, /* a station: extendedKeyUsage clientAuth */
    PV_STATION_CERT_SERVER, /* the bridge's own TLS certificate: serverAuth and subjectAltName */
};

struct pv_station_issue {
    const char *name; /* the subject's CN: 1..63 of [A-Za-z0-9._-] */
    unsigned days;    /* validity from now: 1..PV_STATION_DAYS_MAX, not past the CA's own */
    enum pv_station_cert_kind kind;
    /* PV_STATION_CERT_SERVER only (at least one entry, at most PV_STATION_SAN_MAX in all):
     * DNS names (letters, digits, '-', labels of 1..63 separated by '.', at most 253
     * characters, no wildcards) and IPv4 or IPv6 addresses in text form. */
    const char *const *dns;
    size_t n_dns;
    const char *const *ips;
    size_t n_ips;
};

struct pv_station_cert_ids {
    char serial[PV_STATION_SERIAL_HEX]; /* the serial number, lowercase hex, no separators */
    char sha256[PV_STATION_SHA256_HEX]; /* SHA-256 of the certificate's DER, lowercase hex */
};

/* The checks pv_station_ca_issue makes of a CSR (PEM, or DER, of csr_len bytes) before it
 * issues anything: it parses, its self-signature verifies, its key is of a type accepted (below).
 * 0, or -1 with err saying which and how to fix it. */
int pv_station_csr_check(const uint8_t *csr, size_t csr_len, char *err, size_t err_len);

/* Issues a certificate for the public key of the CSR csr (PEM, or DER, of csr_len bytes): checks
 * the CSR's self-signature (a forged or mismatched CSR is refused) and its key type (Ed25519,
 * Ed448, ECDSA on P-256/P-384/P-521, RSA of 2048 bits or more), then builds a certificate with
 * subject CN = req->name, issuer = the CA, a random positive 128-bit serial, validity req->days,
 * basicConstraints critical CA:FALSE, keyUsage critical digitalSignature, extendedKeyUsage
 * clientAuth (station) or serverAuth plus subjectAltName (server), subject and authority key
 * identifiers, signed by the CA key in the token, and verified against the CA's public key. The
 * certificate goes to pem[cap] as NUL-terminated PEM (*pem_len, may be NULL: its length), its
 * serial and fingerprint to *ids. 0 or -1. */
int pv_station_ca_issue(pv_station_ca *ca, const uint8_t *csr, size_t csr_len,
                        const struct pv_station_issue *req, char *pem, size_t cap, size_t *pem_len,
                        struct pv_station_cert_ids *ids, char *err, size_t err_len);

/* The serial and SHA-256 fingerprint of a certificate given as DER (what the bridge computes
 * from a peer's certificate to find the station in its registry), and its subject CN if cn is
 * not NULL (cn_cap bytes; "" if it has none). 0 or -1. */
int pv_station_cert_ids_der(const uint8_t *der, size_t len, struct pv_station_cert_ids *ids,
                            char *cn, size_t cn_cap, char *err, size_t err_len);

/* For tests and diagnostics: verifies the certificate chain chain (PEM: the leaf first, then any
 * intermediates) against the CA certificate ca_pem (PEM) alone, at the current time, with
 * OpenSSL's X509_STORE; kind checks the leaf's purpose (TLS client or TLS server). 0 if it
 * verifies, else -1 and err says why (OpenSSL's reason and the depth). */
int pv_station_verify_chain(const uint8_t *ca_pem, size_t ca_len, const uint8_t *chain,
                            size_t chain_len, enum pv_station_cert_kind kind, char *err,
                            size_t err_len);

#endif
