/* The PIN policy (pin_source.h). */
#include "pin_source.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/wipe.h"
#include "file_read.h"

extern char **environ;

/* A value taken from the environment, kept for the life of the process (a bridge reopens the
 * token per product, after the variable is gone). */
struct taken {
    const char *name;
    int have;     /* set and not empty */
    int too_long; /* set, but PV_PIN_MAX bytes or more */
    char value[PV_PIN_MAX];
};

static struct taken taken[] = {{.name = PV_PIN_ENV}, {.name = PV_SO_PIN_ENV}};

static void take_one(struct taken *t)
{
    size_t nl = strlen(t->name);
    int found = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, t->name, nl) != 0 || (*e)[nl] != '=')
            continue;
        char *v = *e + nl + 1;
        size_t len = strlen(v);
        if (!found) { /* the first one, as getenv would */
            pv_wipe(t->value, sizeof t->value);
            t->have = len > 0;
            t->too_long = len >= sizeof t->value;
            if (t->have && !t->too_long)
                memcpy(t->value, v, len + 1);
            found = 1;
        }
        /* the bytes /proc/PID/environ shows: unsetenv alone only drops the pointer */
        pv_wipe(v, len);
    }
    if (found)
        unsetenv(t->name);
}

void pv_pin_env_take(void)
{
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++)
        take_one(&taken[i]);
}

static const char *user_name(uid_t uid, char *buf, size_t cap)
{
    struct passwd *pw = getpwuid(uid);
    if (pw && pw->pw_name)
        snprintf(buf, cap, "%s", pw->pw_name);
    else
        snprintf(buf, cap, "uid %u", (unsigned)uid);
    return buf;
}

/* The owner and mode rules on an opened (or stat'ed) file. */
static int check_stat(const char *path, const struct stat *st, char *err, size_t err_len)
{
    char owner[64], me[64];
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, err_len,
                 "PIN file %s is %s, not a regular file (write the PIN on the first line of a "
                 "file only you can read: chmod 600 FILE)",
                 path, pv_file_type_name(st->st_mode));
        return -1;
    }
    if (st->st_uid != geteuid()) {
        snprintf(err, err_len,
                 "PIN file %s is owned by %s, not by the user running this command (%s); fix: "
                 "chown %u %s && chmod 600 %s",
                 path, user_name(st->st_uid, owner, sizeof owner),
                 user_name(geteuid(), me, sizeof me), (unsigned)geteuid(), path, path);
        return -1;
    }
    if (st->st_mode & 077) {
        snprintf(err, err_len,
                 "PIN file %s has mode %04o (owner %s): group or others may read it; fix: chmod "
                 "600 %s",
                 path, (unsigned)(st->st_mode & 07777), user_name(st->st_uid, owner, sizeof owner),
                 path);
        return -1;
    }
    return 0;
}

int pv_pin_file_check(const char *path, char *err, size_t err_len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, err_len, "PIN file %s: %s (write the PIN on its first line; chmod 600 %s)",
                 path, strerror(errno), path);
        return -1;
    }
    return check_stat(path, &st, err, err_len);
}

/* The first line of an open PIN file, read straight into pin (no stdio buffer keeps a copy). */
static int read_first_line(int fd, const char *path, const char *what, char *pin, size_t cap,
                           char *err, size_t err_len)
{
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            snprintf(err, err_len, "%s: the %s on its first line is %zu bytes or longer", path,
                     what, cap - 1);
            return -1;
        }
        ssize_t got = read(fd, pin + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, err_len, "%s: cannot read the %s file: %s", path, what, strerror(errno));
            return -1;
        }
        if (got == 0)
            break;
        size_t end = n + (size_t)got;
        pin[end] = 0;
        size_t line = strcspn(pin, "\r\n");
        if (line < end) {
            n = line;
            break;
        }
        n = end;
    }
    pv_wipe(pin + n, cap - n);
    if (n == 0) {
        snprintf(err, err_len, "%s: the %s file is empty (one line: the PIN)", path, what);
        return -1;
    }
    return 0;
}

