/* The OpenOCD the station starts for a "spawn:ARGS" target (probe_openocd.c talks to it): started
 * in its own process group with our server settings, tied to the station's life, its log read
 * through a pipe, and stopped at the end. The log's "Error:" lines enrich the Tcl client's
 * messages and tell a dead debug port (RDP Level 2: the scan chain reads all ones) from other
 * failures; an attached OpenOCD has no log here (fd -1), so only its replies count. */
#ifndef PV_PROVISIONER_OPENOCD_PROCESS_H
#define PV_PROVISIONER_OPENOCD_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PV_OCD_LOG_TAIL 8192

/* OpenOCD's log: the last lines, and the Error lines since the caller last cleared errlines. */
struct ocd_log {
    int fd; /* OpenOCD's stdout and stderr, non-blocking; -1 when none (or it closed) */
    char tail[PV_OCD_LOG_TAIL + 1];
    size_t len;
    char errlines[512]; /* "Error:" lines, joined by " / " */
};

/* Takes n bytes of log text: keeps the tail, and appends the lines that report an error
 * ("Error ..." or "...: Error: ...") to errlines while they fit. */
void ocd_log_feed(struct ocd_log *log, const char *buf, size_t n);
/* Reads what OpenOCD logged so far (never blocks); closes fd at its end. */
void ocd_log_read(struct ocd_log *log);
/* what is in text (may be NULL) or in the Error lines. */
bool ocd_log_said(const struct ocd_log *log, const char *text, const char *what);
/* A dead debug port as OpenOCD reports it (in text or the Error lines): the scan chain reads all
 * ones (JTAG), nothing ACKs (SWD), or the target could not be examined. */
bool ocd_log_dead_port(const struct ocd_log *log, const char *text);

struct ocd_process {
    pid_t pid; /* the OpenOCD started, or 0 */
    struct ocd_log log;
};

/* Starts OpenOCD ($PV_OPENOCD or openocd from PATH) with args (its -f/-c arguments, split as a
 * POSIX shell would, without expansions) after our settings (GDB and telnet ports disabled, the
 * Tcl port on a free loopback port), and waits at most timeout_ms for its Tcl port: *tcl_fd is the
 * connection to it. Returns a pv_probe_err, with err saying why on failure (proc->pid is then 0
 * when OpenOCD has exited, or still set to be reaped). */
int ocd_spawn(struct ocd_process *proc, const char *args, int timeout_ms, int *tcl_fd, char *err,
              size_t err_len);
/* Waits for the OpenOCD started (told to shut down) to exit: 2 s, then SIGTERM, then SIGKILL. */
void ocd_reap(struct ocd_process *proc);

/* A TCP connection to host:port within timeout_ms: 0 with *fd_out, or -1 with errno. */
int ocd_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd_out);

#endif
