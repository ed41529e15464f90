/* The bootloader's messages on USART1: plain text lines ending in CR LF, no formatting library.
 * Every line the boot flow prints is listed in docs/image-format.md. */
#ifndef FIRMWARE_BOOT_CONSOLE_H
#define FIRMWARE_BOOT_CONSOLE_H

#include <stdint.h>

void con_puts(const char *s);
void con_dec(uint32_t v);
void con_hex32(uint32_t v);         /* 0x-prefixed, 8 digits */
void con_version(uint32_t version); /* major.minor.patch */
void con_eol(void);

#endif
