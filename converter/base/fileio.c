#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bigmem.h"

snn_status snn_file_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                             snn_diag *diag)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return snn_diag_set(diag, SNN_ERR_IO, "cannot open: %s", strerror(errno));
    snn_status st = SNN_OK;
    /* A regular file's size, plus one byte to see the end, else 64 KB doubled as needed. */
    struct stat sb;
    size_t cap = 1 << 16, n = 0;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 0 &&
        (uint64_t)sb.st_size < (uint64_t)max_bytes)
        cap = (size_t)sb.st_size + 1 > cap ? (size_t)sb.st_size + 1 : cap;
    uint8_t *buf = snn_big_malloc(cap);
    if (!buf) {
        st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory reading the file");
        goto fail;
    }
    /* Read in chunks rather than trusting a size from stat: pipes and growing files too. */
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                st = snn_diag_set(diag, SNN_ERR_LIMIT, "file is larger than %zu bytes", max_bytes);
                goto fail;
            }
            size_t ncap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            uint8_t *nb = snn_big_realloc(buf, ncap);
            if (!nb) {
                st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory reading the file");
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                st = snn_diag_set(diag, SNN_ERR_IO, "read error: %s", strerror(errno));
                goto fail;
            }
            if (n == cap && cap < max_bytes)
                continue;
            if (n == cap) {
                int c = fgetc(f);
                if (c != EOF) {
                    st = snn_diag_set(diag, SNN_ERR_LIMIT, "file is larger than %zu bytes", max_bytes);
                    goto fail;
                }
            }
            break;
        }
    }
    fclose(f);
    *data = buf;
    *len = n;
    return SNN_OK;
fail:
    fclose(f);
    free(buf);
    return st;
}

/* After a rename, fsync the directory so the new name survives a power cut (best effort). */
static void sync_parent_dir(char *path_copy)
{
    int dfd = open(dirname(path_copy), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

snn_status snn_file_write_atomic(const char *path, const void *data, size_t len, snn_diag *diag)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snn_status st = snn_diag_set(diag, SNN_ERR_IO, "cannot create a temporary file next to it: %s",
                                     strerror(errno));
        free(tmp);
        return st;
    }
    /* mkstemp makes the file 0600; give it the mode a plain create would (0666 minus umask). */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0)
        goto fail;
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    sync_parent_dir(tmp);
    free(tmp);
    return SNN_OK;
fail: {
    snn_status st = snn_diag_set(diag, SNN_ERR_IO, "write failed: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return st;
}
}
