/* Where a PKCS#11 PIN may come from: the one policy of every command that opens the token
 * (docs/keystore.md, "PINs").
 *
 *  - a PIN file: a regular file owned by the user running the command, mode 0600 or 0400 (no
 *    group or other bits); its first line is the PIN. Anything else is refused with the file's
 *    name, its mode and owner, and the fix;
 *  - one environment variable ($PROVISION_PIN, and $PROVISION_SO_PIN for creating a token):
 *    read once, then its bytes are overwritten where the kernel shows them
 *    (/proc/PID/environ) and it is removed from the environment, so neither a process listing
 *    nor a child (OpenOCD, a shell) sees it;
 *  - never the command line (--pin is refused with the two ways above).
 */
#ifndef PV_HSM_BRIDGE_PIN_SOURCE_H
#define PV_HSM_BRIDGE_PIN_SOURCE_H

#include <stddef.h>

#define PV_PIN_ENV    "PROVISION_PIN"    /* the token's user PIN */
#define PV_SO_PIN_ENV "PROVISION_SO_PIN" /* its security officer PIN (creating a token only) */
#define PV_PIN_MAX    256                /* bytes of a PIN, with its terminating NUL */

/* Takes $PROVISION_PIN and $PROVISION_SO_PIN out of the environment: each value is kept in this
 * module, its bytes in the environment block are overwritten with zeros, and the variable is
 * unset. main() calls it first; pv_pin_read calls it too. A variable set again later (setenv)
 * is taken again and replaces the kept value. */
void pv_pin_env_take(void);

/* Whether path may hold a PIN: a regular file owned by this user with no group or other
 * permission bits. 0, or -1 with err naming the file, what is wrong (type, mode, owner) and the
 * fix (chmod 600 FILE / chown). */
int pv_pin_file_check(const char *path, char *err, size_t err_len);

/* A PIN (NUL-terminated, at most cap - 1 bytes): the first line of file if file is not NULL
 * (checked as pv_pin_file_check, on the opened file), else the value taken from the environment
 * variable env (PV_PIN_ENV or PV_SO_PIN_ENV), else dev_default (NULL: none). what names the PIN
 * in messages ("user PIN", "SO PIN"). 0, or -1 with err saying what is wrong and where a PIN can
 * come from; pin is wiped on failure. */
int pv_pin_read(const char *file, const char *env, const char *dev_default, const char *what,
                char *pin, size_t cap, char *err, size_t err_len);

/* Refuses a PIN on the command line, before a "--": an argument --pin, --pin=..., --so-pin...,
 * or an abbreviation getopt_long would expand to --pin-file or --so-pin-file (--pi, --so-p: a
 * PIN typed after one would be taken for a file name and echoed); only --pin-file and
 * --so-pin-file spelled in full pass. 0, or -1 with err naming the option (never its value) and
 * the alternatives (a PIN file of mode 0600, or the environment variable). */
int pv_pin_argv_check(int argc, char *const *argv, char *err, size_t err_len);

#endif
