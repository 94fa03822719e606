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
    long degenerate_faces;      /* faces with repeated vertex indices or zero area (kept) */
    long dropped_faces;         /* faces with < 3 distinct vertices (removed) */
    long duplicate_vertices;    /* vertices at exactly the same position as an earlier one */
    long non_manifold_edges;    /* edges shared by more than 2 faces */
    long boundary_edges;        /* edges used by exactly 1 face (holes) */
} gnf_mesh_report;

/* Loads a mesh, format from the file's content (binary PLY/STL detection) and extension:
 * .obj, .ply (ascii, binary_little_endian, binary_big_endian), .stl (ascii, binary), .off.
 * Polygons are fan-triangulated.  report may be NULL.  Errors name the file and the line or
 * element where it went wrong: GNF_ERR_IO, GNF_ERR_FORMAT (malformed, truncated, index out of
 * range, non-finite coordinate), GNF_ERR_UNSUPPORTED (unknown extension/format), GNF_ERR_NOMEM.
 * On failure *out is zeroed. */
gnf_status gnf_mesh_load(const char *path, gnf_mesh *out, gnf_mesh_report *report);

/* Writes PLY (binary little-endian) or OBJ by the extension of path; atomic (temp + rename). */
gnf_status gnf_mesh_save(const char *path, const gnf_mesh *m);

/* Fills the edge/duplicate counts of *r for m (the reader calls it). */
void gnf_mesh_analyse(const gnf_mesh *m, gnf_mesh_report *r);

/* Frees and zeroes (safe on a zeroed mesh). */
void gnf_mesh_free(gnf_mesh *m);

#endif
