/* For harnesses of loaders that read a file by path: the input written to a memfd, named by
 * /proc/self/fd/N (a regular file to stat and open, no disk involved). */
#ifndef PV_TESTS_FUZZ_INPUT_FILE_H
#define PV_TESTS_FUZZ_INPUT_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The path of a file holding exactly data[0..size), or NULL. Valid until the next call. */
static const char *fuzz_input_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        if (fd < 0)
            return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        return NULL;
    return path;
}

#endif
