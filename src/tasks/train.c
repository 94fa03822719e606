/* train.c — the training loop shared by every task (train.h says how a task plugs in).
 *
 * A step (all buffers allocated once, before the first step):
 *   1. the batch: per-point tasks sample chunks of GNF_TRAIN_CHUNK points (rng stream = (seed,
 *      step, chunk)), look them up in the grids and run the fused decoder kernel with their loss,
 *      chunk by chunk; batch tasks build their samples, features and dL/dy, then the fused kernel
 *      runs on them with the given gradient.  Each chunk writes its own decoder-gradient block
 *      and the per-sample feature gradients dF;                              [parallel over chunks]
 *   2. decoder gradients summed over chunks in chunk order;
 *   3. grid gradients: each level scattered from dF over all samples in order; [parallel over levels]
 *   4. Adam over the whole arena, or, when the task asks for lazy grid Adam (entries with a zero
 *      gradient keep their state): the dense lazy loop over small levels, and over levels much
 *      larger than what a step can touch (walk_fraction) only the nodes the scatter marked, in
 *      memory order — a cost that follows the batch, not the level;     [parallel over ranges]
 *   5. the task's after-step hook, the quality check, progress and the stopping rules.
 * Every sum runs in a fixed order that does not depend on the thread count, so the same seed
 * and step count give a bit-identical model with 1 or N threads.
 *
 * Between steps (the step boundary) the loop also asks the caller whether to stop (cancel),
 * writes checkpoints, and — the divergence guard — keeps a snapshot of the last good state every
 * GNF_SNAPSHOT_EVERY steps, to roll back to with a halved learning rate when a step yields a
 * non-finite loss, decoder gradient or parameter.  Checkpoints, resuming and snapshots all go
 * through trainer_state, the one list of what a step leaves for the next: sampling draws from
 * counter-based streams keyed by (seed, step, chunk), so the step number stands for the whole
 * random state, and a resumed run repeats the uninterrupted one bit for bit. */
#include "tasks/train.h"
#include "io/model_file.h"
#include "optim/adam.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADAM_RANGE 16384   /* floats per dense Adam task */
#define ADAM_BUF 1024      /* node offsets a lazy Adam task collects per kernel call */
enum { GNF_TRAIN_BUFS = 20, MAX_STATE = 32 };
enum { PH_DECODER = 4, PH_SCATTER = 5, PH_ADAM = 6, PH_AFTER = 7 };

void gnf_train_config_default(gnf_train_config *tc) {
    memset(tc, 0, sizeof *tc);
    tc->steps = 2000;
    tc->batch = 8192;
    tc->lr0 = 1e-2f;
    tc->lr1 = 1e-3f;
    tc->lr_grid_scale = 1.0f;
    tc->loss = GNF_LOSS_L2;
    tc->adam_b1 = 0.9f;
    tc->adam_b2 = 0.99f;
    tc->adam_eps = 1e-15f;
    tc->seed = 1;
    tc->progress_every = 10;
    tc->max_rollbacks = 4;
}

gnf_status gnf_meta_num(gnf_model *m, const char *key, double v, int digits) {
    char buf[64];
    if (digits == 0) snprintf(buf, sizeof buf, "%.0f", v);
    else snprintf(buf, sizeof buf, "%.*g", digits, v);
    return gnf_model_set_meta(m, key, buf);
}

typedef struct {
    gnf_model *m;
    const gnf_train_config *tc;
    const gnf_task_ops *ops;
    gnf_step s;
    gnf_batch b;
    long cap, nchunks, ndec;
    int T;
    void *block;                          /* every buffer below, one allocation */
    float *x, *t, *w, *F, *dF, *beta;     /* x, t, w, F: per-point tasks only */
    float *grad, *mom, *vel, *decg, *work;
    float *best;                          /* keep_best: the parameters of the best check */
    double *closs, *csq;
    float lr;
    int keep;                             /* keep_best in effect (a knee schedule and a quality) */
    /* what the loop carries between steps besides the arrays (listed by trainer_state) */
    long planned, cal0, cal1;             /* the step plan of a time budget, its timing window */
    long best_step, rollbacks;
    double best_q, elapsed, lr_scale;     /* elapsed: seconds of the budget used at the boundary */
    uint64_t fingerprint;                 /* of the training data (checkpoints) */
    /* divergence guard */
    int guard;                            /* checks on (tc->max_rollbacks >= 0) */
    unsigned char *snap;                  /* snapshot of the GNF_STATE_SNAP items (max_rollbacks > 0) */
    long snap_bytes, snap_step;
    double phase[8];
    /* lazy grid Adam (ops->lazy_grid_adam) */
    int lazy;
    int walk[GNF_MAX_LEVELS];             /* level l: Adam walks the nodes the scatter marked */
    uint64_t *marks;                      /* the walked levels' mark bits, a run of words each */
    long mark_words, mark_at[GNF_MAX_LEVELS];   /* their size, level l's start */
    long adam_first[GNF_MAX_LEVELS + 2];  /* lazy: first Adam task of level l; [levels]: the decoder's */
    /* data-parallel training (tc->parallel, else NULL): this rank's chunks [ch0, ch1) of a
     * per-point task's batch, whose first point is p0 (batch tasks split their own batch: p0 0) */
    const gnf_parallel *par;
    long ch0, ch1, p0;
    double step_samples;                  /* a batch task's step, all ranks: field evaluations, */
    long step_n;                          /* and samples that carried a gradient */
} trainer;

static long state_bytes(trainer *tr, int where);

static void trainer_setup(trainer *tr, gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops) {
    memset(tr, 0, sizeof *tr);
    tr->m = m;
    tr->tc = tc;
    tr->ops = ops;
    tr->cap = ops->batch ? ops->capacity : tc->batch;
    tr->b.n = tr->cap;
    tr->nchunks = (tr->cap + GNF_TRAIN_CHUNK - 1) / GNF_TRAIN_CHUNK;
    tr->ndec = m->nparams - m->dec_off;
    tr->T = gnf_threads_resolve(tc->threads);
    tr->lazy = ops->lazy_grid_adam;
    tr->keep = ops->keep_best && ops->quality && tc->lr_knee_steps > 0;
    tr->guard = tc->max_rollbacks >= 0;
    tr->snap_step = -1;
    if (tc->max_rollbacks > 0) tr->snap_bytes = state_bytes(tr, GNF_STATE_SNAP);
    tr->par = tc->parallel;
    tr->ch1 = tr->nchunks;
    if (tr->par && !ops->batch) {
        tr->ch0 = tr->nchunks * tr->par->rank / tr->par->ranks;
        tr->ch1 = tr->nchunks * (tr->par->rank + 1) / tr->par->ranks;
        tr->p0 = tr->ch0 * GNF_TRAIN_CHUNK;
        tr->b.n = GNF_MIN(tr->cap, tr->ch1 * GNF_TRAIN_CHUNK) - tr->p0;
    }
    if (!tr->lazy) return;
    /* a level is walked when a step touches at most walk_fraction of its nodes (a sample touches
     * 2^in_dim); the Adam tasks: ranges of ADAM_RANGE floats of each level, then of the decoder */
    const double frac = ops->walk_fraction > 0 ? ops->walk_fraction : GNF_TRAIN_WALK_FRACTION;
    const long reach = tr->cap << m->cfg.in_dim;
    long ntasks = 0;
    for (int l = 0; l < m->cfg.levels; l++) {
        /* data-parallel: the summed gradient has entries this rank's scatter did not mark */
        tr->walk[l] = !tr->par && (double)reach <= frac * (double)m->level_nodes[l];
        tr->mark_at[l] = tr->mark_words;
        if (tr->walk[l]) tr->mark_words += (m->grid_size[l] + 63) / 64;
        tr->adam_first[l] = ntasks;
        ntasks += (m->grid_size[l] + ADAM_RANGE - 1) / ADAM_RANGE;
    }
    tr->adam_first[m->cfg.levels] = ntasks;
    tr->adam_first[m->cfg.levels + 1] = ntasks + (tr->ndec + ADAM_RANGE - 1) / ADAM_RANGE;
}

