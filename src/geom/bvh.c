/* bvh.c — binned-SAH bounding volume hierarchy over a triangle mesh: exact closest point,
 * hierarchical generalised winding number, watertight ray parity and batched signed distance.
 *
 * Layout.  Nodes live in one flat array of 32-byte records (box + two ints), root at 0; the two
 * children of an inner node are adjacent at an even index, so both boxes sit in one 64-byte cache
 * line (slot 1 is left unused for that).  Children always come after their parent, which lets the
 * per-node winding data be summed bottom-up by a reverse sweep.  Triangles are copied in leaf
 * order (9 floats each: the exact input vertices) so a leaf reads one contiguous run.
 *
 * Precision.  Geometry is stored as float (the input precision) and every predicate and distance
 * is evaluated in double, so results match a brute-force double evaluation to rounding and the
 * ray predicates are exact in the common case (see ray_edge_sign). */
#include "geom/bvh.h"
#include "core/core.h"
#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LEAF_MAX 8            /* a node with more triangles is always split */
#define NBINS 16              /* SAH bins per axis */
#define SAH_TRAVERSAL 1.0     /* cost of visiting a node relative to testing one triangle */
#define FORCE_HALVING_DEPTH 40 /* below this depth split by count: bounds the depth (stack) */
#define STACK_MAX 96          /* > FORCE_HALVING_DEPTH + log2(2^30 / LEAF_MAX) + 2 */
#define MAX_TRIANGLES (1L << 30)
#define DEFAULT_BETA 2.0
#define SDF_BLOCK 256         /* points per parallel task (fixed: results independent of threads) */
#define FOUR_PI 12.566370614359172953850573533118

typedef struct {
    _Alignas(32) float lo[3];
    int32_t first; /* leaf: first triangle (leaf order); inner: left child (right = first + 1) */
    float hi[3];
    int32_t count; /* leaf: triangles (>= 1); inner: 0 */
} bvh_node;

/* Far-field data of a node for the winding number: the integral of n dA (area vector), the
 * area-weighted centroid c, the radius of the node about c (farthest vertex), and the symmetric
 * traceless part of the first moment M_ij = integral of n_i (x - c)_j dA (xx, yy, xy, xz, yz;
 * zz = -xx - yy).  Only that part of M meets the (traceless, symmetric) Hessian of 1/r.
 * r < 0 marks a node of zero total area: it contributes nothing at any distance. */
typedef struct {
    float n[3];
    float r;
    float c[3];
    float s[5];
} bvh_far;

struct gnf_bvh {
    bvh_node *nodes;
    bvh_far *far;
    float *tri;        /* 9 floats per triangle, leaf order */
    uint8_t *degen;    /* 1 where a triangle is (nearly) zero-area: closest point by its edges */
    int32_t *orig;     /* face index in the input mesh, leaf order */
    long ntri, nnodes;
    int depth;         /* deepest node (root = 0) */
    float lo[3], hi[3];
};

/* ------------------------------------------------------------------------------------------ */
/* Build                                                                                       */

typedef struct {
    float lo[3], hi[3];
} aabb;

static void aabb_empty(aabb *b) {
    for (int a = 0; a < 3; a++) b->lo[a] = INFINITY, b->hi[a] = -INFINITY;
}

static void aabb_grow(aabb *b, const aabb *o) {
    for (int a = 0; a < 3; a++) {
        b->lo[a] = o->lo[a] < b->lo[a] ? o->lo[a] : b->lo[a];
        b->hi[a] = o->hi[a] > b->hi[a] ? o->hi[a] : b->hi[a];
    }
}

/* Half the surface area: all SAH needs is proportionality.  0 for an empty box. */
static double aabb_half_area(const aabb *b) {
    double d[3];
    for (int a = 0; a < 3; a++) {
        d[a] = (double)b->hi[a] - (double)b->lo[a];
        if (!(d[a] >= 0)) return 0;
    }
    return d[0] * d[1] + d[1] * d[2] + d[2] * d[0];
}

typedef struct {
    aabb box;
    long n;
} sah_bin;

typedef struct {
    int32_t node, begin, end, depth;
} build_item;

typedef struct {
    const aabb *tbox;  /* per input triangle */
    const float *cent; /* per input triangle: centroid */
    int32_t *idx;      /* triangle permutation being partitioned */
    bvh_node *nodes;
    int32_t *range_begin, *range_end; /* per node, for the far-field pass */
    long nnodes;
    int depth;
} build_ctx;

static int bin_of(float c, float lo, float scale) {
    /* The same expression is used for binning and partitioning, so a triangle can never be
     * counted on one side and moved to the other. */
    int k = (int)((c - lo) * scale);
    return k < 0 ? 0 : k >= NBINS ? NBINS - 1 : k;
}

/* Chooses the split of [begin, end) with the least SAH cost over NBINS bins per axis.
 * Returns the cost (in units of triangle tests times half-area) or INFINITY if the centroids
 * do not spread on any axis; *axis and *split receive the winner (left = bins below split). */
