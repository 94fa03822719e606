/* make_seeds.c — writes the fuzzers' seed corpora (make fuzz-seeds):
 *     gnf_fuzz_seeds OUT [DATA]
 * fills OUT/<reader>/ with small valid and nearly valid inputs, each a few KiB at most:
 *   png, jpeg: a 16x12 crop of data/kodim23_crop.png in every PNG colour type, depth, palette,
 *       transparency and interlacing, and as baseline, 4:4:4, gray, progressive, arithmetic-coded,
 *       restart-marked and CMYK JPEGs; plus the first 4 KiB of DATA's kodim01.png (truncated);
 *   obj, ply, stl, off: the first 40 triangles of DATA's bunny (an octahedron without DATA) in
 *       each format and its variants (polygons, v/t/n corners, negative indices, normals and
 *       colours, big- and little-endian PLY, several STL solids, COFF/NOFF), plus the first 2 KiB
 *       of every DATA mesh;
 *   model: tiny gnf models of each task, encoding and decoder, f32 and f16, and a plain
 *       safetensors file that is not a gnf model;
 *   scene: DATA's lego transforms_train.json cut to its first frames and pointed at the pictures
 *       fuzz/fuzz_scene.c provides, in the Blender and the Instant-NGP (fl_x, cx, w, h) styles;
 *   query: the mesh's vertices as "x y z" text (with comments, commas, CRLF) and as float32.
 * DATA defaults to ../shared/data; what it lacks is replaced by generated data or left out.
 * Exit status 1 if OUT cannot be written. */
#include "core/core.h"
#include "geom/mesh.h"
#include "io/safetensors.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <jpeglib.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *g_out;
static int g_failed, g_count;

/* OUT/<dir>/<name> into buf. */
static const char *out_path(char *buf, size_t n, const char *dir, const char *name) {
    snprintf(buf, n, "%s/%s/%s", g_out, dir, name);
    return buf;
}

static void put_file(const char *dir, const char *name, const void *d, size_t n) {
    char p[1024];
    FILE *f = fopen(out_path(p, sizeof p, dir, name), "wb");
    int ok = f && (n == 0 || fwrite(d, 1, n, f) == n);
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "gnf_fuzz_seeds: cannot write %s\n", p);
        g_failed = 1;
    }
    g_count += ok;
}

/* A growing text or byte buffer. */
typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { fprintf(stderr, "gnf_fuzz_seeds: out of memory\n"); exit(1); }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void b_printf(buf *b, const char *fmt, ...) GNF_PRINTF(2, 3);
static void b_printf(buf *b, const char *fmt, ...) {
    char t[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    b_put(b, t, (size_t)(n < (int)sizeof t ? n : (int)sizeof t - 1));
}

static void b_u8(buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    b_put(b, &c, 1);
}

static void b_u32(buf *b, uint32_t v, int big) {
    for (int k = 0; k < 4; k++) b_u8(b, (v >> (big ? 24 - 8 * k : 8 * k)) & 0xFF);
}

static void b_f32(buf *b, float f, int big) {
    uint32_t u;
    memcpy(&u, &f, 4);
    b_u32(b, u, big);
}

static void b_emit(buf *b, const char *dir, const char *name) {
    put_file(dir, name, b->p, b->n);
    b->n = 0;
}

/* The first max bytes of the file at path as a seed (skipped if the file is absent). */
static void clip_file(const char *path, size_t max, const char *dir, const char *name) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char *d = malloc(max);
    size_t n = d ? fread(d, 1, max, f) : 0;
    fclose(f);
    if (d && n) put_file(dir, name, d, n);
    free(d);
}

/* ---- images --------------------------------------------------------------------------- */

#define IW 16
#define IH 12
static unsigned char g_rgb[IH][IW][3]; /* the crop, 8-bit */

