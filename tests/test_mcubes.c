/* test_mcubes.c — marching cubes: closed 2-manifold output (edge multiplicities, consistent
 * orientation, Euler characteristic), accuracy of area and volume on shapes with known values,
 * every case of the tables (all 256 corner patterns inside a closed frame, random fields for the
 * ambiguous variants), iso levels, NaN/inf samples, errors, determinism across thread counts,
 * meshes other tools accept (level sets through grid samples: no duplicate vertices, tiny
 * triangles or touching triangles; tests/mesh_check.c) and (GNF_SLOW_TESTS=1) the memory bound
 * at res 1024. */
#include "geom/mcubes.h"
#include "test.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- helpers -------------------------------------------------------------------------------- */

/* Frees a mesh without depending on the mesh I/O module. */
static void mesh_release(gnf_mesh *m) {
    gnf_free(m->v);
    gnf_free(m->f);
    memset(m, 0, sizeof *m);
}

typedef struct {
    long V, E, F;
    long boundary;       /* undirected edges in one face */
    long nonmanifold;    /* undirected edges in more than two faces */
    long dup_directed;   /* a directed edge used twice: inconsistent orientation */
    long unmatched;      /* directed edges whose reverse is absent (= boundary when manifold) */
    long bad_index;      /* face indices out of range or repeated within a face */
    long nonfinite;      /* vertices with a NaN/inf coordinate */
    long boundary_off_box; /* boundary-edge endpoints not on the grid's outer box */
    long unused_vertices;
} mesh_check;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int on_box(const float *p, const gnf_mc_config *cfg) {
    for (int a = 0; a < 3; a++)
        if (fabsf(p[a] - cfg->lo[a]) <= 1e-5f || fabsf(p[a] - cfg->hi[a]) <= 1e-5f) return 1;
    return 0;
}

/* Edge statistics by sorting directed and undirected edge keys (fine for test-sized meshes). */
static mesh_check analyse(const gnf_mesh *m, const gnf_mc_config *cfg) {
    mesh_check r;
    memset(&r, 0, sizeof r);
    r.V = m->nv;
    r.F = m->nf;
    for (long i = 0; i < 3 * m->nv; i++)
        if (!isfinite(m->v[i])) r.nonfinite++;
    long ne = 3 * m->nf;
    if (ne == 0) return r;
    uint64_t *dir = malloc((size_t)ne * sizeof(uint64_t));
    uint64_t *und = malloc((size_t)ne * sizeof(uint64_t));
    char *used = calloc((size_t)m->nv + 1, 1);
    if (!dir || !und || !used) {
        test_fail(__FILE__, __LINE__, "out of memory in analyse");
        free(dir); free(und); free(used);
        return r;
    }
    for (long i = 0; i < m->nf; i++) {
        const int32_t *f = m->f + 3 * i;
        for (int k = 0; k < 3; k++) {
            if (f[k] < 0 || f[k] >= m->nv) { r.bad_index++; f = NULL; break; }
        }
        if (!f) {
            for (int k = 0; k < 3; k++) dir[3 * i + k] = und[3 * i + k] = UINT64_MAX;
            continue;
        }
        if (f[0] == f[1] || f[1] == f[2] || f[0] == f[2]) r.bad_index++;
        for (int k = 0; k < 3; k++) {
            uint32_t a = (uint32_t)f[k], b = (uint32_t)f[(k + 1) % 3];
            used[a] = 1;
            dir[3 * i + k] = (uint64_t)a << 32 | b;
            und[3 * i + k] = a < b ? ((uint64_t)a << 32 | b) : ((uint64_t)b << 32 | a);
        }
    }
    for (long v = 0; v < m->nv; v++) r.unused_vertices += !used[v];
    qsort(dir, (size_t)ne, sizeof(uint64_t), cmp_u64);
    qsort(und, (size_t)ne, sizeof(uint64_t), cmp_u64);
    for (long i = 0; i < ne;) {
        long j = i;
        while (j < ne && und[j] == und[i]) j++;
        if (und[i] != UINT64_MAX) {
            r.E++;
            if (j - i == 1) {
                r.boundary++;
                const float *pa = m->v + 3 * (long)(und[i] >> 32);
                const float *pb = m->v + 3 * (long)(und[i] & 0xffffffffu);
                if (cfg && (!on_box(pa, cfg) || !on_box(pb, cfg))) r.boundary_off_box++;
            }
            if (j - i > 2) r.nonmanifold++;
        }
        i = j;
    }
    for (long i = 0; i < ne; i++) {
        if (dir[i] == UINT64_MAX) continue;
        if (i + 1 < ne && dir[i + 1] == dir[i]) r.dup_directed++;
        uint64_t rev = (dir[i] << 32) | (dir[i] >> 32);
        if (!bsearch(&rev, dir, (size_t)ne, sizeof(uint64_t), cmp_u64)) r.unmatched++;
    }
    free(dir);
    free(und);
    free(used);
    return r;
}

