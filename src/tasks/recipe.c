/* recipe.c — the training recipes: model, training and task settings for a task, a preset and a
 * budget, as measured best (the command line uses these and only maps its flags onto them). */
#include "core/core.h"
#include "gnf.h"
#include "field/field.h"
#include <math.h>
#include <string.h>

/* name, image params per pixel and steps, SDF and radiance-field seconds.  SDFs and radiance
 * fields stop by time (SDF fast 5 s, default 15 s — the SDF budget — quality 60 s): a step count
 * means very different times for different meshes, scenes and pool sizes. */
typedef struct { const char *name; double image_ppp; long image_steps; double sdf_s, nerf_s; } preset;
static const preset PRESETS[] = {{"fast", 0.5, 1000, 5, 60}, {"default", 2.0, 5000, 15, 300}, {"quality", 4.0, 15000, 60, 1800}};

gnf_status gnf_recipe_for(gnf_task task, const char *preset_name, const gnf_recipe_input *in, gnf_recipe *out) {
    const gnf_recipe_input none = {0};
    if (!in) in = &none;
    const preset *p = NULL;
    for (int i = 0; i < 3; i++)
        if (!strcmp(preset_name ? preset_name : "default", PRESETS[i].name)) p = &PRESETS[i];
    if (!p) return gnf_fail(GNF_ERR_INVALID, "preset '%s': not fast, default or quality", preset_name);
    memset(out, 0, sizeof *out);
    gnf_sdf_config_default(&out->sdf);
    gnf_nerf_config_default(&out->nerf);
    gnf_train_config *tc = &out->train;
    if (task == GNF_TASK_NERF) gnf_nerf_train_config_default(tc);
    else gnf_train_config_default(tc);
    tc->steps = in->steps > 0 ? in->steps : 0;
    tc->seconds = in->seconds > 0 ? in->seconds : 0;
    int budget = tc->steps > 0 || tc->seconds > 0;
    switch (task) {
    case GNF_TASK_IMAGE:
        if (in->width < 1 || in->height < 1 || (in->channels != 1 && in->channels != 3))
            return gnf_fail(GNF_ERR_INVALID, "an image recipe needs the image's size and channels");
        if (!budget) tc->steps = p->image_steps;
        gnf_model_config_default(&out->model, 2, in->channels);
        out->max_res = in->width > in->height ? in->width : in->height;
        out->max_params = (long)(p->image_ppp * in->width * in->height);
        out->max_params = out->max_params < 20000 ? 20000 : out->max_params > 4000000 ? 4000000 : out->max_params;
        break;
    case GNF_TASK_SDF:
        if (!budget) tc->seconds = p->sdf_s;
        gnf_model_config_default(&out->model, 3, 1);
        out->model.encoding = GNF_ENC_HASH;
        out->max_params = 1000000;
        /* Adam's second-moment decay 0.999 (the image recipe's 0.99 made the tiny decoder's steps
         * jitter the zero level set: held-out IoU on Armadillo swung between 0.55 and 0.98 from one
         * 100-step check to the next, worse after more steps).  With it the reference lr 5e-3 ->
         * 5e-4 rises at every check: 0.9709 / 0.9793 / 0.9825 after 700 / 1300 / 2600 steps, NAE
         * 8.5° at 2600; 2e-3 -> 2e-4 led early (0.9765 at 700) but ended at IoU 0.9818, NAE 14.0°
         * (bench/README.md, "SDF training stability") */
        tc->adam_b2 = 0.999f;
        tc->lr0 = 5e-3f;
        /* ...but a schedule that stays near 5e-3 for more than ~3000 steps brings the swings back
         * (6000 steps over one decay: 0.975..0.985 from check to check after step 3000; 240 s:
         * 0.951): reach 5e-4 at step 3000, then decay to 5e-5 (6000 steps: 0.9835, 0.9838, 0.9843,
         * 0.9842 at 3000..4500, rising) */
        tc->lr_knee_steps = 3000;
        tc->lr1 = tc->lr0 / 10;
        /* 16384 points per step measured best in a 15 s Armadillo budget (IoU 0.974 vs 0.912 at
         * 8192 and 0.959 at 32768) */
        tc->batch = 16384;
        /* eps 1e-8 keeps rarely-hit hash entries from taking full-size steps: same IoU in 15 s,
         * 0.954 vs 0.929 in 60 s on Armadillo */
        tc->adam_eps = 1e-8f;
        /* The ground-truth pool grows with the budget.  A pool costs ~1.7 s per 2^20 points on 2
         * cores, so short budgets take a small one (Armadillo, held-out IoU: 5 s with 2^21 points
         * 0.58 mean, 3 runs, spread 0.80 — 120 steps; with 2^19 0.911 / 0.913; 15 s with 2^21
         * 0.959, with 2^20 0.965 / 0.964).  Long fits need more distinct points: each point of a
         * 2^21 pool is seen ~100 times in 14000 steps, and the field's normals then get worse
         * with more steps while its IoU still rises (Armadillo, 8 levels, 3700 -> 14000 steps:
         * nae_deg 8.11 -> 8.24 deg, nae_mesh 7.58 -> 7.85 deg at 512^3).  With 2^22 points at
         * 3700 steps: nae_deg 7.91, nae_mesh 7.32; 2^23: 7.80, 7.22; 2^24 at 14000 steps: 7.73,
         * 7.28, IoU 0.98666 (bench/README.md, "Normals that get better with time"). */
        if (tc->seconds > 0)
            out->sdf.samples = tc->seconds <= 10 ? 1L << 19 : tc->seconds <= 30 ? 1L << 20 : tc->seconds <= 120 ? 1L << 22 : 1L << 24;
        else if (tc->steps > 0)
            out->sdf.samples = tc->steps <= 3000 ? 1L << 21 : tc->steps <= 8000 ? 1L << 22 : 1L << 24;
        /* 8 levels 16..512 with 2^16-entry tables (832K parameters) at every budget.  Against 16
         * levels 16..2048 with 2^15: a step costs 0.54x (half the lookups, D 16 instead of 32)
         * and learns more at short budgets (Armadillo, 700 steps: IoU 0.9691 vs 0.9619, iou_grid
         * 0.99284 vs 0.99125, nae_mesh 9.08 vs 9.81 deg).  At long budgets 16 levels reach
         * slightly better mesh normals (3700 steps, 2^21 pool: nae_mesh 7.10 vs 7.58 deg) but
         * their field-gradient normals are worse (nae_deg 8.40 vs 8.11; bunny 5.09 vs 4.66) and
         * got worse from 15 to 60 to 240 s (Armadillo 8.33 -> 8.41 -> 9.18 deg) while every
         * other metric rose; 8 levels with the larger pools above improve every metric with the
         * budget.  9 levels to 724 and 8 levels to 1024 were worse on both meshes. */
        out->hash_levels = 8;
        out->max_res = 512;
        out->sdf.seed = tc->seed;
        break;
    case GNF_TASK_NERF:
        if (!budget) tc->seconds = p->nerf_s;
        out->max_params = 2100000; /* gnf_nerf_model_config's default */
        out->max_res = 1024;
        if (gnf_nerf_model_config(&out->model, in->max_params > 0 ? in->max_params : out->max_params) != GNF_OK) return GNF_ERR_INVALID;
        break;
    default:
        return gnf_fail(GNF_ERR_INVALID, "no recipe for task %d", (int)task);
    }
    if (in->max_params > 0) out->max_params = in->max_params;
    out->model.seed = tc->seed;
    return task == GNF_TASK_NERF ? GNF_OK : gnf_recipe_size_model(out, 0);
}

