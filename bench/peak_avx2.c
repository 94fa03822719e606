/* peak_avx2.c — measures this machine's FP32 FMA peak: 12 independent 8-lane FMA chains
 * (enough to cover latency × throughput on current x86 cores), 2 FLOPs per lane each. */
#include "core/core.h"
#include <immintrin.h>

double bench_fma_peak_gflops(int threads);

typedef struct { long iters; float out[256]; } peak_ctx;

static void peak_task(void *v, long task, int thread) {
    (void)thread;
    peak_ctx *p = v;
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < 12; j++) a[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < p->iters; i++) {
        _Pragma("GCC unroll 12")
        for (int j = 0; j < 12; j++) a[j] = _mm256_fmadd_ps(a[j], m, c);
    }
    __m256 s = a[0];
    for (int j = 1; j < 12; j++) s = _mm256_add_ps(s, a[j]);
    p->out[task % 256] = _mm256_cvtss_f32(s);
}

double bench_fma_peak_gflops(int threads) {
    peak_ctx p;
    p.iters = 20000000;
    int T = gnf_threads_resolve(threads);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = gnf_now();
        gnf_parallel_for(T, T, peak_task, &p);
        double dt = gnf_now() - t0;
        double gf = (double)T * (double)p.iters * 12 * 8 * 2 / dt / 1e9;
        if (gf > best) best = gf;
    }
    return best;
}
