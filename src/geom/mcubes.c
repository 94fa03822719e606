/* mcubes.c — marching cubes, slab by slab, with case tables built at startup.
 *
 * Case tables.  Instead of a pasted 256-entry table, every triangulation is derived from the
 * cube's geometry once (build_tables): on each of the six faces the sign pattern of its four
 * corners gives 0, 1 or 2 contour segments; ambiguous faces (corners alternating) get their
 * segments from one extra bit, "the face centre is above", which the runtime sets with the
 * asymptotic decider.  Each segment is directed so that, seen from outside the cube, the above
 * side lies on its left; the segments then chain into closed loops (every crossed cube edge lies
 * on exactly two faces: it ends one segment and starts another), and each loop is triangulated
 * (see triangulate_loop).  A loop is counter-clockwise seen from the above side, so the
 * triangles' normals point toward increasing values.  Because the segments on a face depend only
 * on that face's four samples, the two cells sharing a face agree on them, which is what makes
 * the surface watertight.  Cases with ambiguous faces get one variant per combination of their
 * ambiguous faces' bits (at most 2^6 for the two checkerboard cases).
 *
 * Extraction.  Samples are taken one z-slice at a time (a slice is one callback call).  With
 * planes k and k+1 in memory, the "vertex pass" creates the vertices of the crossed x/y edges
 * of plane k+1 and of the z edges between the planes, recording each vertex index in per-plane
 * edge tables; the "face pass" then triangulates the cells of the slab, looking the vertex
 * indices up in those tables (welding without a hash).  Plane k's x/y tables were filled by the
 * previous slab, so every vertex is made exactly once.  Both passes split the slab into a fixed
 * number of row chunks run on the thread pool; vertex indices come from a count / prefix-sum /
 * fill sequence and faces are gathered chunk by chunk in order, so the mesh is identical for any
 * thread count. */
#include "geom/mcubes.h"
#include "core/core.h"
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- case tables ---------------------------------------------------------------------------- */

/* Corner c of a cell has offsets x = bit 2, y = bit 0, z = bit 1.  This order lets the runtime
 * build a cell's case from two 4-bit column codes (y, z bits) at i and i+1.
 * Edge e: axis a = e / 4; with u < v the other two axes, its offsets are u = bit 0, v = bit 1.
 * Face f: axis a = f / 2 at side f & 1; its corners q0..q3 are (u,v) = (0,0) (1,0) (1,1) (0,1),
 * the same order for both sides so that neighbouring cells see a shared face identically. */
#define MC_MAXTRI 12     /* most triangles in one cell (asserted while building) */
#define MC_MAXVAR 1024   /* variants of all cases together (asserted while building) */

#define MC_MAXCEN 2      /* most centroid vertices in one cell (asserted while building) */

typedef struct {
    uint8_t ntri;
    uint8_t ncen;
    uint8_t e[MC_MAXTRI * 3];        /* triangle corners: cube edge, or 12 + centroid slot */
    uint8_t cen_len[MC_MAXCEN];      /* centroid vertex s: mean of the crossings on its loop */
    uint8_t cen_e[MC_MAXCEN][12];
} mc_variant;

typedef struct {
    uint16_t base;  /* first variant in g_var */
    uint8_t namb;   /* ambiguous faces; variant = base + bits (bit t: face amb[t] centre above) */
    uint8_t amb[6];
} mc_case;

static mc_case g_case[256];
static mc_variant g_var[MC_MAXVAR];
static int g_nvar;
static uint8_t g_face_corner[6][4];
static uint8_t g_edge_c0[12], g_edge_c1[12]; /* corners at the two ends of each edge */
static pthread_once_t g_tables_once = PTHREAD_ONCE_INIT;

static int cbit(int c, int axis) { return (c >> (axis == 0 ? 2 : axis - 1)) & 1; }

static int corner_at(const int p[3]) { return 4 * p[0] + p[1] + 2 * p[2]; }

static void other_axes(int a, int *u, int *v) {
    *u = a == 0 ? 1 : 0;
    *v = a == 2 ? 1 : 2;
}

static int edge_between(int c1, int c2) {
    int a = 0;
    while (cbit(c1, a) == cbit(c2, a)) a++;
    int u, v;
    other_axes(a, &u, &v);
    return 4 * a + cbit(c1, u) + 2 * cbit(c1, v);
}

static void edge_corners(int e, int *c0, int *c1) {
    int a = e / 4, u, v, p[3];
    other_axes(a, &u, &v);
    p[u] = e & 1;
    p[v] = (e >> 1) & 1;
    p[a] = 0;
    *c0 = corner_at(p);
    p[a] = 1;
    *c1 = corner_at(p);
}

static void edge_mid(int e, double m[3]) {
    int a = e / 4, u, v;
    other_axes(a, &u, &v);
    m[a] = 0.5;
    m[u] = e & 1;
    m[v] = (e >> 1) & 1;
}

/* Nonzero when cube edges e1 and e2 lie on a common face. */
static int edges_share_face(int e1, int e2) {
    int f[2][2];
    int es[2] = {e1, e2};
    for (int t = 0; t < 2; t++) {
        int u, v;
        other_axes(es[t] / 4, &u, &v);
        f[t][0] = 2 * u + (es[t] & 1);
        f[t][1] = 2 * v + ((es[t] >> 1) & 1);
    }
    return f[0][0] == f[1][0] || f[0][0] == f[1][1] || f[0][1] == f[1][0] || f[0][1] == f[1][1];
}

