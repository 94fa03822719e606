/* test_resume.c — cancellation, checkpoints and resuming, and the divergence guard (train.c):
 * for each task (image; SDF with hash grids, walked levels and keep-best; radiance field with
 * its occupancy grid), a run cancelled at step k and resumed from its checkpoint ends
 * bit-identical — parameters and model file — to the run never interrupted; a checkpoint is
 * refused for other data, other settings, another architecture, or when corrupt or truncated;
 * a NaN step rolls back with a halved learning rate, and an absurd learning rate gives up with
 * GNF_ERR_DIVERGED after max_rollbacks rollbacks. */
#include "field/field.h"
#include "io/safetensors.h"
#include "tasks/train.h"
#include "test.h"
#include <png.h>
#include <stdlib.h>
#include <string.h>

/* Cancels at the boundary after `at` steps: the callback is asked once per boundary, the first
 * time before any step. */
typedef struct { long calls, at; } cancel_at;
static int cancel_cb(void *user) {
    cancel_at *c = user;
    return c->calls++ >= c->at;
}

/* Counts the events (rollbacks) the progress callback sees, keeps the last one. */
typedef struct { int events; char last[256]; } event_log;
static int on_event(const gnf_progress *p, void *user) {
    event_log *e = user;
    if (p->event) { e->events++; snprintf(e->last, sizeof e->last, "%s", p->event); }
    return 0;
}

/* Whether two models hold the same parameters, bit for bit, and save to the same bytes. */
static int same_model(const gnf_model *a, const gnf_model *b, const char *tag) {
    if (a->nparams != b->nparams || memcmp(a->params, b->params, sizeof(float) * (size_t)a->nparams) != 0) return 0;
    char pa[64], pb[64];
    snprintf(pa, sizeof pa, "%s_a.gnf", tag);
    snprintf(pb, sizeof pb, "%s_b.gnf", tag);
    const char *fa = test_tmp(pa), *fb = test_tmp(pb);
    if (gnf_model_save(a, fa, 0) != GNF_OK || gnf_model_save(b, fb, 0) != GNF_OK) return 0;
    size_t na = 0, nb = 0;
    unsigned char *ba = test_read_file(fa, &na), *bb = test_read_file(fb, &nb);
    int same = ba && bb && na == nb && memcmp(ba, bb, na) == 0;
    free(ba);
    free(bb);
    return same;
}

/* Whether two checkpoints hold the same state: every tensor bit for bit and every metadata value
 * but the wall-clock time used (gnf.ckpt.elapsed_s). */
static int same_checkpoint(const char *a, const char *b) {
    gnf_st_file fa, fb;
    int same = gnf_st_read(a, &fa) == GNF_OK && gnf_st_read(b, &fb) == GNF_OK;
    if (!same) { CHECK_MSG(0, "cannot read %s or %s: %s", a, b, gnf_last_error()); return 0; }
    same = fa.ntensors == fb.ntensors && fa.nmeta == fb.nmeta;
    for (int i = 0; same && i < fa.ntensors; i++) {
        const gnf_st_tensor *x = &fa.tensors[i], *y = gnf_st_find(&fb, x->name);
        same = y && x->numel == y->numel && memcmp(x->data, y->data, sizeof(float) * (size_t)x->numel) == 0;
        if (!same) printf("      checkpoints differ in tensor %s\n", x->name);
    }
    for (int i = 0; same && i < fa.nmeta; i++) {
        const char *v = gnf_st_meta(&fb, fa.meta[i].key);
        same = !strcmp(fa.meta[i].key, "gnf.ckpt.elapsed_s") || (v && !strcmp(v, fa.meta[i].value));
        if (!same) printf("      checkpoints differ in %s: %s vs %s\n", fa.meta[i].key, fa.meta[i].value, v ? v : "(none)");
    }
    gnf_st_file_free(&fa);
    gnf_st_file_free(&fb);
    return same;
}

/* ---- images ---------------------------------------------------------------------------------- */

static void picture(gnf_image *img, int w, int h, float phase) {
    gnf_image_alloc(img, w, h, 3);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            float *p = img->px + ((size_t)i * w + j) * 3;
            p[0] = 0.5f + 0.4f * sinf(0.3f * (float)j + phase);
            p[1] = (float)i / (float)h;
            p[2] = (i / 5 + j / 7) % 2 ? 0.8f : 0.2f;
        }
}

