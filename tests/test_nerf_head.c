/* test_nerf_head.c — the radiance-field head (SH basis, density, colour) and per-ray volume
 * rendering.  Compositing is compared with a brute-force reference written plainly in double
 * (every transmittance recomputed from scratch, O(n^2)); the backward pass with central finite
 * differences of that reference, for all 49 outputs of several samples per ray. */
#include "field/nerf_head.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

static const float T_MIN = 1e-4f;

/* ---- the brute-force reference ------------------------------------------------------------ */

static double ref_softplus(double v) { return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)); }
static double ref_sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

typedef struct {
    double rgb[3], opacity, depth, T_end;
    long n_used;
    double margin; /* min over composited i of |ln T_{i+1} - ln t_min|: distance to a flip */
} ref_result;

/* One ray, everything from scratch in double.  y [n][ys] (double so it can be perturbed finely),
 * w [n] (optional) receives the weights.  T_i is recomputed as a product for every i. */
static ref_result ref_ray(double *w, const double *y, long ys, const float *Y16, const double *dt,
                          const double *t, long n, const double bg[3], double t_min) {
    ref_result r = {{0, 0, 0}, 0, 0, 1, 0, INFINITY};
    /* optical thickness and 1 - alpha per sample */
    double *tau = malloc(sizeof(double) * (size_t)(2 * n + 1)), *keep = tau + n;
    for (long i = 0; i < n; i++) {
        tau[i] = ref_softplus(y[i * ys] - 10.0) * dt[i];
        keep[i] = exp(-tau[i]);
    }
    for (long i = 0; i < n; i++) {
        double Ti = 1, Tn = 1;
        for (long j = 0; j <= i; j++) {
            if (j < i) Ti *= keep[j];
            Tn *= keep[j];
        }
        double alpha = -expm1(-tau[i]);
        double wi = Ti * alpha;
        if (w) w[i] = wi;
        for (int c = 0; c < 3; c++) {
            double z = 0;
            for (int j = 0; j < 16; j++) z += (double)Y16[j] * y[i * ys + 1 + 16 * c + j];
            r.rgb[c] += wi * ref_sigmoid(z);
        }
        if (t) r.depth += wi * t[i];
        r.n_used = i + 1;
        r.T_end = Tn;
        if (t_min > 0) {
            double m = fabs(log(Tn) - log(t_min));
            if (m < r.margin) r.margin = m;
        }
        if (Tn < t_min) break;
    }
    for (int c = 0; c < 3; c++) r.rgb[c] += r.T_end * bg[c];
    r.opacity = 1 - r.T_end;
    free(tau);
    return r;
}

static double ref_loss(const double *y, long ys, const float *Y16, const double *dt, long n,
                       const double bg[3], const double target[3], double t_min, long *n_used) {
    ref_result r = ref_ray(NULL, y, ys, Y16, dt, NULL, n, bg, t_min);
    if (n_used) *n_used = r.n_used;
    double L = 0;
    for (int c = 0; c < 3; c++) L += (r.rgb[c] - target[c]) * (r.rgb[c] - target[c]);
    return L;
}

/* ---- random rays --------------------------------------------------------------------------- */

enum { YS = 52, DYS = 50 }; /* row strides > 49 so stride handling is exercised */
static const long ns[] = {1, 2, 7, 64, 300}; /* the ray lengths tried */

typedef struct {
    long n;
    float *y, *dt, *t, Y16[16], bg[3], target[3];
    double *yd, *dtd, *td, bgd[3], targetd[3];
} ray;

/* mode 0: thin medium (no termination at n <= 300); 1: thick (terminates on long rays);
 * 2: thick with some empty samples.  Values stored as float, copied exactly to double. */
static void ray_make(ray *R, long n, int mode, gnf_rng *r) {
    R->n = n;
    R->y = calloc((size_t)(n * YS + 1), sizeof(float));
    R->dt = calloc((size_t)n + 1, sizeof(float));
    R->t = calloc((size_t)n + 1, sizeof(float));
    R->yd = calloc((size_t)(n * YS + 1), sizeof(double));
    R->dtd = calloc((size_t)n + 1, sizeof(double));
    R->td = calloc((size_t)n + 1, sizeof(double));
    float d[3];
    test_rand_dir(r, d);
    gnf_nerf_sh16(R->Y16, d);
    float tt = test_urand(r, 0.5f, 1.0f);
    for (long i = 0; i < n; i++) {
        float *yi = R->y + i * YS;
        if (mode == 0) {
            yi[0] = test_urand(r, -5, 9);
            R->dt[i] = test_urand(r, 0.001f, 0.05f);
        } else {
            yi[0] = (mode == 2 && gnf_rng_uniform(r) < 0.3f) ? test_urand(r, -40, -10) : test_urand(r, 5, 16);
            R->dt[i] = test_urand(r, 0.01f, 0.2f);
        }
        for (int k = 1; k < NERF_OUT; k++) yi[k] = test_urand(r, -1.5f, 1.5f);
        for (int k = NERF_OUT; k < YS; k++) yi[k] = NAN; /* padding must never be read */
        R->t[i] = tt;
        tt += test_urand(r, 0.005f, 0.03f);
    }
    for (int c = 0; c < 3; c++) {
        R->bg[c] = c == 1 ? 1.0f : test_urand(r, 0, 1);
        R->target[c] = test_urand(r, 0, 1);
        R->bgd[c] = R->bg[c];
        R->targetd[c] = R->target[c];
    }
    for (long i = 0; i < n * YS; i++) R->yd[i] = R->y[i];
    for (long i = 0; i < n; i++) { R->dtd[i] = R->dt[i]; R->td[i] = R->t[i]; }
}

