/* bench.c — gnf_bench: kernel and training-step benchmarks, reported against this machine's
 * measured FP32 FMA peak so that numbers from different machines compare.
 *
 * What it measures (medians of --reps runs each, default 3, decoder runs after one warm-up run;
 * training steps: medians of min(reps, 3) fits of --steps-image 100 / --steps-sdf 25 steps):
 *   - the FP32 FMA peak on 1 thread and on all threads (bench/peak_avx2.c), at the start;
 *   - the fused RBF decoder, forward + loss + backward (gnf_rbf_train, L1 loss), at D ∈ {16, 32}
 *     × K ∈ {24, 32, 64} × O ∈ {1, 3, 49}, on 1 thread and on all threads, with the kernel that
 *     runs for K (K = 24 is not a multiple of 8: the scalar fallback); the scalar reference at
 *     D = 16, K = 64, O = 3 only;
 *   - the whole training step of an image model (the image recipe on data/kodim23_crop.png, the
 *     256×256 crop, --params 140000: 137,721 parameters, batch 8192) and of an SDF model (the SDF
 *     recipe for a short budget on --mesh, default a built-in torus; batch 16384), through
 *     gnf_fit_image / gnf_fit_sdf with a fixed step count: the library's points/s and its
 *     per-phase times (sample + grid lookup + decoder, grid scatter, Adam);
 *   - grid lookup and scatter of the image model (scalar vs AVX2, one thread), and rendering;
 *   - what a radiance-field occupancy refresh derives from the flags (the occupied box and coarse
 *     flags, the distance field the marcher skips by) on a 128³ grid shaped like a scene (a
 *     shell of occupied cells, 4% of the grid), on 1 thread and on all threads (cells/s).
 *
 * Nominal FLOPs per decoder point: 10·D·K + 6·K·O (forward: distance 3 per (d,k), head 2 per
 * (k,o); backward: 7 per (d,k), 4 per (k,o); the exponentials are not counted).  For a whole
 * training step the count is the decoder's alone, at the model's D, K, O: grid lookup, scatter,
 * sampling and Adam add work that is not counted, so a step's share of peak is a lower bound
 * of how busy the FMA units are.  "peak share" = nominal GFLOP/s / measured peak at the same
 * thread count.
 *
 * Every measurement also prints one machine-readable line (bench/run.sh pairs them by name and
 * threads across builds and rounds):
 *   RESULT name=NAME threads=T kernel=KERNEL mpts=MPOINTS_PER_S flop=NOMINAL_FLOP_PER_POINT
 *          gflops=G peak_share=FRACTION [dec_ms=.. scatter_ms=.. adam_ms=.. (per step)]
 *   RESULT name=peak threads=T gflops=G
 * (flop=0 and no share for kernels without a FLOP count: grid lookup/scatter, rendering.)
 *
 * usage: gnf_bench [--quick] [--reps R] [--points N] [--D d] [--K k] [--O o]
 *                  [--image PNG] [--mesh MESH] [--steps-image N] [--steps-sdf N] [--no-step]
 *   --quick       four decoder shapes, 50 / 12 training steps per fit
 *   --points N    decoder points per run (default: ~0.5 nominal GFLOP per run, 1/8 of it when the
 *                 scalar kernel runs)
 *   --D/--K/--O   only the decoder shapes with these values */
#include "field/kernels.h"
#include "tasks/nerf_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPS 100

double bench_fma_peak_gflops(int threads);

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int T;                 /* all threads */
static double peak_of[2];     /* measured peak, GFLOP/s: [0] one thread, [1] T threads */

