/* The OpenOCD commands a recipe or a station config may add (probe.openocd.commands): OpenOCD
 * runs them with -c through its Jim Tcl interpreter, as root on a station, so a command such as
 * "exec sh -c ..." would run host programs. Each string is split into commands and words by
 * Tcl's rules, every command it would run (also those inside event scripts) must be on the
 * allow-list below, and anything whose words Tcl would compute at run time is refused: command
 * substitution ([...]), variables ($x), backslash escapes, {*} expansion and comments. What is
 * left has literal words only, so what is checked here is what OpenOCD runs. */
#include "recipe.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_WORDS 64u
#define MAX_DEPTH 8u

struct word {
    const char *s; /* the word's value (literal: no substitution is allowed) */
    size_t n;
    const char *at; /* where the word starts in the command (its brace or quote) */
};

struct oc {
    const char *base;
    size_t at;
    char *why;
    size_t why_len;
};

__attribute__((format(printf, 3, 4))) static int refuse(struct oc *o, const char *p,
                                                        const char *fmt, ...)
{
    o->at = (size_t)(p - o->base);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->why, o->why_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Commands with the words that must follow them; NULL: any arguments. The arguments of all of
 * these are numbers, names or addresses, never scripts (a braced argument is refused). */
static const struct allowed {
    const char *name, *sub;
} allowed[] = {
    /* memory words: the clock and flash setup an event script makes */
    {"mww", NULL},
    {"mwh", NULL},
    {"mwb", NULL},
    {"mmw", NULL},
    {"mdw", NULL},
    {"mdh", NULL},
    {"mdb", NULL},
    {"sleep", NULL},
    /* the adapter and its transport */
    {"adapter", "speed"},
    {"adapter", "driver"},
    {"adapter", "serial"},
    {"adapter", "srst delay"},
    {"adapter", "srst pulse_width"},
    {"adapter", "usb location"},
    {"adapter_khz", NULL},
    {"transport", "select"},
    {"remote_bitbang", "port"},
    {"remote_bitbang", "host"},
    /* reset wiring and timing */
    {"reset_config", NULL},
    {"jtag_ntrst_delay", NULL},
    {"jtag_ntrst_assert_width", NULL},
    {"cortex_m", "reset_config"},
    /* log verbosity (the log goes where provision sends it) */
    {"debug_level", NULL},
};

#define ALLOWED_TEXT                                                                               \
    "mww, mwh, mwb, mmw, mdw, mdh, mdb, sleep, adapter speed|driver|serial|srst|usb location, "    \
    "adapter_khz, transport select, remote_bitbang port|host, reset_config, jtag_ntrst_delay, "    \
    "jtag_ntrst_assert_width, cortex_m reset_config, debug_level and TARGET.cpu configure "        \
    "-event NAME {...}"

/* Why a well-known command is refused, for the message. */
static const char *danger(const char *name, size_t n)
{
    static const struct {
        const char *name, *why;
    } d[] = {
        {"exec", "it runs host programs"},
        {"source", "it runs the commands of another file"},
        {"proc", "it defines new commands"},
        {"rename", "it redefines commands"},
        {"eval", "it runs a script built at run time"},
        {"uplevel", "it runs a script built at run time"},
        {"catch", "it runs a script"},
        {"if", "it runs scripts"},
        {"for", "it runs scripts"},
        {"foreach", "it runs scripts"},
        {"while", "it runs scripts"},
        {"expr", "it evaluates expressions that can run commands"},
        {"file", "it reads and changes host files"},
        {"open", "it opens host files and pipes to programs"},
        {"socket", "it opens network connections"},
        {"load", "it loads host code"},
        {"package", "it loads host code"},
        {"log_output", "it writes a host file"},
        {"bindto", "it opens OpenOCD's command ports to the network"},
        {"tcl_port", "it opens a port that runs any command"},
        {"telnet_port", "it opens a port that runs any command"},
        {"gdb_port", "it opens a port whose monitor commands run any command"},
        {"init", "provision runs init itself"},
        {"shutdown", "provision ends OpenOCD itself"},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        if (strlen(d[i].name) == n && memcmp(d[i].name, name, n) == 0)
            return d[i].why;
    return NULL;
}

static int word_is(const struct word *w, const char *s)
{
    return strlen(s) == w->n && memcmp(w->s, s, w->n) == 0;
}

/* OpenOCD's target names: "$_CHIPNAME.cpu", e.g. stm32f4x.cpu or stm32h7x.cpu0. */
static int is_target_name(const struct word *w)
{
    size_t n = w->n;
    while (n && w->s[n - 1] >= '0' && w->s[n - 1] <= '9')
        n--;
    if (n < 5 || memcmp(w->s + n - 4, ".cpu", 4) != 0)
        return 0;
    for (size_t i = 0; i < n - 4; i++) {
        char ch = w->s[i];
        if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') && !(ch >= '0' && ch <= '9') &&
            ch != '_' && ch != '.' && ch != '-')
            return 0;
    }
    return 1;
}

static int check_script(struct oc *o, const char *p, const char *end, unsigned depth);

/* TARGET configure: the options a recipe needs; -event's body is a script, checked too. */
static int check_configure(struct oc *o, const struct word *w, size_t n, unsigned depth)
{
    static const char *const one_value[] = {"-work-area-phys", "-work-area-virt", "-work-area-size",
                                            "-work-area-backup"};
    for (size_t i = 2; i < n;) {
        if (word_is(&w[i], "-event")) {
            if (i + 2 >= n)
                return refuse(o, w[i].at,
                              "%.*s configure -event needs an event name and a script, e.g. "
                              "-event reset-init { mww 0x40023C00 0x102 }",
                              (int)w[0].n, w[0].s);
            for (size_t k = 0; k < w[i + 1].n; k++) {
                char ch = w[i + 1].s[k];
                if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '-')
                    return refuse(o, w[i + 1].at,
                                  "\"%.*s\" is not an event name (lower-case words joined by "
                                  "'-', e.g. reset-init)",
                                  (int)w[i + 1].n, w[i + 1].s);
            }
            if (check_script(o, w[i + 2].s, w[i + 2].s + w[i + 2].n, depth + 1) != 0)
                return -1;
            i += 3;
            continue;
        }
        size_t k = 0;
        while (k < sizeof one_value / sizeof one_value[0] && !word_is(&w[i], one_value[k]))
            k++;
        if (k == sizeof one_value / sizeof one_value[0])
            return refuse(o, w[i].at,
                          "%.*s configure %.*s: a recipe may set only -event and -work-area-phys, "
                          "-virt, -size and -backup; remove it",
                          (int)w[0].n, w[0].s, (int)w[i].n, w[i].s);
        if (i + 1 >= n)
            return refuse(o, w[i].at, "%.*s configure %.*s needs a value", (int)w[0].n, w[0].s,
                          (int)w[i].n, w[i].s);
        if (*w[i + 1].at == '{')
            return refuse(o, w[i + 1].at,
                          "%.*s configure %.*s: write the value without braces (a braced "
                          "argument may be a script)",
                          (int)w[0].n, w[0].s, (int)w[i].n, w[i].s);
        i += 2;
    }
    return 0;
}

