/* mesh_io.c — triangle mesh readers (OBJ, PLY, STL, OFF), writers (PLY, OBJ) and the edge and
 * duplicate analysis behind gnf_mesh_report.
 *
 * Readers take the whole file into memory (one fread, NUL-terminated) and parse it there, without
 * recursion.  The input is hostile until proven otherwise: every number goes through a checked
 * scanner (no sscanf), every count a header states is compared with the bytes that remain before
 * anything is sized by it, every index is range-checked, and every failure is a gnf_fail naming
 * the file and the line (text) or element (binary).  Polygons are fan-triangulated while read;
 * triangles that repeat an index are dropped.  STL stores each triangle's corners separately:
 * exactly equal positions are welded through a hash map so the result is indexed like the rest. */
#define _POSIX_C_SOURCE 200809L
#include "geom/mesh.h"
#include "core/core.h"
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COUNT 2147483647ull /* vertices and triangles: indices are int32 */

/* ---- small helpers ------------------------------------------------------------------------ */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
static int is_space(char c) { return is_blank(c) || c == '\n'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Case-insensitive comparison of the n bytes at s with the NUL-terminated word w. */
static int word_is(const char *s, size_t n, const char *w) {
    size_t i = 0;
    for (; i < n && w[i]; i++)
        if (lower(s[i]) != w[i]) return 0;
    return i == n && w[i] == 0;
}

/* Copies the token at p (up to whitespace, at most 24 bytes) into buf with non-printable bytes
 * shown as '?', for error messages that quote the input without trusting it. */
static const char *show(char buf[32], const char *p, const char *end) {
    size_t n = 0;
    while (p < end && !is_space(*p) && n < 24) {
        unsigned char c = (unsigned char)*p++;
        buf[n++] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
    }
    if (p < end && !is_space(*p)) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = 0;
    return buf;
}

static const double k_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Scans a decimal number ([sign] digits [. digits] [e [sign] digits]) or nan/inf/infinity at s,
 * never reading at or past end.  Returns the position after it, or NULL if there is none.
 * Locale-independent (strtod follows LC_NUMERIC) and fast.  Up to 19 significant digits are
 * kept, plenty for float results; with at most 15 digits and |exponent| <= 22 the double is
 * correctly rounded (one exact operation), and otherwise it is within a few double ulps, far
 * from deciding a float's rounding for any 9-digit decimal of a float: float -> %.9g -> float
 * is exact (the save path checks each number it writes anyway).  Callers check what follows. */
static const char *scan_double(const char *s, const char *end, double *out) {
    const char *p = s;
    int neg = 0, any = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    uint64_t mant = 0;
    long exp10 = 0;
    for (; p < end && is_digit(*p); p++, any = 1) {
        if (mant < 1000000000000000000ull) mant = mant * 10 + (uint64_t)(*p - '0');
        else exp10++; /* digits past the 19th only scale */
    }
    if (p < end && *p == '.') {
        p++;
        for (; p < end && is_digit(*p); p++, any = 1)
            if (mant < 1000000000000000000ull) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                exp10--;
            }
    }
    if (!any) {
        /* "." alone is not a number; nan and inf are, so that they fail as non-finite. */
        p = s + neg;
        size_t left = (size_t)(end - p);
        if (left >= 3 && word_is(p, 3, "nan")) {
            *out = NAN;
            return p + 3;
        }
        if (left >= 8 && word_is(p, 8, "infinity")) p += 8;
        else if (left >= 3 && word_is(p, 3, "inf")) p += 3;
        else return NULL;
        *out = neg ? -INFINITY : INFINITY;
        return p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        int eneg = 0;
        if (q < end && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        if (q < end && is_digit(*q)) { /* else "1e": p stays at 'e' and the caller rejects it */
            long e = 0;
            for (; q < end && is_digit(*q); q++)
                if (e < 100000) e = e * 10 + (*q - '0');
            exp10 += eneg ? -e : e;
            p = q;
        }
    }
    double v = (double)mant;
    if (mant != 0) {
        for (; exp10 < -22 && v != 0.0; exp10 += 22) v /= 1e22;
        for (; exp10 > 22 && !isinf(v); exp10 -= 22) v *= 1e22;
        if (exp10 < 0 && exp10 >= -22) v /= k_pow10[-exp10];
        else if (exp10 > 0 && exp10 <= 22) v *= k_pow10[exp10];
    }
    *out = neg ? -v : v;
    return p;
}

/* Scans [sign] digits at s (not past end) into *out, saturating at +-10^18 so that a huge value
 * stays huge (and then fails a range check) without overflow.  NULL if there are no digits. */
static const char *scan_long(const char *s, const char *end, long long *out) {
    const char *p = s;
    int neg = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (p >= end || !is_digit(*p)) return NULL;
    long long v = 0;
    for (; p < end && is_digit(*p); p++)
        v = v < 100000000000000000ll ? v * 10 + (*p - '0') : 1000000000000000000ll;
    *out = neg ? -v : v;
    return p;
}

/* ---- text cursor ------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    const char *p, *end; /* end: one past the data (a NUL sits there) */
    long line;           /* 1-based line of p */
} text;

static void skip_blank(text *t) {
    while (t->p < t->end && is_blank(*t->p)) t->p++;
}

/* Moves to the start of the next line (or the end). */
static void skip_line(text *t) {
    const char *nl = memchr(t->p, '\n', (size_t)(t->end - t->p));
    if (nl) {
        t->p = nl + 1;
        t->line++;
    } else t->p = t->end;
}

/* Skips whitespace across lines, and '#' comments to the end of their line if hash != 0. */
static void skip_space(text *t, int hash) {
    for (;;) {
        skip_blank(t);
        if (t->p < t->end && *t->p == '\n') {
            t->p++;
            t->line++;
        } else if (hash && t->p < t->end && *t->p == '#') skip_line(t);
        else return;
    }
}

static int at_eol(text *t) {
    skip_blank(t);
    return t->p >= t->end || *t->p == '\n';
}

/* The whitespace-delimited word at p on the current line (length 0 at the end of the line). */
static size_t word_at(text *t, const char **w) {
    skip_blank(t);
    const char *q = t->p;
    while (q < t->end && !is_space(*q)) q++;
    *w = t->p;
    return (size_t)(q - t->p);
}

static gnf_status fail_expected(text *t, const char *what) {
    char tok[32];
    if (t->p >= t->end)
        return gnf_fail(GNF_ERR_FORMAT,
                        "%s:%ld: expected %s, found the end of the file (truncated)", t->path,
                        t->line, what);
    if (*t->p == '\n')
        return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: expected %s, found the end of the line", t->path,
                        t->line, what);
    return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: expected %s, found '%s'", t->path, t->line, what,
                    show(tok, t->p, t->end));
}

/* Reads a number on the current line; it must end at whitespace or the end of the data. */
static gnf_status text_double(text *t, double *v, const char *what) {
    skip_blank(t);
    const char *q = t->p < t->end && *t->p != '\n' ? scan_double(t->p, t->end, v) : NULL;
    if (!q || (q < t->end && !is_space(*q))) return fail_expected(t, what);
    t->p = q;
    return GNF_OK;
}

/* Reads a coordinate on the current line: a number that is finite as a float. */
static gnf_status text_coord(text *t, float *c) {
    const char *start;
    word_at(t, &start);
    double v;
    gnf_status s = text_double(t, &v, "a coordinate");
    if (s != GNF_OK) return s;
    *c = (float)v;
    if (!isfinite(*c)) {
        char tok[32];
        return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: non-finite coordinate '%s'", t->path, t->line,
                        show(tok, start, t->end));
    }
    return GNF_OK;
}

