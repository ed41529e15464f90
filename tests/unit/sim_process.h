/* Process helpers for the sim end-to-end tests (test_sim_openocd.c, test_sim_gdb.c): start
 * build/host/bin/sim and tools on loopback, read sim's "listening" line, talk to sockets with
 * timeouts, and always kill and reap every child (also when a test fails or hangs: a watchdog
 * alarm and an atexit hook kill them, and children die with the test via PR_SET_PDEATHSIG). */
#ifndef TESTS_UNIT_SIM_PROCESS_H
#define TESTS_UNIT_SIM_PROCESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SP_MAX_CHILDREN 16

static pid_t sp_children[SP_MAX_CHILDREN];
/* <BUILD>/host/bin/sim and <BUILD>/arm, found from this test's own path
 * (<BUILD>/host/tests/test_sim_x), so the tests use the sim of the build they belong to. */
static char sp_sim_bin[4096], sp_arm_dir[4096];
#define SIM_BIN sp_sim_bin

/* <BUILD>/host, from this test's own path (<BUILD>/host/tests/test_x); false if unknown. */
static inline bool sp_host_dir(char *dir, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", dir, cap - 1);
    if (n <= 0)
        return false;
    dir[n] = 0;
    for (int i = 0; i < 2; i++) { /* strip tests/test_x */
        char *slash = strrchr(dir, '/');
        if (!slash)
            return false;
        *slash = 0;
    }
    return true;
}

/* <BUILD>/host/bin/<name> (the program of this test's build) into path; false if it is not
 * built (path then names what is missing). */
static inline bool sp_host_bin(char *path, size_t cap, const char *name)
{
    char host[2048];
    if (!sp_host_dir(host, sizeof host))
        return false;
    snprintf(path, cap, "%s/bin/%s", host, name);
    return access(path, X_OK) == 0;
}

static inline bool sp_find_build(void)
{
    char exe[2048];
    if (!sp_host_dir(exe, sizeof exe))
        return false;
    snprintf(sp_sim_bin, sizeof sp_sim_bin, "%s/bin/sim", exe);
    char *slash = strrchr(exe, '/'); /* strip host */
    if (!slash)
        return false;
    *slash = 0;
    snprintf(sp_arm_dir, sizeof sp_arm_dir, "%s/arm", exe);
    if (access(sp_sim_bin, X_OK) != 0) {
        fprintf(stderr, "%s is not built: run make first\n", sp_sim_bin);
        return false;
    }
    return true;
}

static inline void sp_kill_all(void)
{
    for (int i = 0; i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] > 0) {
            kill(sp_children[i], SIGKILL);
            waitpid(sp_children[i], NULL, 0);
            sp_children[i] = 0;
        }
}

static inline void sp_on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test watchdog: timed out, killing children\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    for (int i = 0; i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] > 0)
            kill(sp_children[i], SIGKILL);
    _exit(1);
}

/* The whole-program watchdog: `seconds` when the program runs alone; under tests/run_tests.sh
 * (which exports PV_TEST_TIMEOUT) the runner's limit less a margin, if that is longer, so a
 * loaded machine slows a test without failing it and the runner's one limit decides, while the
 * watchdog still fires first and kills the sims a killed test would leave behind. */
static inline unsigned sp_watchdog_seconds(unsigned seconds)
{
    const char *lim = getenv("PV_TEST_TIMEOUT");
    long runner = lim ? strtol(lim, NULL, 10) : 0;
    if (runner > 30 && (unsigned long)(runner - 20) > seconds)
        return (unsigned)(runner - 20);
    return seconds;
}

/* Call once from main: finds the sim binary (false if it is not built), kills children at exit,
 * and after sp_watchdog_seconds(seconds) kills the whole test. */
static inline bool sp_install(unsigned seconds)
{
    atexit(sp_kill_all);
    signal(SIGALRM, sp_on_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm(sp_watchdog_seconds(seconds));
    return sp_find_build();
}

static inline uint64_t sp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Starts argv[0] with stdout on a pipe (*out_fd, if out_fd) and stderr appended to err_path
 * (or /dev/null). Returns the pid. */
static inline pid_t sp_spawn(char *const argv[], int *out_fd, const char *err_path)
{
    int p[2] = {-1, -1};
    if (out_fd && pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int err = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(out_fd ? p[1] : nul, 1);
        dup2(err >= 0 ? err : nul, 2);
        if (out_fd) {
            close(p[0]);
            close(p[1]);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    for (int i = 0; i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] == 0) {
            sp_children[i] = pid;
            break;
        }
    return pid;
}

static inline void sp_forget(pid_t pid)
{
    for (int i = 0; i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] == pid)
            sp_children[i] = 0;
}

/* Waits up to ms for pid to exit; returns its exit status (128+signal if killed), or -1 on
 * timeout (the process is left running). */
static inline int sp_wait(pid_t pid, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            sp_forget(pid);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (sp_now_ms() >= end)
            return -1;
        usleep(10000);
    }
}

/* SIGTERM, then SIGKILL if it does not go within ms; returns the exit status. */
static inline int sp_stop(pid_t pid, int ms)
{
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    int st = sp_wait(pid, ms);
    if (st < 0) {
        kill(pid, SIGKILL);
        st = sp_wait(pid, 5000);
    }
    return st;
}