/* One human-readable line and one RESULT line.  flop = 0: no FLOP count. */
static void report(const char *name, const char *kernel, int threads, double pps, double flop, double scaling,
                   const char *extra) {
    double gf = pps * flop / 1e9, pk = peak_of[threads > 1];
    printf("%-22s %-9s %7d %10.3f", name, kernel, threads, pps / 1e6);
    if (flop > 0) printf(" %9.2f %8.1f%%", gf, pk > 0 ? 100 * gf / pk : 0.0);
    else printf(" %9s %9s", "-", "-");
    if (scaling > 0) printf(" %7.2fx", scaling);
    printf("\n");
    printf("RESULT name=%s threads=%d kernel=%s mpts=%.5f flop=%.0f", name, threads, kernel, pps / 1e6, flop);
    if (flop > 0) printf(" gflops=%.4f peak_share=%.5f", gf, pk > 0 ? gf / pk : 0.0);
    printf("%s\n", extra ? extra : "");
}

static void header(const char *what) {
    printf("\n%s\n%-22s %-9s %7s %10s %9s %9s %8s\n", what, "name", "kernel", "threads", "Mpoints/s", "GFLOP/s",
           "of peak", "scaling");
}

/* ---- the fused decoder ------------------------------------------------------------------- */

typedef struct {
    const float *f, *t, *c, *beta, *W, *w0;
    float *df, *gbuf, *work;
    long n, chunk;
    int D, K, O;
} dec_ctx;

static void dec_task(void *v, long task, int thread) {
    dec_ctx *e = v;
    long i0 = task * e->chunk, n = GNF_MIN(e->chunk, e->n - i0);
    long dk = (long)e->D * e->K, ng = 2 * dk + (long)e->O * e->K + e->O;
    float *gb = e->gbuf + (long)thread * ng;
    rbf_grads g = {gb, gb + dk, gb + 2 * dk, gb + 2 * dk + (long)e->O * e->K,
                   e->work + (long)thread * gnf_rbf_work_floats(e->D, e->K)};
    double sq = 0;
    gnf_rbf_train(e->df + i0 * e->D, g, e->f + i0 * e->D, e->t + i0 * e->O, NULL, e->c, e->beta, e->W, e->w0, n, e->D,
                  e->K, e->O, GNF_BASIS_GAUSSIAN, GNF_LOSS_L1, 1e-6f, &sq);
}

/* Decoder forward+backward at one shape on 1 and T threads; scalar: the scalar reference. */
static void bench_decoder(int D, int K, int O, int scalar, long points, int reps) {
    gnf_set_force_scalar(scalar);
    const gnf_kernels *ran = gnf_kernels_rbf(K);   /* the kernel that runs for this K */
    double flop = 10.0 * D * K + 6.0 * K * O;
    const long chunk = 2048;
    long N = points > 0 ? points : (long)((ran == &gnf_kernels_scalar ? 6e7 : 5e8) / flop);
    N = GNF_MAX((N + chunk - 1) / chunk, 4L * T) * chunk;   /* whole chunks, >= 4 per thread */
    gnf_rng r;
    gnf_rng_seed(&r, 1, 1);
    long ng = 2L * D * K + (long)O * K + O;
    float *f = gnf_calloc((size_t)(N * D), 4), *t = gnf_calloc((size_t)(N * O), 4), *df = gnf_calloc((size_t)(N * D), 4);
    float *c = gnf_calloc((size_t)(D * K), 4), *beta = gnf_calloc((size_t)(D * K), 4);
    float *W = gnf_calloc((size_t)(O * K), 4), *w0 = gnf_calloc((size_t)O, 4);
    float *gbuf = gnf_calloc((size_t)(T * ng), 4), *work = gnf_calloc((size_t)T * (size_t)gnf_rbf_work_floats(D, K), 4);
    if (!f || !t || !df || !c || !beta || !W || !w0 || !gbuf || !work) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (long i = 0; i < N * D; i++) f[i] = gnf_rng_uniform(&r) * 2 - 1;
    for (long i = 0; i < N * O; i++) t[i] = gnf_rng_uniform(&r);
    for (long i = 0; i < D * K; i++) { c[i] = gnf_rng_uniform(&r) * 2 - 1; beta[i] = 0.5f + gnf_rng_uniform(&r); }
    for (long i = 0; i < O * K; i++) W[i] = gnf_rng_uniform(&r) - 0.5f;
    char name[64];
    snprintf(name, sizeof name, "dec_%sD%d_K%d_O%d", scalar ? "scalar_" : "", D, K, O);
    double pps1 = 0;
    for (int ti = 0; ti < (T > 1 ? 2 : 1); ti++) {
        int th = ti ? T : 1;
        dec_ctx e = {f, t, c, beta, W, w0, df, gbuf, work, N, chunk, D, K, O};
        double times[MAX_REPS];
        gnf_parallel_for(N / chunk, th, dec_task, &e);   /* warm-up */
        for (int rep = 0; rep < reps; rep++) {
            double t0 = gnf_now();
            gnf_parallel_for(N / chunk, th, dec_task, &e);
            times[rep] = gnf_now() - t0;
        }
        double pps = (double)N / median(times, reps);
        if (!ti) pps1 = pps;
        report(name, ran->name, th, pps, flop, ti ? pps / pps1 : 0, NULL);
    }
    gnf_set_force_scalar(0);
    gnf_free(f); gnf_free(t); gnf_free(df); gnf_free(c); gnf_free(beta); gnf_free(W); gnf_free(w0);
    gnf_free(gbuf); gnf_free(work);
}

