/* test_bvh.c — the BVH's distances, winding numbers, ray parity and signed distances against
 * brute force written independently here (plane projection + edge tests for distance, Girard's
 * spherical excess for solid angles) and against analytic shapes built in memory: an icosphere,
 * a box, a torus, an icosphere with a hole, a bumpy "armadillo-like" sphere, degenerate
 * triangles.  Ends with timings (printed, not checked) and, when ../shared/data is there, the
 * real Stanford Armadillo. */
#include "geom/bvh.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Test meshes                                                                                 */

typedef struct {
    float *v;
    int32_t *f;
    long nv, nf, cap_v, cap_f;
} mbuild;

/* p with room for one more item of `elem` bytes (n used of *cap). */
static void *mb_grow(void *p, long n, long *cap, size_t elem) {
    if (n < *cap) return p;
    *cap = *cap ? 2 * *cap : 64;
    if (!(p = realloc(p, (size_t)*cap * elem))) abort();
    return p;
}

static long mb_vertex(mbuild *m, double x, double y, double z) {
    m->v = mb_grow(m->v, m->nv, &m->cap_v, 3 * sizeof *m->v);
    m->v[3 * m->nv] = (float)x, m->v[3 * m->nv + 1] = (float)y, m->v[3 * m->nv + 2] = (float)z;
    return m->nv++;
}

static void mb_face(mbuild *m, long a, long b, long c) {
    m->f = mb_grow(m->f, m->nf, &m->cap_f, 3 * sizeof *m->f);
    m->f[3 * m->nf] = (int32_t)a, m->f[3 * m->nf + 1] = (int32_t)b, m->f[3 * m->nf + 2] = (int32_t)c;
    m->nf++;
}

static gnf_mesh mb_mesh(const mbuild *m) {
    gnf_mesh g = {m->v, m->f, m->nv, m->nf, NULL};
    return g;
}

static void mb_free(mbuild *m) {
    free(m->v);
    free(m->f);
    memset(m, 0, sizeof *m);
}

/* Flips every face whose normal points toward the origin (for star-shaped closed meshes). */
static void mb_orient_outward(mbuild *m) {
    for (long t = 0; t < m->nf; t++) {
        const float *a = m->v + 3 * m->f[3 * t], *b = m->v + 3 * m->f[3 * t + 1], *c = m->v + 3 * m->f[3 * t + 2];
        double e1[3], e2[3], g[3];
        for (int k = 0; k < 3; k++) e1[k] = b[k] - a[k], e2[k] = c[k] - a[k], g[k] = a[k] + b[k] + c[k];
        double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
        if (n[0] * g[0] + n[1] * g[1] + n[2] * g[2] < 0) {
            int32_t tmp = m->f[3 * t + 1];
            m->f[3 * t + 1] = m->f[3 * t + 2], m->f[3 * t + 2] = tmp;
        }
    }
}

/* Midpoint of edge (a, b) pushed to the unit sphere, shared between the two faces of the edge
 * (open addressing keyed by the ordered pair). */
static long edge_mid(mbuild *m, int64_t *keys, long *vals, long cap, long a, long b) {
    int64_t lo = a < b ? a : b, hi = a < b ? b : a, key = lo * 4000000007LL + hi;
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    long slot = (long)(h % (uint64_t)cap);
    while (keys[slot] != -1) {
        if (keys[slot] == key) return vals[slot];
        slot = (slot + 1) % cap;
    }
    double x = (double)m->v[3 * a] + m->v[3 * b], y = (double)m->v[3 * a + 1] + m->v[3 * b + 1],
           z = (double)m->v[3 * a + 2] + m->v[3 * b + 2];
    double r = sqrt(x * x + y * y + z * z);
    keys[slot] = key;
    vals[slot] = mb_vertex(m, x / r, y / r, z / r);
    return vals[slot];
}

/* Unit icosphere: the icosahedron subdivided `levels` times (20 * 4^levels faces). */
static mbuild icosphere(int levels) {
    mbuild m = {0};
    const double phi = (1.0 + sqrt(5.0)) / 2.0, s = 1.0 / sqrt(1.0 + phi * phi);
    static const signed char iv[12][3] = {{-1, 2, 0}, {1, 2, 0}, {-1, -2, 0}, {1, -2, 0}, {0, -1, 2}, {0, 1, 2},
                                          {0, -1, -2}, {0, 1, -2}, {2, 0, -1}, {2, 0, 1}, {-2, 0, -1}, {-2, 0, 1}};
    for (int i = 0; i < 12; i++) {
        double c[3];
        for (int k = 0; k < 3; k++) c[k] = iv[i][k] == 2 ? phi : iv[i][k] == -2 ? -phi : iv[i][k];
        mb_vertex(&m, c[0] * s, c[1] * s, c[2] * s);
    }
    static const unsigned char ifc[20][3] = {{0, 11, 5}, {0, 5, 1}, {0, 1, 7}, {0, 7, 10}, {0, 10, 11},
                                             {1, 5, 9}, {5, 11, 4}, {11, 10, 2}, {10, 7, 6}, {7, 1, 8},
                                             {3, 9, 4}, {3, 4, 2}, {3, 2, 6}, {3, 6, 8}, {3, 8, 9},
                                             {4, 9, 5}, {2, 4, 11}, {6, 2, 10}, {8, 6, 7}, {9, 8, 1}};
    for (int i = 0; i < 20; i++) mb_face(&m, ifc[i][0], ifc[i][1], ifc[i][2]);
    for (int l = 0; l < levels; l++) {
        long cap = 4 * m.nf + 7;
        int64_t *keys = malloc((size_t)cap * sizeof *keys);
        long *vals = malloc((size_t)cap * sizeof *vals);
        for (long i = 0; i < cap; i++) keys[i] = -1;
        mbuild n = {0};
        n.v = m.v, n.nv = m.nv, n.cap_v = m.cap_v; /* keep the vertices, rebuild faces */
        for (long t = 0; t < m.nf; t++) {
            long a = m.f[3 * t], b = m.f[3 * t + 1], c = m.f[3 * t + 2];
            long ab = edge_mid(&n, keys, vals, cap, a, b), bc = edge_mid(&n, keys, vals, cap, b, c),
                 ca = edge_mid(&n, keys, vals, cap, c, a);
            mb_face(&n, a, ab, ca);
            mb_face(&n, b, bc, ab);
            mb_face(&n, c, ca, bc);
            mb_face(&n, ab, bc, ca);
        }
        free(m.f);
        m = n;
        free(keys);
        free(vals);
    }
    mb_orient_outward(&m);
    return m;
}

