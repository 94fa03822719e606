/* test_scene.c — the transforms.json scene reader: compositing over white, downscaling,
 * intrinsics (angles, focal lengths, per-frame overrides), image path resolution, rays against
 * hand-computed cameras, and malformed inputs (each must fail with the right status and a message
 * starting with the file concerned, leaving the scene zeroed).  The real lego scene when present. */
#include "test.h"
#include "io/scene.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <png.h>

/* ---- fixtures ------------------------------------------------------------------------------ */

#define MAT_ID "[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]"

/* test_tmp_dir()/a in buf, created, with a subfolder b unless b is NULL. */
static const char *mkdir_tmp(char *buf, size_t n, const char *a, const char *b) {
    char sub[1024];
    snprintf(buf, n, "%s/%s", test_tmp_dir(), a);
    CHECK(mkdir(buf, 0755) == 0 || errno == EEXIST);
    if (b) {
        snprintf(sub, sizeof sub, "%s/%s", buf, b);
        CHECK(mkdir(sub, 0755) == 0 || errno == EEXIST);
    }
    return buf;
}

static const char *join(char *buf, size_t n, const char *dir, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static void write_text(const char *path, const char *s) { test_write_file(path, s, strlen(s)); }

static void write_rgba(const char *path, int w, int h, const unsigned char *rgba) {
    test_write_png(path, w, h, PNG_COLOR_TYPE_RGBA, 8, rgba, NULL, 0, NULL, 0);
}

/* A w×h RGBA image whose pixel (x, y) is a function of (x, y, seed), alpha varying too. */
static unsigned char *rgba_pattern(int w, int h, int seed) {
    unsigned char *p = malloc((size_t)w * h * 4);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 4; k++)
                p[((size_t)y * w + x) * 4 + k] = (unsigned char)((37 * x + 91 * y + 53 * k + 17 * seed) % 256);
    return p;
}

/* rgba_pattern(w, h, seed) written to path as an RGBA PNG. */
static void write_pattern(const char *path, int w, int h, int seed) {
    unsigned char *px = rgba_pattern(w, h, seed);
    write_rgba(path, w, h, px);
    free(px);
}

/* A transforms JSON with the top-level keys `top` and nine frames v0 ... v8. */
static void nine_frames(char *json, size_t n, const char *top) {
    snprintf(json, n, "{%s\"frames\":[", top);
    for (int i = 0; i < 9; i++) {
        size_t l = strlen(json);
        snprintf(json + l, n - l, "%s{\"file_path\":\"v%d\",\"transform_matrix\":" MAT_ID "}", i ? "," : "", i);
    }
    strcat(json, "]}");
}

static int scene_is_zero(const gnf_scene *s) { return s->n == 0 && s->views == NULL && s->json_path == NULL; }

/* Loads expecting success; on failure prints why. */
static gnf_status load_ok(const char *path, const char *split, int ds, int li, int threads, gnf_scene *sc) {
    gnf_status s = gnf_scene_load(path, split, ds, li, threads, sc);
    CHECK_MSG(s == GNF_OK, "%s: status %s: %s", path, gnf_status_name(s), gnf_last_error());
    return s;
}

/* Loads expecting status want with a message starting with `first` (and containing `also` if
 * given); the scene must come back zeroed. */
static void expect_fail(const char *label, const char *path, const char *split, int ds, int li, gnf_status want,
                        const char *first, const char *also) {
    gnf_scene sc;
    memset(&sc, 0x5A, sizeof sc);
    gnf_status s = gnf_scene_load(path, split, ds, li, 2, &sc);
    const char *m = gnf_last_error();
    CHECK_MSG(s == want, "%s: status %s, want %s; message: %s", label, gnf_status_name(s), gnf_status_name(want), m);
    CHECK_MSG(strncmp(m, first, strlen(first)) == 0, "%s: message does not start with %s: %s", label, first, m);
    CHECK_MSG(!also || strstr(m, also), "%s: message lacks \"%s\": %s", label, also, m);
    CHECK_MSG(scene_is_zero(&sc), "%s: scene not zeroed", label);
    if (s == GNF_OK) gnf_scene_free(&sc);
}

/* ---- compositing over white ---------------------------------------------------------------- */

TEST(scene_composite_on_white) {
    char dir[512], p[600];
    mkdir_tmp(dir, sizeof dir, "sc_comp", "train");
    const unsigned char px[16] = {255, 0, 0, 128, 0, 255, 0, 255, 0, 0, 255, 0, 10, 20, 30, 64};
    write_rgba(join(p, sizeof p, dir, "train/r_0.png"), 2, 2, px);
    write_text(join(p, sizeof p, dir, "transforms_train.json"),
               "{\"camera_angle_x\":0.5,\"frames\":[{\"file_path\":\"./train/r_0\",\"transform_matrix\":" MAT_ID
               "}]}");
    gnf_scene sc;
    if (load_ok(dir, "train", 1, 1, 1, &sc) != GNF_OK) return;
    CHECK_EQ_INT(sc.n, 1);
    const gnf_view *v = &sc.views[0];
    CHECK_EQ_INT(v->w, 2);
    CHECK_EQ_INT(v->h, 2);
    CHECK(v->rgb != NULL);
    for (int i = 0; i < 4; i++) {
        float a = px[4 * i + 3] / 255.0f;
        for (int k = 0; k < 3; k++) CHECK_NEAR(v->rgb[3 * i + k], px[4 * i + k] / 255.0f * a + (1.0f - a), 1e-6);
    }
    /* (1,0,0,a=0.5) -> (1,0.5,0.5), up to the source's 8-bit alpha */
    CHECK_NEAR(v->rgb[0], 1.0, 1e-6);
    CHECK_NEAR(v->rgb[1], 0.5, 1.0 / 255);
    CHECK_NEAR(v->rgb[2], 0.5, 1.0 / 255);
    CHECK(v->rgb[3] == 0.0f && v->rgb[4] == 1.0f && v->rgb[5] == 0.0f); /* opaque green */
    CHECK(v->rgb[6] == 1.0f && v->rgb[7] == 1.0f && v->rgb[8] == 1.0f); /* transparent: white */
    gnf_scene_free(&sc);
    CHECK(scene_is_zero(&sc));
    gnf_scene_free(&sc); /* twice: a zeroed scene is fine */
}

