/* train.c — the training loop shared by every task.
 *
 * A training step (all buffers allocated once, before the first step):
 *   1. chunks of GNF_TRAIN_CHUNK samples from the task (rng stream = (seed, step, chunk)), grid
 *      lookup, fused decoder forward+loss+backward into the chunk's own decoder-gradient block
 *      and the per-sample feature gradients dF;                               [parallel over chunks]
 *   2. decoder gradients summed over chunks in chunk order;
 *   3. grid gradients: each level scattered from dF over all samples in order; [parallel over levels]
 *   4. Adam over the whole arena.                                         [parallel over ranges]
 * Every sum runs in a fixed order that does not depend on the thread count, so the same seed
 * and step count give a bit-identical model with 1 or N threads. */
#include "tasks/train.h"
#include "optim/adam.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ADAM_RANGE 16384

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

typedef struct {
    gnf_model *m;
    const gnf_train_config *tc;
    const gnf_task_ops *ops;
    long B, nchunks, ndec, step;
    int T;
    float *x, *t, *w, *F, *dF, *beta;
    float *grad, *mom, *vel, *decg, *work;
    double *closs, *csq;
    float lr;
} trainer;

static long dec_grad_size(const gnf_model *m) { return m->nparams - m->dec_off; }

long gnf_train_memory(const gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops) {
    long B = tc->batch > 0 ? tc->batch : 8192;
    long nchunks = (B + GNF_TRAIN_CHUNK - 1) / GNF_TRAIN_CHUNK, D = m->D, O = m->cfg.out_dim;
    long floats = 4 * m->nparams                          /* params, gradients, Adam m and v */
                  + nchunks * dec_grad_size(m)            /* per-chunk decoder gradients */
                  + B * (m->cfg.in_dim + O + 1 + 2 * D)   /* coordinates, targets, weights, F, dF */
                  + D * (long)m->cfg.rbf_k                /* beta */
                  + (long)gnf_threads_resolve(tc->threads) * (1024 * D + gnf_rbf_work_floats(m->D, m->cfg.rbf_k))
                  + (ops ? ops->extra_floats : 0);
    return floats * 4 + (long)sizeof(struct gnf_model);
}

static void chunk_task(void *vctx, long ch, int thread) {
    trainer *tr = vctx;
    gnf_model *m = tr->m;
    const int D = m->D, O = m->cfg.out_dim, dim = m->cfg.in_dim;
    long i0 = ch * GNF_TRAIN_CHUNK, n = GNF_MIN(GNF_TRAIN_CHUNK, tr->B - i0);
    float *x = tr->x + i0 * dim, *t = tr->t + i0 * O, *F = tr->F + i0 * D, *dF = tr->dF + i0 * D;
    float *w = tr->ops->weighted ? tr->w + i0 : NULL;
    gnf_rng r;
    gnf_rng_seed(&r, tr->tc->seed, ((uint64_t)tr->step << 20) ^ (uint64_t)ch);
    tr->ops->sample(tr->ops->user, tr->step, ch, &r, n, x, t, w);
    gnf_grid_encode(F, m, m->params, x, n);
    float *dg = tr->decg + ch * tr->ndec;
    memset(dg, 0, sizeof(float) * (size_t)tr->ndec);
    float scale = 1.0f / (float)((double)tr->B * O);
    double sq = 0;
    if (m->cfg.decoder == GNF_DEC_RBF) {
        rbf_grads g = {dg + (m->off_c - m->dec_off), dg + (m->off_b - m->dec_off),
                       dg + (m->off_W - m->dec_off), dg + (m->off_w0 - m->dec_off),
                       tr->work + (long)thread * gnf_rbf_work_floats(D, m->cfg.rbf_k)};
        tr->closs[ch] = gnf_rbf_train(dF, g, F, t, w, m->params + m->off_c, tr->beta, m->params + m->off_W,
                                  m->params + m->off_w0, n, D, m->cfg.rbf_k, O, m->cfg.basis,
                                  tr->tc->loss, scale, &sq);
    } else {
        tr->closs[ch] = gnf_mlp_train(dF, dg, m, m->params, F, t, w, n, tr->tc->loss, scale, &sq);
    }
    tr->csq[ch] = sq;
}

static void scatter_task(void *vctx, long l, int thread) {
    (void)thread;
    trainer *tr = vctx;
    gnf_model *m = tr->m;
    memset(tr->grad + m->grid_off[l], 0, sizeof(float) * (size_t)m->grid_size[l]);
    gnf_grid_scatter_level(tr->grad, m, (int)l, tr->x, tr->dF, tr->B);
}

