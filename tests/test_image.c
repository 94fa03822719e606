/* test_image.c — PNG/JPEG loading and saving: round trips, every PNG pixel layout, JPEG, and
 * malformed files (empty, truncated, corrupt, oversized) that must fail cleanly and quietly. */
#include "gnf.h"
#include "test.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <png.h>
#include <zlib.h>

/* ---- helpers -------------------------------------------------------------------------- */

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A smooth RGB or gray test pattern (compresses like a photo). */
static unsigned char *pattern(int w, int h, int c) {
    unsigned char *p = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                p[((size_t)y * w + x) * c + k] =
                    (unsigned char)(128 + 100 * sin(0.11 * x + 0.07 * y + 2.0 * k) * cos(0.05 * y));
    return p;
}

/* Noise, so that IDAT is large and any corruption hits real entropy-coded data. */
static unsigned char *noise(int n, uint64_t seed) {
    gnf_rng r;
    gnf_rng_seed(&r, seed, 0);
    unsigned char *p = malloc((size_t)n);
    for (int i = 0; i < n; i++) p[i] = (unsigned char)gnf_rng_below(&r, 256);
    return p;
}

/* Loads path expecting failure `want`: the message must name the file, *out stays zeroed. */
static void expect_fail(const char *path, gnf_status want, const char *label) {
    gnf_image img;
    memset(&img, 0x5A, sizeof img);
    int alpha = 7;
    gnf_status s = gnf_image_load(path, &img, &alpha);
    CHECK_MSG(s == want, "%s: status %d (%s), want %d; message: %s", label, (int)s,
              gnf_status_name(s), (int)want, gnf_last_error());
    CHECK_MSG(strstr(gnf_last_error(), path) != NULL, "%s: message lacks the path: %s", label,
              gnf_last_error());
    CHECK(img.px == NULL && img.w == 0 && img.h == 0 && img.c == 0);
    CHECK(alpha == 0);
    if (s == GNF_OK) gnf_image_free(&img);
}

/* The same after writing data[0..n) to path. */
static void expect_fail_bytes(const char *path, const void *data, size_t n, gnf_status want, const char *label) {
    CHECK(test_write_file(path, data, n));
    expect_fail(path, want, label);
}

/* The same through gnf_image_load_from_memory on an exact-size copy of data[0..n) (so ASan sees
 * any overread); the message must name `name`. */
static void expect_fail_mem(const unsigned char *data, size_t n, const char *name, gnf_status want,
                            const char *label) {
    unsigned char *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    gnf_image img;
    memset(&img, 0x5A, sizeof img);
    int alpha = 7;
    gnf_status s = gnf_image_load_from_memory(copy, n, name, &img, &alpha);
    free(copy);
    CHECK_MSG(s == want && strstr(gnf_last_error(), name), "%s: status %d, want %d; message: %s", label, (int)s,
              (int)want, gnf_last_error());
    CHECK(img.px == NULL && img.w == 0 && alpha == 0);
    if (s == GNF_OK) gnf_image_free(&img);
}

/* Loads path expecting success and a w×h×c image, alpha as given; 1 if it has pixels. */
static int load_expect(const char *path, gnf_image *img, int w, int h, int c, int alpha) {
    int a = -1;
    CHECK_EQ_INT(gnf_image_load(path, img, &a), GNF_OK);
    CHECK_MSG(img->w == w && img->h == h && img->c == c && a == alpha, "%s: %dx%dx%d, alpha %d", path, img->w,
              img->h, img->c, a);
    return img->px != NULL;
}

/* Redirects stderr to a file so a test can prove that decoding printed nothing. */
typedef struct { int saved; char path[512]; } quiet_t;

