/* test_sdf_metrics.c — the SDF metrics of the anchors' protocol: the grid occupancy against
 * per-point BVH signs (closed meshes with grid lines through their edges and vertices, real
 * meshes, an open mesh by winding number), its independence of the thread count, the mesh-to-mesh
 * normal angle on known configurations, and gnf_sdf_evaluate's grid IoU against a brute-force
 * evaluation of every grid point. */
#include "core/core.h"
#include "field/field.h"
#include "geom/occupancy.h"
#include "tasks/sdf_internal.h"
#include "test.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A mesh from nv vertices and nf faces (copied into gnf_calloc'd arrays). */
static gnf_mesh make_mesh(const float *v, long nv, const int32_t *f, long nf) {
    gnf_mesh m = {gnf_calloc((size_t)nv * 3, sizeof(float)), gnf_calloc((size_t)nf * 3, sizeof(int32_t)), nv, nf, NULL};
    memcpy(m.v, v, (size_t)nv * 3 * sizeof(float));
    memcpy(m.f, f, (size_t)nf * 3 * sizeof(int32_t));
    return m;
}

/* The cube [-s, s]^3, faces counter-clockwise from outside. */
static gnf_mesh cube_mesh(float s) {
    float v[8 * 3];
    for (int i = 0; i < 8; i++) { v[3 * i] = i & 1 ? s : -s; v[3 * i + 1] = i & 2 ? s : -s; v[3 * i + 2] = i & 4 ? s : -s; }
    static const int32_t f[12 * 3] = {0, 2, 1, 1, 2, 3, 4, 5, 6, 5, 7, 6, 0, 1, 4, 1, 5, 4,
                                      2, 6, 3, 3, 6, 7, 0, 4, 2, 2, 4, 6, 1, 3, 5, 3, 7, 5};
    return make_mesh(v, 8, f, 12);
}

/* The octahedron with vertices at +-s on the axes. */
static gnf_mesh octahedron_mesh(float s) {
    const float v[6 * 3] = {s, 0, 0, -s, 0, 0, 0, s, 0, 0, -s, 0, 0, 0, s, 0, 0, -s};
    static const int32_t f[8 * 3] = {0, 2, 4, 2, 1, 4, 1, 3, 4, 3, 0, 4, 2, 0, 5, 1, 2, 5, 3, 1, 5, 0, 3, 5};
    return make_mesh(v, 6, f, 8);
}

/* A UV sphere (radius r, centre 0); with `hole` the faces of the top cap are left out. */
static gnf_mesh sphere_mesh(float r, int hole) {
    enum { NU = 40, NV = 20 };
    float v[(2 + (NV - 1) * NU) * 3];
    int32_t f[2 * NU * NV * 3];
    long nv = 0, nf = 0;
    v[nv * 3] = 0; v[nv * 3 + 1] = 0; v[nv * 3 + 2] = r; nv++;
    for (int i = 1; i < NV; i++)
        for (int j = 0; j < NU; j++, nv++) {
            double th = M_PI * i / NV, ph = 2 * M_PI * j / NU;
            v[3 * nv] = (float)(r * sin(th) * cos(ph)); v[3 * nv + 1] = (float)(r * sin(th) * sin(ph)); v[3 * nv + 2] = (float)(r * cos(th));
        }
    v[nv * 3] = 0; v[nv * 3 + 1] = 0; v[nv * 3 + 2] = -r; nv++;
#define TRI(a, b, c) do { f[3 * nf] = (a); f[3 * nf + 1] = (b); f[3 * nf + 2] = (c); nf++; } while (0)
    for (int j = 0; j < NU; j++)
        if (!hole) TRI(0, 1 + j, 1 + (j + 1) % NU);
    for (int i = 0; i < NV - 2; i++)
        for (int j = 0; j < NU; j++) {
            int a = 1 + i * NU + j, b = 1 + i * NU + (j + 1) % NU;
            if (hole && i < 3) continue;
            TRI(a, a + NU, b + NU);
            TRI(a, b + NU, b);
        }
    for (int j = 0; j < NU; j++) TRI(1 + (NV - 2) * NU + j, (int)nv - 1, 1 + (NV - 2) * NU + (j + 1) % NU);
#undef TRI
    return make_mesh(v, nv, f, nf);
}

/* Grid occupancy of m at res^3 over [lo, hi] against per-point gnf_bvh_sdf signs (points within
 * 1e-6 of the surface left out: their sign is moot); also checks 1 and 2 threads give the same
 * bytes.  Returns the mismatches. */