/* gnf_image_load_on_white over the PNG layouts; gnf_image_load itself unchanged. */
TEST(scene_image_on_white_layouts) {
    char dir[512], p[600];
    mkdir_tmp(dir, sizeof dir, "sc_onwhite", NULL);
    gnf_image img, raw;
    int alpha = -1;

    /* RGBA 8-bit: composited; gnf_image_load still drops alpha. */
    const unsigned char rgba[8] = {200, 100, 50, 51, 0, 0, 0, 255};
    write_rgba(join(p, sizeof p, dir, "rgba.png"), 2, 1, rgba);
    CHECK(gnf_image_load_on_white(p, &img, &alpha) == GNF_OK);
    CHECK(alpha == 1 && img.c == 3 && img.w == 2 && img.h == 1);
    float a = 51 / 255.0f;
    for (int k = 0; k < 3; k++) CHECK_NEAR(img.px[k], rgba[k] / 255.0f * a + (1 - a), 1e-6);
    CHECK(img.px[3] == 0 && img.px[4] == 0 && img.px[5] == 0);
    CHECK(gnf_image_load(p, &raw, &alpha) == GNF_OK);
    CHECK(alpha == 1 && raw.c == 3);
    for (int k = 0; k < 3; k++) CHECK(raw.px[k] == rgba[k] / 255.0f);
    gnf_image_free(&img);
    gnf_image_free(&raw);

    /* Gray + alpha: replicated to 3 channels, composited. */
    const unsigned char ga[4] = {100, 128, 7, 0};
    test_write_png(join(p, sizeof p, dir, "ga.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, NULL, 0, NULL, 0);
    CHECK(gnf_image_load_on_white(p, &img, &alpha) == GNF_OK);
    CHECK(alpha == 1 && img.c == 3);
    a = 128 / 255.0f;
    for (int k = 0; k < 3; k++) {
        CHECK_NEAR(img.px[k], 100 / 255.0f * a + (1 - a), 1e-6);
        CHECK(img.px[3 + k] == 1.0f);
    }
    gnf_image_free(&img);

    /* Gray without alpha: replicated, had_alpha 0, values as gnf_image_load's. */
    const unsigned char g[3] = {0, 77, 255};
    test_write_png(join(p, sizeof p, dir, "g.png"), 3, 1, PNG_COLOR_TYPE_GRAY, 8, g, NULL, 0, NULL, 0);
    CHECK(gnf_image_load_on_white(p, &img, &alpha) == GNF_OK);
    CHECK(gnf_image_load(p, &raw, NULL) == GNF_OK);
    CHECK(alpha == 0 && img.c == 3 && raw.c == 1);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) CHECK(img.px[3 * i + k] == raw.px[i]);
    gnf_image_free(&img);
    gnf_image_free(&raw);

    /* 16-bit RGBA: alpha at 16-bit precision. */
    const unsigned char r16[8] = {0xFF, 0xFF, 0x00, 0x00, 0x80, 0x00, 0x40, 0x00};
    test_write_png(join(p, sizeof p, dir, "rgba16.png"), 1, 1, PNG_COLOR_TYPE_RGBA, 16, r16, NULL, 0, NULL, 0);
    CHECK(gnf_image_load_on_white(p, &img, &alpha) == GNF_OK);
    CHECK(alpha == 1 && img.c == 3);
    a = 0x4000 / 65535.0f;
    CHECK_NEAR(img.px[0], 1.0, 1e-6);
    CHECK_NEAR(img.px[1], 1 - a, 1e-6);
    CHECK_NEAR(img.px[2], 0x8000 / 65535.0f * a + (1 - a), 1e-6);
    gnf_image_free(&img);

    /* Palette with tRNS: entry 1 fully transparent. */
    const png_color pal[2] = {{255, 0, 0}, {0, 0, 255}};
    const unsigned char trns[2] = {255, 0}, idx[2] = {0, 1};
    test_write_png(join(p, sizeof p, dir, "pal.png"), 2, 1, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, 2, trns, 2);
    CHECK(gnf_image_load_on_white(p, &img, &alpha) == GNF_OK);
    CHECK(alpha == 1 && img.c == 3);
    CHECK(img.px[0] == 1 && img.px[1] == 0 && img.px[2] == 0);
    CHECK(img.px[3] == 1 && img.px[4] == 1 && img.px[5] == 1);
    gnf_image_free(&img);

    /* RGB without alpha: identical to gnf_image_load. */
    const unsigned char rgb[6] = {1, 2, 3, 250, 128, 0};
    test_write_png(join(p, sizeof p, dir, "rgb.png"), 2, 1, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0, NULL, 0);
    CHECK(gnf_image_load_on_white(p, &img, &alpha) == GNF_OK);
    CHECK(gnf_image_load(p, &raw, NULL) == GNF_OK);
    CHECK(alpha == 0 && img.c == 3 && memcmp(img.px, raw.px, 6 * sizeof(float)) == 0);
    gnf_image_free(&img);
    gnf_image_free(&raw);

    /* Gray JPEG: replicated. */
    unsigned char gj[64];
    for (int i = 0; i < 64; i++) gj[i] = (unsigned char)(4 * i);
    test_write_jpeg(join(p, sizeof p, dir, "g.jpg"), 8, 8, 1, gj, 95);
    CHECK(gnf_image_load_on_white(p, &img, &alpha) == GNF_OK);
    CHECK(gnf_image_load(p, &raw, NULL) == GNF_OK);
    CHECK(alpha == 0 && img.c == 3 && raw.c == 1);
    for (int i = 0; i < 64 && img.px && raw.px; i++)
        CHECK(img.px[3 * i] == raw.px[i] && img.px[3 * i + 1] == raw.px[i] && img.px[3 * i + 2] == raw.px[i]);
    gnf_image_free(&img);
    gnf_image_free(&raw);

    /* Errors as gnf_image_load's: zeroed image, message naming the file. */
    write_text(join(p, sizeof p, dir, "bad.png"), "not an image");
    memset(&img, 0x5A, sizeof img);
    alpha = 3;
    CHECK(gnf_image_load_on_white(p, &img, &alpha) == GNF_ERR_FORMAT);
    CHECK(img.px == NULL && img.w == 0 && alpha == 0);
    CHECK(strstr(gnf_last_error(), p) != NULL);
}

/* ---- downscaling and intrinsics ------------------------------------------------------------- */

TEST(scene_downscale_box_average) {
    char dir[512], p[600];
    mkdir_tmp(dir, sizeof dir, "sc_down", "train");
    const int W = 5, H = 4;
    write_pattern(join(p, sizeof p, dir, "train/r_0.png"), W, H, 3);
    write_text(join(p, sizeof p, dir, "transforms_train.json"),
               "{\"fl_x\":10,\"fl_y\":12,\"cx\":2.5,\"cy\":1.5,\"frames\":[{\"file_path\":\"train/r_0\","
               "\"transform_matrix\":" MAT_ID "}]}");
    gnf_scene full, half, third;
    if (load_ok(dir, "train", 1, 1, 1, &full) != GNF_OK) return;
    if (load_ok(dir, "train", 2, 1, 1, &half) == GNF_OK) {
        const gnf_view *v = &half.views[0];
        CHECK_EQ_INT(v->w, 2); /* floor(5/2) */
        CHECK_EQ_INT(v->h, 2);
        CHECK(v->fx == 5.0f && v->fy == 6.0f && v->cx == 1.25f && v->cy == 0.75f);
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++)
                for (int k = 0; k < 3; k++) {
                    const float *f = full.views[0].rgb;
                    double want = 0;
                    for (int j = 0; j < 2; j++)
                        for (int i = 0; i < 2; i++) want += f[((2 * y + j) * W + 2 * x + i) * 3 + k];
                    CHECK_NEAR(v->rgb[(y * 2 + x) * 3 + k], want / 4, 1e-6);
                }
        gnf_scene_free(&half);
    }
    if (load_ok(dir, "train", 3, 1, 1, &third) == GNF_OK) {
        CHECK(third.views[0].w == 1 && third.views[0].h == 1);
        for (int k = 0; k < 3; k++) {
            double want = 0;
            for (int j = 0; j < 3; j++)
                for (int i = 0; i < 3; i++) want += full.views[0].rgb[(j * W + i) * 3 + k];
            CHECK_NEAR(third.views[0].rgb[k], want / 9, 1e-6);
        }
        gnf_scene_free(&third);
    }
    gnf_scene_free(&full);
    /* 4 rows: a downscale of 4 still fits, 5 does not (naming the image). */
    gnf_scene q;
    if (load_ok(dir, "train", 4, 1, 1, &q) == GNF_OK) {
        CHECK(q.views[0].w == 1 && q.views[0].h == 1);
        gnf_scene_free(&q);
    }
    join(p, sizeof p, dir, "train/r_0.png");
    expect_fail("downscale 5", dir, "train", 5, 1, GNF_ERR_INVALID, p, "downscale");
    expect_fail("downscale 5, cameras only", dir, "train", 5, 0, GNF_ERR_INVALID, p, "downscale");
    expect_fail("downscale 0", dir, "train", 0, 1, GNF_ERR_INVALID, dir, "downscale");
    expect_fail("downscale -3", dir, "train", -3, 0, GNF_ERR_INVALID, dir, "downscale");
}

