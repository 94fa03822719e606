/* kernels.h — the hot kernels behind one table per variant.
 *
 * gnf_kernels_scalar holds the _ref kernels: portable C, the definition of every result.
 * gnf_kernels_avx2 (the _avx2.c files, absent when built with GNF_NO_AVX2) holds the AVX2/FMA
 * versions: bit-identical to the reference where an entry says so, within tested tolerances
 * otherwise.  The active table is chosen once per process (CPU support; GNF_SCALAR=1 in the
 * environment chooses scalar); gnf_set_force_scalar(1) selects the scalar table for every call
 * made after it, gnf_set_force_scalar(0) returns to the default.  The field.h entry points
 * (gnf_rbf_forward, gnf_grid_encode, ...) call through the active table, except that an RBF shape
 * it does not take (K % rbf_k_step != 0) runs the scalar entry: gnf_kernels_rbf(K) returns the
 * table that really runs, so the names reported are those of the kernels that ran. */
#ifndef GNF_KERNELS_H
#define GNF_KERNELS_H

#include "field/field.h"

/* RBF forward.  Shapes: y [n][O], f [n][D], c/beta [D][K], W [O][K], w0 [O]; O <= 64, K <= 4096.
 * y = W rho(q) + w0, q_k = sum_d beta_dk (f_d - c_dk)^2.  AVX2: K % 8 == 0; exp by
 * gnf_fast_exp's polynomial with FMA, q with FMA: tolerance, not bits. */
typedef void gnf_rbf_forward_fn(float *y, const float *f, const float *c, const float *beta, const float *W,
                                const float *w0, long n, int D, int K, int O, gnf_basis basis);
gnf_rbf_forward_fn gnf_rbf_forward_ref, gnf_rbf_forward_avx2;

/* RBF fused training step: the contract of gnf_rbf_train (field.h).  g.work: gnf_rbf_work_floats(D, K)
 * floats (the reference does not use it).  AVX2: K % 8 == 0; tolerance, not bits. */
typedef double gnf_rbf_train_fn(float *df, rbf_grads g, const float *f, const float *t, const float *wt,
                                const float *c, const float *beta, const float *W, const float *w0, long n,
                                int D, int K, int O, gnf_basis basis, gnf_loss loss, float scale, double *sq_err);
gnf_rbf_train_fn gnf_rbf_train_ref, gnf_rbf_train_avx2;

/* Grid lookup of all levels and scatter of one level: the contracts of gnf_grid_encode and
 * gnf_grid_scatter_level (field.h).  AVX2: every grid, bit-identical. */
typedef void gnf_grid_encode_fn(float *feats, const struct gnf_model *m, const float *params, const float *x, long n);
gnf_grid_encode_fn gnf_grid_encode_ref, gnf_grid_encode_avx2;
/* The lookup from an f16 copy of the grids (gnf_grid_encode_h, field.h): the reference reads each
 * node through gnf_f16_to_f32, so its results are gnf_grid_encode_ref's on a table of the
 * rounded values.  AVX2: every grid, bit-identical. */
typedef void gnf_grid_encode_h_fn(float *feats, const struct gnf_model *m, const uint16_t *grid16, const float *x,
                                  long n);
gnf_grid_encode_h_fn gnf_grid_encode_h_ref, gnf_grid_encode_h_avx2;
typedef void gnf_grid_scatter_fn(float *grad, const struct gnf_model *m, int l, const float *x,
                                 const float *dfeats, long n, uint64_t *mark);
gnf_grid_scatter_fn gnf_grid_scatter_level_ref, gnf_grid_scatter_level_avx2;

/* Adam's element loop over p, m, v, g [i0, i1) with the bias-corrected step given (adam.h has the
 * update); the lazy version leaves entries with g == 0 untouched.  AVX2: bit-identical. */
typedef void gnf_adam_fn(float *p, float *m, float *v, const float *g, long i0, long i1, float step,
                         float b1, float b2, float eps);
