/* test_nerf_render.c — the fast radiance-field renderer's parts against their references: the
 * rbf_phi inference kernel (scalar reference = row 0 of the RBF forward, fast table within a
 * tolerance, results independent of the batch), colour from the activations through the per-ray
 * SH matrix, the occupancy distance field against brute force, the fast marcher against
 * gnf_nerf_march, and thread-count independence of whole frames.  (The fast renderer against a
 * plain reference renderer is in test_nerf.c, nerf_render_fast_matches_reference.) */
#include "test.h"
#include "tasks/nerf_internal.h"
#include "field/kernels.h"
#include "field/nerf_head.h"
#include <stdlib.h>
#include <string.h>

/* Random decoder operands of a trained-looking scale: features and centres in [-1, 1],
 * log-precisions in [-1, 1], head weights in [-1, 1]. */
typedef struct { float *f, *c, *beta, *bc2, *cst, *W, *w0; } rbf_ops;

static rbf_ops rbf_ops_make(gnf_rng *r, long n, int D, int K, int O) {
    rbf_ops o;
    o.f = malloc(sizeof(float) * (size_t)(n * D));
    o.c = malloc(sizeof(float) * (size_t)(D * K));
    o.beta = malloc(sizeof(float) * (size_t)(D * K));
    o.bc2 = malloc(sizeof(float) * (size_t)(D * K));
    o.cst = malloc(sizeof(float) * (size_t)K);
    o.W = malloc(sizeof(float) * (size_t)(O * K));
    o.w0 = malloc(sizeof(float) * (size_t)O);
    for (long i = 0; i < n * D; i++) o.f[i] = test_urand(r, -1, 1);
    for (int i = 0; i < D * K; i++) { o.c[i] = test_urand(r, -1, 1); o.beta[i] = expf(test_urand(r, -1, 1)); }
    for (int i = 0; i < O * K; i++) o.W[i] = test_urand(r, -1, 1);
    for (int i = 0; i < O; i++) o.w0[i] = test_urand(r, -1, 1);
    /* some points right on a centre (q = 0: the clamp) */
    for (int d = 0; d < D && n > 3; d++) o.f[3 * D + d] = o.c[d * K + 5];
    gnf_rbf_expand(o.bc2, o.cst, o.c, o.beta, D, K);
    return o;
}

static void rbf_ops_free(rbf_ops *o) {
    free(o->f); free(o->c); free(o->beta); free(o->bc2); free(o->cst); free(o->W); free(o->w0);
}

/* The scalar rbf_phi is row 0 of the scalar forward, bit for bit, with phi = rho(q); the active
 * table's within 2e-6 (phi, absolute) and 1e-5 (y0, relative to sum |W0 phi| + |w00|); and a
 * point's results do not depend on the batch it is in (odd batch sizes, other positions). */
