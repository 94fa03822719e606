/* sdf.c — the signed-distance task: a mesh becomes a ground-truth pool (BVH closest point + sign
 * by ray parity or generalised winding number), the field is fitted to it with a relative loss,
 * and the fitted field is queried, meshed, rendered and measured in the mesh's own coordinates.
 *
 * Frame: normalised = (mesh - center) * scale, center = bounding-box centre, scale = 1.9 / diagonal
 * (docs/MODEL.md, "Signed distance fields").  Distances scale by `scale`, gradients are unchanged. */
#include "geom/bvh.h"
#include "geom/mcubes.h"
#include "geom/mesh.h"
#include "geom/occupancy.h"
#include "tasks/sdf_internal.h"
#include "tasks/train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELD_OUT 131072          /* points of the IoU used for --target-iou */
#define BLOCK 4096               /* samples per RNG stream when building pools */
#define FD_H 1e-4f               /* central-difference step (normalised frame) */
#define METRIC_SIGMA 0.01f       /* near-surface noise of the held-out and evaluation points: fixed,
                                    whatever --sigma the training pool uses */

struct gnf_sdf_target {
    gnf_mesh mesh;               /* normalised */
    gnf_bvh *bvh;
    double *cdf;                 /* cumulative face areas, for area-weighted surface samples */
    float *pts, *sdf;            /* the pool: n points and their signed distances */
    long n;
    float *hpts;                 /* held-out points and their occupancy (1 inside) */
    unsigned char *hin;
    gnf_sdf_config cfg;
    gnf_sdf_target_info info;
};

void gnf_sdf_config_default(gnf_sdf_config *c) {
    memset(c, 0, sizeof *c);
    c->samples = 1L << 21;
    c->mix = GNF_SDF_SAMPLES_NGP;
    c->sigma = 0.01f;
    c->sign = GNF_SIGN_AUTO;
    c->seed = 1;
}

/* ---- sampling ------------------------------------------------------------------------------ */

/* cdf[f] = total area of faces 0..f; returns the total area. */
static double area_cdf(const gnf_mesh *m, double *cdf) {
    double acc = 0;
    for (long f = 0; f < m->nf; f++) {
        const float *a = m->v + 3 * m->f[3 * f], *b = m->v + 3 * m->f[3 * f + 1], *c = m->v + 3 * m->f[3 * f + 2];
        double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double nx = e1[1] * e2[2] - e1[2] * e2[1], ny = e1[2] * e2[0] - e1[0] * e2[2], nz = e1[0] * e2[1] - e1[1] * e2[0];
        acc += 0.5 * sqrt(nx * nx + ny * ny + nz * nz);
        cdf[f] = acc;
    }
    return acc;
}