static double best_sah_split(const build_ctx *bc, int32_t begin, int32_t end, const aabb *cb,
                             int *axis, int *split, float *split_scale) {
    sah_bin bins[3][NBINS];
    float scale[3];
    for (int a = 0; a < 3; a++) {
        /* Slightly under NBINS / extent so the largest centroid lands in the last bin. */
        double ext = (double)cb->hi[a] - (double)cb->lo[a];
        scale[a] = ext > 0 ? (float)(NBINS / ext) * 0.99999f : 0.0f;
        if (!(scale[a] <= FLT_MAX)) scale[a] = 0.0f; /* extent too small to bin: treat as none */
        for (int k = 0; k < NBINS; k++) aabb_empty(&bins[a][k].box), bins[a][k].n = 0;
    }
    for (int32_t i = begin; i < end; i++) {
        int32_t t = bc->idx[i];
        for (int a = 0; a < 3; a++) {
            sah_bin *bn = &bins[a][bin_of(bc->cent[3 * t + a], cb->lo[a], scale[a])];
            aabb_grow(&bn->box, &bc->tbox[t]);
            bn->n++;
        }
    }
    double best = INFINITY;
    for (int a = 0; a < 3; a++) {
        if (scale[a] == 0.0f) continue;
        double right_area[NBINS];
        long right_n[NBINS];
        aabb acc;
        aabb_empty(&acc);
        long cnt = 0;
        for (int k = NBINS - 1; k >= 1; k--) {
            aabb_grow(&acc, &bins[a][k].box);
            cnt += bins[a][k].n;
            right_area[k] = aabb_half_area(&acc);
            right_n[k] = cnt;
        }
        aabb_empty(&acc);
        cnt = 0;
        for (int s = 1; s < NBINS; s++) {
            aabb_grow(&acc, &bins[a][s - 1].box);
            cnt += bins[a][s - 1].n;
            if (cnt == 0 || right_n[s] == 0) continue;
            double cost = aabb_half_area(&acc) * (double)cnt + right_area[s] * (double)right_n[s];
            if (cost < best) best = cost, *axis = a, *split = s;
        }
    }
    if (best < INFINITY) *split_scale = scale[*axis];
    return best;
}

static gnf_status build_tree(build_ctx *bc, long ntri) {
    build_item stack[STACK_MAX];
    int sp = 0;
    bc->nodes[0].count = 0;
    bc->nnodes = 2; /* slot 1 unused: sibling pairs start at even indices (one cache line) */
    stack[sp++] = (build_item){0, 0, (int32_t)ntri, 0};
    while (sp > 0) {
        build_item it = stack[--sp];
        bvh_node *nd = &bc->nodes[it.node];
        bc->range_begin[it.node] = it.begin;
        bc->range_end[it.node] = it.end;
        if (it.depth > bc->depth) bc->depth = it.depth;
        aabb box, cb;
        aabb_empty(&box);
        aabb_empty(&cb);
        for (int32_t i = it.begin; i < it.end; i++) {
            int32_t t = bc->idx[i];
            aabb_grow(&box, &bc->tbox[t]);
            for (int a = 0; a < 3; a++) {
                float c = bc->cent[3 * t + a];
                cb.lo[a] = c < cb.lo[a] ? c : cb.lo[a];
                cb.hi[a] = c > cb.hi[a] ? c : cb.hi[a];
            }
        }
        memcpy(nd->lo, box.lo, sizeof box.lo);
        memcpy(nd->hi, box.hi, sizeof box.hi);
        long count = it.end - it.begin;
        int32_t mid = -1;
        if (count > 1) {
            int axis = 0, split = 0;
            float scale = 0;
            double cost = INFINITY;
            if (it.depth < FORCE_HALVING_DEPTH)
                cost = best_sah_split(bc, it.begin, it.end, &cb, &axis, &split, &scale);
            double leaf_cost = (double)count * aabb_half_area(&box);
            double split_cost = SAH_TRAVERSAL * aabb_half_area(&box) + cost;
            if (cost < INFINITY && (count > LEAF_MAX || split_cost < leaf_cost)) {
                int32_t i = it.begin, j = it.end - 1;
                while (i <= j) {
                    int32_t t = bc->idx[i];
                    if (bin_of(bc->cent[3 * t + axis], cb.lo[axis], scale) < split) i++;
                    else bc->idx[i] = bc->idx[j], bc->idx[j--] = t;
                }
                mid = i;
            } else if (count > LEAF_MAX) {
                /* Centroids all coincide, or the tree is already deep (a pathological input):
                 * halve by count, which ends the descent within log2(count) levels. */
                mid = it.begin + (int32_t)(count / 2);
            }
        }
        if (mid < 0) {
            nd->first = it.begin;
            nd->count = (int32_t)count;
            continue;
        }
        assert(mid > it.begin && mid < it.end);
        if (sp + 2 > STACK_MAX) return gnf_fail(GNF_ERR_INVALID, "bvh: tree too deep");
        int32_t left = (int32_t)bc->nnodes;
        bc->nnodes += 2;
        nd->first = left;
        nd->count = 0;
        stack[sp++] = (build_item){left + 1, mid, it.end, it.depth + 1};
        stack[sp++] = (build_item){left, it.begin, mid, it.depth + 1};
    }
    return GNF_OK;
}