TEST(nerf_rbf_phi_matches_reference) {
    const int shapes[][2] = {{20, 32}, {16, 24}, {32, 64}, {8, 8}};
    gnf_rng r;
    gnf_rng_seed(&r, 21, 1);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int D = shapes[si][0], K = shapes[si][1];
        const long n = 37;
        rbf_ops o = rbf_ops_make(&r, n, D, K, NERF_OUT);
        float *phi = malloc(sizeof(float) * (size_t)(n * K)), *phf = malloc(sizeof(float) * (size_t)(n * K));
        float *y0 = malloc(sizeof(float) * (size_t)n), *y0f = malloc(sizeof(float) * (size_t)n);
        float *y = malloc(sizeof(float) * (size_t)n), *one = malloc(sizeof(float) * (size_t)K);
        gnf_kernels_scalar.rbf_phi(phi, y0, o.f, o.c, o.beta, o.bc2, o.cst, o.W, o.w0[0], n, D, K, GNF_BASIS_GAUSSIAN);
        gnf_rbf_forward_ref(y, o.f, o.c, o.beta, o.W, o.w0, n, D, K, 1, GNF_BASIS_GAUSSIAN);
        CHECK(memcmp(y, y0, sizeof(float) * (size_t)n) == 0);
        const gnf_kernels *fast = gnf_kernels_rbf(K);
        fast->rbf_phi(phf, y0f, o.f, o.c, o.beta, o.bc2, o.cst, o.W, o.w0[0], n, D, K, GNF_BASIS_GAUSSIAN);
        double ephi = 0, ey = 0;
        for (long p = 0; p < n; p++) {
            double mag = fabs(o.w0[0]);
            for (int k = 0; k < K; k++) {
                ephi = fmax(ephi, fabs(phf[p * K + k] - phi[p * K + k]));
                mag += fabs(o.W[k] * phi[p * K + k]);
                CHECK(phf[p * K + k] >= 0 && phf[p * K + k] <= 1);
            }
            ey = fmax(ey, fabs(y0f[p] - y0[p]) / mag);
        }
        CHECK_MSG(ephi < 2e-6, "%s D %d K %d: phi differs by %g", fast->name, D, K, ephi);
        CHECK_MSG(ey < 1e-5, "%s D %d K %d: y0 differs by %g (relative)", fast->name, D, K, ey);
        CHECK(fabsf(phf[3 * K + 5] - 1.0f) < 1e-6f);   /* on a centre */
        /* one point alone, at an odd position: the same bits */
        float y1;
        for (long p = 0; p < n; p += 7) {
            fast->rbf_phi(one, &y1, o.f + p * D, o.c, o.beta, o.bc2, o.cst, o.W, o.w0[0], 1, D, K, GNF_BASIS_GAUSSIAN);
            CHECK(memcmp(one, phf + p * K, sizeof(float) * (size_t)K) == 0 && y1 == y0f[p]);
        }
        free(phi); free(phf); free(y0); free(y0f); free(y); free(one);
        rbf_ops_free(&o);
    }
}

/* Colour through the per-ray matrix (sh_matrix, colour_phi of the scalar and the active table)
 * against the 49 outputs W phi + w0 and gnf_nerf_sh_colour: within 1e-5; a batch of samples of a
 * ray (rows picked by idx) gives each sample the bits it gets alone. */
TEST(nerf_colour_from_phi) {
    gnf_rng r;
    gnf_rng_seed(&r, 22, 1);
    enum { NS = 11 };
    for (int K = 8; K <= 64; K *= 2) {
        rbf_ops o = rbf_ops_make(&r, 1, 4, K, NERF_OUT);
        const gnf_kernels *tabs[2] = {&gnf_kernels_scalar, gnf_kernels_rbf(K)};
        float M[3 * 64], b[3], phi[NS * 64], y[NERF_OUT], Y16[16], d[3], want[3 * NS], got[3 * NS], one[3];
        int idx[NS];
        for (int ti = 0; ti < 2; ti++) {
            double err = 0;
            long bad = 0;
            for (int it = 0; it < 20; it++) {
                test_rand_dir(&r, d);
                gnf_nerf_sh16(Y16, d);
                tabs[ti]->sh_matrix(M, b, o.W, o.w0, K, Y16);
                for (int k = 0; k < NS * K; k++) phi[k] = test_urand(&r, 0, 1);
                for (int s = 0; s < NS; s++) {
                    idx[s] = (s * 7 + it) % NS;
                    for (int j = 0; j < NERF_OUT; j++) {
                        double acc = o.w0[j];
                        for (int k = 0; k < K; k++) acc += (double)o.W[j * K + k] * phi[idx[s] * K + k];
                        y[j] = (float)acc;
                    }
                    gnf_nerf_sh_colour(want + 3 * s, y, Y16);
                }
                tabs[ti]->colour_phi(got, M, b, phi, idx, NS, K);
                for (int s = 0; s < NS; s++) {
                    for (int c = 0; c < 3; c++) err = fmax(err, fabs(got[3 * s + c] - want[3 * s + c]));
                    tabs[ti]->colour_phi(one, M, b, phi, idx + s, 1, K);
                    bad += memcmp(one, got + 3 * s, sizeof one) != 0;
                }
            }
            CHECK_MSG(err < 1e-5, "%s K %d: colour differs by %g", tabs[ti]->name, K, err);
            CHECK_MSG(bad == 0, "%s K %d: %ld samples differ alone and in a batch", tabs[ti]->name, K, bad);
        }
        rbf_ops_free(&o);
    }
}