static gnf_model *image_model(void) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    gnf_model_config_for_params(&cfg, 8000, 48);
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK);
    return m;
}

static void image_config(gnf_train_config *tc, long steps) {
    gnf_train_config_default(tc);
    tc->steps = steps;
    tc->batch = 3000;
}

TEST(resume_image_is_bit_identical) {
    gnf_image img;
    picture(&img, 48, 40, 0);
    const long N = 60, K = 23;
    const char *ck = test_tmp("image.ckpt");
    gnf_train_config tc;
    image_config(&tc, N);
    gnf_model *full = image_model(), *part = image_model(), *res = image_model();
    if (!full || !part || !res) return;
    gnf_train_report rep;
    CHECK(gnf_fit_image(full, &img, &tc, &rep) == GNF_OK);
    /* cancelled after K steps: the model of K steps, said so, and a checkpoint */
    cancel_at c = {0, K};
    tc.cancel = cancel_cb;
    tc.cancel_user = &c;
    tc.checkpoint_path = ck;
    tc.threads = 1;
    CHECK(gnf_fit_image(part, &img, &tc, &rep) == GNF_OK);
    CHECK(rep.steps == K && !strcmp(rep.stop_reason, "cancelled"));
    const char *v = gnf_model_get_meta(part, "gnf.train.stop"), *ss = gnf_model_get_meta(part, "gnf.train.stopped_step");
    CHECK(v && !strcmp(v, "cancelled") && ss && atol(ss) == K);
    CHECK(test_file_size(ck) > 0);
    CHECK_EQ_INT(test_count_files(test_tmp_dir(), "image.ckpt.tmp"), 0);
    /* the checkpoint holds the model of K steps, and gnf_model_load refuses it */
    gnf_model *cm = NULL;
    CHECK(gnf_checkpoint_load_model(ck, &cm) == GNF_OK);
    if (cm) {
        const char *st = gnf_model_get_meta(cm, "gnf.ckpt.step");
        CHECK(st && atol(st) == K);
        gnf_model_free(cm);
    }
    CHECK(gnf_model_load(ck, &cm) == GNF_ERR_FORMAT && strstr(gnf_last_error(), "checkpoint"));
    /* resumed (another thread count, a fresh model of another seed): the uninterrupted run */
    gnf_train_config tr;
    image_config(&tr, N);
    tr.resume_path = ck;
    tr.threads = 2;
    CHECK(gnf_fit_image(res, &img, &tr, &rep) == GNF_OK);
    CHECK(rep.steps == N && !strcmp(rep.stop_reason, "steps"));
    CHECK_MSG(same_model(full, res, "image"), "resumed image model differs from the uninterrupted one");
    CHECK(!same_model(full, part, "image_part"));
    gnf_model_free(full);
    gnf_model_free(part);
    gnf_model_free(res);
    gnf_image_free(&img);
}

/* A checkpoint written every boundary (checkpoint_every tiny) while the run completes holds the
 * final state; resuming it runs no step and gives the same model. */
TEST(resume_from_periodic_checkpoint) {
    gnf_image img;
    picture(&img, 32, 32, 0.5f);
    const char *ck = test_tmp("periodic.ckpt");
    gnf_train_config tc;
    image_config(&tc, 12);
    tc.checkpoint_path = ck;
    tc.checkpoint_every = 1e-9;
    gnf_model *a = image_model(), *b = image_model();
    if (!a || !b) return;
    gnf_train_report rep;
    CHECK(gnf_fit_image(a, &img, &tc, &rep) == GNF_OK && rep.steps == 12);
    gnf_model *cm = NULL;
    CHECK(gnf_checkpoint_load_model(ck, &cm) == GNF_OK);
    const char *st = cm ? gnf_model_get_meta(cm, "gnf.ckpt.step") : NULL;
    CHECK_MSG(st && atol(st) == 12, "checkpoint step %s", st ? st : "(none)");
    gnf_model_free(cm);
    tc.checkpoint_path = NULL;
    tc.resume_path = ck;
    CHECK(gnf_fit_image(b, &img, &tc, &rep) == GNF_OK && rep.steps == 12);
    CHECK(same_model(a, b, "periodic"));
    gnf_model_free(a);
    gnf_model_free(b);
    gnf_image_free(&img);
}

