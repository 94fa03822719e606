/* mesh_read.c — loading meshes: the builder the format parsers fill, the choice of format (by
 * extension, or sniffed from the bytes for a name without one), and the entry points from a
 * file, from memory and from arrays.
 *
 * The input is hostile until proven otherwise: every number goes through a checked scanner
 * (text.c), every count a header states is compared with the bytes that remain before anything
 * is sized by it, every index is range-checked, and every failure is a gnf_fail naming the input
 * and the line (text) or element (binary).  Polygons are fan-triangulated while read; triangles
 * that repeat an index are dropped. */
#include "io/mesh_io.h"
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MESH_FILE_MAX ((size_t)1 << 34) /* bytes of mesh file read into memory */

/* Grows *arr (elem bytes each, used of them in use) to hold at least need: to exactly need when
 * a header gave the count, else to the next doubling.  gnf_calloc'd, so that the arrays can be
 * handed to the gnf_mesh without a copy.  0 if memory or size_t runs out. */
static int reserve(void **arr, size_t *cap, size_t used, size_t need, size_t elem, int exact) {
    if (need <= *cap) return 1;
    size_t n = exact ? need : *cap < 1024 ? 1024 : *cap;
    while (n < need) {
        if (n > SIZE_MAX / 2) return 0;
        n *= 2;
    }
    void *p = gnf_calloc(n, elem); /* NULL if n * elem overflows */
    if (!p) return 0;
    if (used) memcpy(p, *arr, used * elem);
    gnf_free(*arr);
    *arr = p;
    *cap = n;
    return 1;
}

gnf_status gnf_mb_vertex(gnf_mesh_builder *b, const float c[3]) {
    if (b->nv >= GNF_MESH_MAX)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: more than 2^31-1 vertices", b->path);
    if (b->nv == b->vcap &&
        !reserve((void **)&b->v, &b->vcap, b->nv, b->nv + 1, 3 * sizeof(float), 0))
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %zu vertices", b->path, b->nv + 1);
    memcpy(b->v + 3 * b->nv, c, 3 * sizeof(float));
    b->nv++;
    return GNF_OK;
}

gnf_status gnf_mb_tri(gnf_mesh_builder *b, int32_t i0, int32_t i1, int32_t i2) {
    if (i0 == i1 || i1 == i2 || i0 == i2) { /* no area, no orientation: nothing to keep */
        b->rep.dropped_faces++;
        return GNF_OK;
    }
    if (b->nf >= GNF_MESH_MAX)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: more than 2^31-1 triangles", b->path);
    if (b->nf == b->fcap &&
        !reserve((void **)&b->f, &b->fcap, b->nf, b->nf + 1, 3 * sizeof(int32_t), 0))
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %zu triangles", b->path, b->nf + 1);
    int32_t *t = b->f + 3 * b->nf++;
    t[0] = i0, t[1] = i1, t[2] = i2;
    return GNF_OK;
}

/* Adds a corner (an index already checked to be in range) to the polygon being fanned. */
gnf_status gnf_mb_corner(gnf_mesh_builder *b, int32_t idx) {
    gnf_status s = GNF_OK;
    if (b->pn == 0) b->first = idx;
    else if (b->pn >= 2) s = gnf_mb_tri(b, b->first, b->prev, idx);
    b->prev = idx;
    b->pn++;
    return s;
}

static void builder_free(gnf_mesh_builder *b) {
    gnf_free(b->v);
    gnf_free(b->f);
    b->v = NULL;
    b->f = NULL;
}

/* Shrinks a gnf_mesh_builder array to exactly n elements when more than 1/8 of it is unused (OBJ and
 * STL grow by doubling; headers give exact counts).  Keeps the old array if memory is short. */
static void shrink(void **arr, size_t *cap, size_t n, size_t elem) {
    if (*cap - n <= n / 8) return;
    void *p = gnf_calloc(n, elem);
    if (!p) return;
    if (n) memcpy(p, *arr, n * elem);
    gnf_free(*arr);
    *arr = p;
    *cap = n;
}

/* Hands the gnf_mesh_builder's arrays to *out, runs the analysis.  "no
 * faces" is an error: nothing downstream can use such a mesh. */
static gnf_status finish(gnf_mesh_builder *b, gnf_mesh *out) {
    if (b->nf == 0) {
        if (b->rep.dropped_faces)
            return gnf_fail(GNF_ERR_FORMAT, "%s: no faces (all %ld had fewer than 3 distinct "
                            "vertices)", b->path, b->rep.dropped_faces);
        return gnf_fail(GNF_ERR_FORMAT, "%s: no faces", b->path);
    }
    shrink((void **)&b->v, &b->vcap, b->nv, 3 * sizeof(float));
    shrink((void **)&b->f, &b->fcap, b->nf, 3 * sizeof(int32_t));
    gnf_mesh m = {b->v, b->f, (long)b->nv, (long)b->nf, NULL};
    b->v = NULL;
    b->f = NULL;
    gnf_mesh_analyse(&m, &b->rep);
    *out = m;
    return GNF_OK;
}

