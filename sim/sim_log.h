/* Log lines of the sim process: one line each on stderr, prefixed "sim: ". */
#ifndef SIM_SIM_LOG_H
#define SIM_SIM_LOG_H

#include <stdbool.h>

/* --quiet: informational lines are dropped; warnings are always printed. */
void sim_log_set_quiet(bool quiet);
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sim_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
