/* libprovision as line software uses it (docs/libprovision.md, docs/json-output.md): virtual
 * STM32F427s (sims on loopback), a SoftHSM2 token and the demo recipe (bridge_harness.h), in
 * local mode with a ledger file.
 *
 *  - The C API in this process (ASan and LSan watch it): one handle provisions two chips in a
 *    row; the callback sees every phase once, in order, and bytes relayed; each chip ends at RDP
 *    Level 2 with a locked ledger row; a locked chip, a missing recipe, contradicting or unknown
 *    options and a result struct of another size are results with a status and a message.
 *  - The Python binding (provisioner/python/libprovision.py, ctypes) through the example line
 *    script, loading the unsanitized libprovision.so: two chips in a row from one handle, then
 *    a locked chip and a missing recipe reported as clean error results, no traceback; an
 *    unknown option raises ValueError, a run without a recipe returns a usage result.
 *  - `provision run --json` on success and on failure, each object valid against
 *    docs/schema/run-result.schema.json (python3-jsonschema); the schema itself refuses an
 *    object that breaks it, so the check can fail. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_harness.h"

#include "../../provisioner/libprovision.h"

/* SoftHSM2 leaks inside itself; p11_module.c suppresses leaks under libsofthsm2.so, which only
 * the slow unwinder reaches through libcrypto (as in test_provision_run.c). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

static struct bh_env env;
static char ledger_db[200], so_path[4200];

static void uid_hex(char out[25], const uint8_t uid[12])
{
    bh_hex(out, uid, 12);
}

/* The ledger row of uid must say locked. */
static void assert_row_locked(const uint8_t uid[12])
{
    char err[256];
    pv_ledger *l = pv_ledger_open(ledger_db, 0, err, sizeof err);
    if (!l)
        fail_msg("ledger %s: %s", ledger_db, err);
    pv_ledger_row row;
    int rc = pv_ledger_get(l, uid, &row);
    pv_ledger_close(l);
    assert_int_equal(rc, PV_LEDGER_OK);
    assert_int_equal(row.state, PV_LEDGER_LOCKED);
}

/* ---- the C API ---- */

struct seen {
    int phases[32], n_phases, notes, bytes_events;
    uint64_t last_bytes;
    int bytes_went_back;
};

static void on_progress(void *ctx, const struct pv_prov_progress *p)
{
    struct seen *s = ctx;
    assert_non_null(p->message);
    if (p->event == PV_PROV_EV_PHASE && s->n_phases < 32) {
        s->phases[s->n_phases++] = (int)p->phase;
    } else if (p->event == PV_PROV_EV_NOTE) {
        s->notes++;
    } else if (p->event == PV_PROV_EV_BYTES) {
        if (p->bytes_done < s->last_bytes && p->phase == PV_PROV_PHASE_WRITE)
            s->bytes_went_back = 1;
        s->last_bytes = p->bytes_done;
        s->bytes_events++;
    }
}

static void set_ok(pv_prov *h, const char *name, const char *value)
{
    char err[256];
    if (pv_prov_set(h, name, value, err, sizeof err) != PV_PROV_OK)
        fail_msg("pv_prov_set %s: %s", name, err);
}

