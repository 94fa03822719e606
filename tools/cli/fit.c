/* fit.c — gnf fit: the task from the input, the library's recipe for it, the flags mapped onto
 * the recipe, then training with progress and a one-line summary. */
#include "cli.h"
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

static const char *HEAD =
    "usage: gnf fit INPUT [-o OUTPUT.gnf] [options]\n"
    "Fits a Gaussian Neural Field to INPUT.  The task follows from the input: an image file\n"
    "(PNG 8/16-bit gray/RGB/RGBA, JPEG) -> image fitting; a mesh (.obj .ply .stl .off) -> its\n"
    "signed distance field; a scene folder (or its transforms_train.json) in the Blender synthetic\n"
    "format -> a radiance field.  An option of another task is a usage error.\n";
static const char *FOOT = "Same seed and settings with --steps give a byte-identical model file at any thread count.\n";

typedef struct { int quiet, tty; double next_report, t_start; gnf_task task; } progress_state;

static int on_progress(const gnf_progress *p, void *user) {
    progress_state *ps = user;
    if (ps->quiet) return 0;
    double el = gnf_now() - ps->t_start;
    double eta = p->progress > 1e-6 ? el * (1 - p->progress) / p->progress : 0;
    char q[48];
    if (ps->task == GNF_TASK_SDF) snprintf(q, sizeof q, isnan(p->quality) ? "-" : "IoU %.5f", p->quality);
    else snprintf(q, sizeof q, isnan(p->quality) ? "PSNR ~%.2f dB" : "PSNR %.2f dB", isnan(p->quality) ? p->quality_est : p->quality);
    if (ps->tty) {
        int width = 24, fill = (int)(p->progress * width + 0.5);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r[%s] %3.0f%% step %ld loss %.5f %s %.2f Mpt/s ETA %.0fs   ", bar,
                100 * p->progress, p->step, p->loss, q, p->points_per_s / 1e6, eta);
        fflush(stderr);
    } else if (ps->task != GNF_TASK_IMAGE && !isnan(p->quality)) {   /* each held-out check: a curve */
        fprintf(stderr, "  %3.0f%%  step %ld  %.1f s  held-out %s %.*f%s  %.2f M%s/s\n", 100 * p->progress, p->step, el,
                ps->task == GNF_TASK_SDF ? "IoU" : "PSNR", ps->task == GNF_TASK_SDF ? 5 : 2, p->quality,
                ps->task == GNF_TASK_SDF ? "" : " dB", p->points_per_s / 1e6, ps->task == GNF_TASK_SDF ? "pt" : " samples");
    } else if (p->progress >= ps->next_report) {
        fprintf(stderr, "  %3.0f%%  step %ld  loss %.5f  %s  %.2f Mpt/s  ETA %.0fs\n", 100 * p->progress,
                p->step, p->loss, q, p->points_per_s / 1e6, eta);
        while (ps->next_report <= p->progress) ps->next_report += 0.1;
    }
    return 0;
}

typedef struct {
    const char *input, *output;
    int half, quiet;
    gnf_recipe r;
    double target_iou, t_cmd;
    progress_state ps;
} fit_job;

/* Progress settings; unless quiet "model: ...", the architecture and "<training> stopping at ...". */
static void start(fit_job *j, const gnf_model *m, long mem, double pictures_mib) {
    progress_state ps = {j->quiet, isatty(2), 0.1, gnf_now(), gnf_model_get_task(m)};
    j->ps = ps;
    j->r.train.progress = on_progress;
    j->r.train.user = &j->ps;
    j->r.train.progress_every = ps.tty ? 5 : 1;
    if (j->quiet) return;
    fprintf(stderr, "model: %ld parameters, %ld bytes on disk (%s); training memory %.1f MiB", gnf_model_param_count(m),
            gnf_model_file_bytes(m, j->half), j->half ? "f16" : "f32", (double)mem / 1048576.0);
    if (pictures_mib > 0) fprintf(stderr, " plus %.1f MiB of pictures", pictures_mib);
    fprintf(stderr, "; %d threads, %s kernels\n", j->r.train.threads > 0 ? j->r.train.threads : gnf_default_threads(), gnf_kernel_name_for(m));
    describe_model(stderr, m);
    const gnf_train_config *tc = &j->r.train;
    if (ps.task == GNF_TASK_IMAGE) fprintf(stderr, "stopping at:");
    else if (ps.task == GNF_TASK_SDF) fprintf(stderr, "training: batch %ld, lr %g -> %g, stopping at", tc->batch, (double)tc->lr0, (double)tc->lr1);
    else fprintf(stderr, "training: %ld samples per step, lr %g -> %g, stopping at", j->r.nerf.samples_per_step, (double)tc->lr0, (double)tc->lr1);
    if (tc->steps) fprintf(stderr, " %ld steps", tc->steps);
    if (tc->seconds > 0) fprintf(stderr, "%s %.1f s (whole command)", tc->steps ? " or" : "", tc->seconds);
    if (j->target_iou > 0) fprintf(stderr, " or held-out IoU %.5f", j->target_iou);
    if (tc->target_psnr > 0) fprintf(stderr, ps.task == GNF_TASK_NERF ? " or held-out PSNR %.2f dB" : " or %.2f dB", tc->target_psnr);
    fprintf(stderr, "\n");
}