gnf_adam_fn gnf_adam_update_step_ref, gnf_adam_update_avx2;
gnf_adam_fn gnf_adam_update_lazy_step_ref, gnf_adam_update_lazy_avx2;
/* Lazy Adam over listed nodes (the sparse optimiser): for each of the n float offsets off[j] and
 * each c < C, entry i = off[j] + c is updated exactly as adam_lazy would (nothing when g[i] == 0)
 * and then g[i] is set to 0.  Offsets must be distinct.  AVX2: C == 2 (other C: the reference);
 * bit-identical. */
typedef void gnf_adam_idx_fn(float *p, float *m, float *v, float *g, const int32_t *off, long n, int C,
                             float step, float b1, float b2, float eps);
gnf_adam_idx_fn gnf_adam_idx_ref, gnf_adam_idx_avx2;

/* RBF inference for rendering radiance fields: the activations and one output row (the density),
 * phi kept so that the other rows can be applied later to the samples that need them.
 * Shapes: phi [n][K], y0 [n], f [n][D], c/beta/bc2 [D][K], cst [K], W0 [K].
 *   phi_k = rho(q_k), q_k = sum_d beta_dk (f_d - c_dk)^2,   y0 = W0 . phi + w00.
 * bc2 = 2 beta c and cst = sum_d beta c^2 come from gnf_rbf_expand (the reference reads c; the fast
 * path the expanded form, q clamped at 0).  A point's results do not depend on n or on its
 * position in the batch.  AVX2: K % 8 == 0; tolerance, not bits. */
typedef void gnf_rbf_phi_fn(float *phi, float *y0, const float *f, const float *c, const float *beta, const float *bc2,
                            const float *cst, const float *W0, float w00, long n, int D, int K, gnf_basis basis);
gnf_rbf_phi_fn gnf_rbf_phi_ref, gnf_rbf_phi_avx2;
/* The radiance-field colour head from the activations (nerf_head.h, gnf_nerf_sh_matrix and
 * gnf_nerf_colour_phi): the per-ray matrix M [3][K], b [3] from the head W [NERF_OUT][K], w0 and
 * the ray's SH basis; the colours rgb [n][3] of n samples of that ray whose activations are the
 * rows idx[0..n) of phi [.][K].  AVX2: K % 8 == 0; tolerance, not bits. */
typedef void gnf_sh_matrix_fn(float *M, float b[3], const float *W, const float *w0, int K, const float Y16[16]);
typedef void gnf_colour_phi_fn(float *rgb, const float *M, const float b[3], const float *phi, const int *idx, long n, int K);
gnf_sh_matrix_fn gnf_nerf_sh_matrix_ref, gnf_nerf_sh_matrix_avx2;
gnf_colour_phi_fn gnf_nerf_colour_phi_ref, gnf_nerf_colour_phi_avx2;

/* bc2 [D][K] = 2 beta c, cst [K] = sum_d beta c^2 (the sums in order d = 0..D-1), as the training
 * kernel computes them. */
void gnf_rbf_expand(float *bc2, float *cst, const float *c, const float *beta, int D, int K);

typedef struct {
    const char *name;          /* "scalar" or "avx2-fma" */
    int rbf_k_step;            /* the rbf entries need K % rbf_k_step == 0 */
    gnf_rbf_forward_fn *rbf_forward;
    gnf_rbf_train_fn *rbf_train;
    gnf_grid_encode_fn *grid_encode;
    gnf_grid_encode_h_fn *grid_encode_h;
    gnf_grid_scatter_fn *grid_scatter_level;
    gnf_adam_fn *adam, *adam_lazy;
    gnf_adam_idx_fn *adam_idx;
    gnf_rbf_phi_fn *rbf_phi;
    gnf_sh_matrix_fn *sh_matrix;
    gnf_colour_phi_fn *colour_phi;
} gnf_kernels;

extern const gnf_kernels gnf_kernels_scalar;
#ifndef GNF_NO_AVX2
extern const gnf_kernels gnf_kernels_avx2;
#endif

/* The active table (thread-safe; the CPU and GNF_SCALAR are read once). */
const gnf_kernels *gnf_kernels_active(void);
/* The table whose rbf entries run for K neurons. */
const gnf_kernels *gnf_kernels_rbf(int K);

#endif
