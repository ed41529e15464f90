/* Product recipes: the YAML file that says what to put into which chip (docs/recipes.md).
 *
 * pv_recipe_load reads one file, checks it against the schema and the chip's facts, and fills a
 * plain struct the rest of the tool uses (no pointers, nothing to free). Every problem found is
 * collected, not just the first, each with file:line:column, the field path and how to fix it:
 *
 *   recipes/x.yaml:12:5: layout.key_slot.address: 0x08009000 is not the start of a flash sector
 *   (sector 2 starts at 0x08008000)
 *
 * Loading is libcyaml's; positions come from a libyaml pass over the same bytes that walks the
 * same libcyaml schema (recipe_yaml.h), so the schema exists once. */
#ifndef PV_HSM_BRIDGE_RECIPE_H
#define PV_HSM_BRIDGE_RECIPE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "devdata_spec.h"
#include "hal/stm32f4_map.h"
#include "hal/stm32f4_sectors.h"
#include "image/layout.h"
#include "proto/proto.h"

#define PV_RECIPE_FORMAT      1u    /* the `format:` this code reads */
#define PV_RECIPE_NAME_MAX    64u   /* product, batch, chip part... (with the NUL) */
#define PV_RECIPE_LABEL_MAX   128u  /* PKCS#11 labels (with the NUL) */
#define PV_RECIPE_PATH_MAX    1024u /* resolved file paths (with the NUL) */
#define PV_RECIPE_ADDR_MAX    256u  /* host:port or a serial device */
#define PV_RECIPE_CMDS_MAX    32u   /* extra OpenOCD commands */
#define PV_RECIPE_CMD_MAX     512u  /* one OpenOCD command (with the NUL) */
#define PV_RECIPE_SECTORS_MAX PV_F4_SECTORS_MAX
#define PV_RECIPE_MAX_BYTES   (1u << 20)
/* What the RAM stub needs above stub.sram_base (its SRAM plan, stub_budget.sh). */
#define PV_RECIPE_STUB_SRAM PV_STUB_SRAM_BUDGET

/* Values match exit codes (commands.h): 0 valid, 1 invalid, 3 unreadable. */
enum pv_recipe_status { PV_RECIPE_OK = 0, PV_RECIPE_INVALID = 1, PV_RECIPE_UNREADABLE = 3 };

enum pv_probe_backend { PV_PROBE_OPENOCD = 0, PV_PROBE_GDB = 1, PV_PROBE_CMSIS_DAP = 2 };

typedef struct pv_recipe {
    char file[PV_RECIPE_PATH_MAX]; /* as given to pv_recipe_load */
    char name[PV_RECIPE_NAME_MAX]; /* the file's base name without .yaml/.yml (ledger: recipe) */
    uint8_t digest[32];            /* SHA-256 of the file's bytes (ledger: recipe digest) */
    unsigned format;
    char product[PV_RECIPE_NAME_MAX];
    char batch[PV_RECIPE_NAME_MAX];
    struct {
        char family[PV_RECIPE_NAME_MAX]; /* "stm32f4" */
        char part[PV_RECIPE_NAME_MAX];   /* as written, e.g. "STM32F427VIT6" */
        uint32_t device_id;              /* DBGMCU_IDCODE DEV_ID[11:0] the chip must report */
        uint32_t flash_kb;
        uint32_t sram_kb; /* contiguous SRAM at PV_F4_SRAM_BASE, from the part table */
        unsigned n_sectors;
        pv_flash_sector sectors[PV_RECIPE_SECTORS_MAX]; /* from family + flash size */
    } chip;
    struct {
        enum pv_probe_backend backend;
        struct {
            char interface[PV_RECIPE_PATH_MAX]; /* "" when commands select the adapter */
            char target[PV_RECIPE_PATH_MAX];    /* OpenOCD search-path names, not resolved */
            unsigned n_commands;
            char commands[PV_RECIPE_CMDS_MAX][PV_RECIPE_CMD_MAX];
            char attach[PV_RECIPE_ADDR_MAX]; /* host:port of a running OpenOCD's Tcl RPC, or "" */
        } openocd;
        struct {
            char remote[PV_RECIPE_ADDR_MAX]; /* host:port or a serial device path, or "" */
        } gdb;
        struct {
            char serial[PV_RECIPE_NAME_MAX]; /* "" = the only probe attached */
        } cmsis_dap;
    } probe;
    struct {
        char image[PV_RECIPE_PATH_MAX]; /* resolved against the recipe's directory */
        uint32_t sram_base;
    } stub;
    struct {
        char image[PV_RECIPE_PATH_MAX];
        int has_sha256;
        uint8_t sha256[32];
    } bootloader;
    struct {
        int present;
        char image[PV_RECIPE_PATH_MAX];
        int has_sha256;
        uint8_t sha256[32];
    } application;
    pv_layout layout; /* lib/image/layout.h; passes pv_layout_check */
    struct {
        char token[PV_RECIPE_LABEL_MAX];
        char master_key[PV_RECIPE_LABEL_MAX];
        char noise_static_key[PV_RECIPE_LABEL_MAX];
        char image_signing_key[PV_RECIPE_LABEL_MAX];
        char audit_key[PV_RECIPE_LABEL_MAX];   /* "" when not given */
        char at_rest_key[PV_RECIPE_LABEL_MAX]; /* "": the master key's label + ".at-rest" */
        uint32_t key_id, key_version;          /* written into the key slot (default 1, 1) */
    } keys;
    struct {
        unsigned rdp_level;     /* 0, 1 or 2 */
        uint32_t write_protect; /* bit i set: sector i write-protected */
    } protection;
    struct {
        int declared;        /* a power: section was given (else 2.7-3.6 V, no VPP) */
        unsigned vdd_min_mv; /* the board's supply range while it is provisioned */
        unsigned vdd_max_mv;
        int vpp;        /* 8.5-9 V on the VPP pin (BOOT0) during provisioning */
        unsigned psize; /* enum pv_flash_psize the range allows (pv_recipe_psize) */
    } power;
    uint32_t quota;          /* devices allowed in this batch */
    pv_devdata_spec devdata; /* device_data: per-device values (docs/device-data.md) */
} pv_recipe;

