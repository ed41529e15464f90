/* The station's configuration for `provision run --config FILE` (docs/bridge.md, "Stations"):
 * which bridge, this station's certificate and key, the probe, and the product and batch to
 * run. It holds no PIN, no key label and no image: those are the bridge's. Relative paths
 * resolve against the file's directory.
 *
 *   bridge: {url: https://bridge.example:8443, ca: ca.crt}
 *   cert: station.crt
 *   key: station.key
 *   product: pv-demo-sensor
 *   batch: demo-001
 *   probe:
 *     target: openocd                       # as --probe
 *     openocd:
 *       interface: openocd/adapter.cfg
 *       target: target/stm32f4x.cfg
 *       commands: ["..."]
 */
#ifndef PV_PROVISIONER_STATION_CONFIG_H
#define PV_PROVISIONER_STATION_CONFIG_H

#include <stddef.h>

#include "../hsm-bridge/recipe.h"

struct pv_station_config {
    char url[PV_RECIPE_PATH_MAX], ca[PV_RECIPE_PATH_MAX];
    char cert[PV_RECIPE_PATH_MAX], key[PV_RECIPE_PATH_MAX];
    char product[PV_RECIPE_NAME_MAX], batch[PV_RECIPE_NAME_MAX];
    char target[PV_RECIPE_ADDR_MAX]; /* "" when not given */
    char ocd_interface[PV_RECIPE_PATH_MAX], ocd_target[PV_RECIPE_PATH_MAX];
    unsigned n_ocd_commands;
    char ocd_commands[PV_RECIPE_CMDS_MAX][PV_RECIPE_CMD_MAX];
};

/* 0, or -1 with err naming the file and the problem. */
int pv_station_config_load(const char *path, struct pv_station_config *c, char *err,
                           size_t err_len);

#endif
