/* field.h — internal view of a field: the model struct and its parameter layout, and the
 * kernels of the encoding (multi-resolution grids: dense 2D/3D, hash) and the decoders (RBF,
 * MLP).  The entry points below run the active kernel table (kernels.h) for their shape.
 *
 * Parameter layout (one float arena; gradients and Adam moments use the same layout):
 *   grid level l:  level_nodes[l] × feat_l floats, node-major: grid[node*feat + c]; a dense
 *                  level's node is ix + res*(iy + res*iz) (grid.c)
 *   RBF decoder:   centres c  [D][K]  (feature-major: c[d*K + k])
 *                  log-precisions b [D][K]  (beta = exp(b))
 *                  head W [O][K], bias w0 [O]
 *   MLP decoder:   for each layer i: weight [out_i][in_i], bias [out_i]
 * Kernels follow llm.c order: outputs first, then inputs, then sizes; backward kernels
 * accumulate (+=) into gradients. */
#ifndef GNF_FIELD_H
#define GNF_FIELD_H

#include "core/core.h"
#include <math.h>
#include <string.h>

typedef struct { char *key, *value; } gnf_meta_kv;

struct gnf_model {
    gnf_model_config cfg;
    gnf_task task;
    int D;                       /* encoding width = sum of feat[l] */
    long nparams;
    float *params;
    long grid_off[GNF_MAX_LEVELS];
    long grid_size[GNF_MAX_LEVELS];  /* floats of level l = level_nodes[l] * feat[l] */
    long level_nodes[GNF_MAX_LEVELS]; /* nodes stored for level l */
    int level_dense[GNF_MAX_LEVELS];  /* 1: indexed densely, 0: by the spatial hash */
    int feat_off[GNF_MAX_LEVELS]; /* offset of level l's features within the D-vector */
    long dec_off;                /* start of decoder parameters */
    long off_c, off_b, off_W, off_w0;                       /* RBF */
    int mlp_nlayers;                                        /* MLP: hidden layers + 1 */
    int mlp_in[GNF_MAX_MLP_LAYERS], mlp_out[GNF_MAX_MLP_LAYERS];
    long mlp_w[GNF_MAX_MLP_LAYERS], mlp_b[GNF_MAX_MLP_LAYERS];
    int nmeta;
    gnf_meta_kv *meta;
};

/* Computes all offsets/sizes of m from m->cfg; returns the parameter count, or -1 if invalid. */
long gnf_model_layout(struct gnf_model *m);
/* Sets cfg to L hash levels (L in 2..GNF_MAX_LEVELS) with resolutions geometric from 16 to top,
 * cfg->feat[0] features each (2 if unset), and the largest table 2^4..2^26 whose model has at most
 * max_params parameters; returns that count, or 0 (cfg unchanged) when none fits. */
long gnf_model_config_hash_fit(gnf_model_config *cfg, int L, int top, long max_params);

/* ---- multi-resolution grids (dense 2D/3D, hash) ------------------------------------------ */

/* Encodes n points x (n×in_dim in [-1,1]) into feats (n×D) using the grid levels of m in params. */
void gnf_grid_encode(float *feats, const struct gnf_model *m, const float *params, const float *x, long n);
/* gnf_grid_encode from grid16, an f16 copy of the grid part of a params array (same offsets;
 * gnf_f32_to_f16 of each value): the results equal gnf_grid_encode's on the params whose grid
 * values are those f16 values, bit for bit.  For inference (the radiance-field renderer): half
 * the memory traffic of the f32 tables. */
void gnf_grid_encode_h(float *feats, const struct gnf_model *m, const uint16_t *grid16, const float *x, long n);
/* Accumulates dL/d(grid of level l) += from dfeats (n×D) at points x (n×in_dim): one level,
 * points in order, so the result is deterministic and race-free when levels run on different
 * threads.  mark (may be NULL): one bit per float of the level; the bit of the first float of
 * every node the scatter adds to — even a zero — is set (the lazy optimiser's record, train.c). */
void gnf_grid_scatter_level(float *grad, const struct gnf_model *m, int l, const float *x,
                          const float *dfeats, long n, uint64_t *mark);

/* Sets bit o of mark (the scatter kernels' bookkeeping). */
static inline void gnf_mark(uint64_t *mark, long o) { mark[o >> 6] |= (uint64_t)1 << (o & 63); }

/* ---- RBF decoder ------------------------------------------------------------------------- */

/* Shapes: f [n][D], c/beta [D][K], W [O][K], w0 [O], y [n][O]; O <= 64, K <= 4096.
 * Forward: y = W rho(q) + w0, q_k = sum_d beta_dk (f_d - c_dk)^2. */