static void load_crop(void) {
    gnf_image img;
    if (gnf_image_load("data/kodim23_crop.png", &img, NULL) == GNF_OK && img.w >= IW && img.h >= IH) {
        int x0 = (img.w - IW) / 2, y0 = (img.h - IH) / 2;
        for (int y = 0; y < IH; y++)
            for (int x = 0; x < IW; x++)
                for (int k = 0; k < 3; k++) {
                    float v = img.px[((size_t)(y0 + y) * img.w + x0 + x) * img.c + (img.c == 3 ? k : 0)];
                    g_rgb[y][x][k] = (unsigned char)(v * 255.0f + 0.5f);
                }
        gnf_image_free(&img);
        return;
    }
    for (int y = 0; y < IH; y++) /* without the embedded picture: a gradient */
        for (int x = 0; x < IW; x++)
            for (int k = 0; k < 3; k++) g_rgb[y][x][k] = (unsigned char)(16 * x + 20 * y + 60 * k);
}

static void png_write_buf(png_structp png, png_bytep d, size_t n) { b_put(png_get_io_ptr(png), d, n); }
static void png_flush_buf(png_structp png) { (void)png; }

/* A PNG of the crop: colour type ct, bit depth bd, palette (ct PALETTE) of the 2^bd first
 * colours of a fixed ramp, tRNS when trns, Adam7 when interlace, a few ancillary chunks when
 * extra. */
static void write_png_seed(const char *name, int ct, int bd, int trns, int interlace, int extra) {
    buf b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "gnf_fuzz_seeds: libpng failed on %s\n", name);
        g_failed = 1;
        png_destroy_write_struct(&png, &info);
        free(b.p);
        return;
    }
    png_set_write_fn(png, &b, png_write_buf, png_flush_buf);
    png_set_IHDR(png, info, IW, IH, bd, ct, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    int ncol = 1 << bd;
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        for (int i = 0; i < ncol; i++)
            pal[i].red = (png_byte)(i * 255 / (ncol - 1)), pal[i].green = (png_byte)(255 - i * 255 / (ncol - 1)),
            pal[i].blue = (png_byte)(i * 37);
        png_set_PLTE(png, info, pal, ncol);
        if (trns) {
            png_byte a[256];
            for (int i = 0; i < ncol; i++) a[i] = (png_byte)(i * 255 / (ncol - 1));
            png_set_tRNS(png, info, a, ncol > 4 ? 4 : ncol, NULL);
        }
    } else if (trns) {
        png_color_16 c = {0, 40, 80, 120, 40};
        png_set_tRNS(png, info, NULL, 0, &c);
    }
    if (extra) {
        png_set_gAMA(png, info, 0.45455);
        png_set_sRGB(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
        png_text t = {PNG_TEXT_COMPRESSION_zTXt, "Comment", "gnf fuzz seed", 13, 0, NULL, NULL};
        png_set_text(png, info, &t, 1);
        png_set_pHYs(png, info, 2835, 2835, PNG_RESOLUTION_METER);
    }
    png_write_info(png, info);
    if (bd == 16) png_set_swap(png); /* rows below are host (little-endian) 16-bit */
    int ch = ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_PALETTE ? 1 : ct == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
             : ct == PNG_COLOR_TYPE_RGB ? 3 : 4;
    int passes = png_set_interlace_handling(png);
    unsigned char row[IW * 4 * 2];
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < IH; y++) {
            memset(row, 0, sizeof row);
            for (int x = 0; x < IW; x++) {
                const unsigned char *p = g_rgb[y][x];
                int gray = (p[0] * 3 + p[1] * 6 + p[2]) / 10;
                unsigned s[4] = {p[0], p[1], p[2], (unsigned)(x * 255 / (IW - 1))};
                if (ch <= 2) s[0] = (unsigned)gray, s[1] = s[3];
                for (int k = 0; k < ch; k++) {
                    unsigned v = s[k];
                    if (bd == 16) {
                        uint16_t w = (uint16_t)(v * 257);
                        memcpy(row + 2 * (x * ch + k), &w, 2);
                    } else if (bd == 8) {
                        row[x * ch + k] = (unsigned char)v;
                    } else { /* packed samples, most significant first */
                        unsigned q = ct == PNG_COLOR_TYPE_PALETTE ? (unsigned)((x + y) % ncol) : v >> (8 - bd);
                        int bit = x * bd;
                        row[bit / 8] |= (unsigned char)(q << (8 - bd - bit % 8));
                    }
                }
                if (ct == PNG_COLOR_TYPE_PALETTE && bd == 8) row[x] = (unsigned char)((x * 7 + y * 3) % 256);
            }
            png_write_row(png, row);
        }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    b_emit(&b, "png", name);
    free(b.p);
}

