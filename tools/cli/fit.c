/* fit.c — gnf fit: the task from the input, the library's recipe for it, the flags mapped onto
 * the recipe, then training with progress and a one-line summary.
 *
 * Interruption: SIGINT or SIGTERM (main.c records it; training asks through tc.cancel once per
 * step) stops training at the next step boundary; the model so far is saved with
 * gnf.train.interrupted, and the exit status is 128 + the signal.  --checkpoint-every keeps
 * OUTPUT.ckpt; it holds, beside the training state, the command that made it (gnf.fit.*), so
 * --resume CKPT needs nothing else.  Before training, the memory it needs is checked against
 * what is available (--force goes on anyway). */
#include "cli.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *HEAD =
    "usage: gnf fit INPUT [-o OUTPUT.gnf] [options]\n"
    "Fits a Gaussian Neural Field to INPUT.  The task follows from the input: an image file\n"
    "(PNG 8/16-bit gray/RGB/RGBA, JPEG) -> image fitting; a mesh (.obj .ply .stl .off) -> its\n"
    "signed distance field; a scene folder (or its transforms_train.json) in the Blender synthetic\n"
    "format -> a radiance field.  A folder with only transforms.json (instant-ngp / nerfstudio, from\n"
    "COLMAP) trains on all but every 8th view (0, 8, 16, ...), which are held out for the PSNR.\n"
    "An option of another task is a usage error.\n";
static const char *FOOT = "Same seed and settings with --steps give a byte-identical model file at any thread count,\n"
                          "interrupted and resumed or not.  Ctrl-C (SIGINT) or SIGTERM stops at the next step and saves the\n"
                          "model so far (exit 130 / 143); a second one stops at once, leaving no partial file.\n";

typedef struct { int quiet, tty; double next_report, t_start; gnf_task task; } progress_state;

static int on_progress(const gnf_progress *p, void *user) {
    progress_state *ps = user;
    if (p->event) { /* a divergence rollback: said even with --quiet */
        fprintf(stderr, "%s%s: warning: %s\n", ps->tty && !ps->quiet ? "\n" : "", g_verb, p->event);
        return 0;
    }
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
    const char *input_name;      /* the input as the user first named it (model metadata) */
    int half, quiet, force;
    gnf_recipe r;
    double target_iou, t_cmd;
    progress_state ps;
    char ckpt[4200];             /* OUTPUT.ckpt when checkpointing, else "" */
    const char *resume;          /* --resume CKPT */
    /* what a checkpoint stores of the command (gnf.fit.*), for --resume */
    const char *args_json;
    char input_abs[PATH_MAX], output_abs[PATH_MAX + 256];
    const char *ckpt_meta[9];
} fit_job;

/* The fit asks once per step whether to stop: a SIGINT or SIGTERM arrived. */
static int cancel_on_signal(void *user) {
    (void)user;
    return g_signal != 0;
}

/* Progress settings; the training memory against what the machine has (an error unless --force);
 * unless quiet "model: ...", the architecture and "<training> stopping at ...".  From here on a
 * first signal stops training at a step boundary (before, while loading, it ends the command at
 * once: there is nothing to save).  Returns 0 to train, else the exit code. */
static int start(fit_job *j, const gnf_model *m, long mem, double pictures_mib) {
    progress_state ps = {j->quiet, isatty(2), 0.1, gnf_now(), gnf_model_get_task(m)};
    j->ps = ps;
    j->r.train.progress = on_progress;
    j->r.train.user = &j->ps;
    j->r.train.progress_every = ps.tty ? 5 : 1;
    j->r.train.cancel = cancel_on_signal;
    const char *what;
    long long avail = available_memory(&what);
    if (avail >= 0 && mem > avail) {
        if (!j->force)
            return fail("training needs %.1f MiB but only %.1f MiB are available (%s); --force trains anyway",
                        (double)mem / 1048576.0, (double)avail / 1048576.0, what);
        fprintf(stderr, "%s: warning: training needs %.1f MiB, more than the %.1f MiB available (%s); going on (--force)\n",
                g_verb, (double)mem / 1048576.0, (double)avail / 1048576.0, what);
    }
    g_soft = 1;
    if (j->quiet) return 0;
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
    if (j->ckpt[0]) fprintf(stderr, "checkpoints: %s every %g s\n", j->ckpt, tc->checkpoint_every);
    return 0;
}

/* Saves m (freed here) after training with status st; prints the summary line.  Interrupted:
 * the model so far, marked so, then one line on stderr and 128 + the signal. */
