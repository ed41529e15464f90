/* The command lines described once (lib/host/cli.h): every option a command's parser accepts is
 * in its --help and its manual page, every exit code is in both, the checked-in manual pages are
 * what the tables generate (`make man`), and the parser refuses what it should (abbreviations, a
 * value on a flag, unknown options). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hsm-bridge/cmd.h"
#include "../../provisioner/commands.h"
#include "host/cli.h"
#include "sim_process.h"

static char dir[64];

struct program {
    const struct pv_cli_prog *p;
    const char *page;
    char bin[4096];
};
static struct program programs[] = {
    {&pv_provision_cli, "docs/provision.1", ""},
    {&pv_hsm_bridge_cli, "docs/hsm-bridge.8", ""},
};
#define NPROGRAMS (sizeof programs / sizeof programs[0])

static char *page_text(const char *path)
{
    char *s = sp_slurp(path, NULL);
    if (!s)
        fail_msg("cannot read %s (run the tests from the repository's root)", path);
    return s;
}

static char *help_text(const struct pv_cli_prog *p, const struct pv_cli_cmd *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    if (c)
        pv_cli_cmd_help(f, p, c);
    else
        pv_cli_prog_help(f, p);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* s with every run of white space made one space, in place; s. */
static char *squash(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++)
        if (!(*r == ' ' || *r == '\n') || (w > s && w[-1] != ' '))
            *w++ = *r == '\n' ? ' ' : *r;
    *w = 0;
    return s;
}

/* "--name" as roff writes it ("\-\-name", each '-' escaped). */
static void roff_name(char *out, size_t len, const char *prefix, const char *name)
{
    size_t n = 0;
    for (const char *s = prefix; *s && n + 3 < len; s++)
        n += (size_t)snprintf(out + n, len - n, "%s", *s == '-' ? "\\-" : (char[]){*s, 0});
    for (const char *s = name; *s && n + 3 < len; s++)
        n += (size_t)snprintf(out + n, len - n, "%s", *s == '-' ? "\\-" : (char[]){*s, 0});
}

static void test_pages_up_to_date(void **state)
{
    (void)state;
    for (size_t i = 0; i < NPROGRAMS; i++) {
        char *in = page_text(programs[i].page), *out = NULL, why[256];
        if (pv_cli_man_update(programs[i].p, in, &out, why, sizeof why) != 0)
            fail_msg("%s: %s", programs[i].page, why);
        if (strcmp(in, out) != 0)
            fail_msg("%s is stale: its options or exit codes differ from %s's tables; run 'make "
                     "man' and commit the page",
                     programs[i].page, programs[i].p->name);
        free(in);
        free(out);
    }
}

/* The first usage's words up to the first option or argument: "recipe check". */
static int command_words(const struct pv_cli_cmd *c, const char **words, int max)
{
    static char buf[256];
    size_t n = strcspn(c->usage, "\n");
    snprintf(buf, sizeof buf, "%.*s", (int)n, c->usage);
    int k = 0;
    for (char *w = strtok(buf, " "); w && k < max; w = strtok(NULL, " ")) {
        if (w[0] == '-' || w[0] == '[' || (w[0] >= 'A' && w[0] <= 'Z'))
            break;
        words[k++] = w;
    }
    return k;
}

