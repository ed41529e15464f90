/* The chip's insides, shared between the files that model it (chip_core.c, core_exceptions.c,
 * debug_scs.c, flash_stm32f4.c, option_bytes.c, otp.c, periph_*.c, rom_table.c, state_file.c,
 * power_cut.c, bus_map.c, thumb_decode.c). Front ends only see chip.h. */
#ifndef SIM_CHIP_INTERNAL_H
#define SIM_CHIP_INTERNAL_H

#include "chip.h"

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unicorn/unicorn.h>

/* ---- Memory map (FACTS §5.2) ---- */
#define FLASH_BASE     0x08000000u
#define FLASH_ALIAS    0x00000000u
#define FLASH_SIZE_MAX 0x200000u /* the 2 MB STM32F427; a 1 MB one uses the first half */
#define CCM_BASE       0x10000000u
#define CCM_SIZE       0x10000u
#define SYSMEM_BASE    0x1FFF0000u
#define SYSMEM_SIZE    0x7800u
#define INFO_BASE      0x1FFF7800u /* OTP, OTP lock bytes, UID, flash size: one 1 KB MMIO page */
#define INFO_SIZE      0x400u
#define OTP_BASE       0x1FFF7800u
#define OTP_SIZE       512u
#define OTP_LOCK_BASE  0x1FFF7A00u
#define OTP_BLOCKS     16u
#define UID_BASE       0x1FFF7A10u
#define FLASHSIZE_ADDR 0x1FFF7A22u
#define OPTB1_BASE     0x1FFFC000u
#define OPTB2_BASE     0x1FFEC000u
#define OPTB_PAGE      0x400u
#define SRAM_BASE      0x20000000u
#define SRAM_SIZE      0x30000u
#define SRAM_BB_BASE   0x22000000u
#define PERIPH_BB_BASE 0x42000000u
#define BB_SIZE        0x02000000u
#define APB1_BASE      0x40000000u
#define APB1_SIZE      0x8000u
#define APB2_BASE      0x40010000u
#define APB2_SIZE      0x8000u
#define AHB1_BASE      0x40020000u
#define AHB1_SIZE      0x4000u
#define BKPSRAM_BASE   0x40024000u
#define BKPSRAM_SIZE   0x1000u
#define AHB2_BASE      0x50060000u
#define AHB2_SIZE      0x1000u
#define PPB_BASE       0xE0000000u
#define PPB_SIZE       0x00100000u

#define PWR_BASE     0x40007000u
#define USART1_BASE  0x40011000u
#define SYSCFG_BASE  0x40013800u
#define GPIO_BASE    0x40020000u
#define GPIO_END     0x40022C00u
#define RCC_BASE     0x40023800u
#define FLASHIF_BASE 0x40023C00u
#define RNG_BASE     0x50060800u
#define DBGMCU_BASE  0xE0042000u

/* Who performs a bus access: the CPU executing code, the debugger through the AHB-AP, or the core
 * itself (exception stacking, vector fetch). Read protection depends on it. */
enum bus_src { SRC_CPU = 0, SRC_DBG = 1, SRC_CORE = 2 };

/* Why the last Unicorn run stopped. */
enum stop_reason {
    STOP_NONE = 0,
    STOP_BUDGET,    /* instruction budget of the slice used up */
    STOP_REEVAL,    /* a peripheral/SCS write wants pending exceptions re-evaluated */
    STOP_HALT,      /* entered Debug state (BKPT, FPB, DWT, vector catch) */
    STOP_INTR,      /* Unicorn reported an exception (SVC, BKPT, exception return...) */
    STOP_FAULT,     /* bus/usage fault to take */
    STOP_POWER_CUT, /* armed power cut fired */
};

/* Fault kinds the run loop turns into exceptions. */
enum fault_kind {
    FAULT_NONE = 0,
    FAULT_READ,      /* precise data bus error (BFAR valid) */
    FAULT_WRITE,     /* imprecise data bus error */
    FAULT_FETCH,     /* instruction bus error */
    FAULT_XN,        /* fetch from an execute-never region (MemManage IACCVIOL) */
    FAULT_UNDEF,     /* undefined instruction */
    FAULT_INVSTATE,  /* EPSR.T = 0 */
    FAULT_NOCP,      /* coprocessor disabled */
    FAULT_UNALIGNED, /* unaligned LDM/LDRD... */
    FAULT_DIVZERO,
};

