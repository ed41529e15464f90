/* Update mode: the bootloader's side of the update protocol (docs/update-protocol.md). A Noise
 * NNpsk0 session with the product owner's bridge over the framed USART1 link (boot_link.c), keyed
 * by the key slot's PSK and a fresh ephemeral key from the RNG; the image goes through the
 * application-region writer (app_writer.c), is checked exactly as at boot (boot_check_image),
 * the floor is raised, the result is reported inside the session and the chip resets. */
#ifndef FIRMWARE_BOOT_UPDATE_H
#define FIRMWARE_BOOT_UPDATE_H

#include <stdint.h>

#include "image/layout.h"

#define BOOT_UPDATE_BREAK    "PVUPDATE" /* asks for update mode when it arrives on USART1 ... */
#define BOOT_UPDATE_BREAK_MS 100u       /* ... within this many milliseconds after reset */

enum boot_update_why {
    BOOT_UPDATE_NO = 0,
    BOOT_UPDATE_REQUESTED, /* the application's request word (plat_take_update_request) */
    BOOT_UPDATE_ON_LINE,   /* BOOT_UPDATE_BREAK on USART1 within BOOT_UPDATE_BREAK_MS */
};
/* Whether this start is to enter update mode. Reads and clears the request word; without one,
 * listens on USART1 for the window. Called first thing, at the reset clock (HSI 16 MHz): the
 * window is device time either way, and waiting on the slow clock costs a tenth of the cycles
 * (which is what a simulated chip spends on it). Prints nothing: the console is not up yet. */
int boot_update_wanted(void);
/* The line that says why, after the banner (nothing for BOOT_UPDATE_NO). */
void boot_update_say_why(int why);

/* Runs update sessions until one ends in a reset (an image installed, nothing newer, or an OFFER
 * refused before anything was erased); never returns.
 * l: the checked layout; the key slot must already have been found valid for this chip.
 * app_version: the version of the valid application in the region, 0 when there is none. */
__attribute__((noreturn)) void boot_update(const pv_layout *l, uint32_t app_version);

#endif
