/* mesh_obj.c — Wavefront OBJ: "v x y z [...]" and "f a[/b[/c]] ..." lines; everything else (vt,
 * vn, g, o, s, usemtl, mtllib, l, comments) is ignored. */
#include "io/mesh_io.h"

/* "v x y z [...]" and "f a[/b[/c]] ..." lines; everything else (vt, vn, g, o, s, usemtl, mtllib,
 * l, comments) is ignored.  Indices are 1-based, or negative for "counting back from the last
 * vertex so far", and must refer to a vertex already defined. */
gnf_status gnf_mesh_parse_obj(gnf_mesh_builder *b, const char *buf, size_t size) {
    gnf_text t = {b->path, buf, buf + size, 1};
    gnf_status s = GNF_OK;
    while (s == GNF_OK && t.p < t.end) {
        gnf_text_blank(&t);
        const char *c = t.p;
        int tag_end = c + 1 >= t.end || is_space(c[1]);
        if (c < t.end && *c == 'v' && tag_end) {
            t.p++;
            float xyz[3];
            for (int k = 0; k < 3 && s == GNF_OK; k++) s = gnf_text_coord(&t, &xyz[k]);
            if (s == GNF_OK) s = gnf_mb_vertex(b, xyz); /* a w or r g b after x y z is ignored */
        } else if (c < t.end && *c == 'f' && tag_end) {
            t.p++;
            gnf_mb_begin(b);
            while (s == GNF_OK && !gnf_text_eol(&t)) {
                long long i;
                const char *q = gnf_scan_long(t.p, t.end, &i);
                if (q && q < t.end && *q == '/') /* texture/normal indices: checked as gnf_text only */
                    while (q < t.end && (is_digit(*q) || *q == '/' || *q == '-' || *q == '+')) q++;
                if (!q || (q < t.end && !is_space(*q))) {
                    s = gnf_text_expected(&t, "a face corner (v, v/t, v//n or v/t/n)");
                    break;
                }
                long long nv = (long long)b->nv;
                if (i == 0)
                    s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: vertex index 0 (OBJ indices start at 1)",
                                 b->path, t.line);
                else if (i > nv || i < -nv)
                    s = gnf_fail(GNF_ERR_FORMAT,
                                 "%s:%ld: vertex index %lld out of range (%lld vertices so far)",
                                 b->path, t.line, i, nv);
                else s = gnf_mb_corner(b, (int32_t)(i > 0 ? i - 1 : nv + i));
                t.p = q;
            }
            if (s == GNF_OK) gnf_mb_end(b);
        }
        gnf_text_next_line(&t);
    }
    return s;
}