/* Flash interface operation in progress (BSY). */
enum flash_op_kind { FOP_NONE = 0, FOP_PROGRAM, FOP_ERASE, FOP_OPTION };

struct flash_op {
    enum flash_op_kind kind;
    uint32_t addr;      /* FOP_PROGRAM: absolute address (flash or OTP) */
    unsigned size;      /* FOP_PROGRAM: 1, 2, 4, 8 */
    uint8_t data[8];    /* FOP_PROGRAM: value written (ANDed into the cells) */
    uint32_t sectors;   /* FOP_ERASE: bit i = sector i */
    unsigned psize;     /* FOP_ERASE: FLASH_CR.PSIZE at STRT (0 x8 .. 3 x64) */
    uint32_t new_optcr; /* FOP_OPTION */
    uint32_t new_optcr1;
    bool rdp_regress;     /* FOP_OPTION: level 1 -> 0, mass erase */
    uint64_t end_ns;      /* device time at which BSY clears */
    uint64_t wall_end_ns; /* realtime mode: CLOCK_MONOTONIC at which BSY clears */
    uint64_t start_ns;
    uint64_t index; /* 1-based op number since power-on */
};

/* A CPU store that landed in flash (Unicorn applies it after the hook): undone as soon as
 * possible, the flash rules decide what the cells really hold. */
struct flash_fixup {
    uint32_t off; /* offset in the flash buffer */
    unsigned size;
    uint8_t old[8];
};

#define NUM_EXC      (16 + 96) /* system exceptions + 91 STM32F427 IRQs, rounded up */
#define NUM_IRQ      96
#define MAX_HW_BP    16
#define FPB_CODE     6
#define FPB_LIT      2
#define DWT_NCOMP    4
#define USART_BUF    65536u
#define ICOUNT_SLOTS 4096u

struct icount_slot {
    uint32_t addr;
    uint16_t size;
    uint16_t count;
};

struct chip {
    uc_engine *uc;
    struct chip_config cfg;
    char *state_path;

    /* ---- non-volatile state (the state file) ---- */
    uint8_t *flash; /* flash_size bytes, 1 KB aligned: mapped at 0x0 and 0x08000000 */
    uint32_t flash_size;
    uint16_t flash_kb;
    uint32_t opt_nv;  /* committed option bytes in OPTCR layout (bits 1:0 zero) */
    uint32_t opt1_nv; /* committed OPTCR1 (nWRP 12-23) */
    uint8_t otp[OTP_SIZE];
    uint8_t otp_lock[OTP_BLOCKS];
    uint8_t uid[12];
    uint64_t uid_seed;
    uint8_t rng_seed[32];
    uint64_t power_on_count;
    bool nv_dirty;
    uint64_t nv_dirty_since_ns; /* CLOCK_MONOTONIC when it became dirty */

    /* ---- volatile memories ---- */
    uint8_t *sram, *ccm, *bkpsram, *sysmem;
    uint8_t apb1[APB1_SIZE], apb2[APB2_SIZE], ahb1[AHB1_SIZE], ahb2[AHB2_SIZE];
    /* 1 KB pages that may hold translated code (the CPU executed code there since their blocks
     * were last dropped); flash pages count for both of its aliases. */
    uint8_t sram_code_pages[SRAM_SIZE / 1024];
    uint8_t flash_code_pages[FLASH_SIZE_MAX / 1024];
    uint8_t sysmem_code_pages[(SYSMEM_SIZE + 1023) / 1024];
    uint64_t tb_translated; /* blocks translated since the last flush (tb_flush_if_due) */
    /* asked for by hooks while the CPU ran, done when it stops (apply_deferred) */
#define TB_DEFERRED_MAX 8
    uint32_t tb_deferred[TB_DEFERRED_MAX][2]; /* address, length */
    unsigned n_tb_deferred;
    bool tb_deferred_all, bp_deferred, rdp_guard_deferred;

    /* ---- option bytes in force (loaded at reset) ---- */
    uint8_t rdp_in_force;
    bool dbg_attached; /* C_DEBUGEN was set since power-on */
    bool rdp_guard;    /* flash reads by non-flash code are being trapped */
    uc_hook h_rdp_dummy;

    /* ---- flash interface ---- */
    uint32_t fl_acr, fl_sr, fl_cr, fl_optcr, fl_optcr1;
    int fl_key_step, fl_optkey_step;
    bool fl_key_dead, fl_optkey_dead; /* wrong key: locked until reset */
    struct flash_op fop;
    uint64_t fl_op_count;
    bool fl_x64_half; /* x64 programming: the first word of a double word arrived */
    uint32_t fl_x64_off, fl_x64_lo;
    struct flash_fixup fix[8];
    int nfix;

