/* file.c — reading a whole file into memory, and atomic writes (temp file + rename). */
#define _POSIX_C_SOURCE 200809L
#include "core.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gnf_status gnf_read_file(const char *path, size_t max, unsigned char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return gnf_fail(GNF_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    size_t cap = 1u << 16, n = 0;
    unsigned char *buf = NULL;
    gnf_status s = GNF_OK;
    int known = fstat(fileno(f), &st) == 0;
    if (known && S_ISDIR(st.st_mode)) s = gnf_fail(GNF_ERR_IO, "%s: is a directory, not a file", path);
    else if (known && S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max) n = max + 1;
    else if (known && S_ISREG(st.st_mode)) cap = (size_t)st.st_size + 1; /* the last read sees EOF */
    while (s == GNF_OK && n <= max) { /* streams grow by doubling; cap never passes max + 1 */
        if (!buf || n == cap) {
            if (buf) cap = cap > max / 2 ? max + 1 : cap * 2;
            unsigned char *nb = realloc(buf, cap + 1);
            if (!nb) s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory reading the file", path);
            else buf = nb;
            if (!nb) break;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    if (s == GNF_OK && ferror(f)) s = gnf_fail(GNF_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    else if (s == GNF_OK && n > max)
        s = gnf_fail(GNF_ERR_UNSUPPORTED, "%s: files of this kind over %zu MiB are not supported", path, max >> 20);
    fclose(f);
    if (s != GNF_OK) {
        free(buf);
        return s;
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
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
