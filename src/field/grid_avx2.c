/* grid_avx2.c — the grid entries of the gnf_kernels_avx2 table (kernels.h): lookup (forward) and
 * scatter (backward) of every grid (2D/3D, dense/hash), 8 points at a time.
 * Compiled with -mavx2 -mfma; run only when the CPU has them.
 * Cell indices, hashes and interpolation weights of 8 points are computed in registers with the
 * same operations, in the same order, as the scalar reference in grid.c (no FMA contraction),
 * and features are accumulated corner by corner in the reference's order: the results are
 * bit-identical to gnf_grid_encode_ref / gnf_grid_scatter_level_ref (tested).  Points beyond a
 * multiple of 8 go through the reference. */
#include "field/kernels.h"
#include <immintrin.h>

/* Level-l cell data of the 8 points whose coordinates are pos[0..dim-1]: for each of the 2^dim
 * corners (bit 0: +x, bit 1: +y, bit 2: +z) the float offset of the node's features and the
 * (bi/tri)linear weight. */
static inline __attribute__((always_inline)) void cells8(const struct gnf_model *m, int l, const __m256 *pos,
                                                          int idx[8][8], float w[8][8]) {
    const int R = m->cfg.res[l], C = m->cfg.feat[l], dim = m->cfg.in_dim;
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256 rm1 = _mm256_set1_ps((float)(R - 1));
    const __m256i rm2 = _mm256_set1_epi32(R - 2);
    __m256i ic[3];
    __m256 wc[3], wn[3];
    for (int a = 0; a < dim; a++) {
        __m256 p = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(pos[a], one), half), rm1), zero), rm1);
        ic[a] = _mm256_min_epi32(_mm256_cvttps_epi32(p), rm2);
        wc[a] = _mm256_sub_ps(p, _mm256_cvtepi32_ps(ic[a]));
        wn[a] = _mm256_sub_ps(one, wc[a]);
    }
    const __m256i Rv = _mm256_set1_epi32(R), Cv = _mm256_set1_epi32(C), onei = _mm256_set1_epi32(1);
    const __m256i mask = _mm256_set1_epi32((int)(m->level_nodes[l] - 1));
    const __m256i h1 = _mm256_set1_epi32((int)2654435761u), h2 = _mm256_set1_epi32((int)805459861u);
    for (int k = 0; k < 1 << dim; k++) {
        int dx = k & 1, dy = (k >> 1) & 1, dz = k >> 2;
        __m256i x = dx ? _mm256_add_epi32(ic[0], onei) : ic[0];
        __m256i y = dy ? _mm256_add_epi32(ic[1], onei) : ic[1];
        __m256 wk = _mm256_mul_ps(dx ? wc[0] : wn[0], dy ? wc[1] : wn[1]);
        __m256i node;
        if (dim == 2) {
            node = m->level_dense[l] ? _mm256_add_epi32(_mm256_mullo_epi32(y, Rv), x)
                                     : _mm256_and_si256(_mm256_xor_si256(x, _mm256_mullo_epi32(y, h1)), mask);
        } else {
            __m256i z = dz ? _mm256_add_epi32(ic[2], onei) : ic[2];
            wk = _mm256_mul_ps(wk, dz ? wc[2] : wn[2]);
            if (m->level_dense[l])
                node = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(z, Rv), y), Rv), x);
            else
                node = _mm256_and_si256(_mm256_xor_si256(_mm256_xor_si256(x, _mm256_mullo_epi32(y, h1)), _mm256_mullo_epi32(z, h2)), mask);
        }
        _mm256_store_si256((__m256i *)idx[k], _mm256_mullo_epi32(node, Cv));
        _mm256_store_ps(w[k], wk);
    }
}

/* Coordinates of 8 consecutive points (interleaved input, dim per point) as dim registers. */
static inline void load8(const float *x, int dim, __m256 *pos) {
    float a[3][8] __attribute__((aligned(32)));
    for (int j = 0; j < 8; j++)
        for (int c = 0; c < dim; c++) a[c][j] = x[dim * j + c];
    for (int c = 0; c < dim; c++) pos[c] = _mm256_load_ps(a[c]);
}

void gnf_grid_encode_avx2(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
    const int D = m->D, dim = m->cfg.in_dim, nc = 1 << dim;
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
            __m256 pos[3];
            load8(x + dim * p, dim, pos);
            cells8(m, l, pos, idx, w);
            float *o = feats + p * D + m->feat_off[l];
            for (int c = 0; c < C; c++) {
                const float *base = gr + c;
                __m256 v = _mm256_mul_ps(_mm256_load_ps(w[0]), _mm256_i32gather_ps(base, _mm256_load_si256((const __m256i *)idx[0]), 4));
                for (int k = 1; k < nc; k++)
                    v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_load_ps(w[k]), _mm256_i32gather_ps(base, _mm256_load_si256((const __m256i *)idx[k]), 4)));
                _mm256_store_ps(tmp, v);
                for (int j = 0; j < 8; j++) o[(long)j * D + c] = tmp[j];
            }
        }
    }
    if (nb < n) gnf_grid_encode_ref(feats + nb * D, m, params, x + dim * nb, n - nb);
}

void gnf_grid_scatter_level_avx2(float *grad, const struct gnf_model *m, int l, const float *x,
                                 const float *dfeats, long n) {
    const int D = m->D, C = m->cfg.feat[l], fo = m->feat_off[l], dim = m->cfg.in_dim, nc = 1 << dim;
    float *g = grad + m->grid_off[l];
    int idx[8][8] __attribute__((aligned(32)));
    float w[8][8] __attribute__((aligned(32)));
    long p = 0;
    for (; p + 8 <= n; p += 8) {
        __m256 pos[3];
        load8(x + dim * p, dim, pos);
        cells8(m, l, pos, idx, w);
        for (int j = 0; j < 8; j++) {
            const float *d = dfeats + (p + j) * D + fo;
            for (int k = 0; k < nc; k++) {
                float *node = g + idx[k][j];
                float wk = w[k][j];
                for (int c = 0; c < C; c++) node[c] += wk * d[c];
            }
        }
    }
    if (p < n) gnf_grid_scatter_level_ref(grad, m, l, x + dim * p, dfeats + p * D, n - p);
}