static void png_seeds(const char *data) {
    static const struct { const char *name; int ct, bd, trns, il, extra; } k[] = {
        {"gray1.png", PNG_COLOR_TYPE_GRAY, 1, 0, 0, 0},       {"gray2.png", PNG_COLOR_TYPE_GRAY, 2, 0, 0, 0},
        {"gray4.png", PNG_COLOR_TYPE_GRAY, 4, 0, 0, 0},       {"gray8.png", PNG_COLOR_TYPE_GRAY, 8, 0, 0, 1},
        {"gray16.png", PNG_COLOR_TYPE_GRAY, 16, 0, 0, 0},     {"gray8_trns.png", PNG_COLOR_TYPE_GRAY, 8, 1, 0, 0},
        {"ga8.png", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0, 0},   {"ga16.png", PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, 1, 0},
        {"rgb8.png", PNG_COLOR_TYPE_RGB, 8, 0, 0, 0},         {"rgb8_il.png", PNG_COLOR_TYPE_RGB, 8, 0, 1, 1},
        {"rgb16.png", PNG_COLOR_TYPE_RGB, 16, 0, 0, 0},       {"rgb8_trns.png", PNG_COLOR_TYPE_RGB, 8, 1, 0, 0},
        {"rgba8.png", PNG_COLOR_TYPE_RGBA, 8, 0, 0, 0},       {"rgba16.png", PNG_COLOR_TYPE_RGBA, 16, 0, 0, 0},
        {"rgba8_il.png", PNG_COLOR_TYPE_RGBA, 8, 0, 1, 0},    {"pal1.png", PNG_COLOR_TYPE_PALETTE, 1, 0, 0, 0},
        {"pal2_trns.png", PNG_COLOR_TYPE_PALETTE, 2, 1, 0, 0}, {"pal4.png", PNG_COLOR_TYPE_PALETTE, 4, 0, 1, 0},
        {"pal8_trns.png", PNG_COLOR_TYPE_PALETTE, 8, 1, 0, 1}};
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        write_png_seed(k[i].name, k[i].ct, k[i].bd, k[i].trns, k[i].il, k[i].extra);
    char p[1024];
    snprintf(p, sizeof p, "%s/images/kodak/kodim01.png", data);
    clip_file(p, 4096, "png", "kodim01_first4k.png");
}

