/* test_sdf_holes.c — meshes with holes (issue #9) on real data: the bunny from ../shared/data with
 * holes cut in memory (the faces whose centroid lies near a few vertices deleted).  Its SDF target
 * must keep the inside of the closed bunny: the target's ground truth (winding-number signs) agrees
 * with the closed mesh's (ray parity) at uniform points, near the surface and right at the holes,
 * and a short fit to the holed mesh recovers the closed bunny's occupancy about as well as the
 * same fit to the closed mesh. */
#include "geom/mesh.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

#define HOLES 5
#define HOLE_RADIUS 0.04f  /* × the bounding-box diagonal: twice the benchmark's holes */
#define N_SET 16384        /* points per set: uniform, near the surface, at the holes */

typedef struct {
    gnf_mesh mesh;                 /* the closed bunny, mesh coordinates */
    int32_t *holed;                /* its faces minus the holes' */
    long nf_holed;
    float centre[HOLES][3], radius;
    float box_c[3], box_h;         /* gnf's normalised box [-1,1]^3 in mesh units: centre, half side */
} holed_mesh;

/* Loads ../shared/data/meshes/NAME.obj into h and cuts HOLES holes of HOLE_RADIUS: centres at
 * seeded random vertices, every face with its centroid within the radius of a centre deleted.
 * Returns 0 (with the reason in *why) when the data is missing. */
static int load_holed(const char *name, holed_mesh *h, const char **why) {
    memset(h, 0, sizeof *h);
    const char *dd = test_data_dir();
    if (!dd) { *why = "../shared/data not found"; return 0; }
    char p[4096];
    snprintf(p, sizeof p, "%s/meshes/%s.obj", dd, name);
    if (gnf_mesh_load(p, &h->mesh, NULL) != GNF_OK) { *why = "mesh not readable"; return 0; }
    const gnf_mesh *m = &h->mesh;
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (long i = 0; i < m->nv; i++)
        for (int k = 0; k < 3; k++) lo[k] = fminf(lo[k], m->v[3 * i + k]), hi[k] = fmaxf(hi[k], m->v[3 * i + k]);
    double d2 = 0;
    for (int k = 0; k < 3; k++) d2 += (double)(hi[k] - lo[k]) * (hi[k] - lo[k]);
    float diag = (float)sqrt(d2);
    for (int k = 0; k < 3; k++) h->box_c[k] = 0.5f * (lo[k] + hi[k]);
    h->box_h = diag / 1.9f;
    h->radius = HOLE_RADIUS * diag;
    gnf_rng r;
    gnf_rng_seed(&r, 9, 0);
    for (int c = 0; c < HOLES; c++) memcpy(h->centre[c], m->v + 3 * gnf_rng_below(&r, (uint32_t)m->nv), sizeof h->centre[c]);
    h->holed = malloc((size_t)m->nf * 3 * sizeof(int32_t));
    for (long f = 0; f < m->nf; f++) {
        int keep = 1;
        for (int c = 0; c < HOLES && keep; c++) {
            double dd2 = 0;
            for (int k = 0; k < 3; k++) {
                float x = (m->v[3 * m->f[3 * f] + k] + m->v[3 * m->f[3 * f + 1] + k] + m->v[3 * m->f[3 * f + 2] + k]) / 3;
                dd2 += (double)(x - h->centre[c][k]) * (x - h->centre[c][k]);
            }
            keep = dd2 >= (double)h->radius * h->radius;
        }
        if (keep) memcpy(h->holed + 3 * h->nf_holed++, m->f + 3 * f, 3 * sizeof(int32_t));
    }
    return 1;
}

static void free_holed(holed_mesh *h) {
    gnf_mesh_free(&h->mesh);
    free(h->holed);
}

