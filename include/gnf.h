/*
 * gnf.h — the public C API of libgnf, Gaussian Neural Fields on the CPU.
 *
 * A field is an encoding (multi-resolution feature grids interpolated at a point) followed by a
 * decoder (one layer of K radial-basis neurons in feature space and a linear head, or an MLP for
 * comparison).  See docs/MODEL.md for the math and docs/FORMAT.md for the model file.
 *
 * Conventions
 *  - Every function that can fail returns gnf_status; on failure gnf_last_error() holds a message
 *    that names the file (if any) and what is wrong.  The library never exits the process.
 *  - Handles (gnf_model) are opaque; the caller owns what it creates and frees it with the
 *    matching *_free.  Buffers passed in are owned by the caller and never kept.
 *  - Coordinates are in [-1, 1] per axis.  Images are interleaved float in [0, 1].
 *  - Passing NULL where a pointer is required is a programming error (assert), not a status.
 */
#ifndef GNF_H
#define GNF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GNF_VERSION_STRING "0.1.0"
#define GNF_MAX_LEVELS 24
#define GNF_MAX_MLP_LAYERS 8

typedef enum {
    GNF_OK = 0,
    GNF_ERR_IO = 1,          /* cannot open/read/write a file */
    GNF_ERR_FORMAT = 2,      /* the file is corrupt, truncated or not what it claims */
    GNF_ERR_UNSUPPORTED = 3, /* well-formed but not something gnf handles */
    GNF_ERR_NOMEM = 4,       /* allocation failed or a size would overflow */
    GNF_ERR_INVALID = 5,     /* a bad value in a configuration or argument */
    GNF_ERR_DIVERGED = 6     /* training diverged (NaN or infinite values) and rolling back with a
                              * smaller learning rate did not help */
} gnf_status;

/* Returns the message of the last failure in this thread ("" if none).  The pointer stays valid
 * until the next failing call in this thread. */
const char *gnf_last_error(void);

/* Returns a short name for a status ("ok", "I/O error", ...).  Never NULL. */
const char *gnf_status_name(gnf_status s);

typedef enum { GNF_TASK_NONE = 0, GNF_TASK_IMAGE = 1, GNF_TASK_SDF = 2, GNF_TASK_NERF = 3 } gnf_task;
typedef enum { GNF_DEC_RBF = 0, GNF_DEC_MLP = 1 } gnf_decoder_kind;
typedef enum {
    GNF_BASIS_GAUSSIAN = 0, /* exp(-q/2)          q = sum_d beta_d (f_d - c_d)^2 */
    GNF_BASIS_IMQ = 1,      /* 1/sqrt(q + 1)      inverse multiquadric            */
    GNF_BASIS_MQ = 2        /* sqrt(q + 1)        multiquadric                    */
} gnf_basis;
typedef enum { GNF_LOSS_L1 = 0, GNF_LOSS_L2 = 1 } gnf_loss;
typedef enum {
    GNF_ENC_DENSE = 0,      /* dense multi-resolution grids (res^d nodes per level) */
    GNF_ENC_HASH = 1        /* Instant-NGP hash grids: at most 2^hash_log2 nodes per level */
} gnf_encoding;

/* Architecture of a field.  Fill with gnf_model_config_default() and change what you need. */
typedef struct {
    int in_dim;                    /* 2 (images) or 3 (signed distance fields) */
    int out_dim;                   /* 3 for RGB, 1 for gray or a distance */
    gnf_encoding encoding;         /* dense grids or hash grids */
    int hash_log2;                 /* hash table size 2^hash_log2 per level (hash encoding) */
    int levels;                    /* number of grid levels, 1..GNF_MAX_LEVELS */
    int res[GNF_MAX_LEVELS];       /* nodes per axis of level l (>= 2) */
    int feat[GNF_MAX_LEVELS];      /* features per node of level l (>= 1) */
    gnf_decoder_kind decoder;      /* RBF (the GNF decoder) or MLP (baseline) */
    gnf_basis basis;               /* radial basis of the RBF decoder */
    int rbf_k;                     /* number of RBF neurons K */
    int mlp_hidden;                /* MLP hidden width */
    int mlp_layers;                /* MLP hidden layers (ReLU), 1..GNF_MAX_MLP_LAYERS-1 */
    uint64_t seed;                 /* initialisation seed */
} gnf_model_config;

/* Fills *cfg with the default architecture for the given input/output sizes: dense grids of
 * 8 levels of 2 features, resolutions 16..(geometric)..256, RBF decoder with K = 64. */
void gnf_model_config_default(gnf_model_config *cfg, int in_dim, int out_dim);

/* Resizes the grid levels of *cfg so that the model has at most max_params trained parameters,
 * keeping encoding kind, decoder, basis, dims and seed.  Dense: resolutions geometric from 16 to
 * the largest top resolution that fits (capped at max_res, e.g. the image's longer side; 0 = no
 * cap).  Hash: 16 levels from 16 to max_res (0: 2048) and the largest table size that fits.
 * Returns GNF_ERR_INVALID if no configuration fits (max_params too small). */
gnf_status gnf_model_config_for_params(gnf_model_config *cfg, long max_params, int max_res);

/* Checks every field of *cfg; GNF_ERR_INVALID with a message naming the field if one is bad. */
gnf_status gnf_model_config_validate(const gnf_model_config *cfg);

/* Number of trained parameters a model with this configuration has (0 if invalid). */
long gnf_model_config_param_count(const gnf_model_config *cfg);

typedef struct gnf_model gnf_model;

/* Creates a model with freshly initialised parameters (docs/MODEL.md reference initialisation,
 * deterministic in cfg->seed).  *out receives a new handle; free with gnf_model_free. */
gnf_status gnf_model_create(const gnf_model_config *cfg, gnf_task task, gnf_model **out);

/* Frees a model (NULL is a no-op). */
void gnf_model_free(gnf_model *m);

