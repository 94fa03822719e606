/* rbf_avx2.c — the RBF entries of the gnf_kernels_avx2 table (kernels.h); K % 8 == 0.
 * Compiled with -mavx2 -mfma; run only when the CPU has them.  The scalar references in rbf.c
 * define the results; tests/test_kernels.c compares the two.
 *
 * Decoder kernel shape: one point at a time, 8 neurons per register; c and beta are [D][K] so
 * a row of 8 neurons is one aligned-or-not load.  The B×K activation matrix never leaves the
 * per-point buffers q/phi (L1). */
#include "field/kernels.h"
#include "field/nerf_head.h"
#include <immintrin.h>
#include <string.h>

/* e^x for 8 lanes: gnf_fast_exp's range reduction and polynomial, but with FMAs (so results may
 * differ from gnf_fast_exp's in the last bits; tested to the same bound), 0 below -87. */
static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(GNF_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(GNF_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(GNF_LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, scale));
}

static inline __m256 rho8(__m256 q, gnf_basis basis) {
    const __m256 one = _mm256_set1_ps(1.0f);
    switch (basis) {
    case GNF_BASIS_IMQ: return _mm256_div_ps(one, _mm256_sqrt_ps(_mm256_add_ps(q, one)));
    case GNF_BASIS_MQ: return _mm256_sqrt_ps(_mm256_add_ps(q, one));
    default: return exp8(_mm256_mul_ps(q, _mm256_set1_ps(-0.5f)));
    }
}

static inline __m256 drho8(__m256 phi, gnf_basis basis) {
    const __m256 mh = _mm256_set1_ps(-0.5f);
    switch (basis) {
    case GNF_BASIS_IMQ: return _mm256_mul_ps(mh, _mm256_mul_ps(phi, _mm256_mul_ps(phi, phi)));
    case GNF_BASIS_MQ: return _mm256_div_ps(_mm256_set1_ps(0.5f), phi);
    default: return _mm256_mul_ps(mh, phi);
    }
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* q[k] for one point, k in [0,K).  K = 64 keeps all 8 accumulators in registers (8 independent
 * FMA chains hide the latency); other K go in blocks of 32. */
static inline __attribute__((always_inline)) void distances(float *q, const float *fp, const float *c, const float *beta, int D, int K) {
    int k = 0;
    if (K == 64) {
        __m256 a[8];
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) a[j] = _mm256_setzero_ps();
        for (int d = 0; d < D; d++) {
            __m256 fb = _mm256_broadcast_ss(fp + d);
            const float *cr = c + (long)d * 64, *br = beta + (long)d * 64;
            _Pragma("GCC unroll 8")
            for (int j = 0; j < 8; j++) {
                __m256 u = _mm256_sub_ps(fb, _mm256_loadu_ps(cr + 8 * j));
                a[j] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(br + 8 * j), u), u, a[j]);
            }
        }
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(q + 8 * j, a[j]);
        return;
    }
    for (; k + 32 <= K; k += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < D; d++) {
            __m256 fb = _mm256_broadcast_ss(fp + d);
            const float *cr = c + (long)d * K + k, *br = beta + (long)d * K + k;
            __m256 u0 = _mm256_sub_ps(fb, _mm256_loadu_ps(cr));
            __m256 u1 = _mm256_sub_ps(fb, _mm256_loadu_ps(cr + 8));
            __m256 u2 = _mm256_sub_ps(fb, _mm256_loadu_ps(cr + 16));
            __m256 u3 = _mm256_sub_ps(fb, _mm256_loadu_ps(cr + 24));
            a0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(br), u0), u0, a0);
            a1 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(br + 8), u1), u1, a1);
            a2 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(br + 16), u2), u2, a2);
            a3 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(br + 24), u3), u3, a3);
        }
        _mm256_storeu_ps(q + k, a0);
        _mm256_storeu_ps(q + k + 8, a1);
        _mm256_storeu_ps(q + k + 16, a2);
        _mm256_storeu_ps(q + k + 24, a3);
    }
    for (; k < K; k += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int d = 0; d < D; d++) {
            __m256 fb = _mm256_broadcast_ss(fp + d);
            __m256 u0 = _mm256_sub_ps(fb, _mm256_loadu_ps(c + (long)d * K + k));
            a0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(beta + (long)d * K + k), u0), u0, a0);
        }
        _mm256_storeu_ps(q + k, a0);
    }
}

