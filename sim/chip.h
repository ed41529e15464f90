/* The virtual STM32F427 as its front ends (JTAG/remote_bitbang, GDB RSP, the CLI) see it.
 *
 * One chip_t is one chip: a Cortex-M4 core on Unicorn, its memory map and peripherals, its debug
 * logic (SCS debug registers, FPB, DWT), and its non-volatile state kept in a state file. It is
 * single-threaded: the event loop calls chip_run() in slices and serves debugger traffic between
 * slices, so CPU execution and debugger memory access interleave as they do on silicon. */
#ifndef SIM_CHIP_H
#define SIM_CHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct chip chip_t;

/* When to cut power (fault injection). At most one trigger is armed. */
enum chip_power_cut_kind {
    CHIP_CUT_NONE = 0,
    CHIP_CUT_AT_CYCLE,    /* when the device cycle counter reaches `at` */
    CHIP_CUT_AT_FLASH_OP, /* in the middle of the at-th (1-based) flash program/erase/option op */
};

struct chip_config {
    const char *state_path; /* required: the chip's non-volatile state file */
    bool create;            /* create a blank chip if the file does not exist */
    uint64_t uid_seed;      /* for a new chip: derives the 96-bit UID and the RNG seed */
    uint16_t flash_kb;      /* for a new chip: 2048 (default), 1024 */
    uint32_t used_sectors;  /* for a new chip: bit i = sector i holds old contents, not 0xFF */
    bool realtime;          /* flash operations take wall time too (default: device clock only) */
    enum chip_power_cut_kind cut_kind;
    uint64_t cut_at;
    uint64_t cut_seed;         /* seeds the undefined state a cut leaves behind */
    const char *flash_op_log;  /* if set: one line per flash operation appended to this file
                                  (index, kind, target), and one for the cut (power_cut.c) */
    bool fault_ignore_optstrt; /* fault: OPTSTRT programs nothing (a lock that never happens) */
};

/* Why the core is halted (mirrors DFSR bits). */
enum chip_halt_reason {
    CHIP_HALT_NONE = 0,
    CHIP_HALT_REQUEST = 1 << 0, /* DFSR.HALTED: debugger request or step done */
    CHIP_HALT_BKPT = 1 << 1,    /* DFSR.BKPT: BKPT instruction or FPB match */
    CHIP_HALT_DWT = 1 << 2,     /* DFSR.DWTTRAP */
    CHIP_HALT_VCATCH = 1 << 3,  /* DFSR.VCATCH: vector catch (reset, HardFault, ...) */
};

/* Result of chip_run(). */
enum chip_run_result {
    CHIP_RUN_SLICE_DONE = 0, /* ran the slice, still running */
    CHIP_RUN_HALTED,         /* entered Debug state (see chip_halt_reason()) */
    CHIP_RUN_IDLE,           /* core is halted or sleeping (WFI) with nothing to do */
    CHIP_RUN_LOCKUP,         /* fault while handling a fault: core locked up (DHCSR.S_LOCKUP) */
    CHIP_RUN_POWER_CUT,      /* the armed power cut fired: state file written, chip is off */
};

/* Return codes for bus accesses from the debugger. */
#define CHIP_OK         0
#define CHIP_EBUS       -1 /* AHB error: unmapped, read-protected, wrong size: DP sets STICKYERR */
#define CHIP_EPORT_DEAD -2 /* debug port disabled (RDP Level 2 after reset) */

/* Opens (or creates) the chip behind cfg->state_path and powers it on (power-on reset).
 * On failure returns NULL and writes a one-line reason naming the file and what to do. */
chip_t *chip_open(const struct chip_config *cfg, char *err, size_t err_len);
/* Powers off: writes the state file durably, frees everything. */
void chip_close(chip_t *chip);

/* Executes up to max_insns instructions (fewer if the core halts, sleeps or power is cut, or
 * chip_interrupt() is called). */
enum chip_run_result chip_run(chip_t *chip, uint64_t max_insns);
/* Ends the current chip_run() at the next block boundary, so a front end can serve a debugger
 * that just sent something without the CPU running in short slices all the time. Async-signal-
 * safe: the event loop calls it from its SIGIO handler. The request stays until
 * chip_interrupt_clear(). */
