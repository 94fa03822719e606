/* scene.c — the Blender-synthetic / Instant-NGP transforms.json reader (see scene.h).
 *
 * Three passes: the JSON is read and checked whole on the calling thread (every frame's
 * matrix, keys and image path, so format errors come out in frame order); then each view's
 * image is probed or decoded, downscaled and its intrinsics resolved, in parallel; a failing
 * view records its message (messages are thread-local) and the lowest failing index is
 * reported, so neither the result nor the error depends on the thread count. */
#include "io/scene.h"
#include "io/text.h"
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define JSON_MAX ((size_t)256 << 20) /* bytes of transforms JSON we read */

/* ---- small helpers -------------------------------------------------------------------- */

/* a + "/" + b (no slash when a is empty; a's trailing slashes dropped), malloc'd. */
static char *join_path(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/') la--;
    int slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + (size_t)slash + lb + 1);
    if (!p) return NULL;
    memcpy(p, a, la);
    if (slash) p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

static int is_regular(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Whether the last component of p has an extension ("x.png"; not ".hidden" nor "x."). */
static int has_extension(const char *p) {
    const char *base = strrchr(p, '/');
    base = base ? base + 1 : p;
    const char *dot = strrchr(base, '.');
    return dot && dot != base && dot[1] != 0;
}

/* ---- reading and parsing the JSON ----------------------------------------------------- */

/* The intrinsic keys a frame or the top level may give. */
enum { K_FLX, K_ANGX, K_FLY, K_ANGY, K_CX, K_CY, K_W, K_H, K_K1, K_K2, K_K3, K_P1, K_P2, K_K4, K_COUNT };
static const char *const k_names[K_COUNT] = {"fl_x", "camera_angle_x", "fl_y", "camera_angle_y", "cx", "cy", "w",
                                             "h",    "k1",             "k2",   "k3",             "p1", "p2", "k4"};
#define K_DIST0 K_K1 /* k1 k2 k3 p1 p2: the 5 distortion keys in gnf_view.dist order */

typedef struct {
    int has[K_COUNT];
    double v[K_COUNT];
} cam_keys;

/* "frame N: " or "" for messages. */
static const char *where(char *buf, size_t n, int frame) {
    if (frame < 0) buf[0] = 0;
    else snprintf(buf, n, "frame %d: ", frame);
    return buf;
}

/* Reads and range-checks the intrinsic keys of obj (frame < 0: the top level). */
static gnf_status read_cam_keys(const char *json, int frame, const cJSON *obj, cam_keys *k) {
    char wb[32];
    memset(k, 0, sizeof *k);
    for (int i = 0; i < K_COUNT; i++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, k_names[i]);
        if (!e) continue;
        if (!cJSON_IsNumber(e))
            return gnf_fail(GNF_ERR_FORMAT, "%s: %s%s is not a number", json, where(wb, sizeof wb, frame),
                            k_names[i]);
        double v = e->valuedouble;
        const char *bad = NULL;
        if (!isfinite(v)) bad = "is not finite";
        else if (fabs(v) > FLT_MAX) bad = "is out of the float range";
        else if ((i == K_FLX || i == K_FLY) && !(v > 0)) bad = "is not positive";
        else if ((i == K_ANGX || i == K_ANGY) && !(v > 0 && v < M_PI)) bad = "is not an angle in (0, pi) radians";
        else if ((i == K_W || i == K_H) && !(v >= 1 && v <= 32768 && v == floor(v)))
            bad = "is not a whole number of pixels in [1, 32768]";
        if (bad) return gnf_fail(GNF_ERR_FORMAT, "%s: %s%s %s", json, where(wb, sizeof wb, frame), k_names[i], bad);
        if (i == K_K4 && v != 0)
            return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: %sk4 = %g: fisheye / rational distortion is not supported (only "
                            "OpenCV's k1 k2 k3 p1 p2)", json, where(wb, sizeof wb, frame), v);
        k->has[i] = 1;
        k->v[i] = v;
    }
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(obj, "camera_model");
    if (cm && !cJSON_IsString(cm))
        return gnf_fail(GNF_ERR_FORMAT, "%s: %scamera_model is not a string", json, where(wb, sizeof wb, frame));
    if (cm && strcmp(cm->valuestring, "OPENCV") != 0 && strcmp(cm->valuestring, "PINHOLE") != 0 &&
        strcmp(cm->valuestring, "SIMPLE_PINHOLE") != 0)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: %scamera_model \"%s\" is not supported (OPENCV, PINHOLE or "
                        "SIMPLE_PINHOLE)", json, where(wb, sizeof wb, frame), cm->valuestring);
    const cJSON *fe = cJSON_GetObjectItemCaseSensitive(obj, "is_fisheye");
    if (fe && !cJSON_IsFalse(fe))
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: %sis_fisheye: fisheye cameras are not supported", json,
                        where(wb, sizeof wb, frame));
    return GNF_OK;
}