/* Wide heads (radiance fields: O = 49): the head transposed to Wt [K][Opad] (Opad = O rounded
 * up to 8) so each output block of 8 is K broadcast-FMAs, with no horizontal sums. */
#define WIDE_HEAD_FLOATS 8192
static void forward_wide_head(float *y, const float *f, const float *c, const float *beta, const float *W,
                              const float *w0, long n, int D, int K, int O, gnf_basis basis) {
    float q[4096] __attribute__((aligned(32)));
    float Wt[WIDE_HEAD_FLOATS] __attribute__((aligned(32)));
    float b0[64] __attribute__((aligned(32)));
    const int Op = (O + 7) & ~7, nb = Op / 8;
    for (int k = 0; k < K; k++)
        for (int o = 0; o < Op; o++) Wt[k * Op + o] = o < O ? W[(long)o * K + k] : 0.0f;
    for (int o = 0; o < Op; o++) b0[o] = o < O ? w0[o] : 0.0f;
    for (long p = 0; p < n; p++) {
        distances(q, f + p * D, c, beta, D, K);
        for (int k = 0; k < K; k += 8) _mm256_storeu_ps(q + k, rho8(_mm256_loadu_ps(q + k), basis));
        float out[64] __attribute__((aligned(32)));
        for (int b = 0; b < nb; b++) {
            __m256 acc = _mm256_load_ps(b0 + 8 * b);
            for (int k = 0; k < K; k++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(q + k), _mm256_load_ps(Wt + k * Op + 8 * b), acc);
            _mm256_store_ps(out + 8 * b, acc);
        }
        memcpy(y + p * O, out, sizeof(float) * (size_t)O);
    }
}

/* Entry rbf_forward (kernels.h), K % 8 == 0: the wide head for 16 <= O <= 64, else one
 * horizontal sum per output. */
void gnf_rbf_forward_avx2(float *y, const float *f, const float *c, const float *beta, const float *W,
                      const float *w0, long n, int D, int K, int O, gnf_basis basis) {
    if (O >= 16 && O <= 64 && (long)K * ((O + 7) & ~7) <= WIDE_HEAD_FLOATS) {
        forward_wide_head(y, f, c, beta, W, w0, n, D, K, O, basis);
        return;
    }
    float q[4096] __attribute__((aligned(32)));
    for (long p = 0; p < n; p++) {
        distances(q, f + p * D, c, beta, D, K);
        for (int k = 0; k < K; k += 8) _mm256_storeu_ps(q + k, rho8(_mm256_loadu_ps(q + k), basis));
        for (int o = 0; o < O; o++) {
            __m256 acc = _mm256_setzero_ps();
            for (int k = 0; k < K; k += 8)
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(W + (long)o * K + k), _mm256_loadu_ps(q + k), acc);
            y[p * O + o] = w0[o] + hsum8(acc);
        }
    }
}

/* q[k] through the expansion q_k = sum_d f_d (beta_dk f_d - 2 beta_dk c_dk) + sum_d beta_dk c_dk^2:
 * two FMAs per (feature, neuron) instead of sub+mul+FMA.  bc2 = 2 beta c [D][K] and
 * cst = sum_d beta c^2 [K] are precomputed per call.  Absolute error in q is about
 * 1e-7 * sum_d beta_dk (|f_d| + |c_dk|)^2, far below what moves phi for trained fields
 * (beta ~ 1, |f|, |c| ~ 1); q is clamped at 0 so rounding never makes phi exceed rho(0). */
static inline __attribute__((always_inline)) void distances_expanded(float *q, const float *fp, const float *bc2,
                                                                     const float *beta, const float *cst, int D, int K) {
    const __m256 zero = _mm256_setzero_ps();
    int k = 0;
    for (; k + 64 <= K; k += 64) {
        __m256 a[8];
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(cst + k + 8 * j);
        for (int d = 0; d < D; d++) {
            __m256 fb = _mm256_broadcast_ss(fp + d);
            const float *cr = bc2 + (long)d * K + k, *br = beta + (long)d * K + k;
            _Pragma("GCC unroll 8")
            for (int j = 0; j < 8; j++)
                a[j] = _mm256_fmadd_ps(fb, _mm256_fmsub_ps(_mm256_loadu_ps(br + 8 * j), fb, _mm256_loadu_ps(cr + 8 * j)), a[j]);
        }
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(q + k + 8 * j, _mm256_max_ps(a[j], zero));
    }
    for (; k < K; k += 8) {
        __m256 a0 = _mm256_loadu_ps(cst + k);
        for (int d = 0; d < D; d++) {
            __m256 fb = _mm256_broadcast_ss(fp + d);
            a0 = _mm256_fmadd_ps(fb, _mm256_fmsub_ps(_mm256_loadu_ps(beta + (long)d * K + k), fb, _mm256_loadu_ps(bc2 + (long)d * K + k)), a0);
        }
        _mm256_storeu_ps(q + k, _mm256_max_ps(a0, zero));
    }
}

