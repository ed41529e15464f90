/* The chip is a file: flash, option bytes, OTP, UID and RNG seed, behind a header with a magic,
 * a format version, the payload size and its SHA-256. Written durably (temporary file, fsync,
 * rename, fsync of the directory) so a crash leaves either the old or the new chip, never half.
 * A file that is not exactly what this sim wrote is refused, saying which file and why. */
#include "chip_internal.h"

#include "crypto/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC       "STM32F427-SIMCHP" /* 16 bytes, no terminator stored */
#define VERSION     1u
#define HEADER_SIZE 64u
#define FIXED_SIZE  (4 * 4 + 8 + 8 + 16 + 32 + OTP_SIZE + OTP_BLOCKS)

static void put32(uint8_t *p, uint32_t v)
{
    st32(p, v);
}

static void put64(uint8_t *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const uint8_t *p)
{
    return ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static void derive(uint8_t out[32], const char *label, uint64_t seed)
{
    uint8_t in[64];
    size_t n = strlen(label);
    memcpy(in, label, n);
    put64(in + n, seed);
    pv_sha256(out, in, n + 8);
}

void state_new_chip(chip_t *c)
{
    c->flash_kb = c->cfg.flash_kb ? c->cfg.flash_kb : 2048;
    c->flash_size = (uint32_t)c->flash_kb * 1024u;
    c->flash = aligned_alloc(4096, c->flash_size);
    if (!c->flash)
        return;
    memset(c->flash, 0xFF, c->flash_size);
    c->opt_nv = 0x0FFFAAECu;
    /* A chip that held other firmware: in the chosen sectors a pattern from the UID seed
     * (xorshift64), not blank, so each must be erased before it is programmed. */
    uint64_t r = c->cfg.uid_seed | 1u;
    for (uint32_t i = 0; c->cfg.used_sectors && i < c->flash_size; i += 8) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        int sector = flash_sector_of(c, i, NULL);
        if (sector >= 0 && (c->cfg.used_sectors >> sector & 1u))
            memcpy(c->flash + i, &r, 8);
    }
    c->opt1_nv = 0x0FFF0000u;
    memset(c->otp, 0xFF, sizeof c->otp);
    memset(c->otp_lock, 0xFF, sizeof c->otp_lock);
    c->uid_seed = c->cfg.uid_seed;
    /* A UID shaped like ST's: wafer X/Y, wafer number, 7-character lot number. */
    uint8_t h[32];
    derive(h, "stm32f427-sim uid", c->uid_seed);
    uint16_t x = (uint16_t)(1 + (h[0] | h[1] << 8) % 250),
             y = (uint16_t)(1 + (h[2] | h[3] << 8) % 250);
    c->uid[0] = (uint8_t)x;
    c->uid[1] = (uint8_t)(x >> 8);
    c->uid[2] = (uint8_t)y;
    c->uid[3] = (uint8_t)(y >> 8);
    c->uid[4] = (uint8_t)(1 + h[4] % 25);
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int i = 0; i < 7; i++)
        c->uid[5 + i] = (uint8_t)alnum[h[5 + i] % 36];
    derive(c->rng_seed, "stm32f427-sim rng", c->uid_seed);
    c->power_on_count = 0;
}

int state_save(chip_t *c, char *err, size_t err_len)
{
    size_t payload = FIXED_SIZE + c->flash_size, total = HEADER_SIZE + payload;
    uint8_t *buf = calloc(1, total);
    if (!buf) {
        snprintf(err, err_len, "state file '%s': out of memory while saving", c->state_path);
        return -1;
    }
    uint8_t *p = buf + HEADER_SIZE;
    put32(p, c->flash_kb);
    put32(p + 4, c->opt_nv);
    put32(p + 8, c->opt1_nv);
    put32(p + 12, 0);
    put64(p + 16, c->uid_seed);
    put64(p + 24, c->power_on_count);
    memcpy(p + 32, c->uid, 12);
    memcpy(p + 48, c->rng_seed, 32);
    memcpy(p + 80, c->otp, OTP_SIZE);
    memcpy(p + 80 + OTP_SIZE, c->otp_lock, OTP_BLOCKS);
    memcpy(p + FIXED_SIZE, c->flash, c->flash_size);
    memcpy(buf, MAGIC, 16);
    put32(buf + 16, VERSION);
    put32(buf + 20, HEADER_SIZE);
    put64(buf + 24, payload);
    pv_sha256(buf + 32, p, payload);

    size_t plen = strlen(c->state_path);
    char *tmp = malloc(plen + 16);
    char *dir = strdup(c->state_path);
    int rc = -1, fd = -1;
    if (!tmp || !dir) {
        snprintf(err, err_len, "state file '%s': out of memory while saving", c->state_path);
        goto out;
    }
    memcpy(tmp, c->state_path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, err_len, "state file '%s': cannot create a temporary file next to it: %s",
                 c->state_path, strerror(errno));
        goto out;
    }
    size_t done = 0;
    while (done < total) {
        ssize_t w = write(fd, buf + done, total - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, err_len, "state file '%s': write failed: %s", c->state_path,
                     strerror(errno));
            goto out_unlink;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        snprintf(err, err_len, "state file '%s': cannot flush to disk: %s", c->state_path,
                 strerror(errno));
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, c->state_path) != 0) {
        snprintf(err, err_len, "state file '%s': cannot replace it: %s", c->state_path,
                 strerror(errno));
        goto out_unlink;
    }
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    c->nv_dirty = false;
    rc = 0;
    goto out;
