/* image.c — the image task: fit a field to an image, render it at any resolution.
 *
 * A training step (all buffers allocated once, before the first step):
 *   1. chunks of CHUNK random pixels (rng stream = (seed, step, chunk)): coordinates, targets,
 *      grid lookup, fused decoder forward+loss+backward into the chunk's own decoder-gradient
 *      block and the per-point feature gradients dF;                      [parallel over chunks]
 *   2. decoder gradients summed over chunks in chunk order;
 *   3. grid gradients: each level scattered from dF over all points in order;  [parallel over levels]
 *   4. Adam over the whole arena.                                      [parallel over ranges]
 * Every sum runs in a fixed order that does not depend on the thread count, so the same seed
 * and step count give a bit-identical model with 1 or N threads. */
#include "field/field.h"
#include "optim/adam.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHUNK 2048
#define ADAM_RANGE 16384

void gnf_train_config_default(gnf_train_config *tc) {
    memset(tc, 0, sizeof *tc);
    tc->steps = 2000;
    tc->batch = 65536;
    tc->lr0 = 1e-2f;
    tc->lr1 = 1e-3f;
    tc->lr_grid_scale = 1.0f;
    tc->loss = GNF_LOSS_L1;
    tc->adam_b1 = 0.9f;
    tc->adam_b2 = 0.99f;
    tc->adam_eps = 1e-15f;
    tc->seed = 1;
    tc->progress_every = 10;
}

/* Pixel centre (i = row, j = column) of a w×h image in [-1,1]². */
static inline void pixel_coord(float *xy, long j, long i, int w, int h) {
    xy[0] = (2.0f * ((float)j + 0.5f)) / (float)w - 1.0f;
    xy[1] = (2.0f * ((float)i + 0.5f)) / (float)h - 1.0f;
}

typedef struct {
    gnf_model *m;
    const gnf_image *img;
    const gnf_train_config *tc;
    long B, nchunks, ndec, step;
    int T;
    float *x, *t, *F, *dF, *beta;
    float *grad, *mom, *vel, *decg, *work;
    double *closs, *csq;
    float lr;
} trainer;

static long dec_grad_size(const gnf_model *m) { return m->nparams - m->dec_off; }

long gnf_fit_image_memory(const gnf_model *m, int w, int h, int c, const gnf_train_config *tc) {
    long B = tc->batch > 0 ? tc->batch : 65536;
    long nchunks = (B + CHUNK - 1) / CHUNK, D = m->D, O = m->cfg.out_dim;
    long npix = (long)w * h;
    long floats = 4 * m->nparams                      /* params, gradients, Adam m and v */
                  + nchunks * dec_grad_size(m)        /* per-chunk decoder gradients */
                  + B * (2 + O + 2 * D)               /* coordinates, targets, F, dF */
                  + D * (long)m->cfg.rbf_k            /* beta */
                  + npix * (long)c                    /* image */
                  + npix * (2 + O)                    /* full-image evaluation */
                  + (long)gnf_threads_resolve(tc->threads) * (1024 * D + rbf_work_floats(m->D, m->cfg.rbf_k));
    return floats * 4 + (long)sizeof(struct gnf_model);
}