static void ray_free(ray *R) {
    free(R->y); free(R->dt); free(R->t); free(R->yd); free(R->dtd); free(R->td);
}

/* Field by field (the struct has padding, so no memcmp). */
static int same_result(const nerf_ray_result *a, const nerf_ray_result *b) {
    return a->rgb[0] == b->rgb[0] && a->rgb[1] == b->rgb[1] && a->rgb[2] == b->rgb[2] &&
           a->opacity == b->opacity && a->depth == b->depth && a->n_used == b->n_used;
}

/* ---- spherical harmonics ----------------------------------------------------------------- */

TEST(nerf_head_sh_orthonormal) {
    /* Midpoint rule in theta (NT points) times the uniform rule in phi (NP points, exact for
     * the trigonometric polynomials of degree <= 3 here): error ~1e-5. */
    enum { NT = 400, NP = 32 };
    double G[16][16] = {{0}};
    for (int a = 0; a < NT; a++) {
        double th = (a + 0.5) * M_PI / NT, wt = sin(th) * (M_PI / NT) * (2 * M_PI / NP);
        for (int b = 0; b < NP; b++) {
            double ph = (b + 0.25) * 2 * M_PI / NP;
            float d[3] = {(float)(sin(th) * cos(ph)), (float)(sin(th) * sin(ph)), (float)cos(th)}, Y[16];
            gnf_nerf_sh16(Y, d);
            for (int i = 0; i < 16; i++)
                for (int j = 0; j < 16; j++) G[i][j] += wt * Y[i] * Y[j];
        }
    }
    double worst = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            double e = fabs(G[i][j] - (i == j));
            if (e > worst) worst = e;
            CHECK_MSG(e < 1e-4, "<Y%d, Y%d> = %.7f", i, j, G[i][j]);
        }
    CHECK(worst < 1e-4);
}

TEST(nerf_head_sh_known_values) {
    float Y[16];
    /* d = +z: only the m = 0 functions survive, Y_l0 = sqrt((2l+1)/4pi). */
    float dz[3] = {0, 0, 1};
    gnf_nerf_sh16(Y, dz);
    for (int j = 0; j < 16; j++) {
        double want = j == 0 ? 0.28209479177387814 : j == 2 ? 0.4886025119029199
                    : j == 6 ? sqrt(5 / (4 * M_PI)) : j == 12 ? sqrt(7 / (4 * M_PI)) : 0.0;
        CHECK_NEAR(Y[j], want, 1e-6);
    }
    /* d = +x and d = +y: the svox2 signs. */
    float dx[3] = {1, 0, 0};
    gnf_nerf_sh16(Y, dx);
    CHECK_NEAR(Y[1], 0, 1e-7);
    CHECK_NEAR(Y[3], -0.4886025119029199, 1e-7);
    CHECK_NEAR(Y[6], -0.31539156525252005, 1e-7);
    CHECK_NEAR(Y[8], 0.5462742152960396, 1e-7);
    CHECK_NEAR(Y[13], 0.4570457994644658, 1e-7);
    CHECK_NEAR(Y[15], -0.5900435899266435, 1e-7);
    float dy[3] = {0, 1, 0};
    gnf_nerf_sh16(Y, dy);
    CHECK_NEAR(Y[1], -0.4886025119029199, 1e-7);
    CHECK_NEAR(Y[8], -0.5462742152960396, 1e-7);
    CHECK_NEAR(Y[9], 0.5900435899266435, 1e-7);
    CHECK_NEAR(Y[11], 0.4570457994644658, 1e-7);
    /* A diagonal: Y4 = C2[0] xy, Y10 = C3[1] xyz. */
    float s = 1.0f / sqrtf(3.0f), dd[3] = {s, s, s};
    gnf_nerf_sh16(Y, dd);
    CHECK_NEAR(Y[4], 1.0925484305920792 / 3, 1e-6);
    CHECK_NEAR(Y[10], 2.890611442640554 / (3 * sqrt(3.0)), 1e-6);
    CHECK_NEAR(Y[12], 0.3731763325901154 * s * (2.0 / 3 - 2.0), 1e-6);
}

