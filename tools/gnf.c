/* gnf.c — the command-line tool: gnf <verb> [options].
 * Results go to stdout, progress and errors to stderr.  Exit codes: 0 success, 1 runtime
 * failure (unreadable/corrupt/unsupported input, I/O error), 2 usage error. */
#define _POSIX_C_SOURCE 200809L
#include "gnf.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define GNF_ROUND_ASPECT(a, num, den) (((a) * (long)(num) + (den) / 2) / (den))
#define GNF_MIN(a, b) ((a) < (b) ? (a) : (b))

static const char *g_verb = "gnf";

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", g_verb);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see '%s --help')\n", g_verb);
    va_end(ap);
    return EXIT_USAGE;
}

static int runtime_error(void) {
    fprintf(stderr, "%s: error: %s\n", g_verb, gnf_last_error());
    return EXIT_RUNTIME;
}

/* ---- option parsing helpers ------------------------------------------------------------- */

typedef struct { int argc; char **argv; int i; } args;

/* If argv[i] is --name (or --name=value), sets *val and advances; returns 1.  Returns -1 if the
 * value is missing. */
static int opt_val(args *a, const char *name, const char **val) {
    const char *s = a->argv[a->i];
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0) return 0;
    if (s[n] == '=') { *val = s + n + 1; return 1; }
    if (s[n] != 0) return 0;
    if (a->i + 1 >= a->argc) return -1;
    *val = a->argv[++a->i];
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

static int parse_size(const char *s, int *w, int *h) {
    long a, b;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *x = strchr(buf, 'x');
    if (!x) return 0;
    *x = 0;
    if (!parse_long(buf, 1, 65536, &a) || !parse_long(x + 1, 1, 65536, &b)) return 0;
    *w = (int)a;
    *h = (int)b;
    return 1;
}

#define NEED(r, name) do { if ((r) < 0) return usage_error("option %s needs a value", name); } while (0)

/* ---- progress display -------------------------------------------------------------------- */

typedef struct { int quiet, tty; double next_report; double t_start; int sdf; int log_evals; } progress_state;

static int on_progress(const gnf_progress *p, void *user) {
    progress_state *ps = user;
    if (ps->quiet) return 0;
    double el = gnf_now() - ps->t_start;
    double eta = p->progress > 1e-6 ? el * (1 - p->progress) / p->progress : 0;
    char psnr[48];
    if (ps->sdf) snprintf(psnr, sizeof psnr, isnan(p->quality) ? "-" : "IoU %.5f", p->quality);
    else snprintf(psnr, sizeof psnr, isnan(p->quality) ? "PSNR ~%.2f dB" : "PSNR %.2f dB", isnan(p->quality) ? p->quality_est : p->quality);
    if (ps->tty) {
        int width = 24, fill = (int)(p->progress * width + 0.5);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r[%s] %3.0f%% step %ld loss %.5f %s %.2f Mpt/s ETA %.0fs   ", bar,
                100 * p->progress, p->step, p->loss, psnr, p->points_per_s / 1e6, eta);
        fflush(stderr);
    } else if (ps->log_evals && !isnan(p->quality)) {
        fprintf(stderr, "  %3.0f%%  step %ld  %.1f s  held-out PSNR %.2f dB  %.2f M samples/s\n", 100 * p->progress, p->step,
                el, p->quality, p->points_per_s / 1e6);
    } else if (p->progress >= ps->next_report) {
        fprintf(stderr, "  %3.0f%%  step %ld  loss %.5f  %s  %.2f Mpt/s  ETA %.0fs\n", 100 * p->progress,
                p->step, p->loss, psnr, p->points_per_s / 1e6, eta);
        while (ps->next_report <= p->progress) ps->next_report += 0.1;
    }
    return 0;
}

/* ---- shared helpers ---------------------------------------------------------------------- */

static gnf_status crop_center(gnf_image *img, int cw, int ch) {
    if (cw > img->w || ch > img->h) {
        return GNF_ERR_INVALID;
    }
    gnf_image out;
    gnf_status s = gnf_image_alloc(&out, cw, ch, img->c);
    if (s != GNF_OK) return s;
    int x0 = (img->w - cw) / 2, y0 = (img->h - ch) / 2;
    for (int i = 0; i < ch; i++)
        memcpy(out.px + (size_t)i * cw * img->c, img->px + ((size_t)(y0 + i) * img->w + x0) * img->c,
               sizeof(float) * (size_t)cw * img->c);
    gnf_image_free(img);
    *img = out;
    return GNF_OK;
}

static const char *basis_str(gnf_basis b) { return b == GNF_BASIS_IMQ ? "imq" : b == GNF_BASIS_MQ ? "mq" : "gaussian"; }

static void describe_model(FILE *f, const gnf_model *m) {
    const gnf_model_config *c = gnf_model_get_config(m);
    if (c->encoding == GNF_ENC_HASH)
        fprintf(f, "encoding: %dD hash grids (2^%d entries per level), %d levels, resolutions", c->in_dim, c->hash_log2, c->levels);
    else
        fprintf(f, "encoding: dense %dD grids, %d levels, resolutions", c->in_dim, c->levels);
    for (int l = 0; l < c->levels; l++) fprintf(f, "%s%d", l ? "," : " ", c->res[l]);
    fprintf(f, ", features");
    for (int l = 0; l < c->levels; l++) fprintf(f, "%s%d", l ? "," : " ", c->feat[l]);
    fprintf(f, "\n");
    if (c->decoder == GNF_DEC_RBF)
        fprintf(f, "decoder: RBF, K = %d %s neurons, %d outputs\n", c->rbf_k, basis_str(c->basis), c->out_dim);
    else
        fprintf(f, "decoder: MLP, %d hidden layers of %d (ReLU), %d outputs\n", c->mlp_layers, c->mlp_hidden, c->out_dim);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* Prints " N steps[ or S s (whole command)]" for the step and time limits of tc. */
static void print_stop_rules(const gnf_train_config *tc) {
    if (tc->steps) fprintf(stderr, " %ld steps", tc->steps);
    if (tc->seconds > 0) fprintf(stderr, "%s %.1f s (whole command)", tc->steps ? " or" : "", tc->seconds);
}

/* ---- fit --------------------------------------------------------------------------------- */

/* Mesh files by extension (case-insensitive): the input of SDF fitting. */
static int has_mesh_ext(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot) return 0;
    const char *exts[] = {".obj", ".ply", ".stl", ".off"};
    for (int i = 0; i < 4; i++) {
        int same = strlen(dot) == 4;
        for (int k = 0; same && k < 4; k++) same = tolower((unsigned char)dot[k]) == exts[i][k];
        if (same) return 1;
    }
    return 0;
}

/* Default output: the input's file name with .gnf, in the current folder. */
static const char *default_output(const char *input, char *buf, size_t n) {
    const char *base = strrchr(input, '/');
    base = base ? base + 1 : input;
    snprintf(buf, n, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot) *dot = 0;
    strncat(buf, ".gnf", n - strlen(buf) - 1);
    return buf;
}

typedef struct {
    const char *input, *output;
    int half, quiet;
    long params;
    int explicit_grid;
    double target_iou;
} fit_sdf_opts;