/* Records the segment between the crossing points on e1 and e2 of face f, directed so that the
 * above side is on its left seen from outside the cube.  `test` is a corner on a known side of
 * the segment (the corner it cuts off, or any corner when it joins opposite edges). */
static void add_segment(int f, int e1, int e2, int test, int test_above, int next[12],
                        int prev[12]) {
    double m1[3], m2[3], n[3] = {0, 0, 0}, d[3], w[3], left[3];
    edge_mid(e1, m1);
    edge_mid(e2, m2);
    n[f / 2] = (f & 1) ? 1.0 : -1.0;
    for (int i = 0; i < 3; i++) {
        d[i] = m2[i] - m1[i];
        w[i] = cbit(test, i) - 0.5 * (m1[i] + m2[i]);
    }
    left[0] = n[1] * d[2] - n[2] * d[1];
    left[1] = n[2] * d[0] - n[0] * d[2];
    left[2] = n[0] * d[1] - n[1] * d[0];
    double s = w[0] * left[0] + w[1] * left[1] + w[2] * left[2];
    assert(fabs(s) > 1e-9);
    if ((s > 0) != (test_above != 0)) {
        int t = e1;
        e1 = e2;
        e2 = t;
    }
    assert(next[e1] < 0 && prev[e2] < 0);
    next[e1] = e2;
    prev[e2] = e1;
}

/* Triangulates one loop of crossed edges (counter-clockwise seen from the above side) with the
 * minimum-weight triangulation (dynamic programming over the polygon).  A diagonal joining two
 * edges of one cube face is heavily penalised: the cell across that face may use the same pair
 * of vertices, and an edge in four triangles would break the manifold.  Otherwise the shortest
 * diagonals (between edge midpoints) win, which avoids slivers in hexagons and larger loops. */
static void triangulate_loop(const int *loop, int k, mc_variant *out) {
    double cost[12][12];
    int split[12][12];
    for (int i = 0; i + 1 < k; i++) cost[i][i + 1] = 0;
    for (int len = 2; len < k; len++) {
        for (int i = 0; i + len < k; i++) {
            int j = i + len;
            double best = INFINITY;
            int bm = -1;
            for (int m = i + 1; m < j; m++) {
                double c = cost[i][m] + cost[m][j];
                int ends[2][2] = {{i, m}, {m, j}};
                for (int t = 0; t < 2; t++) {
                    int x = ends[t][0], y = ends[t][1];
                    if (y - x == 1 || (x == 0 && y == k - 1)) continue; /* a side, not a chord */
                    double mx[3], my[3], d2 = 0;
                    edge_mid(loop[x], mx);
                    edge_mid(loop[y], my);
                    for (int q = 0; q < 3; q++) d2 += (mx[q] - my[q]) * (mx[q] - my[q]);
                    c += sqrt(d2);
                    if (edges_share_face(loop[x], loop[y])) c += 1000.0;
                }
                if (c < best) {
                    best = c;
                    bm = m;
                }
            }
            cost[i][j] = best;
            split[i][j] = bm;
        }
    }
    if (cost[0][k - 1] >= 1000.0) {
        /* Only a face-sharing diagonal would do (tunnels through the cell when the decider
         * opens several faces): fan around a vertex at the loop's centroid instead.  Its spokes
         * belong to this cell alone, so the surface stays manifold. */
        assert(out->ncen < MC_MAXCEN);
        int slot = out->ncen++;
        out->cen_len[slot] = (uint8_t)k;
        for (int i = 0; i < k; i++) {
            out->cen_e[slot][i] = (uint8_t)loop[i];
            assert(out->ntri < MC_MAXTRI);
            uint8_t *t = out->e + 3 * out->ntri++;
            t[0] = (uint8_t)(12 + slot);
            t[1] = (uint8_t)loop[i];
            t[2] = (uint8_t)loop[(i + 1) % k];
        }
        return;
    }
    /* Emit triangles (i, m, j) with i < m < j: the loop's order, hence its orientation. */
    int stack[24][2], sp = 0;
    stack[sp][0] = 0;
    stack[sp][1] = k - 1;
    sp++;
    while (sp > 0) {
        sp--;
        int i = stack[sp][0], j = stack[sp][1];
        if (j - i < 2) continue;
        int m = split[i][j];
        assert(out->ntri < MC_MAXTRI);
        uint8_t *t = out->e + 3 * out->ntri++;
        t[0] = (uint8_t)loop[i];
        t[1] = (uint8_t)loop[m];
        t[2] = (uint8_t)loop[j];
        stack[sp][0] = i;
        stack[sp][1] = m;
        sp++;
        stack[sp][0] = m;
        stack[sp][1] = j;
        sp++;
    }
}

/* Builds the triangulation of case cs (bit c set: corner c above) with the centre bits of
 * ambiguous faces given by facebits (bit f for face f). */