static int finish(fit_job *j, gnf_model *m, gnf_status st, const gnf_train_report *rep) {
    if (j->ps.tty && !j->quiet) fprintf(stderr, "\n");
    const int cancelled = st == GNF_OK && !strcmp(rep->stop_reason, "cancelled");
    /* data-parallel: the stop may come from another rank's signal (mpi.c) */
    const int sig = cancelled && !g_signal ? SIGTERM : g_signal;
    if (cancelled) gnf_model_set_meta(m, "gnf.train.interrupted", signal_name(sig));
    if (st == GNF_OK && cli_mpi_rank() == 0) st = gnf_model_save(m, j->output, j->half);   /* rank 0 writes */
    long np = gnf_model_param_count(m);
    gnf_task task = gnf_model_get_task(m);
    gnf_model_free(m);
    if (st != GNF_OK) return runtime_error();
    if (cli_mpi_rank() != 0) return cancelled ? 128 + sig : 0;
    if (!j->quiet) cli_mpi_report(rep);
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
    printf(" after %ld steps, %.1f s training (%.2f %s/s), %.1f s total, stopped by %s%s\n", rep->steps, rep->seconds,
           rep->points_per_s / 1e6, task == GNF_TASK_NERF ? "M samples" : "Mpt", gnf_now() - j->t_cmd, rep->stop_reason,
           rep->rollbacks ? ", after divergence rollbacks" : "");
    fflush(stdout);
    if (cancelled) {
        fprintf(stderr, "%s: interrupted (%s) at step %ld: the model trained so far is in %s; ", g_verb, signal_name(sig),
                rep->steps, j->output);
        if (j->ckpt[0]) fprintf(stderr, "gnf fit --resume %s continues it\n", j->ckpt);
        else fprintf(stderr, "no checkpoint to resume from (--checkpoint-every S writes one)\n");
        return 128 + sig;
    }
    if (j->ckpt[0]) remove(j->ckpt);   /* the model is complete: the checkpoint that led to it is stale */
    if (g_signal) {
        fprintf(stderr, "%s: interrupted (%s) after training ended: the model is complete in %s\n", g_verb,
                signal_name(g_signal), j->output);
        return 128 + g_signal;
    }
    return 0;
}

