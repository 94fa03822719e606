/* grid_avx2.c — the grid entries of the gnf_kernels_avx2 table (kernels.h): lookup (forward) and
 * scatter (backward) of 2D dense and 3D dense/hash grids (2D hash encodings run the reference).
 * Compiled with -mavx2 -mfma; run only when the CPU has them.
 * Cell indices, hashes and interpolation weights of 8 points are computed in registers with the
 * same operations, in the same order, as the scalar reference in grid.c (no FMA contraction),
 * and features are accumulated corner by corner in the reference's order: the results are
 * bit-identical to gnf_grid_encode_ref / gnf_grid_scatter_level_ref (tested). */
#include "field/kernels.h"
#include <immintrin.h>

/* Grid lookup, 8 points at a time: cell indices and bilinear weights in registers, corner
 * features by gathers.  Points beyond a multiple of 8 go through the scalar reference. */
static void grid2d_encode(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
    const int D = m->D;
    long p = 0;
    float tmp[8] __attribute__((aligned(32)));
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (; p + 8 <= n; p += 8) {
        __m256 a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 2 * p), perm);      /* x0..3 y0..3 */
        __m256 b = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 2 * p + 8), perm);  /* x4..7 y4..7 */
        __m256 xs = _mm256_permute2f128_ps(a, b, 0x20), ys = _mm256_permute2f128_ps(a, b, 0x31);
        for (int l = 0; l < m->cfg.levels; l++) {
            const int R = m->cfg.res[l], C = m->cfg.feat[l];
            const float *gr = params + m->grid_off[l];
            const __m256 half = _mm256_set1_ps(0.5f * (float)(R - 1)), zero = _mm256_setzero_ps();
            const __m256 top = _mm256_set1_ps((float)(R - 1));
            __m256 px = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_add_ps(xs, _mm256_set1_ps(1.0f)), half), zero), top);
            __m256 py = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_add_ps(ys, _mm256_set1_ps(1.0f)), half), zero), top);
            __m256i ix = _mm256_min_epi32(_mm256_cvttps_epi32(px), _mm256_set1_epi32(R - 2));
            __m256i iy = _mm256_min_epi32(_mm256_cvttps_epi32(py), _mm256_set1_epi32(R - 2));
            __m256 wx = _mm256_sub_ps(px, _mm256_cvtepi32_ps(ix)), wy = _mm256_sub_ps(py, _mm256_cvtepi32_ps(iy));
            __m256 one = _mm256_set1_ps(1.0f);
            __m256 w00 = _mm256_mul_ps(_mm256_sub_ps(one, wx), _mm256_sub_ps(one, wy));
            __m256 w01 = _mm256_mul_ps(wx, _mm256_sub_ps(one, wy));
            __m256 w10 = _mm256_mul_ps(_mm256_sub_ps(one, wx), wy);
            __m256 w11 = _mm256_mul_ps(wx, wy);
            __m256i i00 = _mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(iy, _mm256_set1_epi32(R)), ix), _mm256_set1_epi32(C));
            __m256i i01 = _mm256_add_epi32(i00, _mm256_set1_epi32(C));
            __m256i i10 = _mm256_add_epi32(i00, _mm256_set1_epi32(R * C));
            __m256i i11 = _mm256_add_epi32(i10, _mm256_set1_epi32(C));
            float *o = feats + p * D + m->feat_off[l];
            for (int ch = 0; ch < C; ch++) {
                const float *base = gr + ch;
                /* same association as the reference: ((w00 n00 + w01 n01) + w10 n10) + w11 n11 */
                __m256 v = _mm256_mul_ps(w00, _mm256_i32gather_ps(base, i00, 4));
                v = _mm256_add_ps(v, _mm256_mul_ps(w01, _mm256_i32gather_ps(base, i01, 4)));
                v = _mm256_add_ps(v, _mm256_mul_ps(w10, _mm256_i32gather_ps(base, i10, 4)));
                v = _mm256_add_ps(v, _mm256_mul_ps(w11, _mm256_i32gather_ps(base, i11, 4)));
                _mm256_store_ps(tmp, v);
                _Pragma("GCC unroll 8")
                for (int j = 0; j < 8; j++) o[(long)j * D + ch] = tmp[j];
            }
        }
    }
    if (p < n) gnf_grid_encode_ref(feats + p * D, m, params, x + 2 * p, n - p);
}

/* Grid scatter of one level, 8 points at a time: cell indices and weights in registers (the
 * same operations as the reference, so bit-identical), then the 4 corner updates per point in
 * point order, as the reference does them. */
