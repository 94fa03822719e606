/* nerf_mesh.c — vertex colours of a radiance field's density mesh (gnf_nerf_extract_mesh).
 *
 * A vertex's colour is the field's view-independent colour (the degree-0 spherical-harmonic term
 * of each channel, through the sigmoid) where a ray into the surface there would stop: a short
 * ray along the inward vertex normal, from one marching-cubes cell outside the vertex to one cell
 * inside, is sampled at NERF_MESH_SAMPLES points and composited like a rendered pixel (docs/MODEL.md
 * "Radiance fields"), without background, and divided by the ray's opacity.  Where that ray stays
 * nearly transparent (opacity below NERF_MESH_MIN_OPACITY: a wisp of density at the iso level),
 * the colour at the vertex itself is taken instead.  The vertex normal is the area-weighted sum of
 * its triangles' normals (marching cubes orients them towards lower density).  Measured on lego
 * (bench/README.md, "Coloured meshes"): against the degree-0 term the full SH colour seen head-on
 * along the normal, or averaged over 13 directions around it, matched the pictures less well. */
#include "tasks/nerf_internal.h"
#include "field/nerf_head.h"
#include "geom/mesh.h"
#include <math.h>
#include <string.h>

#define NERF_MESH_SAMPLES 16
#define NERF_MESH_BLOCK 4096          /* vertices per field evaluation */
#define NERF_MESH_MIN_OPACITY 0.02f

static unsigned char to_u8(float c) {
    c = c < 0 ? 0 : c > 1 ? 1 : c;
    return (unsigned char)lrintf(c * 255.0f);
}

gnf_status gnf_nerf_mesh_colours(const gnf_model *m, gnf_mesh *mesh, float box, float cell, float dist_scale,
                                 int threads) {
    const long nv = mesh->nv, S = NERF_MESH_SAMPLES, Bk = NERF_MESH_BLOCK;
    float *nrm = gnf_calloc((size_t)nv * 3, sizeof(float));
    float *x = gnf_calloc((size_t)Bk * (size_t)(S + 1) * 3, sizeof(float));
    float *y = gnf_calloc((size_t)Bk * (size_t)(S + 1) * NERF_OUT, sizeof(float));
    unsigned char *rgb = gnf_calloc((size_t)nv * 3, 1);
    if (!nrm || !x || !y || !rgb) {
        gnf_free(nrm); gnf_free(x); gnf_free(y); gnf_free(rgb);
        return gnf_fail(GNF_ERR_NOMEM, "out of memory colouring a mesh of %ld vertices", nv);
    }
    for (long f = 0; f < mesh->nf; f++) {   /* area-weighted normals: the cross product's length */
        const int32_t *t = mesh->f + 3 * f;
        const float *a = mesh->v + 3 * t[0], *b = mesh->v + 3 * t[1], *c = mesh->v + 3 * t[2];
        float e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        float n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
        for (int k = 0; k < 3; k++)
            for (int a2 = 0; a2 < 3; a2++) nrm[3 * t[k] + a2] += n[a2];
    }
    const float invB = 1.0f / box, reach = cell, h = 2.0f * reach / (float)S;
    float Y[16] = {0.28209479f};   /* the SH basis reduced to degree 0: the view-independent colour */
    float dts[NERF_MESH_SAMPLES];
    for (long i = 0; i < S; i++) dts[i] = h * dist_scale;
    const float bg[3] = {0, 0, 0};
    gnf_status st = GNF_OK;
    for (long v0 = 0; v0 < nv && st == GNF_OK; v0 += Bk) {
        const long nb = GNF_MIN(Bk, nv - v0);
        /* per vertex: S samples from outside to inside along -n, then the vertex itself */
        for (long i = 0; i < nb; i++) {
            const float *p = mesh->v + 3 * (v0 + i), *n = nrm + 3 * (v0 + i);
            float len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
            float u[3] = {0, 0, 0};
            if (len > 0) for (int a = 0; a < 3; a++) u[a] = n[a] / len;
            float *xs = x + 3 * i * (S + 1);
            for (long k = 0; k <= S; k++) {
                float s = k < S ? reach - ((float)k + 0.5f) * h : 0.0f;   /* signed offset along u */
                for (int a = 0; a < 3; a++) xs[3 * k + a] = fminf(1.0f, fmaxf(-1.0f, (p[a] + s * u[a]) * invB));
            }
        }
        if ((st = gnf_model_eval(m, x, nb * (S + 1), y, threads)) != GNF_OK) break;
        for (long i = 0; i < nb; i++) {
            const float *ys = y + (long)NERF_OUT * i * (S + 1);
            nerf_ray_result r;
            float c[3];
            gnf_nerf_composite(&r, ys, NERF_OUT, Y, dts, NULL, S, bg, 0.0f);
            if (r.opacity >= NERF_MESH_MIN_OPACITY)
                for (int a = 0; a < 3; a++) c[a] = r.rgb[a] / r.opacity;
            else
                gnf_nerf_sh_colour(c, ys + (long)NERF_OUT * S, Y);
            for (int a = 0; a < 3; a++) rgb[3 * (v0 + i) + a] = to_u8(c[a]);
        }
    }
    gnf_free(nrm); gnf_free(x); gnf_free(y);
    if (st != GNF_OK) { gnf_free(rgb); return st; }
    gnf_free(mesh->rgb);
    mesh->rgb = rgb;
    return GNF_OK;
}