static int check_command(struct oc *o, const struct word *w, size_t n, unsigned depth)
{
    if (is_target_name(&w[0])) {
        if (n < 2 || !word_is(&w[1], "configure"))
            return refuse(o, n < 2 ? w[0].at : w[1].at,
                          "\"%.*s%s%.*s\": a recipe may only configure a target (%.*s configure "
                          "-event NAME {...}); remove it",
                          (int)w[0].n, w[0].s, n < 2 ? "" : " ", n < 2 ? 0 : (int)w[1].n,
                          n < 2 ? "" : w[1].s, (int)w[0].n, w[0].s);
        return check_configure(o, w, n, depth);
    }
    size_t nwords = 1;
    int known = 0, match = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0] && !match; i++) {
        if (!word_is(&w[0], allowed[i].name))
            continue;
        known = 1;
        if (!allowed[i].sub) {
            match = 1;
            break;
        }
        /* the sub-command words, one by one */
        const char *s = allowed[i].sub;
        size_t k = 1;
        match = 1;
        while (*s) {
            size_t len = strcspn(s, " ");
            if (k >= n || w[k].n != len || memcmp(w[k].s, s, len) != 0) {
                match = 0;
                break;
            }
            k++;
            s += len;
            s += *s == ' ';
        }
        if (match)
            nwords = k;
    }
    if (!match) {
        const char *d = danger(w[0].s, w[0].n);
        if (known)
            return refuse(o, n > 1 ? w[1].at : w[0].at,
                          "\"%.*s%s%.*s\" is not an OpenOCD command a recipe may run; a recipe "
                          "may add only " ALLOWED_TEXT,
                          (int)w[0].n, w[0].s, n > 1 ? " " : "", n > 1 ? (int)w[1].n : 0,
                          n > 1 ? w[1].s : "");
        return refuse(o, w[0].at,
                      "\"%.*s\" is not an OpenOCD command a recipe may run%s%s%s; remove it (a "
                      "recipe may add only " ALLOWED_TEXT ")",
                      (int)w[0].n, w[0].s, d ? " (" : "", d ? d : "", d ? ")" : "");
    }
    for (size_t i = nwords; i < n; i++)
        if (*w[i].at == '{')
            return refuse(o, w[i].at,
                          "%.*s: write the argument without braces (a braced argument may be a "
                          "script, and %.*s takes none)",
                          (int)w[0].n, w[0].s, (int)w[0].n, w[0].s);
    return 0;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int ends_word(const char *p, const char *end)
{
    return p == end || is_space(*p) || *p == '\n' || *p == ';';
}