/* ---- whole training steps ---------------------------------------------------------------- */

/* A torus (R 0.6, r 0.25), 48 × 24 quads as triangles, as OBJ text: the SDF mesh when none is
 * given.  Returns its length; buf must hold 64 KiB. */
static size_t torus_obj(char *buf, size_t cap) {
    const int nu = 48, nv = 24;
    size_t n = 0;
    for (int i = 0; i < nu; i++)
        for (int j = 0; j < nv; j++) {
            double u = 2 * M_PI * i / nu, v = 2 * M_PI * j / nv, rr = 0.6 + 0.25 * cos(v);
            n += (size_t)snprintf(buf + n, cap - n, "v %.5f %.5f %.5f\n", rr * cos(u), rr * sin(u), 0.25 * sin(v));
        }
    for (int i = 0; i < nu; i++)
        for (int j = 0; j < nv; j++) {
            int a = i * nv + j + 1, b = (i + 1) % nu * nv + j + 1, c = (i + 1) % nu * nv + (j + 1) % nv + 1,
                d = i * nv + (j + 1) % nv + 1;
            n += (size_t)snprintf(buf + n, cap - n, "f %d %d %d\nf %d %d %d\n", a, b, c, a, c, d);
        }
    return n;
}

typedef struct {
    const char *name;
    gnf_task task;
    gnf_recipe r;
    const gnf_image *img;
    const gnf_sdf_target *sdf;
} step_bench;

/* Runs steps training steps (fresh model each run, reps runs, no warm-up run) on 1 and T threads: the library's points/s,
 * the decoder's nominal share of peak and the per-phase times. */
