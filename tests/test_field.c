/* test_field.c — the field's kernels: grid lookup/scatter, RBF decoder (all bases), MLP decoder,
 * fast exp, Adam.  Every backward pass is checked against central finite differences of its
 * forward pass, and every fast kernel against its scalar reference. */
#include "field/field.h"
#include "optim/adam.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

static float urand(gnf_rng *r, float a, float b) { return a + (b - a) * gnf_rng_uniform(r); }

static gnf_model *make_model(int levels, int feat, int K, gnf_decoder_kind dec, gnf_basis basis, int O) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, O);
    cfg.levels = levels;
    for (int l = 0; l < levels; l++) { cfg.res[l] = 3 + 5 * l; cfg.feat[l] = feat; }
    cfg.rbf_k = K;
    cfg.decoder = dec;
    cfg.basis = basis;
    cfg.mlp_hidden = 12;
    cfg.mlp_layers = 2;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK);
    /* spread parameters so the check sees non-trivial values */
    gnf_rng r;
    gnf_rng_seed(&r, 7, 1);
    for (long i = 0; i < m->nparams; i++) m->params[i] = urand(&r, -0.8f, 0.8f);
    if (dec == GNF_DEC_RBF)
        for (long i = m->off_b; i < m->off_W; i++) m->params[i] = urand(&r, -1.0f, 0.5f);
    return m;
}

/* A 3D (or hashed) model: levels with resolutions 3, 6, 9, ...; small hash tables force collisions. */
static gnf_model *make_model3(int in_dim, gnf_encoding enc, int levels, int feat, int K, int O) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, in_dim, O);
    cfg.encoding = enc;
    cfg.hash_log2 = 5;
    cfg.levels = levels;
    for (int l = 0; l < levels; l++) { cfg.res[l] = 3 + 3 * l; cfg.feat[l] = feat; }
    cfg.rbf_k = K;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, in_dim == 3 ? GNF_TASK_SDF : GNF_TASK_IMAGE, &m) == GNF_OK);
    gnf_rng r;
    gnf_rng_seed(&r, 8, 1);
    for (long i = 0; i < m->nparams; i++) m->params[i] = urand(&r, -0.8f, 0.8f);
    for (long i = m->off_b; i < m->off_W; i++) m->params[i] = urand(&r, -1.0f, 0.5f);
    return m;
}

/* Mean-free L2 loss of the whole field at points x against targets t, in double. */
static double field_loss(const gnf_model *m, const float *x, const float *t, long n) {
    int O = m->cfg.out_dim;
    float *y = malloc(sizeof(float) * (size_t)(n * O));
    gnf_set_force_scalar(1);
    gnf_model_eval(m, x, n, y, 1);
    gnf_set_force_scalar(0);
    double L = 0;
    for (long i = 0; i < n * O; i++) { double e = (double)y[i] - t[i]; L += e * e; }
    free(y);
    return L;
}

/* Analytic gradient of field_loss over all parameters, through the scalar kernels. */
static void field_grad(float *grad, const gnf_model *m, const float *x, const float *t, long n) {
    int D = m->D, O = m->cfg.out_dim, K = m->cfg.rbf_k;
    float *F = calloc((size_t)(n * D), sizeof(float)), *dF = calloc((size_t)(n * D), sizeof(float));
    memset(grad, 0, sizeof(float) * (size_t)m->nparams);
    gnf_grid_encode_ref(F, m, m->params, x, n);
    double sq = 0;
    float *dg = grad + m->dec_off;
    if (m->cfg.decoder == GNF_DEC_RBF) {
        float *beta = calloc((size_t)(D * K), sizeof(float));
        gnf_rbf_beta(beta, m, m->params);
        rbf_grads g = {grad + m->off_c, grad + m->off_b, grad + m->off_W, grad + m->off_w0, NULL};
        gnf_rbf_train_ref(dF, g, F, t, NULL, m->params + m->off_c, beta, m->params + m->off_W,
                      m->params + m->off_w0, n, D, K, O, m->cfg.basis, GNF_LOSS_L2, 1.0f, &sq);
        free(beta);
    } else {
        gnf_mlp_train(dF, dg, m, m->params, F, t, NULL, n, GNF_LOSS_L2, 1.0f, &sq);
    }
    for (int l = 0; l < m->cfg.levels; l++) gnf_grid_scatter_level(grad, m, l, x, dF, n);
    free(F);
    free(dF);
}

