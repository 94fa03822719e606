/* image_file.c — PNG/JPEG loading into float images (optionally composited over white) and
 * atomic 8-bit PNG saving.
 *
 * Files are read whole into memory, then decoded from there (gnf_image_load_from_memory); a
 * header claiming more pixels than the data could hold fails before the pixels are allocated.  libpng and libjpeg report errors by longjmp: every setjmp
 * sits in a small *_decode/_encode function whose state lives in a caller-owned struct, so
 * nothing the error path needs is a clobberable local, and the caller frees everything. */
#include "core/core.h"
#include "io/scene.h" /* gnf_image_load_on_white */
#include <assert.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h> /* after stdio.h: it uses FILE */
#include <jerror.h>  /* message codes, to tell truncation and harmless warnings apart */
#include <png.h>

#define MAX_SIDE 32768u
#define MAX_PIXELS (1ull << 28)
#define IMAGE_FILE_MAX ((size_t)4 << 30)
#define JPEG_PX_PER_BYTE 1024         /* see jpeg_decode */
#define PNG_CHUNK_MIN ((size_t)8 << 20) /* bytes one PNG chunk may allocate, at least */

enum { FMT_NONE, FMT_PNG, FMT_JPEG };

gnf_status gnf_image_check_size(const char *name, unsigned long w, unsigned long h) {
    if (w <= MAX_SIDE && h <= MAX_SIDE && (unsigned long long)w * h <= MAX_PIXELS) return GNF_OK;
    return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: image is %lux%lu; gnf handles at most %u per side and 2^28 pixels",
                    name, w, h, MAX_SIDE);
}

static int sniff(const unsigned char *b, size_t n) {
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && memcmp(b, png_sig, 8) == 0) return FMT_PNG;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return FMT_JPEG;
    return FMT_NONE;
}

/* ---- PNG reading ---------------------------------------------------------------------- */

typedef struct {
    const char *path;
    const unsigned char *data;
    size_t size, pos;
    int truncated;     /* the error came from running out of data */
    char msg[256];     /* libpng's message */
    png_structp png;
    png_infop info;
    unsigned char *raw; /* decoded 8/16-bit rows */
    png_bytep *rows;
    gnf_image img;
    int alpha;
    int on_white;      /* composite colour over white using alpha (gnf_image_load_on_white) */
} png_job;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (bad ancillary chunks, sRGB profile nags) are not worth printing from a library. */
static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* What one libpng allocation may take: a chunk lies within the file, and every other buffer
 * libpng makes (rows, zlib state, decompressed ancillary chunks) fits in PNG_CHUNK_MIN. */
static size_t png_alloc_cap(const png_job *j) { return j->size > PNG_CHUNK_MIN ? j->size : PNG_CHUNK_MIN; }

static png_voidp png_cap_malloc(png_structp png, png_alloc_size_t n) {
    const png_job *j = png_get_mem_ptr(png);
    return n <= png_alloc_cap(j) ? malloc(n) : NULL;
}

static void png_cap_free(png_structp png, png_voidp p) {
    (void)png;
    free(p);
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n) {
    png_job *j = png_get_io_ptr(png);
    if (n > j->size - j->pos) {
        j->truncated = 1;
        png_error(png, "unexpected end of file");
    }
    memcpy(dst, j->data + j->pos, n);
    j->pos += n;
}

/* Sample i of a decoded row as a float in [0,1]. */
static float png_sample(const unsigned char *r, size_t i, int bd) {
    return bd == 16 ? (float)((r[2 * i] << 8) | r[2 * i + 1]) / 65535.0f : (float)r[i] / 255.0f;
}

