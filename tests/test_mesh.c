/* test_mesh.c — mesh readers, writers and analysis: a unit cube in every format and variant,
 * exact save/load round trips, report counts, and hostile inputs (each must fail with the right
 * status and a message naming the file, without crashing or leaking). */
#define _POSIX_C_SOURCE 200809L
#include "test.h"
#include "geom/mesh.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- fixtures ------------------------------------------------------------------------------ */

/* The unit cube's corners. */
static const float k_cube_v[8][3] = {{0, 0, 0}, {1, 0, 0}, {1, 1, 0}, {0, 1, 0},
                                     {0, 0, 1}, {1, 0, 1}, {1, 1, 1}, {0, 1, 1}};
/* Quads counter-clockwise seen from outside; fanned (a,b,c) (a,c,d) they give the triangles. */
static const int k_cube_q[6][4] = {{0, 3, 2, 1}, {4, 5, 6, 7}, {0, 1, 5, 4},
                                   {2, 3, 7, 6}, {0, 4, 7, 3}, {1, 2, 6, 5}};

static void cube_tri(int t, int out[3]) {
    const int *q = k_cube_q[t / 2];
    out[0] = q[0];
    out[1] = q[t % 2 ? 2 : 1];
    out[2] = q[t % 2 ? 3 : 2];
}

/* Appends to buf (n bytes used of cap) the cube's corners as "x y z<vtail>" lines, then its 12
 * triangles as "3 a b c<ftail>" lines; returns the new length. */
static size_t cube_lines(char *buf, size_t n, size_t cap, const char *vtail, const char *ftail) {
    for (int i = 0; i < 8; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%g %g %g%s", (double)k_cube_v[i][0], (double)k_cube_v[i][1],
                              (double)k_cube_v[i][2], vtail);
    for (int t = 0; t < 12; t++) {
        int c[3];
        cube_tri(t, c);
        n += (size_t)snprintf(buf + n, cap - n, "3 %d %d %d%s", c[0], c[1], c[2], ftail);
    }
    return n;
}

/* A growable byte buffer for building binary fixtures. */
typedef struct {
    unsigned char d[8192];
    size_t n;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->n + n > sizeof b->d) abort();
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put_str(bytes *b, const char *s) { put(b, s, strlen(s)); }
/* Appends an n-byte value in the given byte order, whatever the host's. */
static void put_num(bytes *b, const void *v, int n, int big) {
    unsigned char tmp[8];
    memcpy(tmp, v, (size_t)n);
    uint16_t one = 1;
    int host_big = *(unsigned char *)&one == 0;
    if (host_big != big)
        for (int i = 0; i < n / 2; i++) {
            unsigned char c = tmp[i];
            tmp[i] = tmp[n - 1 - i];
            tmp[n - 1 - i] = c;
        }
    put(b, tmp, (size_t)n);
}

/* Index of the cube corner at p, or -1. */
static int corner_of(const float *p) {
    for (int i = 0; i < 8; i++)
        if (p[0] == k_cube_v[i][0] && p[1] == k_cube_v[i][1] && p[2] == k_cube_v[i][2]) return i;
    return -1;
}

