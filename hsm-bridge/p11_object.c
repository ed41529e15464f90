/* Token objects by label (see p11.h): count, destroy, data objects, CKA_VALUE, key flags. */
#include <stdio.h>
#include <string.h>

#include "p11_internal.h"

int pv_p11_count(pv_p11 *p, enum pv_p11_class cls, const char *label, unsigned *n, char *err,
                 size_t err_len)
{
    CK_OBJECT_CLASS c = pv_p11_ckclass(cls);
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &c, sizeof c},
        {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
    };
    CK_RV rv = p->f->C_FindObjectsInit(p->session, tmpl, 2);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_FindObjectsInit", rv);
    *n = 0;
    for (;;) {
        CK_OBJECT_HANDLE h[8];
        CK_ULONG got = 0;
        rv = p->f->C_FindObjects(p->session, h, 8, &got);
        if (rv != CKR_OK || got == 0)
            break;
        *n += (unsigned)got;
    }
    p->f->C_FindObjectsFinal(p->session);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_FindObjects", rv);
    return 0;
}

int pv_p11_destroy(pv_p11 *p, pv_p11_obj obj, char *err, size_t err_len)
{
    CK_RV rv = p->f->C_DestroyObject(p->session, obj);
    if (rv != CKR_OK) {
        char what[96];
        snprintf(what, sizeof what, "pkcs11: C_DestroyObject on token '%s'", p->token);
        return pv_p11_fail(err, err_len, what, rv);
    }
    return 0;
}

int pv_p11_create_data(pv_p11 *p, const char *label, const uint8_t *value, size_t len,
                       pv_p11_obj *out, char *err, size_t err_len)
{
    CK_OBJECT_CLASS c = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    static const char app[] = "provision";
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &c, sizeof c},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes}, /* readable only after C_Login */
        {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
        {CKA_APPLICATION, (void *)(uintptr_t)app, sizeof app - 1},
        {CKA_VALUE, (void *)(uintptr_t)value, (CK_ULONG)len},
    };
    CK_OBJECT_HANDLE h;
    CK_RV rv = p->f->C_CreateObject(p->session, tmpl, sizeof tmpl / sizeof tmpl[0], &h);
    if (rv != CKR_OK) {
        char what[128];
        snprintf(what, sizeof what, "pkcs11: C_CreateObject (data '%s') on token '%s'", label,
                 p->token);
        return pv_p11_fail(err, err_len, what, rv);
    }
    *out = h;
    return 0;
}

int pv_p11_read_value(pv_p11 *p, pv_p11_obj obj, uint8_t *buf, size_t cap, size_t *len, char *err,
                      size_t err_len)
{
    char what[96];
    snprintf(what, sizeof what, "pkcs11: C_GetAttributeValue (CKA_VALUE) on token '%s'", p->token);
    CK_ATTRIBUTE a = {CKA_VALUE, NULL, 0};
    CK_RV rv = p->f->C_GetAttributeValue(p->session, obj, &a, 1);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, what, rv);
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > cap) {
        snprintf(err, err_len, "%s: %lu bytes, more than the %zu expected", what,
                 (unsigned long)a.ulValueLen, cap);
        return -1;
    }
    a.pValue = buf;
    rv = p->f->C_GetAttributeValue(p->session, obj, &a, 1);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, what, rv);
    *len = a.ulValueLen;
    return 0;
}

int pv_p11_key_flags(pv_p11 *p, pv_p11_obj obj, struct pv_p11_key_flags *fl, char *err,
                     size_t err_len)
{
    CK_BBOOL v[4] = {0, 0, 0, 0};
    CK_ATTRIBUTE a[] = {
        {CKA_SENSITIVE, &v[0], sizeof v[0]},
        {CKA_EXTRACTABLE, &v[1], sizeof v[1]},
        {CKA_ALWAYS_SENSITIVE, &v[2], sizeof v[2]},
        {CKA_NEVER_EXTRACTABLE, &v[3], sizeof v[3]},
    };
    /* CKR_ATTRIBUTE_TYPE_INVALID (e.g. a public key has none of these) is reported per attribute
     * through ulValueLen, the others are read anyway. */
    CK_RV rv = p->f->C_GetAttributeValue(p->session, obj, a, 4);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
        return pv_p11_fail(err, err_len, "pkcs11: C_GetAttributeValue (key flags)", rv);
    int *out[4] = {&fl->sensitive, &fl->extractable, &fl->always_sensitive, &fl->never_extractable};
    for (int i = 0; i < 4; i++)
        *out[i] = a[i].ulValueLen == CK_UNAVAILABLE_INFORMATION ? -1 : v[i] != 0;
    return 0;
}

int pv_p11_destroy_all(pv_p11 *p, enum pv_p11_class cls, const char *label, unsigned *n, char *err,
                       size_t err_len)
{
    CK_OBJECT_CLASS c = pv_p11_ckclass(cls);
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &c, sizeof c},
        {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
    };
    *n = 0;
    /* Find a batch, end the search, destroy it; repeat (no object changes during a search). */
    for (;;) {
        CK_OBJECT_HANDLE h[8];
        CK_ULONG got = 0;
        CK_RV rv = p->f->C_FindObjectsInit(p->session, tmpl, 2);
        if (rv != CKR_OK)
            return pv_p11_fail(err, err_len, "pkcs11: C_FindObjectsInit", rv);
        rv = p->f->C_FindObjects(p->session, h, 8, &got);
        p->f->C_FindObjectsFinal(p->session);
        if (rv != CKR_OK)
            return pv_p11_fail(err, err_len, "pkcs11: C_FindObjects", rv);
        if (got == 0)
            return 0;
        for (CK_ULONG i = 0; i < got; i++) {
            if (pv_p11_destroy(p, h[i], err, err_len) != 0)
                return -1;
            ++*n;
        }
    }
}
