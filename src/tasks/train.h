/* train.h — the task-independent training loop: chunked sampling, fused decoder kernel, grid
 * scatter by level, Adam, stopping rules and progress.  Tasks (image.c, sdf.c) provide a sampler
 * and an evaluator. */
#ifndef GNF_TRAIN_H
#define GNF_TRAIN_H

#include "field/field.h"

#define GNF_TRAIN_CHUNK 2048

typedef struct {
    /* Fills n ≤ GNF_TRAIN_CHUNK samples of chunk `chunk` of step `step`: coordinates x
     * (n×in_dim), targets t (n×out_dim) and, if the task weights its loss, w (n).  Must depend
     * only on (step, chunk) — it runs on any thread — and use r for randomness. */
    void (*sample)(void *user, long step, long chunk, gnf_rng *r, long n, float *x, float *t, float *w);
    int weighted;                 /* 1: sample() fills w and the loss is weighted */
    /* Quality of the current model for the target rule and the final report (PSNR for images,
     * IoU for SDFs); NULL: none. */
    double (*quality)(void *user, const gnf_model *m, int threads);
    double target;                /* stop when quality >= target (0: no target) */
    /* Quality estimate from the last batch's squared error (for progress), may be NULL. */
    double (*estimate)(void *user, double sq_err, long batch);
    void *user;
    long extra_floats;            /* task memory in floats, for the memory estimate */
} gnf_task_ops;

/* Memory in bytes training will allocate (parameters, gradients, optimiser state, batch buffers,
 * per-thread scratch) plus the task's extra_floats. */
long gnf_train_memory(const gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops);

/* Trains m with the stopping rules and optimiser of tc on samples from ops.  Deterministic for a
 * fixed seed and step count whatever the thread count.  Records gnf.train.* metadata. */
gnf_status gnf_train(gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops,
                     gnf_train_report *report);

#endif
