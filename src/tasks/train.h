/* train.h — the one training loop of every task.  A step is
 *     batch → grid lookup → fused decoder forward + loss + backward → grid scatter → Adam,
 * and a task plugs into it in one of two ways:
 *   - per-point tasks (images, SDFs) give `sample`: chunks of points with targets, and the loss
 *     (L1/L2, optionally weighted) is taken inside the fused decoder kernel;
 *   - batch tasks (radiance fields) give `batch`: the step's samples with their features and the
 *     output gradient dL/dy they computed themselves (volume rendering), and the fused kernel runs
 *     with the given gradient.
 * Stopping rules, the learning-rate schedule, progress, quality checks, Adam, the grid scatter,
 * phase timings, the training metadata and determinism live here once — and so do cancellation,
 * checkpoints and resuming, and the divergence guard: all three go through one list of the
 * state a step leaves for the next (train.c, trainer_state, plus the task's `state` hook). */
#ifndef GNF_TRAIN_H
#define GNF_TRAIN_H

#include "field/field.h"

#define GNF_TRAIN_CHUNK 2048
#define GNF_TRAIN_BEST_CHECKS 40   /* keep_best: quality checks after the knee */
#define GNF_TRAIN_WALK_FRACTION 0.0625   /* measured: bench/README.md, "Step cost vs model size" */

/* One piece of the state training carries from step to step: `n` elements of `type` at `data`.
 * Checkpoints store what is marked GNF_STATE_CKPT (arrays as F32 tensors "state.<name>" holding
 * exact values, single values as metadata "gnf.ckpt.<name>"); the divergence guard's snapshots
 * copy what is marked GNF_STATE_SNAP.  docs/FORMAT.md, "Checkpoints". */
typedef enum { GNF_STATE_F32, GNF_STATE_I32, GNF_STATE_U8, GNF_STATE_LONG, GNF_STATE_DOUBLE } gnf_state_type;
enum { GNF_STATE_CKPT = 1, GNF_STATE_SNAP = 2, GNF_STATE_BOTH = 3 };
typedef struct {
    const char *name;
    void *data;           /* may be NULL when only the sizes are asked for (memory estimates) */
    long n;
    gnf_state_type type;
    int where;            /* GNF_STATE_CKPT, _SNAP or _BOTH */
} gnf_state_item;
#define GNF_STATE(nm, ptr, cnt, ty, wh) ((gnf_state_item){(nm), (void *)(ptr), (long)(cnt), (ty), (wh)})
#define GNF_TASK_STATE 8  /* the most items a task's state hook lists */

/* A 64-bit hash of data[0..n) continuing h (start with 0): the training data's fingerprint. */
uint64_t gnf_train_hash(uint64_t h, const void *data, size_t n);

/* What a hook sees of the step in progress. */
typedef struct {
    gnf_model *m;
    long step;            /* 0-based index of this step */
    const float *beta;    /* the RBF precisions exp(b) of the current parameters (D×K) */
    int threads;          /* worker threads */
    double *phase;        /* seconds per phase, GNF_NERF_PHASES order: a batch hook adds to 0..3 */
    const float *grad;    /* the parameter gradients (after the update: lazy Adam has reset the
                           * walked levels' to 0) */
} gnf_step;

/* A batch task's samples for one step (pointers owned by the task, valid until the next call). */
typedef struct {
    long n;               /* samples that carry a gradient (<= the ops' capacity) */
    const float *x;       /* n × in_dim coordinates, for the grid scatter */
    const float *F;       /* n × D their features (gnf_grid_encode of x) */
    const float *dY;      /* n × out_dim dL/dy */
    double loss;          /* the step's loss */
    double samples;       /* field evaluations the step made (throughput) */
} gnf_batch;