/* The trainer's buffers: the allocation and the memory estimate both come from this list. */
static int trainer_bufs(trainer *tr, gnf_buf *b) {
    const gnf_model *m = tr->m;
    const long D = m->D, B = tr->cap, K = GNF_MAX(1, m->cfg.rbf_k);
    int n = 0;
    if (!tr->ops->batch) {
        b[n++] = GNF_BUF(tr->x, B * m->cfg.in_dim);
        b[n++] = GNF_BUF(tr->t, B * m->cfg.out_dim);
        b[n++] = GNF_BUF(tr->w, B);
        b[n++] = GNF_BUF(tr->F, B * D);
    }
    b[n++] = GNF_BUF(tr->dF, B * D);
    b[n++] = GNF_BUF(tr->beta, D * K);
    b[n++] = GNF_BUF(tr->grad, m->nparams);
    b[n++] = GNF_BUF(tr->mom, m->nparams);
    b[n++] = GNF_BUF(tr->vel, m->nparams);
    b[n++] = GNF_BUF(tr->decg, tr->nchunks * tr->ndec);
    b[n++] = GNF_BUF(tr->closs, tr->nchunks);
    b[n++] = GNF_BUF(tr->csq, tr->nchunks);
    b[n++] = GNF_BUF(tr->work, tr->T * (long)gnf_rbf_work_floats((int)D, (int)K));
    if (tr->lazy) b[n++] = GNF_BUF(tr->marks, tr->mark_words);
    if (tr->keep) b[n++] = GNF_BUF(tr->best, m->nparams);
    if (tr->snap_bytes) b[n++] = GNF_BUF(tr->snap, tr->snap_bytes);
    return n;
}

/* ---- the state a step leaves for the next ---------------------------------------------------- */

/* Everything the loop carries from one step to the next, in one list: checkpoints write and read
 * what is marked CKPT, the divergence guard snapshots and restores what is marked SNAP.  The
 * parameters go into checkpoints as the model's own tensors; the step number stands for the
 * random state (every stream is keyed by (seed, step, chunk)).  The gradients, the lazy
 * optimiser's marks and the batch buffers hold nothing between steps (every step rewrites or
 * resets them).  A new piece of optimiser state is one more line here. */
static int trainer_state(trainer *tr, gnf_state_item *it) {
    gnf_model *m = tr->m;
    int n = 0;
    it[n++] = GNF_STATE("params", m->params, m->nparams, GNF_STATE_F32, GNF_STATE_SNAP);
    it[n++] = GNF_STATE("adam.m", tr->mom, m->nparams, GNF_STATE_F32, GNF_STATE_BOTH);
    it[n++] = GNF_STATE("adam.v", tr->vel, m->nparams, GNF_STATE_F32, GNF_STATE_BOTH);
    it[n++] = GNF_STATE("step", &tr->s.step, 1, GNF_STATE_LONG, GNF_STATE_BOTH);
    if (tr->keep) it[n++] = GNF_STATE("best", tr->best, m->nparams, GNF_STATE_F32, GNF_STATE_CKPT);
    it[n++] = GNF_STATE("best_step", &tr->best_step, 1, GNF_STATE_LONG, GNF_STATE_CKPT);
    it[n++] = GNF_STATE("best_quality", &tr->best_q, 1, GNF_STATE_DOUBLE, GNF_STATE_CKPT);
    it[n++] = GNF_STATE("planned", &tr->planned, 1, GNF_STATE_LONG, GNF_STATE_CKPT);
    it[n++] = GNF_STATE("plan_from", &tr->cal0, 1, GNF_STATE_LONG, GNF_STATE_CKPT);
    it[n++] = GNF_STATE("plan_to", &tr->cal1, 1, GNF_STATE_LONG, GNF_STATE_CKPT);
    it[n++] = GNF_STATE("elapsed_s", &tr->elapsed, 1, GNF_STATE_DOUBLE, GNF_STATE_CKPT);
    it[n++] = GNF_STATE("lr_scale", &tr->lr_scale, 1, GNF_STATE_DOUBLE, GNF_STATE_CKPT);
    it[n++] = GNF_STATE("rollbacks", &tr->rollbacks, 1, GNF_STATE_LONG, GNF_STATE_CKPT);
    if (tr->ops->state) n += tr->ops->state(tr->ops->user, it + n);
    return n;
}

static size_t type_size(gnf_state_type t) {
    return t == GNF_STATE_U8 ? 1 : t == GNF_STATE_F32 || t == GNF_STATE_I32 ? 4 : 8;
}

/* Bytes of the items marked `where`. */
static long state_bytes(trainer *tr, int where) {
    gnf_state_item it[MAX_STATE];
    int n = trainer_state(tr, it);
    long b = 0;
    for (int i = 0; i < n; i++)
        if (it[i].where & where) b += it[i].n * (long)type_size(it[i].type);
    return b;
}

long gnf_train_memory(const gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops) {
    trainer tr;
    gnf_buf b[GNF_TRAIN_BUFS];
    trainer_setup(&tr, (gnf_model *)m, tc, ops);
    /* + the parameters, the task's own buffers, and the evaluation scratch of the quality checks */
    long bytes = (long)gnf_bufs_bytes(b, trainer_bufs(&tr, b)) + 4 * m->nparams + ops->extra_bytes +
                 (long)tr.T * 1024 * m->D * 4 + (long)sizeof(struct gnf_model);
    /* checkpoints: f32 copies of the arrays that are not f32; resuming: the file read whole, its
     * tensors as f32 and a model, for a moment */
    long ck = state_bytes(&tr, GNF_STATE_CKPT) + 4 * m->nparams;
    if (tc->checkpoint_path) bytes += ck;
    if (tc->resume_path) bytes += 2 * ck + 4 * m->nparams;
    return bytes;
}

/* Fused decoder forward + loss + backward of n samples (targets t, weights w; t = dL/dy with
 * GNF_LOSS_GIVEN) into the chunk's decoder-gradient block; returns the chunk's loss. */
static double decoder_chunk(trainer *tr, long ch, int thread, float *dF, const float *F, const float *t,
                            const float *w, long n, gnf_loss loss, float scale, double *sq) {
    gnf_model *m = tr->m;
    float *dg = tr->decg + ch * tr->ndec;
    memset(dg, 0, sizeof(float) * (size_t)tr->ndec);
    if (m->cfg.decoder != GNF_DEC_RBF) return gnf_mlp_train(dF, dg, m, m->params, F, t, w, n, loss, scale, sq);
    rbf_grads g = {dg + (m->off_c - m->dec_off), dg + (m->off_b - m->dec_off), dg + (m->off_W - m->dec_off),
                   dg + (m->off_w0 - m->dec_off), tr->work + (long)thread * gnf_rbf_work_floats(m->D, m->cfg.rbf_k)};
    if (tr->ops->decoder_backward && loss == GNF_LOSS_GIVEN) {   /* the task's own backward of its batch */
        tr->ops->decoder_backward(tr->ops->user, (F - tr->b.F) / m->D, n, dF, g);
        return 0;
    }
    return gnf_rbf_train(dF, g, F, t, w, m->params + m->off_c, tr->beta, m->params + m->off_W, m->params + m->off_w0,
                         n, m->D, m->cfg.rbf_k, m->cfg.out_dim, m->cfg.basis, loss, scale, sq);
}

