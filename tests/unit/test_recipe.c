/* Recipes (provisioner/recipe.h): the demo recipe loads and matches the bootloader's layout
 * defaults; broken recipes written to temporary files each give the exact file:line:column,
 * field and message, all errors of a file in one run (shape and value errors together); the
 * referenced files are checked on request; and `provision recipe check|show` exit codes and
 * output as a user sees them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <glob.h>
#include <sys/stat.h>

#include "../../hsm-bridge/keys_config.h"
#include "../../hsm-bridge/recipe.h"
#include "../../provisioner/station_config.h"
#include "hal/flash.h"
#include "image/layout.h"
#include "sim_process.h"

static char dir[64], prov[4096], demo[4096];

/* Line numbers matter: the expected messages below point into this text. */
static const char base[] = "format: 1\n"                  /*  1 */
                           "product: widget\n"            /*  2 */
                           "batch: w-001\n"               /*  3 */
                           "quota: 10\n"                  /*  4 */
                           "chip:\n"                      /*  5 */
                           "  family: stm32f4\n"          /*  6 */
                           "  part: STM32F427VIT6\n"      /*  7 */
                           "  device_id: 0x419\n"         /*  8 */
                           "  flash_kb: 2048\n"           /*  9 */
                           "probe:\n"                     /* 10 */
                           "  backend: gdb\n"             /* 11 */
                           "  gdb:\n"                     /* 12 */
                           "    remote: 127.0.0.1:3333\n" /* 13 */
                           "stub:\n"                      /* 14 */
                           "  image: stub.bin\n"          /* 15 */
                           "  sram_base: 0x20000000\n"    /* 16 */
                           "bootloader:\n"                /* 17 */
                           "  image: boot.bin\n"          /* 18 */
                           "layout:\n"                    /* 19 */
                           "  bootloader:\n"              /* 20 */
                           "    address: 0x08000000\n"    /* 21 */
                           "    size: 0x8000\n"           /* 22 */
                           "  key_slot:\n"                /* 23 */
                           "    address: 0x08008000\n"    /* 24 */
                           "    size: 0x4000\n"           /* 25 */
                           "  counter:\n"                 /* 26 */
                           "    address: 0x0800C000\n"    /* 27 */
                           "    size: 0x4000\n"           /* 28 */
                           "  application:\n"             /* 29 */
                           "    address: 0x08010000\n"    /* 30 */
                           "    size: 0xF0000\n"          /* 31 */
                           "keys:\n"                      /* 32 */
                           "  token: t\n"                 /* 33 */
                           "  master_key: m\n"            /* 34 */
                           "  noise_static_key: n\n"      /* 35 */
                           "  image_signing_key: s\n"     /* 36 */
                           "protection:\n"                /* 37 */
                           "  rdp_level: 2\n"             /* 38 */
                           "  write_protect: [0, 1, 2]\n" /* 39 */;

/* base with each "old" replaced by "new" (NULL-terminated pairs); each old must occur. */
static char *mutate(const char *const *pairs)
{
    char *s = strdup(base);
    for (int i = 0; pairs[i]; i += 2) {
        char *at = strstr(s, pairs[i]);
        if (!at)
            fail_msg("'%s' not in the base recipe", pairs[i]);
        size_t ol = strlen(pairs[i]), nl = strlen(pairs[i + 1]);
        char *t = malloc(strlen(s) - ol + nl + 1);
        memcpy(t, s, (size_t)(at - s));
        memcpy(t + (at - s), pairs[i + 1], nl);
        strcpy(t + (at - s) + nl, at + ol);
        free(s);
        s = t;
    }
    return s;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Loads text from a file named name in the temp dir and checks the diagnostics: exactly want
 * (NULL-terminated), each without the "file:" prefix, in order. */
static void expect_diags(const char *name, const char *text, unsigned flags, int want_rc,
                         const char *const *want)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, text, strlen(text));
    pv_recipe *r = malloc(sizeof *r);
    pv_recipe_diags d;
    int rc = pv_recipe_load(path, flags, r, &d);
    size_t n = 0;
    while (want[n])
        n++;
    int ok = rc == want_rc && d.count == n;
    char got[4096] = "";
    size_t used = 0;
    for (size_t i = 0; i < d.count; i++) {
        char line[2048];
        pv_recipe_diag_format(&d, i, line, sizeof line);
        size_t pl = strlen(path);
        const char *rest = strncmp(line, path, pl) == 0 && line[pl] == ':' ? line + pl + 1 : line;
        if (i < n && strcmp(rest, want[i]) != 0)
            ok = 0;
        used += (size_t)snprintf(got + used, sizeof got - used, "  %s\n", rest);
        if (used >= sizeof got)
            used = sizeof got - 1;
    }
    if (!ok) {
        char exp[4096] = "";
        size_t u = 0;
        for (size_t i = 0; i < n && u < sizeof exp; i++)
            u += (size_t)snprintf(exp + u, sizeof exp - u, "  %s\n", want[i]);
        fail_msg("%s: rc %d (want %d); got %zu diagnostics:\n%swant %zu:\n%s", name, rc, want_rc,
                 d.count, got, n, exp);
    }
    pv_recipe_diags_free(&d);
    free(r);
}

#define MUT(...)  ((const char *const[]){__VA_ARGS__, NULL})
#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOTHING   ((const char *const[]){NULL})
#define INVALID(name, muts, ...)                                                                   \
    do {                                                                                           \
        char *t_ = mutate(muts);                                                                   \
        expect_diags(name, t_, 0, PV_RECIPE_INVALID, WANT(__VA_ARGS__));                           \
        free(t_);                                                                                  \
    } while (0)

/* ---- the demo recipe ---- */

