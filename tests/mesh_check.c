/* mesh_check.c — the mesh hygiene fixture (declared in test.h): what 3D printing, simulation and
 * boolean tools ask of a triangle mesh besides being closed and edge-manifold, measured in units
 * of the marching-cubes cell h: vertex-manifold fans, no duplicate vertices, no tiny triangles,
 * and no two triangles that share no vertex touching or crossing each other.
 *
 * Pairs are found with a uniform grid of h-wide buckets: a triangle goes into every bucket its
 * box, grown by reach/2, overlaps, and a pair is measured only in the bucket that holds the low
 * corner of the overlap of the two grown boxes, so once.  The distance of two triangles is 0 when
 * an edge of one crosses the other, else the least of the vertex-to-triangle and edge-to-edge
 * distances (where the closest points of two disjoint triangles always lie); doubles throughout,
 * which is exact enough at the scales of a test mesh. */
#include "test.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double x[3];
} vec3;

static vec3 sub(vec3 a, vec3 b) { return (vec3){{a.x[0] - b.x[0], a.x[1] - b.x[1], a.x[2] - b.x[2]}}; }
static double dot(vec3 a, vec3 b) { return a.x[0] * b.x[0] + a.x[1] * b.x[1] + a.x[2] * b.x[2]; }
static vec3 cross(vec3 a, vec3 b) {
    return (vec3){{a.x[1] * b.x[2] - a.x[2] * b.x[1], a.x[2] * b.x[0] - a.x[0] * b.x[2],
                   a.x[0] * b.x[1] - a.x[1] * b.x[0]}};
}
static vec3 axpy(vec3 p, double s, vec3 d) {
    return (vec3){{p.x[0] + s * d.x[0], p.x[1] + s * d.x[1], p.x[2] + s * d.x[2]}};
}
static double clamp01(double s) { return s < 0 ? 0 : (s > 1 ? 1 : s); }

/* Distance between segments p0p1 and q0q1 (either may have zero length). */
static double seg_seg(vec3 p0, vec3 p1, vec3 q0, vec3 q1) {
    vec3 u = sub(p1, p0), v = sub(q1, q0), w = sub(p0, q0);
    double a = dot(u, u), b = dot(u, v), c = dot(v, v), d = dot(u, w), e = dot(v, w);
    double s, t;
    if (a <= 0 && c <= 0) {
        s = t = 0;
    } else if (a <= 0) {
        s = 0;
        t = clamp01(e / c);
    } else if (c <= 0) {
        t = 0;
        s = clamp01(-d / a);
    } else {
        /* the lines' closest point on p, clamped; then the best t for it, clamped, and the best
         * s for that t: the minimum of a convex function over the unit square */
        double den = a * c - b * b;
        s = den > 1e-12 * a * c ? clamp01((b * e - c * d) / den) : 0;
        t = (b * s + e) / c;
        if (t < 0) {
            t = 0;
            s = clamp01(-d / a);
        } else if (t > 1) {
            t = 1;
            s = clamp01((b - d) / a);
        }
    }
    vec3 r = sub(axpy(p0, s, u), axpy(q0, t, v));
    return sqrt(dot(r, r));
}

/* Distance from p to triangle t (a zero-area triangle counts as its edges). */
static double point_tri(vec3 p, const vec3 t[3]) {
    vec3 n = cross(sub(t[1], t[0]), sub(t[2], t[0]));
    double nn = dot(n, n);
    if (nn > 0) {
        double h = dot(n, sub(p, t[0])) / nn;
        vec3 q = axpy(p, -h, n); /* p projected onto the plane */
        int inside = 1;
        for (int k = 0; k < 3; k++)
            if (dot(cross(sub(t[(k + 1) % 3], t[k]), sub(q, t[k])), n) < 0) inside = 0;
        if (inside) return fabs(h) * sqrt(nn);
    }
    double best = INFINITY;
    for (int k = 0; k < 3; k++) best = fmin(best, seg_seg(p, p, t[k], t[(k + 1) % 3]));
    return best;
}

/* Nonzero if segment pq meets triangle t at one point (a segment in t's plane is left to the
 * edge-to-edge and vertex distances, which are 0 for coplanar overlaps). */