/* One script: commands separated by newlines and ';', words by blanks; a braced word is taken
 * as Tcl takes it (nested braces counted) and a quoted one up to its closing quote. */
static int check_script(struct oc *o, const char *p, const char *end, unsigned depth)
{
    if (depth > MAX_DEPTH)
        return refuse(o, p, "event scripts nested more than %u deep", MAX_DEPTH);
    while (p < end) {
        if (is_space(*p) || *p == '\n' || *p == ';') {
            p++;
            continue;
        }
        if (*p == '#')
            return refuse(o, p,
                          "a Tcl comment; write comments in YAML (# outside the quoted string)");
        struct word w[MAX_WORDS];
        size_t n = 0;
        while (p < end && *p != '\n' && *p != ';') {
            if (is_space(*p)) {
                p++;
                continue;
            }
            if (n == MAX_WORDS)
                return refuse(o, p, "more than %u words in one command", MAX_WORDS);
            const char *start = p;
            if (*p == '{') {
                unsigned level = 1;
                p++;
                while (p < end && level) {
                    level += *p == '{';
                    level -= *p == '}';
                    p++;
                }
                if (level)
                    return refuse(o, start, "this '{' has no matching '}'");
                w[n] = (struct word){start + 1, (size_t)(p - 1 - (start + 1)), start};
                if (w[n].n == 1 && start[1] == '*' && !ends_word(p, end))
                    return refuse(o, start,
                                  "{*}: argument expansion is not allowed in recipe commands (it "
                                  "makes words at run time); write the words themselves");
                if (!ends_word(p, end))
                    return refuse(o, p,
                                  "text right after a closing brace; put a space between words "
                                  "({*} expansion is not allowed)");
            } else if (*p == '"') {
                p++;
                while (p < end && *p != '"')
                    p++;
                if (p == end)
                    return refuse(o, start, "this '\"' has no closing '\"'");
                w[n] = (struct word){start + 1, (size_t)(p - (start + 1)), start};
                p++;
                if (!ends_word(p, end))
                    return refuse(o, p,
                                  "text right after a closing quote; put a space between "
                                  "words");
            } else {
                while (!ends_word(p, end)) {
                    if (*p == '{' || *p == '}' || *p == '"')
                        return refuse(o, p,
                                      "'%c' inside a word; braces and quotes may only enclose "
                                      "whole words",
                                      *p);
                    p++;
                }
                w[n] = (struct word){start, (size_t)(p - start), start};
            }
            n++;
        }
        if (n && check_command(o, w, n, depth) != 0)
            return -1;
    }
    return 0;
}

int pv_recipe_openocd_command_check(const char *cmd, size_t *at, char *why, size_t why_len)
{
    struct oc o = {.base = cmd, .why = why, .why_len = why_len};
    *at = 0;
    if (why_len)
        why[0] = 0;
    /* Whatever Tcl would compute while running the command is refused wherever it appears,
     * also inside braces (an event script is parsed again when the event fires). */
    for (const char *p = cmd; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        int rc = 0;
        if (ch == '[' || ch == ']')
            rc = refuse(&o, p,
                        "'%c': command substitution is not allowed in recipe commands (it runs "
                        "the command inside); write the value itself",
                        ch);
        else if (ch == '$')
            rc = refuse(&o, p,
                        "'$': variables are not allowed in recipe commands; write the value "
                        "itself (e.g. stm32f4x.cpu for $_TARGETNAME)");
        else if (ch == '\\')
            rc = refuse(&o, p,
                        "'\\': backslash escapes are not allowed in recipe commands; write the "
                        "characters themselves");
        else if ((ch < 0x20 && ch != '\t' && ch != '\n') || ch == 0x7f)
            rc = refuse(&o, p, "control character 0x%02X; recipe commands are plain text", ch);
        if (rc) {
            *at = o.at;
            return -1;
        }
    }
    int rc = check_script(&o, cmd, cmd + strlen(cmd), 0);
    *at = o.at;
    return rc;
}