static void build_variant(int cs, int facebits, mc_variant *out) {
    int next[12], prev[12];
    for (int e = 0; e < 12; e++) next[e] = prev[e] = -1;
    for (int f = 0; f < 6; f++) {
        const uint8_t *q = g_face_corner[f];
        int A[4], cr[4], nc = 0, fe[4];
        for (int k = 0; k < 4; k++) {
            A[k] = (cs >> q[k]) & 1;
            fe[k] = edge_between(q[k], q[(k + 1) & 3]); /* face edge k joins q_k and q_k+1 */
        }
        for (int k = 0; k < 4; k++)
            if (A[k] != A[(k + 1) & 3]) cr[nc++] = k;
        if (nc == 2) {
            int k1 = cr[0], k2 = cr[1], test;
            if (k2 == k1 + 1) test = q[k2];          /* cuts off the corner between them */
            else if (k1 == 0 && k2 == 3) test = q[0];
            else test = q[0];                        /* opposite edges: any corner will do */
            add_segment(f, fe[k1], fe[k2], test, (cs >> test) & 1, next, prev);
        } else if (nc == 4) {
            /* Centre above: the above corners connect through the face, each below corner is
             * cut off by its own segment; centre below: the reverse. */
            int centre = (facebits >> f) & 1;
            for (int k = 0; k < 4; k++)
                if (A[k] != centre) add_segment(f, fe[(k + 3) & 3], fe[k], q[k], A[k], next, prev);
        }
    }
    int seen[12] = {0};
    out->ntri = 0;
    out->ncen = 0;
    for (int e0 = 0; e0 < 12; e0++) {
        int c0, c1;
        edge_corners(e0, &c0, &c1);
        int crossed = ((cs >> c0) & 1) != ((cs >> c1) & 1);
        assert(crossed == (next[e0] >= 0) && crossed == (prev[e0] >= 0));
        (void)crossed;
        if (next[e0] < 0 || seen[e0]) continue;
        int loop[12], k = 0, e = e0;
        do {
            assert(k < 12 && e >= 0);
            loop[k++] = e;
            seen[e] = 1;
            e = next[e];
        } while (e != e0);
        triangulate_loop(loop, k, out);
    }
}

static void build_tables(void) {
    for (int e = 0; e < 12; e++) {
        int c0, c1;
        edge_corners(e, &c0, &c1);
        g_edge_c0[e] = (uint8_t)c0;
        g_edge_c1[e] = (uint8_t)c1;
    }
    for (int f = 0; f < 6; f++) {
        int a = f / 2, u, v, p[3];
        other_axes(a, &u, &v);
        static const int qu[4] = {0, 1, 1, 0}, qv[4] = {0, 0, 1, 1};
        for (int k = 0; k < 4; k++) {
            p[a] = f & 1;
            p[u] = qu[k];
            p[v] = qv[k];
            g_face_corner[f][k] = (uint8_t)corner_at(p);
        }
    }
    g_nvar = 0;
    for (int cs = 0; cs < 256; cs++) {
        mc_case *c = &g_case[cs];
        c->namb = 0;
        for (int f = 0; f < 6; f++) {
            const uint8_t *q = g_face_corner[f];
            int a0 = (cs >> q[0]) & 1, a1 = (cs >> q[1]) & 1;
            int a2 = (cs >> q[2]) & 1, a3 = (cs >> q[3]) & 1;
            if (a0 == a2 && a1 == a3 && a0 != a1) c->amb[c->namb++] = (uint8_t)f;
        }
        c->base = (uint16_t)g_nvar;
        for (int bits = 0; bits < (1 << c->namb); bits++) {
            int facebits = 0;
            for (int t = 0; t < c->namb; t++)
                if ((bits >> t) & 1) facebits |= 1 << c->amb[t];
            assert(g_nvar < MC_MAXVAR);
            build_variant(cs, facebits, &g_var[g_nvar++]);
        }
    }
}

/* ---- extraction ----------------------------------------------------------------------------- */

/* One chunk's output of the face pass (64-byte aligned: chunks on different threads share no
 * cache line). */
typedef struct {
    _Alignas(64) int32_t *f; /* triangles of this chunk's cells in the current slab; centroid
                              * vertices appear as -1 - (their index in v / 3) until the merge */
    long n, cap; /* in int32 */
    float *v;    /* centroid vertices made in this slab */
    long nv, capv; /* in floats */
    int err;
} mc_fbuf;

typedef struct {
    int res;
    float iso;
    int rpc;           /* rows per chunk */
    long nch;
    const double *gx, *gy, *gz;
    float *val[2];     /* samples of planes k (0) and k+1 (1) */
    uint8_t *abv[2];   /* 1 where the sample is above */
    int32_t *ex[2];    /* vertex of x edge (i,j)-(i+1,j): [j*(res-1) + i] */
    int32_t *ey[2];    /* vertex of y edge (i,j)-(i,j+1): [j*res + i] */
    int32_t *ez;       /* vertex of z edge (i,j,k)-(i,j,k+1): [j*res + i] */
    int zedges;        /* the vertex pass also makes the z edges between the planes */
    int kz;            /* z index of plane 1 */
    long *cnt, *vbase; /* per chunk: vertices made, index of the first */
    float *pts;        /* the callback's points (x, y fixed, z set per slice) */
    float *v;          /* output vertices (enough room reserved before the fill) */
    mc_fbuf *fb;
} mc_ctx;

/* How close (as a fraction of the edge) a vertex may come to a sample point; see crossing(). */
#define MC_T_MARGIN 0.02

