/* occupancy.c — grid occupancy of a mesh (scanline parity or hierarchical winding numbers) and the
 * mesh-to-mesh normal angle; contracts in occupancy.h. */
#include "geom/occupancy.h"
#include "core/core.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Coordinate a of grid point i, as marching cubes computes it (in double, rounded to float). */
static float grid_coord(const float lo[3], const float hi[3], int res, int a, long i) {
    return (float)((double)lo[a] + ((double)hi[a] - (double)lo[a]) * (double)i / (res - 1));
}

static void set_bit(uint8_t *occ, int res, long i, long j, long k) {
    uint8_t *row = occ + ((size_t)k * (size_t)res + (size_t)j) * gnf_occ_row_bytes(res);
    row[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* ---- closed meshes: scanline parity ------------------------------------------------------------ */

typedef struct {
    const gnf_mesh *m;
    int res;
    const float *lo, *hi;
    int64_t *qv;            /* per vertex: fixed-point (y, z) */
    int64_t *qy, *qz;       /* per grid line index: fixed-point y_j, z_k */
    long *start;            /* res^2 + 1: crossings of line (j, k) are xs[start[l] .. start[l+1]) */
    long *fill;             /* res^2: crossings stored so far per line (NULL while counting) */
    double *xs;
    uint8_t *occ_bits;
} scan_ctx;

/* Side (+1 or -1) of the perturbed point (pu + e, pv + e^2) of the line through p -> q, 0 when p
 * and q coincide.  The endpoints are put in one canonical order first, so the two triangles of an
 * edge see the same answer whichever way they run along it. */
static int edge_side(const int64_t *p, const int64_t *q, int64_t pu, int64_t pv) {
    int flip = q[0] < p[0] || (q[0] == p[0] && q[1] < p[1]);
    if (flip) { const int64_t *t = p; p = q; q = t; }
    int64_t du = q[0] - p[0], dv = q[1] - p[1];
    if (du == 0 && dv == 0) return 0;
    int64_t e = du * (pv - p[1]) - dv * (pu - p[0]);
    /* e(P + (eps, eps^2)) = e - dv eps + du eps^2; canonical order: du > 0, or du == 0 and dv > 0 */
    int s = e > 0 ? 1 : e < 0 ? -1 : dv != 0 ? (dv > 0 ? -1 : 1) : 1;
    return flip ? -s : s;
}

/* Unperturbed twice-area of (p, q, P) in double (exact in int64 first). */
static double edge_value(const int64_t *p, const int64_t *q, int64_t pu, int64_t pv) {
    return (double)((q[0] - p[0]) * (pv - p[1]) - (q[1] - p[1]) * (pu - p[0]));
}

/* Every x-line crossing of triangle f: counted into start[] (fill == NULL) or stored into xs. */
static void scan_triangle(scan_ctx *c, long f) {
    const gnf_mesh *m = c->m;
    const int32_t *ix = m->f + 3 * f;
    const int64_t *A = c->qv + 2 * ix[0], *B = c->qv + 2 * ix[1], *C = c->qv + 2 * ix[2];
    const int res = c->res;
    long rng[2][2];
    for (int a = 0; a < 2; a++) {
        float mn = INFINITY, mx = -INFINITY;
        for (int v = 0; v < 3; v++) {
            float x = m->v[3 * ix[v] + 1 + a];
            mn = fminf(mn, x);
            mx = fmaxf(mx, x);
        }
        double h = ((double)c->hi[1 + a] - c->lo[1 + a]) / (res - 1);
        double l0 = floor((mn - c->lo[1 + a]) / h) - 1, l1 = ceil((mx - c->lo[1 + a]) / h) + 1;
        rng[a][0] = l0 < 0 ? 0 : (long)l0;
        rng[a][1] = l1 > res - 1 ? res - 1 : (long)l1;
    }
    for (long k = rng[1][0]; k <= rng[1][1]; k++)
        for (long j = rng[0][0]; j <= rng[0][1]; j++) {
            int64_t pu = c->qy[j], pv = c->qz[k];
            int s0 = edge_side(B, C, pu, pv), s1 = edge_side(C, A, pu, pv), s2 = edge_side(A, B, pu, pv);
            if (s0 == 0 || s0 != s1 || s1 != s2) continue;
            long line = k * res + j;
            if (!c->fill) { c->start[line]++; continue; }
            double wa = edge_value(B, C, pu, pv), wb = edge_value(C, A, pu, pv), wc = edge_value(A, B, pu, pv);
            double xa = m->v[3 * ix[0]], xb = m->v[3 * ix[1]], xc = m->v[3 * ix[2]], sum = wa + wb + wc;
            double x = sum != 0 ? (wa * xa + wb * xb + wc * xc) / sum : (xa + xb + xc) / 3;
            c->xs[c->start[line] + c->fill[line]++] = x;
        }
}

/* Task: the rows of slice k, each filled from its sorted crossings. */
static void scan_fill_task(void *vctx, long k, int thread) {
    (void)thread;
    scan_ctx *c = vctx;
    const int res = c->res;
    for (long j = 0; j < res; j++) {
        long l = k * res + j, n = c->start[l + 1] - c->start[l];
        if (!n) continue;
        double *x = c->xs + c->start[l];
        for (long a = 1; a < n; a++) /* insertion sort: a line crosses a mesh a few times */
            for (long b = a; b > 0 && x[b - 1] > x[b]; b--) { double t = x[b]; x[b] = x[b - 1]; x[b - 1] = t; }
        long below = 0;
        for (long i = 0; i < res; i++) {
            double xi = (double)grid_coord(c->lo, c->hi, res, 0, i);
            while (below < n && x[below] < xi) below++;
            if (below & 1) set_bit(c->occ_bits, res, i, j, k);
        }
    }
}

static gnf_status occupancy_scanline(const gnf_mesh *m, const float lo[3], const float hi[3], int res,
                                     int threads, uint8_t *occ) {
    scan_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.res = res;
    c.lo = lo;
    c.hi = hi;
    c.occ_bits = occ;
    long nl = (long)res * res;
    c.qv = gnf_calloc((size_t)m->nv * 2, sizeof(int64_t));
    c.qy = gnf_calloc((size_t)res * 2, sizeof(int64_t));
    c.start = gnf_calloc((size_t)nl + 1, sizeof(long));
    c.fill = NULL;
    long *fill = gnf_calloc((size_t)nl, sizeof(long));
    gnf_status st = GNF_OK;
    if (!c.qv || !c.qy || !c.start || !fill) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory for grid occupancy"); goto done; }
    c.qz = c.qy + res;
    /* fixed point: |y|, |z| of the mesh and the grid below 2^29 units, so the orientation
     * products (differences below 2^30) stay below 2^61 */
    double big = 0;
    for (int a = 1; a < 3; a++) big = fmax(big, fmax(fabs((double)lo[a]), fabs((double)hi[a])));
    for (long v = 0; v < m->nv; v++) big = fmax(big, fmax(fabs((double)m->v[3 * v + 1]), fabs((double)m->v[3 * v + 2])));
    int ex;
    frexp(big > 0 ? big : 1, &ex);
    double q = ldexp(1.0, 29 - ex);
    for (long v = 0; v < m->nv; v++)
        for (int a = 0; a < 2; a++) c.qv[2 * v + a] = llround(m->v[3 * v + 1 + a] * q);
    for (long i = 0; i < res; i++) {
        c.qy[i] = llround((double)grid_coord(lo, hi, res, 1, i) * q);
        c.qz[i] = llround((double)grid_coord(lo, hi, res, 2, i) * q);
    }
    for (long f = 0; f < m->nf; f++) scan_triangle(&c, f);
    long tot = 0;
    for (long l = 0; l < nl; l++) { long n = c.start[l]; c.start[l] = tot; tot += n; }
    c.start[nl] = tot;
    c.xs = gnf_calloc((size_t)(tot ? tot : 1), sizeof(double));
    if (!c.xs) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory for %ld grid-line crossings", tot); goto done; }
    c.fill = fill;
    for (long f = 0; f < m->nf; f++) scan_triangle(&c, f);
    gnf_parallel_for(res, threads, scan_fill_task, &c);
done:
    gnf_free(c.qv); gnf_free(c.qy); gnf_free(c.start); gnf_free(fill); gnf_free(c.xs);
    return st;
}

/* ---- any mesh: hierarchical winding numbers ---------------------------------------------------- */

#define WSTEP 8 /* coarse grid step (grid points) */

typedef struct {
    const gnf_bvh *b;
    const float *lo, *hi;
    int res, nc;            /* nc coarse points per axis: fine index min(c * WSTEP, res - 1) */
    const float *coarse;    /* nc^3 signed distances (negative inside) */
    float *cache;           /* per thread: one wind_cell cache */
    uint8_t *occ;
} wind_ctx;

/* One coarse cell being resolved by one thread. */
typedef struct {
    const wind_ctx *c;
    float *cache;           /* (WSTEP + 1)^3 values from grid point base, NaN until evaluated */
    long base[3];
    long own[3];            /* points with index < own[a] on every axis are this cell's to write */
} wind_cell;

static long coarse_index(int res, long c) { return GNF_MIN(c * WSTEP, (long)res - 1); }

/* Signed distance (negative inside by winding number) at grid point (i, j, k) of the cell, cached. */
static float wind_value(wind_cell *w, long i, long j, long k) {
    const long S = WSTEP + 1;
    float *v = w->cache + ((k - w->base[2]) * S + (j - w->base[1])) * S + (i - w->base[0]);
    if (isnan(*v)) {
        const wind_ctx *c = w->c;
        float p[3] = {grid_coord(c->lo, c->hi, c->res, 0, i), grid_coord(c->lo, c->hi, c->res, 1, j),
                      grid_coord(c->lo, c->hi, c->res, 2, k)};
        float d = gnf_bvh_closest(c->b, p, NULL, NULL);
        *v = gnf_bvh_winding(c->b, p) >= 0.5 ? -d : d;
    }
    return *v;
}

/* Writes the occupancy of the owned points of box [b0, b1] (grid indices, inclusive). */
static void wind_box(wind_cell *w, const long b0[3], const long b1[3]) {
    const wind_ctx *c = w->c;
    float v[8];
    int neg = 0;
    double far = 0, diag2 = 0;
    for (int q = 0; q < 8; q++) {
        v[q] = wind_value(w, q & 1 ? b1[0] : b0[0], q & 2 ? b1[1] : b0[1], q & 4 ? b1[2] : b0[2]);
        neg += signbit(v[q]) != 0;
        far = fmax(far, fabs((double)v[q]));
    }
    for (int a = 0; a < 3; a++) {
        double h = ((double)c->hi[a] - c->lo[a]) / (c->res - 1) * (double)(b1[a] - b0[a]);
        diag2 += h * h;
    }
    int leaf = b1[0] - b0[0] <= 1 && b1[1] - b0[1] <= 1 && b1[2] - b0[2] <= 1;
    if ((neg == 0 || neg == 8) && far * far > diag2) { /* no surface in the box: one sign */
        if (!neg) return;
        for (long k = b0[2]; k <= b1[2]; k++)
            for (long j = b0[1]; j <= b1[1]; j++)
                for (long i = b0[0]; i <= b1[0]; i++)
                    if (i < w->own[0] && j < w->own[1] && k < w->own[2]) set_bit(c->occ, c->res, i, j, k);
    } else if (leaf) {
        for (int q = 0; q < 8; q++) {
            long i = q & 1 ? b1[0] : b0[0], j = q & 2 ? b1[1] : b0[1], k = q & 4 ? b1[2] : b0[2];
            if (signbit(v[q]) && i < w->own[0] && j < w->own[1] && k < w->own[2]) set_bit(c->occ, c->res, i, j, k);
        }
    } else { /* halve every axis longer than one cell */
        long mid[3];
        for (int a = 0; a < 3; a++) mid[a] = b1[a] - b0[a] > 1 ? (b0[a] + b1[a]) / 2 : b1[a];
        for (int q = 0; q < 8; q++) {
            long s0[3], s1[3];
            int skip = 0;
            for (int a = 0; a < 3; a++) {
                int hi_half = (q >> a) & 1;
                if (hi_half && mid[a] == b1[a]) skip = 1; /* axis not split */
                s0[a] = hi_half ? mid[a] : b0[a];
                s1[a] = hi_half ? b1[a] : mid[a];
            }
            if (!skip) wind_box(w, s0, s1);
        }
    }
}

/* Task: every coarse cell of coarse slab ck. */
static void wind_task(void *vctx, long ck, int thread) {
    const wind_ctx *c = vctx;
    const long S = WSTEP + 1, nc = c->nc;
    wind_cell w = {c, c->cache + (long)thread * S * S * S, {0, 0, 0}, {0, 0, 0}};
    for (long cj = 0; cj + 1 < nc; cj++)
        for (long ci = 0; ci + 1 < nc; ci++) {
            long cc[3] = {ci, cj, ck}, b0[3], b1[3];
            for (int a = 0; a < 3; a++) {
                b0[a] = w.base[a] = coarse_index(c->res, cc[a]);
                b1[a] = coarse_index(c->res, cc[a] + 1);
                w.own[a] = cc[a] + 2 == nc ? b1[a] + 1 : b1[a];
            }
            for (long q = 0; q < S * S * S; q++) w.cache[q] = NAN;
            for (int q = 0; q < 8; q++) {
                long i = ci + (q & 1), j = cj + ((q >> 1) & 1), k = ck + ((q >> 2) & 1);
                long at = ((coarse_index(c->res, k) - b0[2]) * S + (coarse_index(c->res, j) - b0[1])) * S +
                          (coarse_index(c->res, i) - b0[0]);
                w.cache[at] = c->coarse[(k * nc + j) * nc + i];
            }
            wind_box(&w, b0, b1);
        }
}

static gnf_status occupancy_winding(const gnf_bvh *b, const float lo[3], const float hi[3], int res, int threads,
                                    uint8_t *occ) {
    wind_ctx c;
    memset(&c, 0, sizeof c);
    c.b = b;
    c.lo = lo;
    c.hi = hi;
    c.res = res;
    c.occ = occ;
    c.nc = (res - 2) / WSTEP + 2;
    const long nc = c.nc, n = nc * nc * nc, S = WSTEP + 1;
    float *pts = gnf_calloc((size_t)n * 3, sizeof(float)), *cd = gnf_calloc((size_t)n, sizeof(float));
    float *cache = gnf_calloc((size_t)gnf_threads_resolve(threads) * S * S * S, sizeof(float));
    gnf_status st = GNF_OK;
    if (!pts || !cd || !cache) st = gnf_fail(GNF_ERR_NOMEM, "out of memory for grid occupancy");
    else {
        for (long k = 0; k < nc; k++)
            for (long j = 0; j < nc; j++)
                for (long i = 0; i < nc; i++) {
                    float *p = pts + 3 * ((k * nc + j) * nc + i);
                    p[0] = grid_coord(lo, hi, res, 0, coarse_index(res, i));
                    p[1] = grid_coord(lo, hi, res, 1, coarse_index(res, j));
                    p[2] = grid_coord(lo, hi, res, 2, coarse_index(res, k));
                }
        gnf_bvh_sdf(b, pts, n, cd, 0, threads);
        c.coarse = cd;
        c.cache = cache;
        gnf_parallel_for(nc - 1, threads, wind_task, &c);
    }
    gnf_free(pts); gnf_free(cd); gnf_free(cache);
    return st;
}

gnf_status gnf_grid_occupancy(const gnf_mesh *m, const gnf_bvh *b, const float lo[3], const float hi[3],
                              int res, int watertight, int threads, uint8_t *occ) {
    if (res < 2 || res > 4096) return gnf_fail(GNF_ERR_INVALID, "grid occupancy: res %d out of range 2..4096", res);
    for (int a = 0; a < 3; a++)
        if (!(lo[a] < hi[a]) || !isfinite(lo[a]) || !isfinite(hi[a]))
            return gnf_fail(GNF_ERR_INVALID, "grid occupancy: empty or non-finite box");
    memset(occ, 0, gnf_occ_bytes(res));
    return watertight ? occupancy_scanline(m, lo, hi, res, threads, occ) : occupancy_winding(b, lo, hi, res, threads, occ);
}

/* ---- normal angle between meshes --------------------------------------------------------------- */

#define NBLOCK 4096 /* points per RNG stream */

typedef struct {
    const gnf_mesh *a, *b;
    const gnf_bvh *bb;
    const double *cdf;
    long n;
    uint64_t seed;
    double *sum;    /* per block */
    long *cnt;
} angle_ctx;

/* Cross product of the edges of face f of m (twice its area as length), in double; its length. */
static double face_cross(const gnf_mesh *m, long f, double n[3]) {
    const float *p = m->v + 3 * m->f[3 * f], *q = m->v + 3 * m->f[3 * f + 1], *r = m->v + 3 * m->f[3 * f + 2];
    double e1[3] = {(double)q[0] - p[0], (double)q[1] - p[1], (double)q[2] - p[2]};
    double e2[3] = {(double)r[0] - p[0], (double)r[1] - p[1], (double)r[2] - p[2]};
    n[0] = e1[1] * e2[2] - e1[2] * e2[1];
    n[1] = e1[2] * e2[0] - e1[0] * e2[2];
    n[2] = e1[0] * e2[1] - e1[1] * e2[0];
    return sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
}

/* Unit normal of face f of m; 0 when the face has no area. */
static int face_normal(const gnf_mesh *m, long f, double n[3]) {
    double l = face_cross(m, f, n);
    if (!(l > 0)) return 0;
    for (int k = 0; k < 3; k++) n[k] /= l;
    return 1;
}

/* Task: one block of points, its own RNG stream. */
static void angle_task(void *vctx, long blk, int thread) {
    (void)thread;
    angle_ctx *c = vctx;
    const gnf_mesh *a = c->a;
    gnf_rng r;
    gnf_rng_seed(&r, c->seed, (uint64_t)blk);
    double total = c->cdf[a->nf - 1], sum = 0;
    long cnt = 0, i1 = GNF_MIN(c->n, (blk + 1) * NBLOCK);
    for (long i = blk * NBLOCK; i < i1; i++) {
        double u = (double)(gnf_rng_u64(&r) >> 11) * 0x1p-53 * total;
        long lo = 0, hi = a->nf - 1; /* first face with cdf > u */
        while (lo < hi) {
            long mid = (lo + hi) / 2;
            if (c->cdf[mid] > u) hi = mid; else lo = mid + 1;
        }
        double s = sqrt((double)(gnf_rng_u64(&r) >> 11) * 0x1p-53), t = (double)(gnf_rng_u64(&r) >> 11) * 0x1p-53;
        double w[3] = {1 - s, s * (1 - t), s * t};
        float p[3];
        for (int k = 0; k < 3; k++) {
            double x = 0;
            for (int v = 0; v < 3; v++) x += w[v] * a->v[3 * a->f[3 * lo + v] + k];
            p[k] = (float)x;
        }
        double na[3], nb[3];
        long tri = -1;
        gnf_bvh_closest(c->bb, p, NULL, &tri);
        if (tri < 0 || !face_normal(a, lo, na) || !face_normal(c->b, tri, nb)) continue;
        double d = fabs(na[0] * nb[0] + na[1] * nb[1] + na[2] * nb[2]);
        sum += acos(d > 1 ? 1 : d) * (180.0 / M_PI);
        cnt++;
    }
    c->sum[blk] = sum;
    c->cnt[blk] = cnt;
}

gnf_status gnf_mesh_normal_angle(const gnf_mesh *a, const gnf_mesh *b, const gnf_bvh *bb, long n, uint64_t seed,
                                 int threads, double *mean_deg, long *used) {
    *mean_deg = NAN;
    *used = 0;
    if (n < 1 || a->nf < 1) return gnf_fail(GNF_ERR_INVALID, "normal angle: no points or no faces");
    long nb = (n + NBLOCK - 1) / NBLOCK;
    double *cdf = gnf_calloc((size_t)a->nf, sizeof(double)), *sum = gnf_calloc((size_t)nb, sizeof(double));
    long *cnt = gnf_calloc((size_t)nb, sizeof(long));
    gnf_status st = GNF_OK;
    if (!cdf || !sum || !cnt) { st = gnf_fail(GNF_ERR_NOMEM, "out of memory for the normal angle"); goto done; }
    double acc = 0, nrm[3];
    for (long f = 0; f < a->nf; f++) {
        acc += face_cross(a, f, nrm);
        cdf[f] = acc;
    }
    if (!(acc > 0)) { st = gnf_fail(GNF_ERR_INVALID, "normal angle: the mesh has no area"); goto done; }
    angle_ctx c = {a, b, bb, cdf, n, seed, sum, cnt};
    gnf_parallel_for(nb, threads, angle_task, &c);
    double s = 0;
    long k = 0;
    for (long i = 0; i < nb; i++) { s += sum[i]; k += cnt[i]; }
    *used = k;
    *mean_deg = k ? s / (double)k : NAN;
done:
    gnf_free(cdf); gnf_free(sum); gnf_free(cnt);
    return st;
}