/* Saves m (freed here) after training with status st; prints the summary line. */
static int finish(fit_job *j, gnf_model *m, gnf_status st, const gnf_train_report *rep) {
    if (j->ps.tty && !j->quiet) fprintf(stderr, "\n");
    if (st == GNF_OK) st = gnf_model_save(m, j->output, j->half);
    long np = gnf_model_param_count(m);
    gnf_task task = gnf_model_get_task(m);
    gnf_model_free(m);
    if (st != GNF_OK) return runtime_error();
    if (task == GNF_TASK_NERF && !j->quiet) {
        static const char *names[8] = GNF_NERF_PHASES;
        double tot = 0;
        for (int i = 0; i < 8; i++) tot += rep->phase_s[i];
        fprintf(stderr, "where the time went:");
        for (int i = 0; i < 8; i++) fprintf(stderr, "%s %s %.1f%%", i ? "," : "", names[i], tot > 0 ? 100 * rep->phase_s[i] / tot : 0);
        fprintf(stderr, "\n");
    } else if (!j->quiet) {   /* per-point tasks fill the last four phases */
        static const char *names[4] = {"batch (sample, lookup, decoder)", "grid scatter", "adam", "checks"};
        fprintf(stderr, "where the time went:");
        for (int i = 0; i < 4; i++) fprintf(stderr, "%s %s %.2f s", i ? "," : "", names[i], rep->phase_s[4 + i]);
        fprintf(stderr, "\n");
    }
    printf("%s: %ld parameters, %ld bytes, ", j->output, np, file_size(j->output));
    if (task == GNF_TASK_SDF) printf("held-out IoU %.5f", rep->quality);
    else printf("%sPSNR %.2f dB", task == GNF_TASK_NERF ? "held-out " : "", rep->quality);
    printf(" after %ld steps, %.1f s training (%.2f %s/s), %.1f s total, stopped by %s\n", rep->steps, rep->seconds,
           rep->points_per_s / 1e6, task == GNF_TASK_NERF ? "M samples" : "Mpt", gnf_now() - j->t_cmd, rep->stop_reason);
    return 0;
}

static int fit_image(fit_job *j, gnf_image *img, int cropped, int src_w, int src_h) {
    gnf_model *m = NULL;
    if (gnf_model_create(&j->r.model, GNF_TASK_IMAGE, &m) != GNF_OK) return runtime_error();
    if (!j->quiet)
        fprintf(stderr, "fitting %s (%dx%d, %d channel%s%s) -> %s\n", j->input, img->w, img->h, img->c, img->c > 1 ? "s" : "",
                cropped ? ", centre crop" : "", j->output);
    start(j, m, gnf_fit_image_memory(m, img->w, img->h, img->c, &j->r.train), 0);
    char buf[256];
    const char *base = strrchr(j->input, '/');
    gnf_model_set_meta(m, "gnf.source", base ? base + 1 : j->input);
    snprintf(buf, sizeof buf, "%dx%d", src_w, src_h);
    gnf_model_set_meta(m, "gnf.image.source_size", buf);
    if (cropped) {
        snprintf(buf, sizeof buf, "%dx%d", img->w, img->h);
        gnf_model_set_meta(m, "gnf.image.crop", buf);
    }
    gnf_train_report rep;
    gnf_status st = gnf_fit_image(m, img, &j->r.train, &rep);
    return finish(j, m, st, &rep);
}

