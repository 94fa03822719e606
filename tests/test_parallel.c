/* test_parallel.c — the data-parallel hook of the training loop (gnf_train_config.parallel),
 * without MPI: the "ranks" are threads of this process, each training its own model, and the
 * sums are done in rank order through a barrier (what tools/cli/mpi.c does with MPI).  Checks:
 * one rank is neutral (the bits of a plain fit: image, and an SDF with lazy grid Adam); two ranks
 * keep identical parameters, repeat bit for bit, and train as well as one process; a rank whose
 * sum goes wrong is caught by the parameter check on every rank; one rank's cancel stops both
 * after the same step; a bad rank is refused.  tests/mpi/run.sh tests the MPI build itself. */
#include "field/field.h"
#include "tasks/train.h"
#include "test.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAXR 4

/* The ranks' meeting point: every rank posts its vector, all wait, each adds them up in rank
 * order into its own scratch, all wait again (nobody may overwrite an input still being read),
 * then each copies the sum back. */
typedef struct {
    int ranks;
    pthread_barrier_t bar;
    const void *in[MAXR];
    int desync_rank;           /* >= 0: this rank's first float sum comes back perturbed */
} comm;

typedef struct {
    comm *c;
    int rank, calls;
    void *scratch;
    long scratch_bytes;
} rank_ctx;

static int grow(rank_ctx *r, long bytes) {
    if (bytes <= r->scratch_bytes) return 1;
    void *p = realloc(r->scratch, (size_t)bytes);
    if (!p) return 0;
    r->scratch = p, r->scratch_bytes = bytes;
    return 1;
}

static int sum_f32(void *user, float *x, long n) {
    rank_ctx *r = user;
    if (!grow(r, n * (long)sizeof(float))) return GNF_ERR_NOMEM;   /* every rank allocates alike here */
    r->c->in[r->rank] = x;
    pthread_barrier_wait(&r->c->bar);
    float *s = r->scratch;
    memcpy(s, r->c->in[0], sizeof(float) * (size_t)n);
    for (int q = 1; q < r->c->ranks; q++) {
        const float *v = r->c->in[q];
        for (long i = 0; i < n; i++) s[i] += v[i];
    }
    pthread_barrier_wait(&r->c->bar);
    memcpy(x, s, sizeof(float) * (size_t)n);
    if (r->rank == r->c->desync_rank && r->calls == 0 && n > 0) x[n - 1] += 1e-3f;
    r->calls++;
    return GNF_OK;
}

static int sum_f64(void *user, double *x, long n) {
    rank_ctx *r = user;
    if (!grow(r, n * (long)sizeof(double))) return GNF_ERR_NOMEM;
    r->c->in[r->rank] = x;
    pthread_barrier_wait(&r->c->bar);
    double *s = r->scratch;
    memcpy(s, r->c->in[0], sizeof(double) * (size_t)n);
    for (int q = 1; q < r->c->ranks; q++) {
        const double *v = r->c->in[q];
        for (long i = 0; i < n; i++) s[i] += v[i];
    }
    pthread_barrier_wait(&r->c->bar);
    memcpy(x, s, sizeof(double) * (size_t)n);
    return GNF_OK;
}

typedef struct {
    const gnf_image *img;
    const gnf_sdf_target *sdf;
    gnf_train_config tc;
    gnf_parallel par;
    rank_ctx ctx;
    int cancel_at;             /* > 0: this rank asks to stop from this step boundary on */
    int boundaries;
    gnf_model *m;
    gnf_status st;
    gnf_train_report rep;
    char err[512];
} rank_job;

static int cancel_fn(void *user) {
    rank_job *j = user;
    return j->cancel_at > 0 && ++j->boundaries > j->cancel_at;
}

static gnf_model *new_model(int sdf) {
    gnf_model_config cfg;
    gnf_model *m = NULL;
    if (sdf) {
        gnf_model_config_default(&cfg, 3, 1);
        cfg.encoding = GNF_ENC_HASH;
        cfg.hash_log2 = 16;
        CHECK(gnf_model_config_for_params(&cfg, 600000, 1024) == GNF_OK);
    } else {
        gnf_model_config_default(&cfg, 2, 3);
        gnf_model_config_for_params(&cfg, 12000, 64);
    }
    CHECK(gnf_model_create(&cfg, sdf ? GNF_TASK_SDF : GNF_TASK_IMAGE, &m) == GNF_OK);
    return m;
}

/* Images: batch 5000, 3 chunks, the last one short (rank 0 of 2 takes 1, rank 1 the other 2).
 * SDFs: 256 points, one chunk (rank 0 of 2 has none: it only adds zeros), so the fine hash
 * levels are far larger than a step's reach: one process walks their marked nodes. */