/* Area vector (integral of n dA: half the cross product) and centroid of one triangle. */
static void tri_area_vector(const float *t, double av[3], double g[3]) {
    double e1[3], e2[3];
    for (int a = 0; a < 3; a++) {
        e1[a] = (double)t[3 + a] - t[a];
        e2[a] = (double)t[6 + a] - t[a];
        g[a] = ((double)t[a] + t[3 + a] + t[6 + a]) / 3.0;
    }
    av[0] = 0.5 * (e1[1] * e2[2] - e1[2] * e2[1]);
    av[1] = 0.5 * (e1[2] * e2[0] - e1[0] * e2[2]);
    av[2] = 0.5 * (e1[0] * e2[1] - e1[1] * e2[0]);
}

/* Fills b->far bottom-up: children have larger indices than parents, so a reverse sweep sees
 * both children of a node before the node.  Sums are kept in double (acc: 16 per node). */
static void build_far_field(gnf_bvh *b, const int32_t *rbeg, const int32_t *rend, double *acc) {
    /* acc per node: [0] area, [1..3] area-weighted centroid sum, [4..6] area vector,
     * [7..15] full first moment M about the node's centroid (row-major M_ij = n_i (x-c)_j). */
    for (long i = b->nnodes - 1; i >= 0; i--) {
        if (i == 1) continue;
        const bvh_node *nd = &b->nodes[i];
        double *A = acc + 16 * i;
        memset(A, 0, 16 * sizeof(double));
        double c[3];
        if (nd->count > 0) {
            for (int32_t k = nd->first; k < nd->first + nd->count; k++) {
                double av[3], g[3];
                tri_area_vector(b->tri + 9 * (long)k, av, g);
                double area = sqrt(av[0] * av[0] + av[1] * av[1] + av[2] * av[2]);
                A[0] += area;
                for (int a = 0; a < 3; a++) A[1 + a] += area * g[a], A[4 + a] += av[a];
            }
            for (int a = 0; a < 3; a++) c[a] = A[0] > 0 ? A[1 + a] / A[0] : 0.0;
            /* Exact moment of a flat triangle about c: area vector times (centroid - c). */
            for (int32_t k = nd->first; k < nd->first + nd->count; k++) {
                double av[3], g[3];
                tri_area_vector(b->tri + 9 * (long)k, av, g);
                for (int r = 0; r < 3; r++)
                    for (int s = 0; s < 3; s++) A[7 + 3 * r + s] += av[r] * (g[s] - c[s]);
            }
        } else {
            const double *L = acc + 16 * (long)nd->first, *R = acc + 16 * ((long)nd->first + 1);
            A[0] = L[0] + R[0];
            for (int a = 0; a < 3; a++) A[1 + a] = L[1 + a] + R[1 + a], A[4 + a] = L[4 + a] + R[4 + a];
            for (int a = 0; a < 3; a++) c[a] = A[0] > 0 ? A[1 + a] / A[0] : 0.0;
            /* Shift each child's moment from its centroid to ours: + N_child (c_child - c)^T. */
            const double *ch[2] = {L, R};
            for (int q = 0; q < 2; q++) {
                const double *C = ch[q];
                double cc[3];
                for (int a = 0; a < 3; a++) cc[a] = C[0] > 0 ? C[1 + a] / C[0] : 0.0;
                for (int r = 0; r < 3; r++)
                    for (int s = 0; s < 3; s++)
                        A[7 + 3 * r + s] += C[7 + 3 * r + s] + C[4 + r] * (cc[s] - c[s]);
            }
        }
        bvh_far *f = &b->far[i];
        if (!(A[0] > 0)) {
            memset(f, 0, sizeof *f);
            f->r = -1.0f;
            continue;
        }
        /* Radius: the farthest vertex of the node's triangles (contiguous in leaf order). */
        double r2 = 0;
        for (long k = 9L * rbeg[i]; k < 9L * rend[i]; k += 3) {
            double d0 = b->tri[k] - c[0], d1 = b->tri[k + 1] - c[1], d2 = b->tri[k + 2] - c[2];
            double q = d0 * d0 + d1 * d1 + d2 * d2;
            r2 = q > r2 ? q : r2;
        }
        const double *M = A + 7;
        double tr3 = (M[0] + M[4] + M[8]) / 3.0;
        for (int a = 0; a < 3; a++) f->n[a] = (float)A[4 + a], f->c[a] = (float)c[a];
        /* Round the radius up so float storage never makes a near node look far. */
        f->r = (float)(sqrt(r2) * (1.0 + 1e-6));
        f->s[0] = (float)(M[0] - tr3);
        f->s[1] = (float)(M[4] - tr3);
        f->s[2] = (float)(0.5 * (M[1] + M[3]));
        f->s[3] = (float)(0.5 * (M[2] + M[6]));
        f->s[4] = (float)(0.5 * (M[5] + M[7]));
    }
}

