/* Command-line programs from their tables (cli.h): dispatch, option parsing, --help, and the
 * generated parts of the manual page. */
#include "host/cli.h"

#include <stdlib.h>
#include <string.h>

#define WIDTH    80 /* --help lines */
#define OPT_COL  24 /* where an option's description starts */
#define EXIT_COL 6  /* where an exit code's meaning starts */

const struct pv_cli_cmd *pv_cli_find(const struct pv_cli_prog *p, const char *name)
{
    for (size_t i = 0; i < p->n_cmds; i++)
        if (strcmp(p->cmds[i]->name, name) == 0)
            return p->cmds[i];
    return NULL;
}

static const struct pv_cli_exit *exit_of(const struct pv_cli_prog *p, int code)
{
    for (size_t i = 0; i < p->n_exits; i++)
        if (p->exits[i].code == code)
            return &p->exits[i];
    return NULL;
}

/* Prints text filled to WIDTH, every line indented by indent; the first line starts at column
 * col (already written by the caller). Paragraph breaks ("\n\n") and line breaks ("\n") are
 * kept. */
static void fill(FILE *out, const char *text, int indent, int col)
{
    int fresh = 1; /* nothing of text on this line yet */
    for (const char *s = text; *s;) {
        if (*s == '\n' || *s == ' ') {
            if (*s == '\n') {
                fputc('\n', out);
                col = 0;
                fresh = 1;
            }
            s++;
            continue;
        }
        size_t n = strcspn(s, " \n");
        if (!fresh && col + 1 + (int)n > WIDTH) {
            fputc('\n', out);
            col = 0;
            fresh = 1;
        }
        if (col < indent) {
            fprintf(out, "%*s", indent - col, "");
            col = indent;
        } else if (!fresh || col > indent) {
            fputc(' ', out);
            col++;
        }
        col += fprintf(out, "%.*s", (int)n, s);
        fresh = 0;
        s += n;
    }
    if (col)
        fputc('\n', out);
}

/* "-c, --openocd-command CMD" or "    --recipe FILE" into buf; its length. */
static int opt_label(char *buf, size_t len, const struct pv_cli_opt *o)
{
    int n = o->short_name ? snprintf(buf, len, "-%c, --%s", o->short_name, o->name)
                          : snprintf(buf, len, "--%s", o->name);
    if (o->arg && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " %s", o->arg);
    return n;
}

/* "usage: PROG CMD ..." lines, a long one continued under its first option. */
static void usage_lines(FILE *out, const struct pv_cli_prog *p, const struct pv_cli_cmd *c)
{
    const char *u = c->usage;
    for (int first = 1; *u; first = 0) {
        size_t n = strcspn(u, "\n");
        size_t w = strcspn(u, " \n"); /* the command's name */
        char rest[512];
        snprintf(rest, sizeof rest, "%.*s", (int)(n - w), u + w);
        int col = fprintf(out, "%s %s %.*s", first ? "usage:" : "      ", p->name, (int)w, u);
        if (rest[0])
            fill(out, rest, col + 1, col);
        else
            fputc('\n', out);
        u += n + (u[n] == '\n');
    }
}

void pv_cli_cmd_help(FILE *out, const struct pv_cli_prog *p, const struct pv_cli_cmd *c)
{
    usage_lines(out, p, c);
    if (c->about) {
        fputc('\n', out);
        fill(out, c->about, 0, 0);
    }
    fprintf(out, "\noptions:\n");
    static const struct pv_cli_opt help = {'h', 'h', "help", NULL, "this text", NULL};
    for (const struct pv_cli_opt *o = c->opts; o; o = o->name ? o + 1 : NULL) {
        const struct pv_cli_opt *e = o->name ? o : &help;
        char label[96];
        int n = opt_label(label, sizeof label, e);
        fprintf(out, "  %s", label);
        n += 2;
        if (n + 2 > OPT_COL) {
            fputc('\n', out);
            n = 0;
        }
        fill(out, e->help, OPT_COL, n);
        if (!o->name)
            break;
    }
    fprintf(out, "\nexit status:\n");
    for (const int *x = c->exits; x && *x >= 0; x++) {
        const struct pv_cli_exit *e = exit_of(p, *x);
        int n = fprintf(out, "  %d", *x);
        fill(out, e ? e->help : "(not described)", EXIT_COL, n);
    }
    if (c->exit_note) {
        fputc('\n', out);
        fill(out, c->exit_note, 0, 0);
    }
}

