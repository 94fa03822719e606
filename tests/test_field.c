/* test_field.c — the field's kernels: grid lookup/scatter, RBF decoder (all bases), MLP decoder,
 * Adam.  Every backward pass is checked against central finite differences of its forward pass;
 * the fast kernels against the scalar ones are in test_kernels.c. */
#include "field/kernels.h"
#include "optim/adam.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

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
    for (long i = 0; i < m->nparams; i++) m->params[i] = test_urand(&r, -0.8f, 0.8f);
    if (dec == GNF_DEC_RBF)
        for (long i = m->off_b; i < m->off_W; i++) m->params[i] = test_urand(&r, -1.0f, 0.5f);
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
    for (long i = 0; i < m->nparams; i++) m->params[i] = test_urand(&r, -0.8f, 0.8f);
    for (long i = m->off_b; i < m->off_W; i++) m->params[i] = test_urand(&r, -1.0f, 0.5f);
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
    for (int l = 0; l < m->cfg.levels; l++) gnf_grid_scatter_level(grad, m, l, x, dF, n, NULL);
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
    for (int i = 0; i < 27; i++) x[i] = test_urand(&r, -1, 1);
    for (int i = 0; i < 9 * m->cfg.out_dim; i++) t[i] = test_urand(&r, 0, 1);
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
    for (long i = 0; i < 2 * n; i++) x[i] = test_urand(&r, -1, 1);
    CHECK(gnf_model_eval(m, x, n, y1, 1) == GNF_OK);
    CHECK(gnf_model_eval(m, x, n, y2, 3) == GNF_OK);
    CHECK(memcmp(y1, y2, sizeof(float) * n * 3) == 0);
    free(x); free(y1); free(y2);
    gnf_model_free(m);
}
