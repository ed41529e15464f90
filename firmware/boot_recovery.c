#include "boot_recovery.h"

#include "boot_console.h"
#include "boot_platform.h"

void boot_recovery(enum boot_reason why, const pv_layout *layout)
{
    (void)why;
    (void)layout;
    con_puts("boot: staying in the bootloader");
    con_eol();
    plat_halt();
}
