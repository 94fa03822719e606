/* test_kernels.c — every entry of every kernel table (field/kernels.h) over the shapes the tasks
 * use.  The scalar table is checked against straightforward double-precision versions written
 * here (so the scalar build, which has no other table, never compares the reference with
 * itself); the AVX2 table, where built and supported, against the scalar one: bit for bit for the
 * grid and Adam entries, within the stated tolerances for the RBF ones. */
#include "field/kernels.h"
#include "test.h"
#include <stdlib.h>

static const gnf_kernels *fast_table(void) {
#ifndef GNF_NO_AVX2
    if (gnf_cpu_has_avx2_fma()) return &gnf_kernels_avx2;
#endif
    return NULL;
}

/* |got - want| <= rel * max|want| + abs elementwise; names the first mismatch. */
static void close_to(const double *want, const double *got, long n, double rel, double abs, const char *what,
                     const char *who) {
    double mx = 0;
    for (long i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
    for (long i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= rel * mx + abs)) {
            test_fail(__FILE__, __LINE__, "%s %s[%ld]: %.9g vs %.9g (max %.3g)", who, what, i, got[i], want[i], mx);
            return;
        }
}

/* ---- RBF ------------------------------------------------------------------------------------- */

enum { NP = 13, MAXK = 64, MAXD = 32, MAXO = 49 };  /* 13 points: three tiles of 4 and one left */
typedef struct { float f[NP * MAXD], t[NP * MAXO], wt[NP], c[MAXD * MAXK], beta[MAXD * MAXK], W[MAXO * MAXK], w0[MAXO]; } rbf_case;

static double rho_d(double q, gnf_basis b) { return b == GNF_BASIS_IMQ ? 1 / sqrt(q + 1) : b == GNF_BASIS_MQ ? sqrt(q + 1) : exp(-q / 2); }
static double drho_d(double q, gnf_basis b) {
    return b == GNF_BASIS_IMQ ? -0.5 * pow(q + 1, -1.5) : b == GNF_BASIS_MQ ? 0.5 / sqrt(q + 1) : -0.5 * exp(-q / 2);
}

/* Double-precision forward (t == NULL) or training step.  out: y [n][O], or
 * [loss, sq, df [n][D], dc [D][K], db [D][K], dW [O][K], dw0 [O]]. */
static void rbf_oracle(double *out, const rbf_case *s, const float *t, int wt, int D, int K, int O, gnf_basis b,
                       gnf_loss loss, float scale) {
    double *df = out + 2, *dc = df + NP * D, *db = dc + D * K, *dW = db + D * K, *dw0 = dW + O * K;
    if (t) memset(out, 0, sizeof(double) * (size_t)(2 + NP * D + 2 * D * K + O * K + O));
    for (int p = 0; p < NP; p++) {
        double q[MAXK], gy[MAXO];
        for (int k = 0; k < K; k++) {
            q[k] = 0;
            for (int d = 0; d < D; d++) q[k] += s->beta[d * K + k] * pow((double)s->f[p * D + d] - s->c[d * K + k], 2);
        }
        for (int o = 0; o < O; o++) {
            double y = s->w0[o], sc = (double)scale * (wt ? s->wt[p] : 1);
            for (int k = 0; k < K; k++) y += s->W[o * K + k] * rho_d(q[k], b);
            if (!t) { out[p * O + o] = y; continue; }
            double e = y - t[p * O + o];
            if (loss == GNF_LOSS_GIVEN) gy[o] = t[p * O + o] * sc;
            else {
                out[1] += e * e;
                out[0] += sc * (loss == GNF_LOSS_L2 ? e * e : fabs(e));
                gy[o] = sc * (loss == GNF_LOSS_L2 ? 2 * e : (e > 0) - (e < 0));
            }
            dw0[o] += gy[o];
            for (int k = 0; k < K; k++) dW[o * K + k] += gy[o] * rho_d(q[k], b);
        }
        for (int k = 0; t && k < K; k++) {
            double a = 0;
            for (int o = 0; o < O; o++) a += gy[o] * s->W[o * K + k];
            double sk = drho_d(q[k], b) * a;
            for (int d = 0; d < D; d++) {
                double u = (double)s->f[p * D + d] - s->c[d * K + k], bu = sk * s->beta[d * K + k] * u;
                df[p * D + d] += 2 * bu;
                dc[d * K + k] -= 2 * bu;
                db[d * K + k] += bu * u;
            }
        }
    }
}