/* Reads an integer on the current line; it must end at whitespace or the end of the data. */
static gnf_status text_long(text *t, long long *v, const char *what) {
    skip_blank(t);
    const char *q = t->p < t->end && *t->p != '\n' ? scan_long(t->p, t->end, v) : NULL;
    if (!q || (q < t->end && !is_space(*q))) return fail_expected(t, what);
    t->p = q;
    return GNF_OK;
}

/* ---- mesh builder ------------------------------------------------------------------------ */

/* Vertices and triangles as they are read (gnf_calloc'd, grown by reserve), plus the polygon
 * being fanned. */
typedef struct {
    const char *path;
    float *v;
    int32_t *f;
    size_t nv, vcap, nf, fcap;
    gnf_mesh_report rep;
    int32_t first, prev; /* fan state of the current polygon */
    long long pn;        /* corners seen in the current polygon */
} builder;

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

static gnf_status b_vertex(builder *b, const float c[3]) {
    if (b->nv >= MAX_COUNT)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: more than 2^31-1 vertices", b->path);
    if (b->nv == b->vcap &&
        !reserve((void **)&b->v, &b->vcap, b->nv, b->nv + 1, 3 * sizeof(float), 0))
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %zu vertices", b->path, b->nv + 1);
    memcpy(b->v + 3 * b->nv, c, 3 * sizeof(float));
    b->nv++;
    return GNF_OK;
}

static gnf_status b_tri(builder *b, int32_t i0, int32_t i1, int32_t i2) {
    if (i0 == i1 || i1 == i2 || i0 == i2) { /* no area, no orientation: nothing to keep */
        b->rep.dropped_faces++;
        return GNF_OK;
    }
    if (b->nf >= MAX_COUNT)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: more than 2^31-1 triangles", b->path);
    if (b->nf == b->fcap &&
        !reserve((void **)&b->f, &b->fcap, b->nf, b->nf + 1, 3 * sizeof(int32_t), 0))
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %zu triangles", b->path, b->nf + 1);
    int32_t *t = b->f + 3 * b->nf++;
    t[0] = i0, t[1] = i1, t[2] = i2;
    return GNF_OK;
}

static void poly_begin(builder *b) { b->pn = 0; }

/* Adds a corner (an index already checked to be in range) to the polygon being fanned. */
static gnf_status poly_add(builder *b, int32_t idx) {
    gnf_status s = GNF_OK;
    if (b->pn == 0) b->first = idx;
    else if (b->pn >= 2) s = b_tri(b, b->first, b->prev, idx);
    b->prev = idx;
    b->pn++;
    return s;
}

static void poly_end(builder *b) {
    if (b->pn < 3) b->rep.dropped_faces++; /* a point or a segment */
    else if (b->pn > 3) b->rep.polygons_triangulated++;
}

static void builder_free(builder *b) {
    gnf_free(b->v);
    gnf_free(b->f);
    b->v = NULL;
    b->f = NULL;
}

/* Shrinks a builder array to exactly n elements when more than 1/8 of it is unused (OBJ and
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

/* Hands the builder's arrays to *out, counts zero-area triangles and runs the analysis.  "no
 * faces" is an error: nothing downstream can use such a mesh. */
static gnf_status finish(builder *b, gnf_mesh *out) {
    if (b->nf == 0) {
        if (b->rep.dropped_faces)
            return gnf_fail(GNF_ERR_FORMAT, "%s: no faces (all %ld had fewer than 3 distinct "
                            "vertices)", b->path, b->rep.dropped_faces);
        return gnf_fail(GNF_ERR_FORMAT, "%s: no faces", b->path);
    }
    shrink((void **)&b->v, &b->vcap, b->nv, 3 * sizeof(float));
    shrink((void **)&b->f, &b->fcap, b->nf, 3 * sizeof(int32_t));
    gnf_mesh m = {b->v, b->f, (long)b->nv, (long)b->nf};
    b->v = NULL;
    b->f = NULL;
    for (long i = 0; i < m.nf; i++) {
        const float *a = m.v + 3 * (size_t)m.f[3 * i], *c = m.v + 3 * (size_t)m.f[3 * i + 1],
                    *d = m.v + 3 * (size_t)m.f[3 * i + 2];
        double e[3], g[3];
        for (int k = 0; k < 3; k++) e[k] = (double)c[k] - a[k], g[k] = (double)d[k] - a[k];
        if (e[1] * g[2] - e[2] * g[1] == 0.0 && e[2] * g[0] - e[0] * g[2] == 0.0 &&
            e[0] * g[1] - e[1] * g[0] == 0.0)
            b->rep.degenerate_faces++;
    }
    gnf_mesh_analyse(&m, &b->rep);
    *out = m;
    return GNF_OK;
}

/* ---- position hash (STL welding, duplicate counting) ------------------------------------- */

/* Hash of a position by its bits; -0 is folded into +0 so that equal positions hash equally. */
static uint64_t pos_hash(const float *p) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < 3; k++) {
        float c = p[k] + 0.0f; /* -0 + 0 = +0 */
        uint32_t u;
        memcpy(&u, &c, 4);
        h = (h ^ u) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    return h * 0x94D049BB133111EBull;
}

static int pos_equal(const float *a, const float *b) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

/* Open-addressing table of vertex indices + 1 (0 = empty) over the positions in verts.  Returns
 * the slot holding a position equal to p, or the empty slot where it would go. */
static size_t pos_probe(const uint32_t *slot, size_t mask, const float *verts, const float *p) {
    size_t i = (size_t)pos_hash(p) & mask;
    while (slot[i] && !pos_equal(verts + 3 * (size_t)(slot[i] - 1), p)) i = (i + 1) & mask;
    return i;
}

typedef struct {
    uint32_t *slot;
    size_t mask;
} weld_map;

/* Returns in *idx the index of the builder vertex at position p, adding it if new.  The table
 * is kept at most half full, doubling (and rehashing from the positions) as vertices arrive. */
static gnf_status weld(builder *b, weld_map *w, const float p[3], int32_t *idx) {
    if (!w->slot || (b->nv + 1) * 2 > w->mask + 1) {
        size_t n = w->slot ? (w->mask + 1) * 2 : 4096;
        uint32_t *ns = n <= SIZE_MAX / 4 ? calloc(n, sizeof *ns) : NULL;
        if (!ns) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory welding vertices", b->path);
        for (size_t i = 0; i < b->nv; i++)
            ns[pos_probe(ns, n - 1, b->v, b->v + 3 * i)] = (uint32_t)(i + 1);
        free(w->slot);
        w->slot = ns;
        w->mask = n - 1;
    }
    size_t i = pos_probe(w->slot, w->mask, b->v, p);
    if (!w->slot[i]) {
        gnf_status s = b_vertex(b, p);
        if (s != GNF_OK) return s;
        w->slot[i] = (uint32_t)b->nv;
    }
    *idx = (int32_t)(w->slot[i] - 1);
    return GNF_OK;
}

/* ---- OBJ --------------------------------------------------------------------------------- */

/* "v x y z [...]" and "f a[/b[/c]] ..." lines; everything else (vt, vn, g, o, s, usemtl, mtllib,
 * l, comments) is ignored.  Indices are 1-based, or negative for "counting back from the last
 * vertex so far", and must refer to a vertex already defined. */
