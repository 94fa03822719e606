/* test_scene_capture.c — transforms.json as real captures give it (instant-ngp's colmap2nerf.py,
 * nerfstudio's ns-process-data): OpenCV lens distortion undone exactly by gnf_view_ray, the scene
 * box from aabb_scale / scale / offset / aabb, nerfstudio's camera_model and the keys gnf refuses,
 * the every-8th held-out split of a folder with only transforms.json, cameras without pictures,
 * and (release build, real data) a lego scene rebuilt as a capture — 4:3 JPEG pictures distorted
 * with known coefficients, a shifted world, no test split — fitting as well as the Blender form. */
#include "test.h"
#include "io/scene.h"
#include "gnf.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixtures ------------------------------------------------------------------------------ */

#define MAT_T "[[1,0,0,%g],[0,1,0,%g],[0,0,1,%g],[0,0,0,1]]"

static const char *mkdir_tmp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", test_tmp_dir(), name);
    CHECK(mkdir(buf, 0755) == 0 || errno == EEXIST);
    return buf;
}

static void write_text(const char *path, const char *s) { test_write_file(path, s, strlen(s)); }

/* A w×h gray JPEG at path. */
static void write_gray_jpeg(const char *path, int w, int h) {
    unsigned char *px = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) px[i] = (unsigned char)(i * 7);
    test_write_jpeg(path, w, h, 1, px, 90);
    free(px);
}

/* A fresh temporary folder named name holding a 16x16 gray picture a.jpg (its path in jpg). */
static void folder_with_picture(char *dir, size_t n, const char *name, char *jpg, size_t jn) {
    mkdir_tmp(dir, n, name);
    snprintf(jpg, jn, "%s/a.jpg", dir);
    write_gray_jpeg(jpg, 16, 16);
}

/* OpenCV's distortion of the normalised point (x, y), y down: k = k1 k2 k3 p1 p2. */
static void distort_point(const double k[5], double x, double y, double *u, double *v) {
    double r2 = x * x + y * y, q = 1 + k[0] * r2 + k[1] * r2 * r2 + k[2] * r2 * r2 * r2;
    *u = x * q + 2 * k[3] * x * y + k[4] * (r2 + 2 * x * x);
    *v = y * q + k[3] * (r2 + 2 * y * y) + 2 * k[4] * x * y;
}

/* The inverse by the fixed-point iteration x = (u - tangential(x)) / radial(x) (another method than
 * the library's Newton steps, so that the two check each other). */
static void undistort_point(const double k[5], double u, double v, double *x, double *y) {
    double a = u, b = v;
    for (int it = 0; it < 200; it++) {
        double r2 = a * a + b * b, q = 1 + k[0] * r2 + k[1] * r2 * r2 + k[2] * r2 * r2 * r2;
        double tx = 2 * k[3] * a * b + k[4] * (r2 + 2 * a * a), ty = k[3] * (r2 + 2 * b * b) + 2 * k[4] * a * b;
        a = (u - tx) / q;
        b = (v - ty) / q;
    }
    *x = a;
    *y = b;
}

/* ---- distortion ---------------------------------------------------------------------------- */

/* gnf_view_ray inverts the distortion: points (x, y) on a grid over the field of view, distorted
 * by the forward model into pixels, must give rays along R (x, -y, -1) to float precision; a view
 * without coefficients gives the pinhole ray bit for bit as before. */
