/* options.c — the one option table: name, argument kind, range, default shown in help, help
 * text, verbs and tasks.  It drives parsing, range checks, the per-task check and --help. */
#include "cli.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_FLAG, K_INT, K_NUM, K_STR, K_CHOICE, K_SIZE, K_LIST } kind;
typedef struct {
    const char *name, *arg; /* arg: the value's name in help; K_CHOICE: "a|b|c" */
    kind k;
    double lo, hi;          /* K_INT, K_NUM and K_LIST elements: inclusive range */
    int verbs, tasks;
    const char *dflt;       /* default shown in help (NULL: none); parsed as the value if it parses */
    const char *help;       /* '\n' continues on an indented line */
    const char *section;    /* fit: heading printed before this row */
} row;

#define FI V_FIT
#define ALL_VERBS (V_FIT | V_RENDER | V_EVAL | V_MESH | V_QUERY)
static const row ROWS[O_COUNT] = {
    [O_OUTPUT] = {"--output", "PATH", K_STR, 0, 0, V_FIT | V_RENDER | V_MESH | V_QUERY, T_ALL, NULL,
                  "output file (fit: default INPUT's name with .gnf, in the current folder)", "Output"},
    [O_HALF] = {"--half", NULL, K_FLAG, 0, 0, FI, T_ALL, NULL, "store parameters as f16 (half the file)", NULL},
    [O_TASK] = {"--task", "image|sdf|nerf", K_CHOICE, 0, 0, FI, T_ALL, "from the input", "force the task", NULL},
    [O_STEPS] = {"--steps", "N", K_INT, 1, 1e8, FI, T_ALL, "the preset's: images 5000; sdf and radiance fields stop by time", "training steps",
                 "Stopping rules (whichever comes first; with neither --steps nor --seconds, the preset's)"},
    [O_SECONDS] = {"--seconds", "S", K_NUM, 1e-3, 1e7, FI, T_ALL, "the preset's: sdf 15, radiance fields 300",
                   "wall-clock budget for the whole command, loading included", NULL},
    [O_TARGET_PSNR] = {"--target-psnr", "DB", K_NUM, 1, 200, FI, T_IMAGE | T_NERF, NULL,
                       "stop once the PSNR reaches DB (images: the full image; radiance fields: the mean\n"
                       "of 4 test views, ~2500 pixels each on a grid), checked every --eval-every steps", NULL},
    [O_TARGET_IOU] = {"--target-iou", "X", K_NUM, 1e-6, 1, FI, T_SDF, NULL, "sdf: stop once the IoU on 131072 held-out points reaches X", NULL},
    [O_PARAMS] = {"--params", "N", K_INT, 1000, 1e9, FI, T_ALL, "images 2 per pixel, at least 20000, at most 4000000; sdf 1000000; radiance fields 2100000",
                  "size the grids so the model has at most N parameters", "Model size"},
    [O_PRESET] = {"--preset", "fast|default|quality", K_CHOICE, 0, 0, FI, T_ALL, "default",
                  "images: params per pixel 0.5 | 2 | 4, steps 1000 | 5000 | 15000;\nsdf: 5 | 15 | 60 seconds; radiance fields: 60 | 300 | 1800 seconds", NULL},
    [O_ENCODING] = {"--encoding", "dense|hash", K_CHOICE, 0, 0, FI, T_ALL, "dense for images and explicit grids, hash for sdf and radiance fields", "grid encoding", NULL},
    [O_HASH_LOG2] = {"--hash-log2", "T", K_INT, 4, 26, FI, T_ALL, "the largest that fits --params",
                     "hash table size 2^T per level (with --params: the finest levels that do\nnot fit are dropped)", NULL},
    [O_LEVELS] = {"--levels", "L", K_INT, 1, GNF_MAX_LEVELS, FI, T_IMAGE | T_SDF, NULL, "explicit grid of L levels (overrides --params), with --res and --feat", NULL},
    [O_RES] = {"--res", "R0,R1,..", K_LIST, 1, 16384, FI, T_IMAGE | T_SDF, NULL, "nodes per axis of each level", NULL},
    [O_FEAT] = {"--feat", "F0,F1,..", K_LIST, 1, 16384, FI, T_IMAGE | T_SDF, NULL, "features per node of each level", NULL},
    [O_DECODER] = {"--decoder", "rbf|mlp", K_CHOICE, 0, 0, FI, T_ALL, "rbf, the GNF decoder; radiance fields: rbf only", "decoder", NULL},
    [O_BASIS] = {"--basis", "gaussian|imq|mq", K_CHOICE, 0, 0, FI, T_ALL, "gaussian", "radial basis of the RBF neurons", NULL},
    [O_RBF_K] = {"--rbf-k", "K", K_INT, 1, 4096, FI, T_ALL, "64; radiance fields 32", "RBF neurons", NULL},
    [O_MLP_HIDDEN] = {"--mlp-hidden", "H", K_INT, 1, 512, FI, T_IMAGE | T_SDF, "64", "MLP decoder width", NULL},
    [O_MLP_LAYERS] = {"--mlp-layers", "N", K_INT, 1, GNF_MAX_MLP_LAYERS - 1, FI, T_IMAGE | T_SDF, "2", "MLP decoder hidden layers", NULL},
    [O_BATCH] = {"--batch", "N", K_INT, 1, 1L << 26, FI, T_ALL, "images 8192, sdf 16384, radiance fields 65536",
                 "points per step (radiance fields: samples per step; rays follow)", "Training"},
    [O_LR] = {"--lr", "A", K_NUM, 1e-8, 1e9, FI, T_ALL,
              "images 0.01; sdf 0.005 (with Adam beta2 0.999); radiance fields 0.03",
              "Adam learning rate, decayed exponentially to --lr-end", NULL},
    [O_LR_END] = {"--lr-end", "B", K_NUM, 1e-10, 1e9, FI, T_ALL, "images 0.001; sdf and radiance fields --lr / 10", "final learning rate (sdf fits of more than 3000 steps reach it\nat step 3000, then decay to a tenth of it)", NULL},
    [O_LOSS] = {"--loss", "l1|l2", K_CHOICE, 0, 0, FI, T_IMAGE | T_SDF, "l2", "sdf: l1 is the relative L1 |d'-d|/(|d|+0.01), l2 the relative L2 (d'-d)^2/(|d|+0.1)", NULL},
    [O_ADAM_EPS] = {"--adam-eps", "E", K_NUM, 1e-30, 1, FI, T_ALL, "images and radiance fields 1e-15, sdf 1e-8", "Adam epsilon", NULL},
    [O_SEED] = {"--seed", "N", K_INT, 0, 2147483647, FI, T_ALL, "1", "initialisation and sampling seed", NULL},
    [O_CROP] = {"--crop", "WxH", K_SIZE, 1, 65536, V_FIT | V_EVAL, T_IMAGE, NULL, "the centre WxH crop of the image (eval: default the model's own crop)", "Images"},
    [O_SAMPLES] = {"--samples", "N", K_INT, 1024, 1L << 28, FI, T_SDF, "2^19 for budgets up to 10 s, 2^20 up to 30 s, 2^22 up to 120 s, else 2^24; with --steps alone 2^21 up to 3000 steps, 2^22 up to 8000, else 2^24",
                   "ground-truth pool size", "Signed distance fields"},
    [O_SAMPLING] = {"--sampling", "ngp|gnf", K_CHOICE, 0, 0, FI, T_SDF, "ngp",
                    "pool mix: ngp = 4/8 surface, 3/8 near (sigma 0.01), 1/8 uniform;\ngnf = 1/8 surface, 7/8 uniform", NULL},
    [O_UNIFORM] = {"--uniform", "F", K_NUM, 0.001, 1, FI, T_SDF, NULL, "fraction of the pool uniform in the box (the rest surface:near 4:3);\noverrides --sampling", NULL},
    [O_SIGMA] = {"--sigma", "S", K_NUM, 1e-5, 1, FI, T_SDF, "0.01", "near-surface noise of the ngp mix, normalised units", NULL},
    [O_SIGN] = {"--sign", "auto|winding|parity", K_CHOICE, 0, 0, FI, T_SDF, "auto", "inside/outside: auto = ray parity if watertight, else winding number", NULL},
    [O_DOWNSCALE] = {"--downscale", "N", K_INT, 1, 64, V_FIT | V_RENDER | V_EVAL, T_NERF, "1",
                     "box-downscale the pictures by N (render: the --scene camera)", "Radiance fields"},
    [O_EVAL_EVERY] = {"--eval-every", "N", K_INT, 1, 1e6, FI, T_ALL, "25 with a target; radiance fields 250",
                      "steps between held-out quality checks (images: full-image PSNR; sdf: IoU on\n"
                      "131072 held-out points; radiance fields: PSNR of 4 test views); the targets use\n"
                      "them, and without a terminal each sdf or radiance-field check prints a line", "General"},
    [O_WIDTH] = {"--width", "W", K_INT, 1, 65536, V_RENDER, T_ALL, "images: the fitted size; sdf 512; radiance fields: the camera's",
                 "output width (with only one of --width/--height the other keeps the aspect ratio)", NULL},
    [O_HEIGHT] = {"--height", "H", K_INT, 1, 65536, V_RENDER, T_ALL, NULL, "output height", NULL},
    [O_AZIMUTH] = {"--azimuth", "DEG", K_NUM, -3600, 3600, V_RENDER, T_SDF | T_NERF, "30", "camera azimuth (orbits: of the first view)", NULL},
    [O_ELEVATION] = {"--elevation", "DEG", K_NUM, -89.9, 89.9, V_RENDER, T_SDF | T_NERF, "20", "camera elevation (radiance fields with neither angle given: 30)", NULL},
    [O_DISTANCE] = {"--distance", "D", K_NUM, 0.01, 1000, V_RENDER, T_SDF | T_NERF, "3.2",
                    "camera distance (sdf: the object spans ~1.9; radiance fields: default the\ntraining cameras' radius)", NULL},
    [O_FOV] = {"--fov", "DEG", K_NUM, 1, 170, V_RENDER, T_SDF, "40", "vertical field of view", NULL},
    [O_SCENE] = {"--scene", "DIR", K_STR, 0, 0, V_RENDER, T_NERF, NULL, "render a camera of this scene (composited on white)", NULL},
    [O_VIEW] = {"--view", "SPLIT:I", K_STR, 0, 0, V_RENDER, T_NERF, "test:0", "with --scene: the I-th camera of transforms_SPLIT.json", NULL},
    [O_ORBIT] = {"--orbit", "N", K_INT, 1, 100000, V_RENDER, T_NERF, NULL,
                 "N views around the object into the folder -o (000.png ...), at --elevation\n(default 30) and --distance", NULL},
    [O_CAM_PATH] = {"--path", "CAMS.json", K_STR, 0, 0, V_RENDER, T_NERF, NULL,
                    "render every camera of this transforms file (the scene format: transform_matrix\n"
                    "and intrinsics per frame; its pictures give the sizes) into the folder -o", NULL},
    [O_VIDEO] = {"--video", "OUT.mp4|OUT.webm", K_STR, 0, 0, V_RENDER, T_NERF, NULL,
                 "with --orbit or --path: encode the frames into a video through ffmpeg (H.264 or\n"
                 "VP9 by extension) instead of PNG files", NULL},
    [O_FPS] = {"--fps", "N", K_INT, 1, 240, V_RENDER, T_NERF, "30", "frames per second of --video", NULL},
    [O_SLICE] = {"--slice", "x|y|z=V", K_STR, 0, 0, V_RENDER, T_SDF, NULL,
                  "a colour-mapped slice of the field through the plane x, y or z = V (mesh units):\n"
                  "blue inside, orange outside, bands every 0.05 normalised units, zero contour black", NULL},
    [O_MESH_REF] = {"--mesh", "REF", K_STR, 0, 0, V_RENDER, T_SDF, NULL,
                    "with --slice: the true contour of this mesh green, pixels of the wrong sign magenta", NULL},
    [O_DEPTH] = {"--depth", "PATH", K_STR, 0, 0, V_RENDER, T_NERF, NULL, "also write the expected depth (scaled to the farthest point) as a PNG", NULL},
    [O_OPACITY] = {"--opacity", "PATH", K_STR, 0, 0, V_RENDER, T_NERF, NULL, "also write the opacity as a PNG", NULL},
    [O_JSON] = {"--json", NULL, K_FLAG, 0, 0, V_EVAL, T_ALL, NULL, "one JSON object on stdout", NULL},
    [O_EXACT] = {"--exact", NULL, K_FLAG, 0, 0, V_EVAL, T_ALL, NULL, "gnf eval --exact MESH: the mesh metrics of the mesh's own exact SDF through the same marching cubes (the protocol's floor at --mc-res)", NULL},
    [O_MC_RES] = {"--mc-res", "R", K_INT, 16, 2048, V_EVAL, T_SDF, "512", "marching-cubes resolution for Chamfer and F-score", NULL},
    [O_SPLIT] = {"--split", "NAME", K_STR, 0, 0, V_EVAL, T_NERF, "test", "the scene split to compare with", NULL},
    [O_VIEWS] = {"--views", "N", K_INT, 1, 1e6, V_EVAL, T_NERF, "all", "evaluate the first N views only", NULL},
    [O_EVERY] = {"--every", "K", K_INT, 1, 1e6, V_EVAL, T_NERF, "1", "evaluate every K-th view", NULL},
    [O_SCALE] = {"--scale", "S", K_INT, 1, 8, V_EVAL, T_NERF, "1", "render at S times the pictures' size (S = 2: 800x800 for lego_400); PSNR and SSIM\n"
                 "after averaging each pixel's S x S sub-pixels", NULL},
    [O_MRES] = {"--res", "R", K_INT, 2, 4096, V_MESH, T_SDF | T_NERF, "512", "marching cubes on an R^3 grid (radiance fields: default 256; memory grows with R^2)", NULL},
    [O_ISO] = {"--iso", "D", K_NUM, 1e-6, 1e9, V_MESH, T_NERF, "10", "radiance fields: the surface where density = D", NULL},
    [O_BINARY] = {"--binary", NULL, K_FLAG, 0, 0, V_QUERY, T_ALL, NULL, "little-endian float32 x,y,z triples in, float32 d,gx,gy,gz quadruples out (-o)", NULL},
    [O_RAW] = {"--raw", NULL, K_FLAG, 0, 0, V_QUERY, T_ALL, NULL,
               "any model: every raw output at points of the field's own input space ([-1,1]^2\n"
               "or [-1,1]^3; images read x y and ignore the third number), one line per point", NULL},
    [O_THREADS] = {"--threads", "N", K_INT, 1, 256, ALL_VERBS, T_ALL, "GNF_THREADS or all cores", "worker threads", NULL},
    [O_QUIET] = {"--quiet", NULL, K_FLAG, 0, 0, FI, T_ALL, NULL, "no progress output", NULL},
    [O_CHECKPOINT_EVERY] = {"--checkpoint-every", "S", K_NUM, 1e-3, 1e7, FI, T_ALL, NULL,
                            "every S seconds of training, write the whole training state to OUTPUT.ckpt\n"
                            "(atomically replaced; also written when interrupted; removed once the model\n"
                            "is saved)", "Interruption, resuming and resources"},
    [O_RESUME] = {"--resume", "CKPT", K_STR, 0, 0, FI, T_ALL, NULL,
                  "continue the training a checkpoint holds: input and settings come from it (only\n"
                  "-o, --threads, --quiet, --checkpoint-every and --force may be given; INPUT, if\n"
                  "given, must hold the same data); with --steps the model is bit-identical to the\n"
                  "run never interrupted", NULL},
    [O_FORCE] = {"--force", NULL, K_FLAG, 0, 0, FI, T_ALL, NULL,
                 "train even when the training memory exceeds what the machine has available", NULL},
    [O_OUT_DIR] = {"--out-dir", "DIR", K_STR, 0, 0, V_FIT_MANY, T_ALL, NULL,
                   "the folder of the models, logs/ and results.jsonl (created if missing)", NULL},
    [O_SHARD] = {"--shard", "I/N", K_STR, 0, 0, V_FIT_MANY, T_ALL, "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, else 0/1",
                 "fit only the items k with k mod N = I (0 <= I < N); a Slurm array task's ID\n"
                 "counts from SLURM_ARRAY_TASK_MIN in steps of SLURM_ARRAY_TASK_STEP", NULL},
    [O_NO_EVAL] = {"--no-eval", NULL, K_FLAG, 0, 0, V_FIT_MANY, T_ALL, NULL,
                   "do not evaluate each fitted model against its input (no metrics in results.jsonl)", NULL},
    [O_DRY_RUN] = {"--dry-run", NULL, K_FLAG, 0, 0, V_FIT_MANY, T_ALL, NULL,
                   "list this shard's items and whether each would be fitted or skipped; fit nothing", NULL},
    [O_REPORT_JSON] = {"--json", NULL, K_FLAG, 0, 0, V_REPORT, T_ALL, NULL, "the items and the summary as one JSON object on stdout", NULL},
};

