/* test_nerf.c — the radiance-field task: ray/box intersection and occupancy-guided marching
 * against brute force, orbit cameras, the occupancy grid's storage in a model, test-time
 * rendering (waves, colour only where the weight matters) against a plain reference renderer,
 * determinism across thread counts, and an end-to-end fit of the lego scene to a PSNR threshold. */
#include "test.h"
#include "tasks/nerf_internal.h"
#include "field/nerf_head.h"
#include <stdlib.h>
#include <math.h>
#include <string.h>

TEST(nerf_ray_box_hits_and_misses) {
    float o[3] = {0, 0, 5}, d[3] = {0, 0, -1}, t0, t1;
    CHECK(gnf_nerf_ray_box(o, d, 1.5f, &t0, &t1));
    CHECK_NEAR(t0, 3.5, 1e-6);
    CHECK_NEAR(t1, 6.5, 1e-6);
    float o2[3] = {3, 0, 5};
    CHECK(!gnf_nerf_ray_box(o2, d, 1.5f, &t0, &t1));       /* parallel to z, outside in x */
    float o3[3] = {0, 0, 0};
    CHECK(gnf_nerf_ray_box(o3, d, 1.5f, &t0, &t1));        /* starts inside: t0 = 0 */
    CHECK_NEAR(t0, 0, 0);
    CHECK_NEAR(t1, 1.5, 1e-6);
    float d4[3] = {0, 0, 1};
    CHECK(!gnf_nerf_ray_box(o, d4, 1.5f, &t0, &t1));       /* pointing away */
    /* diagonal through a corner region: brute force by stepping */
    gnf_rng r;
    gnf_rng_seed(&r, 3, 4);
    for (int it = 0; it < 200; it++) {
        float oo[3], dd[3];
        for (int a = 0; a < 3; a++) oo[a] = test_urand(&r, -4, 4);
        test_rand_dir(&r, dd);
        int hit = gnf_nerf_ray_box(oo, dd, 1.5f, &t0, &t1);
        int inside_any = 0;
        float first = -1, last = -1;
        for (int k = 0; k <= 20000; k++) {
            float t = k * 0.001f;
            float p[3] = {oo[0] + t * dd[0], oo[1] + t * dd[1], oo[2] + t * dd[2]};
            int in = fabsf(p[0]) <= 1.5f && fabsf(p[1]) <= 1.5f && fabsf(p[2]) <= 1.5f;
            if (in) { if (!inside_any) first = t; inside_any = 1; last = t; }
        }
        CHECK_EQ_INT(hit, inside_any);
        if (hit && inside_any) {
            CHECK_NEAR(t0, first, 2e-3);
            CHECK_NEAR(t1, last, 2e-3);
        }
    }
}

/* Marching with an occupancy grid gives exactly the lattice points that lie in occupied cells
 * (brute force: every lattice point, classified), in order, and honours cap and *t. */