/* Per-point tasks: sample, encode and train chunk ch. */
static void sample_chunk_task(void *vctx, long ch, int thread) {
    trainer *tr = vctx;
    ch += tr->ch0;   /* this rank's chunks (all of them alone) */
    gnf_model *m = tr->m;
    const int D = m->D, O = m->cfg.out_dim, dim = m->cfg.in_dim;
    long i0 = ch * GNF_TRAIN_CHUNK, n = GNF_MIN(GNF_TRAIN_CHUNK, tr->cap - i0);
    float *x = tr->x + i0 * dim, *t = tr->t + i0 * O, *F = tr->F + i0 * D;
    float *w = tr->ops->weighted ? tr->w + i0 : NULL;
    gnf_rng r;
    gnf_rng_seed(&r, tr->tc->seed, ((uint64_t)tr->s.step << 20) ^ (uint64_t)ch);
    tr->ops->sample(tr->ops->user, tr->s.step, ch, &r, n, x, t, w);
    gnf_grid_encode(F, m, m->params, x, n);
    float scale = 1.0f / (float)((double)tr->cap * O);
    tr->csq[ch] = 0;   /* this step's squared errors only */
    tr->closs[ch] = decoder_chunk(tr, ch, thread, tr->dF + i0 * D, F, t, w, n, tr->tc->loss, scale, &tr->csq[ch]);
}

/* Batch tasks: chunk ch of the task's samples with the given dL/dy. */
static void given_chunk_task(void *vctx, long ch, int thread) {
    trainer *tr = vctx;
    const int D = tr->m->D, O = tr->m->cfg.out_dim;
    long i0 = ch * GNF_TRAIN_CHUNK, n = GNF_MIN(GNF_TRAIN_CHUNK, tr->b.n - i0);
    double sq = 0;
    decoder_chunk(tr, ch, thread, tr->dF + i0 * D, tr->b.F + i0 * D, tr->b.dY + i0 * O, NULL, n, GNF_LOSS_GIVEN, 1.0f, &sq);
}

/* Level l's grid gradient from dF.  A walked level's gradient and marks are zero already (the
 * optimiser reset what it walked), and the scatter marks the nodes it touches; any other level
 * is zeroed first (just before the scatter reads it: measured faster than zeroing it after Adam). */
static void scatter_task(void *vctx, long l, int thread) {
    (void)thread;
    trainer *tr = vctx;
    gnf_model *m = tr->m;
    if (!tr->walk[l]) memset(tr->grad + m->grid_off[l], 0, sizeof(float) * (size_t)m->grid_size[l]);
    uint64_t *mark = tr->walk[l] ? tr->marks + tr->mark_at[l] : NULL;
    gnf_grid_scatter_level(tr->grad, m, (int)l, tr->b.x, tr->dF + tr->p0 * m->D, tr->b.n, mark);
}

static void adam_task(void *vctx, long r, int thread) {
    (void)thread;
    trainer *tr = vctx;
    const gnf_train_config *tc = tr->tc;
    long i0 = r * ADAM_RANGE, i1 = GNF_MIN(tr->m->nparams, i0 + ADAM_RANGE);
    long g1 = GNF_MAX(i0, GNF_MIN(i1, tr->m->dec_off));   /* [i0, g1) grids, [g1, i1) decoder */
    float lrg = tr->lr * (tc->lr_grid_scale > 0 ? tc->lr_grid_scale : 1.0f);
    if (i0 < g1)
        gnf_adam_update(tr->m->params, tr->mom, tr->vel, tr->grad, i0, g1, lrg, tc->adam_b1, tc->adam_b2,
                        tc->adam_eps, tr->s.step + 1);
    if (g1 < i1)
        gnf_adam_update(tr->m->params, tr->mom, tr->vel, tr->grad, g1, i1, tr->lr, tc->adam_b1, tc->adam_b2,
                        tc->adam_eps, tr->s.step + 1);
}

/* Lazy Adam, task r of adam_first's: a range of the decoder (dense Adam), or a range of
 * ADAM_RANGE floats of a grid level: on a walked level the marked nodes, in memory order
 * (adam_idx over their offsets, collected a buffer at a time; it resets their gradient, and the
 * walk clears the marks), elsewhere the dense lazy loop.  Both give every entry the same float
 * operations, so the result is the dense lazy loop's, bit for bit, at any thread count. */
static void lazy_adam_task(void *vctx, long r, int thread) {
    (void)thread;
    trainer *tr = vctx;
    const gnf_model *m = tr->m;
    const gnf_train_config *tc = tr->tc;
    const float b1 = tc->adam_b1, b2 = tc->adam_b2, eps = tc->adam_eps;
    const long t = tr->s.step + 1;
    int l = 0;
    while (r >= tr->adam_first[l + 1]) l++;
    const long k = r - tr->adam_first[l];
    if (l == m->cfg.levels) {
        long i0 = m->dec_off + k * ADAM_RANGE, i1 = GNF_MIN(m->nparams, i0 + ADAM_RANGE);
        gnf_adam_update(m->params, tr->mom, tr->vel, tr->grad, i0, i1, tr->lr, b1, b2, eps, t);
        return;
    }
    const float lrg = tr->lr * (tc->lr_grid_scale > 0 ? tc->lr_grid_scale : 1.0f);
    const long o = m->grid_off[l], i0 = k * ADAM_RANGE, i1 = GNF_MIN(m->grid_size[l], i0 + ADAM_RANGE);
    if (!tr->walk[l]) {
        gnf_adam_update_lazy(m->params, tr->mom, tr->vel, tr->grad, o + i0, o + i1, lrg, b1, b2, eps, t);
        return;
    }
    uint64_t *mark = tr->marks + tr->mark_at[l];
    int32_t off[ADAM_BUF];
    long n = 0;
    for (long w = i0 / 64, w1 = (i1 + 63) / 64; w < w1; w++) {   /* ADAM_RANGE is a multiple of 64 */
        for (uint64_t bits = mark[w]; bits; bits &= bits - 1) off[n++] = (int32_t)(w * 64 + __builtin_ctzll(bits));
        mark[w] = 0;
        if (n > ADAM_BUF - 64 || (w == w1 - 1 && n > 0)) {
            gnf_adam_update_idx(m->params + o, tr->mom + o, tr->vel + o, tr->grad + o, off, n, m->cfg.feat[l], lrg,
                                b1, b2, eps, t);
            n = 0;
        }
    }
}