/* The model's configuration and task (pointers valid while m lives). */
const gnf_model_config *gnf_model_get_config(const gnf_model *m);
gnf_task gnf_model_get_task(const gnf_model *m);

/* Number of trained floats (grid features + decoder weights). */
long gnf_model_param_count(const gnf_model *m);

/* Sets a metadata string stored in the model file (key and value are copied; an existing key is
 * replaced).  Keys starting with "gnf." are reserved for the library. */
gnf_status gnf_model_set_meta(gnf_model *m, const char *key, const char *value);

/* Returns the metadata value for key, or NULL.  Valid until the key is set again or m freed. */
const char *gnf_model_get_meta(const gnf_model *m, const char *key);

/* Iterates metadata: returns 0 past the end, else sets key and value of entry i. */
int gnf_model_meta_at(const gnf_model *m, int i, const char **key, const char **value);

/* Evaluates the field at n points x (n × in_dim floats, row-major, in [-1,1]) into y
 * (n × out_dim floats, caller-owned).  Thread-safe for concurrent calls on the same model.
 * threads <= 0 uses the default thread count. */
gnf_status gnf_model_eval(const gnf_model *m, const float *x, long n, float *y, int threads);

/* Saves to path in the safetensors layout (docs/FORMAT.md): f32, or f16 if half != 0.
 * Written to a temporary file in the same folder and renamed: no partial file on failure. */
gnf_status gnf_model_save(const gnf_model *m, const char *path, int half);

/* Loads and fully validates a model file; *out receives a new handle. */
gnf_status gnf_model_load(const char *path, gnf_model **out);

/* gnf_model_load on a model file already in memory (data[0..size), not modified); name stands
 * for the file in messages.  Same checks and errors, but no GNF_ERR_IO.  Nothing is allocated
 * that the data do not back: every tensor must lie within size bytes. */
gnf_status gnf_model_load_from_memory(const void *data, size_t size, const char *name, gnf_model **out);

/* Size in bytes the model file will have when saved (f32 or f16). */
long gnf_model_file_bytes(const gnf_model *m, int half);

/* ---------------------------------------------------------------------------------------- */
/* Files                                                                                     */

/* Writes data[0..n) to path the way every gnf output is written: into a temporary file in the
 * same folder ("<path>.tmpXXXXXX"), flushed and synced, then renamed over path.  On any failure
 * (a full disk, a file-size limit, a missing folder) the temporary is removed, path is left as it
 * was, and GNF_ERR_IO names path and the reason. */
gnf_status gnf_write_file(const char *path, const void *data, size_t n);

/* Deletes the temporary files of the outputs being written at this moment (models, pictures,
 * meshes, checkpoints, gnf_write_file), so that a process about to end leaves no partial file.
 * Async-signal-safe (it only reads a lock-free table and calls unlink): meant for a signal
 * handler that then calls _exit.  The library installs no signal handler of its own. */
void gnf_remove_partial_outputs(void);
/* A temporary file written by someone else (e.g. an encoder this process started), listed for
 * gnf_remove_partial_outputs() like gnf_atomic_open's: returns its slot (-1: not listed, the
 * table is full); gnf_partial_drop(slot) unlists it once it is renamed or removed. */
int gnf_partial_add(const char *path);
void gnf_partial_drop(int slot);

/* ---------------------------------------------------------------------------------------- */
/* Images                                                                                    */

typedef struct {
    int w, h, c;   /* width, height, channels (1 or 3) */
    float *px;     /* h*w*c floats in [0,1], row-major, interleaved; owned (gnf_image_free) */
} gnf_image;

/* Loads a PNG (8/16-bit; gray, gray+alpha, RGB, RGBA, palette) or JPEG (gray or colour), detected
 * from the file's bytes.  Alpha is dropped; had_alpha (may be NULL) tells whether it was there.
 * Errors name the file: GNF_ERR_IO (cannot open), GNF_ERR_FORMAT (not an image, truncated —
 * JPEG data ending early included — or corrupt), GNF_ERR_UNSUPPORTED (over 32768 per side or
 * 2^28 pixels, CMYK or 12-bit JPEG).  On failure *out is zeroed. */
gnf_status gnf_image_load(const char *path, gnf_image *out, int *had_alpha);

/* gnf_image_load on a PNG or JPEG already in memory (data[0..size), not modified, no terminator
 * needed); name stands for the file in messages.  Same results and errors, but no GNF_ERR_IO.
 * A header claiming more pixels than size bytes could encode is GNF_ERR_FORMAT ("truncated"),
 * before anything is allocated for them (PNG: deflate's 1032:1; JPEG: 1024 pixels per byte, so a
 * flat arithmetic-coded JPEG smaller than that is refused too). */
gnf_status gnf_image_load_from_memory(const void *data, size_t size, const char *name, gnf_image *out,
                                      int *had_alpha);

/* Writes an 8-bit PNG (values clamped to [0,1], rounded).  Atomic: temp file then rename. */
gnf_status gnf_image_save_png(const char *path, const gnf_image *img);

/* Allocates a zeroed w×h×c image (w, h >= 1, c = 1 or 3): GNF_ERR_INVALID for other sizes,
 * GNF_ERR_NOMEM if allocation fails; *img is zeroed on failure. */
gnf_status gnf_image_alloc(gnf_image *img, int w, int h, int c);

/* Frees the pixels and zeroes *img (safe on a zeroed image). */
void gnf_image_free(gnf_image *img);

/* PSNR in dB of a (clamped to [0,1]) against b, both n floats: -10 log10(MSE).  +inf if equal,
 * NaN if n <= 0. */
double gnf_psnr(const float *a, const float *b, long n);

/* SSIM (11×11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data range 1, per channel, mean
 * over valid windows and channels; a is clamped to [0,1]).  Images must have equal sizes.
 * NaN if a side is under 11 pixels or memory runs out. */
double gnf_ssim(const gnf_image *a, const gnf_image *b);