/* Triangle as a code of its corners, rotated to start at the smallest (orientation kept). */
static int tri_code(const int c[3]) {
    int r = c[0] < c[1] ? (c[0] < c[2] ? 0 : 2) : (c[1] < c[2] ? 1 : 2);
    return c[r] * 64 + c[(r + 1) % 3] * 8 + c[(r + 2) % 3];
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Checks that m is the unit cube: 8 distinct corners, the 12 expected oriented triangles, volume
 * 1 and a closed 2-manifold. */
static void check_cube(const char *label, const gnf_mesh *m, const gnf_mesh_report *r) {
    CHECK_MSG(m->nv == 8 && m->nf == 12, "%s: %ld vertices, %ld faces", label, m->nv, m->nf);
    if (m->nv != 8 || m->nf != 12) return;
    int seen = 0;
    for (int i = 0; i < 8; i++) {
        int c = corner_of(m->v + 3 * i);
        CHECK_MSG(c >= 0, "%s: vertex %d is not a cube corner", label, i);
        if (c >= 0) seen |= 1 << c;
    }
    CHECK_MSG(seen == 255, "%s: corners missing", label);
    int got[12], want[12];
    double vol = 0;
    for (int t = 0; t < 12; t++) {
        int c[3], w[3];
        for (int k = 0; k < 3; k++) c[k] = corner_of(m->v + 3 * m->f[3 * t + k]);
        got[t] = tri_code(c);
        cube_tri(t, w);
        want[t] = tri_code(w);
        const float *a = m->v + 3 * m->f[3 * t], *b = m->v + 3 * m->f[3 * t + 1],
                    *d = m->v + 3 * m->f[3 * t + 2];
        vol += (a[0] * (b[1] * d[2] - b[2] * d[1]) - a[1] * (b[0] * d[2] - b[2] * d[0]) +
                a[2] * (b[0] * d[1] - b[1] * d[0])) / 6.0;
    }
    qsort(got, 12, sizeof(int), cmp_int);
    qsort(want, 12, sizeof(int), cmp_int);
    CHECK_MSG(memcmp(got, want, sizeof got) == 0, "%s: triangles differ from the cube's", label);
    CHECK_MSG(fabs(vol - 1.0) < 1e-12, "%s: volume %g", label, vol);
    CHECK_MSG(r->boundary_edges == 0 && r->non_manifold_edges == 0 && r->duplicate_vertices == 0 &&
              r->dropped_faces == 0 && r->degenerate_faces == 0,
              "%s: report b%ld nm%ld dup%ld drop%ld deg%ld", label, r->boundary_edges,
              r->non_manifold_edges, r->duplicate_vertices, r->dropped_faces, r->degenerate_faces);
}

static int is_digit_start(const char *p, size_t n) {
    while (n && (*p == ' ' || *p == '\n')) p++, n--;
    return n && *p >= '0' && *p <= '9';
}

static void load_cube(const char *name, const void *data, size_t len, long triangulated) {
    const char *path = test_tmp(name);
    test_write_file(path, data, len);
    gnf_mesh m;
    gnf_mesh_report r;
    gnf_status s = gnf_mesh_load(path, &m, &r);
    CHECK_MSG(s == GNF_OK, "%s: %s", name, gnf_last_error());
    if (s != GNF_OK) return;
    check_cube(name, &m, &r);
    CHECK_MSG(r.polygons_triangulated == triangulated, "%s: %ld polygons triangulated", name,
              r.polygons_triangulated);
    /* From memory (an exact-size copy, so ASan sees any overread): the same mesh and report. */
    void *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    gnf_mesh mm;
    gnf_mesh_report mr;
    CHECK_MSG(gnf_mesh_load_from_memory(copy, len, name, &mm, &mr) == GNF_OK, "%s: %s", name, gnf_last_error());
    CHECK_MSG(mm.nv == m.nv && mm.nf == m.nf && !memcmp(mm.v, m.v, 12 * (size_t)m.nv) &&
                  !memcmp(mm.f, m.f, 12 * (size_t)m.nf) && !memcmp(&mr, &r, sizeof r),
              "%s: from memory differs from the file", name);
    gnf_mesh_free(&mm);
    /* A name without an extension: the format is sniffed (OFF needs its keyword for that). */
    if (!is_digit_start(copy, len)) {
        CHECK_MSG(gnf_mesh_load_from_memory(copy, len, "<memory>", &mm, &mr) == GNF_OK, "%s sniffed: %s", name,
                  gnf_last_error());
        CHECK_MSG(mm.nv == m.nv && mm.nf == m.nf && !memcmp(mm.f, m.f, 12 * (size_t)m.nf), "%s: sniffed differs", name);
        gnf_mesh_free(&mm);
    }
    free(copy);
    gnf_mesh_free(&m);
    CHECK(m.v == NULL && m.f == NULL && m.nv == 0 && m.nf == 0);
}

/* Loads data (from an exact-size copy in memory when mem, else saved as a file) and expects status
 * want, a zeroed mesh and report, and a message that names the input and contains `needle` (if not
 * NULL). */
static void expect_fail_in(int line, int mem, const char *name, const void *data, size_t len,
                           gnf_status want, const char *needle) {
    const char *path = test_tmp(name);
    void *copy = mem ? malloc(len ? len : 1) : NULL;
    if (mem) memcpy(copy, data, len);
    else test_write_file(path, data, len);
    gnf_mesh m;
    gnf_mesh_report r;
    memset(&m, 0x5a, sizeof m);
    memset(&r, 0x5a, sizeof r);
    gnf_status s = mem ? gnf_mesh_load_from_memory(copy, len, path, &m, &r) : gnf_mesh_load(path, &m, &r);
    free(copy);
    const char *msg = gnf_last_error();
    if (s != want) test_fail(__FILE__, line, "%s: status %d, want %d (%s)", name, s, want, msg);
    if (!strstr(msg, path)) test_fail(__FILE__, line, "%s: message lacks the path: %s", name, msg);
    if (needle && !strstr(msg, needle))
        test_fail(__FILE__, line, "%s: message lacks '%s': %s", name, needle, msg);
    if (m.v || m.f || m.nv || m.nf) test_fail(__FILE__, line, "%s: mesh not zeroed", name);
    if (r.dropped_faces || r.boundary_edges)
        test_fail(__FILE__, line, "%s: report not zeroed", name);
    if (s == GNF_OK) gnf_mesh_free(&m);
}
/* Both ways: from memory and from the file. */
static void expect_fail_at(int line, const char *name, const void *data, size_t len, gnf_status want,
                           const char *needle) {
    expect_fail_in(line, 1, name, data, len, want, needle);
    expect_fail_in(line, 0, name, data, len, want, needle);
}
#define EXPECT_FAIL(name, text, want, needle) \
    expect_fail_at(__LINE__, name, text, strlen(text), want, needle)

/* ---- formats ------------------------------------------------------------------------------- */

TEST(mesh_obj_cube) {
    /* Quads with negative (relative) indices after each face's vertices, mixed corner forms,
     * w and colour after x y z, and the lines a reader must ignore. */
    const char *obj =
        "# a cube\nmtllib cube.mtl\no cube\ng side\n"
        "v 0 0 0\nv 1 0 0 1.0\nv 1 1 0\nv 0 1 0 0.5 0.5 0.5\n"
        "v 0.0 0.0 1e0\r\nv 1 0 1\nv +1 1. 1\nv 0 1 .1e1\n"
        "vt 0 0\nvt 1 0\nvn 0 0 1\ns off\nusemtl red\n"
        "f -8 -5 -6 -7\n"            /* 0 3 2 1 */
        "f 5/1 6/2 7/1 8/2\n"        /* 4 5 6 7 */
        "f 1//1 2//1 6//1 5//1\n"    /* 0 1 5 4 */
        "f 3/1/1 4/2/1 8/1/1 7/2/1\n" /* 2 3 7 6 */
        "\tf  1 5 8 4  \n"           /* 0 4 7 3 */
        "l 1 2\n"
        "f 2 3 7 -3\n";              /* 1 2 6 5 */
    load_cube("cube.obj", obj, strlen(obj), 6);
    /* The same with upper-case extension and no final newline. */
    char tri[2048];
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        n += (size_t)snprintf(tri + n, sizeof tri - n, "v %g %g %g\n", (double)k_cube_v[i][0],
                              (double)k_cube_v[i][1], (double)k_cube_v[i][2]);
    for (int t = 0; t < 12; t++) {
        int c[3];
        cube_tri(t, c);
        n += (size_t)snprintf(tri + n, sizeof tri - n, "f %d %d %d%s", c[0] + 1, c[1] + 1,
                              c[2] + 1, t < 11 ? "\n" : "");
    }
    load_cube("cube_tri.OBJ", tri, n, 0);
}

TEST(mesh_ply_ascii_cube) {
    char ply[4096];
    size_t n = (size_t)snprintf(ply, sizeof ply,
                                "ply\r\nformat ascii 1.0\r\ncomment int coordinates\r\n"
                                "element vertex 8\r\nproperty int x\r\nproperty uchar y\r\n"
                                "property short z\r\nproperty float nx\r\n"
                                "element face 12\r\nproperty list uchar uint vertex_index\r\n"
                                "end_header\r\n");
    n = cube_lines(ply, n, sizeof ply, " -0.5e-1\r\n", "\r\n");
    load_cube("cube_ascii.ply", ply, n, 0);
}

/* Binary PLY cube: double x y z with a float property between y and z and a list after z, an
 * extra element (with a list) between vertex and face, quads with a leading int property. */
static void make_binary_ply(bytes *b, int big) {
    b->n = 0;
    put_str(b, "ply\n");
    put_str(b, big ? "format binary_big_endian 1.0\n" : "format binary_little_endian 1.0\n");
    put_str(b, "comment extra property and element\nobj_info test\n"
               "element vertex 8\nproperty double x\nproperty float64 y\nproperty float conf\n"
               "property double z\nproperty list uchar short junk\n"
               "element material 2\nproperty uchar a\nproperty list ushort int16 b\n"
               "element face 6\nproperty int flags\nproperty list ushort uint vertex_indices\n"
               "end_header\n");
    for (int i = 0; i < 8; i++) {
        double x = k_cube_v[i][0], y = k_cube_v[i][1], z = k_cube_v[i][2];
        float conf = 0.25f;
        unsigned char nj = (unsigned char)(i % 3);
        put_num(b, &x, 8, big);
        put_num(b, &y, 8, big);
        put_num(b, &conf, 4, big);
        put_num(b, &z, 8, big);
        put(b, &nj, 1);
        for (int k = 0; k < nj; k++) {
            int16_t j = (int16_t)-k;
            put_num(b, &j, 2, big);
        }
    }
    for (int i = 0; i < 2; i++) {
        unsigned char a = 7;
        uint16_t cnt = 2;
        int16_t v[2] = {1, -1};
        put(b, &a, 1);
        put_num(b, &cnt, 2, big);
        put_num(b, &v[0], 2, big);
        put_num(b, &v[1], 2, big);
    }
    for (int q = 0; q < 6; q++) {
        int32_t flags = -q;
        uint16_t cnt = 4;
        put_num(b, &flags, 4, big);
        put_num(b, &cnt, 2, big);
        for (int k = 0; k < 4; k++) {
            uint32_t idx = (uint32_t)k_cube_q[q][k];
            put_num(b, &idx, 4, big);
        }
    }
}

TEST(mesh_ply_binary_cube) {
    static bytes b;
    make_binary_ply(&b, 0);
    load_cube("cube_le.ply", b.d, b.n, 6);
    make_binary_ply(&b, 1);
    load_cube("cube_be.ply", b.d, b.n, 6);
}

TEST(mesh_stl_cube) {
    char stl[8192];
    size_t n = (size_t)snprintf(stl, sizeof stl, "solid cube\n");
    for (int t = 0; t < 12; t++) {
        int c[3];
        cube_tri(t, c);
        n += (size_t)snprintf(stl + n, sizeof stl - n,
                              "  facet normal 0 0 0\n    outer loop\n"
                              "      vertex %g %g %g\n      vertex %g %g %g\n"
                              "      vertex %g %g %g\n    endloop\n  endfacet\n",
                              (double)k_cube_v[c[0]][0], (double)k_cube_v[c[0]][1],
                              (double)k_cube_v[c[0]][2], (double)k_cube_v[c[1]][0],
                              (double)k_cube_v[c[1]][1], (double)k_cube_v[c[1]][2],
                              (double)k_cube_v[c[2]][0], (double)k_cube_v[c[2]][1],
                              (double)k_cube_v[c[2]][2]);
    }
    n += (size_t)snprintf(stl + n, sizeof stl - n, "endsolid cube\n");
    load_cube("cube_ascii.stl", stl, n, 0);

    /* Binary, with a header that starts with "solid" as some exporters write. */
    static bytes b;
    b.n = 0;
    char head[80] = "solid cube (binary really)";
    put(&b, head, 80);
    uint32_t nt = 12;
    put_num(&b, &nt, 4, 0);
    for (int t = 0; t < 12; t++) {
        int c[3];
        cube_tri(t, c);
        float nrm[3] = {0, 0, 0};
        for (int k = 0; k < 3; k++) put_num(&b, &nrm[k], 4, 0);
        for (int k = 0; k < 3; k++)
            for (int d = 0; d < 3; d++) {
                /* -0 must weld with +0 */
                float x = k_cube_v[c[k]][d] == 0 && t % 2 ? -0.0f : k_cube_v[c[k]][d];
                put_num(&b, &x, 4, 0);
            }
        uint16_t attr = 0;
        put_num(&b, &attr, 2, 0);
    }
    load_cube("cube_binary.stl", b.d, b.n, 0);

    /* The lying count: the same data claiming 1000 triangles. */
    b.d[80] = 1000 & 255, b.d[81] = 1000 >> 8, b.d[82] = 0, b.d[83] = 0;
    expect_fail_at(__LINE__, "lying.stl", b.d, b.n, GNF_ERR_FORMAT, "1000 triangles");
    memset(b.d, 0, 80); /* no "solid": straight to the binary size check */
    expect_fail_at(__LINE__, "lying2.stl", b.d, b.n, GNF_ERR_FORMAT, "truncated");
    for (size_t len = 1; len < b.n; len += 37)
        expect_fail_at(__LINE__, "cut.stl", b.d, len, GNF_ERR_FORMAT, NULL);
}

TEST(mesh_off_cube) {
    char off[4096];
    size_t n = (size_t)snprintf(off, sizeof off, "OFF\n# a cube\n\n8 6 0\n");
    for (int i = 0; i < 8; i++)
        n += (size_t)snprintf(off + n, sizeof off - n, "%g %g %g  # corner %d\n",
                              (double)k_cube_v[i][0], (double)k_cube_v[i][1],
                              (double)k_cube_v[i][2], i);
    for (int q = 0; q < 6; q++)
        n += (size_t)snprintf(off + n, sizeof off - n, "4 %d %d %d %d\n", k_cube_q[q][0],
                              k_cube_q[q][1], k_cube_q[q][2], k_cube_q[q][3]);
    load_cube("cube.off", off, n, 6);

    /* COFF with colours per vertex and per face, counts on the keyword line. */
    n = (size_t)snprintf(off, sizeof off, "COFF 8 12 18\n");
    n = cube_lines(off, n, sizeof off, " 255 0 0 255\n", " 0.5 0.5 0.5\n");
    load_cube("cube_c.off", off, n, 0);

    /* NOFF: normals after each vertex. */
    n = (size_t)snprintf(off, sizeof off, "NOFF\n8 12 0\n");
    n = cube_lines(off, n, sizeof off, " 0 0 1\n", "\n");
    load_cube("cube_n.off", off, n, 0);
}

/* ---- round trips --------------------------------------------------------------------------- */

static void round_trip(const char *name) {
    static const float vals[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.1f, 1.0f / 3.0f, 123456.789f,
                                 -3.40282347e38f, 1.17549435e-38f, 1e-45f, 6.02e23f, 1e-30f,
                                 0.30000001f, 16777217.0f, 2.5e-7f};
    const long nv = 200, nf = 300;
    gnf_mesh m = {gnf_calloc(3 * nv, sizeof(float)), gnf_calloc(3 * nf, sizeof(int32_t)), nv, nf, NULL};
    gnf_rng r;
    gnf_rng_seed(&r, 7, 1);
    for (long i = 0; i < 3 * nv; i++) {
        if (i < (long)(sizeof vals / sizeof *vals)) m.v[i] = vals[i];
        else {
            uint32_t u = (uint32_t)gnf_rng_u64(&r);
            float f;
            memcpy(&f, &u, 4);
            m.v[i] = isfinite(f) ? f : gnf_rng_uniform(&r) * 2 - 1;
        }
    }
    for (long t = 0; t < nf; t++) {
        int32_t a = (int32_t)gnf_rng_below(&r, (uint32_t)nv), b, c;
        do b = (int32_t)gnf_rng_below(&r, (uint32_t)nv);
        while (b == a);
        do c = (int32_t)gnf_rng_below(&r, (uint32_t)nv);
        while (c == a || c == b);
        m.f[3 * t] = a, m.f[3 * t + 1] = b, m.f[3 * t + 2] = c;
    }
    const char *path = test_tmp(name);
    CHECK_MSG(gnf_mesh_save(path, &m) == GNF_OK, "%s", gnf_last_error());
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    gnf_mesh back;
    CHECK_MSG(gnf_mesh_load(path, &back, NULL) == GNF_OK, "%s", gnf_last_error());
    CHECK_EQ_INT(back.nv, nv);
    CHECK_EQ_INT(back.nf, nf);
    if (back.nv == nv && back.nf == nf) {
        CHECK_MSG(memcmp(back.v, m.v, 3 * sizeof(float) * (size_t)nv) == 0,
                  "%s: vertices differ", name);
        CHECK_MSG(memcmp(back.f, m.f, 3 * sizeof(int32_t) * (size_t)nf) == 0, "%s: faces differ",
                  name);
    }
    gnf_mesh_free(&back);
    gnf_mesh_free(&m);
}

TEST(mesh_round_trip) {
    round_trip("rt.ply");
    round_trip("rt.obj");
    round_trip("rt.ply"); /* over an existing file */
}

TEST(mesh_save_errors) {
    float v[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0};
    int32_t f[3] = {0, 1, 2};
    gnf_mesh m = {v, f, 3, 1, NULL};
    const char *path = test_tmp("x.stl");
    CHECK(gnf_mesh_save(path, &m) == GNF_ERR_UNSUPPORTED);
    CHECK(strstr(gnf_last_error(), path) != NULL);
    CHECK(gnf_mesh_save((path = test_tmp("nodir/x.ply")), &m) == GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), path) != NULL);
    /* The target is a directory: the temporary file is written, the rename fails, and the
     * temporary file must be gone. */
    path = test_tmp("adir.obj");
    CHECK(mkdir(path, 0755) == 0);
    CHECK(gnf_mesh_save(path, &m) == GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), path) != NULL);
    CHECK_EQ_INT(test_count_files(test_tmp_dir(), ".tmp"), 0);
    f[2] = 3;
    CHECK(gnf_mesh_save((path = test_tmp("bad.ply")), &m) == GNF_ERR_INVALID);
    f[2] = 2;
    v[4] = NAN;
    CHECK(gnf_mesh_save((path = test_tmp("bad.obj")), &m) == GNF_ERR_INVALID);
    CHECK_EQ_INT(test_count_files(test_tmp_dir(), ".tmp"), 0);
}