/* Sums of 8 vectors at once: lane i of the result is the sum of v[i]'s lanes (7 hadds and a
 * lane swap instead of 8 separate horizontal sums). */
static inline __m256 hsum8x8(const __m256 *v) {
    __m256 a = _mm256_hadd_ps(v[0], v[1]), b = _mm256_hadd_ps(v[2], v[3]);
    __m256 c = _mm256_hadd_ps(v[4], v[5]), d = _mm256_hadd_ps(v[6], v[7]);
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    /* ab = [v0..v3 low-half sums | v0..v3 high-half sums], cd likewise for v4..v7 */
    return _mm256_add_ps(_mm256_permute2f128_ps(ab, cd, 0x20), _mm256_permute2f128_ps(ab, cd, 0x31));
}

/* Forward, loss and head gradients for one point; leaves s_k = rho'(q_k) dL/dphi_k in s. */
static inline __attribute__((always_inline)) void point_forward(float *s, float *phi, double *lsum, double *sq, rbf_grads g, const float *fp,
                                 const float *tp, const float *bc2, const float *cst, const float *beta, const float *W,
                                 const float *w0, int D, int K, int O, gnf_basis basis, gnf_loss loss,
                                 float scale) {
    float gy[64];
    distances_expanded(phi, fp, bc2, beta, cst, D, K);
    for (int k = 0; k < K; k += 8) _mm256_storeu_ps(phi + k, rho8(_mm256_loadu_ps(phi + k), basis));
    for (int o = 0; o < O; o++) {
        float gg;
        if (loss == GNF_LOSS_GIVEN) {
            gg = tp[o] * scale;   /* dL/dy given: the head's forward is not needed */
        } else {
            __m256 acc = _mm256_setzero_ps();
            const float *Wo = W + (long)o * K;
            for (int k = 0; k < K; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(Wo + k), _mm256_loadu_ps(phi + k), acc);
            gg = gnf_loss_grad(w0[o] + hsum8(acc) - tp[o], loss, scale, lsum, sq);
        }
        gy[o] = gg;
        g.dw0[o] += gg;
        __m256 gb = _mm256_set1_ps(gg);
        float *dWo = g.dW + (long)o * K;
        for (int k = 0; k < K; k += 8)
            _mm256_storeu_ps(dWo + k, _mm256_fmadd_ps(gb, _mm256_loadu_ps(phi + k), _mm256_loadu_ps(dWo + k)));
    }
    for (int k = 0; k < K; k += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int o = 0; o < O; o++) a = _mm256_fmadd_ps(_mm256_set1_ps(gy[o]), _mm256_loadu_ps(W + (long)o * K + k), a);
        _mm256_storeu_ps(s + k, _mm256_mul_ps(drho8(_mm256_loadu_ps(phi + k), basis), a));
    }
}

/* q for two points at once (a, b): each row of beta and 2 beta c loaded once for both, 4 + 4
 * accumulators per block of 32 neurons.  Per neuron the same operations in the same order as
 * distances_expanded, so the results are identical. */