static void adam_task(void *vctx, long r, int thread) {
    (void)thread;
    trainer *tr = vctx;
    long i0 = r * ADAM_RANGE, i1 = GNF_MIN(tr->m->nparams, i0 + ADAM_RANGE);
    gnf_adam_update(tr->m->params, tr->mom, tr->vel, tr->grad, i0, i1, tr->lr, tr->tc->adam_b1,
                tr->tc->adam_b2, tr->tc->adam_eps, tr->step + 1);
}

/* One training step; returns the loss, *sq receives the batch's squared-error sum. */
static double train_step(trainer *tr, double *sq) {
    gnf_model *m = tr->m;
    if (m->cfg.decoder == GNF_DEC_RBF) gnf_rbf_beta(tr->beta, m, m->params);
    gnf_parallel_for(tr->nchunks, tr->T, chunk_task, tr);
    float *gd = tr->grad + m->dec_off;
    memcpy(gd, tr->decg, sizeof(float) * (size_t)tr->ndec);
    for (long ch = 1; ch < tr->nchunks; ch++) {
        const float *src = tr->decg + ch * tr->ndec;
        for (long i = 0; i < tr->ndec; i++) gd[i] += src[i];
    }
    gnf_parallel_for(m->cfg.levels, tr->T, scatter_task, tr);
    gnf_parallel_for((m->nparams + ADAM_RANGE - 1) / ADAM_RANGE, tr->T, adam_task, tr);
    double loss = 0;
    *sq = 0;
    for (long ch = 0; ch < tr->nchunks; ch++) { loss += tr->closs[ch]; *sq += tr->csq[ch]; }
    return loss;
}

/* Records v in the metadata, as an integer when digits == 0. */
static void set_meta_num(gnf_model *m, const char *key, int digits, double v) {
    char buf[64];
    if (digits == 0) snprintf(buf, sizeof buf, "%.0f", v);
    else snprintf(buf, sizeof buf, "%.*g", digits, v);
    gnf_model_set_meta(m, key, buf);
}

