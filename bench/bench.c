/* bench.c — kernel benchmarks: the fused RBF decoder (forward+backward) and the grid lookup,
 * scalar reference vs AVX2, one thread and all threads; rendering megapixels/s.
 * FLOPs per decoder training point use the nominal count, 10·D·K + 6·K·O (the nominal
 * work of forward+backward; our kernel executes ~9 vector ops per (d,k) pair), and are set
 * against the FP32 peak given with --peak (GFLOP/s; default 215, the 2-core dev machine).
 * usage: gnf_bench [--points N] [--reps R] [--peak G] [--D d] [--K k] */
#include "field/kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *f, *t, *c, *beta, *W, *w0;
    float *df, *gbuf, *work;
    long n, chunk;
    int D, K, O;
    double loss;
} dec_ctx;

static void dec_task(void *v, long task, int thread) {
    dec_ctx *e = v;
    long i0 = task * e->chunk, n = GNF_MIN(e->chunk, e->n - i0);
    long ng = 2L * e->D * e->K + (long)e->O * e->K + e->O;
    float *gb = e->gbuf + (long)thread * ng;
    rbf_grads g = {gb, gb + (long)e->D * e->K, gb + 2L * e->D * e->K, gb + 2L * e->D * e->K + (long)e->O * e->K,
                   e->work + (long)thread * gnf_rbf_work_floats(e->D, e->K)};
    double sq = 0;
    gnf_rbf_train(e->df + i0 * e->D, g, e->f + i0 * e->D, e->t + i0 * e->O, NULL, e->c, e->beta, e->W, e->w0, n, e->D, e->K, e->O,
              GNF_BASIS_GAUSSIAN, GNF_LOSS_L1, 1e-6f, &sq);
}