/* ---------------------------------------------------------------------------------------- */
/* Training                                                                                  */

typedef struct {
    long step, steps;        /* current step, step limit (0 = none) */
    double elapsed_s;        /* since training started (excludes loading) */
    double loss;             /* mean training loss of the last step */
    /* quality: PSNR in dB (images: the full image; radiance fields: held-out views) or, for
     * signed distance fields, the occupancy IoU on held-out points */
    double quality_est;      /* estimate from the last batch (PSNR from its MSE; NAN for SDFs) */
    double quality;          /* measured on the full image / held-out set at this step, else NAN */
    double points_per_s;     /* training throughput so far */
    double progress;         /* 0..1 toward the first stopping rule */
    long rollbacks;          /* divergence rollbacks so far (see max_rollbacks) */
    const char *event;       /* NULL, or a one-line note of something that just happened (a
                              * rollback); such calls come at once, not on the progress_every
                              * rhythm, and their return value is ignored */
} gnf_progress;

/* Called every progress_every steps (and at once for an event); return nonzero to stop training
 * early. */
typedef int (*gnf_progress_fn)(const gnf_progress *p, void *user);

/* Data-parallel training: `ranks` processes (e.g. MPI ranks) train one model together.  Every
 * step, rank r takes its share of the global batch — per-point tasks: a contiguous run of the
 * step's chunks of 2048 points (chunks r·C/ranks .. (r+1)·C/ranks - 1 of C), drawn from the
 * same seeded streams as one process draws them; radiance fields: a contiguous run of the step's
 * rays — and the gradients, the loss and the stopping decisions are combined through the two
 * callbacks, so every rank applies the same update and keeps the same parameters.  Every rank
 * must fit the same data with the same model and settings (a resume: the same checkpoint), and
 * they all call the sums in the same order.  The loop checks the outcome: a checksum of the
 * parameters is compared across ranks at the first step, every GNF_PARALLEL_CHECK_EVERY steps and
 * after the last one (a difference is GNF_ERR_INVALID on every rank, naming the step).  The time
 * budget follows rank 0's clock and cancellation any rank's cancel (both summed at every step
 * boundary), so all ranks stop after the same step.  Only rank 0 should set checkpoint_path or
 * write files (a checkpoint records `ranks`; resuming it with another count is refused); the
 * progress callback must not stop training (return 0) unless it does so on every rank at the
 * same step.  When a fit fails on one rank only, the others wait in a sum: the caller must end
 * them (MPI_Abort).  The result depends on `ranks` (the sums run in another order) but, for a
 * given `ranks`, not on threads or timing.  Lazy grid Adam runs its dense loop over every level
 * (the same results as the walk over marked nodes). */
typedef struct {
    int rank, ranks;         /* this process is rank `rank` (0-based) of `ranks` (>= 1) */
    /* x[0..n) := the sum over the ranks of their x[0..n), the same bits on every rank (a fixed
     * order of summation, not one that depends on timing).  Called with the gradients once a
     * step, after they are complete and before the optimiser.  Returns GNF_OK, or a gnf_status
     * that stops training (an int here, so the header's function list stays what it exports). */
    int (*sum_f32)(void *user, float *x, long n);
    /* The same for doubles (the loss and error sums, the step boundary's clock and stop flags,
     * the parameter checksums); n is small. */
    int (*sum_f64)(void *user, double *x, long n);
    void *user;
} gnf_parallel;

#define GNF_PARALLEL_CHECK_EVERY 100   /* steps between the cross-rank parameter checks */

typedef struct {
    long steps;              /* stop after this many steps (0 = no step limit) */
    double seconds;          /* stop when this much wall time has passed since `start_time` */
    double start_time;       /* gnf_now() value the time budget counts from (0 = fit start) */
    double target_psnr;      /* stop when full-image PSNR reaches this (0 = none) */
    long batch;              /* points per step */
    float lr0, lr1;          /* learning rate, decayed exponentially from lr0 to lr1 */
    float lr_grid_scale;     /* the grids' learning rate is lr × this (<= 0: 1); the decoder's is lr */
    long lr_knee_steps;      /* > 0 and fewer than the steps: lr0 -> lr1 over these steps, then
                              * lr1 -> lr1/10 over the rest (0: lr0 -> lr1 over all the steps) */
    gnf_loss loss;
    float adam_b1, adam_b2, adam_eps;
    uint64_t seed;           /* sampling seed */
    int threads;             /* <= 0: default (GNF_THREADS env, else all cores) */
    long progress_every;     /* steps between progress callbacks (>= 1) */
    long eval_every;         /* steps between full-image PSNR checks (0: auto) */
    gnf_progress_fn progress;
    void *user;
    /* Cancellation.  cancel (may be NULL) is called once per step, at the step boundary, on the
     * thread that called the fit.  When it returns nonzero, training stops before the next step:
     * the fit returns GNF_OK with stop_reason "cancelled", the model holds the parameters of the
     * steps done (gnf.train.stop = "cancelled", gnf.train.stopped_step = their count; keep-best
     * and the task's finishing metadata apply as at any other stop), and a checkpoint is written
     * when checkpoint_path is set.  It must be cheap; a signal handler can drive it through a
     * flag (volatile sig_atomic_t) that it sets and cancel reads. */
    int (*cancel)(void *cancel_user);
    void *cancel_user;
    /* Checkpoints (docs/FORMAT.md, "Checkpoints").  With checkpoint_path set, the whole training
     * state — parameters, Adam moments, step, schedule, keep-best, divergence state and the
     * task's own state (radiance fields: occupancy) — is written there every checkpoint_every
     * seconds of training (0: never on a clock) and when cancelled, atomically replacing the
     * previous one.  A failed write stops training with GNF_ERR_IO naming the file.
     * checkpoint_meta: NULL or {key, value, key, value, ..., NULL}, stored in every checkpoint
     * (e.g. how to rebuild the command; keys must not start with "gnf.ckpt."). */
    const char *checkpoint_path;
    double checkpoint_every;
    const char *const *checkpoint_meta;
    /* Resuming: continue the training state of this checkpoint.  The model passed in must have
     * the checkpoint's architecture (its parameters are replaced), the training data must be the
     * same (a fingerprint of them is stored) and so must every setting that shapes the result
     * (steps, seconds, batch, learning rates, loss, Adam, seed, eval_every, targets: threads and
     * the callbacks may differ); otherwise GNF_ERR_INVALID names the checkpoint and what differs.
     * A corrupt or truncated file is GNF_ERR_FORMAT naming it.  A run with a step limit resumed
     * this way ends with parameters (and a model file) bit-identical to the run never
     * interrupted.  A time budget goes on with the time the checkpoint had left; its step plan,
     * when made, is kept. */
    const char *resume_path;
    /* Divergence guard: a NaN or infinite loss, decoder gradient or decoder parameter after a
     * step (or a grid parameter, checked when the good state is snapshotted, every
     * GNF_SNAPSHOT_EVERY steps) rolls training back to that snapshot with the learning rate
     * halved, at most max_rollbacks times (default 4); one more divergence fails with
     * GNF_ERR_DIVERGED.  Rollbacks are reported through the progress callback's event and
     * recorded in gnf.train.rollbacks.  0: fail at the first divergence; < 0: no guard (no
     * snapshot memory, no checks). */
    int max_rollbacks;
    /* Data-parallel training (gnf_parallel above; NULL: this process trains alone). */
    const gnf_parallel *parallel;
} gnf_train_config;