/* Hash grids of exactly L levels, resolutions geometric from 16 to top, each table the largest
 * power of two for which the whole model fits in max_params. */
static gnf_status size_hash_levels(gnf_model_config *cfg, int L, int top, long max_params) {
    if (L < 2 || L > GNF_MAX_LEVELS) return gnf_fail(GNF_ERR_INVALID, "hash levels %d out of range 2..%d", L, GNF_MAX_LEVELS);
    if (gnf_model_config_hash_fit(cfg, L, top < 16 ? 16 : top, max_params) > 0) return GNF_OK;
    return gnf_fail(GNF_ERR_INVALID, "no model of %d hash levels fits in %ld parameters", L, max_params);
}

gnf_status gnf_recipe_size_model(gnf_recipe *r, int hash_log2) {
    gnf_model_config c = r->model;
    gnf_status s = hash_log2 <= 0 && r->hash_levels > 0 && c.encoding == GNF_ENC_HASH
                       ? size_hash_levels(&c, r->hash_levels, r->max_res > 0 ? r->max_res : 2048, r->max_params)
                       : gnf_model_config_for_params(&c, r->max_params, r->max_res);
    if (s != GNF_OK) return s;
    if (hash_log2 > 0 && c.encoding == GNF_ENC_HASH) {
        c.hash_log2 = hash_log2;
        while (c.levels > 1 && gnf_model_config_param_count(&c) > r->max_params) c.levels--;
        if (gnf_model_config_param_count(&c) > r->max_params)
            return gnf_fail(GNF_ERR_INVALID, "no model with 2^%d hash entries per level fits in %ld parameters", hash_log2, r->max_params);
    }
    r->model = c;
    return GNF_OK;
}