void gnf_rbf_forward(float *y, const float *f, const float *c, const float *beta, const float *W,
                 const float *w0, long n, int D, int K, int O, gnf_basis basis);

/* Gradients of one batch slice of the decoder, accumulated (+=), and the fast path's scratch:
 * `work` holds gnf_rbf_work_floats(D, K) floats owned by the caller (one per concurrent call). */
typedef struct { float *dc, *db, *dW, *dw0, *work; } rbf_grads;
long gnf_rbf_work_floats(int D, int K);

/* Loss mode of the training kernels for tasks whose loss is not per point (radiance fields): t
 * holds dL/dy itself (n×O), multiplied by scale (and wt); no loss or squared error is added. */
#define GNF_LOSS_GIVEN ((gnf_loss)2)

/* Fused training kernel: forward, loss against targets t [n][O] (L1 or L2, each term scaled by
 * `scale`, e.g. 1/(B·O) for a mean, times the point's weight wt[p] when wt != NULL), backward.  Writes df [n][D] (overwrites), accumulates the
 * decoder gradients into g (db is dL/d(log-precision)), returns the scaled loss sum and adds the
 * unscaled squared error sum to *sq_err. */
double gnf_rbf_train(float *df, rbf_grads g, const float *f, const float *t, const float *wt, const float *c,
                 const float *beta, const float *W, const float *w0, long n, int D, int K, int O,
                 gnf_basis basis, gnf_loss loss, float scale, double *sq_err);

/* Loss of one output: adds e^2 to *sq and the loss term (L1 |e| or L2 e^2, times scale) to *lsum;
 * returns its derivative.  Shared by every training kernel, so all round alike. */
static inline float gnf_loss_grad(float e, gnf_loss loss, float scale, double *lsum, double *sq) {
    *sq += (double)e * e;
    if (loss == GNF_LOSS_L2) {
        *lsum += (double)(e * e) * scale;
        return 2.0f * e * scale;
    }
    *lsum += (double)fabsf(e) * scale;
    return e > 0 ? scale : (e < 0 ? -scale : 0.0f);
}

/* A float's bits and back. */
static inline uint32_t gnf_f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float gnf_u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Constants of gnf_fast_exp, shared with its 8-lane version in rbf_avx2.c: x = n ln2 + r with
 * ln2 = GNF_LN2_HI + GNF_LN2_LO (HI has few mantissa bits, so n * HI is exact). */
#define GNF_LOG2E 1.44269504f
#define GNF_LN2_HI 0.693145751953125f
#define GNF_LN2_LO 1.428606765330187e-6f

/* e^x for x <= 0: relative error < 4e-7 on [-87, 0] (tested), 0 below about -87.3 and for -inf,
 * NaN for NaN; not for x > 0.  |r| <= ln2/2 with n rounded by adding 1.5*2^23 (no float-to-int
 * conversion, no libm call), e^r by its degree-7 Taylor polynomial (truncation < 6e-9), 2^n from
 * the low mantissa bits of the shifted value.  Inline and branch-free so loops over it vectorise. */
static inline float gnf_fast_exp(float x) {
    float t = x * GNF_LOG2E + 12582912.0f, n = t - 12582912.0f;
    float r = (x - n * GNF_LN2_HI) - n * GNF_LN2_LO;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t e = gnf_f2u(t) - 0x4B400000u + 127u;                  /* biased exponent n + 127 */
    return gnf_u2f(gnf_f2u(p * gnf_u2f(e << 23)) & (0u - (uint32_t)((int32_t)e > 0)));  /* 0 below 2^-126 */
}

/* ---- MLP decoder ------------------------------------------------------------------------- */
/* Forward for n points f (n×D) into y (n×O).  Hidden layers ReLU, output linear. */
void gnf_mlp_forward(float *y, const struct gnf_model *m, const float *params, const float *f, long n);
/* Fused training kernel, same contract as gnf_rbf_train; gdec is the decoder block of a gradient
 * arena (nparams - dec_off floats, indexed by offset - dec_off), accumulated (+=). */
double gnf_mlp_train(float *df, float *gdec, const struct gnf_model *m, const float *params,
                 const float *f, const float *t, const float *wt, long n, gnf_loss loss, float scale,
                 double *sq_err);

/* ---- whole-field helpers ------------------------------------------------------------------ */
/* Fills beta[D*K] = exp(b) for an RBF model. */
void gnf_rbf_beta(float *beta, const struct gnf_model *m, const float *params);
/* Decoder forward on feats (n×D) into y (n×O), beta precomputed (ignored for MLP). */
void gnf_decode(float *y, const struct gnf_model *m, const float *params, const float *beta,
                const float *feats, long n);

#endif