static void grid2d_scatter_level(float *grad, const struct gnf_model *m, int l, const float *x,
                                 const float *dfeats, long n) {
    const int D = m->D, R = m->cfg.res[l], C = m->cfg.feat[l], fo = m->feat_off[l];
    float *g = grad + m->grid_off[l];
    int idx[8] __attribute__((aligned(32)));
    float w[4][8] __attribute__((aligned(32)));
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256 top = _mm256_set1_ps((float)(R - 1)), rm1 = _mm256_set1_ps((float)(R - 1));
    long p = 0;
    for (; p + 8 <= n; p += 8) {
        __m256 a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 2 * p), perm);
        __m256 b = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 2 * p + 8), perm);
        __m256 xs = _mm256_permute2f128_ps(a, b, 0x20), ys = _mm256_permute2f128_ps(a, b, 0x31);
        /* pos = (v + 1) * 0.5 * (R - 1), as cell_of computes it */
        __m256 px = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(xs, one), half), rm1), zero), top);
        __m256 py = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(ys, one), half), rm1), zero), top);
        __m256i ix = _mm256_min_epi32(_mm256_cvttps_epi32(px), _mm256_set1_epi32(R - 2));
        __m256i iy = _mm256_min_epi32(_mm256_cvttps_epi32(py), _mm256_set1_epi32(R - 2));
        __m256 wx = _mm256_sub_ps(px, _mm256_cvtepi32_ps(ix)), wy = _mm256_sub_ps(py, _mm256_cvtepi32_ps(iy));
        _mm256_store_ps(w[0], _mm256_mul_ps(_mm256_sub_ps(one, wx), _mm256_sub_ps(one, wy)));
        _mm256_store_ps(w[1], _mm256_mul_ps(wx, _mm256_sub_ps(one, wy)));
        _mm256_store_ps(w[2], _mm256_mul_ps(_mm256_sub_ps(one, wx), wy));
        _mm256_store_ps(w[3], _mm256_mul_ps(wx, wy));
        _mm256_store_si256((__m256i *)idx, _mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(iy, _mm256_set1_epi32(R)), ix), _mm256_set1_epi32(C)));
        for (int j = 0; j < 8; j++) {
            float *n00 = g + idx[j], *n01 = n00 + C, *n10 = n00 + (long)R * C, *n11 = n10 + C;
            const float *d = dfeats + (p + j) * D + fo;
            float w00 = w[0][j], w01 = w[1][j], w10 = w[2][j], w11 = w[3][j];
            for (int c = 0; c < C; c++) {
                n00[c] += w00 * d[c];
                n01[c] += w01 * d[c];
                n10[c] += w10 * d[c];
                n11[c] += w11 * d[c];
            }
        }
    }
    if (p < n) gnf_grid_scatter_level_ref(grad, m, l, x + 2 * p, dfeats + p * D, n - p);
}

/* Per-level cell data of 8 points in 3D: for each of the 8 corners (bit 0: +x, bit 1: +y,
 * bit 2: +z) the float offset of the node's features and the trilinear weight. */
static inline __attribute__((always_inline)) void cells3_8(const struct gnf_model *m, int l, __m256 xs, __m256 ys, __m256 zs,
                            int idx[8][8], float w[8][8]) {
    const int R = m->cfg.res[l], C = m->cfg.feat[l];
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256 rm1 = _mm256_set1_ps((float)(R - 1));
    const __m256i rm2 = _mm256_set1_epi32(R - 2);
    __m256 pos[3] = {xs, ys, zs};
    __m256i ic[3];
    __m256 wc[3], wn[3];
    for (int a = 0; a < 3; a++) {
        __m256 p = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(pos[a], one), half), rm1), zero), rm1);
        ic[a] = _mm256_min_epi32(_mm256_cvttps_epi32(p), rm2);
        wc[a] = _mm256_sub_ps(p, _mm256_cvtepi32_ps(ic[a]));
        wn[a] = _mm256_sub_ps(one, wc[a]);
    }
    const __m256i Rv = _mm256_set1_epi32(R), Cv = _mm256_set1_epi32(C), onei = _mm256_set1_epi32(1);
    const __m256i mask = _mm256_set1_epi32((int)(m->level_nodes[l] - 1));
    const __m256i h1 = _mm256_set1_epi32((int)2654435761u), h2 = _mm256_set1_epi32((int)805459861u);
    for (int k = 0; k < 8; k++) {
        int dx = k & 1, dy = (k >> 1) & 1, dz = k >> 2;
        __m256i x = dx ? _mm256_add_epi32(ic[0], onei) : ic[0];
        __m256i y = dy ? _mm256_add_epi32(ic[1], onei) : ic[1];
        __m256i z = dz ? _mm256_add_epi32(ic[2], onei) : ic[2];
        __m256i node;
        if (m->level_dense[l])
            node = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(z, Rv), y), Rv), x);
        else
            node = _mm256_and_si256(_mm256_xor_si256(_mm256_xor_si256(x, _mm256_mullo_epi32(y, h1)), _mm256_mullo_epi32(z, h2)), mask);
        _mm256_store_si256((__m256i *)idx[k], _mm256_mullo_epi32(node, Cv));
        __m256 wk = _mm256_mul_ps(_mm256_mul_ps(dx ? wc[0] : wn[0], dy ? wc[1] : wn[1]), dz ? wc[2] : wn[2]);
        _mm256_store_ps(w[k], wk);
    }
}

