/* mlp.c — the MLP decoder baseline (ReLU hidden layers, linear output) over the same encoding,
 * for "RBF vs MLP at equal parameters" ablations.  Scalar; the RBF decoder is the fast path. */
#include "field/field.h"
#include <string.h>

#define MLP_MAXW 512

/* One point through all layers; act[i] receives the output of layer i (post-ReLU if hidden). */
static void mlp_point(float act[][MLP_MAXW], const struct gnf_model *m, const float *params, const float *f) {
    const float *in = f;
    for (int i = 0; i < m->mlp_nlayers; i++) {
        const float *Wt = params + m->mlp_w[i], *bb = params + m->mlp_b[i];
        int ni = m->mlp_in[i], no = m->mlp_out[i];
        int hidden = i < m->mlp_nlayers - 1;
        for (int o = 0; o < no; o++) {
            float s = bb[o];
            const float *w = Wt + (long)o * ni;
            for (int j = 0; j < ni; j++) s += w[j] * in[j];
            act[i][o] = hidden && s < 0 ? 0 : s;
        }
        in = act[i];
    }
}

void gnf_mlp_forward(float *y, const struct gnf_model *m, const float *params, const float *f, long n) {
    float act[GNF_MAX_MLP_LAYERS][MLP_MAXW];
    const int O = m->cfg.out_dim, L = m->mlp_nlayers;
    for (long p = 0; p < n; p++) {
        mlp_point(act, m, params, f + p * m->D);
        memcpy(y + p * O, act[L - 1], sizeof(float) * (size_t)O);
    }
}

double gnf_mlp_train(float *df, float *gdec, const struct gnf_model *m, const float *params,
                 const float *f, const float *t, const float *wt, long n, gnf_loss loss, float scale,
                 double *sq_err) {
    float act[GNF_MAX_MLP_LAYERS][MLP_MAXW];
    float da[2][MLP_MAXW];
    const int O = m->cfg.out_dim, L = m->mlp_nlayers, D = m->D;
    double lsum = 0, sq = 0;
    for (long p = 0; p < n; p++) {
        const float *fp = f + p * D;
        mlp_point(act, m, params, fp);
        float *cur = da[0], *prev = da[1];
        for (int o = 0; o < O; o++) {
            if (loss == GNF_LOSS_GIVEN) { cur[o] = t[p * O + o] * (wt ? scale * wt[p] : scale); continue; }
            cur[o] = gnf_loss_grad(act[L - 1][o] - t[p * O + o], loss, wt ? scale * wt[p] : scale, &lsum, &sq);
        }
        for (int i = L - 1; i >= 0; i--) {
            const float *in = i == 0 ? fp : act[i - 1];
            const float *Wt = params + m->mlp_w[i];
            float *gW = gdec + (m->mlp_w[i] - m->dec_off), *gb = gdec + (m->mlp_b[i] - m->dec_off);
            int ni = m->mlp_in[i], no = m->mlp_out[i];
            float *dout = i == 0 ? df + p * D : prev;
            for (int j = 0; j < ni; j++) dout[j] = 0;
            for (int o = 0; o < no; o++) {
                float g = cur[o];
                if (i < L - 1 && act[i][o] <= 0) g = 0; /* ReLU */
                if (g == 0) continue;
                gb[o] += g;
                float *gw = gW + (long)o * ni;
                const float *w = Wt + (long)o * ni;
                for (int j = 0; j < ni; j++) { gw[j] += g * in[j]; dout[j] += g * w[j]; }
            }
            float *tmp = cur; cur = prev; prev = tmp;
        }
    }
    *sq_err += sq;
    return lsum;
}