/* What must not be resumed: other data, other settings, another architecture, a checkpoint
 * that is corrupt or truncated, a model file; each refused with a message naming the file. */
TEST(resume_refuses_other_runs_and_bad_files) {
    gnf_image img, other;
    picture(&img, 32, 32, 0);
    picture(&other, 32, 32, 0);
    other.px[100] += 0.25f;   /* one value changed */
    const char *ck = test_tmp("refuse.ckpt");
    gnf_train_config tc;
    image_config(&tc, 20);
    cancel_at c = {0, 5};
    tc.cancel = cancel_cb;
    tc.cancel_user = &c;
    tc.checkpoint_path = ck;
    gnf_model *m = image_model();
    if (!m) return;
    CHECK(gnf_fit_image(m, &img, &tc, NULL) == GNF_OK);
    gnf_train_config tr;
    image_config(&tr, 20);
    tr.resume_path = ck;
    CHECK_EQ_INT(gnf_fit_image(m, &other, &tr, NULL), GNF_ERR_INVALID);
    CHECK_MSG(strstr(gnf_last_error(), "refuse.ckpt") && strstr(gnf_last_error(), "other training data"), "%s", gnf_last_error());
    tr.lr0 = 0.02f;
    CHECK_EQ_INT(gnf_fit_image(m, &img, &tr, NULL), GNF_ERR_INVALID);
    CHECK_MSG(strstr(gnf_last_error(), "refuse.ckpt") && strstr(gnf_last_error(), "lr0"), "%s", gnf_last_error());
    image_config(&tr, 20);
    tr.resume_path = ck;
    tr.seed = 2;
    CHECK_EQ_INT(gnf_fit_image(m, &img, &tr, NULL), GNF_ERR_INVALID);
    CHECK_MSG(strstr(gnf_last_error(), "seed"), "%s", gnf_last_error());
    tr.seed = 1;
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    gnf_model_config_for_params(&cfg, 20000, 32);
    gnf_model *big = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &big) == GNF_OK);
    if (big) {
        CHECK_EQ_INT(gnf_fit_image(big, &img, &tr, NULL), GNF_ERR_INVALID);
        CHECK_MSG(strstr(gnf_last_error(), "refuse.ckpt") && strstr(gnf_last_error(), "model"), "%s", gnf_last_error());
        gnf_model_free(big);
    }
    /* truncated, then one byte of the data flipped to a NaN, then a plain model file */
    size_t n = 0;
    unsigned char *b = test_read_file(ck, &n);
    CHECK(b && n > 100);
    if (!b) return;
    const char *bad = test_tmp("bad.ckpt");
    tr.resume_path = bad;
    test_write_file(bad, b, n - 40);
    CHECK_EQ_INT(gnf_fit_image(m, &img, &tr, NULL), GNF_ERR_FORMAT);
    CHECK_MSG(strstr(gnf_last_error(), "bad.ckpt"), "%s", gnf_last_error());
    memset(b + n - 4, 0xFF, 4);   /* the last float: NaN */
    test_write_file(bad, b, n);
    CHECK_EQ_INT(gnf_fit_image(m, &img, &tr, NULL), GNF_ERR_FORMAT);
    CHECK_MSG(strstr(gnf_last_error(), "bad.ckpt"), "%s", gnf_last_error());
    free(b);
    CHECK(gnf_model_save(m, bad, 0) == GNF_OK);
    CHECK_EQ_INT(gnf_fit_image(m, &img, &tr, NULL), GNF_ERR_FORMAT);
    CHECK_MSG(strstr(gnf_last_error(), "bad.ckpt") && strstr(gnf_last_error(), "not a gnf training checkpoint"), "%s", gnf_last_error());
    tr.resume_path = test_tmp("missing.ckpt");
    CHECK_EQ_INT(gnf_fit_image(m, &img, &tr, NULL), GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), "missing.ckpt") != NULL);
    gnf_model_free(m);
    gnf_image_free(&img);
    gnf_image_free(&other);
}

/* ---- signed distance fields ---------------------------------------------------------------- */

