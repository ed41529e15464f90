/* Fuzzing the station's configuration loader (provisioner/station_config.c,
 * pv_station_config_load) on the file's bytes. Aborts when an accepted config breaks what
 * `provision run --config` relies on (every string terminated within its buffer, the command
 * count within its table), or a refusal says nothing. */
#define _GNU_SOURCE /* memfd_create */
#include <string.h>

#include "fuzz_input_file.h"

#include "../provisioner/station_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(a) (memchr((a), 0, sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    const char *path = fuzz_input_file(data, size);
    if (!path)
        abort();
    static struct pv_station_config c;
    char err[1024] = "";
    if (pv_station_config_load(path, &c, err, sizeof err) == 0) {
        if (!TERMINATED(c.url) || !TERMINATED(c.ca) || !TERMINATED(c.cert) || !TERMINATED(c.key) ||
            !TERMINATED(c.product) || !TERMINATED(c.batch) || !TERMINATED(c.target) ||
            !TERMINATED(c.ocd_interface) || !TERMINATED(c.ocd_target) ||
            c.n_ocd_commands > PV_RECIPE_CMDS_MAX)
            abort();
        for (unsigned i = 0; i < c.n_ocd_commands; i++)
            if (!TERMINATED(c.ocd_commands[i]))
                abort();
    } else if (!err[0]) {
        abort();
    }
    return 0;
}
