/* A work-around for slow guest stores in Unicorn 2.0.1 (see unicorn_store_fix.c). */
#ifndef SIM_UNICORN_STORE_FIX_H
#define SIM_UNICORN_STORE_FIX_H

#include <stdbool.h>

/* True when the loaded Unicorn is one this work-around replaces functions of (2.0.0, 2.0.1). */
bool sim_unicorn_store_fix_active(void);

#endif
