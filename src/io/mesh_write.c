/* mesh_write.c — saving meshes as binary little-endian PLY or OBJ (exact float round trip),
 * atomically (temp file + rename). */
#include "io/mesh_io.h"
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CHUNK (1u << 20)

typedef struct {
    FILE *f;
    unsigned char *buf;
    size_t n;
    int err;
} out_buf;

static void out_flush(out_buf *o) {
    if (o->n && !o->err && fwrite(o->buf, 1, o->n, o->f) != o->n) o->err = 1;
    o->n = 0;
}

/* Makes room for `need` more bytes (need <= OUT_CHUNK) and returns where they go. */
static unsigned char *out_room(out_buf *o, size_t need) {
    if (o->n + need > OUT_CHUNK) out_flush(o);
    return o->buf + o->n;
}

static void put_u32le(unsigned char *p, uint32_t x) {
    p[0] = (unsigned char)x, p[1] = (unsigned char)(x >> 8);
    p[2] = (unsigned char)(x >> 16), p[3] = (unsigned char)(x >> 24);
}

static void write_ply(out_buf *o, const gnf_mesh *m) {
    char head[640];
    int len = snprintf(head, sizeof head,
                       "ply\nformat binary_little_endian 1.0\ncomment written by gnf %s\n"
                       "element vertex %ld\nproperty float x\nproperty float y\nproperty float z\n%s"
                       "element face %ld\nproperty list uchar int vertex_indices\nend_header\n",
                       GNF_VERSION_STRING, m->nv,
                       m->rgb ? "property uchar red\nproperty uchar green\nproperty uchar blue\n" : "", m->nf);
    memcpy(out_room(o, (size_t)len), head, (size_t)len);
    o->n += (size_t)len;
    const size_t vb = m->rgb ? 15 : 12;
    for (long i = 0; i < m->nv && !o->err; i++) {
        unsigned char *p = out_room(o, vb);
        for (int k = 0; k < 3; k++) {
            uint32_t u;
            memcpy(&u, &m->v[3 * i + k], 4);
            put_u32le(p + 4 * k, u);
        }
        if (m->rgb) memcpy(p + 12, m->rgb + 3 * i, 3);
        o->n += vb;
    }
    for (long i = 0; i < m->nf && !o->err; i++) {
        unsigned char *p = out_room(o, 13);
        p[0] = 3;
        for (int k = 0; k < 3; k++) put_u32le(p + 1 + 4 * k, (uint32_t)m->f[3 * i + k]);
        o->n += 13;
    }
}

/* Writes v (>= 0) in decimal at p; returns the length. */
static int put_uint(char *p, uint32_t v) {
    char tmp[12];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10), v /= 10;
    while (v);
    for (int i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    return n;
}

/* Writes a decimal form of f with at most 9 significant digits that gnf_scan_double reads back as
 * exactly f, and returns its length (at most 16).  printf's %.9g is exact but slow (a 20M-
 * triangle OBJ spends most of its time there), so the digits come from double arithmetic and
 * are checked by parsing them back; the rare miss (a tie the scaling rounded the other way)
 * falls back to snprintf.  The output does not depend on the locale. */