typedef struct {
    /* Per-point tasks: fills n ≤ GNF_TRAIN_CHUNK samples of chunk `chunk` of step `step`:
     * coordinates x (n×in_dim), targets t (n×out_dim) and, if `weighted`, loss weights w (n).
     * Must depend only on (step, chunk) — it runs on any thread — and use r for randomness. */
    void (*sample)(void *user, long step, long chunk, gnf_rng *r, long n, float *x, float *t, float *w);
    int weighted;
    /* Batch tasks: builds the step's batch in *b. */
    gnf_status (*batch)(void *user, const gnf_step *s, gnf_batch *b);
    long capacity;        /* batch tasks: the most samples a batch holds (per-point: tc->batch) */
    /* Batch tasks with the RBF decoder (may be NULL: gnf_rbf_train over b->dY, out_dim outputs a
     * sample): the decoder's backward of the batch's samples [i0, i0 + n), from b->dY in the task's
     * own layout: writes dF (n × D) and accumulates into g (the chunk's gradient block, g.work the
     * calling thread's scratch).  Runs on any thread, concurrently for disjoint ranges; must give
     * the same bits whatever the thread. */
    void (*decoder_backward)(void *user, long i0, long n, float *dF, rbf_grads g);
    /* After the optimiser's update of each step (may be NULL): e.g. occupancy refresh. */
    gnf_status (*after_step)(void *user, const gnf_step *s);
    /* Quality of the current model (PSNR, IoU) for progress, the target rule and the report;
     * NULL: none.  Measured every eval_every steps when a target is set or eval_every > 0. */
    double (*quality)(void *user, const gnf_model *m, int threads);
    double target;        /* stop when quality >= target (0: no target) */
    /* Quality estimate from the last step's loss or squared-error sum over n samples (may be
     * NULL: no estimate). */
    double (*estimate)(void *user, double loss, double sq_err, long n);
    /* Called once after the last step, before the training metadata is written (may be NULL):
     * the task records what it needs to rebuild or render the field. */
    gnf_status (*finish)(void *user, gnf_model *m);
    const char *loss_name; /* gnf.train.loss */
    /* 1: lazy Adam on the grids — entries whose gradient is exactly 0 keep their parameter and
     * Adam state — run over the nodes the step touched (a cost that follows the batch, not the
     * model); 0: dense Adam over every grid entry */
    int lazy_grid_adam;
    /* 1 (needs quality): with a knee schedule (tc->lr_knee_steps below the planned steps), the
     * quality is measured GNF_TRAIN_BEST_CHECKS times over the steps after the knee, the
     * parameters of the best check are kept, and they replace the last ones at the end when
     * better (gnf.train.best_step records it).  Late training can swing (SDFs beyond ~10^4
     * steps: held-out IoU 0.990 -> 0.983 -> 0.991 between checks 1000 steps apart), and a user
     * must never get a worse model from a longer budget than from a shorter one. */
    int keep_best;
    /* lazy: a level is walked — Adam visits only the nodes the scatter marked — when a step can
     * touch at most this fraction of its nodes (capacity · 2^in_dim <= walk_fraction · nodes);
     * the other levels run the dense lazy loop.  Same results either way (0:
     * GNF_TRAIN_WALK_FRACTION). */
    double walk_fraction;
    long warmup_steps;    /* steps slower than the rest (not used to size a time budget) */
    /* Checkpoints, resuming and rollbacks.  state (may be NULL: the task keeps nothing between
     * steps) lists up to GNF_TASK_STATE items of the task's own state; state_restored (may be
     * NULL) rebuilds what derives from them after a resume or a rollback; fingerprint (may be
     * NULL: 0) hashes the training data and the task's own settings (gnf_train_hash), so a
     * checkpoint is never continued on other data. */
    int (*state)(void *user, gnf_state_item *items);
    gnf_status (*state_restored)(void *user);
    uint64_t (*fingerprint)(void *user);
    void *user;
    long extra_bytes;     /* the task's own memory, for the memory estimate */
} gnf_task_ops;

/* Memory in bytes training will allocate (parameters, gradients, optimiser state, batch buffers,
 * per-thread scratch) plus the task's extra_bytes. */
long gnf_train_memory(const gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops);

/* Trains m with the stopping rules and optimiser of tc on the batches of ops.  Deterministic for
 * a fixed seed and step count whatever the thread count.  A time budget without a step limit is
 * turned into a step count from the measured step time (recorded in gnf.train.schedule).
 * Records gnf.train.* metadata.  Refuses a run without a stopping rule (steps, seconds or a
 * target).  Cancellation, checkpoints, resuming and the divergence guard: gnf.h,
 * gnf_train_config. */
gnf_status gnf_train(gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops,
                     gnf_train_report *report);

/* Records a number in m's metadata: an integer when digits == 0, else "%.*g". */
gnf_status gnf_meta_num(gnf_model *m, const char *key, double v, int digits);

#endif