/* Where the crossing lies between samples a (t = 0) and b (t = 1) that differ in class, kept
 * within [MC_T_MARGIN, 1 - MC_T_MARGIN] of the edge.
 *
 * Why the margin.  Where the field is (nearly) iso at a sample K, the crossings on K's edges
 * land on K or within a hair of it: vertices of different edges, used by different cells,
 * coincide or nearly so.  The mesh then has zero-area triangles, slivers, and triangles of
 * neighbouring cells that touch at K without sharing a vertex.  Mesh checkers report those as
 * self-intersections (Open3D scales the two triangles to unit spread and takes plane-equation
 * values under 1e-6, with unnormalised normals, as contact: a corner triangle a few thousandths
 * of a cell wide, with a vertex as close across K, is flagged), and 3D printing and boolean
 * tools reject them.  Keeping t in
 * [m, 1 - m] cures this without touching the connectivity, so the surface is exactly as closed,
 * manifold and oriented as before and still depends only on the samples:
 *   - vertices are distinct: two on edges that share a sample are at least m·√2 cell edges
 *     apart, any others at least a whole edge;
 *   - every vertex is at least m from the cell's corners, so a triangle's area is at least m²/2
 *     of a cell face (the least is the corner triangle, (√3/2)·m²);
 *   - triangles of different cells meet only in their shared vertices and edges: no vertex
 *     reaches a corner and no triangle lies in a cell face (triangulate_loop avoids chords
 *     along a face).
 * The price: a vertex moves by at most m of an edge, and only where the crossing was closer to
 * a sample than that.  With m = 0.02 the contact measure above (about 30·m³ for the corner
 * triangle) stays some 200 times over Open3D's tolerance; m = 0.003 still left contacts on
 * fitted SDFs at 512³.  The alternative, snapping such vertices onto K and merging them, needs
 * a manifold check at every such sample (two sheets passing on either side of K, or a neck
 * through K, would pinch into a non-manifold vertex), and the triangles next to the merged
 * vertex have the same worst shape as here. */
static double crossing(float a, float b, float iso) {
    double t = ((double)iso - (double)a) / ((double)b - (double)a);
    if (isnan(t)) t = 0.5;
    return t < MC_T_MARGIN ? MC_T_MARGIN : (t > 1.0 - MC_T_MARGIN ? 1.0 - MC_T_MARGIN : t);
}

static void put_vertex(float *p, double x, double y, double z) {
    p[0] = (float)x;
    p[1] = (float)y;
    p[2] = (float)z;
}

#define MC_ONES 0x0101010101010101ull