/* Checks that m is a closed, consistently oriented 2-manifold with no stray vertices. */
#define CHECK_CLOSED_MANIFOLD(r)                                                            \
    do {                                                                                    \
        CHECK_EQ_INT((r).boundary, 0);                                                      \
        CHECK_EQ_INT((r).nonmanifold, 0);                                                   \
        CHECK_EQ_INT((r).dup_directed, 0);                                                  \
        CHECK_EQ_INT((r).unmatched, 0);                                                     \
        CHECK_EQ_INT((r).bad_index, 0);                                                     \
        CHECK_EQ_INT((r).nonfinite, 0);                                                     \
        CHECK_EQ_INT((r).unused_vertices, 0);                                               \
        CHECK_EQ_INT(2 * (r).E, 3 * (r).F); /* every edge in exactly two faces */          \
    } while (0)

static gnf_mc_config cube_cfg(int res) {
    gnf_mc_config c = {{-1, -1, -1}, {1, 1, 1}, res, 0.0f, 2};
    return c;
}

/* Extracts fn's surface with cfg into *m (the status checked) and analyses it. */
static mesh_check extract(const gnf_mc_config *cfg, gnf_field_fn fn, void *user, gnf_mesh *m) {
    CHECK_EQ_INT(gnf_marching_cubes(cfg, fn, user, m), GNF_OK);
    return analyse(m, cfg);
}

/* ---- fields --------------------------------------------------------------------------------- */

typedef struct {
    double cx, cy, cz, r;
} sphere_field;

static int sphere_fn(void *user, const float *p, long n, float *out) {
    const sphere_field *s = user;
    for (long i = 0; i < n; i++) {
        double x = p[3 * i] - s->cx, y = p[3 * i + 1] - s->cy, z = p[3 * i + 2] - s->cz;
        out[i] = (float)(sqrt(x * x + y * y + z * z) - s->r);
    }
    return 0;
}

static int torus_fn(void *user, const float *p, long n, float *out) {
    (void)user;
    const double R = 0.5, r = 0.2;
    for (long i = 0; i < n; i++) {
        double q = sqrt((double)p[3 * i] * p[3 * i] + (double)p[3 * i + 1] * p[3 * i + 1]) - R;
        out[i] = (float)(sqrt(q * q + (double)p[3 * i + 2] * p[3 * i + 2]) - r);
    }
    return 0;
}

static const double g_box[3] = {0.6, 0.45, 0.3};

static int box_fn(void *user, const float *p, long n, float *out) {
    (void)user;
    for (long i = 0; i < n; i++) {
        double d[3], outside = 0, inside = -1e30;
        for (int a = 0; a < 3; a++) {
            d[a] = fabs((double)p[3 * i + a]) - g_box[a];
            if (d[a] > 0) outside += d[a] * d[a];
            if (d[a] > inside) inside = d[a];
        }
        out[i] = (float)(sqrt(outside) + (inside < 0 ? inside : 0));
    }
    return 0;
}

static int two_spheres_fn(void *user, const float *p, long n, float *out) {
    (void)user;
    for (long i = 0; i < n; i++) {
        double y = p[3 * i + 1], z = p[3 * i + 2];
        double xa = p[3 * i] - 0.45, xb = p[3 * i] + 0.45;
        double a = sqrt(xa * xa + y * y + z * z) - 0.3, b = sqrt(xb * xb + y * y + z * z) - 0.3;
        out[i] = (float)(a < b ? a : b);
    }
    return 0;
}

static int constant_fn(void *user, const float *p, long n, float *out) {
    (void)p;
    for (long i = 0; i < n; i++) out[i] = *(const float *)user;
    return 0;
}

typedef struct {
    int calls, abort_at;
    int say_why; /* leave a gnf_fail message when aborting, as gnf_model_eval would */
} abort_field;

static int abort_fn(void *user, const float *p, long n, float *out) {
    abort_field *a = user;
    sphere_field s = {0, 0, 0, 0.7};
    sphere_fn(&s, p, n, out);
    if (++a->calls < a->abort_at) return 0;
    if (a->say_why) gnf_fail(GNF_ERR_NOMEM, "model ran out of memory");
    return 1;
}

/* ---- geometry and topology ------------------------------------------------------------------ */