TEST(nerf_march_matches_brute_force) {
    const int G = 32;
    nerf_space sp = {1.5f, 0.01f, 25.0f, G, calloc((size_t)G * G * G, 1), NULL, {0}, {0}};
    gnf_rng r;
    gnf_rng_seed(&r, 9, 1);
    /* sparse cells clustered in a few coarse blocks, so both the cell and the block skips run */
    for (int i = 0; i < G * G * G; i++) {
        int x = i % G, y = (i / G) % G, z = i / (G * G);
        int block = (x / 8 + y / 8 + z / 8) % 3 == 0;
        sp.occ[i] = block && gnf_rng_uniform(&r) < 0.3f;
    }
    int with_coarse = 0;
    float *x = malloc(sizeof(float) * 3 * 4096), *ts = malloc(sizeof(float) * 4096);
    long total = 0;
again:
    for (int it = 0; it < 300; it++) {
        float o[3], d[3], t0, t1;
        float aim[3], dn = 0;
        for (int a = 0; a < 3; a++) { o[a] = test_urand(&r, -4, 4); aim[a] = test_urand(&r, -1.5f, 1.5f); }
        for (int a = 0; a < 3; a++) { d[a] = aim[a] - o[a]; dn += d[a] * d[a]; }
        for (int a = 0; a < 3; a++) d[a] /= sqrtf(dn);
        if (it % 10 == 0) test_rand_dir(&r, d);  /* some rays miss the box */
        if (!gnf_nerf_ray_box(o, d, sp.box, &t0, &t1)) continue;
        float start = t0 + test_urand(&r, 0, sp.dt), t = start;
        long n = gnf_nerf_march(&sp, o, d, &t, t1, 4096, x, ts);
        total += n;
        /* brute force */
        long k = 0, bad = 0;
        for (long i = 0;; i++) {
            float tt = start + (float)i * sp.dt;
            if (tt >= t1) break;
            int ci[3];
            for (int a = 0; a < 3; a++) {
                float p = o[a] + tt * d[a];
                int c = (int)floorf((p + sp.box) * (float)G / (2 * sp.box));
                ci[a] = c < 0 ? 0 : c >= G ? G - 1 : c;
            }
            if (!sp.occ[ci[0] + G * (ci[1] + G * ci[2])]) continue;
            if (k >= n || fabsf(ts[k] - tt) > 1e-4f) bad++;
            else
                for (int a = 0; a < 3; a++) if (fabsf(x[3 * k + a] - (o[a] + tt * d[a]) / sp.box) > 1e-4f) bad++;
            k++;
        }
        /* a lattice point within rounding of a cell face may be classified either way */
        CHECK_MSG(bad <= 1 && labs(k - n) <= 1, "ray %d: %ld samples, brute force %ld, %ld mismatches", it, n, k, bad);
        /* resuming from *t with a cap gives the same samples in pieces */
        float t2 = start;
        long got = 0;
        float piece_ts[4096];
        while (got < n) {
            long m = gnf_nerf_march(&sp, o, d, &t2, t1, 7, NULL, piece_ts + got);
            if (m == 0) break;
            got += m;
        }
        CHECK_EQ_INT(got, n);
        for (long i = 0; i < GNF_MIN(got, n); i++) CHECK_NEAR(piece_ts[i], ts[i], 1e-4);
    }
    CHECK_MSG(total > 1000, "total %ld", total);
    if (!with_coarse) {
        CHECK(gnf_nerf_space_update_coarse(&sp, 0) == GNF_OK);
        CHECK(sp.coarse != NULL);
        with_coarse = 1;
        total = 0;
        gnf_rng_seed(&r, 9, 2);
        goto again;
    }
    free(sp.occ); gnf_free(sp.coarse); free(x); free(ts);
}

static gnf_model *tiny_nerf_model_k(uint64_t seed, int K) {
    gnf_model_config cfg;
    CHECK(gnf_nerf_model_config(&cfg, 60000) == GNF_OK);
    cfg.seed = seed;
    if (K > 0) cfg.rbf_k = K;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_NERF, &m) == GNF_OK);
    return m;
}

static gnf_model *tiny_nerf_model(uint64_t seed) { return tiny_nerf_model_k(seed, 0); }

TEST(nerf_occupancy_roundtrip_and_corruption) {
    gnf_model *m = tiny_nerf_model(1);
    if (!m) return;
    const int G = 32;
    nerf_space sp = {1.5f, 0.01f, 25.0f, G, calloc((size_t)G * G * G, 1), NULL, {0}, {0}};
    gnf_rng r;
    gnf_rng_seed(&r, 5, 5);
    for (int i = 0; i < G * G * G; i++) sp.occ[i] = gnf_rng_uniform(&r) < 0.3f;
    CHECK(gnf_nerf_occupancy_store(m, &sp) == GNF_OK);
    nerf_space back = {0};
    CHECK(gnf_nerf_occupancy_load(m, &back) == GNF_OK);
    CHECK_EQ_INT(back.G, G);
    CHECK(back.occ && memcmp(back.occ, sp.occ, (size_t)G * G * G) == 0);
    gnf_free(back.occ);
    const char *good = gnf_model_get_meta(m, "gnf.nerf.occupancy");
    char *copy = strdup(good);
    const char *bad[] = {"", "32", "x:AAAA", "32:", "32:AAA", "32:A*AA", "2000:AAAA", "32:AAAAAAAA", copy};
    copy[strlen(copy) / 2] = copy[strlen(copy) / 2] == 'A' ? 'B' : 'A'; /* corrupt the zlib stream */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gnf_model_set_meta(m, "gnf.nerf.occupancy", bad[i]);
        nerf_space b2 = {0};
        gnf_status st = gnf_nerf_occupancy_load(m, &b2);
        CHECK_MSG(st == GNF_ERR_FORMAT, "case %zu: status %d", i, (int)st);
        CHECK(b2.occ == NULL);
        gnf_free(b2.occ);
    }
    free(copy);
    free(sp.occ);
    gnf_model_free(m);
}