void pv_cli_prog_help(FILE *out, const struct pv_cli_prog *p)
{
    fprintf(out,
            "usage: %s <command> [options]\n"
            "       %s <command> --help\n"
            "       %s --version\n\n",
            p->name, p->name, p->name);
    fill(out, p->about, 0, 0);
    fprintf(out, "\ncommands:\n");
    for (size_t i = 0; i < p->n_cmds; i++)
        fprintf(out, "  %-10s %s\n", p->cmds[i]->name, p->cmds[i]->summary);
    fprintf(out, "\nexit status:\n");
    for (size_t i = 0; i < p->n_exits; i++) {
        int n = fprintf(out, "  %d", p->exits[i].code);
        fill(out, p->exits[i].help, EXIT_COL, n);
    }
    fprintf(out, "\n%s has the details.\n", p->manual);
}

int pv_cli_main(const struct pv_cli_prog *p, int argc, char **argv)
{
    if (argc < 2) {
        pv_cli_prog_help(stderr, p);
        return p->usage_code;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2) {
            const struct pv_cli_cmd *c = pv_cli_find(p, argv[2]);
            if (!c) {
                fprintf(stderr, "%s: no command '%s' (see %s --help)\n", p->name, argv[2], p->name);
                return p->usage_code;
            }
            pv_cli_cmd_help(stdout, p, c);
            return 0;
        }
        pv_cli_prog_help(stdout, p);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("%s %s\n", p->name, p->version);
        return 0;
    }
    const struct pv_cli_cmd *c = pv_cli_find(p, cmd);
    if (c)
        return c->run(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", p->name, cmd, p->name);
    return p->usage_code;
}

/* ---- parsing ---- */

void pv_cli_begin(struct pv_cli_parser *ps, const struct pv_cli_prog *p, const struct pv_cli_cmd *c,
                  const char *who, int argc, char **argv)
{
    memset(ps, 0, sizeof *ps);
    ps->prog = p;
    ps->cmd = c;
    ps->who = who;
    ps->argc = argc;
    ps->argv = argv;
    ps->next = 1;
}

int pv_cli_usage_error_of(const struct pv_cli_prog *p, const char *who, const char *msg,
                          const char *arg)
{
    fprintf(stderr, "%s: %s%s%s (see %s --help)\n", who, msg, arg ? " " : "", arg ? arg : "", who);
    return p->usage_code;
}

int pv_cli_usage_error(const struct pv_cli_parser *ps, const char *msg, const char *arg)
{
    return pv_cli_usage_error_of(ps->prog, ps->who, msg, arg);
}

/* An operand: kept, in order, at the front of argv (argv[1 + n_operands]); every slot up to
 * ps->next has been read already, so none is lost. */
static void keep_operand(struct pv_cli_parser *ps, char *arg)
{
    ps->argv[1 + ps->n_operands++] = arg;
}

static int give(struct pv_cli_parser *ps, const struct pv_cli_opt *o, const char *value)
{
    ps->opt = o;
    ps->value = value;
    return o->key;
}

/* One letter of a group of short options (-x, -xVALUE, -x VALUE, flags grouped as -fj). */
static int short_opt(struct pv_cli_parser *ps)
{
    char letter = *ps->group++;
    char shown[3] = {'-', letter, 0};
    if (letter == 'h') {
        pv_cli_cmd_help(stdout, ps->prog, ps->cmd);
        return PV_CLI_HELP;
    }
    const struct pv_cli_opt *o = ps->cmd->opts;
    while (o && o->name && o->short_name != letter)
        o++;
    if (!o || !o->name) {
        pv_cli_usage_error(ps, "unknown option", shown);
        return PV_CLI_ERROR;
    }
    if (!o->arg)
        return give(ps, o, NULL);
    const char *value = ps->group;
    ps->group = NULL;
    if (*value)
        return give(ps, o, value);
    if (ps->next >= ps->argc) {
        pv_cli_usage_error(ps, "missing value for", shown);
        return PV_CLI_ERROR;
    }
    return give(ps, o, ps->argv[ps->next++]);
}