/* A JPEG of the crop: c components (1 gray, 3 RGB, 4 CMYK), quality q, and the options. */
static void write_jpeg_seed(const char *name, int c, int q, int h_samp, int progressive, int arith, int restart,
                            int optimize) {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err); /* failures exit: the inputs are our own */
    jpeg_create_compress(&ci);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&ci, &mem, &size);
    ci.image_width = IW;
    ci.image_height = IH;
    ci.input_components = c;
    ci.in_color_space = c == 1 ? JCS_GRAYSCALE : c == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, q, TRUE);
    if (c == 3) ci.comp_info[0].h_samp_factor = h_samp, ci.comp_info[0].v_samp_factor = h_samp;
    if (progressive) jpeg_simple_progression(&ci);
    ci.arith_code = arith ? TRUE : FALSE;
    ci.restart_interval = (unsigned)restart;
    ci.optimize_coding = optimize ? TRUE : FALSE;
    jpeg_start_compress(&ci, TRUE);
    unsigned char row[IW * 4];
    JSAMPROW rp = row;
    for (int y = 0; y < IH; y++) {
        for (int x = 0; x < IW; x++)
            for (int k = 0; k < c; k++) row[x * c + k] = c == 1 ? g_rgb[y][x][1] : k < 3 ? g_rgb[y][x][k] : 40;
        jpeg_write_scanlines(&ci, &rp, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    put_file("jpeg", name, mem, size);
    free(mem);
}

static void jpeg_seeds(void) {
    write_jpeg_seed("rgb420_q75.jpg", 3, 75, 2, 0, 0, 0, 0);
    write_jpeg_seed("rgb444_q95.jpg", 3, 95, 1, 0, 0, 0, 1);
    write_jpeg_seed("gray_q50.jpg", 1, 50, 1, 0, 0, 0, 0);
    write_jpeg_seed("rgb_progressive.jpg", 3, 80, 2, 1, 0, 0, 0);
    write_jpeg_seed("gray_progressive.jpg", 1, 80, 1, 1, 0, 0, 0);
    write_jpeg_seed("rgb_arith.jpg", 3, 80, 2, 0, 1, 0, 0);
    write_jpeg_seed("rgb_arith_progressive.jpg", 3, 80, 1, 1, 1, 0, 0);
    write_jpeg_seed("rgb_restart.jpg", 3, 60, 2, 0, 0, 1, 0);
    write_jpeg_seed("cmyk.jpg", 4, 70, 1, 0, 0, 0, 0);
}

/* ---- meshes --------------------------------------------------------------------------- */

#define MAXV 128
#define MAXF 40
static float g_v[MAXV][3];
static int g_f[MAXF][3];
static int g_nv, g_nf;

/* The first MAXF triangles of DATA's bunny with their vertices renumbered in order of use; an
 * octahedron without it. */
static void load_mesh(const char *data) {
    char p[1024];
    snprintf(p, sizeof p, "%s/meshes/bunny.obj", data);
    gnf_mesh m;
    if (gnf_mesh_load(p, &m, NULL) == GNF_OK && m.nf >= MAXF) {
        int *map = malloc((size_t)m.nv * sizeof *map);
        for (long i = 0; map && i < m.nv; i++) map[i] = -1;
        for (int t = 0; map && t < MAXF; t++)
            for (int k = 0; k < 3; k++) {
                int v = m.f[3 * t + k];
                if (map[v] < 0 && g_nv < MAXV) {
                    map[v] = g_nv;
                    memcpy(g_v[g_nv++], m.v + 3 * v, sizeof g_v[0]);
                }
                g_f[t][k] = map[v];
            }
        g_nf = map ? MAXF : 0;
        free(map);
        gnf_mesh_free(&m);
        if (g_nf) return;
    }
    static const float ov[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
    static const int of[8][3] = {{0, 2, 4}, {2, 1, 4}, {1, 3, 4}, {3, 0, 4}, {2, 0, 5}, {1, 2, 5}, {3, 1, 5}, {0, 3, 5}};
    g_nv = 6, g_nf = 8;
    memcpy(g_v, ov, sizeof ov);
    memcpy(g_f, of, sizeof of);
}

static void obj_seeds(void) {
    buf b = {0};
    b_printf(&b, "# gnf fuzz seed\n");
    for (int i = 0; i < g_nv; i++) b_printf(&b, "v %.6g %.6g %.6g\n", g_v[i][0], g_v[i][1], g_v[i][2]);
    for (int t = 0; t < g_nf; t++) b_printf(&b, "f %d %d %d\n", g_f[t][0] + 1, g_f[t][1] + 1, g_f[t][2] + 1);
    b_emit(&b, "obj", "plain.obj");
    /* texture and normal indices, groups, smoothing, materials, CRLF */
    b_printf(&b, "mtllib a.mtl\r\no part\r\n");
    for (int i = 0; i < g_nv; i++) b_printf(&b, "v %.7e %.7e %.7e 1.0\r\nvt 0.5 0.25\r\nvn 0 0 1\r\n", g_v[i][0], g_v[i][1], g_v[i][2]);
    b_printf(&b, "g body\r\nusemtl skin\r\ns 1\r\n");
    for (int t = 0; t < g_nf; t++) {
        int a = g_f[t][0] + 1, c = g_f[t][1] + 1, d = g_f[t][2] + 1;
        if (t % 3 == 0) b_printf(&b, "f %d/%d/%d %d/%d/%d %d/%d/%d\r\n", a, a, a, c, c, c, d, d, d);
        else if (t % 3 == 1) b_printf(&b, "f %d//%d %d//%d %d//%d\r\n", a, a, c, c, d, d);
        else b_printf(&b, "f %d/%d %d/%d %d/%d\r\n", a, a, c, c, d, d);
    }
    b_printf(&b, "l 1 2\r\n");
    b_emit(&b, "obj", "vtn_crlf.obj");
    /* negative indices, a quad and a pentagon, a degenerate face */
    b_printf(&b, "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv -0.5 0.5 0\nf -5 -4 -3 -2\nf 1 2 3 4 5\nf 1 1 2\n"
                 "v 0 0 1\nf -1 -2 -3\n");
    b_emit(&b, "obj", "polygons.obj");
    free(b.p);
}

/* PLY in format fmt (0 ascii, 1 little, 2 big endian); rich: normals, colours, an edge element
 * and a uint list count. */
static void ply_seed(const char *name, int fmt, int rich) {
    static const char *fmts[] = {"ascii", "binary_little_endian", "binary_big_endian"};
    buf b = {0};
    int big = fmt == 2;
    b_printf(&b, "ply\nformat %s 1.0\ncomment gnf fuzz seed\n", fmts[fmt]);
    b_printf(&b, "element vertex %d\nproperty float x\nproperty float y\nproperty float z\n", g_nv);
    if (rich) b_printf(&b, "property float nx\nproperty uchar red\n");
    b_printf(&b, "element face %d\nproperty list %s int vertex_indices\n", g_nf, rich ? "uint" : "uchar");
    if (rich) b_printf(&b, "element edge 1\nproperty int vertex1\nproperty int vertex2\n");
    b_printf(&b, "end_header\n");
    for (int i = 0; i < g_nv; i++) {
        if (fmt == 0) {
            b_printf(&b, "%.6g %.6g %.6g", g_v[i][0], g_v[i][1], g_v[i][2]);
            if (rich) b_printf(&b, " 0.5 %d", i % 256);
            b_printf(&b, "\n");
            continue;
        }
        for (int k = 0; k < 3; k++) b_f32(&b, g_v[i][k], big);
        if (rich) b_f32(&b, 0.5f, big), b_u8(&b, (unsigned)i);
    }
    for (int t = 0; t < g_nf; t++) {
        if (fmt == 0) {
            b_printf(&b, "3 %d %d %d\n", g_f[t][0], g_f[t][1], g_f[t][2]);
            continue;
        }
        if (rich) b_u32(&b, 3, big);
        else b_u8(&b, 3);
        for (int k = 0; k < 3; k++) b_u32(&b, (uint32_t)g_f[t][k], big);
    }
    if (rich) {
        if (fmt == 0) b_printf(&b, "0 1\n");
        else b_u32(&b, 0, big), b_u32(&b, 1, big);
    }
    b_emit(&b, "ply", name);
    free(b.p);
}

static void stl_seeds(void) {
    buf b = {0};
    for (int solid = 0; solid < 2; solid++) { /* two solids in one file */
        b_printf(&b, "solid part%d\n", solid);
        for (int t = solid; t < g_nf; t += 2) {
            b_printf(&b, "  facet normal 0 0 1\n    outer loop\n");
            for (int k = 0; k < 3; k++) {
                const float *v = g_v[g_f[t][k]];
                b_printf(&b, "      vertex %.6e %.6e %.6e\n", v[0], v[1], v[2]);
            }
            b_printf(&b, "    endloop\n  endfacet\n");
        }
        b_printf(&b, "endsolid part%d\n", solid);
    }
    b_emit(&b, "stl", "ascii.stl");
    char head[80];
    memset(head, ' ', sizeof head);
    memcpy(head, "solid binary seed", 17); /* a binary STL whose header starts like ASCII */
    b_put(&b, head, sizeof head);
    b_u32(&b, (uint32_t)g_nf, 0);
    for (int t = 0; t < g_nf; t++) {
        for (int k = 0; k < 3; k++) b_f32(&b, k == 2 ? 1.0f : 0.0f, 0);
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 3; k++) b_f32(&b, g_v[g_f[t][c]][k], 0);
        b_u8(&b, 0), b_u8(&b, 0);
    }
    b_emit(&b, "stl", "binary.stl");
    free(b.p);
}

static void off_seeds(void) {
    buf b = {0};
    b_printf(&b, "OFF\n# gnf fuzz seed\n%d %d 0\n", g_nv, g_nf);
    for (int i = 0; i < g_nv; i++) b_printf(&b, "%.6g %.6g %.6g\n", g_v[i][0], g_v[i][1], g_v[i][2]);
    for (int t = 0; t < g_nf; t++) b_printf(&b, "3 %d %d %d\n", g_f[t][0], g_f[t][1], g_f[t][2]);
    b_emit(&b, "off", "plain.off");
    b_printf(&b, "CNOFF %d %d 0\n", g_nv, g_nf); /* counts on the keyword's line, normals and colours */
    for (int i = 0; i < g_nv; i++) b_printf(&b, "%.6g %.6g %.6g 0 0 1 1 0.5 0.25 1\n", g_v[i][0], g_v[i][1], g_v[i][2]);
    for (int t = 0; t < g_nf; t++) b_printf(&b, "3 %d %d %d 255 0 0\n", g_f[t][0], g_f[t][1], g_f[t][2]);
    b_emit(&b, "off", "cnoff.off");
    b_printf(&b, "5 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n0.5 2 0\n4 0 1 2 3\n3 3 2 4\n"); /* no keyword, a quad */
    b_emit(&b, "off", "nokeyword.off");
    free(b.p);
}

static void mesh_seeds(const char *data) {
    load_mesh(data);
    obj_seeds();
    ply_seed("ascii.ply", 0, 0);
    ply_seed("ascii_rich.ply", 0, 1);
    ply_seed("le.ply", 1, 0);
    ply_seed("le_rich.ply", 1, 1);
    ply_seed("be.ply", 2, 0);
    ply_seed("be_rich.ply", 2, 1);
    stl_seeds();
    off_seeds();
    static const char *meshes[] = {"bunny", "spot", "armadillo"};
    for (int i = 0; i < 3; i++) {
        char p[1024], name[64];
        snprintf(p, sizeof p, "%s/meshes/%s.obj", data, meshes[i]);
        snprintf(name, sizeof name, "%s_first2k.obj", meshes[i]);
        clip_file(p, 2048, "obj", name);
    }
}

/* ---- models --------------------------------------------------------------------------- */

/* A tiny model of cfg for task, saved as OUT/model/name (f16 when half). */
static void model_seed(const char *name, const gnf_model_config *cfg, gnf_task task, int half) {
    gnf_model *m;
    char p[1024];
    if (gnf_model_create(cfg, task, &m) != GNF_OK) {
        fprintf(stderr, "gnf_fuzz_seeds: %s: %s\n", name, gnf_last_error());
        g_failed = 1;
        return;
    }
    gnf_model_set_meta(m, "gnf.train.steps", "100");
    gnf_model_set_meta(m, "gnf.train.loss", "l2");
    if (task == GNF_TASK_IMAGE) gnf_model_set_meta(m, "gnf.image.width", "16");
    if (gnf_model_save(m, out_path(p, sizeof p, "model", name), half) != GNF_OK) {
        fprintf(stderr, "gnf_fuzz_seeds: %s\n", gnf_last_error());
        g_failed = 1;
    } else {
        g_count++;
    }
    gnf_model_free(m);
}

static void model_seeds(void) {
    gnf_model_config c;
    gnf_model_config_default(&c, 2, 3);
    c.levels = 2, c.res[0] = 4, c.res[1] = 8, c.feat[0] = c.feat[1] = 2, c.rbf_k = 8;
    model_seed("image_dense.gnf", &c, GNF_TASK_IMAGE, 0);
    model_seed("image_dense_f16.gnf", &c, GNF_TASK_IMAGE, 1);
    c.basis = GNF_BASIS_IMQ;
    model_seed("image_imq.gnf", &c, GNF_TASK_IMAGE, 0);
    c.basis = GNF_BASIS_GAUSSIAN, c.decoder = GNF_DEC_MLP, c.mlp_hidden = 4, c.mlp_layers = 1;
    model_seed("image_mlp.gnf", &c, GNF_TASK_IMAGE, 0);
    gnf_model_config_default(&c, 3, 1);
    c.encoding = GNF_ENC_HASH, c.hash_log2 = 4, c.levels = 2, c.res[0] = 2, c.res[1] = 8;
    c.feat[0] = c.feat[1] = 2, c.rbf_k = 8;
    model_seed("sdf_hash.gnf", &c, GNF_TASK_SDF, 0);
    c.encoding = GNF_ENC_DENSE, c.res[1] = 3;
    model_seed("sdf_dense_f16.gnf", &c, GNF_TASK_SDF, 1);
    gnf_model_config_default(&c, 3, 49);
    c.encoding = GNF_ENC_HASH, c.hash_log2 = 4, c.levels = 2, c.res[0] = 2, c.res[1] = 4;
    c.feat[0] = c.feat[1] = 1, c.rbf_k = 8;
    model_seed("nerf_hash.gnf", &c, GNF_TASK_NERF, 1);
    /* a safetensors file that is not a gnf model */
    float x[6] = {1, 2, 3, 4, 5, 6};
    gnf_st_tensor t[2] = {{"weight", 2, {2, 3}, 6, x}, {"bias", 1, {2}, 2, x}};
    gnf_st_kv kv[1] = {{"framework", "numpy"}};
    char p[1024];
    if (gnf_st_write(out_path(p, sizeof p, "model", "plain.safetensors"), t, 2, kv, 1, 0) != GNF_OK) g_failed = 1;
    else g_count++;
}

/* ---- scenes --------------------------------------------------------------------------- */

/* The lego JSON cut to nframes frames pointing at paths[], written as name; ngp: also the
 * Instant-NGP keys (fl_x, fl_y, cx, cy, w, h of fuzz_scene.c's 8x6 pictures). */
static void scene_seed(cJSON *src, int nframes, const char *const *paths, int ngp, const char *name) {
    cJSON *root = cJSON_Duplicate(src, 1);
    cJSON *frames = cJSON_GetObjectItemCaseSensitive(root, "frames");
    while (cJSON_GetArraySize(frames) > nframes) cJSON_DeleteItemFromArray(frames, nframes);
    int i = 0;
    for (cJSON *fr = frames->child; fr; fr = fr->next, i++) {
        cJSON_ReplaceItemInObjectCaseSensitive(fr, "file_path", cJSON_CreateString(paths[i]));
        if (ngp && i == 1) cJSON_AddNumberToObject(fr, "fl_x", 7.5); /* a frame's own focal length */
    }
    if (ngp) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "camera_angle_x");
        cJSON_AddNumberToObject(root, "fl_x", 9.25);
        cJSON_AddNumberToObject(root, "fl_y", 9.0);
        cJSON_AddNumberToObject(root, "cx", 4.0);
        cJSON_AddNumberToObject(root, "cy", 3.0);
        cJSON_AddNumberToObject(root, "w", 8);
        cJSON_AddNumberToObject(root, "h", 6);
    }
    char *txt = cJSON_PrintUnformatted(root);
    if (txt) put_file("scene", name, txt, strlen(txt));
    else g_failed = 1;
    free(txt);
    cJSON_Delete(root);
}