/* The same through table tk, in the oracle's layout. */
static void rbf_run(double *out, const gnf_kernels *tk, const rbf_case *s, const float *t, int wt, int D, int K, int O,
                    gnf_basis b, gnf_loss loss, float scale) {
    static float buf[2 * NP * MAXD + 2 * MAXD * MAXK + MAXO * MAXK + MAXO + 3 * MAXD * MAXK + 6 * MAXK + 64];
    long nres = t ? 2 + NP * D + 2 * D * K + O * K + O : NP * O;
    memset(buf, 0, sizeof buf);
    if (!t) tk->rbf_forward(buf, s->f, s->c, s->beta, s->W, s->w0, NP, D, K, O, b);
    else {
        float *g = buf + 2 + NP * D;
        rbf_grads gr = {g, g + D * K, g + 2 * D * K, g + 2 * D * K + O * K, g + 2 * D * K + O * K + O};
        double sq = 0, l = tk->rbf_train(buf + 2, gr, s->f, t, wt ? s->wt : NULL, s->c, s->beta, s->W, s->w0, NP, D, K, O,
                                         b, loss, scale, &sq);
        buf[0] = (float)l, buf[1] = (float)sq;
    }
    for (long i = 0; i < nres; i++) out[i] = buf[i];
}

/* Compares the parts of two results: loss, sq, df, dc, db, dW, dw0 (or y). */
static void rbf_compare(const double *want, const double *got, int train, int D, int K, int O, double rel, const char *who) {
    if (!train) { close_to(want, got, NP * O, rel, 0, "y", who); return; }
    long len[7] = {1, 1, NP * D, D * K, D * K, O * K, O}, off = 0;
    const char *name[7] = {"loss", "sq", "df", "dc", "db", "dW", "dw0"};
    for (int i = 0; i < 7; off += len[i++]) close_to(want + off, got + off, len[i], rel, 1e-6, name[i], who);
}

/* Every basis, loss and weighting at K in {8, 24, 32, 40, 64}, O in {1, 3, 49}, D in {4, 16, 20, 32}.
 * Tolerances, relative to the largest magnitude of each output: 2e-5 for the forward and 1e-4
 * for the training step (fast exp, FMA, the expanded distances of the AVX2 training kernel), plus
 * 1e-6 = 1e-4 x the loss scale for sums whose terms cancel (dw0, loss). */
static void rbf_sweep(int train) {
    static const int Ks[5] = {8, 24, 32, 40, 64}, Os[3] = {1, 3, 49}, Ds[4] = {4, 16, 20, 32};
    static rbf_case s;
    static double want[2 + NP * MAXD + 2 * MAXD * MAXK + MAXO * MAXK + MAXO], got[sizeof want / sizeof *want],
        ref[sizeof want / sizeof *want];
    static float t[NP * MAXO];
    const gnf_kernels *fast = fast_table();
    gnf_rng r;
    gnf_rng_seed(&r, 12, (uint64_t)train);
    for (int ki = 0; ki < 5; ki++) for (int oi = 0; oi < 3; oi++) for (int di = 0; di < 4; di++) {
        const int K = Ks[ki], O = Os[oi], D = Ds[di];
        for (int i = 0; i < NP * D; i++) s.f[i] = test_urand(&r, -1, 1);
        for (int i = 0; i < D * K; i++) { s.c[i] = test_urand(&r, -1, 1); s.beta[i] = 4.0f / (float)D * expf(test_urand(&r, -1, 0.3f)); }
        for (int i = 0; i < O * K; i++) s.W[i] = test_urand(&r, -1, 1);
        for (int i = 0; i < O; i++) s.w0[i] = test_urand(&r, -1, 1);
        for (int i = 0; i < NP; i++) s.wt[i] = test_urand(&r, 0.5f, 2);
        for (int bl = 0; bl < (train ? 18 : 3); bl++) {
            gnf_basis b = (gnf_basis)(bl % 3);
            gnf_loss loss = (gnf_loss)(bl / 3 % 3);
            int wt = bl >= 9;
            rbf_oracle(want, &s, NULL, 0, D, K, O, b, loss, 0);
            /* targets at least 0.01 from y, so that no L1 sign depends on rounding */
            for (int i = 0; i < NP * O; i++) t[i] = (float)want[i] + (i % 2 ? 1 : -1) * test_urand(&r, 0.01f, 0.5f);
            if (train) rbf_oracle(want, &s, t, wt, D, K, O, b, loss, 0.01f);
            char who[96];
            snprintf(who, sizeof who, "K%d O%d D%d basis %d loss %d wt %d", K, O, D, (int)b, (int)loss, wt);
            rbf_run(ref, &gnf_kernels_scalar, &s, train ? t : NULL, wt, D, K, O, b, loss, 0.01f);
            rbf_compare(want, ref, train, D, K, O, train ? 1e-4 : 2e-5, who);
            if (!fast) continue;
            rbf_run(got, fast, &s, train ? t : NULL, wt, D, K, O, b, loss, 0.01f);
            rbf_compare(ref, got, train, D, K, O, train ? 1e-4 : 2e-5, who);
        }
    }
}
TEST(rbf_kernels_forward) { rbf_sweep(0); }
TEST(rbf_kernels_train) { rbf_sweep(1); }