/* Compares analytic and central-difference gradients on up to `probes` parameters spread over
 * the arena (every grid level and every decoder tensor gets probed). */
static void gradcheck(gnf_model *m, int probes) {
    const long n = 9;
    float x[27], t[9 * 3];
    gnf_rng r;
    gnf_rng_seed(&r, 3, 3);
    for (int i = 0; i < 27; i++) x[i] = urand(&r, -1, 1);
    for (int i = 0; i < 9 * m->cfg.out_dim; i++) t[i] = urand(&r, 0, 1);
    float *grad = calloc((size_t)m->nparams, sizeof(float));
    field_grad(grad, m, x, t, n);
    int bad = 0, checked = 0, kinks = 0;
    double l0 = field_loss(m, x, t, n);
    for (int j = 0; j < probes; j++) {
        long i = (long)((double)j / probes * (double)m->nparams);
        float keep = m->params[i];
        float h = 1e-2f * (fabsf(keep) > 1 ? fabsf(keep) : 1);
        m->params[i] = keep + h;
        double lp = field_loss(m, x, t, n);
        m->params[i] = keep - h;
        double lm = field_loss(m, x, t, n);
        m->params[i] = keep;
        double num = (lp - lm) / (2.0 * (double)h);
        /* A ReLU kink inside [keep-h, keep+h] makes the one-sided slopes disagree: not a
         * smooth point, so finite differences say nothing there. */
        double right = (lp - l0) / h, left = (l0 - lm) / h;
        if (fabs(right - left) > 0.05 * fabs(num) + 1e-2) { kinks++; continue; }
        double ana = grad[i];
        double err = fabs(num - ana), tol = 2e-2 * fabs(num) + 2e-3;
        checked++;
        if (err > tol && bad++ < 5) test_fail(__FILE__, __LINE__, "param %ld: analytic %.6g numeric %.6g", i, ana, num);
    }
    CHECK_MSG(checked + kinks == probes && kinks <= probes / 10, "%d kinks of %d probes", kinks, probes);
    free(grad);
}

TEST(gradcheck_rbf_gaussian) { gnf_model *m = make_model(3, 2, 8, GNF_DEC_RBF, GNF_BASIS_GAUSSIAN, 3); gradcheck(m, 400); gnf_model_free(m); }
TEST(gradcheck_rbf_imq) { gnf_model *m = make_model(3, 2, 8, GNF_DEC_RBF, GNF_BASIS_IMQ, 3); gradcheck(m, 400); gnf_model_free(m); }
TEST(gradcheck_rbf_mq) { gnf_model *m = make_model(2, 3, 8, GNF_DEC_RBF, GNF_BASIS_MQ, 1); gradcheck(m, 300); gnf_model_free(m); }
TEST(gradcheck_dense3d) { gnf_model *m = make_model3(3, GNF_ENC_DENSE, 3, 2, 8, 1); gradcheck(m, 400); gnf_model_free(m); }
TEST(gradcheck_hash3d) {
    gnf_model *m = make_model3(3, GNF_ENC_HASH, 3, 2, 8, 1);
    CHECK(m->level_dense[0] == 1 && m->level_dense[1] == 0 && m->level_nodes[1] == 32); /* 27 <= 32 < 216 */
    gradcheck(m, 400);
    gnf_model_free(m);
}
TEST(gradcheck_hash2d) { gnf_model *m = make_model3(2, GNF_ENC_HASH, 3, 2, 8, 3); gradcheck(m, 300); gnf_model_free(m); }
TEST(gradcheck_mlp) { gnf_model *m = make_model(3, 2, 8, GNF_DEC_MLP, GNF_BASIS_GAUSSIAN, 3); gradcheck(m, 400); gnf_model_free(m); }

