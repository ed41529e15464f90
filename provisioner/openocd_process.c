/* The OpenOCD a "spawn:" target starts (openocd_process.h): its process and its log. */
#include "openocd_process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"
#include "probe_util.h"

#define MAX_ARGS 96

/* ---- the log ---- */

/* Keeps lines that report an error ("Error: ..." or "file:line: Error: ..."). */
static void note_log_line(struct ocd_log *log, const char *line, size_t n)
{
    char l[400];
    snprintf(l, sizeof l, "%.*s", (int)(n < sizeof l ? n : sizeof l - 1), line);
    if (strncmp(l, "Error", 5) != 0 && !strstr(l, "Error:"))
        return;
    size_t used = strlen(log->errlines);
    if (used + 4 >= sizeof log->errlines)
        return;
    snprintf(log->errlines + used, sizeof log->errlines - used, "%s%s", used ? " / " : "", l);
}

void ocd_log_feed(struct ocd_log *log, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (log->len == PV_OCD_LOG_TAIL) { /* keep the last lines only */
            memmove(log->tail, log->tail + PV_OCD_LOG_TAIL / 2, PV_OCD_LOG_TAIL / 2);
            log->len = PV_OCD_LOG_TAIL / 2;
        }
        log->tail[log->len++] = buf[i];
        if (buf[i] == '\n') {
            size_t start = log->len - 1;
            while (start > 0 && log->tail[start - 1] != '\n')
                start--;
            size_t k = log->len - 1 - start;
            if (k && log->tail[start + k - 1] == '\r')
                k--;
            note_log_line(log, log->tail + start, k);
        }
    }
    log->tail[log->len] = 0;
}

void ocd_log_read(struct ocd_log *log)
{
    if (log->fd < 0)
        return;
    char buf[16384];
    for (;;) {
        ssize_t r = read(log->fd, buf, sizeof buf);
        if (r <= 0) {
            if (r == 0) { /* OpenOCD closed it: it is exiting */
                close(log->fd);
                log->fd = -1;
            }
            return;
        }
        ocd_log_feed(log, buf, (size_t)r);
    }
}

bool ocd_log_said(const struct ocd_log *log, const char *text, const char *what)
{
    return (text && strstr(text, what)) || strstr(log->errlines, what);
}

bool ocd_log_dead_port(const struct ocd_log *log, const char *text)
{
    static const char *const signs[] = {"JTAG scan chain interrogation failed",
                                        "TDO seems to be stuck high",
                                        "Invalid ACK",
                                        "not examined",
                                        "Error connecting DP",
                                        "unable to connect to the target",
                                        "Could not find MEM-AP"};
    for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++)
        if (ocd_log_said(log, text, signs[i]))
            return true;
    return false;
}

/* ---- the process ---- */

int ocd_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd_out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = pv_probe_tcp_connect(ai, timeout_ms);
    int e = errno;
    freeaddrinfo(ai);
    errno = e;
    *fd_out = fd;
    return fd >= 0 ? 0 : -1;
}

