/* `provision recipe show`: the recipe as the tool resolved it (paths from the recipe's
 * directory, defaults filled in, sectors of each region), for people or as JSON. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "recipe.h"

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void sectors(const pv_recipe *r, uint32_t a, uint32_t s, char *out, size_t len)
{
    unsigned f, l;
    if (pv_recipe_region_sectors(r, a, s, &f, &l) != 0)
        snprintf(out, len, "-");
    else if (f == l)
        snprintf(out, len, "sector %u", f);
    else
        snprintf(out, len, "sectors %u-%u", f, l);
}

static void wrp_list(const pv_recipe *r, char *out, size_t len)
{
    size_t used = 0;
    out[0] = 0;
    for (unsigned i = 0; i < 32 && used < len; i++)
        if (r->protection.write_protect & (1u << i)) {
            int w = snprintf(out + used, len - used, "%s%u", used ? ", " : "", i);
            if (w > 0)
                used += (size_t)w;
        }
    if (!used)
        snprintf(out, len, "none");
}

static const struct {
    const char *name, *label;
    size_t a, s;
} regions[] = {
    {"bootloader", "bootloader", offsetof(pv_layout, boot_addr), offsetof(pv_layout, boot_size)},
    {"key_slot", "key slot", offsetof(pv_layout, keyslot_addr), offsetof(pv_layout, keyslot_size)},
    {"counter", "counter", offsetof(pv_layout, counter_addr), offsetof(pv_layout, counter_size)},
    {"application", "application", offsetof(pv_layout, app_addr), offsetof(pv_layout, app_size)},
};

static void region(const pv_recipe *r, size_t i, uint32_t *a, uint32_t *s)
{
    memcpy(a, (const char *)&r->layout + regions[i].a, 4);
    memcpy(s, (const char *)&r->layout + regions[i].s, 4);
}

void pv_recipe_print(FILE *out, const pv_recipe *r)
{
    char h[65], buf[256];
    hex(h, r->digest, 32);
    fprintf(out, "recipe       %s (%s, format %u)\n", r->name, r->file, r->format);
    fprintf(out, "digest       sha256:%s\n", h);
    fprintf(out, "product      %s\n", r->product);
    fprintf(out, "batch        %s (quota %u devices)\n", r->batch, r->quota);
    fprintf(out, "chip         %s %s, DEV_ID 0x%03X, %u KB flash in %u sectors, %u KB SRAM\n",
            r->chip.family, r->chip.part, r->chip.device_id, r->chip.flash_kb, r->chip.n_sectors,
            r->chip.sram_kb);
    fprintf(out, "probe        %s\n", pv_probe_backend_name(r->probe.backend));
    if (r->probe.openocd.target[0]) {
        fprintf(out, "  openocd    interface %s, target %s\n",
                r->probe.openocd.interface[0] ? r->probe.openocd.interface : "(from commands)",
                r->probe.openocd.target);
        for (unsigned i = 0; i < r->probe.openocd.n_commands; i++)
            fprintf(out, "             -c %s\n", r->probe.openocd.commands[i]);
        if (r->probe.openocd.attach[0])
            fprintf(out, "             attach to %s\n", r->probe.openocd.attach);
    }
    if (r->probe.gdb.remote[0])
        fprintf(out, "  gdb        %s\n", r->probe.gdb.remote);
    if (r->probe.backend == PV_PROBE_CMSIS_DAP || r->probe.cmsis_dap.serial[0])
        fprintf(out, "  cmsis-dap  serial %s\n",
                r->probe.cmsis_dap.serial[0] ? r->probe.cmsis_dap.serial : "(any)");
    fprintf(out, "stub         %s at 0x%08X\n", r->stub.image, r->stub.sram_base);
    hex(h, r->bootloader.sha256, 32);
    fprintf(out, "bootloader   %s%s%s\n", r->bootloader.image,
            r->bootloader.has_sha256 ? ", sha256:" : "", r->bootloader.has_sha256 ? h : "");
    if (r->application.present) {
        hex(h, r->application.sha256, 32);
        fprintf(out, "application  %s%s%s\n", r->application.image,
                r->application.has_sha256 ? ", sha256:" : "", r->application.has_sha256 ? h : "");
    } else
        fprintf(out, "application  (none)\n");
    fprintf(out, "layout\n");
    for (size_t i = 0; i < 4; i++) {
        uint32_t a, s;
        region(r, i, &a, &s);
        sectors(r, a, s, buf, sizeof buf);
        fprintf(out, "  %-11s 0x%08X..0x%08X  %5u KB  %s\n", regions[i].label, a, a + s - 1,
                s / 1024u, buf);
    }
    fprintf(out, "keys         token %s, key id %u version %u\n", r->keys.token, r->keys.key_id,
            r->keys.key_version);
    fprintf(out, "  master     %s\n", r->keys.master_key);
    fprintf(out, "  noise      %s\n", r->keys.noise_static_key);
    fprintf(out, "  signing    %s\n", r->keys.image_signing_key);
    if (r->keys.audit_key[0])
        fprintf(out, "  audit      %s\n", r->keys.audit_key);
    if (r->keys.at_rest_key[0])
        fprintf(out, "  at rest    %s\n", r->keys.at_rest_key);
    wrp_list(r, buf, sizeof buf);
    fprintf(out, "protection   RDP level %u, write-protected sectors: %s\n",
            r->protection.rdp_level, buf);
    fprintf(out, "power        VDD %u.%02u-%u.%02u V%s%s: program/erase at x%u\n",
            r->power.vdd_min_mv / 1000, r->power.vdd_min_mv % 1000 / 10, r->power.vdd_max_mv / 1000,
            r->power.vdd_max_mv % 1000 / 10, r->power.vpp ? ", VPP" : "",
            r->power.declared ? "" : " (default)", 8u << r->power.psize);
}

static json_t *str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static json_t *sha_or_null(int has, const uint8_t *d)
{
    char h[65];
    if (!has)
        return json_null();
    hex(h, d, 32);
    return json_string(h);
}

int pv_recipe_print_json(FILE *out, const pv_recipe *r)
{
    char h[65];
    hex(h, r->digest, 32);
    json_t *sec = json_array();
    for (unsigned i = 0; i < r->chip.n_sectors; i++)
        json_array_append_new(sec,
                              json_pack("{s:I,s:I}", "address", (json_int_t)r->chip.sectors[i].addr,
                                        "size", (json_int_t)r->chip.sectors[i].size));
    json_t *cmds = json_array();
    for (unsigned i = 0; i < r->probe.openocd.n_commands; i++)
        json_array_append_new(cmds, json_string(r->probe.openocd.commands[i]));
    json_t *layout = json_object();
    for (size_t i = 0; i < 4; i++) {
        uint32_t a, s;
        unsigned f = 0, l = 0;
        region(r, i, &a, &s);
        int ok = pv_recipe_region_sectors(r, a, s, &f, &l) == 0;
        json_object_set_new(layout, regions[i].name,
                            json_pack("{s:I,s:I,s:o,s:o}", "address", (json_int_t)a, "size",
                                      (json_int_t)s, "first_sector",
                                      ok ? json_integer(f) : json_null(), "last_sector",
                                      ok ? json_integer(l) : json_null()));
    }
    json_t *wrp = json_array();
    for (unsigned i = 0; i < 32; i++)
        if (r->protection.write_protect & (1u << i))
            json_array_append_new(wrp, json_integer(i));
    json_t *app = r->application.present
                      ? json_pack("{s:s,s:o}", "image", r->application.image, "sha256",
                                  sha_or_null(r->application.has_sha256, r->application.sha256))
                      : json_null();
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:i,s:s,s:s,s:I,"
        "s:{s:s,s:s,s:I,s:I,s:I,s:o},"
        "s:{s:s,s:{s:o,s:s,s:o,s:o},s:{s:o},s:{s:o}},"
        "s:{s:s,s:I},s:{s:s,s:o},s:o,s:o,"
        "s:{s:s,s:s,s:s,s:s,s:o,s:o,s:I,s:I},s:{s:i,s:o},s:{s:I,s:I,s:b,s:I}}",
        "file", r->file, "name", r->name, "digest", h, "format", (int)r->format, "product",
        r->product, "batch", r->batch, "quota", (json_int_t)r->quota,
        /* chip */
        "chip", "family", r->chip.family, "part", r->chip.part, "device_id",
        (json_int_t)r->chip.device_id, "flash_kb", (json_int_t)r->chip.flash_kb, "sram_kb",
        (json_int_t)r->chip.sram_kb, "sectors", sec,
        /* probe */
        "probe", "backend", pv_probe_backend_name(r->probe.backend), "openocd", "interface",
        str_or_null(r->probe.openocd.interface), "target", r->probe.openocd.target, "commands",
        cmds, "attach", str_or_null(r->probe.openocd.attach), "gdb", "remote",
        str_or_null(r->probe.gdb.remote), "cmsis_dap", "serial",
        str_or_null(r->probe.cmsis_dap.serial),
        /* images and layout */
        "stub", "image", r->stub.image, "sram_base", (json_int_t)r->stub.sram_base, "bootloader",
        "image", r->bootloader.image, "sha256",
        sha_or_null(r->bootloader.has_sha256, r->bootloader.sha256), "application", app, "layout",
        layout,
        /* keys and protection */
        "keys", "token", r->keys.token, "master_key", r->keys.master_key, "noise_static_key",
        r->keys.noise_static_key, "image_signing_key", r->keys.image_signing_key, "audit_key",
        str_or_null(r->keys.audit_key), "at_rest_key", str_or_null(r->keys.at_rest_key), "key_id",
        (json_int_t)r->keys.key_id, "key_version", (json_int_t)r->keys.key_version, "protection",
        "rdp_level", (int)r->protection.rdp_level, "write_protect", wrp,
        /* power: the supply range and the parallelism it allows (bits per program operation) */
        "power", "vdd_min_mv", (json_int_t)r->power.vdd_min_mv, "vdd_max_mv",
        (json_int_t)r->power.vdd_max_mv, "vpp", r->power.vpp, "parallelism",
        (json_int_t)(8u << r->power.psize));
    if (!o)
        return -1;
    int rc = json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(o);
    return rc == 0 ? 0 : -1;
}