    /* ---- RCC / PWR / SYSCFG ---- */
    uint32_t rcc[0x90 / 4];
    uint32_t pwr_cr;
    uint32_t hclk_hz;

    /* ---- RNG ---- */
    uint32_t rng_cr, rng_sr;
    uint64_t rng_state[4];
    uint64_t rng_ready_cycle;
    uint32_t rng_last;

    /* ---- USART1 ---- */
    uint32_t us_sr, us_brr, us_cr1, us_cr2, us_cr3, us_gtpr;
    uint8_t *tx_buf, *rx_buf;
    size_t tx_head, tx_len, rx_head, rx_len;

    /* ---- DBGMCU ---- */
    uint32_t dbgmcu_cr, dbgmcu_apb1, dbgmcu_apb2;

    /* ---- core state ---- */
    bool halted, sleeping, lockup, srst, powered_off, port_dead;
    unsigned halt_reason; /* enum chip_halt_reason bits of the last debug entry */
    bool in_emu;

    /* ---- debug registers ---- */
    uint32_t dhcsr_c; /* C_DEBUGEN|C_HALT|C_STEP|C_MASKINTS|C_SNAPSTALL as written */
    bool s_reset_st, s_retire_st;
    uint32_t dfsr, dcrdr, demcr;
    uint32_t fp_ctrl, fp_remap, fp_comp[FPB_CODE + FPB_LIT];
    uint32_t dwt_ctrl, dwt_comp[DWT_NCOMP], dwt_mask[DWT_NCOMP], dwt_func[DWT_NCOMP];
    uint32_t dwt_cyccnt_base; /* CYCCNT value at dwt_cyc_since */
    uint64_t dwt_cyc_since;
    bool dwt_cyc_running;
    uint32_t sim_bp[MAX_HW_BP];
    int n_sim_bp;
    uint32_t bp_addr[MAX_HW_BP * 2];
    uc_hook bp_hook[MAX_HW_BP * 2];
    int n_bp_hooks;
    uc_hook dwt_hook[2];
    int n_dwt_hooks;
    uint32_t step_skip_pc; /* chip_step: ignore a breakpoint at this PC once */
    bool step_skip;        /* a single step is running */
    unsigned step_calls;   /* its step hook's calls so far */

    /* ---- SCB / NVIC / SysTick ---- */
    uint32_t vtor, prigroup, scr, ccr, shcsr_ena, cfsr, hfsr, mmfar, bfar, cpacr, fpccr, fpcar,
        fpdscr, actlr;
    uint8_t prio[NUM_EXC];
    uint8_t pending[NUM_EXC], active[NUM_EXC];
    uint32_t nvic_en[NUM_IRQ / 32];
    uint32_t syst_csr, syst_rvr, syst_cvr;
    uint64_t syst_last; /* cycle at which syst_cvr was last brought up to date */
    uint32_t itm_regs[4];

    /* ---- device clock ---- */
    uint64_t ns_base, cyc_base; /* device_ns = ns_base + (cycles - cyc_base) / HCLK */
    struct chip_counters ctr;

    /* ---- run slice bookkeeping (hooks <-> run loop) ---- */
    uint64_t slice_limit, slice_done;
    volatile sig_atomic_t interrupt; /* chip_interrupt(): end the run at the next block */
    enum stop_reason stop_reason;
    bool stop_pending;
    bool stop_deferred;    /* stop at the next block boundary */
    bool fault_after_insn; /* the faulting store completed; resume after it */
    bool resume_valid;
    uint32_t resume_pc;
    uint32_t cur_block;
    uint32_t cur_block_n;
    enum fault_kind fault;
    uint32_t fault_addr;
    int intno;
    uint32_t intr_pc;
    unsigned pend_halt; /* halt reason recorded by a hook */
    struct icount_slot icount[ICOUNT_SLOTS];
    uc_hook h_block, h_translated, h_intr, h_wprot, h_rprot, h_runmap, h_wunmap, h_funmap, h_fprot;

    uint64_t slice_accounted;
    int pending_reset; /* reset requested by the CPU (AIRCR) during a run: 1 system, 2 core */
    uint64_t last_stuck_pc;

