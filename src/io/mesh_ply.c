/* mesh_ply.c — PLY: ascii, binary_little_endian and binary_big_endian; any elements and
 * properties, of which the vertex x y z and the face vertex_indices list are used. */
#include "io/mesh_io.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (gnf_word_is(w, n, k_ply_type[i].name) || gnf_word_is(w, n, k_ply_type[i].alt)) return i;
    return -1;
}

/* Reads the header lines up to and including "end_header"; t is left at the first data byte. */
static gnf_status ply_read_header(gnf_text *t, ply_header *h) {
    const char *path = t->path;
    char tok[32];
    if (!(t->end - t->p >= 4 && memcmp(t->p, "ply", 3) == 0 &&
          (t->p[3] == '\n' || (t->p[3] == '\r' && t->end - t->p >= 5 && t->p[4] == '\n'))))
        return gnf_fail(GNF_ERR_FORMAT, "%s: not a PLY file (no 'ply' line)", path);
    gnf_text_next_line(t);
    h->format = -1;
    for (;;) {
        if (!memchr(t->p, '\n', (size_t)(t->end - t->p)))
            return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: truncated PLY header (no end_header line)",
                            path, t->line);
        const char *w;
        size_t n = gnf_text_word(t, &w);
        t->p = w + n;
        if (n == 0 || gnf_word_is(w, n, "comment") || gnf_word_is(w, n, "obj_info")) {
            gnf_text_next_line(t);
            continue;
        }
        if (gnf_word_is(w, n, "end_header")) {
            if (!gnf_text_eol(t)) return gnf_text_expected(t, "the end of the line");
            gnf_text_next_line(t);
            break;
        }
        if (gnf_word_is(w, n, "format")) {
            n = gnf_text_word(t, &w);
            t->p = w + n;
            if (gnf_word_is(w, n, "ascii")) h->format = 0;
            else if (gnf_word_is(w, n, "binary_little_endian")) h->format = 1;
            else if (gnf_word_is(w, n, "binary_big_endian")) h->format = 2;
            else
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: unknown PLY format '%s'", path,
                                t->line, gnf_show(tok, w, t->end));
            n = gnf_text_word(t, &w);
            if (!(n >= 1 && w[0] == '1'))
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: PLY version '%s' (expected 1.0)",
                                path, t->line, n ? gnf_show(tok, w, t->end) : "");
            t->p = w + n;
        } else if (gnf_word_is(w, n, "element")) {
            if (h->nelems == PLY_MAX_ELEMS)
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: more than %d PLY elements", path,
                                t->line, PLY_MAX_ELEMS);
            ply_elem *e = &h->elem[h->nelems++];
            n = gnf_text_word(t, &w);
            if (n == 0) return gnf_text_expected(t, "an element name");
            t->p = w + n;
            snprintf(e->name, sizeof e->name, "%s", gnf_show(tok, w, t->end));
            e->kind = gnf_word_is(w, n, "vertex") ? EL_VERTEX : gnf_word_is(w, n, "face") ? EL_FACE
                                                                                  : EL_OTHER;
            for (int i = 0; i < h->nelems - 1 && e->kind != EL_OTHER; i++)
                if (h->elem[i].kind == e->kind)
                    return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: a second '%s' element", path,
                                    t->line, e->name);
            long long c;
            gnf_status s = gnf_text_long(t, &c, "an element count");
            if (s != GNF_OK) return s;
            if (c < 0)
                return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: negative element count %lld", path,
                                t->line, c);
            e->count = (unsigned long long)c;
            if (e->kind == EL_VERTEX) h->nverts = e->count;
        } else if (gnf_word_is(w, n, "property")) {
            if (h->nelems == 0)
                return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: property before any element", path,
                                t->line);
            ply_elem *e = &h->elem[h->nelems - 1];
            if (e->nprops == PLY_MAX_PROPS)
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s:%ld: more than %d properties in '%s'",
                                path, t->line, PLY_MAX_PROPS, e->name);
            ply_prop *pr = &e->prop[e->nprops++];
            n = gnf_text_word(t, &w);
            t->p = w + n;
            if (gnf_word_is(w, n, "list")) {
                pr->list = 1;
                n = gnf_text_word(t, &w);
                t->p = w + n;
                pr->count_type = ply_type(w, n);
                if (pr->count_type < 0 || k_ply_type[pr->count_type].is_float)
                    return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: bad list count type '%s'", path,
                                    t->line, gnf_show(tok, w, t->end));
                n = gnf_text_word(t, &w);
                t->p = w + n;
            }
            pr->type = ply_type(w, n);
            if (pr->type < 0)
                return gnf_fail(GNF_ERR_FORMAT, "%s:%ld: unknown property type '%s'", path,
                                t->line, gnf_show(tok, w, t->end));
            n = gnf_text_word(t, &w);
            if (n == 0) return gnf_text_expected(t, "a property name");
            t->p = w + n;
            if (e->kind == EL_VERTEX && !pr->list && n == 1 &&
                (*w == 'x' || *w == 'y' || *w == 'z'))
                pr->role = ROLE_X + (*w - 'x');
            if (e->kind == EL_FACE && pr->list &&
                (gnf_word_is(w, n, "vertex_indices") || gnf_word_is(w, n, "vertex_index"))) {
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
                            gnf_show(tok, w, t->end));
        if (!gnf_text_eol(t)) return gnf_text_expected(t, "the end of the line");
        gnf_text_next_line(t);
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
    if (vert->count > GNF_MESH_MAX || face->count > GNF_MESH_MAX)
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

