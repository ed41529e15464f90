/* Flash HAL for the STM32F4 family (RM0090: F405/407/415/417/427/429/437/439), single and dual
 * bank. Device only. Programs and erases by sector at the parallelism the caller gives (the
 * board's supply decides it, flash.h), writes the option bytes with the OPTCR procedure. Every busy
 * wait is bounded by an iteration count derived from the datasheet maxima at the fastest core
 * clock, so it ends at any clock; a slower clock only makes the bound longer in wall time. The ART
 * data cache is not flushed here: an image that enables FLASH_ACR.DCEN and reads back flash it
 * erased or programmed must reset the cache (DCEN = 0, DCRST = 1) itself, as RM0090 asks; the RAM
 * stub leaves DCEN off. */
#include "hal/flash.h"
#include "hal/stm32f4_map.h"
#include "hal/stm32f4_sectors.h"
#include "util/le.h"

#include <stdint.h>

#define DBGMCU_IDCODE (*(volatile uint32_t *)PV_F4_DBGMCU_IDCODE)
#define FLASHSIZE_KB  (*(volatile uint16_t *)PV_F4_FLASH_SIZE_KB)

typedef struct {
    volatile uint32_t ACR, KEYR, OPTKEYR, SR, CR, OPTCR, OPTCR1;
} flash_regs;
#define FL ((flash_regs *)PV_F4_FLASH_REGS)

#define KEY1    0x45670123u
#define KEY2    0xCDEF89ABu
#define OPTKEY1 0x08192A3Bu
#define OPTKEY2 0x4C5D6E7Fu

#define SR_OPERR (1u << 1)
#define SR_RDERR (1u << 8)
#define SR_BSY   (1u << 16)
#define SR_FLAGS 0x1F3u /* EOP, OPERR, WRPERR, PGAERR, PGPERR, PGSERR, RDERR: write 1 to clear */

#define CR_PG    (1u << 0)
#define CR_SER   (1u << 1)
#define CR_PSIZE 8 /* PSIZE: CR bits 9:8 */
#define CR_STRT  (1u << 16)
#define CR_LOCK  (1u << 31)

#define OPTCR_OPTLOCK (1u << 0)
#define OPTCR_OPTSTRT (1u << 1)
#define OPTCR_DB1M    (1u << 30)
#define OPTCR_RDP     0x0000FF00u
#define OPTCR_NWRP    0x0FFF0000u

#define DEV_F40X 0x413u /* F405/407/415/417 */
#define DEV_F42X 0x419u /* F427/429/437/439 */

/* Bounds on BSY in polls: datasheet maxima (x8: 4 s for a 128 KB sector, which also bounds the
 * smaller ones and the higher parallelisms; 100 us per program operation; option bytes up to
 * OpenOCD's 32 s ceiling) at 180 MHz and at least 4 cycles per poll. */
#define POLLS_PER_MS  45000u
#define PROGRAM_POLLS (1u * POLLS_PER_MS)
#define ERASE_POLLS   (4000u * POLLS_PER_MS)
#define OPTION_POLLS  (32000u * POLLS_PER_MS)

static struct {
    uint32_t bank2_off; /* 0: single bank */
    uint32_t kb;        /* total flash; 0 until pv_flash_init succeeded */
} chip;

const char *pv_flash_strerror(int err)
{
    switch (err) {
    case PV_FLASH_OK:
        return "OK";
    case PV_FLASH_ERR_WRP:
        return "WRPERR: sector is write-protected (nWRP option bit)";
    case PV_FLASH_ERR_PGA:
        return "PGAERR: programming alignment (address or length not a multiple of 4, or a "
               "write crossing a 128-bit row)";
    case PV_FLASH_ERR_PGP:
        return "PGPERR: programming parallelism (access size differs from PSIZE)";
    case PV_FLASH_ERR_PGS:
        return "PGSERR: programming sequence (PG not set or an error was pending)";
    case PV_FLASH_ERR_OPERR:
        return "OPERR: flash operation error";
    case PV_FLASH_ERR_RD:
        return "RDERR: read of a PCROP-protected sector";
    case PV_FLASH_ERR_LOCKED:
        return "LOCKED: flash control register stayed locked (key sequence refused)";
    case PV_FLASH_ERR_RANGE:
        return "RANGE: address or sector outside this chip's flash, or unknown chip";
    case PV_FLASH_ERR_TIMEOUT:
        return "TIMEOUT: BSY did not clear within the datasheet maximum";
    case PV_FLASH_ERR_VERIFY:
        return "VERIFY: flash read back differs from what was programmed";
    case PV_FLASH_ERR_OPTLOCK:
        return "OPTLOCK: option bytes stayed locked, or RDP Level 2 froze them";
    default:
        return "unknown flash error";
    }
}

int pv_flash_init(void)
{
    uint32_t dev = DBGMCU_IDCODE & 0xFFFu, kb = FLASHSIZE_KB;
    if (dev == 0) /* some revisions hide DBGMCU from software: OPTCR1 exists on F42x only */
        dev = FL->OPTCR1 ? DEV_F42X : DEV_F40X;
    uint32_t max = dev == DEV_F42X ? 2048u : dev == DEV_F40X ? 1024u : 0;
    chip.kb = 0;
    if (kb < 128 || kb > max || (kb & 127u))
        return PV_FLASH_ERR_RANGE;
    chip.bank2_off = PV_F4_BANK2_OFFSET(kb, max == 2048u && (FL->OPTCR & OPTCR_DB1M));
    chip.kb = kb;
    return PV_FLASH_OK;
}