/* ---- reports ------------------------------------------------------------------------------- */

static void load_text(const char *name, const char *text, gnf_mesh *m, gnf_mesh_report *r) {
    const char *path = test_tmp(name);
    test_write_file(path, text, strlen(text));
    CHECK_MSG(gnf_mesh_load(path, m, r) == GNF_OK, "%s: %s", name, gnf_last_error());
}

TEST(mesh_report_counts) {
    gnf_mesh m;
    gnf_mesh_report r;
    /* The cube with one triangle missing: a hole of 3 boundary edges. */
    char obj[2048];
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        n += (size_t)snprintf(obj + n, sizeof obj - n, "v %g %g %g\n", (double)k_cube_v[i][0],
                              (double)k_cube_v[i][1], (double)k_cube_v[i][2]);
    for (int t = 1; t < 12; t++) {
        int c[3];
        cube_tri(t, c);
        n += (size_t)snprintf(obj + n, sizeof obj - n, "f %d %d %d\n", c[0] + 1, c[1] + 1,
                              c[2] + 1);
    }
    load_text("hole.obj", obj, &m, &r);
    CHECK_EQ_INT(m.nf, 11);
    CHECK_EQ_INT(r.boundary_edges, 3);
    CHECK_EQ_INT(r.non_manifold_edges, 0);
    gnf_mesh_free(&m);

    /* Three triangles on the edge 1-2: one non-manifold edge, 6 boundary edges. */
    load_text("fin.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 -1 0\nv 0 0 1\n"
                         "f 1 2 3\nf 2 1 4\nf 1 2 5\n", &m, &r);
    CHECK_EQ_INT(r.non_manifold_edges, 1);
    CHECK_EQ_INT(r.boundary_edges, 6);
    CHECK_EQ_INT(r.duplicate_vertices, 0);
    gnf_mesh_free(&m);

    /* Duplicate vertices, a zero-area triangle (kept), a triangle with a repeated index and a
     * two-corner face (both dropped), and a pentagon fanned into 3 triangles. */
    load_text("mixed.obj",
              "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 0 0\nv 0 0 0\nv 2 0 0\nv 1 1 0\nv -0 0 0\n"
              "f 1 2 3\n"      /* kept */
              "f 1 2 6\n"      /* collinear: degenerate, kept */
              "f 1 1 3\n"      /* repeated index: dropped */
              "f 1 2\n"        /* two corners: dropped */
              "f 1 2 7 3 5\n", /* pentagon: 3 triangles */
              &m, &r);
    CHECK_EQ_INT(m.nv, 8);
    CHECK_EQ_INT(m.nf, 5);
    CHECK_EQ_INT(r.duplicate_vertices, 3); /* v4 = v2, v5 = v1, v8 = -0 = v1 */
    CHECK_EQ_INT(r.degenerate_faces, 2);   /* 1 2 6, and the fan's 1 3 5 (5 is at 1) */
    CHECK_EQ_INT(r.dropped_faces, 2);
    CHECK_EQ_INT(r.polygons_triangulated, 1);
    gnf_mesh_free(&m);

    /* gnf_mesh_analyse on a mesh built in memory with 100k+ faces (a grid). */
    const int g = 230; /* 230x230 quads = 105800 triangles */
    gnf_mesh big = {gnf_calloc((size_t)(g + 1) * (g + 1) * 3, sizeof(float)),
                    gnf_calloc((size_t)g * g * 6, sizeof(int32_t)), (long)(g + 1) * (g + 1),
                    (long)g * g * 2, NULL};
    for (int y = 0; y <= g; y++)
        for (int x = 0; x <= g; x++) {
            float *p = big.v + 3 * ((size_t)y * (g + 1) + x);
            p[0] = (float)x, p[1] = (float)y, p[2] = 0;
        }
    for (int y = 0; y < g; y++)
        for (int x = 0; x < g; x++) {
            int32_t a = y * (g + 1) + x, b = a + 1, c = a + g + 2, d = a + g + 1;
            int32_t *t = big.f + 6 * ((size_t)y * g + x);
            t[0] = a, t[1] = b, t[2] = c, t[3] = a, t[4] = c, t[5] = d;
        }
    gnf_mesh_report br;
    memset(&br, 0, sizeof br);
    gnf_mesh_analyse(&big, &br);
    CHECK_EQ_INT(br.boundary_edges, 4 * g);
    CHECK_EQ_INT(br.non_manifold_edges, 0);
    CHECK_EQ_INT(br.duplicate_vertices, 0);
    /* Copy 1000 distinct positions over others spread across the grid (targets 3 + 47 i <
     * 47000 <= sources), and put vertex 4 at (-0, -0, -0), equal to vertex 0: 1001 duplicates. */
    for (int i = 0; i < 1000; i++) {
        size_t dst = (size_t)i * 47 + 3, src = (size_t)i * 6 + 47000;
        memcpy(big.v + 3 * dst, big.v + 3 * src, 3 * sizeof(float));
    }
    big.v[12] = big.v[13] = big.v[14] = -0.0f;
    gnf_mesh_analyse(&big, &br);
    CHECK_EQ_INT(br.duplicate_vertices, 1001);
    gnf_mesh_free(&big);
}