    /* ---- MMIO regions handed to Unicorn (user data of the callbacks) ---- */
    struct mmio_region {
        chip_t *c;
        uint32_t base;
    } mmio[12];
    int n_mmio;

    /* ---- power cut ---- */
    uint64_t cut_prng;
    FILE *op_log; /* cfg.flash_op_log, opened at the first operation */
};

/* ---- chip_core.c ---- */
void chip_request_stop(chip_t *c, enum stop_reason why);
void chip_stop_now(chip_t *c, enum stop_reason why);
uint32_t core_get_pc(chip_t *c);
void core_set_pc(chip_t *c, uint32_t pc);
uint32_t core_reg(chip_t *c, int ucreg);
void core_set_reg(chip_t *c, int ucreg, uint32_t v);
void time_advance_cycles(chip_t *c, uint64_t n);
void time_advance_ns(chip_t *c, uint64_t ns);
void time_sync(chip_t *c);
uint64_t dev_ns(const chip_t *c);
void set_hclk(chip_t *c, uint32_t hz);
uint64_t wall_ns(void);
void tb_invalidate(chip_t *c, uint32_t addr, uint32_t len);
void tb_drop_all(chip_t *c); /* every translated block (hooks changed) */
void code_page_mark(chip_t *c, uint32_t addr);
bool defer_in_emu(chip_t *c); /* from a hook while the CPU runs: ends the run, true */
void step_end(chip_t *c, uint32_t pc);
void tb_flush_if_due(chip_t *c);
void nv_mark_dirty(chip_t *c);
bool code_in_flash(const chip_t *c, uint32_t pc);
void rdp_guard_update(chip_t *c);
void run_one(chip_t *c);

/* ---- bus_map.c: every access that does not go straight to Unicorn RAM ---- */
int bus_read(chip_t *c, uint32_t addr, unsigned size, uint32_t *val, enum bus_src src);
int bus_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val, enum bus_src src);
int mem_map_all(chip_t *c, char *err, size_t err_len);
uint8_t *ram_ptr(chip_t *c, uint32_t addr, unsigned size, bool *is_flash);

/* ---- core_exceptions.c ---- */
struct core_mode {
    uint32_t ipsr, control, msp, psp;
};
void core_read_mode(chip_t *c, struct core_mode *m);
void core_write_mode(chip_t *c, const struct core_mode *m);
void core_reset(chip_t *c);
void exc_pend(chip_t *c, int exc);
bool exc_take_pending(chip_t *c, bool for_wake_only);
bool exc_any_pending(chip_t *c);
int exc_exec_priority(chip_t *c);
void exc_fault(chip_t *c, enum fault_kind kind, uint32_t addr, uint32_t return_pc);
void exc_return(chip_t *c, uint32_t exc_return);
void exc_svc(chip_t *c, uint32_t return_pc);
void exc_bkpt_no_debug(chip_t *c, uint32_t pc);
int scs_nvic_read(chip_t *c, uint32_t addr, uint32_t *val);
int scs_nvic_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val);
void systick_sync(chip_t *c);
uint64_t systick_cycles_to_event(chip_t *c);
void nvic_reset(chip_t *c);
bool irq_line(chip_t *c, int irq);

/* ---- debug_scs.c ---- */
int dbg_scs_read(chip_t *c, uint32_t addr, uint32_t *val, enum bus_src src);
int dbg_scs_write(chip_t *c, uint32_t addr, uint32_t val, enum bus_src src);
int fpb_dwt_read(chip_t *c, uint32_t addr, uint32_t *val);
int fpb_dwt_write(chip_t *c, uint32_t addr, uint32_t val);
void debug_enter(chip_t *c, unsigned reason);
void debug_power_on(chip_t *c);
void bp_rebuild(chip_t *c);
bool bp_match(chip_t *c, uint32_t pc);
void core_step(chip_t *c, bool honour_bp_at_pc);
void system_reset(chip_t *c, bool core_only, bool halt_after);
uint32_t dwt_cyccnt(chip_t *c);

