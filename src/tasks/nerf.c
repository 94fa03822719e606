/* nerf.c — the radiance-field task: rays from posed pictures, an occupancy grid to skip empty
 * space, ray marching, volume rendering (field/nerf_head.c), training, rendering, evaluation and
 * density meshes.
 *
 * A training step (all buffers allocated once, before the first step):
 *   1. R rays: a random training view and pixel each (rng stream = (seed, step, block)); their
 *      samples counted by marching the occupancy grid, offsets by a prefix sum (rays that do not
 *      fit the sample budget are left for later steps);                         [par. blocks]
 *   2. in rounds of TRAIN_ROUND samples per ray: the samples placed, their grid lookup and
 *      decoder forward, and the ray's transmittance carried on — a ray stops at the round where
 *      it falls below NERF_TMIN, so the samples behind what it hits are never evaluated (about
 *      half of them on lego once the occupancy is sparse);                      [par. blocks]
 *   3. per ray: volume rendering, MSE against the pixel, backward into dL/dy;     [par. blocks]
 *   4. the samples that carried weight (those before early termination) gathered contiguously;
 *   5. the fused decoder kernel with the given dL/dy (GNF_LOSS_GIVEN) → dL/dfeatures and
 *      per-chunk decoder gradients, summed in chunk order; grid scatter per level; Adam;
 *   6. every 16 steps the occupancy grid is refreshed from the field's density (every cell during
 *      the first 64 steps, a rotating sixteenth afterwards).
 * The next step's ray count follows the measured samples per ray so a step costs about
 * samples_per_step samples.  Every sum runs in a fixed order, so a seed and step count give the
 * same model whatever the thread count. */
#include "tasks/train.h"
#include "tasks/nerf_internal.h"
#include "field/nerf_head.h"
#include "field/kernels.h"
#include "geom/mcubes.h"
#include "io/scene.h"
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct gnf_nerf_scene { gnf_scene s; };

#define NERF_TMIN 1e-4f        /* early ray termination: transmittance below this */
#define DIST_SCALE 25.0f       /* optical thickness = sigma * step * DIST_SCALE (TensoRF's scale) */
#define OCC_ALPHA 0.01f        /* a cell is occupied when one step through it has alpha above this */
#define OCC_WARMUP 64          /* steps during which every occupancy refresh visits every cell */
#define OCC_SUBSETS 16         /* afterwards each refresh visits one of this many interleaved subsets */
#define OCC_EVERY 16           /* steps between occupancy refreshes */
#define OCC_BLOCK 4096         /* cells of a refresh's random stream, and of its parallel tasks */
#define RAY_BLOCK 128          /* rays per parallel task */
#define TRAIN_ROUND 16         /* training forward: samples per live ray and round */
#define COLOUR_W 1e-5f         /* render: colour evaluated only where the weight exceeds this */
#define MAX_RAY_SAMPLES 2048

static const float k_bg[3] = {1.0f, 1.0f, 1.0f};

/* ---- scenes ------------------------------------------------------------------------------ */

gnf_status gnf_nerf_scene_load(const char *path, const char *split, int downscale, int threads,
                               gnf_nerf_scene **out) {
    *out = NULL;
    gnf_nerf_scene *s = calloc(1, sizeof *s);
    if (!s) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    gnf_status st = gnf_scene_load(path, split, downscale, 1, threads, &s->s);
    if (st != GNF_OK) { free(s); return st; }
    *out = s;
    return GNF_OK;
}

gnf_status gnf_nerf_scene_load_cameras(const char *path, const char *split, int downscale, gnf_nerf_scene **out) {
    *out = NULL;
    gnf_nerf_scene *s = calloc(1, sizeof *s);
    if (!s) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    gnf_status st = gnf_scene_load(path, split, downscale, 0, 1, &s->s);
    if (st != GNF_OK) { free(s); return st; }
    *out = s;
    return GNF_OK;
}

gnf_status gnf_nerf_scene_load_cameras_sized(const char *path, const char *split, int downscale, int default_w,
                                             int default_h, gnf_nerf_scene **out) {
    *out = NULL;
    gnf_nerf_scene *s = calloc(1, sizeof *s);
    if (!s) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    gnf_status st = gnf_scene_load_cameras_sized(path, split, downscale, default_w, default_h, &s->s);
    if (st != GNF_OK) { free(s); return st; }
    *out = s;
    return GNF_OK;
}

int gnf_nerf_scene_box(const gnf_nerf_scene *s, float *box, float center[3]) {
    *box = s->s.box;
    for (int k = 0; k < 3; k++) center[k] = s->s.center[k];
    return s->s.has_box;
}

int gnf_nerf_scene_distorted(const gnf_nerf_scene *s) {
    int n = 0;
    for (int i = 0; i < s->s.n; i++) n += s->s.views[i].distorted;
    return n;
}

void gnf_nerf_scene_free(gnf_nerf_scene *s) {
    if (!s) return;
    gnf_scene_free(&s->s);
    free(s);
}

int gnf_nerf_scene_count(const gnf_nerf_scene *s) { return s->s.n; }

void gnf_nerf_scene_camera(const gnf_nerf_scene *s, int i, gnf_camera *cam) {
    const gnf_view *v = &s->s.views[i];
    cam->w = v->w; cam->h = v->h;
    cam->fx = v->fx; cam->fy = v->fy; cam->cx = v->cx; cam->cy = v->cy;
    memcpy(cam->c2w, v->c2w, sizeof cam->c2w);
}

const float *gnf_nerf_scene_pixels(const gnf_nerf_scene *s, int i) { return s->s.views[i].rgb; }

/* Ray through pixel position (px, py) of a camera (same convention as gnf_view_ray). */
static void camera_ray(const gnf_camera *c, float px, float py, float o[3], float d[3]) {
    float u = (px - c->cx) / c->fx, v = -(py - c->cy) / c->fy, w = -1.0f;
    const float *M = c->c2w;
    float n = 0;
    for (int a = 0; a < 3; a++) {
        d[a] = M[4 * a] * u + M[4 * a + 1] * v + M[4 * a + 2] * w;
        o[a] = M[4 * a + 3];
        n += d[a] * d[a];
    }
    n = 1.0f / sqrtf(n);
    for (int a = 0; a < 3; a++) d[a] *= n;
}

/* A camera's lens: NULL for a pinhole camera, else the scene view whose distortion its rays follow
 * (gnf_view_ray at the pixel position divided by scale: the camera may render that view at
 * scale times its size). */
typedef struct {
    const gnf_view *view;
    float scale;
} nerf_lens;

/* Ray through pixel position (px, py) of cam, through lens when it has one. */
static void pixel_ray(const gnf_camera *c, const nerf_lens *lens, float px, float py, float o[3], float d[3]) {
    if (lens && lens->view) gnf_view_ray(lens->view, px / lens->scale, py / lens->scale, o, d);
    else camera_ray(c, px, py, o, d);
}

/* ---- configuration ------------------------------------------------------------------------ */

void gnf_nerf_config_default(gnf_nerf_config *c) {
    memset(c, 0, sizeof *c);
    c->box = 1.5f;
    c->occ_res = 128;
    c->step = 0;
    /* 2^16: on lego_400 at equal samples (12,000 steps of 2^15, 6,000 of 2^16) within 0.09 dB over
     * the 200 test views, and a step's fixed costs (occupancy refresh, held-out checks) spread over
     * twice the samples: 15-minute fits (bench/README.md, "Larger steps") */
    c->samples_per_step = 1L << 16;
    c->heldout_pixels = 10000;
}

gnf_status gnf_nerf_model_config(gnf_model_config *cfg, long max_params) {
    gnf_model_config_default(cfg, 3, NERF_OUT);
    cfg->encoding = GNF_ENC_HASH;
    cfg->rbf_k = 32;
    for (int l = 0; l < GNF_MAX_LEVELS; l++) cfg->feat[l] = 2;
    /* 2M parameters (2^17 entries per level): at 180 s on lego_400, 4.2M gave 25.4 dB, 2.0M 25.8,
     * 1.1M 25.9 (faster steps); 2M keeps capacity for long fits */
    return gnf_model_config_for_params(cfg, max_params > 0 ? max_params : 2100000, 1024);
}

void gnf_nerf_train_config_default(gnf_train_config *tc) {
    gnf_train_config_default(tc);
    tc->steps = 0;
    tc->seconds = 0;
    tc->lr0 = 3e-2f;   /* measured on lego at 1/4 size, 200 steps: 3e-2 21.9 dB, 1e-2 20.2, 6e-2 20.6 */
    tc->lr1 = 3e-3f;
    tc->adam_b2 = 0.99f;
    tc->adam_eps = 1e-15f;
    tc->loss = GNF_LOSS_L2;
    tc->eval_every = 250;
}

/* ---- the space a field lives in: box, march step, occupancy -------------------------------- */

static float step_of(float box, float step) { return step > 0 ? step : 2.0f * box * 1.7320508f / 1024.0f; }

/* Entry and exit of the ray o + t d (t >= 0) through the box [lo, hi]; 0 if it misses. */
int gnf_nerf_ray_aabb(const float o[3], const float d[3], const float lo[3], const float hi[3], float *t0, float *t1) {
    float tn = 0.0f, tf = 1e30f;
    for (int a = 0; a < 3; a++) {
        if (d[a] == 0.0f) {
            if (o[a] < lo[a] || o[a] > hi[a]) return 0;
            continue;
        }
        float ta = (lo[a] - o[a]) / d[a], tb = (hi[a] - o[a]) / d[a];
        if (ta > tb) { float x = ta; ta = tb; tb = x; }
        if (ta > tn) tn = ta;
        if (tb < tf) tf = tb;
    }
    *t0 = tn;
    *t1 = tf;
    return tn < tf;
}

int gnf_nerf_ray_box(const float o[3], const float d[3], float B, float *t0, float *t1) {
    const float lo[3] = {-B, -B, -B}, hi[3] = {B, B, B};
    return gnf_nerf_ray_aabb(o, d, lo, hi, t0, t1);
}

static inline int cell_index(float p, float B, int G) {
    int i = (int)floorf((p + B) * (float)G / (2.0f * B));
    return i < 0 ? 0 : (i >= G ? G - 1 : i);
}

/* The occupied cells' bounding box and the coarse block flags, from the cell flags: task c
 * takes the z slices of coarse slab c, keeping its own box; the boxes are merged in slab order.
 * A function of the flags alone, so the same at any thread count.  A row is read 8 cells (one
 * coarse block) to a 64-bit word. */
_Static_assert(NERF_COARSE == 8, "coarse blocks are read as 64-bit words of 8 cells");
typedef struct {
    nerf_space *sp;
    int (*box)[6];   /* per task: lo x,y,z, hi x,y,z */
    int coarse;      /* G % 8 == 0: sp->coarse is written */
} coarse_job;

static void coarse_task(void *vctx, long c, int thread) {
    (void)thread;
    coarse_job *cj = vctx;
    nerf_space *sp = cj->sp;
    const int G = sp->G, C = NERF_COARSE, Gc = G / C;
    int *b = cj->box[c];
    b[0] = b[1] = b[2] = G;
    b[3] = b[4] = b[5] = -1;
    for (long z = c * C; z < GNF_MIN(G, (c + 1) * C); z++)
        for (long y = 0; y < G; y++) {
            const unsigned char *row = sp->occ + (size_t)G * (y + (size_t)G * z);
            unsigned char *crow = cj->coarse ? sp->coarse + (size_t)Gc * (y / C + (size_t)Gc * (z / C)) : NULL;
            int first = -1, last = -1;
            for (int x = 0; x < G; x += 8) {
                uint64_t w = 0;
                memcpy(&w, row + x, (size_t)GNF_MIN(8, G - x));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                w = __builtin_bswap64(w);   /* cell x in the lowest byte */
#endif
                if (!w) continue;
                if (first < 0) first = x + __builtin_ctzll(w) / 8;
                last = x + (63 - __builtin_clzll(w)) / 8;
                if (crow) crow[x / C] = 1;
            }
            if (first < 0) continue;
            b[0] = GNF_MIN(b[0], first); b[1] = GNF_MIN(b[1], (int)y); b[2] = GNF_MIN(b[2], (int)z);
            b[3] = GNF_MAX(b[3], last); b[4] = GNF_MAX(b[4], (int)y); b[5] = GNF_MAX(b[5], (int)z);
        }
}

gnf_status gnf_nerf_space_update_coarse(nerf_space *sp, int threads) {
    const int G = sp->G, C = NERF_COARSE, Gc = G / C;
    coarse_job cj = {sp, NULL, G % C == 0};
    if (cj.coarse) {
        if (!sp->coarse) {
            sp->coarse = gnf_calloc((size_t)Gc * Gc * Gc, 1);
            if (!sp->coarse) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
        }
        memset(sp->coarse, 0, (size_t)Gc * Gc * Gc);
    }
    const long ntask = (G + C - 1) / C;
    cj.box = malloc((size_t)ntask * sizeof *cj.box);
    if (!cj.box) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    gnf_parallel_for(ntask, threads, coarse_task, &cj);
    int lo[3] = {G, G, G}, hi[3] = {-1, -1, -1};
    for (long c = 0; c < ntask; c++)
        for (int a = 0; a < 3; a++) {
            lo[a] = GNF_MIN(lo[a], cj.box[c][a]);
            hi[a] = GNF_MAX(hi[a], cj.box[c][3 + a]);
        }
    free(cj.box);
    const float cs = 2.0f * sp->box / (float)G;
    for (int a = 0; a < 3; a++) {  /* lo > hi (an empty box) when nothing is occupied */
        sp->lo[a] = -sp->box + (float)lo[a] * cs;
        sp->hi[a] = -sp->box + (float)(hi[a] + 1) * cs;
    }
    return GNF_OK;
}