gnf_status gnf_mb_size(gnf_mesh_builder *b, size_t nv, size_t nf) {
    if (!reserve((void **)&b->v, &b->vcap, b->nv, nv, 3 * sizeof(float), 1) ||
        !reserve((void **)&b->f, &b->fcap, b->nf, nf, 3 * sizeof(int32_t), 1))
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %zu vertices and %zu triangles", b->path, nv, nf);
    return GNF_OK;
}

int gnf_mesh_format(const char *name) {
    const char *slash = strrchr(name, '/'), *dot = strrchr(name, '.');
    if (!dot || (slash && dot < slash)) return GNF_MESH_NOEXT;
    size_t n = strlen(dot + 1);
    static const char *const ext[] = {"obj", "ply", "stl", "off"};
    for (int i = 0; i < 4; i++)
        if (gnf_word_is(dot + 1, n, ext[i])) return GNF_MESH_OBJ + i;
    return GNF_MESH_UNKNOWN;
}

static gnf_status unknown(const char *name) {
    return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: unknown mesh file extension (expected .obj, .ply, .stl or .off)", name);
}

/* The format of data whose name has no extension: a "ply" or "OFF" first line, an STL "solid"
 * or binary size, else OBJ (whose parser then says what is wrong). */
static int sniff(const char *d, size_t n) {
    gnf_text t = {"", d, d + n, 1};
    const char *w;
    gnf_text_space(&t, 1);
    size_t k = gnf_text_word(&t, &w);
    if (gnf_word_is(w, k, "ply")) return GNF_MESH_PLY;
    if (k >= 3 && gnf_word_is(w + k - 3, 3, "off")) return GNF_MESH_OFF;
    const unsigned char *u = (const unsigned char *)d + 80;
    uint64_t nt = n >= 84 ? (uint64_t)u[0] | u[1] << 8 | u[2] << 16 | (uint64_t)u[3] << 24 : 0;
    if (gnf_word_is(w, k, "solid") || (n >= 84 && 84 + 50 * nt == n)) return GNF_MESH_STL;
    return GNF_MESH_OBJ;
}

gnf_status gnf_mesh_load_from_memory(const void *data, size_t size, const char *name, gnf_mesh *out,
                                     gnf_mesh_report *report) {
    assert((data || !size) && name && out);
    memset(out, 0, sizeof *out);
    if (report) memset(report, 0, sizeof *report);
    int fmt = gnf_mesh_format(name);
    if (fmt == GNF_MESH_UNKNOWN) return unknown(name);
    if (size == 0) return gnf_fail(GNF_ERR_FORMAT, "%s: empty file", name);
    const char *buf = data;
    if (fmt == GNF_MESH_NOEXT) fmt = sniff(buf, size);
    gnf_mesh_builder b;
    memset(&b, 0, sizeof b);
    b.path = name;
    gnf_status s = fmt == GNF_MESH_OBJ   ? gnf_mesh_parse_obj(&b, buf, size)
                   : fmt == GNF_MESH_PLY ? gnf_mesh_parse_ply(&b, buf, size)
                   : fmt == GNF_MESH_STL ? gnf_mesh_parse_stl(&b, buf, size)
                                         : gnf_mesh_parse_off(&b, buf, size);
    if (s == GNF_OK) s = finish(&b, out);
    builder_free(&b);
    if (s == GNF_OK && report) *report = b.rep;
    return s;
}

gnf_status gnf_mesh_load(const char *path, gnf_mesh *out, gnf_mesh_report *report) {
    assert(path && out);
    memset(out, 0, sizeof *out);
    if (report) memset(report, 0, sizeof *report);
    int fmt = gnf_mesh_format(path);
    if (fmt == GNF_MESH_UNKNOWN || fmt == GNF_MESH_NOEXT) return unknown(path); /* files go by extension */
    unsigned char *buf;
    size_t size;
    gnf_status s = gnf_read_file(path, MESH_FILE_MAX, &buf, &size);
    if (s != GNF_OK) return s;
    s = gnf_mesh_load_from_memory(buf, size, path, out, report);
    free(buf);
    return s;
}

gnf_status gnf_mesh_from_arrays(const float *v, long nv, const int32_t *f, long nf, const char *name,
                                gnf_mesh *out, gnf_mesh_report *report) {
    assert(name && out);
    memset(out, 0, sizeof *out);
    if (report) memset(report, 0, sizeof *report);
    gnf_mesh in = {(float *)v, (int32_t *)f, nv, nf, NULL};
    gnf_status s = gnf_mesh_check(&in, name, "use");
    if (s != GNF_OK) return s;
    gnf_mesh_builder b;
    memset(&b, 0, sizeof b);
    b.path = name;
    s = gnf_mb_size(&b, (size_t)nv, (size_t)nf);
    for (long i = 0; i < nv && s == GNF_OK; i++) s = gnf_mb_vertex(&b, v + 3 * i);
    for (long i = 0; i < nf && s == GNF_OK; i++) s = gnf_mb_tri(&b, f[3 * i], f[3 * i + 1], f[3 * i + 2]);
    if (s == GNF_OK) s = finish(&b, out);
    builder_free(&b);
    if (s == GNF_OK && report) *report = b.rep;
    return s;
}
