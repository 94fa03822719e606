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
 * and step count give a bit-identical model with 1 or N threads. */
#include "tasks/train.h"
#include "optim/adam.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ADAM_RANGE 16384   /* floats per dense Adam task */
#define ADAM_BUF 1024      /* node offsets a lazy Adam task collects per kernel call */
enum { GNF_TRAIN_BUFS = 16 };
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
    double phase[8];
    /* lazy grid Adam (ops->lazy_grid_adam) */
    int lazy;
    int walk[GNF_MAX_LEVELS];             /* level l: Adam walks the nodes the scatter marked */
    uint64_t *marks;                      /* the walked levels' mark bits, a run of words each */
    long mark_words, mark_at[GNF_MAX_LEVELS];   /* their size, level l's start */
    long adam_first[GNF_MAX_LEVELS + 2];  /* lazy: first Adam task of level l; [levels]: the decoder's */
} trainer;

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
    if (!tr->lazy) return;
    /* a level is walked when a step touches at most walk_fraction of its nodes (a sample touches
     * 2^in_dim); the Adam tasks: ranges of ADAM_RANGE floats of each level, then of the decoder */
    const double frac = ops->walk_fraction > 0 ? ops->walk_fraction : GNF_TRAIN_WALK_FRACTION;
    const long reach = tr->cap << m->cfg.in_dim;
    long ntasks = 0;
    for (int l = 0; l < m->cfg.levels; l++) {
        tr->walk[l] = (double)reach <= frac * (double)m->level_nodes[l];
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
    if (tr->ops->keep_best && tr->ops->quality && tr->tc->lr_knee_steps > 0) b[n++] = GNF_BUF(tr->best, m->nparams);
    return n;
}

long gnf_train_memory(const gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops) {
    trainer tr;
    gnf_buf b[GNF_TRAIN_BUFS];
    trainer_setup(&tr, (gnf_model *)m, tc, ops);
    /* + the parameters, the task's own buffers, and the evaluation scratch of the quality checks */
    return (long)gnf_bufs_bytes(b, trainer_bufs(&tr, b)) + 4 * m->nparams + ops->extra_bytes +
           (long)tr.T * 1024 * m->D * 4 + (long)sizeof(struct gnf_model);
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
    return gnf_rbf_train(dF, g, F, t, w, m->params + m->off_c, tr->beta, m->params + m->off_W, m->params + m->off_w0,
                         n, m->D, m->cfg.rbf_k, m->cfg.out_dim, m->cfg.basis, loss, scale, sq);
}

