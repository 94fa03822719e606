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
#include <string.h>

/* Level-l cell data of the 8 points whose coordinates are pos[0..dim-1]: for each of the 2^dim
 * corners (bit 0: +x, bit 1: +y, bit 2: +z) the float offset of the node's features and the
 * (bi/tri)linear weight. */
static inline __attribute__((always_inline)) void cells8(const struct gnf_model *m, int l, const __m256 *pos,
                                                          int idx[8][8], float w[8][8], const int dim) {
    const int R = m->cfg.res[l], C = m->cfg.feat[l];
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
    const __m256i Cv = _mm256_set1_epi32(C), onei = _mm256_set1_epi32(1);
    const int dense = m->level_dense[l];
    __m256i base = ic[0], hy[2], hz[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    if (dense) {   /* corner 0's offset; the others are constant steps from it */
        base = dim == 2 ? _mm256_add_epi32(_mm256_mullo_epi32(ic[1], _mm256_set1_epi32(R)), ic[0])
                        : _mm256_add_epi32(_mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(ic[2], _mm256_set1_epi32(R)), ic[1]),
                                                              _mm256_set1_epi32(R)), ic[0]);
        base = _mm256_mullo_epi32(base, Cv);
    } else {       /* hash terms of both y (and z) values of the cell */
        for (int b = 0; b < 2; b++) {
            hy[b] = _mm256_mullo_epi32(b ? _mm256_add_epi32(ic[1], onei) : ic[1], _mm256_set1_epi32((int)2654435761u));
            if (dim == 3) hz[b] = _mm256_mullo_epi32(b ? _mm256_add_epi32(ic[2], onei) : ic[2], _mm256_set1_epi32((int)805459861u));
        }
    }
    const __m256i mask = _mm256_set1_epi32((int)(m->level_nodes[l] - 1));
    _Pragma("GCC unroll 8")
    for (int k = 0; k < 8; k++) {
        if (k >= 1 << dim) break;
        int dx = k & 1, dy = (k >> 1) & 1, dz = k >> 2;
        __m256 wk = _mm256_mul_ps(dx ? wc[0] : wn[0], dy ? wc[1] : wn[1]);
        if (dim == 3) wk = _mm256_mul_ps(wk, dz ? wc[2] : wn[2]);
        __m256i off;
        if (dense) off = _mm256_add_epi32(base, _mm256_set1_epi32(C * (dx + R * (dy + R * dz))));
        else {
            __m256i x = dx ? _mm256_add_epi32(base, onei) : base;
            off = _mm256_mullo_epi32(_mm256_and_si256(_mm256_xor_si256(_mm256_xor_si256(x, hy[dy]), hz[dz]), mask), Cv);
        }
        _mm256_store_si256((__m256i *)idx[k], off);
        _mm256_store_ps(w[k], wk);
    }
}

/* Coordinates of 8 consecutive points (interleaved input, dim per point) as dim registers. */
static inline __attribute__((always_inline)) void load8(const float *x, const int dim, __m256 *pos) {
    float a[3][8] __attribute__((aligned(32)));
    for (int j = 0; j < 8; j++)
        for (int c = 0; c < dim; c++) a[c][j] = x[dim * j + c];
    for (int c = 0; c < dim; c++) pos[c] = _mm256_load_ps(a[c]);
}

/* Prefetches the nodes of the 8 points whose cell data is idx (level table gr, elements of es
 * bytes). */
static inline __attribute__((always_inline)) void prefetch8(const void *gr, const int es, const int idx[8][8],
                                                             const int nc) {
    _Pragma("GCC unroll 8")
    for (int k = 0; k < nc; k++)
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) _mm_prefetch((const char *)gr + (long)es * idx[k][j], _MM_HINT_T0);
}

/* Two adjacent floats (a node's pair, 4-byte aligned) as the low half of a register, and back. */
static inline __attribute__((always_inline)) __m128 load_pair(const float *p) {
    int64_t v;
    memcpy(&v, p, sizeof v);
    return _mm_castsi128_ps(_mm_cvtsi64_si128(v));
}
static inline __attribute__((always_inline)) void store_pair(float *p, __m128 v) {
    const int64_t u = _mm_cvtsi128_si64(_mm_castps_si128(v));
    memcpy(p, &u, sizeof u);
}