/* Axis-aligned box [-h, h]^3, two triangles per side. */
static mbuild box_mesh(double h) {
    mbuild m = {0};
    for (int i = 0; i < 8; i++) mb_vertex(&m, (i & 1) ? h : -h, (i & 2) ? h : -h, (i & 4) ? h : -h);
    for (int a = 0; a < 3; a++)
        for (int side = 0; side < 2; side++) {
            int b = (a + 1) % 3, c = (a + 2) % 3;
            long q[4];
            for (int k = 0; k < 4; k++) {
                int bits = (side << a) | ((k == 1 || k == 2) << b) | ((k >= 2) << c);
                q[k] = bits;
            }
            mb_face(&m, q[0], q[1], q[2]);
            mb_face(&m, q[0], q[2], q[3]);
        }
    mb_orient_outward(&m);
    return m;
}

/* Torus around z: tube centre radius R, tube radius r, nu x nv quads split in two, outward. */
static mbuild torus_mesh(double R, double r, int nu, int nv) {
    mbuild m = {0};
    const double tau = 6.283185307179586;
    for (int i = 0; i < nu; i++)
        for (int j = 0; j < nv; j++) {
            double u = tau * i / nu, v = tau * j / nv;
            mb_vertex(&m, (R + r * cos(v)) * cos(u), (R + r * cos(v)) * sin(u), r * sin(v));
        }
    for (int i = 0; i < nu; i++)
        for (int j = 0; j < nv; j++) {
            /* (u, v) order: d/du x d/dv points out of the tube. */
            long a = (long)i * nv + j, b = (long)((i + 1) % nu) * nv + j;
            long c = (long)((i + 1) % nu) * nv + (j + 1) % nv, d = (long)i * nv + (j + 1) % nv;
            mb_face(&m, a, b, c);
            mb_face(&m, a, c, d);
        }
    return m;
}

/* The icosphere with the faces whose centroid has z > zcut removed: a hole (a cap) on top. */
static mbuild open_sphere(int levels, double zcut) {
    mbuild m = icosphere(levels);
    long k = 0;
    for (long t = 0; t < m.nf; t++) {
        double z = 0;
        for (int j = 0; j < 3; j++) z += m.v[3 * m.f[3 * t + j] + 2] / 3.0;
        if (z > zcut) continue;
        memmove(m.f + 3 * k, m.f + 3 * t, 3 * sizeof *m.f);
        k++;
    }
    m.nf = k;
    return m;
}

/* The same triangles with three vertices of their own each (a soup, as STL files give): shared
 * vertices become bitwise-equal copies. */
static mbuild unweld(const mbuild *m) {
    mbuild u = {0};
    for (long t = 0; t < m->nf; t++) {
        long idx[3];
        for (int k = 0; k < 3; k++) {
            const float *v = m->v + 3 * m->f[3 * t + k];
            idx[k] = mb_vertex(&u, v[0], v[1], v[2]);
        }
        mb_face(&u, idx[0], idx[1], idx[2]);
    }
    return u;
}

/* An icosphere with radial bumps: curved everywhere, irregular, closed (armadillo stand-in). */
static mbuild bumpy_sphere(int levels) {
    mbuild m = icosphere(levels);
    for (long i = 0; i < m.nv; i++) {
        float *v = m.v + 3 * i;
        double s = 1.0 + 0.12 * sin(5.0 * v[0]) * sin(6.0 * v[1] + 1.0) * sin(7.0 * v[2] + 2.0) +
                   0.03 * sin(19.0 * v[0] + 13.0 * v[2]);
        for (int k = 0; k < 3; k++) v[k] = (float)(v[k] * s);
    }
    return m;
}

/* ------------------------------------------------------------------------------------------ */
/* Independent references                                                                      */

static double seg_dist2(const double p[3], const double a[3], const double b[3]) {
    double ab[3], ap[3], t = 0, l = 0;
    for (int k = 0; k < 3; k++) ab[k] = b[k] - a[k], ap[k] = p[k] - a[k], t += ap[k] * ab[k], l += ab[k] * ab[k];
    t = l > 0 ? t / l : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double d2 = 0;
    for (int k = 0; k < 3; k++) d2 += (ap[k] - t * ab[k]) * (ap[k] - t * ab[k]);
    return d2;
}

/* Squared distance to a triangle: the projection onto its plane if it falls inside (three
 * same-side tests), else the nearest edge. */
static double ref_tri_dist2(const double p[3], const float *A, const float *B, const float *C) {
    double a[3] = {A[0], A[1], A[2]}, b[3] = {B[0], B[1], B[2]}, c[3] = {C[0], C[1], C[2]};
    double e1[3], e2[3];
    for (int k = 0; k < 3; k++) e1[k] = b[k] - a[k], e2[k] = c[k] - a[k];
    double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
    double nn = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
    if (nn > 0) {
        double h = ((p[0] - a[0]) * n[0] + (p[1] - a[1]) * n[1] + (p[2] - a[2]) * n[2]) / nn;
        double q[3] = {p[0] - h * n[0], p[1] - h * n[1], p[2] - h * n[2]};
        const double *vs[3] = {a, b, c};
        int inside = 1;
        for (int e = 0; e < 3; e++) {
            const double *u = vs[e], *w = vs[(e + 1) % 3];
            double d[3] = {w[0] - u[0], w[1] - u[1], w[2] - u[2]}, r[3] = {q[0] - u[0], q[1] - u[1], q[2] - u[2]};
            double cr[3] = {d[1] * r[2] - d[2] * r[1], d[2] * r[0] - d[0] * r[2], d[0] * r[1] - d[1] * r[0]};
            if (cr[0] * n[0] + cr[1] * n[1] + cr[2] * n[2] < 0) inside = 0;
        }
        if (inside) return h * h * nn;
    }
    double d = seg_dist2(p, a, b), d2 = seg_dist2(p, b, c), d3 = seg_dist2(p, c, a);
    return GNF_MIN(d, GNF_MIN(d2, d3));
}

static double ref_dist(const gnf_mesh *m, const float p[3]) {
    double pd[3] = {p[0], p[1], p[2]}, best = INFINITY;
    for (long t = 0; t < m->nf; t++) {
        double d = ref_tri_dist2(pd, m->v + 3 * m->f[3 * t], m->v + 3 * m->f[3 * t + 1], m->v + 3 * m->f[3 * t + 2]);
        best = d < best ? d : best;
    }
    return sqrt(best);
}

/* Solid angle of a triangle by Girard's theorem: the spherical excess of the triangle its
 * vertices project to on the unit sphere around p, signed by orientation. */