out_unlink:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(dir);
    free(buf);
    return rc;
}

int state_load(chip_t *c, char *err, size_t err_len)
{
    const char *path = c->state_path;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, err_len, "state file '%s': cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "state file '%s' is not a regular file", path);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    if (size < HEADER_SIZE + FIXED_SIZE) {
        snprintf(err, err_len,
                 "state file '%s' is %zu bytes, too short for a sim chip: it is truncated or not "
                 "a state file (refusing it; give another path or create a new chip)",
                 path, size);
        close(fd);
        return -1;
    }
    uint8_t *buf = malloc(size);
    size_t got = 0;
    while (buf && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int rc = -1;
    if (!buf || got != size) {
        snprintf(err, err_len, "state file '%s': cannot read it", path);
        goto out;
    }
    if (memcmp(buf, MAGIC, 16) != 0) {
        snprintf(err, err_len,
                 "state file '%s' is not a virtual STM32F427 state file (bad magic): refusing to "
                 "use it; give the right path or create a new chip elsewhere",
                 path);
        goto out;
    }
    uint32_t version = ld32(buf + 16), hsize = ld32(buf + 20);
    uint64_t payload = get64(buf + 24);
    if (version != VERSION || hsize != HEADER_SIZE) {
        snprintf(err, err_len,
                 "state file '%s' has format version %u (header %u bytes); this sim reads "
                 "version %u only",
                 path, version, hsize, VERSION);
        goto out;
    }
    if (payload != size - HEADER_SIZE) {
        snprintf(err, err_len,
                 "state file '%s' is truncated or has extra data: its header announces %llu bytes "
                 "of contents, the file holds %zu",
                 path, (unsigned long long)payload, size - HEADER_SIZE);
        goto out;
    }
    uint8_t digest[32];
    const uint8_t *p = buf + HEADER_SIZE;
    pv_sha256(digest, p, payload);
    if (memcmp(digest, buf + 32, 32) != 0) {
        snprintf(err, err_len,
                 "state file '%s' is corrupt: the SHA-256 of its contents does not match its "
                 "header (refusing it)",
                 path);
        goto out;
    }
    uint32_t kb = ld32(p);
    if ((kb != 1024 && kb != 2048) || payload != FIXED_SIZE + (uint64_t)kb * 1024u) {
        snprintf(err, err_len,
                 "state file '%s' describes a %u KB flash, not an STM32F427 (1024 "
                 "or 2048 KB)",
                 path, kb);
        goto out;
    }
    c->flash_kb = (uint16_t)kb;
    c->flash_size = kb * 1024u;
    c->flash = aligned_alloc(4096, c->flash_size);
    if (!c->flash) {
        snprintf(err, err_len, "state file '%s': out of memory for the flash", path);
        goto out;
    }
    c->opt_nv = ld32(p + 4);
    c->opt1_nv = ld32(p + 8);
    c->uid_seed = get64(p + 16);
    c->power_on_count = get64(p + 24);
    memcpy(c->uid, p + 32, 12);
    memcpy(c->rng_seed, p + 48, 32);
    memcpy(c->otp, p + 80, OTP_SIZE);
    memcpy(c->otp_lock, p + 80 + OTP_SIZE, OTP_BLOCKS);
    memcpy(c->flash, p + FIXED_SIZE, c->flash_size);
    rc = 0;
out:
    free(buf);
    return rc;
}