TEST(nerf_orbit_camera_looks_at_origin) {
    gnf_camera base = {64, 48, 50, 50, 32, 24, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}}, c;
    const float az[] = {0, 37, 190, -75}, el[] = {0, 30, -20, 60};
    for (int i = 0; i < 4; i++) {
        gnf_nerf_orbit_camera(&base, az[i], el[i], 4.0f, &c);
        float pos[3] = {c.c2w[3], c.c2w[7], c.c2w[11]};
        CHECK_NEAR(sqrt(pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2]), 4.0, 1e-5);
        /* the optical axis (-z column) points at the origin; columns orthonormal */
        for (int a = 0; a < 3; a++) CHECK_NEAR(-c.c2w[4 * a + 2], -pos[a] / 4.0f, 1e-5);
        for (int p = 0; p < 3; p++)
            for (int q = 0; q < 3; q++) {
                double dot = 0;
                for (int a = 0; a < 3; a++) dot += c.c2w[4 * a + p] * c.c2w[4 * a + q];
                CHECK_NEAR(dot, p == q ? 1.0 : 0.0, 1e-5);
            }
        CHECK(c.c2w[4 * 2 + 1] >= -1e-6f); /* camera up has a non-negative world z: z is up */
        CHECK_EQ_INT(c.w, 64);
        CHECK_NEAR(c.fx, 50, 0);
    }
}

/* A small random field with visible density: grid features spread out, density bias so that the
 * box is semi-transparent, all cells occupied (stored in the model like a trained one). */
static gnf_model *random_visible_field(void) {
    gnf_model *m = tiny_nerf_model(7);
    if (!m) return NULL;
    gnf_rng r;
    gnf_rng_seed(&r, 7, 7);
    for (long i = 0; i < m->dec_off; i++) m->params[i] = test_urand(&r, -0.5f, 0.5f);
    for (long i = m->off_W; i < m->off_w0; i++) m->params[i] = test_urand(&r, -1, 1);
    m->params[m->off_w0] = 9.5f; /* softplus(y0 - 10) ~ 0.5: alpha ~ 0.06 per step */
    const int G = 16;
    nerf_space sp = {1.5f, 0.0f, 25.0f, G, malloc((size_t)G * G * G), NULL, {0}, {0}};
    memset(sp.occ, 1, (size_t)G * G * G);
    CHECK(gnf_nerf_occupancy_store(m, &sp) == GNF_OK);
    free(sp.occ);
    return m;
}

/* Test-time rendering (waves of samples, density first, colour only where the weight matters)
 * agrees with a plain reference: every lattice sample evaluated with all 49 outputs through the
 * public model evaluation, then composited with termination at T < 1e-4.  reference: the
 * reference renderer (GNF_NERF_REFERENCE=1), else the fast one.  Returns the samples per pixel. */
static double render_vs_plain(int reference, double tol_rgb, double tol_opacity, double tol_depth) {
    gnf_model *m = random_visible_field();
    if (!m) return 0;
    gnf_camera base = {24, 18, 20, 20, 12, 9, {0}}, cam;
    gnf_nerf_orbit_camera(&base, 30, 25, 4.0f, &cam);
    gnf_nerf_renderer *rr = NULL;
    if (reference) setenv("GNF_NERF_REFERENCE", "1", 1);
    CHECK(gnf_nerf_renderer_create(m, 2, &rr) == GNF_OK);
    unsetenv("GNF_NERF_REFERENCE");
    gnf_image rgb, dep, op;
    double spp = 0;
    CHECK(gnf_nerf_render(rr, &cam, &rgb, &dep, &op, &spp) == GNF_OK);
    const float dt = 2.0f * 1.5f * 1.7320508f / 1024.0f;
    float *xs = malloc(sizeof(float) * 3 * 4096), *ts = malloc(sizeof(float) * 4096);
    float *y = malloc(sizeof(float) * NERF_OUT * 4096), *dts = malloc(sizeof(float) * 4096);
    for (int i = 0; i < 4096; i++) dts[i] = dt * 25.0f;
    double maxerr = 0, maxdep = 0;
    int opaque = 0;
    for (int py = 0; py < cam.h; py++)
        for (int px = 0; px < cam.w; px++) {
            float o[3], d[3];
            float u = ((float)px + 0.5f - cam.cx) / cam.fx, v = -((float)py + 0.5f - cam.cy) / cam.fy;
            float nn = 0;
            for (int a = 0; a < 3; a++) {
                d[a] = cam.c2w[4 * a] * u + cam.c2w[4 * a + 1] * v - cam.c2w[4 * a + 2];
                o[a] = cam.c2w[4 * a + 3];
                nn += d[a] * d[a];
            }
            for (int a = 0; a < 3; a++) d[a] /= sqrtf(nn);
            float t0, t1;
            long n = 0;
            if (gnf_nerf_ray_box(o, d, 1.5f, &t0, &t1))
                for (float t = t0 + 0.5f * dt; t < t1 && n < 4096; t = t0 + 0.5f * dt + (float)n * dt) {
                    for (int a = 0; a < 3; a++) xs[3 * n + a] = fminf(1, fmaxf(-1, (o[a] + t * d[a]) / 1.5f));
                    ts[n++] = t;
                }
            if (n) CHECK(gnf_model_eval(m, xs, n, y, 1) == GNF_OK);
            float Y16[16];
            gnf_nerf_sh16(Y16, d);
            nerf_ray_result res;
            const float bg[3] = {1, 1, 1};
            gnf_nerf_composite(&res, y, NERF_OUT, Y16, dts, ts, n, bg, 1e-4f);
            const float *got = rgb.px + 3 * ((long)py * cam.w + px);
            for (int a = 0; a < 3; a++) maxerr = fmax(maxerr, fabs(got[a] - res.rgb[a]));
            maxdep = fmax(maxdep, fabs(dep.px[(long)py * cam.w + px] - res.depth));
            CHECK_NEAR(op.px[(long)py * cam.w + px], res.opacity, tol_opacity);
            opaque += res.opacity > 0.9f;
        }
    CHECK_MSG(maxerr < tol_rgb, "max colour difference %g", maxerr);
    CHECK_MSG(maxdep < tol_depth, "max depth difference %g", maxdep);
    CHECK_MSG(opaque > 10, "the test field should be visible (%d opaque pixels)", opaque);
    CHECK(spp > 1);
    printf("    (%s renderer: %.1f samples per pixel, max colour difference %.2g, depth %.2g)\n",
           reference ? "reference" : "fast", spp, maxerr, maxdep);
    free(xs); free(ts); free(y); free(dts);
    gnf_image_free(&rgb); gnf_image_free(&dep); gnf_image_free(&op);
    gnf_nerf_renderer_free(rr);
    gnf_model_free(m);
    return spp;
}