/* Splits args like a POSIX shell would (quotes and backslashes; no expansions). */
static int split_args(const char *s, char *buf, char **argv, int max)
{
    int n = 0;
    char *o = buf;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        if (n == max)
            return -1;
        argv[n++] = o;
        while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
            if (*s == '\'') {
                const char *e = strchr(s + 1, '\'');
                if (!e)
                    return -2;
                memcpy(o, s + 1, (size_t)(e - s - 1));
                o += e - s - 1;
                s = e + 1;
            } else if (*s == '"') {
                s++;
                while (*s && *s != '"') {
                    if (*s == '\\' && s[1] && strchr("\"\\$`", s[1]))
                        s++;
                    *o++ = *s++;
                }
                if (*s != '"')
                    return -2;
                s++;
            } else if (*s == '\\' && s[1]) {
                *o++ = s[1];
                s += 2;
            } else {
                *o++ = *s++;
            }
        }
        *o++ = 0;
    }
    argv[n] = NULL;
    return n;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int ocd_spawn(struct ocd_process *proc, const char *args, int timeout_ms, int *tcl_fd, char *err,
              size_t err_len)
{
    size_t alen = strlen(args);
    char *buf = malloc(alen + 1);
    char *uargv[MAX_ARGS + 1];
    if (!buf) {
        snprintf(err, err_len, "openocd: out of memory");
        return PV_PROBE_ERR_IO;
    }
    int nu = split_args(args, buf, uargv, MAX_ARGS);
    if (nu < 0) {
        snprintf(err, err_len, "openocd: spawn arguments '%s': %s", args,
                 nu == -1 ? "too many arguments" : "unbalanced quote");
        free(buf);
        return PV_PROBE_ERR_IO;
    }
    const char *exe = getenv("PV_OPENOCD");
    if (!exe || !*exe)
        exe = "openocd";
    int rc = PV_PROBE_ERR_IO;
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = free_port();
        char tcl[40], portstr[16];
        snprintf(tcl, sizeof tcl, "tcl_port %d", port);
        snprintf(portstr, sizeof portstr, "%d", port);
        char *argv[MAX_ARGS + 16];
        int n = 0;
        argv[n++] = (char *)(uintptr_t)exe;
        const char *ours[] = {"gdb_port disabled", "telnet_port disabled", "bindto 127.0.0.1", tcl};
        for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
            argv[n++] = "-c";
            argv[n++] = (char *)(uintptr_t)ours[i];
        }
        for (int i = 0; i < nu; i++)
            argv[n++] = uargv[i];
        argv[n] = NULL;
        int pipefd[2];
        if (pipe(pipefd) != 0) {
            snprintf(err, err_len, "openocd: pipe: %s", strerror(errno));
            break;
        }
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
            snprintf(err, err_len, "openocd: fork: %s", strerror(errno));
            close(pipefd[0]);
            close(pipefd[1]);
            break;
        }
        if (pid == 0) {
            /* own process group: terminal signals go to the station, which stops us cleanly */
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(127);
            int nul = open("/dev/null", O_RDWR);
            dup2(nul, 0);
            dup2(pipefd[1], 1);
            dup2(pipefd[1], 2);
            long maxfd = sysconf(_SC_OPEN_MAX);
            for (long fd = 3; fd < (maxfd > 0 && maxfd < 65536 ? maxfd : 4096); fd++)
                close((int)fd);
            signal(SIGPIPE, SIG_DFL);
            execvp(exe, argv);
            dprintf(2, "Error: cannot run %s: %s\n", exe, strerror(errno));
            _exit(127);
        }
        close(pipefd[1]);
        fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
        proc->pid = pid;
        proc->log.fd = pipefd[0];
        fcntl(proc->log.fd, F_SETFL, fcntl(proc->log.fd, F_GETFL) | O_NONBLOCK);
        proc->log.len = 0;
        proc->log.errlines[0] = 0;
        /* Wait for the Tcl port, or for OpenOCD to give up. */
        uint64_t end = pv_probe_now_ms() + (uint64_t)timeout_ms;
        int status = 0;
        bool exited = false;
        rc = PV_PROBE_ERR_TIMEOUT;
        while (pv_probe_now_ms() < end) {
            ocd_log_read(&proc->log);
            if (waitpid(pid, &status, WNOHANG) == pid) {
                exited = true;
                proc->pid = 0;
                break;
            }
            int fd = -1;
            if (ocd_tcp_connect("127.0.0.1", portstr, 200, &fd) == 0) {
                *tcl_fd = fd;
                rc = PV_PROBE_OK;
                break;
            }
            struct pollfd pfd = {.fd = proc->log.fd, .events = POLLIN};
            poll(&pfd, proc->log.fd >= 0 ? 1 : 0, 20);
        }
        if (rc == PV_PROBE_OK)
            break;
        if (exited) {
            for (int i = 0; i < 20 && proc->log.fd >= 0; i++)
                ocd_log_read(&proc->log); /* what it said before it went */
            if (ocd_log_said(&proc->log, NULL, "Address already in use") ||
                ocd_log_said(&proc->log, NULL, "couldn't bind tcl")) {
                close(proc->log.fd);
                proc->log.fd = -1;
                continue; /* somebody took the port: another one */
            }
            if (ocd_log_dead_port(&proc->log, NULL)) {
                snprintf(err, err_len,
                         "openocd: the target's debug port does not answer (RDP Level 2 has "
                         "disabled it for good, or the target is unpowered or not wired): %s",
                         proc->log.errlines);
                rc = PV_PROBE_ERR_DEAD;
            } else {
                snprintf(err, err_len,
                         "openocd: exited with status %d before opening its Tcl "
                         "port: %s",
                         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                         proc->log.errlines[0] ? proc->log.errlines
                                               : "(no error logged; run it by hand)");
                rc = PV_PROBE_ERR_IO;
            }
        } else {
            snprintf(err, err_len, "openocd: no Tcl port within %d ms%s%s", timeout_ms,
                     proc->log.errlines[0] ? ": " : "", proc->log.errlines);
        }
        break;
    }
    free(buf);
    return rc;
}

void ocd_reap(struct ocd_process *proc)
{
    if (proc->pid <= 0)
        return;
    for (int step = 0; step < 3; step++) {
        uint64_t end = pv_probe_now_ms() + (step == 0 ? 2000u : 1000u);
        do {
            ocd_log_read(&proc->log);
            if (waitpid(proc->pid, NULL, WNOHANG) == proc->pid) {
                proc->pid = 0;
                return;
            }
            struct timespec ts = {0, 1000 * 1000}; /* OpenOCD exits within ms: don't oversleep */
            nanosleep(&ts, NULL);
        } while (pv_probe_now_ms() < end);
        kill(proc->pid, step == 0 ? SIGTERM : SIGKILL);
    }
    waitpid(proc->pid, NULL, 0);
    proc->pid = 0;
}