TEST(scene_intrinsics) {
    char dir[512], p[600], js[600];
    mkdir_tmp(dir, sizeof dir, "sc_intr", NULL);
    write_pattern(join(p, sizeof p, dir, "a.png"), 6, 4, 1);
    join(js, sizeof js, dir, "t.json");
    const double ax = 0.7, ay = 0.4;
    gnf_scene sc;

    /* camera_angle_x only: fy = fx, principal point at the centre. */
    write_text(js, "{\"camera_angle_x\":0.7,\"frames\":[{\"file_path\":\"a.png\",\"transform_matrix\":" MAT_ID "}]}");
    if (load_ok(js, NULL, 1, 0, 1, &sc) == GNF_OK) {
        const gnf_view *v = &sc.views[0];
        CHECK_NEAR(v->fx, 0.5 * 6 / tan(0.5 * ax), 1e-5);
        CHECK(v->fy == v->fx && v->cx == 3.0f && v->cy == 2.0f);
        CHECK(v->w == 6 && v->h == 4 && v->rgb == NULL);
        CHECK(strcmp(sc.json_path, js) == 0);
        gnf_scene_free(&sc);
    }
    /* camera_angle_y gives fy from the height. */
    write_text(js, "{\"camera_angle_x\":0.7,\"camera_angle_y\":0.4,\"frames\":[{\"file_path\":\"a.png\","
                   "\"transform_matrix\":" MAT_ID "}]}");
    if (load_ok(js, "ignored", 2, 0, 1, &sc) == GNF_OK) {
        const gnf_view *v = &sc.views[0];
        CHECK_NEAR(v->fx, 0.5 * 6 / tan(0.5 * ax) / 2, 1e-5);
        CHECK_NEAR(v->fy, 0.5 * 4 / tan(0.5 * ay) / 2, 1e-5);
        CHECK(v->cx == 1.5f && v->cy == 1.0f && v->w == 3 && v->h == 2);
        gnf_scene_free(&sc);
    }
    /* Explicit fl_x wins over camera_angle_x; fl_y defaults to fl_x; w/h matching the file. */
    write_text(js, "{\"camera_angle_x\":0.7,\"fl_x\":9.5,\"cx\":2.25,\"cy\":1.75,\"w\":6,\"h\":4,"
                   "\"frames\":[{\"file_path\":\"a.png\",\"transform_matrix\":" MAT_ID "}]}");
    if (load_ok(js, NULL, 1, 1, 1, &sc) == GNF_OK) {
        const gnf_view *v = &sc.views[0];
        CHECK(v->fx == 9.5f && v->fy == 9.5f && v->cx == 2.25f && v->cy == 1.75f);
        gnf_scene_free(&sc);
    }
    /* Per-frame overrides: each key from the frame if it has it, else the top level; the nearest
     * level's focal wins (a frame's camera_angle_x over a top-level fl_x). */
    write_text(js, "{\"fl_x\":20,\"fl_y\":30,\"cx\":1,\"frames\":["
                   "{\"file_path\":\"a.png\",\"transform_matrix\":" MAT_ID "},"
                   "{\"file_path\":\"a.png\",\"fl_x\":7,\"cy\":0.5,\"transform_matrix\":" MAT_ID "},"
                   "{\"file_path\":\"a\",\"camera_angle_x\":0.7,\"cx\":4,\"transform_matrix\":" MAT_ID "},"
                   "{\"file_path\":\"a\",\"fl_y\":11,\"camera_angle_y\":0.4,\"transform_matrix\":" MAT_ID "}]}");
    if (load_ok(js, NULL, 1, 0, 3, &sc) == GNF_OK) {
        CHECK_EQ_INT(sc.n, 4);
        const gnf_view *v = sc.views;
        CHECK(v[0].fx == 20 && v[0].fy == 30 && v[0].cx == 1 && v[0].cy == 2);
        CHECK(v[1].fx == 7 && v[1].fy == 30 && v[1].cx == 1 && v[1].cy == 0.5f);
        CHECK_NEAR(v[2].fx, 0.5 * 6 / tan(0.5 * ax), 1e-5);
        CHECK(v[2].fy == 30 && v[2].cx == 4 && v[2].cy == 2);
        CHECK(v[3].fx == 20 && v[3].fy == 11);
        for (int i = 0; i < 4; i++) CHECK(strcmp(v[i].path, p) == 0);
        gnf_scene_free(&sc);
    }
    /* The matrix is stored row-major, rows 0-2; 3 rows are accepted too. */
    write_text(js, "{\"camera_angle_x\":0.7,\"frames\":[{\"file_path\":\"a.png\",\"transform_matrix\":"
                   "[[1,2,3,4],[5,6,7,8],[9,10,11,12],[13,14,15,16]]},{\"file_path\":\"a.png\","
                   "\"transform_matrix\":[[-1,-2,-3,-4],[-5,-6,-7,-8],[-9,-10,-11,-12.5]]}]}");
    if (load_ok(js, NULL, 1, 0, 1, &sc) == GNF_OK) {
        for (int i = 0; i < 12; i++) CHECK(sc.views[0].c2w[i] == (float)(i + 1));
        for (int i = 0; i < 11; i++) CHECK(sc.views[1].c2w[i] == -(float)(i + 1));
        CHECK(sc.views[1].c2w[11] == -12.5f);
        gnf_scene_free(&sc);
    }
    /* Intrinsics out of range are refused the same way at every downscale, with or without the
     * pictures (the fuzzer found a denormal fl_x that loaded at downscale 1 and failed at 2). */
    static const char *const bad[] = {
        "\"fl_x\":1e-45",          "\"fl_x\":0.0009",       "\"fl_x\":2e9",
        "\"fl_x\":5,\"fl_y\":1e-40",   "\"camera_angle_x\":1e-12", "\"camera_angle_x\":3.14159265358979",
        "\"fl_x\":5,\"cx\":-2e9",   "\"fl_x\":5,\"cy\":3e9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[400], label[160];
        snprintf(text, sizeof text, "{%s,\"frames\":[{\"file_path\":\"a.png\",\"transform_matrix\":" MAT_ID "}]}",
                 bad[i]);
        write_text(js, text);
        for (int ds = 1; ds <= 2; ds++)
            for (int li = 0; li < 2; li++) {
                snprintf(label, sizeof label, "%s at downscale %d, images %d", bad[i], ds, li);
                expect_fail(label, js, NULL, ds, li, GNF_ERR_FORMAT, js, "frame 0: intrinsics out of range");
            }
    }
    /* The ends of the range load, and halve exactly. */
    write_text(js, "{\"fl_x\":0.001,\"fl_y\":1e9,\"cx\":-1e9,\"cy\":1e9,\"frames\":[{\"file_path\":\"a.png\","
                   "\"transform_matrix\":" MAT_ID "}]}");
    if (load_ok(js, NULL, 2, 1, 1, &sc) == GNF_OK) {
        const gnf_view *v = &sc.views[0];
        CHECK(v->fx == (float)(0.001 / 2) && v->fy == 5e8f && v->cx == -5e8f && v->cy == 5e8f);
        gnf_scene_free(&sc);
    }
}