static long grid_vs_points(const gnf_mesh *m, float lo, float hi, int res, int watertight, long *inside) {
    gnf_bvh *b = NULL;
    CHECK(gnf_bvh_build(m, &b) == GNF_OK);
    if (!b) return -1;
    const float l3[3] = {lo, lo, lo}, h3[3] = {hi, hi, hi};
    long n = (long)res * res * res, bad = 0;
    uint8_t *occ = gnf_calloc(gnf_occ_bytes(res), 1), *occ1 = gnf_calloc(gnf_occ_bytes(res), 1);
    float *pts = gnf_calloc((size_t)n * 3, sizeof(float)), *d = gnf_calloc((size_t)n, sizeof(float));
    CHECK(gnf_grid_occupancy(m, b, l3, h3, res, watertight, 2, occ) == GNF_OK);
    CHECK(gnf_grid_occupancy(m, b, l3, h3, res, watertight, 1, occ1) == GNF_OK);
    CHECK(memcmp(occ, occ1, gnf_occ_bytes(res)) == 0);
    for (long k = 0, q = 0; k < res; k++)
        for (long j = 0; j < res; j++)
            for (long i = 0; i < res; i++, q++) {
                long ijk[3] = {i, j, k};
                for (int a = 0; a < 3; a++) pts[3 * q + a] = (float)((double)lo + ((double)hi - lo) * (double)ijk[a] / (res - 1));
            }
    gnf_bvh_sdf(b, pts, n, d, watertight, 2);
    *inside = 0;
    for (long k = 0, q = 0; k < res; k++)
        for (long j = 0; j < res; j++)
            for (long i = 0; i < res; i++, q++) {
                int g = gnf_occ_get(occ, res, i, j, k);
                *inside += g;
                if (fabsf(d[q]) > 1e-6f && g != (d[q] < 0)) bad++;
            }
    gnf_free(occ); gnf_free(occ1); gnf_free(pts); gnf_free(d);
    gnf_bvh_free(b);
    return bad;
}

TEST(grid_occupancy_lines_through_edges_and_vertices) {
    /* res 11 over [-1, 1]: grid lines at multiples of 0.2 run through the cube's edges and face
     * diagonals and through the octahedron's vertices */
    gnf_mesh c = cube_mesh(0.6f), o = octahedron_mesh(0.6f);
    long in = 0;
    CHECK_EQ_INT(grid_vs_points(&c, -1, 1, 11, 1, &in), 0);
    CHECK_EQ_INT(grid_vs_points(&c, -1, 1, 11, 0, &in), 0);
    CHECK_EQ_INT(grid_vs_points(&o, -1, 1, 11, 1, &in), 0);
    CHECK_EQ_INT(grid_vs_points(&o, -1, 1, 11, 0, &in), 0);
    CHECK_EQ_INT(grid_vs_points(&c, -1, 1, 64, 1, &in), 0);
    CHECK_EQ_INT(grid_vs_points(&o, -0.7f, 0.7f, 57, 1, &in), 0);
    gnf_mesh_free(&c);
    gnf_mesh_free(&o);
}

TEST(grid_occupancy_sphere_and_open_sphere) {
    gnf_mesh s = sphere_mesh(0.8f, 0), h = sphere_mesh(0.8f, 1);
    long in = 0, in_h = 0;
    CHECK_EQ_INT(grid_vs_points(&s, -1, 1, 64, 1, &in), 0);
    /* inside count near the sphere's volume in grid cells: 4/3 pi 0.8^3 / (2/63)^3 */
    CHECK_NEAR((double)in, 4.0 / 3 * M_PI * 0.512 / pow(2.0 / 63, 3), 0.03 * in);
    CHECK_EQ_INT(grid_vs_points(&s, -1, 1, 64, 0, &in), 0);
    CHECK_EQ_INT(grid_vs_points(&h, -1, 1, 64, 0, &in_h), 0); /* by winding across the hole */
    CHECK_EQ_INT(grid_vs_points(&h, -0.9f, 0.9f, 45, 0, &in_h), 0);
    CHECK_NEAR((double)in_h, (double)in * pow(2.0 / 63 / (1.8 / 44), 3), 0.05 * in_h); /* same ball, coarser grid */
    gnf_mesh_free(&s);
    gnf_mesh_free(&h);
}