/* One training step: *loss and *sq receive the step's loss and squared-error sum. */
static gnf_status train_step(trainer *tr, double *loss, double *sq) {
    gnf_model *m = tr->m;
    const gnf_task_ops *ops = tr->ops;
    if (m->cfg.decoder == GNF_DEC_RBF) gnf_rbf_beta(tr->beta, m, m->params);
    double t0 = gnf_now();
    long nch;
    *loss = *sq = 0;
    if (ops->batch) {
        gnf_status st = ops->batch(ops->user, &tr->s, &tr->b);
        if (st != GNF_OK) return st;
        t0 = gnf_now();
        nch = (tr->b.n + GNF_TRAIN_CHUNK - 1) / GNF_TRAIN_CHUNK;
        gnf_parallel_for(nch, tr->T, given_chunk_task, tr);
        *loss = tr->b.loss;
    } else {
        nch = tr->ch1 - tr->ch0;
        gnf_parallel_for(nch, tr->T, sample_chunk_task, tr);
        for (long ch = tr->ch0; ch < tr->ch1; ch++) { *loss += tr->closs[ch]; *sq += tr->csq[ch]; }
    }
    float *gd = tr->grad + m->dec_off;
    const float *dg = tr->decg + (ops->batch ? 0 : tr->ch0) * tr->ndec;   /* this rank's first chunk */
    if (nch == 0) memset(gd, 0, sizeof(float) * (size_t)tr->ndec);
    else memcpy(gd, dg, sizeof(float) * (size_t)tr->ndec);
    for (long ch = 1; ch < nch; ch++) {
        const float *src = dg + ch * tr->ndec;
        for (long i = 0; i < tr->ndec; i++) gd[i] += src[i];
    }
    double t1 = gnf_now();
    gnf_parallel_for(m->cfg.levels, tr->T, scatter_task, tr);
    if (tr->par) {   /* data-parallel: every rank's gradients and loss summed, the same bits everywhere */
        double v[4] = {*loss, *sq, ops->batch ? tr->b.samples : 0, ops->batch ? (double)tr->b.n : 0};
        gnf_status st = (gnf_status)tr->par->sum_f32(tr->par->user, tr->grad, m->nparams);
        if (st == GNF_OK) st = (gnf_status)tr->par->sum_f64(tr->par->user, v, 4);
        if (st != GNF_OK) return st;
        *loss = v[0], *sq = v[1], tr->step_samples = v[2], tr->step_n = (long)v[3];
    }
    double t2 = gnf_now();
    if (tr->lazy) gnf_parallel_for(tr->adam_first[m->cfg.levels + 1], tr->T, lazy_adam_task, tr);
    else gnf_parallel_for((m->nparams + ADAM_RANGE - 1) / ADAM_RANGE, tr->T, adam_task, tr);
    double t3 = gnf_now();
    tr->phase[PH_DECODER] += t1 - t0;
    tr->phase[PH_SCATTER] += t2 - t1;
    tr->phase[PH_ADAM] += t3 - t2;
    return GNF_OK;
}

/* A planned step count rounded down to a coarse grid — a multiple of 1, 2 or 5 × 10^k that is at
 * most n/25, so 25..62 steps of the grid span n (1.6-4% of it) — and never below lo.  Two runs
 * of one time-stopped command on a machine whose speed differs by a percent or two then mostly
 * plan the same count, and so train the same model (the learning rate decays over the plan). */
static long plan_round(long n, long lo) {
    long q = 1;
    for (long d = 1; d <= n / 25; d *= 10)
        for (int k = 0; k < 3; k++) {
            long c = d * (k == 0 ? 1 : k == 1 ? 2 : 5);
            if (c <= n / 25) q = c;
        }
    n = n / q * q;
    return n < lo ? lo : n;
}

/* ---- checks, snapshots and checkpoints ----------------------------------------------------- */

uint64_t gnf_train_hash(uint64_t h, const void *data, size_t n) {
    /* 8 bytes at a time, each word mixed in by a multiply and a rotation (FNV-like, word-wide):
     * fast enough for a few hundred MB of pictures, and any changed byte changes the result */
    const unsigned char *p = data;
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)n * k;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h = (h << 29 | h >> 35) + k;
    }
    uint64_t w = 0;
    for (; i < n; i++) w = w << 8 | p[i];
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 33);
}

/* Nonzero when every x[0..n) is finite: an OR over the exponent test of the bits, which the
 * compiler vectorises (1.3 GB/s per core even scalar), with no branch per element. */
static int all_finite(const float *x, long n) {
    uint32_t bad = 0;
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        bad |= (u & 0x7F800000u) == 0x7F800000u;
    }
    return !bad;
}

/* The divergence check after a step: what is not finite, or NULL.  The loss sums every sample's
 * error, so a non-finite feature (a grid entry the batch touched) or output shows there; the
 * decoder's gradients are sums over every sample of terms that share the factors of the feature
 * gradients, so a non-finite feature gradient — the only way to a non-finite grid update — shows
 * in them; and the decoder's parameters are few.  About 2 × 4K floats: far below 1% of a step. */
static const char *diverged(const trainer *tr, double loss) {
    const gnf_model *m = tr->m;
    if (!isfinite(loss)) return isnan(loss) ? "the loss is NaN" : "the loss is infinite";
    if (!all_finite(tr->grad + m->dec_off, tr->ndec)) return "a decoder gradient is not finite";
    if (!all_finite(m->params + m->dec_off, tr->ndec)) return "a decoder parameter is not finite";
    return NULL;
}

/* Copies the SNAP items into the snapshot (to = 1) or back (to = 0). */
static void snapshot_copy(trainer *tr, int to) {
    gnf_state_item it[MAX_STATE];
    int n = trainer_state(tr, it);
    unsigned char *p = tr->snap;
    for (int i = 0; i < n; i++) {
        if (!(it[i].where & GNF_STATE_SNAP)) continue;
        size_t b = (size_t)it[i].n * type_size(it[i].type);
        if (to) memcpy(p, it[i].data, b);
        else memcpy(it[i].data, p, b);
        p += b;
    }
}

/* Reports an event (a rollback) through the progress callback. */
static void report_event(trainer *tr, const char *msg) {
    const gnf_train_config *tc = tr->tc;
    if (!tc->progress) return;
    gnf_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.step = tr->s.step;
    pr.steps = tr->planned;
    pr.loss = pr.quality_est = pr.quality = NAN;
    pr.rollbacks = tr->rollbacks;
    pr.event = msg;
    (void)tc->progress(&pr, tc->user);
}

/* The divergence guard's answer to `why` at step `at` (0-based): roll back to the snapshot with
 * the learning rate halved, or give up with GNF_ERR_DIVERGED after max_rollbacks rollbacks. */
static gnf_status rollback(trainer *tr, const char *why, long at) {
    const gnf_train_config *tc = tr->tc;
    if (!tr->snap || tr->rollbacks >= tc->max_rollbacks)
        return gnf_fail(GNF_ERR_DIVERGED, "training diverged: %s at step %ld (learning rate %.3g%s%s); a smaller "
                        "learning rate may help", why, at + 1, (double)tr->lr,
                        tr->rollbacks ? ", after rolling back with the rate halved " : "",
                        tr->rollbacks ? (tr->rollbacks == 1 ? "once" : tr->rollbacks == 2 ? "twice" : "each time") : "");
    snapshot_copy(tr, 0);
    tr->rollbacks++;
    tr->lr_scale *= 0.5;
    gnf_status st = tr->ops->state_restored ? tr->ops->state_restored(tr->ops->user) : GNF_OK;
    if (st != GNF_OK) return st;
    char msg[256];
    snprintf(msg, sizeof msg, "diverged at step %ld (%s): rolled back to step %ld, learning rate halved "
             "(x%g of the schedule), rollback %ld of at most %d", at + 1, why, tr->s.step, tr->lr_scale,
             tr->rollbacks, tc->max_rollbacks);
    report_event(tr, msg);
    return GNF_OK;
}

/* The settings that shape a run's result, as text (name[i] = val[i]): a checkpoint records them
 * and resuming requires the same.  Threads and callbacks do not change a result. */
