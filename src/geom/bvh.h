/* bvh.h — a bounding volume hierarchy over a triangle mesh for exact distance queries, generalised
 * winding numbers, ray parity and signed distance.  This is the ground truth of SDF fitting, so it
 * is built to be fast on a CPU and robust on real scans (holes, duplicate vertices, zero-area
 * triangles).  Internal to libgnf.
 *
 * A built gnf_bvh is immutable: every query below is safe to call from many threads at once. */
#ifndef GNF_GEOM_BVH_H
#define GNF_GEOM_BVH_H

#include "gnf.h"
#include "geom/mesh.h"

typedef struct gnf_bvh gnf_bvh; /* opaque */

/* Builds a BVH over the triangles of m (binned SAH, leaves of at most 8 triangles, collapsed to
 * a 4-wide tree for the queries) and stores *out (free with gnf_bvh_free).  Copies what it needs:
 * m may be changed or freed afterwards.  About 110 bytes per triangle (~450 during the build).
 * Errors: GNF_ERR_INVALID (no triangles, a vertex index out of range, a non-finite coordinate,
 * 2^27 triangles or more), GNF_ERR_NOMEM.  On failure *out is NULL.  Zero-area triangles are
 * kept (they have a closest point like any other) and never produce NaN. */
gnf_status gnf_bvh_build(const gnf_mesh *m, gnf_bvh **out);

/* Frees a BVH (NULL is a no-op). */
void gnf_bvh_free(gnf_bvh *b);

/* Number of triangles and the bounding box of the mesh (lo, hi may be NULL). */
long gnf_bvh_triangle_count(const gnf_bvh *b);
void gnf_bvh_bounds(const gnf_bvh *b, float lo[3], float hi[3]);

/* Unsigned distance from p to the mesh (exact: the minimum over all triangles of the point–triangle
 * distance, computed in double).  closest (may be NULL) receives the closest point and tri (may be
 * NULL) the index of its face in the mesh given to gnf_bvh_build; on ties the choice is
 * deterministic for a given p.  A non-finite p gives a non-finite distance. */
float gnf_bvh_closest(const gnf_bvh *b, const float p[3], float closest[3], long *tri);

/* Generalised winding number of the mesh at p: ~1 inside, ~0 outside, fractional near holes
 * (counter-clockwise faces seen from outside).  Hierarchical: exact solid angles (Van Oosterom–
 * Strackee, in double) for the triangles of nodes near p, and for a node whose area-weighted
 * centroid c is farther than beta = 2 times its radius (farthest vertex from c) the dipole
 * N.(c - p)/|c - p|^3 / 4 pi, N = the node's area-weighted normal sum.  The dipole is a rough
 * approximation at that distance: measured on the test meshes the result is off by ~1e-2 on
 * average and by up to ~0.08 (about 1e-3 needs beta = 12, ~25 times slower).  Ample for the
 * inside test at 0.5 (exactly 0 or 1 for closed meshes, off only by this error); use
 * gnf_bvh_winding_beta for a precise value.  A point exactly on a triangle gets 0 from that
 * triangle (its sign there is moot). */
double gnf_bvh_winding(const gnf_bvh *b, const float p[3]);

/* gnf_bvh_winding with a chosen beta: beta <= 0 sums the exact solid angle of every triangle
 * (O(triangles): the reference for tests), larger beta is more accurate and slower. */
double gnf_bvh_winding_beta(const gnf_bvh *b, const float p[3], double beta);

/* Signed distance at n points (pts: n×3 floats) into sdf (n floats, caller-owned), negative inside.
 * watertight == 0: inside means gnf_bvh_winding >= 0.5 (right for meshes with holes and for
 * soups).  watertight != 0: the faster sign of ray parity, the majority over rays along +x, +y,
 * +z (the third only on a tie), exact for closed meshes even through edges and vertices (see
 * gnf_bvh_ray_crossings), but wrong where a ray escapes through a hole.  The magnitude is exactly
 * gnf_bvh_closest's.  The points are processed in Morton order (a temporary 16 bytes per point
 * for n >= 2048; input order if that allocation fails), in fixed blocks on `threads` threads
 * (<= 0: the default) with gnf_parallel_for: the bytes of sdf do not depend on the thread count.
 * Non-finite points give non-finite values. */
void gnf_bvh_sdf(const gnf_bvh *b, const float *pts, long n, float *sdf, int watertight,
                 int threads);

/* Unsigned distance at n points: gnf_bvh_sdf without the sign (the same values, bit for bit, as
 * gnf_bvh_closest), with its Morton ordering, first guesses and threading: faster than calling
 * gnf_bvh_closest point by point. */
void gnf_bvh_distance(const gnf_bvh *b, const float *pts, long n, float *dist, int threads);

/* Number of triangles the ray p + t*dir (t > 0) crosses.  dir need not be unit length and must not
 * be zero.  Crossings through an edge or a vertex are counted once, by a consistent symbolic
 * perturbation of the ray (so the parity is exact for a closed mesh, up to points within rounding
 * of the surface); triangles seen edge-on are not crossings.  Axis-aligned directions are exact
 * in this sense whenever coordinate differences are exact in double (the common case). */
long gnf_bvh_ray_crossings(const gnf_bvh *b, const float p[3], const float dir[3]);

#endif