/* Reads one line (without the newline) from fd within ms. */
static inline bool sp_read_line(int fd, char *buf, size_t cap, int ms)
{
    size_t n = 0;
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    while (n + 1 < cap) {
        int left = (int)(end - sp_now_ms());
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            break;
        char c;
        if (read(fd, &c, 1) != 1)
            break;
        if (c == '\n') {
            buf[n] = 0;
            return true;
        }
        buf[n++] = c;
    }
    buf[n] = 0;
    return false;
}

/* The port after "key=127.0.0.1:" in sim's listening line, or -1. */
static inline int sp_port(const char *line, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, " %s=127.0.0.1:", key);
    const char *p = strstr(line, pat);
    return p ? atoi(p + strlen(pat)) : -1;
}

/* A port nobody listens on right now (the kernel's choice for a bound-then-closed socket). */
static inline int sp_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* Connects to 127.0.0.1:port, retrying for up to ms (the server may still be starting). */
static inline int sp_connect(int port, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    do {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        usleep(20000);
    } while (sp_now_ms() < end);
    return -1;
}

/* Reads whatever arrives on fd within ms until `until` appears (or the time is up); returns the
 * bytes read (NUL-terminated). */
static inline size_t sp_read_until(int fd, char *buf, size_t cap, const char *until, int ms)
{
    size_t n = 0;
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    buf[0] = 0;
    while (n + 1 < cap) {
        int left = (int)(end - sp_now_ms());
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            break;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = 0;
        if (until && strstr(buf, until))
            break;
    }
    return n;
}

/* Whole file into a malloc'd NUL-terminated buffer (NULL if unreadable). */
static inline char *sp_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = b ? fread(b, 1, (size_t)(n > 0 ? n : 0), f) : 0;
    fclose(f);
    if (!b)
        return NULL;
    b[got] = 0;
    if (len)
        *len = got;
    return b;
}

/* Starts sim with the given extra arguments (NULL-terminated list) and reads its listening line.
 * Returns the pid, with the line in `line`; stderr goes to err_path. */
static inline pid_t sp_start_sim(char *const *args, const char *err_path, char *line, size_t cap)
{
    char *argv[40];
    int n = 0;
    argv[n++] = SIM_BIN;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int out = -1;
    pid_t pid = sp_spawn(argv, &out, err_path);
    if (pid < 0)
        return -1;
    bool ok = sp_read_line(out, line, cap, 20000);
    close(out);
    if (!ok || !strstr(line, "sim: listening")) {
        int st = sp_stop(pid, 2000);
        /* Say why, so a failure in CI explains itself: the sim's first line and its log. */
        char *log = err_path ? sp_slurp(err_path, NULL) : NULL;
        fprintf(stderr, "sp_start_sim: sim %s (exit status %d); stdout: \"%s\"; log:\n%s\n",
                ok ? "did not say it was listening" : "printed nothing within 20 s", st,
                ok ? line : "", log ? log : "(none)");
        free(log);
        return -1;
    }
    return pid;
}

/* Starts OpenOCD on the sim's remote_bitbang port (the STM32F4 target config loaded), followed
 * by the caller's NULL-terminated extra arguments; stderr goes to err_path. Returns the pid. */
static inline pid_t sp_start_openocd(int bitbang_port, char *const *extra, const char *err_path)
{
    char bb[64];
    snprintf(bb, sizeof bb, "remote_bitbang port %d", bitbang_port);
    char *argv[48] = {"openocd",
                      "-c",
                      "adapter driver remote_bitbang",
                      "-c",
                      "remote_bitbang host 127.0.0.1",
                      "-c",
                      bb,
                      "-f",
                      "target/stm32f4x.cfg"};
    int n = 9;
    for (int i = 0; extra[i] && n < 47; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return sp_spawn(argv, NULL, err_path);
}

/* Runs bin with the NULL-terminated args to completion (30 s at most): stdout into out, stderr
 * through err_path (which it replaces) into err. With err NULL, stderr is appended to out
 * instead (stdout then gets at most half of out). Returns the exit status. */
static inline int sp_run_capture(const char *bin, const char *const *args, const char *err_path,
                                 char *out, size_t out_cap, char *err, size_t err_cap)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)(uintptr_t)bin;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;
    unlink(err_path);
    int fd = -1;
    pid_t pid = sp_spawn(argv, &fd, err_path);
    if (pid <= 0)
        return -1;
    sp_read_until(fd, out, err ? out_cap : out_cap / 2, NULL, 30000);
    close(fd);
    int st = sp_wait(pid, 30000);
    if (st < 0)
        st = sp_stop(pid, 1000);
    char *e = sp_slurp(err_path, NULL);
    if (err) {
        snprintf(err, err_cap, "%s", e ? e : "");
    } else if (e) {
        size_t len = strlen(out);
        snprintf(out + len, out_cap - len, "%s", e);
    }
    free(e);
    return st;
}

/* A fresh directory /tmp/<name>.XXXXXX in buf (false, with a message, if it cannot be made). */
static inline bool sp_make_tmpdir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "/tmp/%s.XXXXXX", name);
    if (mkdtemp(buf))
        return true;
    perror("mkdtemp");
    return false;
}

/* rm -rf dir (a test's temporary directory); 0 when it is gone. */
static inline int sp_remove_tmpdir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