static gnf_status parse_obj(builder *b, const char *buf, size_t size) {
    text t = {b->path, buf, buf + size, 1};
    gnf_status s = GNF_OK;
    while (s == GNF_OK && t.p < t.end) {
        skip_blank(&t);
        const char *c = t.p;
        int tag_end = c + 1 >= t.end || is_space(c[1]);
        if (c < t.end && *c == 'v' && tag_end) {
            t.p++;
            float xyz[3];
            for (int k = 0; k < 3 && s == GNF_OK; k++) s = text_coord(&t, &xyz[k]);
            if (s == GNF_OK) s = b_vertex(b, xyz); /* a w or r g b after x y z is ignored */
        } else if (c < t.end && *c == 'f' && tag_end) {
            t.p++;
            poly_begin(b);
            while (s == GNF_OK && !at_eol(&t)) {
                long long i;
                const char *q = scan_long(t.p, t.end, &i);
                if (q && q < t.end && *q == '/') /* texture/normal indices: checked as text only */
                    while (q < t.end && (is_digit(*q) || *q == '/' || *q == '-' || *q == '+')) q++;
                if (!q || (q < t.end && !is_space(*q))) {
                    s = fail_expected(&t, "a face corner (v, v/t, v//n or v/t/n)");
                    break;
                }
                long long nv = (long long)b->nv;
                if (i == 0)
                    s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: vertex index 0 (OBJ indices start at 1)",
                                 b->path, t.line);
                else if (i > nv || i < -nv)
                    s = gnf_fail(GNF_ERR_FORMAT,
                                 "%s:%ld: vertex index %lld out of range (%lld vertices so far)",
                                 b->path, t.line, i, nv);
                else s = poly_add(b, (int32_t)(i > 0 ? i - 1 : nv + i));
                t.p = q;
            }
            if (s == GNF_OK) poly_end(b);
        }
        skip_line(&t);
    }
    return s;
}

/* ---- PLY --------------------------------------------------------------------------------- */

enum { T_I8, T_U8, T_I16, T_U16, T_I32, T_U32, T_F32, T_F64, T_COUNT };
static const struct {
    const char *name, *alt;
    int size, is_float, is_signed;
} k_ply_type[T_COUNT] = {
    {"char", "int8", 1, 0, 1},     {"uchar", "uint8", 1, 0, 0},   {"short", "int16", 2, 0, 1},
    {"ushort", "uint16", 2, 0, 0}, {"int", "int32", 4, 0, 1},     {"uint", "uint32", 4, 0, 0},
    {"float", "float32", 4, 1, 1}, {"double", "float64", 8, 1, 1}};

enum { ROLE_SKIP, ROLE_X, ROLE_Y, ROLE_Z, ROLE_INDICES };
enum { EL_OTHER, EL_VERTEX, EL_FACE };
#define PLY_MAX_ELEMS 64
#define PLY_MAX_PROPS 64

typedef struct {
    int list, type, count_type, role;
} ply_prop;

typedef struct {
    char name[32]; /* for messages; longer names are cut */
    unsigned long long count;
    int kind, nprops;
    ply_prop prop[PLY_MAX_PROPS];
} ply_elem;

typedef struct {
    int format; /* 0 ascii, 1 little endian, 2 big endian */
    int nelems;
    ply_elem elem[PLY_MAX_ELEMS];
    unsigned long long nverts; /* count of the "vertex" element */
} ply_header;

static int ply_type(const char *w, size_t n) {
    for (int i = 0; i < T_COUNT; i++)
        if (word_is(w, n, k_ply_type[i].name) || word_is(w, n, k_ply_type[i].alt)) return i;
    return -1;
}

/* Reads the header lines up to and including "end_header"; t is left at the first data byte. */
static gnf_status ply_read_header(text *t, ply_header *h) {
    const char *path = t->path;
    char tok[32];
    if (!(t->end - t->p >= 4 && memcmp(t->p, "ply", 3) == 0 &&
          (t->p[3] == '\n' || (t->p[3] == '\r' && t->end - t->p >= 5 && t->p[4] == '\n'))))
        return gnf_fail(GNF_ERR_FORMAT, "%s: not a PLY file (no 'ply' line)", path);
    skip_line(t);
    h->format = -1;
    for (;;) {
        if (!memchr(t->p, '\n', (size_t)(t->end - t->p)))
            return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: truncated PLY header (no end_header line)",
                            path, t->line);
        const char *w;
        size_t n = word_at(t, &w);
        t->p = w + n;
        if (n == 0 || word_is(w, n, "comment") || word_is(w, n, "obj_info")) {
            skip_line(t);
            continue;
        }
        if (word_is(w, n, "end_header")) {
            if (!at_eol(t)) return fail_expected(t, "the end of the line");
            skip_line(t);
            break;
        }
        if (word_is(w, n, "format")) {
            n = word_at(t, &w);
            t->p = w + n;
            if (word_is(w, n, "ascii")) h->format = 0;
            else if (word_is(w, n, "binary_little_endian")) h->format = 1;
            else if (word_is(w, n, "binary_big_endian")) h->format = 2;
            else
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: unknown PLY format '%s'", path,
                                t->line, show(tok, w, t->end));
            n = word_at(t, &w);
            if (!(n >= 1 && w[0] == '1'))
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: PLY version '%s' (expected 1.0)",
                                path, t->line, n ? show(tok, w, t->end) : "");
            t->p = w + n;
        } else if (word_is(w, n, "element")) {
            if (h->nelems == PLY_MAX_ELEMS)
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: more than %d PLY elements", path,
                                t->line, PLY_MAX_ELEMS);
            ply_elem *e = &h->elem[h->nelems++];
            n = word_at(t, &w);
            if (n == 0) return fail_expected(t, "an element name");
            t->p = w + n;
            snprintf(e->name, sizeof e->name, "%s", show(tok, w, t->end));
            e->kind = word_is(w, n, "vertex") ? EL_VERTEX : word_is(w, n, "face") ? EL_FACE
                                                                                  : EL_OTHER;
            for (int i = 0; i < h->nelems - 1 && e->kind != EL_OTHER; i++)
                if (h->elem[i].kind == e->kind)
                    return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: a second '%s' element", path,
                                    t->line, e->name);
            long long c;
            gnf_status s = text_long(t, &c, "an element count");
            if (s != GNF_OK) return s;
            if (c < 0)
                return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: negative element count %lld", path,
                                t->line, c);
            e->count = (unsigned long long)c;
            if (e->kind == EL_VERTEX) h->nverts = e->count;
        } else if (word_is(w, n, "property")) {
            if (h->nelems == 0)
                return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: property before any element", path,
                                t->line);
            ply_elem *e = &h->elem[h->nelems - 1];
            if (e->nprops == PLY_MAX_PROPS)
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: more than %d properties in '%s'",
                                path, t->line, PLY_MAX_PROPS, e->name);
            ply_prop *pr = &e->prop[e->nprops++];
            n = word_at(t, &w);
            t->p = w + n;
            if (word_is(w, n, "list")) {
                pr->list = 1;
                n = word_at(t, &w);
                t->p = w + n;
                pr->count_type = ply_type(w, n);
                if (pr->count_type < 0 || k_ply_type[pr->count_type].is_float)
                    return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: bad list count type '%s'", path,
                                    t->line, show(tok, w, t->end));
                n = word_at(t, &w);
                t->p = w + n;
            }
            pr->type = ply_type(w, n);
            if (pr->type < 0)
                return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: unknown property type '%s'", path,
                                t->line, show(tok, w, t->end));
            n = word_at(t, &w);
            if (n == 0) return fail_expected(t, "a property name");
            t->p = w + n;
            if (e->kind == EL_VERTEX && !pr->list && n == 1 &&
                (*w == 'x' || *w == 'y' || *w == 'z'))
                pr->role = ROLE_X + (*w - 'x');
            if (e->kind == EL_FACE && pr->list &&
                (word_is(w, n, "vertex_indices") || word_is(w, n, "vertex_index"))) {
                int seen = 0; /* a second index list is skipped like any other */
                for (int i = 0; i < e->nprops - 1; i++) seen |= e->prop[i].role == ROLE_INDICES;
                if (!seen) {
                    if (k_ply_type[pr->type].is_float)
                        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: face indices of type %s",
                                        path, t->line, k_ply_type[pr->type].name);
                    pr->role = ROLE_INDICES;
                }
            }
        } else
            return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: unknown PLY header line '%s'", path, t->line,
                            show(tok, w, t->end));
        if (!at_eol(t)) return fail_expected(t, "the end of the line");
        skip_line(t);
    }
    if (h->format < 0) return gnf_fail(GNF_ERR_FORMAT, "%s: PLY header has no format line", path);
    return GNF_OK;
}