static void chunk_task(void *vctx, long ch, int thread) {
    trainer *tr = vctx;
    gnf_model *m = tr->m;
    const gnf_image *img = tr->img;
    const int D = m->D, O = m->cfg.out_dim;
    long i0 = ch * CHUNK, n = GNF_MIN(CHUNK, tr->B - i0);
    float *x = tr->x + i0 * 2, *t = tr->t + i0 * O, *F = tr->F + i0 * D, *dF = tr->dF + i0 * D;
    gnf_rng r;
    gnf_rng_seed(&r, tr->tc->seed, ((uint64_t)tr->step << 20) ^ (uint64_t)ch);
    uint32_t npix = (uint32_t)((long)img->w * img->h);
    for (long p = 0; p < n; p++) {
        uint32_t pix = gnf_rng_below(&r, npix);
        long i = pix / (uint32_t)img->w, j = pix % (uint32_t)img->w;
        pixel_coord(x + 2 * p, j, i, img->w, img->h);
        const float *src = img->px + (size_t)pix * (size_t)O;
        for (int o = 0; o < O; o++) t[p * O + o] = src[o];
    }
    grid_encode(F, m, m->params, x, n);
    float *dg = tr->decg + ch * tr->ndec;
    memset(dg, 0, sizeof(float) * (size_t)tr->ndec);
    float scale = 1.0f / (float)((double)tr->B * O);
    double sq = 0;
    if (m->cfg.decoder == GNF_DEC_RBF) {
        rbf_grads g = {dg + (m->off_c - m->dec_off), dg + (m->off_b - m->dec_off),
                       dg + (m->off_W - m->dec_off), dg + (m->off_w0 - m->dec_off),
                       tr->work + (long)thread * rbf_work_floats(D, m->cfg.rbf_k)};
        tr->closs[ch] = rbf_train(dF, g, F, t, m->params + m->off_c, tr->beta, m->params + m->off_W,
                                  m->params + m->off_w0, n, D, m->cfg.rbf_k, O, m->cfg.basis,
                                  tr->tc->loss, scale, &sq);
    } else {
        tr->closs[ch] = mlp_train(dF, dg, m, m->params, F, t, n, tr->tc->loss, scale, &sq);
    }
    tr->csq[ch] = sq;
}

static void scatter_task(void *vctx, long l, int thread) {
    (void)thread;
    trainer *tr = vctx;
    gnf_model *m = tr->m;
    memset(tr->grad + m->grid_off[l], 0, sizeof(float) * (size_t)m->grid_size[l]);
    grid_scatter_level(tr->grad, m, (int)l, tr->x, tr->dF, tr->B);
}

static void adam_task(void *vctx, long r, int thread) {
    (void)thread;
    trainer *tr = vctx;
    long i0 = r * ADAM_RANGE, i1 = GNF_MIN(tr->m->nparams, i0 + ADAM_RANGE);
    adam_update(tr->m->params, tr->mom, tr->vel, tr->grad, i0, i1, tr->lr, tr->tc->adam_b1,
                tr->tc->adam_b2, tr->tc->adam_eps, tr->step + 1);
}

/* One training step; returns the mean loss, *sq receives the batch's squared-error sum. */
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

static double psnr_of_mse(double mse) { return mse > 0 ? -10.0 * log10(mse) : INFINITY; }

/* Full-image PSNR of the current model (coords precomputed in xy, output scratch y). */
static double full_psnr(const gnf_model *m, const gnf_image *img, const float *xy, float *y, int T) {
    long npix = (long)img->w * img->h;
    if (gnf_model_eval(m, xy, npix, y, T) != GNF_OK) return NAN;
    return gnf_psnr(y, img->px, npix * img->c);
}