static void test_every_option_documented_and_handled(void **state)
{
    (void)state;
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    for (size_t i = 0; i < NPROGRAMS; i++) {
        const struct pv_cli_prog *p = programs[i].p;
        char *page = page_text(programs[i].page);
        for (size_t k = 0; k < p->n_cmds; k++) {
            const struct pv_cli_cmd *c = p->cmds[k];
            assert_non_null(c->opts);
            assert_non_null(c->usage);
            char *help = help_text(p, c);
            char what[80];
            snprintf(what, sizeof what, ".\\\" BEGIN generated: options %s\n", c->name);
            const char *part = strstr(page, what);
            if (!part)
                fail_msg("%s has no generated options of %s (a line '%.*s')", programs[i].page,
                         c->name, (int)strlen(what) - 1, what);
            const char *part_end = strstr(part, ".\\\" END generated");
            assert_non_null(part_end);
            for (const struct pv_cli_opt *o = c->opts; o->name; o++) {
                char want[96], roff[192];
                snprintf(want, sizeof want, "--%s", o->name);
                if (!strstr(help, want))
                    fail_msg("%s %s --help does not mention %s", p->name, c->name, want);
                roff_name(roff, sizeof roff, "--", o->name);
                const char *at = strstr(part, roff);
                if (!at || at > part_end)
                    fail_msg("%s does not describe %s %s %s", programs[i].page, p->name, c->name,
                             want);
                if (o->short_name) {
                    snprintf(want, sizeof want, "-%c, --%s", o->short_name, o->name);
                    if (!strstr(help, want))
                        fail_msg("%s %s --help does not show %s", p->name, c->name, want);
                }
                /* the built program: the option given, then --help. A parser that knew the
                 * option but a command that did not handle it would refuse it first. */
                const char *args[8];
                int n = command_words(c, args, 3);
                snprintf(want, sizeof want, "--%s", o->name);
                args[n++] = want;
                if (o->arg)
                    args[n++] = "x";
                args[n++] = "--help";
                args[n] = NULL;
                static char out[65536], err[16384];
                int st = sp_run_capture(programs[i].bin, args, err_path, out, sizeof out, err,
                                        sizeof err);
                /* the help, or the command's own check of the value (an exit 2 that is
                 * neither an unknown nor an unhandled option) */
                int known = (st == 0 && strncmp(out, "usage:", 6) == 0) ||
                            (st == p->usage_code && !strstr(err, "unknown option") &&
                             !strstr(err, "option not handled") && err[0]);
                if (!known)
                    fail_msg("%s %s %s%s --help: exit %d (want 0 and the help)\nstdout:\n%s\n"
                             "stderr:\n%s",
                             p->name, c->name, want, o->arg ? " x" : "", st, out, err);
            }
            free(help);
        }
        free(page);
    }
}

static void test_every_exit_code_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < NPROGRAMS; i++) {
        const struct pv_cli_prog *p = programs[i].p;
        char *help = help_text(p, NULL), *page = page_text(programs[i].page);
        char *flat = squash(help);
        const char *part = strstr(page, ".\\\" BEGIN generated: exit status\n");
        if (!part)
            fail_msg("%s has no generated exit status", programs[i].page);
        for (size_t k = 0; k < p->n_exits; k++) {
            char want[256];
            snprintf(want, sizeof want, " %d %s", p->exits[k].code, p->exits[k].help);
            if (!strstr(flat, want))
                fail_msg("%s --help lacks exit code %d (%s)", p->name, p->exits[k].code,
                         p->exits[k].help);
            snprintf(want, sizeof want, ".TP\n.B %d\n", p->exits[k].code);
            if (!strstr(part, want))
                fail_msg("%s lacks exit code %d", programs[i].page, p->exits[k].code);
        }
        /* every code a command lists is one the program describes */
        for (size_t k = 0; k < p->n_cmds; k++)
            for (const int *x = p->cmds[k]->exits; x && *x >= 0; x++) {
                size_t j = 0;
                while (j < p->n_exits && p->exits[j].code != *x)
                    j++;
                if (j == p->n_exits)
                    fail_msg("%s %s lists exit code %d, which %s does not describe", p->name,
                             p->cmds[k]->name, *x, p->name);
            }
        free(help);
        free(page);
    }
}

/* ---- the parser ---- */