/* The grid lookup is bilinear: exact at nodes, linear along an edge, clamped outside. */
TEST(grid2d_interpolates_bilinearly) {
    gnf_model *m = make_model(1, 1, 8, GNF_DEC_RBF, GNF_BASIS_GAUSSIAN, 1);
    int R = m->cfg.res[0]; /* 3: nodes at -1, 0, 1 */
    CHECK_EQ_INT(R, 3);
    float *g = m->params + m->grid_off[0];
    for (int i = 0; i < R * R; i++) g[i] = (float)i; /* value = iy*3 + ix */
    float x[] = {-1, -1, 0, 0, 1, 1, -0.5f, 0, 0.25f, 0.5f, 2, -3};
    float f[6];
    gnf_grid_encode_ref(f, m, m->params, x, 6);
    CHECK_NEAR(f[0], 0, 1e-6);
    CHECK_NEAR(f[1], 4, 1e-6);
    CHECK_NEAR(f[2], 8, 1e-6);
    CHECK_NEAR(f[3], 3 + 0.5, 1e-6);            /* x=-0.5 -> ix 0.5, y=0 -> iy 1 */
    CHECK_NEAR(f[4], 1.25 + 3 * 1.5, 1e-6);     /* ix 1.25, iy 1.5 (linear field) */
    CHECK_NEAR(f[5], 2, 1e-6);                  /* clamped to (ix 2, iy 0) */
    gnf_model_free(m);
}

/* Trilinear: a field linear in x, y, z stored at the nodes is reproduced exactly inside. */
TEST(grid3d_interpolates_trilinearly) {
    gnf_model *m = make_model3(3, GNF_ENC_DENSE, 1, 1, 8, 1);
    int R = m->cfg.res[0];
    float *g = m->params + m->grid_off[0];
    for (int iz = 0; iz < R; iz++)
        for (int iy = 0; iy < R; iy++)
            for (int ix = 0; ix < R; ix++) g[(iz * R + iy) * R + ix] = (float)(ix + 10 * iy + 100 * iz);
    float x[] = {-1, -1, -1, 1, 1, 1, 0.1f, -0.3f, 0.7f};
    float f[3];
    gnf_grid_encode_ref(f, m, m->params, x, 3);
    CHECK_NEAR(f[0], 0, 1e-5);
    CHECK_NEAR(f[1], 222, 1e-4);
    CHECK_NEAR(f[2], 1.1 + 10 * 0.7 + 100 * 1.7, 1e-4); /* node coords (x+1) */
    gnf_model_free(m);
}

TEST(grid2d_avx2_matches_reference) {
    if (!gnf_cpu_has_avx2_fma()) SKIP("no AVX2/FMA on this CPU");
    gnf_model *m = make_model(5, 3, 8, GNF_DEC_RBF, GNF_BASIS_GAUSSIAN, 3);
    const long n = 1003;
    float *x = malloc(sizeof(float) * n * 2), *a = malloc(sizeof(float) * n * m->D), *b = malloc(sizeof(float) * n * m->D);
    gnf_rng r;
    gnf_rng_seed(&r, 5, 5);
    for (long i = 0; i < 2 * n; i++) x[i] = urand(&r, -1.1f, 1.1f);
    x[0] = -1; x[1] = 1; x[2] = 1; x[3] = -1;
    gnf_grid_encode_ref(a, m, m->params, x, n);
    gnf_grid_encode(b, m, m->params, x, n);
    CHECK(memcmp(a, b, sizeof(float) * (size_t)(n * m->D)) == 0);
    free(x); free(a); free(b);
    gnf_model_free(m);
}

/* The vectorised scatter computes the same weights with the same operations and updates nodes in
 * the same point order, so it must match the reference bit for bit. */
TEST(grid2d_scatter_avx2_matches_reference) {
    if (!gnf_cpu_has_avx2_fma()) SKIP("no AVX2/FMA on this CPU");
    gnf_model *m = make_model(5, 3, 8, GNF_DEC_RBF, GNF_BASIS_GAUSSIAN, 3);
    const long n = 1003;
    float *x = malloc(sizeof(float) * n * 2), *d = malloc(sizeof(float) * n * m->D);
    float *a = calloc((size_t)m->nparams, sizeof(float)), *b = calloc((size_t)m->nparams, sizeof(float));
    gnf_rng r;
    gnf_rng_seed(&r, 6, 6);
    for (long i = 0; i < 2 * n; i++) x[i] = urand(&r, -1.1f, 1.1f);
    for (long i = 0; i < n * m->D; i++) d[i] = urand(&r, -1, 1);
    for (int l = 0; l < m->cfg.levels; l++) {
        gnf_grid_scatter_level_ref(a, m, l, x, d, n);
        gnf_grid_scatter_level(b, m, l, x, d, n);
    }
    CHECK(memcmp(a, b, sizeof(float) * (size_t)m->nparams) == 0);
    free(x); free(d); free(a); free(b);
    gnf_model_free(m);
}