/* A triangle so flat (height under 1e-10 of its longest edge, zero area included) that the
 * barycentric region test would divide noise by noise.  Such a triangle lies within that height
 * of its edges, so its closest point is taken on them. */
static int tri_is_degenerate(const float *t) {
    double e1[3], e2[3], e3[3];
    for (int a = 0; a < 3; a++)
        e1[a] = (double)t[3 + a] - t[a], e2[a] = (double)t[6 + a] - t[a], e3[a] = (double)t[6 + a] - t[3 + a];
    double cx = e1[1] * e2[2] - e1[2] * e2[1], cy = e1[2] * e2[0] - e1[0] * e2[2],
           cz = e1[0] * e2[1] - e1[1] * e2[0];
    double n2 = cx * cx + cy * cy + cz * cz; /* (2 area)^2 */
    double l1 = e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2];
    double l2 = e2[0] * e2[0] + e2[1] * e2[1] + e2[2] * e2[2];
    double l3 = e3[0] * e3[0] + e3[1] * e3[1] + e3[2] * e3[2];
    double lmax = GNF_MAX(l1, GNF_MAX(l2, l3));
    return n2 <= 1e-20 * lmax * lmax; /* height = 2 area / longest edge <= 1e-10 longest edge */
}

gnf_status gnf_bvh_build(const gnf_mesh *m, gnf_bvh **out) {
    assert(m && out);
    *out = NULL;
    long nf = m->nf, nv = m->nv;
    if (nf <= 0 || !m->f || !m->v) return gnf_fail(GNF_ERR_INVALID, "bvh: the mesh has no triangles");
    if (nf > MAX_TRIANGLES)
        return gnf_fail(GNF_ERR_INVALID, "bvh: %ld triangles is over the limit of %ld", nf, MAX_TRIANGLES);
    for (long i = 0; i < 3 * nf; i++)
        if (m->f[i] < 0 || m->f[i] >= nv)
            return gnf_fail(GNF_ERR_INVALID, "bvh: face %ld has vertex index %ld, out of range [0, %ld)",
                            i / 3, (long)m->f[i], nv);
    for (long i = 0; i < 3 * nv; i++)
        if (!isfinite(m->v[i]))
            return gnf_fail(GNF_ERR_INVALID, "bvh: vertex %ld has a non-finite coordinate", i / 3);

    gnf_bvh *b = gnf_calloc(1, sizeof *b);
    aabb *tbox = gnf_calloc((size_t)nf, sizeof *tbox);
    float *cent = gnf_calloc((size_t)nf * 3, sizeof *cent);
    int32_t *idx = gnf_calloc((size_t)nf, sizeof *idx);
    int32_t *rbeg = gnf_calloc((size_t)(2 * nf + 1), sizeof *rbeg);
    int32_t *rend = gnf_calloc((size_t)(2 * nf + 1), sizeof *rend);
    double *acc = NULL;
    gnf_status st = GNF_OK;
    if (b) {
        b->nodes = gnf_calloc((size_t)(2 * nf + 1), sizeof *b->nodes);
        b->tri = gnf_calloc((size_t)nf * 9, sizeof *b->tri);
        b->degen = gnf_calloc((size_t)nf, 1);
        b->orig = gnf_calloc((size_t)nf, sizeof *b->orig);
    }
    if (!b || !tbox || !cent || !idx || !rbeg || !rend || !b->nodes || !b->tri || !b->degen || !b->orig) {
        st = gnf_fail(GNF_ERR_NOMEM, "bvh: out of memory for %ld triangles", nf);
        goto done;
    }
    b->ntri = nf;
    for (int a = 0; a < 3; a++) b->lo[a] = INFINITY, b->hi[a] = -INFINITY;
    for (long t = 0; t < nf; t++) {
        aabb *bx = &tbox[t];
        aabb_empty(bx);
        for (int k = 0; k < 3; k++) {
            const float *v = m->v + 3 * (long)m->f[3 * t + k];
            for (int a = 0; a < 3; a++) {
                bx->lo[a] = v[a] < bx->lo[a] ? v[a] : bx->lo[a];
                bx->hi[a] = v[a] > bx->hi[a] ? v[a] : bx->hi[a];
            }
        }
        for (int a = 0; a < 3; a++) {
            const float *v0 = m->v + 3 * (long)m->f[3 * t], *v1 = m->v + 3 * (long)m->f[3 * t + 1],
                        *v2 = m->v + 3 * (long)m->f[3 * t + 2];
            cent[3 * t + a] = (float)(((double)v0[a] + v1[a] + v2[a]) / 3.0);
            b->lo[a] = bx->lo[a] < b->lo[a] ? bx->lo[a] : b->lo[a];
            b->hi[a] = bx->hi[a] > b->hi[a] ? bx->hi[a] : b->hi[a];
        }
        idx[t] = (int32_t)t;
    }
    build_ctx bc = {tbox, cent, idx, b->nodes, rbeg, rend, 0, 0};
    st = build_tree(&bc, nf);
    if (st != GNF_OK) goto done;
    b->nnodes = bc.nnodes;
    b->depth = bc.depth;
    for (long i = 0; i < nf; i++) {
        long t = idx[i];
        b->orig[i] = (int32_t)t;
        for (int k = 0; k < 3; k++) memcpy(b->tri + 9 * i + 3 * k, m->v + 3 * (long)m->f[3 * t + k], 3 * sizeof(float));
        b->degen[i] = (uint8_t)tri_is_degenerate(b->tri + 9 * i);
    }
    b->far = gnf_calloc((size_t)b->nnodes, sizeof *b->far);
    acc = gnf_calloc((size_t)b->nnodes * 16, sizeof *acc);
    if (!b->far || !acc) {
        st = gnf_fail(GNF_ERR_NOMEM, "bvh: out of memory for %ld nodes", b->nnodes);
        goto done;
    }
    build_far_field(b, rbeg, rend, acc);
done:
    gnf_free(tbox);
    gnf_free(cent);
    gnf_free(idx);
    gnf_free(rbeg);
    gnf_free(rend);
    gnf_free(acc);
    if (st != GNF_OK) {
        gnf_bvh_free(b);
        return st;
    }
    *out = b;
    return GNF_OK;
}

