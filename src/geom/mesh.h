/* mesh.h — triangle meshes: the in-memory form and its analysis (geom/mesh.c), readers (OBJ, PLY,
 * STL, OFF: io/mesh_read.c and one file per format) and writers (PLY, OBJ: io/mesh_write.c).
 * Internal to libgnf. */
#ifndef GNF_GEOM_MESH_H
#define GNF_GEOM_MESH_H

#include "gnf.h"
#include <stdint.h>

/* gnf_mesh, the indexed triangle mesh (v, f, nv, nf, rgb), and gnf_mesh_free are public: gnf.h.
 * Meshes made inside the library own their arrays through gnf_calloc. */

/* What a reader noticed about the input (for warnings; none of these is an error). */
typedef struct {
    long polygons_triangulated; /* faces with > 3 vertices fanned into triangles */
    long degenerate_faces;      /* triangles of zero area (kept); those with repeated vertex
                                   indices are dropped instead, see dropped_faces */
    long dropped_faces;         /* triangles (after fanning) with < 3 distinct vertices, and
                                   faces with < 3 corners (removed) */
    long duplicate_vertices;    /* vertices at exactly the same position as an earlier one */
    long non_manifold_edges;    /* edges shared by more than 2 faces */
    long boundary_edges;        /* edges used by exactly 1 face (holes) */
} gnf_mesh_report;

/* Loads a mesh, format from the file's content (binary PLY/STL detection) and extension:
 * .obj, .ply (ascii, binary_little_endian, binary_big_endian), .stl (ascii, binary), .off.
 * Polygons are fan-triangulated.  report may be NULL.  Errors name the file and the line or
 * element where it went wrong: GNF_ERR_IO, GNF_ERR_FORMAT (malformed, truncated, index out of
 * range, non-finite coordinate), GNF_ERR_UNSUPPORTED (unknown extension/format), GNF_ERR_NOMEM.
 * On failure *out is zeroed.
 * Details: the format comes from the extension (case-insensitive); ASCII/binary PLY from the
 * header, STL binary when 84 + 50*n equals the file size, else ASCII ("solid ... facet").  STL
 * corners at exactly equal positions are welded.  OBJ indices must refer to vertices defined
 * earlier in the file.  At most 2^31-1 vertices and triangles (GNF_ERR_UNSUPPORTED beyond).  A
 * mesh with no faces left is GNF_ERR_FORMAT ("no faces").  On failure *report is zeroed too. */
gnf_status gnf_mesh_load(const char *path, gnf_mesh *out, gnf_mesh_report *report);

/* gnf_mesh_load's parser on data[0..size) (no terminator needed, not modified), with name in
 * place of the path: in messages and for the format by extension, except that a name without an
 * extension (e.g. "<stdin>"; gnf_mesh_load refuses those) has it sniffed: a "ply" or "OFF"
 * first word, an STL "solid" or a binary STL's exact size, else OBJ.  Same errors as gnf_mesh_load, but no GNF_ERR_IO. */
gnf_status gnf_mesh_load_from_memory(const void *data, size_t size, const char *name, gnf_mesh *out,
                                     gnf_mesh_report *report);

/* A mesh from caller-owned arrays (v: nv×3 floats, f: nf×3 indices; copied), treated like a
 * loaded one: triangles that repeat an index dropped, the report filled.  GNF_ERR_INVALID (named
 * by name) for bad counts, an index out of range or a non-finite vertex; "no faces" is
 * GNF_ERR_FORMAT as for files. */
gnf_status gnf_mesh_from_arrays(const float *v, long nv, const int32_t *f, long nf, const char *name,
                                gnf_mesh *out, gnf_mesh_report *report);

/* Writes PLY (binary little-endian, float x y z, "list uchar int vertex_indices") or OBJ ("v"
 * with %.9g, so floats round-trip exactly; "f" 1-based) by the extension of path; atomic (temp
 * + rename).  GNF_ERR_UNSUPPORTED for other extensions, GNF_ERR_INVALID for a malformed mesh
 * (negative counts, index out of range, non-finite vertex), GNF_ERR_IO naming path. */
gnf_status gnf_mesh_save(const char *path, const gnf_mesh *m);

/* GNF_ERR_INVALID "<name>: cannot <verb> ..." unless m has counts in 0..2^31-1, arrays where
 * they are needed, every index in range and every coordinate finite. */
gnf_status gnf_mesh_check(const gnf_mesh *m, const char *name, const char *verb);

/* Fills the counts of *r that depend on the mesh alone (the readers call it): duplicate_vertices,
 * boundary_edges, non_manifold_edges (edges from a vertex to itself are not edges) and
 * degenerate_faces; the reader's own counts are untouched.  Faces with an index out of range are
 * skipped.  Linear time (hash of positions, edges grouped by lower vertex).  A count is -1 if
 * memory ran out. */
void gnf_mesh_analyse(const gnf_mesh *m, gnf_mesh_report *r);

/* m's boundary_edges as gnf_mesh_analyse counts them, or -1 if memory runs out or a face has
 * an index out of range. */
long gnf_mesh_boundary_edges(const gnf_mesh *m);

/* Hash of a position by its bits (-0 and +0 hash equally), and exact position equality. */
uint64_t gnf_pos_hash(const float *p);
/* In an open-addressing table of vertex indices + 1 (0 = empty; mask + 1 slots, a power of 2)
 * over the positions verts: the slot holding a position equal to p, or the empty one for it. */
size_t gnf_pos_probe(const uint32_t *slot, size_t mask, const float *verts, const float *p);
static inline int gnf_pos_equal(const float *a, const float *b) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

#endif
