/* adam_avx2.c — the Adam entries of the gnf_kernels_avx2 table, 8 parameters per instruction.
 * The same IEEE operations in the same order as the scalar loop in adam.c (no FMA), so both give
 * bit-identical parameters. */
#include "field/kernels.h"
#include <immintrin.h>

/* Entry adam: p, m, v, g [i0, i1), 8 at a time, the tail by the reference. */
void gnf_adam_update_avx2(float *p, float *m, float *v, const float *g, long i0, long i1, float step,
                      float b1, float b2, float eps) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), va1 = _mm256_set1_ps(1.0f - b1);
    const __m256 va2 = _mm256_set1_ps(1.0f - b2), vs = _mm256_set1_ps(step), ve = _mm256_set1_ps(eps);
    long i = i0;
    for (; i + 8 <= i1; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(va1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(va2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 upd = _mm256_div_ps(_mm256_mul_ps(vs, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), ve));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), upd));
    }
    if (i < i1) gnf_adam_update_step_ref(p, m, v, g, i, i1, step, b1, b2, eps);
}

/* Entry adam_lazy: blocks of 8 zero gradients are skipped without touching p, m, v. */
void gnf_adam_update_lazy_avx2(float *p, float *m, float *v, const float *g, long i0, long i1, float step,
                           float b1, float b2, float eps) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), va1 = _mm256_set1_ps(1.0f - b1);
    const __m256 va2 = _mm256_set1_ps(1.0f - b2), vs = _mm256_set1_ps(step), ve = _mm256_set1_ps(eps);
    const __m256 zero = _mm256_setzero_ps();
    long i = i0;
    for (; i + 8 <= i1; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 live = _mm256_cmp_ps(gi, zero, _CMP_NEQ_OQ);
        if (_mm256_movemask_ps(live) == 0) continue;
        __m256 m0 = _mm256_loadu_ps(m + i), v0 = _mm256_loadu_ps(v + i), p0 = _mm256_loadu_ps(p + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, m0), _mm256_mul_ps(va1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, v0), _mm256_mul_ps(_mm256_mul_ps(va2, gi), gi));
        __m256 upd = _mm256_div_ps(_mm256_mul_ps(vs, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), ve));
        _mm256_storeu_ps(m + i, _mm256_blendv_ps(m0, mi, live));
        _mm256_storeu_ps(v + i, _mm256_blendv_ps(v0, vi, live));
        _mm256_storeu_ps(p + i, _mm256_blendv_ps(p0, _mm256_sub_ps(p0, upd), live));
    }
    if (i < i1) gnf_adam_update_lazy_step_ref(p, m, v, g, i, i1, step, b1, b2, eps);
}

/* The feature pairs (2 floats) at offsets o[0..3] of a as one register, and back. */
static inline __m256 load_pairs(const float *a, const int32_t *o) {
    __m128 lo = _mm_loadh_pi(_mm_castpd_ps(_mm_load_sd((const double *)(a + o[0]))), (const __m64 *)(a + o[1]));
    __m128 hi = _mm_loadh_pi(_mm_castpd_ps(_mm_load_sd((const double *)(a + o[2]))), (const __m64 *)(a + o[3]));
    return _mm256_set_m128(hi, lo);
}

static inline void store_pairs(float *a, const int32_t *o, __m256 x) {
    __m128 lo = _mm256_castps256_ps128(x), hi = _mm256_extractf128_ps(x, 1);
    _mm_storel_pi((__m64 *)(a + o[0]), lo);
    _mm_storeh_pi((__m64 *)(a + o[1]), lo);
    _mm_storel_pi((__m64 *)(a + o[2]), hi);
    _mm_storeh_pi((__m64 *)(a + o[3]), hi);
}

/* Entry adam_idx: nodes of 2 features, 4 nodes (8 entries) at a time, blended like adam_lazy;
 * other C and the tail by the reference. */
void gnf_adam_idx_avx2(float *p, float *m, float *v, float *g, const int32_t *off, long n, int C, float step,
                       float b1, float b2, float eps) {
    if (C != 2) {
        gnf_adam_idx_ref(p, m, v, g, off, n, C, step, b1, b2, eps);
        return;
    }
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), va1 = _mm256_set1_ps(1.0f - b1);
    const __m256 va2 = _mm256_set1_ps(1.0f - b2), vs = _mm256_set1_ps(step), ve = _mm256_set1_ps(eps);
    const __m256 zero = _mm256_setzero_ps();
    long j = 0;
    for (; j + 4 <= n; j += 4) {
        const int32_t *o = off + j;
        if (j + 16 + 4 <= n)   /* the nodes are scattered: fetch those 4 blocks ahead now */
            for (int q = 16; q < 20; q++) {
                _mm_prefetch((const char *)(g + o[q]), _MM_HINT_T0);
                _mm_prefetch((const char *)(m + o[q]), _MM_HINT_T0);
                _mm_prefetch((const char *)(v + o[q]), _MM_HINT_T0);
                _mm_prefetch((const char *)(p + o[q]), _MM_HINT_T0);
            }
        __m256 gi = load_pairs(g, o);
        store_pairs(g, o, zero);
        __m256 live = _mm256_cmp_ps(gi, zero, _CMP_NEQ_OQ);
        if (_mm256_movemask_ps(live) == 0) continue;
        __m256 m0 = load_pairs(m, o), v0 = load_pairs(v, o), p0 = load_pairs(p, o);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, m0), _mm256_mul_ps(va1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, v0), _mm256_mul_ps(_mm256_mul_ps(va2, gi), gi));
        __m256 upd = _mm256_div_ps(_mm256_mul_ps(vs, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), ve));
        store_pairs(m, o, _mm256_blendv_ps(m0, mi, live));
        store_pairs(v, o, _mm256_blendv_ps(v0, vi, live));
        store_pairs(p, o, _mm256_blendv_ps(p0, _mm256_sub_ps(p0, upd), live));
    }
    if (j < n) gnf_adam_idx_ref(p, m, v, g, off + j, n - j, C, step, b1, b2, eps);
}