enum { K_FILE = 256, K_FLAG };
static const struct pv_cli_opt t_opts[] = {
    {K_FILE, 0, "pin-file", "FILE", "a file", NULL},
    {K_FLAG, 0, "json", NULL, "a flag", NULL},
    {'o', 'o', "output", "FILE", "where", NULL},
    {'f', 'f', "force", NULL, "a short flag", NULL},
    {'q', 'q', "quiet", NULL, "another", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static int t_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 0;
}
static const int t_exits[] = {0, 2, -1};
static const struct pv_cli_cmd t_cmd = {.name = "t",
                                        .summary = "s",
                                        .usage = "t [options] FILE",
                                        .opts = t_opts,
                                        .exits = t_exits,
                                        .run = t_run};
static const struct pv_cli_cmd *const t_cmds[] = {&t_cmd};
static const struct pv_cli_exit t_exit_table[] = {{0, "ok", NULL}, {2, "usage", NULL}};
static const struct pv_cli_prog t_prog = {
    .name = "prog",
    .version = "1",
    .about = "a",
    .manual = "m",
    .cmds = t_cmds,
    .n_cmds = 1,
    .exits = t_exit_table,
    .n_exits = 2,
    .usage_code = 2,
};

/* Parses args; the keys (and values) seen as "key=value;" text, then "|operands". */
static int parse(const char *const *args, char *trace, size_t len)
{
    static char *argv[16];
    static char store[16][64];
    int argc = 0;
    argv[argc++] = (char *)"t";
    for (int i = 0; args[i]; i++) {
        snprintf(store[i], sizeof store[i], "%s", args[i]);
        argv[argc++] = store[i];
    }
    struct pv_cli_parser ps;
    pv_cli_begin(&ps, &t_prog, &t_cmd, "prog t", argc, argv);
    size_t n = 0;
    trace[0] = 0;
    int c;
    while ((c = pv_cli_next(&ps)) >= 0)
        n += (size_t)snprintf(trace + n, len - n, "%s=%s;", ps.opt->name, ps.value ? ps.value : "");
    if (c != PV_CLI_END)
        return c;
    char **ops;
    int k = pv_cli_operands(&ps, &ops);
    n += (size_t)snprintf(trace + n, len - n, "|");
    for (int i = 0; i < k; i++)
        n += (size_t)snprintf(trace + n, len - n, "%s%s", i ? "," : "", ops[i]);
    return c;
}

#define PARSE(...) parse((const char *const[]){__VA_ARGS__, NULL}, trace, sizeof trace)

static void test_parser(void **state)
{
    (void)state;
    char trace[512];
    assert_int_equal(PARSE("a", "--pin-file", "p", "b", "--json", "-o", "o1", "-oo2", "c"),
                     PV_CLI_END);
    assert_string_equal(trace, "pin-file=p;json=;output=o1;output=o2;|a,b,c");
    assert_int_equal(PARSE("--pin-file=p=q", "-fq", "-fqoX", "--", "--json", "-f"), PV_CLI_END);
    assert_string_equal(trace, "pin-file=p=q;force=;quiet=;force=;quiet=;output=X;|--json,-f");
    assert_int_equal(PARSE("-", "x"), PV_CLI_END);
    assert_string_equal(trace, "|-,x");

    /* refused, each with its message on stderr (exit code 2 by the caller) */
    assert_int_equal(PARSE("--pin", "1234"), PV_CLI_ERROR); /* no abbreviations */
    assert_int_equal(PARSE("--pin-fil", "f"), PV_CLI_ERROR);
    assert_int_equal(PARSE("--json=yes"), PV_CLI_ERROR);
    assert_int_equal(PARSE("--pin-file"), PV_CLI_ERROR);
    assert_int_equal(PARSE("-o"), PV_CLI_ERROR);
    assert_int_equal(PARSE("-x"), PV_CLI_ERROR);
    assert_int_equal(PARSE("-fx"), PV_CLI_ERROR);
    assert_int_equal(PARSE("--bogus"), PV_CLI_ERROR);
    assert_int_equal(PARSE("x", "--help"), PV_CLI_HELP);
    assert_int_equal(PARSE("-qh"), PV_CLI_HELP);
}

static void test_built_program_refuses_abbreviation(void **state)
{
    (void)state;
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    static char out[8192], err[8192];
    int st = sp_run_capture(programs[0].bin, (const char *const[]){"run", "--rec", "r.yaml", NULL},
                            err_path, out, sizeof out, err, sizeof err);
    assert_int_equal(st, PV_EXIT_USAGE);
    if (!strstr(err, "provision run: unknown option --rec (see provision run --help)"))
        fail_msg("stderr:\n%s", err);
    st = sp_run_capture(programs[0].bin, (const char *const[]){"--help", NULL}, err_path, out,
                        sizeof out, err, sizeof err);
    assert_int_equal(st, 0);
    if (!strstr(out, "  11  the bridge refused this station or cannot be reached\n"))
        fail_msg("provision --help:\n%s", out);
}

static int setup(void **state)
{
    (void)state;
    if (!sp_make_tmpdir(dir, sizeof dir, "pv-cli-docs"))
        return -1;
    for (size_t i = 0; i < NPROGRAMS; i++)
        if (!sp_host_bin(programs[i].bin, sizeof programs[i].bin, programs[i].p->name)) {
            fprintf(stderr, "%s is not built (make all)\n", programs[i].bin);
            return -1;
        }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/stderr.txt", dir);
    unlink(p);
    rmdir(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_up_to_date),
        cmocka_unit_test(test_every_option_documented_and_handled),
        cmocka_unit_test(test_every_exit_code_documented),
        cmocka_unit_test(test_parser),
        cmocka_unit_test(test_built_program_refuses_abbreviation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
