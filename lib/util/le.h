/* Little-endian loads and stores of 16- and 32-bit values at any alignment, for every wire and
 * storage format and the crypto code (lib/ and everything above it). Inline: on the Cortex-M4
 * and x86 an unaligned word access is one instruction, which keeps the stub small; other hosts
 * assemble the bytes. */
#ifndef PV_UTIL_LE_H
#define PV_UTIL_LE_H

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint32_t pv_ld32(const uint8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}
static inline uint16_t pv_ld16(const uint8_t *p)
{
    uint16_t v;
    __builtin_memcpy(&v, p, 2);
    return v;
}
static inline void pv_st32(uint8_t *p, uint32_t v)
{
    __builtin_memcpy(p, &v, 4);
}
static inline void pv_st16(uint8_t *p, uint16_t v)
{
    __builtin_memcpy(p, &v, 2);
}
#else
static inline uint32_t pv_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint16_t pv_ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline void pv_st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void pv_st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
#endif

#endif
