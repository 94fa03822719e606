/* rbf.c — the GNF decoder: K radial-basis neurons in feature space and a linear head.
 * The scalar reference kernels of the gnf_kernels_scalar table (kernels.h): the definition the
 * fast paths are tested against.
 *
 *   q_k   = sum_d beta_dk (f_d - c_dk)^2            beta = exp(b)
 *   phi_k = rho(q_k)        gaussian exp(-q/2) | imq (q+1)^-1/2 | mq (q+1)^1/2
 *   y_o   = sum_k W_ok phi_k + w0_o
 * Backward (docs/MODEL.md): with g = dL/dy, a_k = sum_o g_o W_ok, s_k = rho'(q_k) a_k,
 * u = f_d - c_dk:  dL/df_d = sum_k 2 s_k beta_dk u,  dL/dc_dk = -2 s_k beta_dk u,
 * dL/db_dk = s_k beta_dk u^2,  dL/dW_ok = g_o phi_k,  dL/dw0_o = g_o. */
#include "field/kernels.h"
#include <math.h>

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

/* Entry rbf_forward (kernels.h): y [n][O] from f [n][D]; c, beta [D][K]; W [O][K]; w0 [O]. */
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

/* Entry rbf_train (kernels.h, contract in field.h): per point, phi [K], then dL/dy [O], then
 * the backward; needs K <= 4096, O <= 64. */
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
                gy[o] = gnf_loss_grad(y - t[p * O + o], loss, wt ? scale * wt[p] : scale, &lsum, &sq);
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

/* Entry rbf_phi (kernels.h): phi [n][K], y0 [n] from f [n][D]; c, beta [D][K]; W0 [K].  The same
 * arithmetic as gnf_rbf_forward_ref's row 0 (bc2 and cst are not used). */
void gnf_rbf_phi_ref(float *phi, float *y0, const float *f, const float *c, const float *beta, const float *bc2,
                     const float *cst, const float *W0, float w00, long n, int D, int K, gnf_basis basis) {
    (void)bc2; (void)cst;
    for (long p = 0; p < n; p++) {
        const float *fp = f + p * D;
        float *php = phi + p * K, y = w00;
        for (int k = 0; k < K; k++) {
            float q = 0;
            for (int d = 0; d < D; d++) {
                float u = fp[d] - c[d * K + k];
                q += beta[d * K + k] * u * u;
            }
            php[k] = rho(q, basis);
            y += W0[k] * php[k];
        }
        y0[p] = y;
    }
}

void gnf_rbf_expand(float *bc2, float *cst, const float *c, const float *beta, int D, int K) {
    for (int k = 0; k < K; k++) cst[k] = 0;
    for (int d = 0; d < D; d++)
        for (int k = 0; k < K; k++) {
            float bc = beta[(long)d * K + k] * c[(long)d * K + k];
            bc2[(long)d * K + k] = 2.0f * bc;
            cst[k] += bc * c[(long)d * K + k];
        }
}

long gnf_rbf_work_floats(int D, int K) { return 3L * D * K + 6L * K + 64; }
