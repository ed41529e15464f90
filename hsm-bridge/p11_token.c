/* Creating a token for development (see p11.h): C_InitToken on a free slot, then C_InitPIN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

/* The first slot whose token is present but not initialised (SoftHSM2 always keeps one). */
static int free_slot(pv_p11 *p, CK_SLOT_ID *slot, char *err, size_t err_len)
{
    CK_ULONG n = 0;
    CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_GetSlotList", rv);
    CK_SLOT_ID *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids)
        return pv_p11_fail(err, err_len, "pkcs11: slot list", CKR_HOST_MEMORY);
    rv = p->f->C_GetSlotList(CK_TRUE, ids, &n);
    int found = -1;
    for (CK_ULONG i = 0; rv == CKR_OK && i < n && found < 0; i++) {
        CK_TOKEN_INFO ti;
        if (p->f->C_GetTokenInfo(ids[i], &ti) == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
            *slot = ids[i];
            found = 0;
        }
    }
    free(ids);
    if (rv != CKR_OK)
        return pv_p11_fail(err, err_len, "pkcs11: C_GetSlotList", rv);
    if (found < 0)
        snprintf(err, err_len,
                 "pkcs11: no free slot to create a token in (every token is initialised; with "
                 "SoftHSM2 check SOFTHSM2_CONF's directories.tokendir is writable)");
    return found;
}

/* Logs in as the security officer on the new token and sets the user PIN. */
static int set_user_pin(pv_p11 *p, CK_SLOT_ID slot, const char *label, const char *so_pin,
                        const char *user_pin, char *err, size_t err_len)
{
    char what[160];
    CK_SESSION_HANDLE s;
    CK_RV rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        snprintf(what, sizeof what, "pkcs11: C_OpenSession on new token '%s'", label);
        return pv_p11_fail(err, err_len, what, rv);
    }
    rv = p->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)(uintptr_t)so_pin, (CK_ULONG)strlen(so_pin));
    if (rv != CKR_OK) {
        snprintf(what, sizeof what, "pkcs11: C_Login (SO PIN) on new token '%s'", label);
        p->f->C_CloseSession(s);
        return pv_p11_fail(err, err_len, what, rv);
    }
    rv = p->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)(uintptr_t)user_pin, (CK_ULONG)strlen(user_pin));
    p->f->C_Logout(s);
    p->f->C_CloseSession(s);
    if (rv != CKR_OK) {
        snprintf(what, sizeof what, "pkcs11: C_InitPIN (user PIN) on new token '%s'", label);
        return pv_p11_fail(err, err_len, what, rv);
    }
    return 0;
}

static int init_token(pv_p11 *p, const char *label, const char *so_pin, const char *user_pin,
                      char *err, size_t err_len)
{
    CK_SLOT_ID slot;
    char ignored[256];
    if (pv_p11_find_slot(p, label, &slot, ignored, sizeof ignored) == 0) {
        /* A token whose creation stopped between C_InitToken and C_InitPIN gets its PIN now. */
        CK_TOKEN_INFO ti;
        if (p->f->C_GetTokenInfo(slot, &ti) != CKR_OK || (ti.flags & CKF_USER_PIN_INITIALIZED))
            return 0;
        if (!so_pin || !user_pin) {
            snprintf(err, err_len,
                     "pkcs11: token '%s' has no user PIN yet; setting it needs the SO PIN", label);
            return -1;
        }
        return set_user_pin(p, slot, label, so_pin, user_pin, err, err_len) == 0 ? 0 : -1;
    }
    if (!so_pin || !user_pin) {
        snprintf(err, err_len,
                 "pkcs11: token '%s' does not exist; creating it needs an SO PIN and a user PIN",
                 label);
        return -1;
    }
    if (strlen(label) > 32) {
        snprintf(err, err_len, "pkcs11: token label '%s' is longer than PKCS#11's 32 bytes", label);
        return -1;
    }
    if (free_slot(p, &slot, err, err_len) != 0)
        return -1;
    CK_UTF8CHAR padded[32];
    memset(padded, ' ', sizeof padded);
    memcpy(padded, label, strlen(label));
    CK_RV rv = p->f->C_InitToken(slot, (CK_UTF8CHAR_PTR)(uintptr_t)so_pin, (CK_ULONG)strlen(so_pin),
                                 padded);
    if (rv != CKR_OK) {
        char what[128];
        snprintf(what, sizeof what, "pkcs11: C_InitToken '%s'", label);
        return pv_p11_fail(err, err_len, what, rv);
    }
    /* SoftHSM2 gives an initialised token a new slot ID: look it up again by label. */
    if (pv_p11_find_slot(p, label, &slot, err, err_len) != 0 ||
        set_user_pin(p, slot, label, so_pin, user_pin, err, err_len) != 0)
        return -1;
    return 1;
}

int pv_p11_init_token(const char *module, const char *token_label, const char *so_pin,
                      const char *user_pin, char *err, size_t err_len)
{
    pv_p11 *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, err_len, "pkcs11: out of memory");
        return -1;
    }
    p->session = CK_INVALID_HANDLE;
    snprintf(p->token, sizeof p->token, "%s", token_label);
    int rc = pv_p11_load(p, module ? module : PV_P11_DEFAULT_MODULE, err, err_len);
    if (rc == 0)
        rc = init_token(p, token_label, so_pin, user_pin, err, err_len);
    pv_p11_close(p);
    return rc;
}