static void check_sphere(int res, int threads) {
    gnf_mc_config cfg = cube_cfg(res);
    cfg.threads = threads;
    sphere_field s = {0, 0, 0, 0.7};
    gnf_mesh m;
    gnf_mc_stats st;
    CHECK_EQ_INT(gnf_marching_cubes_ex(&cfg, sphere_fn, &s, &m, &st), GNF_OK);
    CHECK_EQ_INT(st.slices, res);
    CHECK(st.work_bytes_peak <= 48 * (size_t)res * res + ((size_t)1 << 20));
    CHECK(st.eval_s >= 0 && st.total_s >= st.eval_s);
    mesh_check r = analyse(&m, &cfg);
    CHECK_CLOSED_MANIFOLD(r);
    CHECK_EQ_INT(r.V - r.E + r.F, 2);
    CHECK_EQ_INT(gnf_mesh_boundary_edges(&m), 0);
    double area = gnf_mesh_area(&m), vol = gnf_mesh_volume(&m);
    double ea = 4 * M_PI * 0.49, ev = 4.0 / 3.0 * M_PI * 0.343;
    CHECK_MSG(fabs(area - ea) <= 0.01 * ea, "res %d: area %.6f vs %.6f", res, area, ea);
    CHECK_MSG(vol > 0 && fabs(vol - ev) <= 0.01 * ev, "res %d: volume %.6f vs %.6f", res, vol, ev);
    /* Every vertex lies on the sphere up to the interpolation error of one cell. */
    double h = 2.0 / (res - 1), worst = 0;
    for (long i = 0; i < m.nv; i++) {
        const float *p = m.v + 3 * i;
        double d = sqrt((double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2]);
        d = fabs(d - 0.7);
        if (d > worst) worst = d;
    }
    CHECK_MSG(worst < 0.1 * h, "res %d: vertex off the sphere by %g (h %g)", res, worst, h);
    mesh_release(&m);
}

TEST(mcubes_sphere_64) { check_sphere(64, 2); }
TEST(mcubes_sphere_128) { check_sphere(128, 0); }

/* A closed shape at res^3: a closed 2-manifold with Euler characteristic chi, and (where ea, ev
 * are positive) area and volume within tol of them. */
static void check_closed(int res, gnf_field_fn fn, int chi, double ea, double ev, double tol) {
    gnf_mc_config cfg = cube_cfg(res);
    gnf_mesh m;
    mesh_check r = extract(&cfg, fn, NULL, &m);
    CHECK_CLOSED_MANIFOLD(r);
    CHECK_EQ_INT(r.V - r.E + r.F, chi);
    double area = gnf_mesh_area(&m), vol = gnf_mesh_volume(&m);
    CHECK_MSG(ea <= 0 || fabs(area - ea) <= tol * ea, "res %d: area %.6f vs %.6f", res, area, ea);
    CHECK_MSG(fabs(vol - ev) <= tol * ev, "res %d: volume %.6f vs %.6f", res, vol, ev);
    mesh_release(&m);
}

TEST(mcubes_torus) { check_closed(96, torus_fn, 0, 4 * M_PI * M_PI * 0.5 * 0.2, 2 * M_PI * M_PI * 0.5 * 0.04, 0.01); }

TEST(mcubes_box) {
    const double *b = g_box;
    check_closed(128, box_fn, 2, 8 * (b[0] * b[1] + b[1] * b[2] + b[2] * b[0]), 8 * b[0] * b[1] * b[2], 0.02);
}

TEST(mcubes_two_spheres) { check_closed(80, two_spheres_fn, 4, 0, 2 * 4.0 / 3.0 * M_PI * 0.027, 0.02); }

/* A sphere larger than the grid: the surface is cut open by the grid's faces.  The open boundary
 * must lie on the grid's outer box, and the rest must still be a consistent manifold. */
TEST(mcubes_touches_border) {
    gnf_mc_config cfg = cube_cfg(40);
    sphere_field s = {0.1, 0, 0, 1.2};
    gnf_mesh m;
    mesh_check r = extract(&cfg, sphere_fn, &s, &m);
    CHECK(r.F > 0);
    CHECK(r.boundary > 0);
    CHECK_EQ_INT(r.boundary_off_box, 0);
    CHECK_EQ_INT(r.nonmanifold, 0);
    CHECK_EQ_INT(r.dup_directed, 0);
    CHECK_EQ_INT(r.unmatched, r.boundary);
    CHECK_EQ_INT(r.nonfinite, 0);
    CHECK_EQ_INT(gnf_mesh_boundary_edges(&m), r.boundary);
    mesh_release(&m);
}

/* iso != 0: the level 0.5 of |p| is a sphere of radius 0.5, and the level -0.2 of the r = 0.7
 * SDF is the same sphere. */
TEST(mcubes_iso_level) {
    gnf_mc_config cfg = cube_cfg(64);
    double ea = 4 * M_PI * 0.25, ev = 4.0 / 3.0 * M_PI * 0.125;
    sphere_field s0 = {0, 0, 0, 0.0}, s7 = {0, 0, 0, 0.7};
    for (int t = 0; t < 2; t++) {
        cfg.iso = t == 0 ? 0.5f : -0.2f;
        gnf_mesh m;
        mesh_check r = extract(&cfg, sphere_fn, t == 0 ? &s0 : &s7, &m);
        CHECK_CLOSED_MANIFOLD(r);
        CHECK_EQ_INT(r.V - r.E + r.F, 2);
        double area = gnf_mesh_area(&m), vol = gnf_mesh_volume(&m);
        double iso = cfg.iso;
        CHECK_MSG(fabs(area - ea) <= 0.01 * ea, "iso %g: area %.6f vs %.6f", iso, area, ea);
        CHECK_MSG(fabs(vol - ev) <= 0.01 * ev, "iso %g: volume %.6f vs %.6f", iso, vol, ev);
        mesh_release(&m);
    }
}