static void test_demo_recipe(void **state)
{
    (void)state;
    pv_recipe *r = malloc(sizeof *r);
    pv_recipe_diags d;
    int rc = pv_recipe_load(demo, 0, r, &d);
    if (rc != PV_RECIPE_OK || d.count) {
        pv_recipe_diags_print(stderr, &d);
        fail_msg("%s: rc %d, %zu diagnostics", demo, rc, d.count);
    }
    pv_recipe_diags_free(&d);
    assert_string_equal(r->name, "demo-stm32f427");
    assert_string_equal(r->chip.family, "stm32f4");
    assert_int_equal(r->chip.device_id, 0x419);
    assert_int_equal(r->chip.flash_kb, 2048);
    assert_int_equal(r->chip.n_sectors, 24);
    assert_int_equal(r->chip.sectors[12].addr, 0x08100000);
    assert_int_equal(r->chip.sectors[23].addr + r->chip.sectors[23].size, 0x08200000);
    assert_int_equal(r->probe.backend, PV_PROBE_OPENOCD);
    assert_string_equal(r->probe.openocd.target, "target/stm32f4x.cfg");
    assert_non_null(strstr(r->probe.openocd.interface, "recipes/openocd/sim-remote-bitbang.cfg"));
    assert_int_equal(access(r->probe.openocd.interface, R_OK), 0);
    assert_int_equal(r->probe.openocd.n_commands, 2);
    assert_int_equal(r->stub.sram_base, 0x20000000);
    assert_non_null(strstr(r->stub.image, "build/arm/stub-loader/stub.bin"));
    assert_non_null(strstr(r->bootloader.image, "build/arm/firmware/bootloader.bin"));
    assert_true(r->application.present);
    /* The layout is the bootloader's built-in default table (lib/image/layout.c). */
    pv_layout def;
    pv_layout_default(&def);
    assert_memory_equal(&r->layout, &def, sizeof def);
    /* The demo board's supply: 2.7-3.6 V, so the stub erases and programs at x32. */
    assert_true(r->power.declared);
    assert_int_equal(r->power.vdd_min_mv, 2700);
    assert_int_equal(r->power.vdd_max_mv, 3600);
    assert_int_equal(r->power.psize, PV_FLASH_X32);
    assert_int_equal(pv_layout_check(&r->layout, PV_F4_FLASH_BASE, r->chip.flash_kb * 1024u),
                     PV_LAYOUT_OK);
    assert_int_equal(r->quota, 1000);
    assert_int_equal(r->protection.rdp_level, 2);
    assert_int_equal(r->protection.write_protect, 0x7);
    assert_int_equal(r->keys.key_id, 1);
    assert_int_equal(r->keys.key_version, 1);
    assert_string_equal(r->keys.token, "provision-demo");
    /* The digest is the file's SHA-256 (the ledger records it). */
    size_t len;
    char *text = sp_slurp(demo, &len);
    uint8_t h[32];
    unsigned hl = 32;
    assert_int_equal(EVP_Digest(text, len, h, &hl, EVP_sha256(), NULL), 1);
    assert_memory_equal(h, r->digest, 32);
    free(text);
    unsigned f, l;
    assert_int_equal(pv_recipe_region_sectors(r, r->layout.app_addr, r->layout.app_size, &f, &l),
                     0);
    assert_int_equal(f, 4);
    assert_int_equal(l, 11);
    free(r);

    /* The test's own base recipe is valid too, so every error below comes from its mutation. */
    expect_diags("base.yaml", base, 0, PV_RECIPE_OK, NOTHING);
}

/* ---- broken recipes, one kind each ---- */

static void test_wrong_types(void **state)
{
    (void)state;
    INVALID("types.yaml", MUT("flash_kb: 2048", "flash_kb: lots"),
            "9:3: chip.flash_kb: \"lots\" is not a number; write it in decimal (2048) or hex "
            "(0x800), without leading zeros or units");
    INVALID("neg.yaml", MUT("quota: 10", "quota: -5"),
            "4:1: quota: -5 is negative; expected a number from 0 to 4294967295");
    INVALID("big.yaml", MUT("size: 0x8000", "size: 0x100000000"),
            "22:5: layout.bootloader.size: 0x100000000 is too large; the maximum is 4294967295 "
            "(0xFFFFFFFF)");
    INVALID("octal.yaml", MUT("quota: 10", "quota: 010"),
            "4:1: quota: \"010\" is not a number; write it in decimal (2048) or hex (0x800), "
            "without leading zeros or units");
    INVALID(
        "map.yaml",
        MUT("  key_slot:\n    address: 0x08008000\n    size: 0x4000\n", "  key_slot: 0x08008000\n"),
        "23:3: layout.key_slot: expected a mapping with keys address, size, found "
        "\"0x08008000\"");
    INVALID("list.yaml", MUT("write_protect: [0, 1, 2]", "write_protect: 0"),
            "39:3: protection.write_protect: expected a list, found \"0\"; write the items as "
            "\"- item\" lines or [a, b]");
    INVALID("scalar.yaml", MUT("  token: t\n", "  token: [a, b]\n"),
            "33:3: keys.token: expected a string, found a list");
    INVALID("empty.yaml", MUT("  token: t\n", "  token:\n"),
            "33:3: keys.token: has no value; expected a string");
    INVALID("enum.yaml", MUT("backend: gdb", "backend: openoc"),
            "11:3: probe.backend: \"openoc\" is not one of openocd, gdb or cmsis-dap; did you "
            "mean \"openocd\"?");
    INVALID("entry.yaml", MUT("[0, 1, 2]", "[0, one, 2]"),
            "39:22: protection.write_protect[1]: \"one\" is not a number; write it in decimal "
            "(2048) or hex (0x800), without leading zeros or units");
}

static void test_unknown_and_duplicate_keys(void **state)
{
    (void)state;
    INVALID("typo.yaml", MUT("    address: 0x08008000", "    adress: 0x08008000"),
            "23:3: layout.key_slot.address: required but missing; add \"address:\" under "
            "layout.key_slot",
            "24:5: layout.key_slot.adress: unknown key; did you mean \"address\"?");
    INVALID("case.yaml", MUT("quota: 10", "Quota: 10"),
            "1:1: quota: required but missing; add a top-level \"quota:\"",
            "4:1: Quota: unknown key; did you mean \"quota\"?");
    INVALID("far.yaml", MUT("  flash_kb: 2048", "  flash_kb: 2048\n  colour: blue"),
            "10:3: chip.colour: unknown key; the keys of chip are family, part, device_id, "
            "flash_kb");
    INVALID("dup.yaml", MUT("quota: 10\n", "quota: 10\nquota: 20\n"),
            "5:1: quota: appears twice (first on line 4); keep one");
}

static void test_layout_errors(void **state)
{
    (void)state;
    /* The message of the issue, to the letter. */
    INVALID("unaligned.yaml",
            MUT("    address: 0x08008000\n    size: 0x4000",
                "    address: 0x08009000\n    size: 0x3000"),
            "24:5: layout.key_slot.address: 0x08009000 is not the start of a flash sector "
            "(sector 2 starts at 0x08008000)");
    INVALID("short.yaml",
            MUT("    address: 0x0800C000\n    size: 0x4000",
                "    address: 0x0800C000\n    size: 0x2000"),
            "28:5: layout.counter.size: 0x2000 ends the region at 0x0800DFFF, inside sector 3 "
            "(0x0800C000..0x0800FFFF); use 0x4000 to end with that sector");
    INVALID("overlap.yaml",
            MUT("    address: 0x08010000\n    size: 0xF0000",
                "    address: 0x0800C000\n    size: 0xF4000"),
            "29:3: layout.application: overlaps layout.counter (0x0800C000..0x0800FFFF); regions "
            "must not share bytes");
    /* Moving the counter onto the key slot also puts it under write protection. */
    INVALID("overlap2.yaml",
            MUT("    address: 0x0800C000\n    size: 0x4000",
                "    address: 0x08008000\n    size: 0x4000"),
            "26:3: layout.counter: overlaps layout.key_slot (0x08008000..0x0800BFFF); regions "
            "must not share bytes",
            "39:25: protection.write_protect[2]: sector 2 holds layout.counter, which the "
            "bootloader rewrites on updates; remove it");
    INVALID("outside.yaml", MUT("    size: 0xF0000", "    size: 0x200000"),
            "31:5: layout.application.size: 0x200000 makes the region end at 0x0820FFFF, past "
            "the end of flash (0x081FFFFF); at most 0x1F0000 fits");
    INVALID("offchip.yaml", MUT("    address: 0x08010000", "    address: 0x00010000"),
            "30:5: layout.application.address: 0x00010000 is outside flash "
            "(0x08000000..0x081FFFFF on this 2048 KB chip)");
    INVALID("boot.yaml",
            MUT("    address: 0x08000000\n    size: 0x8000",
                "    address: 0x08004000\n    size: 0x4000"),
            "21:5: layout.bootloader.address: 0x08004000; the bootloader must start at the "
            "flash base 0x08000000, where the chip boots");
    /* 1 MB single bank: the layout still fits (it ends with bank 1), sector 12 is gone. */
    INVALID("small.yaml", MUT("flash_kb: 2048", "flash_kb: 1024", "[0, 1, 2]", "[0, 1, 2, 12]"),
            "39:28: protection.write_protect[3]: sector 12 does not exist; this 1024 KB chip has "
            "sectors 0 to 11");
}

