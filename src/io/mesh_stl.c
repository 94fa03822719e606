/* mesh_stl.c — STL, ascii and binary.  STL stores each triangle's corners separately: exactly
 * equal positions are welded through a hash map so the result is indexed like the rest. */
#include "io/mesh_io.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t *slot;
    size_t mask;
} weld_map;

/* Returns in *idx the index of the gnf_mesh_builder vertex at position p, adding it if new.  The table
 * is kept at most half full, doubling (and rehashing from the positions) as vertices arrive. */
static gnf_status weld(gnf_mesh_builder *b, weld_map *w, const float p[3], int32_t *idx) {
    if (!w->slot || (b->nv + 1) * 2 > w->mask + 1) {
        size_t n = w->slot ? (w->mask + 1) * 2 : 4096;
        uint32_t *ns = n <= SIZE_MAX / 4 ? calloc(n, sizeof *ns) : NULL;
        if (!ns) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory welding vertices", b->path);
        for (size_t i = 0; i < b->nv; i++)
            ns[gnf_pos_probe(ns, n - 1, b->v, b->v + 3 * i)] = (uint32_t)(i + 1);
        free(w->slot);
        w->slot = ns;
        w->mask = n - 1;
    }
    size_t i = gnf_pos_probe(w->slot, w->mask, b->v, p);
    if (!w->slot[i]) {
        gnf_status s = gnf_mb_vertex(b, p);
        if (s != GNF_OK) return s;
        w->slot[i] = (uint32_t)b->nv;
    }
    *idx = (int32_t)(w->slot[i] - 1);
    return GNF_OK;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* ASCII STL: "solid" at the start and "facet" or "endsolid" as the next line's first word (a
 * binary STL's 80-byte header may begin with "solid" too, but binary data follow it). */
static int stl_looks_ascii(const char *buf, size_t size, const char *path) {
    gnf_text t = {path, buf, buf + size, 1};
    const char *w;
    gnf_text_space(&t, 0);
    size_t n = gnf_text_word(&t, &w);
    if (!gnf_word_is(w, n, "solid")) return 0;
    gnf_text_next_line(&t);
    gnf_text_space(&t, 0);
    n = gnf_text_word(&t, &w);
    return gnf_word_is(w, n, "facet") || gnf_word_is(w, n, "endsolid");
}

static gnf_status stl_binary(gnf_mesh_builder *b, const unsigned char *buf, uint32_t n) {
    if (n > GNF_MESH_MAX)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: more than 2^31-1 triangles", b->path);
    weld_map w = {NULL, 0};
    gnf_status s = gnf_mb_size(b, 0, n);
    for (uint32_t i = 0; i < n && s == GNF_OK; i++) {
        const unsigned char *p = buf + 84 + 50 * (size_t)i + 12; /* past the normal */
        gnf_mb_begin(b);
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
            if (s == GNF_OK) s = gnf_mb_corner(b, idx);
        }
        if (s == GNF_OK) gnf_mb_end(b);
    }
    free(w.slot);
    return s;
}

/* Expects the keyword kw as the next word (across lines). */
static gnf_status stl_expect(gnf_text *t, const char *kw) {
    gnf_text_space(t, 0);
    const char *w;
    size_t n = gnf_text_word(t, &w);
    if (!gnf_word_is(w, n, kw)) {
        char what[32];
        snprintf(what, sizeof what, "'%s'", kw);
        return gnf_text_expected(t, what);
    }
    t->p = w + n;
    return GNF_OK;
}

static gnf_status stl_ascii(gnf_mesh_builder *b, const char *buf, size_t size) {
    gnf_text t = {b->path, buf, buf + size, 1};
    weld_map w = {NULL, 0};
    gnf_status s = stl_expect(&t, "solid");
    if (s == GNF_OK) gnf_text_next_line(&t); /* the solid's name */
    while (s == GNF_OK) {
        gnf_text_space(&t, 0);
        const char *kw;
        size_t n = gnf_text_word(&t, &kw);
        if (gnf_word_is(kw, n, "endsolid")) {
            gnf_text_next_line(&t);
            gnf_text_space(&t, 0);
            if (t.p >= t.end) break;
            s = stl_expect(&t, "solid"); /* several solids in one file */
            if (s == GNF_OK) gnf_text_next_line(&t);
            continue;
        }
        if (!gnf_word_is(kw, n, "facet")) {
            s = gnf_text_expected(&t, "'facet' or 'endsolid'");
            break;
        }
        t.p = kw + n;
        s = stl_expect(&t, "normal");
        double d;
        for (int k = 0; k < 3 && s == GNF_OK; k++) s = gnf_text_double(&t, &d, "a normal component");
        if (s == GNF_OK) s = stl_expect(&t, "outer");
        if (s == GNF_OK) s = stl_expect(&t, "loop");
        gnf_mb_begin(b);
        while (s == GNF_OK) {
            gnf_text_space(&t, 0);
            n = gnf_text_word(&t, &kw);
            if (gnf_word_is(kw, n, "endloop")) {
                t.p = kw + n;
                break;
            }
            s = stl_expect(&t, "vertex");
            float xyz[3];
            for (int k = 0; k < 3 && s == GNF_OK; k++) s = gnf_text_coord(&t, &xyz[k]);
            int32_t idx;
            if (s == GNF_OK) s = weld(b, &w, xyz, &idx);
            if (s == GNF_OK) s = gnf_mb_corner(b, idx);
        }
        if (s == GNF_OK) gnf_mb_end(b);
        if (s == GNF_OK) s = stl_expect(&t, "endfacet");
    }
    free(w.slot);
    return s;
}

gnf_status gnf_mesh_parse_stl(gnf_mesh_builder *b, const char *buf, size_t size) {
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
