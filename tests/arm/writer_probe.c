/* Runs the bootloader's update-path flash writer (firmware/app_writer.c) on the virtual chip with
 * the default layout and asks it to write where it must not: the bootloader, the key slot, the
 * counter, across either end of the application region, bank 2, and the first sector of a region
 * that does not start on a sector boundary. Prints one line per attempt ("refused", "written" or
 * the flash error), then "writer: done". test_update_device.c compares flash and the sim's flash
 * operation count before and after. Linked at 0x08000000 (it stands in for the bootloader). */
#include "app_writer.h"
#include "board.h"
#include "hal/flash.h"
#include "image/layout.h"

static const uint8_t zeros[16];

static void attempt(app_writer *w, const char *what, uint32_t addr)
{
    int rc = app_writer_write(w, addr, zeros, sizeof zeros);
    usart1_puts("writer: ");
    usart1_puts(what);
    usart1_puts(" 0x");
    usart1_hex(addr);
    usart1_puts(rc == PV_FLASH_ERR_RANGE ? " refused"
                : rc == PV_FLASH_OK      ? " written"
                                         : " flash error");
    usart1_puts("\r\n");
}

int main(void)
{
    usart1_init((16000000u + 57600u) / 115200u);
    if (pv_flash_init() != PV_FLASH_OK) {
        usart1_puts("writer: unknown chip\r\n");
        for (;;)
            __asm volatile("wfi");
    }
    pv_layout l;
    pv_layout_default(&l);
    app_writer w;
    app_writer_open(&w, &l);
    attempt(&w, "bootloader", l.boot_addr);
    attempt(&w, "key slot", l.keyslot_addr);
    attempt(&w, "counter", l.counter_addr);
    attempt(&w, "counter end", l.counter_addr + l.counter_size - 8u);
    attempt(&w, "region end", l.app_addr + l.app_size - 8u);
    attempt(&w, "bank 2", l.app_addr + l.app_size);
    attempt(&w, "application", l.app_addr);
    app_writer_close(&w);
    /* The same region moved up by 512 bytes: its first sector also holds bytes below it. */
    pv_layout odd = l;
    odd.app_addr += 0x200u;
    odd.app_size -= 0x200u;
    app_writer_open(&w, &odd);
    attempt(&w, "unaligned region", odd.app_addr + 0x1000u);
    app_writer_close(&w);
    usart1_puts("writer: done\r\n");
    for (;;)
        __asm volatile("wfi");
}
