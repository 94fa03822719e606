/* metrics.c — image quality: PSNR and SSIM (mip-NeRF / scikit-image convention). */
#include "core.h"
#include <assert.h>
#include <math.h>
#include <stdlib.h>

static double clamp01(double v) { return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v; }

/* PSNR in dB of a (clamped to [0,1]) against b over n floats: -10 log10(MSE), summed in double
 * (in blocks, so long sums lose little precision).  +inf if equal, NAN if n <= 0. */
double gnf_psnr(const float *a, const float *b, long n) {
    assert(a && b);
    if (n <= 0) return NAN;
    double total = 0.0;
    for (long i = 0; i < n;) {
        long end = GNF_MIN(n, i + 4096);
        double part = 0.0;
        for (; i < end; i++) {
            double d = clamp01(a[i]) - (double)b[i];
            part += d * d;
        }
        total += part;
    }
    double mse = total / (double)n;
    return mse == 0.0 ? INFINITY : -10.0 * log10(mse);
}

#define WIN 11 /* window side: radius 5 = int(3.5 * 1.5 + 0.5), as scikit-image truncates */

/* SSIM of a (clamped to [0,1]) against b: 11×11 Gaussian window (sigma 1.5, weights summing
 * to 1), K1 = 0.01, K2 = 0.03, data range 1, population covariances, over the 'valid' windows
 * only ((h-10)×(w-10) per channel), averaged over windows and channels.  NAN if a side is
 * under 11 or memory runs out.  Sizes must match (assert).
 *
 * The filter is separable: each row is filtered horizontally into a ring of the last 11 rows
 * (five planes: x, y, x², y², xy), and each output row is their vertical weighted sum, so
 * memory is O(w) whatever the height. */
double gnf_ssim(const gnf_image *a, const gnf_image *b) {
    assert(a && b && a->px && b->px);
    assert(a->w == b->w && a->h == b->h && a->c == b->c);
    const int w = a->w, h = a->h, c = a->c;
    if (w < WIN || h < WIN) return NAN;
    const int ow = w - WIN + 1, oh = h - WIN + 1;
    const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;

    double g[WIN], gsum = 0.0;
    for (int k = 0; k < WIN; k++) {
        double t = (k - WIN / 2) / 1.5;
        g[k] = exp(-0.5 * t * t);
        gsum += g[k];
    }
    for (int k = 0; k < WIN; k++) g[k] /= gsum;

    /* ring[(r % WIN) * 5 + q] is plane q of horizontally filtered row r; then x, y rows. */
    double *mem = malloc(((size_t)WIN * 5 * ow + 2 * (size_t)w) * sizeof(double));
    if (!mem) return NAN;
    double *ring = mem, *xr = mem + (size_t)WIN * 5 * ow, *yr = xr + w;

    double total = 0.0;
    for (int ch = 0; ch < c; ch++) {
        for (int r = 0; r < h; r++) {
            const float *pa = a->px + (size_t)r * w * c + ch, *pb = b->px + (size_t)r * w * c + ch;
            for (int i = 0; i < w; i++) {
                xr[i] = clamp01(pa[(size_t)i * c]);
                yr[i] = pb[(size_t)i * c];
            }
            double *hx = ring + (size_t)(r % WIN) * 5 * ow;
            double *hy = hx + ow, *hxx = hy + ow, *hyy = hxx + ow, *hxy = hyy + ow;
            for (int j = 0; j < ow; j++) {
                double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
                for (int k = 0; k < WIN; k++) {
                    double x = xr[j + k], y = yr[j + k], gk = g[k];
                    sx += gk * x;
                    sy += gk * y;
                    sxx += gk * x * x;
                    syy += gk * y * y;
                    sxy += gk * x * y;
                }
                hx[j] = sx, hy[j] = sy, hxx[j] = sxx, hyy[j] = syy, hxy[j] = sxy;
            }
            if (r < WIN - 1) continue;
            int oy = r - (WIN - 1); /* rows oy..r are in the ring */
            double part = 0.0;
            for (int j = 0; j < ow; j++) {
                double mx = 0, my = 0, exx = 0, eyy = 0, exy = 0;
                for (int k = 0; k < WIN; k++) {
                    const double *p = ring + (size_t)((oy + k) % WIN) * 5 * ow + j;
                    double gk = g[k];
                    mx += gk * p[0];
                    my += gk * p[ow];
                    exx += gk * p[2 * ow];
                    eyy += gk * p[3 * ow];
                    exy += gk * p[4 * ow];
                }
                double vx = exx - mx * mx, vy = eyy - my * my, cxy = exy - mx * my;
                part += ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) /
                        ((mx * mx + my * my + c1) * (vx + vy + c2));
            }
            total += part;
        }
    }
    free(mem);
    return total / ((double)oh * ow * c);
}