/* An octahedron |x|+|y|+|z| = 1 (8 faces), closed. */
static const char *octahedron(void) {
    const char *p = test_tmp("octa.obj");
    FILE *f = fopen(p, "w");
    if (!f) return NULL;
    fputs("v 1 0 0\nv -1 0 0\nv 0 1 0\nv 0 -1 0\nv 0 0 1\nv 0 0 -1\n"
          "f 1 3 5\nf 3 2 5\nf 2 4 5\nf 4 1 5\nf 3 1 6\nf 2 3 6\nf 4 2 6\nf 1 4 6\n", f);
    fclose(f);
    return p;
}

/* Hash grids whose finest levels the optimiser walks (batch 256 reaches 2048 nodes, 1/16 of a
 * 2^15 table), so the lazy path's state is part of what must carry over. */
static gnf_model *sdf_model(void) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 3, 1);
    cfg.encoding = GNF_ENC_HASH;
    cfg.hash_log2 = 15;
    cfg.levels = 4;
    const int res[4] = {8, 16, 40, 96};
    for (int l = 0; l < 4; l++) { cfg.res[l] = res[l]; cfg.feat[l] = 2; }
    cfg.rbf_k = 16;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_SDF, &m) == GNF_OK);
    return m;
}

static void sdf_config(gnf_train_config *tc, long steps) {
    gnf_train_config_default(tc);
    tc->steps = steps;
    tc->batch = 256;
    tc->lr0 = tc->lr1 = 0.05f;   /* a rate that keeps the field moving: late checks can be worse */
    tc->lr_knee_steps = 40;      /* keep-best: 40 checks after step 40 */
}

/* The run never interrupted and the run cancelled after K steps and resumed, both cancelled at
 * step N: the same model file and the same checkpoint (every array and value of the state). */
TEST(resume_sdf_is_bit_identical) {
    const char *obj = octahedron();
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = 1 << 14;
    gnf_sdf_target *t = NULL;
    CHECK(obj && gnf_sdf_target_create(obj, &sc, &t) == GNF_OK);
    if (!t) return;
    gnf_model *full = sdf_model(), *part = sdf_model(), *res = sdf_model();
    if (!full || !part || !res) return;
    int walked = 0;
    for (int l = 0; l < full->cfg.levels; l++) walked += (256L << 3) <= GNF_TRAIN_WALK_FRACTION * (double)full->level_nodes[l];
    CHECK_MSG(walked > 0, "no level is walked: the test would not cover the lazy path");
    const long N = 80, K = 50;
    const char *ckf = test_tmp("sdf_full.ckpt"), *ckp = test_tmp("sdf_part.ckpt"), *ckr = test_tmp("sdf_res.ckpt");
    gnf_train_config tc;
    sdf_config(&tc, N + 10);
    gnf_train_report rep;
    cancel_at c = {0, N};
    tc.cancel = cancel_cb;
    tc.cancel_user = &c;
    tc.checkpoint_path = ckf;
    CHECK(gnf_fit_sdf(full, t, &tc, 0, &rep) == GNF_OK && rep.steps == N);
    /* the premise: keep-best returns a check from before K, so its parameters must carry over */
    const char *b1 = gnf_model_get_meta(full, "gnf.train.best_step");
    CHECK_MSG(b1 && atol(b1) < K, "keep-best step %s: not before the interruption at %ld", b1 ? b1 : "(none)", K);
    c = (cancel_at){0, K};
    tc.checkpoint_path = ckp;
    CHECK(gnf_fit_sdf(part, t, &tc, 0, &rep) == GNF_OK);
    CHECK(rep.steps == K && !strcmp(rep.stop_reason, "cancelled"));
    c = (cancel_at){0, N - K};
    tc.checkpoint_path = ckr;
    tc.resume_path = ckp;
    tc.threads = 1;
    CHECK(gnf_fit_sdf(res, t, &tc, 0, &rep) == GNF_OK && rep.steps == N);
    CHECK_MSG(same_model(full, res, "sdf"), "resumed SDF model differs from the uninterrupted one");
    CHECK_MSG(same_checkpoint(ckf, ckr), "the state at step %ld differs", N);
    /* the same mesh with a pool of another seed is other training data */
    gnf_sdf_target *t2 = NULL;
    sc.seed = 2;
    CHECK(gnf_sdf_target_create(obj, &sc, &t2) == GNF_OK);
    if (t2) {
        CHECK_EQ_INT(gnf_fit_sdf(res, t2, &tc, 0, NULL), GNF_ERR_INVALID);
        CHECK_MSG(strstr(gnf_last_error(), "other training data"), "%s", gnf_last_error());
        gnf_sdf_target_free(t2);
    }
    gnf_model_free(full);
    gnf_model_free(part);
    gnf_model_free(res);
    gnf_sdf_target_free(t);
}

