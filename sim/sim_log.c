/* See sim_log.h. */
#include "sim_log.h"

#include <stdarg.h>
#include <stdio.h>

static bool log_quiet, log_silent;

void sim_log_set_quiet(bool quiet)
{
    log_quiet = quiet;
}

void sim_log_set_silent(bool silent)
{
    log_silent = silent;
}

__attribute__((format(printf, 1, 0))) static void vlog(const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "sim: %s\n", line);
}

void sim_log(const char *fmt, ...)
{
    if (log_quiet || log_silent)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void sim_warn(const char *fmt, ...)
{
    if (log_silent)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}
