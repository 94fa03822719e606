/* nerf_head.c — radiance-field output head (density, SH colour) and per-ray volume rendering,
 * forward and backward.  The math and the gradients are in docs/MODEL.md "Radiance fields".
 *
 * A ray is processed in blocks of BLK samples.  The pointwise part of a block (density and its
 * derivative, alpha, the three colour sigmoids: five exps and one log1p per sample) is written
 * as straight-line code over the block's lanes, which the compiler vectorises; the transmittance
 * scan that follows is serial and cheap.  Up to BLK-1 samples past the termination point are
 * evaluated and discarded.  Every exp has a non-positive argument (gnf_fast_exp, field.h).  The
 * backward pass walks the composited samples in reverse and keeps the suffix sum R_k of what lies
 * behind sample k: O(n), no cancellation against the total. */
#include "field/nerf_head.h"
#include "field/field.h"
#include "field/kernels.h"
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* PlenOctrees/svox2 real SH constants. */
#define SH_C0 0.28209479177387814f
#define SH_C1 0.4886025119029199f
static const float SH_C2[5] = {1.0925484305920792f, -1.0925484305920792f, 0.31539156525252005f,
                               -1.0925484305920792f, 0.5462742152960396f};
static const float SH_C3[7] = {-0.5900435899266435f, 2.890611442640554f, -0.4570457994644658f,
                               0.3731763325901154f, -0.4570457994644658f, 1.445305721320277f,
                               -0.5900435899266435f};

void gnf_nerf_sh16(float Y[16], const float d[3]) {
    float x = d[0], y = d[1], z = d[2];
    float xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
    Y[0] = SH_C0;
    Y[1] = -SH_C1 * y;
    Y[2] = SH_C1 * z;
    Y[3] = -SH_C1 * x;
    Y[4] = SH_C2[0] * xy;
    Y[5] = SH_C2[1] * yz;
    Y[6] = SH_C2[2] * (2.0f * zz - xx - yy);
    Y[7] = SH_C2[3] * xz;
    Y[8] = SH_C2[4] * (xx - yy);
    Y[9] = SH_C3[0] * y * (3.0f * xx - yy);
    Y[10] = SH_C3[1] * xy * z;
    Y[11] = SH_C3[2] * y * (4.0f * zz - xx - yy);
    Y[12] = SH_C3[3] * z * (2.0f * zz - 3.0f * xx - 3.0f * yy);
    Y[13] = SH_C3[4] * x * (4.0f * zz - xx - yy);
    Y[14] = SH_C3[5] * z * (xx - yy);
    Y[15] = SH_C3[6] * x * (xx - 3.0f * yy);
}

/* The pointwise helpers below select with integer masks, never with float comparisons: GCC
 * turns a float-compare select into branches (a comparison may trap under the default
 * -ftrapping-math), and branches stop the vectoriser. */
/* All ones where v's sign bit is set (v < 0, -0, negative NaN), else 0. */
static inline uint32_t neg_mask(float v) { return 0u - (gnf_f2u(v) >> 31); }
/* mask ? a : b, bitwise. */
static inline float select_f(uint32_t mask, float a, float b) {
    return gnf_u2f((gnf_f2u(a) & mask) | (gnf_f2u(b) & ~mask));
}

/* log(1 + e) for e in [0, 1]: 2 atanh(s), s = e/(2+e) in [0, 1/3], odd series to s^13
 * (truncation < 1e-8 absolute; relative accuracy kept as e -> 0). */