/* Orientation follows the field's gradient: negating the field flips every face, so the signed
 * volume of the surface around the (now above) ball is negative. */
static int neg_sphere_fn(void *user, const float *p, long n, float *out) {
    sphere_fn(user, p, n, out);
    for (long i = 0; i < n; i++) out[i] = -out[i];
    return 0;
}

TEST(mcubes_orientation_follows_gradient) {
    gnf_mc_config cfg = cube_cfg(48);
    sphere_field s = {0, 0, 0, 0.7};
    gnf_mesh m;
    mesh_check r = extract(&cfg, neg_sphere_fn, &s, &m);
    CHECK_CLOSED_MANIFOLD(r);
    double ev = 4.0 / 3.0 * M_PI * 0.343, vol = gnf_mesh_volume(&m);
    CHECK_MSG(fabs(vol + ev) <= 0.02 * ev, "volume %.6f vs %.6f", vol, -ev);
    mesh_release(&m);
}

TEST(mcubes_constant_field) {
    gnf_mc_config cfg = cube_cfg(16);
    float vals[3] = {1.0f, -1.0f, 0.0f}; /* above, below, exactly iso (above) */
    for (int t = 0; t < 3; t++) {
        gnf_mesh m;
        CHECK_EQ_INT(gnf_marching_cubes(&cfg, constant_fn, &vals[t], &m), GNF_OK);
        CHECK_EQ_INT(m.nv, 0);
        CHECK_EQ_INT(m.nf, 0);
        CHECK(m.v == NULL && m.f == NULL);
        CHECK_EQ_INT(gnf_mesh_boundary_edges(&m), 0);
        CHECK(gnf_mesh_area(&m) == 0.0);
        mesh_release(&m);
    }
}

TEST(mcubes_invalid_config) {
    sphere_field s = {0, 0, 0, 0.7};
    gnf_mesh m;
    int bad_res[4] = {1, 0, -5, 4097};
    for (int t = 0; t < 4; t++) {
        gnf_mc_config cfg = cube_cfg(bad_res[t]);
        m.nv = 123;
        CHECK_EQ_INT(gnf_marching_cubes(&cfg, sphere_fn, &s, &m), GNF_ERR_INVALID);
        CHECK(m.nv == 0 && m.v == NULL);
        CHECK(strstr(gnf_last_error(), "res") != NULL);
    }
    gnf_mc_config cfg = cube_cfg(8);
    cfg.hi[1] = cfg.lo[1];
    CHECK_EQ_INT(gnf_marching_cubes(&cfg, sphere_fn, &s, &m), GNF_ERR_INVALID);
    cfg = cube_cfg(8);
    cfg.lo[2] = NAN;
    CHECK_EQ_INT(gnf_marching_cubes(&cfg, sphere_fn, &s, &m), GNF_ERR_INVALID);
    cfg = cube_cfg(8);
    cfg.iso = INFINITY;
    CHECK_EQ_INT(gnf_marching_cubes(&cfg, sphere_fn, &s, &m), GNF_ERR_INVALID);
    cfg = cube_cfg(2); /* the smallest grid: one cell */
    CHECK_EQ_INT(gnf_marching_cubes(&cfg, sphere_fn, &s, &m), GNF_OK);
    mesh_release(&m);
}

/* Aborting at the first slice, the second (before any face) and in the middle: the status says
 * so, nothing is returned, and (under ASan) nothing leaks. */
TEST(mcubes_callback_abort) {
    int at[3] = {1, 2, 20};
    for (int t = 0; t < 3; t++) {
        gnf_mc_config cfg = cube_cfg(32);
        abort_field a = {0, at[t], t == 2};
        gnf_mesh m;
        gnf_mc_stats st;
        gnf_fail(GNF_ERR_IO, "a stale message from an earlier call");
        gnf_status s = gnf_marching_cubes_ex(&cfg, abort_fn, &a, &m, &st);
        CHECK_EQ_INT(s, GNF_ERR_INVALID);
        const char *want = t < 2 ? "field evaluation aborted"
                                 : "field evaluation aborted: model ran out of memory";
        CHECK_MSG(strcmp(gnf_last_error(), want) == 0, "message '%s'", gnf_last_error());
        CHECK_EQ_INT(a.calls, at[t]);
        CHECK_EQ_INT(st.slices, at[t]);
        CHECK(m.v == NULL && m.f == NULL && m.nv == 0 && m.nf == 0);
    }
}

/* NaN samples act as above: a sphere with NaN wherever x > 0.2 is a closed cap, and no vertex
 * is NaN.  Infinities likewise give finite vertices. */
typedef struct {
    float special;
} nan_field;