/* gnf_fast_exp, and the exp of each table's Gaussian forward (D = 1, c = 0, beta = 1 and an
 * identity head make y_o = exp(-f^2/2) exactly as the kernel computes it): relative error < 4e-7
 * on [-87, 0]. */
TEST(rbf_kernels_fast_exp) {
    double worst = 0;
    for (long i = 0; i <= 2000000; i++) {
        float x = (float)(-87.0 * (double)i / 2000000.0);
        worst = fmax(worst, fabs(gnf_fast_exp(x) - exp(x)) / exp(x));
    }
    CHECK_MSG(worst < 4e-7, "gnf_fast_exp worst relative error %.3g", worst);
    CHECK(gnf_fast_exp(0.0f) == 1.0f && gnf_fast_exp(-1000.0f) == 0.0f && gnf_fast_exp(-INFINITY) == 0.0f);
    CHECK(isnan(gnf_fast_exp(NAN)));
    enum { N = 100000 };
    float *f = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N * 8), c[8] = {0}, beta[8], W[64] = {0}, w0[8] = {0};
    for (int k = 0; k < 8; k++) { beta[k] = 1; W[k * 8 + k] = 1; }
    for (int i = 0; i < N; i++) f[i] = sqrtf(174.0f * (float)i / N);
    const gnf_kernels *tabs[2] = {&gnf_kernels_scalar, fast_table()};
    for (int ti = 0; ti < 2 && tabs[ti]; ti++) {
        tabs[ti]->rbf_forward(y, f, c, beta, W, w0, N, 1, 8, 8, GNF_BASIS_GAUSSIAN);
        worst = 0;
        for (int i = 0; i < N; i++) {
            double want = exp((double)(-0.5f * (f[i] * f[i])));
            for (int o = 0; o < 8; o++) worst = fmax(worst, fabs(y[i * 8 + o] - want) / want);
        }
        CHECK_MSG(worst < 4e-7, "%s forward exp worst relative error %.3g", tabs[ti]->name, worst);
    }
    free(f); free(y);
}

/* ---- grids ----------------------------------------------------------------------------------- */

/* Double-precision lookup (dfeats == NULL: adds level l's features of point x to out) or scatter
 * (adds to the double gradient arena out). */
static void grid_oracle(double *out, const gnf_model *m, int l, const float *x, const float *dfeats) {
    const int R = m->cfg.res[l], C = m->cfg.feat[l], dim = m->cfg.in_dim;
    long i[3] = {0, 0, 0};
    double w[3] = {0, 0, 0};
    for (int a = 0; a < dim; a++) {
        float pos = fminf(fmaxf((x[a] + 1.0f) * 0.5f * (float)(R - 1), 0), (float)(R - 1));
        i[a] = GNF_MIN((long)pos, R - 2);
        w[a] = pos - (double)i[a];
    }
    for (int k = 0; k < (1 << dim); k++) {
        uint32_t ix = (uint32_t)(i[0] + (k & 1)), iy = (uint32_t)(i[1] + (k >> 1 & 1)), iz = (uint32_t)(i[2] + (k >> 2));
        double wk = 1;
        for (int a = 0; a < dim; a++) wk *= k >> a & 1 ? w[a] : 1 - w[a];
        long node = m->level_dense[l] ? (long)ix + R * ((long)iy + R * (long)iz)
                                      : (long)((ix ^ iy * 2654435761u ^ iz * 805459861u) & (uint32_t)(m->level_nodes[l] - 1));
        for (int ch = 0; ch < C; ch++) {
            if (dfeats) out[m->grid_off[l] + node * C + ch] += wk * dfeats[m->feat_off[l] + ch];
            else out[m->feat_off[l] + ch] += wk * m->params[m->grid_off[l] + node * C + ch];
        }
    }
}