/* Marches the ray from *t (on its lattice of steps dt) toward tf, emitting up to cap samples that
 * fall in occupied cells: normalised positions x (3 per sample, may be NULL when only counting)
 * and distances ts (may be NULL).  Empty cells are skipped to their exit, staying on the lattice.
 * *t is left after the last emitted sample.  Returns the count. */
long gnf_nerf_march(const nerf_space *sp, const float o[3], const float d[3], float *t, float tf,
                long cap, float *x, float *ts) {
    const float B = sp->box, dt = sp->dt, cs = 2.0f * B / (float)sp->G, invB = 1.0f / B;
    const int G = sp->G;
    const float tstart = *t;
    long n = 0, i = 0;          /* lattice index: sample i sits at tstart + i·dt */
    float tt = tstart;
    while (tt < tf && n < cap) {
        float p[3] = {o[0] + tt * d[0], o[1] + tt * d[1], o[2] + tt * d[2]};
        int ci[3] = {cell_index(p[0], B, G), cell_index(p[1], B, G), cell_index(p[2], B, G)};
        if (sp->occ[ci[0] + (long)G * (ci[1] + (long)G * ci[2])]) {
            if (x)
                for (int a = 0; a < 3; a++) x[3 * n + a] = fminf(1.0f, fmaxf(-1.0f, p[a] * invB));
            if (ts) ts[n] = tt;
            n++;
            i++;
        } else {
            /* jump to the first lattice point past the exit of the cell, or of its whole coarse
             * block when the block is empty */
            int span = 1;
            if (sp->coarse) {
                const int Gc = G / NERF_COARSE;
                if (!sp->coarse[ci[0] / NERF_COARSE + (long)Gc * (ci[1] / NERF_COARSE + (long)Gc * (ci[2] / NERF_COARSE))]) {
                    span = NERF_COARSE;
                    for (int a = 0; a < 3; a++) ci[a] -= ci[a] % NERF_COARSE;
                }
            }
            float te = 1e30f;
            for (int a = 0; a < 3; a++) {
                if (d[a] > 0) te = fminf(te, ((float)(ci[a] + span) * cs - B - o[a]) / d[a]);
                else if (d[a] < 0) te = fminf(te, ((float)ci[a] * cs - B - o[a]) / d[a]);
            }
            float k = ceilf((te - tt) / dt);
            i += k < 1.0f ? 1 : (k > 1e7f ? 10000000 : (long)k);
        }
        tt = tstart + (float)i * dt;
    }
    *t = tt;
    return n;
}

/* ---- density evaluation (occupancy, meshes) ------------------------------------------------ */

#define DENS_CHUNK 2048

typedef struct {
    const gnf_model *m;
    const float *beta, *x;  /* x: n normalised points */
    float *sigma;           /* n densities out */
    float *scratch;         /* per thread: DENS_CHUNK × (D + 1) */
    long n;
} dens_ctx;

static void dens_task(void *vctx, long ch, int thread) {
    dens_ctx *c = vctx;
    const gnf_model *m = c->m;
    const int D = m->D, K = m->cfg.rbf_k;
    long i0 = ch * DENS_CHUNK, n = GNF_MIN(DENS_CHUNK, c->n - i0);
    float *F = c->scratch + (long)thread * DENS_CHUNK * (D + 1), *y = F + (long)DENS_CHUNK * D;
    gnf_grid_encode(F, m, m->params, c->x + 3 * i0, n);
    /* row 0 of the head alone: density without the 48 colour outputs */
    gnf_rbf_forward(y, F, m->params + m->off_c, c->beta, m->params + m->off_W, m->params + m->off_w0, n, D, K, 1,
                m->cfg.basis);
    for (long i = 0; i < n; i++) c->sigma[i0 + i] = gnf_nerf_density(y[i]);
}

/* sigma[i] = density at normalised points x[i] (n of them). */
static gnf_status density_at(const gnf_model *m, const float *beta, const float *x, long n, float *sigma, int threads) {
    int T = gnf_threads_resolve(threads);
    float *scratch = gnf_calloc((size_t)T * DENS_CHUNK * (size_t)(m->D + 1), sizeof(float));
    if (!scratch) return gnf_fail(GNF_ERR_NOMEM, "out of memory evaluating densities");
    dens_ctx c = {m, beta, x, sigma, scratch, n};
    gnf_parallel_for((n + DENS_CHUNK - 1) / DENS_CHUNK, T, dens_task, &c);
    gnf_free(scratch);
    return GNF_OK;
}

/* ---- occupancy grid stored in the model ----------------------------------------------------- */

static const char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Stores the flags as "G:" + base64(zlib(bits, x fastest)) in gnf.nerf.occupancy. */
gnf_status gnf_nerf_occupancy_store(gnf_model *m, const nerf_space *sp) {
    long N = (long)sp->G * sp->G * sp->G, nb = (N + 7) / 8;
    unsigned char *bits = calloc((size_t)nb, 1);
    uLongf zcap = compressBound((uLong)nb);
    unsigned char *z = malloc(zcap);
    char *txt = malloc(16 + 4 * ((size_t)zcap / 3 + 2));
    gnf_status st = GNF_OK;
    if (!bits || !z || !txt) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory"); goto done; }
    for (long i = 0; i < N; i++)
        if (sp->occ[i]) bits[i >> 3] |= (unsigned char)(1u << (i & 7));
    uLongf zn = zcap;
    if (compress2(z, &zn, bits, (uLong)nb, 9) != Z_OK) { st = gnf_fail(GNF_ERR_NOMEM, "cannot compress the occupancy grid"); goto done; }
    int k = sprintf(txt, "%d:", sp->G);
    for (uLongf i = 0; i < zn; i += 3) {
        unsigned v = (unsigned)z[i] << 16 | (i + 1 < zn ? (unsigned)z[i + 1] << 8 : 0) | (i + 2 < zn ? z[i + 2] : 0);
        txt[k++] = k_b64[v >> 18 & 63];
        txt[k++] = k_b64[v >> 12 & 63];
        txt[k++] = i + 1 < zn ? k_b64[v >> 6 & 63] : '=';
        txt[k++] = i + 2 < zn ? k_b64[v & 63] : '=';
    }
    txt[k] = 0;
    st = gnf_model_set_meta(m, "gnf.nerf.occupancy", txt);
done:
    free(bits); free(z); free(txt);
    return st;
}

static int b64_val(int c) {
    const char *p = c ? strchr(k_b64, c) : NULL;
    return p ? (int)(p - k_b64) : -1;
}

/* Reads gnf.nerf.occupancy into sp (G and flags, allocated here). */
gnf_status gnf_nerf_occupancy_load(const gnf_model *m, nerf_space *sp) {
    const char *s = gnf_model_get_meta(m, "gnf.nerf.occupancy");
    if (!s) return gnf_fail(GNF_ERR_FORMAT, "the model has no occupancy grid (gnf.nerf.occupancy)");
    char *e;
    long G = strtol(s, &e, 10);
    if (e == s || *e != ':' || G < 2 || G > 1024) return gnf_fail(GNF_ERR_FORMAT, "gnf.nerf.occupancy: bad resolution");
    const char *p = e + 1;
    size_t len = strlen(p);
    if (len % 4) return gnf_fail(GNF_ERR_FORMAT, "gnf.nerf.occupancy: bad base64 length");
    long N = G * G * G, nb = (N + 7) / 8;
    unsigned char *z = malloc(len / 4 * 3 + 1), *bits = malloc((size_t)nb);
    sp->occ = gnf_calloc((size_t)N, 1);
    gnf_status st = GNF_OK;
    if (!z || !bits || !sp->occ) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory"); goto done; }
    size_t zn = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) v[k] = p[i + k] == '=' ? 0 : b64_val(p[i + k]);
        int pad = (p[i + 2] == '=') + (p[i + 3] == '=');
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0 || (pad && i + 4 != len) || (p[i + 2] == '=' && p[i + 3] != '=')) {
            st = gnf_fail(GNF_ERR_FORMAT, "gnf.nerf.occupancy: bad base64");
            goto done;
        }
        unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        z[zn++] = (unsigned char)(w >> 16);
        if (pad < 2) z[zn++] = (unsigned char)(w >> 8);
        if (pad < 1) z[zn++] = (unsigned char)w;
    }
    uLongf bn = (uLongf)nb;
    if (uncompress(bits, &bn, z, (uLong)zn) != Z_OK || bn != (uLongf)nb) {
        st = gnf_fail(GNF_ERR_FORMAT, "gnf.nerf.occupancy: corrupt data");
        goto done;
    }
    for (long i = 0; i < N; i++) sp->occ[i] = (bits[i >> 3] >> (i & 7)) & 1;
    sp->G = (int)G;
done:
    free(z); free(bits);
    if (st != GNF_OK) { gnf_free(sp->occ); sp->occ = NULL; }
    return st;
}

static float meta_float(const gnf_model *m, const char *key, float dflt) {
    const char *s = gnf_model_get_meta(m, key);
    if (!s) return dflt;
    char *e;
    double v = strtod(s, &e);
    return (e != s && isfinite(v) && v > 0) ? (float)v : dflt;
}

/* ---- rendering ------------------------------------------------------------------------------ */

typedef struct {
    const gnf_model *m;
    const nerf_space *sp;
    const float *beta;
} field_view;

/* Test-time rendering works on packets of RENDER_TASK rays: each round marches every live ray of
 * the packet for up to ROUND more samples, evaluates all of them in one batch (grid lookup and
 * the density row of the head), composites each ray's new samples with early termination, then
 * evaluates the 49 outputs for the samples whose weight exceeds COLOUR_W, in one batch again. */
#define RENDER_TASK 128
#define ROUND 16
#define PACKET_SAMPLES (RENDER_TASK * ROUND)

typedef struct {
    float o[3], d[3], t, t1, T, C[3], dep;
    long start, len;   /* this round's samples in the packet batch */
    int alive;
} ray_state;

/* Per-thread scratch floats: x 3, ts, y0, sig, wt, dts, wsel, F D, Fs D, ys NERF_OUT, sel and
 * owner (ints) per packet sample; plus the ray states. */
static long packet_scratch_floats(int D) {
    return (long)PACKET_SAMPLES * (3 + 6 + 2 * D + NERF_OUT + 2) +
           (long)RENDER_TASK * (long)(sizeof(ray_state) / sizeof(float) + 1) + 64;
}

typedef struct {
    const field_view *fv;
    const gnf_camera *cam;        /* camera mode: pixel p of the camera */
    const nerf_lens *lens;        /* camera mode: its lens (NULL: pinhole) */
    const float *ro, *rd;         /* ray mode: n rays */
    long n;
    float *rgb, *depth, *opac;
    float *scratch;
    long scr_floats;
    long *evals;                  /* per task */
    double *phase;                /* NULL, or per thread NERF_PH_N seconds (accumulated) */
} render_ctx;

static void render_task(void *vctx, long task, int thread) {
    render_ctx *c = vctx;
    const field_view *fv = c->fv;
    const gnf_model *m = fv->m;
    const int D = m->D, K = m->cfg.rbf_k;
    const float *cc = m->params + m->off_c, *W = m->params + m->off_W, *w0 = m->params + m->off_w0;
    float *x = c->scratch + (long)thread * c->scr_floats, *ts = x + 3 * PACKET_SAMPLES;
    float *y0 = ts + PACKET_SAMPLES, *sig = y0 + PACKET_SAMPLES, *wt = sig + PACKET_SAMPLES;
    float *dts = wt + PACKET_SAMPLES, *wsel = dts + PACKET_SAMPLES, *F = wsel + PACKET_SAMPLES;
    float *Fs = F + (long)PACKET_SAMPLES * D, *ys = Fs + (long)PACKET_SAMPLES * D;
    int *sel = (int *)(ys + (long)PACKET_SAMPLES * NERF_OUT), *owner = sel + PACKET_SAMPLES;
    ray_state *rs = (ray_state *)(owner + PACKET_SAMPLES);
    long i0 = task * RENDER_TASK, nr = GNF_MIN(c->n, i0 + RENDER_TASK) - i0, ev = 0;
    const float odt = fv->sp->dt * fv->sp->dscale;
    double *ph = c->phase ? c->phase + (long)thread * NERF_PH_N : NULL, tl0 = ph ? gnf_now() : 0, tl1;
#define LAP(k) do { if (ph) { tl1 = gnf_now(); ph[k] += tl1 - tl0; tl0 = tl1; } } while (0)
    for (int i = 0; i < ROUND; i++) dts[i] = odt;
    int live = 0;
    for (long r = 0; r < nr; r++) {
        ray_state *q = &rs[r];
        long i = i0 + r;
        if (c->cam) pixel_ray(c->cam, c->lens, (float)(i % c->cam->w) + 0.5f, (float)(i / c->cam->w) + 0.5f, q->o, q->d);
        else { memcpy(q->o, c->ro + 3 * i, sizeof q->o); memcpy(q->d, c->rd + 3 * i, sizeof q->d); }
        float t0;  /* the lattice starts where the ray enters the occupied cells' bounding box */
        q->alive = gnf_nerf_ray_aabb(q->o, q->d, fv->sp->lo, fv->sp->hi, &t0, &q->t1);
        q->t = t0 + 0.5f * fv->sp->dt;
        q->T = 1.0f;
        q->C[0] = q->C[1] = q->C[2] = q->dep = 0;
        live += q->alive;
    }
    while (live > 0) {
        long n = 0;
        for (long r = 0; r < nr; r++) {
            ray_state *q = &rs[r];
            q->len = 0;
            if (!q->alive) continue;
            q->start = n;
            q->len = gnf_nerf_march(fv->sp, q->o, q->d, &q->t, q->t1, ROUND, x + 3 * n, ts + n);
            if (q->len == 0) { q->alive = 0; live--; }
            n += q->len;
        }
        LAP(NERF_PH_MARCH);
        if (n == 0) break;
        ev += n;
        gnf_grid_encode(F, m, m->params, x, n);
        LAP(NERF_PH_LOOKUP);
        gnf_rbf_forward(y0, F, cc, fv->beta, W, w0, n, D, K, 1, m->cfg.basis);
        for (long i = 0; i < n; i++) sig[i] = gnf_nerf_density(y0[i]);
        LAP(NERF_PH_DECODE);
        long ns = 0;
        for (long r = 0; r < nr; r++) {
            ray_state *q = &rs[r];
            if (!q->len) continue;
            float Tend;
            long used = gnf_nerf_weights(wt + q->start, &Tend, sig + q->start, dts, q->len, NERF_TMIN / q->T);
            for (long i = q->start; i < q->start + used; i++) {
                float w = wt[i] * q->T;
                if (w > COLOUR_W) {
                    memcpy(Fs + ns * D, F + i * D, sizeof(float) * (size_t)D);
                    sel[ns] = (int)i;
                    owner[ns] = (int)r;
                    wsel[ns++] = w;
                }
            }
            q->T *= Tend;
            if (used < q->len || q->T < NERF_TMIN) { q->alive = 0; live--; }
        }
        LAP(NERF_PH_COMPOSITE);
        if (ns) gnf_rbf_forward(ys, Fs, cc, fv->beta, W, w0, ns, D, K, NERF_OUT, m->cfg.basis);
        LAP(NERF_PH_DECODE);
        for (long j = 0; j < ns; j++) {
            ray_state *q = &rs[owner[j]];
            float Y16[16], col[3];
            gnf_nerf_sh16(Y16, q->d);
            gnf_nerf_sh_colour(col, ys + j * NERF_OUT, Y16);
            for (int a = 0; a < 3; a++) q->C[a] += wsel[j] * col[a];
            q->dep += wsel[j] * ts[sel[j]];
        }
        LAP(NERF_PH_COMPOSITE);
    }
    for (long r = 0; r < nr; r++) {
        const ray_state *q = &rs[r];
        long i = i0 + r;
        for (int a = 0; a < 3; a++) c->rgb[3 * i + a] = q->C[a] + q->T * k_bg[a];
        if (c->depth) c->depth[i] = q->dep;
        if (c->opac) c->opac[i] = 1.0f - q->T;
    }
    LAP(NERF_PH_COMPOSITE);
#undef LAP
    c->evals[task] = ev;
}