/* Checks the header against the data size before anything is allocated from it: each record
 * needs at least its fixed-size part (binary) or one character per value (ASCII), so a header
 * that claims more records than the bytes left could hold is truncated or lying. */
static gnf_status ply_check_sizes(const char *path, const ply_header *h, size_t left) {
    const ply_elem *vert = NULL, *face = NULL;
    for (int i = 0; i < h->nelems; i++) {
        const ply_elem *e = &h->elem[i];
        unsigned long long need = 0;
        for (int k = 0; k < e->nprops; k++) {
            const ply_prop *pr = &e->prop[k];
            int type = pr->list ? pr->count_type : pr->type; /* a list needs its count */
            need += h->format == 0 ? 1u : (unsigned)k_ply_type[type].size;
        }
        if (need && e->count > left / need)
            return gnf_fail(GNF_ERR_FORMAT, "%s: truncated or corrupt: the header claims %llu "
                            "'%s' elements, more than the %zu data bytes left can hold",
                            path, e->count, e->name, left);
        left -= (size_t)(need * e->count);
        if (e->kind == EL_VERTEX) vert = e;
        if (e->kind == EL_FACE) face = e;
    }
    if (!vert) return gnf_fail(GNF_ERR_FORMAT, "%s: no 'vertex' element", path);
    int have[3] = {0, 0, 0};
    for (int k = 0; k < vert->nprops; k++)
        if (vert->prop[k].role >= ROLE_X && vert->prop[k].role <= ROLE_Z)
            have[vert->prop[k].role - ROLE_X] = 1;
    if (!have[0] || !have[1] || !have[2])
        return gnf_fail(GNF_ERR_FORMAT, "%s: the 'vertex' element lacks x, y or z", path);
    if (!face) return gnf_fail(GNF_ERR_FORMAT, "%s: no faces (no 'face' element)", path);
    int idx = 0;
    for (int k = 0; k < face->nprops; k++) idx |= face->prop[k].role == ROLE_INDICES;
    if (!idx)
        return gnf_fail(GNF_ERR_FORMAT, "%s: the 'face' element has no vertex_indices list", path);
    if (vert->count > MAX_COUNT || face->count > MAX_COUNT)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: more than 2^31-1 vertices or faces", path);
    return GNF_OK;
}

/* Loads n (1, 2, 4 or 8) bytes as an unsigned integer in the file's byte order. */
static uint32_t load32(const unsigned char *p, int big) {
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t load_bits(const unsigned char *p, int n, int big) {
    switch (n) {
    case 1: return p[0];
    case 2: return big ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
    case 4: return load32(p, big);
    default:
        return big ? (uint64_t)load32(p, 1) << 32 | load32(p + 4, 1)
                   : (uint64_t)load32(p + 4, 0) << 32 | load32(p, 0);
    }
}

static double ply_bin_double(const unsigned char *p, int type, int big) {
    int n = k_ply_type[type].size;
    uint64_t u = load_bits(p, n, big);
    if (type == T_F32) {
        uint32_t x = (uint32_t)u;
        float f;
        memcpy(&f, &x, 4);
        return f;
    }
    if (type == T_F64) {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    if (k_ply_type[type].is_signed && (u >> (8 * n - 1)))
        return (double)((long long)u - (1ll << (8 * n)));
    return (double)u;
}

/* Integer types only (the header parser rejects float counts and indices). */
static long long ply_bin_int(const unsigned char *p, int type, int big) {
    int n = k_ply_type[type].size;
    uint64_t u = load_bits(p, n, big);
    if (k_ply_type[type].is_signed && (u >> (8 * n - 1))) return (long long)u - (1ll << (8 * n));
    return (long long)u;
}

static gnf_status ply_truncated(const char *path, const ply_elem *e, unsigned long long i) {
    return gnf_fail(GNF_ERR_FORMAT, "%s: truncated: the data end in '%s' element %llu of %llu",
                    path, e->name, i, e->count);
}

static gnf_status ply_binary(builder *b, const ply_header *h, const unsigned char *p,
                             const unsigned char *end) {
    int big = h->format == 2;
    for (int ei = 0; ei < h->nelems; ei++) {
        const ply_elem *e = &h->elem[ei];
        const ply_prop *p0 = &e->prop[0];
        if (e->nprops == 0) continue;
        /* The layouts nearly every writer uses get a shortcut; the general loop handles the
         * rest and any record the shortcut does not fit. */
        int fast_vertex = e->kind == EL_VERTEX && e->nprops == 3;
        for (int k = 0; k < e->nprops && fast_vertex; k++)
            fast_vertex = !e->prop[k].list && e->prop[k].type == T_F32 &&
                          e->prop[k].role == ROLE_X + k;
        int fast_face = e->kind == EL_FACE && e->nprops == 1 && p0->list &&
                        (p0->count_type == T_U8 || p0->count_type == T_I8) &&
                        (p0->type == T_I32 || p0->type == T_U32);
        for (unsigned long long i = 0; i < e->count; i++) {
            if (fast_vertex && end - p >= 12) {
                float xyz[3];
                for (int k = 0; k < 3; k++) {
                    uint32_t u = load32(p + 4 * k, big);
                    memcpy(&xyz[k], &u, 4);
                }
                if (!isfinite(xyz[0]) || !isfinite(xyz[1]) || !isfinite(xyz[2]))
                    return gnf_fail(GNF_ERR_FORMAT, "%s: vertex %llu: non-finite coordinate",
                                    b->path, i);
                gnf_status s = b_vertex(b, xyz);
                if (s != GNF_OK) return s;
                p += 12;
                continue;
            }
            if (fast_face && end - p >= 13 && p[0] == 3) {
                long long v[3];
                for (int k = 0; k < 3; k++) {
                    uint32_t u = load32(p + 1 + 4 * k, big);
                    v[k] = p0->type == T_I32 && u >> 31 ? (long long)u - (1ll << 32) : u;
                    if (v[k] < 0 || (unsigned long long)v[k] >= h->nverts)
                        return gnf_fail(GNF_ERR_FORMAT, "%s: face %llu: vertex index %lld out "
                                        "of range (%llu vertices)", b->path, i, v[k], h->nverts);
                }
                gnf_status s = b_tri(b, (int32_t)v[0], (int32_t)v[1], (int32_t)v[2]);
                if (s != GNF_OK) return s;
                p += 13;
                continue;
            }
            float xyz[3] = {0, 0, 0};
            for (int k = 0; k < e->nprops; k++) {
                const ply_prop *pr = &e->prop[k];
                if (!pr->list) {
                    int sz = k_ply_type[pr->type].size;
                    if (end - p < sz) return ply_truncated(b->path, e, i);
                    if (pr->role != ROLE_SKIP)
                        xyz[pr->role - ROLE_X] = (float)ply_bin_double(p, pr->type, big);
                    p += sz;
                    continue;
                }
                int csz = k_ply_type[pr->count_type].size, isz = k_ply_type[pr->type].size;
                if (end - p < csz) return ply_truncated(b->path, e, i);
                long long cnt = ply_bin_int(p, pr->count_type, big);
                p += csz;
                if (cnt < 0)
                    return gnf_fail(GNF_ERR_FORMAT, "%s: '%s' element %llu: negative list length "
                                    "%lld", b->path, e->name, i, cnt);
                if ((unsigned long long)cnt > (size_t)(end - p) / (size_t)isz)
                    return ply_truncated(b->path, e, i);
                if (pr->role != ROLE_INDICES) {
                    p += cnt * isz;
                    continue;
                }
                poly_begin(b);
                for (long long c = 0; c < cnt; c++, p += isz) {
                    long long v = ply_bin_int(p, pr->type, big);
                    if (v < 0 || (unsigned long long)v >= h->nverts)
                        return gnf_fail(GNF_ERR_FORMAT, "%s: face %llu: vertex index %lld out of "
                                        "range (%llu vertices)", b->path, i, v, h->nverts);
                    gnf_status s = poly_add(b, (int32_t)v);
                    if (s != GNF_OK) return s;
                }
                poly_end(b);
            }
            if (e->kind == EL_VERTEX) {
                if (!isfinite(xyz[0]) || !isfinite(xyz[1]) || !isfinite(xyz[2]))
                    return gnf_fail(GNF_ERR_FORMAT, "%s: vertex %llu: non-finite coordinate",
                                    b->path, i);
                gnf_status s = b_vertex(b, xyz);
                if (s != GNF_OK) return s;
            }
        }
    }
    return GNF_OK;
}

static gnf_status ply_ascii(builder *b, const ply_header *h, text *t) {
    for (int ei = 0; ei < h->nelems; ei++) {
        const ply_elem *e = &h->elem[ei];
        if (e->nprops == 0) continue;
        for (unsigned long long i = 0; i < e->count; i++) {
            float xyz[3] = {0, 0, 0};
            gnf_status s = GNF_OK;
            for (int k = 0; k < e->nprops && s == GNF_OK; k++) {
                const ply_prop *pr = &e->prop[k];
                skip_space(t, 0);
                double v;
                if (!pr->list) {
                    if (pr->role == ROLE_SKIP) s = text_double(t, &v, "a number");
                    else s = text_coord(t, &xyz[pr->role - ROLE_X]);
                    continue;
                }
                long long cnt;
                s = text_long(t, &cnt, "a list length");
                if (s == GNF_OK && cnt < 0)
                    s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: negative list length %lld", b->path,
                                 t->line, cnt);
                if (pr->role == ROLE_INDICES) poly_begin(b);
                /* Each item needs a byte: a lying length ends at the end of the data. */
                for (long long c = 0; c < cnt && s == GNF_OK; c++) {
                    skip_space(t, 0);
                    if (pr->role != ROLE_INDICES) {
                        s = text_double(t, &v, "a list item");
                        continue;
                    }
                    long long idx;
                    s = text_long(t, &idx, "a vertex index");
                    if (s == GNF_OK && (idx < 0 || (unsigned long long)idx >= h->nverts))
                        s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: vertex index %lld out of range "
                                     "(%llu vertices)", b->path, t->line, idx, h->nverts);
                    if (s == GNF_OK) s = poly_add(b, (int32_t)idx);
                }
                if (s == GNF_OK && pr->role == ROLE_INDICES) poly_end(b);
            }
            if (s == GNF_OK && e->kind == EL_VERTEX) s = b_vertex(b, xyz);
            if (s != GNF_OK) return s;
        }
    }
    return GNF_OK;
}

