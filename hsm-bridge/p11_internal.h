/* What the hsm-bridge/p11_*.c files share: the loaded module and its session. Needs the PKCS#11
 * header (Debian libp11-kit-dev, -I/usr/include/p11-kit-1: see firmware/firmware.mk). */
#ifndef PV_HSM_BRIDGE_P11_INTERNAL_H
#define PV_HSM_BRIDGE_P11_INTERNAL_H

#include <p11-kit/pkcs11.h>

#include "p11.h"

struct pv_p11 {
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE session;
    int initialized; /* C_Initialize was ours to undo */
    int logged_in;
    char token[33];
};

/* err = "<what>: <CKR name>" and -1. */
int pv_p11_fail(char *err, size_t err_len, const char *what, CK_RV rv);

/* Module loading and token lookup, shared by p11_token.c and p11_object.c. */
/* dlopen the module, C_GetFunctionList, C_Initialize; sets p->dl, p->f, p->initialized. */
int pv_p11_load(pv_p11 *p, const char *module, char *err, size_t err_len);
/* The slot of the initialised token labelled label; err lists the labels seen otherwise. */
int pv_p11_find_slot(pv_p11 *p, const char *label, CK_SLOT_ID *slot, char *err, size_t err_len);
CK_OBJECT_CLASS pv_p11_ckclass(enum pv_p11_class cls);
const char *pv_p11_class_name(enum pv_p11_class cls); /* "secret key" */

#endif
