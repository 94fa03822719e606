/* grid2d.c — dense multi-resolution 2D feature grids with bilinear interpolation.
 *
 * Level l has res×res nodes spanning [-1,1]²: node i sits at -1 + 2i/(res-1).  A point's
 * features at level l are the bilinear blend of its cell's 4 corner nodes; all levels are
 * concatenated into the D-vector.  The backward pass scatters dL/dfeature to the same 4 nodes
 * with the same weights. */
#include "field/field.h"
#include <math.h>

/* Cell index and fractional position of coordinate v in [-1,1] on a grid of `res` nodes.
 * Points outside are clamped to the border cell (weights stay in [0,1]). */
static inline void cell_of(float v, int res, int *i0, float *w) {
    float pos = ((v + 1.0f) * 0.5f) * (float)(res - 1);
    if (pos < 0) pos = 0;
    if (pos > (float)(res - 1)) pos = (float)(res - 1);
    int i = (int)pos;
    if (i > res - 2) i = res - 2;
    *i0 = i;
    *w = pos - (float)i;
}

void grid2d_encode_ref(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
    const int D = m->D;
    for (long p = 0; p < n; p++) {
        float *f = feats + p * D;
        for (int l = 0; l < m->cfg.levels; l++) {
            const int R = m->cfg.res[l], C = m->cfg.feat[l];
            const float *g = params + m->grid_off[l];
            int ix, iy;
            float wx, wy;
            cell_of(x[2 * p], R, &ix, &wx);
            cell_of(x[2 * p + 1], R, &iy, &wy);
            const float *n00 = g + ((long)iy * R + ix) * C, *n01 = n00 + C;
            const float *n10 = n00 + (long)R * C, *n11 = n10 + C;
            float w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy;
            float *o = f + m->feat_off[l];
            for (int c = 0; c < C; c++) o[c] = w00 * n00[c] + w01 * n01[c] + w10 * n10[c] + w11 * n11[c];
        }
    }
}

void grid2d_encode(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
#ifndef GNF_NO_AVX2
    if (gnf_use_avx2()) {
        grid2d_encode_avx2(feats, m, params, x, n);
        return;
    }
#endif
    grid2d_encode_ref(feats, m, params, x, n);
}

void grid2d_scatter_level_ref(float *grad, const struct gnf_model *m, int l, const float *x,
                              const float *dfeats, long n) {
    const int D = m->D, R = m->cfg.res[l], C = m->cfg.feat[l], fo = m->feat_off[l];
    float *g = grad + m->grid_off[l];
    for (long p = 0; p < n; p++) {
        int ix, iy;
        float wx, wy;
        cell_of(x[2 * p], R, &ix, &wx);
        cell_of(x[2 * p + 1], R, &iy, &wy);
        float *n00 = g + ((long)iy * R + ix) * C, *n01 = n00 + C;
        float *n10 = n00 + (long)R * C, *n11 = n10 + C;
        float w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy;
        const float *d = dfeats + p * D + fo;
        for (int c = 0; c < C; c++) {
            n00[c] += w00 * d[c];
            n01[c] += w01 * d[c];
            n10[c] += w10 * d[c];
            n11[c] += w11 * d[c];
        }
    }
}

void grid2d_scatter_level(float *grad, const struct gnf_model *m, int l, const float *x,
                          const float *dfeats, long n) {
#ifndef GNF_NO_AVX2
    if (gnf_use_avx2()) {
        grid2d_scatter_level_avx2(grad, m, l, x, dfeats, n);
        return;
    }
#endif
    grid2d_scatter_level_ref(grad, m, l, x, dfeats, n);
}
