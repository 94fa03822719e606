/* mesh_off.c — Object File Format (OFF, with the ST/C/N prefixes). */
#include "io/mesh_io.h"
#include <string.h>

/* "[ST][C][N]OFF", counts "nv nf ne", then one vertex per line (x y z and ignored extras such as
 * normals or colours) and one face per line ("n i0 .. i(n-1)" and an ignored colour); '#'
 * starts a comment.  The keyword may be missing (a file that starts with the counts). */
gnf_status gnf_mesh_parse_off(gnf_mesh_builder *b, const char *buf, size_t size) {
    gnf_text t = {b->path, buf, buf + size, 1};
    char tok[32];
    gnf_text_space(&t, 1);
    const char *w;
    size_t n = gnf_text_word(&t, &w);
    if (n >= 3 && gnf_word_is(w + n - 3, 3, "off")) {
        size_t k = 0;
        /* Prefix letters are upper case: "nOFF" (n-dimensional) is another format than NOFF. */
        if (n - 3 >= 2 && w[0] == 'S' && w[1] == 'T') k = 2;
        if (k < n - 3 && w[k] == 'C') k++;
        if (k < n - 3 && w[k] == 'N') k++;
        if (k != n - 3) {
            if (memchr(w, '4', n - 3) || memchr(w, 'n', n - 3))
                return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: '%s' (4D or n-dimensional OFF) is not "
                                "supported", b->path, gnf_show(tok, w, t.end));
            return gnf_fail(GNF_ERR_FORMAT, "%s: not an OFF file (starts with '%s')", b->path,
                            gnf_show(tok, w, t.end));
        }
        t.p = w + n;
    } else if (!(n > 0 && is_digit(w[0])))
        return gnf_fail(GNF_ERR_FORMAT, "%s: not an OFF file (starts with '%s')", b->path,
                        n ? gnf_show(tok, w, t.end) : "nothing");
    long long nv, nf;
    gnf_text_space(&t, 1);
    gnf_status s = gnf_text_long(&t, &nv, "the vertex count");
    if (s == GNF_OK) gnf_text_space(&t, 1);
    if (s == GNF_OK) s = gnf_text_long(&t, &nf, "the face count");
    if (s != GNF_OK) return s;
    gnf_text_next_line(&t); /* the edge count, unused */
    /* A vertex line needs >= 5 bytes ("0 0 0"), a face line >= 1, and lines are separated. */
    size_t left = (size_t)(t.end - t.p);
    if (nv < 0 || nf < 0 || (unsigned long long)nv > left / 5 ||
        (unsigned long long)nf > left - 5 * (size_t)nv)
        return gnf_fail(GNF_ERR_FORMAT, "%s: truncated or corrupt: the header claims %lld "
                        "vertices and %lld faces, more than the %zu bytes left can hold",
                        b->path, nv, nf, left);
    if ((s = gnf_mb_size(b, (size_t)nv, (size_t)nf)) != GNF_OK) return s;
    for (long long i = 0; i < nv && s == GNF_OK; i++) {
        gnf_text_space(&t, 1);
        float xyz[3];
        for (int k = 0; k < 3 && s == GNF_OK; k++) s = gnf_text_coord(&t, &xyz[k]);
        if (s == GNF_OK) s = gnf_mb_vertex(b, xyz);
        gnf_text_next_line(&t);
    }
    for (long long i = 0; i < nf && s == GNF_OK; i++) {
        gnf_text_space(&t, 1);
        long long cnt;
        s = gnf_text_long(&t, &cnt, "a face's vertex count");
        if (s == GNF_OK && cnt < 0)
            s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: negative vertex count %lld", b->path, t.line,
                         cnt);
        gnf_mb_begin(b);
        for (long long c = 0; c < cnt && s == GNF_OK; c++) {
            long long idx;
            s = gnf_text_long(&t, &idx, "a vertex index");
            if (s == GNF_OK && (idx < 0 || idx >= nv))
                s = gnf_fail(GNF_ERR_FORMAT, "%s:%ld: vertex index %lld out of range (%lld "
                             "vertices)", b->path, t.line, idx, nv);
            if (s == GNF_OK) s = gnf_mb_corner(b, (int32_t)idx);
        }
        if (s == GNF_OK) gnf_mb_end(b);
        gnf_text_next_line(&t);
    }
    return s;
}