/* The supply range decides the parallelism (RM0090's table); bad ranges are errors at the
 * value, with the fix. The base recipe ends at line 39: power: is 40, vdd_min 41, vdd_max 42,
 * vpp 43. */
static void test_power_parallelism(void **state)
{
    (void)state;
    static const struct {
        const char *add;
        unsigned psize, min_mv, max_mv;
    } ok[] = {
        {"", PV_FLASH_X32, 2700, 3600}, /* no section: the default */
        {"power:\n  vdd_min: 1.8\n  vdd_max: 2.0\n", PV_FLASH_X8, 1800, 2000},
        {"power:\n  vdd_min: 1.7\n  vdd_max: 3.6\n", PV_FLASH_X8, 1700, 3600},
        {"power:\n  vdd_min: 2.1\n  vdd_max: 3.3\n", PV_FLASH_X16, 2100, 3300},
        {"power:\n  vdd_min: 2.69\n  vdd_max: 3.3\n", PV_FLASH_X16, 2690, 3300},
        {"power:\n  vdd_min: 3\n  vdd_max: 3.30\n", PV_FLASH_X32, 3000, 3300},
        {"power:\n  vdd_min: 2.7\n  vdd_max: 3.6\n  vpp: false\n", PV_FLASH_X32, 2700, 3600},
        {"power:\n  vdd_min: 3.0\n  vdd_max: 3.6\n  vpp: true\n", PV_FLASH_X64, 3000, 3600},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = strlen(base) + strlen(ok[i].add) + 1;
        char *t = malloc(n);
        snprintf(t, n, "%s%s", base, ok[i].add);
        pv_recipe *r = malloc(sizeof *r);
        pv_recipe_diags d;
        int rc = pv_recipe_parse("t.yaml", t, strlen(t), 0, r, &d);
        if (rc != PV_RECIPE_OK) {
            pv_recipe_diags_print(stderr, &d);
            fail_msg("case %zu: rc %d", i, rc);
        }
        assert_int_equal(r->power.psize, ok[i].psize);
        assert_int_equal(r->power.vdd_min_mv, ok[i].min_mv);
        assert_int_equal(r->power.vdd_max_mv, ok[i].max_mv);
        assert_int_equal(r->power.declared, ok[i].add[0] != 0);
        pv_recipe_diags_free(&d);
        free(r);
        free(t);
    }
#define POWER(name, add, ...)                                                                      \
    do {                                                                                           \
        size_t n_ = strlen(base) + strlen(add) + 1;                                                \
        char *t_ = malloc(n_);                                                                     \
        snprintf(t_, n_, "%s%s", base, add);                                                       \
        expect_diags(name, t_, 0, PV_RECIPE_INVALID, WANT(__VA_ARGS__));                           \
        free(t_);                                                                                  \
    } while (0)
    POWER("order.yaml", "power:\n  vdd_min: 3.3\n  vdd_max: 3.0\n",
          "41:3: power.vdd_min: 3.30 V is above power.vdd_max (3.00 V); the range is vdd_min to "
          "vdd_max");
    POWER("high.yaml", "power:\n  vdd_min: 3.3\n  vdd_max: 5\n",
          "42:3: power.vdd_max: 5.00 V is outside the STM32F4's supply range of 1.7 to 3.6 V "
          "(DS9405); give the board's supply range while it is provisioned");
    POWER("low.yaml", "power:\n  vdd_min: 1.2\n  vdd_max: 1.8\n",
          "41:3: power.vdd_min: 1.20 V is outside the STM32F4's supply range of 1.7 to 3.6 V "
          "(DS9405); give the board's supply range while it is provisioned");
    POWER("volts.yaml", "power:\n  vdd_min: 3.3V\n  vdd_max: 3.6\n",
          "41:3: power.vdd_min: \"3.3V\" is not a voltage; write volts as a decimal number, e.g. "
          "3.3");
    POWER("vpp.yaml", "power:\n  vdd_min: 2.4\n  vdd_max: 3.6\n  vpp: true\n",
          "43:3: power.vpp: x64 programming with VPP needs a supply of 2.7 to 3.6 V (RM0090, "
          "\"Program/erase parallelism\"), but power.vdd_min is 2.40 V; raise vdd_min or remove "
          "vpp");
#undef POWER
}

static void test_chip_probe_protection_errors(void **state)
{
    (void)state;
    INVALID("devid.yaml", MUT("device_id: 0x419", "device_id: 0x413"),
            "8:3: chip.device_id: 0x413 is not the DEV_ID of STM32F427 (0x419)");
    /* The layout is judged against the declared size too. */
    INVALID("flash.yaml", MUT("flash_kb: 2048", "flash_kb: 512"),
            "9:3: chip.flash_kb: STM32F427 comes with 1024 or 2048 KB of flash, not 512",
            "31:5: layout.application.size: 0xF0000 makes the region end at 0x080FFFFF, past "
            "the end of flash (0x0807FFFF); at most 0x70000 fits");
    INVALID("part.yaml", MUT("part: STM32F427VIT6", "part: STM32F103C8"),
            "7:3: chip.part: \"STM32F103C8\" is not a known STM32F4 part; known parts: "
            "STM32F405, STM32F407, STM32F415, STM32F417, STM32F427, STM32F429, STM32F437, "
            "STM32F439, STM32F401, STM32F411, STM32F446");
    INVALID("rdp.yaml", MUT("rdp_level: 2", "rdp_level: 3"),
            "38:3: protection.rdp_level: 3 is not a readout protection level; use 0 (none), 1 "
            "(debugger cannot read flash) or 2 (debug port closed for good)");
    INVALID("wrp.yaml", MUT("[0, 1, 2]", "[0, 1, 2, 2, 3, 24]"),
            "39:28: protection.write_protect[3]: sector 2 is listed twice",
            "39:31: protection.write_protect[4]: sector 3 holds layout.counter, which the "
            "bootloader rewrites on updates; remove it",
            "39:34: protection.write_protect[5]: sector 24 does not exist; this 2048 KB chip "
            "has sectors 0 to 23");
    INVALID("remote.yaml", MUT("remote: 127.0.0.1:3333", "remote: localhost"),
            "13:5: probe.gdb.remote: \"localhost\" has no port; write HOST:PORT "
            "(127.0.0.1:3333) or a serial device (/dev/ttyACM0)");
    INVALID("nogdb.yaml", MUT("  gdb:\n    remote: 127.0.0.1:3333\n", ""),
            "11:3: probe.backend: gdb needs a probe.gdb section; add probe.gdb.remote "
            "(HOST:PORT or a serial device)");
    INVALID("sram.yaml", MUT("sram_base: 0x20000000", "sram_base: 0x2002E000"),
            "16:3: stub.sram_base: 0x2002E000 leaves 8192 bytes of SRAM; the stub needs 32768 "
            "(highest base 0x20028000)");
    INVALID("sha.yaml", MUT("  image: boot.bin\n", "  image: boot.bin\n  sha256: 12ab\n"),
            "19:3: bootloader.sha256: has 4 hex digits; a SHA-256 has 64 (sha256sum prints it)");
    INVALID("batch.yaml", MUT("batch: w-001", "batch: w 001"),
            "3:1: batch: \"w 001\" contains ' '; a batch name is 1 to 63 of A-Z a-z 0-9 . _ - "
            "(it names ledger rows and files)");
    INVALID("quota.yaml", MUT("quota: 10", "quota: 0"),
            "4:1: quota: 0 allows no device; set how many devices this batch may provision");
    INVALID("format.yaml", MUT("format: 1", "format: 2"),
            "1:1: format: 2 is not a recipe format this provision reads; it reads format 1");
}