#define GNF_SNAPSHOT_EVERY 50   /* steps between the divergence guard's snapshots */

/* Fills the image-fitting recipe: L2 loss, Adam lr 1e-2 -> 1e-3, batch 8192, 2000 steps, the
 * divergence guard on (4 rollbacks), no cancellation, checkpoints or resuming.
 * (The reference uses L1 and 2^18-point batches; on the 256×256 Kodak crop, 60 s budget, L2 and
 * small batches measured 52.9 dB against 45.6 dB for L1 with 65536 points: bench/README.md.) */
void gnf_train_config_default(gnf_train_config *tc);

typedef struct {
    long steps;              /* steps taken */
    double seconds;          /* training wall time */
    double quality;          /* at the end: PSNR (dB) of the full image or the held-out views,
                              * or held-out IoU for signed distance fields */
    double points_per_s;
    const char *stop_reason; /* "steps", "seconds", "target", "callback", "cancelled" (static) */
    long rollbacks;          /* divergence rollbacks taken */
    /* wall time of each phase of the steps, GNF_NERF_PHASES in order; images and SDFs fill
     * entries 4..7 (4: sample + grid lookup + decoder, 5: grid scatter, 6: Adam, 7: after-step
     * hooks and quality checks) and leave 0..3 at zero */
    double phase_s[8];
} gnf_train_report;

/* Loads the model stored in a training checkpoint (tc->checkpoint_path; docs/FORMAT.md): the
 * parameters at its step and all its metadata — the model's, the checkpoint's own gnf.ckpt.*
 * keys (gnf.ckpt.step: steps done) and the caller's checkpoint_meta.  The whole file is
 * validated as a model file is.  Errors name path: GNF_ERR_IO, GNF_ERR_FORMAT (corrupt,
 * truncated, or a model file that is not a checkpoint), GNF_ERR_UNSUPPORTED (a newer checkpoint
 * version).  To continue training, pass path as tc->resume_path to the task's fit. */
gnf_status gnf_checkpoint_load_model(const char *path, gnf_model **out);

/* Names of the radiance-field training phases reported in gnf_train_report.phase_s: "rays+march"
 * is drawing the rays and the march that counts their samples; "encode+forward" the forward's
 * rounds (each ray's next samples marched, looked up and decoded, until its transmittance is
 * spent). */
#define GNF_NERF_PHASES {"rays+march", "encode+forward", "volume render", "gather", "decoder backward", \
                         "grid scatter", "adam", "occupancy+held-out"}

/* Memory in bytes that fitting model m to a w×h×c image with *tc will allocate (parameters,
 * gradients, optimiser state, batch buffers, image copy). */
long gnf_fit_image_memory(const gnf_model *m, int w, int h, int c, const gnf_train_config *tc);

/* Fits m (task image, out_dim == img->c) to img.  Deterministic for a fixed seed and step count,
 * whatever the thread count.  Records training settings in the model's metadata. */
gnf_status gnf_fit_image(gnf_model *m, const gnf_image *img, const gnf_train_config *tc,
                         gnf_train_report *report);

/* Renders the image field at w×h into *out (allocated here; free with gnf_image_free).
 * Pixel centres map to [-1,1] as in training, so any resolution samples the same field. */
gnf_status gnf_render_image(const gnf_model *m, int w, int h, int threads, gnf_image *out);

/* ---------------------------------------------------------------------------------------- */
/* Signed distance fields (task GNF_TASK_SDF, in_dim 3, out_dim 1)                          */
/*                                                                                           */
/* Meshes are normalised so that their bounding-box centre is at 0 and its diagonal is 1.9;   */
/* the field lives in that frame and the model stores the transform, so every query, mesh and */
/* metric below takes and returns the mesh's own coordinates unless it says otherwise.        */

typedef enum {
    GNF_SDF_SAMPLES_NGP = 0,   /* 4/8 on the surface, 3/8 surface + N(0, sigma²), 1/8 uniform */
    GNF_SDF_SAMPLES_GNF = 1    /* 1/8 on the surface, 7/8 uniform in [-1,1]³ (GNF reference) */
} gnf_sdf_sampling;

typedef enum { GNF_SIGN_AUTO = 0, GNF_SIGN_WINDING = 1, GNF_SIGN_PARITY = 2 } gnf_sign_mode;