static void job_config(rank_job *j, long steps, int sdf) {
    gnf_train_config_default(&j->tc);
    j->tc.steps = steps;
    j->tc.batch = sdf ? 256 : 5000;
    j->tc.threads = 1;
}

static void *run_rank(void *arg) {
    rank_job *j = arg;
    j->st = j->sdf ? gnf_fit_sdf(j->m, j->sdf, &j->tc, 0, &j->rep) : gnf_fit_image(j->m, j->img, &j->tc, &j->rep);
    if (j->st != GNF_OK) snprintf(j->err, sizeof j->err, "%s", gnf_last_error());
    return NULL;
}

/* Trains `ranks` models together (threads as ranks); jobs[r] come back with their models. */
static void train_ranks(rank_job *jobs, int ranks, const gnf_image *img, const gnf_sdf_target *sdf, long steps,
                        int desync_rank, int cancel_rank, int cancel_at) {
    comm c;
    memset(&c, 0, sizeof c);
    c.ranks = ranks, c.desync_rank = desync_rank;
    pthread_barrier_init(&c.bar, NULL, (unsigned)ranks);
    pthread_t th[MAXR];
    for (int r = 0; r < ranks; r++) {
        rank_job *j = &jobs[r];
        memset(j, 0, sizeof *j);
        j->img = img, j->sdf = sdf;
        job_config(j, steps, sdf != NULL);
        j->ctx = (rank_ctx){&c, r, 0, NULL, 0};
        j->par = (gnf_parallel){r, ranks, sum_f32, sum_f64, &j->ctx};
        j->tc.parallel = &j->par;
        j->tc.cancel = cancel_fn;
        j->tc.cancel_user = j;
        j->cancel_at = r == cancel_rank ? cancel_at : 0;
        j->m = new_model(sdf != NULL);
        CHECK(pthread_create(&th[r], NULL, run_rank, j) == 0);
    }
    for (int r = 0; r < ranks; r++) pthread_join(th[r], NULL);
    for (int r = 0; r < ranks; r++) free(jobs[r].ctx.scratch);
    pthread_barrier_destroy(&c.bar);
}

static gnf_model *fit_alone(const gnf_image *img, const gnf_sdf_target *sdf, long steps, gnf_train_report *rep) {
    rank_job j;
    memset(&j, 0, sizeof j);
    job_config(&j, steps, sdf != NULL);
    j.m = new_model(sdf != NULL);
    CHECK((sdf ? gnf_fit_sdf(j.m, sdf, &j.tc, 0, rep) : gnf_fit_image(j.m, img, &j.tc, rep)) == GNF_OK);
    return j.m;
}

static int same_params(const gnf_model *a, const gnf_model *b) {
    return a->nparams == b->nparams && memcmp(a->params, b->params, sizeof(float) * (size_t)a->nparams) == 0;
}

/* A closed box mesh (12 triangles) as an SDF target with a small pool. */
static gnf_sdf_target *box_target(void) {
    static const float v[8 * 3] = {-.5f, -.4f, -.3f, .5f, -.4f, -.3f, .5f, .4f, -.3f, -.5f, .4f, -.3f,
                                   -.5f, -.4f, .3f,  .5f, -.4f, .3f,  .5f, .4f, .3f,  -.5f, .4f, .3f};
    static const int32_t f[12 * 3] = {0, 2, 1, 0, 3, 2, 4, 5, 6, 4, 6, 7, 0, 1, 5, 0, 5, 4,
                                      2, 3, 7, 2, 7, 6, 1, 2, 6, 1, 6, 5, 3, 0, 4, 3, 4, 7};
    gnf_sdf_config c;
    gnf_sdf_config_default(&c);
    c.samples = 1L << 15;
    c.threads = 1;
    gnf_sdf_target *t = NULL;
    CHECK(gnf_sdf_target_create_from_arrays(v, 8, f, 12, &c, &t) == GNF_OK);
    return t;
}

TEST(parallel_one_rank_is_a_plain_fit) {
    gnf_image img;
    test_synth_image(&img, 64, 48);
    gnf_train_report rep;
    rank_job j[1];
    gnf_model *a = fit_alone(&img, NULL, 30, &rep);
    train_ranks(j, 1, &img, NULL, 30, -1, -1, 0);
    CHECK_MSG(j[0].st == GNF_OK, "%s", j[0].err);
    CHECK(same_params(a, j[0].m));
    CHECK(gnf_model_get_meta(j[0].m, "gnf.train.ranks") == NULL);
    gnf_model_free(a);
    gnf_model_free(j[0].m);
    /* lazy grid Adam (SDF): the dense lazy loop a rank runs gives the plain fit's bits */
    gnf_sdf_target *t = box_target();
    a = fit_alone(NULL, t, 20, &rep);
    int walked = 0;   /* the plain fit walks a level (train.c: reach <= GNF_TRAIN_WALK_FRACTION of its nodes) */
    long most = 0;
    for (int l = 0; l < a->cfg.levels; l++) {
        walked |= 256.0 * 8 <= GNF_TRAIN_WALK_FRACTION * (double)a->level_nodes[l];
        most = GNF_MAX(most, (long)a->level_nodes[l]);
    }
    CHECK_MSG(walked, "no level is walked: the largest has %ld nodes, %ld params", most, a->nparams);
    train_ranks(j, 1, NULL, t, 20, -1, -1, 0);
    CHECK_MSG(j[0].st == GNF_OK, "%s", j[0].err);
    CHECK(same_params(a, j[0].m));
    gnf_model_free(a);
    gnf_model_free(j[0].m);
    gnf_sdf_target_free(t);
    gnf_image_free(&img);
}