/* The distance field equals the brute-force Chebyshev distance to the nearest occupied cell
 * (capped at NERF_DIST_CAP + 1), and the coarse flags and occupied box equal their brute-force
 * definitions, on sparse random grids and on an empty one, on 1 and 3 threads (each pass runs in
 * parallel z slices). */
TEST(nerf_distance_field_brute_force) {
    gnf_rng r;
    gnf_rng_seed(&r, 23, 1);
    for (int it = 0; it < 8; it++) {
        const int G = it < 6 ? 24 : 13, Gc = G / NERF_COARSE;   /* 13: partial bricks, no coarse flags */
        nerf_space sp = {1.5f, 0.01f, 25.0f, G, calloc((size_t)G * G * G, 1), NULL, {0}, {0}};
        int nocc = (it % 6 / 2) == 0 ? 0 : ((it % 6 / 2) == 1 ? 1 : 12), threads = it % 2 ? 3 : 1;
        if (it >= 6) nocc = 5;
        for (int k = 0; k < nocc; k++) sp.occ[gnf_rng_below(&r, (uint32_t)(G * G * G))] = 1;
        unsigned char *dist = NULL;
        CHECK(gnf_nerf_distance_field(&sp, threads, &dist) == GNF_OK);
        CHECK(gnf_nerf_space_update_coarse(&sp, threads) == GNF_OK);
        CHECK((sp.coarse != NULL) == (G % NERF_COARSE == 0));
        if (!dist) break;
        long bad = 0, badc = 0;
        int lo[3] = {G, G, G}, hi[3] = {-1, -1, -1};
        for (int i = 0; i < G * G * G; i++) {
            int x = i % G, y = (i / G) % G, z = i / (G * G), best = NERF_DIST_CAP + 1;
            for (int j = 0; j < G * G * G; j++)
                if (sp.occ[j]) {
                    int dx = abs(j % G - x), dy = abs((j / G) % G - y), dz = abs(j / (G * G) - z);
                    int cheb = dx > dy ? (dx > dz ? dx : dz) : (dy > dz ? dy : dz);
                    if (cheb < best) best = cheb;
                }
            bad += dist[gnf_nerf_dist_at(x, y, z, G)] != best;
            if (sp.occ[i]) {
                const int c[3] = {x, y, z};
                for (int a = 0; a < 3; a++) { lo[a] = c[a] < lo[a] ? c[a] : lo[a]; hi[a] = c[a] > hi[a] ? c[a] : hi[a]; }
            }
        }
        for (int i = 0; sp.coarse && i < Gc * Gc * Gc; i++) {
            int cx = i % Gc, cy = (i / Gc) % Gc, cz = i / (Gc * Gc), any = 0;
            for (int z = 0; z < NERF_COARSE; z++)
                for (int y = 0; y < NERF_COARSE; y++)
                    for (int x = 0; x < NERF_COARSE; x++)
                        any |= sp.occ[(cx * NERF_COARSE + x) + G * ((cy * NERF_COARSE + y) + G * (cz * NERF_COARSE + z))];
            badc += (sp.coarse[i] != 0) != any;
        }
        CHECK_MSG(bad == 0, "G %d, %d occupied cells, %d threads: %ld cells with the wrong distance", G, nocc, threads, bad);
        CHECK_MSG(badc == 0, "G %d, %d occupied cells, %d threads: %ld wrong coarse flags", G, nocc, threads, badc);
        for (int a = 0; a < 3; a++) {
            CHECK_NEAR(sp.lo[a], -1.5f + lo[a] * (3.0f / G), 1e-6);
            CHECK_NEAR(sp.hi[a], -1.5f + (hi[a] + 1) * (3.0f / G), 1e-6);
        }
        gnf_free(dist);
        gnf_free(sp.coarse);
        free(sp.occ);
    }
}