/* Where a focal length comes from: none, pixels, or an angle of view (radians). */
enum { F_NONE, F_PIXELS, F_ANGLE };

/* One frame's camera as read from the JSON, before the image size is known. */
typedef struct {
    int fx_kind, fy_kind;
    double fx, fy;
    int has_cx, has_cy, want_w, want_h; /* want_*: 0 or the size the JSON demands */
    double cx, cy;
    double dist[5];                     /* k1 k2 k3 p1 p2 */
    int no_picture;                     /* cameras-only: the picture does not exist */
} frame_cam;

/* The first given of frame fl, frame angle, top fl, top angle (keys fl, ang). */
static void pick_focal(const cam_keys *fr, const cam_keys *top, int fl, int ang, int *kind, double *v) {
    const cam_keys *lv[2] = {fr, top};
    *kind = F_NONE;
    *v = 0;
    for (int l = 0; l < 2 && *kind == F_NONE; l++) {
        if (lv[l]->has[fl]) *kind = F_PIXELS, *v = lv[l]->v[fl];
        else if (lv[l]->has[ang]) *kind = F_ANGLE, *v = lv[l]->v[ang];
    }
}

static gnf_status merge_cam(const char *json, int frame, const cam_keys *fr, const cam_keys *top, frame_cam *c) {
    memset(c, 0, sizeof *c);
    pick_focal(fr, top, K_FLX, K_ANGX, &c->fx_kind, &c->fx);
    if (c->fx_kind == F_NONE)
        return gnf_fail(GNF_ERR_FORMAT,
                        "%s: frame %d: no focal length (camera_angle_x or fl_x, in the frame or at the top level)",
                        json, frame);
    pick_focal(fr, top, K_FLY, K_ANGY, &c->fy_kind, &c->fy);
    const cam_keys *src;
    src = fr->has[K_CX] ? fr : top;
    c->has_cx = src->has[K_CX], c->cx = src->v[K_CX];
    src = fr->has[K_CY] ? fr : top;
    c->has_cy = src->has[K_CY], c->cy = src->v[K_CY];
    src = fr->has[K_W] ? fr : top;
    c->want_w = src->has[K_W] ? (int)src->v[K_W] : 0;
    src = fr->has[K_H] ? fr : top;
    c->want_h = src->has[K_H] ? (int)src->v[K_H] : 0;
    for (int k = 0; k < 5; k++) {
        src = fr->has[K_DIST0 + k] ? fr : top;
        c->dist[k] = src->has[K_DIST0 + k] ? src->v[K_DIST0 + k] : 0.0;
    }
    return GNF_OK;
}

/* transform_matrix: 4 (or 3) rows of 4 finite numbers; rows 0-2 into c2w. */
static gnf_status read_matrix(const char *json, int frame, const cJSON *m, float c2w[12]) {
    if (!m) return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d: no transform_matrix", json, frame);
    int rows = cJSON_IsArray(m) ? cJSON_GetArraySize(m) : -1;
    if (rows != 3 && rows != 4)
        return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d: transform_matrix is not an array of 4 rows of 4 numbers",
                        json, frame);
    int r = 0;
    for (const cJSON *row = m->child; row; row = row->next, r++) {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != 4)
            return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d: transform_matrix row %d is not an array of 4 numbers",
                            json, frame, r);
        int k = 0;
        for (const cJSON *e = row->child; e; e = e->next, k++) {
            if (!cJSON_IsNumber(e))
                return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d: transform_matrix[%d][%d] is not a number", json,
                                frame, r, k);
            if (!isfinite(e->valuedouble))
                return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d: transform_matrix[%d][%d] is not finite", json,
                                frame, r, k);
            if (fabs(e->valuedouble) > FLT_MAX) /* would be an infinite float */
                return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d: transform_matrix[%d][%d] = %g is out of the float range",
                                json, frame, r, k, e->valuedouble);
            if (r < 3) c2w[r * 4 + k] = (float)e->valuedouble;
        }
    }
    return GNF_OK;
}