/* The program/erase parallelism a supply range allows (RM0090 §3.5.1, table "Program/erase
 * parallelism"): x8 from 1.7 V, x16 from 2.1 V, x32 from 2.7 V, x64 only with VPP (and 2.7 V).
 * The lowest voltage decides. Returns enum pv_flash_psize. */
unsigned pv_recipe_psize(unsigned vdd_min_mv, int vpp);

typedef struct pv_recipe_diag {
    unsigned line, column; /* 1-based; 0 when the problem has no place in the file */
    int warning;           /* warnings are printed, but the recipe stays valid */
    char field[128];       /* "layout.key_slot.address"; "" for the file as a whole */
    char message[512];
} pv_recipe_diag;

typedef struct pv_recipe_diags {
    char file[PV_RECIPE_PATH_MAX];
    pv_recipe_diag *items; /* sorted by position once a load returns */
    size_t count, cap;
    size_t errors, warnings;
} pv_recipe_diags;

void pv_recipe_diags_init(pv_recipe_diags *d);
void pv_recipe_diags_free(pv_recipe_diags *d);
/* Adds one diagnostic (field may be NULL). Out of memory: counted, text dropped. */
__attribute__((format(printf, 6, 7))) void pv_recipe_diag_add(pv_recipe_diags *d, unsigned line,
                                                              unsigned column, int warning,
                                                              const char *field, const char *fmt,
                                                              ...);
void pv_recipe_diag_vadd(pv_recipe_diags *d, unsigned line, unsigned column, int warning,
                         const char *field, const char *fmt, va_list ap);
/* "file:line:col: [warning: ]field: message" (parts without a value left out). */
void pv_recipe_diag_format(const pv_recipe_diags *d, size_t i, char *out, size_t len);
/* Every diagnostic, one line each. */
void pv_recipe_diags_print(FILE *out, const pv_recipe_diags *d);

/* What pv_recipe_load checks beyond the file itself. */
enum pv_recipe_flags {
    /* The stub, bootloader and application images exist, are readable, fit their SRAM / flash
     * regions, and match their sha256 when one is given. */
    PV_RECIPE_CHECK_FILES = 1u << 0,
};

/* Reads and checks path. Returns PV_RECIPE_OK (r filled; d may hold warnings),
 * PV_RECIPE_INVALID (d holds every error; r undefined) or PV_RECIPE_UNREADABLE. d is
 * initialised here and must be freed by the caller in every case. */
int pv_recipe_load(const char *path, unsigned flags, pv_recipe *r, pv_recipe_diags *d);
/* The same on bytes in memory; file names them in diagnostics and anchors relative paths. */
int pv_recipe_parse(const char *file, const char *text, size_t len, unsigned flags, pv_recipe *r,
                    pv_recipe_diags *d);

/* The sector holding addr, or -1. */
int pv_recipe_sector_of(const pv_recipe *r, uint32_t addr);
/* The sectors [first, last] a region covers: 0, or -1 if it is not inside flash. */
int pv_recipe_region_sectors(const pv_recipe *r, uint32_t addr, uint32_t size, unsigned *first,
                             unsigned *last);

const char *pv_probe_backend_name(enum pv_probe_backend b);

/* One OpenOCD command a recipe or a station config may add (probe.openocd.commands; not the
 * operator's own -c): split by Tcl's rules, every command it would run, also inside event
 * scripts, must be on the allow-list (docs/recipes.md, "OpenOCD commands"), and nothing Tcl
 * would compute at run time ([...], $var, backslash escapes, {*}, comments) may appear. 0, or -1
 * with *at the byte offset in cmd of what is refused and why (what was found, how to fix it). */
int pv_recipe_openocd_command_check(const char *cmd, size_t *at, char *why, size_t why_len);

/* `provision recipe show`: the resolved recipe for people, or as one JSON object. */
void pv_recipe_print(FILE *out, const pv_recipe *r);
int pv_recipe_print_json(FILE *out, const pv_recipe *r); /* 0, or -1 on allocation failure */

#endif