/* The fast marcher gives gnf_nerf_march's samples (the same lattice points, positions and
 * distances), marched in pieces of 7 as the renderer's rounds do, except lattice points within
 * float rounding of a cell face; counting alone gives the same count, and a march restarted at
 * the first sample (training's two passes) the same samples. */
TEST(nerf_march_fast_matches_march) {
    const int G = 32;
    nerf_space sp = {1.5f, 0.01f, 25.0f, G, calloc((size_t)G * G * G, 1), NULL, {0}, {0}};
    gnf_rng r;
    gnf_rng_seed(&r, 24, 1);
    for (int i = 0; i < G * G * G; i++) {   /* clustered: runs, cell skips and cube jumps */
        int x = i % G, y = (i / G) % G, z = i / (G * G);
        sp.occ[i] = (x / 8 + y / 8 + z / 8) % 3 == 0 && gnf_rng_uniform(&r) < 0.3f;
    }
    unsigned char *cdist = NULL;
    CHECK(gnf_nerf_distance_field(&sp, 0, &cdist) == GNF_OK);
    if (!cdist) { free(sp.occ); return; }
    enum { CAP = 4096 };
    float *xa = malloc(sizeof(float) * 3 * CAP), *ta = malloc(sizeof(float) * CAP);
    float *xb = malloc(sizeof(float) * 3 * CAP), *tb = malloc(sizeof(float) * CAP);
    float *xa2 = malloc(sizeof(float) * 3 * CAP), *ta2 = malloc(sizeof(float) * CAP);
    long total = 0, face = 0, bad = 0, recount_bad = 0;
    const float cs = 2 * sp.box / G;
    for (int it = 0; it < 400; it++) {
        float o[3], d[3], aim[3], dn = 0, inv[3], t0, t1;
        for (int a = 0; a < 3; a++) { o[a] = test_urand(&r, -4, 4); aim[a] = test_urand(&r, -1.5f, 1.5f); }
        for (int a = 0; a < 3; a++) { d[a] = aim[a] - o[a]; dn += d[a] * d[a]; }
        for (int a = 0; a < 3; a++) d[a] /= sqrtf(dn);
        if (it % 25 == 0) { d[0] = 0; d[1] = 0; d[2] = o[2] > 0 ? -1.0f : 1.0f; o[0] = 0.1f; o[1] = -0.2f; }  /* axis-parallel */
        for (int a = 0; a < 3; a++) inv[a] = d[a] != 0 ? 1.0f / d[a] : 0.0f;
        if (!gnf_nerf_ray_box(o, d, sp.box, &t0, &t1)) continue;
        float start = t0 + test_urand(&r, 0, sp.dt), t = start;
        long na = gnf_nerf_march(&sp, o, d, &t, t1, CAP, xa, ta), nb = 0, li = 0;
        for (;;) {
            long m = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &li, NULL, t1, 7, xb + 3 * nb, tb + nb);
            if (m == 0 || nb + m + 7 > CAP) { nb += m; break; }
            nb += m;
        }
        /* counting alone (x, ts NULL) gives the same count, and a march restarted at the first
         * sample's lattice index (as training's second pass does) gives the same samples */
        long lc = 0, nc = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &lc, NULL, t1, CAP, NULL, NULL);
        long l1 = 0, n1 = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &l1, NULL, t1, 1, NULL, NULL);
        l1 -= n1;
        long nr = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &l1, NULL, t1, CAP, xa2, ta2);
        recount_bad += nc != nb || nr != nb || memcmp(xa2, xb, sizeof(float) * 3 * (size_t)nb) != 0 ||
                       memcmp(ta2, tb, sizeof(float) * (size_t)nb) != 0;
        total += na;
        /* merge by lattice index; an unmatched sample must lie within rounding of a cell face */
        long ia = 0, ib = 0;
        while (ia < na || ib < nb) {
            long ka = ia < na ? lrintf((ta[ia] - start) / sp.dt) : 1L << 40, kb = ib < nb ? lrintf((tb[ib] - start) / sp.dt) : 1L << 40;
            if (ka == kb) {
                bad += ta[ia] != tb[ib] || memcmp(xa + 3 * ia, xb + 3 * ib, 3 * sizeof(float)) != 0;
                ia++; ib++;
                continue;
            }
            const float *p = ka < kb ? xa + 3 * ia : xb + 3 * ib;
            int near = 0;
            for (int a = 0; a < 3; a++) {
                float u = (p[a] * sp.box + sp.box) / cs;
                near |= fabsf(u - roundf(u)) < 1e-3f;
            }
            face++;
            bad += !near;
            if (ka < kb) ia++; else ib++;
        }
    }
    CHECK_MSG(bad == 0, "%ld of %ld samples differ (%ld at cell faces)", bad, total, face);
    CHECK_MSG(face * 1000 < total + 1000, "%ld of %ld samples differ at cell faces", face, total);
    CHECK_MSG(total > 5000, "total %ld", total);
    CHECK_MSG(recount_bad == 0, "%ld rays counted or restarted differently", recount_bad);
    free(xa); free(ta); free(xb); free(tb); free(xa2); free(ta2);
    gnf_free(cdist);
    free(sp.occ);
}