TEST(nerf_head_sh_colour) {
    gnf_rng r;
    gnf_rng_seed(&r, 11, 1);
    for (int it = 0; it < 50; it++) {
        float d[3], Y[16], y[NERF_OUT], rgb[3];
        test_rand_dir(&r, d);
        gnf_nerf_sh16(Y, d);
        for (int k = 0; k < NERF_OUT; k++) y[k] = test_urand(&r, -3, 3);
        gnf_nerf_sh_colour(rgb, y, Y);
        for (int c = 0; c < 3; c++) {
            double z = 0;
            for (int j = 0; j < 16; j++) z += (double)Y[j] * y[1 + 16 * c + j];
            CHECK_NEAR(rgb[c], ref_sigmoid(z), 1e-6);
        }
    }
    /* Saturated: no NaN, exactly 0 and 1 at the ends. */
    float Y[16], y[NERF_OUT] = {0}, rgb[3], dz[3] = {0, 0, 1};
    gnf_nerf_sh16(Y, dz);
    y[1] = 1e4f;
    y[17] = -1e4f;
    gnf_nerf_sh_colour(rgb, y, Y);
    CHECK(rgb[0] == 1.0f && rgb[1] == 0.0f && rgb[2] == 0.5f);
}

/* ---- density ------------------------------------------------------------------------------ */

TEST(nerf_head_density) {
    const float xs[] = {-1000, -200, -80, -50, -20, -10, -5, -1, 0, 1, 5, 9.5f, 10, 10.5f, 15, 20,
                        30, 60, 200, 1000};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        float x = xs[i];
        double want = ref_softplus((double)x - 10.0), dwant = ref_sigmoid((double)x - 10.0);
        float s = gnf_nerf_density(x), ds = gnf_nerf_density_grad(x);
        CHECK_MSG(isfinite(s) && isfinite(ds) && s >= 0 && ds >= 0 && ds <= 1, "y0 %g: %g %g", x, s, ds);
        /* relative accuracy wherever the value is a normal float (fast exp flushes below e^-87) */
        CHECK_MSG(fabs(s - want) <= 2e-6 * want + 1e-37, "softplus(%g): %.9g vs %.9g", x - 10, s, want);
        CHECK_MSG(fabs(ds - dwant) <= 2e-6 * dwant + 1e-37, "sigmoid(%g): %.9g vs %.9g", x - 10, ds, dwant);
        /* derivative vs central differences of gnf_nerf_density itself */
        if (fabsf(x) < 100) {
            float h = 1e-2f;
            double fd = ((double)gnf_nerf_density(x + h) - gnf_nerf_density(x - h)) / (2.0 * h);
            CHECK_MSG(fabs(fd - ds) <= 1e-3 * ds + 1e-6, "y0 %g: grad %.7g fd %.7g", x, ds, fd);
        }
    }
    CHECK(gnf_nerf_density(1000) == 990.0f);
    CHECK(gnf_nerf_density(-1000) == 0.0f);
    CHECK(gnf_nerf_density_grad(1000) == 1.0f);
    CHECK(gnf_nerf_density_grad(-1000) == 0.0f);
    CHECK(isfinite(gnf_nerf_density(3e38f)) && isfinite(gnf_nerf_density(-3e38f)));
    /* the batch version: the same bits */
    float batch[sizeof xs / sizeof xs[0]];
    gnf_nerf_density_n(batch, xs, (long)(sizeof xs / sizeof xs[0]));
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) CHECK(batch[i] == gnf_nerf_density(xs[i]));
}

/* ---- compositing vs the reference ---------------------------------------------------------- */