static int put_float(char *out, float f) {
    if (f == 0.0f) {
        int n = 0;
        if (signbit(f)) out[n++] = '-';
        out[n++] = '0';
        out[n] = 0;
        return n;
    }
    double d = fabs((double)f);
    int e2;
    frexp(d, &e2); /* d in [2^(e2-1), 2^e2): the decimal exponent is this or one more */
    int e10 = (int)floor((e2 - 1) * 0.30102999566398120);
    /* m = d * 10^(8 - e10): 9 digits (10 if e10 came out low); powers up to 1e22 are exact. */
    double m = d;
    for (int s = 8 - e10; s != 0;) {
        int k = s > 22 ? 22 : s < -22 ? -22 : s;
        m = k > 0 ? m * gnf_pow10[k] : m / gnf_pow10[-k];
        s -= k;
    }
    if (m >= 999999999.5) m /= 10, e10++;
    uint64_t dig = (uint64_t)(m + 0.5);
    if (dig >= 1000000000u) dig = 100000000u, e10++; /* 9.999999996e.. rounds to 1e(..+1) */
    char dg[10];
    int nd = 9;
    for (int i = 8; i >= 0; i--) dg[i] = (char)('0' + dig % 10), dig /= 10;
    while (nd > 1 && dg[nd - 1] == '0') nd--;
    char *p = out;
    if (f < 0) *p++ = '-';
    if (e10 >= 0 && e10 < 9) { /* 123.45 or 1200 */
        for (int i = 0; i < GNF_MAX(nd, e10 + 1); i++) {
            if (i == e10 + 1) *p++ = '.';
            *p++ = i < nd ? dg[i] : '0';
        }
    } else if (e10 < 0 && e10 >= -5) { /* 0.00123 */
        *p++ = '0', *p++ = '.';
        for (int i = -1; i > e10; i--) *p++ = '0';
        for (int i = 0; i < nd; i++) *p++ = dg[i];
    } else { /* 1.5e-07, 3.4028235e+38 */
        *p++ = dg[0];
        if (nd > 1) *p++ = '.';
        for (int i = 1; i < nd; i++) *p++ = dg[i];
        *p++ = 'e', *p++ = e10 < 0 ? '-' : '+';
        int ae = e10 < 0 ? -e10 : e10;
        if (ae >= 10) *p++ = (char)('0' + ae / 10);
        *p++ = (char)('0' + ae % 10);
    }
    *p = 0;
    double back;
    const char *q = gnf_scan_double(out, p, &back);
    float fb = (float)back;
    if (q == p && memcmp(&fb, &f, sizeof f) == 0) return (int)(p - out);
    int len = snprintf(out, 24, "%.9g", (double)f);
    for (int k = 0; k < len; k++)
        if (out[k] == ',') out[k] = '.'; /* a caller's LC_NUMERIC must not change the file */
    return len;
}

static void write_obj(out_buf *o, const gnf_mesh *m) {
    char *p = (char *)out_room(o, 128);
    int len = snprintf(p, 128, "# gnf %s: %ld vertices, %ld triangles\n", GNF_VERSION_STRING,
                       m->nv, m->nf);
    o->n += (size_t)len;
    for (long i = 0; i < m->nv && !o->err; i++) {
        char *q = p = (char *)out_room(o, 112); /* 3 numbers of <= 16 bytes, "v  \n", 3 colours */
        *q++ = 'v';
        for (int k = 0; k < 3; k++) {
            *q++ = ' ';
            q += put_float(q, m->v[3 * i + k]);
        }
        /* colours: the common "v x y z r g b" extension, each in [0, 1] with 3 decimals */
        for (int k = 0; m->rgb && k < 3; k++) {
            unsigned c = ((unsigned)m->rgb[3 * i + k] * 1000u + 127u) / 255u;   /* rounded */
            q += snprintf(q, 8, " %u.%03u", c / 1000u, c % 1000u);
        }
        *q++ = '\n';
        o->n += (size_t)(q - p);
    }
    for (long i = 0; i < m->nf && !o->err; i++) {
        char *q = p = (char *)out_room(o, 40);
        *q++ = 'f';
        for (int k = 0; k < 3; k++) {
            *q++ = ' ';
            q += put_uint(q, (uint32_t)m->f[3 * i + k] + 1u);
        }
        *q++ = '\n';
        o->n += (size_t)(q - p);
    }
}

/* Writes m as binary little-endian PLY (.ply) or OBJ (.obj) to path; see mesh.h.  The data go
 * to "<path>.tmpXXXXXX" in the same folder, renamed over path only once complete, so path is
 * either the old file or the whole new one.  GNF_ERR_UNSUPPORTED for another extension,
 * GNF_ERR_INVALID for a malformed mesh (bad counts, index out of range, non-finite vertex),
 * GNF_ERR_IO if writing fails (the temporary file is then removed). */
gnf_status gnf_mesh_save(const char *path, const gnf_mesh *m) {
    assert(path && m);
    int fmt = gnf_mesh_format(path);
    if (fmt != GNF_MESH_PLY && fmt != GNF_MESH_OBJ)
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: cannot save a mesh with this extension "
                        "(expected .ply or .obj)", path);
    gnf_status s = gnf_mesh_check(m, path, "save");
    if (s != GNF_OK) return s;

    out_buf o = {NULL, malloc(OUT_CHUNK), 0, 0};
    if (!o.buf) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
    gnf_atomic_file af;
    s = gnf_atomic_open(&af, path);
    if (s != GNF_OK) {
        free(o.buf);
        return s;
    }
    o.f = af.f;
    if (fmt == GNF_MESH_PLY) write_ply(&o, m);
    else write_obj(&o, m);
    out_flush(&o);
    if (o.err) s = gnf_fail(GNF_ERR_IO, "%s: write failed (%s)", path, strerror(errno));
    s = gnf_atomic_commit(&af, s);
    free(o.buf);
    return s;
}