static void test_c_api(void **state)
{
    (void)state;
    assert_int_equal(pv_prov_version() >> 16, PV_PROV_VERSION_MAJOR);
    pv_prov *h = pv_prov_new();
    assert_non_null(h);
    char err[512];
    static struct pv_prov_result res;

    /* options: unknown names and misused flags are refused by name; nothing runs without a
     * recipe or a bridge; a recipe with --product contradicts */
    assert_int_equal(pv_prov_set(h, "recipie", "x", err, sizeof err), PV_PROV_USAGE);
    assert_non_null(strstr(err, "recipie"));
    assert_int_equal(pv_prov_set(h, "allow-plain-image", "yes", err, sizeof err), PV_PROV_USAGE);
    assert_int_equal(pv_prov_run(h, NULL, NULL, &res, sizeof res), PV_PROV_USAGE);
    assert_int_equal(res.status, PV_PROV_USAGE);
    assert_non_null(strstr(res.error, "--recipe FILE"));
    set_ok(h, "recipe", env.recipe);
    set_ok(h, "product", "p");
    assert_int_equal(pv_prov_check(h, err, sizeof err), PV_PROV_USAGE);
    assert_non_null(strstr(err, "go with --bridge"));
    set_ok(h, "product", NULL);
    /* a result struct of another layout is not written */
    memset(&res, 0x5a, sizeof res);
    assert_int_equal(pv_prov_run(h, NULL, NULL, &res, sizeof res - 8), PV_PROV_USAGE);
    assert_int_equal(res.status, 0x5a5a5a5a);

    /* a recipe that is not there: a clean IO result naming it, in the load phase */
    set_ok(h, "recipe", "/nonexistent/recipe.yaml");
    set_ok(h, "ledger", ledger_db);
    set_ok(h, "pin-file", env.pin);
    set_ok(h, "station", "line-c");
    set_ok(h, "probe", "gdb:127.0.0.1:1");
    assert_int_equal(pv_prov_run(h, NULL, NULL, &res, sizeof res), PV_PROV_IO);
    assert_int_equal(res.failed_phase, PV_PROV_PHASE_LOAD);
    assert_non_null(strstr(res.error, "/nonexistent/recipe.yaml"));
    assert_string_equal(res.uid, "");
    set_ok(h, "recipe", env.recipe);

    /* two chips in a row on the one handle */
    for (int i = 0; i < 2; i++) {
        struct bh_sim s;
        uint8_t uid[12];
        char target[64], hex[25];
        assert_true(bh_sim_start(&env, &s, i ? "c-api-2" : "c-api-1", 300 + i, NULL));
        assert_true(bh_sim_uid(&s, uid));
        uid_hex(hex, uid);
        bh_sim_target(&s, target, sizeof target);
        set_ok(h, "probe", target);
        struct seen seen = {0};
        int rc = pv_prov_run(h, on_progress, &seen, &res, sizeof res);
        if (rc != PV_PROV_OK)
            fail_msg("run %d: %s (%s)", i, pv_prov_status_name(rc), res.error);
        assert_int_equal(res.status, PV_PROV_OK);
        assert_int_equal(res.failed_phase, -1);
        assert_string_equal(res.uid, hex);
        assert_string_equal(res.rdp, "Level 2");
        assert_string_equal(res.ledger_state, "locked");
        assert_string_equal(res.station, "line-c");
        assert_string_equal(res.error, "");
        assert_int_equal(seen.n_phases, PV_PROV_NPHASES);
        for (int p = 0; p < PV_PROV_NPHASES; p++) {
            assert_int_equal(seen.phases[p], p);
            assert_true(res.phase_ms[p] >= 0);
        }
        assert_true(seen.notes > 0);
        assert_true(seen.bytes_events > 1);
        assert_false(seen.bytes_went_back);
        assert_true(res.total_ms >= res.phase_ms[PV_PROV_PHASE_LOCK]);
        /* the rerun of a locked chip: a result, not an abort */
        if (i == 1) {
            rc = pv_prov_run(h, NULL, NULL, &res, sizeof res);
            assert_int_equal(rc, PV_PROV_LOCKED);
            assert_int_equal(res.failed_phase, PV_PROV_PHASE_IDENTIFY);
            assert_non_null(strstr(res.error, "debug port is dead"));
        }
        assert_int_equal(bh_sim_stop(&s), 0);
        assert_int_equal(bh_state_rdp(s.state), 0xCC);
        assert_row_locked(uid);
    }
    pv_prov_free(h);
    pv_prov_free(NULL);
}

/* ---- the Python binding ---- */

static int python(struct bh_run *r, const char *const *args)
{
    if (!bh_run_start(&env, r, "/usr/bin/python3", NULL, args))
        return -2;
    int st = bh_run_wait(r, 120000);
    if (st < 0) {
        bh_run_kill(r);
        fail_msg("python3 did not finish in 120 s:\n%s%s", r->out, r->err);
    }
    return st;
}