/* ---- image paths ---------------------------------------------------------------------------- */

TEST(scene_extension_resolution) {
    char dir[512], p[600], want[700];
    mkdir_tmp(dir, sizeof dir, "sc_ext", "train");
    unsigned char *px = rgba_pattern(4, 2, 2);
    unsigned char rgb[4 * 2 * 3];
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 3; k++) rgb[3 * i + k] = px[4 * i + k];
    write_rgba(join(p, sizeof p, dir, "train/r_0.png"), 4, 2, px);
    test_write_jpeg(join(p, sizeof p, dir, "train/r_1.jpg"), 4, 2, 3, rgb, 95);
    test_write_jpeg(join(p, sizeof p, dir, "train/r_2.jpeg"), 4, 2, 1, rgb, 95);
    write_rgba(join(p, sizeof p, dir, "train/r_3.png"), 4, 2, px);
    write_rgba(join(p, sizeof p, dir, "train/r_4.png"), 4, 2, px);
    test_write_jpeg(join(p, sizeof p, dir, "train/r_4.jpg"), 4, 2, 3, rgb, 95);
    write_rgba(join(p, sizeof p, dir, "train/noext"), 4, 2, px);
    free(px);
    const char *frames = "{\"camera_angle_x\":1,\"frames\":["
                         "{\"file_path\":\"./train/r_0\",\"transform_matrix\":" MAT_ID "},"
                         "{\"file_path\":\"train/r_1\",\"transform_matrix\":" MAT_ID "},"
                         "{\"file_path\":\"././train/r_2\",\"transform_matrix\":" MAT_ID "},"
                         "{\"file_path\":\"./train/r_3.png\",\"transform_matrix\":" MAT_ID "},"
                         "{\"file_path\":\"./train/r_4\",\"transform_matrix\":" MAT_ID "},"
                         "{\"file_path\":\"train/noext\",\"transform_matrix\":" MAT_ID "}]}";
    write_text(join(p, sizeof p, dir, "transforms_val.json"), frames);
    static const char *const names[6] = {"train/r_0.png", "train/r_1.jpg",  "train/r_2.jpeg",
                                         "train/r_3.png", "train/r_4.png", "train/noext"};
    for (int li = 0; li < 2; li++) {
        char slashed[600];
        snprintf(slashed, sizeof slashed, "%s/", dir); /* a trailing slash on the folder is fine */
        gnf_scene sc;
        if (load_ok(li ? dir : slashed, "val", 1, li, 2, &sc) != GNF_OK) continue;
        CHECK(strcmp(sc.json_path, join(p, sizeof p, dir, "transforms_val.json")) == 0);
        CHECK_EQ_INT(sc.n, 6);
        for (int i = 0; i < 6 && i < sc.n; i++) {
            join(want, sizeof want, dir, names[i]);
            CHECK_MSG(strcmp(sc.views[i].path, want) == 0, "view %d: %s, want %s", i, sc.views[i].path, want);
            CHECK(sc.views[i].w == 4 && sc.views[i].h == 2);
            CHECK(li ? sc.views[i].rgb != NULL : sc.views[i].rgb == NULL);
        }
        gnf_scene_free(&sc);
    }
    /* No transforms_train.json in the folder; no folder at all; a bad split. */
    join(p, sizeof p, dir, "transforms_train.json");
    expect_fail("missing split file", dir, "train", 1, 0, GNF_ERR_IO, p, NULL);
    join(p, sizeof p, dir, "nowhere");
    expect_fail("missing folder", p, "train", 1, 0, GNF_ERR_IO, p, NULL);
    expect_fail("bad split", dir, "training", 1, 0, GNF_ERR_INVALID, dir, "training");
    expect_fail("no split", dir, NULL, 1, 0, GNF_ERR_INVALID, dir, "split");
}