static int long_opt(struct pv_cli_parser *ps, const char *a)
{
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    if (strcmp(name, "help") == 0) {
        pv_cli_cmd_help(stdout, ps->prog, ps->cmd);
        return PV_CLI_HELP;
    }
    const struct pv_cli_opt *o = ps->cmd->opts;
    while (o && o->name && !(strlen(o->name) == n && strncmp(o->name, name, n) == 0))
        o++;
    if (!o || !o->name) {
        char shown[64];
        snprintf(shown, sizeof shown, "%.*s", (int)(n + 2), a);
        pv_cli_usage_error(ps, "unknown option", shown);
        return PV_CLI_ERROR;
    }
    if (!o->arg) {
        if (eq) {
            pv_cli_usage_error(ps, "no value goes with", a);
            return PV_CLI_ERROR;
        }
        return give(ps, o, NULL);
    }
    if (eq)
        return give(ps, o, eq + 1);
    if (ps->next >= ps->argc) {
        pv_cli_usage_error(ps, "missing value for", a);
        return PV_CLI_ERROR;
    }
    return give(ps, o, ps->argv[ps->next++]);
}

int pv_cli_next(struct pv_cli_parser *ps)
{
    if (ps->group && *ps->group)
        return short_opt(ps);
    while (ps->next < ps->argc) {
        char *a = ps->argv[ps->next++];
        if (strcmp(a, "--") == 0) {
            while (ps->next < ps->argc)
                keep_operand(ps, ps->argv[ps->next++]);
            break;
        }
        if (a[0] != '-' || a[1] == 0) {
            keep_operand(ps, a);
            continue;
        }
        if (a[1] == '-')
            return long_opt(ps, a);
        ps->group = a + 1;
        return short_opt(ps);
    }
    return PV_CLI_END;
}

int pv_cli_operands(const struct pv_cli_parser *ps, char ***out)
{
    *out = ps->argv + 1;
    return ps->n_operands;
}

/* ---- the manual page ---- */

/* Text as roff: '\' and '-' escaped, a line never starting with a control character, a blank
 * line ("\n\n") a new indented paragraph of the same item, other line breaks spaces. */
