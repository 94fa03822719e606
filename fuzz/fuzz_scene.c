/* fuzz_scene.c — feeds transforms_*.json text to gnf_scene_load_from_memory, the reader behind
 * gnf fit/render/eval on radiance-field scenes: JSON parsing, frames, matrices, intrinsics, image
 * path resolution.  Frames resolve against a folder this harness fills once with small pictures
 * (train/r_0.png RGBA 8x6, train/r_1.png gray 8x6, test/r_0.png RGB 6x8, r_2.jpg 8x8, noext (a PNG
 * without extension), bad.png (a valid header over corrupt data), empty.png), so inputs built from
 * the lego scene's JSON find images.  Each input is read cameras-only (image headers, as gnf
 * does before training); when that succeeds it is read again decoding the images, and with
 * downscale 2.  Checks: no sanitizer finding, no slow input, a failure names the JSON or the image
 * concerned; every view has a size, finite positive focal lengths, a finite centre and matrix;
 * decoding agrees with the header probe on sizes and intrinsics (bit for bit), its pixels are in
 * [0, 1], and downscale 2 halves sizes and intrinsics. */
#include "fuzz.h"
#include "io/scene.h"
#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static const char *const k_files[] = {"train/r_0.png", "train/r_1.png", "test/r_0.png", "r_2.jpg",
                                      "noext",         "bad.png",       "empty.png"};
#define NFILES (sizeof k_files / sizeof *k_files)

static void remove_dir(void) {
    char p[128];
    for (size_t i = 0; i < NFILES; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, k_files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/train", g_dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/test", g_dir);
    rmdir(p);
    rmdir(g_dir);
}

/* An 8-bit PNG of w×h pixels of c channels (1 gray, 3 RGB, 4 RGBA) with a simple pattern. */
static int write_png(const char *path, int w, int h, int c) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char row[4 * 64];
    int ok = info && w <= 64 && !setjmp(png_jmpbuf(png));
    if (ok) {
        png_init_io(png, f);
        int type = c == 1 ? PNG_COLOR_TYPE_GRAY : c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
        png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                     PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (int y = 0; y < h; y++) {
            for (int i = 0; i < w * c; i++) row[i] = (unsigned char)(37 * y + 11 * i);
            png_write_row(png, row);
        }
        png_write_end(png, NULL);
    }
    png_destroy_write_struct(&png, &info);
    return (fclose(f) == 0) & ok;
}

/* A baseline RGB JPEG of w×h pixels (w <= 64). */
static int write_jpeg(const char *path, int w, int h) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err); /* a failure here exits: only our own fixed pictures go through */
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_start_compress(&ci, TRUE);
    unsigned char row[3 * 64];
    JSAMPROW rp = row;
    for (int y = 0; y < h; y++) {
        for (int i = 0; i < 3 * w; i++) row[i] = (unsigned char)(29 * y + 7 * i);
        jpeg_write_scanlines(&ci, &rp, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return fclose(f) == 0;
}

static int write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = n == 0 || fwrite(d, 1, n, f) == n;
    return (fclose(f) == 0) & ok;
}

/* The folder of pictures (created on first use, removed at exit); NULL if it cannot be made. */
static const char *scene_dir(void) {
    static int state; /* 0 not yet, 1 ready, -1 failed */
    if (state) return state > 0 ? g_dir : NULL;
    state = -1;
    snprintf(g_dir, sizeof g_dir, "/tmp/gnf_fuzz_scene_XXXXXX");
    if (!mkdtemp(g_dir)) return NULL;
    atexit(remove_dir);
    char p[128], q[128];
    snprintf(p, sizeof p, "%s/train", g_dir);
    if (mkdir(p, 0755) != 0) return NULL;
    snprintf(p, sizeof p, "%s/test", g_dir);
    if (mkdir(p, 0755) != 0) return NULL;
    int ok = 1;
    snprintf(p, sizeof p, "%s/train/r_0.png", g_dir);
    ok &= write_png(p, 8, 6, 4);
    snprintf(p, sizeof p, "%s/train/r_1.png", g_dir);
    ok &= write_png(p, 8, 6, 1);
    snprintf(p, sizeof p, "%s/test/r_0.png", g_dir);
    ok &= write_png(p, 6, 8, 3);
    snprintf(p, sizeof p, "%s/r_2.jpg", g_dir);
    ok &= write_jpeg(p, 8, 8);
    snprintf(p, sizeof p, "%s/noext", g_dir);
    ok &= write_png(p, 4, 4, 3);
    /* bad.png: r_0.png's first 33 bytes (signature and IHDR) and then garbage */
    snprintf(q, sizeof q, "%s/train/r_0.png", g_dir);
    unsigned char buf[64];
    FILE *f = fopen(q, "rb");
    ok &= f && fread(buf, 1, 33, f) == 33;
    if (f) fclose(f);
    memset(buf + 33, 0x5A, sizeof buf - 33);
    snprintf(p, sizeof p, "%s/bad.png", g_dir);
    ok &= write_bytes(p, buf, sizeof buf);
    snprintf(p, sizeof p, "%s/empty.png", g_dir);
    ok &= write_bytes(p, "", 0);
    if (ok) state = 1;
    return ok ? g_dir : NULL;
}