/* One comparison of the AVX2 decoder kernels with the scalar reference at sizes (D, K). */
/* 3D grids, dense and hashed: the AVX2 lookup and scatter equal the references bit for bit. */
TEST(grid3d_avx2_matches_reference) {
    if (!gnf_cpu_has_avx2_fma()) SKIP("no AVX2/FMA on this CPU");
    gnf_encoding encs[2] = {GNF_ENC_DENSE, GNF_ENC_HASH};
    for (int e = 0; e < 2; e++) {
        gnf_model *m = make_model3(3, encs[e], 4, 2, 8, 1);
        const long n = 1003;
        float *x = malloc(sizeof(float) * n * 3), *d = malloc(sizeof(float) * n * m->D);
        float *fa = malloc(sizeof(float) * n * m->D), *fb = malloc(sizeof(float) * n * m->D);
        float *a = calloc((size_t)m->nparams, sizeof(float)), *b = calloc((size_t)m->nparams, sizeof(float));
        gnf_rng r;
        gnf_rng_seed(&r, 6, 7);
        for (long i = 0; i < 3 * n; i++) x[i] = urand(&r, -1.1f, 1.1f);
        for (long i = 0; i < n * m->D; i++) d[i] = urand(&r, -1, 1);
        gnf_grid_encode_ref(fa, m, m->params, x, n);
        gnf_grid_encode(fb, m, m->params, x, n);
        CHECK(memcmp(fa, fb, sizeof(float) * (size_t)(n * m->D)) == 0);
        for (int l = 0; l < m->cfg.levels; l++) {
            gnf_grid_scatter_level_ref(a, m, l, x, d, n);
            gnf_grid_scatter_level(b, m, l, x, d, n);
        }
        CHECK(memcmp(a, b, sizeof(float) * (size_t)m->nparams) == 0);
        free(x); free(d); free(fa); free(fb); free(a); free(b);
        gnf_model_free(m);
    }
}

#ifndef GNF_NO_AVX2
static void rbf_fast_vs_ref_at(gnf_basis basis, gnf_loss loss, int D, int K) {
    const int O = 3;
    const long n = 39; /* tiles of 4 plus a remainder of 3 */
    gnf_rng r;
    gnf_rng_seed(&r, 11, (uint64_t)basis * 100 + (uint64_t)D);
    float *f = malloc(sizeof(float) * n * D), *t = malloc(sizeof(float) * n * O);
    float *c = malloc(sizeof(float) * D * K), *beta = malloc(sizeof(float) * D * K);
    float *W = malloc(sizeof(float) * O * K), w0[3];
    for (long i = 0; i < n * D; i++) f[i] = urand(&r, -1, 1);
    for (long i = 0; i < n * O; i++) t[i] = urand(&r, 0, 1);
    for (int i = 0; i < D * K; i++) { c[i] = urand(&r, -1, 1); beta[i] = expf(urand(&r, -2, 0.3f)); }
    for (int i = 0; i < O * K; i++) W[i] = urand(&r, -1, 1);
    for (int i = 0; i < O; i++) w0[i] = urand(&r, -1, 1);
    float wt[39];
    for (int i = 0; i < 39; i++) wt[i] = urand(&r, 0.5f, 2.0f);
    float y1[39 * 3], y2[39 * 3];
    gnf_rbf_forward_ref(y1, f, c, beta, W, w0, n, D, K, O, basis);
    gnf_rbf_forward_avx2(y2, f, c, beta, W, w0, n, D, K, O, basis);
    for (long i = 0; i < n * O; i++) CHECK_NEAR(y1[i], y2[i], 2e-5 * (1 + fabsf(y1[i])));
    long ng = 2L * D * K + O * K + O;
    float *df1 = calloc((size_t)(n * D), 4), *df2 = calloc((size_t)(n * D), 4);
    float *g1 = calloc((size_t)ng, 4), *g2 = calloc((size_t)ng, 4);
    float *work = calloc((size_t)gnf_rbf_work_floats(D, K), sizeof(float));
    rbf_grads a = {g1, g1 + D * K, g1 + 2 * D * K, g1 + 2 * D * K + O * K, NULL};
    rbf_grads b = {g2, g2 + D * K, g2 + 2 * D * K, g2 + 2 * D * K + O * K, work};
    double s1 = 0, s2 = 0;
    double l1 = gnf_rbf_train_ref(df1, a, f, t, wt, c, beta, W, w0, n, D, K, O, basis, loss, 0.01f, &s1);
    double l2 = gnf_rbf_train_avx2(df2, b, f, t, wt, c, beta, W, w0, n, D, K, O, basis, loss, 0.01f, &s2);
    CHECK_NEAR(l1, l2, 1e-5 * (1 + fabs(l1)));
    CHECK_NEAR(s1, s2, 1e-5 * (1 + fabs(s1)));
    double gmax = 0, dmax = 0;
    for (long i = 0; i < ng; i++) gmax = fmax(gmax, fabs(g1[i]));
    for (long i = 0; i < ng; i++) CHECK_NEAR(g1[i], g2[i], 1e-4 * gmax);
    for (long i = 0; i < n * D; i++) dmax = fmax(dmax, fabs(df1[i]));
    for (long i = 0; i < n * D; i++) CHECK_NEAR(df1[i], df2[i], 1e-4 * dmax);
    free(f); free(t); free(c); free(beta); free(W); free(df1); free(df2); free(g1); free(g2); free(work);
}