TEST(grid_occupancy_real_meshes) {
    const char *dd = test_data_dir();
    if (!dd) SKIP("../shared/data not found (bunny and armadillo)");
    const char *names[] = {"bunny", "armadillo"};
    for (int q = 0; q < 2; q++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/meshes/%s.obj", dd, names[q]);
        gnf_mesh m;
        if (gnf_mesh_load(p, &m, NULL) != GNF_OK) { CHECK_MSG(0, "cannot load %s", p); continue; }
        float lo = INFINITY, hi = -INFINITY;
        for (long i = 0; i < 3 * m.nv; i++) { lo = fminf(lo, m.v[i]); hi = fmaxf(hi, m.v[i]); }
        float pad = 0.05f * (hi - lo);
        long in = 0;
        CHECK_MSG(grid_vs_points(&m, lo - pad, hi + pad, 64, 1, &in) == 0, "%s: parity grid", names[q]);
        CHECK(in > 1000);
        CHECK_MSG(grid_vs_points(&m, lo - pad, hi + pad, 48, 0, &in) == 0, "%s: winding grid", names[q]);
        gnf_mesh_free(&m);
    }
}

/* Normal angle of a against b both ways (b's BVH built here). */
static double angle_ab(const gnf_mesh *a, const gnf_mesh *b, long *used) {
    gnf_bvh *bb = NULL;
    CHECK(gnf_bvh_build(b, &bb) == GNF_OK);
    double deg = NAN;
    CHECK(gnf_mesh_normal_angle(a, b, bb, 50000, 3, 2, &deg, used) == GNF_OK);
    gnf_bvh_free(bb);
    return deg;
}

TEST(mesh_normal_angle_known_cases) {
    gnf_mesh s = sphere_mesh(0.8f, 0);
    long used = 0;
    CHECK_NEAR(angle_ab(&s, &s, &used), 0, 1e-3); /* identical meshes */
    CHECK_EQ_INT(used, 50000);
    /* a square and the same square tilted by 20 degrees about its centre line: every matched
     * pair of faces is 20 degrees apart, both ways, and flipping one's orientation changes
     * nothing (orientation-free) */
    const double th = 20 * M_PI / 180;
    const float c = (float)cos(th), sn = (float)sin(th);
    const float sq[4 * 3] = {-1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 1, 0};
    const float tl[4 * 3] = {-1, -c, -sn, 1, -c, -sn, 1, c, sn, -1, c, sn};
    const int32_t f[2 * 3] = {0, 1, 2, 0, 2, 3}, fr[2 * 3] = {0, 2, 1, 0, 3, 2};
    gnf_mesh a = make_mesh(sq, 4, f, 2), b = make_mesh(tl, 4, f, 2), br = make_mesh(tl, 4, fr, 2);
    CHECK_NEAR(angle_ab(&a, &b, &used), 20, 1e-4);
    CHECK_NEAR(angle_ab(&b, &a, &used), 20, 1e-4);
    CHECK_NEAR(angle_ab(&a, &br, &used), 20, 1e-4);
    /* deterministic whatever the thread count */
    gnf_bvh *bb = NULL;
    CHECK(gnf_bvh_build(&s, &bb) == GNF_OK);
    gnf_mesh o = octahedron_mesh(0.8f);
    double d1, d2;
    long u1, u2;
    CHECK(gnf_mesh_normal_angle(&o, &s, bb, 20000, 5, 1, &d1, &u1) == GNF_OK);
    CHECK(gnf_mesh_normal_angle(&o, &s, bb, 20000, 5, 2, &d2, &u2) == GNF_OK);
    CHECK(d1 == d2 && u1 == u2 && d1 > 1);
    gnf_bvh_free(bb);
    gnf_mesh_free(&s); gnf_mesh_free(&a); gnf_mesh_free(&b); gnf_mesh_free(&br); gnf_mesh_free(&o);
}

/* gnf_sdf_evaluate's grid IoU (narrow-band field values, scanline truth) against every grid point
 * of the model evaluated and every point's BVH sign, on a fitted sphere at a resolution where the
 * narrow band is used (>= 128). */