/* ---- rays ----------------------------------------------------------------------------------- */

static void check_ray(const gnf_view *v, float px, float py, const double o[3], const double d[3]) {
    float ro[3], rd[3];
    gnf_view_ray(v, px, py, ro, rd);
    double n = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    for (int k = 0; k < 3; k++) {
        CHECK_NEAR(ro[k], o[k], 0);
        CHECK_NEAR(rd[k], d[k] / n, 1e-7);
    }
}

TEST(scene_rays) {
    gnf_view v;
    memset(&v, 0, sizeof v);
    v.w = 100, v.h = 80, v.fx = 100, v.fy = 100, v.cx = 50, v.cy = 40;
    const float id[12] = {1, 0, 0, 1, 0, 1, 0, 2, 0, 0, 1, 3};
    memcpy(v.c2w, id, sizeof id);
    const double o[3] = {1, 2, 3};
    /* Identity rotation: the principal point looks down -z; (60, 30) is right of and above it. */
    check_ray(&v, 50, 40, o, (const double[3]){0, 0, -1});
    check_ray(&v, 60, 30, o, (const double[3]){0.1, 0.1, -1});
    check_ray(&v, 40, 50, o, (const double[3]){-0.1, -0.1, -1});
    /* 90 degrees about +y: camera -z becomes world -x; camera +x becomes world -z. */
    const float ry[12] = {0, 0, 1, 1, 0, 1, 0, 2, -1, 0, 0, 3};
    memcpy(v.c2w, ry, sizeof ry);
    check_ray(&v, 50, 40, o, (const double[3]){-1, 0, 0});
    check_ray(&v, 60, 30, o, (const double[3]){-1, 0.1, -0.1});
    /* Off-centre pixel (30, 5) of a camera with fx != fy and a non-central principal point,
     * turned 90 degrees about +x (camera -z becomes world +y):
     * centre (30.5, 5.5) -> ((30.5-10.5)/200, -(5.5-20.5)/100, -1) = (0.1, 0.15, -1)
     * -> R * that = (0.1, 1, 0.15). */
    v.fx = 200, v.fy = 100, v.cx = 10.5f, v.cy = 20.5f;
    const float rx[12] = {1, 0, 0, -4, 0, 0, -1, 0.5f, 0, 1, 0, 0};
    memcpy(v.c2w, rx, sizeof rx);
    check_ray(&v, 30 + 0.5f, 5 + 0.5f, (const double[3]){-4, 0.5, 0}, (const double[3]){0.1, 1, 0.15});
    /* A general rotation (30 degrees about z): d = Rz * (0.1, 0.15, -1). */
    double c = cos(M_PI / 6), s = sin(M_PI / 6);
    const float rz[12] = {(float)c, (float)-s, 0, 0, (float)s, (float)c, 0, 0, 0, 0, 1, 0};
    memcpy(v.c2w, rz, sizeof rz);
    check_ray(&v, 30.5f, 5.5f, (const double[3]){0, 0, 0},
              (const double[3]){(float)c * 0.1 - (float)s * 0.15, (float)s * 0.1 + (float)c * 0.15, -1});
}

/* ---- threads -------------------------------------------------------------------------------- */

