/* The anti-rollback counter: the lowest image version the device still accepts, kept in its
 * own flash region (a sector of its own) as an append-only log of 8-byte records.
 *
 * A record is two little-endian words, value then ~value, programmed in that order into a slot
 * that reads erased (0xFF). The floor is the largest value of the valid records (second word is
 * the complement of the first); erased and torn slots are skipped, and a new record goes after
 * the last slot that is not fully erased. Raising the floor never erases anything, so a power cut
 * at any moment leaves either the old floor or the new one:
 *   - cut while programming the value: the complement still reads 0xFFFFFFFF, so the slot is
 *     valid only if the torn value reads 0, which cannot raise the floor;
 *   - cut while programming the complement: it matches ~value only once fully programmed.
 * The bootloader writes the record again at the next boot when the floor is still lower than the
 * running image's version. A region of N bytes holds N / 8 raises (2048 in a 16 KB sector); when
 * it is full the floor stays where it is (see docs/image-format.md).
 */
#ifndef PV_IMAGE_ROLLBACK_H
#define PV_IMAGE_ROLLBACK_H

#include <stddef.h>
#include <stdint.h>

#define PV_ROLLBACK_RECORD_LEN 8u

/* Reads a counter region (size: a multiple of 8). *floor: the largest valid record (0 when there
 * is none); *next: offset of the slot the next record goes into (size when the region is full). */
void pv_rollback_scan(const uint8_t *region, uint32_t size, uint32_t *floor, uint32_t *next);

/* The two words of the record for value, in programming order. */
void pv_rollback_record(uint32_t value, uint32_t words[2]);

#endif