double bench_fma_peak_gflops(int threads);

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    long N = 65536;
    int reps = 9, D = 16, K = 64, O = 3;
    double peak = 215;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--points")) N = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--peak")) peak = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--D")) D = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--K")) K = atoi(argv[i + 1]);
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (reps < 1 || reps > 100 || N < 1 || D < 1 || K < 1 || K > 4096) { fprintf(stderr, "bad sizes\n"); return 2; }
    gnf_rng r;
    gnf_rng_seed(&r, 1, 1);
    float *f = gnf_calloc((size_t)(N * D), 4), *t = gnf_calloc((size_t)(N * O), 4), *df = gnf_calloc((size_t)(N * D), 4);
    float *c = gnf_calloc((size_t)(D * K), 4), *beta = gnf_calloc((size_t)(D * K), 4);
    float *W = gnf_calloc((size_t)(O * K), 4), *w0 = gnf_calloc((size_t)O, 4);
    int T = gnf_default_threads();
    long ng = 2L * D * K + (long)O * K + O;
    float *gbuf = gnf_calloc((size_t)(T * ng), 4);
    float *work = gnf_calloc((size_t)(T * gnf_rbf_work_floats(D, K)), 4);
    for (long i = 0; i < N * D; i++) f[i] = gnf_rng_uniform(&r) * 2 - 1;
    for (long i = 0; i < N * O; i++) t[i] = gnf_rng_uniform(&r);
    for (long i = 0; i < D * K; i++) { c[i] = gnf_rng_uniform(&r) * 2 - 1; beta[i] = 0.5f + gnf_rng_uniform(&r); }
    for (long i = 0; i < O * K; i++) W[i] = gnf_rng_uniform(&r) - 0.5f;
    double flop = 10.0 * D * K + 6.0 * K * O;
    double peak1 = 0, peakT = 0;
    if (gnf_cpu_has_avx2_fma()) {
        peak1 = bench_fma_peak_gflops(1);
        peakT = bench_fma_peak_gflops(T);
        printf("measured FP32 FMA peak: %.1f GFLOP/s on 1 thread, %.1f on %d threads (reference peak %.0f)\n", peak1, peakT, T, peak);
    }
    printf("decoder forward+backward, D=%d K=%d O=%d, %ld points, median of %d runs, %.0f nominal FLOP/point\n", D, K, O, N, reps, flop);
    printf("%-10s %7s %12s %10s %9s %14s\n", "kernel", "threads", "Mpoints/s", "GFLOP/s", "of peak", "of measured");
    for (int scalar = 1; scalar >= 0; scalar--) {
        gnf_set_force_scalar(scalar);
        const gnf_kernels *ran = gnf_kernels_rbf(K);   /* the kernel that runs for this K */
        if (!scalar && ran == &gnf_kernels_scalar) break;
        int tlist[2] = {1, T};
        for (int ti = 0; ti < (T > 1 ? 2 : 1); ti++) {
            double times[100];
            dec_ctx e = {f, t, c, beta, W, w0, df, gbuf, work, N, 2048, D, K, O, 0};
            for (int rep = 0; rep < reps; rep++) {
                double t0 = gnf_now();
                gnf_parallel_for((N + 2047) / 2048, tlist[ti], dec_task, &e);
                times[rep] = gnf_now() - t0;
            }
            double s = median(times, reps);
            double pps = (double)N / s, gf = pps * flop / 1e9;
            double pm = ti == 0 ? peak1 : peakT;
            printf("%-10s %7d %12.2f %10.1f %8.1f%% %13.1f%%\n", ran->name, tlist[ti], pps / 1e6, gf, 100 * gf / peak,
                   pm > 0 ? 100 * gf / pm : 0.0);
        }
    }
    gnf_set_force_scalar(0);

    /* grid lookup (encode) on the default image model */
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    gnf_model_config_for_params(&cfg, 140000, 256);
    gnf_model *m = NULL;
    if (gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) != GNF_OK) return 1;
    float *x = gnf_calloc((size_t)N * 2, 4), *F = gnf_calloc((size_t)(N * m->D), 4), *G = gnf_calloc((size_t)m->nparams, 4);
    for (long i = 0; i < 2 * N; i++) x[i] = gnf_rng_uniform(&r) * 2 - 1;
    printf("\ngrid lookup (forward), %d levels, D=%d, %ld points, one thread\n", cfg.levels, m->D, N);
    for (int scalar = 1; scalar >= 0; scalar--) {
        gnf_set_force_scalar(scalar);
        const gnf_kernels *ran = gnf_kernels_active();
        if (!scalar && ran == &gnf_kernels_scalar) break;
        double times[100];
        for (int rep = 0; rep < reps; rep++) {
            double t0 = gnf_now();
            gnf_grid_encode(F, m, m->params, x, N);
            times[rep] = gnf_now() - t0;
        }
        printf("%-10s %12.2f Mpoints/s\n", ran->name, (double)N / median(times, reps) / 1e6);
    }
    printf("grid scatter (backward), all levels, one thread\n");
    double times[100];
    for (int scalar = 1; scalar >= 0; scalar--) {
        gnf_set_force_scalar(scalar);
        const gnf_kernels *ran = gnf_kernels_active();
        if (!scalar && ran == &gnf_kernels_scalar) break;
        for (int rep = 0; rep < reps; rep++) {
            double t0 = gnf_now();
            for (int l = 0; l < cfg.levels; l++) gnf_grid_scatter_level(G, m, l, x, F, N, NULL);
            times[rep] = gnf_now() - t0;
        }
        printf("%-10s %12.2f Mpoints/s\n", ran->name, (double)N / median(times, reps) / 1e6);
    }
    gnf_set_force_scalar(0);

    /* rendering: a 1920x1080 frame of the same model */
    for (int rep = 0; rep < 5; rep++) {
        gnf_image img;
        double t0 = gnf_now();
        gnf_render_image(m, 1920, 1080, 0, &img);
        times[rep] = gnf_now() - t0;
        gnf_image_free(&img);
    }
    printf("\nrender 1920x1080, %d threads: %.1f Mpixel/s\n", T, 1920.0 * 1080 / median(times, 5) / 1e6);
    gnf_model_free(m);
    gnf_free(f); gnf_free(t); gnf_free(df); gnf_free(c); gnf_free(beta); gnf_free(W); gnf_free(w0);
    gnf_free(gbuf); gnf_free(work); gnf_free(x); gnf_free(F); gnf_free(G);
    return 0;
}