typedef struct {
    long samples;              /* ground-truth pool size (points with exact signed distance) */
    gnf_sdf_sampling mix;      /* where the pool's points are */
    float sigma;               /* near-surface noise, normalised units */
    float uniform_frac;        /* > 0: this fraction uniform, the rest surface:near 4:3 (overrides mix) */
    gnf_sign_mode sign;        /* AUTO: ray parity for watertight meshes, winding number else */
    uint64_t seed;
    int threads;
} gnf_sdf_config;

/* Defaults: 2^21 samples, NGP mix, sigma 0.01, AUTO sign, seed 1, default threads. */
void gnf_sdf_config_default(gnf_sdf_config *c);

typedef struct gnf_sdf_target gnf_sdf_target;

typedef struct {
    long vertices, faces;
    long boundary_edges, non_manifold_edges, degenerate_faces, dropped_faces, duplicate_vertices;
    long polygons_triangulated;
    int watertight;            /* no boundary and no non-manifold edges */
    int sign_by_winding;       /* the sign mode actually used */
    float center[3], scale;    /* normalised = (mesh - center) * scale */
    double load_s, bvh_s, samples_s, samples_per_s;  /* ground-truth cost */
} gnf_sdf_target_info;

/* Loads a mesh (OBJ, PLY, STL, OFF), normalises it, builds the BVH and samples the ground-truth
 * pool.  Real scans are accepted: holes, duplicate vertices, degenerate and non-manifold faces are
 * counted in the info (warnings), not errors.  Errors name the file. */
gnf_status gnf_sdf_target_create(const char *mesh_path, const gnf_sdf_config *c, gnf_sdf_target **out);

/* The same from a mesh file already in memory (data[0..size), not modified); name stands for the
 * file in messages and gives the format by its extension (.obj, .ply, .stl, .off; a name without
 * one has the format sniffed from the bytes).  Counts in a header are checked against size
 * before anything is allocated for them. */
gnf_status gnf_sdf_target_create_from_memory(const void *data, size_t size, const char *name,
                                             const gnf_sdf_config *c, gnf_sdf_target **out);

/* The same from arrays (copied): vertices nv×3 floats, faces nf×3 vertex indices (counter-
 * clockwise seen from outside).  GNF_ERR_INVALID for bad counts, an index outside 0..nv-1 or a
 * non-finite vertex; triangles repeating an index are dropped (counted in the info). */
gnf_status gnf_sdf_target_create_from_arrays(const float *vertices, long nv, const int32_t *faces, long nf,
                                             const gnf_sdf_config *c, gnf_sdf_target **out);
void gnf_sdf_target_free(gnf_sdf_target *t);
void gnf_sdf_target_get_info(const gnf_sdf_target *t, gnf_sdf_target_info *info);
/* The target's ground-truth pool, owned by the target and valid until gnf_sdf_target_free:
 * *n points (*points, n×3, in the normalised frame) and their signed distances (*sdf, n), in the
 * order training draws them from.  For tools that train another implementation on exactly the
 * same samples (bench/torch_gnf.py through bench/pool/sdf_pool.c). */
void gnf_sdf_target_pool(const gnf_sdf_target *t, const float **points, const float **sdf, long *n);

/* The target's ground truth at n finite points (pts: n×3, mesh coordinates) into sdf (n floats,
 * caller-owned, mesh units): the exact distance to its mesh, negative inside by the same sign rule
 * as its pool (info.sign_by_winding: generalised winding number >= 1/2, else ray parity), so it
 * shows what a fit learns from, e.g. whether a mesh with holes keeps its inside.  The values do
 * not depend on threads (<= 0: the default).  Errors: GNF_ERR_NOMEM. */
gnf_status gnf_sdf_target_sdf(const gnf_sdf_target *t, const float *pts, long n, float *sdf, int threads);

/* Memory fitting will allocate, including the target's pool. */
long gnf_fit_sdf_memory(const gnf_model *m, const gnf_sdf_target *t, const gnf_train_config *tc);

/* Fits m (task SDF, in_dim 3, out_dim 1) to the target.  Loss: tc->loss L1 is the relative L1
 * |y' - y| / (|y| + 0.01), L2 the relative L2 (y' - y)^2 / (|y| + 0.1).  target_iou > 0 stops
 * once the IoU on a held-out set reaches it.  Stores the normalisation in the model. */
gnf_status gnf_fit_sdf(gnf_model *m, const gnf_sdf_target *t, const gnf_train_config *tc,
                       double target_iou, gnf_train_report *report);

/* Signed distance (n) and gradient (n×3, may be NULL; central differences) at n points (n×3) in
 * mesh coordinates.  Caller-owned buffers; thread-safe. */
gnf_status gnf_sdf_query(const gnf_model *m, const float *pts, long n, float *dist, float *grad, int threads);

typedef struct {
    double iou;                /* occupancy IoU, half near-surface (sigma 0.01), half uniform points */
    double iou_uniform;        /* occupancy IoU on the uniform half alone */
    double nae_deg;            /* mean angle (degrees) between field gradient and face normal */
    double chamfer_l1;         /* mean of both directions' mean point-to-surface distance (normalised frame) */
    double fscore;             /* F-score at tau = 0.005 (normalised frame) */
    long iou_points, nae_points, chamfer_points;
    int mc_res;
    /* The protocol of the published anchors (NeuRBF, Instant-NGP), beside the stricter ones above: */
    double iou_grid;           /* occupancy IoU on the iou_grid_res^3 points of the marching-cubes grid
                                  over the model's normalised box [-1,1]^3 (NaN when not measured) */
    int iou_grid_res;          /* = mc_res when measured (up to 2048), else 0 */
    double nae_mesh_deg;       /* mesh-to-mesh normal angle (degrees, orientation-free): mean over
                                  area-uniform points of one mesh of the angle to the face of the
                                  closest point on the other, averaged over both directions */
    long nae_mesh_points;      /* points counted in nae_mesh_deg, both directions together */
    double seconds;
} gnf_sdf_metrics;