/* ---- radiance fields ----------------------------------------------------------------------- */

/* A scene of 6 views of 24×24 pixels around the origin (a colour pattern; it need not be
 * consistent for training to be deterministic), written as transforms_train.json + PNGs. */
static gnf_nerf_scene *tiny_scene(void) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/scene", test_tmp_dir());
    snprintf(path, sizeof path, "mkdir -p %s", dir);
    if (system(path) != 0) return NULL;
    snprintf(path, sizeof path, "%s/transforms_train.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fprintf(f, "{\"camera_angle_x\": 0.69, \"frames\": [");
    gnf_camera base = {24, 24, 30, 30, 12, 12, {0}}, cam;
    unsigned char px[24 * 24 * 3];
    for (int v = 0; v < 6; v++) {
        gnf_nerf_orbit_camera(&base, 60.0f * (float)v, 20.0f, 4.0f, &cam);
        fprintf(f, "%s{\"file_path\": \"./r_%d\", \"transform_matrix\": [", v ? "," : "", v);
        for (int r = 0; r < 3; r++)
            fprintf(f, "[%.7f,%.7f,%.7f,%.7f],", (double)cam.c2w[4 * r], (double)cam.c2w[4 * r + 1], (double)cam.c2w[4 * r + 2],
                    (double)cam.c2w[4 * r + 3]);
        fprintf(f, "[0,0,0,1]]}");
        for (int i = 0; i < 24 * 24; i++) {
            int x = i % 24, y = i / 24, in = (x - 12) * (x - 12) + (y - 12) * (y - 12) < 49;
            px[3 * i] = (unsigned char)(in ? 200 - 20 * v : 255);
            px[3 * i + 1] = (unsigned char)(in ? 40 + 30 * v : 255);
            px[3 * i + 2] = (unsigned char)(in ? (x * 10) % 256 : 255);
        }
        char png[600];
        snprintf(png, sizeof png, "%s/r_%d.png", dir, v);
        CHECK(test_write_png(png, 24, 24, PNG_COLOR_TYPE_RGB, 8, px, NULL, 0, NULL, 0));
    }
    fprintf(f, "]}\n");
    fclose(f);
    gnf_nerf_scene *s = NULL;
    CHECK(gnf_nerf_scene_load(dir, "train", 1, 0, &s) == GNF_OK);
    return s;
}

static gnf_model *nerf_model(void) {
    gnf_model_config cfg;
    CHECK(gnf_nerf_model_config(&cfg, 60000) == GNF_OK);
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_NERF, &m) == GNF_OK);
    return m;
}

/* As for SDFs: cancelled at step N, the run never interrupted and the run cancelled after K
 * steps and resumed give the same model and the same state — density estimates, occupancy flags
 * and the ray count included.  A coarse march step keeps the samples per ray few, so the ray
 * count follows them instead of sitting at its bounds. */