static void test_python_line(void **state)
{
    (void)state;
    char script[4200];
    snprintf(script, sizeof script, "%s/provisioner/python/example_line.py", env.repo);
    struct bh_sim s[2];
    uint8_t uid[2][12];
    char target[2][64], hex[2][25];
    for (int i = 0; i < 2; i++) {
        assert_true(bh_sim_start(&env, &s[i], i ? "py-2" : "py-1", 400 + i, NULL));
        assert_true(bh_sim_uid(&s[i], uid[i]));
        uid_hex(hex[i], uid[i]);
        bh_sim_target(&s[i], target[i], sizeof target[i]);
    }
    static struct bh_run r;
    const char *args[] = {script,    "--library", so_path,   "--recipe",   env.recipe, "--ledger",
                          ledger_db, "--station", "line-py", "--pin-file", env.pin,    "--probe",
                          target[0], "--probe",   target[1], NULL};
    int st = python(&r, args);
    if (st != 0)
        fail_msg("example_line.py exited %d:\n%s\n%s", st, r.out, r.err);
    /* one record per device, in order, each provisioned with every phase in order */
    char *second = strchr(r.out, '\n');
    assert_non_null(second);
    for (int i = 0; i < 2; i++) {
        const char *line = i ? second + 1 : r.out;
        char want[64];
        snprintf(want, sizeof want, "\"uid\": \"%s\"", hex[i]);
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        char rec[4096];
        snprintf(rec, sizeof rec, "%.*s", (int)(nl - line), line);
        if (!strstr(rec, want) || !strstr(rec, "\"status\": \"ok\"") ||
            !strstr(rec, "\"phases_in_order\": true") || !strstr(rec, "\"rdp\": \"Level 2\"") ||
            !strstr(rec, "\"phases_seen\": [\"load\", \"identify\", \"stub\", \"reserve\", "
                         "\"key\", \"erase\", \"write\", \"verify\", \"lock\"]"))
            fail_msg("device %d's record: %s", i, rec);
    }
    assert_non_null(strstr(r.err, "  lock ")); /* the callback's progress lines */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(bh_sim_stop(&s[i]), 0);
        assert_int_equal(bh_state_rdp(s[i].state), 0xCC);
        assert_row_locked(uid[i]);
    }

    /* errors are results: a locked chip (its debug port dead), then a recipe that is not there */
    assert_true(bh_sim_restart(&env, &s[0], NULL));
    bh_sim_target(&s[0], target[0], sizeof target[0]);
    const char *bad[] = {script,    "--library",  so_path, "--recipe", env.recipe, "--ledger",
                         ledger_db, "--pin-file", env.pin, "--probe",  target[0],  NULL};
    st = python(&r, bad);
    if (st != 1 || !strstr(r.out, "\"status\": \"locked\"") ||
        !strstr(r.out, "\"failed_phase\": \"identify\"") || !strstr(r.out, "debug port is dead") ||
        strstr(r.err, "Traceback"))
        fail_msg("locked chip: exit %d\n%s\n%s", st, r.out, r.err);
    bad[4] = "/nonexistent/recipe.yaml";
    st = python(&r, bad);
    if (st != 1 || !strstr(r.out, "\"status\": \"io\"") ||
        !strstr(r.out, "\"failed_phase\": \"load\"") ||
        !strstr(r.out, "/nonexistent/recipe.yaml cannot be read") || strstr(r.err, "Traceback"))
        fail_msg("missing recipe: exit %d\n%s\n%s", st, r.out, r.err);
    assert_int_equal(bh_sim_stop(&s[0]), 0);
    assert_int_equal(bh_state_rdp(s[0].state), 0xCC);

    /* misuse is an exception (an unknown option); a run without a recipe is a result */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/provisioner/python", env.repo);
    const char *code = "import sys\n"
                       "sys.path.insert(0, sys.argv[1])\n"
                       "import libprovision\n"
                       "p = libprovision.Provisioner(sys.argv[2])\n"
                       "try:\n"
                       "    p.set('recipie', 'x')\n"
                       "except ValueError as e:\n"
                       "    print('ValueError:', e)\n"
                       "r = p.run()\n"
                       "print(r.status_name, r.failed_phase, r.ok)\n"
                       "p.close()\n";
    const char *misuse[] = {"-c", code, dir, so_path, NULL};
    st = python(&r, misuse);
    if (st != 0 || !strstr(r.out, "ValueError: unknown option") ||
        !strstr(r.out, "\nusage load False\n"))
        fail_msg("misuse: exit %d\n%s\n%s", st, r.out, r.err);
}