static int fit_image(fit_job *j, gnf_image *img, int cropped, int src_w, int src_h) {
    gnf_model *m = NULL;
    if (gnf_model_create(&j->r.model, GNF_TASK_IMAGE, &m) != GNF_OK) return runtime_error();
    if (!j->quiet)
        fprintf(stderr, "fitting %s (%dx%d, %d channel%s%s) -> %s\n", j->input, img->w, img->h, img->c, img->c > 1 ? "s" : "",
                cropped ? ", centre crop" : "", j->output);
    int rc = start(j, m, gnf_fit_image_memory(m, img->w, img->h, img->c, &j->r.train), 0);
    if (rc) { gnf_model_free(m); return rc; }
    char buf[256];
    const char *base = strrchr(j->input_name, '/');
    gnf_model_set_meta(m, "gnf.source", base ? base + 1 : j->input_name);
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
    int rc = start(j, m, gnf_fit_sdf_memory(m, t, tc), 0);
    if (rc) { gnf_sdf_target_free(t); gnf_model_free(m); return rc; }
    gnf_model_set_meta(m, "gnf.source", strrchr(j->input_name, '/') ? strrchr(j->input_name, '/') + 1 : j->input_name);
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
    char trainjson[4200];
    snprintf(trainjson, sizeof trainjson, "%s/transforms_train.json", folder);
    if (is_dir(j->input) && file_size(testjson) < 0 && file_size(trainjson) < 0) {
        /* only transforms.json: the reader's "test" split of the folder is its every 8th view */
        snprintf(testjson, sizeof testjson, "%s/transforms.json", folder);
        if (file_size(testjson) >= 0) snprintf(testjson, sizeof testjson, "%s", folder);
    }
    if (file_size(testjson) >= 0 && gnf_nerf_scene_load(testjson, "test", downscale, tc->threads, &held) != GNF_OK) {
        fprintf(stderr, "warning: %s: %s; training without a held-back view\n", testjson, gnf_last_error());
        held = NULL;
    }
    gnf_model *m = NULL;
    if (gnf_model_create(&j->r.model, GNF_TASK_NERF, &m) != GNF_OK) { gnf_nerf_scene_free(train); gnf_nerf_scene_free(held); return runtime_error(); }
    float box, centre[3];
    if (gnf_nerf_scene_box(train, &box, centre)) { /* the file's aabb_scale / scale / offset */
        j->r.nerf.box = box;
        if (!j->quiet)
            fprintf(stderr, "scene box: half-size %g around (%g, %g, %g) from the file's aabb_scale/scale/offset\n",
                    (double)box, (double)centre[0], (double)centre[1], (double)centre[2]);
    }
    const gnf_nerf_config *nc = &j->r.nerf;
    gnf_camera c0;
    gnf_nerf_scene_camera(train, 0, &c0);
    int nviews = gnf_nerf_scene_count(train) + (held ? gnf_nerf_scene_count(held) : 0);
    if (!j->quiet)
        fprintf(stderr, "scene: %d training views of %dx%d (fx %.1f), %d held-back test views, loaded in %.1f s\n",
                gnf_nerf_scene_count(train), c0.w, c0.h, (double)c0.fx, held ? gnf_nerf_scene_count(held) : 0, gnf_now() - tl);
    int rc = start(j, m, gnf_fit_nerf_memory(m, nc, tc), (double)nviews * c0.w * c0.h * 12 / 1048576.0);
    if (rc) { gnf_nerf_scene_free(train); gnf_nerf_scene_free(held); gnf_model_free(m); return rc; }
    gnf_model_set_meta(m, "gnf.source", j->input_name);
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
gnf_task task_of(const char *input) {
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

/* The command's options as a JSON array of strings (argv without the verb and the positional
 * INPUT), for the checkpoint: --resume parses them again.  malloc'd; NULL if out of memory. */
static char *args_json(int argc, char **argv, const char *input) {
    cJSON *arr = cJSON_CreateArray();
    for (int k = 1; arr && k < argc; k++)
        if (argv[k] != input && !cJSON_AddItemToArray(arr, cJSON_CreateString(argv[k]))) { cJSON_Delete(arr); arr = NULL; }
    char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return s;
}

/* path made absolute: realpath of the file, or of its folder when the file does not exist yet. */
static void absolute(const char *path, char *buf, size_t cap) {
    char r[PATH_MAX], dir[PATH_MAX];
    if (realpath(path, r)) { snprintf(buf, cap, "%s", r); return; }
    snprintf(dir, sizeof dir, "%s", path);
    char *sl = strrchr(dir, '/');
    const char *base = sl ? path + (sl - dir) + 1 : path;
    if (sl) *sl = 0;
    if (realpath(sl ? (dir[0] ? dir : "/") : ".", r)) snprintf(buf, cap, "%s/%s", strcmp(r, "/") ? r : "", base);
    else snprintf(buf, cap, "%s", path);
}

/* Options a resumed command may give: they do not change what is trained. */
static int may_change_on_resume(int id) {
    return id == O_RESUME || id == O_OUTPUT || id == O_THREADS || id == O_QUIET || id == O_CHECKPOINT_EVERY || id == O_FORCE;
}

/* --resume CKPT: *a becomes the command stored in the checkpoint (gnf.fit.args, gnf.fit.input)
 * with what this command may change; any other option given must equal the stored one.  The
 * strings *a then points to are kept in *keep (the caller frees them with free_strings).
 * Returns -1 to go on, else the exit code. */
static int resume_command(cli_args *a, fit_job *j, char ***keep) {
    const char *ck = a->o[O_RESUME].s;
    gnf_model *cm = NULL;
    if (gnf_checkpoint_load_model(ck, &cm) != GNF_OK) return runtime_error();
    const char *js = gnf_model_get_meta(cm, "gnf.fit.args"), *in = gnf_model_get_meta(cm, "gnf.fit.input");
    const char *name = gnf_model_get_meta(cm, "gnf.fit.input_name"), *out = gnf_model_get_meta(cm, "gnf.fit.output");
    const char *step = gnf_model_get_meta(cm, "gnf.ckpt.step");
    int rc = -1;
    cJSON *arr = js ? cJSON_Parse(js) : NULL;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    char **v = n >= 0 ? calloc((size_t)n + 6, sizeof *v) : NULL;   /* "fit", the options, input, name, output, NULL */
    if (!in || !name || !out || n < 0) rc = fail("%s: this checkpoint does not record the gnf fit command that made it "
                                                 "(gnf.fit.*); resume it through the C API (gnf_train_config.resume_path)", ck);
    else if (!v) rc = fail("out of memory");
    for (int k = 0; rc < 0 && k < n; k++) {
        const cJSON *e = cJSON_GetArrayItem(arr, k);
        if (!cJSON_IsString(e)) rc = fail("%s: gnf.fit.args is not a list of strings", ck);
        else if (!(v[k + 1] = strdup(e->valuestring))) rc = fail("out of memory");
    }
    if (rc < 0 && !((v[0] = strdup("fit")) && (v[n + 1] = strdup(in)) && (v[n + 2] = strdup(name)) && (v[n + 3] = strdup(out))))
        rc = fail("out of memory");
    cJSON_Delete(arr);
    *keep = v;
    cli_args orig;
    if (rc < 0 && (cli_parse(&orig, V_FIT, "gnf fit", n + 1, v, 1, HEAD, FOOT) >= 0 || orig.npos || orig.o[O_RESUME].set))
        rc = fail("%s: the command stored in the checkpoint (gnf.fit.args) does not parse", ck);
    for (int id = 0; rc < 0 && id < O_COUNT; id++) {
        if (!a->o[id].set || may_change_on_resume(id) || cli_same_value(id, &a->o[id], &orig.o[id])) continue;
        if (orig.o[id].set)
            rc = usage_error("%s %s conflicts with the checkpoint %s, made with %s %s", cli_option_name(id), a->o[id].s ? a->o[id].s : "",
                             ck, cli_option_name(id), orig.o[id].s ? orig.o[id].s : "");
        else rc = usage_error("%s conflicts with the checkpoint %s, made without it", cli_option_name(id), ck);
    }
    if (rc < 0) {
        if (!j->quiet && !a->o[O_QUIET].set && cli_mpi_rank() == 0) fprintf(stderr, "resuming %s at step %s\n", ck, step ? step : "?");
        for (int id = 0; id < O_COUNT; id++)
            if (may_change_on_resume(id) && a->o[id].set) orig.o[id] = a->o[id];
        if (!a->o[O_OUTPUT].set) { orig.o[O_OUTPUT].s = v[n + 3]; orig.o[O_OUTPUT].set = 1; }
        orig.pos[0] = a->npos ? a->pos[0] : v[n + 1];   /* INPUT given again (it may have moved) */
        orig.npos = 1;
        j->input_name = a->npos ? a->pos[0] : v[n + 2];
        j->args_json = js ? strdup(js) : NULL;
        *a = orig;
    }
    gnf_model_free(cm);
    return rc;
}

/* The fit the (merged) arguments a describe. */
static int fit_command(const cli_args *ap, fit_job *jp, double t_cmd) {
    const cli_args a = *ap;
    const opt_value *o = a.o;
    int rc;
    int levels = (int)o[O_LEVELS].i;
    if (o[O_LEVELS].set && (o[O_RES].n != levels || o[O_FEAT].n != levels))
        return usage_error("--levels %d needs --res and --feat with %d values each", levels, levels);
    if (!o[O_LEVELS].set && (o[O_RES].set || o[O_FEAT].set)) return usage_error("--res and --feat need --levels");
    fit_job *j = jp;
    j->input = a.pos[0];
    j->output = o[O_OUTPUT].s;
    j->half = o[O_HALF].set;
    j->quiet = o[O_QUIET].set;
    j->force = o[O_FORCE].set;
    j->target_iou = o[O_TARGET_IOU].d;
    j->resume = o[O_RESUME].set ? o[O_RESUME].s : NULL;
    gnf_task task = o[O_TASK].set ? (gnf_task)(o[O_TASK].i + 1) : task_of(j->input);
    if (is_dir(j->input) && task != GNF_TASK_NERF) return fail("%s: a folder, but the task is not nerf", j->input);
    if ((rc = cli_check_task(&a, task))) return rc;
    if (task == GNF_TASK_NERF && o[O_DECODER].i != GNF_DEC_RBF) return usage_error("radiance fields use the RBF decoder");
    char outbuf[4096], tmp[4096];
    if (!j->output) { /* INPUT's name with .gnf; a scene folder's name too */
        snprintf(tmp, sizeof tmp, "%s", j->input);
        size_t L = strlen(tmp);
        while (task == GNF_TASK_NERF && L > 1 && tmp[L - 1] == '/') tmp[--L] = 0;
        if (task == GNF_TASK_NERF && is_dir(tmp)) strncat(tmp, ".json", sizeof tmp - L - 1);
        j->output = default_output(tmp, outbuf, sizeof outbuf);
    }
    gnf_recipe_input in = {.steps = o[O_STEPS].set ? o[O_STEPS].i : 0, .seconds = o[O_SECONDS].d, .max_params = o[O_PARAMS].i};
    gnf_image img = {0};
    int src_w = 0, src_h = 0, had_alpha = 0;
    if (task == GNF_TASK_IMAGE) {
        if (gnf_image_load(j->input, &img, &had_alpha) != GNF_OK) return runtime_error();
        src_w = img.w, src_h = img.h;
        if (had_alpha && !j->quiet) fprintf(stderr, "note: %s has an alpha channel; it is dropped (colour fitted as stored)\n", j->input);
        const int *cr = o[O_CROP].v;
        if (o[O_CROP].set && (cr[0] > img.w || cr[1] > img.h)) {
            gnf_image_free(&img);
            return fail("%s: crop %dx%d is larger than the image (%dx%d)", j->input, cr[0], cr[1], src_w, src_h);
        }
        if (o[O_CROP].set && crop_center(&img, cr[0], cr[1]) != GNF_OK) { gnf_image_free(&img); return runtime_error(); }
        in.width = img.w, in.height = img.h, in.channels = img.c;
    }
    if (gnf_recipe_for(task, o[O_PRESET].s, &in, &j->r) != GNF_OK) rc = fail("--params %ld: %s", in.max_params, gnf_last_error());
    else rc = apply_flags(&a, task, &j->r);
    gnf_train_config *tc = &j->r.train;
    tc->start_time = t_cmd;
    /* checkpoints: OUTPUT.ckpt, holding the command (gnf.fit.*) for --resume */
    absolute(j->input, j->input_abs, sizeof j->input_abs);
    absolute(j->output, j->output_abs, sizeof j->output_abs);
    const char *meta[] = {"gnf.fit.args", j->args_json, "gnf.fit.input", j->input_abs, "gnf.fit.input_name", j->input_name,
                          "gnf.fit.output", j->output_abs, NULL};
    memcpy(j->ckpt_meta, meta, sizeof meta);
    if (o[O_CHECKPOINT_EVERY].set) {
        snprintf(j->ckpt, sizeof j->ckpt, "%s.ckpt", j->output);
        tc->checkpoint_path = j->ckpt;
        tc->checkpoint_every = o[O_CHECKPOINT_EVERY].d;
        tc->checkpoint_meta = j->ckpt_meta;
    }
    tc->resume_path = j->resume;
    if ((tc->parallel = cli_mpi_parallel()) && cli_mpi_rank() != 0) {   /* mpirun -np N (mpi.c): rank 0 alone prints */
        j->quiet = 1;                                                    /* and writes, checkpoints included */
        tc->checkpoint_path = NULL;
        j->ckpt[0] = 0;
    }
    if (!rc && task == GNF_TASK_IMAGE) rc = fit_image(j, &img, o[O_CROP].set, src_w, src_h);
    else if (!rc) rc = task == GNF_TASK_SDF ? fit_sdf(j) : fit_nerf(j, (int)o[O_DOWNSCALE].i);
    gnf_image_free(&img);
    return rc;
}

static void free_strings(char **v) {
    for (int k = 0; v && v[k]; k++) free(v[k]);
    free(v);
}

static int fit_main(int argc, char **argv, double t_cmd);

/* gnf fit, alone or as one rank of an MPI job (mpi.c). */
int cmd_fit(int argc, char **argv, double t_cmd) {
    int rc = cli_mpi_init(&argc, &argv);
    if (rc < 0) rc = fit_main(argc, argv, t_cmd);
    return cli_mpi_finish(rc);
}

static int fit_main(int argc, char **argv, double t_cmd) {
    cli_args a;
    int rc = cli_parse(&a, V_FIT, "gnf fit", argc, argv, 1, HEAD, FOOT);
    if (rc >= 0) return rc;
    fit_job j = {.quiet = a.o[O_QUIET].set, .t_cmd = t_cmd};
    char **keep = NULL;
    if (a.o[O_RESUME].set) {
        if ((rc = resume_command(&a, &j, &keep)) >= 0) { free_strings(keep); free((char *)j.args_json); return rc; }
    } else {
        if (!a.npos) return usage_error("missing INPUT");
        j.input_name = a.pos[0];
        if (!(j.args_json = args_json(argc, argv, a.pos[0]))) return fail("out of memory");
    }
    rc = fit_command(&a, &j, t_cmd);
    free_strings(keep);
    free((char *)j.args_json);
    return rc;
}