gnf_status gnf_fit_image(gnf_model *m, const gnf_image *img, const gnf_train_config *tc,
                         gnf_train_report *report) {
    double t0 = gnf_now();
    double tstart = tc->start_time > 0 ? tc->start_time : t0;
    if (m->cfg.in_dim != 2 || m->cfg.out_dim != img->c)
        return gnf_fail(GNF_ERR_INVALID, "model outputs %d channels but the image has %d", m->cfg.out_dim, img->c);
    if (tc->batch < 1 || tc->batch > (1L << 26)) return gnf_fail(GNF_ERR_INVALID, "batch %ld out of range 1..2^26", tc->batch);
    if (tc->steps < 0 || tc->seconds < 0) return gnf_fail(GNF_ERR_INVALID, "negative stopping rule");
    if (!(tc->lr0 > 0) || !(tc->lr1 > 0)) return gnf_fail(GNF_ERR_INVALID, "learning rates must be positive");
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.m = m;
    tr.img = img;
    tr.tc = tc;
    tr.B = tc->batch;
    tr.nchunks = (tr.B + CHUNK - 1) / CHUNK;
    tr.ndec = dec_grad_size(m);
    tr.T = gnf_threads_resolve(tc->threads);
    const int D = m->D, O = m->cfg.out_dim;
    long npix = (long)img->w * img->h;
    tr.x = gnf_calloc((size_t)tr.B * 2, sizeof(float));
    tr.t = gnf_calloc((size_t)tr.B * (size_t)O, sizeof(float));
    tr.F = gnf_calloc((size_t)tr.B * (size_t)D, sizeof(float));
    tr.dF = gnf_calloc((size_t)tr.B * (size_t)D, sizeof(float));
    tr.beta = gnf_calloc((size_t)D * (size_t)GNF_MAX(1, m->cfg.rbf_k), sizeof(float));
    tr.grad = gnf_calloc((size_t)m->nparams, sizeof(float));
    tr.mom = gnf_calloc((size_t)m->nparams, sizeof(float));
    tr.vel = gnf_calloc((size_t)m->nparams, sizeof(float));
    tr.decg = gnf_calloc((size_t)(tr.nchunks * tr.ndec), sizeof(float));
    tr.closs = gnf_calloc((size_t)tr.nchunks, sizeof(double));
    tr.csq = gnf_calloc((size_t)tr.nchunks, sizeof(double));
    tr.work = gnf_calloc((size_t)tr.T * (size_t)rbf_work_floats(D, GNF_MAX(1, m->cfg.rbf_k)), sizeof(float));
    float *xy = gnf_calloc((size_t)npix * 2, sizeof(float));
    float *yfull = gnf_calloc((size_t)npix * (size_t)O, sizeof(float));
    gnf_status st = GNF_OK;
    if (!tr.x || !tr.t || !tr.F || !tr.dF || !tr.beta || !tr.grad || !tr.mom || !tr.vel || !tr.decg ||
        !tr.closs || !tr.csq || !tr.work || !xy || !yfull) {
        st = gnf_fail(GNF_ERR_NOMEM, "out of memory allocating training buffers (%ld bytes needed)",
                      gnf_fit_image_memory(m, img->w, img->h, img->c, tc));
        goto done;
    }
    for (long i = 0; i < img->h; i++)
        for (long j = 0; j < img->w; j++) pixel_coord(xy + 2 * (i * img->w + j), j, i, img->w, img->h);

    long eval_every = tc->eval_every > 0 ? tc->eval_every : 25;
    long pevery = tc->progress_every > 0 ? tc->progress_every : 10;
    const char *reason = "steps";
    double psnr = NAN, last_sq = 0;
    double tt0 = gnf_now();
    for (tr.step = 0;; tr.step++) {
        double elapsed = gnf_now() - tstart;
        if (tc->steps > 0 && tr.step >= tc->steps) { reason = "steps"; break; }
        if (tc->seconds > 0 && elapsed >= tc->seconds) { reason = "seconds"; break; }
        double prog = 0;
        if (tc->steps > 0) prog = (double)tr.step / (double)tc->steps;
        else if (tc->seconds > 0) prog = elapsed / tc->seconds;
        else prog = (double)tr.step / 2000.0;
        tr.lr = lr_exp_schedule(tc->lr0, tc->lr1, prog);
        double loss = train_step(&tr, &last_sq);
        long done_steps = tr.step + 1;
        double psnr_full = NAN;
        if (tc->target_psnr > 0 && done_steps % eval_every == 0) {
            psnr_full = full_psnr(m, img, xy, yfull, tr.T);
            if (psnr_full >= tc->target_psnr) {
                psnr = psnr_full;
                reason = "target-psnr";
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
            pr.psnr_est = psnr_of_mse(last_sq / ((double)tr.B * O));
            pr.psnr_full = psnr_full;
            pr.points_per_s = (double)done_steps * (double)tr.B / (gnf_now() - tt0);
            double p1 = tc->steps > 0 ? (double)done_steps / tc->steps : 0;
            double p2 = tc->seconds > 0 ? (gnf_now() - tstart) / tc->seconds : 0;
            double p3 = tc->target_psnr > 0 ? GNF_MAX(0.0, pr.psnr_est) / tc->target_psnr : 0;
            pr.progress = GNF_MIN(1.0, GNF_MAX(p1, GNF_MAX(p2, p3)));
            if (tc->progress(&pr, tc->user)) { reason = "callback"; tr.step++; break; }
        }
    }
    double train_s = gnf_now() - tt0;
    if (isnan(psnr)) psnr = full_psnr(m, img, xy, yfull, tr.T);
    if (report) {
        report->steps = tr.step;
        report->seconds = train_s;
        report->psnr = psnr;
        report->points_per_s = train_s > 0 ? (double)tr.step * (double)tr.B / train_s : 0;
        report->stop_reason = reason;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%ld", tr.step);
    gnf_model_set_meta(m, "gnf.train.steps", buf);
    snprintf(buf, sizeof buf, "%ld", tr.B);
    gnf_model_set_meta(m, "gnf.train.batch", buf);
    gnf_model_set_meta(m, "gnf.train.loss", tc->loss == GNF_LOSS_L2 ? "l2" : "l1");
    snprintf(buf, sizeof buf, "%g", (double)tc->lr0);
    gnf_model_set_meta(m, "gnf.train.lr0", buf);
    snprintf(buf, sizeof buf, "%g", (double)tc->lr1);
    gnf_model_set_meta(m, "gnf.train.lr1", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)tc->seed);
    gnf_model_set_meta(m, "gnf.train.seed", buf);
    snprintf(buf, sizeof buf, "%.3f", train_s);
    gnf_model_set_meta(m, "gnf.train.seconds", buf);
    snprintf(buf, sizeof buf, "%.4f", psnr);
    gnf_model_set_meta(m, "gnf.train.psnr", buf);
    gnf_model_set_meta(m, "gnf.train.stop", reason);
    snprintf(buf, sizeof buf, "%d", img->w);
    gnf_model_set_meta(m, "gnf.image.width", buf);
    snprintf(buf, sizeof buf, "%d", img->h);
    gnf_model_set_meta(m, "gnf.image.height", buf);
done:
    gnf_free(tr.x); gnf_free(tr.t); gnf_free(tr.F); gnf_free(tr.dF); gnf_free(tr.beta);
    gnf_free(tr.grad); gnf_free(tr.mom); gnf_free(tr.vel); gnf_free(tr.decg);
    gnf_free(tr.closs); gnf_free(tr.csq); gnf_free(tr.work); gnf_free(xy); gnf_free(yfull);
    return st;
}

gnf_status gnf_render_image(const gnf_model *m, int w, int h, int threads, gnf_image *out) {
    memset(out, 0, sizeof *out);
    if (w < 1 || h < 1 || (long)w * h > (1L << 28))
        return gnf_fail(GNF_ERR_INVALID, "render size %dx%d out of range", w, h);
    if (m->cfg.in_dim != 2) return gnf_fail(GNF_ERR_INVALID, "not an image model");
    int O = m->cfg.out_dim;
    if (O != 1 && O != 3) return gnf_fail(GNF_ERR_UNSUPPORTED, "image model with %d channels", O);
    gnf_status st = gnf_image_alloc(out, w, h, O);
    if (st != GNF_OK) return st;
    /* blocks of rows bound the coordinate scratch for huge renders */
    long rows_per = GNF_MAX(1, 65536 / w);
    float *xyb = gnf_calloc((size_t)(w * rows_per * 2), sizeof(float));
    if (!xyb) { gnf_image_free(out); return gnf_fail(GNF_ERR_NOMEM, "out of memory rendering"); }
    for (long i0 = 0; i0 < h && st == GNF_OK; i0 += rows_per) {
        long nr = GNF_MIN(rows_per, h - i0);
        for (long i = 0; i < nr; i++)
            for (long j = 0; j < w; j++) pixel_coord(xyb + 2 * (i * w + j), j, i0 + i, w, h);
        st = gnf_model_eval(m, xyb, nr * w, out->px + i0 * w * O, threads);
    }
    for (long i = 0; i < (long)w * h * O; i++) out->px[i] = out->px[i] < 0 ? 0 : (out->px[i] > 1 ? 1 : out->px[i]);
    gnf_free(xyb);
    if (st != GNF_OK) gnf_image_free(out);
    return st;
}
