/* A command-line program described once, as tables: its commands, each command's options (name,
 * argument, what it does) and the program's exit codes. From these tables come the option parser
 * (an option the table does not list cannot be given), `PROG --help` and `PROG CMD --help`, and
 * the generated parts of the manual page (tools/gen_man.c, `make man`; `make man-check` and
 * tests/unit/test_cli_docs.c fail when the checked-in page differs). Host only. */
#ifndef PV_HOST_CLI_H
#define PV_HOST_CLI_H

#include <stddef.h>
#include <stdio.h>

/* A number written into help text from its one definition (a macro without suffix: 3650). */
#define PV_CLI_STR_(x) #x
#define PV_CLI_STR(x)  PV_CLI_STR_(x)

/* One option of a command. The tables end with an entry whose name is NULL. */
struct pv_cli_opt {
    int key;          /* what pv_cli_next returns for it: the letter when short_name is set */
    char short_name;  /* 'c' accepts -c as well, 0: the long form only */
    const char *name; /* the long form without "--" */
    const char *arg;  /* the argument's name ("FILE"), NULL for a flag */
    const char *help; /* what it does, one sentence (wrapped for --help, filled by man) */
    const char *more; /* the manual page only: further explanation, or NULL */
};

/* One exit code of a program, in the program's table. */
struct pv_cli_exit {
    int code;
    const char *help; /* what it means, short (--help) */
    const char *more; /* the manual page only: further explanation, or NULL */
};

struct pv_cli_cmd {
    const char *name;    /* "run" */
    const char *summary; /* one line for `PROG --help` */
    /* The synopsis, one usage per line ('\n' between), each without the program's name:
     * "run --recipe FILE [options]". Words in capitals are arguments (italic in the manual),
     * the rest is typed as it is (bold). */
    const char *usage;
    const char *about;             /* `PROG CMD --help` after the usage; paragraphs end "\n\n" */
    const struct pv_cli_opt *opts; /* the options (-h/--help is every command's, implicitly) */
    const int *exits;              /* the exit codes it returns, ending with -1 */
    const char *exit_note;         /* `--help` after the exit codes, or NULL */
    int (*run)(int argc, char **argv); /* argv[0] is the command's name; returns an exit code */
};

struct pv_cli_prog {
    const char *name;    /* "provision" */
    const char *version; /* "0.1.0" */
    const char *about;   /* `PROG --help` after the usage */
    const char *manual;  /* how to read the manual page ("man -l docs/provision.1") */
    const struct pv_cli_cmd *const *cmds;
    size_t n_cmds;
    const struct pv_cli_exit *exits; /* ascending codes */
    size_t n_exits;
    int usage_code; /* the exit code of a bad command line */
};

/* Dispatches argv[1] to its command; PROG --help, PROG help CMD, PROG --version. */
int pv_cli_main(const struct pv_cli_prog *p, int argc, char **argv);

const struct pv_cli_cmd *pv_cli_find(const struct pv_cli_prog *p, const char *name);
void pv_cli_prog_help(FILE *out, const struct pv_cli_prog *p);
void pv_cli_cmd_help(FILE *out, const struct pv_cli_prog *p, const struct pv_cli_cmd *c);

/* ---- parsing a command's options ---- */

#define PV_CLI_OPTS_MAX 40

enum {
    PV_CLI_END = -1,   /* no more options: the operands start at pv_cli_parser.next */
    PV_CLI_HELP = -2,  /* -h/--help: the command's help is printed; exit 0 */
    PV_CLI_ERROR = -3, /* a bad option: the message is printed; exit with usage_code */
};

struct pv_cli_parser {
    const struct pv_cli_prog *prog;
    const struct pv_cli_cmd *cmd;
    const char *who; /* "provision run" in messages */
    int argc;
    char **argv;
    int next;          /* the next argument to read */
    int n_operands;    /* kept so far at argv[1..n_operands] */
    const char *group; /* the rest of a group of short flags (-fj), or NULL */
    const char *value; /* the option's argument after pv_cli_next returned its key */
    const struct pv_cli_opt *opt;
};

/* Starts parsing argv[1..argc-1] (argv[0] is the command, or its subcommand) for cmd. who names
 * the command in messages ("provision recipe"). */
void pv_cli_begin(struct pv_cli_parser *ps, const struct pv_cli_prog *p, const struct pv_cli_cmd *c,
                  const char *who, int argc, char **argv);
/* The next option's key (its value in ps->value), or PV_CLI_END / PV_CLI_HELP / PV_CLI_ERROR.
 * Options and operands may mix; "--" ends the options. Long options are never abbreviated (a
 * typed "--pin" is not "--pin-file"), and "--name=value" is accepted. */
int pv_cli_next(struct pv_cli_parser *ps);
/* The operands (arguments that are not options), after PV_CLI_END. */
int pv_cli_operands(const struct pv_cli_parser *ps, char ***out);
/* Prints "WHO: MSG[ ARG] (see WHO --help)" and returns the usage exit code. */
int pv_cli_usage_error(const struct pv_cli_parser *ps, const char *msg, const char *arg);
/* The same, from a command's own name (before a parser exists). */
int pv_cli_usage_error_of(const struct pv_cli_prog *p, const char *who, const char *msg,
                          const char *arg);

/* ---- the manual page ---- */

/* Rewrites the generated parts of a manual page: every line
 *   .\" BEGIN generated: WHAT
 * up to its line
 *   .\" END generated
 * is replaced by WHAT rendered from the tables, where WHAT is "exit status", "synopsis CMD"
 * or "options CMD". in is the page as it is; the result is malloc'd into *out. 0, or -1 with why
 * (an unknown WHAT, an unterminated part). */
int pv_cli_man_update(const struct pv_cli_prog *p, const char *in, char **out, char *why,
                      size_t why_len);

#endif
