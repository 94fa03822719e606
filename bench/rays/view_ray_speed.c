/* view_ray_speed.c — gnf_view_ray with and without lens distortion, 10^6 pixels of an 800x600 view.
 * gcc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc bench/rays/view_ray_speed.c build/release/libgnf.a \
 *     -o /tmp/view_ray_speed -lpng -ljpeg -lcjson -lz -lm -lpthread && /tmp/view_ray_speed */
#include "io/scene.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(void) {
    gnf_view v; memset(&v, 0, sizeof v);
    v.w = 800; v.h = 600; v.fx = v.fy = 700; v.cx = 400; v.cy = 300;
    v.c2w[0] = v.c2w[5] = v.c2w[10] = 1;
    const double k[5] = {0.8, 0.2, 0.1, 0.004, -0.004};
    for (int pass = 0; pass < 2; pass++) {
        if (pass) { memcpy(v.dist, k, sizeof k); v.distorted = 1; }
        double s = 0, t0 = now();
        float o[3], d[3];
        for (int r = 0; r < 1000000; r++) {
            gnf_view_ray(&v, (float)(r % 800) + 0.5f, (float)((r / 800) % 600) + 0.5f, o, d);
            s += d[0];
        }
        printf("%s: %.1f ns per ray (checksum %g)\n", pass ? "distorted (k1 .8 k2 .2 k3 .1 p1 .004 p2 -.004)" : "pinhole", (now() - t0) * 1e3, s);
    }
    return 0;
}
