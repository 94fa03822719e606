/* fuzz_query.c — feeds the same bytes to both point readers of `gnf query` (tools/cli/query.c):
 * as text ("x y z" per line, '#' comments; query_parse_text) and as float32 triples
 * (query_parse_binary), each through a stream over the input (fmemopen).  Checks: no sanitizer
 * finding; text: success gives finite points, at most one per line of input, failure is exit
 * code 1; binary: a size that is a whole number of triples of finite floats is accepted with
 * exactly those values, anything else is refused with exit code 1.  Returns GNF_OK when the text
 * reader accepts the input, else GNF_ERR_FORMAT.  The readers' messages go to
 * stderr through the CLI's fail(); they are sent to /dev/null while the harness runs (sanitizer
 * reports do not go through stdio and still show). */
#include "../tools/cli/cli.h" /* first: it sets _POSIX_C_SOURCE */
#include "fuzz.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A read stream over data[0..size) (an empty one for size 0, which fmemopen refuses). */
static FILE *open_bytes(const uint8_t *data, size_t size) {
    return size ? fmemopen((void *)(uintptr_t)data, size, "r") : fopen("/dev/null", "r");
}

gnf_status gnf_fuzz_query(const uint8_t *data, size_t size) {
    static FILE *devnull;
    if (!devnull) devnull = fopen("/dev/null", "w");
    FILE *saved = stderr;
    if (devnull) stderr = devnull;

    long lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    float *pts = NULL;
    long n = -1;
    FILE *f = open_bytes(data, size);
    FUZZ_ASSERT(f != NULL, "cannot open a stream over %zu bytes", size);
    int rc = f ? query_parse_text(f, "fuzz.txt", &pts, &n) : 1;
    if (f) fclose(f);
    FUZZ_ASSERT(rc == 0 || rc == EXIT_RUNTIME, "text: exit code %d", rc);
    if (rc == 0) {
        FUZZ_ASSERT(pts && n >= 0 && n <= lines, "text: %ld points from %ld lines", n, lines);
        for (long i = 0; pts && i < 3 * n; i++)
            if (!isfinite(pts[i])) {
                FUZZ_ASSERT(0, "text: point %ld is not finite", i / 3);
                break;
            }
        free(pts);
    }

    float *bin = NULL;
    n = -1;
    f = open_bytes(data, size);
    int rb = f ? query_parse_binary(f, (long)size, "fuzz.f32", &bin, &n) : 1;
    if (f) fclose(f);
    int finite = size % 12 == 0;
    for (size_t i = 0; finite && i + 4 <= size; i += 4) {
        float v;
        memcpy(&v, data + i, 4);
        finite = isfinite(v);
    }
    FUZZ_ASSERT(finite ? rb == 0 : rb == EXIT_RUNTIME, "binary: exit code %d for %zu bytes (%s)", rb, size,
                finite ? "whole finite triples" : "not whole finite triples");
    if (rb == 0)
        FUZZ_ASSERT(bin && n == (long)(size / 12) && (size == 0 || memcmp(bin, data, size) == 0),
                    "binary: %ld points from %zu bytes, or other values", n, size);
    free(bin);

    stderr = saved;
    return rc == 0 ? GNF_OK : GNF_ERR_FORMAT; /* the text reader's verdict (the binary one is checked above) */
}

GNF_FUZZ_MAIN(query)