/* The reference renderer: within float rounding of the plain reference. */
TEST(nerf_render_matches_reference) { render_vs_plain(1, 2e-3, 2e-3, 1e-2); }

/* The fast renderer stops a ray once its transmittance falls below 3e-2 (FAST_TMIN) and takes
 * what remains as absorbed at the last sample (its colour and distance, opacity 1): a colour,
 * being in [0, 1], moves by at most that transmittance (plus rounding), the opacity as much, the
 * depth by at most 3e-2 times the farthest distance (< 6 here); and it takes fewer samples than
 * the reference. */
TEST(nerf_render_fast_matches_reference) {
    double fast = render_vs_plain(0, 3e-2 + 2e-3, 3e-2 + 2e-3, 18e-2);
    double ref = render_vs_plain(1, 2e-3, 2e-3, 1e-2);
    CHECK_MSG(fast < ref, "fast %.2f vs reference %.2f samples per pixel", fast, ref);
}

TEST(nerf_renderer_rejects_other_models) {
    gnf_model_config cfg;
    CHECK(gnf_nerf_model_config(&cfg, 60000) == GNF_OK);
    cfg.out_dim = 1;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_SDF, &m) == GNF_OK);
    gnf_nerf_renderer *r = NULL;
    CHECK(gnf_nerf_renderer_create(m, 1, &r) == GNF_ERR_INVALID);
    CHECK(r == NULL);
    gnf_model_free(m);
    gnf_model *n = tiny_nerf_model(2); /* untrained: no occupancy grid */
    CHECK(gnf_nerf_renderer_create(n, 1, &r) == GNF_ERR_FORMAT);
    CHECK(strstr(gnf_last_error(), "occupancy") != NULL);
    gnf_model_free(n);
}

/* The same seed and step count give the same parameters (and occupancy grid) with 1 or 3
 * threads: every sum of the step runs in a fixed order.  Both training paths: the factored head
 * (K <= 64) and all 49 outputs (K = 72, a wide decoder). */
