/* test.h — a tiny test framework: TEST(name) { ... } registers a test; CHECK* record failures
 * with file:line and keep going; SKIP("why") marks a test skipped (said in the summary). */
#ifndef GNF_TEST_H
#define GNF_TEST_H
#include "core/core.h"
#include "geom/mesh.h"
#include <math.h>
#include <stdio.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void test_skip(const char *why);
/* Path to ../shared/data (from the project root), or NULL if absent. */
const char *test_data_dir(void);
/* A fresh temporary directory for this test run (created once). */
const char *test_tmp_dir(void);

/* ---- shared fixtures (util.c); each records a failure in the calling test when it cannot ---- */
/* test_tmp_dir()/name written into buf (returned); test_tmp: the same in one of 8 rotating buffers. */
const char *test_path(char *buf, size_t n, const char *name);
const char *test_tmp(const char *name);
/* Writes data[0..n) to path; 1 on success. */
int test_write_file(const char *path, const void *data, size_t n);
/* The whole file in a malloc'd buffer with one spare byte, *n its size; NULL if unreadable. */
unsigned char *test_read_file(const char *path, size_t *n);
long test_file_size(const char *path); /* -1 if absent */
/* Entries of dir whose name contains part (part NULL: all but . and ..); -1 if dir is unreadable. */
int test_count_files(const char *dir, const char *part);
float test_urand(gnf_rng *r, float a, float b);
void test_rand_dir(gnf_rng *r, float d[3]); /* a uniformly random unit vector */
/* lego_400's split ("train", "test") at 1/downscale, cameras and pictures; NULL when
 * ../shared/data is absent (the caller skips), a recorded failure when it is there but unreadable. */
gnf_nerf_scene *test_lego(const char *split, int downscale);
/* A fresh radiance-field model of the default architecture at max_params, fitted to tr for steps
 * steps with the default settings (te: held-out views for the report's quality, may be NULL);
 * NULL (and a recorded failure) when creating or fitting fails.  Free with gnf_model_free. */
gnf_model *test_nerf_fit(const gnf_nerf_scene *tr, const gnf_nerf_scene *te, long max_params, long steps,
                         gnf_train_report *rep);
/* A smooth synthetic w×h RGB picture with an edge (allocated into *img; free with gnf_image_free). */
void test_synth_image(gnf_image *img, int w, int h);
/* A PNG written with libpng from packed rows of depth-bit samples (16-bit big-endian) of libpng
 * colour type ctype, Adam7-interlaced when ctype has TEST_PNG_INTERLACE; pal: png_color[npal]. */
#define TEST_PNG_INTERLACE 0x100
int test_write_png(const char *path, int w, int h, int ctype, int depth, const unsigned char *data,
                   const void *pal, int npal, const unsigned char *trns, int ntrns);
/* A baseline JPEG written with libjpeg at quality q (c = 1 gray, 3 RGB, 4 CMYK). */
int test_write_jpeg(const char *path, int w, int h, int c, const unsigned char *px, int q);

/* What test_mesh_hygiene measured; lengths in units of h, areas in units of h². */
typedef struct {
    long boundary_edges, nonmanifold_edges; /* as gnf_mesh_analyse counts them */
    long nonmanifold_vertices;  /* vertices whose triangles do not form one closed fan */
    long duplicate_vertices;    /* vertices at exactly the position of an earlier one */
    double min_area, min_edge;  /* smallest triangle area and edge length */
    long pairs_measured;        /* triangle pairs sharing no vertex and within reach */
    double min_gap;             /* least distance between two such triangles (0: touch or cross) */
    long touching_pairs;        /* pairs at distance 0 */
} test_hygiene;
/* Measures m (cells h wide, e.g. the marching-cubes step): fans, duplicates, sizes, and the
 * distance of every pair of triangles that share no vertex and whose boxes come within reach·h
 * (a uniform grid of h-wide buckets finds them).  Records a failure if memory runs out. */
void test_mesh_hygiene(const gnf_mesh *m, double h, double reach, test_hygiene *r);

#define TEST(name)                                                                       \
    static void test_##name(void);                                                       \
    __attribute__((constructor)) static void reg_##name(void) { test_register(#name, test_##name); } \
    static void test_##name(void)

#define CHECK(c) do { if (!(c)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #c); } while (0)
#define CHECK_MSG(c, ...) do { if (!(c)) test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    if (_a != _b) test_fail(__FILE__, __LINE__, "%s == %s: %lld vs %lld", #a, #b, _a, _b); } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (double)(a), _b = (double)(b), _t = (double)(tol); \
    if (!(fabs(_a - _b) <= _t)) test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, _a, _b, _t); } while (0)
#define SKIP(why) do { test_skip(why); return; } while (0)
#endif
