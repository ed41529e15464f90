/* The SHA-256 probe's interface, shared by tests/arm/sha256_probe.c (built for the Cortex-M4)
 * and tests/unit/test_sha256_cm4.c (which runs it under Unicorn): probe(op, args) at the start
 * of the image, args an array of 32-bit words in RAM. */
#ifndef PV_TESTS_ARM_SHA256_PROBE_H
#define PV_TESTS_ARM_SHA256_PROBE_H

#define SHA256_PROBE_BASE 0x08000000u /* where the image is linked */

enum sha256_probe_op {
    PROBE_BLOCKS_FN = 1, /* returns the address of pv_sha256_blocks, to call it directly */
    PROBE_SHA256,        /* pv_sha256(out, msg, len) */
    PROBE_STREAM,        /* init; update(msg, chunk[i]) for i < nchunks; final(out) */
    PROBE_HMAC,          /* pv_hmac_sha256(out, key, key_len, msg, len) */
    PROBE_HKDF,          /* returns pv_hkdf_sha256(out, out_len, salt, salt_len, ikm, ikm_len, info,
                            info_len) */
};

#endif