static inline __attribute__((always_inline)) void distances_expanded2(float *qa, float *qb, const float *fa, const float *fb,
                                                                      const float *bc2, const float *beta, const float *cst,
                                                                      int D, int K) {
    const __m256 zero = _mm256_setzero_ps();
    int k = 0;
    for (; k + 32 <= K; k += 32) {
        __m256 a[4], b[4];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++) a[j] = b[j] = _mm256_loadu_ps(cst + k + 8 * j);
        for (int d = 0; d < D; d++) {
            __m256 xa = _mm256_broadcast_ss(fa + d), xb = _mm256_broadcast_ss(fb + d);
            const float *cr = bc2 + (long)d * K + k, *br = beta + (long)d * K + k;
            _Pragma("GCC unroll 4")
            for (int j = 0; j < 4; j++) {
                __m256 bt = _mm256_loadu_ps(br + 8 * j), cc = _mm256_loadu_ps(cr + 8 * j);
                a[j] = _mm256_fmadd_ps(xa, _mm256_fmsub_ps(bt, xa, cc), a[j]);
                b[j] = _mm256_fmadd_ps(xb, _mm256_fmsub_ps(bt, xb, cc), b[j]);
            }
        }
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++) {
            _mm256_storeu_ps(qa + k + 8 * j, _mm256_max_ps(a[j], zero));
            _mm256_storeu_ps(qb + k + 8 * j, _mm256_max_ps(b[j], zero));
        }
    }
    for (; k < K; k += 8) {
        __m256 a0 = _mm256_loadu_ps(cst + k), b0 = a0;
        for (int d = 0; d < D; d++) {
            __m256 xa = _mm256_broadcast_ss(fa + d), xb = _mm256_broadcast_ss(fb + d);
            __m256 bt = _mm256_loadu_ps(beta + (long)d * K + k), cc = _mm256_loadu_ps(bc2 + (long)d * K + k);
            a0 = _mm256_fmadd_ps(xa, _mm256_fmsub_ps(bt, xa, cc), a0);
            b0 = _mm256_fmadd_ps(xb, _mm256_fmsub_ps(bt, xb, cc), b0);
        }
        _mm256_storeu_ps(qa + k, _mm256_max_ps(a0, zero));
        _mm256_storeu_ps(qb + k, _mm256_max_ps(b0, zero));
    }
}

/* point_forward for a tile of 4 points (f, t [4][..], wt4 their loss scales), stage by stage so
 * that the four points' independent dependency chains (distances, exp, head sums, loss) overlap
 * instead of running one after another; leaves s [4][K] in st.  Every point's arithmetic and
 * every accumulation (dW, dw0, lsum, sq) keeps point_forward's order, so the results are
 * identical to four point_forward calls.  phi4 holds 4 K floats. */
static inline __attribute__((always_inline)) void tile_forward4(float *st, float *phi4, double *lsum, double *sq, rbf_grads g,
                                                                const float *f, const float *t, const float *bc2,
                                                                const float *cst, const float *beta, const float *W,
                                                                const float *w0, int D, int K, int O, gnf_basis basis,
                                                                gnf_loss loss, const float *scale4) {
    float *ph[4] = {phi4, phi4 + K, phi4 + 2L * K, phi4 + 3L * K};
    float gy[4][64];
    distances_expanded2(ph[0], ph[1], f, f + D, bc2, beta, cst, D, K);
    distances_expanded2(ph[2], ph[3], f + 2L * D, f + 3L * D, bc2, beta, cst, D, K);
    for (long i = 0; i < 4L * K; i += 8) _mm256_storeu_ps(phi4 + i, rho8(_mm256_loadu_ps(phi4 + i), basis));
    if (loss == GNF_LOSS_GIVEN) {
        for (int p = 0; p < 4; p++)
            for (int o = 0; o < O; o++) gy[p][o] = t[(long)p * O + o] * scale4[p];
    } else {
        float y[4][64];
        for (int o = 0; o < O; o++) {
            const float *Wo = W + (long)o * K;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int k = 0; k < K; k += 8) {
                __m256 wv = _mm256_loadu_ps(Wo + k);
                a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(ph[0] + k), a0);
                a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(ph[1] + k), a1);
                a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(ph[2] + k), a2);
                a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(ph[3] + k), a3);
            }
            y[0][o] = w0[o] + hsum8(a0);
            y[1][o] = w0[o] + hsum8(a1);
            y[2][o] = w0[o] + hsum8(a2);
            y[3][o] = w0[o] + hsum8(a3);
        }
        for (int p = 0; p < 4; p++)
            for (int o = 0; o < O; o++) gy[p][o] = gnf_loss_grad(y[p][o] - t[(long)p * O + o], loss, scale4[p], lsum, sq);
    }
    for (int o = 0; o < O; o++) {
        g.dw0[o] += gy[0][o];
        g.dw0[o] += gy[1][o];
        g.dw0[o] += gy[2][o];
        g.dw0[o] += gy[3][o];
        const __m256 g0 = _mm256_set1_ps(gy[0][o]), g1 = _mm256_set1_ps(gy[1][o]);
        const __m256 g2 = _mm256_set1_ps(gy[2][o]), g3 = _mm256_set1_ps(gy[3][o]);
        float *dWo = g.dW + (long)o * K;
        for (int k = 0; k < K; k += 8) {
            __m256 a = _mm256_fmadd_ps(g0, _mm256_loadu_ps(ph[0] + k), _mm256_loadu_ps(dWo + k));
            a = _mm256_fmadd_ps(g1, _mm256_loadu_ps(ph[1] + k), a);
            a = _mm256_fmadd_ps(g2, _mm256_loadu_ps(ph[2] + k), a);
            _mm256_storeu_ps(dWo + k, _mm256_fmadd_ps(g3, _mm256_loadu_ps(ph[3] + k), a));
        }
    }
    for (int k = 0; k < K; k += 8) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int o = 0; o < O; o++) {
            __m256 wv = _mm256_loadu_ps(W + (long)o * K + k);
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(gy[0][o]), wv, a0);
            a1 = _mm256_fmadd_ps(_mm256_set1_ps(gy[1][o]), wv, a1);
            a2 = _mm256_fmadd_ps(_mm256_set1_ps(gy[2][o]), wv, a2);
            a3 = _mm256_fmadd_ps(_mm256_set1_ps(gy[3][o]), wv, a3);
        }
        _mm256_storeu_ps(st + k, _mm256_mul_ps(drho8(_mm256_loadu_ps(ph[0] + k), basis), a0));
        _mm256_storeu_ps(st + K + k, _mm256_mul_ps(drho8(_mm256_loadu_ps(ph[1] + k), basis), a1));
        _mm256_storeu_ps(st + 2L * K + k, _mm256_mul_ps(drho8(_mm256_loadu_ps(ph[2] + k), basis), a2));
        _mm256_storeu_ps(st + 3L * K + k, _mm256_mul_ps(drho8(_mm256_loadu_ps(ph[3] + k), basis), a3));
    }
}