static int nan_sphere_fn(void *user, const float *p, long n, float *out) {
    const nan_field *nf = user;
    sphere_field s = {0, 0, 0, 0.7};
    sphere_fn(&s, p, n, out);
    for (long i = 0; i < n; i++)
        if (p[3 * i] > 0.2f) out[i] = nf->special;
    return 0;
}

TEST(mcubes_nan_and_inf_samples) {
    float specials[3] = {NAN, INFINITY, -INFINITY};
    for (int t = 0; t < 3; t++) {
        gnf_mc_config cfg = cube_cfg(40);
        nan_field nf = {specials[t]};
        gnf_mesh m;
        mesh_check r = extract(&cfg, nan_sphere_fn, &nf, &m);
        CHECK(r.F > 0);
        CHECK_EQ_INT(r.nonfinite, 0);
        CHECK_EQ_INT(r.nonmanifold, 0);
        CHECK_EQ_INT(r.dup_directed, 0);
        if (t < 2) { /* NaN and +inf are above: the cut sphere is closed */
            CHECK_CLOSED_MANIFOLD(r);
            CHECK(gnf_mesh_volume(&m) > 0);
        } else {     /* -inf is below: the slab x > 0.2 joins the ball and meets the border */
            CHECK_EQ_INT(r.boundary_off_box, 0);
        }
        mesh_release(&m);
    }
}

/* Samples exactly at iso (a staircase of an SDF) put vertices on sample points; the mesh must
 * still be a closed manifold since such samples count as above. */
static int staircase_fn(void *user, const float *p, long n, float *out) {
    sphere_fn(user, p, n, out);
    for (long i = 0; i < n; i++) out[i] = floorf(out[i] * 8.0f) / 8.0f;
    return 0;
}

TEST(mcubes_exact_iso_samples) {
    gnf_mc_config cfg = cube_cfg(33);
    sphere_field s = {0, 0, 0, 0.7};
    gnf_mesh m;
    mesh_check r = extract(&cfg, staircase_fn, &s, &m);
    CHECK(r.F > 0);
    CHECK_CLOSED_MANIFOLD(r);
    CHECK(gnf_mesh_volume(&m) > 0);
    mesh_release(&m);
}

/* ---- every case of the tables ---------------------------------------------------------------- */

/* Samples addressed by integer grid coordinates (lo = 0, hi = res - 1):
 * vals[i + res*(j + res*k)]. */
typedef struct {
    int res;
    const float *vals;
} table_field;

static int table_fn(void *user, const float *p, long n, float *out) {
    const table_field *t = user;
    for (long q = 0; q < n; q++) {
        long i = lrintf(p[3 * q]), j = lrintf(p[3 * q + 1]), k = lrintf(p[3 * q + 2]);
        out[q] = t->vals[i + t->res * (j + (long)t->res * k)];
    }
    return 0;
}

static gnf_mc_config index_cfg(int res) {
    const float hi = (float)(res - 1);
    gnf_mc_config c = {{0, 0, 0}, {hi, hi, hi}, res, 0.0f, 2};
    return c;
}

/* All 256 sign patterns of one cell, with random magnitudes (so ambiguous faces go both ways),
 * framed by above samples so that every surface is closed. */
TEST(mcubes_all_cases_closed) {
    const int res = 4;
    float vals[64];
    gnf_rng rng;
    gnf_rng_seed(&rng, 7, 0);
    gnf_mc_config cfg = index_cfg(res);
    for (int cs = 0; cs < 256; cs++) {
        for (int rep = 0; rep < 12; rep++) {
            for (int q = 0; q < 64; q++) vals[q] = 1.0f;
            for (int b = 0; b < 8; b++) {
                int i = 1 + (b & 1), j = 1 + ((b >> 1) & 1), k = 1 + ((b >> 2) & 1);
                float mag = 0.05f + gnf_rng_uniform(&rng);
                vals[i + res * (j + res * k)] = ((cs >> b) & 1) ? mag : -mag;
            }
            table_field tf = {res, vals};
            gnf_mesh m;
            mesh_check r = extract(&cfg, table_fn, &tf, &m);
            CHECK_CLOSED_MANIFOLD(r);
            double vol = gnf_mesh_volume(&m);
            if (cs != 255) CHECK_MSG(vol > 0, "case %d: volume %g", cs, vol);
            else CHECK_EQ_INT(m.nf, 0);
            mesh_release(&m);
        }
    }
}

/* Random fields (many ambiguous faces and cells) framed by above samples: closed, consistently
 * oriented manifolds with an even Euler characteristic; also with values on a coarse lattice so
 * that many samples are exactly iso. */
