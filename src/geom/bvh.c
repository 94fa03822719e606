/* bvh.c — bounding volume hierarchy over a triangle mesh: exact closest point, hierarchical
 * generalised winding number, watertight ray parity and batched signed distance.
 *
 * Build.  A binary tree by binned SAH (16 bins along the axis where the centroids spread most;
 * every object split for nodes of at most SWEEP_MAX triangles), leaves of at most LEAF_MAX.  It is
 * then collapsed into a 4-wide tree, which is what the queries walk: half the depth (fewer
 * dependent cache misses) and four children tested by one SIMD pass.  Each wide node is stored
 * twice, as the boxes of its four children (bnodes: closest point, rays) and as their far fields
 * (wnodes: winding number), structure-of-arrays, so each query streams only what it reads.
 * Triangles are copied in leaf order (9 floats each: the exact input vertices), so a leaf reads
 * one contiguous run.
 *
 * Precision.  Geometry is stored as float (the input precision) and every distance, solid angle
 * and ray predicate is evaluated in double, so results match a brute-force double evaluation to
 * rounding and the ray predicates are exact in the common case (see ray_edge_sign).  Only box
 * tests and the dipole approximation use float, conservatively (see BOX_SHRINK).
 *
 * Speed.  On large meshes queries are bound by cache misses: traversals prefetch what they visit
 * next, and gnf_bvh_sdf sorts its points along a Morton curve so that consecutive queries share
 * nodes, and seeds each closest-point search with the previous point's triangle. */
#include "geom/bvh.h"
#include "core/core.h"
#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LEAF_MAX 8              /* a node with more triangles is always split */
#define NBINS 16                /* SAH bins per axis */
#define SWEEP_MAX 8             /* nodes up to this size try every object split instead of bins */
#define SAH_TRAVERSAL 1.0       /* cost of visiting a node relative to testing one triangle */
#define FORCE_HALVING_DEPTH 40  /* from this depth split by count: bounds the depth (stacks) */
#define STACK_MAX 96            /* > binary depth <= FORCE_HALVING_DEPTH + log2(2^27); a wide
                                 * traversal holds at most 3 per level + 1: 4 * STACK_MAX */
#define MAX_TRIANGLES (1L << 27) /* node links keep a node index in 28 bits */
#define EXACT_RADIUS_MAX 32     /* nodes up to this many triangles get their exact radius */
#define DEFAULT_BETA 2.0
#define SDF_BLOCK 256           /* points per parallel task (fixed: results independent of threads) */
#define SDF_SORT_MIN 2048       /* fewer points are not worth sorting */
#define FOUR_PI 12.566370614359172953850573533118

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

/* SSE2 (every x86-64) for box arithmetic; elsewhere (or with -DGNF_BVH_NO_SSE, which the tests
 * use to exercise it) the scalar code computes the same values. */
#if defined(__SSE2__) && !defined(GNF_BVH_NO_SSE)
#include <emmintrin.h>
#define BVH_SSE 1
#else
#define BVH_SSE 0
#endif

/* Box distances are computed in float from float inputs (exact points and boxes), with relative
 * error under 1e-6; a box is pruned only when its distance, shrunk by this factor, is no less than
 * the best triangle distance (double): pruning stays conservative. */
#define BOX_SHRINK (1.0f - 1e-6f)

/* A node of the binary tree (build time only).  Children always come after their parent, so
 * per-node sums are formed by one reverse sweep. */
typedef struct {
    float lo[3];
    int32_t first; /* leaf: first triangle (leaf order); inner: left child (right = first + 1) */
    float hi[3];
    int32_t count; /* leaf: triangles (1..LEAF_MAX); inner: 0 */
} bvh_node;

/* Far field of a binary node for the winding number (a build-time intermediate): n = integral of
 * the unit normal over the node's triangles (the area vector), c = their area-weighted centroid,
 * r2 = squared distance from c to the farthest vertex (< 0: zero area, contributes nothing). */
typedef struct {
    float n[3];
    float r2;
    float c[3];
    float pad;
} bvh_far;

/* The winding number walks a 4-wide tree collapsed from the binary one, its four children's far
 * fields side by side (structure of arrays) so that one SIMD pass tests all four.  link: a leaf
 * child is (first triangle << 4) | count (1..LEAF_MAX), an inner child (wnode index << 4); an
 * empty or zero-area slot has r2 = -1. */
typedef struct {
    _Alignas(64) float cx[4];
    float cy[4], cz[4], r2[4];
    float nx[4], ny[4], nz[4];
    uint32_t link[4];
} bvh_wnode4;

/* The same 4-wide tree (same indices and links) with its children's boxes, for closest point
 * and rays.  An empty slot has link 0 and an inverted box (lo = +inf, hi = -inf). */
typedef struct {
    _Alignas(64) float lox[4];
    float loy[4], loz[4], hix[4], hiy[4], hiz[4];
    uint32_t link[4];
    uint32_t pad[4];
} bvh_bnode4;

struct gnf_bvh {
    bvh_node *nodes;   /* the binary tree: build time only (NULL afterwards) */
    bvh_bnode4 *bnodes;
    bvh_wnode4 *wnodes;
    long nwnodes;
    float *tri;        /* 9 floats per triangle, leaf order */
    uint8_t *degen;    /* 1 where a triangle is too flat for the region test: use its edges */
    int32_t *orig;     /* face index in the input mesh, leaf order */
    long ntri, nnodes; /* triangles; binary nodes (build time) */
    float lo[3], hi[3];
};

/* ------------------------------------------------------------------------------------------ */
/* Build                                                                                       */

typedef struct {
    _Alignas(16) float lo[4]; /* lane 3 unused (kept at the empty value) */
    float hi[4];
} aabb;

static inline void aabb_empty(aabb *b) {
    for (int a = 0; a < 4; a++) b->lo[a] = FLT_MAX, b->hi[a] = -FLT_MAX;
}