static int fit_sdf(const fit_sdf_opts *o, gnf_model_config *cfg, gnf_train_config *tc, const gnf_sdf_config *sc, double t_cmd) {
    char outbuf[4096];
    const char *output = o->output ? o->output : default_output(o->input, outbuf, sizeof outbuf);
    cfg->in_dim = 3;
    cfg->out_dim = 1;
    if (!o->explicit_grid && gnf_model_config_for_params(cfg, o->params, 0) != GNF_OK) {
        fprintf(stderr, "gnf fit: error: --params %ld: %s\n", o->params, gnf_last_error());
        return EXIT_RUNTIME;
    }
    gnf_model *m = NULL;
    if (gnf_model_create(cfg, GNF_TASK_SDF, &m) != GNF_OK) return runtime_error();
    if (!o->quiet) fprintf(stderr, "loading %s and computing %ld ground-truth samples...\n", o->input, sc->samples);
    gnf_sdf_target *t = NULL;
    if (gnf_sdf_target_create(o->input, sc, &t) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    gnf_sdf_target_info in;
    gnf_sdf_target_get_info(t, &in);
    if (!o->quiet) {
        fprintf(stderr, "mesh: %ld vertices, %ld faces; %s", in.vertices, in.faces, in.watertight ? "watertight" : "NOT watertight");
        if (in.boundary_edges) fprintf(stderr, ", %ld boundary edges (holes)", in.boundary_edges);
        if (in.non_manifold_edges) fprintf(stderr, ", %ld non-manifold edges", in.non_manifold_edges);
        if (in.degenerate_faces) fprintf(stderr, ", %ld degenerate faces", in.degenerate_faces);
        if (in.dropped_faces) fprintf(stderr, ", %ld faces with repeated vertices dropped", in.dropped_faces);
        if (in.duplicate_vertices) fprintf(stderr, ", %ld duplicate vertices", in.duplicate_vertices);
        fprintf(stderr, "\n");
        if (!in.watertight) fprintf(stderr, "warning: %s is not watertight; signs come from the generalised winding number\n", o->input);
        fprintf(stderr, "ground truth: load %.2f s, BVH %.2f s, %ld samples in %.2f s (%.2f M distance queries/s, sign by %s)\n",
                in.load_s, in.bvh_s, sc->samples, in.samples_s, in.samples_per_s / 1e6, in.sign_by_winding ? "winding number" : "ray parity");
        long mem = gnf_fit_sdf_memory(m, t, tc);
        fprintf(stderr, "model: %ld parameters, %ld bytes on disk (%s); training memory %.1f MiB; %d threads, %s kernels\n",
                gnf_model_param_count(m), gnf_model_file_bytes(m, o->half), o->half ? "f16" : "f32", (double)mem / 1048576.0,
                tc->threads > 0 ? tc->threads : gnf_default_threads(), gnf_kernel_name());
        describe_model(stderr, m);
        fprintf(stderr, "training: batch %ld, lr %g -> %g, stopping at", tc->batch, (double)tc->lr0, (double)tc->lr1);
        print_stop_rules(tc);
        if (o->target_iou > 0) fprintf(stderr, " or held-out IoU %.5f", o->target_iou);
        fprintf(stderr, "\n");
    }
    progress_state ps = {o->quiet, isatty(2), 0.1, gnf_now(), 1, 0};
    tc->progress = on_progress;
    tc->user = &ps;
    tc->progress_every = ps.tty ? 5 : 1;
    gnf_model_set_meta(m, "gnf.source", strrchr(o->input, '/') ? strrchr(o->input, '/') + 1 : o->input);
    gnf_train_report rep;
    gnf_status st = gnf_fit_sdf(m, t, tc, o->target_iou, &rep);
    if (ps.tty && !o->quiet) fprintf(stderr, "\n");
    gnf_sdf_target_free(t);
    if (st != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    if (gnf_model_save(m, output, o->half) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    long np = gnf_model_param_count(m);
    gnf_model_free(m);
    printf("%s: %ld parameters, %ld bytes, held-out IoU %.5f after %ld steps, %.1f s training (%.2f Mpt/s), %.1f s total, stopped by %s\n",
           output, np, file_size(output), rep.quality, rep.steps, rep.seconds, rep.points_per_s / 1e6, gnf_now() - t_cmd, rep.stop_reason);
    return 0;
}


typedef struct {
    const char *input, *output;
    int half, quiet, downscale, dense;
    long params, samples;
    int rbf_k;
} fit_nerf_opts;

/* The scene folder of a radiance-field input (the folder itself, or the json's folder). */
static void scene_folder(const char *input, char *buf, size_t n) {
    snprintf(buf, n, "%s", input);
    if (!is_dir(buf)) {
        char *sl = strrchr(buf, '/');
        if (sl) *sl = 0;
        else snprintf(buf, n, ".");
    }
}

static int fit_nerf(const fit_nerf_opts *o, gnf_train_config *tc, double t_cmd) {
    char outbuf[4096], folder[4096], testjson[4200];
    const char *output = o->output;
    if (!output) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", o->input);
        size_t L = strlen(tmp);
        while (L > 1 && tmp[L - 1] == '/') tmp[--L] = 0;
        if (is_dir(tmp)) { strncat(tmp, ".json", sizeof tmp - strlen(tmp) - 1); }
        output = default_output(tmp, outbuf, sizeof outbuf);
    }
    gnf_model_config cfg;
    gnf_status cs = gnf_nerf_model_config(&cfg, o->params);
    if (cs == GNF_OK && (o->dense || o->rbf_k)) { /* ablations: dense 3D grids, another K */
        if (o->dense) cfg.encoding = GNF_ENC_DENSE;
        if (o->rbf_k) cfg.rbf_k = o->rbf_k;
        cs = gnf_model_config_for_params(&cfg, o->params > 0 ? o->params : 2100000, 1024);
    }
    if (cs != GNF_OK) {
        fprintf(stderr, "gnf fit: error: --params %ld: %s\n", o->params, gnf_last_error());
        return EXIT_RUNTIME;
    }
    cfg.seed = tc->seed;
    if (!o->quiet) fprintf(stderr, "loading %s (training views, downscale %d)...\n", o->input, o->downscale);
    double tl = gnf_now();
    gnf_nerf_scene *train = NULL, *held = NULL;
    if (gnf_nerf_scene_load(o->input, "train", o->downscale, tc->threads, &train) != GNF_OK) return runtime_error();
    /* the held-back view for progress: the test split's first views when the folder has one */
    scene_folder(o->input, folder, sizeof folder);
    snprintf(testjson, sizeof testjson, "%s/transforms_test.json", folder);
    if (file_size(testjson) >= 0 && gnf_nerf_scene_load(testjson, "test", o->downscale, tc->threads, &held) != GNF_OK) {
        fprintf(stderr, "warning: %s: %s; training without a held-back view\n", testjson, gnf_last_error());
        held = NULL;
    }
    gnf_model *m = NULL;
    if (gnf_model_create(&cfg, GNF_TASK_NERF, &m) != GNF_OK) { gnf_nerf_scene_free(train); gnf_nerf_scene_free(held); return runtime_error(); }
    gnf_nerf_config nc;
    gnf_nerf_config_default(&nc);
    if (o->samples > 0) nc.samples_per_step = o->samples;
    if (!o->quiet) {
        gnf_camera c0;
        gnf_nerf_scene_camera(train, 0, &c0);
        fprintf(stderr, "scene: %d training views of %dx%d (fx %.1f), %d held-back test views, loaded in %.1f s\n",
                gnf_nerf_scene_count(train), c0.w, c0.h, (double)c0.fx, held ? gnf_nerf_scene_count(held) : 0, gnf_now() - tl);
        long mem = gnf_fit_nerf_memory(m, &nc, tc);
        fprintf(stderr, "model: %ld parameters, %ld bytes on disk (%s); training memory %.1f MiB plus %.1f MiB of pictures; %d threads, %s kernels\n",
                gnf_model_param_count(m), gnf_model_file_bytes(m, o->half), o->half ? "f16" : "f32", (double)mem / 1048576.0,
                (double)(gnf_nerf_scene_count(train) + (held ? gnf_nerf_scene_count(held) : 0)) * c0.w * c0.h * 12 / 1048576.0,
                tc->threads > 0 ? tc->threads : gnf_default_threads(), gnf_kernel_name());
        describe_model(stderr, m);
        fprintf(stderr, "training: %ld samples per step, lr %g -> %g, stopping at", nc.samples_per_step, (double)tc->lr0, (double)tc->lr1);
        print_stop_rules(tc);
        if (tc->target_psnr > 0) fprintf(stderr, " or held-out PSNR %.2f dB", tc->target_psnr);
        fprintf(stderr, "\n");
    }
    progress_state ps = {o->quiet, isatty(2), 0.1, gnf_now(), 0, 1};
    tc->progress = on_progress;
    tc->user = &ps;
    tc->progress_every = ps.tty ? 5 : 1;
    gnf_model_set_meta(m, "gnf.source", o->input);
    char buf[32];
    snprintf(buf, sizeof buf, "%d", o->downscale);
    gnf_model_set_meta(m, "gnf.nerf.downscale", buf);
    gnf_train_report rep;
    gnf_status st = gnf_fit_nerf(m, train, held, &nc, tc, &rep);
    if (ps.tty && !o->quiet) fprintf(stderr, "\n");
    gnf_nerf_scene_free(train);
    gnf_nerf_scene_free(held);
    if (st != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    if (gnf_model_save(m, output, o->half) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    long np = gnf_model_param_count(m);
    gnf_model_free(m);
    if (!o->quiet) {
        static const char *names[8] = GNF_NERF_PHASES;
        double tot = 0;
        for (int i = 0; i < 8; i++) tot += rep.phase_s[i];
        fprintf(stderr, "where the time went:");
        for (int i = 0; i < 8; i++) fprintf(stderr, "%s %s %.1f%%", i ? "," : "", names[i], tot > 0 ? 100 * rep.phase_s[i] / tot : 0);
        fprintf(stderr, "\n");
    }
    printf("%s: %ld parameters, %ld bytes, held-out PSNR %.2f dB after %ld steps, %.1f s training (%.2f M samples/s), %.1f s total, stopped by %s\n",
           output, np, file_size(output), rep.quality, rep.steps, rep.seconds, rep.points_per_s / 1e6, gnf_now() - t_cmd, rep.stop_reason);
    return 0;
}

static int is_nerf_input(const char *input) {
    size_t n = strlen(input);
    return is_dir(input) || (n > 5 && strcmp(input + n - 5, ".json") == 0);
}

static const char *FIT_HELP =
    "usage: gnf fit INPUT [-o OUTPUT.gnf] [options]\n"
    "Fits a Gaussian Neural Field to INPUT.  The task follows from the input: an image file\n"
    "(PNG 8/16-bit gray/RGB/RGBA, JPEG) -> image fitting; a mesh (.obj .ply .stl .off) -> its\n"
    "signed distance field; a scene folder (or its transforms_train.json) in the Blender synthetic\n"
    "format -> a radiance field.\n"
    "\n"
    "Output\n"
    "  -o, --output PATH     model file (default: INPUT's name with .gnf, in the current folder)\n"
    "  --half                store parameters as f16 (half the file)\n"
    "  --task image|sdf|nerf force the task\n"
    "Stopping rules (whichever comes first; with none of --steps/--seconds, the preset's: images 5000\n"
    "steps, sdf 15 s by default)\n"
    "  --steps N             training steps\n"
    "  --seconds S           wall-clock budget for the whole command, loading included\n"
    "  --target-psnr DB      image: stop once the full-image PSNR reaches DB (checked every --eval-every steps)\n"
    "  --target-iou X        sdf: stop once the IoU on 131072 held-out points reaches X\n"
    "Model size\n"
    "  --params N            size the grids so the model has at most N parameters\n"
    "                        (image default: 2 per pixel, at least 20000, at most 4000000; sdf: 1000000)\n"
    "  --encoding dense|hash grids (default: dense for images, hash for sdf and radiance fields)\n"
    "  --hash-log2 T         hash table size 2^T per level, with --levels (default: sized by --params)\n"
    "  --preset P            fast | default | quality: images: params per pixel 0.5 | 2 | 4, steps\n"
    "                        1000 | 5000 | 15000; sdf: 5 | 15 | 60 seconds\n"
    "  --levels L --res R0,R1,.. --feat F0,F1,..   explicit grid (overrides --params)\n"
    "  --decoder rbf|mlp     decoder (default rbf: the GNF decoder)\n"
    "  --basis B             gaussian | imq | mq (default gaussian)\n"
    "  --rbf-k K             RBF neurons (default 64; radiance fields 32)\n"
    "  --mlp-hidden H --mlp-layers N   MLP decoder size (default 64, 2)\n"
    "Training\n"
    "  --batch N             points per step (default: images 8192, sdf 16384)\n"
    "  --lr A --lr-end B     Adam learning rate, decayed exponentially A -> B\n"
    "                        (default: images 0.01 -> 0.001; sdf 0.005 -> 0.0005, or 0.002 -> 0.0002 for\n"
    "                        fits of 45 s / 3000 steps or more, both measured best for their budgets)\n"
    "  --loss l1|l2          (default l2)\n"
    "  --adam-eps E          Adam epsilon (default: images 1e-15, sdf 1e-8)\n"
    "  --seed N              initialisation and sampling seed (default 1)\n"
    "  --crop WxH            image: fit the centre WxH crop of the image\n"
    "Signed distance fields\n"
    "  --samples N           ground-truth pool size (default 2097152)\n"
    "  --sampling ngp|gnf    pool mix: ngp = 4/8 surface, 3/8 near (sigma 0.01), 1/8 uniform (default);\n"
    "                        gnf = 1/8 surface, 7/8 uniform\n"
    "  --uniform F           fraction of the pool uniform in the box (the rest surface:near 4:3);\n"
    "                        overrides --sampling\n"
    "  --sigma S             near-surface noise of the ngp mix, normalised units (default 0.01)\n"
    "  --sign auto|winding|parity   inside/outside: auto = ray parity if watertight, else winding number\n"
    "  (--loss l1 is the relative L1 |d'-d|/(|d|+0.01), l2 the relative L2 (d'-d)^2/(|d|+0.1))\n"
    "Radiance fields (default: 2.1M parameters, 300 s; presets fast 60 s, quality 1800 s)\n"
    "  --downscale N         box-downscale the pictures by N (a quick run)\n"
    "  --batch N             samples per step (default 32768; rays per step follow)\n"
    "  (progress and --target-psnr: mean PSNR of 4 test views, ~2500 pixels each on a grid, every\n"
    "   --eval-every steps, default 250; without a terminal each such check prints a line)\n"
    "General\n"
    "  --eval-every N        steps between full-image PSNR checks for --target-psnr (default 25)\n"
    "  --threads N           worker threads (default: GNF_THREADS or all cores)\n"
    "  --quiet               no progress output\n"
    "Same seed and settings with --steps give a byte-identical model file at any thread count.\n";

static int cmd_fit(int argc, char **argv, double t_cmd) {
    g_verb = "gnf fit";
    const char *input = NULL, *output = NULL, *task = NULL, *preset = NULL;
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    long params = 0, steps = -1;
    double seconds = 0;
    int half = 0, quiet = 0, crop_w = 0, crop_h = 0, levels = 0, nres = 0, nfeat = 0;
    int res[GNF_MAX_LEVELS], feat[GNF_MAX_LEVELS];
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    int k_set = 0, enc_set = 0, lr_set = 0, lr1_set = 0, batch_set = 0, eps_set = 0;
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    double target_iou = 0;
    int downscale = 1;
    args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *s = argv[a.i], *v = NULL;
        long lv;
        double dv;
        int r;
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) { fputs(FIT_HELP, stdout); return 0; }
        else if (strcmp(s, "--half") == 0) half = 1;
        else if (strcmp(s, "--quiet") == 0) quiet = 1;
        else if ((r = opt_val(&a, "-o", &v)) || (r = opt_val(&a, "--output", &v))) { NEED(r, s); output = v; }
        else if ((r = opt_val(&a, "--task", &v))) { NEED(r, s); task = v; }
        else if ((r = opt_val(&a, "--preset", &v))) { NEED(r, s); preset = v; }
        else if ((r = opt_val(&a, "--steps", &v))) { NEED(r, s); if (!parse_long(v, 1, 100000000, &steps)) return usage_error("--steps needs an integer >= 1, got '%s'", v); }
        else if ((r = opt_val(&a, "--seconds", &v))) { NEED(r, s); if (!parse_double(v, 1e-3, 1e7, &seconds)) return usage_error("--seconds needs a positive number, got '%s'", v); }
        else if ((r = opt_val(&a, "--target-psnr", &v))) { NEED(r, s); if (!parse_double(v, 1, 200, &dv)) return usage_error("--target-psnr needs a number of dB, got '%s'", v); tc.target_psnr = dv; }
        else if ((r = opt_val(&a, "--params", &v))) { NEED(r, s); if (!parse_long(v, 1000, 1000000000, &params)) return usage_error("--params needs an integer >= 1000, got '%s'", v); }
        else if ((r = opt_val(&a, "--levels", &v))) { NEED(r, s); if (!parse_long(v, 1, GNF_MAX_LEVELS, &lv)) return usage_error("--levels needs 1..%d", GNF_MAX_LEVELS); levels = (int)lv; }
        else if ((r = opt_val(&a, "--res", &v)) || (r = opt_val(&a, "--feat", &v))) {
            NEED(r, s);
            int is_res = strncmp(s, "--res", 5) == 0, n = 0;
            int *dst = is_res ? res : feat;
            char buf[512];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                if (n >= GNF_MAX_LEVELS || !parse_long(tok, 1, 16384, &lv)) return usage_error("%s needs a comma list of up to %d integers, got '%s'", is_res ? "--res" : "--feat", GNF_MAX_LEVELS, v);
                dst[n++] = (int)lv;
            }
            if (is_res) nres = n; else nfeat = n;
        }
        else if ((r = opt_val(&a, "--decoder", &v))) { NEED(r, s); if (!strcmp(v, "rbf")) cfg.decoder = GNF_DEC_RBF; else if (!strcmp(v, "mlp")) cfg.decoder = GNF_DEC_MLP; else return usage_error("--decoder is rbf or mlp, got '%s'", v); }
        else if ((r = opt_val(&a, "--basis", &v))) { NEED(r, s); if (!strcmp(v, "gaussian")) cfg.basis = GNF_BASIS_GAUSSIAN; else if (!strcmp(v, "imq")) cfg.basis = GNF_BASIS_IMQ; else if (!strcmp(v, "mq")) cfg.basis = GNF_BASIS_MQ; else return usage_error("--basis is gaussian, imq or mq, got '%s'", v); }
        else if ((r = opt_val(&a, "--rbf-k", &v))) { NEED(r, s); if (!parse_long(v, 1, 4096, &lv)) return usage_error("--rbf-k needs 1..4096"); cfg.rbf_k = (int)lv; k_set = 1; }
        else if ((r = opt_val(&a, "--mlp-hidden", &v))) { NEED(r, s); if (!parse_long(v, 1, 512, &lv)) return usage_error("--mlp-hidden needs 1..512"); cfg.mlp_hidden = (int)lv; }
        else if ((r = opt_val(&a, "--mlp-layers", &v))) { NEED(r, s); if (!parse_long(v, 1, GNF_MAX_MLP_LAYERS - 1, &lv)) return usage_error("--mlp-layers needs 1..%d", GNF_MAX_MLP_LAYERS - 1); cfg.mlp_layers = (int)lv; }
        else if ((r = opt_val(&a, "--batch", &v))) { NEED(r, s); if (!parse_long(v, 1, 1L << 26, &tc.batch)) return usage_error("--batch needs 1..67108864"); batch_set = 1; }
        else if ((r = opt_val(&a, "--lr", &v))) { NEED(r, s); if (!parse_double(v, 1e-8, 10, &dv)) return usage_error("--lr needs a positive number"); tc.lr0 = (float)dv; lr_set = 1; }
        else if ((r = opt_val(&a, "--lr-end", &v))) { NEED(r, s); if (!parse_double(v, 1e-10, 10, &dv)) return usage_error("--lr-end needs a positive number"); tc.lr1 = (float)dv; lr1_set = 1; }
        else if ((r = opt_val(&a, "--adam-eps", &v))) { NEED(r, s); if (!parse_double(v, 1e-30, 1, &dv)) return usage_error("--adam-eps needs a positive number"); tc.adam_eps = (float)dv; eps_set = 1; }
        else if ((r = opt_val(&a, "--loss", &v))) { NEED(r, s); if (!strcmp(v, "l1")) tc.loss = GNF_LOSS_L1; else if (!strcmp(v, "l2")) tc.loss = GNF_LOSS_L2; else return usage_error("--loss is l1 or l2, got '%s'", v); }
        else if ((r = opt_val(&a, "--seed", &v))) { NEED(r, s); if (!parse_long(v, 0, 2147483647, &lv)) return usage_error("--seed needs a non-negative integer"); tc.seed = (uint64_t)lv; cfg.seed = (uint64_t)lv; }
        else if ((r = opt_val(&a, "--crop", &v))) { NEED(r, s); if (!parse_size(v, &crop_w, &crop_h)) return usage_error("--crop needs WxH, got '%s'", v); }
        else if ((r = opt_val(&a, "--downscale", &v))) { NEED(r, s); if (!parse_long(v, 1, 64, &lv)) return usage_error("--downscale needs 1..64"); downscale = (int)lv; }
        else if ((r = opt_val(&a, "--samples", &v))) { NEED(r, s); if (!parse_long(v, 1024, 1L << 28, &sc.samples)) return usage_error("--samples needs 1024..268435456"); }
        else if ((r = opt_val(&a, "--sampling", &v))) { NEED(r, s); if (!strcmp(v, "ngp")) sc.mix = GNF_SDF_SAMPLES_NGP; else if (!strcmp(v, "gnf")) sc.mix = GNF_SDF_SAMPLES_GNF; else return usage_error("--sampling is ngp or gnf, got '%s'", v); }
        else if ((r = opt_val(&a, "--uniform", &v))) { NEED(r, s); if (!parse_double(v, 0.001, 1, &dv)) return usage_error("--uniform needs a fraction in (0,1]"); sc.uniform_frac = (float)dv; }
        else if ((r = opt_val(&a, "--sigma", &v))) { NEED(r, s); if (!parse_double(v, 1e-5, 1, &dv)) return usage_error("--sigma needs a positive number"); sc.sigma = (float)dv; }
        else if ((r = opt_val(&a, "--sign", &v))) { NEED(r, s); if (!strcmp(v, "auto")) sc.sign = GNF_SIGN_AUTO; else if (!strcmp(v, "winding")) sc.sign = GNF_SIGN_WINDING; else if (!strcmp(v, "parity")) sc.sign = GNF_SIGN_PARITY; else return usage_error("--sign is auto, winding or parity, got '%s'", v); }
        else if ((r = opt_val(&a, "--target-iou", &v))) { NEED(r, s); if (!parse_double(v, 1e-6, 1, &target_iou)) return usage_error("--target-iou needs a number in (0,1], got '%s'", v); }
        else if ((r = opt_val(&a, "--hash-log2", &v))) { NEED(r, s); if (!parse_long(v, 4, 26, &lv)) return usage_error("--hash-log2 needs 4..26"); cfg.hash_log2 = (int)lv; }
        else if ((r = opt_val(&a, "--encoding", &v))) { NEED(r, s); if (!strcmp(v, "dense")) cfg.encoding = GNF_ENC_DENSE; else if (!strcmp(v, "hash")) cfg.encoding = GNF_ENC_HASH; else return usage_error("--encoding is dense or hash, got '%s'", v); enc_set = 1; }
        else if ((r = opt_val(&a, "--eval-every", &v))) { NEED(r, s); if (!parse_long(v, 1, 1000000, &tc.eval_every)) return usage_error("--eval-every needs an integer >= 1"); }
        else if ((r = opt_val(&a, "--threads", &v))) { NEED(r, s); if (!parse_long(v, 1, 256, &lv)) return usage_error("--threads needs 1..256"); tc.threads = (int)lv; }
        else if (s[0] == '-' && s[1]) return usage_error("unknown option '%s'", s);
        else if (!input) input = s;
        else return usage_error("unexpected argument '%s'", s);
    }
    if (!input) return usage_error("missing INPUT");
    double ppp = 2.0;
    long preset_steps = 5000;
    if (preset) {
        if (!strcmp(preset, "fast")) { ppp = 0.5; preset_steps = 1000; }
        else if (!strcmp(preset, "default")) { ppp = 2.0; preset_steps = 5000; }
        else if (!strcmp(preset, "quality")) { ppp = 4.0; preset_steps = 15000; }
        else return usage_error("--preset is fast, default or quality, got '%s'", preset);
    }
    if (levels && (nres != levels || nfeat != levels)) return usage_error("--levels %d needs --res and --feat with %d values each", levels, levels);
    if (!levels && (nres || nfeat)) return usage_error("--res and --feat need --levels");
    int is_sdf = 0, is_nerf = 0;
    if (task) {
        if (!strcmp(task, "sdf")) is_sdf = 1;
        else if (!strcmp(task, "nerf")) is_nerf = 1;
        else if (strcmp(task, "image") != 0) return usage_error("--task is image, sdf or nerf, got '%s'", task);
    } else {
        is_sdf = has_mesh_ext(input);
        is_nerf = is_nerf_input(input);
    }
    if (is_dir(input) && !is_nerf) {
        fprintf(stderr, "gnf fit: error: %s: a folder, but the task is not nerf\n", input);
        return EXIT_RUNTIME;
    }
    if (is_nerf) {
        if (crop_w || target_iou > 0 || levels) return usage_error("--crop, --target-iou and explicit grids are not for radiance fields");
        tc.steps = steps > 0 ? steps : 0;
        tc.seconds = seconds;
        tc.start_time = t_cmd;
        if (steps <= 0 && seconds <= 0) {
            tc.seconds = 300;
            if (preset && !strcmp(preset, "fast")) tc.seconds = 60;
            if (preset && !strcmp(preset, "quality")) tc.seconds = 1800;
        }
        gnf_train_config nt;
        gnf_nerf_train_config_default(&nt);
        if (!lr_set) tc.lr0 = nt.lr0;
        if (!lr1_set) tc.lr1 = lr_set ? tc.lr0 / 10 : nt.lr1;
        if (!eps_set) tc.adam_eps = nt.adam_eps;
        tc.adam_b2 = nt.adam_b2;
        if (!tc.eval_every) tc.eval_every = nt.eval_every;
        if (cfg.decoder != GNF_DEC_RBF) return usage_error("radiance fields use the RBF decoder");
        fit_nerf_opts o = {input, output, half, quiet, downscale, enc_set && cfg.encoding == GNF_ENC_DENSE,
                           params, batch_set ? tc.batch : 0, k_set ? cfg.rbf_k : 0};
        return fit_nerf(&o, &tc, t_cmd);
    }
    if (downscale != 1) return usage_error("--downscale is for radiance fields");
    /* stopping rules */
    tc.steps = steps > 0 ? steps : (seconds > 0 ? 0 : preset_steps);
    tc.seconds = seconds;
    tc.start_time = t_cmd;
    if (is_sdf) {
        if (crop_w) return usage_error("--crop is for images");
        if (!enc_set && !levels) cfg.encoding = GNF_ENC_HASH;
        /* the GNF SDF recipe's 5e-3 -> 5e-4 measured better than 1e-2 -> 1e-3 (held-out IoU 0.967
         * vs 0.945 on Armadillo, 600 steps) */
        /* SDF presets stop by time (fast 5 s, default 15 s — the budget — quality 60 s):
         * a step count means very different times for different meshes and pool sizes */
        if (steps <= 0 && seconds <= 0) {
            double ps = 15;
            if (preset && !strcmp(preset, "fast")) ps = 5;
            if (preset && !strcmp(preset, "quality")) ps = 60;
            tc.steps = 0;
            tc.seconds = ps;
        }
        /* learning rate: 5e-3 measured best for 15 s fits, 2e-3 for 60 s (IoU 0.983 vs 0.954) */
        if (!lr_set) tc.lr0 = (tc.seconds >= 45 || tc.steps >= 3000) ? 2e-3f : 5e-3f;
        /* 16384 points per step measured best in a 15 s Armadillo budget (IoU 0.974 vs 0.912 at
         * 8192 and 0.959 at 32768) */
        if (!batch_set) tc.batch = 16384;
        /* eps 1e-8 keeps rarely-hit hash entries from taking full-size steps: same IoU in 15 s,
         * 0.954 vs 0.929 in 60 s on Armadillo */
        if (!eps_set) tc.adam_eps = 1e-8f;
        if (!lr1_set) tc.lr1 = tc.lr0 / 10;
        if (levels) {
            cfg.levels = levels;
            for (int l = 0; l < levels; l++) { cfg.res[l] = res[l]; cfg.feat[l] = feat[l]; }
        }
        sc.seed = tc.seed;
        sc.threads = tc.threads;
        fit_sdf_opts o = {input, output, half, quiet, params ? params : 1000000, levels != 0, target_iou};
        return fit_sdf(&o, &cfg, &tc, &sc, t_cmd);
    }
    if (target_iou > 0) return usage_error("--target-iou is for signed distance fields");

    gnf_image img = {0};
    int had_alpha = 0;
    if (gnf_image_load(input, &img, &had_alpha) != GNF_OK) return runtime_error();
    int src_w = img.w, src_h = img.h;
    if (had_alpha && !quiet) fprintf(stderr, "note: %s has an alpha channel; it is dropped (colour fitted as stored)\n", input);
    if (crop_w) {
        if (crop_w > img.w || crop_h > img.h) {
            fprintf(stderr, "gnf fit: error: %s: crop %dx%d is larger than the image (%dx%d)\n", input, crop_w, crop_h, img.w, img.h);
            gnf_image_free(&img);
            return EXIT_RUNTIME;
        }
        if (crop_center(&img, crop_w, crop_h) != GNF_OK) { gnf_image_free(&img); return runtime_error(); }
    }
    cfg.out_dim = img.c;
    if (levels) {
        cfg.levels = levels;
        for (int l = 0; l < levels; l++) { cfg.res[l] = res[l]; cfg.feat[l] = feat[l]; }
    } else {
        if (!params) {
            params = (long)(ppp * img.w * img.h);
            params = params < 20000 ? 20000 : params > 4000000 ? 4000000 : params;
        }
        (void)k_set;
        if (gnf_model_config_for_params(&cfg, params, img.w > img.h ? img.w : img.h) != GNF_OK) {
            gnf_image_free(&img);
            fprintf(stderr, "gnf fit: error: --params %ld: %s\n", params, gnf_last_error());
            return EXIT_RUNTIME;
        }
    }
    gnf_model *m = NULL;
    if (gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) != GNF_OK) {
        gnf_image_free(&img);
        return runtime_error();
    }
    char outbuf[4096];
    if (!output) output = default_output(input, outbuf, sizeof outbuf);
    long np = gnf_model_param_count(m);
    long fbytes = gnf_model_file_bytes(m, half);
    long mem = gnf_fit_image_memory(m, img.w, img.h, img.c, &tc);
    if (!quiet) {
        fprintf(stderr, "fitting %s (%dx%d, %d channel%s%s) -> %s\n", input, img.w, img.h, img.c, img.c > 1 ? "s" : "",
                crop_w ? ", centre crop" : "", output);
        fprintf(stderr, "model: %ld parameters, %ld bytes on disk (%s); training memory %.1f MiB; %d threads, %s kernels\n",
                np, fbytes, half ? "f16" : "f32", (double)mem / 1048576.0, tc.threads > 0 ? tc.threads : gnf_default_threads(),
                gnf_kernel_name());
        describe_model(stderr, m);
        fprintf(stderr, "stopping at:");
        print_stop_rules(&tc);
        if (tc.target_psnr > 0) fprintf(stderr, " or %.2f dB", tc.target_psnr);
        fprintf(stderr, "\n");
    }
    progress_state ps = {quiet, isatty(2), 0.1, gnf_now(), 0, 0};
    tc.progress = on_progress;
    tc.user = &ps;
    tc.progress_every = ps.tty ? 5 : 1;
    gnf_train_report rep;
    char buf[256];
    const char *base = strrchr(input, '/');
    gnf_model_set_meta(m, "gnf.source", base ? base + 1 : input);
    snprintf(buf, sizeof buf, "%dx%d", src_w, src_h);
    gnf_model_set_meta(m, "gnf.image.source_size", buf);
    if (crop_w) {
        snprintf(buf, sizeof buf, "%dx%d", crop_w, crop_h);
        gnf_model_set_meta(m, "gnf.image.crop", buf);
    }
    gnf_status st = gnf_fit_image(m, &img, &tc, &rep);
    if (ps.tty && !quiet) fprintf(stderr, "\n");
    gnf_image_free(&img);
    if (st != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    if (gnf_model_save(m, output, half) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    gnf_model_free(m);
    printf("%s: %ld parameters, %ld bytes, PSNR %.2f dB after %ld steps, %.1f s training (%.2f Mpt/s), %.1f s total, stopped by %s\n",
           output, np, file_size(output), rep.quality, rep.steps, rep.seconds, rep.points_per_s / 1e6, gnf_now() - t_cmd,
           rep.stop_reason);
    return 0;
}

/* ---- render ------------------------------------------------------------------------------ */

static const char *RENDER_HELP =
    "usage: gnf render MODEL.gnf -o OUT.png [--width W] [--height H] [--threads N]\n"
    "Renders an image model at any resolution (default: the size it was fitted at).  With only\n"
    "one of --width/--height the other keeps the aspect ratio.  Writes an 8-bit PNG.\n"
    "An SDF model gives a sphere-traced, shaded view (default 512x512) from a camera on a sphere:\n"
    "  --azimuth DEG (default 30)  --elevation DEG (20)  --distance D (3.2, object spans ~1.9)  --fov DEG (40)\n"
    "A radiance-field model renders a camera of its scene or an orbit (composited on white):\n"
    "  --scene DIR --view SPLIT:I   the I-th camera of transforms_SPLIT.json (default test:0)\n"
    "  --downscale N                with --scene: that camera at 1/N resolution\n"
    "  --orbit N -o FOLDER/         N views around the object (FOLDER/000.png ...), elevation 30 or --elevation,\n"
    "                               radius of the training cameras or --distance\n"
    "  (without --scene: one orbit view at --azimuth/--elevation; --width/--height rescale the camera)\n"
    "  --depth PATH --opacity PATH  also write expected depth (scaled to the farthest point) and opacity PNGs\n";

static int model_native_size(const gnf_model *m, int *w, int *h) {
    const char *sw = gnf_model_get_meta(m, "gnf.image.width"), *sh = gnf_model_get_meta(m, "gnf.image.height");
    long a, b;
    if (!sw || !sh || !parse_long(sw, 1, 65536, &a) || !parse_long(sh, 1, 65536, &b)) return 0;
    *w = (int)a;
    *h = (int)b;
    return 1;
}

/* ---- radiance-field rendering helpers ----------------------------------------------------- */

/* Writes a 1-channel image scaled by 1/scale (clamped) as PNG. */
static gnf_status save_scaled(const char *path, const gnf_image *img, float scale) {
    gnf_image out;
    gnf_status st = gnf_image_alloc(&out, img->w, img->h, 1);
    if (st != GNF_OK) return st;
    for (long i = 0; i < (long)img->w * img->h; i++) out.px[i] = scale > 0 ? img->px[i] / scale : 0;
    st = gnf_image_save_png(path, &out);
    gnf_image_free(&out);
    return st;
}

/* Renders one radiance-field view to out (+ optional depth/opacity PNGs); prints a line. */
static int nerf_render_one(gnf_nerf_renderer *r, const gnf_camera *cam, const char *out, const char *depth_path,
                           const char *opac_path, int print) {
    gnf_image rgb, dep, op;
    double smp = 0, t0 = gnf_now();
    if (gnf_nerf_render(r, cam, &rgb, depth_path ? &dep : NULL, opac_path ? &op : NULL, &smp) != GNF_OK) return runtime_error();
    double dt = gnf_now() - t0;
    gnf_status st = gnf_image_save_png(out, &rgb);
    if (st == GNF_OK && depth_path) {
        float mx = 0;
        for (long i = 0; i < (long)dep.w * dep.h; i++) if (dep.px[i] > mx) mx = dep.px[i];
        st = save_scaled(depth_path, &dep, mx);
    }
    if (st == GNF_OK && opac_path) st = save_scaled(opac_path, &op, 1.0f);
    gnf_image_free(&rgb);
    if (depth_path) gnf_image_free(&dep);
    if (opac_path) gnf_image_free(&op);
    if (st != GNF_OK) return runtime_error();
    if (print) printf("%s: %dx%d radiance-field view, %.1f ms (%.1f field samples per pixel)\n", out, cam->w, cam->h, dt * 1e3, smp);
    return 0;
}

typedef struct {
    const char *scene, *view, *depth, *opacity;
    long orbit, downscale;
    int has_angles;
    double az, el, dist;
} nerf_render_opts;

static int render_nerf(gnf_model *m, const char *output, long w, long h, long threads, const nerf_render_opts *o) {
    gnf_camera cam;
    float radius = 4;
    gnf_status st = GNF_OK;
    if (o->scene) {
        char split[16] = "test";
        long idx = 0;
        if (o->view) {
            const char *c = strchr(o->view, ':');
            if (!c || c - o->view >= (long)sizeof split || !parse_long(c + 1, 0, 1000000, &idx)) {
                gnf_model_free(m);
                return usage_error("--view needs SPLIT:INDEX (e.g. test:17), got '%s'", o->view);
            }
            memcpy(split, o->view, (size_t)(c - o->view));
            split[c - o->view] = 0;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/transforms_%s.json", o->scene, split);
        gnf_nerf_scene *sc = NULL;
        if (gnf_nerf_scene_load_cameras(is_dir(o->scene) ? o->scene : path, split, (int)o->downscale, &sc) != GNF_OK) {
            gnf_model_free(m);
            return runtime_error();
        }
        if (idx >= gnf_nerf_scene_count(sc)) {
            fprintf(stderr, "gnf render: error: %s has %d %s views, no view %ld\n", o->scene, gnf_nerf_scene_count(sc), split, idx);
            gnf_nerf_scene_free(sc);
            gnf_model_free(m);
            return EXIT_RUNTIME;
        }
        gnf_nerf_scene_camera(sc, (int)idx, &cam);
        gnf_nerf_scene_free(sc);
    } else {
        st = gnf_nerf_model_camera(m, &cam, &radius);
        if (st != GNF_OK) { gnf_model_free(m); return runtime_error(); }
        gnf_camera base = cam;
        gnf_nerf_orbit_camera(&base, o->has_angles ? (float)o->az : 30.0f, o->has_angles ? (float)o->el : 30.0f,
                              o->dist > 0 ? (float)o->dist : radius, &cam);
    }
    if (w || h) { /* scale the intrinsics to the requested size */
        if (w && !h) h = GNF_ROUND_ASPECT(w, cam.h, cam.w);
        else if (h && !w) w = GNF_ROUND_ASPECT(h, cam.w, cam.h);
        float sx = (float)w / cam.w, sy = (float)h / cam.h;
        cam.fx *= sx; cam.cx *= sx; cam.fy *= sy; cam.cy *= sy;
        cam.w = (int)w; cam.h = (int)h;
    }
    gnf_nerf_renderer *r = NULL;
    if (gnf_nerf_renderer_create(m, (int)threads, &r) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    int rc = 0;
    if (o->orbit > 0) {
        if (!is_dir(output) && mkdir(output, 0755) != 0) {
            fprintf(stderr, "gnf render: error: %s: cannot create the folder (%s)\n", output, strerror(errno));
            rc = EXIT_RUNTIME;
        }
        double t0 = gnf_now();
        gnf_camera base = cam;
        for (long i = 0; rc == 0 && i < o->orbit; i++) {
            char fp[4200];
            snprintf(fp, sizeof fp, "%s/%03ld.png", output, i);
            gnf_nerf_orbit_camera(&base, (float)(360.0 * i / o->orbit) + (o->has_angles ? (float)o->az : 0.0f),
                                  o->has_angles ? (float)o->el : 30.0f, o->dist > 0 ? (float)o->dist : radius, &cam);
            rc = nerf_render_one(r, &cam, fp, NULL, NULL, 0);
        }
        if (rc == 0) printf("%s: %ld orbit views of %dx%d in %.2f s (%.2f fps)\n", output, o->orbit, cam.w, cam.h, gnf_now() - t0,
                            o->orbit / (gnf_now() - t0));
    } else {
        rc = nerf_render_one(r, &cam, output, o->depth, o->opacity, 1);
    }
    gnf_nerf_renderer_free(r);
    gnf_model_free(m);
    return rc;
}

static int cmd_render(int argc, char **argv) {
    g_verb = "gnf render";
    const char *model = NULL, *output = NULL;
    long w = 0, h = 0, threads = 0;
    double az = 30, el = 20, dist = 3.2, fov = 40;
    int angles_set = 0, dist_set = 0;
    nerf_render_opts no;
    memset(&no, 0, sizeof no);
    no.downscale = 1;
    args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *s = argv[a.i], *v = NULL;
        int r;
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) { fputs(RENDER_HELP, stdout); return 0; }
        else if ((r = opt_val(&a, "-o", &v)) || (r = opt_val(&a, "--output", &v))) { NEED(r, s); output = v; }
        else if ((r = opt_val(&a, "--width", &v))) { NEED(r, s); if (!parse_long(v, 1, 65536, &w)) return usage_error("--width needs 1..65536"); }
        else if ((r = opt_val(&a, "--height", &v))) { NEED(r, s); if (!parse_long(v, 1, 65536, &h)) return usage_error("--height needs 1..65536"); }
        else if ((r = opt_val(&a, "--threads", &v))) { NEED(r, s); if (!parse_long(v, 1, 256, &threads)) return usage_error("--threads needs 1..256"); }
        else if ((r = opt_val(&a, "--azimuth", &v))) { NEED(r, s); if (!parse_double(v, -3600, 3600, &az)) return usage_error("--azimuth needs degrees"); angles_set = 1; }
        else if ((r = opt_val(&a, "--elevation", &v))) { NEED(r, s); if (!parse_double(v, -89.9, 89.9, &el)) return usage_error("--elevation needs degrees in (-90, 90)"); angles_set = 1; }
        else if ((r = opt_val(&a, "--distance", &v))) { NEED(r, s); if (!parse_double(v, 0.01, 1000, &dist)) return usage_error("--distance needs a positive number"); dist_set = 1; }
        else if ((r = opt_val(&a, "--scene", &v))) { NEED(r, s); no.scene = v; }
        else if ((r = opt_val(&a, "--view", &v))) { NEED(r, s); no.view = v; }
        else if ((r = opt_val(&a, "--depth", &v))) { NEED(r, s); no.depth = v; }
        else if ((r = opt_val(&a, "--opacity", &v))) { NEED(r, s); no.opacity = v; }
        else if ((r = opt_val(&a, "--orbit", &v))) { NEED(r, s); if (!parse_long(v, 1, 100000, &no.orbit)) return usage_error("--orbit needs a number of views >= 1"); }
        else if ((r = opt_val(&a, "--downscale", &v))) { NEED(r, s); if (!parse_long(v, 1, 64, &no.downscale)) return usage_error("--downscale needs 1..64"); }
        else if ((r = opt_val(&a, "--fov", &v))) { NEED(r, s); if (!parse_double(v, 1, 170, &fov)) return usage_error("--fov needs degrees in 1..170"); }
        else if (s[0] == '-' && s[1]) return usage_error("unknown option '%s'", s);
        else if (!model) model = s;
        else return usage_error("unexpected argument '%s'", s);
    }
    if (!model) return usage_error("missing MODEL");
    if (!output) return usage_error("missing -o OUT.png");
    gnf_model *sm = NULL;
    if (gnf_model_load(model, &sm) != GNF_OK) return runtime_error();
    if (gnf_model_get_task(sm) == GNF_TASK_NERF) {
        no.has_angles = angles_set;
        no.az = az; no.el = el; no.dist = dist_set ? dist : 0;
        return render_nerf(sm, output, w, h, threads, &no);
    }
    if (no.scene || no.view || no.depth || no.opacity || no.orbit) {
        gnf_model_free(sm);
        return usage_error("--scene, --view, --depth, --opacity and --orbit are for radiance-field models");
    }
    if (gnf_model_get_task(sm) == GNF_TASK_SDF) {
        if (!w && !h) w = h = 512;
        else if (!h) h = w;
        else if (!w) w = h;
        gnf_image img;
        double t0 = gnf_now();
        gnf_status st = gnf_sdf_render(sm, (int)w, (int)h, (float)az, (float)el, (float)dist, (float)fov, (int)threads, &img);
        double dt = gnf_now() - t0;
        gnf_model_free(sm);
        if (st != GNF_OK) return runtime_error();
        st = gnf_image_save_png(output, &img);
        gnf_image_free(&img);
        if (st != GNF_OK) return runtime_error();
        printf("%s: %ldx%ld sphere-traced view, rendered in %.3f s\n", output, w, h, dt);
        return 0;
    }
    gnf_model *m = sm;
    int nw = 0, nh = 0;
    if (!model_native_size(m, &nw, &nh)) { nw = 512; nh = 512; }
    if (w && !h) h = GNF_ROUND_ASPECT(w, nh, nw);
    else if (h && !w) w = GNF_ROUND_ASPECT(h, nw, nh);
    else if (!w && !h) { w = nw; h = nh; }
    if (w * h > (1L << 28)) { gnf_model_free(m); fprintf(stderr, "gnf render: error: %ldx%ld is too large\n", w, h); return EXIT_RUNTIME; }
    gnf_image img;
    double t0 = gnf_now();
    gnf_status st = gnf_render_image(m, (int)w, (int)h, (int)threads, &img);
    double dt = gnf_now() - t0;
    gnf_model_free(m);
    if (st != GNF_OK) return runtime_error();
    st = gnf_image_save_png(output, &img);
    gnf_image_free(&img);
    if (st != GNF_OK) return runtime_error();
    printf("%s: %ldx%ld, rendered in %.3f s (%.1f Mpixel/s)\n", output, w, h, dt, (double)w * h / dt / 1e6);
    return 0;
}

/* ---- eval -------------------------------------------------------------------------------- */

static const char *EVAL_HELP =
    "usage: gnf eval MODEL.gnf IMAGE [--json] [--crop WxH] [--threads N]\n"
    "Renders the model at IMAGE's native resolution and reports PSNR (dB) and SSIM (11x11\n"
    "Gaussian window, sigma 1.5) on the full image, parameters and model bytes.  A model fitted\n"
    "on a centre crop is compared with the same crop of IMAGE (or give --crop).\n"
    "  --json      one JSON object on stdout: psnr, ssim, params, bytes, width, height, seconds\n"
    "An SDF model is compared with a mesh (gnf eval MODEL.gnf MESH): IoU (occupancy on 2^20 points,\n"
    "half near the surface, half uniform in the normalised box), normal angular error (degrees,\n"
    "100352 surface points), Chamfer-L1 and F-score (tau 0.005) between 2^20 points on the extracted\n"
    "and on the reference mesh (point-to-surface distances, normalised frame: bounding-box diagonal\n"
    "1.9).  --mc-res R sets the marching-cubes resolution (default 512); --json gives the keys\n"
    "iou, nae_deg, chamfer_l1, fscore, params, bytes, mc_res, seconds.\n"
    "A radiance-field model is compared with a scene (gnf eval MODEL.gnf SCENE_DIR): every view of\n"
    "--split (default test) rendered at the pictures' resolution (--downscale N: 1/N), composited on\n"
    "white: mean PSNR and SSIM, views, parameters, bytes, median frame time and fps after one warm-up\n"
    "frame; --views N evaluates the first N views only, --every K every K-th view.  --json keys: psnr, ssim, views, params,\n"
    "bytes, fps, ms_per_frame, samples_per_pixel, seconds.\n";

static int cmd_eval(int argc, char **argv) {
    g_verb = "gnf eval";
    const char *model = NULL, *ref = NULL;
    int json = 0, crop_w = 0, crop_h = 0;
    long threads = 0, mc_res = 512, views = 0, downscale = 1, every = 1;
    const char *split = "test";
    args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *s = argv[a.i], *v = NULL;
        int r;
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) { fputs(EVAL_HELP, stdout); return 0; }
        else if (strcmp(s, "--json") == 0) json = 1;
        else if ((r = opt_val(&a, "--crop", &v))) { NEED(r, s); if (!parse_size(v, &crop_w, &crop_h)) return usage_error("--crop needs WxH, got '%s'", v); }
        else if ((r = opt_val(&a, "--threads", &v))) { NEED(r, s); if (!parse_long(v, 1, 256, &threads)) return usage_error("--threads needs 1..256"); }
        else if ((r = opt_val(&a, "--mc-res", &v))) { NEED(r, s); if (!parse_long(v, 16, 2048, &mc_res)) return usage_error("--mc-res needs 16..2048"); }
        else if ((r = opt_val(&a, "--split", &v))) { NEED(r, s); split = v; }
        else if ((r = opt_val(&a, "--views", &v))) { NEED(r, s); if (!parse_long(v, 1, 1000000, &views)) return usage_error("--views needs an integer >= 1"); }
        else if ((r = opt_val(&a, "--every", &v))) { NEED(r, s); if (!parse_long(v, 1, 1000000, &every)) return usage_error("--every needs an integer >= 1"); }
        else if ((r = opt_val(&a, "--downscale", &v))) { NEED(r, s); if (!parse_long(v, 1, 64, &downscale)) return usage_error("--downscale needs 1..64"); }
        else if (s[0] == '-' && s[1]) return usage_error("unknown option '%s'", s);
        else if (!model) model = s;
        else if (!ref) ref = s;
        else return usage_error("unexpected argument '%s'", s);
    }
    if (!model || !ref) return usage_error("needs MODEL and IMAGE (or MESH)");
    gnf_model *m = NULL;
    if (gnf_model_load(model, &m) != GNF_OK) return runtime_error();
    if (gnf_model_get_task(m) == GNF_TASK_NERF) {
        gnf_nerf_scene *sc = NULL;
        if (gnf_nerf_scene_load(ref, split, (int)downscale, (int)threads, &sc) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
        gnf_nerf_metrics mt;
        gnf_status st = gnf_nerf_evaluate(m, sc, (int)views, (int)every, (int)threads, &mt);
        gnf_nerf_scene_free(sc);
        long np = gnf_model_param_count(m), bytes = file_size(model);
        gnf_model_free(m);
        if (st != GNF_OK) return runtime_error();
        if (json)
            printf("{\"psnr\": %.4f, \"ssim\": %.6f, \"views\": %d, \"params\": %ld, \"bytes\": %ld, \"fps\": %.3f, "
                   "\"ms_per_frame\": %.2f, \"samples_per_pixel\": %.2f, \"split\": \"%s\", \"downscale\": %ld, \"every\": %ld, \"seconds\": %.2f}\n",
                   mt.psnr, mt.ssim, mt.views, np, bytes, mt.fps, mt.ms_per_frame, mt.samples_per_pixel, split, downscale, every, mt.seconds);
        else
            printf("%s vs %s (%s split, %d views): PSNR %.2f dB, SSIM %.4f, %ld parameters, %ld bytes, %.1f ms per frame "
                   "(%.2f fps, %.1f field samples per pixel), %.1f s\n", model, ref, split, mt.views, mt.psnr, mt.ssim, np, bytes,
                   mt.ms_per_frame, mt.fps, mt.samples_per_pixel, mt.seconds);
        return 0;
    }
    if (gnf_model_get_task(m) == GNF_TASK_SDF) {
        gnf_sdf_config sc;
        gnf_sdf_config_default(&sc);
        sc.samples = 1024; /* evaluation draws its own points */
        sc.threads = (int)threads;
        gnf_sdf_target *t = NULL;
        if (gnf_sdf_target_create(ref, &sc, &t) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
        gnf_sdf_metrics mt;
        gnf_status st = gnf_sdf_evaluate(m, t, (int)mc_res, (int)threads, &mt);
        gnf_sdf_target_free(t);
        long np = gnf_model_param_count(m), bytes = file_size(model);
        gnf_model_free(m);
        if (st != GNF_OK) return runtime_error();
        if (json)
            printf("{\"iou\": %.6f, \"iou_uniform\": %.6f, \"nae_deg\": %.4f, \"chamfer_l1\": %.7f, \"fscore\": %.6f, \"params\": %ld, \"bytes\": %ld, "
                   "\"mc_res\": %d, \"iou_points\": %ld, \"nae_points\": %ld, \"chamfer_points\": %ld, \"seconds\": %.3f}\n",
                   mt.iou, mt.iou_uniform, mt.nae_deg, mt.chamfer_l1, mt.fscore, np, bytes, mt.mc_res, mt.iou_points, mt.nae_points,
                   mt.chamfer_points, mt.seconds);
        else
            printf("%s vs %s: IoU %.5f (uniform points alone %.5f), NAE %.2f deg, Chamfer-L1 %.6f, F-score %.4f (tau 0.005), "
                   "%ld parameters, %ld bytes (marching cubes %d^3, %.1f s)\n", model, ref, mt.iou, mt.iou_uniform, mt.nae_deg, mt.chamfer_l1, mt.fscore, np, bytes, mt.mc_res, mt.seconds);
        return 0;
    }
    gnf_image img = {0};
    if (gnf_image_load(ref, &img, NULL) != GNF_OK) { gnf_model_free(m); return runtime_error(); }
    const char *mc = gnf_model_get_meta(m, "gnf.image.crop");
    if (!crop_w && mc) {
        if (!parse_size(mc, &crop_w, &crop_h)) crop_w = crop_h = 0;
        else if (!json) fprintf(stderr, "note: the model was fitted on the centre %s crop; comparing with that crop of %s\n", mc, ref);
    }
    if (crop_w) {
        if (crop_w > img.w || crop_h > img.h || crop_center(&img, crop_w, crop_h) != GNF_OK) {
            fprintf(stderr, "gnf eval: error: %s: cannot take a %dx%d crop of a %dx%d image\n", ref, crop_w, crop_h, img.w, img.h);
            gnf_image_free(&img);
            gnf_model_free(m);
            return EXIT_RUNTIME;
        }
    }
    if (gnf_model_get_config(m)->out_dim != img.c) {
        fprintf(stderr, "gnf eval: error: %s has %d channel(s) but %s predicts %d\n", ref, img.c, model, gnf_model_get_config(m)->out_dim);
        gnf_image_free(&img);
        gnf_model_free(m);
        return EXIT_RUNTIME;
    }
    gnf_image out;
    double t0 = gnf_now();
    gnf_status st = gnf_render_image(m, img.w, img.h, (int)threads, &out);
    double dt = gnf_now() - t0;
    if (st != GNF_OK) { gnf_image_free(&img); gnf_model_free(m); return runtime_error(); }
    double psnr = gnf_psnr(out.px, img.px, (long)img.w * img.h * img.c);
    double ssim = gnf_ssim(&out, &img);
    long np = gnf_model_param_count(m), bytes = file_size(model);
    if (json)
        printf("{\"psnr\": %.4f, \"ssim\": %.6f, \"params\": %ld, \"bytes\": %ld, \"width\": %d, \"height\": %d, \"seconds\": %.4f}\n",
               isfinite(psnr) ? psnr : 999.0, ssim, np, bytes, img.w, img.h, dt);
    else
        printf("%s vs %s (%dx%d): PSNR %.2f dB, SSIM %.4f, %ld parameters, %ld bytes, rendered in %.3f s\n", model, ref, img.w,
               img.h, psnr, ssim, np, bytes, dt);
    gnf_image_free(&out);
    gnf_image_free(&img);
    gnf_model_free(m);
    return 0;
}

/* ---- info -------------------------------------------------------------------------------- */

static int cmd_info(int argc, char **argv) {
    g_verb = "gnf info";
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs("usage: gnf info MODEL.gnf\nShows the task, encoding, decoder, sizes and training settings stored in a model file.\n", stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) return usage_error("unknown option '%s'", argv[i]);
        if (model) return usage_error("unexpected argument '%s'", argv[i]);
        model = argv[i];
    }
    if (!model) return usage_error("missing MODEL");
    gnf_model *m = NULL;
    if (gnf_model_load(model, &m) != GNF_OK) return runtime_error();
    long bytes = file_size(model);
    const char *dtype = bytes == gnf_model_file_bytes(m, 1) ? "f16" : "f32";
    printf("file: %s (%ld bytes, %s)\n", model, bytes, dtype);
    if (gnf_model_get_task(m) == GNF_TASK_SDF)
        printf("task: sdf (signed distance; normalisation: centre %s, scale %s)\n",
               gnf_model_get_meta(m, "gnf.sdf.center") ? gnf_model_get_meta(m, "gnf.sdf.center") : "0,0,0",
               gnf_model_get_meta(m, "gnf.sdf.scale") ? gnf_model_get_meta(m, "gnf.sdf.scale") : "1");
    else if (gnf_model_get_task(m) == GNF_TASK_NERF)
        printf("task: nerf (radiance field; scene box half-size %s)\n",
               gnf_model_get_meta(m, "gnf.nerf.box") ? gnf_model_get_meta(m, "gnf.nerf.box") : "1.5");
    else
        printf("task: image (%d channel%s)\n", gnf_model_get_config(m)->out_dim, gnf_model_get_config(m)->out_dim > 1 ? "s" : "");
    describe_model(stdout, m);
    printf("parameters: %ld\n", gnf_model_param_count(m));
    const char *k, *v;
    printf("metadata:\n");
    for (int i = 0; gnf_model_meta_at(m, i, &k, &v); i++) {
        if (strlen(v) > 200) printf("  %s = (%zu characters)\n", k, strlen(v));
        else printf("  %s = %s\n", k, v);
    }
    gnf_model_free(m);
    return 0;
}

/* ---- mesh -------------------------------------------------------------------------------- */

static int cmd_mesh(int argc, char **argv) {
    g_verb = "gnf mesh";
    const char *model = NULL, *output = NULL;
    long res = 512, threads = 0;
    int res_set = 0;
    double iso = 0;
    args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *s = argv[a.i], *v = NULL;
        int r;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fputs("(radiance-field models: the surface where density = --iso D, default 10, over the scene box;\n"
                  " default --res 256)\n", stdout);
            fputs("usage: gnf mesh MODEL.gnf -o OUT.ply|OUT.obj [--res R] [--threads N]\n"
                  "Extracts the zero level set of an SDF model by marching cubes on an R^3 grid over the normalised\n"
                  "box (default R 512; memory grows with R^2, so 1024 works): welded, indexed, outward-oriented\n"
                  "triangles in the mesh's own coordinates.  PLY (binary) or OBJ by extension.\n", stdout);
            return 0;
        }
        else if ((r = opt_val(&a, "-o", &v)) || (r = opt_val(&a, "--output", &v))) { NEED(r, s); output = v; }
        else if ((r = opt_val(&a, "--res", &v))) { NEED(r, s); if (!parse_long(v, 2, 4096, &res)) return usage_error("--res needs 2..4096"); res_set = 1; }
        else if ((r = opt_val(&a, "--iso", &v))) { NEED(r, s); if (!parse_double(v, 1e-6, 1e9, &iso)) return usage_error("--iso needs a positive density"); }
        else if ((r = opt_val(&a, "--threads", &v))) { NEED(r, s); if (!parse_long(v, 1, 256, &threads)) return usage_error("--threads needs 1..256"); }
        else if (s[0] == '-' && s[1]) return usage_error("unknown option '%s'", s);
        else if (!model) model = s;
        else return usage_error("unexpected argument '%s'", s);
    }
    if (!model) return usage_error("missing MODEL");
    if (!output) return usage_error("missing -o OUT.ply");
    const char *dot = strrchr(output, '.');
    if (!dot || (strcmp(dot, ".ply") && strcmp(dot, ".obj"))) return usage_error("-o must end in .ply or .obj");
    gnf_model *m = NULL;
    if (gnf_model_load(model, &m) != GNF_OK) return runtime_error();
    if (gnf_model_get_task(m) == GNF_TASK_NERF) {
        if (!res_set) res = 256;
        long nv = 0, nf = 0;
        double t0 = gnf_now();
        gnf_status st = gnf_nerf_extract_mesh(m, (int)res, iso > 0 ? (float)iso : 10.0f, output, (int)threads, &nv, &nf);
        gnf_model_free(m);
        if (st != GNF_OK) return runtime_error();
        printf("%s: %ld vertices, %ld triangles at density %g, marching cubes %ld^3 in %.2f s\n", output, nv, nf, iso > 0 ? iso : 10.0, res, gnf_now() - t0);
        return 0;
    }
    if (iso > 0) { gnf_model_free(m); return usage_error("--iso is for radiance-field models"); }
    if (gnf_model_get_task(m) != GNF_TASK_SDF) {
        gnf_model_free(m);
        fprintf(stderr, "gnf mesh: error: %s is not a signed distance field or radiance field model\n", model);
        return EXIT_RUNTIME;
    }
    long nv = 0, nf = 0;
    double t0 = gnf_now();
    gnf_status st = gnf_sdf_extract_mesh(m, (int)res, output, (int)threads, &nv, &nf);
    gnf_model_free(m);
    if (st != GNF_OK) return runtime_error();
    printf("%s: %ld vertices, %ld triangles, marching cubes %ld^3 in %.2f s\n", output, nv, nf, res, gnf_now() - t0);
    return 0;
}