/* Training marches a ray twice: counting (its first sample alone, then the rest) and then in
 * rounds of 16 from the first sample.  Carrying run_end from piece to piece, a march in pieces of
 * any size gives exactly the samples of one march in one piece, and the count of the counting
 * march — also for lattice points within rounding of a cell face, where classifying the point
 * after a piece afresh may go the other way (the rays include such points: without the carry,
 * pieces of 1 differ on some of them, which shows the test reaches the case). */
TEST(nerf_march_fast_pieces_carry_runs) {
    const int G = 32;
    nerf_space sp = {1.5f, 0.01f, 25.0f, G, calloc((size_t)G * G * G, 1), NULL, {0}, {0}};
    gnf_rng r;
    gnf_rng_seed(&r, 26, 3);
    for (int i = 0; i < G * G * G; i++) sp.occ[i] = gnf_rng_uniform(&r) < 0.5f;
    unsigned char *cdist = NULL;
    CHECK(gnf_nerf_distance_field(&sp, 0, &cdist) == GNF_OK);
    if (!cdist) { free(sp.occ); return; }
    enum { CAP = 2048 };
    float *xa = malloc(sizeof(float) * 3 * CAP), *ta = malloc(sizeof(float) * CAP);
    float *xb = malloc(sizeof(float) * 3 * CAP), *tb = malloc(sizeof(float) * CAP);
    const long pieces[] = {1, 2, 3, 16};
    long bad = 0, naive_bad = 0, rays = 0, samples = 0;
    for (int it = 0; it < 30000; it++) {
        float o[3], d[3], inv[3], t0, t1, dn = 0;
        for (int a = 0; a < 3; a++) { o[a] = test_urand(&r, -4, 4); d[a] = test_urand(&r, -1.5f, 1.5f) - o[a]; }
        if (it % 3 == 0)   /* along an axis or a diagonal, from a point on the lattice's faces */
            for (int a = 0; a < 3; a++) {
                d[a] = a == it % 2 || (it % 9 == 0) ? (o[a] > 0 ? -1.0f : 1.0f) : 0.0f;
                o[a] = d[a] != 0 ? o[a] : -1.5f + (float)(gnf_rng_below(&r, G)) * (3.0f / G);
            }
        for (int a = 0; a < 3; a++) dn += d[a] * d[a];
        for (int a = 0; a < 3; a++) d[a] /= sqrtf(dn);
        for (int a = 0; a < 3; a++) inv[a] = d[a] != 0 ? 1.0f / d[a] : 0.0f;
        if (!gnf_nerf_ray_box(o, d, sp.box, &t0, &t1)) continue;
        const float start = t0 + test_urand(&r, 0, sp.dt);
        /* the counting march, as training's ray_task runs it */
        long li = 0;
        float run = 0;
        long nc = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &li, &run, t1, 1, NULL, NULL);
        const long first = li - nc;
        if (nc) nc += gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &li, &run, t1, CAP - 1, NULL, NULL);
        /* one piece from the first sample */
        li = first;
        run = 0;
        long na = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &li, &run, t1, CAP, xa, ta);
        bad += na != nc;
        rays++;
        samples += na;
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++)
            for (int carry = 1; carry >= (pieces[p] == 1 ? 0 : 1); carry--) {
                long nb = 0, m;
                li = first;
                run = 0;
                while (nb < na && (m = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &li, carry ? &run : NULL, t1,
                                                           GNF_MIN(pieces[p], na - nb), xb + 3 * nb, tb + nb)) > 0)
                    nb += m;
                int differ = nb != na || memcmp(xa, xb, sizeof(float) * 3 * (size_t)na) != 0 ||
                             memcmp(ta, tb, sizeof(float) * (size_t)na) != 0;
                if (carry) bad += differ;
                else naive_bad += differ;
            }
    }
    CHECK_MSG(bad == 0, "%ld of %ld rays marched in pieces differently", bad, rays);
    CHECK_MSG(samples > 1000000 && naive_bad > 0, "%ld samples; %ld rays at faces", samples, naive_bad);
    free(xa); free(ta); free(xb); free(tb);
    gnf_free(cdist);
    free(sp.occ);
}