TEST(capture_undistort_exact) {
    gnf_view v;
    memset(&v, 0, sizeof v);
    v.w = 640, v.h = 480, v.fx = 500, v.fy = 510, v.cx = 322.5f, v.cy = 237.25f;
    /* a rotation about z by 30 degrees, at (1, 2, 3) */
    const float c = 0.8660254f, s = 0.5f;
    const float M[12] = {c, -s, 0, 1, s, c, 0, 2, 0, 0, 1, 3};
    memcpy(v.c2w, M, sizeof M);
    const double ks[3][5] = {{-0.3, 0.1, 0.02, 0.002, -0.003}, {0.12, -0.04, 0, 0, 0}, {0, 0, 0, 0.01, 0.01}};
    double worst = 0;
    for (int kk = 0; kk < 3; kk++) {
        memcpy(v.dist, ks[kk], sizeof v.dist);
        v.distorted = 1;
        for (int j = 0; j <= 20; j++)
            for (int i = 0; i <= 20; i++) {
                double x = -0.6 + 1.2 * i / 20, y = -0.45 + 0.9 * j / 20, u, w;
                distort_point(v.dist, x, y, &u, &w);
                float px = (float)(u * v.fx + v.cx), py = (float)(w * v.fy + v.cy);
                /* the exact pixel position the float holds, back to normalised coordinates */
                double ux = ((double)px - v.cx) / v.fx, uy = ((double)py - v.cy) / v.fy, xe, ye;
                undistort_point(v.dist, ux, uy, &xe, &ye);
                float o[3], d[3];
                gnf_view_ray(&v, px, py, o, d);
                double cam[3] = {xe, -ye, -1}, r[3], n = 0;
                for (int a = 0; a < 3; a++) {
                    r[a] = M[4 * a] * cam[0] + M[4 * a + 1] * cam[1] + M[4 * a + 2] * cam[2];
                    n += r[a] * r[a];
                }
                for (int a = 0; a < 3; a++) {
                    double e = fabs(d[a] - r[a] / sqrt(n));
                    if (e > worst) worst = e;
                    CHECK_NEAR(o[a], M[4 * a + 3], 0);
                }
                /* and the inverse reproduces the grid point itself (the float pixel position is
                 * within 1e-4 px of the exact one: 2e-7 in normalised units) */
                CHECK_NEAR(xe, x, 1e-6);
                CHECK_NEAR(ye, y, 1e-6);
            }
    }
    CHECK_MSG(worst < 2e-7, "ray direction error %.3g", worst);
    /* no distortion: the pinhole formula exactly */
    memset(v.dist, 0, sizeof v.dist);
    v.distorted = 0;
    float o[3], d[3];
    gnf_view_ray(&v, 17.5f, 401.5f, o, d);
    double x = (17.5 - (double)v.cx) / v.fx, y = -(401.5 - (double)v.cy) / v.fy, r[3], n = 0;
    for (int a = 0; a < 3; a++) {
        r[a] = M[4 * a] * x + M[4 * a + 1] * y - M[4 * a + 2];
        n += r[a] * r[a];
    }
    for (int a = 0; a < 3; a++) CHECK(d[a] == (float)(r[a] * (1.0 / sqrt(n))));
}

/* k1 k2 k3 p1 p2 per frame or at the top level (the frame's wins), scaled with nothing (they are
 * in normalised coordinates) by downscale; camera_model OPENCV / PINHOLE accepted,
 * applied_transform ignored. */
TEST(capture_distortion_keys) {
    char dir[1024], p[1200], json[4096];
    mkdir_tmp(dir, sizeof dir, "cap_keys");
    snprintf(p, sizeof p, "%s/a.jpg", dir);
    write_gray_jpeg(p, 40, 30);
    snprintf(json, sizeof json,
             "{\"camera_model\":\"OPENCV\",\"fl_x\":30,\"fl_y\":31,\"cx\":20,\"cy\":15,\"w\":40,\"h\":30,"
             "\"k1\":-0.1,\"k2\":0.01,\"p1\":0.001,\"p2\":-0.002,\"applied_transform\":[[1,0,0,0],[0,1,0,0],[0,0,1,0]],"
             "\"frames\":[{\"file_path\":\"a.jpg\",\"transform_matrix\":" MAT_T "},"
             "{\"file_path\":\"a.jpg\",\"k1\":0.2,\"k3\":0.05,\"k4\":0,\"transform_matrix\":" MAT_T "},"
             "{\"file_path\":\"a.jpg\",\"k1\":0,\"k2\":0,\"p1\":0,\"p2\":0,\"transform_matrix\":" MAT_T "}]}",
             0.0, 0.0, 4.0, 0.0, 0.0, 4.0, 0.0, 0.0, 4.0);
    snprintf(p, sizeof p, "%s/transforms.json", dir);
    write_text(p, json);
    gnf_scene sc;
    CHECK(gnf_scene_load(p, NULL, 2, 0, 1, &sc) == GNF_OK);
    if (sc.n != 3) { CHECK_EQ_INT(sc.n, 3); gnf_scene_free(&sc); return; }
    const double want0[5] = {-0.1, 0.01, 0, 0.001, -0.002}, want1[5] = {0.2, 0.01, 0.05, 0.001, -0.002};
    for (int k = 0; k < 5; k++) {
        CHECK(sc.views[0].dist[k] == want0[k]);
        CHECK(sc.views[1].dist[k] == want1[k]);
        CHECK(sc.views[2].dist[k] == 0);
    }
    CHECK(sc.views[0].distorted && sc.views[1].distorted && !sc.views[2].distorted);
    CHECK_EQ_INT(sc.views[0].w, 20);
    CHECK_EQ_INT(sc.views[0].h, 15);
    CHECK_NEAR(sc.views[0].fx, 15, 0);
    CHECK_NEAR(sc.views[0].cy, 7.5, 0);
    CHECK(!sc.has_box);
    CHECK_NEAR(sc.box, 1.5, 0);
    gnf_scene_free(&sc);
}