/* Backward through the distances for one point (the tiles of 4 go to tile_backward4).
 * The per-point sums over the batch become sums of s·f and s·f² (SF, SFF, accumulated in work
 * across the whole call), and dL/df_d = 2 (f_d sum_k s_k beta_dk - sum_k s_k beta_dk c_dk):
 * four FMAs per (feature, neuron). */
static inline __attribute__((always_inline)) void point_backward(
    float *df, float *SF, float *SFF, const float *s, const float *f, const float *c, const float *beta,
    int D, int K) {
    for (int d = 0; d < D; d++) {
        __m256 A = _mm256_setzero_ps(), B = _mm256_setzero_ps();
        const float fd = f[d], f2 = fd * fd;
        for (int k = 0; k < K; k += 8) {
            long o = (long)d * K + k;
            __m256 bt = _mm256_loadu_ps(beta + o);
            __m256 bc = _mm256_mul_ps(bt, _mm256_loadu_ps(c + o));
            __m256 sk = _mm256_loadu_ps(s + k);
            _mm256_storeu_ps(SF + o, _mm256_fmadd_ps(sk, _mm256_set1_ps(fd), _mm256_loadu_ps(SF + o)));
            _mm256_storeu_ps(SFF + o, _mm256_fmadd_ps(sk, _mm256_set1_ps(f2), _mm256_loadu_ps(SFF + o)));
            A = _mm256_fmadd_ps(sk, bt, A);
            B = _mm256_fmadd_ps(sk, bc, B);
        }
        df[d] = 2.0f * hsum8(_mm256_fmsub_ps(_mm256_set1_ps(fd), A, B));   /* 2 sum_k (f s beta - s beta c) */
    }
}

/* The backward of a 4-point tile in two passes per feature d, so each keeps its operands in
 * registers and its dependency chains short: (1) SF, SFF += s f, s f^2 with the four points'
 * f and f^2 in registers, each sum split in two chains (points 0, 2 and 1, 3) joined by one add;
 * (2) A_p = sum_k s_pk beta_dk, B2_p = sum_k s_pk 2 beta_dk c_dk, 8 independent chains.  Then
 * dL/df_pd = 2 (f_pd A_p - B2_p / 2) (B2 / 2 = B exactly).  The single-pass version ran ~20%
 * slower: its sums over the 4 points were one 16-cycle chain per 8 neurons (measured). */
