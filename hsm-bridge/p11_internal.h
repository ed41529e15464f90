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

#endif