static int fit_sdf(fit_job *j) {
    const gnf_sdf_config *sc = &j->r.sdf;
    gnf_model *m = NULL;
    if (gnf_model_create(&j->r.model, GNF_TASK_SDF, &m) != GNF_OK) return runtime_error();
    if (!j->quiet) fprintf(stderr, "loading %s and computing %ld ground-truth samples...\n", j->input, sc->samples);
    gnf_sdf_target *t = NULL;
    if (gnf_sdf_target_create(j->input, sc, &t) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    gnf_sdf_target_info in;
    gnf_sdf_target_get_info(t, &in);
    if (!j->quiet) {
        fprintf(stderr, "mesh: %ld vertices, %ld faces; %s", in.vertices, in.faces, in.watertight ? "watertight" : "NOT watertight");
        long n[] = {in.boundary_edges, in.non_manifold_edges, in.degenerate_faces, in.dropped_faces, in.duplicate_vertices};
        static const char *what[] = {"boundary edges (holes)", "non-manifold edges", "degenerate faces",
                                     "faces with repeated vertices dropped", "duplicate vertices"};
        for (int i = 0; i < 5; i++) if (n[i]) fprintf(stderr, ", %ld %s", n[i], what[i]);
        fprintf(stderr, "\n");
        if (!in.watertight) fprintf(stderr, "warning: %s is not watertight; signs come from the generalised winding number\n", j->input);
        fprintf(stderr, "ground truth: load %.2f s, BVH %.2f s, %ld samples in %.2f s (%.2f M distance queries/s, sign by %s)\n",
                in.load_s, in.bvh_s, sc->samples, in.samples_s, in.samples_per_s / 1e6, in.sign_by_winding ? "winding number" : "ray parity");
    }
    const gnf_train_config *tc = &j->r.train;
    start(j, m, gnf_fit_sdf_memory(m, t, tc), 0);
    gnf_model_set_meta(m, "gnf.source", strrchr(j->input, '/') ? strrchr(j->input, '/') + 1 : j->input);
    gnf_train_report rep;
    gnf_status st = gnf_fit_sdf(m, t, tc, j->target_iou, &rep);
    gnf_sdf_target_free(t);
    return finish(j, m, st, &rep);
}

static int fit_nerf(fit_job *j, int downscale) {
    char folder[4096], testjson[4200];
    const gnf_train_config *tc = &j->r.train;
    if (!j->quiet) fprintf(stderr, "loading %s (training views, downscale %d)...\n", j->input, downscale);
    double tl = gnf_now();
    gnf_nerf_scene *train = NULL, *held = NULL;
    if (gnf_nerf_scene_load(j->input, "train", downscale, tc->threads, &train) != GNF_OK) return runtime_error();
    /* the held-back view for progress: the test split's first views when the folder has one */
    snprintf(folder, sizeof folder, "%s", j->input);
    char *sl = is_dir(folder) ? NULL : strrchr(folder, '/');
    if (sl) *sl = 0;
    else if (!is_dir(folder)) snprintf(folder, sizeof folder, ".");
    snprintf(testjson, sizeof testjson, "%s/transforms_test.json", folder);
    if (file_size(testjson) >= 0 && gnf_nerf_scene_load(testjson, "test", downscale, tc->threads, &held) != GNF_OK) {
        fprintf(stderr, "warning: %s: %s; training without a held-back view\n", testjson, gnf_last_error());
        held = NULL;
    }
    gnf_model *m = NULL;
    if (gnf_model_create(&j->r.model, GNF_TASK_NERF, &m) != GNF_OK) { gnf_nerf_scene_free(train); gnf_nerf_scene_free(held); return runtime_error(); }
    const gnf_nerf_config *nc = &j->r.nerf;
    gnf_camera c0;
    gnf_nerf_scene_camera(train, 0, &c0);
    int nviews = gnf_nerf_scene_count(train) + (held ? gnf_nerf_scene_count(held) : 0);
    if (!j->quiet)
        fprintf(stderr, "scene: %d training views of %dx%d (fx %.1f), %d held-back test views, loaded in %.1f s\n",
                gnf_nerf_scene_count(train), c0.w, c0.h, (double)c0.fx, held ? gnf_nerf_scene_count(held) : 0, gnf_now() - tl);
    start(j, m, gnf_fit_nerf_memory(m, nc, tc), (double)nviews * c0.w * c0.h * 12 / 1048576.0);
    gnf_model_set_meta(m, "gnf.source", j->input);
    char buf[32];
    snprintf(buf, sizeof buf, "%d", downscale);
    gnf_model_set_meta(m, "gnf.nerf.downscale", buf);
    gnf_train_report rep;
    gnf_status st = gnf_fit_nerf(m, train, held, nc, tc, &rep);
    gnf_nerf_scene_free(train);
    gnf_nerf_scene_free(held);
    return finish(j, m, st, &rep);
}

/* The task an input implies: a folder or .json -> nerf, a mesh extension (any case) -> sdf, else image. */
static gnf_task task_of(const char *input) {
    size_t n = strlen(input);
    if (is_dir(input) || (n > 5 && !strcmp(input + n - 5, ".json"))) return GNF_TASK_NERF;
    char ext[5] = "";
    for (int k = 0; n >= 4 && k < 4; k++) ext[k] = (char)tolower((unsigned char)input[n - 4 + k]);
    return strstr(".obj.ply.stl.off", ext) && ext[0] == '.' ? GNF_TASK_SDF : GNF_TASK_IMAGE;
}

/* Maps the model and training flags onto the recipe. */
static int apply_flags(const cli_args *a, gnf_task task, gnf_recipe *r) {
    const opt_value *o = a->o;
    gnf_model_config *c = &r->model;
    gnf_train_config *tc = &r->train;
    if (o[O_ENCODING].set) c->encoding = (gnf_encoding)o[O_ENCODING].i;
    if (o[O_DECODER].set) c->decoder = (gnf_decoder_kind)o[O_DECODER].i;
    if (o[O_BASIS].set) c->basis = (gnf_basis)o[O_BASIS].i;
    if (o[O_RBF_K].set) c->rbf_k = (int)o[O_RBF_K].i;
    if (o[O_MLP_HIDDEN].set) c->mlp_hidden = (int)o[O_MLP_HIDDEN].i;
    if (o[O_MLP_LAYERS].set) c->mlp_layers = (int)o[O_MLP_LAYERS].i;
    if (o[O_SEED].set) c->seed = tc->seed = r->sdf.seed = (uint64_t)o[O_SEED].i;
    if (o[O_LEVELS].set) { /* an explicit grid: dense unless --encoding says otherwise */
        if (!o[O_ENCODING].set) c->encoding = GNF_ENC_DENSE;
        if (o[O_HASH_LOG2].set) c->hash_log2 = (int)o[O_HASH_LOG2].i;
        c->levels = (int)o[O_LEVELS].i;
        memcpy(c->res, o[O_RES].v, sizeof c->res);
        memcpy(c->feat, o[O_FEAT].v, sizeof c->feat);
    } else if (gnf_recipe_size_model(r, o[O_HASH_LOG2].set ? (int)o[O_HASH_LOG2].i : 0) != GNF_OK) {
        return fail("--params %ld: %s", r->max_params, gnf_last_error());
    }
    if (o[O_BATCH].set) tc->batch = r->nerf.samples_per_step = o[O_BATCH].i;
    if (o[O_LR].set) tc->lr0 = (float)o[O_LR].d;
    if (o[O_LR_END].set) tc->lr1 = (float)o[O_LR_END].d;
    else if (o[O_LR].set && task != GNF_TASK_IMAGE) tc->lr1 = tc->lr0 / 10;
    if (o[O_ADAM_EPS].set) tc->adam_eps = (float)o[O_ADAM_EPS].d;
    if (o[O_LOSS].set) tc->loss = (gnf_loss)o[O_LOSS].i;
    if (o[O_EVAL_EVERY].set) tc->eval_every = o[O_EVAL_EVERY].i;
    if (o[O_TARGET_PSNR].set) tc->target_psnr = o[O_TARGET_PSNR].d;
    tc->threads = r->sdf.threads = (int)o[O_THREADS].i;
    if (o[O_SAMPLES].set) r->sdf.samples = o[O_SAMPLES].i;
    if (o[O_SAMPLING].set) r->sdf.mix = (gnf_sdf_sampling)o[O_SAMPLING].i;
    if (o[O_UNIFORM].set) r->sdf.uniform_frac = (float)o[O_UNIFORM].d;
    if (o[O_SIGMA].set) r->sdf.sigma = (float)o[O_SIGMA].d;
    if (o[O_SIGN].set) r->sdf.sign = (gnf_sign_mode)o[O_SIGN].i;
    return 0;
}

int cmd_fit(int argc, char **argv, double t_cmd) {
    cli_args a;
    int rc = cli_parse(&a, V_FIT, "gnf fit", argc, argv, 1, HEAD, FOOT);
    if (rc >= 0) return rc;
    const opt_value *o = a.o;
    if (!a.npos) return usage_error("missing INPUT");
    int levels = (int)o[O_LEVELS].i;
    if (o[O_LEVELS].set && (o[O_RES].n != levels || o[O_FEAT].n != levels))
        return usage_error("--levels %d needs --res and --feat with %d values each", levels, levels);
    if (!o[O_LEVELS].set && (o[O_RES].set || o[O_FEAT].set)) return usage_error("--res and --feat need --levels");
    fit_job j = {.input = a.pos[0], .output = o[O_OUTPUT].s, .half = o[O_HALF].set, .quiet = o[O_QUIET].set,
                 .target_iou = o[O_TARGET_IOU].d, .t_cmd = t_cmd};
    gnf_task task = o[O_TASK].set ? (gnf_task)(o[O_TASK].i + 1) : task_of(j.input);
    if (is_dir(j.input) && task != GNF_TASK_NERF) return fail("%s: a folder, but the task is not nerf", j.input);
    if ((rc = cli_check_task(&a, task))) return rc;
    if (task == GNF_TASK_NERF && o[O_DECODER].i != GNF_DEC_RBF) return usage_error("radiance fields use the RBF decoder");
    char outbuf[4096], tmp[4096];
    if (!j.output) { /* INPUT's name with .gnf; a scene folder's name too */
        snprintf(tmp, sizeof tmp, "%s", j.input);
        size_t L = strlen(tmp);
        while (task == GNF_TASK_NERF && L > 1 && tmp[L - 1] == '/') tmp[--L] = 0;
        if (task == GNF_TASK_NERF && is_dir(tmp)) strncat(tmp, ".json", sizeof tmp - L - 1);
        j.output = default_output(tmp, outbuf, sizeof outbuf);
    }
    gnf_recipe_input in = {.steps = o[O_STEPS].set ? o[O_STEPS].i : 0, .seconds = o[O_SECONDS].d, .max_params = o[O_PARAMS].i};
    gnf_image img = {0};
    int src_w = 0, src_h = 0, had_alpha = 0;
    if (task == GNF_TASK_IMAGE) {
        if (gnf_image_load(j.input, &img, &had_alpha) != GNF_OK) return runtime_error();
        src_w = img.w, src_h = img.h;
        if (had_alpha && !j.quiet) fprintf(stderr, "note: %s has an alpha channel; it is dropped (colour fitted as stored)\n", j.input);
        const int *cr = o[O_CROP].v;
        if (o[O_CROP].set && (cr[0] > img.w || cr[1] > img.h)) {
            gnf_image_free(&img);
            return fail("%s: crop %dx%d is larger than the image (%dx%d)", j.input, cr[0], cr[1], src_w, src_h);
        }
        if (o[O_CROP].set && crop_center(&img, cr[0], cr[1]) != GNF_OK) { gnf_image_free(&img); return runtime_error(); }
        in.width = img.w, in.height = img.h, in.channels = img.c;
    }
    if (gnf_recipe_for(task, o[O_PRESET].s, &in, &j.r) != GNF_OK) rc = fail("--params %ld: %s", in.max_params, gnf_last_error());
    else rc = apply_flags(&a, task, &j.r);
    j.r.train.start_time = t_cmd;
    if (!rc && task == GNF_TASK_IMAGE) rc = fit_image(&j, &img, o[O_CROP].set, src_w, src_h);
    else if (!rc) rc = task == GNF_TASK_SDF ? fit_sdf(&j) : fit_nerf(&j, (int)o[O_DOWNSCALE].i);
    gnf_image_free(&img);
    return rc;
}