TEST(resume_nerf_is_bit_identical) {
    gnf_nerf_scene *sc = tiny_scene();
    if (!sc) return;
    gnf_nerf_config nc;
    gnf_nerf_config_default(&nc);
    nc.samples_per_step = 4096;
    nc.occ_res = 32;
    nc.step = 0.3f;
    nc.heldout_pixels = 400;
    gnf_train_config tc;
    gnf_nerf_train_config_default(&tc);
    const long N = 40, K = 21;   /* occupancy refreshes after steps 16 and 32 */
    tc.steps = N + 10;
    gnf_model *full = nerf_model(), *part = nerf_model(), *res = nerf_model();
    if (!full || !part || !res) return;
    const char *ckf = test_tmp("nerf_full.ckpt"), *ckp = test_tmp("nerf_part.ckpt"), *ckr = test_tmp("nerf_res.ckpt");
    gnf_train_report rep;
    cancel_at c = {0, N};
    tc.cancel = cancel_cb;
    tc.cancel_user = &c;
    tc.checkpoint_path = ckf;
    CHECK(gnf_fit_nerf(full, sc, sc, &nc, &tc, &rep) == GNF_OK && rep.steps == N);
    c = (cancel_at){0, K};
    tc.checkpoint_path = ckp;
    CHECK(gnf_fit_nerf(part, sc, sc, &nc, &tc, &rep) == GNF_OK && rep.steps == K);
    gnf_model *cm = NULL;
    CHECK(gnf_checkpoint_load_model(ckp, &cm) == GNF_OK);
    /* the premise: the ray count carried over is not at a bound (256 or samples_per_step / 2) */
    const char *rays = cm ? gnf_model_get_meta(cm, "gnf.ckpt.nerf.rays") : NULL;
    CHECK_MSG(rays && atol(rays) > 256 && atol(rays) < 2048, "ray count at step %ld: %s", K, rays ? rays : "(none)");
    gnf_model_free(cm);
    c = (cancel_at){0, N - K};
    tc.checkpoint_path = ckr;
    tc.resume_path = ckp;
    tc.threads = 1;
    CHECK(gnf_fit_nerf(res, sc, sc, &nc, &tc, &rep) == GNF_OK && rep.steps == N);
    CHECK_MSG(same_model(full, res, "nerf"), "resumed radiance field differs from the uninterrupted one");
    CHECK_MSG(same_checkpoint(ckf, ckr), "the state at step %ld differs", N);
    /* another occupancy resolution is another run */
    nc.occ_res = 16;
    CHECK_EQ_INT(gnf_fit_nerf(res, sc, sc, &nc, &tc, NULL), GNF_ERR_INVALID);
    gnf_model_free(full);
    gnf_model_free(part);
    gnf_model_free(res);
    gnf_nerf_scene_free(sc);
}

/* ---- divergence ---------------------------------------------------------------------------- */

/* An absurd learning rate: the guard rolls back max_rollbacks times, each reported, then gives up
 * with GNF_ERR_DIVERGED and a message saying so; images and SDFs. */
TEST(divergence_absurd_lr_gives_up) {
    gnf_image img;
    picture(&img, 32, 32, 0);
    gnf_model *m = image_model();
    if (!m) return;
    gnf_train_config tc;
    image_config(&tc, 200);
    tc.lr0 = tc.lr1 = 1e6f;
    event_log log = {0, ""};
    tc.progress = on_event;
    tc.user = &log;
    CHECK_EQ_INT(gnf_fit_image(m, &img, &tc, NULL), GNF_ERR_DIVERGED);
    CHECK_MSG(strstr(gnf_last_error(), "training diverged"), "%s", gnf_last_error());
    CHECK_EQ_INT(log.events, 4);
    CHECK_MSG(strstr(log.last, "rolled back") && strstr(log.last, "halved"), "%s", log.last);
    tc.max_rollbacks = 0;   /* no second chance */
    log.events = 0;
    CHECK_EQ_INT(gnf_fit_image(m, &img, &tc, NULL), GNF_ERR_DIVERGED);
    CHECK_EQ_INT(log.events, 0);
    gnf_model_free(m);
    gnf_image_free(&img);

    const char *obj = octahedron();
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = 1 << 12;
    gnf_sdf_target *t = NULL;
    CHECK(obj && gnf_sdf_target_create(obj, &sc, &t) == GNF_OK);
    gnf_model *s = sdf_model();
    if (!t || !s) return;
    gnf_train_config ts;
    gnf_train_config_default(&ts);
    ts.steps = 200;
    ts.batch = 512;
    ts.lr0 = ts.lr1 = 1e6f;
    log.events = 0;
    ts.progress = on_event;
    ts.user = &log;
    CHECK_EQ_INT(gnf_fit_sdf(s, t, &ts, 0, NULL), GNF_ERR_DIVERGED);
    CHECK_MSG(strstr(gnf_last_error(), "training diverged"), "%s", gnf_last_error());
    CHECK_EQ_INT(log.events, 4);
    gnf_model_free(s);
    gnf_sdf_target_free(t);
}

