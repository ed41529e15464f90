/* Wire format between the RAM stub and the host (docs/protocol.md): the stub image header, the
 * mailbox (parameter block + status + reply) the host writes and reads over the debug port, the
 * frame trailer, the commands inside Noise transport messages, the replies, and the status codes
 * with their names. Everything is little endian. Shared by stub-loader/ (device) and the host
 * (hsm-bridge/, provisioner/); a device link keeps only the few helpers the stub calls. */
#ifndef PV_PROTO_H
#define PV_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "util/le.h" /* pv_ld32, pv_ld16, pv_st32, pv_st16 */

#define PV_PROTO_VERSION      1u
#define PV_PROTO_PROLOGUE     "pv-stub/1" /* Noise prologue, both sides */
#define PV_PROTO_PROLOGUE_LEN 9u

/* ---- Stub image header: the first bytes of stub.bin, linked at the stub's SRAM base ---------- */
#define PV_STUB_MAGIC       0x42535650u /* "PVSB" */
#define PV_STUB_HDR_MAGIC   0           /* u32 PV_STUB_MAGIC */
#define PV_STUB_HDR_VERSION 4           /* u16 PV_PROTO_VERSION */
#define PV_STUB_HDR_SIZE    6           /* u16 header size (24) */
#define PV_STUB_HDR_ENTRY   8           /* u32 entry point (Thumb bit set); r0 = mailbox address */
#define PV_STUB_HDR_RESUME  12          /* u32 where to resume after an idle halt (Thumb bit set) */
#define PV_STUB_HDR_RAM_END 16          /* u32 first byte after the stub's bss and stack */
#define PV_STUB_HDR_IMAGE   20 /* u32 image size (= stub.bin size, what the digest covers) */
#define PV_STUB_HDR_LEN     24

/* ---- Mailbox: written by the host before entry, r0 points to it ------------------------------ */
#define PV_MBOX_MAGIC        0x424D5650u /* "PVMB" */
#define PV_MBOX_MAGIC_OFF    0           /* u32 host: PV_MBOX_MAGIC */
#define PV_MBOX_FLAGS        4           /* u32 host: PV_MBOX_F_* */
#define PV_MBOX_SLOT0        8           /* u32 host: address of slot 0; slot 1 follows it */
#define PV_MBOX_SLOT_SIZE    12          /* u32 host: bytes per slot (multiple of 4) */
#define PV_MBOX_BRIDGE_PUB   16          /* 32 host: trusted side's static X25519 public key */
#define PV_MBOX_HOST_ENTROPY 48 /* 32 host: mixed into the ephemeral key; the stub wipes it */
#define PV_MBOX_ACK          80 /* u32 host: seq of the final frame, once its reply was read */
#define PV_MBOX_STATE        84 /* u32 stub: state (byte 0), status code (byte 1) */
#define PV_MBOX_DONE         88 /* u32 stub: seq of the last frame consumed */
#define PV_MBOX_DETAIL       92 /* u32 stub: error detail (address, flash status...) */
#define PV_MBOX_REPLY        96 /* reply header (PV_TRAILER_LEN bytes), then its body */
#define PV_MBOX_REPLY_BODY   (PV_MBOX_REPLY + PV_TRAILER_LEN)
#define PV_MBOX_REPLY_MAX    128u /* body bytes */
#define PV_MBOX_LEN          (PV_MBOX_REPLY_BODY + PV_MBOX_REPLY_MAX)

#define PV_MBOX_F_CLOCK_168 0x1u /* the stub may run the core at 168 MHz from the PLL */
#define PV_MBOX_F_SPIN      0x2u /* idle by polling the slots, not by halting on BKPT */

/* RDP bytes (FLASH_OPTCR[15:8]) as the options command and the station use them: any byte but
 * Level 0's and Level 2's is Level 1; 0xBB as in ST's examples. */
#define PV_RDP_LEVEL0 0xAAu
#define PV_RDP_LEVEL1 0xBBu
#define PV_RDP_LEVEL2 0xCCu

#define PV_SLOT_MIN 256u
#define PV_SLOT_MAX 16384u
/* What the stub may occupy in SRAM in all: image, bss, stack, mailbox and both slots. 32 KB
 * leaves slots of ~11 KB (a 32 KB image in 3 frames: docs/protocol.md, SRAM plan); every part
 * the flash HAL knows has at least 128 KB of SRAM at 0x20000000. */
