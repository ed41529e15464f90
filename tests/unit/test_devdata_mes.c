/* What the trusted side accepts as per-device data (docs/device-data.md): the serial format
 * language (placeholders, widths, refusals with the offset), MAC text, and the MES values from a
 * CSV file, a JSON file and the station's request, each validated against the declared fields
 * (type, length, range, pattern, default); an undeclared name from the station and a missing row
 * are refused naming what. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../hsm-bridge/devdata_mes.h"
#include "../../hsm-bridge/devdata_spec.h"

#define UID "300041000f51333831343739"

static char dir[] = "/tmp/test_devdata_mes.XXXXXX";

static void test_serial_format(void **state)
{
    (void)state;
    char why[256], out[64];
    int64_t last = 0;
    assert_int_equal(pv_serial_format_check("SN-{batch}-{counter:06}", &last, why, sizeof why), 0);
    assert_int_equal(last, 999999);
    assert_int_equal(pv_serial_render("SN-{batch}-{counter:06}", "p", "b-7", 42, out, sizeof out),
                     0);
    assert_string_equal(out, "SN-b-7-000042");
    /* a value wider than the fixed width is refused, not widened */
    assert_int_equal(pv_serial_render("{counter:03}", "p", "b", 1000, out, sizeof out), -1);
    assert_int_equal(pv_serial_format_check("{{{product}}}{counter}", &last, why, sizeof why), 0);
    assert_int_equal(pv_serial_render("{{{product}}}{counter}", "pr", "b", 7, out, sizeof out), 0);
    assert_string_equal(out, "{pr}7");
    /* printf conversions are text, not directives */
    assert_int_equal(pv_serial_render("%s%n-{counter}", "p", "b", 1, out, sizeof out), 0);
    assert_string_equal(out, "%s%n-1");
    static const struct {
        const char *fmt, *needle;
    } bad[] = {
        {"SN-{batch}", "no {counter}"},
        {"SN-{counter", "not closed"},
        {"SN-}{counter}", "a lone '}' at offset 3"},
        {"SN-{serial}{counter}", "'{serial}' at offset 3 is not a placeholder"},
        {"SN-{counter:6}", "is not a placeholder"},
        {"SN-{counter:019}", "is not a placeholder"},
        {"SN\t{counter}", "byte 0x09 at offset 2 is not printable ASCII"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = 0;
        assert_int_equal(pv_serial_format_check(bad[i].fmt, &last, why, sizeof why), -1);
        if (!strstr(why, bad[i].needle))
            fail_msg("%s: '%s' (want '%s')", bad[i].fmt, why, bad[i].needle);
    }
}

static void test_mac_text(void **state)
{
    (void)state;
    uint64_t m = 0;
    assert_int_equal(pv_mac_parse("02:00:00:00:1f:FF", &m), 0);
    assert_true(m == 0x020000001fffull);
    assert_int_equal(pv_mac_parse("02-00-00-00-10-00", &m), 0);
    assert_int_equal(pv_mac_parse("02:00:00:00:10", &m), -1);
    assert_int_equal(pv_mac_parse("02:00:00:00:10:0g", &m), -1);
    assert_int_equal(pv_mac_parse("02:00:00:00:10:000", &m), -1);
}

static void spec_of(pv_devdata_spec *s, enum pv_mes_source src, const char *file)
{
    memset(s, 0, sizeof *s);
    s->present = 1;
    s->mes_source = src;
    if (file)
        snprintf(s->mes_file, sizeof s->mes_file, "%s/%s", dir, file);
    s->n_fields = 2;
    pv_mes_field_spec *f = &s->fields[0];
    snprintf(f->name, sizeof f->name, "hw_rev");
    f->type = PV_MES_TEXT;
    f->max_length = 2;
    snprintf(f->pattern, sizeof f->pattern, "[A-Z][0-9]");
    f = &s->fields[1];
    snprintf(f->name, sizeof f->name, "trim");
    f->type = PV_MES_INTEGER;
    f->min = -100;
    f->max = 100;
    f->has_default = 1;
    snprintf(f->default_value, sizeof f->default_value, "0");
}