gnf_status gnf_train(gnf_model *m, const gnf_train_config *tc, const gnf_task_ops *ops,
                     gnf_train_report *report) {
    double t0 = gnf_now();
    double tstart = tc->start_time > 0 ? tc->start_time : t0;
    if (tc->batch < 1 || tc->batch > (1L << 26)) return gnf_fail(GNF_ERR_INVALID, "batch %ld out of range 1..2^26", tc->batch);
    if (tc->steps < 0 || tc->seconds < 0) return gnf_fail(GNF_ERR_INVALID, "negative stopping rule");
    if (!(tc->lr0 > 0) || !(tc->lr1 > 0)) return gnf_fail(GNF_ERR_INVALID, "learning rates must be positive");
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.m = m;
    tr.tc = tc;
    tr.ops = ops;
    tr.B = tc->batch;
    tr.nchunks = (tr.B + GNF_TRAIN_CHUNK - 1) / GNF_TRAIN_CHUNK;
    tr.ndec = dec_grad_size(m);
    tr.T = gnf_threads_resolve(tc->threads);
    const int D = m->D, O = m->cfg.out_dim, dim = m->cfg.in_dim;
    tr.x = gnf_calloc((size_t)tr.B * (size_t)dim, sizeof(float));
    tr.t = gnf_calloc((size_t)tr.B * (size_t)O, sizeof(float));
    tr.w = gnf_calloc((size_t)tr.B, sizeof(float));
    tr.F = gnf_calloc((size_t)tr.B * (size_t)D, sizeof(float));
    tr.dF = gnf_calloc((size_t)tr.B * (size_t)D, sizeof(float));
    tr.beta = gnf_calloc((size_t)D * (size_t)GNF_MAX(1, m->cfg.rbf_k), sizeof(float));
    tr.grad = gnf_calloc((size_t)m->nparams, sizeof(float));
    tr.mom = gnf_calloc((size_t)m->nparams, sizeof(float));
    tr.vel = gnf_calloc((size_t)m->nparams, sizeof(float));
    tr.decg = gnf_calloc((size_t)(tr.nchunks * tr.ndec), sizeof(float));
    tr.closs = gnf_calloc((size_t)tr.nchunks, sizeof(double));
    tr.csq = gnf_calloc((size_t)tr.nchunks, sizeof(double));
    tr.work = gnf_calloc((size_t)tr.T * (size_t)gnf_rbf_work_floats(D, GNF_MAX(1, m->cfg.rbf_k)), sizeof(float));
    gnf_status st = GNF_OK;
    if (!tr.x || !tr.t || !tr.w || !tr.F || !tr.dF || !tr.beta || !tr.grad || !tr.mom || !tr.vel || !tr.decg ||
        !tr.closs || !tr.csq || !tr.work) {
        st = gnf_fail(GNF_ERR_NOMEM, "out of memory allocating training buffers (%ld bytes needed)",
                      gnf_train_memory(m, tc, ops));
        goto done;
    }
    long eval_every = tc->eval_every > 0 ? tc->eval_every : 25;
    long pevery = tc->progress_every > 0 ? tc->progress_every : 10;
    const char *reason = "steps";
    double quality = NAN, last_sq = 0;
    double tt0 = gnf_now();
    for (tr.step = 0;; tr.step++) {
        double elapsed = gnf_now() - tstart;
        if (tc->steps > 0 && tr.step >= tc->steps) { reason = "steps"; break; }
        if (tc->seconds > 0 && elapsed >= tc->seconds) { reason = "seconds"; break; }
        double prog = 0;
        if (tc->steps > 0) prog = (double)tr.step / (double)tc->steps;
        else if (tc->seconds > 0) prog = elapsed / tc->seconds;
        else prog = (double)tr.step / 2000.0;
        tr.lr = gnf_lr_exp_schedule(tc->lr0, tc->lr1, prog);
        double loss = train_step(&tr, &last_sq);
        long done_steps = tr.step + 1;
        double q_full = NAN;
        if (ops->target > 0 && ops->quality && done_steps % eval_every == 0) {
            q_full = ops->quality(ops->user, m, tr.T);
            if (q_full >= ops->target) {
                quality = q_full;
                reason = "target";
                tr.step++;
                break;
            }
        }
        if (tc->progress && (done_steps % pevery == 0 || done_steps == tc->steps)) {
            gnf_progress pr;
            pr.step = done_steps;
            pr.steps = tc->steps;
            pr.elapsed_s = gnf_now() - t0;
            pr.loss = loss;
            pr.quality_est = ops->estimate ? ops->estimate(ops->user, last_sq, tr.B) : NAN;
            pr.quality = q_full;
            pr.points_per_s = (double)done_steps * (double)tr.B / (gnf_now() - tt0);
            double p1 = tc->steps > 0 ? (double)done_steps / tc->steps : 0;
            double p2 = tc->seconds > 0 ? (gnf_now() - tstart) / tc->seconds : 0;
            double p3 = ops->target > 0 && isfinite(pr.quality_est) ? GNF_MAX(0.0, pr.quality_est) / ops->target : 0;
            pr.progress = GNF_MIN(1.0, GNF_MAX(p1, GNF_MAX(p2, p3)));
            if (tc->progress(&pr, tc->user)) { reason = "callback"; tr.step++; break; }
        }
    }
    double train_s = gnf_now() - tt0;
    if (isnan(quality) && ops->quality) quality = ops->quality(ops->user, m, tr.T);
    if (report) {
        report->steps = tr.step;
        report->seconds = train_s;
        report->quality = quality;
        report->points_per_s = train_s > 0 ? (double)tr.step * (double)tr.B / train_s : 0;
        report->stop_reason = reason;
        memset(report->phase_s, 0, sizeof report->phase_s);
    }
    set_meta_num(m, "gnf.train.steps", 0, (double)tr.step);
    set_meta_num(m, "gnf.train.batch", 0, (double)tr.B);
    gnf_model_set_meta(m, "gnf.train.loss", tc->loss == GNF_LOSS_L2 ? "l2" : "l1");
    set_meta_num(m, "gnf.train.lr0", 6, (double)tc->lr0);
    set_meta_num(m, "gnf.train.lr1", 6, (double)tc->lr1);
    set_meta_num(m, "gnf.train.seed", 0, (double)tc->seed);
    /* no wall-clock time in the file: the same seed and settings must give the same bytes */
    gnf_model_set_meta(m, "gnf.train.stop", reason);
done:
    gnf_free(tr.x); gnf_free(tr.t); gnf_free(tr.w); gnf_free(tr.F); gnf_free(tr.dF); gnf_free(tr.beta);
    gnf_free(tr.grad); gnf_free(tr.mom); gnf_free(tr.vel); gnf_free(tr.decg);
    gnf_free(tr.closs); gnf_free(tr.csq); gnf_free(tr.work);
    return st;
}
