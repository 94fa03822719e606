/* file.c — reading a whole file into memory, and atomic writes (temp file + rename).  The
 * temporary files of writes in progress are also listed in a small lock-free table, so that
 * gnf_remove_partial_outputs() can delete them from a signal handler before the process exits. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"
#include <errno.h>
#include <stdatomic.h>
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

/* Temporary files being written: a slot is free (0), being claimed (1) or names a file (2).
 * Only lock-free atomics and fixed buffers, so a signal handler may read the table. */
#define PARTIAL_SLOTS 16
#define PARTIAL_PATH 4096
static struct {
    atomic_int state;
    char path[PARTIAL_PATH];
} g_partial[PARTIAL_SLOTS];

/* Claims a slot holding the template tmp (mkstemp then fills in its name in place); -1 when the
 * table is full or the name too long (the write goes on, just unlisted). */
static int partial_claim(const char *tmp) {
    size_t n = strlen(tmp);
    if (n >= PARTIAL_PATH) return -1;
    for (int i = 0; i < PARTIAL_SLOTS; i++) {
        int free_slot = 0;
        if (atomic_compare_exchange_strong(&g_partial[i].state, &free_slot, 1)) {
            memcpy(g_partial[i].path, tmp, n + 1);
            atomic_store(&g_partial[i].state, 2);
            return i;
        }
    }
    return -1;
}

static void partial_release(int slot) {
    if (slot >= 0) atomic_store(&g_partial[slot].state, 0);
}

int gnf_partial_add(const char *path) { return partial_claim(path); }
void gnf_partial_drop(int slot) { partial_release(slot); }

void gnf_remove_partial_outputs(void) {
    for (int i = 0; i < PARTIAL_SLOTS; i++)
        if (atomic_load(&g_partial[i].state) == 2) (void)unlink(g_partial[i].path);
}

gnf_status gnf_atomic_open(gnf_atomic_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->path = path;
    a->slot = -1;
    size_t plen = strlen(path);
    a->tmp = malloc(plen + sizeof ".tmpXXXXXX");
    if (!a->tmp) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
    memcpy(a->tmp, path, plen);
    memcpy(a->tmp + plen, ".tmpXXXXXX", sizeof ".tmpXXXXXX");
    /* listed before it exists (mkstemp fills in the name in the slot itself), so no moment
     * passes with the file on disk and unlisted */
    a->slot = partial_claim(a->tmp);
    int fd = mkstemp(a->slot >= 0 ? g_partial[a->slot].path : a->tmp);
    if (fd >= 0 && a->slot >= 0) memcpy(a->tmp, g_partial[a->slot].path, plen + sizeof ".tmpXXXXXX");
    if (fd < 0) {
        gnf_status s = gnf_fail(GNF_ERR_IO, "%s: cannot create a temporary file next to it (%s)", path, strerror(errno));
        partial_release(a->slot);
        free(a->tmp);
        a->tmp = NULL;
        a->slot = -1;
        return s;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; outputs are ordinary files.  Harmless if it fails. */
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        gnf_status s = gnf_fail(GNF_ERR_IO, "%s: cannot open the temporary file (%s)", path, strerror(errno));
        close(fd);
        unlink(a->tmp);
        partial_release(a->slot);
        free(a->tmp);
        a->tmp = NULL;
        a->slot = -1;
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
    partial_release(a->slot);   /* after the rename or the unlink: the name is gone either way */
    free(a->tmp);
    memset(a, 0, sizeof *a);
    a->slot = -1;
    return s;
}

gnf_status gnf_write_file(const char *path, const void *data, size_t n) {
    gnf_atomic_file af;
    gnf_status s = gnf_atomic_open(&af, path);
    if (s != GNF_OK) return s;
    errno = 0;
    if (n && fwrite(data, 1, n, af.f) != n)
        s = gnf_fail(GNF_ERR_IO, "%s: cannot write (%s)", path, errno ? strerror(errno) : "short write");
    return gnf_atomic_commit(&af, s);
}