/* Renders n rays (camera pixels when cam != NULL, else ro/rd) into rgb (n×3), depth, opac (n,
 * may be NULL); phase (NULL, or NERF_PH_N doubles per thread) accumulates the seconds of each
 * phase.  Returns total field evaluations, or -1 when out of memory. */
static long render_rays(const field_view *fv, const gnf_camera *cam, const nerf_lens *lens, const float *ro,
                        const float *rd, long n, float *rgb, float *depth, float *opac, int threads, double *phase) {
    int T = gnf_threads_resolve(threads);
    long sf = packet_scratch_floats(fv->m->D), ntask = (n + RENDER_TASK - 1) / RENDER_TASK;
    float *scr = gnf_calloc((size_t)T * (size_t)sf, sizeof(float));
    long *ev = gnf_calloc((size_t)GNF_MAX(1, ntask), sizeof(long));
    if (!scr || !ev) { gnf_free(scr); gnf_free(ev); return -1; }
    render_ctx c = {fv, cam, lens, ro, rd, n, rgb, depth, opac, scr, sf, ev, phase};
    gnf_parallel_for(ntask, T, render_task, &c);
    long tot = 0;
    for (long i = 0; i < ntask; i++) tot += ev[i];
    gnf_free(scr);
    gnf_free(ev);
    return tot;
}

/* ---- the renderer: reference and fast paths ---------------------------------------------------
 *
 * gnf_nerf_render runs the fast renderer below; with GNF_NERF_REFERENCE=1 in the environment (read
 * when a renderer is created) it runs render_rays above, the renderer of commit 5987ec1, which the
 * training loop's held-out check keeps using.  Both give the same picture within rendering noise
 * (tests/test_nerf_render.c states the tolerances).
 *
 * What the fast renderer adds (bench/README.md, "Interactive rendering on the CPU (issue #11)",
 * has the measurements):
 *   - tiles of FAST_TW x FAST_TH pixels per task (neighbouring rays share grid cache lines);
 *   - one decoder pass per sample: the density row and the K activations phi (kernel rbf_phi,
 *     expanded distances with beta c precomputed); the colour of the samples whose weight matters
 *     comes from the same phi through a per-ray 3 x K matrix (SH folded into the head:
 *     gnf_nerf_sh_matrix), not from a second pass over 49 outputs;
 *   - marching over a Chebyshev distance field of the occupancy grid (each empty cell knows how
 *     many cells away the nearest occupied one is, so empty space is left in jumps of up to
 *     2·NERF_DIST_CAP + 1 cells), runs of lattice points through an occupied cell emitted
 *     without classifying each (gnf_nerf_march_fast);
 *   - rounds of FAST_ROUND samples per ray, then FAST_ROUND_NEXT (fewer evaluated past the
 *     termination point);
 *   - early termination once the transmittance is below FAST_TMIN = 3e-2 instead of 1e-4, the
 *     rest of the ray taking the colour of its last sample: a pixel moves by at most 3e-2 (its
 *     colour is a mean of colours in [0, 1] over the transmittance), and by far less where the
 *     surface's colour is uniform along the ray.  On a 30-minute lego model, 50 test views:
 *     1e-2: 7.09 samples per pixel, 32.3602 dB; 2e-2: 6.55, 32.3530 dB; 3e-2: 6.23, 32.3427 dB
 *     (1e-4, the reference's: ~30% more samples than 1e-2);
 *   - grid lookups from an f16 copy of the grids (gnf_grid_encode_h): half the bytes per node.
 * The samples stay on the reference's lattice (the same positions); a sample differs from the
 * reference's only in the decoder's rounding.  Per ray everything is independent of the other
 * rays of its tile and of the thread count. */

/* Compile-time settings (bench/README.md measures each; -D overrides them for such measurements). */
#ifndef FAST_TW
#define FAST_TW 16             /* tile of FAST_TW x FAST_TH pixels per task */
#endif
#ifndef FAST_TH
#define FAST_TH 8
#endif
#define FAST_RAYS (FAST_TW * FAST_TH)
#define FAST_SMAX (((long)FAST_RAYS * FAST_ROUND + 7) & ~7L)   /* samples of a round, padded to 8 */
#ifndef FAST_ROUND
#define FAST_ROUND 8           /* samples per live ray in its first round */
#endif
#ifndef FAST_ROUND_NEXT
#define FAST_ROUND_NEXT 4      /* > 0: in later rounds (most rays end within a few more samples); < 0:
                                * as many as the last sample's optical thickness predicts to reach
                                * FAST_TMIN (+ 2, at most FAST_ROUND) */
#endif
#ifndef FAST_TMIN
#define FAST_TMIN 3e-2f        /* early termination: transmittance below this ... */
#endif
#ifndef FAST_TAIL
#define FAST_TAIL 1            /* ... with the rest of the ray given the last sample's colour (0: the background's) */
#endif
#ifndef FAST_PHI_MAX_K
#define FAST_PHI_MAX_K 64      /* colour from phi through the per-ray matrix for K <= this (0: never) */
#endif
#ifndef FAST_MARCH_REF
#define FAST_MARCH_REF 0       /* 1: march with gnf_nerf_march (the reference's marcher) */
#endif

struct gnf_nerf_renderer {
    const gnf_model *m;
    nerf_space sp;
    float *beta, *bc2, *cst;   /* precisions, 2 beta c, sum_d beta c^2 */
    unsigned char *cdist;      /* Chebyshev distance (cells) to the nearest occupied cell, capped (gnf_nerf_dist_at) */
    uint16_t *grid16;          /* fast path: the grids in f16 (gnf_grid_encode_h), or NULL: f32 */
    int threads, T, reference;
    float *scratch;            /* fast path: per thread fast_scratch_floats(D, K) floats */
    long scr_floats;
    double phase[NERF_PH_N];   /* thread-seconds per phase, summed over the frames rendered */
    long frames;
    double setup_s;            /* seconds gnf_nerf_renderer_create took */
    nerf_lens lens;            /* evaluation of a distorted view: its lens (view NULL otherwise) */
};

/* Per ray of a tile. */
typedef struct {
    float o[3], d[3], inv[3];
    float tstart, t1, T, C[3], dep;
    long li;                   /* next lattice index: sample positions tstart + li·dt */
    long start, len;           /* this round's samples */
    long s0, nsel;             /* this round's samples selected for colour: sel[s0 .. s0 + nsel) */
    int round;                 /* samples to march in the next round */
    int alive, has_m, term;    /* term: stopped by early termination */
    float clast[3], tlast;     /* colour and distance of the last sample composited */
    float M[3 * 64], b[3];     /* the ray's colour head (K <= 64; else the 49-output path) */
} fast_ray;

/* Per-thread scratch per sample: x 3, ts, y0, sig, wt; F D, phi K; wsel, ys NERF_OUT and Fs D (the
 * 49-output path of decoders with K > 64), col 3, sel (int); then the rays. */
static long fast_scratch_floats(int D, int K) {
    const long S = FAST_SMAX;
    return S * (3 + 4 + 2 * D + K + 2 + NERF_OUT + 3) + (long)FAST_RAYS * (long)(sizeof(fast_ray) / sizeof(float) + 1) + 64;
}

/* Marches from lattice index *li toward t1 (contract in nerf_internal.h).  In an occupied cell the
 * lattice points up to the cell's exit are emitted in one run; empty space is left by a jump to
 * the first lattice point past the exit of the cube of empty cells the distance field guarantees
 * around the current cell. */
/* clamp to [-1, 1] as fminf(1, fmaxf(-1, v)) for every non-NaN v, but inline (minss/maxss; the
 * libm calls are not inlined without -ffinite-math-only) */
static inline float clamp1(float v) {
    v = v < -1.0f ? -1.0f : v;
    return v > 1.0f ? 1.0f : v;
}

/* inv[a] = 1/d[a], 0 where d[a] = 0 (gnf_nerf_march_fast's inv) */
static void inverse_dir(const float d[3], float inv[3]) {
    for (int a = 0; a < 3; a++) inv[a] = d[a] != 0.0f ? 1.0f / d[a] : 0.0f;
}

/* ceil(v) for 0 <= v < 2^31, without a libm call */
static inline long ceil_pos(float v) {
    long k = (long)v;
    return (float)k < v ? k + 1 : k;
}

long gnf_nerf_march_fast(const nerf_space *sp, const unsigned char *cdist, const float o[3], const float d[3],
                         const float inv[3], float tstart, long *li, float *run_end, float t1, long cap, float *x,
                         float *ts) {
    const float B = sp->box, dt = sp->dt, cs = 2.0f * B / (float)sp->G, invB = 1.0f / B, rdt = 1.0f / dt;
    const float gs = (float)sp->G / (2.0f * B);
    const int G = sp->G;
    /* in lattice units (sample i at tstart + i dt): the cell coordinate along axis a is
     * U[a] + i V[a], and the plane of cell boundary f is crossed at i = f A[a] - C[a] */
    float U[3], V[3], A[3], C[3];
    for (int a = 0; a < 3; a++) {
        U[a] = (o[a] + B + tstart * d[a]) * gs;
        V[a] = dt * d[a] * gs;
        A[a] = cs * inv[a] * rdt;
        C[a] = ((B + o[a]) * inv[a] + tstart) * rdt;
    }
    long n = 0, i = *li;
    float tt = tstart + (float)i * dt, carry = run_end ? *run_end : 0.0f, ie = 0.0f;
    while (tt < t1 && n < cap) {
        int rc = 0;
        if ((float)i < carry) {   /* the rest of the run the last call stopped in */
            ie = carry;
            carry = 0.0f;
        } else {
            int ci[3];
            for (int a = 0; a < 3; a++) {   /* the cell (a point within rounding of a face may go either way) */
                int c = (int)(U[a] + (float)i * V[a]);
                ci[a] = c < 0 ? 0 : (c >= G ? G - 1 : c);
            }
            rc = cdist[gnf_nerf_dist_at(ci[0], ci[1], ci[2], G)];
            const int h = rc > 0 ? rc - 1 : 0;
            ie = 3e9f;   /* exit of the cell (rc = 0) or of the empty cube around it, in lattice units */
            for (int a = 0; a < 3; a++) {
                float f = d[a] > 0 ? (float)(ci[a] + h + 1) : (float)(ci[a] - h);
                float ea = f * A[a] - C[a];
                ie = d[a] != 0 && ea < ie ? ea : ie;
            }
        }
        if (rc == 0 && !x && ie < 16777216.0f) {
            /* count only: the loop below's count in closed form.  It goes on to lattice point
             * k > i while k < ie (for integers below 2^24: k < ceil(ie)), while fewer than cap
             * are counted, and while tt(k) = tstart + k dt < t1 (rounded as there; tt does not
             * decrease with k, so the first k with tt(k) >= t1 ends it). */
            long e = ceil_pos(ie);
            if (e < i + 1) e = i + 1;
            if (e > i + (cap - n)) e = i + (cap - n);
            if (!(tstart + (float)(e - 1) * dt < t1)) {   /* the ray ends first: its first k */
                long k = (long)((t1 - tstart) * rdt);
                k = k < i + 1 ? i + 1 : (k > e - 1 ? e - 1 : k);
                while (k > i + 1 && !(tstart + (float)(k - 1) * dt < t1)) k--;
                while (tstart + (float)k * dt < t1) k++;
                e = k;
            }
            n += e - i;
            i = e;
            tt = tstart + (float)i * dt;
            if (run_end) *run_end = (float)i < ie ? ie : 0.0f;
        } else if (rc == 0) {
            for (;;) {
                if (x) {
                    for (int a = 0; a < 3; a++) x[3 * n + a] = clamp1((o[a] + tt * d[a]) * invB);
                    ts[n] = tt;
                }
                n++;
                tt = tstart + (float)++i * dt;
                if (!((float)i < ie && tt < t1 && n < cap)) break;
            }
            if (run_end) *run_end = (float)i < ie ? ie : 0.0f;   /* stopped inside the run: its end */
        } else {
            i = ie - (float)i <= 1.0f ? i + 1 : (ie > 2e9f ? i + 10000000 : ceil_pos(ie));
            tt = tstart + (float)i * dt;
            if (run_end) *run_end = 0.0f;
        }
    }
    *li = i;
    return n;
}