static uint64_t load8(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* Number of positions among n where the class bytes (0/1) of a and b differ, eight at a time:
 * XOR leaves 0/1 bytes, and the multiply sums them into the top byte. */
static long count_diff(const uint8_t *a, const uint8_t *b, long n) {
    long s = 0, i = 0;
    for (; i + 8 <= n; i += 8) s += (long)(((load8(a + i) ^ load8(b + i)) * MC_ONES) >> 56);
    for (; i < n; i++) s += a[i] != b[i];
    return s;
}

/* The first position >= i (and < n) where a and b differ, or n.  Whole words are skipped, which
 * is what makes the scan cheap: crossings are sparse along a row. */
static long next_diff(const uint8_t *a, const uint8_t *b, long n, long i) {
    while (i + 8 <= n && load8(a + i) == load8(b + i)) i += 8;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

static void chunk_rows(const mc_ctx *c, long t, long *j0, long *j1) {
    *j0 = t * c->rpc;
    *j1 = GNF_MIN(*j0 + c->rpc, (long)c->res);
}

/* Sets the z coordinate of the chunk's rows of the point buffer to plane kz. */
static void zfill_task(void *vctx, long t, int thread) {
    (void)thread;
    mc_ctx *c = vctx;
    long j0, j1;
    chunk_rows(c, t, &j0, &j1);
    const float z = (float)c->gz[c->kz];
    float *pts = c->pts;
    const long p0 = j0 * c->res, p1 = j1 * c->res; /* locals: the stores cannot alias them */
    for (long p = p0; p < p1; p++) pts[3 * p + 2] = z;
}

/* Classifies the chunk's rows of plane 1 (above = not below, so NaN is above). */
static void classify_task(void *vctx, long t, int thread) {
    (void)thread;
    mc_ctx *c = vctx;
    long j0, j1;
    chunk_rows(c, t, &j0, &j1);
    const float iso = c->iso, *r = c->val[1];
    uint8_t *a = c->abv[1];
    const long p0 = j0 * c->res, p1 = j1 * c->res; /* locals: byte stores may alias anything */
    for (long p = p0; p < p1; p++) a[p] = (uint8_t)!(r[p] < iso);
}

/* Vertex pass, part 1: counts the crossed edges the chunk owns (an edge belongs to the row of
 * its lower-y end). */
static void count_task(void *vctx, long t, int thread) {
    (void)thread;
    mc_ctx *c = vctx;
    const long res = c->res;
    long j0, j1, n = 0;
    chunk_rows(c, t, &j0, &j1);
    for (long j = j0; j < j1; j++) {
        const uint8_t *a = c->abv[1] + j * res;
        n += count_diff(a, a + 1, res - 1);
        if (j + 1 < res) n += count_diff(a, a + res, res);
        if (c->zedges) n += count_diff(c->abv[0] + j * res, a, res);
    }
    c->cnt[t] = n;
}

/* Vertex pass, part 2: makes the chunk's vertices from index vbase[t] on, in row order. */
static void fill_task(void *vctx, long t, int thread) {
    (void)thread;
    mc_ctx *c = vctx;
    const long res = c->res;
    const float iso = c->iso;
    const double *gx = c->gx, *gy = c->gy;
    const double z1 = c->gz[c->kz], z0 = c->zedges ? c->gz[c->kz - 1] : 0.0;
    long j0, j1;
    chunk_rows(c, t, &j0, &j1);
    int32_t idx = (int32_t)c->vbase[t];
    for (long j = j0; j < j1; j++) {
        const float *r = c->val[1] + j * res;
        const uint8_t *a = c->abv[1] + j * res;
        int32_t *X = c->ex[1] + j * (res - 1), *Y = c->ey[1] + j * res, *Z = c->ez + j * res;
        for (long i = next_diff(a, a + 1, res - 1, 0); i < res - 1;
             i = next_diff(a, a + 1, res - 1, i + 1)) {
            double s = crossing(r[i], r[i + 1], iso);
            put_vertex(c->v + 3 * (long)idx, gx[i] + s * (gx[i + 1] - gx[i]), gy[j], z1);
            X[i] = idx++;
        }
        if (j + 1 < res)
            for (long i = next_diff(a, a + res, res, 0); i < res;
                 i = next_diff(a, a + res, res, i + 1)) {
                double s = crossing(r[i], r[i + res], iso);
                put_vertex(c->v + 3 * (long)idx, gx[i], gy[j] + s * (gy[j + 1] - gy[j]), z1);
                Y[i] = idx++;
            }
        if (c->zedges) {
            const float *r0 = c->val[0] + j * res;
            const uint8_t *b = c->abv[0] + j * res;
            for (long i = next_diff(b, a, res, 0); i < res; i = next_diff(b, a, res, i + 1)) {
                double s = crossing(r0[i], r[i], iso);
                put_vertex(c->v + 3 * (long)idx, gx[i], gy[j], z0 + s * (z1 - z0));
                Z[i] = idx++;
            }
        }
    }
    assert(idx == c->vbase[t] + c->cnt[t]);
}

/* Grows *p (elem-byte items, used of them in use) to hold at least need items, doubling. */
static int grow_array(void **p, long *cap, long used, long need, size_t elem) {
    if (need <= *cap) return 1;
    long ncap = *cap > 0 ? *cap : 4096;
    while (ncap < need) {
        if (ncap > (long)(SIZE_MAX / 4 / elem)) return 0;
        ncap *= 2;
    }
    void *np = gnf_calloc((size_t)ncap, elem);
    if (!np) return 0;
    if (used > 0) memcpy(np, *p, (size_t)used * elem);
    gnf_free(*p);
    *p = np;
    *cap = ncap;
    return 1;
}

/* What the face pass needs per cell besides the context: where each cube edge's vertex index
 * and each corner's sample live relative to the cell's base index. */
typedef struct {
    const int32_t *tab[12]; /* edge tables, offset for the edge (x tables use the bx base) */
    const float *cval[8];   /* corner planes, offset for the corner */
} mc_cellmap;

/* Triangulates cell (i, j) of case cs into fb.  Returns 0 if a buffer cannot grow. */
static int emit_cell(const mc_ctx *c, const mc_cellmap *cm, mc_fbuf *fb, unsigned cs, long i,
                     long j) {
    const long rs = c->res, b = j * rs + i, bx = j * (rs - 1) + i;
    const mc_case *mc = &g_case[cs];
    unsigned bits = 0;
    for (int u = 0; u < mc->namb; u++) {
        /* Asymptotic decider: the sign of the bilinear interpolant's saddle, from the face's
         * corners in its canonical order, so both cells sharing the face get the same bit. */
        const uint8_t *q = g_face_corner[mc->amb[u]];
        double r0 = (double)cm->cval[q[0]][b] - c->iso, r1 = (double)cm->cval[q[1]][b] - c->iso;
        double r2 = (double)cm->cval[q[2]][b] - c->iso, r3 = (double)cm->cval[q[3]][b] - c->iso;
        double D = r0 * r2 - r1 * r3;
        int centre = ((cs >> q[0]) & 1) ? (D >= 0.0) : (D <= 0.0);
        bits |= (unsigned)centre << u;
    }
    const mc_variant *var = &g_var[mc->base + bits];
    void *fp = fb->f, *vp = fb->v;
    int ok = grow_array(&fp, &fb->cap, fb->n, fb->n + 3 * MC_MAXTRI, sizeof(int32_t));
    fb->f = fp;
    if (ok && var->ncen) {
        ok = grow_array(&vp, &fb->capv, fb->nv, fb->nv + 3 * MC_MAXCEN, sizeof(float));
        fb->v = vp;
    }
    if (!ok) return 0;
    int32_t id[12 + MC_MAXCEN];
    for (int e = 0; e < 12; e++)
        id[e] = ((cs >> g_edge_c0[e]) ^ (cs >> g_edge_c1[e])) & 1 ? cm->tab[e][e < 4 ? bx : b] : -1;
    for (int s = 0; s < var->ncen; s++) {
        double p[3] = {0, 0, 0};
        for (int q = 0; q < var->cen_len[s]; q++) {
            const float *x = c->v + 3 * (long)id[var->cen_e[s][q]];
            p[0] += x[0];
            p[1] += x[1];
            p[2] += x[2];
        }
        double inv = 1.0 / var->cen_len[s];
        put_vertex(fb->v + fb->nv, p[0] * inv, p[1] * inv, p[2] * inv);
        id[12 + s] = -1 - (int32_t)(fb->nv / 3);
        fb->nv += 3;
    }
    int32_t *o = fb->f + fb->n;
    for (int k = 0; k < 3 * var->ntri; k++) o[k] = id[var->e[k]];
    fb->n += 3 * var->ntri;
    return 1;
}

/* Face pass: triangulates the cells (i, j) of the slab for the chunk's rows j < res-1.  Eight
 * cells at a time are skipped when all their corners (columns i..i+8 of the four rows) share
 * one class, which is nearly everywhere. */
static void face_task(void *vctx, long t, int thread) {
    (void)thread;
    mc_ctx *c = vctx;
    mc_fbuf *fb = &c->fb[t];
    const long rs = c->res;
    long j0, j1;
    chunk_rows(c, t, &j0, &j1);
    j1 = GNF_MIN(j1, rs - 1);
    mc_cellmap cm;
    for (int e = 0; e < 4; e++) cm.tab[e] = c->ex[(e >> 1) & 1] + (e & 1) * (rs - 1);
    for (int e = 4; e < 8; e++) cm.tab[e] = c->ey[((e - 4) >> 1) & 1] + (e & 1);
    for (int e = 8; e < 12; e++) cm.tab[e] = c->ez + (e & 1) + ((e >> 1) & 1) * rs;
    for (int k = 0; k < 8; k++) cm.cval[k] = c->val[cbit(k, 2)] + cbit(k, 0) + cbit(k, 1) * rs;
    for (long j = j0; j < j1; j++) {
        /* Rows by (z, y) offset; a cell's case bit for corner (x, y, z) is 4x + y + 2z. */
        const uint8_t *row[4] = {c->abv[0] + j * rs, c->abv[0] + (j + 1) * rs,
                                 c->abv[1] + j * rs, c->abv[1] + (j + 1) * rs};
        for (long i = 0; i < rs - 1;) {
            if (i + 9 <= rs) {
                uint64_t any = 0, all = ~(uint64_t)0;
                for (int r = 0; r < 4; r++) {
                    uint64_t w0 = load8(row[r] + i), w1 = load8(row[r] + i + 1);
                    any |= w0 | w1;
                    all &= w0 & w1;
                }
                if (any == 0 || all == MC_ONES) {
                    i += 8;
                    continue;
                }
            }
            for (long iend = GNF_MIN(i + 8, rs - 1); i < iend; i++) {
                unsigned cs = 0;
                for (int r = 0; r < 4; r++)
                    cs |= (unsigned)row[r][i] << r | (unsigned)row[r][i + 1] << (r + 4);
                if (cs == 0 || cs == 255) continue;
                if (!emit_cell(c, &cm, fb, cs, i, j)) {
                    fb->err = 1;
                    return;
                }
            }
        }
    }
}

/* Reallocates *p to exactly n items when the slack is large (failure just keeps the slack). */
static void shrink_array(void **p, long *cap, long n, size_t elem) {
    if (n <= 0 || *cap <= n + n / 8) return;
    void *np = gnf_calloc((size_t)n, elem);
    if (!np) return;
    memcpy(np, *p, (size_t)n * elem);
    gnf_free(*p);
    *p = np;
    *cap = n;
}

gnf_status gnf_marching_cubes(const gnf_mc_config *cfg, gnf_field_fn fn, void *user,
                              gnf_mesh *out) {
    return gnf_marching_cubes_ex(cfg, fn, user, out, NULL);
}

gnf_status gnf_marching_cubes_ex(const gnf_mc_config *cfg, gnf_field_fn fn, void *user,
                                 gnf_mesh *out, gnf_mc_stats *stats) {
    assert(cfg && fn && out);
    double t_start = gnf_now(), eval_s = 0;
    memset(out, 0, sizeof *out);
    if (stats) memset(stats, 0, sizeof *stats);
    if (cfg->res < 2 || cfg->res > 4096)
        return gnf_fail(GNF_ERR_INVALID, "marching cubes: res %d is outside 2..4096", cfg->res);
    for (int a = 0; a < 3; a++)
        if (!isfinite(cfg->lo[a]) || !isfinite(cfg->hi[a]) || !(cfg->hi[a] > cfg->lo[a]))
            return gnf_fail(GNF_ERR_INVALID, "marching cubes: bounds on axis %d are not finite "
                            "with lo < hi (%g, %g)", a, (double)cfg->lo[a], (double)cfg->hi[a]);
    if (!isfinite(cfg->iso))
        return gnf_fail(GNF_ERR_INVALID, "marching cubes: iso level is not finite");
    pthread_once(&g_tables_once, build_tables);
    gnf_clear_error(); /* so that a message the callback leaves when it aborts can be passed on */

    const int res = cfg->res;
    const long plane = (long)res * res;
    const int threads = gnf_threads_resolve(cfg->threads);
    /* Fixed chunking (not by thread count) keeps the output independent of the threads. */
    const int rpc = (res + 63) / 64;
    const long nch = (res + rpc - 1) / rpc;
    gnf_status st = GNF_OK;
    mc_ctx c;
    memset(&c, 0, sizeof c);
    c.res = res;
    c.iso = cfg->iso;
    c.rpc = rpc;
    c.nch = nch;
    double *grid = gnf_calloc((size_t)3 * (size_t)res, sizeof(double));
    float *pts = gnf_calloc((size_t)plane * 3, sizeof(float));
    for (int s = 0; s < 2; s++) {
        c.val[s] = gnf_calloc((size_t)plane, sizeof(float));
        c.abv[s] = gnf_calloc((size_t)plane, 1);
        c.ex[s] = gnf_calloc((size_t)plane, sizeof(int32_t)); /* (res-1)*res used */
        c.ey[s] = gnf_calloc((size_t)plane, sizeof(int32_t));
    }
    c.ez = gnf_calloc((size_t)plane, sizeof(int32_t));
    c.cnt = gnf_calloc((size_t)nch, sizeof(long));
    c.vbase = gnf_calloc((size_t)nch, sizeof(long));
    c.fb = gnf_calloc((size_t)nch, sizeof(mc_fbuf));
    int32_t *faces = NULL;
    long nv = 0, capv = 0, nf = 0, capf = 0; /* nf, capf in int32 (3 per triangle) */
    size_t fixed_bytes = (size_t)3 * res * sizeof(double) + (size_t)plane * 3 * sizeof(float) +
                         (size_t)plane * (2 * sizeof(float) + 2 + 5 * sizeof(int32_t)) +
                         (size_t)nch * (2 * sizeof(long) + sizeof(mc_fbuf));
    size_t peak = fixed_bytes;
    if (!grid || !pts || !c.val[0] || !c.val[1] || !c.abv[0] || !c.abv[1] || !c.ex[0] ||
        !c.ex[1] || !c.ey[0] || !c.ey[1] || !c.ez || !c.cnt || !c.vbase || !c.fb) {
        st = gnf_fail(GNF_ERR_NOMEM, "marching cubes: cannot allocate slice buffers for res %d",
                      res);
        goto done;
    }
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < res; i++)
            grid[a * res + i] = (double)cfg->lo[a] +
                                ((double)cfg->hi[a] - (double)cfg->lo[a]) * i / (res - 1);
    c.gx = grid;
    c.gy = grid + res;
    c.gz = grid + 2 * res;
    c.pts = pts;
    for (long j = 0; j < res; j++)
        for (long i = 0; i < res; i++) {
            pts[3 * (j * res + i) + 0] = (float)c.gx[i];
            pts[3 * (j * res + i) + 1] = (float)c.gy[j];
        }

    for (int k = 0; k < res; k++) {
        /* Plane 1 becomes plane 0; the new slice k goes into plane 1. */
        if (k > 0) {
            float *tv = c.val[0]; c.val[0] = c.val[1]; c.val[1] = tv;
            uint8_t *ta = c.abv[0]; c.abv[0] = c.abv[1]; c.abv[1] = ta;
            int32_t *t1 = c.ex[0]; c.ex[0] = c.ex[1]; c.ex[1] = t1;
            int32_t *t2 = c.ey[0]; c.ey[0] = c.ey[1]; c.ey[1] = t2;
        }
        c.kz = k;
        c.zedges = k > 0;
        gnf_parallel_for(nch, threads, zfill_task, &c);
        double t0 = gnf_now();
        int rc = fn(user, pts, plane, c.val[1]);
        eval_s += gnf_now() - t0;
        if (stats) stats->slices++;
        if (rc != 0) {
            char why[512]; /* copied: gnf_fail formats into the buffer gnf_last_error returns */
            snprintf(why, sizeof why, "%s", gnf_last_error());
            st = why[0] ? gnf_fail(GNF_ERR_INVALID, "field evaluation aborted: %s", why)
                        : gnf_fail(GNF_ERR_INVALID, "field evaluation aborted");
            goto done;
        }
        gnf_parallel_for(nch, threads, classify_task, &c);
        gnf_parallel_for(nch, threads, count_task, &c);
        long total = nv;
        for (long t = 0; t < nch; t++) {
            c.vbase[t] = total;
            total += c.cnt[t];
        }
        if (total > INT32_MAX) {
            st = gnf_fail(GNF_ERR_NOMEM, "marching cubes: the mesh would have over 2^31-1 "
                          "vertices (res %d)", res);
            goto done;
        }
        void *vp = c.v;
        int vok = grow_array(&vp, &capv, 3 * nv, 3 * total, sizeof(float));
        c.v = vp;
        if (!vok) {
            st = gnf_fail(GNF_ERR_NOMEM, "marching cubes: cannot grow the vertex array to %ld "
                          "vertices", total);
            goto done;
        }
        gnf_parallel_for(nch, threads, fill_task, &c);
        nv = total;
        if (k == 0) continue;

        gnf_parallel_for(nch, threads, face_task, &c);
        /* Gather in chunk order: centroid vertices after this slab's edge vertices, faces with
         * their centroid references made global. */
        long ftotal = nf, vtotal = nv;
        size_t fb_bytes = 0;
        for (long t = 0; t < nch; t++) {
            if (c.fb[t].err) {
                st = gnf_fail(GNF_ERR_NOMEM, "marching cubes: cannot allocate a face buffer");
                goto done;
            }
            c.vbase[t] = vtotal;
            vtotal += c.fb[t].nv / 3;
            ftotal += c.fb[t].n;
            fb_bytes += (size_t)c.fb[t].cap * sizeof(int32_t) +
                        (size_t)c.fb[t].capv * sizeof(float);
        }
        peak = GNF_MAX(peak, fixed_bytes + fb_bytes);
        if (vtotal > INT32_MAX) {
            st = gnf_fail(GNF_ERR_NOMEM, "marching cubes: the mesh would have over 2^31-1 "
                          "vertices (res %d)", res);
            goto done;
        }
        void *fp = faces, *vp2 = c.v;
        int fok = grow_array(&fp, &capf, nf, ftotal, sizeof(int32_t)) &&
                  grow_array(&vp2, &capv, 3 * nv, 3 * vtotal, sizeof(float));
        faces = fp;
        c.v = vp2;
        if (!fok) {
            st = gnf_fail(GNF_ERR_NOMEM, "marching cubes: cannot grow the mesh to %ld vertices "
                          "and %ld triangles", vtotal, ftotal / 3);
            goto done;
        }
        for (long t = 0; t < nch; t++) {
            mc_fbuf *fb = &c.fb[t];
            if (fb->nv) {
                memcpy(c.v + 3 * nv, fb->v, (size_t)fb->nv * sizeof(float));
                nv += fb->nv / 3;
                for (long q = 0; q < fb->n; q++) {
                    int32_t x = fb->f[q];
                    faces[nf + q] = x >= 0 ? x : (int32_t)(c.vbase[t] + (-1 - (long)x));
                }
            } else if (fb->n) {
                memcpy(faces + nf, fb->f, (size_t)fb->n * sizeof(int32_t));
            }
            nf += fb->n;
            fb->n = fb->nv = 0;
        }
        assert(nv == vtotal);
    }
    if (nf == 0) { /* no surface: an empty mesh (no vertex can exist without a face) */
        assert(nv == 0);
        gnf_free(c.v);
        gnf_free(faces);
    } else {
        void *vp = c.v, *fp = faces;
        shrink_array(&vp, &capv, 3 * nv, sizeof(float));
        shrink_array(&fp, &capf, nf, sizeof(int32_t));
        out->v = vp;
        out->f = fp;
        out->nv = nv;
        out->nf = nf / 3;
    }
    c.v = NULL;
    faces = NULL;

done:
    if (st != GNF_OK) {
        gnf_free(c.v);
        gnf_free(faces);
    }
    if (c.fb)
        for (long t = 0; t < nch; t++) {
            gnf_free(c.fb[t].f);
            gnf_free(c.fb[t].v);
        }
    gnf_free(c.fb);
    gnf_free(c.vbase);
    gnf_free(c.cnt);
    gnf_free(c.ez);
    for (int s = 0; s < 2; s++) {
        gnf_free(c.ey[s]);
        gnf_free(c.ex[s]);
        gnf_free(c.abv[s]);
        gnf_free(c.val[s]);
    }
    gnf_free(pts);
    gnf_free(grid);
    if (stats) {
        stats->work_bytes_peak = peak;
        stats->eval_s = eval_s;
        stats->total_s = gnf_now() - t_start;
    }
    return st;
}

/* ---- mesh measures -------------------------------------------------------------------------- */

static int face_ok(const gnf_mesh *m, long i) {
    const int32_t *f = m->f + 3 * i;
    return f[0] >= 0 && f[0] < m->nv && f[1] >= 0 && f[1] < m->nv && f[2] >= 0 && f[2] < m->nv;
}

double gnf_mesh_area(const gnf_mesh *m) {
    double s = 0;
    for (long i = 0; i < m->nf; i++) {
        if (!face_ok(m, i)) continue;
        const float *a = m->v + 3 * m->f[3 * i], *b = m->v + 3 * m->f[3 * i + 1];
        const float *c = m->v + 3 * m->f[3 * i + 2];
        double u[3], w[3];
        for (int k = 0; k < 3; k++) {
            u[k] = (double)b[k] - a[k];
            w[k] = (double)c[k] - a[k];
        }
        double x = u[1] * w[2] - u[2] * w[1], y = u[2] * w[0] - u[0] * w[2];
        double z = u[0] * w[1] - u[1] * w[0];
        s += 0.5 * sqrt(x * x + y * y + z * z);
    }
    return s;
}

double gnf_mesh_volume(const gnf_mesh *m) {
    double s = 0;
    for (long i = 0; i < m->nf; i++) {
        if (!face_ok(m, i)) continue;
        const float *a = m->v + 3 * m->f[3 * i], *b = m->v + 3 * m->f[3 * i + 1];
        const float *c = m->v + 3 * m->f[3 * i + 2];
        s += (double)a[0] * ((double)b[1] * c[2] - (double)b[2] * c[1]) +
             (double)a[1] * ((double)b[2] * c[0] - (double)b[0] * c[2]) +
             (double)a[2] * ((double)b[0] * c[1] - (double)b[1] * c[0]);
    }
    return s / 6.0;
}