static gnf_status png_decode(png_job *j) {
    if (setjmp(png_jmpbuf(j->png)))
        return gnf_fail(GNF_ERR_FORMAT,
                        j->truncated ? "%s: truncated PNG data (libpng: %s)"
                                     : "%s: corrupt PNG data (libpng: %s)",
                        j->path, j->msg);
    png_set_read_fn(j->png, j, png_read_mem);
    /* Let libpng accept any legal size so that our own limit decides (and says so). */
    png_set_user_limits(j->png, 0x7fffffffu, 0x7fffffffu);
    /* libpng allocates a chunk's buffer from its length field before reading it, and its own
     * length check is only a warning for ancillary chunks: a lying length would allocate
     * gigabytes.  png_cap_malloc refuses what exceeds the cap (libpng then skips the chunk and
     * runs into the end of the data); this also bounds decompressed iCCP, zTXt, iTXt. */
    png_set_chunk_malloc_max(j->png, png_alloc_cap(j));
    png_read_info(j->png, j->info);
    png_uint_32 w, h;
    int depth, ctype;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
    if (gnf_image_check_size(j->path, w, h) != GNF_OK) return GNF_ERR_UNSUPPORTED;
    /* deflate expands at most ~1032:1: the filtered rows need at least 1/1032 of their bytes */
    unsigned long long bits = (unsigned long long)w * (unsigned)depth * png_get_channels(j->png, j->info);
    if (((bits + 7) / 8 + 1) * h / 1032 > j->size)
        return gnf_fail(GNF_ERR_FORMAT, "%s: truncated PNG data (a %ux%u image in %zu bytes)", j->path, w, h,
                        j->size);
    int trns = png_get_valid(j->png, j->info, PNG_INFO_tRNS) != 0;
    j->alpha = (ctype & PNG_COLOR_MASK_ALPHA) || trns;
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(j->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(j->png);
    if (trns) png_set_tRNS_to_alpha(j->png);
    png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);

    int ch = png_get_channels(j->png, j->info);
    int bd = png_get_bit_depth(j->png, j->info);
    size_t rowbytes = png_get_rowbytes(j->png, j->info);
    j->raw = malloc(rowbytes * h); /* <= 262144 * 32768: no overflow */
    j->rows = malloc(h * sizeof *j->rows);
    if (!j->raw || !j->rows)
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for a %ux%u image", j->path, w, h);
    for (png_uint_32 y = 0; y < h; y++) j->rows[y] = j->raw + y * rowbytes;
    png_read_image(j->png, j->rows);
    png_read_end(j->png, NULL); /* checks the rest of the file, so a cut-off IEND is an error */

    int oc = ch >= 3 ? 3 : 1; /* gray(+alpha) -> 1, RGB(A) -> 3 */
    /* Alpha, when there is one, is the last sample of a pixel (GA or RGBA after the transforms). */
    int blend = j->on_white && (ch == 2 || ch == 4);
    if (gnf_image_alloc(&j->img, (int)w, (int)h, oc) != GNF_OK)
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for a %ux%u image", j->path, w, h);
    for (png_uint_32 y = 0; y < h; y++) {
        const unsigned char *r = j->rows[y];
        float *o = j->img.px + (size_t)y * w * oc;
        for (png_uint_32 x = 0; x < w; x++) {
            float a = blend ? png_sample(r, (size_t)x * ch + (size_t)(ch - 1), bd) : 1.0f;
            for (int k = 0; k < oc; k++) {
                float v = png_sample(r, (size_t)x * ch + k, bd);
                o[x * oc + k] = blend ? v * a + (1.0f - a) : v;
            }
        }
    }
    return GNF_OK;
}

static gnf_status load_png(const char *path, const unsigned char *data, size_t size,
                           int on_white, gnf_image *out, int *alpha) {
    png_job j;
    memset(&j, 0, sizeof j);
    j.path = path;
    j.on_white = on_white;
    j.data = data;
    j.size = size;
    j.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &j, png_on_error, png_on_warning, &j, png_cap_malloc,
                                     png_cap_free);
    if (j.png) j.info = png_create_info_struct(j.png);
    gnf_status s = j.info ? png_decode(&j)
                          : gnf_fail(GNF_ERR_NOMEM, "%s: out of memory starting libpng", path);
    png_destroy_read_struct(&j.png, &j.info, NULL);
    free(j.raw);
    free(j.rows);
    if (s != GNF_OK) {
        gnf_image_free(&j.img);
        return s;
    }
    *out = j.img;
    *alpha = j.alpha;
    return GNF_OK;
}