/* ---- flash_stm32f4.c ---- */
void flash_if_reset(chip_t *c);
int flash_if_read(chip_t *c, uint32_t off, uint32_t *val, enum bus_src src);
int flash_if_write(chip_t *c, uint32_t off, uint32_t val, enum bus_src src);
int flash_program(chip_t *c, uint32_t addr, unsigned size, uint32_t val, enum bus_src src);
void flash_cpu_store(chip_t *c, uint32_t addr, unsigned size, uint64_t val);
void flash_fixups_apply(chip_t *c);
enum { FLASH_DUE = 0, FLASH_OBSERVE = 1, FLASH_STALL = 2 };
void flash_poll(chip_t *c, int mode);
uint64_t flash_ns_to_end(chip_t *c);
bool flash_read_allowed(chip_t *c, enum bus_src src);
bool flash_write_allowed(chip_t *c, enum bus_src src);
int flash_sector_of(const chip_t *c, uint32_t off, uint32_t *size);
void flash_sector_range(const chip_t *c, int sector, uint32_t *off, uint32_t *size);
bool flash_dual_bank(const chip_t *c);
void flash_op_start(chip_t *c, const struct flash_op *op, uint64_t duration_ns);
void flash_op_apply(chip_t *c, const struct flash_op *op, bool partial);
uint64_t flash_erase_ns(unsigned psize, uint32_t bytes);

/* ---- option_bytes.c ---- */
void opt_load(chip_t *c);
int opt_read(chip_t *c, uint32_t off, uint32_t *val);
void opt_write_optcr(chip_t *c, uint32_t val, enum bus_src src);
void opt_write_optcr1(chip_t *c, uint32_t val);
void opt_commit(chip_t *c, const struct flash_op *op, bool partial);
int optb_mem_read(chip_t *c, uint32_t addr, uint32_t *val);
bool wrp_protected(const chip_t *c, int sector);
unsigned rdp_level(uint8_t rdp);

/* ---- otp.c ---- */
int info_read(chip_t *c, uint32_t addr, unsigned size, uint32_t *val, enum bus_src src);
int info_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val, enum bus_src src);
void otp_apply(chip_t *c, const struct flash_op *op, bool partial);

/* ---- periph_*.c ---- */
void rcc_reset(chip_t *c);
int rcc_read(chip_t *c, uint32_t off, uint32_t *val);
int rcc_write(chip_t *c, uint32_t off, uint32_t val);
int pwr_read(chip_t *c, uint32_t off, uint32_t *val);
int pwr_write(chip_t *c, uint32_t off, uint32_t val);
uint32_t rcc_pll48_hz(chip_t *c);
void rng_reset(chip_t *c);
int rng_read(chip_t *c, uint32_t off, uint32_t *val, enum bus_src src);
int rng_write(chip_t *c, uint32_t off, uint32_t val);
bool rng_irq(chip_t *c);
void usart_reset(chip_t *c);
int usart_read(chip_t *c, uint32_t off, uint32_t *val, enum bus_src src);
int usart_write(chip_t *c, uint32_t off, uint32_t val);
bool usart_irq(chip_t *c);
void dbgmcu_power_on(chip_t *c);
int dbgmcu_read(chip_t *c, uint32_t off, unsigned size, uint32_t *val);
int dbgmcu_write(chip_t *c, uint32_t off, unsigned size, uint32_t val);
int rom_table_read(chip_t *c, uint32_t addr, uint32_t *val);
int ppb_misc_read(chip_t *c, uint32_t addr, uint32_t *val);
int ppb_misc_write(chip_t *c, uint32_t addr, uint32_t val);
void periph_misc_reset(chip_t *c);
int gpio_write(chip_t *c, uint32_t addr, unsigned size, uint32_t val);

/* ---- state_file.c ---- */
int state_load(chip_t *c, char *err, size_t err_len); /* 0 ok, -1 error, 1 file missing */
int state_save(chip_t *c, char *err, size_t err_len);
void state_new_chip(chip_t *c);

/* ---- power_cut.c ---- */
bool power_cut_check_cycle(chip_t *c);
bool power_cut_at_op(chip_t *c, uint64_t op_index);
void power_cut_fire(chip_t *c);
uint64_t power_cut_cycles_left(chip_t *c);
uint64_t cut_rand(chip_t *c);
void power_cut_log_op(chip_t *c, const struct flash_op *op);
void power_cut_log_close(chip_t *c);

/* ---- thumb_decode.c ---- */
unsigned thumb_insn_len(uint16_t hw1);
uint32_t thumb_fault_pc(chip_t *c, uint32_t block, uint32_t fault_addr);
uint32_t thumb_next_pc(chip_t *c, uint32_t pc);
unsigned thumb_count_insns(chip_t *c, uint32_t addr, uint32_t size);
bool thumb_read16(chip_t *c, uint32_t addr, uint16_t *hw);

/* little-endian helpers */
static inline uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#endif