TEST(nerf_head_composite_reference) {
    gnf_rng r;
    gnf_rng_seed(&r, 21, 2);
    int terminated = 0, checked = 0;
    double worst_rgb = 0, worst_depth = 0;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int mode = 0; mode < 3; mode++)
            for (int rep = 0; rep < 6; rep++) {
                ray R;
                ray_make(&R, ns[a], mode, &r);
                float tmin = rep == 5 ? 0.0f : T_MIN; /* one ray per set never terminates */
                ref_result ref = ref_ray(NULL, R.yd, YS, R.Y16, R.dtd, R.td, R.n, R.bgd, tmin);
                if (ref.margin < 1e-3) { ray_free(&R); continue; } /* too close to a flip */
                nerf_ray_result o;
                gnf_nerf_composite(&o, R.y, YS, R.Y16, R.dt, R.t, R.n, R.bg, tmin);
                CHECK_EQ_INT(o.n_used, ref.n_used);
                for (int c = 0; c < 3; c++) {
                    double e = fabs(o.rgb[c] - ref.rgb[c]);
                    if (e > worst_rgb) worst_rgb = e;
                    CHECK_MSG(e < 1e-5, "n %ld mode %d: rgb[%d] %.9g vs %.9g", R.n, mode, c, o.rgb[c], ref.rgb[c]);
                }
                CHECK_NEAR(o.opacity, ref.opacity, 1e-6);
                double ed = fabs(o.depth - ref.depth) / (1 + R.td[R.n - 1]);
                if (ed > worst_depth) worst_depth = ed;
                CHECK_MSG(ed < 1e-5, "n %ld mode %d: depth %.9g vs %.9g", R.n, mode, o.depth, ref.depth);
                nerf_ray_result o2;
                gnf_nerf_composite(&o2, R.y, YS, R.Y16, R.dt, NULL, R.n, R.bg, tmin);
                CHECK(o2.depth == 0.0f && o2.rgb[0] == o.rgb[0] && o2.n_used == o.n_used);
                /* the backward pass reports the same forward result, bit for bit */
                float *dy = calloc((size_t)(R.n * DYS), sizeof(float));
                nerf_ray_result o3;
                float L = gnf_nerf_composite_backward(dy, DYS, &o3, R.y, YS, R.Y16, R.dt, R.t, R.n, R.bg,
                                                  R.target, 1.0f, tmin);
                CHECK(same_result(&o3, &o));
                double Lref = 0;
                for (int c = 0; c < 3; c++) Lref += (ref.rgb[c] - R.targetd[c]) * (ref.rgb[c] - R.targetd[c]);
                CHECK_NEAR(L, Lref, 2e-5 * Lref + 1e-6);
                free(dy);
                terminated += ref.n_used < R.n;
                checked++;
                ray_free(&R);
            }
    CHECK_MSG(checked >= 80 && terminated >= 15, "%d rays checked, %d terminated", checked, terminated);
    printf("    (%d rays, %d terminated early; worst |rgb err| %.2g, depth %.2g)\n", checked, terminated,
           worst_rgb, worst_depth);
}

/* ---- gradients ------------------------------------------------------------------------------ */

TEST(nerf_head_backward_gradcheck) {
    gnf_rng r;
    gnf_rng_seed(&r, 31, 3);
    int rays = 0, terminated = 0, bad = 0;
    long checked = 0;
    double worst = 0;
    const float scale = 0.7f;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int mode = 0; mode < 3; mode++)
            for (int rep = 0; rep < 3; rep++) {
                ray R;
                ray_make(&R, ns[a], mode, &r);
                ref_result ref = ref_ray(NULL, R.yd, YS, R.Y16, R.dtd, NULL, R.n, R.bgd, T_MIN);
                if (ref.margin < 1e-2) { ray_free(&R); continue; } /* FD would cross the threshold */
                float *dy = malloc(sizeof(float) * (size_t)(R.n * DYS));
                for (long i = 0; i < R.n * DYS; i++) dy[i] = 123.0f;
                nerf_ray_result o;
                gnf_nerf_composite_backward(dy, DYS, &o, R.y, YS, R.Y16, R.dt, NULL, R.n, R.bg, R.target, scale, T_MIN);
                CHECK_EQ_INT(o.n_used, ref.n_used);
                /* padding untouched, rows after termination exactly zero */
                for (long i = 0; i < R.n; i++) {
                    CHECK(dy[i * DYS + 49] == 123.0f);
                    if (i >= o.n_used)
                        for (int k = 0; k < NERF_OUT; k++) CHECK(dy[i * DYS + k] == 0.0f);
                }
                /* samples to probe: first, middle, last composited, first ignored, last */
                long probe[5] = {0, (o.n_used - 1) / 2, o.n_used - 1, o.n_used < R.n ? o.n_used : -1, R.n - 1};
                for (int p = 0; p < 5; p++) {
                    long i = probe[p];
                    if (i < 0 || (p > 0 && i == probe[p - 1])) continue;
                    for (int k = 0; k < NERF_OUT; k++) {
                        double *v = &R.yd[i * YS + k], keep = *v, h = 1e-4;
                        long up, um;
                        *v = keep + h;
                        double lp = ref_loss(R.yd, YS, R.Y16, R.dtd, R.n, R.bgd, R.targetd, T_MIN, &up);
                        *v = keep - h;
                        double lm = ref_loss(R.yd, YS, R.Y16, R.dtd, R.n, R.bgd, R.targetd, T_MIN, &um);
                        *v = keep;
                        CHECK(up == o.n_used && um == o.n_used);
                        double num = scale * (lp - lm) / (2 * h), ana = dy[i * DYS + k];
                        double err = fabs(num - ana);
                        if (err / (fabs(num) + 1e-3) > worst) worst = err / (fabs(num) + 1e-3);
                        checked++;
                        if (err > 2e-4 * fabs(num) + 1e-7 && bad++ < 8)
                            test_fail(__FILE__, __LINE__, "n %ld mode %d sample %ld out %d: analytic %.7g numeric %.7g",
                                      R.n, mode, i, k, ana, num);
                    }
                }
                terminated += o.n_used < R.n;
                rays++;
                free(dy);
                ray_free(&R);
            }
    CHECK_MSG(rays >= 40 && terminated >= 6, "%d rays, %d terminated", rays, terminated);
    printf("    (%d rays, %d terminated early, %ld derivatives; worst err/(|num|+1e-3) %.2g)\n", rays,
           terminated, checked, worst);
}