static gnf_status parse_ply(builder *b, const char *buf, size_t size) {
    ply_header *h = calloc(1, sizeof *h);
    if (!h) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", b->path);
    text t = {b->path, buf, buf + size, 1};
    gnf_status s = ply_read_header(&t, h);
    if (s == GNF_OK) s = ply_check_sizes(b->path, h, (size_t)(t.end - t.p));
    if (s == GNF_OK) {
        /* Counts are now known to fit the file: size the arrays once. */
        unsigned long long nf = 0;
        for (int i = 0; i < h->nelems; i++)
            if (h->elem[i].kind == EL_FACE) nf = h->elem[i].count;
        if (!reserve((void **)&b->v, &b->vcap, 0, (size_t)h->nverts, 3 * sizeof(float), 1) ||
            !reserve((void **)&b->f, &b->fcap, 0, (size_t)nf, 3 * sizeof(int32_t), 1))
            s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %llu vertices and %llu faces",
                         b->path, h->nverts, nf);
    }
    if (s == GNF_OK)
        s = h->format == 0 ? ply_ascii(b, h, &t)
                           : ply_binary(b, h, (const unsigned char *)t.p,
                                        (const unsigned char *)t.end);
    free(h);
    return s;
}

/* ---- STL --------------------------------------------------------------------------------- */

static uint32_t le32(const unsigned char *p) { return (uint32_t)load_bits(p, 4, 0); }

/* ASCII STL: "solid" at the start and "facet" or "endsolid" as the next line's first word (a
 * binary STL's 80-byte header may begin with "solid" too, but binary data follow it). */
static int stl_looks_ascii(const char *buf, size_t size, const char *path) {
    text t = {path, buf, buf + size, 1};
    const char *w;
    skip_space(&t, 0);
    size_t n = word_at(&t, &w);
    if (!word_is(w, n, "solid")) return 0;
    skip_line(&t);
    skip_space(&t, 0);
    n = word_at(&t, &w);
    return word_is(w, n, "facet") || word_is(w, n, "endsolid");
}

static gnf_status stl_binary(builder *b, const unsigned char *buf, uint32_t n) {
    if (n > MAX_COUNT)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: more than 2^31-1 triangles", b->path);
    weld_map w = {NULL, 0};
    gnf_status s = GNF_OK;
    if (!reserve((void **)&b->f, &b->fcap, 0, n, 3 * sizeof(int32_t), 1))
        s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %u triangles", b->path, n);
    for (uint32_t i = 0; i < n && s == GNF_OK; i++) {
        const unsigned char *p = buf + 84 + 50 * (size_t)i + 12; /* past the normal */
        poly_begin(b);
        for (int c = 0; c < 3 && s == GNF_OK; c++) {
            float xyz[3];
            for (int k = 0; k < 3; k++) {
                uint32_t u = le32(p + 12 * c + 4 * k);
                memcpy(&xyz[k], &u, 4);
            }
            if (!isfinite(xyz[0]) || !isfinite(xyz[1]) || !isfinite(xyz[2]))
                s = gnf_fail(GNF_ERR_FORMAT, "%s: triangle %u: non-finite coordinate", b->path, i);
            int32_t idx;
            if (s == GNF_OK) s = weld(b, &w, xyz, &idx);
            if (s == GNF_OK) s = poly_add(b, idx);
        }
        if (s == GNF_OK) poly_end(b);
    }
    free(w.slot);
    return s;
}

/* Expects the keyword kw as the next word (across lines). */
static gnf_status stl_expect(text *t, const char *kw) {
    skip_space(t, 0);
    const char *w;
    size_t n = word_at(t, &w);
    if (!word_is(w, n, kw)) {
        char what[32];
        snprintf(what, sizeof what, "'%s'", kw);
        return fail_expected(t, what);
    }
    t->p = w + n;
    return GNF_OK;
}

static gnf_status stl_ascii(builder *b, const char *buf, size_t size) {
    text t = {b->path, buf, buf + size, 1};
    weld_map w = {NULL, 0};
    gnf_status s = stl_expect(&t, "solid");
    if (s == GNF_OK) skip_line(&t); /* the solid's name */
    while (s == GNF_OK) {
        skip_space(&t, 0);
        const char *kw;
        size_t n = word_at(&t, &kw);
        if (word_is(kw, n, "endsolid")) {
            skip_line(&t);
            skip_space(&t, 0);
            if (t.p >= t.end) break;
            s = stl_expect(&t, "solid"); /* several solids in one file */
            if (s == GNF_OK) skip_line(&t);
            continue;
        }
        if (!word_is(kw, n, "facet")) {
            s = fail_expected(&t, "'facet' or 'endsolid'");
            break;
        }
        t.p = kw + n;
        s = stl_expect(&t, "normal");
        double d;
        for (int k = 0; k < 3 && s == GNF_OK; k++) s = text_double(&t, &d, "a normal component");
        if (s == GNF_OK) s = stl_expect(&t, "outer");
        if (s == GNF_OK) s = stl_expect(&t, "loop");
        poly_begin(b);
        while (s == GNF_OK) {
            skip_space(&t, 0);
            n = word_at(&t, &kw);
            if (word_is(kw, n, "endloop")) {
                t.p = kw + n;
                break;
            }
            s = stl_expect(&t, "vertex");
            float xyz[3];
            for (int k = 0; k < 3 && s == GNF_OK; k++) s = text_coord(&t, &xyz[k]);
            int32_t idx;
            if (s == GNF_OK) s = weld(b, &w, xyz, &idx);
            if (s == GNF_OK) s = poly_add(b, idx);
        }
        if (s == GNF_OK) poly_end(b);
        if (s == GNF_OK) s = stl_expect(&t, "endfacet");
    }
    free(w.slot);
    return s;
}

