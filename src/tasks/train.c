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
 *   4. Adam over the whole arena (lazily for untouched grid entries when the task asks);
 *                                                                          [parallel over ranges]
 *   5. the task's after-step hook, the quality check, progress and the stopping rules.
 * Every sum runs in a fixed order that does not depend on the thread count, so the same seed
 * and step count give a bit-identical model with 1 or N threads. */
#include "tasks/train.h"
#include "optim/adam.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ADAM_RANGE 16384
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
    double *closs, *csq;
    float lr;
    double phase[8];
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
    return n;
}

long gnf_train_memory(const gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops) {
    trainer tr;
    gnf_buf b[16];
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

static void scatter_task(void *vctx, long l, int thread) {
    (void)thread;
    trainer *tr = vctx;
    gnf_model *m = tr->m;
    memset(tr->grad + m->grid_off[l], 0, sizeof(float) * (size_t)m->grid_size[l]);
    gnf_grid_scatter_level(tr->grad, m, (int)l, tr->b.x, tr->dF, tr->b.n);
}

static void adam_task(void *vctx, long r, int thread) {
    (void)thread;
    trainer *tr = vctx;
    const gnf_train_config *tc = tr->tc;
    long i0 = r * ADAM_RANGE, i1 = GNF_MIN(tr->m->nparams, i0 + ADAM_RANGE);
    long g1 = GNF_MAX(i0, GNF_MIN(i1, tr->m->dec_off));   /* [i0, g1) grids, [g1, i1) decoder */
    float lrg = tr->lr * (tc->lr_grid_scale > 0 ? tc->lr_grid_scale : 1.0f);
    if (i0 < g1 && tr->ops->lazy_grid_adam)   /* grid entries no sample touched keep their state */
        gnf_adam_update_lazy(tr->m->params, tr->mom, tr->vel, tr->grad, i0, g1, lrg, tc->adam_b1, tc->adam_b2,
                             tc->adam_eps, tr->s.step + 1);
    else if (i0 < g1)
        gnf_adam_update(tr->m->params, tr->mom, tr->vel, tr->grad, i0, g1, lrg, tc->adam_b1, tc->adam_b2,
                        tc->adam_eps, tr->s.step + 1);
    if (g1 < i1)
        gnf_adam_update(tr->m->params, tr->mom, tr->vel, tr->grad, g1, i1, tr->lr, tc->adam_b1, tc->adam_b2,
                        tc->adam_eps, tr->s.step + 1);
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
    gnf_parallel_for((m->nparams + ADAM_RANGE - 1) / ADAM_RANGE, tr->T, adam_task, tr);
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
    tr.s = (gnf_step){m, 0, NULL, tr.T, tr.phase};
    gnf_buf bufs[16];
    if (!gnf_alloc_bufs(bufs, trainer_bufs(&tr, bufs), &tr.block))
        return gnf_fail(GNF_ERR_NOMEM, "out of memory allocating training buffers (%ld bytes needed)",
                        gnf_train_memory(m, tc, ops));
    if (!ops->batch) tr.b.x = tr.x;
    gnf_status st = GNF_OK;
    tr.s.beta = tr.beta;
    const long eval_every = tc->eval_every > 0 ? tc->eval_every : 25;
    const int measure = ops->quality && (ops->target > 0 || tc->eval_every > 0);
    const long pevery = tc->progress_every > 0 ? tc->progress_every : 10;
    const char *reason = "steps";
    double quality = NAN, samples = 0;
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