static void scene_seeds(const char *data) {
    static const char *fallback = "{\"camera_angle_x\":0.69,\"frames\":[{\"file_path\":\"./train/r_0\",\"rotation\":0.01,"
                                  "\"transform_matrix\":[[-1,0,0,0],[0,-0.3,0.95,3.8],[0,0.95,0.3,1.2],[0,0,0,1]]}]}";
    char p[1024];
    snprintf(p, sizeof p, "%s/nerf/lego_400/transforms_train.json", data);
    unsigned char *txt = NULL;
    size_t n = 0;
    cJSON *src = gnf_read_file(p, (size_t)1 << 24, &txt, &n) == GNF_OK ? cJSON_ParseWithLength((char *)txt, n) : NULL;
    if (!src) src = cJSON_Parse(fallback);
    free(txt);
    cJSON *frames = cJSON_GetObjectItemCaseSensitive(src, "frames");
    while (cJSON_GetArraySize(frames) < 4) cJSON_AddItemToArray(frames, cJSON_Duplicate(frames->child, 1));
    static const char *const blender[] = {"./train/r_0", "./train/r_1", "test/r_0.png", "r_2"};
    static const char *const ngp[] = {"train/r_0.png", "./train/r_0", "train/r_0.png", "train/r_0"};
    static const char *const odd[] = {"noext", "bad.png", "empty.png", "missing"};
    scene_seed(src, 1, blender, 0, "one_frame.json");
    scene_seed(src, 4, blender, 0, "blender.json");
    scene_seed(src, 2, ngp, 1, "ngp.json");
    scene_seed(src, 1, odd, 0, "noext.json");
    scene_seed(src, 2, odd + 1, 0, "bad_image.json");
    /* 3-row matrices */
    cJSON *fr = cJSON_GetObjectItemCaseSensitive(src, "frames")->child;
    cJSON_DeleteItemFromArray(cJSON_GetObjectItemCaseSensitive(fr, "transform_matrix"), 3);
    scene_seed(src, 1, blender + 1, 0, "three_rows.json");
    cJSON_Delete(src);
}