static double angle_between(const double u[3], const double v[3]) {
    double c[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    return atan2(sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]), u[0] * v[0] + u[1] * v[1] + u[2] * v[2]);
}

static double ref_solid_angle(const double p[3], const float *A, const float *B, const float *C) {
    double v[3][3];
    const float *src[3] = {A, B, C};
    for (int i = 0; i < 3; i++) {
        double l = 0;
        for (int k = 0; k < 3; k++) v[i][k] = src[i][k] - p[k], l += v[i][k] * v[i][k];
        l = sqrt(l);
        if (!(l > 0)) return 0;
        for (int k = 0; k < 3; k++) v[i][k] /= l;
    }
    double det = v[0][0] * (v[1][1] * v[2][2] - v[1][2] * v[2][1]) - v[0][1] * (v[1][0] * v[2][2] - v[1][2] * v[2][0]) +
                 v[0][2] * (v[1][0] * v[2][1] - v[1][1] * v[2][0]);
    if (det == 0) return 0;
    double excess = -M_PI;
    for (int i = 0; i < 3; i++) {
        /* Angle at vertex i between the great circles to the other two: their tangents are the
         * components of those vertices orthogonal to vertex i. */
        const double *a = v[i], *b = v[(i + 1) % 3], *c = v[(i + 2) % 3];
        double tb[3], tc[3], db = b[0] * a[0] + b[1] * a[1] + b[2] * a[2], dc = c[0] * a[0] + c[1] * a[1] + c[2] * a[2];
        for (int k = 0; k < 3; k++) tb[k] = b[k] - db * a[k], tc[k] = c[k] - dc * a[k];
        excess += angle_between(tb, tc);
    }
    return det > 0 ? excess : -excess;
}

static double ref_winding(const gnf_mesh *m, const float p[3]) {
    double pd[3] = {p[0], p[1], p[2]}, s = 0;
    for (long t = 0; t < m->nf; t++)
        s += ref_solid_angle(pd, m->v + 3 * m->f[3 * t], m->v + 3 * m->f[3 * t + 1], m->v + 3 * m->f[3 * t + 2]);
    return s / (4 * M_PI);
}

static void random_point(gnf_rng *r, float lo, float hi, float p[3]) {
    for (int k = 0; k < 3; k++) p[k] = lo + (hi - lo) * gnf_rng_uniform(r);
}

/* A point near the surface: a random point of a random face moved by up to `noise` per axis. */
static void near_surface_point(gnf_rng *r, const gnf_mesh *m, float noise, float p[3]) {
    long t = gnf_rng_below(r, (uint32_t)m->nf);
    float u = gnf_rng_uniform(r), v = gnf_rng_uniform(r);
    if (u + v > 1) u = 1 - u, v = 1 - v;
    const float *a = m->v + 3 * m->f[3 * t], *b = m->v + 3 * m->f[3 * t + 1], *c = m->v + 3 * m->f[3 * t + 2];
    for (int k = 0; k < 3; k++)
        p[k] = a[k] + u * (b[k] - a[k]) + v * (c[k] - a[k]) + noise * (2 * gnf_rng_uniform(r) - 1);
}

static gnf_bvh *build_or_fail(const gnf_mesh *m) {
    gnf_bvh *b = NULL;
    gnf_status st = gnf_bvh_build(m, &b);
    CHECK_MSG(st == GNF_OK && b, "gnf_bvh_build: %s", gnf_last_error());
    return b;
}

/* ------------------------------------------------------------------------------------------ */
/* Closest point                                                                               */

/* The BVH answer for 2000 points (half uniform, half near the surface) equals brute force, and
 * the returned point and triangle are consistent with it. */
static void check_closest_vs_brute(const gnf_mesh *m, uint64_t seed, const char *name) {
    gnf_bvh *b = build_or_fail(m);
    if (!b) return;
    gnf_rng r;
    gnf_rng_seed(&r, seed, 1);
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        float p[3], cp[3];
        if (i & 1) random_point(&r, -1.6f, 1.6f, p);
        else near_surface_point(&r, m, 0.02f, p);
        long tri = -1;
        double d = gnf_bvh_closest(b, p, cp, &tri), want = ref_dist(m, p);
        if (!(fabs(d - want) <= 1e-6 * want + 1e-12)) {
            if (bad++ < 5) CHECK_MSG(0, "%s: closest at (%g %g %g) = %.9g, brute force %.9g", name, p[0], p[1], p[2], d, want);
            continue;
        }
        CHECK(tri >= 0 && tri < m->nf);
        if (tri < 0 || tri >= m->nf) continue;
        double pd[3] = {p[0], p[1], p[2]};
        double dt = sqrt(ref_tri_dist2(pd, m->v + 3 * m->f[3 * tri], m->v + 3 * m->f[3 * tri + 1], m->v + 3 * m->f[3 * tri + 2]));
        double dc = sqrt((double)(p[0] - cp[0]) * (p[0] - cp[0]) + (double)(p[1] - cp[1]) * (p[1] - cp[1]) +
                         (double)(p[2] - cp[2]) * (p[2] - cp[2]));
        CHECK_NEAR(dt, want, 1e-6 * want + 1e-12);
        CHECK_NEAR(dc, want, 1e-6 * want + 1e-6); /* cp is rounded to float */
    }
    CHECK_EQ_INT(bad, 0);
    gnf_bvh_free(b);
}

TEST(bvh_closest_vs_brute_force) {
    mbuild s = icosphere(3), bx = box_mesh(0.5), t = torus_mesh(1.0, 0.3, 64, 32), o = open_sphere(3, 0.8),
           bs = bumpy_sphere(3);
    CHECK_EQ_INT(s.nf, 1280);
    CHECK_EQ_INT(bx.nf, 12);
    CHECK_EQ_INT(t.nf, 4096);
    CHECK(o.nf < 1280 && o.nf > 1100);
    gnf_mesh ms = mb_mesh(&s), mbx = mb_mesh(&bx), mt = mb_mesh(&t), mo = mb_mesh(&o), mbs = mb_mesh(&bs);
    check_closest_vs_brute(&ms, 1, "icosphere");
    check_closest_vs_brute(&mbx, 2, "box");
    check_closest_vs_brute(&mt, 3, "torus");
    check_closest_vs_brute(&mo, 4, "open sphere");
    check_closest_vs_brute(&mbs, 5, "bumpy sphere");
    mb_free(&s), mb_free(&bx), mb_free(&t), mb_free(&o), mb_free(&bs);
}

