/* common.c — the harnesses' shared checks (fuzz.h): how a broken promise is reported, and what
 * every failed load must say. */
#include "fuzz.h"
#include "geom/mesh.h"
#include "io/scene.h" /* gnf_image_load_on_white_from_memory */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void (*gnf_fuzz_hook)(const char *msg);

void gnf_fuzz_violation(const char *file, int line, const char *fmt, ...) {
    char msg[1400];
    int n = snprintf(msg, sizeof msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (gnf_fuzz_hook) {
        gnf_fuzz_hook(msg);
        return;
    }
    dprintf(2, "gnf fuzz: broken promise: %s\n", msg); /* fd 2: stderr may be redirected (fuzz_query.c) */
    abort();
}

void gnf_fuzz_check_error(gnf_status s, const char *name, int invalid_ok) {
    const char *msg = gnf_last_error();
    FUZZ_ASSERT(s == GNF_ERR_IO || s == GNF_ERR_FORMAT || s == GNF_ERR_UNSUPPORTED || s == GNF_ERR_NOMEM ||
                    (invalid_ok && s == GNF_ERR_INVALID),
                "status %d from a reader (message: %s)", (int)s, msg);
    FUZZ_ASSERT(strstr(msg, name) != NULL, "the message does not name the input \"%s\": %s", name, msg);
    FUZZ_ASSERT(strlen(msg) > strlen(name) + 4, "the message does not say what is wrong: %s", msg);
}

/* ---- images --------------------------------------------------------------------------- */

/* Pixels of a loaded image: a sane size and every sample in [0, 1]. */
static void check_image(const gnf_image *img, int want_c, const char *what) {
    FUZZ_ASSERT(img->px && img->w >= 1 && img->h >= 1 && (img->c == 1 || img->c == 3) &&
                    (!want_c || img->c == want_c),
                "%s: a loaded image of %dx%dx%d", what, img->w, img->h, img->c);
    size_t n = (size_t)img->w * img->h * img->c;
    for (size_t i = 0; img->px && i < n; i++)
        if (!(img->px[i] >= 0.0f && img->px[i] <= 1.0f)) {
            FUZZ_ASSERT(0, "%s: sample %zu is %g, outside [0, 1]", what, i, (double)img->px[i]);
            break;
        }
}

gnf_status gnf_fuzz_image(const uint8_t *data, size_t size, const char *name) {
    gnf_image img;
    int alpha = -1;
    gnf_status s = gnf_image_load_from_memory(data, size, name, &img, &alpha);
    if (s != GNF_OK) {
        gnf_fuzz_check_error(s, name, 0);
        FUZZ_ASSERT(s != GNF_ERR_IO, "an I/O error from memory: %s", gnf_last_error());
        FUZZ_ASSERT(!img.px && !img.w && !img.h && !img.c && alpha == 0, "a failed load left an image behind");
        return s;
    }
    check_image(&img, 0, "as stored");
    FUZZ_ASSERT(alpha == 0 || alpha == 1, "had_alpha is %d", alpha);
    /* The same bytes composited over white (what scenes load): the same size in RGB, and without
     * alpha exactly the same colours (gray replicated). */
    gnf_image wh;
    int alpha2 = -1;
    gnf_status s2 = gnf_image_load_on_white_from_memory(data, size, name, &wh, &alpha2);
    FUZZ_ASSERT(s2 == GNF_OK || s2 == GNF_ERR_NOMEM, "loads as stored but not over white: %s", gnf_last_error());
    if (s2 == GNF_OK) {
        check_image(&wh, 3, "over white");
        FUZZ_ASSERT(wh.w == img.w && wh.h == img.h && alpha2 == alpha, "over white: %dx%d alpha %d, as stored %dx%d alpha %d",
                    wh.w, wh.h, alpha2, img.w, img.h, alpha);
        if (!alpha && wh.w == img.w && wh.h == img.h) {
            size_t n = (size_t)img.w * img.h;
            for (size_t i = 0; i < n; i++)
                for (int k = 0; k < 3; k++)
                    if (wh.px[3 * i + k] != img.px[i * img.c + (img.c == 1 ? 0 : k)]) {
                        FUZZ_ASSERT(0, "pixel %zu channel %d differs over white without alpha", i, k);
                        i = n;
                        break;
                    }
        }
        gnf_image_free(&wh);
    }
    gnf_image_free(&img);
    return s;
}

/* ---- meshes --------------------------------------------------------------------------- */

gnf_status gnf_fuzz_mesh(const uint8_t *data, size_t size, const char *name) {
    gnf_mesh m;
    gnf_mesh_report r;
    memset(&r, 0x5A, sizeof r); /* must come back zeroed or filled */
    gnf_status s = gnf_mesh_load_from_memory(data, size, name, &m, &r);
    if (s != GNF_OK) {
        gnf_fuzz_check_error(s, name, 0);
        FUZZ_ASSERT(s != GNF_ERR_IO, "an I/O error from memory: %s", gnf_last_error());
        gnf_mesh_report zero;
        memset(&zero, 0, sizeof zero);
        FUZZ_ASSERT(!m.v && !m.f && !m.nv && !m.nf, "a failed load left a mesh behind");
        FUZZ_ASSERT(memcmp(&r, &zero, sizeof r) == 0, "a failed load left a report behind");
        return s;
    }
    FUZZ_ASSERT(m.v && m.f && m.nv >= 3 && m.nf >= 1, "a loaded mesh of %ld vertices and %ld faces", m.nv, m.nf);
    for (long i = 0; i < 3 * m.nv; i++)
        if (!isfinite(m.v[i])) {
            FUZZ_ASSERT(0, "vertex %ld is not finite", i / 3);
            break;
        }
    for (long t = 0; t < m.nf; t++) {
        const int32_t *f = m.f + 3 * t;
        int ok = f[0] >= 0 && f[1] >= 0 && f[2] >= 0 && f[0] < m.nv && f[1] < m.nv && f[2] < m.nv &&
                 f[0] != f[1] && f[1] != f[2] && f[0] != f[2];
        if (!ok) {
            FUZZ_ASSERT(0, "triangle %ld is (%d %d %d) with %ld vertices", t, f[0], f[1], f[2], m.nv);
            break;
        }
    }
    FUZZ_ASSERT(r.polygons_triangulated >= 0 && r.degenerate_faces >= 0 && r.dropped_faces >= 0 &&
                    r.duplicate_vertices >= 0 && r.duplicate_vertices < m.nv && r.non_manifold_edges >= 0 &&
                    r.boundary_edges >= 0 && r.boundary_edges + r.non_manifold_edges <= 3 * m.nf &&
                    r.degenerate_faces <= m.nf,
                "report: %ld triangulated, %ld degenerate, %ld dropped, %ld duplicates, %ld non-manifold, %ld boundary "
                "for %ld vertices and %ld faces",
                r.polygons_triangulated, r.degenerate_faces, r.dropped_faces, r.duplicate_vertices,
                r.non_manifold_edges, r.boundary_edges, m.nv, m.nf);
    gnf_mesh_free(&m);
    return s;
}