static void test_missing_fields(void **state)
{
    (void)state;
    INVALID("missing.yaml",
            MUT("quota: 10\n", "", "  part: STM32F427VIT6\n", "",
                "keys:\n  token: t\n  master_key: m\n  noise_static_key: n\n  image_signing_key: "
                "s\n",
                ""),
            "1:1: keys: required but missing; add a top-level \"keys:\"",
            "1:1: quota: required but missing; add a top-level \"quota:\"",
            "4:1: chip.part: required but missing; add \"part:\" under chip");
    INVALID("noval.yaml", MUT("layout:\n", "layout:\nextra:\n"),
            "19:1: layout: has no value; expected a mapping with keys bootloader, key_slot, "
            "counter, application",
            "20:1: extra: unknown key; the top-level keys are format, product, batch, chip, "
            "probe, stub, bootloader, application, layout, keys, protection, power, quota, "
            "device_data");
}

/* Shape and value errors of one file, all in one run, in file order. */
static void test_all_errors_in_one_run(void **state)
{
    (void)state;
    INVALID("many.yaml",
            MUT("device_id: 0x419", "device_id: 0x413", "backend: gdb", "backend: jtag",
                "    address: 0x08008000", "    address: 0x08009000", "size: 0x4000",
                "size: 0x3000", "    address: 0x0800C000", "    adress: 0x0800C000", "rdp_level: 2",
                "rdp_level: 5", "  image_signing_key: s\n",
                "  image_signing_key: s\n  extra_key: 1\n"),
            "8:3: chip.device_id: 0x413 is not the DEV_ID of STM32F427 (0x419)",
            "11:3: probe.backend: \"jtag\" is not one of openocd, gdb or cmsis-dap",
            "24:5: layout.key_slot.address: 0x08009000 is not the start of a flash sector "
            "(sector 2 starts at 0x08008000)",
            "26:3: layout.counter.address: required but missing; add \"address:\" under "
            "layout.counter",
            "27:5: layout.counter.adress: unknown key; did you mean \"address\"?",
            "37:3: keys.extra_key: unknown key; the keys of keys are token, master_key, "
            "noise_static_key, image_signing_key, audit_key, at_rest_key, key_id, key_version",
            "39:3: protection.rdp_level: 5 is not a readout protection level; use 0 (none), 1 "
            "(debugger cannot read flash) or 2 (debug port closed for good)");
}

/* keys.at_rest_key names the image-sealing key; without it the label is derived from the master
 * key's, as `provision keys init` creates it. */
static void test_at_rest_key_label(void **state)
{
    (void)state;
    const char *const with[] = {"  master_key: m\n", "  master_key: m\n  at_rest_key: seal-2026\n",
                                NULL};
    const char *texts[2] = {base, NULL};
    char *m = mutate(with);
    texts[1] = m;
    const char *want[2] = {"m" PV_KEYS_AT_REST_SUFFIX, "seal-2026"};
    for (int i = 0; i < 2; i++) {
        pv_recipe *r = malloc(sizeof *r);
        pv_recipe_diags d;
        assert_non_null(r);
        assert_int_equal(pv_recipe_parse("t.yaml", texts[i], strlen(texts[i]), 0, r, &d), 0);
        pv_recipe_diags_free(&d);
        struct pv_keys_config k;
        char err[256];
        assert_int_equal(pv_keys_config_init(&k, r, NULL, NULL, 1, err, sizeof err), 0);
        assert_string_equal(k.cfg.at_rest_label, want[i]);
        pv_keys_config_wipe(&k);
        free(r);
    }
    free(m);
}

static void test_syntax_and_document_errors(void **state)
{
    (void)state;
    expect_diags("indent.yaml", "chip:\n  family: stm32f4\n part: x\n", 0, PV_RECIPE_INVALID,
                 WANT("3:2: YAML syntax error: did not find expected key while parsing a block "
                      "mapping (line 1)"));
    expect_diags("empty.yaml", "# nothing\n", 0, PV_RECIPE_INVALID,
                 WANT("1:1: the recipe is empty; docs/recipes.md shows a complete one"));
    expect_diags("scalar.yaml", "hello\n", 0, PV_RECIPE_INVALID,
                 WANT("1:1: a recipe is a mapping of keys (product:, batch:, chip: ...), found "
                      "\"hello\""));
    expect_diags("two.yaml", "format: 1\n---\nformat: 1\n", 0, PV_RECIPE_INVALID,
                 WANT("2:1: a second YAML document; a recipe file holds exactly one"));
    char *t = mutate(MUT("quota: 10", "quota: &q 10", "  token: t", "  token: *q"));
    expect_diags("alias.yaml", t, 0, PV_RECIPE_INVALID,
                 WANT("33:10: YAML aliases (*q) are not allowed in recipes; write the value out"));
    free(t);
    expect_diags("utf.yaml", "product: \xff\xfe\n", 0, PV_RECIPE_INVALID,
                 WANT("1:10: not valid text: invalid leading UTF-8 octet (save the recipe as "
                      "UTF-8)"));
    pv_recipe r;
    pv_recipe_diags d;
    assert_int_equal(pv_recipe_load("/nonexistent/r.yaml", 0, &r, &d), PV_RECIPE_UNREADABLE);
    assert_int_equal(d.count, 1);
    char line[1024];
    pv_recipe_diag_format(&d, 0, line, sizeof line);
    assert_string_equal(line, "/nonexistent/r.yaml: cannot read: No such file or directory");
    pv_recipe_diags_free(&d);
}

