/* test_sdf.c — the SDF task end to end on meshes written by the test (a sphere, the same sphere
 * with a hole) and on a real mesh from ../shared/data: the ground-truth pool, fitting to an IoU
 * threshold, queries in mesh coordinates (distance and gradient), marching-cubes export (and
 * its hygiene: a mesh other tools accept), the metrics, the preview render, and model files of
 * 3D hash fields. */
#include "field/field.h"
#include "geom/mcubes.h"
#include "geom/mesh.h"
#include "tasks/train.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

/* A UV sphere of radius r centred at c, written as OBJ; with `hole`, the faces of the top cap
 * (polar angle < 30 degrees) are left out. */
static void write_sphere(const char *path, float r, const float c[3], int hole) {
    FILE *f = fopen(path, "w");
    const int nu = 48, nv = 24;
    fprintf(f, "v %g %g %g\n", c[0], c[1], c[2] + r);
    for (int i = 1; i < nv; i++)
        for (int j = 0; j < nu; j++) {
            double th = M_PI * i / nv, ph = 2 * M_PI * j / nu;
            fprintf(f, "v %.7f %.7f %.7f\n", c[0] + r * sin(th) * cos(ph), c[1] + r * sin(th) * sin(ph), c[2] + r * cos(th));
        }
    fprintf(f, "v %g %g %g\n", c[0], c[1], c[2] - r);
    int last = 1 + (nv - 1) * nu + 1;
    for (int j = 0; j < nu; j++) {
        int a = 2 + j, b = 2 + (j + 1) % nu;
        if (!hole) fprintf(f, "f 1 %d %d\n", a, b);
    }
    for (int i = 1; i < nv - 1; i++)
        for (int j = 0; j < nu; j++) {
            int a = 2 + (i - 1) * nu + j, b = 2 + (i - 1) * nu + (j + 1) % nu;
            int a2 = a + nu, b2 = b + nu;
            if (hole && i < nv / 6) continue;
            fprintf(f, "f %d %d %d %d\n", a, a2, b2, b);
        }
    for (int j = 0; j < nu; j++) {
        int a = 2 + (nv - 2) * nu + j, b = 2 + (nv - 2) * nu + (j + 1) % nu;
        fprintf(f, "f %d %d %d\n", a, last, b);
    }
    fclose(f);
}

/* Every sample evaluated: the reference for the narrow-band extraction. */
static int full_field(void *user, const float *pts, long n, float *out) {
    return gnf_model_eval(user, pts, n, out, 0) != GNF_OK;
}

/* The mesh file obj as an SDF target with a pool of `samples` points (NULL on failure). */
static gnf_sdf_target *target_of(const char *obj, long samples) {
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = samples;
    gnf_sdf_target *t = NULL;
    CHECK(gnf_sdf_target_create(obj, &sc, &t) == GNF_OK);
    return t;
}

/* A model of about `params` parameters with encoding enc, fitted to t for `steps` steps with the
 * L2 loss (batch 0: the default batch). */
/* A new SDF model of the encoding within params parameters (hash grids up to resolution 1024). */
static gnf_model *new_model(gnf_encoding enc, long params) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 3, 1);
    cfg.encoding = enc;
    CHECK(gnf_model_config_for_params(&cfg, params, enc == GNF_ENC_HASH ? 1024 : 0) == GNF_OK);
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_SDF, &m) == GNF_OK);
    return m;
}

static gnf_model *fit_model(const gnf_sdf_target *t, gnf_encoding enc, long params, long steps, long batch,
                            gnf_train_report *rep) {
    gnf_model *m = new_model(enc, params);
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = steps;
    if (batch) tc.batch = batch;
    tc.loss = GNF_LOSS_L2;
    CHECK(gnf_fit_sdf(m, t, &tc, 0, rep) == GNF_OK);
    return m;
}

/* The export of a fitted field as other tools need it (see check_hygiene in test_mcubes.c):
 * closed, manifold edges and vertices, distinct vertices, no tiny triangle, no two triangles
 * without a shared vertex touching.  m is the file read back (mesh coordinates: the cell is
 * 2 / (res - 1) / scale wide). */
