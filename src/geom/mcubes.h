/* mcubes.h — extraction of a level set of a scalar field sampled on a regular grid, as a welded,
 * indexed, consistently oriented triangle mesh (marching cubes), and a few mesh measures used to
 * check such meshes.  Internal to libgnf.
 *
 * Memory: the field is sampled one z-slice at a time; the extractor holds two slices of values
 * and per-slice edge index tables (42 bytes per grid point of one slice: 42 MiB at res 1024,
 * 672 MiB at res 4096) plus the output mesh, never the whole volume. */
#ifndef GNF_GEOM_MCUBES_H
#define GNF_GEOM_MCUBES_H

#include "gnf.h"
#include "geom/mesh.h"
#include <stddef.h>

/* Evaluates the field at n points (n×3 floats, xyz interleaved) into out (n floats).  Called from
 * one thread at a time (the caller's) with up to a whole slice (res×res points, x fastest, then
 * y, at one z); the callback may itself be multi-threaded (gnf_parallel_for is free to use: the
 * extractor is not inside a parallel task when it calls).  pts and out are only valid during the
 * call.  Returns nonzero to abort the extraction. */
typedef int (*gnf_field_fn)(void *user, const float *pts, long n, float *out);

/* A grid of res^3 samples spanning [lo, hi] inclusive on each axis: sample (i, j, k) is at
 * lo + (hi - lo) * (i, j, k) / (res - 1).  iso is the level to extract (0 for an SDF).  threads
 * <= 0 uses the default thread count; the output does not depend on it. */
typedef struct {
    float lo[3], hi[3];
    int res;
    float iso;
    int threads;
} gnf_mc_config;

/* What one extraction cost (filled by gnf_marching_cubes_ex). */
typedef struct {
    size_t work_bytes_peak; /* peak bytes of the extractor's own buffers, the output excluded */
    double eval_s;          /* seconds spent inside the field callback */
    double total_s;         /* seconds of the whole call (extraction alone = total_s - eval_s) */
    long slices;            /* callback calls made */
} gnf_mc_stats;

/* Marching cubes on the grid of *cfg over the field fn(user, ...).
 *
 * A sample is "above" when value >= iso or value is NaN, "below" when value < iso: values
 * exactly at iso therefore never make cracks, and NaN samples act as outside for an SDF.  The
 * surface crosses every grid edge whose two samples differ in class, with one vertex per such
 * edge (shared by the up to four cells around it: the mesh is welded), placed by linear
 * interpolation of the two values (the midpoint where a NaN or infinite sample leaves it
 * undefined, so vertices are always finite), but never closer than 2% of the edge to either
 * sample: where the field is at or within a hair of iso at a sample, the vertices of its edges
 * would coincide or nearly so, leaving zero-area triangles and triangles of neighbouring cells
 * that touch without sharing a vertex (see crossing() in mcubes.c).  So vertices are distinct,
 * every triangle covers at least 2e-4 of a cell face, and triangles of different cells meet
 * only in shared vertices and edges.  Faces whose corners alternate (ambiguous faces) are split
 * by the asymptotic decider on the bilinear interpolant of the face, which both cells sharing
 * the face evaluate identically, so the surface is a closed 2-manifold wherever it stays inside
 * the grid (only the grid's outer faces carry boundary edges).  In the rare cells where the
 * decider opens a tunnel (a loop of crossings that no triangulation spans without a diagonal
 * along a cell face), the loop is fanned around one extra vertex at the centroid of its
 * crossings, used by that cell only; smooth SDFs at a useful resolution practically never need
 * one.  Triangles are oriented so their normals point toward increasing field values (outward
 * for an SDF that is negative inside): the signed volume of a closed surface around a below
 * region is positive.  Vertex and face order depend only on the field and *cfg, not on the
 * thread count.
 *
 * Errors (*out is zeroed on failure): GNF_ERR_INVALID for res < 2 or res > 4096, a non-finite
 * lo/hi/iso or hi <= lo on an axis, or when the callback returns nonzero ("field evaluation
 * aborted", followed by ": " and the callback's own gnf_fail message if it left one);
 * GNF_ERR_NOMEM if a buffer cannot be allocated or the mesh would need more than 2^31 - 1
 * vertices.  On success *out receives a new mesh (free with gnf_free on v and f, or
 * gnf_mesh_free); an empty level set gives nv = nf = 0 and NULL arrays. */
gnf_status gnf_marching_cubes(const gnf_mc_config *cfg, gnf_field_fn fn, void *user,
                              gnf_mesh *out);

/* The same, also filling *stats (may be NULL) with memory and time figures. */
gnf_status gnf_marching_cubes_ex(const gnf_mc_config *cfg, gnf_field_fn fn, void *user,
                                 gnf_mesh *out, gnf_mc_stats *stats);

/* Surface area of m (sum of triangle areas, in double).  Faces with an out-of-range index are
 * skipped. */
double gnf_mesh_area(const gnf_mesh *m);

/* Signed volume of m by the divergence theorem: sum over faces of det(v0, v1, v2) / 6.  Positive
 * for a closed mesh whose faces are counter-clockwise seen from outside. */
double gnf_mesh_volume(const gnf_mesh *m);

#endif