/* ---- `provision run --json` against its schema ---- */

/* Validates every line of out against the schema with python3-jsonschema: its exit status.
 * drop: a field removed from each object first (NULL: none). */
static int validate(const char *out, const char *drop)
{
    char schema[4200], json_path[200];
    snprintf(schema, sizeof schema, "%s/docs/schema/run-result.schema.json", env.repo);
    snprintf(json_path, sizeof json_path, "%s/run.jsonl", env.dir);
    assert_true(bh_write_file(json_path, out, 0644));
    const char *code = "import json, sys, jsonschema\n"
                       "v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))\n"
                       "lines = [l for l in open(sys.argv[2]) if l.strip()]\n"
                       "assert lines, 'no JSON output'\n"
                       "for l in lines:\n"
                       "    o = json.loads(l)\n"
                       "    if sys.argv[3]: del o[sys.argv[3]]\n"
                       "    v.validate(o)\n";
    const char *args[] = {"-c", code, schema, json_path, drop ? drop : "", NULL};
    static struct bh_run r;
    int st = python(&r, args);
    if (st != 0)
        fprintf(stderr, "schema check%s%s: %.400s\n", drop ? " without " : "", drop ? drop : "",
                r.err);
    return st;
}

static void test_json_schema(void **state)
{
    (void)state;
    struct bh_sim s;
    uint8_t uid[12];
    char target[64], hex[25];
    assert_true(bh_sim_start(&env, &s, "json", 500, NULL));
    assert_true(bh_sim_uid(&s, uid));
    uid_hex(hex, uid);
    bh_sim_target(&s, target, sizeof target);
    static struct bh_run r;
    const char *args[] = {"run",   "--recipe", env.recipe, "--ledger", ledger_db, "--pin-file",
                          env.pin, "--probe",  target,     "--json",   NULL};
    assert_true(bh_run_start(&env, &r, env.prov, NULL, args));
    if (bh_run_wait(&r, 90000) != 0)
        fail_msg("provision run --json: %d\n%s\n%s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, hex));
    assert_int_equal(validate(r.out, NULL), 0);
    assert_int_not_equal(validate(r.out, "uid"), 0); /* the schema is a real check */
    /* the same chip again: locked, the failure object */
    assert_true(bh_run_start(&env, &r, env.prov, NULL, args));
    assert_int_equal(bh_run_wait(&r, 90000), PV_PROV_LOCKED);
    assert_non_null(strstr(r.out, "\"failed_phase\":\"identify\""));
    assert_non_null(strstr(r.out, "\"status\":\"locked\""));
    assert_int_equal(validate(r.out, NULL), 0);
    assert_int_not_equal(validate(r.out, "error"), 0); /* a failure names its error */
    assert_int_equal(bh_sim_stop(&s), 0);
    assert_int_equal(bh_state_rdp(s.state), 0xCC);
    assert_row_locked(uid);
}

int main(void)
{
    if (!sp_install(170) || !bh_env_init(&env, "test_line_api"))
        return 1;
    snprintf(ledger_db, sizeof ledger_db, "%s/ledger.db", env.dir);
    char build[4096];
    snprintf(build, sizeof build, "%s", sp_arm_dir);
    *strrchr(build, '/') = 0;
    snprintf(so_path, sizeof so_path, "%s/pic/host/lib/libprovision.so.1", build);
    if (access(so_path, R_OK) != 0) {
        fprintf(stderr, "%s is not built: make all\n", so_path);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c_api),
        cmocka_unit_test(test_python_line),
        cmocka_unit_test(test_json_schema),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc == 0)
        bh_env_free(&env);
    return rc;
}