TEST(scene_threads_same_result) {
    char dir[512], p[600], js[600];
    mkdir_tmp(dir, sizeof dir, "sc_thr", NULL);
    char json[4096];
    for (int i = 0; i < 9; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d.png", i);
        write_pattern(join(p, sizeof p, dir, name), 9, 7, i);
    }
    nine_frames(json, sizeof json, "\"camera_angle_x\":0.9,");
    write_text(join(js, sizeof js, dir, "t.json"), json);
    gnf_scene a, b;
    if (load_ok(js, NULL, 2, 1, 1, &a) != GNF_OK) return;
    if (load_ok(js, NULL, 2, 1, 6, &b) == GNF_OK) {
        CHECK(a.n == 9 && b.n == 9);
        for (int i = 0; i < a.n; i++) {
            const gnf_view *x = &a.views[i], *y = &b.views[i];
            CHECK(x->w == 4 && x->h == 3 && x->w == y->w && x->h == y->h);
            CHECK(x->fx == y->fx && x->fy == y->fy && x->cx == y->cx && x->cy == y->cy);
            CHECK(strcmp(x->path, y->path) == 0);
            CHECK(memcmp(x->rgb, y->rgb, (size_t)x->w * x->h * 3 * sizeof(float)) == 0);
        }
        gnf_scene_free(&b);
    }
    gnf_scene_free(&a);
    /* Two bad views: whatever the thread count, the first (v2) is reported. */
    write_pattern(join(p, sizeof p, dir, "v6.png"), 5, 7, 0);
    write_pattern(join(p, sizeof p, dir, "v2.png"), 5, 7, 0);
    nine_frames(json, sizeof json, "\"camera_angle_x\":0.9,\"w\":9,\"h\":7,");
    write_text(js, json);
    join(p, sizeof p, dir, "v2.png");
    for (int t = 1; t <= 8; t *= 2)
        for (int li = 0; li < 2; li++) {
            gnf_scene sc;
            memset(&sc, 0x5A, sizeof sc);
            CHECK(gnf_scene_load(js, NULL, 1, li, t, &sc) == GNF_ERR_FORMAT);
            CHECK_MSG(strncmp(gnf_last_error(), p, strlen(p)) == 0, "threads %d: %s", t, gnf_last_error());
            CHECK(strstr(gnf_last_error(), "mismatched") && strstr(gnf_last_error(), "5x7") &&
                  strstr(gnf_last_error(), "w=9 h=7"));
            CHECK(scene_is_zero(&sc));
        }
}

/* ---- malformed inputs ----------------------------------------------------------------------- */

/* A folder with one good 4×4 image for the malformed-JSON cases. */
static const char *bad_dir(char *dir, size_t n) {
    mkdir_tmp(dir, n, "sc_bad", "train");
    char p[600];
    if (access(join(p, sizeof p, dir, "train/r_0.png"), F_OK) != 0) write_pattern(p, 4, 4, 0);
    return dir;
}

TEST(scene_truncated_json) {
    char dir[512], js[600];
    bad_dir(dir, sizeof dir);
    join(js, sizeof js, dir, "trunc.json");
    const char *good = "{\"camera_angle_x\": 0.69, \"frames\": [{\"file_path\": \"./train/r_0\", "
                       "\"transform_matrix\": [[1, 0, 0, 0.5], [0, 1, 0, -2e-1], [0, 0, 1, 4], [0, 0, 0, 1]]}]}";
    write_text(js, good);
    gnf_scene sc;
    if (load_ok(js, NULL, 1, 1, 1, &sc) == GNF_OK) {
        CHECK(sc.views[0].c2w[3] == 0.5f && sc.views[0].c2w[7] == -0.2f);
        gnf_scene_free(&sc);
    }
    /* From memory, pictures relative to dir: the same views; cameras only as well. */
    size_t n = strlen(good);
    gnf_scene a, b;
    CHECK_EQ_INT(gnf_scene_load(js, NULL, 1, 1, 1, &a), GNF_OK);
    for (int li = 0; li < 2; li++) {
        CHECK_EQ_INT(gnf_scene_load_from_memory(good, n, "mem.json", dir, 1, li, 1, &b), GNF_OK);
        CHECK(b.n == 1 && !strcmp(b.json_path, "mem.json") && !strcmp(b.views[0].path, a.views[0].path));
        CHECK(!memcmp(b.views[0].c2w, a.views[0].c2w, sizeof a.views[0].c2w) && b.views[0].fx == a.views[0].fx &&
              b.views[0].w == a.views[0].w && (li ? !memcmp(b.views[0].rgb, a.views[0].rgb, 4 * 4 * 3 * sizeof(float))
                                                  : b.views[0].rgb == NULL));
        gnf_scene_free(&b);
    }
    gnf_scene_free(&a);
    /* Truncated at every length, from memory (an exact-size copy: ASan sees any overread). */
    for (size_t k = 0; k < n; k++) {
        char *cut = malloc(k + 1);
        memcpy(cut, good, k);
        memset(&b, 0x5a, sizeof b);
        gnf_status st = gnf_scene_load_from_memory(cut, k, "cut.json", dir, 1, 1, 1, &b);
        free(cut);
        CHECK_MSG(st == GNF_ERR_FORMAT && strstr(gnf_last_error(), "cut.json") && scene_is_zero(&b),
                  "truncated at %zu: %d %s", k, st, gnf_last_error());
    }
    test_write_file(js, good, n / 2);
    expect_fail("file truncated", js, NULL, 1, 1, GNF_ERR_FORMAT, js, NULL);
}

typedef struct {
    const char *label, *json;
    const char *also; /* a word the message must contain */
} bad_case;

