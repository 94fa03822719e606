/* test_recipe.c — the library's training recipes give what `gnf fit` uses: image presets (params
 * per pixel, steps), the SDF learning rate by budget, batch and Adam epsilon, radiance-field
 * defaults, and re-sizing after architecture changes. */
#include "gnf.h"
#include "test.h"
#include <string.h>

static int same_grids(const gnf_model_config *a, const gnf_model_config *b) {
    return a->encoding == b->encoding && a->levels == b->levels && a->hash_log2 == b->hash_log2 &&
           !memcmp(a->res, b->res, sizeof(int) * (size_t)a->levels) && !memcmp(a->feat, b->feat, sizeof(int) * (size_t)a->levels);
}

TEST(recipe_image_presets) {
    const char *names[] = {"fast", NULL, "quality"};
    long params[] = {32768, 131072, 262144}, steps[] = {1000, 5000, 15000};
    gnf_recipe_input in = {.width = 256, .height = 256, .channels = 3};
    gnf_recipe r;
    for (int i = 0; i < 3; i++) {
        CHECK(gnf_recipe_for(GNF_TASK_IMAGE, names[i], &in, &r) == GNF_OK);
        CHECK(r.max_params == params[i] && r.train.steps == steps[i] && r.train.seconds == 0 && r.train.batch == 8192);
        CHECK(r.train.lr0 == 1e-2f && r.train.lr1 == 1e-3f && r.train.adam_eps == 1e-15f && r.train.loss == GNF_LOSS_L2);
        gnf_model_config c; /* what the CLI built before the recipes */
        gnf_model_config_default(&c, 2, 3);
        CHECK(gnf_model_config_for_params(&c, params[i], 256) == GNF_OK && same_grids(&r.model, &c));
    }
    gnf_recipe_input tiny = {.width = 50, .height = 40, .channels = 1}, huge = {.width = 4000, .height = 3000, .channels = 3};
    CHECK(gnf_recipe_for(GNF_TASK_IMAGE, NULL, &tiny, &r) == GNF_OK && r.max_params == 20000 && r.model.out_dim == 1);
    CHECK(gnf_recipe_for(GNF_TASK_IMAGE, NULL, &huge, &r) == GNF_OK && r.max_params == 4000000);
    gnf_recipe_input timed = {.width = 64, .height = 64, .channels = 3, .seconds = 30, .max_params = 9000};
    CHECK(gnf_recipe_for(GNF_TASK_IMAGE, NULL, &timed, &r) == GNF_OK && r.train.steps == 0 && r.train.seconds == 30 && r.max_params == 9000);
    CHECK(gnf_recipe_for(GNF_TASK_IMAGE, "turbo", &timed, &r) == GNF_ERR_INVALID);
    CHECK(gnf_recipe_for(GNF_TASK_IMAGE, NULL, NULL, &r) == GNF_ERR_INVALID);
}

/* SDF: 15 s by default (5 fast, 60 quality); Adam beta2 0.999, lr 5e-3 -> 5e-4 whatever the budget;
 * the ground-truth pool 2^19 up to 10 s, 2^20 up to 30 s, 2^22 up to 120 s, else 2^24; by steps
 * 2^21 up to 3000, 2^22 up to 8000, else 2^24; 8 hash levels 16..512 at every budget */