static void to_double(double *d, const float *f, long n) { for (long i = 0; i < n; i++) d[i] = f[i]; }

/* The scatter with marks of every table: the same gradient as grad (the scalar scatter without
 * marks); bits only at the first float of nodes, set for every node with a nonzero gradient (and
 * for nodes a point touched with a zero weight); the same marks from every table.  Each level is
 * scattered in two halves, so the second half finds marks already set. */
static void check_scatter_marks(const gnf_model *m, const float *x, const float *d, long n, const float *grad) {
    const gnf_kernels *tabs[2] = {&gnf_kernels_scalar, fast_table()};
    const long P = m->dec_off, words = P / 64 + m->cfg.levels + 1;
    uint64_t *marks[2] = {NULL, NULL};
    for (int ti = 0; ti < 2 && tabs[ti]; ti++) {
        float *g = calloc((size_t)P, 4);
        uint64_t *mk = marks[ti] = calloc((size_t)words, 8);
        long w = 0;
        for (int l = 0; l < m->cfg.levels; l++) {
            const long h = n / 2, dim = m->cfg.in_dim, C = m->cfg.feat[l], G = m->grid_size[l];
            tabs[ti]->grid_scatter_level(g, m, l, x, d, h, mk + w);
            tabs[ti]->grid_scatter_level(g, m, l, x + h * dim, d + h * m->D, n - h, mk + w);
            long bits = 0, missing = 0, misplaced = 0;
            for (long i = 0; i < G; i++) {
                long s0 = i - i % C;
                bits += (long)(mk[w + (i >> 6)] >> (i & 63) & 1);
                misplaced += i % C && (mk[w + (i >> 6)] >> (i & 63) & 1);
                missing += g[m->grid_off[l] + i] != 0 && !(mk[w + (s0 >> 6)] >> (s0 & 63) & 1);
            }
            CHECK_MSG(bits > 0 && bits <= m->level_nodes[l] && !missing && !misplaced,
                      "%s level %d: %ld bits, %ld nonzero floats unmarked, %ld bits off node starts", tabs[ti]->name, l, bits,
                      missing, misplaced);
            w += (G + 63) / 64;
        }
        CHECK_MSG(memcmp(g, grad, sizeof(float) * (size_t)P) == 0, "%s: marking changed the gradient", tabs[ti]->name);
        free(g);
    }
    if (marks[1]) CHECK(memcmp(marks[0], marks[1], 8 * (size_t)words) == 0);
    free(marks[0]);
    free(marks[1]);
}

/* Model v of the grid kernel sweeps: 2D (v even) or 3D, dense or hash (v / 2 odd; tables of 32
 * nodes: collisions), shape[0] levels of shape[1] features at resolutions 3, 6, 9, ... */
static void small_grid_config(gnf_model_config *cfg, int v, const int shape[2]) {
    gnf_model_config_default(cfg, 2 + v % 2, 1);
    cfg->encoding = v / 2 % 2 ? GNF_ENC_HASH : GNF_ENC_DENSE;
    cfg->hash_log2 = 5;
    cfg->levels = shape[0];
    for (int l = 0; l < cfg->levels; l++) { cfg->res[l] = 3 + 3 * l; cfg->feat[l] = shape[1]; }
}

/* 2D and 3D, dense and hash (tables of 32 nodes: collisions), D = levels x feat in {4, 16, 20, 32},
 * points inside and outside [-1,1]; 1003 points leave a ragged block of 8.  The scalar kernels
 * within 1e-6 (lookup) and 1e-4 (scatter, sums of many points) of the largest double value; the
 * fast ones bit-identical to the scalar ones. */