static void bench_step(step_bench *s, long steps, int reps) {
    gnf_train_config tc = s->r.train;
    tc.steps = steps;
    tc.seconds = 0;
    tc.target_psnr = 0;
    tc.eval_every = 0;
    tc.progress = NULL;
    double pps1 = 0;
    for (int ti = 0; ti < (T > 1 ? 2 : 1); ti++) {
        tc.threads = ti ? T : 1;
        double pps[MAX_REPS], ph[3][MAX_REPS], flop = 0;
        const char *kname = "";
        for (int rep = 1; rep <= reps; rep++) {
            gnf_model *m = NULL;
            gnf_train_report rp;
            memset(&rp, 0, sizeof rp);
            if (gnf_model_create(&s->r.model, s->task, &m) != GNF_OK ||
                (s->task == GNF_TASK_IMAGE ? gnf_fit_image(m, s->img, &tc, &rp) : gnf_fit_sdf(m, s->sdf, &tc, 0, &rp)) != GNF_OK) {
                fprintf(stderr, "%s: %s\n", s->name, gnf_last_error());
                gnf_model_free(m);
                return;
            }
            flop = 10.0 * m->D * m->cfg.rbf_k + 6.0 * m->cfg.rbf_k * m->cfg.out_dim;
            kname = gnf_kernels_rbf(m->cfg.rbf_k)->name;
            pps[rep - 1] = rp.points_per_s;
            for (int p = 0; p < 3; p++) ph[p][rep - 1] = 1e3 * rp.phase_s[4 + p] / (double)GNF_MAX(rp.steps, 1L);
            if (rep == 1 && ti == 0)
                printf("%s: %ld parameters, D=%d K=%d O=%d, batch %ld, %ld steps per run\n", s->name, gnf_model_param_count(m),
                       m->D, m->cfg.rbf_k, m->cfg.out_dim, tc.batch, steps);
            gnf_model_free(m);
        }
        char extra[160];
        double dec = median(ph[0], reps), sca = median(ph[1], reps), ada = median(ph[2], reps), p = median(pps, reps);
        snprintf(extra, sizeof extra, " dec_ms=%.3f scatter_ms=%.3f adam_ms=%.3f", dec, sca, ada);
        if (!ti) pps1 = p;
        report(s->name, kname, tc.threads, p, flop, ti ? p / pps1 : 0, extra);
        printf("%22s per step: sample+lookup+decoder %.2f ms, scatter %.2f ms, adam %.2f ms\n", "", dec, sca, ada);
    }
}

static void bench_steps(const char *image, const char *mesh, long steps_image, long steps_sdf, int reps) {
    header("whole training steps (library report; FLOPs: the decoder's nominal count only)");
    gnf_image img;
    if (gnf_image_load(image, &img, NULL) != GNF_OK) {
        fprintf(stderr, "image step: %s\n", gnf_last_error());
    } else {
        step_bench s = {.name = "step_image", .task = GNF_TASK_IMAGE, .img = &img};
        gnf_recipe_input in = {img.w, img.h, img.c, steps_image, 0, 140000};
        if (gnf_recipe_for(GNF_TASK_IMAGE, NULL, &in, &s.r) == GNF_OK) bench_step(&s, steps_image, reps);
        else fprintf(stderr, "image recipe: %s\n", gnf_last_error());
        gnf_image_free(&img);
    }
    step_bench s = {.name = "step_sdf", .task = GNF_TASK_SDF};
    gnf_recipe_input in = {0, 0, 0, steps_sdf, 0, 0};
    if (gnf_recipe_for(GNF_TASK_SDF, NULL, &in, &s.r) != GNF_OK) { fprintf(stderr, "sdf recipe: %s\n", gnf_last_error()); return; }
    s.r.sdf.samples = 1L << 17;   /* the pool's size does not change a step's cost */
    s.r.sdf.threads = T;
    gnf_sdf_target *t = NULL;
    gnf_status st;
    if (mesh && *mesh) {
        st = gnf_sdf_target_create(mesh, &s.r.sdf, &t);
    } else {
        static char obj[65536];
        size_t n = torus_obj(obj, sizeof obj);
        st = gnf_sdf_target_create_from_memory(obj, n, "torus.obj", &s.r.sdf, &t);
    }
    if (st != GNF_OK) { fprintf(stderr, "sdf step: %s\n", gnf_last_error()); return; }
    printf("sdf mesh: %s\n", mesh && *mesh ? mesh : "built-in torus (48x24 quads; no --mesh given)");
    s.sdf = t;
    bench_step(&s, steps_sdf, reps);
    gnf_sdf_target_free(t);
}

/* ---- grid lookup, scatter, rendering ----------------------------------------------------- */