static void check_export_hygiene(const gnf_mesh *m, int res, float scale) {
    test_hygiene r;
    test_mesh_hygiene(m, 2.0 / (res - 1) / scale, 0.1, &r);
    CHECK_MSG(r.boundary_edges == 0 && r.nonmanifold_edges == 0 && r.nonmanifold_vertices == 0,
              "%ld boundary edges, %ld non-manifold edges, %ld non-manifold vertices",
              r.boundary_edges, r.nonmanifold_edges, r.nonmanifold_vertices);
    CHECK_EQ_INT(r.duplicate_vertices, 0);
    CHECK_MSG(r.min_area >= 1e-4 && r.min_edge >= 0.02, "smallest triangle %.3g cell faces, "
              "shortest edge %.3g cells", r.min_area, r.min_edge);
    CHECK_MSG(r.touching_pairs == 0 && r.min_gap >= 0.005, "%ld touching pairs, closest pair "
              "%.3g cells apart", r.touching_pairs, r.min_gap);
}

TEST(sdf_sphere_fit_query_mesh_metrics) {
    const float c[3] = {10, -3, 2}, r = 4;
    const char *obj = test_tmp("sphere.obj");
    write_sphere(obj, r, c, 0);
    gnf_sdf_target *t = target_of(obj, 1 << 17);
    if (!t) return;
    gnf_sdf_target_info in;
    gnf_sdf_target_get_info(t, &in);
    CHECK(in.watertight && !in.sign_by_winding && in.faces == 48 * 2 + 48 * 22 * 2);
    CHECK_NEAR(in.center[0], 10, 1e-5);
    CHECK_NEAR(in.scale, 1.9 / sqrt(3 * 64.0), 1e-4); /* bbox diagonal of the sphere: 8 sqrt(3) */
    { /* the pool (normalised frame): surface points first (distance 0), every distance ~ |p| - r */
        const float *pp, *ps;
        long pn;
        gnf_sdf_target_pool(t, &pp, &ps, &pn);
        CHECK(pn == 1 << 17 && ps[0] == 0 && ps[pn / 2 - 1] == 0);
        double rn = r * in.scale, worst = 0;
        for (long i = 0; i < pn; i++) {
            double e = fabs(ps[i] - (sqrt((double)pp[3 * i] * pp[3 * i] + (double)pp[3 * i + 1] * pp[3 * i + 1] +
                                          (double)pp[3 * i + 2] * pp[3 * i + 2]) - rn));
            if (e > worst) worst = e;
        }
        CHECK_MSG(worst < 0.01 * rn, "pool distance off by %.5f (radius %.4f)", worst, rn);
    }
    gnf_train_report rep;
    gnf_model *m = fit_model(t, GNF_ENC_DENSE, 200000, 300, 8192, &rep);
    CHECK_MSG(rep.quality > 0.95, "held-out IoU %.4f", rep.quality);
    /* queries in mesh coordinates: distance ~ |p - c| - r, gradient ~ radial unit vector */
    float p[4 * 3] = {c[0], c[1], c[2] + 2, c[0] + 6, c[1], c[2], c[0], c[1] - 5, c[2], c[0] + 2.5f, c[1] + 2.5f, c[2]};
    float d[4], g[12];
    CHECK(gnf_sdf_query(m, p, 4, d, g, 0) == GNF_OK);
    float want[4] = {-2, 2, 1, (float)(sqrt(12.5) - 4)};
    /* the relative loss weights points by 1/(|d| + 0.1): exact near the surface, looser far away */
    for (int i = 0; i < 4; i++) CHECK_NEAR(d[i], want[i], 0.05 + 0.2 * fabsf(want[i]));
    CHECK_NEAR(g[3], 1, 0.3);  /* at +x: gradient +x */
    CHECK_NEAR(g[7], -1, 0.3); /* at -y: gradient -y */
    /* metrics against the same mesh */
    gnf_sdf_metrics mt;
    CHECK(gnf_sdf_evaluate(m, t, 96, 0, &mt) == GNF_OK);
    CHECK_MSG(mt.iou > 0.95 && mt.nae_deg < 6 && mt.chamfer_l1 < 0.002 && mt.fscore > 0.95,
              "iou %.4f nae %.2f chamfer %.5f f %.3f", mt.iou, mt.nae_deg, mt.chamfer_l1, mt.fscore);
    /* a slice through the centre against the mesh: inside blue at the centre, outside orange in a
     * corner, almost no pixel of the wrong sign; a bad axis is refused */
    gnf_image sl;
    double wrong = -1;
    CHECK(gnf_sdf_render_slice(m, 2, c[2], 64, 64, t, 0, &sl, &wrong) == GNF_OK);
    CHECK_MSG(wrong >= 0 && wrong < 0.01, "wrong-sign share %.4f", wrong);
    const float *mid = sl.px + 3 * (32 * 64 + 32), *corner = sl.px;
    CHECK(mid[2] > mid[0] && corner[0] > corner[2]);
    gnf_image_free(&sl);
    CHECK(gnf_sdf_render_slice(m, 3, 0, 64, 64, NULL, 0, &sl, NULL) == GNF_ERR_INVALID);
    /* marching cubes export in mesh coordinates, watertight, right size */
    const char *ply = test_tmp("sphere_out.ply");
    long nv = 0, nf = 0;
    CHECK(gnf_sdf_extract_mesh(m, 64, ply, 0, &nv, &nf) == GNF_OK);
    gnf_mesh out;
    CHECK(gnf_mesh_load(ply, &out, NULL) == GNF_OK);
    CHECK(out.nf == nf && gnf_mesh_boundary_edges(&out) == 0);
    double vol = gnf_mesh_volume(&out), want_vol = 4.0 / 3.0 * M_PI * r * r * r;
    CHECK_MSG(fabs(vol - want_vol) < 0.05 * want_vol, "volume %.2f vs %.2f", vol, want_vol);
    check_export_hygiene(&out, 64, in.scale);
    gnf_mesh_free(&out);
    /* at 128³ and above the export evaluates only a narrow band around the surface: it must give
     * the same mesh as evaluating every sample */
    CHECK(gnf_sdf_extract_mesh(m, 128, ply, 0, &nv, &nf) == GNF_OK);
    gnf_mc_config mc = {{-1, -1, -1}, {1, 1, 1}, 128, 0.0f, 0};
    gnf_mesh full;
    CHECK(gnf_marching_cubes(&mc, full_field, m, &full) == GNF_OK);
    CHECK_MSG(full.nv == nv && full.nf == nf, "narrow band %ld/%ld vs full %ld/%ld", nv, nf, full.nv, full.nf);
    gnf_mesh_free(&full);
    /* a preview render: white background at the corner, something darker in the middle */
    gnf_image img;
    CHECK(gnf_sdf_render(m, 64, 48, 30, 20, 3.2f, 40, 0, &img) == GNF_OK);
    CHECK(img.px[0] == 1.0f && img.px[((24 * 64) + 32) * 3] < 0.99f);
    gnf_image_free(&img);
    /* model file round trip keeps the normalisation and the values */
    const char *gf = test_tmp("sphere.gnf");
    CHECK(gnf_model_save(m, gf, 0) == GNF_OK);
    gnf_model *b = NULL;
    CHECK(gnf_model_load(gf, &b) == GNF_OK);
    if (b) {
        float d2[4];
        CHECK(gnf_sdf_query(b, p, 4, d2, NULL, 1) == GNF_OK);
        CHECK(memcmp(d, d2, sizeof d) == 0);
        gnf_model_free(b);
    }
    gnf_model_free(m);
    gnf_sdf_target_free(t);
}