TEST(grid_kernels_encode_scatter) {
    static const int shapes[4][2] = {{2, 2}, {8, 2}, {5, 4}, {16, 2}};
    const long n = 1003;
    for (int v = 0; v < 16; v++) {
        gnf_model_config cfg;
        small_grid_config(&cfg, v, shapes[v / 4]);
        gnf_model *m = NULL;
        CHECK(gnf_model_create(&cfg, cfg.in_dim == 3 ? GNF_TASK_SDF : GNF_TASK_IMAGE, &m) == GNF_OK);
        if (!m) return;
        const int D = m->D, dim = cfg.in_dim;
        const long P = m->dec_off;
        gnf_rng r;
        gnf_rng_seed(&r, 9, (uint64_t)v);
        for (long i = 0; i < P; i++) m->params[i] = test_urand(&r, -1, 1);
        float *x = malloc(sizeof(float) * (size_t)(n * dim)), *d = malloc(sizeof(float) * (size_t)(n * D));
        float *fa = calloc((size_t)(n * D + P), 4), *fb = calloc((size_t)(n * D + P), 4);
        double *want = calloc((size_t)(n * D + P), 8), *got = calloc((size_t)(n * D + P), 8);
        for (long i = 0; i < n * dim; i++) x[i] = test_urand(&r, -1.1f, 1.1f);
        for (long i = 0; i < n * D; i++) d[i] = test_urand(&r, -1, 1);
        for (long p = 0; p < n; p++)
            for (int l = 0; l < cfg.levels; l++) grid_oracle(want + p * D, m, l, x + p * dim, NULL);
        gnf_kernels_scalar.grid_encode(fa, m, m->params, x, n);
        to_double(got, fa, n * D);
        close_to(want, got, n * D, 1e-6, 0, "feats", gnf_kernels_scalar.name);
        for (long p = 0; p < n; p++)
            for (int l = 0; l < cfg.levels; l++) grid_oracle(want + n * D, m, l, x + p * dim, d + p * D);
        for (int l = 0; l < cfg.levels; l++) gnf_kernels_scalar.grid_scatter_level(fa + n * D, m, l, x, d, n, NULL);
        to_double(got, fa, n * D + P);
        close_to(want + n * D, got + n * D, P, 1e-4, 0, "grad", gnf_kernels_scalar.name);
        const gnf_kernels *fast = fast_table();
        if (fast) {
            fast->grid_encode(fb, m, m->params, x, n);
            for (int l = 0; l < cfg.levels; l++) fast->grid_scatter_level(fb + n * D, m, l, x, d, n, NULL);
            CHECK_MSG(memcmp(fa, fb, sizeof(float) * (size_t)(n * D + P)) == 0, "%s grid kernels differ, model %d", fast->name, v);
        }
        check_scatter_marks(m, x, d, n, fa + n * D);
        free(x); free(d); free(fa); free(fb); free(want); free(got);
        gnf_model_free(m);
    }
}

/* The lookup from an f16 copy of the grids (the renderer's): the scalar entry equals the f32
 * lookup on params whose grid values are rounded to f16, bit for bit, and the fast entry equals
 * the scalar one.  The models of grid_kernels_encode_scatter (2D/3D, dense/hash, 1-4 features
 * per level) and a 3D hash grid of 2^17 two-feature nodes per level, whose lookup prefetches. */
static void check_encode_h(const gnf_model_config *cfg, uint64_t seed, long n) {
    gnf_model *m = NULL;
    CHECK(gnf_model_create(cfg, cfg->in_dim == 3 ? GNF_TASK_SDF : GNF_TASK_IMAGE, &m) == GNF_OK);
    if (!m) return;
    const int D = m->D, dim = cfg->in_dim;
    const long P = m->dec_off;
    gnf_rng r;
    gnf_rng_seed(&r, 11, seed);
    for (long i = 0; i < P; i++) m->params[i] = test_urand(&r, -1, 1) * (i % 7 == 0 ? 1e-6f : 1.0f);
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)P);
    float *rounded = malloc(sizeof(float) * (size_t)m->nparams);
    float *x = malloc(sizeof(float) * (size_t)(n * dim));
    float *fa = malloc(sizeof(float) * (size_t)(n * D)), *fb = malloc(sizeof(float) * (size_t)(n * D));
    float *fc = malloc(sizeof(float) * (size_t)(n * D));
    memcpy(rounded, m->params, sizeof(float) * (size_t)m->nparams);
    for (long i = 0; i < P; i++) rounded[i] = gnf_f16_to_f32(h[i] = gnf_f32_to_f16(m->params[i]));
    for (long i = 0; i < n * dim; i++) x[i] = test_urand(&r, -1.1f, 1.1f);
    gnf_kernels_scalar.grid_encode(fa, m, rounded, x, n);
    gnf_kernels_scalar.grid_encode_h(fb, m, h, x, n);
    CHECK_MSG(memcmp(fa, fb, sizeof(float) * (size_t)(n * D)) == 0, "scalar f16 lookup differs from the rounded f32 one");
    const gnf_kernels *fast = fast_table();
    if (fast) {
        fast->grid_encode_h(fc, m, h, x, n);
        CHECK_MSG(memcmp(fb, fc, sizeof(float) * (size_t)(n * D)) == 0, "%s f16 lookup differs from the scalar one",
                  fast->name);
    }
    double err = 0;
    gnf_kernels_scalar.grid_encode(fc, m, m->params, x, n);
    for (long i = 0; i < n * D; i++) err = fmax(err, fabs((double)fc[i] - fb[i]));
    CHECK_MSG(err < 4e-3, "f16 lookup %g from the f32 one (values up to 1)", err);   /* half an f16 ulp at 1, 8 corners */
    free(h); free(rounded); free(x); free(fa); free(fb); free(fc);
    gnf_model_free(m);
}