/* Sizes cover: K = 64 (all neurons in registers), K = 40 (32 + 8 blocks), odd D (the unpaired
 * feature of the batched horizontal sums). */
#endif

static void rbf_fast_vs_ref(gnf_basis basis, gnf_loss loss) {
#ifdef GNF_NO_AVX2
    (void)basis; (void)loss;
    SKIP("built without the AVX2 kernels (SCALAR=1)");
#else
    if (!gnf_cpu_has_avx2_fma()) SKIP("no AVX2/FMA on this CPU");
    rbf_fast_vs_ref_at(basis, loss, 12, 40);
    rbf_fast_vs_ref_at(basis, loss, 16, 64);
    rbf_fast_vs_ref_at(basis, loss, 13, 24);
    rbf_fast_vs_ref_at(basis, loss, 5, 136);
#endif
}

TEST(rbf_avx2_matches_reference_gaussian_l1) { rbf_fast_vs_ref(GNF_BASIS_GAUSSIAN, GNF_LOSS_L1); }
TEST(rbf_avx2_matches_reference_gaussian_l2) { rbf_fast_vs_ref(GNF_BASIS_GAUSSIAN, GNF_LOSS_L2); }
TEST(rbf_avx2_matches_reference_imq) { rbf_fast_vs_ref(GNF_BASIS_IMQ, GNF_LOSS_L2); }
TEST(rbf_avx2_matches_reference_mq) { rbf_fast_vs_ref(GNF_BASIS_MQ, GNF_LOSS_L1); }

/* The named fast exp: relative error below 4e-7 over the range the Gaussian basis uses. */
TEST(fast_exp_error_bound) {
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f * (float)i / 200000.0f;
        double e = exp((double)x), a = gnf_fast_exp(x);
        worst = fmax(worst, fabs(a - e) / e);
    }
    CHECK_MSG(worst < 4e-7, "fast exp worst relative error %g", worst);
    CHECK(gnf_fast_exp(-100.0f) == 0.0f);
    CHECK(gnf_fast_exp(0.0f) == 1.0f);
}

TEST(adam_matches_hand_computation) {
    float p[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0}, g[2] = {0.5f, -4.0f};
    gnf_adam_update(p, m, v, g, 0, 2, 0.1f, 0.9f, 0.99f, 1e-8f, 1);
    /* first step: m_hat = g, v_hat = g^2 -> p -= lr * sign(g) (up to eps) */
    CHECK_NEAR(p[0], 0.9, 1e-6);
    CHECK_NEAR(p[1], -1.9, 1e-6);
    gnf_adam_update(p, m, v, g, 0, 2, 0.1f, 0.9f, 0.99f, 1e-8f, 2);
    CHECK_NEAR(p[0], 0.8, 1e-5); /* constant gradient keeps steps of lr */
    CHECK_NEAR(gnf_lr_exp_schedule(1e-2f, 1e-3f, 0.5), 1e-2 * sqrt(0.1), 1e-9);
    CHECK_NEAR(gnf_lr_exp_schedule(1e-2f, 1e-3f, 2.0), 1e-3, 1e-9);
}