static int read_file(const char *file, const char *what, char *pin, size_t cap, char *err,
                     size_t err_len)
{
    int fd;
    uint64_t size;
    char why[160];
    if (pv_file_open_regular(file, &fd, &size, why, sizeof why) != PV_FILE_OK) {
        struct stat st;
        /* a FIFO or device: refused by its type, as check_stat words it */
        if (stat(file, &st) == 0 && !S_ISREG(st.st_mode))
            return check_stat(file, &st, err, err_len);
        snprintf(err, err_len, "%s: cannot read the %s file: %s", file, what, why);
        return -1;
    }
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? check_stat(file, &st, err, err_len) : -1;
    if (rc == 0)
        rc = read_first_line(fd, file, what, pin, cap, err, err_len);
    else if (err[0] == 0)
        snprintf(err, err_len, "%s: %s", file, strerror(errno));
    close(fd);
    return rc;
}

int pv_pin_read(const char *file, const char *env, const char *dev_default, const char *what,
                char *pin, size_t cap, char *err, size_t err_len)
{
    pv_pin_env_take();
    pv_wipe(pin, cap);
    err[0] = 0;
    if (file) {
        if (read_file(file, what, pin, cap, err, err_len) != 0) {
            pv_wipe(pin, cap);
            return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        const struct taken *t = &taken[i];
        if (strcmp(t->name, env) != 0 || !t->have)
            continue;
        if (t->too_long || strlen(t->value) >= cap) {
            snprintf(err, err_len, "$%s is too long for a %s (at most %zu bytes)", env, what,
                     cap - 1);
            return -1;
        }
        memcpy(pin, t->value, strlen(t->value) + 1);
        return 0;
    }
    if (dev_default) {
        snprintf(pin, cap, "%s", dev_default);
        return 0;
    }
    snprintf(err, err_len,
             "no %s: put it on the first line of a file only you can read (chmod 600 FILE) and "
             "give --%s-file FILE, or set $%s (--dev uses the development default, never for a "
             "production token)",
             what, strcmp(env, PV_SO_PIN_ENV) == 0 ? "so-pin" : "pin", env);
    return -1;
}

/* Whether arg (up to its '=') could reach a PIN option: --pin..., --so-pin..., or an
 * abbreviation getopt_long would expand to --pin-file or --so-pin-file (--pi, --so-p). Only the
 * two file options spelled in full pass, so a PIN typed after an abbreviation is never taken for
 * a file name and echoed in an error. */
static int names_a_pin(const char *arg)
{
    static const struct {
        const char *file; /* the option that takes a file */
        size_t unique;    /* the shortest abbreviation no other option shares */
    } opts[] = {{"--pin-file", 4}, {"--so-pin-file", 5}};
    size_t n = strcspn(arg, "=");
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        size_t full = strlen(opts[i].file), bare = full - strlen("-file");
        if (n == full && strncmp(arg, opts[i].file, n) == 0)
            return 0;
        if (n >= opts[i].unique && n <= full && strncmp(arg, opts[i].file, n) == 0)
            return 1;
        if (n >= bare && strncmp(arg, opts[i].file, bare) == 0)
            return 1;
    }
    return 0;
}

int pv_pin_argv_check(int argc, char *const *argv, char *err, size_t err_len)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (!names_a_pin(a))
            continue;
        int so = strncmp(a, "--so", 4) == 0;
        snprintf(err, err_len,
                 "%.*s: a PIN is never given on the command line (every user sees it in the "
                 "process list, and it stays in the shell history); put it on the first line of "
                 "a file only you can read (chmod 600 FILE) and give --%s-file FILE (hsm-bridge: "
                 "token.pin_file in its configuration), or set $%s (the file options are spelled "
                 "in full)",
                 (int)strcspn(a, "="), a, so ? "so-pin" : "pin", so ? PV_SO_PIN_ENV : PV_PIN_ENV);
        return -1;
    }
    return 0;
}
