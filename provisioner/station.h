/* What `provision run` and `provision info` share: reaching the chip through the backend the
 * recipe or --probe names, and judging the chip's identity against the recipe. */
#ifndef PV_PROVISIONER_STATION_H
#define PV_PROVISIONER_STATION_H

#include <stddef.h>
#include <stdint.h>

#include "probe.h"
#include "../hsm-bridge/recipe.h"

#define PV_STATION_PROBE_TIMEOUT_MS 20000
#define PV_STATION_MAX_OCD_CMDS     16u

/* Where the probe is: --probe TARGET and extra OpenOCD commands (-c), over the recipe's probe
 * section (r may be NULL for `info --probe`). */
struct pv_station_probe {
    const char *target; /* --probe; NULL: the recipe's */
    const char *ocd_cmds[PV_STATION_MAX_OCD_CMDS];
    unsigned n_ocd_cmds;
};

/* Connects. Returns a pv_probe_err (PV_PROBE_ERR_UNSUPPORTED also for a backend that is not in
 * this build, PV_PROBE_ERR_PROTOCOL for a malformed TARGET); desc gets "gdb 127.0.0.1:3333"
 * or similar, err one line. */
int pv_station_connect(const pv_recipe *r, const struct pv_station_probe *sp, pv_probe_link *l,
                       char *desc, size_t desc_len, char *err, size_t err_len);

/* "419" -> part family for messages ("STM32F42x/43x"), or "unknown". */
const char *pv_station_dev_name(uint32_t dev_id);

/* Compares the chip with the recipe: 0, or -1 with the reason (naming both values and the fix). */
int pv_station_match(const pv_recipe *r, const struct pv_probe_ident *id, char *why, size_t len);

/* "RDP Level 0" etc. for an RDP byte. */
const char *pv_station_rdp_name(uint8_t rdp);

void pv_station_hex(char *out, const uint8_t *b, size_t n);

/* Reads FLASH_OPTCR's nWRP bits (sectors 0-11) and, on 2 MB parts, OPTCR1's (12-23). */
int pv_station_read_nwrp(const pv_probe_link *l, uint16_t flash_kb, uint32_t *nwrp);

#endif