#define SETTINGS 17
static int train_settings(const trainer *tr, const char **name, char val[][48]) {
    const gnf_train_config *tc = tr->tc;
    int n = 0;
#define SET(nm, ...) do { name[n] = (nm); snprintf(val[n], 48, __VA_ARGS__); n++; } while (0)
    SET("steps", "%ld", tc->steps);
    SET("seconds", "%.17g", tc->seconds);
    SET("batch", "%ld", tr->cap);
    SET("lr0", "%.9g", (double)tc->lr0);
    SET("lr1", "%.9g", (double)tc->lr1);
    SET("lr_grid_scale", "%.9g", (double)(tc->lr_grid_scale > 0 ? tc->lr_grid_scale : 1.0f));
    SET("lr_knee_steps", "%ld", tc->lr_knee_steps);
    SET("loss", "%s", tr->ops->loss_name ? tr->ops->loss_name : "");
    SET("adam_b1", "%.9g", (double)tc->adam_b1);
    SET("adam_b2", "%.9g", (double)tc->adam_b2);
    SET("adam_eps", "%.9g", (double)tc->adam_eps);
    SET("seed", "%" PRIu64, tc->seed);
    SET("eval_every", "%ld", tc->eval_every);
    SET("target", "%.17g", tr->ops->target);
    SET("lazy_grid_adam", "%d", tr->lazy);
    SET("keep_best", "%d", tr->keep);
    if (tr->par && tr->par->ranks > 1) SET("ranks", "%d", tr->par->ranks);   /* absent: one process */
#undef SET
    return n;
}

/* One model's architecture in words, to compare and to show. */
static void arch_text(const gnf_model *m, char *buf, size_t cap) {
    const gnf_model_config *c = &m->cfg;
    int k = snprintf(buf, cap, "task %d, %dD->%d, %s 2^%d, %d levels res", (int)m->task, c->in_dim, c->out_dim,
                     c->encoding == GNF_ENC_HASH ? "hash" : "dense", c->hash_log2, c->levels);
    for (int l = 0; l < c->levels && k > 0 && (size_t)k < cap; l++) k += snprintf(buf + k, cap - (size_t)k, "%s%d:%d", l ? "," : " ", c->res[l], c->feat[l]);
    if (k > 0 && (size_t)k < cap)
        snprintf(buf + k, cap - (size_t)k, ", %s K %d basis %d, mlp %dx%d", c->decoder == GNF_DEC_MLP ? "mlp" : "rbf", c->rbf_k,
                 (int)c->basis, c->mlp_layers, c->mlp_hidden);
}

/* One value as text: %.9g / %.17g round-trip f32 / f64 exactly. */
static void value_text(const gnf_state_item *it, char *buf, size_t cap) {
    switch (it->type) {
    case GNF_STATE_F32: snprintf(buf, cap, "%.9g", (double)*(const float *)it->data); break;
    case GNF_STATE_I32: snprintf(buf, cap, "%" PRId32, *(const int32_t *)it->data); break;
    case GNF_STATE_U8: snprintf(buf, cap, "%u", (unsigned)*(const unsigned char *)it->data); break;
    case GNF_STATE_LONG: snprintf(buf, cap, "%ld", *(const long *)it->data); break;
    case GNF_STATE_DOUBLE: snprintf(buf, cap, "%.17g", *(const double *)it->data); break;
    }
}

/* Parses text into the single value of it; 0 if it is not a whole number of its type (or, for
 * reals, not a number). */
static int value_parse(const gnf_state_item *it, const char *s) {
    char *e;
    errno = 0;
    if (it->type == GNF_STATE_F32 || it->type == GNF_STATE_DOUBLE) {
        double v = strtod(s, &e);
        if (e == s || *e || isnan(v)) return 0;
        if (it->type == GNF_STATE_F32) *(float *)it->data = (float)v;
        else *(double *)it->data = v;
        return 1;
    }
    long v = strtol(s, &e, 10);
    if (e == s || *e || errno) return 0;
    if (it->type == GNF_STATE_LONG) *(long *)it->data = v;
    else if (it->type == GNF_STATE_I32 && v >= INT32_MIN && v <= INT32_MAX) *(int32_t *)it->data = (int32_t)v;
    else if (it->type == GNF_STATE_U8 && v >= 0 && v <= 255) *(unsigned char *)it->data = (unsigned char)v;
    else return 0;
    return 1;
}

#define F32_EXACT 16777216L   /* integers up to 2^24 are exact in an f32 tensor */
#define CKPT_VERSION "1"
#define CKPT_META 64

/* Writes the checkpoint: the model (parameters and metadata) plus the CKPT items, the settings,
 * the data's fingerprint and the caller's metadata (docs/FORMAT.md, "Checkpoints"). */