/* gather8 for levels of 2 features (every 3D recipe), from an f32 table or (half) the f16 copy
 * of gnf_grid_encode_h: a node's pair is one 64-bit (f16: 32-bit) load, four points share a
 * register ([f0 f1] of points 0..3, their weights duplicated to match), and each point's pair is
 * stored with one 64-bit store.  The same multiplies and adds in the same corner order as
 * gather8 (F16C's conversion is exact), so the same bits; it replaces 16 eight-lane gathers and
 * 16 scalar stores per group (render lookups, lego: see bench/README.md). */
static inline __attribute__((always_inline)) void gather8_c2(float *o, const void *tab, int D, const int idx[8][8],
                                                              const float w[8][8], const int nc, const int half) {
    const float *gr = tab;
    const uint16_t *gh = tab;
    for (int h = 0; h < 8; h += 4) {
        __m256 v = _mm256_setzero_ps();
        _Pragma("GCC unroll 8")
        for (int k = 0; k < nc; k++) {
            const int *ik = idx[k] + h;
            __m256 f;
            if (half) {
                int32_t q[4];
                for (int j = 0; j < 4; j++) memcpy(&q[j], gh + ik[j], 4);
                f = _mm256_cvtph_ps(_mm_setr_epi32(q[0], q[1], q[2], q[3]));
            } else {
                const __m128 lo = _mm_loadh_pi(load_pair(gr + ik[0]), (const __m64 *)(gr + ik[1]));
                const __m128 hi = _mm_loadh_pi(load_pair(gr + ik[2]), (const __m64 *)(gr + ik[3]));
                f = _mm256_set_m128(hi, lo);
            }
            const __m128 wq = _mm_load_ps(w[k] + h);
            const __m256 ww = _mm256_set_m128(_mm_unpackhi_ps(wq, wq), _mm_unpacklo_ps(wq, wq));
            const __m256 t = _mm256_mul_ps(ww, f);
            v = k ? _mm256_add_ps(v, t) : t;
        }
        const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
        _mm_storel_pi((__m64 *)(o + (long)h * D), lo);
        _mm_storeh_pi((__m64 *)(o + (long)(h + 1) * D), lo);
        _mm_storel_pi((__m64 *)(o + (long)(h + 2) * D), hi);
        _mm_storeh_pi((__m64 *)(o + (long)(h + 3) * D), hi);
    }
}

/* feats of 8 points at level l (features at o, row stride D) from their cell data. */
static inline __attribute__((always_inline)) void gather8(float *o, const float *gr, int C, int D, const int idx[8][8],
                                                           const float w[8][8], const int nc) {
    if (C == 2) {
        gather8_c2(o, gr, D, idx, w, nc, 0);
        return;
    }
    float tmp[8] __attribute__((aligned(32)));
    for (int c = 0; c < C; c++) {
        const float *base = gr + c;
        __m256 v = _mm256_mul_ps(_mm256_load_ps(w[0]), _mm256_i32gather_ps(base, _mm256_load_si256((const __m256i *)idx[0]), 4));
        _Pragma("GCC unroll 8")
        for (int k = 1; k < nc; k++)
            v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_load_ps(w[k]), _mm256_i32gather_ps(base, _mm256_load_si256((const __m256i *)idx[k]), 4)));
        _mm256_store_ps(tmp, v);
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) o[(long)j * D + c] = tmp[j];
    }
}

/* gather8 from the f16 copy (gnf_grid_encode_h): the same multiplies and adds on the converted
 * values, so the same bits as gather8 on a table of those values; other counts than 2: eight
 * 16-bit loads per conversion. */
static inline __attribute__((always_inline)) void gather8_h(float *o, const uint16_t *gr, int C, int D,
                                                             const int idx[8][8], const float w[8][8], const int nc) {
    if (C == 2) {
        gather8_c2(o, gr, D, idx, w, nc, 1);
        return;
    }
    float tmp[8] __attribute__((aligned(32)));
    for (int c = 0; c < C; c++) {
        __m256 v = _mm256_setzero_ps();
        for (int k = 0; k < nc; k++) {
            const int *ik = idx[k];
            const __m128i q = _mm_setr_epi16((short)gr[ik[0] + c], (short)gr[ik[1] + c], (short)gr[ik[2] + c],
                                             (short)gr[ik[3] + c], (short)gr[ik[4] + c], (short)gr[ik[5] + c],
                                             (short)gr[ik[6] + c], (short)gr[ik[7] + c]);
            const __m256 t = _mm256_mul_ps(_mm256_load_ps(w[k]), _mm256_cvtph_ps(q));
            v = k ? _mm256_add_ps(v, t) : t;
        }
        _mm256_store_ps(tmp, v);
        for (int j = 0; j < 8; j++) o[(long)j * D + c] = tmp[j];
    }
}