static double box_sdf(const float p[3], double h) {
    double q[3], out = 0, in = -INFINITY;
    for (int k = 0; k < 3; k++) {
        q[k] = fabs((double)p[k]) - h;
        out += q[k] > 0 ? q[k] * q[k] : 0;
        in = q[k] > in ? q[k] : in;
    }
    return sqrt(out) + (in < 0 ? in : 0);
}

TEST(bvh_box_and_sphere_distances) {
    mbuild bx = box_mesh(0.5);
    gnf_mesh mbx = mb_mesh(&bx);
    gnf_bvh *b = build_or_fail(&mbx);
    gnf_rng r;
    gnf_rng_seed(&r, 11, 1);
    float *pts = malloc(3000 * 3 * sizeof *pts), *sdf = malloc(3000 * sizeof *sdf);
    for (int i = 0; i < 3000; i++) random_point(&r, -1.2f, 1.2f, pts + 3 * i);
    for (int i = 0; b && i < 3000; i++) {
        double want = box_sdf(pts + 3 * i, 0.5);
        CHECK_NEAR(gnf_bvh_closest(b, pts + 3 * i, NULL, NULL), fabs(want), 1e-6);
    }
    /* The signed version, both ways of finding the sign. */
    for (int wt = 0; b && wt < 2; wt++) {
        gnf_bvh_sdf(b, pts, 3000, sdf, wt, 2);
        for (int i = 0; i < 3000; i++) CHECK_NEAR(sdf[i], box_sdf(pts + 3 * i, 0.5), 1e-6);
    }
    gnf_bvh_free(b);
    mb_free(&bx);

    /* Icosphere: the mesh lies between the unit sphere and the sphere through its face planes'
     * nearest points, so |d - ||p| - 1|| is at most that gap. */
    mbuild s = icosphere(3);
    gnf_mesh ms = mb_mesh(&s);
    double gap = 0;
    for (long t = 0; t < s.nf; t++) {
        const float *A = s.v + 3 * s.f[3 * t], *B = s.v + 3 * s.f[3 * t + 1], *C = s.v + 3 * s.f[3 * t + 2];
        double zero[3] = {0, 0, 0};
        gap = GNF_MAX(gap, 1.0 - sqrt(ref_tri_dist2(zero, A, B, C)));
    }
    CHECK(gap > 0 && gap < 0.01);
    b = build_or_fail(&ms);
    for (int i = 0; b && i < 3000; i++) {
        float p[3];
        random_point(&r, -2.0f, 2.0f, p);
        double len = sqrt((double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2]);
        CHECK_NEAR(gnf_bvh_closest(b, p, NULL, NULL), fabs(len - 1.0), gap + 1e-6);
    }
    gnf_bvh_free(b);
    mb_free(&s);
    free(pts);
    free(sdf);
}

/* ------------------------------------------------------------------------------------------ */
/* Winding number                                                                              */

/* The dipole approximation at the default beta = 2 is off by about 1e-2 on average and by up to
 * ~0.075 (measured on these meshes): plenty for inside/outside at 0.5, not a precise value.
 * Agreement within 1e-3 takes beta = 12 (about 25 times slower); beta <= 0 is exact. */
#define APPROX_TOL 0.1
#define APPROX_MEAN_TOL 0.04
#define FINE_BETA 12.0
#define FINE_TOL 1e-3

/* Winding number 1 at the four points in[], 0 at out[]: default beta and exact. */
static void check_in_out(const gnf_bvh *b, const float in[4][3], const float out[4][3]) {
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(gnf_bvh_winding(b, in[i]), 1.0, APPROX_TOL);
        CHECK_NEAR(gnf_bvh_winding_beta(b, in[i], 0), 1.0, 1e-9);
        CHECK_NEAR(gnf_bvh_winding(b, out[i]), 0.0, APPROX_TOL);
        CHECK_NEAR(gnf_bvh_winding_beta(b, out[i], 0), 0.0, 1e-9);
    }
}

TEST(bvh_winding_inside_outside) {
    mbuild s = icosphere(3), bx = box_mesh(0.5), t = torus_mesh(1.0, 0.3, 64, 32);
    gnf_mesh ms = mb_mesh(&s), mbx = mb_mesh(&bx), mt = mb_mesh(&t);
    gnf_bvh *bs = build_or_fail(&ms), *bb = build_or_fail(&mbx), *bt = build_or_fail(&mt);
    if (bs && bb && bt) {
        const float in_s[][3] = {{0, 0, 0}, {0.5f, 0.3f, -0.2f}, {0, 0, 0.95f}, {-0.9f, 0.1f, 0.1f}};
        const float out_s[][3] = {{1.05f, 0, 0}, {2, 2, 2}, {0, -1.3f, 0.2f}, {30, -40, 5}};
        check_in_out(bs, in_s, out_s);
        const float in_b[][3] = {{0, 0, 0}, {0.49f, 0.49f, -0.49f}, {0.25f, 0.25f, 0.25f}, {-0.1f, 0.3f, 0}};
        const float out_b[][3] = {{0.51f, 0, 0}, {0.6f, 0.6f, 0.6f}, {0, 0, -3}, {0.25f, 0.25f, 0.55f}};
        check_in_out(bb, in_b, out_b);
        /* Torus: inside the tube (around the centre circle) vs the hole and outside. */
        const float in_t[][3] = {{1, 0, 0}, {0, -1.2f, 0.1f}, {-0.75f, 0.0f, 0.0f}, {0.7071f, 0.7071f, 0.25f}};
        const float out_t[][3] = {{0, 0, 0}, {0.5f, 0, 0}, {1, 0, 0.35f}, {1.4f, 0, 0}};
        check_in_out(bt, in_t, out_t);
    }
    gnf_bvh_free(bs), gnf_bvh_free(bb), gnf_bvh_free(bt);
    mb_free(&s), mb_free(&bx), mb_free(&t);
}

/* The exact and hierarchical winding numbers against Girard's brute force at random points:
 * exact to 1e-9; default beta within APPROX_TOL (mean APPROX_MEAN_TOL) and on the right side of
 * 0.5 wherever the true value is not within 0.1 of it; beta = FINE_BETA within FINE_TOL. */
