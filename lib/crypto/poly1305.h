/* Poly1305 one-time authenticator (RFC 8439). */
#ifndef PV_CRYPTO_POLY1305_H
#define PV_CRYPTO_POLY1305_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t r[5], h[5], pad[4];
    uint8_t buf[16];
    uint32_t fill;
} pv_poly1305_ctx;

void pv_poly1305_init(pv_poly1305_ctx *ctx, const uint8_t key[32]);
void pv_poly1305_update(pv_poly1305_ctx *ctx, const void *data, size_t len);
/* Writes the tag and wipes the context. */
void pv_poly1305_final(pv_poly1305_ctx *ctx, uint8_t tag[16]);

#endif