static gnf_status parse_stl(builder *b, const char *buf, size_t size) {
    const unsigned char *u = (const unsigned char *)buf;
    if (size >= 84 && 84 + 50 * (uint64_t)le32(u + 80) == size)
        return stl_binary(b, u, le32(u + 80));
    if (stl_looks_ascii(buf, size, b->path)) return stl_ascii(b, buf, size);
    if (size >= 84)
        return gnf_fail(GNF_ERR_FORMAT, "%s: truncated or corrupt binary STL: %u triangles need "
                        "%llu bytes, the file has %zu", b->path, le32(u + 80),
                        84 + 50 * (unsigned long long)le32(u + 80), size);
    return gnf_fail(GNF_ERR_FORMAT, "%s: not an STL file (no 'solid ... facet' and too short for "
                    "binary STL)", b->path);
}

/* ---- OFF --------------------------------------------------------------------------------- */

/* "[ST][C][N]OFF", counts "nv nf ne", then one vertex per line (x y z and ignored extras such as
 * normals or colours) and one face per line ("n i0 .. i(n-1)" and an ignored colour); '#'
 * starts a comment.  The keyword may be missing (a file that starts with the counts). */
static gnf_status parse_off(builder *b, const char *buf, size_t size) {
    text t = {b->path, buf, buf + size, 1};
    char tok[32];
    skip_space(&t, 1);
    const char *w;
    size_t n = word_at(&t, &w);
    if (n >= 3 && word_is(w + n - 3, 3, "off")) {
        size_t k = 0;
        /* Prefix letters are upper case: "nOFF" (n-dimensional) is another format than NOFF. */
        if (n - 3 >= 2 && w[0] == 'S' && w[1] == 'T') k = 2;
        if (k < n - 3 && w[k] == 'C') k++;
        if (k < n - 3 && w[k] == 'N') k++;
        if (k != n - 3) {
            if (memchr(w, '4', n - 3) || memchr(w, 'n', n - 3))
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: '%s' (4D or n-dimensional OFF) is not "
                                "supported", b->path, show(tok, w, t.end));
            return gnf_fail(GNF_ERR_FORMAT, "%s: not an OFF file (starts with '%s')", b->path,
                            show(tok, w, t.end));
        }
        t.p = w + n;
    } else if (!(n > 0 && is_digit(w[0])))
        return gnf_fail(GNF_ERR_FORMAT, "%s: not an OFF file (starts with '%s')", b->path,
                        n ? show(tok, w, t.end) : "nothing");
    long long nv, nf;
    skip_space(&t, 1);
    gnf_status s = text_long(&t, &nv, "the vertex count");
    if (s == GNF_OK) skip_space(&t, 1);
    if (s == GNF_OK) s = text_long(&t, &nf, "the face count");
    if (s != GNF_OK) return s;
    skip_line(&t); /* the edge count, unused */
    /* A vertex line needs >= 5 bytes ("0 0 0"), a face line >= 1, and lines are separated. */
    size_t left = (size_t)(t.end - t.p);
    if (nv < 0 || nf < 0 || (unsigned long long)nv > left / 5 ||
        (unsigned long long)nf > left - 5 * (size_t)nv)
        return gnf_fail(GNF_ERR_FORMAT, "%s: truncated or corrupt: the header claims %lld "
                        "vertices and %lld faces, more than the %zu bytes left can hold",
                        b->path, nv, nf, left);
    if (!reserve((void **)&b->v, &b->vcap, 0, (size_t)nv, 3 * sizeof(float), 1) ||
        !reserve((void **)&b->f, &b->fcap, 0, (size_t)nf, 3 * sizeof(int32_t), 1))
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %lld vertices", b->path, nv);
    for (long long i = 0; i < nv && s == GNF_OK; i++) {
        skip_space(&t, 1);
        float xyz[3];
        for (int k = 0; k < 3 && s == GNF_OK; k++) s = text_coord(&t, &xyz[k]);
        if (s == GNF_OK) s = b_vertex(b, xyz);
        skip_line(&t);
    }
    for (long long i = 0; i < nf && s == GNF_OK; i++) {
        skip_space(&t, 1);
        long long cnt;
        s = text_long(&t, &cnt, "a face's vertex count");
        if (s == GNF_OK && cnt < 0)
            s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: negative vertex count %lld", b->path, t.line,
                         cnt);
        poly_begin(b);
        for (long long c = 0; c < cnt && s == GNF_OK; c++) {
            long long idx;
            s = text_long(&t, &idx, "a vertex index");
            if (s == GNF_OK && (idx < 0 || idx >= nv))
                s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: vertex index %lld out of range (%lld "
                             "vertices)", b->path, t.line, idx, nv);
            if (s == GNF_OK) s = poly_add(b, (int32_t)idx);
        }
        if (s == GNF_OK) poly_end(b);
        skip_line(&t);
    }
    return s;
}

/* ---- loading ----------------------------------------------------------------------------- */

enum { FMT_UNKNOWN, FMT_OBJ, FMT_PLY, FMT_STL, FMT_OFF };

static int format_of(const char *path) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return FMT_UNKNOWN;
    size_t n = strlen(dot + 1);
    if (word_is(dot + 1, n, "obj")) return FMT_OBJ;
    if (word_is(dot + 1, n, "ply")) return FMT_PLY;
    if (word_is(dot + 1, n, "stl")) return FMT_STL;
    if (word_is(dot + 1, n, "off")) return FMT_OFF;
    return FMT_UNKNOWN;
}

/* Reads the whole file into *data (malloc'd, with a NUL after the last byte so that text
 * scanning can look one byte ahead). */
static gnf_status read_file(const char *path, char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return gnf_fail(GNF_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    gnf_status s = GNF_OK;
    size_t cap = 1u << 16, n = 0;
    char *buf = NULL;
    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            s = gnf_fail(GNF_ERR_IO, "%s: is a directory, not a mesh file", path);
            goto done;
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (unsigned long long)st.st_size < SIZE_MAX - 1)
            cap = (size_t)st.st_size + 1; /* the +1 lets the last fread see EOF without growing */
    }
    buf = malloc(cap + 1);
    if (!buf) {
        s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory reading the file", path);
        goto done;
    }
    {
        unsigned char *ub = (unsigned char *)buf;
        s = gnf_read_rest(f, path, &ub, &n, &cap);
        buf = (char *)ub;
    }
    if (s != GNF_OK) goto done;
    if (n == 0) s = gnf_fail(GNF_ERR_FORMAT, "%s: empty file", path);
done:
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

/* Loads an OBJ, PLY, STL or OFF mesh (by extension; ASCII/binary by content) into *out; see
 * mesh.h.  On failure *out and *report are zeroed and gnf_last_error() names the file and the
 * line or element. */