TEST(grid_kernels_encode_f16) {
    static const int shapes[5][2] = {{2, 2}, {8, 2}, {5, 4}, {16, 2}, {3, 1}};
    for (int v = 0; v < 20; v++) {
        gnf_model_config cfg;
        small_grid_config(&cfg, v, shapes[v / 4]);
        check_encode_h(&cfg, (uint64_t)v, 1003);
    }
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 3, 1);
    cfg.encoding = GNF_ENC_HASH;
    cfg.hash_log2 = 17;
    cfg.levels = 4;
    for (int l = 0; l < cfg.levels; l++) { cfg.res[l] = 16 << (2 * l); cfg.feat[l] = 2; }
    check_encode_h(&cfg, 99, 4099);
}

/* ---- Adam ------------------------------------------------------------------------------------ */

/* Both Adam entries on [3, 1001) of 1004 entries (unaligned start, ragged tail), gradients with
 * runs of zeros and isolated zeros: the scalar ones within 1e-6 of double precision (lazy: zero
 * gradients leave p, m, v untouched, bit for bit), the fast ones bit-identical to the scalar. */
TEST(adam_kernels) {
    enum { N = 1004, I0 = 3, I1 = 1001 };
    static float in[4][N], out[2][3][N];
    const float step = 0.01f, b1 = 0.9f, b2 = 0.99f, eps = 1e-8f;
    gnf_rng r;
    gnf_rng_seed(&r, 4, 4);
    for (int i = 0; i < N; i++) {
        in[0][i] = test_urand(&r, -1, 1); in[1][i] = test_urand(&r, -0.1f, 0.1f); in[2][i] = test_urand(&r, 0, 0.01f);
        in[3][i] = (i / 8) % 3 == 0 || i % 5 == 0 ? 0.0f : test_urand(&r, -1, 1);
    }
    const gnf_kernels *tabs[2] = {&gnf_kernels_scalar, fast_table()};
    for (int lazy = 0; lazy < 2; lazy++) {
        for (int ti = 0; ti < 2 && tabs[ti]; ti++) {
            memcpy(out[ti], in, sizeof out[ti]);
            (lazy ? tabs[ti]->adam_lazy : tabs[ti]->adam)(out[ti][0], out[ti][1], out[ti][2], in[3], I0, I1, step, b1, b2, eps);
        }
        for (int i = 0; i < N; i++) {
            const float *o[3] = {&out[0][0][i], &out[0][1][i], &out[0][2][i]};
            double g = in[3][i], m = b1 * (double)in[1][i] + (1 - (double)b1) * g, v = b2 * (double)in[2][i] + (1 - (double)b2) * g * g;
            double p = in[0][i] - step * m / (sqrt(v) + eps);
            if (i < I0 || i >= I1 || (lazy && g == 0)) CHECK(*o[0] == in[0][i] && *o[1] == in[1][i] && *o[2] == in[2][i]);
            else CHECK_MSG(fabs(*o[0] - p) <= 1e-6 * (1 + fabs(p - in[0][i])) && fabs(*o[1] - m) <= 1e-7 && fabs(*o[2] - v) <= 1e-8, "lazy %d entry %d", lazy, i);
        }
        if (tabs[1]) CHECK_MSG(memcmp(out[0], out[1], sizeof out[0]) == 0, "%s Adam (lazy %d) differs", tabs[1]->name, lazy);
    }
}

