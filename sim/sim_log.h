/* Log lines of the sim process: one line each on stderr, prefixed "sim: ". */
#ifndef SIM_SIM_LOG_H
#define SIM_SIM_LOG_H

#include <stdbool.h>

/* --quiet: informational lines are dropped; warnings are always printed. */
void sim_log_set_quiet(bool quiet);
/* No lines at all, warnings included: for fuzzing harnesses, whose inputs are garbage on
 * purpose and would otherwise write a warning per input. */
void sim_log_set_silent(bool silent);
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sim_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