gnf_status gnf_mesh_load(const char *path, gnf_mesh *out, gnf_mesh_report *report) {
    assert(path && out);
    memset(out, 0, sizeof *out);
    if (report) memset(report, 0, sizeof *report);
    int fmt = format_of(path);
    if (fmt == FMT_UNKNOWN)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: unknown mesh file extension (expected .obj, "
                        ".ply, .stl or .off)", path);
    char *buf;
    size_t size;
    gnf_status s = read_file(path, &buf, &size);
    if (s != GNF_OK) return s;
    builder b;
    memset(&b, 0, sizeof b);
    b.path = path;
    switch (fmt) {
    case FMT_OBJ: s = parse_obj(&b, buf, size); break;
    case FMT_PLY: s = parse_ply(&b, buf, size); break;
    case FMT_STL: s = parse_stl(&b, buf, size); break;
    default: s = parse_off(&b, buf, size); break;
    }
    free(buf);
    if (s == GNF_OK) s = finish(&b, out);
    builder_free(&b);
    if (s == GNF_OK && report) *report = b.rep;
    return s;
}

/* Frees m's arrays and zeroes *m; a zeroed mesh (or NULL) is a no-op. */
void gnf_mesh_free(gnf_mesh *m) {
    if (!m) return;
    gnf_free(m->v);
    gnf_free(m->f);
    memset(m, 0, sizeof *m);
}

/* ---- analysis ---------------------------------------------------------------------------- */

/* Vertices whose position equals an earlier vertex's; -1 if memory runs out.  One big hash
 * table would miss the cache on every vertex, so the vertices are first partitioned by the top
 * bits of their position hash (two sequential passes), then each part — a few thousand
 * vertices — is deduplicated in a small table that stays in cache.  An entry keeps 32 hash bits
 * beside the index, so positions are compared only when those agree. */
static long count_duplicates(const gnf_mesh *m) {
    size_t nv = (size_t)m->nv;
    if (nv < 2) return 0;
    int bits = 0;
    while (bits < 20 && (nv >> bits) > 4096) bits++;
    size_t nparts = (size_t)1 << bits;
    size_t *start = calloc(nparts + 1, sizeof *start);
    uint64_t *ent = malloc(nv * sizeof *ent);
    uint32_t *tab = NULL;
    long dup = -1;
    if (!start || !ent) goto done;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nv; i++) {
            uint64_t h = pos_hash(m->v + 3 * i);
            size_t part = bits ? (size_t)(h >> (64 - bits)) : 0;
            if (pass == 0) start[part]++;
            else ent[--start[part]] = (uint64_t)(uint32_t)h << 32 | (uint32_t)i;
        }
        if (pass == 0) /* running sums: start[p] = end of part p; pass 1 counts it down */
            for (size_t p = 1; p <= nparts; p++) start[p] += start[p - 1];
    }
    size_t maxlen = 0;
    for (size_t p = 0; p < nparts; p++) maxlen = GNF_MAX(maxlen, start[p + 1] - start[p]);
    size_t tsize = 16;
    while (tsize < 2 * maxlen) tsize *= 2;
    tab = calloc(tsize, sizeof *tab);
    if (!tab) goto done;
    dup = 0;
    for (size_t p = 0; p < nparts; p++) {
        const uint64_t *e = ent + start[p];
        size_t len = start[p + 1] - start[p], mask = 16;
        while (mask < 2 * len) mask *= 2;
        mask--;
        for (size_t i = 0; i < len; i++) {
            uint32_t h = (uint32_t)(e[i] >> 32);
            const float *pi = m->v + 3 * (size_t)(uint32_t)e[i];
            size_t k = h & mask;
            for (; tab[k]; k = (k + 1) & mask) {
                uint64_t o = e[tab[k] - 1];
                if ((uint32_t)(o >> 32) == h && pos_equal(m->v + 3 * (size_t)(uint32_t)o, pi))
                    break;
            }
            if (tab[k]) dup++;
            else tab[k] = (uint32_t)(i + 1);
        }
        memset(tab, 0, (mask + 1) * sizeof *tab);
    }
done:
    free(start);
    free(ent);
    free(tab);
    return dup;
}

/* Counts edges used once (boundary) and more than twice (non-manifold).  Edges are grouped by
 * their lower vertex in a CSR layout (linear time, 12 bytes per triangle); within a group the
 * upper vertices are tallied in a count array that is zeroed again as the tallies are read, so
 * no sorting is needed.  -1 if memory runs out. */
static void count_edges(const gnf_mesh *m, long *boundary, long *nonmanifold) {
    size_t nv = (size_t)m->nv, nf = (size_t)m->nf;
    *boundary = *nonmanifold = -1;
    size_t *pos = calloc(nv + 1, sizeof *pos);
    uint32_t *cnt = calloc(nv + 1, sizeof *cnt);
    int32_t *adj = malloc((3 * nf + 1) * sizeof *adj);
    if (!pos || !cnt || !adj) goto done;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nf; i++) {
            const int32_t *t = m->f + 3 * i;
            if (t[0] < 0 || t[1] < 0 || t[2] < 0 || t[0] >= m->nv || t[1] >= m->nv || t[2] >= m->nv)
                continue; /* not a valid mesh: ignore rather than read out of bounds */
            for (int k = 0; k < 3; k++) {
                int32_t a = t[k], c = t[k == 2 ? 0 : k + 1];
                if (a == c) continue;
                int32_t lo = a < c ? a : c, hi = a < c ? c : a;
                if (pass == 0) pos[lo]++;
                else adj[--pos[lo]] = hi;
            }
        }
        if (pass == 0) /* running sums: pos[v] = end of v's group; pass 1 counts it down */
            for (size_t v = 1; v <= nv; v++) pos[v] += pos[v - 1];
    }
    long nb = 0, nm = 0;
    for (size_t v = 0; v < nv; v++) {
        const int32_t *g = adj + pos[v];
        size_t len = pos[v + 1] - pos[v];
        for (size_t i = 0; i < len; i++) cnt[g[i]]++;
        for (size_t i = 0; i < len; i++) {
            uint32_t c = cnt[g[i]];
            nb += c == 1;
            nm += c > 2;
            cnt[g[i]] = 0; /* read once per edge, and clean for the next group */
        }
    }
    *boundary = nb;
    *nonmanifold = nm;
done:
    free(pos);
    free(cnt);
    free(adj);
}

/* Sets r->duplicate_vertices, r->boundary_edges and r->non_manifold_edges for m (other fields
 * are left alone).  A count that could not be computed for lack of memory is -1. */
void gnf_mesh_analyse(const gnf_mesh *m, gnf_mesh_report *r) {
    assert(m && r);
    r->duplicate_vertices = m->nv > 0 ? count_duplicates(m) : 0;
    count_edges(m, &r->boundary_edges, &r->non_manifold_edges);
}

/* ---- saving ------------------------------------------------------------------------------ */

#define OUT_CHUNK (1u << 20)

typedef struct {
    FILE *f;
    unsigned char *buf;
    size_t n;
    int err;
} out_buf;

static void out_flush(out_buf *o) {
    if (o->n && !o->err && fwrite(o->buf, 1, o->n, o->f) != o->n) o->err = 1;
    o->n = 0;
}

/* Makes room for `need` more bytes (need <= OUT_CHUNK) and returns where they go. */
static unsigned char *out_room(out_buf *o, size_t need) {
    if (o->n + need > OUT_CHUNK) out_flush(o);
    return o->buf + o->n;
}

static void put_u32le(unsigned char *p, uint32_t x) {
    p[0] = (unsigned char)x, p[1] = (unsigned char)(x >> 8);
    p[2] = (unsigned char)(x >> 16), p[3] = (unsigned char)(x >> 24);
}