TEST(scene_malformed_json) {
    char dir[512], js[600];
    bad_dir(dir, sizeof dir);
    join(js, sizeof js, dir, "bad.json");
#define FR(extra, mat) "{\"file_path\":\"./train/r_0\"" extra ",\"transform_matrix\":" mat "}"
#define ONE(top, frame) "{\"camera_angle_x\":0.7" top ",\"frames\":[" frame "]}"
    static const bad_case cases[] = {
        {"not JSON", "this is not JSON", "JSON"},
        {"binary", "\x89PNG\r\n\x1a\n", "JSON"},
        {"array at top", "[1, 2, 3]", "object"},
        {"trailing garbage", ONE("", FR("", MAT_ID)) " x", "extra"},
        {"two objects", ONE("", FR("", MAT_ID)) ONE("", FR("", MAT_ID)), "extra"},
        {"frames missing", "{\"camera_angle_x\":0.7}", "frames"},
        {"frames empty", "{\"camera_angle_x\":0.7,\"frames\":[]}", "empty"},
        {"frames an object", "{\"camera_angle_x\":0.7,\"frames\":{\"file_path\":\"a\"}}", "frames"},
        {"frames a string", "{\"camera_angle_x\":0.7,\"frames\":\"train\"}", "frames"},
        {"frame not an object", ONE("", FR("", MAT_ID) ",7"), "frame 1"},
        {"file_path missing", ONE("", "{\"transform_matrix\":" MAT_ID "}"), "file_path"},
        {"file_path a number", ONE("", "{\"file_path\":3,\"transform_matrix\":" MAT_ID "}"), "file_path"},
        {"file_path null", ONE("", "{\"file_path\":null,\"transform_matrix\":" MAT_ID "}"), "file_path"},
        {"file_path empty", ONE("", "{\"file_path\":\"\",\"transform_matrix\":" MAT_ID "}"), "file_path"},
        {"matrix missing", ONE("", "{\"file_path\":\"./train/r_0\"}"), "transform_matrix"},
        {"matrix a string", ONE("", FR("", "\"identity\"")), "transform_matrix"},
        {"matrix flat", ONE("", FR("", "[1,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1]")), "4 rows"},
        {"matrix 2 rows", ONE("", FR("", "[[1,0,0,0],[0,1,0,0]]")), "transform_matrix"},
        {"matrix 5 rows", ONE("", FR("", "[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1],[0,0,0,1]]")),
         "transform_matrix"},
        {"matrix row of 3", ONE("", FR("", "[[1,0,0,0],[0,1,0],[0,0,1,0],[0,0,0,1]]")), "row 1"},
        {"matrix row of 5", ONE("", FR("", "[[1,0,0,0],[0,1,0,0],[0,0,1,0,0],[0,0,0,1]]")), "row 2"},
        {"matrix string entry", ONE("", FR("", "[[1,0,0,0],[0,1,0,\"0\"],[0,0,1,0],[0,0,0,1]]")), "[1][3]"},
        {"matrix null entry", ONE("", FR("", "[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,null,1]]")), "[3][2]"},
        {"matrix inf", ONE("", FR("", "[[1,0,0,1e999],[0,1,0,0],[0,0,1,0],[0,0,0,1]]")), "finite"},
        {"matrix -inf", ONE("", FR("", "[[1,0,0,0],[0,1,0,0],[0,0,-1e999,0],[0,0,0,1]]")), "finite"},
        {"no focal", "{\"frames\":[" FR("", MAT_ID) "]}", "frame 0"},
        {"no focal, only fl_y", "{\"fl_y\":5,\"cx\":2,\"frames\":[" FR("", MAT_ID) "]}", "fl_x"},
        {"no focal in frame 1", "{\"frames\":[" FR(",\"fl_x\":3", MAT_ID) "," FR("", MAT_ID) "]}", "frame 1"},
        {"angle a string", "{\"camera_angle_x\":\"0.7\",\"frames\":[" FR("", MAT_ID) "]}", "camera_angle_x"},
        {"angle inf", "{\"camera_angle_x\":1e999,\"frames\":[" FR("", MAT_ID) "]}", "finite"},
        {"angle too wide", "{\"camera_angle_x\":3.5,\"frames\":[" FR("", MAT_ID) "]}", "camera_angle_x"},
        {"angle zero", "{\"camera_angle_x\":0,\"frames\":[" FR("", MAT_ID) "]}", "camera_angle_x"},
        {"fl_x negative", ONE(",\"fl_x\":-3", FR("", MAT_ID)), "fl_x"},
        {"frame fl_y zero", ONE("", FR(",\"fl_y\":0", MAT_ID)), "frame 0: fl_y"},
        {"cx a string", ONE(",\"cx\":\"2\"", FR("", MAT_ID)), "cx"},
        {"frame cy bool", ONE("", FR(",\"cy\":true", MAT_ID)), "frame 0: cy"},
        {"w fractional", ONE(",\"w\":4.5", FR("", MAT_ID)), "w "},
        {"h zero", ONE(",\"h\":0", FR("", MAT_ID)), "h "},
        {"w huge", ONE(",\"w\":1e9", FR("", MAT_ID)), "w "},
    };
#undef FR
#undef ONE
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(js, cases[i].json);
        expect_fail(cases[i].label, js, NULL, 1, 1, GNF_ERR_FORMAT, js, cases[i].also);
    }
    /* An empty file. */
    test_write_file(js, "", 0);
    expect_fail("empty", js, NULL, 1, 0, GNF_ERR_FORMAT, js, "empty");
}

