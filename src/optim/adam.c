/* adam.c — the optimiser: one flat loop over the parameter arena. */
#include "optim/adam.h"
#include "core/core.h"
#include <math.h>

void adam_update_step_ref(float *p, float *m, float *v, const float *g, long i0, long i1, float step,
                          float b1, float b2, float eps) {
    float a1 = 1.0f - b1, a2 = 1.0f - b2;
    for (long i = i0; i < i1; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + a1 * gi;
        float vi = b2 * v[i] + (a2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= (step * mi) / (sqrtf(vi) + eps);
    }
}

void adam_update(float *p, float *m, float *v, const float *g, long i0, long i1, float lr,
                 float b1, float b2, float eps, long t) {
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    float step = (float)(lr * sqrt(c2) / c1);
#ifndef GNF_NO_AVX2
    if (gnf_use_avx2()) {
        adam_update_avx2(p, m, v, g, i0, i1, step, b1, b2, eps);
        return;
    }
#endif
    adam_update_step_ref(p, m, v, g, i0, i1, step, b1, b2, eps);
}

void adam_update_lazy_step_ref(float *p, float *m, float *v, const float *g, long i0, long i1, float step,
                               float b1, float b2, float eps) {
    float a1 = 1.0f - b1, a2 = 1.0f - b2;
    for (long i = i0; i < i1; i++) {
        float gi = g[i];
        if (gi == 0.0f) continue;
        float mi = b1 * m[i] + a1 * gi;
        float vi = b2 * v[i] + (a2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= (step * mi) / (sqrtf(vi) + eps);
    }
}

void adam_update_lazy(float *p, float *m, float *v, const float *g, long i0, long i1, float lr,
                      float b1, float b2, float eps, long t) {
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    float step = (float)(lr * sqrt(c2) / c1);
#ifndef GNF_NO_AVX2
    if (gnf_use_avx2()) {
        adam_update_lazy_avx2(p, m, v, g, i0, i1, step, b1, b2, eps);
        return;
    }
#endif
    adam_update_lazy_step_ref(p, m, v, g, i0, i1, step, b1, b2, eps);
}

float lr_exp_schedule(float lr0, float lr1, double progress) {
    if (progress < 0) progress = 0;
    if (progress > 1) progress = 1;
    return (float)(lr0 * pow((double)lr1 / lr0, progress));
}
