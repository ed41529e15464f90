/* CPU work for correctness and speed: CRC-32 (bitwise, reflected 0xEDB88320) over 64 KB of
 * pseudo-random bytes generated in SRAM, printed over USART1 with the DWT cycle count. The test
 * computes the same CRC on the host. */
#include "board.h"

static uint8_t data[65536];

int main(void)
{
    usart1_init(16000000u / 115200u);
    uint32_t x = 12345u;
    for (unsigned i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    DEMCR |= 1u << 24;
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    uint32_t crc = 0xFFFFFFFFu;
    for (unsigned i = 0; i < sizeof data; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    crc = ~crc;
    uint32_t cycles = DWT_CYCCNT;
    usart1_puts("crc=");
    usart1_hex(crc);
    usart1_puts(" cycles=");
    usart1_dec(cycles);
    usart1_puts("\r\n");
    for (;;)
        __asm volatile("wfi");
}