static inline __attribute__((always_inline)) void tile_backward4(
    float *df, float *SF, float *SFF, const float *st, const float *f, const float *bc2, const float *beta,
    int D, int K) {
    __m256 V[8];
    const __m256 half = _mm256_set1_ps(0.5f);
    const float *s0p = st, *s1p = st + K, *s2p = st + 2L * K, *s3p = st + 3L * K;
    for (int d = 0; d < D; d++) {
        const __m256 f0 = _mm256_broadcast_ss(f + d), f1 = _mm256_broadcast_ss(f + D + d);
        const __m256 f2 = _mm256_broadcast_ss(f + 2L * D + d), f3 = _mm256_broadcast_ss(f + 3L * D + d);
        const __m256 q0 = _mm256_mul_ps(f0, f0), q1 = _mm256_mul_ps(f1, f1);
        const __m256 q2 = _mm256_mul_ps(f2, f2), q3 = _mm256_mul_ps(f3, f3);
        float *sfr = SF + (long)d * K, *sffr = SFF + (long)d * K;
        for (int k = 0; k < K; k += 8) {
            __m256 s0 = _mm256_loadu_ps(s0p + k), s1 = _mm256_loadu_ps(s1p + k);
            __m256 s2 = _mm256_loadu_ps(s2p + k), s3 = _mm256_loadu_ps(s3p + k);
            __m256 sf = _mm256_fmadd_ps(s2, f2, _mm256_fmadd_ps(s0, f0, _mm256_loadu_ps(sfr + k)));
            __m256 sff = _mm256_fmadd_ps(s2, q2, _mm256_fmadd_ps(s0, q0, _mm256_loadu_ps(sffr + k)));
            __m256 sfb = _mm256_fmadd_ps(s3, f3, _mm256_mul_ps(s1, f1));
            __m256 sffb = _mm256_fmadd_ps(s3, q3, _mm256_mul_ps(s1, q1));
            _mm256_storeu_ps(sfr + k, _mm256_add_ps(sf, sfb));
            _mm256_storeu_ps(sffr + k, _mm256_add_ps(sff, sffb));
        }
        __m256 A0 = _mm256_setzero_ps(), A1 = A0, A2 = A0, A3 = A0, B0 = A0, B1 = A0, B2 = A0, B3 = A0;
        const float *btr = beta + (long)d * K, *bcr = bc2 + (long)d * K;
        for (int k = 0; k < K; k += 8) {
            __m256 bt = _mm256_loadu_ps(btr + k), bc = _mm256_loadu_ps(bcr + k);
            __m256 s0 = _mm256_loadu_ps(s0p + k), s1 = _mm256_loadu_ps(s1p + k);
            __m256 s2 = _mm256_loadu_ps(s2p + k), s3 = _mm256_loadu_ps(s3p + k);
            A0 = _mm256_fmadd_ps(s0, bt, A0); B0 = _mm256_fmadd_ps(s0, bc, B0);
            A1 = _mm256_fmadd_ps(s1, bt, A1); B1 = _mm256_fmadd_ps(s1, bc, B1);
            A2 = _mm256_fmadd_ps(s2, bt, A2); B2 = _mm256_fmadd_ps(s2, bc, B2);
            A3 = _mm256_fmadd_ps(s3, bt, A3); B3 = _mm256_fmadd_ps(s3, bc, B3);
        }
        __m256 *W = V + (d & 1) * 4;
        W[0] = _mm256_fmsub_ps(f0, A0, _mm256_mul_ps(half, B0));
        W[1] = _mm256_fmsub_ps(f1, A1, _mm256_mul_ps(half, B1));
        W[2] = _mm256_fmsub_ps(f2, A2, _mm256_mul_ps(half, B2));
        W[3] = _mm256_fmsub_ps(f3, A3, _mm256_mul_ps(half, B3));
        if (d & 1) {
            float r[8] __attribute__((aligned(32)));
            _mm256_store_ps(r, _mm256_mul_ps(_mm256_set1_ps(2.0f), hsum8x8(V)));
            for (int p = 0; p < 4; p++) { df[(long)p * D + d - 1] = r[p]; df[(long)p * D + d] = r[4 + p]; }
        } else if (d == D - 1) {
            for (int p = 0; p < 4; p++) df[(long)p * D + d] = 2.0f * hsum8(V[p]);
        }
    }
}