/* Counting alone (x, ts NULL) counts an occupied run in closed form instead of stepping through
 * its lattice points; it must stop exactly where the writing march stops — at the run's end, at a
 * cap, or at the ray's end t1 — so each piece gives the same count, lattice index and carried
 * run.  Rays end at random points (inside runs, on lattice points within rounding of t1), pieces
 * have random caps, and the cells are large and dense so that runs are long. */
TEST(nerf_march_fast_count_matches_writing_march) {
    const int G = 16;
    nerf_space sp = {1.5f, 0.007f, 25.0f, G, calloc((size_t)G * G * G, 1), NULL, {0}, {0}};
    gnf_rng r;
    gnf_rng_seed(&r, 31, 7);
    for (int i = 0; i < G * G * G; i++) sp.occ[i] = gnf_rng_uniform(&r) < 0.7f;
    unsigned char *cdist = NULL;
    CHECK(gnf_nerf_distance_field(&sp, 0, &cdist) == GNF_OK);
    if (!cdist) { free(sp.occ); return; }
    enum { CAP = 2048 };
    float *xb = malloc(sizeof(float) * 3 * CAP), *tb = malloc(sizeof(float) * CAP);
    long bad = 0, rays = 0, pieces = 0, ended_at_t1 = 0;
    for (int it = 0; it < 20000; it++) {
        float o[3], d[3], inv[3], t0, t1, dn = 0;
        for (int a = 0; a < 3; a++) { o[a] = test_urand(&r, -4, 4); d[a] = test_urand(&r, -1.5f, 1.5f) - o[a]; }
        if (it % 4 == 0)   /* along an axis */
            for (int a = 0; a < 3; a++) {
                d[a] = a == it % 3 ? (o[a] > 0 ? -1.0f : 1.0f) : 0.0f;
                o[a] = d[a] != 0 ? o[a] : test_urand(&r, -1.5f, 1.5f);
            }
        for (int a = 0; a < 3; a++) dn += d[a] * d[a];
        for (int a = 0; a < 3; a++) d[a] /= sqrtf(dn);
        for (int a = 0; a < 3; a++) inv[a] = d[a] != 0 ? 1.0f / d[a] : 0.0f;
        if (!gnf_nerf_ray_box(o, d, sp.box, &t0, &t1)) continue;
        const float start = t0 + test_urand(&r, 0, sp.dt);
        float end = t1;
        if (it % 2) {   /* end inside the box: anywhere, or at a lattice point's own distance */
            end = test_urand(&r, start, t1);
            if (it % 6 == 1) end = start + (float)(long)((end - start) / sp.dt) * sp.dt;
        }
        long lc = 0, lw = 0, nc = 0, nw = 0;
        float rc = 0, rw = 0;
        rays++;
        for (;;) {
            long cap = 1 + (long)gnf_rng_below(&r, it % 3 == 0 ? 3 : 40);
            if (nw + cap > CAP) break;
            long mc = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &lc, &rc, end, cap, NULL, NULL);
            long mw = gnf_nerf_march_fast(&sp, cdist, o, d, inv, start, &lw, &rw, end, cap, xb + 3 * nw, tb + nw);
            pieces++;
            if (mc != mw || lc != lw || rc != rw) { bad++; break; }
            nc += mc;
            nw += mw;
            if (mw == 0) break;
        }
        ended_at_t1 += end < t1 && nw > 0 && start + (float)lw * sp.dt >= end;
    }
    CHECK_MSG(bad == 0, "%ld of %ld rays counted differently from the writing march (%ld pieces)", bad, rays, pieces);
    CHECK_MSG(rays > 10000 && pieces > 100000 && ended_at_t1 > 1000, "%ld rays, %ld pieces, %ld ended inside", rays,
              pieces, ended_at_t1);
    free(xb); free(tb);
    gnf_free(cdist);
    free(sp.occ);
}