static void write_ply(out_buf *o, const gnf_mesh *m) {
    char head[512];
    int len = snprintf(head, sizeof head,
                       "ply\nformat binary_little_endian 1.0\ncomment written by gnf %s\n"
                       "element vertex %ld\nproperty float x\nproperty float y\nproperty float z\n"
                       "element face %ld\nproperty list uchar int vertex_indices\nend_header\n",
                       GNF_VERSION_STRING, m->nv, m->nf);
    memcpy(out_room(o, (size_t)len), head, (size_t)len);
    o->n += (size_t)len;
    for (long i = 0; i < m->nv && !o->err; i++) {
        unsigned char *p = out_room(o, 12);
        for (int k = 0; k < 3; k++) {
            uint32_t u;
            memcpy(&u, &m->v[3 * i + k], 4);
            put_u32le(p + 4 * k, u);
        }
        o->n += 12;
    }
    for (long i = 0; i < m->nf && !o->err; i++) {
        unsigned char *p = out_room(o, 13);
        p[0] = 3;
        for (int k = 0; k < 3; k++) put_u32le(p + 1 + 4 * k, (uint32_t)m->f[3 * i + k]);
        o->n += 13;
    }
}

/* Writes v (>= 0) in decimal at p; returns the length. */
static int put_uint(char *p, uint32_t v) {
    char tmp[12];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10), v /= 10;
    while (v);
    for (int i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    return n;
}

/* Writes a decimal form of f with at most 9 significant digits that scan_double reads back as
 * exactly f, and returns its length (at most 16).  printf's %.9g is exact but slow (a 20M-
 * triangle OBJ spends most of its time there), so the digits come from double arithmetic and
 * are checked by parsing them back; the rare miss (a tie the scaling rounded the other way)
 * falls back to snprintf.  The output does not depend on the locale. */
static int put_float(char *out, float f) {
    if (f == 0.0f) {
        int n = 0;
        if (signbit(f)) out[n++] = '-';
        out[n++] = '0';
        out[n] = 0;
        return n;
    }
    double d = fabs((double)f);
    int e2;
    frexp(d, &e2); /* d in [2^(e2-1), 2^e2): the decimal exponent is this or one more */
    int e10 = (int)floor((e2 - 1) * 0.30102999566398120);
    /* m = d * 10^(8 - e10): 9 digits (10 if e10 came out low); powers up to 1e22 are exact. */
    double m = d;
    for (int s = 8 - e10; s != 0;) {
        int k = s > 22 ? 22 : s < -22 ? -22 : s;
        m = k > 0 ? m * k_pow10[k] : m / k_pow10[-k];
        s -= k;
    }
    if (m >= 999999999.5) m /= 10, e10++;
    uint64_t dig = (uint64_t)(m + 0.5);
    if (dig >= 1000000000u) dig = 100000000u, e10++; /* 9.999999996e.. rounds to 1e(..+1) */
    char dg[10];
    int nd = 9;
    for (int i = 8; i >= 0; i--) dg[i] = (char)('0' + dig % 10), dig /= 10;
    while (nd > 1 && dg[nd - 1] == '0') nd--;
    char *p = out;
    if (f < 0) *p++ = '-';
    if (e10 >= 0 && e10 < 9) { /* 123.45 or 1200 */
        for (int i = 0; i < GNF_MAX(nd, e10 + 1); i++) {
            if (i == e10 + 1) *p++ = '.';
            *p++ = i < nd ? dg[i] : '0';
        }
    } else if (e10 < 0 && e10 >= -5) { /* 0.00123 */
        *p++ = '0', *p++ = '.';
        for (int i = -1; i > e10; i--) *p++ = '0';
        for (int i = 0; i < nd; i++) *p++ = dg[i];
    } else { /* 1.5e-07, 3.4028235e+38 */
        *p++ = dg[0];
        if (nd > 1) *p++ = '.';
        for (int i = 1; i < nd; i++) *p++ = dg[i];
        *p++ = 'e', *p++ = e10 < 0 ? '-' : '+';
        int ae = e10 < 0 ? -e10 : e10;
        if (ae >= 10) *p++ = (char)('0' + ae / 10);
        *p++ = (char)('0' + ae % 10);
    }
    *p = 0;
    double back;
    const char *q = scan_double(out, p, &back);
    float fb = (float)back;
    if (q == p && memcmp(&fb, &f, sizeof f) == 0) return (int)(p - out);
    int len = snprintf(out, 24, "%.9g", (double)f);
    for (int k = 0; k < len; k++)
        if (out[k] == ',') out[k] = '.'; /* a caller's LC_NUMERIC must not change the file */
    return len;
}

static void write_obj(out_buf *o, const gnf_mesh *m) {
    char *p = (char *)out_room(o, 128);
    int len = snprintf(p, 128, "# gnf %s: %ld vertices, %ld triangles\n", GNF_VERSION_STRING,
                       m->nv, m->nf);
    o->n += (size_t)len;
    for (long i = 0; i < m->nv && !o->err; i++) {
        char *q = p = (char *)out_room(o, 80); /* 3 numbers of <= 16 bytes and a NUL, "v  \n" */
        *q++ = 'v';
        for (int k = 0; k < 3; k++) {
            *q++ = ' ';
            q += put_float(q, m->v[3 * i + k]);
        }
        *q++ = '\n';
        o->n += (size_t)(q - p);
    }
    for (long i = 0; i < m->nf && !o->err; i++) {
        char *q = p = (char *)out_room(o, 40);
        *q++ = 'f';
        for (int k = 0; k < 3; k++) {
            *q++ = ' ';
            q += put_uint(q, (uint32_t)m->f[3 * i + k] + 1u);
        }
        *q++ = '\n';
        o->n += (size_t)(q - p);
    }
}

/* Writes m as binary little-endian PLY (.ply) or OBJ (.obj) to path; see mesh.h.  The data go
 * to "<path>.tmpXXXXXX" in the same folder, renamed over path only once complete, so path is
 * either the old file or the whole new one.  GNF_ERR_UNSUPPORTED for another extension,
 * GNF_ERR_INVALID for a malformed mesh (bad counts, index out of range, non-finite vertex),
 * GNF_ERR_IO if writing fails (the temporary file is then removed). */
gnf_status gnf_mesh_save(const char *path, const gnf_mesh *m) {
    assert(path && m);
    int fmt = format_of(path);
    if (fmt != FMT_PLY && fmt != FMT_OBJ)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: cannot save a mesh with this extension "
                        "(expected .ply or .obj)", path);
    if (m->nv < 0 || m->nf < 0 || (unsigned long)m->nv > MAX_COUNT ||
        (unsigned long)m->nf > MAX_COUNT || (m->nv && !m->v) || (m->nf && !m->f))
        return gnf_fail(GNF_ERR_INVALID, "%s: cannot save a mesh with %ld vertices and %ld faces",
                        path, m->nv, m->nf);
    for (long i = 0; i < 3 * m->nf; i++)
        if (m->f[i] < 0 || m->f[i] >= m->nv)
            return gnf_fail(GNF_ERR_INVALID, "%s: cannot save: face %ld has vertex index %d "
                            "(%ld vertices)", path, i / 3, m->f[i], m->nv);
    for (long i = 0; i < 3 * m->nv; i++)
        if (!isfinite(m->v[i]))
            return gnf_fail(GNF_ERR_INVALID, "%s: cannot save: vertex %ld is not finite", path,
                            i / 3);

    out_buf o = {NULL, malloc(OUT_CHUNK), 0, 0};
    if (!o.buf) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
    gnf_atomic_file af;
    gnf_status s = gnf_atomic_open(&af, path);
    if (s != GNF_OK) {
        free(o.buf);
        return s;
    }
    o.f = af.f;
    if (fmt == FMT_PLY) write_ply(&o, m);
    else write_obj(&o, m);
    out_flush(&o);
    if (o.err) s = gnf_fail(GNF_ERR_IO, "%s: write failed (%s)", path, strerror(errno));
    s = gnf_atomic_commit(&af, s);
    free(o.buf);
    return s;
}
