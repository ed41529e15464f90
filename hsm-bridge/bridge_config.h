/* The configuration file of `hsm-bridge` (docs/bridge.md, "Configuration"): YAML read with
 * libcyaml after a positional pass (recipe_yaml.h), so every shape error names file:line:column
 * and the key. Relative paths resolve against the config file's directory. The PIN file must be
 * owned by the user running the bridge and readable by nobody else (mode 0600 or 0400:
 * pin_source.h, checked here and again when it is read).
 *
 *   listen: 127.0.0.1:8443
 *   tls: {cert: bridge.crt, key: bridge.key, station_ca: station-ca.crt}
 *   token: {module: /usr/lib/softhsm/libsofthsm2.so, pin_file: pin}
 *   ledger: postgresql://bridge@db/provision     # or a path, or sqlite:PATH
 *   products: [recipes/demo-stm32f427.yaml]
 *   session_ttl_s: 120
 *   max_sessions: 256
 *   shutdown_grace_s: 10
 *   station_ca_key: station-ca
 *   allow_plain_images: false
 *   operator_socket: /run/hsm-bridge/operator.sock  # the operator's view over plain HTTP
 *   releases:                                    # the release policy (docs/bridge.md)
 *     - product: demo-stm32f427
 *       images: [{version: 1.0.0, image: releases/app-1.0.0.pvseal}]
 *       pins: [{batch: lot-7, version: 1.0.0}]
 */
#ifndef PV_HSM_BRIDGE_BRIDGE_CONFIG_H
#define PV_HSM_BRIDGE_BRIDGE_CONFIG_H

#include <stddef.h>

#include "bridge.h"

#define PV_BRIDGE_CONFIG_MAX_BYTES (256u * 1024u)
#define PV_BRIDGE_GRACE_DEFAULT_S  10u
#define PV_BRIDGE_HOST_MAX         256u
#define PV_BRIDGE_SOCKET_PATH_MAX  107u /* sockaddr_un's sun_path less its NUL */

struct pv_bridge_server_config {
    char file[4096];               /* the config file as given */
    char host[PV_BRIDGE_HOST_MAX]; /* listen: host (IPv6 without brackets) */
    unsigned port;                 /* listen: port */
    char *tls_cert, *tls_key;      /* the bridge's server certificate and key (PEM files) */
    char *station_ca;              /* the station CA's certificate (PEM file) */
    char *module;                  /* token.module; NULL: SoftHSM2's */
    char *pin_file;                /* token.pin_file; NULL: $PROVISION_PIN */
    char *ledger;                  /* the ledger URL, relative paths resolved */
    char *products[PV_BRIDGE_PRODUCTS_MAX];
    unsigned n_products;
    unsigned session_ttl_s;    /* 0 in the file: PV_BRIDGE_TTL_DEFAULT_S */
    unsigned max_sessions;     /* default PV_BRIDGE_SESSIONS_MAX */
    unsigned shutdown_grace_s; /* default PV_BRIDGE_GRACE_DEFAULT_S */
    char *station_ca_key;      /* token label of the CA key pair; default PV_STATION_CA_LABEL */
    int allow_plain_images;
    char *operator_socket; /* the operator's view on a Unix socket (docs/bridge.md); NULL: none */
    struct pv_bridge_release releases[PV_BRIDGE_RELEASES_MAX]; /* strings malloc'd */
    unsigned n_releases;
    struct pv_bridge_pin pins[PV_BRIDGE_RELEASES_MAX];
    unsigned n_pins;
    struct pv_bridge_config bridge; /* for pv_bridge_open: points into this struct */
};

/* Reads and checks path into c (which the caller frees with pv_bridge_config_free, also after a
 * failure). 0, or -1 with every problem in err, one per line, each "file:line:col: key: what".
 * The PIN file is checked (exists, owner, mode) but not read. */
int pv_bridge_config_load(const char *path, struct pv_bridge_server_config *c, char *err,
                          size_t err_len);
void pv_bridge_config_free(struct pv_bridge_server_config *c);

#endif