/* The metrics of docs/MODEL.md of m against the target's mesh; marching cubes at mc_res for Chamfer and
 * F-score. */
gnf_status gnf_sdf_evaluate(const gnf_model *m, const gnf_sdf_target *t, int mc_res, int threads,
                            gnf_sdf_metrics *out);

/* The mesh metrics (chamfer_l1, fscore, nae_mesh_deg; mc_res) of the target's own exact signed
 * distance, extracted by the same narrow-band marching cubes at mc_res over the same box (the
 * target's normalised [-1,1]³) as gnf_sdf_evaluate uses for a model: the best any field can
 * score on those metrics at that resolution — the discretisation floor of the protocol.  The
 * occupancy metrics and nae_deg are NaN (an exact field scores 1 and 0 by definition).  Costs
 * exact distance queries on the narrow band (~5% of res³). */
gnf_status gnf_sdf_evaluate_exact(const gnf_sdf_target *t, int mc_res, int threads, gnf_sdf_metrics *out);

/* Extracts the zero level set at res³ over the normalised box [-1,1]³ and writes it to path
 * (.ply or .obj), in mesh coordinates.  nv, nf (may be NULL) receive the sizes. */
gnf_status gnf_sdf_extract_mesh(const gnf_model *m, int res, const char *path, int threads,
                                long *nv, long *nf);

/* Sphere-traced, shaded preview (w×h RGB): camera on a sphere around the object at azimuth and
 * elevation (degrees), distance in units of the normalised frame (the object spans ~1.9), vertical
 * field of view fov (degrees).  out is allocated here. */
gnf_status gnf_sdf_render(const gnf_model *m, int w, int h, float azimuth, float elevation,
                          float distance, float fov, int threads, gnf_image *out);

/* A colour-mapped slice of the field through the plane axis = value (axis 0, 1, 2 = x, y, z;
 * value in mesh coordinates), w×h pixels spanning the normalised box [-1,1]² of the other two
 * axes (image right/up: x-slice y/z, y-slice x/z, z-slice x/y): blue inside, orange outside,
 * shaded in bands of 0.05 normalised units, the zero contour black.  With ref (may be NULL; its
 * mesh need not share the model's normalisation) the true contour is drawn green, pixels whose
 * sign is wrong magenta, and *wrong_frac (may be NULL) receives their share of the slice.
 * out is allocated here. */
gnf_status gnf_sdf_render_slice(const gnf_model *m, int axis, float value, int w, int h, const gnf_sdf_target *ref,
                                int threads, gnf_image *out, double *wrong_frac);

/* ---------------------------------------------------------------------------------------- */
/* Radiance fields (task GNF_TASK_NERF, in_dim 3, out_dim 49)                                */
/*                                                                                           */
/* Scenes are in the Blender synthetic format (transforms_<split>.json + images).  The field   */
/* lives in a scene box [-box, box]^3 of world space (x = p / box); output 0 is density        */
/* sigma = softplus(y0 - 10), outputs 1..48 degree-3 spherical-harmonic colour coefficients   */
/* (docs/MODEL.md).  Pictures are composited on white.                                        */

/* A pinhole camera: w×h pixels, focal lengths and principal point in pixels, camera-to-world
 * row-major 3×4 in the OpenGL convention (looks down -z, +y up). */
typedef struct {
    int w, h;
    float fx, fy, cx, cy;
    float c2w[12];
} gnf_camera;

typedef struct gnf_nerf_scene gnf_nerf_scene;

/* Loads a scene split: path is the scene folder (then transforms_<split>.json; a folder with only
 * transforms.json: its frames 0, 8, 16, ... are the "test" and "val" split, the others "train")
 * or a transforms file (every frame); split "train", "test" or "val"; images box-downscaled by
 * downscale >= 1.  instant-ngp / nerfstudio keys (per-frame or global intrinsics, OpenCV
 * distortion k1 k2 k3 p1 p2, aabb_scale, scale, offset) as docs/MODEL.md describes.  Errors name the
 * file: GNF_ERR_IO (missing json or image), GNF_ERR_FORMAT (malformed json, bad matrix, image
 * size not matching w/h), GNF_ERR_INVALID (bad downscale or split). */
gnf_status gnf_nerf_scene_load(const char *path, const char *split, int downscale, int threads,
                               gnf_nerf_scene **out);
/* The same, cameras only (each picture's header is read for its size; no pixels are kept:
 * gnf_nerf_scene_pixels returns NULL).  For rendering dataset cameras. */
gnf_status gnf_nerf_scene_load_cameras(const char *path, const char *split, int downscale,
                                       gnf_nerf_scene **out);
/* gnf_nerf_scene_load_cameras where the pictures need not exist (a camera path): a frame's size
 * comes from its w and h, else its picture's header, else default_w × default_h when both are
 * > 0 (native pixels, before downscale); with none of them GNF_ERR_IO naming the JSON and frame. */
gnf_status gnf_nerf_scene_load_cameras_sized(const char *path, const char *split, int downscale, int default_w,
                                             int default_h, gnf_nerf_scene **out);
/* The scene box the transforms file sets (instant-ngp's aabb_scale, scale, offset, aabb; see
 * docs/MODEL.md): *box its half-size and center its centre in the file's world; returns 1 when
 * the file sets one, else 0 (then *box = 1.5 and center = 0).  The scene's cameras are stored
 * relative to center. */
int gnf_nerf_scene_box(const gnf_nerf_scene *s, float *box, float center[3]);
/* The number of views with lens distortion (k1 k2 k3 p1 p2 not all 0). */
int gnf_nerf_scene_distorted(const gnf_nerf_scene *s);
void gnf_nerf_scene_free(gnf_nerf_scene *s);
/* Number of views; camera of view i; its picture (w*h*3 floats on white, owned by the scene;
 * NULL for a scene loaded with gnf_nerf_scene_load_cameras). */