/* Arrays in, a checked mesh and report out, like a loaded file. */
TEST(mesh_from_arrays) {
    int32_t f[13 * 3];
    for (int t = 0; t < 12; t++) cube_tri(t, f + 3 * t);
    f[36] = 1, f[37] = 1, f[38] = 2; /* repeats an index: dropped */
    gnf_mesh m;
    gnf_mesh_report r;
    CHECK_EQ_INT(gnf_mesh_from_arrays(&k_cube_v[0][0], 8, f, 13, "arrays", &m, &r), GNF_OK);
    CHECK_EQ_INT(r.dropped_faces, 1);
    r.dropped_faces = 0;
    check_cube("arrays", &m, &r);
    gnf_mesh_free(&m);
    f[5] = 8;
    CHECK_EQ_INT(gnf_mesh_from_arrays(&k_cube_v[0][0], 8, f, 12, "arrays", &m, &r), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "arrays: cannot use: face 1") && !m.v && !r.dropped_faces);
    float v[9] = {0, 0, 0, 1, 0, 0, 0, NAN, 0};
    int32_t tri[3] = {0, 1, 2};
    CHECK_EQ_INT(gnf_mesh_from_arrays(v, 3, tri, 1, "nan", &m, &r), GNF_ERR_INVALID);
    CHECK_EQ_INT(gnf_mesh_from_arrays(v, -1, tri, 1, "neg", &m, &r), GNF_ERR_INVALID);
    CHECK_EQ_INT(gnf_mesh_from_arrays(&k_cube_v[0][0], 3, tri, 0, "none", &m, &r), GNF_ERR_FORMAT);
}

