/* Where the bootloader stays when it will not start the application: update mode
 * (boot_update.h), which receives a new image into the application region, whenever the layout
 * and this chip's key slot are usable; otherwise it reports and halts. */
#ifndef FIRMWARE_BOOT_RECOVERY_H
#define FIRMWARE_BOOT_RECOVERY_H

#include "image/layout.h"

/* Why the application did not start. From BOOT_REASON_IMAGE on, the key slot was found valid. */
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
 * either: nothing may be written without knowing the regions). Enters update mode (no valid
 * application) for why >= BOOT_REASON_IMAGE. */
__attribute__((noreturn)) void boot_recovery(enum boot_reason why, const pv_layout *layout);

#endif
