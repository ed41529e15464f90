/* Fuzzing the bridge's configuration loader (hsm-bridge/bridge_config.c, pv_bridge_config_load)
 * on the file's bytes. Aborts when an accepted config lacks what `hsm-bridge serve` relies on
 * (the TLS files, the ledger, a product, a port, limits in range), or a refusal says nothing. */
#define _GNU_SOURCE /* memfd_create */
#include <string.h>

#include "fuzz_input_file.h"

#include "../hsm-bridge/bridge_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    const char *path = fuzz_input_file(data, size);
    if (!path)
        abort();
    static struct pv_bridge_server_config c;
    static char err[8192];
    err[0] = 0;
    if (pv_bridge_config_load(path, &c, err, sizeof err) == 0) {
        if (!c.tls_cert || !c.tls_key || !c.station_ca || !c.ledger || c.n_products == 0 ||
            c.n_products > PV_BRIDGE_PRODUCTS_MAX || c.port > 65535 ||
            !memchr(c.host, 0, sizeof c.host))
            abort();
        for (unsigned i = 0; i < c.n_products; i++)
            if (!c.products[i])
                abort();
    } else if (!err[0]) {
        abort();
    }
    pv_bridge_config_free(&c);
    return 0;
}