void gnf_bvh_free(gnf_bvh *b) {
    if (!b) return;
    gnf_free(b->nodes);
    gnf_free(b->far);
    gnf_free(b->tri);
    gnf_free(b->degen);
    gnf_free(b->orig);
    gnf_free(b);
}

long gnf_bvh_triangle_count(const gnf_bvh *b) { return b->ntri; }

void gnf_bvh_bounds(const gnf_bvh *b, float lo[3], float hi[3]) {
    if (lo) memcpy(lo, b->lo, sizeof b->lo);
    if (hi) memcpy(hi, b->hi, sizeof b->hi);
}

/* ------------------------------------------------------------------------------------------ */
/* Closest point                                                                               */

static double dot3(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

/* Closest point to p on the segment [a, b]; returns the squared distance. */
static double seg_closest(const double p[3], const double a[3], const double b[3], double out[3]) {
    double ab[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    double ap[3] = {p[0] - a[0], p[1] - a[1], p[2] - a[2]};
    double len2 = dot3(ab, ab), t = dot3(ap, ab);
    t = len2 > 0 ? t / len2 : 0.0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double d2 = 0;
    for (int k = 0; k < 3; k++) {
        out[k] = a[k] + t * ab[k];
        double d = p[k] - out[k];
        d2 += d * d;
    }
    return d2;
}

/* Closest point to p on triangle t (9 floats) by Voronoi regions.  With dk the dot products of
 * the edges ab, ac with p minus a vertex, p projects onto vertex a when both dots at a are <= 0,
 * onto edge ab when the barycentric weight of c of its projection (vc) is <= 0 and p lies between
 * the planes through a and b orthogonal to ab, and so on; otherwise inside the face, with
 * barycentrics proportional to (va, vb, vc).  Degenerate triangles (flag) take the nearest of
 * their edges instead: their regions are undefined.  Returns the squared distance. */
static double tri_closest(const double p[3], const float *t, int degenerate, double cp[3]) {
    double a[3] = {t[0], t[1], t[2]}, b[3] = {t[3], t[4], t[5]}, c[3] = {t[6], t[7], t[8]};
    if (degenerate) {
        double q[3], best = seg_closest(p, a, b, cp);
        double d = seg_closest(p, b, c, q);
        if (d < best) best = d, memcpy(cp, q, sizeof q);
        d = seg_closest(p, c, a, q);
        if (d < best) best = d, memcpy(cp, q, sizeof q);
        return best;
    }
    double ab[3], ac[3], ap[3], bp[3], cq[3];
    for (int k = 0; k < 3; k++) {
        ab[k] = b[k] - a[k], ac[k] = c[k] - a[k];
        ap[k] = p[k] - a[k], bp[k] = p[k] - b[k], cq[k] = p[k] - c[k];
    }
    double d1 = dot3(ab, ap), d2 = dot3(ac, ap);
    double d3 = dot3(ab, bp), d4 = dot3(ac, bp);
    double d5 = dot3(ab, cq), d6 = dot3(ac, cq);
    double u = 0, v = 0; /* cp = a + u ab + v ac */
    if (d1 <= 0 && d2 <= 0) {
        /* vertex a */
    } else if (d3 >= 0 && d4 <= d3) {
        u = 1;
    } else if (d6 >= 0 && d5 <= d6) {
        v = 1;
    } else {
        double vc = d1 * d4 - d3 * d2, vb = d5 * d2 - d1 * d6, va = d3 * d6 - d5 * d4;
        if (vc <= 0 && d1 >= 0 && d3 <= 0) {
            u = d1 / (d1 - d3); /* d1 - d3 = |ab|^2 > 0 here */
        } else if (vb <= 0 && d2 >= 0 && d6 <= 0) {
            v = d2 / (d2 - d6);
        } else if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0) {
            double w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
            u = 1 - w, v = w;
        } else {
            double sum = va + vb + vc; /* = |ab x ac|^2 > 0 up to rounding */
            if (!(sum > 0)) return tri_closest(p, t, 1, cp);
            u = vb / sum, v = vc / sum;
        }
    }
    double d2s = 0;
    for (int k = 0; k < 3; k++) {
        cp[k] = a[k] + u * ab[k] + v * ac[k];
        double d = p[k] - cp[k];
        d2s += d * d;
    }
    return d2s;
}

static double box_dist2(const bvh_node *nd, const double p[3]) {
    double d2 = 0;
    for (int a = 0; a < 3; a++) {
        double lo = (double)nd->lo[a] - p[a], hi = p[a] - (double)nd->hi[a];
        double d = lo > hi ? lo : hi;
        d = d > 0 ? d : 0;
        d2 += d * d;
    }
    return d2;
}

/* Best-first descent: the nearer child is visited first and every box no nearer than the best
 * triangle so far is skipped (strictly: equal distance cannot improve).  `best2`, `bi` (leaf-order
 * triangle) and `cp` carry an optional starting guess in and the answer out. */
static void closest_search(const gnf_bvh *b, const double p[3], double *best2, long *bi, double cp[3]) {
    struct { int32_t node; double d2; } stack[STACK_MAX];
    int sp = 0;
    int32_t cur = 0;
    double cur_d2 = box_dist2(&b->nodes[0], p);
    for (;;) {
        if (cur_d2 < *best2) {
            const bvh_node *nd = &b->nodes[cur];
            if (nd->count > 0) {
                for (int32_t k = nd->first; k < nd->first + nd->count; k++) {
                    double q[3];
                    double d2 = tri_closest(p, b->tri + 9 * (long)k, b->degen[k], q);
                    if (d2 < *best2) *best2 = d2, *bi = k, memcpy(cp, q, sizeof q);
                }
            } else {
                int32_t l = nd->first;
                double dl = box_dist2(&b->nodes[l], p), dr = box_dist2(&b->nodes[l + 1], p);
                int32_t near = l, far = l + 1;
                if (dr < dl) {
                    double t = dl;
                    dl = dr, dr = t;
                    near = l + 1, far = l;
                }
                if (dr < *best2) stack[sp].node = far, stack[sp++].d2 = dr;
                cur = near, cur_d2 = dl;
                continue;
            }
        }
        if (sp == 0) break;
        sp--;
        cur = stack[sp].node, cur_d2 = stack[sp].d2;
    }
}

float gnf_bvh_closest(const gnf_bvh *b, const float p[3], float closest[3], long *tri) {
    double pd[3] = {p[0], p[1], p[2]}, cp[3] = {0, 0, 0};
    double best2 = INFINITY;
    long bi = 0;
    closest_search(b, pd, &best2, &bi, cp);
    if (closest)
        for (int a = 0; a < 3; a++) closest[a] = (float)cp[a];
    if (tri) *tri = b->orig[bi];
    return (float)sqrt(best2);
}

/* ------------------------------------------------------------------------------------------ */
/* Winding number                                                                              */

/* Signed solid angle of triangle t seen from p (Van Oosterom–Strackee):
 * tan(Omega/2) = a.(b x c) / (|a||b||c| + (a.b)|c| + (b.c)|a| + (c.a)|b|), with a, b, c the
 * vertices relative to p.  Positive when p sees the counter-clockwise side from behind, i.e.
 * from inside a closed outward-facing mesh.  A zero triple product (p in the triangle's plane,
 * or a zero-area triangle) gives 0 rather than atan2's +-pi: no NaN, no spurious 2 pi. */
static double tri_solid_angle(const double p[3], const float *t) {
    double a[3], b[3], c[3];
    for (int k = 0; k < 3; k++) a[k] = t[k] - p[k], b[k] = t[3 + k] - p[k], c[k] = t[6 + k] - p[k];
    double num = a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2]) +
                 a[2] * (b[0] * c[1] - b[1] * c[0]);
    if (num == 0) return 0;
    double la = sqrt(dot3(a, a)), lb = sqrt(dot3(b, b)), lc = sqrt(dot3(c, c));
    double den = la * lb * lc + dot3(a, b) * lc + dot3(b, c) * la + dot3(c, a) * lb;
    return 2.0 * atan2(num, den);
}