/* ---- JPEG reading --------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

typedef struct {
    const char *path;
    const unsigned char *data;
    size_t size;
    struct jpeg_decompress_struct ci;
    jpeg_err err;
    gnf_image img;
} jpeg_job;

static void jpeg_on_error(j_common_ptr ci) {
    jpeg_err *e = (jpeg_err *)ci->err;
    ci->err->format_message(ci, e->msg);
    longjmp(e->jb, 1);
}

/* libjpeg "warnings" include running out of data (it then pads with grey) and corrupt entropy
 * data: those must fail the load.  Only a few harmless oddities are let through. */
static void jpeg_on_message(j_common_ptr ci, int level) {
    if (level >= 0) return; /* trace output */
    switch (ci->err->msg_code) {
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_ADOBE_XFORM:
    case JWRN_JFIF_MAJOR:
    case JWRN_BOGUS_ICC:
    case JWRN_BOGUS_PROGRESSION:
        ci->err->num_warnings++;
        return;
    default:
        ci->err->error_exit(ci);
    }
}

static void jpeg_silent(j_common_ptr ci) { (void)ci; }

static gnf_status jpeg_decode(jpeg_job *j) {
    j->ci.err = jpeg_std_error(&j->err.pub);
    j->err.pub.error_exit = jpeg_on_error;
    j->err.pub.emit_message = jpeg_on_message;
    j->err.pub.output_message = jpeg_silent;
    if (setjmp(j->err.jb)) {
        int code = j->err.pub.msg_code;
        gnf_status s = GNF_ERR_FORMAT;
        const char *what = "corrupt";
        if (code == JERR_OUT_OF_MEMORY) s = GNF_ERR_NOMEM, what = "out of memory decoding";
        else if (code == JWRN_JPEG_EOF || code == JERR_INPUT_EOF) what = "truncated";
        else if (code == JERR_BAD_PRECISION || code == JERR_CONVERSION_NOTIMPL ||
                 code == JERR_NOT_COMPILED || code == JERR_SOF_UNSUPPORTED)
            s = GNF_ERR_UNSUPPORTED, what = "unsupported";
        return gnf_fail(s, "%s: %s JPEG data (libjpeg: %s)", j->path, what, j->err.msg);
    }
    jpeg_create_decompress(&j->ci);
    jpeg_mem_src(&j->ci, j->data, (unsigned long)j->size);
    jpeg_read_header(&j->ci, TRUE);
    if (j->ci.jpeg_color_space == JCS_CMYK || j->ci.jpeg_color_space == JCS_YCCK)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: CMYK JPEG is not supported", j->path);
    if (gnf_image_check_size(j->path, j->ci.image_width, j->ci.image_height) != GNF_OK) return GNF_ERR_UNSUPPORTED;
    /* Huffman coding spends at least one bit per 8x8 block of the full-resolution component (its
     * DC code), so real files have at most 512 pixels per byte; beyond JPEG_PX_PER_BYTE the
     * header lies.  Arithmetic coding can go below a bit per block, but libjpeg also decodes a
     * cut-off arithmetic scan without a word, inventing the rest from zeros: a 509-byte file
     * "decoded" to 1296x24065 pixels.  It gets the same bound. */
    if ((unsigned long long)j->ci.image_width * j->ci.image_height / JPEG_PX_PER_BYTE > j->size)
        return gnf_fail(GNF_ERR_FORMAT, "%s: truncated JPEG data (a %ux%u image in %zu bytes; at least one byte "
                        "per %d pixels expected)", j->path, j->ci.image_width, j->ci.image_height, j->size,
                        JPEG_PX_PER_BYTE);
    j->ci.out_color_space = j->ci.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&j->ci);

    int w = (int)j->ci.output_width, h = (int)j->ci.output_height, c = j->ci.output_components;
    if (c != 1 && c != 3)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: JPEG with %d channels is not supported",
                        j->path, c);
    if (gnf_image_alloc(&j->img, w, h, c) != GNF_OK)
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for a %dx%d image", j->path, w, h);
    /* Pool memory: released by jpeg_destroy_decompress, also after a longjmp. */
    JSAMPARRAY row = j->ci.mem->alloc_sarray((j_common_ptr)&j->ci, JPOOL_IMAGE,
                                             (JDIMENSION)w * (JDIMENSION)c, 1);
    while (j->ci.output_scanline < j->ci.output_height) {
        float *o = j->img.px + (size_t)j->ci.output_scanline * w * c;
        jpeg_read_scanlines(&j->ci, row, 1);
        for (int i = 0; i < w * c; i++) o[i] = (float)row[0][i] / 255.0f;
    }
    jpeg_finish_decompress(&j->ci); /* reads to EOI: a missing tail is an error too */
    return GNF_OK;
}