static void roff_text(FILE *out, const char *s)
{
    int bol = 1;
    for (; *s; s++) {
        if (*s == '\n') {
            if (s[1] == '\n') {
                fputs("\n.IP\n", out);
                s++;
                bol = 1;
            } else if (!bol)
                fputc(' ', out);
            continue;
        }
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", out);
        bol = 0;
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

/* help as a sentence (the period --help leaves out), then more. */
static void roff_sentences(FILE *out, const char *help, const char *more)
{
    roff_text(out, help);
    fputs(".\n", out);
    if (more) {
        roff_text(out, more);
        fputc('\n', out);
    }
}

/* One word of a usage: brackets, parentheses, "|" and "..." plain; arguments (a capital first)
 * italic; the rest bold. */
static void roff_usage_word(FILE *out, const char *w, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = i;
        if (strchr("[]()|", w[i]) || (n - i >= 3 && strncmp(w + i, "...", 3) == 0)) {
            size_t len = strchr("[]()|", w[i]) ? 1 : 3;
            fprintf(out, "%.*s", (int)len, w + i);
            i += len;
            continue;
        }
        while (k < n && !strchr("[]()|", w[k]) && !(n - k >= 3 && strncmp(w + k, "...", 3) == 0))
            k++;
        int arg = w[i] >= 'A' && w[i] <= 'Z';
        fputs(arg ? "\\fI" : "\\fB", out);
        for (size_t j = i; j < k; j++)
            fputs(w[j] == '-' ? "\\-" : (char[]){w[j], 0}, out);
        fputs("\\fR", out);
        i = k;
    }
}

static void man_synopsis(FILE *out, const char *prog, const struct pv_cli_cmd *c)
{
    for (const char *u = c->usage; *u;) {
        {
            size_t n = strcspn(u, "\n");
            fputs("\\fB", out);
            roff_text(out, prog);
            fputs("\\fR", out);
            for (size_t j = 0; j < n;) {
                if (u[j] == ' ') {
                    j++;
                    continue;
                }
                size_t k = j;
                while (k < n && u[k] != ' ')
                    k++;
                fputc(' ', out);
                roff_usage_word(out, u + j, k - j);
                j = k;
            }
            fputs("\n.br\n", out);
            u += n + (u[n] == '\n');
        }
    }
}

static void man_options(FILE *out, const struct pv_cli_cmd *c)
{
    for (const struct pv_cli_opt *o = c->opts; o && o->name; o++) {
        fputs(".TP\n", out);
        if (o->arg) {
            fputs(".BI \"", out);
            if (o->short_name)
                fprintf(out, "\\-%c, ", o->short_name);
            fputs("\\-\\-", out);
            roff_text(out, o->name);
            fprintf(out, " \" %s\n", o->arg);
        } else {
            fputs(".B ", out);
            if (o->short_name)
                fprintf(out, "\\-%c, ", o->short_name);
            fputs("\\-\\-", out);
            roff_text(out, o->name);
            fputc('\n', out);
        }
        roff_sentences(out, o->help, o->more);
    }
}

static void man_exits(FILE *out, const struct pv_cli_prog *p)
{
    for (size_t i = 0; i < p->n_exits; i++) {
        fprintf(out, ".TP\n.B %d\n", p->exits[i].code);
        roff_sentences(out, p->exits[i].help, p->exits[i].more);
    }
}

#define BEGIN_MARK ".\\\" BEGIN generated: "
#define END_MARK   ".\\\" END generated"

int pv_cli_man_update(const struct pv_cli_prog *p, const char *in, char **out, char *why,
                      size_t why_len)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    int rc = 0;
    unsigned line = 1;
    for (const char *s = in; *s && !rc;) {
        size_t n = strcspn(s, "\n");
        fprintf(f, "%.*s\n", (int)n, s);
        if (n > strlen(BEGIN_MARK) && strncmp(s, BEGIN_MARK, strlen(BEGIN_MARK)) == 0) {
            char what[64];
            snprintf(what, sizeof what, "%.*s", (int)(n - strlen(BEGIN_MARK)),
                     s + strlen(BEGIN_MARK));
            unsigned begin = line;
            const struct pv_cli_cmd *c = NULL;
            if (strcmp(what, "exit status") == 0)
                man_exits(f, p);
            else if (strncmp(what, "synopsis ", 9) == 0 && (c = pv_cli_find(p, what + 9)) &&
                     c->usage)
                man_synopsis(f, p->name, c);
            else if (strncmp(what, "options ", 8) == 0 && (c = pv_cli_find(p, what + 8)) && c->opts)
                man_options(f, c);
            else {
                snprintf(why, why_len,
                         "line %u: nothing called \"%s\" to generate (exit status, synopsis "
                         "COMMAND or options COMMAND)",
                         line, what);
                rc = -1;
                break;
            }
            /* skip the old text up to the end mark, which is kept */
            for (;;) {
                s += n + (s[n] == '\n');
                line++;
                if (!*s) {
                    snprintf(why, why_len, "line %u: \"%s\" has no \"%s\" line", begin, what,
                             END_MARK);
                    rc = -1;
                    break;
                }
                n = strcspn(s, "\n");
                if (n == strlen(END_MARK) && strncmp(s, END_MARK, n) == 0) {
                    fprintf(f, "%s\n", END_MARK);
                    break;
                }
            }
        }
        s += n + (s[n] == '\n');
        line++;
    }
    if (fclose(f) != 0 && !rc) {
        snprintf(why, why_len, "out of memory");
        rc = -1;
    }
    if (rc) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}