static void put(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* pv_mes_values' result as compact JSON with sorted keys, or its refusal. */
static void expect(const pv_devdata_spec *s, const char *station, const char *want_json,
                   const char *want_why)
{
    json_t *out = NULL;
    char why[1024] = "";
    int rc = pv_mes_values(s, UID, station, &out, why, sizeof why);
    if (want_json) {
        if (rc != 0)
            fail_msg("refused: %s", why);
        char *j = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(j, want_json);
        free(j);
        json_decref(out);
        return;
    }
    if (rc != -1 || !strstr(why, want_why))
        fail_msg("rc %d, '%s' (want '%s')", rc, why, want_why);
    assert_null(out);
}

static void test_csv_file(void **state)
{
    (void)state;
    pv_devdata_spec s;
    spec_of(&s, PV_MES_FILE, "mes.csv");
    put("mes.csv", "lot,uid,hw_rev,trim\r\n"
                   "\"L,1\",300041000F51333831343739,B2,-7\r\n"
                   "L2,aaaa41000f51333831343739,C3,1\r\n");
    expect(&s, "{\"hw_rev\":\"Z9\"}", "{\"hw_rev\":\"B2\",\"trim\":-7}", NULL); /* file wins */
    put("mes.csv", "uid,hw_rev\n" UID ",B2\n");
    expect(&s, NULL, "{\"hw_rev\":\"B2\",\"trim\":0}", NULL); /* trim's default */
    put("mes.csv", "uid,hw_rev,trim\n" UID ",b2,1\n");
    expect(&s, NULL, NULL, "mes_invalid: field hw_rev for UID " UID " from ");
    put("mes.csv", "uid,hw_rev,trim\n" UID ",B2,101\n");
    expect(&s, NULL, NULL, "mes_invalid: field trim for UID " UID);
    expect(&s, NULL, NULL, "101 is outside -100..100");
    put("mes.csv", "uid,hw_rev,trim\n" UID ",B22,1\n");
    expect(&s, NULL, NULL, "3 characters, more than max_length 2");
    put("mes.csv", "uid,hw_rev\nffff41000f51333831343739,B2\n");
    expect(&s, NULL, NULL, "mes_missing: ");
    expect(&s, NULL, NULL, "has no row for UID " UID " (field hw_rev has no default");
    put("mes.csv", "hw_rev\nB2\n");
    expect(&s, NULL, NULL, "the header has no column 'uid'");
    put("mes.csv", "uid,hw_rev\n" UID ",\"B2\n");
    expect(&s, NULL, NULL, "mes.csv:2: not a CSV record");
    spec_of(&s, PV_MES_FILE, "absent.csv");
    expect(&s, NULL, NULL, "mes_unavailable: the MES file ");
}

static void test_json_file(void **state)
{
    (void)state;
    pv_devdata_spec s;
    spec_of(&s, PV_MES_FILE, "mes.json");
    put("mes.json", "{\"" UID "\": {\"hw_rev\": \"D4\", \"trim\": 5}}");
    expect(&s, NULL, "{\"hw_rev\":\"D4\",\"trim\":5}", NULL);
    put("mes.json", "[{\"uid\": \"" UID "\", \"hw_rev\": \"E5\", \"trim\": \"-3\"}]");
    expect(&s, NULL, "{\"hw_rev\":\"E5\",\"trim\":-3}", NULL);
    put("mes.json", "[{\"uid\": \"" UID "\", \"hw_rev\": [1]}]");
    expect(&s, NULL, NULL, "field hw_rev from ");
    put("mes.json", "{\"" UID "\": ");
    expect(&s, NULL, NULL, "not JSON");
}

static void test_station_values(void **state)
{
    (void)state;
    pv_devdata_spec s;
    spec_of(&s, PV_MES_STATION, NULL);
    expect(&s, "{\"hw_rev\":\"F6\",\"trim\":-100}", "{\"hw_rev\":\"F6\",\"trim\":-100}", NULL);
    /* the station's words are data: an undeclared name, a bad value, nothing at all */
    expect(&s, "{\"hw_rev\":\"F6\",\"serial\":\"SN-forged\"}", NULL,
           "mes_invalid: field 'serial' from the station's request is not declared");
    expect(&s, "{\"hw_rev\":\"F6\\u001b[2J\"}", NULL, "byte 0x1b at offset 2 is not printable");
    expect(&s, "{\"hw_rev\":\"F6\",\"trim\":\"1e3\"}", NULL, "'1e3' is not an integer");
    expect(&s, "[1]", NULL, "not a JSON object");
    expect(&s, NULL, NULL, "mes_missing: the station's request has no row for UID");
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_format),  cmocka_unit_test(test_mac_text),
        cmocka_unit_test(test_csv_file),       cmocka_unit_test(test_json_file),
        cmocka_unit_test(test_station_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