/* How many groups of 8 points ahead the 3D lookup computes cells (a ring of PF_RING slots) and,
 * for level tables of at least PF_MIN_FLOATS (512 KiB, a core's L2 on the machines measured),
 * prefetches their nodes.  Measured (3D hash encode, 8 levels, 2 features, 16384 random points,
 * 1 thread, medians of 7 alternating runs): 2^18-entry tables 3.61 -> 4.75 M points/s, 2^16
 * 5.28 -> 5.49; for 2^12 (cache-resident) the prefetches cost 10%, hence the threshold. */
#define PF_AHEAD 3
#define PF_RING 4
#define PF_MIN_FLOATS (1L << 17)

/* The entries below, compiled once for each dim (2, 3) and table type (half: params is the f16
 * copy of gnf_grid_encode_h) so that the corner loops unroll. */
static inline __attribute__((always_inline)) void encode(float *feats, const struct gnf_model *m, const void *tab,
                                                          const float *x, long n, const int dim, const int half) {
    const int D = m->D, nc = 1 << dim;
    const long nb = n & ~7L;
    const float *params = tab;
    const uint16_t *params_h = tab;
    if (dim == 2) {
        /* 2D: point-major, so the rows of feats are written while in cache (the tables of 2D
         * fields are small) */
        int idx[8][8] __attribute__((aligned(32)));
        float w[8][8] __attribute__((aligned(32)));
        for (long p = 0; p < nb; p += 8) {
            __m256 pos[3];
            load8(x + dim * p, dim, pos);
            for (int l = 0; l < m->cfg.levels; l++) {
                cells8(m, l, pos, idx, w, dim);
                if (half) gather8_h(feats + p * D + m->feat_off[l], params_h + m->grid_off[l], m->cfg.feat[l], D, idx, w, nc);
                else gather8(feats + p * D + m->feat_off[l], params + m->grid_off[l], m->cfg.feat[l], D, idx, w, nc);
            }
        }
    } else {
        /* 3D: level-major, so one level's table stays in cache while all points visit it (a
         * hash level is 512 KiB at 2^16 entries; all levels together would not fit), with the
         * cells of the group PF_AHEAD ahead computed and its nodes prefetched */
        int idx[PF_RING][8][8] __attribute__((aligned(32)));
        float w[PF_RING][8][8] __attribute__((aligned(32)));
        const long ng = nb / 8;
        for (int l = 0; l < m->cfg.levels; l++) {
            const float *gr = params + m->grid_off[l];
            const uint16_t *gr_h = params_h + m->grid_off[l];
            const int pf = (long)m->level_nodes[l] * m->cfg.feat[l] * (half ? 2 : 4) >= PF_MIN_FLOATS * 4;
            for (long g = 0; g < ng + PF_AHEAD; g++) {
                if (g < ng) {   /* cells and prefetch of group g */
                    __m256 pos[3];
                    load8(x + dim * 8 * g, dim, pos);
                    cells8(m, l, pos, idx[g % PF_RING], w[g % PF_RING], dim);
                    if (pf) prefetch8(half ? (const void *)gr_h : (const void *)gr, half ? 2 : 4, idx[g % PF_RING], nc);
                }
                long h = g - PF_AHEAD;   /* lookup of group h */
                if (h >= 0 && half)
                    gather8_h(feats + 8 * h * D + m->feat_off[l], gr_h, m->cfg.feat[l], D, idx[h % PF_RING], w[h % PF_RING], nc);
                else if (h >= 0)
                    gather8(feats + 8 * h * D + m->feat_off[l], gr, m->cfg.feat[l], D, idx[h % PF_RING], w[h % PF_RING], nc);
            }
        }
    }
    if (nb < n && half) gnf_grid_encode_h_ref(feats + nb * D, m, params_h, x + dim * nb, n - nb);
    else if (nb < n) gnf_grid_encode_ref(feats + nb * D, m, params, x + dim * nb, n - nb);
}

/* Level-l gradient updates of 8 points (dfeats rows d, stride D) at their cells idx/w, points in
 * order; with mark, the touched nodes' marks first (one short dependency chain per mark). */
