/* grid.c — multi-resolution feature grids: dense 2D/3D grids and hash grids, with (bi/tri)linear
 * interpolation.  The scalar reference kernels of the gnf_kernels_scalar table (kernels.h).
 *
 * Level l has res nodes per axis spanning [-1,1]^d: node i sits at -1 + 2i/(res-1).  A point's
 * features at level l blend the 2^d corner nodes of its cell; all levels are concatenated into
 * the D-vector.  Node storage: a dense level stores res^d nodes (index ix + res*(iy + res*iz));
 * a hash level (encoding GNF_ENC_HASH, res^d > T) stores T nodes indexed by the spatial hash
 * (ix * 1 ^ iy * 2654435761 ^ iz * 805459861) mod T (Instant-NGP).  The backward pass scatters
 * dL/dfeature to the same nodes with the same weights. */
#include "field/kernels.h"
#include <math.h>

/* Cell index and fractional position of coordinate v in [-1,1] on a grid of `res` nodes.
 * Points outside are clamped to the border cell (weights stay in [0,1]).  The operation order
 * matches the AVX2 kernels exactly, so both give the same bits. */
static inline void cell_of(float v, int res, int *i0, float *w) {
    float pos = ((v + 1.0f) * 0.5f) * (float)(res - 1);
    if (pos < 0) pos = 0;
    if (pos > (float)(res - 1)) pos = (float)(res - 1);
    int i = (int)pos;
    if (i > res - 2) i = res - 2;
    *i0 = i;
    *w = pos - (float)i;
}

/* Node index of integer coordinates at level l (see the file comment). */
static inline long node_index(const struct gnf_model *m, int l, uint32_t ix, uint32_t iy, uint32_t iz) {
    const uint32_t R = (uint32_t)m->cfg.res[l];
    if (m->level_dense[l]) return m->cfg.in_dim == 2 ? (long)iy * R + ix : ((long)iz * R + iy) * R + ix;
    uint32_t h = ix ^ (iy * 2654435761u);
    if (m->cfg.in_dim == 3) h ^= iz * 805459861u;
    return (long)(h & (uint32_t)(m->level_nodes[l] - 1));
}

/* The 2^d corner node offsets (in floats) and weights of point x at level l. */
static inline int corners(const struct gnf_model *m, int l, const float *x, long *idx, float *wt) {
    const int R = m->cfg.res[l], C = m->cfg.feat[l];
    int ix, iy, iz = 0;
    float wx, wy, wz = 0;
    cell_of(x[0], R, &ix, &wx);
    cell_of(x[1], R, &iy, &wy);
    if (m->cfg.in_dim == 2) {
        idx[0] = node_index(m, l, (uint32_t)ix, (uint32_t)iy, 0) * C;
        idx[1] = node_index(m, l, (uint32_t)ix + 1, (uint32_t)iy, 0) * C;
        idx[2] = node_index(m, l, (uint32_t)ix, (uint32_t)iy + 1, 0) * C;
        idx[3] = node_index(m, l, (uint32_t)ix + 1, (uint32_t)iy + 1, 0) * C;
        wt[0] = (1 - wx) * (1 - wy);
        wt[1] = wx * (1 - wy);
        wt[2] = (1 - wx) * wy;
        wt[3] = wx * wy;
        return 4;
    }
    cell_of(x[2], R, &iz, &wz);
    for (int k = 0; k < 8; k++) {
        int dx = k & 1, dy = (k >> 1) & 1, dz = k >> 2;
        idx[k] = node_index(m, l, (uint32_t)(ix + dx), (uint32_t)(iy + dy), (uint32_t)(iz + dz)) * C;
        wt[k] = (dx ? wx : 1 - wx) * (dy ? wy : 1 - wy) * (dz ? wz : 1 - wz);
    }
    return 8;
}

/* The lookup of every level from an f32 table or (half) an f16 copy read through gnf_f16_to_f32. */
static inline void encode_ref(float *feats, const struct gnf_model *m, const void *tab, const float *x, long n,
                              const int half) {
    const int D = m->D, dim = m->cfg.in_dim;
    long idx[8];
    float wt[8];
    for (long p = 0; p < n; p++) {
        float *f = feats + p * D;
        for (int l = 0; l < m->cfg.levels; l++) {
            const int C = m->cfg.feat[l];
            const float *g = (const float *)tab + m->grid_off[l];
            const uint16_t *gh = (const uint16_t *)tab + m->grid_off[l];
            int nc = corners(m, l, x + p * dim, idx, wt);
            float *o = f + m->feat_off[l];
            for (int c = 0; c < C; c++) {
                float s = wt[0] * (half ? gnf_f16_to_f32(gh[idx[0] + c]) : g[idx[0] + c]);
                for (int k = 1; k < nc; k++) s += wt[k] * (half ? gnf_f16_to_f32(gh[idx[k] + c]) : g[idx[k] + c]);
                o[c] = s;
            }
        }
    }
}

/* Entry grid_encode (kernels.h): feats [n][D] from x [n][in_dim], every level. */
void gnf_grid_encode_ref(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
    encode_ref(feats, m, params, x, n, 0);
}

/* Entry grid_encode_h (kernels.h): gnf_grid_encode_ref reading the f16 copy grid16. */
void gnf_grid_encode_h_ref(float *feats, const struct gnf_model *m, const uint16_t *grid16, const float *x, long n) {
    encode_ref(feats, m, grid16, x, n, 1);
}

/* Entry grid_scatter_level (kernels.h): grad += level l's share of dfeats [n][D], in point order;
 * the nodes touched marked in mark (may be NULL). */
void gnf_grid_scatter_level_ref(float *grad, const struct gnf_model *m, int l, const float *x,
                            const float *dfeats, long n, uint64_t *mark) {
    const int D = m->D, C = m->cfg.feat[l], fo = m->feat_off[l], dim = m->cfg.in_dim;
    float *g = grad + m->grid_off[l];
    long idx[8];
    float wt[8];
    for (long p = 0; p < n; p++) {
        int nc = corners(m, l, x + p * dim, idx, wt);
        const float *d = dfeats + p * D + fo;
        for (int k = 0; k < nc; k++) {
            if (mark) gnf_mark(mark, idx[k]);
            for (int c = 0; c < C; c++) g[idx[k] + c] += wt[k] * d[c];
        }
    }
}