TEST(mcubes_random_fields_closed) {
    const int res = 24;
    float *vals = malloc(sizeof(float) * res * res * res);
    if (!vals) { CHECK(0); return; }
    gnf_mc_config cfg = index_cfg(res);
    for (int seed = 0; seed < 16; seed++) {
        gnf_rng rng;
        gnf_rng_seed(&rng, 100 + (uint64_t)seed, 0);
        for (int k = 0; k < res; k++)
            for (int j = 0; j < res; j++)
                for (int i = 0; i < res; i++) {
                    int border = i == 0 || j == 0 || k == 0 || i == res - 1 || j == res - 1 ||
                                 k == res - 1;
                    float v = gnf_rng_uniform(&rng) * 2.0f - 1.0f;
                    if (seed >= 12) v = floorf(v * 2.0f) / 2.0f; /* -1, -0.5, 0, 0.5 */
                    vals[i + res * (j + res * k)] = border ? 1.0f : v;
                }
        table_field tf = {res, vals};
        cfg.threads = 1 + seed % 3;
        gnf_mesh m;
        mesh_check r = extract(&cfg, table_fn, &tf, &m);
        CHECK(r.F > 1000);
        CHECK_CLOSED_MANIFOLD(r);
        CHECK_MSG((r.V - r.E + r.F) % 2 == 0, "seed %d: chi %ld", seed, r.V - r.E + r.F);
        CHECK_EQ_INT(gnf_mesh_boundary_edges(&m), 0);
        mesh_release(&m);
    }
    free(vals);
}

/* The mesh (vertex and face order included) does not depend on the thread count. */
TEST(mcubes_thread_independent) {
    gnf_mc_config cfg = cube_cfg(70);
    gnf_mesh a, b;
    cfg.threads = 1;
    CHECK_EQ_INT(gnf_marching_cubes(&cfg, torus_fn, NULL, &a), GNF_OK);
    cfg.threads = 3;
    CHECK_EQ_INT(gnf_marching_cubes(&cfg, torus_fn, NULL, &b), GNF_OK);
    CHECK_EQ_INT(a.nv, b.nv);
    CHECK_EQ_INT(a.nf, b.nf);
    if (a.nv == b.nv && a.nf == b.nf) {
        CHECK(memcmp(a.v, b.v, sizeof(float) * 3 * (size_t)a.nv) == 0);
        CHECK(memcmp(a.f, b.f, sizeof(int32_t) * 3 * (size_t)a.nf) == 0);
    }
    mesh_release(&a);
    mesh_release(&b);
}

/* gnf_mesh_boundary_edges on a hand-made open and closed mesh (a tetrahedron, minus a face). */
TEST(mcubes_mesh_measures) {
    float v[12] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    int32_t f[12] = {0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3};
    gnf_mesh m = {v, f, 4, 4, NULL};
    CHECK_EQ_INT(gnf_mesh_boundary_edges(&m), 0);
    CHECK_NEAR(gnf_mesh_volume(&m), 1.0 / 6.0, 1e-12);
    CHECK_NEAR(gnf_mesh_area(&m), 1.5 + sqrt(3.0) / 2.0, 1e-6);
    m.nf = 3;
    CHECK_EQ_INT(gnf_mesh_boundary_edges(&m), 3);
    f[0] = 7;
    CHECK_EQ_INT(gnf_mesh_boundary_edges(&m), -1);
}

/* ---- meshes other tools accept -------------------------------------------------------------- */

/* Fields whose level set runs through grid samples, exactly or within float rounding: before
 * vertices were kept off the samples (crossing() in mcubes.c) they gave coincident vertices,
 * zero-area triangles and triangles of neighbouring cells touching without a shared vertex.
 * On cube_cfg(41) the samples are 0.05 apart. */
typedef struct {
    double half[3]; /* grid_box_fn: half sizes, multiples of the sample spacing */
} grid_box;

static int grid_box_fn(void *user, const float *p, long n, float *out) {
    const grid_box *b = user;
    for (long i = 0; i < n; i++) {
        double outside = 0, inside = -1e30;
        for (int a = 0; a < 3; a++) {
            double d = fabs((double)p[3 * i + a]) - b->half[a];
            if (d > 0) outside += d * d;
            if (d > inside) inside = d;
        }
        out[i] = (float)(sqrt(outside) + (inside < 0 ? inside : 0));
    }
    return 0;
}

/* A ball cut by the plane x + y = 0.1, which holds every sample with i + j = 42 at res 41. */
static int cut_ball_fn(void *user, const float *p, long n, float *out) {
    (void)user;
    for (long i = 0; i < n; i++) {
        double x = p[3 * i], y = p[3 * i + 1], z = p[3 * i + 2];
        double ball = sqrt(x * x + y * y + z * z) - 0.7, plane = (x + y - 0.1) / sqrt(2.0);
        out[i] = (float)(ball > plane ? ball : plane);
    }
    return 0;
}