/* A per-point task whose targets at step `bad` are NaN the first `times` times that step runs:
 * one bad step.  Chunk 0 of a step runs once, on one thread, so the count needs no lock. */
typedef struct { long bad; int times, hits; } poison;
static void poison_sample(void *user, long step, long chunk, gnf_rng *r, long n, float *x, float *t, float *w) {
    poison *p = user;
    (void)w;
    for (long i = 0; i < n; i++) {
        x[2 * i] = test_urand(r, -1, 1);
        x[2 * i + 1] = test_urand(r, -1, 1);
        t[i] = sinf(3 * x[2 * i]) * x[2 * i + 1];
    }
    if (step == p->bad && chunk == 0 && p->hits++ < p->times) t[0] = NAN;
}

TEST(divergence_rolls_back_and_recovers) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 1);
    gnf_model_config_for_params(&cfg, 4000, 32);
    gnf_model *m = NULL, *ref = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK && gnf_model_create(&cfg, GNF_TASK_IMAGE, &ref) == GNF_OK);
    if (!m || !ref) return;
    poison p = {70, 1, 0};
    gnf_task_ops ops = {.sample = poison_sample, .loss_name = "l2", .user = &p};
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = 120;
    tc.batch = 1000;
    event_log log = {0, ""};
    tc.progress = on_event;
    tc.user = &log;
    gnf_train_report rep;
    CHECK(gnf_train(m, &tc, &ops, &rep) == GNF_OK);
    CHECK(rep.steps == 120 && rep.rollbacks == 1 && log.events == 1);
    /* back to the snapshot of step 50, the step that failed named */
    CHECK_MSG(strstr(log.last, "step 71") && strstr(log.last, "to step 50"), "%s", log.last);
    const char *rb = gnf_model_get_meta(m, "gnf.train.rollbacks");
    CHECK(rb && !strcmp(rb, "1"));
    for (long i = 0; i < m->nparams; i++) if (!isfinite(m->params[i])) { CHECK_MSG(0, "param %ld not finite", i); break; }
    /* the halved rate changed the run after step 50: it differs from a clean run */
    poison clean = {-1, 0, 0};
    ops.user = &clean;
    tc.progress = NULL;
    CHECK(gnf_train(ref, &tc, &ops, &rep) == GNF_OK && rep.rollbacks == 0);
    CHECK(memcmp(m->params, ref->params, sizeof(float) * (size_t)m->nparams) != 0);
    CHECK(gnf_model_get_meta(ref, "gnf.train.rollbacks") == NULL);
    /* a bad step every time it runs: rolled back max_rollbacks times, then given up */
    poison always = {30, 1000, 0};
    ops.user = &always;
    log.events = 0;
    tc.progress = on_event;
    CHECK_EQ_INT(gnf_train(m, &tc, &ops, &rep), GNF_ERR_DIVERGED);
    CHECK_EQ_INT(log.events, 4);
    CHECK_MSG(strstr(gnf_last_error(), "step 31") && strstr(gnf_last_error(), "NaN"), "%s", gnf_last_error());
    gnf_model_free(m);
    gnf_model_free(ref);
}

/* ---- partial outputs ------------------------------------------------------------------------- */

/* The temporary file of a write in progress is listed, so gnf_remove_partial_outputs (a signal
 * handler's call before _exit) deletes it; a committed file is no longer listed. */
TEST(partial_outputs_are_removed) {
    const char *path = test_tmp("partial.bin");
    gnf_atomic_file af;
    CHECK(gnf_atomic_open(&af, path) == GNF_OK);
    if (!af.f) return;
    fputs("half of it", af.f);
    fflush(af.f);
    CHECK(test_file_size(af.tmp) > 0);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s", af.tmp);
    gnf_remove_partial_outputs();
    CHECK_MSG(test_file_size(tmp) < 0, "%s still exists", tmp);
    CHECK(gnf_atomic_commit(&af, GNF_ERR_IO) == GNF_ERR_IO);
    CHECK(test_file_size(path) < 0);
    /* a whole write: in place and no longer listed */
    CHECK(gnf_write_file(path, "complete", 8) == GNF_OK);
    gnf_remove_partial_outputs();
    CHECK_EQ_INT(test_file_size(path), 8);
    CHECK_EQ_INT(test_count_files(test_tmp_dir(), "partial.bin.tmp"), 0);
    /* a write that cannot happen names the file */
    CHECK(gnf_write_file(test_tmp("no/such/dir/x.bin"), "x", 1) == GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), "x.bin") != NULL);
}

