/* Flash HAL: what the RAM stub and the bootloader need from a chip's flash controller.
 *
 * One file per family implements it (flash_stm32f4.c: F405/407/415/417/427/429/437/439, single
 * and dual bank); a device image links exactly one. Adding F7, L4 or G4 means adding one file.
 * Addresses are absolute (0x08000000-based on STM32). Every function is bounded in time: busy
 * waits give up after a timeout derived from the datasheet maxima and report PV_FLASH_ERR_TIMEOUT.
 */
#ifndef PV_HAL_FLASH_H
#define PV_HAL_FLASH_H

#include <stddef.h>
#include <stdint.h>

enum pv_flash_err {
    PV_FLASH_OK = 0,
    PV_FLASH_ERR_WRP = -1,     /* WRPERR: the sector is write-protected (nWRP option bit) */
    PV_FLASH_ERR_PGA = -2,     /* PGAERR: programming alignment (write crosses a row) */
    PV_FLASH_ERR_PGP = -3,     /* PGPERR: programming parallelism (size != PSIZE) */
    PV_FLASH_ERR_PGS = -4,     /* PGSERR: programming sequence (PG not set, or error pending) */
    PV_FLASH_ERR_OPERR = -5,   /* OPERR: operation error */
    PV_FLASH_ERR_RD = -6,      /* RDERR: read of a PCROP-protected sector */
    PV_FLASH_ERR_LOCKED = -7,  /* the controller stayed locked after the key sequence */
    PV_FLASH_ERR_RANGE = -8,   /* address or sector outside this chip's flash */
    PV_FLASH_ERR_TIMEOUT = -9, /* BSY did not clear within the datasheet maximum */
    PV_FLASH_ERR_VERIFY = -10, /* read back differs from what was programmed */
    PV_FLASH_ERR_OPTLOCK = -11 /* option bytes stayed locked, or RDP Level 2 froze them */
};

/* Name and one-line explanation of an error code ("WRPERR: sector is write-protected"). */
const char *pv_flash_strerror(int err);

typedef struct pv_flash_sector {
    uint32_t addr;  /* first byte */
    uint32_t size;  /* bytes */
    uint16_t index; /* sector number as the reference manual counts them (0..23 on F42x) */
} pv_flash_sector;

/* Reads the chip's identity (DBGMCU ID, flash size register) and sets up the sector map.
 * Returns PV_FLASH_OK or PV_FLASH_ERR_RANGE for a chip this driver does not know. */
int pv_flash_init(void);
/* Total flash bytes and sector lookup by address (PV_FLASH_ERR_RANGE outside flash). */
uint32_t pv_flash_size(void);
int pv_flash_sector_at(uint32_t addr, pv_flash_sector *out);

/* Program/erase parallelism, FLASH_CR.PSIZE: what the board's supply allows (RM0090 §3.5.1,
 * table "Program/erase parallelism"): x8 at 1.7-2.1 V, x16 at 2.1-2.7 V, x32 at 2.7-3.6 V, x64
 * at 2.7-3.6 V with 8.5-9 V on VPP. A higher one erases faster (DS9405: a 128 KB sector takes
 * 2 s at x8, 1 s at x32) and programs more bytes per operation; one above what the supply
 * allows is outside the datasheet's conditions. */
enum pv_flash_psize { PV_FLASH_X8 = 0, PV_FLASH_X16 = 1, PV_FLASH_X32 = 2, PV_FLASH_X64 = 3 };

int pv_flash_unlock(void); /* no-op if already unlocked (a second key sequence would lock it) */
void pv_flash_lock(void);
/* Erases one sector at parallelism psize (a pv_flash_psize value, 0-3: the caller checks a value
 * it did not choose itself). s comes from pv_flash_sector_at. */
int pv_flash_erase_sector(const pv_flash_sector *s, unsigned psize);
/* Programs len bytes at addr (flash must be erased there: NOR only clears bits) at parallelism
 * psize: one operation per byte at x8, per half-word at x16, per word at x32, per double word at
 * x64. addr and len must be multiples of 4, and of 8 at x64 (else PV_FLASH_ERR_PGA). The caller
 * has checked that the range lies in flash where it may write (the stub: its granted regions;
 * the bootloader: the application region) and verifies what it wrote (the stub's VERIFY before
 * Level 2, the bootloader's signature check and the rollback record's read-back): the 8 KB stub
 * has no room for a second check here. A locked controller ignores PG and reports PGSERR. */
int pv_flash_program(uint32_t addr, const void *data, size_t len, unsigned psize);

/* Option bytes. rdp: 0xAA Level 0, 0xCC Level 2, anything else Level 1. nwrp: bit i = 1 leaves
 * sector i writable (bits 0-11 bank 1, 12-23 bank 2). Takes effect at the next reset. */
int pv_flash_options_read(uint8_t *rdp, uint32_t *nwrp);
int pv_flash_options_write(uint8_t rdp, uint32_t nwrp);

#endif