int gnf_nerf_scene_count(const gnf_nerf_scene *s);
/* (The camera of a view with lens distortion is its pinhole part; training and gnf_nerf_evaluate
 * follow the distortion, gnf_nerf_render with such a camera renders the undistorted picture.) */
void gnf_nerf_scene_camera(const gnf_nerf_scene *s, int i, gnf_camera *cam);
const float *gnf_nerf_scene_pixels(const gnf_nerf_scene *s, int i);

typedef struct {
    float box;               /* scene box half-size, world units (1.5 for the Blender scenes; gnf fit
                              * takes a file's own from gnf_nerf_scene_box) */
    int occ_res;             /* occupancy grid resolution per axis */
    float step;              /* ray-march step, world units (0: 2·box·sqrt(3)/1024) */
    long samples_per_step;   /* target samples per training step (rays adapt to it) */
    long heldout_pixels;     /* about this many pixels, on a regular grid in each of 4 views
                              * spread over the held-out split, for the progress PSNR and the
                              * target (the mean of the views' PSNRs, as the protocol averages) */
} gnf_nerf_config;

/* Defaults: box 1.5, 128³ occupancy, step auto, 2^16 samples per step, 10000 held-out pixels. */
void gnf_nerf_config_default(gnf_nerf_config *c);

/* The default radiance-field architecture within max_params (<= 0: 2.1M): hash grids of 2
 * features per level up to resolution 1024 (levels and table size from the budget), RBF decoder
 * K = 32, 49 outputs. */
gnf_status gnf_nerf_model_config(gnf_model_config *cfg, long max_params);

/* Training defaults for radiance fields (Adam b2 0.99, lr 3e-2 -> 3e-3, MSE on composited RGB). */
void gnf_nerf_train_config_default(gnf_train_config *tc);

/* Memory in bytes fitting will allocate (model, optimiser, sample buffers, occupancy), not
 * counting the scenes' pictures (already loaded). */
long gnf_fit_nerf_memory(const gnf_model *m, const gnf_nerf_config *nc, const gnf_train_config *tc);

/* Fits m (task NERF) to the views of train.  heldout (may be NULL) gives the pixels for the
 * progress PSNR and tc->target_psnr.  The report's quality is the held-out PSNR (NAN without one)
 * and points_per_s counts samples.  Deterministic for a seed and step count. */
gnf_status gnf_fit_nerf(gnf_model *m, const gnf_nerf_scene *train, const gnf_nerf_scene *heldout,
                        const gnf_nerf_config *nc, const gnf_train_config *tc, gnf_train_report *report);

typedef struct gnf_nerf_renderer gnf_nerf_renderer;

/* Prepares rendering of a trained radiance field (occupancy grid from the model file, scratch
 * buffers for `threads` threads).  m must outlive the renderer. */
gnf_status gnf_nerf_renderer_create(const gnf_model *m, int threads, gnf_nerf_renderer **out);
void gnf_nerf_renderer_free(gnf_nerf_renderer *r);

/* Renders cam into rgb (allocated here, 3 channels on white); depth and opacity (may be NULL)
 * receive 1-channel images: expected distance along the ray (world units, 0 where empty) and
 * 1 - transmittance.  samples (may be NULL) receives the mean field evaluations per pixel. */
gnf_status gnf_nerf_render(gnf_nerf_renderer *r, const gnf_camera *cam, gnf_image *rgb,
                           gnf_image *depth, gnf_image *opacity, double *samples);

/* A camera looking at the origin from azimuth/elevation (degrees) at distance radius, z up,
 * with the intrinsics of base (w, h, fx, fy, cx, cy). */
void gnf_nerf_orbit_camera(const gnf_camera *base, float azimuth, float elevation, float radius,
                           gnf_camera *out);

/* The training camera intrinsics and mean camera distance recorded in the model (for orbits). */
gnf_status gnf_nerf_model_camera(const gnf_model *m, gnf_camera *cam, float *radius);

typedef struct {
    double psnr, ssim;       /* means over the views */
    int views;
    double fps, ms_per_frame;   /* rendering speed (median frame time) */
    double samples_per_pixel;   /* mean field evaluations per pixel */
    double seconds;
    int width, height;          /* the rendered frames' size */
    double phase_ms[4];         /* mean ms per frame in each phase: marching, grid lookup, decoder,
                                 * compositing (thread time / threads; their sum is about the frame time) */
    double setup_ms;            /* creating the renderer (occupancy structures), once per model */
} gnf_nerf_metrics;

/* Renders views of s at their resolution and measures PSNR and SSIM against their pictures:
 * views 0, every, 2·every, ... (every <= 1: all), at most max_views of them when max_views > 0. */
gnf_status gnf_nerf_evaluate(const gnf_model *m, const gnf_nerf_scene *s, int max_views, int every, int threads,
                             gnf_nerf_metrics *out);
/* The same with the frames rendered at scale x the pictures' size (1..8; the cameras' intrinsics
 * scaled), each pixel's scale x scale sub-pixels averaged before PSNR and SSIM (frame times and
 * samples per pixel are those of the large frames). */
gnf_status gnf_nerf_evaluate_scaled(const gnf_model *m, const gnf_nerf_scene *s, int max_views, int every, int scale,
                                    int threads, gnf_nerf_metrics *out);

/* Extracts the surface where density = iso (world units, marching cubes at res³ over the scene
 * box) and writes it to path (.ply or .obj) with a colour per vertex: the field's
 * view-independent colour (degree-0 SH term) where a short ray into the surface along the
 * inward normal stops, composited like a rendered pixel (docs/MODEL.md "Radiance fields: the
 * task", coloured meshes).  PLY: uchar red/green/blue vertex properties; OBJ: "v x y z r g b"
 * with colours in [0, 1]. */
