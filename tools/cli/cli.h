/* cli.h — the command-line tool's shared parts: the option table (options.c) that drives parsing,
 * range checks, per-task checks and --help, and helpers the verbs share (common.c).
 * Exit codes: 0 success, 1 runtime failure, 2 usage error. */
#ifndef GNF_CLI_H
#define GNF_CLI_H
#define _POSIX_C_SOURCE 200809L
#include "gnf.h"
#include <signal.h>
#include <stdio.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

enum { V_FIT = 1, V_RENDER = 2, V_EVAL = 4, V_INFO = 8, V_MESH = 16, V_QUERY = 32 };
enum { V_FIT_MANY = 64, V_REPORT = 128 }; /* batch fitting (fit_many.c, report.c) */
/* task bits: 1 << gnf_task */
enum { T_IMAGE = 1 << GNF_TASK_IMAGE, T_SDF = 1 << GNF_TASK_SDF, T_NERF = 1 << GNF_TASK_NERF, T_ALL = T_IMAGE | T_SDF | T_NERF };

/* One id per table row (options.c); a name may have a row per verb when its meaning differs. */
typedef enum {
    O_OUTPUT, O_HALF, O_TASK, O_STEPS, O_SECONDS, O_TARGET_PSNR, O_TARGET_IOU, O_PARAMS, O_PRESET,
    O_ENCODING, O_HASH_LOG2, O_LEVELS, O_RES, O_FEAT, O_DECODER, O_BASIS, O_RBF_K, O_MLP_HIDDEN,
    O_MLP_LAYERS, O_BATCH, O_LR, O_LR_END, O_LOSS, O_ADAM_EPS, O_SEED, O_CROP, O_SAMPLES,
    O_SAMPLING, O_UNIFORM, O_SIGMA, O_SIGN, O_DOWNSCALE, O_EVAL_EVERY, O_WIDTH, O_HEIGHT,
    O_AZIMUTH, O_ELEVATION, O_DISTANCE, O_FOV, O_SCENE, O_VIEW, O_ORBIT, O_CAM_PATH, O_VIDEO, O_FPS, O_SLICE, O_MESH_REF, O_DEPTH, O_OPACITY, O_JSON,
    O_EXACT, O_MC_RES, O_SPLIT, O_VIEWS, O_EVERY, O_SCALE, O_MRES, O_ISO, O_BINARY, O_THREADS, O_QUIET,
    O_CHECKPOINT_EVERY, O_RESUME, O_FORCE,
    O_RAW,                                                   /* query --raw */
    O_OUT_DIR, O_SHARD, O_NO_EVAL, O_DRY_RUN, O_REPORT_JSON, /* fit-many, report */
    O_COUNT
} opt_id;

/* A parsed value: set if given, else the table's default if it parses.  i: integers and the index
 * of a choice; d: numbers; s: the text; v[0..n-1]: lists and WxH sizes. */
typedef struct { int set; long i; double d; const char *s; int n, v[GNF_MAX_LEVELS]; } opt_value;

typedef struct { opt_value o[O_COUNT]; const char *pos[2]; int npos; } cli_args; /* pos: positional */

/* Parses argv (argv[0] is the verb) for verb (V_*), which takes at most maxpos positional
 * arguments.  Returns -1 to go on, 0 after printing --help (head, the table's rows, foot), or
 * EXIT_USAGE after a message. */
int cli_parse(cli_args *a, int verb, const char *name, int argc, char **argv, int maxpos, const char *head, const char *foot);

/* EXIT_USAGE with a message naming the first option given that does not apply to task, else 0. */
int cli_check_task(const cli_args *a, gnf_task task);

/* Prints the table for scripts and tests: "verb option default" per row with a default. */
void cli_print_table(void);

/* Row id's option name ("--lr"), and whether two parsed values of it are the same setting. */
const char *cli_option_name(int id);
int cli_same_value(int id, const opt_value *x, const opt_value *y);

/* Messages: "<verb>: <text> (see '<verb> --help')" -> EXIT_USAGE; "<verb>: error: <last error>"
 * -> EXIT_RUNTIME; "<verb>: error: <text>" -> EXIT_RUNTIME. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int runtime_error(void);
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern const char *g_verb;

int is_dir(const char *p);
long file_size(const char *p); /* -1 if absent */
/* The input's file name with .gnf, in the current folder. */
const char *default_output(const char *input, char *buf, size_t n);
/* Centre cw x ch crop of *img in place (GNF_ERR_INVALID if larger than the image). */
gnf_status crop_center(gnf_image *img, int cw, int ch);
/* "encoding: ..." and "decoder: ..." lines. */
void describe_model(FILE *f, const gnf_model *m);

/* Signals (main.c).  SIGINT and SIGTERM: while g_soft is set (gnf fit), the first one is only
 * recorded in g_signal and the verb stops itself at the next step boundary; otherwise, and at
 * the second one, the handler removes the temporary files of outputs being written
 * (gnf_remove_partial_outputs), says so in one line and exits with 128 + the signal (130, 143).
 * SIGXFSZ is ignored, so a file-size limit makes write() fail (EFBIG) and the error is reported
 * like a full disk. */
extern volatile sig_atomic_t g_signal, g_soft;
void cli_signals(void);
const char *signal_name(int sig); /* "SIGINT", "SIGTERM" */
/* Bytes this process can still allocate — MemAvailable, and under an address-space limit
 * (RLIMIT_AS, `ulimit -v`) what the limit leaves beyond the space in use — or -1 if unknown;
 * *what says which bound it is. */
long long available_memory(const char **what);
/* gnf query's point readers on an open stream (query.c; fuzz/fuzz_query.c feeds them memory):
 * text "x y z" lines, or sz bytes of float32 triples.  0 with *pts (malloc'd) and *n, or the
 * exit code of fail() after its message. */
int query_parse_text(FILE *f, const char *path, float **pts, long *n);
int query_parse_binary(FILE *f, long sz, const char *path, float **pts, long *n);

/* The verbs: argv[0] is the verb; they return the exit code. */
int cmd_fit(int argc, char **argv, double t_cmd);
int cmd_render(int argc, char **argv), cmd_eval(int argc, char **argv), cmd_info(int argc, char **argv);
int cmd_mesh(int argc, char **argv), cmd_query(int argc, char **argv);

/* Data-parallel gnf fit over MPI (mpi.c; MPI in the build made by `make mpi`, else one process).
 * cli_mpi_init: under an MPI launcher, joins the job (MPI_Init); a build without MPI started as
 * one of several ranks refuses (it would train copies side by side).  -1 to go on, else the exit
 * code.  cli_mpi_parallel: the training hook (NULL: one process).  cli_mpi_rank: 0 alone prints
 * and writes.  cli_mpi_report: rank 0's line on the gradient exchange after a fit.
 * cli_mpi_finish: leaves the job — finalising together after success or an agreed interruption,
 * otherwise ending every rank with rc (MPI_Abort) — and returns rc. */
int cli_mpi_init(int *argc, char ***argv);
const gnf_parallel *cli_mpi_parallel(void);
int cli_mpi_rank(void);
void cli_mpi_report(const gnf_train_report *rep);
int cli_mpi_finish(int rc);

int cmd_view(int argc, char **argv), cmd_export_web(int argc, char **argv); /* web.c: the browser viewer */
int cmd_fit_many(int argc, char **argv), cmd_report(int argc, char **argv);
/* The task gnf fit infers from an input's name (fit.c): a folder or .json -> nerf, a mesh
 * extension -> sdf, else image. */
gnf_task task_of(const char *input);
#endif
