/* test_lazy_adam.c — the lazy grid optimiser of the training loop (train.c): walking the nodes
 * the scatter marked gives the dense lazy loop's parameters bit for bit (2D dense grids and 3D
 * hash grids, nodes touched only with a zero gradient), at any thread count; the grid gradient is
 * zero between steps; the memory estimate counts the marks. */
#include "field/field.h"
#include "tasks/train.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

/* A per-point task on random points: a smooth target, and a zero loss weight for every third
 * point, so that some nodes are touched with an exactly-zero gradient only. */
typedef struct { const gnf_model *m; long nonzero; } task_state;

#define BATCH 3000
#define MIXED(kind) ((kind) ? 3.0 : GNF_TRAIN_WALK_FRACTION)

/* Whether level l is walked at walk fraction f (train.h). */
static int walked(const gnf_model *m, int l, double f) {
    return (double)(BATCH << m->cfg.in_dim) <= f * (double)m->level_nodes[l];
}

static void sample(void *user, long step, long chunk, gnf_rng *r, long n, float *x, float *t, float *w) {
    const gnf_model *m = ((task_state *)user)->m;
    (void)step; (void)chunk;
    const int dim = m->cfg.in_dim, O = m->cfg.out_dim;
    for (long p = 0; p < n; p++) {
        float *xp = x + p * dim;
        for (int a = 0; a < dim; a++) xp[a] = test_urand(r, -1, 1);
        for (int o = 0; o < O; o++) t[p * O + o] = sinf(3 * xp[0] + (float)o) * cosf(2 * xp[1]);
        w[p] = p % 3 == 2 ? 0.0f : 1.0f;
    }
}

/* 0: a 2D model of dense levels; 1: a 3D model of hash levels (one of 3 features, so adam_idx
 * runs its reference too).  MIXED(kind): a walk fraction that walks the fine levels only (2D: the
 * default; 3D: the 8192-node tables are touched too densely for the default to walk any). */
static gnf_model *model(int kind) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2 + kind, kind ? 1 : 3);
    cfg.encoding = kind ? GNF_ENC_HASH : GNF_ENC_DENSE;
    cfg.hash_log2 = 13;
    cfg.levels = 4;
    static const int res[2][4] = {{6, 24, 96, 448}, {6, 24, 96, 400}};
    for (int l = 0; l < cfg.levels; l++) { cfg.res[l] = res[kind][l]; cfg.feat[l] = kind && l == 2 ? 3 : 2; }
    cfg.rbf_k = 16;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, kind ? GNF_TASK_SDF : GNF_TASK_IMAGE, &m) == GNF_OK);
    return m;
}

/* After each step: counts the gradient entries of the levels MIXED walks that are not +0. */
static gnf_status count_grad(void *user, const gnf_step *s) {
    task_state *h = user;
    const gnf_model *m = s->m;
    for (int l = 0; l < m->cfg.levels; l++)
        for (long i = 0; i < m->grid_size[l] && walked(m, l, MIXED(m->cfg.in_dim - 2)); i++)
            h->nonzero += gnf_f2u(s->grad[m->grid_off[l] + i]) != 0;
    return GNF_OK;
}

static gnf_task_ops ops_for(task_state *st, int lazy, double walk_fraction) {
    gnf_task_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.sample = sample;
    ops.weighted = 1;
    ops.loss_name = "l2";
    ops.lazy_grid_adam = lazy;
    ops.walk_fraction = walk_fraction;
    ops.user = st;
    return ops;
}

/* Trains a fresh model of the kind for `steps` steps; *nonzero (if not NULL) receives the grid
 * gradient entries found nonzero after the steps. */
static gnf_model *train(int kind, int lazy, double walk_fraction, int threads, long *nonzero) {
    gnf_model *m = model(kind);
    if (!m) return NULL;
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = 12;
    tc.batch = BATCH;   /* one chunk and a part */
    tc.threads = threads;
    task_state st = {m, 0};
    gnf_task_ops ops = ops_for(&st, lazy, walk_fraction);
    if (nonzero) ops.after_step = count_grad;
    CHECK(gnf_train(m, &tc, &ops, NULL) == GNF_OK);
    if (nonzero) *nonzero = st.nonzero;
    return m;
}

