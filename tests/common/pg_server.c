/* A throwaway PostgreSQL server for tests (pg_server.h). */
#define _GNU_SOURCE
#include "pg_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The newest /usr/lib/postgresql/N/bin with initdb, or $PV_PG_BIN. */
static int find_bin(pg_server *s)
{
    const char *env = getenv("PV_PG_BIN");
    if (env && env[0]) {
        snprintf(s->bin, sizeof s->bin, "%s", env);
        return 0;
    }
    DIR *d = opendir("/usr/lib/postgresql");
    int best = -1;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int v = atoi(e->d_name);
        char p[300];
        snprintf(p, sizeof p, "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
        if (v > best && access(p, X_OK) == 0)
            best = v;
    }
    if (d)
        closedir(d);
    if (best < 0) {
        snprintf(s->why, sizeof s->why,
                 "no PostgreSQL server binaries (/usr/lib/postgresql/N/bin/initdb; package "
                 "postgresql, or $PV_PG_BIN)");
        return -1;
    }
    snprintf(s->bin, sizeof s->bin, "/usr/lib/postgresql/%d/bin", best);
    return 0;
}

/* Runs bin/prog args... as the server's user, output appended to dir/pg.log. 0 on exit 0. */
static int run(pg_server *s, const char *prog, const char *const *args)
{
    char path[400], log[200];
    snprintf(path, sizeof path, "%s/%s", s->bin, prog);
    snprintf(log, sizeof log, "%s/pg.log", s->dir);
    char *argv[24];
    int n = 0;
    argv[n++] = path;
    for (; args[n - 1] && n < 23; n++)
        argv[n] = strdup(args[n - 1]);
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        if (geteuid() == 0) { /* initdb and postgres refuse root */
            struct passwd *pw = getpwnam("postgres");
            if (!pw || initgroups("postgres", pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
                setuid(pw->pw_uid) != 0)
                _exit(126);
            setenv("HOME", pw->pw_dir, 1);
        }
        execv(path, argv);
        _exit(127);
    }
    for (int i = 1; i < n; i++)
        free(argv[i]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(s->why, sizeof s->why, "%s failed (exit %d); see %s", prog,
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, log);
        return -1;
    }
    return 0;
}

static int ctl_start(pg_server *s)
{
    char data[200], log[200];
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    if (run(s, "pg_ctl",
            (const char *const[]){"-D", data, "-l", log, "-w", "-t", "60", "start", NULL}) != 0)
        return -1;
    s->running = 1;
    return 0;
}

int pg_server_start(pg_server *s)
{
    memset(s, 0, sizeof *s);
    s->port = 5432;
    if (find_bin(s) != 0)
        return -1;
    snprintf(s->dir, sizeof s->dir, "/tmp/pvpg-XXXXXX");
    if (!mkdtemp(s->dir)) {
        snprintf(s->why, sizeof s->why, "mkdtemp failed");
        return -1;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(s->dir, pw->pw_uid, pw->pw_gid) != 0) {
            snprintf(s->why, sizeof s->why,
                     "running as root needs the postgres system user to own %s", s->dir);
            return -1;
        }
    }
    char data[200], conf[220];
    snprintf(data, sizeof data, "%s/data", s->dir);
    if (run(s, "initdb",
            (const char *const[]){"-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E",
                                  "UTF8", "--locale=C", NULL}) != 0)
        return -1;
    snprintf(conf, sizeof conf, "%s/postgresql.conf", data);
    FILE *f = fopen(conf, "a");
    if (!f) {
        snprintf(s->why, sizeof s->why, "cannot append to %s", conf);
        return -1;
    }
    fprintf(f,
            "\n# tests/common/pg_server.c: a Unix socket in the test's directory only\n"
            "listen_addresses = ''\n"
            "unix_socket_directories = '%s'\n"
            "port = %d\n"
            "fsync = off\n"
            "full_page_writes = off\n"
            "max_connections = 40\n"
            "shared_buffers = 16MB\n",
            s->dir, s->port);
    fclose(f);
    return ctl_start(s);
}

int pg_server_stop(pg_server *s)
{
    if (!s->running)
        return 0;
    char data[200];
    snprintf(data, sizeof data, "%s/data", s->dir);
    if (run(s, "pg_ctl", (const char *const[]){"-D", data, "-m", "fast", "-w", "stop", NULL}) != 0)
        return -1;
    s->running = 0;
    return 0;
}

int pg_server_restart(pg_server *s)
{
    return s->running ? 0 : ctl_start(s);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void pg_server_destroy(pg_server *s)
{
    if (!s->dir[0])
        return;
    pg_server_stop(s);
    nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = 0;
}

void pg_server_url(const pg_server *s, const char *db, const char *options, char *out, size_t cap)
{
    snprintf(out, cap, "postgresql:///%s?host=%s&port=%d&user=postgres%s%s", db, s->dir, s->port,
             options ? "&options=" : "", options ? options : "");
}
