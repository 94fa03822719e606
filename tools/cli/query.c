/* query.c — gnf query: signed distance and gradient of an SDF model at points; --raw: any
 * model's raw outputs at points of its input space. */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *HEAD =
    "usage: gnf query MODEL.gnf POINTS.txt            (prints: d gx gy gz per point)\n"
    "       gnf query MODEL.gnf POINTS.f32 --binary -o OUT.f32\n"
    "       gnf query MODEL.gnf POINTS.txt --raw       (any model: its O raw outputs per point)\n"
    "Signed distance and its gradient at points in the mesh's own coordinates.  Text input: three\n"
    "numbers per line (x y z; '#' comments).  --raw: points in the field's own input space and every\n"
    "output of the decoder as it is (before any activation; radiance fields: 49), \"%.9g\" each, or\n"
    "float32 O-tuples with --binary.\n";

/* Parses text points from f (opened by the caller, not closed here; path names it in messages):
 * three numbers per line (each finite as a float) separated by blanks or commas, '#' comments
 * and blank lines skipped.
 * On success returns 0 with *pts (malloc'd, n×3 floats) and *n; otherwise the exit code of
 * fail() after printing "<path>:<line>: ..." and nothing is allocated.  The parser of `gnf
 * query` text input, a function of its own so fuzz/fuzz_query.c can feed it memory. */
int query_parse_text(FILE *f, const char *path, float **pts, long *n) {
    long cap = 1024, cnt = 0, line = 0;
    float *p = malloc(sizeof(float) * 3 * (size_t)cap);
    char buf[1024];
    int rc = p ? 0 : fail("out of memory");
    while (!rc && fgets(buf, sizeof buf, f)) {
        line++;
        char *s = buf + strspn(buf, " \t");
        if (*s == '#' || *s == '\n' || *s == '\r' || !*s) continue;
        float v[3];
        for (int k = 0; k < 3 && !rc; k++) {
            char *e;
            errno = 0;
            double d = strtod(s, &e);
            if (e == s || errno || !isfinite(d)) rc = fail("%s:%ld: expected three numbers per line", path, line);
            else if (!isfinite((float)d)) rc = fail("%s:%ld: %g is out of the float range", path, line, d);
            v[k] = (float)d;
            s = e + strspn(e, " \t,");
        }
        if (!rc && *s && *s != '\n' && *s != '\r' && *s != '#') rc = fail("%s:%ld: expected three numbers per line", path, line);
        if (!rc && cnt == cap) {
            float *np = realloc(p, sizeof(float) * 3 * (size_t)(cap *= 2));
            if (!np) rc = fail("out of memory");
            else p = np;
        }
        if (!rc) memcpy(p + 3 * cnt++, v, sizeof v);
    }
    if (rc) { free(p); return rc; }
    *pts = p;
    *n = cnt;
    return 0;
}

/* Reads text points from the file at path (query_parse_text). */
static int read_text_points(const char *path, float **pts, long *n) {
    FILE *f = fopen(path, "r");
    if (!f) return fail("%s: %s", path, strerror(errno));
    int rc = query_parse_text(f, path, pts, n);
    fclose(f);
    return rc;
}

/* Parses sz bytes of little-endian float32 xyz triples from f (opened by the caller, not closed
 * here; path names it in messages).  0 with *pts (malloc'd, room for one spare triple) and *n on
 * success; else the exit code of fail() (a size that is not a whole number of triples, a short
 * read, a non-finite value), with *pts possibly set and left to the caller to free. */
int query_parse_binary(FILE *f, long sz, const char *path, float **pts, long *n) {
    int rc = sz % 12 ? fail("%s: %ld bytes is not a whole number of float32 xyz triples", path, sz) : 0;
    *n = sz / 12;
    if (!rc && (!(*pts = malloc((size_t)sz + 12)) || fread(*pts, 12, (size_t)*n, f) != (size_t)*n)) rc = fail("%s: read failed", path);
    for (long i = 0; !rc && i < 3 * *n; i++)
        if (!isfinite((*pts)[i])) rc = fail("%s: point %ld is not finite", path, i / 3);
    return rc;
}