/* The image file of file_path (see scene.h for the rules) into *out (malloc'd). */
static gnf_status resolve_image(const char *json, int frame, const char *dir, const char *file_path, char **out) {
    *out = NULL;
    const char *rel = file_path;
    if (rel[0] != '/')
        while (rel[0] == '.' && rel[1] == '/') rel += 2;
    char *base = rel[0] == '/' ? gnf_strdup(rel) : join_path(dir, rel);
    if (!base) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", json);
    if (has_extension(base) && is_regular(base)) {
        *out = base;
        return GNF_OK;
    }
    static const char *const exts[] = {".png", ".jpg", ".jpeg"};
    size_t lb = strlen(base);
    for (int i = 0; i < 3; i++) {
        char *p = malloc(lb + strlen(exts[i]) + 1);
        if (!p) {
            free(base);
            return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", json);
        }
        memcpy(p, base, lb);
        strcpy(p + lb, exts[i]);
        if (is_regular(p)) {
            free(base);
            *out = p;
            return GNF_OK;
        }
        free(p);
    }
    if (is_regular(base)) {
        *out = base;
        return GNF_OK;
    }
    gnf_status s = gnf_fail(GNF_ERR_IO, "%s: frame %d: image \"%s\" not found (tried %s, and with .png, .jpg, .jpeg)",
                            json, frame, file_path, base);
    free(base);
    return s;
}

/* ---- image headers (load_images = 0) -------------------------------------------------- */