/* ---- query points --------------------------------------------------------------------- */

static void query_seeds(void) {
    buf b = {0};
    int n = g_nv < 24 ? g_nv : 24;
    for (int i = 0; i < n; i++) b_printf(&b, "%.6g %.6g %.6g\n", g_v[i][0], g_v[i][1], g_v[i][2]);
    b_emit(&b, "query", "points.txt");
    b_printf(&b, "# x, y, z\r\n\r\n");
    for (int i = 0; i < n; i++) b_printf(&b, "%.9e,%.9e,\t%.9e # p%d\r\n", g_v[i][0], g_v[i][1], g_v[i][2], i);
    b_emit(&b, "query", "commas_crlf.txt");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) b_f32(&b, g_v[i][k], 0);
    b_emit(&b, "query", "points.f32");
    free(b.p);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gnf_fuzz_seeds OUT [DATA]   (DATA: ../shared/data)\n");
        return 2;
    }
    g_out = argv[1];
    const char *data = argc > 2 ? argv[2] : "../shared/data";
    static const char *const dirs[] = {"", "png", "jpeg", "obj", "ply", "stl", "off", "model", "scene", "query"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", g_out, dirs[i]);
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "gnf_fuzz_seeds: cannot create %s: %s\n", p, strerror(errno));
            return 1;
        }
    }
    load_crop();
    png_seeds(data);
    jpeg_seeds();
    mesh_seeds(data);
    model_seeds();
    scene_seeds(data);
    query_seeds();
    printf("gnf_fuzz_seeds: %d seeds in %s (data: %s)\n", g_count, g_out, data);
    return g_failed;
}