static const char *TASK_NAMES[] = {"", "images", "signed distance fields", "radiance fields"};

/* Parses text s as row r's value into *v; returns 0 if it does not parse or is out of range. */
static int parse_value(const row *r, const char *s, opt_value *v) {
    char *end;
    v->s = s;
    errno = 0;
    switch (r->k) {
    case K_FLAG: case K_STR: return 1;
    case K_INT: v->i = strtol(s, &end, 10); return *s && !*end && !errno && v->i >= (long)r->lo && v->i <= (long)r->hi;
    case K_NUM: v->d = strtod(s, &end); return *s && !*end && !errno && v->d >= r->lo && v->d <= r->hi;
    case K_CHOICE: {
        long i = 0;
        size_t n = strlen(s);
        for (const char *c = r->arg; *c; i++) {
            size_t m = strcspn(c, "|");
            if (m == n && !strncmp(c, s, n)) { v->i = i; return 1; }
            c += m + (c[m] == '|');
        }
        return 0;
    }
    case K_SIZE: case K_LIST: {
        const char *sep = r->k == K_SIZE ? "x" : ",";
        v->n = 0;
        for (const char *c = s;; c++) {
            long x = strtol(c, &end, 10);
            if (end == c || errno || x < (long)r->lo || x > (long)r->hi || v->n >= GNF_MAX_LEVELS) return 0;
            v->v[v->n++] = (int)x;
            c = end;
            if (!*c) break;
            if (*c != *sep) return 0;
        }
        return r->k == K_LIST || v->n == 2;
    }
    }
    return 0;
}

