/* Secret keys on a PKCS#11 token (see p11.h): HMAC and AES key generation, HMAC-SHA256 and
 * AES-GCM computed by the token, so the key values never enter this process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "p11_internal.h"

static int generate(pv_p11 *p, CK_MECHANISM_TYPE mt, CK_KEY_TYPE kt, const char *label, int aes,
                    pv_p11_obj *out, char *err, size_t err_len)
{
    CK_MECHANISM mech = {mt, NULL, 0};
    CK_OBJECT_CLASS c = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG value_len = 32;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &c, sizeof c},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
        {CKA_VALUE_LEN, &value_len, sizeof value_len},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        /* an HMAC key only signs; an AES key only encrypts and decrypts (no wrapping) */
        {CKA_SIGN, aes ? &no : &yes, sizeof yes},
        {CKA_VERIFY, aes ? &no : &yes, sizeof yes},
        {CKA_ENCRYPT, aes ? &yes : &no, sizeof yes},
        {CKA_DECRYPT, aes ? &yes : &no, sizeof yes},
        {CKA_WRAP, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
    };
    CK_OBJECT_HANDLE h;
    CK_RV rv = p->f->C_GenerateKey(p->session, &mech, tmpl, sizeof tmpl / sizeof tmpl[0], &h);
    if (rv != CKR_OK) {
        char what[160];
        snprintf(what, sizeof what, "pkcs11: C_GenerateKey (%s) '%s' on token '%s'",
                 aes ? "AES-256" : "generic secret", label, p->token);
        return pv_p11_fail(err, err_len, what, rv);
    }
    *out = h;
    return 0;
}

int pv_p11_generate_hmac_key(pv_p11 *p, const char *label, pv_p11_obj *out, char *err,
                             size_t err_len)
{
    return generate(p, CKM_GENERIC_SECRET_KEY_GEN, CKK_GENERIC_SECRET, label, 0, out, err, err_len);
}

int pv_p11_generate_aes_key(pv_p11 *p, const char *label, pv_p11_obj *out, char *err,
                            size_t err_len)
{
    return generate(p, CKM_AES_KEY_GEN, CKK_AES, label, 1, out, err, err_len);
}

int pv_p11_import_hmac_key(pv_p11 *p, const char *label, const uint8_t *value, size_t len,
                           int protect, pv_p11_obj *out, char *err, size_t err_len)
{
    CK_OBJECT_CLASS c = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &c, sizeof c},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
        {CKA_VALUE, (void *)(uintptr_t)value, (CK_ULONG)len},
        {CKA_SENSITIVE, protect ? &yes : &no, sizeof yes},
        {CKA_EXTRACTABLE, protect ? &no : &yes, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
    };
    CK_OBJECT_HANDLE h;
    CK_RV rv = p->f->C_CreateObject(p->session, tmpl, sizeof tmpl / sizeof tmpl[0], &h);
    if (rv != CKR_OK) {
        char what[160];
        snprintf(what, sizeof what, "pkcs11: C_CreateObject (generic secret) '%s' on token '%s'",
                 label, p->token);
        return pv_p11_fail(err, err_len, what, rv);
    }
    *out = h;
    return 0;
}

int pv_p11_hmac_sha256(pv_p11 *p, pv_p11_obj key, const uint8_t *msg, size_t len, uint8_t mac[32],
                       char *err, size_t err_len)
{
    CK_MECHANISM mech = {CKM_SHA256_HMAC, NULL, 0};
    CK_RV rv = p->f->C_SignInit(p->session, &mech, key);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_SignInit (CKM_SHA256_HMAC)", rv);
    CK_ULONG n = 32;
    rv = p->f->C_Sign(p->session, (CK_BYTE_PTR)(uintptr_t)msg, (CK_ULONG)len, mac, &n);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_Sign (CKM_SHA256_HMAC)", rv);
    if (n != 32) {
        snprintf(err, err_len, "pkcs11: CKM_SHA256_HMAC returned %lu bytes, not 32",
                 (unsigned long)n);
        return -1;
    }
    return 0;
}