static gnf_status load_jpeg(const char *path, const unsigned char *data, size_t size,
                            gnf_image *out) {
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory starting libjpeg", path);
    j->path = path;
    j->data = data;
    j->size = size;
    gnf_status s = jpeg_decode(j);
    jpeg_destroy_decompress(&j->ci); /* safe at any stage: the struct starts zeroed */
    if (s == GNF_OK) *out = j->img;
    else gnf_image_free(&j->img);
    free(j);
    return s;
}

/* ---- public --------------------------------------------------------------------------- */

/* Replaces a 1-channel image by its 3-channel copy (gray replicated).  On failure *img is
 * freed and zeroed. */
static gnf_status gray_to_rgb(const char *path, gnf_image *img) {
    gnf_image rgb;
    if (gnf_image_alloc(&rgb, img->w, img->h, 3) != GNF_OK) {
        gnf_status s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for a %dx%d image", path,
                                img->w, img->h);
        gnf_image_free(img);
        return s;
    }
    size_t n = (size_t)img->w * img->h;
    for (size_t i = 0; i < n; i++)
        rgb.px[3 * i] = rgb.px[3 * i + 1] = rgb.px[3 * i + 2] = img->px[i];
    gnf_image_free(img);
    *img = rgb;
    return GNF_OK;
}

/* The decoder behind the loaders: on_white = 0 colour as stored, alpha dropped; on_white = 1
 * composited over white, always 3 channels (gnf_image_load_on_white). */
static gnf_status decode(const unsigned char *data, size_t size, const char *name, int on_white, gnf_image *out,
                         int *had_alpha) {
    assert(name && out && (data || !size));
    memset(out, 0, sizeof *out);
    if (had_alpha) *had_alpha = 0;
    int fmt = sniff(data, size), alpha = 0;
    if (fmt == FMT_NONE)
        return gnf_fail(GNF_ERR_FORMAT, size ? "%s: not a PNG or JPEG image" : "%s: empty file, not an image", name);
    gnf_status s = fmt == FMT_PNG ? load_png(name, data, size, on_white, out, &alpha) : load_jpeg(name, data, size, out);
    if (s == GNF_OK && on_white && out->c == 1) s = gray_to_rgb(name, out);
    if (s == GNF_OK && had_alpha) *had_alpha = alpha;
    return s;
}

static gnf_status load_file(const char *path, int on_white, gnf_image *out, int *had_alpha) {
    memset(out, 0, sizeof *out);
    if (had_alpha) *had_alpha = 0;
    unsigned char *data;
    size_t size;
    gnf_status s = gnf_read_file(path, IMAGE_FILE_MAX, &data, &size);
    if (s != GNF_OK) return s;
    s = decode(data, size, path, on_white, out, had_alpha);
    free(data);
    return s;
}

gnf_status gnf_image_load(const char *path, gnf_image *out, int *had_alpha) {
    return load_file(path, 0, out, had_alpha);
}

gnf_status gnf_image_load_from_memory(const void *data, size_t size, const char *name, gnf_image *out,
                                      int *had_alpha) {
    return decode(data, size, name, 0, out, had_alpha);
}

/* Like gnf_image_load, but RGB composited over white (see io/scene.h). */
gnf_status gnf_image_load_on_white(const char *path, gnf_image *out, int *had_alpha) {
    return load_file(path, 1, out, had_alpha);
}