/* What gnf refuses says the file and the key. */
TEST(capture_unsupported_cameras) {
    char dir[1024], p[1200], json[2048];
    folder_with_picture(dir, sizeof dir, "cap_unsup", p, sizeof p);
    const char *tops[] = {"\"camera_model\":\"OPENCV_FISHEYE\",", "\"k4\":0.01,", "\"is_fisheye\":true,",
                          "\"camera_model\":7,", "\"k1\":\"x\",", "\"scale\":0,", "\"offset\":[0.5,0.5],",
                          "\"aabb_scale\":-2,", "\"aabb\":[[0,0,0],[0,0,0]],"};
    const gnf_status want[] = {GNF_ERR_UNSUPPORTED, GNF_ERR_UNSUPPORTED, GNF_ERR_UNSUPPORTED, GNF_ERR_FORMAT,
                               GNF_ERR_FORMAT,      GNF_ERR_FORMAT,      GNF_ERR_FORMAT,      GNF_ERR_FORMAT,
                               GNF_ERR_FORMAT};
    const char *key[] = {"camera_model", "k4", "is_fisheye", "camera_model", "k1", "scale", "offset", "aabb_scale", "aabb"};
    for (int i = 0; i < 9; i++) {
        snprintf(json, sizeof json, "{%s\"fl_x\":10,\"frames\":[{\"file_path\":\"a.jpg\",\"transform_matrix\":" MAT_T "}]}",
                 tops[i], 0.0, 0.0, 0.0);
        snprintf(p, sizeof p, "%s/t%d.json", dir, i);
        write_text(p, json);
        gnf_scene sc;
        gnf_status st = gnf_scene_load(p, NULL, 1, 0, 1, &sc);
        CHECK_MSG(st == want[i], "%s: status %d", tops[i], (int)st);
        CHECK_MSG(strncmp(gnf_last_error(), p, strlen(p)) == 0 && strstr(gnf_last_error(), key[i]),
                  "%s: message '%s'", tops[i], gnf_last_error());
        CHECK(sc.n == 0 && sc.views == NULL);
    }
    /* the same refusal in a frame names the frame */
    snprintf(json, sizeof json, "{\"fl_x\":10,\"frames\":[{\"file_path\":\"a.jpg\",\"transform_matrix\":" MAT_T "},"
             "{\"file_path\":\"a.jpg\",\"camera_model\":\"EQUIRECTANGULAR\",\"transform_matrix\":" MAT_T "}]}",
             0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    snprintf(p, sizeof p, "%s/frame.json", dir);
    write_text(p, json);
    gnf_scene sc;
    CHECK(gnf_scene_load(p, NULL, 1, 0, 1, &sc) == GNF_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(gnf_last_error(), "frame 1") && strstr(gnf_last_error(), "EQUIRECTANGULAR"), "'%s'", gnf_last_error());
}

/* ---- the scene box ------------------------------------------------------------------------- */

/* instant-ngp's convention: half-size aabb_scale / (2 scale), centre (0.5 - offset) / scale, the
 * defaults 1, 0.33, 0.5 for the keys not given, "aabb" a box of its own; the cameras come back
 * relative to the centre. */
TEST(capture_scene_box) {
    char dir[1024], p[1200], json[2048];
    folder_with_picture(dir, sizeof dir, "cap_box", p, sizeof p);
    struct { const char *top; double half, c[3]; } cs[] = {
        {"\"aabb_scale\":16,", 16 / 0.66, {0, 0, 0}},
        {"\"scale\":0.5,\"offset\":[0.25,0.5,1.5],", 1.0, {0.5, 0, -2}},
        {"\"aabb_scale\":4,\"scale\":0.25,\"offset\":0,", 8.0, {2, 2, 2}},
        {"\"aabb\":[[-1,0,2],[3,1,4]],", 2.0, {1, 0.5, 3}},
        {"\"aabb\":[[-1,0,2],[3,1,4]],\"aabb_scale\":2,", 4.0, {1, 0.5, 3}},
    };
    for (int i = 0; i < 5; i++) {
        snprintf(json, sizeof json, "{%s\"fl_x\":10,\"frames\":[{\"file_path\":\"a.jpg\",\"transform_matrix\":" MAT_T "}]}",
                 cs[i].top, 1.0, 2.0, 3.0);
        snprintf(p, sizeof p, "%s/t%d.json", dir, i);
        write_text(p, json);
        gnf_scene sc;
        CHECK_MSG(gnf_scene_load(p, NULL, 1, 0, 1, &sc) == GNF_OK, "%s", gnf_last_error());
        if (sc.n != 1) continue;
        CHECK(sc.has_box);
        CHECK_NEAR(sc.box, cs[i].half, 1e-5 * cs[i].half);
        for (int k = 0; k < 3; k++) {
            CHECK_NEAR(sc.center[k], cs[i].c[k], 1e-6);
            CHECK_NEAR(sc.views[0].c2w[4 * k + 3], (k + 1.0) - cs[i].c[k], 1e-6);
        }
        gnf_scene_free(&sc);
    }
}

/* ---- no test split ------------------------------------------------------------------------- */

/* A folder with only transforms.json: test/val = frames 0, 8, 16, train = the rest, in order;
 * with transforms_train.json present that file wins. */
TEST(capture_holdout_split) {
    char dir[1024], p[1200], json[8192];
    folder_with_picture(dir, sizeof dir, "cap_split", p, sizeof p);
    size_t len = (size_t)snprintf(json, sizeof json, "{\"fl_x\":10,\"frames\":[");
    for (int i = 0; i < 17; i++)
        len += (size_t)snprintf(json + len, sizeof json - len, "%s{\"file_path\":\"a.jpg\",\"transform_matrix\":" MAT_T "}",
                                i ? "," : "", (double)i, 0.0, 0.0);
    snprintf(json + len, sizeof json - len, "]}");
    snprintf(p, sizeof p, "%s/transforms.json", dir);
    write_text(p, json);
    gnf_scene tr, te, va;
    CHECK(gnf_scene_load(dir, "train", 1, 0, 1, &tr) == GNF_OK);
    CHECK(gnf_scene_load(dir, "test", 1, 0, 1, &te) == GNF_OK);
    CHECK(gnf_scene_load(dir, "val", 1, 0, 1, &va) == GNF_OK);
    CHECK_EQ_INT(tr.n, 14);
    CHECK_EQ_INT(te.n, 3);
    CHECK_EQ_INT(va.n, 3);
    for (int i = 0; i < te.n; i++) CHECK_NEAR(te.views[i].c2w[3], 8.0 * i, 0);
    int want = 1;
    for (int i = 0; i < tr.n; i++, want++) {
        if (want % 8 == 0) want++;
        CHECK_NEAR(tr.views[i].c2w[3], want, 0);
    }
    gnf_scene_free(&tr);
    gnf_scene_free(&te);
    gnf_scene_free(&va);
    /* the file itself: every frame */
    CHECK(gnf_scene_load(p, "train", 1, 0, 1, &tr) == GNF_OK);
    CHECK_EQ_INT(tr.n, 17);
    gnf_scene_free(&tr);
    /* a split file wins over transforms.json */
    snprintf(json, sizeof json, "{\"fl_x\":10,\"frames\":[{\"file_path\":\"a.jpg\",\"transform_matrix\":" MAT_T "}]}", 0.0, 0.0, 0.0);
    snprintf(p, sizeof p, "%s/transforms_train.json", dir);
    write_text(p, json);
    CHECK(gnf_scene_load(dir, "train", 1, 0, 1, &tr) == GNF_OK);
    CHECK_EQ_INT(tr.n, 1);
    gnf_scene_free(&tr);
    unlink(p);
    /* one frame: nothing left to train on */
    snprintf(p, sizeof p, "%s/transforms.json", dir);
    write_text(p, json);
    CHECK(gnf_scene_load(dir, "train", 1, 0, 1, &tr) == GNF_ERR_FORMAT);
    CHECK_MSG(strstr(gnf_last_error(), "holding out") != NULL, "'%s'", gnf_last_error());
}

/* ---- cameras without pictures -------------------------------------------------------------- */

TEST(capture_cameras_without_pictures) {
    char dir[1024], p[1200], json[2048];
    mkdir_tmp(dir, sizeof dir, "cap_nopix");
    /* w/h given: no picture needed (an angle uses w) */
    snprintf(json, sizeof json, "{\"camera_angle_x\":1.0,\"w\":64,\"h\":48,\"frames\":["
             "{\"file_path\":\"missing/0\",\"transform_matrix\":" MAT_T "}]}", 0.0, 0.0, 4.0);
    snprintf(p, sizeof p, "%s/wh.json", dir);
    write_text(p, json);
    gnf_scene sc;
    CHECK_MSG(gnf_scene_load_cameras_sized(p, NULL, 2, 0, 0, &sc) == GNF_OK, "%s", gnf_last_error());
    if (sc.n == 1) {
        CHECK_EQ_INT(sc.views[0].w, 32);
        CHECK_EQ_INT(sc.views[0].h, 24);
        CHECK_NEAR(sc.views[0].fx, 0.5 * 64 / tan(0.5) / 2, 1e-4);
        CHECK(sc.views[0].rgb == NULL);
    }
    gnf_scene_free(&sc);
    /* the pictures' loader still needs them */
    CHECK(gnf_scene_load(p, NULL, 1, 0, 1, &sc) == GNF_ERR_IO);
    /* no w/h: the caller's size, else an error that says what would do */
    snprintf(json, sizeof json, "{\"fl_x\":50,\"frames\":[{\"file_path\":\"missing/0\",\"transform_matrix\":" MAT_T "}]}",
             0.0, 0.0, 4.0);
    snprintf(p, sizeof p, "%s/nowh.json", dir);
    write_text(p, json);
    CHECK(gnf_scene_load_cameras_sized(p, NULL, 1, 80, 60, &sc) == GNF_OK);
    if (sc.n == 1) {
        CHECK_EQ_INT(sc.views[0].w, 80);
        CHECK_NEAR(sc.views[0].cx, 40, 0);
    }
    gnf_scene_free(&sc);
    CHECK(gnf_scene_load_cameras_sized(p, NULL, 1, 0, 0, &sc) == GNF_ERR_IO);
    CHECK_MSG(strncmp(gnf_last_error(), p, strlen(p)) == 0 && strstr(gnf_last_error(), "frame 0") &&
              strstr(gnf_last_error(), "w and h"), "'%s'", gnf_last_error());
    CHECK(sc.n == 0);
}

/* ---- a capture built from lego, fitted against the Blender form ----------------------------- */

/* (the fit runs in the release build only: too slow under ASan or without the AVX2 kernels) */
#if !(defined(__SANITIZE_ADDRESS__) || defined(GNF_NO_AVX2))
#define CAP_TRAIN 40     /* lego training views used */
#define CAP_FRAMES 46    /* with every 8th a test view: 40 training + 6 held out */
#define CAP_W 400
#define CAP_H 300        /* 4:3: rows 50..349 of the 400×400 pictures */
static const double cap_k[5] = {0.8, 0.2, 0.1, 0.004, -0.004}; /* k1 k2 k3 p1 p2: pincushion, up to 2 px at 1/8 */
static const double cap_shift[3] = {0.4, -0.3, 0.2};             /* the capture's world = lego's + shift */

/* The lego picture src (RGBA PNG) cropped to rows 50..349 and distorted by cap_k (bilinear from
 * the undistorted picture; outside it: white), written as JPEG quality 95. */
static int write_capture_picture(const char *src, const char *dst, double f) {
    gnf_image img;
    if (gnf_image_load_on_white(src, &img, NULL) != GNF_OK) return 0;
    unsigned char *out = malloc((size_t)CAP_W * CAP_H * 3);
    const double cx = CAP_W / 2.0, cy = CAP_H / 2.0, scx = img.w / 2.0, scy = img.h / 2.0;
    for (int j = 0; j < CAP_H; j++)
        for (int i = 0; i < CAP_W; i++) {
            double x, y;
            undistort_point(cap_k, (i + 0.5 - cx) / f, (j + 0.5 - cy) / f, &x, &y);
            double X = f * x + scx - 0.5, Y = f * y + scy - 0.5; /* source pixel index space */
            int x0 = (int)floor(X), y0 = (int)floor(Y);
            double ax = X - x0, ay = Y - y0;
            for (int c = 0; c < 3; c++) {
                double acc = 0;
                for (int b = 0; b < 2; b++)
                    for (int a = 0; a < 2; a++) {
                        int xx = x0 + a, yy = y0 + b;
                        double v = xx >= 0 && yy >= 0 && xx < img.w && yy < img.h ? img.px[((size_t)yy * img.w + xx) * 3 + c] : 1.0;
                        acc += v * (a ? ax : 1 - ax) * (b ? ay : 1 - ay);
                    }
                out[((size_t)j * CAP_W + i) * 3 + c] = (unsigned char)lrint(fmin(1, fmax(0, acc)) * 255);
            }
        }
    int ok = test_write_jpeg(dst, CAP_W, CAP_H, 3, out, 95);
    free(out);
    gnf_image_free(&img);
    return ok;
}

/* Appends frame i of lego's split file js (cJSON-free: the matrix text as the test reads it) */
typedef struct { float m[12]; char path[1024]; } lego_frame;

static int read_lego(const char *dir, const char *split, lego_frame *fr, int n, double *angle) {
    char p[1200];
    snprintf(p, sizeof p, "%s/transforms_%s.json", dir, split);
    gnf_scene sc;
    if (gnf_scene_load(p, NULL, 1, 0, 1, &sc) != GNF_OK) return 0;
    int ok = sc.n >= n;
    for (int i = 0; ok && i < n; i++) {
        int vi = (int)((long)i * sc.n / n);
        memcpy(fr[i].m, sc.views[vi].c2w, sizeof fr[i].m);
        snprintf(fr[i].path, sizeof fr[i].path, "%s", sc.views[vi].path);
        *angle = 2 * atan(0.5 * sc.views[vi].w / sc.views[vi].fx);
    }
    gnf_scene_free(&sc);
    return ok;
}

static size_t put_matrix(char *buf, size_t n, const float *m, const double *shift) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int r = 0; r < 3; r++)
        len += (size_t)snprintf(buf + len, n - len, "[%.9g,%.9g,%.9g,%.9g],", (double)m[4 * r], (double)m[4 * r + 1],
                                (double)m[4 * r + 2], (double)m[4 * r + 3] + (shift ? shift[r] : 0));
    len += (size_t)snprintf(buf + len, n - len, "[0,0,0,1]]");
    return len;
}