static void check_winding_vs_brute(const gnf_mesh *m, uint64_t seed, int npts, const char *name, double err[2]) {
    gnf_bvh *b = build_or_fail(m);
    if (!b) return;
    gnf_rng r;
    gnf_rng_seed(&r, seed, 2);
    int bad = 0;
    double sum = 0;
    for (int i = 0; i < npts; i++) {
        float p[3];
        if (i % 3 == 0) near_surface_point(&r, m, 0.05f, p);
        else random_point(&r, -1.6f, 1.6f, p);
        double want = ref_winding(m, p), exact = gnf_bvh_winding_beta(b, p, 0), approx = gnf_bvh_winding(b, p);
        double fine = gnf_bvh_winding_beta(b, p, FINE_BETA);
        double e = fabs(approx - want), ef = fabs(fine - want);
        sum += e;
        err[0] = GNF_MAX(err[0], e);
        err[1] = GNF_MAX(err[1], ef);
        int side_ok = fabs(want - 0.5) < 0.1 || (approx >= 0.5) == (want >= 0.5);
        if (!(fabs(exact - want) <= 1e-9) || !(e <= APPROX_TOL) || !(ef <= FINE_TOL) || !side_ok) {
            if (bad++ < 5)
                CHECK_MSG(0, "%s: winding at (%g %g %g): approx %.9f fine %.9f exact %.12f brute %.12f", name, p[0], p[1],
                          p[2], approx, fine, exact, want);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_MSG(sum / npts <= APPROX_MEAN_TOL, "%s: mean approximation error %g", name, sum / npts);
    gnf_bvh_free(b);
}

TEST(bvh_winding_approximation_vs_exact) {
    mbuild s = icosphere(3), bx = box_mesh(0.5), t = torus_mesh(1.0, 0.3, 64, 32), o = open_sphere(3, 0.8),
           bs = bumpy_sphere(4);
    gnf_mesh ms = mb_mesh(&s), mbx = mb_mesh(&bx), mt = mb_mesh(&t), mo = mb_mesh(&o), mbs = mb_mesh(&bs);
    double e[5][2] = {{0}};
    check_winding_vs_brute(&ms, 1, 600, "icosphere", e[0]);
    check_winding_vs_brute(&mbx, 2, 600, "box", e[1]);
    check_winding_vs_brute(&mt, 3, 600, "torus", e[2]);
    check_winding_vs_brute(&mo, 4, 600, "open sphere", e[3]);
    check_winding_vs_brute(&mbs, 5, 300, "bumpy sphere", e[4]);
    printf("    winding max |approx - exact|, beta 2 / %g: sphere %.1e/%.1e box %.1e/%.1e torus %.1e/%.1e "
           "open %.1e/%.1e bumpy %.1e/%.1e\n",
           FINE_BETA, e[0][0], e[0][1], e[1][0], e[1][1], e[2][0], e[2][1], e[3][0], e[3][1], e[4][0], e[4][1]);
    mb_free(&s), mb_free(&bx), mb_free(&t), mb_free(&o), mb_free(&bs);
}

TEST(bvh_open_mesh_sign_by_winding) {
    mbuild o = open_sphere(3, 0.8);
    gnf_mesh mo = mb_mesh(&o);
    gnf_bvh *b = build_or_fail(&mo);
    if (!b) return;
    /* The hole is real: a ray up the z axis from the centre escapes through it. */
    const float centre[3] = {0, 0, 0}, up[3] = {0, 0, 1}, down[3] = {0, 0, -1};
    CHECK_EQ_INT(gnf_bvh_ray_crossings(b, centre, up), 0);
    CHECK_EQ_INT(gnf_bvh_ray_crossings(b, centre, down), 1);
    gnf_rng r;
    gnf_rng_seed(&r, 21, 1);
    enum { N = 2000 };
    float *pts = malloc(N * 3 * sizeof *pts), *sdf = malloc(N * sizeof *sdf);
    for (int i = 0; i < N; i++) {
        float *p = pts + 3 * i;
        double len;
        do {
            random_point(&r, -2.0f, 2.0f, p);
            len = sqrt((double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2]);
        } while (len > 0.5 && len < 1.5);
    }
    gnf_bvh_sdf(b, pts, N, sdf, 0, 2);
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        const float *p = pts + 3 * i;
        double len = sqrt((double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2]);
        if ((len < 0.5) != (sdf[i] < 0)) wrong++;
        CHECK_NEAR(fabs(sdf[i]), ref_dist(&mo, p), 1e-6 * fabs(sdf[i]) + 1e-12);
    }
    CHECK_EQ_INT(wrong, 0);
    free(pts);
    free(sdf);
    gnf_bvh_free(b);
    mb_free(&o);
}

/* ------------------------------------------------------------------------------------------ */
/* Ray parity                                                                                  */

TEST(bvh_ray_parity_through_edges_and_vertices) {
    mbuild s = icosphere(3), bx = box_mesh(0.5);
    gnf_mesh ms = mb_mesh(&s), mbx = mb_mesh(&bx);
    gnf_bvh *bs = build_or_fail(&ms), *bb = build_or_fail(&mbx);
    if (bs && bb) {
        const float dirs[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
        /* The icosphere has vertices exactly on the axes: rays from the centre hit them. */
        const float o[3] = {0, 0, 0};
        for (int d = 0; d < 6; d++) CHECK_EQ_INT(gnf_bvh_ray_crossings(bs, o, dirs[d]), 1);
        /* Box: the centre's rays hit the middle of each side, on its diagonal; the points below
         * put rays through diagonals, side edges and corners. */
        const float box_in[][3] = {{0, 0, 0}, {0.1f, 0.25f, 0.25f}, {0.25f, -0.3f, 0.3f}, {0, 0.5f, 0.1f}};
        for (int i = 0; i < 4; i++)
            for (int d = 0; d < 6; d++) {
                long c = gnf_bvh_ray_crossings(bb, box_in[i], dirs[d]);
                if (i < 3) CHECK_MSG(c == 1, "box point %d dir %d: %ld crossings", i, d, c);
            }
        /* From outside along the line through two edges (y = z = 0.5): 0 or 2, never 1. */
        const float edge_line[3] = {-2, 0.5f, 0.5f}, corner_line[3] = {-2, -0.5f, 0.5f};
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bb, edge_line, dirs[0]) & 1, 0);
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bb, corner_line, dirs[0]) & 1, 0);
        const float diag_out[3] = {-2, 0.2f, 0.2f};
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bb, diag_out, dirs[0]), 2);
        /* Oblique directions, including through the box's corners and the sphere's vertices. */
        const float corner_dir[3] = {1, 1, 1}, edge_dir[3] = {1, 1, 0}, odd_dir[3] = {0.3f, -0.7f, 0.2f};
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bb, o, corner_dir), 1);
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bb, o, edge_dir), 1);
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bb, o, odd_dir), 1);
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bs, o, odd_dir), 1);
        for (long v = 0; v < s.nv; v++) CHECK_EQ_INT(gnf_bvh_ray_crossings(bs, o, s.v + 3 * v), 1);
        const float far_pt[3] = {-3, 0.2f, 0.1f}, back[3] = {-1, 0, 0};
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bs, far_pt, dirs[0]), 2);
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bs, far_pt, back), 0);
    }
    gnf_bvh_free(bs), gnf_bvh_free(bb);
    mb_free(&s), mb_free(&bx);
}