TEST(scene_bad_files) {
    char dir[512], js[600], p[600];
    bad_dir(dir, sizeof dir);
    join(js, sizeof js, dir, "files.json");

    /* Missing image: IO, naming the JSON, the frame and the path tried. */
    write_text(js, "{\"camera_angle_x\":0.7,\"frames\":[{\"file_path\":\"./train/r_0\",\"transform_matrix\":" MAT_ID
                   "},{\"file_path\":\"./train/r_9\",\"transform_matrix\":" MAT_ID "}]}");
    expect_fail("missing image", js, NULL, 1, 1, GNF_ERR_IO, js, "frame 1");
    join(p, sizeof p, dir, "train/r_9");
    expect_fail("missing image (path)", js, NULL, 1, 0, GNF_ERR_IO, js, p);

    /* Image size differs from w/h: FORMAT, naming the image and both sizes. */
    write_text(js, "{\"camera_angle_x\":0.7,\"w\":4,\"h\":5,\"frames\":[{\"file_path\":\"./train/r_0\","
                   "\"transform_matrix\":" MAT_ID "}]}");
    join(p, sizeof p, dir, "train/r_0.png");
    expect_fail("size mismatch", js, NULL, 1, 1, GNF_ERR_FORMAT, p, "mismatched");
    expect_fail("size mismatch, cameras only", js, NULL, 1, 0, GNF_ERR_FORMAT, p, "4x4");
    write_text(js, "{\"camera_angle_x\":0.7,\"frames\":[{\"file_path\":\"./train/r_0\",\"w\":3,"
                   "\"transform_matrix\":" MAT_ID "}]}");
    expect_fail("frame w mismatch", js, NULL, 1, 1, GNF_ERR_FORMAT, p, "says w=3");

    /* Corrupt, truncated and non-image files. */
    struct {
        const char *name, *label;
        int li;
    } imgs[] = {{"corrupt.png", "corrupt PNG", 1},     {"notimg.png", "not an image", 1},
                {"notimg.png", "not an image, cameras only", 0}, {"sig.png", "PNG signature only", 0},
                {"sig.png", "PNG signature only, decoded", 1},   {"cut.jpg", "JPEG without frame header", 0},
                {"cut.jpg", "JPEG without frame header, decoded", 1}, {"empty.png", "empty image", 0}};
    write_pattern(join(p, sizeof p, dir, "corrupt.png"), 4, 4, 0);
    FILE *f = fopen(p, "r+b");
    CHECK(f != NULL);
    if (f) { /* overwrite the IDAT payload with junk, keeping the header valid */
        fseek(f, 8 + 25 + 8, SEEK_SET);
        fwrite("garbage-garbage-garbage", 1, 23, f);
        fclose(f);
    }
    write_text(join(p, sizeof p, dir, "notimg.png"), "hello");
    test_write_file(join(p, sizeof p, dir, "sig.png"), "\x89PNG\r\n\x1a\n\0\0\0\x0dIH", 14);
    test_write_file(join(p, sizeof p, dir, "cut.jpg"), "\xff\xd8\xff\xe0\x00\x10JFIF\0\1\1\0\0\1\0\1\0\0", 20);
    test_write_file(join(p, sizeof p, dir, "empty.png"), "", 0);
    for (size_t i = 0; i < sizeof imgs / sizeof imgs[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"camera_angle_x\":0.7,\"frames\":[{\"file_path\":\"%s\","
                                    "\"transform_matrix\":" MAT_ID "}]}", imgs[i].name);
        write_text(js, json);
        join(p, sizeof p, dir, imgs[i].name);
        expect_fail(imgs[i].label, js, NULL, 1, imgs[i].li, GNF_ERR_FORMAT, p, NULL);
    }

    /* A missing JSON file, and one over the 256 MiB limit (sparse: costs no disk). */
    join(p, sizeof p, dir, "absent.json");
    expect_fail("missing json", p, NULL, 1, 0, GNF_ERR_IO, p, NULL);
    join(p, sizeof p, dir, "huge.json");
    test_write_file(p, "{", 1);
    CHECK(truncate(p, ((off_t)256 << 20) + 1) == 0);
    expect_fail("huge json", p, NULL, 1, 0, GNF_ERR_UNSUPPORTED, p, "256 MiB");
    unlink(p);
}

/* ---- the real data -------------------------------------------------------------------------- */

TEST(scene_lego) {
    const char *data = test_data_dir();
    if (!data) SKIP("no ../shared/data");
    char dir[1024], p[1100];
    snprintf(dir, sizeof dir, "%s/nerf/lego_400", data);
    if (access(join(p, sizeof p, dir, "transforms_train.json"), R_OK) != 0) SKIP("no nerf/lego_400 in the data");
    gnf_scene sc;
    if (load_ok(dir, "train", 4, 1, 0, &sc) == GNF_OK) {
        CHECK_EQ_INT(sc.n, 100);
        double f = 0.5 * 100 / tan(0.5 * 0.6911112070083618);
        for (int i = 0; i < sc.n; i++) {
            const gnf_view *v = &sc.views[i];
            CHECK(v->w == 100 && v->h == 100);
            CHECK_NEAR(v->fx, f, 1e-3);
            CHECK(v->fy == v->fx && v->cx == 50 && v->cy == 50);
            int bad = 0;
            for (int k = 0; k < 100 * 100 * 3; k++) bad += !(v->rgb[k] >= 0 && v->rgb[k] <= 1);
            CHECK_EQ_INT(bad, 0);
            CHECK(v->rgb[0] == 1.0f && v->rgb[1] == 1.0f && v->rgb[2] == 1.0f); /* background: white */
        }
        CHECK_NEAR(sc.views[0].c2w[3], -0.05379832, 1e-7);
        CHECK_NEAR(sc.views[0].c2w[0], -0.9999021887779236, 1e-7);
        const char *tail = "/train/r_0.png";
        size_t lp = strlen(sc.views[0].path), lt = strlen(tail);
        CHECK(lp > lt && strcmp(sc.views[0].path + lp - lt, tail) == 0);
        /* The camera centre is ~4 units from the origin and looks at it. */
        float o[3], d[3];
        gnf_view_ray(&sc.views[0], 50, 50, o, d);
        double on = sqrt(o[0] * o[0] + o[1] * o[1] + o[2] * o[2]);
        CHECK_NEAR((o[0] * d[0] + o[1] * d[1] + o[2] * d[2]) / on, -1.0, 0.05);
        gnf_scene_free(&sc);
    }
    if (load_ok(dir, "test", 1, 0, 0, &sc) == GNF_OK) {
        CHECK_EQ_INT(sc.n, 200);
        for (int i = 0; i < sc.n; i++) CHECK(sc.views[i].w == 400 && sc.views[i].h == 400 && !sc.views[i].rgb);
        gnf_scene_free(&sc);
    }
}