/* A small fit: 500k parameters, 2^14 samples per step, 300 steps. */
static gnf_model *cap_fit(const gnf_nerf_scene *tr, const gnf_nerf_scene *held) {
    gnf_model_config cfg;
    gnf_model *m = NULL;
    if (gnf_nerf_model_config(&cfg, 500000) != GNF_OK || gnf_model_create(&cfg, GNF_TASK_NERF, &m) != GNF_OK) return NULL;
    gnf_nerf_config nc;
    gnf_nerf_config_default(&nc);
    float box, c[3];
    if (gnf_nerf_scene_box(tr, &box, c)) nc.box = box; /* as gnf fit does */
    nc.samples_per_step = 1 << 14;
    gnf_train_config tc;
    gnf_nerf_train_config_default(&tc);
    tc.steps = 300;
    gnf_train_report rep;
    if (gnf_fit_nerf(m, tr, held, &nc, &tc, &rep) != GNF_OK) {
        test_fail(__FILE__, __LINE__, "fit: %s", gnf_last_error());
        gnf_model_free(m);
        return NULL;
    }
    return m;
}

static double cap_psnr(const gnf_model *m, const gnf_nerf_scene *s) {
    gnf_nerf_metrics mt;
    if (gnf_nerf_evaluate(m, s, 0, 1, 0, &mt) != GNF_OK) {
        test_fail(__FILE__, __LINE__, "evaluate: %s", gnf_last_error());
        return NAN;
    }
    return mt.psnr;
}