/* The watertight fast path and the winding sign agree on closed meshes, at random points and at
 * points lined up with vertices (their axis rays run through vertices and edges). */
static void check_watertight_agrees(const gnf_mesh *m, uint64_t seed, const char *name) {
    gnf_bvh *b = build_or_fail(m);
    if (!b) return;
    gnf_rng r;
    gnf_rng_seed(&r, seed, 3);
    enum { N = 3000 };
    float *pts = malloc(N * 3 * sizeof *pts), *s0 = malloc(N * sizeof *s0), *s1 = malloc(N * sizeof *s1);
    for (int i = 0; i < N; i++) {
        float *p = pts + 3 * i;
        if (i % 3 == 0) {
            random_point(&r, -1.5f, 1.5f, p);
        } else {
            /* Share two coordinates with a random vertex: two of the three rays meet it. */
            long v = gnf_rng_below(&r, (uint32_t)m->nv);
            memcpy(p, m->v + 3 * v, 3 * sizeof *p);
            int k = (int)gnf_rng_below(&r, 3);
            p[k] = p[k] * (0.5f + 1.0f * gnf_rng_uniform(&r)) + (i % 3 == 1 ? 0.0f : 0.3f * (gnf_rng_uniform(&r) - 0.5f));
        }
    }
    gnf_bvh_sdf(b, pts, N, s0, 0, 2);
    gnf_bvh_sdf(b, pts, N, s1, 1, 2);
    int bad = 0, checked = 0;
    for (int i = 0; i < N; i++) {
        CHECK(fabsf(s0[i]) == fabsf(s1[i]));
        if (fabsf(s0[i]) < 1e-5f) continue; /* on the surface the sign is moot */
        checked++;
        if ((s0[i] < 0) != (s1[i] < 0) && bad++ < 5)
            CHECK_MSG(0, "%s: point (%.9g %.9g %.9g): winding sign %g, parity sign %g", name, pts[3 * i], pts[3 * i + 1],
                      pts[3 * i + 2], s0[i], s1[i]);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(checked > N / 2);
    free(pts), free(s0), free(s1);
    gnf_bvh_free(b);
}

TEST(bvh_watertight_sign_agrees_with_winding) {
    mbuild s = icosphere(3), bx = box_mesh(0.5), t = torus_mesh(1.0, 0.3, 64, 32), bs = bumpy_sphere(4);
    mbuild soup = unweld(&t);
    gnf_mesh ms = mb_mesh(&s), mbx = mb_mesh(&bx), mt = mb_mesh(&t), mbs = mb_mesh(&bs), msoup = mb_mesh(&soup);
    check_watertight_agrees(&ms, 1, "icosphere");
    check_watertight_agrees(&mbx, 2, "box");
    check_watertight_agrees(&mt, 3, "torus");
    check_watertight_agrees(&mbs, 4, "bumpy sphere");
    check_watertight_agrees(&msoup, 5, "torus soup");
    mb_free(&s), mb_free(&bx), mb_free(&t), mb_free(&bs), mb_free(&soup);
}

TEST(bvh_sdf_same_bytes_any_thread_count) {
    mbuild t = torus_mesh(1.0, 0.3, 64, 32);
    gnf_mesh mt = mb_mesh(&t);
    gnf_bvh *b = build_or_fail(&mt);
    if (!b) return;
    enum { N = 10007 };
    float *pts = malloc(N * 3 * sizeof *pts), *a = malloc(N * sizeof *a), *c = malloc(N * sizeof *c);
    gnf_rng r;
    gnf_rng_seed(&r, 5, 5);
    for (int i = 0; i < N; i++) {
        if (i & 1) near_surface_point(&r, &mt, 0.05f, pts + 3 * i);
        else random_point(&r, -1.5f, 1.5f, pts + 3 * i);
    }
    for (int wt = 0; wt < 2; wt++) {
        gnf_bvh_sdf(b, pts, N, a, wt, 1);
        gnf_bvh_sdf(b, pts, N, c, wt, 3);
        CHECK(memcmp(a, c, N * sizeof *a) == 0);
        /* And each value is the single-point query's. */
        for (int i = 0; i < N; i += 97) CHECK(fabsf(a[i]) == gnf_bvh_closest(b, pts + 3 * i, NULL, NULL));
    }
    /* Unsigned batch: the same bytes at any thread count, and exactly the single-point values. */
    gnf_bvh_distance(b, pts, N, a, 1);
    gnf_bvh_distance(b, pts, N, c, 3);
    CHECK(memcmp(a, c, N * sizeof *a) == 0);
    int differ = 0;
    for (int i = 0; i < N; i++) differ += a[i] != gnf_bvh_closest(b, pts + 3 * i, NULL, NULL);
    CHECK_EQ_INT(differ, 0);
    gnf_bvh_distance(b, pts, 0, a, 3);
    gnf_bvh_sdf(b, pts, 0, a, 0, 3); /* n = 0 is a no-op */
    free(pts), free(a), free(c);
    gnf_bvh_free(b);
    mb_free(&t);
}

/* ------------------------------------------------------------------------------------------ */
/* Degenerate input                                                                            */

static int all_finite(const float *x, long n) {
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

TEST(bvh_degenerate_triangles_and_tiny_meshes) {
    /* The icosphere plus zero-area faces lying on its own edges and vertices: distances and
     * winding numbers do not change, and nothing is NaN. */
    mbuild s = icosphere(2), d = icosphere(2);
    long nf0 = d.nf;
    for (long t = 0; t < nf0; t += 7) {
        long a = d.f[3 * t], bb = d.f[3 * t + 1];
        mb_face(&d, a, a, bb); /* repeated index */
        mb_face(&d, a, a, a);  /* a point */
        const float *va = d.v + 3 * a, *vb = d.v + 3 * bb;
        long m = mb_vertex(&d, ((double)va[0] + vb[0]) / 2, ((double)va[1] + vb[1]) / 2, ((double)va[2] + vb[2]) / 2);
        mb_face(&d, a, m, bb); /* collinear: a sliver along the chord */
    }
    gnf_mesh ms = mb_mesh(&s), md = mb_mesh(&d);
    gnf_bvh *bs = build_or_fail(&ms), *bd = build_or_fail(&md);
    if (bs && bd) {
        gnf_rng r;
        gnf_rng_seed(&r, 31, 1);
        for (int i = 0; i < 500; i++) {
            float p[3];
            if (i & 1) random_point(&r, -1.5f, 1.5f, p);
            else near_surface_point(&r, &ms, 0.01f, p);
            float cp[3];
            double dd = gnf_bvh_closest(bd, p, cp, NULL);
            CHECK(all_finite(cp, 3));
            CHECK_NEAR(dd, gnf_bvh_closest(bs, p, NULL, NULL), 1e-6 * dd + 1e-7);
            CHECK_NEAR(dd, ref_dist(&md, p), 1e-6 * dd + 1e-12);
            /* The slivers are only collinear up to the float rounding of their middle vertex, so
             * they carry a real (tiny) solid angle. */
            double w = gnf_bvh_winding(bd, p), we = gnf_bvh_winding_beta(bd, p, 0);
            CHECK(isfinite(w) && isfinite(we));
            CHECK_NEAR(we, gnf_bvh_winding_beta(bs, p, 0), 1e-6);
            CHECK_NEAR(w, we, APPROX_TOL);
        }
        /* Points exactly on vertices, edges and the zero-area faces. */
        for (long v = 0; v < d.nv; v += 5) {
            float cp[3];
            CHECK(gnf_bvh_closest(bd, d.v + 3 * v, cp, NULL) == 0.0f);
            CHECK(all_finite(cp, 3));
            CHECK(isfinite(gnf_bvh_winding(bd, d.v + 3 * v)));
            CHECK(isfinite(gnf_bvh_winding_beta(bd, d.v + 3 * v, 0)));
        }
        float sdf[64];
        gnf_bvh_sdf(bd, d.v, 21, sdf, 0, 2);
        CHECK(all_finite(sdf, 21));
        gnf_bvh_sdf(bd, d.v, 21, sdf, 1, 2);
        CHECK(all_finite(sdf, 21));
    }
    gnf_bvh_free(bs), gnf_bvh_free(bd);
    mb_free(&s), mb_free(&d);

    /* A mesh of zero-area triangles only: distance to its segments, winding 0. */
    mbuild z = {0};
    mb_vertex(&z, 0, 0, 0), mb_vertex(&z, 1, 0, 0), mb_vertex(&z, 2, 0, 0), mb_vertex(&z, 0, 1, 0);
    mb_face(&z, 0, 1, 2), mb_face(&z, 3, 3, 3), mb_face(&z, 0, 0, 3);
    gnf_mesh mz = mb_mesh(&z);
    gnf_bvh *bz = build_or_fail(&mz);
    if (bz) {
        const float p[3] = {1.5f, -2.0f, 0.0f}, q[3] = {-1, 0.5f, 0}, on[3] = {0.5f, 0, 0};
        float cp[3];
        CHECK_NEAR(gnf_bvh_closest(bz, p, cp, NULL), 2.0, 1e-7);
        CHECK_NEAR(cp[0], 1.5, 1e-7);
        CHECK_NEAR(gnf_bvh_closest(bz, q, NULL, NULL), 1.0, 1e-7);
        CHECK(gnf_bvh_closest(bz, on, NULL, NULL) == 0.0f);
        CHECK(gnf_bvh_winding(bz, p) == 0.0);
        CHECK(gnf_bvh_winding(bz, on) == 0.0);
        float sdf[2];
        gnf_bvh_sdf(bz, p, 1, sdf, 0, 1);
        gnf_bvh_sdf(bz, p, 1, sdf + 1, 1, 1);
        CHECK_NEAR(sdf[0], 2.0, 1e-7);
        CHECK_NEAR(sdf[1], 2.0, 1e-7);
        gnf_bvh_free(bz);
    }
    mb_free(&z);

    /* One triangle: face, edge and vertex regions; the winding number is its solid angle. */
    mbuild one = {0};
    mb_vertex(&one, 0, 0, 0), mb_vertex(&one, 1, 0, 0), mb_vertex(&one, 0, 1, 0);
    mb_face(&one, 0, 1, 2);
    gnf_mesh mo = mb_mesh(&one);
    gnf_bvh *bo = build_or_fail(&mo);
    if (bo) {
        const float above[3] = {0.2f, 0.2f, 0.5f}, edge[3] = {0.5f, -1.0f, 1.0f}, vert[3] = {-1, -1, -1},
                    hyp[3] = {1, 1, 0};
        float cp[3];
        long tri = -1;
        CHECK_NEAR(gnf_bvh_closest(bo, above, cp, &tri), 0.5, 1e-7);
        CHECK_EQ_INT(tri, 0);
        CHECK_NEAR(cp[0], 0.2, 1e-7);
        CHECK_NEAR(cp[1], 0.2, 1e-7);
        CHECK_NEAR(cp[2], 0.0, 1e-7);
        CHECK_NEAR(gnf_bvh_closest(bo, edge, NULL, NULL), sqrt(2.0), 1e-6);
        CHECK_NEAR(gnf_bvh_closest(bo, vert, NULL, NULL), sqrt(3.0), 1e-6);
        CHECK_NEAR(gnf_bvh_closest(bo, hyp, NULL, NULL), sqrt(0.5), 1e-6);
        /* Seen from above the counter-clockwise side faces the point: negative solid angle. */
        double pd[3] = {0.2, 0.2, 0.5};
        double want = ref_solid_angle(pd, mo.v, mo.v + 3, mo.v + 6) / (4 * M_PI);
        CHECK(want < 0 && want > -0.5);
        CHECK_NEAR(gnf_bvh_winding(bo, above), want, 1e-9);
        const float far_pt[3] = {10, 20, 30};
        double pf[3] = {10, 20, 30};
        CHECK_NEAR(gnf_bvh_winding(bo, far_pt), ref_solid_angle(pf, mo.v, mo.v + 3, mo.v + 6) / (4 * M_PI), 1e-6);
        const float down[3] = {0, 0, -1};
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bo, above, down), 1);
        CHECK_EQ_INT(gnf_bvh_ray_crossings(bo, edge, down), 0);
        float lo[3], hi[3];
        gnf_bvh_bounds(bo, lo, hi);
        CHECK(lo[0] == 0 && lo[1] == 0 && lo[2] == 0 && hi[0] == 1 && hi[1] == 1 && hi[2] == 0);
        CHECK_EQ_INT(gnf_bvh_triangle_count(bo), 1);
        gnf_bvh_free(bo);
    }

    /* Bad input is an error, not a crash. */
    gnf_bvh *bad = (gnf_bvh *)&mo;
    gnf_mesh empty = {mo.v, mo.f, 3, 0, NULL};
    CHECK_EQ_INT(gnf_bvh_build(&empty, &bad), GNF_ERR_INVALID);
    CHECK(bad == NULL);
    one.f[1] = 3;
    CHECK_EQ_INT(gnf_bvh_build(&mo, &bad), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "out of range") != NULL);
    one.f[1] = 1;
    one.v[4] = NAN;
    CHECK_EQ_INT(gnf_bvh_build(&mo, &bad), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "non-finite") != NULL);
    gnf_bvh_free(NULL);
    mb_free(&one);
}