void chip_interrupt(chip_t *chip);
void chip_interrupt_clear(chip_t *chip);
bool chip_is_halted(const chip_t *chip);
unsigned chip_halt_reason(const chip_t *chip); /* enum chip_halt_reason bits */

/* The debug port. Everything the AHB-AP does goes through these, including the SCS debug
 * registers (DHCSR at 0xE000EDF0 etc.), so halting, stepping, register transfer via DCRSR/DCRDR,
 * FPB/DWT and AIRCR resets all work exactly as a JTAG debugger drives them. size is 1, 2 or 4;
 * addr must be size-aligned. Reads and writes work while the core runs. */
bool chip_debug_port_alive(const chip_t *chip); /* false once RDP Level 2 is in force */
int chip_dbg_read(chip_t *chip, uint32_t addr, unsigned size, uint32_t *val);
int chip_dbg_write(chip_t *chip, uint32_t addr, unsigned size, uint32_t val);
/* Reset lines as a probe drives them (remote_bitbang 'r'..'u'): SRST resets the system. */
void chip_set_srst(chip_t *chip, bool asserted);

/* Conveniences for the GDB server (same effect as the DHCSR/DCRSR/FPB sequences). */
void chip_halt(chip_t *chip);
void chip_resume(chip_t *chip);
int chip_step(chip_t *chip); /* one instruction; core must be halted */
/* regsel: DCRSR REGSEL numbering (0-12, 13 SP, 14 LR, 15 PC, 16 xPSR, 17 MSP, 18 PSP,
 * 0x14 CONTROL|FAULTMASK|BASEPRI|PRIMASK, 0x21 FPSCR, 0x40+n Sn). Core must be halted. */
int chip_reg_read(chip_t *chip, unsigned regsel, uint32_t *val);
int chip_reg_write(chip_t *chip, unsigned regsel, uint32_t val);
/* System reset (AIRCR.SYSRESETREQ semantics: core + peripherals, debug logic kept);
 * halt_after arms reset vector catch for this reset. */
void chip_reset(chip_t *chip, bool halt_after);
/* Hardware breakpoint at a code address (< 0x20000000 via FPB semantics, but the simulator accepts
 * any address). Returns 0 or -1 if all slots are used. */
int chip_bkpt_add(chip_t *chip, uint32_t addr);
int chip_bkpt_remove(chip_t *chip, uint32_t addr);

/* Counters for benchmarks and tests. The front ends add their own traffic to the dbg_* fields. */
struct chip_counters {
    uint64_t instructions;     /* instructions retired */
    uint64_t cycles;           /* device clock in core cycles (includes flash stall time) */
    uint64_t device_ns;        /* device clock in nanoseconds */
    uint64_t flash_ns;         /* device time spent in flash program/erase operations */
    uint64_t flash_ops;        /* program + erase + option operations started */
    uint64_t dbg_transactions; /* DP/AP accesses (JTAG) or memory/register requests (GDB) */
    uint64_t dbg_bytes_in;     /* bytes received from debuggers */
    uint64_t dbg_bytes_out;    /* bytes sent to debuggers */
    uint64_t dbg_round_trips;  /* host waits for an answer: 'R' batches or RSP packets */
    uint64_t tb_translated;    /* code blocks translated by Unicorn */
    uint64_t tb_flushes;       /* its translation cache emptied to make room */
};
struct chip_counters *chip_counters(chip_t *chip);
/* One line "key=value ..." of the counters, for `monitor counters` and the exit report. */
int chip_counters_format(const chip_t *chip, char *buf, size_t len);

/* USART1: bytes the firmware transmitted since the last call, and bytes to deliver to RX. */
size_t chip_usart_take_tx(chip_t *chip, uint8_t *buf, size_t cap);
void chip_usart_give_rx(chip_t *chip, const uint8_t *buf, size_t len);

/* Identity, for logs and tests. */
void chip_uid(const chip_t *chip, uint8_t uid[12]);
uint8_t chip_rdp_byte(const chip_t *chip); /* option byte RDP as currently in force */

#endif
