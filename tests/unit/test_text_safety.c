/* Control characters and formulas where names and free text enter and leave
 * (hsm-bridge/text_safe.h):
 *
 *  - pv_text_escape / pv_text_csv_cell on every control byte, DEL, the C1 controls, broken
 *    UTF-8 and the OWASP formula starters, with buffers too small for an escape;
 *  - input: `hsm-bridge station enroll` with an escape sequence as the name is refused before
 *    anything is issued (no certificate, no ledger); a recipe whose batch or product holds one
 *    fails `provision recipe check` naming the field; a bridge configuration whose release
 *    names such a product is not valid. No message shows the raw bytes. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include "../../hsm-bridge/text_safe.h"

static struct bh_env env;

static void no_raw_escape(const char *what, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            fail_msg("%s shows a raw control byte 0x%02x:\n%s", what, *p, s);
}

static char *csv(const char *in)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(pv_text_csv_cell(f, in), 0);
    fclose(f);
    return buf;
}

static void test_escape_and_csv(void **state)
{
    (void)state;
    char out[256];
    /* every C0 control and DEL, one at a time */
    for (int c = 1; c < 0x20; c++) {
        char in[4] = {'a', (char)c, 'b', 0}, want[16];
        snprintf(want, sizeof want, "a\\x%02xb", c);
        assert_string_equal(pv_text_escape(in, out, sizeof out), want);
        assert_true(pv_text_needs_escape(in));
    }
    assert_string_equal(pv_text_escape("a\x7f", out, sizeof out), "a\\x7f");
    /* C1 controls (CSI as U+009B), bytes that are not UTF-8, overlong and surrogate forms */
    assert_string_equal(pv_text_escape("\xc2\x9b"
                                       "31m",
                                       out, sizeof out),
                        "\\xc2\\x9b31m");
    assert_string_equal(pv_text_escape("\xff\xc3", out, sizeof out), "\\xff\\xc3");
    assert_string_equal(pv_text_escape("\xc0\xaf", out, sizeof out), "\\xc0\\xaf");
    assert_string_equal(pv_text_escape("\xed\xa0\x80", out, sizeof out), "\\xed\\xa0\\x80");
    /* kept: printable ASCII, UTF-8 letters, a 4-byte character */
    const char *fine = "st-1 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 [ok]";
    assert_string_equal(pv_text_escape(fine, out, sizeof out), fine);
    assert_false(pv_text_needs_escape(fine));
    /* small buffers: never half an escape, always terminated */
    char tiny[6];
    assert_string_equal(pv_text_escape("ab\x1b", tiny, sizeof tiny), "ab");
    assert_string_equal(pv_text_escape("\x1b\x1b", tiny, sizeof tiny), "\\x1b");

    /* names */
    assert_true(pv_text_name_ok("line-1.a_B"));
    assert_false(pv_text_name_ok("line 1"));
    assert_false(pv_text_name_ok("line\x1b[31m"));
    assert_false(pv_text_name_ok(""));
    char n64[65];
    memset(n64, 'a', 64), n64[64] = 0;
    assert_false(pv_text_name_ok(n64));
    n64[63] = 0;
    assert_true(pv_text_name_ok(n64));

    /* CSV: formulas neutralised (OWASP: = + - @ TAB CR), quoting, escapes */
    static const struct {
        const char *in, *want;
    } cells[] = {
        {"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
        {"+1+1", "'+1+1"},
        {"-2+3", "'-2+3"},
        {"@SUM(A1)", "'@SUM(A1)"},
        {"\t=1", "'\\x09=1"},
        {"\r=1", "'\\x0d=1"},
        {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
        {"a,b", "\"a,b\""},
        {" padded ", "\" padded \""},
        {"line\nbreak", "line\\x0abreak"},
        {"plain", "plain"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        char *got = csv(cells[i].in);
        if (strcmp(got, cells[i].want) != 0)
            fail_msg("cell %zu: got [%s], want [%s]", i, got, cells[i].want);
        free(got);
    }
}

static void test_names_at_input(void **state)
{
    (void)state;
    struct bh_bridge b;
    struct bh_station s;
    assert_true(bh_bridge_init(&env, &b, "names", NULL, 0));
    /* a station named with an escape sequence: refused before anything is issued */
    char key[200], csr[200], crt[200];
    snprintf(key, sizeof key, "%s/evil.key", b.dir);
    snprintf(csr, sizeof csr, "%s/evil.csr", b.dir);
    snprintf(crt, sizeof crt, "%s/evil.crt", b.dir);
    assert_int_equal(BH_CMD(&env, "openssl", "genpkey", "-algorithm", "ed25519", "-out", key), 0);
    assert_int_equal(
        BH_CMD(&env, "openssl", "req", "-new", "-key", key, "-subj", "/CN=x", "-out", csr), 0);
    static const char *const evil[] = {"line\x1b[31m-1", "line\x1b]0;owned\x07", "a\nb",
                                       "=cmd|calc",
                                       "l\xc2\x9b"
                                       "2J"};
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        int rc = BH_CMD(&env, env.bridge_bin, "station", "enroll", evil[i], "--csr", csr,
                        "--rights", BH_RIGHTS, "--config", b.config, "-o", crt);
        if (rc != 2 || !strstr(env.out, "station name: NAME must be 1 to 63 of A-Z a-z 0-9 . _ -"))
            fail_msg("enroll %zu: exit %d:\n%s", i, rc, env.out);
        no_raw_escape("station enroll", env.out);
        assert_int_equal(access(crt, F_OK), -1);
        assert_int_equal(access(b.ledger, F_OK), -1);
    }
    assert_non_null(strstr(env.out, "l\\xc2\\x9b2J"));
    /* the same name without the escape is fine */
    assert_true(bh_station_enroll(&b, &s, "line-1", BH_RIGHTS));

    /* recipes: batch and product are names */
    char *text = sp_slurp(env.recipe, NULL);
    assert_non_null(text);
    char bad[200], line[128], body[16384];
    snprintf(bad, sizeof bad, "%s/evil.yaml", b.dir);
    static const struct {
        const char *prefix, *line, *field;
    } cases[] = {
        {"batch:", "batch: \"demo\\e[31m-001\"", "batch"},
        {"product:", "product: \"pv\\e]0;x\\a-sensor\"", "product"},
        {"batch:", "batch: \"=cmd|calc\"", "batch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(body, sizeof body, "%s", text);
        snprintf(line, sizeof line, "%s", cases[i].line);
        assert_true(bh_replace_line(body, sizeof body, cases[i].prefix, line));
        assert_true(bh_write_file(bad, body, 0644));
        int rc = BH_CMD(&env, env.prov, "recipe", "check", bad);
        char want[96];
        snprintf(want, sizeof want, "a %s name is 1 to 63 of A-Z a-z 0-9 . _ -", cases[i].field);
        if (rc != 1 || !strstr(env.out, want))
            fail_msg("recipe %zu: exit %d:\n%s", i, rc, env.out);
        no_raw_escape("recipe check", env.out);
    }
    assert_non_null(strstr(env.out, "contains '='"));
    free(text);

    /* the bridge's configuration: a release for a product with an escape in its name */
    char cfg[200], conf[4096];
    snprintf(cfg, sizeof cfg, "%s/evil-bridge.yaml", b.dir);
    snprintf(conf, sizeof conf,
             "listen: 127.0.0.1:0\n"
             "tls: {cert: %s, key: %s, station_ca: %s}\n"
             "token: {pin_file: %s}\n"
             "ledger: \"%s\"\n"
             "products: [%s]\n"
             "releases:\n"
             "  - product: \"pv\\e[2J\"\n"
             "    images: [{version: 1.0.0, image: %s}]\n",
             env.tls_crt, env.tls_key, env.ca_crt, env.pin, b.ledger, env.recipe, env.app_img);
    assert_true(bh_write_file(cfg, conf, 0644));
    int rc = BH_CMD(&env, env.bridge_bin, "station", "list", "--config", cfg);
    if (rc != 5 || !strstr(env.out, "releases[0].product") ||
        !strstr(env.out, "\"pv\\x1b[2J\" is not a product name"))
        fail_msg("exit %d:\n%s", rc, env.out);
    no_raw_escape("bridge config", env.out);
}

static int setup(void **state)
{
    (void)state;
    return bh_env_init(&env, "test_text_safety") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return 0;
}

int main(void)
{
    if (!sp_install(120))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_and_csv),
        cmocka_unit_test(test_names_at_input),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    if (rc == 0)
        bh_env_free(&env);
    return rc;
}
