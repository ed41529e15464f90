/* Fuzzing the MES values the bridge takes for a device (hsm-bridge/devdata_mes.c,
 * pv_mes_values): the station's JSON (the station is not trusted) and the line MES's files, CSV
 * and JSON, validated against a recipe's declared fields. The first byte picks the source: bit 0
 * clear, the rest is the station's JSON text; set, the rest is the MES file, JSON when bit 1 is
 * set (a name ending .json), else CSV. The fields: hw_rev (text, at most 8 characters,
 * ^[A-Z][0-9]$), trim (integer -100..100, default 0), lot (text, default "L0"), line (integer,
 * any value). Aborts when a value set is accepted that lacks a declared field or has another,
 * holds a value of the wrong type, out of range, too long or not matching its pattern, or when a
 * refusal says nothing. */
#define _GNU_SOURCE /* memfd_create */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../hsm-bridge/devdata_mes.h"
#include "fuzz_input_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char uid[] = "0123456789abcdef01234567";
static pv_devdata_spec spec;
static char dir[64], csv[96], js[96];
static regex_t hw_re;

static void cleanup(void)
{
    unlink(csv);
    unlink(js);
    rmdir(dir);
}

static void setup(const char *input)
{
    pv_mes_field_spec *f = spec.fields;
    snprintf(f[0].name, sizeof f[0].name, "hw_rev");
    f[0].type = PV_MES_TEXT, f[0].max_length = 8;
    snprintf(f[0].pattern, sizeof f[0].pattern, "^[A-Z][0-9]$");
    snprintf(f[1].name, sizeof f[1].name, "trim");
    f[1].type = PV_MES_INTEGER, f[1].min = -100, f[1].max = 100, f[1].has_default = 1;
    snprintf(f[1].default_value, sizeof f[1].default_value, "0");
    snprintf(f[2].name, sizeof f[2].name, "lot");
    f[2].type = PV_MES_TEXT, f[2].max_length = 64, f[2].has_default = 1;
    snprintf(f[2].default_value, sizeof f[2].default_value, "L0");
    snprintf(f[3].name, sizeof f[3].name, "line");
    f[3].type = PV_MES_INTEGER, f[3].min = INT64_MIN, f[3].max = INT64_MAX;
    spec.n_fields = 4;
    spec.present = 1;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/pv-fuzz-mes.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(csv, sizeof csv, "%s/mes.csv", dir);
    snprintf(js, sizeof js, "%s/mes.json", dir);
    if (symlink(input, csv) != 0 || symlink(input, js) != 0)
        abort();
    atexit(cleanup);
    if (regcomp(&hw_re, "^[A-Z][0-9]$", REG_EXTENDED | REG_NOSUB) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    static char station[65536 + 1];
    const char *input = fuzz_input_file(data + 1, size - 1);
    if (!input)
        abort();
    if (!spec.n_fields)
        setup(input);
    const char *from = NULL;
    if (data[0] & 1) {
        spec.mes_source = PV_MES_FILE;
        snprintf(spec.mes_file, sizeof spec.mes_file, "%s", data[0] & 2 ? js : csv);
    } else {
        spec.mes_source = PV_MES_STATION;
        memcpy(station, data + 1, size - 1);
        station[size - 1] = 0;
        from = station;
    }
    json_t *out = NULL;
    char why[1024] = "";
    if (pv_mes_values(&spec, uid, from, &out, why, sizeof why) != 0) {
        if (out || !why[0])
            abort();
        return 0;
    }
    if (!json_is_object(out) || json_object_size(out) != spec.n_fields)
        abort();
    json_t *hw = json_object_get(out, "hw_rev"), *trim = json_object_get(out, "trim");
    json_t *lot = json_object_get(out, "lot"), *line = json_object_get(out, "line");
    if (!json_is_string(hw) || json_string_length(hw) > 8 ||
        regexec(&hw_re, json_string_value(hw), 0, NULL, 0) != 0)
        abort();
    if (!json_is_integer(trim) || json_integer_value(trim) < -100 || json_integer_value(trim) > 100)
        abort();
    if (!json_is_string(lot) || json_string_length(lot) > 64 || !json_is_integer(line))
        abort();
    json_decref(out);
    return 0;
}