/* Training through the activations: compositing from given colours with the factored gradient
 * (gnf_nerf_composite_backward_rgb) gives the 49-output gradient of gnf_nerf_composite_backward
 * (dL/dy_{1+16c+j} = dL/dz_c Y16_j), and the 4-row decoder backward (gnf_nerf_head_backward) gives
 * gnf_rbf_train's 49-row df and decoder gradients from it, on the rays of every mode and length. */
static double rel_diff(const float *a, const float *b, long n) {
    double worst = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + 1e-4);
        if (!(d <= worst)) worst = d;   /* NaN counts as worst */
    }
    return worst;
}

TEST(nerf_head_factored_matches_full) {
    enum { D = 8, K = 24 };
    gnf_rng r;
    gnf_rng_seed(&r, 77, 5);
    float c[D * K], beta[D * K], W[NERF_OUT * K], w0[NERF_OUT];
    for (int i = 0; i < D * K; i++) { c[i] = test_urand(&r, -1, 1); beta[i] = test_urand(&r, 0.5f, 3); }
    for (int i = 0; i < NERF_OUT * K; i++) W[i] = test_urand(&r, -1, 1);
    for (int i = 0; i < NERF_OUT; i++) w0[i] = test_urand(&r, -0.5f, 0.5f);
    const long wf = gnf_rbf_work_floats(D, K);
    float *work = malloc(sizeof(float) * (size_t)wf);
    double worst_dy = 0, worst_dec = 0;
    int rays = 0;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int mode = 0; mode < 3; mode++) {
            ray R;
            ray_make(&R, ns[a], mode, &r);
            const long n = R.n;
            float *dy = malloc(sizeof(float) * (size_t)(n * DYS)), *yc = malloc(sizeof(float) * (size_t)(n * 4));
            float *dyr = malloc(sizeof(float) * (size_t)(n * NERF_RGB_DY)), *dy4 = malloc(sizeof(float) * (size_t)(n * 4));
            for (long i = 0; i < n; i++) {
                yc[4 * i] = R.y[i * YS];
                gnf_nerf_sh_colour(yc + 4 * i + 1, R.y + i * YS, R.Y16);
            }
            nerf_ray_result of, orr;
            float lf = gnf_nerf_composite_backward(dy, DYS, &of, R.y, YS, R.Y16, R.dt, NULL, n, R.bg, R.target, 0.7f, T_MIN);
            float lr = gnf_nerf_composite_backward_rgb(dyr, NERF_RGB_DY, &orr, yc, 4, R.Y16, R.dt, NULL, n, R.bg, R.target,
                                                       0.7f, T_MIN);
            CHECK_EQ_INT(orr.n_used, of.n_used);
            CHECK(fabsf(lr - lf) <= 1e-5f * (fabsf(lf) + 1e-6f));
            for (long i = 0; i < n; i++) {   /* the factored rows expanded, against the full ones */
                float e[NERF_OUT];
                e[0] = dyr[i * NERF_RGB_DY];
                for (int ch = 0; ch < 3; ch++)
                    for (int j = 0; j < NERF_SH; j++) e[1 + NERF_SH * ch + j] = dyr[i * NERF_RGB_DY + 1 + ch] * R.Y16[j];
                double d = rel_diff(e, dy + i * DYS, NERF_OUT);
                if (!(d <= worst_dy)) worst_dy = d;
                memcpy(dy4 + 4 * i, dyr + i * NERF_RGB_DY, 4 * sizeof(float));
            }
            /* the decoder: features of n points, the 49-row backward against the 4-row one */
            float *f = malloc(sizeof(float) * (size_t)(n * D)), *full = malloc(sizeof(float) * (size_t)(n * NERF_OUT));
            float *dfa = malloc(sizeof(float) * (size_t)(n * D)), *dfb = malloc(sizeof(float) * (size_t)(n * D));
            for (long i = 0; i < n * D; i++) f[i] = test_urand(&r, -1, 1);
            for (long i = 0; i < n; i++) memcpy(full + i * NERF_OUT, dy + i * DYS, sizeof(float) * NERF_OUT);
            float ga[D * K * 2 + NERF_OUT * K + NERF_OUT], gb[D * K * 2 + NERF_OUT * K + NERF_OUT];
            memset(ga, 0, sizeof ga);
            memset(gb, 0, sizeof gb);
            rbf_grads A = {ga, ga + D * K, ga + 2 * D * K, ga + 2 * D * K + NERF_OUT * K, work};
            rbf_grads B = {gb, gb + D * K, gb + 2 * D * K, gb + 2 * D * K + NERF_OUT * K, work};
            double sq = 0;
            gnf_rbf_train(dfa, A, f, full, NULL, c, beta, W, w0, n, D, K, NERF_OUT, GNF_BASIS_GAUSSIAN, GNF_LOSS_GIVEN,
                          1.0f, &sq);
            gnf_nerf_head_backward(dfb, B, f, dy4, c, beta, W, w0, n, D, K, GNF_BASIS_GAUSSIAN, R.Y16);
            double d1 = rel_diff(dfb, dfa, n * D), d2 = rel_diff(gb, ga, (long)(sizeof ga / sizeof ga[0]));
            if (!(d1 <= worst_dec)) worst_dec = d1;
            if (!(d2 <= worst_dec)) worst_dec = d2;
            rays++;
            free(f); free(full); free(dfa); free(dfb);
            free(dy); free(yc); free(dyr); free(dy4);
            ray_free(&R);
        }
    CHECK_MSG(worst_dy < 1e-4, "composite: worst relative difference %.3g", worst_dy);
    CHECK_MSG(worst_dec < 1e-3, "decoder: worst relative difference %.3g", worst_dec);
    printf("    (%d rays; worst relative difference: output gradients %.2g, decoder %.2g)\n", rays, worst_dy, worst_dec);
    free(work);
}

