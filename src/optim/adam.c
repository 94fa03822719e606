/* adam.c — the optimiser: one flat loop over the parameter arena.  The scalar reference loops of
 * the gnf_kernels_scalar table (field/kernels.h). */
#include "optim/adam.h"
#include "field/kernels.h"
#include <math.h>

/* One parameter's update; the scalar definition both kernels (and their AVX2 versions) follow. */
static inline void adam_one(float *p, float *m, float *v, float gi, float step, float b1, float b2, float a1,
                            float a2, float eps) {
    float mi = b1 * *m + a1 * gi;
    float vi = b2 * *v + (a2 * gi) * gi;
    *m = mi;
    *v = vi;
    *p -= (step * mi) / (sqrtf(vi) + eps);
}

/* Entries adam and adam_lazy (kernels.h): p, m, v, g [i0, i1). */
void gnf_adam_update_step_ref(float *p, float *m, float *v, const float *g, long i0, long i1, float step,
                          float b1, float b2, float eps) {
    for (long i = i0; i < i1; i++) adam_one(p + i, m + i, v + i, g[i], step, b1, b2, 1.0f - b1, 1.0f - b2, eps);
}

void gnf_adam_update_lazy_step_ref(float *p, float *m, float *v, const float *g, long i0, long i1, float step,
                               float b1, float b2, float eps) {
    for (long i = i0; i < i1; i++)
        if (g[i] != 0.0f) adam_one(p + i, m + i, v + i, g[i], step, b1, b2, 1.0f - b1, 1.0f - b2, eps);
}

/* Entry adam_idx (kernels.h): the lazy update of the C entries at each listed offset, then their
 * gradient reset to 0. */
void gnf_adam_idx_ref(float *p, float *m, float *v, float *g, const int32_t *off, long n, int C, float step,
                      float b1, float b2, float eps) {
    for (long j = 0; j < n; j++)
        for (long i = off[j]; i < off[j] + C; i++) {
            if (g[i] != 0.0f) adam_one(p + i, m + i, v + i, g[i], step, b1, b2, 1.0f - b1, 1.0f - b2, eps);
            g[i] = 0.0f;
        }
}

/* lr with Adam's bias correction at step t >= 1. */
static float corrected_step(float lr, float b1, float b2, long t) {
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    return (float)(lr * sqrt(c2) / c1);
}

void gnf_adam_update(float *p, float *m, float *v, const float *g, long i0, long i1, float lr,
                 float b1, float b2, float eps, long t) {
    gnf_kernels_active()->adam(p, m, v, g, i0, i1, corrected_step(lr, b1, b2, t), b1, b2, eps);
}

void gnf_adam_update_lazy(float *p, float *m, float *v, const float *g, long i0, long i1, float lr,
                      float b1, float b2, float eps, long t) {
    gnf_kernels_active()->adam_lazy(p, m, v, g, i0, i1, corrected_step(lr, b1, b2, t), b1, b2, eps);
}

void gnf_adam_update_idx(float *p, float *m, float *v, float *g, const int32_t *off, long n, int C, float lr,
                         float b1, float b2, float eps, long t) {
    gnf_kernels_active()->adam_idx(p, m, v, g, off, n, C, corrected_step(lr, b1, b2, t), b1, b2, eps);
}

float gnf_lr_exp_schedule(float lr0, float lr1, double progress) {
    if (progress < 0) progress = 0;
    if (progress > 1) progress = 1;
    return (float)(lr0 * pow((double)lr1 / lr0, progress));
}