static int seg_crosses_tri(vec3 p, vec3 q, const vec3 t[3]) {
    vec3 n = cross(sub(t[1], t[0]), sub(t[2], t[0]));
    double dp = dot(n, sub(p, t[0])), dq = dot(n, sub(q, t[0]));
    if ((dp > 0 && dq > 0) || (dp < 0 && dq < 0) || dp == dq) return 0;
    vec3 x = axpy(p, dp / (dp - dq), sub(q, p));
    for (int k = 0; k < 3; k++)
        if (dot(cross(sub(t[(k + 1) % 3], t[k]), sub(x, t[k])), n) < 0) return 0;
    return 1;
}

static double tri_tri(const vec3 a[3], const vec3 b[3]) {
    for (int k = 0; k < 3; k++)
        if (seg_crosses_tri(a[k], a[(k + 1) % 3], b) || seg_crosses_tri(b[k], b[(k + 1) % 3], a))
            return 0;
    double best = INFINITY;
    for (int k = 0; k < 3; k++) {
        best = fmin(best, point_tri(a[k], b));
        best = fmin(best, point_tri(b[k], a));
        for (int l = 0; l < 3; l++)
            best = fmin(best, seg_seg(a[k], a[(k + 1) % 3], b[l], b[(l + 1) % 3]));
    }
    return best;
}

typedef struct {
    uint64_t key;
    int32_t tri;
} bucket_entry;

static int cmp_entry(const void *x, const void *y) {
    const bucket_entry *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->tri > b->tri) - (a->tri < b->tri);
}

static int cmp_i32x3(const void *x, const void *y) {
    const int32_t *a = x, *b = y;
    for (int k = 0; k < 3; k++)
        if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
    return 0;
}

static int cmp_pos(const void *x, const void *y) {
    const float *a = x, *b = y;
    for (int k = 0; k < 3; k++)
        if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
    return 0;
}

static uint64_t bucket_key(const long c[3]) {
    return (uint64_t)(c[0] & 0x1fffff) << 42 | (uint64_t)(c[1] & 0x1fffff) << 21 |
           (uint64_t)(c[2] & 0x1fffff);
}

/* Vertices whose triangles do not form one closed fan: the link edges (b, c) of the triangles
 * (v, b, c) around v must chain into a single cycle. */
static long count_nonmanifold_vertices(const gnf_mesh *m) {
    int32_t *fan = malloc(sizeof(int32_t) * 9 * (size_t)m->nf); /* (v, b, c) rows */
    if (!fan) return -1;
    for (long i = 0; i < m->nf; i++)
        for (int k = 0; k < 3; k++) {
            int32_t *r = fan + 3 * (3 * i + k);
            r[0] = m->f[3 * i + k];
            r[1] = m->f[3 * i + (k + 1) % 3];
            r[2] = m->f[3 * i + (k + 2) % 3];
        }
    long rows = 3 * m->nf, bad = 0;
    qsort(fan, (size_t)rows, 3 * sizeof(int32_t), cmp_i32x3);
    for (long i = 0; i < rows;) {
        long j = i;
        while (j < rows && fan[3 * j] == fan[3 * i]) j++;
        /* follow b -> c from the first row; a single cycle visits every row once */
        long n = j - i, steps = 0;
        int32_t start = fan[3 * i + 1], at = start;
        int ok = 1;
        do {
            long next = -1;
            for (long r = i; r < j; r++)
                if (fan[3 * r + 1] == at) {
                    if (next >= 0) ok = 0; /* two triangles leave from the same link vertex */
                    next = r;
                }
            if (next < 0) { ok = 0; break; }
            at = fan[3 * next + 2];
            steps++;
        } while (ok && at != start && steps <= n);
        if (!ok || steps != n) bad++;
        i = j;
    }
    free(fan);
    return bad;
}