static void gcm_params(CK_GCM_PARAMS *g, const uint8_t iv[12], const uint8_t *aad, size_t aad_len)
{
    g->iv_ptr = (CK_BYTE_PTR)(uintptr_t)iv;
    g->iv_len = 12;
    g->iv_bits = 96;
    g->aad_ptr = (CK_BYTE_PTR)(uintptr_t)aad;
    g->aad_len = (CK_ULONG)aad_len;
    g->tag_bits = 128;
}

int pv_p11_aes_gcm_encrypt(pv_p11 *p, pv_p11_obj key, const uint8_t iv[12], const uint8_t *aad,
                           size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct,
                           uint8_t tag[16], char *err, size_t err_len)
{
    CK_GCM_PARAMS g;
    gcm_params(&g, iv, aad, aad_len);
    CK_MECHANISM mech = {CKM_AES_GCM, &g, sizeof g};
    /* The token writes ciphertext || tag in one buffer. */
    CK_ULONG n = (CK_ULONG)len + 16;
    uint8_t *buf = malloc(n);
    if (!buf)
        return pv_p11_fail(err, err_len, "pkcs11: AES-GCM buffer", CKR_HOST_MEMORY);
    CK_RV rv = p->f->C_EncryptInit(p->session, &mech, key);
    if (rv != CKR_OK) {
        free(buf);
        return pv_p11_fail(err, err_len, "pkcs11: C_EncryptInit (CKM_AES_GCM)", rv);
    }
    rv = p->f->C_Encrypt(p->session, (CK_BYTE_PTR)(uintptr_t)pt, (CK_ULONG)len, buf, &n);
    int rc = 0;
    if (rv != CKR_OK)
        rc = pv_p11_fail(err, err_len, "pkcs11: C_Encrypt (CKM_AES_GCM)", rv);
    else if (n != len + 16) {
        snprintf(err, err_len, "pkcs11: CKM_AES_GCM returned %lu bytes for %zu", (unsigned long)n,
                 len);
        rc = -1;
    } else {
        memcpy(ct, buf, len);
        memcpy(tag, buf + len, 16);
    }
    free(buf);
    return rc;
}

int pv_p11_aes_gcm_decrypt(pv_p11 *p, pv_p11_obj key, const uint8_t iv[12], const uint8_t *aad,
                           size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[16],
                           uint8_t *pt, char *err, size_t err_len)
{
    CK_GCM_PARAMS g;
    gcm_params(&g, iv, aad, aad_len);
    CK_MECHANISM mech = {CKM_AES_GCM, &g, sizeof g};
    /* SoftHSM2 wants room for ciphertext || tag even though the plaintext is shorter. */
    CK_ULONG n = (CK_ULONG)len + 16;
    uint8_t *in = malloc(n), *out = malloc(n);
    if (!in || !out) {
        free(in);
        free(out);
        return pv_p11_fail(err, err_len, "pkcs11: AES-GCM buffer", CKR_HOST_MEMORY);
    }
    memcpy(in, ct, len);
    memcpy(in + len, tag, 16);
    int rc = 0;
    CK_RV rv = p->f->C_DecryptInit(p->session, &mech, key);
    if (rv != CKR_OK)
        rc = pv_p11_fail(err, err_len, "pkcs11: C_DecryptInit (CKM_AES_GCM)", rv);
    else if ((rv = p->f->C_Decrypt(p->session, in, (CK_ULONG)len + 16, out, &n)) != CKR_OK)
        rc = pv_p11_fail(err, err_len, "pkcs11: C_Decrypt (CKM_AES_GCM)", rv);
    else if (n != len) {
        snprintf(err, err_len, "pkcs11: CKM_AES_GCM decrypted %lu bytes, expected %zu",
                 (unsigned long)n, len);
        rc = -1;
    } else
        memcpy(pt, out, len);
    OPENSSL_cleanse(out, len + 16); /* plaintext */
    free(out);
    free(in);
    return rc;
}