TEST(parallel_two_ranks_agree_repeat_and_train_as_one) {
    gnf_image img;
    test_synth_image(&img, 64, 48);
    rank_job j[2], k[2];
    train_ranks(j, 2, &img, NULL, 200, -1, -1, 0);
    train_ranks(k, 2, &img, NULL, 200, -1, -1, 0);
    CHECK_MSG(j[0].st == GNF_OK && j[1].st == GNF_OK, "%s / %s", j[0].err, j[1].err);
    CHECK(same_params(j[0].m, j[1].m));   /* the same model on both ranks */
    CHECK(same_params(j[0].m, k[0].m));   /* and again on a second run */
    const char *rk = gnf_model_get_meta(j[0].m, "gnf.train.ranks");
    CHECK(rk && !strcmp(rk, "2"));
    CHECK(j[0].rep.steps == 200 && j[1].rep.steps == 200);
    /* the union of the ranks' shares is the single-process batch: the same quality */
    gnf_train_report one;
    gnf_model *a = fit_alone(&img, NULL, 200, &one);
    CHECK_MSG(fabs(j[0].rep.quality - one.quality) < 0.3, "PSNR 2 ranks %.3f, one process %.3f", j[0].rep.quality, one.quality);
    CHECK_MSG(one.quality > 25, "one process reached only %.2f dB", one.quality);
    gnf_model_free(a);
    for (int r = 0; r < 2; r++) { gnf_model_free(j[r].m); gnf_model_free(k[r].m); }
    gnf_image_free(&img);
}

TEST(parallel_sdf_two_ranks_agree) {
    gnf_sdf_target *t = box_target();
    rank_job j[2];
    train_ranks(j, 2, NULL, t, 30, -1, -1, 0);
    CHECK_MSG(j[0].st == GNF_OK && j[1].st == GNF_OK, "%s / %s", j[0].err, j[1].err);
    CHECK(same_params(j[0].m, j[1].m));
    for (int r = 0; r < 2; r++) gnf_model_free(j[r].m);
    gnf_sdf_target_free(t);
}

TEST(parallel_ranks_that_differ_fail_on_every_rank) {
    gnf_image img;
    test_synth_image(&img, 64, 48);
    rank_job j[2];
    train_ranks(j, 2, &img, NULL, 20, 1, -1, 0);
    for (int r = 0; r < 2; r++) {
        CHECK_MSG(j[r].st == GNF_ERR_INVALID, "rank %d: status %d", r, (int)j[r].st);
        CHECK_MSG(strstr(j[r].err, "differ from rank 0's after 20 steps") != NULL, "rank %d: %s", r, j[r].err);
        gnf_model_free(j[r].m);
    }
    gnf_image_free(&img);
}

TEST(parallel_one_ranks_cancel_stops_all_at_one_step) {
    gnf_image img;
    test_synth_image(&img, 64, 48);
    rank_job j[2];
    train_ranks(j, 2, &img, NULL, 1000, -1, 1, 12);   /* rank 1 asks from its 13th step boundary */
    for (int r = 0; r < 2; r++) {
        CHECK_MSG(j[r].st == GNF_OK, "%s", j[r].err);
        CHECK_MSG(!strcmp(j[r].rep.stop_reason, "cancelled") && j[r].rep.steps == 12, "rank %d: %s after %ld steps", r,
                  j[r].rep.stop_reason, j[r].rep.steps);
    }
    CHECK(same_params(j[0].m, j[1].m));
    for (int r = 0; r < 2; r++) gnf_model_free(j[r].m);
    gnf_image_free(&img);
}

TEST(parallel_bad_rank_is_refused) {
    gnf_image img;
    test_synth_image(&img, 16, 16);
    gnf_model *m = new_model(0);
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = 2;
    gnf_parallel p = {2, 2, sum_f32, sum_f64, NULL};
    tc.parallel = &p;
    CHECK(gnf_fit_image(m, &img, &tc, NULL) == GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "rank 2 of 2") != NULL);
    gnf_model_free(m);
    gnf_image_free(&img);
}