/* A standard normal (Box–Muller). */
static float gauss(gnf_rng *r) {
    float u1 = fmaxf(gnf_rng_uniform(r), 1e-12f), u2 = gnf_rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

/* 3 × N_SET points (mesh coordinates): uniform in the normalised box; near the surface (a vertex
 * of the closed mesh plus N(0, sigma²) per axis, sigma 0.01 normalised units, the metrics' noise);
 * uniform in the cubes of side 3 × radius around the hole centres. */
static float *test_points(const holed_mesh *h) {
    float *p = malloc((size_t)3 * N_SET * 3 * sizeof(float));
    gnf_rng r;
    gnf_rng_seed(&r, 10, 0);
    const float sigma = 0.01f * h->box_h;
    for (long i = 0; i < 3 * N_SET; i++) {
        float *q = p + 3 * i;
        if (i < N_SET) {
            for (int k = 0; k < 3; k++) q[k] = h->box_c[k] + h->box_h * test_urand(&r, -1, 1);
        } else if (i < 2 * N_SET) {
            const float *v = h->mesh.v + 3 * gnf_rng_below(&r, (uint32_t)h->mesh.nv);
            for (int k = 0; k < 3; k++) q[k] = v[k] + sigma * gauss(&r);
        } else {
            const float *c = h->centre[i % HOLES];
            for (int k = 0; k < 3; k++) q[k] = c[k] + 1.5f * h->radius * test_urand(&r, -1, 1);
        }
    }
    return p;
}

/* A target of the closed mesh (faces f, nf) or the holed one, with the smallest pool. */
static gnf_sdf_target *target_of(const holed_mesh *h, const int32_t *f, long nf, gnf_sign_mode sign, long samples) {
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = samples;
    sc.sign = sign;
    gnf_sdf_target *t = NULL;
    CHECK(gnf_sdf_target_create_from_arrays(h->mesh.v, h->mesh.nv, f, nf, &sc, &t) == GNF_OK);
    return t;
}

/* Sign comparison of a (< 0 inside) against b (the closed mesh's) at the 3 × N_SET test points:
 * wrong[set] counts the differing points of each set (uniform, near the surface, at the holes)
 * that lie farther than 2 hole radii from every hole centre, wrong_at_holes those within;
 * far_wrong is the largest distance from the closed surface (|b|) of a differing point; iou_away
 * the IoU of the two insides over the points away from the holes. */
typedef struct { long wrong[3], wrong_at_holes, at_holes; double iou_away, far_wrong; } sign_diff;

static sign_diff compare_signs(const holed_mesh *h, const float *pts, const float *a, const float *b) {
    sign_diff d;
    memset(&d, 0, sizeof d);
    long inter = 0, uni = 0;
    for (long i = 0; i < 3 * N_SET; i++) {
        int near_hole = 0;
        for (int c = 0; c < HOLES; c++) {
            double e2 = 0;
            for (int k = 0; k < 3; k++) e2 += (double)(pts[3 * i + k] - h->centre[c][k]) * (pts[3 * i + k] - h->centre[c][k]);
            near_hole |= e2 < 4.0 * h->radius * h->radius;
        }
        int x = a[i] < 0, y = b[i] < 0;
        if (x != y) d.far_wrong = fmax(d.far_wrong, fabsf(b[i]));
        if (near_hole) {
            d.at_holes++;
            d.wrong_at_holes += x != y;
        } else {
            d.wrong[i / N_SET] += x != y;
            inter += x & y;
            uni += x | y;
        }
    }
    d.iou_away = uni ? (double)inter / (double)uni : 1.0;
    return d;
}

/* The bunny with 5 holes of radius 0.04 × diagonal: the target sees the holes (boundary edges,
 * winding-number signs) and its ground truth keeps the closed bunny's inside.  Away from the holes
 * (farther than 2 radii from every centre) no sign may differ (2 allowed, for points within
 * rounding of the surface; measured 0).  Within 2 radii some must: the
 * winding number closes a hole by a cap across it where the real surface bulged or dipped; measured
 * (seed 9): 352 of 17054 points (2.1%), all within 0.33 radii of the closed surface.  The checks
 * leave ~3x and ~2x margin there, and fail for ray-parity signs (forced GNF_SIGN_PARITY, measured
 * below as the control: 505 differing signs away from the holes, 15% within 2 radii, up to 6 radii
 * from the surface) as for a flipped inside. */
TEST(sdf_holes_keep_the_inside_bunny) {
    holed_mesh h;
    const char *why = NULL;
    if (!load_holed("bunny", &h, &why)) { free_holed(&h); SKIP(why); }
    float *pts = test_points(&h);
    float *closed_gt = malloc(3 * N_SET * sizeof(float)), *holed_gt = malloc(3 * N_SET * sizeof(float));
    gnf_sdf_target *tc = target_of(&h, h.mesh.f, h.mesh.nf, GNF_SIGN_AUTO, 1024);
    gnf_sdf_target *th = target_of(&h, h.holed, h.nf_holed, GNF_SIGN_AUTO, 1024);
    if (tc && th) {
        gnf_sdf_target_info ic, ih;
        gnf_sdf_target_get_info(tc, &ic);
        gnf_sdf_target_get_info(th, &ih);
        CHECK(ic.watertight && !ic.sign_by_winding);
        CHECK_MSG(!ih.watertight && ih.sign_by_winding && ih.boundary_edges > 100, "holed: %ld boundary edges",
                  ih.boundary_edges);
        CHECK_MSG(h.mesh.nf - h.nf_holed > 1000, "%ld faces deleted", h.mesh.nf - h.nf_holed);
        /* the same frame: the deleted faces' vertices stay, so the bounding box is the same */
        CHECK(ic.scale == ih.scale && memcmp(ic.center, ih.center, sizeof ic.center) == 0);
        CHECK(gnf_sdf_target_sdf(tc, pts, 3 * N_SET, closed_gt, 0) == GNF_OK);
        CHECK(gnf_sdf_target_sdf(th, pts, 3 * N_SET, holed_gt, 0) == GNF_OK);
        long inside = 0;
        for (long i = 0; i < N_SET; i++) inside += closed_gt[i] < 0;
        CHECK_MSG(inside > N_SET / 50, "%ld uniform points inside the closed bunny", inside);
        sign_diff w = compare_signs(&h, pts, holed_gt, closed_gt);
        printf("      bunny, %d holes of %.2f x diagonal (%ld faces deleted), winding-number signs vs the closed mesh: "
               "away from the holes %ld uniform, %ld near-surface, %ld at-hole-cube points differ (inside IoU %.6f); "
               "within 2 radii of a hole %ld of %ld, at most %.3f radii from the closed surface\n",
               HOLES, (double)HOLE_RADIUS, h.mesh.nf - h.nf_holed, w.wrong[0], w.wrong[1], w.wrong[2], w.iou_away,
               w.wrong_at_holes, w.at_holes, w.far_wrong / h.radius);
        CHECK_MSG(w.wrong[0] + w.wrong[1] + w.wrong[2] <= 2, "away from the holes %ld + %ld + %ld signs differ",
                  w.wrong[0], w.wrong[1], w.wrong[2]);
        CHECK_MSG(w.wrong_at_holes <= w.at_holes / 16, "within 2 radii of a hole %ld of %ld signs differ",
                  w.wrong_at_holes, w.at_holes);
        CHECK_MSG(w.far_wrong <= 0.6 * h.radius, "a differing sign %.3f radii from the closed surface",
                  w.far_wrong / h.radius);
        /* the distances are the holed mesh's own: never smaller than the closed mesh's */
        long closer = 0;
        for (long i = 0; i < 3 * N_SET; i++) closer += fabsf(holed_gt[i]) < fabsf(closed_gt[i]) * (1 - 1e-5f);
        CHECK_EQ_INT(closer, 0);
#if !defined(__SANITIZE_ADDRESS__) /* a third target: slow under ASan, and not about memory */
        /* control: ray-parity signs on the holed mesh fail each of the checks above (rays escape
         * through the holes), so they have the power to catch a wrong sign */
        gnf_sdf_target *tp = target_of(&h, h.holed, h.nf_holed, GNF_SIGN_PARITY, 1024);
        if (tp && gnf_sdf_target_sdf(tp, pts, 3 * N_SET, holed_gt, 0) == GNF_OK) {
            sign_diff p = compare_signs(&h, pts, holed_gt, closed_gt);
            printf("      the same with ray-parity signs: %ld, %ld, %ld (inside IoU %.6f); within 2 radii %ld of %ld, "
                   "at most %.3f radii from the closed surface\n",
                   p.wrong[0], p.wrong[1], p.wrong[2], p.iou_away, p.wrong_at_holes, p.at_holes, p.far_wrong / h.radius);
            CHECK(p.wrong[0] + p.wrong[1] + p.wrong[2] > 2 && p.wrong_at_holes > p.at_holes / 16 &&
                  p.far_wrong > 0.6 * h.radius);
        }
        gnf_sdf_target_free(tp);
#endif
    }
    gnf_sdf_target_free(tc);
    gnf_sdf_target_free(th);
    free(pts);
    free(closed_gt);
    free(holed_gt);
    free_holed(&h);
}

#if !defined(__SANITIZE_ADDRESS__) /* the fit below is too slow under ASan */
/* A model of about 100k parameters (dense 3D grids) fitted to t for 300 steps of 4096 points. */
static gnf_model *fit_short(const gnf_sdf_target *t, gnf_train_report *rep) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 3, 1);
    cfg.encoding = GNF_ENC_DENSE;
    CHECK(gnf_model_config_for_params(&cfg, 100000, 0) == GNF_OK);
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_SDF, &m) == GNF_OK);
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = 300;
    tc.batch = 4096;
    tc.loss = GNF_LOSS_L2;
    CHECK(m && gnf_fit_sdf(m, t, &tc, 0, rep) == GNF_OK);
    return m;
}