/* ---- weights ---------------------------------------------------------------------------------- */

TEST(nerf_head_weights) {
    gnf_rng r;
    gnf_rng_seed(&r, 41, 4);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int mode = 0; mode < 3; mode++) {
            ray R;
            ray_make(&R, ns[a], mode, &r);
            long n = R.n;
            float *sigma = malloc(sizeof(float) * (size_t)n), *w = malloc(sizeof(float) * (size_t)n);
            double *wref = malloc(sizeof(double) * (size_t)n);
            for (long i = 0; i < n; i++) { sigma[i] = gnf_nerf_density(R.y[i * YS]); w[i] = -1; }
            float T_end;
            long cnt = gnf_nerf_weights(w, &T_end, sigma, R.dt, n, T_MIN);
            nerf_ray_result o;
            gnf_nerf_composite(&o, R.y, YS, R.Y16, R.dt, R.t, n, R.bg, T_MIN);
            ref_result ref = ref_ray(wref, R.yd, YS, R.Y16, R.dtd, R.td, n, R.bgd, T_MIN);
            CHECK_EQ_INT(cnt, o.n_used);
            CHECK_NEAR(1.0 - T_end, o.opacity, 1e-6);
            CHECK_NEAR(T_end, ref.T_end, 1e-6 * ref.T_end + 1e-6);
            double sw = 0, sd = 0, sc[3] = {0, 0, 0};
            for (long i = 0; i < cnt; i++) {
                float rgb[3];
                gnf_nerf_sh_colour(rgb, R.y + i * YS, R.Y16);
                sw += w[i];
                sd += (double)w[i] * R.t[i];
                for (int c = 0; c < 3; c++) sc[c] += (double)w[i] * rgb[c];
                if (ref.margin > 1e-3) CHECK_NEAR(w[i], wref[i], 1e-6);
            }
            for (long i = cnt; i < n; i++) CHECK(w[i] == -1.0f); /* not written */
            CHECK_NEAR(sw, o.opacity, 2e-6);
            CHECK_NEAR(sd, o.depth, 1e-5 * (1 + R.t[n - 1]));
            for (int c = 0; c < 3; c++) CHECK_NEAR(sc[c] + (double)T_end * R.bg[c], o.rgb[c], 2e-6);
            free(sigma); free(w); free(wref);
            ray_free(&R);
        }
    float T_end = 0, wz;
    CHECK_EQ_INT(gnf_nerf_weights(&wz, &T_end, NULL, NULL, 0, T_MIN), 0);
    CHECK(T_end == 1.0f);
}

/* ---- edge cases ------------------------------------------------------------------------------- */

/* Runs forward and backward on R's ray with dt and y as given; checks everything is finite. */
static void edge_run(ray *R, float tmin, nerf_ray_result *o, float *dy) {
    nerf_ray_result ob;
    gnf_nerf_composite(o, R->y, YS, R->Y16, R->dt, R->t, R->n, R->bg, tmin);
    gnf_nerf_composite_backward(dy, DYS, &ob, R->y, YS, R->Y16, R->dt, R->t, R->n, R->bg, R->target, 1.0f, tmin);
    CHECK(same_result(&ob, o));
    int finite = isfinite(o->rgb[0]) && isfinite(o->rgb[1]) && isfinite(o->rgb[2]) && isfinite(o->opacity) &&
                 isfinite(o->depth);
    for (long i = 0; i < R->n * DYS; i++) finite &= isfinite(dy[i]) || (i % DYS) >= NERF_OUT;
    CHECK(finite);
}

