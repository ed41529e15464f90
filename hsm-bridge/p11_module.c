/* PKCS#11 module, token, session and key lookup (see p11.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

/* Under LeakSanitizer (the test build): what a PKCS#11 module allocates inside itself and keeps
 * until the process ends (SoftHSM2's OpenSSL state) is not ours to free. Weak, so a program with
 * its own list wins. */
const char *__lsan_default_suppressions(void);
__attribute__((weak)) const char *__lsan_default_suppressions(void)
{
    return "leak:libsofthsm2.so\n";
}

const char *pv_p11_rv_name(unsigned long rv, char buf[24])
{
    static const struct {
        CK_RV rv;
        const char *name;
    } names[] = {
        {CKR_OK, "CKR_OK"},
        {CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
        {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
        {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
        {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
        {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
        {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
        {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
        {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
        {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
        {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
        {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
        {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
        {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
        {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
        {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
        {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
        {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
        {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
        {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
        {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
        {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
        {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
        {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
        {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
        {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
        {CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED"},
        {CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID"},
        {CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED"},
        {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"},
        {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
        {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"},
        {CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID"},
        {CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE"},
        {CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE"},
        {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE"},
        {CKR_PIN_INVALID, "CKR_PIN_INVALID"},
        {CKR_SESSION_EXISTS, "CKR_SESSION_EXISTS"},
        {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"},
        {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"},
        {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN"},
        {CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].rv == rv)
            return names[i].name;
    snprintf(buf, 24, "CKR_0x%lx", rv);
    return buf;
}

CK_OBJECT_CLASS pv_p11_ckclass(enum pv_p11_class cls)
{
    switch (cls) {
    case PV_P11_PRIVATE_KEY:
        return CKO_PRIVATE_KEY;
    case PV_P11_PUBLIC_KEY:
        return CKO_PUBLIC_KEY;
    case PV_P11_SECRET_KEY:
        return CKO_SECRET_KEY;
    case PV_P11_DATA:
        break;
    }
    return CKO_DATA;
}

const char *pv_p11_class_name(enum pv_p11_class cls)
{
    switch (cls) {
    case PV_P11_PRIVATE_KEY:
        return "private key";
    case PV_P11_PUBLIC_KEY:
        return "public key";
    case PV_P11_SECRET_KEY:
        return "secret key";
    case PV_P11_DATA:
        break;
    }
    return "data object";
}

int pv_p11_fail(char *err, size_t err_len, const char *what, CK_RV rv)
{
    char buf[24];
    snprintf(err, err_len, "%s: %s", what, pv_p11_rv_name(rv, buf));
    return -1;
}

/* A token label as PKCS#11 stores it: 32 bytes, blank padded. */
static void label_of(const CK_UTF8CHAR raw[32], char out[33])
{
    size_t n = 32;
    memcpy(out, raw, 32);
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = 0;
}

/* The slot whose token carries label; lists the labels it saw when there is none. */
int pv_p11_find_slot(pv_p11 *p, const char *label, CK_SLOT_ID *slot, char *err, size_t err_len)
{
    CK_ULONG n = 0;
    CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_GetSlotList", rv);
    CK_SLOT_ID *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids)
        return pv_p11_fail(err, err_len, "pkcs11: slot list", CKR_HOST_MEMORY);
    rv = p->f->C_GetSlotList(CK_TRUE, ids, &n);
    if (rv != CKR_OK) {
        free(ids);
        return pv_p11_fail(err, err_len, "pkcs11: C_GetSlotList", rv);
    }
    char seen[256] = "";
    int found = -1;
    for (CK_ULONG i = 0; i < n && found < 0; i++) {
        CK_TOKEN_INFO ti;
        char l[33];
        if (p->f->C_GetTokenInfo(ids[i], &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        label_of(ti.label, l);
        if (strcmp(l, label) == 0) {
            *slot = ids[i];
            found = 0;
        } else if (strlen(seen) + strlen(l) + 4 < sizeof seen) {
            strcat(seen, seen[0] ? ", '" : "'");
            strcat(seen, l);
            strcat(seen, "'");
        }
    }
    free(ids);
    if (found < 0)
        snprintf(err, err_len,
                 "pkcs11: no token labelled '%s' (tokens present: %s; create one with "
                 "softhsm2-util --init-token)",
                 label, seen[0] ? seen : "none");
    return found;
}

/* dlopen, C_GetFunctionList, C_Initialize (shared by pv_p11_open and pv_p11_init_token). */
int pv_p11_load(pv_p11 *p, const char *module, char *err, size_t err_len)
{
    /* NODELETE: modules often keep threads or atexit handlers, so their code must stay mapped
     * after pv_p11_close (and leak reports can still name them). */
    p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!p->dl) {
        snprintf(err, err_len,
                 "pkcs11: cannot load module %s: %s (install softhsm2, or give "
                 "--module with your HSM's PKCS#11 library)",
                 module, dlerror());
        return -1;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
    CK_RV rv = get ? get(&p->f) : CKR_GENERAL_ERROR;
    if (rv != CKR_OK || !p->f) {
        snprintf(err, err_len, "pkcs11: %s has no usable C_GetFunctionList: not a PKCS#11 module",
                 module);
        return -1;
    }
    rv = p->f->C_Initialize(NULL);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        pv_p11_fail(err, err_len, "pkcs11: C_Initialize", rv);
        return -1;
    }
    p->initialized = rv == CKR_OK;
    return 0;
}

pv_p11 *pv_p11_open(const char *module, const char *token_label, const char *pin, char *err,
                    size_t err_len)
{
    if (!module)
        module = PV_P11_DEFAULT_MODULE;
    pv_p11 *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, err_len, "pkcs11: out of memory");
        return NULL;
    }
    p->session = CK_INVALID_HANDLE;
    if (pv_p11_load(p, module, err, err_len) != 0) {
        pv_p11_close(p);
        return NULL;
    }
    snprintf(p->token, sizeof p->token, "%s", token_label);
    CK_SLOT_ID slot = 0;
    if (pv_p11_find_slot(p, token_label, &slot, err, err_len) != 0) {
        pv_p11_close(p);
        return NULL;
    }
    CK_RV rv =
        p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->session);
    if (rv != CKR_OK) {
        char what[96];
        snprintf(what, sizeof what, "pkcs11: C_OpenSession on token '%s'", token_label);
        pv_p11_fail(err, err_len, what, rv);
        pv_p11_close(p);
        return NULL;
    }
    if (pin) {
        rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)(uintptr_t)pin,
                           (CK_ULONG)strlen(pin));
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
            char what[96];
            snprintf(what, sizeof what, "pkcs11: C_Login (user PIN) on token '%s'", token_label);
            pv_p11_fail(err, err_len, what, rv);
            pv_p11_close(p);
            return NULL;
        }
        p->logged_in = rv == CKR_OK;
    }
    return p;
}

void pv_p11_close(pv_p11 *p)
{
    if (!p)
        return;
    if (p->f) {
        if (p->logged_in)
            p->f->C_Logout(p->session);
        if (p->session != CK_INVALID_HANDLE)
            p->f->C_CloseSession(p->session);
        if (p->initialized)
            p->f->C_Finalize(NULL);
    }
    if (p->dl)
        dlclose(p->dl);
    free(p);
}

int pv_p11_find_key(pv_p11 *p, enum pv_p11_class cls, const char *label, pv_p11_obj *out, char *err,
                    size_t err_len)
{
    CK_OBJECT_CLASS c = pv_p11_ckclass(cls);
    const char *kind = pv_p11_class_name(cls);
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &c, sizeof c},
        {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
    };
    CK_RV rv = p->f->C_FindObjectsInit(p->session, tmpl, 2);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_FindObjectsInit", rv);
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    rv = p->f->C_FindObjects(p->session, h, 2, &n);
    p->f->C_FindObjectsFinal(p->session);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_FindObjects", rv);
    if (n != 1) {
        snprintf(err, err_len, "pkcs11: %s %s labelled '%s' on token '%s'%s",
                 n ? "more than one" : "no", kind, label, p->token,
                 n ? " (labels must be unique)" : " (wrong --key-label, or not logged in?)");
        return -1;
    }
    *out = h[0];
    return 0;
}