/* The AVX2 Adam loop is bit-identical to the scalar one (odd length covers the tail). */
TEST(adam_avx2_matches_reference) {
#ifdef GNF_NO_AVX2
    SKIP("built without the AVX2 kernels (SCALAR=1)");
#else
    if (!gnf_cpu_has_avx2_fma()) SKIP("no AVX2/FMA on this CPU");
    const long n = 1001;
    float *p1 = malloc(4 * n), *m1 = malloc(4 * n), *v1 = malloc(4 * n), *g = malloc(4 * n);
    float *p2 = malloc(4 * n), *m2 = malloc(4 * n), *v2 = malloc(4 * n);
    gnf_rng r;
    gnf_rng_seed(&r, 4, 4);
    for (long i = 0; i < n; i++) {
        p1[i] = p2[i] = urand(&r, -1, 1);
        m1[i] = m2[i] = urand(&r, -0.1f, 0.1f);
        v1[i] = v2[i] = urand(&r, 0, 0.01f);
        g[i] = urand(&r, -1, 1);
    }
    gnf_adam_update_step_ref(p1, m1, v1, g, 0, n, 0.01f, 0.9f, 0.99f, 1e-15f);
    gnf_adam_update_avx2(p2, m2, v2, g, 0, n, 0.01f, 0.9f, 0.99f, 1e-15f);
    CHECK(memcmp(p1, p2, 4 * n) == 0 && memcmp(m1, m2, 4 * n) == 0 && memcmp(v1, v2, 4 * n) == 0);
    free(p1); free(m1); free(v1); free(g); free(p2); free(m2); free(v2);
#endif
}

TEST(config_for_params_respects_budget) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    long budgets[] = {20000, 140000, 500000, 2000000};
    for (int i = 0; i < 4; i++) {
        CHECK(gnf_model_config_for_params(&cfg, budgets[i], 768) == GNF_OK);
        long n = gnf_model_config_param_count(&cfg);
        CHECK_MSG(n <= budgets[i] && n > budgets[i] * 6 / 10, "budget %ld gave %ld", budgets[i], n);
    }
    gnf_model_config_default(&cfg, 3, 1);
    cfg.encoding = GNF_ENC_HASH;
    CHECK(gnf_model_config_for_params(&cfg, 1000000, 0) == GNF_OK);
    long n3 = gnf_model_config_param_count(&cfg);
    CHECK_MSG(n3 <= 1000000 && n3 > 900000 && cfg.res[cfg.levels - 1] == 2048, "hash budget gave %ld", n3);
    CHECK(gnf_model_config_for_params(&cfg, 100, 768) == GNF_ERR_INVALID);
}

TEST(config_validation_names_the_field) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    cfg.res[2] = 1;
    CHECK(gnf_model_config_validate(&cfg) == GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "level 2") != NULL);
    gnf_model_config_default(&cfg, 2, 3);
    cfg.rbf_k = 0;
    CHECK(gnf_model_config_validate(&cfg) == GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "rbf_k") != NULL);
}

/* Evaluating with the public API equals grid lookup + decoder by hand, at any thread count. */
TEST(model_eval_threads_agree) {
    gnf_model *m = make_model(4, 2, 16, GNF_DEC_RBF, GNF_BASIS_GAUSSIAN, 3);
    const long n = 5000;
    float *x = malloc(sizeof(float) * n * 2), *y1 = malloc(sizeof(float) * n * 3), *y2 = malloc(sizeof(float) * n * 3);
    gnf_rng r;
    gnf_rng_seed(&r, 1, 2);
    for (long i = 0; i < 2 * n; i++) x[i] = urand(&r, -1, 1);
    CHECK(gnf_model_eval(m, x, n, y1, 1) == GNF_OK);
    CHECK(gnf_model_eval(m, x, n, y2, 3) == GNF_OK);
    CHECK(memcmp(y1, y2, sizeof(float) * n * 3) == 0);
    free(x); free(y1); free(y2);
    gnf_model_free(m);
}