/* ---- hostile input ------------------------------------------------------------------------- */

TEST(mesh_malformed_obj) {
    EXPECT_FAIL("empty.obj", "", GNF_ERR_FORMAT, "empty");
    EXPECT_FAIL("mesh.xyz", "v 0 0 0\n", GNF_ERR_UNSUPPORTED, NULL);
    /* Files go by extension; in memory a name without one has the format sniffed. */
    expect_fail_in(__LINE__, 0, "noext", "v 0 0 0\n", 8, GNF_ERR_UNSUPPORTED, NULL);
    expect_fail_in(__LINE__, 1, "noext", "v 0 0 0\n", 8, GNF_ERR_FORMAT, "no faces");
    EXPECT_FAIL("zero.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", GNF_ERR_FORMAT, ":4:");
    EXPECT_FAIL("past.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n# x\nf 1 2 4\n", GNF_ERR_FORMAT, ":5:");
    EXPECT_FAIL("pastneg.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n", GNF_ERR_FORMAT, ":4:");
    EXPECT_FAIL("later.obj", "f 1 2 3\nv 0 0 0\nv 1 0 0\nv 0 1 0\n", GNF_ERR_FORMAT, ":1:");
    EXPECT_FAIL("huge.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999999999999999999\n",
                GNF_ERR_FORMAT, ":4:");
    EXPECT_FAIL("garbage.obj", "v 0 0 0\nv 1 zero 0\nv 0 1 0\nf 1 2 3\n", GNF_ERR_FORMAT, ":2:");
    EXPECT_FAIL("trail.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0x\nf 1 2 3\n", GNF_ERR_FORMAT, ":3:");
    EXPECT_FAIL("short.obj", "v 0 0 0\nv 1 0\nv 0 1 0\nf 1 2 3\n", GNF_ERR_FORMAT, ":2:");
    EXPECT_FAIL("nan.obj", "v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", GNF_ERR_FORMAT,
                "non-finite");
    EXPECT_FAIL("inf.obj", "v 0 0 0\nv 1 0 0\nv 0 -inf 0\nf 1 2 3\n", GNF_ERR_FORMAT,
                "non-finite");
    EXPECT_FAIL("overflow.obj", "v 0 0 0\nv 1 0 0\nv 0 1e39 0\nf 1 2 3\n", GNF_ERR_FORMAT,
                "non-finite");
    EXPECT_FAIL("badface.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x3\n", GNF_ERR_FORMAT, ":4:");
    EXPECT_FAIL("nofaces.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", GNF_ERR_FORMAT, "no faces");
    EXPECT_FAIL("alldropped.obj", "v 0 0 0\nv 1 0 0\nf 1 2 2\n", GNF_ERR_FORMAT, "no faces");
    const char bin[] = "v 0 0 0\nv 1 \0 0\n";
    expect_fail_at(__LINE__, "nul.obj", bin, sizeof bin - 1, GNF_ERR_FORMAT, ":2:");

    gnf_mesh m;
    const char *path = test_tmp("missing.obj");
    CHECK(gnf_mesh_load(path, &m, NULL) == GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), path) != NULL);
    path = test_tmp("dir.obj");
    CHECK(mkdir(path, 0755) == 0);
    CHECK(gnf_mesh_load(path, &m, NULL) == GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), path) != NULL);
    CHECK(m.v == NULL && m.nv == 0);
}