static int same_params(const gnf_model *a, const gnf_model *b) {
    return a && b && a->nparams == b->nparams && memcmp(a->params, b->params, sizeof(float) * (size_t)a->nparams) == 0;
}

/* Marked-node walk == dense lazy loop, bit for bit, whichever levels take which; and lazy is not
 * dense Adam (so the zero gradients were really skipped). */
TEST(lazy_adam_walk_equals_dense_lazy_loop) {
    for (int kind = 0; kind < 2; kind++) {
        gnf_model *loop = train(kind, 1, 1e-12, 2, NULL);   /* every level: the dense lazy loop */
        gnf_model *walk = train(kind, 1, 1e12, 2, NULL);    /* every level: walked */
        gnf_model *mixed = train(kind, 1, MIXED(kind), 2, NULL);
        gnf_model *dense = train(kind, 0, 0, 2, NULL);
        int nwalk = 0;   /* MIXED walks some levels, not all */
        for (int l = 0; loop && l < loop->cfg.levels; l++) nwalk += walked(loop, l, MIXED(kind));
        CHECK_MSG(loop && nwalk > 0 && nwalk < loop->cfg.levels, "kind %d: %d levels walked", kind, nwalk);
        CHECK_MSG(same_params(loop, walk), "kind %d: walk differs from the dense lazy loop", kind);
        CHECK_MSG(same_params(loop, mixed), "kind %d: walking the fine levels differs from the dense lazy loop", kind);
        CHECK_MSG(loop && dense && !same_params(loop, dense), "kind %d: lazy Adam gave dense Adam's parameters", kind);
        gnf_model_free(loop); gnf_model_free(walk); gnf_model_free(mixed); gnf_model_free(dense);
    }
}

TEST(lazy_adam_thread_count_independent) {
    for (int kind = 0; kind < 2; kind++) {
        gnf_model *a = train(kind, 1, MIXED(kind), 1, NULL), *b = train(kind, 1, MIXED(kind), 3, NULL);
        CHECK_MSG(same_params(a, b), "kind %d: 1 and 3 threads differ", kind);
        gnf_model_free(a); gnf_model_free(b);
    }
}

/* Lazy: the walked levels' gradients are +0 after each step (their next scatter starts from
 * zero without a memset); dense Adam leaves them nonzero (so the count sees them). */
TEST(lazy_adam_grid_gradient_zero_between_steps) {
    for (int kind = 0; kind < 2; kind++) {
        long nz = -1, nz_dense = -1;
        gnf_model *a = train(kind, 1, MIXED(kind), 2, &nz), *b = train(kind, 0, 0, 2, &nz_dense);
        CHECK_MSG(nz == 0, "kind %d: %ld nonzero grid gradient entries after lazy steps", kind, nz);
        CHECK_MSG(nz_dense > 0, "kind %d: dense Adam keeps its gradients, the check sees them", kind);
        gnf_model_free(a); gnf_model_free(b);
    }
}

/* The memory estimate counts the marks: one bit per float of each walked level, a run of words
 * per level. */
TEST(lazy_adam_memory_estimate) {
    gnf_model *m = model(1);
    if (!m) return;
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.batch = BATCH;
    task_state st = {m, 0};
    gnf_task_ops lazy = ops_for(&st, 1, MIXED(1)), dense = ops_for(&st, 0, 0);
    long words = 0;
    for (int l = 0; l < m->cfg.levels; l++)
        if (walked(m, l, MIXED(1))) words += (m->grid_size[l] + 63) / 64;
    CHECK(words > 0 && words < (m->dec_off + 63) / 64);
    long extra = gnf_train_memory(m, &tc, &lazy) - gnf_train_memory(m, &tc, &dense);
    CHECK_MSG(extra == (words * 8 + 63) / 64 * 64, "estimate grows by %ld bytes for %ld mark words", extra, words);
    gnf_model_free(m);
}