typedef struct {
    gnf_nerf_renderer *r;
    const gnf_camera *cam;
    int tiles_x;
    float *rgb, *depth, *opac;
    long *evals;               /* per task */
    double *phase;             /* per thread, NERF_PH_N each */
} fast_ctx;

static void fast_task(void *vctx, long task, int thread) {
    fast_ctx *c = vctx;
    const gnf_nerf_renderer *r = c->r;
    const gnf_model *m = r->m;
    const gnf_camera *cam = c->cam;
    const int D = m->D, K = m->cfg.rbf_k;
    const long SMAX = FAST_SMAX;
    const float *W = m->params + m->off_W, *w0 = m->params + m->off_w0, *cc = m->params + m->off_c;
    float *x = r->scratch + (long)thread * r->scr_floats, *ts = x + 3 * SMAX, *y0 = ts + SMAX, *sig = y0 + SMAX;
    float *wt = sig + SMAX, *F = wt + SMAX, *phi = F + SMAX * D, *wsel = phi + SMAX * K, *ys = wsel + SMAX;
    float *Fs = ys + SMAX * NERF_OUT, *col = Fs + SMAX * D;
    int *sel = (int *)(col + 3 * SMAX);
    fast_ray *rs = (fast_ray *)(sel + SMAX);
    double *ph = c->phase + (long)thread * NERF_PH_N, t0 = gnf_now(), t1;
#define LAP(k) do { t1 = gnf_now(); ph[k] += t1 - t0; t0 = t1; } while (0)
    const int tx = (int)(task % c->tiles_x), ty = (int)(task / c->tiles_x);
    const int px0 = tx * FAST_TW, py0 = ty * FAST_TH;
    const int tw = GNF_MIN(FAST_TW, cam->w - px0), th = GNF_MIN(FAST_TH, cam->h - py0), nr = tw * th;
    const float odt = r->sp.dt * r->sp.dscale;
    float dts[FAST_ROUND];
    for (int i = 0; i < FAST_ROUND; i++) dts[i] = odt;
    const int colour_phi = K <= FAST_PHI_MAX_K && K <= 64;
    long ev = 0;
    int live = 0;
    for (int j = 0; j < nr; j++) {
        fast_ray *q = &rs[j];
        pixel_ray(cam, &r->lens, (float)(px0 + j % tw) + 0.5f, (float)(py0 + j / tw) + 0.5f, q->o, q->d);
        inverse_dir(q->d, q->inv);
        float e0;  /* the lattice starts where the ray enters the occupied cells' bounding box */
        q->alive = gnf_nerf_ray_aabb(q->o, q->d, r->sp.lo, r->sp.hi, &e0, &q->t1);
        q->tstart = e0 + 0.5f * r->sp.dt;
        q->li = 0;
        q->T = 1.0f;
        q->C[0] = q->C[1] = q->C[2] = q->dep = 0;
        q->has_m = q->term = 0;
        q->round = FAST_ROUND;
        q->clast[0] = q->clast[1] = q->clast[2] = 1.0f;
        q->tlast = 0;
        live += q->alive;
    }
    while (live > 0) {
        long n = 0;
        for (int j = 0; j < nr; j++) {
            fast_ray *q = &rs[j];
            q->len = q->nsel = 0;
            if (!q->alive) continue;
            q->start = n;
#if FAST_MARCH_REF
            float tref = q->tstart + (float)q->li * r->sp.dt;
            q->len = gnf_nerf_march(&r->sp, q->o, q->d, &tref, q->t1, FAST_ROUND, x + 3 * n, ts + n);
            q->li = (long)lrintf((tref - q->tstart) / r->sp.dt);
#else
            q->len = gnf_nerf_march_fast(&r->sp, r->cdist, q->o, q->d, q->inv, q->tstart, &q->li, NULL, q->t1, q->round,
                                         x + 3 * n, ts + n);
#endif
            if (q->len == 0) { q->alive = 0; live--; }
            n += q->len;
        }
        LAP(NERF_PH_MARCH);
        if (n == 0) break;
        ev += n;
        /* the batch padded to a multiple of 8 with copies of its last point: the fast lookup
         * takes groups of 8 (the rest would go through the scalar reference; same results) */
        const long n8 = (n + 7) & ~7L;
        for (long i = n; i < n8; i++) memcpy(x + 3 * i, x + 3 * (n - 1), 3 * sizeof(float));
        if (r->grid16) gnf_grid_encode_h(F, m, r->grid16, x, n8);
        else gnf_grid_encode(F, m, m->params, x, n8);
        LAP(NERF_PH_LOOKUP);
        gnf_kernels_rbf(K)->rbf_phi(phi, y0, F, cc, r->beta, r->bc2, r->cst, W, w0[0], n, D, K, m->cfg.basis);
        gnf_nerf_density_n(sig, y0, n);
        LAP(NERF_PH_DECODE);
        long ns = 0;
        for (int j = 0; j < nr; j++) {
            fast_ray *q = &rs[j];
            if (!q->len) continue;
            float Tend;
            long used = gnf_nerf_weights(wt + q->start, &Tend, sig + q->start, dts, q->len, FAST_TMIN / q->T);
            q->s0 = ns;
            for (long i = q->start; i < q->start + used; i++) {
                float w = wt[i] * q->T;
                if (w > COLOUR_W) { sel[ns] = (int)i; wsel[ns++] = w; }
            }
            q->nsel = ns - q->s0;
            q->T *= Tend;
            if (FAST_ROUND_NEXT > 0) q->round = FAST_ROUND_NEXT;
            else if (FAST_ROUND_NEXT < 0) {   /* ln(T / FAST_TMIN) / tau_last samples to go */
                float tau = sig[q->start + used - 1] * odt, need = logf(q->T / FAST_TMIN);
                q->round = tau * FAST_ROUND > need ? GNF_MAX(1, GNF_MIN(FAST_ROUND, (int)(need / tau) + 2)) : FAST_ROUND;
            }
            if (used < q->len || q->T < FAST_TMIN) { q->alive = 0; live--; q->term = 1; }
        }
        LAP(NERF_PH_COMPOSITE);
        if (!colour_phi) {   /* wide decoders: the 49 outputs of the selected samples */
            for (long s = 0; s < ns; s++) memcpy(Fs + s * D, F + (long)sel[s] * D, sizeof(float) * (size_t)D);
            gnf_rbf_forward(ys, Fs, cc, r->beta, W, w0, ns, D, K, NERF_OUT, m->cfg.basis);
        }
        for (int j = 0; j < nr; j++) {   /* colours of each ray's selected samples, then their sums */
            fast_ray *q = &rs[j];
            if (!q->nsel) continue;
            float Y16[16];
            if (colour_phi) {
                if (!q->has_m) {
                    gnf_nerf_sh16(Y16, q->d);
                    gnf_nerf_sh_matrix(q->M, q->b, W, w0, K, Y16);
                    q->has_m = 1;
                }
                gnf_nerf_colour_phi(col + 3 * q->s0, q->M, q->b, phi, sel + q->s0, q->nsel, K);
            } else {
                gnf_nerf_sh16(Y16, q->d);
                for (long s = q->s0; s < q->s0 + q->nsel; s++) gnf_nerf_sh_colour(col + 3 * s, ys + s * NERF_OUT, Y16);
            }
            for (long s = q->s0; s < q->s0 + q->nsel; s++) {
                for (int a = 0; a < 3; a++) q->C[a] += wsel[s] * col[3 * s + a];
                q->dep += wsel[s] * ts[sel[s]];
            }
            memcpy(q->clast, col + 3 * (q->s0 + q->nsel - 1), sizeof q->clast);
            q->tlast = ts[sel[q->s0 + q->nsel - 1]];
        }
        LAP(NERF_PH_DECODE);
    }
    for (int j = 0; j < nr; j++) {
        const fast_ray *q = &rs[j];
        long i = (long)(py0 + j / tw) * cam->w + px0 + j % tw;
        /* a terminated ray's rest is taken as absorbed at its last sample: colour, depth and
         * opacity alike */
        const int tail = FAST_TAIL && q->term;
        const float *tc = tail ? q->clast : k_bg;
        for (int a = 0; a < 3; a++) c->rgb[3 * i + a] = q->C[a] + q->T * tc[a];
        if (c->depth) c->depth[i] = tail ? q->dep + q->T * q->tlast : q->dep;
        if (c->opac) c->opac[i] = tail ? 1.0f : 1.0f - q->T;
    }
    LAP(NERF_PH_COMPOSITE);
#undef LAP
    c->evals[task] = ev;
}

static gnf_status check_nerf_model(const gnf_model *m) {
    if (m->task != GNF_TASK_NERF || m->cfg.in_dim != 3 || m->cfg.out_dim != NERF_OUT)
        return gnf_fail(GNF_ERR_INVALID, "not a radiance-field model (task nerf, 3 inputs, %d outputs)", NERF_OUT);
    if (m->cfg.decoder != GNF_DEC_RBF) return gnf_fail(GNF_ERR_UNSUPPORTED, "radiance fields need the RBF decoder");
    return GNF_OK;
}

/* The distance field from sp->occ: cells at Chebyshev distance r from the occupied set are found
 * by growing the set r times by one cell (a cube dilation: three passes along the axes), on bit
 * rows (G cells in ceil(G/64) words), so each growth costs a few thousand word operations.
 * Written into dist (gnf_nerf_dist_bytes, laid out by gnf_nerf_dist_at); gnf_nerf_distance_field
 * allocates it, training reuses one.
 * Each pass is a parallel loop over z slices (x and y growth within a slice, then z growth and
 * the newly reached cells); a function of the flags alone, the same at any thread count. */
typedef struct {
    const nerf_space *sp;
    unsigned char *dist;
    uint64_t *cur, *tmp, *tmp2;   /* the set so far; x then y grown; x, y, z grown */
    long *left;                   /* per slice: cells not reached yet */
    uint64_t last;                /* valid bits of a row's last word */
    int W, rad;
} dist_job;

/* Slice z: its bit rows from the flags, distance 0 or "not reached". */
static void dist_init_task(void *vctx, long z, int thread) {
    (void)thread;
    dist_job *dj = vctx;
    const int G = dj->sp->G, W = dj->W;
    long left = 0;
    for (int y = 0; y < G; y++) {
        const long r = z * G + y;
        const unsigned char *occ = dj->sp->occ + r * G;
        for (int k = 0; k < W; k++) {
            uint64_t bits = 0;
            for (int x = 64 * k; x < GNF_MIN(G, 64 * k + 64); x++) {
                const int o = occ[x] != 0;
                bits |= (uint64_t)o << (x - 64 * k);
                dj->dist[gnf_nerf_dist_at(x, y, (int)z, G)] = o ? 0 : NERF_DIST_CAP + 1;
                left += !o;
            }
            dj->cur[r * W + k] = bits;
        }
    }
    dj->left[z] = left;
}

/* Slice z grown by one cell along x (shifts with carries across words), then along y. */
static void dist_grow_xy_task(void *vctx, long z, int thread) {
    (void)thread;
    dist_job *dj = vctx;
    const int G = dj->sp->G, W = dj->W;
    for (long r = z * G; r < (z + 1) * G; r++) {
        const uint64_t *s = dj->cur + r * W;
        uint64_t *t = dj->tmp + r * W;
        for (int k = 0; k < W; k++) {
            uint64_t v = s[k] | s[k] << 1 | s[k] >> 1;
            if (k > 0) v |= s[k - 1] >> 63;
            if (k + 1 < W) v |= s[k + 1] << 63;
            t[k] = k + 1 < W ? v : v & dj->last;
        }
    }
    for (long y = 0; y < G; y++) {
        const uint64_t *s = dj->tmp + (z * G + y) * W, *sm = y > 0 ? s - W : s, *sp1 = y + 1 < G ? s + W : s;
        uint64_t *t = dj->tmp2 + (z * G + y) * W;
        for (int k = 0; k < W; k++) t[k] = s[k] | sm[k] | sp1[k];
    }
}

/* Slice z grown along z (from tmp2 of slices z - 1 .. z + 1) into tmp, and its cells reached
 * first at this radius. */
static void dist_grow_z_task(void *vctx, long z, int thread) {
    (void)thread;
    dist_job *dj = vctx;
    const int G = dj->sp->G, W = dj->W;
    const long slice = (long)G * W;
    long left = dj->left[z];
    for (long y = 0; y < G; y++) {
        const long row = z * G + y;
        const uint64_t *s = dj->tmp2 + row * W, *sm = z > 0 ? s - slice : s, *sp1 = z + 1 < G ? s + slice : s;
        uint64_t *t = dj->tmp + row * W;
        for (int k = 0; k < W; k++) {
            t[k] = s[k] | sm[k] | sp1[k];
            for (uint64_t fresh = t[k] & ~dj->cur[row * W + k]; fresh; fresh &= fresh - 1) {
                dj->dist[gnf_nerf_dist_at(k * 64 + __builtin_ctzll(fresh), (int)y, (int)z, G)] = (unsigned char)dj->rad;
                left--;
            }
        }
    }
    dj->left[z] = left;
}

