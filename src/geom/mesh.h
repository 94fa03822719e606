/* mesh.h — triangle meshes: the in-memory form, readers (OBJ, PLY, STL, OFF) and writers
 * (PLY, OBJ).  Internal to libgnf. */
#ifndef GNF_GEOM_MESH_H
#define GNF_GEOM_MESH_H

#include "gnf.h"
#include <stdint.h>

/* An indexed triangle mesh.  v: nv×3 floats (x,y,z); f: nf×3 vertex indices (counter-clockwise
 * seen from outside for well-formed input).  Both owned (gnf_calloc); free with gnf_mesh_free. */
typedef struct {
    float *v;
    int32_t *f;
    long nv, nf;
} gnf_mesh;

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

/* Writes PLY (binary little-endian, float x y z, "list uchar int vertex_indices") or OBJ ("v"
 * with %.9g, so floats round-trip exactly; "f" 1-based) by the extension of path; atomic (temp
 * + rename).  GNF_ERR_UNSUPPORTED for other extensions, GNF_ERR_INVALID for a malformed mesh
 * (negative counts, index out of range, non-finite vertex), GNF_ERR_IO naming path. */
gnf_status gnf_mesh_save(const char *path, const gnf_mesh *m);

/* Fills the edge/duplicate counts of *r for m (the reader calls it): duplicate_vertices,
 * boundary_edges, non_manifold_edges; other fields are untouched.  Linear time (hash of
 * positions, edges grouped by lower vertex).  A count is -1 if memory ran out. */
void gnf_mesh_analyse(const gnf_mesh *m, gnf_mesh_report *r);

/* Frees and zeroes (safe on a zeroed mesh). */
void gnf_mesh_free(gnf_mesh *m);

#endif