/* A time budget: the step plan made before the checkpoint is kept by the resumed run (the same
 * schedule, so the learning rate goes on decaying as it was), which has the budget's rest; a
 * checkpoint from before the plan plans anew after the resume. */
TEST(resume_time_budget_keeps_the_plan) {
    gnf_image img;
    picture(&img, 32, 32, 0.25f);
    const char *ck = test_tmp("budget.ckpt");
    for (int before = 0; before < 2; before++) {
        gnf_train_config tc;
        image_config(&tc, 0);
        tc.seconds = 2;
        cancel_at c = {0, before ? 5 : 33};   /* the plan is made at the boundary of step 32 */
        tc.cancel = cancel_cb;
        tc.cancel_user = &c;
        tc.checkpoint_path = ck;
        gnf_model *a = image_model(), *b = image_model();
        if (!a || !b) return;
        gnf_train_report rep;
        CHECK(gnf_fit_image(a, &img, &tc, &rep) == GNF_OK && !strcmp(rep.stop_reason, "cancelled"));
        gnf_model *cm = NULL;
        CHECK(gnf_checkpoint_load_model(ck, &cm) == GNF_OK);
        const char *pl = cm ? gnf_model_get_meta(cm, "gnf.ckpt.planned") : NULL;
        long planned = pl ? atol(pl) : -1;
        CHECK_MSG(before ? planned == 0 : planned >= 33, "planned %ld at the checkpoint", planned);
        gnf_model_free(cm);
        gnf_train_config tr;
        image_config(&tr, 0);
        tr.seconds = 2;
        tr.resume_path = ck;
        CHECK(gnf_fit_image(b, &img, &tr, &rep) == GNF_OK);
        const char *sched = gnf_model_get_meta(b, "gnf.train.schedule");
        CHECK_MSG(sched && atol(sched) > 0 && (before || atol(sched) == planned), "schedule %s, planned %ld", sched ? sched : "(none)", planned);
        CHECK(rep.steps <= (sched ? atol(sched) : 0));
        gnf_model_free(a);
        gnf_model_free(b);
    }
    gnf_image_free(&img);
}

/* A grid entry turned NaN behind the optimiser's back just before a snapshot is due (after step
 * 49, seen by no batch yet): the snapshot's scan of the whole arena catches it, so it never gets
 * into a snapshot; training rolls back to the previous one (step 0) once and ends finite. */
typedef struct { poison samples, grid; } spoiler;   /* samples first: poison_sample reads it */
static gnf_status spoil_grid(void *user, const gnf_step *s) {
    poison *p = &((spoiler *)user)->grid;
    if (s->step == p->bad && p->hits++ < p->times) s->m->params[s->m->grid_size[0] - 1] = NAN;
    return GNF_OK;
}

TEST(divergence_catches_a_bad_grid_entry) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 1);
    gnf_model_config_for_params(&cfg, 4000, 32);
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK);
    if (!m) return;
    spoiler sp = {{-1, 0, 0}, {49, 1, 0}};
    gnf_task_ops ops = {.sample = poison_sample, .after_step = spoil_grid, .loss_name = "l2", .user = &sp};
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = 130;
    tc.batch = 1000;
    event_log log = {0, ""};
    tc.progress = on_event;
    tc.user = &log;
    gnf_train_report rep;
    CHECK(gnf_train(m, &tc, &ops, &rep) == GNF_OK);
    CHECK_MSG(sp.grid.hits >= 1 && rep.rollbacks == 1 && log.events == 1, "%ld rollbacks, %d events: %s", rep.rollbacks, log.events, log.last);
    CHECK_MSG(strstr(log.last, "a grid parameter is not finite") && strstr(log.last, "to step 0"), "%s", log.last);
    long bad = 0;
    for (long i = 0; i < m->nparams; i++) bad += !isfinite(m->params[i]);
    CHECK_EQ_INT(bad, 0);
    gnf_model_free(m);
}
