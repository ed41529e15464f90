/* Budget probe entry for the RAM stub's crypto (see stub_set.c). */
#include <stddef.h>
#include <stdint.h>

void budget_entry(void);
void budget_stub_crypto(uint8_t *buf, size_t cap, const uint8_t *keys);

void budget_entry(void)
{
    static uint8_t buf[256];
    budget_stub_crypto(buf, sizeof buf, buf + 128);
}