static void quiet_begin(quiet_t *q, const char *name) {
    test_path(q->path, sizeof q->path, name);
    fflush(stderr);
    q->saved = dup(2);
    int fd = open(q->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
}

static long quiet_end(quiet_t *q) {
    fflush(stderr);
    dup2(q->saved, 2);
    close(q->saved);
    struct stat st;
    return stat(q->path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- round trips ---------------------------------------------------------------------- */

static void roundtrip(int c, const char *name) {
    const char *path = test_tmp(name);
    gnf_image img;
    CHECK_EQ_INT(gnf_image_alloc(&img, 37, 23, c), GNF_OK);
    gnf_rng r;
    gnf_rng_seed(&r, 5, (uint64_t)c);
    long n = 37L * 23 * c;
    for (long i = 0; i < n; i++) img.px[i] = gnf_rng_uniform(&r) * 1.4f - 0.2f; /* some clamp */
    img.px[0] = NAN;
    CHECK_EQ_INT(gnf_image_save_png(path, &img), GNF_OK);
    gnf_image back;
    int alpha = -1;
    CHECK_EQ_INT(gnf_image_load(path, &back, &alpha), GNF_OK);
    CHECK(back.w == 37 && back.h == 23 && back.c == c && alpha == 0);
    if (back.px) {
        int bad = 0;
        for (long i = 0; i < n; i++) {
            float v = img.px[i];
            v = !(v > 0) ? 0 : v > 1 ? 1 : v;
            float want = (float)(int)(v * 255.0f + 0.5f) / 255.0f;
            bad += back.px[i] != want;
        }
        CHECK_EQ_INT(bad, 0);
        /* Saving what was loaded reproduces it exactly. */
        CHECK_EQ_INT(gnf_image_save_png(path, &back), GNF_OK);
        gnf_image again;
        CHECK_EQ_INT(gnf_image_load(path, &again, NULL), GNF_OK);
        CHECK(again.px && memcmp(again.px, back.px, (size_t)n * sizeof(float)) == 0);
        gnf_image_free(&again);
        /* From memory: the same pixels. */
        size_t nb = 0;
        unsigned char *bytes = test_read_file(path, &nb);
        CHECK(bytes && gnf_image_load_from_memory(bytes, nb, "mem.png", &again, &alpha) == GNF_OK);
        CHECK(again.px && again.c == c && memcmp(again.px, back.px, (size_t)n * sizeof(float)) == 0);
        gnf_image_free(&again);
        free(bytes);
    }
    gnf_image_free(&back);
    gnf_image_free(&img);
}

TEST(image_png_roundtrip_rgb) { roundtrip(3, "rt_rgb.png"); }
TEST(image_png_roundtrip_gray) { roundtrip(1, "rt_gray.png"); }

TEST(image_alloc_free) {
    gnf_image img;
    CHECK_EQ_INT(gnf_image_alloc(&img, 5, 4, 3), GNF_OK);
    CHECK(img.w == 5 && img.h == 4 && img.c == 3 && img.px);
    int nz = 0;
    for (int i = 0; i < 60; i++) nz += img.px[i] != 0.0f;
    CHECK_EQ_INT(nz, 0);
    gnf_image_free(&img);
    CHECK(img.px == NULL && img.w == 0);
    gnf_image_free(&img); /* zeroed: no-op */
    CHECK_EQ_INT(gnf_image_alloc(&img, 0, 4, 3), GNF_ERR_INVALID);
    CHECK(img.px == NULL);
    CHECK_EQ_INT(gnf_image_alloc(&img, 4, 4, 2), GNF_ERR_INVALID);
}

/* ---- PNG layouts written with libpng -------------------------------------------------- */

TEST(image_png_16bit) {
    const char *path = test_tmp("rgb16.png");
    const int w = 5, h = 3;
    uint16_t v[5 * 3 * 3];
    unsigned char raw[sizeof v];
    for (int i = 0; i < w * h * 3; i++) {
        v[i] = (uint16_t)(i == 0 ? 0 : i == 1 ? 65535 : (i * 7919u) & 0xFFFF);
        raw[2 * i] = (unsigned char)(v[i] >> 8), raw[2 * i + 1] = (unsigned char)v[i];
    }
    CHECK(test_write_png(path, w, h, PNG_COLOR_TYPE_RGB, 16, raw, NULL, 0, NULL, 0));
    gnf_image img;
    if (load_expect(path, &img, w, h, 3, 0))
        for (int i = 0; i < w * h * 3; i++) CHECK_NEAR(img.px[i], v[i] / 65535.0, 1e-7);
    gnf_image_free(&img);

    /* 16-bit gray with alpha: one channel, alpha reported. */
    path = test_tmp("ga16.png");
    unsigned char ga[2 * 2 * 4];
    for (int i = 0; i < 4; i++) {
        uint16_t g = (uint16_t)(1000 + 20000 * i), a = (uint16_t)(65535 - 300 * i);
        ga[4 * i] = (unsigned char)(g >> 8), ga[4 * i + 1] = (unsigned char)g;
        ga[4 * i + 2] = (unsigned char)(a >> 8), ga[4 * i + 3] = (unsigned char)a;
    }
    CHECK(test_write_png(path, 2, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 16, ga, NULL, 0, NULL, 0));
    if (load_expect(path, &img, 2, 2, 1, 1))
        for (int i = 0; i < 4; i++) CHECK_NEAR(img.px[i], (1000 + 20000 * i) / 65535.0, 1e-7);
    gnf_image_free(&img);
}

TEST(image_png_gray_alpha_rgba) {
    const char *path = test_tmp("ga8.png");
    const int w = 4, h = 3;
    unsigned char ga[4 * 3 * 2], rgba[4 * 3 * 4];
    for (int i = 0; i < w * h; i++) {
        ga[2 * i] = (unsigned char)(i * 20), ga[2 * i + 1] = (unsigned char)(255 - i);
        for (int k = 0; k < 4; k++) rgba[4 * i + k] = (unsigned char)(i * 17 + k * 50);
    }
    gnf_image img;
    CHECK(test_write_png(path, w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, NULL, 0, NULL, 0));
    if (load_expect(path, &img, w, h, 1, 1))
        for (int i = 0; i < w * h; i++) CHECK(img.px[i] == (float)(i * 20) / 255.0f);
    gnf_image_free(&img);

    path = test_tmp("rgba8.png");
    CHECK(test_write_png(path, w, h, PNG_COLOR_TYPE_RGBA, 8, rgba, NULL, 0, NULL, 0));
    if (load_expect(path, &img, w, h, 3, 1))
        for (int i = 0; i < w * h; i++)
            for (int k = 0; k < 3; k++) CHECK(img.px[3 * i + k] == (float)rgba[4 * i + k] / 255.0f);
    gnf_image_free(&img);
}

TEST(image_png_palette_and_low_depth) {
    const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    const unsigned char idx[3 * 2] = {0, 1, 2, 3, 2, 1};
    gnf_image img;
    const char *path = test_tmp("pal8.png");
    CHECK(test_write_png(path, 3, 2, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, 4, NULL, 0));
    if (load_expect(path, &img, 3, 2, 3, 0))
        for (int i = 0; i < 6; i++) {
            CHECK(img.px[3 * i] == pal[idx[i]].red / 255.0f);
            CHECK(img.px[3 * i + 1] == pal[idx[i]].green / 255.0f);
            CHECK(img.px[3 * i + 2] == pal[idx[i]].blue / 255.0f);
        }
    gnf_image_free(&img);

    /* 2-bit palette with tRNS: expands to RGB, alpha reported. */
    path = test_tmp("pal2.png");
    const unsigned char packed[2] = {0x1B, 0xE4}; /* row 0: 0 1 2 3, row 1: 3 2 1 0 */
    const unsigned char trns[2] = {0, 128};
    CHECK(test_write_png(path, 4, 2, PNG_COLOR_TYPE_PALETTE, 2, packed, pal, 4, trns, 2));
    if (load_expect(path, &img, 4, 2, 3, 1)) {
        CHECK(img.px[0] == 1.0f && img.px[1] == 0.0f);          /* index 0: red */
        CHECK(img.px[3 * 3 + 2] == 30 / 255.0f);                  /* index 3: (10,20,30) */
        CHECK(img.px[3 * 4] == 10 / 255.0f && img.px[3 * 7] == 1.0f); /* row 1: 3 ... 0 */
    }
    gnf_image_free(&img);

    /* 2-bit gray: levels 0, 85, 170, 255. */
    path = test_tmp("gray2.png");
    const unsigned char g2[1] = {0x1B};
    CHECK(test_write_png(path, 4, 1, PNG_COLOR_TYPE_GRAY, 2, g2, NULL, 0, NULL, 0));
    if (load_expect(path, &img, 4, 1, 1, 0))
        for (int i = 0; i < 4; i++) CHECK(img.px[i] == (float)(85 * i) / 255.0f);
    gnf_image_free(&img);
}

/* ---- JPEG ----------------------------------------------------------------------------- */

TEST(image_jpeg_q95) {
    const int w = 64, h = 48;
    for (int c = 1; c <= 3; c += 2) {
        const char *path = test_tmp(c == 1 ? "gray.jpg" : "rgb.jpg");
        unsigned char *p = pattern(w, h, c);
        CHECK(test_write_jpeg(path, w, h, c, p, 95));
        gnf_image img;
        if (load_expect(path, &img, w, h, c, 0)) {
            double sum = 0, mx = 0;
            for (int i = 0; i < w * h * c; i++) {
                double d = fabs(img.px[i] - p[i] / 255.0);
                sum += d;
                mx = d > mx ? d : mx;
            }
            CHECK_MSG(sum / (w * h * c) < 0.01 && mx < 0.08, "c=%d mean %g max %g", c,
                      sum / (w * h * c), mx);
        }
        gnf_image_free(&img);
        free(p);
    }
}

TEST(image_jpeg_cmyk_unsupported) {
    const char *path = test_tmp("cmyk.jpg");
    unsigned char *p = pattern(16, 16, 4);
    CHECK(test_write_jpeg(path, 16, 16, 4, p, 90));
    free(p);
    expect_fail(path, GNF_ERR_UNSUPPORTED, "CMYK JPEG");
    CHECK(strstr(gnf_last_error(), "CMYK") != NULL);
}

TEST(image_png_interlaced) {
    const char *path = test_tmp("adam7.png");
    const int w = 19, h = 13;
    unsigned char *p = pattern(w, h, 3);
    CHECK(test_write_png(path, w, h, PNG_COLOR_TYPE_RGB | TEST_PNG_INTERLACE, 8, p, NULL, 0, NULL, 0));
    gnf_image img;
    CHECK_EQ_INT(gnf_image_load(path, &img, NULL), GNF_OK);
    CHECK(img.w == w && img.h == h && img.c == 3);
    int bad = 0;
    for (int i = 0; img.px && i < w * h * 3; i++) bad += img.px[i] != (float)p[i] / 255.0f;
    CHECK_EQ_INT(bad, 0);
    gnf_image_free(&img);
    free(p);
}

/* ---- malformed input ------------------------------------------------------------------ */

TEST(image_load_not_images) {
    expect_fail_bytes(test_tmp("empty.png"), "", 0, GNF_ERR_FORMAT, "empty");
    expect_fail(test_tmp("does_not_exist.png"), GNF_ERR_IO, "missing");
    const char *txt = "this is not an image, just some text\n";
    expect_fail_bytes(test_tmp("text.png"), txt, strlen(txt), GNF_ERR_FORMAT, "text");
    expect_fail_bytes(test_tmp("short.jpg"), "\xFF\xD8", 2, GNF_ERR_FORMAT, "two bytes");
    const char *path = test_tmp("a_directory.png");
    CHECK(mkdir(path, 0755) == 0);
    expect_fail(path, GNF_ERR_IO, "directory");
}

/* data[0..n) cut at every length from `from` on must fail as truncated, from memory; the file
 * cut in half as well. */
static void check_cuts(const unsigned char *data, size_t n, size_t from, const char *name) {
    for (size_t len = from; len < n; len++) {
        char label[64];
        snprintf(label, sizeof label, "%s cut at %zu", name, len);
        expect_fail_mem(data, len, name, GNF_ERR_FORMAT, label);
        CHECK_MSG(strstr(gnf_last_error(), "truncated") != NULL, "%s: %s", label, gnf_last_error());
    }
    const char *path = test_tmp(name);
    expect_fail_bytes(path, data, n / 2, GNF_ERR_FORMAT, "file cut in half");
}

/* The bytes of path if they number more than `least` (else NULL, a failure recorded). */
static unsigned char *read_back(const char *path, int ok, size_t *n, size_t least) {
    unsigned char *b = ok ? test_read_file(path, n) : NULL;
    CHECK(b && *n > least);
    return b;
}

/* A 64×64 noise RGB PNG, returned as bytes. */
static unsigned char *noise_png(const char *name, size_t *n) {
    const char *path = test_tmp(name);
    unsigned char *px = noise(64 * 64 * 3, 11);
    int ok = test_write_png(path, 64, 64, PNG_COLOR_TYPE_RGB, 8, px, NULL, 0, NULL, 0);
    free(px);
    return read_back(path, ok, n, 1000);
}

TEST(image_png_truncated) {
    size_t n = 0;
    unsigned char *png = noise_png("full.png", &n);
    if (!png) return;
    quiet_t q;
    quiet_begin(&q, "png_trunc_stderr.txt");
    check_cuts(png, n, 8, "trunc.png"); /* shorter is "not a PNG" */
    CHECK_EQ_INT(quiet_end(&q), 0);
    free(png);
}

TEST(image_png_corrupt) {
    size_t n = 0;
    unsigned char *png = noise_png("full2.png", &n);
    if (!png) return;
    /* Find the first IDAT chunk. */
    size_t at = 8, idat = 0, len = 0;
    while (at + 12 <= n) {
        len = get_be32(png + at);
        if (memcmp(png + at + 4, "IDAT", 4) == 0) { idat = at; break; }
        at += 12 + len;
    }
    CHECK(idat > 0 && len > 200);
    if (!idat) { free(png); return; }
    const char *path = test_tmp("corrupt.png");
    quiet_t q;
    quiet_begin(&q, "png_corrupt_stderr.txt");

    /* Flipped bytes in IDAT: the chunk CRC catches it. */
    unsigned char *bad = malloc(n);
    memcpy(bad, png, n);
    for (size_t i = 0; i < 16; i++) bad[idat + 8 + len / 2 + i] ^= 0xA5;
    expect_fail_bytes(path, bad, n, GNF_ERR_FORMAT, "IDAT bytes flipped");

    /* Same with a recomputed CRC: now zlib has to notice (bad codes or data check). */
    put_be32(bad + idat + 8 + len, (uint32_t)crc32(0, bad + idat + 4, (uInt)(len + 4)));
    expect_fail_bytes(path, bad, n, GNF_ERR_FORMAT, "IDAT bytes flipped, CRC fixed");

    /* A broken IHDR (bit depth 7, CRC fixed). */
    memcpy(bad, png, n);
    bad[8 + 8 + 8] = 7;
    put_be32(bad + 8 + 8 + 13, (uint32_t)crc32(0, bad + 8 + 4, 17));
    expect_fail_bytes(path, bad, n, GNF_ERR_FORMAT, "IHDR bit depth 7");
    CHECK_EQ_INT(quiet_end(&q), 0);
    free(bad);
    free(png);
}

static void put_chunk(unsigned char **p, const char *type, const unsigned char *data, uint32_t n) {
    put_be32(*p, n);
    memcpy(*p + 4, type, 4);
    if (n) memcpy(*p + 8, data, n);
    put_be32(*p + 8 + n, (uint32_t)crc32(0, *p + 4, n + 4));
    *p += 12 + n;
}

TEST(image_png_huge_header) {
    /* A well-formed PNG whose IHDR claims 100000×100000: refused before any allocation. */
    unsigned char file[256], *p = file;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    p += 8;
    unsigned char ihdr[13] = {0};
    put_be32(ihdr, 100000);
    put_be32(ihdr + 4, 100000);
    ihdr[8] = 8, ihdr[9] = PNG_COLOR_TYPE_RGB;
    put_chunk(&p, "IHDR", ihdr, 13);
    unsigned char z[64];
    uLongf zn = sizeof z;
    const unsigned char zero[4] = {0};
    CHECK(compress(z, &zn, zero, sizeof zero) == Z_OK);
    put_chunk(&p, "IDAT", z, (uint32_t)zn);
    put_chunk(&p, "IEND", NULL, 0);
    const char *path = test_tmp("huge.png");
    expect_fail_bytes(path, file, (size_t)(p - file), GNF_ERR_UNSUPPORTED, "100000x100000 PNG");

    /* 40000×10: one side over the limit. */
    put_be32(file + 16, 40000);
    put_be32(file + 20, 10);
    put_be32(file + 29, (uint32_t)crc32(0, file + 12, 17));
    expect_fail_bytes(path, file, (size_t)(p - file), GNF_ERR_UNSUPPORTED, "40000x10 PNG");

    /* 16000×16000 is within the limits, but not in 60 bytes: refused before any allocation. */
    put_be32(file + 16, 16000);
    put_be32(file + 20, 16000);
    put_be32(file + 29, (uint32_t)crc32(0, file + 12, 17));
    expect_fail_mem(file, (size_t)(p - file), "lying.png", GNF_ERR_FORMAT, "16000x16000 PNG");
}

/* A 64×48 RGB JPEG of noise-over-pattern, returned as bytes. */
static unsigned char *test_jpeg(const char *name, size_t *n) {
    const char *path = test_tmp(name);
    unsigned char *px = pattern(64, 48, 3), *nz = noise(64 * 48 * 3, 3);
    for (int i = 0; i < 64 * 48 * 3; i++) px[i] = (unsigned char)((px[i] + nz[i]) / 2);
    int ok = test_write_jpeg(path, 64, 48, 3, px, 95);
    free(px);
    free(nz);
    return read_back(path, ok, n, 2000);
}

TEST(image_jpeg_truncated) {
    size_t n = 0;
    unsigned char *jpg = test_jpeg("full.jpg", &n);
    if (!jpg) return;
    /* n/2 cuts into the entropy-coded data, where libjpeg would pad with grey and only warn. */
    quiet_t q;
    quiet_begin(&q, "jpeg_trunc_stderr.txt");
    check_cuts(jpg, n, 3, "trunc.jpg");
    /* A frame header claiming 16000x16000 in a few KiB: refused before the pixels are allocated. */
    for (size_t i = 2; i + 9 < n; i++)
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
            jpg[i + 5] = jpg[i + 7] = 16000 >> 8, jpg[i + 6] = jpg[i + 8] = 16000 & 255;
            expect_fail_mem(jpg, n, "lying.jpg", GNF_ERR_FORMAT, "16000x16000 JPEG");
            break;
        }
    CHECK_EQ_INT(quiet_end(&q), 0); /* libjpeg's warnings must not reach stderr */
    free(jpg);
}

TEST(image_jpeg_corrupt) {
    size_t n = 0;
    unsigned char *jpg = test_jpeg("full2.jpg", &n);
    if (!jpg) return;
    size_t sof = 0;
    for (size_t i = 2; i + 10 < n; i++)
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) { sof = i; break; }
    CHECK(sof > 0);
    if (!sof) { free(jpg); return; }
    const char *path = test_tmp("corrupt.jpg");
    unsigned char *bad = malloc(n);
    quiet_t q;
    quiet_begin(&q, "jpeg_corrupt_stderr.txt");

    memcpy(bad, jpg, n);
    bad[sof + 9] = 0; /* SOF says zero components */
    expect_fail_bytes(path, bad, n, GNF_ERR_FORMAT, "SOF with 0 components");

    memcpy(bad, jpg, n);
    bad[sof + 2] = 0, bad[sof + 3] = 2; /* SOF segment length 2 */
    expect_fail_bytes(path, bad, n, GNF_ERR_FORMAT, "SOF length 2");

    memcpy(bad, jpg, n);
    bad[sof + 5] = 40000 >> 8, bad[sof + 6] = 40000 & 0xFF; /* height */
    bad[sof + 7] = 40000 >> 8, bad[sof + 8] = 40000 & 0xFF; /* width */
    expect_fail_bytes(path, bad, n, GNF_ERR_UNSUPPORTED, "40000x40000 JPEG");

    /* Garbage in the middle of the entropy-coded data: never a crash; an error if noticed. */
    memcpy(bad, jpg, n);
    for (size_t i = n / 2; i < n / 2 + 40; i++) bad[i] = (unsigned char)(i * 37);
    CHECK(test_write_file(path, bad, n));
    gnf_image img;
    gnf_status s = gnf_image_load(path, &img, NULL);
    CHECK(s == GNF_OK || s == GNF_ERR_FORMAT);
    if (s != GNF_OK) CHECK(strstr(gnf_last_error(), path) != NULL);
    gnf_image_free(&img);
    CHECK_EQ_INT(quiet_end(&q), 0);
    free(bad);
    free(jpg);
}

/* ---- saving --------------------------------------------------------------------------- */

TEST(image_save_atomic) {
    char dir[512], path[600];
    test_path(dir, sizeof dir, "save_dir");
    CHECK(mkdir(dir, 0755) == 0);
    gnf_image img;
    CHECK_EQ_INT(gnf_image_alloc(&img, 8, 8, 3), GNF_OK);
    for (int i = 0; i < 8 * 8 * 3; i++) img.px[i] = (float)i / 191.0f;

    snprintf(path, sizeof path, "%s/no/such/dir/out.png", dir);
    CHECK_EQ_INT(gnf_image_save_png(path, &img), GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), path) != NULL);
    CHECK(!file_exists(path));

    snprintf(path, sizeof path, "%s/out.png", dir);
    CHECK_EQ_INT(gnf_image_save_png(path, &img), GNF_OK);
    CHECK_EQ_INT(test_count_files(dir, ".tmp"), 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    /* Overwriting replaces the file. */
    img.c = 1;
    img.w = 24;
    CHECK_EQ_INT(gnf_image_save_png(path, &img), GNF_OK);
    CHECK_EQ_INT(test_count_files(dir, ".tmp"), 0);
    gnf_image back;
    CHECK_EQ_INT(gnf_image_load(path, &back, NULL), GNF_OK);
    CHECK(back.w == 24 && back.h == 8 && back.c == 1);
    gnf_image_free(&back);

    /* A directory in the way: rename fails, the temp file is removed. */
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK_EQ_INT(gnf_image_save_png(path, &img), GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), path) != NULL);
    CHECK_EQ_INT(test_count_files(dir, ".tmp"), 0);

    /* Not an image gnf can save. */
    img.c = 2;
    snprintf(path, sizeof path, "%s/two.png", dir);
    CHECK_EQ_INT(gnf_image_save_png(path, &img), GNF_ERR_INVALID);
    CHECK(!file_exists(path));
    img.c = 3;
    img.w = 8;
    gnf_image_free(&img);
}

TEST(image_kodak) {
    const char *data = test_data_dir();
    if (!data) SKIP("no data directory");
    char path[4096];
    snprintf(path, sizeof path, "%s/images/kodak/kodim23.png", data);
    gnf_image img;
    double mean = 0;
    if (load_expect(path, &img, 768, 512, 3, 0))
        for (long i = 0; i < 768L * 512 * 3; i++) mean += img.px[i];
    mean /= 768.0 * 512 * 3;
    CHECK(mean > 0.05 && mean < 0.95);
    gnf_image_free(&img);
}