static gnf_status checkpoint_write(trainer *tr) {
    const gnf_train_config *tc = tr->tc;
    const char *path = tc->checkpoint_path;
    gnf_state_item it[MAX_STATE];
    int n = trainer_state(tr, it), nt = 0, nk = 0;
    gnf_st_tensor t[MAX_STATE];
    gnf_st_kv kv[CKPT_META];
    char tname[MAX_STATE][48], key[CKPT_META][64], val[CKPT_META][48];
    float *conv[MAX_STATE] = {0};
    gnf_status st = GNF_OK;
    const char *sname[SETTINGS];
    char sval[SETTINGS][48];
    int ns = train_settings(tr, sname, sval);
#define KV(k, v) do { kv[nk].key = (char *)(k); kv[nk].value = (char *)(v); nk++; } while (0)
    KV(GNF_CKPT_PREFIX "version", CKPT_VERSION);
    snprintf(val[nk], sizeof val[nk], "%016" PRIx64, tr->fingerprint);
    KV(GNF_CKPT_PREFIX "fingerprint", val[nk]);
    for (int i = 0; i < ns; i++) {
        snprintf(key[nk], sizeof key[nk], GNF_CKPT_PREFIX "train.%s", sname[i]);
        KV(key[nk], sval[i]);
    }
    for (int i = 0; i < n && st == GNF_OK; i++) {
        if (!(it[i].where & GNF_STATE_CKPT)) continue;
        if (it[i].n == 1) {
            snprintf(key[nk], sizeof key[nk], GNF_CKPT_PREFIX "%s", it[i].name);
            value_text(&it[i], val[nk], sizeof val[nk]);
            KV(key[nk], val[nk]);
            continue;
        }
        const float *data = it[i].data;
        if (it[i].type != GNF_STATE_F32) {   /* integers as exact f32 values */
            float *c = conv[i] = gnf_calloc((size_t)it[i].n, sizeof(float));
            if (!c) { st = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory writing the checkpoint", path); break; }
            for (long j = 0; j < it[i].n; j++) {
                long v = it[i].type == GNF_STATE_U8 ? ((const unsigned char *)it[i].data)[j] : ((const int32_t *)it[i].data)[j];
                if (v > F32_EXACT || v < -F32_EXACT) {
                    st = gnf_fail(GNF_ERR_UNSUPPORTED, "%s: %s[%ld] = %ld is too large for a checkpoint (|v| <= 2^24)", path,
                                  it[i].name, j, v);
                    break;
                }
                c[j] = (float)v;
            }
            data = c;
        }
        snprintf(tname[nt], sizeof tname[nt], "state.%s", it[i].name);
        t[nt] = (gnf_st_tensor){tname[nt], 1, {it[i].n}, it[i].n, (float *)data};
        nt++;
    }
    for (const char *const *p = tc->checkpoint_meta; st == GNF_OK && p && p[0] && p[1]; p += 2) {
        if (strncmp(p[0], GNF_CKPT_PREFIX, strlen(GNF_CKPT_PREFIX)) == 0 || nk == CKPT_META)
            st = gnf_fail(GNF_ERR_INVALID, "%s: checkpoint metadata key \"%s\" is reserved or one too many", path, p[0]);
        else KV(p[0], p[1]);
    }
#undef KV
    if (st == GNF_OK) st = gnf_model_save_with(tr->m, path, t, nt, kv, nk);
    for (int i = 0; i < n; i++) gnf_free(conv[i]);
    return st;
}

/* Reads the checkpoint at path into the trainer and the model's parameters, after checking that
 * it continues this run: the same architecture, training data and settings. */
static gnf_status checkpoint_read(trainer *tr, const char *path) {
    gnf_model *m = tr->m, *cm = NULL;
    gnf_st_file f;
    gnf_status st = gnf_st_read(path, &f);
    if (st != GNF_OK) return st;
    const char *ver = gnf_st_meta(&f, GNF_CKPT_PREFIX "version"), *fp = gnf_st_meta(&f, GNF_CKPT_PREFIX "fingerprint");
    char want[64], have[64], a1[512], a2[512];
    if (!ver) st = gnf_fail(GNF_ERR_FORMAT, "%s: not a gnf training checkpoint (no gnf.ckpt.version)", path);
    else if (strcmp(ver, CKPT_VERSION) != 0)
        st = gnf_fail(GNF_ERR_UNSUPPORTED, "%s: checkpoint version \"%s\"; this gnf reads version %s", path, ver, CKPT_VERSION);
    if (st == GNF_OK) st = gnf_model_from_file(&f, path, "state.", &cm);
    if (st == GNF_OK) {
        arch_text(cm, a1, sizeof a1);
        arch_text(m, a2, sizeof a2);
        if (strcmp(a1, a2) != 0 || cm->nparams != m->nparams)
            st = gnf_fail(GNF_ERR_INVALID, "%s: the checkpoint's model (%s) is not this fit's (%s)", path, a1, a2);
    }
    snprintf(want, sizeof want, "%016" PRIx64, tr->fingerprint);
    if (st == GNF_OK && (!fp || strcmp(fp, want) != 0))
        st = gnf_fail(GNF_ERR_INVALID, "%s: the checkpoint was made from other training data (fingerprint %s, this "
                      "input's %s): the input file or its settings changed", path, fp ? fp : "missing", want);
    const char *sname[SETTINGS];
    char sval[SETTINGS][48];
    int ns = train_settings(tr, sname, sval);
    for (int i = 0; i < ns && st == GNF_OK; i++) {
        snprintf(have, sizeof have, GNF_CKPT_PREFIX "train.%s", sname[i]);
        const char *v = gnf_st_meta(&f, have);
        if (!v || strcmp(v, sval[i]) != 0)
            st = gnf_fail(GNF_ERR_INVALID, "%s: training setting %s is %s in the checkpoint but %s here", path, sname[i],
                          v ? v : "missing", sval[i]);
    }
    const char *ranks = gnf_st_meta(&f, GNF_CKPT_PREFIX "train.ranks");   /* data-parallel: the same number of ranks */
    if (st == GNF_OK && ranks && !(tr->par && tr->par->ranks > 1))
        st = gnf_fail(GNF_ERR_INVALID, "%s: the checkpoint was trained by %s data-parallel ranks, this run is one process", path, ranks);
    gnf_state_item it[MAX_STATE];
    int n = trainer_state(tr, it);
    for (int i = 0; i < n && st == GNF_OK; i++) {
        if (!(it[i].where & GNF_STATE_CKPT)) continue;
        if (it[i].n == 1) {
            snprintf(have, sizeof have, GNF_CKPT_PREFIX "%s", it[i].name);
            const char *v = gnf_st_meta(&f, have);
            if (!v || !value_parse(&it[i], v))
                st = gnf_fail(GNF_ERR_FORMAT, "%s: checkpoint value %s is %s%s%s", path, have, v ? "\"" : "missing", v ? v : "",
                              v ? "\", not a number of its kind" : "");
            continue;
        }
        snprintf(have, sizeof have, "state.%s", it[i].name);
        const gnf_st_tensor *t = gnf_st_find(&f, have);
        if (!t || t->ndim != 1 || t->numel != it[i].n) {
            st = gnf_fail(GNF_ERR_FORMAT, "%s: checkpoint tensor %s %s (expected [%ld])", path, have,
                          t ? "has the wrong shape" : "is missing", it[i].n);
            break;
        }
        if (it[i].type == GNF_STATE_F32) { memcpy(it[i].data, t->data, sizeof(float) * (size_t)it[i].n); continue; }
        const float lo = it[i].type == GNF_STATE_U8 ? 0.0f : -(float)F32_EXACT, hi = it[i].type == GNF_STATE_U8 ? 255.0f : (float)F32_EXACT;
        for (long j = 0; j < it[i].n && st == GNF_OK; j++) {
            float v = t->data[j];
            if (!(v >= lo && v <= hi) || v != floorf(v))
                st = gnf_fail(GNF_ERR_FORMAT, "%s: checkpoint tensor %s element %ld = %g is not an integer in %g..%g", path, have, j,
                              (double)v, (double)lo, (double)hi);
            else if (it[i].type == GNF_STATE_U8) ((unsigned char *)it[i].data)[j] = (unsigned char)v;
            else ((int32_t *)it[i].data)[j] = (int32_t)v;
        }
    }
    int extra = 0;   /* every state tensor must be one this run has */
    for (int i = 0; i < f.ntensors && st == GNF_OK; i++) {
        if (strncmp(f.tensors[i].name, "state.", 6) != 0) continue;
        extra = 1;
        for (int k = 0; k < n && extra; k++) extra = !(it[k].n > 1 && (it[k].where & GNF_STATE_CKPT) && !strcmp(it[k].name, f.tensors[i].name + 6));
        if (extra) st = gnf_fail(GNF_ERR_FORMAT, "%s: checkpoint tensor %s is not part of this run's state", path, f.tensors[i].name);
    }
    if (st == GNF_OK && (tr->s.step < 0 || (tr->tc->steps > 0 && tr->s.step > tr->tc->steps)))
        st = gnf_fail(GNF_ERR_FORMAT, "%s: checkpoint step %ld out of range 0..%ld", path, tr->s.step, tr->tc->steps);
    if (st == GNF_OK) memcpy(m->params, cm->params, sizeof(float) * (size_t)m->nparams);
    if (st == GNF_OK && tr->ops->state_restored) st = tr->ops->state_restored(tr->ops->user);
    gnf_model_free(cm);
    gnf_st_file_free(&f);
    return st;
}

/* ---- the loop ---------------------------------------------------------------------------------- */

/* Data-parallel training: every rank's parameters must be rank 0's, bit for bit (compared through
 * a 64-bit checksum, carried as two exact 32-bit halves in the ranks' double sums).  A difference
 * — ranks with other inputs, settings, binaries or a broken reduction — is an error on every rank. */
static gnf_status parallel_check(trainer *tr) {
    const gnf_parallel *p = tr->par;
    uint64_t h = gnf_train_hash(0, tr->m->params, sizeof(float) * (size_t)tr->m->nparams);
    double v[2] = {0, 0};
    if (p->rank == 0) v[0] = (double)(h >> 32), v[1] = (double)(h & 0xFFFFFFFFu);
    gnf_status st = (gnf_status)p->sum_f64(p->user, v, 2);
    if (st != GNF_OK) return st;
    uint64_t h0 = (uint64_t)v[0] << 32 | (uint64_t)v[1];
    double differ = h != h0;
    if ((st = (gnf_status)p->sum_f64(p->user, &differ, 1)) != GNF_OK) return st;
    if (differ > 0)
        return gnf_fail(GNF_ERR_INVALID, "data-parallel training: the parameters of %.0f of the %d ranks differ from rank 0's "
                        "after %ld steps (checksums: this rank, %d, %016" PRIx64 ", rank 0 %016" PRIx64 "); every rank must train "
                        "the same input with the same settings and the same gnf", differ, p->ranks, tr->s.step, p->rank, h, h0);
    return GNF_OK;
}

gnf_status gnf_train(gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops,
                     gnf_train_report *report) {
    double t0 = gnf_now();
    double tstart = tc->start_time > 0 ? tc->start_time : t0;
    if (!ops->batch && (tc->batch < 1 || tc->batch > (1L << 26)))
        return gnf_fail(GNF_ERR_INVALID, "batch %ld out of range 1..2^26", tc->batch);
    if (tc->steps < 0 || tc->seconds < 0) return gnf_fail(GNF_ERR_INVALID, "negative stopping rule");
    if (tc->steps == 0 && tc->seconds == 0 && !(ops->target > 0))
        return gnf_fail(GNF_ERR_INVALID, "no stopping rule (steps, seconds or a target)");
    if (!(tc->lr0 > 0) || !(tc->lr1 > 0)) return gnf_fail(GNF_ERR_INVALID, "learning rates must be positive");
    if (tc->parallel && !(tc->parallel->ranks >= 1 && tc->parallel->rank >= 0 && tc->parallel->rank < tc->parallel->ranks &&
                          tc->parallel->sum_f32 && tc->parallel->sum_f64))
        return gnf_fail(GNF_ERR_INVALID, "data-parallel training: rank %d of %d, or a missing sum callback", tc->parallel->rank,
                        tc->parallel->ranks);
    if (tc->checkpoint_path && !(tc->checkpoint_every >= 0))
        return gnf_fail(GNF_ERR_INVALID, "checkpoint interval %g s must be >= 0", tc->checkpoint_every);
    trainer tr;
    trainer_setup(&tr, m, tc, ops);
    tr.s = (gnf_step){m, 0, NULL, tr.T, tr.phase, NULL};
    gnf_buf bufs[GNF_TRAIN_BUFS];
    if (!gnf_alloc_bufs(bufs, trainer_bufs(&tr, bufs), &tr.block))
        return gnf_fail(GNF_ERR_NOMEM, "out of memory allocating training buffers (%ld bytes needed)",
                        gnf_train_memory(m, tc, ops));
    if (!ops->batch) tr.b.x = tr.x + tr.p0 * m->cfg.in_dim;
    gnf_status st = GNF_OK;
    tr.s.beta = tr.beta;
    tr.s.grad = tr.grad;
    const long eval_every = tc->eval_every > 0 ? tc->eval_every : 25;
    const int measure = ops->quality && (ops->target > 0 || tc->eval_every > 0);
    const long pevery = tc->progress_every > 0 ? tc->progress_every : 10;
    const char *reason = "steps";
    double quality = NAN, samples = 0;
    tr.best_q = -INFINITY;
    tr.lr_scale = 1;
    /* A time budget without a step limit becomes a step count: planned from the time of steps
     * [cal0, cal1) (after the task's warm-up), then planned again from steps [cal0, cal2), a
     * quarter of the way, and from [cal0, cal3), 60% of the way, each time from a longer and
     * steadier window (a plan from the first quarter alone was off by up to 13%: three 15 s SDF
     * fits at 1.88, 1.88 and 2.01 Mpt/s planned 1300, 1500 and 1600 steps, the first ending 1.9 s
     * early); each plan rounded down to a coarse grid (plan_round).  The learning rate then decays over steps, as with
     * --steps, so two runs of one command train alike; the wall clock still ends the run. */
    tr.planned = tc->steps;
    tr.cal0 = GNF_MAX(8, ops->warmup_steps);
    tr.cal1 = tr.cal0 + 24;
    long cal2 = -1, cal3 = -1, start = 0;
    int plan = tc->steps == 0 && tc->seconds > 0;
    double tcal = 0;
    if (tc->checkpoint_path || tc->resume_path) tr.fingerprint = ops->fingerprint ? ops->fingerprint(ops->user) : 0;
    if (tc->resume_path) {
        if ((st = checkpoint_read(&tr, tc->resume_path)) != GNF_OK) goto done;
        start = tr.s.step;
        if (plan && tr.planned > 0) plan = 0;   /* the plan made before the checkpoint is kept */
        else if (plan && start > tr.cal0) { tr.cal0 = start; tr.cal1 = start + 24; }   /* calibrate here */
    }
    const double elapsed0 = tr.elapsed;   /* the budget the checkpoint's run had used */
    double tt0 = gnf_now(), last_ckpt = tt0;
    for (tr.s.step = start;; tr.s.step++) {
        /* the step boundary: cancellation, checkpoint, snapshot */
        double now = gnf_now(), elapsed = now - tstart + elapsed0;
        int cancel = tc->cancel && tc->cancel(tc->cancel_user);
        if (tr.par) {   /* rank 0's clock and any rank's cancel: every rank decides alike */
            double v[2] = {tr.par->rank == 0 ? elapsed : 0, cancel};
            if ((st = (gnf_status)tr.par->sum_f64(tr.par->user, v, 2)) != GNF_OK) goto done;
            elapsed = v[0], now = tstart + elapsed - elapsed0, cancel = v[1] > 0;
            if ((tr.s.step == start || tr.s.step % GNF_PARALLEL_CHECK_EVERY == 0) && (st = parallel_check(&tr)) != GNF_OK) goto done;
        }
        tr.elapsed = elapsed;
        if (cancel) {
            reason = "cancelled";
            if (tc->checkpoint_path && (st = checkpoint_write(&tr)) != GNF_OK) goto done;
            break;
        }
        if (tc->checkpoint_path && tc->checkpoint_every > 0 && tr.s.step > start && now - last_ckpt >= tc->checkpoint_every) {
            if ((st = checkpoint_write(&tr)) != GNF_OK) goto done;
            last_ckpt = gnf_now();
        }
        const char *why = NULL;
        long at = tr.s.step;
        if (tr.guard && tr.s.step != tr.snap_step && (tr.s.step == start || tr.s.step % GNF_SNAPSHOT_EVERY == 0)) {
            /* the whole arena is checked only here: a grid entry no batch touched since is
             * still good when the snapshot is taken */
            double tph = gnf_now();
            if (!all_finite(m->params, m->nparams)) why = "a grid parameter is not finite";
            else if (tr.snap) {
                snapshot_copy(&tr, 1);
                tr.snap_step = tr.s.step;
            }
            tr.phase[PH_AFTER] += gnf_now() - tph;
        }
        double loss = 0, sq = 0;
        if (!why) {
            if (plan) {
                long st0 = tr.s.step;
                if (st0 == tr.cal0) tcal = now;
                if (st0 == tr.cal1 || st0 == cal2 || st0 == cal3) {
                    tr.planned = plan_round(st0 + 1 + (long)(0.98 * (tc->seconds - elapsed) / ((now - tcal) / (double)(st0 - tr.cal0))), st0 + 1);
                    if (st0 == tr.cal1) cal2 = st0 + (tr.planned - st0) / 4 > tr.cal1 + 24 ? st0 + (tr.planned - st0) / 4 : -1;
                    else if (st0 == cal2) {
                        tr.cal1 = cal2;   /* for the record: the window used last */
                        cal3 = (long)(0.6 * (double)tr.planned) > st0 + 24 ? (long)(0.6 * (double)tr.planned) : -1;
                    } else tr.cal1 = cal3;
                }
            }
            const long planned = tr.planned;
            if (planned > 0 && tr.s.step >= planned) { reason = tc->steps > 0 ? "steps" : "seconds"; break; }
            if (tc->seconds > 0 && elapsed >= tc->seconds) { reason = "seconds"; break; }
            /* the learning rate decays from lr0 to lr1 over the (planned) steps — or, when they are
             * more than lr_knee_steps, over the first lr_knee_steps and then on to lr1/10 over the
             * rest; lr0 while calibrating; without a step or time budget over 2000 steps; halved
             * by each rollback of the divergence guard */
            const int kneed = tc->lr_knee_steps > 0 && planned > tc->lr_knee_steps;
            if (kneed && tr.s.step >= tc->lr_knee_steps)
                tr.lr = gnf_lr_exp_schedule(tc->lr1, tc->lr1 / 10, (double)(tr.s.step - tc->lr_knee_steps) /
                                                                   (double)(planned - tc->lr_knee_steps));
            else
                tr.lr = gnf_lr_exp_schedule(tc->lr0, tc->lr1, kneed ? (double)tr.s.step / (double)tc->lr_knee_steps
                                                              : planned > 0 ? (double)tr.s.step / (double)planned
                                                              : tc->seconds > 0 ? 0.0 : (double)tr.s.step / 2000.0);
            if (tr.lr_scale != 1) tr.lr = (float)(tr.lr * tr.lr_scale);
            if ((st = train_step(&tr, &loss, &sq)) != GNF_OK) goto done;
            if (tr.guard) {
                double tph = gnf_now();
                why = diverged(&tr, loss);
                tr.phase[PH_AFTER] += gnf_now() - tph;
            }
        }
        if (why) {   /* back to the snapshot, whose step the loop's increment then reaches */
            if ((st = rollback(&tr, why, at)) != GNF_OK) goto done;
            tr.s.step--;
            continue;
        }
        samples += ops->batch ? (tr.par ? tr.step_samples : tr.b.samples) : (double)tr.cap;
        long done_steps = tr.s.step + 1;
        const long planned = tr.planned;
        const int kneed = tc->lr_knee_steps > 0 && planned > tc->lr_knee_steps;
        double tph = gnf_now(), q = NAN;
        if (ops->after_step && (st = ops->after_step(ops->user, &tr.s)) != GNF_OK) goto done;
        if (measure && done_steps % eval_every == 0) {
            q = ops->quality(ops->user, m, tr.T);
            if (ops->target > 0 && q >= ops->target) { quality = q; reason = "target"; tr.s.step++; break; }
        }
        if (tr.best && kneed && done_steps > tc->lr_knee_steps && planned > 0 &&
            (done_steps - tc->lr_knee_steps) % GNF_MAX(1, (planned - tc->lr_knee_steps) / GNF_TRAIN_BEST_CHECKS) == 0) {
            if (isnan(q)) q = ops->quality(ops->user, m, tr.T);   /* progress sees it too */
            if (q > tr.best_q) {
                tr.best_q = q;
                tr.best_step = done_steps;
                memcpy(tr.best, m->params, sizeof(float) * (size_t)m->nparams);
            }
        }
        tr.phase[PH_AFTER] += gnf_now() - tph;
        if (tc->progress && (done_steps % pevery == 0 || done_steps == planned)) {
            gnf_progress pr;
            memset(&pr, 0, sizeof pr);
            pr.step = done_steps;
            pr.steps = planned;
            pr.elapsed_s = gnf_now() - t0;
            pr.loss = loss;
            pr.quality_est = ops->estimate ? ops->estimate(ops->user, loss, sq, ops->batch ? (tr.par ? tr.step_n : tr.b.n) : tr.cap) : NAN;
            pr.quality = q;
            pr.points_per_s = samples / (gnf_now() - tt0);
            double p1 = planned > 0 ? (double)done_steps / planned : 0;
            double p2 = tc->seconds > 0 ? (gnf_now() - tstart + elapsed0) / tc->seconds : 0;
            double p3 = ops->target > 0 && isfinite(pr.quality_est) ? GNF_MAX(0.0, pr.quality_est) / ops->target : 0;
            pr.progress = GNF_MIN(1.0, GNF_MAX(p1, GNF_MAX(p2, p3)));
            pr.rollbacks = tr.rollbacks;
            if (tc->progress(&pr, tc->user)) { reason = "callback"; tr.s.step++; break; }
        }
    }
    double train_s = gnf_now() - tt0;
    if (tr.par && (st = parallel_check(&tr)) != GNF_OK) goto done;
    if (isnan(quality) && ops->quality) quality = ops->quality(ops->user, m, tr.T);
    if (tr.best && tr.best_step > 0 && tr.best_step != tr.s.step && tr.best_q > quality) {   /* keep_best */
        memcpy(m->params, tr.best, sizeof(float) * (size_t)m->nparams);
        quality = tr.best_q;
        gnf_meta_num(m, "gnf.train.best_step", (double)tr.best_step, 0);
    }
    if (report) {
        report->steps = tr.s.step;
        report->seconds = train_s;
        report->quality = quality;
        report->points_per_s = train_s > 0 ? samples / train_s : 0;
        report->stop_reason = reason;
        report->rollbacks = tr.rollbacks;
        memcpy(report->phase_s, tr.phase, sizeof report->phase_s);
    }
    if (ops->finish && (st = ops->finish(ops->user, m)) != GNF_OK) goto done;
    /* no wall-clock time in the file: the same seed and settings must give the same bytes */
    gnf_meta_num(m, "gnf.train.steps", (double)tr.s.step, 0);
    gnf_meta_num(m, ops->batch ? "gnf.train.samples_per_step" : "gnf.train.batch", (double)tr.cap, 0);
    gnf_model_set_meta(m, "gnf.train.loss", ops->loss_name);
    gnf_meta_num(m, "gnf.train.lr0", (double)tc->lr0, 6);
    gnf_meta_num(m, "gnf.train.lr1", (double)tc->lr1, 6);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)tc->seed);
    gnf_model_set_meta(m, "gnf.train.seed", seed);
    gnf_model_set_meta(m, "gnf.train.stop", reason);
    if (!strcmp(reason, "cancelled")) gnf_meta_num(m, "gnf.train.stopped_step", (double)tr.s.step, 0);
    if (tr.rollbacks > 0) gnf_meta_num(m, "gnf.train.rollbacks", (double)tr.rollbacks, 0);
    if (tr.par && tr.par->ranks > 1) gnf_meta_num(m, "gnf.train.ranks", (double)tr.par->ranks, 0);
    if (tc->lr_knee_steps > 0 && tr.planned > tc->lr_knee_steps)
        gnf_meta_num(m, "gnf.train.lr_knee_steps", (double)tc->lr_knee_steps, 0);
    if (tr.planned > 0 && tc->steps == 0) {
        char sched[160];
        snprintf(sched, sizeof sched, "%ld steps planned for %g s from the time of steps %ld..%ld, rounded down to a 1-2-5 grid",
                 tr.planned, tc->seconds, tr.cal0, tr.cal1);
        gnf_model_set_meta(m, "gnf.train.schedule", sched);
    }
done:
    gnf_free(tr.block);
    return st;
}

gnf_status gnf_checkpoint_load_model(const char *path, gnf_model **out) {
    *out = NULL;
    gnf_st_file f;
    gnf_status st = gnf_st_read(path, &f);
    if (st != GNF_OK) return st;
    const char *ver = gnf_st_meta(&f, GNF_CKPT_PREFIX "version");
    if (!ver) st = gnf_fail(GNF_ERR_FORMAT, "%s: not a gnf training checkpoint (no gnf.ckpt.version)", path);
    else if (strcmp(ver, CKPT_VERSION) != 0)
        st = gnf_fail(GNF_ERR_UNSUPPORTED, "%s: checkpoint version \"%s\"; this gnf reads version %s", path, ver, CKPT_VERSION);
    else st = gnf_model_from_file(&f, path, "state.", out);
    gnf_st_file_free(&f);
    return st;
}
