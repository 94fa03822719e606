/* util.c — fixtures shared by the test files (declared in test.h): temporary paths, whole-file
 * writes and reads, directory listings, random directions, and PNG/JPEG writers for decoders'
 * tests.  A helper that cannot do its job records a failure in the calling test. */
#include "test.h"
#include <dirent.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jpeglib.h>
#include <png.h>

const char *test_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", test_tmp_dir(), name);
    return buf;
}

const char *test_tmp(const char *name) {
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    return test_path(buf[i], sizeof buf[i], name);
}

int test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (!f) return 0;
    int ok = (n == 0 || fwrite(data, 1, n, f) == n) & (fclose(f) == 0);
    CHECK_MSG(ok, "cannot write %s", path);
    return ok;
}

unsigned char *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
    if (b) *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

long test_file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

int test_count_files(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += part ? strstr(e->d_name, part) != NULL : strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

float test_urand(gnf_rng *r, float a, float b) { return a + (b - a) * gnf_rng_uniform(r); }

gnf_nerf_scene *test_lego(const char *split, int downscale) {
    const char *d = test_data_dir();
    if (!d) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/nerf/lego_400", d);
    gnf_nerf_scene *s = NULL;
    if (gnf_nerf_scene_load(path, split, downscale, 0, &s) != GNF_OK) {
        test_fail(__FILE__, __LINE__, "loading %s: %s", path, gnf_last_error());
        return NULL;
    }
    return s;
}

gnf_model *test_nerf_fit(const gnf_nerf_scene *tr, const gnf_nerf_scene *te, long max_params, long steps,
                         gnf_train_report *rep) {
    gnf_model_config cfg;
    gnf_model *m = NULL;
    gnf_nerf_config nc;
    gnf_nerf_config_default(&nc);
    nc.samples_per_step = 1L << 15;   /* the tests' thresholds were set at 2^15 (the default was, too) */
    gnf_train_config tc;
    gnf_nerf_train_config_default(&tc);
    tc.steps = steps;
    if (gnf_nerf_model_config(&cfg, max_params) != GNF_OK || gnf_model_create(&cfg, GNF_TASK_NERF, &m) != GNF_OK ||
        gnf_fit_nerf(m, tr, te, &nc, &tc, rep) != GNF_OK) {
        test_fail(__FILE__, __LINE__, "radiance-field fit of %ld steps: %s", steps, gnf_last_error());
        gnf_model_free(m);
        return NULL;
    }
    return m;
}

void test_synth_image(gnf_image *img, int w, int h) {
    gnf_image_alloc(img, w, h, 3);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            float *p = img->px + ((size_t)i * w + j) * 3;
            p[0] = 0.5f + 0.4f * sinf(0.2f * (float)j);
            p[1] = (float)i / (float)h;
            p[2] = (i + j) % 32 < 16 ? 0.9f : 0.1f;
        }
}

void test_rand_dir(gnf_rng *r, float d[3]) {
    float n2;
    do {
        for (int k = 0; k < 3; k++) d[k] = test_urand(r, -1, 1);
        n2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    } while (n2 < 0.01f || n2 > 1.0f);
    float s = 1.0f / sqrtf(n2);
    for (int k = 0; k < 3; k++) d[k] *= s;
}

int test_write_png(const char *path, int w, int h, int ctype, int depth, const unsigned char *data,
                   const void *pal, int npal, const unsigned char *trns, int ntrns) {
    int interlace = ctype & TEST_PNG_INTERLACE ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE;
    ctype &= ~TEST_PNG_INTERLACE;
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (!f) return 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        CHECK_MSG(0, "%s: libpng could not write the fixture", path);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    int ch = ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_PALETTE ? 1
             : ctype == PNG_COLOR_TYPE_GRAY_ALPHA                        ? 2
             : ctype == PNG_COLOR_TYPE_RGB                               ? 3
                                                                         : 4;
    size_t rowbytes = ((size_t)w * ch * depth + 7) / 8;
    int passes = png_set_interlace_handling(png); /* libpng does the Adam7 passes */
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(data + (size_t)y * rowbytes));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    int ok = fclose(f) == 0;
    CHECK_MSG(ok, "cannot write %s", path);
    return ok;
}

int test_write_jpeg(const char *path, int w, int h, int c, const unsigned char *px, int q) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (!f) return 0;
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err); /* exits on error: fine for writing a valid test file */
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = c;
    ci.in_color_space = c == 1 ? JCS_GRAYSCALE : c == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, q, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * w * c);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    int ok = fclose(f) == 0;
    CHECK_MSG(ok, "cannot write %s", path);
    return ok;
}