/* A sphere with a hole: not watertight, so signs come from the winding number, which still puts
 * the centre inside and far points outside. */
static int note_quality(const gnf_progress *p, void *user) {
    double *seen = user;   /* [0]: the most seen, [1]: how many checks */
    if (!isnan(p->quality)) { if (p->quality > seen[0]) seen[0] = p->quality; seen[1]++; }
    return 0;
}

/* keep_best: with a knee schedule, GNF_TRAIN_BEST_CHECKS quality checks after the knee, and the
 * model returned is at least as good as the best of them (a noisy constant learning rate makes
 * the last step's model worse than some earlier check's). */
TEST(sdf_long_schedule_returns_the_best_check) {
    const float c[3] = {0, 0, 0};
    const char *obj = test_tmp("sphere_best.obj");
    write_sphere(obj, 1, c, 0);
    gnf_sdf_target *t = target_of(obj, 1 << 15);
    if (!t) return;
    gnf_model *m = new_model(GNF_ENC_DENSE, 30000);
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = 240;
    tc.batch = 2048;
    tc.lr0 = tc.lr1 = 0.05f;   /* no decay: the field keeps moving */
    tc.lr_knee_steps = 40;
    double seen[2] = {-1, 0};
    tc.progress = note_quality;
    tc.user = seen;
    tc.progress_every = 1;
    gnf_train_report rep;
    CHECK(gnf_fit_sdf(m, t, &tc, 0, &rep) == GNF_OK);
    CHECK_MSG(seen[1] == GNF_TRAIN_BEST_CHECKS, "%g checks", seen[1]);
    CHECK_MSG(rep.quality >= seen[0], "returned IoU %.5f, best check %.5f", rep.quality, seen[0]);
    const char *bs = gnf_model_get_meta(m, "gnf.train.best_step");
    if (bs) CHECK(atol(bs) > 40 && atol(bs) < 240);
    gnf_model_free(m);
    gnf_sdf_target_free(t);
}