/* Entry rbf_train (kernels.h), K % 8 == 0: per tile of 4 points the forward, loss and head
 * gradients (tile_forward4; point_forward for K > 1024) and the backward through the distances
 * (tile_backward4); a last point short of a tile: point_forward and point_backward. */
double gnf_rbf_train_avx2(float *df, rbf_grads g, const float *f, const float *t, const float *wt, const float *c,
                      const float *beta, const float *W, const float *w0, long n, int D, int K,
                      int O, gnf_basis basis, gnf_loss loss, float scale, double *sq_err) {
    /* work: SF [D][K], SFF [D][K], S [K], s of a 4-point tile [4][K], 2 beta c [D][K], cst [K] */
    float *SF = g.work, *SFF = SF + (long)D * K, *S = SFF + (long)D * K, *st = S + K;
    float *bc2 = st + 4L * K, *cst = bc2 + (long)D * K;
    float phi[4096] __attribute__((aligned(32)));
    memset(g.work, 0, sizeof(float) * (size_t)(2L * D * K + K));
    memset(cst, 0, sizeof(float) * (size_t)K);
    for (int d = 0; d < D; d++)
        for (int k = 0; k < K; k++) {
            float bc = beta[(long)d * K + k] * c[(long)d * K + k];
            bc2[(long)d * K + k] = 2.0f * bc;
            cst[k] += bc * c[(long)d * K + k];
        }
    double lsum = 0, sq = 0;
    long p = 0;
    for (; p < n; p += 4) {
        int P = n - p >= 4 ? 4 : 1;
        if (P == 4 && K <= 1024) {
            float sc4[4];
            for (int j = 0; j < 4; j++) sc4[j] = wt ? scale * wt[p + j] : scale;
            tile_forward4(st, phi, &lsum, &sq, g, f + p * D, t + p * O, bc2, cst, beta, W, w0, D, K, O, basis, loss, sc4);
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < K; k += 8)
                    _mm256_storeu_ps(S + k, _mm256_add_ps(_mm256_loadu_ps(S + k), _mm256_loadu_ps(st + (long)j * K + k)));
        } else
        for (int j = 0; j < P; j++) {
            float *sj = st + (long)j * K;
            point_forward(sj, phi, &lsum, &sq, g, f + (p + j) * D, t + (p + j) * O, bc2, cst, beta, W, w0, D, K, O, basis, loss,
                          wt ? scale * wt[p + j] : scale);
            for (int k = 0; k < K; k += 8) _mm256_storeu_ps(S + k, _mm256_add_ps(_mm256_loadu_ps(S + k), _mm256_loadu_ps(sj + k)));
        }
        if (P == 4) tile_backward4(df + p * D, SF, SFF, st, f + p * D, bc2, beta, D, K);
        else { point_backward(df + p * D, SF, SFF, st, f + p * D, c, beta, D, K); p -= 3; }
    }
    /* dc = -2 beta (SF - c S),  db = beta (SFF - 2 c SF + c^2 S) */
    for (int d = 0; d < D; d++) {
        for (int k = 0; k < K; k += 8) {
            long o = (long)d * K + k;
            __m256 bt = _mm256_loadu_ps(beta + o), cc = _mm256_loadu_ps(c + o), Sk = _mm256_loadu_ps(S + k);
            __m256 sf = _mm256_loadu_ps(SF + o), sff = _mm256_loadu_ps(SFF + o);
            __m256 lin = _mm256_fnmadd_ps(cc, Sk, sf);                                   /* SF - c S */
            __m256 quad = _mm256_fmadd_ps(cc, _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), sf, _mm256_mul_ps(cc, Sk)), sff);
            _mm256_storeu_ps(g.dc + o, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), bt), lin, _mm256_loadu_ps(g.dc + o)));
            _mm256_storeu_ps(g.db + o, _mm256_fmadd_ps(bt, quad, _mm256_loadu_ps(g.db + o)));
        }
    }
    *sq_err += sq;
    return lsum;
}


/* Entry rbf_phi (kernels.h), K % 8 == 0: two points at a time through distances_expanded2 (each
 * row of beta and 2 beta c loaded once for both), a last odd point through distances_expanded
 * (identical per neuron), then rho and the row-0 dot product per point. */
