#include "boot_console.h"

#include "boot_platform.h"
#include "image/image.h"

void con_puts(const char *s)
{
    while (*s)
        plat_console_putc(*s++);
}

void con_dec(uint32_t v)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        plat_console_putc(buf[--n]);
}

void con_hex32(uint32_t v)
{
    con_puts("0x");
    for (int i = 28; i >= 0; i -= 4)
        plat_console_putc("0123456789ABCDEF"[(v >> i) & 0xFu]);
}

void con_version(uint32_t version)
{
    char s[14];
    pv_image_version_str(s, version);
    con_puts(s);
}

void con_eol(void)
{
    con_puts("\r\n");
}