TEST(sdf_open_mesh_uses_winding_number) {
    const float c[3] = {0, 0, 0};
    const char *obj = test_tmp("open.obj");
    write_sphere(obj, 1, c, 1);
    gnf_sdf_target *t = target_of(obj, 1 << 14);
    if (!t) return;
    gnf_sdf_target_info in;
    gnf_sdf_target_get_info(t, &in);
    CHECK(!in.watertight && in.boundary_edges == 48 && in.sign_by_winding);
    /* the target's ground truth in mesh units: inside at the centre and below the hole's rim
     * (z = cos 30°, radius 1/2), whose distance there is to the rim, outside far away */
    const float q[9] = {0, 0, 0, 0, 0, 0.7f, 3, 0, 0};
    float g[3];
    CHECK(gnf_sdf_target_sdf(t, q, 3, g, 0) == GNF_OK);
    CHECK_NEAR(g[0], -1, 0.01);
    CHECK_NEAR(g[1], -sqrt(0.25 + (cos(M_PI / 6) - 0.7) * (cos(M_PI / 6) - 0.7)), 0.01);
    CHECK_NEAR(g[2], 2, 0.01);
    CHECK(gnf_sdf_target_sdf(t, q, 0, g, 0) == GNF_OK);
    gnf_train_report rep;
    gnf_model *m = fit_model(t, GNF_ENC_DENSE, 60000, 150, 4096, &rep);
    float p[6] = {0, 0, 0, 0, 0, -0.5f};
    float d[2];
    CHECK(gnf_sdf_query(m, p, 2, d, NULL, 0) == GNF_OK);
    CHECK_MSG(d[0] < 0 && d[1] < 0, "inside points got %.3f %.3f", d[0], d[1]);
    gnf_model_free(m);
    gnf_sdf_target_free(t);
}

TEST(sdf_target_rejects_bad_meshes) {
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    gnf_sdf_target *t = NULL;
    const char *p = test_tmp("flat.obj");
    FILE *f = fopen(p, "w");
    fprintf(f, "v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n");
    fclose(f);
    CHECK(gnf_sdf_target_create(p, &sc, &t) != GNF_OK && t == NULL);
    CHECK(strstr(gnf_last_error(), "flat.obj") != NULL);
    CHECK(gnf_sdf_target_create(test_tmp("missing.obj"), &sc, &t) == GNF_ERR_IO);
    sc.samples = 10;
    CHECK(gnf_sdf_target_create(p, &sc, &t) == GNF_ERR_INVALID);
}

/* Real data: Spot the cow (watertight, 23k faces) reaches a held-out IoU of 0.95 in a short fit.
 * The held-out set is half near-surface points (sigma 0.01), which makes this IoU much stricter
 * than one over uniform points (a 400-step fit measured 0.97). */
TEST(e2e_spot_reaches_iou) {
#if defined(__SANITIZE_ADDRESS__)
    SKIP("end-to-end fit runs in the release build only (too slow under ASan)");
#else
    const char *dd = test_data_dir();
    if (!dd) SKIP("../shared/data not found");
    char p[4096];
    snprintf(p, sizeof p, "%s/meshes/spot.obj", dd);
    gnf_sdf_target *t = target_of(p, 1 << 19);
    if (!t) return;
    gnf_train_report rep;
    gnf_model *m = fit_model(t, GNF_ENC_HASH, 1000000, 400, 0, &rep);
    CHECK_MSG(rep.quality > 0.95, "spot held-out IoU %.4f", rep.quality);
    printf("      spot: held-out IoU %.5f after %ld steps, %.1f s\n", rep.quality, rep.steps, rep.seconds);
    /* a real fitted field passes samples within a hair of its zero level: the export at 128³
     * must still be a mesh other tools accept */
    gnf_sdf_target_info in;
    gnf_sdf_target_get_info(t, &in);
    const char *ply = test_tmp("spot_out.ply");
    gnf_mesh out;
    CHECK(gnf_sdf_extract_mesh(m, 128, ply, 0, NULL, NULL) == GNF_OK);
    if (gnf_mesh_load(ply, &out, NULL) == GNF_OK) {
        check_export_hygiene(&out, 128, in.scale);
        gnf_mesh_free(&out);
    } else {
        CHECK_MSG(0, "cannot read back %s: %s", ply, gnf_last_error());
    }
    gnf_model_free(m);
    gnf_sdf_target_free(t);
#endif
}