/* Whole frames of the fast renderer are bit-identical with 1, 2 and 3 threads, at a size that
 * leaves partial tiles; a random field with density in a ball, half the cells occupied. */
TEST(nerf_render_fast_thread_independent) {
    gnf_model_config cfg;
    CHECK(gnf_nerf_model_config(&cfg, 60000) == GNF_OK);
    cfg.seed = 5;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_NERF, &m) == GNF_OK);
    if (!m) return;
    gnf_rng r;
    gnf_rng_seed(&r, 25, 1);
    for (long i = 0; i < m->dec_off; i++) m->params[i] = test_urand(&r, -0.5f, 0.5f);
    for (long i = m->off_W; i < m->off_w0; i++) m->params[i] = test_urand(&r, -1, 1);
    m->params[m->off_w0] = 10.5f;
    const int G = 16;
    nerf_space sp = {1.5f, 0.0f, 25.0f, G, calloc((size_t)G * G * G, 1), NULL, {0}, {0}};
    for (int i = 0; i < G * G * G; i++) {
        float x = (i % G + 0.5f) / G - 0.5f, y = ((i / G) % G + 0.5f) / G - 0.5f, z = (i / (G * G) + 0.5f) / G - 0.5f;
        sp.occ[i] = x * x + y * y + z * z < 0.16f;
    }
    CHECK(gnf_nerf_occupancy_store(m, &sp) == GNF_OK);
    free(sp.occ);
    gnf_camera base = {37, 29, 30, 30, 18.5f, 14.5f, {0}}, cam;
    gnf_nerf_orbit_camera(&base, 40, 20, 4.0f, &cam);
    gnf_image rgb[3], dep[3], op[3];
    double spp[3];
    for (int k = 0; k < 3; k++) {
        gnf_nerf_renderer *rr = NULL;
        CHECK(gnf_nerf_renderer_create(m, k + 1, &rr) == GNF_OK);
        if (!rr) break;
        CHECK(gnf_nerf_render(rr, &cam, &rgb[k], &dep[k], &op[k], &spp[k]) == GNF_OK);
        gnf_nerf_renderer_free(rr);
    }
    const size_t n = (size_t)cam.w * cam.h;
    double mean_op = 0;
    for (size_t i = 0; i < n; i++) mean_op += op[0].px[i] / n;
    CHECK_MSG(mean_op > 0.05, "the field should be visible (mean opacity %g)", mean_op);
    for (int k = 1; k < 3; k++) {
        CHECK(memcmp(rgb[0].px, rgb[k].px, sizeof(float) * 3 * n) == 0);
        CHECK(memcmp(dep[0].px, dep[k].px, sizeof(float) * n) == 0);
        CHECK(memcmp(op[0].px, op[k].px, sizeof(float) * n) == 0);
        CHECK(spp[0] == spp[k]);
    }
    for (int k = 0; k < 3; k++) { gnf_image_free(&rgb[k]); gnf_image_free(&dep[k]); gnf_image_free(&op[k]); }
    gnf_model_free(m);
}
