/* Budget probe: the stub's crypto plus Ed25519 verify with SHA-512 (what the bootloader adds).
 * The difference to stub_crypto.elf is the Ed25519 budget. */
#include "crypto/ed25519.h"

#include <stddef.h>
#include <stdint.h>

void budget_entry(void);
void budget_stub_crypto(uint8_t *buf, size_t cap, const uint8_t *keys);

void budget_entry(void)
{
    static uint8_t buf[256];
    budget_stub_crypto(buf, sizeof buf, buf + 128);
    buf[0] = (uint8_t)pv_ed25519_verify(buf, buf + 64, buf + 96, 100);
}