static inline float log1p01(float e) {
    float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

/* 1/(1+e^-v) as (v >= 0 ? 1 : e)/(1 + e) with e = e^-|v|: no overflow for any v. */
static inline float sigmoid(float v) {
    float e = gnf_fast_exp(-fabsf(v));
    return select_f(neg_mask(v), e, 1.0f) / (1.0f + e);
}

/* softplus(v) = max(v, 0) + log1p(e^-|v|), and *sig = sigmoid(v), from one exp. */
static inline float softplus_sig(float v, float *sig) {
    float e = gnf_fast_exp(-fabsf(v));
    *sig = select_f(neg_mask(v), e, 1.0f) / (1.0f + e);
    return select_f(neg_mask(v), 0.0f, v) + log1p01(e);
}

float gnf_nerf_density(float y0) {
    float s;
    return softplus_sig(y0 + NERF_DENSITY_SHIFT, &s);
}

void gnf_nerf_density_n(float *sigma, const float *y0, long n) {
    for (long i = 0; i < n; i++) {
        float s;
        sigma[i] = softplus_sig(y0[i] + NERF_DENSITY_SHIFT, &s);
    }
}

float gnf_nerf_density_grad(float y0) { return sigmoid(y0 + NERF_DENSITY_SHIFT); }

/* alpha = 1 - e^-x for an optical thickness x >= 0, and *keep = e^-x.  Below x = 0.05 the
 * series x(1 - x/2(1 - x/3(1 - x/4))) (relative error < x^4/120 <= 5e-8) replaces 1 - e^-x,
 * whose absolute rounding error (~6e-8) would swamp the small alphas of near-empty space.
 * (x < 0.05 is compared on the bits: for x >= +0 they order like the values.) */
static inline float alpha_keep(float x, float *keep) {
    float e = gnf_fast_exp(-x);
    *keep = e;
    float a = x * (1.0f - 0.5f * x * (1.0f - (1.0f / 3) * x * (1.0f - 0.25f * x)));
    uint32_t small = 0u - (uint32_t)(gnf_f2u(x) < gnf_f2u(0.05f));
    return select_f(small, a, 1.0f - e);
}

/* z_c = sum_j Y_j y[1 + 16c + j], c = 0..2; four partial sums per channel (one SIMD register). */
static inline void sh_dot3(float z[3], const float *y, const float *Y16) {
    for (int c = 0; c < 3; c++) {
        const float *yc = y + 1 + NERF_SH * c;
        float a[4] = {0, 0, 0, 0};
        for (int j = 0; j < NERF_SH; j += 4)
            for (int k = 0; k < 4; k++) a[k] += Y16[j + k] * yc[j + k];
        z[c] = (a[0] + a[2]) + (a[1] + a[3]);
    }
}

void gnf_nerf_sh_colour(float rgb[3], const float *y, const float Y16[16]) {
    float z[3];
    sh_dot3(z, y, Y16);
    for (int c = 0; c < 3; c++) rgb[c] = sigmoid(z[c]);
}

/* Entry sh_matrix of the scalar kernel table.  Shapes: M [3][K], W [NERF_OUT][K], w0 [NERF_OUT]. */
void gnf_nerf_sh_matrix_ref(float *M, float b[3], const float *W, const float *w0, int K, const float Y16[16]) {
    for (int c = 0; c < 3; c++) {
        float *Mc = M + (long)c * K, bc = 0;
        const float *Wc = W + (long)(1 + NERF_SH * c) * K;
        for (int k = 0; k < K; k++) Mc[k] = 0;
        for (int j = 0; j < NERF_SH; j++) {
            const float y = Y16[j], *Wj = Wc + (long)j * K;
            for (int k = 0; k < K; k++) Mc[k] += y * Wj[k];
            bc += y * w0[1 + NERF_SH * c + j];
        }
        b[c] = bc;
    }
}

/* Entry colour_phi of the scalar kernel table.  Shapes: rgb [n][3], M [3][K], phi rows [K]. */
void gnf_nerf_colour_phi_ref(float *rgb, const float *M, const float b[3], const float *phi, const int *idx, long n, int K) {
    for (long s = 0; s < n; s++) {
        const float *ph = phi + (long)idx[s] * K;
        for (int c = 0; c < 3; c++) {
            const float *Mc = M + (long)c * K;
            float z = b[c];
            for (int k = 0; k < K; k++) z += Mc[k] * ph[k];
            rgb[3 * s + c] = sigmoid(z);
        }
    }
}

/* ---- per-ray compositing ------------------------------------------------------------------- */

enum { BLK = 16 };

/* Pointwise values of up to BLK consecutive samples (lanes past m are padding). */
typedef struct {
    float alpha[BLK], keep[BLK], x[BLK];    /* alpha, 1 - alpha = e^-x, optical thickness x */
    float dsig[BLK];                        /* dt * d sigma / d y0 */
    float rgb[3][BLK];
} nerf_block;

/* Shapes: y [m][ys], dt [m], Yl [16]; m <= BLK.  Yl NULL: y's rows are [y0, r, g, b], the colours
 * given. */
static void block_eval(nerf_block *b, const float *y, long ys, const float *dt, const float *Yl, long m) {
    float v[BLK], dtl[BLK], z[3][BLK];
    for (long s = 0; s < BLK; s++) {
        if (s < m) {
            float zz[3];
            if (Yl) sh_dot3(zz, y + s * ys, Yl);
            else memcpy(zz, y + s * ys + 1, sizeof zz);
            v[s] = y[s * ys] + NERF_DENSITY_SHIFT;
            dtl[s] = dt[s];
            for (int c = 0; c < 3; c++) z[c][s] = zz[c];
        } else {
            v[s] = dtl[s] = z[0][s] = z[1][s] = z[2][s] = 0;
        }
    }
    for (int s = 0; s < BLK; s++) {
        float sig, sigma = softplus_sig(v[s], &sig);
        float x = sigma * dtl[s];
        b->x[s] = x;
        b->alpha[s] = alpha_keep(x, &b->keep[s]);
        b->dsig[s] = sig * dtl[s];
    }
    if (!Yl) memcpy(b->rgb, z, sizeof z);
    else
        for (int c = 0; c < 3; c++)
            for (int s = 0; s < BLK; s++) b->rgb[c][s] = sigmoid(z[c][s]);
}

/* Values the forward pass parks at the start of each composited dy row for the reverse pass. */
enum { P_W, P_TNEXT, P_DSIG, P_C0, P_WCC0 = P_C0 + 3, P_N = P_WCC0 + 3 };
_Static_assert(P_N <= NERF_OUT && P_N <= NERF_RGB_DY, "parked values fit in a row");

/* Forward over one ray; with park != NULL also parks the backward's values in rows of park
 * (stride ps).  C gets sum_i w_i c_i (no background); returns n_used, *T_end, *tau (the optical
 * thickness composited, for an opacity accurate near 0).  Y16 NULL: y's rows hold [y0, r, g, b]. */
static long ray_forward(float C[3], float *depth, float *T_end, float *tau, float *park, long ps, const float *y,
                        long ys, const float *Y16, const float *dt, const float *t, long n, float t_min) {
    float Ybuf[NERF_SH], *Yl = NULL;
    if (Y16) Yl = memcpy(Ybuf, Y16, sizeof Ybuf);
    float T = 1.0f, C0 = 0, C1 = 0, C2 = 0, dep = 0, tsum = 0;
    long i = 0;
    int done = 0;
    nerf_block b;
    while (i < n && !done) {
        long m = n - i < BLK ? n - i : BLK;
        block_eval(&b, y + i * ys, ys, dt + i, Yl, m);
        long s = 0;
        for (; s < m && !done; s++) {
            float w = T * b.alpha[s];
            C0 += w * b.rgb[0][s];
            C1 += w * b.rgb[1][s];
            C2 += w * b.rgb[2][s];
            if (t) dep += w * t[i + s];
            tsum += b.x[s];
            T *= b.keep[s];
            if (park) {
                float *p = park + (i + s) * ps;
                p[P_W] = w;
                p[P_TNEXT] = T;
                p[P_DSIG] = b.dsig[s];
                for (int c = 0; c < 3; c++) {
                    float cc = b.rgb[c][s];
                    p[P_C0 + c] = cc;
                    p[P_WCC0 + c] = w * cc * (1.0f - cc);
                }
            }
            done = T < t_min;
        }
        i += s;
    }
    C[0] = C0;
    C[1] = C1;
    C[2] = C2;
    *depth = dep;
    *T_end = T;
    *tau = tsum;
    return i;
}

/* opacity = 1 - T_end computed as 1 - e^-tau, accurate for nearly empty rays too. */
static void ray_result(nerf_ray_result *out, const float C[3], float depth, float T, float tau, long used,
                       const float bg[3]) {
    float keep;
    for (int c = 0; c < 3; c++) out->rgb[c] = C[c] + T * bg[c];
    out->opacity = alpha_keep(tau, &keep);
    out->depth = depth;
    out->n_used = used;
}

/* Shapes: y [n][ys], Y16 [16], dt [n], t [n] or NULL, bg [3]. */
void gnf_nerf_composite(nerf_ray_result *out, const float *y, long ys, const float Y16[16], const float *dt,
                    const float *t, long n, const float bg[3], float t_min) {
    assert(n == 0 || ys >= NERF_OUT);
    float C[3], depth, T, tau;
    long used = ray_forward(C, &depth, &T, &tau, NULL, 0, y, ys, Y16, dt, t, n, t_min);
    ray_result(out, C, depth, T, tau, used, bg);
}

/* Shapes: dy [n][dys], y [n][ys], Y16 [16], dt [n], t [n] or NULL, bg/target [3].
 * With g_c = 2 scale (C_c - target_c) and R_k = sum_{i>k} w_i c_i + T_end bg:
 *   dL/dy_k[0]        = sigmoid(y_k0 - 10) dt_k sum_c g_c (T_{k+1} c_kc - R_kc)
 *   dL/dy_k[1+16c+j]  = g_c w_k c_kc (1 - c_kc) Y_j */
static float composite_backward(float *dy, long dys, nerf_ray_result *out, const float *y, long ys, int rgb_given,
                                const float Y16[16], const float *dt, const float *t, long n, const float bg[3],
                                const float target[3], float scale, float t_min) {
    float C[3], depth, T, tau;
    const long used = ray_forward(C, &depth, &T, &tau, dy, dys, y, ys, rgb_given ? NULL : Y16, dt, t, n, t_min);
    ray_result(out, C, depth, T, tau, used, bg);
    float loss = 0, g[3], R[3], Yl[NERF_SH];
    memcpy(Yl, Y16, sizeof Yl);
    for (int c = 0; c < 3; c++) {
        float e = out->rgb[c] - target[c];
        loss += e * e;
        g[c] = 2.0f * scale * e;
        R[c] = T * bg[c];
    }
    for (long i = n - 1; i >= used; i--) memset(dy + i * dys, 0, sizeof(float) * (rgb_given ? 4 : NERF_OUT));
    /* Reverse: R holds R_k (what lies behind sample k) on entry to row k. */
    for (long i = used - 1; i >= 0; i--) {
        float *p = dy + i * dys;
        float w = p[P_W], Tn = p[P_TNEXT], dsig = p[P_DSIG];
        float c0 = p[P_C0], c1 = p[P_C0 + 1], c2 = p[P_C0 + 2];
        float gz0 = g[0] * p[P_WCC0], gz1 = g[1] * p[P_WCC0 + 1], gz2 = g[2] * p[P_WCC0 + 2];
        p[0] = dsig * (g[0] * (Tn * c0 - R[0]) + g[1] * (Tn * c1 - R[1]) + g[2] * (Tn * c2 - R[2]));
        R[0] += w * c0;
        R[1] += w * c1;
        R[2] += w * c2;
        if (rgb_given) {
            p[1] = gz0;
            p[2] = gz1;
            p[3] = gz2;
            continue;
        }
        for (int j = 0; j < NERF_SH; j++) {
            p[1 + j] = gz0 * Yl[j];
            p[1 + NERF_SH + j] = gz1 * Yl[j];
            p[1 + 2 * NERF_SH + j] = gz2 * Yl[j];
        }
    }
    return loss;
}

float gnf_nerf_composite_backward(float *dy, long dys, nerf_ray_result *out, const float *y, long ys, const float Y16[16],
                              const float *dt, const float *t, long n, const float bg[3], const float target[3],
                              float scale, float t_min) {
    assert(n == 0 || (ys >= NERF_OUT && dys >= NERF_OUT));
    return composite_backward(dy, dys, out, y, ys, 0, Y16, dt, t, n, bg, target, scale, t_min);
}

float gnf_nerf_composite_backward_rgb(float *dy, long dys, nerf_ray_result *out, const float *yc, long ycs,
                                      const float Y16[16], const float *dt, const float *t, long n, const float bg[3],
                                      const float target[3], float scale, float t_min) {
    assert(n == 0 || (ycs >= 4 && dys >= NERF_RGB_DY));
    return composite_backward(dy, dys, out, yc, ycs, 1, Y16, dt, t, n, bg, target, scale, t_min);
}

/* Shapes: sigma [n], dt [n] -> w [n] (first `count` written).  Same alpha and transmittance
 * arithmetic as ray_forward, so the weights are those gnf_nerf_composite uses. */
long gnf_nerf_weights(float *w, float *T_end, const float *sigma, const float *dt, long n, float t_min) {
    float T = 1.0f;
    long i = 0;
    while (i < n) {
        float keep, a = alpha_keep(sigma[i] * dt[i], &keep);
        w[i] = T * a;
        T *= keep;
        i++;
        if (T < t_min) break;
    }
    *T_end = T;
    return i;
}

long gnf_nerf_transmit(float *T, const float *y0, long ys, const float *dt, long n, float t_min) {
    float Tc = *T;
    long i = 0;
    while (i < n) {
        float sig, keep, x = softplus_sig(y0[i * ys] + NERF_DENSITY_SHIFT, &sig) * dt[i];
        (void)alpha_keep(x, &keep);
        Tc *= keep;
        i++;
        if (Tc < t_min) break;
    }
    *T = Tc;
    return i;
}

/* Shapes as in nerf_head.h: the head reduced to the ray's 4 rows [W_0; M], b' = [w0_0; b], the
 * O = 4 training kernel on it, and its row gradients expanded back to the 49 rows. */
void gnf_nerf_head_backward(float *df, rbf_grads g, const float *f, const float *dy4, const float *c, const float *beta,
                            const float *W, const float *w0, long n, int D, int K, gnf_basis basis, const float Y16[16]) {
    assert(K <= 64);
    float Wp[4 * 64], bp[4], dW4[4 * 64], dw4[4] = {0, 0, 0, 0};
    memcpy(Wp, W, sizeof(float) * (size_t)K);
    bp[0] = w0[0];
    gnf_nerf_sh_matrix(Wp + K, bp + 1, W, w0, K, Y16);
    memset(dW4, 0, sizeof(float) * 4 * (size_t)K);
    rbf_grads g4 = {g.dc, g.db, dW4, dw4, g.work};
    double sq = 0;
    gnf_rbf_train(df, g4, f, dy4, NULL, c, beta, Wp, bp, n, D, K, 4, basis, GNF_LOSS_GIVEN, 1.0f, &sq);
    for (int k = 0; k < K; k++) g.dW[k] += dW4[k];
    g.dw0[0] += dw4[0];
    for (int ch = 0; ch < 3; ch++)
        for (int j = 0; j < NERF_SH; j++) {
            float *dWr = g.dW + (long)(1 + NERF_SH * ch + j) * K;
            const float *src = dW4 + (long)(1 + ch) * K;
            for (int k = 0; k < K; k++) dWr[k] += Y16[j] * src[k];
            g.dw0[1 + NERF_SH * ch + j] += Y16[j] * dw4[1 + ch];
        }
}