static void bench_grid_render(int reps) {
    const long N = 65536;
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    gnf_model_config_for_params(&cfg, 140000, 256);
    gnf_model *m = NULL;
    if (gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) != GNF_OK) { fprintf(stderr, "%s\n", gnf_last_error()); exit(1); }
    gnf_rng r;
    gnf_rng_seed(&r, 1, 2);
    float *x = gnf_calloc((size_t)N * 2, 4), *F = gnf_calloc((size_t)(N * m->D), 4), *G = gnf_calloc((size_t)m->nparams, 4);
    if (!x || !F || !G) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (long i = 0; i < 2 * N; i++) x[i] = gnf_rng_uniform(&r) * 2 - 1;
    header("grid lookup (all levels) and scatter (all levels) of the image model, one thread");
    double times[MAX_REPS];
    for (int scatter = 0; scatter < 2; scatter++)
        for (int scalar = 1; scalar >= 0; scalar--) {
            gnf_set_force_scalar(scalar);
            const gnf_kernels *ran = gnf_kernels_active();
            if (!scalar && ran == &gnf_kernels_scalar) break;
            for (int rep = 0; rep < reps; rep++) {
                double t0 = gnf_now();
                if (scatter)
                    for (int l = 0; l < cfg.levels; l++) gnf_grid_scatter_level(G, m, l, x, F, N, NULL);
                else
                    gnf_grid_encode(F, m, m->params, x, N);
                times[rep] = gnf_now() - t0;
            }
            static const char *names[2][2] = {{"grid_lookup", "grid_lookup_scalar"}, {"grid_scatter", "grid_scatter_scalar"}};
            report(names[scatter][scalar], ran->name, 1, (double)N / median(times, reps), 0, 0, NULL);
        }
    gnf_set_force_scalar(0);
    header("rendering a 1920x1080 frame of the image model (Mpixel/s)");
    for (int rep = 0; rep < 5; rep++) {
        gnf_image img;
        double t0 = gnf_now();
        gnf_render_image(m, 1920, 1080, 0, &img);
        times[rep] = gnf_now() - t0;
        gnf_image_free(&img);
    }
    report("render_1080p", gnf_kernel_name(), T, 1920.0 * 1080 / median(times, 5), 0, 0, NULL);
    gnf_model_free(m);
    gnf_free(x); gnf_free(F); gnf_free(G);
}

static void bench_occupancy(int reps) {
    const int G = 128;
    const long G3 = (long)G * G * G;
    nerf_space sp = {1.5f, 0.005f, 25.0f, G, gnf_calloc((size_t)G3, 1), NULL, {0}, {0}};
    if (!sp.occ) { fprintf(stderr, "out of memory\n"); exit(1); }
    long nocc = 0;
    for (long i = 0; i < G3; i++) {   /* a shell 0.30-0.32 G from the centre */
        const double x = (double)(i % G) - G / 2 + 0.5, y = (double)((i / G) % G) - G / 2 + 0.5, z = (double)(i / G / G) - G / 2 + 0.5;
        const double rr = sqrt(x * x + y * y + z * z);
        sp.occ[i] = rr > 0.30 * G && rr < 0.32 * G;
        nocc += sp.occ[i];
    }
    char head[160];
    snprintf(head, sizeof head, "radiance-field occupancy: box + coarse flags, distance field (128^3 cells, %.1f%% occupied; Mcells/s)",
             100.0 * (double)nocc / (double)G3);
    header(head);
    double times[MAX_REPS], t1 = 0;
    for (int which = 0; which < 2; which++)
        for (int ti = 0; ti < (T > 1 ? 2 : 1); ti++) {
            const int th = ti ? T : 1;
            for (int rep = 0; rep < reps; rep++) {
                double t0 = gnf_now();
                unsigned char *d = NULL;
                gnf_status st = which ? gnf_nerf_distance_field(&sp, th, &d) : gnf_nerf_space_update_coarse(&sp, th);
                times[rep] = gnf_now() - t0;
                gnf_free(d);
                if (st != GNF_OK) { fprintf(stderr, "%s\n", gnf_last_error()); exit(1); }
            }
            const double med = median(times, reps);
            char extra[64];
            snprintf(extra, sizeof extra, " ms=%.3f", 1e3 * med);
            if (!ti) t1 = med;   /* the one-thread median, for the scaling column */
            report(which ? "nerf_distance_field" : "nerf_coarse_flags", "-", th, (double)G3 / med, 0,
                   ti ? t1 / med : 0, extra);
        }
    gnf_free(sp.coarse);
    gnf_free(sp.occ);
}