static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static unsigned long be32(const unsigned char *p) {
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

/* JPEG: walks the marker segments from just after SOI to the frame header. */
static gnf_status jpeg_probe(const char *path, FILE *f, unsigned long *w, unsigned long *h) {
    for (;;) {
        int c = fgetc(f);
        if (c != 0xFF) {
            if (c == EOF) return gnf_fail(GNF_ERR_FORMAT, "%s: truncated JPEG data (no frame header)", path);
            return gnf_fail(GNF_ERR_FORMAT, "%s: corrupt JPEG data (bad marker)", path);
        }
        while (c == 0xFF) c = fgetc(f); /* fill bytes */
        if (c == EOF) return gnf_fail(GNF_ERR_FORMAT, "%s: truncated JPEG data (no frame header)", path);
        if (c == 0x01 || (c >= 0xD0 && c <= 0xD8)) continue; /* markers without a length */
        if (c == 0xD9 || c == 0xDA || c == 0x00)
            return gnf_fail(GNF_ERR_FORMAT, "%s: corrupt JPEG data (no frame header)", path);
        unsigned char b[7];
        if (fread(b, 1, 2, f) != 2) return gnf_fail(GNF_ERR_FORMAT, "%s: truncated JPEG data", path);
        unsigned len = be16(b);
        if (len < 2) return gnf_fail(GNF_ERR_FORMAT, "%s: corrupt JPEG data (bad segment length)", path);
        if (c >= 0xC0 && c <= 0xCF && c != 0xC4 && c != 0xC8 && c != 0xCC) { /* SOFn */
            if (len < 8 || fread(b, 1, 5, f) != 5)
                return gnf_fail(GNF_ERR_FORMAT, "%s: truncated or corrupt JPEG frame header", path);
            *h = be16(b + 1);
            *w = be16(b + 3);
            return GNF_OK;
        }
        if (fseek(f, (long)len - 2, SEEK_CUR) != 0)
            return gnf_fail(GNF_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    }
}

/* The size of a PNG or JPEG image from its header alone. */
static gnf_status probe_size(const char *path, int *w, int *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return gnf_fail(GNF_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    unsigned char b[24];
    size_t n = fread(b, 1, sizeof b, f);
    unsigned long W = 0, H = 0;
    gnf_status s = GNF_OK;
    if (ferror(f)) s = gnf_fail(GNF_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    else if (n >= 8 && memcmp(b, png_sig, 8) == 0) {
        if (n < 24 || memcmp(b + 12, "IHDR", 4) != 0)
            s = gnf_fail(GNF_ERR_FORMAT, "%s: truncated or corrupt PNG header", path);
        W = be32(b + 16);
        H = be32(b + 20);
    } else if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
        s = fseek(f, 2, SEEK_SET) == 0 ? jpeg_probe(path, f, &W, &H)
                                       : gnf_fail(GNF_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    } else {
        s = gnf_fail(GNF_ERR_FORMAT, n ? "%s: not a PNG or JPEG image" : "%s: empty file, not an image", path);
    }
    fclose(f);
    if (s != GNF_OK) return s;
    if (W == 0 || H == 0) return gnf_fail(GNF_ERR_FORMAT, "%s: image header gives a %lux%lu image", path, W, H);
    if (gnf_image_check_size(path, W, H) != GNF_OK) return GNF_ERR_UNSUPPORTED;
    *w = (int)W;
    *h = (int)H;
    return GNF_OK;
}

/* ---- per-view work -------------------------------------------------------------------- */

typedef struct {
    gnf_view *views;
    const frame_cam *cams;
    const char *json;
    int downscale, load_images;
    int default_w, default_h; /* cameras-only: the size of a frame without w/h nor picture (0: none) */
    gnf_status *status; /* per view */
    char **msg;         /* per view, malloc'd message of a failure (NULL if out of memory) */
    atomic_long first_fail;
} view_job;

/* Box-averages the W×H RGB image src over N×N blocks into a new gnf_calloc'd buffer. */
static float *box_down(const float *src, int W, int N, int w, int h) {
    float *dst = gnf_calloc((size_t)w * h * 3, sizeof(float));
    if (!dst) return NULL;
    float inv = 1.0f / (float)(N * N);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float acc[3] = {0, 0, 0};
            for (int j = 0; j < N; j++) {
                const float *row = src + ((size_t)(y * N + j) * W + (size_t)x * N) * 3;
                for (int i = 0; i < N; i++)
                    for (int k = 0; k < 3; k++) acc[k] += row[i * 3 + k];
            }
            float *o = dst + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++) o[k] = acc[k] * inv;
        }
    return dst;
}

static gnf_status load_view(view_job *J, long t) {
    gnf_view *v = &J->views[t];
    const frame_cam *c = &J->cams[t];
    int N = J->downscale, W = 0, H = 0;
    gnf_image img = {0};
    gnf_status s = GNF_OK;
    if (J->load_images) {
        s = gnf_image_load_on_white(v->path, &img, NULL);
        W = img.w, H = img.h;
    } else if (c->want_w && c->want_h && (c->no_picture || !is_regular(v->path))) {
        W = c->want_w, H = c->want_h; /* cameras only: the file gives the size */
    } else if (c->no_picture) {
        W = c->want_w ? c->want_w : J->default_w, H = c->want_h ? c->want_h : J->default_h;
    } else {
        s = probe_size(v->path, &W, &H);
    }
    if (s != GNF_OK) return s;
    if ((c->want_w && c->want_w != W) || (c->want_h && c->want_h != H)) {
        char said[48] = "";
        if (c->want_w) snprintf(said, sizeof said, "w=%d", c->want_w);
        if (c->want_h) snprintf(said + strlen(said), sizeof said - strlen(said), "%sh=%d", c->want_w ? " " : "", c->want_h);
        s = gnf_fail(GNF_ERR_FORMAT, "%s: mismatched size: the image is %dx%d but %s frame %ld says %s", v->path, W,
                     H, J->json, t, said);
    } else if (N > W || N > H) {
        s = gnf_fail(GNF_ERR_INVALID, "%s: downscale %d is larger than the %dx%d image", v->path, N, W, H);
    }
    if (s != GNF_OK) {
        gnf_image_free(&img);
        return s;
    }
    v->w = W / N;
    v->h = H / N;
    if (img.px && N == 1) {
        v->rgb = img.px; /* gnf_calloc'd by gnf_image_alloc: ownership passes to the view */
        img.px = NULL;
    } else if (img.px) {
        v->rgb = box_down(img.px, W, N, v->w, v->h);
        gnf_image_free(&img);
        if (!v->rgb) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory downscaling the image", v->path);
    }
    double fx = c->fx_kind == F_PIXELS ? c->fx : 0.5 * W / tan(0.5 * c->fx);
    double fy = c->fy_kind == F_PIXELS ? c->fy : c->fy_kind == F_ANGLE ? 0.5 * H / tan(0.5 * c->fy) : fx;
    double cx = c->has_cx ? c->cx : 0.5 * W, cy = c->has_cy ? c->cy : 0.5 * H;
    /* Checked at native resolution, so the verdict is the same at every downscale: focal lengths
     * GNF_SCENE_FOCAL_MIN..GNF_SCENE_FOCAL_MAX pixels, the principal point within
     * GNF_SCENE_FOCAL_MAX pixels of the corner (a near-zero or near-pi angle of view gives an
     * unusable focal length; a denormal one would round to 0 once divided by the downscale). */
    if (!(fx >= GNF_SCENE_FOCAL_MIN && fx <= GNF_SCENE_FOCAL_MAX && fy >= GNF_SCENE_FOCAL_MIN &&
          fy <= GNF_SCENE_FOCAL_MAX && fabs(cx) <= GNF_SCENE_FOCAL_MAX && fabs(cy) <= GNF_SCENE_FOCAL_MAX)) {
        return gnf_fail(GNF_ERR_FORMAT, /* v->rgb goes with the scene */
                        "%s: frame %ld: intrinsics out of range (fx %g, fy %g, cx %g, cy %g pixels at native size; "
                        "focal lengths must be %g..%g pixels, the principal point within %g)",
                        J->json, t, fx, fy, cx, cy, GNF_SCENE_FOCAL_MIN, GNF_SCENE_FOCAL_MAX, GNF_SCENE_FOCAL_MAX);
    }
    v->fx = (float)(fx / N);
    v->fy = (float)(fy / N);
    v->cx = (float)(cx / N);
    v->cy = (float)(cy / N);
    for (int k = 0; k < 5; k++) {
        v->dist[k] = c->dist[k];
        v->distorted |= c->dist[k] != 0;
    }
    return GNF_OK;
}

static void view_task(void *ctx, long t, int thread) {
    (void)thread;
    view_job *J = ctx;
    if (t > atomic_load(&J->first_fail)) return; /* an earlier view failed: that one is reported */
    gnf_status s = load_view(J, t);
    J->status[t] = s;
    if (s == GNF_OK) return;
    J->msg[t] = gnf_strdup(gnf_last_error());
    long cur = atomic_load(&J->first_fail);
    while (t < cur && !atomic_compare_exchange_weak(&J->first_fail, &cur, t)) {
    }
}

/* ---- public --------------------------------------------------------------------------- */

/* How a transforms file is read: which frames (holdout), images or headers, fallback size. */
typedef struct {
    int holdout;              /* 0: every frame; 1: all but every GNF_SCENE_HOLDOUT-th; 2: only those */
    int load_images;          /* decode the pictures (else headers only) */
    int cameras_only;         /* a frame may lack its picture when its size is known otherwise */
    int default_w, default_h; /* cameras_only: the size of a frame without w/h nor picture */
} load_opts;

static int frame_kept(int holdout, int i) {
    int held = i % GNF_SCENE_HOLDOUT == 0;
    return holdout == 0 || (holdout == 1 && !held) || (holdout == 2 && held);
}

/* A number of obj's key as a double (present: 1, absent: 0, bad: the error). */
static gnf_status box_number(const char *json, const cJSON *e, const char *key, double *v) {
    if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || fabs(e->valuedouble) > FLT_MAX)
        return gnf_fail(GNF_ERR_FORMAT, "%s: %s is not a finite number", json, key);
    *v = e->valuedouble;
    return GNF_OK;
}

/* The scene box from the top-level aabb_scale, scale, offset, aabb (see scene.h). */
static gnf_status read_box(const char *json, const cJSON *root, gnf_scene *sc) {
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(root, "aabb_scale");
    const cJSON *sl = cJSON_GetObjectItemCaseSensitive(root, "scale");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(root, "offset");
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(root, "aabb");
    sc->box = 1.5f;
    if (!as && !sl && !of && !ab) return GNF_OK;
    double aabb_scale = 1, scale = 0.33, offset[3] = {0.5, 0.5, 0.5};
    gnf_status s = GNF_OK;
    if (as && (s = box_number(json, as, "aabb_scale", &aabb_scale)) != GNF_OK) return s;
    if (as && !(aabb_scale > 0)) return gnf_fail(GNF_ERR_FORMAT, "%s: aabb_scale %g is not positive", json, aabb_scale);
    if (sl && (s = box_number(json, sl, "scale", &scale)) != GNF_OK) return s;
    if (sl && !(scale > 0)) return gnf_fail(GNF_ERR_FORMAT, "%s: scale %g is not positive", json, scale);
    if (of && cJSON_IsArray(of)) {
        if (cJSON_GetArraySize(of) != 3) return gnf_fail(GNF_ERR_FORMAT, "%s: offset is not 3 numbers", json);
        for (int k = 0; k < 3; k++)
            if ((s = box_number(json, cJSON_GetArrayItem(of, k), "offset", &offset[k])) != GNF_OK) return s;
    } else if (of) {
        if ((s = box_number(json, of, "offset", &offset[0])) != GNF_OK) return s;
        offset[1] = offset[2] = offset[0];
    }
    if (ab) { /* instant-ngp: scale 1/longest side, that box's centre at 0.5 */
        double lo[3], hi[3], len = 0;
        if (!cJSON_IsArray(ab) || cJSON_GetArraySize(ab) != 2)
            return gnf_fail(GNF_ERR_FORMAT, "%s: aabb is not [[x0,y0,z0],[x1,y1,z1]]", json);
        for (int r = 0; r < 2; r++) {
            const cJSON *row = cJSON_GetArrayItem(ab, r);
            if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != 3)
                return gnf_fail(GNF_ERR_FORMAT, "%s: aabb is not [[x0,y0,z0],[x1,y1,z1]]", json);
            for (int k = 0; k < 3; k++)
                if ((s = box_number(json, cJSON_GetArrayItem(row, k), "aabb", r ? &hi[k] : &lo[k])) != GNF_OK) return s;
        }
        for (int k = 0; k < 3; k++) len = fmax(len, fabs(hi[k] - lo[k]));
        if (!(len > 0)) return gnf_fail(GNF_ERR_FORMAT, "%s: aabb is empty", json);
        scale = 1.0 / len;
        for (int k = 0; k < 3; k++) offset[k] = 0.5 - 0.5 * (lo[k] + hi[k]) * scale;
    }
    double half = aabb_scale / (2.0 * scale), c[3];
    for (int k = 0; k < 3; k++) c[k] = (0.5 - offset[k]) / scale;
    if (!(half < FLT_MAX && (float)half > 0) || !(fabs(c[0]) < FLT_MAX && fabs(c[1]) < FLT_MAX && fabs(c[2]) < FLT_MAX))
        return gnf_fail(GNF_ERR_FORMAT, "%s: the scene box (half-size %g, centre %g %g %g) is out of the float range",
                        json, half, c[0], c[1], c[2]);
    sc->has_box = 1;
    sc->box = (float)half;
    for (int k = 0; k < 3; k++) sc->center[k] = (float)c[k];
    return GNF_OK;
}

