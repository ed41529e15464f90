/* Reading a file a person named (a recipe, its images, a sealed file, a station config, an
 * image given to `provision image`): only a regular file is read. Anything else is refused by
 * name before it is opened (a FIFO would block the reader for good, /dev/zero never ends, a
 * device may act on open), and the open itself is non-blocking, so a file swapped for a FIFO
 * between the check and the open cannot hang the tool either.
 *
 * Every refusal comes with a phrase to print after the file's name:
 *
 *   "x.bin: is a FIFO (named pipe), not a regular file"
 *   "x.bin: cannot open: No such file or directory"
 */
#ifndef PV_HSM_BRIDGE_FILE_READ_H
#define PV_HSM_BRIDGE_FILE_READ_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

enum pv_file_status {
    PV_FILE_OK = 0,
    PV_FILE_CANNOT_OPEN = -1, /* missing, no permission...: "cannot open: <strerror>"; errno */
    PV_FILE_NOT_REGULAR = -2, /* "is a directory, not a regular file" */
    PV_FILE_TOO_LARGE = -3,   /* "is N bytes, more than the M accepted here" */
    PV_FILE_READ_ERROR = -4,  /* "read error: <strerror>", or the file shrank while read */
    PV_FILE_NO_MEMORY = -5,   /* "out of memory" */
};

/* "a directory", "a FIFO (named pipe)", "a character device", "a block device", "a socket",
 * "a symbolic link", "a regular file", or "not a regular file" for anything else. */
const char *pv_file_type_name(mode_t mode);

/* Opens path for reading if it is a regular file: the descriptor (blocking again, close-on-exec)
 * in *fd and its size in *size. A pv_file_status, with why (no file name) on failure. */
int pv_file_open_regular(const char *path, int *fd, uint64_t *size, char *why, size_t why_len);

/* The same as a stdio stream for reading (fdopen of pv_file_open_regular's descriptor): NULL
 * with why (no file name) when the file is not a regular one or cannot be opened. */
FILE *pv_file_fopen_regular(const char *path, char *why, size_t why_len);

/* The whole of a regular file of at most max bytes: *buf malloc'd (at least one byte, so an
 * empty file gives a non-NULL *buf and *len 0). With PV_FILE_TOO_LARGE, *len is the file's
 * size. A pv_file_status, with why (no file name) on failure. */
int pv_file_read(const char *path, size_t max, uint8_t **buf, size_t *len, char *why,
                 size_t why_len);

#endif