/* Per-point tasks: sample, encode and train chunk ch. */
static void sample_chunk_task(void *vctx, long ch, int thread) {
    trainer *tr = vctx;
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
    gnf_grid_scatter_level(tr->grad, m, (int)l, tr->b.x, tr->dF, tr->b.n, mark);
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
        nch = tr->nchunks;
        gnf_parallel_for(nch, tr->T, sample_chunk_task, tr);
        for (long ch = 0; ch < nch; ch++) { *loss += tr->closs[ch]; *sq += tr->csq[ch]; }
    }
    float *gd = tr->grad + m->dec_off;
    if (nch == 0) memset(gd, 0, sizeof(float) * (size_t)tr->ndec);
    else memcpy(gd, tr->decg, sizeof(float) * (size_t)tr->ndec);
    for (long ch = 1; ch < nch; ch++) {
        const float *src = tr->decg + ch * tr->ndec;
        for (long i = 0; i < tr->ndec; i++) gd[i] += src[i];
    }
    double t1 = gnf_now();
    gnf_parallel_for(m->cfg.levels, tr->T, scatter_task, tr);
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
    trainer tr;
    trainer_setup(&tr, m, tc, ops);
    tr.s = (gnf_step){m, 0, NULL, tr.T, tr.phase, NULL};
    gnf_buf bufs[GNF_TRAIN_BUFS];
    if (!gnf_alloc_bufs(bufs, trainer_bufs(&tr, bufs), &tr.block))
        return gnf_fail(GNF_ERR_NOMEM, "out of memory allocating training buffers (%ld bytes needed)",
                        gnf_train_memory(m, tc, ops));
    if (!ops->batch) tr.b.x = tr.x;
    gnf_status st = GNF_OK;
    tr.s.beta = tr.beta;
    tr.s.grad = tr.grad;
    const long eval_every = tc->eval_every > 0 ? tc->eval_every : 25;
    const int measure = ops->quality && (ops->target > 0 || tc->eval_every > 0);
    const long pevery = tc->progress_every > 0 ? tc->progress_every : 10;
    const char *reason = "steps";
    double quality = NAN, samples = 0, best_q = -INFINITY;
    long best_step = 0;
    double tt0 = gnf_now();
    /* A time budget without a step limit becomes a step count: planned from the time of steps
     * [cal0, cal1) (after the task's warm-up), then planned again from steps [cal0, cal2), a
     * quarter of the way, for a steadier rate; each plan rounded down to a coarse grid
     * (plan_round).  The learning rate then decays over steps, as with
     * --steps, so two runs of one command train alike; the wall clock still ends the run. */
    long planned = tc->steps, cal0 = GNF_MAX(8, ops->warmup_steps), cal1 = cal0 + 24, cal2 = -1;
    double tcal = 0;
    for (tr.s.step = 0;; tr.s.step++) {
        double now = gnf_now(), elapsed = now - tstart;
        if (tc->steps == 0 && tc->seconds > 0) {
            long st0 = tr.s.step;
            if (st0 == cal0) tcal = now;
            if (st0 == cal1 || st0 == cal2) {
                planned = plan_round(st0 + 1 + (long)(0.98 * (tc->seconds - elapsed) / ((now - tcal) / (double)(st0 - cal0))), st0 + 1);
                if (st0 == cal1) cal2 = st0 + (planned - st0) / 4 > cal1 + 24 ? st0 + (planned - st0) / 4 : -1;
                else cal1 = cal2;   /* for the record: the window used last */
            }
        }
        if (planned > 0 && tr.s.step >= planned) { reason = tc->steps > 0 ? "steps" : "seconds"; break; }
        if (tc->seconds > 0 && elapsed >= tc->seconds) { reason = "seconds"; break; }
        /* the learning rate decays from lr0 to lr1 over the (planned) steps — or, when they are
         * more than lr_knee_steps, over the first lr_knee_steps and then on to lr1/10 over the
         * rest; lr0 while calibrating; without a step or time budget over 2000 steps */
        const int kneed = tc->lr_knee_steps > 0 && planned > tc->lr_knee_steps;
        if (kneed && tr.s.step >= tc->lr_knee_steps)
            tr.lr = gnf_lr_exp_schedule(tc->lr1, tc->lr1 / 10, (double)(tr.s.step - tc->lr_knee_steps) /
                                                               (double)(planned - tc->lr_knee_steps));
        else
            tr.lr = gnf_lr_exp_schedule(tc->lr0, tc->lr1, kneed ? (double)tr.s.step / (double)tc->lr_knee_steps
                                                          : planned > 0 ? (double)tr.s.step / (double)planned
                                                          : tc->seconds > 0 ? 0.0 : (double)tr.s.step / 2000.0);
        double loss, sq;
        if ((st = train_step(&tr, &loss, &sq)) != GNF_OK) goto done;
        samples += ops->batch ? tr.b.samples : (double)tr.cap;
        long done_steps = tr.s.step + 1;
        double tph = gnf_now(), q = NAN;
        if (ops->after_step && (st = ops->after_step(ops->user, &tr.s)) != GNF_OK) goto done;
        if (measure && done_steps % eval_every == 0) {
            q = ops->quality(ops->user, m, tr.T);
            if (ops->target > 0 && q >= ops->target) { quality = q; reason = "target"; tr.s.step++; break; }
        }
        if (tr.best && kneed && done_steps > tc->lr_knee_steps && planned > 0 &&
            (done_steps - tc->lr_knee_steps) % GNF_MAX(1, (planned - tc->lr_knee_steps) / GNF_TRAIN_BEST_CHECKS) == 0) {
            if (isnan(q)) q = ops->quality(ops->user, m, tr.T);   /* progress sees it too */
            if (q > best_q) {
                best_q = q;
                best_step = done_steps;
                memcpy(tr.best, m->params, sizeof(float) * (size_t)m->nparams);
            }
        }
        tr.phase[PH_AFTER] += gnf_now() - tph;
        if (tc->progress && (done_steps % pevery == 0 || done_steps == planned)) {
            gnf_progress pr;
            pr.step = done_steps;
            pr.steps = planned;
            pr.elapsed_s = gnf_now() - t0;
            pr.loss = loss;
            pr.quality_est = ops->estimate ? ops->estimate(ops->user, loss, sq, ops->batch ? tr.b.n : tr.cap) : NAN;
            pr.quality = q;
            pr.points_per_s = samples / (gnf_now() - tt0);
            double p1 = planned > 0 ? (double)done_steps / planned : 0;
            double p2 = tc->seconds > 0 ? (gnf_now() - tstart) / tc->seconds : 0;
            double p3 = ops->target > 0 && isfinite(pr.quality_est) ? GNF_MAX(0.0, pr.quality_est) / ops->target : 0;
            pr.progress = GNF_MIN(1.0, GNF_MAX(p1, GNF_MAX(p2, p3)));
            if (tc->progress(&pr, tc->user)) { reason = "callback"; tr.s.step++; break; }
        }
    }
    double train_s = gnf_now() - tt0;
    if (isnan(quality) && ops->quality) quality = ops->quality(ops->user, m, tr.T);
    if (tr.best && best_step > 0 && best_step != tr.s.step && best_q > quality) {   /* keep_best */
        memcpy(m->params, tr.best, sizeof(float) * (size_t)m->nparams);
        quality = best_q;
        gnf_meta_num(m, "gnf.train.best_step", (double)best_step, 0);
    }
    if (report) {
        report->steps = tr.s.step;
        report->seconds = train_s;
        report->quality = quality;
        report->points_per_s = train_s > 0 ? samples / train_s : 0;
        report->stop_reason = reason;
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
    if (tc->lr_knee_steps > 0 && planned > tc->lr_knee_steps)
        gnf_meta_num(m, "gnf.train.lr_knee_steps", (double)tc->lr_knee_steps, 0);
    if (planned > 0 && tc->steps == 0) {
        char sched[160];
        snprintf(sched, sizeof sched, "%ld steps planned for %g s from the time of steps %ld..%ld, rounded down to a 1-2-5 grid", planned,
                 tc->seconds, cal0, cal1);
        gnf_model_set_meta(m, "gnf.train.schedule", sched);
    }
done:
    gnf_free(tr.block);
    return st;
}