TEST(nerf_head_edge_cases) {
    gnf_rng r;
    gnf_rng_seed(&r, 51, 5);
    const float bg[3] = {1, 1, 1}, target[3] = {0.2f, 0.5f, 0.9f};
    float Y[16], dz[3] = {0, 0, 1};
    gnf_nerf_sh16(Y, dz);
    /* n = 0: background, nothing else */
    nerf_ray_result o;
    gnf_nerf_composite(&o, NULL, NERF_OUT, Y, NULL, NULL, 0, bg, T_MIN);
    CHECK(o.rgb[0] == 1 && o.rgb[1] == 1 && o.rgb[2] == 1 && o.opacity == 0 && o.depth == 0 && o.n_used == 0);
    float L = gnf_nerf_composite_backward(NULL, NERF_OUT, &o, NULL, NERF_OUT, Y, NULL, NULL, 0, bg, target, 1, T_MIN);
    CHECK_NEAR(L, 0.64 + 0.25 + 0.01, 1e-6);
    CHECK(o.rgb[1] == 1 && o.opacity == 0 && o.n_used == 0);

    ray R;
    ray_make(&R, 64, 1, &r);
    float *dy = malloc(sizeof(float) * (size_t)(R.n * DYS));

    /* dt = 0: an empty ray, zero gradients */
    for (long i = 0; i < R.n; i++) R.dt[i] = 0;
    edge_run(&R, T_MIN, &o, dy);
    CHECK(o.opacity == 0 && o.n_used == R.n && o.depth == 0);
    for (int c = 0; c < 3; c++) CHECK(o.rgb[c] == R.bg[c]);
    for (long i = 0; i < R.n; i++)
        for (int k = 0; k < NERF_OUT; k++) CHECK(dy[i * DYS + k] == 0.0f);

    /* all-zero density (y0 = -1000): sigma exactly 0 */
    for (long i = 0; i < R.n; i++) { R.dt[i] = 0.1f; R.y[i * YS] = -1000; }
    edge_run(&R, T_MIN, &o, dy);
    CHECK(o.opacity == 0 && o.n_used == R.n);
    for (int c = 0; c < 3; c++) CHECK(o.rgb[c] == R.bg[c]);
    for (long i = 0; i < R.n; i++)
        for (int k = 0; k < NERF_OUT; k++) CHECK(dy[i * DYS + k] == 0.0f);

    /* huge density at sample 3: alpha = 1 exactly, terminates there, colour of sample 3 when
     * the samples before are empty */
    R.y[3 * YS] = 1000;
    edge_run(&R, T_MIN, &o, dy);
    float c3[3];
    gnf_nerf_sh_colour(c3, R.y + 3 * YS, R.Y16);
    CHECK(o.opacity == 1.0f && o.n_used == 4);
    for (int c = 0; c < 3; c++) CHECK(o.rgb[c] == c3[c]);
    CHECK(o.depth == R.t[3]);
    /* with termination off: later samples get weight 0, same result */
    nerf_ray_result o2;
    edge_run(&R, 0.0f, &o2, dy);
    CHECK(o2.n_used == R.n && o2.opacity == 1.0f);
    for (int c = 0; c < 3; c++) CHECK(o2.rgb[c] == c3[c]);
    for (long i = 4; i < R.n; i++)
        for (int k = 0; k < NERF_OUT; k++) CHECK(dy[i * DYS + k] == 0.0f);
    /* the largest float as raw density, and a huge step */
    R.y[3 * YS] = 3.4e38f;
    R.dt[3] = 1e30f;
    edge_run(&R, T_MIN, &o, dy);
    CHECK(o.opacity == 1.0f && o.n_used == 4);
    free(dy);
    ray_free(&R);
}

/* Near-empty space (the state at initialisation: sigma ~ 4.5e-5): alphas ~ 5e-7 must keep their
 * relative precision, or opacity and the density gradients are noise. */
TEST(nerf_head_near_empty) {
    gnf_rng r;
    gnf_rng_seed(&r, 61, 6);
    ray R;
    ray_make(&R, 300, 0, &r);
    for (long i = 0; i < R.n; i++) {
        R.y[i * YS] = R.yd[i * YS] = test_urand(&r, -1, 1);
        R.dt[i] = 0.01f;
        R.dtd[i] = R.dt[i];
    }
    ref_result ref = ref_ray(NULL, R.yd, YS, R.Y16, R.dtd, R.td, R.n, R.bgd, T_MIN);
    nerf_ray_result o;
    gnf_nerf_composite(&o, R.y, YS, R.Y16, R.dt, R.t, R.n, R.bg, T_MIN);
    CHECK(ref.opacity > 1e-5 && ref.opacity < 1e-3);
    CHECK_MSG(fabs(o.opacity - ref.opacity) < 1e-5 * ref.opacity, "opacity %.9g vs %.9g", o.opacity, ref.opacity);
    CHECK_MSG(fabs(o.depth - ref.depth) < 1e-5 * ref.depth, "depth %.9g vs %.9g", o.depth, ref.depth);
    float *w = malloc(sizeof(float) * (size_t)R.n), *sigma = malloc(sizeof(float) * (size_t)R.n), T_end;
    double *wref = malloc(sizeof(double) * (size_t)R.n);
    for (long i = 0; i < R.n; i++) sigma[i] = gnf_nerf_density(R.y[i * YS]);
    ref_ray(wref, R.yd, YS, R.Y16, R.dtd, NULL, R.n, R.bgd, T_MIN);
    CHECK_EQ_INT(gnf_nerf_weights(w, &T_end, sigma, R.dt, R.n, T_MIN), R.n);
    double worst = 0;
    for (long i = 0; i < R.n; i++) worst = fmax(worst, fabs(w[i] - wref[i]) / wref[i]);
    CHECK_MSG(worst < 1e-5, "worst relative weight error %.3g", worst);
    free(w); free(sigma); free(wref);
    ray_free(&R);
}