/* The promises of a loaded scene; images: whether pixels were decoded. */
static void check_scene(const gnf_scene *sc, int images) {
    FUZZ_ASSERT(sc->n >= 1 && sc->views && sc->json_path && strcmp(sc->json_path, "fuzz.json") == 0,
                "a scene of %d views named %s", sc->n, sc->json_path ? sc->json_path : "(null)");
    for (int i = 0; i < sc->n && sc->views; i++) {
        const gnf_view *v = &sc->views[i];
        int ok = v->w >= 1 && v->h >= 1 && v->path && isfinite(v->fx) && v->fx > 0 && isfinite(v->fy) &&
                 v->fy > 0 && isfinite(v->cx) && isfinite(v->cy) && (images ? v->rgb != NULL : v->rgb == NULL);
        for (int k = 0; k < 12; k++) ok &= isfinite(v->c2w[k]) != 0;
        FUZZ_ASSERT(ok, "view %d: %dx%d f %g %g c %g %g path %s rgb %p", i, v->w, v->h, (double)v->fx, (double)v->fy,
                    (double)v->cx, (double)v->cy, v->path ? v->path : "(null)", (void *)v->rgb);
        if (!ok || !v->rgb) continue;
        size_t n = (size_t)v->w * v->h * 3;
        for (size_t j = 0; j < n; j++)
            if (!(v->rgb[j] >= 0.0f && v->rgb[j] <= 1.0f)) {
                FUZZ_ASSERT(0, "view %d: sample %zu is %g", i, j, (double)v->rgb[j]);
                break;
            }
    }
}

/* After a failure: the message names the JSON or, for an image's problem, a file in the folder. */
static void check_failure(gnf_status s, const char *dir) {
    const char *msg = gnf_last_error();
    gnf_fuzz_check_error(s, strstr(msg, "fuzz.json") ? "fuzz.json" : dir, 1);
}

static int same_float(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

gnf_status gnf_fuzz_scene(const uint8_t *data, size_t size) {
    const char *dir = scene_dir();
    FUZZ_ASSERT(dir != NULL, "cannot create the folder of pictures under /tmp");
    if (!dir) return GNF_ERR_IO;
    const char *json = (const char *)data;
    gnf_scene sc;
    gnf_status s = gnf_scene_load_from_memory(json, size, "fuzz.json", dir, 1, 0, 1, &sc);
    if (s != GNF_OK) {
        check_failure(s, dir);
        FUZZ_ASSERT(!sc.views && !sc.n && !sc.json_path, "a failed load left a scene behind");
        return s;
    }
    check_scene(&sc, 0);

    gnf_scene full;
    gnf_status s1 = gnf_scene_load_from_memory(json, size, "fuzz.json", dir, 1, 1, 1, &full);
    if (s1 != GNF_OK) {
        /* bad.png passes the header probe; nothing else may fail once the cameras loaded */
        check_failure(s1, dir);
        FUZZ_ASSERT(s1 == GNF_ERR_FORMAT && strstr(gnf_last_error(), "bad.png"),
                    "loads cameras-only but not with images: %s", gnf_last_error());
    } else {
        check_scene(&full, 1);
        FUZZ_ASSERT(full.n == sc.n, "%d views with images, %d without", full.n, sc.n);
        for (int i = 0; i < sc.n && i < full.n; i++) {
            const gnf_view *a = &sc.views[i], *b = &full.views[i];
            FUZZ_ASSERT(a->w == b->w && a->h == b->h && same_float(a->fx, b->fx) && same_float(a->fy, b->fy) &&
                            same_float(a->cx, b->cx) && same_float(a->cy, b->cy) && strcmp(a->path, b->path) == 0 &&
                            memcmp(a->c2w, b->c2w, sizeof a->c2w) == 0,
                        "view %d differs between the header probe and the decoded image", i);
        }
        gnf_scene_free(&full);

        gnf_scene half;
        gnf_status s2 = gnf_scene_load_from_memory(json, size, "fuzz.json", dir, 2, 1, 1, &half);
        if (s2 != GNF_OK) check_failure(s2, dir);
        FUZZ_ASSERT(s2 == GNF_OK || s2 == GNF_ERR_INVALID, "loads at downscale 1 but not 2: %s", gnf_last_error());
        if (s2 == GNF_OK) {
            check_scene(&half, 1);
            for (int i = 0; i < sc.n && i < half.n; i++) {
                const gnf_view *a = &sc.views[i], *b = &half.views[i];
                FUZZ_ASSERT(b->w == a->w / 2 && b->h == a->h / 2 && fabsf(b->fx - a->fx / 2) <= 1e-6f * a->fx &&
                                fabsf(b->fy - a->fy / 2) <= 1e-6f * a->fy,
                            "view %d at downscale 2: %dx%d f %g %g from %dx%d f %g %g", i, b->w, b->h, (double)b->fx,
                            (double)b->fy, a->w, a->h, (double)a->fx, (double)a->fy);
            }
            gnf_scene_free(&half);
        }
    }
    gnf_scene_free(&sc);
    return s;
}

GNF_FUZZ_MAIN(scene)