/* The "given gradient" loss mode (radiance fields pass dL/dy from volume rendering): feeding
 * t' = 2 (y - t) must reproduce the L2 mode's gradients exactly up to rounding, for the reference
 * kernel and for the fast path, with a head as wide as the radiance-field one (O = 49). */
static void given_vs_l2(int use_fast) {
    const int D = 12, K = 32, O = 49;
    const long n = 23;
    gnf_rng r;
    gnf_rng_seed(&r, 5, 77);
    float *f = malloc(sizeof(float) * n * D), *t = malloc(sizeof(float) * n * O), *tg = malloc(sizeof(float) * n * O);
    float *y = malloc(sizeof(float) * n * O);
    float *c = malloc(sizeof(float) * D * K), *beta = malloc(sizeof(float) * D * K);
    float *W = malloc(sizeof(float) * O * K), *w0 = malloc(sizeof(float) * O);
    for (long i = 0; i < n * D; i++) f[i] = urand(&r, -1, 1);
    for (long i = 0; i < n * O; i++) t[i] = urand(&r, 0, 1);
    for (int i = 0; i < D * K; i++) { c[i] = urand(&r, -1, 1); beta[i] = expf(urand(&r, -2, 0.3f)); }
    for (int i = 0; i < O * K; i++) W[i] = urand(&r, -1, 1);
    for (int i = 0; i < O; i++) w0[i] = urand(&r, -1, 1);
    gnf_rbf_forward_ref(y, f, c, beta, W, w0, n, D, K, O, GNF_BASIS_GAUSSIAN);
    for (long i = 0; i < n * O; i++) tg[i] = 2.0f * (y[i] - t[i]);
    long ng = 2L * D * K + O * K + O;
    float *df1 = calloc((size_t)(n * D), 4), *df2 = calloc((size_t)(n * D), 4);
    float *g1 = calloc((size_t)ng, 4), *g2 = calloc((size_t)ng, 4);
    float *work = use_fast ? calloc((size_t)gnf_rbf_work_floats(D, K), sizeof(float)) : NULL;
    rbf_grads a = {g1, g1 + D * K, g1 + 2 * D * K, g1 + 2 * D * K + O * K, work};
    rbf_grads b = {g2, g2 + D * K, g2 + 2 * D * K, g2 + 2 * D * K + O * K, work};
    double s1 = 0, s2 = 0;
    gnf_rbf_train(df1, a, f, t, NULL, c, beta, W, w0, n, D, K, O, GNF_BASIS_GAUSSIAN, GNF_LOSS_L2, 0.01f, &s1);
    double l2 = gnf_rbf_train(df2, b, f, tg, NULL, c, beta, W, w0, n, D, K, O, GNF_BASIS_GAUSSIAN, GNF_LOSS_GIVEN, 0.01f, &s2);
    CHECK(l2 == 0 && s2 == 0);
    double gmax = 0, dmax = 0;
    for (long i = 0; i < ng; i++) gmax = fmax(gmax, fabs(g1[i]));
    for (long i = 0; i < ng; i++) CHECK_NEAR(g1[i], g2[i], 1e-4 * gmax);
    for (long i = 0; i < n * D; i++) dmax = fmax(dmax, fabs(df1[i]));
    for (long i = 0; i < n * D; i++) CHECK_NEAR(df1[i], df2[i], 1e-4 * dmax);
    CHECK(gmax > 0 && dmax > 0);
    free(f); free(t); free(tg); free(y); free(c); free(beta); free(W); free(w0);
    free(df1); free(df2); free(g1); free(g2); free(work);
}
TEST(rbf_given_gradient_matches_l2_ref) { given_vs_l2(0); }
TEST(rbf_given_gradient_matches_l2_fast) { given_vs_l2(1); }

/* The wide-head forward path (O >= 16: transposed head, radiance fields use O = 49) matches the
 * reference, including an O that is not a multiple of 8. */