static inline void aabb_grow(aabb *b, const aabb *o) {
#if BVH_SSE
    _mm_store_ps(b->lo, _mm_min_ps(_mm_load_ps(b->lo), _mm_load_ps(o->lo)));
    _mm_store_ps(b->hi, _mm_max_ps(_mm_load_ps(b->hi), _mm_load_ps(o->hi)));
#else
    for (int a = 0; a < 4; a++) {
        b->lo[a] = o->lo[a] < b->lo[a] ? o->lo[a] : b->lo[a];
        b->hi[a] = o->hi[a] > b->hi[a] ? o->hi[a] : b->hi[a];
    }
#endif
}

/* Grows b by the point p (3 floats, any alignment). */
static inline void aabb_grow_vertex(aabb *b, const float *p) {
    for (int a = 0; a < 3; a++) {
        b->lo[a] = p[a] < b->lo[a] ? p[a] : b->lo[a];
        b->hi[a] = p[a] > b->hi[a] ? p[a] : b->hi[a];
    }
}

/* Grows b by the point p (16-byte aligned, p[3] readable and ignored). */
static inline void aabb_grow_point(aabb *b, const float *p) {
#if BVH_SSE
    __m128 v = _mm_load_ps(p);
    _mm_store_ps(b->lo, _mm_min_ps(_mm_load_ps(b->lo), v));
    _mm_store_ps(b->hi, _mm_max_ps(_mm_load_ps(b->hi), v));
#else
    aabb_grow_vertex(b, p);
#endif
}

/* Half the surface area (all SAH needs is proportionality); an empty box gives a negative or
 * meaningless value but is never asked for (empty sides are skipped). */
static inline float aabb_half_area(const aabb *b) {
    float dx = b->hi[0] - b->lo[0], dy = b->hi[1] - b->lo[1], dz = b->hi[2] - b->lo[2];
    return dx * dy + dy * dz + dz * dx;
}

typedef struct {
    int32_t node, begin, end, depth;
    aabb box, cbox; /* bounds of the triangles and of their centroids */
} build_item;

/* What the build knows of a triangle.  Records are partitioned in place (not indices into a
 * side table) so that every pass over a node's range reads memory sequentially. */
typedef struct {
    aabb box;
    _Alignas(16) float c[4]; /* centroid; c[3] = 0 (lets SSE grow a box by it) */
    int32_t t;   /* face index in the input mesh */
} tri_ref;

typedef struct {
    tri_ref *refs;     /* partitioned into leaf order */
    bvh_node *nodes;
    int32_t *range_begin, *range_end; /* per node: its triangles' positions in leaf order */
    long nnodes;
} build_ctx;

static inline int bin_of(float c, float lo, float scale) {
    /* The same expression bins and partitions, so a triangle cannot change sides. */
    int k = (int)((c - lo) * scale);
    return k < 0 ? 0 : k >= NBINS ? NBINS - 1 : k;
}

typedef struct {
    int axis, split; /* left = bins below split */
    float scale;
    double cost;     /* sum over both sides of half-area * triangles; INFINITY: no split */
    aabb left, right;
} sah_split;

/* Finds the least-cost SAH split of [begin, end) over NBINS bins along the axis where the
 * centroids spread most.  (Binning all three axes costs 3x for trees only ~2-3% better by the
 * SAH measure on scanned meshes: not worth it when the build should take well under 100 ms.) */
static void best_sah_split(const build_ctx *bc, int32_t begin, int32_t end, const aabb *cb, sah_split *out) {
    out->cost = INFINITY;
    int a = 0;
    double ext = -1;
    for (int k = 0; k < 3; k++) {
        double e = (double)cb->hi[k] - (double)cb->lo[k];
        if (e > ext) ext = e, a = k;
    }
    /* Slightly under NBINS / extent so the largest centroid lands in the last bin. */
    float scale = ext > 0 ? (float)(NBINS / ext) * 0.99999f : 0.0f;
    if (!(scale > 0 && scale <= FLT_MAX)) return; /* no spread (or too little to bin): no split */
    aabb bins[NBINS];
    int32_t cnt[NBINS];
    for (int k = 0; k < NBINS; k++) aabb_empty(&bins[k]), cnt[k] = 0;
    const float lo = cb->lo[a];
    for (int32_t i = begin; i < end; i++) {
        const tri_ref *r = &bc->refs[i];
        int k = bin_of(r->c[a], lo, scale);
        aabb_grow(&bins[k], &r->box);
        cnt[k]++;
    }
    float right_area[NBINS];
    int32_t right_n[NBINS];
    aabb acc;
    aabb_empty(&acc);
    int32_t n = 0;
    for (int k = NBINS - 1; k >= 1; k--) {
        aabb_grow(&acc, &bins[k]);
        n += cnt[k];
        right_area[k] = n ? aabb_half_area(&acc) : 0.0f;
        right_n[k] = n;
    }
    aabb_empty(&acc);
    n = 0;
    for (int s = 1; s < NBINS; s++) {
        aabb_grow(&acc, &bins[s - 1]);
        n += cnt[s - 1];
        if (n == 0 || right_n[s] == 0) continue;
        double cost = (double)aabb_half_area(&acc) * n + (double)right_area[s] * right_n[s];
        if (cost < out->cost) out->cost = cost, out->split = s;
    }
    if (out->cost < INFINITY) {
        out->axis = a;
        out->scale = scale;
        aabb_empty(&out->left);
        aabb_empty(&out->right);
        for (int k = 0; k < NBINS; k++) aabb_grow(k < out->split ? &out->left : &out->right, &bins[k]);
    }
}

/* Small nodes: every object split along each axis in centroid order (exact SAH, and far cheaper
 * than filling and sweeping 3 x NBINS bins for a handful of triangles).  Returns the cost as
 * best_sah_split does; on a split, [begin, end) is reordered along the chosen axis and *mid is
 * the first position of the right side. */
