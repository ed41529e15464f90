/* Reaching the chip (backend from --probe or the recipe) and judging its identity against the
 * recipe: shared by `provision run` and `provision info`. */
#include "station.h"

#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

/* Appends one argument for OpenOCD's spawn:ARGS, single-quoted as a POSIX shell reads it. */
static int add_arg(char *buf, size_t cap, size_t *n, const char *a)
{
    size_t need = 3;
    for (const char *s = a; *s; s++)
        need += *s == '\'' ? 4 : 1;
    if (*n + need + 1 >= cap)
        return -1;
    char *o = buf + *n;
    if (*n)
        *o++ = ' ';
    *o++ = '\'';
    for (const char *s = a; *s; s++) {
        if (*s == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else
            *o++ = *s;
    }
    *o++ = '\'';
    *o = 0;
    *n = (size_t)(o - buf);
    return 0;
}

/* spawn:ARGS from the recipe: interface config, the station's -c commands (e.g. the adapter's
 * port), the target config, then the recipe's commands. */
static int openocd_spawn_target(const pv_recipe *r, const struct pv_station_probe *sp, char *out,
                                size_t cap, char *err, size_t err_len)
{
    size_t n = 0;
    int bad = 0;
    out[0] = 0;
    if (r->probe.openocd.interface[0])
        bad |= add_arg(out, cap, &n, "-f") | add_arg(out, cap, &n, r->probe.openocd.interface);
    for (unsigned i = 0; i < sp->n_ocd_cmds; i++)
        bad |= add_arg(out, cap, &n, "-c") | add_arg(out, cap, &n, sp->ocd_cmds[i]);
    if (r->probe.openocd.target[0])
        bad |= add_arg(out, cap, &n, "-f") | add_arg(out, cap, &n, r->probe.openocd.target);
    for (unsigned i = 0; i < r->probe.openocd.n_commands; i++)
        bad |= add_arg(out, cap, &n, "-c") | add_arg(out, cap, &n, r->probe.openocd.commands[i]);
    if (bad) {
        snprintf(err, err_len, "probe: the OpenOCD command line from the recipe is too long");
        return -1;
    }
    return 0;
}

int pv_station_connect(const pv_recipe *r, const struct pv_station_probe *sp, pv_probe_link *l,
                       char *desc, size_t desc_len, char *err, size_t err_len)
{
    char target[8192]; /* the probe copies what it keeps */
    const struct pv_probe_ops *ops = NULL;
    const char *t = sp->target;
    enum pv_probe_backend be = r ? r->probe.backend : PV_PROBE_GDB;
    l->ops = NULL;
    l->p = NULL;
    target[0] = 0;
    if (t && strncmp(t, "gdb:", 4) == 0) {
        be = PV_PROBE_GDB;
        t += 4;
    } else if (t && strcmp(t, "gdb") == 0) {
        be = PV_PROBE_GDB;
        t = NULL;
    } else if (t && strncmp(t, "openocd:", 8) == 0) {
        be = PV_PROBE_OPENOCD;
        t += 8;
    } else if (t && strcmp(t, "openocd") == 0) {
        be = PV_PROBE_OPENOCD;
        t = NULL;
    } else if (t && strncmp(t, "cmsis-dap:", 10) == 0) {
        be = PV_PROBE_CMSIS_DAP;
        t += 10;
    } else if (t && strcmp(t, "cmsis-dap") == 0) {
        be = PV_PROBE_CMSIS_DAP;
        t = NULL;
    } else if (t && !r) {
        be = PV_PROBE_GDB; /* info --probe HOST:PORT without a recipe */
    }
    switch (be) {
    case PV_PROBE_GDB:
        ops = &pv_probe_gdb_ops;
        if (!t && r && r->probe.gdb.remote[0])
            t = r->probe.gdb.remote;
        if (t)
            snprintf(target, sizeof target, "%s", t);
        break;
    case PV_PROBE_OPENOCD:
        ops = &pv_probe_openocd_ops;
        if (t)
            snprintf(target, sizeof target, "%s", t);
        else if (r && r->probe.openocd.attach[0])
            snprintf(target, sizeof target, "%s", r->probe.openocd.attach);
        else if (r) {
            memcpy(target, "spawn:", 7);
            if (openocd_spawn_target(r, sp, target + 6, sizeof target - 6, err, err_len))
                return PV_PROBE_ERR_PROTOCOL;
        }
        break;
    case PV_PROBE_CMSIS_DAP:
        ops = &pv_probe_cmsisdap_ops;
        if (t)
            snprintf(target, sizeof target, "%s", t);
        else if (r && r->probe.cmsis_dap.serial[0])
            snprintf(target, sizeof target, "usb:%s", r->probe.cmsis_dap.serial);
        else
            snprintf(target, sizeof target, "usb");
        break;
    }
    if (!target[0]) {
        snprintf(err, err_len,
                 "probe: no %s target: give --probe (gdb:HOST:PORT, openocd[:HOST:PORT], "
                 "cmsis-dap:usb[:SERIAL] or cmsis-dap:tcp:HOST:PORT) or set it in the recipe",
                 pv_probe_backend_name(be));
        return PV_PROBE_ERR_PROTOCOL;
    }
    snprintf(desc, desc_len, "%s %.200s%s", ops->name,
             strncmp(target, "spawn:", 6) == 0 ? "(OpenOCD started by provision)" : target, "");
    return pv_probe_connect(l, ops, target, PV_STATION_PROBE_TIMEOUT_MS, err, err_len);
}

const char *pv_station_dev_name(uint32_t dev_id)
{
    switch (dev_id & 0xFFFu) {
    case 0x413:
        return "STM32F405/407/415/417";
    case 0x419:
        return "STM32F42x/43x";
    case 0x423:
        return "STM32F401xB/C";
    case 0x431:
        return "STM32F411";
    case 0x433:
        return "STM32F401xD/E";
    case 0x434:
        return "STM32F469/479";
    case 0x441:
        return "STM32F412";
    case 0x458:
        return "STM32F410";
    case 0x463:
        return "STM32F413/423";
    default:
        return "unknown part";
    }
}

const char *pv_station_rdp_name(uint8_t rdp)
{
    return rdp == PV_RDP_LEVEL0 ? "Level 0" : rdp == PV_RDP_LEVEL2 ? "Level 2" : "Level 1";
}

int pv_station_match(const pv_recipe *r, const struct pv_probe_ident *id, char *why, size_t len)
{
    uint32_t dev = id->dbgmcu_idcode & 0xFFFu;
    if (dev != r->chip.device_id) {
        snprintf(
            why, len,
            "wrong chip: its DEV_ID is 0x%03x (%s), recipe %s wants 0x%03x (%s, chip.device_id)"
            "; put the right part on the fixture or use the recipe for this part",
            (unsigned)dev, pv_station_dev_name(dev), r->name, (unsigned)r->chip.device_id,
            r->chip.part);
        return -1;
    }
    if (id->flash_kb != r->chip.flash_kb) {
        snprintf(
            why, len,
            "wrong chip: it has %u KB of flash, recipe %s wants %u KB (chip.flash_kb); put the "
            "right part variant on the fixture or use the recipe for this variant",
            id->flash_kb, r->name, (unsigned)r->chip.flash_kb);
        return -1;
    }
    return 0;
}

void pv_station_hex(char *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * n] = 0;
}

int pv_station_read_nwrp(const pv_probe_link *l, uint16_t flash_kb, uint32_t *nwrp)
{
    uint8_t b[4];
    int rc = l->ops->read_mem(l->p, PV_F4_FLASH_OPTCR, b, 4);
    if (rc)
        return rc;
    *nwrp = ((uint32_t)b[2] | (uint32_t)b[3] << 8) & 0xFFFu;
    if (flash_kb == 2048) {
        if ((rc = l->ops->read_mem(l->p, PV_F4_FLASH_OPTCR1, b, 4)) != 0)
            return rc;
        *nwrp |= (((uint32_t)b[2] | (uint32_t)b[3] << 8) & 0xFFFu) << 12;
    }
    return 0;
}