double gnf_bvh_winding_beta(const gnf_bvh *b, const float p[3], double beta) {
    double pd[3] = {p[0], p[1], p[2]};
    double beta2 = beta > 0 ? beta * beta : 0.0;
    double omega = 0;
    int32_t stack[STACK_MAX];
    int sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        int32_t i = stack[--sp];
        const bvh_far *f = &b->far[i];
        if (f->r < 0) continue; /* zero area: contributes nothing */
        double r[3] = {f->c[0] - pd[0], f->c[1] - pd[1], f->c[2] - pd[2]};
        double d2 = dot3(r, r);
        double rad = f->r;
        if (beta2 > 0 && d2 > beta2 * rad * rad) {
            /* Expansion of n.(x - p)/|x - p|^3 about x = c: the dipole term N.r/|r|^3 plus the
             * first-order term H:S with H = I/|r|^3 - 3 r r^T/|r|^5 (S is traceless: I:S = 0). */
            double inv = 1.0 / sqrt(d2), inv3 = inv * inv * inv;
            double nr = f->n[0] * r[0] + f->n[1] * r[1] + f->n[2] * r[2];
            const float *s = f->s;
            double sxx = s[0], syy = s[1], szz = -(double)s[0] - s[1];
            double rsr = sxx * r[0] * r[0] + syy * r[1] * r[1] + szz * r[2] * r[2] +
                         2.0 * (s[2] * r[0] * r[1] + s[3] * r[0] * r[2] + s[4] * r[1] * r[2]);
            omega += nr * inv3 - 3.0 * rsr * inv3 * inv * inv;
            continue;
        }
        const bvh_node *nd = &b->nodes[i];
        if (nd->count > 0) {
            for (int32_t k = nd->first; k < nd->first + nd->count; k++)
                omega += tri_solid_angle(pd, b->tri + 9 * (long)k);
        } else {
            stack[sp++] = nd->first + 1;
            stack[sp++] = nd->first;
        }
    }
    return omega / FOUR_PI;
}