static double small_sah_split(build_ctx *bc, int32_t begin, int32_t end, int32_t *mid, aabb *lbox, aabb *rbox) {
    int n = (int)(end - begin), best_axis = -1, best_k = 0;
    uint8_t order[3][SWEEP_MAX];
    double best = INFINITY;
    aabb right_box[SWEEP_MAX];
    for (int a = 0; a < 3; a++) {
        uint8_t *o = order[a];
        for (int i = 0; i < n; i++) {
            /* Insertion sort by centroid, ties by position: deterministic. */
            int j = i;
            float c = bc->refs[begin + i].c[a];
            while (j > 0 && bc->refs[begin + o[j - 1]].c[a] > c) o[j] = o[j - 1], j--;
            o[j] = (uint8_t)i;
        }
        float right_area[SWEEP_MAX];
        aabb acc;
        aabb_empty(&acc);
        for (int k = n - 1; k >= 1; k--) {
            aabb_grow(&acc, &bc->refs[begin + o[k]].box);
            right_area[k] = aabb_half_area(&acc);
            right_box[k] = acc;
        }
        aabb_empty(&acc);
        for (int k = 1; k < n; k++) {
            aabb_grow(&acc, &bc->refs[begin + o[k - 1]].box);
            double cost = (double)aabb_half_area(&acc) * k + (double)right_area[k] * (n - k);
            if (cost < best) best = cost, best_axis = a, best_k = k, *lbox = acc, *rbox = right_box[k];
        }
    }
    if (best_axis >= 0) {
        tri_ref tmp[SWEEP_MAX];
        for (int i = 0; i < n; i++) tmp[i] = bc->refs[begin + order[best_axis][i]];
        memcpy(&bc->refs[begin], tmp, (size_t)n * sizeof *tmp);
        *mid = begin + best_k;
    }
    return best;
}

/* Bounds of the triangles in [begin, end) and of their centroids. */
static void range_bounds(const build_ctx *bc, int32_t begin, int32_t end, aabb *box, aabb *cbox) {
    aabb_empty(box);
    aabb_empty(cbox);
    for (int32_t i = begin; i < end; i++) {
        aabb_grow(box, &bc->refs[i].box);
        aabb_grow_point(cbox, bc->refs[i].c);
    }
}