/* Checks what a 3D printer, a simulator or a boolean needs of m, extracted on cells h wide: a
 * closed surface whose edges and vertices are manifold, no two vertices at one position, no
 * triangle smaller than 1e-4 of a cell face (crossing() guarantees 2e-4; the least seen is the
 * corner triangle, 3.5e-4), no edge shorter than 0.02 of a cell (it guarantees 0.028), and no
 * two triangles without a shared vertex closer than 0.005 of a cell (the least seen, on the
 * random fields below, is 0.012).  Without the margin these fields give coincident vertices,
 * zero-area triangles and touching pairs. */
static void check_hygiene(const gnf_mesh *m, double h, const char *what) {
    test_hygiene r;
    test_mesh_hygiene(m, h, 0.1, &r);
    CHECK_MSG(m->nf > 0, "%s: no faces", what);
    CHECK_MSG(r.boundary_edges == 0 && r.nonmanifold_edges == 0 && r.nonmanifold_vertices == 0,
              "%s: %ld boundary edges, %ld non-manifold edges, %ld non-manifold vertices", what,
              r.boundary_edges, r.nonmanifold_edges, r.nonmanifold_vertices);
    CHECK_MSG(r.duplicate_vertices == 0, "%s: %ld duplicate vertices", what, r.duplicate_vertices);
    CHECK_MSG(r.min_area >= 1e-4, "%s: a triangle of %.3g cell faces", what, r.min_area);
    CHECK_MSG(r.min_edge >= 0.02, "%s: an edge of %.3g cells", what, r.min_edge);
    CHECK_MSG(r.touching_pairs == 0 && r.min_gap >= 0.005,
              "%s: %ld pairs of triangles without a shared vertex touch or cross; the closest "
              "pair is %.3g cells apart", what, r.touching_pairs, r.min_gap);
}

/* The fixture itself: it sees a pinched vertex, a duplicate vertex, a sliver, and two
 * triangles that cross or touch without sharing a vertex. */
TEST(mcubes_hygiene_fixture_finds_defects) {
    /* two tetrahedra sharing vertex 0: closed and edge-manifold, but vertex 0 is pinched */
    float v[7 * 3] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, -1, 0, 0, 0, -1, 0, 0, 0, -1};
    int32_t f[8 * 3] = {0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3, 0, 4, 5, 0, 6, 4, 0, 5, 6, 4, 6, 5};
    gnf_mesh m = {v, f, 7, 8, NULL};
    test_hygiene r;
    test_mesh_hygiene(&m, 1.0, 0.5, &r);
    CHECK_EQ_INT(r.boundary_edges, 0);
    CHECK_EQ_INT(r.nonmanifold_edges, 0);
    CHECK_EQ_INT(r.nonmanifold_vertices, 1);
    CHECK_EQ_INT(r.duplicate_vertices, 0);
    CHECK_EQ_INT(r.touching_pairs, 0);
    /* the second tetrahedron as separate vertices, the apex moved to (0.1, 0.1, 0.1): its faces
     * cut through the first one's; then exactly onto vertex 0: a duplicate, touching pairs */
    float w[8 * 3] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.1f, 0.1f, 0.1f, -1, 0, 0, 0, -1, 0, 0, 0, -1};
    int32_t g[8 * 3] = {0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3, 4, 5, 6, 4, 7, 5, 4, 6, 7, 5, 7, 6};
    gnf_mesh m2 = {w, g, 8, 8, NULL};
    test_mesh_hygiene(&m2, 1.0, 0.5, &r);
    CHECK_EQ_INT(r.nonmanifold_vertices, 0);
    CHECK(r.touching_pairs > 0 && r.min_gap == 0);
    w[12] = w[13] = w[14] = 0;
    test_mesh_hygiene(&m2, 1.0, 0.5, &r);
    CHECK_EQ_INT(r.duplicate_vertices, 1);
    CHECK(r.touching_pairs > 0);
    /* apex just off vertex 0 along -x, -y, -z: a gap of about 1e-3 and no contact */
    w[12] = w[13] = w[14] = -1e-3f;
    test_mesh_hygiene(&m2, 1.0, 0.5, &r);
    CHECK_EQ_INT(r.touching_pairs, 0);
    CHECK_NEAR(r.min_gap, sqrt(3.0) * 1e-3, 1e-5);
    /* a flat tetrahedron: vertex 3 moved to (0.5, 0.5, 1e-4), so face (1, 2, 3) has area 7e-5 */
    v[9] = v[10] = 0.5f;
    v[11] = 1e-4f;
    m.nf = 4;
    m.nv = 4;
    test_mesh_hygiene(&m, 1.0, 0.5, &r);
    CHECK(r.min_area < 1e-4);
}