#define PV_STUB_SRAM_BUDGET 32768u

/* Stub states (PV_MBOX_STATE byte 0). */
enum pv_stub_state {
    PV_STATE_NONE = 0,  /* not started (the host clears it) */
    PV_STATE_BOOT = 1,  /* running its start-up (RNG, key exchange message 1) */
    PV_STATE_WAIT = 2,  /* idle: waiting for the next frame (halted at its idle breakpoint) */
    PV_STATE_BUSY = 3,  /* working on a frame */
    PV_STATE_DONE = 4,  /* final frame done; waiting for the host's ack, then a system reset */
    PV_STATE_FAILED = 5 /* stopped for good: status byte says why, session keys wiped, flash
                           controller locked; the host resets the chip */
};

/* ---- Frames: a slot holds [body][trailer], the trailer ends at the slot's end ---------------
 * The host writes body and trailer in one ascending block write, so the trailer (which says the
 * frame is complete) lands last. The trailer is the AEAD associated data of a transport frame.
 * Replies in the mailbox use the same 8 bytes as their header. */
#define PV_TRAILER_LEN   8
#define PV_TRAILER_SEQ   0 /* u32 frame number: 1 = Noise message 2, then 2, 3, ... */
#define PV_TRAILER_LEN16 4 /* u16 body length */
#define PV_TRAILER_TYPE  6 /* u8 PV_FRAME_* */
#define PV_TRAILER_FLAGS 7 /* u8 PV_FLAG_* */

#define PV_FRAME_HANDSHAKE 1   /* Noise handshake message (stub: message 1, host: message 2) */
#define PV_FRAME_TRANSPORT 2   /* Noise transport message */
#define PV_FLAG_REPLY      0x1 /* the stub writes an encrypted reply for this frame */
#define PV_FLAG_FINAL      0x2 /* last frame of the session */

/* ---- First handshake payload (stub -> trusted side): what the stub read itself -------------- */
#define PV_ID_VERSION  0  /* u8 PV_PROTO_VERSION */
#define PV_ID_RDP      1  /* u8 RDP byte of FLASH_OPTCR */
#define PV_ID_FLASH_KB 2  /* u16 flash size register */
#define PV_ID_IDCODE   4  /* u32 DBGMCU_IDCODE */
#define PV_ID_UID      8  /* 12 Unique ID */
#define PV_ID_NWRP     20 /* u32 nWRP bits, sector i = bit i */
#define PV_ID_DIGEST   24 /* 32 SHA-256 of the stub image as it sits in SRAM */
#define PV_ID_LEN      56

/* Second handshake payload (trusted side -> stub): the flash regions this session may erase and
 * write, 1..PV_MAX_REGIONS pairs of (u32 address, u32 length). */
#define PV_MAX_REGIONS 4

/* ---- Commands: a transport frame's plaintext is a sequence of commands --------------------- */
#define PV_CMD_HDR 12 /* u8 op, u8 arg, u16 n (data bytes after the header), u32 a, u32 b */
#define PV_CMD_OP  0
#define PV_CMD_ARG 1
#define PV_CMD_N   2
#define PV_CMD_A   4
#define PV_CMD_B   8

/* ERASE, WRITE and KEYSLOT carry in arg the program/erase parallelism the trusted side chose
 * from the recipe's supply range: enum pv_flash_psize of hal/flash.h (0 x8, 1 x16, 2 x32, 3 x64),
 * the FLASH_CR.PSIZE value; anything above 3 is refused (PV_ST_CMD), as in a VERIFY. */
enum pv_cmd_op {
    /* 1 is not used: the stub's identity comes in message 1, authenticated */
    PV_OP_ERASE = 2,   /* a = address, b = length: whole sectors inside an allowed region, before
                          the session's first WRITE or KEYSLOT; a sector already blank (all
                          0xFF) is left as it is */
    PV_OP_WRITE = 3,   /* a = address, data = n bytes (a and n multiples of 4) */
    PV_OP_VERIFY = 4,  /* a = address, b = length, data = expected SHA-256 (32), arg = 0 */
    PV_OP_KEYSLOT = 5, /* a = address, data = the encoded key slot (PV_KEYSLOT_LEN); the stub
                          programs it only if it decodes and carries the stub's own UID */
    PV_OP_OPTIONS = 6, /* arg = RDP byte, a = nWRP bits */
    PV_OP_RESET = 7    /* last command of the final frame (every session ends with a reset once the
                          host acknowledged the final reply; RESET says so explicitly) */
};