static const char *expects(const row *r, char *buf, size_t n) {
    const char *what[] = {"", "an integer", "a number", "", "one of ", "WxH", "a comma list of integers"};
    snprintf(buf, n, "%s%s", what[r->k], r->k == K_CHOICE ? r->arg : "");
    if (r->k == K_INT || r->k == K_NUM || r->k == K_LIST) snprintf(buf + strlen(buf), n - strlen(buf), " in %.10g..%.10g", r->lo, r->hi);
    return buf;
}

/* Writes text from column col, continuing each '\n' on a line indented to the help column;
 * returns the column it ends at. */
static int put_indented(const char *text, int col) {
    for (const char *c = text; *c; c++, col++)
        if (*c == '\n') col = printf("\n%24s", "") - 2;
        else putchar(*c);
    return col;
}

static void print_help(int verb, const char *head, const char *foot) {
    fputs(head, stdout);
    for (int i = 0; i < O_COUNT; i++) {
        const row *r = &ROWS[i];
        if (!(r->verbs & verb)) continue;
        if (verb == V_FIT && r->section) printf("%s\n", r->section);
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s", i == O_OUTPUT ? "-o, " : i == O_OUT_DIR ? "-O, " : "", r->name, r->arg ? " " : "", r->arg ? r->arg : "");
        printf(strlen(left) > 21 ? "  %s\n%24s" : "  %-21s ", left, "");
        int col = put_indented(r->help, 24);
        if (r->dflt) put_indented(col + strlen(r->dflt) > 88 ? "\n(default: " : " (default: ", col), printf("%s)", r->dflt);
        putchar('\n');
    }
    if (foot) fputs(foot, stdout);
}