TEST(mesh_malformed_ply) {
    EXPECT_FAIL("huge.ply",
                "ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\n"
                "property float x\nproperty float y\nproperty float z\nelement face 1\n"
                "property list uchar int vertex_indices\nend_header\n0123456789abcdef",
                GNF_ERR_FORMAT, "1000000000000");
    EXPECT_FAIL("hugea.ply",
                "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                "property float z\nelement face 1000000000000\n"
                "property list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n"
                "3 0 1 2\n", GNF_ERR_FORMAT, "truncated");
    EXPECT_FAIL("hugelist.ply",
                "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                "property float z\nelement face 1\nproperty list uint int vertex_indices\n"
                "end_header\n0 0 0\n1 0 0\n0 1 0\n4000000000 0 1 2\n", GNF_ERR_FORMAT,
                "truncated");
    EXPECT_FAIL("range.ply",
                "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                "end_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", GNF_ERR_FORMAT, ":13:");
    EXPECT_FAIL("noxyz.ply",
                "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                "element face 1\nproperty list uchar int vertex_indices\n"
                "end_header\n0 0\n1 0\n0 1\n3 0 1 2\n", GNF_ERR_FORMAT, NULL);
    EXPECT_FAIL("fmt.ply", "ply\nformat binary_middle_endian 1.0\nend_header\n",
                GNF_ERR_UNSUPPORTED, NULL);
    EXPECT_FAIL("notply.ply", "plx\n", GNF_ERR_FORMAT, NULL);
    EXPECT_FAIL("badtype.ply", "ply\nformat ascii 1.0\nelement vertex 1\nproperty quad x\n"
                "end_header\n", GNF_ERR_FORMAT, ":4:");
    EXPECT_FAIL("noface.ply",
                "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n", GNF_ERR_FORMAT, "no faces");
    EXPECT_FAIL("nanply.ply",
                "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                "end_header\n0 0 0\n1 NaN 0\n0 1 0\n3 0 1 2\n", GNF_ERR_FORMAT, "non-finite");

    /* A binary file cut at every length must fail cleanly, with "truncated" once it is past
     * the magic line. */
    static bytes b;
    make_binary_ply(&b, 0);
    const char *path = "cut.ply";
    int bad = 0;
    for (size_t len = 0; len < b.n; len++) {
        unsigned char *cut = malloc(len ? len : 1); /* exact size: ASan catches any overread */
        memcpy(cut, b.d, len);
        gnf_mesh m;
        gnf_status s = gnf_mesh_load_from_memory(cut, len, path, &m, NULL);
        free(cut);
        const char *msg = gnf_last_error();
        if (s != GNF_ERR_FORMAT || !strstr(msg, path) || (len >= 4 && !strstr(msg, "truncated")) ||
            m.v || m.nv) {
            if (bad++ < 5) test_fail(__FILE__, __LINE__, "cut at %zu: status %d: %s", len, s, msg);
            if (s == GNF_OK) gnf_mesh_free(&m);
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* Binary index out of range names the element. */
    make_binary_ply(&b, 1);
    b.d[b.n - 1] = 9; /* last index of the last face, big-endian low byte */
    expect_fail_at(__LINE__, "range_be.ply", b.d, b.n, GNF_ERR_FORMAT, "face 5");
}

TEST(mesh_malformed_off_stl) {
    EXPECT_FAIL("few.off", "OFF\n4 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n", GNF_ERR_FORMAT,
                "truncated");
    EXPECT_FAIL("fewidx.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n4 0 1 2\n", GNF_ERR_FORMAT, ":6:");
    EXPECT_FAIL("fewcoord.off", "OFF\n3 1 0\n0 0 0\n1 0\n0 1 0\n3 0 1 2\n", GNF_ERR_FORMAT,
                ":4:");
    EXPECT_FAIL("range.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", GNF_ERR_FORMAT, ":6:");
    EXPECT_FAIL("hugecount.off", "OFF\n1000000000000 1 0\n0 0 0\n", GNF_ERR_FORMAT, "truncated");
    EXPECT_FAIL("nocount.off", "OFF\n# only a comment\n", GNF_ERR_FORMAT, NULL);
    EXPECT_FAIL("notoff.off", "PLY\n3 1 0\n", GNF_ERR_FORMAT, NULL);
    EXPECT_FAIL("4off.off", "4OFF\n3 1 0\n", GNF_ERR_UNSUPPORTED, NULL);
    EXPECT_FAIL("noend.stl", "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n",
                GNF_ERR_FORMAT, "truncated");
    EXPECT_FAIL("badkw.stl", "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n"
                "vertx 1 0 0\n", GNF_ERR_FORMAT, ":5:");
    EXPECT_FAIL("empty.stl", "solid x\nendsolid x\n", GNF_ERR_FORMAT, "no faces");
    EXPECT_FAIL("tiny.stl", "hello", GNF_ERR_FORMAT, NULL);
}

/* ---- real data ----------------------------------------------------------------------------- */

static void load_data_mesh(const char *name, long nv, long nf, int closed) {
    const char *dir = test_data_dir();
    char path[4096];
    snprintf(path, sizeof path, "%s/meshes/%s", dir, name);
    gnf_mesh m;
    gnf_mesh_report r;
    double t0 = gnf_now();
    gnf_status s = gnf_mesh_load(path, &m, &r);
    double dt = gnf_now() - t0;
    CHECK_MSG(s == GNF_OK, "%s", gnf_last_error());
    if (s != GNF_OK) return;
    CHECK_EQ_INT(m.nv, nv);
    CHECK_EQ_INT(m.nf, nf);
    if (closed) CHECK_EQ_INT(r.boundary_edges, 0);
    printf("      %s: %ld vertices, %ld faces, %ld boundary, %ld non-manifold edges, %ld "
           "duplicates, %ld degenerate, %ld dropped, %.1f ms\n",
           name, m.nv, m.nf, r.boundary_edges, r.non_manifold_edges, r.duplicate_vertices,
           r.degenerate_faces, r.dropped_faces, 1e3 * dt);
    gnf_mesh_free(&m);
}

TEST(mesh_data_files) {
    if (!test_data_dir()) SKIP("no ../shared/data");
    load_data_mesh("armadillo.obj", 49990, 99976, 1);
    load_data_mesh("spot.obj", 11533, 23062, 0);
    load_data_mesh("bunny.obj", 29834, 59664, 0);
}
