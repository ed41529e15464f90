#include "boot_recovery.h"

#include "boot_console.h"
#include "boot_platform.h"
#include "boot_update.h"

void boot_recovery(enum boot_reason why, const pv_layout *layout)
{
    con_puts("boot: staying in the bootloader");
    con_eol();
    /* Without a layout nothing may be written, and without this chip's key slot there is no PSK
     * to authenticate an update with: those wait for the line (a debugger) instead. */
    if (layout && why >= BOOT_REASON_IMAGE)
        boot_update(layout, 0);
    plat_halt();
}