static gnf_status build_tree(build_ctx *bc, long ntri) {
    build_item stack[STACK_MAX];
    int sp = 0;
    bc->nnodes = 1;
    build_item root = {0, 0, (int32_t)ntri, 0, {{0}, {0}}, {{0}, {0}}};
    range_bounds(bc, 0, (int32_t)ntri, &root.box, &root.cbox);
    stack[sp++] = root;
    while (sp > 0) {
        build_item it = stack[--sp];
        bvh_node *nd = &bc->nodes[it.node];
        bc->range_begin[it.node] = it.begin;
        bc->range_end[it.node] = it.end;
        memcpy(nd->lo, it.box.lo, sizeof nd->lo);
        memcpy(nd->hi, it.box.hi, sizeof nd->hi);
        int32_t count = it.end - it.begin, mid = -1;
        build_item L = {0}, R = {0};
        double area = aabb_half_area(&it.box);
        if (count > 1 && count <= SWEEP_MAX && it.depth < FORCE_HALVING_DEPTH) {
            /* (Reorders the range even if it then stays a leaf: harmless.) */
            /* Children of a small node are small: they need no centroid bounds. */
            int32_t m = -1;
            double cost = small_sah_split(bc, it.begin, it.end, &m, &L.box, &R.box);
            if (cost < INFINITY && (count > LEAF_MAX || SAH_TRAVERSAL * area + cost < (double)count * area)) {
                mid = m;
            } else if (count > LEAF_MAX) {
                mid = it.begin + count / 2; /* all centroids equal: see below */
                range_bounds(bc, it.begin, mid, &L.box, &L.cbox);
                range_bounds(bc, mid, it.end, &R.box, &R.cbox);
            }
        } else if (count > 1) {
            sah_split sp_best;
            sp_best.cost = INFINITY;
            if (it.depth < FORCE_HALVING_DEPTH) best_sah_split(bc, it.begin, it.end, &it.cbox, &sp_best);
            double leaf_cost = (double)count * area, split_cost = SAH_TRAVERSAL * area + sp_best.cost;
            if (sp_best.cost < INFINITY && (count > LEAF_MAX || split_cost < leaf_cost)) {
                int a = sp_best.axis;
                int32_t i = it.begin, j = it.end - 1;
                aabb_empty(&L.cbox);
                aabb_empty(&R.cbox);
                while (i <= j) {
                    tri_ref *r = &bc->refs[i];
                    if (bin_of(r->c[a], it.cbox.lo[a], sp_best.scale) < sp_best.split) {
                        aabb_grow_point(&L.cbox, r->c);
                        i++;
                    } else {
                        aabb_grow_point(&R.cbox, r->c);
                        tri_ref tmp = *r;
                        *r = bc->refs[j];
                        bc->refs[j--] = tmp;
                    }
                }
                mid = i;
                L.box = sp_best.left;
                R.box = sp_best.right;
            } else if (count > LEAF_MAX) {
                /* Centroids all coincide, or the tree is already deep (a pathological input):
                 * halve by count, which ends the descent within log2(count) levels. */
                mid = it.begin + count / 2;
                range_bounds(bc, it.begin, mid, &L.box, &L.cbox);
                range_bounds(bc, mid, it.end, &R.box, &R.cbox);
            }
        }
        if (mid < 0) {
            nd->first = it.begin;
            nd->count = count;
            continue;
        }
        assert(mid > it.begin && mid < it.end);
        if (sp + 2 > STACK_MAX) return gnf_fail(GNF_ERR_INVALID, "bvh: tree too deep");
        int32_t left = (int32_t)bc->nnodes;
        bc->nnodes += 2;
        nd->first = left;
        nd->count = 0;
        L.node = left, L.begin = it.begin, L.end = mid, L.depth = it.depth + 1;
        R.node = left + 1, R.begin = mid, R.end = it.end, R.depth = it.depth + 1;
        stack[sp++] = R;
        stack[sp++] = L; /* left first: its subtree gets the next indices (locality) */
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

/* Fills far[] bottom-up (children have larger indices than their parent, so a reverse sweep
 * sees both children first).  acc holds 8 doubles per node: area, area-weighted centroid sum (3),
 * area vector (3), radius. */
static void build_far_field(const gnf_bvh *b, const int32_t *rbeg, const int32_t *rend, double *acc, bvh_far *far) {
    for (long i = b->nnodes - 1; i >= 0; i--) {
        const bvh_node *nd = &b->nodes[i];
        bvh_far *w = &far[i];
        double *A = acc + 8 * i;
        long begin = rbeg[i], end = rend[i];
        if (nd->count > 0) {
            for (long k = begin; k < end; k++) {
                double av[3], g[3];
                tri_area_vector(b->tri + 9 * k, av, g);
                double area = sqrt(av[0] * av[0] + av[1] * av[1] + av[2] * av[2]);
                A[0] += area;
                for (int a = 0; a < 3; a++) A[1 + a] += area * g[a], A[4 + a] += av[a];
            }
        } else {
            const double *Lc = acc + 8 * (long)nd->first, *Rc = acc + 8 * ((long)nd->first + 1);
            for (int k = 0; k < 7; k++) A[k] = Lc[k] + Rc[k];
        }
        if (!(A[0] > 0)) {
            w->n[0] = w->n[1] = w->n[2] = w->c[0] = w->c[1] = w->c[2] = 0.0f;
            w->r2 = -1.0f;
            A[7] = 0;
            continue;
        }
        double c[3] = {A[1] / A[0], A[2] / A[0], A[3] / A[0]}, r;
        if (nd->count > 0 || (end - begin) <= EXACT_RADIUS_MAX) {
            /* The farthest vertex of the node's triangles (contiguous in leaf order). */
            double r2 = 0;
            for (long k = 9 * begin; k < 9 * end; k += 3) {
                double d0 = b->tri[k] - c[0], d1 = b->tri[k + 1] - c[1], d2 = b->tri[k + 2] - c[2];
                double q = d0 * d0 + d1 * d1 + d2 * d2;
                r2 = q > r2 ? q : r2;
            }
            r = sqrt(r2);
        } else {
            /* Large node: bound the radius by the children's spheres and by the box's farthest
             * corner (cheaper than visiting every vertex again at every level). */
            const double *ch[2] = {acc + 8 * (long)nd->first, acc + 8 * ((long)nd->first + 1)};
            double rs = 0, rb = 0;
            for (int q = 0; q < 2; q++) {
                const double *C = ch[q];
                if (!(C[0] > 0)) continue;
                double d0 = C[1] / C[0] - c[0], d1 = C[2] / C[0] - c[1], d2 = C[3] / C[0] - c[2];
                double s = sqrt(d0 * d0 + d1 * d1 + d2 * d2) + C[7];
                rs = s > rs ? s : rs;
            }
            for (int a = 0; a < 3; a++) {
                double e = GNF_MAX(c[a] - nd->lo[a], nd->hi[a] - c[a]);
                rb += e * e;
            }
            rb = sqrt(rb);
            r = rs < rb ? rs : rb;
        }
        A[7] = r;
        for (int a = 0; a < 3; a++) w->n[a] = (float)A[4 + a], w->c[a] = (float)c[a];
        /* Rounded up so that float storage never makes a near node look far. */
        w->r2 = (float)(r * r * (1.0 + 1e-6)) + FLT_MIN;
    }
}

/* The children of a wide node: its binary node's two children, then repeatedly the inner one with
 * the largest box replaced by its two children, up to four.  Returns how many (a leaf root: 1). */
static int wide_children(const bvh_node *nodes, int32_t bin, int32_t ch[4]) {
    int nch = 0;
    const bvh_node *nd = &nodes[bin];
    if (nd->count > 0) ch[nch++] = bin;
    else ch[0] = nd->first, ch[1] = nd->first + 1, nch = 2;
    while (nch < 4) {
        int best = -1;
        float best_area = -1;
        for (int k = 0; k < nch; k++) {
            const bvh_node *c = &nodes[ch[k]];
            if (c->count > 0) continue;
            float dx = c->hi[0] - c->lo[0], dy = c->hi[1] - c->lo[1], dz = c->hi[2] - c->lo[2];
            float area = dx * dy + dy * dz + dz * dx;
            if (area > best_area) best_area = area, best = k;
        }
        if (best < 0) break;
        int32_t f = nodes[ch[best]].first;
        ch[best] = f, ch[nch++] = f + 1;
    }
    return nch;
}

/* Number of wide nodes the collapse will make (to allocate exactly: an upper bound would be
 * about three times too large, and zeroing it costs more than this walk). */
static long count_wide_nodes(const bvh_node *nodes) {
    int32_t stack[4 * STACK_MAX];
    int sp = 0;
    long nw = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        int32_t ch[4];
        int nch = wide_children(nodes, stack[--sp], ch);
        nw++;
        for (int k = 0; k < nch; k++)
            if (nodes[ch[k]].count == 0) stack[sp++] = ch[k];
    }
    return nw;
}

/* Collapses the binary tree into the 4-wide tree (see wide_children), filling the boxes (bnodes)
 * and the far fields (wnodes) of each wide node's children.  Wide nodes are numbered as they are
 * created, root 0; returns their number. */
static long build_wide_tree(gnf_bvh *b, const bvh_far *far) {
    struct {
        int32_t bin;
        uint32_t wide;
    } stack[4 * STACK_MAX];
    int sp = 0;
    long nw = 1;
    stack[sp].bin = 0, stack[sp++].wide = 0;
    while (sp > 0) {
        sp--;
        int32_t bin = stack[sp].bin;
        uint32_t wi = stack[sp].wide;
        int32_t ch[4];
        int nch = wide_children(b->nodes, bin, ch);
        bvh_wnode4 *w = &b->wnodes[wi];
        bvh_bnode4 *x = &b->bnodes[wi];
        for (int k = 0; k < 4; k++) {
            if (k >= nch) {
                w->cx[k] = w->cy[k] = w->cz[k] = w->nx[k] = w->ny[k] = w->nz[k] = 0.0f;
                w->r2[k] = -1.0f;
                w->link[k] = x->link[k] = 0;
                x->lox[k] = x->loy[k] = x->loz[k] = INFINITY;
                x->hix[k] = x->hiy[k] = x->hiz[k] = -INFINITY;
                continue;
            }
            const bvh_node *cn = &b->nodes[ch[k]];
            uint32_t link;
            if (cn->count > 0) {
                link = ((uint32_t)cn->first << 4) | (uint32_t)cn->count;
            } else {
                link = (uint32_t)nw << 4;
                stack[sp].bin = ch[k], stack[sp++].wide = (uint32_t)nw++;
            }
            const bvh_far *f = &far[ch[k]];
            w->cx[k] = f->c[0], w->cy[k] = f->c[1], w->cz[k] = f->c[2], w->r2[k] = f->r2;
            w->nx[k] = f->n[0], w->ny[k] = f->n[1], w->nz[k] = f->n[2];
            w->link[k] = x->link[k] = link;
            x->lox[k] = cn->lo[0], x->loy[k] = cn->lo[1], x->loz[k] = cn->lo[2];
            x->hix[k] = cn->hi[0], x->hiy[k] = cn->hi[1], x->hiz[k] = cn->hi[2];
        }
    }
    return nw;
}

/* A triangle so flat (height under 1e-10 of its longest edge, zero area included) that the
 * barycentric region test would divide noise by noise.  It lies within that height of its
 * edges, so its closest point is taken on them. */
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
    if (nf >= MAX_TRIANGLES)
        return gnf_fail(GNF_ERR_INVALID, "bvh: %ld triangles is over the limit of %ld", nf, MAX_TRIANGLES - 1);
    for (long i = 0; i < 3 * nf; i++)
        if (m->f[i] < 0 || m->f[i] >= nv)
            return gnf_fail(GNF_ERR_INVALID, "bvh: face %ld has vertex index %ld, out of range [0, %ld)",
                            i / 3, (long)m->f[i], nv);
    for (long i = 0; i < 3 * nv; i++)
        if (!isfinite(m->v[i]))
            return gnf_fail(GNF_ERR_INVALID, "bvh: vertex %ld has a non-finite coordinate", i / 3);

    size_t nnode_cap = (size_t)(2 * nf + 2);
    gnf_bvh *b = gnf_calloc(1, sizeof *b);
    tri_ref *refs = gnf_calloc((size_t)nf, sizeof *refs);
    int32_t *rbeg = gnf_calloc(nnode_cap, sizeof *rbeg), *rend = gnf_calloc(nnode_cap, sizeof *rend);
    double *acc = NULL;
    bvh_far *far = NULL;
    gnf_status st = GNF_OK;
    if (b) {
        b->nodes = gnf_calloc(nnode_cap, sizeof *b->nodes);
        b->tri = gnf_calloc((size_t)nf * 9, sizeof *b->tri);
        b->degen = gnf_calloc((size_t)nf, 1);
        b->orig = gnf_calloc((size_t)nf, sizeof *b->orig);
    }
    if (!b || !refs || !rbeg || !rend || !b->nodes || !b->tri || !b->degen || !b->orig) {
        st = gnf_fail(GNF_ERR_NOMEM, "bvh: out of memory for %ld triangles", nf);
        goto done;
    }
    b->ntri = nf;
    aabb all;
    aabb_empty(&all);
    for (long t = 0; t < nf; t++) {
        const float *v[3];
        for (int k = 0; k < 3; k++) v[k] = m->v + 3 * (long)m->f[3 * t + k];
        tri_ref *r = &refs[t];
        aabb_empty(&r->box);
        for (int k = 0; k < 3; k++) aabb_grow_vertex(&r->box, v[k]);
        for (int a = 0; a < 3; a++) r->c[a] = (float)(((double)v[0][a] + v[1][a] + v[2][a]) / 3.0);
        aabb_grow(&all, &r->box);
        r->t = (int32_t)t;
    }
    memcpy(b->lo, all.lo, sizeof b->lo);
    memcpy(b->hi, all.hi, sizeof b->hi);
    build_ctx bc = {refs, b->nodes, rbeg, rend, 0};
    st = build_tree(&bc, nf);
    if (st != GNF_OK) goto done;
    b->nnodes = bc.nnodes;
    for (long i = 0; i < nf; i++) {
        long t = refs[i].t;
        b->orig[i] = (int32_t)t;
        for (int k = 0; k < 3; k++) memcpy(b->tri + 9 * i + 3 * k, m->v + 3 * (long)m->f[3 * t + k], 3 * sizeof(float));
        b->degen[i] = (uint8_t)tri_is_degenerate(b->tri + 9 * i);
    }
    far = gnf_calloc((size_t)b->nnodes, sizeof *far);
    acc = gnf_calloc((size_t)b->nnodes * 8, sizeof *acc);
    b->nwnodes = count_wide_nodes(b->nodes);
    b->wnodes = gnf_calloc((size_t)b->nwnodes, sizeof *b->wnodes);
    b->bnodes = gnf_calloc((size_t)b->nwnodes, sizeof *b->bnodes);
    if (!b->wnodes || !b->bnodes || !acc || !far) {
        st = gnf_fail(GNF_ERR_NOMEM, "bvh: out of memory for %ld nodes", b->nnodes);
        goto done;
    }
    build_far_field(b, rbeg, rend, acc, far);
    long made = build_wide_tree(b, far);
    assert(made == b->nwnodes);
    (void)made;
    gnf_free(b->nodes); /* the queries use the wide tree only */
    b->nodes = NULL;
done:
    gnf_free(refs);
    gnf_free(rbeg);
    gnf_free(rend);
    gnf_free(acc);
    gnf_free(far);
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
    gnf_free(b->bnodes);
    gnf_free(b->wnodes);
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

static inline double dot3(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

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

/* Closest point to p on a degenerate triangle: the nearest of its three edges. */
static double flat_tri_closest(const double p[3], const float *t, double cp[3]) {
    double a[3] = {t[0], t[1], t[2]}, b[3] = {t[3], t[4], t[5]}, c[3] = {t[6], t[7], t[8]};
    double q[3], best = seg_closest(p, a, b, cp);
    double d = seg_closest(p, b, c, q);
    if (d < best) best = d, memcpy(cp, q, sizeof q);
    d = seg_closest(p, c, a, q);
    if (d < best) best = d, memcpy(cp, q, sizeof q);
    return best;
}

/* Closest point to p on triangle t (9 floats) by Voronoi regions.  With d1..d6 the dot products
 * of the edges ab, ac with p minus each vertex: p projects onto vertex a when both dots at a are
 * <= 0; onto edge ab when the barycentric weight of c of its projection (vc, scaled) is <= 0 and
 * p lies between the planes through a and b orthogonal to ab; likewise for the other vertices
 * and edges; otherwise inside the face, with barycentrics proportional to (va, vb, vc).
 * Returns the squared distance. */
static double tri_closest(const double p[3], const float *t, int degenerate, double cp[3]) {
    if (degenerate) return flat_tri_closest(p, t, cp);
    double a[3] = {t[0], t[1], t[2]};
    double ab[3], ac[3], ap[3], bp[3], cq[3];
    for (int k = 0; k < 3; k++) {
        ab[k] = (double)t[3 + k] - a[k], ac[k] = (double)t[6 + k] - a[k];
        ap[k] = p[k] - a[k], bp[k] = p[k] - t[3 + k], cq[k] = p[k] - t[6 + k];
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
            u = d1 / (d1 - d3); /* d1 - d3 = |ab|^2 > 0: not degenerate */
        } else if (vb <= 0 && d2 >= 0 && d6 <= 0) {
            v = d2 / (d2 - d6);
        } else if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0) {
            double w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
            u = 1 - w, v = w;
        } else {
            double sum = va + vb + vc; /* = |ab x ac|^2 > 0 up to rounding */
            if (!(sum > 0)) return flat_tri_closest(p, t, cp);
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

/* Squared distances from p to the four child boxes of a wide node, shrunk by BOX_SHRINK (see
 * there); +inf for empty slots. */
static inline void box_dist4(const bvh_bnode4 *x, const float p[3], float d2[4]) {
#if BVH_SSE
    const __m128 zero = _mm_setzero_ps();
    __m128 px = _mm_set1_ps(p[0]), py = _mm_set1_ps(p[1]), pz = _mm_set1_ps(p[2]);
    __m128 dx = _mm_max_ps(_mm_max_ps(_mm_sub_ps(_mm_load_ps(x->lox), px), _mm_sub_ps(px, _mm_load_ps(x->hix))), zero);
    __m128 dy = _mm_max_ps(_mm_max_ps(_mm_sub_ps(_mm_load_ps(x->loy), py), _mm_sub_ps(py, _mm_load_ps(x->hiy))), zero);
    __m128 dz = _mm_max_ps(_mm_max_ps(_mm_sub_ps(_mm_load_ps(x->loz), pz), _mm_sub_ps(pz, _mm_load_ps(x->hiz))), zero);
    __m128 d = _mm_add_ps(_mm_add_ps(_mm_mul_ps(dx, dx), _mm_mul_ps(dy, dy)), _mm_mul_ps(dz, dz));
    _mm_storeu_ps(d2, _mm_mul_ps(d, _mm_set1_ps(BOX_SHRINK)));
#else
    for (int k = 0; k < 4; k++) {
        float lo[3] = {x->lox[k], x->loy[k], x->loz[k]}, hi[3] = {x->hix[k], x->hiy[k], x->hiz[k]};
        float d = 0;
        for (int a = 0; a < 3; a++) {
            float u = lo[a] - p[a], v = p[a] - hi[a];
            u = u > v ? u : v;
            u = u > 0 ? u : 0;
            d += u * u;
        }
        d2[k] = d * BOX_SHRINK;
    }
#endif
}

/* Warms the cache for what a stack entry will read: a wide node (two lines) or a leaf's run of
 * triangles (up to 8 x 36 bytes: the first three lines, the rest follow by the streamer). */
static inline void prefetch_link(const gnf_bvh *b, uint32_t link) {
    if (link & 15u) {
        const float *t = b->tri + 9 * (long)(link >> 4);
        PREFETCH(t);
        PREFETCH(t + 16);
        PREFETCH(t + 32);
    } else {
        const char *n = (const char *)&b->bnodes[link >> 4];
        PREFETCH(n);
        PREFETCH(n + 64);
    }
}

/* Depth-first descent, nearest child first: the children of a wide node that are nearer than the
 * best triangle so far go on the stack, the nearest on top, and an entry is skipped when popped
 * if the best has meanwhile become at least as near (equal distance cannot improve).  `best2`,
 * `bi` (leaf-order triangle) and `cp` carry an optional starting guess in and the answer out. */
static void closest_search(const gnf_bvh *b, const float pf[3], const double p[3], double *best2, long *bi,
                           double cp[3]) {
    struct {
        uint32_t link;
        float d2;
    } stack[4 * STACK_MAX];
    int sp = 0;
    stack[sp].link = 0, stack[sp++].d2 = 0.0f; /* the root, inner node 0 */
    while (sp > 0) {
        sp--;
        if (!(stack[sp].d2 < *best2)) continue;
        uint32_t link = stack[sp].link, first = link >> 4, count = link & 15u;
        if (count > 0) {
            for (uint32_t k = first; k < first + count; k++) {
                double q[3];
                double d2 = tri_closest(p, b->tri + 9 * (long)k, b->degen[k], q);
                if (d2 < *best2) *best2 = d2, *bi = k, memcpy(cp, q, sizeof q);
            }
            continue;
        }
        const bvh_bnode4 *x = &b->bnodes[first];
        float d[4];
        box_dist4(x, pf, d);
        /* The nearest child goes on top; the others below it in any order (sorting them all costs
         * more than it saves: by the time they are popped the bound is usually tight). */
        int near = -1;
        for (int k = 0; k < 4; k++)
            if (d[k] < *best2 && (near < 0 || d[k] < d[near])) near = k;
        if (near < 0) continue;
        for (int k = 0; k < 4; k++)
            if (k != near && d[k] < *best2) stack[sp].link = x->link[k], stack[sp++].d2 = d[k];
        stack[sp].link = x->link[near], stack[sp++].d2 = d[near];
        prefetch_link(b, x->link[near]);
    }
}

float gnf_bvh_closest(const gnf_bvh *b, const float p[3], float closest[3], long *tri) {
    double pd[3] = {p[0], p[1], p[2]}, cp[3] = {0, 0, 0};
    double best2 = INFINITY;
    long bi = 0;
    closest_search(b, p, pd, &best2, &bi, cp);
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

/* The far test and dipole of the four children of a wide node, in float (they feed a test and
 * an approximation whose own error is far larger than float rounding).  Returns a bit mask of
 * the children to open (near and non-empty); adds the far children's dipoles to *acc. */
#if BVH_SSE
typedef __m128 dipole_acc;
static inline unsigned wnode4_far(const bvh_wnode4 *w, const float p[3], float beta2, dipole_acc *acc) {
    __m128 rx = _mm_sub_ps(_mm_load_ps(w->cx), _mm_set1_ps(p[0]));
    __m128 ry = _mm_sub_ps(_mm_load_ps(w->cy), _mm_set1_ps(p[1]));
    __m128 rz = _mm_sub_ps(_mm_load_ps(w->cz), _mm_set1_ps(p[2]));
    __m128 d2 = _mm_add_ps(_mm_add_ps(_mm_mul_ps(rx, rx), _mm_mul_ps(ry, ry)), _mm_mul_ps(rz, rz));
    __m128 r2 = _mm_load_ps(w->r2);
    __m128 valid = _mm_cmpge_ps(r2, _mm_setzero_ps());
    __m128 isfar = _mm_and_ps(valid, _mm_cmpgt_ps(d2, _mm_mul_ps(_mm_set1_ps(beta2), r2)));
    if (_mm_movemask_ps(isfar)) {
        __m128 flux = _mm_add_ps(_mm_add_ps(_mm_mul_ps(_mm_load_ps(w->nx), rx), _mm_mul_ps(_mm_load_ps(w->ny), ry)),
                                 _mm_mul_ps(_mm_load_ps(w->nz), rz));
        /* Near lanes may have d2 = 0: divide by 1 there instead (their result is masked off). */
        __m128 inv = _mm_div_ps(_mm_set1_ps(1.0f), _mm_sqrt_ps(_mm_or_ps(_mm_and_ps(isfar, d2),
                                                                          _mm_andnot_ps(isfar, _mm_set1_ps(1.0f)))));
        __m128 t = _mm_mul_ps(_mm_mul_ps(flux, inv), _mm_mul_ps(inv, inv));
        *acc = _mm_add_ps(*acc, _mm_and_ps(isfar, t));
    }
    return (unsigned)_mm_movemask_ps(_mm_andnot_ps(isfar, valid));
}
static inline double dipole_acc_sum(dipole_acc a) {
    float v[4];
    _mm_storeu_ps(v, a);
    return ((double)v[0] + v[1]) + ((double)v[2] + v[3]);
}
#define DIPOLE_ACC_ZERO _mm_setzero_ps()
#else
typedef struct {
    float v[4];
} dipole_acc;
static inline unsigned wnode4_far(const bvh_wnode4 *w, const float p[3], float beta2, dipole_acc *acc) {
    unsigned open = 0;
    for (int k = 0; k < 4; k++) {
        if (!(w->r2[k] >= 0)) continue;
        float rx = w->cx[k] - p[0], ry = w->cy[k] - p[1], rz = w->cz[k] - p[2];
        float d2 = rx * rx + ry * ry + rz * rz;
        if (d2 > beta2 * w->r2[k]) {
            float inv = 1.0f / sqrtf(d2);
            acc->v[k] += (w->nx[k] * rx + w->ny[k] * ry + w->nz[k] * rz) * inv * (inv * inv);
        } else {
            open |= 1u << k;
        }
    }
    return open;
}
static inline double dipole_acc_sum(dipole_acc a) { return ((double)a.v[0] + a.v[1]) + ((double)a.v[2] + a.v[3]); }
#define DIPOLE_ACC_ZERO ((dipole_acc){{0, 0, 0, 0}})
#endif

/* Solid angle of every node's triangles from p: exact (Van Oosterom–Strackee, double) for nodes
 * within beta radii of p, else the node's dipole n.(c - p)/|c - p|^3, the leading term of the
 * expansion of n.(x - p)/|x - p|^3 about c. */
double gnf_bvh_winding_beta(const gnf_bvh *b, const float p[3], double beta) {
    double pd[3] = {p[0], p[1], p[2]};
    /* beta <= 0: nothing is far (every area-carrying node has r2 > 0, so d2 > inf never holds). */
    float beta2 = beta > 0 ? (float)(beta * beta) : INFINITY;
    double omega = 0;
    dipole_acc acc = DIPOLE_ACC_ZERO;
    uint32_t stack[4 * STACK_MAX];
    int sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        const bvh_wnode4 *w = &b->wnodes[stack[--sp]];
        unsigned open = wnode4_far(w, p, beta2, &acc);
        for (int k = 0; k < 4; k++) {
            if (!(open >> k & 1u)) continue;
            uint32_t link = w->link[k], first = link >> 4, count = link & 15u;
            if (count == 0) {
                PREFETCH(&b->wnodes[first]);
                PREFETCH((const char *)&b->wnodes[first] + 64);
                stack[sp++] = first;
            } else {
                for (uint32_t t = first; t < first + count; t++) omega += tri_solid_angle(pd, b->tri + 9 * (long)t);
            }
        }
    }
    return (omega + dipole_acc_sum(acc)) / FOUR_PI;
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
static inline int ray_box(const ray_frame *rf, const bvh_bnode4 *x, int k) {
    double tn = 0, tf = INFINITY;
    const float los[3] = {x->lox[k], x->loy[k], x->loz[k]}, his[3] = {x->hix[k], x->hiy[k], x->hiz[k]};
    for (int a = 0; a < 3; a++) {
        double lo = los[a], hi = his[a];
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
    return tn <= tf * (1.0 + 1e-12);
}

/* Sign of the 2-D edge function cross(X, Y) = Xx Yy - Xy Yx seen from the origin moved to
 * (eps, eps^2), eps -> 0+ (simulation of simplicity): cross(X - q, Y - q) = cross(X, Y) - eps
 * (Y - X)y + eps^2 (Y - X)x.  The pair is evaluated in a canonical order and negated for the other,
 * so two triangles sharing an edge get exactly opposite signs whatever the rounding (or FMA
 * contraction): a ray through an edge or a vertex is inside exactly one triangle of a closed fan.
 * 0 only for X == Y. */
static inline int ray_edge_sign(const double X[2], const double Y[2], double *value) {
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
    if (s0 == 0 || s0 != s1) return 0;
    int s2 = ray_edge_sign(v[0], v[1], &e2);
    if (s0 != s2) return 0;
    double det = e0 + e1 + e2;
    if (det == 0) return 0; /* seen edge-on */
    double tn = e0 * z[0] + e1 * z[1] + e2 * z[2];
    return det > 0 ? tn > 0 : tn < 0;
}

static long ray_count(const gnf_bvh *b, const ray_frame *rf) {
    uint32_t stack[4 * STACK_MAX];
    int sp = 0;
    long hits = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        const bvh_bnode4 *x = &b->bnodes[stack[--sp]];
        for (int k = 0; k < 4; k++) {
            uint32_t link = x->link[k], first = link >> 4, count = link & 15u;
            if (link == 0 || !ray_box(rf, x, k)) continue; /* link 0: empty slot */
            if (count > 0) {
                for (uint32_t t = first; t < first + count; t++) hits += ray_tri(rf, b->tri + 9 * (long)t);
            } else {
                PREFETCH(&b->bnodes[first]);
                stack[sp++] = first;
            }
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
    const uint64_t *order; /* low 32 bits: point index, in processing order; NULL: 0..n-1 */
    long n;
    int sign; /* SIGN_* */
} sdf_ctx;

enum { SIGN_WINDING, SIGN_RAYS, SIGN_NONE };

/* Inside by ray parity: majority of the three axis rays (the third is cast only on a tie). */
static int inside_by_rays(const gnf_bvh *b, const float p[3]) {
    static const float axes[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    int odd = 0;
    for (int a = 0; a < 3; a++) {
        if (a == 2 && odd != 1) break;
        ray_frame rf;
        ray_frame_init(&rf, p, axes[a]);
        odd += (int)(ray_count(b, &rf) & 1);
    }
    return odd >= 2;
}

static void sdf_task(void *vctx, long task, int thread) {
    (void)thread;
    const sdf_ctx *x = vctx;
    const gnf_bvh *b = x->b;
    long k0 = task * SDF_BLOCK, k1 = GNF_MIN(k0 + SDF_BLOCK, x->n);
    long prev = -1; /* last closest triangle: a tight first bound for the next (nearby) point */
    for (long k = k0; k < k1; k++) {
        long i = x->order ? (long)(x->order[k] & 0xFFFFFFFFu) : k;
        const float *p = x->pts + 3 * i;
        double pd[3] = {p[0], p[1], p[2]}, cp[3];
        double best2 = INFINITY;
        long bi = 0;
        if (prev >= 0) best2 = tri_closest(pd, b->tri + 9 * prev, b->degen[prev], cp), bi = prev;
        closest_search(b, p, pd, &best2, &bi, cp);
        prev = bi;
        float d = (float)sqrt(best2);
        int inside = x->sign == SIGN_NONE    ? 0
                     : x->sign == SIGN_RAYS ? inside_by_rays(b, p)
                                            : gnf_bvh_winding(b, p) >= 0.5;
        x->sdf[i] = inside ? -d : d;
    }
}

/* 10 bits of a coordinate spread to every third bit. */
static uint64_t spread3(uint32_t v) {
    uint64_t x = v & 0x3FFu;
    x = (x | (x << 16)) & 0x30000FFull;
    x = (x | (x << 8)) & 0x300F00Full;
    x = (x | (x << 4)) & 0x30C30C3ull;
    x = (x | (x << 2)) & 0x9249249ull;
    return x;
}

/* Processing order for the points: by Morton code of their cell in a 1024^3 grid over the mesh
 * bounds (points outside are clamped), ties by index.  Key in the high 32 bits, index in the
 * low.  LSD radix sort on the key bytes (stable).  NULL if memory is short (then: input order). */
static uint64_t *morton_order(const gnf_bvh *b, const float *pts, long n) {
    uint64_t *k = malloc((size_t)n * sizeof *k), *tmp = malloc((size_t)n * sizeof *tmp);
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return NULL;
    }
    float scale[3];
    for (int a = 0; a < 3; a++) {
        float ext = b->hi[a] - b->lo[a];
        scale[a] = ext > 0 ? 1023.0f / ext : 0.0f;
    }
    for (long i = 0; i < n; i++) {
        uint64_t code = 0;
        for (int a = 0; a < 3; a++) {
            float t = (pts[3 * i + a] - b->lo[a]) * scale[a];
            t = t > 0 ? t : 0; /* NaN lands here too */
            t = t < 1023.0f ? t : 1023.0f;
            code |= spread3((uint32_t)t) << a;
        }
        k[i] = (code << 32) | (uint64_t)i;
    }
    for (int shift = 32; shift < 64; shift += 8) {
        long cnt[257] = {0};
        for (long i = 0; i < n; i++) cnt[((k[i] >> shift) & 255u) + 1]++;
        for (int d = 0; d < 256; d++) cnt[d + 1] += cnt[d];
        for (long i = 0; i < n; i++) tmp[cnt[(k[i] >> shift) & 255u]++] = k[i];
        uint64_t *s = k;
        k = tmp, tmp = s;
    }
    free(tmp);
    return k;
}

static void batch_distance(const gnf_bvh *b, const float *pts, long n, float *out, int sign, int threads) {
    if (n <= 0) return;
    /* The sort keeps a point index in 32 bits: beyond that, input order (still correct). */
    uint64_t *order = n >= SDF_SORT_MIN && n <= 0xFFFFFFFFL ? morton_order(b, pts, n) : NULL;
    sdf_ctx x = {b, pts, out, order, n, sign};
    gnf_parallel_for((n + SDF_BLOCK - 1) / SDF_BLOCK, threads, sdf_task, &x);
    free(order);
}

void gnf_bvh_sdf(const gnf_bvh *b, const float *pts, long n, float *sdf, int watertight, int threads) {
    batch_distance(b, pts, n, sdf, watertight ? SIGN_RAYS : SIGN_WINDING, threads);
}

void gnf_bvh_distance(const gnf_bvh *b, const float *pts, long n, float *dist, int threads) {
    batch_distance(b, pts, n, dist, SIGN_NONE, threads);
}
