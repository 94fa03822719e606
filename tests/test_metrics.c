/* test_metrics.c — PSNR and SSIM against known values and a naive reference implementation. */
#include "gnf.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

static void fill_random(gnf_image *img, uint64_t seed) {
    gnf_rng r;
    gnf_rng_seed(&r, seed, 1);
    for (long i = 0; i < (long)img->w * img->h * img->c; i++) img->px[i] = gnf_rng_uniform(&r);
}

/* b = a + uniform noise of amplitude amp, clamped to [0,1]. */
static void add_noise(const gnf_image *a, gnf_image *b, float amp, uint64_t seed) {
    gnf_rng r;
    gnf_rng_seed(&r, seed, 2);
    for (long i = 0; i < (long)a->w * a->h * a->c; i++) {
        float v = a->px[i] + amp * (2.0f * gnf_rng_uniform(&r) - 1.0f);
        b->px[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

TEST(metrics_psnr) {
    enum { N = 1000 };
    float a[N], b[N];
    for (int i = 0; i < N; i++) a[i] = 0.0f, b[i] = 0.1f;
    /* 0.1f is not 0.1: compare with the exact value for the float, and loosely with 20 dB. */
    double want = -10.0 * log10((double)0.1f * (double)0.1f);
    CHECK_NEAR(gnf_psnr(a, b, N), want, 1e-9);
    CHECK_NEAR(gnf_psnr(a, b, N), 20.0, 1e-6);
    for (int i = 0; i < N; i++) b[i] = 0.5f; /* MSE 1/4 exactly */
    CHECK_NEAR(gnf_psnr(a, b, N), 10.0 * log10(4.0), 1e-12);
    /* Half the pixels off by 0.5: MSE 1/8. */
    for (int i = 0; i < N; i++) b[i] = (i & 1) ? 0.5f : 0.0f;
    CHECK_NEAR(gnf_psnr(a, b, N), 10.0 * log10(8.0), 1e-12);

    /* a is clamped to [0,1], b is not. */
    for (int i = 0; i < N; i++) a[i] = (i & 1) ? -3.0f : 7.0f, b[i] = (i & 1) ? 0.0f : 1.0f;
    CHECK(isinf(gnf_psnr(a, b, N)) && gnf_psnr(a, b, N) > 0);
    for (int i = 0; i < N; i++) a[i] = 1.5f, b[i] = 0.5f;
    CHECK_NEAR(gnf_psnr(a, b, N), 10.0 * log10(4.0), 1e-12);

    for (int i = 0; i < N; i++) a[i] = b[i] = (float)i / N;
    CHECK(isinf(gnf_psnr(a, b, N)) && gnf_psnr(a, b, N) > 0);
}

/* Naive SSIM: every 11×11 window summed directly with 2-D weights g[u] g[v]. */
static double ssim_naive(const gnf_image *a, const gnf_image *b) {
    double g[11], s = 0;
    for (int k = 0; k < 11; k++) g[k] = exp(-0.5 * ((k - 5) / 1.5) * ((k - 5) / 1.5)), s += g[k];
    for (int k = 0; k < 11; k++) g[k] /= s;
    const double c1 = 1e-4, c2 = 9e-4;
    double total = 0;
    int w = a->w, h = a->h, c = a->c;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y + 11 <= h; y++)
            for (int x = 0; x + 11 <= w; x++) {
                double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
                for (int u = 0; u < 11; u++)
                    for (int v = 0; v < 11; v++) {
                        long i = ((long)(y + u) * w + (x + v)) * c + ch;
                        double p = a->px[i], q = b->px[i], wt = g[u] * g[v];
                        p = p < 0 ? 0 : p > 1 ? 1 : p;
                        mx += wt * p, my += wt * q;
                        xx += wt * p * p, yy += wt * q * q, xy += wt * p * q;
                    }
                double vx = xx - mx * mx, vy = yy - my * my, cv = xy - mx * my;
                total += (2 * mx * my + c1) * (2 * cv + c2) /
                         ((mx * mx + my * my + c1) * (vx + vy + c2));
            }
    return total / ((double)(h - 10) * (w - 10) * c);
}

TEST(metrics_ssim_identical_and_noisy) {
    gnf_image a, b;
    CHECK_EQ_INT(gnf_image_alloc(&a, 40, 33, 3), GNF_OK);
    CHECK_EQ_INT(gnf_image_alloc(&b, 40, 33, 3), GNF_OK);
    fill_random(&a, 1);
    CHECK_NEAR(gnf_ssim(&a, &a), 1.0, 1e-12);

    add_noise(&a, &b, 0.1f, 2);
    double s_ab = gnf_ssim(&a, &b), s_ba = gnf_ssim(&b, &a);
    CHECK(s_ab < 0.999 && s_ab > 0.0);
    CHECK_NEAR(s_ab, s_ba, 1e-12); /* symmetric when both are in [0,1] */
    add_noise(&a, &b, 0.3f, 3);
    CHECK(gnf_ssim(&a, &b) < s_ab); /* more noise, lower SSIM */

    /* a is clamped: pushing a out of [0,1] where it is already at the bound changes nothing. */
    gnf_image a2;
    CHECK_EQ_INT(gnf_image_alloc(&a2, 40, 33, 3), GNF_OK);
    for (long i = 0; i < 40L * 33 * 3; i++) {
        a.px[i] = a.px[i] < 0.2f ? 0.0f : a.px[i] > 0.8f ? 1.0f : a.px[i];
        a2.px[i] = a.px[i] == 0.0f ? -0.7f : a.px[i] == 1.0f ? 1.9f : a.px[i];
    }
    CHECK(gnf_ssim(&a2, &b) == gnf_ssim(&a, &b));
    gnf_image_free(&a2);
    gnf_image_free(&a);
    gnf_image_free(&b);
}

TEST(metrics_ssim_vs_naive) {
    for (int c = 1; c <= 3; c += 2) {
        gnf_image a, b;
        CHECK_EQ_INT(gnf_image_alloc(&a, 40, 33, c), GNF_OK);
        CHECK_EQ_INT(gnf_image_alloc(&b, 40, 33, c), GNF_OK);
        fill_random(&a, 10 + (uint64_t)c);
        add_noise(&a, &b, 0.2f, 20 + (uint64_t)c);
        a.px[5] = 1.7f; /* out of range in a: both clamp it */
        double fast = gnf_ssim(&a, &b), slow = ssim_naive(&a, &b);
        CHECK_NEAR(fast, slow, 1e-9);
        /* Independent images: SSIM near 0 and still in agreement. */
        fill_random(&b, 99);
        CHECK_NEAR(gnf_ssim(&a, &b), ssim_naive(&a, &b), 1e-9);
        CHECK(fabs(gnf_ssim(&a, &b)) < 0.2);
        gnf_image_free(&a);
        gnf_image_free(&b);
    }
}

TEST(metrics_ssim_small_and_large) {
    gnf_image a, b;
    CHECK_EQ_INT(gnf_image_alloc(&a, 10, 20, 1), GNF_OK);
    CHECK(isnan(gnf_ssim(&a, &a)));
    gnf_image_free(&a);
    CHECK_EQ_INT(gnf_image_alloc(&a, 20, 10, 3), GNF_OK);
    CHECK(isnan(gnf_ssim(&a, &a)));
    gnf_image_free(&a);
    CHECK_EQ_INT(gnf_image_alloc(&a, 11, 11, 1), GNF_OK); /* exactly one window */
    CHECK_EQ_INT(gnf_image_alloc(&b, 11, 11, 1), GNF_OK);
    fill_random(&a, 4);
    add_noise(&a, &b, 0.2f, 5);
    CHECK_NEAR(gnf_ssim(&a, &b), ssim_naive(&a, &b), 1e-9);
    gnf_image_free(&a);
    gnf_image_free(&b);

    /* Kodak size: well under a second (a loose bound, as sanitizer builds are slower). */
    CHECK_EQ_INT(gnf_image_alloc(&a, 768, 512, 3), GNF_OK);
    CHECK_EQ_INT(gnf_image_alloc(&b, 768, 512, 3), GNF_OK);
    fill_random(&a, 6);
    add_noise(&a, &b, 0.05f, 7);
    double s = gnf_ssim(&a, &b);
    CHECK(s > 0.0 && s < 1.0);
    gnf_image_free(&a);
    gnf_image_free(&b);
}