static gnf_status distance_fill(const nerf_space *sp, unsigned char *dist, int threads) {
    const int G = sp->G, W = (G + 63) / 64;
    const long nw = (long)G * G * W;
    dist_job dj = {sp, dist, gnf_calloc((size_t)nw, sizeof(uint64_t)), gnf_calloc((size_t)nw, sizeof(uint64_t)),
                   gnf_calloc((size_t)nw, sizeof(uint64_t)), calloc((size_t)G, sizeof(long)),
                   G % 64 ? ((uint64_t)1 << (G % 64)) - 1 : ~(uint64_t)0, W, 0};
    gnf_status st = GNF_OK;
    if (!dj.cur || !dj.tmp || !dj.tmp2 || !dj.left) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory"); goto done; }
    gnf_parallel_for(G, threads, dist_init_task, &dj);
    for (dj.rad = 1; dj.rad <= NERF_DIST_CAP; dj.rad++) {
        long left = 0;
        for (int z = 0; z < G; z++) left += dj.left[z];
        if (left == 0) break;
        gnf_parallel_for(G, threads, dist_grow_xy_task, &dj);
        gnf_parallel_for(G, threads, dist_grow_z_task, &dj);
        uint64_t *sw = dj.cur; dj.cur = dj.tmp; dj.tmp = sw;
    }
done:
    gnf_free(dj.cur);
    gnf_free(dj.tmp);
    gnf_free(dj.tmp2);
    free(dj.left);
    return st;
}

gnf_status gnf_nerf_distance_field(const nerf_space *sp, int threads, unsigned char **out) {
    unsigned char *dist = gnf_calloc((size_t)gnf_nerf_dist_bytes(sp->G), 1);
    *out = NULL;
    if (!dist) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    gnf_status st = distance_fill(sp, dist, threads);
    if (st != GNF_OK) gnf_free(dist);
    else *out = dist;
    return st;
}

/* The fast renderer's f16 copy of the grids (half the memory traffic of the lookups; the test
 * views' PSNR moves by a few thousandths of a dB: bench/README.md): *out stays NULL (lookups in
 * f32) when a grid value is out of f16's range. */
static gnf_status grids_f16(const gnf_model *m, uint16_t **out) {
    const int L = m->cfg.levels;
    const long n = m->grid_off[L - 1] + m->grid_size[L - 1];
    *out = NULL;
    uint16_t *h = gnf_calloc((size_t)n, sizeof(uint16_t));
    if (!h) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    for (long i = 0; i < n; i++) {
        h[i] = gnf_f32_to_f16(m->params[i]);
        if (!isfinite(gnf_f16_to_f32(h[i]))) {
            gnf_free(h);
            return GNF_OK;
        }
    }
    *out = h;
    return GNF_OK;
}

gnf_status gnf_nerf_renderer_create(const gnf_model *m, int threads, gnf_nerf_renderer **out) {
    *out = NULL;
    gnf_status st = check_nerf_model(m);
    if (st != GNF_OK) return st;
    double t0 = gnf_now();
    gnf_nerf_renderer *r = calloc(1, sizeof *r);
    if (!r) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    const char *e = getenv("GNF_NERF_REFERENCE");
    r->m = m;
    r->threads = threads;
    r->T = gnf_threads_resolve(threads);
    r->reference = e && *e && *e != '0';
    r->sp.box = meta_float(m, "gnf.nerf.box", 1.5f);
    r->sp.dt = meta_float(m, "gnf.nerf.step", step_of(r->sp.box, 0));
    r->sp.dscale = meta_float(m, "gnf.nerf.dist_scale", DIST_SCALE);
    if ((st = gnf_nerf_occupancy_load(m, &r->sp)) != GNF_OK) { free(r); return st; }
    const long DK = (long)m->D * m->cfg.rbf_k;
    r->beta = gnf_calloc((size_t)DK, sizeof(float));
    r->bc2 = gnf_calloc((size_t)DK, sizeof(float));
    r->cst = gnf_calloc((size_t)m->cfg.rbf_k, sizeof(float));
    if (!r->beta || !r->bc2 || !r->cst) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory"); goto fail; }
    if ((st = gnf_nerf_space_update_coarse(&r->sp, threads)) != GNF_OK) goto fail;
    gnf_rbf_beta(r->beta, m, m->params);
    gnf_rbf_expand(r->bc2, r->cst, m->params + m->off_c, r->beta, m->D, m->cfg.rbf_k);
    if (!r->reference) {
        r->scr_floats = fast_scratch_floats(m->D, m->cfg.rbf_k);
        r->scratch = gnf_calloc((size_t)r->T * (size_t)r->scr_floats, sizeof(float));
        if (!r->scratch) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory"); goto fail; }
        if ((st = gnf_nerf_distance_field(&r->sp, threads, &r->cdist)) != GNF_OK) goto fail;
        const char *e32 = getenv("GNF_NERF_GRID_F32");
        if (!(e32 && *e32 && *e32 != '0') && (st = grids_f16(m, &r->grid16)) != GNF_OK) goto fail;
    }
    r->setup_s = gnf_now() - t0;
    *out = r;
    return GNF_OK;
fail:
    gnf_nerf_renderer_free(r);
    return st;
}

void gnf_nerf_renderer_free(gnf_nerf_renderer *r) {
    if (!r) return;
    gnf_free(r->sp.occ);
    gnf_free(r->sp.coarse);
    gnf_free(r->beta);
    gnf_free(r->bc2);
    gnf_free(r->cst);
    gnf_free(r->cdist);
    gnf_free(r->grid16);
    gnf_free(r->scratch);
    free(r);
}

long gnf_nerf_renderer_phases(const gnf_nerf_renderer *r, double s[NERF_PH_N], double *setup_s, int *reference) {
    for (int k = 0; k < NERF_PH_N; k++) s[k] = r->phase[k];
    if (setup_s) *setup_s = r->setup_s;
    if (reference) *reference = r->reference;
    return r->frames;
}

gnf_status gnf_nerf_render(gnf_nerf_renderer *r, const gnf_camera *cam, gnf_image *rgb, gnf_image *depth,
                           gnf_image *opacity, double *samples) {
    memset(rgb, 0, sizeof *rgb);
    if (depth) memset(depth, 0, sizeof *depth);
    if (opacity) memset(opacity, 0, sizeof *opacity);
    if (!(cam->fx > 0) || !(cam->fy > 0)) return gnf_fail(GNF_ERR_INVALID, "camera focal lengths must be positive");
    gnf_status st = gnf_image_alloc(rgb, cam->w, cam->h, 3);
    if (st == GNF_OK && depth) st = gnf_image_alloc(depth, cam->w, cam->h, 1);
    if (st == GNF_OK && opacity) st = gnf_image_alloc(opacity, cam->w, cam->h, 1);
    if (st != GNF_OK) goto fail;
    long n = (long)cam->w * cam->h, ev = 0;
    double *ph = calloc((size_t)r->T * NERF_PH_N, sizeof(double));
    if (!ph) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory rendering"); goto fail; }
    if (r->reference) {
        field_view fv = {r->m, &r->sp, r->beta};
        ev = render_rays(&fv, cam, &r->lens, NULL, NULL, n, rgb->px, depth ? depth->px : NULL, opacity ? opacity->px : NULL, r->threads, ph);
    } else {
        const int tiles_x = (cam->w + FAST_TW - 1) / FAST_TW, tiles_y = (cam->h + FAST_TH - 1) / FAST_TH;
        const long ntask = (long)tiles_x * tiles_y;
        long *evs = calloc((size_t)ntask, sizeof(long));
        if (!evs) ev = -1;
        else {
            fast_ctx c = {r, cam, tiles_x, rgb->px, depth ? depth->px : NULL, opacity ? opacity->px : NULL, evs, ph};
            gnf_parallel_for(ntask, r->T, fast_task, &c);
            for (long i = 0; i < ntask; i++) ev += evs[i];
            free(evs);
        }
    }
    for (int t = 0; t < r->T; t++)
        for (int k = 0; k < NERF_PH_N; k++) r->phase[k] += ph[(long)t * NERF_PH_N + k];
    free(ph);
    if (ev < 0) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory rendering"); goto fail; }
    r->frames++;
    if (samples) *samples = (double)ev / (double)n;
    return GNF_OK;
fail:
    gnf_image_free(rgb);
    if (depth) gnf_image_free(depth);
    if (opacity) gnf_image_free(opacity);
    return st;
}

void gnf_nerf_orbit_camera(const gnf_camera *base, float azimuth, float elevation, float radius, gnf_camera *out) {
    *out = *base;
    float az = azimuth * 3.14159265f / 180.0f, el = elevation * 3.14159265f / 180.0f;
    float pos[3] = {radius * cosf(el) * cosf(az), radius * cosf(el) * sinf(az), radius * sinf(el)};
    float fwd[3] = {-pos[0] / radius, -pos[1] / radius, -pos[2] / radius};
    float up0[3] = {0, 0, 1};
    float right[3] = {fwd[1] * up0[2] - fwd[2] * up0[1], fwd[2] * up0[0] - fwd[0] * up0[2], fwd[0] * up0[1] - fwd[1] * up0[0]};
    float rn = sqrtf(right[0] * right[0] + right[1] * right[1] + right[2] * right[2]);
    if (rn < 1e-6f) { right[0] = 1; right[1] = 0; right[2] = 0; rn = 1; }
    for (int a = 0; a < 3; a++) right[a] /= rn;
    float up[3] = {right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2], right[0] * fwd[1] - right[1] * fwd[0]};
    for (int a = 0; a < 3; a++) {
        out->c2w[4 * a + 0] = right[a];
        out->c2w[4 * a + 1] = up[a];
        out->c2w[4 * a + 2] = -fwd[a];
        out->c2w[4 * a + 3] = pos[a];
    }
}