TEST(recipe_sdf_budget) {
    struct { const char *preset; long steps; double seconds, want_s; float lr; } c[] = {
        {NULL, 0, 0, 15, 5e-3f}, {"fast", 0, 0, 5, 5e-3f}, {"quality", 0, 0, 60, 5e-3f}, {NULL, 2999, 0, 0, 5e-3f},
        {NULL, 3000, 0, 0, 5e-3f}, {NULL, 0, 44, 44, 5e-3f}, {NULL, 0, 45, 45, 5e-3f}, {"quality", 600, 0, 0, 5e-3f},
        {NULL, 8000, 0, 0, 5e-3f}, {NULL, 8001, 0, 0, 5e-3f}, {NULL, 0, 120, 120, 5e-3f}, {NULL, 0, 240, 240, 5e-3f}};
    for (int i = 0; i < 12; i++) {
        gnf_recipe_input in = {.steps = c[i].steps, .seconds = c[i].seconds};
        gnf_recipe r;
        CHECK(gnf_recipe_for(GNF_TASK_SDF, c[i].preset, &in, &r) == GNF_OK);
        CHECK_MSG(r.train.lr0 == c[i].lr && r.train.lr1 == c[i].lr / 10 && r.train.steps == c[i].steps && r.train.seconds == c[i].want_s,
                  "case %d: lr %g -> %g, %ld steps, %g s", i, (double)r.train.lr0, (double)r.train.lr1, r.train.steps, r.train.seconds);
        CHECK(r.train.batch == 16384 && r.train.adam_eps == 1e-8f && r.train.adam_b2 == 0.999f && r.train.lr_knee_steps == 3000 && r.max_params == 1000000 && r.model.encoding == GNF_ENC_HASH);
        CHECK(r.model.in_dim == 3 && r.model.out_dim == 1 && gnf_model_config_param_count(&r.model) <= 1000000);
        long pool = c[i].want_s <= 0 ? (c[i].steps <= 3000 ? 1L << 21 : c[i].steps <= 8000 ? 1L << 22 : 1L << 24)
                    : c[i].want_s <= 10 ? 1L << 19 : c[i].want_s <= 30 ? 1L << 20 : c[i].want_s <= 120 ? 1L << 22 : 1L << 24;
        CHECK_MSG(r.sdf.samples == pool, "case %d: pool %ld", i, r.sdf.samples);
        /* every budget: 8 levels 16..512, 2^16 entries */
        CHECK_MSG(r.model.levels == 8 && r.model.hash_log2 == 16 && r.model.res[0] == 16 && r.model.res[7] == 512,
                  "case %d: %d levels, 2^%d, finest %d", i, r.model.levels, r.model.hash_log2, r.model.res[r.model.levels - 1]);
    }
    /* a parameter budget resizes the tables of the layout, not its levels; a fixed
     * table (--hash-log2) takes the general sizing */
    gnf_recipe_input small = {.seconds = 15, .max_params = 300000};
    gnf_recipe r;
    CHECK(gnf_recipe_for(GNF_TASK_SDF, NULL, &small, &r) == GNF_OK && r.model.levels == 8 && r.model.hash_log2 == 14);
    CHECK(gnf_model_config_param_count(&r.model) <= 300000);
    CHECK(gnf_recipe_size_model(&r, 12) == GNF_OK && r.model.hash_log2 == 12);
    r.max_params = 1000;
    CHECK_EQ_INT(gnf_recipe_size_model(&r, 0), GNF_ERR_INVALID);
}

/* radiance fields: nerf.c's defaults, 300 s (60 fast, 1800 quality) */
TEST(recipe_nerf_defaults) {
    const char *names[] = {"fast", "default", "quality"};
    double secs[] = {60, 300, 1800};
    gnf_train_config nt;
    gnf_nerf_train_config_default(&nt);
    gnf_model_config mc;
    CHECK(gnf_nerf_model_config(&mc, 0) == GNF_OK);
    gnf_recipe r;
    for (int i = 0; i < 3; i++) {
        CHECK(gnf_recipe_for(GNF_TASK_NERF, names[i], NULL, &r) == GNF_OK && r.train.steps == 0 && r.train.seconds == secs[i]);
        CHECK(r.train.lr0 == nt.lr0 && r.train.lr1 == nt.lr1 && r.train.adam_eps == nt.adam_eps && r.train.eval_every == nt.eval_every);
        CHECK(same_grids(&r.model, &mc) && r.model.rbf_k == mc.rbf_k && r.max_params == 2100000 && r.nerf.samples_per_step == 1L << 16);
    }
    gnf_recipe_input small = {.max_params = 500000, .steps = 40};
    CHECK(gnf_recipe_for(GNF_TASK_NERF, NULL, &small, &r) == GNF_OK && r.train.seconds == 0);
    CHECK(gnf_nerf_model_config(&mc, 500000) == GNF_OK && same_grids(&r.model, &mc));
}

/* re-sizing after architecture changes: as sizing the changed default; a fixed hash table */
TEST(recipe_size_model) {
    gnf_recipe r;
    CHECK(gnf_recipe_for(GNF_TASK_NERF, NULL, NULL, &r) == GNF_OK);
    gnf_model_config before = r.model, c = r.model;
    CHECK(gnf_recipe_size_model(&r, 0) == GNF_OK && same_grids(&r.model, &before));
    r.model.encoding = c.encoding = GNF_ENC_DENSE;
    r.model.rbf_k = c.rbf_k = 16;
    CHECK(gnf_recipe_size_model(&r, 0) == GNF_OK);
    CHECK(gnf_model_config_for_params(&c, 2100000, 1024) == GNF_OK && same_grids(&r.model, &c));
    r.model.encoding = GNF_ENC_HASH;
    CHECK(gnf_recipe_size_model(&r, 14) == GNF_OK && r.model.hash_log2 == 14 && r.model.levels == before.levels);
    CHECK(gnf_recipe_size_model(&r, 22) == GNF_OK && r.model.hash_log2 == 22 && r.model.levels < before.levels);
    CHECK(gnf_model_config_param_count(&r.model) <= 2100000);
    r.max_params = 1000;
    CHECK(gnf_recipe_size_model(&r, 20) == GNF_ERR_INVALID);
}