TEST(sdf_evaluate_grid_iou_matches_brute_force) {
    gnf_mesh s = sphere_mesh(0.8f, 0);
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = 1 << 16;
    gnf_sdf_target *t = NULL;
    CHECK(gnf_sdf_target_create_from_arrays(s.v, s.nv, s.f, s.nf, &sc, &t) == GNF_OK);
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 3, 1);
    cfg.encoding = GNF_ENC_DENSE;
    CHECK(gnf_model_config_for_params(&cfg, 60000, 0) == GNF_OK);
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_SDF, &m) == GNF_OK);
    if (!t || !m) return;
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = 150;
    tc.batch = 8192;
    gnf_train_report rep;
    CHECK(gnf_fit_sdf(m, t, &tc, 0, &rep) == GNF_OK);
    const int res = 128;
    gnf_sdf_metrics mt;
    CHECK(gnf_sdf_evaluate(m, t, res, 2, &mt) == GNF_OK);
    CHECK_EQ_INT(mt.iou_grid_res, res);
    CHECK_MSG(mt.iou_grid > 0.9, "grid IoU %.4f", mt.iou_grid);
    CHECK_MSG(mt.nae_mesh_deg >= 0 && mt.nae_mesh_deg < 10, "mesh NAE %.3f", mt.nae_mesh_deg);
    CHECK(mt.nae_mesh_points > 2000000);
    /* brute force: the model at every grid point, the truth per point (normalised frame) */
    gnf_sdf_target_info in;
    gnf_sdf_target_get_info(t, &in);
    for (long i = 0; i < s.nv; i++)
        for (int k = 0; k < 3; k++) s.v[3 * i + k] = (s.v[3 * i + k] - in.center[k]) * in.scale;
    gnf_bvh *b = NULL;
    CHECK(gnf_bvh_build(&s, &b) == GNF_OK);
    long n = (long)res * res * res, inter = 0, uni = 0;
    float *pts = gnf_calloc((size_t)n * 3, sizeof(float)), *y = gnf_calloc((size_t)n, sizeof(float));
    float *d = gnf_calloc((size_t)n, sizeof(float));
    for (long k = 0, q = 0; k < res; k++)
        for (long j = 0; j < res; j++)
            for (long i = 0; i < res; i++, q++) {
                long ijk[3] = {i, j, k};
                for (int a = 0; a < 3; a++) pts[3 * q + a] = (float)(-1.0 + 2.0 * (double)ijk[a] / (res - 1));
            }
    CHECK(gnf_model_eval(m, pts, n, y, 2) == GNF_OK);
    gnf_bvh_sdf(b, pts, n, d, 1, 2);
    for (long q = 0; q < n; q++) { inter += (y[q] < 0) & (d[q] < 0); uni += (y[q] < 0) | (d[q] < 0); }
    CHECK_NEAR(mt.iou_grid, (double)inter / (double)uni, 1e-12);
    gnf_free(pts); gnf_free(y); gnf_free(d);
    gnf_bvh_free(b);
    gnf_model_free(m);
    gnf_sdf_target_free(t);
    gnf_mesh_free(&s);
}

/* The floor of the mesh metrics: the exact SDF of a closed mesh through marching cubes lies on
 * the mesh to well under a grid cell, every point is within the F-score's tau, and the normal
 * angle falls as the grid is refined (marching cubes' facets approach the mesh's). */
TEST(sdf_evaluate_exact_floor_shrinks_with_resolution) {
    gnf_mesh s = sphere_mesh(0.8f, 0);
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = 1024;
    gnf_sdf_target *t = NULL;
    CHECK(gnf_sdf_target_create_from_arrays(s.v, s.nv, s.f, s.nf, &sc, &t) == GNF_OK);
    gnf_mesh_free(&s);
    if (!t) return;
    gnf_sdf_metrics a, b;
    CHECK(gnf_sdf_evaluate_exact_points(t, 40, 1L << 16, 2, &a) == GNF_OK);
    CHECK(gnf_sdf_evaluate_exact_points(t, 120, 1L << 16, 2, &b) == GNF_OK);
    CHECK_EQ_INT(b.chamfer_points, 1L << 16);
    CHECK_EQ_INT(a.mc_res, 40);
    /* grid spacing 2/39 and 2/119 in the normalised frame */
    CHECK(a.chamfer_l1 > 0 && a.chamfer_l1 < 0.1 * 2.0 / 39);
    CHECK(b.chamfer_l1 < a.chamfer_l1);
    CHECK_NEAR(b.fscore, 1.0, 1e-9);
    CHECK(b.nae_mesh_deg < a.nae_mesh_deg);
    CHECK(b.nae_mesh_deg > 0 && b.nae_mesh_deg < 5);
    CHECK(isnan(a.iou_grid) && isnan(a.nae_deg));
    CHECK(gnf_sdf_evaluate_exact(t, 1, 2, &a) == GNF_ERR_INVALID);
    gnf_sdf_target_free(t);
}