/* Checks every frame of root and fills views (c2w, path) and cams. */
static gnf_status parse_frames(const char *json, const cJSON *root, const char *dir, const load_opts *lo,
                               gnf_scene *sc, frame_cam **cams) {
    *cams = NULL;
    cam_keys top, fk;
    gnf_status s = read_cam_keys(json, -1, root, &top);
    if (s == GNF_OK) s = read_box(json, root, sc);
    if (s != GNF_OK) return s;
    const cJSON *frames = cJSON_GetObjectItemCaseSensitive(root, "frames");
    if (!frames) return gnf_fail(GNF_ERR_FORMAT, "%s: no \"frames\" array", json);
    if (!cJSON_IsArray(frames)) return gnf_fail(GNF_ERR_FORMAT, "%s: \"frames\" is not an array", json);
    int nall = cJSON_GetArraySize(frames), n = 0;
    if (nall <= 0) return gnf_fail(GNF_ERR_FORMAT, "%s: \"frames\" is empty", json);
    for (int i = 0; i < nall; i++) n += frame_kept(lo->holdout, i);
    if (n <= 0)
        return gnf_fail(GNF_ERR_FORMAT, "%s: %d frame(s), none left for training after holding out every %dth", json,
                        nall, GNF_SCENE_HOLDOUT);
    sc->views = calloc((size_t)n, sizeof *sc->views);
    *cams = calloc((size_t)n, sizeof **cams);
    if (!sc->views || !*cams) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %d views", json, n);
    sc->n = n;
    int i = 0, j = 0;
    for (const cJSON *fr = frames->child; fr; fr = fr->next, i++) {
        if (!frame_kept(lo->holdout, i)) continue;
        if (!cJSON_IsObject(fr)) return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d is not an object", json, i);
        const cJSON *fp = cJSON_GetObjectItemCaseSensitive(fr, "file_path");
        if (!fp) return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d: no file_path", json, i);
        if (!cJSON_IsString(fp) || !fp->valuestring || !fp->valuestring[0])
            return gnf_fail(GNF_ERR_FORMAT, "%s: frame %d: file_path is not a non-empty string", json, i);
        gnf_view *v = &sc->views[j];
        frame_cam *c = &(*cams)[j];
        j++;
        s = read_matrix(json, i, cJSON_GetObjectItemCaseSensitive(fr, "transform_matrix"), v->c2w);
        if (s == GNF_OK) s = read_cam_keys(json, i, fr, &fk);
        if (s == GNF_OK) s = merge_cam(json, i, &fk, &top, c);
        if (s != GNF_OK) return s;
        for (int k = 0; k < 3; k++) v->c2w[4 * k + 3] -= sc->center[k];
        s = resolve_image(json, i, dir, fp->valuestring, &v->path);
        if (s == GNF_ERR_IO && lo->cameras_only &&
            ((c->want_w && c->want_h) || (lo->default_w > 0 && lo->default_h > 0))) {
            c->no_picture = 1; /* the size comes from w/h or the caller */
            if (!(v->path = gnf_strdup(fp->valuestring))) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", json);
            s = GNF_OK;
        } else if (s == GNF_ERR_IO && lo->cameras_only) {
            char *msg = gnf_strdup(gnf_last_error());
            gnf_fail(s, "%s; without the picture the frame needs w and h (in the file) to give its size",
                     msg ? msg : "picture not found");
            free(msg);
        }
        if (s != GNF_OK) return s;
    }
    return GNF_OK;
}

