/* file.c — reading a whole stream into memory, and atomic writes (temp file + rename). */
#define _POSIX_C_SOURCE 200809L
#include "core.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gnf_status gnf_read_rest(FILE *f, const char *path, unsigned char **buf, size_t *n, size_t *cap) {
    for (;;) {
        if (*n == *cap) {
            if (*cap > SIZE_MAX / 2 - 1) return gnf_fail(GNF_ERR_NOMEM, "%s: file too large to read", path);
            unsigned char *nb = realloc(*buf, *cap * 2 + 1);
            if (!nb) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory reading the file", path);
            *buf = nb;
            *cap *= 2;
        }
        size_t k = fread(*buf + *n, 1, *cap - *n, f);
        *n += k;
        if (k == 0) break;
    }
    if (ferror(f)) return gnf_fail(GNF_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    return GNF_OK;
}

gnf_status gnf_atomic_open(gnf_atomic_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->path = path;
    size_t plen = strlen(path);
    a->tmp = malloc(plen + sizeof ".tmpXXXXXX");
    if (!a->tmp) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
    memcpy(a->tmp, path, plen);
    memcpy(a->tmp + plen, ".tmpXXXXXX", sizeof ".tmpXXXXXX");
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        gnf_status s = gnf_fail(GNF_ERR_IO, "%s: cannot create a temporary file next to it (%s)", path, strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        return s;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; outputs are ordinary files.  Harmless if it fails. */
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        gnf_status s = gnf_fail(GNF_ERR_IO, "%s: cannot open the temporary file (%s)", path, strerror(errno));
        close(fd);
        unlink(a->tmp);
        free(a->tmp);
        a->tmp = NULL;
        return s;
    }
    return GNF_OK;
}

gnf_status gnf_atomic_commit(gnf_atomic_file *a, gnf_status s) {
    if (!a->f) return s;
    if (s == GNF_OK && (fflush(a->f) != 0 || ferror(a->f) || fsync(fileno(a->f)) != 0))
        s = gnf_fail(GNF_ERR_IO, "%s: write failed (%s)", a->path, strerror(errno));
    if (fclose(a->f) != 0 && s == GNF_OK) s = gnf_fail(GNF_ERR_IO, "%s: write failed (%s)", a->path, strerror(errno));
    if (s == GNF_OK && rename(a->tmp, a->path) != 0)
        s = gnf_fail(GNF_ERR_IO, "%s: cannot move the temporary file into place (%s)", a->path, strerror(errno));
    if (s != GNF_OK) unlink(a->tmp);
    free(a->tmp);
    memset(a, 0, sizeof *a);
    return s;
}
