/* kernels.c — the kernel tables, the choice of the active one, and the field.h entry points that
 * call through it (kernels.h). */
#include "field/kernels.h"
#include "field/nerf_head.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

const gnf_kernels gnf_kernels_scalar = {"scalar", 1, gnf_rbf_forward_ref, gnf_rbf_train_ref,
                                        gnf_grid_encode_ref, gnf_grid_encode_h_ref, gnf_grid_scatter_level_ref,
                                        gnf_adam_update_step_ref, gnf_adam_update_lazy_step_ref,
                                        gnf_adam_idx_ref, gnf_rbf_phi_ref,
                                        gnf_nerf_sh_matrix_ref, gnf_nerf_colour_phi_ref};
#ifndef GNF_NO_AVX2
const gnf_kernels gnf_kernels_avx2 = {"avx2-fma", 8, gnf_rbf_forward_avx2, gnf_rbf_train_avx2,
                                      gnf_grid_encode_avx2, gnf_grid_encode_h_avx2, gnf_grid_scatter_level_avx2,
                                      gnf_adam_update_avx2, gnf_adam_update_lazy_avx2,
                                      gnf_adam_idx_avx2, gnf_rbf_phi_avx2,
                                      gnf_nerf_sh_matrix_avx2, gnf_nerf_colour_phi_avx2};
#endif

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static const gnf_kernels *g_default;     /* written once, under g_once */
static atomic_int g_force_scalar;

static void choose_default(void) {
    const char *e = getenv("GNF_SCALAR");
    int fast = !(e && *e && *e != '0') && gnf_cpu_has_avx2_fma();
    g_default = &gnf_kernels_scalar;
#ifndef GNF_NO_AVX2
    if (fast) g_default = &gnf_kernels_avx2;
#else
    (void)fast;
#endif
}

/* Applies to kernel calls made after it returns (on any thread that synchronises with it). */
void gnf_set_force_scalar(int on) { atomic_store(&g_force_scalar, on != 0); }

const gnf_kernels *gnf_kernels_active(void) {
    pthread_once(&g_once, choose_default);
    return atomic_load(&g_force_scalar) ? &gnf_kernels_scalar : g_default;
}

const gnf_kernels *gnf_kernels_rbf(int K) {
    const gnf_kernels *t = gnf_kernels_active();
    return K % t->rbf_k_step ? &gnf_kernels_scalar : t;
}

const char *gnf_kernel_name(void) { return gnf_kernels_active()->name; }

/* The grid kernels of the active table take every grid; the MLP decoder is scalar only. */
const char *gnf_kernel_name_for(const gnf_model *m) {
    const gnf_kernels *dec = m->cfg.decoder == GNF_DEC_RBF ? gnf_kernels_rbf(m->cfg.rbf_k) : &gnf_kernels_scalar;
    if (dec == gnf_kernels_active()) return dec->name;
    return "avx2-fma grid, scalar decoder";
}

void gnf_rbf_forward(float *y, const float *f, const float *c, const float *beta, const float *W,
                     const float *w0, long n, int D, int K, int O, gnf_basis basis) {
    gnf_kernels_rbf(K)->rbf_forward(y, f, c, beta, W, w0, n, D, K, O, basis);
}

double gnf_rbf_train(float *df, rbf_grads g, const float *f, const float *t, const float *wt, const float *c,
                     const float *beta, const float *W, const float *w0, long n, int D, int K, int O,
                     gnf_basis basis, gnf_loss loss, float scale, double *sq_err) {
    return gnf_kernels_rbf(K)->rbf_train(df, g, f, t, wt, c, beta, W, w0, n, D, K, O, basis, loss, scale, sq_err);
}

void gnf_grid_encode(float *feats, const struct gnf_model *m, const float *params, const float *x, long n) {
    gnf_kernels_active()->grid_encode(feats, m, params, x, n);
}

void gnf_grid_encode_h(float *feats, const struct gnf_model *m, const uint16_t *grid16, const float *x, long n) {
    gnf_kernels_active()->grid_encode_h(feats, m, grid16, x, n);
}

void gnf_grid_scatter_level(float *grad, const struct gnf_model *m, int l, const float *x,
                            const float *dfeats, long n, uint64_t *mark) {
    gnf_kernels_active()->grid_scatter_level(grad, m, l, x, dfeats, n, mark);
}

void gnf_nerf_sh_matrix(float *M, float b[3], const float *W, const float *w0, int K, const float Y16[16]) {
    gnf_kernels_rbf(K)->sh_matrix(M, b, W, w0, K, Y16);
}

void gnf_nerf_colour_phi(float *rgb, const float *M, const float b[3], const float *phi, const int *idx, long n, int K) {
    gnf_kernels_rbf(K)->colour_phi(rgb, M, b, phi, idx, n, K);
}