static void test_warnings_keep_recipe_valid(void **state)
{
    (void)state;
    char *t = mutate(MUT("rdp_level: 2", "rdp_level: 1", "[0, 1, 2]", "[0, 1]"));
    expect_diags("warn.yaml", t, 0, PV_RECIPE_OK,
                 WANT("38:3: warning: protection.rdp_level: level 1 leaves the debug port open, "
                      "so the key slot can be attacked; production recipes use 2",
                      "39:3: warning: protection.write_protect: sectors 2 (layout.key_slot) are "
                      "not all write-protected; add them so the application cannot overwrite "
                      "them"));
    free(t);
}

/* --files: the images exist, fit, and match their digests. */
static void test_referenced_files(void **state)
{
    (void)state;
    char p[256];
    static uint8_t boot[0x9000];
    memset(boot, 0xA5, sizeof boot);
    snprintf(p, sizeof p, "%s/stub.bin", dir);
    write_file(p, (const char *)boot, 4096);
    snprintf(p, sizeof p, "%s/boot.bin", dir);
    write_file(p, (const char *)boot, 0x4000);
    expect_diags("files.yaml", base, PV_RECIPE_CHECK_FILES, PV_RECIPE_OK, NOTHING);

    uint8_t h[32];
    unsigned hl = 32;
    char hex[65], line[128];
    EVP_Digest(boot, 0x4000, h, &hl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(line, sizeof line, "  image: boot.bin\n  sha256: %s\n", hex);
    char *t = mutate(MUT("  image: boot.bin\n", line));
    expect_diags("sha-ok.yaml", t, PV_RECIPE_CHECK_FILES, PV_RECIPE_OK, NOTHING);
    free(t);

    snprintf(p, sizeof p, "%s/boot.bin", dir);
    write_file(p, (const char *)boot, sizeof boot); /* 36 KB: more than the 32 KB region */
    EVP_Digest(boot, sizeof boot, h, &hl, EVP_sha256(), NULL);
    char got_hex[65], want1[512], want2[512], want3[512];
    for (int i = 0; i < 32; i++)
        snprintf(got_hex + 2 * i, 3, "%02x", h[i]);
    t = mutate(MUT("  image: boot.bin\n", line, "  image: stub.bin", "  image: nothere.bin"));
    snprintf(want1, sizeof want1,
             "15:3: stub.image: %s/nothere.bin: No such file or directory (build it, or fix the "
             "path: relative paths start at the recipe's directory)",
             dir);
    snprintf(want2, sizeof want2,
             "18:3: bootloader.image: %s/boot.bin is 36864 bytes; layout.bootloader holds 32768",
             dir);
    snprintf(want3, sizeof want3,
             "19:3: bootloader.sha256: does not match %s/boot.bin (its "
             "SHA-256 is %s)",
             dir, got_hex);
    expect_diags("files-bad.yaml", t, PV_RECIPE_CHECK_FILES, PV_RECIPE_INVALID,
                 WANT(want1, want2, want3));
    /* Without --files the same recipe is valid: the files are the build's business. */
    expect_diags("files-bad2.yaml", t, 0, PV_RECIPE_OK, NOTHING);
    free(t);
}

/* ---- OpenOCD commands: only the allow-list reaches OpenOCD ---- */

static void expect_cmd_ok(const char *cmd)
{
    size_t at;
    char why[512];
    if (pv_recipe_openocd_command_check(cmd, &at, why, sizeof why) != 0)
        fail_msg("refused \"%s\" at %zu: %s", cmd, at, why);
}

/* Refused at the byte where needle_at first occurs in cmd, with why containing msg. */
static void expect_cmd_refused(const char *cmd, const char *needle_at, const char *msg)
{
    size_t at = 12345;
    char why[512];
    if (pv_recipe_openocd_command_check(cmd, &at, why, sizeof why) == 0)
        fail_msg("accepted \"%s\"", cmd);
    const char *want = strstr(cmd, needle_at);
    assert_non_null(want);
    if (at != (size_t)(want - cmd) || !strstr(why, msg))
        fail_msg("\"%s\": refused at %zu (want %zu, \"%s\") with \"%s\" (want \"%s\")", cmd, at,
                 (size_t)(want - cmd), needle_at, why, msg);
}

static void test_openocd_commands(void **state)
{
    (void)state;
    /* what the shipped recipes, tools/demo.sh and the tests use, and harmless settings */
    static const char *const ok[] = {
        "stm32f4x.cpu configure -event reset-start {}",
        "stm32f4x.cpu configure -event reset-init {}",
        "stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; mww 0x40023C00 "
        "0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; mmw 0x40023808 0x00001000 0; mmw "
        "0x40023808 0x00000002 0 }",
        "stm32f4x.cpu configure -event reset-init {\n  mww 0x40023C00 0x102\n  sleep 10\n}",
        "stm32f4x.cpu configure -event reset-init \"mww 0x40023C00 0x102; sleep 1\"",
        "stm32f4x.cpu configure -work-area-phys 0x20000000 -work-area-size 0x10000 "
        "-work-area-backup 0",
        "adapter driver remote_bitbang",
        "remote_bitbang host 127.0.0.1",
        "remote_bitbang port 3335",
        "adapter speed 4000",
        "adapter serial 0669FF555052836687084030",
        "adapter srst delay 100",
        "transport select jtag",
        "reset_config srst_only srst_nogate",
        "cortex_m reset_config sysresetreq",
        "mdw 0xE0042000",
        "sleep 10",
        "mww 0x20000000 1; mww 0x20000004 2",
        "",
        "   ",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect_cmd_ok(ok[i]);

    expect_cmd_refused("exec sh -c {id > /tmp/pwned}", "exec",
                       "\"exec\" is not an OpenOCD "
                       "command a recipe may run (it "
                       "runs host programs)");
    expect_cmd_refused("mww 0x20000000 [exec id]", "[", "'[': command substitution");
    expect_cmd_refused("mww 0x20000000 \"[exec id]\"", "[", "command substitution");
    expect_cmd_refused("stm32f4x.cpu configure -event reset-init { mww 0x40023C00 0x102; sleep "
                       "10; exec sh -c id }",
                       "exec", "\"exec\" is not");
    expect_cmd_refused("stm32f4x.cpu configure -event reset-init \"exec ls\"", "exec",
                       "\"exec\" is not");
    expect_cmd_refused("stm32f4x.cpu configure -event reset-init {stm32f4x.cpu configure -event "
                       "halted {sleep 1\nexec ls}}",
                       "exec", "\"exec\" is not");
    expect_cmd_refused("mww 0x20000000 0;exec ls", "exec", "\"exec\" is not");
    expect_cmd_refused("mww 0x20000000 0\nexec ls", "exec", "\"exec\" is not");
    expect_cmd_refused("eval exec ls", "eval", "runs a script built at run time");
    expect_cmd_refused("source /tmp/x.tcl", "source", "runs the commands of another file");
    expect_cmd_refused("proc mww {} {}", "proc", "defines new commands");
    expect_cmd_refused("open |id", "open", "pipes to programs");
    expect_cmd_refused("tcl_port 6666", "tcl_port", "runs any command");
    expect_cmd_refused("{*}{exec ls}", "{*}", "{*}: argument expansion is not allowed");
    expect_cmd_refused("$_TARGETNAME configure -event reset-init {}", "$", "variables are not");
    expect_cmd_refused("exe\\x63 ls", "\\", "backslash escapes are not allowed");
    expect_cmd_refused("# exec ls", "#", "a Tcl comment");
    expect_cmd_refused("mww 1 2 {exec ls}", "{exec", "without braces");
    expect_cmd_refused("adapter list", "list", "\"adapter list\" is not an OpenOCD command");
    expect_cmd_refused("stm32f4x.cpu invoke-event reset-init", "invoke-event",
                       "may only configure a target");
    expect_cmd_refused("stm32f4x.cpu configure -defer-examine", "-defer-examine",
                       "may set only -event");
    expect_cmd_refused("stm32f4x.cpu configure -event reset-init {mww 1 2", "{mww",
                       "has no matching '}'");
    expect_cmd_refused("mww 1\"2\" 3", "\"", "inside a word");
    expect_cmd_refused("mww {1}x 3", "x", "right after a closing brace");
    expect_cmd_refused("mww 1 2\x01", "\x01", "control character 0x01");
}

/* Recipe check: each refused command at its file:line:column, in its field. */
static void test_openocd_commands_in_recipe(void **state)
{
    (void)state;
    static const char probe[] =
        "  backend: openocd\n"                                                        /* 11 */
        "  openocd:\n"                                                                /* 12 */
        "    target: target/stm32f4x.cfg\n"                                           /* 13 */
        "    commands:\n"                                                             /* 14 */
        "      - \"stm32f4x.cpu configure -event reset-init { mww 0x40023C00 0x102; " /* 15 */
        "sleep 10; exec sh -c id }\"\n"
        "      - mww 0x20000000 [exec id]\n"     /* 16 */
        "      - 'mww 0x1 \"[exec id]\"'\n"      /* 17 */
        "      - \"mww 0x20000000 0;exec ls\"\n" /* 18 */
        "      - eval exec ls\n"                 /* 19 */
        "      - source /tmp/x.tcl\n"            /* 20 */
        "      - proc mww {} {}\n"               /* 21 */
        "      - \"mww\\x20 [x]\"\n"             /* 22: a YAML escape: the item's place */
        "      - adapter speed 1000\n"           /* 23 */
        "  gdb:\n"
        "    remote: 127.0.0.1:3333\n";
    char *t = mutate(MUT("  backend: gdb\n  gdb:\n    remote: 127.0.0.1:3333\n", probe));
    char path[256];
    snprintf(path, sizeof path, "%s/exec.yaml", dir);
    write_file(path, t, strlen(t));
    free(t);
    static const char *const want[] = {
        "15:85: probe.openocd.commands[0]: \"exec\" is not an OpenOCD command a recipe may run "
        "(it runs host programs); remove it",
        "16:24: probe.openocd.commands[1]: '[': command substitution is not allowed",
        "17:19: probe.openocd.commands[2]: '[': command substitution is not allowed",
        "18:27: probe.openocd.commands[3]: \"exec\" is not an OpenOCD command",
        "19:9: probe.openocd.commands[4]: \"eval\" is not an OpenOCD command",
        "20:9: probe.openocd.commands[5]: \"source\" is not an OpenOCD command",
        "21:9: probe.openocd.commands[6]: \"proc\" is not an OpenOCD command",
        "22:9: probe.openocd.commands[7]: '[': command substitution",
    };
    size_t n = sizeof want / sizeof want[0];
    pv_recipe *r = malloc(sizeof *r);
    pv_recipe_diags d;
    assert_int_equal(pv_recipe_load(path, 0, r, &d), PV_RECIPE_INVALID);
    if (d.count != n) {
        pv_recipe_diags_print(stderr, &d);
        fail_msg("%zu diagnostics, want %zu", d.count, n);
    }
    for (size_t i = 0; i < n; i++) {
        char line[2048];
        pv_recipe_diag_format(&d, i, line, sizeof line);
        const char *rest = line + strlen(path) + 1;
        if (strncmp(line, path, strlen(path)) != 0 || strncmp(rest, want[i], strlen(want[i])))
            fail_msg("diagnostic %zu:\n  %s\nwant it to start with\n  %s", i, rest, want[i]);
    }
    pv_recipe_diags_free(&d);
    free(r);

    /* end to end: `provision recipe check` exits 1 and says where */
    char want_err[512];
    snprintf(want_err, sizeof want_err,
             "%s:15:85: probe.openocd.commands[0]: \"exec\" is not an OpenOCD command", path);
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    static char o[8192], e[16384];
    int st = sp_run_capture(prov, (const char *const[]){"recipe", "check", path, NULL}, err_path, o,
                            sizeof o, e, sizeof e);
    if (st != 1 || !strstr(e, want_err) || !strstr(e, "exec.yaml: not valid: 8 errors"))
        fail_msg("exit %d (want 1); stderr lacks \"%s\":\n%s", st, want_err, e);
}

/* Every shipped recipe (each .yaml in recipes/) is still valid, and so is tools/demo.sh's station
 * config; a station config with a refused command is refused with its file and place. */
/* An OpenOCD configuration file the recipe ships (./FILE) is Tcl OpenOCD runs: the same
 * allow-list applies to it, with its file:line; the shipped adapter file passes; a name in
 * OpenOCD's scripts with ".." is refused (it could reach any file). */
static void test_openocd_config_files(void **state)
{
    (void)state;
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/evil.cfg", dir);
    static const char evil[] = "# looks like an adapter file\n"
                               "adapter driver remote_bitbang\n"
                               "exec touch /tmp/pwned\n";
    write_file(cfg, evil, strlen(evil));
    snprintf(cfg, sizeof cfg, "%s/good.cfg", dir);
    static const char good[] = "# the sim as an adapter\n"
                               "adapter driver remote_bitbang\n"
                               "remote_bitbang host 127.0.0.1\n";
    write_file(cfg, good, strlen(good));
    static const char *const cases[][2] = {
        {"    interface: ./evil.cfg\n", "evil.cfg:3: \"exec\" is not an OpenOCD command"},
        {"    interface: ../../x/y.cfg/../../etc/passwd\n", NULL},
        {"    interface: interface/../../../../tmp/evil.cfg\n", "may not contain \"..\""},
        {"    interface: ./good.cfg\n", ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char probe[512];
        snprintf(probe, sizeof probe,
                 "  backend: openocd\n  openocd:\n%s    target: target/stm32f4x.cfg\n"
                 "  gdb:\n    remote: 127.0.0.1:3333\n",
                 cases[k][0]);
        char *t = mutate(MUT("  backend: gdb\n  gdb:\n    remote: 127.0.0.1:3333\n", probe));
        char path[256];
        snprintf(path, sizeof path, "%s/cfg%zu.yaml", dir, k);
        write_file(path, t, strlen(t));
        free(t);
        pv_recipe *r = malloc(sizeof *r);
        pv_recipe_diags d;
        int rc = pv_recipe_load(path, 0, r, &d);
        char all[4096] = "";
        size_t used = 0;
        for (size_t i = 0; i < d.count && used < sizeof all; i++) {
            char line[1024];
            pv_recipe_diag_format(&d, i, line, sizeof line);
            used += (size_t)snprintf(all + used, sizeof all - used, "%s\n", line);
        }
        if (cases[k][1] && !cases[k][1][0]) {
            if (rc != PV_RECIPE_OK)
                fail_msg("%s refused:\n%s", cases[k][0], all);
        } else {
            if (rc != PV_RECIPE_INVALID || !strstr(all, "probe.openocd.interface"))
                fail_msg("%s accepted (rc %d):\n%s", cases[k][0], rc, all);
            if (cases[k][1] && !strstr(all, cases[k][1]))
                fail_msg("%s: want \"%s\" in:\n%s", cases[k][0], cases[k][1], all);
        }
        pv_recipe_diags_free(&d);
        free(r);
    }
}

static void test_openocd_commands_shipped_and_station(void **state)
{
    (void)state;
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%.*s/*.yaml", (int)(strrchr(demo, '/') - demo), demo);
    glob_t g;
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 1);
    pv_recipe *r = malloc(sizeof *r);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        pv_recipe_diags d;
        int rc = pv_recipe_load(g.gl_pathv[i], 0, r, &d);
        if (rc != PV_RECIPE_OK) {
            pv_recipe_diags_print(stderr, &d);
            fail_msg("%s: not valid", g.gl_pathv[i]);
        }
        pv_recipe_diags_free(&d);
    }
    globfree(&g);
    free(r);

    static const char station[] =
        "bridge: {url: \"https://127.0.0.1:8443\", ca: ca.crt}\n"
        "cert: station.crt\n"
        "key: station.key\n"
        "product: pv-demo-sensor\n"
        "batch: demo-001\n"
        "probe:\n"
        "  target: openocd\n"
        "  openocd:\n"
        "    interface: adapter.cfg\n"
        "    target: target/stm32f4x.cfg\n"
        "    commands:\n"
        "      - \"stm32f4x.cpu configure -event reset-start {}\"\n"
        "      - \"stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; mww "
        "0x40023C00 0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; mmw 0x40023808 "
        "0x00001000 0; mmw 0x40023808 0x00000002 0 }\"\n";
    char path[256], err[1024];
    snprintf(path, sizeof path, "%s/station.yaml", dir);
    write_file(path, station, strlen(station));
    struct pv_station_config *c = malloc(sizeof *c);
    if (pv_station_config_load(path, c, err, sizeof err) != 0)
        fail_msg("demo station config refused: %s", err);
    assert_int_equal(c->n_ocd_commands, 2);

    const char *ev = strstr(station, "reset-start {}");
    char bad[sizeof station + 16];
    snprintf(bad, sizeof bad, "%.*sreset-start {exec ls}%s", (int)(ev - station), station,
             ev + strlen("reset-start {}"));
    write_file(path, bad, strlen(bad));
    assert_int_equal(pv_station_config_load(path, c, err, sizeof err), -1);
    char want[512];
    snprintf(want, sizeof want,
             "station config %s:12:9: probe.openocd.commands[0]: \"exec\" is not an OpenOCD "
             "command",
             path);
    if (!strstr(err, want))
        fail_msg("got: %s\nwant: %s", err, want);

    /* a FIFO as the station config: refused at once */
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/station.fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(pv_station_config_load(fifo, c, err, sizeof err), -1);
    snprintf(want, sizeof want, "station config %s: is a FIFO (named pipe), not a regular file",
             fifo);
    assert_string_equal(err, want);
    free(c);
}

/* Files that are not regular files: refused at once by name and type, never read (a FIFO would
 * block the reader, /dev/zero never ends). */
static void test_not_regular_files(void **state)
{
    (void)state;
    char fifo[256], p[256], want[1024];
    snprintf(fifo, sizeof fifo, "%s/image.fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    static uint8_t boot[0x4000];
    snprintf(p, sizeof p, "%s/boot.bin", dir);
    write_file(p, (const char *)boot, sizeof boot);

    /* the recipe itself */
    pv_recipe *r = malloc(sizeof *r);
    pv_recipe_diags d;
    assert_int_equal(pv_recipe_load(fifo, 0, r, &d), PV_RECIPE_UNREADABLE);
    char line[1024];
    pv_recipe_diag_format(&d, 0, line, sizeof line);
    snprintf(want, sizeof want,
             "%s: cannot read: is a FIFO (named pipe), not a regular file; a recipe is a YAML "
             "file",
             fifo);
    assert_string_equal(line, want);
    pv_recipe_diags_free(&d);
    assert_int_equal(pv_recipe_load("/dev/zero", 0, r, &d), PV_RECIPE_UNREADABLE);
    pv_recipe_diag_format(&d, 0, line, sizeof line);
    assert_string_equal(line, "/dev/zero: cannot read: is a character device, not a regular "
                              "file; a recipe is a YAML file");
    pv_recipe_diags_free(&d);
    assert_int_equal(pv_recipe_load(dir, 0, r, &d), PV_RECIPE_UNREADABLE);
    pv_recipe_diag_format(&d, 0, line, sizeof line);
    assert_non_null(strstr(line, "cannot read: is a directory, not a regular file"));
    pv_recipe_diags_free(&d);
    free(r);

    /* the images it names (--files) */
    char *t =
        mutate(MUT("image: stub.bin", "image: image.fifo", "image: boot.bin", "image: /dev/zero"));
    char w1[512], w2[512];
    snprintf(w1, sizeof w1,
             "15:3: stub.image: %s: is a FIFO (named pipe), not a regular file; name the image "
             "file itself",
             fifo);
    snprintf(w2, sizeof w2,
             "18:3: bootloader.image: /dev/zero: is a character device, not a regular file; name "
             "the image file itself");
    expect_diags("fifo-images.yaml", t, PV_RECIPE_CHECK_FILES, PV_RECIPE_INVALID, WANT(w1, w2));
    free(t);
    t = mutate(MUT("image: stub.bin", "image: ."));
    snprintf(w1, sizeof w1,
             "15:3: stub.image: %s/.: is a directory, not a regular file; name the image file "
             "itself",
             dir);
    expect_diags("dir-image.yaml", t, PV_RECIPE_CHECK_FILES, PV_RECIPE_INVALID, WANT(w1));
    free(t);

    /* the command line returns at once with the reason */
    t = mutate(MUT("image: stub.bin", "image: image.fifo"));
    snprintf(p, sizeof p, "%s/cli-fifo.yaml", dir);
    write_file(p, t, strlen(t));
    free(t);
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    static char o[8192], e[8192];
    uint64_t t0 = sp_now_ms();
    int st = sp_run_capture(prov, (const char *const[]){"recipe", "check", "--files", p, NULL},
                            err_path, o, sizeof o, e, sizeof e);
    snprintf(want, sizeof want, "%s:15:3: stub.image: %s: is a FIFO (named pipe)", p, fifo);
    if (st != 1 || !strstr(e, want))
        fail_msg("exit %d (want 1); stderr lacks \"%s\":\n%s", st, want, e);
    st = sp_run_capture(prov, (const char *const[]){"recipe", "check", fifo, NULL}, err_path, o,
                        sizeof o, e, sizeof e);
    snprintf(want, sizeof want, "%s: cannot read: is a FIFO (named pipe)", fifo);
    if (st != 3 || !strstr(e, want))
        fail_msg("exit %d (want 3); stderr lacks \"%s\":\n%s", st, want, e);
    uint64_t ms = sp_now_ms() - t0;
    if (ms > 10000)
        fail_msg("the checks on a FIFO took %llu ms", (unsigned long long)ms);
}

/* ---- the command line ---- */

static char out[65536], errbuf[16384];

static int provision(const char *const *args)
{
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    int st = sp_run_capture(prov, args, err_path, out, sizeof out, errbuf, sizeof errbuf);
    assert_true(st >= 0);
    return st;
}

#define RUN(...) provision((const char *const[]){__VA_ARGS__, NULL})

static void expect(int got, int want, const char *in_out, const char *in_err)
{
    if (got != want || (in_out && !strstr(out, in_out)) || (in_err && !strstr(errbuf, in_err)))
        fail_msg("exit %d (want %d)\nstdout (want '%s'):\n%s\nstderr (want '%s'):\n%s", got, want,
                 in_out ? in_out : "", out, in_err ? in_err : "", errbuf);
}

static void test_cli(void **state)
{
    (void)state;
    char bad[256], good[256], warn[256];
    snprintf(good, sizeof good, "%s/cli-good.yaml", dir);
    write_file(good, base, strlen(base));
    snprintf(bad, sizeof bad, "%s/cli-bad.yaml", dir);
    char *t = mutate(MUT("rdp_level: 2", "rdp_level: 7", "backend: gdb", "backend: gbd"));
    write_file(bad, t, strlen(t));
    free(t);
    snprintf(warn, sizeof warn, "%s/cli-warn.yaml", dir);
    t = mutate(MUT("rdp_level: 2", "rdp_level: 0"));
    write_file(warn, t, strlen(t));
    free(t);

    expect(RUN("recipe", "check", demo), 0, ": valid", NULL);
    expect(RUN("recipe", "check", good, warn), 0, "cli-warn.yaml: valid, 1 warning",
           "cli-warn.yaml:38:3: warning: protection.rdp_level: level 0");
    /* All errors on stderr, each with file:line:column. */
    expect(RUN("recipe", "check", bad), 1, NULL, "cli-bad.yaml: not valid: 2 errors");
    char want[1024];
    snprintf(want, sizeof want,
             "%s:11:3: probe.backend: \"gbd\" is not one of openocd, gdb or cmsis-dap; did you "
             "mean \"gdb\"?\n%s:38:3: protection.rdp_level: 7 is not",
             bad, bad);
    expect(1, 1, NULL, want);
    /* Several files: one bad one makes the run fail, the good ones still print. */
    expect(RUN("recipe", "check", good, bad), 1, "cli-good.yaml: valid", "cli-bad.yaml:11:3:");
    expect(RUN("recipe", "check", good, "/nonexistent/x.yaml", bad), 3, NULL,
           "/nonexistent/x.yaml: cannot read: No such file or directory");
    expect(RUN("recipe", "check"), 2, NULL, "check needs at least one FILE");
    expect(RUN("recipe", "lint", good), 2, NULL, "unknown subcommand lint");
    expect(RUN("recipe", "check", "--bogus", good), 2, NULL, "unknown option --bogus");
    expect(RUN("recipe", "--help"), 0, "provision recipe check", NULL);
    char files[256];
    snprintf(files, sizeof files, "%s/cli-files.yaml", dir);
    t = mutate(MUT("image: stub.bin", "image: cli-no-stub.bin"));
    write_file(files, t, strlen(t));
    free(t);
    expect(RUN("recipe", "check", files), 0, "cli-files.yaml: valid", NULL);
    expect(RUN("recipe", "check", "--files", files), 1, NULL, "cli-files.yaml:15:3: stub.image: ");
    assert_non_null(strstr(errbuf, "cli-no-stub.bin: No such file or directory"));

    expect(RUN("recipe", "show", demo), 0, "key slot    0x08008000..0x0800BFFF     16 KB  sector 2",
           NULL);
    assert_non_null(strstr(out, "protection   RDP level 2, write-protected sectors: 0, 1, 2"));
    expect(RUN("recipe", "show", "--json", demo), 0, NULL, NULL);
    json_error_t jerr;
    json_t *o = json_loads(out, 0, &jerr);
    if (!o)
        fail_msg("not JSON (%s):\n%s", jerr.text, out);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "chip"), "device_id")),
                     0x419);
    json_t *ks = json_object_get(json_object_get(o, "layout"), "key_slot");
    assert_int_equal(json_integer_value(json_object_get(ks, "address")), 0x08008000);
    assert_int_equal(json_integer_value(json_object_get(ks, "first_sector")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "probe"), "backend")),
                        "openocd");
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(o, "protection"), "write_protect")), 3);
    json_decref(o);
    expect(RUN("recipe", "show", bad), 1, NULL, "cli-bad.yaml:38:3:");
    expect(RUN("recipe", "show", good, bad), 2, NULL, "show takes exactly one FILE");
}