static gnf_status ply_binary(gnf_mesh_builder *b, const ply_header *h, const unsigned char *p,
                             const unsigned char *end) {
    int big = h->format == 2;
    for (int ei = 0; ei < h->nelems; ei++) {
        const ply_elem *e = &h->elem[ei];
        if (e->nprops == 0) continue;
        for (unsigned long long i = 0; i < e->count; i++) {
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
                gnf_mb_begin(b);
                for (long long c = 0; c < cnt; c++, p += isz) {
                    long long v = ply_bin_int(p, pr->type, big);
                    if (v < 0 || (unsigned long long)v >= h->nverts)
                        return gnf_fail(GNF_ERR_FORMAT, "%s: face %llu: vertex index %lld out of "
                                        "range (%llu vertices)", b->path, i, v, h->nverts);
                    gnf_status s = gnf_mb_corner(b, (int32_t)v);
                    if (s != GNF_OK) return s;
                }
                gnf_mb_end(b);
            }
            if (e->kind == EL_VERTEX) {
                if (!isfinite(xyz[0]) || !isfinite(xyz[1]) || !isfinite(xyz[2]))
                    return gnf_fail(GNF_ERR_FORMAT, "%s: vertex %llu: non-finite coordinate",
                                    b->path, i);
                gnf_status s = gnf_mb_vertex(b, xyz);
                if (s != GNF_OK) return s;
            }
        }
    }
    return GNF_OK;
}

static gnf_status ply_ascii(gnf_mesh_builder *b, const ply_header *h, gnf_text *t) {
    for (int ei = 0; ei < h->nelems; ei++) {
        const ply_elem *e = &h->elem[ei];
        if (e->nprops == 0) continue;
        for (unsigned long long i = 0; i < e->count; i++) {
            float xyz[3] = {0, 0, 0};
            gnf_status s = GNF_OK;
            for (int k = 0; k < e->nprops && s == GNF_OK; k++) {
                const ply_prop *pr = &e->prop[k];
                gnf_text_space(t, 0);
                double v;
                if (!pr->list) {
                    if (pr->role == ROLE_SKIP) s = gnf_text_double(t, &v, "a number");
                    else s = gnf_text_coord(t, &xyz[pr->role - ROLE_X]);
                    continue;
                }
                long long cnt;
                s = gnf_text_long(t, &cnt, "a list length");
                if (s == GNF_OK && cnt < 0)
                    s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: negative list length %lld", b->path,
                                 t->line, cnt);
                if (pr->role == ROLE_INDICES) gnf_mb_begin(b);
                /* Each item needs a byte: a lying length ends at the end of the data. */
                for (long long c = 0; c < cnt && s == GNF_OK; c++) {
                    gnf_text_space(t, 0);
                    if (pr->role != ROLE_INDICES) {
                        s = gnf_text_double(t, &v, "a list item");
                        continue;
                    }
                    long long idx;
                    s = gnf_text_long(t, &idx, "a vertex index");
                    if (s == GNF_OK && (idx < 0 || (unsigned long long)idx >= h->nverts))
                        s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: vertex index %lld out of range "
                                     "(%llu vertices)", b->path, t->line, idx, h->nverts);
                    if (s == GNF_OK) s = gnf_mb_corner(b, (int32_t)idx);
                }
                if (s == GNF_OK && pr->role == ROLE_INDICES) gnf_mb_end(b);
            }
            if (s == GNF_OK && e->kind == EL_VERTEX) s = gnf_mb_vertex(b, xyz);
            if (s != GNF_OK) return s;
        }
    }
    return GNF_OK;
}

gnf_status gnf_mesh_parse_ply(gnf_mesh_builder *b, const char *buf, size_t size) {
    ply_header *h = calloc(1, sizeof *h);
    if (!h) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", b->path);
    gnf_text t = {b->path, buf, buf + size, 1};
    gnf_status s = ply_read_header(&t, h);
    if (s == GNF_OK) s = ply_check_sizes(b->path, h, (size_t)(t.end - t.p));
    if (s == GNF_OK) {
        /* Counts are now known to fit the file: size the arrays once. */
        unsigned long long nf = 0;
        for (int i = 0; i < h->nelems; i++)
            if (h->elem[i].kind == EL_FACE) nf = h->elem[i].count;
        s = gnf_mb_size(b, (size_t)h->nverts, (size_t)nf);
    }
    if (s == GNF_OK)
        s = h->format == 0 ? ply_ascii(b, h, &t)
                           : ply_binary(b, h, (const unsigned char *)t.p,
                                        (const unsigned char *)t.end);
    free(h);
    return s;
}