static inline __attribute__((always_inline)) void scatter8(float *g, const float *d, int D, int C, const int idx[8][8],
                                                            const float w[8][8], uint64_t *mark, const int nc) {
    if (mark) {
        _Pragma("GCC unroll 8")
        for (int k = 0; k < nc; k++)
            for (int j = 0; j < 8; j++) gnf_mark(mark, idx[k][j]);
    }
    if (C == 2) {   /* a node's pair in one 64-bit load and store: the same per-float updates */
        for (int j = 0; j < 8; j++) {
            const __m128 dj = load_pair(d + (long)j * D);
            _Pragma("GCC unroll 8")
            for (int k = 0; k < nc; k++) {
                float *node = g + idx[k][j];
                store_pair(node, _mm_add_ps(load_pair(node), _mm_mul_ps(_mm_set1_ps(w[k][j]), dj)));
            }
        }
        return;
    }
    for (int j = 0; j < 8; j++) {
        /* each node float still gets its corners' updates in the reference's order, also
         * when a hash maps two corners to one node */
        const float *dj = d + (long)j * D;
        float *node[8], wj[8];
        _Pragma("GCC unroll 8")
        for (int k = 0; k < nc; k++) { node[k] = g + idx[k][j]; wj[k] = w[k][j]; }
        for (int c = 0; c < C; c++) {
            _Pragma("GCC unroll 8")
            for (int k = 0; k < nc; k++) node[k][c] += wj[k] * dj[c];
        }
    }
}

static inline __attribute__((always_inline)) void scatter(float *grad, const struct gnf_model *m, int l, const float *x,
                                                           const float *dfeats, long n, uint64_t *mark, const int dim) {
    const int D = m->D, C = m->cfg.feat[l], fo = m->feat_off[l], nc = 1 << dim;
    float *g = grad + m->grid_off[l];
    const long ng = n / 8;
    if (dim == 2) {
        int idx[8][8] __attribute__((aligned(32)));
        float w[8][8] __attribute__((aligned(32)));
        for (long h = 0; h < ng; h++) {
            __m256 pos[3];
            load8(x + dim * 8 * h, dim, pos);
            cells8(m, l, pos, idx, w, dim);
            scatter8(g, dfeats + 8 * h * D + fo, D, C, idx, w, mark, nc);
        }
    } else {
        /* 3D: the cells of the group PF_AHEAD ahead computed and, for large tables, its nodes
         * prefetched for writing, as in encode */
        int idx[PF_RING][8][8] __attribute__((aligned(32)));
        float w[PF_RING][8][8] __attribute__((aligned(32)));
        const int pf = (long)m->level_nodes[l] * C >= PF_MIN_FLOATS;
        for (long gi = 0; gi < ng + PF_AHEAD; gi++) {
            if (gi < ng) {
                __m256 pos[3];
                load8(x + dim * 8 * gi, dim, pos);
                cells8(m, l, pos, idx[gi % PF_RING], w[gi % PF_RING], dim);
                if (pf)
                    _Pragma("GCC unroll 8")
                    for (int k = 0; k < nc; k++)
                        for (int j = 0; j < 8; j++) __builtin_prefetch(g + idx[gi % PF_RING][k][j], 1, 3);
            }
            long h = gi - PF_AHEAD;
            if (h >= 0) scatter8(g, dfeats + 8 * h * D + fo, D, C, idx[h % PF_RING], w[h % PF_RING], mark, nc);
        }
    }
    long p = ng * 8;
    if (p < n) gnf_grid_scatter_level_ref(grad, m, l, x + dim * p, dfeats + p * D, n - p, mark);
}

/* Entry grid_encode: feats [n][D] from x [n][in_dim]. */
void gnf_grid_encode_avx2(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
    if (m->cfg.in_dim == 2) encode(feats, m, params, x, n, 2, 0);
    else encode(feats, m, params, x, n, 3, 0);
}

/* Entry grid_encode_h: the same from the f16 copy of the grids. */
void gnf_grid_encode_h_avx2(float *feats, const struct gnf_model *m, const uint16_t *grid16, const float *x, long n) {
    if (m->cfg.in_dim == 2) encode(feats, m, grid16, x, n, 2, 1);
    else encode(feats, m, grid16, x, n, 3, 1);
}

/* Entry grid_scatter_level: grad += level l's share of dfeats [n][D], points in order; the nodes
 * touched marked in mark (may be NULL; compiled with and without the marking). */
void gnf_grid_scatter_level_avx2(float *grad, const struct gnf_model *m, int l, const float *x,
                                 const float *dfeats, long n, uint64_t *mark) {
    if (m->cfg.in_dim == 2) {
        if (mark) scatter(grad, m, l, x, dfeats, n, mark, 2);
        else scatter(grad, m, l, x, dfeats, n, NULL, 2);
    } else {
        if (mark) scatter(grad, m, l, x, dfeats, n, mark, 3);
        else scatter(grad, m, l, x, dfeats, n, NULL, 3);
    }
}
