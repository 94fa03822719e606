/* mesh_io.h — what the mesh format readers (mesh_obj.c, mesh_ply.c, mesh_stl.c, mesh_off.c)
 * share: a builder that collects vertices and fan-triangulated polygons, and the parsers that
 * mesh_read.c dispatches to.  Internal to libgnf. */
#ifndef GNF_IO_MESH_IO_H
#define GNF_IO_MESH_IO_H

#include "core/core.h"
#include "geom/mesh.h"
#include "io/text.h"

#define GNF_MESH_MAX 2147483647ull /* vertices and triangles: indices are int32 */

/* Vertices and triangles as they are read (gnf_calloc'd, so they become the gnf_mesh's arrays
 * without a copy), plus the polygon being fanned.  path names the input in messages. */
typedef struct {
    const char *path;
    float *v;
    int32_t *f;
    size_t nv, vcap, nf, fcap;
    gnf_mesh_report rep;
    int32_t first, prev; /* fan state of the current polygon */
    long long pn;        /* corners seen in the current polygon */
} gnf_mesh_builder;

/* Sizes the arrays for exactly nv vertices and nf triangles (counts a header gave, already
 * checked against the bytes left); GNF_ERR_NOMEM naming the input. */
gnf_status gnf_mb_size(gnf_mesh_builder *b, size_t nv, size_t nf);
gnf_status gnf_mb_vertex(gnf_mesh_builder *b, const float c[3]);
/* A triangle; one that repeats an index is counted in rep.dropped_faces instead. */
gnf_status gnf_mb_tri(gnf_mesh_builder *b, int32_t i0, int32_t i1, int32_t i2);
/* A polygon: begin, its corners (indices already range-checked) fanned as they come, end. */
static inline void gnf_mb_begin(gnf_mesh_builder *b) { b->pn = 0; }
gnf_status gnf_mb_corner(gnf_mesh_builder *b, int32_t idx);
static inline void gnf_mb_end(gnf_mesh_builder *b) {
    if (b->pn < 3) b->rep.dropped_faces++; /* a point or a segment */
    else if (b->pn > 3) b->rep.polygons_triangulated++;
}

/* Each parses buf[0..size) (no terminator needed) into b; errors name b->path. */
gnf_status gnf_mesh_parse_obj(gnf_mesh_builder *b, const char *buf, size_t size);
gnf_status gnf_mesh_parse_ply(gnf_mesh_builder *b, const char *buf, size_t size);
gnf_status gnf_mesh_parse_stl(gnf_mesh_builder *b, const char *buf, size_t size);
gnf_status gnf_mesh_parse_off(gnf_mesh_builder *b, const char *buf, size_t size);

enum { GNF_MESH_UNKNOWN, GNF_MESH_OBJ, GNF_MESH_PLY, GNF_MESH_STL, GNF_MESH_OFF, GNF_MESH_NOEXT };
/* The format by the extension of name (case-insensitive); GNF_MESH_NOEXT if it has none. */
int gnf_mesh_format(const char *name);

#endif