/* ---- query ------------------------------------------------------------------------------- */

/* Reads text points: three numbers per line, '#' comments and blank lines skipped. */
static int read_text_points(const char *path, float **pts, long *n) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "gnf query: error: %s: %s\n", path, strerror(errno)); return 0; }
    long cap = 1024, cnt = 0, line = 0;
    float *p = malloc(sizeof(float) * 3 * (size_t)cap);
    char buf[1024];
    int ok = p != NULL;
    while (ok && fgets(buf, sizeof buf, f)) {
        line++;
        char *s = buf;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || *s == '\r' || !*s) continue;
        float v[3];
        for (int k = 0; k < 3 && ok; k++) {
            char *e;
            errno = 0;
            double d = strtod(s, &e);
            if (e == s || errno || !isfinite(d)) {
                fprintf(stderr, "gnf query: error: %s:%ld: expected three numbers per line\n", path, line);
                ok = 0;
            }
            v[k] = (float)d;
            s = e;
            while (*s == ' ' || *s == '\t' || *s == ',') s++;
        }
        if (ok && *s && *s != '\n' && *s != '\r' && *s != '#') {
            fprintf(stderr, "gnf query: error: %s:%ld: expected three numbers per line\n", path, line);
            ok = 0;
        }
        if (!ok) break;
        if (cnt == cap) {
            cap *= 2;
            float *np = realloc(p, sizeof(float) * 3 * (size_t)cap);
            if (!np) { ok = 0; fprintf(stderr, "gnf query: error: out of memory\n"); break; }
            p = np;
        }
        memcpy(p + 3 * cnt++, v, sizeof v);
    }
    fclose(f);
    if (!ok) { free(p); return 0; }
    *pts = p;
    *n = cnt;
    return 1;
}