/* The transforms file for path and split (see scene.h), malloc'd into *json; *holdout says
 * which frames of it belong to the split. */
static gnf_status find_json(const char *path, const char *split, char **json, int *holdout) {
    struct stat st;
    *holdout = 0;
    if (stat(path, &st) != 0) return gnf_fail(GNF_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        *json = gnf_strdup(path);
    } else {
        if (!split)
            return gnf_fail(GNF_ERR_INVALID, "%s: a folder needs a split (train, test or val)", path);
        if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0 && strcmp(split, "val") != 0)
            return gnf_fail(GNF_ERR_INVALID, "%s: split \"%s\" is not train, test or val", path, split);
        char name[32];
        snprintf(name, sizeof name, "transforms_%s.json", split);
        *json = join_path(path, name);
        char *whole = *json && !is_regular(*json) ? join_path(path, "transforms.json") : NULL;
        if (whole && is_regular(whole)) { /* no split files: hold out every GNF_SCENE_HOLDOUT-th view */
            free(*json);
            *json = whole;
            *holdout = strcmp(split, "train") == 0 ? 1 : 2;
        } else {
            free(whole);
        }
    }
    if (!*json) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
    return GNF_OK;
}

/* The scene of the NUL-terminated JSON txt[0..n) named name, pictures relative to dir. */
static gnf_status load_json(const char *txt, size_t n, const char *name, const char *dir, int downscale,
                            const load_opts *lo, int threads, gnf_scene *out) {
    gnf_scene sc = {0};
    frame_cam *cams = NULL;
    cJSON *root = NULL;
    view_job J;
    memset(&J, 0, sizeof J);
    gnf_status s = GNF_OK;
    if (!(sc.json_path = gnf_strdup(name))) s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", name);
    if (s == GNF_OK) s = gnf_json_parse(name, "the file", txt, n, &root);
    if (s == GNF_OK) s = parse_frames(sc.json_path, root, dir, lo, &sc, &cams);
    cJSON_Delete(root);
    if (s == GNF_OK) {
        J.views = sc.views;
        J.cams = cams;
        J.json = sc.json_path;
        J.downscale = downscale;
        J.load_images = lo->load_images != 0;
        J.default_w = lo->default_w;
        J.default_h = lo->default_h;
        J.status = calloc((size_t)sc.n, sizeof *J.status);
        J.msg = calloc((size_t)sc.n, sizeof *J.msg);
        atomic_init(&J.first_fail, LONG_MAX);
        if (!J.status || !J.msg) s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %d views", sc.json_path, sc.n);
    }
    if (s == GNF_OK) {
        gnf_parallel_for(sc.n, threads, view_task, &J);
        long f = atomic_load(&J.first_fail);
        if (f != LONG_MAX) {
            s = J.status[f];
            if (J.msg[f]) gnf_fail(s, "%s", J.msg[f]);
            else gnf_fail(s, "%s: frame %ld failed (out of memory for its message)", sc.json_path, f);
        }
    }
    if (J.msg)
        for (int i = 0; i < sc.n; i++) free(J.msg[i]);
    free(J.msg);
    free(J.status);
    free(cams);
    if (s != GNF_OK) {
        gnf_scene_free(&sc);
        return s;
    }
    *out = sc;
    return GNF_OK;
}