/* IoU of the model's inside (field < 0) against the closed mesh's (closed_gt < 0) at points
 * [i0, i1) of pts. */
static double model_iou(const gnf_model *m, const float *pts, const float *closed_gt, long i0, long i1) {
    float *d = malloc((size_t)(i1 - i0) * sizeof(float));
    CHECK(gnf_sdf_query(m, pts + 3 * i0, i1 - i0, d, NULL, 0) == GNF_OK);
    long inter = 0, uni = 0;
    for (long i = i0; i < i1; i++) {
        int x = d[i - i0] < 0, y = closed_gt[i] < 0;
        inter += x & y;
        uni += x | y;
    }
    free(d);
    return uni ? (double)inter / (double)uni : 1.0;
}
#endif

/* The same short fit to the closed bunny and to the holed one, both measured against the closed
 * bunny's inside: the holes cost little, because the winding-number ground truth closes them.
 * Measured: 0.87920 closed, 0.87922 holed (uniform + near-surface points); in the cubes around the
 * holes 0.984 / 0.969.  Fitting the holed bunny with ray-parity signs instead (GNF_SIGN_PARITY)
 * gave 0.837 and 0.815: both checks below fail for it. */
TEST(e2e_holes_bunny_iou_close_to_closed) {
#if defined(__SANITIZE_ADDRESS__)
    SKIP("end-to-end fit runs in the release build only (too slow under ASan)");
#else
    holed_mesh h;
    const char *why = NULL;
    if (!load_holed("bunny", &h, &why)) { free_holed(&h); SKIP(why); }
    float *pts = test_points(&h), *closed_gt = malloc(3 * N_SET * sizeof(float));
    gnf_sdf_target *tc = target_of(&h, h.mesh.f, h.mesh.nf, GNF_SIGN_AUTO, 1L << 16);
    gnf_sdf_target *th = target_of(&h, h.holed, h.nf_holed, GNF_SIGN_AUTO, 1L << 16);
    if (tc && th && gnf_sdf_target_sdf(tc, pts, 3 * N_SET, closed_gt, 0) == GNF_OK) {
        gnf_train_report rc, rh;
        gnf_model *mc = fit_short(tc, &rc), *mh = fit_short(th, &rh);
        if (mc && mh) {
            double ic = model_iou(mc, pts, closed_gt, 0, 2 * N_SET), ih = model_iou(mh, pts, closed_gt, 0, 2 * N_SET);
            double hc = model_iou(mc, pts, closed_gt, 2 * N_SET, 3 * N_SET), hh = model_iou(mh, pts, closed_gt, 2 * N_SET, 3 * N_SET);
            printf("      %ld steps: IoU vs the closed bunny (uniform + near-surface points) %.5f fitted to it, %.5f fitted to "
                   "the holed one; in the cubes at the holes %.5f / %.5f\n", rc.steps, ic, ih, hc, hh);
            CHECK_MSG(ic > 0.85, "fitted to the closed bunny: IoU %.5f", ic);
            CHECK_MSG(ih > ic - 0.01, "fitted to the holed bunny: IoU %.5f, closed %.5f", ih, ic);
            CHECK_MSG(hh > hc - 0.05, "at the holes: IoU %.5f fitted to the holed bunny, %.5f to the closed", hh, hc);
        }
        gnf_model_free(mc);
        gnf_model_free(mh);
    }
    gnf_sdf_target_free(tc);
    gnf_sdf_target_free(th);
    free(pts);
    free(closed_gt);
    free_holed(&h);
#endif
}