#endif

/* lego rebuilt as a capture (4:3 JPEG, distorted by known coefficients, per-frame intrinsics,
 * aabb_scale/scale/offset around a shifted world, one transforms.json, every 8th view held out)
 * and as the Blender form (the same views' PNGs, transforms_train/test.json), both at 1/8 size,
 * 300 steps each: measured on the capture's 6 held-out pictures through their lens, the capture
 * fit is at least as good as the Blender fit less CAP_TOL dB (measured: capture 17.61 dB,
 * Blender 17.38 dB; the two forms' own test pictures differ — crop, resampling, JPEG — so their
 * own protocols are not compared: Blender 19.02 dB on its test views); and the lens matters: each
 * fit loses at least CAP_LENS_GAIN dB when those pictures are measured without it (measured:
 * 0.71 dB Blender fit, 0.86 dB capture fit), and a capture fit trained with the lens left out
 * loses at least as much (measured: 16.44 dB, 1.17 dB below). */
#define CAP_TOL 0.3
#define CAP_LENS_GAIN 0.4
TEST(capture_lego_fit_matches_blender) {
#if defined(__SANITIZE_ADDRESS__) || defined(GNF_NO_AVX2)
    SKIP("end-to-end fit runs in the release build only (too slow under ASan or without AVX2 kernels)");
#else
    const char *data = test_data_dir();
    char lego[PATH_MAX], p[PATH_MAX + 64];
    if (!data) SKIP("no ../shared/data");
    snprintf(p, sizeof p, "%s/nerf/lego_400", data);
    if (!realpath(p, lego)) SKIP("no nerf/lego_400 in the data"); /* absolute: the scenes written here name its pictures */
    snprintf(p, sizeof p, "%s/transforms_train.json", lego);
    if (access(p, R_OK) != 0) SKIP("no nerf/lego_400 in the data");
    const int nheld = CAP_FRAMES - CAP_TRAIN;
    lego_frame *tr = calloc(CAP_TRAIN, sizeof *tr), *te = calloc((size_t)nheld, sizeof *te);
    double angle = 0;
    CHECK(read_lego(lego, "train", tr, CAP_TRAIN, &angle) && read_lego(lego, "test", te, nheld, &angle));
    const double f = 0.5 * 400 / tan(0.5 * angle);
    char bdir[1024], cdir[1024], ndir[1024];
    mkdir_tmp(bdir, sizeof bdir, "cap_blender");
    mkdir_tmp(cdir, sizeof cdir, "cap_capture");
    mkdir_tmp(ndir, sizeof ndir, "cap_nolens");
    snprintf(p, sizeof p, "%s/images", cdir);
    CHECK(mkdir(p, 0755) == 0 || errno == EEXIST);
    size_t cap = 1 << 20, lb[2] = {0, 0}, lc = 0, ln = 0;
    char *bj[2] = {malloc(cap), malloc(cap)}, *cj = malloc(cap), *nj = malloc(cap), mat[512];
    for (int s = 0; s < 2; s++) lb[s] = (size_t)snprintf(bj[s], cap, "{\"camera_angle_x\":%.17g,\"frames\":[", angle);
    /* box: half 1.5 (aabb_scale 1.5 at scale 0.5) around the shift */
    lc = (size_t)snprintf(cj, cap, "{\"camera_model\":\"OPENCV\",\"fl_x\":%.17g,\"fl_y\":%.17g,\"k1\":%g,\"k2\":%g,"
                          "\"p1\":%g,\"p2\":%g,\"aabb_scale\":1.5,\"scale\":0.5,\"offset\":[%.17g,%.17g,%.17g],\"frames\":[",
                          f, f, cap_k[0], cap_k[1], cap_k[3], cap_k[4], 0.5 - 0.5 * cap_shift[0], 0.5 - 0.5 * cap_shift[1],
                          0.5 - 0.5 * cap_shift[2]);
    ln = (size_t)snprintf(nj, cap, "{\"fl_x\":%.17g,\"fl_y\":%.17g,\"aabb_scale\":1.5,\"scale\":0.5,"
                          "\"offset\":[%.17g,%.17g,%.17g],\"frames\":[", f, f, 0.5 - 0.5 * cap_shift[0],
                          0.5 - 0.5 * cap_shift[1], 0.5 - 0.5 * cap_shift[2]);
    int it = 0, ih = 0, ok = 1;
    for (int i = 0; ok && i < CAP_FRAMES; i++) {
        const int held = i % 8 == 0;
        const lego_frame *fr = held ? &te[ih++] : &tr[it++];
        char jpg[1200];
        snprintf(jpg, sizeof jpg, "%s/images/frame_%05d.jpg", cdir, i + 1);
        ok = write_capture_picture(fr->path, jpg, f);
        put_matrix(mat, sizeof mat, fr->m, cap_shift);
        lc += (size_t)snprintf(cj + lc, cap - lc, "%s{\"file_path\":\"./images/frame_%05d.jpg\",\"cx\":%g,\"cy\":%g,"
                               "\"w\":%d,\"h\":%d,\"k3\":%g,\"transform_matrix\":%s}", i ? "," : "", i + 1, CAP_W / 2.0,
                               CAP_H / 2.0, CAP_W, CAP_H, cap_k[2], mat);
        ln += (size_t)snprintf(nj + ln, cap - ln, "%s{\"file_path\":\"%s\",\"cx\":%g,\"cy\":%g,\"transform_matrix\":%s}",
                               i ? "," : "", jpg, CAP_W / 2.0, CAP_H / 2.0, mat);
        put_matrix(mat, sizeof mat, fr->m, NULL);
        lb[held] += (size_t)snprintf(bj[held] + lb[held], cap - lb[held], "%s{\"file_path\":\"%s\",\"transform_matrix\":%s}",
                                     lb[held] > 40 && bj[held][lb[held] - 1] == '}' ? "," : "", fr->path, mat);
    }
    CHECK(ok);
    snprintf(cj + lc, cap - lc, "]}");
    snprintf(nj + ln, cap - ln, "]}");
    snprintf(p, sizeof p, "%s/transforms.json", cdir);
    write_text(p, cj);
    snprintf(p, sizeof p, "%s/transforms.json", ndir);
    write_text(p, nj);
    for (int s = 0; s < 2; s++) {
        snprintf(bj[s] + lb[s], cap - lb[s], "]}");
        snprintf(p, sizeof p, "%s/transforms_%s.json", bdir, s ? "test" : "train");
        write_text(p, bj[s]);
        free(bj[s]);
    }
    free(cj);
    free(nj);
    free(tr);
    free(te);
    gnf_nerf_scene *btr = NULL, *bte = NULL, *ctr = NULL, *cte = NULL, *nte = NULL;
    CHECK_MSG(gnf_nerf_scene_load(bdir, "train", 8, 0, &btr) == GNF_OK, "%s", gnf_last_error());
    CHECK_MSG(gnf_nerf_scene_load(bdir, "test", 8, 0, &bte) == GNF_OK, "%s", gnf_last_error());
    CHECK_MSG(gnf_nerf_scene_load(cdir, "train", 8, 0, &ctr) == GNF_OK, "%s", gnf_last_error());
    CHECK_MSG(gnf_nerf_scene_load(cdir, "test", 8, 0, &cte) == GNF_OK, "%s", gnf_last_error());
    CHECK_MSG(gnf_nerf_scene_load(ndir, "test", 8, 0, &nte) == GNF_OK, "%s", gnf_last_error());
    if (btr && bte && ctr && cte && nte) {
        CHECK_EQ_INT(gnf_nerf_scene_count(ctr), CAP_TRAIN);
        CHECK_EQ_INT(gnf_nerf_scene_count(cte), nheld);
        CHECK_EQ_INT(gnf_nerf_scene_distorted(cte), nheld);
        CHECK_EQ_INT(gnf_nerf_scene_distorted(nte), 0);
        gnf_camera c0;
        gnf_nerf_scene_camera(ctr, 0, &c0);
        CHECK_EQ_INT(c0.w, 50);
        CHECK_EQ_INT(c0.h, 37);
        float box, cen[3];
        CHECK(gnf_nerf_scene_box(ctr, &box, cen) == 1);
        CHECK_NEAR(box, 1.5, 1e-6);
        for (int k = 0; k < 3; k++) CHECK_NEAR(cen[k], cap_shift[k], 1e-6);
        gnf_nerf_scene *ntr = NULL; /* the capture's training pictures with the lens left out */
        CHECK_MSG(gnf_nerf_scene_load(ndir, "train", 8, 0, &ntr) == GNF_OK, "%s", gnf_last_error());
        gnf_model *mb = cap_fit(btr, bte), *mc = cap_fit(ctr, cte), *mn = ntr ? cap_fit(ntr, nte) : NULL;
        gnf_nerf_scene_free(ntr);
        if (mb && mc && mn) {
            double pb = cap_psnr(mb, bte), pbc = cap_psnr(mb, cte), pcc = cap_psnr(mc, cte), pbn = cap_psnr(mb, nte);
            double pcn = cap_psnr(mc, nte);
            printf("    (Blender fit: %.2f dB on its test views, %.2f dB on the capture's held-out pictures, %.2f dB "
                   "there without the lens; capture fit: %.2f dB on them, %.2f dB without the lens)\n", pb, pbc, pbn,
                   pcc, pcn);
            CHECK_MSG(pcc >= pbc - CAP_TOL, "capture fit %.2f dB vs Blender fit %.2f dB on the capture's pictures "
                      "(tolerance %.1f)", pcc, pbc, CAP_TOL);
            CHECK_MSG(pbc - pbn >= CAP_LENS_GAIN, "Blender fit with the lens %.2f dB, without %.2f dB", pbc, pbn);
            CHECK_MSG(pcc - pcn >= CAP_LENS_GAIN, "capture fit with the lens %.2f dB, without %.2f dB", pcc, pcn);
            /* trained without the lens: worse on the capture's pictures (through the lens) */
            double pnc = cap_psnr(mn, cte);
            printf("    (capture fit trained without the lens: %.2f dB on the held-out pictures)\n", pnc);
            CHECK_MSG(pcc - pnc >= CAP_LENS_GAIN, "trained with the lens %.2f dB, without %.2f dB", pcc, pnc);
        }
        gnf_model_free(mn);
        gnf_model_free(mb);
        gnf_model_free(mc);
    }
    gnf_nerf_scene_free(btr);
    gnf_nerf_scene_free(bte);
    gnf_nerf_scene_free(ctr);
    gnf_nerf_scene_free(cte);
    gnf_nerf_scene_free(nte);
#endif
}