int cli_parse(cli_args *a, int verb, const char *name, int argc, char **argv, int maxpos, const char *head, const char *foot) {
    memset(a, 0, sizeof *a);
    g_verb = name;
    for (int i = 0; i < O_COUNT; i++) { /* defaults that parse are the values until given */
        opt_value v = {0};
        if ((ROWS[i].verbs & verb) && ROWS[i].dflt && parse_value(&ROWS[i], ROWS[i].dflt, &v)) a->o[i] = v;
    }
    for (int k = 1; k < argc; k++) {
        const char *s = argv[k];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) { print_help(verb, head, foot); return 0; }
        if (s[0] != '-' || !s[1]) {
            if (a->npos >= maxpos) return usage_error("unexpected argument '%s'", s);
            a->pos[a->npos++] = s;
            continue;
        }
        const char *eq = strchr(s, '=');
        size_t n = eq ? (size_t)(eq - s) : strlen(s);
        int id = -1;
        for (int i = 0; i < O_COUNT && id < 0; i++)
            if ((ROWS[i].verbs & verb) && ((strlen(ROWS[i].name) == n && !strncmp(ROWS[i].name, s, n)) ||
                                           (i == O_OUTPUT && n == 2 && !strncmp(s, "-o", 2)) ||
                                           (i == O_OUT_DIR && n == 2 && !strncmp(s, "-O", 2))))
                id = i;
        if (id < 0) return usage_error("unknown option '%s'", s);
        const row *r = &ROWS[id];
        const char *v = eq ? eq + 1 : NULL;
        if (r->k == K_FLAG && v) return usage_error("%s takes no value", r->name);
        if (r->k != K_FLAG && !v) {
            if (k + 1 >= argc) return usage_error("option %s needs a value", s);
            v = argv[++k];
        }
        char buf[128];
        if (!parse_value(r, v ? v : "", &a->o[id])) return usage_error("%s needs %s, got '%s'", r->name, expects(r, buf, sizeof buf), v);
        a->o[id].set = 1;
    }
    return -1;
}