static gnf_status scene_load(const char *path, const char *split, int downscale, load_opts *lo, int threads,
                             gnf_scene *out) {
    assert(path && out);
    memset(out, 0, sizeof *out);
    if (downscale < 1) return gnf_fail(GNF_ERR_INVALID, "%s: downscale %d must be at least 1", path, downscale);
    char *json = NULL, *dir = NULL;
    unsigned char *txt = NULL;
    size_t n = 0;
    gnf_status s = find_json(path, split, &json, &lo->holdout);
    if (s == GNF_OK) s = gnf_read_file(json, JSON_MAX, &txt, &n);
    if (s == GNF_OK) {
        const char *slash = strrchr(json, '/');
        size_t ld = slash ? (size_t)(slash - json) + (slash == json) : 0;
        if ((dir = malloc(ld + 1))) {
            memcpy(dir, json, ld);
            dir[ld] = 0;
        } else {
            s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", json);
        }
    }
    if (s == GNF_OK) s = load_json((const char *)txt, n, json, dir, downscale, lo, threads, out);
    free(txt);
    free(dir);
    free(json);
    return s;
}

gnf_status gnf_scene_load(const char *path, const char *split, int downscale, int load_images, int threads,
                          gnf_scene *out) {
    load_opts lo = {0, load_images != 0, 0, 0, 0};
    return scene_load(path, split, downscale, &lo, threads, out);
}