void test_mesh_hygiene(const gnf_mesh *m, double h, double reach, test_hygiene *r) {
    memset(r, 0, sizeof *r);
    r->min_area = r->min_edge = r->min_gap = INFINITY;
    gnf_mesh_report rep;
    memset(&rep, 0, sizeof rep);
    gnf_mesh_analyse(m, &rep);
    r->boundary_edges = rep.boundary_edges;
    r->nonmanifold_edges = rep.non_manifold_edges;
    if (m->nf == 0) return;
    r->nonmanifold_vertices = count_nonmanifold_vertices(m);

    float *pos = malloc(sizeof(float) * 3 * (size_t)m->nv);
    double *box = malloc(sizeof(double) * 6 * (size_t)m->nf);
    long *cell = malloc(sizeof(long) * 6 * (size_t)m->nf); /* bucket ranges, inclusive */
    if (!pos || !box || !cell) {
        test_fail(__FILE__, __LINE__, "out of memory in test_mesh_hygiene");
        free(pos); free(box); free(cell);
        return;
    }
    memcpy(pos, m->v, sizeof(float) * 3 * (size_t)m->nv);
    qsort(pos, (size_t)m->nv, 3 * sizeof(float), cmp_pos);
    for (long i = 1; i < m->nv; i++) r->duplicate_vertices += cmp_pos(pos + 3 * (i - 1), pos + 3 * i) == 0;

    double lo[3] = {INFINITY, INFINITY, INFINITY};
    for (long i = 0; i < 3 * m->nv; i++) lo[i % 3] = fmin(lo[i % 3], m->v[i]);
    const double grow = 0.5 * reach * h;
    long ne = 0;
    for (long i = 0; i < m->nf; i++) {
        vec3 t[3];
        for (int k = 0; k < 3; k++)
            for (int a = 0; a < 3; a++) t[k].x[a] = m->v[3 * (long)m->f[3 * i + k] + a];
        double area = 0.5 * sqrt(dot(cross(sub(t[1], t[0]), sub(t[2], t[0])), cross(sub(t[1], t[0]), sub(t[2], t[0]))));
        r->min_area = fmin(r->min_area, area / (h * h));
        for (int k = 0; k < 3; k++) {
            vec3 e = sub(t[(k + 1) % 3], t[k]);
            r->min_edge = fmin(r->min_edge, sqrt(dot(e, e)) / h);
        }
        long *c0 = cell + 6 * i, *c1 = c0 + 3, nb = 1;
        for (int a = 0; a < 3; a++) {
            double mn = fmin(t[0].x[a], fmin(t[1].x[a], t[2].x[a])) - grow;
            double mx = fmax(t[0].x[a], fmax(t[1].x[a], t[2].x[a])) + grow;
            box[6 * i + a] = mn;
            box[6 * i + 3 + a] = mx;
            c0[a] = (long)floor((mn - lo[a]) / h);
            c1[a] = (long)floor((mx - lo[a]) / h);
            nb *= c1[a] - c0[a] + 1;
        }
        ne += nb;
    }
    bucket_entry *ent = malloc(sizeof(bucket_entry) * (size_t)ne);
    if (!ent) {
        test_fail(__FILE__, __LINE__, "out of memory in test_mesh_hygiene");
        free(pos); free(box); free(cell);
        return;
    }
    ne = 0;
    for (long i = 0; i < m->nf; i++) {
        const long *c0 = cell + 6 * i, *c1 = c0 + 3;
        long c[3];
        for (c[0] = c0[0]; c[0] <= c1[0]; c[0]++)
            for (c[1] = c0[1]; c[1] <= c1[1]; c[1]++)
                for (c[2] = c0[2]; c[2] <= c1[2]; c[2]++) ent[ne++] = (bucket_entry){bucket_key(c), (int32_t)i};
    }
    qsort(ent, (size_t)ne, sizeof *ent, cmp_entry);
    for (long i = 0; i < ne;) {
        long j = i;
        while (j < ne && ent[j].key == ent[i].key) j++;
        for (long p = i; p < j; p++)
            for (long q = p + 1; q < j; q++) {
                long a = ent[p].tri, b = ent[q].tri;
                const int32_t *fa = m->f + 3 * a, *fb = m->f + 3 * b;
                int shared = 0;
                for (int k = 0; k < 3; k++)
                    for (int l = 0; l < 3; l++) shared |= fa[k] == fb[l];
                if (shared) continue;
                long c[3];
                int overlap = 1;
                for (int x = 0; x < 3; x++) {
                    double mn = fmax(box[6 * a + x], box[6 * b + x]);
                    if (mn > fmin(box[6 * a + 3 + x], box[6 * b + 3 + x])) overlap = 0;
                    c[x] = (long)floor((mn - lo[x]) / h);
                }
                if (!overlap || bucket_key(c) != ent[i].key) continue; /* measured elsewhere */
                vec3 ta[3], tb[3];
                for (int k = 0; k < 3; k++)
                    for (int x = 0; x < 3; x++) {
                        ta[k].x[x] = m->v[3 * (long)fa[k] + x];
                        tb[k].x[x] = m->v[3 * (long)fb[k] + x];
                    }
                double d = tri_tri(ta, tb) / h;
                r->pairs_measured++;
                r->min_gap = fmin(r->min_gap, d);
                if (d == 0) r->touching_pairs++;
            }
        i = j;
    }
    free(pos);
    free(ent);
    free(box);
    free(cell);
}