/* ------------------------------------------------------------------------------------------ */
/* Batch queries and the real Armadillo (speeds are measured in bench/, never here)            */

/* The batch calls give, bit for bit, what the point-by-point calls give: gnf_bvh_distance the
 * distance of gnf_bvh_closest, and gnf_bvh_sdf that distance with a sign, on a watertight bumpy
 * sphere (both sign modes) and a fine torus, at points near the surface in random order. */
static void check_batch_queries(const gnf_mesh *m, const char *name, float noise) {
    gnf_bvh *b = build_or_fail(m);
    if (!b) return;
    const long n = 20000;
    float *pts = malloc((size_t)n * 3 * sizeof *pts), *dist = malloc((size_t)n * sizeof *dist);
    float *s1 = malloc((size_t)n * sizeof *s1), *s0 = malloc((size_t)n * sizeof *s0);
    gnf_rng r;
    gnf_rng_seed(&r, 77, 7);
    for (long i = 0; i < n; i++) near_surface_point(&r, m, noise, pts + 3 * i);
    gnf_bvh_distance(b, pts, n, dist, 2);
    gnf_bvh_sdf(b, pts, n, s1, 1, 2);
    gnf_bvh_sdf(b, pts, n, s0, 0, 2);
    long bad_d = 0, bad_s = 0;
    for (long i = 0; i < n; i++) {
        float d = gnf_bvh_closest(b, pts + 3 * i, NULL, NULL);
        bad_d += dist[i] != d;
        bad_s += fabsf(s1[i]) != d || fabsf(s0[i]) != d || (s1[i] < 0) != (s0[i] < 0);
    }
    CHECK_MSG(bad_d == 0, "%s: %ld batch distances differ from gnf_bvh_closest", name, bad_d);
    CHECK_MSG(bad_s == 0, "%s: %ld signed distances differ (magnitude or sign mode)", name, bad_s);
    free(pts), free(dist), free(s1), free(s0);
    gnf_bvh_free(b);
}