gnf_status gnf_scene_load_cameras_sized(const char *path, const char *split, int downscale, int default_w,
                                        int default_h, gnf_scene *out) {
    load_opts lo = {0, 0, 1, default_w > 0 && default_h > 0 ? default_w : 0, default_w > 0 && default_h > 0 ? default_h : 0};
    return scene_load(path, split, downscale, &lo, 1, out);
}

gnf_status gnf_scene_load_from_memory(const char *json, size_t n, const char *name, const char *dir, int downscale,
                                      int load_images, int threads, gnf_scene *out) {
    assert((json || !n) && name && dir && out);
    memset(out, 0, sizeof *out);
    if (downscale < 1) return gnf_fail(GNF_ERR_INVALID, "%s: downscale %d must be at least 1", name, downscale);
    if (n > JSON_MAX) return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: files of this kind over %zu MiB are not supported", name, JSON_MAX >> 20);
    char *txt = malloc(n + 1); /* NUL-terminated, as cJSON likes it */
    if (!txt) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", name);
    if (n) memcpy(txt, json, n);
    txt[n] = 0;
    load_opts lo = {0, load_images != 0, 0, 0, 0};
    gnf_status s = load_json(txt, n, name, dir, downscale, &lo, threads, out);
    free(txt);
    return s;
}

void gnf_scene_free(gnf_scene *s) {
    if (!s) return;
    for (int i = 0; i < s->n && s->views; i++) {
        free(s->views[i].path);
        gnf_free(s->views[i].rgb);
    }
    free(s->views);
    free(s->json_path);
    memset(s, 0, sizeof *s);
}

/* OpenCV's distortion of the normalised point (x, y) (y down) into (u, v), and its Jacobian. */
static void distort(const double k[5], double x, double y, double *u, double *v, double J[4]) {
    double r2 = x * x + y * y, q = 1 + r2 * (k[0] + r2 * (k[1] + r2 * k[2]));
    double dq = k[0] + r2 * (2 * k[1] + 3 * r2 * k[2]); /* dq/d(r2) */
    *u = x * q + 2 * k[3] * x * y + k[4] * (r2 + 2 * x * x);
    *v = y * q + k[3] * (r2 + 2 * y * y) + 2 * k[4] * x * y;
    J[0] = q + 2 * x * x * dq + 2 * k[3] * y + 6 * k[4] * x; /* du/dx */
    J[1] = 2 * x * y * dq + 2 * k[3] * x + 2 * k[4] * y;     /* du/dy */
    J[2] = 2 * x * y * dq + 2 * k[3] * x + 2 * k[4] * y;     /* dv/dx */
    J[3] = q + 2 * y * y * dq + 6 * k[3] * y + 2 * k[4] * x; /* dv/dy */
}

void gnf_view_ray(const gnf_view *v, float px, float py, float o[3], float d[3]) {
    const float *m = v->c2w;
    double x = ((double)px - v->cx) / v->fx, y = ((double)py - v->cy) / v->fy;
    if (v->distorted) { /* Newton's method on distort(x, y) = the pixel's normalised point */
        const double ud = x, vd = y;
        for (int it = 0; it < 20; it++) {
            double u, w, J[4];
            distort(v->dist, x, y, &u, &w, J);
            double det = J[0] * J[3] - J[1] * J[2];
            if (!(fabs(det) > 1e-300)) break;
            double ex = u - ud, ey = w - vd;
            double sx = (J[3] * ex - J[1] * ey) / det, sy = (J[0] * ey - J[2] * ex) / det;
            x -= sx;
            y -= sy;
            if (fabs(sx) + fabs(sy) < 1e-15) break;
        }
    }
    y = -y;
    double z = -1.0;
    double r[3], len2 = 0;
    for (int k = 0; k < 3; k++) {
        r[k] = m[4 * k] * x + m[4 * k + 1] * y + m[4 * k + 2] * z;
        len2 += r[k] * r[k];
    }
    double inv = len2 > 0 ? 1.0 / sqrt(len2) : 0.0;
    for (int k = 0; k < 3; k++) {
        o[k] = m[4 * k + 3];
        d[k] = (float)(r[k] * inv);
    }
}