static int setup(void **state)
{
    (void)state;
    if (!sp_host_bin(prov, sizeof prov, "provision"))
        fail_msg("%s is not built (make all)", prov);
    /* The demo recipe: from the working directory (make test runs at the top), else from the
     * build directory's parent (the default build/ layout). */
    snprintf(demo, sizeof demo, "recipes/demo-stm32f427.yaml");
    if (access(demo, R_OK) != 0) {
        char exe[2048];
        assert_true(sp_host_dir(exe, sizeof exe)); /* .../host */
        *strrchr(exe, '/') = 0;                    /* .../build */
        *strrchr(exe, '/') = 0;                    /* the repository */
        snprintf(demo, sizeof demo, "%s/recipes/demo-stm32f427.yaml", exe);
    }
    if (access(demo, R_OK) != 0)
        fail_msg("cannot find recipes/demo-stm32f427.yaml (run from the repository)");
    assert_true(sp_make_tmpdir(dir, sizeof dir, "test_recipe"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return sp_remove_tmpdir(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(sp_watchdog_seconds(85));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_recipe),
        cmocka_unit_test(test_power_parallelism),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_unknown_and_duplicate_keys),
        cmocka_unit_test(test_layout_errors),
        cmocka_unit_test(test_chip_probe_protection_errors),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_all_errors_in_one_run),
        cmocka_unit_test(test_at_rest_key_label),
        cmocka_unit_test(test_syntax_and_document_errors),
        cmocka_unit_test(test_warnings_keep_recipe_valid),
        cmocka_unit_test(test_referenced_files),
        cmocka_unit_test(test_not_regular_files),
        cmocka_unit_test(test_openocd_commands),
        cmocka_unit_test(test_openocd_commands_in_recipe),
        cmocka_unit_test(test_openocd_commands_shipped_and_station),
        cmocka_unit_test(test_openocd_config_files),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