static int cmd_query(int argc, char **argv) {
    g_verb = "gnf query";
    const char *model = NULL, *input = NULL, *output = NULL;
    int binary = 0;
    long threads = 0;
    args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *s = argv[a.i], *v = NULL;
        int r;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fputs("usage: gnf query MODEL.gnf POINTS.txt            (prints: d gx gy gz per point)\n"
                  "       gnf query MODEL.gnf POINTS.f32 --binary -o OUT.f32\n"
                  "Signed distance and its gradient at points in the mesh's own coordinates.  Text input: three\n"
                  "numbers per line (x y z; '#' comments).  Binary: little-endian float32 x,y,z triples in, float32\n"
                  "d,gx,gy,gz quadruples out.\n", stdout);
            return 0;
        }
        else if (!strcmp(s, "--binary")) binary = 1;
        else if ((r = opt_val(&a, "-o", &v)) || (r = opt_val(&a, "--output", &v))) { NEED(r, s); output = v; }
        else if ((r = opt_val(&a, "--threads", &v))) { NEED(r, s); if (!parse_long(v, 1, 256, &threads)) return usage_error("--threads needs 1..256"); }
        else if (s[0] == '-' && s[1]) return usage_error("unknown option '%s'", s);
        else if (!model) model = s;
        else if (!input) input = s;
        else return usage_error("unexpected argument '%s'", s);
    }
    if (!model || !input) return usage_error("needs MODEL and POINTS");
    if (binary && !output) return usage_error("--binary needs -o OUT.f32");
    gnf_model *m = NULL;
    if (gnf_model_load(model, &m) != GNF_OK) return runtime_error();
    if (gnf_model_get_task(m) != GNF_TASK_SDF) {
        gnf_model_free(m);
        fprintf(stderr, "gnf query: error: %s is not a signed distance field model\n", model);
        return EXIT_RUNTIME;
    }
    float *pts = NULL;
    long n = 0;
    if (binary) {
        long sz = file_size(input);
        FILE *f = fopen(input, "rb");
        if (!f || sz < 0) { fprintf(stderr, "gnf query: error: %s: %s\n", input, strerror(errno)); if (f) fclose(f); gnf_model_free(m); return EXIT_RUNTIME; }
        if (sz % 12) { fprintf(stderr, "gnf query: error: %s: %ld bytes is not a whole number of float32 xyz triples\n", input, sz); fclose(f); gnf_model_free(m); return EXIT_RUNTIME; }
        n = sz / 12;
        pts = malloc((size_t)sz + 12);
        if (!pts || fread(pts, 12, (size_t)n, f) != (size_t)n) {
            fprintf(stderr, "gnf query: error: %s: read failed\n", input);
            fclose(f); free(pts); gnf_model_free(m); return EXIT_RUNTIME;
        }
        fclose(f);
        for (long i = 0; i < 3 * n; i++)
            if (!isfinite(pts[i])) { fprintf(stderr, "gnf query: error: %s: point %ld is not finite\n", input, i / 3); free(pts); gnf_model_free(m); return EXIT_RUNTIME; }
    } else if (!read_text_points(input, &pts, &n)) {
        gnf_model_free(m);
        return EXIT_RUNTIME;
    }
    float *out = malloc(sizeof(float) * 4 * (size_t)n + 16), *d = malloc(sizeof(float) * (size_t)n + 4), *g = malloc(sizeof(float) * 3 * (size_t)n + 12);
    if (!out || !d || !g) { free(out); free(d); free(g); free(pts); gnf_model_free(m); fprintf(stderr, "gnf query: error: out of memory\n"); return EXIT_RUNTIME; }
    gnf_status st = gnf_sdf_query(m, pts, n, d, g, (int)threads);
    gnf_model_free(m);
    int rc = 0;
    if (st != GNF_OK) rc = runtime_error();
    else if (binary) {
        for (long i = 0; i < n; i++) { out[4 * i] = d[i]; out[4 * i + 1] = g[3 * i]; out[4 * i + 2] = g[3 * i + 1]; out[4 * i + 3] = g[3 * i + 2]; }
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp%ld", output, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (!f || fwrite(out, 16, (size_t)n, f) != (size_t)n || fclose(f) != 0 || rename(tmp, output) != 0) {
            fprintf(stderr, "gnf query: error: %s: cannot write\n", output);
            remove(tmp);
            rc = EXIT_RUNTIME;
        }
    } else {
        for (long i = 0; i < n; i++) printf("%.7g %.6f %.6f %.6f\n", d[i], g[3 * i], g[3 * i + 1], g[3 * i + 2]);
    }
    free(out); free(d); free(g); free(pts);
    return rc;
}