TEST(bvh_batch_queries_match_single) {
    mbuild bs = bumpy_sphere(6), t = torus_mesh(1.0, 0.3, 400, 128);
    gnf_mesh mbs = mb_mesh(&bs), mt = mb_mesh(&t);
    check_batch_queries(&mbs, "bumpy sphere", 0.02f);
    check_batch_queries(&mt, "torus", 0.01f);
    mb_free(&bs), mb_free(&t);
}

/* Minimal OBJ reading (v and f lines, polygons fanned) so this test does not depend on the
 * library's mesh readers. */
static int read_obj(const char *path, mbuild *m) {
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    char line[1024];
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == 'v' && line[1] == ' ') {
            double x, y, z;
            if (sscanf(line + 2, "%lf %lf %lf", &x, &y, &z) == 3) mb_vertex(m, x, y, z);
        } else if (line[0] == 'f' && line[1] == ' ') {
            long idx[64];
            int n = 0;
            char *s = line + 2;
            while (n < 64) {
                char *e;
                long v = strtol(s, &e, 10);
                if (e == s) break;
                idx[n++] = v > 0 ? v - 1 : m->nv + v;
                s = e;
                while (*s && *s != ' ' && *s != '\t') s++;
            }
            for (int k = 2; k < n; k++) mb_face(m, idx[0], idx[k - 1], idx[k]);
        }
    }
    fclose(fp);
    return m->nf > 0;
}

TEST(bvh_armadillo) {
    const char *dir = test_data_dir();
    if (!dir) SKIP("no ../shared/data (set GNF_DATA)");
    char path[4096];
    snprintf(path, sizeof path, "%s/meshes/armadillo.obj", dir);
    mbuild a = {0};
    if (!read_obj(path, &a)) {
        mb_free(&a);
        SKIP("armadillo.obj not readable");
    }
    gnf_mesh ma = mb_mesh(&a);
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (long i = 0; i < a.nv; i++)
        for (int k = 0; k < 3; k++) lo[k] = GNF_MIN(lo[k], a.v[3 * i + k]), hi[k] = GNF_MAX(hi[k], a.v[3 * i + k]);
    float ext = GNF_MAX(hi[0] - lo[0], GNF_MAX(hi[1] - lo[1], hi[2] - lo[2]));
    check_batch_queries(&ma, "armadillo", 0.01f * ext);
    gnf_bvh *b = build_or_fail(&ma);
    if (b) {
        gnf_rng r;
        gnf_rng_seed(&r, 99, 1);
        enum { N = 2000 };
        float *pts = malloc(N * 3 * sizeof *pts), *s0 = malloc(N * sizeof *s0), *s1 = malloc(N * sizeof *s1);
        for (int i = 0; i < N; i++) {
            float *p = pts + 3 * i;
            if (i & 1) near_surface_point(&r, &ma, 0.02f * ext, p);
            else
                for (int k = 0; k < 3; k++) p[k] = lo[k] - 0.1f * ext + (hi[k] - lo[k] + 0.2f * ext) * gnf_rng_uniform(&r);
        }
        gnf_bvh_sdf(b, pts, N, s0, 0, 0);
        gnf_bvh_sdf(b, pts, N, s1, 1, 0);
        int disagree = 0, inside = 0;
        for (int i = 0; i < N; i++) {
            inside += s0[i] < 0;
            if (fabsf(s0[i]) > 1e-5f * ext && (s0[i] < 0) != (s1[i] < 0)) disagree++;
            if (i < 100) CHECK_NEAR(fabs(s0[i]), ref_dist(&ma, pts + 3 * i), 1e-6 * fabs(s0[i]) + 1e-12);
        }
        CHECK_EQ_INT(disagree, 0);
        CHECK(inside > N / 8);
        free(pts), free(s0), free(s1);
        gnf_bvh_free(b);
    }
    mb_free(&a);
}
