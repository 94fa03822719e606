/* file.c — reading a whole stream into memory, for the readers that parse from a buffer. */
#include "core.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