int main(int argc, char **argv) {
    long points = 0, steps_image = 100, steps_sdf = 25;
    int reps = 3, quick = 0, only_D = 0, only_K = 0, only_O = 0, no_step = 0;
    const char *image = "data/kodim23_crop.png", *mesh = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) { quick = 1; continue; }
        if (!strcmp(a, "--no-step")) { no_step = 1; continue; }
        if (!v) { fprintf(stderr, "%s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--points")) points = atol(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--D")) only_D = atoi(v);
        else if (!strcmp(a, "--K")) only_K = atoi(v);
        else if (!strcmp(a, "--O")) only_O = atoi(v);
        else if (!strcmp(a, "--image")) image = v;
        else if (!strcmp(a, "--mesh")) mesh = v;
        else if (!strcmp(a, "--steps-image")) steps_image = atol(v);
        else if (!strcmp(a, "--steps-sdf")) steps_sdf = atol(v);
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
    }
    if (quick) { steps_image = GNF_MIN(steps_image, 50L); steps_sdf = GNF_MIN(steps_sdf, 12L); }
    if (reps < 1 || reps > MAX_REPS || points < 0 || only_D < 0 || only_K < 0 || only_K > 4096 || only_O < 0 ||
        only_O > 64 || steps_image < 1 || steps_sdf < 1) {
        fprintf(stderr, "bad sizes\n");
        return 2;
    }
    T = gnf_default_threads();
    if (gnf_cpu_has_avx2_fma()) {
        peak_of[0] = bench_fma_peak_gflops(1);
        peak_of[1] = T > 1 ? bench_fma_peak_gflops(T) : peak_of[0];
    }
    printf("measured FP32 FMA peak: %.1f GFLOP/s on 1 thread, %.1f on %d threads; kernels %s\n", peak_of[0], peak_of[1], T,
           gnf_kernel_name());
    printf("RESULT name=peak threads=1 gflops=%.3f\n", peak_of[0]);
    if (T > 1) printf("RESULT name=peak threads=%d gflops=%.3f\n", T, peak_of[1]);

    header("decoder forward+backward (gnf_rbf_train, L1), nominal FLOP/point 10*D*K + 6*K*O");
    static const int full[][3] = {{16, 64, 3}, {16, 32, 1}, {16, 32, 3}, {16, 32, 49}, {16, 64, 1}, {16, 64, 49},
                                  {32, 32, 1}, {32, 32, 3}, {32, 32, 49}, {32, 64, 1}, {32, 64, 3}, {32, 64, 49},
                                  {16, 24, 1}, {16, 24, 3}, {16, 24, 49}, {32, 24, 1}, {32, 24, 3}, {32, 24, 49}};
    static const int short_list[][3] = {{16, 64, 3}, {32, 64, 1}, {32, 32, 49}, {16, 24, 1}};
    int nshapes = quick ? 4 : (int)(sizeof full / sizeof full[0]);
    int ran_any = 0;
    for (int i = 0; i < nshapes; i++) {
        const int *s = quick ? short_list[i] : full[i];
        if ((only_D && s[0] != only_D) || (only_K && s[1] != only_K) || (only_O && s[2] != only_O)) continue;
        bench_decoder(s[0], s[1], s[2], 0, points, reps);
        ran_any = 1;
    }
    if (!ran_any && only_D && only_K) bench_decoder(only_D, only_K, only_O ? only_O : 3, 0, points, reps);   /* another shape */
    bench_decoder(16, 64, 3, 1, points, reps);   /* the scalar reference, one shape */

    if (!no_step) bench_steps(image, mesh, steps_image, steps_sdf, GNF_MIN(reps, 3));
    bench_grid_render(reps);
    bench_occupancy(reps);
    return 0;
}