double gnf_bvh_winding(const gnf_bvh *b, const float p[3]) { return gnf_bvh_winding_beta(b, p, DEFAULT_BETA); }

/* ------------------------------------------------------------------------------------------ */
/* Ray parity                                                                                  */

/* A ray in a sheared frame where it runs along +z from the origin: for a vertex v,
 * x = (v - p)[kx] - sx (v - p)[kz], y likewise with ky, z = sz (v - p)[kz]. */
typedef struct {
    double p[3], inv[3], sx, sy, sz;
    int kx, ky, kz;
} ray_frame;

static void ray_frame_init(ray_frame *rf, const float p[3], const float dir[3]) {
    int kz = 0;
    for (int a = 1; a < 3; a++)
        if (fabsf(dir[a]) > fabsf(dir[kz])) kz = a;
    rf->kz = kz, rf->kx = (kz + 1) % 3, rf->ky = (kz + 2) % 3;
    rf->sx = (double)dir[rf->kx] / dir[kz];
    rf->sy = (double)dir[rf->ky] / dir[kz];
    rf->sz = 1.0 / dir[kz];
    for (int a = 0; a < 3; a++) {
        rf->p[a] = p[a];
        rf->inv[a] = dir[a] != 0 ? 1.0 / dir[a] : 0.0;
    }
}

/* Does the ray (t >= 0) meet the box?  Slabs in double with inclusive bounds and a relative
 * slack far above rounding, so a triangle touched by the (infinitesimally perturbed) ray is never
 * culled; a direction component of 0 is an exact containment test on that axis. */
static int ray_box(const ray_frame *rf, const bvh_node *nd) {
    double tn = 0, tf = INFINITY;
    for (int a = 0; a < 3; a++) {
        double lo = nd->lo[a], hi = nd->hi[a];
        if (rf->inv[a] == 0) {
            if (rf->p[a] < lo || rf->p[a] > hi) return 0;
            continue;
        }
        double t0 = (lo - rf->p[a]) * rf->inv[a], t1 = (hi - rf->p[a]) * rf->inv[a];
        if (t0 > t1) {
            double t = t0;
            t0 = t1, t1 = t;
        }
        tn = t0 > tn ? t0 : tn;
        tf = t1 < tf ? t1 : tf;
    }
    return tn <= tf * (1.0 + 1e-12) + 1e-300;
}

/* Sign of the 2-D edge function cross(X, Y) = Xx Yy - Xy Yx seen from the origin moved to
 * (eps, eps^2), eps -> 0+ (simulation of simplicity): cross(X - q, Y - q) = cross(X, Y) - eps
 * (Y - X)y + eps^2 (Y - X)x.  The pair is evaluated in a canonical order and negated for the other,
 * so two triangles sharing an edge get exactly opposite signs whatever the rounding: a ray through
 * an edge or a vertex is inside exactly one triangle of a closed fan.  0 only for X == Y. */
