/* Fuzzing the RAM stub's parsers (stub-loader/stub_{session,transport,commands}.c, built for the
 * host as tests/unit/test_stub_proto.c does) on a fake STM32F427: 2 MB NOR flash, SRAM holding
 * the mailbox and two slots. The first byte picks the target:
 *   even  the host-posted slots as the debugger writes them (trailer, length, body) read by
 *         stub_poll after stub_start, from the state right after message 1 (Noise message 2,
 *         then frames in order);
 *   odd   a decrypted frame's commands (stub_exec) with 1..4 regions granted and the frame flags
 *         from the next byte: the command parser an authenticated trusted side drives.
 * Aborts when the stub touches memory outside the fake chip, programs or erases flash outside
 * the granted regions, reads a slot past its end, erases a sector it programmed in the same input
 * (which could undo a verified write), or writes RDP Level 2 with a written range not verified. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../stub-loader/stub.h"
#include "../stub-loader/stub_platform.h"
#include "crypto/x25519.h"
#include "hal/flash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLASH_BASE 0x08000000u
#define FLASH_SIZE (2048u * 1024u)
#define SRAM_BASE  0x20000000u
#define SRAM_SIZE  0x4000u
#define STUB_END   0x20002000u
#define MBOX       STUB_END
#define SLOT0      (MBOX + PV_MBOX_LEN)
#define SLOT_SIZE  2048u

static uint8_t flash[FLASH_SIZE], sram[SRAM_SIZE];
static uint8_t rdp = 0xAA;
static uint32_t nwrp = 0xFFFFFF;
static int locked = 1;
static uint8_t programmed[24]; /* sectors programmed since the input began, by index */
static const uint8_t uid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static struct stub stub;

uint8_t *stub_mem(uint32_t addr)
{
    if (addr - FLASH_BASE < FLASH_SIZE)
        return flash + (addr - FLASH_BASE);
    if (addr - SRAM_BASE < SRAM_SIZE)
        return sram + (addr - SRAM_BASE);
    abort();
}

int stub_platform_init(uint32_t flags)
{
    (void)flags;
    return PV_ST_OK;
}

void stub_identity(uint8_t id[PV_ID_LEN])
{
    memset(id, 0, PV_ID_LEN);
    id[PV_ID_VERSION] = PV_PROTO_VERSION;
    id[PV_ID_RDP] = rdp;
    pv_st16(id + PV_ID_FLASH_KB, 2048);
    pv_st32(id + PV_ID_IDCODE, 0x10036419);
    memcpy(id + PV_ID_UID, uid, 12);
    pv_st32(id + PV_ID_NWRP, nwrp);
    memset(id + PV_ID_DIGEST, 0x5D, 32);
}

int stub_hw_entropy(uint8_t out[32])
{
    memset(out, 0x42, 32);
    return PV_ST_OK;
}

int stub_ram_ok(uint32_t addr, uint32_t len)
{
    return addr >= STUB_END && addr <= SRAM_BASE + SRAM_SIZE && len <= SRAM_BASE + SRAM_SIZE - addr;
}

void stub_park(void)
{
    locked = 1;
}

void stub_reset(void) {}

/* Inside one region the stub was granted (the harness's own check of the stub's). */
static void check_granted(uint32_t a, uint32_t len)
{
    for (unsigned i = 0; i < stub.nregions; i++)
        if (a >= stub.region[i][0] &&
            (uint64_t)a + len <= (uint64_t)stub.region[i][0] + stub.region[i][1])
            return;
    abort();
}

int pv_flash_init(void)
{
    return PV_FLASH_OK;
}

uint32_t pv_flash_size(void)
{
    return FLASH_SIZE;
}

int pv_flash_sector_at(uint32_t addr, pv_flash_sector *out)
{
    uint32_t off = addr - FLASH_BASE, base = 0, first = 0;
    if (off >= FLASH_SIZE)
        return PV_FLASH_ERR_RANGE;
    if (off >= 0x100000u) {
        base = 0x100000u;
        first = 12;
    }
    uint32_t rel = off - base;
    out->size = rel < 0x10000u ? 0x4000u : rel < 0x20000u ? 0x10000u : 0x20000u;
    out->addr = addr & ~(out->size - 1u);
    out->index = (uint16_t)(first + (rel < 0x10000u   ? rel >> 14
                                     : rel < 0x20000u ? 4
                                                      : 4 + (rel >> 17)));
    return PV_FLASH_OK;
}

int pv_flash_unlock(void)
{
    locked = 0;
    return PV_FLASH_OK;
}

void pv_flash_lock(void)
{
    locked = 1;
}