static void nerf_fit_threads(int K) {
    gnf_nerf_scene *tr = test_lego("train", 16);
    if (!tr) SKIP("../shared/data/nerf/lego_400 absent");
    gnf_model *m[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        m[k] = tiny_nerf_model_k(3, K);
        gnf_nerf_config nc;
        gnf_nerf_config_default(&nc);
        nc.samples_per_step = 8192;
        gnf_train_config tc;
        gnf_nerf_train_config_default(&tc);
        tc.steps = 40; /* past two occupancy refreshes */
        tc.threads = k == 0 ? 1 : 3;
        gnf_train_report rep;
        CHECK(gnf_fit_nerf(m[k], tr, NULL, &nc, &tc, &rep) == GNF_OK);
        CHECK_EQ_INT(rep.steps, 40);
    }
    gnf_model *init = tiny_nerf_model_k(3, K);   /* it trained: parameters moved, all finite */
    long moved = 0, finite = 0;
    for (long i = 0; init && i < init->nparams; i++) {
        moved += m[0]->params[i] != init->params[i];
        finite += isfinite(m[0]->params[i]) != 0;
    }
    CHECK_MSG(init && moved > init->nparams / 10 && finite == init->nparams, "K %d: %ld of %ld moved, %ld finite", K,
              moved, init ? init->nparams : 0, finite);
    gnf_model_free(init);
    CHECK(memcmp(m[0]->params, m[1]->params, sizeof(float) * (size_t)m[0]->nparams) == 0);
    const char *o0 = gnf_model_get_meta(m[0], "gnf.nerf.occupancy"), *o1 = gnf_model_get_meta(m[1], "gnf.nerf.occupancy");
    CHECK(o0 && o1 && strcmp(o0, o1) == 0);
    gnf_model_free(m[0]);
    gnf_model_free(m[1]);
    gnf_nerf_scene_free(tr);
}

TEST(nerf_fit_deterministic_across_threads) { nerf_fit_threads(0); }
TEST(nerf_fit_deterministic_across_threads_wide_decoder) { nerf_fit_threads(72); }

/* End to end on real data: lego at 1/8 size (50×50), the default architecture at 1M parameters,
 * 600 steps; the mean PSNR over 4 test views must clear a threshold well above what an untrained
 * or broken field gives (white background alone: ~10 dB). */
TEST(nerf_fit_lego_small) {
#if defined(__SANITIZE_ADDRESS__) || defined(GNF_NO_AVX2)
    SKIP("end-to-end fit runs in the release build only (too slow under ASan or without AVX2 kernels)");
#else
    gnf_nerf_scene *tr = test_lego("train", 8), *te = test_lego("test", 8);
    if (!tr || !te) { gnf_nerf_scene_free(tr); gnf_nerf_scene_free(te); SKIP("../shared/data/nerf/lego_400 absent"); }
    gnf_train_report rep;
    gnf_model *m = test_nerf_fit(tr, te, 1000000, 600, &rep);
    gnf_nerf_metrics mt;
    CHECK(m && gnf_nerf_evaluate(m, te, 4, 50, 0, &mt) == GNF_OK);
    printf("    (held-out pixels %.2f dB; 4 test views %.2f dB, SSIM %.3f, %.1f samples/pixel, %.1f s training)\n",
           rep.quality, mt.psnr, mt.ssim, mt.samples_per_pixel, rep.seconds);
    CHECK_EQ_INT(mt.views, 4);
    CHECK_MSG(mt.psnr > 22.5, "lego 1/8, 600 steps: %.2f dB", mt.psnr);
    CHECK(mt.ssim > 0.7);
    gnf_model_free(m);
    gnf_nerf_scene_free(tr);
    gnf_nerf_scene_free(te);
#endif
}

/* The occupied cells' bounding box (where rays start marching) is exact, and empty when no cell
 * is occupied (rays then miss it). */
TEST(nerf_occupied_bounding_box) {
    const int G = 16;
    nerf_space sp = {1.5f, 0.01f, 25.0f, G, calloc((size_t)G * G * G, 1), NULL, {0}, {0}};
    CHECK(gnf_nerf_space_update_coarse(&sp, 0) == GNF_OK);
    for (int a = 0; a < 3; a++) CHECK(sp.lo[a] > sp.hi[a]);
    float o[3] = {0, 0, 5}, d[3] = {0, 0, -1}, t0, t1;
    CHECK(!gnf_nerf_ray_aabb(o, d, sp.lo, sp.hi, &t0, &t1));
    sp.occ[3 + G * (5 + G * 7)] = 1;   /* cell (3, 5, 7) */
    sp.occ[9 + G * (4 + G * 12)] = 1;  /* cell (9, 4, 12) */
    CHECK(gnf_nerf_space_update_coarse(&sp, 0) == GNF_OK);
    const float cs = 3.0f / G;
    const int lo[3] = {3, 4, 7}, hi[3] = {9, 5, 12};
    for (int a = 0; a < 3; a++) {
        CHECK_NEAR(sp.lo[a], -1.5f + lo[a] * cs, 1e-6);
        CHECK_NEAR(sp.hi[a], -1.5f + (hi[a] + 1) * cs, 1e-6);
    }
    free(sp.occ);
    gnf_free(sp.coarse);
}