TEST(rbf_avx2_forward_wide_head) {
#ifdef GNF_NO_AVX2
    SKIP("built without the AVX2 kernels (SCALAR=1)");
#else
    if (!gnf_cpu_has_avx2_fma()) SKIP("no AVX2/FMA on this CPU");
    const int shapes[3][3] = {{22, 32, 49}, {16, 24, 16}, {9, 64, 61}};
    for (int sidx = 0; sidx < 3; sidx++) {
        const int D = shapes[sidx][0], K = shapes[sidx][1], O = shapes[sidx][2];
        const long n = 13;
        gnf_rng r;
        gnf_rng_seed(&r, 21, (uint64_t)sidx);
        float *f = malloc(sizeof(float) * n * D), *c = malloc(sizeof(float) * D * K), *beta = malloc(sizeof(float) * D * K);
        float *W = malloc(sizeof(float) * O * K), *w0 = malloc(sizeof(float) * O);
        float *y1 = malloc(sizeof(float) * n * O), *y2 = malloc(sizeof(float) * n * O);
        for (long i = 0; i < n * D; i++) f[i] = urand(&r, -1, 1);
        for (int i = 0; i < D * K; i++) { c[i] = urand(&r, -1, 1); beta[i] = expf(urand(&r, -2, 0.3f)); }
        for (int i = 0; i < O * K; i++) W[i] = urand(&r, -1, 1);
        for (int i = 0; i < O; i++) w0[i] = urand(&r, -1, 1);
        gnf_rbf_forward_ref(y1, f, c, beta, W, w0, n, D, K, O, GNF_BASIS_GAUSSIAN);
        gnf_rbf_forward_avx2(y2, f, c, beta, W, w0, n, D, K, O, GNF_BASIS_GAUSSIAN);
        for (long i = 0; i < n * O; i++) CHECK_NEAR(y1[i], y2[i], 2e-5 * (1 + fabsf(y1[i])));
        free(f); free(c); free(beta); free(W); free(w0); free(y1); free(y2);
    }
#endif
}

/* Lazy Adam: zero gradients leave parameter and moments untouched; others follow Adam; the AVX2
 * version is bit-identical to the reference (runs of zeros, isolated zeros, a ragged tail). */
TEST(adam_lazy_skips_zero_gradients) {
    const long n = 203;
    float *p1 = malloc(sizeof(float) * n), *m1 = malloc(sizeof(float) * n), *v1 = malloc(sizeof(float) * n);
    float *p2 = malloc(sizeof(float) * n), *m2 = malloc(sizeof(float) * n), *v2 = malloc(sizeof(float) * n);
    float *p3 = malloc(sizeof(float) * n), *m3 = malloc(sizeof(float) * n), *v3 = malloc(sizeof(float) * n);
    float *g = malloc(sizeof(float) * n);
    gnf_rng r;
    gnf_rng_seed(&r, 4, 4);
    for (long i = 0; i < n; i++) {
        p1[i] = urand(&r, -1, 1); m1[i] = urand(&r, -0.1f, 0.1f); v1[i] = urand(&r, 0, 0.01f);
        g[i] = (i / 8) % 3 == 0 || i % 5 == 0 ? 0.0f : urand(&r, -1, 1);
    }
    memcpy(p2, p1, sizeof(float) * n); memcpy(m2, m1, sizeof(float) * n); memcpy(v2, v1, sizeof(float) * n);
    memcpy(p3, p1, sizeof(float) * n); memcpy(m3, m1, sizeof(float) * n); memcpy(v3, v1, sizeof(float) * n);
    gnf_adam_update_lazy_step_ref(p2, m2, v2, g, 0, n, 0.01f, 0.9f, 0.99f, 1e-15f);
    gnf_adam_update_step_ref(p3, m3, v3, g, 0, n, 0.01f, 0.9f, 0.99f, 1e-15f);
    for (long i = 0; i < n; i++) {
        if (g[i] == 0.0f) CHECK(p2[i] == p1[i] && m2[i] == m1[i] && v2[i] == v1[i]);
        else CHECK(p2[i] == p3[i] && m2[i] == m3[i] && v2[i] == v3[i]);
    }
#ifndef GNF_NO_AVX2
    if (gnf_cpu_has_avx2_fma()) {
        gnf_adam_update_lazy_avx2(p1, m1, v1, g, 0, n, 0.01f, 0.9f, 0.99f, 1e-15f);
        CHECK(memcmp(p1, p2, sizeof(float) * n) == 0 && memcmp(m1, m2, sizeof(float) * n) == 0 &&
              memcmp(v1, v2, sizeof(float) * n) == 0);
    }
#endif
    free(p1); free(m1); free(v1); free(p2); free(m2); free(v2); free(p3); free(m3); free(v3); free(g);
}