/* Termination at every position of a ray (a wall at sample k), across the kernels' internal
 * blocks: n_used = k + 1 everywhere, rows after k zero. */
TEST(nerf_head_termination_positions) {
    gnf_rng r;
    gnf_rng_seed(&r, 71, 7);
    ray R;
    ray_make(&R, 70, 0, &r);
    float *dy = malloc(sizeof(float) * (size_t)(R.n * DYS)), *sigma = malloc(sizeof(float) * (size_t)R.n);
    float *w = malloc(sizeof(float) * (size_t)R.n);
    for (long k = 0; k < R.n; k++) {
        float keep = R.y[k * YS];
        R.y[k * YS] = 30; /* sigma ~20 over dt = 1: T falls by e^-20, below t_min */
        float dtk = R.dt[k];
        R.dt[k] = 1.0f;
        nerf_ray_result o, ob;
        gnf_nerf_composite(&o, R.y, YS, R.Y16, R.dt, R.t, R.n, R.bg, T_MIN);
        for (long i = 0; i < R.n * DYS; i++) dy[i] = 7.0f;
        gnf_nerf_composite_backward(dy, DYS, &ob, R.y, YS, R.Y16, R.dt, R.t, R.n, R.bg, R.target, 1.0f, T_MIN);
        for (long i = 0; i < R.n; i++) sigma[i] = gnf_nerf_density(R.y[i * YS]);
        float T_end;
        long cnt = gnf_nerf_weights(w, &T_end, sigma, R.dt, R.n, T_MIN);
        CHECK_MSG(o.n_used == k + 1 && ob.n_used == k + 1 && cnt == k + 1, "wall at %ld: %ld %ld %ld", k,
                  o.n_used, ob.n_used, cnt);
        CHECK(same_result(&o, &ob));
        int zero = 1, live = 0;
        for (long i = 0; i < R.n; i++)
            for (int j = 0; j < NERF_OUT; j++) {
                if (i > k) zero &= dy[i * DYS + j] == 0.0f;
                else live |= dy[i * DYS + j] != 7.0f;
            }
        CHECK(zero && live);
        R.y[k * YS] = keep;
        R.dt[k] = dtk;
    }
    free(dy); free(sigma); free(w);
    ray_free(&R);
}

/* Training's forward stops a ray where its transmittance, carried round by round through
 * gnf_nerf_transmit, falls below t_min; compositing the samples evaluated so far must then stop
 * at the same sample (it may not need one the forward skipped), and a ray that never terminates
 * must be carried to the same T as compositing's.  Every ray length and medium, rounds of 1, 5
 * and 16 samples. */
TEST(nerf_head_transmit_stops_where_composite_stops) {
    gnf_rng r;
    gnf_rng_seed(&r, 43, 9);
    const long rounds[] = {1, 5, 16};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int mode = 0; mode < 3; mode++)
            for (size_t q = 0; q < sizeof rounds / sizeof rounds[0]; q++) {
                ray R;
                ray_make(&R, ns[a], mode, &r);
                float T = 1.0f;
                long done = 0, stop = -1;
                while (done < R.n) {
                    long k = GNF_MIN(rounds[q], R.n - done);
                    long used = gnf_nerf_transmit(&T, R.y + done * YS, YS, R.dt + done, k, T_MIN);
                    CHECK(used >= 1 && used <= k);
                    if (T < T_MIN) { stop = done + used; done += k; break; }
                    CHECK_EQ_INT(used, k);
                    done += k;
                }
                nerf_ray_result o;
                gnf_nerf_composite(&o, R.y, YS, R.Y16, R.dt, R.t, done, R.bg, T_MIN);
                nerf_ray_result all;
                gnf_nerf_composite(&all, R.y, YS, R.Y16, R.dt, R.t, R.n, R.bg, T_MIN);
                CHECK(same_result(&o, &all));   /* what was skipped changes nothing */
                if (stop >= 0) CHECK_EQ_INT(o.n_used, stop);
                else {
                    CHECK_EQ_INT(o.n_used, R.n);
                    CHECK(done == R.n);
                }
                CHECK_NEAR(T, 1.0 - o.opacity, 1e-6);
                ray_free(&R);
            }
    float T = 0.5f;
    CHECK_EQ_INT(gnf_nerf_transmit(&T, NULL, 1, NULL, 0, T_MIN), 0);
    CHECK(T == 0.5f);
}