/* ---- Replies (plaintext of a transport reply) ---------------------------------------------- */
#define PV_REPLY_STATUS 0 /* u8 status code (0 = every command succeeded) */
#define PV_REPLY_INDEX  1 /* u8 commands executed before the failing one (or in all) */
#define PV_REPLY_DETAIL 4 /* u32 error detail */
#define PV_REPLY_HDR    8 /* the whole reply: no command returns data */

/* ---- Status codes (reply status, PV_MBOX_STATE byte 1) ------------------------------------- */
enum pv_status {
    PV_ST_OK = 0,
    PV_ST_PARAM = 1,         /* bad parameter block: magic, slot placement or size */
    PV_ST_RNG_CLOCK = 2,     /* RNG clock error (CECS): PLL48CLK missing or too slow */
    PV_ST_RNG_SEED = 3,      /* RNG seed error (SECS) persisted after re-initialisation */
    PV_ST_RNG_TIMEOUT = 4,   /* RNG gave no data (DRDY) in time */
    PV_ST_RNG_REPEAT = 5,    /* RNG repeated a word (continuous test) */
    PV_ST_CHIP = 6,          /* chip not supported by the flash driver */
    PV_ST_HANDSHAKE = 7,     /* Noise message 2 rejected: wrong trusted-side key or tampered */
    PV_ST_AUTH = 8,          /* transport frame failed authentication: tampered, replayed,
                                truncated, or from another session */
    PV_ST_SEQ = 9,           /* frame number out of order */
    PV_ST_FRAME = 10,        /* malformed frame (length, type) */
    PV_ST_CMD = 11,          /* malformed command (unknown op, bad length) */
    PV_ST_REGION = 12,       /* address range outside the regions allowed for this session */
    PV_ST_ALIGN = 13,        /* erase not on sector bounds, or write not word aligned */
    PV_ST_ORDER = 14,        /* command not allowed at this point of the session (Level 2 or
                                RESET not last of the final frame, ERASE after a write) */
    PV_ST_NOT_VERIFIED = 15, /* RDP Level 2 requested in a session that wrote nothing */
    PV_ST_VERIFY = 16,       /* verify: flash digest differs from the expected one */
    PV_ST_RDP_REGRESS = 17,  /* option change would lower read protection */
    PV_ST_ENDED = 18,        /* frame after the session ended or failed */
    PV_ST_CLOCK = 19,        /* PLL did not lock or the clock switch did not happen */
    PV_ST_KEYSLOT = 20,      /* key slot malformed (lib/keyslot) or bound to another UID */
    PV_ST_UNVERIFIED = 21,   /* RDP Level 2 refused: bytes written in this session that no
                                passing verify covered since; detail = the first such address */
    PV_ST_RANGES = 22,       /* more separate written ranges than the stub tracks (8) */
    PV_ST_FLASH = 32         /* + (-pv_flash_err): flash driver error, see pv_status_name */
};

/* Name and explanation of a status code, e.g. "REGION: address range outside ...". Flash errors
 * (PV_ST_FLASH + n) are named after the FLASH_SR bit (WRPERR, PGAERR, ...). Host use. */
const char *pv_status_name(int status);
/* Name of a stub state ("WAIT", "FAILED", ...). */
const char *pv_state_name(int state);

/* Trailer / reply header. */
static inline void pv_trailer_put(uint8_t t[PV_TRAILER_LEN], uint32_t seq, uint16_t len,
                                  uint8_t type, uint8_t flags)
{
    pv_st32(t + PV_TRAILER_SEQ, seq);
    pv_st16(t + PV_TRAILER_LEN16, len);
    t[PV_TRAILER_TYPE] = type;
    t[PV_TRAILER_FLAGS] = flags;
}

/* Command header. */
static inline void pv_cmd_put(uint8_t h[PV_CMD_HDR], uint8_t op, uint8_t arg, uint16_t n,
                              uint32_t a, uint32_t b)
{
    h[PV_CMD_OP] = op;
    h[PV_CMD_ARG] = arg;
    pv_st16(h + PV_CMD_N, n);
    pv_st32(h + PV_CMD_A, a);
    pv_st32(h + PV_CMD_B, b);
}

#endif
