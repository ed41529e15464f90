/* The bootloader's SHA-256 (lib/crypto/sha256.c built with PV_SHA256_CM4, the block function
 * from lib/crypto/sha256_cm4.S) and the HMAC and HKDF on top of it, behind one entry point for
 * test_sha256_cm4, which calls it under Unicorn (sha256_probe.h). No RAM of its own: the
 * caller passes every buffer. */
#include <stddef.h>
#include <stdint.h>

#include "crypto/hkdf_sha256.h"
#include "crypto/hmac_sha256.h"
#include "crypto/sha256.h"
#include "sha256_probe.h"

uint32_t probe(uint32_t op, const uint32_t *a);

#define PTR(i) ((uint8_t *)(uintptr_t)a[i])

uint32_t probe(uint32_t op, const uint32_t *a)
{
    switch (op) {
    case PROBE_BLOCKS_FN:
        return (uint32_t)(uintptr_t)pv_sha256_blocks;
    case PROBE_SHA256:
        pv_sha256(PTR(0), PTR(1), a[2]);
        return 0;
    case PROBE_STREAM: {
        const uint8_t *p = PTR(1);
        const uint32_t *chunk = (const uint32_t *)(uintptr_t)a[2];
        pv_sha256_ctx ctx;
        pv_sha256_init(&ctx);
        for (uint32_t i = 0; i < a[3]; i++) {
            pv_sha256_update(&ctx, p, chunk[i]);
            p += chunk[i];
        }
        pv_sha256_final(&ctx, PTR(0));
        return 0;
    }
    case PROBE_HMAC:
        pv_hmac_sha256(PTR(0), PTR(1), a[2], PTR(3), a[4]);
        return 0;
    case PROBE_HKDF:
        return (uint32_t)pv_hkdf_sha256(PTR(0), a[1], PTR(2), a[3], PTR(4), a[5], PTR(6), a[7]);
    default:
        return 0xFFFFFFFFu;
    }
}
