/* Device entry (after stub_entry.S): clears bss and runs the session: one frame per poll,
 * halting on the idle breakpoint whenever there is nothing to do (or, with PV_MBOX_F_SPIN, just
 * polling again: see stub_idle). */
#include <string.h>

#include "stub.h"
#include "stub_platform.h"

extern uint8_t __bss_start[], __bss_end[];
void stub_idle(void);
void stub_main(uint32_t mbox) __attribute__((noreturn));

void stub_main(uint32_t mbox)
{
    static struct stub s;
    memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
    stub_start(&s, mbox);
    for (;;)
        if (!stub_poll(&s))
            stub_idle();
}