/* adam_idx over 37 distinct node offsets in shuffled order (C = 2 and 3; 37 leaves a ragged
 * tail of the 4-node blocks), gradients with zeros of both signs at listed entries: exactly the
 * lazy reference loop on the listed entries, their gradients then +0, every other entry left
 * alone — bit for bit, the scalar table and the fast one. */
TEST(adam_idx_kernel) {
    enum { N = 600, L = 37 };
    static float in[4][N], want[4][N], out[4][N];
    const float step = 0.01f, b1 = 0.9f, b2 = 0.99f, eps = 1e-15f;
    gnf_rng r;
    gnf_rng_seed(&r, 4, 5);
    for (int C = 2; C <= 3; C++) {
        int32_t off[N];
        int nodes = N / C;
        for (int j = 0; j < nodes; j++) off[j] = j * C;
        for (int j = nodes - 1; j > 0; j--) {   /* shuffle; the first L are the list */
            int k = (int)(gnf_rng_u64(&r) % (uint64_t)(j + 1));
            int32_t tmp = off[j]; off[j] = off[k]; off[k] = tmp;
        }
        for (int i = 0; i < N; i++) {
            in[0][i] = test_urand(&r, -1, 1); in[1][i] = test_urand(&r, -0.1f, 0.1f); in[2][i] = test_urand(&r, 0, 0.01f);
            in[3][i] = i % 7 == 0 ? 0.0f : i % 11 == 0 ? -0.0f : test_urand(&r, -1, 1);
        }
        memcpy(want, in, sizeof want);
        for (int j = 0; j < L; j++) {
            gnf_adam_update_lazy_step_ref(want[0], want[1], want[2], want[3], off[j], off[j] + C, step, b1, b2, eps);
            for (int c = 0; c < C; c++) want[3][off[j] + c] = 0.0f;
        }
        const gnf_kernels *tabs[2] = {&gnf_kernels_scalar, fast_table()};
        for (int ti = 0; ti < 2 && tabs[ti]; ti++) {
            memcpy(out, in, sizeof out);
            tabs[ti]->adam_idx(out[0], out[1], out[2], out[3], off, L, C, step, b1, b2, eps);
            CHECK_MSG(memcmp(out, want, sizeof out) == 0, "%s adam_idx, C = %d", tabs[ti]->name, C);
        }
        int skipped = 0, updated = 0;   /* the case covers both */
        for (int j = 0; j < L; j++)
            for (int c = 0; c < C; c++) {
                skipped += in[3][off[j] + c] == 0;
                updated += want[0][off[j] + c] != in[0][off[j] + c];
            }
        CHECK(skipped > 0 && updated > 0);
    }
}

/* ---- which kernels run ----------------------------------------------------------------------- */

/* RBF shapes the fast table does not take (K % 8 != 0) and the MLP decoder run scalar kernels,
 * and the names say so. */
TEST(rbf_grid_kernel_names) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    cfg.rbf_k = 16;
    gnf_model *m = NULL, *m12 = NULL, *mlp = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK);
    cfg.rbf_k = 12;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m12) == GNF_OK);
    cfg.decoder = GNF_DEC_MLP;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &mlp) == GNF_OK);
    CHECK(strcmp(gnf_kernel_name_for(m), gnf_kernel_name()) == 0);
    gnf_set_force_scalar(1);
    CHECK(gnf_kernels_active() == &gnf_kernels_scalar && gnf_kernels_rbf(16) == &gnf_kernels_scalar);
    CHECK(!strcmp(gnf_kernel_name_for(m), "scalar") && !strcmp(gnf_kernel_name_for(mlp), "scalar"));
    gnf_set_force_scalar(0);
    const gnf_kernels *fast = fast_table();
    if (fast && gnf_kernels_active() == fast) {
        CHECK(gnf_kernels_rbf(16) == fast && gnf_kernels_rbf(12) == &gnf_kernels_scalar);
        CHECK(!strcmp(gnf_kernel_name_for(m), "avx2-fma"));
        CHECK(!strcmp(gnf_kernel_name_for(m12), "avx2-fma grid, scalar decoder"));
        CHECK(!strcmp(gnf_kernel_name_for(mlp), "avx2-fma grid, scalar decoder"));
    }
    gnf_model_free(m); gnf_model_free(m12); gnf_model_free(mlp);
}