/* An area-weighted random point on the mesh surface and its face's unit normal (may be NULL). */
static void surface_point(const gnf_sdf_target *t, gnf_rng *r, float *p, float *nrm) {
    const gnf_mesh *m = &t->mesh;
    double u = (double)gnf_rng_uniform(r) * t->cdf[m->nf - 1];
    long lo = 0, hi = m->nf - 1;
    while (lo < hi) {
        long mid = (lo + hi) / 2;
        if (t->cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    const float *a = m->v + 3 * m->f[3 * lo], *b = m->v + 3 * m->f[3 * lo + 1], *c = m->v + 3 * m->f[3 * lo + 2];
    float r1 = sqrtf(gnf_rng_uniform(r)), r2 = gnf_rng_uniform(r);
    float wa = 1 - r1, wb = r1 * (1 - r2), wc = r1 * r2;
    for (int k = 0; k < 3; k++) p[k] = wa * a[k] + wb * b[k] + wc * c[k];
    if (nrm) {
        float e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        float n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
        float len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        for (int k = 0; k < 3; k++) nrm[k] = len > 0 ? n[k] / len : 0;
    }
}

/* Standard normal by Box–Muller (one of the pair). */
static float gauss(gnf_rng *r) {
    float u1 = gnf_rng_uniform(r), u2 = gnf_rng_uniform(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318531f * u2);
}

typedef struct {
    const gnf_sdf_target *t;
    float *pts;
    long n_surface, n_near, n_total;
    float sigma;
    uint64_t seed, stream;
} gen_ctx;

/* Points [n_surface) on the surface, [n_surface, n_surface + n_near) near it, the rest uniform. */
static void gen_task(void *vctx, long blk, int thread) {
    (void)thread;
    gen_ctx *g = vctx;
    gnf_rng r;
    gnf_rng_seed(&r, g->seed, g->stream + (uint64_t)blk);
    long i1 = GNF_MIN(g->n_total, (blk + 1) * BLOCK);
    for (long i = blk * BLOCK; i < i1; i++) {
        float *p = g->pts + 3 * i;
        if (i < g->n_surface + g->n_near) {
            surface_point(g->t, &r, p, NULL);
            if (i >= g->n_surface)
                for (int k = 0; k < 3; k++) p[k] += g->sigma * gauss(&r);
        } else {
            for (int k = 0; k < 3; k++) p[k] = 2 * gnf_rng_uniform(&r) - 1;
        }
    }
}

static void generate(const gnf_sdf_target *t, float *pts, long ns, long nn, long n, float sigma, uint64_t stream, int threads) {
    gen_ctx g = {t, pts, ns, nn, n, sigma, t->cfg.seed, stream};
    gnf_parallel_for((n + BLOCK - 1) / BLOCK, threads, gen_task, &g);
}

/* ---- ground truth --------------------------------------------------------------------------- */

typedef struct {
    const gnf_bvh *bvh;
    const float *pts;
    float *d;
    long n;
    int parity;
} sign_ctx;

/* Signs of a block of points: one ray's crossing parity (exact for closed meshes; the BVH
 * counts crossings through edges and vertices once) or the winding number. */
static void sign_task(void *vctx, long blk, int thread) {
    (void)thread;
    sign_ctx *c = vctx;
    const float dir[3] = {1.0f, 0.0f, 0.0f};
    long i1 = GNF_MIN(c->n, (blk + 1) * BLOCK);
    for (long i = blk * BLOCK; i < i1; i++) {
        const float *p = c->pts + 3 * i;
        int inside = c->parity ? (gnf_bvh_ray_crossings(c->bvh, p, dir) & 1) : gnf_bvh_winding(c->bvh, p) >= 0.5;
        if (inside) c->d[i] = -c->d[i];
    }
}

/* Exact signed distances of n points: batched closest-point distances, then signs. */
static void ground_truth(const gnf_bvh *b, const float *pts, long n, float *sdf, int parity, int threads) {
    gnf_bvh_distance(b, pts, n, sdf, threads);
    sign_ctx c = {b, pts, sdf, n, parity};
    gnf_parallel_for((n + BLOCK - 1) / BLOCK, threads, sign_task, &c);
}

/* ---- target ------------------------------------------------------------------------------- */

void gnf_sdf_target_free(gnf_sdf_target *t) {
    if (!t) return;
    gnf_mesh_free(&t->mesh);
    gnf_bvh_free(t->bvh);
    gnf_free(t->cdf);
    gnf_free(t->pts);
    gnf_free(t->sdf);
    gnf_free(t->hpts);
    gnf_free(t->hin);
    free(t);
}

void gnf_sdf_target_get_info(const gnf_sdf_target *t, gnf_sdf_target_info *info) { *info = t->info; }

gnf_status gnf_sdf_target_sdf(const gnf_sdf_target *t, const float *pts, long n, float *sdf, int threads) {
    if (n <= 0) return GNF_OK;
    float *x = gnf_calloc((size_t)n * 3, sizeof(float));
    if (!x) return gnf_fail(GNF_ERR_NOMEM, "out of memory for %ld ground-truth points", n);
    for (long i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) x[3 * i + k] = (pts[3 * i + k] - t->info.center[k]) * t->info.scale;
    ground_truth(t->bvh, x, n, sdf, !t->info.sign_by_winding, gnf_threads_resolve(threads));
    for (long i = 0; i < n; i++) sdf[i] /= t->info.scale;
    gnf_free(x);
    return GNF_OK;
}

void gnf_sdf_target_pool(const gnf_sdf_target *t, const float **points, const float **sdf, long *n) {
    *points = t->pts;
    *sdf = t->sdf;
    *n = t->n;
}

static gnf_status target_from_mesh(const char *name, gnf_mesh *mesh, const gnf_mesh_report *mrep,
                                   const gnf_sdf_config *c, gnf_sdf_target **out);

gnf_status gnf_sdf_target_create(const char *path, const gnf_sdf_config *c, gnf_sdf_target **out) {
    return target_from_mesh(path, NULL, NULL, c, out);
}

gnf_status gnf_sdf_target_create_from_memory(const void *data, size_t size, const char *name,
                                             const gnf_sdf_config *c, gnf_sdf_target **out) {
    gnf_mesh m;
    gnf_mesh_report r;
    gnf_status s = gnf_mesh_load_from_memory(data, size, name, &m, &r);
    if (s != GNF_OK) { *out = NULL; return s; }
    return target_from_mesh(name, &m, &r, c, out);
}

gnf_status gnf_sdf_target_create_from_arrays(const float *vertices, long nv, const int32_t *faces, long nf,
                                             const gnf_sdf_config *c, gnf_sdf_target **out) {
    gnf_mesh m;
    gnf_mesh_report r;
    gnf_status s = gnf_mesh_from_arrays(vertices, nv, faces, nf, "mesh arrays", &m, &r);
    if (s != GNF_OK) { *out = NULL; return s; }
    return target_from_mesh("mesh arrays", &m, &r, c, out);
}

/* A target from a loaded mesh (taken over: freed here on failure, owned by the target on
 * success), or from the file at name when mesh is NULL. */
static gnf_status target_from_mesh(const char *name, gnf_mesh *mesh, const gnf_mesh_report *mrep,
                                   const gnf_sdf_config *c, gnf_sdf_target **out) {
    *out = NULL;
    if (c->samples < 1024 || c->samples > (1L << 28)) {
        gnf_mesh_free(mesh);
        return gnf_fail(GNF_ERR_INVALID, "ground-truth samples %ld out of range 1024..2^28", c->samples);
    }
    gnf_sdf_target *t = calloc(1, sizeof *t);
    if (!t) { gnf_mesh_free(mesh); return gnf_fail(GNF_ERR_NOMEM, "out of memory"); }
    t->cfg = *c;
    int T = gnf_threads_resolve(c->threads);
    double t0 = gnf_now();
    gnf_mesh_report rep;
    memset(&rep, 0, sizeof rep);
    gnf_status st = mesh ? GNF_OK : gnf_mesh_load(name, &t->mesh, &rep);
    if (mesh) {
        t->mesh = *mesh;
        rep = *mrep;
        memset(mesh, 0, sizeof *mesh);
    }
    if (st != GNF_OK) { gnf_sdf_target_free(t); return st; }
    gnf_sdf_target_info *in = &t->info;
    in->vertices = t->mesh.nv;
    in->faces = t->mesh.nf;
    in->boundary_edges = rep.boundary_edges;
    in->non_manifold_edges = rep.non_manifold_edges;
    in->degenerate_faces = rep.degenerate_faces;
    in->dropped_faces = rep.dropped_faces;
    in->duplicate_vertices = rep.duplicate_vertices;
    in->polygons_triangulated = rep.polygons_triangulated;
    in->watertight = rep.boundary_edges == 0 && rep.non_manifold_edges == 0;
    /* normalise: bbox centre to 0, diagonal to 1.9 */
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (long i = 0; i < t->mesh.nv; i++)
        for (int k = 0; k < 3; k++) {
            lo[k] = fminf(lo[k], t->mesh.v[3 * i + k]);
            hi[k] = fmaxf(hi[k], t->mesh.v[3 * i + k]);
        }
    double diag = sqrt((double)(hi[0] - lo[0]) * (hi[0] - lo[0]) + (double)(hi[1] - lo[1]) * (hi[1] - lo[1]) +
                       (double)(hi[2] - lo[2]) * (hi[2] - lo[2]));
    if (!(diag > 0) || !isfinite(diag)) {
        gnf_sdf_target_free(t);
        return gnf_fail(GNF_ERR_FORMAT, "%s: the mesh has no extent (all vertices at one point)", name);
    }
    for (int k = 0; k < 3; k++) in->center[k] = 0.5f * (lo[k] + hi[k]);
    in->scale = (float)(1.9 / diag);
    for (long i = 0; i < t->mesh.nv; i++)
        for (int k = 0; k < 3; k++) t->mesh.v[3 * i + k] = (t->mesh.v[3 * i + k] - in->center[k]) * in->scale;
    in->load_s = gnf_now() - t0;
    t0 = gnf_now();
    if ((st = gnf_bvh_build(&t->mesh, &t->bvh)) != GNF_OK) {
        gnf_status s2 = gnf_fail(st, "%s: %s", name, gnf_last_error());
        gnf_sdf_target_free(t);
        return s2;
    }
    in->bvh_s = gnf_now() - t0;
    t0 = gnf_now();
    t->cdf = gnf_calloc((size_t)t->mesh.nf, sizeof(double));
    t->n = c->samples;
    t->pts = gnf_calloc((size_t)t->n * 3, sizeof(float));
    t->sdf = gnf_calloc((size_t)t->n, sizeof(float));
    t->hpts = gnf_calloc((size_t)HELD_OUT * 3, sizeof(float));
    t->hin = gnf_calloc((size_t)HELD_OUT, 1);
    float *hs = gnf_calloc((size_t)HELD_OUT, sizeof(float));
    if (!t->cdf || !t->pts || !t->sdf || !t->hpts || !t->hin || !hs) {
        gnf_free(hs);
        gnf_sdf_target_free(t);
        return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %ld ground-truth samples", name, c->samples);
    }
    double acc = area_cdf(&t->mesh, t->cdf);
    if (!(acc > 0)) {
        gnf_free(hs);
        gnf_sdf_target_free(t);
        return gnf_fail(GNF_ERR_FORMAT, "%s: the mesh has zero surface area", name);
    }
    int parity = c->sign == GNF_SIGN_PARITY || (c->sign == GNF_SIGN_AUTO && in->watertight);
    in->sign_by_winding = !parity;
    long ns, nn;
    if (c->uniform_frac > 0) { /* explicit: the non-uniform rest split 4:3 like the NGP mix */
        long nu = (long)(c->uniform_frac * (double)t->n);
        ns = (t->n - nu) * 4 / 7;
        nn = t->n - nu - ns;
    } else if (c->mix == GNF_SDF_SAMPLES_GNF) { ns = t->n / 8; nn = 0; }
    else { ns = t->n / 2; nn = t->n * 3 / 8; }
    generate(t, t->pts, ns, nn, t->n, c->sigma, 0, T);
    /* surface points are at distance 0 by construction; the rest get exact distances */
    ground_truth(t->bvh, t->pts + 3 * ns, t->n - ns, t->sdf + ns, parity, T);
    in->samples_s = gnf_now() - t0;
    in->samples_per_s = (double)(t->n - ns) / fmax(in->samples_s, 1e-9);
    /* held-out occupancy set: half near the surface, half uniform */
    generate(t, t->hpts, 0, HELD_OUT / 2, HELD_OUT, METRIC_SIGMA, 1u << 30, T);
    ground_truth(t->bvh, t->hpts, HELD_OUT, hs, parity, T);
    for (long i = 0; i < HELD_OUT; i++) t->hin[i] = hs[i] < 0;
    gnf_free(hs);
    *out = t;
    return GNF_OK;
}

/* ---- fitting -------------------------------------------------------------------------------- */

typedef struct {
    const gnf_sdf_target *t;
    gnf_loss loss;
    float *hy;   /* model output at the held-out points */
} sdf_task;

static void sdf_sample(void *user, long step, long chunk, gnf_rng *r, long n, float *x, float *t, float *w) {
    (void)step; (void)chunk;
    const sdf_task *st = user;
    const gnf_sdf_target *tg = st->t;
    const float eps = st->loss == GNF_LOSS_L2 ? 0.1f : 0.01f;
    /* all draws first, each pool point prefetched, then the reads (the pool, 16 bytes a point,
     * is far larger than the caches: one after another the reads wait for their misses) */
    uint32_t idx[GNF_TRAIN_CHUNK];
    for (long b = 0; b < n; b += GNF_TRAIN_CHUNK) {
        long nb = GNF_MIN(GNF_TRAIN_CHUNK, n - b);
        for (long q = 0; q < nb; q++) {
            idx[q] = gnf_rng_below(r, (uint32_t)tg->n);
            __builtin_prefetch(tg->pts + 3 * (size_t)idx[q]);
            __builtin_prefetch(tg->sdf + idx[q]);
        }
        for (long q = 0; q < nb; q++) {
            long p = b + q;
            uint32_t i = idx[q];
            x[3 * p] = tg->pts[3 * (size_t)i];
            x[3 * p + 1] = tg->pts[3 * (size_t)i + 1];
            x[3 * p + 2] = tg->pts[3 * (size_t)i + 2];
            t[p] = tg->sdf[i];
            w[p] = 1.0f / (fabsf(t[p]) + eps);
        }
    }
}

/* IoU of the occupancies (field < 0 vs ground truth) over a set of points. */
static double iou_of(const float *y, const unsigned char *in, long n) {
    long inter = 0, uni = 0;
    for (long i = 0; i < n; i++) {
        int a = y[i] < 0, b = in[i];
        inter += a & b;
        uni += a | b;
    }
    return uni ? (double)inter / (double)uni : 1.0;
}

static double sdf_quality(void *user, const gnf_model *m, int threads) {
    sdf_task *st = user;
    if (gnf_model_eval(m, st->t->hpts, HELD_OUT, st->hy, threads) != GNF_OK) return NAN;
    return iou_of(st->hy, st->t->hin, HELD_OUT);
}

/* The ground-truth pool and the held-out set: what a checkpoint must continue on (they follow
 * from the mesh and the pool's settings).  Sampling keeps no state between steps. */
static uint64_t sdf_fingerprint(void *user) {
    const gnf_sdf_target *t = ((const sdf_task *)user)->t;
    const int64_t n[2] = {t->n, HELD_OUT};
    uint64_t h = gnf_train_hash(0, n, sizeof n);
    h = gnf_train_hash(h, t->pts, sizeof(float) * 3 * (size_t)t->n);
    h = gnf_train_hash(h, t->sdf, sizeof(float) * (size_t)t->n);
    h = gnf_train_hash(h, t->hpts, sizeof(float) * 3 * (size_t)HELD_OUT);
    return gnf_train_hash(h, t->hin, (size_t)HELD_OUT);
}

long gnf_fit_sdf_memory(const gnf_model *m, const gnf_sdf_target *t, const gnf_train_config *tc) {
    gnf_task_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.lazy_grid_adam = 1;   /* as gnf_fit_sdf's */
    ops.quality = sdf_quality;
    ops.keep_best = 1;
    ops.extra_bytes = 4 * (t->n * 4 + HELD_OUT * 5 + t->mesh.nv * 3 + t->mesh.nf * 7) /* BVH approximate */;
    return gnf_train_memory(m, tc, &ops);
}

gnf_status gnf_fit_sdf(gnf_model *m, const gnf_sdf_target *t, const gnf_train_config *tc,
                       double target_iou, gnf_train_report *report) {
    if (m->cfg.in_dim != 3 || m->cfg.out_dim != 1 || m->task != GNF_TASK_SDF)
        return gnf_fail(GNF_ERR_INVALID, "an SDF needs a 3D model with one output (task sdf)");
    sdf_task st = {.t = t, .loss = tc->loss, .hy = gnf_calloc(HELD_OUT, sizeof(float))};
    if (!st.hy) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    gnf_task_ops ops = {.sample = sdf_sample, .weighted = 1, .quality = sdf_quality, .target = target_iou,
                        .loss_name = tc->loss == GNF_LOSS_L2 ? "rel-l2" : "rel-l1", .user = &st,
                        /* lazy: as good as dense Adam (IoU within 0.0001 at 700 and 3000 steps,
                         * bench/README.md "Step cost vs model size"), and large hash tables then
                         * cost what the batch touches */
                        .lazy_grid_adam = 1,
                        /* long budgets swing late (bench/README.md): keep the best check's model */
                        .keep_best = 1, .fingerprint = sdf_fingerprint};
    gnf_train_report rep;
    gnf_status s = gnf_train(m, tc, &ops, &rep);
    gnf_free(st.hy);
    if (s != GNF_OK) return s;
    char buf[128];
    snprintf(buf, sizeof buf, "%.9g,%.9g,%.9g", (double)t->info.center[0], (double)t->info.center[1], (double)t->info.center[2]);
    gnf_model_set_meta(m, "gnf.sdf.center", buf);
    gnf_meta_num(m, "gnf.sdf.scale", t->info.scale, 9);
    snprintf(buf, sizeof buf, "%.6f", rep.quality);
    gnf_model_set_meta(m, "gnf.train.iou", buf);
    if (report) *report = rep;
    return GNF_OK;
}

/* ---- queries in mesh coordinates ----------------------------------------------------------- */

/* The model's normalisation (defaults: identity for models without one). */
static void frame_of(const gnf_model *m, float c[3], float *scale) {
    c[0] = c[1] = c[2] = 0;
    *scale = 1;
    const char *cs = gnf_model_get_meta(m, "gnf.sdf.center"), *ss = gnf_model_get_meta(m, "gnf.sdf.scale");
    if (cs) {
        char *e;
        const char *p = cs;
        for (int k = 0; k < 3; k++) {
            double v = strtod(p, &e);
            if (e == p || !isfinite(v)) { c[0] = c[1] = c[2] = 0; break; }
            c[k] = (float)v;
            p = (*e == ',') ? e + 1 : e;
        }
    }
    if (ss) {
        double v = strtod(ss, NULL);
        if (isfinite(v) && v > 0) *scale = (float)v;
    }
}

/* Field values and central-difference gradients at n normalised points (dist n, grad n×3). */
static gnf_status eval_with_grad(const gnf_model *m, const float *x, long n, float *dist, float *grad, int threads) {
    const long CH = 32768;
    float *buf = gnf_calloc((size_t)CH * 7 * 3, sizeof(float)), *y = gnf_calloc((size_t)CH * 7, sizeof(float));
    if (!buf || !y) { gnf_free(buf); gnf_free(y); return gnf_fail(GNF_ERR_NOMEM, "out of memory"); }
    gnf_status st = GNF_OK;
    for (long i0 = 0; i0 < n && st == GNF_OK; i0 += CH) {
        long cnt = GNF_MIN(CH, n - i0), np = grad ? 7 : 1;
        for (long i = 0; i < cnt; i++)
            for (long j = 0; j < np; j++) {
                float *q = buf + 3 * (i * np + j);
                for (int k = 0; k < 3; k++) q[k] = x[3 * (i0 + i) + k];
                if (j > 0) q[(j - 1) / 2] += (j & 1) ? FD_H : -FD_H;
            }
        st = gnf_model_eval(m, buf, cnt * np, y, threads);
        for (long i = 0; i < cnt; i++) {
            dist[i0 + i] = y[i * np];
            if (grad)
                for (int k = 0; k < 3; k++) grad[3 * (i0 + i) + k] = (y[i * np + 1 + 2 * k] - y[i * np + 2 + 2 * k]) / (2 * FD_H);
        }
    }
    gnf_free(buf);
    gnf_free(y);
    return st;
}

gnf_status gnf_sdf_query(const gnf_model *m, const float *pts, long n, float *dist, float *grad, int threads) {
    if (m->cfg.in_dim != 3 || m->cfg.out_dim != 1) return gnf_fail(GNF_ERR_INVALID, "not an SDF model");
    float c[3], s;
    frame_of(m, c, &s);
    float *x = gnf_calloc((size_t)n * 3 + 3, sizeof(float));
    if (!x) return gnf_fail(GNF_ERR_NOMEM, "out of memory for %ld query points", n);
    for (long i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) x[3 * i + k] = (pts[3 * i + k] - c[k]) * s;
    gnf_status st = eval_with_grad(m, x, n, dist, grad, threads);
    for (long i = 0; i < n; i++) dist[i] /= s;
    gnf_free(x);
    return st;
}

/* ---- meshes ----------------------------------------------------------------------------------- */

/* A field to extract: values at n normalised points (a model, or the target's exact SDF). */
typedef gnf_status (*field_eval)(const void *src, const float *pts, long n, float *out, int threads);

static gnf_status model_field(const void *src, const float *pts, long n, float *out, int threads) {
    return gnf_model_eval(src, pts, n, out, threads);
}

/* The exact signed distance of a target (its normalised frame): what a perfect field would give. */
static gnf_status exact_field(const void *src, const float *pts, long n, float *out, int threads) {
    const gnf_sdf_target *t = src;
    ground_truth(t->bvh, pts, n, out, !t->info.sign_by_winding, threads);
    return GNF_OK;
}

/* Field evaluation for marching cubes, narrow-band: the field is first sampled on a coarse grid
 * (a quarter of the resolution per axis); a fine sample whose trilinear coarse estimate is
 * farther from zero than 1.5 coarse-cell diagonals keeps that estimate (only its sign matters to
 * marching cubes there), the others are evaluated exactly.  This skips ~95% of the evaluations of
 * a 512³ grid.  A surface feature thinner than the coarse spacing that the coarse samples miss
 * entirely would be lost; full evaluation is used below res 128. */
typedef struct {
    field_eval eval;
    const void *src;
    int threads;
    int cr;              /* coarse samples per axis (0: evaluate everything) */
    float *coarse;       /* cr³ values over [-1,1]³ */
    float margin;
    float *sel_pts, *sel_val;
    long *sel_idx;
    gnf_field_fn watch;  /* if set, shown every slice's values once they are complete */
    void *watch_user;
} mc_user;

/* The field at one slice of points (n), narrow-band as above, into out. */
static int mc_values(mc_user *u, const float *pts, long n, float *out) {
    if (!u->cr) return u->eval(u->src, pts, n, out, u->threads) != GNF_OK;
    const int cr = u->cr;
    const float sc = 0.5f * (float)(cr - 1);
    long ns = 0;
    for (long i = 0; i < n; i++) {
        const float *p = pts + 3 * i;
        int c[3];
        float w[3];
        for (int k = 0; k < 3; k++) {
            float q = (p[k] + 1.0f) * sc;
            q = q < 0 ? 0 : q > (float)(cr - 1) ? (float)(cr - 1) : q;
            int ci = (int)q;
            if (ci > cr - 2) ci = cr - 2;
            c[k] = ci;
            w[k] = q - (float)ci;
        }
        const float *g = u->coarse + ((long)c[2] * cr + c[1]) * cr + c[0];
        const long sy = cr, sz = (long)cr * cr;
        float v00 = g[0] + w[0] * (g[1] - g[0]), v10 = g[sy] + w[0] * (g[sy + 1] - g[sy]);
        float v01 = g[sz] + w[0] * (g[sz + 1] - g[sz]), v11 = g[sz + sy] + w[0] * (g[sz + sy + 1] - g[sz + sy]);
        float v0 = v00 + w[1] * (v10 - v00), v1 = v01 + w[1] * (v11 - v01);
        float v = v0 + w[2] * (v1 - v0);
        if (fabsf(v) > u->margin) out[i] = v;
        else {
            u->sel_idx[ns] = i;
            memcpy(u->sel_pts + 3 * ns, p, 3 * sizeof(float));
            ns++;
        }
    }
    if (ns && u->eval(u->src, u->sel_pts, ns, u->sel_val, u->threads) != GNF_OK) return 1;
    for (long j = 0; j < ns; j++) out[u->sel_idx[j]] = u->sel_val[j];
    return 0;
}

/* gnf_field_fn for marching cubes: mc_values, then the slice shown to u->watch. */
static int mc_field(void *user, const float *pts, long n, float *out) {
    mc_user *u = user;
    if (mc_values(u, pts, n, out)) return 1;
    return u->watch ? u->watch(u->watch_user, pts, n, out) : 0;
}

/* Marching cubes of a field's zero level set over [-1,1]³ at res³, in the normalised frame; watch
 * (may be NULL) sees the field values of each z-slice in order (returning nonzero aborts). */
static gnf_status extract_normalised(field_eval eval, const void *src, int res, int threads, gnf_field_fn watch,
                                     void *watch_user, gnf_mesh *out) {
    gnf_mc_config mc = {{-1, -1, -1}, {1, 1, 1}, res, 0.0f, threads};
    mc_user u;
    memset(&u, 0, sizeof u);
    u.eval = eval;
    u.src = src;
    u.threads = threads;
    u.watch = watch;
    u.watch_user = watch_user;
    gnf_status st = GNF_OK;
    if (res >= 128) {
        u.cr = (res + 3) / 4;
        long nc = (long)u.cr * u.cr * u.cr, slice = (long)res * res;
        u.coarse = gnf_calloc((size_t)nc, sizeof(float));
        float *cp = gnf_calloc((size_t)u.cr * u.cr * 3, sizeof(float));
        u.sel_pts = gnf_calloc((size_t)slice * 3, sizeof(float));
        u.sel_val = gnf_calloc((size_t)slice, sizeof(float));
        u.sel_idx = gnf_calloc((size_t)slice, sizeof(long));
        if (!u.coarse || !cp || !u.sel_pts || !u.sel_val || !u.sel_idx) {
            st = gnf_fail(GNF_ERR_NOMEM, "out of memory for marching cubes at %d^3", res);
        } else {
            float h = 2.0f / (float)(u.cr - 1);
            u.margin = 1.5f * sqrtf(3.0f) * h;
            for (int k = 0; k < u.cr && st == GNF_OK; k++) {
                for (int j = 0; j < u.cr; j++)
                    for (int i = 0; i < u.cr; i++) {
                        float *q = cp + 3 * ((long)j * u.cr + i);
                        q[0] = -1 + h * (float)i;
                        q[1] = -1 + h * (float)j;
                        q[2] = -1 + h * (float)k;
                    }
                st = eval(src, cp, (long)u.cr * u.cr, u.coarse + (long)k * u.cr * u.cr, threads);
            }
        }
        gnf_free(cp);
    }
    if (st == GNF_OK) st = gnf_marching_cubes(&mc, mc_field, &u, out);
    else memset(out, 0, sizeof *out);
    gnf_free(u.coarse);
    gnf_free(u.sel_pts);
    gnf_free(u.sel_val);
    gnf_free(u.sel_idx);
    return st;
}

gnf_status gnf_sdf_mesh_build(const gnf_model *m, int res, int threads, gnf_mesh *out) {
    memset(out, 0, sizeof *out);
    if (m->cfg.in_dim != 3 || m->cfg.out_dim != 1) return gnf_fail(GNF_ERR_INVALID, "not an SDF model");
    gnf_status st = extract_normalised(model_field, m, res, threads, NULL, NULL, out);
    if (st != GNF_OK) return st;
    float c[3], s;
    frame_of(m, c, &s);
    for (long i = 0; i < out->nv; i++)
        for (int k = 0; k < 3; k++) out->v[3 * i + k] = out->v[3 * i + k] / s + c[k];
    if (out->nf == 0) {
        gnf_mesh_free(out);
        return gnf_fail(GNF_ERR_INVALID, "the field has no zero level set inside its box (nothing to mesh)");
    }
    return GNF_OK;
}

gnf_status gnf_sdf_extract_mesh(const gnf_model *m, int res, const char *path, int threads, long *nv, long *nf) {
    gnf_mesh mesh;
    gnf_status st = gnf_sdf_mesh_build(m, res, threads, &mesh);
    if (st != GNF_OK) return st;
    st = gnf_mesh_save(path, &mesh);
    if (nv) *nv = mesh.nv;
    if (nf) *nf = mesh.nf;
    gnf_mesh_free(&mesh);
    return st;
}

/* ---- metrics --------------------------------------------------------------------------------- */

/* n (multiple of BLOCK) area-weighted points on mesh (normalised frame) of target-like sampler. */
static gnf_status sample_mesh_points(const gnf_mesh *mesh, long n, uint64_t seed, int threads, float *out) {
    gnf_sdf_target tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.mesh = *mesh;
    tmp.cdf = gnf_calloc((size_t)mesh->nf, sizeof(double));
    if (!tmp.cdf) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    area_cdf(mesh, tmp.cdf);
    tmp.cfg.seed = seed;
    generate(&tmp, out, n, 0, n, 0.0f, 7u << 28, threads);
    gnf_free(tmp.cdf);
    return GNF_OK;
}

#define GRID_IOU_MAX_RES 2048   /* the ground-truth bits of the grid IoU: 1 GiB at 2048^3 */

/* The grid IoU, accumulated one marching-cubes slice at a time: the field's values at the grid
 * points (field < 0, NaN outside) against the ground-truth bits of the same points. */
typedef struct {
    const uint8_t *occ;
    int res;
    long k;              /* the next slice */
    long inter, uni;
} grid_iou;

/* gnf_field_fn watching the slices of extract_normalised: counts slice k of res x res values. */
static int grid_iou_slice(void *user, const float *pts, long n, float *val) {
    (void)pts;
    grid_iou *g = user;
    const long res = g->res;
    if (n != res * res || g->k >= res) {
        gnf_fail(GNF_ERR_INVALID, "grid IoU: unexpected slice");
        return 1;
    }
    for (long j = 0; j < res; j++) {
        const uint8_t *row = g->occ + ((size_t)g->k * res + j) * gnf_occ_row_bytes(g->res);
        const float *v = val + j * res;
        for (long i = 0; i < res; i++) {
            int f = v[i] < 0, in = (row[i >> 3] >> (i & 7)) & 1;
            g->inter += f & in;
            g->uni += f | in;
        }
    }
    g->k++;
    return 0;
}

/* The ground-truth occupancy of t at the points of the marching-cubes grid of m (res^3 over m's
 * normalised box [-1,1]^3, mapped into t's normalised frame); *occ is gnf_occ_bytes(res) bytes
 * (free with gnf_free). */
static gnf_status grid_truth(const gnf_sdf_target *t, const float mc[3], float ms, int res, int threads, uint8_t **occ) {
    float lo[3], hi[3];
    for (int a = 0; a < 3; a++) {
        lo[a] = (float)((-1.0 / ms + mc[a] - t->info.center[a]) * t->info.scale);
        hi[a] = (float)((1.0 / ms + mc[a] - t->info.center[a]) * t->info.scale);
    }
    *occ = gnf_calloc(gnf_occ_bytes(res), 1);
    if (!*occ) return gnf_fail(GNF_ERR_NOMEM, "out of memory for the grid IoU at %d^3", res);
    return gnf_grid_occupancy(&t->mesh, t->bvh, lo, hi, res, !t->info.sign_by_winding, threads, *occ);
}

/* Chamfer-L1, F-score (tau 0.005) and the mesh-to-mesh normal angle of an extracted mesh ext
 * (the target's normalised frame) against the target's mesh, from NC points on each surface (a
 * multiple of BLOCK; the normal angle from NC points per direction too); pts (NC×3) and d (NC)
 * are scratch. */
#define NC_POINTS (1L << 20)
static gnf_status mesh_metrics(const gnf_sdf_target *t, const gnf_mesh *ext, long NC, float *pts, float *d, int T,
                               gnf_sdf_metrics *out) {
    gnf_bvh *ebvh = NULL;
    gnf_status st = gnf_bvh_build(ext, &ebvh);
    if (st != GNF_OK) return st;
    const float tau = 0.005f;
    double sum[2] = {0, 0};
    long hit[2] = {0, 0};
    for (int dir = 0; dir < 2; dir++) {
        /* dir 0: points on the extracted mesh, distance to ground truth; dir 1: the reverse */
        if ((st = sample_mesh_points(dir == 0 ? ext : &t->mesh, NC, t->cfg.seed + (uint64_t)dir, T, pts)) != GNF_OK) goto done;
        gnf_bvh_distance(dir == 0 ? t->bvh : ebvh, pts, NC, d, T);
        for (long i = 0; i < NC; i++) { sum[dir] += d[i]; hit[dir] += d[i] < tau; }
    }
    out->chamfer_l1 = 0.5 * (sum[0] / NC + sum[1] / NC);
    double prec = (double)hit[0] / NC, rec = (double)hit[1] / NC;
    out->fscore = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
    out->chamfer_points = NC;
    /* mesh-to-mesh normal angle, both directions */
    double ang[2];
    long used[2];
    if ((st = gnf_mesh_normal_angle(ext, &t->mesh, t->bvh, NC, t->cfg.seed + 11, T, &ang[0], &used[0])) != GNF_OK ||
        (st = gnf_mesh_normal_angle(&t->mesh, ext, ebvh, NC, t->cfg.seed + 12, T, &ang[1], &used[1])) != GNF_OK)
        goto done;
    out->nae_mesh_deg = 0.5 * (ang[0] + ang[1]);
    out->nae_mesh_points = used[0] + used[1];
done:
    gnf_bvh_free(ebvh);
    return st;
}

gnf_status gnf_sdf_evaluate_exact(const gnf_sdf_target *t, int mc_res, int threads, gnf_sdf_metrics *out) {
    return gnf_sdf_evaluate_exact_points(t, mc_res, NC_POINTS, threads, out);
}

gnf_status gnf_sdf_evaluate_exact_points(const gnf_sdf_target *t, int mc_res, long points, int threads,
                                         gnf_sdf_metrics *out) {
    memset(out, 0, sizeof *out);
    if (points < BLOCK || points > NC_POINTS || points % BLOCK)
        return gnf_fail(GNF_ERR_INVALID, "metric points %ld: not a multiple of %d in %d..%ld", points, BLOCK, BLOCK, NC_POINTS);
    out->iou = out->iou_uniform = out->iou_grid = out->nae_deg = NAN;
    if (mc_res < 2 || mc_res > 4096) return gnf_fail(GNF_ERR_INVALID, "marching-cubes resolution %d out of range 2..4096", mc_res);
    double t0 = gnf_now();
    int T = gnf_threads_resolve(threads);
    float *pts = gnf_calloc((size_t)points * 3, sizeof(float)), *d = gnf_calloc((size_t)points, sizeof(float));
    gnf_mesh ext = {0};
    gnf_status st = GNF_OK;
    if (!pts || !d) st = gnf_fail(GNF_ERR_NOMEM, "out of memory for evaluation");
    if (st == GNF_OK) st = extract_normalised(exact_field, t, mc_res, T, NULL, NULL, &ext);
    if (st == GNF_OK) {
        out->mc_res = mc_res;
        if (ext.nf == 0) { out->chamfer_l1 = INFINITY; out->fscore = 0; }
        else st = mesh_metrics(t, &ext, points, pts, d, T, out);
    }
    out->seconds = gnf_now() - t0;
    gnf_mesh_free(&ext);
    gnf_free(pts);
    gnf_free(d);
    return st;
}

gnf_status gnf_sdf_evaluate(const gnf_model *m, const gnf_sdf_target *t, int mc_res, int threads,
                            gnf_sdf_metrics *out) {
    memset(out, 0, sizeof *out);
    if (m->cfg.in_dim != 3 || m->cfg.out_dim != 1) return gnf_fail(GNF_ERR_INVALID, "not an SDF model");
    double t0 = gnf_now();
    int T = gnf_threads_resolve(threads);
    const long NI = 1L << 20, NN = 100352;   /* multiples of BLOCK */
    /* the model may have been fitted to the same mesh with another normalisation only if the mesh
     * differs; re-express the target's normalised points in the model's frame */
    float mc[3], ms;
    frame_of(m, mc, &ms);
    float tc_[3] = {t->info.center[0], t->info.center[1], t->info.center[2]}, ts = t->info.scale;
    float *pts = gnf_calloc((size_t)NI * 3, sizeof(float)), *gt = gnf_calloc((size_t)NI, sizeof(float));
    float *y = gnf_calloc((size_t)NI, sizeof(float)), *grad = gnf_calloc((size_t)NN * 3, sizeof(float));
    float *nrm = gnf_calloc((size_t)NN * 3, sizeof(float));
    unsigned char *in = gnf_calloc((size_t)NI, 1);
    gnf_status st = GNF_OK;
    gnf_mesh ext = {0};
    grid_iou gi = {NULL, mc_res, 0, 0, 0};
    uint8_t *occ = NULL;
    out->iou_grid = out->nae_mesh_deg = NAN;
    if (!pts || !gt || !y || !grad || !nrm || !in) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory for evaluation"); goto done; }
    /* to map target-normalised p to model-normalised q: mesh = p/ts + tc; q = (mesh - mc)*ms */
#define TO_MODEL(arr, cnt)                                                                          \
    for (long i_ = 0; i_ < (cnt); i_++)                                                             \
        for (int k_ = 0; k_ < 3; k_++) (arr)[3 * i_ + k_] = ((arr)[3 * i_ + k_] / ts + tc_[k_] - mc[k_]) * ms;
    /* IoU: half near the surface, half uniform */
    generate(t, pts, 0, NI / 2, NI, METRIC_SIGMA, 3u << 28, T);
    ground_truth(t->bvh, pts, NI, gt, !t->info.sign_by_winding, T);
    for (long i = 0; i < NI; i++) in[i] = gt[i] < 0;
    TO_MODEL(pts, NI);
    if ((st = gnf_model_eval(m, pts, NI, y, T)) != GNF_OK) goto done;
    out->iou = iou_of(y, in, NI);
    out->iou_uniform = iou_of(y + NI / 2, in + NI / 2, NI / 2);
    out->iou_points = NI;
    /* NAE: surface points with their face normals */
    {
        gnf_rng r;
        gnf_rng_seed(&r, t->cfg.seed, 5u << 28);
        for (long i = 0; i < NN; i++) surface_point(t, &r, pts + 3 * i, nrm + 3 * i);
        TO_MODEL(pts, NN);
        if ((st = eval_with_grad(m, pts, NN, y, grad, T)) != GNF_OK) goto done;
        double sum = 0;
        long cnt = 0;
        for (long i = 0; i < NN; i++) {
            const float *g = grad + 3 * i, *nn = nrm + 3 * i;
            double gl = sqrt((double)g[0] * g[0] + (double)g[1] * g[1] + (double)g[2] * g[2]);
            double nl = sqrt((double)nn[0] * nn[0] + (double)nn[1] * nn[1] + (double)nn[2] * nn[2]);
            if (!(gl > 0) || !(nl > 0)) continue;
            double cs = ((double)g[0] * nn[0] + (double)g[1] * nn[1] + (double)g[2] * nn[2]) / (gl * nl);
            cs = cs > 1 ? 1 : cs < -1 ? -1 : cs;
            sum += acos(cs) * 180.0 / M_PI;
            cnt++;
        }
        out->nae_deg = cnt ? sum / (double)cnt : NAN;
        out->nae_points = cnt;
    }
    /* Chamfer-L1 and F-score: marching cubes at mc_res, 1M points on each surface, point-to-surface
     * distances to the other mesh, in the target's normalised frame */
    if (mc_res >= 2) {
        /* grid IoU: the ground truth at the grid points first, then counted against the field's
         * values slice by slice as marching cubes evaluates them */
        if (mc_res <= GRID_IOU_MAX_RES && (st = grid_truth(t, mc, ms, mc_res, T, &occ)) != GNF_OK) goto done;
        gi.occ = occ;
        if ((st = extract_normalised(model_field, m, mc_res, T, occ ? grid_iou_slice : NULL, &gi, &ext)) != GNF_OK) goto done;
        out->mc_res = mc_res;
        if (occ) {
            out->iou_grid = gi.uni ? (double)gi.inter / (double)gi.uni : 1.0;
            out->iou_grid_res = mc_res;
        }
        if (ext.nf == 0) { out->chamfer_l1 = INFINITY; out->fscore = 0; goto done; }
        /* model-normalised -> target-normalised */
        for (long i = 0; i < ext.nv; i++)
            for (int k = 0; k < 3; k++) ext.v[3 * i + k] = ((ext.v[3 * i + k] / ms + mc[k]) - tc_[k]) * ts;
        if ((st = mesh_metrics(t, &ext, NC_POINTS, pts, gt, T, out)) != GNF_OK) goto done;
    }
#undef TO_MODEL
done:
    out->seconds = gnf_now() - t0;
    gnf_mesh_free(&ext);
    gnf_free(occ);
    gnf_free(pts); gnf_free(gt); gnf_free(y); gnf_free(grad); gnf_free(nrm); gnf_free(in);
    return st;
}

/* ---- sphere-traced preview -------------------------------------------------------------------- */

gnf_status gnf_sdf_render(const gnf_model *m, int w, int h, float azimuth, float elevation,
                          float distance, float fov, int threads, gnf_image *out) {
    memset(out, 0, sizeof *out);
    if (m->cfg.in_dim != 3 || m->cfg.out_dim != 1) return gnf_fail(GNF_ERR_INVALID, "not an SDF model");
    if (w < 1 || h < 1 || (long)w * h > (1L << 26)) return gnf_fail(GNF_ERR_INVALID, "render size %dx%d out of range", w, h);
    if (!(fov > 1 && fov < 170) || !(distance > 0)) return gnf_fail(GNF_ERR_INVALID, "bad camera (fov %g, distance %g)", (double)fov, (double)distance);
    gnf_status st = gnf_image_alloc(out, w, h, 3);
    if (st != GNF_OK) return st;
    const float deg = 3.14159265f / 180.0f;
    float az = azimuth * deg, el = elevation * deg;
    float eye[3] = {distance * cosf(el) * cosf(az), distance * sinf(el), distance * cosf(el) * sinf(az)};
    float fwd[3] = {-eye[0], -eye[1], -eye[2]};
    float fl = sqrtf(fwd[0] * fwd[0] + fwd[1] * fwd[1] + fwd[2] * fwd[2]);
    for (int k = 0; k < 3; k++) fwd[k] /= fl;
    float up0[3] = {0, 1, 0};
    float right[3] = {fwd[1] * up0[2] - fwd[2] * up0[1], fwd[2] * up0[0] - fwd[0] * up0[2], fwd[0] * up0[1] - fwd[1] * up0[0]};
    float rl = sqrtf(right[0] * right[0] + right[1] * right[1] + right[2] * right[2]);
    if (rl < 1e-6f) { right[0] = 1; right[1] = 0; right[2] = 0; rl = 1; }
    for (int k = 0; k < 3; k++) right[k] /= rl;
    float up[3] = {right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2], right[0] * fwd[1] - right[1] * fwd[0]};
    float tanh_ = tanf(0.5f * fov * deg);
    long n = (long)w * h;
    float *dir = gnf_calloc((size_t)n * 3, sizeof(float)), *tr = gnf_calloc((size_t)n, sizeof(float));
    float *tmax = gnf_calloc((size_t)n, sizeof(float)), *pos = gnf_calloc((size_t)n * 3, sizeof(float));
    float *d = gnf_calloc((size_t)n, sizeof(float)), *grad = gnf_calloc((size_t)n * 3, sizeof(float));
    long *act = gnf_calloc((size_t)n, sizeof(long));
    unsigned char *hit = gnf_calloc((size_t)n, 1);
    if (!dir || !tr || !tmax || !pos || !d || !grad || !act || !hit) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory rendering"); goto done; }
    long na = 0;
    for (long i = 0; i < h; i++)
        for (long j = 0; j < w; j++) {
            long p = i * w + j;
            float sx = (2 * ((float)j + 0.5f) / (float)w - 1) * tanh_ * (float)w / (float)h;
            float sy = (1 - 2 * ((float)i + 0.5f) / (float)h) * tanh_;
            float *dv = dir + 3 * p;
            for (int k = 0; k < 3; k++) dv[k] = fwd[k] + sx * right[k] + sy * up[k];
            float l = sqrtf(dv[0] * dv[0] + dv[1] * dv[1] + dv[2] * dv[2]);
            for (int k = 0; k < 3; k++) dv[k] /= l;
            /* clip to the box [-1,1]^3 */
            float t0 = 0, t1 = 1e30f;
            for (int k = 0; k < 3; k++) {
                float inv = 1.0f / dv[k];
                float a = (-1 - eye[k]) * inv, b = (1 - eye[k]) * inv;
                if (a > b) { float tmp = a; a = b; b = tmp; }
                t0 = fmaxf(t0, a);
                t1 = fminf(t1, b);
            }
            float *px = out->px + 3 * p;
            px[0] = px[1] = px[2] = 1.0f; /* white background */
            if (t0 < t1) { tr[p] = t0; tmax[p] = t1; act[na++] = p; }
        }
    /* sphere tracing, all live rays evaluated as one batch per iteration */
    for (int it = 0; it < 160 && na > 0; it++) {
        for (long a = 0; a < na; a++) {
            long p = act[a];
            for (int k = 0; k < 3; k++) pos[3 * a + k] = eye[k] + tr[p] * dir[3 * p + k];
        }
        if ((st = gnf_model_eval(m, pos, na, d, threads)) != GNF_OK) goto done;
        long keep = 0;
        for (long a = 0; a < na; a++) {
            long p = act[a];
            if (d[a] < 2e-4f) { hit[p] = 1; continue; }
            tr[p] += fmaxf(0.9f * d[a], 1e-4f);
            if (tr[p] < tmax[p]) act[keep++] = p;
        }
        na = keep;
    }
    /* shade hits: normal from the field's gradient */
    na = 0;
    for (long p = 0; p < n; p++)
        if (hit[p]) {
            for (int k = 0; k < 3; k++) pos[3 * na + k] = eye[k] + tr[p] * dir[3 * p + k];
            act[na++] = p;
        }
    if ((st = eval_with_grad(m, pos, na, d, grad, threads)) != GNF_OK) goto done;
    float light[3] = {0.4f * right[0] + 0.7f * up[0] - fwd[0], 0.4f * right[1] + 0.7f * up[1] - fwd[1], 0.4f * right[2] + 0.7f * up[2] - fwd[2]};
    float ll = sqrtf(light[0] * light[0] + light[1] * light[1] + light[2] * light[2]);
    for (long a = 0; a < na; a++) {
        long p = act[a];
        float *g = grad + 3 * a;
        float gl = sqrtf(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
        float lam = gl > 0 ? (g[0] * light[0] + g[1] * light[1] + g[2] * light[2]) / (gl * ll) : 0;
        float v = 0.15f + 0.8f * fmaxf(lam, 0.0f);
        float *px = out->px + 3 * p;
        px[0] = fminf(1, v * 0.85f);
        px[1] = fminf(1, v * 0.88f);
        px[2] = fminf(1, v * 0.95f);
    }
done:
    gnf_free(dir); gnf_free(tr); gnf_free(tmax); gnf_free(pos); gnf_free(d); gnf_free(grad); gnf_free(act); gnf_free(hit);
    if (st != GNF_OK) gnf_image_free(out);
    return st;
}

/* ---- slices ------------------------------------------------------------------------------------ */

/* Blue inside, orange outside, shaded in bands of SLICE_BAND (normalised units) so the distance's
 * growth is visible; the field's zero contour black; with a reference mesh its true contour green
 * and pixels of the wrong sign magenta. */
#define SLICE_BAND 0.05f

gnf_status gnf_sdf_render_slice(const gnf_model *m, int axis, float value, int w, int h, const gnf_sdf_target *ref,
                                int threads, gnf_image *out, double *wrong_frac) {
    memset(out, 0, sizeof *out);
    if (wrong_frac) *wrong_frac = NAN;
    if (m->cfg.in_dim != 3 || m->cfg.out_dim != 1) return gnf_fail(GNF_ERR_INVALID, "not an SDF model");
    if (axis < 0 || axis > 2) return gnf_fail(GNF_ERR_INVALID, "slice axis must be x, y or z");
    if (w < 2 || h < 2 || (long)w * h > (1L << 26)) return gnf_fail(GNF_ERR_INVALID, "slice size %dx%d out of range", w, h);
    gnf_status st = gnf_image_alloc(out, w, h, 3);
    if (st != GNF_OK) return st;
    const long n = (long)w * h;
    float c[3], s;
    frame_of(m, c, &s);
    /* image right and up: x-slice (y, z), y-slice (x, z), z-slice (x, y) */
    const int ua = axis == 0 ? 1 : 0, va = axis == 2 ? 1 : 2;
    float *x = gnf_calloc((size_t)n * 3, sizeof(float)), *d = gnf_calloc((size_t)n, sizeof(float));
    float *g = ref ? gnf_calloc((size_t)n, sizeof(float)) : NULL;
    if (!x || !d || (ref && !g)) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory rendering a slice"); goto done; }
    for (long i = 0; i < h; i++)
        for (long j = 0; j < w; j++) {
            float *p = x + 3 * (i * w + j);
            p[axis] = (value - c[axis]) * s;
            p[ua] = 2.0f * ((float)j + 0.5f) / (float)w - 1.0f;
            p[va] = 1.0f - 2.0f * ((float)i + 0.5f) / (float)h;
        }
    if ((st = gnf_model_eval(m, x, n, d, threads)) != GNF_OK) goto done;
    if (ref) {   /* the reference's own frame may differ from the model's: go through mesh units */
        for (long i = 0; i < 3 * n; i++) {
            int k = (int)(i % 3);
            x[i] = (x[i] / s + c[k] - ref->info.center[k]) * ref->info.scale;
        }
        gnf_bvh_sdf(ref->bvh, x, n, g, !ref->info.sign_by_winding, gnf_threads_resolve(threads));
    }
    long wrong = 0;
    for (long i = 0; i < h; i++)
        for (long j = 0; j < w; j++) {
            long p = i * w + j;
            float *px = out->px + 3 * p, v = d[p];
            float shade = 0.75f + 0.25f * cosf(6.2831853f * fabsf(v) / SLICE_BAND);
            float fade = expf(-2.0f * fabsf(v));
            static const float in_c[3] = {0.25f, 0.45f, 0.9f}, out_c[3] = {0.95f, 0.6f, 0.25f};
            const float *col = v < 0 ? in_c : out_c;
            for (int k = 0; k < 3; k++) px[k] = (col[k] * fade + 0.9f * (1 - fade)) * shade;
            /* a contour pixel has a 4-neighbour of the other sign */
            int field_edge = 0, true_edge = 0;
            const long nb[4][2] = {{i, j - 1}, {i, j + 1}, {i - 1, j}, {i + 1, j}};
            for (int e = 0; e < 4; e++) {
                if (nb[e][0] < 0 || nb[e][0] >= h || nb[e][1] < 0 || nb[e][1] >= w) continue;
                long q = nb[e][0] * w + nb[e][1];
                field_edge |= (d[q] < 0) != (v < 0);
                if (g) true_edge |= (g[q] < 0) != (g[p] < 0);
            }
            if (g && (g[p] < 0) != (v < 0)) {
                wrong++;
                px[0] = 0.9f; px[1] = 0.1f; px[2] = 0.8f;
            }
            if (true_edge) { px[0] = 0.1f; px[1] = 0.75f; px[2] = 0.2f; }
            if (field_edge) px[0] = px[1] = px[2] = 0.0f;
        }
    if (ref && wrong_frac) *wrong_frac = (double)wrong / (double)n;
done:
    gnf_free(x); gnf_free(d); gnf_free(g);
    if (st != GNF_OK) gnf_image_free(out);
    return st;
}