uint32_t pv_flash_size(void)
{
    return chip.kb << 10;
}

int pv_flash_sector_at(uint32_t addr, pv_flash_sector *out)
{
    return pv_f4_sector_at(chip.kb, chip.bank2_off, addr, out);
}

/* Waits for BSY to clear within `polls`, then reports the SR error flags and clears them. */
static int wait_done(uint32_t polls)
{
    uint32_t sr;
    while ((sr = FL->SR) & SR_BSY)
        if (!--polls)
            return PV_FLASH_ERR_TIMEOUT;
    FL->SR = sr & SR_FLAGS;
    /* WRPERR, PGAERR, PGPERR, PGSERR are SR bits 4..7 and error codes -1..-4 */
    if (sr & 0xF0u)
        return 3 - (int)__builtin_ctz(sr & 0xF0u);
    if (sr & SR_RDERR)
        return PV_FLASH_ERR_RD;
    return sr & SR_OPERR ? PV_FLASH_ERR_OPERR : PV_FLASH_OK;
}

int pv_flash_unlock(void)
{
    /* A key sequence on an unlocked controller is a wrong sequence (bus error, locked until
     * reset), so only when LOCK is set. */
    if (FL->CR & CR_LOCK) {
        FL->KEYR = KEY1;
        FL->KEYR = KEY2;
    }
    return FL->CR & CR_LOCK ? PV_FLASH_ERR_LOCKED : PV_FLASH_OK;
}

void pv_flash_lock(void)
{
    FL->CR = CR_LOCK;
}

/* Starts an operation with CR = cr on an unlocked controller with no stale flags; waits. */
static int run(uint32_t cr, uint32_t polls)
{
    if (FL->CR & CR_LOCK)
        return PV_FLASH_ERR_LOCKED;
    FL->SR = SR_FLAGS;
    FL->CR = cr;
    FL->CR = cr | CR_STRT;
    int rc = wait_done(polls);
    FL->CR = 0;
    return rc;
}

int pv_flash_erase_sector(const pv_flash_sector *s, unsigned psize)
{
    /* SNB: sectors 0-11 as they are, bank 2's 12-23 as 0x10-0x1B */
    return run(CR_SER | psize << CR_PSIZE |
                   (uint32_t)(s->index < 12 ? s->index : s->index + 4u) << 3,
               ERASE_POLLS);
}

int pv_flash_program(uint32_t addr, const void *data, size_t len, unsigned psize)
{
    const uint8_t *d = data; /* may be unaligned */
    uint32_t step = 1u << psize, a = addr, end = addr + (uint32_t)len;
    if ((addr | len) & ((step - 1u) | 3u))
        return PV_FLASH_ERR_PGA;
    int rc = PV_FLASH_OK;
    FL->CR = CR_PG | psize << CR_PSIZE;
    for (; a != end && !rc; a += step, d += step) {
        switch (psize) {
        case PV_FLASH_X8:
            *(volatile uint8_t *)a = *d;
            break;
        case PV_FLASH_X16:
            *(volatile uint16_t *)a = (uint16_t)pv_ld16(d);
            break;
        case PV_FLASH_X32:
            *(volatile uint32_t *)a = pv_ld32(d);
            break;
        default: /* x64: two words, the second completes the double word */
            *(volatile uint32_t *)a = pv_ld32(d);
            *(volatile uint32_t *)(a + 4) = pv_ld32(d + 4);
        }
        __asm volatile("dsb" ::: "memory");
        rc = wait_done(PROGRAM_POLLS);
    }
    FL->CR = 0;
    return rc;
}

int pv_flash_options_read(uint8_t *rdp, uint32_t *nwrp)
{
    uint32_t optcr = FL->OPTCR;
    if (rdp)
        *rdp = (uint8_t)(optcr >> 8);
    if (nwrp)
        *nwrp = (optcr >> 16 & 0xFFFu) | (chip.bank2_off ? (FL->OPTCR1 >> 4 & 0xFFF000u) : 0);
    return PV_FLASH_OK;
}

int pv_flash_options_write(uint8_t rdp, uint32_t nwrp)
{
    if ((uint8_t)(FL->OPTCR >> 8) == 0xCC)
        return PV_FLASH_ERR_OPTLOCK; /* Level 2: frozen for good */
    if (FL->OPTCR & OPTCR_OPTLOCK) {
        FL->OPTKEYR = OPTKEY1;
        FL->OPTKEYR = OPTKEY2;
    }
    if (FL->OPTCR & OPTCR_OPTLOCK)
        return PV_FLASH_ERR_OPTLOCK;
    if (chip.bank2_off)
        FL->OPTCR1 = nwrp << 4 & OPTCR_NWRP;
    uint32_t v =
        (FL->OPTCR & ~(OPTCR_RDP | OPTCR_NWRP)) | (uint32_t)rdp << 8 | (nwrp & 0xFFFu) << 16;
    FL->OPTCR = v;
    FL->OPTCR = v | OPTCR_OPTSTRT;
    int rc = wait_done(OPTION_POLLS);
    /* OPTCR now holds what was programmed; it must be what was asked for. */
    if (!rc && ((FL->OPTCR ^ v) & (OPTCR_RDP | OPTCR_NWRP)))
        rc = PV_FLASH_ERR_VERIFY;
    FL->OPTCR = v | OPTCR_OPTLOCK;
    return rc;
}