/* Like gnf_image_load_from_memory, but RGB composited over white (see io/scene.h). */
gnf_status gnf_image_load_on_white_from_memory(const void *data, size_t size, const char *name, gnf_image *out,
                                               int *had_alpha) {
    return decode(data, size, name, 1, out, had_alpha);
}

typedef struct {
    const char *path;
    FILE *f;
    png_structp png;
    png_infop info;
    unsigned char *row;
    char msg[256];
} png_writer;

static void png_on_write_error(png_structp png, png_const_charp msg) {
    png_writer *wr = png_get_error_ptr(png);
    snprintf(wr->msg, sizeof wr->msg, "%s", msg);
    png_longjmp(png, 1);
}

static gnf_status png_encode(png_writer *wr, const gnf_image *img) {
    if (setjmp(png_jmpbuf(wr->png)))
        return gnf_fail(GNF_ERR_IO, "%s: cannot write PNG (libpng: %s)", wr->path, wr->msg);
    png_init_io(wr->png, wr->f);
    png_set_user_limits(wr->png, 0x7fffffffu, 0x7fffffffu);
    png_set_IHDR(wr->png, wr->info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 img->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(wr->png, wr->info);
    size_t n = (size_t)img->w * img->c;
    for (int y = 0; y < img->h; y++) {
        const float *p = img->px + (size_t)y * n;
        for (size_t i = 0; i < n; i++) {
            float v = p[i];
            if (!(v > 0.0f)) v = 0.0f; /* also maps NaN to 0 */
            else if (v > 1.0f) v = 1.0f;
            wr->row[i] = (unsigned char)(v * 255.0f + 0.5f);
        }
        png_write_row(wr->png, wr->row);
    }
    png_write_end(wr->png, NULL);
    return GNF_OK;
}

/* Writes img as an 8-bit gray (c = 1) or RGB (c = 3) PNG.  The data go to "<path>.tmpXXXXXX"
 * in the same folder, which is renamed over path only when fully written: path is either the
 * old file or the complete new one.  GNF_ERR_INVALID for a malformed image, GNF_ERR_IO else. */
gnf_status gnf_image_save_png(const char *path, const gnf_image *img) {
    assert(path && img);
    if (!img->px || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3))
        return gnf_fail(GNF_ERR_INVALID, "%s: cannot save a %dx%dx%d image as PNG", path,
                        img->w, img->h, img->c);
    gnf_atomic_file af;
    gnf_status s = gnf_atomic_open(&af, path);
    if (s != GNF_OK) return s;
    png_writer wr;
    memset(&wr, 0, sizeof wr);
    wr.path = path;
    wr.f = af.f;
    wr.row = malloc((size_t)img->w * img->c);
    wr.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &wr, png_on_write_error,
                                     png_on_warning);
    if (wr.png) wr.info = png_create_info_struct(wr.png);
    s = wr.row && wr.info ? png_encode(&wr, img)
                          : gnf_fail(GNF_ERR_NOMEM, "%s: out of memory writing PNG", path);
    png_destroy_write_struct(&wr.png, &wr.info);
    free(wr.row);
    return gnf_atomic_commit(&af, s);
}

/* Allocates zeroed pixels for a w×h×c image (w, h >= 1, c = 1 or 3) into *img.  On failure
 * *img is zeroed: GNF_ERR_INVALID for bad sizes, GNF_ERR_NOMEM if allocation fails. */
gnf_status gnf_image_alloc(gnf_image *img, int w, int h, int c) {
    assert(img);
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || (c != 1 && c != 3))
        return gnf_fail(GNF_ERR_INVALID, "invalid image size %dx%dx%d", w, h, c);
    float *px = gnf_calloc((size_t)w * (size_t)h * (size_t)c, sizeof(float));
    if (!px) return gnf_fail(GNF_ERR_NOMEM, "out of memory for a %dx%dx%d image", w, h, c);
    img->w = w;
    img->h = h;
    img->c = c;
    img->px = px;
    return GNF_OK;
}

/* Frees img's pixels and zeroes *img; a zeroed image (or NULL) is a no-op. */
void gnf_image_free(gnf_image *img) {
    if (!img) return;
    gnf_free(img->px);
    memset(img, 0, sizeof *img);
}