/* Reads little-endian float32 xyz triples from the file at path (query_parse_binary). */
static int read_binary_points(const char *path, float **pts, long *n) {
    long sz = file_size(path);
    FILE *f = fopen(path, "rb");
    int rc = !f || sz < 0 ? fail("%s: %s", path, strerror(errno)) : query_parse_binary(f, sz, path, pts, n);
    if (f) fclose(f);
    return rc;
}

/* --raw: the model's out_dim outputs at the n points pts (xyz; a 2D field uses x, y), as text on
 * stdout or, when output is set, float32 tuples written atomically there.  0 or an exit code. */
static int query_raw(const gnf_model *m, const float *pts, long n, const char *output, int threads) {
    const gnf_model_config *c = gnf_model_get_config(m);
    const int dim = c->in_dim, O = c->out_dim;
    float *x = malloc(sizeof(float) * (size_t)(n * dim + dim)), *y = malloc(sizeof(float) * (size_t)(n * O + O));
    int rc = 0;
    if (!x || !y) rc = fail("out of memory");
    for (long i = 0; !rc && i < n; i++)
        for (int k = 0; k < dim; k++) x[i * dim + k] = pts[3 * i + k];
    if (!rc && gnf_model_eval(m, x, n, y, threads) != GNF_OK) rc = runtime_error();
    else if (!rc && output) {
        if (gnf_write_file(output, y, sizeof(float) * (size_t)(n * O)) != GNF_OK) rc = runtime_error();
    } else if (!rc)
        for (long i = 0; i < n; i++)
            for (int o = 0; o < O; o++) printf(o + 1 < O ? "%.9g " : "%.9g\n", (double)y[i * O + o]);
    free(x);
    free(y);
    return rc;
}

int cmd_query(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, V_QUERY, "gnf query", argc, argv, 2, HEAD, NULL);
    if (rc >= 0) return rc;
    const char *model = a.pos[0], *input = a.pos[1], *output = a.o[O_OUTPUT].s;
    int binary = a.o[O_BINARY].set;
    if (a.npos < 2) return usage_error("needs MODEL and POINTS");
    if (binary && !output) return usage_error("--binary needs -o OUT.f32");
    gnf_model *m = NULL;
    if (gnf_model_load(model, &m) != GNF_OK) return runtime_error();
    float *pts = NULL, *d = NULL, *g = NULL;
    long n = 0;
    if (!a.o[O_RAW].set && gnf_model_get_task(m) != GNF_TASK_SDF) rc = fail("%s is not a signed distance field model (--raw: its raw outputs)", model);
    else rc = binary ? read_binary_points(input, &pts, &n) : read_text_points(input, &pts, &n);
    if (!rc && a.o[O_RAW].set) rc = query_raw(m, pts, n, binary ? output : NULL, (int)a.o[O_THREADS].i);
    else if (!rc) {
        d = malloc(sizeof(float) * (size_t)n + 4), g = malloc(sizeof(float) * 3 * (size_t)n + 12);
        if (!d || !g) rc = fail("out of memory");
        else if (gnf_sdf_query(m, pts, n, d, g, (int)a.o[O_THREADS].i) != GNF_OK) rc = runtime_error();
        else if (binary) { /* d,gx,gy,gz quadruples, written atomically (temporary name, rename) */
            float *out = malloc(sizeof(float) * 4 * (size_t)n + 16);
            for (long i = 0; out && i < n; i++) { out[4 * i] = d[i]; memcpy(out + 4 * i + 1, g + 3 * i, 3 * sizeof(float)); }
            if (!out) rc = fail("out of memory");
            else if (gnf_write_file(output, out, sizeof(float) * 4 * (size_t)n) != GNF_OK) rc = runtime_error();
            free(out);
        }
        else for (long i = 0; i < n; i++) printf("%.7g %.6f %.6f %.6f\n", d[i], g[3 * i], g[3 * i + 1], g[3 * i + 2]);
    }
    free(d); free(g); free(pts);
    gnf_model_free(m);
    return rc;
}