gnf_status gnf_nerf_model_camera(const gnf_model *m, gnf_camera *cam, float *radius) {
    memset(cam, 0, sizeof *cam);
    const char *s = gnf_model_get_meta(m, "gnf.nerf.camera");
    double v[7];
    if (!s || sscanf(s, "%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7 ||
        !(v[0] >= 1 && v[0] <= 32768 && v[1] >= 1 && v[1] <= 32768 && v[2] > 0 && v[3] > 0 && v[6] > 0))
        return gnf_fail(GNF_ERR_FORMAT, "the model has no valid training camera (gnf.nerf.camera)");
    cam->w = (int)v[0]; cam->h = (int)v[1];
    cam->fx = (float)v[2]; cam->fy = (float)v[3]; cam->cx = (float)v[4]; cam->cy = (float)v[5];
    cam->c2w[0] = cam->c2w[5] = cam->c2w[10] = 1;
    *radius = (float)v[6];
    return GNF_OK;
}

/* ---- training: the batch hooks of the shared loop (train.c) ----------------------------------- */

/* Held-out pixels: a regular grid of pixels in each of up to HELD_VIEWS views spread over the
 * held-out split, about `n` pixels in all.  Their PSNR is the mean of per-view PSNRs, as the
 * evaluation protocol averages over views (a PSNR of the pooled error would weigh the hardest
 * views more and read lower). */
#define HELD_VIEWS 4
typedef struct {
    long n, nv, per_view[HELD_VIEWS];
    float *ro, *rd, *gt, *out;
} heldout_set;

typedef struct {
    gnf_model *m;
    const gnf_scene *sc;
    const gnf_train_config *tc;
    nerf_space sp;
    unsigned char *cdist;         /* distance field of sp's occupied cells (gnf_nerf_dist_at), for gnf_nerf_march_fast */
    float *dens;                  /* G³ density estimates (running max with decay) */
    long S, Rmax, R, Rused, L;    /* sample capacity, ray capacity, rays this step, rays placed, live samples */
    long ra, rb;                  /* the rays [ra, rb) of Rused this process trains (data-parallel: its share) */
    long step;
    void *block;                  /* the buffers below (but the coarse flags and held-out set) */
    int T, D, K;
    const float *beta;            /* the step's precisions (from the loop) */
    float *obeta;                 /* precisions after the update, for occupancy and held-out */
    /* rays */
    float *ro, *rd, *rgt, *rt0, *rt1;
    long *rcnt, *roff, *rlive, *loff, *rli;   /* rli: lattice index of the ray's first sample */
    double *rsq;
    /* samples.  Slots (the ray's samples contiguous from roff[r]): dY, rgbs, yc.  Rows (in the
     * order the forward's rounds evaluated them; slot i of ray r is row srow[roff[r] + i]): x,
     * ts, F, Y (49 outputs) or, through the activations (phi_path), phi and the density row y0.
     * rcomp[r]: the ray's samples evaluated (all up to its termination, at most rcnt[r]).
     * The live ones are gathered into xl, Fl, dYl. */
    int phi_path;
    long SR;                      /* rows: S plus 8 of padding per ray block */
    long dys;                     /* dY's stride: NERF_RGB_DY (factored gradient) or NERF_OUT */
    float *x, *ts, *dts, *F, *Y, *dY;
    float *phi, *y0, *rgbs, *yc, *bc2, *cst;
    int *srow;
    long *rcomp;
    float *ycopy;                 /* per thread (49-output path): a ray's rows of Y, contiguous */
    float *xl, *Fl, *dYl;
    float scale;
    /* occupancy refresh */
    float *ox, *osig;
    double *osum;                 /* per block of OCC_BLOCK cells: its density sum */
    long onum;
    heldout_set ho;
} nerf_trainer;

static void trainer_setup(nerf_trainer *tr, gnf_model *m, const gnf_nerf_config *nc, const gnf_train_config *tc) {
    memset(tr, 0, sizeof *tr);
    tr->m = m;
    tr->tc = tc;
    tr->S = nc->samples_per_step > 0 ? nc->samples_per_step : (1L << 17);
    tr->Rmax = GNF_MAX(1024, tr->S / 2);
    tr->R = GNF_MIN(tr->Rmax, 4096);
    tr->sp.G = nc->occ_res;
    tr->T = gnf_threads_resolve(tc->threads);
    tr->D = m->D;
    tr->K = m->cfg.rbf_k;
    tr->onum = 1L << 18;
    /* the training forward through the activations, colour by the per-ray SH matrix (3K
     * multiply-adds a sample instead of 48K) for K <= 64 (the per-ray matrix on the stack) */
    tr->phi_path = tr->K <= 64;
    tr->SR = tr->S + 8 * ((tr->Rmax + RAY_BLOCK - 1) / RAY_BLOCK + 1);
    tr->dys = tr->phi_path ? NERF_RGB_DY : NERF_OUT;
}

/* The task's buffers: the allocation and the memory estimate both come from this list (at most
 * NERF_BUFS of them). */
#define NERF_BUFS 48
static int trainer_bufs(nerf_trainer *tr, gnf_buf *b) {
    const long S = tr->S, SR = tr->SR, Rm = tr->Rmax, D = tr->D, G3 = (long)tr->sp.G * tr->sp.G * tr->sp.G;
    int n = 0;
    b[n++] = GNF_BUF(tr->sp.occ, G3);
    b[n++] = GNF_BUF(tr->cdist, gnf_nerf_dist_bytes(tr->sp.G));
    b[n++] = GNF_BUF(tr->dens, G3);
    b[n++] = GNF_BUF(tr->obeta, D * tr->K);
    b[n++] = GNF_BUF(tr->ro, Rm * 3);
    b[n++] = GNF_BUF(tr->rd, Rm * 3);
    b[n++] = GNF_BUF(tr->rgt, Rm * 3);
    b[n++] = GNF_BUF(tr->rt0, Rm);
    b[n++] = GNF_BUF(tr->rt1, Rm);
    b[n++] = GNF_BUF(tr->rcnt, Rm + 1);
    b[n++] = GNF_BUF(tr->roff, Rm + 1);
    b[n++] = GNF_BUF(tr->rlive, Rm + 1);
    b[n++] = GNF_BUF(tr->loff, Rm + 1);
    b[n++] = GNF_BUF(tr->rli, Rm);
    b[n++] = GNF_BUF(tr->rsq, Rm);
    b[n++] = GNF_BUF(tr->x, SR * 3);
    b[n++] = GNF_BUF(tr->ts, SR);
    b[n++] = GNF_BUF(tr->dts, MAX_RAY_SAMPLES);
    b[n++] = GNF_BUF(tr->F, SR * D);
    b[n++] = GNF_BUF(tr->srow, S);
    b[n++] = GNF_BUF(tr->rcomp, Rm);
    const long P = tr->phi_path;
    b[n++] = GNF_BUF(tr->Y, (1 - P) * SR * NERF_OUT);
    b[n++] = GNF_BUF(tr->ycopy, (1 - P) * tr->T * MAX_RAY_SAMPLES * NERF_OUT);
    b[n++] = GNF_BUF(tr->phi, P * SR * tr->K);
    b[n++] = GNF_BUF(tr->y0, P * SR);
    b[n++] = GNF_BUF(tr->rgbs, P * S * 3);
    b[n++] = GNF_BUF(tr->yc, P * S * 4);
    b[n++] = GNF_BUF(tr->bc2, P * D * tr->K);
    b[n++] = GNF_BUF(tr->cst, P * tr->K);
    b[n++] = GNF_BUF(tr->dY, S * tr->dys);
    b[n++] = GNF_BUF(tr->xl, S * 3);
    b[n++] = GNF_BUF(tr->Fl, S * D);
    b[n++] = GNF_BUF(tr->dYl, S * (tr->phi_path ? 4 : NERF_OUT));
    b[n++] = GNF_BUF(tr->ox, tr->onum * 3);
    b[n++] = GNF_BUF(tr->osig, tr->onum);
    b[n++] = GNF_BUF(tr->osum, (G3 + OCC_BLOCK - 1) / OCC_BLOCK);
    assert(n <= NERF_BUFS);
    return n;
}

/* Bytes the task takes: its buffers, the coarse flags, the distance field's bit rows, the
 * held-out set and the per-thread scratch of density evaluation and rendering. */
static long task_bytes(nerf_trainer *tr, const gnf_nerf_config *nc) {
    gnf_buf b[NERF_BUFS];
    long G3 = (long)tr->sp.G * tr->sp.G * tr->sp.G;
    return (long)gnf_bufs_bytes(b, trainer_bufs(tr, b)) + G3 / 512 + 3 * (G3 / tr->sp.G) * ((tr->sp.G + 63) / 64) * 8 +
           nc->heldout_pixels * 12 * 4 +
           tr->T * (DENS_CHUNK * (tr->D + 1) + packet_scratch_floats(tr->D)) * 4;
}

/* What follows from the occupancy flags: the occupied box, the coarse flags, the distance field. */
static gnf_status trainer_space(nerf_trainer *tr) {
    gnf_status st = gnf_nerf_space_update_coarse(&tr->sp, tr->T);
    return st != GNF_OK ? st : distance_fill(&tr->sp, tr->cdist, tr->T);
}

/* New rays of block b and their sample counts, marched with gnf_nerf_march_fast over the
 * distance field from the ray's jittered start. */
static void ray_task(void *vctx, long b, int thread) {
    (void)thread;
    nerf_trainer *tr = vctx;
    long r0 = b * RAY_BLOCK, r1 = GNF_MIN(tr->R, r0 + RAY_BLOCK);
    gnf_rng rng;
    gnf_rng_seed(&rng, tr->tc->seed, ((uint64_t)tr->step << 24) ^ (uint64_t)b ^ 0x5a5a000000000000ull);
    for (long r = r0; r < r1; r++) {
        const gnf_view *v = &tr->sc->views[gnf_rng_below(&rng, (uint32_t)tr->sc->n)];
        uint32_t px = gnf_rng_below(&rng, (uint32_t)v->w), py = gnf_rng_below(&rng, (uint32_t)v->h);
        float jit = gnf_rng_uniform(&rng);
        gnf_view_ray(v, (float)px + 0.5f, (float)py + 0.5f, tr->ro + 3 * r, tr->rd + 3 * r);
        memcpy(tr->rgt + 3 * r, v->rgb + 3 * ((size_t)py * (size_t)v->w + px), 3 * sizeof(float));
        float t0, t1;
        if (!gnf_nerf_ray_aabb(tr->ro + 3 * r, tr->rd + 3 * r, tr->sp.lo, tr->sp.hi, &t0, &t1)) { t0 = 0; t1 = -1; }
        tr->rt0[r] = t0 + jit * tr->sp.dt;
        tr->rt1[r] = t1;
        float inv[3], run = 0.0f;
        long li = 0;
        inverse_dir(tr->rd + 3 * r, inv);
        /* the first sample alone, so that the forward starts there (past the empty space before it;
         * a sample found by classifying its cell, as the forward's first will be), then the rest */
        long n = gnf_nerf_march_fast(&tr->sp, tr->cdist, tr->ro + 3 * r, tr->rd + 3 * r, inv, tr->rt0[r], &li, &run, t1,
                                     1, NULL, NULL);
        tr->rli[r] = li - n;
        if (n)
            n += gnf_nerf_march_fast(&tr->sp, tr->cdist, tr->ro + 3 * r, tr->rd + 3 * r, inv, tr->rt0[r], &li, &run, t1,
                                     MAX_RAY_SAMPLES - 1, NULL, NULL);
        tr->rcnt[r] = n;
    }
}

/* The forward of block b's rays, in rounds: each live ray marches its next TRAIN_ROUND samples
 * (the lattice points the counting march found, from the index it recorded) into the block's
 * next rows, the round's rows are looked up and decoded together (padded to a multiple of 8
 * with copies of the last point: the fast lookup's groups), and each ray's transmittance is
 * carried through its new samples; a ray ends when it falls below NERF_TMIN or its samples run
 * out.  Block b's rows start at roff[its first ray] + 8 b, so blocks never share a row. */
static void forward_task(void *vctx, long b, int thread) {
    (void)thread;
    nerf_trainer *tr = vctx;
    gnf_model *m = tr->m;
    const int D = tr->D, K = tr->K;
    const long r0 = tr->ra + b * RAY_BLOCK, r1 = GNF_MIN(tr->rb, r0 + RAY_BLOCK);
    long li[RAY_BLOCK], done[RAY_BLOCK], seg[RAY_BLOCK], len[RAY_BLOCK];
    float T[RAY_BLOCK], inv[RAY_BLOCK][3], run[RAY_BLOCK];
    int live = 0;
    for (long r = r0; r < r1; r++) {
        long j = r - r0;
        li[j] = tr->rli[r];
        done[j] = 0;
        T[j] = 1.0f;
        run[j] = 0.0f;
        inverse_dir(tr->rd + 3 * r, inv[j]);
        live += tr->rcnt[r] > 0;
        tr->rcomp[r] = 0;
    }
    long row = tr->roff[r0] + 8 * b;
    while (live > 0) {
        long n = 0;
        for (long r = r0; r < r1; r++) {
            long j = r - r0, k = GNF_MIN(TRAIN_ROUND, tr->rcnt[r] - done[j]);
            len[j] = 0;
            if (tr->rcomp[r] || k <= 0) continue;
            seg[j] = n;
            len[j] = gnf_nerf_march_fast(&tr->sp, tr->cdist, tr->ro + 3 * r, tr->rd + 3 * r, inv[j], tr->rt0[r], &li[j],
                                         &run[j], tr->rt1[r], k, tr->x + 3 * (row + n), tr->ts + row + n);
            assert(len[j] == k);   /* the counting march's lattice points (the same runs carried) */
            for (long i = 0; i < len[j]; i++) tr->srow[tr->roff[r] + done[j] + i] = (int)(row + n + i);
            n += len[j];
        }
        const long n8 = (n + 7) & ~7L;
        for (long i = n; i < n8; i++) memcpy(tr->x + 3 * (row + i), tr->x + 3 * (row + n - 1), 3 * sizeof(float));
        gnf_grid_encode(tr->F + row * D, m, m->params, tr->x + 3 * row, n8);
        const float *y0;
        long ys;
        if (tr->phi_path) {
            gnf_kernels_rbf(K)->rbf_phi(tr->phi + row * K, tr->y0 + row, tr->F + row * D, m->params + m->off_c, tr->beta,
                                        tr->bc2, tr->cst, m->params + m->off_W, m->params[m->off_w0], n, D, K,
                                        m->cfg.basis);
            y0 = tr->y0 + row;
            ys = 1;
        } else {
            gnf_rbf_forward(tr->Y + row * NERF_OUT, tr->F + row * D, m->params + m->off_c, tr->beta, m->params + m->off_W,
                            m->params + m->off_w0, n, D, K, NERF_OUT, m->cfg.basis);
            y0 = tr->Y + row * NERF_OUT;
            ys = NERF_OUT;
        }
        for (long r = r0; r < r1; r++) {
            long j = r - r0;
            if (!len[j]) continue;
            gnf_nerf_transmit(&T[j], y0 + seg[j] * ys, ys, tr->dts, len[j], NERF_TMIN);
            done[j] += len[j];
            if (T[j] < NERF_TMIN || done[j] == tr->rcnt[r]) {
                tr->rcomp[r] = done[j];
                live--;
            }
        }
        row += n;
    }
}

static void composite_task(void *vctx, long b, int thread) {
    nerf_trainer *tr = vctx;
    long r0 = tr->ra + b * RAY_BLOCK, r1 = GNF_MIN(tr->rb, r0 + RAY_BLOCK);
    for (long r = r0; r < r1; r++) {
        /* the samples the forward evaluated: compositing stops where it stopped (or at the end) */
        const long o = tr->roff[r], n = tr->rcomp[r];
        const int *rows = tr->srow + o;
        float Y16[16];
        gnf_nerf_sh16(Y16, tr->rd + 3 * r);
        nerf_ray_result res;
        if (tr->phi_path) {
            const gnf_model *m = tr->m;
            float M[3 * 64], b3[3], *yc = tr->yc + 4 * o, *rgb = tr->rgbs + 3 * o;
            gnf_nerf_sh_matrix(M, b3, m->params + m->off_W, m->params + m->off_w0, tr->K, Y16);
            gnf_nerf_colour_phi(rgb, M, b3, tr->phi, rows, n, tr->K);
            for (long i = 0; i < n; i++) {
                yc[4 * i] = tr->y0[rows[i]];
                memcpy(yc + 4 * i + 1, rgb + 3 * i, 3 * sizeof(float));
            }
            tr->rsq[r] = gnf_nerf_composite_backward_rgb(tr->dY + o * tr->dys, tr->dys, &res, yc, 4, Y16, tr->dts, NULL,
                                                         n, k_bg, tr->rgt + 3 * r, tr->scale, NERF_TMIN);
        } else {
            float *y = tr->ycopy + (long)thread * MAX_RAY_SAMPLES * NERF_OUT;
            for (long i = 0; i < n; i++) memcpy(y + i * NERF_OUT, tr->Y + (long)rows[i] * NERF_OUT, NERF_OUT * sizeof(float));
            tr->rsq[r] = gnf_nerf_composite_backward(tr->dY + o * tr->dys, tr->dys, &res, y, NERF_OUT, Y16, tr->dts, NULL,
                                                     n, k_bg, tr->rgt + 3 * r, tr->scale, NERF_TMIN);
        }
        tr->rlive[r] = res.n_used;
    }
}

static void gather_task(void *vctx, long b, int thread) {
    (void)thread;
    nerf_trainer *tr = vctx;
    const int D = tr->D;
    long r0 = tr->ra + b * RAY_BLOCK, r1 = GNF_MIN(tr->rb, r0 + RAY_BLOCK);
    for (long r = r0; r < r1; r++) {
        long o = tr->roff[r], lo = tr->loff[r], n = tr->rlive[r];
        const int *rows = tr->srow + o;
        for (long i = 0; i < n; i++) {
            memcpy(tr->xl + 3 * (lo + i), tr->x + 3 * (long)rows[i], 3 * sizeof(float));
            memcpy(tr->Fl + (lo + i) * D, tr->F + (long)rows[i] * D, sizeof(float) * (size_t)D);
        }
        if (tr->phi_path)   /* the factored gradient: dL/dy0 and dL/dz_c */
            for (long i = 0; i < n; i++) memcpy(tr->dYl + 4 * (lo + i), tr->dY + (o + i) * tr->dys, 4 * sizeof(float));
        else
            memcpy(tr->dYl + lo * NERF_OUT, tr->dY + o * NERF_OUT, sizeof(float) * (size_t)(NERF_OUT * n));
    }
}

/* The decoder's backward of live samples [i0, i0 + n) (phi_path): each ray's piece of the range
 * through gnf_nerf_head_backward with the ray's SH basis. */
static void nerf_decoder_backward(void *user, long i0, long n, float *dF, rbf_grads g) {
    nerf_trainer *tr = user;
    const gnf_model *m = tr->m;
    const int D = tr->D, K = tr->K;
    const float *W = m->params + m->off_W, *w0 = m->params + m->off_w0;
    long lo = tr->ra, hi = tr->rb;   /* the ray holding live sample i0: loff[r] <= i0 < loff[r + 1] */
    while (hi - lo > 1) {
        long mid = (lo + hi) / 2;
        if (tr->loff[mid] <= i0) lo = mid; else hi = mid;
    }
    for (long r = lo, i = i0; i < i0 + n; r++) {
        long e = GNF_MIN(tr->loff[r + 1], i0 + n), k = e - i;
        if (k <= 0) continue;
        float Y16[16];
        gnf_nerf_sh16(Y16, tr->rd + 3 * r);
        gnf_nerf_head_backward(dF + (i - i0) * D, g, tr->Fl + i * D, tr->dYl + 4 * i, m->params + m->off_c, tr->beta,
                               W, w0, k, D, K, m->cfg.basis, Y16);
        i = e;
    }
}

/* The step's batch: R rays marched through the occupancy grid, their samples' 49 outputs, volume
 * rendering against the pixels with its backward pass, and the samples that carried weight
 * (those before early termination) gathered contiguously with their dL/dy. */
static gnf_status nerf_batch(void *user, const gnf_step *s, gnf_batch *b) {
    nerf_trainer *tr = user;
    tr->step = s->step;
    tr->beta = s->beta;
    double tp = gnf_now(), tq;
#define PHASE(i) do { tq = gnf_now(); s->phase[i] += tq - tp; tp = tq; } while (0)
    long nb = (tr->R + RAY_BLOCK - 1) / RAY_BLOCK;
    gnf_parallel_for(nb, tr->T, ray_task, tr);
    /* offsets; rays past the sample budget wait for a later step */
    tr->roff[0] = 0;
    tr->Rused = tr->R;
    for (long r = 0; r < tr->R; r++) {
        if (tr->roff[r] + tr->rcnt[r] > tr->S) { tr->Rused = r; break; }
        tr->roff[r + 1] = tr->roff[r] + tr->rcnt[r];
    }
    long ns = tr->roff[tr->Rused];
    /* data-parallel (tc->parallel): every rank drew and counted all the step's rays above, the
     * same on each (the same parameters and occupancy); each marches, renders and trains a
     * contiguous share of them, and the loop sums the ranks' gradients */
    const gnf_parallel *par = tr->tc->parallel;
    tr->ra = par ? tr->Rused * par->rank / par->ranks : 0;
    tr->rb = par ? tr->Rused * (par->rank + 1) / par->ranks : tr->Rused;
    const long nmine = tr->roff[tr->rb] - tr->roff[tr->ra];
    PHASE(0);
    if (tr->phi_path) gnf_rbf_expand(tr->bc2, tr->cst, tr->m->params + tr->m->off_c, tr->beta, tr->D, tr->K);
    long nbu = (tr->rb - tr->ra + RAY_BLOCK - 1) / RAY_BLOCK;
    gnf_parallel_for(nbu, tr->T, forward_task, tr);
    PHASE(1);
    tr->scale = 1.0f / (3.0f * (float)GNF_MAX(1, tr->Rused));
    gnf_parallel_for(nbu, tr->T, composite_task, tr);
    PHASE(2);
    tr->loff[tr->ra] = 0;
    for (long r = tr->ra; r < tr->rb; r++) tr->loff[r + 1] = tr->loff[r] + tr->rlive[r];
    tr->L = tr->loff[tr->rb];
    gnf_parallel_for(nbu, tr->T, gather_task, tr);
    PHASE(3);
#undef PHASE
    double sq = 0;
    for (long r = tr->ra; r < tr->rb; r++) sq += tr->rsq[r];
    /* next step's ray count: aim at the sample budget from this step's samples per ray */
    double spr = tr->Rused > 0 ? (double)ns / (double)tr->Rused : 1.0;
    long R = (long)((double)tr->S / GNF_MAX(1.0, spr) * 0.9);
    tr->R = GNF_MAX(256, GNF_MIN(tr->Rmax, R));
    *b = (gnf_batch){tr->L, tr->xl, tr->Fl, tr->dYl, sq / (3.0 * (double)GNF_MAX(1, tr->Rused)), (double)nmine};
    return GNF_OK;
}

/* Occupancy refresh: density at a random point of every cell in the subset (all cells, or those
 * with index % OCC_SUBSETS == phase), kept as max(0.95 · old, new); occupied where above
 * min(threshold of alpha OCC_ALPHA in one step, mean density).  The mean is summed in blocks of
 * OCC_BLOCK cells, each block in order and the blocks in order, so it does not depend on the
 * thread count; the loops over cells run in parallel blocks. */
typedef struct {
    nerf_trainer *tr;
    long j0, cnt, stride, phase;   /* the batch of the subset being applied */
    float thr;
} occ_job;

/* Block k of the batch: the new densities into the running estimates. */
static void occ_apply_task(void *vctx, long k, int thread) {
    (void)thread;
    occ_job *oj = vctx;
    nerf_trainer *tr = oj->tr;
    for (long j = k * OCC_BLOCK; j < GNF_MIN(oj->cnt, (k + 1) * OCC_BLOCK); j++) {
        long cell = (oj->j0 + j) * oj->stride + oj->phase;
        float old = tr->dens[cell] * 0.95f;
        tr->dens[cell] = tr->osig[j] > old ? tr->osig[j] : old;
    }
}

/* Block k of the grid: its density sum. */
static void occ_sum_task(void *vctx, long k, int thread) {
    (void)thread;
    occ_job *oj = vctx;
    const nerf_trainer *tr = oj->tr;
    const long G3 = (long)tr->sp.G * tr->sp.G * tr->sp.G;
    double sum = 0;
    for (long i = k * OCC_BLOCK; i < GNF_MIN(G3, (k + 1) * OCC_BLOCK); i++) sum += tr->dens[i];
    tr->osum[k] = sum;
}

/* Block k of the grid: its flags. */
static void occ_flag_task(void *vctx, long k, int thread) {
    (void)thread;
    occ_job *oj = vctx;
    nerf_trainer *tr = oj->tr;
    const long G3 = (long)tr->sp.G * tr->sp.G * tr->sp.G;
    for (long i = k * OCC_BLOCK; i < GNF_MIN(G3, (k + 1) * OCC_BLOCK); i++) tr->sp.occ[i] = tr->dens[i] > oj->thr;
}

static gnf_status occupancy_update(nerf_trainer *tr, int all) {
    const long G3 = (long)tr->sp.G * tr->sp.G * tr->sp.G, nblk = (G3 + OCC_BLOCK - 1) / OCC_BLOCK;
    const long stride = all ? 1 : OCC_SUBSETS, phase = all ? 0 : (tr->step / OCC_EVERY) % OCC_SUBSETS;
    const long ncell = all ? G3 : (G3 - phase + stride - 1) / stride;
    occ_job oj = {tr, 0, 0, stride, phase, 0};
    for (long j0 = 0; j0 < ncell; j0 += tr->onum) {     /* in batches of the buffer's size */
        long cnt = GNF_MIN(tr->onum, ncell - j0);
        gnf_rng rng;
        for (long j = 0; j < cnt; j++) {
            long cell = (j0 + j) * stride + phase;
            if (j % OCC_BLOCK == 0)
                gnf_rng_seed(&rng, tr->tc->seed, ((uint64_t)tr->step << 24) ^ (uint64_t)((j0 + j) / OCC_BLOCK) ^ 0x0cc0000000000000ull);
            long ix = cell % tr->sp.G, iy = (cell / tr->sp.G) % tr->sp.G, iz = cell / ((long)tr->sp.G * tr->sp.G);
            tr->ox[3 * j + 0] = ((float)ix + gnf_rng_uniform(&rng)) * 2.0f / (float)tr->sp.G - 1.0f;
            tr->ox[3 * j + 1] = ((float)iy + gnf_rng_uniform(&rng)) * 2.0f / (float)tr->sp.G - 1.0f;
            tr->ox[3 * j + 2] = ((float)iz + gnf_rng_uniform(&rng)) * 2.0f / (float)tr->sp.G - 1.0f;
        }
        gnf_status st = density_at(tr->m, tr->obeta, tr->ox, cnt, tr->osig, tr->T);
        if (st != GNF_OK) return st;
        oj.j0 = j0;
        oj.cnt = cnt;
        gnf_parallel_for((cnt + OCC_BLOCK - 1) / OCC_BLOCK, tr->T, occ_apply_task, &oj);
    }
    gnf_parallel_for(nblk, tr->T, occ_sum_task, &oj);
    double mean = 0;
    for (long k = 0; k < nblk; k++) mean += tr->osum[k];
    mean /= (double)G3;
    oj.thr = OCC_ALPHA / (tr->sp.dt * tr->sp.dscale);
    if (mean < oj.thr) oj.thr = (float)mean;
    gnf_parallel_for(nblk, tr->T, occ_flag_task, &oj);
    return trainer_space(tr);
}

/* Every OCC_EVERY steps: every cell during the warm-up, a rotating sixteenth of them afterwards. */
static gnf_status nerf_after_step(void *user, const gnf_step *s) {
    nerf_trainer *tr = user;
    long done = s->step + 1;
    if (done % OCC_EVERY) return GNF_OK;
    gnf_rbf_beta(tr->obeta, tr->m, tr->m->params);
    return occupancy_update(tr, done <= OCC_WARMUP);
}

static gnf_status heldout_make(heldout_set *h, const gnf_scene *s, long n) {
    memset(h, 0, sizeof *h);
    if (!s || s->n == 0 || n <= 0) return GNF_OK;
    int nv = GNF_MIN(HELD_VIEWS, s->n);
    long cap = 0, stride[HELD_VIEWS];
    for (int k = 0; k < nv; k++) {
        const gnf_view *v = &s->views[(long)k * s->n / nv];
        double want = (double)n / nv;
        stride[k] = GNF_MAX(1, (long)floor(sqrt((double)v->w * v->h / want)));
        cap += ((v->w + stride[k] - 1) / stride[k]) * ((v->h + stride[k] - 1) / stride[k]);
    }
    h->ro = gnf_calloc((size_t)cap * 3, sizeof(float));
    h->rd = gnf_calloc((size_t)cap * 3, sizeof(float));
    h->gt = gnf_calloc((size_t)cap * 3, sizeof(float));
    h->out = gnf_calloc((size_t)cap * 3, sizeof(float));
    if (!h->ro || !h->rd || !h->gt || !h->out) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    long i = 0;
    for (int k = 0; k < nv; k++) {
        const gnf_view *v = &s->views[(long)k * s->n / nv];
        long i0 = i, st = stride[k];
        for (long py = st / 2; py < v->h; py += st)
            for (long px = st / 2; px < v->w; px += st, i++) {
                gnf_view_ray(v, (float)px + 0.5f, (float)py + 0.5f, h->ro + 3 * i, h->rd + 3 * i);
                memcpy(h->gt + 3 * i, v->rgb + 3 * ((size_t)py * (size_t)v->w + (size_t)px), 3 * sizeof(float));
            }
        h->per_view[k] = i - i0;
    }
    h->nv = nv;
    h->n = i;
    return GNF_OK;
}

/* The held-out PSNR (NAN without held-out views). */
static double nerf_quality(void *user, const gnf_model *m, int threads) {
    nerf_trainer *tr = user;
    heldout_set *h = &tr->ho;
    if (h->n == 0) return NAN;
    gnf_rbf_beta(tr->obeta, m, m->params);
    field_view fv = {m, &tr->sp, tr->obeta};
    if (render_rays(&fv, NULL, NULL, h->ro, h->rd, h->n, h->out, NULL, NULL, threads, NULL) < 0) return NAN;
    double sum = 0;
    long off = 0;
    for (int k = 0; k < h->nv; k++) {
        double p = gnf_psnr(h->out + 3 * off, h->gt + 3 * off, 3 * h->per_view[k]);
        sum += isfinite(p) ? p : 100.0;
        off += h->per_view[k];
    }
    return sum / h->nv;
}

static double nerf_estimate(void *user, double loss, double sq, long n) {
    (void)user; (void)sq; (void)n;
    return loss > 0 ? -10.0 * log10(loss) : INFINITY;
}

/* What rendering needs, recorded before the loop's training metadata. */
static gnf_status nerf_finish(void *user, gnf_model *m) {
    nerf_trainer *tr = user;
    gnf_meta_num(m, "gnf.nerf.box", tr->sp.box, 9);
    gnf_meta_num(m, "gnf.nerf.step", tr->sp.dt, 9);
    gnf_meta_num(m, "gnf.nerf.dist_scale", tr->sp.dscale, 9);
    if (tr->sc->has_box) { /* the file's world position of the model's origin (gnf_nerf_scene_box) */
        char cb[128];
        snprintf(cb, sizeof cb, "%.9g,%.9g,%.9g", (double)tr->sc->center[0], (double)tr->sc->center[1],
                 (double)tr->sc->center[2]);
        gnf_model_set_meta(m, "gnf.nerf.center", cb);
    }
    const gnf_view *v = &tr->sc->views[0];
    double rad = 0;
    for (int i = 0; i < tr->sc->n; i++) {
        const float *M = tr->sc->views[i].c2w;
        rad += sqrt((double)M[3] * M[3] + (double)M[7] * M[7] + (double)M[11] * M[11]);
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g", v->w, v->h, (double)v->fx, (double)v->fy,
             (double)v->cx, (double)v->cy, rad / tr->sc->n);
    gnf_model_set_meta(m, "gnf.nerf.camera", buf);
    return gnf_nerf_occupancy_store(m, &tr->sp);
}

/* What the task carries between steps: the density estimates and occupancy flags of the
 * refreshes, and the ray count the next step plans from the last one's samples per ray.  The
 * coarse flags and the occupied box follow from the flags (nerf_state_restored); the ray and
 * occupancy streams are keyed by (seed, step). */
static int nerf_state(void *user, gnf_state_item *it) {
    nerf_trainer *tr = user;
    const long G3 = (long)tr->sp.G * tr->sp.G * tr->sp.G;
    it[0] = GNF_STATE("nerf.density", tr->dens, G3, GNF_STATE_F32, GNF_STATE_BOTH);
    it[1] = GNF_STATE("nerf.occupancy", tr->sp.occ, G3, GNF_STATE_U8, GNF_STATE_BOTH);
    it[2] = GNF_STATE("nerf.rays", &tr->R, 1, GNF_STATE_LONG, GNF_STATE_BOTH);
    return 3;
}

static gnf_status nerf_state_restored(void *user) {
    nerf_trainer *tr = user;
    if (tr->R < 1 || tr->R > tr->Rmax) return gnf_fail(GNF_ERR_FORMAT, "checkpoint: ray count %ld out of range 1..%ld", tr->R, tr->Rmax);
    return trainer_space(tr);
}

/* The training views (pictures and cameras), the held-out pixels and the space's settings. */
static uint64_t nerf_fingerprint(void *user) {
    const nerf_trainer *tr = user;
    const double set[6] = {tr->sp.box, tr->sp.dt, tr->sp.dscale, tr->sp.G, (double)tr->S, (double)tr->ho.n};
    uint64_t h = gnf_train_hash(0, set, sizeof set);
    for (int i = 0; i < tr->sc->n; i++) {
        const gnf_view *v = &tr->sc->views[i];
        const float cam[6] = {(float)v->w, (float)v->h, v->fx, v->fy, v->cx, v->cy};
        h = gnf_train_hash(h, cam, sizeof cam);
        h = gnf_train_hash(h, v->c2w, sizeof v->c2w);
        h = gnf_train_hash(h, v->rgb, sizeof(float) * 3 * (size_t)v->w * (size_t)v->h);
    }
    h = gnf_train_hash(h, tr->ho.ro, sizeof(float) * 3 * (size_t)tr->ho.n);
    h = gnf_train_hash(h, tr->ho.rd, sizeof(float) * 3 * (size_t)tr->ho.n);
    return gnf_train_hash(h, tr->ho.gt, sizeof(float) * 3 * (size_t)tr->ho.n);
}

static void trainer_free(nerf_trainer *tr) {
    gnf_free(tr->block); gnf_free(tr->sp.coarse);
    gnf_free(tr->ho.ro); gnf_free(tr->ho.rd); gnf_free(tr->ho.gt); gnf_free(tr->ho.out);
}

static gnf_task_ops nerf_ops(nerf_trainer *tr, const gnf_nerf_config *nc) {
    gnf_task_ops ops = {.batch = nerf_batch, .capacity = tr->S, .after_step = nerf_after_step, .quality = nerf_quality,
                        .target = tr->tc->target_psnr, .estimate = nerf_estimate, .finish = nerf_finish,
                        .decoder_backward = tr->phi_path ? nerf_decoder_backward : NULL,
                        .loss_name = "mse-rgb", .lazy_grid_adam = 1, .warmup_steps = OCC_WARMUP + OCC_EVERY,
                        .state = nerf_state, .state_restored = nerf_state_restored, .fingerprint = nerf_fingerprint,
                        .user = tr, .extra_bytes = task_bytes(tr, nc)};
    return ops;
}

long gnf_fit_nerf_memory(const gnf_model *m, const gnf_nerf_config *nc, const gnf_train_config *tc) {
    nerf_trainer tr;
    trainer_setup(&tr, (gnf_model *)m, nc, tc);
    gnf_task_ops ops = nerf_ops(&tr, nc);
    return gnf_train_memory(m, tc, &ops);
}

gnf_status gnf_fit_nerf(gnf_model *m, const gnf_nerf_scene *train, const gnf_nerf_scene *heldout,
                        const gnf_nerf_config *nc, const gnf_train_config *tc, gnf_train_report *report) {
    gnf_status st = check_nerf_model(m);
    if (st != GNF_OK) return st;
    if (!train || train->s.n < 1) return gnf_fail(GNF_ERR_INVALID, "no training views");
    if (!(nc->box > 0) || nc->occ_res < 8 || nc->occ_res > 512 || nc->samples_per_step < 4096)
        return gnf_fail(GNF_ERR_INVALID, "radiance-field settings out of range (box > 0, occupancy 8..512, samples >= 4096)");
    for (int i = 0; i < train->s.n; i++)
        if (!train->s.views[i].rgb) return gnf_fail(GNF_ERR_INVALID, "training view %d has no pixels", i);
    nerf_trainer tr;
    trainer_setup(&tr, m, nc, tc);
    tr.sc = &train->s;
    tr.sp.box = nc->box;
    tr.sp.dt = step_of(nc->box, nc->step);
    tr.sp.dscale = DIST_SCALE;
    gnf_buf bufs[NERF_BUFS];
    if (!gnf_alloc_bufs(bufs, trainer_bufs(&tr, bufs), &tr.block))
        return gnf_fail(GNF_ERR_NOMEM, "out of memory allocating radiance-field training buffers (%ld bytes needed)",
                        gnf_fit_nerf_memory(m, nc, tc));
    if ((st = heldout_make(&tr.ho, heldout ? &heldout->s : NULL, nc->heldout_pixels)) != GNF_OK) goto done;
    memset(tr.sp.occ, 1, (size_t)tr.sp.G * tr.sp.G * tr.sp.G);
    if ((st = trainer_space(&tr)) != GNF_OK) goto done;
    for (int i = 0; i < MAX_RAY_SAMPLES; i++) tr.dts[i] = tr.sp.dt * tr.sp.dscale;
    gnf_task_ops ops = nerf_ops(&tr, nc);
    st = gnf_train(m, tc, &ops, report);
done:
    trainer_free(&tr);
    return st;
}

/* ---- evaluation ------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The mean of each scale x scale block of src (w*scale x h*scale, 3 channels) into dst (w x h). */
static void box_down(float *dst, const float *src, int w, int h, int scale) {
    const float inv = 1.0f / (float)(scale * scale);
    const long sw = (long)w * scale;
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float acc = 0;
                for (int v = 0; v < scale; v++)
                    for (int u = 0; u < scale; u++) acc += src[3 * ((y * scale + v) * sw + x * scale + u) + c];
                dst[3 * (y * w + x) + c] = acc * inv;
            }
}

