/* Reading named files: regular files only, never blocking on open (file_read.h). */
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *pv_file_type_name(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO (named pipe)";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "not a regular file";
}

static int cannot_open(char *why, size_t why_len)
{
    int e = errno;
    snprintf(why, why_len, "cannot open: %s", strerror(e));
    errno = e;
    return PV_FILE_CANNOT_OPEN;
}

static int not_regular(mode_t mode, char *why, size_t why_len)
{
    const char *t = pv_file_type_name(mode);
    if (strncmp(t, "not ", 4) == 0)
        snprintf(why, why_len, "is %s", t);
    else
        snprintf(why, why_len, "is %s, not a regular file", t);
    return PV_FILE_NOT_REGULAR;
}

int pv_file_open_regular(const char *path, int *fd, uint64_t *size, char *why, size_t why_len)
{
    *fd = -1;
    *size = 0;
    /* Judged by name first: opening a device can act (a watchdog starts, a tape rewinds). */
    struct stat st;
    if (stat(path, &st) != 0)
        return cannot_open(why, why_len);
    if (!S_ISREG(st.st_mode))
        return not_regular(st.st_mode, why, why_len);
    /* O_NONBLOCK: if the name now is a FIFO, open returns instead of waiting for a writer. */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (f < 0)
        return cannot_open(why, why_len);
    if (fstat(f, &st) != 0) {
        int rc = cannot_open(why, why_len);
        close(f);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return not_regular(st.st_mode, why, why_len);
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0)
        (void)fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    *size = (uint64_t)st.st_size;
    return PV_FILE_OK;
}

int pv_file_read(const char *path, size_t max, uint8_t **buf, size_t *len, char *why,
                 size_t why_len)
{
    *buf = NULL;
    *len = 0;
    int fd;
    uint64_t size;
    int rc = pv_file_open_regular(path, &fd, &size, why, why_len);
    if (rc != PV_FILE_OK)
        return rc;
    if (size > max) {
        snprintf(why, why_len, "is %llu bytes, more than the %zu accepted here",
                 (unsigned long long)size, max);
        *len = (size_t)size; /* a host build: size_t is 64 bits */
        close(fd);
        return PV_FILE_TOO_LARGE;
    }
    size_t n = (size_t)size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        snprintf(why, why_len, "out of memory");
        close(fd);
        return PV_FILE_NO_MEMORY;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, why_len, "read error: %s", strerror(errno));
            break;
        }
        if (r == 0) {
            snprintf(why, why_len, "read error: the file shrank while it was read");
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(b);
        return PV_FILE_READ_ERROR;
    }
    *buf = b;
    *len = n;
    return PV_FILE_OK;
}

FILE *pv_file_fopen_regular(const char *path, char *why, size_t why_len)
{
    int fd;
    uint64_t size;
    if (pv_file_open_regular(path, &fd, &size, why, why_len) != PV_FILE_OK)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(why, why_len, "cannot open: %s", strerror(errno));
        close(fd);
    }
    return f;
}
