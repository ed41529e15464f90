/* Ed25519 on a PKCS#11 token (see p11.h): sign, read a public key, generate a key pair. */
#include <stdio.h>
#include <string.h>

#include "p11_internal.h"

/* DER of the Ed25519 curve's object identifier 1.3.101.112, as CKA_EC_PARAMS. */
static const CK_BYTE ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

int pv_p11_sign_eddsa(pv_p11 *p, pv_p11_obj key, const uint8_t *msg, size_t len, uint8_t sig[64],
                      char *err, size_t err_len)
{
    CK_MECHANISM mech = {CKM_EDDSA, NULL, 0};
    CK_RV rv = p->f->C_SignInit(p->session, &mech, key);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_SignInit (CKM_EDDSA)", rv);
    CK_ULONG n = 64;
    rv = p->f->C_Sign(p->session, (CK_BYTE_PTR)(uintptr_t)msg, (CK_ULONG)len, sig, &n);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_Sign (CKM_EDDSA)", rv);
    if (n != 64) {
        snprintf(err, err_len, "pkcs11: C_Sign returned %lu bytes, an Ed25519 signature has 64",
                 (unsigned long)n);
        return -1;
    }
    return 0;
}

int pv_p11_ed25519_public(pv_p11 *p, pv_p11_obj key, uint8_t pub[32], char *err, size_t err_len)
{
    CK_BYTE point[64];
    CK_ATTRIBUTE a = {CKA_EC_POINT, point, sizeof point};
    CK_RV rv = p->f->C_GetAttributeValue(p->session, key, &a, 1);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_GetAttributeValue (CKA_EC_POINT)", rv);
    /* PKCS#11 3.0 asks for the DER OCTET STRING; some tokens give the 32 bytes bare. */
    if (a.ulValueLen == 34 && point[0] == 0x04 && point[1] == 32) {
        memcpy(pub, point + 2, 32);
        return 0;
    }
    if (a.ulValueLen == 32) {
        memcpy(pub, point, 32);
        return 0;
    }
    snprintf(err, err_len,
             "pkcs11: CKA_EC_POINT of %lu bytes is not an Ed25519 public key (is the key an "
             "Ed25519 key?)",
             (unsigned long)a.ulValueLen);
    return -1;
}

int pv_p11_generate_ed25519(pv_p11 *p, const char *label, pv_p11_obj *pub, pv_p11_obj *priv,
                            char *err, size_t err_len)
{
    CK_MECHANISM mech = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG label_len = (CK_ULONG)strlen(label);
    CK_ATTRIBUTE pub_tmpl[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_LABEL, (void *)(uintptr_t)label, label_len},
        {CKA_EC_PARAMS, (void *)(uintptr_t)ed25519_oid, sizeof ed25519_oid},
        {CKA_VERIFY, &yes, sizeof yes},
    };
    CK_ATTRIBUTE priv_tmpl[] = {
        {CKA_TOKEN, &yes, sizeof yes},     {CKA_LABEL, (void *)(uintptr_t)label, label_len},
        {CKA_PRIVATE, &yes, sizeof yes},   {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no}, {CKA_SIGN, &yes, sizeof yes},
    };
    CK_OBJECT_HANDLE hpub, hpriv;
    CK_RV rv = p->f->C_GenerateKeyPair(p->session, &mech, pub_tmpl, 4, priv_tmpl, 6, &hpub, &hpriv);
    if (rv != CKR_OK) {
        char what[128];
        snprintf(what, sizeof what, "pkcs11: C_GenerateKeyPair (Ed25519) '%s' on token '%s'", label,
                 p->token);
        return pv_p11_fail(err, err_len, what, rv);
    }
    *pub = hpub;
    *priv = hpriv;
    return 0;
}