gnf_status gnf_nerf_extract_mesh(const gnf_model *m, int res, float iso, const char *path, int threads,
                                 long *nv, long *nf);

/* ---------------------------------------------------------------------------------------- */
/* Recipes: every setting `gnf fit` picks, for a task, a preset and a budget                 */

/* What a recipe depends on; 0 = not given.  Images: the picture's size and channels (after any
 * crop; required).  steps, seconds: the budget (both: whichever comes first; neither: the
 * preset's).  max_params: the parameter budget (else the recipe's). */
typedef struct { int width, height, channels; long steps; double seconds; long max_params; } gnf_recipe_input;

typedef struct {
    gnf_model_config model;      /* architecture, grids sized to max_params */
    gnf_train_config train;      /* stopping rules, batch, learning rates, Adam, seed */
    gnf_sdf_config sdf;          /* the ground-truth pool (GNF_TASK_SDF; defaults otherwise) */
    gnf_nerf_config nerf;        /* marching, samples per step (GNF_TASK_NERF; defaults otherwise) */
    long max_params;             /* the parameter budget the grids were sized to */
    int max_res;                 /* finest grid resolution allowed (images: the longer side; 0: none) */
    int hash_levels;             /* hash grids: this many levels, 16 .. max_res, each table the
                                    largest power of two that fits (0: the sizing picks 8..16) */
} gnf_recipe;

/* Fills *out with the measured-best settings for task and preset ("fast", "default", "quality";
 * NULL = "default"), those of `gnf fit`.  Images: dense grids, RBF K 64, params per pixel
 * 0.5 | 2 | 4 (within 20000..4000000), steps 1000 | 5000 | 15000, batch 8192, L2, lr 1e-2 -> 1e-3,
 * Adam eps 1e-15.  SDF: hash grids within 1M parameters (budgets up to 30 s or 1500 steps: 8
 * levels 16..512 with 2^16-entry tables; longer: 16 levels 16..2048, 2^15), 5 | 15 | 60 s, batch
 * 16384, lr 5e-3 -> 5e-4 (over at most 3000 steps, then on to 5e-5), Adam beta2 0.999, eps 1e-8.
 * Radiance fields:
 * gnf_nerf_model_config, gnf_nerf_train_config_default, gnf_nerf_config_default, 60 | 300 | 1800 s.
 * in may be NULL except for images.  start_time, threads and progress are left to the caller.
 * GNF_ERR_INVALID for an unknown task or preset, an image without a size, or a budget too small. */
gnf_status gnf_recipe_for(gnf_task task, const char *preset, const gnf_recipe_input *in, gnf_recipe *out);

/* Re-sizes the grids of r->model within r->max_params and r->max_res after the caller changed its
 * architecture (encoding, decoder, basis, K, MLP size), as gnf_recipe_for does for the defaults.
 * hash_log2 > 0 (hash encoding) fixes the table at 2^hash_log2 entries per level and drops the
 * finest levels until the budget holds; otherwise r->hash_levels > 0 fixes the level count.
 * GNF_ERR_INVALID if nothing fits. */
gnf_status gnf_recipe_size_model(gnf_recipe *r, int hash_log2);

/* Monotonic wall clock in seconds. */
double gnf_now(void);

/* Default number of threads (GNF_THREADS environment variable, else online cores). */
int gnf_default_threads(void);

/* Forces the scalar reference kernels (1), or returns to the default (0: the fastest this CPU
 * runs, unless the environment variable GNF_SCALAR=1 asks for the reference).  Thread-safe;
 * applies to kernel calls made after it.  For tests and benchmarks. */
void gnf_set_force_scalar(int on);

/* Name of the active kernel set: "avx2-fma" or "scalar".  Shapes the fast kernels do not take
 * run the scalar ones: gnf_kernel_name_for names the kernels that run for a model's grid and
 * decoder ("avx2-fma", "scalar", or e.g. "scalar grid, avx2-fma decoder"). */
const char *gnf_kernel_name(void);
const char *gnf_kernel_name_for(const gnf_model *m);

/* ---------------------------------------------------------------------------------------- */
/* In memory: meshes and parameter tensors (what bindings such as python/gnf hand over)        */

/* An indexed triangle mesh: v nv×3 floats (x, y, z), f nf×3 vertex indices (counter-clockwise
 * seen from outside), rgb NULL or nv×3 vertex colours (0..255).  A mesh the library returns owns
 * its arrays: free them with gnf_mesh_free. */
typedef struct {
    float *v;
    int32_t *f;
    long nv, nf;
    unsigned char *rgb;
} gnf_mesh;

/* Frees a mesh's arrays and zeroes *m (safe on a zeroed mesh). */
void gnf_mesh_free(gnf_mesh *m);

/* The mesh `gnf mesh` writes, in memory: for an SDF model the zero level set at res³ over its
 * normalised box (as gnf_sdf_extract_mesh; iso must be 0), for a radiance field the surface where
 * density = iso > 0 over its scene box with a colour per vertex in rgb (as gnf_nerf_extract_mesh).
 * Vertices in the model's own coordinates (mesh / world units); welded, outward-oriented.
 * Errors (*out zeroed): GNF_ERR_INVALID for an image model, res outside 2..4096, a bad iso or no
 * surface inside the box; GNF_ERR_NOMEM. */
gnf_status gnf_model_mesh(const gnf_model *m, int res, float iso, int threads, gnf_mesh *out);

/* Tensor i (0, 1, ...) of m, in the order and with the names and shapes of its model file
 * (docs/FORMAT.md): name (at most 31 characters and the terminator), ndim (1..4) and shape, and
 * data, the f32 values in m's own memory (row-major; valid while m lives, changed by training it).
 * Returns 0 past the last tensor (outputs untouched), else 1. */
int gnf_model_tensor_at(const gnf_model *m, int i, char name[32], int *ndim, int64_t shape[4], const float **data);

#ifdef __cplusplus
}
#endif
#endif
