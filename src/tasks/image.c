/* image.c — the image task: fit a field to an image (samples: random pixels, quality: full-image
 * PSNR), render it at any resolution.  The training loop itself is train.c. */
#include "tasks/train.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Pixel centre (i = row, j = column) of a w×h image in [-1,1]². */
static inline void pixel_coord(float *xy, long j, long i, int w, int h) {
    xy[0] = (2.0f * ((float)j + 0.5f)) / (float)w - 1.0f;
    xy[1] = (2.0f * ((float)i + 0.5f)) / (float)h - 1.0f;
}

typedef struct {
    const gnf_image *img;
    float *xy;     /* pixel centres of the whole image, for the full-image PSNR */
    float *y;      /* model output scratch */
} image_task;

static void image_sample(void *user, long step, long chunk, gnf_rng *r, long n, float *x, float *t, float *w) {
    (void)step; (void)chunk; (void)w;
    const image_task *it = user;
    const gnf_image *img = it->img;
    const int O = img->c;
    uint32_t npix = (uint32_t)((long)img->w * img->h);
    /* all draws first, each pixel's colours prefetched, then the reads: a large picture does not
     * fit in cache, and the reads would otherwise wait for their misses one after another */
    uint32_t pixs[GNF_TRAIN_CHUNK];
    for (long b = 0; b < n; b += GNF_TRAIN_CHUNK) {
        long nb = GNF_MIN(GNF_TRAIN_CHUNK, n - b);
        for (long q = 0; q < nb; q++) {
            pixs[q] = gnf_rng_below(r, npix);
            __builtin_prefetch(img->px + (size_t)pixs[q] * (size_t)O);
        }
        for (long q = 0; q < nb; q++) {
            long p = b + q;
            uint32_t pix = pixs[q];
            long i = pix / (uint32_t)img->w, j = pix % (uint32_t)img->w;
            pixel_coord(x + 2 * p, j, i, img->w, img->h);
            const float *src = img->px + (size_t)pix * (size_t)O;
            for (int o = 0; o < O; o++) t[p * O + o] = src[o];
        }
    }
}

static double image_quality(void *user, const gnf_model *m, int threads) {
    image_task *it = user;
    long npix = (long)it->img->w * it->img->h;
    if (gnf_model_eval(m, it->xy, npix, it->y, threads) != GNF_OK) return NAN;
    return gnf_psnr(it->y, it->img->px, npix * it->img->c);
}

static double image_estimate(void *user, double loss, double sq, long batch) {
    (void)loss;
    const image_task *it = user;
    double mse = sq / ((double)batch * it->img->c);
    return mse > 0 ? -10.0 * log10(mse) : INFINITY;
}

/* The picture: what a checkpoint must continue on.  Sampling keeps no state between steps. */
static uint64_t image_fingerprint(void *user) {
    const gnf_image *img = ((const image_task *)user)->img;
    const int32_t size[3] = {img->w, img->h, img->c};
    return gnf_train_hash(gnf_train_hash(0, size, sizeof size), img->px, sizeof(float) * (size_t)img->w * img->h * img->c);
}

static gnf_task_ops image_ops(image_task *it, const gnf_train_config *tc) {
    long npix = (long)it->img->w * it->img->h;
    gnf_task_ops ops = {.sample = image_sample, .quality = image_quality, .target = tc->target_psnr,
                        .estimate = image_estimate, .loss_name = tc->loss == GNF_LOSS_L2 ? "l2" : "l1",
                        .fingerprint = image_fingerprint, .user = it, .extra_bytes = npix * (2 * it->img->c + 2) * 4};
    /* dense Adam on the grids (lazy_grid_adam 0): untouched entries keep moving with their
     * momentum, and that is worth 0.56 dB on the 256x256 crop and 6.6 dB on a 768x512 image at 1M
     * parameters after 2000 steps (bench/README.md, "Step cost vs model size") */
    return ops;
}

long gnf_fit_image_memory(const gnf_model *m, int w, int h, int c, const gnf_train_config *tc) {
    gnf_image img = {w, h, c, NULL};
    image_task it = {&img, NULL, NULL};
    gnf_task_ops ops = image_ops(&it, tc);
    return gnf_train_memory(m, tc, &ops);
}

gnf_status gnf_fit_image(gnf_model *m, const gnf_image *img, const gnf_train_config *tc,
                         gnf_train_report *report) {
    if (m->cfg.in_dim != 2 || m->cfg.out_dim != img->c)
        return gnf_fail(GNF_ERR_INVALID, "model outputs %d channels but the image has %d", m->cfg.out_dim, img->c);
    long npix = (long)img->w * img->h;
    image_task it = {img, gnf_calloc((size_t)npix * 2, sizeof(float)), gnf_calloc((size_t)npix * (size_t)img->c, sizeof(float))};
    if (!it.xy || !it.y) {
        gnf_free(it.xy);
        gnf_free(it.y);
        return gnf_fail(GNF_ERR_NOMEM, "out of memory for a %dx%d image", img->w, img->h);
    }
    for (long i = 0; i < img->h; i++)
        for (long j = 0; j < img->w; j++) pixel_coord(it.xy + 2 * (i * img->w + j), j, i, img->w, img->h);
    gnf_task_ops ops = image_ops(&it, tc);
    gnf_train_report rep;
    gnf_status st = gnf_train(m, tc, &ops, &rep);
    if (st == GNF_OK) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.4f", rep.quality);
        gnf_model_set_meta(m, "gnf.train.psnr", buf);
        gnf_meta_num(m, "gnf.image.width", img->w, 0);
        gnf_meta_num(m, "gnf.image.height", img->h, 0);
        if (report) *report = rep;
    }
    gnf_free(it.xy);
    gnf_free(it.y);
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
