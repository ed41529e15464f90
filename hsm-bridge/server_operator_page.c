/* The operator's page (server_operator.c serves it): hsm-bridge/operator/index.html, app.css and
 * app.js, each a file of its own as the Content-Security-Policy requires (nothing inline,
 * nothing from elsewhere: the page works offline), built into the program as they are, each
 * followed by a NUL. The path is the checkout's: the build runs from its top (hsm-bridge.mk
 * makes this object depend on the three files). */
#include "server.h"

#define PV_EMBED(sym, file)                                                                        \
    __asm__(".pushsection .rodata\n"                                                               \
            ".global " #sym "\n"                                                                   \
            ".type " #sym ", @object\n" #sym ":\n"                                                 \
            ".incbin \"" file "\"\n"                                                               \
            ".byte 0\n"                                                                            \
            ".size " #sym ", . - " #sym "\n"                                                       \
            ".popsection\n")

PV_EMBED(pv_operator_html, "hsm-bridge/operator/index.html");
PV_EMBED(pv_operator_css, "hsm-bridge/operator/app.css");
PV_EMBED(pv_operator_js, "hsm-bridge/operator/app.js");
