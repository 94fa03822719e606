/* mesh.c — the in-memory triangle mesh: freeing, checking and the one analysis behind
 * gnf_mesh_report (duplicate vertices, boundary and non-manifold edges, zero-area faces). */
#include "geom/mesh.h"
#include "core/core.h"
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Frees m's arrays and zeroes *m; a zeroed mesh (or NULL) is a no-op. */
void gnf_mesh_free(gnf_mesh *m) {
    if (!m) return;
    gnf_free(m->v);
    gnf_free(m->f);
    gnf_free(m->rgb);
    memset(m, 0, sizeof *m);
}

/* Hash of a position by its bits; -0 is folded into +0 so that equal positions hash equally. */
uint64_t gnf_pos_hash(const float *p) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < 3; k++) {
        float c = p[k] + 0.0f; /* -0 + 0 = +0 */
        uint32_t u;
        memcpy(&u, &c, 4);
        h = (h ^ u) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    return h * 0x94D049BB133111EBull;
}

size_t gnf_pos_probe(const uint32_t *slot, size_t mask, const float *verts, const float *p) {
    size_t i = (size_t)gnf_pos_hash(p) & mask;
    while (slot[i] && !gnf_pos_equal(verts + 3 * (size_t)(slot[i] - 1), p)) i = (i + 1) & mask;
    return i;
}

/* Vertices whose position equals an earlier vertex's; -1 if memory runs out. */
static long count_duplicates(const gnf_mesh *m) {
    size_t n = 16;
    while (n < 2 * (size_t)m->nv) n *= 2;
    uint32_t *slot = calloc(n, sizeof *slot);
    if (!slot) return -1;
    long dup = 0;
    for (size_t i = 0; i < (size_t)m->nv; i++) {
        size_t k = gnf_pos_probe(slot, n - 1, m->v, m->v + 3 * i);
        if (slot[k]) dup++;
        else slot[k] = (uint32_t)(i + 1);
    }
    free(slot);
    return dup;
}

/* Counts edges used once (boundary) and more than twice (non-manifold).  Edges are grouped by
 * their lower vertex in a CSR layout (linear time, 12 bytes per triangle); within a group the
 * upper vertices are tallied in a count array that is zeroed again as the tallies are read, so
 * no sorting is needed.  -1 if memory runs out. */
static void count_edges(const gnf_mesh *m, long *boundary, long *nonmanifold) {
    size_t nv = (size_t)m->nv, nf = (size_t)m->nf;
    *boundary = *nonmanifold = -1;
    size_t *pos = calloc(nv + 1, sizeof *pos);
    uint32_t *cnt = calloc(nv + 1, sizeof *cnt);
    int32_t *adj = malloc((3 * nf + 1) * sizeof *adj);
    if (!pos || !cnt || !adj) goto done;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nf; i++) {
            const int32_t *t = m->f + 3 * i;
            if (t[0] < 0 || t[1] < 0 || t[2] < 0 || t[0] >= m->nv || t[1] >= m->nv || t[2] >= m->nv)
                continue; /* not a valid mesh: ignore rather than read out of bounds */
            for (int k = 0; k < 3; k++) {
                int32_t a = t[k], c = t[k == 2 ? 0 : k + 1];
                if (a == c) continue;
                int32_t lo = a < c ? a : c, hi = a < c ? c : a;
                if (pass == 0) pos[lo]++;
                else adj[--pos[lo]] = hi;
            }
        }
        if (pass == 0) /* running sums: pos[v] = end of v's group; pass 1 counts it down */
            for (size_t v = 1; v <= nv; v++) pos[v] += pos[v - 1];
    }
    long nb = 0, nm = 0;
    for (size_t v = 0; v < nv; v++) {
        const int32_t *g = adj + pos[v];
        size_t len = pos[v + 1] - pos[v];
        for (size_t i = 0; i < len; i++) cnt[g[i]]++;
        for (size_t i = 0; i < len; i++) {
            uint32_t c = cnt[g[i]];
            nb += c == 1;
            nm += c > 2;
            cnt[g[i]] = 0; /* read once per edge, and clean for the next group */
        }
    }
    *boundary = nb;
    *nonmanifold = nm;
done:
    free(pos);
    free(cnt);
    free(adj);
}

void gnf_mesh_analyse(const gnf_mesh *m, gnf_mesh_report *r) {
    assert(m && r);
    r->duplicate_vertices = m->nv > 0 ? count_duplicates(m) : 0;
    count_edges(m, &r->boundary_edges, &r->non_manifold_edges);
    r->degenerate_faces = 0;
    for (long i = 0; i < m->nf; i++) {
        const int32_t *t = m->f + 3 * i;
        if (t[0] < 0 || t[1] < 0 || t[2] < 0 || t[0] >= m->nv || t[1] >= m->nv || t[2] >= m->nv) continue;
        const float *a = m->v + 3 * (size_t)t[0], *c = m->v + 3 * (size_t)t[1], *d = m->v + 3 * (size_t)t[2];
        double e[3], g[3];
        for (int k = 0; k < 3; k++) e[k] = (double)c[k] - a[k], g[k] = (double)d[k] - a[k];
        r->degenerate_faces += e[1] * g[2] - e[2] * g[1] == 0.0 && e[2] * g[0] - e[0] * g[2] == 0.0 &&
                               e[0] * g[1] - e[1] * g[0] == 0.0;
    }
}

long gnf_mesh_boundary_edges(const gnf_mesh *m) {
    for (long i = 0; i < 3 * m->nf; i++)
        if (m->f[i] < 0 || m->f[i] >= m->nv) return -1;
    long boundary, nonmanifold;
    count_edges(m, &boundary, &nonmanifold);
    return boundary;
}

gnf_status gnf_mesh_check(const gnf_mesh *m, const char *name, const char *verb) {
    if (m->nv < 0 || m->nf < 0 || (unsigned long)m->nv > 2147483647ul || (unsigned long)m->nf > 2147483647ul ||
        (m->nv && !m->v) || (m->nf && !m->f))
        return gnf_fail(GNF_ERR_INVALID, "%s: cannot %s a mesh with %ld vertices and %ld faces", name, verb, m->nv,
                        m->nf);
    for (long i = 0; i < 3 * m->nf; i++)
        if (m->f[i] < 0 || m->f[i] >= m->nv)
            return gnf_fail(GNF_ERR_INVALID, "%s: cannot %s: face %ld has vertex index %d (%ld vertices)", name, verb,
                            i / 3, m->f[i], m->nv);
    for (long i = 0; i < 3 * m->nv; i++)
        if (!isfinite(m->v[i]))
            return gnf_fail(GNF_ERR_INVALID, "%s: cannot %s: vertex %ld is not finite", name, verb, i / 3);
    return GNF_OK;
}
