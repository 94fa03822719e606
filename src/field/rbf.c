/* rbf.c — the GNF decoder: K radial-basis neurons in feature space and a linear head.
 * Scalar reference kernels (the definition the fast paths are tested against) and dispatch.
 *
 *   q_k   = sum_d beta_dk (f_d - c_dk)^2            beta = exp(b)
 *   phi_k = rho(q_k)        gaussian exp(-q/2) | imq (q+1)^-1/2 | mq (q+1)^1/2
 *   y_o   = sum_k W_ok phi_k + w0_o
 * Backward (docs/MODEL.md): with g = dL/dy, a_k = sum_o g_o W_ok, s_k = rho'(q_k) a_k,
 * u = f_d - c_dk:  dL/df_d = sum_k 2 s_k beta_dk u,  dL/dc_dk = -2 s_k beta_dk u,
 * dL/db_dk = s_k beta_dk u^2,  dL/dW_ok = g_o phi_k,  dL/dw0_o = g_o. */
#include "field/field.h"
#include <math.h>
#include <string.h>

float gnf_fast_exp(float x) {
    if (x < -87.0f) return 0.0f;
    if (x > 88.0f) x = 88.0f;
    /* x = n ln2 + r, |r| <= ln2/2; e^r by its degree-7 Taylor polynomial (error < 6e-9 rel). */
    float n = nearbyintf(x * 1.44269504f);
    float r = x - n * 0.693145752f;   /* ln2 split: hi has few mantissa bits, so n*hi is exact */
    r = r - n * 1.42860677e-6f;
    float p = 1.98412698e-4f;
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int e = (int)n + 127;
    if (e <= 0) return 0.0f;
    union { unsigned u; float f; } s = {(unsigned)e << 23};
    return p * s.f;
}

static inline float rho(float q, gnf_basis basis) {
    switch (basis) {
    case GNF_BASIS_IMQ: return 1.0f / sqrtf(q + 1.0f);
    case GNF_BASIS_MQ: return sqrtf(q + 1.0f);
    default: return expf(-0.5f * q);
    }
}

/* rho'(q) written through phi = rho(q). */
static inline float drho(float phi, gnf_basis basis) {
    switch (basis) {
    case GNF_BASIS_IMQ: return -0.5f * phi * phi * phi;
    case GNF_BASIS_MQ: return 0.5f / phi;
    default: return -0.5f * phi;
    }
}

void gnf_rbf_forward_ref(float *y, const float *f, const float *c, const float *beta, const float *W,
                     const float *w0, long n, int D, int K, int O, gnf_basis basis) {
    for (long p = 0; p < n; p++) {
        const float *fp = f + p * D;
        float *yp = y + p * O;
        for (int o = 0; o < O; o++) yp[o] = w0[o];
        for (int k = 0; k < K; k++) {
            float q = 0;
            for (int d = 0; d < D; d++) {
                float u = fp[d] - c[d * K + k];
                q += beta[d * K + k] * u * u;
            }
            float phi = rho(q, basis);
            for (int o = 0; o < O; o++) yp[o] += W[o * K + k] * phi;
        }
    }
}

/* Loss term and its derivative for one output: L1 |e| or L2 e^2 (e = y - t). */
static inline float loss_grad(float e, gnf_loss loss, float scale, double *lsum) {
    if (loss == GNF_LOSS_L2) {
        *lsum += (double)(e * e) * scale;
        return 2.0f * e * scale;
    }
    *lsum += (double)fabsf(e) * scale;
    return e > 0 ? scale : (e < 0 ? -scale : 0.0f);
}

double gnf_rbf_train_ref(float *df, rbf_grads g, const float *f, const float *t, const float *wt, const float *c,
                     const float *beta, const float *W, const float *w0, long n, int D, int K, int O,
                     gnf_basis basis, gnf_loss loss, float scale, double *sq_err) {
    double lsum = 0, sq = 0;
    float phi[4096], gy[64];
    for (long p = 0; p < n; p++) {
        const float *fp = f + p * D;
        float *dfp = df + p * D;
        for (int k = 0; k < K; k++) {
            float acc = 0;
            for (int d = 0; d < D; d++) {
                float u = fp[d] - c[d * K + k];
                acc += beta[d * K + k] * u * u;
            }
            phi[k] = rho(acc, basis);
        }
        for (int o = 0; o < O; o++) {
            if (loss == GNF_LOSS_GIVEN) {
                gy[o] = t[p * O + o] * (wt ? scale * wt[p] : scale);
            } else {
                float y = w0[o];
                for (int k = 0; k < K; k++) y += W[o * K + k] * phi[k];
                float e = y - t[p * O + o];
                sq += (double)e * e;
                gy[o] = loss_grad(e, loss, wt ? scale * wt[p] : scale, &lsum);
            }
            g.dw0[o] += gy[o];
            for (int k = 0; k < K; k++) g.dW[o * K + k] += gy[o] * phi[k];
        }
        for (int d = 0; d < D; d++) dfp[d] = 0;
        for (int k = 0; k < K; k++) {
            float a = 0;
            for (int o = 0; o < O; o++) a += gy[o] * W[o * K + k];
            float s = drho(phi[k], basis) * a;
            for (int d = 0; d < D; d++) {
                float u = fp[d] - c[d * K + k];
                float tt = s * beta[d * K + k] * u;
                dfp[d] += 2.0f * tt;
                g.dc[d * K + k] -= 2.0f * tt;
                g.db[d * K + k] += tt * u;
            }
        }
    }
    *sq_err += sq;
    return lsum;
}

long gnf_rbf_work_floats(int D, int K) { return 3L * D * K + 6L * K + 64; }

void gnf_rbf_forward(float *y, const float *f, const float *c, const float *beta, const float *W,
                 const float *w0, long n, int D, int K, int O, gnf_basis basis) {
#ifndef GNF_NO_AVX2
    if (gnf_use_avx2() && K % 8 == 0) {
        gnf_rbf_forward_avx2(y, f, c, beta, W, w0, n, D, K, O, basis);
        return;
    }
#endif
    gnf_rbf_forward_ref(y, f, c, beta, W, w0, n, D, K, O, basis);
}

double gnf_rbf_train(float *df, rbf_grads g, const float *f, const float *t, const float *wt, const float *c,
                 const float *beta, const float *W, const float *w0, long n, int D, int K, int O,
                 gnf_basis basis, gnf_loss loss, float scale, double *sq_err) {
#ifndef GNF_NO_AVX2
    if (gnf_use_avx2() && K % 8 == 0 && O <= 64 && g.work)
        return gnf_rbf_train_avx2(df, g, f, t, wt, c, beta, W, w0, n, D, K, O, basis, loss, scale, sq_err);
#endif
    return gnf_rbf_train_ref(df, g, f, t, wt, c, beta, W, w0, n, D, K, O, basis, loss, scale, sq_err);
}
