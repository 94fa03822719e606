/* adam.h — Adam with bias correction and an exponential learning-rate schedule. */
#ifndef GNF_ADAM_H
#define GNF_ADAM_H

#include <stdint.h>

/* One Adam update of p[i0..i1) from gradients g, moments m and v (same layout), step t >= 1:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps).
 * Element-wise, so any split of the range over threads gives identical results. */
void gnf_adam_update(float *p, float *m, float *v, const float *g, long i0, long i1, float lr,
                 float b1, float b2, float eps, long t);

/* Lazy Adam for sparse gradients (hash-grid entries no sample touched): like gnf_adam_update, but
 * entries whose gradient is exactly 0 are left alone (parameter and both moments unchanged).
 * Both run the adam / adam_lazy entries of the active kernel table (field/kernels.h). */
void gnf_adam_update_lazy(float *p, float *m, float *v, const float *g, long i0, long i1, float lr,
                      float b1, float b2, float eps, long t);

/* Lazy Adam over a list (the sparse optimiser): the entries off[j] + c (j < n, c < C; offsets
 * distinct) of p, m, v, g get the update of gnf_adam_update_lazy — bit for bit, nothing when
 * the gradient is exactly 0 — and their gradient is then set to 0.  Runs the adam_idx entry. */
void gnf_adam_update_idx(float *p, float *m, float *v, float *g, const int32_t *off, long n, int C, float lr,
                         float b1, float b2, float eps, long t);

/* lr0 * (lr1/lr0)^progress, progress clamped to [0,1]. */
float gnf_lr_exp_schedule(float lr0, float lr1, double progress);

#endif