int pv_flash_erase_sector(const pv_flash_sector *s, unsigned psize)
{
    if (locked || psize > PV_FLASH_X64)
        abort();
    check_granted(s->addr, s->size);
    if (s->index >= sizeof programmed || programmed[s->index])
        abort(); /* an erase after a write into the sector */
    /* Not cleared: the fake flash's contents do not matter to the parsers. */
    return PV_FLASH_OK;
}

int pv_flash_program(uint32_t addr, const void *data, size_t len, unsigned psize)
{
    if (locked || psize > PV_FLASH_X64)
        abort();
    if ((addr | len) & 3u)
        return PV_FLASH_ERR_PGA;
    check_granted(addr, (uint32_t)len);
    for (uint32_t a = addr; len && a < addr + len;) {
        pv_flash_sector sec;
        if (pv_flash_sector_at(a, &sec))
            abort();
        programmed[sec.index] = 1;
        a = sec.addr + sec.size;
    }
    memcpy(flash + (addr - FLASH_BASE), data, len);
    return PV_FLASH_OK;
}

int pv_flash_options_read(uint8_t *r, uint32_t *w)
{
    if (r)
        *r = rdp;
    if (w)
        *w = nwrp;
    return PV_FLASH_OK;
}

int pv_flash_options_write(uint8_t r, uint32_t w)
{
    (void)w;
    /* Level 2 only after something was written and every written range verified */
    if (r == 0xCC) {
        if (!stub.nwritten)
            abort();
        for (unsigned i = 0; i < stub.nwritten; i++)
            if (stub.written[i][0] != stub.written[i][1])
                abort();
    }
    return PV_FLASH_OK;
}

/* Regions a trusted side might grant: bootloader, key slot, application, all of flash. */
static const uint32_t grants[4][2] = {{0x08000000u, 0x8000u},
                                      {0x08008000u, 0x4000u},
                                      {0x08010000u, 0xF0000u},
                                      {0x08000000u, FLASH_SIZE}};

static void exec_commands(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    static struct stub s0;
    stub = s0;
    memset(programmed, 0, sizeof programmed);
    stub.nregions = (uint8_t)(1 + (data[0] >> 1) % PV_MAX_REGIONS);
    for (unsigned i = 0; i < stub.nregions; i++)
        stub.region[i][0] = grants[(data[0] >> 3) + i & 3][0],
        stub.region[i][1] = grants[(data[0] >> 3) + i & 3][1];
    stub.phase = STUB_SESSION;
    stub_identity(stub.id);
    uint8_t flags = data[1];
    /* The plaintext in a buffer of its own size, so reading past it is caught. */
    size_t len = size - 2;
    uint8_t *pt = malloc(len ? len : 1);
    if (!pt)
        return;
    memcpy(pt, data + 2, len);
    uint8_t index;
    uint32_t detail;
    pv_flash_unlock();
    (void)stub_exec(&stub, pt, len, flags, &index, &detail);
    pv_flash_lock();
    free(pt);
}

static void poll_slots(const uint8_t *data, size_t size)
{
    static uint8_t sram0[SRAM_SIZE];
    static struct stub started;
    static int ready;
    if (!ready) {
        uint8_t priv[32], pub[32];
        memset(priv, 0x77, sizeof priv);
        pv_x25519_public(pub, priv);
        uint8_t *m = stub_mem(MBOX);
        memset(m, 0, PV_MBOX_LEN);
        pv_st32(m + PV_MBOX_MAGIC_OFF, PV_MBOX_MAGIC);
        pv_st32(m + PV_MBOX_SLOT0, SLOT0);
        pv_st32(m + PV_MBOX_SLOT_SIZE, SLOT_SIZE);
        memcpy(m + PV_MBOX_BRIDGE_PUB, pub, 32);
        memset(m + PV_MBOX_HOST_ENTROPY, 0x33, 32);
        memset(stub_mem(SLOT0), 0, 2 * SLOT_SIZE);
        if (stub_start(&stub, MBOX) != PV_ST_OK)
            abort();
        started = stub;
        memcpy(sram0, sram, sizeof sram);
        ready = 1;
    }
    stub = started;
    memset(programmed, 0, sizeof programmed);
    memcpy(sram, sram0, sizeof sram);
    /* The input ends where the second slot ends: its last bytes are slot 1's trailer (frame 1,
     * message 2); longer input reaches back into slot 0 (frame 2). */
    if (size > 2 * SLOT_SIZE)
        size = 2 * SLOT_SIZE;
    memcpy(stub_mem(SLOT0 + 2 * SLOT_SIZE - (uint32_t)size), data, size);
    for (int i = 0; i < 4 && stub_poll(&stub); i++)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        exec_commands(data, size);
    else
        poll_slots(data + 1, size - 1);
    return 0;
}
