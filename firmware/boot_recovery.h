/* Where the bootloader stays when it will not start the application. Today it only reports and
 * waits; the over-the-air update protocol (a later issue: Noise NNpsk0/NKpsk0 with the key slot's
 * PSK over USART1) plugs in here, receiving a new image into the application region. */
#ifndef FIRMWARE_BOOT_RECOVERY_H
#define FIRMWARE_BOOT_RECOVERY_H

#include "image/layout.h"

/* Why the application did not start, for the update protocol's status report. */
enum boot_reason {
    BOOT_REASON_LAYOUT = 1,
    BOOT_REASON_FLASH,
    BOOT_REASON_KEYSLOT,
    BOOT_REASON_IMAGE,
    BOOT_REASON_ROLLBACK,
    BOOT_REASON_COUNTER,
    BOOT_REASON_LOCK,
};

/* Never returns. layout is NULL when the layout itself is unusable (then no update is possible
 * either: nothing may be written without knowing the regions). */
__attribute__((noreturn)) void boot_recovery(enum boot_reason why, const pv_layout *layout);

#endif