/* x, y, z of points p..p+7 (interleaved xyz input) as three registers. */
static inline void load_xyz8(const float *x, __m256 *xs, __m256 *ys, __m256 *zs) {
    float a[3][8] __attribute__((aligned(32)));
    for (int j = 0; j < 8; j++) { a[0][j] = x[3 * j]; a[1][j] = x[3 * j + 1]; a[2][j] = x[3 * j + 2]; }
    *xs = _mm256_load_ps(a[0]);
    *ys = _mm256_load_ps(a[1]);
    *zs = _mm256_load_ps(a[2]);
}

static void grid3_encode(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
    const int D = m->D;
    int idx[8][8] __attribute__((aligned(32)));
    float w[8][8] __attribute__((aligned(32)));
    float tmp[8] __attribute__((aligned(32)));
    const long nb = n & ~7L;
    /* level-major: one level's table stays in cache while all points visit it (a hash level is
     * 256 KiB at 2^15 entries; all levels together would not fit) */
    for (int l = 0; l < m->cfg.levels; l++) {
        const int C = m->cfg.feat[l];
        const float *gr = params + m->grid_off[l];
        for (long p = 0; p < nb; p += 8) {
            __m256 xs, ys, zs;
            load_xyz8(x + 3 * p, &xs, &ys, &zs);
            cells3_8(m, l, xs, ys, zs, idx, w);
            float *o = feats + p * D + m->feat_off[l];
            for (int c = 0; c < C; c++) {
                const float *base = gr + c;
                __m256 v = _mm256_mul_ps(_mm256_load_ps(w[0]), _mm256_i32gather_ps(base, _mm256_load_si256((const __m256i *)idx[0]), 4));
                for (int k = 1; k < 8; k++)
                    v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_load_ps(w[k]), _mm256_i32gather_ps(base, _mm256_load_si256((const __m256i *)idx[k]), 4)));
                _mm256_store_ps(tmp, v);
                for (int j = 0; j < 8; j++) o[(long)j * D + c] = tmp[j];
            }
        }
    }
    if (nb < n) gnf_grid_encode_ref(feats + nb * D, m, params, x + 3 * nb, n - nb);
}

static void grid3_scatter_level(float *grad, const struct gnf_model *m, int l, const float *x,
                                const float *dfeats, long n) {
    const int D = m->D, C = m->cfg.feat[l], fo = m->feat_off[l];
    float *g = grad + m->grid_off[l];
    int idx[8][8] __attribute__((aligned(32)));
    float w[8][8] __attribute__((aligned(32)));
    long p = 0;
    for (; p + 8 <= n; p += 8) {
        __m256 xs, ys, zs;
        load_xyz8(x + 3 * p, &xs, &ys, &zs);
        cells3_8(m, l, xs, ys, zs, idx, w);
        for (int j = 0; j < 8; j++) {
            const float *d = dfeats + (p + j) * D + fo;
            for (int k = 0; k < 8; k++) {
                float *node = g + idx[k][j];
                float wk = w[k][j];
                for (int c = 0; c < C; c++) node[c] += wk * d[c];
            }
        }
    }
    if (p < n) gnf_grid_scatter_level_ref(grad, m, l, x + 3 * p, dfeats + p * D, n - p);
}

void gnf_grid_encode_avx2(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
    (m->cfg.in_dim == 2 ? grid2d_encode : grid3_encode)(feats, m, params, x, n);
}

void gnf_grid_scatter_level_avx2(float *grad, const struct gnf_model *m, int l, const float *x,
                                 const float *dfeats, long n) {
    (m->cfg.in_dim == 2 ? grid2d_scatter_level : grid3_scatter_level)(grad, m, l, x, dfeats, n);
}