TEST(mcubes_level_set_through_samples) {
    gnf_mc_config cfg = cube_cfg(41);
    const double h = 2.0 / 40;
    grid_box box = {{0.5, 0.35, 0.25}};
    sphere_field ball = {0, 0, 0, 0.5}, off = {0.05, -0.1, 0.15, 0.5};
    struct {
        const char *what;
        gnf_field_fn fn;
        void *user;
    } f[] = {{"box with faces on grid planes", grid_box_fn, &box},
             {"sphere through samples", sphere_fn, &ball},
             {"sphere through samples, off centre", sphere_fn, &off},
             {"ball cut along samples", cut_ball_fn, NULL},
             {"staircase field", staircase_fn, &ball}};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        gnf_mesh m;
        CHECK_EQ_INT(gnf_marching_cubes(&cfg, f[k].fn, f[k].user, &m), GNF_OK);
        check_hygiene(&m, h, f[k].what);
        CHECK_MSG(gnf_mesh_volume(&m) > 0, "%s: volume %g", f[k].what, gnf_mesh_volume(&m));
        mesh_release(&m);
    }
}

/* Random fields framed by above samples, on a lattice of four values (a quarter of the samples
 * exactly iso) for even seeds, continuous for odd ones: many ambiguous faces, tunnels, and
 * samples at or near iso. */
TEST(mcubes_random_lattice_hygiene) {
    const int res = 20;
    float *vals = malloc(sizeof(float) * res * res * res);
    if (!vals) { CHECK(0); return; }
    gnf_mc_config cfg = index_cfg(res);
    for (int seed = 0; seed < 8; seed++) {
        gnf_rng rng;
        gnf_rng_seed(&rng, 500 + (uint64_t)seed, 0);
        for (int k = 0; k < res; k++)
            for (int j = 0; j < res; j++)
                for (int i = 0; i < res; i++) {
                    int border = i == 0 || j == 0 || k == 0 || i == res - 1 || j == res - 1 ||
                                 k == res - 1;
                    float v = floorf((gnf_rng_uniform(&rng) * 2.0f - 1.0f) * 2.0f) / 2.0f;
                    if (seed & 1) v = gnf_rng_uniform(&rng) * 2.0f - 1.0f;
                    vals[i + res * (j + res * k)] = border ? 1.0f : v;
                }
        table_field tf = {res, vals};
        gnf_mesh m;
        CHECK_EQ_INT(gnf_marching_cubes(&cfg, table_fn, &tf, &m), GNF_OK);
        char what[64];
        snprintf(what, sizeof what, "random lattice field, seed %d", seed);
        check_hygiene(&m, 1.0, what);
        mesh_release(&m);
    }
    free(vals);
}

/* ---- scale ---------------------------------------------------------------------------------- */

/* A sphere field that evaluates a slice on the thread pool, as a model would. */
typedef struct {
    const float *p;
    float *out;
    long n;
} par_job;

static void par_sphere_task(void *ctx, long t, int thread) {
    (void)thread;
    par_job *j = ctx;
    long a = t * 16384, b = GNF_MIN(a + 16384, j->n);
    sphere_field s = {0, 0, 0, 0.7};
    sphere_fn(&s, j->p + 3 * a, b - a, j->out + a);
}

static int par_sphere_fn(void *user, const float *p, long n, float *out) {
    par_job j = {p, out, n};
    gnf_parallel_for((n + 16383) / 16384, *(int *)user, par_sphere_task, &j);
    return 0;
}

static void big_sphere(int res) {
    gnf_mc_config cfg = cube_cfg(res);
    cfg.threads = 0;
    int threads = 0;
    gnf_mesh m;
    gnf_mc_stats st;
    CHECK_EQ_INT(gnf_marching_cubes_ex(&cfg, par_sphere_fn, &threads, &m, &st), GNF_OK);
    size_t r2 = (size_t)res * res;
    printf("    res %d: %ld vertices, %ld faces; %.2f s total, %.2f s field, %.2f s extraction; "
           "work buffers %.1f MiB (%.1f bytes per slice point), output %.1f MiB\n",
           res, m.nv, m.nf, st.total_s, st.eval_s, st.total_s - st.eval_s,
           (double)st.work_bytes_peak / 1048576.0, (double)st.work_bytes_peak / (double)r2,
           (double)(m.nv * 12 + m.nf * 12) / 1048576.0);
    CHECK_EQ_INT(st.slices, res);
    /* O(res^2): two slices of samples and classes, five edge tables and the point buffer
     * (42 bytes per slice point) plus face buffers of about one slab's triangles. */
    CHECK_MSG(st.work_bytes_peak <= 48 * r2 + ((size_t)8 << 20), "work %zu bytes",
              st.work_bytes_peak);
    CHECK_EQ_INT(gnf_mesh_boundary_edges(&m), 0);
    double ea = 4 * M_PI * 0.49, area = gnf_mesh_area(&m);
    CHECK_MSG(fabs(area - ea) <= 0.001 * ea, "area %.6f vs %.6f", area, ea);
    CHECK(gnf_mesh_volume(&m) > 0);
    mesh_release(&m);
}

TEST(mcubes_res1024_memory_bound) {
    const char *e = getenv("GNF_SLOW_TESTS");
    if (!e || strcmp(e, "1") != 0) SKIP("set GNF_SLOW_TESTS=1 to run (res 512 and 1024 spheres)");
    big_sphere(512);
    big_sphere(1024);
}