static int ray_edge_sign(const double X[2], const double Y[2], double *value) {
    int flip = (X[0] > Y[0]) || (X[0] == Y[0] && X[1] > Y[1]);
    const double *P = flip ? Y : X, *Q = flip ? X : Y;
    double e = P[0] * Q[1] - P[1] * Q[0];
    int s;
    if (e != 0) s = e > 0 ? 1 : -1;
    else {
        double dy = Q[1] - P[1], dx = Q[0] - P[0];
        s = dy != 0 ? (dy > 0 ? -1 : 1) : (dx > 0 ? 1 : dx < 0 ? -1 : 0);
    }
    *value = flip ? -e : e;
    return flip ? -s : s;
}

/* 1 if the ray crosses triangle t at t > 0. */
static int ray_tri(const ray_frame *rf, const float *t) {
    double v[3][2], z[3];
    for (int k = 0; k < 3; k++) {
        /* One code path per vertex: a vertex shared by two triangles maps to the same bits. */
        double dx = (double)t[3 * k + rf->kx] - rf->p[rf->kx];
        double dy = (double)t[3 * k + rf->ky] - rf->p[rf->ky];
        double dz = (double)t[3 * k + rf->kz] - rf->p[rf->kz];
        v[k][0] = dx - rf->sx * dz;
        v[k][1] = dy - rf->sy * dz;
        z[k] = rf->sz * dz;
    }
    double e0, e1, e2; /* edge functions opposite vertex 0, 1, 2 */
    int s0 = ray_edge_sign(v[1], v[2], &e0);
    int s1 = ray_edge_sign(v[2], v[0], &e1);
    int s2 = ray_edge_sign(v[0], v[1], &e2);
    if (s0 == 0 || s0 != s1 || s0 != s2) return 0;
    double det = e0 + e1 + e2;
    if (det == 0) return 0; /* seen edge-on */
    double tn = e0 * z[0] + e1 * z[1] + e2 * z[2];
    return det > 0 ? tn > 0 : tn < 0;
}

static long ray_count(const gnf_bvh *b, const ray_frame *rf) {
    int32_t stack[STACK_MAX];
    int sp = 0;
    long hits = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        const bvh_node *nd = &b->nodes[stack[--sp]];
        if (!ray_box(rf, nd)) continue;
        if (nd->count > 0) {
            for (int32_t k = nd->first; k < nd->first + nd->count; k++) hits += ray_tri(rf, b->tri + 9 * (long)k);
        } else {
            stack[sp++] = nd->first + 1;
            stack[sp++] = nd->first;
        }
    }
    return hits;
}

long gnf_bvh_ray_crossings(const gnf_bvh *b, const float p[3], const float dir[3]) {
    assert(dir[0] != 0 || dir[1] != 0 || dir[2] != 0);
    ray_frame rf;
    ray_frame_init(&rf, p, dir);
    return ray_count(b, &rf);
}

/* ------------------------------------------------------------------------------------------ */
/* Signed distance                                                                             */

typedef struct {
    const gnf_bvh *b;
    const float *pts;
    float *sdf;
    long n;
    int watertight;
} sdf_ctx;

static void sdf_task(void *vctx, long task, int thread) {
    (void)thread;
    const sdf_ctx *x = vctx;
    const gnf_bvh *b = x->b;
    long i0 = task * SDF_BLOCK, i1 = GNF_MIN(i0 + SDF_BLOCK, x->n);
    long prev = -1; /* last closest triangle: a tight first guess for coherent point sets */
    static const float axes[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    for (long i = i0; i < i1; i++) {
        const float *p = x->pts + 3 * i;
        double pd[3] = {p[0], p[1], p[2]}, cp[3];
        double best2 = INFINITY;
        long bi = 0;
        if (prev >= 0) best2 = tri_closest(pd, b->tri + 9 * prev, b->degen[prev], cp), bi = prev;
        closest_search(b, pd, &best2, &bi, cp);
        prev = bi;
        float d = (float)sqrt(best2);
        int inside;
        if (x->watertight) {
            int odd = 0;
            for (int a = 0; a < 3; a++) {
                ray_frame rf;
                ray_frame_init(&rf, p, axes[a]);
                odd += (int)(ray_count(b, &rf) & 1);
            }
            inside = odd >= 2;
        } else {
            inside = gnf_bvh_winding(b, p) >= 0.5;
        }
        x->sdf[i] = inside ? -d : d;
    }
}

void gnf_bvh_sdf(const gnf_bvh *b, const float *pts, long n, float *sdf, int watertight, int threads) {
    if (n <= 0) return;
    sdf_ctx x = {b, pts, sdf, n, watertight};
    gnf_parallel_for((n + SDF_BLOCK - 1) / SDF_BLOCK, threads, sdf_task, &x);
}