static const char *MAIN_HELP =
    "gnf " GNF_VERSION_STRING " — Gaussian Neural Fields on the CPU\n"
    "usage: gnf <verb> [options]     (gnf <verb> --help for each verb's options and defaults)\n"
    "  fit     fit a field to an image          gnf fit photo.png -o photo.gnf\n"
    "  render  render a model at any size       gnf render photo.gnf -o out.png --width 1920\n"
    "  eval    PSNR/SSIM against the source     gnf eval photo.gnf photo.png [--json]\n"
    "  info    what a model file holds          gnf info photo.gnf\n"
    "  fit     a mesh's signed distance field   gnf fit shape.obj -o shape.gnf --seconds 15\n"
    "  mesh    marching cubes of an SDF model   gnf mesh shape.gnf -o shape.ply --res 512\n"
    "  query   distance + gradient at points    gnf query shape.gnf points.txt\n"
    "  eval    IoU/NAE/Chamfer/F-score vs mesh  gnf eval shape.gnf shape.obj --json\n"
    "  render  sphere-traced view of an SDF     gnf render shape.gnf -o view.png --azimuth 45\n"
    "Environment: GNF_THREADS (worker threads), GNF_SCALAR=1 (force the scalar kernels).\n"
    "Exit codes: 0 success, 1 runtime failure, 2 usage error.\n";

int main(int argc, char **argv) {
    double t0 = gnf_now();
    if (argc < 2) { fputs(MAIN_HELP, stderr); return EXIT_USAGE; }
    const char *verb = argv[1];
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help") || !strcmp(verb, "help")) { fputs(MAIN_HELP, stdout); return 0; }
    if (!strcmp(verb, "--version") || !strcmp(verb, "version")) { printf("gnf %s (%s kernels)\n", GNF_VERSION_STRING, gnf_kernel_name()); return 0; }
    if (!strcmp(verb, "fit")) return cmd_fit(argc - 1, argv + 1, t0);
    if (!strcmp(verb, "render")) return cmd_render(argc - 1, argv + 1);
    if (!strcmp(verb, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(verb, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(verb, "mesh")) return cmd_mesh(argc - 1, argv + 1);
    if (!strcmp(verb, "query")) return cmd_query(argc - 1, argv + 1);
    fprintf(stderr, "gnf: unknown verb '%s' (see 'gnf --help')\n", verb);
    return EXIT_USAGE;
}