int cli_check_task(const cli_args *a, gnf_task task) {
    for (int i = 0; i < O_COUNT; i++) {
        if (!a->o[i].set || (ROWS[i].tasks & (1 << task))) continue;
        char list[128] = "";
        for (int t = GNF_TASK_IMAGE; t <= GNF_TASK_NERF; t++)
            if (ROWS[i].tasks & (1 << t)) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? " and " : "", TASK_NAMES[t]);
        return usage_error("%s is for %s, not %s", ROWS[i].name, list, TASK_NAMES[task]);
    }
    return 0;
}

const char *cli_option_name(int id) { return ROWS[id].name; }

int cli_same_value(int id, const opt_value *x, const opt_value *y) {
    if (x->set != y->set) return 0;
    switch (ROWS[id].k) {
    case K_FLAG: return 1;
    case K_INT: case K_CHOICE: return x->i == y->i;
    case K_NUM: return x->d == y->d;
    case K_STR: return x->s && y->s && !strcmp(x->s, y->s);
    case K_SIZE: case K_LIST: return x->n == y->n && !memcmp(x->v, y->v, sizeof(int) * (size_t)x->n);
    }
    return 0;
}

void cli_print_table(void) {
    static const char *verbs[] = {"fit", "render", "eval", "info", "mesh", "query", "fit-many", "report"};
    for (int i = 0; i < O_COUNT; i++)
        for (int v = 0; v < 8; v++)
            if (ROWS[i].verbs & (1 << v)) printf("%s %s %s\n", verbs[v], ROWS[i].name, ROWS[i].dflt ? ROWS[i].dflt : "-");
}
