/* The bootloader's version: the banner prints the string, the update protocol's HELLO carries the
 * word (major << 24 | minor << 16 | patch, as image versions). Change both together. */
#ifndef FIRMWARE_BOOT_VERSION_H
#define FIRMWARE_BOOT_VERSION_H

#define PVBOOT_VERSION      "1.0.0"
#define PVBOOT_VERSION_WORD 0x01000000u

#endif