void gnf_rbf_phi_avx2(float *phi, float *y0, const float *f, const float *c, const float *beta, const float *bc2,
                      const float *cst, const float *W0, float w00, long n, int D, int K, gnf_basis basis) {
    (void)c;
    for (long p = 0; p < n; p += 2) {
        float *pa = phi + p * K, *pb = pa + K;
        if (p + 1 < n) distances_expanded2(pa, pb, f + p * D, f + (p + 1) * D, bc2, beta, cst, D, K);
        else distances_expanded(pa, f + p * D, bc2, beta, cst, D, K);
        const int np = p + 1 < n ? 2 : 1;
        for (int j = 0; j < np; j++) {
            float *ph = pa + (long)j * K;
            __m256 acc = _mm256_setzero_ps();
            for (int k = 0; k < K; k += 8) {
                __m256 v = rho8(_mm256_loadu_ps(ph + k), basis);
                _mm256_storeu_ps(ph + k, v);
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(W0 + k), v, acc);
            }
            y0[p + j] = w00 + hsum8(acc);
        }
    }
}

/* Entry sh_matrix (kernels.h), K % 8 == 0: M_c += Y_j W_(1+16c+j) over j, 8 neurons a register. */
void gnf_nerf_sh_matrix_avx2(float *M, float b[3], const float *W, const float *w0, int K, const float Y16[16]) {
    const __m256 ylo = _mm256_loadu_ps(Y16), yhi = _mm256_loadu_ps(Y16 + 8);
    for (int c = 0; c < 3; c++) {
        const float *Wc = W + (long)(1 + NERF_SH * c) * K;
        float *Mc = M + (long)c * K;
        for (int k = 0; k < K; k += 8) {
            __m256 a0 = _mm256_mul_ps(_mm256_set1_ps(Y16[0]), _mm256_loadu_ps(Wc + k));
            __m256 a1 = _mm256_mul_ps(_mm256_set1_ps(Y16[1]), _mm256_loadu_ps(Wc + K + k));
            for (int j = 2; j < NERF_SH; j += 2) {
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(Y16[j]), _mm256_loadu_ps(Wc + (long)j * K + k), a0);
                a1 = _mm256_fmadd_ps(_mm256_set1_ps(Y16[j + 1]), _mm256_loadu_ps(Wc + (long)(j + 1) * K + k), a1);
            }
            _mm256_storeu_ps(Mc + k, _mm256_add_ps(a0, a1));
        }
        const float *bc = w0 + 1 + NERF_SH * c;
        b[c] = hsum8(_mm256_fmadd_ps(ylo, _mm256_loadu_ps(bc), _mm256_mul_ps(yhi, _mm256_loadu_ps(bc + 8))));
    }
}

/* 1/(1+e^-v) for 8 lanes as the scalar sigmoid computes it: (v >= 0 ? 1 : e)/(1 + e), e = e^-|v|. */
static inline __m256 sigmoid8(__m256 v) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = exp8(_mm256_or_ps(v, _mm256_set1_ps(-0.0f)));   /* -|v| */
    return _mm256_div_ps(_mm256_blendv_ps(one, e, v), _mm256_add_ps(one, e));
}

/* Entry colour_phi (kernels.h), K % 8 == 0: z = b + M phi per sample (three dot products over
 * registers of 8 neurons), written where the colours go, then the sigmoid over 8 values at a
 * time (the last block padded, so a value does not depend on its position). */
void gnf_nerf_colour_phi_avx2(float *rgb, const float *M, const float b[3], const float *phi, const int *idx, long n, int K) {
    for (long s = 0; s < n; s++) {
        const float *ph = phi + (long)idx[s] * K;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0;
        for (int k = 0; k < K; k += 8) {
            __m256 v = _mm256_loadu_ps(ph + k);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(M + k), v, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(M + K + k), v, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(M + 2L * K + k), v, a2);
        }
        rgb[3 * s] = b[0] + hsum8(a0);
        rgb[3 * s + 1] = b[1] + hsum8(a1);
        rgb[3 * s + 2] = b[2] + hsum8(a2);
    }
    long m = 3 * n, i = 0;
    for (; i + 8 <= m; i += 8) _mm256_storeu_ps(rgb + i, sigmoid8(_mm256_loadu_ps(rgb + i)));
    if (i < m) {
        float t[8] __attribute__((aligned(32))) = {0};
        memcpy(t, rgb + i, sizeof(float) * (size_t)(m - i));
        _mm256_store_ps(t, sigmoid8(_mm256_load_ps(t)));
        memcpy(rgb + i, t, sizeof(float) * (size_t)(m - i));
    }
}