gnf_status gnf_nerf_evaluate_scaled(const gnf_model *m, const gnf_nerf_scene *s, int max_views, int every, int scale,
                                    int threads, gnf_nerf_metrics *out) {
    memset(out, 0, sizeof *out);
    if (scale < 1 || scale > 8) return gnf_fail(GNF_ERR_INVALID, "render scale must be 1..8, got %d", scale);
    double t0 = gnf_now();
    gnf_nerf_renderer *r;
    gnf_status st = gnf_nerf_renderer_create(m, threads, &r);
    if (st != GNF_OK) return st;
    if (every < 1) every = 1;
    int n = (s->s.n + every - 1) / every;
    if (max_views > 0 && max_views < n) n = max_views;
    double *ft = calloc((size_t)GNF_MAX(1, n), sizeof(double));
    if (!ft) { gnf_nerf_renderer_free(r); return gnf_fail(GNF_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < n; i++)
        if (!s->s.views[i * every].rgb) {
            free(ft);
            gnf_nerf_renderer_free(r);
            return gnf_fail(GNF_ERR_INVALID, "%s: the scene was loaded without its pictures", s->s.json_path);
        }
    double ps = 0, ss = 0, spp = 0, ph0[NERF_PH_N], ph1[NERF_PH_N];
    /* warm-up: one frame not timed */
    for (int i = -1; i < n; i++) {
        gnf_camera cam;
        int vi = i < 0 ? 0 : i * every;
        gnf_nerf_scene_camera(s, vi, &cam);
        const int w = cam.w, h = cam.h;
        cam.w *= scale; cam.h *= scale;
        cam.fx *= (float)scale; cam.fy *= (float)scale; cam.cx *= (float)scale; cam.cy *= (float)scale;
        gnf_image img;
        if (i == 0) gnf_nerf_renderer_phases(r, ph0, NULL, NULL);
        r->lens.view = s->s.views[vi].distorted ? &s->s.views[vi] : NULL; /* the picture's own lens */
        r->lens.scale = (float)scale;
        double smp = 0, f0 = gnf_now();
        st = gnf_nerf_render(r, &cam, &img, NULL, NULL, &smp);
        r->lens.view = NULL;
        if (st != GNF_OK) break;
        if (i < 0) { gnf_image_free(&img); continue; }
        ft[i] = gnf_now() - f0;
        out->width = cam.w;
        out->height = cam.h;
        if (scale > 1) {   /* the pixel's mean over its scale x scale sub-pixels */
            box_down(img.px, img.px, w, h, scale);
            img.w = w;
            img.h = h;
        }
        gnf_image gt = {w, h, 3, (float *)s->s.views[vi].rgb};
        ps += gnf_psnr(img.px, gt.px, (long)w * h * 3);
        ss += gnf_ssim(&img, &gt);
        spp += smp;
        gnf_image_free(&img);
    }
    if (st == GNF_OK) {
        int T = gnf_threads_resolve(threads);
        gnf_nerf_renderer_phases(r, ph1, &out->setup_ms, NULL);
        out->setup_ms *= 1000.0;
        for (int k = 0; k < NERF_PH_N; k++) out->phase_ms[k] = 1000.0 * (ph1[k] - ph0[k]) / n / T;
        out->views = n;
        out->psnr = ps / n;
        out->ssim = ss / n;
        out->samples_per_pixel = spp / n;
        qsort(ft, (size_t)n, sizeof(double), cmp_double);
        out->ms_per_frame = 1000.0 * (n % 2 ? ft[n / 2] : 0.5 * (ft[n / 2 - 1] + ft[n / 2]));
        out->fps = out->ms_per_frame > 0 ? 1000.0 / out->ms_per_frame : 0;
        out->seconds = gnf_now() - t0;
    }
    free(ft);
    gnf_nerf_renderer_free(r);
    return st;
}

gnf_status gnf_nerf_evaluate(const gnf_model *m, const gnf_nerf_scene *s, int max_views, int every, int threads,
                             gnf_nerf_metrics *out) {
    return gnf_nerf_evaluate_scaled(m, s, max_views, every, 1, threads, out);
}

/* ---- density meshes --------------------------------------------------------------------------- */

typedef struct {
    const gnf_model *m;
    const float *beta;
    float invB;
    int threads;
    float *xn;
    long cap;
} mesh_field;

/* Marching-cubes callback: minus the density (so normals point out of dense regions). */
static int mesh_cb(void *user, const float *pts, long n, float *out) {
    mesh_field *mf = user;
    if (n > mf->cap) {
        gnf_free(mf->xn);
        mf->xn = gnf_calloc((size_t)n * 3, sizeof(float));
        mf->cap = mf->xn ? n : 0;
        if (!mf->xn) { gnf_fail(GNF_ERR_NOMEM, "out of memory"); return 1; }
    }
    for (long i = 0; i < 3 * n; i++) mf->xn[i] = fminf(1.0f, fmaxf(-1.0f, pts[i] * mf->invB));
    if (density_at(mf->m, mf->beta, mf->xn, n, out, mf->threads) != GNF_OK) return 1;
    for (long i = 0; i < n; i++) out[i] = -out[i];
    return 0;
}

gnf_status gnf_nerf_mesh_build(const gnf_model *m, int res, float iso, int threads, gnf_mesh *out) {
    memset(out, 0, sizeof *out);
    gnf_status st = check_nerf_model(m);
    if (st != GNF_OK) return st;
    if (!(iso > 0)) return gnf_fail(GNF_ERR_INVALID, "density level must be positive");
    float B = meta_float(m, "gnf.nerf.box", 1.5f);
    float *beta = gnf_calloc((size_t)m->D * (size_t)m->cfg.rbf_k, sizeof(float));
    if (!beta) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    gnf_rbf_beta(beta, m, m->params);
    mesh_field mf = {m, beta, 1.0f / B, threads, NULL, 0};
    gnf_mc_config mc = {{-B, -B, -B}, {B, B, B}, res, -iso, threads};
    st = gnf_marching_cubes(&mc, mesh_cb, &mf, out);
    gnf_free(mf.xn);
    gnf_free(beta);
    if (st != GNF_OK) return st;
    if (out->nf == 0) {
        gnf_mesh_free(out);
        return gnf_fail(GNF_ERR_INVALID, "no surface at density %g inside the scene box (nothing to mesh)", (double)iso);
    }
    st = gnf_nerf_mesh_colours(m, out, B, 2.0f * B / (float)(res - 1), meta_float(m, "gnf.nerf.dist_scale", DIST_SCALE),
                               threads);
    if (st != GNF_OK) gnf_mesh_free(out);
    return st;
}

gnf_status gnf_nerf_extract_mesh(const gnf_model *m, int res, float iso, const char *path, int threads,
                                 long *nv, long *nf) {
    gnf_mesh mesh;
    gnf_status st = gnf_nerf_mesh_build(m, res, iso, threads, &mesh);
    if (st != GNF_OK) return st;
    st = gnf_mesh_save(path, &mesh);
    if (nv) *nv = mesh.nv;
    if (nf) *nf = mesh.nf;
    gnf_mesh_free(&mesh);
    return st;
}
